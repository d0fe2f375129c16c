"""allocate-sram: give every `pe.alloc` its SRAM offset, reusing the space of dead buffers.

A buffer is live from its first to its last use in program order; an asynchronous send or
receive uses its buffer until the `pe.wait` of its token; a use inside a `pe.loop` counts as the
whole loop (and a token it yields, as its waits in later iterations or after the loop). Two
buffers may share bytes when their lives do not overlap or their PE rectangles do not intersect.
Offsets are 16-byte aligned; the top `sram_reserved_bytes` of each PE stay free for code. A
buffer that does not fit raises `SRAMOverflowError` with the user's line.

Two placements are tried, and the one with the lower peak is kept (the first on a tie):

- *first fit in order of first use*: each buffer at the lowest offset free of the live buffers
  placed before it. Cheap and predictable, but it fragments: in a chain of tile-sized ops with
  a one-element scalar between them (`x * 1.5 + 0.25 ...`), the scalar lands where a dead tile
  was and shifts the next tile up by 16 bytes, so the chain needs three tiles instead of two;
- *greedy by size* (the offline heuristic of TFLite's arena planner and XLA's heap simulator):
  the largest buffers first, each at the lowest offset free of every placed buffer whose life
  and PEs it shares. Big tiles pack at the bottom, small ones fill the holes above them; the
  peak is then the largest live set on a PE in most programs.

In both, an `i1` buffer longer than a word (a 10-lane mask: `Life.packed`) shares bytes only
with such masks, even when their lives do not overlap: the simulator holds a group of buffers
sharing bytes as one block, lane-major when its buffers hold elements of one width
(pyflame/sim/sram.py), and such a mask in the group of a program's f32 tiles would make that
block PE-major, several times slower on the host. The cost is at most the masks' bytes (the
MLP step's two masks: 16 bytes of peak). Half-float buffers are not kept apart (that could
cost a mixed-precision program much of its SRAM): a block where they share bytes with f32
ones is PE-major.

Both put a buffer either at 0 or right above a buffer placed before it, so no buffer ends above
the sum of all buffers (the bound plan-placement relies on, `plan_memory.unshared_bytes`).

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

#: bytes of a machine word
WORD = 4


@dataclass(frozen=True)
class Life:
    """One buffer to place: its alloc, bytes (aligned), PEs and program-order life."""

    op: pe.AllocOp
    size: int
    rect: tuple[int, int, int, int]
    start: int
    end: int
    #: an i1 buffer longer than a word: kept out of the bytes other buffers use
    packed: bool = False


@dataclass
class Placement:
    """Offsets of every buffer placed so far, or the first buffer that did not fit."""

    offsets: dict[pe.AllocOp, int]
    peak: int
    overflow: tuple[Life, int] | None = None


def intersects(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def buffer_lives(fn: func.FuncOp) -> list[Life]:
    """Every alloc of `fn` with its life: first to last use in program order, an asynchronous
    transfer's use lasting until the waits of its token."""
    ops = list(fn.body.block.ops)
    index = {op: i for i, op in enumerate(ops)}
    lives = []
    for op in ops:
        if not isinstance(op, pe.AllocOp):
            continue
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
        start, end = min(uses, default=index[op]), max(uses, default=index[op])
        buf = op.result.type
        packed = buf.elem_bytes == 1 and buf.num_bytes > WORD
        lives.append(Life(op, aligned(buf.num_bytes), op.rect, start, end, packed))
    # a window (`pe.alloc in %whole at N`) is placed with its parent, which lives while it does
    spans = {life.op: life for life in lives}
    for life in lives:
        root = pe.window_root(life.op)
        if root is not life.op:
            whole = spans[root]
            spans[root] = Life(
                root,
                whole.size,
                whole.rect,
                min(whole.start, life.start),
                max(whole.end, life.end),
                whole.packed,
            )
    return [spans[life.op] for life in lives if pe.window_root(life.op) is life.op]


def place_windows(fn: func.FuncOp) -> None:
    """Every window at its parent's offset plus its first element's bytes."""
    for op in fn.body.block.ops:
        if isinstance(op, pe.AllocOp) and op.whole is not None:
            root = pe.window_root(op)
            start = op.window_start or 0
            assert root.byte_offset is not None  # placed above
            op.set_offset(root.byte_offset + start * op.result.type.elem_bytes)


