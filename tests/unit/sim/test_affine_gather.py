"""affine_view (pyflame/sim/affine_gather.py): a receive's (rows, cols) source index that is
affine in the receiving PE reads the same tiles as numpy's fancy index, as a read-only view
of the message; other indexes are left to numpy."""

from __future__ import annotations

import numpy as np
import pytest

from pyflame.sim.affine_gather import affine_view


def _message(rows: int, cols: int, lanes: int, dtype=np.float32) -> np.ndarray:
    """A message array laid out as SRAM blocks are: (rows, cols, bytes) with other bytes
    between tiles, so its strides are not a contiguous array's."""
    itemsize = np.dtype(dtype).itemsize
    block = np.zeros((rows, cols, lanes * itemsize + 24), dtype=np.uint8)
    tiles = block[:, :, 8 : 8 + lanes * itemsize].view(dtype)
    tiles[...] = np.arange(tiles.size, dtype=np.float64).reshape(tiles.shape).astype(dtype)
    return tiles


def _index(nr: int, nc: int, rows, cols) -> tuple[np.ndarray, np.ndarray]:
    i, j = np.meshgrid(np.arange(nr), np.arange(nc), indexing="ij")
    return np.asarray(rows(i, j), dtype=np.int64), np.asarray(cols(i, j), dtype=np.int64)


CASES = {
    # a transposed SUMMA's broadcast: PE (i, j) reads A's tile (s, i)
    "transposed broadcast": (6, 6, lambda i, j: 0 * i + 2, lambda i, j: i),
    "column from the col": (5, 7, lambda i, j: 0 * i + 4, lambda i, j: j),
    "a transpose of the grid": (5, 5, lambda i, j: j, lambda i, j: i),
    "reversed rows": (6, 4, lambda i, j: 5 - i, lambda i, j: j),
    "diagonals": (4, 4, lambda i, j: i + j, lambda i, j: j - i + 3),
    "strided": (3, 4, lambda i, j: 2 * i, lambda i, j: j + 2 * i),
    "one PE": (1, 1, lambda i, j: 0 * i + 3, lambda i, j: 0 * j + 1),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float16, np.int32])
@pytest.mark.parametrize("case", CASES)
def test_an_affine_index_reads_the_fancy_index_tiles_as_a_view(case, dtype):
    nr, nc, rows, cols = CASES[case]
    message = _message(8, 8, 5, dtype)
    src = _index(nr, nc, rows, cols)
    view = affine_view(src)
    assert view is not None
    got = view(message)
    want = message[src]
    assert np.shares_memory(got, message)
    assert not got.flags.writeable
    # an axis the source does not depend on is size 1 (readers broadcast it)
    assert got.shape[2:] == want.shape[2:]
    np.testing.assert_array_equal(np.broadcast_to(got, want.shape), want)
    for axis in (0, 1):
        moves = (src[0] != src[0].take([0], axis)).any() or (src[1] != src[1].take([0], axis)).any()
        assert got.shape[axis] == (want.shape[axis] if moves else 1)


def test_broadcasting_index_arrays_are_taken_as_their_full_index():
    message = _message(6, 6, 3)
    src = (np.full((4, 1), 2), np.arange(1, 5).reshape(1, 4))  # row 2, cols 1-4, for every row
    got = affine_view(src)(message)
    np.testing.assert_array_equal(np.broadcast_to(got, (4, 4, 3)), message[src])
    assert got.shape == (1, 4, 3)


@pytest.mark.parametrize(
    "src",
    [
        (slice(0, 1), slice(0, 4)),  # slices: a view already
        (np.array([[0, 1], [3, 2]]), np.array([[0, 0], [0, 0]])),  # rows not affine
        (np.array([[0, 1], [1, 4]]), np.array([[0, 1], [1, 0]])),  # a square, not a line
        np.array([1, 2, 3]),  # one index array
        (np.zeros((0, 3), dtype=np.int64), np.zeros((0, 3), dtype=np.int64)),  # no receivers
    ],
)
def test_other_indexes_are_not_views(src):
    assert affine_view(src) is None
