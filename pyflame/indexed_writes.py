"""Writes at an index along a dim, PyTorch's signatures: scatter and scatter_add (the
transposes of gather), index_add, index_copy and index_fill (of index_select), built on the
rows primitive of the reads (`flame.scatter_add_rows`: each index entry adds its row into a
zero table, work per entry, never per table row; pyflame/ops/indexed.py).

    pf.scatter_add(x, 1, idx, src)  # idx, src [a, k] into x [a, n]: entry (i, j) goes to the
                                    # linear position i * n + idx[i, j] of x flattened: a
                                    # table [a * n, 1] of one-element rows, added to x
    pf.index_add(x, 1, idx, src)    # idx [k], src [a, k]: x's rows along dim 1 ([n, a], as
                                    # index_select reads them) take src's rows at idx
    pf.index_fill(x, 1, idx, 2.0)   # where(position along dim 1 is in idx, 2.0, x)

scatter and index_copy write one value where PyTorch writes one: a position named twice
takes the value of the last entry naming it (PyTorch's CPU order; its documentation leaves
the winner unspecified); the other entries are sent out of the table's range, where they add
nothing (`_last_of_duplicates`, from the index alone). The written positions come from the
same scatter of ones, and a `flame.where` keeps x elsewhere, bit for bit. A value that is
written passes through the rows' sum into zeros: -0.0 comes back +0.0 (as index_select's).
scatter_add and index_add with repeated indices add the repeats first, then to x (PyTorch:
one after the other into x), so floats may differ in the last bits.

Indices at hand (host data) become positions on the host, checked at once (PyTorch's
IndexError words); indices computed on the device are turned into positions by int32 ops and
checked after the run, naming the user's line (pyflame/checks.py). Gradients as PyTorch's:
scatter's src and index_copy's source get the gradient at every entry's position, also where
a later entry overwrote it (PyTorch's formula), the input gets none where something was
written (scatter, index_copy, index_fill) or all of it (scatter_add, index_add).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from pyflame import checks, ops, tensor_methods
from pyflame.autograd import no_grad
from pyflame.checks import data_at_hand
from pyflame.core import shapes, strides
from pyflame.core.dtypes import DType, bool_, int32
from pyflame.index_get import getitem
from pyflame.index_set import _broadcast_value, index_set
from pyflame.indexing import _from_rows, _rows_along
from pyflame.lazy_tensor import Location, Tensor, format_location, user_location
from pyflame.ops.node import _check_tensor, _dim_arg, _is_scalar, _shape_error, _shape_rule
from pyflame.ops.saved import composite
from pyflame.ops.shape import _reshape_node

# --------------------------------------------------------------------------- arguments


def _index_arg(index: Any, what: str) -> Tensor:
    _check_tensor(index, f"{what} index")
    if index.dtype.is_floating_point or index.dtype is bool_:
        raise RuntimeError(
            f"{format_location(user_location())}: {what}(): Expected dtype int32/int64 for "
            f"index, got {index.dtype!r}"
        )
    return index


def _dim(x: Tensor, dim: Any, what: str) -> int:
    return _shape_rule(shapes.normalize_dim, _dim_arg(dim, what), max(x.ndim, 1))


def _out_of_bounds(d: int, n: int, what: str = "") -> Any:
    def message(value: int, count: int) -> str:
        return (
            f"{what}index {value} is out of bounds for dimension {d} with size {n} "
            f"({count} element{'s' if count != 1 else ''} out of range)"
        )

    return message


def _as_dtype(value: Tensor, dtype: DType) -> Tensor:
    return value if value.dtype is dtype else ops.astype(value, dtype)


def _fill_value(x: Tensor, value: Any, what: str) -> Any:
    """A number (in x's dtype, as PyTorch converts it) or a 0-d tensor (converted)."""
    if isinstance(value, Tensor):
        if value.ndim:
            raise RuntimeError(
                f"{format_location(user_location())}: {what} only supports a 0-dimensional "
                f"value tensor, but got tensor with {value.ndim} dimension(s)."
            )
        return _as_dtype(value, x.dtype)
    if not _is_scalar(value):
        raise TypeError(f"{what}: value must be a number or a 0-d tensor, got {value!r}")
    if x.dtype is bool_:
        return bool(value)
    return float(value) if x.dtype.is_floating_point else int(value)


# --------------------------------------------------------------------------- positions


def _last_of_duplicates_np(position: np.ndarray) -> np.ndarray:
    """True for each entry that is the last (in row-major order) naming its position."""
    flat = position.reshape(-1)
    last = np.zeros(flat.shape, dtype=bool)
    _, first_from_end = np.unique(flat[::-1], return_index=True)
    last[flat.size - 1 - first_from_end] = True
    return last.reshape(position.shape)


def _last_of_duplicates(index: Tensor, d: int) -> Tensor | None:
    """For an index computed on the device: True for each entry that no later entry along
    `d` (of its column: only those can name the same element) repeats, by a pairwise compare
    along d ([.., m, m, ..]: m * m per column, index-sized). None when m is 1 (no repeats)."""
    m = index.shape[d]
    if m <= 1:
        return None
    with no_grad():
        mine, other = ops.unsqueeze(index, d + 1), ops.unsqueeze(index, d)  # i at d, j at d + 1
        shape_i = [1] * (index.ndim + 1)
        shape_j = [1] * (index.ndim + 1)
        shape_i[d], shape_j[d + 1] = m, m
        i = ops.arange(m, dtype=int32).reshape(shape_i)
        j = ops.arange(m, dtype=int32).reshape(shape_j)
        repeated_later = ops.logical_and(ops.eq(mine, other), ops.gt(j, i))
        return ops.logical_not(ops.any(repeated_later, d + 1))


def _positions(
    shape: Sequence[int], d: int, index: Tensor, location: Location, what: str
) -> tuple[Tensor, Tensor]:
    """The flat int32 positions, in x of `shape` flattened, of the entries of `index` (x's
    rank; its values are coordinates along d, the entry's own coordinates the others), range
    checked (PyTorch's words: at once for indices at hand, else after the run). Returned twice:
    every entry's, and with each entry a later one overwrites sent to numel(x) (out of the
    table's range: it adds nothing), for the writes that keep one value."""
    n, total = shape[d], math.prod(shape)
    step = strides.contiguous(shape)
    message = _out_of_bounds(d, n, f"{what}(): ")
    data = data_at_hand(index)
    if data is not None:  # on the host: int32 program inputs
        return _host_positions(np.asarray(data, dtype=np.int64), shape, d, message, location)
    with no_grad():
        at = _as_dtype(index, int32)
        position = at * step[d] if step[d] != 1 else at
        for k in range(len(shape)):
            if k != d and index.shape[k] > 1:
                along = [1] * len(shape)
                along[k] = index.shape[k]
                coordinate = ops.arange(index.shape[k], dtype=int32).reshape(along)
                position = position + coordinate * step[k]
        position = ops.broadcast_to(position, index.shape)
        last = _last_of_duplicates(index, d)
        kept = position if last is None else ops.where(last, position, total)
        every, kept = position.reshape(-1), kept.reshape(-1)
    checks.check_indices(index, n, message, guarded=every, location=location)  # (every
    return every, kept  # scatter reads `every`: the written mask, the gradient)


def _host_positions(
    data: np.ndarray, shape: Sequence[int], d: int, message: Any, location: Location
) -> tuple[Tensor, Tensor]:
    """`_positions` of an index at hand, computed with numpy and checked at once."""
    n, total = shape[d], math.prod(shape)
    step = strides.contiguous(shape)
    checks.check_now((data < 0) | (data >= n), data, message, location=location)
    grids = np.meshgrid(*(np.arange(k) for k in data.shape), indexing="ij")
    position = np.zeros(data.shape, dtype=np.int64)
    for k in range(len(shape)):
        position += (data if k == d else grids[k]) * step[k]
    last = np.where(_last_of_duplicates_np(position), position, total)
    every = ops.from_numpy(position.reshape(-1).astype(np.int32))
    if (last == position).all():
        return every, every
    return every, ops.from_numpy(last.reshape(-1).astype(np.int32))


def _placed(position: Tensor, values: Tensor, total: int) -> Tensor:
    """[total]: each value added at its position (nothing for positions out of range)."""
    rows = values.reshape(values.numel(), 1)
    if rows.dtype is bool_:
        rows = ops.astype(rows, int32)
    return ops.scatter_add_rows(position, rows, total).reshape(total)


def _written(position: Tensor, total: int) -> Tensor:
    """[total] bool: the positions some entry writes."""
    with no_grad():
        ones = ops.ones(position.numel(), 1, dtype=int32)
        return ops.scatter_add_rows(position, ones, total).reshape(total) > 0


# --------------------------------------------------------------------------- scatter


def _scatter_args(
    input: Tensor, dim: Any, index: Any, src: Any, what: str
) -> tuple[Tensor, int, Tensor, Any]:
    """PyTorch's checks of scatter's arguments; (x, d, index, src cut to index's shape) with
    0-d tensors as 1-D."""
    _check_tensor(input, what)
    index = _index_arg(index, what)
    d = _dim(input, dim, what)
    if isinstance(src, Tensor) and src.dtype is not input.dtype:
        raise RuntimeError(
            f"{format_location(user_location())}: {what}(): Expected self.dtype to be equal to "
            f"src.dtype ({input.dtype!r} and {src.dtype!r})"
        )
    if index.ndim != input.ndim and not (index.ndim <= 1 and input.ndim <= 1):
        raise _shape_error(
            f"{what}(): Index tensor must have the same number of dimensions as self tensor "
            f"({index.ndim} and {input.ndim})"
        )
    x = input.reshape(1) if input.ndim == 0 else input
    idx = index.reshape(1) if index.ndim == 0 else index
    if isinstance(src, Tensor):
        if src.ndim != idx.ndim and not (src.ndim <= 1 and idx.ndim <= 1):
            raise _shape_error(
                f"{what}(): Index tensor must have the same number of dimensions as src tensor"
            )
        s = src.reshape(1) if src.ndim == 0 else src
        too_big = any(
            idx.shape[k] > s.shape[k] or (k != d and idx.shape[k] > x.shape[k])
            for k in range(idx.ndim)
        )
        if too_big:
            raise _shape_error(
                f"{what}(): Expected index {list(index.shape)} to be no larger than self "
                f"{list(input.shape)} apart from dimension {d} and to be no larger size than "
                f"src {list(src.shape)}"
            )
        if s.shape != idx.shape:
            s = s[tuple(slice(0, k) for k in idx.shape)]
        return x, d, idx, s
    if any(k != d and idx.shape[k] > x.shape[k] for k in range(idx.ndim)):
        raise _shape_error(
            f"{what}(): Expected index {list(index.shape)} to be no larger than self "
            f"{list(input.shape)} apart from dimension {d}"
        )
    return x, d, idx, src


class _ScatterGrad:
    """scatter's gradient, PyTorch's formula: none to x where something was written, and to
    src the gradient at every entry's position (also where a later entry overwrote it)."""

    def __init__(self, x: Tensor, src: Tensor, written: Tensor, position: Tensor):
        self.inputs = (x, src)
        self.written, self.position = written, position

    def __call__(self, node: Tensor, g: Tensor) -> Sequence[Tensor | None]:
        x, src = self.inputs
        g_x = ops.where(self.written.reshape(x.shape), 0.0, g)
        rows = ops.gather_rows(g.reshape(g.numel(), 1), self.position)
        return g_x, rows.reshape(src.shape)


@composite(lambda out, input, dim, index, *a, **k: (index,), "Scatter")
def scatter(
    input: Tensor,
    dim: int,
    index: Tensor,
    src: Any = None,
    *,
    value: Any = None,
    reduce: str | None = None,
) -> Tensor:
    """x with src[i][j][k] written at x[index[i][j][k]][j][k] for dim 0 (and so on), or the
    number / 0-d tensor `value` (torch.scatter: `scatter(input, dim, index, src)`,
    `scatter(input, dim, index, value)`); `reduce="add"` is scatter_add and "multiply"
    scatter_reduce's "prod" (PyTorch's deprecated argument). index has x's rank, in every dim at most src's
    size and, apart from `dim`, at most x's; src must have x's dtype."""
    location = user_location()
    if src is None and value is None:
        raise TypeError("scatter() missing the src tensor or the value")
    if src is not None and value is not None:
        raise TypeError("scatter() takes src or value, not both")
    given = src if src is not None else value
    if reduce is not None:
        if reduce not in ("add", "multiply"):
            raise RuntimeError(
                f"{format_location(location)}: reduce argument must be either add or multiply."
            )
        if not isinstance(given, Tensor):
            given = ops.full(index.shape, _fill_value(input, given, "scatter"), dtype=input.dtype)
        if reduce == "add":
            return scatter_add(input, dim, index, given)
        return scatter_reduce(input, dim, index, given, "prod")
    x, d, idx, s = _scatter_args(input, dim, index, given, "scatter")
    if not idx.numel():  # nothing written: a copy
        return _reshape_node(input, input.shape)
    total = x.numel()
    every, kept = _positions(x.shape, d, idx, location, "scatter")
    written = _written(every, total).reshape(x.shape)
    if not isinstance(given, Tensor):
        return _shaped(ops.where(written, _fill_value(x, given, "scatter"), x), input)
    placed = _as_dtype(_placed(kept, s, total), x.dtype).reshape(x.shape)
    out = ops.where(written, placed, x)
    if out.requires_grad:
        out._grad_fn = _ScatterGrad(x, s, written, every)
    return _shaped(out, input)


def _shaped(out: Tensor, input: Tensor) -> Tensor:
    """out (computed on a 0-d input as 1-D) in input's shape."""
    return out if out.shape == input.shape else _reshape_node(out, input.shape)


def _added(x: Tensor, placed: Tensor, written: Tensor) -> Tensor:
    """x + placed where something was added (elsewhere x as it was: -0.0 stays -0.0); bool
    as logical or, as PyTorch adds bools."""
    if x.dtype is bool_:
        return ops.logical_or(x, placed > 0)
    placed = _as_dtype(placed, x.dtype)
    if not x.dtype.is_floating_point:
        return x + placed
    return ops.where(written, x + placed, x)


@composite(lambda out, input, dim, index, src: (index,), "ScatterAdd")
def scatter_add(input: Tensor, dim: int, index: Tensor, src: Tensor) -> Tensor:
    """x with every src[i][j][k] added to x[index[i][j][k]][j][k] for dim 0 (and so on),
    torch.scatter_add; repeated positions add up. The shapes as `scatter`'s."""
    location = user_location()
    if not isinstance(src, Tensor):
        raise TypeError(
            f"scatter_add(): argument 'src' (position 4) must be Tensor, not {type(src).__name__}"
        )
    x, d, idx, s = _scatter_args(input, dim, index, src, "scatter_add")
    if not idx.numel():
        return _reshape_node(input, input.shape)
    total = x.numel()
    every, _ = _positions(x.shape, d, idx, location, "scatter_add")
    written = _written(every, total).reshape(x.shape)
    return _shaped(_added(x, _placed(every, s, total).reshape(x.shape), written), input)


# --------------------------------------------------------------------------- index_*


def _index_vector(x: Tensor, index: Any, what: str) -> Tensor:
    index = _index_arg(index, what)
    if index.ndim > 1:
        raise IndexError(
            f"{format_location(user_location())}: {what}(): Index is supposed to be a vector, "
            f"but got dim: {index.ndim} with size: {list(index.shape)}"
        )
    return index.reshape(1) if index.ndim == 0 else index


def _source_arg(x: Tensor, d: int, index: Tensor, source: Any, what: str) -> Tensor:
    """source: x's shape with index.numel() along d (a 0-d x takes a 0-d or 1-element
    source), x's dtype."""
    _check_tensor(source, f"{what} source")
    if source.dtype is not x.dtype:
        raise RuntimeError(
            f"{format_location(user_location())}: {what}(): self ({x.dtype!r}) and source "
            f"({source.dtype!r}) must have the same scalar type"
        )
    want = list(x.shape)
    want[d] = index.numel()
    s = source.reshape(1) if source.ndim == 0 else source
    if list(s.shape) != want:
        raise _shape_error(
            f"{what}(): source of shape {list(source.shape)} does not fit: expected "
            f"{want} (self's shape {list(x.shape)} with the number of indices ({index.numel()}) "
            f"along dim {d})"
        )
    return s


def _rows_at(
    x: Tensor, d: int, index: Tensor, location: Location, what: str, negative: bool = False
) -> tuple[Tensor, Tensor]:
    """The int32 rows along d the 1-D `index` names (`negative`: counted from the end, as
    index_fill takes them), range checked; and [n] bool: the rows named."""
    n = x.shape[d]
    message = _out_of_bounds(d, n, f"{what}(): ")
    data = data_at_hand(index)
    if data is not None:
        given = np.asarray(data, dtype=np.int64).reshape(-1)
        low = -n if negative else 0
        checks.check_now((given < low) | (given >= n), given, message, location=location)
        wrapped = given % n if n else given
        hit = np.zeros(n, dtype=bool)
        hit[wrapped] = True
        return ops.from_numpy(wrapped.astype(np.int32)), ops.from_numpy(hit)
    with no_grad():
        at = _as_dtype(index, int32)
        rows = ops.where(at < 0, at + n, at) if negative else at
        bad = (at < -n) | (at >= n) if negative else (at < 0) | (at >= n)
        named = ops.any(rows.reshape(-1, 1) == ops.arange(n, dtype=int32), 0)
    checks.add_check(named, bad, at, message, location=location)
    return rows, named


def _along(mask: Tensor, d: int, ndim: int) -> Tensor:
    """A 1-D mask laid along dim d of a rank-`ndim` tensor."""
    shape = [1] * ndim
    shape[d] = mask.shape[0]
    return mask.reshape(shape)


@composite(lambda out, input, dim, index, source, **k: (index,), "IndexAdd")
def index_add(input: Tensor, dim: int, index: Tensor, source: Tensor, *, alpha: Any = 1) -> Tensor:
    """x with alpha * source's slices along `dim` added to x's slices at the 1-D `index`
    (torch.index_add): source's rows along dim, as index_select reads x's ([K, rest]), go
    into a zero table [n, rest] through flame.scatter_add_rows; repeated indices add up."""
    location = user_location()
    _check_tensor(input, "index_add")
    x = input.reshape(1) if input.ndim == 0 else input
    d = _dim(input, dim, "index_add")
    idx = _index_vector(x, index, "index_add")
    src = _source_arg(x, d, idx, source, "index_add")
    if alpha != 1:
        src = src * alpha
    if not idx.numel():
        return _reshape_node(input, input.shape)
    rows, named = _rows_at(x, d, idx, location, "index_add")
    table = _rows_along(src if src.dtype is not bool_ else ops.astype(src, int32), d)
    placed = ops.scatter_add_rows(rows, table, x.shape[d])
    placed = _from_rows(placed, x.shape, d)
    return _shaped(_added(x, placed, _along(named, d, x.ndim)), input)


class _IndexCopyGrad:
    """index_copy's gradient, PyTorch's formula: none to x at the named slices, and to
    source the gradient at every index (also where a later one overwrote it)."""

    def __init__(self, x: Tensor, source: Tensor, named: Tensor, rows: Tensor, d: int):
        self.inputs = (x, source)
        self.named, self.rows, self.d = named, rows, d

    def __call__(self, node: Tensor, g: Tensor) -> Sequence[Tensor | None]:
        x, source = self.inputs
        g_x = ops.where(_along(self.named, self.d, x.ndim), 0.0, g)
        picked = ops.gather_rows(_rows_along(g, self.d), self.rows)
        return g_x, _from_rows(picked, source.shape, self.d)


@composite(lambda out, input, dim, index, source: (index,), "IndexCopy")
def index_copy(input: Tensor, dim: int, index: Tensor, source: Tensor) -> Tensor:
    """x with its slices along `dim` at the 1-D `index` replaced by source's (torch.index_copy;
    a slice named twice takes the last one's, as PyTorch's CPU kernel)."""
    location = user_location()
    _check_tensor(input, "index_copy")
    x = input.reshape(1) if input.ndim == 0 else input
    d = _dim(input, dim, "index_copy")
    idx = _index_vector(x, index, "index_copy")
    src = _source_arg(x, d, idx, source, "index_copy")
    if not idx.numel():
        return _reshape_node(input, input.shape)
    rows, named = _rows_at(x, d, idx, location, "index_copy")
    kept = rows
    data = data_at_hand(rows)
    if data is not None:
        last = _last_of_duplicates_np(data)
        if not last.all():
            kept = ops.from_numpy(np.where(last, data, x.shape[d]).astype(np.int32))
    else:
        last_t = _last_of_duplicates(rows, 0)
        if last_t is not None:
            with no_grad():
                kept = ops.where(last_t, rows, x.shape[d])
    table = _rows_along(src if src.dtype is not bool_ else ops.astype(src, int32), d)
    placed = _from_rows(ops.scatter_add_rows(kept, table, x.shape[d]), x.shape, d)
    out = ops.where(_along(named, d, x.ndim), _as_dtype(placed, x.dtype), x)
    if out.requires_grad:
        out._grad_fn = _IndexCopyGrad(x, src, named, rows, d)
    return _shaped(out, input)


@composite(lambda out, input, dim, index, value: (index,), "IndexFill")
def index_fill(input: Tensor, dim: int, index: Tensor, value: Any) -> Tensor:
    """x with its slices along `dim` at the 1-D `index` (negative ones count from the end,
    as PyTorch) set to `value`, a number or a 0-d tensor (torch.index_fill): one flame.where,
    exact; the value's gradient is the sum over the filled elements."""
    location = user_location()
    _check_tensor(input, "index_fill")
    x = input.reshape(1) if input.ndim == 0 else input
    d = _dim(input, dim, "index_fill")
    idx = _index_vector(x, index, "index_fill")
    fill = _fill_value(x, value, "index_fill_")
    if not idx.numel():
        return _reshape_node(input, input.shape)
    _, named = _rows_at(x, d, idx, location, "index_fill", negative=True)
    return _shaped(ops.where(_along(named, d, x.ndim), fill, x), input)


# --------------------------------------------------------------------------- scatter_reduce

#: scatter_reduce's reductions: (the reduction over entries, its identity for floats)
_REDUCTIONS = ("sum", "prod", "mean", "amax", "amin")


def _identity(reduce: str, dtype: DType) -> float | int:
    """The value an entry that names another position contributes (a number of x's kind)."""
    if dtype.is_floating_point:
        extreme = {"amax": -math.inf, "amin": math.inf}
        return extreme.get(reduce, 1.0 if reduce == "prod" else 0.0)
    info = np.iinfo(np.int32)
    return {"amax": int(info.min), "amin": int(info.max), "prod": 1}.get(reduce, 0)


def _reduced(entries: Tensor, axis: int, reduce: str) -> Tensor:
    if reduce == "prod":
        return ops.prod(entries, axis)
    if reduce == "amax":
        return ops.amax(entries, axis)
    if reduce == "amin":
        return ops.amin(entries, axis)
    return ops.sum(entries, axis)


def scatter_reduce(
    input: Tensor,
    dim: int,
    index: Tensor,
    src: Tensor,
    reduce: str,
    *,
    include_self: bool = True,
) -> Tensor:
    """x with each src[i][j][k] reduced into x[index[i][j][k]][j][k] for dim 0 (and so on)
    by `reduce`, one of "sum", "prod", "mean", "amax", "amin" (torch.scatter_reduce), x's own
    value taking part where `include_self`; positions nothing names keep x's value bit for bit.
    Dense along dim: the entries of each column are compared with every position of the
    column (a one-hot [.., n, m, ..] of index against an iota: n * m per column), the hit ones
    kept and the others made the reduction's identity, x's value joined as one more entry,
    then one flame reduction over the entries. So gradients are the reductions' own:
    PyTorch's, a tie of amax/amin shared evenly among every element equal to the result
    (x's too). "mean" divides by the count of values reduced (integers: rounded toward -inf,
    as PyTorch); bool takes or (sum, amax) and and (prod, amin), no mean (PyTorch's error)."""
    location = user_location()
    if reduce not in _REDUCTIONS:
        raise RuntimeError(
            f"{format_location(location)}: reduce argument must be either sum, prod, mean, "
            f"amax or amin, got {reduce}"
        )
    if not isinstance(src, Tensor):
        raise TypeError(
            "scatter_reduce(): argument 'src' (position 4) must be Tensor, not "
            f"{type(src).__name__}"
        )
    x, d, idx, s = _scatter_args(input, dim, index, src, "scatter_reduce")
    if x.dtype is bool_:
        if reduce == "mean":
            raise NotImplementedError(
                f"{format_location(location)}: scatter_reduce(reduce='mean') is not "
                "implemented for bool (as in PyTorch)"
            )
        wide = scatter_reduce(
            ops.astype(input, int32),
            dim,
            index,
            ops.astype(src, int32),
            reduce,
            include_self=include_self,
        )
        return ops.ne(wide, 0)
    if not idx.numel():
        return _reshape_node(input, input.shape)
    _positions(x.shape, d, idx, location, "scatter_reduce")  # (range check: PyTorch's words)
    n = x.shape[d]
    # the block of x the index reaches (x's extent along d, the index's elsewhere)
    reach = [slice(0, k) if i != d else slice(None) for i, k in enumerate(idx.shape)]
    block = (
        x[tuple(reach)] if any(idx.shape[k] < x.shape[k] for k in range(x.ndim) if k != d) else x
    )
    with no_grad():
        along = [1] * (idx.ndim + 1)
        along[d] = n
        positions = ops.arange(n, dtype=int32).reshape(along)  # [.., n, 1, ..]
        hot = ops.eq(ops.unsqueeze(_as_dtype(idx, int32), d), positions)  # [.., n, m, ..]
        hit = ops.any(hot, d + 1)
    entries = ops.where(hot, ops.unsqueeze(s, d), _identity(reduce, x.dtype))
    if include_self:
        entries = ops.cat([ops.unsqueeze(block, d + 1), entries], d + 1)
    out = _reduced(entries, d + 1, reduce)
    if reduce == "mean":
        with no_grad():
            count = ops.sum(ops.astype(hot, int32), d + 1) + (1 if include_self else 0)
            count = ops.where(count == 0, 1, count)
        if x.dtype.is_floating_point:
            out = out / _as_dtype(count, x.dtype)
        else:
            out = ops.floor_divide(out, count)
    out = ops.where(hit, _as_dtype(out, x.dtype), block)
    if block is not x:  # the rest of x as it was
        out = index_set(x, tuple(reach), out)
    return _shaped(out, input)


# --------------------------------------------------------------------------- index_put


def _put_indices(input: Tensor, indices: Any) -> tuple[Tensor, ...]:
    """torch.index_put's checks of `indices`: a tuple (or list) of int or bool tensors."""
    if not isinstance(indices, (tuple, list)):
        raise TypeError(
            "index_put(): argument 'indices' (position 2) must be tuple of Tensors, not "
            f"{type(indices).__name__}"
        )
    if not indices:  # PyTorch fails deep inside ("sym_strides() called on an undefined Tensor")
        raise IndexError(f"{format_location(user_location())}: index_put(): indices is empty")
    for k, index in enumerate(indices):
        if not isinstance(index, Tensor):
            raise TypeError(
                f"index_put(): expected Tensor as element {k} in argument 1, but got "
                f"{type(index).__name__}"
            )
        if index.dtype.is_floating_point:
            raise IndexError(
                f"{format_location(user_location())}: tensors used as indices must be long, "
                "int, byte or bool tensors"
            )
    return tuple(indices)


def index_put(input: Tensor, indices: Any, values: Tensor, accumulate: bool = False) -> Tensor:
    """x with `values` at `x[indices]` (torch.index_put; `indices` a tuple of int or bool
    tensors, as advanced indexing takes them): `x[indices] = values` when not `accumulate`
    (a position named twice takes the last value, PyTorch's CPU order), else every value is
    added at its position, repeats adding up: the flat positions `arange(numel).reshape(x.shape)`
    [indices] take `values` (broadcast to `x[indices]`'s shape) through `index_add`. values must
    have x's dtype, as PyTorch requires."""
    _check_tensor(input, "index_put")
    key = _put_indices(input, indices)
    if not isinstance(values, Tensor):
        raise TypeError(
            "index_put(): argument 'values' (position 3) must be Tensor, not "
            f"{type(values).__name__}"
        )
    if values.dtype is not input.dtype:
        raise RuntimeError(
            f"{format_location(user_location())}: Index put requires the source and destination "
            f"dtypes match, got {input.dtype!r} for the destination and {values.dtype!r} for "
            "the source."
        )
    if not accumulate:
        return index_set(input, key, values)
    with no_grad():
        flat = ops.arange(input.numel(), dtype=int32).reshape(input.shape)
        positions = getitem(flat, key)  # x[indices]'s flat positions (range checked there)
    v = _broadcast_value(values, list(positions.shape))
    if not positions.numel():
        return _reshape_node(input, input.shape)
    added = index_add(input.reshape(-1), 0, positions.reshape(-1), v.reshape(-1))
    return _reshape_node(added, input.shape)


_TORCH_NAMES = {"float32": "Float", "float16": "Half", "bfloat16": "BFloat16", "int32": "Long"}


def _torch_name(dtype: DType) -> str:
    return _TORCH_NAMES.get(dtype.name, dtype.name.capitalize())


def masked_scatter(input: Tensor, mask: Tensor, source: Tensor) -> Tensor:
    """`source`'s elements, in order, where the bool `mask` holds, `input` elsewhere
    (torch.masked_scatter; input and mask broadcast together): the k-th True element (row-major)
    takes source.flatten()[k]. Its source position is the running count of the mask
    (`cumsum`) less one, read by `flame.gather_rows` from source as a table of one-element
    rows; a `flame.where` keeps input elsewhere, bit for bit. A source with fewer elements than
    the mask has True is PyTorch's RuntimeError, at once for a mask at hand, else after the
    run naming the user's line. Gradients as PyTorch's: input's where the mask is False,
    source's first k elements from the masked places (the rest 0)."""
    location = user_location()
    where = format_location(location)
    _check_tensor(input, "masked_scatter")
    _check_tensor(mask, "masked_scatter mask")
    _check_tensor(source, "masked_scatter source")
    if mask.dtype is not bool_:
        raise RuntimeError(
            f"{where}: masked_scatter_ only supports boolean masks, but got mask with dtype "
            f"{_torch_name(mask.dtype)}"
        )
    if source.dtype is not input.dtype:
        raise RuntimeError(
            f"{where}: masked_scatter: expected self and source to have same dtypes but got "
            f"{_torch_name(input.dtype)} and {_torch_name(source.dtype)}"
        )
    try:
        shape = shapes.broadcast_all(input.shape, mask.shape)
    except ValueError:
        raise _shape_error(
            f"masked_scatter: the input of shape {list(input.shape)} and the mask of shape "
            f"{list(mask.shape)} cannot be broadcast together"
        ) from None
    x = input if input.shape == shape else ops.broadcast_to(input, shape)
    m = mask if mask.shape == shape else ops.broadcast_to(mask, shape)
    size = source.numel()

    def message(ones: int, count: int) -> str:
        return (
            f"Number of elements of source < number of ones in mask (source has {size}, "
            f"the mask {ones})"
        )

    held = data_at_hand(m)
    if held is not None:
        ones = int(held.sum())
        checks.check_now(
            np.array(ones > size), np.array(ones), message, error=RuntimeError, location=location
        )
        if not ones:
            return _reshape_node(x, shape)
    if not size:  # (only a mask computed on the device: checked after the run)
        picked = ops.zeros(shape, dtype=input.dtype)
    else:
        flat = m.reshape(-1)
        with no_grad():
            count = ops.cumsum(flat.astype(int32), 0)
            at = ops.where(flat, count - 1, 0)
        rows = ops.gather_rows(source.reshape(size, 1), at)  # [numel, 1]
        picked = rows.reshape(shape)
    out = ops.where(m, picked, x)
    if held is None:
        with no_grad():
            total = m.astype(int32).sum()
        checks.add_check(out, total > size, total, message, error=RuntimeError, location=location)
    return out


tensor_methods.bind("indexed_writes", sys.modules[__name__])  # `x.scatter(...)`, ...


# --------------------------------------------------------------------------- torch's helpers


def put(input: Tensor, index: Tensor, source: Tensor, accumulate: bool = False) -> Tensor:
    """x with `source`'s elements at the flat positions `index` (torch.Tensor.put: x as if
    1-D; negative positions count from the end; `accumulate` adds): index_put of x flattened."""
    _check_tensor(input, "put")
    _check_tensor(index, "put index")
    _check_tensor(source, "put source")
    if index.numel() != source.numel():
        raise IndexError(
            f"{format_location(user_location())}: put_(): Expected source and index to have the "
            f"same number of elements, but got source.numel() = {source.numel()}, "
            f"index.numel() = {index.numel()}"
        )
    flat = ops.reshape(input, (-1,))
    out = index_put(flat, (ops.reshape(index, (-1,)),), ops.reshape(source, (-1,)), accumulate)
    return _reshape_node(out, input.shape)


def _scatter_into(input: Tensor, src: Tensor, key: tuple[Any, ...], what: str) -> Tensor:
    _check_tensor(input, what)
    _check_tensor(src, f"{what} src")
    want = _shape_rule(shapes.index, input.shape, key).shape
    if src.shape != want:
        raise RuntimeError(
            f"{format_location(user_location())}: expected src to have a size equal to the slice "
            f"of self. src size = {list(src.shape)}, slice size = {list(want)}"
        )
    return index_set(input, key, src)


def select_scatter(input: Tensor, src: Tensor, dim: int, index: int) -> Tensor:
    """x with `src` written at `index` of `dim` (torch.select_scatter: out of place, the
    inverse of select): `x[:, ..., index] = src` as a new tensor (gradients to both)."""
    d = _dim(input, dim, "select_scatter")
    i = _dim_arg(index, "select_scatter index")
    if not -input.shape[d] <= i < input.shape[d]:
        raise IndexError(
            f"{format_location(user_location())}: select(): index {i} out of range for tensor "
            f"of size {list(input.shape)} at dimension {dim}"
        )
    return _scatter_into(input, src, (slice(None),) * d + (i,), "select_scatter")


def slice_scatter(
    input: Tensor,
    src: Tensor,
    dim: int = 0,
    start: int | None = None,
    end: int | None = None,
    step: int = 1,
) -> Tensor:
    """x with `src` written at `start:end:step` of `dim` (torch.slice_scatter, out of place)."""
    d = _dim(input, dim, "slice_scatter")
    key = (slice(None),) * d + (slice(start, end, step),)
    return _scatter_into(input, src, key, "slice_scatter")


_INDEX_REDUCTIONS = ("prod", "mean", "amax", "amin")


def index_reduce(
    input: Tensor,
    dim: int,
    index: Tensor,
    source: Tensor,
    reduce: str,
    *,
    include_self: bool = True,
) -> Tensor:
    """x with source's slices along `dim` reduced into x's slices at `index` (torch.index_reduce:
    "prod", "mean", "amax", "amin"): scatter_reduce with the 1-D index spread over source's
    shape along dim."""
    _check_tensor(input, "index_reduce")
    if reduce not in _INDEX_REDUCTIONS:
        raise RuntimeError(
            f"{format_location(user_location())}: index_reduce(): Expected reduce to be one of "
            f"prod, mean, amax or amin but got {reduce}."
        )
    d = _dim(input, dim, "index_reduce")
    index = _index_vector(input, index, "index_reduce")
    _check_tensor(source, "index_reduce source")
    if (
        source.ndim != input.ndim
        or source.shape[d] != index.numel()
        or any(source.shape[i] != input.shape[i] for i in range(input.ndim) if i != d)
    ):
        raise RuntimeError(
            f"{format_location(user_location())}: index_reduce(): source {list(source.shape)} "
            f"must match self {list(input.shape)} except along dim {d}, which has one slice per "
            f"index ({index.numel()})"
        )
    shape = [1] * source.ndim
    shape[d] = index.numel()
    spread = ops.broadcast_to(ops.reshape(index, shape), source.shape)
    return scatter_reduce(input, d, spread, source, reduce, include_self=include_self)
