"""`F.affine_grid` and `F.grid_sample`: spatial transformers, PyTorch's formulas.

affine_grid: the base grid of normalised coordinates ([-1, 1]: the corners' centres with
`align_corners`, else their outer edges) [x, y, 1] per output pixel, times theta^T: one
matmul per batch, so theta gets its gradient.

grid_sample (4-D input): each grid point (x, y) in [-1, 1] is unnormalised to a pixel
coordinate, then (padding_mode) kept as is ('zeros': taps outside read 0), clipped to the
edge ('border') or reflected back in ('reflection'); 'bilinear' weighs the 4 neighbours
(nw, ne, sw, se) by their areas, 'nearest' rounds (half to even, as PyTorch's nearbyint).
The taps are read with `gather` from the [N, C, H * W] planes (the input's gradient is its
scatter-add), the weights are ops of the grid (the grid's gradient follows; the floors pass
none), so both gradients are PyTorch's.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

from pyflame import ops
from pyflame.core.dtypes import int32
from pyflame.indexing import gather
from pyflame.lazy_tensor import Tensor, format_location, user_location, user_stacklevel
from pyflame.ops.node import _check_tensor, _shape_error

_ALIGN_WARNING = (
    "Default grid_sample and affine_grid behavior has changed to align_corners=False since "
    "1.3.0. Please specify align_corners=True if the old behavior is desired. See the "
    "documentation of grid_sample for details."
)


def _align(align_corners: bool | None) -> bool:
    if align_corners is None:
        warnings.warn(_ALIGN_WARNING, UserWarning, stacklevel=user_stacklevel())
        return False
    return bool(align_corners)


def _base(steps: int, align_corners: bool) -> np.ndarray:
    """PyTorch's `linspace_from_neg_one` in float32."""
    if steps <= 1:
        return np.zeros((max(steps, 0),), np.float32)
    line = np.linspace(-1, 1, steps, dtype=np.float32)
    if not align_corners:
        line = line * np.float32((steps - 1) / steps)
    return line.astype(np.float32)


def affine_grid(theta: Tensor, size: Sequence[int], align_corners: bool | None = None) -> Tensor:
    """The sampling grid [N, H, W, 2] (or [N, D, H, W, 3]) of the affine maps `theta`
    [N, 2, 3] (or [N, 3, 4]) for an output of `size` (N, C, H, W) (or (N, C, D, H, W)),
    torch.nn.functional.affine_grid."""
    align = _align(align_corners)
    _check_tensor(theta, "affine_grid")
    where = format_location(user_location())
    if not theta.dtype.is_floating_point:
        raise ValueError(
            f"{where}: Expected theta to have floating point type, but got {theta.dtype!r}"
        )
    size = [int(n) for n in size]
    dims = len(size) - 2
    if dims not in (2, 3):
        raise NotImplementedError(
            f"{where}: affine_grid only supports 4D and 5D sizes, for 2D and 3D affine "
            f"transforms, respectively. Got size {size}."
        )
    want = (dims, dims + 1)
    if theta.ndim != 3 or tuple(theta.shape[1:]) != want:
        raise ValueError(
            f"{where}: Expected a batch of {dims}D affine matrices of shape "
            f"Nx{want[0]}x{want[1]} for size {size}. Got {list(theta.shape)}."
        )
    if align and min(size[2:]) == 1:
        warnings.warn(
            "Since version 1.3.0, affine_grid behavior has changed for unit-size grids when "
            "align_corners=True. This is not an intended use case of affine_grid. See the "
            "documentation of affine_grid for details.",
            UserWarning,
            stacklevel=user_stacklevel(),
        )
    elif min(size) <= 0:
        raise ValueError(f"{where}: Expected non-zero, positive output size. Got {size}")
    if theta.shape[0] != size[0]:
        raise _shape_error(
            f"affine_grid: theta has {theta.shape[0]} matrices for a batch of {size[0]}"
        )
    spatial = size[2:]
    lines = [_base(n, align) for n in reversed(spatial)]  # x (W) first
    mesh = np.meshgrid(*lines, indexing="ij")  # axes (W, H[, D])
    coords = np.stack([m.transpose(*reversed(range(dims))) for m in mesh], axis=-1)
    base = np.concatenate([coords, np.ones((*spatial, 1), np.float32)], axis=-1)
    flat = ops.from_numpy(base.reshape(1, -1, dims + 1).astype(np.float32)).astype(theta.dtype)
    grid = ops.matmul(flat.expand(size[0], *flat.shape[1:]), theta.transpose(1, 2))
    return grid.reshape(size[0], *spatial, dims)


def _unnormalize(coord: Tensor, size: int, align: bool) -> Tensor:
    if align:
        return (coord + 1) / 2 * (size - 1)
    return ((coord + 1) * size - 1) / 2


