"""The network at plan time: router rules, route tracing, link timing and per-PE mailboxes.

Everything here runs once, when a program is planned (`compile_plan`), and works on whole sends
(all source PEs of a `pe.send` at once, as numpy arrays), never wavelet by wavelet.

Coordinates are (row, col) inside the program's bounding box, which is anchored at the fabric's
(0, 0). Ports: north = row - 1, south = row + 1, east = col + 1, west = col - 1, and the ramp to
the router's own PE. A wavelet leaving a router east arrives at the neighbour from its west port.

Links are directed: link (r, c, d) goes out of router (r, c) in direction d (N, S, E, W); its
hop distance `h` from the sender is the number of links the wavelet crossed before it.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np

from pyflame.core.errors import RoutingError
from pyflame.core.vector_costs import path_capacity_wavelets
from pyflame.dialects.pe import Port

#: the router's ports in index order (pe.Port lists them in this order)
PORTS = tuple(Port)
NORTH, SOUTH, EAST, WEST, RAMP = range(5)
PORT_INDEX = {p: i for i, p in enumerate(PORTS)}
DIR_NAMES = PORTS[:4]
_DR = np.array([-1, 1, 0, 0], dtype=np.int64)
_DC = np.array([0, 0, 1, -1], dtype=np.int64)
#: the port a wavelet arrives on after leaving in direction d
_ARRIVES_ON = (SOUTH, NORTH, WEST, EAST)
_ARRIVES = np.array(_ARRIVES_ON, dtype=np.int64)
_BITS = np.arange(4, dtype=np.int64)
#: the way a wavelet arriving on port p goes straight on (arrived on the west port: east)
_STRAIGHT = np.array([SOUTH, NORTH, WEST, EAST], dtype=np.int64)
NO_RULE = -1
#: a trace crosses a run of routers that pass a wavelet straight on (and perhaps to their
#: PEs) in one step (False: hop by hop; tests/unit/sim/test_trace_runs.py compares the two)
STRAIGHT_RUNS = True
#: traces a RouteTable keeps (least recently used dropped first), and the bytes of their
#: arrays at most: a barrier on g x g PEs re-traces ~2g small column and row sets (chains)
#: after every route switch it orders, a SUMMA step one fabric-wide broadcast
TRACE_CACHE_ENTRIES = 4096
TRACE_CACHE_BYTES = 64 << 20
#: idle gaps a link keeps for transfers planned later (`Links.reserve`)
LINK_GAPS = 4
#: rounds of the search for a start at which every link of a message is idle
GAP_ROUNDS = 4
#: see Links.max_levels
MAX_CONFLICT_LEVELS = 256
_NEVER = np.iinfo(np.int64).max // 2
_GAP_SLOTS = np.arange(LINK_GAPS, dtype=np.int64)


def _order(src: np.ndarray, hop: np.ndarray, place: np.ndarray, places: int) -> np.ndarray:
    """The permutation sorting entries by (source, hop, place), place in [0, places)."""
    if src.size < 2:
        return np.arange(src.size)
    hops = int(hop.max()) + 1
    return np.argsort((src * hops + hop) * places + place, kind="stable")


def _first_shared_arrival(
    t: np.ndarray, l_src: np.ndarray, lid: np.ndarray, offs: np.ndarray, size: int
) -> np.ndarray:
    """Per message ready at t: when its head reaches the first of its links another message
    of the batch crosses too (t + ramp + hops there), or t when it shares none."""
    shared = _repeated(lid, size)
    at = np.full(t.size, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(at, l_src[shared], (t[l_src] + offs)[shared])
    return np.where(at == np.iinfo(np.int64).max, t, at)


def _repeated(values: np.ndarray, size: int) -> np.ndarray:
    """Which entries of `values` (ints in [0, size)) occur more than once: counted over
    `size` when the values are many, sorted when they are few (a barrier stage's 256 links
    on a 720 x 720 fabric: counting every link of the fabric per receive made the plan
    grow with the fabric times the receives)."""
    if values.size * 16 >= size:
        return np.bincount(values, minlength=size)[values] > 1
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    same = ordered[1:] == ordered[:-1]
    dup = np.zeros(values.size, dtype=bool)
    dup[1:] |= same
    dup[:-1] |= same
    out = np.empty(values.size, dtype=bool)
    out[order] = dup
    return out


def port_mask(ports) -> int:
    """Bit mask of output ports (bit i = PORTS[i])."""
    m = 0
    for p in ports:
        m |= 1 << PORT_INDEX[p]
    return m


def pe_str(r, c) -> str:
    return f"PE ({int(r)}, {int(c)})"


@dataclass
class Trace:
    """Where the wavelets of one send go, for every source PE `s` (0..k-1) of the send.

    deliveries: d_src, d_r, d_c, d_h (hop distance of the destination), d_port (the port
                the wavelets reach the destination's router on);
    links:      l_src, l_r, l_c, l_dir, l_h, l_port (the port the wavelets reach router
                (l_r, l_c) on before leaving it in direction l_dir). Both sorted by source."""

    k: int
    d_src: np.ndarray
    d_r: np.ndarray
    d_c: np.ndarray
    d_h: np.ndarray
    d_port: np.ndarray
    l_src: np.ndarray
    l_r: np.ndarray
    l_c: np.ndarray
    l_dir: np.ndarray
    l_h: np.ndarray
    l_port: np.ndarray
    #: the sources' multicast trees, made when first needed (`streams.fork_bounds`)
    forest: Any = None


def _trace_bytes(tr: Trace) -> int:
    """The bytes of a trace's own arrays: what the cache counts when the trace enters it and
    takes back when it leaves (its forest, made later when a multicast needs it, is not
    counted: about the size of the trace's link arrays)."""
    return sum(a.nbytes for a in vars(tr).values() if isinstance(a, np.ndarray))


def _empty(dtype=np.int64) -> np.ndarray:
    return np.zeros(0, dtype=dtype)


def _cat(parts: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(parts) if parts else _empty()


class RouteTable:
    """Per (router, color, input port): a set of output ports (bit mask), or no rule."""

    def __init__(self, rows: int, cols: int, fabric_rows: int, fabric_cols: int):
        self.R, self.C = rows, cols
        self.fabric_rows, self.fabric_cols = fabric_rows, fabric_cols
        self.rules: dict[int, np.ndarray] = {}
        self.version: dict[int, int] = {}
        #: per color: (version, straight runs) (`_runs`)
        self._runs: dict[int, tuple[int, np.ndarray]] = {}
        #: recent traces (a SUMMA step re-traces the same roots on a color after the others);
        #: bounded, because each holds arrays of the size of its deliveries and a grid side's
        #: worth of steps traces as many different source sets
        self._cache: OrderedDict[tuple, Trace] = OrderedDict()
        self._cache_bytes = 0
        #: when traffic passes each rule, and when replaced rules took effect
        self.uses = RuleUses(rows, cols)

    def _table(self, color: int) -> np.ndarray:
        t = self.rules.get(color)
        if t is None:
            t = self.rules[color] = np.full((self.R, self.C, 5), NO_RULE, dtype=np.int16)
            self.version[color] = 0
        return t

    def apply(
        self,
        color: int,
        rect,
        from_port: int,
        outputs: int,
        at: np.ndarray | None = None,
        what: str = "a pe.route",
    ) -> np.ndarray:
        """Set a rule on every router of `rect`; returns the (rows, cols) bool mask of routers
        where an existing, different rule was replaced (those pay a route switch). `at` (rows,
        cols) is when each router's switch takes effect: a switch while traffic that an earlier
        op routed through that (router, color, port) still passes is a RoutingError."""
        r0, c0, nr, nc = rect
        cur = self._table(color)[r0 : r0 + nr, c0 : c0 + nc, from_port]
        differs = cur != outputs
        switched = differs & (cur != NO_RULE)
        if switched.any() and at is not None:
            self.uses.switch(color, rect, from_port, switched, at, what)
        if differs.any():
            cur[...] = outputs
            self.version[color] += 1
        return switched

    def apply_cells(
        self,
        color: int,
        r: np.ndarray,
        c: np.ndarray,
        port: np.ndarray,
        mask: np.ndarray,
        clock: np.ndarray,
        switch_cycles: int,
        what: str,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Set the rules of many (router, input port) cells at once (a pe.routes; no cell
        twice), as consecutive pe.route ops would: each router's PE switches its replaced
        rules one after another, the k-th taking effect at `clock + k * switch_cycles`.
        Returns the switched cells' routers (r, c) (one entry per switch: each costs its PE
        `switch_cycles`)."""
        table = self._table(color)
        cur = table[r, c, port]
        differs = cur != mask
        switched = differs & (cur != NO_RULE)
        sr, sc = r[switched], c[switched]
        if sr.size:
            # the rank of each switch among its router's, in rule order
            flat = sr * self.C + sc
            order = np.argsort(flat, kind="stable")
            ordered = flat[order]
            i = np.arange(ordered.size)
            first = np.maximum.accumulate(np.where(np.r_[True, ordered[1:] != ordered[:-1]], i, 0))
            rank = np.empty_like(i)
            rank[order] = i - first + 1
            at = clock[sr, sc] + rank * switch_cycles
            self.uses.switch_cells(color, sr, sc, port[switched], at, what)
        if differs.any():
            table[r, c, port] = mask
            self.version[color] += 1
        return sr, sc

    # ------------------------------------------------------------------ tracing

    def trace(self, color: int, src_r: np.ndarray, src_c: np.ndarray, what: str) -> Trace:
        """Follow the rules from every source's ramp, hop by hop (a wavelet crosses a run of
        routers passing it straight on, and perhaps down to their PEs, in one step: the same
        links and deliveries; a wafer-wide exchange phase's paths are runs of hundreds of
        routers, a SUMMA step's row broadcasts runs of the grid's side). Links and deliveries
        are sorted by source, hop and router. Cached per (color, rules version, sources).
        Raises RoutingError (naming PEs and the color) for a missing rule, a wavelet leaving
        the fabric, or a router reached twice on the same input port (a loop)."""
        key = (color, self.version.get(color, -1), src_r.tobytes(), src_c.tobytes())
        hit = self._cache.get(key)
        if hit is not None:
            self._cache.move_to_end(key)
            return hit
        table = self.rules.get(color)
        rules = None if table is None else table.reshape(-1)  # by (row * C + col) * 5 + port
        runs = None if table is None or not STRAIGHT_RUNS else self._straight_runs(color, table)
        R, C = self.R, self.C
        k = len(src_r)
        fs = np.arange(k, dtype=np.int64)
        fr = src_r.astype(np.int64)
        fc = src_c.astype(np.int64)
        fp = np.full(k, RAMP, dtype=np.int64)
        fh = np.zeros(k, dtype=np.int64)
        D: list[tuple] = []
        L: list[tuple] = []
        #: (sources, router port) of every wavelet so far: a port reached twice by one
        #: source's wavelets is a loop (`_check_loops`)
        states: list[tuple[np.ndarray, np.ndarray]] = []
        steps, next_check = 0, 64

        def src_name(i) -> str:
            return pe_str(src_r[fs[i]], src_c[fs[i]])

        while fs.size:
            port = (fr * C + fc) * 5 + fp
            states.append((fs, port))
            if rules is None:
                rule = np.full(fs.size, NO_RULE, dtype=np.int64)
            else:
                rule = rules[port].astype(np.int64)
            bad = rule == NO_RULE
            if bad.any():
                i = int(np.argmax(bad))
                came = "its own PE (ramp)" if fp[i] == RAMP else f"its {PORTS[fp[i]]} port"
                raise RoutingError(
                    f"{what}: a wavelet on color {color} sent by {src_name(i)} reached the "
                    f"router of {pe_str(fr[i], fc[i])} from {came}, where no route is set for "
                    f"color {color} and that port"
                )
            to_ramp = (rule & (1 << RAMP)) != 0
            if to_ramp.any():
                D.append((fs[to_ramp], fr[to_ramp], fc[to_ramp], fh[to_ramp], fp[to_ramp]))
            if runs is not None:
                run = runs[port]
                jump = run > 1
            if runs is not None and jump.any():
                # a run of routers that each pass the wavelet straight on (a multicast's
                # routers also copy it to their PE): every hop of the run at once (the trace
                # is sorted into hop order at the end)
                n = run[jump]
                j = np.repeat(np.flatnonzero(jump), n)
                i = np.arange(j.size) - np.repeat(np.cumsum(n) - n, n)
                d = fp[j]  # straight on: leaving the way it travels (port index = direction)
                d = _STRAIGHT[d]
                s, r, c, h = fs[j], fr[j] + i * _DR[d], fc[j] + i * _DC[d], fh[j] + i
                L.append((s, r, c, d, h, fp[j]))
                inner = i > 0  # the run's first router is this step's (its ramp copy is in D)
                at = ((r * C + c) * 5 + fp[j])[inner]
                states.append((s[inner], at))
                assert rules is not None
                taps = (rules[at] & (1 << RAMP)) != 0
                if taps.any():
                    D.append(tuple(a[inner][taps] for a in (s, r, c, h, fp[j])))
                last = np.cumsum(n) - 1
                jr, jc, jd = r[last] + _DR[d[last]], c[last] + _DC[d[last]], d[last]
                js, jh = s[last], h[last] + 1  # (runs end inside the program's PEs)
                keep = ~jump
                rule, fs, fr, fc, fp, fh = (a[keep] for a in (rule, fs, fr, fc, fp, fh))
            else:
                js = None
            si, d = np.nonzero((rule[:, None] >> _BITS) & 1)
            s, r, c, h = fs[si], fr[si], fc[si], fh[si]
            L.append((s, r, c, d, h, fp[si]))
            r2, c2 = r + _DR[d], c + _DC[d]
            outside = (r2 < 0) | (c2 < 0) | (r2 >= R) | (c2 >= C)
            if outside.any():
                i = int(np.argmax(outside))
                self._leaves(color, src_r[s[i]], src_c[s[i]], r[i], c[i], d[i], what)
            fs, fr, fc, fp, fh = s, r2, c2, _ARRIVES[d], h + 1
            if js is not None:
                fs, fr, fc = (
                    np.concatenate([fs, js]),
                    np.concatenate([fr, jr]),
                    np.concatenate([fc, jc]),
                )
                fp, fh = np.concatenate([fp, _ARRIVES[jd]]), np.concatenate([fh, jh])
            steps += 1
            if steps >= next_check:
                self._check_loops(states, color, src_r, src_c, what)
                next_check *= 2
        self._check_loops(states, color, src_r, src_c, what)

        def cols(parts, n):
            return [_cat([p[j] for p in parts]) for j in range(n)]

        d_src, d_r, d_c, d_h, d_port = cols(D, 5)
        l_src, l_r, l_c, l_dir, l_h, l_port = cols(L, 6)
        # one order however the trace was found (hop by hop, or runs at once): by source,
        # then hop, then router (and direction)
        od = _order(d_src, d_h, d_r * C + d_c, R * C)
        ol = _order(l_src, l_h, (l_r * C + l_c) * 4 + l_dir, R * C * 4)
        tr = Trace(
            k,
            d_src[od],
            d_r[od],
            d_c[od],
            d_h[od],
            d_port[od],
            l_src[ol],
            l_r[ol],
            l_c[ol],
            l_dir[ol],
            l_h[ol],
            l_port[ol],
        )
        self._cache[key] = tr
        self._cache_bytes += _trace_bytes(tr)
        while len(self._cache) > 1 and (
            len(self._cache) > TRACE_CACHE_ENTRIES or self._cache_bytes > TRACE_CACHE_BYTES
        ):
            self._cache_bytes -= _trace_bytes(self._cache.popitem(last=False)[1])
        return tr

    def _straight_runs(self, color: int, table: np.ndarray) -> np.ndarray:
        """Per (router, input port), flat like the rules: how many routers in a row, from this
        one on, pass wavelets arriving on that port straight on, and perhaps to their own PE
        too, but nowhere else (0 where this one does not), stopping short of the program's
        edge (a wavelet leaving the program's PEs is found hop by hop, with its error). Cached
        per rules version."""
        version = self.version.get(color, -1)
        hit = self._runs.get(color)
        if hit is not None and hit[0] == version:
            return hit[1]
        R, C = self.R, self.C
        out = np.zeros((R, C, 5), dtype=np.int64)
        rows, cols = np.arange(R)[:, None], np.arange(C)[None, :]
        for port in (NORTH, SOUTH, EAST, WEST):
            d = int(_STRAIGHT[port])
            straight = (table[:, :, port] & ~(1 << RAMP)) == (1 << d)  # (and its PE, maybe)
            if not straight.any():
                continue
            if d in (EAST, WEST):  # along each row
                pos = np.where(straight, C, cols)  # a position that stops a run: itself
                if d == EAST:  # the first stop at or after each column
                    stop = np.minimum.accumulate(pos[:, ::-1], axis=1)[:, ::-1]
                    out[:, :, port] = np.where(straight, np.minimum(stop, C - 1) - cols, 0)
                else:  # the last stop at or before each column
                    pos = np.where(straight, -1, cols)
                    stop = np.maximum.accumulate(pos, axis=1)
                    out[:, :, port] = np.where(straight, cols - np.maximum(stop, 0), 0)
            else:
                pos = np.where(straight, R, rows)
                if d == SOUTH:
                    stop = np.minimum.accumulate(pos[::-1, :], axis=0)[::-1, :]
                    out[:, :, port] = np.where(straight, np.minimum(stop, R - 1) - rows, 0)
                else:
                    pos = np.where(straight, -1, rows)
                    stop = np.maximum.accumulate(pos, axis=0)
                    out[:, :, port] = np.where(straight, rows - np.maximum(stop, 0), 0)
        flat = out.reshape(-1)
        self._runs[color] = (version, flat)
        return flat

    def _leaves(self, color, sr, sc, r, c, d, what) -> None:
        r2, c2 = r + _DR[d], c + _DC[d]
        origin = pe_str(sr, sc)
        if r2 < 0 or c2 < 0 or r2 >= self.fabric_rows or c2 >= self.fabric_cols:
            raise RoutingError(
                f"{what}: a wavelet on color {color} sent by {origin} leaves the "
                f"fabric going {DIR_NAMES[d]} from {pe_str(r, c)}"
            )
        raise RoutingError(
            f"{what}: a wavelet on color {color} sent by {origin} goes "
            f"{DIR_NAMES[d]} from {pe_str(r, c)} to {pe_str(r2, c2)}, "
            f"which runs no part of the program and has no route for color {color}"
        )

    def _check_loops(self, states, color, src_r, src_c, what) -> None:
        # a state seen twice is a router port seen twice: count the ports first (linear in the
        # states and the PEs) and sort only the states at ports reached more than once
        ports = self.R * self.C * 5
        place = np.concatenate([p for _, p in states])
        again = _repeated(place, ports)
        if not again.any():
            return
        keys = np.concatenate([s for s, _ in states])[again] * ports + place[again]
        u, counts = np.unique(keys, return_counts=True)
        if (counts > 1).any():
            key = int(u[np.argmax(counts > 1)])
            p = key % 5
            key //= 5
            c = key % self.C
            key //= self.C
            r = key % self.R
            s = key // self.R
            raise RoutingError(
                f"{what}: routing loop on color {color}: a wavelet sent by "
                f"{pe_str(src_r[s], src_c[s])} reaches the router of {pe_str(r, c)} twice "
                f"from its {PORTS[p]} port"
            )


class RuleUses:
    """When wavelets pass each (router, color, input port), and when a replaced rule took
    effect: the order between route switches and traffic.

    A PE switches its own router's rule when it reaches the `pe.route` (as on the machine, where
    a PE reconfigures its router at run time); nothing else orders the switch with traffic that
    other PEs send through that router. A switch that takes effect while a message an earlier
    op routed through that port is still passing would misroute the message's rest; a message
    whose head reaches a port before the switch that its op relies on would be routed by the
    old rule. Both are RoutingErrors naming the PE, the color and the cycles. Traffic times are
    the streams' unstalled times (a stream slowed by back-pressure passes later than recorded),
    so a race hidden behind a stall is not seen here (the wavelet engine sees it)."""

    def __init__(self, rows: int, cols: int):
        self.R, self.C = rows, cols
        self.names: list[str] = []
        #: per color: (R, C, 5) cycle the last known wavelet leaves the port, and who sent it
        self.until: dict[int, np.ndarray] = {}
        self.until_what: dict[int, np.ndarray] = {}
        #: per color: (R, C, 5) cycle the port's current rule took effect (0: at load), and who
        self.since: dict[int, np.ndarray] = {}
        self.since_what: dict[int, np.ndarray] = {}

    def _name(self, what: str) -> int:
        if not self.names or self.names[-1] != what:
            self.names.append(what)
        return len(self.names) - 1

    def switch(self, color, rect, port: int, switched: np.ndarray, at: np.ndarray, what) -> None:
        r0, c0, nr, nc = rect
        at = np.broadcast_to(np.asarray(at, dtype=np.int64), (nr, nc))
        until = self.until.get(color)
        if until is not None:
            busy = until[r0 : r0 + nr, c0 : c0 + nc, port]
            late = switched & (busy > at)
            if late.any():
                i, j = np.argwhere(late)[0]
                self._misroute(what, color, r0 + i, c0 + j, port, at[i, j], busy[i, j])
        self._since_of(color)
        sl = (slice(r0, r0 + nr), slice(c0, c0 + nc), port)
        self.since[color][sl] = np.where(switched, at, self.since[color][sl])
        self.since_what[color][sl] = np.where(
            switched, self._name(what), self.since_what[color][sl]
        )

    def _misroute(self, what, color: int, r, c, port, at, busy) -> None:
        """A switch while another channel's wavelets still pass the port."""
        sent = self.names[int(self.until_what[color][r, c, port])]
        raise RoutingError(
            f"{what}: {pe_str(r, c)} switches its router's rule for color "
            f"{color} (from its {PORTS[int(port)]} port) at cycle {int(at)}, while "
            f"wavelets of {sent} still pass that port until cycle {int(busy)}: "
            "the switch would misroute them (order the switch after that traffic, or "
            "give the two a different color each)"
        )

    def _since_of(self, color: int) -> None:
        """The per-(router, port) switch times of `color`, made on first use."""
        if color not in self.since:
            self.since[color] = np.zeros((self.R, self.C, 5), dtype=np.int64)
            self.since_what[color] = np.zeros((self.R, self.C, 5), dtype=np.int32)

    def switch_cells(self, color, r, c, port, at: np.ndarray, what) -> None:
        """`switch` for single (router, input port) cells, each taking effect at `at`."""
        until = self.until.get(color)
        if until is not None:
            busy = until[r, c, port]
            late = busy > at
            if late.any():
                j = int(np.argmax(late))
                self._misroute(what, color, r[j], c[j], port[j], at[j], busy[j])
        self._since_of(color)
        self.since[color][r, c, port] = at
        self.since_what[color][r, c, port] = self._name(what)

    def traffic(self, color: int, tr: Trace, head: np.ndarray, cyc: np.ndarray, links, what):
        """Message i of `tr` leaves its sender's ramp from cycle head[i] for cyc[i] cycles."""
        ramp, hop = links.ramp, links.hop
        r = np.concatenate([tr.l_r, tr.d_r])
        c = np.concatenate([tr.l_c, tr.d_c])
        p = np.concatenate([tr.l_port, tr.d_port])
        src = np.concatenate([tr.l_src, tr.d_src])
        first = head[src] + ramp + np.concatenate([tr.l_h, tr.d_h]) * hop
        since = self.since.get(color)
        if since is not None:
            early = first < since[r, c, p]
            if early.any():
                j = int(np.argmax(early))
                switch = self.names[int(self.since_what[color][r[j], c[j], p[j]])]
                raise RoutingError(
                    f"{what}: a wavelet on color {color} reaches the router of "
                    f"{pe_str(r[j], c[j])} (from its {PORTS[p[j]]} port) at cycle "
                    f"{int(first[j])}, before the rule it needs takes effect there at cycle "
                    f"{int(since[r[j], c[j], p[j]])} ({switch}): the old rule would route it "
                    "(order the send after the switch, or use another color)"
                )
        if color not in self.until:
            self.until[color] = np.zeros((self.R, self.C, 5), dtype=np.int64)
            self.until_what[color] = np.zeros((self.R, self.C, 5), dtype=np.int32)
        last = first + cyc[src]
        until = self.until[color]
        later = last > until[r, c, p]
        if later.any():
            np.maximum.at(until, (r, c, p), last)
            self.until_what[color][r[later], c[later], p[later]] = self._name(what)


def child_routers(r: np.ndarray, c: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The router that link (r, c, d) leads to."""
    return r + _DR[d], c + _DC[d]


def conflict_levels(
    order: np.ndarray, l_src: np.ndarray, lid: np.ndarray, k: int, max_levels: int
) -> np.ndarray | None:
    """Per message (k of them, taken in `order`; link entries `lid` of message `l_src`,
    sorted by message): 0 when no message before it uses one of its links, else one more than
    the highest level of the messages before it on its links (the latest on each link is
    enough: the one before that is lower). Messages of one level share no link. None when
    there are more than `max_levels` levels (the caller goes one message at a time)."""
    pos = np.empty(k, dtype=np.int64)
    pos[order] = np.arange(k)
    chain = np.lexsort((pos[l_src], lid))  # each link's entries in processing order
    same = lid[chain[1:]] == lid[chain[:-1]]
    before = np.full(lid.size, -1, dtype=np.int64)
    before[chain[1:][same]] = l_src[chain[:-1][same]]  # the message before, on that link
    has = before >= 0
    starts = np.flatnonzero(np.r_[True, l_src[1:] != l_src[:-1]])
    owners = l_src[starts]
    level = np.zeros(k, dtype=np.int64)
    for _ in range(max_levels + 1):  # longest paths, a level per round
        cand = np.where(has, level[np.maximum(before, 0)] + 1, 0)
        new = np.zeros(k, dtype=np.int64)
        new[owners] = np.maximum.reduceat(cand, starts)
        if np.array_equal(new, level):
            return level
        level = new
    return None


class Links:
    """Occupancy of every directed link: when it is next free, its largest idle gaps before
    then, and how many wavelets crossed it."""

    def __init__(self, rows: int, cols: int, target):
        self.R, self.C = rows, cols
        self.free_at = np.zeros(rows * cols * 4, dtype=np.int64)
        #: up to LINK_GAPS idle gaps [gap_from, gap_to) per link before `free_at` that a
        #: transfer planned later may still use (the planner plans in program order, not in
        #: time order: a later op's early message goes before an earlier op's late one if it
        #: fits); an empty gap is [0, 0)
        self.gap_from = np.zeros((rows * cols * 4, LINK_GAPS), dtype=np.int64)
        self.gap_to = np.zeros((rows * cols * 4, LINK_GAPS), dtype=np.int64)
        self.wavelets = np.zeros(rows * cols * 4, dtype=np.int64)
        self.ramp = int(target.ramp_latency_cycles)
        self.hop = int(target.hop_latency_cycles)
        self.bw = int(target.link_wavelets_per_cycle)
        self.target = target
        #: most conflict levels a batch of messages sharing links is reserved a level at a
        #: time in (`stream`); more: one message at a time
        self.max_levels = MAX_CONFLICT_LEVELS

    def earliest(self, lid: np.ndarray, t: np.ndarray, cyc: np.ndarray) -> np.ndarray:
        """Per entry, the first cycle x >= t at which link lid is idle for [x, x + cyc): in
        one of its gaps if the whole interval fits there, else from `free_at` on."""
        t = np.broadcast_to(t, lid.shape)
        cyc = np.broadcast_to(cyc, lid.shape)
        x = np.maximum(t[:, None], self.gap_from[lid])
        x = np.where(x + cyc[:, None] <= self.gap_to[lid], x, _NEVER).min(axis=1)
        return np.minimum(x, np.maximum(t, self.free_at[lid]))

    def idle(self, lid: np.ndarray, x: np.ndarray, cyc: np.ndarray) -> np.ndarray:
        """Whether link lid is idle for [x, x + cyc)."""
        x = np.broadcast_to(x, lid.shape)
        cyc = np.broadcast_to(cyc, lid.shape)
        gap = (x[:, None] >= self.gap_from[lid]) & ((x + cyc)[:, None] <= self.gap_to[lid])
        return gap.any(axis=1) | (x >= self.free_at[lid])

    def reserve(self, lid: np.ndarray, x: np.ndarray, cyc: np.ndarray) -> None:
        """Links lid (distinct) carry a transfer in [x, x + cyc), which `idle` allows. After
        `free_at`: the idle time before it becomes a gap (when there is some); inside a gap:
        the gap splits in two. A new gap takes the place of the smallest one if it is larger
        (a link keeps its LINK_GAPS largest)."""
        x = np.broadcast_to(x, lid.shape)
        end = x + np.broadcast_to(cyc, lid.shape)
        free = self.free_at[lid]
        after = x >= free
        if after.all():  # the common case: no gap used, perhaps a new one
            self.free_at[lid] = end
            new = np.flatnonzero(x > free)
            if new.size:
                self._add_gaps(lid[new], free[new], x[new])
            return
        g0, g1 = self.gap_from[lid], self.gap_to[lid]
        inside = (x[:, None] >= g0) & (end[:, None] <= g1) & ~after[:, None]
        rows = np.flatnonzero(~after)
        j = np.argmax(inside[rows], axis=1)
        # the gap it falls in keeps its left part, its right part is a new gap
        right_end = g1[rows, j]
        self.gap_to[lid[rows], j] = x[rows]
        self.free_at[lid] = np.where(after, end, free)
        nf = np.where(after, free, end)
        nt = np.where(after, x, 0)
        nt[rows] = right_end
        put = nt > nf
        if put.any():
            self._add_gaps(lid[put], nf[put], nt[put])

    def _add_gaps(self, lid: np.ndarray, g0: np.ndarray, g1: np.ndarray) -> None:
        """Gaps [g0, g1) on links lid (distinct), each in place of the link's smallest gap if
        it is larger."""
        cell = lid[:, None] * LINK_GAPS + _GAP_SLOTS  # into the flat (links * LINK_GAPS)
        gf, gt = self.gap_from.reshape(-1), self.gap_to.reshape(-1)
        size = gt.take(cell) - gf.take(cell)
        k = size.argmin(axis=1)
        rows = np.arange(lid.size)
        put = (g1 - g0) > size[rows, k]
        at = cell[rows[put], k[put]]
        gf[at] = g0[put]
        gt[at] = g1[put]

    def stream(self, t, w, l_src, l_r, l_c, l_dir, l_h) -> np.ndarray:
        """Messages i = 0..k-1 (k = len(t)), message i ready at t[i] with w[i] wavelets, over
        the given links (sorted by message). The head enters link l at
        start + ramp + h_l * hop; a message starts when all its links are idle for it
        (`_start`). Returns start times (k,)."""
        t = np.asarray(t, dtype=np.int64)
        k = t.size
        w = np.broadcast_to(np.asarray(w, dtype=np.int64), (k,))
        cyc = -(-w // self.bw)
        lid = (l_r * self.C + l_c) * 4 + l_dir
        offs = self.ramp + l_h * self.hop
        start = t.copy()
        if lid.size == 0:
            return start
        if not _repeated(lid, self.free_at.size).any():  # no link shared
            start = self._start(t, cyc, l_src, lid, offs)
            self.reserve(lid, start[l_src] + offs, cyc[l_src])
            np.add.at(self.wavelets, lid, w[l_src])
            return start
        # links shared between messages of this batch: one message at a time, the one whose
        # head reaches its first shared link first (ties: message order), as the routers grant
        # a link to the head that arrives; messages of one conflict level share no link and
        # depend only on lower levels, so a level at a time is the same (an exchange phase of
        # 720x720 -> 750x750 PEs: 48k messages, 2-4 levels)
        order = np.lexsort(
            (np.arange(k), _first_shared_arrival(t, l_src, lid, offs, self.free_at.size))
        )
        levels = conflict_levels(order, l_src, lid, k, self.max_levels)
        if levels is None:
            bounds = np.searchsorted(l_src, np.arange(k + 1))
            zero = np.zeros(1, dtype=np.int64)
            for i in order:
                a, b = bounds[i], bounds[i + 1]
                if a == b:
                    continue
                ids, o, c = lid[a:b], offs[a:b], cyc[i : i + 1]
                start[i] = self._start(t[i : i + 1], c, zero[np.zeros(b - a, int)], ids, o)[0]
                self.reserve(ids, start[i] + o, c[0])
        else:
            pair_level = levels[l_src]
            by = np.argsort(pair_level, kind="stable")  # each level's links, message order
            cuts = np.searchsorted(pair_level[by], np.arange(int(levels.max()) + 2))
            for lo, hi in itertools.pairwise(cuts.tolist()):
                sel = by[lo:hi]
                msgs, local = np.unique(l_src[sel], return_inverse=True)
                ids, o, c = lid[sel], offs[sel], cyc[msgs]
                start[msgs] = got = self._start(t[msgs], c, local, ids, o)
                self.reserve(ids, got[local] + o, c[local])
        np.add.at(self.wavelets, lid, w[l_src])
        return start

    def _start(self, t, cyc, l_src, lid, offs) -> np.ndarray:
        """Start times of messages ready at t, each over its links (no link twice): the
        earliest at which every link is idle for the message's cycles, searching the links'
        gaps (a few rounds: each link's earliest idle time from the latest start so far), or
        else once every link is past its `free_at`:
        start = max(t, max_l free_at[l] - ramp - h_l * hop)."""
        after = t.copy()
        np.maximum.at(after, l_src, self.free_at[lid] - offs)
        wait = after > t
        if not wait.any():
            return after
        on = wait[l_src]
        src, ids, o, c = l_src[on], lid[on], offs[on], cyc[l_src[on]]
        s = t.copy()
        for _ in range(GAP_ROUNDS):
            nxt = s.copy()
            np.maximum.at(nxt, src, self.earliest(ids, s[src] + o, c) - o)
            if (nxt == s).all():
                break
            s = nxt
        fits = wait.copy()
        np.logical_and.at(fits, src, self.idle(ids, s[src] + o, c))
        return np.where(fits & (s < after), s, after)

    def drain_parked(
        self,
        tr: Trace,
        start: np.ndarray,
        w: np.ndarray,
        begin: np.ndarray,
        left: np.ndarray | None = None,
    ) -> np.ndarray:
        """Messages of `tr` (one destination each) whose receiver begins draining (`begin`,
        per delivery) after the head arrived: their wavelets wait in the path's queues (the
        destination's input queue, then one router queue per router back from it, then at the
        source) and cross the links between as they drain, one per cycle. Messages to one
        destination share its queues on the color of `tr`: they merge into one stream (a
        router's output is held by one message from head to tail), in the order their heads
        arrive, so a message waits behind the ones before it. Drains that share links cross
        them one after another (a link carries one wavelet per cycle whatever the color).
        Returns, per delivery, when its last wavelet has reached the destination's queue (0
        where nothing was parked), and reserves the links for those drains. `left` (per
        delivery, if given) gets when the message's last wavelet left its source, where the
        path could not hold it (the source stalls until then; 0 elsewhere): `(h + 1) *
        router_queue` wavelets drained before it reached the destination's queue."""
        ends = np.zeros(tr.d_src.size, dtype=np.int64)
        single = np.bincount(tr.d_src, minlength=tr.k) == 1  # one destination per message
        if tr.l_src.size == 0 or not single.any():
            return ends
        head = start[tr.d_src] + self.latency(tr.d_h)
        # wavelets that would have reached the destination by its begin: they wait
        queued = np.where(single[tr.d_src], np.clip(begin - head, 0, w[tr.d_src]), 0)
        ce_q, rq = int(self.target.ce_queue_wavelets), int(self.target.router_queue_wavelets)
        # the merged stream: per destination, messages in the order their heads arrive
        # (ties: message order); `ahead` = the wavelets queued before a message
        dest = tr.d_r * self.C + tr.d_c
        order = np.lexsort((tr.d_src, head, dest))
        rank = np.empty_like(order)
        rank[order] = np.arange(order.size)
        qs = queued[order]
        csum = np.cumsum(qs)
        new = np.r_[True, dest[order][1:] != dest[order][:-1]]
        base = np.repeat((csum - qs)[new], np.diff(np.r_[np.flatnonzero(new), qs.size]))
        ahead = (csum - qs - base)[rank]
        if not (ahead + queued > ce_q + rq).any():
            return ends
        deliv_of = np.full(tr.k, -1, dtype=np.int64)
        deliv_of[tr.d_src] = np.arange(tr.d_src.size)
        e_d = deliv_of[tr.l_src]  # each link entry's delivery
        dist = tr.d_h[e_d] - tr.l_h  # 1: the link into the destination's router
        # the message's wavelets that wait beyond the link: those whose place in the merged
        # stream is past the queues between the link and the destination
        behind = np.minimum(queued[e_d], ahead[e_d] + queued[e_d] - ce_q - dist * rq)
        keep = np.flatnonzero((e_d >= 0) & (behind > 0))
        # grouped by delivery; deliveries in the order they drain (begin, then merged order)
        keep = keep[np.lexsort((rank[e_d[keep]], begin[e_d[keep]]))]
        e_d, dist, behind = e_d[keep], dist[keep], behind[keep]
        lid = ((tr.l_r * self.C + tr.l_c) * 4 + tr.l_dir)[keep]
        if not _repeated(lid, self.free_at.size).any():  # no link shared
            go = self.earliest(lid, begin[e_d], behind)
            self.reserve(lid, go, behind)
            np.maximum.at(ends, e_d, go + behind + dist * self.hop)
        else:
            # one drain after another; each waits for the links its wavelets cross
            cut = np.flatnonzero(np.r_[True, e_d[1:] != e_d[:-1], True])
            for a, b in zip(cut[:-1].tolist(), cut[1:].tolist(), strict=True):
                ids = lid[a:b]
                go = self.earliest(ids, begin[e_d[a]], behind[a:b])
                self.reserve(ids, go, behind[a:b])
                ends[e_d[a]] = int((go + behind[a:b] + dist[a:b] * self.hop).max())
        if left is not None:
            stalled = (ahead + queued > path_capacity_wavelets(self.target, tr.d_h)) & (ends > 0)
            left[...] = np.where(stalled, ends - (tr.d_h + 1) * rq, 0)
        return ends

    def latency(self, d_h) -> np.ndarray:
        """Cycles from a stream's start to its head reaching a destination's input queue at
        hop distance d_h (up the sender's ramp, d_h hops, down the receiver's ramp)."""
        return 2 * self.ramp + np.asarray(d_h, dtype=np.int64) * self.hop

    def arrival(self, start, w, d_src, d_h) -> np.ndarray:
        """When the tail of message d_src reaches (and leaves the ramp of) a destination at
        hop distance d_h."""
        w = np.broadcast_to(np.asarray(w, dtype=np.int64), (np.size(start),))
        cyc = -(-w // self.bw)
        return start[d_src] + 2 * self.ramp + d_h * self.hop + cyc[d_src]

    def per_router(self) -> np.ndarray:
        """Wavelets out of every router, (rows, cols, 4) in N, S, E, W order."""
        return self.wavelets.reshape(self.R, self.C, 4).copy()


class Mailboxes:
    """Per (PE, color): a FIFO of delivered messages, each (batch id, index in batch)."""

    def __init__(self, rows: int, cols: int):
        self.R, self.C = rows, cols
        self.boxes: dict[int, dict[str, np.ndarray]] = {}
        #: per color, how many pushes it has had: a receive found not ready is looked at
        #: again only after its color's count moved (only a push makes a receive ready)
        self.pushes: dict[int, int] = {}

    def _box(self, color: int) -> dict[str, np.ndarray]:
        b = self.boxes.get(color)
        if b is None:
            shape = (self.R, self.C)
            b = self.boxes[color] = {
                "head": np.zeros(shape, dtype=np.int64),
                "tail": np.zeros(shape, dtype=np.int64),
                "batch": np.zeros(shape + (2,), dtype=np.int64),
                "index": np.zeros(shape + (2,), dtype=np.int64),
            }
        return b

    def _compact(self, b) -> None:
        head = b["head"]
        depth = b["batch"].shape[2]
        pos = np.minimum(head[..., None] + np.arange(depth), depth - 1)
        for name in ("batch", "index"):
            b[name] = np.take_along_axis(b[name], pos, axis=2)
        b["tail"] -= head
        head[...] = 0

    def push(
        self,
        color: int,
        dr: np.ndarray,
        dc: np.ndarray,
        batch: int,
        idx: np.ndarray,
        head: np.ndarray | None = None,
    ):
        """Deliver messages (batch, idx[i]) to PEs (dr[i], dc[i]): several to one PE in the
        order their heads arrive (`head`; ties, and without it, in the given order), as the
        PE's input queue takes them."""
        if dr.size == 0:
            return
        b = self._box(color)
        self.pushes[color] = self.pushes.get(color, 0) + 1
        key = dr * self.C + dc
        starts: Any
        if key.size * 16 >= self.R * self.C and np.bincount(key).max() == 1:
            # one message per PE (a broadcast's deliveries): no order to find
            starts, counts, rank = slice(None), 1, 0
        else:
            if head is None:
                order = np.argsort(key, kind="stable")
            else:
                order = np.lexsort((head, key))  # stable: ties keep the given order
            key, dr, dc, idx = key[order], dr[order], dc[order], idx[order]
            new = np.r_[True, key[1:] != key[:-1]]
            starts = np.flatnonzero(new)
            counts = np.diff(np.r_[starts, key.size])
            rank = np.arange(key.size) - np.repeat(starts, counts)
        pos = b["tail"][dr, dc] + rank
        depth = b["batch"].shape[2]
        if pos.max() >= depth:
            self._compact(b)
            pos = b["tail"][dr, dc] + rank
            if pos.max() >= depth:
                grow = max(2 * depth, int(pos.max()) + 1)
                for name in ("batch", "index"):
                    a = np.zeros((self.R, self.C, grow), dtype=np.int64)
                    a[:, :, :depth] = b[name]
                    b[name] = a
        b["batch"][dr, dc, pos] = batch
        b["index"][dr, dc, pos] = idx
        b["tail"][dr[starts], dc[starts]] += counts

    def waiting(self, color: int, rect, count: int = 1) -> np.ndarray:
        """(rows, cols) bool: PEs of rect with at least `count` messages on color."""
        r0, c0, nr, nc = rect
        b = self.boxes.get(color)
        if b is None:
            return np.zeros((nr, nc), dtype=bool)
        sl = (slice(r0, r0 + nr), slice(c0, c0 + nc))
        return b["tail"][sl] - b["head"][sl] >= count

    def oldest_at(self, color: int, dr: np.ndarray, dc: np.ndarray) -> tuple[int, int, int] | None:
        """(k, batch, index): the first of PEs (dr[k], dc[k]) with a message waiting on
        `color`, and that PE's oldest message; None when none has one."""
        b = self.boxes.get(color)
        if b is None or dr.size == 0:
            return None
        left = b["tail"][dr, dc] > b["head"][dr, dc]
        if not left.any():
            return None
        k = int(np.argmax(left))
        h = b["head"][dr[k], dc[k]]
        return k, int(b["batch"][dr[k], dc[k], h]), int(b["index"][dr[k], dc[k], h])

    def pop(self, color: int, rect) -> tuple[np.ndarray, np.ndarray]:
        """Take the oldest message of every PE of rect (all must have one)."""
        r0, c0, nr, nc = rect
        b = self.boxes[color]
        sl = (slice(r0, r0 + nr), slice(c0, c0 + nc))
        h = b["head"][sl]
        # (plain fancy indexing: take_along_axis built its index arrays in Python, 8% of a
        # 2.5D SUMMA's plan of ~50,000 one-row receives)
        at = (np.arange(r0, r0 + nr)[:, None], np.arange(c0, c0 + nc)[None, :], h)
        batch, index = b["batch"][at], b["index"][at]
        b["head"][sl] += 1
        return batch, index

    def leftovers(self):
        """[(color, row, col, batch, index)] of the first undelivered message per color."""
        out = []
        for color, b in sorted(self.boxes.items()):
            left = b["tail"] > b["head"]
            if left.any():
                r, c = np.argwhere(left)[0]
                h = b["head"][r, c]
                out.append(
                    (
                        color,
                        int(r),
                        int(c),
                        int(b["batch"][r, c, h]),
                        int(b["index"][r, c, h]),
                        int(left.sum()),
                    )
                )
        return out
