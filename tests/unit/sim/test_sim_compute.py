"""Compute ops against numpy, and their cycle costs."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from pyflame.core import elementwise
from pyflame.core.distribution import Distribution
from pyflame.core.target import SMALL
from pyflame.sim import costs, small_tiles, threads

RECT = (0, 0, 2, 3)
N = 12  # elements per PE


def _prog(sim, ops, bufs, ins=("a", "b"), out="d", n=N, rect=RECT, out_n=None):
    """Tiles of host inputs `ins` ([rc, _] layout: PE-distinct data), run `ops`, read `out`."""
    pes = rect[2] * rect[3]
    b = sim.Body()
    for name in bufs:
        b.alloc(name, rect, n)
    if out_n is not None:
        b.alloc(out, rect, out_n)
    shape = (pes * n,)
    lay = sim.layout(shape, rect[2:], ("rc",))
    args = []
    for name in ins:
        b.op(
            f"pe.host_in %{name}_h, %{name} {{layout = {lay}, pes = {sim.pes(rect)}}} : "
            f"{sim.tensor(shape)}, {b.t(name)}"
        )
        args.append(f"%{name}_h: {sim.tensor(shape)}")
    for op in ops:
        b.op(op.replace("PES", sim.pes(rect)))
    m = out_n if out_n is not None else n
    oshape = (pes * m,)
    olay = sim.layout(oshape, rect[2:], ("rc",))
    b.op(
        f"%o = pe.host_out %{out} {{layout = {olay}, pes = {sim.pes(rect)}}} : {b.t(out)} -> "
        f"{sim.tensor(oshape)}"
    )
    return sim.program(b.text(), ", ".join(args), sim.tensor(oshape), f"%o : {sim.tensor(oshape)}")


def _tiles(x, n=N):
    return x.reshape(RECT[2], RECT[3], n)


T = "!pe.buf<12xf32>"


@pytest.mark.parametrize(
    "fn,scalar,ref",
    [
        ("neg", "", lambda a: -a),
        ("relu", "", lambda a: np.maximum(a, 0)),
        ("scale", ", scalar = 2.5 : f64", lambda a: a * np.float32(2.5)),
    ],
)
def test_unary(sim, rng, fn, scalar, ref):
    text = _prog(
        sim,
        [f"pe.unary {fn} %d, %a {{pes = PES{scalar}}} : {T}, {T}"],
        ["a", "d"],
        ins=("a",),
    )
    a = rng.standard_normal(6 * N).astype(np.float32)
    (o,), _ = sim.run(text, a)
    np.testing.assert_array_equal(o, ref(a))


@pytest.mark.parametrize(
    "fn,ref", [("add", np.add), ("sub", np.subtract), ("mul", np.multiply), ("div", np.divide)]
)
def test_binary(sim, rng, fn, ref):
    text = _prog(sim, [f"pe.binary {fn} %d, %a, %b {{pes = PES}} : {T}, {T}, {T}"], ["a", "b", "d"])
    a, b = (rng.standard_normal(6 * N).astype(np.float32) for _ in range(2))
    (o,), report = sim.run(text, a, b)
    np.testing.assert_array_equal(o, ref(a, b))
    # 12 f32 elements: f vector passes (pyflame.core.elementwise: add/sub/mul 1, div 4), each
    # 12 cycles on one fp32 lane (96 bytes read at 16 a cycle, 48 written at 8: 6 each)
    # plus the issue overhead
    f = elementwise.BINARY[fn].flops
    assert report.cycles == f * (12 + SMALL.vector_issue_cycles)
    assert report.flops == f * 6 * N


def test_in_place_binary_and_copy_and_fill(sim, rng):
    ops = [
        f"pe.binary add %a, %a, %b {{pes = PES}} : {T}, {T}, {T}",
        f"pe.copy %d, %a {{pes = PES}} : {T}, {T}",
        f"pe.fill %a {{value = 3.0 : f64, pes = PES}} : {T}",
        f"pe.binary mul %d, %d, %a {{pes = PES}} : {T}, {T}, {T}",
    ]
    text = _prog(sim, ops, ["a", "b", "d"])
    a, b = (rng.standard_normal(6 * N).astype(np.float32) for _ in range(2))
    (o,), _ = sim.run(text, a, b)
    np.testing.assert_array_equal(o, (a + b) * np.float32(3))


def test_fill_on_part_of_a_buffer(sim, rng):
    """An op on a sub-rectangle of its buffer's PEs touches only those PEs."""
    text = _prog(
        sim,
        [f"pe.fill %a {{value = 7.0 : f64, pes = {sim.pes((1, 1, 1, 2))}}} : {T}"],
        ["a"],
        ins=("a",),
        out="a",
    )
    a = rng.standard_normal(6 * N).astype(np.float32)
    (o,), _ = sim.run(text, a)
    want = _tiles(a.copy())
    want[1, 1:] = 7
    np.testing.assert_array_equal(o, want.ravel())


