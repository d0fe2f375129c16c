"""The compiled lane loop of small tile products (pyflame/sim/compiled/tile_products.py): the
bits of numpy's lane loop (tile_math.add_product with the tier off) on every layout, shared
operand and special value (a NaN's sign and payload aside: pyflame/sim/compiled), and the numpy
path wherever the kernel does not apply."""

from __future__ import annotations

import numpy as np
import pytest

from pyflame.sim import compiled, tile_math

products = compiled.kernels("tile_products")
pytestmark = [
    pytest.mark.skipif(products is None, reason="numba does not import here"),
    pytest.mark.filterwarnings("ignore::RuntimeWarning"),  # (inf * 0 and friends, on purpose)
]


ROWS, COLS = 24, 40  # (960 PEs: with a few lanes, past compiled.MIN_WORK)


def _tiles(rng: np.random.Generator, shape: tuple[int, ...], dtype=np.float32) -> np.ndarray:
    t = (rng.standard_normal(shape) * 3).astype(dtype)
    t.flat[::7] = 0.0
    t.flat[::11] = -0.0
    t.flat[::29] = np.inf
    t.flat[::31] = np.nan
    t.flat[::37] = -np.inf
    return t


def _lane_major(t: np.ndarray) -> np.ndarray:
    """`t` (rows, cols, *tile) as a view of (elements, rows, cols) planes, as SRAM holds small
    tiles."""
    rows, cols = t.shape[:2]
    flat = t.reshape(rows, cols, -1)
    planes = np.zeros((flat.shape[2] + 2, rows, cols), t.dtype)
    planes[1:-1] = flat.transpose(2, 0, 1)
    return planes[1:-1].transpose(1, 2, 0).reshape(t.shape)


def _same(got: np.ndarray, want: np.ndarray) -> bool:
    """The same bits, NaNs in the same places (of any sign and payload)."""
    nan = np.isnan(want)
    return bool((np.isnan(got) == nan).all()) and got[~nan].tobytes() == want[~nan].tobytes()


def _numpy(monkeypatch, a, x, y, assign=False) -> np.ndarray:
    with monkeypatch.context() as m:
        m.setattr(compiled, "_enabled", False)
        out = a.copy()
        tile_math.add_product(out, x, y, assign)
    return out


@pytest.mark.parametrize(
    ("m", "k", "n", "x_rows", "x_cols", "y_rows", "y_cols"),
    [
        (1, 13, 4, True, True, False, True),  # the MLP's forward, rhs shared down the rows
        (1, 4, 10, True, True, False, True),  # its second layer
        (10, 1, 4, True, True, True, True),  # its weight gradient (k = 1)
        (4, 3, 2, True, False, True, True),  # lhs shared along the columns
        (2, 5, 3, False, False, True, True),
        (3, 2, 2, True, False, False, True),
        (2, 2, 3, True, True, False, False),  # one rhs for every PE
        (1, 1, 1, False, False, False, False),
    ],
)
@pytest.mark.parametrize("layout", ["contiguous", "lane-major", "transposed"])
@pytest.mark.parametrize("assign", [False, True])
def test_the_compiled_loop_gives_numpys_bits(
    monkeypatch, m, k, n, x_rows, x_cols, y_rows, y_cols, layout, assign
):
    rng = np.random.default_rng(m * 100 + k * 10 + n)
    a = np.zeros((ROWS, COLS, m, n), np.float32) if assign else _tiles(rng, (ROWS, COLS, m, n))
    x = _tiles(rng, (ROWS if x_rows else 1, COLS if x_cols else 1, m, k))
    y = _tiles(rng, (ROWS if y_rows else 1, COLS if y_cols else 1, k, n))
    if layout == "lane-major":
        a, x, y = _lane_major(a), _lane_major(x), _lane_major(y)
    elif layout == "transposed":  # strided views of [k, m] / [n, k] tiles (lhs_t, rhs_t)
        x = np.ascontiguousarray(x.swapaxes(-1, -2)).swapaxes(-1, -2)
        y = np.ascontiguousarray(y.swapaxes(-1, -2)).swapaxes(-1, -2)
    want = _numpy(monkeypatch, a, x, y, assign)
    got = a.copy()
    assert products.add_product(got, x, y, assign)
    assert _same(got, want)
    finite = np.isfinite(want)
    exact = a + np.matmul(x.astype(np.float64), y.astype(np.float64))
    np.testing.assert_allclose(want[finite], exact[finite], rtol=1e-4, atol=1e-3)


