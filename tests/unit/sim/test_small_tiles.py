"""pyflame/sim/small_tiles.py: `reduce_into` gives numpy's bits (np.sum / np.max / np.min),
on strided views of shared blocks, over many tile shapes and dtypes, with signed zeros,
infinities and NaNs."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from pyflame.core import reductions
from pyflame.sim import small_tiles

#: inf - inf in the data (numpy warns as the simulator's steps do not: they run under errstate)
pytestmark = pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")

ROWS, COLS = 16, 20  # 320 PEs: above MIN_OUTPUTS with one output per tile
SPECIAL = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, -1.0])


def _view(rng: np.random.Generator, n: int, dtype: np.dtype, offset: int = 8) -> np.ndarray:
    """A (ROWS, COLS, n) view into a wider block (strided like an SRAM buffer's), filled with
    values of many magnitudes, some signed zeros, infinities and NaNs (floats)."""
    dtype = np.dtype(dtype)
    block = np.zeros((ROWS, COLS, offset + n * dtype.itemsize + 12), dtype=np.uint8)
    v = block[:, :, offset : offset + n * dtype.itemsize].view(dtype)
    shape = v.shape
    if dtype.kind == "f":
        x = rng.standard_normal(shape) * 10.0 ** rng.integers(-4, 5, shape)
        special = rng.random(shape) < 0.15
        x[special] = rng.choice(SPECIAL, int(special.sum()))
        zeros = rng.random(shape[:2]) < 0.2  # whole tiles of signed zeros
        x[zeros] = rng.choice([0.0, -0.0], (int(zeros.sum()), n))
        v[...] = x
        bits = v.view(f"u{dtype.itemsize}")  # NaNs of other signs and payloads (signaling too)
        nans = rng.random(shape) < 0.03
        mantissa = np.finfo(dtype).nmant
        exponent = (np.iinfo(bits.dtype).max >> 1) & ~((1 << mantissa) - 1)
        payload = rng.integers(1, 1 << mantissa, int(nans.sum()), dtype=np.uint64)
        sign = rng.integers(0, 2, int(nans.sum()), dtype=np.uint64) << (8 * dtype.itemsize - 1)
        bits[nans] = (exponent | payload | sign).astype(bits.dtype)
    elif dtype.kind == "b":
        v[...] = rng.random(shape) < 0.3
    else:
        v[...] = rng.integers(-1000, 1000, shape)
    return v


def _bits(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a).view(np.uint8)


TILE_SHAPES = [(1, 10), (10,), (4, 10), (13, 4), (2, 13, 4), (3, 1, 9), (8,), (9,), (17,),
               (16, 2), (2, 3, 24), (7, 1), (1, 1), (33,), (5, 40)]  # fmt: skip


def _cases():
    for shape in TILE_SHAPES:
        dims = range(len(shape))
        for count in range(1, len(shape) + 1):
            for axes in itertools.combinations(dims, count):
                yield shape, axes


@pytest.mark.parametrize("kind", ["sum", "max", "min"])
@pytest.mark.parametrize("dtype", ["float32", "float64", "int32", "int64", "bool"])
def test_reduce_into_is_numpy_bit_for_bit(rng, kind, dtype):
    fast = 0
    for shape, dims in _cases():
        n = int(np.prod(shape))
        v = _view(rng, n, np.dtype(dtype))
        tiles = v.reshape((ROWS, COLS) + shape)
        axes = tuple(d + 2 for d in dims)
        want = reductions.reduce(kind, tiles, axes).reshape(ROWS, COLS, -1)
        kept = want.shape[2]
        out_block = np.full((ROWS, COLS, kept * np.dtype(dtype).itemsize + 4), 7, np.uint8)
        out = out_block[:, :, 4:].view(dtype)
        if small_tiles.reduce_into(kind, tiles, axes, out):
            fast += 1
            assert _bits(out).tobytes() == _bits(want.astype(dtype)).tobytes(), (shape, dims)
            # the same tiles lane-major (each lane one plane, read where it is): the same bits
            planes = np.ascontiguousarray(v.transpose(2, 0, 1)).transpose(1, 2, 0)
            again = np.empty_like(out)
            assert small_tiles.reduce_into(kind, planes.reshape(tiles.shape), axes, again)
            assert _bits(again).tobytes() == _bits(out).tobytes(), (shape, dims)
        else:
            assert (out_block == 7).all()  # nothing written
    if kind != "sum" or dtype in ("float32", "float64", "int64"):
        assert fast > 20  # the fast forms did run


@pytest.mark.parametrize("kind", ["sum", "max", "min"])
def test_reduce_into_all_signed_zeros(kind):
    """Tiles of only -0.0 (numpy's sum gives 0.0, its max and min -0.0) and of mixed zeros."""
    for n in (3, 8, 10, 19):
        v = np.full((ROWS, COLS, n), -0.0, np.float32)
        v[ROWS // 2 :, :, ::2] = 0.0
        want = reductions.reduce(kind, v, (2,))
        out = np.empty((ROWS, COLS, 1), np.float32)
        assert small_tiles.reduce_into(kind, v, (2,), out)
        assert _bits(out).tobytes() == _bits(want).tobytes()


def test_reduce_into_declines_what_it_cannot_match():
    v = np.ones((ROWS, COLS, 12), np.float32)
    out = np.zeros((ROWS, COLS, 3), np.float32)
    # reduced dims apart (dims 0 and 2 of (2, 3, 2)): numpy's order is not a simple one
    assert not small_tiles.reduce_into("sum", v.reshape(ROWS, COLS, 2, 3, 2), (2, 4), out)
    # half floats sum in float32; prod is numpy's; few outputs: numpy's one call is faster
    half = np.ones((ROWS, COLS, 12), np.float16)
    assert not small_tiles.reduce_into("sum", half, (2,), out[..., :1].astype(np.float16))
    assert not small_tiles.reduce_into("prod", v, (2,), out[..., :1])
    assert not small_tiles.reduce_into("max", v[:2, :2], (2,), out[:2, :2, :1])


@pytest.mark.parametrize("kind", ["sum", "max", "min"])
def test_reduce_into_a_destination_sharing_the_source_bytes(rng, kind):
    """dst in src's bytes (allocate-sram may reuse a dying source's offset): numpy's bits,
    NaN tiles (recomputed from their tiles) included."""
    block = _view(rng, 20, np.dtype("float32"))
    tiles = block.reshape(ROWS, COLS, 2, 10)
    want = reductions.reduce(kind, tiles.copy(), (3,)).reshape(ROWS, COLS, 2)
    assert np.isnan(want).any()
    out = block[:, :, 5:7]  # in the middle of the tiles
    assert small_tiles.reduce_into(kind, tiles, (3,), out)
    assert _bits(out).tobytes() == _bits(want).tobytes()
