"""The losses beyond MSE/L1/cross-entropy (`binary_cross_entropy`, `..._with_logits`,
`smooth_l1_loss`, `huber_loss`, `kl_div` and their modules) against PyTorch, through the
simulator: values and gradients of input and target, every reduction, odd shapes, the edge
values where PyTorch's own gradient formulas matter (p = 0 or 1, |d| exactly beta, target
zeros), and the errors and warnings PyTorch gives."""

from __future__ import annotations

import sys
import warnings

import numpy as np
import pytest

import pyflame as pf
from pyflame import nn

torch = pytest.importorskip("torch")
F = pf.nn.functional
TF = torch.nn.functional

pytestmark = pytest.mark.usefixtures("small_target")

REDUCTIONS = ["mean", "sum", "none"]


@pytest.fixture(autouse=True)
def no_leaked_updates():
    yield
    pf.runtime.clear_pending_updates()  # a failed pf.eval must not leak into the next test


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def unit(*shape, seed=0):
    return np.random.default_rng(seed).random(shape).astype(np.float32)


def _line():
    return sys._getframe(1).f_lineno


def same(got, want, rtol=1e-5, atol=1e-6):
    """Values equal up to rounding, infinities and NaNs in the same places."""
    want = want.detach().double().numpy() if hasattr(want, "detach") else np.asarray(want)
    np.testing.assert_allclose(np.asarray(got, np.float64), want, rtol=rtol, atol=atol)


def compare(pf_loss, torch_loss, arrays, grads=(0, 1), consts=(), seed=7, rtol=1e-5):
    """pf_loss(*pf tensors, *consts) against torch_loss(*torch tensors, *consts): the loss, and
    the gradients of the arrays listed in `grads` (through a random weighting of the elements
    when the loss is not a scalar)."""
    pts = [pf.from_numpy(a) for a in arrays]
    tts = [torch.from_numpy(a.copy()) for a in arrays]
    for i in grads:
        pts[i].requires_grad = True
        tts[i].requires_grad_(True)
    ours, want = pf_loss(*pts), torch_loss(*tts)
    assert tuple(ours.shape) == tuple(want.shape)
    weights = rand(*want.shape, seed=seed)
    (ours * pf.from_numpy(weights)).sum().backward()
    (want * torch.from_numpy(weights)).sum().backward()
    same(ours.numpy(), want, rtol=rtol)
    for i in grads:
        same(pts[i].grad.numpy(), tts[i].grad, rtol=rtol)


# --------------------------------------------------------------------------- binary cross-entropy


