"""A fused run's panels filled at its last step from where its messages came from.

A fused run (pyflame/sim/fused_products.py: a SUMMA loop's products into one accumulator)
copies each step's operands into its panels at the step's own time. In a SUMMA each operand
is a broadcast: a send that keeps a view of its tiles, the receive's stash of that view
(pyflame/sim/step_access.py), then the step's copy into the panels: three steps and ~10 us of
numpy calls per SUMMA step for the MLP's tiles of 13 and 52 floats on 64x64 PEs.

When every operand of every step of a run comes through such a chain (send view -> stash ->
this step, nothing else taking the message or reading the view) and nothing may write the
sent tiles between the send and the run's last step, those tiles still hold the operands at
the last step. `sourced_panels` (run once per Executable, on the steps `run` runs) then
leaves out the run's sends, stashes and steps, and its last step reads every step's operands
from SRAM where the sends read them and fills each segment of the panels with one
concatenation per operand: the same segments, the same numbers added in the same order, so
bit for bit the step-by-step fill's result.

    send view  F[g] = V[i][sl]          (left out)
    stash      F[key] = F[g][src]       (left out)
    matmul_acc panels[s] = F[key]       (left out, but the last:)
    matmul_acc panels = [V[i][sl_s][src_s] for each s]; V[acc] += product

Cycles, routes and the plan are untouched; `run_on_sram` keeps every step (its SRAM holds
the received tiles, as the machine's).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from pyflame.sim.affine_gather import TileView, affine_view
from pyflame.sim.dead_transfers import overwrites, set_operands
from pyflame.sim.fused_products import (
    FusedSlot,
    Panels,
    fused_slot,
    panel_slots,
    root_of,
    stacked,
)
from pyflame.sim.step_access import (
    access_of,
    buffer_conflicts,
    disjoint,
    read_as_views,
    view_key,
)

if TYPE_CHECKING:  # executable.py runs the pass: import its names for types only
    from pyflame.sim.executable import Buffer, Step


@dataclass(frozen=True)
class Source:
    """Where a step's in-flight operand `key` came from: `V[buffer][sel][src]` (and `[part]`
    of that, a layer's rows of a received view), read where the send read it."""

    key: int
    buffer: int
    sel: tuple[Any, ...]
    src: Any
    part: Any = None
    #: `src` as a strided view (pyflame/sim/affine_gather.py), when it is affine
    tiles: TileView | None = None

    def view(self, V: Sequence[np.ndarray]) -> np.ndarray:
        sent = V[self.buffer][self.sel]
        v = sent[self.src] if self.tiles is None else self.tiles(sent)
        return v if self.part is None else v[self.part]


def sourced_panels(
    run_steps: Sequence[tuple[int, Step]], planned: Sequence[Step], buffers: Sequence[Buffer]
) -> list[tuple[int, Step]]:
    """`run_steps` ((plan index, step), as `Executable.run` runs them) with every fused run
    whose operands can all be read from their sources at its last step made that one step."""
    runs: dict[int, list[int]] = {}  # a run's in-flight key -> its steps' positions
    for pos, (_, step) in enumerate(run_steps):
        slot = fused_slot(step)
        if slot is not None:
            runs.setdefault(slot.use.key, []).append(pos)
    if not runs:
        return list(run_steps)
    conflicts = buffer_conflicts(buffers)
    found: dict[int, Sourced] = {}
    for key, positions in runs.items():
        slots = [fused_slot(run_steps[p][1]) for p in positions]
        if [s.use.slot for s in slots if s is not None] != list(range(len(positions))):
            continue  # (not the whole run: leave it)
        sourced = _sources(run_steps, planned, buffers, positions, conflicts)
        if sourced is not None:
            found[key] = sourced
    # a stash may be left out only when every step reading what it keeps is a step of a run
    # left out too (a 2.5D SUMMA's layers read parts of one received view): drop the runs
    # some of whose stashes another step reads, until none does
    changed = True
    while changed:
        changed = False
        slots_out = {p for key in found for p in runs[key]}
        for key in list(found):
            if any(not readers <= slots_out for readers in found[key].stash_readers.values()):
                del found[key]
                changed = True
    left_out: set[int] = set()
    replaced: dict[int, Step] = {}
    for key, sourced in found.items():
        positions = runs[key]
        left_out.update(sourced.stash_readers, sourced.sends, positions[:-1])
        slots = [fused_slot(run_steps[p][1]) for p in positions]
        replaced[positions[-1]] = _sourced_run([s for s in slots if s is not None], sourced.sources)
    return [
        (k, replaced.get(pos, step))
        for pos, (k, step) in enumerate(run_steps)
        if pos not in left_out
    ]


