"""The matmul_acc kernel's fast paths give numpy's `a += np.matmul(x, y)` bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from pyflame.sim.kernels.reduce_matmul import outer_acc


def _tiles(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    t = rng.standard_normal(shape).astype(np.float32)
    t.flat[::7] = 0.0  # zero products, some of them -0 (matmul makes those +0)
    t.flat[::11] = -0.0
    return t


@pytest.mark.parametrize(
    ("rows", "cols", "m", "n", "x_rows", "x_cols", "y_rows", "y_cols"),
    [
        (64, 64, 13, 4, 64, 1, 1, 64),  # the MLP's weight gradient from views
        (5, 3, 1, 4, 5, 1, 1, 3),  # m == 1
        (3, 5, 4, 1, 3, 1, 1, 5),  # n == 1
        (4, 4, 3, 2, 4, 4, 4, 4),  # both operands in SRAM (not shared): by column
        (64, 64, 26, 4, 64, 64, 64, 64),  # the MLP's 26x1x4 step from SRAM: by column
        (3, 5, 7, 8, 3, 5, 3, 5),  # by column, n at its limit
        (3, 5, 7, 9, 3, 5, 3, 5),  # n past it: x and y repeated
        (4, 6, 2, 3, 4, 6, 1, 6),  # x in SRAM, y shared along the rows
        (1, 1, 1, 1, 1, 1, 1, 1),
    ],
)
def test_outer_acc_is_matmul_bit_for_bit(rows, cols, m, n, x_rows, x_cols, y_rows, y_cols):
    rng = np.random.default_rng(rows * 100 + m)
    # the accumulator is a strided view of an SRAM block, as at run time; -0 in it too
    block = _tiles(rng, (rows, cols, m * n + 5))
    a = block[:, :, 2 : 2 + m * n].reshape(rows, cols, 1, m, n)
    x = _tiles(rng, (x_rows, x_cols, 1, m, 1))
    y = _tiles(rng, (y_rows, y_cols, 1, 1, n))
    want = a.copy()
    want += np.matmul(x, y)
    outer_acc(a, x, y)
    assert a.tobytes() == want.tobytes()
    if want.size > 1:  # the zeros and signs were exercised
        assert np.signbit(want).any() and (want == 0).any()


@pytest.mark.parametrize(("m", "x_cols", "y_rows"), [(1, 1, 1), (3, 1, 1), (3, 2, 2)])
def test_outer_acc_negative_zero(m, x_cols, y_rows):
    """-0 + (-0 * 1): matmul's product is `0 + x * y` = +0, so the sum is +0, not -0 (with
    x and y on every PE too, the by-column path)."""
    a = np.full((2, 2, 1, m, 1), -0.0, dtype=np.float32)
    x = np.full((2, x_cols, 1, m, 1), -0.0, dtype=np.float32)
    y = np.ones((y_rows, 2, 1, 1, 1), dtype=np.float32)
    want = a.copy()
    want += np.matmul(x, y)
    outer_acc(a, x, y)
    assert a.tobytes() == want.tobytes()
    assert not np.signbit(a).any()
