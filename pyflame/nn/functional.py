"""`pf.nn.functional`: stateless neural-network functions, as in `torch.nn.functional`.

A flat list of functions; each checks its arguments at the user's line (`pf.ShapeError` for
shapes) and returns a lazy `pf.Tensor`. The convolution and pooling builders live with the
other op builders (pyflame/ops/conv.py), the composites in their own modules of pyflame.nn.

    y = F.conv2d(x, w, b, stride=1, padding="same")      # flame.conv2d
    z = F.max_pool2d(y, kernel_size=2)                    # flame.max_pool2d
    a = F.avg_pool2d(y, 3, stride=2, padding=1)           # flame.avg_pool2d
"""

from __future__ import annotations

import warnings
from typing import Any

from pyflame import inplace as _inplace
from pyflame import ops as _ops
from pyflame.lazy_tensor import (
    Tensor,
    at_callers_line,
    format_location,
    user_location,
    user_stacklevel,
)
from pyflame.nn.activation import (
    celu,
    elu,
    gelu,
    glu,
    gumbel_softmax,
    hardshrink,
    hardsigmoid,
    hardswish,
    hardtanh,
    leaky_relu,
    logsigmoid,
    mish,
    prelu,
    relu6,
    rrelu,
    selu,
    softmin,
    softplus,
    softshrink,
    softsign,
    tanhshrink,
    threshold,
)
from pyflame.nn.activation import threshold as _threshold  # (F.threshold_'s argument)
from pyflame.nn.adaptive_pool import (
    adaptive_avg_pool1d,
    adaptive_avg_pool2d,
    adaptive_avg_pool3d,
    adaptive_max_pool1d,
    adaptive_max_pool2d,
    adaptive_max_pool3d,
)
from pyflame.nn.attention import scaled_dot_product_attention
from pyflame.nn.conv_functional import (
    conv1d,
    conv3d,
    conv_transpose1d,
    conv_transpose2d,
    conv_transpose3d,
)
from pyflame.nn.ctc_loss import ctc_loss
from pyflame.nn.distance import cosine_similarity, normalize, pairwise_distance, pdist
from pyflame.nn.fold import fold, unfold
from pyflame.nn.grid_sample import affine_grid, grid_sample
from pyflame.nn.losses import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    gaussian_nll_loss,
    huber_loss,
    kl_div,
    l1_loss,
    mse_loss,
    nll_loss,
    poisson_nll_loss,
    smooth_l1_loss,
)
from pyflame.nn.lp_pool import lp_pool1d, lp_pool2d, lp_pool3d
from pyflame.nn.margin_losses import (
    cosine_embedding_loss,
    hinge_embedding_loss,
    margin_ranking_loss,
    multi_margin_loss,
    multilabel_margin_loss,
    multilabel_soft_margin_loss,
    soft_margin_loss,
    triplet_margin_loss,
    triplet_margin_with_distance_loss,
)
from pyflame.nn.normalization import (
    batch_norm,
    group_norm,
    instance_norm,
    layer_norm,
    local_response_norm,
    rms_norm,
)
from pyflame.nn.pixel_shuffle import channel_shuffle, pixel_shuffle, pixel_unshuffle
from pyflame.nn.pool1d import avg_pool1d, max_pool1d
from pyflame.nn.pool3d import avg_pool3d, max_pool3d
from pyflame.nn.sparse import embedding, embedding_bag, one_hot
from pyflame.nn.unpool import max_unpool1d, max_unpool2d, max_unpool3d
from pyflame.nn.upsampling import interpolate
from pyflame.ops import pad, sigmoid, tanh
from pyflame.ops.conv import avg_pool2d, conv2d, max_pool2d
from pyflame.ops.node import _check_tensor, _shape_error

__all__ = [
    "adaptive_avg_pool1d",
    "adaptive_avg_pool2d",
    "adaptive_avg_pool3d",
    "adaptive_max_pool1d",
    "adaptive_max_pool2d",
    "adaptive_max_pool3d",
    "avg_pool1d",
    "avg_pool2d",
    "avg_pool3d",
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
    "max_pool1d",
    "max_pool2d",
    "max_pool3d",
    "lp_pool1d",
    "lp_pool2d",
    "lp_pool3d",
    "max_unpool1d",
    "max_unpool2d",
    "max_unpool3d",
]


