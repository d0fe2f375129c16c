"""canonicalize folds transposes of transposes and transposed products whose operand is a
transpose: the programs hold fewer transposes and compute the same values (numpy, torch)."""

from collections import Counter

import numpy as np
import pytest
import torch

import pyflame as pf
from pyflame import compiler, nn, optim

LAYOUTS = [None, pf.MeshLayout.grid(2, 3), pf.MeshLayout.row_partition(3)]


def ops_at(stage: str, *tensors: pf.Tensor) -> Counter[str]:
    text = pf.ir(*tensors, stage=stage)
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
def test_composed_permutations() -> None:
    (a,) = arrays((2, 3, 5))
    x = pf.from_numpy(a)
    y = x.permute(1, 2, 0).permute(1, 0, 2)
    assert ops_at("flame", y)["flame.transpose"] == 2  # as traced ...
    np.testing.assert_array_equal(y.numpy(), a.transpose(1, 2, 0).transpose(1, 0, 2))
    module = pf.ir(y, stage="mesh")
    assert module.count("mesh.transpose") <= 1  # ... one after canonicalize


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


def test_the_mlp_step_loses_its_double_transpose_and_matches_torch() -> None:
    """The MLP 784-256-10 SGD step (benchmarks/host_speed.py): the weight's gradient through
    `w.T` and the second layer's weight transposed back cancel; values as torch's."""
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
    flame = ops_at("flame", *(p.grad for p in model.parameters()))
    assert flame["flame.matmul"] == 5  # two forward, three backward
    mesh = ops_at("mesh", *(p.grad for p in model.parameters()))
    # the second weight is read as stored (no transposed copy of it transposed back), and its
    # gradient and the first's are made in the weights' own orientation
    assert mesh["mesh.transpose"] <= 2
    opt.step()
    tloss = torch.nn.functional.cross_entropy(
        tmodel(torch.from_numpy(xs)), torch.from_numpy(ys).long()
    )
    tloss.backward()
    topt.step()
    assert abs(loss.item() - tloss.item()) < 1e-5
    for p, t in zip(model.parameters(), tmodel.parameters(), strict=True):
        np.testing.assert_allclose(p.numpy(), t.detach().numpy(), rtol=1e-5, atol=1e-6)
