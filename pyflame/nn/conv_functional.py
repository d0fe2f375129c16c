"""`F.conv1d` and `F.conv_transpose2d`: composites over `flame.conv2d` (pf.nn.functional's).

conv1d is conv2d with a height of 1: the input (N, C, L) becomes (N, C, 1, L), the weight
(O, C/groups, k) becomes (O, C/groups, 1, k), and the result (N, O, 1, Lo) goes back to
(N, O, Lo); the gradients come from conv2d's rules through the reshapes.

    x [N, C, L] --reshape--> [N, C, 1, L] --flame.conv2d--> [N, O, 1, Lo] --reshape--> [N, O, Lo]

conv_transpose2d is the input gradient of a conv2d (the adjoint of the forward convolution):
the same graph autograd builds for conv2d's input gradient (`pyflame.gradients.conv_input_grad`:
one conv2d of the stride-spread, padded input with the flipped, channel-transposed kernel),
so its own gradients come from the ops it is made of.
"""

from __future__ import annotations

import builtins
import operator
from collections.abc import Sequence
from typing import Any

from pyflame.layout import MeshLayout
from pyflame.ops.conv import conv2d
from pyflame.ops.node import _check_tensor, _shape_error
from pyflame.tensor import Tensor


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


__all__ = ["conv1d"]