# --- the *_with_indices forms: the pools with return_indices=True, as torch's


def max_pool1d_with_indices(
    input: Tensor,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    dilation: Any = 1,
    ceil_mode: bool = False,
    return_indices: bool = True,
) -> tuple[Tensor, Tensor]:
    del return_indices  # (always: torch's signature)
    return max_pool1d(input, kernel_size, stride, padding, dilation, ceil_mode, True)


def max_pool2d_with_indices(
    input: Tensor,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    dilation: Any = 1,
    ceil_mode: bool = False,
    return_indices: bool = True,
) -> tuple[Tensor, Tensor]:
    del return_indices
    return max_pool2d(input, kernel_size, stride, padding, dilation, ceil_mode, True)


def max_pool3d_with_indices(
    input: Tensor,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    dilation: Any = 1,
    ceil_mode: bool = False,
    return_indices: bool = True,
) -> tuple[Tensor, Tensor]:
    del return_indices
    return max_pool3d(input, kernel_size, stride, padding, dilation, ceil_mode, True)


def adaptive_max_pool1d_with_indices(
    input: Tensor, output_size: Any, return_indices: bool = True
) -> tuple[Tensor, Tensor]:
    del return_indices
    return adaptive_max_pool1d(input, output_size, True)


def adaptive_max_pool2d_with_indices(
    input: Tensor, output_size: Any, return_indices: bool = True
) -> tuple[Tensor, Tensor]:
    del return_indices
    return adaptive_max_pool2d(input, output_size, True)


def adaptive_max_pool3d_with_indices(
    input: Tensor, output_size: Any, return_indices: bool = True
) -> tuple[Tensor, Tensor]:
    del return_indices
    return adaptive_max_pool3d(input, output_size, True)


__all__ += [
    "adaptive_max_pool1d_with_indices",
    "adaptive_max_pool2d_with_indices",
    "adaptive_max_pool3d_with_indices",
    "max_pool1d_with_indices",
    "max_pool2d_with_indices",
    "max_pool3d_with_indices",
]


# --------------------------------------------------------------------------- linear, dropout


@at_callers_line
def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """`input @ weight.T + bias` (torch.nn.functional.linear): input [..., in], weight
    [out, in] (or [in]), bias broadcastable to the result (usually [out])."""
    _check_tensor(input, "linear")
    _check_tensor(weight, "linear")
    if weight.ndim not in (1, 2):
        raise _shape_error(f"linear: weight must be 1-D or 2-D, got shape {list(weight.shape)}")
    if not input.ndim or input.shape[-1] != weight.shape[-1]:
        raise _shape_error(
            f"linear: input of shape {list(input.shape)} cannot go through weight of shape "
            f"{list(weight.shape)} (expects {weight.shape[-1]} input features)"
        )
    w = _ops.transpose(weight, 0, 1) if weight.ndim == 2 else weight
    out = _ops.matmul(input, w)
    if bias is not None:
        _check_tensor(bias, "linear")
        out = _ops.add(out, bias)
    return out


