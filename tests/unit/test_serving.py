"""pf.serving.InferenceEngine: compile once at the warmed-up batch size, pad smaller batches,
split larger ones, and give exactly the model's own output."""

from __future__ import annotations

import numpy as np
import pytest

import pyflame as pf
from pyflame.nn import functional as F
from pyflame.nn.module import Module
from pyflame.nn.parameter import Parameter
from pyflame.serving import InferenceEngine

IN, OUT = 6, 4


pytestmark = pytest.mark.usefixtures("small_target")


class Net(Module):
    """Linear + ReLU + Linear; dropout in training mode only (the engine must use eval)."""

    def __init__(self):
        super().__init__()
        rng = np.random.default_rng(0)
        self.w1 = Parameter((rng.standard_normal((8, IN)) * 0.5).astype(np.float32))
        self.w2 = Parameter((rng.standard_normal((OUT, 8)) * 0.5).astype(np.float32))
        self.b2 = Parameter(rng.standard_normal(OUT).astype(np.float32))

    def forward_train(self, x):
        return F.linear(pf.dropout(pf.relu(F.linear(x, self.w1)), 0.5), self.w2, self.b2)

    def forward_eval(self, x):
        return F.linear(pf.relu(F.linear(x, self.w1)), self.w2, self.b2)


def inputs(n: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, IN)).astype(np.float32)


def direct(model: Net, x: np.ndarray) -> np.ndarray:
    """The model's own output in eval mode (compiled for x's batch size)."""
    with pf.no_grad():
        return model.forward_eval(pf.from_numpy(x)).numpy()


def test_smaller_batches_never_recompile():
    model = Net()
    engine = InferenceEngine(model)
    pf.cache_clear()
    engine.warmup(inputs(8))
    assert pf.cache_info().misses == 1 and engine.batch_size == 8
    for n in (8, 1, 3, 7, 5, 8):
        x = inputs(n, seed=n)
        out = engine.infer(x)
        assert isinstance(out, pf.Tensor) and out.is_evaluated and out.shape == (n, OUT)
        np.testing.assert_allclose(out.numpy(), direct(model, x), rtol=1e-5, atol=1e-6)
    assert engine.stats.compiles == 1
    assert engine.stats.calls == 6 and engine.stats.runs == 6
    assert engine.stats.samples == 32 and engine.stats.padded_samples == 6 * 8 - 32
    assert engine.stats.mean_cycles > 0
    assert engine.stats.mean_cycles == engine.stats.total_cycles / 6


def test_no_recompile_proved_by_cache_info():
    model = Net()
    engine = InferenceEngine(model).warmup(inputs(8))
    before = pf.cache_info()
    for n in range(1, 9):
        engine.infer(inputs(n))
    after = pf.cache_info()
    assert after.misses == before.misses
    assert after.hits == before.hits + 8


def test_larger_batches_are_split_into_chunks():
    model = Net()
    engine = InferenceEngine(model)
    engine.warmup(inputs(4))
    pf.cache_clear()
    x = inputs(10)
    out = engine.infer(x)
    assert pf.cache_info() == (2, 1, 1)  # cleared above: compiled again once, run 3 times
    assert out.shape == (10, OUT)
    np.testing.assert_allclose(out.numpy(), direct(model, x), rtol=1e-5, atol=1e-6)
    assert engine.stats.runs == 3 and engine.stats.calls == 1  # 4 + 4 + 2 (padded)
    assert engine.stats.padded_samples == 2


def test_max_batch_size_and_implicit_warmup():
    model = Net()
    engine = InferenceEngine(model, max_batch_size=16)
    x = inputs(5)
    out = engine.infer(x)  # no warmup: compiles for 16 on the first call
    assert engine.batch_size == 16 and engine.stats.compiles == 1
    np.testing.assert_allclose(out.numpy(), direct(model, x), rtol=1e-5, atol=1e-6)
    engine.infer(inputs(40))
    assert engine.stats.compiles == 1 and engine.stats.runs == 1 + 3


def test_model_runs_in_eval_mode_and_its_mode_is_restored():
    model = Net()  # training mode: forward_train has dropout
    engine = InferenceEngine(model).warmup(inputs(4))
    x = inputs(4)
    np.testing.assert_allclose(engine.infer(x).numpy(), direct(model, x), rtol=1e-5, atol=1e-6)
    assert model.training


def test_new_weights_need_no_recompile():
    pf.cache_clear()
    model = Net()
    engine = InferenceEngine(model).warmup(inputs(4))
    model.w2._set_data(model.w2.numpy() * 2)
    x = inputs(3)
    np.testing.assert_allclose(engine.infer(x).numpy(), direct(model, x), rtol=1e-5, atol=1e-6)
    assert engine.stats.compiles == 1


def test_pf_tensor_inputs_and_several_outputs():
    model = Net()

    def two_heads(x):
        y = model.forward_eval(x)
        return y, y.sum(dim=1)

    engine = InferenceEngine(two_heads).warmup(pf.from_numpy(inputs(4)))
    x = inputs(3)
    y, s = engine.infer(pf.from_numpy(x))
    np.testing.assert_allclose(y.numpy(), direct(model, x), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(s.numpy(), direct(model, x).sum(1), rtol=1e-5, atol=1e-5)


def test_guide_pattern_3():
    """The migration guide's inference snippet, as written."""
    model = Net()
    example_input = pf.from_numpy(inputs(8))
    dataloader = [inputs(8, seed=s) for s in range(3)] + [inputs(2, seed=9)]

    model.eval()
    engine = pf.serving.InferenceEngine(model)
    engine.warmup(example_input)

    results = []
    for batch in dataloader:
        batch = pf.from_numpy(batch)
        output = engine.infer(batch)
        results.append(output.numpy())
    assert [r.shape for r in results] == [(8, OUT)] * 3 + [(2, OUT)]
    assert engine.stats.compiles == 1


def test_wrong_feature_shape_is_refused():
    engine = InferenceEngine(Net()).warmup(inputs(4))
    with pytest.raises(ValueError, match="only the batch size may change"):
        engine.infer(np.zeros((2, IN + 1), np.float32))


def test_requests_from_several_threads_are_served_correctly():
    """A server answering requests in threads: every answer is the model's, the model stays in
    training mode for the thread that trains, and the counters add up."""
    from concurrent.futures import ThreadPoolExecutor

    model = Net()
    model.train()
    engine = InferenceEngine(model).warmup(inputs(8))
    batches = [inputs(n, seed=n) for n in (1, 3, 8, 5, 13, 2, 7, 8)]

    def serve(x):
        with pf.target(pf.sim.SMALL):
            return engine.infer(x).numpy()

    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(serve, batches))
    for x, y in zip(batches, answers, strict=True):
        np.testing.assert_allclose(y, direct(model, x), rtol=1e-5, atol=1e-6)
    assert model.training
    s = engine.stats
    assert s.calls == len(batches) and s.samples == sum(len(x) for x in batches)
    assert s.runs == sum(-(-len(x) // 8) for x in batches)
