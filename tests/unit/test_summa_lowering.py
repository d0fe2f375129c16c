"""SUMMA's pe lowering (passes/pe_lowering/collectives.py): double-buffered where the second pair
of receive buffers fits in SRAM (plan_memory `summa_double_buffered`), single-buffered where it
does not; both compute A @ B, and the double-buffered form takes fewer cycles."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp
from xdsl.parser import Parser

import pyflame.passes.lower_mesh_to_pe as lower_mesh_to_pe
from pyflame import compiler
from pyflame.core.target import SMALL, TARGET_ATTR
from pyflame.dialects import mesh, pe
from pyflame.dialects.mesh import dist_of
from pyflame.dialects.pe import Port
from pyflame.passes.pe_lowering.state import (
    col_broadcast_from,
    diagonal_broadcast_from,
    grouped_rules,
    progressions,
    row_broadcast,
    row_broadcast_from,
)
from pyflame.passes.plan_memory import summa_double_buffered
from pyflame.sim.planner import compile_plan


def summa_module(n: int, g: int, fidelity: str = "fast") -> ModuleOp:
    """C = A @ B for n x n matrices on a g x g grid (mesh level)."""
    t = f"!mesh.tensor<{n}x{n}xf32 on {g}x{g} split [r, c]>"
    text = f"""
