"""Sends and receives that no host output depends on: `Executable.run` leaves them out.

A barrier (allocate-colors: a chain sum of one word along each row, down the last column, then
a multicast back, ordering route switches) moves words nothing but other barriers read. At plan
time it is a few hundred small steps (each wave of a forwarding chain is a receive and a send);
at run time each costs a few microseconds of numpy calls whose results no output uses (the MLP
training step: ~9,000 of its ~11,000 steps, three quarters of its host time).

`dead_transfers` (run once per Executable) walks the steps backwards, keeping which buffers a
later kept step may read (from the steps' `Access` records, pyflame/sim/step_access.py; a step
without one may read any buffer its op names, `operands`, set by the planner; a step with
neither, anything) and which in-flight messages a kept receive takes:

- a receive is dead when no later kept step reads any byte it writes (any buffer sharing bytes
  with its destination), unless it combines int32 partial results (its overflow check is
  observable);
- a send is dead when no kept receive takes its message;
- a step that overwrites all of a buffer (a receive of one whole message group, or a kernel
  that says so with `overwrites`: the elementwise ops, transpose, broadcast, reduce, host
  input; an exchange whose phases together write every element) ends the life of the values
  before it, so what an earlier dead barrier left in bytes
  a later buffer reuses is not read.

A dead receive still releases the messages of kept sends; a dead send does nothing (and the
run loop leaves out both when nothing is left to do). Host outputs are
what they were (no kept step reads what a dead one wrote); the SRAM after the run is not:
`run_with_sram` and `run_on_sram` run every step, so the SRAM they return stays exact (tests
compare both runs, tests/unit/sim/test_dead_transfers.py). Simulated cycles are the planner's;
routes, colors and deliveries are checked at plan time, so a corrupted barrier still fails.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from pyflame.sim.step_access import (
    Access,
    access_of,
    annotate,
    buffer_conflicts,
    written_unread,
)

if TYPE_CHECKING:  # executable.py runs the pass: import its names for types only
    from pyflame.sim.executable import Buffer, Step

#: an int32 partial-result combine checks for overflow: such a receive always runs
CHECKED_COMBINES = frozenset({"sum", "prod"})


def set_operands(step: Step, buffers: Iterable[int]) -> Step:
    """Record on a step without an `Access` the buffers its op names, in operand order (it
    may read or write any of them; the planner calls this for every such step)."""
    setattr(step, "operands", tuple(buffers))  # noqa: B010  (a plain function has no slot)
    return step


def overwrites(step: Step, buffer: int, sel: tuple[slice, slice, slice]) -> Step:
    """Record that `step` writes every element of `V[buffer][sel]`, its op's first operand,
    reading it only where it is also a later operand (a kernel calls this; when `sel` is the
    whole buffer, the values before the step are dead)."""
    setattr(step, "overwrites", (buffer, sel))  # noqa: B010  (a plain function has no slot)
    return step


def whole(b: Buffer, sel: Any) -> bool:
    """Whether index `sel` of a buffer's (rows, cols, size) view is all of it."""
    if not isinstance(sel, tuple) or len(sel) != 3:
        return False
    full = (b.rect[2], b.rect[3], b.size)
    return all(
        isinstance(s, slice) and s.start in (None, 0) and s.stop == n and s.step in (None, 1)
        for s, n in zip(sel, full, strict=True)
    )


def _reads_of(step: Step, buffers: Sequence[Buffer]) -> tuple[int | None, tuple[int, ...] | None]:
    """(the buffer a step without an Access overwrites whole, or None; the buffers it may
    read, or None for any)."""
    operands = getattr(step, "operands", None)
    if operands is None:
        return None, None
    written = getattr(step, "overwrites", None)
    if written is None or not operands or operands[0] != written[0]:
        return None, operands
    if not whole(buffers[written[0]], written[1]):
        return None, operands
    return written[0], operands[1:]


def _released_only(released: tuple[int, ...]) -> Step:
    """A dead receive: no data moves; the messages it released are dropped as before."""

    def step(V, F, A, O):
        for g in released:
            F.pop(g, None)

    setattr(step, "dead_transfer", True)  # noqa: B010  (is_dead reads it)
    return annotate(step, Access(released=released))


def _dead_send(V, F, A, O):  # a send no kept receive takes (or a receive of only those)
    pass


setattr(_dead_send, "dead_transfer", True)  # noqa: B010  (is_dead reads it)
setattr(_dead_send, "noop", True)  # noqa: B010  (step_access.is_noop reads it)
annotate(_dead_send, Access())


def is_dead(step: Step) -> bool:
    """Whether `step` replaces a send or receive no output depends on."""
    return getattr(step, "dead_transfer", False)


def _checked(acc: Access, buffers: Sequence[Buffer]) -> bool:
    return acc.combine in CHECKED_COMBINES and any(buffers[w].dtype == np.int32 for w in acc.writes)


