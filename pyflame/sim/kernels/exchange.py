"""The kernel of pe.exchange: a redistribution's local part, or one of its network phases
traced hop by hop on its color.

The phases are those of `pyflame.core.exchange_plan.exchange_phases` (the compiler stated
their routes with `pe.route` ops). A network phase traces its sources on the op's color
through the RouteTable: every message must reach exactly the PE it is meant for, or the
phase raises a RoutingError naming the sender, the color and where the wavelets went; its
timing comes from the traced links (`Links.stream`, `Links.arrival`) and the PEs' ramps
(`Schedule.out_free`, `in_free`), as a send's and a receive's do.
"""

from __future__ import annotations

import numpy as np

from pyflame.core.distribution import Distribution
from pyflame.core.errors import CompileError, RoutingError
from pyflame.core.exchange_plan import (
    ExchangePlan,
    ExchangeSummary,
    IndexMap,
    exchange_phases,
    exchange_summary,
)
from pyflame.core.flat_index import unravel_index
from pyflame.dialects import pe
from pyflame.sim import costs
from pyflame.sim.costs import CostKind
from pyflame.sim.exchange_run import RunPlan
from pyflame.sim.executable import Buffer
from pyflame.sim.fabric import pe_str
from pyflame.sim.kernels.registry import kernel
from pyflame.sim.schedule import Item, Schedule, pe_slice
from pyflame.sim.step_access import Access, Gather, annotate
from pyflame.sim.streams import sorted_matches


@kernel(pe.ExchangeOp)
def exchange(s: Schedule, it: Item, op: pe.ExchangeOp) -> None:
    ds, dd = op.src_layout.dist, op.dst_layout.dist
    src, dst = s.buf(op.src, it), s.buf(op.dst, it)
    r0, c0 = it.rect[0], it.rect[1]
    # the plan times the exchange from its summary; the per-element plan (five arrays of
    # every dst element) is made when a run first moves the data
    summary = read_exchange(it, op, src, dst)
    (sr, sc), (dr, dc) = summary.src_at, summary.dst_at
    ssl = src.sub((r0 + sr, c0 + sc) + ds.grid, ds.local_elems)
    dsl = dst.sub((r0 + dr, c0 + dc) + dd.grid, dd.local_elems)
    si, di = src.index, dst.index
    k = op.phase_index
    if k == 0:
        _time_local(s, it, summary.local_counts, dst.dtype.itemsize, summary.dst_at)
    else:
        _network_phase(s, it, op, summary, dst.dtype.itemsize)
    has_pad = k == 0 and summary.padding
    indices, zeros = _phase_indices(ds, dd, op.index_map, k, has_pad)
    made: list = []  # the index arrays, made when the step first runs unmerged

    def step(V, F, A, O):
        out = V[di][dsl]
        if not made:
            made.append((indices(), _padding(zeros(), out.shape)))
        (w_src, w_dst), pad = made[0]
        out[w_dst] = V[si][ssl][w_src]
        if has_pad:
            if isinstance(pad, np.ndarray):  # (a zero of out's own type: bfloat16 too)
                np.copyto(out, np.zeros((), out.dtype), where=pad)
            else:
                out[pad] = 0

    # consecutive phases of one exchange run as one gather (pyflame/sim/step_access.py)
    gather = Gather(si, ssl, di, dsl, summary.phase_size(k), indices, zeros)
    s.steps.append(annotate(step, Access(reads={si: ssl}, writes={di: dsl}, gather=gather)))


#: padding zeroed through a mask of the whole destination (one pass over it) when it is at
#: least this part of it; fewer elements through their index arrays
PAD_MASK_PART = 0.125


def _padding(
    z_dst: tuple[np.ndarray, ...], shape: tuple[int, ...]
) -> tuple[np.ndarray, ...] | np.ndarray:
    """How a step zeroes the padding at `z_dst` of a destination of `shape`: a bool mask of it
    when the padding is a large part (a [r, c] layout of 10 columns on 64 PE columns: 54 of
    every 64 PEs' element is padding; 3,456 elements indexed one by one cost ~30 us, the
    mask's pass ~3), else the index arrays."""
    size = int(np.prod(shape))
    if z_dst[0].size < PAD_MASK_PART * size:
        return z_dst
    mask = np.zeros(shape, dtype=bool)
    mask[z_dst] = True
    return mask


