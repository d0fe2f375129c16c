"""Costs of the ops that move tiles between PEs through exchanges (redistribute, relayout,
slice, pad, concat) and of host I/O (scatter, gather).

An exchange is what lower-mesh-to-pe emits for it (pyflame/core/exchange_plan.py): a local part
(one copy on every PE that keeps some of its elements), then its network phases, one after the
other, each on a color of its own. The estimate replays the phases on per-PE clocks as the
simulator times them: in a phase every source streams its message once its clock allows
(`w` wavelets, w cycles), the message's head reaches its destination `latency(hops)` later, a
destination ingests its messages one wavelet per cycle through its ramp and then wakes:

    send_end(src)  = clock(src) + w, or later when its destination is busy (below)
    done(dst)      = max(max over its messages of clock(src) + latency(hops) + w,
                         clock(dst) + sum of its messages' w)
    clock(dst)     = max(clock(dst), done(dst)) + wake

A destination still busy when a message's head arrives (clock(dst) > head) leaves the message
waiting in the path, behind the `ahead` wavelets of the phase's messages already waiting for
it; when `ahead + queued` exceeds the path's capacity `Q(hops)` the source stalls until the
destination drains it: send_end = max(clock(src) + w, clock(dst) + ahead + queued - Q -
router_queue + hop), as the simulator's `Links.drain_parked` has it without link contention.

The op costs the latest clock. What the estimate leaves out: links two messages of a phase
share (phases are formed so their routes agree, so this is rare), and, in a whole program, the
route switches and barriers allocate-colors adds when phases must reuse colors (their cost
depends on the colors left by the rest of the program).

Host I/O is counted apart from the PEs' clocks (`Report.io_cycles`): the host streams a tensor
over the grid's edge rows at `host_wavelets_per_cycle_per_row` each.
"""

from __future__ import annotations

import functools

import numpy as np
from xdsl.ir import Operation

from pyflame.core import vector_costs
from pyflame.core.distribution import Distribution
from pyflame.core.exchange_plan import (
    ALONG_ROW,
    IndexMap,
    anchor,
    exchange_summary,
    xy_legs,
)
from pyflame.core.target import Target
from pyflame.core.vector_costs import CostKind
from pyflame.dialects import mesh
from pyflame.dialects.mesh import dist_of
from pyflame.passes.cost_model.registry import Cost, CostContext, cost_rule

#: per direction of travel, how a link's position along its line skews when it is free
#: (`idle_links`): +1 where the path's hop count grows with the position
_SKEW = {"east": 1, "west": -1, "south": 1, "north": -1}


def idle_links(shape: tuple[int, int], hop: int) -> dict[str, np.ndarray]:
    """When the link out of each router toward each direction is next free, over a fabric
    box of `shape`, all free at 0. Stored skewed by the hop latency along the direction of
    travel (free - skew * hop * position), so that the head of a message, which reaches the
    k-th link of a leg k hops after its first, finds the leg's links free when it starts at
    max over the leg of the stored values (plus a constant), and leaves them all one value."""
    rows = np.arange(shape[0], dtype=np.int64)[:, None]
    cols = np.arange(shape[1], dtype=np.int64)[None, :]
    return {
        way: np.broadcast_to(-_SKEW[way] * hop * (cols if ALONG_ROW[way] else rows), shape).copy()
        for way in _SKEW
    }


