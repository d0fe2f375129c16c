"""The simulator's pe.iota, pe.random_uniform and batched pe.matmul_acc on hand-written pe
programs: values against numpy, independence from the layout, and their cost."""

from __future__ import annotations

import numpy as np
import pytest

from pyflame.core.distribution import Distribution
from pyflame.core.target import SMALL
from pyflame.sim import costs, rng

ELEMS = {"f32": np.float32, "i32": np.int32, "f16": np.float16}


def _layout(shape, grid, split, elem="f32") -> str:
    s = "".join(f"{n}x" for n in shape)
    axes = ", ".join(a or "_" for a in split)
    return f"#pe.layout<{s}{elem} on {grid[0]}x{grid[1]} split [{axes}]>"


def _program(sim, op_line: str, shape, grid, split, elem="f32", args="", value="%a") -> str:
    """One buffer `%a` of the tile size, `op_line` filling it, then host_out of the tensor."""
    d = Distribution(shape, grid, split)
    rect = (0, 0) + grid
    lay = _layout(shape, grid, split, elem)
    tt = "tensor<" + "".join(f"{n}x" for n in shape) + f"{elem}>"
    buf = f"!pe.buf<{max(d.local_elems, 1)}x{elem}>"
    body = "\n".join(
        [
            f'    %a = pe.alloc {{name = "a", pes = {sim.pes(rect)}, offset = 0 : i64}} : {buf}',
            "    " + op_line.format(layout=lay, pes=sim.pes(rect), buf=buf),
            f"    %o = pe.host_out {value} {{layout = {lay}, pes = {sim.pes(rect)}}} : {buf} -> {tt}",
        ]
    )
    return sim.program(body, args, tt, f"%o : {tt}")


LAYOUTS = [
    ((1, 1), ("", "")),
    ((3, 2), ("r", "c")),
    ((2, 4), ("c", "r")),
    ((2, 2), ("rc", "")),
    ((2, 3), ("", "c")),
]

# --------------------------------------------------------------------------- pe.iota


@pytest.mark.parametrize("grid, split", LAYOUTS)
@pytest.mark.parametrize("dim", [0, 1])
def test_iota_values(sim, grid, split, dim):
    shape = (7, 5)
    line = (
        "pe.iota %a {{layout = {layout}, dim = " + str(dim) + " : i64, start = 1.5 : f64, "
        "step = -0.5 : f64, pes = {pes}}} : {buf}"
    )
    (o,), _ = sim.run(_program(sim, line, shape, grid, split))
    want = 1.5 - 0.5 * np.indices(shape)[dim]
    np.testing.assert_array_equal(o, want.astype(np.float32))


@pytest.mark.parametrize("elem", ["i32", "f16"])
def test_iota_element_types(sim, elem):
    shape = (9,)
    line = (
        "pe.iota %a {{layout = {layout}, dim = 0 : i64, start = -4.0 : f64, step = 3.0 : f64, "
        "pes = {pes}}} : {buf}"
    )
    (o,), _ = sim.run(_program(sim, line, shape, (1, 3), ("c",), elem))
    assert o.dtype == ELEMS[elem]
    np.testing.assert_array_equal(o, (-4 + 3 * np.arange(9)).astype(ELEMS[elem]))


def test_iota_cost(sim):
    line = (
        "pe.iota %a {{layout = {layout}, dim = 0 : i64, start = 0.0 : f64, step = 1.0 : f64, "
        "pes = {pes}}} : {buf}"
    )
    exe = sim.plan(_program(sim, line, (64,), (1, 2), ("c",)))
    n = 32  # per PE
    cyc, flops = costs.op_cycles(SMALL, "iota", n)
    # one instruction writing n f32 through one lane (the write port keeps up)
    assert exe.report.cycles == cyc == n + SMALL.vector_issue_cycles
    assert exe.report.flops == 2 * flops == 64


# --------------------------------------------------------------------------- pe.random_uniform

UNIFORM = (
    "pe.random_uniform %a, %s {{layout = {layout}, minval = MIN : f64, "
    "maxval = MAX : f64, pes = {pes}}} : {buf}, i64"
)


def _uniform(sim, shape, grid, split, elem="f32", low=0.0, high=1.0):
    line = UNIFORM.replace("MIN", repr(low)).replace("MAX", repr(high))
    return sim.plan(_program(sim, line, shape, grid, split, elem, args="%s: i64"))


@pytest.mark.parametrize(
    "elem, low, high",
    [("f32", 0.0, 1.0), ("i32", -3.0, 9.0), ("f16", 0.0, 1.0), ("f32", -2.0, 6.0)],
)
def test_random_uniform_is_layout_independent(sim, elem, low, high):
    shape = (37, 29)
    outs = [_uniform(sim, shape, g, s, elem, low, high).run([42])[0][0] for g, s in LAYOUTS]
    for o in outs[1:]:
        np.testing.assert_array_equal(o, outs[0])
    assert outs[0].dtype == ELEMS[elem]
    values = outs[0].astype(np.float64)
    assert values.min() >= low and values.max() < high
    assert abs(values.mean() - (low + high - (elem == "i32")) / 2) < 0.05 * (high - low)


def test_random_uniform_follows_the_seed(sim):
    exe = _uniform(sim, (16, 16), (2, 2), ("r", "c"))
    a, b, c = (exe.run([s])[0][0] for s in (1, 2, 1))
    np.testing.assert_array_equal(a, c)
    assert not np.array_equal(a, b)
    np.testing.assert_array_equal(a.ravel(), rng.uniform_float(1, np.arange(256)))


