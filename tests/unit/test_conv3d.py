"""F.conv3d / nn.Conv3d and F.conv_transpose1d / nn.ConvTranspose1d against torch: values
and gradients (input, weight, bias) on odd shapes, strides, paddings (ints, 'same', 'valid',
the padding modes), dilations and groups, under two layouts, batched and unbatched inputs,
state dicts, reprs, `output_size`, and PyTorch's errors at the user's line."""

from __future__ import annotations

import numpy as np
import pytest

import pyflame as pf
from pyflame import nn

torch = pytest.importorskip("torch")

from nn_parity import GRID, check_function, check_layer, rand  # noqa: E402

pytestmark = [
    pytest.mark.usefixtures("small_target"),
    # torch's own note on even 'same' kernels
    pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel"),
]
F = pf.nn.functional


@pytest.mark.parametrize(
    "kwargs, x_shape, w_shape, layout",
    [
        ({}, (2, 3, 4, 5, 3), (4, 3, 2, 3, 2), None),
        ({"stride": (2, 1, 2), "padding": (1, 0, 2)}, (1, 2, 5, 4, 6), (3, 2, 3, 2, 3), GRID),
        ({"dilation": (2, 1, 1), "groups": 2}, (2, 4, 6, 3, 4), (6, 2, 2, 2, 2), GRID),
        ({"padding": "same"}, (3, 4, 5, 3), (2, 3, 2, 3, 2), None),  # unbatched, even kernel
        ({"padding": "valid", "stride": 2}, (1, 2, 5, 5, 5), (2, 2, 3, 3, 3), None),
    ],
    ids=["plain", "strided_padded", "dilated_grouped", "same_unbatched", "valid_strided"],
)
def test_conv3d_values_and_gradients(kwargs, x_shape, w_shape, layout):
    x, w, b = rand(*x_shape), rand(*w_shape, seed=1), rand(w_shape[0], seed=2)
    check_function(
        lambda F, x, w, b: F.conv3d(x, w, b, **kwargs),
        x,
        w,
        b,
        layout=layout,
        rtol=1e-4,
        atol=1e-4,
    )


@pytest.mark.parametrize(
    "make, shape",
    [
        (lambda m: m.Conv3d(3, 4, 2), (2, 3, 3, 4, 3)),
        (
            lambda m: m.Conv3d(4, 2, (1, 3, 2), stride=(1, 2, 1), padding=1, groups=2, bias=False),
            (1, 4, 3, 5, 4),
        ),
        (lambda m: m.Conv3d(2, 3, 3, padding=1, padding_mode="circular"), (2, 3, 4, 5)),
        (lambda m: m.Conv3d(2, 2, 2, padding="same", padding_mode="reflect"), (1, 2, 3, 4, 3)),
    ],
    ids=["plain", "grouped", "circular_unbatched", "same_reflect"],
)
def test_conv3d_layer_as_torch(make, shape):
    t, p = check_layer(make, rand(*shape), rtol=1e-4, atol=1e-4)
    assert repr(p) == repr(t)
    assert list(p.state_dict()) == list(t.state_dict())
    assert tuple(p.weight.shape) == tuple(t.weight.shape)


@pytest.mark.parametrize(
    "kwargs, x_shape, w_shape, layout",
    [
        ({}, (2, 3, 5), (3, 4, 3), None),
        ({"stride": 2, "padding": 1, "output_padding": 1}, (2, 4, 7), (4, 3, 3), GRID),
        (
            {"stride": 3, "dilation": 2, "groups": 2, "output_padding": 1},
            (3, 4, 6),
            (4, 1, 2),
            GRID,
        ),
        ({"padding": 2}, (3, 6), (3, 2, 5), None),  # unbatched
    ],
    ids=["plain", "strided", "dilated_grouped", "unbatched"],
)
def test_conv_transpose1d_values_and_gradients(kwargs, x_shape, w_shape, layout):
    x, w = rand(*x_shape), rand(*w_shape, seed=1)
    b = rand(w_shape[1] * kwargs.get("groups", 1), seed=2)
    check_function(
        lambda F, x, w, b: F.conv_transpose1d(x, w, b, **kwargs),
        x,
        w,
        b,
        layout=layout,
        rtol=1e-4,
        atol=1e-4,
    )


