"""Cannon and MeshGEMM (passes/pe_lowering/shift_matmul.py): the rings and their routes, numpy
parity through the whole pipeline with the algorithm forced at the mesh level (odd grids,
sizes that do not divide the grid, batched operands, f16), both simulator fidelities, the pe
IR's shape (loops, fixed routes), and that a corrupted route or send is caught."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest

import pyflame as pf
from pyflame import compiler, tracing
from pyflame.dialects import mesh, pe
from pyflame.dialects.pe import Port
from pyflame.passes.pe_lowering.matmul import set_algorithm
from pyflame.passes.pe_lowering.shift_matmul import (
    cannon,
    folded_ring,
    meshgemm,
    progressions,
    ring_rules,
)
from pyflame.sim.planner import compile_plan

ALGORITHMS = ("cannon", "meshgemm")

pytestmark = pytest.mark.usefixtures("small_target")


def lowered(outputs: list, algorithm: str, fidelity: str = "fast"):
    """(pe module, its inputs) of the traced `outputs` with every mesh.matmul forced to
    `algorithm`."""
    target = dataclasses.replace(pf.sim.SMALL, fidelity=fidelity)
    tr = tracing.trace(outputs, target)
    module = tr.module()
    compiler.lower(module, "mesh")
    assert set_algorithm(module, algorithm) >= 1
    compiler.lower(module, "pe")
    return module, tr.inputs()


def run(outputs: list, algorithm: str, fidelity: str = "fast", exact: bool = False):
    """(outputs, cycles, pe module); `exact`: the fast engine's every step in the plan's order
    (`run_on_sram`, what the wavelet engine matches bit for bit) instead of `run`'s fused
    products (pyflame/sim/fused_products.py)."""
    module, inputs = lowered(outputs, algorithm, fidelity)
    plan = compile_plan(module)
    result, report = plan.run_on_sram(inputs)[:2] if exact else plan.run(inputs)
    return result, report.cycles, module


def arrays(*shapes, seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(dtype) for s in shapes]


# --------------------------------------------------------------------------- rings


@pytest.mark.parametrize("g", range(1, 12))
def test_folded_ring_neighbours_are_at_most_two_apart(g):
    ring = folded_ring(g)
    assert sorted(ring) == list(range(g))
    assert all(abs(ring[x] - ring[x - 1]) <= 2 for x in range(g))


@pytest.mark.parametrize("g", [2, 3, 4, 5, 8, 9])
@pytest.mark.parametrize("forward", [True, False])
def test_folded_ring_puts_one_stream_on_each_link_direction(g, forward):
    rules = ring_rules(folded_ring(g), forward)
    # every PE sends once and receives once; a link direction is entered from one port only
    assert sum(1 for (_, src) in rules if src == Port.RAMP) == g
    assert sum(1 for dst in rules.values() if dst == Port.RAMP) == g
    eastward = [pos for (pos, _), dst in rules.items() if dst == Port.EAST]
    westward = [pos for (pos, _), dst in rules.items() if dst == Port.WEST]
    assert len(set(eastward)) == len(eastward) == g - 1
    assert len(set(westward)) == len(westward) == g - 1


@pytest.mark.parametrize("g", range(1, 40))
def test_alignment_rounds_are_rectangles(g):
    for scheme in (cannon(g), meshgemm(g)):
        scheme.check()  # raises if round r's rotating lines are not one rectangle
        assert scheme.rounds == g // 2


def test_progressions():
    assert progressions([0, 2, 4, 5, 6, 9]) == [(0, 3, 2), (5, 2, 1), (9, 1, 1)]
    assert progressions([3]) == [(3, 1, 1)]


# --------------------------------------------------------------------------- parity


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("g", [1, 2, 3, 4, 5])
def test_matches_numpy_on_sizes_that_do_not_divide(algorithm, g):
    layout = pf.MeshLayout.grid(g, g)
    a, b = arrays((3 * g + 2, 2 * g + 1), (2 * g + 1, 4 * g - 1), seed=g)
    z = pf.from_numpy(a, layout=layout) @ pf.from_numpy(b, layout=layout)
    (out,), _, _ = run([z], algorithm)
    np.testing.assert_allclose(out, a @ b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize(
    "shapes", [((3, 7, 5), (3, 5, 6)), ((3, 7, 5), (5, 6)), ((7, 5), (2, 5, 3))], ids=repr
)
def test_batched(algorithm, shapes):
    layout = pf.MeshLayout.grid(3, 3)
    a, b = arrays(*shapes)
    z = pf.from_numpy(a, layout=layout) @ pf.from_numpy(b, layout=layout)
    (out,), _, _ = run([z], algorithm)
    np.testing.assert_allclose(out, a @ b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_f16_and_a_times_itself(algorithm):
    layout = pf.MeshLayout.grid(3, 3)
    (a,) = arrays((10, 10), dtype=np.float16)
    x = pf.from_numpy(a, layout=layout)
    (out,), _, _ = run([x @ x], algorithm)
    want = (a.astype(np.float32) @ a.astype(np.float32)).astype(np.float16)
    np.testing.assert_allclose(out.astype(np.float32), want, rtol=2e-2, atol=2e-2)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("g", [2, 3, 4])
def test_both_fidelities_agree(algorithm, g):
    layout = pf.MeshLayout.grid(g, g)
    a, b = arrays((4 * g + 1, 3 * g), (3 * g, 2 * g + 1))
    z = pf.from_numpy(a, layout=layout) @ pf.from_numpy(b, layout=layout)
    (fast,), fast_cycles, _ = run([z], algorithm, exact=True)
    (wave,), wave_cycles, _ = run([z], algorithm, fidelity="wavelet")
    np.testing.assert_array_equal(fast, wave)
    (lean,), _, _ = run([z], algorithm)  # fused products: the same to fp32 rounding
    np.testing.assert_allclose(lean, fast, rtol=0, atol=1e-5 * np.abs(fast).max())
    assert abs(fast_cycles - wave_cycles) <= 0.05 * wave_cycles


# --------------------------------------------------------------------------- the pe IR


def ir_counts(algorithm: str, g: int) -> tuple[int, int, int]:
    """(ops other than routes and their loops, pe.route ops, distinct colors) of a g x g
    GEMM's pe IR."""
    layout = pf.MeshLayout.grid(g, g)
    a, b = arrays((2 * g, 2 * g), (2 * g, 2 * g))
    z = pf.from_numpy(a, layout=layout) @ pf.from_numpy(b, layout=layout)
    module, _ = lowered([z], algorithm)
    ops = [op for op in module.walk() if isinstance(op, pe.PEOp | pe.LoopOp)]
    routes = [op for op in ops if isinstance(op, pe.RouteOp)]
    route_loops = {loop for op in routes for loop in op.loops_around()}
    colors = {op.color_id for op in ops if isinstance(op, pe.SendOp)}
    rest = [op for op in ops if not isinstance(op, pe.RouteOp) and op not in route_loops]
    return len(rest), len(routes), len(colors)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_steps_do_not_grow_with_the_grid(algorithm):
    small, large = ir_counts(algorithm, 6), ir_counts(algorithm, 14)
    assert small[0] == large[0]  # rounds and steps are loops
    assert small[2] == large[2] == 4  # A and B: one color each for the steps and the alignment
    # the natural ring's routes are rectangles; the folded ring's differ by row and column
    # parity: a route in a loop over the positions nested in a loop over the lines
    assert small[1] == large[1]


