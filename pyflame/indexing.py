"""gather, index_select, narrow with a tensor start and repeat_interleave, PyTorch's
signatures, built on the rows of a table read through an index (`flame.gather_rows`: the index goes to the PEs holding the
table's rows, each reads the rows it owns, a sum across the row split assembles them; only
index-sized and output-sized data moves).

    pf.index_select(x, 1, idx)   # x [a, n, b]: x moved to [n, a * b], its rows at idx, moved back
    pf.gather(src, 1, idx)       # src [a, n], idx [a, j]: per output element one row of the
                                 # source moved to [n, a], then that row's element at its column

Indices are checked like PyTorch's (an IndexError at once for indices at hand, after the run,
naming the user's line, for indices computed on the device: pyflame/checks.py); the lookup
itself reads zeros for them. int64 indices are held as int32 (docs/ops.md, "int64").
Gradients follow from the gather's rule (a scatter-add into the rows, pyflame/gradients.py).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable

import numpy as np

from pyflame import checks, ops, tensor_methods
from pyflame.autograd import no_grad
from pyflame.checks import check_indices
from pyflame.checks import data_at_hand as _data_at_hand
from pyflame.core import shapes
from pyflame.core.dtypes import bool_, int32
from pyflame.lazy_tensor import Location, Tensor, format_location, user_location
from pyflame.ops.node import _check_tensor, _dim_arg, _shape_error, _shape_rule
from pyflame.ops.saved import composite


def _count(count: int) -> str:
    return f"{count} element{'s' if count != 1 else ''} out of range"


def _index_message(dim: int, size: int) -> Callable[[int, int], str]:
    def message(value: int, count: int) -> str:
        return (
            f"gather: index {value} is out of bounds for dimension {dim} with size {size} "
            f"({_count(count)})"
        )

    return message


def _rows_along(x: Tensor, d: int) -> Tensor:
    """x with dim d first and the others flattened: a table [x.shape[d], rest] whose row i is
    x's slice i along d (a local transpose; no reshape for a 2-D x)."""
    moved = ops.transpose(x, 0, d) if d else x
    return moved.reshape(moved.shape[0], math.prod(moved.shape[1:]))


def _from_rows(rows: Tensor, like: tuple[int, ...], d: int) -> Tensor:
    """The inverse of `_rows_along` for a result whose dim d has rows.shape[0] entries."""
    moved = list(like)
    moved[0], moved[d] = moved[d], moved[0]
    moved[0] = rows.shape[0]
    out = rows.reshape(moved)
    return ops.transpose(out, 0, d) if d else out


@composite(lambda out, input, dim, index: (input, index), "Gather")
def gather(input: Tensor, dim: int, index: Tensor) -> Tensor:
    return _gather(input, dim, index, None)


