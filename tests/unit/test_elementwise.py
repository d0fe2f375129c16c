"""Elementwise ops through the whole pipeline against PyTorch: every function of
pyflame.core.elementwise, Python scalars on either side, PyTorch's type promotion, comparisons,
logical ops, where, clamp, dtype conversion, half precision, every layout."""

from __future__ import annotations

import numpy as np
import pytest

import pyflame as pf
from pyflame.core import elementwise
from pyflame.ops import elementwise as _elementwise

torch = pytest.importorskip("torch")

LAYOUTS = [
    None,
    pf.MeshLayout.single(),
    pf.MeshLayout.grid(3, 2),
    pf.MeshLayout.row_partition(4),
    pf.MeshLayout.col_partition(3),
    pf.MeshLayout.replicated(2, 2),
]
TORCH_DTYPE = {
    pf.float32: torch.float32,
    pf.float16: torch.float16,
    pf.bfloat16: torch.bfloat16,
    pf.int32: torch.int32,
    pf.bool: torch.bool,
}
TORCH_FN = {
    "relu": torch.relu,
    "gelu": torch.nn.functional.gelu,
    "silu": torch.nn.functional.silu,
    "logical_not": torch.logical_not,
}


pytestmark = pytest.mark.usefixtures("small_target")


def data(shape, *, positive=False, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(np.float32)
    return np.abs(x) + 0.5 if positive else x


def torch_of(t: pf.Tensor):
    return (
        torch.from_numpy(np.asarray(t.numpy()).astype(np.float32)).to(TORCH_DTYPE[t.dtype])
        if t.dtype in (pf.bfloat16,)
        else torch.from_numpy(np.array(t.numpy()))
    )


def check(got: pf.Tensor, want, rtol=1e-5, atol=1e-6):
    want = want.float().numpy() if want.dtype == torch.bfloat16 else want.numpy()
    out = got.numpy()
    assert out.shape == want.shape
    if out.dtype == np.bool_ or want.dtype == np.bool_:
        np.testing.assert_array_equal(out, want)
    else:
        np.testing.assert_allclose(
            out.astype(np.float64), want.astype(np.float64), rtol=rtol, atol=atol
        )


POSITIVE = {"log", "sqrt", "rsqrt"}


def unary_data(name, shape, seed=0):
    """Data for `name`: positive where the function needs it, values on rounding ties and
    signed zeros for floor/round/sign, > -1 for log1p."""
    a = data(shape, positive=name in POSITIVE, seed=seed) * (3 if name in ROUNDING else 1)
    if name in ROUNDING:
        a.flat[:6] = [0.5, 1.5, -2.5, -0.0, 0.0, 2.0]
    if name == "log1p":
        a = np.abs(a) - 0.9
    return a


ROUNDING = {"floor", "round", "sign"}


@pytest.mark.parametrize("layout", LAYOUTS, ids=repr)
@pytest.mark.parametrize(  # (on float data: logical_not and bitwise_not have tests of their own)
    "name", [n for n, e in elementwise.UNARY.items() if e.operands not in ("bool", "int")]
)
def test_unary_vs_torch(name, layout):
    a = unary_data(name, (7, 5))
    x = pf.from_numpy(a, layout=layout)
    got = getattr(pf, name)(x) if hasattr(pf, name) else getattr(x, name)()
    fn = TORCH_FN.get(name) or getattr(torch, name)
    check(got, fn(torch.from_numpy(a)), rtol=1e-5, atol=1e-6)
    check(getattr(x, name)(), fn(torch.from_numpy(a)))  # the method form


@pytest.mark.parametrize("name", ["floor", "round", "sign"])
def test_rounding_keeps_integers_and_sign_of_nan_is_zero(name):
    k = np.array([[-3, 0, 7], [2, -1, 5]], np.int32)
    got = getattr(pf, name)(pf.from_numpy(k, layout=pf.MeshLayout.grid(2, 2)))
    want = getattr(torch, name)(torch.from_numpy(k))
    assert got.dtype == pf.int32
    check(got, want)
    special = np.array([np.nan, np.inf, -np.inf, -0.0, 2.5, -0.5], np.float32)
    check(getattr(pf, name)(pf.from_numpy(special)), getattr(torch, name)(torch.tensor(special)))


@pytest.mark.parametrize("layout", LAYOUTS, ids=repr)
@pytest.mark.parametrize("decimals", [0, 1, 2, -1])
def test_round_decimals(decimals, layout):
    a = data((5, 7), seed=3) * 40
    got = pf.from_numpy(a, layout=layout).round(decimals=decimals)
    check(got, torch.from_numpy(a).round(decimals=decimals), rtol=1e-6)
    with pytest.raises(TypeError, match="round with decimals is not supported"):
        pf.round(pf.from_numpy(np.arange(3, dtype=np.int32)), decimals=1)


SPECIAL = np.array(
    [[np.nan, np.inf, -np.inf, 1.5], [-2.0, np.nan, 0.0, -np.inf], [3.0, 1e30, -1e-30, np.inf]],
    np.float32,
)


@pytest.mark.parametrize("layout", LAYOUTS, ids=repr)
@pytest.mark.parametrize("dtype", [pf.float32, pf.float16, pf.bfloat16])
def test_isnan_and_nan_to_num(dtype, layout):
    x = pf.from_numpy(SPECIAL, layout=layout).astype(dtype)
    t = torch.from_numpy(SPECIAL).to(TORCH_DTYPE[dtype])
    check(pf.isnan(x), torch.isnan(t))
    check(x.isnan(), torch.isnan(t))
    check(pf.nan_to_num(x), torch.nan_to_num(t))
    check(x.nan_to_num(nan=1.0, posinf=2.0), torch.nan_to_num(t, nan=1.0, posinf=2.0))
    check(pf.nan_to_num(x, 0.5, neginf=-7.0), torch.nan_to_num(t, 0.5, neginf=-7.0))


def test_isnan_of_integers_and_bool_is_false():
    k = pf.from_numpy(np.array([1, -2, 3], np.int32))
    np.testing.assert_array_equal(pf.isnan(k).numpy(), [False] * 3)
    np.testing.assert_array_equal(pf.isnan(k > 0).numpy(), [False] * 3)
    np.testing.assert_array_equal(pf.nan_to_num(k).numpy(), [1, -2, 3])


@pytest.mark.parametrize("layout", [None, pf.MeshLayout.grid(2, 2)], ids=repr)
def test_new_functions_mixed_with_matmuls_in_one_program(layout):
    a, b = data((6, 5), seed=1), data((5, 7), seed=2)
    x, y = pf.from_numpy(a, layout=layout), pf.from_numpy(b, layout=layout)
    t, u = torch.from_numpy(a), torch.from_numpy(b)
    got = pf.sin(x @ y).erf() @ pf.cos(y.transpose(0, 1)) + pf.nan_to_num(pf.log1p(x)).floor()
    want = torch.sin(t @ u).erf() @ torch.cos(u.T) + torch.nan_to_num(torch.log1p(t)).floor()
    pf.eval(got)
    check(got, want, rtol=1e-4, atol=1e-4)


def test_add_and_sub_take_alpha():
    a, b = data((4, 5)), data((5,), seed=1)
    x, y, t, u = pf.from_numpy(a), pf.from_numpy(b), torch.from_numpy(a), torch.from_numpy(b)
    check(pf.add(x, y, alpha=2), torch.add(t, u, alpha=2))
    check(x.sub(y, alpha=-3.125), t.sub(u, alpha=-3.125))
    check(pf.sub(x, 1.5, alpha=2), torch.sub(t, 1.5, alpha=2))
    k = pf.from_numpy(np.arange(4, dtype=np.int32))
    check(k.add(k, alpha=3), torch.arange(4, dtype=torch.int32).add(torch.arange(4), alpha=3).int())


def test_alpha_scales_b_in_the_result_dtype_and_keeps_bool_sums_bool():
    """torch.add/sub(a, b, alpha=) convert b to the result's dtype before the product with
    alpha: a float16 b of a float32 sum is not rounded to float16 after `alpha * b` (PyFlame
    multiplied in float16 first: 2 + 3 * 1.2998 gave 5.8984, torch 5.8994). A bool sum stays
    bool (`a or b`; PyFlame gave int32 2s), and a float alpha of integers is torch's error."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((7, 13)).astype(np.float32)
    h = rng.standard_normal((13,)).astype(np.float16)
    i = rng.integers(-5, 5, (7, 13)).astype(np.int32)
    x, y, k = pf.from_numpy(a), pf.from_numpy(h), pf.from_numpy(i)
    t, u, j = torch.from_numpy(a), torch.from_numpy(h), torch.from_numpy(i)
    h0 = pf.from_numpy(np.asarray(1.3, np.float16))
    u0 = torch.tensor(1.3, dtype=torch.float16)
    got = [pf.add(x, y, alpha=3), x.sub(y, alpha=-0.7), pf.add(x, h0, alpha=3)]
    want = [torch.add(t, u, alpha=3), t.sub(u, alpha=-0.7), torch.add(t, u0, alpha=3)]
    pf.eval(*got)
    for g, w in zip(got, want, strict=True):
        assert g.dtype is pf.float32 and w.dtype == torch.float32
        # (torch's vector loop fuses the multiply-add: an ulp or two apart, not 5,000)
        np.testing.assert_allclose(g.numpy(), w.numpy(), rtol=1e-6, atol=1e-6)
    # float16 (64 elements: torch's vector loop, one rounding; docs/ops.md, its scalar tail)
    i64 = np.ascontiguousarray(i.reshape(-1)[:64])
    bits_equal(
        pf.sub(pf.from_numpy(i64), h0, alpha=3), torch.sub(torch.from_numpy(i64), u0, alpha=3)
    )
    p, q = np.array([True, False, False, True]), np.array([True, True, False, False])
    for alpha in (3, 0, True, False):
        bits_equal(
            pf.add(pf.from_numpy(p), pf.from_numpy(q), alpha=alpha),
            torch.add(torch.from_numpy(p), torch.from_numpy(q), alpha=alpha),
        )
        for number in (True, False):
            bits_equal(
                pf.add(pf.from_numpy(p), number, alpha=alpha),
                torch.add(torch.from_numpy(p), number, alpha=alpha),
            )
    with pytest.raises(RuntimeError, match="alpha must not be a floating point number"):
        torch.add(j, j, alpha=2.5)
    with pytest.raises(
        RuntimeError, match=r"test_elementwise.py:\d+: For integral input tensors, argument alpha"
    ):
        pf.add(k, k, alpha=2.5)


ARITH = ["add", "sub", "mul", "div", "pow", "maximum", "minimum"]
COMPARE = ["eq", "ne", "lt", "le", "gt", "ge"]


@pytest.mark.parametrize("layout", LAYOUTS, ids=repr)
@pytest.mark.parametrize("name", ARITH + COMPARE)
def test_binary_vs_torch(name, layout):
    a, b = data((5, 9), positive=True), data((5, 9), positive=True, seed=1)
    b[0, :3] = a[0, :3]  # some equal elements for the comparisons
    x, y = pf.from_numpy(a, layout=layout), pf.from_numpy(b, layout=layout)
    got = getattr(pf, name)(x, y)
    check(got, getattr(torch, name)(torch.from_numpy(a), torch.from_numpy(b)), rtol=1e-5)


@pytest.mark.parametrize("layout", LAYOUTS, ids=repr)
def test_operators_and_scalars_on_either_side(layout):
    a = data((6, 4), positive=True)
    x, t = pf.from_numpy(a, layout=layout), torch.from_numpy(a)
    cases = [
        (x + 1, t + 1),
        (2 - x, 2 - t),
        (x * 3, t * 3),
        (1 / x, 1 / t),
        (x / 2, t / 2),
        (x**2, t**2),
        (2**x, 2**t),
        (-x, -t),
        (abs(x - 1), abs(t - 1)),
        (x > 1, t > 1),
        (1 < x, 1 < t),
        (x == x, t == t),
        (x != 1.5, t != 1.5),
        (x <= 1, t <= 1),
        (x >= 1, t >= 1),
        ((x > 1) & (x < 2), (t > 1) & (t < 2)),
        ((x > 2) | (x < 1), (t > 2) | (t < 1)),
        (~(x > 1), ~(t > 1)),
    ]
    pf.eval(*[c[0] for c in cases])
    for got, want in cases:
        check(got, want)


@pytest.mark.parametrize("layout", LAYOUTS, ids=repr)
def test_where_and_clamp(layout):
    a = data((8, 3))
    x, t = pf.from_numpy(a, layout=layout), torch.from_numpy(a)
    check(pf.where(x > 0, x, 0.0), torch.where(t > 0, t, 0.0))
    check(pf.where(x > 0, 1.0, x * 2), torch.where(t > 0, 1.0, t * 2))
    check(x.where(x < 0.5, -x), t.where(t < 0.5, -t))
    check(pf.clamp(x, -0.5, 0.5), torch.clamp(t, -0.5, 0.5))
    check(x.clamp(min=0.1), t.clamp(min=0.1))
    check(x.clamp(max=0.1), t.clamp(max=0.1))
    masked = pf.where(x > 0, pf.full_like(x, float("-inf")), x)
    check(masked, torch.where(t > 0, torch.full_like(t, float("-inf")), t))


def ml_dtypes_bf16(value: float):
    """A bfloat16 numpy scalar (ml_dtypes comes with pyflame)."""
    import ml_dtypes

    return np.asarray(value, ml_dtypes.bfloat16)[()]


TORCH_BY_NAME = {
    "float16": torch.float16,
    "float32": torch.float32,
    "bfloat16": torch.bfloat16,
    "int32": torch.int32,
}


def test_clamp_promotes_its_three_operands_together_as_torch():
    """clamp(x, min, max) has torch's result type of all three: an int32 x with 0-d float16
    and float32 bounds is float32 (PyFlame promoted two at a time: float16, silently)."""
    k = np.arange(-6, 7, dtype=np.int32)
    bounds = [
        (np.float16(-2.5), np.float32(3.3)),
        (np.float16(0.5), ml_dtypes_bf16(4.25)),
        (np.int32(-1), np.float16(2.5)),
        (np.float32(-1.5), None),
    ]
    for lo, hi in bounds:
        got = pf.clamp(
            pf.from_numpy(k),
            pf.from_numpy(np.asarray(lo)),
            None if hi is None else pf.from_numpy(np.asarray(hi)),
        )
        want = torch.clamp(
            torch.from_numpy(k),
            torch.from_numpy(np.asarray(lo)),
            None if hi is None else torch.tensor(float(hi), dtype=TORCH_BY_NAME[hi.dtype.name]),
        )
        bits_equal(got, want, f"{lo!r} {hi!r}")
    # a number with a 0-d tensor bound: torch's Scalar overload (both read as numbers)
    h = np.float16(1.5)
    for lo, hi in ((0.5, h), (h, 3), (h, h), (None, h)):
        bits_equal(
            pf.clamp(
                pf.from_numpy(k),
                *(
                    pf.from_numpy(np.asarray(v)) if isinstance(v, np.float16) else v
                    for v in (lo, hi)
                ),
            ),
            torch.clamp(
                torch.from_numpy(k),
                *(torch.tensor(v) if isinstance(v, np.float16) else v for v in (lo, hi)),
            ),
            f"{lo!r} {hi!r}",
        )
    # a 0-d float16 x with bfloat16 and float32 bounds of [13]: float32, x not rounded to
    # bfloat16 on the way (maximum(x, min) alone would be bfloat16)
    rng = np.random.default_rng(5)
    x = np.float16(-2.004)
    lo = (rng.standard_normal(13) - 3).astype(np.float32)
    hi = (rng.standard_normal(13) + 3).astype(np.float32)
    got = pf.clamp(
        pf.from_numpy(np.asarray(x)), pf.from_numpy(lo).astype(pf.bfloat16), pf.from_numpy(hi)
    )
    want = torch.clamp(torch.tensor(x), torch.from_numpy(lo).bfloat16(), torch.from_numpy(hi))
    bits_equal(got, want)


@pytest.mark.parametrize("layout", [None, pf.MeshLayout.grid(3, 2)], ids=repr)
@pytest.mark.parametrize("dtype", [pf.float16, pf.bfloat16], ids=str)
def test_half_lerp_computes_in_float32_and_rounds_once_as_torch(dtype, layout):
    """torch.lerp of float16/bfloat16 computes in float32 and rounds once; PyFlame rounded the
    difference, the product and the sum to the half dtype (up to 16 ulps off in bfloat16).
    (torch's float32 product is fused and the half result rounded from it: the tests allow the
    one rounding that may land on the other side.)"""
    rng = np.random.default_rng(8)
    a, b = (rng.standard_normal((7, 13)).astype(np.float32) * 3 for _ in range(2))
    w = (rng.standard_normal((7, 13)) * 0.7).astype(np.float32)
    tdt = TORCH_DTYPE[dtype]
    x, y = (pf.from_numpy(v, layout=layout).astype(dtype) for v in (a, b))
    t, u = (torch.from_numpy(v).to(tdt) for v in (a, b))
    cases = [
        (pf.lerp(x, y, 0.3), torch.lerp(t, u, 0.3)),
        (x.lerp(y, 0.8), t.lerp(u, 0.8)),
        (
            pf.lerp(x, y, pf.from_numpy(w).astype(dtype)),
            torch.lerp(t, u, torch.from_numpy(w).to(tdt)),
        ),
    ]
    pf.eval(*[g for g, _ in cases])
    for got, want in cases:
        assert got.dtype is dtype
        g, wt = got.numpy().astype(np.float64), want.double().numpy()
        ulp = np.spacing(np.abs(wt).astype(dtype.numpy)).astype(np.float64)
        assert np.all(np.abs(g - wt) <= ulp), np.max(np.abs(g - wt) / ulp)


@pytest.mark.parametrize("dtype", [pf.float32, pf.bfloat16], ids=str)
def test_lerp_gradients_are_torchs_at_infinite_ends(dtype):
    """torch.lerp's gradients: g (1 - w), g w, g (end - start), whichever of its two forms made
    the value. The where between the forms sent 0 * (end - start) from the form not taken into
    the weight's gradient: NaN where PyTorch's is +-inf (fuzzer, program_for(3102, 47)). A
    broadcast weight [2, 1, 6], an inf weight too."""
    s = np.array([-np.inf, 1.0, np.inf, 2.0, 1.0, 3.0], np.float32)
    e = np.array([0.5, np.inf, 0.5, -np.inf, 2.0, -1.0], np.float32)
    w = np.array([0.0, 1.0, 0.3, 0.7, np.inf, 0.6], np.float32).reshape(1, 1, 6)
    w = np.concatenate([w, -w / 4], axis=0)
    grads = {}
    for lib in (pf, torch):
        dt = dtype if lib is pf else TORCH_DTYPE[dtype]
        start, end, weight = (lib.from_numpy(v).to(dt) for v in (s, e, w))
        for t in (start, end, weight):
            t.requires_grad = True
        lib.lerp(start, end, weight).sum().backward()
        grads[lib] = [t.grad.float().numpy() for t in (start, end, weight)]
    for got, want in zip(grads[pf], grads[torch], strict=True):
        np.testing.assert_array_equal(got, want)


PROMOTIONS = [
    (pf.int32, pf.float32),
    (pf.int32, pf.float16),
    (pf.float16, pf.bfloat16),
    (pf.float16, pf.float32),
    (pf.bool, pf.int32),
    (pf.bool, pf.float32),
    (pf.bfloat16, pf.float32),
    (pf.int32, pf.int32),
]


@pytest.mark.parametrize("da,db", PROMOTIONS, ids=str)
def test_promotion_matches_torch(da, db):
    a = (np.arange(12).reshape(3, 4) % 5).astype(np.float32)
    x = pf.from_numpy(a).astype(da)
    y = pf.from_numpy(a[::-1].copy()).astype(db)
    tx = torch.from_numpy(a).to(TORCH_DTYPE[da])
    ty = torch.from_numpy(a[::-1].copy()).to(TORCH_DTYPE[db])
    for op in ("add", "mul", "maximum"):
        got = getattr(pf, op)(x, y)
        want = getattr(torch, op)(tx, ty)
        assert TORCH_DTYPE[got.dtype] == want.dtype, (op, got.dtype, want.dtype)
        check(got, want, rtol=1e-2)
    got = x / y if db is not pf.bool else x / (y.astype(pf.int32) + 1)
    want = tx / ty if db is not pf.bool else tx / (ty.to(torch.int32) + 1)
    assert TORCH_DTYPE[got.dtype] == want.dtype


def test_scalar_promotion_matches_torch():
    i = pf.from_numpy(np.array([1, 2, 3], np.int32))
    ti = torch.tensor([1, 2, 3], dtype=torch.int32)
    h = pf.from_numpy(np.array([1, 2, 3], np.float16))
    th = torch.tensor([1, 2, 3], dtype=torch.float16)
    for got, want in [
        (i + 1, ti + 1),
        (i * 1.5, ti * 1.5),
        (i / 2, ti / 2),
        (h * 2.5, th * 2.5),
        (i > 1.5, ti > 1.5),
        (h + i, th + ti),
    ]:
        assert TORCH_DTYPE[got.dtype] == want.dtype
        check(got, want)


@pytest.mark.parametrize("dtype", [pf.float16, pf.bfloat16])
@pytest.mark.parametrize("layout", [None, pf.MeshLayout.grid(2, 2)], ids=repr)
def test_half_precision_end_to_end(dtype, layout):
    a, b = data((9, 6)), data((9, 6), seed=1)
    x = pf.from_numpy(a, layout=layout).to(dtype)
    y = pf.from_numpy(b, layout=layout).to(dtype)
    tx, ty = (torch.from_numpy(v).to(TORCH_DTYPE[dtype]) for v in (a, b))
    z = pf.tanh(x * y + x).sigmoid()
    assert z.dtype is dtype
    check(z, torch.sigmoid(torch.tanh(tx * ty + tx)), rtol=2e-2, atol=2e-2)
    check(z.float(), torch.sigmoid(torch.tanh(tx * ty + tx)).float(), rtol=2e-2, atol=2e-2)


def half_data(dtype, shape=(7, 13), seed=4):
    """Values of the half dtype, with the edges: zeros of both signs, inf, NaN, the largest."""
    a = data(shape, seed=seed) * 6
    a.flat[:6] = [0.0, -0.0, np.inf, -np.inf, np.nan, 60000.0]
    return pf.from_numpy(a).to(dtype).float().numpy()  # exactly the dtype's values


def assert_bits(got: pf.Tensor, want, what=""):
    """The same values (NaN where torch has NaN, -0.0 as -0.0), dtypes and shapes."""
    assert TORCH_DTYPE[got.dtype] == want.dtype, what
    g, w = got.float().numpy(), want.float().numpy()
    assert g.shape == w.shape, what
    np.testing.assert_array_equal(np.signbit(g) | np.isnan(g), np.signbit(w) | np.isnan(w), what)
    np.testing.assert_array_equal(g, w, what)


def vectorized(fn, *args, **kwargs):
    """torch's result of its vectorized loop for every element: torch 2.13's CPU add/sub with
    alpha on half tensors rounds alpha * b to the half dtype first in the scalar loop that
    finishes a tensor whose size is not a multiple of the vector width (the last elements of
    a 7 x 13 tensor) but not in the vector loop: the operands padded to 256 elements."""
    shape = next(a.shape for a in args if isinstance(a, torch.Tensor))
    flat = [
        torch.cat([a.reshape(-1), a.new_ones(256 - a.numel())])
        if isinstance(a, torch.Tensor)
        else a
        for a in args
    ]
    return fn(*flat, **kwargs)[: int(np.prod(shape))].reshape(shape)


@pytest.mark.parametrize(
    "layout", [None, pf.MeshLayout.grid(3, 2), pf.MeshLayout.col_partition(3)], ids=repr
)
@pytest.mark.parametrize("dtype", [pf.float16, pf.bfloat16], ids=str)
def test_half_ops_with_numbers_round_once_as_torch(dtype, layout):
    """torch 2.13 on the CPU computes a float16/bfloat16 op in float32 and rounds once; mul and
    div read a number operand (either side of mul, the divisor of div, or a 0-d tensor of another
    dtype as the second operand) at float32 precision (`x * 3.3` used to be x * 3.30078125 in
    PyFlame); add and sub read the number and alpha in the half dtype, and a + alpha * b is one
    rounding (PyFlame rounded alpha * b first); `3.3 / x` is `x.reciprocal() * 3.3`; round
    with decimals, F.gelu(approximate='tanh') in float32. Bit for bit."""
    a, b = half_data(dtype), half_data(dtype, seed=5)
    x, y = (pf.from_numpy(v, layout=layout).to(dtype) for v in (a, b))
    tx, ty = (torch.from_numpy(v).to(TORCH_DTYPE[dtype]) for v in (a, b))
    s32 = pf.from_numpy(np.array(3.3, np.float32))
    i32 = pf.from_numpy(np.array(7, np.int32))
    F, tF = pf.nn.functional, torch.nn.functional
    cases = {
        "x * 3.3": (x * 3.3, tx * 3.3),
        "3.3 * x": (3.3 * x, 3.3 * tx),
        "x * 100000": (x * 100000, tx * 100000),
        "pf.mul(x, 0.1)": (pf.mul(x, 0.1), torch.mul(tx, 0.1)),
        "x * 0.5": (x * 0.5, tx * 0.5),
        "x / 3.3": (x / 3.3, tx / 3.3),
        "x / 1e-5": (x / 1e-5, tx / 1e-5),
        "3.3 / x": (3.3 / x, 3.3 / tx),
        "1 / x": (1 / x, 1 / tx),
        "x * f32 0-d": (x * s32, tx * torch.tensor(3.3)),
        "f32 0-d * x": (s32 * x, torch.tensor(3.3) * tx),
        "x / f32 0-d": (x / s32, tx / torch.tensor(3.3)),
        "x * int 0-d": (x * i32, tx * torch.tensor(7, dtype=torch.int32)),
        "x + 3.3": (x + 3.3, tx + 3.3),
        "3.3 - x": (3.3 - x, 3.3 - tx),
        "x ** 2": (x**2, tx**2),
        "add alpha": (pf.add(x, y, alpha=3.3), vectorized(torch.add, tx, ty, alpha=3.3)),
        "sub alpha": (x.sub(y, alpha=0.1), vectorized(torch.sub, tx, ty, alpha=0.1)),
        "add number alpha": (pf.add(x, 1.7, alpha=3.3), vectorized(torch.add, tx, 1.7, alpha=3.3)),
        "sub number alpha": (
            pf.sub(x, 1.7, alpha=-0.3),
            vectorized(torch.sub, tx, 1.7, alpha=-0.3),
        ),
        "round 1": (x.round(decimals=1), tx.round(decimals=1)),
        "round 2": (pf.round(x, decimals=2), torch.round(tx, decimals=2)),
        "round -1": (x.round(decimals=-1), tx.round(decimals=-1)),
    }
    gelu, tgelu = F.gelu(x, approximate="tanh"), tF.gelu(tx, approximate="tanh")
    pf.eval(gelu, *[g for g, _ in cases.values()])
    for what, (got, want) in cases.items():
        assert_bits(got, want, what)
    # gelu: bit for bit where 1 + tanh does not cancel (below -3 the float32 tanh of numpy
    # and of torch's vector library differ in the last bits, which the cancellation shows)
    assert gelu.dtype is dtype
    g, w, near = gelu.float().numpy(), tgelu.float().numpy(), ~(a < -3)
    np.testing.assert_array_equal(g[near], w[near])
    np.testing.assert_allclose(g[~near], w[~near], rtol=0.02, atol=1e-6)


def test_number_over_a_tensor_is_torchs_reciprocal_times_the_number():
    """`s / x` is torch's `x.reciprocal() * s` (torch/_tensor.py), two roundings in float32."""
    a = data((9, 11), seed=6) * 3
    x, t = pf.from_numpy(a, layout=pf.MeshLayout.grid(3, 2)), torch.from_numpy(a)
    k = np.array([[1, -2, 3, 7]], np.int32)
    cases = [
        (3.3 / x, 3.3 / t),
        (0.1 / x, 0.1 / t),
        (3 / pf.from_numpy(k), 3 / torch.from_numpy(k)),
    ]
    pf.eval(*[g for g, _ in cases])
    for got, want in cases:
        assert_bits(got, want)


def test_half_products_with_numbers_have_torchs_gradients():
    a = half_data(pf.float16, (5, 6))[1:]
    a[~np.isfinite(a)] = 1.5
    x = pf.from_numpy(a).to(pf.float16)
    x.requires_grad = True
    t = torch.from_numpy(a).half().requires_grad_(True)
    pf.backward(((x * 3.3) / 0.7).float().sum())
    ((t * 3.3) / 0.7).float().sum().backward()
    assert_bits(x.grad, t.grad)


ERF_EDGES = [0.0, -0.0, 1e-8, -1e-6, 1e-4, 1e-30, 1e-40, 0.49, 0.5, 0.84, 1.0, 1.99999, 2.0]
ERF_EDGES += [-2.00001, 2.5, 3.0, 3.9, 4.0, 5.5, 10.0, np.inf, -np.inf, np.nan]


def correctly_rounded_erf_f64(a: np.ndarray) -> np.ndarray:
    """math.erf (double)."""
    import math

    return np.array([math.erf(float(v)) for v in a.ravel()]).reshape(a.shape)


def correctly_rounded_erf(a: np.ndarray) -> np.ndarray:
    """math.erf (double) rounded once to float32."""
    return correctly_rounded_erf_f64(a).astype(np.float32)


@pytest.mark.parametrize(
    "layout", [None, pf.MeshLayout.grid(3, 2), pf.MeshLayout.row_partition(4)], ids=repr
)
def test_erf_is_accurate_for_small_and_large_arguments(layout):
    """erf was Abramowitz & Stegun 7.1.26 (1.5e-7 absolute): 9% off at 1e-8 and up to 2.3
    float32 ulps near 1. Now correctly rounded float32 here (torch's is within 1 ulp), every
    sign, magnitudes from 1e-40 to inf, a 7 x 13 tensor split over the PEs."""
    rng = np.random.default_rng(8)
    a = np.concatenate(
        [
            np.array(ERF_EDGES, np.float32),
            (rng.standard_normal(30) * 2).astype(np.float32),
            (10.0 ** rng.uniform(-12, 0.7, 68) * rng.choice([-1, 1], 68)).astype(np.float32),
        ]
    )[:91].reshape(7, 13)
    got = pf.erf(pf.from_numpy(a, layout=layout)).numpy()
    want = torch.erf(torch.from_numpy(a)).numpy()
    exact = correctly_rounded_erf(a)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(a))
    finite = ~np.isnan(a)
    np.testing.assert_array_equal(got[finite], exact[finite])
    np.testing.assert_array_equal(np.signbit(got), np.signbit(want))  # erf(-0.0) is -0.0
    ulps = np.abs(got.view(np.int32).astype(np.int64) - want.view(np.int32))
    assert ulps[finite].max() <= 1
    np.testing.assert_allclose(got[np.abs(a) < 1e-3], want[np.abs(a) < 1e-3], rtol=2e-7, atol=0)


