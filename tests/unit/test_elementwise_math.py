"""torch's math functions added as elementwise kinds (exp2, log2, log10, tan, asin, acos, atan,
sinh, cosh, asinh, acosh, atanh, erfinv, atan2, hypot, nextafter, signbit: rows of
pyflame.core.elementwise) and as decompositions (pyflame/ops/elementwise_math.py: xlogy,
logaddexp, logaddexp2, copysign, heaviside, sinc, logit, deg2rad, rad2deg, true_divide)
against PyTorch 2.13: float32 to 2 ulps on odd shapes with special values (signed zeros,
infinities, NaN, domain edges), every layout, int and bool promotion or PyTorch's refusal,
float16/bfloat16, broadcasting and numbers, gradients, the methods and in-place forms."""

from __future__ import annotations

import numpy as np
import pytest
from layouts import LAYOUTS

import pyflame as pf

torch = pytest.importorskip("torch")

pytestmark = pytest.mark.usefixtures("small_target")

#: (name, how its data is scaled): inputs inside each function's domain, mostly
UNARY = {
    "signbit": 3.0,
    "exp2": 10.0,
    "log2": 3.0,
    "log10": 3.0,
    "tan": 1.5,
    "asin": 0.4,
    "acos": 0.4,
    "atan": 5.0,
    "sinh": 4.0,
    "cosh": 4.0,
    "asinh": 5.0,
    "acosh": 5.0,
    "atanh": 0.4,
    "erfinv": 0.4,
    "sinc": 2.0,
    "logit": 0.4,
    "deg2rad": 100.0,
    "rad2deg": 3.0,
}
BINARY = [
    "atan2",
    "hypot",
    "nextafter",
    "xlogy",
    "logaddexp",
    "logaddexp2",
    "copysign",
    "heaviside",
    "true_divide",
]
ALIASES = {"arctan2": "atan2", "arcsin": "asin", "arccos": "acos", "arctan": "atan"}
ALIASES |= {"arcsinh": "asinh", "arccosh": "acosh", "arctanh": "atanh"}
#: (not 89: PyTorch's vectorized sinh and cosh overflow to inf from about 88.7 on, where the
#: true value, numpy's and PyFlame's, is finite up to 89.4; its scalar loop agrees with us)
SPECIAL = [0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, -1.0, 0.5, 88.0, -88.0, 1e-30]


def data(shape, scale=1.0, seed=0):
    a = np.random.default_rng(seed).standard_normal(shape).astype(np.float32) * scale
    a.flat[: len(SPECIAL)] = SPECIAL
    return a


