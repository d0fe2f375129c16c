"""`F.unfold` (im2col) and `F.fold` (col2im), and their layers `nn.Unfold` / `nn.Fold`.

unfold: every kernel tap (i, j) is one strided slice of the zero-padded input, the taps
stacked after the channels (PyTorch's row order c·kh·kw + i·kw + j):

    x [N, C, H, W] -pad-> [N, C, H + 2ph, W + 2pw] -slice per tap-> kh·kw x [N, C, oh, ow]
    -stack-> [N, C, kh·kw, oh, ow] -> [N, C·kh·kw, oh·ow]

fold, its transpose: each tap's [N, C, oh, ow] block spread by the stride (reshape, pad,
reshape) and padded into place on the padded output, the kh·kw blocks added in tap order (as
PyTorch's col2im adds them, so the same roundings), the padding cropped. Data moves and adds
only: `unfold` is exact for every dtype it takes, `fold` of bools is a logical or.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Any

from pyflame import ops
from pyflame.core.dtypes import bool_
from pyflame.lazy_tensor import Tensor, format_location, user_location
from pyflame.nn.module import Module
from pyflame.ops.node import _check_tensor


def _where() -> str:
    return format_location(user_location())


def _pair(value: Any, name: str, position: int, what: str) -> tuple[int, int]:
    """An int or a pair of ints, as PyTorch's im2col/col2im read `name`."""
    items = list(value) if isinstance(value, Sequence) else [value, value]
    for k, item in enumerate(items):
        if isinstance(item, bool) or not isinstance(item, int):
            try:
                items[k] = operator.index(item)
            except TypeError:
                raise TypeError(
                    f"{what}(): argument '{name}' (position {position}) must be tuple of ints, "
                    f"but found element of type {type(item).__name__} at pos {k}"
                ) from None
    if len(items) != 2:
        raise RuntimeError(
            f"{_where()}: It is expected {name} equals to 2, but got size {len(items)}"
        )
    return items[0], items[1]


def _check_positive(
    kernel: tuple[int, int],
    dilation: tuple[int, int],
    padding: tuple[int, int],
    stride: tuple[int, int],
) -> None:
    for name, (a, b), low, word, parts in (
        ("kernel size", kernel, 1, "greater than zero", ("kernel_height", "kernel_width")),
        ("dilation", dilation, 1, "greater than zero", ("dilation_height", "dilation_width")),
        ("padding", padding, 0, "non-negative", ("pad_height", "pad_width")),
        ("stride", stride, 1, "greater than zero", ("stride_height", "stride_width")),
    ):
        if min(a, b) < low:
            raise RuntimeError(
                f"{_where()}: {name} should be {word}, but got {parts[0]}: {a} {parts[1]}: {b}"
            )


def _blocks(
    size: tuple[int, int],
    kernel: tuple[int, int],
    dilation: tuple[int, int],
    padding: tuple[int, int],
    stride: tuple[int, int],
) -> tuple[int, int]:
    """The number of sliding blocks along each spatial dim (PyTorch's formula)."""
    return tuple(  # type: ignore[return-value]  # (two ints: one per spatial dim)
        (size[a] + 2 * padding[a] - dilation[a] * (kernel[a] - 1) - 1) // stride[a] + 1
        for a in (0, 1)
    )


def _dtype_check(input: Tensor, kernel: str) -> None:
    if input.dtype is not bool_ and not input.dtype.is_floating_point:
        raise NotImplementedError(f"{_where()}: \"{kernel}\" not implemented for 'Long'")


def unfold(
    input: Tensor, kernel_size: Any, dilation: Any = 1, padding: Any = 0, stride: Any = 1
) -> Tensor:
    """Sliding local blocks of (N, C, H, W) or (C, H, W) as columns: (N, C·kh·kw, L), L the
    number of blocks (torch.nn.functional.unfold, im2col)."""
    _check_tensor(input, "unfold")
    k = _pair(kernel_size, "kernel_size", 2, "im2col")
    d = _pair(dilation, "dilation", 3, "im2col")
    p = _pair(padding, "padding", 4, "im2col")
    s = _pair(stride, "stride", 5, "im2col")
    _check_positive(k, d, p, s)
    if input.ndim not in (3, 4) or not all(input.shape[input.ndim - 3 :]):
        error = IndexError if input.ndim < 3 else RuntimeError
        raise error(
            f"{_where()}: Expected 3D or 4D (batch mode) tensor with possibly 0 batch size and "
            f"other non-zero dimensions for input, but got: {list(input.shape)}"
        )
    _dtype_check(input, "im2col_out_cpu")
    x = input.unsqueeze(0) if input.ndim == 3 else input
    n, c, h, w = x.shape
    oh, ow = _blocks((h, w), k, d, p, s)
    if oh < 1 or ow < 1:
        raise RuntimeError(
            f"{_where()}: Given input with spatial size ({h}, {w}), kernel_size={k}, "
            f"dilation={d}, padding={p}, calculated shape of the array of sliding blocks as "
            f"({oh}, {ow}), but its components must be at least one."
        )
    if any(p):
        x = ops.pad(x, (p[1], p[1], p[0], p[0]))
    taps = []
    for i in range(k[0]):
        for j in range(k[1]):
            rows = slice(i * d[0], i * d[0] + (oh - 1) * s[0] + 1, s[0])
            cols = slice(j * d[1], j * d[1] + (ow - 1) * s[1] + 1, s[1])
            taps.append(x[:, :, rows, cols])
    out = ops.stack(taps, 2).reshape(n, c * k[0] * k[1], oh * ow)
    return out.squeeze(0) if input.ndim == 3 else out


