"""pe.host_in / pe.host_out: tiles land where the Distribution says, and come back intact."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from pyflame.core.distribution import Distribution
from pyflame.sim.layout_io import make_gather, make_scatter, make_scatter_into

LAYOUTS = [
    ((8, 8), (2, 2), ("r", "c")),
    ((8, 8), (2, 2), ("c", "r")),
    ((7, 5), (2, 3), ("r", "c")),  # padding on both dims
    ((6, 4), (2, 2), ("r", "")),  # replicated along mesh cols
    ((6, 5), (3, 2), ("", "c")),  # replicated along mesh rows, padded
    ((5, 3), (2, 2), ("", "")),  # fully replicated
    ((10, 3), (2, 3), ("rc", "")),  # split over all PEs row-major, padded
    ((9,), (1, 4), ("c",)),
    ((3, 4, 5), (2, 2), ("c", "", "r")),
    ((), (2, 2), ()),
    ((9, 14), (3, 4), ("c", "r")),  # the MLP's W1 [c, r]: padded along the mesh rows
    ((2, 7, 5), (3, 2), ("r", "c", "")),  # fewer rows of data than PE rows: blocks all padding
    ((3, 10), (2, 2), ("", "rc")),
]


def reference_tiles(x: np.ndarray, d: Distribution) -> np.ndarray:
    """Per PE, its block (padding zero), by the definition: one PE at a time."""
    gr, gc = d.grid
    out = np.zeros((gr, gc, d.local_elems), dtype=np.float32)
    for r, c in itertools.product(range(gr), range(gc)):
        tile = np.zeros(d.block, dtype=np.float32)
        for e in itertools.product(*[range(b) for b in d.block]):
            g = tuple(d.block_index(k, r, c) * d.block[k] + e[k] for k in range(len(d.shape)))
            if all(gi < n for gi, n in zip(g, d.shape, strict=True)):
                tile[e] = x[g]
        out[r, c] = tile.ravel()
    return out


@pytest.mark.parametrize("shape,grid,split", LAYOUTS)
def test_scatter_matches_definition(shape, grid, split, rng):
    d = Distribution(shape, grid, split)
    x = rng.standard_normal(shape).astype(np.float32)
    s = make_scatter(d)(x)  # (kept rows, kept cols, *block): 1 along replicated axes
    tiles = np.broadcast_to(s.reshape(s.shape[:2] + (-1,)), grid + (d.local_elems,))
    np.testing.assert_array_equal(tiles, reference_tiles(x, d))
    back = make_gather(d)(np.ascontiguousarray(tiles))
    np.testing.assert_array_equal(back, x)


@pytest.mark.parametrize("lane_major", [False, True])
@pytest.mark.parametrize("shape,grid,split", LAYOUTS)
def test_scatter_into_and_gather_on_strided_tiles(shape, grid, split, lane_major, rng):
    """Into tiles laid out as SRAM blocks are (PE-major or one plane per lane, a view with
    room around it) whose padding holds garbage: the same tiles as `make_scatter`, and back."""
    d = Distribution(shape, grid, split)
    x = rng.standard_normal(shape).astype(np.float32)
    kept = make_scatter(d)(x)
    expected = kept.reshape(kept.shape[:2] + (-1,))
    pr, pc = expected.shape[:2]
    L = d.local_elems
    if lane_major:  # (lanes, rows, cols) planes, seen as (rows, cols, lanes)
        sram = np.full((L + 3, pr + 1, pc + 2), np.nan, np.float32)
        tiles = sram[1 : L + 1, :pr, 1 : pc + 1].transpose(1, 2, 0)
    else:
        sram = np.full((pr + 1, pc + 2, L + 3), np.nan, np.float32)
        tiles = sram[:pr, 1 : pc + 1, 2 : L + 2]
    make_scatter_into(d)(x, tiles.reshape((pr, pc, *d.block)))
    np.testing.assert_array_equal(tiles, expected)
    assert np.isnan(sram).sum() == sram.size - tiles.size  # nothing written around them
    tiles[...] = expected
    np.testing.assert_array_equal(make_gather(d)(tiles), x)
    if x.ndim:  # an integer array into float tiles: converted, as an assignment does
        make_scatter_into(d)(np.arange(x.size).reshape(shape), tiles.reshape((pr, pc, *d.block)))
        back = make_gather(d)(tiles)
        assert back.dtype == np.float32
        np.testing.assert_array_equal(back, np.arange(x.size).reshape(shape))


@pytest.mark.parametrize("shape,grid,split", LAYOUTS)
def test_host_round_trip(sim, shape, grid, split, rng):
    d = Distribution(shape, grid, split)
    lay = sim.layout(shape, grid, split)
    tt = sim.tensor(shape)
    rect = (0, 0) + grid
    b = sim.Body()
    b.alloc("pad", rect, 3)  # the buffer under test does not start at offset 0
    b.alloc("a", rect, d.local_elems + 2)  # nor is it exactly the tile's size
    b.op(f"pe.host_in %x, %a {{layout = {lay}, pes = {sim.pes(rect)}}} : {tt}, {b.t('a')}")
    b.op(f"%o = pe.host_out %a {{layout = {lay}, pes = {sim.pes(rect)}}} : {b.t('a')} -> {tt}")
    text = sim.program(b.text(), f"%x: {tt}", tt, f"%o : {tt}")
    x = rng.standard_normal(shape).astype(np.float32)
    (o,), report = sim.run(text, x)
    assert o.shape == x.shape and o.dtype == np.float32
    np.testing.assert_array_equal(o, x)
    assert report.io_cycles > 0 and report.cycles == 0


def test_host_out_takes_first_copy_of_replicated_data(sim):
    """Replicas that diverge: host_out reads row 0's / col 0's copy."""
    rect = (0, 0, 2, 2)
    lay = sim.layout((4,), (2, 2), ("",))
    b = sim.Body()
    b.alloc("a", rect, 4)
    b.alloc("one", (1, 1, 1, 1), 4)
    b.op(f"pe.host_in %x, %a {{layout = {lay}, pes = {sim.pes(rect)}}} : tensor<4xf32>, {b.t('a')}")
    b.op(f"pe.fill %a {{value = 9.0 : f64, pes = {sim.pes((1, 1, 1, 1))}}} : {b.t('a')}")
    b.op(
        f"%o = pe.host_out %a {{layout = {lay}, pes = {sim.pes(rect)}}} : {b.t('a')} -> tensor<4xf32>"
    )
    text = sim.program(b.text(), "%x: tensor<4xf32>", "tensor<4xf32>", "%o : tensor<4xf32>")
    x = np.arange(4, dtype=np.float32)
    (o,), _ = sim.run(text, x)
    np.testing.assert_array_equal(o, x)


def test_arguments_are_checked(sim):
    b = sim.Body()
    b.alloc("a", (0, 0, 1, 1), 4)
    lay = sim.layout((4,), (1, 1), ("",))
    b.op(
        f"pe.host_in %x, %a {{layout = {lay}, pes = {sim.pes((0, 0, 1, 1))}}} : tensor<4xf32>, {b.t('a')}"
    )
    b.op(
        f"%o = pe.host_out %a {{layout = {lay}, pes = {sim.pes((0, 0, 1, 1))}}} : {b.t('a')} -> tensor<4xf32>"
    )
    text = sim.program(
        b.text(),
        "%x: tensor<4xf32>, %s: i64",
        "tensor<4xf32>, tensor<4xf32>",
        "%o, %x : tensor<4xf32>, tensor<4xf32>",
    )
    exe = sim.plan(text)
    assert exe.arg_names == ["x", "s"]
    with pytest.raises(TypeError):
        exe.run([np.zeros(4)])
    with pytest.raises(ValueError, match="'x'"):
        exe.run([np.zeros(5), 0])
    with pytest.raises(TypeError, match="'s'"):
        exe.run([np.zeros(4), 1.5])
    (o, x), _ = exe.run([[1, 2, 3, 4], 3])  # lists and float64 are converted; args pass through
    np.testing.assert_array_equal(o, [1, 2, 3, 4])
    np.testing.assert_array_equal(x, [1, 2, 3, 4])
