"""A message's source index as a strided view when it is affine in the receiving PE.

A receive reads `F[batch][src]`: for every receiving PE (i, j) the tile of the sending PE
(src_r[i, j], src_c[i, j]) of the message array (rows, cols, lanes...). When the source row
depends only on the row and the col only on the col, `src` is basic slices (a view; see
kernels/network.py `_compress`); otherwise numpy's fancy indexing copies every tile. A
transposed SUMMA broadcasts A's tile (s, i) to every PE of row i: src_r = s, src_c = i, the
col a function of the *row*. Such an index, and any other whose source row and col are each
`a + b*i + c*j`, selects the tiles at fixed strides from the first one, which `as_strided`
expresses as a view: a stashed receive (pyflame/sim/step_access.py) then keeps a view of the
sender's SRAM instead of a copy made at every run, and a sourced run
(pyflame/sim/sourced_panels.py) can derive its operands once per SRAM.

The view reads the same elements as the fancy index (it is only ever read: several PEs may
see one tile, as a broadcast does).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import as_strided

#: what `affine_view` returns: the message array -> the receivers' tiles, as a view
TileView = Callable[[np.ndarray], np.ndarray]


def _affine(a: np.ndarray) -> tuple[int, int, int] | None:
    """(a0, di, dj) when a[i, j] == a0 + di*i + dj*j for every (i, j); None otherwise."""
    a0 = int(a[0, 0])
    di = int(a[1, 0]) - a0 if a.shape[0] > 1 else 0
    dj = int(a[0, 1]) - a0 if a.shape[1] > 1 else 0
    rows = np.arange(a.shape[0])[:, None]
    cols = np.arange(a.shape[1])[None, :]
    if not np.array_equal(a, a0 + di * rows + dj * cols):
        return None
    return a0, di, dj


def affine_view(src: Any) -> TileView | None:
    """For `src` a pair of (rows, cols) index arrays (broadcasting to the receivers' shape)
    whose entries are affine in the receiving PE: a function giving `message[src]` as a
    strided view of `message`, with size 1 along a receivers' axis the source does not
    depend on (it broadcasts). None for any other index (slices are views already)."""
    if not isinstance(src, tuple) or len(src) != 2:
        return None
    if not all(isinstance(x, np.ndarray) and x.ndim == 2 for x in src):
        return None
    src_r, src_c = np.broadcast_arrays(*src)
    if src_r.size == 0:
        return None
    fr, fc = _affine(src_r), _affine(src_c)
    if fr is None or fc is None:
        return None
    (r0, ri, rj), (c0, ci, cj) = fr, fc
    # an axis the source does not depend on stays size 1, as a one-PE slice's does: readers
    # broadcast it (a SUMMA's panels then hold the tile once, not once per receiver)
    shape = (
        src_r.shape[0] if (ri or ci) else 1,
        src_r.shape[1] if (rj or cj) else 1,
    )

    def view(message: np.ndarray) -> np.ndarray:
        rs, cs = message.strides[:2]
        first = message[r0:, c0:]  # a view starting at the first receiver's tile
        return as_strided(
            first,
            shape=shape + message.shape[2:],
            strides=(ri * rs + ci * cs, rj * rs + cj * cs) + message.strides[2:],
            writeable=False,
        )

    return view


__all__ = ["TileView", "affine_view"]
