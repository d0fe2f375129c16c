"""tril, triu and masked_fill (pyflame/ops/masking.py) through the whole pipeline against
PyTorch: diagonals, batched inputs, odd shapes, broadcast masks, tensor and scalar values,
every layout, and gradients."""

from __future__ import annotations

import numpy as np
import pytest
from layouts import LAYOUTS

import pyflame as pf

torch = pytest.importorskip("torch")

pytestmark = pytest.mark.usefixtures("small_target")


def data(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("layout", LAYOUTS, ids=repr)
def test_tril_triu_match_torch(layout):
    a, b = data((7, 5)), data((2, 4, 6), seed=1)
    x, y = pf.from_numpy(a, layout=layout), pf.from_numpy(b)
    t, u = torch.from_numpy(a), torch.from_numpy(b)
    cases = [(pf.tril(x), torch.tril(t)), (pf.triu(x), torch.triu(t))]
    for d in (-2, 1, 3, 9, -9):
        cases += [(x.tril(d), t.tril(d)), (pf.triu(x, diagonal=d), torch.triu(t, diagonal=d))]
    cases += [(y.triu(1), u.triu(1)), (pf.tril(y, -1), torch.tril(u, -1))]
    cases += [(pf.triu(x @ x.transpose(0, 1), 1), torch.triu(t @ t.T, 1))]
    pf.eval(*[c[0] for c in cases])
    for i, (got, want) in enumerate(cases):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-5, err_msg=str(i))


def test_tril_of_int_and_bool_keeps_the_dtype():
    k = np.arange(12, dtype=np.int32).reshape(3, 4)
    got = pf.tril(pf.from_numpy(k))
    assert got.dtype == pf.int32
    np.testing.assert_array_equal(got.numpy(), torch.tril(torch.from_numpy(k)).numpy())
    mask = pf.triu(pf.ones(4, 4, dtype=pf.bool), 1)
    assert mask.dtype == pf.bool
    np.testing.assert_array_equal(mask.numpy(), torch.triu(torch.ones(4, 4, dtype=torch.bool), 1))
    with pytest.raises(pf.ShapeError, match="at least 2 dimensions"):
        pf.tril(pf.ones(3))


@pytest.mark.parametrize("layout", LAYOUTS, ids=repr)
def test_masked_fill_matches_torch(layout):
    a = data((2, 5, 7))
    x, t = pf.from_numpy(a, layout=layout), torch.from_numpy(a)
    rows = pf.from_numpy(a[0, :, :1] > 0)  # [5, 1]: broadcast along the last dim
    rows_t = torch.from_numpy(a[0, :, :1] > 0)
    causal = pf.triu(pf.ones(5, 7, dtype=pf.bool), 1)
    causal_t = torch.triu(torch.ones(5, 7, dtype=torch.bool), 1)
    value = pf.from_numpy(np.array(2.5, np.float32))
    cases = [
        (x.masked_fill(x > 0, 0.0), t.masked_fill(t > 0, 0.0)),
        (pf.masked_fill(x, causal, float("-inf")), t.masked_fill(causal_t, float("-inf"))),
        (x.masked_fill(rows, value), t.masked_fill(rows_t, torch.tensor(2.5))),
        (x.masked_fill(x < 0, 3), t.masked_fill(t < 0, 3)),
    ]
    pf.eval(*[c[0] for c in cases])
    for i, (got, want) in enumerate(cases):
        assert got.dtype == pf.float32
        np.testing.assert_array_equal(got.numpy(), want.numpy(), err_msg=str(i))


def test_masked_fill_errors_and_int_inputs():
    k = np.arange(6, dtype=np.int32).reshape(2, 3)
    x = pf.from_numpy(k)
    got = x.masked_fill(x > 2, -1)
    assert got.dtype == pf.int32
    np.testing.assert_array_equal(got.numpy(), [[0, 1, 2], [-1, -1, -1]])
    with pytest.raises(RuntimeError, match="only supports boolean masks"):
        x.masked_fill(x, 0)
    with pytest.raises(RuntimeError, match="0-dimensional value tensor"):
        x.masked_fill(x > 2, pf.ones(3))
    with pytest.raises(pf.ShapeError, match="cannot be broadcast"):
        x.masked_fill(pf.ones(4, 3, 3, dtype=pf.bool), 0)
    wide = pf.from_numpy(np.arange(3, dtype=np.int32)).masked_fill(pf.ones(2, 3, dtype=pf.bool), 7)
    np.testing.assert_array_equal(wide.numpy(), [[7, 7, 7], [7, 7, 7]])  # torch's broadcast


