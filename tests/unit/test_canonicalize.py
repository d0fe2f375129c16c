"""canonicalize folds transposes of transposes and transposed products whose operand is a
transpose: the programs hold fewer transposes and compute the same values (numpy, torch)."""

from collections import Counter

import numpy as np
import pytest
import torch

import pyflame as pf
from pyflame import compiler, nn, optim
from pyflame.tools._context import parse_module

LAYOUTS = [None, pf.MeshLayout.grid(2, 3), pf.MeshLayout.row_partition(3)]


def ops_at(stage: str, *tensors: pf.Tensor, passes: str = "") -> Counter[str]:
    """The ops of the program computing `tensors` at `stage` (flame: as traced, then
    `passes`)."""
    text = pf.ir(*tensors, stage=stage)
    if passes:
        module = parse_module(compiler.make_context(), text, "test.mlir")
        compiler.run_pipeline(module, passes)
        return Counter(op.name for op in module.walk() if op.name.startswith(stage + "."))
    return Counter(
        word for line in text.splitlines() for word in line.split() if word.startswith(stage + ".")
    )


def arrays(*shapes, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(np.float32) for s in shapes]


def test_it_runs_right_after_decompose() -> None:
    steps = compiler.pipeline().split(",")
    assert steps[:3] == ["decompose", "canonicalize", "cse"]


@pytest.mark.usefixtures("small_target")
@pytest.mark.parametrize("layout", LAYOUTS)
def test_a_transpose_of_a_transpose_is_its_input(layout) -> None:
    (a,) = arrays((7, 5))
    x = pf.from_numpy(a, layout=layout)
    y = x.T.T * 2.0
    assert ops_at("mesh", y)["mesh.transpose"] == 0
    np.testing.assert_array_equal(y.numpy(), a * 2.0)


@pytest.mark.usefixtures("small_target")
def test_permutations_that_compose_to_a_third_give_its_values() -> None:
    (a,) = arrays((2, 3, 5))
    y = pf.from_numpy(a).permute(1, 2, 0).permute(1, 0, 2)
    np.testing.assert_array_equal(y.numpy(), a.transpose(1, 2, 0).transpose(1, 0, 2))


@pytest.mark.usefixtures("small_target")
def test_a_back_transpose_of_a_shared_transpose_is_kept() -> None:
    """w.T feeds one product and (w.T).T another: flame-to-mesh reads the second as w.T's
    layout transposed (folding it to w would need w in a layout of its own)."""
    w, x, g = arrays((6, 4), (5, 4), (5, 6))
    wt = pf.from_numpy(w).T
    y, z = pf.from_numpy(x) @ wt, pf.from_numpy(g) @ wt.T
    assert ops_at("flame", y, z, passes="canonicalize")["flame.transpose"] == 2
    np.testing.assert_allclose(y.numpy(), x @ w.T, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(z.numpy(), g @ w, rtol=1e-5, atol=1e-5)


@pytest.mark.usefixtures("small_target")
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("shapes", [((9, 7), (9, 5)), ((3, 6, 4), (3, 6, 5)), ((13, 1), (13, 3))])
def test_a_transposed_product_of_a_transpose(layout, shapes) -> None:
    a, b = arrays(*shapes)
    x, g = pf.from_numpy(a, layout=layout), pf.from_numpy(b, layout=layout)
    y = (x.mT @ g).mT  # g.mT @ x, as the weight gradient of a linear layer
    want = torch.from_numpy(b).mT @ torch.from_numpy(a)
    np.testing.assert_allclose(y.numpy(), want.numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.usefixtures("small_target")
def test_a_transposed_product_of_plain_operands_is_kept() -> None:
    a, b = arrays((6, 4), (4, 5))
    y = (pf.from_numpy(a) @ pf.from_numpy(b)).T
    np.testing.assert_allclose(y.numpy(), (a @ b).T, rtol=1e-5, atol=1e-5)


def test_an_mlp_step_makes_its_weight_gradients_untransposed_and_matches_torch() -> None:
    """An MLP SGD step (as benchmarks/host_speed.py's): each weight's gradient, (x.T @ g).T
    as autograd builds it through `w.T`, is made as g.T @ x; values as torch's."""
    rng = np.random.default_rng(2)
    xs = rng.standard_normal((16, 40)).astype(np.float32)
    ys = rng.integers(0, 10, 16).astype(np.int32)
    pf.manual_seed(0)
    model = nn.Sequential(nn.Linear(40, 24), nn.ReLU(), nn.Linear(24, 10))
    tmodel = torch.nn.Sequential(torch.nn.Linear(40, 24), torch.nn.ReLU(), torch.nn.Linear(24, 10))
    with torch.no_grad():
        for p, t in zip(model.parameters(), tmodel.parameters(), strict=True):
            t.copy_(torch.from_numpy(p.numpy()))
    opt, topt = optim.SGD(model.parameters(), lr=0.1), torch.optim.SGD(tmodel.parameters(), lr=0.1)
    x, y = pf.from_numpy(xs), pf.from_numpy(ys)
    loss = nn.CrossEntropyLoss()(model(x), y)
    loss.backward()
    grads = [p.grad for p in model.parameters()]
    flame = ops_at("flame", *grads)
    assert flame["flame.matmul"] == 5  # two forward, three backward
    assert flame["flame.transpose"] == 7
    # each weight's (x.T @ g).T becomes g.T @ x: x.T and the result's transpose go, g.T comes
    canonical = ops_at("flame", *grads, passes="canonicalize")
    assert canonical["flame.transpose"] == 5 and canonical["flame.matmul"] == 5
    opt.step()
    tloss = torch.nn.functional.cross_entropy(
        tmodel(torch.from_numpy(xs)), torch.from_numpy(ys).long()
    )
    tloss.backward()
    topt.step()
    assert abs(loss.item() - tloss.item()) < 1e-5
    for p, t in zip(model.parameters(), tmodel.parameters(), strict=True):
        np.testing.assert_allclose(p.numpy(), t.detach().numpy(), rtol=1e-5, atol=1e-6)
