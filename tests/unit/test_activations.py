"""The activations added after ReLU/GELU/SiLU (ELU, SELU, CELU, Softplus, Hardtanh, ReLU6,
Hardsigmoid, Hardswish, Mish, LogSigmoid, Softsign, Tanhshrink, PReLU, GLU, Threshold) and
their F twins against torch: values and input gradients on random values and on every kink
and threshold (where PyTorch's gradient is a choice), large values whose unused branch would
overflow, a grid layout, `inplace=True`, reprs, PReLU's parameter, errors, and training."""

from __future__ import annotations

import numpy as np
import pytest

import pyflame as pf
from pyflame import nn

torch = pytest.importorskip("torch")

from nn_parity import GRID, check_function, check_layer, rand, train_like_torch  # noqa: E402

pytestmark = pytest.mark.usefixtures("small_target")
F = pf.nn.functional

#: every kink and threshold of the functions below (0, +-1, +-3, 6, softplus's 20 and the
#: beta=2 one at 10, threshold's 0.5) and values whose other branch overflows float32
EDGES = np.array(
    [0.0, -1.0, 1.0, -3.0, 3.0, 6.0, 0.5, 10.0, 20.0, 20.5, 100.0, -100.0, 2.0, -2.0, 7.0],
    np.float32,
)


def values(*shape):
    x = rand(*shape) * 4
    flat = x.reshape(-1)
    n = min(flat.size, EDGES.size)
    flat[:n] = EDGES[:n]
    return x


#: name -> (F call, module factory); each call takes the functional module first
ACTIVATIONS = {
    "elu": (lambda F, x: F.elu(x), lambda m: m.ELU()),
    "elu_alpha": (lambda F, x: F.elu(x, alpha=0.3), lambda m: m.ELU(alpha=0.3)),
    "selu": (lambda F, x: F.selu(x), lambda m: m.SELU()),
    "celu": (lambda F, x: F.celu(x, alpha=1.7), lambda m: m.CELU(1.7)),
    "softplus": (lambda F, x: F.softplus(x), lambda m: m.Softplus()),
    "softplus_beta": (
        lambda F, x: F.softplus(x, beta=2.0, threshold=20.0),
        lambda m: m.Softplus(beta=2.0),
    ),
    "hardtanh": (lambda F, x: F.hardtanh(x), lambda m: m.Hardtanh()),
    "hardtanh_bounds": (
        lambda F, x: F.hardtanh(x, -3.0, 6.0),
        lambda m: m.Hardtanh(-3.0, 6.0),
    ),
    "relu6": (lambda F, x: F.relu6(x), lambda m: m.ReLU6()),
    "hardsigmoid": (lambda F, x: F.hardsigmoid(x), lambda m: m.Hardsigmoid()),
    "hardswish": (lambda F, x: F.hardswish(x), lambda m: m.Hardswish()),
    "mish": (lambda F, x: F.mish(x), lambda m: m.Mish()),
    "logsigmoid": (lambda F, x: F.logsigmoid(x), lambda m: m.LogSigmoid()),
    "softsign": (lambda F, x: F.softsign(x), lambda m: m.Softsign()),
    "tanhshrink": (lambda F, x: F.tanhshrink(x), lambda m: m.Tanhshrink()),
    "threshold": (lambda F, x: F.threshold(x, 0.5, -2.0), lambda m: m.Threshold(0.5, -2.0)),
    "glu": (lambda F, x: F.glu(x, dim=1), lambda m: m.GLU(dim=1)),
    "glu_last": (lambda F, x: F.glu(x), lambda m: m.GLU()),
    "softshrink": (lambda F, x: F.softshrink(x), lambda m: m.Softshrink()),
    "softshrink_lambd": (lambda F, x: F.softshrink(x, 3.0), lambda m: m.Softshrink(3.0)),
    "hardshrink": (lambda F, x: F.hardshrink(x), lambda m: m.Hardshrink()),
    "hardshrink_lambd": (lambda F, x: F.hardshrink(x, 1.0), lambda m: m.Hardshrink(1.0)),
    "softmin": (lambda F, x: F.softmin(x, dim=1), lambda m: m.Softmin(dim=1)),
    "softmin_last": (lambda F, x: F.softmin(x, dim=-1), lambda m: m.Softmin(dim=-1)),
    # eval mode: the mean slope (training draws: test_rrelu_in_training_*)
    "rrelu": (lambda F, x: F.rrelu(x), lambda m: m.RReLU().eval()),
    "rrelu_bounds": (lambda F, x: F.rrelu(x, 0.2, 0.6), lambda m: m.RReLU(0.2, 0.6).eval()),
}


