"""`F.pixel_shuffle` / `F.pixel_unshuffle` and their layers `nn.PixelShuffle` /
`nn.PixelUnshuffle`: channels moved into space and back, a reshape, a permute and a reshape
(data moves only, so exact for every dtype; the gradient is the reverse permutation);
`F.channel_shuffle` / `nn.ChannelShuffle`: the channels' groups interleaved, the same way
([N, g, C/g, *] -> [N, C/g, g, *]).

    pixel_shuffle, r = 2:  [N, C * 4, H, W] -> [N, C, 2, 2, H, W] -> [N, C, H, 2, W, 2]
                           -> [N, C, 2H, 2W]
"""

from __future__ import annotations

import operator

from pyflame import ops
from pyflame.lazy_tensor import Tensor, format_location, user_location
from pyflame.nn.module import Module
from pyflame.ops.node import _check_tensor


def _factor(input: Tensor, factor: int, what: str, name: str) -> int:
    """`factor` checked as PyTorch checks it (an int; the input at least 3-D; positive), at
    the user's line."""
    _check_tensor(input, what)
    if isinstance(factor, bool) or not isinstance(factor, int):
        try:
            factor = operator.index(factor)
        except TypeError:
            raise TypeError(
                f"{what}(): argument '{name}' (position 2) must be int, not {type(factor).__name__}"
            ) from None
    where = format_location(user_location())
    if input.ndim < 3:
        raise RuntimeError(
            f"{where}: {what} expects input to have at least 3 dimensions, but got input with "
            f"{input.ndim} dimension(s)"
        )
    if factor <= 0:
        raise RuntimeError(f"{where}: {what} expects a positive {name}, but got {factor}")
    return factor


def pixel_shuffle(input: Tensor, upscale_factor: int) -> Tensor:
    """[*, C * r * r, H, W] -> [*, C, H * r, W * r] (torch.nn.functional.pixel_shuffle):
    output [c, h * r + i, w * r + j] is input [c * r * r + i * r + j, h, w]."""
    r = _factor(input, upscale_factor, "pixel_shuffle", "upscale_factor")
    *batch, channels, h, w = input.shape
    if channels % (r * r):
        raise RuntimeError(
            f"{format_location(user_location())}: pixel_shuffle expects its input's 'channel' "
            "dimension to be divisible by the square of upscale_factor, but "
            f"input.size(-3)={channels} is not divisible by {r * r}"
        )
    b = len(batch)
    y = input.reshape(*batch, channels // (r * r), r, r, h, w)
    y = ops.permute(y, *range(b + 1), b + 3, b + 1, b + 4, b + 2)
    return y.reshape(*batch, channels // (r * r), h * r, w * r)


def pixel_unshuffle(input: Tensor, downscale_factor: int) -> Tensor:
    """[*, C, H * r, W * r] -> [*, C * r * r, H, W], the inverse of `pixel_shuffle`
    (torch.nn.functional.pixel_unshuffle)."""
    r = _factor(input, downscale_factor, "pixel_unshuffle", "downscale_factor")
    *batch, channels, h, w = input.shape
    for side, n, dim in (("height", h, -2), ("width", w, -1)):
        if n % r:
            raise RuntimeError(
                f"{format_location(user_location())}: pixel_unshuffle expects {side} to be "
                f"divisible by downscale_factor, but input.size({dim})={n} is not divisible "
                f"by {r}"
            )
    b = len(batch)
    y = input.reshape(*batch, channels, h // r, r, w // r, r)
    y = ops.permute(y, *range(b + 1), b + 2, b + 4, b + 1, b + 3)
    return y.reshape(*batch, channels * r * r, h // r, w // r)


class PixelShuffle(Module):
    """`F.pixel_shuffle` as a layer: [*, C * r * r, H, W] -> [*, C, H * r, W * r]."""

    def __init__(self, upscale_factor: int) -> None:
        super().__init__()
        self.upscale_factor = upscale_factor

    def forward(self, input: Tensor) -> Tensor:
        return pixel_shuffle(input, self.upscale_factor)

    def extra_repr(self) -> str:
        return f"upscale_factor={self.upscale_factor}"


class PixelUnshuffle(Module):
    """`F.pixel_unshuffle` as a layer: [*, C, H * r, W * r] -> [*, C * r * r, H, W]."""

    def __init__(self, downscale_factor: int) -> None:
        super().__init__()
        self.downscale_factor = downscale_factor

    def forward(self, input: Tensor) -> Tensor:
        return pixel_unshuffle(input, self.downscale_factor)

    def extra_repr(self) -> str:
        return f"downscale_factor={self.downscale_factor}"


def channel_shuffle(input: Tensor, groups: int) -> Tensor:
    """[N, C, *] with C = g * k -> [N, g, k, *] -> [N, k, g, *] -> [N, C, *]
    (torch.nn.functional.channel_shuffle); PyTorch's errors at the user's line."""
    _check_tensor(input, "channel_shuffle")
    where = format_location(user_location())
    if input.ndim < 3:
        raise RuntimeError(
            f"{where}: channel_shuffle expects input to have at least 3 dimensions, but got "
            f"input with sizes {list(input.shape)}"
        )
    if isinstance(groups, bool) or not isinstance(groups, int) or groups <= 0:
        raise RuntimeError(
            f"{where}: Number of groups to divide channels in must be positive. Value of "
            f"groups:{groups}"
        )
    channels = input.shape[1]
    if channels % groups:
        raise RuntimeError(
            f"{where}: Number of channels must be divisible by groups. Got {channels} channels "
            f"and {groups} groups."
        )
    rest = tuple(input.shape[2:])
    split = input.reshape(input.shape[0], groups, channels // groups, *rest)
    return ops.transpose(split, 1, 2).reshape(input.shape)


class ChannelShuffle(Module):
    """`channel_shuffle(input, groups)`."""

    def __init__(self, groups: int):
        super().__init__()
        self.groups = groups

    def forward(self, input: Tensor) -> Tensor:
        return channel_shuffle(input, self.groups)

    def extra_repr(self) -> str:
        return f"groups={self.groups}"


__all__ = [
    "ChannelShuffle",
    "PixelShuffle",
    "PixelUnshuffle",
    "channel_shuffle",
    "pixel_shuffle",
    "pixel_unshuffle",
]
