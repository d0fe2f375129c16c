"""Streams in flight at plan time: back-pressure between a send and its receivers, and the
completions of synchronous and asynchronous transfers (docs/simulator.md, "Streams, queues and
back-pressure; asynchronous sends and receives").

A message of `cyc` cycles from source s reaches destination d `lat_d` cycles after it starts,
and its path holds `cap_d` wavelets. A destination *begins* when its receive runs. The sender's
end is known once every destination it needs has begun (the destinations whose message is
longer than their path: `cyc > cap_d`); a destination's end once it has begun and its sender's
end is known:

    send_end_s = max(start_s + cyc, max over needed d of (max(begin_d, start_s + lat_d) + cyc - cap_d))
    recv_end_d = max(max(begin_d, start_s + lat_d) + dur_d, send_end_s + lat_d)

`dur_d` is what the receiver spends per message (the stream, or its combine if longer). Until
then the op is *pending*: a synchronous one holds its PEs (the planner keeps it blocked), an
asynchronous one leaves its token open.

A multicast's branches share the queues before the router where they part (`fork_bounds`): a
receiver j that begins after its head arrived holds the stream at every router v of its path
from which other receivers are reached, once the queues past v on j's branch (`ce_queue +
(h_j - h_v) * router_queue` wavelets) are full; a receiver e reached from v gets its last
wavelet no earlier than

    max(begin_j, start_s + lat_j) + cyc - ce_queue - (h_j - h_v) * (router_queue - hop)
        + (h_e - h_v) * hop + ramp

(the room a draining receiver frees reaches v a hop per router later; the sender's own stall
above is the same with v before the first router, without that). Counted for the receivers j
whose begin is known when e's end is.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from pyflame.core.errors import CompileError
from pyflame.sim.executable import Buffer, Rect
from pyflame.sim.fabric import Trace, child_routers

UNKNOWN = -1

#: record(completion, local rows, local cols, clocks before, clocks after)
LateCompletion = Callable[["Completion", np.ndarray, np.ndarray, np.ndarray, np.ndarray], None]


@dataclass
class Completion:
    """When each PE of one send or receive op finishes (UNKNOWN until then), and what finishing
    does: a synchronous op sets its PE's clock to the end plus `resume` cycles (a receive's task
    activation); an asynchronous op completes its token (`pe.wait` reads `done`)."""

    what: str
    rect: Rect
    synchronous: bool
    phase: str
    resume: int = 0
    #: per PE of rect: the cycle its part completes, or UNKNOWN
    done: np.ndarray = field(init=False)
    #: per PE of rect: the clock when the op was issued, and the cycles it keeps the PE busy
    #: (for the timeline of a synchronous op that completes later)
    issued: np.ndarray = field(init=False)
    busy: np.ndarray = field(init=False)
    #: per PE of rect: waited for by a pe.wait (asynchronous ops must be)
    waited: np.ndarray = field(init=False)
    remaining: int = field(init=False)
    #: bumped whenever a PE of it completes: a `pe.wait` found not ready is looked at again
    #: only once a version it read has moved (the planner's blocked items are rescanned often)
    version: int = field(init=False, default=0)
    #: a receive of several messages per PE (`pe.recv` `messages`): per PE, the deliveries
    #: still to end and the latest end so far (a PE completes with its last delivery)
    parts_left: np.ndarray | None = field(init=False, default=None)
    latest: np.ndarray | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        shape = (self.rect[2], self.rect[3])
        self.done = np.full(shape, UNKNOWN, dtype=np.int64)
        self.issued = np.zeros(shape, dtype=np.int64)
        self.busy = np.zeros(shape, dtype=np.int64)
        self.waited = np.zeros(shape, dtype=bool)
        self.remaining = shape[0] * shape[1]

    def expect_parts(self, parts: int) -> None:
        """Each PE completes after `parts` deliveries (a receive of several messages)."""
        if parts > 1:
            self.parts_left = np.full(self.done.shape, parts, dtype=np.int64)
            self.latest = np.zeros(self.done.shape, dtype=np.int64)

    @property
    def complete(self) -> bool:
        return self.remaining == 0


@dataclass
class Stream:
    """The timing state of one executed `pe.send` (or forwarding `pe.recv`: all its source
    PEs) and its deliveries.

    Sources are the op's PEs in row-major order; deliveries are sorted by source (as
    `Trace.d_src`)."""

    cyc: int
    sender: Completion
    start: np.ndarray  # per source
    send_end: np.ndarray  # per source, UNKNOWN until known
    need: np.ndarray  # per source: needed destinations that have not begun
    #: per delivery: its message is longer than its path holds, so the sender waits for its
    #: receiver (`cyc > cap`, made once at `open`: a 512x512 plan reads it ~10^5 times)
    needed: np.ndarray
    d_src: np.ndarray  # per delivery
    lat: np.ndarray
    cap: np.ndarray
    begin: np.ndarray  # UNKNOWN until its receive runs
    dur: np.ndarray
    finished: np.ndarray  # bool: its receiver's end was handed on
    #: per delivery: the receive that took it (index into Streams.receivers) and the PE's flat
    #: index in that receive's rectangle
    sink: np.ndarray
    sink_pos: np.ndarray
    #: a forwarding receive's output stream: per source, the incoming stream (an index into
    #: `feed_streams`, -1: none) and delivery it passes on, `stage` cycles behind; and per
    #: source the end its own receivers allow (arrays, not per-source dicts: a chain's stage
    #: on a column of g PEs is handled in a few numpy calls)
    feed_streams: list[Stream] = field(default_factory=list)
    feed_of: np.ndarray | None = None
    feed_j: np.ndarray | None = None
    stage: int = 0
    end_downstream: np.ndarray | None = None
    #: per delivery that a forwarding receive took: the output stream (an index into
    #: `fwd_streams`, -1: none) and source it feeds, and the delivery's own begin
    fwd_streams: list[Stream] = field(default_factory=list)
    fwd_of: np.ndarray | None = None
    fwd_src: np.ndarray | None = None
    own_begin: np.ndarray | None = None
    #: the send's trace (its multicast trees, for `fork_bounds`) and per delivery its hops
    trace: Trace | None = None
    #: `fork_bounds`' state: the deliveries whose begin was set since it last looked, and the
    #: routers the late receivers seen so far hold (None: none so far)
    begun_since: list[np.ndarray] = field(default_factory=list)
    held: HeldRouters | None = None

    def forward(self, j: np.ndarray, out: Stream, src: np.ndarray) -> None:
        """Deliveries `j` are passed on as sources `src` of the forwarding stream `out`."""
        if self.fwd_of is None:
            self.fwd_of = np.full(self.d_src.size, -1, dtype=np.int64)
            self.fwd_src = np.zeros(self.d_src.size, dtype=np.int64)
        assert self.fwd_src is not None
        self.fwd_of[j] = len(self.fwd_streams)
        self.fwd_src[j] = src
        self.fwd_streams.append(out)


class Streams:
    """All streams and completions of the plan.

    Knowing one time may make others known (a receiver's begin frees its sender, whose end
    gives its other receivers' ends, ...; along a chain of forwarding receives, back up the
    chain and then down again), so the updates run from a work list, not by recursion."""

    def __init__(self, clock: np.ndarray, target=None):
        self.clock = clock
        #: the machine's queue depths and latencies (`fork_bounds`; None: not modelled)
        self.target = target
        #: called as record(completion, local rows, local cols, before, after) when a
        #: synchronous op completes after it was issued (the planner's timeline)
        self.on_late_completion: LateCompletion | None = None
        #: the receives that still wait for deliveries, by number (a receive is dropped once
        #: every PE of it has completed: plan memory holds the transfers in flight, not every
        #: transfer ever made)
        self.receivers: dict[int, Completion] = {}
        self._next_receiver = 0
        self._work: deque[tuple[str, Stream, np.ndarray]] = deque()
        self._current: Completion | None = None

    # ---------------------------------------------------------------- completions

    def finish(self, comp: Completion, flat: np.ndarray, end: np.ndarray) -> None:
        """PEs `flat` (flat indices in comp.rect) of `comp` end at `end`."""
        if flat.size == 0:
            return
        if comp.parts_left is not None:  # several deliveries per PE: its last one ends it
            assert comp.latest is not None
            left, latest = comp.parts_left.ravel(), comp.latest.ravel()
            np.maximum.at(latest, flat, end)
            np.subtract.at(left, flat, 1)
            flat = np.unique(flat[left[flat] == 0])
            if flat.size == 0:
                return
            end = latest[flat]
        comp.done.ravel()[flat] = end
        comp.remaining -= int(flat.size)
        comp.version += 1
        if not comp.synchronous:
            return
        r0, c0, _, nc = comp.rect
        lr, lc = flat // nc, flat % nc
        after = end + comp.resume
        before = self.clock[r0 + lr, c0 + lc].copy()
        self.clock[r0 + lr, c0 + lc] = np.maximum(before, after)
        # an op finishing while it is issued is timed by the planner itself
        if comp is not self._current and self.on_late_completion is not None:
            self.on_late_completion(comp, lr, lc, comp.issued[lr, lc], after)

    # ---------------------------------------------------------------- sends

    def open(
        self,
        sender: Completion,
        start: np.ndarray,
        cyc: int,
        d_src: np.ndarray,
        lat: np.ndarray,
        cap: np.ndarray,
        feeds: Sequence[tuple[Stream, np.ndarray, np.ndarray]] = (),
        stage: int = 0,
        trace: Trace | None = None,
    ) -> Stream:
        """A send (or forwarding receive: each (incoming stream, sources, deliveries) of
        `feeds` says which delivery each of those sources passes on) has started: sources at
        `start`, deliveries with their latency and path capacity. Sources that need no
        receiver and pass nothing on complete now."""
        k, n = start.size, d_src.size
        assert n < 2 or bool((d_src[1:] >= d_src[:-1]).all()), "deliveries sorted by source"
        needed = cyc > cap
        need = np.bincount(d_src[needed], minlength=k).astype(np.int64)
        st = Stream(
            cyc=cyc,
            sender=sender,
            start=start,
            send_end=np.full(k, UNKNOWN, dtype=np.int64),
            need=need,
            needed=needed,
            d_src=d_src,
            lat=lat,
            cap=cap,
            begin=np.full(n, UNKNOWN, dtype=np.int64),
            dur=np.zeros(n, dtype=np.int64),
            finished=np.zeros(n, dtype=bool),
            sink=np.full(n, UNKNOWN, dtype=np.int64),
            sink_pos=np.zeros(n, dtype=np.int64),
            stage=stage,
            trace=trace,
        )
        if feeds:
            st.end_downstream = np.full(k, UNKNOWN, dtype=np.int64)
            st.feed_of = np.full(k, -1, dtype=np.int64)
            st.feed_j = np.zeros(k, dtype=np.int64)
            for t, (inc, src, j) in enumerate(feeds):
                st.feed_streams.append(inc)
                st.feed_of[src] = t
                st.feed_j[src] = j
                inc.forward(j, st, src)
        self._run(sender, [("senders", st, np.flatnonzero(need == 0))])
        return st

    # ---------------------------------------------------------------- receives

    def receiver(self, comp: Completion) -> int:
        """Register a receive; its deliveries name it by the returned number."""
        number = self._next_receiver
        self._next_receiver += 1
        self.receivers[number] = comp
        return number

    def take(
        self,
        st: Stream,
        j: np.ndarray,
        begin: np.ndarray,
        dur: np.ndarray,
        sink: int,
        sink_pos: np.ndarray,
        forwarding: bool = False,
    ) -> None:
        """Deliveries `j` of `st` begin (their receive, number `sink`, ran) at `begin`, each taking
        `dur` cycles once its data flows; hand on every time now known. A forwarding receive
        drains its input only as fast as its own stream leaves, so its begin counts for the
        sender once that stream's end is known (`open` with `feeds`)."""
        st.dur[j] = dur
        st.sink[j] = sink
        st.sink_pos[j] = sink_pos
        if forwarding:
            if st.own_begin is None:
                st.own_begin = np.full(st.d_src.size, UNKNOWN, dtype=np.int64)
            st.own_begin[j] = begin
            return
        st.begin[j] = begin
        self._begun_now(st, j)
        self._run(self.receivers.get(sink), [("begun", st, j), ("arrived", st, j)])

    def _begun_now(self, st: Stream, j: np.ndarray) -> None:
        """Deliveries `j` of `st` have their begin: kept for `fork_bounds` (each late receiver
        is walked up its tree once, not at every later receive of the stream)."""
        if st.trace is not None and self.target is not None:
            if st.cyc > int(self.target.ce_queue_wavelets):
                st.begun_since.append(j)

    # ---------------------------------------------------------------- the work list

    def _run(self, current: Completion | None, work: list) -> None:
        """Hand on every time the `work` items make known (`current` is the op being issued:
        its own completion is timed by the planner, not as a late one)."""
        self._current = current
        self._work.extend(work)
        while self._work:
            kind, st, idx = self._work.popleft()
            if kind == "begun":
                self._begun(st, idx)
            elif kind == "senders":
                self._senders_known(st, idx)
            elif kind == "sent":  # sources whose stream's end is now known
                self._receivers_known(st, _deliveries_of(st.d_src, idx))
            else:  # "arrived": deliveries whose receive has now begun
                self._receivers_known(st, idx)
        self._current = None

    def _begun(self, st: Stream, j: np.ndarray) -> None:
        needed = j[st.needed[j]]
        if needed.size == 0:
            return
        np.subtract.at(st.need, st.d_src[needed], 1)
        src = np.flatnonzero(np.bincount(st.d_src[needed], minlength=st.need.size))
        ready = src[(st.need[src] == 0) & (st.send_end[src] == UNKNOWN)]
        if ready.size:
            self._work.append(("senders", st, ready))

    def _senders_known(self, st: Stream, ready: np.ndarray) -> None:
        """Every needed receiver of sources `ready` has begun: their ends as far as their
        receivers allow."""
        if ready.size == 0:
            return
        end = st.start[ready] + st.cyc
        pos = np.full(st.start.size, -1, dtype=np.int64)
        pos[ready] = np.arange(ready.size)
        d = np.flatnonzero((pos[st.d_src] >= 0) & st.needed)
        s = st.d_src[d]
        drain = np.maximum(st.begin[d], st.start[s] + st.lat[d]) + st.cyc - st.cap[d]
        np.maximum.at(end, pos[s], drain)
        if st.feed_of is None:
            st.send_end[ready] = end
            self.finish(st.sender, ready, end)
            self._work.append(("sent", st, ready))
            return
        # a forwarding source drains its input as fast as its receivers let its stream go
        assert st.end_downstream is not None and st.feed_j is not None
        st.end_downstream[ready] = end
        fed_of = st.feed_of[ready]
        plain = ready[fed_of < 0]
        if plain.size:
            st.send_end[plain] = st.end_downstream[plain]
            self.finish(st.sender, plain, st.send_end[plain])
            self._work.append(("sent", st, plain))
        # the fed sources' incoming deliveries begin, one work item per incoming stream (a
        # chain's forwarding receive on a PE column feeds every row from one stream: items per
        # source made a barrier on g x g PEs cost g^2 Python calls per step)
        fed = ready[fed_of >= 0]
        codes = fed_of[fed_of >= 0]
        for t in _distinct(codes, first_seen=True):
            srcs = fed[codes == t]
            inc = st.feed_streams[t]
            jj = st.feed_j[srcs]
            consumed = st.end_downstream[srcs] - st.stage - inc.cyc
            assert inc.own_begin is not None  # its forwarding receive ran
            inc.begin[jj] = np.maximum(inc.own_begin[jj], consumed)
            self._begun_now(inc, jj)
            self._work.append(("begun", inc, jj))
            self._work.append(("arrived", inc, jj))

    def _receivers_known(self, st: Stream, candidates: np.ndarray) -> None:
        """Deliveries among `candidates` (those whose begin or whose source's end just became
        known: a multicast's deliveries are not all rescanned per receiving row) that have
        both now: they finish."""
        c = candidates  # (ascending, as a scan of every delivery finds them)
        if c.size > 1 and not bool((c[1:] > c[:-1]).all()):
            c = _ascending(c, st.d_src.size)
        d = c[~st.finished[c] & (st.begin[c] != UNKNOWN) & (st.send_end[st.d_src[c]] != UNKNOWN)]
        if d.size == 0:
            return
        s = st.d_src[d]
        head = st.start[s] + st.lat[d]
        end = np.maximum(np.maximum(st.begin[d], head) + st.dur[d], st.send_end[s] + st.lat[d])
        if st.trace is not None and self.target is not None and st.fwd_of is None:
            end = np.maximum(end, fork_bounds(st, d, self.target))
        st.finished[d] = True
        if st.fwd_of is not None:
            assert st.fwd_src is not None
            out_of = st.fwd_of[d]
            plain = out_of < 0
            at_all = np.flatnonzero(~plain)
            codes = out_of[at_all]
            # per forwarded stream: its sources, from the input deliveries' ends
            for t in _distinct(codes, first_seen=True):
                at = at_all[codes == t]
                ost = st.fwd_streams[t]
                os_ = st.fwd_src[d[at]]
                st.fwd_of[d[at]] = -1
                # the forwarded stream ends a stage after its input, or when its receivers allow
                assert ost.end_downstream is not None
                ends = np.maximum(ost.end_downstream[os_], end[at] + ost.stage)
                ost.send_end[os_] = np.maximum(ends, ost.start[os_] + ost.cyc)
                self.finish(ost.sender, os_, ost.send_end[os_])
                self._work.append(("sent", ost, os_))
            if not (st.fwd_of >= 0).any():
                # every forwarded delivery handed on: drop the references to the forwarding
                # streams (with their feeds back to this one they would keep a whole chain of
                # streams alive: a barrier on 256x256 PEs is 510 of them)
                st.fwd_streams, st.fwd_of, st.fwd_src = [], None, None
            d, end = d[plain], end[plain]
        sinks = st.sink[d]
        for g in _distinct(sinks):
            m = sinks == g
            comp = self.receivers[g]
            self.finish(comp, st.sink_pos[d[m]], end[m])
            if comp.complete:
                del self.receivers[g]


