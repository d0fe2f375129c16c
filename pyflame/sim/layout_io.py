"""Tile layouts as numpy index arithmetic: host arrays to PE tiles and back, and where each
element of a layout lives.

A tile layout (`#pe.layout<shape on RxC split [...]>`, its block arithmetic `layout.dist`) puts
a block of the tensor on every PE of a grid; a grid axis that no dim is split over holds copies.
Tiles are arrays of shape (grid rows, grid cols, local elements), each PE's block row-major.

    make_scatter(dist)(host)   host array -> (kept rows, kept cols, *block) tiles, padding 0
    make_gather(dist)(tiles)   tiles -> host array (row/col 0's copy of replicated data)
    global_coords(dist)        per dim, the global coordinate of every (row, col, element)
    exchange_sources(ds, dd)   for pe.exchange: where each dst element comes from in src
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from pyflame.core.distribution import Distribution
from pyflame.core.exchange_plan import exchange_sources, global_coords

__all__ = [
    "exchange_sources",
    "global_coords",
    "global_index",
    "kept_grid",
    "make_gather",
    "make_scatter",
]


def split_dims(dist: Distribution) -> tuple[int | None, int | None, int | None]:
    """The dims split over rows ('r'), cols ('c') and all PEs ('rc'), each None if none is."""
    find = {
        a: next((d for d, s in enumerate(dist.split) if s == a), None) for a in ("r", "c", "rc")
    }
    return find["r"], find["c"], find["rc"]


def kept_grid(dist: Distribution) -> tuple[int, int]:
    """Rows and cols of the grid holding distinct data (1 along a replicated mesh axis)."""
    rd, cd, rcd = split_dims(dist)
    gr, gc = dist.grid
    if rcd is not None:
        return gr, gc
    return (gr if rd is not None else 1), (gc if cd is not None else 1)


def make_scatter(dist: Distribution) -> Callable[[np.ndarray], np.ndarray]:
    """host array -> tiles of shape (kept rows, kept cols, *block), padding zeroed."""
    shape, block, padded = dist.shape, dist.block, dist.padded_shape
    nd = len(shape)
    inter = [v for d in range(nd) for v in (dist.parts(d), block[d])]
    rd, cd, rcd = split_dims(dist)
    if rcd is not None:
        lead = [2 * rcd]
    else:
        lead = [2 * d for d in (rd, cd) if d is not None]
    lead_shape = kept_grid(dist)
    rest = [2 * d for d in range(nd) if 2 * d not in lead]
    perm = lead + [2 * d + 1 for d in range(nd)] + rest
    needs_pad = tuple(padded) != tuple(shape)
    inner = tuple(slice(0, n) for n in shape)

    out_shape = lead_shape + tuple(block)

    def scatter(x: np.ndarray) -> np.ndarray:
        # a (transposed) view of x, copied once by the caller's assignment into the tiles
        if needs_pad:
            xp = np.zeros(padded, dtype=x.dtype)
            xp[inner] = x
        else:
            xp = x
        return xp.reshape(inter).transpose(perm).reshape(out_shape)

    return scatter


def make_gather(dist: Distribution) -> Callable[[np.ndarray], np.ndarray]:
    """tiles view (grid rows, grid cols, >= local elems) -> host array (row/col 0's copy of
    replicated data, padding dropped)."""
    shape, block, padded = dist.shape, dist.block, dist.padded_shape
    nd = len(shape)
    gr, gc = dist.grid
    L = dist.local_elems
    rd, cd, rcd = split_dims(dist)
    pr, pc = kept_grid(dist)
    lead_shape: tuple[int, ...]
    if rcd is not None:
        lead_shape = (gr * gc,)
        part_axis = {rcd: 0}
    else:
        lead_shape = (pr, pc)
        part_axis = {}
        if rd is not None:
            part_axis[rd] = 0
        if cd is not None:
            part_axis[cd] = 1
    nlead = len(lead_shape)
    missing = [d for d in range(nd) if d not in part_axis]
    for j, d in enumerate(missing):
        part_axis[d] = nlead + nd + j
    order = [a for d in range(nd) for a in (part_axis[d], nlead + d)]
    order += [a for a in range(nlead) if a not in order]
    full_shape = lead_shape + tuple(block) + (1,) * len(missing)
    inner = tuple(slice(0, n) for n in shape)

    whole = tuple(padded) == tuple(shape)

    def gather(tiles: np.ndarray) -> np.ndarray:
        t = tiles[:pr, :pc, :L].reshape(full_shape).transpose(order).reshape(padded)
        if whole and not np.may_share_memory(t, tiles):
            return t  # the reshape copied already: a second copy would be the same bytes
        return np.array(t[inner], copy=True)

    return gather


def global_index(
    dist: Distribution, rows: int | None = None, cols: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Row-major index in the (unpadded) global shape of every element, and the valid mask."""
    coords, valid = global_coords(dist, rows, cols)
    idx = np.zeros(valid.shape, dtype=np.int64)
    for g, n in zip(coords, dist.shape, strict=True):
        idx = idx * n + g
    return idx, valid
