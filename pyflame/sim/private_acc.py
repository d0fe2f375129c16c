"""Accumulators kept in private contiguous arrays across a SUMMA loop.

A SUMMA loop adds one product per step into the same accumulator tiles: `pe.matmul_acc %acc`
p times, with receives and sends of other buffers in between. The accumulator's view is a
strided part of its SRAM block (pyflame/sim/sram.py: the buffers that share bytes share one
block, (rows, cols, bytes)), so every step's add runs one numpy inner loop per PE over a few
lanes: for the MLP step on 64x64 PEs (tiles of 4 and 52 floats), most of a step's time.
`private_accumulators` (run once per Executable) finds runs of matmul steps on the same
accumulator that nothing else touches in between (no step reads or writes a byte it shares,
from the steps' `Access` records, pyflame/sim/step_access.py; a step without one, only the
buffers its op names, `operands`; a step with neither stops the run) and rewrites them:

    matmul_acc %acc ...   ->  F[key] = copy of V[acc]; F[key] += lhs @ rhs
    matmul_acc %acc ...   ->  F[key] += lhs @ rhs
    (steps on other bytes)
    matmul_acc %acc ...   ->  F[key] += lhs @ rhs; V[acc] = F.pop(key)

The same numbers are added in the same order (only where they are held differs), so the
results are bit for bit those of the SRAM steps, and SRAM after the run is the same: the last
step of a run writes the accumulator back before anything else could look at it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from pyflame.sim.flat_gather import view_strides
from pyflame.sim.step_access import access_of, buffer_conflicts, disjoint, is_noop

if TYPE_CHECKING:  # executable.py runs the pass: import its names for types only
    from pyflame.sim.executable import Buffer, Step

#: runs shorter than this stay in SRAM (the copy in and out cost about two steps' adds)
MIN_RUN = 4


@dataclass(frozen=True)
class PrivateUse:
    """How a step of a run uses the private accumulator: in-flight key `key`; `load`: the
    first step copies the SRAM tiles into it; `store`: the last writes it back and drops it."""

    key: int
    load: bool
    store: bool


@dataclass(frozen=True)
class Accumulates:
    """A step that adds into `V[buffer][sel]` and reads only `operands` besides; `private`
    makes the same step accumulating into a private array instead."""

    buffer: int
    sel: tuple[Any, ...]
    operands: tuple[int, ...]
    private: Callable[[PrivateUse], Step]


def set_accumulates(step: Step, info: Accumulates) -> Step:
    """Mark `step` as an accumulation (a kernel calls this)."""
    setattr(step, "accumulates", info)  # noqa: B010  (a plain function has no slot)
    return step


def accumulates_of(step: Step) -> Accumulates | None:
    return getattr(step, "accumulates", None)


def set_private(step: Step, use: PrivateUse) -> Step:
    """Mark `step` as accumulating into a private array (`private_use` reads it back)."""
    setattr(step, "private_use", use)  # noqa: B010  (a plain function has no slot)
    return step


def private_use(step: Step) -> PrivateUse | None:
    return getattr(step, "private_use", None)


def private_key(buffer: int, run: int = 0) -> int:
    """The in-flight key of the private accumulator of buffer `buffer` in the `run`-th run
    (below the keys of sends, >= 0, and of received views, -1 - buffer; above the parts of
    received views, step_access.part_key)."""
    return -(1 << 40) - buffer - (run << 24)


def _touches(step: Step, buffer: int, sel: tuple[Any, ...], conflicts: np.ndarray) -> bool:
    """Whether `step` (an annotated plan step) may read or write a byte of `buffer`'s part
    `sel` (a step on other PEs of the same buffer, another layer's rows, does not)."""
    acc = access_of(step)
    if acc is None:
        operands = getattr(step, "operands", None)
        return operands is None or any(conflicts[buffer, o] for o in operands)
    for touched in (acc.reads, acc.writes):
        for b, part in touched.items():
            if conflicts[buffer, b] and not (b == buffer and disjoint(part, sel)):
                return True
    return False


def _worth_it(info: Accumulates, buffers: Sequence[Buffer], strides: dict) -> bool:
    """The accumulator's PE tiles are not back to back in their block (a private copy pays)."""
    b = buffers[info.buffer]
    if info.buffer not in strides:
        return False
    lanes = info.sel[2].stop - (info.sel[2].start or 0)
    return strides[info.buffer][1] != lanes * b.dtype.itemsize


def private_accumulators(
    steps: Sequence[Step], planned: Sequence[Step], buffers: Sequence[Buffer]
) -> list[Step]:
    """`steps` (derived from the plan's steps `planned` one for one: receives elided, dead
    transfers left out) with each run of at least MIN_RUN accumulations into the same tiles,
    that nothing else touches in between, accumulating in a private array."""
    out = list(steps)
    if sum(accumulates_of(s) is not None for s in steps) < MIN_RUN:
        return out
    conflicts = buffer_conflicts(buffers)
    strides = view_strides(buffers)
    taken: set[int] = set()  # steps of a run found already
    runs = 0
    for k in range(len(steps)):
        info = accumulates_of(steps[k])
        if (
            k in taken
            or info is None
            or any(conflicts[info.buffer, o] for o in info.operands)
            or not _worth_it(info, buffers, strides)
        ):
            continue
        run = [k]
        j = k + 1
        while j < len(steps):
            other = accumulates_of(steps[j])
            if (
                other is not None
                and other.buffer == info.buffer
                and other.sel == info.sel
                and not any(conflicts[info.buffer, o] for o in other.operands)
            ):
                run.append(j)
            elif not is_noop(steps[j]) and _touches(planned[j], info.buffer, info.sel, conflicts):
                break
            j += 1
        if len(run) >= MIN_RUN:
            # runs on other parts of the buffer (another layer's rows) may interleave
            key = private_key(info.buffer, runs)
            runs += 1
            for n, s in enumerate(run):
                use = PrivateUse(key, load=n == 0, store=n == len(run) - 1)
                found = accumulates_of(steps[s])
                assert found is not None  # every step of the run accumulates
                out[s] = found.private(use)
            taken.update(run)
    return out


__all__ = [
    "MIN_RUN",
    "Accumulates",
    "PrivateUse",
    "accumulates_of",
    "private_accumulators",
    "private_key",
    "private_use",
    "set_accumulates",
    "set_private",
]