@dataclass
class Forest:
    """The routers a send's trace reaches, one tree per source: a node per (source, router),
    its parent (-1 at a source's own router) and hops from the source, each delivery's node,
    and the nodes in preorder: node v's subtree is the run `first[v] <= position < end[v]`."""

    parent: np.ndarray
    level: np.ndarray
    delivery_node: np.ndarray
    first: np.ndarray
    end: np.ndarray
    #: the nodes sorted by (level, preorder position), and those keys (`ancestor`)
    _by_depth: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False, compare=False)

    def ancestor(self, v: np.ndarray, k: np.ndarray) -> np.ndarray:
        """Per node of `v`, its ancestor k levels up (0 <= k <= level[v]): the last node at
        that level that comes before v in preorder (one at the same level after the
        ancestor and before v would lie in the ancestor's subtree, below its level)."""
        width = self.parent.size + 1
        if self._by_depth is None:
            keys = self.level * width + self.first
            order = np.argsort(keys, kind="stable")
            self._by_depth = (keys[order], order)
        keys, order = self._by_depth
        want = (self.level[v] - k) * width + self.first[v]
        return order[np.searchsorted(keys, want, side="right") - 1]

    @staticmethod
    def of(tr: Trace) -> Forest:
        if tr.forest is None:
            tr.forest = Forest._make(tr)
        return tr.forest

    @staticmethod
    def _make(tr: Trace) -> Forest:
        # node i < n: the router link i leads to; node n + s: source s's own router
        n, k = tr.l_src.size, tr.k
        cr, cc = child_routers(tr.l_r, tr.l_c, tr.l_dir)
        wide = int(max(tr.l_c.max(), cc.max(), tr.d_c.max())) + 2
        tall = int(max(tr.l_r.max(), cr.max(), tr.d_r.max())) + 2

        def key(src, r, c):
            return (src * tall + r) * wide + c

        down = key(tr.l_src, cr, cc)
        order = np.argsort(down, kind="stable")
        ordered = down[order]

        def node_of(keys: np.ndarray, src: np.ndarray, own: np.ndarray) -> np.ndarray:
            """The node of router `keys` of sources `src` (own: it is the source's router)."""
            at = np.minimum(np.searchsorted(ordered, keys), max(n - 1, 0))
            hit = ordered[at] == keys if n else np.zeros(keys.size, dtype=bool)
            return np.where(own, n + src, np.where(hit, order[at], -1))

        parent = np.full(n + k, -1, dtype=np.int64)
        parent[:n] = node_of(key(tr.l_src, tr.l_r, tr.l_c), tr.l_src, tr.l_h == 0)
        level = np.zeros(n + k, dtype=np.int64)
        level[:n] = tr.l_h + 1
        delivery_node = node_of(key(tr.d_src, tr.d_r, tr.d_c), tr.d_src, tr.d_h == 0)
        return Forest.of_parents(parent, level, delivery_node)

    @staticmethod
    def of_parents(parent: np.ndarray, level: np.ndarray, delivery_node: np.ndarray) -> Forest:
        """The forest of these parents (-1: a root) at these levels (a parent one above its
        child), its preorder made a level at a time: subtree sizes up, first positions down
        (each child after its parent and its earlier siblings' subtrees)."""
        nodes = parent.size
        by_level = np.argsort(level, kind="stable")
        cuts = np.searchsorted(level[by_level], np.arange(int(level.max(initial=0)) + 2))
        levels = [by_level[cuts[h] : cuts[h + 1]] for h in range(cuts.size - 1)]
        size = np.ones(nodes, dtype=np.int64)
        for lv in reversed(levels[1:]):
            up = parent[lv]
            known = up >= 0  # (a node below level 0 always has a parent, but not trusted)
            np.add.at(size, up[known], size[lv[known]])
        # each node's offset among its siblings (the roots are siblings too)
        siblings = np.argsort(parent, kind="stable")
        sizes = size[siblings]
        before = np.cumsum(sizes) - sizes
        group = np.flatnonzero(np.r_[True, parent[siblings][1:] != parent[siblings][:-1]])
        offset = np.empty(nodes, dtype=np.int64)
        if nodes:
            offset[siblings] = before - np.repeat(before[group], np.diff(np.r_[group, nodes]))
        first = np.empty(nodes, dtype=np.int64)
        for lv in levels:
            up = parent[lv]
            below = first[np.maximum(up, 0)] + 1 + offset[lv]
            first[lv] = np.where(up >= 0, below, offset[lv])
        return Forest(parent, level, delivery_node, first, first + size)


