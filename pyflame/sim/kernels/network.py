"""Kernels of the fabric: pe.route (router rules), pe.send and pe.recv (messages on a color,
timed over the links they cross); pe.exchange is in exchange.py.

A send records its messages as a `Batch` and, at run time, copies the sender's buffer into the
in-flight table `F`; each recv takes, per PE, the next message delivered to it (its sender
fixed at plan time) and releases the in-flight copy once every delivery is received.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from pyflame.core import reductions
from pyflame.core.elementwise import ufunc_into
from pyflame.core.errors import CompileError, RoutingError
from pyflame.core.route_rules import rule_array, rule_cells
from pyflame.dialects import pe
from pyflame.sim import costs
from pyflame.sim.chains import ChainStage, set_chain_stage
from pyflame.sim.costs import CostKind
from pyflame.sim.executable import Buffer, Rect, Step
from pyflame.sim.fabric import PORT_INDEX, pe_str, port_mask
from pyflame.sim.int32_checks import I32, as_int32
from pyflame.sim.kernels.registry import kernel
from pyflame.sim.loop_fission import LoopPart, Span, set_loop_part
from pyflame.sim.schedule import Batch, Item, Schedule, pe_slice
from pyflame.sim.step_access import Access, Received, annotate
from pyflame.sim.streams import UNKNOWN, Completion, InFlight, Stream


@kernel(pe.RouteOp)
def route(s: Schedule, it: Item, op: pe.RouteOp) -> None:
    from_port = PORT_INDEX[op.from_port.data]
    sl = pe_slice(it.rect)
    effect = s.clock[sl] + costs.route_switch_cycles(s.target)
    switched = s.routes.apply(
        op.color_id, it.rect, from_port, port_mask(op.outputs), at=effect, what=it.what
    )
    if switched.any():
        cost = switched.astype(np.int64) * costs.route_switch_cycles(s.target)
        s.clock[sl] += cost
        s.busy[sl] += cost


@kernel(pe.RoutesOp)
def routes(s: Schedule, it: Item, op: pe.RoutesOp) -> None:
    """Every rule of the op, as consecutive pe.route ops would set them."""
    rules = rule_array(op.rule_bytes)
    router, port, mask = rule_cells(rules, s.C)
    sw = costs.route_switch_cycles(s.target)
    if np.unique(router * 5 + port).size < router.size:  # a router set twice: rule by rule
        for r0, c0, nr, nc, p, m in rules.tolist():
            rect = (r0, c0, nr, nc)
            sl = pe_slice(rect)
            switched = s.routes.apply(op.color_id, rect, p, m, at=s.clock[sl] + sw, what=it.what)
            s.clock[sl] += switched * sw
            s.busy[sl] += switched * sw
        return
    r, c = router // s.C, router % s.C
    sr, sc = s.routes.apply_cells(op.color_id, r, c, port, mask, s.clock, sw, it.what)
    np.add.at(s.clock, (sr, sc), sw)
    np.add.at(s.busy, (sr, sc), sw)


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
        s.set_token(it, op.results[0], comp)
        moved = s.buf(op.buffer, it).window(op.window_span)  # its window only
        s.inflight.append(InFlight(moved, comp, writes=isinstance(op, pe.RecvOp)))
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
    comp = _transfer(s, it, op, "send")
    r0, c0, nr, nc = it.rect
    issue = costs.transfer_issue_cycles(s.target)
    out_free = s.out_free[pe_slice(it.rect)] if op.is_async else ramp_free(s, it.rect)
    ready = np.maximum(s.clock[r0 : r0 + nr, c0 : c0 + nc] + issue, out_free)
    b = s.buf(op.buffer, it).window(op.window_span)
    _open_stream(s, it, b, op.color_id, comp, ready.ravel())
    _settle(s, it, comp)


def _open_stream(
    s: Schedule,
    it: Item,
    b: Buffer,
    color: int,
    comp: Completion,
    ready: np.ndarray,
    feeds: Sequence[tuple[Stream, np.ndarray, np.ndarray]] = (),
) -> None:
    """Every PE of the op's rectangle streams buffer `b` into its router on `color` once it is
    `ready` (row-major per PE) and the links are free: trace the routes, time the links, post
    the messages and copy the data at run time. A forwarding receive passes `feeds`."""
    r0, c0, nr, nc = it.rect
    lr, lc = (a.ravel() for a in np.indices((nr, nc), dtype=np.int64))
    sr, sc = lr + r0, lc + c0
    tr = s.routes.trace(color, sr, sc, it.what)
    w = b.wavelets
    issue = costs.transfer_issue_cycles(s.target)
    start = s.links.stream(ready, w, tr.l_src, tr.l_r, tr.l_c, tr.l_dir, tr.l_h)
    cyc = costs.stream_cycles(s.target, w)
    s.routes.uses.traffic(color, tr, start, np.broadcast_to(cyc, start.shape), s.links, it.what)
    s.out_free[sr, sc] = start + cyc
    if not feeds:  # a forwarding receive's CE time is its receive's
        s.busy[sr, sc] += cyc + issue
        comp.busy[...] = cyc + issue
    lat = s.links.latency(tr.d_h)
    cap = costs.path_capacity_wavelets(s.target, tr.d_h)
    d = tr.d_src
    s.arrivals.post(color, it.what, tr.d_r, tr.d_c, sr[d], sc[d], ready[d] + lat, start[d] + lat)
    stream = s.streams.open(
        comp,
        start,
        cyc,
        tr.d_src,
        lat,
        cap,
        feeds=feeds,
        stage=s.target.ce_forward_cycles,
        trace=None if feeds else tr,
    )
    if not comp.synchronous and not feeds:
        _hold_ramps(s, comp, lr, lc, sr, sc)
    n = tr.d_src.size
    if n == 0:
        return
    bid = len(s.batches)
    s.batches.append(Batch(it.what, color, b.size, it.rect, lr[tr.d_src], lc[tr.d_src], stream, n))
    if s.uniform is not None:  # (its messages carry its PEs' tokens: uniform_tiles.py)
        s.uniform.sending(bid, b, it.rect)
    s.mail.push(color, tr.d_r, tr.d_c, bid, np.arange(n, dtype=np.int64), start[d] + lat)
    sl, i = b.sub(it.rect), b.index

    def step(V, F, A, O):
        F[bid] = np.copy(V[i][sl])  # (in the SRAM view's order: order="K")

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
    if (src_r == src_r[:, :1]).all() and (src_c == src_c[:1, :]).all():
        # the source row a function of the row, the col of the col (a ring's rotation, an
        # alignment round): a column and a row that broadcast to the full index, not two
        # (rows, cols) arrays per receive (Cannon's alignment on 720x720 kept ~3 GB of them)
        return (np.ascontiguousarray(src_r[:, :1]), np.ascontiguousarray(src_c[:1, :]))
    return (src_r, src_c)


#: most (dst, src) block pairs `_pieces` copies a full gather in, instead of fancy indexing
MAX_PIECES = 8


def _runs(v: np.ndarray) -> list[tuple[slice, slice]] | None:
    """(dst, src) slice pairs of a source-index vector made of runs of consecutive indices,
    or None when it has MAX_PIECES of them or more (a repeated index starts a new run)."""
    breaks = np.flatnonzero(np.diff(v) != 1) + 1
    if breaks.size >= MAX_PIECES:
        return None
    bounds = [0, *breaks.tolist(), v.size]
    return [
        (slice(lo, hi), slice(int(v[lo]), int(v[lo]) + hi - lo))
        for lo, hi in itertools.pairwise(bounds)
    ]


def _pieces(ssel: tuple[Any, Any]) -> list[tuple[tuple[slice, slice], tuple[slice, slice]]] | None:
    """A full gather's index arrays (source row and col of every receiving PE) as a few
    rectangular block copies, when the source row depends only on the row and the col only on
    the col, each a few runs of consecutive PEs (a rotation: a chain's wrap-around, SUMMA's
    gather): numpy's fancy indexing copies PE by PE, a sliced copy a whole block at once.
    None when `ssel` is already slices or does not split so."""
    src_r, src_c = ssel
    if isinstance(src_r, slice) or isinstance(src_c, slice):
        return None
    if not ((src_r == src_r[:, :1]).all() and (src_c == src_c[:1, :]).all()):
        return None
    rows, cols = _runs(src_r[:, 0]), _runs(src_c[0, :])
    if rows is None or cols is None or len(rows) * len(cols) > MAX_PIECES:
        return None
    return [((dr, dc), (sr, sc)) for dr, sr in rows for dc, sc in cols]


@kernel(pe.RecvOp)
def recv(s: Schedule, it: Item, op: pe.RecvOp) -> None:
    b = s.buf(op.buffer, it).window(op.window_span)
    windowed = op.window is not None
    r0, c0, nr, nc = it.rect
    color = op.color_id
    kind = op.combine_kind  # None: overwrite; else combine with a reduction kind
    acc = kind is not None
    messages = op.message_count  # per PE: one, or a gather's several (in arrival order)
    sl = pe_slice(it.rect)
    issue = costs.transfer_issue_cycles(s.target)
    add = total = 0
    if kind is not None:
        # one DSD op over all the messages' elements; each message streams for its part
        total, flops = costs.op_cycles(
            s.target,
            CostKind.RECV_COMBINE,
            messages * b.size,
            reductions.KINDS[kind].flops,
            elem_bytes=b.dtype.itemsize,
            half=b.half,
        )
        add = total if messages == 1 else issue + (total - issue) // messages
        s.flops += int(flops) * nr * nc
    comp = _transfer(s, it, op, "receive")
    comp.expect_parts(messages)
    # a combining receive's one instruction is its issue (its cost `total` includes the issue)
    comp.busy[...] = (total if kind is not None else issue) + comp.resume
    s.busy[sl] += comp.busy
    sink = s.streams.receiver(comp)
    forwarding = op.forwards
    feeds: list[tuple[Stream, np.ndarray, np.ndarray]] = []  # (incoming, sources, deliveries)
    out_ready = np.zeros((nr, nc), dtype=np.int64)  # forwarding: when each PE's stream can go
    groups: list[tuple[Any, int, Any]] = []
    release: list[int] = []
    # which PE's tiles each PE receives (pyflame/sim/uniform_tiles.py)
    tokens = np.zeros((nr, nc), dtype=np.int64) if s.uniform is not None else None
    for _ in range(messages):
        bt, ix = s.mail.pop(color, it.rect)
        begin_all = np.maximum(s.clock[sl] + issue, s.in_free[sl])
        _take_messages(
            s,
            it,
            op,
            b,
            bt,
            ix,
            begin_all,
            add,
            issue,
            sink,
            feeds,
            out_ready,
            groups,
            release,
            tokens,
        )
    if s.uniform is not None:  # (before a forwarding stream records what it carries)
        one = tokens if messages == 1 else None
        s.uniform.received(b, it.rect, one, combine=acc, whole=not windowed)
    bsl, i = b.sub(it.rect), b.index
    ckind = "" if kind is None else kind  # the combining kind (read only when acc)
    if acc and b.dtype == I32 and kind in ("sum", "prod"):  # partial results, checked
        what, plain = it.what, kind

        def combine(kind: str, a: np.ndarray, b: np.ndarray) -> np.ndarray:
            wide = reductions.KINDS[kind].combine(a.astype(np.int64), b.astype(np.int64))
            return as_int32(wide, what, f"{plain} of partial results")
    else:
        combine = reductions.combine
    in_place = acc and b.dtype == np.float32 and combine is reductions.combine
    ufunc = getattr(np, _UFUNCS[ckind]) if in_place else None

    def combine_into(dst: np.ndarray, src: np.ndarray) -> None:
        """dst (a view of SRAM) = combine(dst, src): float32 with float32 in place, the same
        numbers as reductions.combine (one ufunc call) without a temporary and its copy."""
        if ufunc is not None and src.dtype == dst.dtype:
            ufunc_into(ufunc, dst, dst, src)  # (in dst's memory order: lane-major tiles)
        else:
            dst[...] = combine(ckind, dst, src)

    pieces = _pieces(groups[0][2]) if len(groups) == 1 and groups[0][0] is Ellipsis else None
    if pieces is not None:  # a rotation (or a few shifted blocks): sliced copies
        _, g, _ = groups[0]
        rel = bool(release)

        def step(V, F, A, O):
            dst, src = V[i][bsl], F[g]
            for dsel, ssel in pieces:
                if acc:
                    combine_into(dst[dsel], src[ssel])  # (dsel: slices, a view)
                else:
                    dst[dsel] = src[ssel]
            if rel:
                del F[g]
    elif len(groups) == 1 and groups[0][0] is Ellipsis:
        _, g, ssel = groups[0]
        rel = bool(release)
        if acc:

            def step(V, F, A, O):
                combine_into(V[i][bsl], F[g][ssel])  # (bsl: slices, a view)
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

    annotate(step, _recv_access(i, bsl, kind, groups, release, windowed))
    if acc and pieces is None and len(groups) == 1 and groups[0][0] is Ellipsis:
        _, g, ssel = groups[0]  # a chain's stage (pyflame/sim/chains.py)
        set_chain_stage(step, ChainStage(i, bsl, g, ssel, ckind, bool(release), b.dtype))
    if not (acc or windowed or forwarding) and len(groups) == 1 and groups[0][0] is Ellipsis:
        _, g, ssel = groups[0]
        part = LoopPart(it.rect, (i, g, _key(ssel)), _merged_recv(b), (ssel, bool(release)))
        set_loop_part(step, part)
    s.steps.append(step)
    if forwarding:  # after the receive's step: the stream carries the combined values
        out_ready = np.maximum(out_ready, s.out_free[sl] if op.is_async else ramp_free(s, it.rect))
        _open_stream(s, it, b, color, comp, out_ready.ravel(), feeds=feeds)
    _settle(s, it, comp)


def _take_messages(
    s: Schedule,
    it: Item,
    op: pe.RecvOp,
    b: Buffer,
    bt: np.ndarray,
    ix: np.ndarray,
    begin_all: np.ndarray,
    add: int,
    issue: int,
    sink: int,
    feeds: list[tuple[Stream, np.ndarray, np.ndarray]],
    out_ready: np.ndarray,
    groups: list[tuple[Any, int, Any]],
    release: list[int],
    tokens: np.ndarray | None = None,
) -> None:
    """One message per PE of a receive (the mailboxes' oldest, batch `bt` and index `ix` per
    PE), beginning at `begin_all`: their streams' takes, and the copies the run makes
    (`groups`, the batches whose last delivery this was in `release`); `tokens`, when given,
    gets each PE's message's tokens (pyflame/sim/uniform_tiles.py)."""
    r0, c0, nr, nc = it.rect
    color = op.color_id
    forwarding = op.forwards
    first = int(bt.flat[0])
    for g in [first] if (bt == first).all() else np.unique(bt).tolist():
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
        s.streams.take(stream, j, begin, np.full(j.size, dur), sink, dr * nc + dc, forwarding)
        if forwarding:
            out_ready[dr, dc] = np.maximum(begin, head) + s.target.ce_forward_cycles
            feeds.append((stream, dr * nc + dc, j))
        if full:
            src_r = batch.src_lr[ix]
            src_c = batch.src_lc[ix]
            groups.append((Ellipsis, g, _interned(s, _compress(src_r, src_c))))
        else:
            groups.append(((dr, dc), g, (batch.src_lr[j], batch.src_lc[j])))
        if tokens is not None and s.uniform is not None:
            tokens[dr, dc] = s.uniform.message_tokens(g, batch.src_lr[j], batch.src_lc[j])
        batch.pending -= int(mask.sum())
        if batch.pending == 0:
            release.append(g)
            if s.uniform is not None:
                s.uniform.sent.pop(g, None)
            batch.forget_deliveries()  # its steps hold what they need; free the plan's copy


#: the ufunc of each combining kind (reductions.KINDS[kind].combine)
_UFUNCS = {"sum": "add", "prod": "multiply", "max": "maximum", "min": "minimum"}


def _interned(s: Schedule, ssel: tuple[Any, Any]) -> tuple[Any, Any]:
    """A message index whose index arrays are the schedule's one copy of each."""
    rows, cols = (x if isinstance(x, slice) else s.interned(x) for x in ssel)
    return rows, cols


