"""Which machine the frontend compiles for next: a per-thread current target.

`pf.set_target` / `with pf.target(...)` choose it; `pf.eval` writes it into the program as the
module attribute `pf.target`, from which every pass and the simulator read it. The machine model
itself (`Target`, the presets) is pyflame/core/target.py.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

from pyflame.core.target import PRESETS, SMALL, WSE2, WSE3, Target, as_target

__all__ = [
    "PRESETS",
    "SMALL",
    "WSE2",
    "WSE3",
    "Target",
    "as_target",
    "get_target",
    "set_target",
    "target",
]


class _TargetState(threading.local):
    """The target of each thread: `set_target` sets the thread's own (`base`), `with pf.target(t)`
    blocks stack on it, as PyTorch's grad mode is per thread, so two threads can compile for
    different machines at once."""

    def __init__(self) -> None:
        self.base: Target | None = None
        self.stack: list[Target] = []


#: what a thread uses before it chooses its own target: WSE2, or what the main thread last chose
#: with `set_target` outside any `with pf.target(...)` block (so a script that sets its target
#: once and then starts threads uses it everywhere)
_default: list[Target] = [WSE2]
_state = _TargetState()


def get_target() -> Target:
    """The target this thread compiles for now (default WSE2)."""
    if _state.stack:
        return _state.stack[-1]
    return _state.base if _state.base is not None else _default[0]


def set_target(target: Target | str) -> None:
    """Choose the target for every later compile in this thread: inside a `with pf.target(...)`
    block, until the block ends; outside, for good (in the main thread, also the default of
    threads that never choose one)."""
    t = as_target(target)
    if _state.stack:
        _state.stack[-1] = t
        return
    _state.base = t
    if threading.current_thread() is threading.main_thread():
        _default[0] = t


@contextlib.contextmanager
def target(t: Target | str) -> Iterator[Target]:
    """`with pf.target(pf.sim.SMALL): ...` compiles for `t` inside the block (this thread)."""
    chosen = as_target(t)
    _state.stack.append(chosen)
    try:
        yield chosen
    finally:
        _state.stack.pop()
