"""`nn.Conv1d`, `nn.Conv2d`, `nn.Conv3d` (and the transposed `nn.ConvTranspose1d`,
`nn.ConvTranspose2d`): convolutions of (N, C, L) / NCHW activations (or unbatched
(C, L) / CHW) with an (O, C/groups, *kernel) weight.

    conv = nn.Conv2d(16, 16, 3, padding=1)
    conv = nn.Conv2d(16, 16, 3, padding=1, layout=pf.MeshLayout.grid(4, 4))
    conv = nn.Conv1d(16, 32, 5, stride=2)          # F.conv1d: conv2d with a height of 1

Initial values as PyTorch: weight U(-b, b) with b = 1/sqrt(fan_in), fan_in = in/groups * kh * kw
(kaiming_uniform with a=sqrt(5)), bias the same bound. `layout=` says where the layer runs:
`grid(r, c)` (or `replicated(r, c)`) splits the output's H and W over r x c PEs, with the
weight and bias replicated on them (what the convolution's lowering needs, so no data moves
before it: the weight's layout is `replicated(r, c)`); any other layout is the weight's layout
and the output's hint. A Conv1d runs as a conv2d of height 1, whose (N, O, 1, Lo) output takes
the hint: `grid(1, c)` splits the length over c PEs.
"""

from __future__ import annotations

import math
from typing import Any, cast

from pyflame.layout import MeshLayout
from pyflame.lazy_tensor import Tensor
from pyflame.nn import functional as F
from pyflame.nn import init
from pyflame.nn.conv_functional import _single, _triple, conv1d_hinted
from pyflame.nn.linear import empty_parameter, hint_output
from pyflame.nn.module import Module
from pyflame.ops import _check_layout
from pyflame.ops.conv import _pair


def _placement(layout: MeshLayout | None) -> tuple[MeshLayout | None, MeshLayout | None]:
    """(weight and bias layout, output hint) for a convolution's `layout=`."""
    if layout is None:
        return None, None
    if layout.kind in ("grid", "replicated"):
        rows, cols = layout.sizes
        return MeshLayout.replicated(rows, cols), MeshLayout.grid(rows, cols)
    return layout, layout


_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


