"""Whole programs: SUMMA, determinism, the Report, and the run-time speed."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from pyflame.core.errors import DeadlockError
from pyflame.sim import fabric, threads
from pyflame.sim.planner import Planner
from pyflame.sim.report import Report


@pytest.mark.parametrize("g,t", [(1, 4), (2, 3), (4, 5)])
def test_summa(sim, rng, g, t):
    n = g * t
    exe = sim.plan(sim.summa(g, t))
    x, y = (rng.standard_normal((n, n)).astype(np.float32) for _ in range(2))
    (o,), report = exe.run([x, y])
    np.testing.assert_allclose(o, x @ y, rtol=1e-4, atol=1e-4)
    assert report.flops == 2 * n**3
    assert report.cycles >= g * t**3  # g steps of t^3 FMACs on every PE
    assert report.pes_used == g * g


def test_summa_with_synchronous_roots_deadlocks_on_back_pressure(sim):
    """Each root receives its own tile: a synchronous send of a tile longer than its path's
    queues waits for a receive that comes after it on the same PE, as on the machine."""
    with pytest.raises(DeadlockError, match=r"PE \(0, 0\) is stalled sending on color 0") as e:
        sim.plan(sim.summa(2, 3, synchronous_roots=True))
    assert ((0, 0), 0) in e.value.waiting
    # tiles that fit in the queues (2x2 f32: 4 wavelets, a path holds at least 6) do not stall
    sim.plan(sim.summa(2, 2, synchronous_roots=True))


def test_plan_memory_does_not_keep_every_message(sim, rng, monkeypatch):
    """A 20-step SUMMA: the planner keeps at most TRACE_CACHE_ENTRIES route traces and drops the
    per-delivery arrays of every fully received send; the program still computes x @ y."""
    monkeypatch.setattr(fabric, "TRACE_CACHE_ENTRIES", 4)
    planner = Planner(sim.parse(sim.summa(20, 2)))
    exe = planner.plan()
    s = planner.schedule
    assert len(s.batches) == 2 * 20  # an A and a B broadcast per step
    assert len(s.routes._cache) == 4
    assert all(b.pending == 0 and b.stream is None and b.src_lr.size == 0 for b in s.batches)
    x, y = (rng.standard_normal((40, 40)).astype(np.float32) for _ in range(2))
    (o,), _ = exe.run([x, y])
    np.testing.assert_allclose(o, x @ y, rtol=1e-4, atol=1e-4)


def test_a_rings_steps_share_their_index_arrays(rng):
    """Cannon on 16x16: every step's receive reads its ring neighbours with the same index,
    kept once, and a rotation's index is a column and a row that broadcast (720x720 kept two
    (rows, cols) arrays per step and alignment round: the plan ran out of memory at 13 GB).
    The program still computes x @ y."""
    import pyflame as pf
    from pyflame import compiler, runtime
    from pyflame.passes.pe_lowering.matmul import set_algorithm

    x, y = (rng.standard_normal((96, 96)).astype(np.float32) for _ in range(2))
    with pf.target(pf.sim.SMALL):
        module = runtime._program_module(
            (pf.from_numpy(x, layout=pf.MeshLayout.grid(16, 16)) @ pf.from_numpy(y),)
        )
    compiler.lower(module, "mesh")
    assert set_algorithm(module, "cannon")
    compiler.lower(module, "pe")
    planner = Planner(module)
    exe = planner.plan()
    kept = [a for arrays in planner.schedule.index_arrays.values() for a in arrays]
    assert kept and all(not a.flags.writeable for a in kept)
    # one index per ring and alignment round, not one per step: ~2 per round of the g // 2
    # alignment rounds (a round rotates rows by different amounts: full (rows, cols) arrays)
    # plus the rings' (a rotation of every line alike: a column and a row that broadcast)
    assert len(kept) <= 2 * 16 + 8, [a.shape for a in kept]
    assert sum(a.size for a in kept) <= 16 * 16 * 20
    (o,), _ = exe.run([x, y])
    np.testing.assert_allclose(o, x @ y, rtol=1e-4, atol=1e-4)


def test_interned_index_arrays_are_one_object_per_content():
    from pyflame.sim.schedule import Schedule

    s = Schedule(pf_target())
    a, b = np.arange(12).reshape(3, 4), np.arange(12).reshape(3, 4)
    c = np.arange(12).reshape(4, 3)
    assert s.interned(a) is a and s.interned(b) is a and s.interned(c) is c
    assert not a.flags.writeable


def pf_target():
    import pyflame as pf

    return pf.sim.SMALL


def test_summa_on_threads(sim, rng, monkeypatch):
    monkeypatch.setattr(threads, "PARALLEL_FMACS", 1)
    monkeypatch.setattr(threads, "thread_count", lambda: 3)
    exe = sim.plan(sim.summa(4, 3))
    x, y = (rng.standard_normal((12, 12)).astype(np.float32) for _ in range(2))
    (o,), _ = exe.run([x, y])
    np.testing.assert_allclose(o, x @ y, rtol=1e-4, atol=1e-4)


def test_determinism(sim, rng):
    text = sim.summa(4, 4)
    a, b = sim.plan(text), sim.plan(text)
    assert a.report.cycles == b.report.cycles
    np.testing.assert_array_equal(a.report.busy_cycles, b.report.busy_cycles)
    np.testing.assert_array_equal(a.report.wavelets, b.report.wavelets)
    x, y = (rng.standard_normal((16, 16)).astype(np.float32) for _ in range(2))
    (o1,), r1 = a.run([x, y])
    (o2,), r2 = a.run([x, y])
    np.testing.assert_array_equal(o1, o2)
    assert r1 is r2 is a.report  # timing is data-independent: one report per executable


def test_report_outputs(sim, tmp_path):
    exe = sim.plan(sim.summa(4, 4))
    report = exe.report
    assert isinstance(report, Report)
    assert report.target == "small"
    assert report.seconds == pytest.approx(report.cycles / 850e6)
    assert report.busy_cycles.shape == (4, 4) and report.busy_cycles.dtype == np.int64
    assert report.sram_peak_bytes.shape == (4, 4)
    assert int(report.sram_peak_bytes.max()) == 5 * 16 * 4
    assert report.wavelets.shape == (4, 4, 4)
    assert 0 < report.utilisation <= 1
    pe_rc, direction, count = report.busiest_link()
    assert (
        count
        == report.wavelets.max()
        == report.wavelets[pe_rc][("north", "south", "east", "west").index(direction)]
    )
    text = report.summary()
    for word in (
        "cycles",
        "seconds",
        "io cycles",
        "PEs used",
        "utilisation",
        "SRAM peak",
        "busiest link",
    ):
        assert word in text
    data = json.loads(report.to_json())
    assert data["cycles"] == report.cycles and data["flops"] == report.flops
    assert np.array_equal(np.array(data["wavelets"]), report.wavelets)
    assert np.array_equal(np.array(data["busy_cycles"]), report.busy_cycles)
    path = report.plot(tmp_path / "report.png")
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_report_plot_ticks_are_whole_pes(sim):
    """Issue 8 item 22: imshow's default ticks fall at half-PE positions (-0.5, 0.5, ...) on a
    small grid; every visible tick must name a whole PE row or column."""
    from pyflame.sim.report import Report

    for rows, cols in ((1, 2), (2, 3), (5, 7), (16, 16)):
        report = Report(
            target="SMALL",
            cycles=1,
            seconds=1e-9,
            io_cycles=0,
            flops=0,
            busy_cycles=np.arange(rows * cols).reshape(rows, cols),
            sram_peak_bytes=np.zeros((rows, cols)),
            wavelets=np.zeros((rows, cols, 4)),
        )
        fig = report.figure()
        fig.canvas.draw()
        heatmaps = [a for a in fig.axes if a.get_title() and "timeline" not in a.get_title()]
        assert len(heatmaps) == 6  # (and the timeline panel, whose x axis is cycles)
        for ax in heatmaps:  # not the colorbars
            for axis, (lo, hi) in ((ax.xaxis, ax.get_xlim()), (ax.yaxis, ax.get_ylim())):
                lo, hi = min(lo, hi), max(lo, hi)
                ticks = [t for t in axis.get_ticklocs() if lo <= t <= hi]
                assert ticks, (rows, cols, ax.get_title())
                assert all(float(t).is_integer() for t in ticks), (rows, cols, ticks)
                assert all(0 <= t < (cols if axis is ax.xaxis else rows) for t in ticks)


def test_a_failing_step_names_its_op_line(sim):
    """Issue 8 item 18: an exception inside a step at run time is a SimulationError naming the
    op's source line (and carrying the op for the tools), not a bare numpy traceback."""
    from pyflame.core.errors import SimulationError

    b = sim.Body()
    b.alloc("a", (0, 0, 1, 1), 4)
    b.op(
        f"pe.fill %a {{value = 1.0 : f64, pes = {sim.pes((0, 0, 1, 1))}}} : {b.t('a')}"
        ' loc("model.py":7:2)'
    )
    exe = sim.plan(sim.program(b.text()))
    assert [what for what, _ in exe.step_ops] == ["pe.fill at model.py:7"] * len(exe.steps)

    def broken(V, F, A, O):
        raise ValueError("operands could not be broadcast together")

    exe.steps[-1] = broken  # what run_on_sram runs
    exe.run_steps[-1] = (len(exe.steps) - 1, broken)  # what run runs (dead transfers left out)
    with pytest.raises(SimulationError) as err:
        exe.run([])
    assert str(err.value).startswith("pe.fill at model.py:7: the simulator failed on this op")
    assert "ValueError: operands could not be broadcast" in str(err.value)
    assert err.value.op.name == "pe.fill"