def ulps(got, want, scale=None):
    """The largest distance in float32 ulps of `want` (of `scale` where that is larger: the
    magnitude a result cancelled from); NaN must meet NaN, inf the same inf."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    assert got.shape == want.shape
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    same = (got == want) | np.isnan(want)
    size = np.abs(want) if scale is None else np.maximum(np.abs(want), scale)
    with np.errstate(invalid="ignore", over="ignore"):
        spacing = np.spacing(size.astype(np.float32)).astype(np.float64)
        d = np.where(same, 0.0, np.abs(got - want) / spacing)
    return float(d.max()) if d.size else 0.0


def unary_input(name, shape, seed=0):
    a = data(shape, UNARY[name], seed)
    if name == "logit":  # mostly in (0, 1), a few outside
        with np.errstate(invalid="ignore"):
            a = np.where(np.isfinite(a), np.abs(a) % 1.2, a).astype(np.float32)
    return a


@pytest.mark.parametrize("layout", LAYOUTS, ids=repr)
def test_unary_functions_match_torch_to_two_ulps(layout):
    """Every one-operand function, its method form and its torch alias, on 3-D odd shapes."""
    names = list(UNARY)
    inputs = {n: unary_input(n, (3, 5, 7), seed=k) for k, n in enumerate(names)}
    ours = {n: getattr(pf, n)(pf.from_numpy(a, layout=layout)) for n, a in inputs.items()}
    methods = {n: getattr(pf.from_numpy(a, layout=layout), n)() for n, a in inputs.items()}
    aliases = {
        k: getattr(pf, k)(pf.from_numpy(inputs[v], layout=layout))
        for k, v in ALIASES.items()
        if v in inputs
    }
    pf.eval(*ours.values(), *methods.values(), *aliases.values())
    for n, a in inputs.items():
        want = getattr(torch, n)(torch.from_numpy(a)).numpy()
        assert ours[n].dtype is (pf.bool if n == "signbit" else pf.float32), n
        if n == "signbit":
            np.testing.assert_array_equal(ours[n].numpy(), want)
            continue
        assert ulps(ours[n].numpy(), want) <= 2, n
        assert ulps(methods[n].numpy(), want) <= 2, n
    for k, v in ALIASES.items():
        if v not in inputs:
            continue
        want = getattr(torch, k)(torch.from_numpy(inputs[v])).numpy()
        assert ulps(aliases[k].numpy(), want) <= 2, k


def binary_inputs(seed=0):
    a, b = data((5, 7), 3.0, seed), data((5, 7), 3.0, seed + 1)
    b[1, :3] = a[1, :3]  # ties (logaddexp's gradient), equal infinities below
    a[2, :2], b[2, :2] = [np.inf, -np.inf], [np.inf, -np.inf]
    b[3, ::2] = 0.0  # xlogy(x, 0), heaviside at 0
    return a, b


@pytest.mark.parametrize("layout", LAYOUTS, ids=repr)
def test_binary_functions_match_torch_to_two_ulps(layout):
    """Every two-operand function and its method, same shapes, broadcast ([5, 1] with
    [1, 7]) and a 0-d tensor operand."""
    a, b = binary_inputs()
    x, y = pf.from_numpy(a, layout=layout), pf.from_numpy(b, layout=layout)
    col, row = pf.from_numpy(a[:, :1]), pf.from_numpy(b[:1, :], layout=layout)
    zero_d = pf.from_numpy(np.array(1.5, np.float32))
    ours = {}
    for n in BINARY:
        ours[n] = (
            getattr(pf, n)(x, y),
            getattr(x, n)(y),
            getattr(pf, n)(col, row),
            getattr(pf, n)(x, zero_d),
        )
    ours["arctan2"] = (pf.arctan2(x, y), x.arctan2(y), pf.arctan2(col, row), pf.arctan2(x, zero_d))
    pf.eval(*(t for four in ours.values() for t in four))
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    for n in [*BINARY, "arctan2"]:
        fn = getattr(torch, n)
        wants = (fn(ta, tb), fn(ta, tb), fn(ta[:, :1], tb[:1, :]), fn(ta, torch.tensor(1.5)))
        # logaddexp's max(a, b) + log1p(...) cancels near 0: its error is an ulp of the terms
        cancels = n.startswith("logaddexp")
        for got, want in zip(ours[n], wants, strict=True):
            assert got.dtype is pf.float32
            scale = np.maximum(np.abs(want.numpy()), 1.0) if cancels else None
            assert ulps(got.numpy(), want.numpy(), scale) <= 2, n


def test_signbit_of_signed_zeros_nans_integers_and_bool_as_torch():
    a = np.array([0.0, -0.0, -np.nan, np.nan, -np.inf, 3.0, -1e-40], np.float32)
    k = np.array([[-3, 0, 7], [2, -1, 5]], np.int32)
    flags = np.array([True, False])
    for got, want in [
        (pf.signbit(pf.from_numpy(a)), torch.signbit(torch.from_numpy(a))),
        (pf.from_numpy(k).signbit(), torch.from_numpy(k).signbit()),
        (pf.signbit(pf.from_numpy(flags)), torch.signbit(torch.from_numpy(flags))),
    ]:
        assert got.dtype is pf.bool
        np.testing.assert_array_equal(got.numpy(), want.numpy())


def test_copysign_is_exact_and_takes_the_sign_of_zeros_and_nans():
    a = np.array([1.5, -2.0, 0.0, np.nan, -np.inf, 3.0], np.float32)
    b = np.array([-0.0, 0.0, -1.0, -np.nan, 1.0, np.nan], np.float32)
    got = pf.copysign(pf.from_numpy(a), pf.from_numpy(b)).numpy()
    want = torch.copysign(torch.from_numpy(a), torch.from_numpy(b)).numpy()
    assert got.tobytes() == want.tobytes()


def test_copysign_gives_the_sign_operand_a_zero_gradient_as_torch():
    # found by the differential fuzzer (grad mode, seed 1, program 96): `b` of copysign(a, b)
    # had no .grad (None), where PyTorch's is zeros (derivatives.yaml: zeros_like(other)), and
    # code that reads or updates b.grad (an optimizer, weight decay) then differs
    a = np.array([[1.5, -2.0, 0.0], [np.nan, -np.inf, 3.0]], np.float32)
    b = np.array([[-0.5, 0.0, -1.0], [2.0, 1.0, np.nan]], np.float32)
    for only_b in (True, False):
        x, y = pf.from_numpy(a), pf.from_numpy(b)
        tx, ty = torch.from_numpy(a), torch.from_numpy(b)
        y.requires_grad = ty.requires_grad = True
        if not only_b:
            x.requires_grad = tx.requires_grad = True
        w = np.arange(6, dtype=np.float32).reshape(2, 3) - 2.5
        (pf.copysign(x, y[0]) * pf.from_numpy(w)).sum().backward()
        (torch.copysign(tx, ty[0]) * torch.from_numpy(w)).sum().backward()
        assert y.grad is not None
        np.testing.assert_array_equal(y.grad.numpy(), ty.grad.numpy())
        if not only_b:
            np.testing.assert_array_equal(x.grad.numpy(), tx.grad.numpy())


def test_integers_and_bool_promote_to_float32_or_are_refused_as_torch():
    """float functions of int32 and bool give float32 (PyTorch: float32 too); hypot,
    logaddexp, logaddexp2 and nextafter have no integer kernel in PyTorch: NotImplementedError
    naming the line. heaviside keeps the dtype; numbers promote as PyTorch's."""
    k = np.array([[1, -2, 0], [3, 5, -7]], np.int32)
    flags = np.array([[True, False, True], [False, False, True]])
    for arr in (k, flags):
        x, t = pf.from_numpy(arr), torch.from_numpy(arr)
        for n in UNARY:
            if n == "signbit":
                continue
            got = getattr(pf, n)(x)
            want = getattr(torch, n)(t)
            assert got.dtype is pf.float32, n
            assert ulps(got.numpy(), want.numpy()) <= 2, n
        for n in ("atan2", "xlogy", "copysign", "true_divide"):
            got, want = getattr(pf, n)(x, x), getattr(torch, n)(t, t)
            assert got.dtype is pf.float32, n
            assert ulps(got.numpy(), want.numpy()) <= 2, n
        got = pf.heaviside(x, x)
        assert got.dtype is x.dtype
        np.testing.assert_array_equal(got.numpy(), torch.heaviside(t, t).numpy())
        for n in ("hypot", "logaddexp", "logaddexp2", "nextafter"):
            with pytest.raises(
                NotImplementedError,
                match=rf"test_elementwise_math.py:\d+: {n} is not implemented for pf\.",
            ):
                getattr(pf, n)(x, x)
            with pytest.raises(NotImplementedError):
                getattr(torch, n)(t, t)
    x = pf.from_numpy(k)
    for n in ("xlogy", "copysign", "true_divide"):  # a float number with an int tensor
        got, want = getattr(pf, n)(x, 2.5), getattr(torch, n)(torch.from_numpy(k), 2.5)
        assert got.dtype is pf.float32 and ulps(got.numpy(), want.numpy()) <= 2, n
    got, want = pf.xlogy(3, pf.from_numpy(k)), torch.xlogy(3, torch.from_numpy(k))
    assert ulps(got.numpy(), want.numpy()) <= 2