#: "no bound" in `fork_bounds`' per-node arrays
_NEVER = np.iinfo(np.int64).min // 4


@dataclass
class HeldRouters:
    """`fork_bounds`' state of one stream: the latest `passes[v] - level[v] * hop` over the
    routers v at or above each node of its trace's forest, where `passes[v]` is the latest
    cycle the stream's last wavelet can pass router v as far as the late receivers walked so
    far hold it. Kept as a segment tree over the forest's preorder (`covers`, 2 * nodes
    entries: entry 1 covers every position, entry e the halves 2e and 2e + 1, entry
    nodes + p position p alone): router v's value is written into the entries that exactly
    cover its subtree's run, and a node's bound is the latest entry covering its position.
    A late receiver raises a few dozen entries; a receive reads log2(nodes) entries per node
    (a level-at-a-time sweep down ~720 levels per receive was a third of a 720x720 plan)."""

    covers: np.ndarray

    @staticmethod
    def of(f: Forest) -> HeldRouters:
        return HeldRouters(np.full(2 * f.parent.size, _NEVER, dtype=np.int64))

    def raise_subtrees(self, f: Forest, v: np.ndarray, value: np.ndarray) -> None:
        """Every node at or below router v (per element) is bounded by at least `value`."""
        self.raise_runs(f, f.first[v], f.end[v], value)

    def raise_runs(self, f: Forest, lo: np.ndarray, hi: np.ndarray, value: np.ndarray) -> None:
        """Every node at preorder positions lo <= p < hi (per element; empty runs allowed) is
        bounded by at least `value`."""
        width = f.parent.size
        some = lo < hi
        lo, hi, value = lo[some] + width, hi[some] + width, value[some]
        while lo.size:
            odd = (lo & 1).astype(bool)
            np.maximum.at(self.covers, lo[odd], value[odd])
            lo = lo + odd
            odd = (hi & 1).astype(bool)
            hi = hi - odd
            np.maximum.at(self.covers, hi[odd], value[odd])
            lo, hi = lo >> 1, hi >> 1
            live = lo < hi
            if not live.all():
                lo, hi, value = lo[live], hi[live], value[live]

    def bound(self, f: Forest, nodes: np.ndarray) -> np.ndarray:
        """Per node of `nodes` (-1: none, `_NEVER`): the latest value over the routers at or
        above it (`_NEVER` where none is held)."""
        width = f.parent.size
        leaf = f.first[np.maximum(nodes, 0)] + width
        # the entries covering a position: its leaf and the leaf's ancestors (entry 0 unused)
        up = leaf[:, None] >> np.arange(int(2 * width).bit_length())[None, :]
        out = self.covers[up].max(axis=1, initial=_NEVER)
        return np.where(nodes >= 0, out, _NEVER)


