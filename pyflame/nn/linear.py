"""`nn.Linear`, `nn.Bilinear` and `nn.Identity`.

    fc = nn.Linear(784, 256)                                  # weight [256, 784], bias [256]
    fc = nn.Linear(4096, 4096, layout=pf.MeshLayout.grid(8, 8))

Initial values as PyTorch: weight U(-1/sqrt(in), 1/sqrt(in)) (kaiming_uniform with a=sqrt(5)),
bias the same bound, drawn on the host (`pf.nn.init`). `layout=` puts the weight in that layout;
a `grid` layout is also the hint of the output, so the matmul runs on that grid (SUMMA).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from pyflame.core.dtypes import as_dtype, float32
from pyflame.core.errors import ShapeError
from pyflame.layout import MeshLayout
from pyflame.lazy_tensor import Tensor, format_location, user_location
from pyflame.nn import functional as F
from pyflame.nn import init
from pyflame.nn.module import Module
from pyflame.nn.parameter import Parameter
from pyflame.ops import _check_layout


def empty_parameter(
    shape: tuple[int, ...], dtype: Any = None, layout: MeshLayout | None = None
) -> Parameter:
    """A parameter of `shape` (zeros until an `init` function fills it)."""
    if any(n < 0 for n in shape):  # as PyTorch, at the line that made the layer
        raise ShapeError(
            f"{format_location(user_location())}: Trying to create tensor with negative "
            f"dimension {min(shape)}: {list(shape)}"
        )
    np_dtype = (float32 if dtype is None else as_dtype(dtype)).numpy
    return Parameter(np.zeros(shape, np_dtype), layout=layout)


def hint_output(y: Tensor, layout: MeshLayout | None) -> Tensor:
    """Give a layer's lazy result a layout hint (the compiler places it there)."""
    if layout is not None and y.op is not None and y.layout is None and y.ndim >= 2:
        y.layout = layout
    return y


class Identity(Module):
    """Returns its input (any extra constructor arguments are ignored, as in PyTorch)."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__()

    def forward(self, input: Any) -> Any:
        return input


class Linear(Module):
    """y = x @ weight.T + bias, for x of shape [..., in_features]."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        *,
        dtype: Any = None,
        layout: MeshLayout | None = None,
    ):
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.layout = _check_layout(layout)
        self.weight = empty_parameter((out_features, in_features), dtype, self.layout)
        if bias:
            self.bias = empty_parameter((out_features,), dtype)
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init.calculate_fan_in_and_fan_out(self.weight)
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input: Tensor) -> Tensor:
        y = F.linear(input, self.weight, self.bias)
        grid = self.layout if self.layout is not None and self.layout.kind == "grid" else None
        return hint_output(y, grid)

    def extra_repr(self) -> str:
        text = (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias is not None}"
        )
        return text if self.layout is None else f"{text}, layout={self.layout!r}"


class Bilinear(Module):
    """Bilinear(in1_features, in2_features, out_features, bias=True): `F.bilinear`, y_o =
    x1^T A_o x2 + b_o; weight [out, in1, in2] and bias [out], both U(±1/sqrt(in1)) as
    PyTorch's."""

    def __init__(
        self,
        in1_features: int,
        in2_features: int,
        out_features: int,
        bias: bool = True,
        device: Any = None,
        dtype: Any = None,
    ):
        super().__init__()
        del device
        self.in1_features = in1_features
        self.in2_features = in2_features
        self.out_features = out_features
        self.weight = empty_parameter((out_features, in1_features, in2_features), dtype)
        if bias:
            self.bias = empty_parameter((out_features,), dtype)
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1 / math.sqrt(self.weight.shape[1])
        init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input1: Tensor, input2: Tensor) -> Tensor:
        return F.bilinear(input1, input2, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (
            f"in1_features={self.in1_features}, in2_features={self.in2_features}, "
            f"out_features={self.out_features}, bias={self.bias is not None}"
        )


__all__ = ["Bilinear", "Identity", "Linear"]