def test_conv_transpose1d_layer_as_torch():
    make = lambda m: m.ConvTranspose1d(4, 6, 3, stride=2, padding=1, groups=2)  # noqa: E731
    t, p = check_layer(make, rand(2, 4, 7), rtol=1e-4, atol=1e-4)
    assert repr(p) == repr(t) and list(p.state_dict()) == list(t.state_dict())
    x = rand(2, 4, 7)
    for size in ([13], [14], [2, 6, 14]):
        want = t(torch.from_numpy(x), output_size=size)
        got = p(pf.from_numpy(x), output_size=size)
        np.testing.assert_allclose(got.numpy(), want.detach().numpy(), rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="requested an output size of"):
        p(pf.from_numpy(x), output_size=[16])
    with pytest.raises(
        ValueError, match='Only "zeros" padding mode is supported for ConvTranspose1d'
    ):
        nn.ConvTranspose1d(2, 2, 3, padding_mode="reflect")


@pytest.mark.parametrize(
    "kwargs, x_shape, w_shape, layout",
    [
        ({}, (2, 3, 3, 4, 3), (3, 2, 2, 3, 2), None),
        (
            {"stride": (2, 1, 2), "padding": (1, 0, 1), "output_padding": (1, 0, 1)},
            (1, 2, 3, 4, 3),
            (2, 3, 3, 2, 3),
            GRID,
        ),
        (
            {"stride": 2, "dilation": (2, 1, 1), "groups": 2, "output_padding": 1},
            (1, 4, 2, 3, 3),
            (4, 1, 2, 2, 2),
            None,
        ),
        (
            {"stride": 3, "padding": 1, "output_padding": 2},
            (2, 2, 3, 2),
            (2, 2, 2, 2, 2),
            None,
        ),  # unbatched
    ],
    ids=["plain", "strided_padded", "dilated_grouped", "output_padding_past_padding"],
)
def test_conv_transpose3d_values_and_gradients(kwargs, x_shape, w_shape, layout):
    x, w = rand(*x_shape), rand(*w_shape, seed=1)
    b = rand(w_shape[1] * kwargs.get("groups", 1), seed=2)
    check_function(
        lambda F, x, w, b: F.conv_transpose3d(x, w, b, **kwargs),
        x,
        w,
        b,
        layout=layout,
        rtol=1e-4,
        atol=1e-4,
    )


def test_conv_transpose3d_layer_as_torch():
    make = lambda m: m.ConvTranspose3d(2, 4, 2, stride=2, padding=(0, 1, 0))  # noqa: E731
    t, p = check_layer(make, rand(1, 2, 2, 3, 2), rtol=1e-4, atol=1e-4)
    assert repr(p) == repr(t) and list(p.state_dict()) == list(t.state_dict())
    x = rand(1, 2, 2, 3, 2)
    size = [5, 4, 5]
    want = t(torch.from_numpy(x), output_size=size)
    np.testing.assert_allclose(
        p(pf.from_numpy(x), output_size=size).numpy(), want.detach().numpy(), rtol=1e-4, atol=1e-4
    )


def test_errors_as_torch():
    here = r"test_conv3d.py:\d+: "
    x, w = pf.from_numpy(rand(1, 4, 3, 3, 3)), pf.from_numpy(rand(2, 2, 2, 2, 2))
    with pytest.raises(
        pf.ShapeError, match=here + "Expected 4D .unbatched. or 5D .batched. input to conv3d"
    ):
        F.conv3d(pf.from_numpy(rand(4, 3, 3)), w)
    with pytest.raises(
        pf.ShapeError, match=here + "Given groups=1, .* to have 2 channels, but got 4 channels"
    ):
        F.conv3d(x, w)
    with pytest.raises(
        pf.ShapeError, match=here + "Calculated padded input size .*Kernel size can.t be greater"
    ):
        F.conv3d(x, pf.from_numpy(rand(2, 4, 4, 1, 1)))
    with pytest.raises(ValueError, match="padding='same' is not supported for strided"):
        F.conv3d(x, w, padding="same", stride=2, groups=2)
    with pytest.raises(
        pf.ShapeError, match=here + "output padding must be smaller than either stride"
    ):
        F.conv_transpose1d(
            pf.from_numpy(rand(1, 2, 4)), pf.from_numpy(rand(2, 2, 3)), output_padding=1
        )
    with pytest.raises(
        pf.ShapeError,
        match=here + "Expected 2D .unbatched. or 3D .batched. input to conv_transpose1d",
    ):
        F.conv_transpose1d(pf.from_numpy(rand(2, 2, 2, 4)), pf.from_numpy(rand(2, 2, 3)))
