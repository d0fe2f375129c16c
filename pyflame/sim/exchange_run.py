"""Consecutive exchange phases timed together, in time order, links shared round robin.

The planner plans ops in program order: an exchange's phases one after another, then the next
exchange's. Two redistributions that follow each other (a product's operands A and B) run at
once on the machine wherever their sources differ: B's sources that are in none of A's phases
send at once, and where their messages cross a link that A's cross at the same time, the
router grants the link round robin over the colors that want it (both go at part rate).
Planned in program order, A's messages kept the full rate and B's waited behind them (matmul
sweep seed 14 case 20: fast 265 cycles, wavelet 285; benchmarks/RESULTS.md, "Session 26,
fidelity" and "Session 27, fidelity").

A *run* is a sequence of consecutive `pe.routes` / `pe.exchange` ops of @main (not in a loop;
buffers and host I/O between them, which take no PE time, do not end it). At its first
network phase, `RunPlan.make` walks the whole run in time order over its messages
(`simulate`, an event loop): every PE takes its phases in program order (a source's message
is ready when its PE reaches the phase; a receiver begins then and ends when its messages'
tails have arrived and its ramp took them, then wakes), and every message progresses at a
rate of its own: the messages that want a link at that moment share it max-min fairly (a
round robin arbiter gives a message slowed elsewhere's turns to the others: `_fair_rates`),
a color's messages on one link one after another (earliest ready first, as `Links.stream`
orders a phase's). A message whose receiver has not begun stops once its path holds what it
can (`path_capacity_wavelets`) and wants no share until the receiver begins. Per message,
what sharing adds to its stream (`extra`: the cycles it could progress, less its own cycles)
is what the exchange kernel adds to the message's cycles; its start is still the kernel's
(its source's clock, the traffic before the run), the kernel times drains of parked messages,
stalled sources and receivers as for a phase alone.

The run's messages do not wait for one another's link reservations (they share, and `extra`
accounts for it): the kernel streams a phase's messages over the links as they were before
the run (`RunPlan.without_run`), then puts back the run's traffic so far and adds the phase's
messages where their links are idle (`with_run`; a message on a link the run already holds
then shares it and adds nothing): drains of parked messages and the ops after the run meet
that traffic. Runs over `MAX_RUN_MESSAGES` messages are timed phase by phase as before
(`kernels.exchange._share_links_with_last_phase`): the walk is Python per event, and a
wafer-wide redistribution has thousands of phases.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

import numpy as np
from xdsl.ir import Operation

from pyflame.core.exchange_plan import exchange_summary
from pyflame.dialects import pe
from pyflame.sim import costs
from pyflame.sim.costs import CostKind
from pyflame.sim.fabric import xy_paths

#: ops that a run goes on past: they take no PE time and no link (host I/O is timed apart)
_TIMELESS = pe.AllocOp | pe.HostInOp | pe.HostOutOp

#: most messages a run timed together may have (more: phase by phase, as before)
MAX_RUN_MESSAGES = 1024
#: most link entries (messages x hops) a run timed together may have
MAX_RUN_ENTRIES = 1 << 15


@dataclass
class _Phase:
    """One op of the run as the walk reads it: a network phase (its messages) or a local
    part (cycles per PE)."""

    op: Operation
    color: int
    src: np.ndarray  # per message: PE id (r * C + c)
    dst: np.ndarray
    cyc: np.ndarray  # per message: cycles of its stream (unshared)
    lat: np.ndarray  # per message: cycles from its start to its head at the receiver
    room: np.ndarray  # per message: wavelets its path holds
    links: list[list[int]]  # per message: its link ids
    local_pes: np.ndarray | None = None  # a local part: PEs and their copy cycles
    local_cyc: np.ndarray | None = None


@dataclass
class RunPlan:
    """A run's ops, and per network phase what link sharing adds to each message's stream."""

    members: set[Operation]
    last: Operation  # the run's last network phase
    #: None: the run's phases are timed one at a time (`make`)
    extra: dict[Operation, np.ndarray] | None

    @staticmethod
    def make(s, op: pe.ExchangeOp) -> RunPlan:
        """The plan of the run starting at network phase `op`; its `extra` is None (each
        phase timed alone) when the run has one network phase (nothing to share), is too
        large, or the walk does not finish."""
        ops: list[Operation] = []
        nxt: Operation | None = op
        while isinstance(nxt, pe.RoutesOp | pe.RouteOp | pe.ExchangeOp | _TIMELESS):
            ops.append(nxt)
            nxt = nxt.next_op
        network = [o for o in ops if isinstance(o, pe.ExchangeOp) and o.phase_index > 0]
        alone = RunPlan(set(ops), network[-1], None)
        messages = 0
        for o in network:
            summary = exchange_summary(o.src_layout.dist, o.dst_layout.dist, o.index_map)
            messages += len(summary.phases[o.phase_index - 1].messages)
        if len(network) < 2 or messages > MAX_RUN_MESSAGES:
            return alone
        phases = [_read(s, o) for o in ops if isinstance(o, pe.ExchangeOp)]
        if sum(len(ls) for p in phases for ls in p.links) > MAX_RUN_ENTRIES:
            return alone
        alone.extra = simulate(s, phases)
        return alone

    #: the links the run's messages cross, sorted, and their state before the run (`_before`)
    #: and with the run's traffic (`_after`): (free_at, gap_from, gap_to) each
    _lids: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    _before: tuple[np.ndarray, ...] = ()
    _after: tuple[np.ndarray, ...] = ()

    def without_run(self, links, kept: np.ndarray) -> None:
        """Links `kept` (distinct) as they were before the run: a phase's messages wait for
        the traffic before the run, not for the run's (they share links with it: `extra`)."""
        new = np.setdiff1d(kept, self._lids)
        if new.size:
            now = (links.free_at[new], links.gap_from[new], links.gap_to[new])
            lids = np.concatenate([self._lids, new])
            order = np.argsort(lids)
            self._lids = lids[order]
            if self._before:
                self._before, self._after = (
                    tuple(np.concatenate([a, b])[order] for a, b in zip(old, now, strict=True))
                    for old in (self._before, self._after)
                )
            else:
                self._before, self._after = now, tuple(a.copy() for a in now)
        self._put(links, kept, self._before)

    def with_run(self, links, kept: np.ndarray, lid: np.ndarray, at: np.ndarray, cyc) -> None:
        """Links `kept` with the run's traffic so far, and the phase's messages (link entries
        `lid`, reaching them at `at` for `cyc` cycles) where the links are idle: what drains
        of messages parked in the path, and the ops after the run, meet."""
        self._put(links, kept, self._after)
        reserve_in_order(links, lid, at, cyc)

    def keep(self, links, kept: np.ndarray) -> None:
        """Links `kept` after the phase (its messages and drains): the run's traffic so far."""
        at = np.searchsorted(self._lids, kept)
        now = (links.free_at[kept], links.gap_from[kept], links.gap_to[kept])
        for a, b in zip(self._after, now, strict=True):
            a[at] = b

    def _put(self, links, kept: np.ndarray, state: tuple) -> None:
        at = np.searchsorted(self._lids, kept)
        links.free_at[kept], links.gap_from[kept], links.gap_to[kept] = (a[at] for a in state)


