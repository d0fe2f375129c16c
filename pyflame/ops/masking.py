"""Masking: tril, triu (a mask made of two flame.iota compared, then flame.where),
masked_fill (flame.where with the fill value), and the diagonal writers diag, diag_embed and
diagonal_scatter (a mask of one diagonal, then flame.where), all decompositions into existing
flame ops.

    pf.triu(x, diagonal=1)
    # flame.iota {dim = 1} -> flame.ge %cols, flame.iota {dim = 0, start = 1} -> flame.where
    pf.diag(v, 1)
    # flame.pad %v -> flame.reshape [n, 1] -> flame.where(cols == rows + 1, %v, 0)
"""

from __future__ import annotations

from typing import Any

from pyflame.core import shapes
from pyflame.core.dtypes import bool_, int32
from pyflame.dialects import flame
from pyflame.lazy_tensor import Tensor
from pyflame.ops.convert import astype
from pyflame.ops.elementwise import where
from pyflame.ops.node import _check_tensor, _dim_arg, _is_scalar, _node, _rule, _shape_error
from pyflame.ops.shape import (
    _reshape_node,
    diagonal_dims,
    diagonal_length,
    pad,
    permute,
    reshape,
    unsqueeze,
)
from pyflame.ops.shape import diagonal as diagonal_of  # (diag's argument is named `diagonal`)


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


def _on_diagonal(n: int, m: int, offset: int) -> Tensor:
    """[n, m] bool: True where column - row == offset."""
    shape = (n, m)
    rows = _node(flame.IotaOp, (), shape, int32, {"dim": 0, "start": float(offset), "step": 1.0})
    cols = _node(flame.IotaOp, (), shape, int32, {"dim": 1, "start": 0.0, "step": 1.0})
    return _node(flame.EqOp, (cols, rows), shape, bool_)


def _embed(src: Tensor, n: int, m: int, offset: int, base: Tensor | Any) -> Tensor:
    """[..., n, m]: src's last dim on diagonal `offset`, `base` (a tensor broadcast to that
    shape, or a number) elsewhere. Element (r, c) of the diagonal is src[r] above the main one
    (src padded to n, laid along the rows), src[c] below it (padded to m, along the columns);
    a where picks it, so the values are exact (-0.0, NaN and inf included) and gradients go
    to src on the diagonal and to base off it."""
    length = src.shape[-1]
    fill = False if src.dtype is bool_ else 0
    along, size = (-1, n) if offset >= 0 else (-2, m)
    widths = (0, size - length)
    padded = pad(src, widths, value=fill) if size != length else src
    return where(_on_diagonal(n, m, offset), unsqueeze(padded, along), base)


def _moved(x: Tensor, d1: int, d2: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The permutation that moves dims d1, d2 of x last (in that order), and its inverse."""
    perm = (*(d for d in range(x.ndim) if d not in (d1, d2)), d1, d2)
    back = [0] * len(perm)
    for i, p in enumerate(perm):
        back[p] = i
    return perm, tuple(back)


def diagonal_scatter(
    input: Tensor, src: Tensor, offset: int = 0, dim1: int = 0, dim2: int = 1
) -> Tensor:
    """`input` with its diagonal (as `diagonal(input, offset, dim1, dim2)` reads it) replaced
    by `src`, which has that diagonal's shape (torch.diagonal_scatter; what an in-place op
    on a `diagonal` view writes into its base). src is converted to input's dtype."""
    offset, d1, d2 = diagonal_dims(input, offset, dim1, dim2, "diagonal_scatter")
    _check_tensor(src, "diagonal_scatter src")
    n, m = input.shape[d1], input.shape[d2]
    rest = tuple(size for d, size in enumerate(input.shape) if d not in (d1, d2))
    want = (*rest, diagonal_length(n, m, offset))
    if src.shape != want:
        raise _shape_error(
            "diagonal_scatter: expected src to have a size equal to the slice of self. "
            f"src size = {list(src.shape)}, slice size = {list(want)}"
        )
    src = src if src.dtype is input.dtype else astype(src, input.dtype)
    perm, back = _moved(input, d1, d2)
    ordered = perm == tuple(range(input.ndim))
    moved = input if ordered else permute(input, *perm)
    out = _embed(src, n, m, offset, moved)
    return out if ordered else permute(out, *back)


def diag_embed(input: Tensor, offset: int = 0, dim1: int = -2, dim2: int = -1) -> Tensor:
    """A tensor whose diagonals (dims dim1, dim2 of the result, one more dim than input) hold
    input's last dim, zeros elsewhere (torch.diag_embed): each of those dims has size
    input.shape[-1] + |offset|."""
    _check_tensor(input, "diag_embed")
    rank = input.ndim + 1
    d1 = _rule(shapes.normalize_dim, _dim_arg(dim1, "diag_embed"), rank)
    d2 = _rule(shapes.normalize_dim, _dim_arg(dim2, "diag_embed"), rank)
    offset = _dim_arg(offset, "diag_embed offset")
    if d1 == d2:
        raise _shape_error(f"diag_embed: diagonal dimensions cannot be identical {dim1}, {dim2}")
    size = input.shape[-1] + abs(offset)  # (a 0-d input has no dims -2, -1: refused above)
    out = _embed(input, size, size, offset, False if input.dtype is bool_ else 0)
    # out is [..., size, size]: its last two dims go to d1, d2, the others keep their order
    order = [d for d in range(rank) if d not in (d1, d2)]
    back = [0] * rank
    for i, p in enumerate((*order, d1, d2)):
        back[p] = i
    return out if back == list(range(rank)) else permute(out, *back)


def diag(input: Tensor, diagonal: int = 0) -> Tensor:
    """torch.diag: a 1-D input gives the square matrix with it on diagonal `diagonal` (size
    n + |diagonal|, zeros elsewhere); a 2-D input gives that diagonal of it (a copy, as
    PyTorch's)."""
    _check_tensor(input, "diag")
    k = _dim_arg(diagonal, "diag diagonal")
    if input.ndim == 1:
        return diag_embed(input, k)
    if input.ndim == 2:
        out = diagonal_of(input, k)
        return _reshape_node(out, out.shape)  # a copy, not the view
    raise _shape_error(f"diag(): Supports 1D or 2D tensors. Got {input.ndim}D")


def diagflat(input: Tensor, offset: int = 0) -> Tensor:
    """A square matrix with x's elements (flattened) on diagonal `offset` (torch.diagflat)."""
    _check_tensor(input, "diagflat")
    return diag(reshape(input, (-1,)), offset)
