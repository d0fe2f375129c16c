"""`pf.nn.utils` gradient clipping against `torch.nn.utils`: the total norm (every norm type,
inf included), the clipped gradients, skipped parameters, a single tensor or a generator,
the non-finite error, and clipping inside a training step."""

from __future__ import annotations

import sys
import warnings

import numpy as np
import pytest

import pyflame as pf
from pyflame.nn.utils import clip_grad_norm_, clip_grad_value_

torch = pytest.importorskip("torch")
tutils = torch.nn.utils

pytestmark = pytest.mark.usefixtures("small_target", "no_pending_updates")

SHAPES = [(3, 5), (7,), (), (2, 1, 3)]


def _line():
    return sys._getframe(1).f_lineno


def twins(scale=3.0, without_grad=(2,), seed=0):
    """The same parameters in pf and torch, with gradients from the same loss (a random
    quadratic), except those listed in `without_grad` (not in the loss: no .grad)."""
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(s).astype(np.float32) for s in SHAPES]
    ours = [pf.nn.Parameter(a) for a in arrays]
    theirs = [torch.nn.Parameter(torch.from_numpy(a.copy())) for a in arrays]
    used = [i for i in range(len(arrays)) if i not in without_grad]
    sum(((ours[i] * ours[i]) * scale + ours[i]).sum() for i in used).backward()
    sum(((theirs[i] * theirs[i]) * scale + theirs[i]).sum() for i in used).backward()
    return ours, theirs


def same_grads(ours, theirs, rtol=1e-5):
    for p, t in zip(ours, theirs, strict=True):
        if t.grad is None:
            assert p.grad is None
            continue
        np.testing.assert_allclose(p.grad.numpy(), t.grad.numpy(), rtol=rtol, atol=1e-6)


@pytest.mark.parametrize("norm_type", [2.0, 1, float("inf"), 3.0, 0.5])
@pytest.mark.parametrize("max_norm", [0.5, 1e4])  # clips; leaves them (the scale stays 1)
def test_clip_grad_norm_matches_torch(norm_type, max_norm):
    ours, theirs = twins()
    total = clip_grad_norm_(ours, max_norm, norm_type)
    want = tutils.clip_grad_norm_(theirs, max_norm, norm_type)
    assert isinstance(total, pf.Tensor) and total.shape == () and total.dtype is pf.float32
    np.testing.assert_allclose(total.item(), want.item(), rtol=1e-5)
    same_grads(ours, theirs)  # the parameter without a gradient is skipped (still None)


def test_clip_grad_norm_takes_a_tensor_or_a_generator_and_warns_on_an_empty_one():
    ours, theirs = twins(without_grad=())
    total = clip_grad_norm_(ours[0], 1.0)  # one tensor: only its gradient
    want = tutils.clip_grad_norm_(theirs[0], 1.0)
    np.testing.assert_allclose(total.item(), want.item(), rtol=1e-5)
    same_grads(ours, theirs)
    total = clip_grad_norm_((p for p in ours), 0.3, norm_type="inf")  # a generator, read once
    want = tutils.clip_grad_norm_((p for p in theirs), 0.3, norm_type="inf")
    np.testing.assert_allclose(total.item(), want.item(), rtol=1e-5)
    same_grads(ours, theirs)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        line = _line() + 1
        total = clip_grad_norm_((p for p in []), 1.0)
        want = tutils.clip_grad_norm_((p for p in []), 1.0)
    ours_w, torch_w = caught
    assert str(ours_w.message) == str(torch_w.message)
    assert (ours_w.filename, ours_w.lineno) == (__file__, line)
    assert total.item() == want.item() == 0.0


def test_clip_grad_norm_without_gradients_is_zero_and_changes_nothing():
    p = pf.nn.Parameter(np.ones(3, np.float32))
    total = clip_grad_norm_([p], 1.0)
    assert total.item() == tutils.clip_grad_norm_([torch.nn.Parameter(torch.ones(3))], 1.0)
    assert p.grad is None


def test_clip_grad_norm_nonfinite_raises_as_torch_or_scales_by_it():
    def infinite_grads(lib, make):
        w = make(np.array([1.0, 2.0, 3.0], np.float32))
        (w * lib.from_numpy(np.array([np.inf, 1.0, 1.0], np.float32))).sum().backward()
        return w

    ours = infinite_grads(pf, pf.nn.Parameter)
    theirs = infinite_grads(torch, lambda a: torch.nn.Parameter(torch.from_numpy(a)))
    with pytest.raises(RuntimeError) as want:
        tutils.clip_grad_norm_([theirs], 1.0, error_if_nonfinite=True)
    line = _line() + 1
    total = clip_grad_norm_([ours], 1.0, error_if_nonfinite=True)
    with pytest.raises(RuntimeError) as got:  # raised by the run that computes it
        pf.eval(ours.grad)
    assert str(got.value) == f"{__file__}:{line}: {want.value}"
    with pytest.raises(RuntimeError, match="is non-finite, so it cannot be clipped"):
        total.item()
    # without the check: scaled by the non-finite norm, as PyTorch (inf * 0 is NaN)
    ours = infinite_grads(pf, pf.nn.Parameter)
    theirs = infinite_grads(torch, lambda a: torch.nn.Parameter(torch.from_numpy(a)))
    assert clip_grad_norm_([ours], 1.0).item() == tutils.clip_grad_norm_([theirs], 1.0).item()
    np.testing.assert_array_equal(ours.grad.numpy(), theirs.grad.numpy())  # [nan, 0, 0]


