"""nn.GroupNorm and F.group_norm against torch: values and gradients (input, weight, bias) on
odd shapes and under layouts, constant groups, half precision, the module's state dict, repr
and errors, and a few training steps of a small model with a GroupNorm."""

from __future__ import annotations

import numpy as np
import pytest

import pyflame as pf
from pyflame import nn

torch = pytest.importorskip("torch")

from nn_parity import GRID, check_function, check_layer, rand, train_like_torch  # noqa: E402

pytestmark = pytest.mark.usefixtures("small_target")
F = pf.nn.functional


@pytest.mark.parametrize(
    "groups, shape",
    [(3, (2, 6, 5, 3)), (1, (3, 4, 7)), (5, (2, 5, 3)), (2, (3, 4)), (2, (1, 4, 2, 3, 2))],
    ids=str,
)
def test_group_norm_layer_values_and_gradients(groups, shape):
    x = rand(*shape) * 3 + 1
    channels = shape[1]
    t, _ = check_layer(lambda m: m.GroupNorm(groups, channels), x)
    with torch.no_grad():  # weight 1 and bias 0 hide mistakes in the affine part: not those
        t.weight.copy_(torch.randn(channels))
        t.bias.copy_(torch.randn(channels))
    state = t.state_dict()
    check_layer(lambda m: _loaded(m.GroupNorm(groups, channels, eps=1e-3), state), x)


def _loaded(layer, state):
    layer.load_state_dict(state)
    return layer


@pytest.mark.parametrize("layout", [None, GRID, pf.MeshLayout.row_partition(2)], ids=repr)
def test_group_norm_layer_under_layouts(layout):
    check_layer(lambda m: m.GroupNorm(2, 4, affine=False), rand(3, 4, 5, 7), layout=layout)
    check_layer(lambda m: m.GroupNorm(2, 6, bias=False), rand(2, 6, 9), layout=layout)


def test_functional_group_norm_with_and_without_affine():
    x, w, b = rand(2, 6, 3, 5), rand(6, seed=1), rand(6, seed=2)
    check_function(lambda F, x, w, b: F.group_norm(x, 3, w, b, eps=1e-4), x, w, b)
    check_function(lambda F, x: F.group_norm(x, 2), x, layout=GRID)
    check_function(lambda F, x, w: F.group_norm(x, 6, w), x, w)


def test_constant_groups_normalise_to_zero():
    x = np.full((2, 4, 3, 3), 1000.123, np.float32)
    x[1] = -77.77
    got = F.group_norm(pf.from_numpy(x), 2).numpy()
    want = torch.nn.functional.group_norm(torch.from_numpy(x), 2).numpy()
    np.testing.assert_array_equal(got, want)
    assert not got.any()


def test_half_precision_is_normalised_in_float32():
    x = (rand(2, 4, 6) * 4).astype(np.float16)
    got = F.group_norm(pf.from_numpy(x), 2)
    want = torch.nn.functional.group_norm(torch.from_numpy(x), 2)
    assert got.dtype == pf.float16
    np.testing.assert_allclose(got.numpy().astype(np.float32), want.float().numpy(), atol=2e-3)


def test_state_dict_repr_and_initial_values_as_torch():
    for kwargs in ({}, {"affine": False}, {"bias": False}, {"eps": 1e-3}):
        t, p = torch.nn.GroupNorm(2, 6, **kwargs), nn.GroupNorm(2, 6, **kwargs)
        assert repr(p) == repr(t)
        assert list(p.state_dict()) == list(t.state_dict())
        for (name, value), want in zip(
            p.state_dict().items(), t.state_dict().values(), strict=True
        ):
            np.testing.assert_array_equal(value.numpy(), want.numpy(), err_msg=name)


def test_errors_as_torch():
    with pytest.raises(
        ValueError, match=r"num_channels \(4\) must be divisible by num_groups \(3\)"
    ):
        nn.GroupNorm(3, 4)
    with pytest.raises(
        pf.ShapeError,
        match=r"test_group_norm.py:\d+: Expected number of channels in input to be divisible by "
        r"num_groups, but got input of shape \[2, 4, 5\] and num_groups=3",
    ):
        F.group_norm(pf.from_numpy(rand(2, 4, 5)), 3)
    with pytest.raises(pf.ShapeError, match="Expected at least 2 dimensions for input tensor"):
        F.group_norm(pf.from_numpy(rand(4)), 2)
    with pytest.raises(
        pf.ShapeError,
        match=r"Expected weight to be a vector of size equal to the number of channels in input, "
        r"but got weight of shape \[4\] and input of shape \[2, 6, 3\]",
    ):
        nn.GroupNorm(2, 4)(pf.from_numpy(rand(2, 6, 3)))
    with pytest.raises(pf.ShapeError, match=r"Expected bias to be a vector"):
        F.group_norm(pf.from_numpy(rand(2, 6, 3)), 2, None, pf.from_numpy(rand(3)))
    # one value to normalise (N * C/G * spatial == 1): PyTorch refuses; it gave 0 (+ bias)
    with pytest.raises(
        ValueError,
        match=r"test_group_norm.py:\d+: Expected more than 1 value per channel when training, "
        r"got input size \[1, 2, 1, 1\]",
    ):
        F.group_norm(pf.from_numpy(rand(1, 2, 1, 1)), 2)
    with pytest.raises(ValueError, match=r"got input size \[1, 2\]"):
        nn.GroupNorm(2, 2).eval()(pf.from_numpy(rand(1, 2)))
    # one value per group but two per [N * C/G] slice: PyTorch normalises (to 0)
    np.testing.assert_array_equal(F.group_norm(pf.from_numpy(rand(2, 2, 1, 1)), 2).numpy(), 0.0)


def test_training_steps_match_torch():
    rng = np.random.default_rng(3)
    batches = [
        (
            rng.standard_normal((5, 4, 5)).astype(np.float32),
            rng.standard_normal((5, 3)).astype(np.float32),
        )
        for _ in range(4)
    ]
    train_like_torch(
        lambda nn: nn.Sequential(
            nn.Linear(5, 5), nn.GroupNorm(2, 4), nn.Flatten(), nn.Linear(20, 3)
        ),
        batches,
    )
