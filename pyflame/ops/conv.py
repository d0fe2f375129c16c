"""Convolution and pooling: `conv2d`, `max_pool2d`, `avg_pool2d` (pf.nn.functional's), each one
flame op on an NCHW input (a CHW input is a batch of one).

    y = F.conv2d(x, w, b, stride=1, padding="same")      # flame.conv2d
    z = F.max_pool2d(y, kernel_size=2)                    # flame.max_pool2d
    a = F.avg_pool2d(y, 3, stride=2, padding=1)           # flame.avg_pool2d
"""

from __future__ import annotations

import builtins
import operator
from collections.abc import Sequence
from typing import Any

from pyflame.core import shapes
from pyflame.core.dtypes import int32
from pyflame.dialects import flame
from pyflame.lazy_tensor import Tensor
from pyflame.ops.creation import arange, full, ones
from pyflame.ops.elementwise import div, eq, ge, logical_and, ne, where
from pyflame.ops.node import _check_tensor, _node, _rule, _shape_error
from pyflame.ops.shape import pad, reshape

# --------------------------------------------------------------------------- helpers


def _pair(value: Any, what: str) -> tuple[int, int]:
    """An int or a pair of ints (PyTorch's `_pair`)."""
    items = (
        tuple(value)
        if isinstance(value, Sequence) and not isinstance(value, str)
        else (value, value)
    )
    if len(items) == 1:
        items = items * 2
    if len(items) != 2:
        raise ValueError(f"{what} must be an int or a pair of ints, got {value!r}")
    out = []
    for v in items:
        if isinstance(v, builtins.bool):
            raise TypeError(f"{what} must be an int or a pair of ints, got {value!r}")
        try:
            out.append(operator.index(v))
        except TypeError:
            raise TypeError(f"{what} must be an int or a pair of ints, got {value!r}") from None
    return out[0], out[1]


def _batched(x: Tensor, what: str) -> tuple[Tensor, bool]:
    """A 3-D (C, H, W) input as a batch of one; 4-D as is."""
    if x.ndim == 3:
        return reshape(x, 1, *x.shape), True
    if x.ndim != 4:
        raise _shape_error(
            f"{what} expects a 3-D (C, H, W) or 4-D (N, C, H, W) input, got shape {list(x.shape)}"
        )
    return x, False


def _unbatched(y: Tensor, squeeze: bool) -> Tensor:
    return reshape(y, *y.shape[1:]) if squeeze else y


def _float_input(x: Tensor, what: str) -> None:
    if not x.dtype.is_floating_point:
        raise TypeError(f"{what} needs a floating-point input, got {x.dtype!r}")


# --------------------------------------------------------------------------- convolution


def conv2d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] | str = 0,
    dilation: int | tuple[int, int] = 1,
    groups: int = 1,
) -> Tensor:
    """2-D convolution (cross-correlation) of an NCHW `input` (or CHW) with an OIhw `weight`,
    plus `bias` per output channel; `padding` is an int, a pair, 'valid' or 'same' (stride 1;
    an odd total padding puts the extra row/column at the bottom/right, as PyTorch)."""
    _check_tensor(input, "conv2d")
    _check_tensor(weight, "conv2d")
    if bias is not None:
        _check_tensor(bias, "conv2d")
    _float_input(input, "conv2d")
    s, d = _pair(stride, "conv2d stride"), _pair(dilation, "conv2d dilation")
    if isinstance(groups, builtins.bool) or not isinstance(groups, int):
        raise TypeError(f"conv2d groups must be an int, got {groups!r}")
    if weight.ndim != 4:
        raise _shape_error(
            f"conv2d expects a 4-D (O, C/groups, kh, kw) weight, got shape {list(weight.shape)}"
        )
    if isinstance(padding, str):
        if padding == "valid":
            pads = (0, 0, 0, 0)
        elif padding == "same":
            if s != (1, 1):
                raise ValueError("padding='same' is not supported for strided convolutions")
            total = [d[a] * (weight.shape[2 + a] - 1) for a in (0, 1)]
            pads = (
                total[0] // 2,
                total[0] - total[0] // 2,
                total[1] // 2,
                total[1] - total[1] // 2,
            )
        else:
            raise ValueError(
                f"Invalid padding string {padding!r}, should be one of 'valid' or 'same'"
            )
    else:
        p = _pair(padding, "conv2d padding")
        pads = (p[0], p[0], p[1], p[1])
    x, squeeze = _batched(input, "conv2d")
    for what, t in (("weight", weight), ("bias", bias)):
        if t is not None and t.dtype is not input.dtype:
            raise _shape_error(
                f"conv2d: input dtype {input.dtype!r} and {what} dtype {t.dtype!r} differ"
            )
    shape = _rule(
        shapes.conv2d,
        x.shape,
        weight.shape,
        None if bias is None else bias.shape,
        s,
        pads,
        d,
        groups,
    )
    inputs = (x, weight) if bias is None else (x, weight, bias)
    attrs = {"stride": s, "padding": pads, "dilation": d, "groups": groups}
    return _unbatched(_node(flame.Conv2dOp, inputs, shape, x.dtype, attrs), squeeze)


