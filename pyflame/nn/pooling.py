"""Pooling layers: `MaxPool1d/2d/3d`, `AvgPool1d/2d/3d`, `AdaptiveAvgPool1d/2d/3d`,
`AdaptiveMaxPool1d/2d/3d`, `LPPool1d/2d/3d`, `MaxUnpool1d/2d/3d`."""

from __future__ import annotations

from typing import Any

from pyflame.lazy_tensor import Tensor
from pyflame.nn import functional as F
from pyflame.nn.conv_functional import _single, _triple
from pyflame.nn.module import Module
from pyflame.ops.conv import _pair


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


class _AdaptivePool(Module):
    """Pooling to `output_size` (an int, or one entry per spatial dim, None keeping the
    input's size), with PyTorch's bins: see pyflame/nn/adaptive_pool.py."""

    _pool: Any  # the F.adaptive_* function

    def __init__(self, output_size: Any):
        super().__init__()
        self.output_size = output_size

    def forward(self, input: Tensor) -> Any:
        return self._pool(input, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class _AdaptiveMaxPool(_AdaptivePool):
    """Max pooling to `output_size`; `return_indices=True` also returns where each max is."""

    def __init__(self, output_size: Any, return_indices: bool = False):
        super().__init__(output_size)
        self.return_indices = return_indices

    def forward(self, input: Tensor) -> Any:
        return self._pool(input, self.output_size, self.return_indices)


class AdaptiveAvgPool1d(_AdaptivePool):
    """Mean pooling of (N, C, L) or (C, L) to `output_size`."""

    _pool = staticmethod(F.adaptive_avg_pool1d)


class AdaptiveAvgPool2d(_AdaptivePool):
    """Mean pooling of (N, C, H, W) or (C, H, W) to `output_size` (any size: PyTorch's bins;
    global pooling `AdaptiveAvgPool2d(1)` included)."""

    _pool = staticmethod(F.adaptive_avg_pool2d)


class AdaptiveAvgPool3d(_AdaptivePool):
    """Mean pooling of (N, C, D, H, W) or (C, D, H, W) to `output_size`."""

    _pool = staticmethod(F.adaptive_avg_pool3d)


class AdaptiveMaxPool1d(_AdaptiveMaxPool):
    """Max pooling of (N, C, L) or (C, L) to `output_size`."""

    _pool = staticmethod(F.adaptive_max_pool1d)


class AdaptiveMaxPool2d(_AdaptiveMaxPool):
    """Max pooling of (N, C, H, W) or (C, H, W) to `output_size`."""

    _pool = staticmethod(F.adaptive_max_pool2d)


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


class MaxPool3d(_MaxPoolNd):
    """Max over each window of (N, C, D, H, W) or (C, D, H, W) input (`F.max_pool3d`);
    `return_indices=True` also returns where each max is (flat d * H * W + h * W + w)."""

    _pool = staticmethod(F.max_pool3d)


class AvgPool3d(AvgPool2d):
    """Mean over each window of (N, C, D, H, W) or (C, D, H, W) input (`F.avg_pool3d`)."""

    def forward(self, input: Tensor) -> Tensor:
        return F.avg_pool3d(
            input,
            self.kernel_size,
            self.stride,
            self.padding,
            self.ceil_mode,
            self.count_include_pad,
            self.divisor_override,
        )


class AdaptiveMaxPool3d(_AdaptiveMaxPool):
    """Max pooling of (N, C, D, H, W) or (C, D, H, W) to `output_size`."""

    _pool = staticmethod(F.adaptive_max_pool3d)


class _LPPoolNd(Module):
    """Power-average pooling (`F.lp_pool1d/2d/3d`)."""

    _pool: Any

    def __init__(
        self, norm_type: float, kernel_size: Any, stride: Any = None, ceil_mode: bool = False
    ):
        super().__init__()
        self.norm_type = norm_type
        self.kernel_size = kernel_size
        self.stride = stride
        self.ceil_mode = ceil_mode

    def forward(self, input: Tensor) -> Tensor:
        return self._pool(
            input, float(self.norm_type), self.kernel_size, self.stride, self.ceil_mode
        )

    def extra_repr(self) -> str:
        return (
            f"norm_type={self.norm_type}, kernel_size={self.kernel_size}, stride={self.stride}, "
            f"ceil_mode={self.ceil_mode}"
        )


class LPPool1d(_LPPoolNd):
    _pool = staticmethod(F.lp_pool1d)


class LPPool2d(_LPPoolNd):
    _pool = staticmethod(F.lp_pool2d)


class LPPool3d(_LPPoolNd):
    _pool = staticmethod(F.lp_pool3d)


class _MaxUnpoolNd(Module):
    """The inverse of max pooling (`F.max_unpool1d/2d/3d`): `forward(input, indices,
    output_size=None)`."""

    _dims = 1
    _pool: Any

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0):
        super().__init__()
        name = type(self).__name__
        convert = {1: lambda v, w: (_single(v, w),), 2: _pair, 3: _triple}[self._dims]
        self.kernel_size = convert(kernel_size, f"{name} kernel_size")
        self.stride = convert(stride if stride is not None else kernel_size, f"{name} stride")
        self.padding = convert(padding, f"{name} padding")

    def forward(self, input: Tensor, indices: Tensor, output_size: Any = None) -> Tensor:
        return self._pool(input, indices, self.kernel_size, self.stride, self.padding, output_size)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxUnpool1d(_MaxUnpoolNd):
    _pool = staticmethod(F.max_unpool1d)


class MaxUnpool2d(_MaxUnpoolNd):
    _dims = 2
    _pool = staticmethod(F.max_unpool2d)


class MaxUnpool3d(_MaxUnpoolNd):
    _dims = 3
    _pool = staticmethod(F.max_unpool3d)


__all__ = [
    "AdaptiveAvgPool1d",
    "AdaptiveAvgPool2d",
    "AdaptiveAvgPool3d",
    "AdaptiveMaxPool1d",
    "AdaptiveMaxPool2d",
    "AvgPool1d",
    "AvgPool2d",
    "MaxPool1d",
    "MaxPool2d",
    "MaxPool3d",
    "AvgPool3d",
    "AdaptiveMaxPool3d",
    "LPPool1d",
    "LPPool2d",
    "LPPool3d",
    "MaxUnpool1d",
    "MaxUnpool2d",
    "MaxUnpool3d",
]