def _phase_indices(ds: Distribution, dd: Distribution, index_map: IndexMap, k: int, pad: bool):
    """Functions making phase `k`'s (src, dst) (row, col, element) index arrays, and the dst
    padding it zeroes (with `pad`), from the exchange's cached plan: made on demand, not
    kept per phase."""

    def plan() -> ExchangePlan:
        return exchange_phases(ds, dd, index_map)

    def indices():
        p = plan()
        elements = np.flatnonzero(p.local) if k == 0 else p.phase_elements(k)
        w_dst = unravel_index(elements, p.has_src.shape)
        w_src = (p.src_row[w_dst], p.src_col[w_dst], p.src_elem[w_dst])
        return w_src, w_dst

    made: list = []  # the padding's indices, once (a merged gather asks per axis)

    def zeros():
        if not made:
            none = tuple(np.zeros(0, dtype=np.int64) for _ in range(3))
            made.append(np.nonzero(~plan().valid) if pad else none)
        return made[0]

    return indices, zeros


def read_exchange(it: Item, op: pe.ExchangeOp, src: Buffer, dst: Buffer) -> ExchangeSummary:
    """The exchange's summary, once its layouts' grids are checked to lie inside the op's PEs
    and both buffers, and its phase to exist (the fast kernel and the wavelet engine both
    read an exchange this way)."""
    ds, dd = op.src_layout.dist, op.dst_layout.dist
    r0, c0, nr, nc = it.rect
    summary = exchange_summary(ds, dd, op.index_map)
    grids = (("src", src, ds.grid, summary.src_at), ("dst", dst, dd.grid, summary.dst_at))
    for name, buf, (gr, gc), (dr, dc) in grids:
        grect = (r0 + dr, c0 + dc, gr, gc)
        if not pe.rect_contains(buf.rect, grect) or not pe.rect_contains(it.rect, grect):
            raise CompileError(
                f"{it.what}: the {name} layout's grid {gr}x{gc} at ({r0 + dr}, {c0 + dc}) is "
                f"not inside both the op's PEs {list(it.rect)} and buffer '{buf.name}' "
                f"({list(buf.rect)})"
            )
    k = op.phase_index
    if k > len(summary.phases):
        raise CompileError(
            f"{it.what}: phase {k} of an exchange that has {len(summary.phases)} network phases"
        )
    return summary


def _time_local(
    s: Schedule, it: Item, elems: np.ndarray, elem_bytes: int, at: tuple[int, int]
) -> None:
    """Copies within each PE: a local copy of its elements, on the PEs that have any."""
    gr, gc = elems.shape
    cyc, _ = costs.op_cycles(s.target, CostKind.EXCHANGE_LOCAL, elems, elem_bytes=elem_bytes)
    cyc = np.where(elems > 0, cyc, 0)
    dr, dc = at
    sl = pe_slice((it.rect[0] + dr, it.rect[1] + dc, gr, gc))
    s.clock[sl] += cyc
    s.busy[sl] += cyc


