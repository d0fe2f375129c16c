"""Route-switch ordering (allocate-colors' barriers) on the MLP 784-256-10 training step: how many
channels switch rules, how many barriers order them, and the simulated cycles.

    python benchmarks/barriers.py
"""

from __future__ import annotations

import numpy as np

import pyflame as pf
from pyflame import nn, optim


def main() -> None:
    pf.manual_seed(0)
    model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
    opt = optim.SGD(model.parameters(), lr=0.1)
    rng = np.random.default_rng(0)
    x = pf.from_numpy(rng.standard_normal((64, 784)).astype(np.float32))
    y = pf.from_numpy(rng.integers(0, 10, 64).astype(np.int32))
    loss = nn.functional.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
    text = pf.ir(loss, stage="pe")
    barrier = next(
        (line.split("=")[0].strip() for line in text.splitlines() if '"barrier"' in line), None
    )
    # a barrier ends with the multicast back from its last PE: one pe.send of the word
    sends = text.count(f"pe.send {barrier} ") if barrier else 0
    pf.eval(loss)
    print(f"pe IR: {len(text.splitlines())} lines, {text.count('pe.route')} pe.route ops")
    print(f"barriers: {sends // 3 if barrier else 0}")
    print(f"simulated cycles: {pf.last_report().cycles:,}")


if __name__ == "__main__":
    main()
