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

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
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
from pyflame.sim.rebased_views import RebasedView, layout_of, rebased_view
from pyflame.sim.step_access import (
    LANES_OUTER,
    PE_MAJOR,
    Received,
    access_of,
    buffer_conflicts,
    dead_from,
    disjoint,
    read_as_views,
    touches_no_sram,
    view_key,
)

if TYPE_CHECKING:  # executable.py runs the pass: import its names for types only
    from pyflame.sim.executable import Buffer, Step


#: (V, F, A) -> a host input's tiles, as `Received.stand_in` gives them
HostTiles = Callable[[Sequence[np.ndarray], dict, list], np.ndarray]


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
    #: the `pe.host_in` that wrote all of `sel` before the send (its position in the run's
    #: steps), with `sel` as an index into what it wrote: its host tiles may stand in
    host_in: int | None = None
    host_sel: tuple[Any, ...] = ()
    #: set in a run's step: the number of the host input it reads instead of SRAM
    host: int | None = None

    def view(self, V: Sequence[np.ndarray], hosts: Sequence[np.ndarray] = ()) -> np.ndarray:
        if self.host is None:
            sent = V[self.buffer][self.sel]
        else:
            sent = hosts[self.host][self.host_sel]
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
    host_inputs = HostInputs(run_steps, planned, conflicts)
    found: dict[int, Sourced] = {}
    for key, positions in runs.items():
        slots = [fused_slot(run_steps[p][1]) for p in positions]
        if [s.use.slot for s in slots if s is not None] != list(range(len(positions))):
            continue  # (not the whole run: leave it)
        sourced = _sources(run_steps, planned, buffers, positions, conflicts, host_inputs)
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
    for key, sourced in found.items():
        left_out.update(sourced.stash_readers, sourced.sends, runs[key][:-1])
    # the host inputs read by the runs instead of the tiles they write, and left out: those
    # whose bytes nothing else reads before they are written again (or ever)
    hosted = {
        h for f in found.values() for m in f.sources for s in m if (h := s.host_in) is not None
    }
    shared: dict[tuple[int, tuple[int, ...]], object] = {}  # (a stand-in's key in F)
    while True:
        replaced: dict[int, Step] = {}
        for key, sourced in found.items():
            positions = runs[key]
            slots = [fused_slot(run_steps[p][1]) for p in positions]
            fused = [s for s in slots if s is not None]
            sources, hosts = _reading_hosts(
                fused, sourced.sources, hosted, run_steps, planned, shared
            )
            replaced[positions[-1]] = _sourced_run(fused, sources, hosts)
        kept = [
            (pos, (k, replaced.get(pos, step)))
            for pos, (k, step) in enumerate(run_steps)
            if pos not in left_out and pos not in hosted
        ]
        unread = {
            h for h in hosted if _unread_after(kept, h, run_steps, planned, buffers, conflicts)
        }
        if unread == hosted:
            return [step for _, step in kept]
        hosted = unread


def _reading_hosts(
    slots: Sequence[FusedSlot],
    sources: Sequence[Sequence[Source]],
    hosted: set[int],
    run_steps: Sequence[tuple[int, Step]],
    planned: Sequence[Step],
    shared: dict[tuple[int, tuple[int, ...]], object],
) -> tuple[list[list[Source]], list[HostTiles]]:
    """`sources` (per slot: lhs, rhs) with each one whose `pe.host_in` is left out (`hosted`)
    reading that host input's tiles instead, and those inputs' tiles (numbered in order of
    position). A host array's tiles are scattered in the order its reader copies them best:
    an [n, k] rhs into the (N, K) panel (`Panels.rhs_nk`) lanes outermost, then PE columns,
    as a device array's on the transposed grid (the panel's rows: PE rows); any other
    PE-major. Each is made once per run however many runs read it (`_once_per_run`)."""
    order = sorted(h for h in {s.host_in for m in sources for s in m} & hosted if h is not None)
    number = {h: n for n, h in enumerate(order)}
    out = []
    for mine in sources:
        out.append([replace(s, host=number[s.host_in]) if s.host_in in number else s for s in mine])
    by_rows = {
        mine[1].host_in for slot, mine in zip(slots, sources, strict=True) if slot.rhs_transposed
    }
    hosts: list[HostTiles] = []
    for h in order:
        stand_in = _host_received(run_steps, planned, h).stand_in
        assert stand_in is not None
        laid = LANES_OUTER if h in by_rows else PE_MAJOR
        hosts.append(
            partial(
                _once_per_run, partial(stand_in, order=laid), shared.setdefault((h, laid), object())
            )
        )
    return out, hosts


def _once_per_run(stand_in: HostTiles, key: object, V, F: dict, A: list) -> np.ndarray:
    """A host input's stand-in made once per run, whichever of the runs reading it asks
    first (the MLP's batch: the forward and the weight gradient), kept in the run's
    in-flight dict under `key`."""
    tiles = F.get(key)
    if tiles is None:
        tiles = F[key] = stand_in(V, F, A)
    return tiles


