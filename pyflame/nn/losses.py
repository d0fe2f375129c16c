"""Loss functions (`pf.nn.functional.mse_loss`, `l1_loss`, `smooth_l1_loss`, `huber_loss`,
`binary_cross_entropy`, `binary_cross_entropy_with_logits`, `kl_div`, `cross_entropy`,
`nll_loss`), decomposed into flame primitives when the graph is built, with PyTorch's formulas
and gradients. Reductions: 'mean' (default), 'sum', 'none' (and 'batchmean' for kl_div).

Where PyTorch's gradient is its own formula rather than the derivative of the forward's parts
(binary cross-entropy's clamped logs, the stable form of the logits version, xlogy's masks),
the elementwise loss carries that rule (`_grad_fn`, see autograd.custom_rule), so gradients
match PyTorch's at 0, 1 and infinities too:

    loss = F.binary_cross_entropy(p, t)    # -(t log p + (1 - t) log(1 - p)), logs >= -100
    loss.backward()                        # p.grad = (p - t) / max(p (1 - p), 1e-12) / N
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

from pyflame import checks, ops
from pyflame.checks import data_at_hand as _data_at_hand
from pyflame.core.dtypes import int32
from pyflame.core.errors import ShapeError
from pyflame.grad_mode import is_grad_enabled, no_grad
from pyflame.lazy_tensor import (
    Location,
    Tensor,
    at_callers_line,
    format_location,
    user_location,
    user_stacklevel,
)
from pyflame.nn.sparse import checked_one_hot_mask
from pyflame.ops.saved import composite


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def legacy_reduction(size_average: bool | None, reduce: bool | None, reduction: str) -> str:
    """PyTorch's legacy `size_average` / `reduce` arguments, when given, decide the reduction
    (with PyTorch's deprecation warning, at the user's line)."""
    if size_average is None and reduce is None:
        return reduction
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    legacy = "none" if not reduce else "mean" if size_average else "sum"
    warnings.warn(
        "size_average and reduce args will be deprecated, please use "
        f"reduction='{legacy}' instead.",
        UserWarning,
        stacklevel=user_stacklevel(),
    )
    return legacy


def _check_target_size(input: Tensor, target: Tensor, what: str) -> None:
    """PyTorch's rule for elementwise losses: a target of another shape that broadcasts is
    accepted with a UserWarning (at the user's line); one that does not is an error."""
    if tuple(input.shape) == tuple(target.shape):
        return
    try:
        np.broadcast_shapes(tuple(input.shape), tuple(target.shape))
    except ValueError:
        raise ShapeError(
            f"{format_location(user_location())}: {what}: target shape {list(target.shape)} "
            f"cannot be broadcast to input shape {list(input.shape)}; give the target the "
            "input's shape"
        ) from None
    warnings.warn(
        f"Using a target size ({list(target.shape)}) that is different to the input size "
        f"({list(input.shape)}). This will likely lead to incorrect results due to "
        "broadcasting. Please ensure they have the same size.",
        UserWarning,
        stacklevel=user_stacklevel(),
    )


def _weighted(loss: Tensor, weight: Tensor | None, input: Tensor, reduction: str) -> Tensor:
    """PyTorch 2.13's `weight=` of mse_loss and l1_loss: one weight per element (the input's
    shape); 'mean' is the weighted sum over the sum of the weights."""
    if weight is None:
        return _reduce(loss, reduction)
    if tuple(weight.shape) != tuple(input.shape):
        raise ValueError(
            f"{format_location(user_location())}: Weights and input must have the same size "
            f"(weight {list(weight.shape)}, input {list(input.shape)})."
        )
    loss = loss * weight
    if reduction == "mean":
        return loss.sum() / weight.sum()
    return _reduce(loss, reduction)


@composite(
    lambda out, input, target, size_average=None, reduce=None, reduction="mean", weight=None: (
        input,
        target,
        weight,
    ),
    "MseLoss",
)
def mse_loss(
    input: Tensor,
    target: Tensor,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
    weight: Tensor | None = None,
) -> Tensor:
    """Mean squared error, with torch.nn.functional.mse_loss's arguments in its order (the
    legacy `size_average` / `reduce` warn and decide the reduction, as in PyTorch); a target
    of another shape is broadcast with a UserWarning, as in PyTorch."""
    _check_target_size(input, target, "mse_loss")
    reduction = legacy_reduction(size_average, reduce, reduction)
    diff = input - target
    return _weighted(diff * diff, weight, input, reduction)


def l1_loss(
    input: Tensor,
    target: Tensor,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
    weight: Tensor | None = None,
) -> Tensor:
    """Mean absolute error, with torch.nn.functional.l1_loss's arguments in its order; a
    target of another shape is broadcast with a UserWarning, as in PyTorch."""
    _check_target_size(input, target, "l1_loss")
    reduction = legacy_reduction(size_average, reduce, reduction)
    return _weighted(ops.abs(input - target), weight, input, reduction)


def _class_dim_last(x: Tensor) -> Tensor:
    """(N, C, d1, ...) -> (N, d1, ..., C): the class dim last, for one_hot products."""
    if x.ndim <= 2:
        return x
    return x.permute(0, *range(2, x.ndim), 1)


def _target_mask(target: Tensor, classes: int, ignore_index: int) -> Tensor:
    """The one-hot targets as a bool mask, all False where the target is `ignore_index`. Any
    other target outside [0, classes) is an IndexError as in PyTorch (at once for data at
    hand, after the run for targets computed on the device: pyflame/checks.py)."""
    if target.dtype.is_floating_point:
        raise TypeError(
            f"{format_location(user_location())}: class-index targets must be "
            f"integers, got {target.dtype!r}"
        )

    def message(value: int, count: int) -> str:
        return (
            f"Target {value} is out of bounds: class indices must be in [0, {classes}) or "
            f"equal ignore_index ({ignore_index}); {count} target"
            f"{'s are' if count != 1 else ' is'} out of range"
        )

    mask = checked_one_hot_mask(target, classes, message, ignore_index=ignore_index)
    if 0 <= ignore_index < classes:
        mask = mask & (target != ignore_index).unsqueeze(-1)
    return mask


@at_callers_line
def nll_loss(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    size_average: bool | None = None,
    ignore_index: int = -100,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Tensor:
    """Negative log-likelihood of class indices: input holds log-probabilities (N, C, ...).
    The arguments are torch.nn.functional.nll_loss's, in its order."""
    reduction = legacy_reduction(size_average, reduce, reduction)
    classes = input.shape[1] if input.ndim > 1 else input.shape[0]
    logp = _class_dim_last(input)
    if tuple(logp.shape[:-1]) != tuple(target.shape):
        raise ShapeError(
            f"{format_location(user_location())}: target shape {list(target.shape)} does not "
            f"match input shape {list(input.shape)} (class dim 1)"
        )
    mask = _target_mask(target, classes, ignore_index)
    picked = -ops.where(mask, logp, 0.0).sum(dim=-1)  # not hot * logp: 0 * -inf is NaN
    hot = mask.astype(logp.dtype)
    if weight is not None:  # each sample's class weight (0 for an ignored one)
        w = (hot * weight).sum(dim=-1)
        loss = picked * w
    else:  # 1 for each sample that counts (laid out as the mask: no data moves)
        w = hot.sum(dim=-1)
        loss = picked
    if reduction == "mean":
        return loss.sum() / w.sum()
    return _reduce(loss, reduction)


@at_callers_line
def cross_entropy(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    size_average: bool | None = None,
    ignore_index: int = -100,
    reduce: bool | None = None,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Tensor:
    """log_softmax over dim 1, then the negative log-likelihood of the targets: class indices
    (int) or class probabilities (float, the input's shape). The arguments are
    torch.nn.functional.cross_entropy's, in its order."""
    reduction = legacy_reduction(size_average, reduce, reduction)
    dim = 1 if input.ndim > 1 else 0
    logp = ops.log_softmax(input, dim)
    classes = input.shape[dim]
    if target.dtype.is_floating_point:  # class probabilities
        if tuple(target.shape) != tuple(input.shape):  # PyTorch refuses to broadcast them
            raise ShapeError(
                f"{format_location(user_location())}: cross_entropy: class-probability target "
                f"shape {list(target.shape)} does not match input shape {list(input.shape)} "
                "(give class indices as an int tensor, or probabilities of the input's shape)"
            )
        probs = target
        if label_smoothing:
            probs = probs * (1 - label_smoothing) + label_smoothing / classes
        terms = probs * logp
        if weight is not None:
            terms = terms * weight.reshape((classes,) + (1,) * (input.ndim - dim - 1))
        return _reduce(-terms.sum(dim=dim), reduction)
    nll = nll_loss(logp, target, weight, ignore_index=ignore_index, reduction=reduction)
    if not label_smoothing:
        return nll
    # PyTorch: (1 - eps) * nll + eps * mean over classes of -log p (weighted, masked alike)
    lp = _class_dim_last(logp)
    valid = (target != ignore_index).astype(lp.dtype)
    smooth = -(lp * weight).sum(dim=-1) if weight is not None else -lp.sum(dim=-1)
    # masked by where, as PyTorch's masked_fill_: an ignored place gives 0 and passes no
    # gradient, even when its term is inf (a -inf logit) or the mean's 1 / 0 (all ignored)
    smooth = ops.where(target == ignore_index, 0.0, smooth) / classes
    if reduction == "mean":
        if weight is not None:
            hot = _target_mask(target, classes, ignore_index).astype(lp.dtype)
            denom = (hot * weight).sum()
        else:
            denom = valid.sum()
        smooth = smooth.sum() / denom
    else:
        smooth = _reduce(smooth, reduction)
    return nll * (1 - label_smoothing) + smooth * label_smoothing


# --------------------------------------------------------------------------- smooth L1, Huber


def smooth_l1_loss(
    input: Tensor,
    target: Tensor,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
    beta: float = 1.0,
) -> Tensor:
    """0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta (d = input - target); beta = 0 is
    `l1_loss`, a negative beta PyTorch's RuntimeError. A target of another shape is broadcast
    with a UserWarning, as in PyTorch."""
    reduction = legacy_reduction(size_average, reduce, reduction)
    _check_target_size(input, target, "smooth_l1_loss")
    if beta < 0:
        raise RuntimeError(
            f"{format_location(user_location())}: smooth_l1_loss does not support negative "
            f"values for beta (got {beta})."
        )
    diff = input - target
    if beta == 0:
        return _reduce(ops.abs(diff), reduction)
    size = ops.abs(diff)
    near = _inside(diff, size < beta)
    loss = ops.where(size < beta, near * near * 0.5 / beta, size - 0.5 * beta)
    if loss.requires_grad:
        loss._grad_fn = HuberSlope(input, target, beta, 1.0, beta)
    return _reduce(loss, reduction)


class HuberSlope:
    """Gradient rule of smooth_l1 (`edge` = `divisor` = beta, `outer` = 1) and huber (`edge`
    = `outer` = delta, `divisor` = 1) before their reduction, PyTorch's: g times -outer below
    -edge, outer above edge, else d / divisor, d = input - target; the target gets its
    negation.
    So a NaN difference (a NaN operand, inf - inf) gives a NaN gradient, as PyTorch's, where
    the where between the two sides gave 0 (the linear side's sign(NaN) is 0)."""

    def __init__(self, input: Tensor, target: Tensor, edge: float, outer: float, divisor: float):
        self.inputs, self.edge, self.outer, self.divisor = (input, target), edge, outer, divisor

    def __call__(self, node: Tensor, g: Tensor) -> Sequence[Tensor | None]:
        input, target = self.inputs
        diff = input - target
        inner = diff / self.divisor if self.divisor != 1.0 else diff
        slope = ops.where(
            diff < -self.edge, -self.outer, ops.where(diff > self.edge, self.outer, inner)
        )
        dx = g * slope
        return [dx if input.requires_grad else None, -dx if target.requires_grad else None]


def _inside(diff: Tensor, inside: Tensor) -> Tensor:
    """`diff` where `inside`, else 0: the quadratic side of smooth_l1/huber sees no infinite
    difference, whose zero gradient times inf was NaN (PyTorch's: +-1, or +-delta)."""
    return ops.where(inside, diff, 0.0)


def huber_loss(
    input: Tensor,
    target: Tensor,
    reduction: str = "mean",
    delta: float = 1.0,
    weight: Tensor | None = None,
) -> Tensor:
    """0.5 d^2 where |d| < delta, else delta (|d| - 0.5 delta) (d = input - target); `weight`
    (the input's shape) multiplies each element before the reduction ('mean' stays the mean
    over elements, as PyTorch's). delta <= 0 is PyTorch's RuntimeError."""
    _check_target_size(input, target, "huber_loss")
    if delta <= 0:
        raise RuntimeError(
            f"{format_location(user_location())}: huber_loss does not support non-positive "
            f"values for delta (got {delta})."
        )
    diff = input - target
    size = ops.abs(diff)
    near = _inside(diff, size < delta)
    loss = ops.where(size < delta, near * near * 0.5, (size - 0.5 * delta) * delta)
    if loss.requires_grad:
        loss._grad_fn = HuberSlope(input, target, delta, delta, 1.0)
    if weight is not None:
        if tuple(weight.shape) != tuple(input.shape):
            raise ShapeError(
                f"{format_location(user_location())}: huber_loss: Weights and input must have "
                f"the same size (weight {list(weight.shape)}, input {list(input.shape)})."
            )
        loss = loss * weight
    return _reduce(loss, reduction)


# --------------------------------------------------------------------------- binary cross-entropy

#: PyTorch's floor of p (1 - p) in binary_cross_entropy's input gradient
_BCE_EPS = 1e-12


def _not_differentiable(t: Tensor | None, function: str, argument: str) -> None:
    if t is not None and t.requires_grad and is_grad_enabled():
        raise RuntimeError(
            f"{format_location(user_location())}: The function '{function}' is not "
            f"differentiable with respect to argument '{argument}'. This input cannot have "
            "requires_grad True."
        )


def _check_unit_interval(t: Tensor, what: str, guarded: Tensor, location: Location) -> None:
    """PyTorch's RuntimeError when an element of `t` is outside [0, 1] (or NaN): at once for
    data at hand, else after the run that computes `guarded` (pyflame/checks.py)."""

    def message(value: int, count: int) -> str:
        return (
            f"all elements of {what} should be between 0 and 1 ({count} element"
            f"{'s are' if count != 1 else ' is'} not)"
        )

    data = _data_at_hand(t)
    if data is not None:
        bad_now = ~((data >= 0) & (data <= 1))
        shown = np.zeros(bad_now.shape, np.int32)
        checks.check_now(bad_now, shown, message, error=RuntimeError, location=location)
        return
    with no_grad():
        bad = ops.logical_not((t >= 0) & (t <= 1))
        zeros = ops.zeros(bad.shape, dtype=int32)
    checks.add_check(guarded, bad, zeros, message, error=RuntimeError, location=location)


class BinaryCrossEntropy:
    """Gradient rule of binary_cross_entropy's elementwise loss, PyTorch's: the input gets
    g (p - t) / max(p (1 - p), 1e-12) (not the derivative of the clamped logs, which is NaN
    at p = 0 or 1), the target g (log(1 - p) - log p) = -g logit(p)."""

    def __init__(self, input: Tensor, target: Tensor):
        self.input, self.target = input, target
        self.inputs = (input, target)

    def __call__(self, node: Tensor, g: Tensor) -> Sequence[Tensor | None]:
        p, t = self.input, self.target
        dp = g * (p - t) / ops.maximum((1 - p) * p, _BCE_EPS) if p.requires_grad else None
        dt = g * -ops.log(p / (1 - p)) if t.requires_grad else None
        return [dp, dt]


@composite(
    lambda out, input, target, weight=None, *args, **kwargs: (input, target, weight),
    "BinaryCrossEntropy",
)
def binary_cross_entropy(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Tensor:
    """-weight (t log p + (1 - t) log(1 - p)), each log clamped at -100 as PyTorch's (so
    p = 0 or 1 gives 100 at most, never inf). Input and target must have the same shape
    (PyTorch's ValueError) and lie in [0, 1] (its RuntimeError, after the run for values
    computed on the device); `weight` broadcasts to the target's shape."""
    location = user_location()
    reduction = legacy_reduction(size_average, reduce, reduction)
    if tuple(target.shape) != tuple(input.shape):
        raise ShapeError(
            f"{format_location(location)}: binary_cross_entropy: Using a target size "
            f"({list(target.shape)}) that is different to the input size "
            f"({list(input.shape)}) is deprecated. Please ensure they have the same size."
        )
    if weight is not None and _broadcast(weight.shape, target.shape) != tuple(target.shape):
        raise ShapeError(
            f"{format_location(location)}: binary_cross_entropy: weight of shape "
            f"{list(weight.shape)} cannot be broadcast to the target's shape {list(target.shape)}"
        )
    _not_differentiable(weight, "binary_cross_entropy", "weight")
    log_p = ops.clamp(ops.log(input), min=-100.0)
    log_q = ops.clamp(ops.log(1 - input), min=-100.0)
    loss = -(target * log_p + (1 - target) * log_q)
    if loss.requires_grad:
        loss._grad_fn = BinaryCrossEntropy(input, target)
    _check_unit_interval(input, "input", loss, location)
    _check_unit_interval(target, "target", loss, location)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def _broadcast(*shapes: Sequence[int]) -> tuple[int, ...] | None:
    try:
        return tuple(np.broadcast_shapes(*(tuple(s) for s in shapes)))
    except ValueError:
        return None


def _log_sigmoid(x: Tensor) -> Tensor:
    """log(sigmoid(x)) without overflow: min(x, 0) - log1p(exp(-|x|)) (PyTorch's kernel)."""
    return ops.minimum(x, 0.0) - ops.log1p(ops.exp(-ops.abs(x)))


class BinaryCrossEntropyWithLogits:
    """Gradient rule of binary_cross_entropy_with_logits' elementwise loss (before `weight`),
    PyTorch's: the input gets g ((pw t + 1 - t) sigmoid(x) - pw t), the target
    g (log_sigmoid(-x) - pw log_sigmoid(x)) (pw = pos_weight; without it g (sigmoid(x) - t)
    and -g x)."""

    def __init__(self, input: Tensor, target: Tensor, pos_weight: Tensor | None):
        self.input, self.target, self.pos_weight = input, target, pos_weight
        self.inputs = (input, target)

    def __call__(self, node: Tensor, g: Tensor) -> Sequence[Tensor | None]:
        x, t, pw = self.input, self.target, self.pos_weight
        dx = dt = None
        if x.requires_grad:
            if pw is None:
                dx = g * (ops.sigmoid(x) - t)
            else:
                pt = pw * t
                dx = g * ((pt + 1 - t) * ops.sigmoid(x) - pt)
        if t.requires_grad:
            dt = -g * x if pw is None else g * (_log_sigmoid(-x) - _log_sigmoid(x) * pw)
        return [dx, dt]


@composite(
    lambda out, input, target, weight=None, size_average=None, reduce=None, reduction="mean", pos_weight=None: (
        input,
        target,
        weight,
        pos_weight,
    ),
    "BinaryCrossEntropyWithLogits",
)
def binary_cross_entropy_with_logits(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
    pos_weight: Tensor | None = None,
) -> Tensor:
    """Binary cross-entropy of sigmoid(input), in PyTorch's stable form:
    weight ((1 - t) x - (1 + (pos_weight - 1) t) log_sigmoid(x)); `pos_weight` (broadcast
    along the last dims, usually one per class) weighs the positive term. Input and target
    must have the same shape (PyTorch's ValueError)."""
    location = user_location()
    reduction = legacy_reduction(size_average, reduce, reduction)
    if tuple(target.shape) != tuple(input.shape):
        raise ShapeError(
            f"{format_location(location)}: binary_cross_entropy_with_logits: Target size "
            f"({list(target.shape)}) must be the same as input size ({list(input.shape)})"
        )
    _not_differentiable(weight, "binary_cross_entropy_with_logits", "weight")
    _not_differentiable(pos_weight, "binary_cross_entropy_with_logits", "pos_weight")
    log_sig = _log_sigmoid(input)
    if pos_weight is not None:
        log_sig = log_sig * ((pos_weight - 1) * target + 1)
    loss = (1 - target) * input - log_sig
    if loss.requires_grad:
        loss._grad_fn = BinaryCrossEntropyWithLogits(input, target, pos_weight)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


# --------------------------------------------------------------------------- KL divergence


class XLogY:
    """Gradient rule of `_xlogy(x, y)`, PyTorch's: x gets xlogy(g, y), 0 where x == 0 and
    y <= 0; y gets g x / y (NaN at x = y = 0, as PyTorch's)."""

    def __init__(self, x: Tensor, y: Tensor):
        self.x, self.y = x, y
        self.inputs = (x, y)

    def __call__(self, node: Tensor, g: Tensor) -> Sequence[Tensor | None]:
        x, y = self.x, self.y
        dx = dy = None
        if x.requires_grad:
            dx = ops.where((x == 0) & (y <= 0), 0.0, _xlogy(g, y))
        if y.requires_grad:
            dy = g * x / y
        return [dx, dy]


@composite(lambda out, x, y: (x, y), "Xlogy")
def _xlogy(x: Tensor, y: Tensor) -> Tensor:
    """x log y, 0 where x == 0 (even where y is 0 or inf), NaN where y is NaN: `torch.xlogy`."""
    zero = (x == 0) & ops.logical_not(ops.isnan(y))
    out = ops.where(zero, 0.0, x * ops.log(y))
    if out.requires_grad:
        out._grad_fn = XLogY(x, y)
    return out


def kl_div(
    input: Tensor,
    target: Tensor,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
    log_target: bool = False,
) -> Tensor:
    """Kullback-Leibler divergence of the target from the input, both log-probabilities
    (`log_target=True`: exp(t) (t - x)) or the input only (t log t - t x, 0 where t == 0, as
    PyTorch's xlogy). 'batchmean' is the sum over the size of dim 0, the mathematical KL
    divergence; 'mean' divides by every element and warns, as in PyTorch."""
    if size_average is not None or reduce is not None:
        reduction = legacy_reduction(size_average, reduce, reduction)
    elif reduction == "mean":
        warnings.warn(
            "reduction: 'mean' divides the total loss by both the batch size and the support "
            "size.'batchmean' divides only by the batch size, and aligns with the KL div math "
            "definition.'mean' will be changed to behave the same as 'batchmean' in the next "
            "major release.",
            UserWarning,
            stacklevel=user_stacklevel(),
        )
    if reduction not in ("none", "batchmean", "sum", "mean"):
        raise ValueError(f"{reduction} is not a valid value for reduction")
    if log_target:
        loss = ops.exp(target) * (target - input)
    else:
        loss = _xlogy(target, target) - target * input
    if reduction != "batchmean":
        return _reduce(loss, reduction)
    total = loss.sum()
    return total / input.shape[0] if input.ndim else total


# --------------------------------------------------------------------------- Poisson, Gaussian


def poisson_nll_loss(
    input: Tensor,
    target: Tensor,
    log_input: bool = True,
    full: bool = False,
    size_average: bool | None = None,
    eps: float = 1e-8,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Tensor:
    """Negative log-likelihood of a Poisson target (ATen's poisson_nll_loss): exp(x) - t x
    with `log_input` (x the log-rate), else x - t log(x + eps); `full` adds the Stirling term
    t log t - t + log(2 pi t) / 2 where t > 1."""
    reduction = legacy_reduction(size_average, reduce, reduction)
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(reduction + " is not a valid value for reduction")
    if log_input:
        loss = ops.exp(input) - target * input
    else:
        loss = input - target * ops.log(input + eps)
    if full:
        above = target > 1
        t = ops.where(above, target, 2.0)  # a safe value where masked: no NaN gradient
        stirling = t * ops.log(t) - t + ops.log(t * (2 * np.pi)) * 0.5
        loss = loss + ops.where(above, stirling, 0.0)
    return _reduce(loss, reduction)


def gaussian_nll_loss(
    input: Tensor,
    target: Tensor,
    var: Tensor | float,
    full: bool = False,
    eps: float = 1e-6,
    reduction: str = "mean",
) -> Tensor:
    """Negative log-likelihood of a Gaussian target (torch.nn.functional's):
    (log(var) + (x - t)^2 / var) / 2 (+ log(2 pi) / 2 with `full`). `var` is the input's
    shape, one dim short of it, or one dim of size 1 (homoscedastic); it is clamped to at
    least eps in value only, as PyTorch's clamp under no_grad (the gradient passes whole).
    A negative var is PyTorch's ValueError (at once for data at hand, after the run for
    values computed on the device)."""
    location = user_location()
    if isinstance(var, (int, float)):
        if var < 0:
            raise ValueError("var has negative entry/entries")
        var = ops.full(input.shape, float(var), dtype=input.dtype)
    elif tuple(var.shape) != tuple(input.shape):
        if tuple(input.shape[:-1]) == tuple(var.shape):
            var = var.unsqueeze(-1)
        elif not (
            input.ndim == var.ndim
            and sum(v for i, v in zip(input.shape, var.shape, strict=True) if i != v) == 1
        ):
            raise ValueError(
                f"{format_location(location)}: var is of incorrect size (var "
                f"{list(var.shape)}, input {list(input.shape)})"
            )
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(reduction + " is not valid")
    with no_grad():
        lift = ops.clamp(var, min=eps) - var
    clamped = var + lift
    loss = (ops.log(clamped) + (input - target) ** 2 / clamped) * 0.5
    if full:
        loss = loss + 0.5 * float(np.log(2 * np.pi))
    _check_non_negative(var, loss, location)
    return _reduce(loss, reduction)


def _check_non_negative(var: Tensor, guarded: Tensor, location: Location) -> None:
    def message(value: int, count: int) -> str:
        return f"var has negative entry/entries ({count} element{'s' if count != 1 else ''})"

    data = _data_at_hand(var)
    if data is not None:
        bad_now = data < 0
        shown = np.zeros(bad_now.shape, np.int32)
        checks.check_now(bad_now, shown, message, error=ValueError, location=location)
        return
    with no_grad():
        bad = var < 0
        zeros = ops.zeros(bad.shape, dtype=int32)
    checks.add_check(guarded, bad, zeros, message, error=ValueError, location=location)
