"""Tile layouts as numpy index arithmetic: host arrays to PE tiles and back, and where each
element of a layout lives.

A tile layout (`#pe.layout<shape on RxC split [...]>`, its block arithmetic `layout.dist`) puts
a block of the tensor on every PE of a grid; a grid axis that no dim is split over holds copies.
Tiles are arrays of shape (grid rows, grid cols, local elements), each PE's block row-major.

    make_scatter(dist)(host)   host array -> (kept rows, kept cols, *block) tiles, padding 0
    make_gather(dist)(tiles)   tiles -> host array (row/col 0's copy of replicated data)
    global_coords(dist)        per dim, the global coordinate of every (row, col, element)
    exchange_sources(ds, dd)   for pe.exchange: where each dst element comes from in src
    make_redistribute(ds, dd)  src tiles -> dst tiles of the same tensor, by reshapes
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from pyflame.core.distribution import Distribution

#: arrays of shape (rows, cols, local elements)
Coords = list[np.ndarray]


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

    def gather(tiles: np.ndarray) -> np.ndarray:
        t = tiles[:pr, :pc, :L].reshape(full_shape).transpose(order).reshape(padded)
        return np.array(t[inner], copy=True)

    return gather


def global_coords(
    dist: Distribution, rows: int | None = None, cols: int | None = None
) -> tuple[Coords, np.ndarray]:
    """Per dim, the global coordinate of every (PE row, PE col, local element) of the grid
    (arrays of shape (rows, cols, local elems)), and the mask of real (not padding) elements."""
    gr, gc = dist.grid
    rows = gr if rows is None else rows
    cols = gc if cols is None else cols
    block = dist.block
    L = dist.local_elems
    r = np.arange(rows, dtype=np.int64)[:, None, None]
    c = np.arange(cols, dtype=np.int64)[None, :, None]
    loc = np.indices(block, dtype=np.int64).reshape(len(block), L) if block else None
    coords = []
    valid = np.ones((rows, cols, L), dtype=bool)
    for d, n in enumerate(dist.shape):
        assert loc is not None  # a dim exists, so the block has one
        b = np.asarray(dist.block_index(d, r, c), dtype=np.int64)
        g = np.broadcast_to(b * block[d] + loc[d][None, None, :], (rows, cols, L))
        valid &= g < n
        coords.append(g)
    return coords, valid


def global_index(
    dist: Distribution, rows: int | None = None, cols: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Row-major index in the (unpadded) global shape of every element, and the valid mask."""
    coords, valid = global_coords(dist, rows, cols)
    idx = np.zeros(valid.shape, dtype=np.int64)
    for g, n in zip(coords, dist.shape, strict=True):
        idx = idx * n + g
    return idx, valid


def exchange_sources(
    ds: Distribution,
    dd: Distribution,
    index_map: tuple[Sequence[int], Sequence[int]] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Where each element of the dst layout comes from, for every (PE row, PE col, local
    index) of dst's grid (arrays of shape (rows, cols, local elems)):
    (src PE row, src PE col, src local index, has a source, is a real dst element).

    Without an index map, a dst element takes the src element at the same global index (same
    shapes) or at the same row-major position (a reshape). With `index_map` = (offset, stride),
    dst global index i (per dim d) takes src global index offset[d] + stride[d] * i[d] and has
    a source only when that lies inside the src shape. Padding of dst never has a source.
    Along a mesh axis the src is replicated on, the nearest copy (the same row or column,
    clipped to src's grid) sends."""
    gdr, gdc = dd.grid
    gsr, gsc = ds.grid
    coords, valid = global_coords(dd)
    full = valid.shape
    has_src = valid.copy()
    src_idx: Sequence[np.ndarray]
    if index_map is not None:
        offset, stride = index_map
        src_idx = []
        for d, g in enumerate(coords):
            j = offset[d] + stride[d] * g
            has_src &= (j >= 0) & (j < ds.shape[d])
            src_idx.append(j)
    elif ds.shape == dd.shape:
        src_idx = list(coords)
    else:  # a reshape: the same row-major position
        flat = np.zeros(full, dtype=np.int64)
        for g, n in zip(coords, dd.shape, strict=True):
            flat = flat * n + g
        flat = np.where(valid, flat, 0)
        src_idx = list(np.unravel_index(flat, ds.shape)) if ds.shape else []
    rows = np.arange(gdr, dtype=np.int64)[:, None, None]
    cols = np.arange(gdc, dtype=np.int64)[None, :, None]
    src_row = np.clip(rows, 0, gsr - 1)
    src_col = np.clip(cols, 0, gsc - 1)
    se = np.zeros(full, dtype=np.int64)
    sblock = ds.block
    for d, j in enumerate(src_idx):
        j = np.where(has_src, j, 0)
        bidx = j // sblock[d] if sblock[d] else j * 0
        se = se * sblock[d] + (j - bidx * sblock[d])
        axis = ds.split[d]
        if axis == "r":
            src_row = bidx
        elif axis == "c":
            src_col = bidx
        elif axis == "rc":
            src_row, src_col = bidx // gsc, bidx % gsc
    return (
        np.broadcast_to(src_row, full),
        np.broadcast_to(src_col, full),
        se,
        has_src,
        valid,
    )


def make_redistribute(
    ds: Distribution, dd: Distribution
) -> Callable[[np.ndarray, np.ndarray], None] | None:
    """(src tiles (grid rows, grid cols, >= local elems), dst tiles (rows, cols, local elems))
    -> None, writing into the dst tiles (dst's kept tiles, broadcast along a replicated axis)
    the same tensor: through the host array's layout by reshapes and transposes instead of an
    index per element. None when the shapes differ or src holds copies (an exchange takes
    each element from its nearest copy, not from row/col 0's)."""
    if tuple(ds.shape) != tuple(dd.shape) or kept_grid(ds) != tuple(ds.grid):
        return None
    gather, scatter = make_gather(ds), make_scatter(dd)
    block = tuple(dd.block)

    def redistribute(tiles: np.ndarray, out: np.ndarray) -> None:
        # a view of the dst tiles (never a copy: the write must land in them)
        dst = np.reshape(out, out.shape[:2] + block, copy=False)
        dst[...] = scatter(gather(tiles))

    return redistribute
