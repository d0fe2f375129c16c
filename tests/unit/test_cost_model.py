"""The cost model (passes/cost_model/) against the simulator: every case of the corpus
(benchmarks/cost_model.py: single-op programs for every mesh op at several grids, shapes and
element types, the full-grid sums, conv2d, the MLP steps, a transformer block, the 1024^3 GEMM)
is estimated at the mesh level and planned by the simulator; the estimate must be within 10%
(issue 11's bar)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

import pyflame as pf
import pyflame.nn.functional as F
from pyflame import compiler, tracing
from pyflame.core import vector_costs
from pyflame.dialects import mesh
from pyflame.passes.cost_model import (
    COST_RULES,
    CostContext,
    NoCostRule,
    estimate,
    estimate_barriers,
    estimate_program,
    summary_table,
)
from pyflame.passes.cost_model.barriers import barrier_cycles
from pyflame.passes.cost_model.collectives import chain_allreduce_cycles
from pyflame.sim import costs

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "cost_model.py"


def _bench():
    spec = importlib.util.spec_from_file_location("cost_model_bench", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


bench = _bench()
QUICK = list(bench.corpus(quick=True))
BIG = [c for c in bench.corpus() if c.name not in {q.name for q in QUICK}]


def _check(case) -> None:
    out = bench.compare(case)
    print(
        f"{case.name}: estimated {out.estimated:,}, simulated {out.simulated:,} ({out.error:+.1%})"
    )
    assert out.simulated > 0
    assert abs(out.error) <= bench.TOLERANCE, (
        f"{case.name}: estimated {out.estimated:,} vs simulated {out.simulated:,} "
        f"({out.error:+.1%})"
    )


@pytest.fixture(scope="module")
def outcomes():
    return [bench.compare(case) for case in QUICK]


#: cases the cost model is known to miss by more than 10%, why, and what would mend it:
#: reported by the test, not asserted (it says when one agrees again)
KNOWN_GAPS: dict[str, str] = {}


def test_quick_corpus_within_ten_percent(outcomes):
    """Every quick case within 10% but the KNOWN_GAPS (printed); prints the worst."""
    worst = max(outcomes, key=lambda o: abs(o.error))
    print(f"worst: {worst.name}: {worst.error:+.1%} ({worst.estimated:,} vs {worst.simulated:,})")
    for o in outcomes:
        if o.name in KNOWN_GAPS:
            state = (
                "now within 10%: delete it from KNOWN_GAPS"
                if abs(o.error) <= bench.TOLERANCE
                else "known gap"
            )
            print(f"{state}: {o.name}: {o.estimated:,} vs {o.simulated:,} ({o.error:+.1%})")
    assert set(KNOWN_GAPS) <= {o.name for o in outcomes}
    bad = [o for o in outcomes if abs(o.error) > bench.TOLERANCE and o.name not in KNOWN_GAPS]
    assert not bad, "\n".join(
        f"{o.name}: {o.estimated:,} vs {o.simulated:,} ({o.error:+.1%})" for o in bad
    )
    # most single-op programs are exact: the rules charge what the simulator charges (the
    # collectives' line-plan estimates, pyflame.core.collectives.estimate, are within 10% but not
    # yet cycle-exact: 74 of 105 exact with them, 88 before)
    exact = sum(o.estimated == o.simulated for o in outcomes)
    assert exact >= 0.7 * len(outcomes)


@pytest.mark.slow
@pytest.mark.parametrize("case", BIG, ids=lambda c: c.name)
def test_big_programs_within_ten_percent(case):
    """The full-grid sum on 64x64, the GEMM 1024^3 on 32x32, conv2d's benchmark, the MLP
    784-256-10 step (whose 152 barriers the estimate counts on a lowered copy), a transformer
    block."""
    _check(case)


def test_corpus_covers_every_mesh_op(outcomes):
    """Every mesh op with a cost rule appears in the quick corpus (so each rule is checked)."""
    seen = {type(e.op) for o in outcomes for e in o.ops}
    assert {cls for cls, _ in COST_RULES} <= seen


def test_every_mesh_op_has_a_rule():
    ops = {
        cls
        for name, cls in vars(mesh).items()
        if isinstance(cls, type)
        and name.endswith("Op")
        and not name.startswith("_")
        and cls.__module__ == mesh.__name__
    }
    assert ops <= {cls for cls, _ in COST_RULES}


def test_simulator_charges_the_same_table():
    """The simulator's cost module is the shared table, not a copy."""
    assert costs.op_cycles is vector_costs.op_cycles
    assert costs.WORK is vector_costs.WORK


