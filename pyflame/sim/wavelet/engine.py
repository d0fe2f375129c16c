"""One wavelet-level run: every PE runs its ops in program order on its own clock, and every
wavelet of every message goes through the router and CE queues (pyflame/sim/wavelet/network.py).

The run is a loop over cycles `t`. At each cycle: every PE whose clock has reached `t` issues
its next ops (PEs at the same op together: one numpy step over them); then the network moves
one cycle: running receives take one wavelet each from their CE queue, routers forward queue
heads, running sends inject one wavelet each into their router's ramp queue. When nothing moved
and no PE issued, the clock jumps to the next event (a PE's clock, a wavelet's arrival, a
stream's start), so long computations cost nothing to simulate.

Timing, as docs/simulator.md specifies it for both engines (c = vector_issue_cycles): a send
streams from `clock + c`, one wavelet per cycle into its router when there is room; a
synchronous send ends when its last wavelet left, an asynchronous one leaves the PE at
`clock + c` and completes its token then. A receive takes wavelets from `clock + c`; it
completes one cycle after its last wavelet (a combining receive not before its first wavelet
plus its combine cycles); a synchronous receive then wakes its PE `task_activation_cycles`
later, an asynchronous one completes its token, and `pe.wait` sets the PE's clock to the last
completion plus `task_activation_cycles`. Each PE's output ramp carries one send at a time and
its input ramp one receive at a time, in program order.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import numpy as np

from pyflame.core import reductions
from pyflame.core.errors import PyFlameError, SimulationError
from pyflame.core.route_rules import rule_array
from pyflame.dialects import pe
from pyflame.sim import costs
from pyflame.sim.fabric import NO_RULE, PORT_INDEX, RAMP, port_mask
from pyflame.sim.int32_checks import I32, as_int32
from pyflame.sim.planner import PHASE_OF
from pyflame.sim.report import Report
from pyflame.sim.timeline import Timeline
from pyflame.sim.wavelet import exchange
from pyflame.sim.wavelet.network import HOP, Network
from pyflame.sim.wavelet.outcome import DONE, check_sizes, report_of, stuck
from pyflame.sim.wavelet.program import WaveletProgram


class WaveletRun:
    """The state of one run of a `WaveletProgram` on arguments `A` (checked)."""

    def __init__(self, prog: WaveletProgram, A: list):
        self.prog, self.A = prog, A
        t = prog.target
        R, C, B = prog.R, prog.C, prog.B
        n = R * C
        self.sram = np.zeros((R, C, B), dtype=np.uint8)
        self.V = self._views(self.sram)
        self.O: list[Any] = [None] * prog.num_outputs
        self.net = Network(R, C, prog.colors, t)
        self.c = int(t.vector_issue_cycles)
        self.act = costs.task_activation_cycles(t)
        self.clock = np.zeros(n, dtype=np.int64)
        self.busy = np.zeros(n, dtype=np.int64)
        self.used = np.zeros(n, dtype=bool)
        self.blocked = np.zeros(n, dtype=bool)
        self.blocked_on = np.full(n, -1, dtype=np.int64)  # the item a blocked PE waits in
        self.issued_at = np.zeros(n, dtype=np.int64)
        self.pc = np.zeros(n, dtype=np.int64)
        self.cur = np.array([p[0] if p else DONE for p in prog.pe_items], dtype=np.int64)
        self.flops = prog.flops
        # streams (one per send or recv op and PE), numbered by the program
        ns, nw = prog.n_streams, prog.n_words
        self.words = np.zeros(max(nw, 1), dtype=np.uint32)
        self.s_pe = np.zeros(ns, dtype=np.int64)
        self.s_k = np.zeros(ns, dtype=np.int64)
        self.s_base = np.zeros(ns, dtype=np.int64)
        self.s_len = np.zeros(ns, dtype=np.int64)
        #: messages a stream takes one after another (a gathering receive's; else 1)
        self.s_parts = np.ones(ns, dtype=np.int64)
        self.s_pos = np.zeros(ns, dtype=np.int64)
        self.s_start = np.zeros(ns, dtype=np.int64)
        self.s_first = np.zeros(ns, dtype=np.int64)
        self.s_msg = np.full(ns, -1, dtype=np.int64)
        self.s_item = np.zeros(ns, dtype=np.int64)
        #: words of a stream ready to inject (all of a send's; a forwarding receive's as they
        #: come in), and the cycle each word may leave (a forwarded word: ce_forward_cycles
        #: after it came in)
        self.s_avail = np.zeros(ns, dtype=np.int64)
        self.w_time = np.zeros(max(nw, 1), dtype=np.int64)
        self.fwd_of = np.full(ns, -1, dtype=np.int64)  # a receive stream's outgoing stream
        #: streams left of a forwarding receive or an exchange phase per (item, PE):
        #: [streams, latest end, cycles from that end until the PE goes on]
        self.parts: dict[tuple[int, int], list[int]] = {}
        #: an exchange phase's messages: message id -> (item, message of the phase)
        self.exchange_msg: dict[int, tuple[int, int]] = {}
        self.s_first_msg = np.zeros(ns, dtype=np.int64)  # the phase message a receive took
        self.out_ramp = np.full(n, -1, dtype=np.int64)  # the send stream a PE injects
        self.in_ramp = np.full(n, -1, dtype=np.int64)  # the receive stream a PE drains
        self.out_fifo: list[deque[int]] = [deque() for _ in range(n)]
        self.in_fifo: list[deque[int]] = [deque() for _ in range(n)]
        #: per send/recv item with a token: completion cycle per PE (-1: not yet)
        self.done_at: dict[int, np.ndarray] = {}
        self.snapshots: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self.timeline = Timeline(row=R // 2)
        #: the earliest clock of a PE that can issue (DONE when none can)
        self.wake = 0
        #: rule replacements not in force yet: (cycle due, router queues, new rule)
        self.rule_changes: list[tuple[int, np.ndarray, int]] = []
        # first rules are configured at load time (WaveletProgram.first_rules)
        rc, k, port, mask = prog.first_rules
        self.net.rules[rc, k, port] = mask

    def _views(self, sram: np.ndarray) -> list[np.ndarray]:
        return [
            sram[
                b.rect[0] : b.rect[0] + b.rect[2],
                b.rect[1] : b.rect[1] + b.rect[3],
                b.offset : b.offset + b.nbytes,
            ].view(b.dtype)
            for b in self.prog.buffers
        ]

    # ------------------------------------------------------------------ the loop

    def run(self) -> tuple[list[np.ndarray], Report]:
        t = 0
        with np.errstate(all="ignore"):
            while True:
                if t >= self.wake:
                    self._issue(t)
                if self.rule_changes:
                    self._apply_rule_changes(t)
                moved = self._consume(t) + self.net.cycle(t) + self._inject(t)
                if moved:
                    t += 1
                    continue
                if self._finished():
                    break
                nxt = self._next_event(t)
                if nxt is None:
                    self._stuck()
                t = nxt if nxt is not None else t + 1
        return self._outputs(), self._report()

    def _finished(self) -> bool:
        return (
            bool((self.cur == DONE).all())
            and not self.blocked.any()
            and self.net.active == 0
            and not (self.out_ramp >= 0).any()
            and not (self.in_ramp >= 0).any()
        )

    def _next_event(self, t: int) -> int | None:
        cands = [] if self.wake == DONE else [int(self.wake)]
        cands += [due for due, _, _ in self.rule_changes]
        sid = self.out_ramp[self.out_ramp >= 0]
        if sid.size:
            pos = self.s_pos[sid]
            ready = pos < self.s_avail[sid]
            times = self.w_time[self.s_base[sid][ready] + pos[ready]]
            times = times[times > t]
            if times.size:
                cands.append(int(times.min()))
        arr = self.net.next_arrival(t)
        if arr is not None:
            cands.append(arr)
        for ramp in (self.out_ramp, self.in_ramp):
            starts = self.s_start[ramp[ramp >= 0]]
            starts = starts[(starts > t) & (starts < DONE)]
            if starts.size:
                cands.append(int(starts.min()))
        cands = [x for x in cands if x > t]
        return min(cands) if cands else None

    # ------------------------------------------------------------------ issuing ops

    def _issue(self, t: int) -> int:
        issued = 0
        while True:
            live = (~self.blocked) & (self.cur != DONE)
            run = np.flatnonzero(live & (self.clock <= t))
            if not run.size:
                self.wake = int(self.clock[live].min()) if live.any() else DONE
                return issued
            j = int(self.cur[run].min())
            g = run[self.cur[run] == j]
            self.issued_at[g] = self.clock[g]
            self._execute(j, g)
            self.pc[g] += 1
            items = self.prog.pe_items
            self.cur[g] = [
                items[p][k] if k < len(items[p]) else DONE
                for p, k in zip(g.tolist(), self.pc[g].tolist(), strict=True)
            ]
            issued += g.size

    def _execute(self, j: int, g: np.ndarray) -> None:
        it = self.prog.items[j]
        op = it.op
        try:
            if isinstance(op, pe.RouteOp):
                self._route(op, g)
            elif isinstance(op, pe.RoutesOp):
                self._routes(op, g)
            elif isinstance(op, pe.SendOp):
                self._send(j, op, g)
            elif isinstance(op, pe.RecvOp):
                self._recv(j, op, g)
            elif isinstance(op, pe.WaitOp):
                self._wait(j, op, g)
            elif j in self.prog.exchange:
                exchange.start_phase(self, j, g)
            else:
                self._local(j, g)
        except PyFlameError as err:
            if getattr(err, "op", None) is None:
                err.op = op
            raise
        except MemoryError:
            raise
        except Exception as err:
            located = SimulationError(
                f"{it.what}: the simulator failed on this op: {type(err).__name__}: {err}"
            )
            located.op = op
            raise located from err
        if not isinstance(op, pe.RouteOp | pe.RoutesOp):
            self.used[g] = True
        if not isinstance(op, pe.WaitOp):  # a wait records itself when it wakes
            self._record(g[~self.blocked[g]], j)

    def _record(self, g: np.ndarray, j: int) -> None:
        """Timeline entries of PEs g (those on the recorded row) that finished item j."""
        C, row = self.prog.C, self.timeline.row
        it = self.prog.items[j]
        for p in g[g // C == row].tolist():
            before = self.issued_at[p : p + 1]
            self.timeline.record(
                p % C,
                before,
                self.clock[p : p + 1],
                np.minimum(self.clock[p : p + 1] - before, self._busy_of(j, p)),
                PHASE_OF.get(type(it.op), "compute"),
                it.what,
            )

    def _busy_of(self, j: int, p: int) -> int:
        """Cycles item j kept PE p busy (the rest of its elapsed time is a stall)."""
        prog = self.prog
        op = prog.items[j].op
        lo = prog.local.get(j)
        if lo is not None:
            r0, c0 = prog.items[j].rect[:2]
            return int(lo.busy[p // prog.C - r0, p % prog.C - c0])
        if isinstance(op, pe.SendOp):
            return costs.stream_cycles(prog.target, prog.message_buf(op).wavelets) + self.c
        if isinstance(op, pe.RecvOp):
            add = prog.combine.get(j, (0, 0))[0]
            return add + self.c + (0 if op.is_async else self.act)
        if isinstance(op, pe.WaitOp):
            return self.act
        if j in prog.exchange:
            return prog.exchange[j].busy(prog.target, p)
        return costs.route_switch_cycles(prog.target)

    def _local(self, j: int, g: np.ndarray) -> None:
        """An op on its own PEs: its fast kernel's steps, for the PEs g only."""
        prog = self.prog
        lo = prog.local[j]
        it = prog.items[j]
        r0, c0, nr, nc = it.rect
        rr, cc = g // prog.C, g % prog.C
        lr, lcol = rr - r0, cc - c0
        self.clock[g] += lo.cycles[lr, lcol]
        self.busy[g] += lo.busy[lr, lcol]
        if g.size == nr * nc:
            self._steps(lo.steps, self.V)
            return
        if isinstance(it.op, pe.HostOutOp):  # a gather over the whole rectangle: wait for all
            snap, seen = self.snapshots.setdefault(
                j, (np.zeros_like(self.sram), np.zeros((nr, nc), dtype=bool))
            )
            snap[rr, cc] = self.sram[rr, cc]
            seen[lr, lcol] = True
            if seen.all():
                self._steps(lo.steps, self._views(snap))
                del self.snapshots[j]
            return
        region = self.sram[r0 : r0 + nr, c0 : c0 + nc]
        keep = np.ones((nr, nc), dtype=bool)
        keep[lr, lcol] = False
        saved = region[keep]
        # the other PEs of the rectangle have not reached this op yet: they compute on zeros
        # (fresh SRAM), since what they hold now could trip an int32 overflow check, and get
        # their bytes back after
        region[keep] = 0
        self._steps(lo.steps, self.V)
        region[keep] = saved

    def _steps(self, steps, V) -> None:
        F: dict[int, np.ndarray] = {}
        for step in steps:
            step(V, F, self.A, self.O)

    def _route(self, op: pe.RouteOp, g: np.ndarray) -> None:
        """A first rule is configured at load time (now, free); replacing one costs the PE
        route_switch_cycles and takes effect once the switch is done and the wavelets already
        queued on that (router, color, input port) have left under the old rule."""
        k = self.prog.color_index[op.color_id]
        self._set_rule(k, PORT_INDEX[op.from_port.data], port_mask(op.outputs), g)

    def _routes(self, op: pe.RoutesOp, g: np.ndarray) -> None:
        """Each rule of a pe.routes, in order, on the PEs of g in its rectangle (as
        consecutive pe.route ops)."""
        k = self.prog.color_index[op.color_id]
        C = self.prog.C
        r, c = g // C, g % C
        for r0, c0, nr, nc, port, mask in rule_array(op.rule_bytes).tolist():
            inside = (r >= r0) & (r < r0 + nr) & (c >= c0) & (c < c0 + nc)
            if inside.any():
                self._set_rule(k, port, mask, g[inside])

    def _set_rule(self, k: int, port: int, mask: int, g: np.ndarray) -> None:
        """The rule (port -> mask) of color index k on the routers of PEs g."""
        old = self.net.rules[g, k, port]
        switched = (old != NO_RULE) & (old != mask)
        first = old == NO_RULE
        self.net.rules[g[first], k, port] = mask
        if not switched.any():
            return
        cost = costs.route_switch_cycles(self.prog.target)
        sw = g[switched]
        self.clock[sw] += cost
        self.busy[sw] += cost
        q = self.net.router_queue(sw, k, port)
        self.rule_changes.append((int(self.clock[sw].min()), q, mask))

    def _apply_rule_changes(self, t: int) -> bool:
        """Apply the due rule changes whose queues have drained; whether any is left."""
        left = []
        for due, q, mask in self.rule_changes:
            ready = self.net.count[q] == 0 if due <= t else np.zeros(q.size, dtype=bool)
            self.net.rules_flat[q[ready]] = mask
            if not ready.all():
                left.append((due, q[~ready], mask))
        self.rule_changes = left
        return bool(left)

    def _streams(self, j: int, g: np.ndarray) -> np.ndarray:
        it = self.prog.items[j]
        r0, c0, _, nc = it.rect
        local = (g // self.prog.C - r0) * nc + (g % self.prog.C - c0)
        return self.prog.stream_base[j] + local

    def _send(self, j: int, op: pe.SendOp, g: np.ndarray) -> None:
        prog = self.prog
        b = prog.message_buf(op)
        w = b.wavelets
        sid = self._streams(j, g)
        base = prog.word_base[j] + (sid - prog.stream_base[j]) * w
        raw = self.sram[g // prog.C, g % prog.C, b.offset : b.offset + b.nbytes]
        if b.nbytes % 4:
            raw = np.concatenate([raw, np.zeros((g.size, 4 - b.nbytes % 4), np.uint8)], axis=1)
        self.words[base[:, None] + np.arange(w)] = np.ascontiguousarray(raw).view(np.uint32)
        self.s_pe[sid], self.s_k[sid], self.s_item[sid] = g, prog.color_index[op.color_id], j
        self.s_base[sid], self.s_len[sid], self.s_pos[sid] = base, w, 0
        self.s_avail[sid] = w
        self.s_start[sid] = self.clock[g] + self.c
        self.s_msg[sid] = self.net.new_messages(
            np.full(g.size, w), prog.items[j].what, g // prog.C, g % prog.C
        )
        self.busy[g] += costs.stream_cycles(prog.target, w) + self.c
        self._enqueue(self.out_ramp, self.out_fifo, g, sid)
        self._after_issue(j, op.is_async, g)

    def _recv(self, j: int, op: pe.RecvOp, g: np.ndarray) -> None:
        prog = self.prog
        w = prog.stream_wavelets(op)  # a gathering receive's messages one after another
        sid = self._streams(j, g)
        self.s_pe[sid], self.s_k[sid], self.s_item[sid] = g, prog.color_index[op.color_id], j
        self.s_base[sid] = prog.word_base[j] + (sid - prog.stream_base[j]) * w
        self.s_len[sid], self.s_pos[sid], self.s_msg[sid] = w, 0, -1
        self.s_parts[sid] = op.message_count
        self.s_start[sid] = self.clock[g] + self.c
        add, flops = prog.combine.get(j, (0, 0))
        self.flops += flops * g.size
        self.busy[g] += add + self.c + (0 if op.is_async else self.act)
        self._enqueue(self.in_ramp, self.in_fifo, g, sid)
        if op.forwards:
            self._open_forward(j, op, g, sid, w)
        self._after_issue(j, op.is_async, g)

    def _open_forward(self, j: int, op: pe.RecvOp, g: np.ndarray, sid: np.ndarray, w: int):
        """A forwarding receive's outgoing streams: words become ready as they come in."""
        prog = self.prog
        sbase, wbase = prog.forward_base[j]
        fsid = sbase + (sid - prog.stream_base[j])
        self.fwd_of[sid] = fsid
        self.s_pe[fsid], self.s_k[fsid], self.s_item[fsid] = g, self.s_k[sid], j
        self.s_base[fsid] = wbase + (fsid - sbase) * w
        self.s_len[fsid], self.s_pos[fsid], self.s_avail[fsid] = w, 0, 0
        self.s_start[fsid] = DONE  # set when the first wavelet comes in
        self.s_msg[fsid] = self.net.new_messages(
            np.full(g.size, w), prog.items[j].what, g // prog.C, g % prog.C
        )
        self._enqueue(self.out_ramp, self.out_fifo, g, fsid)
        for p in g.tolist():
            self.parts[(j, p)] = [2, 0, self.act]

    def _after_issue(self, j: int, is_async: bool, g: np.ndarray) -> None:
        if is_async:
            self.clock[g] += self.c
            if j not in self.done_at:
                self.done_at[j] = np.full(self.prog.R * self.prog.C, -1, dtype=np.int64)
        else:
            self.blocked[g] = True
            self.blocked_on[g] = j

    def in_ramp_enqueue(self, p: int, sid: int) -> None:
        self._enqueue(self.in_ramp, self.in_fifo, np.array([p]), np.array([sid]))

    def out_ramp_enqueue(self, p: int, sid: int) -> None:
        self._enqueue(self.out_ramp, self.out_fifo, np.array([p]), np.array([sid]))

    @staticmethod
    def _enqueue(ramp: np.ndarray, fifo: list[deque[int]], g: np.ndarray, sid: np.ndarray):
        for p, s in zip(g.tolist(), sid.tolist(), strict=True):
            if ramp[p] < 0:
                ramp[p] = s
            else:
                fifo[p].append(s)

    def _wait(self, j: int, op: pe.WaitOp, g: np.ndarray) -> None:
        self.blocked[g] = True
        self.blocked_on[g] = j
        self._try_wait(g)

    def _try_wait(self, g: np.ndarray) -> None:
        """Wake the PEs g blocked in a pe.wait whose tokens have all completed."""
        for p in g.tolist():
            j = int(self.blocked_on[p])
            op = self.prog.items[j].op
            assert isinstance(op, pe.WaitOp)
            last = 0
            for tok in op.tokens:
                d = int(self.done_at[self.prog.token_item[tok]][p])
                if d < 0:
                    break
                last = max(last, d)
            else:
                self.clock[p] = max(int(self.clock[p]), last) + self.act
                self.wake = min(self.wake, int(self.clock[p]))
                self.busy[p] += self.act
                self.blocked[p] = False
                self.blocked_on[p] = -1
                self._record(np.array([p]), j)

    # ------------------------------------------------------------------ the PEs' ramps

    def _inject(self, t: int) -> int:
        pes = np.flatnonzero(self.out_ramp >= 0)
        if not pes.size:
            return 0
        sid = self.out_ramp[pes]
        q = self.net.router_queue(pes, self.s_k[sid], RAMP)
        pos = self.s_pos[sid]
        ok = (
            (self.s_start[sid] <= t)
            & (pos < self.s_avail[sid])
            & (self.w_time[self.s_base[sid] + np.minimum(pos, self.s_len[sid] - 1)] <= t)
            & self.net.room(q)
        )
        if not ok.any():
            return 0
        sid, q = sid[ok], q[ok]
        pos = self.s_pos[sid]
        self.net.push(
            q, self.words[self.s_base[sid] + pos], self.s_msg[sid], pos, t + self.net.ramp
        )
        self.s_pos[sid] = pos + 1
        for s in sid[pos + 1 == self.s_len[sid]].tolist():
            self._send_done(s, t + 1)
        return int(sid.size)

    def _consume(self, t: int) -> int:
        pes = np.flatnonzero(self.in_ramp >= 0)
        if not pes.size:
            return 0
        sid = self.in_ramp[pes]
        q = self.net.ce_queue(pes, self.s_k[sid])
        ok = (self.s_start[sid] <= t) & self.net.head_ready(q, t)
        if not ok.any():
            return 0
        sid, q = sid[ok], q[ok]
        pay, msg, _ = self.net.pop(q)
        msg = msg % HOP
        pos = self.s_pos[sid]
        first = pos == 0
        if first.any():
            for s, m in zip(sid[first].tolist(), msg[first].tolist(), strict=True):
                if int(self.s_item[s]) in self.prog.exchange:
                    exchange.first_wavelet(self, s, m)
            check_sizes(self, sid[first], msg[first])
            self.s_msg[sid[first]] = msg[first]
            self.s_first[sid[first]] = t
        later = (pos > 0) & (self.s_parts[sid] > 1)  # a gathering receive's next messages
        if later.any():
            gathering, at, m = sid[later], pos[later], msg[later]
            starts = at % (self.s_len[gathering] // self.s_parts[gathering]) == 0
            check_sizes(self, gathering[starts], m[starts])
        self.words[self.s_base[sid] + pos] = pay
        self.s_pos[sid] = pos + 1
        fwd = self.fwd_of[sid] >= 0
        if fwd.any():
            self._forward(t, sid[fwd], pos[fwd], pay[fwd])
        for s in sid[pos + 1 == self.s_len[sid]].tolist():
            self._recv_done(s, t + 1)
        return int(sid.size)

    def _forward(self, t: int, sid: np.ndarray, pos: np.ndarray, pay: np.ndarray) -> None:
        """Words that forwarding receives took at cycle t: combined with the buffer, they may
        leave ce_forward_cycles later."""
        prog = self.prog
        fsid = self.fwd_of[sid]
        out = pay.astype(np.uint32)
        for j in np.unique(self.s_item[sid]).tolist():
            op = prog.items[j].op
            assert isinstance(op, pe.RecvOp)
            kind = op.combine_kind
            if kind is None:
                continue
            sel = self.s_item[sid] == j
            b = prog.message_buf(op)
            p = self.s_pe[sid[sel]]
            at = b.offset + 4 * pos[sel]
            rows, cols = (p // prog.C)[:, None], (p % prog.C)[:, None]
            mine = self.sram[rows, cols, at[:, None] + np.arange(4)]
            have = np.ascontiguousarray(mine).view(b.dtype)
            got = out[sel].reshape(-1, 1).view(np.uint8).view(b.dtype)
            if b.dtype == I32 and kind in ("sum", "prod"):
                wide = reductions.KINDS[kind].combine(have.astype(np.int64), got.astype(np.int64))
                both = as_int32(wide, prog.items[j].what, f"{kind} of partial results")
            else:
                both = reductions.combine(kind, have, got)
            out[sel] = np.ascontiguousarray(both.astype(b.dtype)).view(np.uint32).ravel()
        self.words[self.s_base[fsid] + pos] = out
        self.w_time[self.s_base[fsid] + pos] = t + int(prog.target.ce_forward_cycles)
        self.s_avail[fsid] = pos + 1
        first = pos == 0
        if first.any():
            self.s_start[fsid[first]] = t + int(prog.target.ce_forward_cycles)

    def _next_stream(self, ramp: np.ndarray, fifo: list[deque[int]], p: int) -> None:
        ramp[p] = fifo[p].popleft() if fifo[p] else -1

    def _send_done(self, s: int, end: int) -> None:
        p, j = int(self.s_pe[s]), int(self.s_item[s])
        self._next_stream(self.out_ramp, self.out_fifo, p)
        self._complete(p, j, end, end)

    def _recv_done(self, s: int, end: int) -> None:
        p, j = int(self.s_pe[s]), int(self.s_item[s])
        self._next_stream(self.in_ramp, self.in_fifo, p)
        if j in self.prog.exchange:
            exchange.received(self, s)
            self._complete(p, j, end, end)
            return
        op = self.prog.items[j].op
        assert isinstance(op, pe.RecvOp)
        add, _ = self.prog.combine.get(j, (0, 0))
        end = max(end, int(self.s_first[s]) + add)
        b = self.prog.message_buf(op)
        r, c = divmod(p, self.prog.C)
        n = int(self.s_parts[s])
        got = self.words[self.s_base[s] : self.s_base[s] + self.s_len[s]].reshape(n, -1)
        dst = self.sram[r, c, b.offset : b.offset + b.nbytes].view(b.dtype)
        kind = op.combine_kind
        for message in got:  # in arrival order
            data = message.view(np.uint8)[: b.nbytes].view(b.dtype)
            if kind is None:
                dst[...] = data
            elif b.dtype == I32 and kind in ("sum", "prod"):
                wide = reductions.KINDS[kind].combine(dst.astype(np.int64), data.astype(np.int64))
                dst[...] = as_int32(wide, self.prog.items[j].what, f"{kind} of partial results")
            else:
                dst[...] = reductions.combine(kind, dst[None], data[None])[0]
        self._complete(p, j, end, end + self.act)

    def _complete(self, p: int, j: int, token_end: int, resume: int) -> None:
        part = self.parts.get((j, p))
        if part is not None:  # a forwarding receive or exchange phase ends with its last stream
            part[0] -= 1
            part[1] = max(part[1], token_end)
            if part[0]:
                return
            del self.parts[(j, p)]
            token_end, resume = part[1], part[1] + part[2]
        if j in self.done_at:
            self.done_at[j][p] = token_end
            waiting = np.flatnonzero(self.blocked & (self.blocked_on >= 0))
            waiting = np.array(
                [
                    q
                    for q in waiting.tolist()
                    if isinstance(self.prog.items[int(self.blocked_on[q])].op, pe.WaitOp)
                ],
                dtype=np.int64,
            )
            if waiting.size:
                self._try_wait(waiting)
            return
        self.clock[p] = resume
        self.wake = min(self.wake, resume)
        self.blocked[p] = False
        self.blocked_on[p] = -1
        self._record(np.array([p]), j)

    # ------------------------------------------------------------------ the end

    def _stuck(self) -> None:
        stuck(self)

    def _outputs(self) -> list[np.ndarray]:
        outs = []
        for kind, i in self.prog.returns:
            outs.append(self.O[i] if kind == "out" else np.array(self.A[i], copy=True))
        return outs

    def _report(self) -> Report:
        return report_of(self)
