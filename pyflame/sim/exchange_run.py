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
network phase, `RunPlan.make` reads the run's phases (`_read`) and walks them in time order
from the PEs' clocks and ramps (`pyflame.core.link_sharing.walk`, an event loop over the
messages, which the compiler's cost model runs too: every message at its max-min fair share
of the links it wants, a color's messages on one link one after another, earliest ready first
as `Links.stream` orders a phase's). Per message, what sharing adds to its stream (`extra`)
is what the exchange kernel adds to the message's cycles; its start is still the kernel's
(its source's clock, the traffic before the run), the kernel times drains of parked messages,
stalled sources and receivers as for a phase alone.

The run's messages do not wait for one another's link reservations (they share, and `extra`
accounts for it): the kernel streams a phase's messages over the links as they were before
the run (`RunPlan.without_run`), then puts back the run's traffic so far and adds the phase's
messages where their links are idle (`with_run`; a message on a link the run already holds
then shares it and adds nothing): drains of parked messages and the ops after the run meet
that traffic. Runs over `link_sharing.MAX_RUN_MESSAGES` messages (`too_large`), and runs in
which no link carries two colors (nothing is shared), are timed phase by phase as before
(`kernels.exchange._share_links_with_last_phase`): the walk does numpy work per event, and a
wafer-wide redistribution has thousands of phases.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from xdsl.ir import Operation

from pyflame.core import link_sharing
from pyflame.core.errors import PyFlameError
from pyflame.core.exchange_plan import exchange_summary
from pyflame.core.link_sharing import RunPhase
from pyflame.dialects import pe
from pyflame.sim import costs
from pyflame.sim.costs import CostKind

#: ops that a run goes on past: they take no PE time and no link (host I/O is timed apart)
_TIMELESS = pe.AllocOp | pe.HostInOp | pe.HostOutOp


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
            if len(network) < 2 or link_sharing.too_large(messages, 0):
                return alone
            phases = [(o, _read(s, o)) for o in ops if isinstance(o, pe.ExchangeOp)]
        except PyFlameError:
            return alone  # (a later op's error is raised at that op, naming it)
        if link_sharing.too_large(messages, sum(p.entries for _, p in phases)):
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


def _read(s, op: pe.ExchangeOp) -> RunPhase:
    """An exchange op of the run: its messages (or local copies) as its kernel times them."""
    t = s.target
    ds, dd = op.src_layout.dist, op.dst_layout.dist
    summary = exchange_summary(ds, dd, op.index_map)
    r0, c0 = op.rect[0], op.rect[1]
    elem_bytes = s.buf_of[op.dst].dtype.itemsize
    k = op.phase_index
    if k == 0:
        elems = summary.local_counts
        gr, gc = elems.shape
        cyc, _ = costs.op_cycles(t, CostKind.EXCHANGE_LOCAL, elems, elem_bytes=elem_bytes)
        cyc = np.broadcast_to(np.where(elems > 0, cyc, 0), elems.shape)
        at_r, at_c = summary.dst_at
        rr, cc = np.meshgrid(np.arange(gr) + r0 + at_r, np.arange(gc) + c0 + at_c, indexing="ij")
        return link_sharing.local_part((rr * s.C + cc).reshape(-1), cyc.reshape(-1))
    phase = summary.phases[k - 1]
    msgs = np.array([(a, b, c, d) for (a, b), (c, d) in phase.messages], dtype=np.int64)
    msgs = msgs.reshape(-1, 4)
    sr, sc, dr, dc = (msgs[:, j] for j in range(4))
    elems = np.asarray(phase.elems, dtype=np.int64)
    w = -(-elems * elem_bytes // 4)
    return link_sharing.network_phase(t, op.color_id, sr + r0, sc + c0, dr + r0, dc + c0, w, s.C)


def simulate(s, phases: list[tuple[pe.ExchangeOp, RunPhase]]) -> dict[Operation, np.ndarray] | None:
    """Walk the run's phases in time order (`pyflame.core.link_sharing.walk`, from the PEs'
    clocks and ramps now): per network phase, the cycles link sharing adds to each message.
    None if nothing is shared or the walk does not finish."""
    extra = link_sharing.walk(
        s.target,
        [p for _, p in phases],
        s.clock.reshape(-1),
        s.out_free.reshape(-1),
        s.in_free.reshape(-1),
    )
    if extra is None:
        return None
    return {op: e for (op, _), e in zip(phases, extra, strict=True) if e is not None}
