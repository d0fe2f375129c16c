"""`F.max_unpool1d`, `F.max_unpool2d`, `F.max_unpool3d`: the inverse of max pooling with
`return_indices=True`: each value written at its flat index in a zero output plane (one
`scatter` per plane; the gradient gathers at the same indices), the rest 0.

    y, i = F.max_pool2d(x, 2, return_indices=True)
    F.max_unpool2d(y, i, 2)        # x's maxima in place, zeros elsewhere

The output size is PyTorch's (in - 1) * stride - 2 * padding + kernel per dim, or
`output_size` within stride of it (PyTorch's ValueError otherwise).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from pyflame import ops
from pyflame.core.dtypes import int32
from pyflame.lazy_tensor import Tensor, format_location, user_location
from pyflame.nn.conv_functional import _single, _triple
from pyflame.ops.conv import _pair
from pyflame.ops.node import _check_tensor, _shape_error


def _tuple(value: Any, dims: int, what: str) -> tuple[int, ...]:
    if dims == 1:
        return (_single(value, what),)
    return _pair(value, what) if dims == 2 else _triple(value, what)


def _output_size(
    input: Tensor,
    kernel: tuple[int, ...],
    stride: tuple[int, ...],
    padding: tuple[int, ...],
    output_size: Any,
) -> list[int]:
    """PyTorch's `_unpool_output_size`."""
    dims = len(kernel)
    default = [
        (input.shape[input.ndim - dims + d] - 1) * stride[d] + kernel[d] - 2 * padding[d]
        for d in range(dims)
    ]
    if output_size is None:
        return default
    size = [int(n) for n in output_size]
    if len(size) == dims + 2:
        size = size[2:]
    if len(size) != dims:
        raise ValueError(
            f"{format_location(user_location())}: output_size should be a sequence containing "
            f"{dims} or {dims + 2} elements, but it has a length of '{len(size)}'"
        )
    for d in range(dims):
        low, high = default[d] - stride[d], default[d] + stride[d]
        if not low < size[d] < high:
            raise ValueError(
                f'{format_location(user_location())}: invalid output_size "{size}" (dim {d} '
                f"must be between {low} and {high})"
            )
    return size


def _max_unpool(
    dims: int,
    input: Tensor,
    indices: Tensor,
    kernel_size: Any,
    stride: Any,
    padding: Any,
    output_size: Sequence[int] | None,
) -> Tensor:
    what = f"max_unpool{dims}d"
    _check_tensor(input, what)
    _check_tensor(indices, what)
    if input.ndim not in (dims + 1, dims + 2):
        raise _shape_error(
            f"{what}: Input to max_unpooling{dims}d should be a {dims + 1}d or {dims + 2}d "
            f"Tensor, but got a tensor with {input.ndim} dimensions."
        )
    if tuple(indices.shape) != tuple(input.shape):
        raise _shape_error(
            f"{what}: Expected shape of indices to be same as that of the input tensor "
            f"({list(input.shape)}) but got indices tensor with shape: {list(indices.shape)}"
        )
    if indices.dtype.is_floating_point:
        raise TypeError(f"{what}: elements in indices should be integers, got {indices.dtype!r}")
    k = _tuple(kernel_size, dims, f"{what} kernel_size")
    s = k if stride is None else _tuple(stride, dims, f"{what} stride")
    p = _tuple(padding, dims, f"{what} padding")
    size = _output_size(input, k, s, p, output_size)
    lead = tuple(input.shape[: input.ndim - dims])
    plane = math.prod(input.shape[input.ndim - dims :])
    values = input.reshape(*lead, plane)
    where = indices.astype(int32).reshape(*lead, plane)
    out = ops.zeros(*lead, math.prod(size), dtype=input.dtype)
    return out.scatter(len(lead), where, values).reshape(*lead, *size)


def max_unpool1d(
    input: Tensor,
    indices: Tensor,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    output_size: Sequence[int] | None = None,
) -> Tensor:
    """(N, C, L) or (C, L) values back at their `indices` (torch.nn.functional.max_unpool1d)."""
    return _max_unpool(1, input, indices, kernel_size, stride, padding, output_size)


def max_unpool2d(
    input: Tensor,
    indices: Tensor,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    output_size: Sequence[int] | None = None,
) -> Tensor:
    """(N, C, H, W) or (C, H, W) values back at their flat `indices` h * W + w
    (torch.nn.functional.max_unpool2d)."""
    return _max_unpool(2, input, indices, kernel_size, stride, padding, output_size)


def max_unpool3d(
    input: Tensor,
    indices: Tensor,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    output_size: Sequence[int] | None = None,
) -> Tensor:
    """(N, C, D, H, W) or (C, D, H, W) values back at their flat `indices`
    (torch.nn.functional.max_unpool3d)."""
    return _max_unpool(3, input, indices, kernel_size, stride, padding, output_size)


__all__ = ["max_unpool1d", "max_unpool2d", "max_unpool3d"]