def lowest_gap(taken: list[tuple[int, int]], size: int) -> int:
    """The lowest aligned offset where `size` bytes fit between the `taken` byte ranges."""
    offset = 0
    for lo, hi in sorted(taken):
        if offset + size <= lo:
            break
        offset = max(offset, -(-hi // ALIGN) * ALIGN)
    return offset


def first_fit(lives: list[Life], limit: int) -> Placement:
    """Each buffer, in order of first use, at the lowest offset free of the live ones."""
    out = Placement({}, 0)
    active: list[tuple[Life, int]] = []
    for life in sorted(lives, key=lambda b: b.start):
        active = [(b, off) for b, off in active if b.end >= life.start or b.packed != life.packed]
        taken = [(off, off + b.size) for b, off in active if intersects(b.rect, life.rect)]
        offset = lowest_gap(taken, life.size)
        if offset + life.size > limit:
            out.overflow = (life, offset + life.size)
            return out
        out.offsets[life.op] = offset
        active.append((life, offset))
        out.peak = max(out.peak, offset + life.size)
    return out


def greedy_by_size(lives: list[Life], limit: int) -> Placement:
    """The largest buffers first (then in order of first use), each at the lowest offset free
    of every placed buffer whose life and PEs it shares."""
    import numpy as np  # here: the passes load without numpy (pyflame-opt's start-up)

    out = Placement({}, 0)
    n = len(lives)
    # the placed buffers as columns, so that finding the ones in conflict is one numpy mask
    start, end = np.zeros(n, np.int64), np.zeros(n, np.int64)
    r0, c0, r1, c1 = (np.zeros(n, np.int64) for _ in range(4))
    lo, hi = np.zeros(n, np.int64), np.zeros(n, np.int64)
    packed = np.zeros(n, bool)
    for k, life in enumerate(sorted(lives, key=lambda b: (-b.size, b.start))):
        r = life.rect
        clash = (
            (((start[:k] <= life.end) & (end[:k] >= life.start)) | (packed[:k] != life.packed))
            & (r0[:k] < r[0] + r[2])
            & (r1[:k] > r[0])
            & (c0[:k] < r[1] + r[3])
            & (c1[:k] > r[1])
        )
        taken = list(zip(lo[:k][clash].tolist(), hi[:k][clash].tolist(), strict=True))
        offset = lowest_gap(taken, life.size)
        if offset + life.size > limit:
            out.overflow = (life, offset + life.size)
            return out
        out.offsets[life.op] = offset
        start[k], end[k] = life.start, life.end
        r0[k], c0[k], r1[k], c1[k] = r[0], r[1], r[0] + r[2], r[1] + r[3]
        lo[k], hi[k] = offset, offset + life.size
        packed[k] = life.packed
        out.peak = max(out.peak, offset + life.size)
    return out


def allocate(fn: func.FuncOp, target: Target) -> int:
    """Assign offsets; return the peak bytes used on any PE."""
    lives = buffer_lives(fn)
    limit = target.usable_sram_bytes
    first = first_fit(lives, limit)
    by_size = greedy_by_size(lives, limit)
    fitting = [p for p in (first, by_size) if p.overflow is None]
    if not fitting:
        life, need = first.overflow  # type: ignore[misc]  # both overflowed: report the first
        op = life.op
        raise SRAMOverflowError(
            f"SRAM overflow: buffer '{op.buffer_name.data}' ({kib(life.size)} per PE) does not "
            f"fit: the PEs {list(op.rect)} need {kib(need)} at this point, but "
            f"each has {kib(target.sram_bytes)} ({kib(limit)} for data on {target.name}). "
            "Use a layout over more PEs.",
            tensor=op.buffer_name.data,
            location=op.buffer_name.data.partition("@")[2],
            bytes_per_pe=need,
            sram_bytes=target.sram_bytes,
        )
    best = min(fitting, key=lambda p: p.peak)  # min keeps the first of equal peaks
    for op, offset in best.offsets.items():
        op.set_offset(offset)
    place_windows(fn)
    return best.peak


class AllocateSRAMPass(ModulePass):
    """Assign SRAM offsets to pe buffers with liveness-based reuse."""

    name = "allocate-sram"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        target = Target.of_module(op)
        for fn in op.walk():
            if isinstance(fn, func.FuncOp):
                allocate(fn, target)
