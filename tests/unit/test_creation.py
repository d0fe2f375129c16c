"""Creation ops: arange and eye (computed on the PEs from global indices) and the uniform random
ops (rand, randint, bernoulli, dropout), through the whole pipeline on the small target.

Values of arange/eye against torch; distributions (mean, variance, range) of the random ops;
the seed rules of API.md: two calls differ, `pf.manual_seed` reproduces, an explicit `seed=`
repeats, a loop over one graph compiles once yet gets fresh values; values that do not depend
on the layout.
"""

from __future__ import annotations

import math
import re
import warnings

import numpy as np
import pytest
from layouts import LAYOUTS

import pyflame as pf
from pyflame.core.dtypes import as_dtype
from pyflame.nn import functional as F

torch = pytest.importorskip("torch")


pytestmark = pytest.mark.usefixtures("small_target")


def torch_values(t) -> np.ndarray:
    """torch's result as PyFlame holds it (int64 -> int32)."""
    out = t.numpy()
    return out.astype(np.int32) if out.dtype == np.int64 else out


# --------------------------------------------------------------------------- arange


ARANGE_ARGS = [
    (10,),
    (2, 11, 3),
    (-4, 7),
    (9, -3, -2),
    (0, 1, 0.1),
    (5, 0, -1.5),
    (-1.25, 2.5, 0.25),
    (3.0,),
]


@pytest.mark.parametrize("layout", LAYOUTS, ids=repr)
@pytest.mark.parametrize("args", ARANGE_ARGS, ids=repr)
def test_arange_matches_torch(args, layout):
    out = pf.arange(*args, layout=layout).numpy()
    want = torch_values(torch.arange(*args))
    assert out.dtype == want.dtype
    np.testing.assert_array_equal(out, want)


@pytest.mark.parametrize(
    "args, dtype, torch_dtype",
    [
        ((0, 5), pf.float32, torch.float32),
        ((0, 2, 0.125), pf.float16, torch.float16),
        ((1, 3, 0.25), pf.bfloat16, torch.bfloat16),
        ((-2.5, 2, 1), "int32", torch.int32),
        ((0.5, 5, 1.5), np.int32, torch.int32),
        ((-3, 3, 2.5), pf.int32, torch.int32),
        ((-2.5, 2, 1), "int64", torch.int64),
        ((0.5, 5, 1.5), np.int64, torch.int64),
        ((1, -2.5, -1), torch.long, torch.int64),
    ],
    ids=repr,
)
def test_arange_dtypes(args, dtype, torch_dtype):
    out = pf.arange(*args, dtype=dtype, layout=pf.MeshLayout.grid(2, 2)).numpy()
    want = torch.arange(*args, dtype=torch_dtype)
    assert out.dtype == as_dtype(dtype).numpy
    np.testing.assert_array_equal(out.astype(np.float64), want.double().numpy())


@pytest.mark.parametrize(
    "args",
    [(0, 5.5), (-2.5, 3), (1, -2.5, -1), (0, 5, 1.5), (0, 5, 0.5), (0.5, 3.7, 0.9)],
    ids=repr,
)
def test_integer_arange_of_float_bounds_that_int32_and_int64_disagree_on_is_an_error(args):
    """PyTorch's int32 arange counts the float bounds before truncating, its int64 truncates
    first (arange(0, 5.5) has 6 int32 elements, 5 int64 ones). pf.int32 is pf.int64, so
    without a dtype name saying which, PyFlame refuses rather than pick one; the names give
    PyTorch's values exactly."""
    with pytest.raises(ValueError, match=r"test_creation.py:\d+: arange\(.*dtype='int64'"):
        pf.arange(*args, dtype=pf.int64)
    for name, torch_dtype in (("int32", torch.int32), ("int64", torch.int64)):
        try:
            want = torch.arange(*args, dtype=torch_dtype).numpy()
        except ValueError as err:  # (PyTorch: "step must be nonzero")
            with pytest.raises(ValueError, match=str(err)):
                pf.arange(*args, dtype=name)
            continue
        np.testing.assert_array_equal(pf.arange(*args, dtype=name).numpy(), want)
    # where both agree (truncation changes nothing), pf.int32 is fine
    np.testing.assert_array_equal(
        pf.arange(0.5, 3, dtype=pf.int32).numpy(), torch.arange(0.5, 3, dtype=torch.int64).numpy()
    )


