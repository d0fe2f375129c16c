"""Activation layers: `ReLU`, `GELU`, `SiLU`, `LeakyReLU`, `Sigmoid`, `Tanh`, `Softmax`,
`LogSoftmax`, each a module around the function of the same name (`gelu` and `leaky_relu`
are defined here, `pf.nn.functional` exports them)."""

from __future__ import annotations

import math

from pyflame import inplace as inplace_
from pyflame import ops
from pyflame.core.dtypes import bfloat16, float16
from pyflame.nn.module import Module
from pyflame.tensor import Tensor


class ReLU(Module):
    """max(x, 0); `inplace=True` changes the input (`relu_`), as PyTorch's."""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return input.relu_() if self.inplace else ops.relu(input)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    """x * Phi(x) (`approximate='none'`: `flame.gelu`, exact) or PyTorch's tanh
    approximation ('tanh': 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))), elementwise
    ops), `torch.nn.functional.gelu`."""
    if approximate not in ("none", "tanh"):
        raise ValueError(f"approximate argument must be either none or tanh, got {approximate!r}")
    if approximate == "none":
        return ops.gelu(input)
    if input.dtype in (float16, bfloat16):  # in float32, rounded once, as PyTorch
        return gelu(input.float(), "tanh").to(input.dtype)
    inner = (input + input * input * input * 0.044715) * math.sqrt(2 / math.pi)
    return input * 0.5 * (ops.tanh(inner) + 1.0)


class GELU(Module):
    """x * Phi(x) (`approximate='none'`, exact) or its tanh approximation ('tanh')."""

    def __init__(self, approximate: str = "none"):
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(
                f"approximate argument must be either none or tanh, got {approximate!r}"
            )
        self.approximate = approximate

    def forward(self, input: Tensor) -> Tensor:
        return gelu(input, self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class SiLU(Module):
    """x * sigmoid(x); `inplace=True` writes it into the input, as PyTorch's."""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return inplace_.apply_(input, ops.silu, "Silu") if self.inplace else ops.silu(input)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """x where x > 0, else negative_slope * x (`torch.nn.functional.leaky_relu`); the gradient
    at 0 is negative_slope, as PyTorch's. `inplace=True` writes it into `input`."""
    if inplace:
        return inplace_.apply_(input, lambda x: _leaky(x, negative_slope), "LeakyRelu")
    return _leaky(input, negative_slope)


def _leaky(input: Tensor, negative_slope: float) -> Tensor:
    return ops.where(input > 0, input, input * negative_slope)


class LeakyReLU(Module):
    """x where x > 0, else negative_slope * x (`leaky_relu`); `inplace=True` writes it into the
    input."""

    def __init__(self, negative_slope: float = 1e-2, inplace: bool = False):
        super().__init__()
        self.negative_slope = negative_slope
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return leaky_relu(input, self.negative_slope, self.inplace)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}" + (", inplace=True" if self.inplace else "")


class Sigmoid(Module):
    def forward(self, input: Tensor) -> Tensor:
        return ops.sigmoid(input)


class Tanh(Module):
    def forward(self, input: Tensor) -> Tensor:
        return ops.tanh(input)


class Softmax(Module):
    """softmax along `dim`."""

    def __init__(self, dim: int | None = None):
        super().__init__()
        self.dim = dim

    def forward(self, input: Tensor) -> Tensor:
        return ops.softmax(input, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Module):
    """log_softmax along `dim`."""

    def __init__(self, dim: int | None = None):
        super().__init__()
        self.dim = dim

    def forward(self, input: Tensor) -> Tensor:
        return ops.log_softmax(input, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


__all__ = ["GELU", "LeakyReLU", "LogSoftmax", "ReLU", "SiLU", "Sigmoid", "Softmax", "Tanh"]