@at_callers_line
def bilinear(input1: Tensor, input2: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """`x1^T A_o x2 + b_o` for each output o (torch.nn.functional.bilinear): input1
    [..., in1], input2 [..., in2] with the same leading dims, weight [out, in1, in2], bias
    [out]. One matmul of x1 with the weight as [in1, out * in2], then the product with x2
    summed over in2."""
    for t in (input1, input2, weight):
        _check_tensor(t, "bilinear")
    if weight.ndim != 3:
        raise _shape_error(f"bilinear(): weight must be 3-dimensional, got {list(weight.shape)}")
    if input1.ndim != input2.ndim or tuple(input1.shape[:-1]) != tuple(input2.shape[:-1]):
        raise _shape_error(
            "bilinear(): input batch dimensions do not match: got "
            f"{list(input1.shape[:-1])} and {list(input2.shape[:-1])}"
        )
    out, in1, in2 = weight.shape
    if not input1.ndim or input1.shape[-1] != in1:
        raise _shape_error(
            f"bilinear(): input1 size does not match weight size: got {input1.shape[-1:]} but "
            f"expected {in1}"
        )
    if input2.shape[-1] != in2:
        raise _shape_error(
            f"bilinear(): input2 size does not match weight size: got {input2.shape[-1]} but "
            f"expected {in2}"
        )
    if bias is not None and tuple(bias.shape) != (out,):
        raise _shape_error(
            f"bilinear(): bias size does not match weight size: got {list(bias.shape)} but "
            f"expected [{out}]"
        )
    lead = tuple(input1.shape[:-1])
    flat1 = input1.reshape(-1, in1)
    mixed = _ops.matmul(flat1, weight.permute(1, 0, 2).reshape(in1, out * in2))
    y = (mixed.reshape(-1, out, in2) * input2.reshape(-1, 1, in2)).sum(dim=2)
    if bias is not None:
        y = y + bias
    return y.reshape(*lead, out)


def alpha_dropout(
    input: Tensor,
    p: float = 0.5,
    training: bool = False,
    inplace: bool = False,
    *,
    seed: int | None = None,
) -> Tensor:
    """Alpha dropout (torch.nn.functional.alpha_dropout, for SELU networks): in training,
    each element is set with probability p to SELU's negative saturation and the result
    rescaled so that zero mean and unit variance are kept, ATen's formula: with
    a = 1 / sqrt((alpha^2 p + 1)(1 - p)), kept elements become a x + alpha a p, dropped ones
    alpha a (p - 1) (alpha = 1.7580993408473766). The input itself outside training."""
    return _alpha_dropout(input, p, training, inplace, seed, feature=False)


def feature_alpha_dropout(
    input: Tensor,
    p: float = 0.5,
    training: bool = False,
    inplace: bool = False,
    *,
    seed: int | None = None,
) -> Tensor:
    """`alpha_dropout` of whole channels: one draw per (batch, channel) pair of an
    (N, C, *) input (torch.nn.functional.feature_alpha_dropout)."""
    return _alpha_dropout(input, p, training, inplace, seed, feature=True)


_ALPHA = 1.7580993408473766  # ATen's: SELU's scale * alpha


def _alpha_dropout(
    input: Tensor, p: float, training: bool, inplace: bool, seed: int | None, feature: bool
) -> Tensor:
    _check_tensor(input, "alpha_dropout")
    if isinstance(p, bool) or not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not input.dtype.is_floating_point:
        raise TypeError(f"alpha_dropout needs a floating-point input, got {input.dtype!r}")
    if feature and input.ndim < 2:
        raise _shape_error(
            f"Feature dropout requires at least 2 dimensions in the input, got {list(input.shape)}"
        )
    if p == 0 or not training or not input.numel():
        return input
    if p == 1:
        out = input * 0.0
    else:
        shape = tuple(input.shape[:2]) + (1,) * (input.ndim - 2) if feature else input.shape
        keep = (_ops.rand(shape, seed=seed) >= p).astype(input.dtype)
        a = 1.0 / (((_ALPHA * _ALPHA * p + 1) * (1 - p)) ** 0.5)
        b = (keep - 1.0) * (_ALPHA * a) + _ALPHA * a * p
        out = input * (keep * a) + b
    return _inplace.copy_(input, out) if inplace else out


def dropout(
    input: Tensor,
    p: float = 0.5,
    training: bool = True,
    inplace: bool = False,
    *,
    seed: int | None = None,
) -> Tensor:
    """Inverted dropout, `pf.dropout` (zero with probability p, keep scaled by 1 / (1 - p));
    `inplace=True` writes the result into `input`, as PyTorch's."""
    out = _ops.dropout(input, p, training, seed=seed)
    if inplace and out is not input:
        return _inplace.copy_(input, out)
    return out


def _channel_dropout(
    input: Tensor, p: float, training: bool, inplace: bool, seed: int | None, unbatched: bool
) -> Tensor:
    """feature_dropout of `input` (with a batch dim of 1 added when `unbatched`), written
    into `input` with `inplace=True`."""
    _check_tensor(input, "dropout")
    x = _ops.unsqueeze(input, 0) if unbatched else input
    out = _ops.feature_dropout(x, p, training, seed=seed)
    if out is x:
        return input
    out = _ops.squeeze(out, 0) if unbatched else out
    return _inplace.copy_(input, out) if inplace else out


def dropout1d(
    input: Tensor,
    p: float = 0.5,
    training: bool = True,
    inplace: bool = False,
    *,
    seed: int | None = None,
) -> Tensor:
    """Channel dropout of [N, C, L] (or unbatched [C, L]) input (torch's dropout1d): each
    channel zeroed whole with probability p, the others scaled by 1 / (1 - p)."""
    _check_tensor(input, "dropout1d")
    if input.ndim not in (2, 3):
        raise RuntimeError(
            f"{format_location(user_location())}: dropout1d: Expected 2D or 3D input, but "
            f"received a {input.ndim}D input. Note that dropout1d exists to provide "
            "channel-wise dropout on inputs with 1 spatial dimension, a channel dimension, and "
            "an optional batch dimension (i.e. 2D or 3D inputs)."
        )
    return _channel_dropout(input, p, training, inplace, seed, input.ndim == 2)


def dropout2d(
    input: Tensor,
    p: float = 0.5,
    training: bool = True,
    inplace: bool = False,
    *,
    seed: int | None = None,
) -> Tensor:
    """Channel dropout of [N, C, H, W] input (torch's dropout2d), as `dropout1d`. As
    PyTorch 2.13: a 3-D input is read as [N, C, L] (with its warning), other ranks as
    [N, C, ...] with its deprecation warning."""
    _check_tensor(input, "dropout2d")
    if input.ndim not in (3, 4):
        warnings.warn(
            f"dropout2d: Received a {input.ndim}-D input to dropout2d, which is deprecated and "
            "will result in an error in a future release. To retain the behavior and silence "
            "this warning, please use dropout instead. Note that dropout2d exists to provide "
            "channel-wise dropout on inputs with 2 spatial dimensions, a channel dimension, "
            "and an optional batch dimension (i.e. 3D or 4D inputs).",
            UserWarning,
            stacklevel=user_stacklevel(),
        )
    if input.ndim == 3:
        warnings.warn(
            "dropout2d: Received a 3D input to dropout2d and assuming that channel-wise 1D "
            "dropout behavior is desired - input is interpreted as shape (N, C, L), where C is "
            "the channel dim. This behavior will change in a future release to interpret the "
            "input as one without a batch dimension, i.e. shape (C, H, W). To maintain the 1D "
            "channel-wise dropout behavior, please switch to using dropout1d instead.",
            UserWarning,
            stacklevel=user_stacklevel(),
        )
    return _channel_dropout(input, p, training, inplace, seed, False)


def dropout3d(
    input: Tensor,
    p: float = 0.5,
    training: bool = True,
    inplace: bool = False,
    *,
    seed: int | None = None,
) -> Tensor:
    """Channel dropout of [N, C, D, H, W] (or unbatched [C, D, H, W]) input (torch's
    dropout3d), as `dropout1d`; other ranks with PyTorch's deprecation warning, read as
    unbatched."""
    _check_tensor(input, "dropout3d")
    if input.ndim not in (4, 5):
        warnings.warn(
            f"dropout3d: Received a {input.ndim}-D input to dropout3d, which is deprecated and "
            "will result in an error in a future release. To retain the behavior and silence "
            "this warning, please use dropout instead. Note that dropout3d exists to provide "
            "channel-wise dropout on inputs with 3 spatial dimensions, a channel dimension, "
            "and an optional batch dimension (i.e. 4D or 5D inputs).",
            UserWarning,
            stacklevel=user_stacklevel(),
        )
    return _channel_dropout(input, p, training, inplace, seed, input.ndim != 5)


def relu(input: Tensor, inplace: bool = False) -> Tensor:
    """max(x, 0); `inplace=True` is `input.relu_()`."""
    return input.relu_() if inplace else _ops.relu(input)


def silu(input: Tensor, inplace: bool = False) -> Tensor:
    """x * sigmoid(x); `inplace=True` writes it into `input`."""
    return _inplace.apply_(input, _ops.silu, "Silu") if inplace else _ops.silu(input)


# --- in-place forms: `F.relu_(x)` is `F.relu(x, inplace=True)`, as torch's


def relu_(input: Tensor) -> Tensor:
    return relu(input, inplace=True)


def elu_(input: Tensor, alpha: float = 1.0) -> Tensor:
    return elu(input, alpha, inplace=True)


def celu_(input: Tensor, alpha: float = 1.0) -> Tensor:
    return celu(input, alpha, inplace=True)


def selu_(input: Tensor) -> Tensor:
    return selu(input, inplace=True)


def leaky_relu_(input: Tensor, negative_slope: float = 0.01) -> Tensor:
    return leaky_relu(input, negative_slope, inplace=True)


def hardtanh_(input: Tensor, min_val: float = -1.0, max_val: float = 1.0) -> Tensor:
    return hardtanh(input, min_val, max_val, inplace=True)


def threshold_(input: Tensor, threshold: float, value: float) -> Tensor:
    return _threshold(input, threshold, value, inplace=True)


def rrelu_(
    input: Tensor,
    lower: float = 1.0 / 8,
    upper: float = 1.0 / 3,
    training: bool = False,
    *,
    seed: int | None = None,
) -> Tensor:
    return rrelu(input, lower, upper, training, inplace=True, seed=seed)


__all__ += ["celu_", "elu_", "hardtanh_", "leaky_relu_", "relu_", "rrelu_", "selu_"]
__all__ += ["threshold_"]
__all__ += ["dropout", "dropout1d", "dropout2d", "dropout3d", "linear"]
__all__ += ["alpha_dropout", "bilinear", "feature_alpha_dropout"]


# --- reductions: softmax and log_softmax along a dim (pf.softmax, pf.log_softmax) ------------
softmax = _ops.softmax
log_softmax = _ops.log_softmax

__all__ += ["log_softmax", "softmax"]


# --- composites (decomposed into flame primitives when the graph is built) and activations
__all__ += [
    "batch_norm",
    "binary_cross_entropy",
    "celu",
    "cosine_similarity",
    "elu",
    "fold",
    "glu",
    "hardshrink",
    "hardsigmoid",
    "hardswish",
    "hardtanh",
    "logsigmoid",
    "mish",
    "prelu",
    "relu6",
    "rrelu",
    "selu",
    "softmin",
    "softplus",
    "softshrink",
    "softsign",
    "tanhshrink",
    "threshold",
    "binary_cross_entropy_with_logits",
    "cross_entropy",
    "embedding",
    "gelu",
    "group_norm",
    "huber_loss",
    "interpolate",
    "kl_div",
    "l1_loss",
    "layer_norm",
    "leaky_relu",
    "mse_loss",
    "nll_loss",
    "normalize",
    "one_hot",
    "pad",
    "pairwise_distance",
    "pixel_shuffle",
    "pixel_unshuffle",
    "relu",
    "rms_norm",
    "scaled_dot_product_attention",
    "sigmoid",
    "silu",
    "smooth_l1_loss",
    "tanh",
    "unfold",
    "cosine_embedding_loss",
    "gaussian_nll_loss",
    "hinge_embedding_loss",
    "margin_ranking_loss",
    "multi_margin_loss",
    "multilabel_margin_loss",
    "multilabel_soft_margin_loss",
    "poisson_nll_loss",
    "soft_margin_loss",
    "triplet_margin_loss",
    "triplet_margin_with_distance_loss",
    "instance_norm",
    "local_response_norm",
    "embedding_bag",
    "channel_shuffle",
    "gumbel_softmax",
    "pdist",
    "affine_grid",
    "grid_sample",
    "ctc_loss",
]
