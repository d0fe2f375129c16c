"""`F.conv1d`, `F.conv3d`, `F.conv_transpose1d` and `F.conv_transpose2d`: composites over
`flame.conv2d` (pf.nn.functional's).

conv1d is conv2d with a height of 1: the input (N, C, L) becomes (N, C, 1, L), the weight
(O, C/groups, k) becomes (O, C/groups, 1, k), and the result (N, O, 1, Lo) goes back to
(N, O, Lo); the gradients come from conv2d's rules through the reshapes.

    x [N, C, L] --reshape--> [N, C, 1, L] --flame.conv2d--> [N, O, 1, Lo] --reshape--> [N, O, Lo]

conv_transpose2d is the input gradient of a conv2d (the adjoint of the forward convolution):
the same graph autograd builds for conv2d's input gradient (`pyflame.gradients.conv_input_grad`:
one conv2d of the stride-spread, padded input with the flipped, channel-transposed kernel),
so its own gradients come from the ops it is made of. conv_transpose1d is conv_transpose2d
of height 1, as conv1d is conv2d's.

conv3d is one conv2d over the depth taps stacked as channels: for each kernel depth tap i the
input depths it meets at the Do output depths (a strided slice of the depth-padded input),
moved into the batch, with channel c * kd + i, against the weight (O, C/groups * kd, kh, kw):

    x [N, C, D, H, W] -> [N * Do, C * kd, H, W] --flame.conv2d--> [N * Do, O, Ho, Wo]
                      -> [N, O, Do, Ho, Wo]
"""

from __future__ import annotations

import builtins
import operator
from collections.abc import Sequence
from typing import Any

from pyflame.gradients import conv_input_grad
from pyflame.layout import MeshLayout
from pyflame.lazy_tensor import Tensor
from pyflame.ops.conv import _pair, conv2d
from pyflame.ops.node import _check_tensor, _shape_error
from pyflame.ops.shape import pad, stack


def _single(value: Any, what: str) -> int:
    """An int or a sequence of one int (PyTorch's `_single`)."""
    items = tuple(value) if isinstance(value, Sequence) and not isinstance(value, str) else (value,)
    if len(items) != 1 or isinstance(items[0], builtins.bool):
        raise TypeError(f"{what} must be an int or a tuple of one int, got {value!r}")
    try:
        return operator.index(items[0])
    except TypeError:
        raise TypeError(f"{what} must be an int or a tuple of one int, got {value!r}") from None


def conv1d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: int | tuple[int] = 1,
    padding: int | tuple[int] | str = 0,
    dilation: int | tuple[int] = 1,
    groups: int = 1,
) -> Tensor:
    """1-D convolution (cross-correlation) of an (N, C, L) `input` (or (C, L)) with an
    (O, C/groups, k) `weight`, plus `bias` per output channel (torch.nn.functional.conv1d);
    `padding` is an int, 'valid' or 'same' (stride 1; an odd total puts the extra element on
    the right, as PyTorch)."""
    return conv1d_hinted(input, weight, bias, stride, padding, dilation, groups)


def conv1d_hinted(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: int | tuple[int] = 1,
    padding: int | tuple[int] | str = 0,
    dilation: int | tuple[int] = 1,
    groups: int = 1,
    *,
    hint: MeshLayout | None = None,
) -> Tensor:
    """`conv1d` with `hint`, the layout of the (N, O, 1, Lo) convolution (nn.Conv1d's
    `layout=`)."""
    _check_tensor(input, "conv1d")
    _check_tensor(weight, "conv1d")
    if input.ndim not in (2, 3):
        raise _shape_error(
            "Expected 2D (unbatched) or 3D (batched) input to conv1d, but got input of size: "
            f"{list(input.shape)}"
        )
    if weight.ndim != 3:
        raise _shape_error(
            f"conv1d expects a 3-D (O, C/groups, k) weight, got shape {list(weight.shape)}"
        )
    s, d = _single(stride, "conv1d stride"), _single(dilation, "conv1d dilation")
    pad: tuple[int, int] | str = (
        padding if isinstance(padding, str) else (0, _single(padding, "conv1d padding"))
    )
    channels = input.shape[-2]
    if isinstance(groups, int) and groups > 0 and channels != weight.shape[1] * groups:
        raise _shape_error(
            f"Given groups={groups}, weight of size {list(weight.shape)}, expected "
            f"input{list(input.shape)} to have {weight.shape[1] * groups} channels, but got "
            f"{channels} channels instead"
        )
    padded = input.shape[-1] + (2 * pad[1] if isinstance(pad, tuple) else 0)
    reach = d * (weight.shape[2] - 1) + 1
    if pad != "same" and padded < reach:
        raise _shape_error(
            f"Calculated padded input size per channel: ({padded}). Kernel size: ({reach}). "
            "Kernel size can't be greater than actual input size"
        )
    x = input.reshape(*input.shape[:-1], 1, input.shape[-1])
    w = weight.reshape(*weight.shape[:2], 1, weight.shape[2])
    y = conv2d(x, w, bias, (1, s), pad, (1, d), groups)
    if hint is not None and y.ndim == 4 and y.op is not None and y.layout is None:
        y.layout = hint  # where the (N, O, 1, Lo) convolution runs (nn.Conv1d's layout=)
    return y.reshape(*y.shape[:-2], y.shape[-1])


