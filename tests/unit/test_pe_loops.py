"""pe.loop (dialects/pe.py): repeated steps stay loops in the pe IR. SUMMA and chain stages
lower to loops whose size does not grow with the grid side, and the planner runs a loop body
per iteration from one reading: the looped program and its unrolled spelling (unroll-pe-loops)
give identical outputs, cycles and reports."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp
from xdsl.parser import Parser

from pyflame import compiler
from pyflame.core.target import SMALL, TARGET_ATTR, Target
from pyflame.dialects import pe
from pyflame.sim.planner import compile_plan


def mesh_module(n: int, g: int, body: str, out: str) -> str:
    t = f"!mesh.tensor<{n}x{n}xf32 on {g}x{g} split [r, c]>"
    return f"""
builtin.module {{
  func.func @main(%a: tensor<{n}x{n}xf32>, %b: tensor<{n}x{n}xf32>) -> {out} {{
    %0 = mesh.scatter %a : tensor<{n}x{n}xf32> -> {t}
    %1 = mesh.scatter %b : tensor<{n}x{n}xf32> -> {t}
    {body.format(t=t)}
  }}
}}
"""


def summa(n: int, g: int) -> str:
    body = (
        '%2 = mesh.matmul summa %0, %1 : ({t}, {t}) -> {t} loc("net.py":9:0)\n'
        f"    %3 = mesh.gather %2 : {{t}} -> tensor<{n}x{n}xf32>\n"
        f"    func.return %3 : tensor<{n}x{n}xf32>"
    )
    return mesh_module(n, g, body, f"tensor<{n}x{n}xf32>")


def row_sum(n: int, g: int) -> str:
    """An allreduce along the rows (a chain of g PEs per row) of A, gathered."""
    body = (
        '%2 = mesh.allreduce sum %0 dims [1] algorithm chain : {t} -> {t} loc("net.py":4:0)\n'
        f"    %3 = mesh.gather %2 : {{t}} -> tensor<{n}x{n}xf32>\n"
        f"    func.return %3 : tensor<{n}x{n}xf32>"
    )
    return mesh_module(n, g, body, f"tensor<{n}x{n}xf32>")


def lowered(text: str, target: Target = SMALL) -> ModuleOp:
    module = Parser(compiler.make_context(), text).parse_module()
    module.attributes[TARGET_ATTR] = target.to_attr()
    module = compiler.lower(module, "pe")
    module.verify()
    return module


def unrolled(module: ModuleOp) -> ModuleOp:
    copy = module.clone()
    for fn in copy.walk():
        if isinstance(fn, func.FuncOp):
            pe.unroll_loops(fn.body.block)
    copy.verify()
    return copy


def count_ops(module: ModuleOp) -> int:
    return sum(1 for op in module.walk() if op.dialect_name() == "pe")


def loops(module: ModuleOp) -> list[pe.LoopOp]:
    return [op for op in module.walk() if isinstance(op, pe.LoopOp)]


def assert_same_run(module: ModuleOp, *args: np.ndarray) -> np.ndarray:
    """The looped module and its unrolled spelling: identical outputs, cycles and report."""
    looped, spelled = compile_plan(module), compile_plan(unrolled(module))
    (out1,), r1 = looped.run(list(args))
    (out2,), r2 = spelled.run(list(args))
    np.testing.assert_array_equal(out1, out2)
    assert r1.cycles == r2.cycles
    assert r1.flops == r2.flops and r1.io_cycles == r2.io_cycles
    np.testing.assert_array_equal(r1.busy_cycles, r2.busy_cycles)
    np.testing.assert_array_equal(r1.sram_peak_bytes, r2.sram_peak_bytes)
    # wavelets per link and the timeline included; an op without a source line is named by
    # its position in @main, which unrolling changes
    assert unnumbered(r1.to_json()) == unnumbered(r2.to_json())
    assert unnumbered(str(looped.order)) == unnumbered(str(spelled.order))
    return out1


def unnumbered(text: str) -> str:
    return re.sub(r"op #\d+ of @main", "op # of @main", text)


THREE_COLORS = dataclasses.replace(SMALL, num_colors=3)  # SUMMA single-buffered


@pytest.mark.parametrize("target", [SMALL, THREE_COLORS], ids=["double", "single"])
def test_gemm_ir_size_does_not_grow_with_the_grid_side(target: Target) -> None:
    counts = {g: count_ops(lowered(summa(4 * g, g), target)) for g in (4, 8, 32)}
    assert len(set(counts.values())) == 1, counts
    module = lowered(summa(4 * 32, 32), target)
    trips = sorted(loop.trip_count for loop in loops(module))
    # double: steps 1..30 as 15 pairs, and the middle roots' routes of the four channels
    assert trips == ([15, 15, 15, 15, 15] if target is SMALL else [32])


@pytest.mark.parametrize("g", [2, 3, 4, 5, 8])
@pytest.mark.parametrize("target", [SMALL, THREE_COLORS], ids=["double", "single"])
def test_gemm_looped_runs_exactly_as_unrolled(g: int, target: Target) -> None:
    rng = np.random.default_rng(g)
    a, b = (rng.standard_normal((4 * g, 4 * g)).astype(np.float32) for _ in range(2))
    module = lowered(summa(4 * g, g), target)
    assert ("summa_a1" in str(module)) == (target is SMALL)
    out = assert_same_run(module, a, b)
    np.testing.assert_allclose(out, a @ b, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("g", [3, 4, 8])
def test_chain_reduction_looped_runs_exactly_as_unrolled(g: int) -> None:
    rng = np.random.default_rng(g)
    a, b = (rng.standard_normal((2 * g, 2 * g)).astype(np.float32) for _ in range(2))
    module = lowered(row_sum(2 * g, g))
    assert [loop.trip_count for loop in loops(module)] == ([g - 2] if g > 3 else [])
    out = assert_same_run(module, a, b)
    # every PE of a row holds its row's sum of the column blocks
    blocks = a.reshape(2 * g, g, 2).sum(axis=1)
    np.testing.assert_allclose(out, np.tile(blocks, (1, g)), rtol=1e-4, atol=1e-4)


def test_plan_keeps_no_per_iteration_tokens() -> None:
    """Joined loop transfers are forgotten: the plan's loop-token list is empty at the end and
    @main's token table holds only the tokens made outside loops."""
    from pyflame.sim.planner import Planner

    module = lowered(summa(4 * 16, 16))
    planner = Planner(module)
    planner.plan()
    s = planner.schedule
    assert s.loop_tokens == []
    outside = [
        r
        for op in module.walk()
        if isinstance(op, pe.SendOp | pe.RecvOp) and not isinstance(op.parent_op(), pe.LoopOp)
        for r in op.results
    ]
    assert len(s.tokens) <= len(outside) + sum(len(loop.results) for loop in loops(module))


