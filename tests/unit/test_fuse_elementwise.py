"""fuse-elementwise (passes/fuse_elementwise.py), pe.fused and its kernel: fused programs give
the bits of the unfused ones and numpy's values (odd shapes, shapes that do not divide the grid,
broadcasts, casts, f16/bf16, several grids), values with users outside a chain stay buffers,
and the mesh-level prediction (plan-memory, the cost model) matches what the pass does."""

from __future__ import annotations

import dataclasses
import re

import ml_dtypes
import numpy as np
import pytest
from xdsl.parser import Parser

import pyflame as pf
from pyflame import compiler
from pyflame.core import fused_expr
from pyflame.passes import PIPELINES
from pyflame.passes.fuse_elementwise import mesh_groups
from pyflame.sim import compile_plan
from pyflame.tracing import trace_module

FUSED = compiler.pipeline()
UNFUSED = FUSED.replace("fuse-elementwise,", "")
GRIDS = [(1, 1), (2, 2), (3, 3), (2, 3)]


def compile_both(build, target=pf.sim.SMALL):
    """(fused module, unfused module, inputs) of the program `build()` returns."""
    before = pf.sim.get_target()
    pf.sim.set_target(target)
    try:
        module, _, inputs = trace_module(build())
    finally:
        pf.sim.set_target(before)
    text = str(module)
    out = []
    for spec in (FUSED, UNFUSED):
        m = Parser(compiler.make_context(), text).parse_module()
        compiler.run_pipeline(m, spec)
        out.append(m)
    return out[0], out[1], list(inputs)


def run(module, inputs, exact: bool = False):
    """(outputs, report); `exact`: every step in the plan's order (`run_on_sram`) instead of
    `run`, whose SUMMA products are fused (pyflame/sim/fused_products.py): the two programs'
    matmul runs may fuse differently, the same to fp32 rounding."""
    plan = compile_plan(module)
    outs, report = plan.run_on_sram(inputs)[:2] if exact else plan.run(inputs)
    return [np.asarray(o) for o in outs], report


def check_same_bits(build, target=pf.sim.SMALL, fused_ops: int | None = None):
    """Fused and unfused programs give identical outputs (step by step; `run` to fp32
    rounding); returns (outputs, reports, fused IR)."""
    fused, unfused, inputs = compile_both(build, target)
    (a, ra), (b, rb) = run(fused, inputs, exact=True), run(unfused, inputs, exact=True)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    (lean, _), (lean_b, _) = run(fused, inputs), run(unfused, inputs)
    for x, y in zip(lean, lean_b, strict=True):
        if x.dtype.kind == "f":
            np.testing.assert_allclose(x, y, rtol=0, atol=1e-5 * np.abs(y).max(initial=1e-30))
        else:
            np.testing.assert_array_equal(x, y)
    text = str(fused)
    if fused_ops is not None:
        assert len(re.findall(r"pe\.fused ", text)) == fused_ops, text
    return a, (ra, rb), text


def arr(*shape, seed=0, dtype=np.float32):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("grid", GRIDS)
def test_scalar_chain_is_one_op_and_matches_numpy(grid) -> None:
    a = arr(37, 29)
    lay = pf.MeshLayout.grid(*grid)

    def build():
        x = pf.from_numpy(a, layout=lay)
        return [((x * 1.5 + 0.25).relu() - 0.5).abs().exp()]

    (out,), (fused, unfused), text = check_same_bits(build, fused_ops=1)
    want = np.exp(np.abs(np.maximum(a * np.float32(1.5) + np.float32(0.25), 0) - np.float32(0.5)))
    np.testing.assert_allclose(out, want, rtol=1e-6)
    # no intermediate tiles and no scalar fills are left
    assert "pe.fill" not in text and "pe.unary" not in text and "pe.binary" not in text
    assert fused.cycles <= unfused.cycles
    assert fused.sram_peak_max <= unfused.sram_peak_max


