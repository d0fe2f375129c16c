"""The fabric of the wavelet-level engine: every router queue, every link, one cycle at a time.

State, as numpy arrays over all queues at once (K = the program's colors, packed densely):

- a router input queue per (router, color, input port): ports north, south, east, west and the
  ramp (the PE's own sends), `router_queue_wavelets` deep;
- a CE input queue per (PE, color): the wavelets the router's ramp delivered to its PE,
  `ce_queue_wavelets` deep, drained by the PE's running receive;
- a rule per (router, color, input port): a bit mask of output ports (`fabric.port_mask`), or
  none (`NO_RULE`);
- a lock per (router, color, output port): the input port whose message holds it, so that two
  messages of one color merging into one output never interleave (a message is a stream from its
  head wavelet to its tail).

A wavelet entering a queue is in flight for the latency of what it crossed (`hop_latency_cycles`
for a link, `ramp_latency_cycles` for a ramp) and takes room in that queue from the cycle it
left (the queue's credit), so a path of h hops holds ce_queue_wavelets + (h + 1) *
router_queue_wavelets wavelets, as docs/simulator.md specifies. Within a cycle the PEs drain
their queues first, then routers forward (deciding on the queues' counts at the start of the
step), then PEs inject: a queue as deep as its wire's latency still passes one wavelet a cycle. `cycle(t)` moves, at cycle `t`, every wavelet that can move:
a queue's head that has arrived, whose rule's output ports all have room (a multicast copies it
to all of them at once, else it waits: back-pressure) and are not held by another message, and
that wins its links: a link carries one wavelet per cycle and direction over all colors, the
ramp down to the PE one per cycle, granted round robin over (input port, color).
"""

from __future__ import annotations

import numpy as np

from pyflame.core.errors import RoutingError
from pyflame.sim.fabric import NO_RULE, PORTS, RAMP, pe_str

#: the port a wavelet arrives on after leaving in direction d (north, south, east, west)
ARRIVES_ON = np.array([1, 0, 3, 2], dtype=np.int64)
_DR = np.array([-1, 1, 0, 0], dtype=np.int64)
_DC = np.array([0, 0, 1, -1], dtype=np.int64)
NPORTS = 5
#: the hop counter's unit in a queued wavelet's `msg` field (message ids stay below it)
HOP = 1 << 40
#: output ports of each rule mask (bit d = port d)
_BITS = ((np.arange(32)[:, None] >> np.arange(NPORTS)) & 1).astype(bool)


