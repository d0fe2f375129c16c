"""Plan memory grows with the number of PEs, not with PEs times steps: the planner keeps the
transfers in flight, not every completion and token it ever made (docs/simulator.md, "Scale")."""

from __future__ import annotations

import gc
import tracemalloc

import numpy as np
import pytest

import pyflame as pf
from pyflame import compiler, tracing
from pyflame.passes.pe_lowering.matmul import set_algorithm
from pyflame.sim import fabric
from pyflame.sim.planner import compile_plan
from pyflame.sim.streams import Completion


def _gemm_module(g: int, algorithm: str):
    """A GEMM with 8x8 tiles on g x g PEs (g SUMMA steps) by `algorithm`, lowered to pe."""
    n = 8 * g
    a = np.zeros((n, n), np.float32)
    layout = pf.MeshLayout.grid(g, g)
    tr = tracing.trace([pf.from_numpy(a, layout=layout) @ pf.from_numpy(a, layout=layout)])
    module = tr.module()
    compiler.lower(module, "mesh")
    assert set_algorithm(module, algorithm) == 1
    return compiler.lower(module, "pe")


def _plan_peak_bytes(g: int, algorithm: str) -> int:
    """Peak bytes allocated while planning `_gemm_module(g, algorithm)`."""
    module = _gemm_module(g, algorithm)
    tracemalloc.start()
    try:
        compile_plan(module)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.slow  # two plans under tracemalloc per algorithm: ~8 s of CPU each
@pytest.mark.parametrize(("algorithm", "per_pe_kib"), [("summa", 5.0), ("summa25d", 8.5)])
def test_plan_memory_grows_with_the_pes_not_the_steps(algorithm, per_pe_kib, monkeypatch):
    """Doubling the grid side gives 4x the PEs and 2x the SUMMA steps: the plan's peak grows
    about 4x (measured 3.5x; keeping every receive's completion, as before, gave 5.2x and
    5.4 KiB per PE at 64x64, then 2.2 KiB; 2.9 KiB in session 9). The 2.5D SUMMA, the cost
    model's choice for this GEMM since session 8, keeps more colors' rule uses and steps per PE
    (`fabric.RuleUses`, a loop's iterations): 3.2x and 4.8 KiB per PE at 64x64 (session 9).
    The algorithm is forced, so each bound stays about the algorithm it was measured on.
    Measured with the route-trace cache of those sessions (16 traces): since session 12 it
    keeps up to `fabric.TRACE_CACHE_BYTES` (64 MiB, a constant: a barrier's chains re-trace
    after every switch), which at 64x64 would be most of the peak. Session 21: 4.15x and 4.3
    KiB per PE (SUMMA), 4.13x and 7.0 KiB (2.5D): the plan keeps more per PE than in session 9 (link
    schedules, arrival order, the timeline), still in proportion to the PEs."""
    monkeypatch.setattr(fabric, "TRACE_CACHE_ENTRIES", 16)
    small, large = _plan_peak_bytes(32, algorithm), _plan_peak_bytes(64, algorithm)
    assert large / small < 4.4
    assert large / (64 * 64) < per_pe_kib * 1024


@pytest.mark.parametrize("algorithm", ["summa", "summa25d"])
def test_a_finished_plan_keeps_no_completions(algorithm):
    """Every completion (a transfer's per-PE clocks, three arrays over its rectangle) is
    dropped once settled; a run-time step that kept its op's Item would keep its loop
    iteration's frame and every completion in it (the loop-fission merge did, session 9:
    plan memory grew 5x for 4x the PEs, caught only by the slow test above)."""
    plan = compile_plan(_gemm_module(8, algorithm))
    gc.collect()
    assert not [o for o in gc.get_objects() if isinstance(o, Completion)]
    assert plan.steps