@pytest.mark.parametrize("dtype", [np.float16, ml_dtypes.bfloat16])
def test_half_precision_chains_round_per_step(dtype) -> None:
    a = arr(19, 23, dtype=dtype)
    lay = pf.MeshLayout.grid(2, 2)

    def build():
        x = pf.from_numpy(a, layout=lay)
        return [(x * x - x).sigmoid() * 3.0]

    (out,), _, _ = check_same_bits(build, fused_ops=1)
    assert out.dtype == dtype
    x = a.astype(np.float32)
    step = (x * x).astype(dtype).astype(np.float32)
    step = (step - x).astype(dtype).astype(np.float32)
    step = (1 / (1 + np.exp(-step))).astype(dtype).astype(np.float32)
    np.testing.assert_allclose(out.astype(np.float32), step * 3, rtol=1e-2)


@pytest.mark.parametrize("grid", [(1, 1), (2, 3)])
def test_broadcast_of_a_fill_folded_to_a_constant(grid) -> None:
    # fuzzer program_for(9, 186): `pf.ones((8,), bfloat16) > x` with x float16 [1, 8]: the
    # fill became the constant `1.0:bf16`, its convert a 0-d value, and the broadcast of it to
    # [1, 8] failed in the simulator (IndexError on a 0-d array)
    a = np.arange(-4, 4, dtype=np.float16).reshape(1, 8)
    lay = pf.MeshLayout.grid(*grid)

    def build():
        ones = pf.ones((8,), dtype=pf.bfloat16, layout=lay)
        x = pf.from_numpy(a, layout=lay)
        twos = pf.full((8,), 2.0, dtype=pf.bfloat16, layout=lay)  # each fill used once
        return [ones.gt(x), twos.to(pf.float32) + x * 0.0]

    (gt, twos), _, text = check_same_bits(build)
    assert "broadcast.f32(%" in text  # the broadcast of a value made from a constant
    np.testing.assert_array_equal(gt, np.ones(8) > a)
    np.testing.assert_array_equal(twos, np.full((1, 8), 2.0, np.float32) + a * 0)


@pytest.mark.parametrize("grid", [(1, 1), (3, 2)])
def test_broadcasts_casts_and_selects_fuse(grid) -> None:
    a, row, col = arr(37, 29), arr(29, seed=1), arr(37, 1, seed=2)
    lay = pf.MeshLayout.grid(*grid)

    def build():
        x = pf.from_numpy(a, layout=lay)
        h = (x * 2.0 + pf.from_numpy(row)).to(pf.float16)
        return [pf.where(x > 0, (h.exp() - 1.0).to(pf.float32), x * pf.from_numpy(col))]

    (out,), _, text = check_same_bits(build)
    if grid == (1, 1):  # on one PE the row is broadcast in the tile: a stride-0 read
        assert "pe.broadcast" not in text and "broadcast.f32($" in text
    h = (a * 2 + row).astype(np.float16)
    e = (np.exp(h.astype(np.float32)).astype(np.float16) - np.float16(1)).astype(np.float32)
    np.testing.assert_allclose(out, np.where(a > 0, e, a * col), rtol=2e-3, atol=2e-3)


def test_layer_norm_and_softmax_match_numpy() -> None:
    a = arr(37, 29)
    lay = pf.MeshLayout.grid(3, 3)

    def build():
        x = pf.from_numpy(a, layout=lay)
        e = (x - x.amax(dim=1, keepdim=True)).exp()
        return [pf.nn.functional.layer_norm(x, (29,)), e / e.sum(dim=1, keepdim=True)]

    (ln, sm), _, text = check_same_bits(build)
    assert "pe.fused" in text
    mu = a.mean(1, keepdims=True)
    want = (a - mu) / np.sqrt(((a - mu) ** 2).mean(1, keepdims=True) + 1e-5)
    np.testing.assert_allclose(ln, want, rtol=1e-4, atol=1e-4)
    e = np.exp(a - a.max(1, keepdims=True))
    np.testing.assert_allclose(sm, e / e.sum(1, keepdims=True), rtol=1e-5, atol=1e-6)


def test_values_used_elsewhere_stay_buffers() -> None:
    """An intermediate that is also an output, or read by a matmul, is materialised: it ends one
    group and is an input of the next."""
    a, w = arr(16, 16), arr(16, 16, seed=3)
    lay = pf.MeshLayout.grid(2, 2)

    def build():
        x = pf.from_numpy(a, layout=lay)
        h = (x * 2.0).relu()  # an output and the matmul's operand
        y = (h @ pf.from_numpy(w, layout=lay) + 1.0).tanh()
        return [h, y]

    (h, y), _, text = check_same_bits(build)
    np.testing.assert_allclose(h, np.maximum(a * 2, 0), rtol=1e-6)
    np.testing.assert_allclose(y, np.tanh(np.maximum(a * 2, 0) @ w + 1), rtol=1e-4, atol=1e-5)
    assert len(re.findall(r"pe\.fused ", text)) == 2


