"""torch functions of small families: mode, vander, diagflat, rsub, t, adjoint, the Tensor
methods as functions (pf.numel, pf.clone, ...) and pf.special, against torch 2.13."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import pyflame as pf

pytestmark = pytest.mark.usefixtures("small_target")


def check(cases, rtol=1e-6, atol=1e-6):
    pf.eval(*[p for p, _ in cases])
    for i, (p, t) in enumerate(cases):
        got, want = p.numpy(), t.detach().numpy()
        assert got.shape == want.shape, (i, got.shape, want.shape)
        np.testing.assert_allclose(
            got, want, rtol=rtol, atol=atol, equal_nan=True, err_msg=f"output {i}"
        )


@pytest.mark.parametrize("layout", [None, pf.MeshLayout.grid(2, 3)], ids=repr)
def test_mode(layout):
    a = np.random.default_rng(0).integers(0, 4, (5, 7)).astype(np.float32)
    x, t = pf.from_numpy(a, layout=layout), torch.from_numpy(a)
    i, j = pf.tensor([2, 2, 1, 1, 7, 2, 1]), torch.tensor([2, 2, 1, 1, 7, 2, 1])
    cases = [
        *zip(pf.mode(x), torch.mode(t), strict=True),
        *zip(x.mode(0, keepdim=True), t.mode(0, keepdim=True), strict=True),
        *zip(pf.mode(x, -2), torch.mode(t, -2), strict=True),
        *zip(pf.mode(i), torch.mode(j), strict=True),
        *zip(pf.mode(pf.tensor(3.0)), torch.mode(torch.tensor(3.0)), strict=True),
    ]
    check(cases)


def test_vander_diagflat_rsub_t_adjoint():
    v, w = pf.tensor([1.5, -2.0, 0.5]), torch.tensor([1.5, -2.0, 0.5])
    iv, iw = pf.tensor([1, 2, 3]), torch.tensor([1, 2, 3])
    m, n = pf.tensor([[1.0, 2.0], [3.0, 4.0]]), torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    b3, c3 = pf.ones(2, 3, 4), torch.ones(2, 3, 4)
    cases = [
        (pf.vander(v), torch.vander(w)),
        (pf.vander(v, N=5, increasing=True), torch.vander(w, N=5, increasing=True)),
        (pf.vander(iv), torch.vander(iw)),
        (pf.vander(pf.tensor([True, False])), torch.vander(torch.tensor([True, False]))),
        (pf.vander(v, N=1), torch.vander(w, N=1)),
        (pf.diagflat(m, 1), torch.diagflat(n, 1)),
        (m.diagflat(-2), n.diagflat(-2)),
        (pf.rsub(m, 3, alpha=2), torch.rsub(n, 3, alpha=2)),
        (pf.rsub(m, v[:2]), torch.rsub(n, w[:2])),
        (pf.t(m), torch.t(n)),
        (pf.t(v), torch.t(w)),
        (pf.adjoint(b3), torch.adjoint(c3)),
    ]
    check(cases)


def test_tensor_methods_as_functions():
    x, t = pf.tensor([[1.0, 0.0]]), torch.tensor([[1.0, 0.0]])
    for name in ("numel", "is_floating_point", "is_complex", "is_conj", "is_neg"):
        assert getattr(pf, name)(x) == getattr(torch, name)(t), name
    assert pf.is_nonzero(x[0, :1]) and pf.is_same_size(x, x.clone())
    assert pf.conj(x) is x and pf.resolve_conj(x) is x and pf.resolve_neg(x) is x
    c = pf.clone(x)
    c.add_(1)
    d = pf.detach(x)
    assert x.numpy().tolist() == [[1.0, 0.0]] and not d.requires_grad


def test_special():
    a = np.array([-1.0, 0.0, 1e-30, 0.5, 2.0, np.nan, np.inf], np.float32)
    x, t = pf.from_numpy(a), torch.from_numpy(a)
    p, q = pf.from_numpy(np.array([0.2, 0.5, 0.9], np.float32)), torch.tensor([0.2, 0.5, 0.9])
    m, n = pf.from_numpy(a[:5].reshape(1, 5)), torch.from_numpy(a[:5].reshape(1, 5))
    S, T = pf.special, torch.special
    cases = [
        (S.entr(x), T.entr(t)),
        (S.xlog1py(x, 0.5), T.xlog1py(t, 0.5)),
        (
            S.xlog1py(pf.tensor([0.0, 2.0, 0.0]), pf.tensor([-1.0, -0.5, float("nan")])),
            T.xlog1py(torch.tensor([0.0, 2.0, 0.0]), torch.tensor([-1.0, -0.5, float("nan")])),
        ),
        (S.xlogy(x, 2.0), T.xlogy(t, 2.0)),
        (S.expit(x), T.expit(t)),
        (S.logit(p), T.logit(q)),
        (S.erf(x), T.erf(t)),
        (S.erfinv(p), T.erfinv(q)),
        (S.sinc(x), T.sinc(t)),
        (S.log1p(x), T.log1p(t)),
        (S.expm1(m), T.expm1(n)),
        (S.exp2(m), T.exp2(n)),
        (S.round(m * 3), T.round(n * 3)),
        (S.softmax(m, 1), T.softmax(n, 1)),
        (S.log_softmax(m, 1), T.log_softmax(n, 1)),
        (S.logsumexp(m, 1), T.logsumexp(n, 1)),
    ]
    check(cases, rtol=2e-6, atol=1e-7)
    grads = []
    for lib in (pf, torch):
        v = lib.tensor([0.5, 2.0, 3.0], requires_grad=True)
        y = lib.tensor([0.0, 0.5, -0.25], requires_grad=True)
        (lib.special.entr(v).sum() + lib.special.xlog1py(v, y).sum()).backward()
        grads.append((v.grad.numpy(), y.grad.numpy()))
    for got, want in zip(*grads, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-6)


@pytest.mark.slow  # (one of the suite's slowest: run with -m slow)
def test_digamma_and_polygamma():
    """PyTorch's algorithms (calc_digamma, calc_trigamma) step by step: within 2e-6 of
    PyTorch's values (its reflection takes tan in double), NaN and inf where PyTorch's are."""
    a = np.concatenate(
        [
            np.linspace(-12.3, 31.7, 301),
            [1e-30, 1e-3, 0.5, 1.0, 2.0, 10.0, 1e6, -0.5, 0.0, -0.0, -3.0, np.inf, np.nan],
        ]
    ).astype(np.float32)
    x, t = pf.from_numpy(a, layout=pf.MeshLayout.grid(2, 3)), torch.from_numpy(a)
    i, j = pf.tensor([1, 4, 7]), torch.tensor([1, 4, 7])
    y, u = x.clone(), t.clone()
    y.digamma_()
    u.digamma_()
    check(
        [
            (pf.digamma(x), torch.digamma(t)),
            (pf.special.psi(x), torch.special.psi(t)),
            (x.polygamma(1), t.polygamma(1)),
            (pf.special.polygamma(0, i), torch.special.polygamma(0, j)),
            (i.digamma(), j.digamma()),
            (y, u),
        ],
        rtol=2e-6,
        atol=2e-6,
    )
    grads = []
    for lib in (pf, torch):
        v = lib.tensor([0.3, 1.0, 2.5, 10.0, 55.0, -0.5, -3.7], requires_grad=True)
        lib.digamma(v).sum().backward()
        grads.append(v.grad.numpy())
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-6)
    with pytest.raises(NotImplementedError, match="Hurwitz zeta"):
        pf.polygamma(2, x)


@pytest.mark.slow  # (one of the suite's slowest: run with -m slow)
def test_lgamma_and_multigammaln():
    """lgamma: relative accuracy near its zeros at 1 and 2 (within 1e-6 of PyTorch's for x > 0),
    the reflection for x < 0 (absolute 1e-5: PyTorch's libm is relative there too), inf at the
    poles, NaN at NaN; gradient digamma as PyTorch's. (One lgamma per program: its unrolled
    series make a large graph.)"""
    pos = np.concatenate(
        [
            np.linspace(1e-4, 30, 257),
            np.linspace(0.95, 1.05, 21),
            np.linspace(1.95, 2.05, 21),
            [1e-30, 1e6, 1e30],
        ]
    ).astype(np.float32)
    neg = np.linspace(-9.97, -0.03, 97).astype(np.float32)
    special = np.array([0.0, -0.0, -3.0, np.inf, -np.inf, np.nan, 4.0], np.float32)
    every = np.concatenate([pos, neg, special])
    x, t = pf.from_numpy(every, layout=pf.MeshLayout.grid(2, 3)), torch.from_numpy(every)
    x.lgamma_()
    t.lgamma_()
    got, want = x.numpy(), t.numpy()
    np.testing.assert_allclose(got[: len(pos)], want[: len(pos)], rtol=1e-6, atol=0)
    np.testing.assert_allclose(
        got[len(pos) :], want[len(pos) :], rtol=1e-6, atol=1e-5, equal_nan=True
    )
    assert pf.special.gammaln is pf.lgamma
    m, q = pf.tensor([[2.5, 3.0], [1.7, 0.9]]), torch.tensor([[2.5, 3.0], [1.7, 0.9]])
    check([(pf.mvlgamma(m, 3), torch.mvlgamma(q, 3))], rtol=1e-6)  # 0.9 - 1: below the domain
    grads = []
    for lib in (pf, torch):
        z = lib.tensor([0.3, 1.0, 2.5, 10.0, 55.0, -0.5, -3.7], requires_grad=True)
        lib.lgamma(z).sum().backward()
        grads.append(z.grad.numpy())
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-6, atol=1e-7)  # (digamma's zero by -0.5)


def test_erfc_and_ndtr():
    """erfc keeps its relative accuracy in the tail (within 4e-7 of PyTorch's down to the
    float32 underflow); ndtr as well, where PyTorch 2.13's float32 ndtr computes 0.5 (1 +
    erf(t)) and loses the lower tail (ndtr(-5.55): 2.98e-8 there, 1.40e-8 truly): checked
    against mpmath there, against torch elsewhere."""
    mpmath = pytest.importorskip("mpmath")
    a = np.concatenate(
        [np.linspace(-6, 9.5, 1201), [0.4999, 0.5, 2.4999, 2.5, np.inf, -np.inf, np.nan, -0.0]]
    )
    a = a.astype(np.float32)
    x, t = pf.from_numpy(a, layout=pf.MeshLayout.grid(2, 3)), torch.from_numpy(a)
    y, u = x.clone(), t.clone()
    y.erfc_()
    u.erfc_()
    grid = np.linspace(-12, 8, 401).astype(np.float32)
    n = pf.special.ndtr(pf.from_numpy(grid))
    check(
        [
            (pf.erfc(x), torch.erfc(t)),
            (pf.special.erfc(x[:20]), torch.special.erfc(t[:20])),
            (y, u),
        ],
        rtol=4e-7,
        atol=3e-45,  # (one subnormal ulp)
    )
    got = n.numpy()
    central = grid > -3
    np.testing.assert_allclose(
        got[central],
        torch.special.ndtr(torch.from_numpy(grid[central])).numpy(),
        rtol=2e-7,
        atol=1e-7,
    )
    exact = np.array([float(mpmath.ncdf(float(v))) for v in grid], np.float64)
    # (float32's rounding of x / sqrt(2) alone is amplified by 2 t^2 there: 1e-5 at x = -12)
    np.testing.assert_allclose(got, exact, rtol=2e-5)
    grads = []
    for lib in (pf, torch):
        z = lib.tensor([-2.0, 0.0, 0.7, 3.0, 8.0], requires_grad=True)
        lib.erfc(z).sum().backward()
        grads.append(z.grad.numpy())
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-6)


@pytest.mark.slow  # (one of the suite's slowest: run with -m slow)
def test_modified_bessel_functions():
    """i0, i0e, i1, i1e: Chebyshev series fitted to mpmath, within 1e-6 of PyTorch's (NaN at
    +-inf for i0 and i1, as PyTorch's); gradients PyTorch's formulas."""
    a = np.concatenate([np.linspace(-90, 90, 721), [0.0, 7.99, 8.0, 8.01, np.inf, -np.inf, np.nan]])
    a = a.astype(np.float32)
    x, t = pf.from_numpy(a), torch.from_numpy(a)
    S, T = pf.special, torch.special
    y, u = x[:40].clone(), t[:40].clone()
    y.i0_()
    u.i0_()
    check(
        [
            (pf.i0(x), torch.i0(t)),
            (S.i0e(x), T.i0e(t)),
            (S.i1(x), T.i1(t)),
            (S.i1e(x), T.i1e(t)),
            (y, u),
        ],
        rtol=1e-6,
        atol=1e-37,
    )
    grads = []
    for lib in (pf, torch):
        z = lib.tensor([-9.0, -1.5, 0.0, 0.5, 3.0, 12.0], requires_grad=True)
        (lib.i0(z) + lib.special.i0e(z) + lib.special.i1(z) + lib.special.i1e(z)).sum().backward()
        grads.append(z.grad.numpy())
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-5)