@pytest.mark.parametrize("dtype", [pf.float16, pf.bfloat16], ids=repr)
def test_half_floats_compute_in_float32_and_round_once_as_torch(dtype):
    tdtype = {pf.float16: torch.float16, pf.bfloat16: torch.bfloat16}[dtype]
    for n in UNARY:
        a = unary_input(n, (4, 9), seed=3)
        t = torch.from_numpy(a).to(tdtype)
        got = getattr(pf, n)(pf.from_numpy(a).astype(dtype))
        want = getattr(torch, n)(t)
        assert got.dtype is (pf.bool if n == "signbit" else dtype), n
        if n == "signbit":  # (PyTorch's float32 -> bfloat16 makes NaN negative, ours positive)
            real = ~np.isnan(a)
            np.testing.assert_array_equal(got.numpy()[real], want.numpy()[real])
            continue
        np.testing.assert_array_equal(
            got.astype(pf.float32).numpy(), want.float().numpy(), err_msg=n
        )
    a, b = binary_inputs(seed=4)
    ta, tb = torch.from_numpy(a).to(tdtype), torch.from_numpy(b).to(tdtype)
    x, y = pf.from_numpy(a).astype(dtype), pf.from_numpy(b).astype(dtype)
    for n in BINARY:
        got, want = getattr(pf, n)(x, y), getattr(torch, n)(ta, tb)
        assert got.dtype is dtype, n
        if n.startswith("logaddexp"):  # (cancels near 0: an ulp of float32's log1p shows)
            np.testing.assert_allclose(
                got.astype(pf.float32).numpy(), want.float().numpy(), rtol=0, atol=1e-7
            )
            continue
        np.testing.assert_array_equal(
            got.astype(pf.float32).numpy(), want.float().numpy(), err_msg=n
        )