@pytest.mark.parametrize("dtype", [pf.float16, pf.bfloat16], ids=str)
def test_erf_and_gelu_of_half_floats_match_torch(dtype):
    a = np.array(ERF_EDGES + list(np.linspace(-4, 4, 41)), np.float32)
    x = pf.from_numpy(a, layout=pf.MeshLayout.grid(2, 3)).to(dtype)
    t = torch.from_numpy(a).to(TORCH_DTYPE[dtype])
    """As torch's float32 erf rounded once to the half dtype (torch's own half erf is off by
    one half ulp at a few values, e.g. -1e-6 and 1e-4 in float16: within one ulp of it)."""
    # (gelu of finite values: torch 2.13's CPU gelu(inf) is NaN, PyFlame's inf)
    finite = np.isfinite(a)
    xf = pf.from_numpy(a[finite], layout=pf.MeshLayout.grid(2, 3)).to(dtype)
    got, gelu = x.erf(), pf.nn.functional.gelu(xf)
    pf.eval(got, gelu)
    half, tf = TORCH_DTYPE[dtype], t[torch.from_numpy(finite)]
    check(got.float(), torch.erf(t.float()).to(half).float(), rtol=0, atol=0)
    # gelu: the float64 value rounded once; torch's float32 gelu rounded to the half dtype
    # within one of its ulps (1 + erf cancels toward -4, where torch is off by 2 float16
    # ulps, and its vectorised float32 gelu rounds otherwise than its scalar one on some
    # CPUs: -2.8 on AMD Zen, off by one)
    g, w = gelu.float().numpy(), torch.nn.functional.gelu(tf.float()).to(half).float().numpy()
    xs = x.float().numpy()[finite].astype(np.float64)
    exact = torch.from_numpy(0.5 * xs * (1 + correctly_rounded_erf_f64(xs / np.sqrt(2))))
    np.testing.assert_array_equal(g, exact.to(half).float().numpy())
    near = a[finite] > -3
    gap = np.abs(g[near] - w[near]) / np.spacing(np.abs(w[near]).astype(np.float16)).astype(
        np.float32
    )
    assert gap.max() <= (8 if dtype is pf.bfloat16 else 1)
    g, w = got.float().numpy(), torch.erf(t).float().numpy()
    with np.errstate(invalid="ignore"):  # (the spacing of NaN)
        ulp = np.spacing(np.abs(w).astype(np.float16)).astype(np.float32)
    ulp = ulp * (8 if dtype is pf.bfloat16 else 1)
    assert np.all((np.abs(g - w) <= ulp) | (np.isnan(g) & np.isnan(w)))


