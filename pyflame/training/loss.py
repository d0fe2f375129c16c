"""What one step computes besides the model: the masked loss of a padded batch and the metrics.

A short batch is padded to the compiled batch size; `loss_rule` says how the loss of the real
rows alone is obtained from `loss_fn`, `masked_loss` computes it, `correct` is the accuracy
metric.
"""

from __future__ import annotations

import inspect
from typing import Any

from pyflame import ops
from pyflame.core.dtypes import float32
from pyflame.lazy_tensor import Tensor

BUILTIN_METRICS = ("loss", "accuracy")


def metric_name(metric: Any) -> str:
    if isinstance(metric, str):
        if metric not in BUILTIN_METRICS:
            raise ValueError(
                f"unknown metric {metric!r}: use one of {', '.join(BUILTIN_METRICS)}"
                ", a callable fn(output, target) or a (name, fn) pair"
            )
        return metric
    if isinstance(metric, tuple) and len(metric) == 2 and callable(metric[1]):
        return str(metric[0])
    if callable(metric):
        return str(getattr(metric, "__name__", type(metric).__name__))
    raise ValueError(f"a metric is a name, a callable or a (name, fn) pair, got {metric!r}")


def per_sample_values(values: Tensor, batch: int, how: str = "mean") -> Tensor:
    """[B, ...] -> [B] (mean or sum over the non-batch dims)."""
    if values.ndim == 0 or values.shape[0] != batch:
        raise ValueError(
            f"expected per-sample values of shape [{batch}, ...], got {list(values.shape)}"
        )
    if values.ndim == 1:
        return values
    flat = values.reshape(batch, -1)
    return flat.sum(dim=1) if how == "sum" else flat.mean(dim=1)


def correct(output: Tensor, target: Tensor) -> Tensor:
    """Per-sample accuracy (float32 [N]) of an (N, C, ...) output: argmax over dim 1 against
    class-index targets (N, ...), or against the argmax of probability targets (N, C, ...)."""
    if not isinstance(output, Tensor) or output.ndim < 2:
        raise ValueError(
            "the accuracy metric needs an (N, C, ...) output of class scores, got "
            f"{getattr(output, 'shape', type(output).__name__)}"
        )
    if target.dtype.is_floating_point and tuple(target.shape) == tuple(output.shape):
        target = target.argmax(dim=1)
    expected = (output.shape[0],) + tuple(output.shape[2:])
    if target.dtype.is_floating_point or tuple(target.shape) != expected:
        raise ValueError(
            f"the accuracy metric needs class-index targets of shape "
            f"{list(expected)} (or probabilities shaped like the output), got "
            f"{list(target.shape)} {target.dtype!r}"
        )
    hits = (output.argmax(dim=1) == target).astype(float32)
    return per_sample_values(hits, output.shape[0])


def _signature_default(fn: Any, name: str) -> Any:
    try:
        param = inspect.signature(fn).parameters.get(name)
    except (TypeError, ValueError):
        return None
    if param is None or param.default is inspect.Parameter.empty:
        return None
    return param.default


def loss_rule(loss_fn: Any, integer_targets: bool) -> str:
    """How `Trainer` gets the loss of the real rows of a padded batch from `loss_fn`:

    "ignore_index": a loss with an `ignore_index` attribute (`nn.CrossEntropyLoss`,
        `nn.NLLLoss`) or parameter (`F.cross_entropy`, `F.nll_loss`, a functools.partial of
        them) and class-index targets: padded rows get that target, and the loss's own
        reduction skips them (class weights, label smoothing, targets already ignored:
        exactly PyTorch's value; the "reduction" rule's mean over rows divided by every row,
        ignored ones too, and left the class weights out of the denominator).
    "reduction": a loss with a `reduction` attribute (`nn.MSELoss`, ...) or a `reduction=`
        keyword (`F.mse_loss`, `F.cross_entropy`): it is asked for `reduction='none'`, each
        sample's values are averaged (summed for 'sum' and 'batchmean') over the non-batch
        dims, and the loss is the mean (sum for 'sum') of that over the real rows, with 0/1
        row weights.
    "per_row": any other callable: it is called on each row (`out[i:i+1], target[i:i+1]`)
        and the loss is the mean over the real rows (right for any loss that averages over
        samples; the graph grows with the batch size).
    """
    if integer_targets and isinstance(ignore_index_of(loss_fn), int):
        return "ignore_index"
    if isinstance(getattr(loss_fn, "reduction", None), str):
        return "reduction"
    if isinstance(_signature_default(loss_fn, "reduction"), str):
        return "reduction"
    return "per_row"


def ignore_index_of(loss_fn: Any) -> Any:
    """The `ignore_index` of a loss module (its attribute) or function (its parameter's
    default, a functools.partial's keyword), else None."""
    value = getattr(loss_fn, "ignore_index", None)
    return value if value is not None else _signature_default(loss_fn, "ignore_index")


def _reduction_of(loss_fn: Any) -> str:
    """'sum', 'batchmean' (KLDivLoss: the sum over each sample, the mean over samples) or
    'mean'."""
    value = getattr(loss_fn, "reduction", None)
    if not isinstance(value, str):
        value = _signature_default(loss_fn, "reduction")
    return value if value in ("sum", "batchmean") else "mean"


def _call_unreduced(loss_fn: Any, output: Any, target: Tensor) -> Tensor:
    if isinstance(getattr(loss_fn, "reduction", None), str):
        saved = loss_fn.reduction
        loss_fn.reduction = "none"
        try:
            return loss_fn(output, target)
        finally:
            loss_fn.reduction = saved
    return loss_fn(output, target, reduction="none")


def _row(value: Any, i: int) -> Any:
    if isinstance(value, Tensor):
        return value[i : i + 1]
    if isinstance(value, (tuple, list)):
        return type(value)(_row(v, i) for v in value)
    return value


def _masked(per_sample: Tensor, mask: Tensor, reduction: str) -> Tensor:
    total = (per_sample * mask).sum()
    return total if reduction == "sum" else total / mask.sum()


def masked_loss(loss_fn: Any, rule: str, output: Any, target: Tensor, mask: Tensor) -> Tensor:
    """The scalar loss of the rows where `mask` (float32 [B]) is 1, by `rule` (`loss_rule`)."""
    batch = mask.shape[0]
    if rule == "ignore_index":  # the targets of padded rows already are ignore_index
        loss = loss_fn(output, target)
        return loss if loss.ndim == 0 else _masked(per_sample_values(loss, batch), mask, "mean")
    if rule == "reduction":
        reduction = _reduction_of(loss_fn)
        values = _call_unreduced(loss_fn, output, target)
        if values.ndim == 0:  # the loss ignored reduction='none'
            return masked_loss(loss_fn, "per_row", output, target, mask)
        over_sample = "sum" if reduction in ("sum", "batchmean") else "mean"
        over_rows = "sum" if reduction == "sum" else "mean"
        return _masked(per_sample_values(values, batch, over_sample), mask, over_rows)
    row_losses = [loss_fn(_row(output, i), target[i : i + 1]).reshape(1) for i in range(batch)]
    return _masked(ops.cat(row_losses), mask, "mean")
