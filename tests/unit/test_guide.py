"""The migration guide's snippets outside the model/training sections, run as written
(`seed/pytorch-to-pyflame-migration-guide.md`). Each test quotes its snippet; the numbers are
checked against numpy where the snippet computes something."""

from __future__ import annotations

import numpy as np
import pytest

import pyflame as pf

pytestmark = pytest.mark.usefixtures("small_target")


def test_execution_model_lazy_evaluation():
    x = pf.randn([100, 100])  # Graph node created - NO computation yet
    y = pf.relu(x)  # Graph extended - still NO computation
    z = y.sum()  # Graph extended - still NO computation
    assert not z.is_evaluated
    pf.eval(z)  # or z.numpy() triggers implicit eval
    print(z.numpy())
    np.testing.assert_allclose(z.numpy(), np.maximum(x.numpy(), 0).sum(), rtol=1e-4)


def test_debugging_pattern_return_intermediates():
    layer1 = pf.nn.Linear(8, 8)
    layer2 = pf.nn.Linear(8, 4)
    x = pf.randn([3, 8])

    def debug_forward(x):
        h1 = layer1(x)
        h2 = layer2(h1)
        return h1, h2  # Return intermediates

    h1, h2 = debug_forward(x)
    pf.eval(h1, h2)  # Evaluate both
    print(h1.numpy().mean())  # Now inspect
    assert h1.shape == (3, 8) and h2.shape == (3, 4)


def test_hardware_topology_snippets_build_lazily_and_fail_to_fit_at_compile_time():
    with pf.target(pf.sim.WSE2):
        layout = pf.MeshLayout.grid(16, 16)  # Use a 16x16 grid of PEs
        x = pf.randn([4096, 4096], layout=layout)  # Distributed across 256 PEs
        y = pf.randn([4096, 4096], layout=layout)  # Same distribution
        z = x @ y  # Compiler generates PE-to-PE communication
        with pytest.raises(pf.SRAMOverflowError):
            pf.eval(z)
        layout = pf.MeshLayout.grid(8, 8)
        x = pf.randn([2048, 2048], layout=layout)  # 256x256 per PE
        local_sum = x.sum(dim=1)  # Each PE reduces its portion
        global_sum = local_sum.sum()  # Collect from all PEs
        assert global_sum.shape == ()


def test_local_then_global_reduction_on_a_grid_that_fits():
    layout = pf.MeshLayout.grid(8, 8)
    x = pf.randn([200, 200], layout=layout)
    local_sum = x.sum(dim=1)  # Each PE reduces its portion
    global_sum = local_sum.sum()  # Collect from all PEs
    np.testing.assert_allclose(global_sum.numpy(), x.numpy().sum(), rtol=1e-3, atol=1e-2)


def test_static_graphs_dropout_in_forward():
    linear1, linear2 = pf.nn.Linear(6, 6), pf.nn.Linear(6, 2)

    def forward(x, use_dropout=True):
        h = linear1(x)
        if use_dropout:  # Python if evaluates at GRAPH BUILD time!
            h = pf.dropout(h, p=0.5)  # Either always in graph or never
        return linear2(h)

    assert forward(pf.randn([4, 6])).numpy().shape == (4, 2)


def test_conditional_computation_with_one_hot_selection():
    classifier, regressor = pf.nn.Linear(5, 3), pf.nn.Linear(5, 3)

    def forward(x, task_one_hot):
        class_out = classifier(x)  # Always computed
        reg_out = regressor(x)  # Always computed
        output = class_out * task_one_hot[:, 0:1] + reg_out * task_one_hot[:, 1:2]
        return output

    x = pf.randn([4, 5])
    task = pf.from_numpy(np.array([[1, 0], [0, 1], [1, 0], [0, 1]], np.float32))
    out = forward(x, task).numpy()
    want = np.where(
        np.array([[1], [0], [1], [0]]) == 1, classifier(x).numpy(), regressor(x).numpy()
    )
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-6)


