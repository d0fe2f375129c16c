"""A module's state when something is still pending on it: `load_state_dict`, `copy.deepcopy`
and pickle right after `optimizer.step()` or a training forward that nothing evaluated yet,
`zero_grad(set_to_none=False)`, and the gradients a step already applied (PyTorch's results,
never the values from before the pending update or after it twice)."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest

import pyflame as pf
from pyflame import nn

torch = pytest.importorskip("torch")
tnn = torch.nn

X = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)


def torch_pair(momentum: float = 0.0):
    """A pf and a torch Linear(3, 2) with the same weights, each with its SGD."""
    torch.manual_seed(0)
    t = tnn.Linear(3, 2)
    p = nn.Linear(3, 2)
    p.load_state_dict(t.state_dict())
    return (
        p,
        pf.optim.SGD(p.parameters(), lr=0.1, momentum=momentum),
        t,
        torch.optim.SGD(t.parameters(), lr=0.1, momentum=momentum),
    )


def step_both(p, opt, t, topt) -> None:
    (p(pf.from_numpy(X)) ** 2).sum().backward()
    opt.step()
    topt.zero_grad()
    (t(torch.from_numpy(X)) ** 2).sum().backward()
    topt.step()


def same(p_tensor, t_tensor) -> None:
    np.testing.assert_allclose(p_tensor.numpy(), t_tensor.detach().numpy(), rtol=1e-6, atol=1e-7)


def test_load_state_dict_after_a_step_replaces_the_pending_update():
    p, opt, t, topt = torch_pair()
    step_both(p, opt, t, topt)  # p's step is pending: nothing evaluated it
    best = {"weight": np.full((2, 3), 7.0, np.float32), "bias": np.full(2, -7.0, np.float32)}
    p.load_state_dict(best)
    t.load_state_dict({k: torch.from_numpy(v) for k, v in best.items()})
    same(p.weight, t.weight)
    same(p.bias, t.bias)
    step_both(p, opt, t, topt)  # and training goes on from the loaded values
    same(p.weight, t.weight)


def test_ops_built_before_a_load_keep_the_old_values():
    p, opt, _, _ = torch_pair()
    before = p.weight.numpy().copy()
    doubled = p.weight * 2  # lazy: built from the old weight
    p.load_state_dict({"weight": np.zeros((2, 3), np.float32), "bias": np.zeros(2, np.float32)})
    np.testing.assert_array_equal(doubled.numpy(), before * 2)
    np.testing.assert_array_equal(p.weight.numpy(), 0)


def test_load_state_dict_after_an_unevaluated_batchnorm_forward():
    pretrained = {
        "weight": np.ones(2, np.float32),
        "bias": np.zeros(2, np.float32),
        "running_mean": np.full(2, 9.0, np.float32),
        "running_var": np.full(2, 9.0, np.float32),
        "num_batches_tracked": np.array(50),
    }
    bn = nn.BatchNorm1d(2)
    assert bn(pf.from_numpy(X[:, :2])).shape == (4, 2)  # a shape check: nothing evaluated
    bn.load_state_dict(pretrained)
    np.testing.assert_array_equal(bn.running_mean.numpy(), [9.0, 9.0])
    np.testing.assert_array_equal(bn.running_var.numpy(), [9.0, 9.0])
    assert int(bn.num_batches_tracked.item()) == 50


def test_deepcopy_after_a_step_has_the_stepped_values():
    p, opt, t, topt = torch_pair()
    step_both(p, opt, t, topt)
    best = copy.deepcopy(p)
    same(best.weight, t.weight)
    same(p.weight, t.weight)
    assert best.weight is not p.weight and isinstance(best.weight, nn.Parameter)
    assert best.weight.requires_grad
    np.testing.assert_array_equal(best.weight.grad.numpy(), p.weight.grad.numpy())
    # the copy trains on its own
    (best(pf.from_numpy(X)) ** 2).sum().backward()
    pf.optim.SGD(best.parameters(), lr=0.1).step()
    same(p.weight, t.weight)
    assert not np.allclose(best.weight.numpy(), p.weight.numpy())


def test_deepcopy_and_pickle_after_a_batchnorm_training_forward():
    bn, tb = nn.BatchNorm1d(2), tnn.BatchNorm1d(2)
    bn(pf.from_numpy(X[:, :2]))
    tb(torch.from_numpy(X[:, :2]))
    for twin in (copy.deepcopy(bn), pickle.loads(pickle.dumps(bn))):
        same(twin.running_mean, tb.running_mean)
        same(twin.running_var, tb.running_var)
        assert int(twin.num_batches_tracked.item()) == 1


class Tied(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(3, 3)
        self.b = nn.Linear(3, 3)
        self.b.weight = self.a.weight  # one parameter, two places

    def forward(self, x):
        return self.b(self.a(x))


def test_pickle_round_trip_after_training_keeps_values_and_sharing():
    model = Tied()
    opt = pf.optim.Adam(model.parameters(), lr=0.01)
    (model(pf.from_numpy(X)) ** 2).mean().backward()
    opt.step()
    for twin in (pickle.loads(pickle.dumps(model)), copy.deepcopy(model)):
        assert twin.b.weight is twin.a.weight
        np.testing.assert_array_equal(twin.a.weight.numpy(), model.a.weight.numpy())
        np.testing.assert_array_equal(
            twin(pf.from_numpy(X)).numpy(), model(pf.from_numpy(X)).numpy()
        )


def test_tensors_with_gradient_history_do_not_copy():
    w = pf.from_numpy(X).requires_grad_()
    y = w * 2
    with pytest.raises(RuntimeError, match="graph leaves"):
        copy.deepcopy(y)
    with pytest.raises(RuntimeError, match="graph leaves"):
        pickle.dumps(y)
    lazy = pf.from_numpy(X) + 1  # no history: evaluated and copied
    np.testing.assert_array_equal(copy.deepcopy(lazy).numpy(), X + 1)
    half = pickle.loads(pickle.dumps(pf.from_numpy(X).to(pf.bfloat16)))
    assert half.dtype is pf.bfloat16


def test_module_zero_grad_set_to_none_false_keeps_zeros():
    p, opt, t, topt = torch_pair(momentum=0.9)
    step_both(p, opt, t, topt)
    p.zero_grad(set_to_none=False)
    t.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(p.weight.grad.numpy(), 0)
    opt.step()  # momentum still moves the weights, as in PyTorch
    topt.step()
    same(p.weight, t.weight)
    p.zero_grad()
    assert p.weight.grad is None


def test_a_parameter_the_next_loss_misses_is_not_stepped_again():
    """The guide's loop has no zero_grad: the gradient a step applied does not outlive the next
    backward (PyTorch's loop with zero_grad: the parameter has no gradient and is skipped)."""
    a, b = nn.Linear(2, 1), nn.Linear(2, 1)
    opt = pf.optim.SGD([*a.parameters(), *b.parameters()], lr=0.1)
    x = pf.from_numpy(np.ones((1, 2), np.float32))
    pf.backward(a(x).sum() + b(x).sum())
    opt.step()
    stepped = b.weight.numpy().copy()
    assert b.weight.grad is not None  # still readable after the step
    pf.backward(a(x).sum())
    assert b.weight.grad is None and a.weight.grad is not None
    opt.step()
    np.testing.assert_array_equal(b.weight.numpy(), stepped)


def test_gradients_of_two_losses_before_one_step_both_count():
    """Nothing stepped between them: the second backward leaves the first one's gradients."""
    a, b = nn.Linear(2, 1), nn.Linear(2, 1)
    x = pf.from_numpy(np.ones((1, 2), np.float32))
    pf.backward(a(x).sum())
    pf.backward(b(x).sum())
    assert a.weight.grad is not None and b.weight.grad is not None


def test_torch_optimizer_state_continues_training():
    torch.manual_seed(0)
    t = tnn.Linear(3, 2)
    topt = torch.optim.Adam(t.parameters(), lr=0.01)
    for _ in range(2):
        topt.zero_grad()
        (t(torch.from_numpy(X)) ** 2).sum().backward()
        topt.step()
    p = nn.Linear(3, 2)
    p.load_state_dict(t.state_dict())
    opt = pf.optim.Adam(p.parameters(), lr=0.01)
    opt.load_state_dict(topt.state_dict())  # torch tensors in its state: copied, not shared
    for _ in range(2):
        step_both(p, opt, t, topt)
        same(p.weight, t.weight)


def test_batchnorm_training_needs_more_than_one_value_per_channel():
    with pytest.raises(ValueError, match=r"more than 1 value per channel when training.*\[1, 3\]"):
        nn.BatchNorm1d(3)(pf.from_numpy(X[:1]))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        nn.BatchNorm2d(3)(pf.from_numpy(np.ones((1, 3, 1, 1), np.float32)))
    bn = nn.BatchNorm1d(3).eval()  # running statistics: one sample is fine
    assert bn(pf.from_numpy(X[:1])).shape == (1, 3)


def test_another_models_backward_leaves_a_stepped_models_gradients():
    """Only a backward that reaches a step's parameters clears the gradients that step
    applied (two models, one loop: a GAN, a teacher and a student)."""
    a, b = nn.Linear(3, 1), nn.Linear(3, 1)
    opt_a = pf.optim.SGD(a.parameters(), lr=0.1)
    x = pf.from_numpy(np.ones((2, 3), np.float32))
    a(x).sum().backward()
    opt_a.step()
    b(x).sum().backward()  # another model: a's gradients stay, as in PyTorch
    np.testing.assert_array_equal(a.weight.grad.numpy(), [[2.0, 2.0, 2.0]])
    a(x).sum().backward()  # a's own: fresh ones
    np.testing.assert_array_equal(a.weight.grad.numpy(), [[2.0, 2.0, 2.0]])


def test_steps_and_backwards_in_two_threads_keep_to_their_own_records():
    import sys
    import threading

    errors: list[str] = []

    def train() -> None:
        try:
            ps = [nn.Parameter(pf.zeros(2)) for _ in range(300)]
            opt = pf.optim.SGD(ps, lr=0.1)
            for _ in range(20):
                loss = (ps[0] * 1.0).sum()
                for p in ps:
                    p.grad = pf.ones(2)
                opt.step()
                loss.backward()
                assert ps[1].grad is None  # applied, not reached: cleared
                assert ps[0].grad is not None
        except Exception as err:  # noqa: BLE001  (reported below, with the thread's error)
            errors.append(repr(err))

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads often: the race showed 2 runs in 3
    try:
        threads = [threading.Thread(target=train) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(interval)
    assert not errors, errors
