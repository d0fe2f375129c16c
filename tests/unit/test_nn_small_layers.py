"""Unflatten, the padding layers (Zero, Constant, Reflection, Replication, Circular; 1d to 3d), Upsample / F.interpolate (mode 'nearest'),
MaxPool1d / AvgPool1d and their F twins against torch: values and input gradients on odd
shapes and under a grid layout, reprs, errors, and training steps of a small model built
from them."""

from __future__ import annotations

import numpy as np
import pytest

import pyflame as pf
from pyflame import nn

torch = pytest.importorskip("torch")

from nn_parity import GRID, check_function, check_layer, rand, train_like_torch  # noqa: E402

pytestmark = pytest.mark.usefixtures("small_target")
F = pf.nn.functional

LAYERS = {
    "unflatten": (lambda m: m.Unflatten(1, (2, 3)), (4, 6, 5)),
    "unflatten_neg": (lambda m: m.Unflatten(-1, [-1, 5]), (3, 2, 10)),
    "zeropad1d": (lambda m: m.ZeroPad1d((2, 1)), (2, 3, 5)),
    "zeropad2d": (lambda m: m.ZeroPad2d((1, 2, 0, 3)), (2, 3, 5, 4)),
    "zeropad2d_int": (lambda m: m.ZeroPad2d(1), (3, 5, 4)),
    "constpad1d": (lambda m: m.ConstantPad1d(2, 3.5), (2, 3, 5)),
    "constpad2d": (lambda m: m.ConstantPad2d((0, 1, 2, 1), -1.25), (2, 3, 5, 4)),
    "constpad3d": (lambda m: m.ConstantPad3d((0, 1, 2, 1, 1, 0), -1.25), (2, 3, 4, 5, 3)),
    "zeropad3d": (lambda m: m.ZeroPad3d(1), (3, 4, 5, 3)),
    "reflectpad1d": (lambda m: m.ReflectionPad1d((3, 1)), (2, 3, 5)),
    "reflectpad2d": (lambda m: m.ReflectionPad2d((1, 2, 0, 3)), (2, 3, 5, 4)),
    "reflectpad3d": (lambda m: m.ReflectionPad3d(1), (3, 4, 5, 3)),
    "replicatepad1d": (lambda m: m.ReplicationPad1d(2), (3, 5)),
    "replicatepad2d": (lambda m: m.ReplicationPad2d((3, 0, 1, 2)), (2, 3, 5, 4)),
    "replicatepad3d": (lambda m: m.ReplicationPad3d((1, 0, 2, 1, 0, 2)), (2, 3, 4, 5, 3)),
    "circularpad1d": (lambda m: m.CircularPad1d((2, 3)), (2, 3, 5)),
    "circularpad2d": (lambda m: m.CircularPad2d(1), (3, 5, 4)),
    "circularpad3d": (lambda m: m.CircularPad3d((1, 2, 0, 1, 2, 1)), (2, 3, 4, 5, 3)),
    "upsample2x": (lambda m: m.Upsample(scale_factor=2), (2, 3, 5, 3)),
    "upsample_rect": (lambda m: m.Upsample(scale_factor=(2, 3)), (1, 2, 3, 4)),
    "upsample_size": (lambda m: m.Upsample(size=(7, 5)), (2, 3, 5, 3)),
    "upsample_1d": (lambda m: m.Upsample(scale_factor=3), (2, 3, 5)),
    "upsample_fraction": (lambda m: m.Upsample(scale_factor=1.5), (1, 2, 5, 3)),
    "maxpool1d": (lambda m: m.MaxPool1d(2), (2, 3, 9)),
    "maxpool1d_args": (lambda m: m.MaxPool1d(3, 2, 1, 2, ceil_mode=True), (2, 3, 10)),
    "maxpool1d_unbatched": (lambda m: m.MaxPool1d(3, stride=1), (3, 7)),
    "avgpool1d": (lambda m: m.AvgPool1d(3), (2, 3, 10)),
    "avgpool1d_args": (
        lambda m: m.AvgPool1d(3, 2, 1, ceil_mode=True, count_include_pad=False),
        (2, 3, 8),
    ),
}


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer_values_and_gradients(name):
    make, shape = LAYERS[name]
    check_layer(make, rand(*shape))
    assert repr(make(nn)) == repr(make(torch.nn))


@pytest.mark.parametrize(
    "name",
    ["zeropad2d", "reflectpad2d", "circularpad3d", "upsample2x", "upsample_size", "maxpool1d"],
)
def test_layer_under_a_grid_layout(name):
    make, shape = LAYERS[name]
    check_layer(make, rand(*shape), layout=GRID)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"size": 11},
        {"size": 4},
        {"scale_factor": 2.5},
        {"scale_factor": 0.5},
        {"scale_factor": 1.7, "recompute_scale_factor": True},
        {"scale_factor": 3},
    ],
    ids=str,
)
def test_interpolate_nearest_along_a_line(kwargs):
    check_function(lambda F, x: F.interpolate(x, **kwargs), rand(2, 3, 7))


def test_interpolate_nearest_in_3d_and_mixed_sizes():
    check_function(lambda F, x: F.interpolate(x, scale_factor=(2, 1, 3)), rand(1, 2, 2, 3, 2))
    check_function(lambda F, x: F.interpolate(x, size=(3, 8)), rand(2, 2, 5, 4), layout=GRID)