def test_half_precision_counts_fp16_throughput():
    a = data((64, 64))
    reports = {}
    for dtype in (pf.float32, pf.float16):
        x = pf.from_numpy(a, layout=pf.MeshLayout.grid(2, 2)).to(dtype)
        z = pf.exp(x)  # compute bound: 8 flops per element
        pf.eval(z)
        reports[dtype] = pf.last_report()
    # fp16 runs at 8 flops/cycle against fp32's 2 on the target; the exp dominates
    assert reports[pf.float16].cycles < reports[pf.float32].cycles


def test_astype_round_trip_and_bool():
    a = np.array([[-1.5, 0.0, 2.7]], np.float32)
    x = pf.from_numpy(a)
    check(x.int(), torch.from_numpy(a).to(torch.int32))
    check(x.bool(), torch.from_numpy(a).bool())
    check(x.bool().float(), torch.from_numpy(a).bool().float())
    np.testing.assert_array_equal(
        x.to(pf.bfloat16).numpy().astype(np.float32), torch.from_numpy(a).bfloat16().float().numpy()
    )


def test_bitwise_operators_refuse_floats_and_neg_refuses_bool_as_torch():
    x = pf.from_numpy(np.ones((2, 2), np.float32))
    t = torch.ones(2, 2)
    for op in (
        lambda a: a & a,
        lambda a: a | 1,
        lambda a: a ^ a,
        lambda a: a << 1,
        lambda a: 1 >> a,
    ):
        with pytest.raises(NotImplementedError, match="not implemented for"):
            op(t)
        with pytest.raises(
            NotImplementedError, match=r"test_elementwise.py:\d+: bitwise_\w+ is not"
        ):
            op(x)
    for op in (lambda a: a << a, lambda a: a >> True):  # shifts of bools: not implemented
        with pytest.raises(NotImplementedError, match="not implemented for 'Bool'"):
            op(t > 0)
        with pytest.raises(NotImplementedError, match="not implemented for pf.bool"):
            op(x > 0)
    with pytest.raises(TypeError, match="only implemented on integer and Boolean"):
        _ = ~t
    with pytest.raises(TypeError, match="only implemented on integer and Boolean"):
        _ = ~x
    with pytest.raises(NotImplementedError, match="bitwise_not is not implemented for pf.float32"):
        pf.bitwise_not(x)
    with pytest.raises(RuntimeError, match="Negation, the `-` operator, on a bool tensor"):
        _ = -(x > 0)


