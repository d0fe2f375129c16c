"""Padding layers: `ZeroPad1d`, `ZeroPad2d`, `ConstantPad1d`, `ConstantPad2d`, each
`pf.pad` of the last one or two dims with a constant (PyTorch's (left, right[, top, bottom])
order; an int pads every side by it).

    nn.ZeroPad2d((1, 2, 0, 3))(x)   # x [N, C, H, W] -> [N, C, H + 3, W + 3]
"""

from __future__ import annotations

from collections.abc import Sequence

from pyflame import ops
from pyflame.lazy_tensor import Tensor
from pyflame.nn.module import Module


class _ConstantPadNd(Module):
    _sides = 2

    def __init__(self, padding: int | Sequence[int], value: float):
        super().__init__()
        if isinstance(padding, int):
            self.padding: tuple[int, ...] = (padding,) * self._sides
        else:
            self.padding = tuple(int(p) for p in padding)
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


__all__ = ["ConstantPad1d", "ConstantPad2d", "ZeroPad1d", "ZeroPad2d"]