def test_logit_with_eps_clamps_with_torchs_float32_bounds():
    a = np.array([-0.5, 0.0, 1e-7, 0.2, 0.5, 0.999, 1.0, 1.5, np.nan], np.float32)
    for eps in (None, 1e-6, 0.25):
        got = pf.logit(pf.from_numpy(a), eps).numpy()
        want = torch.logit(torch.from_numpy(a), eps).numpy()
        assert ulps(got, want) <= 2, eps
        x = pf.from_numpy(a.copy())
        assert x.logit_(eps) is x
        assert ulps(x.numpy(), want) <= 2, eps


GRAD_UNARY = [n for n in UNARY if n != "signbit"]


@pytest.mark.parametrize("layout", [None, pf.MeshLayout.grid(2, 3)], ids=repr)
def test_gradients_match_torch(layout):
    """Each function's gradients, also at logaddexp's ties (half to each operand, as
    PyTorch), xlogy at x = 0, sinc at 0 and logit outside its bounds; heaviside and nextafter
    have none (PyTorch's errors)."""
    grads = {}
    for lib in (pf, torch):
        put = (lambda a: pf.from_numpy(a, layout=layout)) if lib is pf else torch.from_numpy
        for n in GRAD_UNARY:
            a = (
                np.abs(unary_input(n, (4, 5), seed=7))
                if n == "acosh"
                else unary_input(n, (4, 5), seed=7)
            )
            a = np.nan_to_num(a, nan=0.3, posinf=0.7, neginf=-0.7).astype(np.float32)
            if n == "acosh":
                a = a + 1.5
            x = put(a)
            x.requires_grad = True
            out = getattr(lib, n)(x) if n != "logit" else lib.logit(x, 0.1)
            (out * put(np.linspace(-1, 2, 20, dtype=np.float32).reshape(4, 5))).sum().backward()
            grads[lib, n] = x.grad.numpy()
        for n in ("atan2", "hypot", "xlogy", "logaddexp", "logaddexp2", "copysign"):
            a, b = binary_inputs(seed=8)
            a, b = (
                np.nan_to_num(v, nan=0.3, posinf=2.0, neginf=-2.0).astype(np.float32)
                for v in (a, b)
            )
            if n == "xlogy":
                b = np.abs(b) + 0.1
            x, y = put(a), put(b[:1, :])  # y broadcast along dim 0
            x.requires_grad = y.requires_grad = True
            getattr(lib, n)(x, y).sum().backward()
            grads[lib, n] = (
                x.grad.numpy(),
                y.grad.numpy() if y.grad is not None else np.zeros((1, 7), np.float32),
            )
    for n in GRAD_UNARY:
        np.testing.assert_allclose(grads[pf, n], grads[torch, n], rtol=2e-5, atol=1e-6, err_msg=n)
    for n in ("atan2", "hypot", "xlogy", "logaddexp", "logaddexp2", "copysign"):
        for ours, theirs in zip(grads[pf, n], grads[torch, n], strict=True):
            np.testing.assert_allclose(ours, theirs, rtol=2e-5, atol=1e-6, err_msg=n)
    for n in ("heaviside", "nextafter"):
        x = pf.ones(3)
        x.requires_grad = True
        with pytest.raises(
            RuntimeError,
            match=rf"test_elementwise_math.py:\d+: .*derivative for .*{n}.* not implemented",
        ):
            getattr(pf, n)(x, pf.zeros(3)).sum().backward()


