"""`pf.training`: a training loop that compiles ONE program for the whole fit.

    trainer = pf.training.Trainer(
        model=model, optimizer=pf.optim.Adam(model.parameters(), lr=1e-3),
        loss_fn=pf.nn.CrossEntropyLoss(),
        config=pf.training.TrainerConfig(max_epochs=10, metrics=("loss", "accuracy")),
    )
    history = trainer.fit(train_batches, val_loader=test_batches)   # {"loss": [...], ...}
    trainer.evaluate(test_batches)                                  # {"loss": .., "accuracy": ..}

One step is forward (model in train mode, under `enable_grad`) + loss + `pf.backward(loss)` +
`optimizer.step()` + `pf.eval(loss, metrics...)`: one compiled program (the optimizer's
updates are pending state evaluated with the loss), compiled once and run for every batch.

Batches are `(inputs, targets)` pairs of numpy arrays or pf tensors (inputs may be a tuple of
several); a loader is any iterable of them that can be iterated once per epoch (a list, a
DataLoader-like object) or a callable returning a fresh iterator. The first batch fixes the
batch size (or `TrainerConfig.batch_size`); a shorter batch (the usual last one) is padded on
the host to that size with copies of its rows, and the padded rows get loss weight 0 (see
`Trainer` for how the loss is masked), so the program never changes. A batch larger than the
batch size is an error.
"""

from __future__ import annotations

import inspect
import json
import math
import os
import re
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pyflame import autograd, ops, runtime
from pyflame import io as pf_io
from pyflame import random as _random
from pyflame.batching import as_array, as_tuple, pad_rows, row_mask, rows
from pyflame.ir.dtypes import float32
from pyflame.tensor import Tensor

CHECKPOINT_KIND = "pyflame.training.checkpoint"
CHECKPOINT_SUFFIX = ".ckpt.safetensors"  # pf.save writes safetensors files
BUILTIN_METRICS = ("loss", "accuracy")


# --------------------------------------------------------------------------- configuration


@dataclass
class TrainerConfig:
    """How `Trainer.fit` runs.

    max_epochs: total epochs of the fit (a resumed fit continues up to it).
    metrics: "loss" (always computed), "accuracy" (argmax over dim 1 of an (N, C, ...) output
        against class-index targets, or against the argmax of probability targets), or a
        callable `fn(output, target) -> per-sample tensor` (shape [N] or [N, ...], averaged over
        the real samples; named by its `__name__`), or a `(name, fn)` pair.
    progress_bar: a tqdm bar per epoch showing the loss (a plain text line without tqdm).
    log_every_n_steps: also print a line with the step's metrics every n steps.
    batch_size: the compiled batch size (default: the size of the first batch).
    checkpoint_dir: where checkpoints go (`epoch-0001.ckpt.safetensors` at the end of every
        epoch, and `step-00000040.ckpt.safetensors` every `checkpoint_every_n_steps` steps when
        set), written with `pf.save`.
    keep_last: how many of the trainer's checkpoints (`epoch-*`/`step-*` files) to keep in
        `checkpoint_dir`, newest first: older ones are deleted after each save (default 3;
        None keeps every one). Other files in the directory are never touched.
    resume_from: a checkpoint file (or a directory: its newest checkpoint) to resume from at the
        start of the first `fit`.
    callbacks: objects with any of `on_fit_start(trainer)`, `on_step_end(trainer, step, logs)`,
        `on_epoch_end(trainer, epoch, logs)`, `on_fit_end(trainer)`; a plain callable is called
        as `fn(trainer, epoch, logs)` at the end of every epoch.
    """

    max_epochs: int = 1
    metrics: Sequence[Any] = ("loss",)
    progress_bar: bool = True
    log_every_n_steps: int | None = None
    batch_size: int | None = None
    checkpoint_dir: str | os.PathLike[str] | None = None
    checkpoint_every_n_steps: int | None = None
    keep_last: int | None = 3
    resume_from: str | os.PathLike[str] | None = None
    callbacks: Sequence[Any] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if self.max_epochs < 0:
            raise ValueError(f"max_epochs must be >= 0, got {self.max_epochs}")
        for name in ("log_every_n_steps", "batch_size", "checkpoint_every_n_steps",
                     "keep_last"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or int(value) < 1):
                raise ValueError(f"{name} must be a positive int or None, got {value!r}")
        if self.checkpoint_every_n_steps is not None and self.checkpoint_dir is None:
            raise ValueError("checkpoint_every_n_steps needs a checkpoint_dir")
        for m in self.metrics:
            _metric_name(m)  # raises for an unknown metric