def test_zero_strided_batch_axes_and_float64():
    """A shared operand broadcast by a zero stride (as a step reads a row-shared buffer), batch
    axes of one element between the PE axes and the tile, and float64 tiles."""
    rng = np.random.default_rng(5)
    for dtype in (np.float32, np.float64):
        a = _tiles(rng, (ROWS, COLS, 1, 2, 5), dtype)
        x = _tiles(rng, (ROWS, COLS, 1, 2, 3), dtype)
        y = np.broadcast_to(_tiles(rng, (1, COLS, 1, 3, 5), dtype), (ROWS, COLS, 1, 3, 5))
        total = x[..., :, 0:1] * y[..., 0:1, :] + dtype(0.0)  # the lane loop, written out
        for j in range(1, 3):
            total = total + x[..., :, j : j + 1] * y[..., j : j + 1, :]
        want = a + total
        got = a.copy()
        assert products.add_product(got, x, y, False)
        assert _same(got, want)


def test_what_the_kernel_does_not_take_is_left_to_numpy():
    rng = np.random.default_rng(6)
    a = _tiles(rng, (ROWS, COLS, 2, 2))
    x = _tiles(rng, (ROWS, COLS, 2, 3))
    y = _tiles(rng, (ROWS, COLS, 3, 2))
    assert not products.add_product(a.astype(np.float16), x, y, False)  # other types
    assert not products.add_product(a, x.astype(np.float64), y, False)
    assert not products.add_product(a[0], x[0], y[0], False)  # no PE grid
    assert not products.add_product(a, x[:3], y, False)  # rows that do not broadcast
    shared = np.zeros((ROWS, COLS, 2, 5), np.float32)  # acc and lhs in one array: numpy's order
    assert not products.add_product(shared[..., :2], shared[..., 2:4], y[..., :2, :], False)
    readonly = a.copy()
    readonly.setflags(write=False)
    assert not products.add_product(readonly, x, y, False)


def test_tile_math_takes_the_compiled_loop_from_min_work(monkeypatch):
    calls = []
    real = products.add_product
    monkeypatch.setattr(products, "add_product", lambda *args: calls.append(1) or real(*args))
    rng = np.random.default_rng(7)
    small = _tiles(rng, (2, 2, 1, 1)), _tiles(rng, (2, 2, 1, 3)), _tiles(rng, (2, 2, 3, 1))
    tile_math.add_product(*small)
    assert calls == []  # (below MIN_WORK: numpy's call costs less than the kernel's)
    a, x, y = (
        _tiles(rng, (ROWS, COLS, 4, 4)),
        _tiles(rng, (ROWS, COLS, 4, 4)),
        _tiles(rng, (ROWS, COLS, 4, 4)),
    )
    want = _numpy(monkeypatch, a, x, y)
    tile_math.add_product(a, x, y)
    assert calls == [1] and _same(a, want)
    monkeypatch.setattr(compiled, "_enabled", False)
    assert compiled.kernels("tile_products") is None
    tile_math.add_product(a, x, y)
    assert calls == [1]


def test_a_kept_product_call_reads_the_arrays_values_then(monkeypatch):
    """`tile_math.product_call` is add_product's compiled call on these arrays, to make again
    when their memory holds new values (a matmul_acc step keeps it for an SRAM's views): the
    bits add_product gives then; None where add_product takes numpy's path or copies an
    operand's planes (a transposed in-flight copy: the copy would be stale)."""
    rng = np.random.default_rng(12)
    a = _lane_major(_tiles(rng, (ROWS, COLS, 10, 4)))
    x = _lane_major(_tiles(rng, (ROWS, COLS, 10, 1)))
    y = _lane_major(_tiles(rng, (ROWS, COLS, 1, 4)))
    call = tile_math.product_call(a, x, y)
    assert call is not None
    for _ in range(2):
        x[...] = _tiles(rng, x.shape)  # (new values in the same memory)
        want = _numpy(monkeypatch, a, x, y)
        call()
        assert _same(a, want)
    strided = np.ascontiguousarray(y.transpose(3, 0, 1, 2)).transpose(1, 2, 3, 0)[:, ::2]
    assert tile_math.product_call(a[:, ::2], x[:, ::2], strided) is None  # (planes copied)
    assert tile_math.product_call(a, x.astype(np.float64), y) is None  # (numpy's path)
    monkeypatch.setattr(compiled, "MIN_WORK", a.size * 2)
    assert tile_math.product_call(a, x, y) is None  # (too little work: numpy's path)
