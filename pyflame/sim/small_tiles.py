"""pe.reduce over tiles of a few lanes, fast and bit for bit numpy's np.sum / np.max / np.min.

A buffer's view is (rows, cols, lanes), a strided part of its SRAM block, so numpy runs one
inner loop per PE: on the MLP's 64x64 PEs with tiles of 1-52 lanes, its per-loop overhead,
not the arithmetic, is the time (np.max over the 10 lanes of every PE: 214 us; nine
np.maximum of (64, 64) lane slices: 35 us). `reduce_into` moves the reduced lanes out of the
inner loop and reduces with ufunc calls on whole slices, in the order numpy's own loop uses,
so the numbers do not change. It returns False (having written nothing) when its fast form
does not apply; the caller then runs numpy's reduction. tests/unit/sim/test_small_tiles.py
compares it with numpy bit for bit over many shapes, dtypes, signed zeros and NaNs.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from pyflame.core import reductions

#: fewer outputs than this: numpy's one call beats a Python loop of ufunc calls
MIN_OUTPUTS = 256
#: a longer reduced run: numpy's inner loops are long enough (and its pairwise sum splits
#: runs above 128 lanes in halves, which `_pairwise` does not follow)
MAX_REDUCED = 128

_EXACT_KINDS = {"f": (4, 8), "i": (4, 8), "u": (4, 8), "b": (1,)}


def reduce_into(kind: str, tiles: np.ndarray, axes: tuple[int, ...], out: np.ndarray) -> bool:
    """Write `reductions.reduce(kind, tiles, axes)` (tiles (rows, cols, *shape), axes >= 2)
    into `out` (rows, cols, kept elements), bit for bit; False when this takes no fast form.

    numpy reduces the tile's innermost run of reduced dims (its dims of size > 1, adjacent
    reduced dims merged) as one inner loop: a sum pairwise (numpy's `pairwise_sum`: eight
    accumulators strided by 8, combined as ((r0+r1)+(r2+r3))+((r4+r5)+(r6+r7)), the rest
    added in order, added to the identity 0), max and min in some order of its SIMD loops.
    When kept dims follow the reduced run, the inner loop runs over those, and the reduced
    elements are added into the identity one after the other. Here the reduced run is moved
    to the front of a contiguous copy and reduced with ufunc calls on whole slices, in that
    order. max and min agree with numpy whatever the order except on ties of -0.0 and 0.0;
    NaNs carry the sign and payload of whichever operand the compiled loop passes on: such
    outputs are computed again by numpy from their PEs' tiles (`_special_again`)."""
    if kind not in ("sum", "max", "min") or tiles.dtype.itemsize not in _EXACT_KINDS.get(
        tiles.dtype.kind, ()
    ):
        return False
    if kind == "sum" and tiles.dtype.kind in "biu" and tiles.dtype.itemsize < 8:
        return False  # (numpy sums bools and int32 in int64)
    rows, cols = tiles.shape[:2]
    runs = _runs(tiles.shape[2:], axes)
    if runs is None:
        return False
    before, reduced, after = runs
    if out.shape != (rows, cols, before * after):
        return False  # (numpy would broadcast the result into a larger destination)
    if rows * cols * before * after < MIN_OUTPUTS or reduced > MAX_REDUCED:
        return False
    flat = np.reshape(out, (rows, cols, before, after), copy=False)
    if reduced == 1:  # only dims of size 1 reduced: each output is its one element
        src = tiles.reshape(rows, cols, before, after)
        if kind == "sum":
            np.add(src, 0, out=flat)  # the identity 0 added (-0.0 becomes 0.0)
        else:
            np.copyto(flat, src)
        return True
    # the reduced elements in front, each a (rows, cols, before, after) slice: read where
    # they are when each is one contiguous plane (a lane-major block, pyflame/sim/sram.py),
    # else from a contiguous copy; the accumulators are written into a copy of the first ones
    lanes = tiles.reshape(rows, cols, before, reduced, after).transpose(3, 0, 1, 2, 4)
    pairwise = kind == "sum" and after == 1 and tiles.dtype.kind == "f" and reduced >= 8
    heads = 8 if pairwise else 1
    if not lanes[0].flags.c_contiguous:
        lanes = np.ascontiguousarray(lanes)
        moved = lanes  # (a copy already: its first slices are the accumulators)
    else:
        moved = np.empty((heads, rows, cols, before, after), dtype=tiles.dtype)
        np.copyto(moved, lanes[:heads])
    if pairwise:
        res = _pairwise(moved, lanes)
    else:  # in order (integer sums: any order is exact)
        res = _in_order(np.add if kind == "sum" else _EXTREMES[kind], moved, lanes)
    # (numpy's values of the special outputs, from the tiles before `out` is written: out
    # may share bytes with them)
    redo = _special_again(kind, tiles, axes, res) if tiles.dtype.kind == "f" else None
    if kind == "sum":
        np.add(res, 0, out=flat)  # added to the identity 0 (-0.0 becomes 0.0)
    else:
        np.copyto(flat, res)
    if redo is not None:
        at, again = redo
        flat[at] = again
    return True