def test_chain_allreduce_formula():
    """chain(n, B) for one f32 word over 2 PEs on WSE2: send issue 5, one stage of latency 5,
    B = 1 absorbed, wake 10; back: issue 5, latency 5, 1, wake 10."""
    ctx = CostContext(pf.sim.WSE2)
    assert chain_allreduce_cycles(ctx, 1, 100, 4) == 0
    assert chain_allreduce_cycles(ctx, 2, 1, 4) == 42
    # each further PE: one more hop of latency (5), a CE forward (2), one hop back (1)
    assert chain_allreduce_cycles(ctx, 3, 1, 4) - chain_allreduce_cycles(ctx, 2, 1, 4) == 8
    # each further wavelet: streamed in and streamed back
    assert chain_allreduce_cycles(ctx, 4, 101, 4) - chain_allreduce_cycles(ctx, 4, 1, 4) == 200


def test_barrier_cycles():
    ctx = CostContext(pf.sim.WSE2)
    assert barrier_cycles(ctx, 1, 1) == 0
    # 16x16: two one-word gathers of 16 (5 + 4 + 15 + 1 + 10 = 35 each) and the multicast
    # back over 30 hops (5 + 34 + 1 + 10 = 50)
    assert barrier_cycles(ctx, 16, 16) == 2 * 35 + 50
    # over more than 64x64 PEs the rows and the column chain their words (a stage per PE):
    # 128x128: two chains of 128 (5 + 127*5 + 126*2 + 1 + 10 = 903) and 254 hops back
    assert barrier_cycles(ctx, 128, 128) == 2 * 903 + (5 + 4 + 254 + 1 + 10)


def _mesh(build, target=pf.sim.WSE2):
    with pf.sim.target(target):
        module = tracing.trace(build()).module()
    return compiler.lower(module, "mesh")


def test_summa_sram_and_algorithm():
    """Double-buffered SUMMA holds the result and two pairs of receive tiles."""
    lay = pf.MeshLayout.grid(4, 4)
    module = _mesh(
        lambda: [
            pf.from_numpy(bench._arr(64, 64), layout=lay)
            @ pf.from_numpy(bench._arr(64, 64), layout=lay)
        ]
    )
    (mm,) = [e for e in estimate(module) if isinstance(e.op, mesh.MatmulOp)]
    assert mm.algorithm == "summa (double-buffered)"
    tile = 16 * 16 * 4
    assert mm.cost.sram_bytes == tile + 2 * (tile + tile)


def test_unknown_algorithm_is_refused():
    lay = pf.MeshLayout.grid(2, 2)
    module = _mesh(
        lambda: [
            pf.from_numpy(bench._arr(8, 8), layout=lay)
            @ pf.from_numpy(bench._arr(8, 8), layout=lay)
        ]
    )
    (mm,) = [op for op in module.walk() if isinstance(op, mesh.MatmulOp)]
    key = (mesh.MatmulOp, "summa")
    rule = COST_RULES.pop(key)
    try:
        with pytest.raises(NoCostRule, match="no cost rule for mesh.matmul with algorithm 'summa'"):
            estimate(module)
    finally:
        COST_RULES[key] = rule
    assert mm is not None


def test_summary_table_lists_ops_and_total():
    lay = pf.MeshLayout.grid(2, 2)
    module = _mesh(lambda: [pf.from_numpy(bench._arr(40, 40), layout=lay).exp().sum()])
    estimates = estimate(module)
    table = summary_table(estimates, estimate_barriers(module))
    lines = table.splitlines()
    assert lines[0].split()[:3] == ["op", "algorithm", "cycles"]
    assert any(
        line.startswith("mesh.unary") and "8 pass(es) over 400 elements" in line for line in lines
    )
    # a sum only the host reads: a reduce to PE (0, 0), no broadcast back
    assert any(line.startswith("mesh.reduce") and "chain" in line for line in lines)
    total = sum(e.cycles for e in estimates)
    assert lines[-1].startswith("total") and f"{total:,}" in lines[-1]


