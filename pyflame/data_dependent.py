"""Ops whose result's shape depends on the data: nonzero, argwhere, masked_select, unique,
unique_consecutive, bincount; and histogram, whose edges depend on the data's range.

A lazy program needs every shape before it runs, so these read what decides the shape on the
host first (a sync point, as `x[mask]` and `.item()`: the tensor is evaluated), the way
`x[mask]` reads its mask (pyflame/index_get.py):

    pf.nonzero(x)            # x evaluated; numpy's argwhere of its values -> an int32 constant
    pf.masked_select(x, m)   # m read on the host, then x[m] (gather_rows on the device: x's
                             # gradient flows as through x[m])
    pf.bincount(i, w)        # i read for its max (the length); the counts and weighted sums
                             # are computed on the device (every entry compared with every bin)
    pf.unique(x)             # x read; numpy's unique of its values (PyTorch's unique has no
                             # gradient either)

Indices are int32 where PyTorch gives int64 (docs/ops.md, "int64").
"""

from __future__ import annotations

import collections
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from pyflame import ops, tensor_methods
from pyflame.checks import data_at_hand
from pyflame.core import shapes
from pyflame.core.dtypes import bool_, float32, int32
from pyflame.index_get import getitem
from pyflame.lazy_tensor import Tensor, format_location, user_location
from pyflame.ops.node import _check_tensor, _dim_arg, _rule


def _values(x: Tensor) -> np.ndarray:
    """x's values on the host (evaluating x if it is not at hand yet)."""
    data = data_at_hand(x)
    return np.asarray(data if data is not None else x.numpy())


def _index_tensor(values: np.ndarray) -> Tensor:
    return ops.from_numpy(np.ascontiguousarray(values, dtype=np.int32))


def nonzero(x: Tensor, *, as_tuple: bool = False) -> Any:
    """The positions of x's nonzero elements (NaN is nonzero), [count, ndim] in row-major
    order (torch.nonzero), or one 1-D tensor per dim with `as_tuple` (a 0-d x counts as 1-D
    there, as PyTorch)."""
    _check_tensor(x, "nonzero")
    data = _values(x)
    if as_tuple:
        return tuple(
            _index_tensor(p) for p in np.nonzero(data.reshape(-1) if not data.ndim else data)
        )
    if not data.ndim:  # [1, 0] or [0, 0], as PyTorch
        return _index_tensor(np.zeros((int(data != 0), 0)))
    return _index_tensor(np.argwhere(data))


def argwhere(x: Tensor) -> Tensor:
    """nonzero(x) (torch.argwhere)."""
    return nonzero(x)


def masked_select(x: Tensor, mask: Tensor) -> Tensor:
    """The elements of x where the bool `mask` is True, as a 1-D tensor (torch.masked_select;
    x and mask broadcast together): `x[mask]`, the mask read on the host."""
    _check_tensor(x, "masked_select")
    _check_tensor(mask, "masked_select mask")
    if mask.dtype is not bool_:
        raise RuntimeError(
            f"{format_location(user_location())}: masked_select: expected BoolTensor for mask"
        )
    shape = tuple(np.broadcast_shapes(x.shape, mask.shape))
    x = x if x.shape == shape else ops.broadcast_to(x, shape)
    mask = mask if mask.shape == shape else ops.broadcast_to(mask, shape)
    return getitem(ops.reshape(x, (-1,)), ops.reshape(mask, (-1,)))


def _unique_result(
    x: Tensor, values: np.ndarray, inverse: np.ndarray, counts: np.ndarray, ri: bool, rc: bool
) -> Any:
    out = ops.from_numpy(np.ascontiguousarray(values)).astype(x.dtype)
    if not ri and not rc:
        return out
    extra = ([_index_tensor(inverse)] if ri else []) + ([_index_tensor(counts)] if rc else [])
    return (out, *extra)


