"""pf.linalg (pyflame/linalg.py) against torch.linalg 2.13: det, slogdet, logdet, inv, solve,
cholesky by elimination on the device (odd sizes, batches, layouts, gradients, singular and
non-positive-definite matrices as PyTorch's errors after the run), and the norms."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import pyflame as pf

pytestmark = pytest.mark.usefixtures("small_target")


def rand(shape, seed=0):
    return np.asarray(np.random.default_rng(seed).standard_normal(shape).astype(np.float32))


def spd(shape, seed=0):
    a = rand(shape, seed)
    return np.asarray(a @ np.swapaxes(a, -1, -2) + np.eye(shape[-1], dtype=np.float32) * 0.5)


def check(cases, rtol=2e-4, atol=2e-5):
    pf.eval(*[p for p, _ in cases])
    for i, (p, t) in enumerate(cases):
        got, want = p.numpy(), t.detach().numpy()
        assert got.shape == want.shape, (i, got.shape, want.shape)
        np.testing.assert_allclose(
            got, want, rtol=rtol, atol=atol, equal_nan=True, err_msg=f"output {i}"
        )


@pytest.mark.slow  # (one of the suite's slowest: run with -m slow)
def test_factorisations_match_torch():
    """Inputs under the default layout and a 2x3 grid (one program: the unrolled steps make a
    large graph)."""
    a5, a3b = rand((5, 5), 1), rand((2, 3, 3, 3), 2)
    a1 = rand((1, 1), 3)
    b5, b3 = rand((5, 2), 4), rand((3, 3, 4), 5)  # b3's batch broadcasts against a3b's
    s4 = spd((3, 4, 4), 6)
    perm = np.eye(4, dtype=np.float32)[[2, 0, 3, 1]] * 2.0  # needs pivoting (zeros on the diagonal)
    grid = pf.MeshLayout.grid(2, 3)
    P = lambda a: pf.from_numpy(a, layout=grid if a.ndim == 2 else None)  # noqa: E731
    T = torch.from_numpy
    cases = [
        (pf.linalg.det(P(a5)), torch.linalg.det(T(a5))),
        (pf.det(P(a1)), torch.det(T(a1))),
        (pf.linalg.det(P(perm)), torch.linalg.det(T(perm))),
        *zip(pf.linalg.slogdet(P(a3b)), torch.linalg.slogdet(T(a3b)), strict=True),
        (pf.logdet(P(s4)), torch.logdet(T(s4))),
        (pf.logdet(P(-np.abs(a1))), torch.logdet(T(-np.abs(a1)))),  # NaN: a negative det
        (pf.inverse(P(a5)), torch.inverse(T(a5))),
        (pf.linalg.solve(P(a5), P(b5)), torch.linalg.solve(T(a5), T(b5))),
        (pf.linalg.solve(P(a5), P(b5[:, 0])), torch.linalg.solve(T(a5), T(b5[:, 0]))),
        (pf.linalg.solve(P(a3b), P(b3)), torch.linalg.solve(T(a3b), T(b3))),
        (
            pf.linalg.solve(P(a5), P(b5.T), left=False),
            torch.linalg.solve(T(a5), T(b5.T), left=False),
        ),
        (pf.linalg.cholesky(P(s4)), torch.linalg.cholesky(T(s4))),
        (pf.linalg.cholesky(P(s4[0]), upper=True), torch.linalg.cholesky(T(s4[0]), upper=True)),
        (pf.linalg.det(pf.zeros(2, 0, 0)), torch.linalg.det(torch.zeros(2, 0, 0))),
    ]
    check(cases)


def test_singular_and_indefinite_matrices_are_torchs_errors_after_the_run():
    singular = np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [0.0, 1.0, 5.0]], np.float32)
    check([(pf.linalg.det(pf.from_numpy(singular)), torch.linalg.det(torch.from_numpy(singular)))])
    for fn, words in (
        (
            lambda m, a: m.linalg.inv(a),
            "linalg.inv: The diagonal element 3 is zero, the inversion could not be completed",
        ),
        (lambda m, a: m.linalg.solve(a, a[:, :1]), "singular"),
        (
            lambda m, a: m.linalg.cholesky(a),
            "not positive-definite \\(the leading minor of order 1 is not positive-definite\\)",
        ),
    ):
        bad = singular if "positive-definite" not in words else -np.eye(3, dtype=np.float32)
        with pytest.raises(RuntimeError, match=words):
            fn(torch, torch.from_numpy(bad))
        out = fn(pf, pf.from_numpy(bad))
        with pytest.raises(RuntimeError, match=words) as got:
            out.numpy()
        assert "test_linalg.py" in str(got.value)
    with pytest.raises(RuntimeError, match="must be batches of square matrices"):
        pf.linalg.det(pf.zeros(2, 3))
    with pytest.raises(RuntimeError, match="Expected a floating point"):
        pf.linalg.inv(pf.zeros(2, 2, dtype=pf.int32))


@pytest.mark.slow  # (one of the suite's slowest: run with -m slow)
def test_gradients_match_torch():
    a, b, s = rand((4, 4), 7), rand((4, 2), 8), spd((3, 3), 9)
    grads = []
    for lib in (pf, torch):
        x = lib.tensor(a, requires_grad=True)
        y = lib.tensor(b, requires_grad=True)
        z = lib.tensor(s, requires_grad=True)
        loss = (
            lib.linalg.det(x)
            + lib.linalg.inv(x).square().sum()
            + lib.linalg.solve(x, y).sum()
            + lib.linalg.cholesky(z).tril().square().sum() * 0.5
            + lib.logdet(z)
        )
        loss.backward()
        grads.append([x.grad.numpy(), y.grad.numpy(), z.grad.numpy()])
    for got, want in zip(*grads, strict=True):
        np.testing.assert_allclose(got, want, rtol=2e-3, atol=2e-4)


def test_norms():
    a = rand((3, 4, 5), 10)
    x, t = pf.from_numpy(a), torch.from_numpy(a)
    cases = [
        (pf.linalg.norm(x), torch.linalg.norm(t)),
        (pf.linalg.norm(x, dim=-1), torch.linalg.norm(t, dim=-1)),
        (pf.linalg.norm(x[0], 1), torch.linalg.norm(t[0], 1)),
        (pf.linalg.norm(x[0, 0], 3.5), torch.linalg.norm(t[0, 0], 3.5)),
        (
            pf.linalg.norm(x, float("inf"), (1, 2), keepdim=True),
            torch.linalg.norm(t, float("inf"), (1, 2), keepdim=True),
        ),
        (pf.linalg.vector_norm(x, 0, (0, 2)), torch.linalg.vector_norm(t, 0, (0, 2))),
        (pf.linalg.vector_norm(x, float("-inf")), torch.linalg.vector_norm(t, float("-inf"))),
        (pf.linalg.matrix_norm(x), torch.linalg.matrix_norm(t)),
        (pf.linalg.matrix_norm(x, 1, (0, -1)), torch.linalg.matrix_norm(t, 1, (0, -1))),
        (pf.linalg.matrix_norm(x, -1), torch.linalg.matrix_norm(t, -1)),
        (
            pf.linalg.matrix_norm(x, float("-inf"), keepdim=True),
            torch.linalg.matrix_norm(t, float("-inf"), keepdim=True),
        ),
        (pf.linalg.vecdot(x, x[0]), torch.linalg.vecdot(t, t[0])),
        (pf.linalg.multi_dot([x[0], x[1].T, x[2]]), torch.linalg.multi_dot([t[0], t[1].T, t[2]])),
        (pf.linalg.cross(x[..., :3], x[..., 1:4]), torch.linalg.cross(t[..., :3], t[..., 1:4])),
    ]
    check(cases, rtol=1e-5, atol=1e-5)
    with pytest.raises(NotImplementedError, match="singular values"):
        pf.linalg.matrix_norm(x, "nuc")
    with pytest.raises(RuntimeError, match="must be 1D or 2D"):
        pf.linalg.norm(x, 2)


@pytest.mark.slow  # (one of the suite's slowest: run with -m slow)
def test_methods_and_matrix_power():
    a, s = rand((3, 3), 11), spd((2, 3, 3), 12)
    x, t = pf.from_numpy(a), torch.from_numpy(a)
    y, u = pf.from_numpy(s), torch.from_numpy(s)
    with pytest.warns(UserWarning, match="torch.cholesky is deprecated"):
        lower = y.cholesky()
    cases = [
        (x.det(), t.det()),
        (x.inverse(), t.inverse()),
        (lower, torch.linalg.cholesky(u)),
        (x.matrix_power(5), t.matrix_power(5)),
        (pf.linalg.matrix_power(y, -2), torch.linalg.matrix_power(u, -2)),
        (pf.matrix_power(x, 0), torch.matrix_power(t, 0)),
        (x.matrix_power(1), t.matrix_power(1)),
        (y.mvlgamma(2), u.mvlgamma(2)),
    ]
    check(cases, rtol=1e-4, atol=1e-5)
    with pytest.warns(UserWarning, match="torch.cholesky is deprecated"):
        pf.cholesky(y)