class Network:
    """Router and CE queues of an R x C box of PEs on K colors (see the module docstring)."""

    def __init__(self, R: int, C: int, colors: list[int], target):
        K = len(colors)
        self.R, self.C, self.K = R, C, K
        #: the program's color of each dense color index k
        self.colors = colors
        self.fabric_rows, self.fabric_cols = target.fabric_rows, target.fabric_cols
        hop, ramp = int(target.hop_latency_cycles), int(target.ramp_latency_cycles)
        self.hop, self.ramp = hop, ramp
        self.n_router = R * C * K * NPORTS
        n = self.n_router + R * C * K
        cap = np.empty(n, dtype=np.int64)
        cap[: self.n_router] = target.router_queue_wavelets
        cap[self.n_router :] = target.ce_queue_wavelets
        self.cap = cap
        D = int(cap.max(initial=1))
        self.D = D
        #: per queue slot: the wavelet's 32 data bits, its message (plus HOP times the routers
        #: it has left: a loop detector), its position in the message, the cycle it arrives
        self.cell = np.zeros((n, D, 4), dtype=np.int64)
        self.pay, self.msg = self.cell[:, :, 0], self.cell[:, :, 1]
        self.seq, self.ready = self.cell[:, :, 2], self.cell[:, :, 3]
        self.head = np.zeros(n, dtype=np.int64)
        self.count = np.zeros(n, dtype=np.int64)
        self.rules = np.full((R * C, K, NPORTS), NO_RULE, dtype=np.int64)
        self.lock = np.full(R * C * K * NPORTS, -1, dtype=np.int64)
        #: per message: its length in wavelets (set by the engine when a send starts)
        self.msg_len = np.zeros(64, dtype=np.int64)
        self.n_msgs = 0
        self.msg_what: list[tuple[str, int, int]] = []  # (send op, source row, source col)
        rc = np.arange(R * C, dtype=np.int64)
        r, c = rc // C, rc % C
        #: per router and direction: the neighbour's index, or -1 outside the box
        nr, nc = r[:, None] + _DR, c[:, None] + _DC
        inside = (nr >= 0) & (nr < R) & (nc >= 0) & (nc < C)
        self.neighbour = np.where(inside, nr * C + nc, -1)
        self.active = 0  # wavelets anywhere in the queues
        self.rules_flat = self.rules.reshape(-1)  # indexed like the router queues
        self.out_wavelets_flat = np.zeros(R * C * NPORTS, dtype=np.int64)
        #: per link (router, output port): the (input port, color), as port * K + k, it
        #: granted last (-1: none yet); its next round starts from the one after it
        self.last_grant = np.full(R * C * NPORTS, -1, dtype=np.int64)
        # per output (router, color, port d): the queue it feeds, -1 past the box's edge
        out = np.arange(R * C * K * NPORTS, dtype=np.int64)
        d, rk = out % NPORTS, out // NPORTS
        orc, ok_ = rk // K, rk % K
        nbr = self.neighbour[orc, np.minimum(d, 3)]
        self.dest_of = np.where(
            d == RAMP,
            self.n_router + rk,
            np.where(nbr < 0, -1, (nbr * K + ok_) * NPORTS + ARRIVES_ON[np.minimum(d, 3)]),
        )
        self.lat_of = np.array([hop] * 4 + [ramp], dtype=np.int64)
        #: a wavelet that left more routers than there are (router, input port) pairs loops
        self.max_hops = HOP * (R * C * NPORTS + 1)

    def new_messages(self, lens: np.ndarray, what: str, src_r, src_c) -> np.ndarray:
        """Ids for messages of `lens` wavelets sent by `what` from PEs (src_r, src_c)."""
        n = len(lens)
        first = self.n_msgs
        while first + n > self.msg_len.size:
            self.msg_len = np.concatenate([self.msg_len, np.zeros_like(self.msg_len)])
        self.msg_len[first : first + n] = lens
        self.n_msgs += n
        self.msg_what += [(what, int(r), int(c)) for r, c in zip(src_r, src_c, strict=True)]
        return np.arange(first, first + n, dtype=np.int64)

    # ------------------------------------------------------------------ queue ids

    def router_queue(self, rc, k, port):
        return (np.asarray(rc) * self.K + k) * NPORTS + port

    def ce_queue(self, rc, k):
        return self.n_router + np.asarray(rc) * self.K + k

    def room(self, q: np.ndarray) -> np.ndarray:
        return self.count[q] < self.cap[q]

    def head_ready(self, q: np.ndarray, t: int) -> np.ndarray:
        """Whether queue q's head wavelet has arrived by cycle t (q nonempty)."""
        return (self.count[q] > 0) & (self.ready[q, self.head[q]] <= t)

    def push(self, q, pay, msg, seq, ready) -> None:
        """Append one wavelet to each of the (distinct) queues q."""
        n = np.size(q)
        rows = np.empty((n, 4), dtype=np.int64)
        rows[:, 0], rows[:, 1], rows[:, 2], rows[:, 3] = pay, msg, seq, ready
        self._push_rows(q, rows)

    def _push_rows(self, q: np.ndarray, rows: np.ndarray) -> None:
        self.cell[q, (self.head[q] + self.count[q]) % self.D] = rows
        self.count[q] += 1
        self.active += int(q.size)

    def pop(self, q):
        """Remove the head of each of the (distinct, nonempty) queues q: (pay, msg, seq)."""
        h = self.head[q]
        rows = self.cell[q, h]
        self.head[q] = (h + 1) % self.D
        self.count[q] -= 1
        self.active -= int(np.size(q))
        return rows[:, 0], rows[:, 1], rows[:, 2]

    def next_arrival(self, t: int) -> int | None:
        """The earliest cycle after t at which a queued wavelet arrives, if any."""
        q = np.flatnonzero(self.count)
        if not q.size:
            return None
        r = self.ready[q, self.head[q]]
        r = r[r > t]
        return int(r.min()) if r.size else None

    # ------------------------------------------------------------------ one cycle

    def cycle(self, t: int) -> int:
        """Forward every router queue head that can move at cycle t; returns how many moved."""
        q = np.flatnonzero(self.count[: self.n_router])
        if not q.size:
            return 0
        h = self.head[q]
        cells = self.cell[q, h]
        mask = self.rules_flat[q]
        # heads that have arrived; heads without a rule wait (a later pe.route may give one)
        ok = (cells[:, 3] <= t) & (mask > 0)
        if not ok.all():
            q, h, mask, cells = q[ok], h[ok], mask[ok], cells[ok]
            if not q.size:
                return 0
        n = q.size
        # -- (candidate, output) pairs; an output is (router, color, port): index rk * 5 + d
        pc, po = np.nonzero(_BITS[mask])
        rk = q // NPORTS
        out = rk[pc] * NPORTS + po
        dest = self.dest_of[out]
        if (dest < 0).any():
            bad = np.flatnonzero(dest < 0)
            self._leaves(pc[bad], po[bad], rk // self.K, rk % self.K, cells[:, 1])
        seq = cells[:, 2]
        port = q % NPORTS
        owner = self.lock[out]
        ok = (self.count[dest] < self.cap[dest]) & (
            (owner == -1) | ((owner == port[pc]) & (seq[pc] > 0))
        )
        # -- a candidate moves only if all its outputs can take it
        cand_ok = np.ones(n, dtype=bool)
        if not ok.all():
            np.logical_and.at(cand_ok, pc, ok)
        # -- links: one wavelet per link (and ramp down) per cycle over all colors
        res = (rk[pc] // self.K) * NPORTS + po
        live = cand_ok[pc]
        if np.bincount(res[live], minlength=1).max(initial=0) <= 1:
            granted = cand_ok
        else:
            granted = self._arbitrate(t, n, pc, res, port, rk % self.K, cand_ok)
        if not granted.any():
            return 0
        gp = granted[pc]
        self._remember(gp, pc, res, port * self.K + rk % self.K)
        # -- pop the granted heads, push their copies (one per output)
        gq = q[granted]
        self.head[gq] = (h[granted] + 1) % self.D
        self.count[gq] -= 1
        self.active -= int(gq.size)
        rows = cells[pc[gp]]
        rows[:, 1] += HOP
        if (rows[:, 1] >= self.max_hops).any():
            looping = rows[:, 1] >= self.max_hops
            self._loop(q[pc[gp]][looping], rows[looping, 1])
        rows[:, 3] = t + self.lat_of[po[gp]]
        self._push_rows(dest[gp], rows)
        # -- locks: a head takes its outputs, a tail releases them
        lock = out[gp]
        head = rows[:, 2] == 0
        if head.any():
            self.lock[lock[head]] = port[pc[gp]][head]
        tail = rows[:, 2] == self.msg_len[rows[:, 1] % HOP] - 1
        self.lock[lock[tail]] = -1
        on_link = po[gp] < RAMP
        self.out_wavelets_flat[res[gp][on_link]] += 1
        return int(gq.size)

    def _arbitrate(self, t, n, pc, res, port, k, cand_ok) -> np.ndarray:
        """Grant links round robin over (input port, color): each link ranks its requesters
        from the one after its last grant (`last_grant`, as a round robin arbiter's pointer:
        a requester waits at most one grant of each other requester of the link, whatever the
        cycle), up to 3 rounds of matching. A multicast, which moves only where it wins all
        its links, ranks on all of them by its worst rank: one order of all requesters, so
        none can lose one link to a rival that loses another to it, and as the links serve
        the others its worst rank comes down."""
        rank = self._rank(res, (port * self.K + k)[pc])
        worst = np.zeros(n, dtype=np.int64)
        np.maximum.at(worst, pc, rank)
        prio = (worst * (n + 1) + np.arange(n))[pc]
        granted = np.zeros(n, dtype=bool)
        taken = np.zeros(self.R * self.C * NPORTS, dtype=bool)
        for _ in range(3):
            want = cand_ok & ~granted
            want[pc[taken[res]]] = False
            live = want[pc]
            if not live.any():
                break
            best = np.full(taken.size, np.iinfo(np.int64).max, dtype=np.int64)
            np.minimum.at(best, res[live], prio[live])
            wins = np.ones(n, dtype=bool)
            np.logical_and.at(wins, pc, best[res] == prio)
            new = want & wins
            if not new.any():
                break
            granted |= new
            taken[res[new[pc]]] = True
        return granted

    def _rank(self, links: np.ndarray, requester: np.ndarray) -> np.ndarray:
        """Where `requester` (port * K + k) comes in its link's round: 0 just after the link's
        last grant."""
        return (requester - self.last_grant[links] - 1) % (NPORTS * self.K)

    def _remember(self, granted_pairs, pc, res, requester) -> None:
        """Each granted link's pointer: the requester it granted (one per link and cycle)."""
        self.last_grant[res[granted_pairs]] = requester[pc[granted_pairs]]

    @property
    def out_wavelets(self) -> np.ndarray:
        """Wavelets that left router (r, c) in direction d: (R * C, 4) (Report.wavelets)."""
        return self.out_wavelets_flat.reshape(-1, NPORTS)[:, :4]

    def _loop(self, q: np.ndarray, msg: np.ndarray) -> None:
        rc, k = divmod(int(q[0]) // NPORTS, self.K)
        what, sr, sc = self.msg_what[int(msg[0]) % HOP]
        raise RoutingError(
            f"routing loop: a wavelet of color {self.colors[k]} from {pe_str(sr, sc)} ({what}) "
            f"keeps coming back to {pe_str(*divmod(rc, self.C))}"
        )

    def _leaves(self, bad_pairs, bad_out, rc, k, msg) -> None:
        i = int(bad_pairs[0])
        r, c = divmod(int(rc[i]), self.C)
        d = int(bad_out[0])
        what, sr, sc = self.msg_what[int(msg[i]) % HOP]
        nr, nc = r + int(_DR[d]), c + int(_DC[d])
        where = (
            "leaves the fabric"
            if not (0 <= nr < self.fabric_rows and 0 <= nc < self.fabric_cols)
            else f"goes to {pe_str(nr, nc)}, which runs no part of the program"
        )
        raise RoutingError(
            f"a wavelet of color {self.colors[int(k[i])]} from {pe_str(sr, sc)} ({what}) {where}: "
            f"{pe_str(r, c)} sends it {PORTS[d].value}"
        )