def test_subtraction_with_any_bool_operand_is_refused_as_torch():
    """PyTorch refuses `-` with a bool tensor or a Python bool on either side, whatever the
    other operand; PyFlame refused only bool - bool and computed float - mask, int - mask,
    mask - 1, x - True, sub(x, mask, alpha=2) and `x -= mask` (as 0/1 numbers)."""
    a = np.array([[1.5, -2.0, 3.0], [0.5, 4.0, -1.0]], np.float32)
    m = a > 0
    cases = (
        lambda lib, x, k, i: x - k,
        lambda lib, x, k, i: k - x,
        lambda lib, x, k, i: i - k,
        lambda lib, x, k, i: k - 1,
        lambda lib, x, k, i: x - True,
        lambda lib, x, k, i: False - x,
        lambda lib, x, k, i: lib.sub(x, k),
        lambda lib, x, k, i: lib.sub(x, k, alpha=2),
        lambda lib, x, k, i: x.sub(k),
        lambda lib, x, k, i: x.sub_(k),
        lambda lib, x, k, i: x.__isub__(k),
        lambda lib, x, k, i: k - k,
    )
    for case in cases:
        t_args = (torch.from_numpy(a.copy()), torch.from_numpy(m), torch.arange(6).reshape(2, 3))
        with pytest.raises(RuntimeError, match="Subtraction, the `-` operator, with") as want:
            case(torch, *t_args)
        words = "two bool tensors" if "two bool" in str(want.value) else "a bool tensor"
        p_args = (pf.from_numpy(a), pf.from_numpy(m), pf.arange(6).reshape(2, 3))
        with pytest.raises(RuntimeError, match=rf"test_elementwise.py:\d+: .* with {words}"):
            case(pf, *p_args)
    # numbers and non-bool tensors still subtract
    np.testing.assert_array_equal((pf.from_numpy(a) - 1).numpy(), a - 1)
    np.testing.assert_array_equal((2 - pf.from_numpy(a)).numpy(), 2 - a)


# --- int32 results that do not fit are reported after the run, never wrapped (issue 8) -------


@pytest.mark.parametrize(
    "expr, words",
    [
        (lambda a, b: a + b, "add gives 2147483648"),
        (lambda a, b: a - (-b), "sub gives 2147483648"),
        (lambda a, b: a * 2, "mul gives 2147483648"),
        (lambda a, b: (a * 0 + 2) ** 31, "pow gives 2147483648"),
        (lambda a, b: -(a * 0 + -(2**31)), "neg gives 2147483648"),
        (lambda a, b: (a.float() * 4).int(), "conversion to int32 gives 4294967296"),
    ],
)
def test_int32_overflow_raises_after_the_run_naming_the_line(expr, words):
    a = pf.from_numpy(np.array([2**30, 1], np.int32))
    out = expr(a, a)  # the error names the line of the op: the lambda's
    line = expr.__code__.co_firstlineno
    with pytest.raises(
        pf.IntegerOverflowError,
        match=rf"test_elementwise.py:{line}: int32 "
        rf"overflow: {words}, outside pf.int32",
    ):
        out.numpy()