def _gather(
    input: Tensor, dim: int, index: Tensor, message: Callable[[int, int], str] | None
) -> Tensor:
    """out[i][j][k] = input[index[i][j][k]][j][k] for dim 0 (and so on), torch.gather: index
    has input's rank and, in every other dim, at most input's size; the result has index's
    shape. An index outside [0, size) is an IndexError (PyTorch's words; negative indices are
    refused as there).

    The source, cut to the index's sizes, becomes a table of rows along `dim` ([n, R], R the
    product of the other sizes). Each index entry reads its whole row (R elements) and keeps
    the element at its own column: K * R work for K entries; when R > n, comparing with the
    n positions of the dim is cheaper (K * n), and that is done instead."""
    location = user_location()
    _check_tensor(input, "gather")
    _check_tensor(index, "gather index")
    if index.dtype.is_floating_point or index.dtype is bool_:
        raise RuntimeError(f"gather(): Expected dtype int64 for index, got {index.dtype!r}")
    if not index.numel():  # PyTorch accepts an empty index of any rank
        return ops.zeros(index.shape, dtype=input.dtype)
    if index.ndim != input.ndim and not (index.ndim <= 1 and input.ndim <= 1):
        raise RuntimeError("Index tensor must have the same number of dimensions as input tensor")
    d = _shape_rule(shapes.normalize_dim, _dim_arg(dim, "gather"), max(input.ndim, 1))
    src, idx = input, index
    if input.ndim == 0:
        src = src.reshape(1)
    if index.ndim == 0:
        idx = idx.reshape(1)
    for k in range(src.ndim):
        if k != d and idx.shape[k] > src.shape[k]:
            raise RuntimeError(
                f"Size does not match at dimension {k} expected index {list(index.shape)} to "
                f"be no larger than self {list(input.shape)} apart from dimension {d}"
            )
    n = src.shape[d]
    if idx.numel() and not n:
        raise _shape_error(f"gather: index out of range: dimension {d} of the input is empty")
    # the other dims of the source cut to the index's sizes
    src = src[tuple(slice(0, idx.shape[k]) if k != d else slice(None) for k in range(src.ndim))]
    message = message or _index_message(d, n)
    rest = idx.numel() // idx.shape[d]
    if rest > n:
        picked = _gather_by_compare(src, idx, d, n, message, location)
    else:
        picked = _gather_by_rows(src, idx, d, message, location)
    if picked.dtype is not input.dtype:  # bool sums count as int32
        picked = picked.astype(input.dtype)
    return picked.reshape(index.shape) if index.ndim == 0 else picked


def torch_dim(dim: int, ndim: int) -> int:
    """`dim` of a tensor of rank `ndim` (a 0-d tensor takes 0 and -1) counted from 0, or
    PyTorch's IndexError naming the user's line."""
    low, high = -max(ndim, 1), max(ndim, 1) - 1
    if not low <= dim <= high:
        raise IndexError(
            f"{format_location(user_location())}: Dimension out of range (expected to be in "
            f"range of [{low}, {high}], but got {dim})"
        )
    return dim % max(ndim, 1)


def take_along_dim(input: Tensor, indices: Tensor, dim: int | None = None) -> Tensor:
    """torch.take_along_dim: without `dim`, `gather` on both flattened (PyTorch's IndexError
    for an index outside [0, numel)); with `dim` (not for a 0-d input, as PyTorch), input and
    indices broadcast against each other in every dim but `dim` and the indices taken modulo
    the dim's size, as PyTorch 2.13 (`indices % size`: -1 is the last, and so is
    size - 1 + k * size), then `gather`."""
    where = format_location(user_location())
    _check_tensor(input, "take_along_dim")
    _check_tensor(indices, "take_along_dim indices")
    if indices.dtype.is_floating_point or indices.dtype is bool_:
        raise RuntimeError(
            f"{where}: torch.take_along_dim(): dtype of indices should be Long but got "
            f"{indices.dtype!r}"
        )
    if dim is None:
        return gather(input.reshape(-1), 0, indices.reshape(-1))
    if input.ndim != indices.ndim:
        raise RuntimeError(
            f"{where}: torch.take_along_dim(): input and indices should have the same number of "
            f"dimensions, but got {input.ndim} dimensions for input, and {indices.ndim} "
            "dimensions for indices"
        )
    d = torch_dim(_dim_arg(dim, "take_along_dim"), input.ndim)
    if input.ndim == 0:  # PyTorch 2.13 refuses a dim here (0 and -1 too); without one it takes
        raise IndexError(  # the 0-d input as [1] (above)
            f"{where}: torch.take_along_dim(): Dimension specified as {d} but tensor has no "
            "dimensions (a 0-d input takes no dim: take_along_dim(input, indices) without one)"
        )
    shape = []
    for k, (a, b) in enumerate(zip(input.shape, indices.shape, strict=True)):
        if k != d and a != b and 1 not in (a, b):
            raise RuntimeError(
                f"{where}: The size of tensor a ({a}) must match the size of tensor b ({b}) at "
                f"non-singleton dimension {k}"
            )
        shape.append(max(a, b) if a and b else 0)
    src_shape, idx_shape = list(shape), list(shape)
    src_shape[d], idx_shape[d] = input.shape[d], indices.shape[d]
    src = input if tuple(src_shape) == input.shape else ops.broadcast_to(input, src_shape)
    idx = indices if tuple(idx_shape) == indices.shape else ops.broadcast_to(indices, idx_shape)
    n = input.shape[d]
    if n and idx.numel():
        idx = idx % n  # PyTorch 2.13 wraps every index (torch/_refs: `indices % dim_size`)
    return gather(src, d, idx)


