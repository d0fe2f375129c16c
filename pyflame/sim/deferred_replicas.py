"""Copies of tiles computed once, made only where something reads them.

A step computed once over equal tiles (pyflame/sim/uniform_tiles.py) computes the first
row / column / PE of its rectangle, then copies the result to the other PEs. Often the next
reader is another such step, which reads only the same first row / column / PE, and the
buffer dies before anything else reads it (a softmax's temporaries on every PE of a row):
the copies are wasted. `defer_replica_copies` (run once per Executable, on the steps as
`run` or `run_on_sram` runs them) moves each step's copies to just before the first later
step that may read or write the copied bytes in any other way, and leaves them out when a
later step overwrites every copied byte first or, for `run`, when no step reads them again.
Host outputs are unchanged (no step reads a copy before it is made); for `run_on_sram`
(`exact`) the copies still pending at the end are made there, so its SRAM stays exact.

What a step touches comes from its `Access` record, else the buffers its op names
(`operands`, set by the planner) with `overwrites`; a step with neither may touch anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pyflame.sim.step_access import (
    access_of,
    buffer_conflicts,
    dead_from,
    touches_no_sram,
    written_unread,
)

if TYPE_CHECKING:  # executable.py runs the pass: import its names for types only
    from pyflame.sim.executable import Buffer, Rect, Step

#: (destination index, source index) of one copy inside a buffer's view
Copy = tuple[tuple[Any, ...], tuple[Any, ...]]


@dataclass(frozen=True)
class ComputedOnce:
    """A step computed once: `inner` computes `rect_once` (the first row, column or PE of
    `rect`) of buffer `buffer`, whose part on `rect` is `sel` in the buffer's view; copies
    then fill the rest of `rect` (`copies`)."""

    inner: Step
    buffer: int
    sel: tuple[Any, ...]
    rect: Rect
    rect_once: Rect
    #: the buffers the op reads (its other operands; the destination too when not overwritten)
    reads: tuple[int, ...]
    #: whether it writes every element of its buffer on `rect`
    whole: bool


def set_computed_once(step: Step, once: ComputedOnce) -> Step:
    setattr(step, "computed_once", once)  # noqa: B010  (a plain function has no slot)
    return step


def computed_once(step: Step) -> ComputedOnce | None:
    return getattr(step, "computed_once", None)


def copies(once: ComputedOnce, have: Rect, want: Rect) -> list[Copy]:
    """The copies that fill `want` from `have` (both inside `once.rect`, from its first PE;
    `have` one row / column / PE of `want`): along the row first, then down the columns."""
    rows, cols, lanes = once.sel
    _, _, hr, hc = have
    _, _, wr, wc = want
    r, c = rows.start, cols.start
    out: list[Copy] = []
    if hc == 1 and wc > 1:  # the first column to the others (on `have`'s rows)
        out.append(
            (
                (slice(r, r + hr), slice(c + 1, c + wc), lanes),
                (slice(r, r + hr), slice(c, c + 1), lanes),
            )
        )
    if hr == 1 and wr > 1:  # then the first row to the other rows
        out.append(
            (
                (slice(r + 1, r + wr), slice(c, c + wc), lanes),
                (slice(r, r + 1), slice(c, c + wc), lanes),
            )
        )
    return out


def copy_step(buffer: int, copies: Sequence[Copy]) -> Step:
    """The copies of a step computed once, as a step of their own."""
    copies = tuple(copies)

    def replica_copies(V, F, A, O):
        view = V[buffer]
        for to, frm in copies:
            view[to] = view[frm]

    return replica_copies


def rect_within(inner: Rect, outer: Rect) -> bool:
    """Whether PE rectangle `inner` lies inside `outer`."""
    return (
        outer[0] <= inner[0]
        and inner[0] + inner[2] <= outer[0] + outer[2]
        and outer[1] <= inner[1]
        and inner[1] + inner[3] <= outer[1] + outer[3]
    )


def _touches(step: Step) -> set[int] | None:
    """The buffers a step may read or write; None when it may touch anything."""
    once = computed_once(step)
    if once is not None:
        return {*once.reads, once.buffer}
    if touches_no_sram(step):
        return set()
    acc = access_of(step)
    if acc is not None:
        return set(acc.reads) | set(acc.writes)
    operands = getattr(step, "operands", None)
    return None if operands is None else set(operands)


def set_reads_pes(step: Step, buffer: int, rect: Rect) -> Step:
    """Record that `step` only reads buffer `buffer` (its one operand), on PEs `rect` (a host
    output reads the first replica of each tile)."""
    setattr(step, "reads_pes", (buffer, rect))  # noqa: B010  (a plain function has no slot)
    return step


def _needs(
    made: ComputedOnce, have: Rect, step: Step, step_once: ComputedOnce | None, b: int
) -> Rect | None:
    """What of buffer `b` (pending from `made`, held on `have`) `step`, which touches `b` (and
    no buffer sharing its bytes), needs made first, as `made.rect` or a smaller rectangle
    from its first PE (`have` when nothing): `have` for a step that reads only PEs `have`
    holds and, if it writes `b`, is computed once and writes every element on PEs covering
    all of `made`'s (its own copies then overwrite every pending one); None: all of it."""
    if step_once is None:
        read = getattr(step, "reads_pes", None)
        return have if read is not None and read[0] == b and rect_within(read[1], have) else None
    if step_once.buffer == b and not (step_once.whole and rect_within(made.rect, step_once.rect)):
        return None
    if b not in step_once.reads or rect_within(step_once.rect_once, have):
        return have
    want = step_once.rect_once
    if want[:2] != made.rect[:2] or not rect_within(want, made.rect):
        return None
    # the first rows / columns the step reads: a bigger part of `made`'s from its first PE
    return (want[0], want[1], max(want[2], have[2]), max(want[3], have[3]))