def test_routes_are_never_switched():
    layout = pf.MeshLayout.grid(4, 4)
    a, b = arrays((8, 8), (8, 8))
    z = pf.from_numpy(a, layout=layout) @ pf.from_numpy(b, layout=layout)
    module, _ = lowered([z], "meshgemm")
    seen: dict[tuple, tuple] = {}
    for op in module.walk():
        if isinstance(op, pe.RouteOp):
            loops = op.loops_around()[: len(op.rect_steps)]
            for idx in itertools.product(*[range(loop.trip_count) for loop in loops]):
                r0, c0, nr, nc = op.rect_at(*idx[:1], idx[1:]) if idx else op.rect
                for r in range(r0, r0 + nr):
                    for c in range(c0, c0 + nc):
                        key = (op.color_id, r, c, op.from_port.data)
                        assert seen.setdefault(key, op.outputs) == op.outputs


def test_forced_algorithm_is_printed_and_verified():
    layout = pf.MeshLayout.grid(2, 2)
    a, b = arrays((4, 4), (4, 4))
    z = pf.from_numpy(a, layout=layout) @ pf.from_numpy(b, layout=layout)
    module = tracing.trace([z]).module()
    compiler.lower(module, "mesh")
    set_algorithm(module, mesh.MatmulAlgorithm.MESHGEMM)
    assert "mesh.matmul meshgemm" in str(module)
    with pytest.raises(ValueError):
        set_algorithm(module, "strassen")


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_corrupted_route_or_send_is_caught(algorithm):
    """Mutation check (tests/unit/sim/test_mutations.py): dropping or corrupting any route,
    color or send of the GEMM on 3x3 PEs raises or changes the result."""
    from sim.test_mutations import assert_every_mutant_shows

    layout = pf.MeshLayout.grid(3, 3)
    a, b = arrays((6, 6), (6, 6))
    z = pf.from_numpy(a, layout=layout) @ pf.from_numpy(b, layout=layout)
    module, _ = lowered([z], algorithm)
    text = str(module)
    assert assert_every_mutant_shows(algorithm, text, pf.sim.SMALL.num_colors) > 20


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize(("n", "g"), [(40, 5), (64, 16), (96, 3)])
def test_cost_model_estimate_is_within_five_percent(algorithm, n, g):
    """passes/cost_model/matmul.py's rule for the shift algorithms against the simulator, on
    a mesh-level program (scatter, matmul, gather: no layout choice in between)."""
    from xdsl.parser import Parser

    from pyflame.core.target import TARGET_ATTR
    from pyflame.passes.cost_model import estimate

    t = f"!mesh.tensor<{n}x{n}xf32 on {g}x{g} split [r, c]>"
    text = f"""
builtin.module {{
  func.func @main(%a: tensor<{n}x{n}xf32>, %b: tensor<{n}x{n}xf32>) -> tensor<{n}x{n}xf32> {{
    %0 = mesh.scatter %a : tensor<{n}x{n}xf32> -> {t}
    %1 = mesh.scatter %b : tensor<{n}x{n}xf32> -> {t}
    %2 = mesh.matmul {algorithm} %0, %1 : ({t}, {t}) -> {t}
    %3 = mesh.gather %2 : {t} -> tensor<{n}x{n}xf32>
    func.return %3 : tensor<{n}x{n}xf32>
  }}
}}"""
    module = Parser(compiler.make_context(), text).parse_module()
    module.attributes[TARGET_ATTR] = pf.sim.WSE2.to_attr()
    estimated = sum(e.cost.cycles for e in estimate(module))
    compiler.lower(module, "pe")
    simulated = compile_plan(module).report.cycles
    assert abs(estimated - simulated) <= 0.05 * simulated
