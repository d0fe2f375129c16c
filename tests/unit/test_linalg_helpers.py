"""torch's linear algebra helpers composed of matmul and elementwise ops (mm, baddbmm, addbmm,
addmv, addr, tensordot, inner, kron, cross, chain_matmul, vdot, ger; addcmul, addcdiv; cdist,
dist, renorm) against torch 2.13: values on odd shapes and meshes that do not divide them,
half dtypes, gradients, PyTorch's errors at the user's line."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import pyflame as pf

pytestmark = pytest.mark.usefixtures("small_target")

LAYOUTS = [None, pf.MeshLayout.grid(2, 3), pf.MeshLayout.row_partition(3)]


def data(shape, seed=0, dtype=np.float32):
    return np.asarray(np.random.default_rng(seed).standard_normal(shape).astype(dtype))


class Pair:
    """The same data as a pf and a torch tensor."""

    def __init__(self, shape, seed=0, layout=None, dtype=np.float32, grad=False):
        a = data(shape, seed, dtype)
        self.pf = pf.from_numpy(a, layout=layout)
        self.t = torch.from_numpy(a)
        if grad:
            self.pf.requires_grad_()
            self.t.requires_grad_()


def check(pairs, rtol=1e-5, atol=1e-5):
    pf.eval(*[p for p, _ in pairs])
    for i, (p, t) in enumerate(pairs):
        got = p.numpy()
        want = t.detach().float().numpy() if t.dtype in (torch.bfloat16,) else t.detach().numpy()
        assert got.shape == want.shape, (i, got.shape, want.shape)
        assert str(p.dtype).split(".")[-1] in str(t.dtype), (i, p.dtype, t.dtype)
        np.testing.assert_allclose(
            got.astype(np.float32),
            want.astype(np.float32),
            rtol=rtol,
            atol=atol,
            err_msg=f"output {i}",
        )


@pytest.mark.parametrize("layout", LAYOUTS, ids=repr)
def test_matrix_products_with_an_input(layout):
    inp, a, b = Pair((5, 7), 0, layout), Pair((5, 3), 1, layout), Pair((3, 7), 2, layout)
    row = Pair((7,), 3, layout)
    b1, b2 = Pair((4, 5, 3), 4, layout), Pair((4, 3, 7), 5, layout)
    v5, v7, v3 = Pair((5,), 6), Pair((7,), 7), Pair((3,), 8)
    nan = np.full((5, 7), np.nan, np.float32)
    cases = [
        (a.pf.mm(b.pf), a.t.mm(b.t)),
        (pf.baddbmm(inp.pf, b1.pf, b2.pf), torch.baddbmm(inp.t, b1.t, b2.t)),
        (
            row.pf.baddbmm(b1.pf, b2.pf, beta=0.5, alpha=-2),
            row.t.baddbmm(b1.t, b2.t, beta=0.5, alpha=-2),
        ),
        (pf.addbmm(inp.pf, b1.pf, b2.pf, alpha=0.25), torch.addbmm(inp.t, b1.t, b2.t, alpha=0.25)),
        (
            pf.addbmm(pf.from_numpy(nan), b1.pf, b2.pf, beta=0),
            torch.addbmm(torch.from_numpy(nan), b1.t, b2.t, beta=0),
        ),
        (pf.addmv(v5.pf, a.pf, v3.pf, beta=2), torch.addmv(v5.t, a.t, v3.t, beta=2)),
        (inp.pf.addr(v5.pf, v7.pf, alpha=3), inp.t.addr(v5.t, v7.t, alpha=3)),
        (pf.addr(row.pf, v5.pf, v7.pf), torch.addr(row.t, v5.t, v7.t)),
        (v3.pf.vdot(v3.pf), v3.t.vdot(v3.t)),
        (pf.ger(v5.pf, v3.pf), torch.ger(v5.t, v3.t)),
        (pf.chain_matmul(a.pf, b.pf, inp.pf.T), torch.linalg.multi_dot([a.t, b.t, inp.t.T])),
    ]
    check(cases)


@pytest.mark.parametrize("layout", LAYOUTS[:2], ids=repr)
def test_tensordot_inner_kron_cross(layout):
    x, y = Pair((3, 4, 5), 0, layout), Pair((4, 3, 2), 1, layout)
    m, n = Pair((2, 5), 2, layout), Pair((3, 2, 5), 3, layout)
    k1, k2 = Pair((2, 3), 4), Pair((3, 1, 2), 5)
    c1, c2 = Pair((4, 3, 5), 6, layout), Pair((4, 3, 5), 7, layout)
    s = Pair((), 8)
    cases = [
        (pf.tensordot(x.pf, y.pf, ([1, 0], [0, 1])), torch.tensordot(x.t, y.t, ([1, 0], [0, 1]))),
        (pf.tensordot(x.pf, x.pf, 3), torch.tensordot(x.t, x.t, 3)),
        (pf.tensordot(m.pf, n.pf, 0), torch.tensordot(m.t, n.t, 0)),
        (pf.tensordot(x.pf, m.pf, dims=([-1], [1])), torch.tensordot(x.t, m.t, dims=([-1], [1]))),
        (pf.inner(m.pf, n.pf), torch.inner(m.t, n.t)),
        (s.pf.inner(m.pf), s.t.inner(m.t)),
        (pf.kron(k1.pf, k2.pf), torch.kron(k1.t, k2.t)),
        (k2.pf.kron(s.pf), k2.t.kron(s.t)),
        (pf.cross(c1.pf, c2.pf, dim=1), torch.cross(c1.t, c2.t, dim=1)),
        (c1.pf[:, :, :1].cross(c2.pf, dim=-2), c1.t[:, :, :1].cross(c2.t, dim=-2)),
    ]
    check(cases)
    with pytest.warns(UserWarning, match="without specifying the dim"):
        pf.cross(c1.pf, c2.pf)


def test_integer_kron_and_tensordot_errors():
    a, b = Pair((2, 3), 0, dtype=np.int32), Pair((2, 2), 1, dtype=np.int32)
    check([(pf.kron(a.pf, b.pf), torch.kron(a.t, b.t))])
    x = Pair((3, 4))
    for fn, kind, words in (
        (
            lambda m, t: m.tensordot(t, t, ([0], [1])),
            RuntimeError,
            "contracted dimensions need to match",
        ),
        (
            lambda m, t: m.tensordot(t, t, 3),
            RuntimeError,
            "tensordot expects dims < ndim_a or ndim_b",
        ),
        (lambda m, t: m.inner(t, t.T), RuntimeError, "the last dimension must match"),
        (lambda m, t: t.mm(t[0]), RuntimeError, "mat2 must be a matrix"),
        (lambda m, t: t.mm(t), RuntimeError, "mat1 and mat2 shapes cannot be multiplied"),
        (lambda m, t: m.cross(t, t[None], dim=1), RuntimeError, "same number of dimensions"),
        (lambda m, t: m.cross(t, t, dim=1), RuntimeError, "must have length 3"),
        (lambda m, t: m.addbmm(t, t[None], t[None]), RuntimeError, "Incompatible matrix sizes"),
        (lambda m, t: m.baddbmm(t, t[None], t.T[None]), RuntimeError, "The expanded size"),
        (lambda m, t: m.renorm(t, 0, 0, 1.0), RuntimeError, "non-positive-norm"),
        (lambda m, t: m.renorm(t[0], 2, 0, 1.0), RuntimeError, "at least 2 dimensions"),
        (lambda m, t: m.cdist(t, t, -1), RuntimeError, "non-negative p"),
    ):
        with pytest.raises(kind, match=words):
            fn(torch, x.t)
        with pytest.raises((kind, ValueError), match=words) as got:
            fn(pf, x.pf)
        assert "test_linalg_helpers.py" in str(got.value)


@pytest.mark.parametrize("dtype", [np.float32, np.int32, "bfloat16", np.float16])
def test_addcmul_addcdiv(dtype):
    shape = [(5, 7), (7,), (5, 1)]
    arrays = [data(s, i) * 3 for i, s in enumerate(shape)]
    if dtype == "bfloat16":
        tens = [torch.from_numpy(a).bfloat16() for a in arrays]
        pfs = [pf.from_numpy(a, layout=pf.MeshLayout.grid(2, 3)).bfloat16() for a in arrays]
    else:
        arrays = [a.astype(dtype) for a in arrays]
        tens = [torch.from_numpy(a) for a in arrays]
        pfs = [pf.from_numpy(a, layout=pf.MeshLayout.grid(2, 3)) for a in arrays]
    value = 2 if dtype is np.int32 else 0.5
    cases = [
        (pf.addcmul(*pfs, value=value), torch.addcmul(*tens, value=value)),
        (pfs[0].addcmul(pfs[1], pfs[2], value=3), tens[0].addcmul(tens[1], tens[2], value=3)),
    ]
    if dtype is not np.int32:
        cases += [
            (pf.addcdiv(*pfs, value=value), torch.addcdiv(*tens, value=value)),
            (pfs[2].addcdiv(pfs[0], pfs[1]), tens[2].addcdiv(tens[0], tens[1])),
        ]
    else:
        with pytest.raises(RuntimeError, match="Integer division with addcdiv"):
            pf.addcdiv(*pfs)
        with pytest.raises(RuntimeError, match="value must not be a floating point"):
            pf.addcmul(*pfs, value=0.5)
    tol = {"bfloat16": 1e-2, np.float16: 1e-3}.get(dtype, 1e-6)
    check(cases, rtol=tol, atol=tol)


@pytest.mark.parametrize("layout", LAYOUTS[:2], ids=repr)
def test_cdist_dist_renorm(layout):
    x1, x2 = Pair((2, 5, 3), 0, layout), Pair((4, 3), 1, layout)
    same = x1.pf[0, :4].detach()
    cases = []
    for p in (0, 1, 2, 3.5, float("inf")):
        cases.append((pf.cdist(x1.pf, x2.pf, p), torch.cdist(x1.t, x2.t, p)))
    cases += [
        (pf.cdist(same, same), torch.cdist(x1.t[0, :4], x1.t[0, :4])),
        (x1.pf.dist(x2.pf[:1]), x1.t.dist(x2.t[:1])),
        (pf.dist(x1.pf, x2.pf[:1], 1), torch.dist(x1.t, x2.t[:1], 1)),
        (x1.pf.renorm(2, 1, 1.5), x1.t.renorm(2, 1, 1.5)),
        (pf.renorm(x1.pf, 1, -1, 2.0), torch.renorm(x1.t, 1, -1, 2.0)),
    ]
    check(cases, rtol=2e-5)
    with pytest.raises(RuntimeError, match="same number of columns"):
        pf.cdist(x1.pf, x2.pf[:, :2])
    with pytest.raises(RuntimeError, match="floating-point"):
        pf.cdist(pf.zeros(2, 2, dtype=pf.int32), pf.zeros(2, 2, dtype=pf.int32))
    with pytest.raises(NotImplementedError, match="\"cdist\" not implemented for 'Half'"):
        pf.cdist(x1.pf.half(), x1.pf.half())


@pytest.mark.parametrize("layout", LAYOUTS[:2], ids=repr)
def test_dist_promotes_its_operands_first_as_torch(layout):
    """torch.dist of an int and a float tensor is the float distance (the operands promote);
    two integer tensors are refused (PyFlame refused any integer operand)."""
    rng = np.random.default_rng(4)
    ints = rng.integers(-5, 5, (3, 7)).astype(np.int32)
    floats, halves = rng.standard_normal((3, 7)).astype(np.float32), rng.standard_normal(7)
    i, f = pf.from_numpy(ints, layout=layout), pf.from_numpy(floats, layout=layout)
    h = pf.from_numpy(halves.astype(np.float16))
    ti, tf, th = torch.from_numpy(ints), torch.from_numpy(floats), torch.from_numpy(halves).half()
    got = [pf.dist(i, f), i.dist(f, 1), pf.dist(i, h, 3), pf.dist(h, h)]
    want = [torch.dist(ti, tf), ti.dist(tf, 1), torch.dist(ti, th, 3), torch.dist(th, th)]
    for g, w in zip(got, want, strict=True):
        assert g.dtype.name == str(w.dtype).removeprefix("torch.")
        np.testing.assert_allclose(g.numpy().astype(np.float32), w.float().numpy(), rtol=2e-3)
    with pytest.raises(RuntimeError, match="floating point or complex"):
        pf.dist(i, i)


def test_gradients_match_torch():
    inp, b1, b2 = (
        Pair((5, 7), 0, grad=True),
        Pair((3, 5, 2), 1, grad=True),
        Pair((3, 2, 7), 2, grad=True),
    )
    x1, x2 = Pair((4, 3), 3, grad=True), Pair((6, 3), 4, grad=True)
    k = Pair((2, 3), 5, grad=True)
    for lib, w in ((pf, "pf"), (torch, "t")):
        g = lambda p, w=w: getattr(p, w)  # noqa: E731
        loss = (
            lib.addbmm(g(inp), g(b1), g(b2), beta=0.5).square().sum()
            + lib.baddbmm(g(inp), g(b1), g(b2), alpha=2).sum()
            + lib.cdist(g(x1), lib.cat([g(x2), g(x1)[:1]])).sum()
            + lib.kron(g(k), g(k)).sum()
            + lib.tensordot(g(k), g(x1)[:2], ([0], [0])).square().sum()
            + lib.addcdiv(g(x1), g(x1), g(x2)[:4].abs() + 1, value=0.3).sum()
            + g(x1).renorm(2, 0, 1.0).sum()
        )
        loss.backward()
    for p in (inp, b1, b2, x1, x2, k):
        np.testing.assert_allclose(p.pf.grad.numpy(), p.t.grad.numpy(), rtol=1e-4, atol=1e-5)
