"""Tensors at an origin other than PE (0, 0): the distribution algebra's `origin`, its text in
`!mesh.tensor` and `pf.dist`, every op family lowered to pe on a rectangle away from the
corner (both simulator engines), and exchanges between grids at different origins.

The op-family check moves a whole program: it lowers to mesh, moves every mesh tensor by one
origin (every op's tensors stay together, so every lowering has to honour it) and runs it
again; the data must be bit-identical to the program at (0, 0), and numpy's answer."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest
from xdsl.dialects.builtin import StringAttr, f32
from xdsl.parser import Parser

import pyflame as pf
from pyflame import compiler
from pyflame.core.distribution import Distribution
from pyflame.core.errors import CompileError
from pyflame.core.exchange_plan import exchange_phases
from pyflame.dialects import flame, mesh
from pyflame.passes.layouts import ASSIGNED_ATTR, dist_text, parse_dist_text
from pyflame.passes.pe_lowering.layered_matmul import plan_for as layered_plan_for

WAVELET = dataclasses.replace(pf.sim.SMALL, fidelity="wavelet")


# --------------------------------------------------------------------------- the algebra


def test_origin_defaults_to_the_corner_and_is_kept_by_with_and_normalized():
    d = Distribution((8, 6), (2, 1), ("r", "c"), origin=(3, 5))
    assert Distribution((8, 6), (2, 1), ("r", "c")).origin == (0, 0)
    assert d.with_(shape=(8, 7)).origin == (3, 5)
    assert d.normalized() == Distribution((8, 6), (2, 1), ("r", ""), (3, 5))
    assert d.rect == (3, 5, 2, 1)
    assert d.fits(5, 6) and not d.fits(5, 5) and not d.fits(4, 6)
    assert str(d) == "8x6 on 2x1 at (3, 5) split [r, c]"


def test_the_type_prints_the_origin_only_when_not_the_corner():
    at = mesh.MeshTensorType(Distribution((8, 8), (2, 2), ("r", "c"), (1, 3)), f32)
    corner = mesh.MeshTensorType(Distribution((8, 8), (2, 2), ("r", "c")), f32)
    assert str(at) == "!mesh.tensor<8x8xf32 on 2x2 at (1, 3) split [r, c]>"
    assert str(corner) == "!mesh.tensor<8x8xf32 on 2x2 split [r, c]>"
    ctx = compiler.make_context()
    for typ in (at, corner):
        assert Parser(ctx, str(typ)).parse_type() == typ


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("!mesh.tensor<8x8xf32 on 2x2 at (0, 0) split [r, c]>", "leave `at` out"),
        ("!mesh.tensor<8x8xf32 on 2x2 at (-1, 0) split [r, c]>", "Expected"),
    ],
)
def test_a_spelled_out_corner_or_a_negative_origin_does_not_parse(text, message):
    with pytest.raises(Exception, match=message):
        Parser(compiler.make_context(), text).parse_type()


def test_pf_dist_text_round_trips_the_origin():
    d = Distribution((8, 8), (4, 2), ("r", "c"), (0, 16))
    assert dist_text(d) == "4x2 at (0, 16) split [r, c]"
    assert parse_dist_text(dist_text(d), (8, 8)) == d
    assert parse_dist_text("4x2 split [r, c]", (8, 8)).origin == (0, 0)


@pytest.mark.parametrize(
    ("src", "dst"),
    [
        (((0, 0), (2, 2)), ((2, 2), (2, 2))),  # disjoint, diagonal
        (((1, 0), (3, 2)), ((0, 1), (2, 3))),  # overlapping
        (((0, 4), (1, 1)), ((3, 0), (2, 4))),  # one PE to a grid on its south-west
    ],
)
def test_exchange_messages_travel_between_the_rectangles(src, dst):
    ds = Distribution((7, 9), src[1], ("r", "c"), src[0])
    dd = Distribution((7, 9), dst[1], ("r", "c"), dst[0])
    plan = exchange_phases(ds, dd, None)
    anchor = (min(ds.origin[0], dd.origin[0]), min(ds.origin[1], dd.origin[1]))

    def inside(cell, d):
        r, c = cell[0] + anchor[0], cell[1] + anchor[1]
        return d.origin[0] <= r < d.origin[0] + d.grid[0] and (
            d.origin[1] <= c < d.origin[1] + d.grid[1]
        )

    messages = [m for p in plan.phases for m in p.messages]
    assert messages
    assert all(inside(s, ds) and inside(t, dd) for s, t in messages)
    # every real destination element has a source, moved by a message or locally
    assert plan.has_src[plan.valid].all()


# --------------------------------------------------------------------------- whole programs


def shift_mesh(module, by: tuple[int, int]):
    """`module` (at mesh stage, every tensor at (0, 0)) with every mesh tensor moved by `by`."""
    text = re.sub(r"(on \d+x\d+) split \[", rf"\1 at ({by[0]}, {by[1]}) split [", str(module))
    assert " at (" in text
    return Parser(compiler.make_context(), text).parse_module()


def run_at(text: str, inputs: dict, by: tuple[int, int] | None, target) -> tuple[list, int]:
    module = Parser(compiler.make_context(), text).parse_module()
    compiler.lower(module, "mesh")
    if by is not None:
        grids = [
            v.type.dist.rect
            for op in module.walk()
            for v in op.results
            if isinstance(v.type, mesh.MeshTensorType)
        ]
        assert max(r + n for r, _, n, _ in grids) + by[0] <= target.fabric_rows
        assert max(c + n for _, c, _, n in grids) + by[1] <= target.fabric_cols
        module = shift_mesh(module, by)
        module.verify()
    outs, report = compiler.run_module(module, inputs)
    return outs, report.cycles


rng = np.random.default_rng(3)
X = rng.standard_normal((9, 13)).astype(np.float32)
Y = rng.standard_normal((9, 13)).astype(np.float32)
W = rng.standard_normal((13, 7)).astype(np.float32)
V = rng.standard_normal((13,)).astype(np.float32)
IMG = rng.standard_normal((2, 3, 9, 7)).astype(np.float32)
KER = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
IDX = np.array([3, 0, 8, 8, 1], dtype=np.int32)


def softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def conv_ref(x, k):
    n, _, h, w = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    out = np.zeros((n, k.shape[0], h, w), dtype=np.float64)
    for i in range(3):
        for j in range(3):
            out += np.einsum("nchw,oc->nohw", xp[:, :, i : i + h, j : j + w], k[:, :, i, j])
    return out


# name -> (program on pf tensors, numpy reference, inputs); each a different op family
FAMILIES = {
    "elementwise": (
        lambda t: pf.where(t["x"] > 0, pf.exp(t["x"]) * t["y"], t["y"] - 1.0),
        lambda a: np.where(a["x"] > 0, np.exp(a["x"]) * a["y"], a["y"] - 1.0),
        ("x", "y"),
    ),
    "reductions": (
        lambda t: t["x"].sum(0) + t["y"].amax(0),
        lambda a: a["x"].sum(0) + a["y"].max(0),
        ("x", "y"),
    ),
    "softmax": (lambda t: pf.softmax(t["x"], 1), lambda a: softmax(a["x"], 1), ("x",)),
    "matmul": (lambda t: t["x"] @ t["w"], lambda a: a["x"] @ a["w"], ("x", "w")),
    "gemv": (lambda t: t["x"] @ t["v"], lambda a: a["x"] @ a["v"], ("x", "v")),
    "shape ops": (
        lambda t: pf.cat([t["x"][2:7], pf.pad(t["y"], (1, 0))[:4, :13]], 0).T.reshape(13, 9),
        lambda a: np.concatenate(
            [a["x"][2:7], np.pad(a["y"], ((0, 0), (1, 0)))[:4, :13]], 0
        ).T.reshape(13, 9),
        ("x", "y"),
    ),
    "broadcast": (lambda t: t["x"] + t["v"], lambda a: a["x"] + a["v"], ("x", "v")),
    "conv2d": (
        lambda t: pf.nn.functional.max_pool2d(
            pf.nn.functional.conv2d(t["img"], t["ker"], padding=1), 2
        ),
        lambda a: (
            conv_ref(a["img"], a["ker"])[:, :, :8, :6].reshape(2, 4, 4, 2, 3, 2).max(axis=(3, 5))
        ),
        ("img", "ker"),
    ),
    "gather rows": (
        lambda t: pf.nn.functional.embedding(t["idx"], t["w"]),
        lambda a: a["w"][a["idx"]],
        ("idx", "w"),
    ),
    "creation": (
        lambda t: t["x"] + pf.arange(13, dtype=pf.float32) + pf.ones(9, 13),
        lambda a: a["x"] + np.arange(13, dtype=np.float32) + 1.0,
        ("x",),
    ),
}
DATA = {"x": X, "y": Y, "w": W, "v": V, "img": IMG, "ker": KER, "idx": IDX}


def trace(name: str, target) -> tuple[str, dict]:
    program, _, names = FAMILIES[name]
    with pf.target(target):
        tensors = {n: pf.from_numpy(DATA[n], name=n) for n in names}
        return pf.ir(program(tensors), stage="flame"), {n: DATA[n] for n in names}


@pytest.mark.parametrize("name", list(FAMILIES))
@pytest.mark.parametrize("target", [pf.sim.SMALL, WAVELET], ids=["fast", "wavelet"])
def test_every_op_family_runs_away_from_the_corner(name, target):
    text, inputs = trace(name, target)
    at_corner, _ = run_at(text, inputs, None, target)
    moved, _ = run_at(text, inputs, (3, 5), target)
    for a, b in zip(at_corner, moved, strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(moved[0], FAMILIES[name][1](inputs), rtol=1e-4, atol=1e-4)


def test_a_grid_off_the_fabric_is_a_compile_error():
    text, inputs = trace("elementwise", pf.sim.SMALL)
    module = Parser(compiler.make_context(), text).parse_module()
    compiler.lower(module, "mesh")
    module = shift_mesh(module, (0, pf.sim.SMALL.fabric_cols))
    with pytest.raises(CompileError, match="does not fit the small fabric of 16x16 PEs"):
        compiler.lower(module, "pe")


# --------------------------------------------------------------------------- two products


def two_products(origins: list[str | None], target) -> tuple[list, int]:
    """a @ b and c @ d on 4x4 grids at the given origins (pf.dist), and their sum."""
    a, b, c, d = (rng.standard_normal(s).astype(np.float32) for s in ((19, 11), (11, 9)) * 2)
    with pf.target(target):
        ta, tb, tc, td = (
            pf.from_numpy(x, name=n) for x, n in zip((a, b, c, d), "abcd", strict=True)
        )
        x, y = ta @ tb, tc @ td
        text = pf.ir(x + y, x, y, stage="flame")
    module = Parser(compiler.make_context(), text).parse_module()
    compiler.run_pipeline(module, "decompose,cse,assign-layouts")
    products = [op for op in module.walk() if isinstance(op, flame.MatmulOp)]
    for op, at in zip(products, origins, strict=True):
        op.attributes[ASSIGNED_ATTR] = StringAttr(f"4x4{f' at {at}' if at else ''} split [r, c]")
    # the rest of the way to mesh without place-on-fabric (it would move the second product)
    compiler.run_pipeline(module, "plan-placement,flame-to-mesh,plan-memory")
    outs, report = compiler.run_module(module, dict(zip("abcd", (a, b, c, d), strict=True)))
    for out, ref in zip(outs, (a @ b + c @ d, a @ b, c @ d), strict=True):
        np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-4)
    return outs, report.cycles


@pytest.mark.parametrize("target", [pf.sim.SMALL, WAVELET], ids=["fast", "wavelet"])
def test_independent_products_side_by_side_overlap_in_time(target):
    _, serial = two_products([None, None], target)
    _, apart = two_products([None, "(0, 4)"], target)
    _, overlapping = two_products(["(1, 1)", "(3, 2)"], target)
    assert apart < 0.7 * serial
    assert overlapping > apart


# --------------------------------------------------------------------------- the user's hint


def test_a_grid_hint_may_say_where_on_the_fabric():
    lay = pf.MeshLayout.grid(4, 4, at=(2, 8))
    assert lay.at == (2, 8) and lay != pf.MeshLayout.grid(4, 4)
    assert repr(lay) == "MeshLayout.grid(4, 4, at=(2, 8))"
    assert pf.MeshLayout.from_attr(lay.to_attr()) == lay
    assert str(lay.to_attr()) == "#flame.layout<grid [4, 4] at [2, 8]>"
    ctx = compiler.make_context()
    assert Parser(ctx, str(lay.to_attr())).parse_attribute() == lay.to_attr()
    with pf.target(pf.sim.SMALL):
        x = pf.from_numpy(X, name="x", layout=lay)
        s = (pf.relu(x * 2.0) + 1.0).sum(0)
        assert "!mesh.tensor<9x13xf32 on 4x4 at (2, 8) split [r, c]>" in pf.ir(s, stage="mesh")
        np.testing.assert_allclose(s.numpy(), (np.maximum(X * 2, 0) + 1).sum(0), rtol=1e-5)


def test_a_product_of_operands_hinted_away_from_the_corner_runs_where_they_are():
    """Operands hinted at (7, 3) and no hint for the product: the product (and the chained one
    after it) runs at (7, 3), not at PE (0, 0) with every operand moved there (the second product's operand moves within that grid). Moving them was slower and the fast engine under-timed the moves' parked messages
    (927 against the wavelet engine's 1,030 cycles; here 966 / 971)."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((17, 4)).astype(np.float16)
    b = rng.standard_normal((4, 55)).astype(np.float16)
    lay = pf.MeshLayout.grid(4, 4, at=(7, 3))
    cycles = {}
    for target in (pf.sim.SMALL, WAVELET):
        with pf.target(target):
            x, y = pf.from_numpy(a, layout=lay), pf.from_numpy(b, layout=lay)
            z = (x @ y) @ pf.from_numpy(b.T.copy(), layout=lay)
            pe_ir = pf.ir(z, stage="pe")
            layouts = re.findall(r"(?:src|dst)_layout = #pe.layout<([^>]*)>", pe_ir)
            assert layouts and all("at (7, 3)" in t for t in layouts), layouts
            assert "!mesh.tensor<17x55xf16 on 4x4 at (7, 3) split [r, c]>" in pf.ir(z, stage="mesh")
            want = (a.astype(np.float32) @ b) @ b.T
            np.testing.assert_allclose(z.numpy(), want, rtol=3e-2, atol=3e-2 * np.abs(want).max())
            cycles[target.fidelity] = pf.last_report().cycles
    assert abs(cycles["wavelet"] - cycles["fast"]) <= 0.05 * cycles["fast"], cycles


def test_a_product_whose_grid_would_leave_the_fabric_from_its_operands_runs_at_the_corner():
    """Operands on 2x2 at (14, 14) of the 16x16 fabric whose product needs a larger grid: the
    product's grid cannot start there, so it goes to PE (0, 0) as before."""
    rng = np.random.default_rng(1)
    a = rng.standard_normal((96, 96)).astype(np.float32)
    lay = pf.MeshLayout.grid(2, 2, at=(14, 14))
    with pf.target(pf.sim.SMALL):
        z = pf.from_numpy(a, layout=lay) @ pf.from_numpy(a, layout=lay)
        mesh_ir = pf.ir(z, stage="mesh")
        assert re.search(r"mesh.matmul \w+ .*-> !mesh.tensor<96x96xf32 on (\d+)x\1 split", mesh_ir)
        np.testing.assert_allclose(z.numpy(), a @ a, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: pf.MeshLayout("replicated", (2, 2), at=(0, 1)), "only MeshLayout.grid takes at="),
        (lambda: pf.MeshLayout.grid(2, 2, at=(0, -1)), r"at must be a PE \(row, col\) >= \(0, 0\)"),
    ],
)
def test_a_bad_origin_hint_says_why(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_an_origin_hint_past_the_fabric_is_a_compile_error():
    with (
        pf.target(pf.sim.SMALL),
        pytest.raises(CompileError, match=r"needs a 4x4 grid at \(14, 0\)"),
    ):
        pf.eval(pf.from_numpy(X, layout=pf.MeshLayout.grid(4, 4, at=(14, 0))) + 1)


@pytest.mark.parametrize("target", [pf.sim.SMALL, WAVELET], ids=["fast", "wavelet"])
@pytest.mark.parametrize("by", [(0, 5), (3, 0), (3, 5)])
def test_the_2_5d_summa_runs_away_from_the_corner(target, by):
    """summa25d's layers, panels and ring steps are relative to its grid: moved off PE (0, 0)
    (place-on-fabric puts products there) it keeps its plan, the same bits and numpy's."""
    a = rng.standard_normal((37, 29)).astype(np.float32)
    b = rng.standard_normal((29, 23)).astype(np.float32)
    with pf.target(target):
        ta = pf.from_numpy(a, name="a", layout=pf.MeshLayout.grid(8, 8))
        tb = pf.from_numpy(b, name="b", layout=pf.MeshLayout.grid(8, 8))
        text = pf.ir(ta @ tb, stage="flame")
    module = Parser(compiler.make_context(), text).parse_module()
    compiler.lower(module, "mesh")
    (matmul,) = [op for op in module.walk() if isinstance(op, mesh.MatmulOp)]
    matmul.properties["algorithm"] = mesh.MatmulAlgorithmAttr(mesh.MatmulAlgorithm.SUMMA25D)
    forced = str(module)
    inputs = {"a": a, "b": b}
    outs = {}
    for shift in (None, by):
        moved = Parser(compiler.make_context(), forced).parse_module()
        if shift is not None:
            moved = shift_mesh(moved, shift)
        (op,) = [o for o in moved.walk() if isinstance(o, mesh.MatmulOp)]
        assert op.algorithm.data == "summa25d"
        plan = layered_plan_for(op, target)
        assert plan is not None and plan.layers > 1  # the 2.5D plan, not SUMMA's fallback
        outs[shift], _ = compiler.run_module(moved, inputs)
    np.testing.assert_array_equal(outs[None][0], outs[by][0])
    np.testing.assert_allclose(outs[by][0], a @ b, rtol=1e-4, atol=1e-4)


def _concat_at_two_origins():
    """x (on 3x7 at (0, 7)) halves swapped, the second plus v (on the larger 6x8 at (4, 6),
    where the sum lands), then a product: the concat's operands sit at two origins."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((36, 92)).astype(np.float32)
    v = rng.standard_normal((36, 46)).astype(np.float32)
    w = rng.standard_normal((92, 52)).astype(np.float32)
    xt = pf.from_numpy(x, layout=pf.MeshLayout.grid(3, 7, at=(0, 7)))
    vt = pf.from_numpy(v, layout=pf.MeshLayout.grid(6, 8, at=(4, 6)))
    x1, x2 = xt.chunk(2, 1)
    out = pf.cat([x2, x1 + vt], 1) @ pf.from_numpy(w, layout=pf.MeshLayout.grid(8, 6))
    want = np.concatenate([x[:, 46:], x[:, :46] + v], 1).astype(np.float64) @ w
    return out, want


def test_each_exchange_phase_routes_from_its_own_grids_corner():
    """A concat's exchanges are lowered from the corner of all its operands (the anchor, here
    (0, 6)); each phase's routes come from the corner of its own two grids (the first
    operand's exchange: (0, 7)). The routes were moved by the anchor only, one column short of
    the exchange's PEs (RoutingError: no route at a sending PE; found by tests/fuzz/lean.py,
    session 13). Every phase's pe.routes states exactly its plan's routes on the fabric."""
    from pyflame.core.exchange_plan import extent
    from pyflame.dialects import pe
    from pyflame.tracing import trace_module

    with pf.target(pf.sim.SMALL):
        out, _ = _concat_at_two_origins()
        module, _, _ = trace_module([out])
        compiler.lower(module, "mesh")
        compiler.run_pipeline(module, "lower-mesh-to-pe")
    ops = list(module.walk())
    checked = 0
    for before, op in zip(ops, ops[1:], strict=False):
        if not isinstance(op, pe.ExchangeOp) or op.phase is None:
            continue
        ds, dd = op.src_layout.dist, op.dst_layout.dist
        index_map = None
        if op.offset is not None:
            index_map = (tuple(op.offset.get_values()), tuple(op.stride.get_values()))
        r0, c0, _, _ = extent(ds, dd)
        phase = exchange_phases(ds, dd, index_map).phases[op.phase.value.data - 1]
        want = sorted(((r + r0, c + c0, nr, nc), a, b) for (r, c, nr, nc), a, b in phase.routes)
        assert isinstance(before, pe.RoutesOp), before.name
        got = sorted((rect, str(p.value), str(o[0].value)) for rect, p, o in before.rule_list())
        assert got == want, op.attributes
        checked += 1
    assert checked > 10


@pytest.mark.parametrize(
    "target",
    # (the wavelet engine's run is 10 s of the default suite: the slow suite runs it)
    [pf.sim.SMALL, pytest.param(WAVELET, marks=pytest.mark.slow)],
    ids=["fast", "wavelet"],
)
def test_a_concat_of_tensors_at_two_origins_runs(target):
    with pf.target(target):
        out, want = _concat_at_two_origins()
        got = out.numpy()
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