_EXTREMES = {"max": np.maximum, "min": np.minimum}


def _special_again(
    kind: str, tiles: np.ndarray, axes: tuple[int, ...], res: np.ndarray
) -> tuple[tuple[np.ndarray, ...], np.ndarray] | None:
    """The PEs (index arrays) whose outputs' bits may depend on more than the order of the
    operations, and their outputs computed again by numpy from their tiles (PEs, before,
    after); None when there are none. Such are NaN (which NaN an add or a compare passes on
    depends on the operand order of numpy's compiled loops) and, for max and min, zeros (a
    tie of -0.0 and 0.0). `res`: the result (rows, cols, before, after)."""
    special = np.isnan(res)
    if kind != "sum":
        special |= res == 0
    if not special.any():
        return None
    at = np.nonzero(special.any(axis=(2, 3)))
    mine = tiles[at]  # (PEs, *tile): each tile as numpy reduces it, with the same strides
    again = reductions.reduce(kind, mine, tuple(a - 1 for a in axes))
    return at, again.reshape(len(at[0]), *res.shape[2:])


@functools.lru_cache(maxsize=4096)  # (a step's tile shape and axes: the same at every run)
def _runs(shape: tuple[int, ...], axes: tuple[int, ...]) -> tuple[int, int, int] | None:
    """(kept elements before, reduced elements, kept elements after) of a tile `shape`
    reduced over `axes` (tile dims + 2), its dims of size 1 left out; None unless the
    reduced dims of size > 1 are adjacent."""
    dims = [(n, k + 2 in axes) for k, n in enumerate(shape) if n > 1]
    marks = [r for _, r in dims]
    if True not in marks:
        total = math.prod(shape)
        return (total, 1, 1)
    first = marks.index(True)
    last = len(marks) - 1 - marks[::-1].index(True)
    if not all(marks[first : last + 1]):
        return None
    size = [n for n, _ in dims]
    return (
        math.prod(size[:first]),
        math.prod(size[first : last + 1]),
        math.prod(size[last + 1 :]),
    )


def _in_order(ufunc: np.ufunc, acc: np.ndarray, lanes: np.ndarray) -> np.ndarray:
    """ufunc(...ufunc(ufunc(lanes[0], lanes[1]), lanes[2])..., lanes[-1]), in acc[0] (a
    copy of lanes[0])."""
    out = acc[0]
    for k in range(1, len(lanes)):
        ufunc(out, lanes[k], out=out)
    return out


def _pairwise(acc: np.ndarray, lanes: np.ndarray) -> np.ndarray:
    """numpy's pairwise sum of lanes[0], lanes[1], ... (8 to 128 of them), in acc[0] (acc: a
    copy of lanes[:8], the eight accumulators, added to in place)."""
    n = len(lanes)
    r = acc[:8]
    i = 8
    while i < n - n % 8:
        np.add(r, lanes[i : i + 8], out=r)
        i += 8
    np.add(r[0::2], r[1::2], out=r[0::2])  # r0+r1, r2+r3, r4+r5, r6+r7
    np.add(r[0::4], r[2::4], out=r[0::4])  # (r0+r1)+(r2+r3), (r4+r5)+(r6+r7)
    res = r[0]
    np.add(res, r[4], out=res)
    for k in range(i, n):  # the rest, in order
        np.add(res, lanes[k], out=res)
    return res


__all__ = ["MAX_REDUCED", "MIN_OUTPUTS", "reduce_into"]