def test_in_place_forms_change_x_and_refuse_integer_results_as_torch():
    a, b = binary_inputs(seed=9)
    for name in ("exp2_", "log2_", "log10_", "sinh_", "erfinv_", "deg2rad_", "sinc_", "arcsin_"):
        x, t = pf.from_numpy(a.copy() / 4), torch.from_numpy(a.copy() / 4)
        assert getattr(x, name)() is x
        getattr(t, name)()
        assert ulps(x.numpy(), t.numpy()) <= 2, name
    for name in (
        "atan2_",
        "hypot_",
        "xlogy_",
        "copysign_",
        "nextafter_",
        "heaviside_",
        "true_divide_",
    ):
        x, t = pf.from_numpy(a.copy()), torch.from_numpy(a.copy())
        assert getattr(x, name)(pf.from_numpy(b)) is x
        getattr(t, name)(torch.from_numpy(b))
        assert ulps(x.numpy(), t.numpy()) <= 2, name
    k = pf.from_numpy(np.array([1, 2], np.int32))
    with pytest.raises(
        RuntimeError,
        match=r"test_elementwise_math.py:\d+: result type Float can't be cast to the desired output type Int",
    ):
        k.log2_()
    with pytest.raises(RuntimeError, match="result type Float can't be cast"):
        torch.tensor([1, 2], dtype=torch.int32).log2_()


def test_heaviside_refuses_mixed_dtypes_as_torch():
    with pytest.raises(
        RuntimeError,
        match=r"test_elementwise_math.py:\d+: heaviside is not yet implemented for tensors with different dtypes",
    ):
        pf.heaviside(pf.ones(3), pf.ones(3, dtype=pf.int32))
    with pytest.raises(
        RuntimeError, match="heaviside is not yet implemented for tensors with different dtypes"
    ):
        torch.heaviside(torch.ones(3), torch.ones(3, dtype=torch.int32))


def test_erfinv_inverts_erf_to_float32_rounding():
    """erfinv's own float64 Newton steps: erf(erfinv(y)) == y to a float32 ulp over (-1, 1),
    +-inf at +-1, NaN beyond."""
    from pyflame.core.elementwise import _erf, _erfinv

    y = np.concatenate([np.linspace(-0.999999, 0.999999, 4001), [1e-30, -1e-8, 0.9999999]]).astype(
        np.float32
    )
    x = _erfinv(y)
    assert x.dtype == np.float32
    np.testing.assert_allclose(
        _erf(x.astype(np.float64)), y.astype(np.float64), rtol=3e-7, atol=1e-37
    )
    edges = _erfinv(np.array([1.0, -1.0, 1.5, np.nan], np.float32))
    assert edges[0] == np.inf and edges[1] == -np.inf and np.isnan(edges[2:]).all()


@pytest.mark.parametrize("half", [pf.bfloat16, pf.float16], ids=repr)
def test_addcmul_addcdiv_promote_every_operand_before_computing_as_torch(half):
    # found by the differential fuzzer (session 30, value programs of the new ops): a float32
    # input with bfloat16 tensor1 and tensor2 multiplied (divided) them in bfloat16 and only
    # then added in float32 (-0.4488 for -0.4492); PyTorch converts all three to the result
    # dtype first
    inp = np.array([[-0.7], [0.25]], np.float32)
    t1 = np.array([0.3, 0.57, 0.9, 0.123, -1.7], np.float32)
    t2 = np.array([1.3, -0.77, 0.6, 2.5, 0.11], np.float32)
    torch_half = {pf.bfloat16: torch.bfloat16, pf.float16: torch.float16}[half]
    a, b = pf.from_numpy(t1).to(half), pf.from_numpy(t2).to(half)
    ta, tb = torch.from_numpy(t1).to(torch_half), torch.from_numpy(t2).to(torch_half)
    for value in (1, 0.5, -2.0):
        for pf_fn, torch_fn in ((pf.addcmul, torch.addcmul), (pf.addcdiv, torch.addcdiv)):
            got = pf_fn(pf.from_numpy(inp), a, b, value=value)
            want = torch_fn(torch.from_numpy(inp), ta, tb, value=value)
            assert got.dtype is pf.float32
            np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=2e-7, atol=1e-7)