def _reflect(coord: Tensor, twice_low: int, twice_high: int) -> Tensor:
    """PyTorch's reflect_coordinates."""
    if twice_low == twice_high:
        return coord * 0.0
    low = twice_low / 2
    span = (twice_high - twice_low) / 2
    distance = ops.abs(coord - low)
    extra = ops.fmod(distance, span)
    flips = ops.floor(distance.detach() / span)
    even = ops.fmod(flips, 2.0) == 0
    return ops.where(even, extra + low, span - extra + low)


def _source(coord: Tensor, size: int, padding_mode: str, align: bool) -> Tensor:
    """PyTorch's grid_sampler_compute_source_index."""
    x = _unnormalize(coord, size, align)
    if padding_mode == "border":
        return ops.clamp(x, min=0.0, max=float(size - 1))
    if padding_mode == "reflection":
        x = _reflect(x, 0, 2 * (size - 1)) if align else _reflect(x, -1, 2 * size - 1)
        return ops.clamp(x, min=0.0, max=float(size - 1))
    return x


def grid_sample(
    input: Tensor,
    grid: Tensor,
    mode: str = "bilinear",
    padding_mode: str = "zeros",
    align_corners: bool | None = None,
) -> Tensor:
    """Samples the (N, C, H, W) `input` at the (N, Ho, Wo, 2) `grid`'s normalised points
    (x, then y) -> (N, C, Ho, Wo), torch.nn.functional.grid_sample: mode 'bilinear' or
    'nearest', padding_mode 'zeros', 'border' or 'reflection'. 5-D (volumetric) inputs and
    'bicubic' are not supported (NotImplementedError)."""
    where = format_location(user_location())
    if mode not in ("bilinear", "nearest", "bicubic"):
        raise ValueError(
            "nn.functional.grid_sample(): expected mode to be 'bilinear', 'nearest' or "
            f"'bicubic', but got: '{mode}'"
        )
    if padding_mode not in ("zeros", "border", "reflection"):
        raise ValueError(
            "nn.functional.grid_sample(): expected padding_mode to be 'zeros', 'border', or "
            f"'reflection', but got: '{padding_mode}'"
        )
    align = _align(align_corners)
    _check_tensor(input, "grid_sample")
    _check_tensor(grid, "grid_sample")
    if input.ndim == 5 or mode == "bicubic":
        raise NotImplementedError(
            f"{where}: grid_sample: {'5-D inputs' if input.ndim == 5 else 'bicubic'} not "
            "supported here (4-D input, 'bilinear' or 'nearest')"
        )
    if input.ndim != 4 or grid.ndim != 4 or grid.shape[-1] != 2:
        raise _shape_error(
            "grid_sampler(): expected 4D input and grid with same number of dimensions and "
            f"grid of size [N, H, W, 2], but got input with sizes {list(input.shape)} and "
            f"grid with sizes {list(grid.shape)}"
        )
    if input.shape[0] != grid.shape[0]:
        raise _shape_error(
            "grid_sampler(): expected grid and input to have same batch size, but got input "
            f"with sizes {list(input.shape)} and grid with sizes {list(grid.shape)}"
        )
    if not input.dtype.is_floating_point or grid.dtype is not input.dtype:
        raise TypeError(
            f"{where}: grid_sampler(): expected input and grid to have the same floating "
            f"point dtype, but input has {input.dtype!r} and grid has {grid.dtype!r}"
        )
    n, c, h, w = input.shape
    ho, wo = grid.shape[1], grid.shape[2]
    planes = input.reshape(n, c, h * w)
    points = grid.reshape(n, ho * wo, 2)
    ix = _source(points[:, :, 0], w, padding_mode, align)
    iy = _source(points[:, :, 1], h, padding_mode, align)

    def tap(x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        """The values at integer coordinates (x, y) [N, C, P] and whether they are inside."""
        inside = ops.logical_and(
            ops.logical_and(x >= 0, x <= w - 1), ops.logical_and(y >= 0, y <= h - 1)
        )
        flat = ops.clamp(y, min=0, max=h - 1) * w + ops.clamp(x, min=0, max=w - 1)
        index = flat.astype(int32).unsqueeze(1).expand(n, c, ho * wo)
        return gather(planes, 2, index), inside.unsqueeze(1)

    if mode == "nearest":
        value, inside = tap(ops.round(ix.detach()), ops.round(iy.detach()))
        out = ops.where(inside, value, 0.0)
        return out.reshape(n, c, ho, wo)
    x0, y0 = ops.floor(ix.detach()), ops.floor(iy.detach())
    x1, y1 = x0 + 1, y0 + 1
    weights = (
        ((x1 - ix) * (y1 - iy), x0, y0),  # nw
        ((ix - x0) * (y1 - iy), x1, y0),  # ne
        ((x1 - ix) * (iy - y0), x0, y1),  # sw
        ((ix - x0) * (iy - y0), x1, y1),  # se
    )
    total: Tensor | None = None
    for weight, x, y in weights:
        value, inside = tap(x, y)
        term = ops.where(inside, value * weight.unsqueeze(1), 0.0)
        total = term if total is None else total + term
    assert total is not None
    return total.reshape(n, c, ho, wo)


__all__ = ["affine_grid", "grid_sample"]
