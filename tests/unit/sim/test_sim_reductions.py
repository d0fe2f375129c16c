"""Reduction kinds in the simulator: `pe.recv %b combine KIND` chains, the reductions table
(pyflame/core/reductions.py) and its costs."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest
from xdsl.utils.exceptions import ParseError, VerifyException

from pyflame.core import reductions
from pyflame.core.target import SMALL
from pyflame.sim import costs

R, C, N = 2, 4, 3
FULL = (0, 0, R, C)


def _chain(sim, kind: str) -> str:
    """A running reduction along each row: PE col j combines what col j-1 sends, passes it on."""
    b = sim.Body()
    b.alloc("a", FULL, N)
    shape = (R * C * N,)
    lay = sim.layout(shape, (R, C), ("rc",))
    t = sim.tensor(shape)
    b.op(f"pe.host_in %x, %a {{layout = {lay}, pes = {sim.pes(FULL)}}} : {t}, {b.t('a')}")
    b.op(sim.route(0, (0, 0, R, C - 1), "ramp", ["east"]))
    b.op(sim.route(0, (0, 1, R, C - 1), "west", ["ramp"]))
    for j in range(C - 1):
        b.op(f"pe.send %a {{color = 0 : i64, pes = {sim.pes((0, j, R, 1))}}} : {b.t('a')}")
        b.op(
            f"pe.recv %a combine {kind} {{color = 0 : i64, "
            f"pes = {sim.pes((0, j + 1, R, 1))}}} : {b.t('a')}"
        )
    b.op(f"%o = pe.host_out %a {{layout = {lay}, pes = {sim.pes(FULL)}}} : {b.t('a')} -> {t}")
    return sim.program(b.text(), f"%x: {t}", t, f"%o : {t}")


ACCUMULATE = {"sum": np.add, "prod": np.multiply, "max": np.maximum, "min": np.minimum}


@pytest.mark.parametrize("kind", sorted(reductions.KINDS))
def test_recv_combine_chain(sim, rng, kind):
    x = rng.standard_normal(R * C * N).astype(np.float32)
    x[5] = np.nan  # row 0, PE col 1: max and min propagate NaN along the rest of the row
    exe = sim.plan(_chain(sim, kind))
    (o,), report = exe.run([x])
    want = ACCUMULATE[kind].accumulate(x.reshape(R, C, N), axis=1)
    np.testing.assert_allclose(o.reshape(R, C, N), want, rtol=1e-6)
    # every combining receive costs its adds (or compares) like the old accumulate
    assert report.flops == (C - 1) * R * N
    one = 2 + 1 + N + 2
    assert report.cycles >= (C - 1) * one


def test_recv_combine_rejects_unknown_kinds_and_accumulate(sim):
    b = sim.Body()
    b.alloc("a", (0, 0, 1, 1), 4)
    dictionary = f"{{color = 0 : i64, pes = {sim.pes((0, 0, 1, 1))}}} : {b.t('a')}"
    median = sim.program(b.text() + f"\n    pe.recv %a combine median {dictionary}")
    with pytest.raises(
        ParseError, match=r"unknown reduction 'median' \(one of sum, prod, max, min\)"
    ):
        sim.parse(median)
    accumulate = sim.program(
        b.text()
        + f"\n    pe.recv %a {{accumulate, color = 0 : i64, pes = {sim.pes((0, 0, 1, 1))}}}"
        f" : {b.t('a')}"
    )
    with pytest.raises(VerifyException, match="'accumulate' is spelled `combine sum` now"):
        sim.parse(accumulate)


def test_identities_for_every_element_type():
    assert reductions.identity("sum", "f32") == 0.0
    assert reductions.identity("prod", "bf16") == 1.0
    assert reductions.identity("max", "f16") == -np.inf
    assert reductions.identity("min", "f32") == np.inf
    assert reductions.identity("max", "i32") == float(np.iinfo(np.int32).min)
    assert reductions.identity("min", "i32") == float(np.iinfo(np.int32).max)
    assert reductions.identity("max", "i1") == 0.0 and reductions.identity("min", "i1") == 1.0
    # the identity changes nothing: as the mask value of padding it survives the cast
    for kind in reductions.KINDS:
        v = np.array(reductions.identity(kind, "i32")).astype(np.int32)
        assert float(v) == reductions.identity(kind, "i32")


@pytest.mark.parametrize("dtype,big", [(np.float16, 2048.0), (ml_dtypes.bfloat16, 256.0)])
def test_half_floats_sum_in_float32(dtype, big):
    x = np.array([[big] + [1.0] * 8], dtype=dtype)  # big + 1 rounds back to big in the type
    assert float(dtype(big + 1)) == big
    out = reductions.reduce("sum", x, (1,)).astype(dtype)
    assert float(out[0, 0]) == big + 8
    a, b = np.array([256.0], dtype), np.array([1.0], dtype)
    assert float(reductions.combine("sum", a, b)[0]) == float(dtype(257.0))
    assert reductions.combine("max", a, b).dtype == a.dtype


def test_reduce_cost_counts_the_kind_flops():
    for kind, entry in reductions.KINDS.items():
        cyc, flops = costs.op_cycles(SMALL, "reduce", 16, 4, entry.flops)
        assert flops == 16 * entry.flops, kind
        # 16 elements into 4 results: 4 instructions of length 4 (one lane), each issued
        assert cyc == 4 * (4 + SMALL.vector_issue_cycles)
    assert costs.op_cycles(SMALL, "recv_combine", 10)[1] == 10


@pytest.mark.parametrize("dtype", [np.float16, ml_dtypes.bfloat16])
def test_half_floats_multiply_in_their_type_one_rounding_per_product_in_order(dtype):
    x = np.random.default_rng(0).uniform(0.5, 1.6, size=(3, 4, 5)).astype(dtype)
    for axes in [(2,), (1,), (1, 2), (0, 2)]:
        moved = np.moveaxis(x, axes, list(range(3 - len(axes), 3)))
        flat = moved.reshape(*moved.shape[: 3 - len(axes)], -1)
        want = np.ones(flat.shape[:-1], dtype)
        for k in range(flat.shape[-1]):  # PyTorch's scalar loop: acc = acc * x[k], as halves
            want = (want.astype(np.float32) * flat[..., k].astype(np.float32)).astype(dtype)
        got = reductions.reduce("prod", x, axes)
        assert got.dtype == dtype and got.shape == tuple(
            1 if a in axes else n for a, n in enumerate(x.shape)
        )
        np.testing.assert_array_equal(got.reshape(want.shape), want)
    with np.errstate(over="ignore"):  # f16: 300 * 300 rounds to inf before the last factor
        want_big = (dtype(300.0) * dtype(300.0)).astype(dtype) * dtype(300.0)
        got_big = reductions.reduce("prod", np.array([[300.0] * 3], dtype), (1,))
    assert float(got_big[0, 0]) == float(dtype(want_big))
