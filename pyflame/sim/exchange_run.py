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
that traffic. Runs over `MAX_RUN_MESSAGES` messages, and runs in which no link carries two
colors (nothing is shared), are timed phase by phase as before
(`kernels.exchange._share_links_with_last_phase`): the walk does numpy work per event, and a
wafer-wide redistribution has thousands of phases.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

import numpy as np
from xdsl.ir import Operation

from pyflame.core.errors import PyFlameError
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
        try:
            for o in network:
                summary = exchange_summary(o.src_layout.dist, o.dst_layout.dist, o.index_map)
                if o.phase_index > len(summary.phases) or o.dst not in s.buf_of:
                    return alone  # (its kernel says what is wrong when the planner gets there)
                messages += len(summary.phases[o.phase_index - 1].messages)
            if len(network) < 2 or messages > MAX_RUN_MESSAGES:
                return alone
            phases = [_read(s, o) for o in ops if isinstance(o, pe.ExchangeOp)]
        except PyFlameError:
            return alone  # (a later op's error is raised at that op, naming it)
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


def _fair_rates(go: np.ndarray, e_from: np.ndarray, e_link: np.ndarray) -> np.ndarray:
    """Max-min fair rates of messages `go` over their links (message i's link entries are
    `e_link[e_from[i]:e_from[i + 1]]`; each link carries one wavelet a cycle): the most shared
    link's messages get equal shares, the others what is left (a round robin arbiter gives the
    turns of a message slowed elsewhere to the others). Rates in `go`'s order."""
    rate = np.ones(go.size)
    count = e_from[go + 1] - e_from[go]
    msg = np.repeat(np.arange(go.size), count)
    at = np.arange(msg.size) - np.repeat(np.cumsum(count) - count, count)
    used, lk = np.unique(e_link[e_from[go][msg] + at], return_inverse=True)
    if used.size == lk.size:  # no link shared: every message at the full rate
        return rate
    left = np.ones(used.size)
    todo = np.ones(go.size, dtype=bool)
    while todo.any():
        users = np.bincount(lk, minlength=used.size)
        share = np.where(users > 0, left / np.maximum(users, 1), np.inf)
        least = share.min()
        hit = np.zeros(go.size, dtype=bool)
        hit[msg[share[lk] <= least * (1 + 1e-9)]] = True
        rate[hit] = least
        todo &= ~hit
        out = hit[msg]
        left -= np.bincount(lk[out], minlength=used.size) * least
        msg, lk = msg[~out], lk[~out]
    return rate


def _claim(cand: np.ndarray, ready: np.ndarray, e_msg: np.ndarray, e_slot: np.ndarray):
    """Of messages `cand`, those that progress: earliest ready first (ties: lower number),
    each taking its slots (link entries `e_msg`, `e_slot`) unless an earlier one that
    progresses holds one of them (a color's messages on a link one after another)."""
    if cand.size <= 1:
        return cand
    undecided = np.zeros(ready.size, dtype=bool)
    undecided[cand] = True
    on = undecided[e_msg]
    msg, slot = e_msg[on], e_slot[on]
    if np.unique(slot).size == slot.size:  # (mostly: no two of them on one slot)
        return cand
    won = np.zeros(ready.size, dtype=bool)
    while undecided.any():
        # among the undecided and the winners, the earliest on each slot
        mine = undecided[msg] | won[msg]
        m, sl = msg[mine], slot[mine]
        order = np.lexsort((m, ready[m], sl))
        m, sl = m[order], sl[order]
        first = np.r_[True, sl[1:] != sl[:-1]]
        head = np.repeat(m[first], np.diff(np.r_[np.flatnonzero(first), sl.size]))
        lost = np.zeros(ready.size, dtype=bool)
        lost[m[head != m]] = True
        # a message that lost a slot to one that progresses waits; one that won every slot
        # progresses (each round decides at least the earliest undecided message)
        beaten = np.zeros(ready.size, dtype=bool)
        beaten[m[(head != m) & won[head]]] = True
        new = undecided & ~lost
        won |= new
        undecided &= ~(new | beaten)
    return np.flatnonzero(won)


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
    # link entries, links numbered 0.. over the run; a slot is a (link, color) pair: a color's
    # messages on a link go one after another
    e_msg = np.repeat(np.arange(n), [len(ls) for ls in links])
    e_from = np.r_[0, np.cumsum([len(ls) for ls in links])]
    used, e_link = np.unique(
        np.array([lk for ls in links for lk in ls], dtype=np.int64), return_inverse=True
    )
    _, e_color = np.unique(np.array(color, dtype=np.int64)[e_msg], return_inverse=True)
    e_slot = e_link * (int(e_color.max()) + 1) + e_color
    colors_on = np.bincount(np.unique(e_slot) // (int(e_color.max()) + 1), minlength=used.size)
    if (colors_on < 2).all():
        return None  # no link carries two colors: nothing is shared, phase by phase is exact
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

    ready = np.full(n, np.inf)  # when the message's source reaches its phase
    begin = np.full(n, np.inf)  # when its receiver reaches its phase
    done = np.zeros(n)  # cycles of its stream done
    end = np.full(n, np.inf)
    eligible = np.zeros(n)  # cycles it could progress (alone or sharing)
    live = np.zeros(n, dtype=bool)  # ready (now or later), not ended
    work_a, room_a = np.array(work), np.array(room)
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
            pending[pid] = len(sends) + sum(bool(end[i] == np.inf) for i in recvs)
            for i in sends:
                ready[i] = max(clock[pid], out_free[pid])
                live[i] = True
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
        if not live.any():
            break
        # who progresses now: earliest ready first, one message per slot at a time; a message
        # whose receiver has not begun stops once its path is full
        waits = (begin > T) & (done >= room_a)
        go = _claim(np.flatnonzero(live & (ready <= T) & ~waits), ready, e_msg, e_slot)
        rate = _fair_rates(go, e_from, e_link)
        while wakeups and wakeups[0] <= T:
            heapq.heappop(wakeups)
        left = work_a[go] - done[go]
        early = begin[go] > T
        left[early] = np.minimum(left[early], room_a[go][early] - done[go][early])
        dt = min(wakeups[0] - T if wakeups else np.inf, float((left / rate).min(initial=np.inf)))
        if dt == np.inf:
            return None  # nothing can progress: not a run the walk can time
        T += dt
        done[go] += rate * dt
        eligible[go] += dt
        full = np.abs(done - room_a) < 1e-7  # (a full path stays full, not 1e-16 short)
        done[full] = room_a[full]
        over = go[done[go] >= work_a[go] - 1e-7]
        done[over], end[over], live[over] = work_a[over], T, False
        # a receiver not in the message's phase yet does not count it: it finds it ended
        counted = (begin[over] < np.inf).tolist()  # (before any of them starts a role)
        for i, both in zip(over.tolist(), counted, strict=True):
            for pid in (src[i], dst[i]) if both else (src[i],):
                pending[pid] -= 1
                if pending[pid] == 0:
                    finish(pid)
                    start(pid)
    else:
        return None
    if np.isinf(end).any():
        return None
    extra = np.maximum(np.rint(eligible - work_a), 0).astype(np.int64)
    out: dict[Operation, np.ndarray] = {}
    for j, p in enumerate(phases):
        if p.local_pes is None:
            out[p.op] = extra[first[j] : first[j] + p.src.size]
    return out
