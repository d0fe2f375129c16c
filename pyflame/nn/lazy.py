"""Lazy layers: `LazyLinear`, `LazyConv1d/2d/3d`, `LazyConvTranspose1d/2d/3d`,
`LazyBatchNorm1d/2d/3d`, `LazyInstanceNorm1d/2d/3d`: the layer without its input size,
which the first call (or a loaded state dict) infers; then the module becomes the full layer
(its class changes to `Linear`, `Conv2d`, ..., as PyTorch's `cls_to_become`), with PyTorch's
initialisation drawn at that moment.

    fc = nn.LazyLinear(10)        # no parameters yet
    y = fc(x)                      # x [N, 32]: fc is now Linear(32, 10)

Before the first call the module has no parameters (PyTorch shows uninitialised ones), so an
optimizer must be built after it; `load_state_dict` materialises it from the weight's shape.
"""

from __future__ import annotations

from typing import Any

from pyflame.lazy_tensor import Tensor
from pyflame.nn.conv import (
    Conv1d,
    Conv2d,
    Conv3d,
    ConvTranspose1d,
    ConvTranspose2d,
    ConvTranspose3d,
)
from pyflame.nn.linear import Linear
from pyflame.nn.module import Module
from pyflame.nn.normalization_layers import (
    BatchNorm1d,
    BatchNorm2d,
    BatchNorm3d,
    InstanceNorm1d,
    InstanceNorm2d,
    InstanceNorm3d,
)


class _LazyModule(Module):
    """Holds the layer's other arguments until its input size is known."""

    cls_to_become: type[Module]

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__()
        self._lazy_args = args
        self._lazy_kwargs = kwargs

    def has_uninitialized_params(self) -> bool:
        return True

    def _input_size(self, input: Tensor) -> int:
        raise NotImplementedError

    def _size_from_state(self, state_dict: Any, prefix: str) -> int | None:
        raise NotImplementedError

    def initialize_parameters(self, input: Tensor) -> None:
        self._materialize(self._input_size(input))

    def _materialize(self, size: int) -> None:
        """Build the full layer for this input size and become it."""
        real = self.cls_to_become(*self._build_args(size), **self._lazy_kwargs)
        training = self.training
        self.__dict__.clear()
        self.__dict__.update(real.__dict__)
        self.__class__ = real.__class__  # type: ignore[assignment]  # (PyTorch's cls_to_become)
        self.train(training)

    def _build_args(self, size: int) -> tuple[Any, ...]:
        return (size, *self._lazy_args)

    def forward(self, *inputs: Any, **kwargs: Any) -> Any:
        self.initialize_parameters(inputs[0])
        return self(*inputs, **kwargs)

    def load_state_dict(self, state_dict: Any, strict: bool = True) -> Any:
        size = self._size_from_state(state_dict, "")
        if size is not None:
            self._materialize(size)
            return self.load_state_dict(state_dict, strict)
        return super().load_state_dict(state_dict, strict)


class LazyLinear(_LazyModule):
    """`Linear` whose in_features is the first input's last dim: LazyLinear(out_features,
    bias=True)."""

    cls_to_become = Linear

    def __init__(self, out_features: int, bias: bool = True, *, dtype: Any = None):
        super().__init__(out_features, bias, dtype=dtype)
        self.out_features = out_features

    def _input_size(self, input: Tensor) -> int:
        return int(input.shape[-1])

    def extra_repr(self) -> str:
        bias = self._lazy_args[1]
        return f"in_features=0, out_features={self.out_features}, bias={bias}"

    def _size_from_state(self, state_dict: Any, prefix: str) -> int | None:
        weight = state_dict.get(prefix + "weight") if hasattr(state_dict, "get") else None
        return None if weight is None else int(weight.shape[1])