#: the activations PyTorch computes in one CPU kernel (softsign and tanhshrink are Python
#: compositions there, rounded at each step as here; softmin's gradient is softmax's, a
#: reduction over the row rounded in the half dtype, as torch's own)
ONE_KERNEL = sorted(set(ACTIVATIONS) - {"softsign", "tanhshrink", "softmin", "softmin_last"})


@pytest.mark.parametrize("dtype", [pf.float16, pf.bfloat16], ids=str)
@pytest.mark.parametrize("name", ONE_KERNEL)
def test_half_activations_round_once_as_torch(name, dtype):
    """torch computes these activations of a float16/bfloat16 tensor in float32 and rounds
    once; PyFlame rounded every part to the half dtype (softplus 5 ulps off, hardsigmoid 14).
    Values bit for bit; the input gradient within 2 ulps of the exact one (float64; torch's
    own half glu gradient is further off)."""
    call = ACTIVATIONS[name][0]
    a = values(8, 16)
    tdt = {pf.float16: torch.float16, pf.bfloat16: torch.bfloat16}[dtype]
    x = pf.from_numpy(a, layout=pf.MeshLayout.grid(2, 3)).astype(dtype)
    x.requires_grad = True
    t = torch.from_numpy(a).to(tdt).requires_grad_()
    got, want = call(F, x), call(torch.nn.functional, t)
    assert got.dtype is dtype
    np.testing.assert_array_equal(got.numpy().astype(np.float32), want.detach().float().numpy())
    weights = np.random.default_rng(1).standard_normal(tuple(want.shape)).astype(np.float32)
    (got * pf.from_numpy(weights).astype(dtype)).sum().backward()
    exact = t.detach().double().requires_grad_()
    (call(torch.nn.functional, exact) * torch.from_numpy(weights).to(tdt).double()).sum().backward()
    g, w = x.grad.numpy().astype(np.float64), exact.grad.numpy()
    ulp = np.spacing(np.abs(w).astype(dtype.numpy)).astype(np.float64)
    # (not relative where a gradient underflows: sigmoid(20.5) is 1 in float32)
    assert np.all(np.abs(g - w) <= 2 * ulp + 1e-6 * np.abs(w).max()), name


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_function_values_and_gradients_at_kinks(name):
    call, _ = ACTIVATIONS[name]
    check_function(call, values(3, 6, 4))


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_layer_values_and_gradients_under_a_grid_layout(name):
    _, make = ACTIVATIONS[name]
    check_layer(make, values(5, 4, 6), layout=GRID)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_repr_as_torch(name):
    _, make = ACTIVATIONS[name]
    assert repr(make(nn)) == repr(make(torch.nn))


def test_reprs_with_inplace_as_torch():
    for make in (
        lambda m: m.ELU(0.5, True),
        lambda m: m.CELU(2.0, True),
        lambda m: m.SELU(True),
        lambda m: m.Hardtanh(-2, 3, True),
        lambda m: m.ReLU6(True),
        lambda m: m.Hardsigmoid(True),
        lambda m: m.Hardswish(True),
        lambda m: m.Mish(True),
        lambda m: m.Threshold(0.1, 20, True),
        lambda m: m.PReLU(3, 0.1),
        lambda m: m.RReLU(0.1, 0.3, True),
        lambda m: m.Softmax2d(),
    ):
        assert repr(make(nn)) == repr(make(torch.nn))


