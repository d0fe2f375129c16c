"""`nn.BatchNorm1d`, `nn.BatchNorm2d` and `nn.LayerNorm`.

    bn = nn.BatchNorm2d(16)        # weight 1, bias 0; buffers running_mean 0, running_var 1,
                                   # num_batches_tracked 0 (int32; PyTorch: int64)
    y = bn(x)                      # training: batch statistics; the running statistics and
    pf.eval(y)                     # num_batches_tracked are updated by this pf.eval
    bn.eval(); z = bn(x)           # eval: the running statistics

BatchNorm's running statistics are state across steps. In training mode a forward records
their new values as pending updates (`pyflame.runtime.add_pending_update`, through
`pf.nn.functional.batch_norm`): the next `pf.eval` computes them in the same compiled program
as everything else and then replaces the buffers' data, where PyTorch updates them in place
during the forward. Until then the buffers hold the old values. Two training forwards through
one BatchNorm before a `pf.eval` both start from the same old values (the later update wins),
where PyTorch would apply both.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from pyflame.dtypes import float32, int32
from pyflame.errors import ShapeError
from pyflame.nn import functional as F
from pyflame.nn import init
from pyflame.nn.linear import empty_parameter
from pyflame.nn.module import Module
from pyflame.runtime import add_pending_update
from pyflame.tensor import Tensor, format_location, user_location


def _buffer(values: np.ndarray) -> Tensor:
    return Tensor(values.shape, int32 if values.dtype == np.int32 else float32, data=values)


class _BatchNorm(Module):
    _input_dims: tuple[int, ...] = ()

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True, *, dtype: Any = None):
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        if affine:
            self.weight = init.ones_(empty_parameter((num_features,), dtype))
            self.bias = init.zeros_(empty_parameter((num_features,), dtype))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", _buffer(np.zeros(num_features, np.float32)))
            self.register_buffer("running_var", _buffer(np.ones(num_features, np.float32)))
            self.register_buffer("num_batches_tracked", _buffer(np.zeros((), np.int32)))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        if dtype is not None:  # running statistics in the parameters' dtype, as PyTorch
            self.to(dtype)

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            init.zeros_(self.running_mean)
            init.ones_(self.running_var)
            init.zeros_(self.num_batches_tracked)

    def reset_parameters(self) -> None:
        self.reset_running_stats()
        if self.affine:
            init.ones_(self.weight)
            init.zeros_(self.bias)

    def _check_input_dim(self, input: Tensor) -> None:
        if input.ndim not in self._input_dims:
            want = " or ".join(f"{d}D" for d in self._input_dims)
            raise ShapeError(f"{format_location(user_location())}: {self._get_name()} expected "
                             f"{want} input (got {input.ndim}D input of shape "
                             f"{list(input.shape)})")

    def forward(self, input: Tensor) -> Tensor:
        self._check_input_dim(input)
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats and self.num_batches_tracked is not None:
            count = self.num_batches_tracked
            add_pending_update(count, count + 1)
            if self.momentum is None:  # cumulative moving average
                factor = 1.0 / (int(count.numpy()) + 1)
        bn_training = self.training or (self.running_mean is None and self.running_var is None)
        tracked = not self.training or self.track_running_stats
        return F.batch_norm(
            input,
            self.running_mean if tracked else None,
            self.running_var if tracked else None,
            self.weight,
            self.bias,
            bn_training,
            factor,
            self.eps,
        )

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of (N, C) or (N, C, L) inputs over N (and L)."""

    _input_dims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of (N, C, H, W) inputs per channel, over N, H and W."""

    _input_dims = (4,)


class LayerNorm(Module):
    """Normalisation over the last dims (`normalized_shape`), then * weight + bias."""

    def __init__(self, normalized_shape: int | Sequence[int], eps: float = 1e-5,
                 elementwise_affine: bool = True, bias: bool = True, *, dtype: Any = None):
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(
            normalized_shape)
        self.normalized_shape = tuple(int(n) for n in shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        if elementwise_affine:
            self.weight = init.ones_(empty_parameter(self.normalized_shape, dtype))
            if bias:
                self.bias = init.zeros_(empty_parameter(self.normalized_shape, dtype))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def reset_parameters(self) -> None:
        if self.elementwise_affine:
            init.ones_(self.weight)
            if self.bias is not None:
                init.zeros_(self.bias)

    def forward(self, input: Tensor) -> Tensor:
        return F.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}")


__all__ = ["BatchNorm1d", "BatchNorm2d", "LayerNorm"]