@pytest.mark.parametrize("args", [(0, 50, 0.7), (-3.3, 7.7, 0.011), (1000, 3000, 1.7)], ids=repr)
@pytest.mark.parametrize("dtype", [pf.float16, pf.bfloat16], ids=repr)
def test_half_arange_is_correctly_rounded_and_near_torchs(args, dtype):
    """torch 2.13's CPU arange of float16/bfloat16 is not start + i * step in float32 then
    rounded (nor in float64): it rounds the start of each 16-element vector block to the half
    dtype and adds j * step in float32, so its values depend on the block (15 of the 72 values
    of arange(0, 50, 0.7) differ from both formulas). PyFlame keeps start + i * step in float64
    rounded once (the correctly rounded value), within an ulp (of the dtype, at the block's
    start) of torch's."""
    tdt = {pf.float16: torch.float16, pf.bfloat16: torch.bfloat16}[dtype]
    got = pf.arange(*args, dtype=dtype, layout=pf.MeshLayout.grid(2, 3)).float().numpy()
    want = torch.arange(*args, dtype=tdt).float().numpy()
    start, _, step = args
    exact = start + step * np.arange(want.size, dtype=np.float64)
    np.testing.assert_array_equal(got, torch.from_numpy(exact).to(tdt).float().numpy())
    # torch's error: up to an ulp of its block's start (rounded there), or of the value
    first = want[(np.arange(want.size) // 16) * 16]
    magnitude = np.maximum(np.abs(want), np.abs(first)).astype(np.float16)
    ulp = np.spacing(magnitude).astype(np.float32) * (8 if dtype is pf.bfloat16 else 1)
    assert np.all(np.abs(got - want) <= ulp)
    assert np.sum(got != want) < want.size / 3


def test_arange_int_unless_a_float_is_given():
    assert pf.arange(5).dtype is pf.int32
    assert pf.arange(0, 5, 1).dtype is pf.int32
    assert pf.arange(5.0).dtype is pf.float32
    assert pf.arange(0, 5, 0.5).dtype is pf.float32
    assert pf.arange(np.int64(4)).dtype is pf.int32


def test_arange_empty():
    assert pf.arange(0).shape == (0,)
    assert pf.arange(3, 3).numpy().shape == (0,)


@pytest.mark.parametrize(
    "args, kwargs, error, words",
    [
        ((0, 5, 0), {}, ValueError, "step must be nonzero"),
        ((5, 0, 1), {}, ValueError, "inconsistent with step sign"),
        ((0, 1, float("nan")), {}, ValueError, "finite"),
        (("a",), {}, TypeError, "must be a number"),
        ((True,), {}, TypeError, "must be a number"),
        ((5,), {"dtype": pf.bool}, TypeError, "bool"),
    ],
    ids=repr,
)
def test_arange_errors(args, kwargs, error, words):
    with pytest.raises(error, match=words):
        pf.arange(*args, **kwargs)


def test_arange_is_computed_on_the_pes():
    """No data comes from the host: @main has no arguments, the pe program an iota."""
    x = pf.arange(0, 64, 2, layout=pf.MeshLayout.col_partition(4))
    assert "func.func @main() -> tensor<32xi32>" in pf.ir(x, stage="flame")
    assert (
        "flame.iota {dim = 0 : i64, start = 0.000000e+00 : f64, step = 2.000000e+00 : f64"
        in pf.ir(x, stage="flame")
    )
    pe_text = pf.ir(x, stage="pe")
    assert "pe.iota" in pe_text and "pe.host_in" not in pe_text


# --------------------------------------------------------------------------- linspace, logspace


def _in_dtype(value, dtype):
    """A double as PyTorch's Scalar.to<dtype>() converts it (through float32)."""
    return float(np.float32(value).astype(dtype.numpy))


def linspace_reference(start, end, steps, dtype):
    """PyTorch 2.13's scalar formula, with PyTorch's roundings: float32 correctly rounded (its
    CPU kernel fuses step * i + start), half dtypes in the dtype's arithmetic (i converted to
    the dtype, every product and sum rounded), ints in float64 truncated."""
    from fractions import Fraction

    if steps == 1:
        return np.array([start]).astype(np.float32).astype(dtype.numpy)
    if not dtype.is_floating_point:
        s, e = int(start), int(end)
        step = (e - s) / (steps - 1)
        i = np.arange(steps, dtype=np.float64)
        values = np.where(i < steps // 2, s + step * i, e - step * (steps - 1 - i))
        return np.trunc(values).astype(dtype.numpy)
    s, e = _in_dtype(start, dtype), _in_dtype(end, dtype)
    if dtype is pf.float32:
        f = np.float32
        step = Fraction(float(f(f(e) - f(s)) / f(steps - 1)))
        exact = [
            Fraction(s) + step * i if i < steps // 2 else Fraction(e) - step * (steps - 1 - i)
            for i in range(steps)
        ]
        return np.array([float(v) for v in exact], dtype=np.float64).astype(np.float32)

    def r(v):
        return np.float32(np.float32(v).astype(dtype.numpy))

    step = r(r(np.float32(e) - np.float32(s)) / r(steps - 1))
    out = [
        r(s + r(step * r(i))) if i < steps // 2 else r(e - r(step * r(steps - 1 - i)))
        for i in range(steps)
    ]
    return np.array(out, dtype=np.float32).astype(dtype.numpy)


def assert_within_an_ulp(got, want, dtype):
    """|got - want| <= one ulp of the dtype at |want| (PyTorch's vectorized CPU path may differ
    from its scalar formula on some machines); ints: within 1."""
    got, want = got.astype(np.float64), want.astype(np.float64)
    if not dtype.is_floating_point:
        assert np.all(np.abs(got - want) <= 1), (got, want)
        return
    eps = {pf.float32: 2.0**-23, pf.float16: 2.0**-10, pf.bfloat16: 2.0**-7}[dtype]
    tiny = {pf.float32: 2.0**-149, pf.float16: 2.0**-24, pf.bfloat16: 2.0**-133}[dtype]
    magnitude = np.maximum(np.abs(want), np.abs(got))
    ulp = np.maximum(2.0 ** np.floor(np.log2(np.maximum(magnitude, tiny))) * eps, tiny)
    assert np.all(np.abs(got - want) <= ulp), (got, want)


LINSPACE_CASES = [
    (0, 1, 5),
    (-3.3, 7.7, 11),
    (-37.2, 81.3, 40),
    (10, -10, 7),
    (0.1, 0.9, 100),
    (1e-3, 1e4, 33),
    (5, 5, 4),
    (-1, 1, 2),
    (2.5, 9, 1),
    (2.5, 9, 0),
]


@pytest.mark.parametrize(
    "layout", [None, pf.MeshLayout.grid(2, 3), pf.MeshLayout.row_partition(4)], ids=repr
)
@pytest.mark.parametrize("dtype", [pf.float32, pf.float16, pf.bfloat16, pf.int32], ids=repr)
@pytest.mark.parametrize("args", LINSPACE_CASES, ids=repr)
def test_linspace_matches_torch(args, dtype, layout):
    tdt = TORCH_OF_PF[dtype]
    if not dtype.is_floating_point:
        args = (args[0] * 7, args[1] * 7, args[2])  # spread the integers
    got = pf.linspace(*args, dtype=dtype, layout=layout).numpy()
    want = torch.linspace(*args, dtype=tdt).double().numpy()
    assert got.dtype == dtype.numpy and got.shape == (args[2],)
    np.testing.assert_array_equal(got, linspace_reference(*args, dtype))
    assert_within_an_ulp(got, want, dtype)


@pytest.mark.parametrize("dtype", [pf.float32, pf.float16, pf.bfloat16], ids=repr)
def test_linspace_random_cases_match_torch_within_an_ulp(dtype):
    rng = np.random.default_rng(7)
    tdt = TORCH_OF_PF[dtype]
    for _ in range(12):
        start, end = (float(v) for v in rng.uniform(-100, 100, 2))
        steps = int(rng.integers(2, 300))
        got = pf.linspace(start, end, steps, dtype=dtype, layout=pf.MeshLayout.grid(2, 2))
        got = got.float().numpy()
        np.testing.assert_array_equal(
            got, linspace_reference(start, end, steps, dtype).astype(np.float32)
        )
        assert_within_an_ulp(
            got, torch.linspace(start, end, steps, dtype=tdt).float().numpy(), dtype
        )


def test_linspace_defaults_and_halves():
    """float32 by default, whatever the kind of the ends; the two halves of PyTorch's formula
    meet exactly at both ends (end is end, not start + step * (steps - 1))."""
    x = pf.linspace(0, 7, 3)
    assert x.dtype is pf.float32
    np.testing.assert_array_equal(x.numpy(), [0, 3.5, 7])
    ends = pf.linspace(0.1, 0.7, 9).numpy()
    assert ends[0] == np.float32(0.1) and ends[-1] == np.float32(0.7)
    np.testing.assert_array_equal(
        pf.linspace(0.1, 0.7, 9).numpy(), torch.linspace(0.1, 0.7, 9).numpy()
    )


def test_linspace_is_computed_on_the_pes():
    x = pf.linspace(-1.5, 2.0, 64, layout=pf.MeshLayout.col_partition(4))
    assert "func.func @main() -> tensor<64xf32>" in pf.ir(x, stage="flame")
    pe_text = pf.ir(x, stage="pe")
    assert "pe.iota" in pe_text and "pe.host_in" not in pe_text


@pytest.mark.parametrize(
    "fn, args, kwargs, error, words",
    [
        ("linspace", (0, 1, -1), {}, RuntimeError, "number of steps must be non-negative"),
        ("logspace", (0, 1, -2), {}, RuntimeError, "number of steps must be non-negative"),
        ("linspace", (0, 1, 2.5), {}, TypeError, "steps must be an int"),
        ("linspace", (0, 1, 3), {"dtype": pf.bool}, TypeError, "bool"),
        ("linspace", (0, float("inf"), 3), {"dtype": pf.int32}, ValueError, "end must be finite"),
        ("linspace", (0, 2**40, 3), {"dtype": pf.int32}, pf.IntegerOverflowError, "overflow"),
        ("logspace", (0, 12, 4), {"dtype": pf.int32}, pf.IntegerOverflowError, "overflow"),
    ],
    ids=repr,
)
def test_linspace_and_logspace_errors(fn, args, kwargs, error, words):
    with pytest.raises(error, match=words):
        getattr(pf, fn)(*args, **kwargs)
    if error is RuntimeError:
        with pytest.raises(RuntimeError, match=words):
            getattr(torch, fn)(*args, **kwargs)


INFINITE_ENDS = [
    (0.0, math.inf, 5),
    (-math.inf, 0.0, 5),
    (-math.inf, math.inf, 4),
    (math.inf, math.inf, 3),
    (0.0, math.nan, 3),
    (math.inf, 0.0, 2),
    (1.0, -math.inf, 7),
    (0.0, math.inf, 1),
    (math.inf, 0.0, 1),
]


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
@pytest.mark.parametrize("start,end,steps", INFINITE_ENDS, ids=repr)
def test_linspace_of_infinite_or_nan_ends_is_torchs_formula(start, end, steps, dtype):
    # session 23: a ValueError; PyTorch gives its formula's IEEE values ([nan, inf, nan, ...])
    got = pf.linspace(start, end, steps, dtype=getattr(pf, dtype)).numpy()
    want = torch.linspace(start, end, steps, dtype=getattr(torch, dtype)).float().numpy()
    np.testing.assert_array_equal(np.asarray(got, np.float32), want)


LOGSPACE_CASES = [
    ((0, 2, 5), {}),
    ((-3, 3, 13), {}),
    ((0, 1, 1), {}),
    ((0.5, 1, 1), {"base": 2.0}),
    ((0, 1, 0), {}),
    ((-2.3, 4.1, 50), {"base": 2.0}),
    ((1, 10, 10), {"base": 1.5}),
]


@pytest.mark.parametrize("dtype", [pf.float32, pf.float16, pf.bfloat16, pf.int32], ids=repr)
@pytest.mark.parametrize("args, kwargs", LOGSPACE_CASES, ids=repr)
def test_logspace_matches_torch(args, kwargs, dtype):
    tdt = TORCH_OF_PF[dtype]
    got = pf.logspace(*args, **kwargs, dtype=dtype, layout=pf.MeshLayout.grid(2, 2))
    want = torch.logspace(*args, **kwargs, dtype=tdt)
    assert got.dtype is dtype and got.shape == (args[2],)
    np.testing.assert_array_equal(got.float().numpy(), want.float().numpy())


def test_logspace_defaults():
    x = pf.logspace(0, 3, 4)
    assert x.dtype is pf.float32
    np.testing.assert_array_equal(x.numpy(), [1, 10, 100, 1000])


# --------------------------------------------------------------------------- full


PF_OF_TORCH = {
    torch.float32: pf.float32,
    torch.float16: pf.float16,
    torch.bfloat16: pf.bfloat16,
    torch.int32: pf.int32,
    torch.int64: pf.int32,  # PyFlame holds int64 as int32
    torch.bool: pf.bool,
}
TORCH_OF_PF = {pf.float32: torch.float32, pf.float16: torch.float16, pf.bfloat16: torch.bfloat16}
TORCH_OF_PF |= {pf.int32: torch.int32, pf.bool: torch.bool}

FULL_CASES = [  # (fill_value, dtype): torch.full's dtype from the value, truncation into ints
    (3, None),
    (-7, None),
    (0, None),
    (True, None),
    (False, None),
    (2.5, None),
    (np.int32(5), None),
    (np.float16(2.5), None),
    (np.bool_(True), None),  # torch 2.13: float32
    (2.7, pf.int32),
    (-2.7, pf.int32),
    (-0.5, pf.int32),
    (True, pf.int32),
    (2.7, pf.bool),
    (0.0, pf.bool),
    (-0.0, pf.bool),
    (float("nan"), pf.bool),
    (3, pf.float16),
    (2.7, pf.bfloat16),
    (-(2**31), pf.int32),
    (float(2**31 - 1), pf.int32),
]


@pytest.mark.parametrize(
    "layout", [None, pf.MeshLayout.grid(3, 2), pf.MeshLayout.row_partition(4)], ids=repr
)
def test_full_takes_torchs_dtype_from_the_value_and_truncates_into_ints(layout):
    """torch.full infers int64 (PyFlame: int32) from an int, bool from a bool, float32 from a
    float, and truncates a float value toward zero for an int dtype (used to be float32 for
    every value, and a TypeError for 2.7 into int32)."""
    got, want = [], []
    for value, dtype in FULL_CASES:
        got.append(pf.full((7, 13), value, dtype=dtype, layout=layout))
        want.append(torch.full((7, 13), value, dtype=TORCH_OF_PF.get(dtype)))
    pf.eval(*got)
    for (value, dtype), g, w in zip(FULL_CASES, got, want, strict=True):
        assert g.dtype is PF_OF_TORCH[w.dtype], (value, dtype)
        assert g.shape == (7, 13)
        np.testing.assert_array_equal(
            g.float().numpy() if g.dtype is pf.bfloat16 else g.numpy(),
            torch_values(w.float() if w.dtype == torch.bfloat16 else w),
            err_msg=repr((value, dtype)),
        )


@pytest.mark.parametrize("dtype", [pf.float32, pf.float16, pf.int32, pf.bool], ids=repr)
def test_full_like_keeps_the_inputs_dtype_and_converts_the_value_as_torch(dtype):
    x = pf.zeros(5, 3, dtype=dtype, layout=pf.MeshLayout.grid(2, 2))
    t = torch.zeros(5, 3, dtype=TORCH_OF_PF[dtype])
    cases = [(3, None), (True, None), (2.7, None), (-2.7, None), (0.0, None), (2.7, pf.int32)]
    got = [pf.full_like(x, v, dtype=d) for v, d in cases]
    want = [torch.full_like(t, v, dtype=TORCH_OF_PF.get(d)) for v, d in cases]
    pf.eval(*got)
    for c, g, w in zip(cases, got, want, strict=True):
        assert g.dtype is PF_OF_TORCH[w.dtype], c
        np.testing.assert_array_equal(g.numpy(), torch_values(w), err_msg=repr(c))


def test_an_int_full_keeps_int_arithmetic_int_and_fill_truncates():
    i = pf.from_numpy(np.array([1, 2], np.int32))
    ti = torch.tensor([1, 2], dtype=torch.int32)
    out, tout = i + pf.full((2,), 3), ti + torch.full((2,), 3)
    assert out.dtype is pf.int32 and tout.dtype == torch.int64
    np.testing.assert_array_equal(out.numpy(), torch_values(tout))
    assert (pf.full((2,), 3) / 2).dtype is pf.float32  # true division, as torch
    k = pf.from_numpy(np.array([5, 6, 7], np.int32))
    k.fill_(2.7)  # PyTorch: 2
    np.testing.assert_array_equal(k.numpy(), torch.tensor([5, 6, 7]).fill_(2.7).numpy())


@pytest.mark.parametrize(
    "value, dtype, error",
    [
        (float("nan"), pf.int32, pf.IntegerOverflowError),
        (float("inf"), pf.int32, pf.IntegerOverflowError),
        (1e10, pf.int32, pf.IntegerOverflowError),
        (2**31, None, pf.IntegerOverflowError),
        (1e5, pf.float16, OverflowError),
    ],
    ids=repr,
)
def test_full_values_the_dtype_cannot_hold_raise_as_torch(value, dtype, error):
    with pytest.raises(RuntimeError, match="cannot be converted to type .* without overflow"):
        torch.full((2,), value, dtype=TORCH_OF_PF.get(dtype, torch.int32))
    with pytest.raises(error, match=r"test_creation.py:\d+: full: value .* cannot be converted"):
        pf.full((2,), value, dtype=dtype)


# --------------------------------------------------------------------------- eye


@pytest.mark.parametrize("layout", LAYOUTS, ids=repr)
@pytest.mark.parametrize("nm", [(1,), (4,), (7, 5), (3, 9)], ids=repr)
def test_eye_matches_torch(nm, layout):
    out = pf.eye(*nm, layout=layout).numpy()
    np.testing.assert_array_equal(out, torch.eye(*nm).numpy())
    assert out.dtype == np.float32


@pytest.mark.parametrize("dtype", [pf.int32, pf.bool, pf.float16, pf.bfloat16], ids=repr)
def test_eye_dtypes(dtype):
    out = pf.eye(5, 6, dtype=dtype, layout=pf.MeshLayout.grid(2, 2)).numpy()
    assert out.dtype == dtype.numpy
    np.testing.assert_array_equal(out.astype(np.float32), np.eye(5, 6, dtype=np.float32))


def test_eye_is_computed_on_the_pes():
    e = pf.eye(6)
    flame = pf.ir(e, stage="flame")
    assert "func.func @main() -> tensor<6x6xf32>" in flame
    assert flame.count("flame.iota") == 2 and "flame.eq" in flame
    assert "pe.host_in" not in pf.ir(e, stage="pe")


@pytest.mark.parametrize("args", [(-1,), (2.0,), (3, True)], ids=repr)
def test_eye_errors(args):
    with pytest.raises(TypeError, match="non-negative int"):
        pf.eye(*args)


def test_eye_and_arange_in_arithmetic():
    x = pf.eye(4) * 3.0 + pf.arange(4.0)
    want = np.eye(4, dtype=np.float32) * 3 + np.arange(4, dtype=np.float32)
    np.testing.assert_array_equal(x.numpy(), want)


# --------------------------------------------------------------------------- rand, randint


def test_rand_distribution():
    pf.manual_seed(0)
    u = pf.rand(400, 500).numpy()
    assert u.dtype == np.float32 and u.shape == (400, 500)
    assert u.min() >= 0.0 and u.max() < 1.0
    assert abs(u.mean() - 0.5) < 0.005
    assert abs(u.var() - 1 / 12) < 0.002
    counts, _ = np.histogram(u, bins=10, range=(0, 1))
    assert np.all(np.abs(counts / u.size - 0.1) < 0.005)


@pytest.mark.parametrize("dtype", [pf.float16, pf.bfloat16], ids=repr)
def test_rand_half_precision_stays_below_one(dtype):
    u = pf.rand(256, 256, dtype=dtype, seed=1).numpy()
    assert u.dtype == dtype.numpy
    u = u.astype(np.float32)
    assert u.min() >= 0.0 and u.max() < 1.0
    assert abs(u.mean() - 0.5) < 0.01


def test_rand_needs_a_float_dtype():
    with pytest.raises(TypeError, match="floating-point"):
        pf.rand(3, dtype=pf.int32)


def test_randint_distribution():
    pf.manual_seed(1)
    r = pf.randint(-3, 5, (300, 400)).numpy()
    assert r.dtype == np.int32 and r.shape == (300, 400)
    assert r.min() == -3 and r.max() == 4
    freq = np.bincount(r.ravel() + 3) / r.size
    assert np.all(np.abs(freq - 1 / 8) < 0.005)
    assert abs(r.var() - (8**2 - 1) / 12) < 0.05


def test_randint_forms_and_dtypes():
    r = pf.randint(6, (50, 40), seed=2).numpy()
    assert r.dtype == np.int32 and r.min() == 0 and r.max() == 5
    np.testing.assert_array_equal(pf.randint(6, size=(50, 40), seed=2).numpy(), r)
    np.testing.assert_array_equal(pf.randint(0, 6, size=[50, 40], seed=2).numpy(), r)
    f = pf.randint(2, 9, [1000], dtype=pf.float32, seed=2).numpy()
    assert f.dtype == np.float32 and f.min() == 2 and f.max() == 8 and np.all(f == np.round(f))
    big = pf.randint(-(2**31), 2**31, (1000,), seed=3).numpy()
    assert big.min() < -(2**30) and big.max() > 2**30


@pytest.mark.parametrize(
    "args, error, words",
    [
        ((5, 5, (3,)), ValueError, "low must be less than high"),
        ((0.5, 3, (3,)), TypeError, "low must be an int"),
        ((0, 2**32, (3,)), ValueError, "does not fit int32"),
        ((5,), TypeError, "needs high and size"),
    ],
    ids=repr,
)
def test_randint_errors(args, error, words):
    with pytest.raises(error, match=words):
        pf.randint(*args)


def test_like_forms():
    x = pf.zeros(3, 4, dtype=pf.float16)
    u = pf.rand_like(x)
    assert u.shape == (3, 4) and u.dtype is pf.float16
    r = pf.randint_like(x, 10)
    assert r.shape == (3, 4) and r.dtype is pf.float16
    values = r.numpy().astype(np.float32)
    assert values.min() >= 0 and values.max() <= 9 and np.all(values == np.round(values))
    r = pf.randint_like(pf.zeros(5, dtype=pf.int32), 3, 7).numpy()
    assert r.dtype == np.int32 and r.min() >= 3 and r.max() <= 6


# --------------------------------------------------------------------------- bernoulli


@pytest.mark.parametrize("p", [0.0, 0.1, 0.5, 0.9, 1.0])
def test_bernoulli_with_p(p):
    x = pf.ones(300, 300)
    m = pf.bernoulli(x, p=p, seed=4).numpy()
    assert m.dtype == np.float32 and set(np.unique(m)) <= {0.0, 1.0}
    assert abs(m.mean() - p) < 0.01


def test_bernoulli_ignores_values_with_p_and_keeps_the_dtype():
    x = pf.from_numpy(np.full((100, 100), 7, np.int32))
    m = pf.bernoulli(x, 0.25, seed=5).numpy()
    assert m.dtype == np.int32 and set(np.unique(m)) == {0, 1}
    assert abs(m.mean() - 0.25) < 0.02


def test_bernoulli_with_probabilities_from_the_input():
    probs = np.tile(np.array([0.0, 0.2, 0.7, 1.0], np.float32), (20000, 1))
    m = pf.bernoulli(pf.from_numpy(probs), seed=6).numpy()
    assert m.shape == probs.shape and set(np.unique(m)) <= {0.0, 1.0}
    np.testing.assert_allclose(m.mean(axis=0), [0.0, 0.2, 0.7, 1.0], atol=0.01)
    assert pf.ones(3).bernoulli(0.5).shape == (3,)


@pytest.mark.parametrize("p, error", [(1.5, ValueError), (-0.1, ValueError), ("x", TypeError)])
def test_bernoulli_p_must_be_a_probability(p, error):
    with pytest.raises(error, match="bernoulli's p"):
        pf.bernoulli(pf.ones(3), p)


def test_bernoulli_of_int_probabilities_is_refused():
    with pytest.raises(TypeError, match="floating-point probabilities"):
        pf.bernoulli(pf.ones(3, dtype=pf.int32))


def test_the_guides_dropout_mask():
    """`pf.bernoulli(pf.ones_like(x), p=keep_prob, seed=step)`, then `x * mask / keep_prob`."""
    a = np.random.default_rng(7).standard_normal((200, 300)).astype(np.float32)
    x = pf.from_numpy(a)
    keep_prob = 0.8
    for step in range(2):
        dropout_mask = pf.bernoulli(pf.ones_like(x), p=keep_prob, seed=step)
        y = x * dropout_mask / keep_prob
        mask, out = dropout_mask.numpy(), y.numpy()
        assert abs(mask.mean() - keep_prob) < 0.01
        np.testing.assert_allclose(out, a * mask / keep_prob, rtol=1e-6)
        again = pf.bernoulli(pf.ones_like(x), p=keep_prob, seed=step).numpy()
        np.testing.assert_array_equal(again, mask)


# --------------------------------------------------------------------------- dropout


@pytest.mark.parametrize("p", [0.1, 0.5, 0.75])
def test_dropout_is_inverted_dropout(p):
    a = np.random.default_rng(8).standard_normal((300, 300)).astype(np.float32) + 3.0
    y = pf.dropout(pf.from_numpy(a), p, seed=9).numpy()
    kept = y != 0
    assert abs(1 - kept.mean() - p) < 0.01
    scale = np.float32(1) / np.float32(1 - p)
    np.testing.assert_array_equal(y[kept], a[kept] * scale)
    assert abs(y.mean() - a.mean()) < 0.05


def test_dropout_matches_torch_given_torchs_mask():
    a = np.random.default_rng(10).standard_normal((40, 40)).astype(np.float32)
    y = F.dropout(pf.from_numpy(a), p=0.3).numpy()
    torch.manual_seed(0)
    t = torch.nn.functional.dropout(torch.from_numpy(a), p=0.3)
    # same formula: kept elements are x * (1 / (1 - p)) in float32
    mask = y != 0
    np.testing.assert_array_equal(
        y[mask], (torch.from_numpy(a)[torch.from_numpy(mask)] * (1 / (1 - 0.3))).numpy()
    )
    assert abs((t != 0).float().mean().item() - mask.mean()) < 0.05


def test_dropout_off_and_edge_probabilities():
    x = pf.from_numpy(np.ones((4, 5), np.float32))
    assert pf.dropout(x, 0.5, training=False) is x
    assert pf.dropout(x, 0.0) is x
    np.testing.assert_array_equal(pf.dropout(x, 1.0).numpy(), np.zeros((4, 5), np.float32))
    assert F.dropout is pf.dropout


@pytest.mark.parametrize("dtype", [pf.float16, pf.bfloat16], ids=repr)
def test_dropout_half_precision(dtype):
    a = np.ones((100, 100), dtype.numpy)
    y = pf.dropout(pf.from_numpy(a), 0.5, seed=11).numpy()
    assert y.dtype == dtype.numpy
    assert set(np.unique(y.astype(np.float32))) == {0.0, 2.0}


def test_dropout_errors():
    with pytest.raises(ValueError, match="between 0 and 1, but got 1.5"):
        pf.dropout(pf.ones(3), 1.5)
    with pytest.raises(TypeError, match="floating-point"):
        pf.dropout(pf.ones(3, dtype=pf.int32), 0.5)


# --------------------------------------------------------------------------- the seed rules

RANDOM_BUILDERS = {
    "rand": lambda **kw: pf.rand(40, 30, **kw),
    "randint": lambda **kw: pf.randint(0, 1000, (40, 30), **kw),
    "bernoulli": lambda **kw: pf.bernoulli(pf.ones(40, 30), 0.5, **kw),
    "dropout": lambda **kw: pf.dropout(pf.ones(40, 30), 0.5, **kw),
}


@pytest.mark.parametrize("name", RANDOM_BUILDERS)
def test_two_calls_differ(name):
    build = RANDOM_BUILDERS[name]
    a, b = build(), build()
    pf.eval(a, b)
    assert not np.array_equal(a.numpy(), b.numpy())


@pytest.mark.parametrize("name", RANDOM_BUILDERS)
def test_manual_seed_reproduces(name):
    build = RANDOM_BUILDERS[name]
    pf.manual_seed(123)
    first = [build().numpy() for _ in range(2)]
    pf.manual_seed(123)
    second = [build().numpy() for _ in range(2)]
    for x, y in zip(first, second, strict=True):
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("name", RANDOM_BUILDERS)
def test_an_explicit_seed_repeats(name):
    build = RANDOM_BUILDERS[name]
    pf.manual_seed(1)
    a = build(seed=42).numpy()
    pf.manual_seed(2)  # the generator does not matter
    b = build(seed=42).numpy()
    c = build(seed=43).numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("name", RANDOM_BUILDERS)
def test_a_loop_compiles_once_with_fresh_values(name):
    build = RANDOM_BUILDERS[name]
    pf.cache_clear()
    values = [build().numpy() for _ in range(3)]
    hits, misses, _ = pf.cache_info()
    assert (hits, misses) == (2, 1)
    assert not np.array_equal(values[0], values[1])
    assert not np.array_equal(values[1], values[2])


def test_explicit_seeds_are_runtime_inputs():
    """seed=step in a training loop: one compile, a new mask per step, the same mask for the
    same step."""
    pf.cache_clear()
    x = pf.ones(20, 20)
    masks = [pf.bernoulli(x, 0.5, seed=step).numpy() for step in (0, 1, 0)]
    assert pf.cache_info()[:2] == (2, 1)
    np.testing.assert_array_equal(masks[0], masks[2])
    assert not np.array_equal(masks[0], masks[1])
    assert "%seed0: i64" in pf.ir(pf.bernoulli(x, 0.5, seed=3), stage="flame")


def test_explicit_seeds_do_not_repeat_drawn_seeds():
    pf.manual_seed(0)
    drawn = pf.rand(8)
    fixed = pf.rand(8, seed=drawn.attrs["seed"])
    assert not np.array_equal(drawn.numpy(), fixed.numpy())


LAYOUT_BUILDERS = {
    "rand": lambda lay, ones: pf.rand(9, 14, layout=lay, seed=77),
    "rand_f16": lambda lay, ones: pf.rand(9, 14, layout=lay, seed=8, dtype=pf.float16),
    "randint": lambda lay, ones: pf.randint(0, 1000, (9, 14), layout=lay, seed=77),
    "bernoulli": lambda lay, ones: pf.bernoulli(pf.from_numpy(ones, layout=lay), 0.3, seed=5),
    "dropout": lambda lay, ones: pf.dropout(pf.from_numpy(ones, layout=lay), 0.3, seed=5),
}


@pytest.mark.parametrize("layout", LAYOUTS, ids=repr)
@pytest.mark.parametrize("name", LAYOUT_BUILDERS)
def test_values_do_not_depend_on_the_layout(name, layout):
    """(seed, global index) decides every value: the same seed gives the same tensor under
    any layout as on one PE."""
    build = LAYOUT_BUILDERS[name]
    ones = np.ones((9, 14), np.float32)
    np.testing.assert_array_equal(
        build(layout, ones).numpy(), build(pf.MeshLayout.single(), ones).numpy()
    )


def test_random_ops_in_one_program():
    pf.manual_seed(3)
    u, r, n = pf.rand(30, 30), pf.randint(0, 10, (30, 30)), pf.randn(30, 30)
    z = u + r.float() + n
    pf.eval(u, r, n, z)
    np.testing.assert_allclose(z.numpy(), u.numpy() + r.numpy() + n.numpy(), rtol=1e-6, atol=1e-6)


# --- values that do not fit the dtype are refused, never wrapped (issue 8, item 4) ----------


@pytest.mark.parametrize(
    "build, words",
    [
        (
            lambda: pf.full([2], 2**40, dtype=pf.int32),
            "full: value 1099511627776 cannot be converted to pf.int32 without overflow",
        ),
        (lambda: pf.full([2], -(2**31) - 1, dtype=pf.int32), "value -2147483649 cannot"),
        (lambda: pf.full([2], 1e6, dtype=pf.float16), "cannot be converted to pf.float16"),
        (lambda: pf.ones([2], dtype=pf.int32) + 2**40, "scalar operand: value 1099511627776"),
        (lambda: pf.arange(2**31 - 2, 2**31 + 3), "arange: value 2147483650 cannot"),
        (lambda: pf.from_numpy(np.array([2**40], np.int64)), "int64 values in .* do not fit"),
        (
            lambda: pf.randint(0, 100000, (3,), dtype=pf.float16),
            "randint: value 99999 cannot be converted to pf.float16",
        ),
        (
            lambda: pf.nn.functional.pad(pf.ones([2], dtype=pf.int32), (1, 1), value=2**33),
            "pad: value 8589934592 cannot",
        ),
    ],
)
def test_values_beyond_the_dtype_raise_at_the_users_line(build, words):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # and no numpy cast warning either
        error = OverflowError if "float16" in words else pf.IntegerOverflowError
        with pytest.raises(error, match=f"test_creation.py:\\d+: .*{words}"):
            build()


def test_values_at_the_int32_limits_are_kept():
    np.testing.assert_array_equal(pf.full([2], -(2**31), dtype=pf.int32).numpy(), [-(2**31)] * 2)
    np.testing.assert_array_equal(pf.arange(2**31 - 3, 2**31 - 1).numpy(), [2**31 - 3, 2**31 - 2])
    x = pf.from_numpy(np.array([5, -7], np.int32))
    np.testing.assert_array_equal(x.clamp(-(2**40), 2**40).numpy(), [5, -7])  # bounds: no-ops


# --- negative sizes (issue 8, item 13): a ShapeError at the line that built the tensor, in
# PyTorch's words, never an error at evaluation


@pytest.mark.parametrize(
    "make, words",
    [
        (
            lambda: pf.zeros([-1, 4]),
            r"zeros: Trying to create tensor with negative dimension -1: \[-1, 4\]",
        ),
        (
            lambda: pf.zeros(2, -3),
            r"zeros: Trying to create tensor with negative dimension -3: \[2, -3\]",
        ),
        (lambda: pf.ones([-1]), r"ones: Trying to create tensor with negative dimension -1"),
        (lambda: pf.full([-2], 1.0), r"full: Trying to create tensor with negative dimension -2"),
        (lambda: pf.rand(-1), r"rand: Trying to create tensor with negative dimension -1"),
        (lambda: pf.randn([3, -1]), r"randn: Trying to create tensor with negative dimension -1"),
        (lambda: pf.randint(0, 5, [-1]), r"randint: Trying to create tensor with negative"),
        (
            lambda: pf.nn.Linear(-1, 3),
            r"Trying to create tensor with negative dimension -1: \[3, -1\]",
        ),
        (
            lambda: pf.ones([4]).reshape(-2, 2),
            r"invalid shape dimension -2 at index 0 of shape \[-2, 2\]",
        ),
        (lambda: pf.ones([4]).view(-1, -1), r"only one dimension can be inferred"),
        (
            lambda: pf.zeros(0, 4).reshape(-1, 0),
            r"the unspecified dimension size -1 can be any value",
        ),
    ],
    ids=range(11),
)
def test_negative_sizes_raise_at_the_user_line(make, words):
    with pytest.raises(pf.ShapeError, match=words) as info:
        make()
    assert str(info.value).startswith(__file__ + ":")  # the lambda's line, in this file


def test_arange_and_eye_errors_name_the_user_line():
    line = test_arange_and_eye_errors_name_the_user_line.__code__.co_firstlineno
    with pytest.raises(ValueError, match=rf"test_creation.py:{line + 3}: arange: upper bound"):
        pf.arange(5, 0)
    with pytest.raises(TypeError, match=rf"test_creation.py:{line + 5}: eye: n must be"):
        pf.eye(-1)


# --------------------------------------------------------------------------- made again per layout


@pytest.mark.parametrize("n", [150, 201], ids=repr)
@pytest.mark.parametrize("grid", [(4, 4), (3, 5)], ids=repr)
def test_causal_mask_makes_its_iota_in_each_layout(n, grid):
    """scores masked by arange(n)[None, :] <= arange(n)[:, None] (big enough that the compiler
    keeps them on a 2D grid): after CSE one iota is both the row and the column index; each use
    gets a mesh.iota of its own in the layout it wants (no exchange of indices), and the result
    is tril's."""
    scores = np.random.default_rng(n).standard_normal((n, n)).astype(np.float32)
    s = pf.from_numpy(scores, layout=pf.MeshLayout.grid(*grid))
    i = pf.arange(n)
    mask = i.reshape(1, n).expand(n, n) <= i.reshape(n, 1).expand(n, n)
    out = pf.where(mask, s, pf.zeros(()))
    mesh_text = pf.ir(out, stage="mesh")
    assert mesh_text.count("mesh.iota") == 2, mesh_text
    assert not re.search(r"mesh\.redistribute .*xi32", mesh_text), mesh_text
    np.testing.assert_array_equal(out.numpy(), np.tril(scores))


# --------------------------------------------------------------------------- pf.tensor


@pytest.mark.parametrize(
    "data",
    [1.5, 3, True, [1.5, -2.0], [1, 2, 3], [[True, False]], [[1, 2.5], [3, 4]], (1.0, 2.0), []],
)
def test_tensor_infers_dtypes_as_torch_tensor(data):
    """pf.tensor(data) is torch.tensor(data): the same values; bools bool, floats float32,
    ints int32 (PyFlame's widest: torch's int64)."""
    torch = pytest.importorskip("torch")
    want = torch.tensor(data)
    got = pf.tensor(data)
    assert tuple(got.shape) == tuple(want.shape)
    expected = {torch.bool: pf.bool, torch.float32: pf.float32, torch.int64: pf.int32}
    assert got.dtype is expected[want.dtype]
    np.testing.assert_array_equal(got.numpy(), want.numpy())


def test_tensor_takes_dtype_requires_grad_device_and_numpy_arrays():
    torch = pytest.importorskip("torch")
    x = pf.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=pf.float16, requires_grad=True, device="cpu")
    t = torch.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=torch.float16, requires_grad=True)
    assert x.dtype is pf.float16 and x.requires_grad and x.is_leaf
    (x.float() ** 2).sum().backward()
    (t.float() ** 2).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), t.grad.numpy())
    assert pf.tensor(np.arange(4.0)).dtype is pf.float32  # (float64: PyFlame's widest float)
    assert pf.tensor(np.arange(4, dtype=np.int64)).dtype is pf.int32
    a = np.ones(3, np.float32)
    y = pf.tensor(a)
    a[0] = 7.0  # a copy, as torch.tensor
    np.testing.assert_array_equal(y.numpy(), [1.0, 1.0, 1.0])
    assert pf.tensor(2, dtype=pf.float32).numpy() == np.float32(2.0)


