"""A program's large outputs as device arrays (pyflame/sim/device_array.py): the tiles kept as
SRAM held them, gathered only when read, and taken back as they are by a host_in of the same
layout or of the transposed one; always the values a host array would have given."""

from __future__ import annotations

import numpy as np
import pytest

import pyflame as pf
from pyflame import nn, optim, runtime
from pyflame.core.distribution import Distribution
from pyflame.sim import executable
from pyflame.sim.device_array import DEVICE_ARRAY_BYTES, DeviceArray
from pyflame.sim.layout_io import make_scatter
from pyflame.sim.step_access import is_elided


def _program(sim, shape, grid, split, body, outs=("o",), result=None):
    """@main(x) -> %o (or the results `outs`, of host type `result`, default x's) in layout
    (grid, split), buffers %a and %e of the tile's size; `body`'s lines may name {pes}, {lay},
    {tt} (the host tensor's type) and {ta} (a buffer's)."""
    lay, tt, rect = sim.layout(shape, grid, split), sim.tensor(shape), (0, 0) + grid
    L = Distribution(shape, grid, split).local_elems
    b = sim.Body()
    b.alloc("a", rect, L)
    b.alloc("e", rect, L)
    for line in body:
        b.op(line.format(pes=sim.pes(rect), lay=lay, tt=tt, ta=b.t("a")))
    types = ", ".join([result or tt] * len(outs))
    return sim.program(
        b.text(), f"%x: {tt}", types, ", ".join(f"%{o}" for o in outs) + f" : {types}"
    )


def _exp_program(sim, shape, grid, split):
    """x -> exp(x) in layout (grid, split): exp makes the padding 1, not 0."""
    return _program(
        sim,
        shape,
        grid,
        split,
        [
            "pe.host_in %x, %a {{layout = {lay}, pes = {pes}}} : {tt}, {ta}",
            "pe.unary exp %e, %a {{pes = {pes}}} : {ta}, {ta}",
            "%o = pe.host_out %e {{layout = {lay}, pes = {pes}}} : {ta} -> {tt}",
        ],
    )


def _sum_program(sim, shape, grid, split):
    """x -> x + x in layout (grid, split) (its host_in writes the padding)."""
    return _program(
        sim,
        shape,
        grid,
        split,
        [
            "pe.fill %a {{value = 7.0 : f64, pes = {pes}}} : {ta}",
            "pe.host_in %x, %a {{layout = {lay}, pes = {pes}}} : {tt}, {ta}",
            "pe.binary add %a, %a, %a {{pes = {pes}}} : {ta}, {ta}, {ta}",
            "%o = pe.host_out %a {{layout = {lay}, pes = {pes}}} : {ta} -> {tt}",
        ],
    )


SHAPE = (131, 150)  # 78 KiB of float32, padded on both dims on a 4x8 grid


@pytest.mark.parametrize(
    "grid,split,back",
    [
        ((4, 8), ("r", "c"), ((4, 8), ("r", "c"))),  # the same layout: the tiles as they are
        ((4, 8), ("r", "c"), ((8, 4), ("c", "r"))),  # the transposed one: the grid swapped
        ((4, 8), ("c", "r"), ((8, 4), ("r", "c"))),
        ((4, 8), ("r", "c"), ((4, 4), ("r", "c"))),  # another grid: the host array
        ((4, 8), ("r", ""), ((8, 4), ("c", ""))),  # replicated along a mesh axis
        ((4, 8), ("r", "c"), ((4, 8), ("c", "r"))),  # swapped splits on the same grid
    ],
)
@pytest.mark.parametrize("lent", [True, False], ids=["lent", "copied"])
def test_a_device_array_goes_back_as_its_host_array_would(
    sim, grid, split, back, lent, monkeypatch
):
    if not lent:  # no SRAM lent: the tiles are copied out of it
        monkeypatch.setattr(executable, "MAX_LENT_SRAMS", 0)
    rng = np.random.default_rng(5)
    x = rng.standard_normal(SHAPE).astype(np.float32)
    first = sim.plan(_exp_program(sim, SHAPE, grid, split))
    (host,), _ = first.run([x])
    (kept,), _ = first.run([x], keep_tiles=[0])
    assert type(host) is np.ndarray and type(kept) is DeviceArray
    assert kept.shape == SHAPE and kept.dtype == np.float32
    assert (kept.lease is not None) == lent
    # the tiles as a host_in of exp(x) leaves them, padding 0: copied, or lent (the SRAM's
    # tiles, whose padding exp made 1, zeroed there when lent), so that a host_in may read
    # them as they are
    dist = Distribution(SHAPE, grid, split)
    expected = make_scatter(dist)(host).reshape(kept.tiles.shape)
    data = make_scatter(dist)(np.ones(SHAPE, np.float32)).reshape(kept.tiles.shape) == 1
    np.testing.assert_array_equal(np.where(data, kept.tiles, 0), expected)
    assert (~data).any() and not kept.tiles[~data].any()
    second = sim.plan(_sum_program(sim, SHAPE, *back))
    (got,), _, sram_kept = second.run_with_sram([kept])  # (before its values were read)
    (want,), _, sram_host = second.run_with_sram([host])
    assert got.tobytes() == want.tobytes()
    assert sram_kept.tobytes() == sram_host.tobytes()  # every byte, the padding's zeros too
    np.testing.assert_array_equal(got, np.exp(x) * 2)
    assert np.asarray(kept).tobytes() == host.tobytes()  # gathered: the same bits


