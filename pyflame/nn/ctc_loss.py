"""`F.ctc_loss`: the connectionist temporal classification loss, -log p(target | input)
summed over every alignment, by the forward (alpha) recursion over the extended label
sequence l' = (blank, l1, blank, l2, ..., blank) of length 2S + 1:

    alpha_t(s) = (alpha_{t-1}(s) + alpha_{t-1}(s-1) + [skip] alpha_{t-1}(s-2)) * y_t(l'_s)

(skip where l'_s is a label other than l'_{s-2}), started from the first blank and the first
label, ended at the last label or the last blank. It runs in probability space, each step
normalised by its sum c_t (Graves et al.), so the loss is -(sum_t log c_t + log alpha_T):
finite and differentiable everywhere, without the -inf - -inf of a log-space recursion.
The time loop is unrolled when the graph is built (one small step per input frame);
samples whose input is shorter than the step has `t` keep their alphas.

Gradients come from these ops: the true derivative with respect to `log_probs`. PyTorch's
own formula adds exp(log_probs) to it (it assumes log_probs are log_softmax outputs); through
log_softmax, the documented use, the two are the same gradient of the logits.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from pyflame import ops
from pyflame.checks import data_at_hand
from pyflame.core.dtypes import int32
from pyflame.indexing import gather
from pyflame.lazy_tensor import Tensor, format_location, user_location
from pyflame.ops.node import _check_tensor, _shape_error


def _lengths(value: Any, what: str) -> np.ndarray:
    """Lengths given as a tensor with data, an array or a sequence of ints."""
    if isinstance(value, Tensor):
        data = data_at_hand(value)
        if data is None:
            raise ValueError(
                f"{format_location(user_location())}: ctc_loss needs {what} at hand (a tensor "
                "with data, not one computed in the graph): they decide the recursion's shape"
            )
        return np.asarray(data, np.int64).reshape(-1)
    return np.asarray(value, np.int64).reshape(-1)


def ctc_loss(
    log_probs: Tensor,
    targets: Tensor,
    input_lengths: Tensor | Sequence[int],
    target_lengths: Tensor | Sequence[int],
    blank: int = 0,
    reduction: str = "mean",
    zero_infinity: bool = False,
) -> Tensor:
    """torch.nn.functional.ctc_loss: `log_probs` (T, N, C) (or unbatched (T, C)),
    `targets` padded (N, S) or concatenated (sum of target_lengths), the lengths per sample.
    'mean' divides each loss by its target length (at least 1) and averages; a target that
    no alignment fits (input too short) costs inf, or 0 with `zero_infinity` (its gradient
    0), as PyTorch (decided for targets at hand)."""
    where = format_location(user_location())
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(f"{reduction} is not a valid value for reduction")
    _check_tensor(log_probs, "ctc_loss")
    _check_tensor(targets, "ctc_loss")
    if log_probs.ndim not in (2, 3):
        raise _shape_error(
            f"ctc_loss: log_probs must be (T, N, C) or unbatched (T, C), got {list(log_probs.shape)}"
        )
    unbatched = log_probs.ndim == 2
    lp = log_probs.unsqueeze(1) if unbatched else log_probs
    steps, batch, classes = lp.shape
    in_len = _lengths(input_lengths, "input_lengths")
    tgt_len = _lengths(target_lengths, "target_lengths")
    if not 0 <= blank < classes:
        raise RuntimeError(f"{where}: blank must be in label range")
    if in_len.size != batch or tgt_len.size != batch:
        raise _shape_error(
            f"ctc_loss: input_lengths ({in_len.size}) and target_lengths ({tgt_len.size}) must "
            f"have one entry per sample ({batch})"
        )
    if in_len.size and (in_len.max() > steps or in_len.min() < 0):
        raise RuntimeError(
            f"{where}: Expected input_lengths to have value at most {steps}, but got value "
            f"{int(in_len.max())}"
        )
    if targets.dtype.is_floating_point:
        raise TypeError(f"{where}: ctc_loss targets must be integers, got {targets.dtype!r}")
    longest = int(tgt_len.max()) if tgt_len.size else 0
    padded = _padded_targets(targets, tgt_len, batch, longest, unbatched, where)
    span = 2 * longest + 1
    # the extended labels [N, 2S + 1]: blank, l1, blank, l2, ..., blank
    blanks = ops.full((batch, max(longest, 1)), blank, dtype=int32)[:, :longest]
    labels = ops.stack([blanks, padded], dim=2).reshape(batch, 2 * longest)
    extended = ops.cat([labels, ops.full((batch, 1), blank, dtype=int32)], dim=1)
    position = np.arange(span)
    valid = position[None, :] < (2 * tgt_len[:, None] + 1)  # [N, L]
    final = (position[None, :] == 2 * tgt_len[:, None]) | (
        (position[None, :] == 2 * tgt_len[:, None] - 1) & (tgt_len[:, None] > 0)
    )
    infeasible = _infeasible(targets, tgt_len, in_len, longest)
    earlier = ops.cat([ops.full((batch, 2), -1, dtype=int32), extended[:, :-2]], dim=1)
    skip = ops.logical_and(extended != blank, extended != earlier).astype(lp.dtype)
    probs = ops.exp(lp)
    picked = gather(probs, 2, extended.unsqueeze(0).expand(steps, batch, span))  # [T, N, L]
    safe = np.zeros((batch, 1), bool) if infeasible is None else infeasible[:, None]
    # a sample no alignment fits runs on ones (finite, its result replaced below)
    picked = ops.where(ops.from_numpy(safe), 1.0, picked)
    valid_t = ops.from_numpy(valid.astype(np.float32)).astype(lp.dtype)
    start = ops.from_numpy((valid & (position[None, :] <= 1)).astype(np.float32)).astype(lp.dtype)
    alpha = picked[0] * start
    scale = alpha.sum(dim=1, keepdim=True)
    alpha = alpha / scale
    log_scale = ops.log(scale)
    for t in range(1, steps):
        active = ops.from_numpy((t < in_len)[:, None])
        step = picked[t]
        step = ops.where(active, step, 1.0)  # (finite for samples already ended)
        shifted1 = ops.pad(alpha, (1, 0))[:, :span]
        shifted2 = ops.pad(alpha, (2, 0))[:, :span] * skip
        new = (alpha + shifted1 + shifted2) * step * valid_t
        total = new.sum(dim=1, keepdim=True)
        alpha = ops.where(active, new / total, alpha)
        log_scale = log_scale + ops.where(active, ops.log(total), 0.0)
    ends = ops.from_numpy(final.astype(np.float32)).astype(lp.dtype)
    loss = -(log_scale.reshape(batch) + ops.log((alpha * ends).sum(dim=1)))
    empty_input = in_len == 0
    if infeasible is not None and (infeasible.any() or empty_input.any()):
        lost = ops.from_numpy(infeasible | empty_input)
        loss = ops.where(lost, 0.0 if zero_infinity else float("inf"), loss)
    elif zero_infinity:
        loss = ops.where(ops.isinf(loss), 0.0, loss)
    if reduction == "none":
        return loss.reshape(()) if unbatched else loss
    if reduction == "sum":
        return loss.sum()
    divisor = ops.from_numpy(np.maximum(tgt_len, 1).astype(np.float32)).astype(loss.dtype)
    return (loss / divisor).mean()


def _padded_targets(
    targets: Tensor, lengths: np.ndarray, batch: int, longest: int, unbatched: bool, where: str
) -> Tensor:
    """Targets as [N, S] int32: the padded form as given (its first S columns), the
    concatenated 1-D form cut at the lengths."""
    if targets.ndim == 2 or (unbatched and targets.ndim == 1 and lengths.size == 1 and batch == 1):
        rows = targets if targets.ndim == 2 else targets.unsqueeze(0)
        if rows.shape[1] < longest:
            raise RuntimeError(
                f"{where}: Expected tensor to have size at least {longest} at dimension 1, but "
                f"got size {rows.shape[1]} for argument #2 'targets'"
            )
        return rows[:, :longest].astype(int32)
    if targets.ndim != 1:
        raise _shape_error(f"ctc_loss: targets must be 1-D or 2-D, got {list(targets.shape)}")
    if int(lengths.sum()) > targets.shape[0]:
        raise RuntimeError(
            f"{where}: Expected tensor to have size at least {int(lengths.sum())} at dimension "
            f"0, but got size {targets.shape[0]} for argument #2 'targets'"
        )
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    index = starts[:, None] + np.minimum(
        np.arange(max(longest, 1))[None, :], np.maximum(lengths[:, None] - 1, 0)
    )
    flat = targets.astype(int32).index_select(0, ops.from_numpy(index.reshape(-1).astype(np.int32)))
    return flat.reshape(batch, max(longest, 1))[:, :longest]


def _infeasible(
    targets: Tensor, lengths: np.ndarray, input_lengths: np.ndarray, longest: int
) -> np.ndarray | None:
    """Samples whose input is shorter than their target needs (its length plus one frame per
    repeated label), for targets at hand; None when the targets are computed."""
    data = data_at_hand(targets)
    if data is None:
        return None
    data = np.asarray(data).reshape(-1) if data.ndim == 1 else np.asarray(data)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    need = lengths.copy()
    for n, length in enumerate(lengths):
        if data.ndim == 2:
            row = data[n, :length]
        elif lengths.size == 1 and data.size >= length and longest == length:
            row = data[:length]
        else:
            row = data[starts[n] : starts[n] + length]
        need[n] += int(np.sum(row[1:] == row[:-1]))
    return need > input_lengths


__all__ = ["ctc_loss"]
