"""Kernels of the fabric: pe.route (router rules), pe.send and pe.recv (messages on a color,
timed over the links they cross), and pe.exchange (a compiler-planned all-to-all between two
tile layouts along X-then-Y routes).

A send records its messages as a `Batch` and, at run time, copies the sender's buffer into the
in-flight table `F`; each recv takes, per PE, the next message delivered to it (its sender
fixed at plan time) and releases the in-flight copy once every delivery is received.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pyflame.core import reductions
from pyflame.core.errors import CompileError, RoutingError
from pyflame.dialects import pe
from pyflame.sim import costs
from pyflame.sim.costs import CostKind
from pyflame.sim.fabric import PORT_INDEX, pe_str, port_mask, xy_paths
from pyflame.sim.int32_checks import I32, as_int32
from pyflame.sim.kernels.registry import kernel
from pyflame.sim.layout_io import exchange_sources, kept_grid, make_redistribute
from pyflame.sim.schedule import Batch, Item, Schedule, pe_slice
from pyflame.sim.step_access import Access, Received, annotate
from pyflame.sim.streams import UNKNOWN, Completion, InFlight


@kernel(pe.RouteOp)
def route(s: Schedule, it: Item, op: pe.RouteOp) -> None:
    from_port = PORT_INDEX[op.from_port.data]
    switched = s.routes.apply(op.color_id, it.rect, from_port, port_mask(op.outputs))
    if switched.any():
        sl = pe_slice(it.rect)
        cost = switched.astype(np.int64) * costs.route_switch_cycles(s.target)
        s.clock[sl] += cost
        s.busy[sl] += cost


def _transfer(s: Schedule, it: Item, op: pe.SendOp | pe.RecvOp, phase: str) -> Completion:
    """The completion record of a send or receive: a synchronous op that cannot finish now holds
    its PEs (the planner keeps it blocked), an asynchronous one completes its token."""
    comp = Completion(
        it.what,
        it.rect,
        synchronous=not op.is_async,
        phase=phase,
        resume=costs.task_activation_cycles(s.target)
        if isinstance(op, pe.RecvOp) and not op.is_async
        else 0,
    )
    comp.issued[...] = s.clock[pe_slice(it.rect)]
    if op.is_async:
        s.tokens[op.results[0]] = comp
        s.inflight.append(InFlight(s.buf(op.buffer, it), comp, writes=isinstance(op, pe.RecvOp)))
    return comp


def _settle(s: Schedule, it: Item, comp: Completion) -> None:
    """After a transfer's kernel: a synchronous op whose PEs have not all finished holds them;
    an asynchronous op costs its PEs the issue of one instruction."""
    if comp.synchronous:
        if not comp.complete:
            s.holds[it.seq] = comp
    else:
        s.clock[pe_slice(it.rect)] += costs.transfer_issue_cycles(s.target)


@kernel(pe.SendOp)
def send(s: Schedule, it: Item, op: pe.SendOp) -> None:
    b = s.buf(op.buffer, it)
    r0, c0, nr, nc = it.rect
    color = op.color_id
    lr, lc = (a.ravel() for a in np.indices((nr, nc), dtype=np.int64))
    sr, sc = lr + r0, lc + c0
    tr = s.routes.trace(color, sr, sc, it.what)
    w = b.wavelets
    issue = costs.transfer_issue_cycles(s.target)
    ready = np.maximum(s.clock[sr, sc] + issue, s.out_free[sr, sc])
    start = s.links.stream(ready, w, tr.l_src, tr.l_r, tr.l_c, tr.l_dir, tr.l_h)
    cyc = costs.stream_cycles(s.target, w)
    s.out_free[sr, sc] = start + cyc
    s.busy[sr, sc] += cyc + issue
    comp = _transfer(s, it, op, "send")
    comp.busy[...] = cyc + issue
    lat = s.links.latency(tr.d_h)
    cap = costs.path_capacity_wavelets(s.target, tr.d_h)
    stream = s.streams.open(comp, start, cyc, tr.d_src, lat, cap)
    _settle(s, it, comp)
    n = tr.d_src.size
    if n == 0:
        return
    bid = len(s.batches)
    s.batches.append(Batch(it.what, color, b.size, it.rect, lr[tr.d_src], lc[tr.d_src], stream, n))
    s.mail.push(color, tr.d_r, tr.d_c, bid, np.arange(n, dtype=np.int64))
    sl, i = b.sub(it.rect), b.index

    def step(V, F, A, O):
        F[bid] = V[i][sl].copy()

    s.steps.append(annotate(step, Access(reads={i: sl}, sent=bid)))


def _compress(src_r: np.ndarray, src_c: np.ndarray) -> tuple[Any, Any]:
    """Index of a full (rows, cols) gather from a message array: basic slices when the source
    row depends only on the destination row (and the col only on the col) as a constant or a
    shift, which numpy runs as a broadcast copy; fancy index arrays otherwise."""

    def axis(a: np.ndarray, along: int) -> slice | None:
        line = a[:, :1] if along == 0 else a[:1, :]
        if not (a == line).all():
            return None
        v = line.ravel()
        if (v == v[0]).all():
            return slice(int(v[0]), int(v[0]) + 1)
        if (np.diff(v) == 1).all():
            return slice(int(v[0]), int(v[0]) + v.size)
        return None

    rs, cs = axis(src_r, 0), axis(src_c, 1)
    if rs is not None and cs is not None:
        return (rs, cs)
    return (src_r, src_c)


@kernel(pe.RecvOp)
def recv(s: Schedule, it: Item, op: pe.RecvOp) -> None:
    b = s.buf(op.buffer, it)
    r0, c0, nr, nc = it.rect
    color = op.color_id
    kind = op.combine_kind  # None: overwrite; else combine with a reduction kind
    acc = kind is not None
    bt, ix = s.mail.pop(color, it.rect)
    sl = pe_slice(it.rect)
    issue = costs.transfer_issue_cycles(s.target)
    add = 0
    if kind is not None:
        add, flops = costs.op_cycles(
            s.target,
            CostKind.RECV_COMBINE,
            b.size,
            reductions.KINDS[kind].flops,
            elem_bytes=b.dtype.itemsize,
            half=b.half,
        )
        s.flops += int(flops) * nr * nc
    comp = _transfer(s, it, op, "receive")
    comp.busy[...] = add + issue + comp.resume
    s.busy[sl] += comp.busy
    sink = s.streams.receiver(comp)
    begin_all = np.maximum(s.clock[sl] + issue, s.in_free[sl])
    groups: list[tuple[Any, int, Any]] = []
    release = []
    for g in np.unique(bt):
        g = int(g)
        batch = s.batches[g]
        mask = bt == g
        full = bool(mask.all())
        if batch.size != b.size:
            dr, dc = np.argwhere(mask)[0]
            j = ix[dr, dc]
            sr = batch.rect[0] + int(batch.src_lr[j])
            sc = batch.rect[1] + int(batch.src_lc[j])
            raise RoutingError(
                f"{it.what}: {pe_str(r0 + dr, c0 + dc)} receives on color {color} a message "
                f"of {batch.size} elements from {pe_str(sr, sc)} ({batch.what}) into buffer "
                f"'{b.name}' of {b.size} elements"
            )
        stream = batch.stream
        assert stream is not None  # a batch keeps its stream while deliveries are pending
        dr, dc = np.nonzero(mask)
        j = ix[dr, dc]
        begin = begin_all[dr, dc]
        dur = max(stream.cyc, add - issue)  # the combine's issue is the receive's own
        head = stream.start[stream.d_src[j]] + stream.lat[j]
        s.in_free[r0 + dr, c0 + dc] = np.maximum(begin, head) + dur
        s.streams.take(stream, j, begin, np.full(j.size, dur), sink, dr * nc + dc)
        if full:
            src_r = batch.src_lr[ix]
            src_c = batch.src_lc[ix]
            groups.append((Ellipsis, g, _compress(src_r, src_c)))
        else:
            groups.append(((dr, dc), g, (batch.src_lr[j], batch.src_lc[j])))
        batch.pending -= int(mask.sum())
        if batch.pending == 0:
            release.append(g)
            batch.forget_deliveries()  # its steps hold what they need; free the plan's copy
    _settle(s, it, comp)
    bsl, i = b.sub(it.rect), b.index
    ckind = "" if kind is None else kind  # the combining kind (read only when acc)
    if acc and b.dtype == I32 and kind in ("sum", "prod"):  # partial results, checked
        what, plain = it.what, kind

        def combine(kind: str, a: np.ndarray, b: np.ndarray) -> np.ndarray:
            wide = reductions.KINDS[kind].combine(a.astype(np.int64), b.astype(np.int64))
            return as_int32(wide, what, f"{plain} of partial results")
    else:
        combine = reductions.combine

    if len(groups) == 1 and groups[0][0] is Ellipsis:
        _, g, ssel = groups[0]
        rel = bool(release)
        if acc:

            def step(V, F, A, O):
                V[i][bsl] = combine(ckind, V[i][bsl], F[g][ssel])
                if rel:
                    del F[g]
        else:

            def step(V, F, A, O):
                V[i][bsl] = F[g][ssel]
                if rel:
                    del F[g]
    else:

        def step(V, F, A, O):
            dst = V[i][bsl]
            for dsel, g, ssel in groups:
                if acc:
                    dst[dsel] = combine(ckind, dst[dsel], F[g][ssel])
                else:
                    dst[dsel] = F[g][ssel]
            for g in release:
                del F[g]

    s.steps.append(annotate(step, _recv_access(i, bsl, acc, groups, release)))


def _recv_access(
    i: int, bsl: tuple[Any, ...], acc: bool, groups: list[tuple[Any, int, Any]], release: list
) -> Access:
    """What a receive's step touches (pyflame/sim/step_access.py): a plain receive of one
    whole message group may be elided when only views of it are read before it is
    overwritten."""
    released = tuple(release)
    if acc or len(groups) != 1 or groups[0][0] is not Ellipsis:
        return Access(reads={i: bsl} if acc else {}, writes={i: bsl}, released=released)
    _, g, ssel = groups[0]
    received = Received(i, bsl, g, ssel, bool(release))
    return Access(writes={i: bsl}, received=received, released=released)


@kernel(pe.ExchangeOp)
def exchange(s: Schedule, it: Item, op: pe.ExchangeOp) -> None:
    ds, dd = op.src_layout.dist, op.dst_layout.dist
    src, dst = s.buf(op.src, it), s.buf(op.dst, it)
    r0, c0, nr, nc = it.rect
    gsr, gsc = ds.grid
    gdr, gdc = dd.grid
    for name, buf, (gr, gc) in (("src", src, ds.grid), ("dst", dst, dd.grid)):
        grect = (r0, c0, gr, gc)
        if not pe.rect_contains(buf.rect, grect) or gr > nr or gc > nc:
            raise CompileError(
                f"{it.what}: the {name} layout's grid {gr}x{gc} at ({r0}, {c0}) is not inside "
                f"both the op's PEs {list(it.rect)} and buffer '{buf.name}' "
                f"({list(buf.rect)})"
            )
    Ld, Ls = dd.local_elems, ds.local_elems
    rows = np.broadcast_to(np.arange(gdr, dtype=np.int64)[:, None, None], (gdr, gdc, Ld))
    cols = np.broadcast_to(np.arange(gdc, dtype=np.int64)[None, :, None], (gdr, gdc, Ld))
    src_row, src_col, se, has_src, valid = exchange_sources(ds, dd, op.index_map)
    ssl = src.sub((r0, c0, gsr, gsc), Ls)
    dsl = dst.sub((r0, c0, gdr, gdc), Ld)
    si, di = src.index, dst.index
    if bool((has_src | ~valid).all()):
        # -- data: gather the distinct dst tiles, broadcast along replicated dst axes
        pr, pc = kept_grid(dd)
        k_sr = np.ascontiguousarray(src_row[:pr, :pc])
        k_sc = np.ascontiguousarray(src_col[:pr, :pc])
        k_se = np.ascontiguousarray(se[:pr, :pc])
        k_pad = ~valid[:pr, :pc]
        has_pad = bool(k_pad.any())
        fast = _checked_redistribute(ds, dd, op.index_map, (gsr, gsc, Ls), k_sr, k_sc, k_se, k_pad)

        def step(V, F, A, O):
            vals = V[si][ssl][k_sr, k_sc, k_se]
            if has_pad:
                vals[k_pad] = 0
            V[di][dsl] = vals

        if fast is not None:  # the same elements, moved by reshapes (no index per element)

            def step(V, F, A, O):
                fast(V[si][ssl], V[di][dsl])
    else:
        # -- data: only the dst elements with a source change (and padding becomes 0)
        w_dst = np.nonzero(has_src)
        w_src = (src_row[w_dst], src_col[w_dst], se[w_dst])
        z_dst = np.nonzero(~valid)
        has_pad = bool(z_dst[0].size)

        def step(V, F, A, O):
            out = V[di][dsl]
            out[w_dst] = V[si][ssl][w_src]
            if has_pad:
                out[z_dst] = 0

    s.steps.append(annotate(step, Access(reads={si: ssl}, writes={di: dsl})))
    _time_exchange(s, it, src_row, src_col, has_src, rows, cols, dst.dtype.itemsize)


def _checked_redistribute(
    ds: Any,
    dd: Any,
    index_map: Any,
    src_shape: tuple[int, int, int],
    k_sr: np.ndarray,
    k_sc: np.ndarray,
    k_se: np.ndarray,
    k_pad: np.ndarray,
) -> Any:
    """layout_io.make_redistribute for a plain redistribution, once it has moved every element
    of a numbered probe exactly where the exchange's per-element sources put it (padding 0);
    None otherwise."""
    fast = make_redistribute(ds, dd) if index_map is None else None
    if fast is None:
        return None
    probe = np.arange(1, 1 + int(np.prod(src_shape)), dtype=np.int64).reshape(src_shape)
    want = probe[k_sr, k_sc, k_se]
    want[k_pad] = 0
    got = np.full_like(want, -1)
    fast(probe, got)
    return fast if np.array_equal(got, want) else None


def _time_exchange(
    s: Schedule,
    it: Item,
    src_row: np.ndarray,
    src_col: np.ndarray,
    has_src: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
    elem_bytes: int,
) -> None:
    """One message per (source PE, destination PE) pair, each source sending its messages one
    after another (sorted by destination); copies within a PE cost a local copy."""
    t = s.target
    r0, c0 = it.rect[0], it.rect[1]
    n_pe = s.R * s.C
    s_flat = ((r0 + src_row) * s.C + (c0 + src_col))[has_src]
    d_flat = ((r0 + rows) * s.C + (c0 + cols))[has_src]
    pairs, w = np.unique(s_flat * n_pe + d_flat, return_counts=True)
    ps, pd = pairs // n_pe, pairs % n_pe
    start_clock = s.clock.copy()
    send_end = start_clock.ravel().copy()
    recv_end = start_clock.ravel().copy()
    local = ps == pd
    local_cyc = np.zeros(n_pe, dtype=np.int64)
    if local.any():
        cyc, _ = costs.op_cycles(t, CostKind.EXCHANGE_LOCAL, w[local], elem_bytes=elem_bytes)
        np.add.at(local_cyc, pd[local], cyc)
    # elements -> 32-bit wavelets (two f16/bf16 per wavelet)
    w = -(-w * elem_bytes // 4)
    rs, rd, rw = ps[~local], pd[~local], w[~local]
    if rs.size:
        # messages of each source leave one after another (sorted by destination)
        first = np.r_[True, rs[1:] != rs[:-1]]
        starts = np.flatnonzero(first)
        rank = np.arange(rs.size) - np.repeat(starts, np.diff(np.r_[starts, rs.size]))
        in_cyc = np.zeros(n_pe, dtype=np.int64)
        np.add.at(in_cyc, rd, costs.stream_cycles(t, rw))
        for j in range(int(rank.max()) + 1):
            sel = rank == j
            src, dst, ww = rs[sel], rd[sel], rw[sel]
            l_src, l_r, l_c, l_dir, l_h, hq = xy_paths(src // s.C, src % s.C, dst // s.C, dst % s.C)
            begin = s.links.stream(send_end[src], ww, l_src, l_r, l_c, l_dir, l_h)
            cyc = costs.stream_cycles(t, ww)
            send_end[src] = begin + cyc
            s.busy.ravel()[src] += cyc
            arr = s.links.arrival(begin, ww, np.arange(src.size), hq)
            np.maximum.at(recv_end, dst, arr)
        recv_end = np.maximum(recv_end, start_clock.ravel() + in_cyc)
        # every PE that receives part of the exchange is woken by its completion
        receives = np.zeros(n_pe, dtype=bool)
        receives[rd] = True
        wake = receives * costs.task_activation_cycles(t)
        recv_end += wake
        s.busy.ravel()[...] += wake
    end = np.maximum(np.maximum(send_end, recv_end), start_clock.ravel() + local_cyc)
    end = end.reshape(s.R, s.C)
    sl = pe_slice(it.rect)
    s.clock[sl] = np.maximum(s.clock[sl], end[sl])
    s.busy += local_cyc.reshape(s.R, s.C)


@kernel(pe.WaitOp)
def wait(s: Schedule, it: Item, op: pe.WaitOp) -> None:
    """Each PE resumes at the latest completion of its tokens, plus a task activation (the
    planner runs a wait only once every token it joins has completed on its PEs)."""
    sl = pe_slice(it.rect)
    done = s.clock[sl].copy()
    for comp in waited_completions(s, it, op):
        part = comp.done[_within(comp.rect, it.rect)]
        done = np.maximum(done, part)
        comp.waited[_within(comp.rect, it.rect)] = True
    wake = costs.task_activation_cycles(s.target)
    s.clock[sl] = done + wake
    s.busy[sl] += wake
    s.inflight = [f for f in s.inflight if not f.comp.waited.all()]


def waited_completions(s: Schedule, it: Item, op: pe.WaitOp) -> list[Completion]:
    """The completions a pe.wait joins (each token names an asynchronous send or receive that
    ran before it)."""
    out = []
    for t in op.tokens:
        comp = s.tokens.get(t)
        if comp is None:
            raise CompileError(
                f"{it.what}: waits for a token that no asynchronous send or receive made"
            )
        out.append(comp)
    return out


def wait_ready(s: Schedule, it: Item, op: pe.WaitOp) -> bool:
    """Every token of the wait has completed on the wait's PEs."""
    for t in op.tokens:
        comp = s.tokens.get(t)
        if comp is None:
            return True  # the kernel names the problem
        if (comp.done[_within(comp.rect, it.rect)] == UNKNOWN).any():
            return False
    return True


def _within(outer, inner) -> tuple[slice, slice]:
    """The index of rectangle `inner` inside an array over rectangle `outer`."""
    return (
        slice(inner[0] - outer[0], inner[0] - outer[0] + inner[2]),
        slice(inner[1] - outer[1], inner[1] - outer[1] + inner[3]),
    )
