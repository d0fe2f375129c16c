"""Copies of tiles whose short rows move as single items.

numpy copies a strided array one inner loop at a time, along its last axis: tiles of a few
lanes (a GEMM panel's 16-float tile rows, a pack's half tile of 64x32 floats, the MLP's tiles
of 4 and 13 floats) make that loop a few elements long, and its overhead the whole cost. Viewed
with the row as one item of a void type as wide as the row (`as_items`), the same copy moves one
item per row: the same bytes, 2-3x faster up to 64-byte rows (a pack's 64-byte rows of 32x32
PEs' tiles: 0.57 -> 0.29 ms; 128-byte rows gain less, 256-byte rows lose).
"""

from __future__ import annotations

import numpy as np

#: a row at most this long is moved as one item (`as_items`; fused_products.add_transposed
#: before its add)
SHORT_ROW_BYTES = 64


def as_items(a: np.ndarray, width: int) -> np.ndarray | None:
    """`a` with its last axis grouped into items of `width` elements of a void type (a copy
    then moves each such row whole), or None when a row is longer than SHORT_ROW_BYTES or
    its elements are not back to back. Rows of one element stay as they are: numpy's own
    copy of 4-byte floats beats a 4-byte void item's (64 KB of the MLP's 1-lane tiles:
    15 -> 22 us as items)."""
    row_bytes = width * a.itemsize
    if width < 2 or row_bytes > SHORT_ROW_BYTES or a.shape[-1] % width:
        return None
    if a.shape[-1] > 1 and a.strides[-1] != a.itemsize:
        return None
    return a.view(np.dtype(f"V{row_bytes}"))


def copy_rows(out: np.ndarray, src: np.ndarray, width: int) -> None:
    """out[...] = src (src broadcast to out's shape), rows of `width` elements moved as items
    when both allow it (one dtype, rows back to back)."""
    into = as_items(out, width) if out.dtype == src.dtype else None
    items = None if into is None else as_items(src, width)
    if into is not None and items is not None:
        np.copyto(into, items)
    else:
        out[...] = src


__all__ = ["SHORT_ROW_BYTES", "as_items", "copy_rows"]