def exchange_clock(
    ctx: CostContext,
    ds: Distribution,
    dd: Distribution,
    index_map: IndexMap,
    elem_bytes: int,
    clock: np.ndarray,
    links_free: dict[str, np.ndarray],
    keep_plan: bool = True,
) -> tuple[np.ndarray, int]:
    """Advance the per-PE `clock` (over both grids' bounding box) by one exchange from layout
    `ds` to `dd`; returns it and the exchange's number of network phases. `links_free`
    holds when each link is next free (`idle_links`). `keep_plan=False` makes the exchange's
    plan outside `exchange_phases`' cache (an estimate of a move that may never be lowered:
    a 4096^2 plan is ~0.5 GB)."""
    plan = exchange_summary(ds, dd, index_map, keep_plan)
    gr, gc = dd.grid
    # the clock covers the fabric from PE (0, 0): grids sit at their origins, the plan's
    # messages at its anchor
    (r0, c0), (a0, a1) = dd.origin, anchor(ds, dd)
    if plan.has_local_part:
        local = plan.local_counts
        copy = vector_costs.op_cycles(
            ctx.target, CostKind.EXCHANGE_LOCAL, local, elem_bytes=elem_bytes
        )[0]
        clock[r0 : r0 + gr, c0 : c0 + gc] += np.where(local > 0, copy, 0)
    if not plan.phases:
        return clock, 0
    ramp, hop = ctx.target.ramp_latency_cycles, ctx.target.hop_latency_cycles
    for phase in plan.phases:
        m = np.array([(a, b, c, d) for (a, b), (c, d) in phase.messages], dtype=np.int64)
        m += (a0, a1, a0, a1)
        w = (np.asarray(phase.elems, dtype=np.int64) * elem_bytes + 3) // 4
        dst = m[:, 2] * clock.shape[1] + m[:, 3]
        begin = clock.reshape(-1)[dst]
        tail = np.zeros(len(m), dtype=np.int64)
        queued: dict[int, int] = {}  # per busy destination: wavelets waiting for it so far
        rq = ctx.target.router_queue_wavelets
        # one message after the other, earliest-ready first: a message starts when its source
        # is ready and every link on its path is free for its head
        for i in np.argsort(clock[m[:, 0], m[:, 1]], kind="stable").tolist():
            a, b, c, d = m[i].tolist()
            wi = int(w[i])
            start = int(clock[a, b])
            legs = []
            k = 0  # hops before the leg
            for way, line, first, end, _ in xy_legs((a, b), (c, d)):
                lo, hi = (first, end) if end > first else (end + 1, first + 1)
                free = links_free[way]
                view = free[line, lo:hi] if ALONG_ROW[way] else free[lo:hi, line]
                # stored + base is when link k' of the leg is free for a head starting now
                base = -ramp - hop * (k - _SKEW[way] * first)
                start = max(start, int(view.max()) + base)
                legs.append((view, base))
                k += abs(end - first)
            for view, base in legs:
                view[:] = start + wi - base
            clock[a, b] = start + wi
            tail[i] = start + ctx.latency(k) + wi
            # a destination still busy when the head arrives: the wavelets wait in the path,
            # behind the ones already waiting for it; what the path cannot hold stalls the
            # source until the destination drains it (the simulator's Links.drain_parked)
            head, at = start + ctx.latency(k), int(dst[i])
            if begin[i] > head:
                q = min(wi, int(begin[i]) - head)
                ahead = queued.get(at, 0)
                queued[at] = ahead + q
                cap = int(vector_costs.path_capacity_wavelets(ctx.target, k))
                if ahead + q > cap:
                    clock[a, b] = max(start + wi, int(begin[i]) + ahead + q - cap - rq + hop)
        # per destination: its last message's tail, and every message through its ramp
        got, which = np.unique(dst, return_inverse=True)
        last = np.zeros(len(got), dtype=np.int64)
        np.maximum.at(last, which, tail)
        ingest = np.bincount(which, weights=w, minlength=len(got)).astype(np.int64)
        flat = clock.reshape(-1)
        first_begin = np.zeros(len(got), dtype=np.int64)
        first_begin[which] = begin
        done = np.maximum(last, first_begin + ingest)
        flat[got] = np.maximum(flat[got], done) + ctx.wake
    return clock, len(plan.phases)


def _box(*dists: Distribution) -> np.ndarray:
    """A clock per PE of the fabric from PE (0, 0) to the far corner of every grid."""
    rows = max(d.origin[0] + d.grid[0] for d in dists)
    cols = max(d.origin[1] + d.grid[1] for d in dists)
    return np.zeros((rows, cols), dtype=np.int64)


def _exchange_cost(
    op: Operation,
    ctx: CostContext,
    moves: list[tuple[Distribution, IndexMap]],
    start: int = 0,
) -> Cost:
    """Exchanges of `moves` (source layout, index map) into `op`'s result, one after the
    other, after `start` cycles on every PE of the result's grid (pad's fill)."""
    result = op.results[0]
    dd, eb = dist_of(result), ctx.elem_bytes(result)
    return _exchange_cost_of(ctx.target, tuple(moves), dd, eb, start, ctx.tile_bytes(result))


@functools.lru_cache(maxsize=512)
def _exchange_cost_of(
    target: Target,
    moves: tuple[tuple[Distribution, IndexMap], ...],
    dd: Distribution,
    eb: int,
    start: int,
    sram_bytes: int,
    keep_plan: bool = True,
) -> Cost:
    """`_exchange_cost` by layouts alone (every op starts from idle PEs): a program repeats
    its exchanges (a layer's, a training step's forward and backward), and assign-layouts
    estimates several candidate lowerings of one program, so each is replayed once."""
    ctx = CostContext(target)
    clock = _box(dd, *(ds for ds, _ in moves))
    r0, c0, gr, gc = dd.rect
    clock[r0 : r0 + gr, c0 : c0 + gc] += start
    phases = 0
    links_free = idle_links(clock.shape, target.hop_latency_cycles)
    for ds, index_map in moves:
        clock, k = exchange_clock(ctx, ds, dd, index_map, eb, clock, links_free, keep_plan)
        phases += k
    return Cost(
        int(clock.max()),
        sram_bytes,
        algorithm="exchange",
        detail=f"{phases} network phase(s)",
        channels=phases,
    )


