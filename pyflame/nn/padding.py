"""Padding layers: `ZeroPad1d/2d/3d`, `ConstantPad1d/2d/3d` (a constant), `ReflectionPad1d/2d/3d`
(mirrored without the edge), `ReplicationPad1d/2d/3d` (the edge repeated), `CircularPad1d/2d/3d`
(wrapped around), each `pf.pad` of the last one, two or three dims in its mode (PyTorch's
(left, right[, top, bottom[, front, back]]) order; an int pads every side by it).

    nn.ZeroPad2d((1, 2, 0, 3))(x)   # x [N, C, H, W] -> [N, C, H + 3, W + 3]
    nn.ReflectionPad1d(2)(x)         # x [N, C, L] -> [N, C, L + 4]
"""

from __future__ import annotations

from collections.abc import Sequence

from pyflame import ops
from pyflame.lazy_tensor import Tensor, format_location, user_location
from pyflame.nn.module import Module


def _sides(padding: int | Sequence[int], count: int) -> tuple[int, ...]:
    if isinstance(padding, int):
        return (padding,) * count
    return tuple(int(p) for p in padding)


class _ConstantPadNd(Module):
    _sides = 2

    def __init__(self, padding: int | Sequence[int], value: float):
        super().__init__()
        self.padding = _sides(padding, self._sides)
        self.value = value

    def forward(self, input: Tensor) -> Tensor:
        return ops.pad(input, self.padding, value=self.value)

    def extra_repr(self) -> str:
        return f"padding={self.padding}, value={self.value}"


class ConstantPad1d(_ConstantPadNd):
    """Pads the last dim by (left, right) with `value`."""


class ConstantPad2d(_ConstantPadNd):
    """Pads the last two dims by (left, right, top, bottom) with `value`."""

    _sides = 4


class ZeroPad1d(ConstantPad1d):
    def __init__(self, padding: int | Sequence[int]):
        super().__init__(padding, 0.0)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class ZeroPad2d(ConstantPad2d):
    def __init__(self, padding: int | Sequence[int]):
        super().__init__(padding, 0.0)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class ConstantPad3d(_ConstantPadNd):
    """Pads the last three dims by (left, right, top, bottom, front, back) with `value`."""

    _sides = 6


class ZeroPad3d(ConstantPad3d):
    def __init__(self, padding: int | Sequence[int]):
        super().__init__(padding, 0.0)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class _ModePadNd(Module):
    """`pf.pad(input, padding, mode)` of the last `_sides // 2` dims."""

    _sides = 2
    _mode = "reflect"

    def __init__(self, padding: int | Sequence[int]):
        super().__init__()
        self.padding = _sides(padding, self._sides)

    def forward(self, input: Tensor) -> Tensor:
        return ops.pad(input, self.padding, mode=self._mode)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class ReflectionPad1d(_ModePadNd):
    """Pads the last dim by its mirror image (without the edge element)."""


class ReflectionPad2d(_ModePadNd):
    _sides = 4


class ReflectionPad3d(_ModePadNd):
    _sides = 6


class ReplicationPad1d(_ModePadNd):
    """Pads the last dim by repeating its edge elements."""

    _mode = "replicate"


class ReplicationPad2d(ReplicationPad1d):
    _sides = 4


class ReplicationPad3d(ReplicationPad1d):
    _sides = 6


class _CircularPadNd(_ModePadNd):
    """Wraps around; PyTorch's layers check the input's rank themselves (ValueError)."""

    _mode = "circular"

    def forward(self, input: Tensor) -> Tensor:
        rank = self._sides // 2 + 1
        if input.ndim not in (rank, rank + 1):
            raise ValueError(
                f"{format_location(user_location())}: expected {rank}D or {rank + 1}D input "
                f"(got {input.ndim}D input)"
            )
        return super().forward(input)


class CircularPad1d(_CircularPadNd):
    """Pads the last dim by wrapping around (the other end's elements)."""


class CircularPad2d(_CircularPadNd):
    _sides = 4


class CircularPad3d(_CircularPadNd):
    _sides = 6


__all__ = [
    "CircularPad1d",
    "CircularPad2d",
    "CircularPad3d",
    "ConstantPad3d",
    "ReflectionPad1d",
    "ReflectionPad2d",
    "ReflectionPad3d",
    "ReplicationPad1d",
    "ReplicationPad2d",
    "ReplicationPad3d",
    "ZeroPad3d",
    "ConstantPad1d",
    "ConstantPad2d",
    "ZeroPad1d",
    "ZeroPad2d",
]
