"""The 3-D pools (F.max_pool3d with indices, F.avg_pool3d, F.adaptive_max_pool3d and their
layers), the LP pools (1d, 2d, 3d), the max unpools (1d, 2d, 3d) and the *_with_indices
forms against torch: values, indices and input gradients on odd shapes with padding,
dilation, ceil_mode and count_include_pad, under two layouts, batched and unbatched; ties
and NaN picked as PyTorch's loop; reprs; PyTorch's errors."""

from __future__ import annotations

import numpy as np
import pytest

import pyflame as pf
from pyflame import nn

torch = pytest.importorskip("torch")

from nn_parity import GRID, check_function, check_layer, rand  # noqa: E402

pytestmark = pytest.mark.usefixtures("small_target")
F = pf.nn.functional
TF = torch.nn.functional

MAX_CASES = [
    ({"kernel_size": 2}, (2, 3, 4, 5, 6), None),
    (
        {"kernel_size": (3, 2, 3), "stride": (2, 1, 2), "padding": 1, "dilation": (1, 2, 1)},
        (1, 2, 5, 6, 7),
        GRID,
    ),
    (
        {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True},
        (2, 6, 5, 4),
        GRID,
    ),  # unbatched
]


@pytest.mark.parametrize(
    "kwargs, shape, layout", MAX_CASES, ids=["plain", "dilated", "ceil_unbatched"]
)
def test_max_pool3d_values_indices_and_gradients(kwargs, shape, layout):
    x = rand(*shape)
    check_function(lambda F, x: F.max_pool3d(x, **kwargs), x, layout=layout)
    got = F.max_pool3d(pf.from_numpy(x, layout=layout), return_indices=True, **kwargs)
    want = TF.max_pool3d(torch.from_numpy(x), return_indices=True, **kwargs)
    np.testing.assert_array_equal(got[1].numpy(), want[1].numpy())
    again = F.max_pool3d_with_indices(pf.from_numpy(x), **kwargs)
    np.testing.assert_array_equal(again[1].numpy(), want[1].numpy())


def test_max_pool3d_ties_and_nan_are_picked_as_torch():
    x = np.zeros((1, 1, 4, 4, 4), np.float32)
    x[0, 0, 1, 2, 3] = x[0, 0, 0, 3, 2] = 1.0  # ties across depths
    x[0, 0, 3, 0, 0] = x[0, 0, 2, 1, 1] = np.nan
    for fn in ("max_pool3d", "adaptive_max_pool3d"):
        args = (2,) if fn == "max_pool3d" else ((2, 1, 2),)
        got = getattr(F, fn)(pf.from_numpy(x), *args, return_indices=True)
        want = getattr(TF, fn)(torch.from_numpy(x), *args, return_indices=True)
        np.testing.assert_array_equal(got[0].numpy(), want[0].numpy())
        np.testing.assert_array_equal(got[1].numpy(), want[1].numpy())