def test_a_loop_leaving_the_fabric_at_its_last_iteration_is_refused() -> None:
    """The planner checks a body op at its first and last iteration against the target."""
    from pyflame.core.errors import RoutingError

    text = """
builtin.module attributes {pf.target = #pf.target<"small", fabric_rows = 4, fabric_cols = 4>} {
  func.func @main() {
    pe.loop %k = 0 to 8 {
      pe.route ramp -> [east] {color = 0 : i64, pes = array<i64: 0, 0, 4, 1>, pes_step = array<i64: 0, 1, 0, 0>}
      pe.yield
    }
    func.return
  }
}
"""
    module = Parser(compiler.make_context(), text).parse_module()
    with pytest.raises(
        RoutingError,
        match=r"cols 7\.\.7 lie outside the 4 x 4 fabric .* at the loop's last iteration",
    ):
        compile_plan(module)


def test_buffer_lives_and_token_users_see_through_loops() -> None:
    """allocate-sram's liveness: a use in a body counts as the loop; a yielded token's users
    are its waits in the next iteration and after the loop."""
    module = Parser(compiler.make_context(), LOOP_PROGRAM).parse_module()
    module.verify()
    block = next(op for op in module.walk() if isinstance(op, func.FuncOp)).body.block
    ops = list(block.ops)
    index = {op: i for i, op in enumerate(ops)}
    loop = next(op for op in ops if isinstance(op, pe.LoopOp))
    send = next(op for op in loop.body.block.ops if isinstance(op, pe.SendOp))
    assert pe.program_index(index, send) == index[loop]
    waits = [op for op in pe.token_users(send.results[0]) if isinstance(op, pe.WaitOp)]
    assert sorted(pe.program_index(index, w) for w in waits) == [index[loop], index[loop] + 2]
    lives = pe.buffer_lives(block)
    w = next(op for op in ops if isinstance(op, pe.AllocOp) and op.buffer_name.data == "w")
    assert lives[w][1] > index[loop]  # received into after the loop too