builtin.module {{
  func.func @main(%a: tensor<{n}x{n}xf32>, %b: tensor<{n}x{n}xf32>) -> tensor<{n}x{n}xf32> {{
    %0 = mesh.scatter %a : tensor<{n}x{n}xf32> -> {t}
    %1 = mesh.scatter %b : tensor<{n}x{n}xf32> -> {t}
    %2 = mesh.matmul summa %0, %1 : ({t}, {t}) -> {t}
    %3 = mesh.gather %2 : {t} -> tensor<{n}x{n}xf32>
    func.return %3 : tensor<{n}x{n}xf32>
  }}
}}"""
    module = Parser(compiler.make_context(), text).parse_module()
    module.attributes[TARGET_ATTR] = dataclasses.replace(SMALL, fidelity=fidelity).to_attr()
    return module


def lowered(module: ModuleOp) -> ModuleOp:
    return compiler.lower(module, "pe")


def alloc_names(module: ModuleOp) -> list[str]:
    allocs = [op for op in module.walk() if isinstance(op, pe.AllocOp)]
    return [op.buffer_name.data.split("@")[0] for op in allocs]


def run(
    module: ModuleOp, a: np.ndarray, b: np.ndarray, exact: bool = False
) -> tuple[np.ndarray, int]:
    """(output, cycles); `exact`: the fast engine's every step in the plan's order
    (`run_on_sram`, what the wavelet engine matches bit for bit) instead of `run`, whose
    SUMMA products are fused (pyflame/sim/fused_products.py: the same to fp32 rounding)."""
    plan = compile_plan(lowered(module))
    outputs, report = plan.run_on_sram([a, b])[:2] if exact else plan.run([a, b])
    return outputs[0], report.cycles


def operands(n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    return (
        rng.standard_normal((n, n)).astype(np.float32),
        rng.standard_normal((n, n)).astype(np.float32),
    )


def both_forms(n: int, g: int, monkeypatch: pytest.MonkeyPatch) -> tuple[int, int]:
    """(double-buffered cycles, single-buffered cycles) of SUMMA for n x n on g x g; both
    compute A @ B."""
    a, b = operands(n)
    results = []
    for double in (True, False):
        if not double:  # as when the second pair does not fit
            monkeypatch.setattr(lower_mesh_to_pe, "summa_double_buffered", lambda fn, usable: set())
        module = summa_module(n, g)
        out, cycles = run(module, a, b)
        np.testing.assert_allclose(out, a @ b, rtol=1e-4, atol=1e-4)
        assert ("summa_a1" in alloc_names(module)) == double
        results.append(cycles)
    return results[0], results[1]


def test_the_second_pair_fits_on_small_tiles() -> None:
    module = summa_module(64, 4)
    fn = next(op for op in module.walk() if isinstance(op, func.FuncOp))
    matmul = next(op for op in fn.walk() if isinstance(op, mesh.MatmulOp))
    assert summa_double_buffered(fn, SMALL.usable_sram_bytes) == {matmul}
    # A, B, C and one pair of receive buffers: 5 tiles of 16x16 f32 (1 KiB each) are unshared;
    # the second pair needs 2 KiB more
    assert summa_double_buffered(fn, 5 * 1024 + 2 * 1024) == {matmul}
    assert summa_double_buffered(fn, 5 * 1024 + 2 * 1024 - 16) == set()


def test_double_buffered_ir() -> None:
    module = lowered(summa_module(64, 4))
    assert alloc_names(module).count("summa_a0") == 1
    assert alloc_names(module).count("summa_b1") == 1
    recvs = [op for op in module.walk() if isinstance(op, pe.RecvOp)]
    sends = [op for op in module.walk() if isinstance(op, pe.SendOp)]
    waits = [op for op in module.walk() if isinstance(op, pe.WaitOp)]
    assert len(recvs) == len(sends) == 2 * 4
    assert all(len(op.results) == 1 for op in recvs + sends)  # every transfer asynchronous
    # one wait per step for both receives, one per root send
    assert len(waits) == 4 + 2 * 4
    # steps alternate between two row and two column channels
    assert [op.color.value.data for op in recvs[:4]] == [0, 2, 1, 3]
    assert [op.color.value.data for op in recvs[4:]] == [0, 2, 1, 3]


def test_double_buffered_is_faster(monkeypatch: pytest.MonkeyPatch) -> None:
    double, single = both_forms(64, 4, monkeypatch)
    assert double < single


def test_double_buffering_saves_most_of_the_receives(monkeypatch: pytest.MonkeyPatch) -> None:
    """Per step the single-buffered form pays both receives (each about `c + w + activation`
    on its PE's clock, w = 256 wavelets for a 16x16 tile) on top of the matmul; the
    double-buffered form overlaps them with the previous step's matmul, so over 8 steps it
    saves more than one tile's wavelets per step."""
    double, single = both_forms(128, 8, monkeypatch)
    assert single - double > 8 * 16 * 16


def test_falls_back_to_one_pair_when_two_do_not_fit() -> None:
    """42x42 f32 tiles (7,056 B): A, B, C and one pair take 35,280 B of the 45,056 usable; a
    second pair (14,112 B) does not fit."""
    module = summa_module(84, 2)
    fn = next(op for op in module.walk() if isinstance(op, func.FuncOp))
    assert summa_double_buffered(fn, SMALL.usable_sram_bytes) == set()
    a, b = operands(84)
    out, _ = run(module, a, b)
    np.testing.assert_allclose(out, a @ b, rtol=1e-4, atol=1e-4)
    names = alloc_names(module)
    assert "summa_a" in names and "summa_a1" not in names
    recvs = [op for op in module.walk() if isinstance(op, pe.RecvOp)]
    # synchronous receives, in one pe.loop over the two steps
    assert len(recvs) == 2 and all(not op.results for op in recvs)
    assert all(isinstance(op.parent_op(), pe.LoopOp) for op in recvs)


def test_wavelet_engine_agrees() -> None:
    """The reference engine moves every wavelet: same values, cycles within 5%."""
    a, b = operands(32)
    fast_out, fast = run(summa_module(32, 4), a, b, exact=True)
    wave_out, wave = run(summa_module(32, 4, fidelity="wavelet"), a, b)
    np.testing.assert_array_equal(fast_out, wave_out)
    assert abs(wave - fast) <= 0.05 * fast


def test_falls_back_to_one_pair_with_fewer_than_four_colors() -> None:
    """Double buffering multicasts on four channels at once; with three colors SUMMA keeps two
    (allocate-colors would refuse four)."""
    module = summa_module(64, 4)
    module.attributes[TARGET_ATTR] = dataclasses.replace(SMALL, num_colors=3).to_attr()
    a, b = operands(64)
    out, _ = run(module, a, b)
    np.testing.assert_allclose(out, a @ b, rtol=1e-4, atol=1e-4)
    assert "summa_a1" not in alloc_names(module)
    colors = {op.color.value.data for op in module.walk() if isinstance(op, pe.RecvOp)}
    assert colors == {0, 1}


def per_column(rules) -> set:
    """(column, from, to) of every PE column a row rule covers."""
    return {(c, src, to) for rect, src, to in rules for c in range(rect[1], rect[1] + rect[3])}


@pytest.mark.parametrize("n", [2, 3, 4, 5])
def test_broadcast_from_some_roots_routes_only_their_streams(n: int) -> None:
    """From every position: the rules of the any-root broadcast; from the even (odd) positions
    only the rules their streams pass through."""
    everyone = per_column(row_broadcast(n, n))
    assert per_column(row_broadcast_from(n, n, range(n))) == everyone
    # from row 0 alone: down the columns, the middle rows passing it on
    middle = [((1, 0, n - 2, n), Port.NORTH, (Port.SOUTH, Port.RAMP))] if n > 2 else []
    assert set(col_broadcast_from(n, n, [0])) == {
        ((0, 0, 1, n), Port.RAMP, (Port.SOUTH, Port.RAMP)),
        *middle,
        ((n - 1, 0, 1, n), Port.NORTH, (Port.RAMP,)),
    }
    even = per_column(row_broadcast_from(n, n, range(0, n, 2)))
    odd = per_column(row_broadcast_from(n, n, range(1, n, 2)))
    assert even < everyone and odd < everyone and even | odd == everyone
    # column 0 sends only on the even channel; on the odd one it only receives, from the east
    assert (0, Port.RAMP, (Port.EAST, Port.RAMP)) in even
    assert {(c, src) for c, src, _ in odd if c == 0} == {(0, Port.EAST)}
    # nothing enters column 1 from its west on the odd channel (no root west of it)
    assert not any(c == 1 and src == Port.WEST for c, src, _ in odd)


def test_progressions_take_the_stride_that_leaves_fewest():
    pos = [1, 2, 3, 5, 6, 7, 9, 10, 11, 13, 14, 15]  # runs of 3: four of stride 1
    assert progressions(pos) == [(1, 4, 4), (2, 4, 4), (3, 4, 4)]
    assert progressions([0, 1, 2, 3]) == [(0, 1, 4)]
    assert progressions([4]) == [(4, 1, 1)]
    assert progressions([0, 3, 6, 7]) == [(0, 3, 3), (7, 3, 1)]
    # every position once, in some progression
    pos = [0, 2, 3, 5, 8, 9, 11, 14, 20]
    got = sorted(p for first, d, n in progressions(pos) for p in range(first, first + d * n, d))
    assert got == pos


@pytest.mark.parametrize("n", [6, 16, 64])
def test_grouped_rules_set_the_same_rules(n: int) -> None:
    """A multicast from roots spread along a line (the 2.5D SUMMA's, every 4th column) as
    route loops: the same rule on every PE line, and a number of routes that does not grow
    with the line's length."""
    rules = row_broadcast_from(n, n, range(0, n, 4))
    grouped = grouped_rules(rules)
    spelled = {
        ((r0 + i * s[0], c0 + i * s[1], nr, nc), src, tuple(dst))
        for (r0, c0, nr, nc), src, dst, trips, s in grouped
        for i in range(trips)
    }
    assert spelled == {(rect, src, tuple(dst)) for rect, src, dst in rules}
    assert len(grouped) <= 12


# --------------------------------------------------------------------------- transposed operands


def transposed_module(
    m: int, k: int, n: int, g: int, flags: tuple[bool, bool], fidelity: str = "fast"
) -> ModuleOp:
    """C = op(A) @ op(B) on a g x g grid, A stored [k, m] when flags[0] (`transpose_a`), B
    stored [n, k] when flags[1] (mesh level)."""
    ta, tb = flags
    sa, sb = ((k, m) if ta else (m, k)), ((n, k) if tb else (k, n))

    def types(shape: tuple[int, int]) -> tuple[str, str]:
        dims = "x".join(map(str, shape))
        return f"tensor<{dims}xf32>", f"!mesh.tensor<{dims}xf32 on {g}x{g} split [r, c]>"

    (ha, ma), (hb, mb), (hc, mc) = types(sa), types(sb), types((m, n))
    words = " ".join(w for w, f in (("transpose_a", ta), ("transpose_b", tb)) if f)
    text = f"""
builtin.module {{
  func.func @main(%a: {ha}, %b: {hb}) -> {hc} {{
    %0 = mesh.scatter %a : {ha} -> {ma}
    %1 = mesh.scatter %b : {hb} -> {mb}
    %2 = mesh.mask_pad %0 value 0.0 : {ma}
    %3 = mesh.mask_pad %1 value 0.0 : {mb}
    %4 = mesh.matmul summa {words} %2, %3 : ({ma}, {mb}) -> {mc}
    %5 = mesh.gather %4 : {mc} -> {hc}
    func.return %5 : {hc}
  }}
}}"""
    module = Parser(compiler.make_context(), text).parse_module()
    module.attributes[TARGET_ATTR] = dataclasses.replace(SMALL, fidelity=fidelity).to_attr()
    return module


def transposed_operands(
    m: int, k: int, n: int, flags: tuple[bool, bool]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(A as stored, B as stored, the float64 product) for `transposed_module`."""
    rng = np.random.default_rng(m * 100 + k * 10 + n)
    a = rng.standard_normal((k, m) if flags[0] else (m, k)).astype(np.float32)
    b = rng.standard_normal((n, k) if flags[1] else (k, n)).astype(np.float32)
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    return a, b, (a64.T if flags[0] else a64) @ (b64.T if flags[1] else b64)


FLAGS = [(True, False), (False, True), (True, True)]


@pytest.mark.parametrize("flags", FLAGS)
@pytest.mark.parametrize(
    ("m", "k", "n", "g"),
    [(5, 7, 3, 1), (9, 13, 11, 2), (10, 17, 7, 3), (19, 23, 13, 4), (21, 9, 31, 5)],
)
def test_transposed_operands_are_consumed_in_place(
    m: int, k: int, n: int, g: int, flags: tuple[bool, bool]
) -> None:
    """A^T B, A B^T and A^T B^T on shapes that do not divide the grid: numpy's product, and no
    data-moving op but SUMMA's own sends (no exchange, no transpose of tiles)."""
    a, b, want = transposed_operands(m, k, n, flags)
    module = transposed_module(m, k, n, g, flags)
    out, _ = run(module, a, b)
    np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-4)
    assert not any(isinstance(op, pe.ExchangeOp | pe.TransposeOp) for op in module.walk())
    products = [op for op in module.walk() if isinstance(op, pe.MatmulAccOp)]
    assert products and all(op.transposes == flags for op in products)


@pytest.mark.parametrize("flags", FLAGS)
def test_transposed_single_buffered(
    flags: tuple[bool, bool], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lower_mesh_to_pe, "summa_double_buffered", lambda fn, usable: set())
    a, b, want = transposed_operands(19, 23, 13, flags)
    module = transposed_module(19, 23, 13, 4, flags)
    out, _ = run(module, a, b)
    np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-4)
    assert "summa_a1" not in alloc_names(module)


