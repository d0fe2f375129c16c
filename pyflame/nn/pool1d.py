"""`F.max_pool1d` and `F.avg_pool1d`: the 2-D pools over a height of 1.

x [N, C, L] --reshape--> [N, C, 1, L] --flame.max_pool2d (1 x k)--> [N, C, 1, Lo] --> [N, C, Lo]
"""

from __future__ import annotations

from typing import Any

from pyflame.lazy_tensor import Tensor
from pyflame.nn.conv_functional import _single
from pyflame.ops.conv import avg_pool2d, max_pool2d
from pyflame.ops.node import _check_tensor, _shape_error


def _as_2d(input: Tensor, what: str) -> Tensor:
    _check_tensor(input, what)
    if input.ndim not in (2, 3) and what == "max_pool1d":
        raise _shape_error(
            f"{what}: Expected 2D or 3D (batch mode) tensor with optional 0 dim batch size for "
            f"input, but got:{list(input.shape)}"
        )
    if input.ndim not in (2, 3):
        raise _shape_error(
            f"Expected 2 to 3 dimensions, but got {input.ndim}-dimensional tensor for argument "
            f"#1 'self' (while checking arguments for {what})"
        )
    return input.reshape(*input.shape[:-1], 1, input.shape[-1])


def _as_1d(y: Tensor) -> Tensor:
    return y.reshape(*y.shape[:-2], y.shape[-1])


def max_pool1d(
    input: Tensor,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    dilation: Any = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> Any:
    """Max over each window of an (N, C, L) or (C, L) input (stride defaults to the kernel
    size), torch.nn.functional.max_pool1d; with `return_indices` also where each max is
    (int32)."""
    k = _single(kernel_size, "max_pool1d kernel_size")
    s = (
        k
        if stride is None or stride == () or stride == []
        else _single(stride, "max_pool1d stride")
    )
    p, d = _single(padding, "max_pool1d padding"), _single(dilation, "max_pool1d dilation")
    out = max_pool2d(
        _as_2d(input, "max_pool1d"), (1, k), (1, s), (0, p), (1, d), ceil_mode, return_indices
    )
    if return_indices:
        return _as_1d(out[0]), _as_1d(out[1])
    return _as_1d(out)


def avg_pool1d(
    input: Tensor,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
) -> Tensor:
    """Mean over each window of an (N, C, L) or (C, L) input (stride defaults to the kernel
    size), torch.nn.functional.avg_pool1d."""
    k = _single(kernel_size, "avg_pool1d kernel_size")
    s = (
        k
        if stride is None or stride == () or stride == []
        else _single(stride, "avg_pool1d stride")
    )
    p = _single(padding, "avg_pool1d padding")
    return _as_1d(
        avg_pool2d(
            _as_2d(input, "avg_pool1d"), (1, k), (1, s), (0, p), ceil_mode, count_include_pad
        )
    )


__all__ = ["avg_pool1d", "max_pool1d"]
