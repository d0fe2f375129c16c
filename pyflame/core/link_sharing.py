"""Consecutive exchange phases walked together in time order, the links shared max-min fairly.

On the machine, the phases of a redistribution (and of redistributions that follow each other)
run at once wherever their PEs differ: a source sends its next phase's message as soon as it
is done with the last, and where messages of two colors want one link at the same moment, the
router grants it round robin over the colors (each goes at part rate). Timed phase after phase,
each message reserving its whole path, the first message planned keeps the full rate and the
others wait behind it: the fast engine was up to 9% early on such programs, the cost model 12%
(benchmarks/RESULTS.md, "Session 27, fidelity" and "Session 28, fidelity").

`walk` takes a *run*: its phases in program order (`RunPhase`: a network phase's messages, or
a local part's copy cycles per PE) and every PE's clock before it. Every PE takes its phases in
program order (a source's message is ready when its PE reaches the phase; a receiver begins
then, ends when its messages' tails have arrived and its ramp took them, then wakes), and every
message progresses at a rate of its own: the messages that want a link at a moment share it
max-min fairly (a round robin arbiter gives a message slowed elsewhere's turns to the others:
`fair_rates`), a color's messages on one link go one after another (the first head to
reach it first: `claim`). A message whose receiver has not begun stops once its path holds what it can
(`path_capacity_wavelets`) and wants no share until the receiver begins. Per message, what
sharing adds to its stream (`extra`: the cycles it could progress, less its own cycles) is what
the caller adds to the message's stream when it times the phase: the simulator
(pyflame/sim/exchange_run.py) and the compiler's cost model
(passes/cost_model/data_movement.py) both time a run this way, so they agree.

A walk costs numpy work per event: runs over `MAX_RUN_MESSAGES` messages or `MAX_RUN_ENTRIES`
link entries are timed phase by phase by both (`too_large`), and so is a run in which no link
carries two colors (nothing is shared; `walk` returns None).
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np

from pyflame.core import vector_costs

#: most messages a run walked together may have (more: phase by phase)
MAX_RUN_MESSAGES = 1024
#: most link entries (messages x hops) a run walked together may have
MAX_RUN_ENTRIES = 1 << 15

#: link directions, in the order of pe.Port (the simulator's fabric numbers links the same way:
#: link (r, c, d) is `(r * C + c) * 4 + d`)
NORTH, SOUTH, EAST, WEST = range(4)


def too_large(messages: int, entries: int) -> bool:
    """A run too large to walk (timed phase by phase instead)."""
    return messages > MAX_RUN_MESSAGES or entries > MAX_RUN_ENTRIES


@dataclass
class RunPhase:
    """One op of a run as the walk reads it: a network phase (its messages) or a local part
    (cycles per PE). PEs are numbered `r * C + c` over the caller's box of C columns."""

    color: int
    src: np.ndarray  # per message: PE id
    dst: np.ndarray
    cyc: np.ndarray  # per message: cycles of its stream (unshared)
    lat: np.ndarray  # per message: cycles from its start to its head at the receiver
    room: np.ndarray  # per message: wavelets its path holds
    links: list[list[int]]  # per message: its link ids
    local_pes: np.ndarray | None = None  # a local part: PEs and their copy cycles
    local_cyc: np.ndarray | None = None

    @property
    def entries(self) -> int:
        return sum(len(ls) for ls in self.links)


def local_part(pes: np.ndarray, cyc: np.ndarray) -> RunPhase:
    """A local part of a run: PE ids `pes` copy for `cyc` cycles each."""
    none = np.zeros(0, dtype=np.int64)
    return RunPhase(-1, none, none, none, none, none, [], pes, cyc)


