"""Which buffers a run-time step reads and writes; receives that need not write SRAM and sends
that need not copy.

A SUMMA step receives a broadcast tile into a buffer (`V[i][:] = F[g][row k]`, g PEs' copies
of one tile) only for the next `pe.matmul_acc` to read it, then the next step's receive
overwrites it. Writing those copies is most of the host time of a GEMM, and all of it for a
GEMV. `elide_receives` (run once per Executable) finds such receives from the steps' `Access`
records and rewrites them:

    recv  %a  (V[a] = F[g][sel])          ->  F[view_key(a)] = F[g][sel]   (a view: no copy)
    matmul_acc %acc, %a, %b               ->  reads F[view_key(a)] instead of V[a]
    ...   (no other step touches the bytes of %a)
    recv  %a  (overwrites all of it)

The matmul computes with exactly the data the receive would have written (the same values,
broadcast along the PEs that share them), and SRAM after the run is unchanged: a receive is
elided only when a later receive overwrites the same bytes before anything else reads them,
so the last receive of a buffer always writes. Likewise a send keeps a view of its buffer
instead of a copy while nothing writes those bytes until its message has been used. A step
without an `Access` record is a barrier: it may read or write anything.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from pyflame.sim.affine_gather import affine_view
from pyflame.sim.flat_gather import flat_gather, view_strides

if TYPE_CHECKING:  # executable.py runs the pass: import its names for types only
    from pyflame.sim.executable import Buffer, Step

#: how far past a receive to look for the receive that overwrites its buffer
SCAN_STEPS = 64


#: a `Received.stand_in`'s tiles in memory, (rows, cols, lanes) axes outermost first: PE by
#: PE (the host array's own runs of a tile's elements), or lane by lane and then PE column
#: by PE column (as a device array's tiles on the transposed grid: PE rows innermost)
PE_MAJOR, LANES_OUTER = (0, 1, 2), (2, 1, 0)


@dataclass(frozen=True)
class Received:
    """A receive that overwrites `V[buffer][dst]` with `F[batch][src]` (one whole message
    group, no combining), deleting `F[batch]` after when `release`. `source`, when given,
    makes the data instead (F, A) -> the tiles (rows, cols, ...) it writes: a `pe.host_in`'s
    scatter of its argument, a view of the host array."""

    buffer: int
    dst: tuple[Any, ...]
    batch: int
    src: Any
    release: bool
    source: Callable[[dict, list], np.ndarray] | None = None
    #: (V, F, A, order=PE_MAJOR) -> what a `pe.host_in` writes, shaped as `V[buffer][dst]`,
    #: SRAM left as it is: a view of a device array's tiles, or a scratch array of the SRAM
    #: holding the host array's tiles, laid out in `order` (pyflame/sim/sourced_panels.py
    #: reads it instead of the buffer)
    stand_in: Callable[..., np.ndarray] | None = None


#: (src_idx, dst_idx) of a gather: a (row, col, element) index array per axis and side
GatherIndices = tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]]


@dataclass(frozen=True, eq=False)
class Gather:
    """A step that writes `V[dst][dst_sel][dst_idx] = V[src][src_sel][src_idx]`, then zeroes
    `V[dst][dst_sel][zero_idx]` (one phase of a pe.exchange).

    The index arrays are made on demand by `indices()` (and dropped after use): an exchange
    phase keeps only its elements' flat numbers, a view of its cached plan, instead of six
    int64 arrays per moved element (48 bytes; ~1.6 GB for one 4096^2 redistribution)."""

    src: int
    src_sel: tuple[Any, ...]
    dst: int
    dst_sel: tuple[Any, ...]
    #: elements moved (the length of each index array)
    size: int
    indices: Callable[[], GatherIndices]
    #: the dst elements zeroed, made on demand too
    zeros: Callable[[], tuple[np.ndarray, ...]]

    @property
    def zero_idx(self) -> tuple[np.ndarray, ...]:
        return self.zeros()

    @property
    def src_idx(self) -> tuple[np.ndarray, ...]:
        return self.indices()[0]

    @property
    def dst_idx(self) -> tuple[np.ndarray, ...]:
        return self.indices()[1]


def fixed_gather(
    src: int,
    src_sel: tuple[Any, ...],
    src_idx: tuple[np.ndarray, ...],
    dst: int,
    dst_sel: tuple[Any, ...],
    dst_idx: tuple[np.ndarray, ...],
    zero_idx: tuple[np.ndarray, ...],
) -> Gather:
    """A Gather over index arrays already made."""
    return Gather(
        src,
        src_sel,
        dst,
        dst_sel,
        int(src_idx[0].size),
        lambda: (src_idx, dst_idx),
        lambda: zero_idx,
    )


@dataclass(frozen=True)
class Access:
    """What a step touches: `reads` and `writes` map buffer index -> the index of the step's
    part of that buffer's view. `received` marks an elidable receive; `rebuild`, given
    {buffer index: in-flight key}, makes the same step reading those buffers from the
    in-flight views instead of SRAM (None: the step always reads SRAM). `sent` is the
    in-flight key a send fills (with a copy of its one read), `released` the keys a receive
    deletes once every delivery is received. A receive also names the in-flight keys it
    takes (`batches`) and how it combines them (`combine`: None overwrites), which
    pyflame/sim/dead_transfers.py reads. A rebuilt step computes the very same numbers
    from the views as from SRAM (bit for bit), so a buffer's last receive may also become a
    view under `until_end`."""

    reads: dict[int, tuple[Any, ...]] = field(default_factory=dict)
    writes: dict[int, tuple[Any, ...]] = field(default_factory=dict)
    received: Received | None = None
    rebuild: Callable[[dict[int, int]], Step] | None = None
    sent: int | None = None
    released: tuple[int, ...] = ()
    gather: Gather | None = None
    batches: tuple[int, ...] = ()
    combine: str | None = None


def annotate(step: Step, access: Access) -> Step:
    """Attach `access` to `step` (the elision pass reads it back with `access_of`)."""
    setattr(step, "access", access)  # noqa: B010  (a plain function has no declared slot)
    return step


def access_of(step: Step) -> Access | None:
    return getattr(step, "access", None)


def written_unread(step: Step, acc: Access) -> tuple[int, Any] | None:
    """(buffer, index) of the part a step with an `Access` writes whole without reading it
    first (its kernel's `overwrites` record: a copy, a pack, an unpack), or None."""
    written = getattr(step, "overwrites", None)
    return None if written is None or written[0] in acc.reads else written


def view_key(buffer: int) -> int:
    """The in-flight key of buffer `buffer`'s received view (send keys are >= 0)."""
    return -1 - buffer


def part_key(n: int) -> int:
    """The in-flight key of the n-th distinct part of a received view that steps read (below
    the view keys and the private accumulators' keys, pyflame/sim/private_acc.py)."""
    return -(1 << 42) - n


def _index_key(index: Any) -> Any:
    """A hashable form of a tuple of slices."""
    return tuple((x.start, x.stop, x.step) if isinstance(x, slice) else repr(x) for x in index)


def buffer_conflicts(buffers: Sequence[Buffer]) -> np.ndarray:
    """conflicts[i, j]: buffers i and j share SRAM bytes on some PE (rects and bytes overlap)."""
    if not buffers:
        return np.zeros((0, 0), dtype=bool)
    r0, c0, nr, nc = (np.array([b.rect[k] for b in buffers]) for k in range(4))
    lo = np.array([b.offset for b in buffers])
    hi = lo + np.array([b.nbytes for b in buffers])

    def overlap(a0: np.ndarray, a1: np.ndarray) -> np.ndarray:
        return (a0[:, None] < a1[None, :]) & (a0[None, :] < a1[:, None])

    return overlap(r0, r0 + nr) & overlap(c0, c0 + nc) & overlap(lo, hi)


def _stash(rec: Received, dtype: np.dtype, parts: Sequence[tuple[int, Any]] = ()) -> Step:
    """The elided receive: keep a view of what it would have written (cast as SRAM would),
    and under each key of `parts` the part of it a reader reads (rows of a layer, ...)."""
    key, g, src, release = view_key(rec.buffer), rec.batch, rec.src, rec.release
    parts = tuple(parts)
    source = rec.source
    tiles = affine_view(src)  # a view of the sender's tiles, not a fancy-index copy

    def step(V, F, A, O):
        if source is not None:
            view = source(F, A)
        else:
            view = F[g][src] if tiles is None else tiles(F[g])
        F[key] = view if view.dtype == dtype else view.astype(dtype)
        for part_key, rel in parts:
            F[part_key] = F[key][rel]
        if release:
            del F[g]

    setattr(step, "elided", rec)  # noqa: B010  (is_elided reads it)
    setattr(step, "stash_parts", parts)  # noqa: B010  (pyflame/sim/sourced_panels.py)
    return step


def touches_no_sram(step: Step) -> bool:
    """Whether `step` neither reads nor writes SRAM: an elided receive (it keeps a view of
    in-flight data), or a step marked `no_sram` (a fill that the fused runs after it write
    instead, pyflame/sim/fused_products.py)."""
    return is_elided(step) or getattr(step, "no_sram", False)


def _range(sl: Any) -> range | None:
    return range(sl.start or 0, sl.stop, sl.step or 1) if isinstance(sl, slice) else None


def disjoint(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
    """Whether two indexes of the same buffer view ((rows, cols, lanes) slices) select no
    common element (False when either is not all slices)."""
    for x, y in zip(a, b, strict=False):
        rx, ry = _range(x), _range(y)
        if rx is None or ry is None:
            return False
        if not rx or not ry:
            return True
        if rx.step == 1 and ry.step == 1:
            if rx.stop <= ry.start or ry.stop <= rx.start:
                return True
        elif not set(rx).intersection(ry):
            return True
    return False


def _within(sel: tuple[Any, ...], rec: Received) -> tuple[Any, ...] | None:
    """The index, into the view of receive `rec` (shape of its message part: an axis of one
    source PE is broadcast), of the part `sel` of its buffer; None when `sel` is not inside
    what `rec` writes, or reads other lanes."""
    if len(sel) != 3 or len(rec.dst) != 3 or sel[2] != rec.dst[2]:
        return None
    src = rec.src if isinstance(rec.src, tuple) else ()
    rel: list[Any] = []
    for axis in (0, 1):
        whole, part = _range(rec.dst[axis]), _range(sel[axis])
        if whole is None or part is None or not part:
            return None
        at = {x: n for n, x in enumerate(whole)}
        if any(x not in at for x in part):
            return None
        idx = [at[x] for x in part]
        s = src[axis] if len(src) == 2 else None
        if isinstance(s, slice) and s.stop - s.start == 1:
            rel.append(slice(None))  # one source PE along this axis: broadcast, kept whole
            continue
        step = idx[1] - idx[0] if len(idx) > 1 else 1
        if step <= 0 or any(b - a != step for a, b in itertools.pairwise(idx)):
            return None
        rel.append(slice(idx[0], idx[-1] + 1, step))
    return (rel[0], rel[1], Ellipsis)


def is_elided(step: Step) -> bool:
    """Whether `step` is an elided receive (it keeps a view instead of writing SRAM)."""
    return getattr(step, "elided", None) is not None


def _places(b: Buffer, sel: tuple[Any, ...]) -> tuple[set[int], set[int], range] | None:
    """The PE rows, PE cols and SRAM byte range of part `sel` ((rows, cols, lanes) slices) of
    buffer `b`'s view; None when `sel` is not three slices with lanes in one run."""
    if not isinstance(sel, tuple) or len(sel) != 3:
        return None
    rows, cols, lanes = (_range(x) for x in sel)
    if rows is None or cols is None or lanes is None or lanes.step != 1:
        return None
    size = b.dtype.itemsize
    lo = b.offset + (lanes.start - b.first) * size
    return (
        {b.rect[0] + r for r in rows},
        {b.rect[1] + c for c in cols},
        range(lo, lo + len(lanes) * size),
    )


def _overlap(
    buffers: Sequence[Buffer], i: int, isel: tuple[Any, ...], w: int, wsel: Any
) -> tuple[np.ndarray, ...] | None:
    """The index, into a (rows, cols, bytes) mask of part `isel` of buffer `i`, of the bytes
    part `wsel` of buffer `w` occupies (None: no common byte). A part that is not three
    slices stands for all of `w`."""
    inner = _places(buffers[i], isel)
    assert inner is not None  # the caller's own part
    outer = _places(buffers[w], wsel) or _places(buffers[w], buffers[w].sub(buffers[w].rect))
    assert outer is not None  # a whole buffer is three slices
    irows, icols, ibytes = inner
    orows, ocols, obytes = outer
    rows = [n for n, r in enumerate(sorted(irows)) if r in orows]
    cols = [n for n, c in enumerate(sorted(icols)) if c in ocols]
    lo, hi = max(ibytes.start, obytes.start), min(ibytes.stop, obytes.stop)
    if not rows or not cols or lo >= hi:
        return None
    return np.ix_(np.array(rows), np.array(cols), np.arange(lo - ibytes.start, hi - ibytes.start))


def dead_from(
    steps: Sequence[Step],
    k: int,
    i: int,
    dst: tuple[Any, ...],
    conflicts: np.ndarray,
    buffers: Sequence[Buffer],
) -> bool:
    """Whether, from step `k` on, every byte of `V[i][dst]` is written before it is read (or
    never read): the steps write parts of it (a later buffer reusing the bytes) and none reads
    a byte no earlier step has written. Known writers only: a receive of a whole message
    group or a host input (`Access.received`) and a kernel marked with `overwrites`
    (pyflame/sim/dead_transfers.py, with or without an `Access`); a step with an `Access`
    reads only its `reads` (but those it reads as in-flight views instead, `read_as_views`),
    one without reads all its operands (but the first, when marked `overwrites`)."""
    places = _places(buffers[i], dst)
    if places is None:
        return False
    live = np.ones((len(places[0]), len(places[1]), len(places[2])), dtype=bool)

    def touches(w: int, sel: Any) -> bool:
        at = _overlap(buffers, i, dst, w, sel)
        return at is not None and bool(live[at].any())

    def kill(w: int, sel: Any) -> None:
        at = _overlap(buffers, i, dst, w, sel) if _places(buffers[w], sel) else None
        if at is not None:
            live[at] = False

    for step in steps[k:]:
        if touches_no_sram(step):
            continue
        acc = access_of(step)
        if acc is None:
            operands = getattr(step, "operands", None)
            if operands is None:
                return False  # may read anything
            written = getattr(step, "overwrites", None)
            first = 1 if written is not None and operands and operands[0] == written[0] else 0
            if any(conflicts[i, o] and touches(o, None) for o in operands[first:]):
                return False
            if first:
                assert written is not None
                if conflicts[i, written[0]]:
                    kill(written[0], written[1])
        else:
            viewed = read_as_views(step)  # (read from in-flight views, not SRAM)
            if any(
                conflicts[i, r] and r not in viewed and touches(r, sel)
                for r, sel in acc.reads.items()
            ):
                return False
            # its reads are all in `reads`; a write of unknown extent (an exchange phase, an
            # unpack) reads nothing and leaves the bytes it does not write as they were
            rec = acc.received
            for w, sel in acc.writes.items():
                if conflicts[i, w] and rec is not None and rec.buffer == w and rec.dst == sel:
                    kill(w, sel)
            written = written_unread(step, acc)
            if written is not None and conflicts[i, written[0]]:
                kill(written[0], written[1])
        if not live.any():
            return True
    return True


def _readers_until_overwrite(
    steps: Sequence[Step],
    j: int,
    rec: Received,
    conflicts: np.ndarray,
    until_end: bool,
    buffers: Sequence[Buffer] = (),
) -> list[tuple[int, tuple[Any, ...]]] | None:
    """The steps after receive `j` that read its buffer, with the part of it each reads, when
    each can read a view instead and a later receive overwrites the same part before anything
    else touches its bytes (or, `until_end`, the program ends first, or a step writes all of
    them before reading them: `dead_from`); None when the receive must write SRAM. Steps
    that touch only other PEs or lanes of the buffer (another layer's rows) are passed
    over."""
    i = rec.buffer
    readers: list[tuple[int, tuple[Any, ...]]] = []
    end = min(len(steps), j + 1 + SCAN_STEPS)
    if until_end:
        # a host input's readers may come much later; a SUMMA's last tile is dead only when
        # a later buffer reuses its bytes (the scan stops at the first step that touches them)
        end = len(steps)
    for k in range(j + 1, end):
        if not readers and k > j + SCAN_STEPS and rec.source is None:
            return None  # no reader near the receive: not worth a scan to the end (plan time)
        acc = access_of(steps[k])
        if acc is None:
            # a step without a record touches at most its op's buffers, when the planner
            # named them (pyflame/sim/dead_transfers.py); otherwise anything
            operands = getattr(steps[k], "operands", None)
            if operands is None or any(conflicts[i, o] for o in operands):
                if until_end and readers and dead_from(steps, k, i, rec.dst, conflicts, buffers):
                    return readers
                return None
            continue
        touched_w = [w for w in acc.writes if conflicts[i, w]]
        touched_r = [r for r in acc.reads if conflicts[i, r]]
        if touched_w == [i] and disjoint(acc.writes[i], rec.dst):
            touched_w = []
        if touched_r == [i] and disjoint(acc.reads[i], rec.dst):
            touched_r = []
        if not touched_w and not touched_r:
            continue
        other = acc.received
        if (
            not touched_r
            and touched_w == [i]
            and other is not None
            and other.buffer == i
            and other.dst == rec.dst
        ):
            return readers or None
        if touched_w or acc.rebuild is None or touched_r != [i]:
            if until_end and readers and dead_from(steps, k, i, rec.dst, conflicts, buffers):
                return readers
            return None
        if acc.reads[i] != rec.dst and _within(acc.reads[i], rec) is None:
            return None
        readers.append((k, acc.reads[i]))
    if until_end and end == len(steps):  # nothing after the readers looks at the bytes
        return readers or None
    return None


def _send_view(
    steps: Sequence[Step], j: int, last_use: dict[int, int], conflicts: np.ndarray
) -> Step | None:
    """Send `j` keeping a view of its buffer instead of a copy, when nothing writes the
    buffer's bytes until the receive that releases the message (or, if that receive was
    elided, the last reader of its view) is done; None otherwise."""
    acc = access_of(steps[j])
    assert acc is not None and acc.sent is not None and len(acc.reads) == 1
    (i, sl), bid = next(iter(acc.reads.items())), acc.sent
    end = None
    k = j + 1
    while k < len(steps) and k <= (j + SCAN_STEPS if end is None else end):
        other = access_of(steps[k])
        if other is None or any(conflicts[i, w] for w in other.writes):
            return None
        if end is None and bid in other.released:
            end = last_use.get(k, k)
        k += 1
    if end is None or k <= end:
        return None

    def step(V, F, A, O):
        F[bid] = V[i][sl]

    setattr(step, "sends_view", True)  # noqa: B010  (sends_view reads it)
    setattr(step, "view_of", (bid, i, sl))  # noqa: B010  (pyflame/sim/sourced_panels.py)
    return step


def read_as_views(step: Step) -> frozenset[int]:
    """The buffers a rebuilt reader reads from in-flight views instead of SRAM."""
    return getattr(step, "viewed", frozenset())


def reading_views_as(new: Step, old: Step) -> Step:
    """`new`, made from `old` (a rebuilt reader) reading the same in-flight views: marked as
    reading them too (written_first must not count those buffers' SRAM bytes as read)."""
    viewed = read_as_views(old)
    if viewed:
        setattr(new, "viewed", viewed)  # noqa: B010  (read_as_views reads it)
    return new


def sends_view(step: Step) -> bool:
    """Whether `step` is a send that keeps a view of its buffer instead of a copy."""
    return getattr(step, "sends_view", False)


def _same_gather(a: Gather, b: Gather, conflicts: np.ndarray) -> bool:
    return (
        a.src == b.src
        and a.dst == b.dst
        and a.src_sel == b.src_sel
        and a.dst_sel == b.dst_sel
        and not conflicts[a.src, a.dst]
    )


def _merged_gather(
    run: list[Gather], shape: tuple[int, ...], buffers: Sequence[Buffer], strides: dict
) -> Step | None:
    """One step doing the gathers of `run` (consecutive steps between the same two buffers,
    which never share bytes), when no two of them write the same element; else None. Large
    ones index 1-D views of the SRAM blocks (pyflame/sim/flat_gather.py), the others make
    their index arrays when first run."""
    zero_idx = tuple(np.concatenate([g.zero_idx[d] for g in run]) for d in range(3))
    if len(run) > 1:  # a mask of 1 byte per element, one phase's indices at a time
        hit = np.zeros(int(np.prod(shape)), dtype=bool)
        count = 0
        for part in [*(g.dst_idx for g in run), zero_idx]:
            if part[0].size:
                hit[np.ravel_multi_index(part, shape)] = True
                count += int(part[0].size)
        if int(np.count_nonzero(hit)) != count:
            return None
        del hit
    flat_step = flat_gather(run, zero_idx, buffers, strides)
    if flat_step is not None:
        return flat_step
    if len(run) == 1:
        return None  # the exchange's own step does the same
    g = run[0]
    si, ssl, di, dsl, has_zeros = g.src, g.src_sel, g.dst, g.dst_sel, bool(zero_idx[0].size)
    made: list[GatherIndices] = []

    def step(V, F, A, O):
        if not made:
            parts = [r.indices() for r in run]
            src_all = tuple(np.concatenate([p[0][d] for p in parts]) for d in range(3))
            dst_all = tuple(np.concatenate([p[1][d] for p in parts]) for d in range(3))
            made.append((src_all, dst_all))
        src_idx, dst_idx = made[0]
        out = V[di][dsl]
        out[dst_idx] = V[si][ssl][src_idx]
        if has_zeros:
            out[zero_idx] = 0

    return step


def merge_gathers(
    steps: Sequence[Step],
    buffers: Sequence[Buffer],
    memo: dict[tuple[int, ...], Step | None] | None = None,
) -> list[Step]:
    """`steps` with every run of consecutive gathers between the same two buffers (the phases
    of one pe.exchange) done by its first step, the others doing nothing (one step for one
    step: indices are unchanged). Each phase still moves only its own elements; merged, their
    index arrays are concatenated into one numpy call instead of one call per phase (over 1-D
    views of the blocks when large, pyflame/sim/flat_gather.py; a single large phase too)."""
    out = list(steps)
    gathers = [getattr(access_of(s), "gather", None) for s in steps]
    if not any(g is not None for g in gathers):
        return out
    conflicts = buffer_conflicts(buffers)
    strides = view_strides(buffers)
    j = 0
    while j < len(steps):
        first = gathers[j]
        k = j + 1
        while (
            first is not None
            and k < len(steps)
            and (nxt := gathers[k]) is not None
            and _same_gather(first, nxt, conflicts)
        ):
            k += 1
        if first is not None and (k - j > 1 or not conflicts[first.src, first.dst]):
            r, c = first.dst_sel[0], first.dst_sel[1]
            shape = (r.stop - r.start, c.stop - c.start, first.dst_sel[2].stop)
            run = [g for g in gathers[j:k] if g is not None]
            # `memo` (keyed by the gathers, alive meanwhile) shares one merged step, and its
            # offsets, between the step lists of one Executable
            key = tuple(id(g) for g in run)
            if memo is not None and key in memo:
                merged = memo[key]
            else:
                merged = _merged_gather(run, shape, buffers, strides)
                if memo is not None:
                    memo[key] = merged
            if merged is not None:
                if access_of(merged) is None:  # (what it touches, for the passes after)
                    merged = annotate(
                        merged, Access({first.src: first.src_sel}, {first.dst: first.dst_sel})
                    )
                out[j] = merged
                for m in range(j + 1, k):
                    out[m] = _nothing
        j = k
    return out


def _nothing(V, F, A, O):  # a gather merged into the first of its run
    pass


setattr(_nothing, "noop", True)  # noqa: B010  (is_noop reads it)


def is_noop(step: Step) -> bool:
    """Whether running `step` does nothing at all (the run loop leaves it out)."""
    return getattr(step, "noop", False)


def elide_receives(
    steps: Sequence[Step], buffers: Sequence[Buffer], until_end: bool = False
) -> list[Step]:
    """`steps` with every receive whose data is only read through views by the next steps
    replaced by a stash of that view, and every send whose buffer stays unchanged while its
    message is in use keeping a view instead of a copy (one step for one step: indices are
    unchanged). `until_end`: also a receive whose buffer nothing touches after its readers
    until the program ends (the SRAM after such a run is not the machine's: `Executable.run`
    only, whose outputs are all that is observed)."""
    out = list(steps)
    received = [j for j, s in enumerate(steps) if getattr(access_of(s), "received", None)]
    sends = [j for j, s in enumerate(steps) if getattr(access_of(s), "sent", None) is not None]
    if not received and not sends:
        return out
    conflicts = buffer_conflicts(buffers)
    views: dict[int, dict[int, int]] = {}  # reader step -> {buffer: view key}
    last_use: dict[int, int] = {}  # elided receive -> the last step reading its view
    part_keys: dict[tuple[int, Any, Any], int] = {}  # (buffer, dst, part) -> in-flight key
    for j in received:
        found = access_of(steps[j])
        assert found is not None and found.received is not None  # listed above
        rec = found.received
        b = buffers[rec.buffer]
        whole = b.sub(b.rect)
        readers = _readers_until_overwrite(steps, j, rec, conflicts, False)
        if readers is None and until_end:
            readers = _readers_until_overwrite(steps, j, rec, conflicts, True, buffers)
        if readers is None:
            continue
        parts: dict[int, Any] = {}  # key -> index into the view
        for k, sel in readers:
            key = view_key(rec.buffer)
            if sel != rec.dst or rec.dst != whole:
                # a part of the buffer (one layer's rows), keyed by where it lies: receives
                # of other parts of the buffer (the other layers) may be stashed before
                # this reader runs
                where = (rec.buffer, _index_key(rec.dst), _index_key(sel))
                key = part_keys.setdefault(where, part_key(len(part_keys)))
                parts[key] = _within(sel, rec)
            views.setdefault(k, {})[rec.buffer] = key
        out[j] = _stash(rec, buffers[rec.buffer].dtype, list(parts.items()))
        last_use[j] = readers[-1][0]
    for k, keys in views.items():
        acc = access_of(steps[k])
        assert acc is not None and acc.rebuild is not None  # a reader has a rebuild
        out[k] = acc.rebuild(keys)
        setattr(out[k], "viewed", frozenset(keys))  # noqa: B010  (read_as_views reads it)
        if access_of(out[k]) is None and getattr(out[k], "operands", None) is None:
            # what it still touches in SRAM, as the planner's `operands` (written first), for
            # the passes after (pyflame/sim/deferred_replicas.py)
            sram_reads = [b for b in acc.reads if b not in keys and b not in acc.writes]
            setattr(out[k], "operands", (*acc.writes, *sram_reads))  # noqa: B010
    for j in sends:
        viewing = _send_view(steps, j, last_use, conflicts)
        if viewing is not None:
            out[j] = viewing
    return out


__all__ = [
    "LANES_OUTER",
    "PE_MAJOR",
    "SCAN_STEPS",
    "Access",
    "Gather",
    "GatherIndices",
    "Received",
    "access_of",
    "annotate",
    "buffer_conflicts",
    "dead_from",
    "disjoint",
    "elide_receives",
    "fixed_gather",
    "merge_gathers",
    "part_key",
    "is_elided",
    "read_as_views",
    "reading_views_as",
    "written_unread",
    "is_noop",
    "sends_view",
    "touches_no_sram",
    "view_key",
]