def test_ldexp_takes_the_power_of_two_in_the_exponents_dtype_as_torch():
    # found probing the fuzzer's new ops with every pair of dtypes (session 30): a float32 x
    # with a float16 / bfloat16 exponent computed 2 ** e in float32, where PyTorch's
    # `x * pow(2., e)` rounds the power to e's dtype first (-21.3424 for -21.3401)
    x = np.array([[-3.1, 0.7, 2.5], [1.0, -0.2, 9.0]], np.float32)
    e = np.array([2.77, -1.3, 0.55], np.float32)
    for xd, ed in (
        (torch.float32, torch.float16),
        (torch.float32, torch.bfloat16),
        (torch.bfloat16, torch.float16),
        (torch.float16, torch.float16),
        (torch.float32, torch.int64),
        (torch.int64, torch.int64),
    ):
        tx = (
            torch.from_numpy(x).to(xd)
            if xd is not torch.int64
            else torch.from_numpy(x).round().long()
        )
        te = (
            torch.from_numpy(e).to(ed)
            if ed is not torch.int64
            else torch.from_numpy(e).round().long()
        )
        want = torch.ldexp(tx, te)
        got = pf.ldexp(
            pf.tensor(tx.float().numpy()).to(_dtype(xd)),
            pf.tensor(te.float().numpy()).to(_dtype(ed)),
        )
        assert got.dtype is _dtype(want.dtype)
        np.testing.assert_array_equal(got.numpy().astype(np.float32), want.float().numpy())


def _dtype(t):
    return {
        torch.float32: pf.float32,
        torch.float16: pf.float16,
        torch.bfloat16: pf.bfloat16,
        torch.int64: pf.int32,
    }[t]


# --------------------------------------------------------------------------- frexp, float_power


def _frexp_data() -> np.ndarray:
    """Signed zeros, infinities, NaN, subnormals, the float32 ends, every power of two and the
    float just below each (where log2 rounds across it), random magnitudes."""
    rng = np.random.default_rng(31)
    special = [0.0, -0.0, np.inf, -np.inf, np.nan, 1e-40, -1e-45, 3e38, -3.4028235e38, 0.75]
    special += [1.0, -0.5, 0.99999994, 1.0000001, 2.0**-126, 1.1754942e-38]
    powers = np.float32(2.0) ** np.arange(-149, 128).astype(np.float32)
    below = np.nextafter(powers[9:], np.float32(0))
    randoms = rng.standard_normal(150) * np.exp(rng.uniform(-80, 80, 150))
    return np.concatenate([special, powers, below, randoms]).astype(np.float32)


def test_frexp_matches_torch_bit_for_bit():
    """Mantissa (input's dtype, the sign of -0.0 kept) and int32 exponent as torch.frexp on every
    kind of float, float32, float16 and bfloat16, an odd shape [37, 19] over a grid that does
    not divide it."""
    a = _frexp_data()[: 37 * 19].reshape(37, 19)
    x = pf.from_numpy(a, layout=pf.MeshLayout.grid(3, 2))
    dtypes = {pf.float32: torch.float32, pf.float16: torch.float16, pf.bfloat16: torch.bfloat16}
    results = [
        (pf.frexp(x.astype(d)), torch.frexp(torch.from_numpy(a).to(t))) for d, t in dtypes.items()
    ]
    method = x.frexp()
    pf.eval(*[r for got, _ in results for r in got], *method)
    for (got, want), dtype in zip(results, dtypes, strict=True):
        assert got.mantissa.dtype is dtype and got.exponent.dtype is pf.int32
        g, w = got.mantissa.astype(pf.float32).numpy(), want.mantissa.float().numpy()
        assert g.tobytes() == w.tobytes(), dtype  # (NaN and -0.0 included)
        np.testing.assert_array_equal(got.exponent.numpy(), want.exponent.numpy())
    np.testing.assert_array_equal(method.exponent.numpy(), results[0][1].exponent.numpy())


