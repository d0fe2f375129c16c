"""Issue 5's acceptance test: the same MLP and the same small CNN with BatchNorm, trained in
PyTorch and in PyFlame from the same weights on the same batches, give the same loss at every
step (rtol 2e-3) with SGD + momentum and with Adam; the training step compiles once."""

from __future__ import annotations

import numpy as np
import pytest

import pyflame as pf

torch = pytest.importorskip("torch")
tnn = torch.nn

STEPS = 6


pytestmark = pytest.mark.usefixtures("small_target")


def mlp(lib):
    nn = lib.nn
    return nn.Sequential(nn.Linear(12, 16), nn.ReLU(), nn.Linear(16, 8), nn.GELU(), nn.Linear(8, 4))


def cnn(lib):
    nn = lib.nn
    return nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(4, 4, 3, padding=1, bias=False),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(4 * 3 * 3, 5),
    )


def batches(kind: str):
    rng = np.random.default_rng(7)
    out = []
    for _ in range(STEPS):
        if kind == "mlp":
            x = rng.standard_normal((10, 12)).astype(np.float32)
            y = rng.integers(0, 4, 10)
        else:
            x = rng.standard_normal((6, 2, 6, 6)).astype(np.float32)
            y = rng.integers(0, 5, 6)
        out.append((x, y))
    return out


def optimizer(lib, params, name):
    if name == "sgd":
        return lib.optim.SGD(params, lr=0.05, momentum=0.9)
    return lib.optim.Adam(params, lr=0.01)


@pytest.mark.parametrize("opt", ["sgd", "adam"])
@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_losses_match_pytorch_every_step(kind, opt):
    torch.manual_seed(0)
    tmodel = mlp(torch) if kind == "mlp" else cnn(torch)
    model = mlp(pf) if kind == "mlp" else cnn(pf)
    model.load_state_dict({k: v.detach().numpy() for k, v in tmodel.state_dict().items()})
    topt = optimizer(torch, tmodel.parameters(), opt)
    popt = optimizer(pf, model.parameters(), opt)
    tloss_fn, ploss_fn = tnn.CrossEntropyLoss(), pf.nn.CrossEntropyLoss()
    tmodel.train()
    model.train()
    pf.cache_clear()
    for x, y in batches(kind):
        topt.zero_grad()
        tloss = tloss_fn(tmodel(torch.from_numpy(x)), torch.from_numpy(y))
        tloss.backward()
        topt.step()

        with pf.autograd.enable_grad():
            loss = ploss_fn(model(pf.from_numpy(x)), pf.from_numpy(y.astype(np.int32)))
        pf.backward(loss)
        popt.step()
        pf.eval(loss)
        np.testing.assert_allclose(loss.item(), tloss.item(), rtol=2e-3)
    assert pf.cache_info().misses == 1  # forward + backward + update: one program, once
    for (name, p), (_, t) in zip(
        model.state_dict().items(), tmodel.state_dict().items(), strict=True
    ):
        if kind == "cnn" and opt == "adam" and name in ("0.bias", "1.running_mean"):
            # a conv bias followed by BatchNorm has an exactly zero gradient: both frameworks
            # see rounding noise there, which Adam's normalisation turns into lr-sized steps
            # (and the running mean after it follows that bias)
            continue
        np.testing.assert_allclose(
            np.asarray(p.numpy(), np.float64),
            t.detach().double().numpy(),
            rtol=2e-3,
            atol=2e-4,
            err_msg=name,
        )
