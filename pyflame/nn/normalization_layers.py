"""`nn.BatchNorm1d/2d/3d`, `nn.InstanceNorm1d/2d/3d`, `nn.GroupNorm`, `nn.LayerNorm`,
`nn.RMSNorm`, `nn.LocalResponseNorm` and PyTorch's legacy `nn.CrossMapLRN2d`.

    bn = nn.BatchNorm2d(16)        # weight 1, bias 0; buffers running_mean 0, running_var 1,
                                   # num_batches_tracked 0 (int32; PyTorch: int64)
    y = bn(x)                      # training: batch statistics; the running statistics and
    pf.eval(y)                     # num_batches_tracked are updated by this pf.eval (or
                                   # by reading them first, as PyTorch shows them)
    bn.eval(); z = bn(x)           # eval: the running statistics

BatchNorm's running statistics are state across steps. In training mode a forward records
their new values as pending updates (`pyflame.runtime.add_pending_update`, through
`pf.nn.functional.batch_norm`): the next `pf.eval` computes them in the same compiled program
as everything else and then replaces the buffers' data, where PyTorch updates them in place
during the forward. Reading a buffer before that (`bn.running_mean.numpy()`) evaluates the
pending updates first, so it shows PyTorch's values. A second training forward through
the same BatchNorm before `pf.eval` builds its update on the pending one, so both apply in
order, as in PyTorch.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from pyflame import runtime
from pyflame.core.dtypes import float32, int32
from pyflame.core.errors import ShapeError
from pyflame.lazy_tensor import Tensor, format_location, user_location, user_stacklevel
from pyflame.nn import functional as F
from pyflame.nn import init
from pyflame.nn.linear import empty_parameter
from pyflame.nn.module import Module
from pyflame.nn.normalization import cross_map_lrn2d
from pyflame.runtime import add_pending_update


def _buffer(values: np.ndarray) -> Tensor:
    return Tensor(values.shape, int32 if values.dtype == np.int32 else float32, data=values)


class _BatchNorm(Module):
    _input_dims: tuple[int, ...] = ()

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        *,
        bias: bool = True,
        dtype: Any = None,
    ):
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        if affine:
            self.weight = init.ones_(empty_parameter((num_features,), dtype))
            if bias:
                self.bias = init.zeros_(empty_parameter((num_features,), dtype))
            else:
                self.register_parameter("bias", None)
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
            if self.bias is not None:
                init.zeros_(self.bias)

    def _check_input_dim(self, input: Tensor) -> None:
        if input.ndim not in self._input_dims:
            want = " or ".join(f"{d}D" for d in self._input_dims)
            raise ShapeError(
                f"{format_location(user_location())}: {self._get_name()} expected "
                f"{want} input (got {input.ndim}D input of shape "
                f"{list(input.shape)})"
            )

    def forward(self, input: Tensor) -> Tensor:
        self._check_input_dim(input)
        factor = 0.0 if self.momentum is None else self.momentum
        count = self.num_batches_tracked
        if self.training and self.track_running_stats and count is not None:
            pending = {id(t): new for t, new in runtime.pending_updates()}
            if any(id(t) in pending for t in (count, self.running_mean, self.running_var)):
                return self._forward_again(input, pending)
            if self.momentum is None:  # cumulative moving average (the count before this batch)
                factor = 1.0 / (int(count.numpy()) + 1)
            add_pending_update(count, count + 1)
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

    def _forward_again(self, input: Tensor, pending: dict[int, Tensor]) -> Tensor:
        """A second training forward before `pf.eval`: the running statistics' updates build
        on the pending ones (PyTorch applies both, in order)."""
        count, mean, var = (
            pending.get(id(t), t)
            for t in (self.num_batches_tracked, self.running_mean, self.running_var)
        )
        add_pending_update(self.num_batches_tracked, count + 1)
        x = input.astype(float32)
        dims = (0, *range(2, x.ndim))
        n = math.prod(x.shape[d] for d in dims)
        batch_mean = x.mean(dim=dims)
        centered = x - batch_mean.reshape(1, -1, *(1,) * (x.ndim - 2))
        batch_var = (centered * centered).sum(dim=dims) / max(n - 1, 1)
        factor: Any = self.momentum
        if factor is None:
            factor = 1.0 / (count + 1).astype(float32)
        add_pending_update(
            self.running_mean,
            (mean * (1 - factor) + batch_mean.astype(mean.dtype) * factor).astype(mean.dtype),
        )
        add_pending_update(
            self.running_var,
            (var * (1 - factor) + batch_var.astype(var.dtype) * factor).astype(var.dtype),
        )
        return F.batch_norm(input, None, None, self.weight, self.bias, True, 0.0, self.eps)

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
            f"affine={self.affine}, bias={self.bias is not None}, "
            f"track_running_stats={self.track_running_stats}"
        )


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of (N, C) or (N, C, L) inputs over N (and L)."""

    _input_dims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of (N, C, H, W) inputs per channel, over N, H and W."""

    _input_dims = (4,)


class BatchNorm3d(_BatchNorm):
    """Batch normalisation of (N, C, D, H, W) inputs per channel, over N, D, H and W."""

    _input_dims = (5,)


class _InstanceNorm(_BatchNorm):
    """Instance normalisation (`F.instance_norm`): each sample's channels over their spatial
    dims. PyTorch's defaults: no affine parameters, no running statistics; with
    `track_running_stats` they are updated in training (num_batches_tracked is kept but not
    counted, as PyTorch's) and normalise in eval."""

    _spatial = 1

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = False,
        track_running_stats: bool = False,
        *,
        dtype: Any = None,
    ):
        super().__init__(num_features, eps, momentum, affine, track_running_stats, dtype=dtype)

    def _check_input_dim(self, input: Tensor) -> None:
        dims = (self._spatial + 1, self._spatial + 2)
        if input.ndim not in dims:
            raise ValueError(
                f"{format_location(user_location())}: expected {dims[0]}D or {dims[1]}D input "
                f"(got {input.ndim}D input)"
            )

    def forward(self, input: Tensor) -> Tensor:
        self._check_input_dim(input)
        feature_dim = input.ndim - self._spatial - 1
        if input.shape[feature_dim] != self.num_features:
            if self.affine:
                raise ValueError(
                    f"{format_location(user_location())}: expected input's size at "
                    f"dim={feature_dim} to match num_features ({self.num_features}), but got: "
                    f"{input.shape[feature_dim]}."
                )
            warnings.warn(
                f"input's size at dim={feature_dim} does not match num_features. You can "
                "silence this warning by not passing in num_features, which is not used "
                "because affine=False",
                UserWarning,
                stacklevel=user_stacklevel(),
            )
        unbatched = input.ndim == self._spatial + 1
        x = input.unsqueeze(0) if unbatched else input
        out = F.instance_norm(
            x,
            self.running_mean,
            self.running_var,
            self.weight,
            self.bias,
            self.training or not self.track_running_stats,
            self.momentum if self.momentum is not None else 0.0,
            self.eps,
        )
        return out.squeeze(0) if unbatched else out


