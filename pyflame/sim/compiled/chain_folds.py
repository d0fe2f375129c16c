"""Compiled folds of reduction chains (pyflame/sim/chains.py): the stages of sum and product
chains, each stage's tiles combined with the stage before's, in order, chain by chain.

`bound(tiles, table, axis, other, lanes, kind)()` does what the numpy fold does after its first
stage: for s = 1 .. stages - 1, the tiles at place `table[s, k]` of every chain k become
`tiles + previous` (or `tiles * previous`), the receive's own operand order, rounded as numpy
rounds. On lane-major tiles, chains along PE rows (axis 0) combine contiguous rows of PE
columns, one vector loop per (stage, chain, lane); chains along PE columns step along each PE
row's contiguous line of columns. numpy takes a call per stage over strided views.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numba
import numpy as np


@numba.njit(cache=True, nogil=True, error_model="numpy", boundscheck=False)
def _fold_rows(planes, table, o0, o1, l0, l1, product):
    """planes (lanes, rows, cols); stage s of chain k at row table[s, k], PE columns o0:o1."""
    stages, chains = table.shape
    width = o1 - o0
    for lane in range(l0, l1):
        for s in range(1, stages):
            for k in range(chains):
                cur = planes[lane, table[s, k], o0:o1]
                prev = planes[lane, table[s - 1, k], o0:o1]
                if product:
                    for o in range(width):
                        cur[o] = cur[o] * prev[o]
                else:
                    for o in range(width):
                        cur[o] = cur[o] + prev[o]


@numba.njit(cache=True, nogil=True, error_model="numpy", boundscheck=False)
def _fold_cols(planes, table, o0, o1, l0, l1, product):
    """planes (lanes, rows, cols); stage s of chain k at column table[s, k], PE rows o0:o1:
    each PE row's line of columns is contiguous, its stages scalar steps along it."""
    stages, chains = table.shape
    for lane in range(l0, l1):
        for o in range(o0, o1):
            line = planes[lane, o]
            for s in range(1, stages):
                for k in range(chains):
                    if product:
                        line[table[s, k]] = line[table[s, k]] * line[table[s - 1, k]]
                    else:
                        line[table[s, k]] = line[table[s, k]] + line[table[s - 1, k]]


@numba.njit(cache=True, nogil=True, error_model="numpy", boundscheck=False)
def _fold_cols_held(planes, table, o0, o1, l0, l1, product):
    """`_fold_cols` for a table whose places are all different: chain by chain, each stage's
    result kept in a register for the next (stage-major, each stage reloads what the one
    before just stored: ~2x the time). The same operations in the same order per element."""
    stages, chains = table.shape
    for lane in range(l0, l1):
        for o in range(o0, o1):
            line = planes[lane, o]
            for k in range(chains):
                prev = line[table[0, k]]
                for s in range(1, stages):
                    place = table[s, k]
                    if product:
                        prev = line[place] * prev
                    else:
                        prev = line[place] + prev
                    line[place] = prev


#: the element types folded (numpy's float loops, rounded alike)
DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def applies(tiles: np.ndarray, axis: int, kind: str) -> bool:
    """Whether `fold` takes these chains: sums or products of float tiles held as contiguous
    planes (lane-major SRAM)."""
    return (
        kind in ("sum", "prod")
        and tiles.dtype in DTYPES
        and tiles.ndim == 3
        and tiles.transpose(2, 0, 1).flags.c_contiguous
    )


def bound(
    tiles: np.ndarray,
    table: np.ndarray,
    axis: int,
    other: tuple[int, int],
    lanes: tuple[int, int],
    kind: str,
) -> Callable[[], None]:
    """Stages 1 .. of the chains (module docstring), along PE rows (axis 0) or columns, on
    tiles that `applies` took, as a call to make (and make again: the same tiles, an SRAM's
    view, hold new values at each run)."""
    if axis == 0:
        run = _fold_rows
    else:  # (a place twice in the table: stage after stage, each reading what was stored)
        run = _fold_cols_held if np.unique(table).size == table.size else _fold_cols
    planes = tiles.transpose(2, 0, 1)
    return functools.partial(
        run, planes, table, other[0], other[1], lanes[0], lanes[1], kind == "prod"
    )