# --------------------------------------------------------------------------- callbacks


class Callback:
    """Base class for trainer callbacks (every hook optional; `step` counts optimizer steps done,
    1 after the first; `epoch` is 0-based). Set `trainer.should_stop = True` to stop after the
    current step."""

    def on_fit_start(self, trainer: Trainer) -> None:
        pass

    def on_step_end(self, trainer: Trainer, step: int, logs: dict[str, Any]) -> None:
        pass

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, Any]) -> None:
        pass

    def on_fit_end(self, trainer: Trainer) -> None:
        pass


class LambdaCallback(Callback):
    """A callback from functions: `LambdaCallback(on_step_end=lambda tr, step, logs: ...)`."""

    def __init__(self, on_fit_start: Callable[..., Any] | None = None,
                 on_step_end: Callable[..., Any] | None = None,
                 on_epoch_end: Callable[..., Any] | None = None,
                 on_fit_end: Callable[..., Any] | None = None):
        for name, fn in (("on_fit_start", on_fit_start), ("on_step_end", on_step_end),
                         ("on_epoch_end", on_epoch_end), ("on_fit_end", on_fit_end)):
            if fn is not None:
                setattr(self, name, fn)


def _hook(callback: Any, event: str) -> Callable[..., Any] | None:
    if hasattr(callback, event):
        return getattr(callback, event)
    if event == "on_epoch_end" and callable(callback) and not any(
            hasattr(callback, e) for e in ("on_fit_start", "on_step_end", "on_fit_end")):
        return callback
    return None


# --------------------------------------------------------------------------- metrics


def _metric_name(metric: Any) -> str:
    if isinstance(metric, str):
        if metric not in BUILTIN_METRICS:
            raise ValueError(f"unknown metric {metric!r}: use one of {', '.join(BUILTIN_METRICS)}"
                             ", a callable fn(output, target) or a (name, fn) pair")
        return metric
    if isinstance(metric, tuple) and len(metric) == 2 and callable(metric[1]):
        return str(metric[0])
    if callable(metric):
        return str(getattr(metric, "__name__", type(metric).__name__))
    raise ValueError(f"a metric is a name, a callable or a (name, fn) pair, got {metric!r}")


def _per_sample(values: Tensor, batch: int, how: str = "mean") -> Tensor:
    """[B, ...] -> [B] (mean or sum over the non-batch dims)."""
    if values.ndim == 0 or values.shape[0] != batch:
        raise ValueError(f"expected per-sample values of shape [{batch}, ...], got "
                         f"{list(values.shape)}")
    if values.ndim == 1:
        return values
    flat = values.reshape(batch, -1)
    return flat.sum(dim=1) if how == "sum" else flat.mean(dim=1)


def correct(output: Tensor, target: Tensor) -> Tensor:
    """Per-sample accuracy (float32 [N]) of an (N, C, ...) output: argmax over dim 1 against
    class-index targets (N, ...), or against the argmax of probability targets (N, C, ...)."""
    if not isinstance(output, Tensor) or output.ndim < 2:
        raise ValueError("the accuracy metric needs an (N, C, ...) output of class scores, got "
                         f"{getattr(output, 'shape', type(output).__name__)}")
    if target.dtype.is_floating_point and tuple(target.shape) == tuple(output.shape):
        target = target.argmax(dim=1)
    expected = (output.shape[0],) + tuple(output.shape[2:])
    if target.dtype.is_floating_point or tuple(target.shape) != expected:
        raise ValueError(f"the accuracy metric needs class-index targets of shape "
                         f"{list(expected)} (or probabilities shaped like the output), got "
                         f"{list(target.shape)} {target.dtype!r}")
    hits = (output.argmax(dim=1) == target).astype(float32)
    return _per_sample(hits, output.shape[0])