def _key(ssel: tuple[Any, Any]) -> Any:
    """A comparable form of a message index: its slices, and its index arrays by identity
    (interned: equal arrays are one object)."""
    return tuple(x if isinstance(x, slice) else ("array", id(x)) for x in ssel)


def _merged_recv(b: Buffer) -> Callable[[Span, Sequence[LoopPart]], Step | None]:
    """How the plain receives of a loop's iterations merge (pyflame/sim/loop_fission.py):
    when every iteration takes the same one-PE-wide part of one message along the axis its
    rectangle moves (a multicast to the strided rows of a layer), one broadcast assignment
    writes them all; only the last iteration's receive may release the message."""

    def merge(span: Span, parts: Sequence[LoopPart]) -> Step | None:
        releases = [p.data[1] for p in parts]
        if any(releases[:-1]):
            return None
        i, g, _ = parts[0].same
        ssel = parts[0].data[0]
        if not all(isinstance(x, slice) for x in ssel):
            return None
        moved = 0 if parts[1].rect[0] != parts[0].rect[0] else 1
        if ssel[moved].stop - ssel[moved].start != 1:
            return None  # each iteration's own source rows or cols: not one broadcast
        bsl, rel = span.sub(b), releases[-1]

        def step(V, F, A, O):
            V[i][bsl] = F[g][ssel]
            if rel:
                del F[g]

        release = [g] if rel else []
        return annotate(step, _recv_access(i, bsl, None, [(Ellipsis, g, ssel)], release))

    return merge