def reserve_in_order(links, lid: np.ndarray, at: np.ndarray, cyc: np.ndarray) -> None:
    """Reserve link entries `lid` (a link may repeat) for `cyc` cycles from `at`, a link's
    entries in the order they reach it, each where the link is idle then (one that finds the
    link held by the run's traffic shares it: nothing more is reserved)."""
    if lid.size == 0:
        return
    order = np.lexsort((at, lid))
    lid, at, cyc = lid[order], at[order], cyc[order]
    first = np.r_[True, lid[1:] != lid[:-1]]
    rank = np.arange(lid.size) - np.flatnonzero(first)[np.cumsum(first) - 1]
    for r in range(int(rank.max()) + 1):  # (a reservation takes distinct links)
        sel = np.flatnonzero(rank == r)
        sel = sel[links.idle(lid[sel], at[sel], cyc[sel])]
        links.reserve(lid[sel], at[sel], cyc[sel])


def _read(s, op: pe.ExchangeOp) -> _Phase:
    """An exchange op of the run: its messages (or local copies) as its kernel times them."""
    t = s.target
    ds, dd = op.src_layout.dist, op.dst_layout.dist
    summary = exchange_summary(ds, dd, op.index_map)
    r0, c0 = op.rect[0], op.rect[1]
    elem_bytes = s.buf_of[op.dst].dtype.itemsize
    k = op.phase_index
    none = np.zeros(0, dtype=np.int64)
    if k == 0:
        elems = summary.local_counts
        gr, gc = elems.shape
        cyc, _ = costs.op_cycles(t, CostKind.EXCHANGE_LOCAL, elems, elem_bytes=elem_bytes)
        cyc = np.broadcast_to(np.where(elems > 0, cyc, 0), elems.shape)
        at_r, at_c = summary.dst_at
        rr, cc = np.meshgrid(np.arange(gr) + r0 + at_r, np.arange(gc) + c0 + at_c, indexing="ij")
        pes = (rr * s.C + cc).reshape(-1)
        return _Phase(op, -1, none, none, none, none, none, [], pes, cyc.reshape(-1))
    phase = summary.phases[k - 1]
    msgs = np.array([(a, b, c, d) for (a, b), (c, d) in phase.messages], dtype=np.int64)
    msgs = msgs.reshape(-1, 4)
    sr, sc, dr, dc = (msgs[:, j] for j in range(4))
    sr, sc, dr, dc = sr + r0, sc + c0, dr + r0, dc + c0
    elems = np.asarray(phase.elems, dtype=np.int64)
    w = -(-elems * elem_bytes // 4)
    cyc = np.asarray(costs.stream_cycles(t, w), dtype=np.int64).reshape(-1)
    l_src, l_r, l_c, l_dir, _, d_h = xy_paths(sr, sc, dr, dc)
    lid = (l_r * s.C + l_c) * 4 + l_dir
    cuts = np.searchsorted(l_src, np.arange(sr.size + 1))
    links = [lid[a:b].tolist() for a, b in zip(cuts[:-1], cuts[1:], strict=True)]
    lat = 2 * int(t.ramp_latency_cycles) + d_h * int(t.hop_latency_cycles)
    room = costs.path_capacity_wavelets(t, d_h)
    return _Phase(op, op.color_id, sr * s.C + sc, dr * s.C + dc, cyc, lat, room, links)


def _fair_rates(go: np.ndarray, e_msg: np.ndarray, e_link: np.ndarray, links: int) -> np.ndarray:
    """Max-min fair rates of messages `go` over their links (entries `e_msg`, `e_link`; each
    link carries one wavelet a cycle): the most shared link's messages get equal shares, the
    others what is left (a round robin arbiter gives the turns of a message slowed elsewhere
    to the others). Rates in `go`'s order."""
    rate = np.ones(go.size)
    pos = np.full(e_msg.max() + 1 if e_msg.size else 1, -1, dtype=np.int64)
    pos[go] = np.arange(go.size)
    on = pos[e_msg] >= 0
    msg, lk = pos[e_msg[on]], e_link[on]
    left = np.ones(links)
    todo = np.zeros(go.size, dtype=bool)
    todo[msg] = True
    while todo.any():
        users = np.bincount(lk, minlength=links)
        share = np.where(users > 0, left / np.maximum(users, 1), np.inf)
        least = share.min()
        hit = np.zeros(go.size, dtype=bool)
        hit[msg[share[lk] <= least * (1 + 1e-9)]] = True
        rate[hit] = least
        todo &= ~hit
        out = hit[msg]
        left -= np.bincount(lk[out], minlength=links) * least
        msg, lk = msg[~out], lk[~out]
    return rate


def simulate(s, phases: list[_Phase]) -> dict[Operation, np.ndarray] | None:
    """Walk the run's phases in time order (the module's docstring): per network phase, the
    cycles link sharing adds to each message. None if the walk does not finish."""
    t = s.target
    wake = int(costs.task_activation_cycles(t))
    bw = int(t.link_wavelets_per_cycle)
    # messages, numbered across the run's network phases
    src: list[int] = []
    dst: list[int] = []
    color: list[int] = []
    work: list[float] = []
    lat: list[int] = []
    room: list[float] = []
    links: list[list[int]] = []
    first: list[int] = []
    for p in phases:
        first.append(len(src))
        if p.local_pes is not None:
            continue
        src += p.src.tolist()
        dst += p.dst.tolist()
        color += [p.color] * p.src.size
        work += p.cyc.astype(float).tolist()
        lat += p.lat.tolist()
        room += (p.room / bw).astype(float).tolist()
        links += p.links
    n = len(src)
    # link entries, links numbered 0.. over the run
    e_msg = np.repeat(np.arange(n), [len(ls) for ls in links])
    used, e_link = np.unique(
        np.array([lk for ls in links for lk in ls], dtype=np.int64), return_inverse=True
    )
    slots = [[(lk, color[i]) for lk in links[i]] for i in range(n)]
    # every PE's part in each phase, in program order: [messages it sends, receives, local
    # cycles]
    roles: dict[int, list[list]] = {}
    for j, p in enumerate(phases):
        if p.local_pes is not None:
            assert p.local_cyc is not None
            for pid, c in zip(p.local_pes.tolist(), p.local_cyc.tolist(), strict=True):
                if c:
                    roles.setdefault(pid, []).append([[], [], int(c)])
            continue
        mine: dict[int, list] = {}
        for i in range(first[j], first[j] + p.src.size):
            mine.setdefault(src[i], [[], [], 0])[0].append(i)
            mine.setdefault(dst[i], [[], [], 0])[1].append(i)
        for pid, role in mine.items():
            roles.setdefault(pid, []).append(role)
    pes = np.fromiter(roles, dtype=np.int64)
    clock = dict(zip(roles, s.clock.reshape(-1)[pes].astype(float).tolist(), strict=True))
    out_free = dict(zip(roles, s.out_free.reshape(-1)[pes].astype(float).tolist(), strict=True))
    in_free = dict(zip(roles, s.in_free.reshape(-1)[pes].astype(float).tolist(), strict=True))
    step = dict.fromkeys(roles, 0)  # each PE's current role
    pending = dict.fromkeys(roles, 0)  # messages of it not ended (0: not started)

    ready = [np.inf] * n  # when the message's source reaches its phase
    begin = [np.inf] * n  # when its receiver reaches its phase
    done = [0.0] * n  # cycles of its stream done
    end = [np.inf] * n
    eligible = [0.0] * n  # cycles it could progress (alone or sharing)
    waiting: set[int] = set()  # ready (or soon), not ended
    wakeups: list[float] = []  # times a ready or a begin becomes due

    def start(pid: int) -> None:
        """PE `pid` starts its next roles (local parts at once; a role whose messages have
        all ended, all received before it began, ends at once)."""
        while step[pid] < len(roles[pid]):
            sends, recvs, local = roles[pid][step[pid]]
            if local:
                clock[pid] += local
                step[pid] += 1
                continue
            pending[pid] = len(sends) + sum(end[i] == np.inf for i in recvs)
            for i in sends:
                ready[i] = max(clock[pid], out_free[pid])
                waiting.add(i)
                heapq.heappush(wakeups, ready[i])
            b = max(clock[pid], in_free[pid])
            for i in recvs:
                begin[i] = b
                heapq.heappush(wakeups, b)
            if pending[pid]:
                return
            finish(pid)  # and on to its next role

    def finish(pid: int) -> None:
        """PE `pid`'s current role's messages have all ended: it ends the role."""
        sends, recvs, _ = roles[pid][step[pid]]
        after = clock[pid]
        if sends:
            out_free[pid] = after = max(end[i] for i in sends)
        if recvs:
            b = begin[recvs[0]]
            got = max(max(end[i] + lat[i] for i in recvs), b + sum(work[i] for i in recvs))
            in_free[pid] = got
            after = max(after, got) + wake
        clock[pid] = after
        step[pid] += 1

    for pid in roles:
        start(pid)
    T = 0.0
    for _ in range(20 * n + 100):
        if not waiting:
            break
        # who progresses now: earliest ready first; one message per (link, color) at a time;
        # a message whose receiver has not begun stops once its path is full
        now = sorted((i for i in waiting if ready[i] <= T), key=lambda i: (ready[i], i))
        taken: set[tuple[int, int]] = set()
        go: list[int] = []
        for i in now:
            if begin[i] > T and done[i] >= room[i]:
                continue
            if any(m in taken for m in slots[i]):
                continue
            taken.update(slots[i])
            go.append(i)
        rate = _fair_rates(np.array(go, dtype=np.int64), e_msg, e_link, used.size).tolist()
        while wakeups and wakeups[0] <= T:
            heapq.heappop(wakeups)
        dt = wakeups[0] - T if wakeups else np.inf
        for i, r in zip(go, rate, strict=True):
            left = work[i] - done[i]
            if begin[i] > T and done[i] < room[i]:
                left = min(left, room[i] - done[i])
            dt = min(dt, left / r)
        if dt == np.inf:
            return None  # nothing can progress: not a run the walk can time
        T += dt
        ended = []
        for i, r in zip(go, rate, strict=True):
            done[i] += r * dt
            eligible[i] += dt
            if abs(done[i] - room[i]) < 1e-7:  # (a full path stays full, not 1e-16 short)
                done[i] = room[i]
            if done[i] >= work[i] - 1e-7:
                done[i] = work[i]
                end[i] = T
                waiting.discard(i)
                # (a receiver not in the message's phase yet does not count it then)
                ended.append((src[i], dst[i]) if begin[i] < np.inf else (src[i],))
        for pes_of in ended:
            for pid in pes_of:
                pending[pid] -= 1
                if pending[pid] == 0:
                    finish(pid)
                    start(pid)
    else:
        return None
    if any(e == np.inf for e in end):
        return None
    extra = np.maximum(np.rint(np.array(eligible) - np.array(work)), 0).astype(np.int64)
    out: dict[Operation, np.ndarray] = {}
    for j, p in enumerate(phases):
        if p.local_pes is None:
            out[p.op] = extra[first[j] : first[j] + p.src.size]
    return out
