"""The progress line of a long plan (pyflame/core/progress.py): shown when asked or on a
terminal for a big plan, counting every op the plan runs, silent otherwise."""

from __future__ import annotations

import io

import numpy as np
import pytest

import pyflame as pf
from pyflame import compiler, tracing
from pyflame.core import progress as plan_progress
from pyflame.sim.planner import Planner, _ops_to_run


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _summa_module(g: int):
    """A GEMM on g x g PEs (a SUMMA loop of g steps), lowered to pe."""
    a = np.ones((4 * g, 4 * g), np.float32)
    layout = pf.MeshLayout.grid(g, g)
    tr = tracing.trace([pf.from_numpy(a, layout=layout) @ pf.from_numpy(a, layout=layout)])
    return compiler.lower(tr.module(), "pe")


def test_shown_when_asked_or_on_a_terminal_for_a_big_plan(monkeypatch):
    big, small = plan_progress.MIN_OPS, plan_progress.MIN_OPS - 1
    monkeypatch.delenv(plan_progress.ENV, raising=False)
    assert plan_progress.wanted(big, _Terminal())
    assert not plan_progress.wanted(small, _Terminal())
    assert not plan_progress.wanted(big, io.StringIO())  # a log: only when asked
    monkeypatch.setenv(plan_progress.ENV, "1")
    assert plan_progress.wanted(small, io.StringIO())
    monkeypatch.setenv(plan_progress.ENV, "0")
    assert not plan_progress.wanted(big, _Terminal())


def test_counts_every_op_the_plan_runs(monkeypatch):
    """The total (a loop's body once per iteration) is the number of ops the plan runs, and
    the last line says so."""
    monkeypatch.setenv(plan_progress.ENV, "1")
    out = io.StringIO()
    monkeypatch.setattr("sys.stderr", out)
    planner = Planner(_summa_module(6))
    planner.plan()
    progress = planner.progress
    assert progress is not None
    total = _ops_to_run(planner.program)
    assert total > 6 * 4  # the loop's iterations, not its body once
    assert progress.done == progress.total == total
    assert out.getvalue().splitlines()[-1].startswith(f"planned 6x6 PEs: {total:,} ops in ")


def test_a_line_says_how_far_and_how_long_is_left():
    progress = plan_progress.PlanProgress(1000, "720x720 PEs", io.StringIO())
    progress.done = 250
    line = progress.line(progress._start + 130)
    assert line == "planning 720x720 PEs: 250 of 1,000 ops (25%), 2m 10s, about 6m 30s left"


def test_a_failed_plan_ends_its_line(monkeypatch):
    monkeypatch.setenv(plan_progress.ENV, "1")
    out = _Terminal()
    monkeypatch.setattr("sys.stderr", out)
    planner = Planner(_summa_module(3))
    monkeypatch.setattr(planner, "_plan_all", lambda: (_ for _ in ()).throw(MemoryError))
    with pytest.raises(MemoryError):
        planner.plan()
    assert out.getvalue().endswith("\n")


def test_silent_for_a_small_plan(monkeypatch, capfd):
    monkeypatch.delenv(plan_progress.ENV, raising=False)
    planner = Planner(_summa_module(3))
    planner.plan()
    assert planner.progress is None
    assert "planning" not in capfd.readouterr().err


def test_a_long_pass_is_named_while_it_runs_and_a_quick_one_not():
    """A pass still running after the quiet time is named by the timer (a long flame-to-mesh
    shows while it runs), then how long it took; quick passes say nothing."""
    import time
    from types import SimpleNamespace

    out = io.StringIO()
    progress = plan_progress.PassProgress(out, quiet=0.05)
    slow, quick = SimpleNamespace(name="flame-to-mesh"), SimpleNamespace(name="cse")
    progress(None, None, quick)
    progress(quick, None, slow)
    time.sleep(0.3)
    assert out.getvalue() == "compiling: flame-to-mesh ...\n"  # (not a terminal: lines)
    progress(slow, None, None)
    lines = out.getvalue().splitlines()
    assert lines[-1].startswith("compiling: flame-to-mesh ... 0s")
    assert "cse" not in out.getvalue()


def test_the_compiler_names_its_passes_when_asked(monkeypatch, capfd):
    from pyflame import compiler
    from pyflame.core import progress

    monkeypatch.setenv(plan_progress.ENV, "1")
    monkeypatch.setattr(progress, "PASS_QUIET", 0.0)
    compiler.lower(tracing.trace([pf.from_numpy(np.ones((4, 4), np.float32)) * 2]).module(), "mesh")
    assert "compiling: decompose ..." in capfd.readouterr().err
