"""einsum (pyflame/ops/einsum.py) through the whole pipeline against PyTorch: the common
contractions of attention and linear layers, transposes, outer and elementwise products,
ellipses, implicit outputs, every layout, gradients and errors."""

from __future__ import annotations

import numpy as np
import pytest
from layouts import LAYOUTS

import pyflame as pf

torch = pytest.importorskip("torch")

pytestmark = pytest.mark.usefixtures("small_target")

SHAPES = {"A": (3, 4, 5), "B": (3, 5, 6), "C": (4, 5), "D": (5, 7), "u": (4,), "v": (5,)}
CASES = [
    ("bij,bjk->bik", "AB"),
    ("ij->ji", "C"),
    ("ij", "C"),
    ("i,j->ij", "uv"),
    ("ij,j->i", "Cv"),
    ("bij,bkj->bik", "AA"),
    ("ij,ij->", "CC"),
    ("ij,ij->ij", "CC"),
    ("...ij,...jk", "AB"),
    ("bij->j", "A"),
    ("ik,kj", "CD"),
    ("bij,jk->bki", "AD"),
    ("bij,bij->b", "AA"),
    ("ij,jk->", "CD"),
]


def operands(names):
    rng = np.random.default_rng(0)
    arrays = {k: rng.standard_normal(s).astype(np.float32) for k, s in SHAPES.items()}
    return [arrays[n] for n in names]


@pytest.mark.parametrize("layout", LAYOUTS, ids=repr)
def test_einsum_matches_torch(layout):
    got, want = [], []
    for eq, names in CASES:
        arrays = operands(names)
        got.append(pf.einsum(eq, *[pf.from_numpy(a, layout=layout) for a in arrays]))
        want.append(torch.einsum(eq, *[torch.from_numpy(a) for a in arrays]))
    pf.eval(*got)
    for (eq, _), g, w in zip(CASES, got, want, strict=True):
        assert g.shape == tuple(w.shape), eq
        np.testing.assert_allclose(g.numpy(), w.numpy(), rtol=1e-4, atol=1e-5, err_msg=eq)


def test_attention_scores_and_a_list_of_operands():
    rng = np.random.default_rng(1)
    q, k = (rng.standard_normal((2, 3, 5, 4)).astype(np.float32) for _ in range(2))
    got = pf.einsum("bhqd,bhkd->bhqk", [pf.from_numpy(q), pf.from_numpy(k)])
    want = torch.einsum("bhqd,bhkd->bhqk", torch.from_numpy(q), torch.from_numpy(k))
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-4, atol=1e-5)


def test_gradients_match_torch():
    a, d = operands("AD")
    grads = {}
    for lib in (pf, torch):
        x, y = lib.from_numpy(a), lib.from_numpy(d)
        x.requires_grad = y.requires_grad = True
        out = lib.einsum("bij,jk->bki", x, y).pow(2).sum() + lib.einsum("bij->j", x).sum()
        out.backward()
        grads[lib] = (x.grad.numpy(), y.grad.numpy())
    for g, w in zip(grads[pf], grads[torch], strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5)


def test_errors():
    c, d = (pf.from_numpy(a) for a in operands("CD"))
    with pytest.raises(pf.ShapeError, match="subscript j has size 5 and 4"):
        pf.einsum("ij,jk->ik", c, c)
    with pytest.raises(ValueError, match="does not match the number of dimensions"):
        pf.einsum("ijk,jk->ik", c, d)
    with pytest.raises(ValueError, match="does not appear in the equation"):
        pf.einsum("ij,jk->iz", c, d)
    with pytest.raises(NotImplementedError, match="diagonal"):
        pf.einsum("ii->i", pf.ones(3, 3))