LOOP_PROGRAM = """
builtin.module attributes {pf.target = #pf.target<"small">} {
  func.func @main(%x: tensor<8x8xf32>) -> tensor<8x8xf32> {
    %a = pe.alloc {name = "a", pes = array<i64: 0, 0, 4, 4>} : !pe.buf<4xf32>
    pe.host_in %x, %a {pes = array<i64: 0, 0, 4, 4>, layout = #pe.layout<8x8xf32 on 4x4 split [r, c]>} : tensor<8x8xf32>, !pe.buf<4xf32>
    %w = pe.alloc {name = "w", pes = array<i64: 0, 0, 4, 4>} : !pe.buf<4xf32>
    %t = pe.send %a {pes = array<i64: 0, 0, 4, 1>, color = 0 : i64} : !pe.buf<4xf32> -> !pe.token
    %r = pe.loop %k = 1 to 4 iter_args(%c = %t) -> (!pe.token) {
      pe.recv %w {pes = array<i64: 0, 0, 4, 4>, color = 0 : i64} : !pe.buf<4xf32>
      pe.wait %c {pes = array<i64: 0, 0, 4, 1>, pes_step = array<i64: 0, 1, 0, 0>}
      %s = pe.send %a {pes = array<i64: 0, 1, 4, 1>, pes_step = array<i64: 0, 1, 0, 0>, color = 0 : i64} : !pe.buf<4xf32> -> !pe.token
      pe.yield %s
    }
    pe.recv %w {pes = array<i64: 0, 0, 4, 4>, color = 0 : i64} : !pe.buf<4xf32>
    pe.wait %r {pes = array<i64: 0, 3, 4, 1>}
    %o = pe.host_out %w {layout = #pe.layout<8x8xf32 on 4x4 split [r, c]>, pes = array<i64: 0, 0, 4, 4>} : !pe.buf<4xf32> -> tensor<8x8xf32>
    func.return %o : tensor<8x8xf32>
  }
}
"""


def nested_summa(g: int) -> ModuleOp:
    """Single-buffered SUMMA whose step multiplies row by row: a pe.loop over the PE rows
    nested in the loop over the steps (as the 2.5D SUMMA's row groups inside its steps)."""
    text = str(lowered(summa(4 * g, g), THREE_COLORS))
    whole = re.search(r"( +)(pe\.matmul_acc .*pes = array<i64: 0, 0, )(\d+), (\d+)>(.*)\n", text)
    assert whole is not None and int(whole[3]) == g
    indent = whole[1]
    rows = (
        f"{indent}pe.loop %row = 0 to {g} {{\n"
        f"{indent}  {whole[2]}1, {g}>, pes_step = array<i64: 1, 0, 0, 0>{whole[5]}\n"
        f"{indent}  pe.yield\n{indent}}}\n"
    )
    module = Parser(compiler.make_context(), text.replace(whole[0], rows)).parse_module()
    module.verify()
    return module


@pytest.mark.parametrize("g", [2, 3, 4])
def test_a_nested_loop_runs_exactly_as_unrolled(g: int) -> None:
    module = nested_summa(g)
    outer = next(op for op in module.walk() if isinstance(op, pe.LoopOp))
    inner = [op for op in outer.body.block.ops if isinstance(op, pe.LoopOp)]
    assert [op.trip_count for op in inner] == [g]
    rng = np.random.default_rng(g)
    a, b = (rng.standard_normal((4 * g, 4 * g)).astype(np.float32) for _ in range(2))
    looped, spelled = compile_plan(module), compile_plan(unrolled(module))
    (out,), r1, _ = looped.run_on_sram([a, b])  # every step, in the machine's order
    (out2,), r2, _ = spelled.run_on_sram([a, b])
    np.testing.assert_array_equal(out, out2)
    assert r1.cycles == r2.cycles and unnumbered(r1.to_json()) == unnumbered(r2.to_json())
    np.testing.assert_allclose(out, a @ b, rtol=1e-4, atol=1e-4)
    # `run` (SUMMA's products fused where it can) to fp32 rounding
    np.testing.assert_allclose(looped.run([a, b])[0][0], out, rtol=1e-5, atol=1e-5)
    # the same products and cycles as the whole-grid step, PE by PE
    flat = compile_plan(lowered(summa(4 * g, g), THREE_COLORS))
    (whole,), r3, _ = flat.run_on_sram([a, b])
    np.testing.assert_array_equal(out, whole)
    assert r3.cycles == r1.cycles
    assert not loops(unrolled(module))


def test_a_nested_loop_prints_and_parses_back() -> None:
    module = nested_summa(3)
    again = Parser(compiler.make_context(), str(module)).parse_module()
    again.verify()
    assert str(again) == str(module)