def test_frexp_gradient_and_refusals_as_torch():
    """torch's gradient g / 2 ** exponent (inf past 2 ** 127, 0 below 2 ** -127); integers and
    bool refused, naming the user's line."""
    a = np.array([[1.5, -3.0, 0.0, 1e-40], [3e38, 0.75, -0.5, 7.0]], np.float32)
    w = np.arange(8, dtype=np.float32).reshape(2, 4)
    grads = {}
    for lib in (pf, torch):
        x = lib.from_numpy(a.copy())
        x.requires_grad = True
        (lib.frexp(x)[0] * lib.from_numpy(w)).sum().backward()
        grads[lib] = x.grad.numpy()
    np.testing.assert_array_equal(grads[pf], grads[torch])
    for data in (np.array([1, 2], np.int32), np.array([True])):
        with pytest.raises(RuntimeError, match="only supports floating-point"):
            torch.frexp(torch.from_numpy(data))
        with pytest.raises(RuntimeError, match=r"test_elementwise_math\.py:\d+: .*floating-point"):
            pf.frexp(pf.from_numpy(data))


def test_float_power_is_torchs_value_in_float32():
    """torch.float_power's float64 values rounded to float32 (PyFlame holds no float64:
    docs/ops.md), every dtype of either operand, numbers either side, broadcasting
    [5, 1, 7] with [3, 1], integer negative powers (0.5, not integer pow's refusal)."""
    rng = np.random.default_rng(2)
    a = (rng.standard_normal((5, 1, 7)) * 3).astype(np.float32)
    b = rng.standard_normal((3, 1)).astype(np.float32)
    ai = rng.integers(-4, 5, (5, 1, 7)).astype(np.int32)
    bi = rng.integers(-3, 4, (3, 1)).astype(np.int32)
    halves = {pf.float16: torch.float16, pf.bfloat16: torch.bfloat16}

    def both(v, dtype=None):
        p, t = pf.from_numpy(v, layout=pf.MeshLayout.grid(2, 3)), torch.from_numpy(v)
        if dtype is not None:
            p, t = p.astype(dtype), t.to(halves[dtype])
        return p, (t.long() if v.dtype == np.int32 else t)

    (x, t), (y, u), (xi, ti), (yi, ui) = both(a), both(b), both(ai), both(bi)
    (xh, th), (yb, ub) = both(a, pf.float16), both(b, pf.bfloat16)
    (xm, tm) = both(ai > 0)
    cases = [
        (pf.float_power(x, y), torch.float_power(t, u)),
        (x.float_power(2), t.float_power(2)),
        (pf.float_power(2.5, y), torch.float_power(2.5, u)),
        (pf.float_power(xi, yi), torch.float_power(ti, ui)),
        (pf.float_power(xi, -1), torch.float_power(ti, -1)),
        (pf.float_power(2, yi), torch.float_power(2, ui)),
        (pf.float_power(x, yi), torch.float_power(t, ui)),
        (pf.float_power(xh, yb), torch.float_power(th, ub)),
        (pf.float_power(xm, 0.5), torch.float_power(tm, 0.5)),
    ]
    pf.eval(*[g for g, _ in cases])
    for k, (got, want) in enumerate(cases):
        assert want.dtype == torch.float64 and got.dtype is pf.float32, k
        assert got.shape == tuple(want.shape), k
        np.testing.assert_allclose(
            got.numpy(), want.numpy(), rtol=2.5e-7, atol=0, equal_nan=True, err_msg=str(k)
        )
    with pytest.raises(TypeError, match=r"test_elementwise_math\.py:\d+: float_power"):
        pf.float_power(2, 3)


def test_float_power_gradients_match_torch():
    """pow's gradients (torch's float_power is PowBackward): 0 ** negative, negative ** 0,
    0 ** 0; half inputs get half gradients."""
    a = np.array([2.0, 0.0, 0.0, -3.0, 1.5, 0.0, 4.0], np.float32)
    b = np.array([0.5, 2.0, -1.0, 0.0, 3.0, 0.0, -0.5], np.float32)
    w = np.arange(7, dtype=np.float32)
    for half in (False, True):
        grads = {}
        for lib in (pf, torch):
            x, y = lib.from_numpy(a.copy()), lib.from_numpy(b.copy())
            if half:
                x = x.to(pf.bfloat16 if lib is pf else torch.bfloat16).detach()
            x.requires_grad = y.requires_grad = True
            (lib.float_power(x, y) * lib.from_numpy(w)).sum().backward()
            grads[lib] = [x.grad.float().numpy(), y.grad.numpy()]
            assert (x.grad.dtype is pf.bfloat16) if lib is pf and half else True
        for got, want in zip(grads[pf], grads[torch], strict=True):
            np.testing.assert_allclose(got, want, rtol=1e-6, equal_nan=True)