def _recv_access(
    i: int,
    bsl: tuple[Any, ...],
    kind: str | None,
    groups: list[tuple[Any, int, Any]],
    release: list,
    windowed: bool = False,
) -> Access:
    """What a receive's step touches (pyflame/sim/step_access.py): a plain receive of one
    whole message group into the whole buffer may be elided when only views of it are read
    before it is overwritten (a window's receive writes part of the buffer: never elided)."""
    released = tuple(release)
    batches = tuple(dict.fromkeys(g for _, g, _ in groups))
    acc = kind is not None
    if acc or windowed or len(groups) != 1 or groups[0][0] is not Ellipsis:
        return Access(
            reads={i: bsl} if acc else {},
            writes={i: bsl},
            released=released,
            batches=batches,
            combine=kind,
        )
    _, g, ssel = groups[0]
    received = Received(i, bsl, g, ssel, bool(release))
    return Access(writes={i: bsl}, received=received, released=released, batches=batches)


@kernel(pe.WaitOp)
def wait(s: Schedule, it: Item, op: pe.WaitOp) -> None:
    """Each PE resumes at the latest completion of its tokens, plus a task activation (the
    planner runs a wait only once every token it joins has completed on its PEs)."""
    sl = pe_slice(it.rect)
    done = s.clock[sl].copy()
    comps = waited_completions(s, it, op)
    for comp in comps:
        part = comp.done[_within(comp.rect, it.rect)]
        done = np.maximum(done, part)
        comp.waited[_within(comp.rect, it.rect)] = True
    _forget_joined(s, it, op)
    wake = costs.task_activation_cycles(s.target)
    s.clock[sl] = done + wake
    s.busy[sl] += wake
    # only this wait's completions can have become waited everywhere (the wait kernel is
    # what marks `waited`): the lists are filtered by them, not rescanned whole per wait
    joined = {id(c) for c in comps if c.waited.all()}
    if joined:
        s.inflight = [f for f in s.inflight if id(f.comp) not in joined]
        if s.loop_tokens:  # a loop's transfers are forgotten once joined everywhere
            s.loop_tokens = [c for c in s.loop_tokens if id(c) not in joined]


