"""Per-PE products and reductions (pyflame/sim/tile_math.py, pyflame/sim/kernels/
reduce_matmul.py): the same bits whatever the tiles' layout (PE-major or lane-major SRAM
views, contiguous in-flight copies, views shared along PE rows or columns), close to numpy's
own product."""

from __future__ import annotations

import numpy as np
import pytest

from pyflame.sim import tile_math


def _tiles(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    t = rng.standard_normal(shape).astype(np.float32)
    t.flat[::7] = 0.0  # zero products, some of them -0
    t.flat[::11] = -0.0
    return t


def _layouts(t: np.ndarray) -> list[np.ndarray]:
    """`t` (rows, cols, *tile) as a contiguous array, a PE-major view (tiles strided inside a
    wider block) and a lane-major view ((elements, rows, cols) planes)."""
    rows, cols = t.shape[:2]
    flat = t.reshape(rows, cols, -1)
    n = flat.shape[2]
    pe_major = np.zeros((rows, cols, n + 5), np.float32)
    pe_major[:, :, 2 : 2 + n] = flat
    lane_major = np.zeros((n + 3, rows, cols), np.float32)
    lane_major[1 : 1 + n] = flat.transpose(2, 0, 1)
    views = [pe_major[:, :, 2 : 2 + n], lane_major[1 : 1 + n].transpose(1, 2, 0)]
    return [t.copy()] + [v.reshape(t.shape) for v in views]


@pytest.mark.parametrize(
    ("m", "k", "n", "x_shared", "y_shared"),
    [
        (1, 13, 4, False, False),  # the MLP's forward product per PE
        (4, 1, 13, True, False),  # its weight gradient (k = 1), x shared along the PE row
        (10, 1, 4, False, True),
        (5, 3, 1, True, True),
        (2, 40, 4, False, False),
        (16, 16, 16, False, False),  # BLAS per tile (m k n > LANE_LOOP_PRODUCT)
        (1, 1, 1, False, False),
    ],
)
@pytest.mark.parametrize("transposed", [False, True])
def test_products_do_not_depend_on_the_layout(m, k, n, x_shared, y_shared, transposed):
    rng = np.random.default_rng(m * 100 + k * 10 + n)
    rows, cols = 6, 5
    a0 = _tiles(rng, (rows, cols, 1, m, n))
    x0 = _tiles(rng, (rows, 1 if x_shared else cols, 1, m, k))
    y0 = _tiles(rng, (1 if y_shared else rows, cols, 1, k, n))
    if transposed:  # read as strided views of [k, m] / [n, k] tiles, as lhs_t / rhs_t are
        x0 = np.ascontiguousarray(x0.swapaxes(-1, -2)).swapaxes(-1, -2)
        y0 = np.ascontiguousarray(y0.swapaxes(-1, -2)).swapaxes(-1, -2)
    results = []
    for a, x, y in zip(_layouts(a0), _layouts(x0), _layouts(y0), strict=True):
        tile_math.add_product(a, x, y)
        results.append(a.tobytes())
    assert len(set(results)) == 1
    got = np.frombuffer(results[0], np.float32).reshape(a0.shape)
    np.testing.assert_allclose(got, a0 + np.matmul(x0, y0), rtol=1e-5, atol=1e-5)


def test_small_products_sum_in_order_from_zero():
    """Lane by lane: ((0 + x0 y0) + x1 y1) + ..., rounded after each operation, then added
    to the accumulator (a -0 product becomes +0, as in numpy's loop)."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 4, 7)).astype(np.float32) * 1e3
    y = rng.standard_normal((2, 3, 7, 5)).astype(np.float32)
    a = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    want = np.zeros_like(a)
    for j in range(7):
        want = want + x[..., :, j : j + 1] * y[..., j : j + 1, :]
    want = a + want
    tile_math.add_product(a, x, y)
    assert a.tobytes() == want.tobytes()
    zero = np.full((1, 1, 1, 1), -0.0, np.float32)
    tile_math.add_product(
        zero, np.full((1, 1, 1, 1), -0.0, np.float32), np.ones((1, 1, 1, 1), np.float32)
    )
    assert not np.signbit(zero).any()


def test_large_tiles_go_to_blas_with_contiguous_rows():
    """Tiles whose rows are contiguous (an SRAM tile, a host array's view) go to BLAS as they
    are, whatever the distance between rows; lane-major or transposed ones are copied first:
    the same product bits either way."""
    rng = np.random.default_rng(5)
    host = rng.standard_normal((2, 40, 3, 40)).astype(np.float32)
    rows_apart = host[:, :, 0, :].reshape(2, 1, 40, 40)  # rows 480 bytes apart
    assert tile_math.blas_tiles(rows_apart) is rows_apart
    planes = np.ascontiguousarray(rows_apart.transpose(2, 3, 0, 1)).transpose(2, 3, 0, 1)
    assert tile_math.blas_tiles(planes).flags.c_contiguous
    block = np.zeros((2, 1, 1700), np.float32)  # a PE-major block: tiles 6,800 bytes apart
    sram_tile = block[:, :, 50:1650].reshape(2, 1, 40, 40)
    assert tile_math.blas_tiles(sram_tile) is sram_tile
    y = rng.standard_normal((2, 1, 40, 30)).astype(np.float32)
    got = []
    for x in (rows_apart, planes, np.ascontiguousarray(rows_apart)):
        acc = np.zeros((2, 1, 40, 30), np.float32)
        tile_math.add_product(acc, x, y)
        got.append(acc.tobytes())
    assert len(set(got)) == 1