class _LazyConv(_LazyModule):
    """A convolution whose in_channels is the first input's channel dim (dim 1, or dim 0 of
    an unbatched input): LazyConvNd(out_channels, kernel_size, ...) with the layer's other
    arguments."""

    _spatial = 2

    def __init__(self, out_channels: int, kernel_size: Any, *args: Any, **kwargs: Any):
        super().__init__(out_channels, kernel_size, *args, **kwargs)
        self.out_channels = out_channels

    def _input_size(self, input: Tensor) -> int:
        return int(input.shape[0] if input.ndim == self._spatial + 1 else input.shape[1])

    def _size_from_state(self, state_dict: Any, prefix: str) -> int | None:
        weight = state_dict.get(prefix + "weight") if hasattr(state_dict, "get") else None
        if weight is None:
            return None
        if issubclass(self.cls_to_become, (ConvTranspose1d, ConvTranspose2d, ConvTranspose3d)):
            return int(weight.shape[0])
        groups = self._lazy_kwargs.get(
            "groups", self._lazy_args[4] if len(self._lazy_args) > 4 else 1
        )
        return int(weight.shape[1]) * int(groups)


class LazyConv1d(_LazyConv):
    cls_to_become = Conv1d
    _spatial = 1


class LazyConv2d(_LazyConv):
    cls_to_become = Conv2d


class LazyConv3d(_LazyConv):
    cls_to_become = Conv3d
    _spatial = 3


class LazyConvTranspose1d(_LazyConv):
    cls_to_become: type[Module] = ConvTranspose1d
    _spatial = 1

    def _size_from_state(self, state_dict: Any, prefix: str) -> int | None:
        weight = state_dict.get(prefix + "weight") if hasattr(state_dict, "get") else None
        return None if weight is None else int(weight.shape[0])


class LazyConvTranspose2d(LazyConvTranspose1d):
    cls_to_become = ConvTranspose2d
    _spatial = 2


class LazyConvTranspose3d(LazyConvTranspose1d):
    cls_to_become = ConvTranspose3d
    _spatial = 3


class _LazyNorm(_LazyModule):
    """A normalisation layer whose num_features is the first input's dim 1 (PyTorch's
    `_LazyNormBase`): LazyBatchNormNd(eps=1e-5, momentum=0.1, affine=True,
    track_running_stats=True) and the InstanceNorm forms, whose defaults are these too (not
    InstanceNorm's), as PyTorch's."""

    def __init__(
        self,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        *,
        dtype: Any = None,
    ):
        super().__init__(eps, momentum, affine, track_running_stats, dtype=dtype)

    def _input_size(self, input: Tensor) -> int:
        return int(input.shape[1])

    def _size_from_state(self, state_dict: Any, prefix: str) -> int | None:
        if not hasattr(state_dict, "get"):
            return None
        for key in ("weight", "running_mean"):
            value = state_dict.get(prefix + key)
            if value is not None:
                return int(value.shape[0])
        return None


class LazyBatchNorm1d(_LazyNorm):
    cls_to_become = BatchNorm1d


class LazyBatchNorm2d(_LazyNorm):
    cls_to_become = BatchNorm2d


class LazyBatchNorm3d(_LazyNorm):
    cls_to_become = BatchNorm3d


class LazyInstanceNorm1d(_LazyNorm):
    cls_to_become = InstanceNorm1d


class LazyInstanceNorm2d(_LazyNorm):
    cls_to_become = InstanceNorm2d


class LazyInstanceNorm3d(_LazyNorm):
    cls_to_become = InstanceNorm3d


__all__ = [
    "LazyBatchNorm1d",
    "LazyBatchNorm2d",
    "LazyBatchNorm3d",
    "LazyConv1d",
    "LazyConv2d",
    "LazyConv3d",
    "LazyConvTranspose1d",
    "LazyConvTranspose2d",
    "LazyConvTranspose3d",
    "LazyInstanceNorm1d",
    "LazyInstanceNorm2d",
    "LazyInstanceNorm3d",
    "LazyLinear",
]