@dataclass
class Sourced:
    """A run's operands read from their sources: per step, its operands' `Source`s; the
    positions of the sends it reads through, and of its stashes with the positions of every
    step reading what each keeps (this run's steps, or others')."""

    sources: list[list[Source]]
    sends: set[int]
    stash_readers: dict[int, set[int]]


def _sources(
    run_steps: Sequence[tuple[int, Step]],
    planned: Sequence[Step],
    buffers: Sequence[Buffer],
    positions: Sequence[int],
    conflicts: np.ndarray,
) -> Sourced | None:
    """The run's operands from their sources, or None when an operand of some step cannot be
    read from its source at the run's last step."""
    last_k = run_steps[positions[-1]][0]
    out = Sourced([], set(), {})
    for pos in positions:
        slot = fused_slot(run_steps[pos][1])
        assert slot is not None
        if slot.lhs_key is None or slot.rhs_key is None:
            return None  # an operand read from SRAM at its step's own time
        mine = []
        for key in (slot.lhs_key, slot.rhs_key):
            found = _chain(run_steps, planned, buffers, pos, key, last_k, conflicts)
            if found is None:
                return None
            source, stash, send = found
            mine.append(source)
            out.sends.add(send)
            if stash not in out.stash_readers:
                readers = _readers(run_steps, stash)
                if readers is None:
                    return None
                out.stash_readers[stash] = readers
            if pos not in out.stash_readers[stash]:
                return None  # (the step's mark of what it reads as views misses this one)
        out.sources.append(mine)
    return out


def _chain(
    run_steps: Sequence[tuple[int, Step]],
    planned: Sequence[Step],
    buffers: Sequence[Buffer],
    pos: int,
    key: int,
    last_k: int,
    conflicts: np.ndarray,
) -> tuple[Source, int, int] | None:
    """(the source of in-flight operand `key` of the step at `pos`, the positions of its
    stash and its send) when the operand came through send view -> stash, the send's message
    taken by that stash alone, and nothing may write the sent tiles until plan step `last_k`;
    None otherwise."""
    found = _stash_writing(run_steps, pos, key)
    if found is None:
        return None
    stash, part = found
    rec = getattr(run_steps[stash][1], "elided")  # noqa: B009  (a plain function's mark)
    if rec.source is not None or not rec.release or not isinstance(rec.src, tuple):
        return None  # (a host array's view; a message other receives take too)
    send = _send_of(run_steps, planned, stash, rec.batch)
    if send is None:
        return None
    _, i, sel = getattr(run_steps[send][1], "view_of")  # noqa: B009  (as above)
    if buffers[i].dtype != buffers[rec.buffer].dtype:
        return None  # (the stash casts to its buffer's dtype)
    for k in range(run_steps[send][0] + 1, last_k + 1):
        if _may_write(planned[k], i, sel, conflicts):
            return None
    return Source(key, i, sel, rec.src, part, affine_view(rec.src)), stash, send


def _stash_writing(run_steps: Sequence[tuple[int, Step]], pos: int, key: int):
    """(the position of the stash that last wrote in-flight `key` before `pos`, the part of
    its view that `key` holds, None for the whole), or None when no stash wrote it."""
    for q in range(pos - 1, -1, -1):
        step = run_steps[q][1]
        rec = getattr(step, "elided", None)
        if rec is None:
            continue
        if view_key(rec.buffer) == key:
            return q, None
        for part_key, rel in getattr(step, "stash_parts", ()):
            if part_key == key:
                return q, rel
    return None


def _readers(run_steps: Sequence[tuple[int, Step]], stash: int) -> set[int] | None:
    """Positions of the steps that read what the stash at `stash` keeps (its view and the
    parts of it), each key until a later stash keeps that key again; None when a step may
    read it that is not a fused run's step (its keys unknown)."""
    step = run_steps[stash][1]
    buffer = getattr(step, "elided").buffer  # noqa: B009  (a plain function's mark)
    open_keys = {view_key(buffer)} | {k for k, _ in getattr(step, "stash_parts", ())}
    readers: set[int] = set()
    for q in range(stash + 1, len(run_steps)):
        if not open_keys:
            break
        other = run_steps[q][1]
        if buffer in read_as_views(other):
            slot = fused_slot(other)
            if slot is None:
                return None
            if open_keys & {slot.lhs_key, slot.rhs_key}:
                readers.add(q)
        rec = getattr(other, "elided", None)
        if rec is not None and rec.buffer == buffer:  # keys kept again from here on
            open_keys -= {view_key(buffer)} | {k for k, _ in getattr(other, "stash_parts", ())}
    return readers


