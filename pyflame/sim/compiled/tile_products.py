"""Compiled lane loops of small tile products (`tile_math.add_product`'s small-tile path).

acc += x @ y per PE, with each product summed as the numpy path sums it: for every result
element, `0 + x_0 y_0`, then `+ x_j y_j` for j = 1 .. k-1, each operation rounded, then one add
into acc (or, `assign`, written over acc's +0.0). The loops run over the tiles as planes, (m, n,
rows, cols), PE columns innermost: lane-major SRAM holds each tile element as a contiguous
plane of every PE's, so the inner loop is a contiguous vector loop.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numba
import numpy as np

from pyflame.sim import compiled


@numba.njit(cache=True, fastmath=False, boundscheck=False, nogil=True)
def _add_planes(acc, x, y, row, assign):
    """acc (m, n, R, C) += x (m, k, R|1, C|1) @ y (k, n, R|1, C|1), per (R, C) position; `row`
    a scratch vector of C elements."""
    m, n, rows, cols = acc.shape
    k = x.shape[1]
    x_rows, x_cols = x.shape[2] > 1, x.shape[3] > 1
    y_rows, y_cols = y.shape[2] > 1, y.shape[3] > 1
    zero = acc.dtype.type(0.0)
    for i in range(m):
        for j in range(n):
            for r in range(rows):
                rx = r if x_rows else 0
                ry = r if y_rows else 0
                if x_cols and y_cols:
                    xs, ys = x[i, 0, rx], y[0, j, ry]
                    for c in range(cols):
                        row[c] = zero + xs[c] * ys[c]
                    for q in range(1, k):
                        xs, ys = x[i, q, rx], y[q, j, ry]
                        for c in range(cols):
                            row[c] = row[c] + xs[c] * ys[c]
                elif x_cols:  # (y shared along the PE columns)
                    xs, b = x[i, 0, rx], y[0, j, ry, 0]
                    for c in range(cols):
                        row[c] = zero + xs[c] * b
                    for q in range(1, k):
                        xs, b = x[i, q, rx], y[q, j, ry, 0]
                        for c in range(cols):
                            row[c] = row[c] + xs[c] * b
                elif y_cols:  # (x shared along the PE columns)
                    a, ys = x[i, 0, rx, 0], y[0, j, ry]
                    for c in range(cols):
                        row[c] = zero + a * ys[c]
                    for q in range(1, k):
                        a, ys = x[i, q, rx, 0], y[q, j, ry]
                        for c in range(cols):
                            row[c] = row[c] + a * ys[c]
                else:
                    t = zero + x[i, 0, rx, 0] * y[0, j, ry, 0]
                    for q in range(1, k):
                        t = t + x[i, q, rx, 0] * y[q, j, ry, 0]
                    for c in range(cols):
                        row[c] = t
                out = acc[i, j, r]
                if assign:
                    for c in range(cols):
                        out[c] = row[c]
                else:
                    for c in range(cols):
                        out[c] = out[c] + row[c]


#: the element types the kernel computes (numpy's float loops, rounded alike)
DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def add_product(acc: np.ndarray, x: np.ndarray, y: np.ndarray, assign: bool) -> bool:
    """acc += x @ y per tile on (rows, cols, 1, ..., m, n) tiles, x (rows | 1, cols | 1, 1, ...,
    m, k) and y (rows | 1, cols | 1, 1, ..., k, n) of acc's type (a PE axis may also be
    broadcast by a zero stride), summed as `tile_math.add_product`'s lane loop sums; False
    (nothing done) for anything else, which the caller computes with numpy."""
    call = _call(acc, x, y, assign)
    if call is None:
        return False
    call[0]()
    return True


def product_call(
    acc: np.ndarray, x: np.ndarray, y: np.ndarray, assign: bool
) -> Callable[[], None] | None:
    """`add_product(acc, x, y, assign)` as a call to make, and make again while the arrays'
    memory holds the next values (an SRAM's views: a step keeps it); None when add_product
    would say False, or when it copies an operand's planes (the copy would be stale)."""
    call = _call(acc, x, y, assign)
    return None if call is None or call[1] else call[0]


def _call(
    acc: np.ndarray, x: np.ndarray, y: np.ndarray, assign: bool
) -> tuple[Callable[[], None], bool] | None:
    """(the kernel's call on these arrays, whether an operand's planes were copied), or None
    for what the kernel does not take."""
    if acc.dtype not in DTYPES or x.dtype != acc.dtype or y.dtype != acc.dtype:
        return None
    if not acc.ndim == x.ndim == y.ndim >= 4 or x.shape[-1] < 1:
        return None
    if acc.ndim > 4:  # (batch axes of one element between the PE axes and the tile)
        if any(t.shape[2:-2] != (1,) * (acc.ndim - 4) for t in (acc, x, y)):
            return None
        acc, x, y = (t.reshape(t.shape[:2] + t.shape[-2:]) for t in (acc, x, y))
    rows, cols = acc.shape[:2]
    x, y = compiled.shared_pe_axes(x), compiled.shared_pe_axes(y)
    for t in (x, y):
        if t.shape[0] not in (1, rows) or t.shape[1] not in (1, cols):
            return None
    if not acc.flags.writeable or np.may_share_memory(acc, x) or np.may_share_memory(acc, y):
        return None  # (numpy's path reads every operand before it writes acc)
    row = np.empty(cols, acc.dtype)
    xp, yp = _planes(x), _planes(y)
    copied = not (np.may_share_memory(xp, x) and np.may_share_memory(yp, y))
    call = functools.partial(_add_planes, acc.transpose(_PLANES), xp, yp, row, assign)
    return call, copied


#: (rows, cols, m, n) tiles as (m, n, rows, cols) planes
_PLANES = (2, 3, 0, 1)


def _planes(t: np.ndarray) -> np.ndarray:
    """An operand's planes, copied when its PE columns are not contiguous (a transposed
    in-flight copy: the kernel's inner loop then runs over contiguous memory; the values are
    the same)."""
    planes = t.transpose(_PLANES)
    if planes.shape[-1] > 1 and planes.strides[-1] != planes.itemsize:
        planes = np.ascontiguousarray(planes)
    return planes
