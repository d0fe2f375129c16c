"""nn.ConvTranspose2d and F.conv_transpose2d against torch: values and gradients (input,
weight, bias) for stride, padding (wider than the kernel's reach too), output_padding,
dilation, groups, no bias, unbatched input, `output_size=` and a grid layout; the default
initialisation, repr, state dict, errors, and training steps of a small decoder."""

from __future__ import annotations

import math

import numpy as np
import pytest

import pyflame as pf
from pyflame import nn

torch = pytest.importorskip("torch")

from nn_parity import GRID, check_function, check_layer, rand, train_like_torch  # noqa: E402

pytestmark = pytest.mark.usefixtures("small_target")
F = pf.nn.functional

CASES = {
    "plain": (lambda m: m.ConvTranspose2d(3, 5, 3), (2, 3, 5, 4)),
    "stride_pad_outpad": (
        lambda m: m.ConvTranspose2d(4, 3, 3, stride=2, padding=1, output_padding=1),
        (2, 4, 5, 6),
    ),
    "rect_stride_groups": (
        lambda m: m.ConvTranspose2d(4, 6, (3, 2), stride=(2, 3), padding=(0, 1), groups=2),
        (1, 4, 3, 5),
    ),
    "dilation_outpad_stride1": (
        lambda m: m.ConvTranspose2d(2, 3, 3, dilation=2, output_padding=1, bias=False),
        (2, 2, 4, 5),
    ),
    "padding_beyond_reach": (lambda m: m.ConvTranspose2d(2, 2, 2, padding=2), (2, 2, 6, 5)),
    "stride3_outpad2": (
        lambda m: m.ConvTranspose2d(3, 2, 2, stride=3, padding=2, output_padding=2),
        (1, 3, 4, 4),
    ),
    "depthwise_dilated_strided": (
        lambda m: m.ConvTranspose2d(
            3, 3, 3, stride=2, padding=3, output_padding=1, dilation=2, groups=3
        ),
        (2, 3, 5, 4),
    ),
    "unbatched": (lambda m: m.ConvTranspose2d(3, 2, 2, stride=2), (3, 3, 4)),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_conv_transpose2d_layer_values_and_gradients(case):
    make, shape = CASES[case]
    check_layer(make, rand(*shape))


def test_conv_transpose2d_layer_with_a_grid_layout():
    def make(m):
        if m is torch.nn:
            return m.ConvTranspose2d(4, 3, 3, stride=2, padding=1)
        return m.ConvTranspose2d(4, 3, 3, stride=2, padding=1, layout=GRID)

    _, p = check_layer(make, rand(2, 4, 5, 5), layout=GRID)
    assert p.weight.layout == pf.MeshLayout.replicated(2, 2)
    assert p(pf.from_numpy(rand(2, 4, 5, 5))).layout == GRID
    assert "layout=MeshLayout.grid(2, 2)" in repr(p)


def test_functional_conv_transpose2d_values_and_gradients():
    x, w, b = rand(2, 4, 4, 5), rand(4, 3, 3, 2, seed=1), rand(6, seed=2)
    check_function(
        lambda F, x, w, b: F.conv_transpose2d(
            x, w, b, stride=2, padding=(1, 0), output_padding=(0, 1), groups=2, dilation=(1, 2)
        ),
        x,
        w,
        b,
    )
    check_function(lambda F, x, w: F.conv_transpose2d(x, w, None, 1, 1), x, w[:, :, :, :1].copy())


def test_it_is_the_input_gradient_of_conv2d():
    """The adjoint of conv2d: <conv2d(y, w), x> == <y, conv_transpose2d(x, w)>."""
    x, y, w = rand(2, 4, 5, 5), rand(2, 3, 9, 9, seed=1), rand(4, 3, 3, 3, seed=2)
    px, py, pw = (pf.from_numpy(a) for a in (x, y, w))
    lhs = (F.conv2d(py, pw, stride=2, padding=1) * px).sum()
    rhs = (py * F.conv_transpose2d(px, pw, stride=2, padding=1)).sum()
    np.testing.assert_allclose(lhs.item(), rhs.item(), rtol=1e-5)


def test_output_size_picks_the_output_padding():
    t, p = (m.ConvTranspose2d(4, 2, 3, stride=2) for m in (torch.nn, nn))
    p.load_state_dict(t.state_dict())
    x = rand(1, 4, 5, 5)
    for size in ([11, 12], [1, 2, 12, 11]):
        want = t(torch.from_numpy(x), output_size=size)
        got = p(pf.from_numpy(x), output_size=size)
        np.testing.assert_allclose(got.numpy(), want.detach().numpy(), rtol=1e-5, atol=1e-6)
    with pytest.raises(
        ValueError,
        match=r"requested an output size of \[13, 13\], but valid sizes range from \[11, 11\] "
        r"to \[12, 12\] \(for an input of \[5, 5\]\)",
    ):
        p(pf.from_numpy(x), output_size=[13, 13])


def test_initialisation_state_dict_and_repr_as_torch():
    pf.manual_seed(0)
    conv = nn.ConvTranspose2d(4, 6, (3, 2), groups=2)
    assert conv.weight.shape == (4, 3, 3, 2) and conv.bias.shape == (6,)
    bound = 1 / math.sqrt(3 * 3 * 2)  # fan_in = weight.shape[1] * kh * kw, as PyTorch
    for p in (conv.weight, conv.bias):
        values = np.abs(p.numpy())
        assert values.max() <= bound and values.max() > 0.8 * bound
    for kwargs in (
        {},
        {"stride": 2, "padding": 1, "output_padding": 1, "groups": 2, "bias": False},
        {"dilation": 2},
    ):
        t, p = torch.nn.ConvTranspose2d(4, 6, 3, **kwargs), nn.ConvTranspose2d(4, 6, 3, **kwargs)
        assert repr(p) == repr(t)
        assert {k: tuple(v.shape) for k, v in p.state_dict().items()} == {
            k: tuple(v.shape) for k, v in t.state_dict().items()
        }


def test_errors_as_torch():
    x, w = pf.from_numpy(rand(1, 4, 5, 5)), pf.from_numpy(rand(4, 2, 3, 3))
    with pytest.raises(
        pf.ShapeError,
        match=r"test_conv_transpose.py:\d+: output padding must be smaller than either stride or "
        r"dilation, but got output_padding_height: 2 output_padding_width: 2 stride_height: 2 "
        r"stride_width: 2 dilation_height: 1 dilation_width: 1",
    ):
        F.conv_transpose2d(x, w, stride=2, output_padding=2)
    with pytest.raises(
        pf.ShapeError,
        match=r"Given transposed=1, weight of size \[4, 2, 3, 3\], expected input\[1, 3, 5, 5\] "
        r"to have 4 channels, but got 3 channels instead",
    ):
        F.conv_transpose2d(pf.from_numpy(rand(1, 3, 5, 5)), w)
    with pytest.raises(
        pf.ShapeError,
        match=r"Expected 3D \(unbatched\) or 4D \(batched\) input to conv_transpose2d, but got "
        r"input of size: \[4, 5\]",
    ):
        F.conv_transpose2d(pf.from_numpy(rand(4, 5)), w)
    with pytest.raises(
        pf.ShapeError,
        match=r"Given input size per channel: \(1 x 1\). Calculated output size per channel: "
        r"\(-1 x -1\). Output size is too small",
    ):
        F.conv_transpose2d(pf.from_numpy(rand(1, 4, 1, 1)), w, padding=2)
    with pytest.raises(pf.ShapeError, match="expected weight to be divisible by 3 at dimension 0"):
        F.conv_transpose2d(x, w, groups=3)
    with pytest.raises(
        pf.ShapeError, match="expected bias to be 1-dimensional with 2 elements, but got bias"
    ):
        F.conv_transpose2d(x, w, pf.from_numpy(rand(3)))
    with pytest.raises(TypeError, match="argument 'padding' must be tuple of ints, not str"):
        F.conv_transpose2d(x, w, padding="same")
    with pytest.raises(TypeError, match="argument 'padding' must be tuple of ints, not str"):
        nn.ConvTranspose2d(4, 2, 3, padding="valid")(x)
    with pytest.raises(ValueError, match='Only "zeros" padding mode is supported for'):
        nn.ConvTranspose2d(4, 6, 3, padding_mode="reflect")
    with pytest.raises(ValueError, match="in_channels must be divisible by groups"):
        nn.ConvTranspose2d(4, 6, 3, groups=3)


def test_training_steps_match_torch():
    rng = np.random.default_rng(9)
    batches = [
        (
            rng.standard_normal((3, 4, 3, 3)).astype(np.float32),
            rng.standard_normal((3, 2, 6, 6)).astype(np.float32),
        )
        for _ in range(4)
    ]
    train_like_torch(
        lambda nn: nn.Sequential(
            nn.ConvTranspose2d(4, 3, 3, stride=2, padding=1, output_padding=1),
            nn.Tanh(),
            nn.ConvTranspose2d(3, 2, 3, padding=1, groups=1),
        ),
        batches,
    )
