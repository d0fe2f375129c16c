"""The batches of a loader: iterating it once per epoch, and splitting a batch into arrays."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from pyflame.batching import as_array, as_tuple, rows


def batches(loader: Any, used: list[bool]) -> Iterator[Any]:
    """This epoch's batches (`used[0]` remembers that a one-shot iterator was consumed)."""
    if callable(loader) and not isinstance(loader, Iterable):
        return iter(loader())
    it = iter(loader)
    if it is loader:  # a one-shot iterator (generator): usable for one epoch only
        if used[0]:
            raise ValueError(
                "the loader is a one-shot iterator and was used up by an earlier epoch: pass a "
                "list, a re-iterable loader, or a callable returning a fresh iterator"
            )
        used[0] = True
    return it


def length(loader: Any) -> int | None:
    try:
        return len(loader)
    except TypeError:
        return None


def split_batch(batch: Any) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
    if isinstance(batch, dict) and {"inputs", "targets"} <= batch.keys():
        inputs, targets = batch["inputs"], batch["targets"]
    else:
        try:
            inputs, targets = batch
        except (TypeError, ValueError):
            raise ValueError(
                f"a training batch is an (inputs, targets) pair, got {type(batch).__name__}"
            ) from None
    xs = tuple(as_array(x) for x in as_tuple(inputs))
    y = as_array(targets)
    n = rows(y, "target batch")
    for x in xs:
        if rows(x, "input batch") != n:
            raise ValueError(f"inputs have {x.shape[0]} rows but targets have {n}")
    return xs, y