class InstanceNorm1d(_InstanceNorm):
    """Instance normalisation of (N, C, L) or (C, L) inputs over L."""


class InstanceNorm2d(_InstanceNorm):
    """Instance normalisation of (N, C, H, W) or (C, H, W) inputs over H and W."""

    _spatial = 2


class InstanceNorm3d(_InstanceNorm):
    """Instance normalisation of (N, C, D, H, W) or (C, D, H, W) inputs over D, H and W."""

    _spatial = 3


class LocalResponseNorm(Module):
    """x / (k + alpha * mean of x^2 over `size` neighbouring channels) ** beta
    (`F.local_response_norm`)."""

    def __init__(self, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0):
        super().__init__()
        self.size = size
        self.alpha = alpha
        self.beta = beta
        self.k = k

    def forward(self, input: Tensor) -> Tensor:
        return F.local_response_norm(input, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self) -> str:
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"


class CrossMapLRN2d(Module):
    """PyTorch's legacy cross-channel LRN of (N, C, H, W) input, its forward and backward
    as written (`pyflame.nn.normalization.cross_map_lrn2d`)."""

    def __init__(self, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1):
        super().__init__()
        self.size = size
        self.alpha = alpha
        self.beta = beta
        self.k = k

    def forward(self, input: Tensor) -> Tensor:
        return cross_map_lrn2d(input, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self) -> str:
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"


