"""place-on-fabric: independent products side by side when the cost model says it pays; the
program keeps numpy's answer, runs in fewer simulated cycles, and the critical path the pass
estimated is within 10% of the simulator's cycles."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from xdsl.parser import Parser

import pyflame as pf
from pyflame import compiler
from pyflame.core.target import Target
from pyflame.dialects import flame, mesh
from pyflame.dialects.mesh import dist_of
from pyflame.passes import place_on_fabric
from pyflame.passes.cost_model.critical_path import critical_path_cycles, function_estimates
from pyflame.passes.layouts import ASSIGNED_ATTR, REASON_ATTR, parse_dist_text

WIDE = dataclasses.replace(pf.sim.SMALL, fabric_cols=32)  # room for two 16x16 grids
SQUARE = dataclasses.replace(pf.sim.SMALL, fabric_rows=32, fabric_cols=32)
rng = np.random.default_rng(5)


def products(n: int, target, consume=None) -> tuple[str, dict, list]:
    """n independent products x_2i @ x_2i+1^T (37x30 each), optionally combined by
    `consume`; the flame text, the inputs and numpy's results. (K = 29 or 31: since SUMMA
    leaves out the steps over K blocks of padding, assign-layouts gives the four products on
    SQUARE the whole fabric each, 3,840 estimated cycles in turn against 4,168 on 16x16: it
    does not foresee place-on-fabric putting those side by side.)"""
    xs = {f"x{i}": rng.standard_normal((37, 30)).astype(np.float32) for i in range(2 * n)}
    refs = [xs[f"x{2 * i}"] @ xs[f"x{2 * i + 1}"].T for i in range(n)]
    with pf.target(target):
        ts = [pf.from_numpy(x, name=k) for k, x in xs.items()]
        ys = [ts[2 * i] @ ts[2 * i + 1].T for i in range(n)]
        outs = [consume(ys)] if consume else ys
        text = pf.ir(*outs, stage="flame")
    if consume:
        refs = [consume(refs)]
    return text, xs, refs


def compiled(text: str, place: bool):
    """The flame module with its layouts assigned, and placed on the fabric if `place`."""
    module = Parser(compiler.make_context(), text).parse_module()
    spec = "decompose,cse,assign-layouts" + (",place-on-fabric" if place else "")
    compiler.run_pipeline(module, spec)
    return module


def to_mesh(module):
    """The rest of the pipeline to mesh (the pipeline from flame would place it again)."""
    compiler.run_pipeline(module, "plan-placement,flame-to-mesh,plan-memory")
    return module


def run(module, inputs, refs) -> int:
    outs, report = compiler.run_module(to_mesh(module), inputs)
    for out, ref in zip(outs, refs, strict=True):
        np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-4)
    return report.cycles


def origins(module) -> list[tuple[int, int]]:
    return [
        parse_dist_text(op.attributes[ASSIGNED_ATTR].data, flame.tensor_shape(op.result)).origin
        for op in module.walk()
        if isinstance(op, flame.MatmulOp)
    ]


def estimated(module) -> int:
    """The critical path the cost model gives `module` (at flame, placed) at mesh."""
    fn = compiler.main_func(to_mesh(module))
    return critical_path_cycles(function_estimates(fn, Target.of_module(module)))


@pytest.mark.parametrize(
    ("n", "target", "expected"),
    [
        (2, WIDE, [(0, 0), (0, 16)]),
        (4, SQUARE, [(0, 0), (0, 16), (16, 0), (16, 16)]),
        (3, WIDE, [(0, 0), (0, 16), (0, 0)]),  # the third does not fit: it waits its turn
    ],
)
@pytest.mark.usefixtures("summa_only")  # with the 2.5D SUMMA, assign-layouts gives each of the
# four products on SQUARE the whole 32x32 fabric (cheaper alone), so they stay in turn
def test_independent_products_go_side_by_side_and_run_faster(n, target, expected):
    text, inputs, refs = products(n, target)
    placed = compiled(text, place=True)
    assert origins(placed) == expected
    in_turn = run(compiled(text, place=False), inputs, refs)
    apart = run(placed, inputs, refs)
    placed_products = len({o for o in expected})
    assert apart < in_turn * (1.15 / placed_products + 0.1)
    assert estimated(compiled(text, place=True)) == pytest.approx(apart, rel=0.10)


def test_the_2_5d_summa_runs_beside_another_product():
    """Off PE (0, 0) the 2.5D SUMMA keeps its plan (it fell back to SUMMA there): the second
    product runs summa25d at (0, 16), numpy's values, faster than the two in turn."""
    text, inputs, refs = products(2, WIDE)
    placed = compiled(text, place=True)
    assert origins(placed) == [(0, 0), (0, 16)]
    algorithms = [
        (op.algorithm.data, dist_of(op.result).origin)
        for op in to_mesh(placed.clone()).walk()
        if isinstance(op, mesh.MatmulOp)
    ]
    assert algorithms == [("summa25d", (0, 0)), ("summa25d", (0, 16))]
    apart = run(placed, inputs, refs)
    in_turn = run(compiled(text, place=False), inputs, refs)
    assert apart < 0.7 * in_turn


def test_the_product_carries_why_it_moved():
    text, _, _ = products(2, WIDE)
    placed = compiled(text, place=True)
    why = [
        op.attributes[REASON_ATTR].data for op in placed.walk() if isinstance(op, flame.MatmulOp)
    ]
    assert why[0] == "matmul"
    assert why[1].startswith("matmul; at (0, 16) beside 1 independent product(s): ")
    assert why[1].endswith(" estimated cycles in turn")


def test_the_results_come_back_together_where_they_meet():
    text, inputs, refs = products(2, WIDE, consume=lambda ys: ys[0] + ys[1])
    placed = compiled(text, place=True)
    assert origins(placed) == [(0, 0), (0, 16)]
    run(placed, inputs, refs)


def test_no_room_or_a_dependence_leaves_the_program_alone():
    text, _, _ = products(2, pf.sim.SMALL)  # 16x16 grids on a 16x16 fabric
    assert origins(compiled(text, place=True)) == [(0, 0), (0, 0)]
    with pf.target(WIDE):
        a = pf.from_numpy(rng.standard_normal((37, 37)).astype(np.float32), name="a")
        text = pf.ir((a @ a) @ a, stage="flame")
    assert origins(compiled(text, place=True)) == [(0, 0), (0, 0)]


def test_a_packing_that_does_not_pay_is_not_kept(monkeypatch):
    monkeypatch.setattr(place_on_fabric, "MIN_GAIN", 0.0)
    text, _, _ = products(2, WIDE)
    placed = compiled(text, place=True)
    assert origins(placed) == [(0, 0), (0, 0)]
    assert "pf.why" in str(placed) and "beside" not in str(placed)


def test_the_pass_leaves_a_module_without_assigned_layouts_alone():
    text, _, _ = products(2, WIDE)
    module = Parser(compiler.make_context(), text).parse_module()
    before = str(module)
    compiler.run_pipeline(module, "place-on-fabric")
    assert str(module) == before
