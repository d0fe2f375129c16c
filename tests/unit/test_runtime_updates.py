"""Pending state updates and the values lazy tensors see around them."""

import numpy as np
import pytest

import pyflame as pf
from pyflame.runtime import add_pending_update, pending_updates

pytestmark = pytest.mark.usefixtures("small_target")


def test_lazy_tensors_built_before_an_update_keep_the_old_value():
    w = pf.from_numpy(np.ones(3, np.float32))
    w.requires_grad = True
    loss = (w * w).sum()
    out = w * 10
    pf.backward(loss)
    pf.optim.SGD([w], lr=0.5).step()
    pf.eval(loss)  # applies the update: w = 1 - 0.5 * 2
    np.testing.assert_array_equal(w.numpy(), [0, 0, 0])
    np.testing.assert_array_equal(w.grad.numpy(), [2, 2, 2])  # as in PyTorch after step()
    np.testing.assert_array_equal(out.numpy(), [10, 10, 10])
    np.testing.assert_array_equal((w * 10).numpy(), [0, 0, 0])  # built after: new value


def test_reading_a_parameter_after_the_optimizer_step_shows_the_step():
    """PyTorch's step changes the parameter at once: `w.numpy()` (print, item, np.asarray)
    right after `opt.step()` shows the new values, and the loss read after that is still the
    loss before the step (it was built before). It used to return the old values silently."""
    torch = pytest.importorskip("torch")
    x = np.arange(6, dtype=np.float32).reshape(2, 3) / 4
    w0 = np.array([[0.5, -1.0, 2.0]], np.float32)
    w = pf.from_numpy(w0.copy())
    w.requires_grad = True
    loss = ((pf.from_numpy(x) @ w.T) ** 2).sum()
    pf.backward(loss)
    pf.optim.SGD([w], lr=0.1).step()
    tw = torch.tensor(w0, requires_grad=True)
    tloss = ((torch.tensor(x) @ tw.T) ** 2).sum()
    tloss.backward()
    torch.optim.SGD([tw], lr=0.1).step()
    np.testing.assert_allclose(w.numpy(), tw.detach().numpy(), rtol=1e-6)
    assert not np.allclose(w.numpy(), w0)
    np.testing.assert_allclose(loss.item(), tloss.item(), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(w), tw.detach().numpy(), rtol=1e-6)


def test_a_failed_eval_drops_its_pending_updates():
    w = pf.from_numpy(np.ones((4, 4), np.float32))
    add_pending_update(w, w.reshape(16).reshape(4, 4) + 1)
    bad = pf.from_numpy(np.ones((2, 2), np.int32)) @ pf.from_numpy(np.ones((2, 2), np.int32))
    with pytest.raises(pf.CompileError):
        pf.eval(bad)
    assert pending_updates() == []
    np.testing.assert_array_equal((w + 0).numpy(), np.ones((4, 4)))  # later evals work


def test_where_of_two_scalars():
    c = pf.from_numpy(np.array([True, False]))
    np.testing.assert_array_equal(pf.where(c, 1.0, -1.0).numpy(), [1.0, -1.0])
    assert pf.where(c, 1, 0).dtype is pf.int32
