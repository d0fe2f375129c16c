"""2.5D SUMMA (`mesh.matmul summa25d`, passes/pe_lowering/layered_matmul.py): numpy parity
through the whole pipeline with the algorithm forced at the mesh level (2, 3, 4 and 6 layers,
sizes that do not divide the grid, rectangular operands, f16), both simulator fidelities, the
plan's choice of layers within SRAM and colors, the layer-selective routes, the cost rule
against the simulator, and flame-to-mesh's choice by cost."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import pyflame as pf
from pyflame import compiler, tracing
from pyflame.core.distribution import Distribution
from pyflame.dialects import mesh
from pyflame.dialects.mesh import dist_of
from pyflame.dialects.pe import Port
from pyflame.passes import scratch
from pyflame.passes.cost_model.registry import CostContext, rule_for
from pyflame.passes.pe_lowering.layered_matmul import layer_col_broadcast
from pyflame.passes.pe_lowering.matmul import set_algorithm
from pyflame.passes.scratch import LayeredPlan, layered_plan
from pyflame.sim.planner import compile_plan

pytestmark = [
    pytest.mark.usefixtures("small_target"),
    pytest.mark.filterwarnings("ignore:.*layout hint"),
]


def lowered(a: np.ndarray, b: np.ndarray, g: int, fidelity: str = "fast"):
    target = dataclasses.replace(pf.sim.SMALL, fidelity=fidelity)
    lay = pf.MeshLayout.grid(g, g)
    tr = tracing.trace([pf.from_numpy(a, layout=lay) @ pf.from_numpy(b, layout=lay)], target)
    module = tr.module()
    compiler.lower(module, "mesh")
    assert set_algorithm(module, "summa25d") == 1
    compiler.lower(module, "pe")
    return module, tr.inputs()


def run(a: np.ndarray, b: np.ndarray, g: int, fidelity: str = "fast"):
    module, inputs = lowered(a, b, g, fidelity)
    result, report = compile_plan(module).run(inputs)
    return np.asarray(result[0]), report.cycles, module


def arrays(*shapes, seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(dtype) for s in shapes]


def force_plan(monkeypatch, **plan) -> None:
    """Every 2.5D SUMMA takes a LayeredPlan of its blocks with `plan` (layers, splits, ...),
    in the lowering and in the cost model alike."""
    from pyflame.passes.pe_lowering import layered_matmul, matmul

    def plan_for(op, target):
        a, b = dist_of(op.lhs), dist_of(op.rhs)
        (m, k), n = a.block, b.block[1]
        return LayeredPlan(a.grid[0], m, k, n, **plan)

    monkeypatch.setattr(layered_matmul, "plan_for", plan_for)  # (the cost model's)
    monkeypatch.setattr(matmul, "plan_for", plan_for)  # (the lowering's)


def assert_every_run_matches(module, inputs, a, b, g) -> None:
    """The exact SRAM run and the fast and wavelet engines give a @ b; the wavelet engine's
    data is the exact run's bit for bit."""
    (exact,), _, _ = compile_plan(module).run_on_sram(inputs)
    np.testing.assert_allclose(exact, a @ b, rtol=1e-4, atol=1e-4)
    fast, _, _ = run(a, b, g)
    wave, _, _ = run(a, b, g, fidelity="wavelet")
    np.testing.assert_allclose(fast, a @ b, rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(wave, exact)


@pytest.mark.parametrize(
    ("m", "k", "n", "g"),
    [
        (8, 8, 8, 2),  # 2 layers, one step per layer
        (64, 64, 64, 2),  # 32x32 tiles: steps split in two pieces to fit the SRAM
        (124, 124, 124, 4),  # 31x31 tiles: two pieces, 16 and 15 columns wide
        (13, 13, 13, 3),  # 3 layers, padding in every dim
        (37, 29, 23, 4),  # rectangular, nothing divides the grid
        (50, 40, 30, 6),
    ],
)
def test_matches_numpy(m, k, n, g):
    a, b = arrays((m, k), (k, n))
    out, _, module = run(a, b, g)
    np.testing.assert_allclose(out, a @ b, rtol=1e-4, atol=1e-4)
    assert "summa25d_acc" in str(module)  # the 2.5D lowering ran, not a SUMMA fallback


def test_f16_matches_numpy():
    a, b = arrays((24, 20), (20, 28), dtype=np.float16)
    out, _, _ = run(a, b, 4)
    ref = a.astype(np.float32) @ b.astype(np.float32)
    np.testing.assert_allclose(out.astype(np.float32), ref, rtol=2e-2, atol=5e-2)


@pytest.mark.parametrize(("n", "g"), [(8, 2), (21, 3), (32, 4)])
def test_both_fidelities_agree(n, g):
    """The wavelet engine's data is the fast engine's step-by-step SRAM run bit for bit; the
    lean run (each layer's products one GEMM) within fp32 rounding of it."""
    a, b = arrays((n, n), (n, n), seed=3)
    module, inputs = lowered(a, b, g, "fast")
    (exact,), _, _ = compile_plan(module).run_on_sram(inputs)
    fast, fast_cycles, _ = run(a, b, g)
    wave, wave_cycles, _ = run(a, b, g, fidelity="wavelet")
    np.testing.assert_array_equal(exact, wave)
    np.testing.assert_allclose(fast, exact, rtol=0, atol=1e-5 * float(np.abs(exact).max()))
    assert abs(wave_cycles / fast_cycles - 1) < 0.05


def test_plan_for_1024_on_32x32_fits_with_longer_vectors():
    a = Distribution((1024, 1024), (32, 32), ("r", "c"))
    spare = 45_056 - 4 * 3 * 32 * 32  # usable SRAM less A's, B's and C's tiles
    plan = layered_plan(a, a, 4, spare, colors=21)
    assert plan == LayeredPlan(32, 32, 32, 32, layers=2, splits=2)
    assert plan.peak_elems() * 4 <= spare
    assert plan.steps == 32 and plan.width == 16
    # one step more per K block would not be needed; one fewer would not fit
    assert LayeredPlan(32, 32, 32, 32, 2, 1).peak_elems() * 4 > spare


def test_a_prime_block_is_cut_into_pieces_of_two_widths():
    """k = 31 (23040^2 on 750x750): 31 one-column steps were the only split dividing k; two
    pieces of 16 and 15 columns fit as well, each with receive buffers of its own width."""
    a = Distribution((31 * 32, 31 * 32), (32, 32), ("r", "c"))
    spare = 45_056 - 4 * 3 * 31 * 31
    plan = layered_plan(a, a, 4, spare, colors=21)
    assert plan == LayeredPlan(32, 31, 31, 31, layers=2, splits=2)
    assert plan.widths == (16, 15) and plan.offsets == (0, 16) and plan.width == 16
    assert plan.steps == 32 and plan.peak_elems() * 4 <= spare
    # even splits: each parity always takes the same piece
    assert plan.receive_buffers() == {(0, 16): "0", (1, 15): "1w15"}
    # odd splits: both parities take both widths
    odd = LayeredPlan(8, 7, 11, 5, layers=2, splits=3)
    assert odd.widths == (4, 4, 3) and odd.offsets == (0, 4, 8)
    assert set(odd.receive_buffers()) == {(0, 4), (1, 4), (0, 3), (1, 3)}
    sizes = odd.buffers()
    assert sizes["a0"] == 2 * 7 * 4 and sizes["a1w3"] == 2 * 7 * 3 and sizes["b0w3"] == 3 * 5
    assert sum(sizes[f"panel{h}"] for h in range(3)) == sizes["panel"]


@pytest.mark.parametrize("splits", [2, 3, 5])
def test_uneven_pieces_match_numpy(monkeypatch, splits):
    """Pieces whose widths differ (k = 13 in 2, 3 and 5 steps per K block), both fidelities:
    every step multiplies its own piece's columns into the accumulator exactly once."""
    from pyflame.dialects import pe

    force_plan(monkeypatch, layers=2, splits=splits)
    a, b = arrays((52, 52), (52, 52), seed=splits)
    module, inputs = lowered(a, b, 4)
    ks = {op.mkn[1] for op in module.walk() if isinstance(op, pe.MatmulAccOp)}
    assert ks == set(LayeredPlan(4, 13, 13, 13, 2, splits).widths) and len(ks) == 2
    assert_every_run_matches(module, inputs, a, b, 4)


@pytest.mark.parametrize("elem_bytes", [4, 2])
def test_b_pieces_and_accumulator_blocks_are_sent_as_windows(monkeypatch, elem_bytes):
    """B's rows [o, o + w) of a piece and the accumulator's row blocks are runs of elements:
    the steps send them as windows of their buffers and the reduction adds into one, instead
    of packed copies (no bpiece / chunk buffers, no pe.pack of B), where the run starts on a
    32-bit wavelet. A plan of 2-byte elements at odd offsets (13 x 13 blocks) copies them
    first: forced here on f32 data (half products take SUMMA) to run that lowering too."""
    from pyflame.dialects import pe

    force_plan(monkeypatch, layers=2, splits=2, elem_bytes=elem_bytes)
    plan = LayeredPlan(4, 13, 13, 13, layers=2, splits=2, elem_bytes=elem_bytes)
    windowed = elem_bytes == 4
    assert plan.b_windowed is windowed and plan.chunks_windowed is windowed
    a, b = arrays((52, 52), (52, 52), seed=5)
    module, inputs = lowered(a, b, 4)
    text = str(module)
    assert ("summa25d_bpiece0" in text) is not windowed
    assert ("summa25d_chunk1" in text) is not windowed
    windows = [op for op in module.walk() if isinstance(op, pe.SendOp) and op.window is not None]
    assert bool(windows) is windowed
    packs = sum(isinstance(op, pe.PackOp) for op in module.walk())
    assert packs == (2 + 1 if windowed else 2 + 2 + 2)  # A's pieces; B's; the blocks
    assert_every_run_matches(module, inputs, a, b, 4)


def test_the_plan_search_stops_early_only_when_nothing_fits():
    """Every split from 1 to k is tried until one fits; a layer count is skipped at once only
    when neither one piece (no panel copy for pieces) nor one-column pieces (the least
    receive buffers) fit: skinny B (n = 1), where only the unsplit plan fits, keeps it."""
    a = Distribution((256, 256), (2, 2), ("r", "c"))  # 128x128 blocks
    b = Distribution((256, 2), (2, 2), ("r", "c"))  # 128x1 blocks
    one = LayeredPlan(2, 128, 128, 1, layers=2, splits=1)
    spare = one.peak_elems() * 4
    assert LayeredPlan(2, 128, 128, 1, 2, 128).peak_elems() * 4 > spare
    assert layered_plan(a, b, 4, spare, colors=21) == one
    assert layered_plan(a, b, 4, spare - 4, colors=21) is None


def test_plan_needs_a_layer_count_dividing_the_grid_and_colors():
    a = Distribution((35, 35), (7, 7), ("r", "c"))
    assert layered_plan(a, a, 4, 40_000, colors=21) is None  # 7 is prime
    b = Distribution((36, 36), (6, 6), ("r", "c"))
    assert layered_plan(b, b, 4, 40_000, colors=8) is None  # 2 layers need 9 channels
    assert layered_plan(b, b, 4, 40_000, colors=9).layers == 2
    batched = Distribution((2, 36, 36), (6, 6), ("", "r", "c"))
    assert layered_plan(batched, batched, 4, 40_000, colors=21) is None


def test_layer_broadcast_delivers_to_its_layer_only():
    g, layers = 8, 4
    rules = layer_col_broadcast(g, [1, 5], layer=1, layers=layers)
    ramps = {r0 for (r0, _, _, _), _, dst in rules if Port.RAMP in dst}
    assert ramps == {1, 5}
    # streams end at the last receiver: nothing goes south of row 5 nor north of row 1
    for (r0, _, _, _), src, dst in rules:
        assert not (r0 == 5 and Port.SOUTH in dst)
        assert not (r0 == 1 and Port.NORTH in dst)
        assert src != Port.NORTH or r0 > 1


def test_gemm_ir_has_layer_loops():
    a, b = arrays((32, 32), (32, 32))
    module, _ = lowered(a, b, 4)
    text = str(module)
    # the rows of a layer run their receive and matmul in a loop over the row groups
    assert (
        "pes_step = array<i64: 2, 0, 0, 0>" in text or "pes_step = array<i64: 4, 0, 0, 0>" in text
    )
    assert "combine sum" in text  # the reduction ring adds


def test_gemm_ir_does_not_grow_with_the_grid_side(monkeypatch):
    """Issue 10, deliverable 5: the steps are a pe.loop over the periods of the buffer parity
    and the pieces (the row-group loops nested in it), and a multicast's routes are route
    loops along the line: the pe IR depends on the layers and pieces, not on g."""
    from pyflame.dialects import pe

    monkeypatch.setattr(scratch, "LAYER_CHOICES", (2,))  # (12 would take 3 layers)
    counts: dict[int, set[int]] = {}
    for g in (12, 16):  # 2 layers, 6 and 8 steps (fewer: spelled out)
        a, b = arrays((4 * g, 4 * g), (4 * g, 4 * g))
        module, _ = lowered(a, b, g)
        ops = list(module.walk())
        steps = [op for op in ops if isinstance(op, pe.LoopOp) and op.trip_count > 1]
        assert any(isinstance(o, pe.LoopOp) for s in steps for o in s.body.block.ops), g
        layers = next(
            op.properties["shape"].get_values()[0]  # type: ignore[union-attr]
            for op in ops
            if isinstance(op, pe.UnpackOp)
        )
        counts.setdefault(int(layers), set()).add(len(ops))
    assert len(counts) == 1 and len(next(iter(counts.values()))) == 1, counts


@pytest.mark.parametrize(("n", "g"), [(64, 4), (96, 12), (256, 8), (124, 4)])  # 124: 16 + 15
def test_cost_rule_within_ten_percent_of_the_simulator(n, g):
    a = np.zeros((n, n), np.float32)
    lay = pf.MeshLayout.grid(g, g)
    target = pf.sim.get_target()
    tr = tracing.trace([pf.from_numpy(a, layout=lay) @ pf.from_numpy(a, layout=lay)], target)
    module = tr.module()
    compiler.lower(module, "mesh")
    set_algorithm(module, "summa25d")
    fn = next(op for op in module.walk() if op.name == "func.func")
    op = next(op for op in module.walk() if isinstance(op, mesh.MatmulOp))
    estimate = rule_for(op)(op, CostContext.of_function(fn, target)).cycles
    compiler.lower(module, "pe")
    cycles = compile_plan(module).report.cycles
    assert abs(estimate / cycles - 1) < 0.10, (estimate, cycles)


def algorithm_chosen(n: int, g: int) -> str:
    a = np.zeros((n, n), np.float32)
    lay = pf.MeshLayout.grid(g, g)
    outputs = [pf.from_numpy(a, layout=lay) @ pf.from_numpy(a, layout=lay)]
    module = tracing.trace(outputs, pf.sim.WSE2).module()  # 32x32 PEs: more than SMALL has
    compiler.lower(module, "mesh")
    (op,) = [op for op in module.walk() if isinstance(op, mesh.MatmulOp)]
    return str(op.algorithm.data.value)


def test_flame_to_mesh_chooses_by_cost():
    assert algorithm_chosen(1024, 32) == "summa25d"  # 0.913 against SUMMA's 0.862
    assert algorithm_chosen(256, 8) == "summa"  # 8 steps: the gather and reduction do not pay
