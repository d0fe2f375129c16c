"""allocate-sram: give every `pe.alloc` its SRAM offset, reusing the space of dead buffers.

A buffer is live from its first to its last use in program order; an asynchronous send or
receive uses its buffer until the `pe.wait` of its token; a use inside a `pe.loop` counts as the
whole loop (and a token it yields, as its waits in later iterations or after the loop). Two buffers may share bytes
when their lives do not overlap or their PE rectangles do not intersect. Offsets are 16-byte
aligned, first fit from address 0; the top `sram_reserved_bytes` of each PE stay free for code.
A buffer that does not fit raises `SRAMOverflowError` with the user's line.

    %a = pe.alloc {name = "input@demo.py:3", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32>
becomes
    %a = pe.alloc {name = "input@demo.py:3", offset = 0 : i64, pes = ...} : !pe.buf<16xf32>
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass

from pyflame.core.errors import SRAMOverflowError
from pyflame.core.target import Target
from pyflame.dialects import pe
from pyflame.passes.plan_memory import ALIGN, aligned, kib


@dataclass
class Placed:
    offset: int
    size: int
    rect: tuple[int, int, int, int]
    end: int


def intersects(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def allocate(fn: func.FuncOp, target: Target) -> int:
    """Assign offsets; return the peak bytes used on any PE."""
    ops = list(fn.body.block.ops)
    index = {op: i for i, op in enumerate(ops)}
    allocs = [op for op in ops if isinstance(op, pe.AllocOp)]
    lives = {}
    for op in allocs:
        # an op in a pe.loop counts as the loop (the buffer lives across its iterations)
        uses = [pe.program_index(index, u.operation) for u in op.result.uses]
        # an asynchronous transfer reads or writes the buffer until its token is waited for
        # (in a loop, maybe by a later iteration or after the loop: pe.token_users follows it)
        uses += [
            pe.program_index(index, w)
            for u in op.result.uses
            for r in u.operation.results
            if isinstance(r.type, pe.TokenType)
            for w in pe.token_users(r)
        ]
        lives[op] = (min(uses, default=index[op]), max(uses, default=index[op]))
    active: list[Placed] = []
    peak = 0
    limit = target.usable_sram_bytes
    for op in sorted(allocs, key=lambda a: lives[a][0]):
        start, end = lives[op]
        size = aligned(op.result.type.num_bytes)
        rect = op.rect  # read from the op's attribute once, not once per live buffer
        active = [p for p in active if p.end >= start]
        taken = sorted((p.offset, p.offset + p.size) for p in active if intersects(p.rect, rect))
        offset = 0
        for lo, hi in taken:
            if offset + size <= lo:
                break
            offset = max(offset, -(-hi // ALIGN) * ALIGN)
        if offset + size > limit:
            raise SRAMOverflowError(
                f"SRAM overflow: buffer '{op.buffer_name.data}' ({kib(size)} per PE) does not "
                f"fit: the PEs {list(op.rect)} need {kib(offset + size)} at this point, but "
                f"each has {kib(target.sram_bytes)} ({kib(limit)} for data on {target.name}). "
                "Use a layout over more PEs.",
                tensor=op.buffer_name.data,
                location=op.buffer_name.data.partition("@")[2],
                bytes_per_pe=offset + size,
                sram_bytes=target.sram_bytes,
            )
        op.set_offset(offset)
        active.append(Placed(offset, size, rect, end))
        peak = max(peak, offset + size)
    return peak


class AllocateSRAMPass(ModulePass):
    """Assign SRAM offsets to pe buffers with liveness-based reuse."""

    name = "allocate-sram"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        target = Target.of_module(op)
        for fn in op.walk():
            if isinstance(fn, func.FuncOp):
                allocate(fn, target)
