"""`F.lp_pool1d`, `F.lp_pool2d`, `F.lp_pool3d`: power-average pooling, PyTorch's formula
over the average pools:

    (sign(a) * relu(|a|) * prod(kernel)) ** (1 / p),   a = avg_pool(x ** p, kernel, stride)

so p = 1 is sum pooling and p -> inf approaches max pooling; no padding, as PyTorch's."""

from __future__ import annotations

import math
from typing import Any

from pyflame import ops
from pyflame.lazy_tensor import Tensor
from pyflame.nn.conv_functional import _single, _triple
from pyflame.nn.pool1d import avg_pool1d
from pyflame.nn.pool3d import avg_pool3d
from pyflame.ops.conv import _pair, avg_pool2d


def _power_mean(pooled: Tensor, taps: int, norm_type: float) -> Tensor:
    return (ops.sign(pooled) * ops.relu(ops.abs(pooled)) * taps) ** (1.0 / norm_type)


def lp_pool1d(
    input: Tensor, norm_type: float, kernel_size: Any, stride: Any = None, ceil_mode: bool = False
) -> Tensor:
    """The p-norm of each window of an (N, C, L) or (C, L) input
    (torch.nn.functional.lp_pool1d)."""
    k = _single(kernel_size, "lp_pool1d kernel_size")
    pooled = avg_pool1d(input**norm_type, k, stride, 0, ceil_mode)
    return _power_mean(pooled, k, norm_type)


def lp_pool2d(
    input: Tensor, norm_type: float, kernel_size: Any, stride: Any = None, ceil_mode: bool = False
) -> Tensor:
    """The p-norm of each window of an (N, C, H, W) or (C, H, W) input
    (torch.nn.functional.lp_pool2d)."""
    k = _pair(kernel_size, "lp_pool2d kernel_size")
    pooled = avg_pool2d(input**norm_type, k, stride, 0, ceil_mode)
    return _power_mean(pooled, math.prod(k), norm_type)


def lp_pool3d(
    input: Tensor, norm_type: float, kernel_size: Any, stride: Any = None, ceil_mode: bool = False
) -> Tensor:
    """The p-norm of each window of an (N, C, D, H, W) or (C, D, H, W) input
    (torch.nn.functional.lp_pool3d)."""
    k = _triple(kernel_size, "lp_pool3d kernel_size")
    pooled = avg_pool3d(input**norm_type, k, stride, 0, ceil_mode)
    return _power_mean(pooled, math.prod(k), norm_type)


__all__ = ["lp_pool1d", "lp_pool2d", "lp_pool3d"]
