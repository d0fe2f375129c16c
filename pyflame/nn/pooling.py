"""Pooling layers: `MaxPool1d`, `MaxPool2d`, `AvgPool1d`, `AvgPool2d`, `AdaptiveAvgPool2d`."""

from __future__ import annotations

from typing import Any

from pyflame.core.errors import ShapeError
from pyflame.lazy_tensor import Tensor, format_location, user_location
from pyflame.nn import functional as F
from pyflame.nn.conv_functional import _single
from pyflame.nn.module import Module


class _MaxPoolNd(Module):
    """Max over each window (stride defaults to the kernel size); `return_indices=True` also
    returns where each max is (int32). Subclasses name their functional form (`_pool`)."""

    _pool: Any  # F.max_pool1d or F.max_pool2d

    def __init__(
        self,
        kernel_size: Any,
        stride: Any = None,
        padding: Any = 0,
        dilation: Any = 1,
        return_indices: bool = False,
        ceil_mode: bool = False,
    ):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.dilation = dilation
        self.return_indices = return_indices
        self.ceil_mode = ceil_mode

    def forward(self, input: Tensor) -> Any:
        return self._pool(
            input,
            self.kernel_size,
            self.stride,
            self.padding,
            self.dilation,
            self.ceil_mode,
            self.return_indices,
        )

    def extra_repr(self) -> str:
        return (
            f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
            f"dilation={self.dilation}, ceil_mode={self.ceil_mode}"
        )


class MaxPool2d(_MaxPoolNd):
    """Max over each window (stride defaults to the kernel size); `return_indices=True` also
    returns where each max is (F.max_pool2d's flat h * W + w, int32)."""

    _pool = staticmethod(F.max_pool2d)


class AvgPool2d(Module):
    """Mean over each window (stride defaults to the kernel size)."""

    def __init__(
        self,
        kernel_size: Any,
        stride: Any = None,
        padding: Any = 0,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
        divisor_override: int | None = None,
    ):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad
        self.divisor_override = divisor_override

    def forward(self, input: Tensor) -> Tensor:
        return F.avg_pool2d(
            input,
            self.kernel_size,
            self.stride,
            self.padding,
            self.ceil_mode,
            self.count_include_pad,
            self.divisor_override,
        )

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AdaptiveAvgPool2d(Module):
    """Mean pooling to `output_size` (H, W); supported when it divides the input's size (the
    usual global pooling `AdaptiveAvgPool2d(1)` included)."""

    def __init__(self, output_size: Any):
        super().__init__()
        self.output_size = output_size

    def forward(self, input: Tensor) -> Tensor:
        size = self.output_size
        out = tuple(size) if isinstance(size, (tuple, list)) else (size, size)
        h, w = input.shape[-2:]
        out = (h if out[0] is None else out[0], w if out[1] is None else out[1])
        if out == (1, 1):
            return input.mean(dim=(-2, -1), keepdim=True)
        if h % out[0] or w % out[1]:
            raise ShapeError(
                f"{format_location(user_location())}: AdaptiveAvgPool2d to {out} "
                f"needs an input size that it divides, got {(h, w)}"
            )
        kernel = (h // out[0], w // out[1])
        return F.avg_pool2d(input, kernel, kernel)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class MaxPool1d(_MaxPoolNd):
    """Max over each window of (N, C, L) or (C, L) input (stride defaults to the kernel size);
    `return_indices=True` also returns where each max is."""

    _pool = staticmethod(F.max_pool1d)


class AvgPool1d(Module):
    """Mean over each window of (N, C, L) or (C, L) input (stride defaults to the kernel
    size)."""

    def __init__(
        self,
        kernel_size: Any,
        stride: Any = None,
        padding: Any = 0,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
    ):
        super().__init__()
        self.kernel_size = (_single(kernel_size, "AvgPool1d kernel_size"),)
        self.stride = self.kernel_size if stride is None else (_single(stride, "AvgPool1d stride"),)
        self.padding = (_single(padding, "AvgPool1d padding"),)
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad

    def forward(self, input: Tensor) -> Tensor:
        return F.avg_pool1d(
            input,
            self.kernel_size,
            self.stride,
            self.padding,
            self.ceil_mode,
            self.count_include_pad,
        )

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


__all__ = ["AdaptiveAvgPool2d", "AvgPool1d", "AvgPool2d", "MaxPool1d", "MaxPool2d"]
