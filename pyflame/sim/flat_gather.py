"""An exchange's gather as one 1-D take and put over the SRAM block instead of a 3-index
fancy index.

A phase of a pe.exchange writes `V[dst][dst_sel][dst_idx] = V[src][src_sel][src_idx]` with an
(row, col, element) index array per axis (pyflame/sim/kernels/exchange.py). numpy runs such a
3-array index at ~10-40 ns an element (the MLP's 64x784 input redistribution onto 16x16 PEs:
~0.5-1.8 ms). A buffer's view is a strided window of its block (pyflame/sim/sram.py: rows,
cols, bytes), so every element has a fixed offset from the view's first one: the same gather
is `flat(dst)[dst_off] = flat(src)[src_off]`, with the offsets computed once at plan time and
`flat` a 1-D view over the window (3x faster). The step checks the views' strides are the ones
the offsets assume, and takes the 3-index path otherwise, so it is never wrong.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.lib.stride_tricks import as_strided

from pyflame.sim.sram import group_buffers

if TYPE_CHECKING:  # executable.py owns Buffer: types only
    from pyflame.sim.executable import Buffer, Step

#: gathers moving fewer elements keep the 3-index form (two 1-D views cost ~5 us)
MIN_FLAT_ELEMENTS = 2048


def view_strides(buffers: Sequence[Buffer]) -> dict[int, tuple[int, int, int]]:
    """{buffer index: the byte strides of its view} for the buffers that live in a block
    whose width is a whole number of their elements (what `Sram` makes)."""
    out = {}
    for block in group_buffers(buffers):
        width = block.hi - block.lo
        for i in block.members:
            size = buffers[i].dtype.itemsize
            if width % size == 0 and (buffers[i].offset - block.lo) % size == 0:
                out[i] = (block.rect[3] * width, width, size)
    return out


def _offsets(idx: tuple[np.ndarray, ...], sel: tuple[Any, ...], strides: tuple[int, ...]):
    """Element offsets from a view's first element of `view[sel][idx]` (sel: 3 slices)."""
    size = strides[2]
    rs, cs = strides[0] // size, strides[1] // size
    r0, c0, e0 = (s.start or 0 for s in sel)
    return ((idx[0] + r0) * rs + (idx[1] + c0) * cs + idx[2] + e0).astype(np.intp)


def _span(shape: tuple[int, ...], strides: tuple[int, ...]) -> int:
    size = strides[2]
    return (shape[0] - 1) * (strides[0] // size) + (shape[1] - 1) * (strides[1] // size) + shape[2]


def flat_gather(
    src: int,
    src_sel: tuple[Any, ...],
    src_idx: tuple[np.ndarray, ...],
    dst: int,
    dst_sel: tuple[Any, ...],
    dst_idx: tuple[np.ndarray, ...],
    zero_idx: tuple[np.ndarray, ...],
    buffers: Sequence[Buffer],
    strides: dict[int, tuple[int, int, int]],
) -> Step | None:
    """The gather as a step over 1-D views, or None when it is small or a buffer's view is
    not a window of a block with a whole number of elements per row of bytes."""
    if src_idx[0].size < MIN_FLAT_ELEMENTS or src not in strides or dst not in strides:
        return None
    if not all(isinstance(s, slice) and s.step in (None, 1) for s in (*src_sel, *dst_sel)):
        return None
    s_str, d_str = strides[src], strides[dst]
    s_off = _offsets(src_idx, src_sel, s_str)
    d_off = _offsets(dst_idx, dst_sel, d_str)
    z_off = _offsets(zero_idx, dst_sel, d_str) if zero_idx[0].size else None
    s_shape = (buffers[src].rect[2], buffers[src].rect[3], buffers[src].size)
    d_shape = (buffers[dst].rect[2], buffers[dst].rect[3], buffers[dst].size)
    s_span, d_span = _span(s_shape, s_str), _span(d_shape, d_str)
    s_one, d_one = (s_str[2],), (d_str[2],)

    def step(V, F, A, O):
        sv, dv = V[src], V[dst]
        if sv.strides != s_str or dv.strides != d_str:  # not the views the offsets assume
            out = dv[dst_sel]
            out[dst_idx] = sv[src_sel][src_idx]
            if z_off is not None:
                out[zero_idx] = 0
            return
        flat_dst = as_strided(dv, shape=(d_span,), strides=d_one)
        flat_dst[d_off] = as_strided(sv, shape=(s_span,), strides=s_one)[s_off]
        if z_off is not None:
            flat_dst[z_off] = 0

    return step


__all__ = ["MIN_FLAT_ELEMENTS", "flat_gather", "view_strides"]
