"""`TrainerConfig` (how `Trainer.fit` runs) and trainer callbacks."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pyflame.training.loss import metric_name

if TYPE_CHECKING:
    from pyflame.training.trainer import Trainer


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
        for name in ("log_every_n_steps", "batch_size", "checkpoint_every_n_steps", "keep_last"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or int(value) < 1):
                raise ValueError(f"{name} must be a positive int or None, got {value!r}")
        if self.checkpoint_every_n_steps is not None and self.checkpoint_dir is None:
            raise ValueError("checkpoint_every_n_steps needs a checkpoint_dir")
        for m in self.metrics:
            metric_name(m)  # raises for an unknown metric


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

    def __init__(
        self,
        on_fit_start: Callable[..., Any] | None = None,
        on_step_end: Callable[..., Any] | None = None,
        on_epoch_end: Callable[..., Any] | None = None,
        on_fit_end: Callable[..., Any] | None = None,
    ):
        for name, fn in (
            ("on_fit_start", on_fit_start),
            ("on_step_end", on_step_end),
            ("on_epoch_end", on_epoch_end),
            ("on_fit_end", on_fit_end),
        ):
            if fn is not None:
                setattr(self, name, fn)


def callback_hook(callback: Any, event: str) -> Callable[..., Any] | None:
    if hasattr(callback, event):
        return getattr(callback, event)
    if (
        event == "on_epoch_end"
        and callable(callback)
        and not any(hasattr(callback, e) for e in ("on_fit_start", "on_step_end", "on_fit_end"))
    ):
        return callback
    return None
