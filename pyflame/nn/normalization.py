"""Normalisation functions (`pf.nn.functional.layer_norm`, `rms_norm`, `batch_norm`,
`group_norm`, `instance_norm`, `local_response_norm`), decomposed into
flame primitives (reductions, elementwise ops, broadcasts) when the graph is built.

Half-precision inputs are normalised in float32 and rounded once, as PyTorch does on the CPU.
`batch_norm` in training mode with running statistics records their update as pending state
(`pyflame.runtime.add_pending_update`), which the next `pf.eval` applies in the same program:
PyTorch updates them in place at the same point.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from pyflame import ops
from pyflame.core.dtypes import float32
from pyflame.core.errors import ShapeError
from pyflame.gradients import LayerNorm
from pyflame.lazy_tensor import Tensor, format_location, user_location
from pyflame.ops.saved import composite
from pyflame.runtime import add_pending_update


def _upcast(x: Tensor) -> Tensor:
    return x.astype(float32) if x.dtype.itemsize == 2 and x.dtype.is_floating_point else x


def _check_param(p: Tensor | None, shape: tuple[int, ...], what: str) -> None:
    if p is not None and tuple(p.shape) != shape:
        raise ShapeError(
            f"{format_location(user_location())}: {what} must have shape {list(shape)}, got "
            f"{list(p.shape)}"
        )


@composite(
    lambda out, input, shape, weight=None, bias=None, eps=1e-5: (input, weight, bias),
    "NativeLayerNorm",
)
def layer_norm(
    input: Tensor,
    normalized_shape: int | Sequence[int],
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    eps: float = 1e-5,
) -> Tensor:
    """(x - mean) / sqrt(var + eps) over the last dims, then * weight + bias."""
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if tuple(input.shape[len(input.shape) - len(shape) :]) != shape:
        raise ShapeError(
            f"{format_location(user_location())}: layer_norm over {list(shape)} does not fit "
            f"input shape {list(input.shape)}"
        )
    _check_param(weight, shape, "layer_norm weight")
    _check_param(bias, shape, "layer_norm bias")
    x = _upcast(input)
    dims = tuple(range(x.ndim - len(shape), x.ndim))
    mean = x.mean(dim=dims, keepdim=True)
    centered = x - mean
    # take back the mean's rounding (the corrected two-pass algorithm): a constant row, whose
    # float mean can be an ulp off, normalises to exactly 0 as in PyTorch (whose Welford mean is
    # exact there), not to ulp / sqrt(eps), 2e-3 for values near 1e3
    shift = centered.mean(dim=dims, keepdim=True)
    centered = centered - shift
    rstd = ops.rsqrt((centered * centered).mean(dim=dims, keepdim=True) + eps)
    y = centered * rstd
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    out = y.astype(input.dtype)
    if out.requires_grad:  # PyTorch's formula, not autograd through the parts
        # the backward reads the forward's statistics (lazy nodes: made only if it runs)
        out._grad_fn = LayerNorm(input, weight, bias, dims, mean + shift, rstd)
    return out


def rms_norm(
    input: Tensor,
    normalized_shape: int | Sequence[int],
    weight: Tensor | None = None,
    eps: float | None = None,
) -> Tensor:
    """x / sqrt(mean(x^2) + eps) over the last dims, then * weight (torch.nn.functional.rms_norm;
    `eps=None` is the machine epsilon of the dtype it is computed in, float32 for float16 and
    bfloat16 inputs, as PyTorch's kernel does)."""
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if tuple(input.shape[len(input.shape) - len(shape) :]) != shape:
        raise ShapeError(
            f"{format_location(user_location())}: rms_norm over {list(shape)} does not fit "
            f"input shape {list(input.shape)}"
        )
    _check_param(weight, shape, "rms_norm weight")
    x = _upcast(input)
    if eps is None:  # of the dtype it is computed in (PyTorch's opmath type: float32 for halves)
        eps = float(np.finfo(x.dtype.numpy).eps)  # x is float32 here: numpy knows it
    dims = tuple(range(x.ndim - len(shape), x.ndim))
    y = x * ops.rsqrt((x * x).mean(dim=dims, keepdim=True) + eps)
    if weight is not None:
        y = y * weight
    return y.astype(input.dtype)


def group_norm(
    input: Tensor,
    num_groups: int,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    eps: float = 1e-5,
) -> Tensor:
    """torch.nn.functional.group_norm: the channels (dim 1) of each sample split into
    `num_groups` groups, each normalised over its channels and the spatial dims (biased
    variance), then * weight + bias per channel.

        x [N, C, *]  ->  [N, G, C/G * prod(*)]  ->  (x - mean) / sqrt(var + eps)  ->  [N, C, *]
    """
    if input.ndim < 2:
        raise ShapeError(
            f"{format_location(user_location())}: Expected at least 2 dimensions for input "
            f"tensor but received {input.ndim}"
        )
    n, channels = input.shape[0], input.shape[1]
    if num_groups <= 0 or channels % num_groups:
        raise ShapeError(
            f"{format_location(user_location())}: Expected number of channels in input to be "
            f"divisible by num_groups, but got input of shape {list(input.shape)} and "
            f"num_groups={num_groups}"
        )
    per_group = math.prod(input.shape[2:])
    if n * (channels // num_groups) * per_group == 1:
        # PyTorch's check (on [N * C/G, G, *]): one value to normalise gives 0 whatever it is
        raise ValueError(
            f"{format_location(user_location())}: Expected more than 1 value per channel when "
            f"training, got input size {[n * channels // num_groups, num_groups, *input.shape[2:]]}"
        )
    for p, what in ((weight, "weight"), (bias, "bias")):
        if p is not None and (p.ndim != 1 or p.shape[0] != channels):
            raise ShapeError(
                f"{format_location(user_location())}: Expected {what} to be a vector of size "
                f"equal to the number of channels in input, but got {what} of shape "
                f"{list(p.shape)} and input of shape {list(input.shape)}"
            )
    x = _upcast(input).reshape(n, num_groups, -1)
    mean = x.mean(dim=2, keepdim=True)
    centered = x - mean
    centered = centered - centered.mean(dim=2, keepdim=True)  # as layer_norm: constant groups -> 0
    y = (centered * ops.rsqrt((centered * centered).mean(dim=2, keepdim=True) + eps)).reshape(
        input.shape
    )
    stat_shape = (1, channels) + (1,) * (input.ndim - 2)
    if weight is not None:
        y = y * _upcast(weight).reshape(stat_shape)
    if bias is not None:
        y = y + _upcast(bias).reshape(stat_shape)
    return y.astype(input.dtype)


def batch_norm(
    input: Tensor,
    running_mean: Tensor | None,
    running_var: Tensor | None,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """Normalise each channel (dim 1) with batch statistics (training) or running ones."""
    if input.ndim < 2:
        raise ShapeError(
            f"{format_location(user_location())}: batch_norm needs an input of rank >= 2 "
            f"(N, C, ...), got {list(input.shape)}"
        )
    channels = input.shape[1]
    if training and channels and math.prod(input.shape) // channels == 1:
        raise ValueError(  # PyTorch's check: a variance of one value per channel is 0
            f"{format_location(user_location())}: Expected more than 1 value per channel when "
            f"training, got input size {list(input.shape)}"
        )
    # PyTorch's: evaluation normalises with the running statistics, training updates both
    if not training:
        for p, what in ((running_mean, "running_mean"), (running_var, "running_var")):
            if p is None:
                raise RuntimeError(
                    f"{format_location(user_location())}: {what} must be defined in evaluation mode"
                )
    elif (running_mean is None) != (running_var is None):
        raise ValueError(
            f"{format_location(user_location())}: running_mean and running_var must either "
            "both be None or neither be None"
        )
    for p, what in (
        (running_mean, "running_mean"),
        (running_var, "running_var"),
        (weight, "weight"),
        (bias, "bias"),
    ):
        _check_param(p, (channels,), f"batch_norm {what}")
    stat_shape = (1, channels) + (1,) * (input.ndim - 2)
    x = _upcast(input)
    dims = (0,) + tuple(range(2, x.ndim))
    if training or running_mean is None or running_var is None:
        mean = x.mean(dim=dims, keepdim=True)
        centered = x - mean
        var = (centered * centered).mean(dim=dims, keepdim=True)
        if training and running_mean is not None and running_var is not None:
            _update_running_stats(running_mean, running_var, mean, var, x, dims, momentum)
    else:
        mean = _upcast(running_mean).reshape(stat_shape)
        var = _upcast(running_var).reshape(stat_shape)
        centered = x - mean
    y = centered * ops.rsqrt(var + eps)
    if weight is not None:
        y = y * _upcast(weight).reshape(stat_shape)
    if bias is not None:
        y = y + _upcast(bias).reshape(stat_shape)
    return y.astype(input.dtype)


def _update_running_stats(
    running_mean: Tensor,
    running_var: Tensor,
    mean: Tensor,
    var: Tensor,
    x: Tensor,
    dims: tuple[int, ...],
    momentum: float,
) -> None:
    count = 1
    for d in dims:
        count *= x.shape[d]
    unbiased = var * (count / max(count - 1, 1))  # PyTorch keeps the unbiased variance
    channels = running_mean.shape[0]
    new_mean = (
        running_mean * (1 - momentum) + mean.reshape(channels).astype(running_mean.dtype) * momentum
    )
    new_var = (
        running_var * (1 - momentum)
        + unbiased.reshape(channels).astype(running_var.dtype) * momentum
    )
    add_pending_update(running_mean, new_mean)
    add_pending_update(running_var, new_var)


def instance_norm(
    input: Tensor,
    running_mean: Tensor | None = None,
    running_var: Tensor | None = None,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    use_input_stats: bool = True,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """Each (sample, channel) of an (N, C, *) input normalised over its spatial dims (biased
    variance), then * weight + bias per channel (torch.nn.functional.instance_norm). With
    `use_input_stats` and running statistics, these are updated as ATen's (batch_norm of the
    [1, N * C, *] view, its per-instance updates averaged over N): running_mean += momentum *
    (mean over N of the instance means - running_mean), the variance likewise with each
    instance's unbiased variance; without `use_input_stats` the running statistics normalise."""
    where = format_location(user_location())
    if input.ndim < 3:
        raise ShapeError(
            f"{where}: instance_norm needs an input of rank >= 3 (N, C, *), got {list(input.shape)}"
        )
    n, channels = input.shape[0], input.shape[1]
    spatial = math.prod(input.shape[2:])
    if use_input_stats and spatial == 1:
        raise ValueError(
            f"{where}: Expected more than 1 spatial element when training, got input size "
            f"{list(input.shape)}"
        )
    if not use_input_stats and (running_mean is None or running_var is None):
        raise RuntimeError(
            f"{where}: Expected running_mean and running_var to be defined when "
            "use_input_stats is false"
        )
    for p, what in (
        (running_mean, "running_mean"),
        (running_var, "running_var"),
        (weight, "weight"),
        (bias, "bias"),
    ):
        _check_param(p, (channels,), f"instance_norm {what}")
    stat_shape = (1, channels) + (1,) * (input.ndim - 2)
    x = _upcast(input)
    dims = tuple(range(2, x.ndim))
    if use_input_stats:
        mean = x.mean(dim=dims, keepdim=True)
        centered = x - mean
        shift = centered.mean(dim=dims, keepdim=True)  # as layer_norm: constant rows -> 0
        centered = centered - shift
        var = (centered * centered).mean(dim=dims, keepdim=True)
        if running_mean is not None and running_var is not None:
            unbiased = var * (spatial / max(spatial - 1, 1))
            new_mean = (
                running_mean * (1 - momentum)
                + (mean + shift).reshape(n, channels).mean(dim=0).astype(running_mean.dtype)
                * momentum
            )
            new_var = (
                running_var * (1 - momentum)
                + unbiased.reshape(n, channels).mean(dim=0).astype(running_var.dtype) * momentum
            )
            add_pending_update(running_mean, new_mean)
            add_pending_update(running_var, new_var)
    else:
        assert running_mean is not None and running_var is not None  # checked above
        centered = x - _upcast(running_mean).reshape(stat_shape)
        var = _upcast(running_var).reshape(stat_shape)
    y = centered * ops.rsqrt(var + eps)
    if weight is not None:
        y = y * _upcast(weight).reshape(stat_shape)
    if bias is not None:
        y = y + _upcast(bias).reshape(stat_shape)
    return y.astype(input.dtype)


def local_response_norm(
    input: Tensor, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0
) -> Tensor:
    """x / (k + alpha * mean of x^2 over `size` neighbouring channels) ** beta
    (torch.nn.functional.local_response_norm): the window around channel c runs from
    c - size // 2 to c + (size - 1) // 2, zeros beyond the channels, and the mean always
    divides by `size` (PyTorch's avg_pool with zero padding)."""
    if input.ndim < 3:
        raise ValueError(
            f"{format_location(user_location())}: Expected 3D or higher dimensionality "
            f"input (got {input.ndim} dimensions)"
        )
    if input.numel() == 0:
        return input
    channels = input.shape[1]
    square = input * input
    widths = [0, 0] * (input.ndim - 2) + [size // 2, (size - 1) // 2]
    padded = ops.pad(square, widths)
    total = padded.narrow(1, 0, channels)
    for offset in range(1, size):
        total = total + padded.narrow(1, offset, channels)
    return input / ((total / size) * alpha + k) ** beta


class CrossMapLRN:
    """Gradient rule of `cross_map_lrn2d`, PyTorch's legacy backward as it is written:
    g scale^-beta - (2 alpha beta / size) x * (the sum of g out / scale over the channels
    c - p .. c + size - 1 - p, p = int(size - (size - 1) / 2)): not the derivative of the
    forward's window (PyTorch's two loops disagree), but PyTorch's gradient."""

    def __init__(
        self, input: Tensor, out: Tensor, scale: Tensor, size: int, alpha: float, beta: float
    ):
        self.input, self.out, self.scale = input, out, scale
        self.size, self.alpha, self.beta = size, alpha, beta
        self.inputs = (input,)

    def __call__(self, node: Tensor, g: Tensor) -> list[Tensor | None]:
        x, size, channels = self.input, self.size, self.input.shape[1]
        ratio = g * self.out / self.scale
        prefix = _channel_prefix(ratio)
        back = int(size - (size - 1) / 2)
        c = np.arange(channels)
        high = np.clip(c + size - back, 0, channels)
        low = np.clip(c - back, 0, channels)
        window = _pick(prefix, high) - _pick(prefix, low)
        grad = g * self.scale ** (-self.beta) - x * window * (2 * self.alpha * self.beta / size)
        return [grad]


def _channel_prefix(x: Tensor) -> Tensor:
    """[N, C + 1, ...]: the sums of x's first 0, 1, ..., C channels."""
    zero = ops.zeros((x.shape[0], 1, *x.shape[2:]), dtype=x.dtype)
    return ops.cat([zero, ops.cumsum(x, 1)], dim=1)


def _pick(x: Tensor, index: np.ndarray) -> Tensor:
    return x.index_select(1, ops.from_numpy(index.astype(np.int32)))


def cross_map_lrn2d(
    input: Tensor, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0
) -> Tensor:
    """PyTorch's legacy CrossMapLRN2d (nn.CrossMapLRN2d) of an (N, C, H, W) input, its
    forward loop as written: x (k + alpha / size * s_c) ** -beta, s_c the sum of x^2 over
    channels 0 .. c + p - 1 (p = (size - 1) // 2 + 1) less channels 1 .. c - p, so channel 0
    always counts (its running sum never removes it); its own backward (`CrossMapLRN`)."""
    if input.ndim != 4:
        raise ValueError(
            f"{format_location(user_location())}: CrossMapLRN2d: Expected input to be 4D, got "
            f"{input.ndim}D instead."
        )
    channels = input.shape[1]
    pre = int((size - 1) / 2 + 1)
    prefix = _channel_prefix(input.detach() * input.detach())
    c = np.arange(channels)
    high = np.minimum(c + pre, channels)
    low = np.maximum(c - pre + 1, 1)
    sums = _pick(prefix, high) - _pick(prefix, low) + _pick(prefix, np.ones(channels, np.int64))
    scale = sums * (alpha / size) + k
    out = input * scale ** (-beta)
    if out.requires_grad:
        out._grad_fn = CrossMapLRN(input, out.detach(), scale, size, alpha, beta)
    return out