def conv_transpose2d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
    output_padding: int | Sequence[int] = 0,
    groups: int = 1,
    dilation: int | tuple[int, int] = 1,
) -> Tensor:
    """Transposed 2-D convolution (torch.nn.functional.conv_transpose2d) of an NCHW `input` (or
    CHW) with a (C, O/groups, kh, kw) `weight`: the gradient of a conv2d with that weight
    taken as (C, O/groups) with respect to its (N, O, Ho, Wo) input, where
    Ho = (H - 1) * stride - 2 * padding + dilation * (kh - 1) + output_padding + 1 (Wo alike);
    `output_padding` (smaller than the stride or the dilation) adds rows and columns at the
    bottom and right."""
    _check_tensor(input, "conv_transpose2d")
    _check_tensor(weight, "conv_transpose2d")
    if input.ndim not in (3, 4):
        raise _shape_error(
            "Expected 3D (unbatched) or 4D (batched) input to conv_transpose2d, but got input of "
            f"size: {list(input.shape)}"
        )
    if weight.ndim != 4:
        raise _shape_error(
            "conv_transpose2d expects a 4-D (C, O/groups, kh, kw) weight, got shape "
            f"{list(weight.shape)}"
        )
    if isinstance(padding, str):
        raise TypeError("conv_transpose2d(): argument 'padding' must be tuple of ints, not str")
    s, d = _pair(stride, "conv_transpose2d stride"), _pair(dilation, "conv_transpose2d dilation")
    p = _pair(padding, "conv_transpose2d padding")
    op = _pair(output_padding, "conv_transpose2d output_padding")
    if isinstance(groups, builtins.bool) or not isinstance(groups, int) or groups < 1:
        raise ValueError(f"conv_transpose2d groups must be a positive int, got {groups!r}")
    if min(s) < 1 or min(d) < 1 or min(p) < 0 or min(op) < 0:
        raise ValueError(
            f"conv_transpose2d: stride {list(s)} and dilation {list(d)} must be positive, padding "
            f"{list(p)} and output_padding {list(op)} not negative"
        )
    if any(op[a] >= s[a] and op[a] >= d[a] for a in (0, 1)):
        raise _shape_error(
            "output padding must be smaller than either stride or dilation, but got "
            f"output_padding_height: {op[0]} output_padding_width: {op[1]} stride_height: "
            f"{s[0]} stride_width: {s[1]} dilation_height: {d[0]} dilation_width: {d[1]}"
        )
    x = input.reshape(1, *input.shape) if input.ndim == 3 else input
    if weight.shape[0] % groups:
        raise _shape_error(
            f"Given groups={groups}, expected weight to be divisible by {groups} at dimension 0, "
            f"but got weight of size [{list(weight.shape)}] instead"
        )
    if x.shape[1] != weight.shape[0]:
        raise _shape_error(
            f"Given transposed=1, weight of size {list(weight.shape)}, expected "
            f"input{list(input.shape)} to have {weight.shape[0]} channels, but got "
            f"{x.shape[1]} channels instead"
        )
    out_channels = weight.shape[1] * groups
    if bias is not None and tuple(bias.shape) != (out_channels,):
        raise _shape_error(
            f"Given transposed=1, weight of size {list(weight.shape)}, expected bias to be "
            f"1-dimensional with {out_channels} elements, but got bias of size "
            f"{list(bias.shape)} instead"
        )
    size = [
        (x.shape[2 + a] - 1) * s[a] - 2 * p[a] + d[a] * (weight.shape[2 + a] - 1) + op[a] + 1
        for a in (0, 1)
    ]
    if min(size) < 1:
        raise _shape_error(
            f"Given input size per channel: ({x.shape[2]} x {x.shape[3]}). Calculated output "
            f"size per channel: ({size[0]} x {size[1]}). Output size is too small"
        )
    if not input.dtype.is_floating_point:
        raise TypeError(f"conv_transpose2d needs a floating-point input, got {input.dtype!r}")
    for what, t in (("weight", weight), ("bias", bias)):
        if t is not None and t.dtype is not input.dtype:
            raise _shape_error(
                f"conv_transpose2d: input dtype {input.dtype!r} and {what} dtype {t.dtype!r} differ"
            )
    # the conv2d whose input gradient this is: padding p on top/left, p - output_padding on
    # the bottom/right (its last rows/columns are the output_padding ones)
    attrs = {
        "stride": s,
        "dilation": d,
        "groups": groups,
        "padding": (p[0], p[0] - op[0], p[1], p[1] - op[1]),
    }
    y = conv_input_grad(x, weight, (x.shape[0], out_channels, *size), attrs, weight.shape[2:])
    if bias is not None:
        y = y + bias.reshape(1, out_channels, 1, 1)
    return y.reshape(*y.shape[1:]) if input.ndim == 3 else y