def unique(
    x: Tensor,
    sorted: bool = True,
    return_inverse: bool = False,
    return_counts: bool = False,
    dim: int | None = None,
) -> Any:
    """The distinct values of x in ascending order (torch.unique; with `dim`, the distinct
    slices along it); `return_inverse`: where each element went, in x's shape; `return_counts`:
    how often each occurs. NaNs are distinct from each other and sort last, as PyTorch's.
    `sorted=False` sorts too (PyTorch's CPU kernel does as well). x is read on the host."""
    _check_tensor(x, "unique")
    data = _values(x)
    if dim is None:
        values, inverse, counts = np.unique(
            data.reshape(-1), return_inverse=True, return_counts=True, equal_nan=False
        )
        return _unique_result(
            x, values, inverse.reshape(x.shape), counts, return_inverse, return_counts
        )
    d = _rule(shapes.normalize_dim, _dim_arg(dim, "unique"), x.ndim)
    values, inverse, counts = np.unique(data, return_inverse=True, return_counts=True, axis=d)
    return _unique_result(x, values, inverse.reshape(-1), counts, return_inverse, return_counts)


def unique_consecutive(
    x: Tensor, return_inverse: bool = False, return_counts: bool = False, dim: int | None = None
) -> Any:
    """x with each run of equal consecutive values (or slices along `dim`) kept once
    (torch.unique_consecutive), with the inverse and the run lengths on request. x is read
    on the host."""
    _check_tensor(x, "unique_consecutive")
    data = _values(x)
    if dim is None:
        flat = data.reshape(-1)
        change = np.r_[True, flat[1:] != flat[:-1]] if flat.size else np.zeros(0, bool)
        inverse = (np.cumsum(change) - 1).reshape(x.shape)
        starts = np.flatnonzero(change)
        counts = np.diff(np.r_[starts, flat.size])
        return _unique_result(x, flat[change], inverse, counts, return_inverse, return_counts)
    d = _rule(shapes.normalize_dim, _dim_arg(dim, "unique_consecutive"), x.ndim)
    moved = np.moveaxis(data, d, 0).reshape(data.shape[d], -1)
    change = np.r_[True, (moved[1:] != moved[:-1]).any(1)] if len(moved) else np.zeros(0, bool)
    inverse = np.cumsum(change) - 1
    counts = np.diff(np.r_[np.flatnonzero(change), len(moved)])
    values = np.compress(change, data, axis=d)
    return _unique_result(x, values, inverse, counts, return_inverse, return_counts)


def bincount(x: Tensor, weights: Tensor | None = None, minlength: int = 0) -> Tensor:
    """How often each value 0..max(x) occurs in the 1-D non-negative int tensor x (at least
    `minlength` bins), or the sums of `weights` per value (torch.bincount). The length comes
    from x's values read on the host; the counts are computed on the device (x compared with
    every bin). int32 counts (PyTorch: int64); weights give float32 (PyTorch: float64 for half
    weights, a dtype PyFlame does not hold)."""
    _check_tensor(x, "bincount")
    where = format_location(user_location())
    if x.ndim != 1 or x.dtype is not int32:
        raise RuntimeError(f"{where}: bincount only supports 1-d non-negative integral inputs.")
    if minlength < 0:
        raise RuntimeError(f"{where}: minlength should be >= 0")
    if weights is not None:
        _check_tensor(weights, "bincount weights")
        if weights.shape != x.shape:
            raise RuntimeError(f"{where}: weights should be 1-d and have the same length as input")
    data = _values(x)
    if data.size and data.min() < 0:
        raise RuntimeError(f"{where}: bincount only supports 1-d non-negative integral inputs.")
    bins = max(int(data.max()) + 1 if data.size else 0, int(minlength))
    hit = ops.eq(ops.reshape(x, (-1, 1)), ops.arange(bins, dtype=int32))  # [n, bins]
    if weights is None:
        return ops.sum(ops.astype(hit, int32), 0) if data.size else ops.zeros(bins, dtype=int32)
    w = weights if weights.dtype is float32 else ops.astype(weights, float32)
    picked = ops.where(hit, ops.reshape(w, (-1, 1)), 0.0)
    return ops.sum(picked, 0) if data.size else ops.zeros(bins, dtype=float32)


