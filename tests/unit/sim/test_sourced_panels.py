"""Sourced panels (pyflame/sim/sourced_panels.py): a fused SUMMA run whose operands all come
through send view -> stash -> step reads them from the senders' tiles at its last step, one
step instead of three per SUMMA step; its outputs are bit for bit those of the same fused run
filled step by step, cycles are the plan's, and a run whose sent tiles may change keeps its
steps."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from planned import plan

import pyflame as pf
from pyflame import runtime
from pyflame.passes.flame_lowering import gemv
from pyflame.sim import executable as executable_module
from pyflame.sim import row_items
from pyflame.sim.row_items import as_items


def _sourced(exe) -> int:
    return sum("_sourced_run" in getattr(s, "__qualname__", "") for _, s in exe.run_steps)


def _product(m, k, n, g, algorithm, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)
    lay = pf.MeshLayout.grid(*g)
    return a, b, [pf.from_numpy(a, layout=lay) @ pf.from_numpy(b, layout=lay)]


@pytest.mark.parametrize("algorithm", ["summa", "summa25d", "cannon", "meshgemm"])
@pytest.mark.parametrize(
    ("m", "k", "n", "g"), [(37, 51, 23, (4, 4)), (100, 64, 9, (8, 8)), (21, 70, 33, (3, 5))]
)
def test_sourced_runs_give_the_bits_of_the_step_by_step_fill(algorithm, m, k, n, g, monkeypatch):
    monkeypatch.setattr(gemv, "SKINNY_MAX", 0)  # n = 9: a matmul, not the GEMV lowering
    a, b, outputs = _product(m, k, n, g, algorithm, seed=m + k + n)
    try:
        exe, args = plan(outputs, algorithm)
    except Exception as err:  # (an algorithm that does not take this grid: not this test's)
        pytest.skip(f"{algorithm} on {g}: {err}")
    (got,), report = exe.run(args)
    (again,), _ = exe.run(args)  # a pooled SRAM: the same bits
    monkeypatch.setattr(executable_module, "sourced_panels", lambda r, p, b: list(r))
    plain, _ = plan(outputs, algorithm)
    assert _sourced(plain) == 0
    (want,), plain_report = plain.run(args)
    assert got.tobytes() == again.tobytes() == want.tobytes()
    assert report.cycles == plain_report.cycles
    np.testing.assert_allclose(got.reshape(m, n), a @ b, rtol=1e-4, atol=1e-4)
    # the broadcasts of a SUMMA are what the pass reads through (2.5D: its layers read parts
    # of one received view; on 4x4 PEs each layer has one step, no run)
    if algorithm == "summa" or (algorithm == "summa25d" and g == (8, 8)):
        assert _sourced(exe) >= 1
        assert len(exe.run_steps) < len(plain.run_steps)
    # a sourced step names what it touches (the later passes read it): the accumulator first,
    # then the buffers its operands are read from (none for operands read from host inputs)
    for _, step in exe.run_steps:
        if "_sourced_run" in getattr(step, "__qualname__", ""):
            operands = step.operands
            assert len(operands) >= 1 and len(set(operands)) == len(operands)


def test_the_mlp_step_runs_its_summa_as_one_step_and_trains_the_same():
    rng = np.random.default_rng(2)
    xs = rng.standard_normal((64, 784)).astype(np.float32)
    ys = rng.integers(0, 10, 64).astype(np.int32)

    def losses(sourced: bool) -> tuple[list[float], list[np.ndarray], int, int]:
        pf.cache_clear()
        pf.manual_seed(0)
        model = pf.nn.Sequential(pf.nn.Linear(784, 256), pf.nn.ReLU(), pf.nn.Linear(256, 10))
        opt = pf.optim.SGD(model.parameters(), lr=0.01)
        x, y = pf.from_numpy(xs), pf.from_numpy(ys)
        out = []
        for _ in range(3):
            loss = pf.nn.functional.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            out.append(loss.item())
        params = [p.numpy().copy() for p in model.parameters()]
        (compiled,) = runtime._cache.values()
        return out, params, pf.last_report().cycles, _host_ins(compiled.program)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(executable_module, "sourced_panels", lambda r, p, b: list(r))
        want = losses(False)
    got = losses(True)
    pf.cache_clear()
    assert got[0] == want[0] and got[2] == want[2]
    assert all(p.tobytes() == q.tobytes() for p, q in zip(got[1], want[1], strict=True))
    # the forward reads W1 where the last update left it (the device array's [r, c] tiles,
    # on the transposed grid) and the batch from a scratch array: their host_ins left out
    assert got[3] <= want[3] - 2


def _host_ins(exe) -> int:
    return sum("host_in" in getattr(s, "__qualname__", "") for _, s in exe.run_steps)


def test_a_host_input_read_by_another_step_too_is_written():
    """The sourced run reads its host inputs' tiles instead of the SRAM their host_ins would
    write, and those host_ins are left out, unless another step reads those bytes (here B,
    read by the product and by B * 2): then B's host_in writes them. Another argument at the
    next run, another product (the tiles are read again at every run)."""
    rng = np.random.default_rng(6)
    a = rng.standard_normal((37, 51)).astype(np.float32)
    b = rng.standard_normal((51, 23)).astype(np.float32)
    lay = pf.MeshLayout.grid(4, 4)
    B = pf.from_numpy(b, layout=lay)
    exe, args = plan([pf.from_numpy(a, layout=lay) @ B, B * 2.0], "summa")
    alone, _ = plan([pf.from_numpy(a, layout=lay) @ pf.from_numpy(b, layout=lay)], "summa")
    assert _sourced(exe) == _sourced(alone) == 1
    assert _host_ins(exe) == 1 and _host_ins(alone) == 0
    for scale in (1.0, -3.0):
        inputs = [x * np.float32(scale) for x in args]
        (product, twice), _ = exe.run(inputs)
        (product_alone,), _ = alone.run(inputs)
        want = (a * scale) @ (b * scale)
        np.testing.assert_allclose(product.reshape(37, 23), want, rtol=1e-4, atol=1e-4)
        assert product.tobytes() == product_alone.tobytes()
        np.testing.assert_array_equal(twice.reshape(51, 23), b * scale * 2)


def test_a_changed_operand_changes_the_sourced_product():
    """The last step reads the operands from SRAM on every run: another argument, another
    product (nothing is kept from an earlier run)."""
    rng = np.random.default_rng(3)
    a, b = (rng.standard_normal((48, 48)).astype(np.float32) for _ in range(2))
    lay = pf.MeshLayout.grid(4, 4)
    exe, args = plan([pf.from_numpy(a, layout=lay) @ pf.from_numpy(b, layout=lay)], "summa")
    assert _sourced(exe) >= 1
    (first,), _ = exe.run(args)
    other = [np.array(x, copy=True) for x in args]
    other[0][9, 2] += 1.0  # one element of A: row 9 of the product changes
    (second,), _ = exe.run(other)
    changed = np.argwhere(first.reshape(48, 48) != second.reshape(48, 48))
    assert set(changed[:, 0]) == {9} and len(changed) > 40
    np.testing.assert_allclose(second.reshape(48, 48), other[0] @ other[1], rtol=1e-4, atol=1e-4)
    # the second run read the views derived on the first (the same pooled SRAM): stacked
    (sram,) = exe._idle_srams
    derived, *_ = sram.views.derived.values()
    assert all(x is not None and y is not None for _, _, _, x, y in derived.parts)


def test_a_run_whose_sent_tiles_are_overwritten_keeps_its_steps():
    """Cannon shifts its operands in place: a tile sent at one step is overwritten by the
    next one's receive, so its run cannot read the tiles at its end (and is not sourced)."""
    rng = np.random.default_rng(4)
    a, b = (rng.standard_normal((32, 32)).astype(np.float32) for _ in range(2))
    lay = pf.MeshLayout.grid(4, 4)
    exe, args = plan([pf.from_numpy(a, layout=lay) @ pf.from_numpy(b, layout=lay)], "cannon")
    assert _sourced(exe) == 0
    (got,), _ = exe.run(args)
    np.testing.assert_allclose(got.reshape(32, 32), a @ b, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("width", [1, 3, 4, 13, 16, 17])
def test_rows_moved_as_items_are_the_same_bytes(width):
    rng = np.random.default_rng(width)
    block = rng.standard_normal((5, 6, 7 * width + 3)).astype(np.float32)
    part = block[:, 1:5, 2 : 2 + 3 * width]  # strided rows of `width` lanes
    items = as_items(part, width)
    if width * 4 > row_items.SHORT_ROW_BYTES or width == 1:
        assert items is None  # (rows of one float: numpy's float copy is the faster)
        out = np.empty((4, 5, 3 * width), np.float32)
        row_items.copy_rows(out, part.transpose(1, 0, 2), width)
        assert out.tobytes() == np.ascontiguousarray(part.transpose(1, 0, 2)).tobytes()
        return
    assert items is not None and items.shape == (5, 4, 3)
    out = np.empty((4, 5, 3 * width), np.float32)
    np.copyto(as_items(out, width), items.transpose(1, 0, 2))
    assert out.tobytes() == np.ascontiguousarray(part.transpose(1, 0, 2)).tobytes()


@pytest.mark.parametrize(("k", "m", "n", "g"), [(48, 40, 36, (4, 4)), (30, 21, 17, (3, 5))])
def test_a_transposed_summa_reads_its_broadcast_tiles_as_views(k, m, n, g, monkeypatch):
    """A.T @ B with A stored [k, m]: PE (i, j) takes A's tile (s, i) at step s, a source col
    that follows the receiving row (pyflame/sim/affine_gather.py). The sourced run reads
    those tiles as views of the senders' SRAM, derived once per SRAM (not copied per run),
    and gives the step-by-step fill's bits."""
    rng = np.random.default_rng(k + m + n)
    a = rng.standard_normal((k, m)).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)
    lay = pf.MeshLayout.grid(*g)
    outputs = [pf.from_numpy(a, layout=lay).T @ pf.from_numpy(b, layout=lay)]
    assert "transpose_a" in pf.ir(*outputs, stage="mesh")
    exe, args = plan(outputs)
    assert _sourced(exe) == 1
    (got,), report = exe.run(args)
    (again,), _ = exe.run(args)
    (sram,) = exe._idle_srams
    assert len(sram.views.derived) == 1  # derived on the first run, read on the second
    monkeypatch.setattr(executable_module, "sourced_panels", lambda r, p, b: list(r))
    plain, _ = plan(outputs)
    (want,), plain_report = plain.run(args)
    assert got.tobytes() == again.tobytes() == want.tobytes()
    assert report.cycles == plain_report.cycles
    np.testing.assert_allclose(got.reshape(m, n), a.T @ b, rtol=1e-4, atol=1e-4)