def _index_map(
    src: Distribution, dst: Distribution, offset: tuple[int, ...], stride: tuple[int, ...]
) -> IndexMap:
    return mesh.slice_index_map(src.shape, dst.shape, offset, stride)


def redistribute_cost(
    target: Target, src: Distribution, dst: Distribution, eb: int, keep_plan: bool = True
) -> Cost:
    """The estimate of a mesh.redistribute from `src` to `dst` (cycles, and its network
    phases as `channels`), without an op (`keep_plan`: as `exchange_clock`)."""
    return _exchange_cost_of(target, ((src, None),), dst, eb, 0, 0, keep_plan)


def redistribute_cycles(target: Target, src: Distribution, dst: Distribution, eb: int) -> int:
    """Estimated cycles of a mesh.redistribute from `src` to `dst` (0 when the tiles are the
    same), without an op: for choices made before anything is emitted."""
    if src.normalized() == dst.normalized():
        return 0
    return _exchange_cost_of(target, ((src, None),), dst, eb, 0, 0).cycles


@cost_rule(mesh.RedistributeOp)
def redistribute(op: mesh.RedistributeOp, ctx: CostContext) -> Cost:
    return _exchange_cost(op, ctx, [(dist_of(op.input), None)])


@cost_rule(mesh.RelayoutOp)
def relayout(op: mesh.RelayoutOp, ctx: CostContext) -> Cost:
    return _exchange_cost(op, ctx, [(dist_of(op.input), None)])


@cost_rule(mesh.SliceOp)
def slice_(op: mesh.SliceOp, ctx: CostContext) -> Cost:
    start, _, step = op.bounds
    src, dst = dist_of(op.input), dist_of(op.result)
    index_map = mesh.slice_index_map(src.shape, dst.shape, start, step, op.window_shape)
    return _exchange_cost(op, ctx, [(src, index_map)])


@cost_rule(mesh.PadOp)
def pad(op: mesh.PadOp, ctx: CostContext) -> Cost:
    low, high = op.widths
    src, dst = dist_of(op.input), dist_of(op.result)
    fill = 0
    if any(w > 0 for w in low + high):
        fill = ctx.compute_on(CostKind.FILL, op.result, dst.local_elems)
    offset = tuple(-w for w in low)
    return _exchange_cost(
        op, ctx, [(src, _index_map(src, dst, offset, (1,) * len(low)))], start=fill
    )


@cost_rule(mesh.ConcatOp)
def concat(op: mesh.ConcatOp, ctx: CostContext) -> Cost:
    dim, dst = op.dim_index, dist_of(op.result)
    rank = len(dst.shape)
    moves: list[tuple[Distribution, IndexMap]] = []
    begin = 0
    for v in op.inputs:
        src = dist_of(v)
        n = src.shape[dim]
        if n:
            offset = tuple(-begin if d == dim else 0 for d in range(rank))
            moves.append((src, _index_map(src, dst, offset, (1,) * rank)))
        begin += n
    return _exchange_cost(op, ctx, moves)


def _kept(dist: Distribution) -> tuple[int, int]:
    """Grid rows and cols holding distinct data (1 along an axis the tensor is replicated on)."""
    gr, gc = dist.grid
    rows = gr if any("r" in s for s in dist.split) else 1
    cols = gc if any("c" in s for s in dist.split) else 1
    return rows, cols


@cost_rule(mesh.ScatterOp)
def scatter(op: mesh.ScatterOp, ctx: CostContext) -> Cost:
    dist = dist_of(op.result)
    nr, nc = dist.grid
    wavelets = ctx.wavelets(nr * nc * dist.local_elems, ctx.elem_bytes(op.result))
    io = vector_costs.host_io_cycles(ctx.target, wavelets, nr, dist.origin[1] + nc)
    return Cost(0, ctx.tile_bytes(op.result), io_cycles=io, algorithm="host")


@cost_rule(mesh.GatherOp)
def gather(op: mesh.GatherOp, ctx: CostContext) -> Cost:
    dist = dist_of(op.input)
    pr, pc = _kept(dist)
    wavelets = ctx.wavelets(pr * pc * dist.local_elems, ctx.elem_bytes(op.input))
    io = vector_costs.host_io_cycles(
        ctx.target, wavelets, pr, ctx.target.fabric_cols - dist.origin[1]
    )
    return Cost(0, io_cycles=io, algorithm="host")
