"""F.embedding_bag / nn.EmbeddingBag against torch: every mode, 1-D input with offsets (empty
bags, include_last_offset) and 2-D input, padding_idx, per_sample_weights, two layouts of the
table, values and the gradients of the weight and the per-sample weights, state dict, repr,
from_pretrained and PyTorch's errors at the user's line."""

from __future__ import annotations

import numpy as np
import pytest

import pyflame as pf
from pyflame import nn

torch = pytest.importorskip("torch")

from nn_parity import GRID, close, rand  # noqa: E402

pytestmark = pytest.mark.usefixtures("small_target")
F = pf.nn.functional

INPUT = np.array([1, 2, 3, 4, 2, 2, 9, 0, 7], np.int32)
OFFSETS = np.array([0, 2, 2, 5, 8], np.int32)  # bag 1 is empty


def _run(weight, layout, call_pf, call_torch, psw=None):
    """The value and the gradients (weight, per-sample weights) of both calls."""
    pw = pf.from_numpy(weight, layout=layout).requires_grad_()
    tw = torch.from_numpy(weight).requires_grad_()
    pp = pf.from_numpy(psw).requires_grad_() if psw is not None else None
    tp = torch.from_numpy(psw).requires_grad_() if psw is not None else None
    got, want = call_pf(pw, pp), call_torch(tw, tp)
    g = rand(*want.shape, seed=5)
    pf.backward((got * pf.from_numpy(g)).sum())
    (want * torch.from_numpy(g)).sum().backward()
    close(got, want, msg="value")
    close(pw.grad, tw.grad, msg="weight grad")
    if psw is not None:
        close(pp.grad, tp.grad, msg="per_sample_weights grad")


@pytest.mark.parametrize("layout", [None, GRID], ids=str)
@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
@pytest.mark.parametrize("padding_idx", [None, 2])
def test_embedding_bag_with_offsets_matches_torch(mode, padding_idx, layout):
    weight = rand(11, 5)
    for last in (False, True):
        offsets = OFFSETS if not last else np.append(OFFSETS, INPUT.size).astype(np.int32)
        _run(
            weight,
            layout,
            lambda w, _, o=offsets, last=last: F.embedding_bag(
                pf.from_numpy(INPUT),
                w,
                pf.from_numpy(o),
                mode=mode,
                padding_idx=padding_idx,
                include_last_offset=last,
            ),
            lambda w, _, o=offsets, last=last: torch.nn.functional.embedding_bag(
                torch.from_numpy(INPUT).long(),
                w,
                torch.from_numpy(o).long(),
                mode=mode,
                padding_idx=padding_idx,
                include_last_offset=last,
            ),
        )


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_embedding_bag_of_2d_input_matches_torch(mode):
    rows = np.array([[1, 3, 3], [0, 4, 2], [2, 2, 2], [5, 9, 1]], np.int32)
    _run(
        rand(10, 4),
        GRID,
        lambda w, _: F.embedding_bag(pf.from_numpy(rows), w, mode=mode, padding_idx=2),
        lambda w, _: torch.nn.functional.embedding_bag(
            torch.from_numpy(rows).long(), w, mode=mode, padding_idx=2
        ),
    )


def test_per_sample_weights_weigh_the_rows_and_get_gradients():
    psw = rand(INPUT.size, seed=3)
    _run(
        rand(11, 3),
        None,
        lambda w, p: F.embedding_bag(
            pf.from_numpy(INPUT), w, pf.from_numpy(OFFSETS), mode="sum", per_sample_weights=p
        ),
        lambda w, p: torch.nn.functional.embedding_bag(
            torch.from_numpy(INPUT).long(),
            w,
            torch.from_numpy(OFFSETS).long(),
            mode="sum",
            per_sample_weights=p,
        ),
        psw,
    )


def test_module_state_dict_repr_and_forward_as_torch():
    for kwargs in ({}, {"mode": "max", "padding_idx": 2, "max_norm": 1.0}, {"mode": "sum"}):
        torch.manual_seed(0)
        t = torch.nn.EmbeddingBag(11, 4, **kwargs)
        p = nn.EmbeddingBag(11, 4, **kwargs)
        assert repr(p) == repr(t) and list(p.state_dict()) == list(t.state_dict())
        if "padding_idx" in kwargs:
            assert not p.weight.numpy()[2].any()
        p.load_state_dict(t.state_dict())
        got = p(pf.from_numpy(INPUT), pf.from_numpy(OFFSETS))
        want = t(torch.from_numpy(INPUT).long(), torch.from_numpy(OFFSETS).long())
        close(got, want)
    w = rand(6, 3)
    bag = nn.EmbeddingBag.from_pretrained(w, mode="sum")
    assert not bag.weight.requires_grad
    close(bag(pf.from_numpy(np.array([[0, 5]], np.int32))), w[[0]] + w[[5]])


def test_errors_as_torch():
    here = r"test_embedding_bag.py:\d+: "
    w, x, o = pf.from_numpy(rand(11, 3)), pf.from_numpy(INPUT), pf.from_numpy(OFFSETS)
    with pytest.raises(NotImplementedError, match=here + "embedding_bag: per_sample_weights was"):
        F.embedding_bag(x, w, o, per_sample_weights=pf.from_numpy(rand(INPUT.size)))
    with pytest.raises(
        ValueError,
        match=here
        + r"embedding_bag: If per_sample_weights .* must have the same shape as the input",
    ):
        F.embedding_bag(x, w, o, mode="sum", per_sample_weights=pf.from_numpy(rand(3)))
    with pytest.raises(ValueError, match=here + "if input is 2D, then offsets has to be None"):
        F.embedding_bag(x.reshape(3, 3), w, o)
    with pytest.raises(ValueError, match=here + "offsets has to be a 1D Tensor but got None"):
        F.embedding_bag(x, w)
    with pytest.raises(RuntimeError, match=here + r"offsets\[0\] has to be 0"):
        F.embedding_bag(x, w, pf.from_numpy(np.array([1, 3], np.int32)))
    with pytest.raises(ValueError, match=here + "mode has to be one of sum, mean or max"):
        F.embedding_bag(x, w, o, mode="min")
    with pytest.raises(IndexError, match="index out of range"):
        F.embedding_bag(
            pf.from_numpy(np.array([0, 11], np.int32)), w, pf.from_numpy(np.array([0], np.int32))
        )
