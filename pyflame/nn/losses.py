"""Loss functions (`pf.nn.functional.mse_loss`, `l1_loss`, `cross_entropy`, `nll_loss`),
decomposed into flame primitives when the graph is built. Reductions: 'mean' (default), 'sum', 'none'."""

from __future__ import annotations

import warnings

import numpy as np

from pyflame import ops
from pyflame.core.errors import ShapeError
from pyflame.nn.sparse import checked_one_hot
from pyflame.ops.saved import composite
from pyflame.tensor import Tensor, format_location, user_location, user_stacklevel


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


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


@composite(lambda out, input, target, reduction="mean": (input, target), "MseLoss")
def mse_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """Mean squared error; a target of another shape is broadcast with a UserWarning, as in
    PyTorch."""
    _check_target_size(input, target, "mse_loss")
    diff = input - target
    return _reduce(diff * diff, reduction)


def l1_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """Mean absolute error; a target of another shape is broadcast with a UserWarning, as in
    PyTorch."""
    _check_target_size(input, target, "l1_loss")
    return _reduce(ops.abs(input - target), reduction)


def _class_dim_last(x: Tensor) -> Tensor:
    """(N, C, d1, ...) -> (N, d1, ..., C): the class dim last, for one_hot products."""
    if x.ndim <= 2:
        return x
    return x.permute(0, *range(2, x.ndim), 1)


def _targets(target: Tensor, classes: int, ignore_index: int) -> Tensor:
    """One-hot targets, all zeros where the target is `ignore_index`. Any other target outside
    [0, classes) is an IndexError as in PyTorch (at once for data at hand, after the run for
    targets computed on the device: pyflame/checks.py)."""
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

    hot = checked_one_hot(target, classes, message, ignore_index=ignore_index)
    if 0 <= ignore_index < classes:
        hot = hot * (target != ignore_index).unsqueeze(-1).astype(hot.dtype)
    return hot


def nll_loss(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    ignore_index: int = -100,
    reduction: str = "mean",
) -> Tensor:
    """Negative log-likelihood of class indices: input holds log-probabilities (N, C, ...)."""
    classes = input.shape[1] if input.ndim > 1 else input.shape[0]
    logp = _class_dim_last(input)
    if tuple(logp.shape[:-1]) != tuple(target.shape):
        raise ShapeError(
            f"{format_location(user_location())}: target shape {list(target.shape)} does not "
            f"match input shape {list(input.shape)} (class dim 1)"
        )
    hot = _targets(target, classes, ignore_index).astype(logp.dtype)
    picked = -ops.where(hot != 0, logp, 0.0).sum(dim=-1)  # not hot * logp: 0 * -inf is NaN
    w = (hot * weight).sum(dim=-1) if weight is not None else hot.sum(dim=-1)
    loss = picked * w if weight is not None else picked
    if reduction == "mean":
        return loss.sum() / w.sum()
    return _reduce(loss, reduction)


def cross_entropy(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Tensor:
    """log_softmax over dim 1, then the negative log-likelihood of the targets: class indices
    (int) or class probabilities (float, the input's shape)."""
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
    nll = nll_loss(logp, target, weight, ignore_index, reduction)
    if not label_smoothing:
        return nll
    # PyTorch: (1 - eps) * nll + eps * mean over classes of -log p (weighted, masked alike)
    lp = _class_dim_last(logp)
    valid = (target != ignore_index).astype(lp.dtype)
    smooth = -(lp * weight).sum(dim=-1) if weight is not None else -lp.sum(dim=-1)
    smooth = smooth * valid / classes
    if reduction == "mean":
        hot = _targets(target, classes, ignore_index).astype(lp.dtype)
        denom = (hot * weight).sum() if weight is not None else valid.sum()
        smooth = smooth.sum() / denom
    else:
        smooth = _reduce(smooth, reduction)
    return nll * (1 - label_smoothing) + smooth * label_smoothing