def network_phase(
    target, color: int, sr, sc, dr, dc, wavelets: np.ndarray, columns: int
) -> RunPhase:
    """A network phase of a run on `color`: message i from PE (sr[i], sc[i]) to (dr[i], dc[i])
    (absolute in a box of `columns` PE columns), `wavelets[i]` wavelets on the
    dimension-ordered path."""
    sr, sc, dr, dc = (np.asarray(a, dtype=np.int64) for a in (sr, sc, dr, dc))
    cyc = np.asarray(vector_costs.stream_cycles(target, wavelets), dtype=np.int64).reshape(-1)
    l_src, l_r, l_c, l_dir, _, d_h = xy_paths(sr, sc, dr, dc)
    lid = (l_r * columns + l_c) * 4 + l_dir
    cuts = np.searchsorted(l_src, np.arange(sr.size + 1))
    links = [lid[a:b].tolist() for a, b in zip(cuts[:-1], cuts[1:], strict=True)]
    lat = 2 * int(target.ramp_latency_cycles) + d_h * int(target.hop_latency_cycles)
    room = vector_costs.path_capacity_wavelets(target, d_h)
    return RunPhase(color, sr * columns + sc, dr * columns + dc, cyc, lat, room, links)


def xy_paths(sr, sc, dr, dc):
    """Links of dimension-ordered routes (along the row first, then along the column) for
    message i from (sr[i], sc[i]) to (dr[i], dc[i]). Returns (l_src, l_r, l_c, l_dir, l_h)
    sorted by message, and the hop distance of every destination."""
    sr, sc, dr, dc = (np.asarray(a, dtype=np.int64) for a in (sr, sc, dr, dc))
    k = sr.size
    nx = np.abs(dc - sc)
    ny = np.abs(dr - sr)
    idx = np.arange(k, dtype=np.int64)

    def seg(n):
        own = np.repeat(idx, n)
        start = np.repeat(np.cumsum(n) - n, n)
        j = np.arange(own.size, dtype=np.int64) - start
        return own, j

    ox, jx = seg(nx)
    stepx = np.sign(dc - sc)[ox]
    xr, xc = sr[ox], sc[ox] + jx * stepx
    xd = np.where(stepx > 0, EAST, WEST)
    oy, jy = seg(ny)
    stepy = np.sign(dr - sr)[oy]
    yr, yc = sr[oy] + jy * stepy, dc[oy]
    yd = np.where(stepy > 0, SOUTH, NORTH)
    l_src = np.concatenate([ox, oy])
    order = np.argsort(l_src, kind="stable")
    l_r = np.concatenate([xr, yr])[order]
    l_c = np.concatenate([xc, yc])[order]
    l_dir = np.concatenate([xd, yd]).astype(np.int64)[order]
    l_h = np.concatenate([jx, nx[oy] + jy])[order]
    return l_src[order], l_r, l_c, l_dir, l_h, nx + ny


def fair_rates(
    go: np.ndarray, e_from: np.ndarray, e_link: np.ndarray, links: int | None = None
) -> np.ndarray:
    """Max-min fair rates of messages `go` over their links (message i's link entries are
    `e_link[e_from[i]:e_from[i + 1]]`, links numbered below `links`; each link carries one
    wavelet a cycle): the most shared link's messages get equal shares, the others what is
    left (a round robin arbiter gives the turns of a message slowed elsewhere to the others).
    Rates in `go`'s order; a message on no link keeps the full rate.

    Water filling, every local bottleneck at once: a link whose share is the least of every
    link its messages cross gives them that share (no other link can stop them lower, and a
    link's share only grows as messages leave it at lower rates), so independent groups of
    messages (a run's rows and columns) fill in one round, not one round per level."""
    rate = np.ones(go.size)
    count = e_from[go + 1] - e_from[go]
    msg = np.repeat(np.arange(go.size), count)
    lk = e_link[np.repeat(e_from[go] - np.cumsum(count) + count, count) + np.arange(msg.size)]
    if lk.size == 0:
        return rate
    size = int(lk.max()) + 1 if links is None else links
    users = np.bincount(lk, minlength=size)
    if users.max() <= 1:  # no link shared: every message at the full rate
        return rate
    left = np.ones(size)
    lengths = count[count > 0]  # entries of the messages still filling, in order
    while True:
        share = np.where(users > 0, left / np.maximum(users, 1), np.inf)
        on = share[lk]
        least = np.repeat(np.minimum.reduceat(on, np.cumsum(lengths) - lengths), lengths)
        near = np.full(size, np.inf)  # per link: the least share of its messages' links
        np.minimum.at(near, lk, least)
        bottleneck = (share <= near * (1 + 1e-9))[lk]
        got = np.full(go.size, np.inf)
        np.minimum.at(got, msg[bottleneck], near[lk[bottleneck]])
        hit = got < np.inf
        rate[hit] = got[hit]
        out = hit[msg]
        if out.all():
            return rate
        # the links give up what their leaving messages took, the lowest rate first (as
        # filling one level at a time would)
        for r in np.unique(got[hit]).tolist():
            left -= np.bincount(lk[out & (rate[msg] == r)], minlength=size) * r
        users -= np.bincount(lk[out], minlength=size)
        lengths = lengths[~hit[msg[np.cumsum(lengths) - lengths]]]
        msg, lk = msg[~out], lk[~out]


