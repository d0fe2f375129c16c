"""Issue 8, item 1: reading a value (`.item()`, `.numpy()`, `print`) before `backward()` keeps the
gradient graph, so gradients and training match PyTorch in the usual logging-first loop."""

from __future__ import annotations

import re

import numpy as np
import pytest

import pyflame as pf

torch = pytest.importorskip("torch")


pytestmark = pytest.mark.usefixtures("small_target")


def _data(seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((6, 5)).astype(np.float32)
    w = rng.standard_normal((5, 3)).astype(np.float32)
    return x, w


@pytest.mark.parametrize("read", ["item", "numpy", "print", "eval", "float", "format"])
def test_gradient_after_reading_the_loss_matches_torch(read, capsys):
    x, w = _data()
    pw = pf.from_numpy(w)
    pw.requires_grad = True
    loss = pf.tanh(pf.from_numpy(x) @ pw).pow(2).mean()
    if read == "item":
        loss.item()
    elif read == "numpy":
        loss.numpy()
    elif read == "print":
        print(loss)
    elif read == "eval":
        pf.eval(loss)
    elif read == "float":
        float(loss)
    else:
        f"{loss:.3f}"
    assert loss.is_evaluated and loss.requires_grad and not loss.is_leaf
    loss.backward()
    assert pw.grad is not None

    tw = torch.from_numpy(w).requires_grad_()
    torch.tanh(torch.from_numpy(x) @ tw).pow(2).mean().backward()
    np.testing.assert_allclose(pw.grad.numpy(), tw.grad.numpy(), rtol=1e-4, atol=1e-6)
    capsys.readouterr()


def test_intermediate_values_read_before_backward():
    """Printing a hidden activation mid-graph (evaluating it alone) changes nothing either."""
    x, w = _data(1)
    pw = pf.from_numpy(w)
    pw.requires_grad = True
    h = pf.from_numpy(x) @ pw
    h.numpy()  # evaluated: a data leaf for the compiler, still a graph node for autograd
    loss = (pf.relu(h) * h).sum()
    pf.backward(loss)

    tw = torch.from_numpy(w).requires_grad_()
    th = torch.from_numpy(x) @ tw
    (torch.relu(th) * th).sum().backward()
    np.testing.assert_allclose(pw.grad.numpy(), tw.grad.numpy(), rtol=1e-4, atol=1e-5)


def test_training_loop_logging_the_loss_first_matches_torch():
    rng = np.random.default_rng(3)
    torch.manual_seed(0)
    tmodel = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))
    model = pf.nn.Sequential(pf.nn.Linear(8, 16), pf.nn.ReLU(), pf.nn.Linear(16, 3))
    model.load_state_dict({k: v.detach().numpy() for k, v in tmodel.state_dict().items()})
    topt = torch.optim.SGD(tmodel.parameters(), lr=0.1, momentum=0.9)
    opt = pf.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    losses, tlosses = [], []
    for _ in range(5):
        x = rng.standard_normal((10, 8)).astype(np.float32)
        y = rng.integers(0, 3, 10)
        topt.zero_grad()
        tloss = torch.nn.functional.cross_entropy(tmodel(torch.from_numpy(x)), torch.from_numpy(y))
        tlosses.append(tloss.item())
        tloss.backward()
        topt.step()

        loss = pf.nn.functional.cross_entropy(
            model(pf.from_numpy(x)), pf.from_numpy(y.astype(np.int32))
        )
        losses.append(loss.item())  # the most common PyTorch pattern: log, then backward
        loss.backward()
        opt.step()
    pf.eval(*model.parameters())
    np.testing.assert_allclose(losses, tlosses, rtol=2e-3)
    assert len(set(losses)) == len(losses)  # the parameters moved every step
    for p, tp in zip(model.parameters(), tmodel.parameters(), strict=True):
        np.testing.assert_allclose(p.numpy(), tp.detach().numpy(), rtol=2e-3, atol=2e-4)


def test_ops_built_after_a_step_see_the_stepped_parameters():
    """`opt.step()` takes effect for every op built afterwards, before any pf.eval (as in
    PyTorch), while ops built before it keep the old value."""
    w = pf.nn.Parameter(np.full(3, 2.0, np.float32))
    w.grad = pf.ones([3])
    opt = pf.optim.SGD([w], lr=0.5)
    before = w * 1
    opt.step()
    after = w * 1
    opt.step()
    twice = w * 1
    np.testing.assert_allclose(after.numpy(), [1.5] * 3)
    np.testing.assert_allclose(before.numpy(), [2.0] * 3)
    np.testing.assert_allclose(twice.numpy(), [1.0] * 3)
    np.testing.assert_allclose(w.numpy(), [1.0] * 3)


