"""passes/cost_model/data_movement.py: the exchange link clock works a leg at a time (links
stored skewed by the hop latency); phase by phase it must give the cycles of the replay one
hop at a time that it replaced, on exchanges between layouts of odd shapes, grids that do not
divide them, several splits and origins. Phases whose messages share links are walked together
(pyflame/core/link_sharing.py) as the simulator walks them: the estimate is the simulator's."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

import pyflame as pf
from pyflame import compiler
from pyflame.core import link_sharing, vector_costs
from pyflame.core.distribution import Distribution
from pyflame.core.exchange_plan import anchor, exchange_phases, xy_hops
from pyflame.core.vector_costs import CostKind
from pyflame.dialects import mesh
from pyflame.passes.cost_model import data_movement, estimate
from pyflame.passes.cost_model.data_movement import exchange_clock, idle_links
from pyflame.passes.cost_model.registry import CostContext
from pyflame.sim.planner import compile_plan


def hop_by_hop_clock(ctx, ds, dd, elem_bytes, clock, busy=None):
    """The replay as it was first written: a dict entry per link, a Python step per hop, the
    elements of each message counted over every element (and, since session 14, a source
    stalled by a busy destination as data_movement.py has it)."""
    plan = exchange_phases(ds, dd, None)
    gr, gc = dd.grid
    (r0, c0), (a0, a1) = dd.origin, anchor(ds, dd)
    local = plan.local.sum(axis=2)
    if plan.has_local_part:
        copy = vector_costs.op_cycles(
            ctx.target, CostKind.EXCHANGE_LOCAL, local, elem_bytes=elem_bytes
        )[0]
        clock[r0 : r0 + gr, c0 : c0 + gc] += np.where(local > 0, copy, 0)
    R, C = clock.shape
    rows = np.broadcast_to(np.arange(gr)[:, None, None] + r0, plan.has_src.shape)
    cols = np.broadcast_to(np.arange(gc)[None, :, None] + c0, plan.has_src.shape)
    moved = plan.has_src
    keys = ((plan.src_row[moved] + ds.origin[0]) * C + plan.src_col[moved] + ds.origin[1]) * (
        R * C
    ) + (rows[moved] * C + cols[moved])
    uniq, counts = np.unique(keys, return_counts=True)
    elems_of = dict(zip(uniq.tolist(), counts.tolist(), strict=True))
    t = ctx.target
    links_free: dict = dict(busy or {})  # (row, col, direction) -> free from
    for phase in plan.phases:
        msgs = [(a + a0, b + a1, c + a0, d + a1) for (a, b), (c, d) in phase.messages]
        w = [
            -(-elems_of.get((a * C + b) * (R * C) + c * C + d, 0) * elem_bytes // 4)
            for a, b, c, d in msgs
        ]
        begin = clock.copy()
        tail = np.zeros_like(clock)
        ingest = np.zeros_like(clock)
        queued = np.zeros_like(clock)  # wavelets waiting for a busy destination so far
        for i in sorted(range(len(msgs)), key=lambda i: (int(clock[msgs[i][0], msgs[i][1]]), i)):
            a, b, c, d = msgs[i]
            links = [
                ((r, col, out), k)
                for k, (r, col, _, out) in enumerate(xy_hops((a, b), (c, d)))
                if out != "ramp"
            ]
            offset = [t.ramp_latency_cycles + k * t.hop_latency_cycles for _, k in links]
            start = int(clock[a, b])
            for (link, _), off in zip(links, offset, strict=True):
                start = max(start, links_free.get(link, 0) - off)
            for (link, _), off in zip(links, offset, strict=True):
                links_free[link] = start + off + w[i]
            clock[a, b] = start + w[i]
            head = start + ctx.latency(len(links))
            if begin[c, d] > head:  # (session 14) the source stalls for what its path cannot hold
                q = min(w[i], int(begin[c, d]) - head)
                queued[c, d] += q
                cap = t.ce_queue_wavelets + (len(links) + 1) * t.router_queue_wavelets
                if queued[c, d] > cap:
                    late = int(begin[c, d] + queued[c, d] - cap - t.router_queue_wavelets)
                    clock[a, b] = max(start + w[i], late + t.hop_latency_cycles)
            tail[c, d] = max(tail[c, d], start + ctx.latency(len(links)) + w[i])
            ingest[c, d] += w[i]
        got = np.zeros(clock.shape, dtype=bool)
        for _, _, c, d in msgs:
            got[c, d] = True
        done = np.maximum(tail, begin + ingest)
        clock[got] = np.maximum(clock[got], done[got]) + ctx.wake
    return clock


CASES = [
    ((100, 70), ((7, 5), ("r", "c"), (0, 0)), ((16, 16), ("r", "c"), (0, 0))),
    ((64, 64), ((5, 3), ("c", "r"), (0, 0)), ((13, 11), ("r", "c"), (0, 0))),
    ((37, 129), ((1, 1), ("", ""), (0, 0)), ((6, 6), ("r", "c"), (0, 0))),
    ((37, 129), ((6, 6), ("r", "c"), (0, 0)), ((1, 1), ("", ""), (0, 0))),
    ((64, 64), ((4, 4), ("r", "c"), (0, 0)), ((4, 4), ("c", "r"), (0, 0))),
    ((300,), ((3, 8), ("rc",), (0, 0)), ((8, 3), ("c",), (0, 0))),
    ((50, 50), ((4, 4), ("r", "c"), (2, 3)), ((6, 5), ("r", "c"), (0, 1))),
    ((50, 50), ((4, 4), ("r", "c"), (9, 0)), ((6, 5), ("c", "r"), (0, 7))),
]


@pytest.mark.parametrize("shape,src,dst", CASES)
@pytest.mark.parametrize("target", [pf.sim.WSE2, pf.sim.SMALL], ids=["wse2", "small"])
def test_link_clock_by_legs_is_the_hop_by_hop_replay(shape, src, dst, target):
    ds, dd = Distribution(shape, *src), Distribution(shape, *dst)
    ctx = CostContext(target)
    rows = max(d.origin[0] + d.grid[0] for d in (ds, dd))
    cols = max(d.origin[1] + d.grid[1] for d in (ds, dd))
    rng = np.random.default_rng(len(shape) + rows)
    start = rng.integers(0, 50, (rows, cols)).astype(np.int64)  # PEs busy until then
    plan = exchange_phases(ds, dd, None)
    assert plan.phases
    expected = hop_by_hop_clock(ctx, ds, dd, 4, start.copy())
    links = idle_links(start.shape, target.hop_latency_cycles)
    got, phases = exchange_clock(ctx, ds, dd, None, 4, start.copy(), links, share_links=False)
    assert phases == len(plan.phases)
    np.testing.assert_array_equal(got, expected)
    assert got.max() > start.max()


@pytest.mark.parametrize("shape,src,dst", CASES)
def test_link_clock_waits_for_busy_links_as_the_replay_does(shape, src, dst):
    """Links still busy with earlier traffic (random links, random times) hold messages back
    the same way in both (in a single exchange from idle links they seldom bind)."""
    ds, dd = Distribution(shape, *src), Distribution(shape, *dst)
    ctx = CostContext(pf.sim.WSE2)
    hop = ctx.target.hop_latency_cycles
    rows = max(d.origin[0] + d.grid[0] for d in (ds, dd))
    cols = max(d.origin[1] + d.grid[1] for d in (ds, dd))
    rng = np.random.default_rng(rows * cols)
    links = idle_links((rows, cols), hop)
    busy = {}
    skew = {"east": (0, -1), "west": (0, 1), "south": (-1, 0), "north": (1, 0)}
    for way, (by_row, by_col) in skew.items():
        for r, c in zip(
            rng.integers(0, rows, rows * cols), rng.integers(0, cols, rows * cols), strict=True
        ):
            free = int(rng.integers(0, 6000))
            busy[(int(r), int(c), way)] = free
            links[way][r, c] = free + hop * (by_row * r + by_col * c)
    start = np.zeros((rows, cols), dtype=np.int64)
    expected = hop_by_hop_clock(ctx, ds, dd, 4, start.copy(), busy)
    got, _ = exchange_clock(ctx, ds, dd, None, 4, start.copy(), links, share_links=False)
    np.testing.assert_array_equal(got, expected)
    idle = hop_by_hop_clock(ctx, ds, dd, 4, start.copy())
    assert (expected != idle).any()  # the busy links held something back


def test_idle_links_are_free_at_zero():
    """A link's stored value plus the skew of its position is when it is free: 0 for all."""
    links = idle_links((3, 5), 2)
    cols, rows = np.arange(5)[None, :], np.arange(3)[:, None]
    np.testing.assert_array_equal(links["east"] + 2 * cols, 0)
    np.testing.assert_array_equal(links["west"] - 2 * cols, 0)
    np.testing.assert_array_equal(links["south"] + 2 * rows, 0)
    np.testing.assert_array_equal(links["north"] - 2 * rows, 0)


