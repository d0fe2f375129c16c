"""Shift-based distributed matmuls (ALGORITHMS.md section 5): Cannon and MeshGEMM.

Both rotate A's blocks along the PE rows and B's along the PE columns, each line a logical ring:
every step, each PE multiplies the A and B blocks it holds into its C block while it sends them
to its ring predecessor and receives the next ones from its ring successor (double-buffered,
asynchronous, ALGORITHMS.md section 7). The rings differ:

- Cannon: the PE line in order; the wrap-around tile travels from PE 0 back to PE g-1 (g-1
  hops) every step (on the critical path once per rotation, not per step: each PE waits only
  for its own ring successor).
- MeshGEMM (WaferLLM): the folded ring `0, 2, 4, ..., 5, 3, 1` (even positions rightwards, odd
  ones back): every logical neighbour is at most two PEs away, and each link direction carries
  exactly one stream.

Ring positions: `ring[x]` is the PE at ring index x; a step moves each block from `ring[x]` to
`ring[x - 1]`. Before the steps the operands are aligned on chip: row i of A is rotated by
`index[i]` ring steps (its ring index), column j of B by `index[j]`, so PE (i, j) then holds
A(i, ring[index[j] + index[i]]) and B(ring[index[i] + index[j]], j), the same K block, and the
steps keep them matched. A line rotates forward (toward ring index 0) or backward, whichever
is shorter or keeps the lines still rotating in round r a rectangle: g // 2 rounds of one
ring step each, the lines that are done copying their block into the other buffer so that
every PE's buffers keep the same parity (the copies run while other lines rotate). Nothing is
folded into the operands' host placement: the alignment is in the cycles.

Colors (each a virtual channel with fixed routes, set once, so nothing switches routes): one per
operand for the steps, one per operand for the alignment (whose lines rotate in both
directions: its routes depend on the line). Our routers keep one rule per (color, input port),
so the one color carries all of a ring's streams: at every router they enter on distinct
ports (WaferLLM's hardware, with one input/output set per color, needs three per stream).

The C block stays in the natural layout; the IR holds a constant number of ops (the rounds and
the steps are `pe.loop`s whose body is two rounds or steps, one per buffer parity), except the
folded alignment's routes, which differ by row and column parity: one route loop per PE line.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from xdsl.ir import SSAValue

from pyflame.dialects import mesh, pe
from pyflame.dialects.mesh import dist_of
from pyflame.dialects.pe import Port
from pyflame.passes.pe_lowering.loops import Emit, LoopBody, at_top
from pyflame.passes.pe_lowering.state import PELowering, Rect

#: colors (virtual channels) a shift-based matmul uses: A's and B's steps, A's and B's alignment
SHIFT_MATMUL_CHANNELS = 4

#: (first, count, stride) of an arithmetic progression of PE positions
Progression = tuple[int, int, int]


def natural_ring(g: int) -> list[int]:
    return list(range(g))


def folded_ring(g: int) -> list[int]:
    """Even positions rightwards, then odd ones back: neighbours at most two PEs apart."""
    last_odd = g - 1 if g % 2 == 0 else g - 2
    return list(range(0, g, 2)) + list(range(last_odd, 0, -2))


@dataclass(frozen=True)
class Scheme:
    """One shift-based algorithm on a line of g PEs: the ring, each line's alignment direction
    (True: forward, `index[i]` steps; False: backward, g - index[i]), and the lines rotating in
    alignment round r, [start + r * dstart, start + count + r * (dstart + dcount))."""

    g: int
    ring: list[int]
    forward: list[bool]
    start: int
    dstart: int
    count: int
    dcount: int

    @property
    def index(self) -> list[int]:
        idx = [0] * self.g
        for x, p in enumerate(self.ring):
            idx[p] = x
        return idx

    @property
    def rounds(self) -> int:
        return self.g // 2

    def shifts(self, line: int) -> int:
        """Ring steps line `line` rotates during the alignment."""
        i = self.index[line]
        return i if self.forward[line] else (self.g - i) % self.g

    def rotating(self, r: int) -> tuple[int, int]:
        """(first line, number of lines) rotating in alignment round r."""
        return self.start + r * self.dstart, self.count + r * self.dcount

    def check(self) -> None:
        """The rectangles are exactly the lines that still rotate (cheap: g // 2 rounds)."""
        shifts = [self.shifts(i) for i in range(self.g)]
        for r in range(self.rounds):
            first, n = self.rotating(r)
            assert n >= 1 and {i for i in range(self.g) if shifts[i] > r} == set(
                range(first, first + n)
            ), (self, r)
        assert max(shifts, default=0) <= self.rounds


def cannon(g: int) -> Scheme:
    """Line i rotates i ring steps forward if 2i <= g, else g - i backward: the rotating lines
    are r+1 .. g-1-r."""
    forward = [2 * i <= g for i in range(g)]
    return Scheme(g, natural_ring(g), forward, 1, 1, g - 1, -2)


def meshgemm(g: int) -> Scheme:
    """Even line 2m (ring index m) rotates m steps forward, odd line 2m+1 (ring index g-1-m)
    m+1 backward: the rotating lines are 2r+1 .. g-1."""
    forward = [i % 2 == 0 for i in range(g)]
    return Scheme(g, folded_ring(g), forward, 1, 2, g - 1, -2)


SCHEMES: dict[mesh.MatmulAlgorithm, Callable[[int], Scheme]] = {
    mesh.MatmulAlgorithm.CANNON: cannon,
    mesh.MatmulAlgorithm.MESHGEMM: meshgemm,
}


# --------------------------------------------------------------------------- routes


def ring_rules(ring: Sequence[int], forward: bool) -> dict[tuple[int, Port], Port]:
    """The router rules of one ring step along a line (ports `west`/`east`: toward position 0 /
    g-1): (position, input port) -> output port. Forward moves each block from ring[x] to
    ring[x-1], backward to ring[x+1]. Every position sends once and receives once; a stream
    passing a router enters it on a port no other stream of the step uses."""
    g = len(ring)
    rules: dict[tuple[int, Port], Port] = {}

    def rule(pos: int, src: Port, dst: Port) -> None:
        assert rules.setdefault((pos, src), dst) == dst, ("two streams on one port", pos, src)

    for x, src in enumerate(ring):
        dst = ring[(x - 1) % g] if forward else ring[(x + 1) % g]
        step, out, back = (1, Port.EAST, Port.WEST) if dst > src else (-1, Port.WEST, Port.EAST)
        rule(src, Port.RAMP, out)
        for pos in range(src + step, dst, step):
            rule(pos, back, out)
        rule(dst, back, Port.RAMP)
    return rules


def progressions(positions: Sequence[int]) -> list[Progression]:
    """Sorted positions as runs of stride 1 or 2 (longest first-come runs)."""
    out: list[Progression] = []
    rest = sorted(positions)
    while rest:
        first = rest[0]
        stride = rest[1] - first if len(rest) > 1 and rest[1] - first in (1, 2) else 1
        n = 1
        while n < len(rest) and rest[n] == first + n * stride:
            n += 1
        out.append((first, n, stride if n > 1 else 1))
        rest = rest[n:]
    return out


def emit_block_routes(
    lw: PELowering,
    color: int,
    lines: Progression,
    positions: Progression,
    src: Port,
    dst: Port,
    transposed: bool,
) -> None:
    """One rule on every router of lines x positions (rows x columns, or columns x rows when
    `transposed`, ports then north/south for west/east): one pe.route, or a loop of routes
    along whichever progression is strided (per line when both are)."""
    if transposed:
        turn = {Port.WEST: Port.NORTH, Port.EAST: Port.SOUTH, Port.RAMP: Port.RAMP}
        src, dst = turn[src], turn[dst]

    def rect(l0: int, nl: int, p0: int, np_: int) -> Rect:
        return (p0, l0, np_, nl) if transposed else (l0, p0, nl, np_)

    def route(r: Rect, step: Rect | None, trips: int) -> None:
        route = pe.RouteOp(src, (dst,), color=color, pes=r)
        lw.emit_repeated(route, trips, step if trips > 1 else None)

    (l0, nl, sl), (p0, np_, sp) = lines, positions
    if sp == 1 or np_ == 1:
        if sl == 1 or nl == 1:
            route(rect(l0, nl, p0, np_), None, 1)
        else:
            route(rect(l0, 1, p0, np_), rect(sl, 0, 0, 0), nl)
    elif sl == 1 or nl == 1:
        route(rect(l0, nl, p0, 1), rect(0, 0, sp, 0), np_)
    else:  # both strided: a loop over the lines around a loop over the positions
        op = pe.RouteOp(src, (dst,), color=color, pes=rect(l0, 1, p0, 1))
        op.properties["pes_step"] = pe.dense_i64((*rect(0, 0, sp, 0), *rect(sl, 0, 0, 0)))
        outer, outer_body, _, _ = pe.LoopOp.empty(0, nl, [])
        inner, inner_body, _, _ = pe.LoopOp.empty(0, np_, [])
        inner_end, outer_end = pe.YieldOp(), pe.YieldOp()
        inner_body.add_ops([op, inner_end])
        outer_body.add_ops([inner, outer_end])
        lw.emit(outer)
        for o in (op, inner, inner_end, outer_end):
            o.location = outer.location


def ring_channel(
    lw: PELowering, ring: Sequence[int], forward_lines: Sequence[bool | None], transposed: bool
) -> int:
    """A channel of its own for one ring step on every line (rows, or columns when
    `transposed`): line i steps forward if forward_lines[i], backward if False, not at all
    (no routes) if None."""
    color = lw.fresh_channel(())
    for direction in (True, False):
        lines = [i for i, f in enumerate(forward_lines) if f == direction]
        if not lines or len(ring) == 1:
            continue
        by_rule: dict[tuple[Port, Port], list[int]] = {}
        for (pos, src), dst in ring_rules(ring, direction).items():
            by_rule.setdefault((src, dst), []).append(pos)
        for line_run in progressions(lines):
            for (src, dst), positions in sorted(by_rule.items()):
                for pos_run in progressions(positions):
                    emit_block_routes(lw, color, line_run, pos_run, src, dst, transposed)
    return color


# --------------------------------------------------------------------------- the lowering


def run_periodic(lw: PELowering, count: int, first: int, step: Callable[[Emit, int], None]) -> None:
    """step(emit, k) for k = first .. first + count - 1: the first spelled out (rectangles
    that start empty), then pairs of steps as a pe.loop (the buffers' period is two), then
    one left over."""
    if count <= 0:
        return
    top = at_top(lw)
    step(top, first)
    pairs = (count - 1) // 2
    if pairs:
        body = LoopBody(lw, 0, pairs, [])
        step(body.emit, first + 1)
        step(body.emit, first + 2)
        body.finish()
    if (count - 1) % 2:
        step(top, first + count - 1)


def lower_shift_matmul(
    op: mesh.MatmulOp,
    lw: PELowering,
    acc: SSAValue,
    matmul_acc: Callable[[Emit, SSAValue, SSAValue], None],
) -> None:
    """Align A and B on chip, then g steps of multiply-and-rotate (see the module's doc)."""
    a, b = dist_of(op.lhs), dist_of(op.rhs)
    g = a.grid[0]
    scheme = SCHEMES[op.algorithm.data](g)
    scheme.check()
    rect: Rect = (0, 0, g, g)
    elem = mesh.elem_of(op.lhs)  # the operands' (a half product accumulates in f32)
    # two buffers per operand: the one multiplied and sent, the one being received into
    a_bufs = [lw.writable_copy(op.lhs, "shift_a0"), lw.alloc(rect, a.local_elems, elem, "shift_a1")]
    b0 = lw.writable_copy(op.rhs, "shift_b0")
    if b0 is a_bufs[0]:  # A @ A: the two rotate differently
        b0 = lw.alloc(rect, b.local_elems, elem, "shift_b0")
        lw.emit(pe.CopyOp(b0, a_bufs[0], pes=rect))
    b_bufs = [b0, lw.alloc(rect, b.local_elems, elem, "shift_b1")]

    def rows(first: int, n: int) -> Rect:
        return (first, 0, n, g)

    def cols(first: int, n: int) -> Rect:
        return (0, first, g, n)

    # alignment: round r rotates A's rows and B's columns that still need it by one ring step
    rounds = scheme.rounds
    if rounds:
        # a line that does not rotate (ring index 0) gets no routes
        moved = [f if scheme.shifts(i) else None for i, f in enumerate(scheme.forward)]
        align_a = ring_channel(lw, scheme.ring, moved, transposed=False)
        align_b = ring_channel(lw, scheme.ring, moved, transposed=True)
        d0, dn = 2 * scheme.dstart, 2 * scheme.dcount  # a loop body is two rounds

        def align(emit: Emit, r: int) -> None:
            cur, nxt = r % 2, (r + 1) % 2
            first, n = scheme.rotating(r)
            waits = []
            for bufs, color, place, move in (
                (a_bufs, align_a, rows, (d0, 0, dn, 0)),
                (b_bufs, align_b, cols, (0, d0, 0, dn)),
            ):
                moving = place(first, n)
                sent = emit(pe.SendOp(bufs[cur], color=color, pes=moving, asynchronous=True), move)
                got = emit(pe.RecvOp(bufs[nxt], color=color, pes=moving, asynchronous=True), move)
                waits.append((moving, move, sent.results[0], got.results[0]))
                # the lines already aligned copy their block, keeping the buffer parity: those
                # before the rotating ones and those after them (rectangles affine in r)
                done = (
                    ((0, first), (0, 0, d0, 0)),
                    ((first + n, g - first - n), (d0 + dn, 0, -d0 - dn, 0)),
                )
                for (s0, sn), grow in done:
                    if sn > 0:
                        if place is cols:
                            grow = (grow[1], grow[0], grow[3], grow[2])
                        emit(pe.CopyOp(bufs[nxt], bufs[cur], pes=place(s0, sn)), grow)
            for moving, move, sent_t, got_t in waits:
                emit(pe.WaitOp(sent_t, got_t, pes=moving), move)

        run_periodic(lw, rounds, 0, align)

    # the steps: multiply the blocks held while they rotate on to the ring predecessor
    def step(emit: Emit, s: int) -> None:
        cur, nxt = (rounds + s) % 2, (rounds + s + 1) % 2
        tokens: list[SSAValue] = []
        for bufs, color in ((a_bufs, step_a), (b_bufs, step_b)):
            sent = emit(pe.SendOp(bufs[cur], color=color, pes=rect, asynchronous=True))
            got = emit(pe.RecvOp(bufs[nxt], color=color, pes=rect, asynchronous=True))
            tokens += [sent.results[0], got.results[0]]
        matmul_acc(emit, a_bufs[cur], b_bufs[cur])
        emit(pe.WaitOp(*tokens, pes=rect))

    if g > 1:
        step_a = ring_channel(lw, scheme.ring, [True] * g, transposed=False)
        step_b = ring_channel(lw, scheme.ring, [True] * g, transposed=True)
        run_periodic(lw, g - 1, 0, step)
    last = (rounds + g - 1) % 2
    matmul_acc(at_top(lw), a_bufs[last], b_bufs[last])
