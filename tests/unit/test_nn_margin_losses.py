"""The margin, embedding and likelihood losses (`margin_ranking_loss`, `hinge_embedding_loss`,
`soft_margin_loss`, `multilabel_soft_margin_loss`, `multilabel_margin_loss`,
`multi_margin_loss`, `cosine_embedding_loss`, `triplet_margin_loss`,
`triplet_margin_with_distance_loss`, `poisson_nll_loss`, `gaussian_nll_loss`) and their
modules against PyTorch 2.13, through the simulator: values and the gradients of every
differentiable argument, every reduction, odd shapes under two layouts, values on the hinges
(where PyTorch's gradient is a choice), and PyTorch's errors at the user's line."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import pyflame as pf
from pyflame import nn

torch = pytest.importorskip("torch")
F = pf.nn.functional
TF = torch.nn.functional

pytestmark = pytest.mark.usefixtures("small_target")

#: every reduction, and two layouts of the first argument (the default and a grid that does
#: not divide the shapes)
CASES = [
    ("mean", None),
    ("sum", pf.MeshLayout.grid(2, 3)),
    ("none", pf.MeshLayout.row_partition(2)),
]


@pytest.fixture(autouse=True)
def no_leaked_updates():
    yield
    pf.runtime.clear_pending_updates()


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def signs(*shape, seed=3, zeros=False):
    """+-1 targets (and 0 among them with `zeros`: the hinge losses' third case)."""
    choices = [-1.0, 1.0, 0.0] if zeros else [-1.0, 1.0]
    return np.random.default_rng(seed).choice(choices, shape).astype(np.float32)


def compare(pf_loss, torch_loss, arrays, grads, layout=None, rtol=1e-5, atol=1e-6):
    """pf_loss(*pf tensors) against torch_loss(*torch tensors): the loss, and the gradients
    of the arrays listed in `grads` (through a random weighting when the loss is not a
    scalar). The first array gets `layout`."""
    pts = [pf.from_numpy(a, layout=layout if i == 0 else None) for i, a in enumerate(arrays)]
    tts = [torch.from_numpy(np.array(a)) for a in arrays]
    for i in grads:
        pts[i].requires_grad = True
        tts[i].requires_grad_(True)
    ours, want = pf_loss(*pts), torch_loss(*tts)
    assert tuple(ours.shape) == tuple(want.shape)
    weights = rand(*want.shape, seed=7)
    pf.backward((ours * pf.from_numpy(weights)).sum())
    (want * torch.from_numpy(weights)).sum().backward()
    np.testing.assert_allclose(ours.numpy(), want.detach().numpy(), rtol=rtol, atol=atol)
    for i in grads:
        np.testing.assert_allclose(
            pts[i].grad.numpy(), tts[i].grad.numpy(), rtol=rtol, atol=atol, err_msg=f"grad {i}"
        )


def both(name, *args, **kwargs):
    """(pf call, torch call) of F.<name> with the same extra arguments."""
    return (
        lambda *t: getattr(F, name)(*t, *args, **kwargs),
        lambda *t: getattr(TF, name)(*t, *args, **kwargs),
    )


# --------------------------------------------------------------------------- pairwise margins


@pytest.mark.parametrize("reduction, layout", CASES, ids=str)
def test_margin_ranking_loss_matches_torch_on_the_hinge(reduction, layout):
    """clamp_min passes the gradient on the hinge (x1 - x2 == margin), as PyTorch's."""
    x1, x2, y = rand(5, 7), rand(5, 7, seed=1), signs(5, 7)
    x1[0, :3] = x2[0, :3] + np.float32(0.5) * y[0, :3] * np.float32(-1)  # -y (x1 - x2) == 0.5
    for margin in (0.0, -0.5):
        compare(
            *both("margin_ranking_loss", margin=margin, reduction=reduction),
            [x1, x2, y],
            grads=(0, 1, 2),
            layout=layout,
        )
    compare(
        *both("margin_ranking_loss", reduction=reduction),
        [rand(9), rand(1, seed=2), signs(9)],
        grads=(0, 1, 2),
    )


@pytest.mark.parametrize("reduction, layout", CASES, ids=str)
def test_hinge_and_soft_margin_losses_match_torch(reduction, layout):
    x, y = rand(6, 5) * 2, signs(6, 5, zeros=True)
    x[0, 0], y[0, 0] = 1.0, -1.0  # on the hinge (margin - x == 0)
    for margin in (1.0, 0.3):
        compare(
            *both("hinge_embedding_loss", margin=margin, reduction=reduction),
            [x, y],
            grads=(0,),
            layout=layout,
        )
    compare(
        *both("soft_margin_loss", reduction=reduction),
        [x, signs(6, 5)],
        grads=(0,),
        layout=layout,
    )


# --------------------------------------------------------------------------- multi-class margins


@pytest.mark.parametrize("reduction, layout", CASES, ids=str)
def test_multilabel_soft_margin_loss_matches_torch(reduction, layout):
    x, y = rand(5, 7) * 3, (rand(5, 7, seed=2) > 0).astype(np.float32)
    compare(*both("multilabel_soft_margin_loss", reduction=reduction), [x, y], (0, 1), layout)
    w = np.abs(rand(7, seed=4))
    compare(
        lambda a, b: F.multilabel_soft_margin_loss(a, b, pf.from_numpy(w), reduction=reduction),
        lambda a, b: TF.multilabel_soft_margin_loss(a, b, torch.from_numpy(w), reduction=reduction),
        [x, y],
        (0, 1),
        layout,
    )


@pytest.mark.parametrize("reduction, layout", CASES, ids=str)
def test_multilabel_margin_loss_matches_torch(reduction, layout):
    """Targets up to the first -1 count (later entries do not; a repeated one twice), the
    hinge 1 - (x[y_j] - x[i]) exactly 0 passes no gradient, as PyTorch's kernel."""
    x = rand(4, 6)
    x[0, 2] = x[0, 0] - 1.0  # target 0 against non-target 2 on the hinge
    y = np.array(
        [[0, 3, -1, 2, 2, 5], [5, 5, 1, -1, -1, -1], [-1, 0, 1, 2, 3, 4], [0, 1, 2, 3, 4, 5]],
        np.int32,
    )
    got = lambda a: F.multilabel_margin_loss(a, pf.from_numpy(y), reduction=reduction)  # noqa: E731
    want = lambda a: TF.multilabel_margin_loss(  # noqa: E731
        a, torch.from_numpy(y).long(), reduction=reduction
    )
    compare(got, want, [x], (0,), layout)
    one = np.array([4, 1, -1, 0, 0, 0], np.int32)  # a [C] input
    compare(
        lambda a: F.multilabel_margin_loss(a, pf.from_numpy(one), reduction=reduction),
        lambda a: TF.multilabel_margin_loss(a, torch.from_numpy(one).long(), reduction=reduction),
        [rand(6, seed=2)],
        (0,),
    )


@pytest.mark.parametrize("reduction, layout", CASES, ids=str)
def test_multi_margin_loss_matches_torch(reduction, layout):
    x, y = rand(5, 7), np.array([0, 6, 3, 3, 1], np.int32)
    x[1, 2] = x[1, 6] - 1.0  # on the hinge
    w = np.abs(rand(7, seed=5)) + 0.1
    for p, margin, weight in ((1, 1.0, None), (2, 0.7, w), (1, 2.0, w)):
        compare(
            lambda a, p=p, m=margin, wt=weight: F.multi_margin_loss(
                a,
                pf.from_numpy(y),
                p,
                m,
                None if wt is None else pf.from_numpy(wt),
                reduction=reduction,
            ),
            lambda a, p=p, m=margin, wt=weight: TF.multi_margin_loss(
                a,
                torch.from_numpy(y).long(),
                p,
                m,
                None if wt is None else torch.from_numpy(wt),
                reduction=reduction,
            ),
            [x],
            (0,),
            layout,
        )
    for target in (np.array(2, np.int32), np.array([2], np.int32)):  # a [C] input
        compare(
            lambda a, t=target: F.multi_margin_loss(a, pf.from_numpy(t), reduction=reduction),
            lambda a, t=target: TF.multi_margin_loss(
                a, torch.from_numpy(t).long(), reduction=reduction
            ),
            [rand(5, seed=3)],
            (0,),
        )


# --------------------------------------------------------------------------- embeddings


@pytest.mark.parametrize("reduction, layout", CASES, ids=str)
def test_cosine_embedding_loss_matches_torch(reduction, layout):
    x1, x2, y = rand(7, 5), rand(7, 5, seed=1), signs(7, zeros=True)
    x1[1] = 0.0  # a zero vector: the 1e-12 in the norms
    for margin in (0.0, 0.3, -0.2):
        compare(
            *both("cosine_embedding_loss", margin=margin, reduction=reduction),
            [x1, x2, y],
            (0, 1),
            layout,
        )
    compare(
        *both("cosine_embedding_loss", 0.1, reduction=reduction),
        [rand(9), rand(9, seed=2), np.array(-1, np.float32)],
        (0, 1),
    )


@pytest.mark.slow  # (one of the suite's slowest: run with -m slow)
@pytest.mark.parametrize("reduction, layout", CASES, ids=str)
def test_triplet_margin_losses_match_torch(reduction, layout):
    a, p, n = rand(6, 5), rand(6, 5, seed=1), rand(6, 5, seed=2)
    for kw in ({}, {"p": 1.0, "margin": 0.5}, {"swap": True, "eps": 1e-3}, {"p": 3.0}):
        compare(
            *both("triplet_margin_loss", reduction=reduction, **kw),
            [a, p, n],
            (0, 1, 2),
            layout,
            rtol=1e-4,
            atol=1e-5,
        )
    compare(*both("triplet_margin_loss", reduction=reduction), [a[0], p[0], n[0]], (0, 1, 2))
    compare(
        *both("triplet_margin_with_distance_loss", reduction=reduction, swap=True),
        [a, p, n],
        (0, 1, 2),
        layout,
        rtol=1e-4,
        atol=1e-5,
    )

    def cosine_distance(lib):
        return lambda u, v: 1.0 - lib.cosine_similarity(u, v)

    compare(
        lambda *t: F.triplet_margin_with_distance_loss(
            *t, distance_function=cosine_distance(F), margin=0.4, reduction=reduction
        ),
        lambda *t: TF.triplet_margin_with_distance_loss(
            *t, distance_function=cosine_distance(TF), margin=0.4, reduction=reduction
        ),
        [a, p, n],
        (0, 1, 2),
        layout,
    )


# --------------------------------------------------------------------------- likelihoods


@pytest.mark.parametrize("reduction, layout", CASES, ids=str)
def test_poisson_nll_loss_matches_torch(reduction, layout):
    x = rand(5, 7)
    t = np.floor(np.abs(rand(5, 7, seed=1)) * 4).astype(np.float32) + 0.5
    t[0, :3] = [1.0, 0.5, 1.5]  # around the Stirling term's t > 1
    for log_input, full in ((True, False), (True, True), (False, False), (False, True)):
        xs = x if log_input else np.abs(x) + 0.1
        compare(
            *both("poisson_nll_loss", log_input, full, reduction=reduction, eps=1e-6),
            [xs, t],
            (0, 1),
            layout,
            rtol=1e-5,
            atol=1e-5,
        )


def test_poisson_nll_loss_full_target_gradient_at_zero_is_finite():
    """PyTorch's target gradient at t = 0 with full=True is NaN (its masked Stirling term,
    0 log 0, differentiated); here the masked term passes none: the gradient is -x there."""
    x = pf.from_numpy(rand(4))
    t = pf.from_numpy(np.array([0.0, 0.5, 2.0, 3.0], np.float32)).requires_grad_()
    pf.backward(F.poisson_nll_loss(x, t, full=True, reduction="sum"))
    tt = torch.tensor([0.0, 0.5, 2.0, 3.0], requires_grad=True)
    TF.poisson_nll_loss(torch.from_numpy(rand(4)), tt, full=True, reduction="sum").backward()
    assert np.isnan(tt.grad[0].item())
    np.testing.assert_allclose(t.grad.numpy()[0], -rand(4)[0], rtol=1e-6)
    np.testing.assert_allclose(t.grad.numpy()[1:], tt.grad.numpy()[1:], rtol=1e-5)


@pytest.mark.parametrize("reduction, layout", CASES, ids=str)
def test_gaussian_nll_loss_matches_torch(reduction, layout):
    """var of the input's shape, one dim short, one dim of size 1; values below eps clamped
    in value only (the gradient passes whole, as PyTorch's clamp under no_grad)."""
    x, t = rand(4, 3, 5), rand(4, 3, 5, seed=1)
    for var in (np.abs(rand(4, 3, 5, seed=2)), np.abs(rand(4, 3, seed=2)), np.abs(rand(4, 1, 5))):
        var.reshape(-1)[:2] = [0.0, 1e-8]
        for full in (False, True):
            compare(
                *both("gaussian_nll_loss", full=full, reduction=reduction),
                [x, t, var],
                (0, 1, 2),
                layout,
                rtol=1e-4,
                atol=1e-5,
            )
    compare(*both("gaussian_nll_loss", 0.5, reduction=reduction), [x, t], (0, 1))


# --------------------------------------------------------------------------- modules


def vec(lib, values):
    """A weight for `lib`'s module: a torch tensor for torch.nn, an array for pf.nn."""
    return torch.tensor(values) if lib is torch.nn else np.array(values, np.float32)


MODULES = [
    (lambda m: m.MarginRankingLoss(0.2), [rand(6), rand(6, seed=1), signs(6)]),
    (lambda m: m.HingeEmbeddingLoss(0.5, reduction="sum"), [rand(3, 4), signs(3, 4)]),
    (lambda m: m.SoftMarginLoss(reduction="none"), [rand(3, 4), signs(3, 4)]),
    (
        lambda m: m.MultiLabelSoftMarginLoss(weight=vec(m, [1.0, 2.0, 0.5])),
        [rand(4, 3), (signs(4, 3) > 0).astype(np.float32)],
    ),
    (lambda m: m.MultiLabelMarginLoss(), [rand(2, 4), np.array([[3, 0, -1, 1], [1, -1, 0, 0]])]),
    (
        lambda m: m.MultiMarginLoss(2, 0.5, weight=vec(m, [1.0, 2.0, 0.5])),
        [rand(4, 3), np.array([0, 2, 1, 1])],
    ),
    (lambda m: m.CosineEmbeddingLoss(0.1), [rand(5, 3), rand(5, 3, seed=1), signs(5)]),
    (
        lambda m: m.TripletMarginLoss(0.5, 1.0, swap=True),
        [rand(3, 4), rand(3, 4, seed=1), rand(3, 4, seed=2)],
    ),
    (
        lambda m: m.TripletMarginWithDistanceLoss(swap=True),
        [rand(3, 4), rand(3, 4, seed=1), rand(3, 4, seed=2)],
    ),
    (lambda m: m.PoissonNLLLoss(full=True), [rand(3, 4), np.abs(rand(3, 4, seed=1)) * 3]),
    (
        lambda m: m.GaussianNLLLoss(full=True, reduction="sum"),
        [rand(3, 4), rand(3, 4, seed=1), np.abs(rand(3, 4, seed=2))],
    ),
]


@pytest.mark.parametrize("case", range(len(MODULES)))
def test_loss_modules_match_torch(case):
    make, arrays = MODULES[case]
    ours, theirs = make(nn), make(torch.nn)
    assert repr(ours) == repr(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ins = [a.astype(np.float32) if a.dtype != np.int64 else a.astype(np.int32) for a in arrays]
    got = ours(*(pf.from_numpy(a) for a in ins))
    want = theirs(*(torch.from_numpy(np.array(a)) for a in arrays))
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-5, atol=1e-6)


def test_legacy_reduction_arguments_decide_as_torch():
    x, y = rand(3, 4), signs(3, 4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for kw in ({"size_average": False}, {"reduce": False}):
            compare(*both("soft_margin_loss", **kw), [x, y], (0,))
            assert (
                nn.HingeEmbeddingLoss(**kw).reduction == torch.nn.HingeEmbeddingLoss(**kw).reduction
            )


def test_errors_as_torch():
    x, i = pf.from_numpy(rand(3, 4)), lambda *v: pf.from_numpy(np.array(v, np.int32))
    here = r"test_nn_margin_losses.py:\d+: "
    with pytest.raises(RuntimeError, match=here + "margin_ranking_loss : All input tensors"):
        F.margin_ranking_loss(x, x, pf.from_numpy(signs(4)))
    with pytest.raises(ValueError, match="only p == 1 and p == 2 supported"):
        F.multi_margin_loss(x, i(0, 1, 2), p=3)
    with pytest.raises(ValueError, match="weight must be one-dimensional"):
        F.multi_margin_loss(x, i(0, 1, 2), weight=x)
    with pytest.raises(pf.ShapeError, match=here + r".*Expected target size \[3\], but got \[2\]"):
        F.multi_margin_loss(x, i(0, 1))
    with pytest.raises(pf.ShapeError, match=here + r"inconsistent weight size, expected 4"):
        F.multi_margin_loss(x, i(0, 1, 2), weight=pf.from_numpy(rand(3)))
    with pytest.raises(RuntimeError, match=here + "target out of range"):
        F.multi_margin_loss(x, i(0, 1, 4))
    with pytest.raises(pf.ShapeError, match=here + r"multi_margin_loss: Expected non-empty vector"):
        F.multi_margin_loss(pf.from_numpy(rand(3, 4, 2)), i(0, 1, 2))
    with pytest.raises(
        TypeError, match=here + "multi_margin_loss: class-index targets must be integers"
    ):
        F.multi_margin_loss(x, pf.from_numpy(rand(3)))
    with pytest.raises(pf.ShapeError, match=here + r"inconsistent target size: \[3\]"):
        F.multilabel_margin_loss(x, i(0, 1, 3))
    with pytest.raises(RuntimeError, match=here + "argument #2 'target' is out of range"):
        F.multilabel_margin_loss(x, pf.from_numpy(np.array([[0, -1, 7, 2]] * 3, np.int32)))
    with pytest.raises(RuntimeError, match=here + "0D or 1D target tensor expected"):
        F.cosine_embedding_loss(x, x, pf.from_numpy(rand(3, 1)))
    with pytest.raises(pf.ShapeError, match=here + "1D target tensor expects 2D input tensors"):
        F.cosine_embedding_loss(x, pf.from_numpy(rand(3)), pf.from_numpy(signs(3)))
    with pytest.raises(
        pf.ShapeError, match=here + "The anchor, .* anchor 2D, positive 2D, and negative 1D"
    ):
        F.triplet_margin_loss(x, x, pf.from_numpy(rand(4)))
    with pytest.raises(ValueError, match="margin must be greater than 0, got 0"):
        F.triplet_margin_with_distance_loss(x, x, x, margin=0)
    with pytest.raises(ValueError, match="TripletMarginLoss: expected margin to be greater"):
        nn.TripletMarginLoss(margin=-1.0)
    with pytest.raises(ValueError, match="var is of incorrect size"):
        F.gaussian_nll_loss(x, x, pf.from_numpy(rand(3, 5)))
    with pytest.raises(ValueError, match=here + "var has negative entry/entries"):
        F.gaussian_nll_loss(x, x, pf.from_numpy(-np.abs(rand(3, 4))))
    with pytest.raises(ValueError, match="var has negative entry/entries"):
        F.gaussian_nll_loss(x, x, -1.0)
    with pytest.raises(ValueError, match="bogus is not a valid value for reduction"):
        F.poisson_nll_loss(x, x, reduction="bogus")
    with pytest.raises(ValueError, match="bogus is not a valid value for reduction"):
        F.soft_margin_loss(x, x, reduction="bogus")
    with pytest.raises(RuntimeError, match=here + "The function 'soft_margin_loss' is not diff"):
        F.soft_margin_loss(x, pf.from_numpy(rand(3, 4)).requires_grad_())


def test_computed_class_targets_are_checked_after_the_run():
    """Targets computed on the device: PyTorch's RuntimeError when the loss is evaluated,
    naming the loss's line."""
    x = pf.from_numpy(rand(3, 4))
    y = pf.from_numpy(np.array([0, 1, 2], np.int32)) * 2  # 4 is out of range
    loss = F.multi_margin_loss(x, y)
    with pytest.raises(RuntimeError, match=r"test_nn_margin_losses.py:\d+: target out of range"):
        loss.numpy()
    v = pf.from_numpy(rand(3, 4)) * 1.0
    g = F.gaussian_nll_loss(x, x, v)
    with pytest.raises(ValueError, match="var has negative entry/entries"):
        g.numpy()