def test_backward_after_an_update_uses_the_values_the_loss_was_built_from():
    """The kept graph sees the parameter's old value even after a step replaced it."""
    x, w = _data(2)
    pw = pf.from_numpy(w)
    pw.requires_grad = True
    loss = (pf.from_numpy(x) @ pw).pow(2).sum()
    loss.item()
    with pf.no_grad():
        pf.runtime.add_pending_update(pw, pw * 0.0)
    pf.eval(pw)  # pw is now all zeros
    assert not pw.numpy().any()
    pf.backward(loss)
    expected = 2 * x.T @ (x @ w)
    np.testing.assert_allclose(pw.grad.numpy(), expected, rtol=1e-4, atol=1e-4)


def test_a_parameter_an_op_saved_and_a_step_changed_raises_as_pytorch():
    """mul saves w (the other operand needs a gradient too): an optimizer step after the
    forward changes it in place, so backward raises PyTorch's error (issue 12), also after
    the loss was read; a clone() before the step keeps the values the rule reads."""
    w0 = np.array([1.0, -2.0, 3.0], np.float32)
    words = "[torch.FloatTensor [3]] is at version 1; expected version 0 instead."
    for lib, w in ((pf, pf.nn.Parameter(w0.copy())), (torch, torch.nn.Parameter(torch.tensor(w0)))):
        loss = (w * w * w).sum()  # d/dw = 3 w^2: the rule reads w's value
        loss.item()
        w.grad = lib.ones(3)
        lib.optim.SGD([w], lr=1.0).step()
        np.testing.assert_allclose(w.detach().numpy(), w0 - 1)
        with pytest.raises(RuntimeError, match=re.escape(words)):
            loss.backward()
    w = pf.nn.Parameter(w0.copy())
    saved = w.clone()
    loss = (saved * saved * saved).sum()
    loss.item()
    w.grad = pf.ones([3])
    pf.optim.SGD([w], lr=1.0).step()
    pf.backward(loss)
    np.testing.assert_allclose(w.grad.numpy(), 3 * w0**2, rtol=1e-6)


def test_rules_read_the_stepped_value_before_it_is_evaluated():
    w0 = np.array([1.0, -2.0, 3.0], np.float32)
    w = pf.nn.Parameter(w0.copy())
    w.grad = pf.ones([3])
    pf.optim.SGD([w], lr=1.0).step()
    loss = (w * w * w).sum()  # built after the step: w is w0 - 1 for it
    pf.backward(loss)
    np.testing.assert_allclose(w.grad.numpy(), 3 * (w0 - 1) ** 2, rtol=1e-6)
    np.testing.assert_allclose(loss.item(), ((w0 - 1) ** 3).sum(), rtol=1e-6)


def test_detach_still_stops_gradients_and_leaves_are_leaves():
    x, w = _data()
    pw = pf.from_numpy(w)
    pw.requires_grad = True
    y = pf.from_numpy(x) @ pw
    assert pw.is_leaf and pw.grad_fn is None
    assert not y.is_leaf and y.grad_fn is not None and y.grad_fn.name() == "flame.matmul"
    d = y.detach()
    assert d.is_leaf and not d.requires_grad
    d.numpy()
    with pytest.raises(RuntimeError, match="does not require grad"):
        d.sum().backward()


def test_evaluated_tensors_without_gradients_still_drop_their_graph():
    y = pf.ones([3]) * 2
    y.numpy()
    assert y.op is None and y.inputs == () and y.is_leaf


def test_requires_grad_on_integer_tensors_is_refused():
    t = pf.from_numpy(np.arange(4, dtype=np.int32))
    with pytest.raises(RuntimeError, match="only Tensors of floating point dtype can require"):
        t.requires_grad = True
    with pytest.raises(RuntimeError, match="floating point"):
        t.requires_grad_()
    with pytest.raises(RuntimeError, match="floating point"):
        pf.nn.Parameter(np.arange(3, dtype=np.int32))
    t.requires_grad = False  # turning it off is always fine on a leaf


def test_integer_results_of_differentiable_inputs_do_not_require_grad():
    x = pf.from_numpy(np.array([1.5, -2.0], np.float32))
    x.requires_grad = True
    assert not x.int().requires_grad and not (x > 0).requires_grad and not x.argmax().requires_grad
    assert x.half().requires_grad


def test_requires_grad_cannot_be_turned_off_on_a_non_leaf():
    x = pf.from_numpy(np.ones(3, np.float32))
    x.requires_grad = True
    y = x * 2
    with pytest.raises(RuntimeError, match="only change requires_grad flags of leaf variables"):
        y.requires_grad = False


def test_set_grad_enabled_as_a_call_and_as_a_context():
    x = pf.from_numpy(np.ones(3, np.float32))
    x.requires_grad = True
    try:
        pf.autograd.set_grad_enabled(False)
        assert not pf.autograd.is_grad_enabled() and not (x * 2).requires_grad
    finally:
        pf.autograd.set_grad_enabled(True)
    assert (x * 2).requires_grad
    with pf.autograd.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert pf.autograd.is_grad_enabled()
