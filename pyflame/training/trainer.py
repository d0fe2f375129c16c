"""`Trainer`: fit, evaluate, save and resume; one compiled program for every step."""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from pyflame import autograd, ops, runtime
from pyflame import io as pf_io
from pyflame.batching import pad_rows, row_mask, rows
from pyflame.core.dtypes import float32
from pyflame.lazy_tensor import Tensor
from pyflame.training.batches import batches, length, split_batch
from pyflame.training.checkpoints import (
    CHECKPOINT_KIND,
    CHECKPOINT_SUFFIX,
    TRAINER_CHECKPOINT,
    latest_checkpoint,
    rng_state,
    rotate_checkpoints,
    set_rng_state,
)
from pyflame.training.config import TrainerConfig, callback_hook
from pyflame.training.loss import (
    correct,
    ignore_index_of,
    loss_rule,
    masked_loss,
    metric_name,
    per_sample_values,
)
from pyflame.training.progress import Progress


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

    def __init__(
        self,
        model: Any,
        optimizer: Any,
        loss_fn: Callable[..., Any],
        config: TrainerConfig | None = None,
    ):
        self.model = model
        self.optimizer = optimizer
        self.loss_fn: Any = loss_fn  # a module (with ignore_index, reduction) or a function
        self.config = config if config is not None else TrainerConfig()
        self.history: dict[str, list[float]] = {}
        self.epoch = 0
        self.global_step = 0
        self.batch_size: int | None = self.config.batch_size
        self.last_checkpoint: Path | None = None
        self.should_stop = False
        self._metrics = [(metric_name(m), m) for m in self.config.metrics]
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
                self.save_checkpoint(
                    Path(self.config.checkpoint_dir) / f"epoch-{self.epoch:04d}{CHECKPOINT_SUFFIX}"
                )
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
            for batch in batches(loader, [False]):
                xs, y = split_batch(batch)
                size = size or self.batch_size or rows(y)
                for start in range(0, rows(y), size):
                    chunk = tuple(x[start : start + size] for x in xs), y[start : start + size]
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
            "rng": rng_state(),  # pf.manual_seed's generator: dropout masks continue alike
        }
        pf_io.save(checkpoint, path)
        self.last_checkpoint = path
        self._written = [p for p in self._written if p != path] + [path]
        keep_last = self.config.keep_last
        if keep_last is not None and TRAINER_CHECKPOINT.match(path.name):
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
        set_rng_state(checkpoint["rng"])
        self.last_checkpoint = path

    def _load_states(self, path: Path, checkpoint: dict[str, Any]) -> None:
        """The model's and the optimizer's state from `checkpoint`, both or neither: a
        checkpoint of another model or optimizer is refused, naming the file."""
        saved = [
            (what, obj)
            for what, obj in (("model", self.model), ("optimizer", self.optimizer))
            if hasattr(obj, "load_state_dict")
        ]
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
        total = length(loader) or self._epoch_length  # a callable: as many as last epoch
        skip = self._batch_in_epoch
        desc = f"epoch {self.epoch + 1}/{self.config.max_epochs}"
        bar = Progress(self.config.progress_bar, total, desc, initial=skip)
        logs: dict[str, float] = {}
        self._set_mode(True)
        index = -1
        for index, batch in enumerate(batches(loader, used)):
            if index < skip:  # resumed in the middle of this epoch
                continue
            xs, y = split_batch(batch)
            if self.batch_size is None:
                self.batch_size = rows(y)
            n = rows(y)
            if n > self.batch_size:
                raise ValueError(
                    f"batch {index} of epoch {self.epoch} has {n} rows, more than the compiled "
                    f"batch size {self.batch_size} (set TrainerConfig.batch_size to the largest)"
                )
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
                self.save_checkpoint(
                    Path(self.config.checkpoint_dir or ".")
                    / f"step-{self.global_step:08d}{CHECKPOINT_SUFFIX}"
                )
            if self.should_stop:
                break
        if index < 0 and not skip:
            raise ValueError(f"the loader gave no batches in epoch {self.epoch}")
        if not self.should_stop:
            self._epoch_length = index + 1
        bar.close(self._epoch_values() if self._totals.get("_samples") else logs)

    def _epoch_values(self) -> dict[str, float]:
        count = self._totals.get("_samples", 0.0)
        return {
            name: self._totals.get(name, math.nan) / count if count else math.nan
            for name, _ in self._metrics
        }

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

    def _run(
        self, xs: tuple[np.ndarray, ...], y: np.ndarray, n: int, size: int, train: bool
    ) -> dict[str, float]:
        """Build one step for the padded batch and evaluate it: one compiled program."""
        if self._rule is None:
            self._rule = loss_rule(self.loss_fn, y.dtype.kind in "iu")
        targets = pad_rows(y, size)
        if self._rule == "ignore_index" and n < size:
            targets = targets.copy()
            targets[n:] = ignore_index_of(self.loss_fn)
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
                fn = (
                    correct
                    if metric == "accuracy"
                    else (metric[1] if isinstance(metric, tuple) else metric)
                )
                per_sample = per_sample_values(fn(output, target), size)
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
            hook = callback_hook(callback, event)
            if hook is not None:
                hook(self, *args)
