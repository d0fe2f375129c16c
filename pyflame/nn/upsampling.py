"""`nn.Upsample` and `F.interpolate`, PyTorch's modes and arithmetic (its CPU kernels).

'nearest' (PyTorch's legacy nearest: output index i reads input index floor(i * scale),
scale = in / out, or 1 / scale_factor when given) and 'nearest-exact' (floor((i + 0.5) *
scale)): an integer scale factor is a broadcast, each value repeated s times along each
spatial dim (its gradient sums the copies); any other size reads rows by slices when the
index steps evenly (pyflame/nn/row_runs.py), else with `index_select`.

    x [N, C, H, W] -> [N, C, H, 1, W, 1] -> expand [N, C, H, s, W, s] -> [N, C, H s, W s]

'linear', 'bilinear', 'trilinear' (2 taps per dim) and 'bicubic' (4 taps): per spatial dim,
the last first, sum over taps of x's rows at the tap's index (row_runs) * the tap's weight, the indices
and weights computed on the host in float32 as PyTorch computes them (align_corners, given
scale factors; `antialias`: PyTorch's widened, normalised filters). 'area' is adaptive
average pooling (pyflame/nn/adaptive_pool.py).
"""

from __future__ import annotations

import functools
import math
import operator
from collections.abc import Sequence
from typing import Any

import numpy as np

from pyflame import ops
from pyflame.core.dtypes import DType, bfloat16, float16, float32
from pyflame.lazy_tensor import Tensor, format_location, user_location
from pyflame.nn import row_runs
from pyflame.nn.module import Module
from pyflame.ops.node import _check_tensor

_MODES = (
    "nearest",
    "linear",
    "bilinear",
    "bicubic",
    "trilinear",
    "lanczos",
    "area",
    "nearest-exact",
)
#: the input rank each interpolating mode takes (PyTorch's)
_RANK = {"linear": 3, "bilinear": 4, "trilinear": 5, "bicubic": 4, "lanczos": 4}
_NAMES = {3: "linear", 4: "bilinear", 5: "trilinear"}
_CUBIC_A = np.float32(-0.75)  # PyTorch's bicubic coefficient


def _per_dim(value: Any, dims: int, what: str, spatial: Sequence[int]) -> list[Any]:
    if isinstance(value, Sequence) and not isinstance(value, str):
        if len(value) != dims:
            shown = "output size of" if what == "output size" else "scale_factor of shape"
            named = "output" if what == "output size" else "scale_factor"
            raise ValueError(
                f"Input and {named} must have the same number of spatial dimensions, but got "
                f"input with spatial dimensions of {list(spatial)} and {shown} {value}. "
                f"Please provide input tensor in (N, C, d1, d2, ...,dK) format and {what} in "
                "(o1, o2, ...,oK) format."
                if what == "output size"
                else f"Input and {named} must have the same number of spatial dimensions, but "
                f"got input with spatial dimensions of {list(spatial)} and {shown} {value}. "
                "Please provide input tensor in (N, C, d1, d2, ...,dK) format and scale_factor "
                "in (s1, s2, ...,sK) format."
            )
        return list(value)
    return [value] * dims


def _refuse_mode_and_rank(input: Tensor, mode: str) -> None:
    """PyTorch's NotImplementedError for a mode and an input rank that do not go together."""
    if input.ndim in (3, 4, 5) and mode in _RANK and _RANK[mode] != input.ndim:
        if mode in _NAMES.values():
            raise NotImplementedError(
                f"Got {input.ndim}D input, but {mode} mode needs {_RANK[mode]}D input"
            )
    if input.ndim not in (3, 4, 5) or (mode in _RANK and _RANK[mode] != input.ndim):
        raise NotImplementedError(
            f"Input Error: Only 3D, 4D and 5D input Tensors supported (got {input.ndim}D) for "
            "the modes: nearest | linear | bilinear | bicubic | trilinear | lanczos | area | "
            f"nearest-exact (got {mode})"
        )


