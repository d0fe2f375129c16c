"""F.affine_grid and F.grid_sample against torch: values and the gradients of theta, the
input and the grid, every mode and padding mode, both align_corners, grid points outside
[-1, 1], two layouts; PyTorch's warnings and errors."""

from __future__ import annotations

import numpy as np
import pytest

import pyflame as pf

torch = pytest.importorskip("torch")

from nn_parity import GRID, check_function, rand  # noqa: E402

pytestmark = pytest.mark.usefixtures("small_target")
F = pf.nn.functional


def _theta(n, dims, seed=0):
    eye = np.eye(dims, dims + 1, dtype=np.float32)[None]
    return (eye + rand(n, dims, dims + 1, seed=seed) * 0.3).astype(np.float32)


def _grid(*shape, seed=1):
    """Points in [-1.3, 1.3]: some outside the input, to exercise the padding modes."""
    return np.random.default_rng(seed).random(shape).astype(np.float32) * 2.6 - 1.3


@pytest.mark.parametrize("align", [True, False])
def test_affine_grid_matches_torch(align):
    check_function(lambda F, t: F.affine_grid(t, (2, 3, 4, 7), align), _theta(2, 2))
    check_function(lambda F, t: F.affine_grid(t, (1, 2, 3, 4, 5), align), _theta(1, 3))


@pytest.mark.parametrize("padding_mode", ["zeros", "border", "reflection"])
@pytest.mark.parametrize("align, layout", [(True, None), (False, GRID)], ids=str)
def test_bilinear_grid_sample_values_and_gradients(align, padding_mode, layout):
    x, g = rand(2, 3, 5, 6), _grid(2, 4, 7, 2)
    check_function(
        lambda F, x, g: F.grid_sample(x, g, "bilinear", padding_mode, align),
        x,
        g,
        layout=layout,
        rtol=1e-4,
        atol=1e-5,
    )


@pytest.mark.parametrize("padding_mode", ["zeros", "border", "reflection"])
def test_nearest_grid_sample_matches_torch(padding_mode):
    x, g = rand(2, 3, 5, 6), _grid(2, 4, 7, 2)
    for align in (True, False):
        check_function(
            lambda F, x, g, align=align: F.grid_sample(x, g, "nearest", padding_mode, align),
            x,
            g,
            grad=[True, False],
        )


def test_spatial_transformer_end_to_end_gradient_of_theta():
    x, theta = rand(2, 3, 6, 5), _theta(2, 2, seed=4)
    check_function(
        lambda F, x, t: F.grid_sample(
            x, F.affine_grid(t, (2, 3, 4, 4), False), align_corners=False
        ),
        x,
        theta,
        rtol=1e-4,
        atol=1e-5,
    )


def test_warnings_and_errors_as_torch():
    here = r"test_grid_sample.py:\d+: "
    x, g = pf.from_numpy(rand(1, 2, 3, 3)), pf.from_numpy(_grid(1, 2, 2, 2))
    with pytest.warns(UserWarning, match="Default grid_sample and affine_grid behavior") as w:
        F.grid_sample(x, g)
    assert w[0].filename == __file__
    with pytest.raises(ValueError, match="expected mode to be 'bilinear', 'nearest' or 'bicubic'"):
        F.grid_sample(x, g, "area", align_corners=False)
    with pytest.raises(ValueError, match="expected padding_mode to be 'zeros', 'border'"):
        F.grid_sample(x, g, padding_mode="wrap", align_corners=False)
    with pytest.raises(NotImplementedError, match=here + "grid_sample: bicubic"):
        F.grid_sample(x, g, "bicubic", align_corners=False)
    with pytest.raises(
        pf.ShapeError, match=here + r"grid_sampler\(\): expected grid and input to have same batch"
    ):
        F.grid_sample(x, pf.from_numpy(_grid(2, 2, 2, 2)), align_corners=False)
    with pytest.raises(ValueError, match=here + "Expected a batch of 2D affine matrices"):
        F.affine_grid(pf.from_numpy(_theta(1, 3)), (1, 2, 3, 3), False)
    with pytest.raises(NotImplementedError, match=here + "affine_grid only supports 4D and 5D"):
        F.affine_grid(pf.from_numpy(_theta(1, 2)), (1, 2, 3), False)
    with pytest.raises(ValueError, match=here + "Expected non-zero, positive output size"):
        F.affine_grid(pf.from_numpy(_theta(1, 2)), (1, 2, 0, 3), False)