@pytest.mark.parametrize(
    "name, call",
    [
        ("elu", lambda F, x: F.elu(x, 0.5, inplace=True)),
        ("selu", lambda F, x: F.selu(x, inplace=True)),
        ("celu", lambda F, x: F.celu(x, 2.0, inplace=True)),
        ("hardtanh", lambda F, x: F.hardtanh(x, -0.5, 2.0, inplace=True)),
        ("relu6", lambda F, x: F.relu6(x, inplace=True)),
        ("hardsigmoid", lambda F, x: F.hardsigmoid(x, inplace=True)),
        ("hardswish", lambda F, x: F.hardswish(x, inplace=True)),
        ("mish", lambda F, x: F.mish(x, inplace=True)),
        ("threshold", lambda F, x: F.threshold(x, 0.5, 9.0, inplace=True)),
        ("rrelu", lambda F, x: F.rrelu(x, 0.1, 0.3, inplace=True)),
        ("relu_", lambda F, x: F.relu_(x)),
        ("elu_", lambda F, x: F.elu_(x, 0.5)),
        ("celu_", lambda F, x: F.celu_(x, 2.0)),
        ("selu_", lambda F, x: F.selu_(x)),
        ("leaky_relu_", lambda F, x: F.leaky_relu_(x, 0.2)),
        ("hardtanh_", lambda F, x: F.hardtanh_(x, -0.5, 2.0)),
        ("threshold_", lambda F, x: F.threshold_(x, 0.5, 9.0)),
        ("rrelu_", lambda F, x: F.rrelu_(x, 0.1, 0.3)),
    ],
)
def test_inplace_changes_the_input(name, call):
    x = values(4, 5)
    px, tx = pf.from_numpy(x), torch.from_numpy(x.copy())
    out = call(F, px)
    call(torch.nn.functional, tx)
    assert out is px
    np.testing.assert_allclose(px.numpy(), tx.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "num, shape, layout",
    [(1, (3, 4, 5), None), (4, (3, 4, 5), GRID), (3, (2, 3), None), (1, (7,), None)],
    ids=str,
)
def test_prelu_values_and_gradients_of_input_and_weight(num, shape, layout):
    torch.manual_seed(1)
    state = {"weight": torch.randn(num)}

    def make(m):
        layer = m.PReLU(num)
        layer.load_state_dict(state)
        return layer

    check_layer(make, values(*shape), layout=layout)
    check_function(lambda F, x, w: F.prelu(x, w), values(*shape), state["weight"].numpy())


def test_prelu_parameter_and_state_dict_as_torch():
    t, p = torch.nn.PReLU(3, init=0.1), nn.PReLU(3, init=0.1)
    assert list(p.state_dict()) == ["weight"]
    np.testing.assert_array_equal(p.weight.numpy(), t.weight.detach().numpy())
    assert isinstance(p.weight, nn.Parameter) and p.weight.requires_grad
    assert [n for n, _ in p.named_parameters()] == ["weight"]


def test_errors_as_torch():
    with pytest.raises(
        pf.ShapeError,
        match=r"test_activations.py:\d+: Halving dimension must be even, but dimension 1 is "
        r"size 5",
    ):
        F.glu(pf.from_numpy(rand(3, 5)))
    with pytest.raises(pf.ShapeError, match="glu does not support scalars"):
        F.glu(pf.from_numpy(np.float32(1.0)))
    with pytest.raises(
        pf.ShapeError,
        match=r"Mismatch of parameter numbers and input channel size. Found parameter numbers "
        r"= 3 and channel size = 4.",
    ):
        F.prelu(pf.from_numpy(rand(2, 4, 3)), pf.from_numpy(rand(3)))
    with pytest.raises(pf.ShapeError, match="numbers = 4 and channel size = 1"):
        F.prelu(pf.from_numpy(rand(4)), pf.from_numpy(rand(4)))
    with pytest.raises(ZeroDivisionError, match="alpha cannot be 0 for CELU"):
        F.celu(pf.from_numpy(rand(3)), alpha=0.0)
    with pytest.raises(AssertionError):
        nn.Hardtanh(1.0, -1.0)
    with pytest.warns(FutureWarning, match="`min_value` is deprecated"):
        assert nn.Hardtanh(min_value=-2.0).min_val == -2.0


