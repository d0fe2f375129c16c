"""`pf.serving`: inference at one compiled batch size, whatever size the requests have.

    model.eval()
    engine = pf.serving.InferenceEngine(model)
    engine.warmup(example_input)          # compiles for example_input's batch size (say 64)
    for batch in dataloader:
        output = engine.infer(pf.from_numpy(batch))   # 1..64 rows: padded, run, sliced back;
        results.append(output.numpy())                #   more: split into chunks of 64
    engine.stats                          # EngineStats(calls=..., runs=..., compiles=1, ...)

A compiled program has static shapes: the engine runs every request at the warmed-up batch size
(padding a smaller batch with copies of its rows and slicing the result back), so batches of any
size up to it never recompile (`pf.cache_info()` shows it). The model runs in eval mode under
`no_grad` (its previous mode is restored afterwards); its parameters are runtime inputs of the
program, so new weights (after more training, `load_state_dict`) need no recompile either.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from pyflame import autograd, ops, runtime
from pyflame.batching import as_array, as_tuple, pad_rows, rows
from pyflame.lazy_tensor import Tensor


@dataclass
class EngineStats:
    """Counters of an `InferenceEngine`: `calls` (of `infer`), `runs` (programs run: a call
    larger than the batch size runs several chunks), `samples` (real rows served),
    `padded_samples` (padding rows computed), `compiles` (programs compiled by `warmup` and
    `infer`), `total_cycles` (simulated, over all runs). The warm-up run counts only in
    `compiles`."""

    calls: int = 0
    runs: int = 0
    samples: int = 0
    padded_samples: int = 0
    compiles: int = 0
    total_cycles: int = 0

    @property
    def mean_cycles(self) -> float:
        """Mean simulated cycles per run (0 before the first run)."""
        return self.total_cycles / self.runs if self.runs else 0.0

    def as_dict(self) -> dict[str, float]:
        return {
            "calls": self.calls,
            "runs": self.runs,
            "samples": self.samples,
            "padded_samples": self.padded_samples,
            "compiles": self.compiles,
            "total_cycles": self.total_cycles,
            "mean_cycles": self.mean_cycles,
        }


class InferenceEngine:
    """Serves `model` (a `pf.nn.Module` or any callable on batched tensors, returning a tensor
    or a tuple/list of tensors with the batch first) at one compiled batch size.

    `max_batch_size`: the compiled batch size (default: the warm-up example's). `warmup(x)`
    compiles; `infer(batch)` (numpy arrays or pf tensors; a tuple for several inputs) returns
    pf tensors holding data, with the batch's own number of rows.
    """

    def __init__(self, model: Any, max_batch_size: int | None = None):
        if max_batch_size is not None and (
            isinstance(max_batch_size, bool) or int(max_batch_size) < 1
        ):
            raise ValueError(f"max_batch_size must be a positive int, got {max_batch_size!r}")
        self.model = model
        self.max_batch_size = None if max_batch_size is None else int(max_batch_size)
        self.batch_size: int | None = self.max_batch_size
        self.stats = EngineStats()
        #: one request builds its graph at a time (the model's train/eval mode is switched while
        #: it runs); the programs themselves run concurrently
        self._lock = threading.RLock()
        self._signature: tuple[tuple[tuple[int, ...], np.dtype], ...] | None = None

    @property
    def is_warm(self) -> bool:
        return self._signature is not None

    def warmup(self, example: Any) -> InferenceEngine:
        """Compile for `example`'s batch size (or `max_batch_size`) by running it once."""
        xs = self._inputs(example)
        if self.batch_size is None:
            self.batch_size = rows(xs[0], "warm-up example")
        self._signature = tuple((x.shape[1:], x.dtype) for x in xs)
        self._run(tuple(x[: self.batch_size] for x in xs), count=False)
        return self

    def infer(self, batch: Any) -> Any:
        """The model's output for `batch` (any number of rows; padded or chunked to the
        compiled batch size, never recompiled); pf tensors holding data."""
        xs = self._inputs(batch)
        with self._lock:
            if not self.is_warm:
                self.warmup(tuple(x[: self.batch_size or len(x)] for x in xs))
            self._check(xs)
            self.stats.calls += 1
        size = self.batch_size
        assert size is not None
        n = rows(xs[0])
        pieces = [
            self._run(tuple(x[start : start + size] for x in xs)) for start in range(0, n, size)
        ]
        outputs = [
            np.concatenate(parts, axis=0) if len(parts) > 1 else parts[0]
            for parts in zip(*pieces, strict=True)
        ]
        tensors = [ops.from_numpy(o) for o in outputs]
        if self._single:
            return tensors[0]
        return tensors if self._as_list else tuple(tensors)

    __call__ = infer

    # ---------------------------------------------------------------- internals

    def _inputs(self, batch: Any) -> tuple[np.ndarray, ...]:
        xs = tuple(as_array(x) for x in as_tuple(batch))
        n = rows(xs[0])
        if n == 0:
            raise ValueError("infer: empty batch")
        for x in xs[1:]:
            if rows(x) != n:
                raise ValueError(f"infer: inputs have {n} and {rows(x)} rows")
        return xs

    def _check(self, xs: tuple[np.ndarray, ...]) -> None:
        signature = tuple((x.shape[1:], x.dtype) for x in xs)
        if signature != self._signature:
            want = ", ".join(f"[N, {', '.join(map(str, s))}] {d}" for s, d in self._signature or ())
            got = ", ".join(f"[N, {', '.join(map(str, s))}] {d}" for s, d in signature)
            raise ValueError(
                f"infer: the engine was warmed up for inputs {want}, got {got} "
                "(only the batch size may change)"
            )

    def _run(self, xs: tuple[np.ndarray, ...], count: bool = True) -> list[np.ndarray]:
        """One program run on a chunk of at most `batch_size` rows; outputs sliced back.
        Compiles always count in the stats; the warm-up run itself does not."""
        size = self.batch_size
        assert size is not None
        n = rows(xs[0])
        inputs = [ops.from_numpy(pad_rows(x, size)) for x in xs]
        with self._lock:
            was_training = getattr(self.model, "training", None)
            if callable(getattr(self.model, "eval", None)):
                self.model.eval()
            try:
                with autograd.no_grad():
                    result = self.model(*inputs)
                outputs = self._outputs(result)
            finally:
                if was_training and callable(getattr(self.model, "train", None)):
                    self.model.train(True)
        misses = runtime.cache_info().misses
        runtime.eval(*outputs)
        report = runtime.last_report()  # this thread's
        with self._lock:
            self.stats.compiles += runtime.cache_info().misses - misses
            if count:
                self.stats.runs += 1
                self.stats.samples += n
                self.stats.padded_samples += size - n
                self.stats.total_cycles += int(getattr(report, "cycles", 0) or 0)
        out = []
        for t in outputs:
            if t.ndim == 0 or t.shape[0] != size:
                raise ValueError(
                    f"infer: the model returned shape {list(t.shape)}; every output "
                    f"needs the batch ({size} rows) first"
                )
            out.append(t.numpy()[:n])
        return out

    def _outputs(self, result: Any) -> list[Tensor]:
        self._single = isinstance(result, Tensor)
        self._as_list = isinstance(result, list)
        items = [result] if self._single else list(result)
        if not items or not all(isinstance(t, Tensor) for t in items):
            raise TypeError(
                "infer: the model must return a pf.Tensor or a tuple/list of them, "
                f"got {type(result).__name__}"
            )
        return items


__all__ = ["EngineStats", "InferenceEngine"]
