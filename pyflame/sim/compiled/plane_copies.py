"""Compiled copies of lane-major tiles onto the transposed PE grid (a `pe.host_in` of a
program's output in the layout with rows and columns swapped: pyflame/sim/device_array.py
`tiles_in`). Each lane is a contiguous plane in both, so the copy is a 2D transpose per lane,
done in blocks that stay in the L1 cache (numpy's copy reads one of the two planes a column at a
time: the MLP's 256x784 weight on 64x64 PEs, 52 lanes, ~140 us; blocked, ~50)."""

from __future__ import annotations

import numba
import numpy as np

#: the side of a transposed block (16 x 16 floats: 1 KB from each plane)
BLOCK = 16


@numba.njit(cache=True, nogil=True, boundscheck=False)
def _transpose_planes(dst, src):
    """dst[l, r, c] = src[l, c, r] for C-contiguous (lanes, rows, cols) / (lanes, cols, rows)."""
    lanes, rows, cols = dst.shape
    for lane in range(lanes):
        d, s = dst[lane], src[lane]
        for r0 in range(0, rows, BLOCK):
            nr = min(BLOCK, rows - r0)
            for c0 in range(0, cols, BLOCK):
                nc = min(BLOCK, cols - c0)
                for i in range(nr):
                    row = d[r0 + i, c0 : c0 + nc]
                    for j in range(nc):
                        row[j] = s[c0 + j, r0 + i]


def copy_transposed(dst: np.ndarray, src: np.ndarray) -> bool:
    """dst[...] = src for (rows, cols, lanes) tiles where src is a view of tiles held on the
    transposed grid (`src.transpose(1, 0, 2)` lane-major) and dst is lane-major; False (nothing
    copied) for any other layout or type, which the caller copies with numpy."""
    if dst.ndim != 3 or dst.shape != src.shape or dst.dtype != src.dtype:
        return False
    planes, held = dst.transpose(2, 0, 1), src.transpose(2, 1, 0)
    if not (planes.flags.c_contiguous and held.flags.c_contiguous):
        return False
    if dst.dtype.itemsize not in (2, 4, 8) or np.may_share_memory(dst, src):
        return False
    kind = {2: np.uint16, 4: np.uint32, 8: np.uint64}[dst.dtype.itemsize]  # (bits, as they are)
    _transpose_planes(planes.view(kind), held.view(kind))
    return True
