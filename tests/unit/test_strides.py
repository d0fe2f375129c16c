"""pyflame/core/strides.py against PyTorch's own strides: which reshapes of a view are views."""

from __future__ import annotations

import numpy as np
import pytest

from pyflame.core import strides

torch = pytest.importorskip("torch")


def test_contiguous_and_is_contiguous():
    assert strides.contiguous((2, 3, 4)) == (12, 4, 1)
    assert strides.contiguous(()) == ()
    assert strides.is_contiguous((2, 1, 4), (4, 99, 1))  # a size-1 dim's stride does not count
    assert not strides.is_contiguous((4, 3), (1, 4))


def test_reshape_strides_match_torchs_view_rule():
    """Random views (transposes, step slices, expands) reshaped to random shapes of the same
    size: strides exist exactly when torch's `view` succeeds, and then equal torch's."""
    rng = np.random.default_rng(0)
    checked = views = 0
    for _ in range(400):
        base = torch.zeros(tuple(int(n) for n in rng.integers(1, 5, rng.integers(2, 5))))
        t = base
        if rng.integers(2):
            t = t.transpose(0, int(rng.integers(1, t.ndim)))
        if rng.integers(2):
            t = t[tuple(slice(None, None, int(rng.integers(1, 3))) for _ in range(t.ndim))]
        if rng.integers(3) == 0:
            t = t.unsqueeze(0).expand(2, *t.shape)
        numel = t.numel()
        factors = [d for d in range(1, numel + 1) if numel % d == 0]
        a = int(rng.choice(factors))
        new = (a, numel // a) if rng.integers(2) else (numel // a, 1, a)
        got = strides.reshape_strides(t.shape, t.stride(), new)
        try:
            want = t.view(new).stride()
        except RuntimeError:
            want = None
        if want is not None:
            views += 1
            assert got is not None, (t.shape, t.stride(), new)
            # size-1 dims' strides are free; compare the others
            assert [s for s, n in zip(got, new, strict=True) if n != 1] == [
                s for s, n in zip(want, new, strict=True) if n != 1
            ], (t.shape, t.stride(), new)
        else:
            assert got is None, (t.shape, t.stride(), new)
        checked += 1
    assert checked == 400 and 50 < views < 400


def test_permute_index_and_expand_strides():
    assert strides.permute_strides((12, 4, 1), (2, 0, 1)) == (1, 12, 4)
    # x[1:, ::2] of a [3, 4] tensor: strides (4, 2)
    assert strides.index_strides((4, 1), (1, 2), (2, 2), (2, 2)) == (4, 2)
    # x[0] drops dim 0; x[:, None] adds a size-1 dim
    assert strides.index_strides((4, 1), (1, 1), (1, 4), (4,)) == (1,)
    assert strides.expand_strides((3, 1), (1, 1), (2, 3, 5)) == (0, 1, 0)
