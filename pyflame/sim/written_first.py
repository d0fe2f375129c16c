"""SRAM blocks a run writes whole before it reads them: a kept SRAM need not zero them again.

`Executable.run` reuses the SRAM of its previous run (pyflame/sim/sram.py `SramPool`), zeroed
again so that every run starts from zeroed SRAM, as the machine's. Zeroing is a pass over
every byte (a 64 MiB memset for the 4096^2 GEMV's matrix tiles, more than a third of its
`run`). A block each byte of which is first touched by a step that writes it whole (a
`pe.host_in`, a receive of one whole message, a fill, over all of the block's PEs) can start
from anything: no step can see what was there. `written_first` finds those blocks once per
Executable, from the plan's records of what each step reads and writes (`Access`; for a step
without one, its `operands` and `overwrites`), byte by byte of each block (its buffers share
bytes); a step that may touch anything leaves every byte still undecided to be zeroed. A
block no step of the run touches (a matrix whose `pe.host_in` is read as a view of the host
array, pyflame/sim/step_access.py) needs no zeroing either. Nothing observable changes: the
first read of every byte sees what a run from zeroed SRAM would.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from pyflame.sim.dead_transfers import is_dead
from pyflame.sim.step_access import access_of, is_elided, read_as_views, written_unread

if TYPE_CHECKING:  # executable.py runs the pass: import its names for types only
    from pyflame.sim.executable import Buffer, Step
    from pyflame.sim.sram import Block


def _touches(planned: Step) -> tuple[list[tuple[int, Any]], list[int], int | None] | None:
    """(the buffers the step may read, each with the index of its part read (None: all of
    it), the buffers it may write, the one buffer it writes a part of whole without reading
    it first, or None); None when it may touch any buffer."""
    acc = access_of(planned)
    if acc is None:
        operands = getattr(planned, "operands", None)
        if operands is None:
            return None
        written = getattr(planned, "overwrites", None)
        if written is not None and operands and operands[0] == written[0]:
            return [(b, None) for b in operands[1:]], [written[0]], written[0]
        return [(b, None) for b in operands], list(operands), None
    rec = acc.received
    kill = rec.buffer if rec is not None and acc.combine is None else None
    if kill is None and (written := written_unread(planned, acc)) is not None:
        kill = written[0]  # (a copy, a pack, an unpack: its part of dst written whole)
    return list(acc.reads.items()), list(acc.writes), kill


#: the largest block (PEs x bytes) whose bytes are followed PE by PE; a larger one is followed
#: per byte over all its PEs at once (a step writing some PEs' bytes then counts as a read)
PER_PE_LIMIT = 1 << 26


class _BlockBytes:
    """Which bytes of a block the steps so far have decided: killed (first written whole) or
    exposed (first read, or written in part). Per PE when the block is small enough: a loop's
    receives into the strided rows of a layer each decide their own rows."""

    def __init__(self, block: Block):
        self.block = block
        rows, cols, n = block.shape
        self.per_pe = rows * cols * n <= PER_PE_LIMIT
        self.decided = np.zeros((rows, cols, n) if self.per_pe else (1, 1, n), dtype=bool)
        #: per byte: on how many PEs it is decided (of `pes`), so that `done` is a pass over
        #: the bytes, not over every PE's (a plan of 22,000 steps over a 128x128 block spent
        #: a minute re-reducing `decided`)
        self.count = np.zeros(n, dtype=np.int64)
        self.pes = rows * cols if self.per_pe else 1
        #: bytes (on some PE) first read, or written in part, before any step decided them
        self.exposed = np.zeros(n, dtype=bool)

    def touch(
        self,
        b: Buffer,
        kills: bool,
        lanes: tuple[int, int] | None = None,
        pes: tuple[slice, slice] | None = None,
    ) -> None:
        """Buffer `b` touched (`kills`: written whole, none of it read first): its elements
        [lanes) (all of them when None) on its PEs `pes` (slices of b's rectangle, strided
        for a loop's rows; all of them when None)."""
        first, last = (0, b.size) if lanes is None else lanes
        size = b.dtype.itemsize
        lo = b.offset + first * size - self.block.lo
        hi = b.offset + last * size - self.block.lo
        nr, nc = b.rect[2], b.rect[3]
        rows, cols = pes if pes is not None else (slice(0, nr, 1), slice(0, nc, 1))
        if self.per_pe:
            r0, c0 = b.rect[0] - self.block.rect[0], b.rect[1] - self.block.rect[1]
            at = (
                slice(r0 + rows.start, r0 + rows.stop, rows.step),
                slice(c0 + cols.start, c0 + cols.stop, cols.step),
                slice(lo, hi),
            )
        else:
            at = (slice(0, 1), slice(0, 1), slice(lo, hi))
            every = (rows, cols) == (slice(0, nr, 1), slice(0, nc, 1))
            kills = kills and every and b.rect == self.block.rect
        undecided = ~self.decided[at]
        if not kills:
            self.exposed[lo:hi] |= undecided.any(axis=(0, 1))
        self.count[lo:hi] += undecided.sum(axis=(0, 1))
        self.decided[at] = True

    def expose_undecided(self) -> None:
        """A step that may touch anything: every byte not decided yet may be read."""
        self.exposed |= self.count < self.pes

    @property
    def done(self) -> bool:
        """Every byte decided on every PE, or exposed (it is zeroed whatever comes later)."""
        return bool((self.exposed | (self.count == self.pes)).all())

    def ranges(self) -> tuple[tuple[int, int], ...]:
        """The exposed bytes as runs [lo, hi) of the block's byte axis."""
        edges = np.flatnonzero(np.diff(self.exposed.astype(np.int8), prepend=0, append=0))
        return tuple((int(lo), int(hi)) for lo, hi in zip(edges[::2], edges[1::2], strict=True))


def written_first(
    blocks: Sequence[Block],
    buffers: Sequence[Buffer],
    run_steps: Sequence[tuple[int, Step]],
    planned: Sequence[Step],
) -> set[int]:
    """Indices of the `blocks` every byte of which is first touched, among `run_steps`
    ((index into the plan's steps `planned`, the step run)), by a step that writes it whole
    (a buffer over all of the block's PEs) without reading it, or never touched."""
    exposed = bytes_to_zero(blocks, buffers, run_steps, planned)
    return {n for n in range(len(blocks)) if n not in exposed}


def bytes_to_zero(
    blocks: Sequence[Block],
    buffers: Sequence[Buffer],
    run_steps: Sequence[tuple[int, Step]],
    planned: Sequence[Step],
) -> dict[int, tuple[tuple[int, int], ...]]:
    """For each block with bytes a run may read before writing them whole (`written_first`'s
    complement), those bytes' runs [lo, hi) along the block's byte axis (on all its PEs):
    what a kept SRAM zeroes again before the next run. The 2.5D SUMMA of GEMM 1024^3 on 32x32
    PEs shares one 14.7 MB block between its gathers, pieces, panels and accumulator, of which
    a few buffers' bytes are read first: zeroing those alone, not the whole block."""
    block_of = {i: n for n, block in enumerate(blocks) for i in block.members}
    state = [_BlockBytes(block) for block in blocks]
    open_ = set(range(len(blocks)))  # blocks with bytes no step has touched yet
    for k, step in run_steps:
        if not open_:
            break
        if is_dead(step) or is_elided(step):
            continue  # moves nothing into SRAM (a dead transfer, a received view)
        touched = _touches(planned[k])
        if touched is None:  # may touch anything: bytes still undecided are exposed
            for undecided in open_:
                state[undecided].expose_undecided()
            break
        reads, writes, kill = touched
        viewed = read_as_views(step)  # read from received views, not from SRAM
        changed = set()
        for b, sel in reads:  # (before the step's kill: a step that reads a byte sees it)
            if b in viewed:
                continue
            if (n := block_of.get(b)) is not None and n in open_:
                read = None if sel is None else _part(buffers[b], sel)
                if read is None:
                    state[n].touch(buffers[b], kills=False)
                else:  # only the part read (a loop's strided rows: not the other rows)
                    rows, cols, lanes = read
                    state[n].touch(buffers[b], kills=False, lanes=lanes, pes=(rows, cols))
                changed.add(n)
        for b in writes:
            if (n := block_of.get(b)) is not None and n in open_:
                changed.add(n)
                sel = _kill_sel(planned[k], b) if b == kill else None
                part = None if sel is None else _part(buffers[b], sel)
                if part is not None:
                    # a run of elements written whole on a rectangle of b's PEs (an unpack
                    # into one half of a panel, a receive into one row of a layer or into
                    # every c-th row of a fissioned loop): only those bytes are decided, the
                    # others stay open
                    rows, cols, lanes = part
                    state[n].touch(buffers[b], kills=True, lanes=lanes, pes=(rows, cols))
                else:
                    state[n].touch(buffers[b], kills=False)
        open_ -= {n for n in changed if state[n].done}
    return {n: ranges for n, st in enumerate(state) if (ranges := st.ranges())}


def _part(b: Buffer, sel) -> tuple[slice, slice, tuple[int, int]] | None:
    """(rows, cols, (first, end)) when index `sel` of a buffer's (rows, cols, size) view is
    one run of elements on a rectangle of its PEs, or on every k-th row or column of one (a
    fissioned loop's steps), else None."""
    if not isinstance(sel, tuple) or len(sel) != 3:
        return None
    if not all(isinstance(x, slice) for x in sel):
        return None
    out = []
    for x, n in zip(sel, (b.rect[2], b.rect[3], b.size), strict=True):
        first, end, step = x.indices(n)
        if step < 1 or end <= first:
            return None
        out.append((first, first + (len(range(first, end, step)) - 1) * step + 1, step))
    (r0, r1, rs), (c0, c1, cs), (l0, l1, ls) = out
    if ls != 1:
        return None
    return slice(r0, r1, rs), slice(c0, c1, cs), (l0, l1)


def _kill_sel(planned: Step, buffer: int):
    """The part of `buffer` the step writes whole (its receive's or its kernel's record)."""
    acc = access_of(planned)
    rec = None if acc is None else acc.received
    if rec is not None and rec.buffer == buffer:
        return rec.dst
    written = getattr(planned, "overwrites", None)
    return written[1] if written is not None and written[0] == buffer else None


__all__ = ["bytes_to_zero", "written_first"]