def _network_phase(
    s: Schedule, it: Item, op: pe.ExchangeOp, plan: ExchangeSummary, elem_bytes: int
) -> None:
    """Trace and time phase `op.phase` on its color (the elements it carries:
    `ExchangePlan.phase_elements`)."""
    k, color = op.phase_index, op.color_id
    r0, c0 = it.rect[0], it.rect[1]
    msgs = np.array([(a, b, c, d) for (a, b), (c, d) in plan.phases[k - 1].messages])
    msgs = msgs.reshape(-1, 4).astype(np.int64)
    sr, sc, dr, dc = (msgs[:, j] for j in range(4))
    tr = s.routes.trace(color, sr + r0, sc + c0, it.what)
    _check_deliveries(it, color, k, tr, sr + r0, sc + c0, dr + r0, dc + c0)
    _check_nothing_waiting(s, it, color, k, tr, sr + r0, sc + c0)
    # timing: each source streams its message over the traced links once its output ramp is
    # free (an asynchronous send may still hold it); the phase is synchronous: a source waits
    # for its stream to leave
    t = s.target
    elems = np.asarray(plan.phases[k - 1].elems, dtype=np.int64)  # per message
    w = -(-elems * elem_bytes // 4)  # 32-bit wavelets (two f16/bf16 per wavelet)
    asr, asc = sr + r0, sc + c0
    # the PEs receiving: work over them, not the fabric (a phase of a wafer-wide exchange
    # reaches a few thousand of its ~750,000 PEs)
    got, which = np.unique(tr.d_r * s.C + tr.d_c, return_inverse=True)
    got_r, got_c = got // s.C, got % s.C
    lid = (tr.l_r * s.C + tr.l_c) * 4 + tr.l_dir
    offs = s.links.ramp + tr.l_h * s.links.hop
    ready = np.maximum(s.clock[asr, asc], s.out_free[asr, asc])
    cyc = costs.stream_cycles(t, w)
    run = _run_of(s, it, op)  # None: timed alone
    if run is None:
        _share_links_with_last_phase(s, color, lid, ready[tr.l_src] + offs, cyc[tr.l_src])
        ready = np.maximum(s.clock[asr, asc], s.out_free[asr, asc])  # (a source may receive)
        cyc_run, w_run = cyc, w
    else:
        # timed with the run's other phases (pyflame/sim/exchange_run.py): a stream lasts
        # what sharing links with them adds to it, and waits only for the traffic before the
        # run (not for the run's, which it shares links with)
        assert run.extra is not None  # (`_run_of` returns only runs timed together)
        cyc_run = cyc + run.extra[op]
        w_run = cyc_run * s.links.bw
        kept = np.unique(lid)
        run.without_run(s.links, kept)
    begin = np.maximum(s.clock[got_r, got_c], s.in_free[got_r, got_c])  # input ramp free
    start = s.links.stream(ready, w_run, tr.l_src, tr.l_r, tr.l_c, tr.l_dir, tr.l_h)
    if run is not None:
        run.with_run(s.links, kept, lid, start[tr.l_src] + offs, cyc[tr.l_src])
        np.add.at(s.links.wavelets, lid, (w - w_run)[tr.l_src])  # (streamed as w_run)
    arrival = s.links.arrival(start, w_run, tr.d_src, tr.d_h)
    lat = s.links.latency(tr.d_h)
    d = tr.d_src
    s.arrivals.post(color, it.what, tr.d_r, tr.d_c, asr[d], asc[d], ready[d] + lat, start[d] + lat)
    s.routes.uses.traffic(color, tr, start, np.broadcast_to(cyc_run, start.shape), s.links, it.what)
    # a receiver ingests every message delivered to it (one wavelet per cycle through its
    # ramp), and the phase's completion wakes its task; a message that waited in the path for
    # a receiver still busy crosses the path's links again as it drains, queued behind the
    # phase's other messages to that receiver and sharing the links with the other drains
    # (Links.drain_parked); its source stalls while its path cannot hold what is left
    left = np.zeros(tr.d_src.size, dtype=np.int64)
    drained = s.links.drain_parked(tr, start, w, begin[which], left)
    if run is not None:
        run.keep(s.links, kept)
    sent = start + cyc_run
    np.maximum.at(sent, tr.d_src, left)
    s.clock[asr, asc] = s.out_free[asr, asc] = sent
    s.busy[asr, asc] += cyc
    tail = np.zeros(got.size, dtype=np.int64)
    np.maximum.at(tail, which, np.maximum(arrival, drained))
    ingest = np.zeros(got.size, dtype=np.int64)
    np.add.at(ingest, which, cyc[tr.d_src])
    done = np.maximum(tail, begin + ingest)
    s.in_free[got_r, got_c] = done
    wake = costs.task_activation_cycles(t)
    s.clock[got_r, got_c] = np.maximum(s.clock[got_r, got_c], done) + wake
    s.busy[got_r, got_c] += wake
    # the links this phase's messages hold, for the next phase (another color) to share
    d_of = np.full(tr.k, -1, dtype=np.int64)
    d_of[tr.d_src] = tr.d_r * s.C + tr.d_c
    at = start[tr.l_src] + offs
    s.exchange_links = (color, lid, at, at + cyc_run[tr.l_src], d_of[tr.l_src])
    if run is not None and op is run.last:
        end_run(s)


def _run_of(s: Schedule, it: Item, op: pe.ExchangeOp) -> RunPlan | None:
    """The plan of the run of exchange ops that `op` belongs to (made at its first network
    phase), or None: the phase is timed alone."""
    run = s.exchange_run
    if run is None or op not in run.members:
        end_run(s)
        if it.loop is not None:
            return None
        run = s.exchange_run = RunPlan.make(s, op)
    if op is run.last and run.extra is None:
        end_run(s)
    return None if run.extra is None else run


def end_run(s: Schedule) -> None:
    """The run of exchange ops being timed together is over (the links hold its traffic)."""
    s.exchange_run = None


def _share_links_with_last_phase(
    s: Schedule, color: int, lid: np.ndarray, want: np.ndarray, cyc: np.ndarray
) -> None:
    """Link entries `lid` of this phase's messages (on `color`), each wanting its link from
    cycle `want` for `cyc` cycles. A link that the last phase's message still crosses then, on
    another color, is shared wavelet by wavelet on the machine (round robin over colors; one
    color's messages never interleave): the earlier message ends min(its rest, cyc) cycles
    later, and so does its receiver, with all it did since (here
    the later message still goes after it, which ends it as sharing would). Without this, a
    phase that gathers a column's tiles onto one PE while the next phase's messages already
    cross the same links finished a message early (an exchange copying tiles along a PE
    column of 4 rows: 109 cycles against the wavelet engine's 118)."""
    last = s.exchange_links
    if last is None or last[0] == color:
        return
    _, l_lid, l_a, l_b, l_dest = last
    order = np.argsort(l_lid, kind="stable")
    pos, n = sorted_matches(l_lid[order], lid)
    if pos.size == 0:
        return
    mine = np.repeat(np.arange(lid.size), n)  # every (this entry, last phase's entry) pair
    j = order[pos]
    t, rest_end = want[mine], l_b[j]
    hit = (t >= l_a[j]) & (t < rest_end) & (l_dest[j] >= 0)
    if not hit.any():
        return
    delay = np.minimum(rest_end - t, cyc[mine])[hit]
    dest = l_dest[j][hit]
    late, at = np.unique(dest, return_inverse=True)
    by = np.zeros(late.size, dtype=np.int64)
    np.maximum.at(by, at, delay)
    r, c = late // s.C, late % s.C
    s.clock[r, c] += by
    s.in_free[r, c] += by


def _check_deliveries(it, color, k, tr, sr, sc, dr, dc) -> None:
    """Every message of the phase reaches its destination's ramp, and no other."""
    count = np.bincount(tr.d_src, minlength=sr.size)
    wrong = (tr.d_r != dr[tr.d_src]) | (tr.d_c != dc[tr.d_src])
    if wrong.any():
        j = int(np.argmax(wrong))
        i = int(tr.d_src[j])
        raise RoutingError(
            f"{it.what}: {pe_str(tr.d_r[j], tr.d_c[j])} receives on color {color} the message "
            f"of exchange phase {k} that {pe_str(sr[i], sc[i])} sends to {pe_str(dr[i], dc[i])}"
        )
    if (count != 1).any():
        i = int(np.argmax(count != 1))
        raise RoutingError(
            f"{it.what}: the message of exchange phase {k} from {pe_str(sr[i], sc[i])} to "
            f"{pe_str(dr[i], dc[i])} on color {color} is delivered {int(count[i])} times"
        )


def _check_nothing_waiting(s: Schedule, it: Item, color: int, k: int, tr, sr, sc) -> None:
    """A destination's input queue on the color holds no message of an earlier send that a
    later receive takes: the phase's receive would take that one first."""
    hit = s.mail.oldest_at(color, tr.d_r, tr.d_c)
    if hit is None:
        return
    j, bid, idx = hit
    batch = s.batches[bid]
    i = int(tr.d_src[j])
    fr, fc = batch.rect[0] + int(batch.src_lr[idx]), batch.rect[1] + int(batch.src_lc[idx])
    raise RoutingError(
        f"{it.what}: {pe_str(tr.d_r[j], tr.d_c[j])} receives on color {color} the message of "
        f"exchange phase {k} from {pe_str(sr[i], sc[i])} while the message of {batch.what} from "
        f"{pe_str(fr, fc)} still waits there for a later receive: it would take that one "
        "first (a race between two transfers on one color; order them or give them "
        "different colors)"
    )
