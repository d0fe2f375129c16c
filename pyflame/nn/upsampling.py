"""`nn.Upsample` and `F.interpolate`, mode 'nearest' (PyTorch's legacy nearest: output index
i reads input index floor(i * scale), scale = in / out, or 1 / scale_factor when given).

An integer scale factor is a broadcast: each value repeated s times along each spatial dim
(its gradient sums the copies). Any other size reads rows with `index_select`.

    x [N, C, H, W] -> [N, C, H, 1, W, 1] -> expand [N, C, H, s, W, s] -> [N, C, H s, W s]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from pyflame import ops
from pyflame.indexing import index_select
from pyflame.lazy_tensor import Tensor
from pyflame.nn.module import Module
from pyflame.ops.node import _check_tensor

_MODES = ("nearest", "linear", "bilinear", "bicubic", "trilinear", "area", "nearest-exact")


def _per_dim(value: Any, dims: int, what: str) -> list[Any]:
    if isinstance(value, Sequence) and not isinstance(value, str):
        if len(value) != dims:
            raise ValueError(
                f"Input and {what} must have the same number of spatial dimensions, but got "
                f"input with spatial dimensions of {dims} and {what} of {list(value)}. Please "
                f"provide input tensor in (N, C, d1, d2, ...,dK) format and {what} in "
                "(o1, o2, ...,oK) format."
            )
        return list(value)
    return [value] * dims


def interpolate(
    input: Tensor,
    size: int | Sequence[int] | None = None,
    scale_factor: float | Sequence[float] | None = None,
    mode: str = "nearest",
    align_corners: bool | None = None,
    recompute_scale_factor: bool | None = None,
    antialias: bool = False,
) -> Tensor:
    """torch.nn.functional.interpolate for mode='nearest' on (N, C, L), (N, C, H, W) and
    (N, C, D, H, W) inputs; other modes are NotImplementedError."""
    _check_tensor(input, "interpolate")
    if mode not in _MODES:
        raise NotImplementedError(
            f"Input Error: Only 3D, 4D and 5D input Tensors supported (got {input.ndim}D) for "
            f"the modes: nearest | linear | bilinear | bicubic | trilinear | area | "
            f"nearest-exact (got {mode})"
        )
    if mode != "nearest":
        raise NotImplementedError(f"interpolate mode={mode!r} is not supported (only 'nearest')")
    if align_corners is not None:
        raise ValueError(
            "align_corners option can only be set with the interpolating modes: "
            "linear | bilinear | bicubic | trilinear"
        )
    if antialias:
        raise ValueError(
            "Anti-alias option is restricted to bilinear and bicubic modes and requires a 4-D "
            "tensor as input"
        )
    if input.ndim not in (3, 4, 5):
        raise NotImplementedError(
            f"Input Error: Only 3D, 4D and 5D input Tensors supported (got {input.ndim}D) for "
            "the modes: nearest | linear | bilinear | bicubic | trilinear | area | "
            f"nearest-exact (got {mode})"
        )
    dims = input.ndim - 2
    if size is None and scale_factor is None:
        raise ValueError("either size or scale_factor should be defined")
    if size is not None and scale_factor is not None:
        raise ValueError("only one of size or scale_factor should be defined")
    spatial = input.shape[2:]
    if size is not None:
        out = [int(n) for n in _per_dim(size, dims, "output size")]
        scales = [n / o for n, o in zip(spatial, out, strict=True)]
    else:
        factors = [float(f) for f in _per_dim(scale_factor, dims, "scale_factor")]
        out = [math.floor(n * f) for n, f in zip(spatial, factors, strict=True)]
        scales = (
            [n / o for n, o in zip(spatial, out, strict=True)]
            if recompute_scale_factor
            else [1.0 / f for f in factors]
        )
    if min(out) <= 0:
        raise ValueError(
            f"Input and output sizes should be greater than 0, but got input "
            f"({', '.join(map(str, spatial))}) and output ({', '.join(map(str, out))})"
        )
    y = input
    for axis, (n, o, scale) in enumerate(zip(spatial, out, scales, strict=True)):
        y = _nearest(y, 2 + axis, n, o, scale)
    return y


def _nearest(x: Tensor, dim: int, n: int, out: int, scale: float) -> Tensor:
    """`x` resized along `dim` from n to `out` by PyTorch's nearest rule (float32 scale)."""
    if out == n:
        return x
    if out % n == 0 and np.float32(scale) == np.float32(n / out):  # an integer factor
        s = out // n
        y = x.unsqueeze(dim + 1)
        y = y.expand(*y.shape[: dim + 1], s, *y.shape[dim + 2 :])
        return y.reshape(*x.shape[:dim], out, *x.shape[dim + 1 :])
    src = np.minimum(
        np.floor(np.arange(out, dtype=np.float32) * np.float32(scale)).astype(np.int64), n - 1
    )
    return index_select(x, dim, ops.from_numpy(src.astype(np.int32)))


class Upsample(Module):
    """`F.interpolate` as a layer (mode 'nearest' only)."""

    def __init__(
        self,
        size: int | Sequence[int] | None = None,
        scale_factor: float | Sequence[float] | None = None,
        mode: str = "nearest",
        align_corners: bool | None = None,
        recompute_scale_factor: bool | None = None,
    ):
        super().__init__()
        if mode != "nearest":
            raise NotImplementedError(f"Upsample mode={mode!r} is not supported (only 'nearest')")
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


__all__ = ["Upsample", "interpolate"]
