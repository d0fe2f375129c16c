"""F.ctc_loss / nn.CTCLoss against torch: values for every reduction, padded and
concatenated targets, repeated labels, another blank, unbatched input, inputs shorter than
their targets (inf, or 0 with zero_infinity), two layouts; the gradient of the logits through
log_softmax (PyTorch's documented use) and the exact relation of the log_probs gradient to
PyTorch's formula; PyTorch's errors."""

from __future__ import annotations

import numpy as np
import pytest

import pyflame as pf
from pyflame import nn

torch = pytest.importorskip("torch")

from nn_parity import GRID, close, rand  # noqa: E402

pytestmark = pytest.mark.usefixtures("small_target")
F = pf.nn.functional
TF = torch.nn.functional

T, N, C = 6, 3, 5
TARGETS = np.array([[1, 2, 2], [3, 1, 0], [4, 4, 4]], np.int32)  # repeats need blanks between
INPUT_LENGTHS, TARGET_LENGTHS = [6, 5, 6], [3, 2, 2]


def _both(logits, targets, input_lengths, target_lengths, layout=None, **kwargs):
    """(pf loss, torch loss, pf logits, torch logits) through log_softmax over the classes."""
    pl = pf.from_numpy(logits, layout=layout).requires_grad_()
    tl = torch.from_numpy(logits).requires_grad_()
    pt = pf.from_numpy(targets)
    tt = torch.from_numpy(targets.astype(np.int64))
    got = F.ctc_loss(F.log_softmax(pl, -1), pt, input_lengths, target_lengths, **kwargs)
    want = TF.ctc_loss(tl.log_softmax(-1), tt, input_lengths, target_lengths, **kwargs)
    return got, want, pl, tl


@pytest.mark.parametrize("layout", [None, GRID], ids=str)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_ctc_loss_values_and_logit_gradients_match_torch(reduction, layout):
    logits = rand(T, N, C)
    got, want, pl, tl = _both(
        logits, TARGETS, INPUT_LENGTHS, TARGET_LENGTHS, layout, reduction=reduction
    )
    weights = rand(*want.shape, seed=3)
    pf.backward((got * pf.from_numpy(weights)).sum())
    (want * torch.from_numpy(weights)).sum().backward()
    close(got, want, 1e-5, 1e-5)
    close(pl.grad, tl.grad, 1e-4, 1e-5)


@pytest.mark.slow  # (one of the suite's slowest: run with -m slow)
def test_concatenated_targets_other_blank_and_unbatched_input():
    logits = rand(T, N, C, seed=1)
    flat = np.array([1, 2, 2, 3, 1, 4, 4], np.int32)
    for blank in (0, 4):
        targets = np.where(flat == blank, 0 if blank else 1, flat).astype(np.int32)
        got, want, pl, tl = _both(logits, targets, INPUT_LENGTHS, [3, 2, 2], blank=blank)
        pf.backward(got)
        want.backward()
        close(got, want, 1e-5, 1e-5)
        close(pl.grad, tl.grad, 1e-4, 1e-5)
    got, want, pl, tl = _both(rand(T, C, seed=2), np.array([2, 3, 3], np.int32), [T], [3])
    close(got, want, 1e-5, 1e-5)
    layer, twin = nn.CTCLoss(reduction="sum"), torch.nn.CTCLoss(reduction="sum")
    assert repr(layer) == repr(twin)
    lp = torch.from_numpy(rand(T, N, C)).log_softmax(-1)
    close(
        layer(pf.from_numpy(lp.numpy()), pf.from_numpy(TARGETS), INPUT_LENGTHS, TARGET_LENGTHS),
        twin(lp, torch.from_numpy(TARGETS).long(), INPUT_LENGTHS, TARGET_LENGTHS),
    )


def test_inputs_too_short_cost_inf_or_nothing_with_zero_infinity():
    """[4, 4, 4] needs 5 frames (blanks between repeats): with 4 its loss is inf, and 0 with
    zero_infinity, whose gradient is then 0 for it (and the others' as torch's)."""
    logits = rand(T, N, C, seed=4)
    lengths = [6, 5, 4]
    got, want, *_ = _both(logits, TARGETS, lengths, [3, 2, 3], reduction="none")
    assert np.isinf(got.numpy()[2]) and np.isinf(want.detach().numpy()[2])
    np.testing.assert_allclose(got.numpy()[:2], want.detach().numpy()[:2], rtol=1e-5)
    got, want, pl, tl = _both(
        logits, TARGETS, lengths, [3, 2, 3], reduction="mean", zero_infinity=True
    )
    pf.backward(got)
    want.backward()
    close(got, want, 1e-5, 1e-5)
    close(pl.grad, tl.grad, 1e-4, 1e-5)
    assert not np.any(pl.grad.numpy()[:, 2])


def test_log_probs_gradient_is_the_exact_derivative():
    """PyTorch's log_probs gradient is exp(log_probs) more than the derivative, on each
    sample's frames (its formula assumes log_softmax outputs)."""
    lp = torch.from_numpy(rand(T, N, C, seed=5)).log_softmax(-1).detach()
    ours = pf.from_numpy(lp.numpy()).requires_grad_()
    theirs = lp.clone().requires_grad_()
    loss = F.ctc_loss(ours, pf.from_numpy(TARGETS), INPUT_LENGTHS, TARGET_LENGTHS, reduction="sum")
    pf.backward(loss)
    TF.ctc_loss(
        theirs, torch.from_numpy(TARGETS).long(), INPUT_LENGTHS, TARGET_LENGTHS, reduction="sum"
    ).backward()
    frames = (np.arange(T)[:, None] < np.array(INPUT_LENGTHS)[None, :])[:, :, None]
    close(ours.grad, theirs.grad.numpy() - np.exp(lp.numpy()) * frames, 1e-4, 1e-5)


def test_errors_as_torch():
    here = r"test_ctc_loss.py:\d+: "
    lp = pf.from_numpy(rand(T, N, C))
    with pytest.raises(RuntimeError, match=here + "Expected input_lengths to have value at most 6"):
        F.ctc_loss(lp, pf.from_numpy(TARGETS), [7, 5, 6], TARGET_LENGTHS)
    with pytest.raises(RuntimeError, match=here + "Expected tensor to have size at least 4"):
        F.ctc_loss(lp, pf.from_numpy(TARGETS), INPUT_LENGTHS, [4, 2, 2])
    with pytest.raises(RuntimeError, match=here + "blank must be in label range"):
        F.ctc_loss(lp, pf.from_numpy(TARGETS), INPUT_LENGTHS, TARGET_LENGTHS, blank=5)
    with pytest.raises(ValueError, match="bogus is not a valid value for reduction"):
        F.ctc_loss(lp, pf.from_numpy(TARGETS), INPUT_LENGTHS, TARGET_LENGTHS, reduction="bogus")