def fork_bounds(st: Stream, d: np.ndarray, target) -> np.ndarray:
    """Per delivery of `d`: the earliest its last wavelet arrives, as far as receivers of the
    same multicast that began late hold the stream at the routers where their branches part
    from its (the module docstring); 0 where none does. Costs little unless a receiver whose
    message is longer than its input queue began after its head arrived.

    Incremental: the receivers whose begin became known since the last call are walked up
    their trees once, into the stream's `held` routers (a receive per PE row of a 512x512 grid
    rescanned every late receiver of the stream: hours per GEMM); `d` then reads the routers
    above it."""
    out = np.zeros(d.size, dtype=np.int64)
    ce = int(target.ce_queue_wavelets)
    tr = st.trace
    assert tr is not None
    if st.cyc <= ce or tr.l_src.size == 0:
        return out
    if st.begun_since:
        _walk_up_late(st, np.concatenate(st.begun_since), target)
        st.begun_since.clear()
    if st.held is None:
        return out
    f = Forest.of(tr)
    b = st.held.bound(f, f.delivery_node[d])
    got = b > _NEVER
    out[got] = (
        b[got] + tr.d_h[d[got]] * int(target.hop_latency_cycles) + int(target.ramp_latency_cycles)
    )
    return out


def _walk_up_late(st: Stream, new: np.ndarray, target) -> None:
    """Add to `st.held` the routers that receivers among `new` hold: those that began
    after their head arrived, on paths that hold the message (one that cannot stalls the
    sender, and the sender's stall holds every receiver already: `send_end_s + lat_e`). The
    trace's forest is made only for a stream with such a receiver."""
    ce, rq = int(target.ce_queue_wavelets), int(target.router_queue_wavelets)
    hop = int(target.hop_latency_cycles)
    head = st.start[st.d_src[new]] + st.lat[new]
    late = new[(st.begin[new] > head) & (st.cyc <= st.cap[new])]
    if late.size == 0:
        return
    assert st.trace is not None
    f = Forest.of(st.trace)
    if st.held is None:
        st.held = HeldRouters.of(f)
    # when the stream's last wavelet can pass each router v above a late receiver j, as far
    # as j's branch holds it: up to the routers whose queues past v cannot hold the message
    cur = f.delivery_node[late]
    held = np.maximum(st.begin[late], st.start[st.d_src[late]] + st.lat[late]) + st.cyc - ce
    keep = cur >= 0
    cur, held = cur[keep], held[keep]
    steps = (st.cyc - ce - 1) // rq + 1  # routers on a walk (at most: a tree's root ends it)
    if rq <= 2 * hop:
        # a router's bound (held - dist * (rq - hop) - level * hop, the level one less per
        # step) is then no lower than the one below it: every node a walk reaches is bounded
        # by its topmost router's, over that router's whole subtree (found by its level, not
        # by ~250 steps up a 750-PE column per late row of a 2.5D SUMMA)
        up = np.minimum(steps - 1, f.level[cur])
        top = f.ancestor(cur, up)
        # (a tree whose parents stop above level 0 would end a walk higher: walked below)
        if ((f.first[top] <= f.first[cur]) & (f.first[cur] < f.end[top])).all():
            st.held.raise_subtrees(f, top, held - up * (rq - hop) - f.level[top] * hop)
            return
    chain = np.arange(cur.size)  # each receiver's walk up its tree
    # (router v's bound on the nodes below it: when it passes v less the hops to v)
    routers, bounds, chains = [], [], []
    for dist in range(steps):
        if cur.size == 0:
            break
        routers.append(cur)
        bounds.append(held - dist * (rq - hop) - f.level[cur] * hop)
        chains.append(chain)
        cur = f.parent[cur]
        keep = cur >= 0
        if not keep.all():
            cur, held, chain = cur[keep], held[keep], chain[keep]
    if not routers:
        return
    st.held.raise_runs(f, *_walk_runs(f, routers, bounds, chains))