def _gather_by_rows(
    src: Tensor, idx: Tensor, d: int, message: Callable[[int, int], str], location: Location
) -> Tensor:
    """Entry (j, r) of the index moved to [m, R] reads row idx[j, r] of the table [n, R] and
    keeps its column r (a where against the diagonal: exact, NaN elsewhere does not leak)."""
    table = _rows_along(src.astype(int32) if src.dtype is bool_ else src, d)
    at = _rows_along(idx, d)  # [m, R]
    m, width = at.shape
    flat = at.reshape(-1)
    rows = ops.gather_rows(table, flat).reshape(m, width, width)
    check_indices(idx, table.shape[0], message, guarded=rows, location=location)
    diagonal = ops.eye(width, dtype=bool_)
    picked = ops.where(diagonal, rows, 0).sum(-1)  # [m, R]
    return _from_rows(picked.astype(table.dtype), idx.shape, d)


def _gather_by_compare(
    src: Tensor,
    idx: Tensor,
    d: int,
    n: int,
    message: Callable[[int, int], str],
    location: Location,
) -> Tensor:
    """Each output element compares its index with the n positions of the dim (a where and a
    sum over them): fewer reads than a row when rows are longer than the dim. The dim is moved
    last in the source and the index (the other dims keep their order)."""
    perm = [k for k in range(src.ndim) if k != d] + [d]
    back = [perm.index(k) for k in range(src.ndim)]
    at = ops.permute(idx, perm)  # [..., m]
    hot = (at.unsqueeze(-1) == ops.arange(n, dtype=int32)).astype(bool_)  # [..., m, n]
    check_indices(idx, n, message, guarded=hot, location=location)
    rows = ops.permute(src, perm).unsqueeze(-2)  # [..., 1, n]
    picked = ops.where(hot, rows, False if src.dtype is bool_ else 0).sum(-1)  # [..., m]
    return ops.permute(picked, back)


def index_select(input: Tensor, dim: int, index: Tensor) -> Tensor:
    """The slices of `input` along `dim` at the positions in the 1-D (or rank-0) `index`,
    torch.index_select: the rows of `input` moved to a table along `dim`."""
    location = user_location()
    _check_tensor(input, "index_select")
    _check_tensor(index, "index_select index")
    if index.ndim > 1:
        raise _shape_error("index_select(): Index is supposed to be a vector")
    if index.dtype.is_floating_point or index.dtype is bool_:
        raise RuntimeError(
            f"index_select(): Expected dtype int32 or int64 for index, got {index.dtype!r}"
        )
    d = _shape_rule(shapes.normalize_dim, _dim_arg(dim, "index_select"), max(input.ndim, 1))

    def message(value: int, count: int) -> str:
        return f"index_select(): index out of range in self: index {value} ({_count(count)})"

    src = input.reshape(1) if input.ndim == 0 else input
    shape = list(src.shape)
    shape[d] = index.numel()
    n = src.shape[d]
    if not index.numel():
        out = ops.zeros(shape, dtype=input.dtype)
    elif not n:
        raise _shape_error(f"index_select(): index out of range in self: dimension {d} is empty")
    else:
        flat = index.reshape(-1)
        rows = ops.gather_rows(_rows_along(src, d), flat)
        check_indices(flat, n, message, guarded=rows, location=location)
        out = _from_rows(rows, tuple(shape), d)
    return out.reshape(()) if input.ndim == 0 else out