def test_interpolate_nearest_reads_scale_factors_as_each_torch_kernel_does():
    """PyTorch's 2-D nearest kernel copies when out == in and takes i >> 1 when out == 2 in,
    whatever the scale factor (1.1, 2.1); its 1-D and 3-D kernels use 1 / scale_factor."""
    for rank in (3, 4, 5):
        for n, factor in ((6, 2.1), (5, 1.1), (7, 1.1), (4, 3.1), (10, 0.55)):
            shape = (1, 2) + (n,) * (rank - 2)
            x = rand(*shape)
            for mode in ("nearest", "nearest-exact"):
                got = F.interpolate(pf.from_numpy(x), scale_factor=factor, mode=mode)
                want = torch.nn.functional.interpolate(
                    torch.from_numpy(x), scale_factor=factor, mode=mode
                )
                np.testing.assert_array_equal(
                    got.numpy(), want.numpy(), err_msg=f"{rank} {n} {factor} {mode}"
                )


def test_max_pool1d_return_indices_and_functional_twins():
    x = rand(2, 3, 11)
    got, idx = F.max_pool1d(pf.from_numpy(x), 3, 2, 1, return_indices=True)
    want, tidx = torch.nn.functional.max_pool1d(torch.from_numpy(x), 3, 2, 1, return_indices=True)
    np.testing.assert_array_equal(got.numpy(), want.numpy())
    np.testing.assert_array_equal(idx.numpy(), tidx.numpy())
    check_function(lambda F, x: F.max_pool1d(x, 4, dilation=2, padding=2), x)
    check_function(lambda F, x: F.avg_pool1d(x, 4, stride=3, padding=2), x)


def test_errors_as_torch():
    with pytest.raises(
        pf.ShapeError,
        match=r"test_nn_small_layers.py:\d+: unflatten: Provided sizes \[2, 4\] don't multiply "
        r"up to the size of dim 1 \(10\) in the input tensor",
    ):
        nn.Unflatten(1, (2, 4))(pf.from_numpy(rand(3, 10)))
    with pytest.raises(ValueError, match="either size or scale_factor should be defined"):
        F.interpolate(pf.from_numpy(rand(1, 2, 3)))
    with pytest.raises(ValueError, match="only one of size or scale_factor should be defined"):
        F.interpolate(pf.from_numpy(rand(1, 2, 3)), size=4, scale_factor=2)
    with pytest.raises(ValueError, match="align_corners option can only be set"):
        F.interpolate(pf.from_numpy(rand(1, 2, 3)), scale_factor=2, align_corners=True)
    with pytest.raises(NotImplementedError, match=r"Only 3D, 4D and 5D input .* \(got 2D\)"):
        F.interpolate(pf.from_numpy(rand(2, 3)), size=4)
    with pytest.raises(NotImplementedError, match=r"test_nn_small_layers\.py:\d+: .*'lanczos'"):
        F.interpolate(pf.from_numpy(rand(1, 2, 3, 3)), size=2, mode="lanczos", antialias=True)
    with pytest.raises(pf.ShapeError, match=r"max_pool1d: Expected 2D or 3D \(batch mode\) tensor"):
        F.max_pool1d(pf.from_numpy(rand(2, 3, 4, 5)), 2)
    with pytest.raises(pf.ShapeError, match="Expected 2 to 3 dimensions, but got 4-dimensional"):
        F.avg_pool1d(pf.from_numpy(rand(2, 3, 4, 5)), 2)


def test_training_steps_match_torch():
    rng = np.random.default_rng(13)
    batches = [
        (
            rng.standard_normal((3, 12)).astype(np.float32),
            rng.standard_normal((3, 5)).astype(np.float32),
        )
        for _ in range(4)
    ]
    train_like_torch(
        lambda nn: nn.Sequential(
            nn.Linear(12, 12),
            nn.Unflatten(1, (2, 6)),
            nn.ConstantPad1d((1, 1), 0.5),
            nn.MaxPool1d(2),
            nn.Upsample(scale_factor=2),
            nn.Unflatten(1, (1, 2)),
            nn.ZeroPad2d((0, 1, 1, 0)),
            nn.Flatten(),
            nn.Linear(3 * 9, 5),
            nn.Identity(),
            nn.Unflatten(1, (1, 5)),
            nn.AvgPool1d(1),
            nn.Flatten(),
        ),
        batches,
    )


def test_padding_layers_refuse_what_torch_refuses():
    x = pf.from_numpy(rand(2, 3))
    with pytest.raises(ValueError, match=r"test_nn_small_layers.py:\d+: expected 2D or 3D input"):
        nn.CircularPad1d(1)(pf.from_numpy(rand(2, 3, 4, 5)))
    with pytest.raises(NotImplementedError, match="Padding size 4 is not supported for 2D input"):
        torch.nn.ReflectionPad2d(1)(torch.from_numpy(rand(2, 3)))
    with pytest.raises(NotImplementedError, match="Padding size 4 is not supported for 2D input"):
        nn.ReflectionPad2d(1)(x)
    # (pf.pad's ValueError; PyTorch: RuntimeError)
    with pytest.raises(ValueError, match="Padding size should be less than the corresponding"):
        nn.ReflectionPad1d(3)(x)