class _ConvNd(Module):
    """What Conv1d and Conv2d share: arguments, parameters, PyTorch's initialisation, repr."""

    _dims = 2
    _transposed = False
    output_padding: tuple[int, ...] = ()

    def _tuple(self, value: Any, what: str) -> tuple[int, ...]:
        name = f"{type(self).__name__} {what}"
        if self._dims == 3:
            return _triple(value, name)
        return (_single(value, name),) if self._dims == 1 else _pair(value, name)

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: Any,
        stride: Any = 1,
        padding: Any = 0,
        dilation: Any = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        *,
        dtype: Any = None,
        layout: MeshLayout | None = None,
    ):
        super().__init__()
        name = type(self).__name__
        if groups <= 0:
            raise ValueError("groups must be a positive integer")
        if in_channels % groups != 0:
            raise ValueError("in_channels must be divisible by groups")
        if out_channels % groups != 0:
            raise ValueError("out_channels must be divisible by groups")
        if padding_mode not in _PADDING_MODES:
            raise ValueError(
                "padding_mode must be one of {'zeros', 'circular', 'replicate', 'reflect'}, "
                f"but got padding_mode={padding_mode!r}"
            )
        if padding_mode != "zeros" and self._transposed:
            raise ValueError(f'Only "zeros" padding mode is supported for {name}')
        if isinstance(padding, str) and padding not in ("same", "valid"):
            raise ValueError(
                f"Invalid padding string {padding!r}, should be one of {{'valid', 'same'}}"
            )
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = self._tuple(kernel_size, "kernel_size")
        self.stride = self._tuple(stride, "stride")
        self.padding: tuple[int, ...] | str = (
            padding if isinstance(padding, str) else self._tuple(padding, "padding")
        )
        if self.padding == "same" and any(s != 1 for s in self.stride):
            raise ValueError("padding='same' is not supported for strided convolutions")
        self.dilation = self._tuple(dilation, "dilation")
        self.groups = groups
        self.padding_mode = padding_mode
        self.layout = _check_layout(layout)
        weight_layout, self._output_hint = _placement(self.layout)
        shape = (
            (in_channels, out_channels // groups, *self.kernel_size)
            if self._transposed
            else (out_channels, in_channels // groups, *self.kernel_size)
        )
        self.weight = empty_parameter(shape, dtype, weight_layout)
        if bias:
            self.bias = empty_parameter((out_channels,), dtype, weight_layout)
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def _conv_args(self, input: Tensor) -> tuple[Tensor, Any]:
        """The input and padding the convolution takes: with padding_mode reflect, replicate
        or circular the input padded by F.pad in that mode and padding 0, as PyTorch's
        `_conv_forward` (for 'same', its (total // 2, rest) split of dilation * (k - 1))."""
        if self.padding_mode == "zeros":
            return input, self.padding
        padding = self.padding
        if isinstance(padding, str):  # 'same' or 'valid'
            sizes = [d * (k - 1) for d, k in zip(self.dilation, self.kernel_size, strict=True)]
            sizes = sizes if padding == "same" else [0] * self._dims
            widths = [(total // 2, total - total // 2) for total in sizes]
        else:
            widths = [(p, p) for p in padding]
        flat = [w for pair in reversed(widths) for w in pair]  # last dim first, as F.pad's
        return F.pad(input, flat, mode=self.padding_mode), (0,) * self._dims

    def reset_parameters(self) -> None:
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init.calculate_fan_in_and_fan_out(self.weight)
            if fan_in != 0:
                bound = 1 / math.sqrt(fan_in)
                init.uniform_(self.bias, -bound, bound)

    def extra_repr(self) -> str:
        ones, zeros = (1,) * self._dims, (0,) * self._dims
        s = (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}"
        )
        if self.padding != zeros:
            s += f", padding={self.padding}"
        if self.dilation != ones:
            s += f", dilation={self.dilation}"
        if self.output_padding and self.output_padding != zeros:
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        if self.layout is not None:
            s += f", layout={self.layout!r}"
        return s


class Conv1d(_ConvNd):
    """Conv1d(in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
    groups=1, bias=True); `padding` may be 'valid' or 'same'. (N, C, L) or (C, L) input."""

    _dims = 1
    stride: tuple[int]
    padding: tuple[int] | str
    dilation: tuple[int]

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int],
        stride: int | tuple[int] = 1,
        padding: int | tuple[int] | str = 0,
        dilation: int | tuple[int] = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        *,
        dtype: Any = None,
        layout: MeshLayout | None = None,
    ):
        super().__init__(
            in_channels,
            out_channels,
            kernel_size,
            stride,
            padding,
            dilation,
            groups,
            bias,
            padding_mode,
            dtype=dtype,
            layout=layout,
        )

    def forward(self, input: Tensor) -> Tensor:
        input, padding = self._conv_args(input)
        return conv1d_hinted(
            input,
            self.weight,
            self.bias,
            self.stride,
            padding,
            self.dilation,
            self.groups,
            hint=self._output_hint,
        )


class Conv2d(_ConvNd):
    """Conv2d(in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
    groups=1, bias=True); `padding` may be 'valid' or 'same'."""

    stride: tuple[int, int]
    padding: tuple[int, int] | str
    dilation: tuple[int, int]

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] | str = 0,
        dilation: int | tuple[int, int] = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        *,
        dtype: Any = None,
        layout: MeshLayout | None = None,
    ):
        super().__init__(
            in_channels,
            out_channels,
            kernel_size,
            stride,
            padding,
            dilation,
            groups,
            bias,
            padding_mode,
            dtype=dtype,
            layout=layout,
        )

    def forward(self, input: Tensor) -> Tensor:
        input, padding = self._conv_args(input)
        y = F.conv2d(
            input, self.weight, self.bias, self.stride, padding, self.dilation, self.groups
        )
        return hint_output(y, self._output_hint) if y.ndim == 4 else y


class Conv3d(_ConvNd):
    """Conv3d(in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
    groups=1, bias=True, padding_mode='zeros'): `F.conv3d` of (N, C, D, H, W) or
    (C, D, H, W) input; weight (O, C/groups, kd, kh, kw)."""

    _dims = 3

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int, int],
        stride: int | tuple[int, int, int] = 1,
        padding: int | tuple[int, int, int] | str = 0,
        dilation: int | tuple[int, int, int] = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        *,
        dtype: Any = None,
    ):
        super().__init__(
            in_channels,
            out_channels,
            kernel_size,
            stride,
            padding,
            dilation,
            groups,
            bias,
            padding_mode,
            dtype=dtype,
        )

    def forward(self, input: Tensor) -> Tensor:
        input, padding = self._conv_args(input)
        return F.conv3d(
            input, self.weight, self.bias, self.stride, padding, self.dilation, self.groups
        )