def test_training_step_fuses_and_keeps_saved_values() -> None:
    """Backward reads forward values (relu's mask, the logits): the step still matches."""
    xb, w1, w2 = arr(8, 16), arr(16, 8, seed=1), arr(8, 4, seed=2)

    def build():
        x = pf.from_numpy(xb)
        a = pf.from_numpy(w1).requires_grad_()
        b = pf.from_numpy(w2).requires_grad_()
        y = pf.relu(x @ a) @ b
        loss = (y * y).mean()
        loss.backward()
        return [loss, a.grad, b.grad]

    (loss, ga, gb), _, text = check_same_bits(build)
    assert "pe.fused" in text
    h = np.maximum(xb @ w1, 0)
    y = h @ w2
    dy = 2 * y / y.size
    np.testing.assert_allclose(loss, (y * y).mean(), rtol=1e-5)
    np.testing.assert_allclose(gb, h.T @ dy, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(ga, xb.T @ ((dy @ w2.T) * (h > 0)), rtol=1e-4, atol=1e-6)


def test_long_chain_fits_where_the_unfused_one_did_not_before() -> None:
    """20 ops on 16 KiB tiles: fused, two tiles (input and result); the fused op costs what the
    unfused ops' ALU passes did, less the scalar fills."""
    a = arr(64, 64)
    lay = pf.MeshLayout.grid(1, 1)

    def build():
        x = pf.from_numpy(a, layout=lay)
        fns = [lambda t: t * 1.5, lambda t: t + 0.25, pf.relu, lambda t: t - 0.5, abs]
        for i in range(20):
            x = fns[i % 5](x)
        return [x]

    _, (fused, unfused), _ = check_same_bits(build, fused_ops=1)
    assert fused.sram_peak_max == 2 * 64 * 64 * 4
    assert fused.cycles < unfused.cycles


def test_wavelet_engine_agrees() -> None:
    a, row = arr(11, 13), arr(13, seed=1)
    lay = pf.MeshLayout.grid(2, 2)
    wavelet = dataclasses.replace(pf.sim.SMALL, fidelity="wavelet")

    def build():
        x = pf.from_numpy(a, layout=lay)
        return [((x + pf.from_numpy(row)) * 0.5).tanh()]

    fast, _, _ = compile_both(build)
    slow, _, inputs = compile_both(build, wavelet)
    (a1,), r1 = run(fast, inputs, exact=True)
    (a2,), r2 = run(slow, inputs)
    np.testing.assert_array_equal(a1, a2)
    assert abs(r2.cycles - r1.cycles) <= 0.05 * r1.cycles


def test_mesh_groups_predict_the_pass() -> None:
    """The groups plan-memory and the cost model predict on the mesh program are the ones the
    pass makes: the same expressions, in the same order."""
    a, row = arr(37, 29), arr(29, seed=1)
    lay = pf.MeshLayout.grid(3, 3)

    def build():
        x = pf.from_numpy(a, layout=lay)
        y = (x * 1.5 + pf.from_numpy(row)).relu()
        return [y, (y - y.mean(dim=1, keepdim=True)).exp()]

    module, _, _ = trace_module(build())
    compiler.run_pipeline(module, PIPELINES["lower-to-mesh"])
    predicted = sorted(
        fused_expr.format_steps(g.steps) for g in mesh_groups(compiler.main_func(module))
    )
    compiler.run_pipeline(module, "lower-mesh-to-pe,fuse-elementwise")
    made = sorted(re.findall(r'pe\.fused [^"]*expr "([^"]*)"', str(module)))
    assert predicted == made and len(made) == 2


def test_expression_errors_name_the_step() -> None:
    with pytest.raises(fused_expr.ExprError, match="step 1: unknown function 'nope'"):
        fused_expr.parse("relu.f32($0); nope.f32(%0)")
    with pytest.raises(fused_expr.ExprError, match="'add' takes 2 arguments, got 1"):
        fused_expr.parse("add.f32($0)")
    with pytest.raises(fused_expr.ExprError, match="%1 is not an earlier step"):
        fused_expr.parse("relu.f32(%1)")
    steps = fused_expr.parse("broadcast.f32($1, 1x4, 4x4); sub.f32($0, %0)")
    with pytest.raises(fused_expr.ExprError, match=r"\$0 holds 8 elements, not 16 or 1"):
        fused_expr.check(steps, [8, 4], 16)
    fused_expr.check(steps, [16, 4], 16)
    assert fused_expr.format_steps(steps) == "broadcast.f32($1, 1x4, 4x4); sub.f32($0, %0)"


def test_fused_cycles_model() -> None:
    """f32: one lane, so ALU-bound: every step's passes, one issue per pass; a broadcast read is
    no pass; f16 binary steps with two tile inputs are bound by the SRAM read port."""
    t = pf.sim.WSE2
    steps = fused_expr.parse("broadcast.f32($1, 1x64, 64x64); sub.f32($0, %0); exp.f32(%1)")
    cycles, flops = fused_expr.fused_cycles(t, steps, 4096, [4096, 64], ["f32", "f32"])
    passes = 1 + 8  # sub, exp's 8 passes (pyflame/core/elementwise.py)
    assert (cycles, flops) == (passes * 4096 + passes * t.vector_issue_cycles, passes * 4096)
    half = fused_expr.parse("add.f16($0, $1)")
    cycles, _ = fused_expr.fused_cycles(t, half, 4096, [4096, 4096], ["f16", "f16"])
    read = 4096 * 2 * 2 // t.mem_read_bytes_per_cycle
    assert cycles == max(4096 // 4, read) + t.vector_issue_cycles


@pytest.mark.parametrize(
    "text",
    [
        "mul.f32($0, $1); add.f32($2, %0)",  # the SGD update: the last add written in place
        "sub.f32($0, 0.5:f32); div.f32(%0, $1)",
        "mul.f32($0, $2); neg.f32(%0)",
        "add.f32($0, $1); exp.f32(%0)",  # a transcendental last: computed, then copied
        "broadcast.f32($1, 1x1, 1x12); mul.f32($0, %0)",
        "add.f32($0, $1); maximum.f32(%0, 0.0:f32)",
    ],
)
@pytest.mark.parametrize("at", [24, 36, 0])
def test_evaluate_into_the_destination_is_the_copied_result_bit_for_bit(text, at):
    """`evaluate(..., out=view)` (the sim's pe.fused step) gives the bits of assigning the
    result: the strided SRAM views as at run time, the output aliasing an input (the third
    at 24, the first at 0) or apart (36: the step before the last may write into it)."""
    steps = fused_expr.parse(text)
    rng = np.random.default_rng(len(text))
    block = (rng.standard_normal((3, 4, 48)) * 10).astype(np.float32)
    block[..., ::5] = -0.0
    views = [block[:, :, 0:12], block[:, :, 12:24], block[:, :, 24:36]]
    if "broadcast" in text:
        views[1] = block[:, :, 12:13]
    want = block.copy()
    want[:, :, at : at + 12] = fused_expr.evaluate(steps, [v.copy() for v in views], (3, 4), 12)
    got = block.copy()
    dst = got[:, :, at : at + 12]
    second = got[:, :, 12:13] if "broadcast" in text else got[:, :, 12:24]
    ins = [got[:, :, 0:12], second, got[:, :, 24:36]]
    assert fused_expr.evaluate(steps, ins, (3, 4), 12, out=dst) is dst
    assert got.tobytes() == want.tobytes()


@pytest.mark.parametrize(
    "text",
    [
        "sub.f32($0, $1); abs.f32(%0); neg.f32(%1)",  # logaddexp's: session 27's wrong values
        "mul.f32($0, $1); neg.f32(%0)",
        "neg.f32($0); add.f32(%0, $1)",
        "mul.f32($0, $1); add.f32($1, %0)",
    ],
)
@pytest.mark.parametrize("rect", [(slice(None), slice(None)), (slice(0, 1), slice(0, 1))])
def test_evaluate_into_lane_major_views_is_the_contiguous_result(text, rect):
    """Views of a lane-major block on 2x2 PEs (lanes 16 bytes apart: numpy's `negative` is
    wrong on such strides, core.elementwise.on_contiguous), the result written into another
    such view: the values of the same expression on contiguous copies."""
    steps = fused_expr.parse(text)
    rng = np.random.default_rng(11)
    planes = (rng.standard_normal((3 * 35, 2, 2)) * 4).astype(np.float32)
    planes[::6] = np.nan
    planes[1::7] = -0.0
    tiles = planes.transpose(1, 2, 0)[rect]
    views = [tiles[:, :, 0:35], tiles[:, :, 35:70]]
    lead = views[0].shape[:2]
    want = fused_expr.evaluate(steps, [np.ascontiguousarray(v) for v in views], lead, 35)
    out = tiles[:, :, 70:105]
    assert out.strides[-1] == 16 and not out.flags.c_contiguous
    fused_expr.evaluate(steps, views, lead, 35, out=out)
    assert np.ascontiguousarray(out).tobytes() == np.ascontiguousarray(want).tobytes()


_ONE = np.random.default_rng(7).standard_normal((3, 4, 1)).astype(np.float32)
_TILE = np.random.default_rng(8).standard_normal((3, 4, 12)).astype(np.float32)
_MASK = np.random.default_rng(9).random((3, 4, 12)) < 0.5
_FULL = np.broadcast_to(_ONE, (3, 4, 12))


@pytest.mark.parametrize(
    ("text", "inputs", "want"),
    [
        # a row's max taken off its row
        ("broadcast.f32($0, 1x1, 1x12); sub.f32($1, %0)", [_ONE, _TILE], _TILE - _FULL),
        (
            "broadcast.f32($0, 1x1, 1x12); select.f32($1, %0, 0.0:f32)",
            [_ONE, _MASK],
            np.where(_MASK, _FULL, np.float32(0)),
        ),
        (
            "exp.f32($1); broadcast.f32($0, 1x1, 1x12); mul.f32(%0, %1); sub.f32($1, %2)",
            [_ONE, _TILE],
            _TILE - np.exp(_TILE) * _FULL,
        ),
        # a broadcast of a broadcast reshapes the first: all of its lanes are made
        (
            "broadcast.f32($0, 1x1, 1x12); broadcast.f32(%0, 1x1, 12x1); add.f32($1, %1)",
            [_ONE, _TILE],
            _TILE + _FULL,
        ),
        ("broadcast.f32($0, 1x1, 1x12)", [_ONE], _FULL),  # the last step: the whole tile
        ("broadcast.f32($0, 1x1, 1x12); neg.f32(%0)", [_ONE], -_FULL),  # last, narrow
        # a value made from the narrow one, broadcast again (fuzzer seed 2501 program 90)
        (
            "broadcast.f32($0, 1, 12); neg.f32(%0); broadcast.f32(%1, 12x1, 12x1); "
            "select.f32($1, %2, 0.0:f32)",
            [_ONE, _MASK],
            np.where(_MASK, -_FULL, np.float32(0)),
        ),
    ],
)
def test_a_broadcast_of_one_value_per_pe_gives_the_materialised_values(text, inputs, want):
    """A broadcast of one value per PE is left to numpy's broadcasting (no copy of it n
    times): the same values, and a whole tile as the result."""
    got = fused_expr.evaluate(fused_expr.parse(text), inputs, (3, 4), 12)
    assert got.shape == (3, 4, 12)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize(
    "shapes",
    [
        [(64, 1, 10), (64, 1, 1)],
        [(64, 1, 1), (64, 1, 10)],
        [(64, 1, 10), (1, 1, 10), (10,)],
        [(64, 8, 10), (64, 1, 10)],
        [(3, 1), (1, 4)],
        [(2, 3), (3,)],
        [(5,), (5,)],
        [(1, 1), (1, 1)],
    ],
)
def test_broadcasts_to_is_numpys_broadcast_of_the_shapes(shapes):
    """`evaluate`'s quick test that a step's operands broadcast to its destination's shape."""
    import numpy as np

    from pyflame.core.fused_expr import _broadcasts_to

    full = np.broadcast_shapes(*shapes)
    for target in {full, shapes[0], (7, *full), tuple(d + 1 for d in full)}:
        assert _broadcasts_to(list(shapes), target) == (full == target)