def test_why_attribute_is_shown():
    """A pass that chose an op's layout may say why in `pf.why`; the table shows it."""
    from xdsl.dialects.builtin import StringAttr

    lay = pf.MeshLayout.grid(2, 2)
    module = _mesh(lambda: [pf.from_numpy(bench._arr(8, 8), layout=lay).exp()])
    (op,) = [op for op in module.walk() if isinstance(op, mesh.UnaryOp)]
    op.attributes["pf.why"] = StringAttr("hint at line 3")
    (e,) = [e for e in estimate(module) if e.op is op]
    assert e.why == "hint at line 3"
    line = next(x for x in summary_table([e]).splitlines() if x.startswith("mesh.unary"))
    assert line.endswith("; why: hint at line 3") and "8x8xf32 on 2x2 split [r, c]" in line


def test_estimate_program_totals():
    lay = pf.MeshLayout.grid(2, 2)
    module = _mesh(lambda: [pf.from_numpy(bench._arr(40, 40), layout=lay).exp().sum()])
    program = estimate_program(module)
    assert program.barriers.barriers == 0
    assert program.cycles == sum(e.cycles for e in program.ops) > 0
    assert program.io_cycles > 0
    # the exp's result: a 20x20 f32 tile
    assert program.sram_peak_bytes == 20 * 20 * 4
    assert estimate_program(module, barriers=False).cycles == program.cycles


def test_mask_pads_most_padding_is_counted_per_pe_not_per_element():
    """The PE with the most padding, from each dim's block part below the dim's size: equal to
    the count over every element's global coordinates on odd shapes and every split, and a
    2**31-element tensor costs a (rows, cols) array, not 16 GiB of coordinates."""
    import itertools

    from pyflame.core.distribution import Distribution
    from pyflame.core.exchange_plan import global_coords
    from pyflame.passes.cost_model.compute import most_padding

    checked = 0
    for shape in [(7,), (9, 13), (37, 29), (5, 1), (3, 4, 5), (1,), (0, 3)]:
        for grid in [(1, 1), (2, 3), (4, 4), (3, 1), (1, 5)]:
            for split in itertools.product(["r", "c", "", "rc"], repeat=len(shape)):
                if len(set("".join(split))) != len("".join(split)):
                    continue
                d = Distribution(shape, grid, split)
                _, valid = global_coords(d)
                expected = int((~valid).sum(axis=2).max()) if valid.size else 0
                assert most_padding(d) == expected, (shape, grid, split)
                checked += 1
    assert checked > 250
    huge = Distribution((2**31,), (750, 750), ("rc",))
    # 3818 per PE, 141,352 padding elements in all: the last PEs hold nothing else
    assert huge.local_elems * 750 * 750 - 2**31 > huge.local_elems
    assert most_padding(huge) == huge.local_elems


def test_half_floats_pack_convolve_and_pool_at_their_element_size():
    """A float16 convolution's halo and window packs move 2-byte elements and its FMACs run
    at the fp16 lane count, in the simulator as in the cost model (the simulator charged both
    as float32 until session 22: a 2.5D SUMMA of float16 operands was 9% slower than
    estimated, and choose-matmuls picked it over a faster SUMMA)."""

    def conv(dtype):
        x = bench._on((2, 6, 13, 11), (3, 4), dtype)
        w = pf.from_numpy(bench._arr(7, 6, 3, 3, seed=1))
        return [F.avg_pool2d(F.conv2d(x, w if dtype is None else w.to(dtype), padding=1), 2)]

    cycles = {}
    for dtype in (None, pf.float16):
        out = bench.compare(bench.Case("conv", lambda dtype=dtype: conv(dtype), pf.sim.SMALL))
        assert abs(out.error) <= 0.05, (dtype, out.estimated, out.simulated)
        cycles[dtype] = out.simulated
    assert cycles[pf.float16] < 0.75 * cycles[None], cycles