def _spread(block: Tensor, dim: int, step: int) -> Tensor:
    """`block` with step - 1 zeros between its elements along `dim` (length (m - 1)·step + 1)."""
    m = block.shape[dim]
    if step == 1 or m == 0:
        return block
    shape = list(block.shape)
    y = block.unsqueeze(dim + 1)
    widths = [0, 0] * (y.ndim - dim - 2) + [0, step - 1]
    y = ops.pad(y, widths).reshape(*shape[:dim], m * step, *shape[dim + 1 :])
    return y[(slice(None),) * dim + (slice(0, (m - 1) * step + 1),)]


def fold(
    input: Tensor,
    output_size: Any,
    kernel_size: Any,
    dilation: Any = 1,
    padding: Any = 0,
    stride: Any = 1,
) -> Tensor:
    """Columns (N, C·kh·kw, L) or (C·kh·kw, L) summed back into (N, C, H, W): the transpose
    of `unfold` (torch.nn.functional.fold, col2im); overlapping blocks add up."""
    _check_tensor(input, "fold")
    size = _pair(output_size, "output_size", 2, "col2im")
    k = _pair(kernel_size, "kernel_size", 3, "col2im")
    d = _pair(dilation, "dilation", 4, "col2im")
    p = _pair(padding, "padding", 5, "col2im")
    s = _pair(stride, "stride", 6, "col2im")
    _check_positive(k, d, p, s)
    if input.ndim not in (2, 3) or not all(input.shape[input.ndim - 2 :]):
        raise RuntimeError(
            f"{_where()}: Expected 2D or 3D (batch mode) tensor for input with possibly 0 "
            f"batch size and non-zero dimensions for input, but got: {list(input.shape)}"
        )
    _dtype_check(input, "col2im_out_cpu")
    cols = input.unsqueeze(0) if input.ndim == 2 else input
    n, rows_in, length = cols.shape
    taps = k[0] * k[1]
    if rows_in % taps:
        raise RuntimeError(
            f"{_where()}: Expected size of input's dimension 1 to be divisible by the product "
            f"of kernel_size, but got input.size(1)={rows_in} and kernel_size={k}."
        )
    oh, ow = _blocks(size, k, d, p, s)
    if oh * ow != length or oh < 1 or ow < 1:
        raise RuntimeError(
            f"{_where()}: Given output_size={size}, kernel_size={k}, dilation={d}, "
            f"padding={p}, stride={s}, expected size of input's dimension 2 to match the "
            f"calculated number of sliding blocks {oh} * {ow} = {oh * ow}, but got "
            f"input.size(2)={length}."
        )
    c = rows_in // taps
    blocks = cols.reshape(n, c, taps, oh, ow)
    height, width = size[0] + 2 * p[0], size[1] + 2 * p[1]
    total = None
    for i in range(k[0]):
        for j in range(k[1]):
            block = _spread(_spread(blocks[:, :, i * k[1] + j], 2, s[0]), 3, s[1])
            top, left = i * d[0], j * d[1]
            bottom = height - top - block.shape[2]
            right = width - left - block.shape[3]
            placed = ops.pad(block, (left, right, top, bottom))
            if total is not None:
                total = total + placed
            else:  # PyTorch adds into zeros: + 0 makes a -0.0 +0.0 as there
                total = placed if placed.dtype is bool_ else placed + 0
    assert total is not None  # (at least one tap: the kernel is checked positive)
    out = total[:, :, p[0] : p[0] + size[0], p[1] : p[1] + size[1]]
    return out.squeeze(0) if input.ndim == 2 else out


class Unfold(Module):
    """`F.unfold` as a layer: (N, C, H, W) -> (N, C·kh·kw, L)."""

    def __init__(self, kernel_size: Any, dilation: Any = 1, padding: Any = 0, stride: Any = 1):
        super().__init__()
        self.kernel_size = kernel_size
        self.dilation = dilation
        self.padding = padding
        self.stride = stride

    def forward(self, input: Tensor) -> Tensor:
        return unfold(input, self.kernel_size, self.dilation, self.padding, self.stride)

    def extra_repr(self) -> str:
        return (
            f"kernel_size={self.kernel_size}, dilation={self.dilation}, "
            f"padding={self.padding}, stride={self.stride}"
        )


class Fold(Module):
    """`F.fold` as a layer: (N, C·kh·kw, L) -> (N, C, *output_size)."""

    def __init__(
        self,
        output_size: Any,
        kernel_size: Any,
        dilation: Any = 1,
        padding: Any = 0,
        stride: Any = 1,
    ):
        super().__init__()
        self.output_size = output_size
        self.kernel_size = kernel_size
        self.dilation = dilation
        self.padding = padding
        self.stride = stride

    def forward(self, input: Tensor) -> Tensor:
        return fold(
            input, self.output_size, self.kernel_size, self.dilation, self.padding, self.stride
        )

    def extra_repr(self) -> str:
        return (
            f"output_size={self.output_size}, kernel_size={self.kernel_size}, "
            f"dilation={self.dilation}, padding={self.padding}, stride={self.stride}"
        )


__all__ = ["Fold", "Unfold", "fold", "unfold"]
