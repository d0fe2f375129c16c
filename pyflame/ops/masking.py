"""Masking: tril, triu (a mask made of two flame.iota compared, then flame.where) and
masked_fill (flame.where with the fill value), all decompositions into existing flame ops.

    pf.triu(x, diagonal=1)
    # flame.iota {dim = 1} -> flame.ge %cols, flame.iota {dim = 0, start = 1} -> flame.where
"""

from __future__ import annotations

from typing import Any

from pyflame.core.dtypes import bool_, int32
from pyflame.dialects import flame
from pyflame.lazy_tensor import Tensor
from pyflame.ops.convert import astype
from pyflame.ops.elementwise import where
from pyflame.ops.node import _check_tensor, _dim_arg, _is_scalar, _node, _shape_error


def _triangle(x: Tensor, diagonal: int, lower: bool, what: str) -> Tensor:
    """x where column - row <= diagonal (lower) or >= diagonal (upper), else 0, over the
    last two dims."""
    _check_tensor(x, what)
    if x.ndim < 2:
        raise _shape_error(f"{what}: input tensor must have at least 2 dimensions")
    diagonal = _dim_arg(diagonal, f"{what} diagonal")
    shape = tuple(x.shape[-2:])
    rows = _node(flame.IotaOp, (), shape, int32, {"dim": 0, "start": float(diagonal), "step": 1.0})
    cols = _node(flame.IotaOp, (), shape, int32, {"dim": 1, "start": 0.0, "step": 1.0})
    keep = _node(flame.LeOp if lower else flame.GeOp, (cols, rows), shape, bool_)
    return where(keep, x, False if x.dtype is bool_ else 0)


def tril(x: Tensor, diagonal: int = 0) -> Tensor:
    """The lower triangle of the last two dims (torch.tril): elements with
    column - row <= diagonal, the others 0."""
    return _triangle(x, diagonal, True, "tril")


def triu(x: Tensor, diagonal: int = 0) -> Tensor:
    """The upper triangle of the last two dims (torch.triu): elements with
    column - row >= diagonal, the others 0."""
    return _triangle(x, diagonal, False, "triu")


def masked_fill(x: Tensor, mask: Tensor, value: Any) -> Tensor:
    """`value` where the bool `mask` holds, else x (torch.masked_fill): flame.where; the
    result has x's dtype and the shape x and mask broadcast to; `value` is a number or a
    rank-0 tensor (its gradient is the sum of the gradient at the filled places)."""
    _check_tensor(x, "masked_fill")
    _check_tensor(mask, "masked_fill mask")
    if mask.dtype is not bool_:
        raise RuntimeError(
            f"masked_fill_ only supports boolean masks, but got mask with dtype {mask.dtype!r}"
        )
    if isinstance(value, Tensor):
        if value.ndim:
            raise RuntimeError(
                "masked_fill_ only supports a 0-dimensional value tensor, but got tensor with "
                f"{value.ndim} dimension(s)."
            )
        value = astype(value, x.dtype)
    elif not _is_scalar(value):
        raise TypeError(f"masked_fill: value must be a number or a tensor, got {value!r}")
    out = where(mask, value, x)  # the broadcast shape, as torch.masked_fill (not the in-place)
    return out if out.dtype is x.dtype else astype(out, x.dtype)
