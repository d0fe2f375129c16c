"""Views of one array made again, cheaply, on another array laid out alike.

A step that derives many views of its operands once (pyflame/sim/sourced_panels.py: a fused
run's 61 SUMMA operands stacked into one view, ~0.8 ms of numpy calls for the MLP's forward)
keeps them in its SRAM's `derived`: SRAM blocks never move. A host input's tiles do: a device
array's tiles are another array at every run (pyflame/sim/device_array.py), laid out alike.
`RebasedView` records a view by where its first element lies in the array it views and its own
shape and strides; `on(other)` is the same view of `other` (one `as_strided`), valid when
`other` has the shape, strides and dtype the view was derived on (`Layout`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.array_utils import byte_bounds
from numpy.lib.stride_tricks import as_strided

#: (shape, strides, dtype) of an array: views recorded on it are valid on any array alike
Layout = tuple[tuple[int, ...], tuple[int, ...], np.dtype]


def layout_of(a: np.ndarray) -> Layout:
    return a.shape, a.strides, a.dtype


@dataclass(frozen=True)
class RebasedView:
    """A view of some array `base` (the n-th of a step's host inputs): its first element at
    index `start` of `base`, its `shape` and `strides`."""

    base: int
    start: tuple[int, ...]
    shape: tuple[int, ...]
    strides: tuple[int, ...]

    def on(self, other: np.ndarray) -> np.ndarray:
        """The same view of `other` (laid out as the array it was recorded on)."""
        first = other[tuple(slice(i, None) for i in self.start)]
        return as_strided(first, self.shape, self.strides, writeable=False)


def rebased_view(view: np.ndarray, bases: list[np.ndarray]) -> RebasedView | None:
    """`view` recorded as a view of the base whose memory holds its first element, or None
    when no base does (or its strides do not place that element: negative ones)."""
    at = view.__array_interface__["data"][0]
    for n, base in enumerate(bases):
        lo, hi = byte_bounds(base)
        if lo <= at < hi:
            start = _index_at(base, at - base.__array_interface__["data"][0])
            return None if start is None else RebasedView(n, start, view.shape, view.strides)
    return None


def _index_at(a: np.ndarray, offset: int) -> tuple[int, ...] | None:
    """The index of the element of `a` at `offset` bytes from its first, or None when no
    element is (positive strides: the largest placed first, as for any array whose elements
    do not overlap; axes of stride 0, broadcast, at index 0)."""
    if offset < 0:
        return None
    index = [0] * a.ndim
    for axis in sorted(range(a.ndim), key=lambda ax: -a.strides[ax]):
        stride = a.strides[axis]
        if stride < 0:
            return None
        if stride == 0:
            continue
        index[axis] = min(offset // stride, a.shape[axis] - 1)
        offset -= index[axis] * stride
    return tuple(index) if offset == 0 else None


__all__ = ["Layout", "RebasedView", "layout_of", "rebased_view"]