def claim(
    cand: np.ndarray,
    ready: np.ndarray,
    e_msg: np.ndarray,
    e_slot: np.ndarray,
    slots: int,
    e_off: np.ndarray | None = None,
    started: np.ndarray | None = None,
) -> np.ndarray:
    """Of messages `cand`, those that progress: on each slot the message whose head reaches
    it first (ready + `e_off`, the entry's ramp and hops from the source; ties: lower
    number), each taking its slots (link entries `e_msg`, `e_slot`, slots numbered below
    `slots`) unless an earlier one that progresses holds one of them (a color's messages on a
    link one after another: the router grants the link to the head that arrives)."""
    if cand.size <= 1:
        return cand
    undecided = np.zeros(ready.size, dtype=bool)
    undecided[cand] = True
    on = undecided[e_msg]
    msg, slot = e_msg[on], e_slot[on]
    off = np.zeros(msg.size) if e_off is None else e_off[on]
    if started is not None:  # a message on its way keeps its links (no head to arrive)
        off = np.where(started[msg], 0, off)
    if np.bincount(slot, minlength=slots).max() <= 1:  # (mostly: no two of them on one slot)
        return cand
    won = np.zeros(ready.size, dtype=bool)
    while undecided.any():
        # among the undecided and the winners, the first head on each slot
        mine = undecided[msg] | won[msg]
        m, sl = msg[mine], slot[mine]
        order = np.lexsort((m, ready[m] + off[mine], sl))
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


def _contested(e_msg: np.ndarray, e_link: np.ndarray, many_colors: np.ndarray, n: int):
    """The link entries `fair_rates` needs (as `e_from`, `e_link`, and the number of links):
    those on links that carry two colors or more (`many_colors`, per link), one link of each
    set carrying the same messages. A link of one color has one message progressing at a
    time (`claim`), whose share of it is whole: it never binds; links that carry the same
    messages have the same share at every moment (a transposition's paths: half of them)."""
    on = many_colors[e_link]
    msg, link = e_msg[on], e_link[on]
    order = np.lexsort((msg, link))
    msg, link = msg[order], link[order]
    cuts = np.flatnonzero(np.r_[True, link[1:] != link[:-1], True])
    ms = msg.tolist()
    first: dict[tuple[int, ...], int] = {}
    keep = np.zeros(link.size, dtype=bool)
    for a, b in zip(cuts[:-1].tolist(), cuts[1:].tolist(), strict=True):
        if first.setdefault(tuple(ms[a:b]), a) == a:
            keep[a:b] = True
    msg, link = msg[keep], link[keep]
    _, link = np.unique(link, return_inverse=True)
    by_msg = np.argsort(msg, kind="stable")
    s_from = np.r_[0, np.cumsum(np.bincount(msg, minlength=n))]
    return s_from, link[by_msg], int(link.max(initial=-1)) + 1


