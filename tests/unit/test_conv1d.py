"""nn.Conv1d and F.conv1d against torch: values and gradients (input, weight, bias) for
stride, padding (int, 'same', 'valid'), dilation, groups, no bias, unbatched input and a grid
layout; the default initialisation, repr, state dict, errors, and training steps."""

from __future__ import annotations

import math

import numpy as np
import pytest

import pyflame as pf
from pyflame import nn

torch = pytest.importorskip("torch")

from nn_parity import check_function, check_layer, rand, train_like_torch  # noqa: E402

pytestmark = pytest.mark.usefixtures("small_target")
F = pf.nn.functional

CASES = {
    "plain": (lambda m: m.Conv1d(3, 5, 3), (2, 3, 11)),
    "stride_pad": (lambda m: m.Conv1d(3, 4, 4, stride=3, padding=2), (3, 3, 13)),
    "dilation_groups": (lambda m: m.Conv1d(4, 6, 3, dilation=2, groups=2), (2, 4, 9)),
    "depthwise_no_bias": (lambda m: m.Conv1d(4, 4, 5, padding=2, groups=4, bias=False), (1, 4, 7)),
    "same_even_kernel": (lambda m: m.Conv1d(3, 2, 4, padding="same", dilation=1), (2, 3, 10)),
    "same_dilated": (lambda m: m.Conv1d(2, 3, 3, padding="same", dilation=3), (2, 2, 8)),
    "valid": (lambda m: m.Conv1d(2, 3, 2, padding="valid", stride=2), (2, 2, 9)),
    "tuple_args": (lambda m: m.Conv1d(2, 3, (3,), stride=(2,), padding=(1,)), (2, 2, 6)),
    "unbatched": (lambda m: m.Conv1d(3, 4, 3, padding=1), (3, 7)),
    "reflect": (lambda m: m.Conv1d(3, 4, 3, padding=2, padding_mode="reflect"), (2, 3, 8)),
    "replicate_unbatched": (
        lambda m: m.Conv1d(3, 4, 3, padding=1, padding_mode="replicate"),
        (3, 7),
    ),
    "circular_same": (
        lambda m: m.Conv1d(2, 3, 4, padding="same", padding_mode="circular"),
        (2, 2, 9),
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_conv1d_layer_values_and_gradients(case):
    make, shape = CASES[case]
    check_layer(make, rand(*shape))


@pytest.mark.parametrize("layout", [pf.MeshLayout.grid(1, 4), pf.MeshLayout.grid(2, 2)], ids=repr)
def test_conv1d_layer_with_a_grid_layout(layout):
    def make(m):
        if m is torch.nn:
            return m.Conv1d(4, 6, 3, padding=1)
        return m.Conv1d(4, 6, 3, padding=1, layout=layout)

    _, p = check_layer(make, rand(2, 4, 13))
    assert p.weight.layout == pf.MeshLayout.replicated(*layout.sizes)
    y = p(pf.from_numpy(rand(2, 4, 13)))
    assert y.inputs[0].shape == (2, 6, 1, 13) and y.inputs[0].layout == layout  # the conv2d's
    assert f"layout={layout!r}" in repr(p)


def test_functional_conv1d_values_and_gradients():
    x, w, b = rand(2, 6, 10), rand(4, 3, 3, seed=1), rand(4, seed=2)
    check_function(
        lambda F, x, w, b: F.conv1d(x, w, b, stride=2, padding=1, dilation=2, groups=2), x, w, b
    )
    check_function(lambda F, x, w: F.conv1d(x, w, padding="same", groups=2), x, w)
    check_function(lambda F, x, w: F.conv1d(x, w), x[0, :3].copy(), w[:, :, :2].copy())


def test_initialisation_state_dict_and_repr_as_torch():
    pf.manual_seed(0)
    conv = nn.Conv1d(6, 8, 5, groups=2)
    bound = 1 / math.sqrt(3 * 5)  # kaiming_uniform(a=sqrt(5)): 1 / sqrt(fan_in), the bias too
    for p in (conv.weight, conv.bias):
        values = np.abs(p.numpy())
        assert values.max() <= bound and values.max() > 0.8 * bound
    assert conv.weight.shape == (8, 3, 5) and conv.bias.shape == (8,)
    pf.manual_seed(0)
    assert np.array_equal(nn.Conv1d(6, 8, 5, groups=2).weight.numpy(), conv.weight.numpy())
    for kwargs in (
        {},
        {"stride": 2, "padding": 1, "dilation": 2, "groups": 2, "bias": False},
        {"padding": "same"},
        {"padding": "valid"},
    ):
        t, p = torch.nn.Conv1d(4, 6, 3, **kwargs), nn.Conv1d(4, 6, 3, **kwargs)
        assert repr(p) == repr(t)
        assert {k: tuple(v.shape) for k, v in p.state_dict().items()} == {
            k: tuple(v.shape) for k, v in t.state_dict().items()
        }


def test_errors_as_torch():
    x = pf.from_numpy(rand(2, 3, 5))
    with pytest.raises(
        pf.ShapeError,
        match=r"test_conv1d.py:\d+: Expected 2D \(unbatched\) or 3D \(batched\) input to conv1d, "
        r"but got input of size: \[2, 3, 4, 5\]",
    ):
        F.conv1d(pf.from_numpy(rand(2, 3, 4, 5)), pf.from_numpy(rand(2, 3, 1)))
    with pytest.raises(
        pf.ShapeError,
        match=r"Given groups=1, weight of size \[2, 4, 1\], expected input\[2, 3, 5\] to have 4 "
        r"channels, but got 3 channels instead",
    ):
        F.conv1d(x, pf.from_numpy(rand(2, 4, 1)))
    with pytest.raises(
        pf.ShapeError,
        match=r"Calculated padded input size per channel: \(5\). Kernel size: \(7\). Kernel "
        r"size can't be greater than actual input size",
    ):
        F.conv1d(x, pf.from_numpy(rand(2, 3, 4)), dilation=2)
    with pytest.raises(pf.ShapeError, match="3-D"):
        F.conv1d(x, pf.from_numpy(rand(2, 3, 1, 1)))
    with pytest.raises(ValueError, match="padding='same' is not supported for strided"):
        nn.Conv1d(4, 6, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match="padding='same' is not supported for strided"):
        F.conv1d(x, pf.from_numpy(rand(2, 3, 1)), stride=2, padding="same")
    with pytest.raises(ValueError, match="Invalid padding string 'foo'"):
        nn.Conv1d(4, 6, 3, padding="foo")
    with pytest.raises(ValueError, match="in_channels must be divisible by groups"):
        nn.Conv1d(3, 6, 3, groups=2)
    with pytest.raises(ValueError, match="out_channels must be divisible by groups"):
        nn.Conv1d(4, 5, 3, groups=2)
    with pytest.raises(ValueError, match="padding_mode must be one of"):
        nn.Conv1d(4, 6, 3, padding_mode="foo")
    with pytest.raises(TypeError, match="stride must be an int or a tuple of one int"):
        nn.Conv1d(4, 6, 3, stride=(1, 2))


def test_training_steps_match_torch():
    rng = np.random.default_rng(5)
    batches = [
        (
            rng.standard_normal((4, 2, 12)).astype(np.float32),
            rng.standard_normal((4, 3)).astype(np.float32),
        )
        for _ in range(4)
    ]
    train_like_torch(
        lambda nn: nn.Sequential(
            nn.Conv1d(2, 4, 3, stride=2, padding=1),
            nn.Tanh(),
            nn.Conv1d(4, 4, 3, padding="same", groups=2),
            nn.Flatten(),
            nn.Linear(24, 3),
        ),
        batches,
    )
