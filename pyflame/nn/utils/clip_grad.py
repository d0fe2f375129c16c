"""Gradient clipping, as `torch.nn.utils`: `clip_grad_norm_`, `clip_grad_value_`,
`get_total_norm`, `clip_grads_with_norm_`.

Gradients are lazy tensors (pyflame/autograd.py), so clipping builds graph nodes: each
parameter's `.grad` is replaced by the clipped gradient, computed by the next `pf.eval` in the
same program as the backward and the optimizer step that reads it.

    loss.backward()
    total = pf.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
    optimizer.step()                 # steps with the clipped gradients
    pf.eval(loss, total)             # one program: forward, backward, clipping, step

PyTorch scales the gradients in place (`g.mul_(coef)`); here `.grad` is a new tensor (two
parameters may hold the same gradient tensor, which an in-place scale would scale twice), so
a reference to the old `.grad` taken before clipping keeps the unclipped values.
"""

from __future__ import annotations

import types
import warnings
from collections.abc import Iterable
from typing import Union

import numpy as np

from pyflame import checks, ops
from pyflame.core.dtypes import float32, int32
from pyflame.grad_mode import no_grad
from pyflame.lazy_tensor import Tensor, user_location, user_stacklevel

TensorOrTensors = Union[Tensor, Iterable[Tensor]]  # noqa: UP007 (a runtime alias)


def _as_list(tensors: TensorOrTensors, warn_empty: bool = False) -> list[Tensor]:
    if isinstance(tensors, Tensor):
        return [tensors]
    is_generator = isinstance(tensors, types.GeneratorType)
    listed = list(tensors)  # a generator is read once
    if warn_empty and is_generator and not listed:
        warnings.warn(
            "`parameters` is an empty generator, no gradient clipping will occur.",
            UserWarning,
            stacklevel=user_stacklevel(),
        )
    return listed


def _zero() -> Tensor:
    return ops.from_numpy(np.zeros((), np.float32))


def get_total_norm(
    tensors: TensorOrTensors,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
    foreach: bool | None = None,
) -> Tensor:
    """The `norm_type`-norm of the tensors taken together (the norm of their norms), a float32
    scalar tensor; `inf` is the largest absolute value. No tensors: 0.

    `error_if_nonfinite=True`: a NaN or infinite norm is PyTorch's RuntimeError, raised by the
    `pf.eval` that computes the norm or anything built from it (the clipped gradients, an
    optimizer step), naming the caller's line, before any update is applied. `foreach` is
    accepted (PyFlame builds one graph either way)."""
    del foreach
    location = user_location()
    listed = _as_list(tensors)
    norm_type = float(norm_type)
    if not listed:
        return _zero()
    with no_grad():
        norms = [
            ops.norm(t if t.dtype is float32 else t.astype(float32), norm_type) for t in listed
        ]
        total = ops.norm(ops.stack(norms), norm_type)
        if not error_if_nonfinite:
            return total
        bad = ops.logical_not(ops.abs(total) < float("inf"))  # NaN and +-inf
        shown = ops.zeros((), dtype=int32)

    def message(value: int, count: int) -> str:
        return (
            f"The total norm of order {norm_type} for gradients from `parameters` is "
            "non-finite, so it cannot be clipped. To disable this error and scale the gradients "
            "by the non-finite norm anyway, set `error_if_nonfinite=False`"
        )

    checks.add_check(total, bad, shown, message, error=RuntimeError, location=location)
    return total


def clip_grads_with_norm_(
    parameters: TensorOrTensors,
    max_norm: float,
    total_norm: Tensor,
    foreach: bool | None = None,
) -> None:
    """Scale every `.grad` by min(1, max_norm / (total_norm + 1e-6)) (PyTorch's formula);
    parameters without a gradient are skipped. Each `.grad` keeps its dtype. `max_norm` is
    runtime data (a rank-0 float32 leaf, as the optimizers' hyperparameters): a new value
    never recompiles the step."""
    del foreach
    with no_grad():
        # `number / t` is PyTorch's t.reciprocal() * number (torch/_tensor.py's __rdiv__),
        # spelled out so that the number can be a tensor; times 1.0 is left out (exact), as
        # `1.0 / t` does, so the common max_norm=1.0 program keeps its cycles
        coef = 1 / (total_norm + 1e-6)
        if float(max_norm) != 1.0:
            coef = coef * Tensor((), float32, data=np.asarray(float(max_norm), np.float32))
        coef = ops.clamp(coef, max=1.0)
        for p in _as_list(parameters):
            g = p.grad
            if g is None:
                continue
            p.grad = g * (coef if coef.dtype is g.dtype else coef.astype(g.dtype))


def clip_grad_norm_(
    parameters: TensorOrTensors,
    max_norm: float,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
    foreach: bool | None = None,
) -> Tensor:
    """Clip the gradients of `parameters` (a tensor or an iterable of them; those without
    `.grad` are skipped) so that their total `norm_type`-norm is at most `max_norm`: every
    `.grad` becomes `grad * min(1, max_norm / (total + 1e-6))`. Returns the total norm before
    clipping (a lazy float32 scalar: `pf.eval(loss, total)` computes it with the step).
    `norm_type` may be `inf`. As `torch.nn.utils.clip_grad_norm_`."""
    listed = _as_list(parameters, warn_empty=True)
    grads = [p.grad for p in listed if p.grad is not None]
    total = get_total_norm(grads, norm_type, error_if_nonfinite, foreach)
    clip_grads_with_norm_(listed, max_norm, total, foreach)
    return total


def clip_grad_value_(
    parameters: TensorOrTensors,
    clip_value: float,
    foreach: bool | None = None,
) -> None:
    """Clamp every `.grad` of `parameters` to [-clip_value, clip_value] (parameters without a
    gradient are skipped), as `torch.nn.utils.clip_grad_value_`."""
    del foreach
    clip_value = float(clip_value)
    with no_grad():
        for p in _as_list(parameters):
            g = p.grad
            if g is not None:
                p.grad = ops.clamp(g, min=-clip_value, max=clip_value)


__all__ = ["clip_grad_norm_", "clip_grad_value_", "clip_grads_with_norm_", "get_total_norm"]