def padded_conv2d(
    x: Tensor, weight: Tensor, pads: Sequence[int], dilation: Sequence[int], groups: int
) -> Tensor:
    """conv2d of a 4-D `x` with stride 1 and any (top, bottom, left, right) zero padding, one
    flame.conv2d (autograd's input gradient: PyTorch's `padding` cannot be asymmetric)."""
    s, pads, d = (1, 1), tuple(pads), tuple(dilation)
    shape = _rule(shapes.conv2d, x.shape, weight.shape, None, s, pads, d, groups)
    attrs = {"stride": s, "padding": pads, "dilation": d, "groups": groups}
    return _node(flame.Conv2dOp, (x, weight), shape, x.dtype, attrs)


def conv2d_weight_grad(
    input: Tensor,
    grad: Tensor,
    kernel: Sequence[int],
    stride: Sequence[int],
    padding: Sequence[int],
    dilation: Sequence[int],
    groups: int,
) -> Tensor:
    """The weight gradient (O, C/groups, kh, kw) of a conv2d of NCHW `input` whose output
    gradient is `grad` (N, O, Ho, Wo); `padding` is (top, bottom, left, right). One flame op
    (flame.conv2d_weight_grad): autograd's rule for conv2d's weight."""
    attrs = {
        "kernel": tuple(kernel),
        "stride": tuple(stride),
        "padding": tuple(padding),
        "dilation": tuple(dilation),
        "groups": groups,
    }
    shape = _rule(
        shapes.conv2d_weight_grad,
        input.shape,
        grad.shape,
        attrs["kernel"],
        attrs["stride"],
        attrs["padding"],
        attrs["dilation"],
        groups,
    )
    return _node(flame.Conv2dWeightGradOp, (input, grad), shape, input.dtype, attrs)


# --------------------------------------------------------------------------- pooling