def test_tensor_of_a_tensor_copies_with_torchs_warning_and_as_tensor_does_not():
    x = pf.from_numpy(np.array([1.0, 2.0], np.float32)).requires_grad_()
    with pytest.warns(UserWarning, match="recommended to use sourceTensor.detach"):
        y = pf.tensor(x)
    assert y is not x and not y.requires_grad
    np.testing.assert_array_equal(y.numpy(), [1.0, 2.0])
    assert pf.as_tensor(x) is x
    assert pf.as_tensor(x, dtype=pf.float16).dtype is pf.float16
    np.testing.assert_array_equal(pf.as_tensor([3, 4]).numpy(), [3, 4])


def test_tensor_refuses_what_torch_refuses_at_the_users_line():
    with pytest.raises(TypeError, match=r"test_creation.py:\d+: tensor: Could not infer dtype"):
        pf.tensor("abc")
    with pytest.raises(ValueError, match=r"test_creation.py:\d+: tensor:"):
        pf.tensor([[1.0, 2.0], [3.0]])
    with pytest.raises(TypeError, match="Could not infer dtype"):
        pf.tensor({"a": 1})


def test_pf_tensor_is_the_function_even_after_the_tensor_module_is_imported():
    import importlib

    importlib.import_module("pyflame.lazy_tensor")
    assert callable(pf.tensor) and pf.tensor([1.0]).numpy().tolist() == [1.0]