def walk(
    target,
    phases: list[RunPhase],
    clock: np.ndarray,
    out_free: np.ndarray,
    in_free: np.ndarray,
) -> list[np.ndarray | None] | None:
    """Walk the run's phases in time order (the module's docstring) from every PE's `clock`,
    output ramp free at `out_free` and input ramp free at `in_free` (flat, by PE id): per
    phase, the cycles link sharing adds to each of its messages (None for a local part). None
    if no link carries two colors (nothing is shared: phase by phase is exact) or the walk
    does not finish."""
    wake = int(vector_costs.task_activation_cycles(target))
    bw = int(target.link_wavelets_per_cycle)
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
        lat += np.broadcast_to(p.lat, p.src.shape).tolist()
        room += (np.broadcast_to(p.room, p.src.shape) / bw).astype(float).tolist()
        links += p.links
    n = len(src)
    if n == 0:
        return None
    # link entries, links numbered 0.. over the run; a slot is a (link, color) pair: a color's
    # messages on a link go one after another
    sizes = [len(ls) for ls in links]
    e_msg = np.repeat(np.arange(n), sizes)
    # each entry's hop along its message's path (links in path order): its head reaches the
    # link that long after the message is ready
    e_hop = np.arange(e_msg.size) - np.repeat(np.cumsum([0, *sizes])[:-1], sizes)
    e_off = int(target.ramp_latency_cycles) + int(target.hop_latency_cycles) * e_hop
    used, e_link = np.unique(
        np.array([lk for ls in links for lk in ls], dtype=np.int64), return_inverse=True
    )
    if used.size == 0:
        return None
    _, e_color = np.unique(np.array(color, dtype=np.int64)[e_msg], return_inverse=True)
    slot_of, e_slot = np.unique(e_link * (int(e_color.max()) + 1) + e_color, return_inverse=True)
    colors_on = np.bincount(slot_of // (int(e_color.max()) + 1), minlength=used.size)
    if (colors_on < 2).all():
        return None  # no link carries two colors: nothing is shared, phase by phase is exact
    s_from, s_link, contested = _contested(e_msg, e_link, colors_on >= 2, n)
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
    now = dict(zip(roles, clock[pes].astype(float).tolist(), strict=True))
    out_at = dict(zip(roles, out_free[pes].astype(float).tolist(), strict=True))
    in_at = dict(zip(roles, in_free[pes].astype(float).tolist(), strict=True))
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
                now[pid] += local
                step[pid] += 1
                continue
            pending[pid] = len(sends) + sum(bool(end[i] == np.inf) for i in recvs)
            for i in sends:
                ready[i] = max(now[pid], out_at[pid])
                live[i] = True
                heapq.heappush(wakeups, ready[i])
            b = max(now[pid], in_at[pid])
            for i in recvs:
                begin[i] = b
                heapq.heappush(wakeups, b)
            if pending[pid]:
                return
            finish(pid)  # and on to its next role

    def finish(pid: int) -> None:
        """PE `pid`'s current role's messages have all ended: it ends the role."""
        sends, recvs, _ = roles[pid][step[pid]]
        after = now[pid]
        if sends:
            out_at[pid] = after = max(end[i] for i in sends)
        if recvs:
            b = begin[recvs[0]]
            got = max(max(end[i] + lat[i] for i in recvs), b + sum(work[i] for i in recvs))
            in_at[pid] = got
            after = max(after, got) + wake
        now[pid] = after
        step[pid] += 1

    for pid in roles:
        start(pid)
    T = 0.0
    for _ in range(20 * n + 100):
        if not live.any():
            break
        # who progresses now: the first head on each slot, one message per slot at a time; a message
        # whose receiver has not begun stops once its path is full
        waits = (begin > T) & (done >= room_a)
        go = claim(
            np.flatnonzero(live & (ready <= T) & ~waits),
            ready,
            e_msg,
            e_slot,
            slot_of.size,
            e_off,
            done > 0,
        )
        rate = fair_rates(go, s_from, s_link, contested)
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
    return [
        None if p.local_pes is not None else extra[first[j] : first[j] + p.src.size]
        for j, p in enumerate(phases)
    ]