def conv_transpose1d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: int | Sequence[int] = 1,
    padding: int | Sequence[int] = 0,
    output_padding: int | Sequence[int] = 0,
    groups: int = 1,
    dilation: int | Sequence[int] = 1,
) -> Tensor:
    """Transposed 1-D convolution (torch.nn.functional.conv_transpose1d) of an (N, C, L)
    `input` (or (C, L)) with a (C, O/groups, k) `weight`: `conv_transpose2d` of height 1;
    Lo = (L - 1) * stride - 2 * padding + dilation * (k - 1) + output_padding + 1."""
    _check_tensor(input, "conv_transpose1d")
    _check_tensor(weight, "conv_transpose1d")
    if input.ndim not in (2, 3):
        raise _shape_error(
            "Expected 2D (unbatched) or 3D (batched) input to conv_transpose1d, but got input "
            f"of size: {list(input.shape)}"
        )
    if weight.ndim != 3:
        raise _shape_error(
            "conv_transpose1d expects a 3-D (C, O/groups, k) weight, got shape "
            f"{list(weight.shape)}"
        )
    if isinstance(padding, str):
        raise TypeError("conv_transpose1d(): argument 'padding' must be tuple of ints, not str")
    s = _single(stride, "conv_transpose1d stride")
    p = _single(padding, "conv_transpose1d padding")
    op = _single(output_padding, "conv_transpose1d output_padding")
    d = _single(dilation, "conv_transpose1d dilation")
    if op >= s and op >= d:
        raise _shape_error(
            "output padding must be smaller than either stride or dilation, but got "
            f"output_padding: {op} stride: {s} dilation: {d}"
        )
    x = input.reshape(*input.shape[:-1], 1, input.shape[-1])
    w = weight.reshape(*weight.shape[:2], 1, weight.shape[2])
    y = conv_transpose2d(x, w, bias, (1, s), (0, p), (0, op), groups, (1, d))
    return y.reshape(*y.shape[:-2], y.shape[-1])


def _triple(value: Any, what: str) -> tuple[int, int, int]:
    """An int or a sequence of three ints (PyTorch's `_triple`)."""
    items = (
        tuple(value) if isinstance(value, Sequence) and not isinstance(value, str) else (value,) * 3
    )
    if len(items) != 3 or any(isinstance(v, builtins.bool) for v in items):
        raise TypeError(f"{what} must be an int or a tuple of three ints, got {value!r}")
    try:
        a, b, c = (operator.index(v) for v in items)
    except TypeError:
        raise TypeError(f"{what} must be an int or a tuple of three ints, got {value!r}") from None
    return a, b, c