@pytest.mark.parametrize("flags", FLAGS)
def test_transposed_wavelet_engine_agrees(flags: tuple[bool, bool]) -> None:
    """Every wavelet moved (the turns at the diagonal, both parities' streams in flight at
    once): the fast engine's values, cycles within 5%."""
    a, b, want = transposed_operands(14, 18, 10, flags)
    fast_out, fast = run(transposed_module(14, 18, 10, 4, flags), a, b, exact=True)
    wave_out, wave = run(transposed_module(14, 18, 10, 4, flags, fidelity="wavelet"), a, b)
    np.testing.assert_allclose(wave_out, want, rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(fast_out, wave_out)
    assert abs(wave - fast) <= 0.05 * fast


def test_transposed_costs_what_plain_summa_costs_but_the_turn() -> None:
    """The same tiles and the same FMACs: a transposed operand adds only the latency of the
    leg to the diagonal (a few hops per step at most, single-buffered; once, double-buffered)."""
    a, b, _ = transposed_operands(32, 32, 32, (False, False))
    _, plain = run(transposed_module(32, 32, 32, 4, (False, False)), a, b)
    _, turned = run(transposed_module(32, 32, 32, 4, (True, False)), a.T.copy(), b)
    assert plain <= turned <= plain + 2 * 4 * 4


@pytest.mark.parametrize("g", [2, 3, 4, 5])
@pytest.mark.parametrize("turn_to", ["c", "r"])
def test_diagonal_broadcast_reaches_each_line_once(g: int, turn_to: str) -> None:
    """Tracing every root's stream through the rules: PE (l, c)'s block (A^T: roots in PE row
    l) is delivered to exactly the PEs of row c, each router has one rule per input port, and
    no link carries two streams of one step."""
    rules = diagonal_broadcast_from(g, range(g), turn_to)
    table: dict[tuple[int, int, Port], tuple[Port, ...]] = {}
    for (r0, c0, rows, cols), src, to in rules:
        for r in range(r0, r0 + rows):
            for c in range(c0, c0 + cols):
                assert (r, c, src) not in table, "two rules for one input port"
                table[(r, c, src)] = to
    step = {Port.NORTH: (-1, 0), Port.SOUTH: (1, 0), Port.WEST: (0, -1), Port.EAST: (0, 1)}
    arrive = {Port.NORTH: Port.SOUTH, Port.SOUTH: Port.NORTH, Port.WEST: Port.EAST}
    arrive[Port.EAST] = Port.WEST
    for root_line in range(g):
        links: set[tuple[int, int, Port]] = set()
        for other in range(g):
            root = (root_line, other) if turn_to == "c" else (other, root_line)
            delivered, frontier = set(), [(root, Port.RAMP)]
            while frontier:
                (r, c), src = frontier.pop()
                for out in table[(r, c, src)]:
                    if out == Port.RAMP:
                        delivered.add((r, c))
                        continue
                    assert (r, c, out) not in links, "a link carries two streams"
                    links.add((r, c, out))
                    dr, dc = step[out]
                    assert 0 <= r + dr < g and 0 <= c + dc < g
                    frontier.append(((r + dr, c + dc), arrive[out]))
            line = (
                {(other, c) for c in range(g)} if turn_to == "c" else {(r, other) for r in range(g)}
            )
            assert delivered == line


def test_transpose_flags_round_trip_and_verify() -> None:
    module = transposed_module(10, 17, 7, 3, (True, True))
    text = str(module)
    assert "mesh.matmul summa transpose_a transpose_b" in text
    again = Parser(compiler.make_context(), text).parse_module()
    again.verify()
    assert str(again) == text
    lowered_text = str(lowered(module))
    assert "lhs_transposed rhs_transposed" in lowered_text
    Parser(compiler.make_context(), lowered_text).parse_module().verify()


def test_other_algorithms_materialise_the_transpose() -> None:
    """Cannon and MeshGEMM cannot turn blocks at the diagonal: the verifier says so, and
    set_algorithm clears the flags with a mesh.transpose, a redistribute and a mask first."""
    from xdsl.utils.exceptions import VerifyException

    from pyflame.passes.pe_lowering.matmul import set_algorithm

    module = transposed_module(10, 17, 7, 3, (True, True))
    matmul = next(op for op in module.walk() if isinstance(op, mesh.MatmulOp))
    matmul.properties["algorithm"] = mesh.MatmulAlgorithmAttr(mesh.MatmulAlgorithm.CANNON)
    with pytest.raises(VerifyException, match="cannot consume a transposed operand"):
        matmul.verify()
    matmul.properties["algorithm"] = mesh.MatmulAlgorithmAttr(mesh.MatmulAlgorithm.SUMMA)
    for algorithm in ("cannon", "meshgemm"):
        module = transposed_module(10, 17, 7, 3, (True, True))
        assert set_algorithm(module, algorithm) == 1
        module.verify()
        assert str(module).count("mesh.redistribute") == 2
        a, b, want = transposed_operands(10, 17, 7, (True, True))
        out, _ = run(module, a, b)
        np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-4)