def test_training_steps_match_torch():
    rng = np.random.default_rng(11)
    batches = [
        (
            rng.standard_normal((6, 5)).astype(np.float32),
            rng.standard_normal((6, 3)).astype(np.float32),
        )
        for _ in range(4)
    ]
    train_like_torch(
        lambda nn: nn.Sequential(
            nn.Linear(5, 8),
            nn.PReLU(8),
            nn.Linear(8, 8),
            nn.Mish(),
            nn.Linear(8, 8),
            nn.ELU(0.7),
            nn.Linear(8, 8),
            nn.Hardswish(),
            nn.Linear(8, 6),
            nn.GLU(),
            nn.Softplus(beta=2.0),
            nn.Linear(3, 3),
            nn.SELU(),
        ),
        batches,
    )


def test_hardtanh_and_relu6_of_integers_stay_integers_as_torch():
    """torch's hardtanh/relu6 of an int tensor clamp to the bounds as integers (truncated) and
    keep the dtype; PyFlame compared with float bounds and returned float32, silently. A bool
    input is torch's error."""
    k = np.arange(-9, 9, dtype=np.int32)
    for call in (
        lambda F, x: F.relu6(x),
        lambda F, x: F.hardtanh(x),
        lambda F, x: F.hardtanh(x, -1.5, 2.5),
        lambda F, x: F.hardtanh(x, -2, 3),
    ):
        got, want = call(F, pf.from_numpy(k)), call(torch.nn.functional, torch.from_numpy(k))
        assert got.dtype is pf.int32 and want.dtype == torch.int32
        np.testing.assert_array_equal(got.numpy(), want.numpy())
    with pytest.raises(RuntimeError, match="Bool inputs not supported for hardtanh"):
        torch.nn.functional.relu6(torch.from_numpy(k > 0))
    with pytest.raises(RuntimeError, match=r"test_activations.py:\d+: Bool inputs not supported"):
        F.relu6(pf.from_numpy(k > 0))


#: NaN and the infinities, with finite values around the kinks for the other rows
NON_FINITE = np.array(
    [[np.nan, np.inf, -np.inf, -3.0], [3.0, -0.0, 2.5, -2.5], [-np.inf, np.nan, np.inf, 0.0]],
    np.float32,
)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_nan_and_infinities_give_torchs_values_and_gradients(name):
    """PyTorch's kernels send NaN down the branch of their last `else` (hardswish's and elu's
    gradient 1 there, hardsigmoid's 0) and hardswish(-inf) is -inf * 0 = NaN; PyFlame's
    compositions gave hardswish(-inf) = 0, gradient NaN for hardswish at NaN and +-inf and for
    elu/selu/celu at NaN (the branch not taken multiplied its zero gradient by NaN or inf),
    and hardsigmoid 1/6 at NaN. NaN and infinities where torch's are, finite values within
    rounding, the sign of zero results as torch's."""
    call, _ = ACTIVATIONS[name]
    x = pf.from_numpy(NON_FINITE)
    x.requires_grad = True
    t = torch.from_numpy(NON_FINITE).requires_grad_()
    got, want = call(F, x), call(torch.nn.functional, t)
    weights = np.arange(1, want.numel() + 1, dtype=np.float32).reshape(tuple(want.shape))
    (got * pf.from_numpy(weights)).sum().backward()
    (want * torch.from_numpy(weights)).sum().backward()
    value, expected = got.numpy(), want.detach().numpy()
    np.testing.assert_allclose(value, expected, rtol=1e-6, atol=0)
    zeros = expected == 0
    np.testing.assert_array_equal(np.signbit(value[zeros]), np.signbit(expected[zeros]))
    np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=1e-6, atol=0)


