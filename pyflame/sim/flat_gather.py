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

if TYPE_CHECKING:  # executable.py owns Buffer, step_access.py Gather: types only
    from pyflame.sim.executable import Buffer, Step
    from pyflame.sim.step_access import Gather

#: gathers moving fewer elements keep the 3-index form (two 1-D views cost ~5 us)
MIN_FLAT_ELEMENTS = 2048
#: elements per numpy call of a large gather (bounds the run's temporaries to ~16 MB)
CHUNK_ELEMENTS = 1 << 20


def view_strides(buffers: Sequence[Buffer]) -> dict[int, tuple[int, int, int]]:
    """{buffer index: the byte strides of its view} for the buffers whose view's strides are
    whole numbers of their elements (what `Sram` makes)."""
    out = {}
    for block in group_buffers(buffers):
        for i in block.members:
            strides = block.view_strides(buffers[i])
            if all(st % buffers[i].dtype.itemsize == 0 for st in strides):
                out[i] = strides
    return out


def _offsets(
    idx: tuple[np.ndarray, ...], sel: tuple[Any, ...], strides: tuple[int, ...], size: int
):
    """Element offsets from a view's first element of `view[sel][idx]` (sel: 3 slices)."""
    rs, cs, es = (st // size for st in strides)
    r0, c0, e0 = (s.start or 0 for s in sel)
    return ((idx[0] + r0) * rs + (idx[1] + c0) * cs + (idx[2] + e0) * es).astype(np.intp)


def _span(shape: tuple[int, ...], strides: tuple[int, ...], size: int) -> int:
    """Elements from a view's first element to its last, both included."""
    return sum((n - 1) * (st // size) for n, st in zip(shape, strides, strict=True)) + 1


def _offset_dtype(span: int) -> type[np.integer]:
    """int32 offsets where the view's span allows (half the memory of intp)."""
    return np.int32 if span <= np.iinfo(np.int32).max else np.intp


def flat_gather(
    run: Sequence[Gather],
    zero_idx: tuple[np.ndarray, ...],
    buffers: Sequence[Buffer],
    strides: dict[int, tuple[int, int, int]],
) -> Step | None:
    """The gathers of `run` (between the same two buffers and selections) as one step over
    1-D views, or None when they are small or a buffer's view is not a window of a block
    with a whole number of elements per row of bytes. The offsets are made one gather at a
    time, as int32 where the views' spans allow: 8 bytes per moved element in all."""
    g = run[0]
    src, dst, src_sel, dst_sel = g.src, g.dst, g.src_sel, g.dst_sel
    if src not in strides or dst not in strides:
        return None
    if not all(isinstance(s, slice) and s.step in (None, 1) for s in (*src_sel, *dst_sel)):
        return None
    s_str, d_str = strides[src], strides[dst]
    s_shape = (buffers[src].rect[2], buffers[src].rect[3], buffers[src].size)
    d_shape = (buffers[dst].rect[2], buffers[dst].rect[3], buffers[dst].size)
    s_size, d_size = buffers[src].dtype.itemsize, buffers[dst].dtype.itemsize
    s_span, d_span = _span(s_shape, s_str, s_size), _span(d_shape, d_str, d_size)
    if sum(one.size for one in run) < MIN_FLAT_ELEMENTS:
        return None
    s_parts, d_parts = [], []
    for one in run:
        s_idx, d_idx = one.indices()
        s_parts.append(_offsets(s_idx, src_sel, s_str, s_size).astype(_offset_dtype(s_span)))
        d_parts.append(_offsets(d_idx, dst_sel, d_str, d_size).astype(_offset_dtype(d_span)))
        del s_idx, d_idx
    s_off = np.concatenate(s_parts)
    d_off = np.concatenate(d_parts)
    del s_parts, d_parts
    z_off = (
        _offsets(zero_idx, dst_sel, d_str, d_size).astype(_offset_dtype(d_span))
        if zero_idx[0].size
        else None
    )
    s_one, d_one = (s_size,), (d_size,)
    n = s_off.size
    g_src_idx = g_dst_idx = None  # the 3-index fallback's arrays, made if ever needed

    def step(V, F, A, O):
        nonlocal g_src_idx, g_dst_idx
        sv, dv = V[src], V[dst]
        if sv.strides != s_str or dv.strides != d_str:  # not the views the offsets assume
            if g_src_idx is None:
                parts = [one.indices() for one in run]
                g_src_idx = tuple(np.concatenate([p[0][d] for p in parts]) for d in range(3))
                g_dst_idx = tuple(np.concatenate([p[1][d] for p in parts]) for d in range(3))
            out = dv[dst_sel]
            out[g_dst_idx] = sv[src_sel][g_src_idx]
            if z_off is not None:
                out[zero_idx] = 0
            return
        flat_dst = as_strided(dv, shape=(d_span,), strides=d_one)
        flat_src = as_strided(sv, shape=(s_span,), strides=s_one)
        # in chunks: numpy makes intp copies of int32 indices and a temporary of the values
        for lo in range(0, n, CHUNK_ELEMENTS):
            hi = lo + CHUNK_ELEMENTS
            flat_dst[d_off[lo:hi]] = flat_src[s_off[lo:hi]]
        if z_off is not None:
            flat_dst[z_off] = 0

    return step


__all__ = ["CHUNK_ELEMENTS", "MIN_FLAT_ELEMENTS", "flat_gather", "view_strides"]
