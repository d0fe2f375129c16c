"""Per-PE products and reductions whose bits do not depend on how SRAM is held on the host.

numpy's order of additions follows memory: `np.sum` over a contiguous lane axis sums
pairwise, over a strided one element after element; `np.matmul` calls BLAS for tiles with a
unit stride and its own loop otherwise. A buffer's view is strided one way in a PE-major
block and another in a lane-major one (pyflame/sim/sram.py), and the same tiles reach a
kernel as SRAM views in one run and as contiguous in-flight copies in another (a stashed
receive, a private accumulator, a chain folded on a gathered copy). Results must be the same
bits in every case (`run` against `run_on_sram`, the fast engine against the wavelet one), so
the order is fixed here by the op alone:

- `add_product`: acc += x @ y per PE. Small tiles (m * k * n <= `LANE_LOOP_PRODUCT`) sum
  their k products in order, one multiply and one add per k over every PE's tiles at once
  (the machine's FMAC loop; numpy's `0 + x_0 y_0 + x_1 y_1 + ...`, rounded after each
  operation; the same loop compiled when the work is large enough: pyflame/sim/compiled);
  larger tiles are BLAS products of tiles whose rows are contiguous (copied when not:
  `blas_tiles`), whose bits depend only on the values.
- `contiguous`: the tiles as a C-contiguous array for a numpy reduction, whose bits then are
  those of the (rows, cols, *tile) array as a PE-major block holds it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from pyflame.core.elementwise import ufunc_into
from pyflame.sim import compiled

#: tiles with at most this many multiply-adds (m * k * n) sum their products lane by lane;
#: larger ones are BLAS calls per tile (the MLP's 1x13x4 product on 64x64 PEs: 0.63 ms as
#: 4,096 BLAS calls, 0.1 ms as 13 multiply-adds over lane-major planes)
LANE_LOOP_PRODUCT = 1024


def lane_loop(m: int, k: int, n: int) -> bool:
    """Whether `add_product` sums an (m x k) @ (k x n) tile product lane by lane (else BLAS)."""
    return m * k * n <= LANE_LOOP_PRODUCT


def contiguous(a: np.ndarray) -> np.ndarray:
    """`a` itself when C-contiguous, else a C-contiguous copy."""
    return a if a.flags.c_contiguous else np.ascontiguousarray(a)


def blas_tiles(a: np.ndarray) -> np.ndarray:
    """(..., rows, cols) tiles numpy hands to BLAS as they are: `a` itself when every tile's
    rows are contiguous (a unit stride along a row, even of one element, and rows at least a
    row apart: numpy's test), else a C-contiguous copy. BLAS's bits depend on the values
    only, not on how far apart rows or tiles are, so a PE-major SRAM tile, an in-flight copy
    and a host array's view give the same product; a lane-major or transposed tile is copied
    (numpy would take its own loop, which sums otherwise)."""
    size = a.itemsize
    row = a.strides[-2]
    if a.strides[-1] == size and row % size == 0 and row >= a.shape[-1] * size:
        return a
    return np.array(a, order="C")


def add_product(acc: np.ndarray, x: np.ndarray, y: np.ndarray, assign: bool = False) -> None:
    """acc += x @ y per tile (acc (..., m, n), x (..., m, k), y (..., k, n), batch axes of x
    and y broadcast to acc's), the product summed in the order (m, k, n) fixes (module
    docstring), then one add. The lane loop's arrays are laid out as acc is (numpy's
    `empty_like`), so that on lane-major tiles every pass is contiguous. `assign`: acc holds
    +0.0 (a fill's zeros, pyflame/sim/fused_products.py): the product, which +0.0 plus it
    would give bit for bit, is written into it (no temporary, no add, no fill)."""
    m, k = x.shape[-2:]
    n = y.shape[-1]
    if not lane_loop(m, k, n):
        # (in acc's memory order: a C-ordered product into lane-major tiles)
        product = np.matmul(blas_tiles(x), blas_tiles(y))
        if assign:  # (p + 0.0: a -0.0 product becomes +0.0, as +0.0 + p does)
            ufunc_into(np.add, acc, product, np.float32(0.0))
        else:
            ufunc_into(np.add, acc, acc, product)
        return
    products = _compiled_products(acc, k)  # (the same sums, compiled: pyflame/sim/compiled)
    if products is not None and products.add_product(acc, x, y, assign):
        return
    # (the running sum is never -0.0 after its first + 0.0, so +0.0 + total is total)
    total = acc if assign else np.empty_like(acc)
    term = np.empty_like(acc) if k > 1 else acc  # (no term to keep when k == 1)
    ufunc_into(np.multiply, total, x[..., :, 0:1], y[..., 0:1, :])
    np.add(total, 0.0, out=total)  # from +0, as numpy's loop: a -0 product becomes +0
    for j in range(1, k):
        ufunc_into(np.multiply, term, x[..., :, j : j + 1], y[..., j : j + 1, :])
        np.add(total, term, out=total)
    if not assign:
        np.add(acc, total, out=acc)


def product_call(
    acc: np.ndarray, x: np.ndarray, y: np.ndarray, assign: bool = False
) -> Callable[[], None] | None:
    """`add_product(acc, x, y, assign)` as a call to make again on the same arrays (an SRAM's
    views, new values each run) when it takes the compiled lane loop on operands read where
    they lie; None otherwise (the caller runs `add_product`)."""
    m, k = x.shape[-2:]
    products = _compiled_products(acc, k) if lane_loop(m, k, y.shape[-1]) else None
    return None if products is None else products.product_call(acc, x, y, assign)


def _compiled_products(acc: np.ndarray, k: int) -> Any:
    """The compiled lane loop's module for a product of k terms into `acc`, when the work is
    large enough for it (`compiled.MIN_WORK`) and it imports; else None."""
    return compiled.kernels("tile_products") if acc.size * k >= compiled.MIN_WORK else None


__all__ = [
    "LANE_LOOP_PRODUCT",
    "add_product",
    "blas_tiles",
    "contiguous",
    "lane_loop",
    "product_call",
]