@pytest.mark.parametrize("layout", [None, GRID, pf.MeshLayout.row_partition(3)], ids=str)
def test_rrelu_in_training_draws_a_slope_per_negative_element(layout):
    """Training: x where x > 0, else a * x with a uniform in [lower, upper) drawn per element
    (PyTorch's rrelu_with_noise), a fresh draw each call, the same one for a fixed seed; the
    gradient is a (1 above 0), as PyTorch's noise."""
    a = values(5, 7, 3)
    x = pf.from_numpy(a, layout=layout).requires_grad_()
    y = F.rrelu(x, 0.2, 0.4, training=True)
    pf.backward(y.sum())
    out, grad = y.numpy(), x.grad.numpy()
    positive = a > 0
    np.testing.assert_array_equal(out[positive], a[positive])
    np.testing.assert_array_equal(grad[positive], 1.0)
    slopes = grad[~positive]
    assert np.all((slopes >= 0.2) & (slopes < 0.4)) and np.unique(slopes).size > 10
    np.testing.assert_allclose(out[~positive], a[~positive] * slopes, rtol=1e-6)
    again = F.rrelu(pf.from_numpy(a, layout=layout), 0.2, 0.4, training=True).numpy()
    assert not np.array_equal(again, out)
    one, two = (F.rrelu(pf.from_numpy(a), training=True, seed=5).numpy() for _ in range(2))
    np.testing.assert_array_equal(one, two)
    layer = nn.RReLU(0.2, 0.4)
    np.testing.assert_allclose(
        layer.eval()(pf.from_numpy(a)).numpy(), np.where(positive, a, a * 0.3), rtol=1e-6
    )
    assert not np.allclose(layer.train()(pf.from_numpy(a)).numpy(), np.where(positive, a, a * 0.3))


def test_hardshrink_method_and_function_as_torch():
    a = values(4, 6)
    x, t = pf.from_numpy(a, layout=GRID), torch.from_numpy(a)
    np.testing.assert_array_equal(x.hardshrink(1.0).numpy(), t.hardshrink(1.0).numpy())
    np.testing.assert_array_equal(pf.hardshrink(x).numpy(), torch.hardshrink(t).numpy())
    half = x.astype(pf.float16)
    np.testing.assert_array_equal(
        F.softshrink(half).numpy(), torch.nn.functional.softshrink(t.half()).numpy()
    )


def test_shrink_softmin_softmax2d_errors_and_warnings_as_torch():
    x = pf.from_numpy(rand(3, 4))
    with pytest.raises(RuntimeError, match=r"test_activations.py:\d+: lambda must be in range"):
        F.softshrink(x, -1.0)
    with pytest.raises(NotImplementedError, match=r"test_activations.py:\d+: softshrink"):
        F.softshrink(pf.from_numpy(np.arange(3, dtype=np.int32)))
    with pytest.raises(NotImplementedError, match=r"test_activations.py:\d+: hardshrink"):
        pf.from_numpy(np.arange(3, dtype=np.int32)).hardshrink()
    with pytest.raises(RuntimeError, match=r"test_activations.py:\d+: Lower bound should be"):
        F.rrelu(x, 0.5, 0.1)
    with pytest.raises(pf.ShapeError, match=r"test_activations.py:\d+: Softmax2d: expected"):
        nn.Softmax2d()(x)
    with pytest.warns(UserWarning, match="Implicit dimension choice for softmin") as caught:
        got = F.softmin(x)
    assert caught[0].filename == __file__
    want = torch.nn.functional.softmin(torch.from_numpy(rand(3, 4)), dim=1)
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6)
    a = rand(2, 3, 4, 5)
    check_layer(lambda m: m.Softmax2d(), a, layout=GRID)
    check_layer(lambda m: m.Softmax2d(), a[0])
    # dtype converts -x first, as torch's
    check_function(
        lambda F, x: F.softmin(
            x, 1, dtype=torch.float16 if F is torch.nn.functional else pf.float16
        ),
        a,
        rtol=2e-3,
        atol=1e-3,
    )
