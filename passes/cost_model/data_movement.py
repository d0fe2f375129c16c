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

Phases in a row run at once on the machine wherever their PEs differ, and where messages of
two colors want one link at the same moment the router shares it round robin. As the simulator
(pyflame/sim/exchange_run.py), the estimate walks an op's exchanges from their first network
phase together in time order (`pyflame.core.link_sharing.walk`: every message at its max-min
fair share of the links it wants, a color's messages on a link one after another) and adds
what sharing costs each message to its stream (`w + extra`: its source's end, its tail); the
run's messages then wait only for the links as they were before the run, a phase's own
messages one after another (`exchanges_clock`). Runs too large to walk
(`link_sharing.too_large`) and runs in which no link carries two colors are replayed phase
after phase, each message reserving its path whole, as before session 28 (a transposition
of 48x40 on 4x4: 397 cycles that way, 452 walked and simulated).

The op costs the latest clock. What the estimate leaves out: in a whole program, the route
switches and barriers allocate-colors adds when phases must reuse colors (their cost depends
on the colors left by the rest of the program; the simulator's runs end at them), and runs
that span several ops (each op is estimated from idle PEs and links).

Host I/O is counted apart from the PEs' clocks (`Report.io_cycles`): the host streams a tensor
over the grid's edge rows at `host_wavelets_per_cycle_per_row` each.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np
from xdsl.ir import Operation

from pyflame.core import link_sharing, vector_costs
from pyflame.core.distribution import Distribution
from pyflame.core.exchange_plan import (
    ALONG_ROW,
    ExchangeSummary,
    IndexMap,
    Phase,
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
    share_links: bool = True,
) -> tuple[np.ndarray, int]:
    """Advance the per-PE `clock` (over both grids' bounding box) by one exchange from layout
    `ds` to `dd`; returns it and the exchange's number of network phases. `links_free`
    holds when each link is next free (`idle_links`). `keep_plan=False` makes the exchange's
    plan outside `exchange_phases`' cache (an estimate of a move that may never be lowered:
    a 4096^2 plan is ~0.5 GB). `share_links=False`: phase after phase, each message reserving
    its path whole (what a run too large to walk gets)."""
    return exchanges_clock(
        ctx, ((ds, index_map),), dd, elem_bytes, clock, links_free, keep_plan, share_links
    )


#: one step of a run of exchanges: its plan, the plan's anchor, and its phase (0: the local part)
_Step = tuple[ExchangeSummary, tuple[int, int], int]


def exchanges_clock(
    ctx: CostContext,
    moves: tuple[tuple[Distribution, IndexMap], ...],
    dd: Distribution,
    elem_bytes: int,
    clock: np.ndarray,
    links_free: dict[str, np.ndarray],
    keep_plan: bool = True,
    share_links: bool = True,
) -> tuple[np.ndarray, int]:
    """`exchange_clock` of the exchanges of `moves` (source layout, index map) into `dd`, one
    after the other (a concat's), as the simulator times them: a run of consecutive exchange
    phases walked together from its first network phase, sharing links max-min fairly
    (`pyflame.core.link_sharing`); each message's stream then lasts what sharing adds to it,
    and waits only for the links as they were before the run (`_phase_clock`)."""
    steps: list[_Step] = []
    for ds, index_map in moves:
        plan = exchange_summary(ds, dd, index_map, keep_plan)
        at = anchor(ds, dd)
        if plan.has_local_part:
            steps.append((plan, at, 0))
        steps += [(plan, at, k) for k in range(1, len(plan.phases) + 1)]
    network = [j for j, (_, _, k) in enumerate(steps) if k]
    extra: list[np.ndarray | None] = [None] * len(steps)
    run: tuple[int, int, int, int] | None = None  # the box of links the run's messages cross
    for j, (plan, at, k) in enumerate(steps):
        if share_links and network and j == network[0] and len(network) >= 2:
            extra[j:], run = _run_extra(ctx, steps[j:], dd, elem_bytes, clock)
            if run is not None:
                box = np.s_[run[0] : run[1], run[2] : run[3]]
                before = {way: v[box].copy() for way, v in links_free.items()}
                after = {way: v.copy() for way, v in before.items()}
        if not k:
            r0, c0, gr, gc = dd.rect
            clock[r0 : r0 + gr, c0 : c0 + gc] += _local_cycles(ctx, plan, elem_bytes)
            continue
        if run is None:
            _phase_clock(ctx, plan.phases[k - 1], at, elem_bytes, clock, links_free)
            continue
        # the run's messages wait for the links as they were before it (they share them with
        # one another: `extra`), a phase's own messages one after another
        for way, v in links_free.items():
            v[box] = before[way]
        _phase_clock(ctx, plan.phases[k - 1], at, elem_bytes, clock, links_free, extra[j])
        for way, v in links_free.items():
            np.maximum(after[way], v[box], out=after[way])
    if run is not None:
        for way, v in links_free.items():
            v[box] = after[way]
    return clock, len(network)


def _local_cycles(ctx: CostContext, plan: ExchangeSummary, elem_bytes: int) -> np.ndarray:
    """An exchange's local part: copy cycles per PE of the dst grid (0 where it keeps none)."""
    local = plan.local_counts
    copy = vector_costs.op_cycles(
        ctx.target, CostKind.EXCHANGE_LOCAL, local, elem_bytes=elem_bytes
    )[0]
    return np.broadcast_to(np.where(local > 0, copy, 0), local.shape)


def _messages(phase: Phase, at: tuple[int, int], elem_bytes: int) -> tuple[np.ndarray, ...]:
    """A phase's messages (source row, col, destination row, col, on the fabric) and their
    wavelets."""
    m = np.array([(a, b, c, d) for (a, b), (c, d) in phase.messages], dtype=np.int64)
    m = m.reshape(-1, 4) + (at[0], at[1], at[0], at[1])
    w = (np.asarray(phase.elems, dtype=np.int64) * elem_bytes + 3) // 4
    return m, w


def _run_extra(
    ctx: CostContext, steps: list[_Step], dd: Distribution, elem_bytes: int, clock: np.ndarray
) -> tuple[list[np.ndarray | None], tuple[int, int, int, int] | None]:
    """Per step of a run (from its first network phase), what link sharing adds to each
    message's stream (`link_sharing.walk` from `clock`), and the box of PEs its messages
    cross; (Nones, None) when the run is timed phase by phase (too large, nothing shared)."""
    alone: list[np.ndarray | None] = [None] * len(steps)
    if link_sharing.too_large(sum(len(p.phases[k - 1].messages) for p, _, k in steps if k), 0):
        return alone, None  # (counted before any message is read: a wafer's have millions)
    msgs = [_messages(plan.phases[k - 1], at, elem_bytes) if k else None for plan, at, k in steps]
    cols = clock.shape[1]
    phases: list[link_sharing.RunPhase] = []
    for (plan, _, _), mw in zip(steps, msgs, strict=True):
        if mw is None:
            r0, c0, gr, gc = dd.rect
            rr, cc = np.meshgrid(np.arange(gr) + r0, np.arange(gc) + c0, indexing="ij")
            cyc = _local_cycles(ctx, plan, elem_bytes).reshape(-1)
            phases.append(link_sharing.local_part((rr * cols + cc).reshape(-1), cyc))
            continue
        m, w = mw
        color = len(phases)  # (every phase of a run on a color of its own)
        phases.append(
            link_sharing.network_phase(
                ctx.target, color, m[:, 0], m[:, 1], m[:, 2], m[:, 3], w, cols
            )
        )
    if link_sharing.too_large(0, sum(p.entries for p in phases)):
        return alone, None
    flat = clock.reshape(-1)
    extra = link_sharing.walk(ctx.target, phases, flat, flat, flat)
    if extra is None:
        return alone, None
    every = np.concatenate([m for m, _ in (mw for mw in msgs if mw is not None)])
    rows, cols_at = np.r_[every[:, 0], every[:, 2]], np.r_[every[:, 1], every[:, 3]]
    box = (int(rows.min()), int(rows.max()) + 1, int(cols_at.min()), int(cols_at.max()) + 1)
    return extra, box


def _phase_clock(
    ctx: CostContext,
    phase: Phase,
    at: tuple[int, int],
    elem_bytes: int,
    clock: np.ndarray,
    links_free: dict[str, np.ndarray],
    extra: np.ndarray | None = None,
) -> None:
    """One network phase on the per-PE `clock` and the links (`links_free`); `extra`: what
    sharing links with the rest of its run adds to each message's stream."""
    ramp, hop = ctx.target.ramp_latency_cycles, ctx.target.hop_latency_cycles
    rq = ctx.target.router_queue_wavelets
    m, w = _messages(phase, at, elem_bytes)
    stream = w if extra is None else w + extra
    dst = m[:, 2] * clock.shape[1] + m[:, 3]
    begin = clock.reshape(-1)[dst]
    tail = np.zeros(len(m), dtype=np.int64)
    queued: dict[int, int] = {}  # per busy destination: wavelets waiting for it so far
    # one message after the other, earliest-ready first: a message starts when its source
    # is ready and every link on its path is free for its head
    for i in np.argsort(clock[m[:, 0], m[:, 1]], kind="stable").tolist():
        a, b, c, d = m[i].tolist()
        wi, si = int(w[i]), int(stream[i])
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
            view[:] = start + si - base
        clock[a, b] = start + si
        tail[i] = start + ctx.latency(k) + si
        # a destination still busy when the head arrives: the wavelets wait in the path,
        # behind the ones already waiting for it; what the path cannot hold stalls the
        # source until the destination drains it (the simulator's Links.drain_parked)
        head, at_dst = start + ctx.latency(k), int(dst[i])
        if begin[i] > head:
            q = min(wi, int(begin[i]) - head)
            ahead = queued.get(at_dst, 0)
            queued[at_dst] = ahead + q
            cap = int(vector_costs.path_capacity_wavelets(ctx.target, k))
            if ahead + q > cap:
                clock[a, b] = max(start + si, int(begin[i]) + ahead + q - cap - rq + hop)
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
    cost = _exchange_cost_of(ctx.target, tuple(moves), dd, eb, start)
    return dataclasses.replace(cost, sram_bytes=ctx.tile_bytes(result))


@functools.lru_cache(maxsize=512)
def _exchange_cost_of(
    target: Target,
    moves: tuple[tuple[Distribution, IndexMap], ...],
    dd: Distribution,
    eb: int,
    start: int,
    keep_plan: bool = True,
) -> Cost:
    """`_exchange_cost` by layouts alone (every op starts from idle PEs; no SRAM): a program
    repeats its exchanges (a layer's, a training step's forward and backward), and
    assign-layouts and choose-matmuls estimate several candidate lowerings of one program
    (an op's rule and `redistribute_cycles` the same move), so each is replayed once."""
    ctx = CostContext(target)
    clock = _box(dd, *(ds for ds, _ in moves))
    r0, c0, gr, gc = dd.rect
    clock[r0 : r0 + gr, c0 : c0 + gc] += start
    links_free = idle_links(clock.shape, target.hop_latency_cycles)
    clock, phases = exchanges_clock(ctx, moves, dd, eb, clock, links_free, keep_plan)
    return Cost(
        int(clock.max()),
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
    return _exchange_cost_of(target, ((src, None),), dst, eb, 0, keep_plan)


def redistribute_cycles(target: Target, src: Distribution, dst: Distribution, eb: int) -> int:
    """Estimated cycles of a mesh.redistribute from `src` to `dst` (0 when the tiles are the
    same), without an op: for choices made before anything is emitted."""
    if src.normalized() == dst.normalized():
        return 0
    return _exchange_cost_of(target, ((src, None),), dst, eb, 0).cycles


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