@pytest.mark.parametrize("kind", ["sum", "prod", "max", "min"])
@pytest.mark.parametrize(
    "shape,dims",
    [((3, 4), (0,)), ((3, 4), (1,)), ((2, 3, 2), (0, 2)), ((12,), (0,)), ((3, 4), (0, 1))],
)
def test_reduce(sim, rng, monkeypatch, shape, dims, kind):
    out = int(np.prod([1 if i in dims else n for i, n in enumerate(shape)]))
    s = ", ".join(map(str, shape))
    d = ", ".join(map(str, dims))
    text = _prog(
        sim,
        [
            (
                f"pe.reduce {kind} %d, %a {{shape = array<i64: {s}>, "
                f"dims = array<i64: {d}>, pes = PES}} : !pe.buf<{out}xf32>, {T}"
            )
        ],
        ["a"],
        ins=("a",),
        out_n=out,
    )
    a = rng.standard_normal(6 * N).astype(np.float32)
    a[::5] = np.where(np.arange(a[::5].size) % 2, 0.0, -0.0)  # signed zeros (max/min ties)
    (o,), _ = sim.run(text, a)
    fn = {"sum": np.sum, "prod": np.prod, "max": np.max, "min": np.min}[kind]
    want = fn(_tiles(a).reshape((2, 3) + shape), axis=tuple(x + 2 for x in dims), keepdims=True)
    np.testing.assert_allclose(o, want.ravel(), rtol=1e-6, atol=1e-6)
    # the small-tile form (pyflame/sim/small_tiles.py) on these 6 PEs too: the same bits
    monkeypatch.setattr(small_tiles, "MIN_OUTPUTS", 1)
    (fast,), _ = sim.run(text, a)
    assert fast.tobytes() == o.tobytes()


@pytest.mark.parametrize("shape,perm", [((3, 4), (1, 0)), ((2, 3, 2), (2, 0, 1)), ((12,), (0,))])
def test_transpose(sim, rng, shape, perm):
    s = ", ".join(map(str, shape))
    p = ", ".join(map(str, perm))
    text = _prog(
        sim,
        [
            (
                f"pe.transpose %d, %a {{shape = array<i64: {s}>, perm = array<i64: {p}>, "
                f"pes = PES}} : {T}, {T}"
            )
        ],
        ["a", "d"],
        ins=("a",),
    )
    a = rng.standard_normal(6 * N).astype(np.float32)
    (o,), _ = sim.run(text, a)
    want = _tiles(a).reshape((2, 3) + shape).transpose((0, 1) + tuple(x + 2 for x in perm))
    np.testing.assert_array_equal(o, want.reshape(-1))


@pytest.mark.parametrize("parallel", [False, True])
def test_matmul_acc(sim, rng, monkeypatch, parallel):
    if parallel:  # force the multi-threaded path on a small problem
        monkeypatch.setattr(threads, "PARALLEL_FMACS", 1)
        monkeypatch.setattr(threads, "thread_count", lambda: 2)
    m, k, n = 3, 4, 2
    b = sim.Body()
    for name, size in (("acc", m * n), ("lhs", m * k), ("rhs", k * n)):
        b.alloc(name, RECT, size)
    args = []
    for name, size in (("acc", m * n), ("lhs", m * k), ("rhs", k * n)):
        shape = (6 * size,)
        lay = sim.layout(shape, (2, 3), ("rc",))
        b.op(
            f"pe.host_in %{name}_h, %{name} {{layout = {lay}, pes = {sim.pes(RECT)}}} : "
            f"{sim.tensor(shape)}, {b.t(name)}"
        )
        args.append(f"%{name}_h: {sim.tensor(shape)}")
    b.op(
        f"pe.matmul_acc %acc, %lhs, %rhs {{m = {m} : i64, k = {k} : i64, n = {n} : i64, "
        f"pes = {sim.pes(RECT)}}} : {b.t('acc', 'lhs', 'rhs')}"
    )
    lay = sim.layout((6 * m * n,), (2, 3), ("rc",))
    tt = sim.tensor((6 * m * n,))
    b.op(f"%o = pe.host_out %acc {{layout = {lay}, pes = {sim.pes(RECT)}}} : {b.t('acc')} -> {tt}")
    text = sim.program(b.text(), ", ".join(args), tt, f"%o : {tt}")
    acc, lhs, rhs = (rng.standard_normal(6 * s).astype(np.float32) for s in (m * n, m * k, k * n))
    (o,), report = sim.run(text, acc, lhs, rhs)
    want = acc.reshape(6, m, n) + lhs.reshape(6, m, k) @ rhs.reshape(6, k, n)
    np.testing.assert_allclose(o, want.ravel(), rtol=1e-5, atol=1e-5)
    # K*N vector FMACs of length M, one lane: M cycles each plus the issue overhead
    assert report.cycles == k * n * (m + SMALL.vector_issue_cycles)
    assert report.flops == 6 * 2 * m * k * n