# ------------------------------------------------------------ K blocks of contraction padding


@pytest.mark.parametrize("double", [True, False])
@pytest.mark.parametrize("flags", [(False, False), *FLAGS])
@pytest.mark.parametrize(
    ("m", "k", "n", "g", "blocks"),
    [(20, 10, 30, 8, 5), (9, 3, 7, 4, 3), (16, 1, 12, 4, 1), (17, 13, 5, 6, 5), (12, 8, 12, 4, 4)],
)
def test_steps_over_k_blocks_of_padding_only_are_left_out(
    m: int,
    k: int,
    n: int,
    g: int,
    blocks: int,
    flags: tuple[bool, bool],
    double: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """K = 10 on 8 PE columns is blocks of 2: blocks 5..7 are contraction padding in both
    operands, so SUMMA runs 5 steps, not 8, with numpy's product, in fewer cycles than the 8
    steps (forced here) and within 10% of the cost model's estimate."""
    import pyflame.passes.plan_memory as plan_memory
    from pyflame.passes.cost_model.program import estimate_function, program_cycles

    if not double:
        for module_ in (lower_mesh_to_pe, plan_memory):
            monkeypatch.setattr(module_, "summa_double_buffered", lambda fn, usable: set())
    a, b, want = transposed_operands(m, k, n, flags)
    module = transposed_module(m, k, n, g, flags)
    matmul = next(op for op in module.walk() if isinstance(op, mesh.MatmulOp))
    assert matmul.k_blocks == blocks
    fn = next(op for op in module.walk() if isinstance(op, func.FuncOp))
    estimate = program_cycles(estimate_function(fn, SMALL))
    out, cycles = run(module, a, b)
    np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-4)
    assert ("summa_a1" in alloc_names(module)) == double
    print(f"{blocks} of {g} steps: {cycles} cycles, estimate {estimate}")
    assert abs(estimate - cycles) <= max(0.1 * cycles, 15)  # (one step of ~100 cycles: +13)
    monkeypatch.setattr(mesh.MatmulOp, "k_blocks", property(lambda op: dist_of(op.lhs).grid[0]))
    every_out, every = run(transposed_module(m, k, n, g, flags), a, b)
    np.testing.assert_allclose(every_out, want, rtol=1e-4, atol=1e-4)
    assert cycles == every if blocks == g else cycles < every


def test_left_out_steps_agree_with_the_wavelet_engine() -> None:
    a, b, want = transposed_operands(20, 10, 30, (False, True))
    fast_out, fast = run(transposed_module(20, 10, 30, 8, (False, True)), a, b, exact=True)
    wave_out, wave = run(transposed_module(20, 10, 30, 8, (False, True), fidelity="wavelet"), a, b)
    np.testing.assert_allclose(wave_out, want, rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(fast_out, wave_out)
    assert abs(wave - fast) <= 0.05 * fast