def _pool_args(
    what: str,
    x: Tensor,
    kernel_size: Any,
    stride: Any,
    padding: Any,
    dilation: Any,
    ceil_mode: bool,
) -> tuple[Tensor, bool, tuple[int, int], tuple[int, int], tuple[int, ...], tuple[int, int]]:
    _check_tensor(x, what)
    _float_input(x, what)
    k = _pair(kernel_size, f"{what} kernel_size")
    s = (
        k
        if stride is None or (isinstance(stride, Sequence) and len(stride) == 0)
        else _pair(stride, f"{what} stride")
    )
    p, d = _pair(padding, f"{what} padding"), _pair(dilation, f"{what} dilation")
    xb, squeeze = _batched(x, what)
    pads = (p[0], p[0], p[1], p[1])
    _rule(shapes.pool_padding, k, pads, d, what)
    if ceil_mode:  # PyTorch: round up, but the last window must start inside the input or the
        extra = []  # leading padding; the extra rows/cols are padding. An input smaller than
        outs = []  # the kernel is fine while one window fits that rule
        for a in (0, 1):
            n, eff = xb.shape[2 + a] + 2 * p[a], d[a] * (k[a] - 1) + 1
            out = -(-(n - eff) // s[a]) + 1
            if out > 0 and (out - 1) * s[a] >= xb.shape[2 + a] + p[a]:
                out -= 1
            outs.append(out)
            extra.append(max(0, (out - 1) * s[a] + eff - n))
        if min(outs) < 1:
            raise _shape_error(
                f"{what}: input {list(xb.shape)} with padding {list(p)} is too small for kernel "
                f"{list(k)} (stride {list(s)}, dilation {list(d)}): the output would be "
                f"{outs[0]}x{outs[1]}; use a smaller kernel or more padding"
            )
        pads = (p[0], p[0] + extra[0], p[1], p[1] + extra[1])
    _rule(shapes.pool2d, xb.shape, k, s, pads, d, what)
    return xb, squeeze, k, s, pads, d


def max_pool2d(
    input: Tensor,
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int] | None = None,
    padding: int | tuple[int, int] = 0,
    dilation: int | tuple[int, int] = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> Any:
    """Max over each `kernel_size` window (stride defaults to the kernel size); padding, at
    most half the kernel, counts as -inf. With `return_indices`, also where each max is: its
    flat index h * W + w in the input's plane (int32; PyTorch: int64), the first max of the
    window in row-major order (its last NaN when the max is NaN), as PyTorch."""
    x, squeeze, k, s, pads, d = _pool_args(
        "max_pool2d", input, kernel_size, stride, padding, dilation, ceil_mode
    )
    shape = _rule(shapes.pool2d, x.shape, k, s, pads, d, "max_pool2d")
    attrs = {"kernel": k, "stride": s, "padding": pads, "dilation": d}
    values = _node(flame.MaxPool2dOp, (x,), shape, x.dtype, attrs)
    if not return_indices:
        return _unbatched(values, squeeze)
    indices = _max_indices(x, values, k, s, pads, d)
    return _unbatched(values, squeeze), _unbatched(indices, squeeze)


def _max_indices(
    x: Tensor,
    values: Tensor,
    k: tuple[int, int],
    s: tuple[int, int],
    pads: tuple[int, ...],
    d: tuple[int, int],
) -> Tensor:
    """The flat input index of each window's max, PyTorch's pick (`val > max or isnan(val)`):
    per kernel tap, a strided slice of the (-inf padded) input and of a map of flat indices
    (-1 on padding); the taps visited last to first, each taking the place where its value
    equals the max (the first max), and, for a window whose max is NaN, first to last, each
    taking the place of a NaN (the last NaN)."""
    top, bottom, left, right = pads
    height, width = x.shape[2], x.shape[3]
    flat = reshape(arange(height * width, dtype=int32), 1, 1, height, width)
    if any(pads):
        x = pad(x, [left, right, top, bottom], value=float("-inf"))
        flat = pad(flat, [left, right, top, bottom], value=-1)
    oh, ow = values.shape[2], values.shape[3]
    found = full(values.shape, -1, dtype=int32)
    last_nan = full(values.shape, -1, dtype=int32)
    taps = [(a, b) for a in range(k[0]) for b in range(k[1])]
    for a, b in reversed(taps):
        h0, w0 = a * d[0], b * d[1]
        rows = slice(h0, h0 + (oh - 1) * s[0] + 1, s[0])
        cols = slice(w0, w0 + (ow - 1) * s[1] + 1, s[1])
        tap, where_from = x[:, :, rows, cols], flat[:, :, rows, cols]
        inside = ge(where_from, 0)
        found = where(logical_and(eq(tap, values), inside), where_from, found)
        # visited last to first, a NaN's place is kept only while no later NaN holds one
        nan_here = logical_and(logical_and(ne(tap, tap), inside), eq(last_nan, -1))
        last_nan = where(nan_here, where_from, last_nan)
    return where(ne(values, values), last_nan, found)


def avg_pool2d(
    input: Tensor,
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int] | None = None,
    padding: int | tuple[int, int] = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> Tensor:
    """Mean over each `kernel_size` window (stride defaults to the kernel size); zero padding
    counts in the divisor unless `count_include_pad=False`; `divisor_override` replaces the
    divisor."""
    x, squeeze, k, s, pads, d = _pool_args(
        "avg_pool2d", input, kernel_size, stride, padding, 1, ceil_mode
    )
    p = _pair(padding, "avg_pool2d padding")
    if divisor_override is not None:
        if isinstance(divisor_override, builtins.bool) or operator.index(divisor_override) == 0:
            raise ValueError(f"divisor must be not zero, got {divisor_override!r}")
        divisor_override = operator.index(divisor_override)
    shape = _rule(shapes.pool2d, x.shape, k, s, pads, d, "avg_pool2d")
    attrs = {
        "kernel": k,
        "stride": s,
        "padding": pads,
        "dilation": d,
        "count_include_pad": builtins.bool(count_include_pad),
        "divisor": divisor_override,
    }
    extra = (pads[1] - p[0], pads[3] - p[1])  # ceil_mode's rows/cols past the padded input
    if count_include_pad and divisor_override is None and any(extra):
        # PyTorch divides a window by its taps inside the padded input (the ceil_mode rows and
        # columns past it do not count): the window sums over the count of such taps
        sums = _node(flame.AvgPool2dOp, (x,), shape, x.dtype, {**attrs, "divisor": 1})
        inside = ones(1, 1, x.shape[2] + 2 * p[0], x.shape[3] + 2 * p[1], dtype=x.dtype)
        count = _node(
            flame.AvgPool2dOp,
            (inside,),
            (1, 1, *shape[2:]),
            x.dtype,
            {**attrs, "padding": (0, extra[0], 0, extra[1]), "divisor": 1},
        )
        return _unbatched(div(sums, count), squeeze)
    return _unbatched(_node(flame.AvgPool2dOp, (x,), shape, x.dtype, attrs), squeeze)