def test_random_uniform_integers_cover_the_range(sim):
    o = _uniform(sim, (100, 100), (2, 2), ("r", "c"), "i32", 5.0, 12.0).run([3])[0][0]
    counts = np.bincount(o.ravel() - 5)
    assert len(counts) == 7 and np.all(np.abs(counts / o.size - 1 / 7) < 0.01)


def test_random_uniform_constant_seed(sim):
    d = Distribution((8,), (1, 1), ("",))
    lay = _layout((8,), (1, 1), ("",))
    body = "\n".join(
        [
            "    %s = arith.constant 9 : i64",
            f'    %a = pe.alloc {{name = "a", pes = {sim.pes((0, 0, 1, 1))}, offset = 0 : i64}} : '
            f"!pe.buf<{d.local_elems}xf32>",
            f"    pe.random_uniform %a, %s {{layout = {lay}, minval = 0.0 : f64, maxval = 1.0 : f64, "
            f"pes = {sim.pes((0, 0, 1, 1))}}} : !pe.buf<8xf32>, i64",
            f"    %o = pe.host_out %a {{layout = {lay}, pes = {sim.pes((0, 0, 1, 1))}}} : "
            "!pe.buf<8xf32> -> tensor<8xf32>",
        ]
    )
    (o,), _ = sim.run(sim.program(body, "", "tensor<8xf32>", "%o : tensor<8xf32>"))
    np.testing.assert_array_equal(o, rng.uniform_float(9, np.arange(8)))


def test_random_uniform_cost(sim):
    exe = _uniform(sim, (64,), (1, 2), ("c",))
    n = 32
    cyc, flops = costs.op_cycles(SMALL, "random_uniform", n)
    assert flops == costs.RANDOM_UNIFORM_FLOPS_PER_ELEMENT * n
    # one vector pass over the tile per unit of the hash's cost
    passes = costs.RANDOM_UNIFORM_FLOPS_PER_ELEMENT
    assert exe.report.cycles == cyc == passes * (n + SMALL.vector_issue_cycles)
    assert exe.report.flops == 2 * flops


def test_uniform_float_never_reaches_one():
    import ml_dtypes

    idx = np.arange(1 << 18)
    for dtype in (np.float32, np.float16, ml_dtypes.bfloat16):
        u = rng.uniform_float(5, idx, dtype)
        assert u.dtype == dtype and float(u.max()) < 1.0 and float(u.min()) >= 0.0
    z = rng.integers(5, idx, -(2**31), 2**31)
    assert z.min() >= -(2**31) and z.max() < 2**31


# --------------------------------------------------------------------------- batched matmul_acc


@pytest.mark.parametrize("batches", [(3, 3), (3, 1), (1, 3), (1, 1)])
def test_batched_matmul_acc(sim, batches):
    bl, br = batches
    nb = max(bl, br)
    m, k, n = 3, 4, 2
    rect = (0, 0, 1, 2)
    sizes = {"acc": nb * m * n, "lhs": bl * m * k, "rhs": br * k * n}
    lines, args, offset = [], [], 0
    for name, size in sizes.items():
        lines.append(
            f'    %{name} = pe.alloc {{name = "{name}", pes = {sim.pes(rect)}, '
            f"offset = {offset} : i64}} : !pe.buf<{size}xf32>"
        )
        offset += -(-size * 4 // 16) * 16
        lay = _layout((2 * size,), (1, 2), ("c",))
        lines.append(
            f"    pe.host_in %{name}_h, %{name} {{layout = {lay}, pes = {sim.pes(rect)}}} "
            f": tensor<{2 * size}xf32>, !pe.buf<{size}xf32>"
        )
        args.append(f"%{name}_h: tensor<{2 * size}xf32>")
    extra = "".join(
        f"{w} = {b} : i64, " for w, b in (("lhs_batch", bl), ("rhs_batch", br)) if b > 1
    )
    lines.append(
        f"    pe.matmul_acc %acc, %lhs, %rhs {{m = {m} : i64, k = {k} : i64, n = {n} : i64, "
        f"{extra}pes = {sim.pes(rect)}}} : !pe.buf<{sizes['acc']}xf32>, "
        f"!pe.buf<{sizes['lhs']}xf32>, !pe.buf<{sizes['rhs']}xf32>"
    )
    tt = f"tensor<{2 * sizes['acc']}xf32>"
    lay = _layout((2 * sizes["acc"],), (1, 2), ("c",))
    lines.append(
        f"    %o = pe.host_out %acc {{layout = {lay}, pes = {sim.pes(rect)}}} : "
        f"!pe.buf<{sizes['acc']}xf32> -> {tt}"
    )
    text = sim.program("\n".join(lines), ", ".join(args), tt, f"%o : {tt}")
    r = np.random.default_rng(0)
    acc, lhs, rhs = (r.standard_normal(2 * s).astype(np.float32) for s in sizes.values())
    (o,), report = sim.run(text, acc, lhs, rhs)
    want = acc.reshape(2, nb, m, n) + lhs.reshape(2, bl, m, k) @ rhs.reshape(2, br, k, n)
    np.testing.assert_allclose(o, want.ravel(), rtol=1e-5, atol=1e-5)
    # a shared rhs: K*N FMACs over the columns of all batches; else K*N per batch
    if br == 1:
        assert report.cycles == k * n * (nb * m + SMALL.vector_issue_cycles)
    else:
        assert report.cycles == nb * k * n * (m + SMALL.vector_issue_cycles)
    assert report.flops == 2 * 2 * nb * m * k * n