def _exchange_kills(
    accesses: Sequence[Access | None], buffers: Sequence[Buffer], conflicts: np.ndarray
) -> dict[int, int]:
    """{first step of a run of consecutive gathers into one buffer (the phases of one
    pe.exchange, reading buffers that do not share its bytes): that buffer}, for the runs
    whose phases together write every element of it."""
    kills: dict[int, int] = {}
    k = 0
    while k < len(accesses):
        acc = accesses[k]
        first = acc.gather if acc is not None else None
        if first is None or conflicts[first.src, first.dst]:
            k += 1
            continue
        run = [first]
        j = k + 1
        while j < len(accesses):
            nxt = accesses[j]
            g = nxt.gather if nxt is not None else None
            if g is None or g.dst != first.dst or g.dst_sel != first.dst_sel:
                break
            if conflicts[g.src, g.dst]:
                break
            run.append(g)
            j += 1
        b = buffers[first.dst]
        if whole(b, first.dst_sel):
            shape = (b.rect[2], b.rect[3], b.size)
            hit = np.zeros(shape, dtype=bool)
            for g in run:
                hit[g.dst_idx] = True
                if g.zero_idx[0].size:
                    hit[g.zero_idx] = True
            if hit.all():
                kills[k] = first.dst
        k = j
    return kills


def _tiled_by_windows(buffers: Sequence[Buffer]) -> dict[int, list[int]]:
    """{buffer: its windows} for the buffers that their windows (`Buffer.whole`: a packed
    `mesh.allreduce_group`'s operands and results) cover exactly, end to end."""
    windows: dict[int, list[int]] = {}
    for j, b in enumerate(buffers):
        if b.whole is not None:
            windows.setdefault(b.whole, []).append(j)
    tiled = {}
    for i, js in windows.items():
        spans = sorted((buffers[j].offset, buffers[j].offset + buffers[j].nbytes) for j in js)
        b = buffers[i]
        ends = spans[0][0] == b.offset and spans[-1][1] == b.offset + b.nbytes
        if ends and all(a[1] == c[0] for a, c in zip(spans, spans[1:], strict=False)):
            tiled[i] = js
    return tiled


def dead_transfers(steps: Sequence[Step], buffers: Sequence[Buffer]) -> list[Step]:
    """`steps` with every send and receive that no host output depends on replaced by a step
    that moves nothing (one step for one step: indices are unchanged)."""
    out = list(steps)
    accesses = [access_of(s) for s in steps]
    if not any(a is not None and (a.batches or a.sent is not None) for a in accesses):
        return out
    conflicts = buffer_conflicts(buffers)
    kills = _exchange_kills(accesses, buffers, conflicts)
    read_later = np.zeros(len(buffers), dtype=bool)  # a later kept step may read the buffer
    tiles = _tiled_by_windows(buffers)

    def mark(r: int) -> None:
        """A later kept step reads buffer r: the windows tiling it, when it is tiled by them
        (each window's producer writes it whole, which ends its life; the whole buffer is
        never written whole in one step), else r itself."""
        if r in tiles:
            read_later[tiles[r]] = True
        else:
            read_later[r] = True

    taken_later: set[int] = set()  # messages a later kept receive takes
    dead_sends: set[int] = set()
    dead_receives: list[int] = []
    for k in range(len(steps) - 1, -1, -1):
        acc = accesses[k]
        if acc is None:
            killed, reads = _reads_of(steps[k], buffers)
            if killed is not None:
                read_later[killed] = False
            if reads is None:
                read_later[:] = True
            for j in reads or ():
                mark(j)
            continue
        if acc.sent is not None and acc.sent not in taken_later:
            out[k] = _dead_send
            dead_sends.add(acc.sent)
            continue
        if (
            acc.batches
            and not any(read_later[conflicts[w]].any() for w in acc.writes)
            and not _checked(acc, buffers)
        ):
            dead_receives.append(k)
            continue
        rec = acc.received
        if rec is not None and whole(buffers[rec.buffer], rec.dst):
            read_later[rec.buffer] = False  # a receive that overwrites all of its buffer
        if k in kills:
            read_later[kills[k]] = False  # an exchange whose phases write all of it
        written = written_unread(steps[k], acc)  # (a copy, a pack, an unpack)
        if written is not None and whole(buffers[written[0]], written[1]):
            read_later[written[0]] = False
        for r in acc.reads:
            mark(r)
        taken_later.update(acc.batches)
    for k in dead_receives:
        acc = accesses[k]
        assert acc is not None  # a receive has its record
        kept = tuple(g for g in acc.released if g not in dead_sends)
        out[k] = _released_only(kept) if kept else _dead_send
    return out


__all__ = [
    "CHECKED_COMBINES",
    "dead_transfers",
    "is_dead",
    "overwrites",
    "set_operands",
    "whole",
]
