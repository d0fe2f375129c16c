"""`x[key]` with advanced indices, PyTorch's (numpy's) advanced indexing, read through the rows
of a table (`flame.gather_rows`, as `index_select`): no new machine op.

    x[[0, 2, 2]]     # x's rows at [0, 2, 2]: gather_rows of x as a table [n0, rest]
    x[:, idx]        # idx of any shape: dim 1 made the rows of a table, gathered, moved back
    x[i, :, j]       # i, j broadcast together to `batch`: dims 0 and 2 moved to the front and
                     # merged into one dim numbered i * n2 + j (the linear position), whose rows
                     # are gathered: [*batch, n1]
    x[mask]          # the mask read on the host (a sync point, as `.item()`), its True
                     # positions (numpy's nonzero) indices as above: [count, *rest]

The flame ops of `x[i, :, j]` for x [5, 6, 7] (i, j host data, a program input `%pos`):

    %t = flame.transpose %x {perm = [0, 2, 1]}         # the indexed dims first
    %m = flame.reshape %t : [35, 6]                     # merged: one row per (i, j)
    %r = flame.gather_rows %m, %pos : [len(pos), 6]
    %o = flame.reshape %r : [*batch, 6]

Keys as PyTorch 2.13: ints, slices, `...` and None select first (basic indexing); then int
index tensors (pf int tensors, numpy int arrays, lists; negative indices count from the end),
bool masks (a mask of rank k stands for the k index tensors of its True positions) and
Python bools (a new dim of size 1, indexed by [0] or []) are broadcast together. The result's
broadcast dims go where the index tensors were when those are adjacent, else in front. A 0-d
int tensor selects like an int (PyTorch reads its value; here a host tensor is an int, a
tensor computed on the device is a 0-d index: the same result, a copy instead of a view). A
list that holds sequences, slices, tensors, `...` or None is a tuple (PyTorch's deprecated
rule, with its warning).

Indices at hand (host data) are range-checked at once, at the user's line, and merged on the
host into one int32 program input (new values never recompile); indices computed on the device
are merged by int32 ops and checked after the run (pyflame/checks.py), naming the user's line.
PyTorch's IndexError words: "index 7 is out of bounds for dimension 0 with size 4" (the dim
counted among the indexed dims, as PyTorch's), the mask's shape, broadcasting. Gradients:
gather_rows' rule, a scatter-add into the indexed positions (repeats accumulate); index tensors
get none. The result is a copy (PyTorch's too), never a view.
"""

from __future__ import annotations

import builtins
import math
import sys
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from pyflame import ops, tensor_methods
from pyflame.checks import data_at_hand as _data_at_hand
from pyflame.core import shapes
from pyflame.core.dtypes import bool_
from pyflame.core.errors import IndexShapeError
from pyflame.grad_mode import no_grad
from pyflame.index_set import _wrapped, key_items
from pyflame.indexing import _from_rows, _rows_along
from pyflame.lazy_tensor import Location, Tensor, format_location, user_location, user_stacklevel
from pyflame.ops.node import _check_tensor, _shape_rule
from pyflame.ops.shape import _reshape_node, _slice_node

_NOT_AN_INDEX = (
    "only integers, slices (`:`), ellipsis (`...`), None and long or byte Variables are valid "
    "indices (got {})"
)
_INDEX_DTYPE = "tensors used as indices must be long, int, byte or bool tensors"


@dataclass(frozen=True, eq=False)
class _Mask:
    """A bool mask at hand (its data read on the host)."""

    data: np.ndarray


@dataclass(frozen=True, eq=False)
class _Host:
    """An int index of rank >= 1 at hand (int64 host data)."""

    data: np.ndarray


@dataclass(frozen=True)
class _Index:
    """One index tensor on dim `dim` of the basic-indexed tensor: host data (int64) or a
    device tensor; `name`: the dim its range error names; `joins`: whether it takes part in
    the adjacency rule (a 0-d device index selects like an int and does not)."""

    dim: int
    index: np.ndarray | Tensor
    name: int
    joins: bool = True

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.index.shape)


