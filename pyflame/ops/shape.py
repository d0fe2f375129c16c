"""Shape ops: permute, transpose, reshape/view (flame.transpose, flame.reshape); unsqueeze,
squeeze, flatten (flame.reshape); expand, broadcast_to (flame.broadcast_to); cat, stack
(flame.concat, stack = unsqueeze + cat); split, chunk, narrow and basic indexing (flame.slice,
+ flame.reshape for int and None indices); pad (flame.pad, constant mode); flip, roll
(slices joined by flame.concat) and repeat (reshape, broadcast, reshape).

The ones that make views in PyTorch (indexing, narrow, split, chunk, reshape/view and its
kin when the strides allow, permute, transpose, expand) record it (`node._as_view`, with
PyTorch's strides from pyflame/core/strides.py), so in-place ops see aliases as PyTorch does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from pyflame.core import shapes, strides
from pyflame.core.errors import IndexShapeError
from pyflame.dialects import flame
from pyflame.lazy_tensor import Tensor, format_location, user_location
from pyflame.ops.convert import astype
from pyflame.ops.creation import zeros
from pyflame.ops.node import (
    _as_view,
    _check_tensor,
    _dim_arg,
    _fits,
    _is_scalar,
    _node,
    _rule,
    _shape_arg,
    _shape_error,
    _shape_rule,
)
from pyflame.promotion import result_type


def permute(x: Tensor, *dims: Any) -> Tensor:
    """Result dim i is input dim dims[i] (negative dims allowed)."""
    _check_tensor(x, "permute")
    given = _shape_arg(dims, "permute")
    rank = len(x.shape)
    # (a dim in range is its own normalized form: no call for it)
    perm = tuple([d if 0 <= d < rank else _rule(shapes.normalize_dim, d, rank) for d in given])
    shape = _rule(shapes.permute, x.shape, perm)
    return _permute_view(_node(flame.TransposeOp, (x,), shape, x.dtype, {"perm": perm}), x, perm)


def transpose(x: Tensor, dim0: int, dim1: int) -> Tensor:
    """Swap two dimensions."""
    _check_tensor(x, "transpose")
    perm = _rule(shapes.transpose_perm, x.ndim, dim0, dim1)
    shape = tuple([x.shape[p] for p in perm])  # (a permutation by construction: no check)
    out = _node(flame.TransposeOp, (x,), shape, x.dtype, {"perm": perm})
    return _permute_view(out, x, perm)


def swapaxes(x: Tensor, axis0: int, axis1: int) -> Tensor:
    """`transpose(x, axis0, axis1)` (torch.swapaxes, torch.swapdims)."""
    return transpose(x, axis0, axis1)


swapdims = swapaxes


def movedim(x: Tensor, source: Any, destination: Any) -> Tensor:
    """Dims `source` moved to positions `destination` (ints or sequences of one length), the
    others keeping their order (torch.movedim, torch.moveaxis): a permute."""
    _check_tensor(x, "movedim")
    src = (source,) if isinstance(source, (int, np.integer)) else tuple(source)
    dst = (destination,) if isinstance(destination, (int, np.integer)) else tuple(destination)
    if len(src) != len(dst):
        raise RuntimeError(
            f"{format_location(user_location())}: movedim: Invalid source or destination dims: "
            f"source ({list(src)} dims) should contain the same number of dims as destination "
            f"({list(dst)} dims)"
        )
    src = tuple(_rule(shapes.normalize_dim, d, max(x.ndim, 1)) for d in src)
    dst = tuple(_rule(shapes.normalize_dim, d, max(x.ndim, 1)) for d in dst)
    if len(set(src)) != len(src) or len(set(dst)) != len(dst):
        raise RuntimeError(f"{format_location(user_location())}: movedim: repeated dim")
    perm: list[int | None] = [None] * x.ndim
    for s, d in zip(src, dst, strict=True):
        perm[d] = s
    rest = iter(d for d in range(x.ndim) if d not in src)
    return permute(x, *[p if p is not None else next(rest) for p in perm])


moveaxis = movedim


def strides_of(x: Tensor) -> tuple[int, ...]:
    """PyTorch's strides of `x` over its storage: contiguous unless x is a view, whose strides
    follow from its base's (computed when first asked, then kept: graph building pays only
    for recording the view)."""
    if x._strides is not None:
        return x._strides
    link = x._view_of
    if link is None:
        return strides.contiguous(x.shape)
    base, kind, params = link
    of_base = strides_of(base)
    if kind == "index":
        plan = shapes.index(base.shape, params)
        out = strides.index_strides(of_base, plan.step, plan.sliced, plan.shape)
    elif kind == "permute":
        out = strides.permute_strides(of_base, params)
    elif kind == "expand":
        out = strides.expand_strides(base.shape, of_base, x.shape)
    elif kind == "diagonal":  # the two dims become one, stepping down both at once
        _, d1, d2 = params
        out = tuple(s for d, s in enumerate(of_base) if d not in (d1, d2))
        out += (of_base[d1] + of_base[d2],)
    elif kind == "unfold":  # the windows step `step` elements, their elements one
        d, _, step = params
        out = (*of_base[:d], of_base[d] * step, *of_base[d + 1 :], of_base[d])
    elif kind == "reshape":
        found = strides.reshape_strides(base.shape, of_base, x.shape)
        assert found is not None  # (recorded as a view only when strides exist)
        out = found
    else:  # detach
        out = of_base
    x._strides = out
    return out


def stride(x: Tensor, dim: int | None = None) -> Any:
    """`x.stride()`: PyTorch's strides of x (`strides_of`), or the one of `dim`."""
    out = strides_of(x)
    if dim is None:
        return out
    return out[_shape_rule(shapes.normalize_dim, _dim_arg(dim, "stride"), x.ndim)]