def _bench():
    """benchmarks/cost_model.py (its mesh programs: scatter, the op, gather)."""
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "cost_model.py"
    spec = importlib.util.spec_from_file_location("cost_model_bench", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


#: (source, destination) of redistributions whose phases' messages share links on several
#: colors at once (transpositions, an all-to-all, bf16, odd shapes and grids)
SHARED = [
    (("48x40", "4x4", "r, c"), ("48x40", "4x4", "c, r")),
    (("37x53", "3x5", "r, c"), ("37x53", "5x3", "c, r")),
    (("30x29", "4x4", "r, c"), ("30x29", "4x4", "c, _")),
    (("64x64", "8x8", "r, c", "bf16"), ("64x64", "8x8", "c, r", "bf16")),
]


def _redistribution(module) -> int:
    data_movement._exchange_cost_of.cache_clear()
    (move,) = [e for e in estimate(module) if isinstance(e.op, mesh.RedistributeOp)]
    return move.cycles


@pytest.mark.parametrize("src,dst", SHARED, ids=lambda t: " ".join(t))
def test_phases_sharing_links_are_estimated_as_the_simulator_times_them(src, dst, monkeypatch):
    """The estimate walks the phases together, as the simulator does: the same cycles. Phase
    after phase (each message reserving its path whole, as before session 28) it was off."""
    bench = _bench()
    module = bench._mesh_program("mesh.redistribute %a", [bench._t(*src)], bench._t(*dst))
    compiler.lower(module, "mesh")
    estimated = _redistribution(module)
    with monkeypatch.context() as patch:
        patch.setattr(link_sharing, "MAX_RUN_MESSAGES", 0)  # a run too large to walk
        alone = _redistribution(module)
    data_movement._exchange_cost_of.cache_clear()
    compiler.lower(module, "pe")
    assert estimated == compile_plan(module).report.cycles
    assert alone != estimated