def _walk_runs(
    f: Forest, routers: list[np.ndarray], bounds: list[np.ndarray], chains: list[np.ndarray]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The preorder runs and values of walks up the trees: step j of walk c (router
    routers[j], bound bounds[j], for the walks chains[j], ascending; a walk stops when its
    tree does) bounds the nodes below its router. A node whose deepest router on walk c is
    step j's is bounded by the best of steps j, j + 1, ... of c, so each step raises only
    the runs of its router's subtree that the step below does not hold: the router itself
    and its other branches, one or two runs, short on a line's broadcast (raising every
    router's whole subtree was most of a 720x720 SUMMA's plan with 32x32 tiles: ~200 steps
    per late receiver, each a full segment-tree update)."""
    lo_runs, hi_runs, values = [], [], []
    best = np.full(chains[0].size, _NEVER, dtype=np.int64)
    for j in range(len(routers) - 1, -1, -1):
        c, v = chains[j], routers[j]
        best[c] = np.maximum(best[c], bounds[j])
        if j == 0:  # the receiver's own router: all of its subtree
            lo_runs.append(f.first[v])
            hi_runs.append(f.end[v])
            values.append(best[c])
            continue
        below = routers[j - 1][np.searchsorted(chains[j - 1], c)]
        lo_runs += [f.first[v], f.end[below]]
        hi_runs += [f.first[below], f.end[v]]
        values += [best[c], best[c]]
    return np.concatenate(lo_runs), np.concatenate(hi_runs), np.concatenate(values)


def sorted_matches(keys: np.ndarray, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(positions, counts): the positions in ascending `keys` equal to each query, the
    queries' runs laid end to end, and how many each query has."""
    lo = np.searchsorted(keys, queries, "left")
    counts = np.searchsorted(keys, queries, "right") - lo
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64), counts
    return np.repeat(lo - np.cumsum(counts) + counts, counts) + np.arange(total), counts


