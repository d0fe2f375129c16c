"""Training programs several tests compile (not a test module)."""

from __future__ import annotations

import numpy as np

import pyflame as pf
from pyflame import nn, optim


def mlp_step() -> pf.Tensor:
    """The MLP 784-256-10 SGD step (batch 64) on the default target: its loss, with the
    backward and the update pending."""
    pf.manual_seed(0)
    model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
    opt = optim.SGD(model.parameters(), lr=0.1)
    rng = np.random.default_rng(0)
    x = pf.from_numpy(rng.standard_normal((64, 784)).astype(np.float32))
    y = pf.from_numpy(rng.integers(0, 10, 64).astype(np.int32))
    loss = nn.functional.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
    return loss