def _read_once_program(sim, shape, grid, split, reader: str):
    """x -> x * x (`reader` "fused") or each tile transposed (`reader` "transpose": x.T in
    the layout with the splits swapped), the host_in's tiles read by that one step only (so
    `Executable.run` reads them as a view, pyflame/sim/step_access.py)."""
    if reader == "fused":
        line, out, out_split = (
            'pe.fused %e, %a expr "mul.f32($0, $0)" {{pes = {pes}}}',
            shape,
            split,
        )
    else:
        rows, cols = Distribution(shape, grid, split).block
        line = (
            f"pe.transpose %e, %a {{{{shape = array<i64: {rows}, {cols}>, perm = array<i64: 1, "
            "0>, pes = {pes}}}"
        )
        out, out_split = shape[::-1], split[::-1]
    tt_out = sim.tensor(out)
    lay_out = sim.layout(out, grid, out_split)
    body = [
        "pe.host_in %x, %a {{layout = {lay}, pes = {pes}}} : {tt}, {ta}",
        line + " : {ta}, {ta}",
        "%o = pe.host_out %e {{layout = " + lay_out + ", pes = {pes}}} : {ta} -> " + tt_out,
    ]
    return _program(sim, shape, grid, split, body, result=tt_out)


@pytest.mark.parametrize("reader", ["fused", "transpose"])
@pytest.mark.parametrize(
    "back",
    [((4, 8), ("r", "c")), ((8, 4), ("c", "r")), ((4, 4), ("r", "c")), ((4, 8), ("c", "r"))],
    ids=["same", "transposed-grid", "other-grid", "swapped-splits"],
)
@pytest.mark.parametrize("lent", [True, False], ids=["lent", "copied"])
def test_a_host_in_read_by_one_step_reads_a_device_array_s_tiles_in_place(
    sim, reader, back, lent, monkeypatch
):
    """A host_in of a device array whose only reader is a pe.fused or a pe.transpose is not
    written to SRAM: the reader computes from the array's tiles (same layout, or the
    transposed grid; any other layout from its host array), padding zeroed either way; the
    values are those of the host array's run, bit for bit."""
    if not lent:
        monkeypatch.setattr(executable, "MAX_LENT_SRAMS", 0)
    rng = np.random.default_rng(7)
    x = rng.standard_normal(SHAPE).astype(np.float32)
    (kept,), _ = sim.plan(_exp_program(sim, SHAPE, (4, 8), ("r", "c"))).run([x], keep_tiles=[0])
    assert type(kept) is DeviceArray and (kept.lease is not None) == lent
    second = sim.plan(_read_once_program(sim, SHAPE, *back, reader))
    assert any(is_elided(st) for st in second.lean_steps)  # the host_in: a view
    (got,), _ = second.run([kept])
    (want,), _ = second.run([np.exp(x)])
    assert got.tobytes() == want.tobytes()
    e = np.exp(x)
    np.testing.assert_array_equal(got, e * e if reader == "fused" else e.T)


def test_small_outputs_and_unnamed_results_are_host_arrays(sim):
    x = np.ones((8, 8), np.float32)
    small = sim.plan(_exp_program(sim, (8, 8), (2, 2), ("r", "c")))
    (out,), _ = small.run([x], keep_tiles=[0])
    assert type(out) is np.ndarray  # 256 bytes: under DEVICE_ARRAY_BYTES
    assert 8 * 8 * 4 < DEVICE_ARRAY_BYTES
    big = sim.plan(_exp_program(sim, SHAPE, (4, 8), ("r", "c")))
    (out,), _ = big.run([np.ones(SHAPE, np.float32)])
    assert type(out) is np.ndarray


def test_a_gathered_device_array_is_read_as_its_host_array(sim):
    """Once its host array exists, a change to it (in place, as `t.numpy()[...] = v` does) is
    what a host_in reads, never the tiles."""
    x = np.zeros(SHAPE, np.float32)
    first = sim.plan(_exp_program(sim, SHAPE, (4, 8), ("r", "c")))
    (kept,), _ = first.run([x], keep_tiles=[0])
    assert kept.tiles_in(kept.dist) is not None
    kept.numpy()[3, 4] = 5.0
    assert kept.tiles_in(kept.dist) is None
    (got,), _ = sim.plan(_sum_program(sim, SHAPE, (4, 8), ("r", "c"))).run([kept])
    assert got[3, 4] == 10.0 and got[0, 0] == 2.0


