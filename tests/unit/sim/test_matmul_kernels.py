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
        (4, 4, 3, 2, 4, 4, 4, 4),  # both operands in SRAM (not shared)
        (64, 64, 26, 4, 64, 64, 64, 64),  # the MLP's 26x1x4 step from SRAM
        (3, 5, 7, 8, 3, 5, 3, 5),  # (n was the by-column limit)
        (3, 5, 7, 9, 3, 5, 3, 5),  # n past it
        (4, 6, 2, 3, 4, 6, 1, 6),  # x in SRAM, y shared along the rows
        (64, 64, 26, 4, 64, 1, 64, 64),  # x a view shared along the PE row
        (5, 6, 3, 2, 5, 6, 1, 6),  # y shared along the PE column
        (4, 6, 2, 9, 4, 1, 4, 6),  # x shared
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
    x and y on every PE too)."""
    a = np.full((2, 2, 1, m, 1), -0.0, dtype=np.float32)
    x = np.full((2, x_cols, 1, m, 1), -0.0, dtype=np.float32)
    y = np.ones((y_rows, 2, 1, 1, 1), dtype=np.float32)
    want = a.copy()
    want += np.matmul(x, y)
    outer_acc(a, x, y)
    assert a.tobytes() == want.tobytes()
    assert not np.signbit(a).any()


@pytest.mark.parametrize(
    ("m", "k", "n"),
    [
        (5, 3, 1),  # a matrix-vector product per PE (was one GEMM per PE row from views)
        (2, 40, 4),  # small tiles with k >= 36 (was one GEMM for the whole step)
        (1, 37, 13),  # m == 1: numpy's vector-matrix product per tile
        (4, 8, 4),
        (16, 16, 16),
    ],
)
def test_matmul_step_from_views_is_the_sram_step_bit_for_bit(m, k, n):
    """A SUMMA step reading its received tiles as views shared along PE rows / columns (elided
    receives, pyflame/sim/step_access.py) gives the bits of the same step on per-PE copies in
    SRAM, which is what the wavelet engine runs: one numpy product per tile either way."""
    from pyflame.sim.executable import Buffer
    from pyflame.sim.kernels.reduce_matmul import _matmul_step
    from pyflame.sim.loop_fission import rect_span
    from pyflame.sim.step_access import access_of

    rng = np.random.default_rng(m * 100 + k * 10 + n)
    rows, cols = 3, 4
    rect = (0, 0, rows, cols)
    acc, lhs, rhs = (
        Buffer(i, f"b{i}", rect, 0, size, 4 * size) for i, size in enumerate((m * n, m * k, k * n))
    )
    a0 = _tiles(rng, (rows, cols, m * n))
    x = _tiles(rng, (rows, 1, m * k))  # one lhs tile per PE row
    y = _tiles(rng, (1, cols, k * n))  # one rhs tile per PE column
    step = _matmul_step(
        "t", rect, rect_span(rect), acc, lhs, rhs, (m, k, n), (1, 1, 1), (False, False)
    )
    sram = [
        a0.copy(),
        np.broadcast_to(x, (rows, cols, m * k)).copy(),
        np.broadcast_to(y, (rows, cols, k * n)).copy(),
    ]
    step(sram, {}, [], [])
    rebuilt = access_of(step).rebuild({1: 100, 2: 101})
    views = [a0.copy(), sram[1], sram[2]]
    rebuilt(views, {100: x, 101: y}, [], [])
    assert np.array_equal(views[0], sram[0])
    tiles = np.matmul(sram[1].reshape(rows, cols, m, k), sram[2].reshape(rows, cols, k, n))
    assert np.array_equal(sram[0], a0 + tiles.reshape(rows, cols, m * n))