def _deliveries_of(d_src: np.ndarray, sources: np.ndarray) -> np.ndarray:
    """The deliveries of `sources`, given every delivery's source sorted (`Trace.d_src`)."""
    return sorted_matches(d_src, sources)[0]


def _ascending(indices: np.ndarray, n: int) -> np.ndarray:
    """The distinct values of `indices` (all in [0, n)), ascending: by a mask over [0, n) when
    they are many (a multicast's deliveries: numpy's hash-based `unique` took 9 ms per receive
    of a 256x256 SUMMA step), else by `unique`."""
    if indices.size * 16 < n:
        return np.unique(indices)
    mask = np.zeros(n, dtype=bool)
    mask[indices] = True
    return np.flatnonzero(mask)


def _distinct(values: np.ndarray, first_seen: bool = False) -> list[int]:
    """The distinct values of an int array (most often just one), sorted, or in the order
    they first appear (`first_seen`)."""
    if values.size == 0:
        return []
    first = int(values[0])
    if (values == first).all():
        return [first]
    if not first_seen:
        return np.unique(values).tolist()
    distinct, at = np.unique(values, return_index=True)
    return distinct[np.argsort(at)].tolist()


@dataclass
class InFlight:
    """A buffer an asynchronous transfer is still reading (a send) or writing (a receive) on
    the PEs of its completion that have not waited for it yet."""

    buffer: Buffer
    comp: Completion
    writes: bool


