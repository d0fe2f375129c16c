"""`pf.nn.init`: initial values for parameters, as `torch.nn.init`, drawn on the host.

    pf.nn.init.kaiming_uniform_(layer.weight, a=math.sqrt(5))   # what nn.Linear does
    pf.nn.init.zeros_(layer.bias)

Each function replaces the data of a leaf tensor in place (the same object keeps its identity,
so modules and optimizers holding it see the new values) and returns it; a view (`w.data`,
`w[0]`) or a lazy tensor goes through pyflame/inplace.py, so its aliases change too. Values come from numpy
with PyFlame's generator (`pyflame.random.generator()`), so `pf.manual_seed(n)` makes a model's
initial weights reproducible, and no random op enters the training graph. The distributions
and their parameters are PyTorch's; the values themselves differ from PyTorch's generator.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from pyflame.inplace import overwrite
from pyflame.lazy_tensor import Tensor
from pyflame.random import generator


def _fill(tensor: Tensor, values: Any) -> Tensor:
    if not isinstance(tensor, Tensor):
        raise TypeError(f"pf.nn.init expects a pf.Tensor, got {type(tensor).__name__}")
    array = np.broadcast_to(np.asarray(values), tensor.shape).astype(tensor.dtype.numpy)
    if tensor.op is not None or tensor._view_of is not None or tensor._has_views():
        # a view (`init.normal_(w.data)`, `w[0]`), a tensor with views, or a lazy one: the
        # in-place machinery gives every alias the new values and earlier users the old ones
        return overwrite(tensor, array)
    tensor._set_data(np.ascontiguousarray(array))
    return tensor


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The recommended gain for `nonlinearity` (torch.nn.init.calculate_gain)."""
    linear = (
        "linear",
        "conv1d",
        "conv2d",
        "conv3d",
        "conv_transpose1d",
        "conv_transpose2d",
        "conv_transpose3d",
        "sigmoid",
    )
    if nonlinearity in linear:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else float(param)
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"Unsupported nonlinearity {nonlinearity}")


def calculate_fan_in_and_fan_out(tensor: Tensor) -> tuple[int, int]:
    """fan_in = dim 1 x receptive field, fan_out = dim 0 x receptive field (2-D or more)."""
    if tensor.ndim < 2:
        raise ValueError(
            "Fan in and fan out can not be computed for tensor with fewer than 2 dimensions"
        )
    receptive = math.prod(tensor.shape[2:])
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


def _fan(tensor: Tensor, mode: str) -> int:
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"Mode {mode} not supported, please use one of fan_in, fan_out")
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0) -> Tensor:
    return _fill(tensor, generator().uniform(a, b, tensor.shape))


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0) -> Tensor:
    return _fill(tensor, generator().normal(mean, std, tensor.shape))


def constant_(tensor: Tensor, val: float) -> Tensor:
    return _fill(tensor, val)


def ones_(tensor: Tensor) -> Tensor:
    return _fill(tensor, 1)


def zeros_(tensor: Tensor) -> Tensor:
    return _fill(tensor, 0)


def kaiming_uniform_(
    tensor: Tensor, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu"
) -> Tensor:
    """U(-bound, bound), bound = gain * sqrt(3 / fan): with a = sqrt(5) (Linear, Conv2d),
    bound = 1 / sqrt(fan_in)."""
    fan = _fan(tensor, mode)
    bound = math.sqrt(3.0) * calculate_gain(nonlinearity, a) / math.sqrt(fan) if fan else 0.0
    return uniform_(tensor, -bound, bound)


def kaiming_normal_(
    tensor: Tensor, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu"
) -> Tensor:
    fan = _fan(tensor, mode)
    std = calculate_gain(nonlinearity, a) / math.sqrt(fan) if fan else 0.0
    return normal_(tensor, 0.0, std)


def xavier_uniform_(tensor: Tensor, gain: float = 1.0) -> Tensor:
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    bound = gain * math.sqrt(6.0 / float(fan_in + fan_out))
    return uniform_(tensor, -bound, bound)


def xavier_normal_(tensor: Tensor, gain: float = 1.0) -> Tensor:
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / float(fan_in + fan_out)))


__all__ = [
    "calculate_fan_in_and_fan_out",
    "calculate_gain",
    "constant_",
    "kaiming_normal_",
    "kaiming_uniform_",
    "normal_",
    "ones_",
    "uniform_",
    "xavier_normal_",
    "xavier_uniform_",
    "zeros_",
]