def _send_of(
    run_steps: Sequence[tuple[int, Step]], planned: Sequence[Step], stash: int, batch: int
) -> int | None:
    """The position of the view-keeping send that filled in-flight `batch` for the stash at
    `stash`, when nothing else between them takes that message; None otherwise."""
    for q in range(stash - 1, -1, -1):
        k, step = run_steps[q]
        view_of = getattr(step, "view_of", None)
        if view_of is not None and view_of[0] == batch:
            return q
        acc = access_of(planned[k])
        if acc is None or acc.sent == batch or batch in acc.batches:
            return None  # a copying send of it, another taker, or a step that may be either
    return None


def _may_write(step: Step, buffer: int, sel: tuple[Any, ...], conflicts: np.ndarray) -> bool:
    """Whether the plan step `step` may write a byte of `buffer`'s part `sel`."""
    acc = access_of(step)
    if acc is None:
        operands = getattr(step, "operands", None)
        return operands is None or any(conflicts[buffer, o] for o in operands)
    return any(
        conflicts[buffer, b] and not (b == buffer and disjoint(part, sel))
        for b, part in acc.writes.items()
    )


def _sourced_run(slots: Sequence[FusedSlot], sources: Sequence[Sequence[Source]]) -> Step:
    """The run's last step: every step's operands read from their sources, the panels
    filled segment by segment as the steps would fill them (`put_slot`: a new segment where
    the operands' layout changes or the panels are full), each segment's product added.

    The operands are views of the SRAM's blocks, which never move: they are derived once per
    SRAM (`BufferViews.derived`), each segment's as one stacked view when its tiles lie
    equally far apart (`stacked`: one copy per operand into the panels). Operands that are
    not views (a copy, on some layout) are read again at every run."""
    uses = [slot.use for slot in slots]
    first = slots[0]
    key = object()  # this step's entry in an SRAM's derived views

    def operands(V) -> tuple[list[np.ndarray], list[np.ndarray]]:
        xs, ys = [], []
        for slot, mine in zip(slots, sources, strict=True):
            x, y = slot.operands(V, {s.key: s.view(V) for s in mine})
            xs.append(x)
            ys.append(y)
        return xs, ys

    def segments(V, xs: list[np.ndarray], ys: list[np.ndarray]) -> list[Segment]:
        out = []
        start = 0
        while start < len(xs):
            slots_held = panel_slots(uses[start], xs[start], ys[start])
            end = start + 1
            while (
                end < len(xs)
                and end - start < slots_held
                and xs[end].shape == xs[start].shape
                and ys[end].shape == ys[start].shape
            ):
                end += 1
            sx, sy = stacked(xs[start:end]), stacked(ys[start:end])
            if sx is None or sy is None:
                out.append(Segment(start, xs[start:end], ys[start:end], None, None))
            else:
                out.append(Segment(start, [xs[start]], [ys[start]], sx, sy))
            start = end
        return out

    def step(V, F, A, O):
        derived = getattr(V, "derived", None)
        found = None if derived is None else derived.get(key)
        if found is None:
            xs, ys = operands(V)
            found = segments(V, xs, ys), first.accumulator(V)
            if derived is not None and _views_of(V, [*xs, *ys, found[1]]):
                derived[key] = found
        parts, acc = found
        for part in parts:
            panels = Panels(V, uses[part.start], part.xs[0], part.ys[0])
            panels.assign = part.start == 0 and uses[0].zeroed
            if part.x is not None and part.y is not None:
                panels.put_stacked(part.x, part.y)
            else:
                panels.put_all(part.xs, part.ys)
            panels.add_into(acc, V, first.batched)

    # what it touches, for the passes after (pyflame/sim/deferred_replicas.py): the
    # accumulator its steps name, and the buffers every operand is read from (the sources:
    # the steps' own lhs and rhs buffers, received into by the receives left out, are not)
    acc = first.acc_buffer
    if acc is None or any(slot.acc_buffer != acc for slot in slots):
        return step
    reads = {s.buffer for mine in sources for s in mine} - {acc}
    set_operands(step, (acc, *sorted(reads)))
    if uses[0].zeroed:  # (its first segment's product written, not added)
        overwrites(step, acc, first.acc_part)
    return step


@dataclass(frozen=True)
class Segment:
    """The operands of one segment of a sourced run, from its step `start` on: the steps'
    `xs` and `ys` (the first only, when stacked), or stacked as `x` and `y`."""

    start: int
    xs: list[np.ndarray]
    ys: list[np.ndarray]
    x: np.ndarray | None
    y: np.ndarray | None


def _views_of(V: Sequence[np.ndarray], arrays: Sequence[np.ndarray]) -> bool:
    """Whether every array is a view of one of V's buffers' memory (not a copy made while
    deriving it: a copy would keep the run's first values)."""
    roots = {id(r) for v in V if (r := root_of(v)) is not None}
    for a in arrays:
        r = root_of(a)
        if r is None or id(r) not in roots:
            return False
    return True


__all__ = ["Source", "sourced_panels"]