def _forget_joined(s: Schedule, it: Item, op: pe.WaitOp) -> None:
    """Drop the completions whose every wait has run and that every PE has waited for: no op
    reads them again, and each holds arrays over its rectangle (a SUMMA's receives cover the
    grid: kept, they made plan memory grow as PEs times steps). @main's own waits only: a wait
    in a pe.loop body runs once per iteration (its transfers are `loop_tokens`)."""
    if it.frame is not None:
        return
    for t in op.tokens:
        s.token_waits[t] = s.token_waits.get(t, 0) + 1
    for t in set(op.tokens):
        comp = s.tokens.get(t)
        if comp is None or s.token_waits[t] < sum(1 for _ in t.uses):
            continue
        if comp.complete and comp.waited.all():
            del s.tokens[t]
            del s.token_waits[t]


def waited_completions(s: Schedule, it: Item, op: pe.WaitOp) -> list[Completion]:
    """The completions a pe.wait joins (each token names an asynchronous send or receive that
    ran before it)."""
    out = []
    for t in op.tokens:
        comp = s.token(it, t)
        if comp is None:
            raise CompileError(
                f"{it.what}: waits for a token that no asynchronous send or receive made"
            )
        out.append(comp)
    return out


def _hold_ramps(s: Schedule, comp: Completion, lr, lc, sr, sc) -> None:
    """An asynchronous send keeps the output ramps of its PEs whose stream its receivers have
    not taken up yet (longer than its path; each ramp carries one stream at a time): a
    synchronous send there waits for it (`ramp_holds`, the planner's readiness)."""
    pending = comp.done[lr, lc] == UNKNOWN
    if pending.any():
        s.ramp_held[sr[pending], sc[pending]] = len(s.ramp_holders)
        s.ramp_holders.append(comp)