class _ConvTransposeNd(_ConvNd):
    """What ConvTranspose1d and ConvTranspose2d share: the weight (in, out/groups, *kernel),
    initialised as PyTorch's (fan_in = out/groups * prod(kernel)), and `forward(input,
    output_size=None)`, whose `output_size` picks the output_padding that gives it, as
    PyTorch's `_output_padding`."""

    _transposed = True

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: Any,
        stride: Any = 1,
        padding: Any = 0,
        output_padding: Any = 0,
        groups: int = 1,
        bias: bool = True,
        dilation: Any = 1,
        padding_mode: str = "zeros",
        *,
        dtype: Any = None,
        layout: MeshLayout | None = None,
    ):
        if padding_mode != "zeros":
            raise ValueError(f'Only "zeros" padding mode is supported for {type(self).__name__}')
        super().__init__(
            in_channels,
            out_channels,
            kernel_size,
            stride,
            padding,
            dilation,
            groups,
            bias,
            padding_mode,
            dtype=dtype,
            layout=layout,
        )
        self.output_padding = self._tuple(output_padding, "output_padding")

    def _output_padding(self, input: Tensor, output_size: Any) -> tuple[int, ...]:
        """The output_padding that makes the output `output_size` (the spatial sizes, or
        ending with them)."""
        if output_size is None:
            return self.output_padding
        k = self._dims
        size = [int(n) for n in output_size]
        if len(size) == input.ndim:
            size = size[-k:]
        if len(size) != k:
            raise ValueError(
                f"{type(self).__name__}: output_size must have {k} or {input.ndim} elements "
                f"(got {len(size)})"
            )
        low, high = [], []
        for a in range(k):
            n = (
                (input.shape[input.ndim - k + a] - 1) * self.stride[a]
                - 2 * cast(tuple[int, ...], self.padding)[a]  # (transposed: never a string)
                + self.dilation[a] * (self.kernel_size[a] - 1)
                + 1
            )
            low.append(n)
            high.append(n + self.stride[a] - 1)
        if any(not low[a] <= size[a] <= high[a] for a in range(k)):
            raise ValueError(
                f"requested an output size of {size}, but valid sizes range from {low} to "
                f"{high} (for an input of {list(input.shape[-k:])})"
            )
        return tuple(size[a] - low[a] for a in range(k))


class ConvTranspose1d(_ConvTransposeNd):
    """ConvTranspose1d(in_channels, out_channels, kernel_size, stride=1, padding=0,
    output_padding=0, groups=1, bias=True, dilation=1): `F.conv_transpose1d` of (N, C, L) or
    (C, L) input; weight (in, out/groups, k)."""

    _dims = 1

    def forward(self, input: Tensor, output_size: Any = None) -> Tensor:
        return F.conv_transpose1d(
            input,
            self.weight,
            self.bias,
            self.stride,
            cast(tuple[int, ...], self.padding),  # (transposed: never a string)
            self._output_padding(input, output_size),
            self.groups,
            self.dilation,
        )


class ConvTranspose3d(_ConvTransposeNd):
    """ConvTranspose3d(in_channels, out_channels, kernel_size, stride=1, padding=0,
    output_padding=0, groups=1, bias=True, dilation=1): `F.conv_transpose3d` of
    (N, C, D, H, W) or (C, D, H, W) input; weight (in, out/groups, kd, kh, kw). No
    `layout=`."""

    _dims = 3

    def forward(self, input: Tensor, output_size: Any = None) -> Tensor:
        return F.conv_transpose3d(
            input,
            self.weight,
            self.bias,
            self.stride,
            cast(tuple[int, ...], self.padding),  # (transposed: never a string)
            self._output_padding(input, output_size),
            self.groups,
            self.dilation,
        )


class ConvTranspose2d(_ConvTransposeNd):
    """ConvTranspose2d(in_channels, out_channels, kernel_size, stride=1, padding=0,
    output_padding=0, groups=1, bias=True, dilation=1): `F.conv_transpose2d`, the gradient of
    a Conv2d(out_channels, in_channels) with respect to its input. Weight
    (in, out/groups, kh, kw), initialised as PyTorch's (fan_in = out/groups * kh * kw).
    `forward(input, output_size=None)`: an `output_size` picks the output_padding that gives
    it, as PyTorch's."""

    stride: tuple[int, int]
    padding: tuple[int, int]
    dilation: tuple[int, int]
    output_padding: tuple[int, int]

    def forward(self, input: Tensor, output_size: Any = None) -> Tensor:
        y = F.conv_transpose2d(
            input,
            self.weight,
            self.bias,
            self.stride,
            self.padding,
            self._output_padding(input, output_size),
            self.groups,
            self.dilation,
        )
        return hint_output(y, self._output_hint) if y.ndim == 4 else y


__all__ = ["Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d"]