def check_races(
    inflight: list[InFlight], op_name: str, what: str, rect: Rect, bufs, written
) -> None:
    """Refuse an op that touches, before the pe.wait, bytes an asynchronous transfer still
    uses: writing what a send reads, or reading or writing what a receive writes (on the
    machine the transfer would see, or deliver, the wrong data). The op runs on `rect`; `bufs`
    are its buffers, `written` the one it writes (or None)."""
    # (the hot path of every op's execution: plain int tests before any numpy)
    q0, p0, qn, pn = rect
    for f in inflight:
        f0, g0, fn, gn = f.comp.rect
        if f0 >= q0 + qn or q0 >= f0 + fn or g0 >= p0 + pn or p0 >= g0 + gn:
            continue  # on other PEs
        lo = f.buffer.offset
        hi = lo + f.buffer.nbytes
        for b in bufs:
            if not (f.writes or b is written):
                continue
            if not (lo < b.offset + b.nbytes and b.offset < hi):
                continue
            both = _intersection(f.comp.rect, rect)
            assert both is not None
            r0, c0, nr, nc = both
            cr, cc = r0 - f.comp.rect[0], c0 - f.comp.rect[1]
            open_ = ~f.comp.waited[cr : cr + nr, cc : cc + nc]
            if open_.any():
                r, c = np.argwhere(open_)[0]
                doing = "writes" if b is written else "reads"
                raise CompileError(
                    f"{what}: {op_name} {doing} buffer '{b.name}' on PE ({r0 + r}, {c0 + c}) "
                    f"while the asynchronous {f.comp.what} still "
                    f"{'writes' if f.writes else 'reads'} '{f.buffer.name}' there (a data "
                    "race): put the pe.wait of its token before it"
                )


def _intersection(a: Rect, b: Rect) -> Rect | None:
    r0, c0 = max(a[0], b[0]), max(a[1], b[1])
    r1, c1 = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    if r1 <= r0 or c1 <= c0:
        return None
    return (r0, c0, r1 - r0, c1 - c0)


__all__ = [
    "UNKNOWN",
    "Completion",
    "InFlight",
    "Stream",
    "Streams",
    "check_races",
    "sorted_matches",
]
