"""Trainer checkpoints: their names, the newest one, rotation, and the random state they keep."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from pyflame import random as _random

CHECKPOINT_KIND = "pyflame.training.checkpoint"
CHECKPOINT_SUFFIX = ".ckpt.safetensors"  # pf.save writes safetensors files


def rng_state() -> str:
    return json.dumps(_random._state["rng"].bit_generator.state)


def set_rng_state(text: str) -> None:
    generator = np.random.default_rng()
    generator.bit_generator.state = json.loads(text)
    _random._state["rng"] = generator


def latest_checkpoint(directory: str | os.PathLike[str]) -> Path | None:
    """The most recently written checkpoint in `directory` (None if there is none)."""
    found = sorted(
        Path(directory).glob(f"*{CHECKPOINT_SUFFIX}"), key=lambda p: (p.stat().st_mtime_ns, p.name)
    )
    return found[-1] if found else None


#: the names the trainer gives its checkpoints (rotation only ever deletes these)
TRAINER_CHECKPOINT = re.compile(r"^(epoch-\d{4,}|step-\d{8,})" + re.escape(CHECKPOINT_SUFFIX) + "$")


def rotate_checkpoints(
    directory: str | os.PathLike[str], keep_last: int, written: Sequence[Path] = ()
) -> list[Path]:
    """Delete all but the `keep_last` newest trainer checkpoints (`epoch-NNNN`, `step-NNNNNNNN`)
    in `directory`, never other files; returns the deleted paths. `written`: the checkpoints
    this process wrote, oldest first (newer than any other; file times can tie)."""
    order = {p.name: i for i, p in enumerate(written) if p.parent == Path(directory)}
    mine = [p for p in Path(directory).iterdir() if TRAINER_CHECKPOINT.match(p.name)]
    mine.sort(key=lambda p: (p.name in order, order.get(p.name, 0), p.stat().st_mtime_ns, p.name))
    doomed = mine[: max(len(mine) - keep_last, 0)]
    for p in doomed:
        p.unlink(missing_ok=True)
    return doomed