def test_int32_results_that_fit_are_exact():
    a = pf.from_numpy(np.array([2**30, -(2**30) + 1, 46340], np.int32))
    got = [(a + (a - 1)).numpy(), (a * a.clamp(-1, 1)).numpy(), (a.clamp(-3, 46340) ** 2).numpy()]
    t = torch.tensor([2**30, -(2**30) + 1, 46340], dtype=torch.int32)
    want = [t + (t - 1), t * t.clamp(-1, 1), t.clamp(-3, 46340) ** 2]
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, w.numpy())


# --- integers to negative integer powers: 0, 1 or -1, as PyTorch -----------------------------


@pytest.mark.parametrize(
    "layout", [None, pf.MeshLayout.grid(3, 2), pf.MeshLayout.col_partition(3)], ids=repr
)
def test_integers_to_negative_integer_powers_are_torchs(layout):
    """torch: 1 for base 1, 1 or -1 for base -1 (by the exponent's parity), 0 otherwise (0 too);
    PyFlame failed in the simulator (numpy's ValueError, or an IntegerOverflowError for 0)."""
    rng = np.random.default_rng(9)
    base = rng.integers(-4, 5, (7, 13)).astype(np.int32)
    exp = rng.integers(-6, 7, (7, 13)).astype(np.int32)
    base[0, :8] = [1, 1, -1, -1, 0, 0, 2, -2]
    exp[0, :8] = [-7, -(2**31), -3, -(2**31), -1, -(2**31), -(2**31), 30]
    x, e = pf.from_numpy(base, layout=layout), pf.from_numpy(exp, layout=layout)
    tb, te = torch.from_numpy(base), torch.from_numpy(exp)
    small = pf.from_numpy(np.array([-2, -1, 0, 3], np.int32))
    cases = [
        (x**e, tb**te),
        (pf.pow(x > 0, e), torch.pow(tb > 0, te)),  # bool ** int: int
        (2**e, 2**te),
        ((-1) ** e, (-1) ** te),
        (1**e, 1**te),
        (x ** pf.from_numpy(np.array(-1, np.int32)), tb ** torch.tensor(-1, dtype=torch.int32)),
        (
            small ** pf.from_numpy(np.array([-1, -2, -1, 0], np.int32)),
            torch.tensor([-2, -1, 0, 3]) ** torch.tensor([-1, -2, -1, 0]),
        ),
        (x.float() ** e, tb.float() ** te),  # floats: numpy's power (inf at 0 ** -n)
    ]
    pf.eval(*[g for g, _ in cases])
    for i, (got, want) in enumerate(cases):
        assert got.dtype is (pf.float32 if want.dtype == torch.float32 else pf.int32), i
        if got.dtype is pf.float32:  # (numpy's and torch's float32 pow differ by an ulp)
            np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=3e-7, err_msg=str(i))
        else:
            np.testing.assert_array_equal(got.numpy(), want.numpy(), err_msg=str(i))


def test_an_integer_tensor_to_a_negative_number_is_refused_as_torch():
    k = pf.from_numpy(np.array([1, 2], np.int32))
    with pytest.raises(RuntimeError, match="Integers to negative integer powers"):
        torch.tensor([1, 2]) ** -1
    with pytest.raises(RuntimeError, match=r"test_elementwise.py:\d+: Integers to negative"):
        k**-1
    with pytest.raises(RuntimeError, match="Integers to negative integer powers"):
        pf.pow(k > 1, -2)
    np.testing.assert_allclose((k**-1.0).numpy(), [1.0, 0.5])  # a float exponent: float32
    np.testing.assert_array_equal((k**0).numpy(), [1, 1])


# --- floor_divide, remainder, fmod, div(rounding_mode=): PyTorch's values, bit for bit -------


def bits_equal(got: pf.Tensor, want, what: str = "") -> None:
    """Same dtype, shape and values as the torch tensor, bit for bit (the sign of a zero too);
    NaN matches NaN. (torch's int64 is PyFlame's int32.)"""
    pf_dtype = {v: k for k, v in TORCH_DTYPE.items()} | {torch.int64: pf.int32}
    assert got.dtype is pf_dtype[want.dtype], what
    assert tuple(got.shape) == tuple(want.shape), what
    out = np.asarray(got.numpy())
    ref = want.float().numpy() if want.dtype == torch.bfloat16 else want.numpy()
    out = out.astype(np.float32) if want.dtype == torch.bfloat16 else out
    if ref.dtype.kind == "f":
        nan = np.isnan(ref)
        np.testing.assert_array_equal(np.isnan(out), nan, err_msg=what)
        np.testing.assert_array_equal(out[~nan], ref[~nan], err_msg=what)
        np.testing.assert_array_equal(np.signbit(out[~nan]), np.signbit(ref[~nan]), err_msg=what)
    else:
        np.testing.assert_array_equal(out, ref, err_msg=what)


def division_data(dtype, shape=(7, 13), seed=0):
    """Dividends and divisors of both signs with exact multiples (a zero remainder: its sign)
    and, for floats, zeros, infinities and NaN on either side; int divisors are never 0."""
    rng = np.random.default_rng(seed)
    if dtype is pf.int32:
        a = rng.integers(-50, 51, shape).astype(np.int32)
        b = rng.integers(1, 9, shape).astype(np.int32) * rng.choice([-1, 1], shape).astype(np.int32)
        a.flat[:4] = [12, -12, 0, 2**31 - 1]
        b.flat[:4] = [-3, 4, -5, 2]
        return a, b
    a = (rng.standard_normal(shape) * 20).astype(np.float32)
    b = (rng.standard_normal(shape) * 3).astype(np.float32)
    special = [0.0, -0.0, np.inf, -np.inf, np.nan, 7.5, -7.5, 6.0, -6.0, 1e-3]
    a.flat[:10], b.flat[10:20] = special, special
    a.flat[20:26], b.flat[20:26] = [6.0, -6.0, 6.0, -6.0, 0.0, -0.0], [3.0, 3.0, -3.0, -3.0, 2, -2]
    return a, b


def division_cases(L, x, y, row, is_int):
    """The same expressions in pf (L = pf) and torch (L = torch)."""
    k, q = (3, -2) if is_int else (2.5, -0.75)  # a number divisor of the operands' kind
    return [
        x // y,
        x % y,
        L.floor_divide(x, y),
        L.remainder(x, y),
        L.fmod(x, y),
        x.fmod(y),
        L.div(x, y, rounding_mode="trunc"),
        x.div(y, rounding_mode="floor"),
        L.div(x, y, rounding_mode=None),
        x // row,  # broadcast
        row % x if not is_int else x % row,
        x // k,
        x % q,
        x.fmod(q),
        L.div(x, k, rounding_mode="trunc"),
        7 // y,
        -7.5 % y,  # a float number: float result for int tensors too
        x // 2.5,
        L.remainder(-7, y),
        L.div(-7, y, rounding_mode="trunc"),
    ]


@pytest.mark.parametrize("layout", LAYOUTS, ids=repr)
@pytest.mark.parametrize("dtype", [pf.float32, pf.int32, pf.float16, pf.bfloat16], ids=str)
def test_floor_divide_remainder_fmod_match_torch_bit_for_bit(dtype, layout):
    """Every form (operators, functions, methods, numbers on either side, broadcasting) on a
    7x13 tensor under each layout: values (a zero's sign, inf and NaN included), dtypes and
    shapes as torch's. float16/bfloat16 floor division rounds each step as torch's kernel."""
    a, b = division_data(dtype)
    row = b[0]
    x = pf.from_numpy(a, layout=layout).astype(dtype)
    y = pf.from_numpy(b, layout=layout).astype(dtype)
    r = pf.from_numpy(row).astype(dtype)
    tdt = TORCH_DTYPE[dtype]
    t, u, w = (torch.from_numpy(v).to(tdt) for v in (a, b, row))
    is_int = dtype is pf.int32
    got = division_cases(pf, x, y, r, is_int)
    want = division_cases(torch, t, u, w, is_int)
    pf.eval(*got)
    for i, (g, wt) in enumerate(zip(got, want, strict=True)):
        bits_equal(g, wt, f"case {i}")


@pytest.mark.parametrize("layout", LAYOUTS, ids=repr)
def test_rounded_division_of_a_bool_tensor_is_integer_division_as_torch(layout):
    """`div(mask, n, rounding_mode=...)` counts the mask as 0 / 1 of n's integer type, as
    PyTorch (trunc raised PyFlame's error about subtracting a bool tensor)."""
    rng = np.random.default_rng(6)
    mask = rng.random((5, 7)) < 0.5
    n = rng.integers(1, 4, (5, 7)).astype(np.int32) * rng.choice([-1, 1], (5, 7)).astype(np.int32)
    m, k = pf.from_numpy(mask, layout=layout), pf.from_numpy(n, layout=layout)
    tm, tk = torch.from_numpy(mask), torch.from_numpy(n)
    for mode in ("trunc", "floor"):
        for got, want in (
            (pf.div(m, k, rounding_mode=mode), torch.div(tm, tk, rounding_mode=mode)),
            (m.div(2, rounding_mode=mode), tm.div(2, rounding_mode=mode)),
        ):
            bits_equal(got, want, mode)