@pytest.mark.parametrize(
    "shape,grid,split",
    [((7, 5), (2, 3), ("r", "c")), ((10, 3), (2, 3), ("rc", "")), ((5, 4), (2, 3), ("c", ""))],
)
def test_mask_pad(sim, shape, grid, split):
    d = Distribution(shape, grid, split)
    rect = (0, 0) + grid
    lay = sim.layout(shape, grid, split)
    b = sim.Body()
    b.alloc("a", rect, d.local_elems)
    b.op(f"pe.fill %a {{value = 1.0 : f64, pes = {sim.pes(rect)}}} : {b.t('a')}")
    b.op(
        f"pe.mask_pad %a {{layout = {lay}, value = -5.0 : f64, pes = {sim.pes(rect)}}} : {b.t('a')}"
    )
    # read the raw tiles back through a [rc] layout of all the tiles' elements
    flat = (grid[0] * grid[1] * d.local_elems,)
    flay = sim.layout(flat, grid, ("rc",))
    b.op(
        f"%o = pe.host_out %a {{layout = {flay}, pes = {sim.pes(rect)}}} : {b.t('a')} -> "
        f"{sim.tensor(flat)}"
    )
    text = sim.program(b.text(), "", sim.tensor(flat), f"%o : {sim.tensor(flat)}")
    (o,), _ = sim.run(text)
    tiles = o.reshape(grid + tuple(d.block))
    for r in range(grid[0]):
        for c in range(grid[1]):
            for e in np.ndindex(*d.block):
                g = [d.block_index(k, r, c) * d.block[k] + e[k] for k in range(len(shape))]
                pad = any(gi >= n for gi, n in zip(g, shape, strict=True))
                assert tiles[(r, c) + e] == (-5.0 if pad else 1.0)


def _randn_program(sim, shape, grid, split):
    d = Distribution(shape, grid, split)
    rect = (0, 0) + grid
    lay = sim.layout(shape, grid, split)
    b = sim.Body()
    b.alloc("a", rect, d.local_elems)
    b.op(f"pe.random_normal %a, %s {{layout = {lay}, pes = {sim.pes(rect)}}} : {b.t('a')}, i64")
    tt = sim.tensor(shape)
    b.op(f"%o = pe.host_out %a {{layout = {lay}, pes = {sim.pes(rect)}}} : {b.t('a')} -> {tt}")
    return sim.plan(sim.program(b.text(), "%s: i64", tt, f"%o : {tt}"))


def test_random_normal_is_layout_independent(sim):
    shape = (37, 29)
    exes = [
        _randn_program(sim, shape, g, s)
        for g, s in [
            ((1, 1), ("", "")),
            ((3, 2), ("r", "c")),
            ((2, 4), ("c", "r")),
            ((2, 2), ("rc", "")),
            ((2, 3), ("", "c")),
        ]
    ]
    outs = [exe.run([42])[0][0] for exe in exes]
    for o in outs[1:]:
        np.testing.assert_array_equal(o, outs[0])
    other = exes[1].run([43])[0][0]
    assert not np.allclose(other, outs[0])
    z = exes[0].run([7])[0][0]
    assert abs(float(z.mean())) < 0.05 and abs(float(z.std()) - 1) < 0.05
    again = exes[2].run([42])[0][0]
    np.testing.assert_array_equal(again, outs[0])  # the same seed: the same values


def test_random_normal_statistics():
    from pyflame.sim import rng

    z = rng.normal(123, np.arange(200_000))
    assert z.dtype == np.float32
    assert abs(float(z.mean())) < 0.01
    assert abs(float(z.std()) - 1) < 0.01
    assert abs(float(np.mean(z.astype(np.float64) ** 4)) - 3) < 0.1
    # independent streams for neighbouring seeds and indices
    w = rng.normal(124, np.arange(200_000))
    assert abs(np.corrcoef(z, w)[0, 1]) < 0.01
    assert abs(np.corrcoef(z[:-1], z[1:])[0, 1]) < 0.01