def test_a_host_input_two_runs_read_is_scattered_once_per_run(monkeypatch):
    """A @ B and A @ C: both sourced runs read A's host tiles, made once per run (the MLP's
    batch, read by the forward and the weight gradient, is scattered once), and each run
    makes them anew (another A, other products)."""
    from pyflame.sim import sourced_panels

    made: list[int] = []
    received = sourced_panels._host_received

    def counting(run_steps, planned, h):
        rec = received(run_steps, planned, h)
        stand_in = rec.stand_in

        def counted(V, F, A, order):
            made.append(h)
            return stand_in(V, F, A, order=order)

        return dataclasses.replace(rec, stand_in=counted)

    monkeypatch.setattr(sourced_panels, "_host_received", counting)
    rng = np.random.default_rng(7)
    a = rng.standard_normal((37, 51)).astype(np.float32)
    b = rng.standard_normal((51, 23)).astype(np.float32)
    c = rng.standard_normal((51, 29)).astype(np.float32)
    lay = pf.MeshLayout.grid(4, 4)
    shared = pf.from_numpy(a, layout=lay)
    outputs = [shared @ pf.from_numpy(b, layout=lay), shared @ pf.from_numpy(c, layout=lay)]
    exe, args = plan(outputs, "summa")
    assert _sourced(exe) == 2 and _host_ins(exe) == 0
    for scale in (1.0, 2.0):
        made.clear()
        inputs = [x * np.float32(scale) for x in args]
        (ab, ac), _ = exe.run(inputs)
        assert len(made) == 3 and len(set(made)) == 3  # A once, B and C once each
        np.testing.assert_allclose(ab.reshape(37, 23), (a * scale) @ (b * scale), atol=1e-4)
        np.testing.assert_allclose(ac.reshape(37, 29), (a * scale) @ (c * scale), atol=1e-4)
