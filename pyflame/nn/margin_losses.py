"""Margin and embedding losses of `pf.nn.functional`, each PyTorch's formula (ATen's kernel or
torch.nn.functional's Python) spelled with PyFlame's ops, so gradients follow; where a kernel
passes no gradient at its hinge (z > 0 strictly) the hinge is `relu`, where it calls
`clamp_min` (gradient on the bound too) it is `clamp(min=0)`, as in PyTorch:

    F.margin_ranking_loss(x1, x2, y, margin=0)     # clamp_min(-y (x1 - x2) + margin, 0)
    F.hinge_embedding_loss(x, y, margin=1)         # x where y == 1, max(0, margin - x) where -1
    F.soft_margin_loss(x, y)                       # log1p(exp(-y x))
    F.multilabel_soft_margin_loss(x, y, weight)    # -(y logsig(x) + (1-y) logsig(-x)), class mean
    F.multilabel_margin_loss(x, y)                 # sum over targets j, non-targets i of
                                                   #   max(0, 1 - (x[y_j] - x[i])) / C
    F.multi_margin_loss(x, y, p=1, margin=1, w)    # sum over i != y of w[y] max(0, margin -
                                                   #   x[y] + x[i]) ** p / C
    F.cosine_embedding_loss(x1, x2, y, margin=0)   # 1 - cos where y == 1, clamp_min(cos -
                                                   #   margin, 0) where y == -1
    F.triplet_margin_loss(a, p, n, margin=1, p=2)  # clamp_min(margin + d(a, p) - d(a, n), 0)

Reductions 'mean' (default), 'sum', 'none'; the legacy `size_average` / `reduce` decide it
with PyTorch's warning. Class-index targets out of range are PyTorch's RuntimeError (at once
for data at hand, after the run for targets computed on the device: pyflame/checks.py).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from pyflame import checks, ops
from pyflame.checks import data_at_hand
from pyflame.core.dtypes import int32
from pyflame.core.errors import ShapeError
from pyflame.grad_mode import no_grad
from pyflame.lazy_tensor import Location, Tensor, format_location, user_location
from pyflame.nn.activation import logsigmoid
from pyflame.nn.distance import pairwise_distance
from pyflame.nn.losses import _not_differentiable, legacy_reduction
from pyflame.ops.node import _check_tensor

_REDUCTIONS = ("mean", "sum", "none")


def _reduction(size_average: bool | None, reduce: bool | None, reduction: str) -> str:
    """The reduction the arguments ask for (PyTorch's ValueError for an unknown one)."""
    reduction = legacy_reduction(size_average, reduce, reduction)
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{reduction} is not a valid value for reduction")
    return reduction


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    return loss.sum() if reduction == "sum" else loss


def _error(message: str) -> RuntimeError:
    return RuntimeError(f"{format_location(user_location())}: {message}")


def _shape_error(message: str) -> ShapeError:
    return ShapeError(f"{format_location(user_location())}: {message}")


def _check_classes(
    target: Tensor,
    low: int,
    classes: int,
    guarded: Tensor,
    location: Location,
    message: str,
) -> None:
    """PyTorch's RuntimeError (`message`) for a class index outside [low, classes): at once
    for data at hand, else after the run that computes `guarded`."""

    def say(value: int, count: int) -> str:
        return f"{message} ({count} target{'s are' if count != 1 else ' is'} out of range)"

    data = data_at_hand(target)
    if data is not None:
        bad_now = (data < low) | (data >= classes)
        shown = np.zeros(bad_now.shape, np.int32)
        checks.check_now(bad_now, shown, say, error=RuntimeError, location=location)
        return
    with no_grad():
        bad = ops.logical_or(target < low, target >= classes)
        zeros = ops.zeros(bad.shape, dtype=int32)
    checks.add_check(guarded, bad, zeros, say, error=RuntimeError, location=location)


def _integer_target(target: Tensor, what: str) -> None:
    if target.dtype.is_floating_point or target.dtype.name == "bool":
        raise TypeError(
            f"{format_location(user_location())}: {what}: class-index targets must be "
            f"integers, got {target.dtype!r}"
        )


# --------------------------------------------------------------------------- pairwise margins


def margin_ranking_loss(
    input1: Tensor,
    input2: Tensor,
    target: Tensor,
    margin: float = 0,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Tensor:
    """clamp_min(-target (input1 - input2) + margin, 0) (torch.nn.functional's): target 1
    ranks input1 first, -1 input2; the three broadcast, and must have one rank (PyTorch's
    RuntimeError)."""
    reduction = _reduction(size_average, reduce, reduction)
    for t in (input1, input2, target):
        _check_tensor(t, "margin_ranking_loss")
    if not input1.ndim == input2.ndim == target.ndim:
        raise _error(
            "margin_ranking_loss : All input tensors should have same dimension but got sizes: "
            f"input1: {list(input1.shape)}, input2: {list(input2.shape)}, target: "
            f"{list(target.shape)}"
        )
    return _reduce(ops.clamp(-target * (input1 - input2) + margin, min=0.0), reduction)


def hinge_embedding_loss(
    input: Tensor,
    target: Tensor,
    margin: float = 1.0,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Tensor:
    """ATen's hinge_embedding_loss: clamp_min(margin - x, 0) where target != 1, plus x where
    target != -1 (so a target of 1 gives x, -1 the hinge, any other value both)."""
    reduction = _reduction(size_average, reduce, reduction)
    _check_tensor(input, "hinge_embedding_loss")
    _check_tensor(target, "hinge_embedding_loss")
    hinge = ops.where(target != 1, ops.clamp(margin - input, min=0.0), 0.0)
    return _reduce(hinge + ops.where(target != -1, input, 0.0), reduction)


def soft_margin_loss(
    input: Tensor,
    target: Tensor,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Tensor:
    """log(1 + exp(-target x)) (ATen's kernel: log1p(exp(-x t))), target +-1; a target that
    requires grad is PyTorch's RuntimeError (its kernel has no target gradient)."""
    reduction = _reduction(size_average, reduce, reduction)
    _check_tensor(input, "soft_margin_loss")
    _check_tensor(target, "soft_margin_loss")
    _not_differentiable(target, "soft_margin_loss", "target")
    return _reduce(ops.log1p(ops.exp(-input * target)), reduction)


# --------------------------------------------------------------------------- multi-class margins


def multilabel_soft_margin_loss(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Tensor:
    """-(t logsigmoid(x) + (1 - t) logsigmoid(-x)), times `weight`, averaged over the class
    dim (the last): one loss per sample (torch.nn.functional's)."""
    reduction = _reduction(size_average, reduce, reduction)
    _check_tensor(input, "multilabel_soft_margin_loss")
    _check_tensor(target, "multilabel_soft_margin_loss")
    loss = -(target * logsigmoid(input) + (1 - target) * logsigmoid(-input))
    if weight is not None:
        loss = loss * weight
    classes = input.shape[-1] if input.ndim else 1
    return _reduce(loss.sum(dim=input.ndim - 1 if input.ndim else None) / classes, reduction)


def _samples(input: Tensor, what: str) -> tuple[Tensor, int, int]:
    """(input as [N, C], N, C) of a [C] or [N, C] input (PyTorch's "non-empty vector or
    matrix with optional 0-dim batch size")."""
    if (
        input.ndim > 2
        or (input.ndim == 2 and input.shape[1] == 0)
        or (input.ndim == 1 and input.shape[0] == 0)
    ):
        raise _shape_error(
            f"{what}: Expected non-empty vector or matrix with optional 0-dim batch size, but "
            f"got: {list(input.shape)}"
        )
    if input.ndim == 2:
        return input, input.shape[0], input.shape[1]
    x = input.reshape(1, -1)
    return x, 1, x.shape[1]


def _picked(x: Tensor, index: Tensor) -> Tensor:
    """x[n, index[n, j]] for [N, C] x and [N, K] int index (the index clamped into range:
    places it does not count are masked by the caller)."""
    safe = ops.clamp(index, min=0, max=x.shape[1] - 1).astype(int32)
    return x.gather(1, safe)


def multi_margin_loss(
    input: Tensor,
    target: Tensor,
    p: int = 1,
    margin: float = 1.0,
    weight: Tensor | None = None,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Tensor:
    """ATen's multi_margin_loss of [C] or [N, C] scores and class indices: per sample the sum
    over the classes i != y of weight[y] max(0, margin - x[y] + x[i]) ** p, over C. p is 1
    or 2 (PyTorch's ValueError); the gradient is 0 where the hinge is exactly 0, as PyTorch's
    kernel (z > 0)."""
    location = user_location()
    reduction = _reduction(size_average, reduce, reduction)
    _check_tensor(input, "multi_margin_loss")
    _check_tensor(target, "multi_margin_loss")
    if p not in (1, 2):
        raise ValueError("only p == 1 and p == 2 supported")
    if weight is not None and weight.ndim != 1:
        raise ValueError("weight must be one-dimensional")
    _integer_target(target, "multi_margin_loss")
    x, frames, classes = _samples(input, "multi_margin_loss")
    if target.ndim > 1 or target.numel() != frames:
        raise _shape_error(
            "multi_margin_loss: target tensor should be 1-D with size equal to the number of "
            f"input samples (batch size). Expected target size [{frames}], but got "
            f"{list(target.shape)}. Input has shape {list(input.shape)}."
        )
    if weight is not None and weight.numel() != classes:
        raise _shape_error(
            f"inconsistent weight size, expected {classes} but got {list(weight.shape)}"
        )
    y = target.reshape(frames, 1)
    z = ops.relu(x - _picked(x, y) + margin)
    if p == 2:
        z = z * z
    if weight is not None:
        z = z * _picked(weight.reshape(1, classes).expand(frames, classes), y)
    other = ops.arange(classes, dtype=int32).reshape(1, classes) != y
    loss = ops.where(other, z, 0.0).sum(dim=1) / classes
    loss = loss.reshape(target.shape)
    _check_classes(target, 0, classes, loss, location, "target out of range")
    return _reduce(loss, reduction)


def multilabel_margin_loss(
    input: Tensor,
    target: Tensor,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Tensor:
    """ATen's multilabel_margin_loss of [C] or [N, C] scores: the target row holds class
    indices up to its first -1; per sample the sum over those targets j and the classes i
    that are no target of max(0, 1 - (x[y_j] - x[i])), over C (a target listed twice counts
    twice, as in PyTorch's loop; the gradient is 0 where the hinge is exactly 0)."""
    location = user_location()
    reduction = _reduction(size_average, reduce, reduction)
    _check_tensor(input, "multilabel_margin_loss")
    _check_tensor(target, "multilabel_margin_loss")
    _integer_target(target, "multilabel_margin_loss")
    x, frames, classes = _samples(input, "multilabel_margin_loss")
    expected = (classes,) if input.ndim <= 1 else (frames, classes)
    if tuple(target.shape) != expected and not (input.ndim <= 1 and target.numel() == classes):
        raise _shape_error(
            f"inconsistent target size: {list(target.shape)} for input of size: {list(input.shape)}"
        )
    y = target.reshape(frames, classes)
    # the targets are the entries before the row's first -1
    listed = ops.cumprod((y != -1).astype(int32), dim=1) != 0
    hot = ops.logical_and(
        listed.unsqueeze(2),
        y.unsqueeze(2) == ops.arange(classes, dtype=int32).reshape(1, 1, classes),
    )  # [N, j, i]: target j is class i
    is_target = ops.any(hot, dim=1)  # [N, i]
    hinge = ops.relu(1.0 - _picked(x, y).unsqueeze(2) + x.unsqueeze(1))  # [N, j, i]
    counted = ops.logical_and(listed.unsqueeze(2), ops.logical_not(is_target).unsqueeze(1))
    loss = ops.where(counted, hinge, 0.0).sum(dim=(1, 2)) / classes
    loss = loss.reshape(()) if input.ndim <= 1 else loss
    _check_classes(target, -1, classes, loss, location, "argument #2 'target' is out of range")
    return _reduce(loss, reduction)


# --------------------------------------------------------------------------- embeddings


_EPSILON = 1e-12  # ATen's cosine_embedding_loss


def cosine_embedding_loss(
    input1: Tensor,
    input2: Tensor,
    target: Tensor,
    margin: float = 0,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Tensor:
    """ATen's cosine_embedding_loss of [N, D] (or [D]) pairs and targets [N] (or []):
    1 - cos where target == 1, clamp_min(cos - margin, 0) where target == -1, 0 elsewhere;
    cos = sum(x1 x2) / sqrt((sum(x1^2) + 1e-12) (sum(x2^2) + 1e-12))."""
    reduction = _reduction(size_average, reduce, reduction)
    for t in (input1, input2, target):
        _check_tensor(t, "cosine_embedding_loss")
    if target.ndim not in (0, 1):
        raise _error("0D or 1D target tensor expected, multi-target not supported")
    rank = target.ndim + 1
    if input1.ndim != rank or input2.ndim != rank:
        raise _shape_error(
            f"{target.ndim}D target tensor expects {rank}D input tensors, but found inputs "
            f"with sizes {list(input1.shape)} and {list(input2.shape)}."
        )
    dim = target.ndim
    product = (input1 * input2).sum(dim=dim)
    norms = ((input1 * input1).sum(dim=dim) + _EPSILON) * (
        (input2 * input2).sum(dim=dim) + _EPSILON
    )
    cos = product / ops.sqrt(norms)
    positive = ops.where(target == 1, 1 - cos, 0.0)
    negative = ops.where(target == -1, ops.clamp(cos - margin, min=0.0), 0.0)
    return _reduce(positive + negative, reduction)


def _same_ranks(anchor: Tensor, positive: Tensor, negative: Tensor) -> None:
    if not anchor.ndim == positive.ndim == negative.ndim:
        raise _shape_error(
            "The anchor, positive, and negative tensors are expected to have the same number "
            f"of dimensions, but got: anchor {anchor.ndim}D, positive {positive.ndim}D, and "
            f"negative {negative.ndim}D inputs"
        )


def triplet_margin_loss(
    anchor: Tensor,
    positive: Tensor,
    negative: Tensor,
    margin: float = 1.0,
    p: float = 2,
    eps: float = 1e-6,
    swap: bool = False,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Tensor:
    """clamp_min(margin + d(a, p) - d(a, n), 0), d = `pairwise_distance(., ., p, eps)` over the
    last dim; `swap` takes min(d(a, n), d(p, n)) for the negative distance (ATen's)."""
    reduction = _reduction(size_average, reduce, reduction)
    if margin <= 0:
        raise ValueError(f"margin must be greater than 0, got {margin}")
    for t in (anchor, positive, negative):
        _check_tensor(t, "triplet_margin_loss")
    _same_ranks(anchor, positive, negative)
    return _triplet(
        anchor,
        positive,
        negative,
        lambda a, b: pairwise_distance(a, b, p, eps),
        margin,
        swap,
        reduction,
    )


def triplet_margin_with_distance_loss(
    anchor: Tensor,
    positive: Tensor,
    negative: Tensor,
    *,
    distance_function: Callable[[Tensor, Tensor], Tensor] | None = None,
    margin: float = 1.0,
    swap: bool = False,
    reduction: str = "mean",
) -> Tensor:
    """`triplet_margin_loss` with any distance (`pairwise_distance` by default), as
    torch.nn.functional's."""
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{reduction} is not a valid value for reduction")
    if margin <= 0:
        raise ValueError(f"margin must be greater than 0, got {margin}")
    for t in (anchor, positive, negative):
        _check_tensor(t, "triplet_margin_with_distance_loss")
    _same_ranks(anchor, positive, negative)
    distance = pairwise_distance if distance_function is None else distance_function
    return _triplet(anchor, positive, negative, distance, margin, swap, reduction)


def _triplet(
    anchor: Tensor,
    positive: Tensor,
    negative: Tensor,
    distance: Callable[[Tensor, Tensor], Tensor],
    margin: float,
    swap: bool,
    reduction: str,
) -> Tensor:
    dist_pos = distance(anchor, positive)
    dist_neg = distance(anchor, negative)
    if swap:
        dist_neg = ops.minimum(dist_neg, distance(positive, negative))
    return _reduce(ops.clamp(margin + dist_pos - dist_neg, min=0.0), reduction)


__all__ = [
    "cosine_embedding_loss",
    "hinge_embedding_loss",
    "margin_ranking_loss",
    "multi_margin_loss",
    "multilabel_margin_loss",
    "multilabel_soft_margin_loss",
    "soft_margin_loss",
    "triplet_margin_loss",
    "triplet_margin_with_distance_loss",
]