# --------------------------------------------------------------------------- the masked loss


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
        `nn.NLLLoss`) and class-index targets: padded rows get that target, and the loss's
        own reduction skips them (class weights, label smoothing: exactly PyTorch's value).
    "reduction": a loss with a `reduction` attribute (`nn.MSELoss`, ...) or a `reduction=`
        keyword (`F.mse_loss`, `F.cross_entropy`): it is asked for `reduction='none'`, each
        sample's values are averaged (summed for 'sum') over the non-batch dims, and the loss
        is the mean (sum) of that over the real rows, with 0/1 row weights.
    "per_row": any other callable: it is called on each row (`out[i:i+1], target[i:i+1]`)
        and the loss is the mean over the real rows (right for any loss that averages over
        samples; the graph grows with the batch size).
    """
    if integer_targets and isinstance(getattr(loss_fn, "ignore_index", None), int):
        return "ignore_index"
    if isinstance(getattr(loss_fn, "reduction", None), str):
        return "reduction"
    if isinstance(_signature_default(loss_fn, "reduction"), str):
        return "reduction"
    return "per_row"


def _reduction_of(loss_fn: Any) -> str:
    value = getattr(loss_fn, "reduction", None)
    if not isinstance(value, str):
        value = _signature_default(loss_fn, "reduction")
    return "sum" if value == "sum" else "mean"


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
        return value[i:i + 1]
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
        return loss if loss.ndim == 0 else _masked(_per_sample(loss, batch), mask, "mean")
    if rule == "reduction":
        reduction = _reduction_of(loss_fn)
        values = _call_unreduced(loss_fn, output, target)
        if values.ndim == 0:  # the loss ignored reduction='none'
            return masked_loss(loss_fn, "per_row", output, target, mask)
        return _masked(_per_sample(values, batch, reduction), mask, reduction)
    values = [loss_fn(_row(output, i), target[i:i + 1]).reshape(1) for i in range(batch)]
    return _masked(ops.cat(values), mask, "mean")


# --------------------------------------------------------------------------- progress


class _Progress:
    """A tqdm bar when tqdm is installed (else one rewritten text line on stderr)."""

    def __init__(self, enabled: bool, total: int | None, desc: str, initial: int = 0):
        self.enabled, self.total, self.desc, self.n = enabled, total, desc, initial
        self.bar: Any = None
        self._last = 0.0
        if not enabled:
            return
        try:
            from tqdm.auto import tqdm
        except ImportError:
            return
        self.bar = tqdm(total=total, desc=desc, unit="step", initial=initial,
                        dynamic_ncols=True, leave=True)

    def update(self, logs: dict[str, float]) -> None:
        self.n += 1
        if not self.enabled:
            return
        shown = {k: f"{v:.4f}" for k, v in logs.items()}
        if self.bar is not None:
            self.bar.set_postfix(shown, refresh=False)
            self.bar.update(1)
            return
        now = time.monotonic()
        if now - self._last >= 0.1 or self.n == self.total:
            self._last = now
            of = f"/{self.total}" if self.total is not None else ""
            text = " ".join(f"{k} {v}" for k, v in shown.items())
            sys.stderr.write(f"\r{self.desc} {self.n}{of} {text}")
            sys.stderr.flush()

    def write(self, line: str) -> None:
        if self.bar is not None:
            self.bar.write(line)
        else:
            if self.enabled and self.n:
                sys.stderr.write("\n")
            print(line, flush=True)

    def close(self, logs: dict[str, float]) -> None:
        if not self.enabled:
            return
        shown = {k: f"{v:.4f}" for k, v in logs.items()}
        if self.bar is not None:
            self.bar.set_postfix(shown, refresh=False)
            self.bar.close()
            return
        of = f"/{self.total}" if self.total is not None else ""
        text = " ".join(f"{k} {v}" for k, v in shown.items())
        sys.stderr.write(f"\r{self.desc} {self.n}{of} {text}\n")
        sys.stderr.flush()


# --------------------------------------------------------------------------- helpers


def _batches(loader: Any, used: list[bool]) -> Iterator[Any]:
    """This epoch's batches (`used[0]` remembers that a one-shot iterator was consumed)."""
    if callable(loader) and not isinstance(loader, Iterable):
        return iter(loader())
    it = iter(loader)
    if it is loader:  # a one-shot iterator (generator): usable for one epoch only
        if used[0]:
            raise ValueError(
                "the loader is a one-shot iterator and was used up by an earlier epoch: pass a "
                "list, a re-iterable loader, or a callable returning a fresh iterator")
        used[0] = True
    return it


def _length(loader: Any) -> int | None:
    try:
        return len(loader)
    except TypeError:
        return None


def _split_batch(batch: Any) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
    if isinstance(batch, dict) and {"inputs", "targets"} <= batch.keys():
        inputs, targets = batch["inputs"], batch["targets"]
    else:
        try:
            inputs, targets = batch
        except (TypeError, ValueError):
            raise ValueError("a training batch is an (inputs, targets) pair, got "
                             f"{type(batch).__name__}") from None
    xs = tuple(as_array(x) for x in as_tuple(inputs))
    y = as_array(targets)
    n = rows(y, "target batch")
    for x in xs:
        if rows(x, "input batch") != n:
            raise ValueError(f"inputs have {x.shape[0]} rows but targets have {n}")
    return xs, y


def _rng_state() -> str:
    return json.dumps(_random._state["rng"].bit_generator.state)


def _set_rng_state(text: str) -> None:
    generator = np.random.default_rng()
    generator.bit_generator.state = json.loads(text)
    _random._state["rng"] = generator


def latest_checkpoint(directory: str | os.PathLike[str]) -> Path | None:
    """The most recently written checkpoint in `directory` (None if there is none)."""
    found = sorted(Path(directory).glob(f"*{CHECKPOINT_SUFFIX}"),
                   key=lambda p: (p.stat().st_mtime_ns, p.name))
    return found[-1] if found else None


#: the names the trainer gives its checkpoints (rotation only ever deletes these)
_TRAINER_CHECKPOINT = re.compile(r"^(epoch-\d{4,}|step-\d{8,})" + re.escape(CHECKPOINT_SUFFIX) + "$")


def rotate_checkpoints(directory: str | os.PathLike[str], keep_last: int,
                       written: Sequence[Path] = ()) -> list[Path]:
    """Delete all but the `keep_last` newest trainer checkpoints (`epoch-NNNN`, `step-NNNNNNNN`)
    in `directory`, never other files; returns the deleted paths. `written`: the checkpoints
    this process wrote, oldest first (newer than any other; file times can tie)."""
    order = {p.name: i for i, p in enumerate(written) if p.parent == Path(directory)}
    mine = [p for p in Path(directory).iterdir() if _TRAINER_CHECKPOINT.match(p.name)]
    mine.sort(key=lambda p: (p.name in order, order.get(p.name, 0), p.stat().st_mtime_ns,
                             p.name))
    doomed = mine[:max(len(mine) - keep_last, 0)]
    for p in doomed:
        p.unlink(missing_ok=True)
    return doomed


# --------------------------------------------------------------------------- the trainer


class Trainer:
    """Fits `model` with `optimizer` on `loss_fn(model(inputs), targets)`.

    `model` is a `pf.nn.Module` (or any callable; `train()`/`eval()`/`state_dict()` are used
    when present), `optimizer` a `pf.optim` optimizer over its parameters, `loss_fn` a loss
    module (`pf.nn.CrossEntropyLoss()`) or function (`pf.nn.functional.cross_entropy`).

    Padded rows are masked out of the loss by the rule `loss_rule` describes: the loss is the
    one PyTorch computes on the real rows alone.

    State: `history` (per-epoch metrics, also `val_*` with a `val_loader`), `epoch` (epochs
    done), `global_step` (optimizer steps done), `batch_size` (the compiled one),
    `last_checkpoint`, `should_stop` (set it in a callback to stop after the current step).
    """

    def __init__(self, model: Any, optimizer: Any, loss_fn: Callable[..., Any],
                 config: TrainerConfig | None = None):
        self.model = model
        self.optimizer = optimizer
        self.loss_fn = loss_fn
        self.config = config if config is not None else TrainerConfig()
        self.history: dict[str, list[float]] = {}
        self.epoch = 0
        self.global_step = 0
        self.batch_size: int | None = self.config.batch_size
        self.last_checkpoint: Path | None = None
        self.should_stop = False
        self._metrics = [(_metric_name(m), m) for m in self.config.metrics]
        if "loss" not in [name for name, _ in self._metrics]:
            self._metrics.insert(0, ("loss", "loss"))
        self._rule: str | None = None
        self._batch_in_epoch = 0  # batches of the current epoch already trained (resume)
        self._totals: dict[str, float] = {}
        self._resumed = False
        self._epoch_length: int | None = None  # batches per epoch, once an epoch was seen
        self._written: list[Path] = []  # checkpoints saved, oldest first (for keep_last)

    # ---------------------------------------------------------------- public API

    def fit(self, loader: Any, val_loader: Any = None) -> dict[str, list[float]]:
        """Train until `config.max_epochs` epochs are done; returns `history`."""
        if self.config.resume_from is not None and not self._resumed:
            self._resumed = True
            self.load_checkpoint(self.config.resume_from)
        self.should_stop = False
        self._emit("on_fit_start")
        used = [False]
        while self.epoch < self.config.max_epochs and not self.should_stop:
            self._train_epoch(loader, used)
            logs = self._finish_epoch(val_loader)
            self._emit("on_epoch_end", self.epoch - 1, logs)
            if self.config.checkpoint_dir is not None:
                self.save_checkpoint(Path(self.config.checkpoint_dir)
                                     / f"epoch-{self.epoch:04d}{CHECKPOINT_SUFFIX}")
        self._emit("on_fit_end")
        return self.history

    def evaluate(self, loader: Any) -> dict[str, float]:
        """Metrics of `loader` without updates (model in eval mode, no gradients): the mean
        loss and every configured metric over all samples. One compiled program (batches are
        padded like in `fit`; larger ones are split)."""
        size: int | None = None
        totals: dict[str, float] = {}
        count = 0
        was_training = getattr(self.model, "training", None)
        self._set_mode(False)
        try:
            for batch in _batches(loader, [False]):
                xs, y = _split_batch(batch)
                size = size or self.batch_size or rows(y)
                for start in range(0, rows(y), size):
                    chunk = tuple(x[start:start + size] for x in xs), y[start:start + size]
                    n = rows(chunk[1])
                    values = self._run(*chunk, n, size, train=False)
                    for name, value in values.items():
                        totals[name] = totals.get(name, 0.0) + value * n
                    count += n
        finally:
            if was_training is not None:
                self._set_mode(bool(was_training))
        if not count:
            raise ValueError("evaluate: the loader gave no batches")
        return {name: totals[name] / count for name, _ in self._metrics}

    def save_checkpoint(self, path: str | os.PathLike[str]) -> Path:
        """Write the model and optimizer state, counters, history and the random state to
        `path` with `pf.save` (atomically); `resume_from=path` continues from here."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        checkpoint = {
            "kind": CHECKPOINT_KIND,
            "version": 1,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "epoch": self.epoch,  # epochs done
            "step": self.global_step,  # optimizer steps done
            "batch_in_epoch": self._batch_in_epoch,  # batches of the next epoch already done
            "batch_size": self.batch_size,
            "history": self.history,
            "totals": self._totals,  # the running sums of the unfinished epoch
            "rng": _rng_state(),  # pf.manual_seed's generator: dropout masks continue alike
        }
        pf_io.save(checkpoint, path)
        self.last_checkpoint = path
        self._written = [p for p in self._written if p != path] + [path]
        keep_last = self.config.keep_last
        if keep_last is not None and _TRAINER_CHECKPOINT.match(path.name):
            rotate_checkpoints(path.parent, keep_last, self._written)
        return path

    def load_checkpoint(self, path: str | os.PathLike[str]) -> None:
        """Restore what `save_checkpoint` wrote (a directory: its newest checkpoint)."""
        path = Path(path)
        if path.is_dir():
            found = latest_checkpoint(path)
            if found is None:
                raise FileNotFoundError(f"no {CHECKPOINT_SUFFIX} checkpoint in {path}")
            path = found
        checkpoint = pf_io.load(path)
        if not isinstance(checkpoint, dict) or checkpoint.get("kind") != CHECKPOINT_KIND:
            raise ValueError(f"{path} is not a pf.training checkpoint")
        self._load_states(path, checkpoint)
        self.epoch = int(checkpoint["epoch"])
        self._batch_in_epoch = int(checkpoint["batch_in_epoch"])
        self.global_step = int(checkpoint["step"])
        if self.batch_size is None and checkpoint["batch_size"] is not None:
            self.batch_size = int(checkpoint["batch_size"])
        self.history = {k: [float(v) for v in vs] for k, vs in checkpoint["history"].items()}
        self._totals = {k: float(v) for k, v in checkpoint["totals"].items()}
        _set_rng_state(checkpoint["rng"])
        self.last_checkpoint = path

    def _load_states(self, path: Path, checkpoint: dict[str, Any]) -> None:
        """The model's and the optimizer's state from `checkpoint`, both or neither: a
        checkpoint of another model or optimizer is refused, naming the file."""
        saved = [(what, obj) for what, obj in (("model", self.model),
                                               ("optimizer", self.optimizer))
                 if hasattr(obj, "load_state_dict")]
        before = [obj.state_dict() for _, obj in saved]
        for what, obj in saved:
            try:
                obj.load_state_dict(checkpoint[what])
            except (KeyError, ValueError, RuntimeError, TypeError) as err:
                for (_, done), state in zip(saved, before, strict=True):  # back as they were
                    done.load_state_dict(state)
                raise ValueError(
                    f"cannot resume from {path}: its {what} state does not match this "
                    f"{type(obj).__name__} ({err}); resume with the model and optimizer the "
                    "checkpoint was saved from"
                ) from err

    # ---------------------------------------------------------------- one epoch

    def _train_epoch(self, loader: Any, used: list[bool]) -> None:
        total = _length(loader) or self._epoch_length  # a callable: as many as last epoch
        skip = self._batch_in_epoch
        desc = f"epoch {self.epoch + 1}/{self.config.max_epochs}"
        bar = _Progress(self.config.progress_bar, total, desc, initial=skip)
        logs: dict[str, float] = {}
        self._set_mode(True)
        index = -1
        for index, batch in enumerate(_batches(loader, used)):
            if index < skip:  # resumed in the middle of this epoch
                continue
            xs, y = _split_batch(batch)
            if self.batch_size is None:
                self.batch_size = rows(y)
            n = rows(y)
            if n > self.batch_size:
                raise ValueError(
                    f"batch {index} of epoch {self.epoch} has {n} rows, more than the compiled "
                    f"batch size {self.batch_size} (set TrainerConfig.batch_size to the largest)")
            try:
                values = self._run(xs, y, n, self.batch_size, train=True)
            except IndexError as err:  # a label out of range: say which batch holds it
                raise IndexError(f"{err} (batch {index} of epoch {self.epoch})") from None
            self.global_step += 1
            self._batch_in_epoch = index + 1
            self._totals["_samples"] = self._totals.get("_samples", 0.0) + n
            for name, value in values.items():
                self._totals[name] = self._totals.get(name, 0.0) + value * n
            logs = dict(values)
            bar.update(logs)
            step_logs = {**logs, "epoch": self.epoch, "batch": index, "samples": n}
            every = self.config.log_every_n_steps
            if every and self.global_step % every == 0:
                text = " ".join(f"{k} {v:.4f}" for k, v in logs.items())
                bar.write(f"epoch {self.epoch + 1} step {self.global_step}: {text}")
            self._emit("on_step_end", self.global_step, step_logs)
            every = self.config.checkpoint_every_n_steps
            if every and self.global_step % every == 0:
                self.save_checkpoint(Path(self.config.checkpoint_dir or ".")
                                     / f"step-{self.global_step:08d}{CHECKPOINT_SUFFIX}")
            if self.should_stop:
                break
        if index < 0 and not skip:
            raise ValueError(f"the loader gave no batches in epoch {self.epoch}")
        if not self.should_stop:
            self._epoch_length = index + 1
        bar.close(self._epoch_values() if self._totals.get("_samples") else logs)

    def _epoch_values(self) -> dict[str, float]:
        count = self._totals.get("_samples", 0.0)
        return {name: self._totals.get(name, math.nan) / count if count else math.nan
                for name, _ in self._metrics}

    def _finish_epoch(self, val_loader: Any) -> dict[str, Any]:
        logs: dict[str, Any] = dict(self._epoch_values())
        if val_loader is not None:
            logs.update({f"val_{k}": v for k, v in self.evaluate(val_loader).items()})
        for name, value in logs.items():
            self.history.setdefault(name, []).append(float(value))
        if self.config.progress_bar and val_loader is not None:
            text = " ".join(f"{k} {v:.4f}" for k, v in logs.items())
            print(f"epoch {self.epoch + 1}/{self.config.max_epochs}: {text}", flush=True)
        self.epoch += 1
        self._batch_in_epoch = 0
        self._totals = {}
        return {**logs, "epoch": self.epoch - 1}

    # ---------------------------------------------------------------- one step

    def _run(self, xs: tuple[np.ndarray, ...], y: np.ndarray, n: int, size: int,
             train: bool) -> dict[str, float]:
        """Build one step for the padded batch and evaluate it: one compiled program."""
        if self._rule is None:
            self._rule = loss_rule(self.loss_fn, y.dtype.kind in "iu")
        targets = pad_rows(y, size)
        if self._rule == "ignore_index" and n < size:
            targets = targets.copy()
            targets[n:] = self.loss_fn.ignore_index
        inputs = [ops.from_numpy(pad_rows(x, size)) for x in xs]
        target = ops.from_numpy(targets)
        mask = ops.from_numpy(row_mask(n, size))
        if train:
            zero_grad = getattr(self.optimizer, "zero_grad", None)
            if zero_grad is not None:
                zero_grad()
            with autograd.enable_grad():
                output = self.model(*inputs)
                loss = masked_loss(self.loss_fn, self._rule, output, target, mask)
            autograd.backward(loss)
            self.optimizer.step()
        else:
            with autograd.no_grad():
                output = self.model(*inputs)
                loss = masked_loss(self.loss_fn, self._rule, output, target, mask)
        results: dict[str, Tensor] = {"loss": loss}
        with autograd.no_grad():
            for name, metric in self._metrics:
                if name == "loss":
                    continue
                fn = correct if metric == "accuracy" else (
                    metric[1] if isinstance(metric, tuple) else metric)
                per_sample = _per_sample(fn(output, target), size)
                results[name] = (per_sample.astype(float32) * mask).sum() / mask.sum()
        runtime.eval(*results.values())
        return {name: float(t.item()) for name, t in results.items()}

    # ---------------------------------------------------------------- plumbing

    def _set_mode(self, train: bool) -> None:
        method = getattr(self.model, "train" if train else "eval", None)
        if callable(method):
            method()

    def _emit(self, event: str, *args: Any) -> None:
        for callback in self.config.callbacks:
            hook = _hook(callback, event)
            if hook is not None:
                hook(self, *args)


__all__ = ["Callback", "LambdaCallback", "Trainer", "TrainerConfig", "correct",
           "latest_checkpoint", "loss_rule", "masked_loss", "rotate_checkpoints"]
