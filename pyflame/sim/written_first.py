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
from typing import TYPE_CHECKING

import numpy as np

from pyflame.sim.dead_transfers import is_dead, whole
from pyflame.sim.step_access import access_of, is_elided, read_as_views

if TYPE_CHECKING:  # executable.py runs the pass: import its names for types only
    from pyflame.sim.executable import Buffer, Step
    from pyflame.sim.sram import Block


def _touches(planned: Step) -> tuple[list[int], list[int], int | None] | None:
    """(buffers the step may read, buffers it may write, the one buffer it writes whole and
    reads nothing of first, or None); None when it may touch any buffer."""
    acc = access_of(planned)
    if acc is None:
        operands = getattr(planned, "operands", None)
        if operands is None:
            return None
        written = getattr(planned, "overwrites", None)
        if written is not None and operands and operands[0] == written[0]:
            return list(operands[1:]), [written[0]], written[0]
        return list(operands), list(operands), None
    rec = acc.received
    kill = rec.buffer if rec is not None and acc.combine is None else None
    return list(acc.reads), list(acc.writes), kill


class _BlockBytes:
    """Which bytes of a block the steps so far have decided: killed (first written whole) or
    exposed (first read, or written in part, or by a buffer on fewer PEs than the block's)."""

    def __init__(self, block: Block):
        self.block = block
        self.decided = np.zeros(block.hi - block.lo, dtype=bool)
        self.exposed = False

    def touch(self, b: Buffer, kills: bool) -> None:
        lo, hi = b.offset - self.block.lo, b.offset + b.nbytes - self.block.lo
        if not (kills and b.rect == self.block.rect):
            self.exposed = self.exposed or not self.decided[lo:hi].all()
        self.decided[lo:hi] = True

    @property
    def done(self) -> bool:
        return self.exposed or bool(self.decided.all())


def written_first(
    blocks: Sequence[Block],
    buffers: Sequence[Buffer],
    run_steps: Sequence[tuple[int, Step]],
    planned: Sequence[Step],
) -> set[int]:
    """Indices of the `blocks` every byte of which is first touched, among `run_steps`
    ((index into the plan's steps `planned`, the step run)), by a step that writes it whole
    (a buffer over all of the block's PEs) without reading it, or never touched."""
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
            return {n for n, st in enumerate(state) if not st.exposed and st.decided.all()}
        reads, writes, kill = touched
        viewed = read_as_views(step)  # read from received views, not from SRAM
        for b in reads:  # (before the step's kill: a step that reads a byte sees it)
            if b in viewed:
                continue
            if (n := block_of.get(b)) is not None and n in open_:
                state[n].touch(buffers[b], kills=False)
        for b in writes:
            if (n := block_of.get(b)) is not None and n in open_:
                sel = _kill_sel(planned[k], b) if b == kill else None
                state[n].touch(buffers[b], kills=sel is not None and whole(buffers[b], sel))
        open_ = {n for n in open_ if not state[n].done}
    return {n for n, st in enumerate(state) if not st.exposed}


def _kill_sel(planned: Step, buffer: int):
    """The part of `buffer` the step writes whole (its receive's or its kernel's record)."""
    acc = access_of(planned)
    if acc is not None:
        rec = acc.received
        return rec.dst if rec is not None and rec.buffer == buffer else None
    written = getattr(planned, "overwrites", None)
    return written[1] if written is not None and written[0] == buffer else None


__all__ = ["written_first"]
