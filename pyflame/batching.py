"""Fixed-size batches for a compile-once machine: host-side conversion and padding.

A compiled program has static shapes, so the trainer and the inference engine run every batch
at ONE batch size: a shorter batch is padded up to it on the host (numpy) and the extra rows are
masked or sliced away, so the program never changes and is never recompiled.

    x = as_array(batch)              # numpy (float64 -> float32, int64 -> int32)
    xp = pad_rows(x, 64)             # 64 rows: the real ones, then copies of them
    mask = row_mask(len(x), 64)      # float32 [64]: 1 for real rows, 0 for padding

Padding rows are copies of real rows (cycling), not zeros: they hold realistic, finite values,
so whatever the model computes for them is finite and a zero weight really removes them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pyflame.lazy_tensor import Tensor


def as_array(value: Any) -> np.ndarray:
    """A batch (numpy array, pf.Tensor, torch tensor, nested list) as a numpy array PyFlame can
    hold: float64 becomes float32, wider or unsigned integers int32 (when they fit; else
    `pf.from_numpy` raises). A lazy pf.Tensor is evaluated first (in its own program)."""
    array = np.asarray(value.numpy() if isinstance(value, Tensor) else value)
    if array.dtype == np.float64:
        return array.astype(np.float32)
    if array.dtype.kind in "iu" and array.dtype != np.int32:
        info = np.iinfo(np.int32)
        if array.size and (array.min() < info.min or array.max() > info.max):
            return array  # pf.from_numpy names the problem
        return array.astype(np.int32)
    return array


def rows(array: np.ndarray, what: str = "batch") -> int:
    """The batch size (first dimension) of `array`."""
    if array.ndim == 0:
        raise ValueError(f"a {what} needs a batch dimension, got a 0-d array")
    return int(array.shape[0])


def pad_rows(array: np.ndarray, size: int) -> np.ndarray:
    """`array` with `size` rows: its own rows, then copies of them (cycling) as padding."""
    n = rows(array)
    if n == size:
        return array
    if n == 0:
        raise ValueError("cannot pad an empty batch")
    if n > size:
        raise ValueError(f"a batch of {n} rows does not fit the compiled batch size {size}")
    return array[np.arange(size) % n]


def row_mask(n: int, size: int) -> np.ndarray:
    """float32 [size]: 1 for the first `n` (real) rows, 0 for padding."""
    mask = np.zeros(size, np.float32)
    mask[:n] = 1.0
    return mask


def as_tuple(value: Any) -> tuple[Any, ...]:
    """A model input: one array/tensor, or a tuple (or list) of arrays/tensors (several inputs);
    a list of numbers is one input."""
    if isinstance(value, tuple):
        return value
    if (
        isinstance(value, list)
        and value
        and all(isinstance(v, (np.ndarray, Tensor)) for v in value)
    ):
        return tuple(value)
    return (value,)