def test_cost_table():
    t = SMALL
    issue = t.vector_issue_cycles
    # acc[6, 4] += lhs[6, 5] @ rhs[5, 4]: 5 * 4 FMACs of length 6 (by columns), once (one batch)
    cyc, flops = costs.op_cycles(t, "matmul_acc", 1, 6, 5, 4)
    assert cyc == 20 * (6 + issue) and flops == 240
    # fp16 on WSE-2: 4 lanes, so a length-6 FMAC takes two cycles; the memory ports keep up
    half = costs.op_cycles(t, "matmul_acc", 1, 6, 5, 4, elem_bytes=2, half=True)[0]
    assert half == 20 * (2 + issue)
    # three batches with their own rhs: three times the instructions
    assert costs.op_cycles(t, "matmul_acc", 3, 6, 5, 4)[0] == 60 * (6 + issue)
    # more columns than rows: by rows, acc[4, 6] += lhs[4, 5] @ rhs[5, 6] is 4 * 5 FMACs of
    # length 6; one row times a matrix (x @ W) is K FMACs of length N, not K * N of length 1
    assert costs.op_cycles(t, "matmul_acc", 1, 4, 5, 6)[0] == 20 * (6 + issue)
    assert costs.op_cycles(t, "matmul_acc", 1, 1, 64, 48)[0] == 64 * (48 + issue)
    # 16 f32 written at 8 bytes a cycle: 8 cycles; a copy streams 16 through one lane
    assert costs.op_cycles(t, "fill", 16)[0] == 16 + issue
    assert costs.op_cycles(t, "copy", 16)[0] == 16 + issue
    assert costs.op_cycles(t, "copy", 16, elem_bytes=2, half=True)[0] == 4 + issue
    assert list(costs.op_cycles(t, "mask_pad", np.array([0, 8]))[0]) == [issue, 8 + issue]
    assert costs.stream_cycles(t, 10) == 10
    # the ideal machine: no overheads
    ideal = dataclasses.replace(t, vector_issue_cycles=0)
    assert costs.op_cycles(ideal, "matmul_acc", 1, 6, 5, 4)[0] == 120


@pytest.mark.parametrize("flags", [(True, False), (False, True), (True, True)])
@pytest.mark.parametrize(
    ("m", "k", "n", "bl", "br"),
    [(3, 4, 2, 1, 1), (5, 1, 3, 1, 1), (4, 3, 1, 1, 1), (2, 3, 5, 2, 2), (3, 2, 4, 3, 1)],
)
def test_matmul_acc_reads_transposed_tiles(sim, rng, flags, m, k, n, bl, br):
    """lhs stored [k, m] (`lhs_transposed`) and rhs stored [n, k] (`rhs_transposed`): numpy's
    product of their transposes (batched, and the k == 1 / n == 1 fast paths too), charged
    the cycles of the untransposed op (strided DSDs, the same FMACs)."""
    ta, tb = flags
    nb = max(bl, br)
    sizes = {"acc": nb * m * n, "lhs": bl * m * k, "rhs": br * k * n}

    def build(transposed: bool) -> str:
        b = sim.Body()
        for name, size in sizes.items():
            b.alloc(name, RECT, size)
        args = []
        for name, size in sizes.items():
            shape = (6 * size,)
            lay = sim.layout(shape, (2, 3), ("rc",))
            b.op(
                f"pe.host_in %{name}_h, %{name} {{layout = {lay}, pes = {sim.pes(RECT)}}} : "
                f"{sim.tensor(shape)}, {b.t(name)}"
            )
            args.append(f"%{name}_h: {sim.tensor(shape)}")
        words = " ".join(
            w for w, f in (("lhs_transposed", ta), ("rhs_transposed", tb)) if f and transposed
        )
        batch = (f"lhs_batch = {bl} : i64, " if bl > 1 else "") + (
            f"rhs_batch = {br} : i64, " if br > 1 else ""
        )
        b.op(
            f"pe.matmul_acc %acc, %lhs, %rhs {words} {{m = {m} : i64, k = {k} : i64, "
            f"n = {n} : i64, {batch}pes = {sim.pes(RECT)}}} : {b.t('acc', 'lhs', 'rhs')}"
        )
        lay = sim.layout((6 * sizes["acc"],), (2, 3), ("rc",))
        tt = sim.tensor((6 * sizes["acc"],))
        b.op(
            f"%o = pe.host_out %acc {{layout = {lay}, pes = {sim.pes(RECT)}}} : {b.t('acc')} -> {tt}"
        )
        return sim.program(b.text(), ", ".join(args), tt, f"%o : {tt}")

    acc, lhs, rhs = (rng.standard_normal(6 * s).astype(np.float32) for s in sizes.values())
    x = lhs.reshape(6, bl, k, m).swapaxes(-1, -2) if ta else lhs.reshape(6, bl, m, k)
    y = rhs.reshape(6, br, n, k).swapaxes(-1, -2) if tb else rhs.reshape(6, br, k, n)
    (o,), report = sim.run(build(True), acc, lhs, rhs)
    want = acc.reshape(6, nb, m, n) + np.matmul(x, y)
    np.testing.assert_allclose(o, want.ravel(), rtol=1e-5, atol=1e-5)
    _, plain = sim.run(build(False), acc, lhs, rhs)
    assert report.cycles == plain.cycles and report.flops == plain.flops