def interpolate(
    input: Tensor,
    size: int | Sequence[int] | None = None,
    scale_factor: float | Sequence[float] | None = None,
    mode: str = "nearest",
    align_corners: bool | None = None,
    recompute_scale_factor: bool | None = None,
    antialias: bool = False,
) -> Tensor:
    """torch.nn.functional.interpolate on (N, C, L), (N, C, H, W) and (N, C, D, H, W) inputs,
    modes 'nearest', 'nearest-exact', 'linear', 'bilinear', 'trilinear', 'bicubic' (both with
    `antialias`) and 'area'; 'lanczos' is NotImplementedError."""
    _check_tensor(input, "interpolate")
    if mode not in _MODES:
        raise NotImplementedError(
            f"Input Error: Only 3D, 4D and 5D input Tensors supported (got {input.ndim}D) for "
            "the modes: nearest | linear | bilinear | bicubic | trilinear | lanczos | area | "
            f"nearest-exact (got {mode})"
        )
    if mode in ("nearest", "area", "nearest-exact"):
        if align_corners is not None:
            raise ValueError(
                "align_corners option can only be set with the interpolating modes: "
                "linear | bilinear | bicubic | trilinear"
            )
    elif align_corners is None:
        align_corners = False
    dims = input.ndim - 2
    spatial = input.shape[2:]
    if size is not None and scale_factor is not None:
        raise ValueError("only one of size or scale_factor should be defined")
    if size is None and scale_factor is None:
        raise ValueError("either size or scale_factor should be defined")
    if recompute_scale_factor and size is not None:
        raise ValueError("recompute_scale_factor is not meaningful with an explicit size.")
    if mode == "area" and size is None:  # PyTorch: area always pools to a size
        recompute_scale_factor = True
    given: list[float | None]
    if size is not None:
        out = [int(n) for n in _per_dim(size, dims, "output size", spatial)]
        given = [None] * dims
    else:
        factors = [float(f) for f in _per_dim(scale_factor, dims, "scale_factor", spatial)]
        out = [math.floor(n * f) for n, f in zip(spatial, factors, strict=True)]
        given = [None] * dims if recompute_scale_factor else list(factors)
    if antialias and not (mode in ("bilinear", "bicubic", "lanczos") and input.ndim == 4):
        raise ValueError(
            "Anti-alias option is restricted to bilinear, bicubic, and lanczos modes and "
            "requires a 4-D tensor as input"
        )
    _refuse_mode_and_rank(input, mode)
    if mode == "lanczos" and align_corners:
        raise ValueError("Lanczos mode does not support align_corners=True")
    if mode == "lanczos" and not antialias:
        raise ValueError("Lanczos mode requires antialias=True")
    if mode == "lanczos":
        raise NotImplementedError(
            f"{format_location(user_location())}: interpolate(mode='lanczos') is not supported"
        )
    if min(out) <= 0 and mode != "area":  # (area is adaptive pooling: empty is fine)
        raise RuntimeError(  # (PyTorch's words and class)
            f"{format_location(user_location())}: Input and output sizes should be greater "
            "than 0, but got input "
            f"({', '.join(map(str, spatial))}) and output ({', '.join(map(str, out))})"
        )
    if mode == "area":
        return _area(input, out)
    if mode in _RANK:
        return _interpolating(input, out, given, mode, bool(align_corners), antialias)
    y = input
    for axis, (n, o, factor) in enumerate(zip(spatial, out, given, strict=True)):
        scale = _scale(n, o, factor)
        if mode == "nearest" and input.ndim == 4 and o in (n, 2 * n):
            # PyTorch's 2-D nearest kernel (nearest_idx) reads out == in as a copy and
            # out == 2 in as i >> 1, whatever the scale factor; its 1-D and 3-D ones do not
            scale = np.float32(n / o)
        y = _nearest(y, 2 + axis, n, o, scale, exact=mode == "nearest-exact")
    return y


def _scale(n: int, o: int, factor: float | None) -> np.float32:
    """PyTorch's compute_scales_value in float32: 1 / scale_factor when one is used, else
    in / out."""
    if factor is not None and factor > 0:
        return np.float32(1.0 / factor)
    return np.float32(n) / np.float32(o)


def _area(input: Tensor, out: Sequence[int]) -> Tensor:
    """mode='area': adaptive average pooling to `out` (PyTorch's choice too)."""
    from pyflame.nn import adaptive_pool  # (adaptive_pool does not import this module)

    if input.ndim == 3:
        return adaptive_pool.adaptive_avg_pool1d(input, out)
    if input.ndim == 4:
        return adaptive_pool.adaptive_avg_pool2d(input, out)
    return adaptive_pool.adaptive_avg_pool3d(input, out)