def _held_ramps(s: Schedule, rect: Rect):
    """Per asynchronous send holding output ramps of `rect`'s PEs: (its completion, those PEs
    as rows and columns within `rect`, their ends (UNKNOWN until its receivers take it up))."""
    if not s.ramp_holders:
        return
    held = s.ramp_held[pe_slice(rect)]
    for h in np.unique(held[held >= 0]).tolist():
        comp = s.ramp_holders[h]
        rr, cc = np.nonzero(held == h)
        yield comp, rr, cc, comp.done[rr + rect[0] - comp.rect[0], cc + rect[1] - comp.rect[1]]


def ramp_holds(s: Schedule, rect: Rect) -> list[Completion]:
    """The asynchronous sends whose streams hold output ramps of `rect`'s PEs."""
    return [comp for comp, *_ in _held_ramps(s, rect)]


def ramps_ready(s: Schedule, rect: Rect) -> bool:
    """Every stream holding an output ramp of `rect`'s PEs has its end known there. Holds
    whose send has completed everywhere are dropped on the way (their ends are known), so a
    rectangle is examined once per stream, not once per question."""
    ready = True
    for comp, rr, cc, done in _held_ramps(s, rect):
        if (done == UNKNOWN).any():
            ready = False
        elif comp.complete:
            at = (rr + rect[0], cc + rect[1])
            s.out_free[at] = np.maximum(s.out_free[at], done)
            s.ramp_held[at] = -1
    return ready