def _train(steps: int, keep: bool, mutate: bool = False) -> tuple[list[float], list[np.ndarray]]:
    rng = np.random.default_rng(3)
    x = pf.from_numpy(rng.standard_normal((33, 150)).astype(np.float32))
    y = pf.from_numpy(rng.integers(0, 5, 33).astype(np.int32))
    pf.manual_seed(0)
    model = nn.Sequential(nn.Linear(150, 131), nn.Tanh(), nn.Linear(131, 5))
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    losses = []
    for step in range(steps):
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
        if keep:  # W1 (78 KiB) is held as the tiles the update left
            assert type(model[0].weight._data) is DeviceArray
        if mutate and step == 1:
            model[0].weight.numpy()[:, 7] = 0.5  # in place, as PyTorch's .numpy() shares memory
    return losses, [p.numpy().copy() for p in model.parameters()]


def test_training_with_device_arrays_matches_host_arrays_bit_for_bit(monkeypatch):
    losses, params = _train(4, keep=True)
    monkeypatch.setattr(runtime.Compiled, "run", _without_kept_tiles(runtime.Compiled.run))
    ref_losses, ref_params = _train(4, keep=False)
    assert losses == ref_losses
    assert all(p.tobytes() == r.tobytes() for p, r in zip(params, ref_params, strict=True))
    # a parameter changed in place through .numpy() is what the next step reads
    changed, _ = _train(4, keep=False, mutate=True)
    monkeypatch.undo()
    changed_kept, _ = _train(4, keep=False, mutate=True)
    assert changed_kept == changed and changed[2] != losses[2]


def _without_kept_tiles(run):
    def no_tiles(self, tr, keep_tiles=range(0)):
        return run(self, tr)

    return no_tiles


def test_a_lent_sram_goes_back_when_its_device_arrays_are_gone(sim):
    """Each run lends its SRAM to its device arrays (no copy) while fewer than MAX_LENT_SRAMS
    are lent; the executable takes it back once they are gone (or gathered); past the cap the
    tiles are copied. Values never change."""
    x = np.random.default_rng(1).standard_normal(SHAPE).astype(np.float32)
    ex = sim.plan(_exp_program(sim, SHAPE, (4, 8), ("r", "c")))
    (a,), _ = ex.run([x], keep_tiles=[0])
    (b,), _ = ex.run([x], keep_tiles=[0])
    assert a.lease is not None and b.lease is not None and a.lease is not b.lease
    assert ex._lent_srams == executable.MAX_LENT_SRAMS == 2 and not ex._idle_srams
    (c,), _ = ex.run([x], keep_tiles=[0])  # two lent: copied
    assert c.lease is None and len(ex._idle_srams) == 1
    del a  # (queued: the next run takes it back)
    np.asarray(b)  # gathered: the tiles are not read again, the SRAM goes back too
    assert b.lease is None and len(ex._returned_srams) == 2
    (d,), _ = ex.run([x], keep_tiles=[0])
    assert d.lease is not None and ex._lent_srams == 1 and len(ex._idle_srams) == 2
    for out in (b, c, d):
        np.testing.assert_array_equal(np.asarray(out), np.exp(x))


def test_tiles_a_later_step_changes_are_copied_not_lent(sim):
    """A host output followed by a step that writes its buffer (here a fill of 0 after it):
    the device array copies the tiles (a view would see the zeros)."""
    x = np.random.default_rng(2).standard_normal(SHAPE).astype(np.float32)
    body = [
        "pe.host_in %x, %a {{layout = {lay}, pes = {pes}}} : {tt}, {ta}",
        "pe.unary exp %e, %a {{pes = {pes}}} : {ta}, {ta}",
        "%o = pe.host_out %e {{layout = {lay}, pes = {pes}}} : {ta} -> {tt}",
        "pe.fill %e {{value = 0.0 : f64, pes = {pes}}} : {ta}",
        "%p = pe.host_out %e {{layout = {lay}, pes = {pes}}} : {ta} -> {tt}",
    ]
    ex = sim.plan(_program(sim, SHAPE, (4, 8), ("r", "c"), body, outs=("o", "p")))
    outs, _ = ex.run([x], keep_tiles=[0, 1])
    assert outs[0].lease is None and outs[1].lease is not None  # only the last one lent
    np.testing.assert_array_equal(np.asarray(outs[0]), np.exp(x))
    np.testing.assert_array_equal(np.asarray(outs[1]), np.zeros(SHAPE, np.float32))