def _taps(
    n: int, o: int, factor: float | None, align_corners: bool, cubic: bool
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(input index [o], weight [o]) of each tap of PyTorch's linear (2 taps) or cubic
    (4 taps) interpolation of n inputs to o outputs, all in float32 as its CPU kernel
    (area_pixel_compute_source_index, guard_index_and_lambda, the cubic convolution with
    A = -0.75)."""
    f32 = np.float32
    if align_corners:
        scale = f32(n - 1) / f32(o - 1) if o > 1 else f32(0)
    else:
        scale = _scale(n, o, factor)
    dst = np.arange(o, dtype=f32)
    src = scale * dst if align_corners else scale * (dst + f32(0.5)) - f32(0.5)
    if not cubic:
        src = np.maximum(src, f32(0))
    low = np.minimum(np.floor(src).astype(np.int64), n - 1)
    lam = np.clip(src - low.astype(f32), f32(0), f32(1)).astype(f32)
    if not cubic:
        high = low + (low < n - 1)
        return [(low, f32(1) - lam), (high, lam)]
    a = _CUBIC_A

    def near(x: np.ndarray) -> np.ndarray:  # cubic_convolution1: |x| <= 1
        return ((a + f32(2)) * x - (a + f32(3))) * x * x + f32(1)

    def far(x: np.ndarray) -> np.ndarray:  # cubic_convolution2: 1 < |x| < 2
        return ((a * x - f32(5) * a) * x + f32(8) * a) * x - f32(4) * a

    weights = [far(lam + f32(1)), near(lam), near(f32(1) - lam), far(f32(1) - lam + f32(1))]
    return [(np.clip(low - 1 + j, 0, n - 1), w.astype(f32)) for j, w in enumerate(weights)]


def _antialias_taps(
    n: int, o: int, factor: float | None, align_corners: bool, cubic: bool
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(input index [o], weight [o]) of each tap of PyTorch's antialiased bilinear (triangle
    filter) or bicubic (A = -0.5) resize, as its CPU kernel's _compute_weights_aa: a
    downscale widens the filter's support by the scale, each output's weights (its xsize
    inputs from xmin) normalised to sum 1; K = the largest xsize taps, a shorter output's
    last taps weigh 0 (its index clamped)."""
    f32, f64 = np.float32, np.float64
    if align_corners:
        scale = f32(n - 1) / f32(o - 1) if o > 1 else f32(0)
    else:
        scale = _scale(n, o, factor)
    half_width = f32(2.0 if cubic else 1.0)  # interp_size / 2
    support = half_width * scale if scale >= 1 else half_width
    invscale = f32(1) / scale if scale >= 1 else f32(1)
    a = f32(-0.5)

    def filtered(x: np.ndarray) -> np.ndarray:
        x = np.abs(x)
        if not cubic:
            return np.where(x < 1, f32(1) - x, f32(0)).astype(f32)
        near = ((a + f32(2)) * x - (a + f32(3))) * x * x + f32(1)
        far = ((a * x - f32(5) * a) * x + f32(8) * a) * x - f32(4) * a
        return np.where(x < 1, near, np.where(x < 2, far, f32(0))).astype(f32)

    center = (f64(scale) * (np.arange(o) + 0.5)).astype(f32)
    low = np.maximum((center.astype(f64) - f64(support) + 0.5).astype(np.int64), 0)
    high = np.minimum((center.astype(f64) + f64(support) + 0.5).astype(np.int64), n)
    count = high - low
    weights = []
    for j in range(int(count.max())):
        at = ((j + low).astype(f32) - center).astype(f64) + 0.5
        w = filtered((at * f64(invscale)).astype(f32))
        weights.append(np.where(j < count, w, f32(0)).astype(f32))
    total = np.zeros(o, f32)
    for w in weights:
        total = (total + w).astype(f32)
    safe = np.where(total != 0, total, f32(1))
    return [
        (np.minimum(low + j, n - 1), np.where(total != 0, w / safe, w).astype(f32))
        for j, w in enumerate(weights)
    ]


def _interpolating(
    input: Tensor,
    out: Sequence[int],
    given: Sequence[float | None],
    mode: str,
    align: bool,
    antialias: bool = False,
) -> Tensor:
    """Linear, bilinear, trilinear and bicubic: per spatial dim, last first (PyTorch's
    innermost loop), the sum over taps of the input's slices at the tap's indices
    (`index_select`) times the tap's weights; float32 arithmetic, half inputs computed in
    float32 with the weights rounded to their dtype and the result rounded once, as
    PyTorch's CPU kernel."""
    if not input.dtype.is_floating_point:
        kernel = "compute_indices_weights_cubic" if mode == "bicubic" else f"upsample_{mode}"
        name = {"bool": "Bool", "int32": "Long"}.get(input.dtype.name, input.dtype.name)
        raise NotImplementedError(
            f"{format_location(user_location())}: \"{kernel}\" not implemented for '{name}'"
        )
    dtype = input.dtype
    if antialias and dtype in (float16, bfloat16):
        name = "Half" if dtype is float16 else "BFloat16"
        raise NotImplementedError(
            f'{format_location(user_location())}: "compute_index_ranges_weights" not '
            f"implemented for '{name}'"
        )
    y = input.astype(float32) if dtype in (float16, bfloat16) else input
    spatial = input.shape[2:]
    for axis in reversed(range(len(spatial))):
        dim = 2 + axis
        taps = (_antialias_taps if antialias else _taps)(
            spatial[axis], out[axis], given[axis], align, mode == "bicubic"
        )
        y = _resampled(y, dim, taps, dtype)
    return y.astype(dtype) if y.dtype is not dtype else y


def _resampled(
    y: Tensor, dim: int, taps: list[tuple[np.ndarray, np.ndarray]], dtype: DType
) -> Tensor:
    """The sum over taps of y's rows at the tap's index along `dim` times its weights, in
    tap order (PyTorch's); by phases of slices when every tap's index allows
    (pyflame/nn/row_runs.py), else by `index_select`. Weights in `dtype` (PyTorch keeps them
    in the input's dtype), the arithmetic in y's (float32 for half inputs)."""
    trailing = [1] * (y.ndim - 1 - dim)

    def weighted(rows: Tensor, weight: np.ndarray) -> Tensor:
        w = ops.from_numpy(np.ascontiguousarray(weight).reshape(-1, *trailing))
        if dtype is not y.dtype:
            w = w.astype(dtype).astype(y.dtype)
        return rows * w

    phases = [row_runs.phases(y, dim, index) for index, _ in taps]
    held = [parts for parts in phases if parts is not None]
    if len(held) < len(taps):
        terms = [weighted(row_runs.rows_at(y, dim, index), w) for index, w in taps]
        return functools.reduce(operator.add, terms)
    p = len(held[0])
    per_phase = [
        functools.reduce(
            operator.add,
            [weighted(parts[r], w[r::p]) for parts, (_, w) in zip(held, taps, strict=True)],
        )
        for r in range(p)
    ]
    return row_runs.interleaved(per_phase, dim)


def _nearest(x: Tensor, dim: int, n: int, out: int, scale: np.float32, exact: bool) -> Tensor:
    """`x` resized along `dim` from n to `out` by PyTorch's nearest rule, floor(i * scale),
    or its nearest-exact rule, floor((i + 0.5) * scale) (float32 scale)."""
    if out == n and scale == 1:
        return x
    if out % n == 0 and scale == np.float32(n / out):  # an integer factor (both rules)
        s = out // n
        y = x.unsqueeze(dim + 1)
        y = y.expand(*y.shape[: dim + 1], s, *y.shape[dim + 2 :])
        return y.reshape(*x.shape[:dim], out, *x.shape[dim + 1 :])
    position = np.arange(out, dtype=np.float32) + np.float32(0.5 if exact else 0)
    src = np.minimum(np.floor(position * scale).astype(np.int64), n - 1)
    return row_runs.rows_at(x, dim, src)


class Upsample(Module):
    """`F.interpolate` as a layer (every mode `F.interpolate` takes)."""

    def __init__(
        self,
        size: int | Sequence[int] | None = None,
        scale_factor: float | Sequence[float] | None = None,
        mode: str = "nearest",
        align_corners: bool | None = None,
        recompute_scale_factor: bool | None = None,
    ):
        super().__init__()
        self.name = type(self).__name__
        self.size = size
        self.scale_factor: float | tuple[float, ...] | None = (
            tuple(float(f) for f in scale_factor)
            if isinstance(scale_factor, Sequence)
            else float(scale_factor)
            if scale_factor
            else None
        )
        self.mode = mode
        self.align_corners = align_corners
        self.recompute_scale_factor = recompute_scale_factor

    def forward(self, input: Tensor) -> Tensor:
        return interpolate(
            input,
            self.size,
            self.scale_factor,
            self.mode,
            self.align_corners,
            recompute_scale_factor=self.recompute_scale_factor,
        )

    def extra_repr(self) -> str:
        if self.scale_factor is not None:
            info = f"scale_factor={self.scale_factor!r}"
        else:
            info = f"size={self.size!r}"
        return f"{info}, mode={self.mode!r}"


class UpsamplingNearest2d(Upsample):
    """`Upsample(size, scale_factor, mode='nearest')` of (N, C, H, W) input."""

    def __init__(
        self,
        size: int | Sequence[int] | None = None,
        scale_factor: float | Sequence[float] | None = None,
    ):
        super().__init__(size, scale_factor, mode="nearest")


class UpsamplingBilinear2d(Upsample):
    """`Upsample(size, scale_factor, mode='bilinear', align_corners=True)` of (N, C, H, W)
    input (PyTorch's legacy layer: corners aligned)."""

    def __init__(
        self,
        size: int | Sequence[int] | None = None,
        scale_factor: float | Sequence[float] | None = None,
    ):
        super().__init__(size, scale_factor, mode="bilinear", align_corners=True)


__all__ = ["Upsample", "UpsamplingBilinear2d", "UpsamplingNearest2d", "interpolate"]
