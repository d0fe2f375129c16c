"""F.normalize, F.cosine_similarity, F.pairwise_distance (pyflame/nn/distance.py) against
torch: values and gradients, broadcasting, zero vectors, errors."""

from __future__ import annotations

import numpy as np
import pytest

import pyflame as pf

torch = pytest.importorskip("torch")

A = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
ZERO_ROW = A.copy()
ZERO_ROW[1] = 0

CASES = {
    "normalize": lambda F, a, T: F.normalize(a),
    "normalize_p1_dim0": lambda F, a, T: F.normalize(a, 1, 0),
    "normalize_inf_last": lambda F, a, T: F.normalize(a, float("inf"), -1),
    "cosine": lambda F, a, T: F.cosine_similarity(a, T(A[::-1].copy())),
    "cosine_dim0_broadcast": lambda F, a, T: F.cosine_similarity(a, T(A[:1].copy()), dim=0),
    "cosine_rows_broadcast": lambda F, a, T: F.cosine_similarity(a, T(A[1:2].copy()), dim=-1),
    "pairwise": lambda F, a, T: F.pairwise_distance(a, T(A[::-1].copy())),
    "pairwise_p1_keepdim": lambda F, a, T: F.pairwise_distance(
        a, T(A[::-1].copy()), 1, keepdim=True
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_values_and_gradients_match_torch(name):
    # session 23: these were AttributeErrors
    results = {}
    for lib, F, T in (
        ("pf", pf.nn.functional, pf.from_numpy),
        ("torch", torch.nn.functional, lambda a: torch.from_numpy(a.copy())),
    ):
        a = T(A)
        a.requires_grad = True
        out = CASES[name](F, a, T)
        weights = np.arange(out.numel(), dtype=np.float32).reshape(tuple(out.shape))
        (out * T(weights)).sum().backward()
        results[lib] = (np.asarray(out.detach().numpy()), np.asarray(a.grad.numpy()))
    for ours, theirs in zip(results["pf"], results["torch"], strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)


def test_zero_vectors_are_clamped_by_eps_as_torch():
    z, tz = pf.from_numpy(ZERO_ROW), torch.from_numpy(ZERO_ROW.copy())
    F, TF = pf.nn.functional, torch.nn.functional
    for ours, theirs in [
        (F.normalize(z), TF.normalize(tz)),
        (F.cosine_similarity(z, pf.from_numpy(A)), TF.cosine_similarity(tz, torch.from_numpy(A))),
        (F.pairwise_distance(z, z), TF.pairwise_distance(tz, tz)),
    ]:
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6, atol=1e-7)


def test_shapes_that_do_not_broadcast_name_the_line():
    with pytest.raises(pf.ShapeError, match=r"test_distance.py:\d+: cosine_similarity: shapes"):
        pf.nn.functional.cosine_similarity(pf.from_numpy(A), pf.from_numpy(A[:, :3].copy()))