def conv3d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: int | Sequence[int] = 1,
    padding: int | Sequence[int] | str = 0,
    dilation: int | Sequence[int] = 1,
    groups: int = 1,
) -> Tensor:
    """3-D convolution (cross-correlation) of an (N, C, D, H, W) `input` (or (C, D, H, W)) with
    an (O, C/groups, kd, kh, kw) `weight`, plus `bias` per output channel
    (torch.nn.functional.conv3d): one conv2d of the depth taps stacked as channels (module
    docstring). `padding` an int, a triple, 'valid' or 'same' (stride 1; an odd total puts the
    extra element after, as PyTorch)."""
    _check_tensor(input, "conv3d")
    _check_tensor(weight, "conv3d")
    if input.ndim not in (4, 5):
        raise _shape_error(
            "Expected 4D (unbatched) or 5D (batched) input to conv3d, but got input of size: "
            f"{list(input.shape)}"
        )
    if weight.ndim != 5:
        raise _shape_error(
            f"conv3d expects a 5-D (O, C/groups, kd, kh, kw) weight, got shape {list(weight.shape)}"
        )
    s, d = _triple(stride, "conv3d stride"), _triple(dilation, "conv3d dilation")
    kernel = tuple(weight.shape[2:])
    if isinstance(padding, str):
        if padding not in ("same", "valid"):
            raise ValueError(
                f"Invalid padding string {padding!r}, should be one of {{'valid', 'same'}}"
            )
        if padding == "same" and s != (1, 1, 1):
            raise ValueError("padding='same' is not supported for strided convolutions")
        totals = [d[a] * (kernel[a] - 1) if padding == "same" else 0 for a in range(3)]
        pads = [(t // 2, t - t // 2) for t in totals]
    else:
        p = _triple(padding, "conv3d padding")
        pads = [(v, v) for v in p]
    if isinstance(groups, builtins.bool) or not isinstance(groups, int) or groups < 1:
        raise ValueError(f"conv3d groups must be a positive int, got {groups!r}")
    if min(s) < 1 or min(d) < 1 or min(min(pair) for pair in pads) < 0:
        raise ValueError(
            f"conv3d: stride {list(s)} and dilation {list(d)} must be positive, padding not "
            "negative"
        )
    x = input.reshape(1, *input.shape) if input.ndim == 4 else input
    channels = x.shape[1]
    if channels != weight.shape[1] * groups:
        raise _shape_error(
            f"Given groups={groups}, weight of size {list(weight.shape)}, expected "
            f"input{list(input.shape)} to have {weight.shape[1] * groups} channels, but got "
            f"{channels} channels instead"
        )
    out_channels = weight.shape[0]
    if out_channels % groups:
        raise _shape_error(
            f"Given groups={groups}, expected weight to be divisible by {groups} at dimension 0, "
            f"but got weight of size {list(weight.shape)} instead"
        )
    if bias is not None and tuple(bias.shape) != (out_channels,):
        raise _shape_error(
            f"Given weight of size {list(weight.shape)}, expected bias to be 1-dimensional with "
            f"{out_channels} elements, but got bias of size {list(bias.shape)} instead"
        )
    padded = [x.shape[2 + a] + sum(pads[a]) for a in range(3)]
    reach = [d[a] * (kernel[a] - 1) + 1 for a in range(3)]
    if any(padded[a] < reach[a] for a in range(3)):
        raise _shape_error(
            f"Calculated padded input size per channel: ({' x '.join(map(str, padded))}). "
            f"Kernel size: ({' x '.join(map(str, reach))}). Kernel size can't be greater than "
            "actual input size"
        )
    n, kd = x.shape[0], kernel[0]
    depth_out = (padded[0] - reach[0]) // s[0] + 1
    if pads[0] != (0, 0):
        x = pad(x, (0, 0, 0, 0, *pads[0]))
    # the depths tap i meets, for every output depth: [N, C, kd, Do, H, W]
    taps = stack(
        [x.narrow(2, i * d[0], (depth_out - 1) * s[0] + 1)[:, :, :: s[0]] for i in range(kd)],
        dim=2,
    )
    h, w = x.shape[3], x.shape[4]
    planes = taps.permute(0, 3, 1, 2, 4, 5).reshape(n * depth_out, channels * kd, h, w)
    kernel2d = weight.reshape(out_channels, weight.shape[1] * kd, kernel[1], kernel[2])
    hw_pads = (pads[1][0], pads[1][1], pads[2][0], pads[2][1])
    symmetric = hw_pads[0] == hw_pads[1] and hw_pads[2] == hw_pads[3]
    if not symmetric:  # 'same' with an even reach: the extra row/column after, as PyTorch
        planes = pad(planes, (hw_pads[2], hw_pads[3], hw_pads[0], hw_pads[1]))
    y = conv2d(
        planes,
        kernel2d,
        None,
        s[1:],
        (hw_pads[0], hw_pads[2]) if symmetric else (0, 0),
        d[1:],
        groups,
    )
    y = y.reshape(n, depth_out, out_channels, y.shape[2], y.shape[3]).permute(0, 2, 1, 3, 4)
    if bias is not None:
        y = y + bias.reshape(1, out_channels, 1, 1, 1)
    return y.reshape(*y.shape[1:]) if input.ndim == 4 else y


def conv_transpose3d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: int | Sequence[int] = 1,
    padding: int | Sequence[int] = 0,
    output_padding: int | Sequence[int] = 0,
    groups: int = 1,
    dilation: int | Sequence[int] = 1,
) -> Tensor:
    """Transposed 3-D convolution (torch.nn.functional.conv_transpose3d) of an
    (N, C, D, H, W) `input` (or (C, D, H, W)) with a (C, O/groups, kd, kh, kw) `weight`: for
    each kernel depth tap, a conv_transpose2d of every input plane, spread along the depth by
    the stride and shifted by the tap's dilated offset; the taps summed, the depth padding
    cropped. Do = (D - 1) * stride - 2 * padding + dilation * (kd - 1) + output_padding + 1
    (H, W alike)."""
    _check_tensor(input, "conv_transpose3d")
    _check_tensor(weight, "conv_transpose3d")
    if input.ndim not in (4, 5):
        raise _shape_error(
            "Expected 4D (unbatched) or 5D (batched) input to conv_transpose3d, but got input "
            f"of size: {list(input.shape)}"
        )
    if weight.ndim != 5:
        raise _shape_error(
            "conv_transpose3d expects a 5-D (C, O/groups, kd, kh, kw) weight, got shape "
            f"{list(weight.shape)}"
        )
    if isinstance(padding, str):
        raise TypeError("conv_transpose3d(): argument 'padding' must be tuple of ints, not str")
    s, p = _triple(stride, "conv_transpose3d stride"), _triple(padding, "conv_transpose3d padding")
    op = _triple(output_padding, "conv_transpose3d output_padding")
    d = _triple(dilation, "conv_transpose3d dilation")
    if any(op[a] >= s[a] and op[a] >= d[a] for a in range(3)):
        raise _shape_error(
            "output padding must be smaller than either stride or dilation, but got "
            f"output_padding: {list(op)} stride: {list(s)} dilation: {list(d)}"
        )
    x = input.reshape(1, *input.shape) if input.ndim == 4 else input
    n, channels, depth, h, w = x.shape
    if channels != weight.shape[0]:
        raise _shape_error(
            f"Given transposed=1, weight of size {list(weight.shape)}, expected "
            f"input{list(input.shape)} to have {weight.shape[0]} channels, but got "
            f"{channels} channels instead"
        )
    out_channels = weight.shape[1] * groups
    kd = weight.shape[2]
    planes = x.permute(0, 2, 1, 3, 4).reshape(n * depth, channels, h, w)
    full = (depth - 1) * s[0] + d[0] * (kd - 1) + 1
    total: Tensor | None = None
    for i in range(kd):
        y = conv_transpose2d(
            planes, weight[:, :, i], None, s[1:], p[1:], op[1:], groups, d[1:]
        )  # [N * D, O, Ho, Wo]
        ho, wo = y.shape[2], y.shape[3]
        y = y.reshape(n, depth, out_channels, ho, wo).permute(0, 2, 1, 3, 4)
        if s[0] > 1:  # the planes s apart along the depth
            gap = y.detach() * 0.0
            y = stack([y] + [gap] * (s[0] - 1), dim=3).reshape(
                n, out_channels, depth * s[0], ho, wo
            )
            y = y.narrow(2, 0, (depth - 1) * s[0] + 1)
        offset = i * d[0]
        y = pad(y, (0, 0, 0, 0, offset, full - offset - y.shape[2]))
        total = y if total is None else total + y
    assert total is not None
    out_depth = full - 2 * p[0] + op[0]
    if p[0] + out_depth > full:  # output_padding past the last tap: zeros
        total = pad(total, (0, 0, 0, 0, 0, p[0] + out_depth - full))
    out = total.narrow(2, p[0], out_depth)
    if bias is not None:
        out = out + bias.reshape(1, out_channels, 1, 1, 1)
    return out.reshape(*out.shape[1:]) if input.ndim == 4 else out


__all__ = ["conv1d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d"]
