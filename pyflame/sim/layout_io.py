"""Tile layouts as numpy index arithmetic: host arrays to PE tiles and back, and where each
element of a layout lives.

A tile layout (`#pe.layout<shape on RxC split [...]>`, its block arithmetic `layout.dist`) puts
a block of the tensor on every PE of a grid; a grid axis that no dim is split over holds copies.
Tiles are arrays of shape (grid rows, grid cols, local elements), each PE's block row-major.

    make_scatter(dist)(host)   host array -> (kept rows, kept cols, *block) tiles, padding 0
    make_scatter_into(dist)(host, tiles)   the same, written into the tiles, no temporary
    make_gather(dist)(tiles)   tiles -> host array (row/col 0's copy of replicated data)
    zero_padding(dist, tiles)  zeros where the layout pads, as make_scatter leaves it
    global_coords(dist)        per dim, the global coordinate of every (row, col, element)
    exchange_sources(ds, dd)   for pe.exchange: where each dst element comes from in src

A padded layout's host array does not reshape into whole blocks: its transfers go box by box
(`_Boxes`), each box a block-aligned part of the array and of the tiles (the whole blocks, the
partial last block of each padded dim), one numpy copy each, and the tiles' padding zeroed;
not through a zero-padded copy of the whole array, which cost a second pass and fresh pages
(W1 of the MLP, 256x784 on 64x64 [c, r]: 288 -> ~130 us).
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable
from dataclasses import dataclass

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
    "make_scatter_into",
    "zero_padding",
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


def _scatter_axes(dist: Distribution) -> tuple[list[int], list[int], tuple[int, ...]]:
    """How a host array's blocks become tiles: the axes of its (part, block, part, block, ...)
    split (`inter`), their order in the tiles (`perm`), and the tiles' (kept rows, kept cols)."""
    shape, block = dist.shape, dist.block
    nd = len(shape)
    inter = [v for d in range(nd) for v in (dist.parts(d), block[d])]
    rd, cd, rcd = split_dims(dist)
    if rcd is not None:
        lead = [2 * rcd]
    else:
        lead = [2 * d for d in (rd, cd) if d is not None]
    rest = [2 * d for d in range(nd) if 2 * d not in lead]
    perm = lead + [2 * d + 1 for d in range(nd)] + rest
    return inter, perm, kept_grid(dist)


def make_scatter(dist: Distribution) -> Callable[[np.ndarray], np.ndarray]:
    """host array -> tiles of shape (kept rows, kept cols, *block), padding zeroed."""
    shape, block, padded = dist.shape, dist.block, dist.padded_shape
    inter, perm, lead_shape = _scatter_axes(dist)
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


def make_scatter_into(dist: Distribution) -> Callable[[np.ndarray, np.ndarray], None]:
    """(host array, tiles) -> None: the host array written into tiles of shape (kept rows,
    kept cols, *block), padding zeroed; box by box when the layout pads (`_Boxes`)."""
    scatter = make_scatter(dist)
    boxes = _Boxes.of(dist)

    def scatter_into(x: np.ndarray, tiles: np.ndarray) -> None:
        blocks = None if boxes is None else boxes.blocks(tiles)
        if boxes is None or blocks is None:
            tiles[...] = scatter(x)
            return
        for at, part in boxes.data:
            np.copyto(blocks[at], x[part].reshape(blocks[at].shape), casting="unsafe")
        boxes.zero_padding(blocks)

    return scatter_into


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
    boxes = _Boxes.of(dist)
    tile_shape = (pr, pc, *block)

    whole = tuple(padded) == tuple(shape)

    def gather(tiles: np.ndarray) -> np.ndarray:
        kept = tiles[:pr, :pc, :L]
        blocks = None if boxes is None else boxes.blocks(kept.reshape(tile_shape))
        if boxes is not None and blocks is not None:  # one copy per box into the result
            out = np.empty(shape, tiles.dtype)
            for at, part in boxes.data:
                np.copyto(out[part].reshape(blocks[at].shape), blocks[at])
            return out
        t = kept.reshape(full_shape).transpose(order).reshape(padded)
        if whole and not np.may_share_memory(t, tiles):
            return t  # the reshape copied already: a second copy would be the same bytes
        return np.array(t[inner], copy=True)

    return gather