def _host_received(run_steps: Sequence[tuple[int, Step]], planned: Sequence[Step], h: int):
    """The `Received` record of the `pe.host_in` at run position `h`."""
    acc = access_of(planned[run_steps[h][0]])
    assert acc is not None and acc.received is not None and acc.received.stand_in is not None
    return acc.received


def _unread_after(
    kept: Sequence[tuple[int, tuple[int, Step]]],
    h: int,
    run_steps: Sequence[tuple[int, Step]],
    planned: Sequence[Step],
    buffers: Sequence[Buffer],
    conflicts: np.ndarray,
) -> bool:
    """Whether no kept step after the `pe.host_in` at run position `h` reads a byte it writes
    before that byte is written again (`dead_from`): it may then write nothing."""
    rec = _host_received(run_steps, planned, h)
    after = next((n for n, (pos, _) in enumerate(kept) if pos > h), len(kept))
    steps = [step for _, (_, step) in kept]
    return dead_from(steps, after, rec.buffer, rec.dst, conflicts, buffers)


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
    host_inputs: HostInputs,
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
            found = _chain(run_steps, planned, buffers, pos, key, last_k, conflicts, host_inputs)
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
    host_inputs: HostInputs,
) -> tuple[Source, int, int] | None:
    """(the source of in-flight operand `key` of the step at `pos`, the positions of its
    stash and its send) when the operand came through send view -> stash, the send's message
    taken by that stash alone, and nothing may write the sent tiles until plan step `last_k`;
    None otherwise. The source names the `pe.host_in` that wrote the sent tiles, if one did."""
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
    source = Source(key, i, sel, rec.src, part, affine_view(rec.src))
    written = host_inputs.writer(send, i, sel)
    if written is not None:
        source = replace(source, host_in=written[0], host_sel=written[1])
    return source, stash, send


class HostInputs:
    """The `pe.host_in`s among the run steps that write SRAM, by buffer: (position, what it
    writes, the position of the first later step that may write any of those bytes)."""

    def __init__(
        self, run_steps: Sequence[tuple[int, Step]], planned: Sequence[Step], conflicts: np.ndarray
    ):
        self.by_buffer: dict[int, list[tuple[int, Received, int]]] = {}
        for pos, (k, step) in enumerate(run_steps):
            acc = access_of(planned[k])
            rec = None if acc is None else acc.received
            if rec is None or rec.stand_in is None or touches_no_sram(step):
                continue
            end = next(
                (
                    q
                    for q in range(pos + 1, len(run_steps))
                    if _may_write(planned[run_steps[q][0]], rec.buffer, rec.dst, conflicts)
                ),
                len(run_steps),
            )
            self.by_buffer.setdefault(rec.buffer, []).append((pos, rec, end))

    def writer(self, pos: int, buffer: int, sel: tuple[Any, ...]) -> tuple[int, Any] | None:
        """(the position of the host input whose writes the step at `pos` reads as `buffer`'s
        part `sel`, `sel` as an index into what it wrote), or None when no host input wrote
        all of `sel` with nothing writing it since."""
        for at, rec, end in self.by_buffer.get(buffer, ()):
            if at < pos < end:
                inside = _relative(sel, rec.dst)
                return None if inside is None else (at, inside)
        return None


def _relative(sel: tuple[Any, ...], whole: tuple[Any, ...]) -> tuple[slice, ...] | None:
    """`sel` (slices of step 1) as an index into `V[...][whole]`, or None when not inside."""
    out = []
    if len(sel) != len(whole):
        return None
    for a, w in zip(sel, whole, strict=True):
        if not (isinstance(a, slice) and isinstance(w, slice)):
            return None
        if a.step not in (None, 1) or w.step not in (None, 1):
            return None
        if None in (a.start, a.stop, w.start, w.stop) or a.start < w.start or a.stop > w.stop:
            return None
        out.append(slice(a.start - w.start, a.stop - w.start))
    return tuple(out)


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


