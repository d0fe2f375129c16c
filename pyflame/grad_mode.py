"""Grad mode: whether the ops built now record that they need gradients.

The lowest layer of autograd: the op builders (`pyflame.ops`) ask `requires_grad_of` for every
node, and `pyflame.autograd` (the backward engine, above the ops) re-exports these names, so
users write `pf.autograd.no_grad()`.

    with pf.autograd.no_grad():
        w2 = w - lr * w.grad      # no gradient graph: w2.requires_grad is False
"""

from __future__ import annotations

import contextlib
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

    from pyflame.lazy_tensor import Tensor


class _GradState(threading.local):
    """Grad mode is per thread, as in PyTorch: `no_grad()` in one thread leaves another thread's
    training alone, and every new thread starts with gradients on."""

    def __init__(self) -> None:
        self.enabled: list[bool] = [True]


_state = _GradState()


def is_grad_enabled() -> bool:
    """Whether new ops record that they need gradients (on by default, as in PyTorch)."""
    return _state.enabled[-1]


class GradMode(contextlib.ContextDecorator):
    """Grad mode `enabled` inside a `with` block (or a decorated function), then the previous one."""

    def __init__(self, enabled: bool):
        self.enabled = enabled

    def __enter__(self) -> None:
        _state.enabled.append(self.enabled)

    def __exit__(self, *exc: object) -> None:
        _state.enabled.pop()


def enable_grad() -> GradMode:
    """`with pf.autograd.enable_grad():` (or as a decorator): ops record gradients."""
    return GradMode(True)


def no_grad() -> GradMode:
    """`with pf.autograd.no_grad():`: ops build no gradient graph (inference, updates)."""
    return GradMode(False)


class set_grad_enabled:  # noqa: N801 (a function in PyTorch's API, usable as a context)
    """`pf.autograd.set_grad_enabled(False)` turns gradients off in this thread at once (as a
    plain call) or for a `with` block, after which the previous mode comes back (as in PyTorch)."""

    def __init__(self, mode: bool):
        self.previous = _state.enabled[-1]
        _state.enabled[-1] = bool(mode)

    def __enter__(self) -> None:
        pass

    def __exit__(self, *exc: object) -> None:
        _state.enabled[-1] = self.previous


def requires_grad_of(inputs: Sequence[Tensor]) -> bool:
    """Whether an op on `inputs` needs a gradient (asked by every op builder)."""
    if not _state.enabled[-1]:
        return False
    for t in inputs:  # (a loop, not any() of a generator: every op builder asks)
        if t.requires_grad:
            return True
    return False