def narrow(x: Tensor, dim: int, start: int | Tensor, length: int) -> Tensor:
    """Elements start..start+length-1 of `dim` (a negative start counts from the end), as
    torch.narrow. `start` may be a 0-d integer tensor: its value when it is at hand, else the
    slice is read through an index (start + arange(length), an index_select), and a start
    outside [-size, size - length] is an IndexError after the run, naming this line."""
    if not isinstance(start, Tensor):
        return ops.narrow(x, dim, start, length)
    location = user_location()
    if start.ndim != 0 or start.dtype.is_floating_point or start.dtype is bool_:
        raise TypeError(
            "narrow(): start must be an int or a 0-dim integer tensor, got a tensor of shape "
            f"{list(start.shape)} and dtype {start.dtype!r}"
        )
    data = _data_at_hand(start)
    if data is not None:
        return ops.narrow(x, dim, int(data), length)
    _check_tensor(x, "narrow")
    d = _shape_rule(shapes.normalize_dim, _dim_arg(dim, "narrow"), x.ndim)
    n, length = x.shape[d], _dim_arg(length, "narrow length")
    if not 0 <= length <= n:
        raise _shape_error(f"narrow of {list(x.shape)}: length {length} does not fit dim {d}")
    s = start.astype(int32)
    s = ops.where(s < 0, s + n, s)
    out = index_select(x, d, s + ops.arange(length, dtype=int32))

    def message(value: int, count: int) -> str:
        return (
            f"narrow(): start {value} and length {length} do not fit dim {d} of size {n} "
            f"(start must lie in [{-n}, {n - length}])"
        )

    with no_grad():
        bad = (s < 0) | (s > n - length)
    checks.add_check(
        out, bad.reshape(1), start.astype(int32).reshape(1), message, location=location
    )
    return out


def repeat_interleave(
    input: Tensor,
    repeats: int | Tensor | None = None,
    dim: int | None = None,
    *,
    output_size: int | None = None,
) -> Tensor:
    """Each slice of `input` along `dim` repeated `repeats` times in place (torch.repeat_interleave;
    dim=None: of the flattened input, a 1-D result). `repeats` an int (a reshape, a broadcast
    and a reshape: exact, no lookup) or an int tensor of one count per slice (or one count
    for all). The result's shape depends on the counts, and shapes are fixed when the graph is
    built: a tensor of counts must hold its values then (data from the host, or evaluated),
    and its slices are read with `index_select` at the host-made index; counts computed on the
    device need `output_size=` (their sum), and each output position then finds its slice by
    comparing with the counts' running sum (a check after the run that the sum is
    output_size). `pf.repeat_interleave(counts)` alone repeats arange(len(counts)), as torch."""
    location = user_location()
    if repeats is None:  # torch.repeat_interleave(repeats): the index each count repeats
        _check_tensor(input, "repeat_interleave")
        if input.ndim != 1:
            raise _shape_error("repeat_interleave only accept 1D vector as repeat", location)
        positions = ops.arange(input.shape[0], dtype=int32)
        return repeat_interleave(positions, input, 0, output_size=output_size)
    _check_tensor(input, "repeat_interleave")
    if input.ndim == 0 and dim is not None:  # as PyTorch, a scalar has no dim to repeat along
        raise _shape_error(f"repeat_interleave: dim {dim} is out of range for a 0-d tensor")
    src = input.reshape(-1) if dim is None else input
    d = (
        0
        if dim is None
        else _shape_rule(shapes.normalize_dim, _dim_arg(dim, "repeat_interleave"), src.ndim)
    )
    n = src.shape[d]
    if output_size is not None:
        output_size = _dim_arg(output_size, "repeat_interleave output_size")
    if not isinstance(repeats, Tensor):
        count = _dim_arg(repeats, "repeat_interleave repeats")
        return _repeat_each(src, d, np.full(n, count, dtype=np.int64), output_size, location)
    if repeats.dtype.is_floating_point or repeats.dtype is bool_:
        raise TypeError(
            f"{format_location(location)}: repeat_interleave: repeats must be an int tensor, "
            f"got {repeats.dtype!r}"
        )
    if repeats.ndim > 1:
        raise _shape_error("repeat_interleave: repeats must be 0-dim or 1-dim tensor", location)
    if repeats.numel() != 1 and repeats.numel() != n:
        raise _shape_error(
            "repeat_interleave: repeats must have the same size as input along dim, but got "
            f"repeats.size(0) = {repeats.numel()} and input.size({d}) = {n}",
            location,
        )
    counts = _data_at_hand(repeats)
    if counts is not None:
        counts = np.broadcast_to(np.asarray(counts, dtype=np.int64).reshape(-1), (n,))
        return _repeat_each(src, d, counts, output_size, location)
    if output_size is None:
        raise RuntimeError(
            f"{format_location(location)}: repeat_interleave: the repeats tensor is computed "
            "on the device, and the result's size (the sum of the repeats) must be known when "
            "the graph is built (shapes are static): evaluate the repeats first "
            "(repeats.numpy() or pf.eval(repeats)), or pass output_size= (their sum)"
        )
    return _repeat_by_device_counts(src, d, repeats, output_size, location)