def _sourced_run(
    slots: Sequence[FusedSlot],
    sources: Sequence[Sequence[Source]],
    hosts: Sequence[HostTiles] = (),
) -> Step:
    """The run's last step: every step's operands read from their sources, the panels
    filled segment by segment as the steps would fill them (`put_slot`: a new segment where
    the operands' layout changes or the panels are full), each segment's product added.

    The operands are views of the SRAM's blocks, which never move: they are derived once per
    SRAM (`BufferViews.derived`), each segment's as one stacked view when its tiles lie
    equally far apart (`stacked`: one copy per operand into the panels). Those read from a
    host input's tiles (`hosts`: a new array every run) are kept as `RebasedView`s, made
    again on each run's tiles while they are laid out alike. Operands that are not views (a
    copy, on some layout) are read again at every run."""
    uses = [slot.use for slot in slots]
    first = slots[0]
    key = object()  # this step's entry in an SRAM's derived views

    def operands(V, H) -> tuple[list[np.ndarray], list[np.ndarray]]:
        xs, ys = [], []
        for slot, mine in zip(slots, sources, strict=True):
            x, y = slot.operands(V, {s.key: s.view(V, H) for s in mine})
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
        H = [tiles(V, F, A) for tiles in hosts]
        derived = getattr(V, "derived", None)
        # (one entry per layout of the host tiles: a device array's view, or a scratch
        # array once the user has read the device array's values)
        entry = (key, *(layout_of(h) for h in H)) if H else key
        kept = None if derived is None else derived.get(entry)
        found = None if kept is None else kept.on(H)
        if found is None:
            xs, ys = operands(V, H)
            found = segments(V, xs, ys), first.accumulator(V)
            if derived is not None:
                kept = Derived.of(V, H, *found)
                if kept is not None:
                    derived[entry] = kept
        parts, acc = found
        for part in parts:
            panels = Panels(V, uses[part.start], part.xs[0], part.ys[0], first.rhs_transposed)
            panels.assign = part.start == 0 and uses[0].zeroed
            if part.x is not None and part.y is not None:
                panels.put_stacked(part.x, part.y)
            else:
                panels.put_all(part.xs, part.ys)
            panels.add_into(acc, V, first.batched)

    # what it touches, for the passes after (pyflame/sim/deferred_replicas.py): the
    # accumulator its steps name, and the buffers every operand is read from (the sources:
    # the steps' own lhs and rhs buffers, received into by the receives left out, are not;
    # nor are the buffers whose host inputs it reads instead)
    acc = first.acc_buffer
    if acc is None or any(slot.acc_buffer != acc for slot in slots):
        return step
    reads = {s.buffer for mine in sources for s in mine if s.host is None} - {acc}
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


#: an operand as kept: a view of the SRAM, or of a host input's tiles (made again each run)
Kept = np.ndarray | RebasedView


@dataclass(frozen=True)
class Derived:
    """A sourced run's segments and accumulator as derived once on an SRAM: their operands
    views of the SRAM or `RebasedView`s of the host inputs' tiles (kept under an entry
    naming the tiles' layouts: valid on any run's tiles laid out alike)."""

    parts: list[tuple[int, list[Kept], list[Kept], Kept | None, Kept | None]]
    acc: np.ndarray
    #: the segments made on the host tiles at these addresses (`on`)
    made: dict[tuple[int, ...], tuple[list[Segment], np.ndarray]] = field(default_factory=dict)

    @staticmethod
    def of(V, H: list[np.ndarray], parts: list[Segment], acc: np.ndarray) -> Derived | None:
        """The segments kept, or None when an operand is neither kind of view (a copy made
        while deriving it would keep the run's first values)."""
        roots = {id(r) for v in V if (r := root_of(v)) is not None}

        def keep(a: np.ndarray) -> Kept:
            on_host = rebased_view(a, H) if H else None
            if on_host is not None:
                return on_host
            r = root_of(a)
            if r is None or id(r) not in roots:
                raise _NotAView
            return a

        try:
            kept = [
                (
                    p.start,
                    [keep(a) for a in p.xs],
                    [keep(a) for a in p.ys],
                    None if p.x is None else keep(p.x),
                    None if p.y is None else keep(p.y),
                )
                for p in parts
            ]
            keep(acc)
        except _NotAView:
            return None
        return Derived(kept, acc)

    def on(self, H: list[np.ndarray]) -> tuple[list[Segment], np.ndarray]:
        """The segments on this run's host tiles `H` (laid out as when derived: the entry
        it is kept under names their layouts)."""
        # the tiles at the addresses of an earlier run's (the same memory: the views made
        # then hold it), as when two SRAMs take turns lending a device array's tiles
        at = tuple(h.__array_interface__["data"][0] for h in H)
        found = self.made.get(at)
        if found is None:
            if len(self.made) >= MADE_VIEWS:
                self.made.clear()
            found = self.made[at] = self._segments(H), self.acc
        return found

    def _segments(self, H: list[np.ndarray]) -> list[Segment]:
        def view(a: Kept) -> np.ndarray:
            return a.on(H[a.base]) if isinstance(a, RebasedView) else a

        return [
            Segment(
                start,
                [view(a) for a in xs],
                [view(a) for a in ys],
                None if x is None else view(x),
                None if y is None else view(y),
            )
            for start, xs, ys, x, y in self.parts
        ]


#: the host tiles' addresses whose views a `Derived` keeps made (the rest made again)
MADE_VIEWS = 4


class _NotAView(Exception):
    """An operand that is a copy (`Derived.of`)."""


__all__ = ["Source", "sourced_panels"]