@pytest.mark.parametrize(
    "kwargs, shape, layout",
    [
        ({"kernel_size": 2}, (2, 3, 4, 5, 6), GRID),
        (
            {
                "kernel_size": 3,
                "stride": 2,
                "padding": 1,
                "ceil_mode": True,
                "count_include_pad": False,
            },
            (1, 2, 6, 5, 7),
            None,
        ),
        ({"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True}, (2, 6, 5, 7), GRID),
        ({"kernel_size": (2, 3, 1), "divisor_override": 4}, (2, 2, 4, 6, 3), None),
    ],
    ids=["plain", "ceil_excluding_pad", "ceil_unbatched", "divisor"],
)
def test_avg_pool3d_values_and_gradients(kwargs, shape, layout):
    check_function(lambda F, x: F.avg_pool3d(x, **kwargs), rand(*shape), layout=layout)


@pytest.mark.parametrize("size", [(3, 2, 5), (None, 2, 3)], ids=str)
def test_adaptive_max_pool3d_matches_torch(size):
    x = rand(2, 2, 5, 4, 7)
    check_function(lambda F, x: F.adaptive_max_pool3d(x, size), x, layout=GRID)
    got = F.adaptive_max_pool3d_with_indices(pf.from_numpy(x), size)
    want = TF.adaptive_max_pool3d(torch.from_numpy(x), size, return_indices=True)
    np.testing.assert_array_equal(got[1].numpy(), want[1].numpy())


@pytest.mark.parametrize(
    "make, shape",
    [
        (lambda m: m.MaxPool3d(2, stride=1, padding=1), (2, 2, 3, 4, 3)),
        (
            lambda m: m.AvgPool3d((1, 2, 2), count_include_pad=False, padding=(0, 1, 1)),
            (2, 3, 4, 5),
        ),
        (lambda m: m.AdaptiveMaxPool3d((2, 2, 3)), (1, 2, 5, 4, 6)),
        (lambda m: m.LPPool1d(2, 3, stride=2), (2, 3, 8)),
        (lambda m: m.LPPool2d(3, (2, 3), ceil_mode=True), (2, 3, 5, 7)),
        (lambda m: m.LPPool3d(1, 2), (1, 2, 4, 5, 4)),
    ],
    ids=["maxpool3d", "avgpool3d", "adaptivemax3d", "lppool1d", "lppool2d", "lppool3d"],
)
def test_pool_layers_match_torch(make, shape):
    # positive inputs: a fractional power of a negative average is NaN in both
    x = np.abs(rand(*shape)) + 0.1 if "LPPool" in repr(make(nn)) else rand(*shape)
    check_layer(make, x, layout=GRID, rtol=1e-4, atol=1e-5)
    assert repr(make(nn)) == repr(make(torch.nn))


def test_lp_pools_match_torch_on_signed_inputs():
    """Integer powers of signed inputs: PyTorch's sign(a) relu(|a|) form (NaN where a
    fractional power meets a negative average, in both)."""
    x = rand(2, 3, 5, 6)
    check_function(lambda F, x: F.lp_pool2d(x, 2, 2), x)
    check_function(lambda F, x: F.lp_pool1d(x, 1, 3, 2, True), rand(2, 3, 8))
    got = F.lp_pool2d(pf.from_numpy(x), 1.5, 2).numpy()
    want = TF.lp_pool2d(torch.from_numpy(x), 1.5, 2).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)  # NaNs in the same places


@pytest.mark.parametrize("dims", [1, 2, 3])
def test_max_unpool_inverts_max_pool_as_torch(dims):
    shape = {1: (2, 3, 9), 2: (2, 3, 5, 7), 3: (1, 2, 4, 5, 4)}[dims]
    x = rand(*shape)
    pool = getattr(TF, f"max_pool{dims}d")
    values, indices = pool(torch.from_numpy(x), 2, stride=2, return_indices=True)
    sizes = [n for n in shape[2:]]
    ints = indices.numpy().astype(np.int32)
    for output_size in (None, sizes) if dims == 1 else (sizes,):  # (odd sizes need output_size)
        check_function(
            lambda F, v, o=output_size: getattr(F, f"max_unpool{dims}d")(
                v,
                pf.from_numpy(ints) if F is pf.nn.functional else indices,
                2,
                output_size=o,
            ),
            values.numpy(),
            layout=GRID if dims == 2 else None,
        )
    layer = getattr(nn, f"MaxUnpool{dims}d")(2)
    got = layer(pf.from_numpy(values.numpy()), pf.from_numpy(ints), output_size=sizes)
    want = getattr(torch.nn, f"MaxUnpool{dims}d")(2)(values, indices, output_size=sizes)
    np.testing.assert_array_equal(got.numpy(), want.numpy())
    assert repr(layer) == repr(getattr(torch.nn, f"MaxUnpool{dims}d")(2))


def test_errors_as_torch():
    here = r"test_pool3d.py:\d+: "
    with pytest.raises(pf.ShapeError, match=here + "max_pool3d: Expected 4D or 5D"):
        F.max_pool3d(pf.from_numpy(rand(2, 3, 4)), 2)
    v = pf.from_numpy(rand(1, 2, 3, 3))
    i = pf.from_numpy(np.zeros((1, 2, 3, 3), np.int32))
    with pytest.raises(ValueError, match=here + "invalid output_size"):
        F.max_unpool2d(v, i, 2, output_size=(9, 9))
    with pytest.raises(
        pf.ShapeError, match=here + "max_unpool2d: Expected shape of indices to be same"
    ):
        F.max_unpool2d(v, pf.from_numpy(np.zeros((1, 2, 3), np.int32)), 2)
    with pytest.raises(IndexError, match="out of range"):
        F.max_unpool2d(v, pf.from_numpy(np.full((1, 2, 3, 3), 40, np.int32)), 2)
    even = rand(2, 3, 4, 6)
    values, indices = TF.max_pool2d(torch.from_numpy(even), 2, return_indices=True)
    got = F.max_unpool2d(
        pf.from_numpy(values.numpy()), pf.from_numpy(indices.numpy().astype(np.int32)), 2
    )
    np.testing.assert_array_equal(got.numpy(), TF.max_unpool2d(values, indices, 2).numpy())