def zero_padding(dist: Distribution, tiles: np.ndarray) -> bool:
    """Write 0 into the padding of (kept rows, kept cols, local elements) tiles of `dist`, as
    `make_scatter` leaves it; False (nothing written) when the tiles do not split into blocks
    as a view (tiles split over all PEs whose rows and cols do not merge)."""
    boxes = _Boxes.of(dist)
    if boxes is None:
        return True
    blocks = boxes.blocks(tiles.reshape(tiles.shape[:2] + tuple(dist.block)))
    if blocks is None:
        return False
    boxes.zero_padding(blocks)
    return True


@dataclass(frozen=True)
class _Boxes:
    """A padded layout's transfers, box by box. Tiles are seen as the padded array split into
    (part, block) axis pairs (`blocks`: a view); per dim, the whole blocks (parts 0..q) and
    the partial block q hold data, the rest of block q and the parts after it are padding.
    `data`: (index into the blocks view, the host array's slice of the same elements), one
    per combination of whole / partial over the dims; `padding`: the blocks view's indexes
    of the padding, one per padded dim."""

    data: tuple[tuple[tuple[slice, ...], tuple[slice, ...]], ...]
    padding: tuple[tuple[slice, ...], ...]
    #: the tiles (kept rows, kept cols, *block) reshaped to the perm order, then the axes
    #: put back into the (part, block, ...) order
    perm_shape: tuple[int, ...]
    inverse: tuple[int, ...]

    @staticmethod
    @functools.cache  # (a lent device array's padding is zeroed at every run of a training step)
    def of(dist: Distribution) -> _Boxes | None:
        """The boxes of a layout that pads (None: no padding, an empty or 0-d tensor)."""
        shape, block = dist.shape, dist.block
        if not shape or 0 in shape or tuple(dist.padded_shape) == tuple(shape):
            return None
        inter, perm, _ = _scatter_axes(dist)
        per_dim: list[list[tuple[tuple[slice, slice], slice]]] = []
        padding = []
        for d, (n, b) in enumerate(zip(shape, block, strict=True)):
            parts = dist.parts(d)
            q, r = divmod(n, b)
            boxes = []
            if q:
                boxes.append(((slice(0, q), slice(0, b)), slice(0, q * b)))
            if r:
                boxes.append(((slice(q, q + 1), slice(0, r)), slice(q * b, n)))
            per_dim.append(boxes)
            everything = [slice(None)] * (2 * len(shape))
            if r:
                at = list(everything)
                at[2 * d : 2 * d + 2] = [slice(q, q + 1), slice(r, b)]
                padding.append(tuple(at))
            if q + (1 if r else 0) < parts:
                at = list(everything)
                at[2 * d] = slice(q + (1 if r else 0), parts)
                padding.append(tuple(at))
        data = tuple(
            (tuple(s for pair, _ in combo for s in pair), tuple(part for _, part in combo))
            for combo in itertools.product(*per_dim)
        )
        perm_shape = tuple(inter[a] for a in perm)
        inverse = tuple(int(a) for a in np.argsort(perm))
        return _Boxes(data, tuple(padding), perm_shape, inverse)

    def zero_padding(self, blocks: np.ndarray) -> None:
        """Write 0 into the padding of a `blocks` view."""
        for at in self.padding:
            blocks[at] = 0

    def blocks(self, tiles: np.ndarray) -> np.ndarray | None:
        """`tiles` (kept rows, kept cols, *block) as the (part, block, ...) view, or None when
        that would copy (tiles split over all PEs whose rows and cols do not merge)."""
        try:
            return np.reshape(tiles, self.perm_shape, copy=False).transpose(self.inverse)
        except ValueError:
            return None


def global_index(
    dist: Distribution, rows: int | None = None, cols: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Row-major index in the (unpadded) global shape of every element, and the valid mask."""
    coords, valid = global_coords(dist, rows, cols)
    idx = np.zeros(valid.shape, dtype=np.int64)
    for g, n in zip(coords, dist.shape, strict=True):
        idx = idx * n + g
    return idx, valid