def _permute_view(out: Tensor, x: Tensor, perm: Sequence[int]) -> Tensor:
    return _as_view(out, x, "permute", tuple(perm))


def _reshape_view(out: Tensor, x: Tensor) -> Tensor:
    """`out`, a reshape of `x`, is a view when PyTorch's strides allow one (always for a
    tensor that is not a view itself); else a copy."""
    if x._view_of is not None:
        view_strides = strides.reshape_strides(x.shape, strides_of(x), out.shape)
        if view_strides is None:
            return out
        out._strides = view_strides
    return _as_view(out, x, "reshape", out.shape)


def _index_view(out: Tensor, x: Tensor, key: Any) -> Tensor:
    return _as_view(out, x, "index", key)


def _expand_view(out: Tensor, x: Tensor) -> Tensor:
    return _as_view(out, x, "expand", out.shape)


def reshape(x: Tensor, *shape: Any) -> Tensor:
    """Same elements in row-major order; one size may be -1."""
    _check_tensor(x, "reshape")
    new = _rule(shapes.reshape, x.shape, _shape_arg(shape, "reshape"))
    return _reshape_view(_node(flame.ReshapeOp, (x,), new, x.dtype), x)


view = reshape


def _tensor_list(tensors: Any, what: str) -> list[Tensor]:
    """The tensors of cat/stack, converted to their promoted dtype (torch.result_type)."""
    if isinstance(tensors, Tensor) or not isinstance(tensors, (list, tuple)):
        raise TypeError(
            f"{what} expects a list or tuple of pf.Tensor, got {type(tensors).__name__}"
        )
    out = [_check_tensor(t, what) for t in tensors]
    if len({t.dtype for t in out}) > 1:
        dtype = result_type(out, [])
        out = [t if t.dtype is dtype else astype(t, dtype) for t in out]
    return out


def _reshape_node(x: Tensor, shape: Sequence[int]) -> Tensor:
    return _node(flame.ReshapeOp, (x,), tuple(shape), x.dtype)


def _slice_node(
    x: Tensor, start: Sequence[int], stop: Sequence[int], step: Sequence[int]
) -> Tensor:
    shape = _shape_rule(shapes.slice_shape, x.shape, start, stop, step)
    attrs = {"start": tuple(start), "stop": tuple(stop), "step": tuple(step)}
    return _node(flame.SliceOp, (x,), shape, x.dtype, attrs)


def _dim_slice(x: Tensor, dim: int, begin: int, end: int) -> Tensor:
    """Elements begin..end-1 of (normalized) `dim`, every other dim whole."""
    start = [0] * x.ndim
    stop = list(x.shape)
    start[dim], stop[dim] = begin, end
    return _slice_node(x, start, stop, [1] * x.ndim)


