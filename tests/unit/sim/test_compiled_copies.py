"""Compiled copies onto the transposed grid (pyflame/sim/compiled/plane_copies.py): the bits of
numpy's copy, for every element type, grid shapes that do not divide the blocks, and numpy's
copy for anything else."""

from __future__ import annotations

import numpy as np
import pytest

from pyflame.sim import compiled

copies = compiled.kernels("plane_copies")
pytestmark = pytest.mark.skipif(copies is None, reason="numba does not import here")


def _lane_major(values: np.ndarray) -> np.ndarray:
    """(rows, cols, lanes) tiles held as (lanes, rows, cols) planes."""
    return np.ascontiguousarray(values.transpose(2, 0, 1)).transpose(1, 2, 0)


@pytest.mark.parametrize("dtype", [np.float32, np.float16, np.int32, np.float64, np.bool_])
@pytest.mark.parametrize(("rows", "cols", "lanes"), [(64, 64, 52), (37, 21, 3), (1, 40, 5)])
def test_a_transposed_grid_copy_gives_numpys_bits(dtype, rows, cols, lanes):
    rng = np.random.default_rng(rows + cols)
    values = (rng.standard_normal((cols, rows, lanes)) * 100).astype(dtype)
    if values.dtype.kind == "f":
        values.reshape(-1)[::7] = np.nan
        values.reshape(-1)[::11] = -0.0
    held = _lane_major(values).transpose(1, 0, 2)  # (a device array's tiles_in: transposed)
    want = np.empty((rows, cols, lanes), dtype)
    want[...] = held
    got = _lane_major(np.zeros((rows, cols, lanes), dtype))
    done = copies.copy_transposed(got, held)
    assert done == (values.dtype.itemsize in (2, 4, 8))
    if done:
        assert got.tobytes(order="A") == _lane_major(want).tobytes(order="A")
        assert np.array_equal(got, want, equal_nan=values.dtype.kind == "f")


def test_other_layouts_are_left_to_numpy():
    tiles = _lane_major(np.ones((8, 8, 3), np.float32))
    assert not copies.copy_transposed(_lane_major(np.zeros((8, 8, 3), np.float32)), tiles)
    assert not copies.copy_transposed(np.zeros((8, 8, 3), np.float32), tiles.transpose(1, 0, 2))
    assert not copies.copy_transposed(tiles, tiles.transpose(1, 0, 2))  # (one memory)