def _overwrites_copies(
    step: Step, made: ComputedOnce, others: list[int], buffers: Sequence[Buffer]
) -> bool:
    """Whether `step` writes every byte `made`'s copies would write, reading none of them:
    it touches one buffer sharing those bytes, holding all of them, and writes it whole on
    PEs covering `made`'s (allocate-sram gives a dead temporary's bytes to the next)."""
    if len(others) != 1:
        return False
    j = others[0]
    once = computed_once(step)
    if once is not None:
        if once.buffer != j or not once.whole or j in once.reads:
            return False
        rect = once.rect
    else:
        written = getattr(step, "overwrites", None)
        acc = access_of(step)
        if written is None:
            return False
        if acc is not None:  # (an Access names all the step reads and writes)
            if set(acc.writes) != {j} or written_unread(step, acc) is None:
                return False
            if made.buffer in acc.reads:
                return False
        else:
            operands = getattr(step, "operands", None)
            if operands is None or {j, made.buffer} & set(operands[1:]):
                return False
        if written[0] != j or not _whole_lanes(written[1], buffers[j]):
            return False
        rows, cols = written[1][0], written[1][1]
        br, bc = buffers[j].rect[0], buffers[j].rect[1]
        rect = (br + rows.start, bc + cols.start, rows.stop - rows.start, cols.stop - cols.start)
    a, b = buffers[j], buffers[made.buffer]
    holds = a.offset <= b.offset and b.offset + b.nbytes <= a.offset + a.nbytes
    return holds and rect_within(made.rect, rect)


def _whole_lanes(sel: Any, b: Buffer) -> bool:
    lanes = sel[2] if isinstance(sel, tuple) and len(sel) == 3 else None
    return (
        isinstance(lanes, slice)
        and (lanes.start or 0) == b.first
        and lanes.stop == b.first + b.size
        and lanes.step in (None, 1)
        and all(isinstance(x, slice) and x.step in (None, 1) for x in sel[:2])
    )


def defer_replica_copies(
    steps: Sequence[tuple[int, Step]], buffers: Sequence[Buffer], exact: bool
) -> list[tuple[int, Step]]:
    """`steps` ((index, step) pairs) with the copies of steps computed once made late."""
    if not any(computed_once(s) is not None for _, s in steps):
        return list(steps)
    conflicts = buffer_conflicts(buffers)
    # buffer -> (step index, its step, the PEs that hold its values so far)
    pending: dict[int, tuple[int, ComputedOnce, Rect]] = {}
    out: list[tuple[int, Step]] = []

    def make(buffer: int, want: Rect | None = None) -> None:
        k, once, have = pending.pop(buffer)
        part = once.rect if want is None else want
        out.append((k, copy_step(once.buffer, copies(once, have, part))))
        if want is not None and want != once.rect:
            pending[buffer] = (k, once, want)

    plan = [step for _, step in steps]
    for pos, (k, step) in enumerate(steps):
        if pending:
            once = computed_once(step)
            touched = _touches(step)
            if touched is None:
                for b in list(pending):
                    make(b)
            else:
                for b in list(pending):
                    _, made, have = pending[b]
                    others = [j for j in touched if j != b and conflicts[b, j]]
                    if others and _overwrites_copies(step, made, others, buffers):
                        del pending[b]  # every byte its copies would write is written first
                    elif (
                        others
                        and not exact
                        and dead_from(plan, pos, b, made.sel, conflicts, buffers)
                    ):
                        # another buffer takes the bytes (allocate-sram gave it a dead
                        # temporary's) and no step reads any of them before writing it
                        del pending[b]
                    elif others:
                        make(b)
                    elif b in touched:
                        need = _needs(made, have, step, once, b)
                        if need != have:
                            make(b, need)
        once = computed_once(step)
        if once is None:
            out.append((k, step))
        else:
            out.append((k, once.inner))
            pending[once.buffer] = (k, once, once.rect_once)
    if exact:
        for b in list(pending):
            make(b)
    return out


__all__ = [
    "ComputedOnce",
    "computed_once",
    "copies",
    "defer_replica_copies",
    "rect_within",
    "set_computed_once",
    "set_reads_pes",
]