def unsqueeze(x: Tensor, dim: int) -> Tensor:
    """A size-1 dim inserted at `dim` (in [-x.ndim - 1, x.ndim])."""
    _check_tensor(x, "unsqueeze")
    shape = _shape_rule(shapes.unsqueeze, x.shape, _dim_arg(dim, "unsqueeze"))
    return _reshape_view(_reshape_node(x, shape), x)


def squeeze(x: Tensor, dim: int | Sequence[int] | None = None) -> Tensor:
    """Every size-1 dim removed (dim=None), or those of `dim` (an int or a tuple) that have
    size 1; other dims of `dim` are left alone, as in PyTorch."""
    _check_tensor(x, "squeeze")
    return _reshape_view(_reshape_node(x, _shape_rule(shapes.squeeze, x.shape, dim)), x)


def flatten(x: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Dims start_dim..end_dim merged into one (a rank-0 tensor becomes shape [1])."""
    _check_tensor(x, "flatten")
    shape = _shape_rule(shapes.flatten, x.shape, start_dim, end_dim)
    return _reshape_view(_reshape_node(x, shape), x)


def broadcast_to(x: Tensor, *size: Any) -> Tensor:  # noqa: F811 (replaces the stub above)
    """`x` broadcast to `size` (numpy rules; -1 keeps an existing dim), like torch.broadcast_to."""
    _check_tensor(x, "broadcast_to")
    target = _shape_rule(shapes.expand, x.shape, _shape_arg(size, "broadcast_to"), "broadcast")
    return _expand_view(_node(flame.BroadcastToOp, (x,), target, x.dtype), x)


def expand(x: Tensor, *sizes: Any) -> Tensor:
    """`x.expand(4, -1, 3)`: size-1 dims repeated, new dims in front (no data is copied in
    PyTorch; here each PE makes its tile of the result)."""
    _check_tensor(x, "expand")
    target = _shape_rule(shapes.expand, x.shape, _shape_arg(sizes, "expand"))
    return _expand_view(_node(flame.BroadcastToOp, (x,), target, x.dtype), x)


def expand_as(x: Tensor, other: Tensor) -> Tensor:
    _check_tensor(other, "expand_as")
    return expand(x, other.shape)


def cat(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Tensors joined along `dim` (torch.cat); every other dim must agree."""
    xs = _tensor_list(tensors, "cat")
    if not xs:
        raise _shape_error("cat needs at least one tensor")
    if any(t.ndim > 1 for t in xs):  # PyTorch's legacy rule: 1-D empty tensors are skipped
        xs = [t for t in xs if t.shape != (0,)]
    rank = xs[0].ndim
    given = _dim_arg(dim, "cat")
    if rank and not -rank <= given < rank:
        raise IndexShapeError(
            f"{format_location(user_location())}: Dimension out of range (expected to be in "
            f"range of [{-rank}, {rank - 1}], but got {given})"
        )
    d = _shape_rule(shapes.normalize_dim, given, max(rank, 1))
    shape = _shape_rule(shapes.concat, [t.shape for t in xs], d)
    return _node(flame.ConcatOp, xs, shape, xs[0].dtype, {"dim": d})


concat = cat
concatenate = cat


def stack(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Tensors of one shape joined along a new dim `dim` (unsqueeze each, then cat)."""
    xs = _tensor_list(tensors, "stack")
    shape = _shape_rule(shapes.stack, [t.shape for t in xs], _dim_arg(dim, "stack"))
    d = shapes.normalize_dim(dim, xs[0].ndim + 1)
    parts = [_reshape_node(t, shape[:d] + (1,) + shape[d + 1 :]) for t in xs]
    return _node(flame.ConcatOp, parts, shape, xs[0].dtype, {"dim": d})


def split(
    x: Tensor, split_size_or_sections: int | Sequence[int], dim: int = 0
) -> tuple[Tensor, ...]:
    """Pieces of `split_size_or_sections` elements along `dim` (the last may be shorter), or
    pieces of the listed sizes (which must sum to the dim's size), like torch.split."""
    _check_tensor(x, "split")
    if x.ndim == 0:
        raise _shape_error("split expects at least a 1-dimensional tensor")
    d = _shape_rule(shapes.normalize_dim, _dim_arg(dim, "split"), x.ndim)
    arg = split_size_or_sections
    if isinstance(arg, (list, tuple)):
        arg = tuple(_dim_arg(n, "split sizes") for n in arg)
    else:
        arg = _dim_arg(arg, "split size")
    sizes = _shape_rule(shapes.split_sizes, x.shape[d], arg, d)
    return _pieces(x, d, sizes)


def chunk(x: Tensor, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
    """At most `chunks` pieces of ceil(size / chunks) elements along `dim` (torch.chunk)."""
    _check_tensor(x, "chunk")
    if x.ndim == 0:
        raise _shape_error("chunk expects at least a 1-dimensional tensor")
    d = _shape_rule(shapes.normalize_dim, _dim_arg(dim, "chunk"), x.ndim)
    sizes = _shape_rule(shapes.chunk_sizes, x.shape[d], _dim_arg(chunks, "chunk"), d)
    return _pieces(x, d, sizes)


def _pieces(x: Tensor, dim: int, sizes: Sequence[int]) -> tuple[Tensor, ...]:
    out, begin = [], 0
    for n in sizes:
        out.append(_dim_slice_view(x, dim, begin, begin + n))
        begin += n
    return tuple(out)


def _dim_slice_view(x: Tensor, dim: int, begin: int, end: int) -> Tensor:
    """`_dim_slice`, recorded as the view `x[:, ..., begin:end]` (split, chunk, narrow)."""
    key = (slice(None),) * dim + (slice(begin, end),)
    return _index_view(_dim_slice(x, dim, begin, end), x, key)


def narrow(x: Tensor, dim: int, start: int, length: int) -> Tensor:
    """Elements start..start+length-1 of `dim` (a negative start counts from the end)."""
    _check_tensor(x, "narrow")
    d = _shape_rule(shapes.normalize_dim, _dim_arg(dim, "narrow"), x.ndim)
    n = x.shape[d]
    s = _dim_arg(start, "narrow start")
    length = _dim_arg(length, "narrow length")
    s = s + n if s < 0 else s
    if not (0 <= s <= n and 0 <= length <= n - s):
        raise _shape_error(
            f"narrow of {list(x.shape)}: start {start} and length {length} do not fit dim {d} "
            f"of size {n}"
        )
    return _dim_slice_view(x, d, s, s + length)


def getitem(x: Tensor, key: Any) -> Tensor:
    """Basic indexing: ints (negative allowed), slices with steps >= 1, `...` and None.
    One flame.slice (omitted when it takes everything) and one flame.reshape (when ints drop
    dims or None adds them)."""
    _check_tensor(x, "indexing")
    plan = _shape_rule(shapes.index, x.shape, key)
    identity = plan.sliced == x.shape
    out = x if identity else _slice_node(x, plan.start, plan.stop, plan.step)
    if plan.shape != plan.sliced:
        out = _reshape_node(out, plan.shape)
    if out is x:  # x[:] or x[...]: a new tensor all the same, like PyTorch's view
        out = _slice_node(x, plan.start, plan.stop, plan.step)
    return _index_view(out, x, key)


def pad(
    x: Tensor, pad: Sequence[int], mode: str = "constant", value: float | None = None
) -> Tensor:
    """PyTorch's `F.pad`: `pad` lists (before, after) widths from the last dim backwards, e.g.
    (left, right, top, bottom); negative widths crop. `mode` "constant" (one flame.pad) or
    "reflect", "replicate", "circular" (`_pad_edges`: slices of x joined by flame.concat)."""
    _check_tensor(x, "pad")
    if mode not in _PAD_MODES:
        raise NotImplementedError(
            f"{format_location(user_location())}: Unrecognised padding mode {mode!r} (one of "
            f"{', '.join(repr(m) for m in _PAD_MODES)})"
        )
    widths = _shape_arg((tuple(pad),), "pad")
    if mode != "constant":
        return _pad_edges(x, widths, mode, value)
    low, high = _shape_rule(shapes.pad_widths, x.shape, widths)
    shape = _shape_rule(shapes.pad, x.shape, low, high)
    v = 0.0 if value is None else value
    if not _is_scalar(v):
        raise TypeError(f"pad: value must be a number, got {type(v).__name__}")
    v = float(v)
    if not x.dtype.is_floating_point and not (np.isfinite(v) and v == int(v)):
        raise TypeError(f"pad: {value!r} is not a {x.dtype!r} value")
    if not x.dtype.is_floating_point:
        _fits(v, x.dtype, "pad")
    return _node(flame.PadOp, (x,), shape, x.dtype, {"low": low, "high": high, "value": v})


_PAD_MODES = ("constant", "reflect", "replicate", "circular")


def _pad_edges(x: Tensor, widths: tuple[int, ...], mode: str, value: float | None) -> Tensor:
    """`F.pad` in mode reflect, replicate or circular, as PyTorch: per padded dim (the last
    len(widths) // 2), negative widths crop first, then the new edges are slices of x joined
    to it by one flame.concat: reflect mirrors without the edge element (flip of x[1:lo+1]),
    replicate repeats it (broadcast_to of x[:1]), circular wraps around (x[n-lo:]). Dims are
    padded one after the other, so corners are edges of edges, as PyTorch's."""
    where = format_location(user_location())
    if value is not None:
        raise RuntimeError(f'{where}: Padding mode "{mode}" doesn\'t take in value argument')
    dims = len(widths) // 2
    if len(widths) % 2 or dims not in (1, 2, 3) or x.ndim not in (dims + 1, dims + 2):
        raise NotImplementedError(
            f"{where}: Padding size {len(widths)} is not supported for {x.ndim}D input tensor "
            f"in mode {mode!r}: 2D or 3D input with padding size 2, 3D or 4D with 4, 4D or 5D "
            "with 6 (the last 1, 2 or 3 dims)"
        )
    out = x
    for i in range(dims):
        d = x.ndim - 1 - i
        lo, hi = widths[2 * i], widths[2 * i + 1]
        n = out.shape[d]
        out = _dim_slice(out, d, max(-lo, 0), n - max(-hi, 0))  # crop (a no-op slice if none)
        n = out.shape[d]
        lo, hi = max(lo, 0), max(hi, 0)
        if mode == "reflect" and (lo >= n or hi >= n):
            raise ValueError(
                f"{where}: Padding size should be less than the corresponding input dimension, "
                f"but got: padding ({lo}, {hi}) at dimension {d} of input {list(x.shape)}"
            )
        if mode == "circular" and (lo > n or hi > n):
            raise ValueError(
                f"{where}: Padding value causes wrapping around more than once (padding "
                f"({lo}, {hi}) at dimension {d} of input {list(x.shape)})"
            )
        if mode == "replicate" and n == 0 and (lo or hi):
            raise RuntimeError(f"{where}: replicate padding of dimension {d} of size 0")
        edges = [_edge(out, d, lo, mode, before=True), out, _edge(out, d, hi, mode, before=False)]
        pieces = [p for p in edges if p is not None]
        out = pieces[0] if len(pieces) == 1 else cat(pieces, d)
    return out


def _edge(x: Tensor, d: int, width: int, mode: str, before: bool) -> Tensor | None:
    """The `width` elements `_pad_edges` puts before (or after) x along dim d, or None."""
    if width == 0:
        return None
    n = x.shape[d]
    if mode == "reflect":
        return flip(
            _dim_slice(x, d, 1, width + 1) if before else _dim_slice(x, d, n - 1 - width, n - 1), d
        )
    if mode == "circular":
        return _dim_slice(x, d, n - width, n) if before else _dim_slice(x, d, 0, width)
    one = _dim_slice(x, d, 0, 1) if before else _dim_slice(x, d, n - 1, n)  # replicate
    shape = list(x.shape)
    shape[d] = width
    return broadcast_to(one, shape)


def _dims_arg(dims: Any, ndim: int, what: str) -> tuple[int, ...]:
    """An int or a sequence of ints, normalized against `ndim` (a rank-0 tensor takes 0, -1)."""
    given = (dims,) if isinstance(dims, (int, np.integer)) else tuple(dims)
    out = tuple(_shape_rule(shapes.normalize_dim, _dim_arg(d, what), max(ndim, 1)) for d in given)
    if len(set(out)) != len(out):
        raise RuntimeError(f"{what}: dim {out[0]} appears multiple times in the list of dims")
    return out


def flip(x: Tensor, dims: Any) -> Tensor:
    """The order of elements reversed along each of `dims` (torch.flip): per dim, its
    size-1 slices joined in reverse order by one flame.concat (a copy; n slices for a dim of
    size n)."""
    _check_tensor(x, "flip")
    out = x
    for d in _dims_arg(dims, x.ndim, "flip"):
        if x.ndim == 0 or x.shape[d] <= 1:
            continue
        n = x.shape[d]
        out = cat([_dim_slice(out, d, i, i + 1) for i in reversed(range(n))], d)
    return out if out is not x else _slice_node(x, [0] * x.ndim, list(x.shape), [1] * x.ndim)


def roll(x: Tensor, shifts: Any, dims: Any = None) -> Tensor:
    """Elements shifted along `dims` by `shifts`, wrapping around (torch.roll): per dim two
    slices joined in swapped order by flame.concat; without dims, of the flattened tensor."""
    _check_tensor(x, "roll")
    shift_list = (shifts,) if isinstance(shifts, (int, np.integer)) else tuple(shifts)
    if dims is None:
        if len(shift_list) != 1:
            raise RuntimeError(
                f"roll: shifts and dimensions must align. shifts: {len(shift_list)}, dims:0"
            )
        flat = _reshape_node(x, (int(np.prod(x.shape)),))
        return _reshape_node(roll(flat, shift_list[0], 0), x.shape)
    dim_list = _dims_arg(dims, x.ndim, "roll")
    if len(shift_list) != len(dim_list):
        raise RuntimeError(
            f"roll: shifts and dimensions must align. shifts: {len(shift_list)}, "
            f"dims:{len(dim_list)}"
        )
    out = x
    for s, d in zip(shift_list, dim_list, strict=True):
        n = x.shape[d] if x.ndim else 1
        k = int(s) % n if n else 0
        if k:
            out = cat([_dim_slice(out, d, n - k, n), _dim_slice(out, d, 0, n - k)], d)
    return out if out is not x else _slice_node(x, [0] * x.ndim, list(x.shape), [1] * x.ndim)


def tile(x: Tensor, dims: Any) -> Tensor:
    """torch.tile: `repeat` with ones in front of `dims` when it has fewer than x's dims."""
    _check_tensor(x, "tile")
    reps = _shape_arg(tuple(dims) if isinstance(dims, (list, tuple)) else (dims,), "tile")
    return repeat(x, *((1,) * (x.ndim - len(reps)) + reps))


def unbind(x: Tensor, dim: int = 0) -> tuple[Tensor, ...]:
    """torch.unbind: the slices along `dim`, that dim removed, as a tuple."""
    _check_tensor(x, "unbind")
    if x.ndim == 0:
        raise _shape_error("unbind: Dimension specified as 0 but tensor has no dimensions")
    d = _rule(shapes.normalize_dim, dim, x.ndim)
    return tuple(squeeze(narrow(x, d, i, 1), d) for i in range(x.shape[d]))


def diagonal_dims(x: Tensor, offset: Any, dim1: Any, dim2: Any, what: str) -> tuple[int, int, int]:
    """The (offset, dim1, dim2) of a diagonal of x, checked and normalized, PyTorch's errors."""
    _check_tensor(x, what)
    offset = _dim_arg(offset, f"{what} offset")
    d1 = _rule(shapes.normalize_dim, _dim_arg(dim1, what), x.ndim)
    d2 = _rule(shapes.normalize_dim, _dim_arg(dim2, what), x.ndim)
    if x.ndim < 2:
        raise _shape_error(f"{what}: expected a tensor of at least 2 dims, got {x.ndim}")
    if d1 == d2:
        raise _shape_error(f"{what}: diagonal dimensions cannot be identical {dim1}, {dim2}")
    return offset, d1, d2


def diagonal_length(n: int, m: int, offset: int) -> int:
    """Elements on diagonal `offset` of an n x m matrix (above the main one for offset > 0)."""
    return max(0, min(n + min(offset, 0), m - max(offset, 0)))


def diagonal(x: Tensor, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:
    """The elements x[.., i, .., i + offset, ..] of dims dim1, dim2 (torch.diagonal), as a last
    dim, the others keeping their order; a view, as PyTorch's (`x.diagonal().add_(1)` changes
    x). Exact for every dtype: dim1, dim2 moved last (flame.transpose), merged (flame.reshape)
    and the diagonal read with one strided flame.slice (step m + 1)."""
    offset, d1, d2 = diagonal_dims(x, offset, dim1, dim2, "diagonal")
    n, m = x.shape[d1], x.shape[d2]
    count = diagonal_length(n, m, offset)
    others = [d for d in range(x.ndim) if d not in (d1, d2)]
    perm = (*others, d1, d2)
    moved = x
    if perm != tuple(range(x.ndim)):
        shape = _rule(shapes.permute, x.shape, perm)
        moved = _node(flame.TransposeOp, (x,), shape, x.dtype, {"perm": perm})
    rest = [x.shape[d] for d in others]
    flat = _reshape_node(moved, (*rest, n * m))
    first = offset if offset >= 0 else -offset * m
    begin, end = (first, first + (count - 1) * (m + 1) + 1) if count else (0, 0)
    out = _slice_node(flat, [0] * len(rest) + [begin], [*rest, end], [1] * len(rest) + [m + 1])
    return _as_view(out, x, "diagonal", (offset, d1, d2))


def repeat(x: Tensor, *sizes: Any) -> Tensor:
    """The tensor tiled `sizes` times along each dim (torch.Tensor.repeat; more sizes than
    dims add leading dims): reshape to [1, n0, 1, n1, ...], broadcast to [r0, n0, r1, n1, ...],
    reshape to [r0 * n0, r1 * n1, ...]."""
    _check_tensor(x, "repeat")
    reps = _shape_arg(sizes, "repeat")
    if len(reps) < x.ndim:
        raise RuntimeError(
            "Number of dimensions of repeat dims can not be smaller than number of dimensions "
            "of tensor"
        )
    shape = (1,) * (len(reps) - x.ndim) + tuple(x.shape)
    interleaved = tuple(v for n in shape for v in (1, n))
    wide = tuple(v for r, n in zip(reps, shape, strict=True) for v in (r, n))
    out = broadcast_to(_reshape_node(x, interleaved), wide)
    return _reshape_node(out, tuple(r * n for r, n in zip(reps, shape, strict=True)))


def unfold(x: Tensor, dimension: int, size: int, step: int) -> Tensor:
    """`x.unfold(dimension, size, step)` (torch.Tensor.unfold): every window of `size`
    elements along `dimension`, `step` apart: that dim becomes (n - size) // step + 1 windows
    and a last dim of `size` is added. Built from strided slices stacked along the new dim
    (one per window element, or one per window when there are fewer windows): data only moves,
    exact for every dtype. A view, as PyTorch's: in-place writes into windows that do not
    overlap reach x (pyflame/inplace.py), into overlapping ones are refused."""
    _check_tensor(x, "unfold")
    for name, value, position in (
        ("dimension", dimension, 1),
        ("size", size, 2),
        ("step", step, 3),
    ):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TypeError(
                f"unfold(): argument '{name}' (position {position}) must be int, not "
                f"{type(value).__name__}"
            )
    where = format_location(user_location())
    rank = max(x.ndim, 1)
    if not -rank <= dimension < rank:
        raise IndexShapeError(
            f"{where}: Dimension out of range (expected to be in range of [{-rank}, "
            f"{rank - 1}], but got {dimension})"
        )
    d = int(dimension) % rank
    n = x.shape[d] if x.ndim else 1
    if size > n:
        raise RuntimeError(
            f"{where}: maximum size for tensor at dimension {d} is {n} but size is {size}"
        )
    if size < 0:
        raise RuntimeError(f"{where}: size is {size} but must be >= 0")
    if step <= 0:
        raise RuntimeError(f"{where}: step is {step} but must be > 0")
    if x.ndim == 0:
        return _reshape_node(x, (1,)) if size else _reshape_node(x, (1,))[:0]
    windows = (n - size) // step + 1
    shape = (*x.shape[:d], windows, *x.shape[d + 1 :], size)
    if not size or not x.numel():
        return zeros(shape, dtype=x.dtype)
    before = (slice(None),) * d
    if size <= windows:  # element k of every window: one strided slice
        last = (windows - 1) * step
        parts = [x[(*before, slice(k, k + last + 1, step))] for k in range(size)]
        out = stack(parts, -1)
    else:  # window w: a narrow, its dim moved last
        moved = [
            movedim(x[(*before, slice(w * step, w * step + size))], d, -1) for w in range(windows)
        ]
        out = stack(moved, d)
    return _as_view(out, x, "unfold", (d, size, step))


def t(x: Tensor) -> Tensor:
    """The transpose of a matrix; a 0-/1-D tensor itself (torch.t)."""
    _check_tensor(x, "t")
    return x.t()


def adjoint(x: Tensor) -> Tensor:
    """The last two dims swapped (torch.adjoint: the conjugate, a no-op for real dtypes)."""
    _check_tensor(x, "adjoint")
    return x.mT