def _probabilities(*shape):
    """Random probabilities with the edge values: p in {0, 1, 0.5} against t in {0, 1}."""
    p, t = unit(*shape, seed=1), unit(*shape, seed=2)
    flat_p, flat_t = p.reshape(-1), t.reshape(-1)
    edges = [(0, 0), (0, 1), (1, 0), (1, 1), (0.5, 0), (0.5, 1), (1e-30, 1), (0.25, 0.25)]
    for i, (pv, tv) in enumerate(edges[: flat_p.size]):
        flat_p[i], flat_t[i] = pv, tv
    return p, t


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(3, 5), (2, 3, 7), (1,)], ids=str)
def test_binary_cross_entropy_matches_torch_at_0_and_1(reduction, shape):
    """The logs are clamped at -100 (p = 0 with t = 1 costs 100, not inf), the input gradient
    is PyTorch's (p - t) / max(p (1 - p), 1e-12) (0 where p = t = 0, -1e12 where p = 0,
    t = 1: not the NaN of the clamped log's derivative), the target's -logit(p) (+-inf)."""
    p, t = _probabilities(*shape)
    compare(
        lambda a, b: F.binary_cross_entropy(a, b, reduction=reduction),
        lambda a, b: TF.binary_cross_entropy(a, b, reduction=reduction),
        [p, t],
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_binary_cross_entropy_weight_broadcasts_to_the_target(reduction):
    p, t = _probabilities(4, 3)
    for w in (unit(4, 3, seed=5) + 0.1, unit(3, seed=6) + 0.1):
        compare(
            lambda a, b, w=w: F.binary_cross_entropy(a, b, pf.from_numpy(w), reduction=reduction),
            lambda a, b, w=w: TF.binary_cross_entropy(
                a, b, torch.from_numpy(w), reduction=reduction
            ),
            [p, t],
        )


def test_legacy_reduction_arguments_decide_and_warn_as_torch():
    p, t = _probabilities(3, 4)
    for kw in ({"size_average": False}, {"reduce": False}, {"size_average": True}):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            compare(
                lambda a, b, kw=kw: F.binary_cross_entropy(a, b, **kw),
                lambda a, b, kw=kw: TF.binary_cross_entropy(a, b, **kw),
                [p, t],
            )
        ours_w, torch_w = caught
        assert str(ours_w.message) == str(torch_w.message)  # "... use reduction='sum' instead."
        assert ours_w.filename == __file__
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        line = _line() + 1
        loss = nn.SmoothL1Loss(reduce=False)
    assert loss.reduction == "none"
    assert [(w.filename, w.lineno) for w in caught] == [(__file__, line)]


def test_binary_cross_entropy_errors_as_torch():
    p, t = pf.from_numpy(unit(4, 1)), pf.from_numpy(unit(4))
    with pytest.raises(
        ValueError,
        match=r"test_nn_losses.py:\d+: .*Using a target size \(\[4\]\) "
        r"that is different to the input size \(\[4, 1\]\)",
    ):
        F.binary_cross_entropy(p, t)
    with pytest.raises(ValueError, match="different to the input size"):
        TF.binary_cross_entropy(torch.rand(4, 1), torch.rand(4))
    bad = unit(2, 3)
    bad[1, 2] = 1.5
    with pytest.raises(RuntimeError) as raised:
        line = _line() + 1
        F.binary_cross_entropy(pf.from_numpy(bad), pf.from_numpy(unit(2, 3)))
    assert str(raised.value) == (
        f"{__file__}:{line}: all elements of input should be between 0 and 1 (1 element is not)"
    )
    with pytest.raises(RuntimeError, match="all elements of target should be between 0 and 1"):
        F.binary_cross_entropy(pf.from_numpy(unit(2, 3)), pf.from_numpy(bad - 2))
    with pytest.raises(RuntimeError, match="all elements of target should be between 0 and 1"):
        TF.binary_cross_entropy(torch.rand(2, 3), torch.from_numpy(bad - 2))
    nan = unit(2, 3)
    nan[0, 0] = np.nan  # NaN is out of range too, as in PyTorch
    with pytest.raises(RuntimeError, match="all elements of input should be between 0 and 1"):
        F.binary_cross_entropy(pf.from_numpy(nan), pf.from_numpy(unit(2, 3)))
    w = pf.from_numpy(unit(3)).requires_grad_()
    with pytest.raises(RuntimeError, match="not differentiable with respect to argument 'weight'"):
        F.binary_cross_entropy(pf.from_numpy(unit(2, 3)), pf.from_numpy(unit(2, 3)), w)
    with pytest.raises(pf.ShapeError, match=r"weight of shape \[2\] cannot be broadcast"):
        F.binary_cross_entropy(
            pf.from_numpy(unit(2, 3)), pf.from_numpy(unit(2, 3)), pf.from_numpy(unit(2))
        )
    with pytest.raises(ValueError, match="bogus"):
        F.binary_cross_entropy(pf.from_numpy(unit(2)), pf.from_numpy(unit(2)), reduction="bogus")


def test_binary_cross_entropy_of_computed_probabilities_is_checked_after_the_run():
    """A lazy input (here 2 sigmoid(x), up to 2) is checked on the device: pf.eval raises
    PyTorch's error naming the loss's line, and a valid one runs."""
    x = pf.from_numpy(rand(3, 4))
    line = _line() + 1
    loss = F.binary_cross_entropy(pf.sigmoid(x) * 2, pf.from_numpy(unit(3, 4)))
    with pytest.raises(RuntimeError, match=rf"test_nn_losses.py:{line}: all elements of input"):
        pf.eval(loss)
    ok = F.binary_cross_entropy(pf.sigmoid(x), pf.from_numpy(unit(3, 4)))
    want = TF.binary_cross_entropy(
        torch.sigmoid(torch.from_numpy(rand(3, 4))), torch.from_numpy(unit(3, 4))
    )
    same(ok.numpy(), want)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("options", ["plain", "weight", "pos_weight", "both"])
def test_binary_cross_entropy_with_logits_matches_torch(reduction, options):
    """PyTorch's stable form: logits of +-100 and 0 give finite losses and its gradients;
    pos_weight broadcasts along the last dim."""
    x = rand(3, 2, 5) * 4
    x[0, 0] = [100.0, -100.0, 0.0, 30.0, -30.0]
    t = unit(3, 2, 5, seed=3)
    t[0, 0] = [0.0, 1.0, 1.0, 0.0, 1.0]
    w = unit(2, 5, seed=4) + 0.5 if options in ("weight", "both") else None
    pw = unit(5, seed=5) * 3 if options in ("pos_weight", "both") else None

    def ours(a, b):
        return F.binary_cross_entropy_with_logits(
            a,
            b,
            None if w is None else pf.from_numpy(w),
            reduction=reduction,
            pos_weight=None if pw is None else pf.from_numpy(pw),
        )

    def theirs(a, b):
        return TF.binary_cross_entropy_with_logits(
            a,
            b,
            None if w is None else torch.from_numpy(w),
            reduction=reduction,
            pos_weight=None if pw is None else torch.from_numpy(pw),
        )

    compare(ours, theirs, [x, t])


def test_binary_cross_entropy_with_logits_errors_as_torch():
    x, t = pf.from_numpy(rand(4, 1)), pf.from_numpy(unit(4))
    with pytest.raises(
        ValueError,
        match=r"Target size \(\[4\]\) must be the same as input "
        r"size \(\[4, 1\]\)",
    ):
        F.binary_cross_entropy_with_logits(x, t)
    with pytest.raises(ValueError, match="must be the same as input size"):
        TF.binary_cross_entropy_with_logits(torch.rand(4, 1), torch.rand(4))
    x, t = pf.from_numpy(rand(3, 2)), pf.from_numpy(unit(3, 2))
    for name in ("weight", "pos_weight"):
        given = {name: pf.from_numpy(unit(2)).requires_grad_()}
        with pytest.raises(RuntimeError, match=f"with respect to argument '{name}'"):
            F.binary_cross_entropy_with_logits(x, t, **given)
        with pf.no_grad():  # not recording: nothing to differentiate
            F.binary_cross_entropy_with_logits(x, t, **given)
    with pytest.raises(pf.ShapeError):
        F.binary_cross_entropy_with_logits(x, t, pos_weight=pf.from_numpy(unit(3)))


# --------------------------------------------------------------------------- smooth L1, Huber


def _differences(beta):
    """input, target with differences exactly +-beta, 0, just inside and outside beta."""
    x = rand(4, 7)
    t = rand(4, 7, seed=1)
    x[0, :6] = [0.5, 0.5, 0.5, 0.5, 0.5, 0.5]
    t[0, :6] = [0.5 - beta, 0.5 + beta, 0.5, 0.5 - beta * 0.999, 0.5 + beta * 1.001, 0.5]
    return x, t


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("beta", [1.0, 0.25, 0.0, 3.0])
def test_smooth_l1_loss_matches_torch_on_the_boundary(reduction, beta):
    """At |d| exactly beta both pieces meet (gradient +-1); beta = 0 is l1_loss."""
    x, t = _differences(beta)
    compare(
        lambda a, b: F.smooth_l1_loss(a, b, reduction=reduction, beta=beta),
        lambda a, b: TF.smooth_l1_loss(a, b, reduction=reduction, beta=beta),
        [x, t],
    )
    compare(
        lambda a, b: nn.SmoothL1Loss(reduction=reduction, beta=beta)(a, b),
        lambda a, b: torch.nn.SmoothL1Loss(reduction=reduction, beta=beta)(a, b),
        [x, t],
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("delta", [1.0, 0.25, 3.0])
def test_huber_loss_matches_torch_on_the_boundary(reduction, delta):
    x, t = _differences(delta)
    compare(
        lambda a, b: F.huber_loss(a, b, reduction=reduction, delta=delta),
        lambda a, b: TF.huber_loss(a, b, reduction=reduction, delta=delta),
        [x, t],
    )
    compare(
        lambda a, b: nn.HuberLoss(reduction=reduction, delta=delta)(a, b),
        lambda a, b: torch.nn.HuberLoss(reduction=reduction, delta=delta)(a, b),
        [x, t],
    )
    w = unit(4, 7, seed=9)
    compare(
        lambda a, b: F.huber_loss(a, b, reduction, delta, pf.from_numpy(w)),
        lambda a, b: TF.huber_loss(a, b, reduction, delta, torch.from_numpy(w)),
        [x, t],
    )


@pytest.mark.parametrize("loss", ["smooth_l1", "huber"])
def test_smooth_l1_and_huber_gradients_of_infinite_differences_are_torchs(loss):
    """An infinite difference (an inf input or target) has PyTorch's gradient +-1 (huber:
    +-delta); PyFlame's quadratic side, not taken, multiplied its zero gradient by inf: NaN."""
    x = rand(3, 5)
    t = rand(3, 5, seed=1)
    x[0, :4] = [np.inf, -np.inf, 1.0, 2.0]
    t[1, :4] = [0.0, 1.0, np.inf, -np.inf]
    x[2, :2] = [np.inf, 1e30]
    t[2, :2] = [-np.inf, -1e30]
    if loss == "smooth_l1":
        ours, theirs = F.smooth_l1_loss, TF.smooth_l1_loss
        kw = {"beta": 0.5}
    else:
        ours, theirs = F.huber_loss, TF.huber_loss
        kw = {"delta": 0.5}
    for reduction in REDUCTIONS:
        compare(
            lambda a, b, ours=ours, reduction=reduction: ours(a, b, reduction=reduction, **kw),
            lambda a, b, theirs=theirs, reduction=reduction: theirs(
                a, b, reduction=reduction, **kw
            ),
            [x, t],
        )


@pytest.mark.parametrize("loss", ["smooth_l1", "huber"])
def test_smooth_l1_and_huber_gradients_of_nan_differences_are_nan_as_torchs(loss):
    """A NaN difference (a NaN input or target, inf - inf) has PyTorch's NaN gradient; the where
    between the two sides gave 0 there (the linear side's sign(NaN)): a NaN hidden from the
    optimizer step. Broadcast targets [5] against [3, 5] too."""
    x = rand(3, 5)
    t = rand(5, seed=1)
    x[0, :3] = [np.nan, np.inf, -np.inf]
    t[:4] = [0.5, np.inf, -np.inf, np.nan]
    ours, theirs = (
        (F.smooth_l1_loss, TF.smooth_l1_loss)
        if loss == "smooth_l1"
        else (F.huber_loss, TF.huber_loss)
    )
    kw = {"beta": 0.5} if loss == "smooth_l1" else {"delta": 0.5}
    with pytest.warns(UserWarning):
        compare(
            lambda a, b: ours(a, b, reduction="none", **kw),
            lambda a, b: theirs(a, b, reduction="none", **kw),
            [x, t],
        )


def test_smooth_l1_and_huber_errors_and_warnings_as_torch():
    x, t = pf.from_numpy(rand(3, 2)), pf.from_numpy(rand(3, 2))
    with pytest.raises(RuntimeError, match="smooth_l1_loss does not support negative values"):
        F.smooth_l1_loss(x, t, beta=-0.5)
    for delta in (0.0, -1.0):
        with pytest.raises(RuntimeError, match="huber_loss does not support non-positive values"):
            F.huber_loss(x, t, delta=delta)
    with pytest.raises(ValueError, match="Weights and input must have the same size"):
        F.huber_loss(x, t, weight=pf.from_numpy(unit(2)))
    with pytest.raises(ValueError, match="Weights and input must have the same size"):
        TF.huber_loss(torch.rand(3, 2), torch.rand(3, 2), weight=torch.rand(2))
    with pytest.raises(pf.ShapeError, match=r"smooth_l1_loss: target shape \[2, 2\] cannot be"):
        F.smooth_l1_loss(x, pf.from_numpy(rand(2, 2)))
    a, b = rand(3, 2), rand(2)
    for ours, theirs in ((F.smooth_l1_loss, TF.smooth_l1_loss), (F.huber_loss, TF.huber_loss)):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            line = _line() + 1
            got = ours(pf.from_numpy(a), pf.from_numpy(b))
            want = theirs(torch.from_numpy(a), torch.from_numpy(b))
        ours_w, torch_w = caught
        assert (ours_w.filename, ours_w.lineno) == (__file__, line)
        assert str(ours_w.message) == str(torch_w.message).replace("torch.Size(", "").replace(
            "])", "]"
        )
        same(got.numpy(), want)


# --------------------------------------------------------------------------- KL divergence


def _distributions(*shape, zeros=True):
    logp = np.log(np.random.default_rng(0).dirichlet(np.ones(shape[-1]), shape[:-1]))
    q = np.random.default_rng(1).dirichlet(np.ones(shape[-1]), shape[:-1])
    if zeros:
        q.reshape(-1, shape[-1])[0, :2] = 0.0  # target zeros: no contribution, as xlogy
    return logp.astype(np.float32), q.astype(np.float32)


@pytest.mark.parametrize("reduction", ["batchmean", "sum", "none", "mean"])
@pytest.mark.parametrize("shape", [(4, 5), (2, 3, 6)], ids=str)
def test_kl_div_matches_torch_with_target_zeros(reduction, shape):
    """t log t - t x with 0 where t == 0 (the loss is finite), gradients as PyTorch's xlogy:
    the input gets -t, the target log t + 1 - x (NaN where t == 0, as PyTorch's)."""
    logp, q = _distributions(*shape)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # 'mean' warns (tested below)
        compare(
            lambda a, b: F.kl_div(a, b, reduction=reduction),
            lambda a, b: TF.kl_div(a, b, reduction=reduction),
            [logp, q],
        )
        compare(
            lambda a, b: nn.KLDivLoss(reduction=reduction)(a, b),
            lambda a, b: torch.nn.KLDivLoss(reduction=reduction)(a, b),
            [logp, q],
            grads=(0,),
        )
    loss = F.kl_div(pf.from_numpy(logp), pf.from_numpy(q), reduction="sum")
    assert np.isfinite(loss.item())


@pytest.mark.parametrize("reduction", ["batchmean", "sum", "none"])
def test_kl_div_log_target_matches_torch(reduction):
    logp, q = _distributions(3, 5)
    with np.errstate(divide="ignore"):
        logq = np.log(q)  # -inf where q == 0: no contribution, the target gradient NaN there
    compare(
        lambda a, b: F.kl_div(a, b, reduction=reduction, log_target=True),
        lambda a, b: TF.kl_div(a, b, reduction=reduction, log_target=True),
        [logp, logq],
    )
    compare(
        lambda a, b: nn.KLDivLoss(reduction=reduction, log_target=True)(a, b),
        lambda a, b: torch.nn.KLDivLoss(reduction=reduction, log_target=True)(a, b),
        [logp, logq],
        grads=(0,),
    )


def test_kl_div_reductions_warnings_and_errors_as_torch():
    logp, q = _distributions(3, 4, zeros=False)
    px, pq, tx, tq = (
        pf.from_numpy(logp),
        pf.from_numpy(q),
        torch.from_numpy(logp),
        torch.from_numpy(q),
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        line = _line() + 1
        got = F.kl_div(px, pq)  # 'mean' by default: divides by every element, and warns
        want = TF.kl_div(tx, tq)
    ours_w, torch_w = caught
    assert ours_w.category is UserWarning and (ours_w.filename, ours_w.lineno) == (__file__, line)
    assert str(ours_w.message) == str(torch_w.message)
    same(got.numpy(), want)
    for kw in ({"size_average": False}, {"reduce": False}):
        # the legacy arguments decide the reduction: no 'mean' warning, only the deprecation
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            got = F.kl_div(px, pq, **kw)
        assert ["deprecated" in str(w.message) for w in caught] == [True]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            same(got.numpy(), TF.kl_div(tx, tq, **kw))
    scalar = (np.float32(-1.2), np.float32(0.3))  # batchmean of a 0-d input: the sum
    same(
        F.kl_div(*(pf.from_numpy(np.array(v)) for v in scalar), reduction="batchmean").numpy(),
        TF.kl_div(*map(torch.tensor, scalar), reduction="batchmean"),
    )
    with pytest.raises(ValueError, match="bogus is not a valid value for reduction"):
        F.kl_div(px, pq, reduction="bogus")
    with pytest.raises(ValueError, match="bogus is not a valid value for reduction"):
        nn.KLDivLoss(reduction="bogus")
    with pytest.raises(pf.ShapeError):
        F.kl_div(px, pf.from_numpy(unit(3, 3)), reduction="sum")  # torch: RuntimeError too
    with pytest.raises(RuntimeError, match="must match the size"):
        TF.kl_div(tx, torch.rand(3, 3), reduction="sum")


# --------------------------------------------------------------------------- modules

MODULES = {
    "bce": (lambda m: m.BCELoss(), "unit"),
    "bce_weight_sum": (
        lambda m: m.BCELoss(weight=_t(m, unit(5, seed=3) + 0.5), reduction="sum"),
        "unit",
    ),
    "bce_legacy_none": (lambda m: m.BCELoss(reduce=False), "unit"),
    "bce_logits": (lambda m: m.BCEWithLogitsLoss(), "logits"),
    "bce_logits_weights": (
        lambda m: m.BCEWithLogitsLoss(
            weight=_t(m, unit(5, seed=3)), pos_weight=_t(m, unit(5, seed=4) * 3), reduction="none"
        ),
        "logits",
    ),
    "smooth_l1": (lambda m: m.SmoothL1Loss(beta=0.5), "float"),
    "smooth_l1_legacy_sum": (lambda m: m.SmoothL1Loss(size_average=False), "float"),
    "huber": (lambda m: m.HuberLoss(delta=0.5, reduction="sum"), "float"),
    "kl_batchmean": (lambda m: m.KLDivLoss(reduction="batchmean"), "kl"),
}


def _t(m, array):
    return torch.from_numpy(array) if m is torch.nn else pf.from_numpy(array)


@pytest.mark.filterwarnings("ignore:size_average and reduce args")
@pytest.mark.parametrize("case", sorted(MODULES))
def test_loss_modules_match_torch(case):
    make, kind = MODULES[case]
    if kind == "unit":
        arrays = list(_probabilities(6, 5))
    elif kind == "logits":
        arrays = [rand(6, 5) * 3, unit(6, 5, seed=1)]
    elif kind == "kl":
        arrays = list(_distributions(6, 5))
    else:
        arrays = [rand(6, 5), rand(6, 5, seed=1)]
    ours, theirs = make(nn), make(torch.nn)
    compare(ours, theirs, arrays, grads=(0,))
    assert repr(ours) == repr(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())


def test_loss_module_weights_are_buffers_as_in_torch():
    w, pw = np.array([1.0, 2.0], np.float32), np.array([3.0, 0.5], np.float32)
    ours = nn.BCEWithLogitsLoss(weight=pf.from_numpy(w), pos_weight=[3.0, 0.5])
    theirs = torch.nn.BCEWithLogitsLoss(weight=torch.from_numpy(w), pos_weight=torch.from_numpy(pw))
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["weight", "pos_weight"]
    same(ours.state_dict()["pos_weight"].numpy(), pw)
    assert list(nn.BCELoss(weight=[1.0]).state_dict()) == ["weight"]
    assert list(nn.BCEWithLogitsLoss().state_dict()) == []
    with pytest.raises(ValueError, match="batchmean is not a valid value for reduction"):
        nn.BCELoss(reduction="batchmean")  # only KLDivLoss takes it


def _loss_inputs(seed=0):
    rng = np.random.default_rng(seed)
    x, y = rng.standard_normal((4, 3)).astype(np.float32), rng.standard_normal((4, 3))
    w = rng.uniform(0.1, 2.0, (4, 3)).astype(np.float32)
    return x, y.astype(np.float32), w


@pytest.mark.parametrize("name", ["mse_loss", "l1_loss"])
def test_elementwise_losses_take_torchs_positional_arguments_and_weight(name):
    # session 23: F.mse_loss(x, y, "sum") was the sum (torch: size_average="sum" -> the mean,
    # with its warning); F.mse_loss(x, y, None, None, "sum") was a TypeError; weight= missing
    x, y, w = _loss_inputs()
    ours, theirs = getattr(pf.nn.functional, name), getattr(torch.nn.functional, name)
    px, py, pw = (pf.from_numpy(a) for a in (x, y, w))
    tx, ty, tw = (torch.from_numpy(a) for a in (x, y, w))
    calls = [
        ((), {}),
        ((None, None, "sum"), {}),
        ((None, None, "none"), {}),
        ((False,), {}),  # legacy size_average=False: the sum
        ((None, False), {}),  # legacy reduce=False: no reduction
        (("sum",), {}),  # a reduction string in size_average's place: truthy, the mean
        ((), {"weight": "w"}),
        ((), {"weight": "w", "reduction": "sum"}),
        ((), {"weight": "w", "reduction": "none"}),
    ]
    for args, kwargs in calls:
        legacy = bool(args) and args[:2] != (None, None)
        for lib, fn, a, b, weight in (("pf", ours, px, py, pw), ("torch", theirs, tx, ty, tw)):
            kw = {k: weight if v == "w" else v for k, v in kwargs.items()}
            with (
                pytest.warns(UserWarning, match="size_average and reduce args")
                if legacy
                else warnings.catch_warnings()
            ):
                out = fn(a, b, *args, **kw)
            if lib == "pf":
                got = out.numpy()
            else:
                want = out.numpy()
        np.testing.assert_allclose(got, want, rtol=1e-6, err_msg=f"{name}{args}{kwargs}")
    with pytest.raises(ValueError, match="Weights and input must have the same size"):
        ours(px, py, weight=pw[0])


@pytest.mark.parametrize("name", ["nll_loss", "cross_entropy"])
def test_class_losses_take_torchs_positional_arguments(name):
    # torch: (input, target, weight, size_average, ignore_index, reduce, reduction, ...);
    # PyFlame had ignore_index fourth and reduction fifth
    rng = np.random.default_rng(1)
    x = rng.standard_normal((5, 4)).astype(np.float32)
    target = np.array([0, 3, 1, 3, 2])
    ours, theirs = getattr(pf.nn.functional, name), getattr(torch.nn.functional, name)
    px, pt = pf.from_numpy(x), pf.from_numpy(target.astype(np.int32))
    tx, tt = torch.from_numpy(x), torch.from_numpy(target)
    for args in [(None, None, 3), (None, None, 3, None, "sum"), (None, None, -100, False)]:
        legacy = len(args) > 3 and args[3] is not None
        with pytest.warns(UserWarning) if legacy else warnings.catch_warnings():
            got = ours(px, pt, *args).numpy()
        with pytest.warns(UserWarning) if legacy else warnings.catch_warnings():
            want = theirs(tx, tt, *args).numpy()
        np.testing.assert_allclose(got, want, rtol=1e-6, err_msg=f"{name}{args}")


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_label_smoothing_masks_ignored_targets_as_torch(reduction, weighted):
    """cross_entropy's label-smoothing term of an ignored target is masked (torch's
    masked_fill_): 0 and no gradient. PyFlame multiplied it by 0: a -inf logit in an ignored
    row made the loss NaN (torch: finite), and a batch whose targets are all ignored ('mean':
    a NaN loss in both) gave NaN gradients where torch's are 0, poisoning the parameters."""
    import torch

    rng = np.random.default_rng(6)
    x = rng.standard_normal((2, 5, 3)).astype(np.float32)
    x[1, 0, 2] = -np.inf  # in a row whose target is ignored
    w = np.float32([0.5, 1.0, 2.0, 1.5, 0.7]) if weighted else None
    for tgt in (np.int64([[0, 2, 4], [1, 1, 3]]), np.full((2, 3), 1, np.int64)):
        tgt[1, 2] = 1  # every batch ignores [1, 2]
        p = pf.from_numpy(x, layout=pf.MeshLayout.grid(2, 3))
        p.requires_grad = True
        t = torch.from_numpy(x.copy()).requires_grad_()
        kw = {"ignore_index": 1, "label_smoothing": 0.2, "reduction": reduction}
        got = F.cross_entropy(
            p, pf.from_numpy(tgt), weight=None if w is None else pf.from_numpy(w), **kw
        )
        want = TF.cross_entropy(
            t, torch.from_numpy(tgt), weight=None if w is None else torch.from_numpy(w), **kw
        )
        got.sum().backward()
        want.sum().backward()
        np.testing.assert_allclose(got.numpy(), want.detach().numpy(), rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(p.grad.numpy(), t.grad.numpy(), rtol=1e-5, atol=1e-6)
