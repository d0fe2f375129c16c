"""SRAM blocks a run writes whole before it reads them: a kept SRAM need not zero them again.

`Executable.run` reuses the SRAM of its previous run (pyflame/sim/sram.py `SramPool`), zeroed
again so that every run starts from zeroed SRAM, as the machine's. Zeroing is a pass over
every byte (a 64 MiB memset for the 4096^2 GEMV's matrix tiles, more than a third of its
`run`). A block whose first toucher in the run writes all of its bytes (a `pe.host_in` of the
block's only buffer, a receive of one whole message into it) can start from anything:
no step can see what was there. `written_first` finds those blocks once per Executable, from
the plan's records of what each step reads and writes (`Access`; for a step without one, its
`operands` and `overwrites`); a step that may touch anything makes every block it could touch
need zeroing. A block no step of the run touches (a matrix whose `pe.host_in` is read as a view
of the host array, pyflame/sim/step_access.py) needs none either. Nothing observable changes:
the first read of every byte sees what a run from zeroed SRAM would.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from pyflame.sim.dead_transfers import is_dead, whole
from pyflame.sim.step_access import access_of, is_elided

if TYPE_CHECKING:  # executable.py runs the pass: import its names for types only
    from pyflame.sim.executable import Buffer, Step
    from pyflame.sim.sram import Block


def _covers(block: Block, b: Buffer) -> bool:
    """Buffer `b` is every byte of `block`."""
    return block.rect == b.rect and block.lo == b.offset and block.hi == b.offset + b.nbytes


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


def written_first(
    blocks: Sequence[Block],
    buffers: Sequence[Buffer],
    run_steps: Sequence[tuple[int, Step]],
    planned: Sequence[Step],
) -> set[int]:
    """Indices of the `blocks` whose first toucher among `run_steps` ((index into the plan's
    steps `planned`, the step run)) writes every byte of the block without reading it, or
    that no step touches."""
    block_of = {i: n for n, block in enumerate(blocks) for i in block.members}
    open_ = set(range(len(blocks)))  # blocks no step has touched yet
    out: set[int] = set()
    for k, step in run_steps:
        if not open_:
            break
        if is_dead(step) or is_elided(step):
            continue  # moves nothing into SRAM (a dead transfer, a received view)
        touched = _touches(planned[k])
        if touched is None:  # may touch anything: what is still open must be zeroed
            return out
        reads, writes, kill = touched
        read_blocks = {block_of[b] for b in reads if b in block_of}
        for b in writes:
            n = block_of.get(b)
            if n is None or n not in open_:
                continue
            open_.discard(n)
            sel = _kill_sel(planned[k], b)
            if (
                b == kill
                and n not in read_blocks
                and sel is not None
                and whole(buffers[b], sel)
                and _covers(blocks[n], buffers[b])
            ):
                out.add(n)
        open_ -= read_blocks
    return out | open_  # blocks no step touches (an elided host_in's): never seen


def _kill_sel(planned: Step, buffer: int):
    """The part of `buffer` the step writes whole (its receive's or its kernel's record)."""
    acc = access_of(planned)
    if acc is not None:
        rec = acc.received
        return rec.dst if rec is not None and rec.buffer == buffer else None
    written = getattr(planned, "overwrites", None)
    return written[1] if written is not None and written[0] == buffer else None


__all__ = ["written_first"]