def test_clip_grad_norm_keeps_the_gradients_dtype():
    p = pf.nn.Parameter(pf.from_numpy(np.array([3.0, 4.0], np.float32)).astype(pf.bfloat16))
    assert p.dtype is pf.bfloat16
    (p * p).sum().backward()
    total = clip_grad_norm_(p, 1.0)
    assert p.grad.dtype is pf.bfloat16 and total.dtype is pf.float32
    np.testing.assert_allclose(total.item(), 10.0, rtol=1e-2)
    np.testing.assert_allclose(np.asarray(p.grad.numpy(), np.float32), [0.6, 0.8], rtol=1e-2)


@pytest.mark.parametrize("clip_value", [0.5, 4.0, 1e-3])
def test_clip_grad_value_matches_torch(clip_value):
    ours, theirs = twins()
    assert clip_grad_value_(ours, clip_value) is None
    tutils.clip_grad_value_(theirs, clip_value)
    same_grads(ours, theirs)
    ours, theirs = twins()
    clip_grad_value_(ours[1], clip_value)  # one tensor
    tutils.clip_grad_value_(theirs[1], clip_value)
    same_grads(ours, theirs)


def test_clipping_inside_a_training_step_matches_torch():
    """backward, clip, SGD step: the step uses the clipped gradients, and the loss, the norm
    and the new parameters come out of one program."""
    rng = np.random.default_rng(3)
    x, y = (
        rng.standard_normal((6, 4)).astype(np.float32),
        rng.standard_normal((6, 2)).astype(np.float32),
    )
    torch.manual_seed(0)
    tmodel = torch.nn.Linear(4, 2)
    model = pf.nn.Linear(4, 2)
    model.load_state_dict(tmodel.state_dict())
    opt = pf.optim.SGD(model.parameters(), lr=0.1)
    topt = torch.optim.SGD(tmodel.parameters(), lr=0.1)
    for _ in range(3):
        loss = pf.nn.functional.mse_loss(model(pf.from_numpy(x)), pf.from_numpy(y)) * 50
        loss.backward()
        total = clip_grad_norm_(model.parameters(), 0.5)
        opt.step()
        pf.eval(loss, total)
        tloss = torch.nn.functional.mse_loss(tmodel(torch.from_numpy(x)), torch.from_numpy(y)) * 50
        topt.zero_grad()
        tloss.backward()
        want = tutils.clip_grad_norm_(tmodel.parameters(), 0.5)
        topt.step()
        np.testing.assert_allclose(loss.item(), tloss.item(), rtol=1e-5)
        np.testing.assert_allclose(total.item(), want.item(), rtol=1e-5)
    for name, t in tmodel.state_dict().items():
        np.testing.assert_allclose(
            model.state_dict()[name].numpy(), t.numpy(), rtol=1e-5, atol=1e-6
        )


def test_a_new_max_norm_takes_effect_and_never_recompiles():
    """max_norm is runtime data (session 23: a constant of the program, so every new value
    compiled a new step); a schedule of max_norm matches torch step by step."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((6, 4)).astype(np.float32)
    torch.manual_seed(1)
    tmodel = torch.nn.Linear(4, 2)
    model = pf.nn.Linear(4, 2)
    model.load_state_dict(tmodel.state_dict())
    opt = pf.optim.SGD(model.parameters(), lr=0.1)
    topt = torch.optim.SGD(tmodel.parameters(), lr=0.1)
    misses = []
    for max_norm in (2.0, 0.5, 0.05, 3.0, 0.2, 1.0):
        loss = (model(pf.from_numpy(x)) ** 2).sum()
        loss.backward()
        total = clip_grad_norm_(model.parameters(), max_norm)
        opt.step()
        pf.eval(loss, total)
        misses.append(pf.cache_info().misses)
        topt.zero_grad()
        (tmodel(torch.from_numpy(x)) ** 2).sum().backward()
        want = tutils.clip_grad_norm_(tmodel.parameters(), max_norm)
        topt.step()
        np.testing.assert_allclose(total.item(), want.item(), rtol=1e-6)
        for name, t in tmodel.state_dict().items():
            np.testing.assert_allclose(
                model.state_dict()[name].numpy(), t.numpy(), rtol=1e-6, atol=1e-7
            )
    # the first step (no step pending yet) and the second compile; 0.05 .. 0.2 reuse the
    # second; max_norm=1.0 leaves its multiply out (the program it always had)
    assert misses[2:5] == [misses[1]] * 3 and misses[5] == misses[4] + 1