def test_a_buffer_inside_a_nested_loop_is_refused() -> None:
    text = str(nested_summa(2)).replace(
        "pe.loop %row = 0 to 2 {",
        'pe.loop %row = 0 to 2 {\n %x = pe.alloc {name = "x", pes = array<i64: 0, 0, 2, 2>}'
        " : !pe.buf<4xf32>",
    )
    module = Parser(compiler.make_context(), text).parse_module()
    with pytest.raises(Exception, match="allocate buffers before the loop"):
        module.verify()


def test_a_nested_loop_agrees_with_the_wavelet_engine() -> None:
    """The wavelet engine spells nested loops out (pe.unroll_loops, in rounds): the same
    outputs, cycles within the fidelity tolerance."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent / "sim"))
    import fidelity_corpus as corpus

    outcome = corpus.compare(corpus.Case("nested summa 3x3", lambda: nested_summa(3)))
    assert outcome.verdict == "agree", outcome.detail


def meshgemm(n: int, g: int) -> str:
    return summa(n, g).replace("mesh.matmul summa", "mesh.matmul meshgemm")


def test_meshgemm_ir_does_not_grow_with_the_grid_side() -> None:
    """The folded ring's route rules are strided along the lines and the positions: one
    pe.route in a loop over the positions inside a loop over the lines, its `pes_step` one
    step per loop (innermost first)."""
    counts = {g: count_ops(lowered(meshgemm(4 * g, g))) for g in (8, 12, 16)}
    assert len(set(counts.values())) == 1, counts
    module = lowered(meshgemm(64, 16))
    steps = [
        op.rect_steps
        for op in module.walk()
        if isinstance(op, pe.RouteOp) and len(op.loops_around()) == 2
    ]
    assert steps and all(len(s) == 2 for s in steps)


@pytest.mark.parametrize("g", [4, 5, 8])
def test_meshgemm_with_two_level_steps_runs_exactly_as_unrolled(g: int) -> None:
    rng = np.random.default_rng(g)
    a, b = (rng.standard_normal((4 * g, 4 * g)).astype(np.float32) for _ in range(2))
    module = lowered(meshgemm(4 * g, g))
    looped, spelled = compile_plan(module), compile_plan(unrolled(module))
    (out,), r1, _ = looped.run_on_sram([a, b])
    (out2,), r2, _ = spelled.run_on_sram([a, b])
    np.testing.assert_array_equal(out, out2)
    assert r1.cycles == r2.cycles and unnumbered(r1.to_json()) == unnumbered(r2.to_json())
    np.testing.assert_allclose(out, a @ b, rtol=1e-4, atol=1e-4)


def test_pes_step_levels_are_checked() -> None:
    """Four numbers per enclosing loop, no more levels than loops; every corner of the
    iterations stays on the fabric."""
    from xdsl.utils.exceptions import VerifyException

    def program(step: str, trips: int = 2) -> str:
        return f"""
builtin.module {{
  func.func @main() {{
    pe.loop %i = 0 to {trips} {{
      pe.loop %j = 0 to 2 {{
        pe.route ramp -> [east] {{color = 0 : i64, pes = array<i64: 1, 1, 1, 1>, pes_step = array<i64: {step}>}}
        pe.yield
      }}
      pe.yield
    }}
    func.return
  }}
}}
"""

    ok = Parser(compiler.make_context(), program("0, 1, 0, 0, 1, 0, 0, 0")).parse_module()
    ok.verify()
    route = next(op for op in ok.walk() if isinstance(op, pe.RouteOp))
    assert route.rect_at(1, (1,)) == (2, 2, 1, 1)
    assert set(route.rect_span()) == {(1, 1, 1, 1), (1, 2, 1, 1), (2, 1, 1, 1), (2, 2, 1, 1)}
    spelled = unrolled(ok)
    rects = sorted(op.rect for op in spelled.walk() if isinstance(op, pe.RouteOp))
    assert rects == [(1, 1, 1, 1), (1, 2, 1, 1), (2, 1, 1, 1), (2, 2, 1, 1)]
    for step, message in [
        ("0, 1, 0, 0, 1, 0, 0", "four numbers per loop"),
        ("0, 1, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0", "only 2 pe.loop"),
        ("0, 1, 0, 0, -1, 0, 0, 0", "leaves the fabric"),
    ]:
        bad = Parser(compiler.make_context(), program(step, trips=3)).parse_module()
        with pytest.raises(VerifyException, match=message):
            bad.verify()