def ramp_free(s: Schedule, rect: Rect) -> np.ndarray:
    """When each PE of `rect` may start a stream: its `out_free`, or later the end of the
    asynchronous stream still holding its ramp (known: the planner waited for it); the ramps
    are then free of those holds."""
    free = s.out_free[pe_slice(rect)].copy()
    for _, rr, cc, done in _held_ramps(s, rect):
        free[rr, cc] = np.maximum(free[rr, cc], done)
    s.ramp_held[pe_slice(rect)] = -1
    return free


def wait_completions(s: Schedule, it: Item, op: pe.WaitOp) -> list[Completion] | None:
    """The completions a wait's tokens name, or None when one names none (the kernel names
    the problem)."""
    out = []
    for t in op.tokens:
        comp = s.token(it, t)
        if comp is None:
            return None
        out.append(comp)
    return out


def wait_ready(comps: list[Completion] | None, it: Item) -> bool:
    """Every token of the wait has completed on the wait's PEs."""
    if comps is None:
        return True
    return not any((c.done[_within(c.rect, it.rect)] == UNKNOWN).any() for c in comps)


def _within(outer, inner) -> tuple[slice, slice]:
    """The index of rectangle `inner` inside an array over rectangle `outer`."""
    return (
        slice(inner[0] - outer[0], inner[0] - outer[0] + inner[2]),
        slice(inner[1] - outer[1], inner[1] - outer[1] + inner[3]),
    )