def getitem(x: Tensor, key: Any) -> Tensor:
    """`x[key]` for any key PyTorch takes (module docstring)."""
    location = user_location()
    items = tuple(_item(k) for k in key_items(key))
    if tensor_methods._basic_key(items):
        return ops.getitem(x, items)
    width = lambda k: k.data.ndim if isinstance(k, _Mask) else (0 if k is None else 1)  # noqa: E731
    try:
        expanded = shapes.expand_ellipsis(x.ndim, items, width)
    except IndexShapeError as err:
        raise IndexShapeError(f"{format_location(location)}: {err}") from None
    basic: list[Any] = []
    found: list[_Index] = []
    masks: list[tuple[np.ndarray, int]] = []  # each mask and its first dim
    at = 0  # the dim of the basic-indexed tensor the next item reaches
    real = 0  # the dim of x it reaches
    for k in expanded:
        if k is None or isinstance(k, slice):
            basic.append(k)
            at += 1
            real += k is not None
        elif isinstance(k, _Mask) and k.data.ndim == 0:  # a new dim, indexed by [0] or []
            basic.append(None)
            found.append(_Index(at, np.zeros(int(k.data), np.int64), len(found)))
            at += 1
        elif isinstance(k, _Mask):
            masks.append((k.data, at))
            basic.extend([slice(None)] * k.data.ndim)
            for where in np.nonzero(k.data):
                found.append(_Index(at, where.astype(np.int64), len(found)))
                at += 1
            real += k.data.ndim
        elif isinstance(k, _Host):
            basic.append(slice(None))
            found.append(_Index(at, k.data, len(found)))
            at += 1
            real += 1
        elif isinstance(k, Tensor):
            basic.append(slice(None))
            name = len(found) if k.ndim else real  # a 0-d index: PyTorch's select names x's dim
            found.append(_Index(at, k, name, joins=k.ndim > 0))
            at += 1
            real += 1
        else:  # an int drops its dim
            basic.append(k)
            real += 1
    y = _basic(x, tuple(basic))
    for mask, first in masks:
        _check_mask(mask, y.shape, first, location)
    return _gather(y, found, location)


def _item(k: Any) -> Any:
    """One key item as an int, slice, None, `...`, a `_Mask`, a `_Host` index or a device int
    tensor; PyTorch's IndexError for anything else."""
    if k is None or k is Ellipsis or isinstance(k, slice):
        return k
    if isinstance(k, builtins.bool):  # (a numpy bool is refused, as PyTorch does)
        return _Mask(np.array(k))
    if isinstance(k, (int, np.integer)):  # (np.bool_ is neither)
        return int(k)
    if isinstance(k, Tensor):
        if k.dtype.is_floating_point:
            raise IndexError(_INDEX_DTYPE)
        data = _data_at_hand(k)
        if k.dtype is bool_:  # the mask's True positions are needed now: a sync point
            return _Mask(np.asarray(data if data is not None else k.numpy(), dtype=bool))
        if data is not None:
            return _item(np.asarray(data))
        return k
    if isinstance(k, (list, np.ndarray)):
        array = np.asarray(k)
        if isinstance(k, list) and array.size == 0:
            array = array.astype(np.int64)  # PyTorch: an empty list is an empty long index
        if array.dtype == np.uint8:  # PyTorch reads a byte tensor as a mask
            warnings.warn(
                "indexing with dtype torch.uint8 is now deprecated, please use a dtype "
                "torch.bool instead.",
                UserWarning,
                stacklevel=user_stacklevel(),
            )
            array = array.astype(bool)
        if array.dtype.kind == "b":
            return _Mask(array)
        if array.dtype.kind not in "iu":
            raise IndexError(_INDEX_DTYPE)
        return int(array) if array.ndim == 0 else _Host(array.astype(np.int64))
    if isinstance(k, str):  # PyTorch tries to make a tensor of it
        raise TypeError(f"new(): invalid data type 'str' (an index, got {k!r})")
    name = type(k).__qualname__
    module = type(k).__module__
    raise IndexError(_NOT_AN_INDEX.format(name if module == "builtins" else f"{module}.{name}"))


def _basic(x: Tensor, key: tuple[Any, ...]) -> Tensor:
    """`x[key]` for a basic key, as `ops.getitem` but not a view of x (the advanced read that
    follows makes a copy, as PyTorch's)."""
    plan = _shape_rule(shapes.index, x.shape, key)
    out = x if plan.sliced == x.shape else _slice_node(x, plan.start, plan.stop, plan.step)
    return out if plan.shape == plan.sliced else _reshape_node(out, plan.shape)


def _check_mask(mask: np.ndarray, shape: tuple[int, ...], at: int, location: Location) -> None:
    """A mask covers the dims it stands on exactly (PyTorch's IndexError otherwise)."""
    for j, n in enumerate(mask.shape):
        if shape[at + j] != n:
            raise IndexShapeError(
                f"{format_location(location)}: The shape of the mask {list(mask.shape)} at index "
                f"{j} does not match the shape of the indexed tensor {list(shape)} at index "
                f"{at + j}"
            )