def test_gradients_match_torch():
    a, v = data((4, 6)), np.array(1.5, np.float32)
    outs = {}
    for lib in (pf, torch):
        x = lib.from_numpy(a)
        value = lib.from_numpy(v)
        x.requires_grad = value.requires_grad = True
        mask = lib.from_numpy(a > 0.3)
        y = lib.tril(x, 1) * 2 + lib.triu(x * x, -1) + x.masked_fill(mask, value)
        loss = (y * lib.from_numpy(data((4, 6), seed=5))).sum()
        loss.backward()
        outs[lib] = (x.grad.numpy(), value.grad.numpy())
    for got, want in zip(outs[pf], outs[torch], strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------- diagonals


@pytest.mark.parametrize("layout", LAYOUTS, ids=repr)
def test_diag_diag_embed_diagonal_scatter_match_torch(layout):
    """Bit for bit (a where picks each value: -0.0, NaN and inf stay), odd sizes, every
    offset sign, dims in either order."""
    v, m, b = data(5), data((4, 6), seed=1), data((2, 3), seed=2)
    v[1], v[2], m[1, 1] = -0.0, np.nan, np.inf
    big = data((3, 4, 2), seed=4)
    cases = []
    for lib in (pf, torch):
        put = (lambda a: pf.from_numpy(a, layout=layout)) if lib is pf else torch.from_numpy
        x, y, z = put(v), put(m), put(b)
        cases.append(
            [lib.diag(x), lib.diag(x, 2), x.diag(-3), lib.diag(y), lib.diag(y, 1), y.diag(-2)]
            + [lib.diag(y, 9), lib.diag_embed(z), z.diag_embed(1), lib.diag_embed(z, -2, 0, 2)]
            + [lib.diag_embed(z, 1, 2, 0), lib.diag_embed(x, 0, -1, -2)]
            + [lib.diagonal_scatter(put(big), z, 0, 0, 1), lib.diagonal_scatter(y, z[0], -1)]
            + [y.diagonal_scatter(x[:4], 2), lib.diagonal_scatter(put(big), z * 2, -1, 1, 0)]
        )
    pf.eval(*cases[0])
    for i, (got, want) in enumerate(zip(*cases, strict=True)):
        assert got.shape == tuple(want.shape), i
        assert got.numpy().tobytes() == want.numpy().tobytes(), i


def test_diag_family_keeps_int_and_bool_and_empty_shapes():
    for dtype in ("int32", "bool"):
        a = np.array([1, 0, 3], np.int32)
        x, t = (
            pf.from_numpy(a).to(getattr(pf, dtype)),
            torch.from_numpy(a).to(getattr(torch, dtype)),
        )
        for got, want in [
            (pf.diag(x, 1), torch.diag(t, 1)),
            (pf.diag_embed(x, -1), torch.diag_embed(t, -1)),
            (pf.diag(pf.diag(x)), torch.diag(torch.diag(t))),
        ]:
            assert got.dtype is getattr(pf, dtype)
            np.testing.assert_array_equal(got.numpy(), want.numpy())
    empty = [pf.diag(pf.zeros(0)), pf.diag(pf.zeros(0), 2), pf.diag(pf.zeros(0, 3))]
    want = [
        torch.diag(torch.zeros(0)),
        torch.diag(torch.zeros(0), 2),
        torch.diag(torch.zeros(0, 3)),
    ]
    for g, w in zip(empty, want, strict=True):
        assert g.shape == tuple(w.shape)
        np.testing.assert_array_equal(g.numpy(), w.numpy())


def test_diag_family_errors_as_torch():
    with pytest.raises(pf.ShapeError, match=r"diag\(\): Supports 1D or 2D tensors. Got 3D"):
        pf.diag(pf.ones(2, 2, 2))
    with pytest.raises(pf.ShapeError, match="Got 0D"):
        pf.diag(pf.ones(()))
    with pytest.raises(pf.ShapeError, match="cannot be identical"):
        pf.diag_embed(pf.ones(3), 0, 0, -2)
    with pytest.raises(pf.ShapeError, match="out of range"):  # torch's IndexError
        pf.diag_embed(pf.ones(()))
    with pytest.raises(pf.ShapeError, match=r"src size = \[2\], slice size = \[3\]"):
        pf.diagonal_scatter(pf.ones(3, 4), pf.ones(2))
    with pytest.raises(pf.ShapeError, match="test_masking.py"):
        pf.diagonal_scatter(pf.ones(3, 4), pf.ones(3), 0, 1, 1)


def test_diag_family_gradients_match_torch():
    v, m, w = data(4), data((5, 3), seed=1), data((2, 4), seed=2)
    grads = {}
    for lib in (pf, torch):
        x, y, z = (lib.from_numpy(a) for a in (v, m, w))
        for t in (x, y, z):
            t.requires_grad = True
        weight = lib.from_numpy(data((5, 5), seed=3))
        loss = (lib.diag(x, 1) * weight).sum() + (lib.diag(y, -1) ** 2).sum()
        loss = loss + (lib.diag_embed(z, -1, 0, 2) * lib.from_numpy(data((5, 2, 5), seed=4))).sum()
        scattered = lib.diagonal_scatter(y * 1, x[:3] * 2, -1)
        loss = loss + (scattered * lib.from_numpy(data((5, 3), seed=5))).sum()
        loss.backward()
        grads[lib] = [t.grad.numpy() for t in (x, y, z)]
    for got, want in zip(grads[pf], grads[torch], strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