def _repeat_each(
    src: Tensor, d: int, counts: np.ndarray, output_size: int | None, location: Location
) -> Tensor:
    """src's slice i along d repeated counts[i] times, the counts at hand: one count for all
    is a reshape, broadcast and reshape; different counts read the slices with index_select."""
    if (counts < 0).any():
        raise RuntimeError(
            f"{format_location(location)}: repeat_interleave: repeats can not be negative"
        )
    total = int(counts.sum())
    if output_size is not None and output_size != total:
        raise RuntimeError(
            f"{format_location(location)}: repeat_interleave: Invalid output_size, expected "
            f"{total} but got {output_size}"
        )
    if not len(counts) or (counts == counts[0]).all():
        r = int(counts[0]) if len(counts) else 0
        shape = list(src.shape)
        spread = ops.reshape(src, shape[: d + 1] + [1] + shape[d + 1 :])
        wide = ops.broadcast_to(spread, shape[: d + 1] + [r] + shape[d + 1 :])
        return ops.reshape(wide, shape[:d] + [shape[d] * r] + shape[d + 1 :])
    index = np.repeat(np.arange(len(counts), dtype=np.int32), counts)
    return index_select(src, d, ops.from_numpy(index))


def _repeat_by_device_counts(
    src: Tensor, d: int, repeats: Tensor, output_size: int, location: Location
) -> Tensor:
    """Counts computed on the device, the total given: output position j reads slice
    #{i : ends[i] <= j} (ends the running sum of the counts), an [output_size, n] compare and
    sum; then index_select. A negative count or a sum other than output_size is PyTorch's
    RuntimeError after the run (a runtime check naming the user's line)."""
    n = src.shape[d]
    with no_grad():
        counts = ops.broadcast_to(repeats.astype(int32).reshape(-1), [n])
        ends = ops.cumsum(counts, 0)  # [n]
        positions = ops.arange(output_size, dtype=int32).reshape(output_size, 1)
        index = (ends.reshape(1, n) <= positions).astype(int32).sum(1)  # [output_size]
        total = counts.sum().reshape(1)
    out = index_select(src, d, index)

    def negative(value: int, count: int) -> str:
        return f"repeat_interleave: repeats can not be negative (got {value}; {count} negative)"

    def mismatch(value: int, count: int) -> str:
        return f"repeat_interleave: Invalid output_size, expected {value} but got {output_size}"

    with no_grad():  # (a negative count is reported first: it also makes the sum wrong)
        checks.add_check(out, counts < 0, counts, negative, error=RuntimeError, location=location)
        checks.add_check(
            out, total != output_size, total, mismatch, error=RuntimeError, location=location
        )
    return out


tensor_methods.bind("indexing", sys.modules[__name__])  # `x.gather(...)`, `x.narrow(...)`