def _shape_tuple(normalized_shape: int | Sequence[int]) -> tuple[int, ...]:
    """`normalized_shape` as torch takes it: one int or a sequence of them."""
    if isinstance(normalized_shape, int):
        return (normalized_shape,)
    return tuple(int(n) for n in normalized_shape)


def _affine_parameters(
    module: Module, shape: tuple[int, ...], affine: bool, bias: bool, dtype: Any
) -> None:
    """`weight` (ones) and `bias` (zeros) of `shape`, or None parameters (LayerNorm's
    elementwise_affine / bias, GroupNorm's affine / bias)."""
    weight = empty_parameter(shape, dtype) if affine else None
    bias_ = empty_parameter(shape, dtype) if affine and bias else None
    module.register_parameter("weight", weight)
    module.register_parameter("bias", bias_)
    _reset_affine(module)


def _reset_affine(module: Module) -> None:
    if module.weight is not None:
        init.ones_(module.weight)
    if module.bias is not None:
        init.zeros_(module.bias)


class LayerNorm(Module):
    """Normalisation over the last dims (`normalized_shape`), then * weight + bias."""

    def __init__(
        self,
        normalized_shape: int | Sequence[int],
        eps: float = 1e-5,
        elementwise_affine: bool = True,
        bias: bool = True,
        *,
        dtype: Any = None,
    ):
        super().__init__()
        self.normalized_shape = _shape_tuple(normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        _affine_parameters(self, self.normalized_shape, elementwise_affine, bias, dtype)

    def reset_parameters(self) -> None:
        _reset_affine(self)

    def forward(self, input: Tensor) -> Tensor:
        return F.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (
            f"{self.normalized_shape}, eps={self.eps}, "
            f"elementwise_affine={self.elementwise_affine}, bias={self.bias is not None}"
        )


class RMSNorm(Module):
    """Root-mean-square normalisation over the last dims (`normalized_shape`), then * weight
    (torch.nn.RMSNorm; `eps=None`: the machine epsilon of the dtype the norm is computed in,
    float32 for every dtype PyFlame has)."""

    def __init__(
        self,
        normalized_shape: int | Sequence[int],
        eps: float | None = None,
        elementwise_affine: bool = True,
        *,
        dtype: Any = None,
    ):
        super().__init__()
        self.normalized_shape = _shape_tuple(normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        if elementwise_affine:
            self.weight = init.ones_(empty_parameter(self.normalized_shape, dtype))
        else:
            self.register_parameter("weight", None)

    def reset_parameters(self) -> None:
        if self.elementwise_affine:
            init.ones_(self.weight)

    def forward(self, input: Tensor) -> Tensor:
        return F.rms_norm(input, self.normalized_shape, self.weight, self.eps)

    def extra_repr(self) -> str:
        return (
            f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"
        )


class GroupNorm(Module):
    """Per-sample normalisation over groups of channels and the spatial dims
    (`F.group_norm`), then * weight + bias per channel; no running statistics, so training
    and eval mode compute the same."""

    def __init__(
        self,
        num_groups: int,
        num_channels: int,
        eps: float = 1e-5,
        affine: bool = True,
        *,
        bias: bool = True,
        dtype: Any = None,
    ):
        super().__init__()
        if num_channels % num_groups != 0:
            raise ValueError(
                f"num_channels ({num_channels}) must be divisible by num_groups ({num_groups})"
            )
        self.num_groups = num_groups
        self.num_channels = num_channels
        self.eps = eps
        self.affine = affine
        _affine_parameters(self, (num_channels,), affine, bias, dtype)

    def reset_parameters(self) -> None:
        _reset_affine(self)

    def forward(self, input: Tensor) -> Tensor:
        return F.group_norm(input, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (
            f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, "
            f"bias={self.bias is not None}"
        )


__all__ = [
    "BatchNorm1d",
    "BatchNorm2d",
    "BatchNorm3d",
    "CrossMapLRN2d",
    "GroupNorm",
    "InstanceNorm1d",
    "InstanceNorm2d",
    "InstanceNorm3d",
    "LayerNorm",
    "LocalResponseNorm",
    "RMSNorm",
]