def test_attention_with_mask_and_refinements():
    num_refinements = 2

    def refine(w):
        return w * 0.5 + 0.25

    def attention(query, key, value, mask=None):
        scores = pf.matmul(query, key.transpose(-2, -1))
        if mask is not None:
            scores = pf.where(mask == 0, pf.full_like(scores, float("-inf")), scores)
        weights = pf.softmax(scores, dim=-1)
        for _ in range(num_refinements):  # Must be fixed at graph build
            weights = refine(weights)
        return pf.matmul(weights, value)

    rng = np.random.default_rng(0)
    q, k, v = (rng.standard_normal(s).astype(np.float32) for s in ((2, 4, 3), (2, 5, 3), (2, 5, 6)))
    m = (rng.random((4, 5)) > 0.4).astype(np.float32)
    m[:, 0] = 1
    out = attention(pf.from_numpy(q), pf.from_numpy(k), pf.from_numpy(v), pf.from_numpy(m)).numpy()
    s = q @ k.transpose(0, 2, 1)
    s = np.where(m == 0, -np.inf, s)
    w = np.exp(s - s.max(-1, keepdims=True))
    w /= w.sum(-1, keepdims=True)
    w = (w * 0.5 + 0.25) * 0.5 + 0.25
    np.testing.assert_allclose(out, w @ v, rtol=1e-4, atol=1e-5)


def test_static_loops_and_branching():
    x = pf.randn([4, 4])

    def update(x):
        return x * 0.9 + 0.1

    max_iterations = 10  # the guide's 100, shortened
    for _ in range(max_iterations):
        x = update(x)
    condition = x > 0.5
    result = pf.where(condition, x * 2, x - 1)
    assert result.numpy().shape == (4, 4)


def test_memory_model_snippets():
    intermediate = pf.zeros([1000])  # Node in graph, no allocation yet
    pf.eval(intermediate)  # Compiler plans all memory, THEN allocates
    small = pf.randn([100])  # Fits in one PE's SRAM
    with pf.target(pf.sim.WSE2):
        large = pf.randn([1000000], layout=pf.MeshLayout.row_partition(1000))  # Split
        assert large.numpy().shape == (1000000,)
    assert small.numpy().shape == (100,)

    model = pf.nn.Linear(4, 2)
    x = pf.randn([3, 4])
    history_np = []
    for _ in range(5):
        output = model(x)
        pf.eval(output)
        history_np.append(output.numpy())  # Move to CPU, free WSE memory
    assert len(history_np) == 5


def test_what_works_the_same_tensor_and_shape_operations():
    x, y = pf.randn([6, 6]), pf.randn([6, 6])
    z = x + y
    z = x * y
    z = x @ y  # Matrix multiply
    mean = x.mean()
    total = x.sum(dim=1)
    y = pf.relu(x)
    y = pf.sigmoid(x)
    y = pf.softmax(x, dim=-1)
    pf.eval(z, mean, total, y)
    batch, new_shape = 3, 12
    x = x.view([batch, -1])
    x = x.transpose(0, 1)
    x = x.reshape([new_shape, -1])
    assert x.numpy().shape == (12, 3)


def test_requires_rethinking_snippets():
    x = pf.randn([4, 6])
    keep_prob, step = 0.8, 3
    dropout_mask = pf.bernoulli(pf.ones_like(x), p=keep_prob, seed=step)
    x = x * dropout_mask / keep_prob
    again = pf.bernoulli(pf.ones_like(x), p=keep_prob, seed=step)
    np.testing.assert_array_equal(dropout_mask.numpy(), again.numpy())  # seed fixes the mask

    experts = [pf.nn.Linear(6, 6) for _ in range(3)]
    routing_weights = pf.softmax(pf.randn([3, 4]), dim=0)
    inp = pf.randn([4, 6])
    outputs = [expert(inp) for expert in experts]  # Run all
    stacked = pf.stack(outputs, dim=0)
    result = (stacked * routing_weights.unsqueeze(-1)).sum(dim=0)
    want = sum(
        o.numpy() * w[:, None] for o, w in zip(outputs, routing_weights.numpy(), strict=True)
    )
    np.testing.assert_allclose(result.numpy(), want, rtol=1e-4, atol=1e-5)

    threshold, a, b = 0.0, pf.ones([4, 6]), pf.zeros([4, 6])
    result = pf.where(inp > threshold, a, b)
    np.testing.assert_array_equal(result.numpy(), (inp.numpy() > 0).astype(np.float32))
