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
from pyflame.sim.step_access import (
    access_of,
    buffer_conflicts,
    disjoint,
    is_noop,
    reading_views_as,
)

if TYPE_CHECKING:  # executable.py runs the pass: import its names for types only
    from pyflame.sim.executable import Buffer, Step
    from pyflame.sim.fused_products import FusedUse

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
    makes the same step accumulating into a private array instead; `fused` (None: cannot)
    the same step as one slot of a run's single product, `assigning` the same step writing
    its product over a fill's zeros (pyflame/sim/fused_products.py)."""

    buffer: int
    sel: tuple[Any, ...]
    operands: tuple[int, ...]
    private: Callable[[PrivateUse], Step]
    fused: Callable[[FusedUse], Step] | None = None
    #: the same step writing its product into tiles that hold a fill's +0.0 instead of
    #: adding it (None: cannot; pyflame/sim/fused_products.py)
    assigning: Callable[[], Step] | None = None


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


def touches_part(step: Step, buffer: int, sel: tuple[Any, ...], conflicts: np.ndarray) -> bool:
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
    """The accumulator's PE tiles are not back to back in their PE-major block (a private
    copy pays; in a lane-major block each lane is already one contiguous plane)."""
    b = buffers[info.buffer]
    if info.buffer not in strides:
        return False
    lanes = info.sel[2].stop - (info.sel[2].start or 0)
    _, col, element = strides[info.buffer]
    return element == b.dtype.itemsize and col != lanes * b.dtype.itemsize


def accumulation_runs(
    steps: Sequence[Step],
    planned: Sequence[Step],
    buffers: Sequence[Buffer],
    eligible: Callable[[Accumulates], bool],
    min_run: int,
) -> list[list[int]]:
    """Runs (step indices) of at least `min_run` accumulations into the same tiles of an
    `eligible` accumulator that nothing else touches in between (`steps` derived from the
    plan's `planned` one for one; a step between them that reads or writes a byte of the
    tiles, or may, from its `Access` or `operands`, ends the run). Runs on disjoint parts of
    one buffer (the layers of a 2.5D SUMMA) may interleave."""
    if sum(accumulates_of(s) is not None for s in steps) < min_run:
        return []
    conflicts = buffer_conflicts(buffers)
    taken: set[int] = set()  # steps of a run found already
    runs: list[list[int]] = []
    for k in range(len(steps)):
        info = accumulates_of(steps[k])
        if (
            k in taken
            or info is None
            or any(conflicts[info.buffer, o] for o in info.operands)
            or not eligible(info)
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
            elif not is_noop(steps[j]) and touches_part(
                planned[j], info.buffer, info.sel, conflicts
            ):
                break
            j += 1
        if len(run) >= min_run:
            runs.append(run)
            taken.update(run)
    return runs


def run_buffer(infos: Sequence[Accumulates | None]) -> int:
    """The accumulator buffer of a run's steps (`accumulation_runs`)."""
    first = infos[0]
    assert first is not None  # every step of a run accumulates
    return first.buffer


def private_accumulators(
    steps: Sequence[Step], planned: Sequence[Step], buffers: Sequence[Buffer]
) -> list[Step]:
    """`steps` (derived from the plan's steps `planned` one for one: receives elided, dead
    transfers left out) with each run of at least MIN_RUN accumulations into the same tiles,
    that nothing else touches in between, accumulating in a private array."""
    out = list(steps)
    strides = view_strides(buffers)
    runs = accumulation_runs(
        steps, planned, buffers, lambda info: _worth_it(info, buffers, strides), MIN_RUN
    )
    for n_run, run in enumerate(runs):
        # runs on other parts of the buffer (another layer's rows) may interleave
        infos = [accumulates_of(steps[s]) for s in run]
        key = private_key(run_buffer(infos), n_run)
        for n, (s, found) in enumerate(zip(run, infos, strict=True)):
            assert found is not None  # every step of the run accumulates
            use = PrivateUse(key, load=n == 0, store=n == len(run) - 1)
            out[s] = reading_views_as(found.private(use), steps[s])
    return out


__all__ = [
    "MIN_RUN",
    "Accumulates",
    "accumulation_runs",
    "PrivateUse",
    "accumulates_of",
    "private_accumulators",
    "private_key",
    "private_use",
    "set_accumulates",
    "set_private",
    "touches_part",
]
