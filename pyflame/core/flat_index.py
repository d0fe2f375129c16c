"""Flat (row-major) indices to coordinates, safe from a NumPy bug that silently corrupts them.

`np.unravel_index` of an index array whose shape ends in a size-1 axis, e.g. (N, 1) or an
exchange plan's (PE rows, PE cols, 1 element) arrays, returns wrong coordinates for every index
past the first 8,192 (NumPy's iterator buffer, NPY_BUFSIZE) in NumPy 2.x before the fix of
numpy/numpy#31980 (the buffered iterator kept a zero stride for the size-1 inner axis after
removing its multi-index): from element 8,193 on each got element 8,192's coordinates. A
relayout onto 64x256 PEs with one element per PE moved element 8,192 to all later PEs. A 1-D
contiguous index array is not affected, so `unravel_index` unravels that and restores the shape.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def unravel_index(indices, shape: Sequence[int]) -> tuple[np.ndarray, ...]:
    """`np.unravel_index(indices, shape)` (per dim of `shape`, an array of the coordinates of
    `indices`, shaped like `indices`), unravelled over a flat copy of `indices`."""
    flat = np.ascontiguousarray(indices).reshape(-1)
    coords = np.unravel_index(flat, tuple(shape))
    return tuple(c.reshape(np.shape(indices)) for c in coords)