@pytest.mark.parametrize(
    "layout", [None, pf.MeshLayout.grid(3, 2), pf.MeshLayout.row_partition(4)], ids=repr
)
@pytest.mark.parametrize("dtype", [pf.float16, pf.bfloat16], ids=str)
def test_half_floor_and_trunc_division_by_one_element_is_torchs_float32_kernel(dtype, layout):
    """torch's CPU floor and trunc division of a float16/bfloat16 result by a one-element
    divisor (a number, a 0-d tensor of any float dtype, a [1] or [1, 1] tensor) compute in
    float32 with the divisor's own value and round once: `x // 0.3` divides by 0.3, not by
    0.3 rounded to the half dtype, and a float32 quotient just below an integer is floored
    before it rounds up to it. (PyFlame divided by the rounded divisor, rounding each step:
    `bfloat16 x // 0.3` was off by one in 1 element of 4, silently.)"""
    rng = np.random.default_rng(3)
    tdt = TORCH_DTYPE[dtype]
    # dividends near multiples of the divisors: the quotients land next to integers
    a = rng.integers(-400, 400, (7, 13)) * rng.choice([0.3, 0.1, 0.37, 1.75, 1.0], (7, 13))
    a = a.astype(np.float32)
    x = pf.from_numpy(a, layout=layout).astype(dtype)
    t = torch.from_numpy(a).to(tdt)
    np_of = {pf.float32: np.float32, pf.float16: np.float16}
    for value in (0.3, 0.1, 1.750219, -2.7, 3.0, 0.37):
        divisors = [(value, value)]
        for d in (pf.float32, pf.float16, dtype):
            if d is pf.bfloat16:
                one = pf.from_numpy(np.asarray(value, np.float32)).astype(d)
                t_one = torch.tensor(value).to(torch.bfloat16)
            else:
                one = pf.from_numpy(np.asarray(value, np_of[d]))
                t_one = torch.from_numpy(np.asarray(value, np_of[d]))
            divisors.append((one, t_one))
        divisors.append(
            (pf.from_numpy(np.float32([value])).astype(dtype), torch.tensor([value]).to(tdt))
        )
        divisors.append(
            (pf.from_numpy(np.float32([[value]])).astype(dtype), torch.tensor([[value]]).to(tdt))
        )
        for y, u in divisors:
            got = [
                x // y,
                pf.floor_divide(x, y),
                x.div(y, rounding_mode="floor"),
                pf.div(x, y, rounding_mode="trunc"),
            ]
            want = [
                t // u,
                torch.floor_divide(t, u),
                t.div(u, rounding_mode="floor"),
                torch.div(t, u, rounding_mode="trunc"),
            ]
            if isinstance(y, pf.Tensor):  # a number dividend, a one-element divisor
                got.append(7.5 // y)
                want.append(7.5 // u)
            pf.eval(*got)
            for i, (g, w) in enumerate(zip(got, want, strict=True)):
                bits_equal(g, w, f"{value} {type(y).__name__} {getattr(y, 'dtype', '')} case {i}")


INT_DIVISIONS = {
    "floor_divide": (lambda x, y: x // y, "floor_divide"),
    "remainder": (lambda x, y: x % y, "remainder"),
    "fmod": (lambda x, y: x.fmod(y), "fmod"),
    "div_trunc": (lambda x, y: x.div(y, rounding_mode="trunc"), "fmod"),
    "div_floor": (lambda x, y: x.div(y, rounding_mode="floor"), "floor_divide"),
}


@pytest.mark.parametrize("name", list(INT_DIVISIONS))
def test_integer_division_by_zero_raises_torchs_error_at_the_users_line(name):
    """torch raises RuntimeError("ZeroDivisionError") for every integer division by zero; so
    does PyFlame (an IntegerDivisionByZeroError, a RuntimeError): a number divisor when the op
    is built, a tensor one after the run (one zero among real elements under a 3x2 grid whose
    padding holds zeros too), never numpy's warning and a made-up value."""
    fn, kind = INT_DIVISIONS[name]
    a = np.arange(91, dtype=np.int32).reshape(7, 13) - 45
    b = np.where(a == 0, 3, a).astype(np.int32)
    b[4, 11] = 0
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        fn(torch.from_numpy(a), torch.from_numpy(b))
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        fn(torch.from_numpy(a), 0)
    layout = pf.MeshLayout.grid(3, 2)
    x, y = pf.from_numpy(a, layout=layout), pf.from_numpy(b, layout=layout)
    out = fn(x, y)
    line = fn.__code__.co_firstlineno
    # (the line of the op; a graph of the same ops built at another line reuses the compiled
    # program and names that line instead, a cache limitation of run-time errors: \d+ here)
    with pytest.raises(
        pf.IntegerDivisionByZeroError,
        match=rf"test_elementwise.py:\d+: {kind}: ZeroDivisionError: integer division by "
        r"zero \(1 divisor element 0",
    ) as err:
        out.numpy()
    assert isinstance(err.value, RuntimeError) and isinstance(err.value, ZeroDivisionError)
    with pytest.raises(pf.IntegerDivisionByZeroError, match=rf"test_elementwise.py:{line}: "):
        fn(x, 0)
    # a float divisor of 0 (or a float tensor) is IEEE division, as torch: inf and NaN
    bits_equal(fn(x, 0.0), fn(torch.from_numpy(a), 0.0))
    bits_equal(
        fn(x.float(), y.float()), fn(torch.from_numpy(a).float(), torch.from_numpy(b).float())
    )


def test_division_errors_and_refusals_as_torch():
    x = pf.from_numpy(np.array([7.5, -7.5], np.float32))
    with pytest.raises(RuntimeError, match="rounding_mode to be one of None, 'trunc', or 'floor'"):
        torch.div(torch.ones(2), 2, rounding_mode="round")
    with pytest.raises(
        RuntimeError,
        match=r"test_elementwise.py:\d+: div expected rounding_mode to be one of None, 'trunc', "
        "or 'floor' but found 'round'",
    ):
        pf.div(x, 2, rounding_mode="round")
    with pytest.raises(TypeError):
        torch.fmod(2.0, torch.ones(2))
    with pytest.raises(TypeError, match=r"test_elementwise.py:\d+: fmod takes a tensor"):
        pf.fmod(2.0, x)
    with pytest.raises(NotImplementedError, match="not implemented for 'Bool'"):
        torch.ones(2, dtype=torch.bool) // torch.ones(2, dtype=torch.bool)
    with pytest.raises(TypeError, match="not supported on bool tensors"):
        _ = (x > 0) // (x > 0)
    b = pf.from_numpy(np.array([True, False]))  # bool with an int: int division, as torch
    bits_equal(b // 2, torch.tensor([True, False]) // 2)
    bits_equal(b % -2, torch.tensor([True, False]) % -2)


def test_int32_floor_division_that_does_not_fit_is_an_overflow():
    """-2**31 // -1 is 2**31 in PyTorch's int64, which PyFlame's int32 cannot hold."""
    a = pf.from_numpy(np.array([-(2**31), 7], np.int32))
    with pytest.raises(pf.IntegerOverflowError, match="floor_divide gives 2147483648"):
        (a // -1).numpy()
    np.testing.assert_array_equal((a % -1).numpy(), [0, 0])
    with pytest.raises(pf.IntegerOverflowError, match="gives 2147483648"):
        a.div(-1, rounding_mode="trunc").numpy()


def test_trunc_matches_torch():
    a = np.array([2.5, -2.5, 0.7, -0.7, -0.0, np.inf, np.nan, 1e9], np.float32)
    for layout in (None, pf.MeshLayout.grid(2, 2)):
        bits_equal(pf.trunc(pf.from_numpy(a, layout=layout)), torch.trunc(torch.from_numpy(a)))
    k = np.array([-3, 0, 7], np.int32)
    bits_equal(pf.from_numpy(k).trunc(), torch.from_numpy(k).trunc())


# --- bitwise ops on integers and bools, logical ops on any dtype, as PyTorch -----------------


def bitwise_cases(L, k, j, row, b, c, f):
    """k, j: int tensors (7x13), row: an int row (13,), b, c: bool tensors, f: a float tensor
    with zeros, -0.0 and NaN; the same expressions in pf (L = pf) and torch (L = torch)."""
    counts = j.abs() % 40  # shift counts in [0, 40), some from 32 on
    return [
        k & j,
        k | j,
        k ^ j,
        ~k,
        k & row,  # broadcast
        row | k,
        k ^ -3,
        6 & k,
        -1 ^ k,
        L.bitwise_and(k, j),
        L.bitwise_or(k, 5),
        L.bitwise_xor(k, j),
        L.bitwise_not(k),
        k.bitwise_and(row),
        k >> counts,
        (k % 1024) << (counts % 21),  # fits int32
        k >> -1,  # a count outside [0, 64): the sign
        k << 64,  # shifted out: 0
        k << j.clamp(min=-3, max=-1),  # negative counts: 0
        L.bitwise_right_shift(k, 2),
        L.bitwise_left_shift(3, counts % 29),
        (k % 8).bitwise_left_shift(j.abs() % 5),
        b & c,
        b | c,
        b ^ c,
        ~b,
        b ^ True,
        L.bitwise_and(b, c),
        L.bitwise_not(c),
        b & k,  # bool with int: int
        b | 4,
        k ^ b,
        b << 3,
        L.logical_and(k, j % 3),
        L.logical_or(f, k % 2),
        L.logical_xor(f, b),
        L.logical_xor(b, c),
        L.logical_not(f),
        L.logical_not(k % 3),
        k.logical_and(f),
        f.logical_xor(j % 2),
        L.logical_or(b, c),
    ]


@pytest.mark.parametrize("layout", LAYOUTS, ids=repr)
def test_bitwise_and_logical_ops_match_torch(layout):
    rng = np.random.default_rng(5)
    k = rng.integers(-(2**31), 2**31, (7, 13), dtype=np.int64).astype(np.int32)
    k.flat[:4] = [0, -1, 2**31 - 1, -(2**31)]
    j = rng.integers(-60, 61, (7, 13)).astype(np.int32)
    b, c = rng.random((7, 13)) > 0.5, rng.random((7, 13)) > 0.3
    f = rng.standard_normal((7, 13)).astype(np.float32)
    f.flat[:5] = [0.0, -0.0, np.nan, np.inf, 1e-45]
    f.flat[::7] = 0.0
    arrays = (k, j, k[2], b, c, f)
    got = bitwise_cases(
        pf, *(pf.from_numpy(a, layout=layout if a.ndim == 2 else None) for a in arrays)
    )
    want = bitwise_cases(torch, *(torch.from_numpy(np.ascontiguousarray(a)) for a in arrays))
    want = [w.long() if w.dtype == torch.int32 else w for w in want]  # int32 stands for int64
    pf.eval(*got)
    for i, (g, w) in enumerate(zip(got, want, strict=True)):
        bits_equal(g, w, f"case {i}")


def test_a_left_shift_beyond_int32_is_an_overflow_not_a_wrap():
    """PyTorch's int64 holds 1 << 40; PyFlame's int32 reports it (and counts from 64 on give
    0, where numpy's int64 shift would wrap or be undefined)."""
    k = pf.from_numpy(np.array([1, 3, -1], np.int32))
    with pytest.raises(pf.IntegerOverflowError, match="bitwise_left_shift gives 1099511627776"):
        (k << 40).numpy()
    with pytest.raises(pf.IntegerOverflowError, match="bitwise_left_shift gives 2147483648"):
        (k << 31).numpy()
    m = pf.from_numpy(np.array([-1, 1, -(2**31)], np.int32))
    np.testing.assert_array_equal(
        (m << pf.from_numpy(np.array([31, 30, 0], np.int32))).numpy(), [-(2**31), 2**30, -(2**31)]
    )


def test_bitwise_and_logical_ops_in_place_as_torch():
    a = np.array([[5, -6, 0], [7, 9, -1]], np.int32)
    steps = [
        lambda x: x.__iand__(6),
        lambda x: x.__ior__(1),
        lambda x: x.__ixor__(-4),
        lambda x: x.__ilshift__(2),
        lambda x: x.__irshift__(1),
        lambda x: x.bitwise_and_(x),
        lambda x: x.bitwise_not_(),
        lambda x: x.bitwise_or_(8),
        lambda x: x.bitwise_xor_(3),
        lambda x: x.bitwise_left_shift_(1),
        lambda x: x.bitwise_right_shift_(2),
        lambda x: x.logical_xor_(x % 3),
        lambda x: x.logical_or_(x * 0),
        lambda x: x.__ilshift__(3),
        lambda x: x.logical_and_(x + 1),
    ]
    x, t = pf.from_numpy(a, layout=pf.MeshLayout.grid(2, 2)), torch.from_numpy(a.astype(np.int64))
    for i, step in enumerate(steps):
        assert step(x) is x
        step(t)
        bits_equal(x, t, f"step {i}")
    f = pf.from_numpy(np.array([0.0, 2.5, np.nan], np.float32))
    tf = torch.tensor([0.0, 2.5, float("nan")])
    f.logical_and_(f * 0 + 1)
    tf.logical_and_(tf * 0 + 1)
    bits_equal(f, tf)
    with pytest.raises(RuntimeError, match="result type Float can't be cast"):
        torch.tensor([1]).__iand__(torch.tensor([1.0]))
    with pytest.raises(NotImplementedError, match="bitwise_and is not implemented for pf.float32"):
        pf.from_numpy(a).__iand__(f[:1])


# --------------------------------------------------------------------------- signed zeros

SIGNED_ZERO_OPS = {  # op -> (pyflame, torch); a value on a bound is x itself in PyTorch
    "relu": (pf.relu, torch.relu),
    "F.relu": (pf.nn.functional.relu, torch.nn.functional.relu),
    "clamp(min=0)": (lambda x: pf.clamp(x, min=0), lambda t: torch.clamp(t, min=0)),
    "clamp(max=0)": (lambda x: pf.clamp(x, max=0), lambda t: torch.clamp(t, max=0)),
    "clamp(-0., 0.)": (lambda x: pf.clamp(x, -0.0, 0.0), lambda t: torch.clamp(t, -0.0, 0.0)),
    "clamp(min=-0.)": (lambda x: pf.clamp(x, min=-0.0), lambda t: torch.clamp(t, min=-0.0)),
    "leaky_relu": (pf.nn.functional.leaky_relu, torch.nn.functional.leaky_relu),
    "hardtanh": (pf.nn.functional.hardtanh, torch.nn.functional.hardtanh),
    "hardtanh(0, 1)": (
        lambda x: pf.nn.functional.hardtanh(x, 0.0, 1.0),
        lambda t: torch.nn.functional.hardtanh(t, 0.0, 1.0),
    ),
    "hardtanh(-1, -0.)": (
        lambda x: pf.nn.functional.hardtanh(x, -1.0, -0.0),
        lambda t: torch.nn.functional.hardtanh(t, -1.0, -0.0),
    ),
    "relu6": (pf.nn.functional.relu6, torch.nn.functional.relu6),
    # a chain the fuse-elementwise pass makes one pe.fused of
    "fused relu(x * 1)": (lambda x: pf.relu(x * 1.0), lambda t: torch.relu(t * 1.0)),
    "fused clamp(x * 1, min=0)": (
        lambda x: pf.clamp(x * 1.0, min=0),
        lambda t: torch.clamp(t * 1.0, min=0),
    ),
}
HALF_DTYPES = {pf.float32: torch.float32, pf.float16: torch.float16, pf.bfloat16: torch.bfloat16}


def _signs(t) -> np.ndarray:
    return np.signbit(t.float().numpy())


@pytest.mark.parametrize(
    "layout", [None, pf.MeshLayout.grid(2, 3), pf.MeshLayout.row_partition(4)], ids=repr
)
@pytest.mark.parametrize("dtype", list(HALF_DTYPES), ids=repr)
@pytest.mark.parametrize("name", list(SIGNED_ZERO_OPS))
def test_signed_zeros_as_pytorch(name, dtype, layout):
    """PyTorch keeps -0.0 where x is on a bound (relu(-0.0) is -0.0, clamp(0.0, min=-0.0) is
    0.0): the same bits here, unfused and fused, in every float dtype."""
    a = np.tile(np.array([-0.0, 0.0, -1.5, 2.0, 0.5], np.float32), (7, 3))
    t = torch.from_numpy(a).to(HALF_DTYPES[dtype])
    x = pf.from_numpy(a, layout=layout).to(dtype)
    ours, theirs = SIGNED_ZERO_OPS[name]
    got, want = ours(x), theirs(t)
    np.testing.assert_array_equal(got.float().numpy(), want.float().numpy())
    np.testing.assert_array_equal(_signs(got), _signs(want))
    if name.startswith("fused"):
        assert "pe.fused" in pf.ir(ours(x), stage="pe")


@pytest.mark.parametrize("dtype", list(HALF_DTYPES), ids=repr)
def test_maximum_and_minimum_of_signed_zeros_give_the_first_operand(dtype):
    """maximum(-0.0, 0.0) is -0.0, as PyTorch's scalar kernel (its vectorized kernel, for long
    tensors, gives the second operand: PyTorch does not define it); NaN from either side."""
    a = np.array([-0.0, 0.0, np.nan, 1.0], np.float32)
    b = np.array([0.0, -0.0, 1.0, np.nan], np.float32)
    ta, tb = (torch.from_numpy(v).to(HALF_DTYPES[dtype]) for v in (a, b))
    x, y = (pf.from_numpy(v, layout=pf.MeshLayout.grid(2, 2)).to(dtype) for v in (a, b))
    for ours, theirs in [(pf.maximum, torch.maximum), (pf.minimum, torch.minimum)]:
        got, want = ours(x, y), theirs(ta, tb)
        np.testing.assert_array_equal(got.float().numpy(), want.float().numpy())
        np.testing.assert_array_equal(_signs(got)[:2], [True, False])
        np.testing.assert_array_equal(_signs(got)[:2], _signs(want)[:2])


def _special_bits(rng: np.random.Generator, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """Random items of `dtype`, floats with signed zeros, infinities and NaNs of several signs
    and payloads among them (their bits must survive a select)."""
    dtype = np.dtype(dtype)
    if dtype.kind == "b":
        return rng.random(shape) < 0.5
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return rng.integers(info.min, info.max, shape, dtype=dtype, endpoint=True)
    bits = np.dtype(f"uint{8 * dtype.itemsize}")
    out = rng.integers(0, np.iinfo(bits).max, shape, dtype=bits, endpoint=True).view(dtype)
    return out


@pytest.mark.parametrize(
    "dtype", ["float32", "float16", "float64", "int32", "int64", "bool", "uint8", "bfloat16"]
)
def test_where_is_np_where_bit_for_bit(dtype):
    """`where`'s bit select gives np.where's bits: random bit patterns (NaN payloads, signed
    zeros), strided views of a wider block, broadcast operands and conditions, random and
    constant conditions, conditions that are not bool; a +0 side (the product of bits) and a
    -0 one (the bit select)."""
    import ml_dtypes

    dt = np.dtype(ml_dtypes.bfloat16) if dtype == "bfloat16" else np.dtype(dtype)
    rng = np.random.default_rng(7)
    rows, cols, n = 24, 20, 10
    block = _special_bits(rng, (rows, cols, 3 * n + 1), dt)
    x, y, scalar = block[:, :, 1 : n + 1], block[:, :, n + 1 : 2 * n + 1], block[:, :, :1]
    conds = [
        rng.random((rows, cols, n)) < 0.5,
        np.zeros((rows, cols, n), bool),
        np.ones((rows, cols, 1), bool),
        rng.standard_normal((rows, cols, n)) * (rng.random((rows, cols, n)) < 0.5),  # floats
        np.array([[[0, 2, 255, 1, 0, 0, 3, 0, 1, 9]]], np.uint8).view(bool),  # bytes > 1
    ]
    for cond in conds:
        zero = np.zeros((), dt)  # (all-zero bits: `where` multiplies the other side's bits)
        negative_zero = (-np.ones((), dt) * zero) if dt.kind == "f" else zero
        pairs = [(x, y), (x, scalar), (scalar, y), (x, zero), (zero, y), (x[:1], y)]
        pairs += [(np.zeros((1, 1, 1), dt), y), (x, negative_zero), (negative_zero, y)]
        for a, b in pairs:
            got = elementwise.where(cond, a, b)
            want = np.where(cond, a, b)
            assert got.dtype == want.dtype and got.shape == want.shape
            assert got.view(np.uint8).tobytes() == want.view(np.uint8).tobytes()
    small = elementwise.where(conds[0][:2, :2], x[:2, :2], y[:2, :2])  # numpy's own call
    assert np.array_equal(
        small.view(np.uint8), np.where(conds[0][:2, :2], x[:2, :2], y[:2, :2]).view(np.uint8)
    )


SPECIALS = np.array([-1.5, -0.5, -0.0, 0.0, 0.3, 2.0, np.inf, -np.inf, np.nan], np.float32)


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16", "int32"])
def test_ceil_square_reciprocal_isinf_isfinite_clamp_min_max_match_torch(dtype):
    # session 23: torch names that were AttributeErrors; each is exact (bit for bit)
    a = SPECIALS if dtype != "int32" else np.array([3, -4, 0, 7], np.int32)
    x = pf.from_numpy(a.astype(np.float32) if dtype != "int32" else a).astype(getattr(pf, dtype))
    t = torch.from_numpy(a.copy()).to(getattr(torch, dtype))
    pairs = [
        (pf.ceil(x), torch.ceil(t)),
        (x.square(), t.square()),
        (x.reciprocal(), t.reciprocal()),
        (pf.isinf(x), torch.isinf(t)),
        (x.isposinf(), t.isposinf()),
        (x.isneginf(), t.isneginf()),
        (pf.isfinite(x), torch.isfinite(t)),
        (x.clamp_min(0), t.clamp_min(0)),
        (pf.clamp_max(x, 1), torch.clamp_max(t, 1)),
    ]
    for ours, theirs in pairs:
        want = theirs.float().numpy() if theirs.dtype == torch.bfloat16 else theirs.numpy()
        np.testing.assert_array_equal(np.asarray(ours.numpy(), dtype=want.dtype), want)


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"equal_nan": True}, {"rtol": 0.1}, {"atol": 0.2, "rtol": 0}, {"rtol": 0, "atol": 0}],
)
def test_isclose_allclose_equal_match_torch(kwargs):
    b = SPECIALS.copy()
    b[4], b[5] = 0.3 + 1e-6, 2.1
    x, y = pf.from_numpy(SPECIALS), pf.from_numpy(b)
    t, u = torch.from_numpy(SPECIALS.copy()), torch.from_numpy(b.copy())
    np.testing.assert_array_equal(
        pf.isclose(x, y, **kwargs).numpy(), torch.isclose(t, u, **kwargs).numpy()
    )
    assert pf.allclose(x[:6], y[:6], **kwargs) == torch.allclose(t[:6], u[:6], **kwargs)
    assert x[:4].allclose(y[:4], **kwargs) == t[:4].allclose(u[:4], **kwargs)
    assert pf.equal(x[:6], x[:6]) and not pf.equal(x, x)  # NaN is not equal to itself
    assert not pf.equal(x[:3], x[:4]) and torch.equal(t[:6], t[:6]) and not torch.equal(t, t)
    k = np.array([3, -4, 0], np.int32)
    np.testing.assert_array_equal(
        pf.isclose(pf.from_numpy(k), pf.from_numpy(k + 1), rtol=0.5).numpy(),
        torch.isclose(torch.from_numpy(k), torch.from_numpy(k + 1), rtol=0.5).numpy(),
    )
    with pytest.raises(
        RuntimeError, match=r"test_elementwise.py:\d+: isclose: pf.int32 did not match"
    ):
        pf.isclose(pf.from_numpy(k), pf.from_numpy(k.astype(np.float32)))


# the operands of one shape and dtype skip promotion and broadcasting (ops/elementwise.py
# `_operands`): the same kinds are refused, at the user's line, and float functions of integer
# tensors still compute in float32
@pytest.mark.parametrize(
    ("fn", "dtype", "error", "words"),
    [
        (lambda a, b: _elementwise._logical_and(a, b), pf.float32, TypeError, "takes bool"),
        (lambda a, b: a & b, pf.float32, NotImplementedError, "not implemented for pf.float32"),
        (lambda a, b: a - b, pf.bool, RuntimeError, "with two bool tensors is not supported"),
    ],
)
def test_same_shape_operands_refuse_the_same_kinds(fn, dtype, error, words) -> None:
    a = pf.ones(2, 3, dtype=dtype)
    b = pf.ones(2, 3, dtype=dtype)
    with pytest.raises(error, match=words) as err:
        fn(a, b)
    assert str(err.value).startswith(f"{__file__}:")


def test_same_shape_integer_operands_of_a_float_function_become_float32() -> None:
    a = pf.from_numpy(np.array([[1, 2], [3, 4]], np.int32))
    b = pf.from_numpy(np.array([[2, 2], [2, 2]], np.int32))
    z = a / b
    assert z.dtype is pf.float32
    np.testing.assert_allclose(z.numpy(), [[0.5, 1.0], [1.5, 2.0]])
    assert (a + b).dtype is pf.int32
    np.testing.assert_array_equal((a + b).numpy(), [[3, 4], [5, 6]])


def test_ufunc_into_runs_in_the_outputs_memory_order():
    """elementwise.ufunc_into: the ufunc's result in `out` (lane-major tiles, each lane one
    plane), from operands laid out otherwise and broadcast, the same as numpy's own call."""
    import numpy as np

    from pyflame.core.elementwise import ufunc_into

    rng = np.random.default_rng(0)
    planes = np.zeros((12, 6, 5), np.float32)
    out = planes[1:11].transpose(1, 2, 0).reshape(6, 5, 2, 5)  # (rows, cols, m, n) tiles
    start = rng.standard_normal(out.shape).astype(np.float32)
    out[...] = start
    product = rng.standard_normal((6, 5, 2, 5)).astype(np.float32)  # C-ordered
    per_pe = rng.standard_normal((6, 5, 1, 1)).astype(np.float32)
    ufunc_into(np.add, out, out, product)
    np.testing.assert_array_equal(out, start + product)
    ufunc_into(np.multiply, out, out, per_pe)
    np.testing.assert_array_equal(out, (start + product) * per_pe)
    ufunc_into(np.add, out, out, np.float32(2.0))
    np.testing.assert_array_equal(out, (start + product) * per_pe + np.float32(2.0))
    assert np.shares_memory(out, planes)


@pytest.mark.parametrize("name", sorted(elementwise.UNARY))
def test_unary_functions_on_strided_views_are_their_contiguous_values(name):
    """Views of SRAM blocks of every kind (lane-major planes 16 and 64 bytes apart, one PE's
    lanes, PE-major tiles): the values computed on contiguous copies (numpy's `negative` and
    `signbit` are wrong on some strides: elementwise.on_contiguous)."""
    entry = elementwise.ALL[name]
    rng = np.random.default_rng(5)
    kinds = ((np.float32, 4), (np.float64, 8), (np.float32, 2))
    if name in ("logical_not", "bitwise_not"):
        kinds = ((np.int32, 4), (np.int32, 2))
    for dtype, lanes_apart in kinds:
        planes = (rng.standard_normal((40, lanes_apart // 2, 2)) * 3).astype(dtype)
        if dtype != np.int32:
            planes[::5] = np.nan
            planes[1::6] = -0.0
            planes[2::7] = -np.inf
        lane_major = planes.transpose(1, 2, 0)
        views = [lane_major, lane_major[:1, :1], lane_major[:, :1, ::3], planes[3:9]]
        for view in views:
            with np.errstate(all="ignore"):
                got = elementwise.apply(entry, view)
                want = elementwise.apply(entry, np.ascontiguousarray(view))
            assert np.ascontiguousarray(got).tobytes() == np.ascontiguousarray(want).tobytes()


@pytest.mark.parametrize("name", sorted(elementwise.BINARY))
def test_binary_functions_on_strided_views_are_their_contiguous_values(name):
    """Both operands views of SRAM blocks (lane-major planes 16 bytes apart, one PE's lanes,
    PE-major tiles): the values computed on contiguous copies, bit for bit."""
    entry = elementwise.ALL[name]
    rng = np.random.default_rng(6)
    integer = entry.operands in ("int", "bool")
    dtype = np.int32 if integer else np.float32
    planes = (rng.standard_normal((130, 2, 2)) * 5).astype(dtype)
    if entry.operands == "bool":
        planes = planes > 0
    elif not integer:
        planes[::5] = np.nan
        planes[1::6] = -0.0
        planes[2::7] = np.inf
    else:
        planes = np.abs(planes) % 7 + 1  # (shifts, divisions: small positive values)
    lane_major = planes.transpose(1, 2, 0)
    for view in (lane_major, lane_major[:1, :1], lane_major[:, :1, ::2]):
        a, b = view[..., 0:20], view[..., 40:60]
        with np.errstate(all="ignore"):
            got = elementwise.apply(entry, a, b)
            want = elementwise.apply(entry, np.ascontiguousarray(a), np.ascontiguousarray(b))
        assert np.ascontiguousarray(got).tobytes() == np.ascontiguousarray(want).tobytes()