def _gather(y: Tensor, found: list[_Index], location: Location) -> Tensor:
    """y's elements at the index tensors `found` (each on its own dim of y), broadcast
    together; the other dims of y kept whole."""
    try:
        batch = list(np.broadcast_shapes(*(f.shape for f in found)))
    except ValueError:
        given = ", ".join(str(list(f.shape)) for f in found)
        raise IndexShapeError(
            f"{format_location(location)}: shape mismatch: indexing tensors could not be "
            f"broadcast together with shapes {given}"
        ) from None
    dims = [f.dim for f in found]
    others = [d for d in range(y.ndim) if d not in dims]
    kept = [d for d in range(y.ndim) if d not in {f.dim for f in found if not f.joins}]
    places = [kept.index(f.dim) for f in found if f.joins]
    adjacent = places == list(range(places[0], places[0] + len(places))) if places else True
    first = min((f.dim for f in found if f.joins), default=0)
    before = sum(1 for d in others if d < first) if adjacent else 0  # dims ahead of the batch
    sizes = [y.shape[d] for d in others]
    shape = sizes[:before] + batch + sizes[before:]
    count = math.prod(batch)
    if count and any(y.shape[d] == 0 for d in dims):
        raise IndexShapeError(
            f"{format_location(location)}: index is out of bounds for dimension with size 0"
        )
    if math.prod(shape) == 0:  # nothing is read, nothing is checked (as PyTorch)
        flat = _reshape_node(y, [y.numel()])
        return _reshape_node(_slice_node(flat, [0], [0], [1]), shape)
    position = _position(y, found, batch, location)
    contiguous = dims == list(range(dims[0], dims[0] + len(dims)))
    if contiguous:  # merge the indexed dims in place: [*pre, rows, *post]
        d = dims[0]
        rest = list(y.shape[dims[-1] + 1 :])
        merged = _reshape_node(y, list(y.shape[:d]) + [_rows(y, dims)] + rest)
    else:
        d = 0
        moved = ops.permute(y, *(dims + others))
        merged = _reshape_node(moved, [_rows(y, dims)] + sizes)
    picked = ops.gather_rows(_rows_along(merged, d), position)
    like = list(merged.shape)
    like[d] = count
    out = _from_rows(picked, tuple(like), d)
    if contiguous:
        return _reshape_node(out, shape)
    out = _reshape_node(out, batch + sizes)
    if not before:
        return out
    n = len(batch)  # the broadcast dims go after the `before` dims, where the indices were
    front = list(range(n, n + before))
    return ops.permute(out, *(front + list(range(n)) + list(range(n + before, out.ndim))))


def _rows(y: Tensor, dims: list[int]) -> int:
    return math.prod(y.shape[d] for d in dims)


def _position(y: Tensor, found: list[_Index], batch: list[int], location: Location) -> Tensor:
    """The linear position over the indexed dims, sum(index_k * stride_k), as a flat int32
    index: computed on the host when every index is at hand (one program input), else by
    int32 ops; each index wrapped (negative counts from the end) and range-checked."""
    count = math.prod(batch)
    host: np.ndarray | None = np.zeros((), np.int64)
    device: Tensor | None = None
    stride = 1
    for f in reversed(found):
        n = y.shape[f.dim]
        if isinstance(f.index, np.ndarray):
            assert host is not None
            host = host + _wrapped_host(f.index, n, f.name, location) * stride
        else:
            with no_grad():
                term = _wrapped(f.index, n, f.name)
                term = term if stride == 1 else term * stride
                device = term if device is None else device + term
        stride *= n
    assert host is not None
    flat = np.broadcast_to(host, batch).reshape(count).astype(np.int32)
    if device is None:
        return ops.from_numpy(flat)
    with no_grad():
        if host.any():
            device = device + ops.from_numpy(host.astype(np.int32))
        if list(device.shape) != batch:
            device = ops.broadcast_to(device, batch)
        return _reshape_node(device, [count])


def _wrapped_host(index: np.ndarray, n: int, dim: int, location: Location) -> np.ndarray:
    """A host index in [0, n) (negative ones count from the end); PyTorch's IndexError at once
    for one outside [-n, n)."""
    bad = (index < -n) | (index >= n)
    if bad.any():
        first = int(index[bad].reshape(-1)[0])
        count = int(bad.sum())
        raise IndexShapeError(
            f"{format_location(location)}: index {first} is out of bounds for dimension {dim} "
            f"with size {n} ({count} element{'s' if count != 1 else ''} out of range)"
        )
    return index % n


tensor_methods.bind("index_get", sys.modules[__name__])  # `x[key]` with advanced keys


def take(x: Tensor, index: Any) -> Tensor:
    """x's elements at `index` (any shape) as if x were 1-D (torch.take): `x.reshape(-1)[index]`,
    negative indices counting from the end; an index out of range is PyTorch's IndexError
    (at once for indices at hand, after the run for computed ones, naming the user's line)."""
    _check_tensor(x, "take")
    if not isinstance(index, Tensor) or index.dtype.is_floating_point or index.dtype is bool_:
        raise RuntimeError(
            f"{format_location(user_location())}: take(): Expected a long tensor for index, but "
            f"got {getattr(index, 'dtype', type(index).__name__)!r}"
        )
    data = _data_at_hand(index)
    if data is not None:
        values = np.asarray(data).reshape(-1)
        bad = values[(values < -x.numel()) | (values >= x.numel())]
        if bad.size:
            raise IndexError(
                f"{format_location(user_location())}: out of range: tried to access index "
                f"{int(bad[0])} on a tensor of {x.numel()} elements."
            )
    if index.ndim == 0:
        # a 0-d index at hand would select like an int: a view of x (an in-place op on the
        # result wrote x; torch.take copies) and a program per value; as [1], then 0-d
        return ops.reshape(getitem(ops.reshape(x, (-1,)), ops.reshape(index, (1,))), ())
    return getitem(ops.reshape(x, (-1,)), index)