HistogramResult = collections.namedtuple("histogram", ["hist", "bin_edges"])  # type: ignore[name-match]  # named as torch names it


def histogram(
    x: Tensor,
    bins: Any = 100,
    *,
    range: Sequence[float] | None = None,
    weight: Tensor | None = None,
    density: bool = False,
) -> Any:
    """The namedtuple (hist, bin_edges) of x's values (torch.histogram): `bins` equal bins over
    `range` (without it, x's min and max, read on the host as PyTorch reads them; equal ones
    widened by 0.5 each side) with PyTorch's edges (`pf.linspace`), or the given 1-D tensor of
    edges. An element counts in bin i when edges[i] <= v < edges[i + 1] (the last bin holds
    its right edge), as PyTorch's search puts it: every element compared with every edge on
    the device (N x bins work). `weight` sums weights instead of counting; `density`
    divides by the total and the bin widths."""
    _check_tensor(x, "histogram")
    where = format_location(user_location())
    if x.dtype is not float32:  # (PyTorch's kernel: float and double only)
        raise NotImplementedError(f'{where}: "histogramdd" not implemented for {x.dtype!r}')
    if isinstance(bins, Tensor):
        if bins.ndim != 1 or bins.numel() < 1:
            raise RuntimeError(f"{where}: torch.histogram(): bins tensor should have one dimension")
        edges = ops.astype(bins, x.dtype)
    else:
        count = int(bins)
        if count <= 0:
            raise RuntimeError(
                f"{where}: torch.histogram(): bins must be > 0, but got {count} for dimension 0"
            )
        if range is not None:
            low, high = float(range[0]), float(range[1])
        elif x.numel():
            low, high = (
                float(v) for v in np.asarray(ops.stack([ops.amin(x), ops.amax(x)]).numpy())
            )
        else:
            low, high = 0.0, 0.0
        if low > high:
            raise RuntimeError(
                f"{where}: torch.histogram(): min should not exceed max, but got min {low} max {high} for dimension 0"
            )
        if low == high:
            low, high = low - 0.5, high + 0.5
        edges = ops.linspace(low, high, count + 1, dtype=x.dtype)
    n = edges.shape[0] - 1
    values = ops.reshape(x, (-1, 1))
    first, last = ops.getitem(edges, (slice(0, 1),)), ops.getitem(edges, (slice(n, n + 1),))
    inside = ops.logical_and(ops.ge(values, first), ops.le(values, last))  # [N, 1]
    inner = ops.getitem(edges, (slice(1, n),))
    which = ops.sum(ops.astype(ops.le(inner, values), int32), 1, keepdim=True)  # [N, 1]
    hit = ops.logical_and(ops.eq(which, ops.arange(n, dtype=int32)), inside)  # [N, n]
    if weight is None:
        hist = ops.sum(ops.astype(hit, x.dtype), 0)
    else:
        _check_tensor(weight, "histogram weight")
        if weight.shape != x.shape:
            raise RuntimeError(
                f"{where}: torch.histogram(): if weight tensor is provided it should have the same shape as the input tensor"
            )
        hist = ops.sum(ops.where(hit, ops.reshape(ops.astype(weight, x.dtype), (-1, 1)), 0.0), 0)
    if density:
        widths = ops.sub(ops.getitem(edges, (slice(1, None),)), ops.getitem(edges, (slice(0, n),)))
        hist = ops.div(hist, ops.mul(ops.sum(hist), widths))
    return HistogramResult(hist, edges)


tensor_methods.bind("data_dependent", sys.modules[__name__])
