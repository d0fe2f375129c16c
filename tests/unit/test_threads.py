"""Issue 8, item 2: grad mode, the target, pending updates and the last report are per thread, and
concurrent `pf.eval` calls are safe (one shared compile cache)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import pyflame as pf

pytestmark = pytest.mark.usefixtures("small_target")


def _in_thread(fn, *args):
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(fn, *args).result()


def test_no_grad_in_one_thread_leaves_the_other_alone():
    inside, release = threading.Event(), threading.Event()

    def hold_no_grad():
        with pf.no_grad():
            inside.set()
            release.wait(10)
            return pf.autograd.is_grad_enabled()

    with ThreadPoolExecutor(1) as pool:
        other = pool.submit(hold_no_grad)
        assert inside.wait(10)
        try:
            x = pf.from_numpy(np.ones(3, np.float32))
            x.requires_grad = True
            assert pf.autograd.is_grad_enabled() and (x * 2).requires_grad
        finally:
            release.set()
        assert other.result() is False
    assert _in_thread(pf.autograd.is_grad_enabled)  # a new thread starts with gradients on


def _train(seed: int, steps: int = 4, barrier: threading.Barrier | None = None) -> list[float]:
    """A small MLP trained with SGD; an evaluation under no_grad between steps."""
    rng = np.random.default_rng(seed)
    pf.manual_seed(seed)
    model = pf.nn.Sequential(pf.nn.Linear(6, 8), pf.nn.Tanh(), pf.nn.Linear(8, 3))
    weights = {
        k: rng.standard_normal(v.shape).astype(np.float32) * 0.5
        for k, v in model.state_dict().items()
    }
    model.load_state_dict(weights)
    opt = pf.optim.SGD(model.parameters(), lr=0.2)
    losses = []
    for _ in range(steps):
        x = pf.from_numpy(rng.standard_normal((5, 6)).astype(np.float32))
        y = pf.from_numpy(rng.integers(0, 3, 5).astype(np.int32))
        if barrier is not None:
            barrier.wait(10)
        loss = pf.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        pf.eval(loss)
        losses.append(loss.item())
        with pf.no_grad():
            model(x).numpy()
    return losses


def test_two_threads_train_two_models_as_they_would_alone():
    alone = [_train(1), _train(2)]
    for _ in range(2):
        barrier = threading.Barrier(2)
        with ThreadPoolExecutor(2) as pool:
            futures = [pool.submit(_train, seed, 4, barrier) for seed in (1, 2)]
            together = [f.result() for f in futures]
        assert together == alone


def test_pending_updates_and_reports_are_per_thread():
    w = pf.nn.Parameter(np.zeros(2, np.float32))
    with pf.no_grad():
        pf.runtime.add_pending_update(w, w + 1)

    def other_thread():
        z = pf.ones([4]) * 3
        pf.eval(z)  # must not run this thread's... the main thread's update
        return pf.runtime.pending_updates(), pf.last_report()

    pending, report = _in_thread(other_thread)
    assert pending == [] and report is not None
    assert len(pf.runtime.pending_updates()) == 1
    np.testing.assert_array_equal(w.numpy(), [1, 1])  # reading w applies this thread's update
    assert pf.runtime.pending_updates() == []
    assert pf.last_report() is not report


def test_target_is_per_thread_and_the_main_threads_choice_is_the_default():
    assert pf.sim.get_target() is pf.sim.SMALL
    assert _in_thread(pf.sim.get_target) is pf.sim.WSE2  # the fixture's block is this thread's

    def choose():
        pf.set_target(pf.sim.WSE3)
        return pf.sim.get_target()

    assert _in_thread(choose) is pf.sim.WSE3
    assert pf.sim.get_target() is pf.sim.SMALL


def test_set_target_in_a_block_ends_with_the_block():
    with pf.target(pf.sim.WSE2):
        pf.set_target("wse3")
        assert pf.sim.get_target() is pf.sim.WSE3
        assert _in_thread(pf.sim.get_target) is pf.sim.WSE2  # not a default for other threads
    assert pf.sim.get_target() is pf.sim.SMALL  # the fixture's block again


def test_set_target_in_the_main_thread_sets_the_default_of_new_threads():
    """Outside any block (a script's top level): a fresh interpreter, as pytest runs every test
    inside the fixture's block."""
    import subprocess
    import sys

    code = (
        "import threading, pyflame as pf\n"
        "pf.set_target('wse3')\n"
        "seen = []\n"
        "t = threading.Thread(target=lambda: seen.append(pf.sim.get_target().name))\n"
        "t.start(); t.join()\n"
        "def choose():\n"
        "    pf.set_target(pf.sim.SMALL)\n"
        "t = threading.Thread(target=choose); t.start(); t.join()\n"
        "print(seen[0], pf.sim.get_target().name)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["WSE3", "WSE3"]  # a worker's choice stays its own


@pytest.mark.parametrize("name", ["WSE3", "wse2", "small", "SMALL"])
def test_targets_by_preset_name(name):
    with pf.target(name) as t:
        from pyflame.core.target import PRESETS

        assert t is PRESETS[name.upper()]
        y = pf.ones([2, 2]) + 1
        np.testing.assert_array_equal(y.numpy(), np.full((2, 2), 2, np.float32))


@pytest.mark.parametrize(
    "bad, error, words",
    [
        (None, TypeError, "a target is a pf.sim.Target or a preset name"),
        (3, TypeError, "got int"),
        ("WSE4", ValueError, "unknown target 'WSE4': use one of SMALL, WSE2, WSE3"),
    ],
)
def test_bad_targets_are_refused_where_they_are_passed(bad, error, words):
    with pytest.raises(error, match=words):
        pf.set_target(bad)
    with pytest.raises(error, match=words), pf.target(bad):
        pass
    assert pf.sim.get_target() is pf.sim.SMALL  # nothing changed


def test_concurrent_evaluations_share_one_compile_and_agree():
    pf.cache_clear()
    rng = np.random.default_rng(0)
    inputs = [rng.standard_normal((12, 10)).astype(np.float32) for _ in range(8)]

    def run(a):
        x = pf.from_numpy(a)
        return (pf.relu(x @ x.T) + 1).sum(dim=1).numpy()

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(run, inputs))
    for a, r in zip(inputs, results, strict=True):
        np.testing.assert_allclose(r, (np.maximum(a @ a.T, 0) + 1).sum(1), rtol=1e-5)
    info = pf.cache_info()
    assert info.misses == 1 and info.hits == 7