def test_report_of_a_program_without_messages(sim):
    b = sim.Body()
    b.alloc("a", (0, 0, 1, 1), 4)
    b.op(f"pe.fill %a {{value = 1.0 : f64, pes = {sim.pes((0, 0, 1, 1))}}} : {b.t('a')}")
    report = sim.plan(sim.program(b.text())).report
    assert report.busiest_link() is None
    assert "none" in report.summary()
    json.loads(report.to_json())


def test_execution_order_follows_program_order_where_possible(sim):
    """A receive waiting on a later send does not hold back ops on other PEs."""
    b = sim.Body()
    b.alloc("a", (0, 0, 1, 2), 4)
    b.op(sim.route(0, (0, 0, 1, 1), "ramp", ["east"]))
    b.op(sim.route(0, (0, 1, 1, 1), "west", ["ramp"]))
    b.op(f"pe.recv %a {{color = 0 : i64, pes = {sim.pes((0, 1, 1, 1))}}} : {b.t('a')}")
    b.op(f"pe.fill %a {{value = 1.0 : f64, pes = {sim.pes((0, 0, 1, 1))}}} : {b.t('a')}")
    b.op(f"pe.send %a {{color = 0 : i64, pes = {sim.pes((0, 0, 1, 1))}}} : {b.t('a')}")
    exe = sim.plan(sim.program(b.text()))
    kinds = [w.split()[0] for w in exe.order if not w.startswith("pe.route")]
    assert kinds == ["pe.fill", "pe.send", "pe.recv"]


@pytest.mark.slow
def test_summa_32x32_runs_close_to_numpy(sim, rng):
    """1024^3 SUMMA on 32x32 PEs: the run must stay well under 10x numpy's a @ b."""
    exe = sim.plan(sim.summa(32, 32))
    x, y = (rng.standard_normal((1024, 1024)).astype(np.float32) for _ in range(2))
    (o,), _ = exe.run([x, y])
    np.testing.assert_allclose(o, x @ y, rtol=1e-3, atol=1e-3)

    def best(f, k=5):
        times = []
        for _ in range(k):
            t0 = time.perf_counter()
            f()
            times.append(time.perf_counter() - t0)
        return min(times)

    ratio = best(lambda: exe.run([x, y])) / best(lambda: x @ y)
    assert ratio < 10, f"simulation is {ratio:.1f}x numpy"
