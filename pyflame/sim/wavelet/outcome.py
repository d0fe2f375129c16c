"""What a wavelet-level run ends with: its Report, or the error that stopped it (a wavelet no
rule routes, a deadlock naming every stuck PE, its color and its op, a message never received).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NoReturn

import numpy as np

from pyflame.core.errors import DeadlockError, RoutingError
from pyflame.dialects import pe
from pyflame.sim.fabric import NO_RULE, PORTS, pe_str
from pyflame.sim.report import Report
from pyflame.sim.wavelet.exchange import check_deliveries
from pyflame.sim.wavelet.network import HOP, NPORTS

if TYPE_CHECKING:
    from pyflame.sim.wavelet.engine import WaveletRun

#: "never": a PE with no op left, a stream not started
DONE = np.iinfo(np.int64).max


def stuck(self: WaveletRun) -> NoReturn:
    """Nothing can move and nothing will: a routing error or a deadlock."""
    net, prog = self.net, self.prog
    if self.exchange_msg:
        check_deliveries(self)
    q = np.flatnonzero(net.count[: net.n_router])
    if q.size:
        port, rk = q % NPORTS, q // NPORTS
        k, rc = rk % net.K, rk // net.K
        norule = net.rules[rc, k, port] == NO_RULE
        if norule.any():
            i = int(np.flatnonzero(norule)[0])
            m = int(net.msg[q[i], net.head[q[i]]]) % HOP
            what, sr, sc = net.msg_what[m]
            r, c = divmod(int(rc[i]), prog.C)
            raise RoutingError(
                f"a wavelet of color {net.colors[int(k[i])]} from {pe_str(sr, sc)} ({what}) "
                f"reaches {pe_str(r, c)} on port {PORTS[int(port[i])].value}, which has no "
                "rule for it"
            )
    lines: list[str] = []
    waiting: list[tuple[tuple[int, int], int]] = []
    first_op = None
    for p in np.flatnonzero(self.blocked).tolist():
        j = int(self.blocked_on[p])
        it = prog.items[j]
        first_op = first_op or it.op
        r, c = divmod(p, prog.C)
        if isinstance(it.op, pe.WaitOp):
            lines.append(f"{pe_str(r, c)} waits for its transfers ({it.what})")
            continue
        color = it.op.color_id  # type: ignore[attr-defined]  # a pe.send or pe.recv
        waiting.append(((r, c), color))
        verb = "cannot finish sending" if isinstance(it.op, pe.SendOp) else "waits"
        lines.append(f"{pe_str(r, c)} {verb} on color {color} ({it.what})")
    if not lines and net.active:
        i = int(np.flatnonzero(net.count)[0])
        m = int(net.msg[i, net.head[i]]) % HOP
        what, sr, sc = net.msg_what[m]
        raise RoutingError(
            f"message from {pe_str(sr, sc)} ({what}) was never received (wavelets are left "
            "in the queues when every PE has finished)"
        )
    shown = lines[:8] + ([f"... and {len(lines) - 8} more"] if len(lines) > 8 else [])
    n = len(lines)
    err = DeadlockError(
        f"deadlock: {n} PE{'s' if n != 1 else ''} wait on each other or on messages no one "
        "will send: " + "; ".join(shown),
        waiting=waiting,
    )
    err.op = first_op
    raise err


def report_of(self: WaveletRun) -> Report:
    prog, t = self.prog, self.prog.target
    R, C = prog.R, prog.C
    sram_peak = np.zeros((R, C), dtype=np.int64)
    for b in prog.buffers:
        r0, c0, nr, nc = b.rect
        sl = (slice(r0, r0 + nr), slice(c0, c0 + nc))
        sram_peak[sl] = np.maximum(sram_peak[sl], b.offset + b.nbytes)
    cycles = int(self.clock.max()) if self.clock.size else 0
    return Report(
        target=t.name,
        cycles=cycles,
        seconds=cycles / t.clock_hz,
        io_cycles=prog.io_cycles,
        flops=int(self.flops),
        busy_cycles=self.busy.reshape(R, C),
        sram_peak_bytes=sram_peak,
        wavelets=self.net.out_wavelets.reshape(R, C, 4),
        pes_used=int(self.used.sum()),
        clock_hz=float(t.clock_hz),
        flops_per_cycle=int(t.flops_per_cycle),
        fabric_pes=t.fabric_rows * t.fabric_cols,
        timeline=self.timeline,
    )


def check_sizes(self: WaveletRun, sid: np.ndarray, msg: np.ndarray) -> None:
    """The first wavelets of receives name their messages: a size that differs from the
    receiving buffer's is a RoutingError."""
    bad = self.net.msg_len[msg] != self.s_len[sid] // self.s_parts[sid]
    if not bad.any():
        return
    s, m = int(sid[bad][0]), int(msg[bad][0])
    it = self.prog.items[int(self.s_item[s])]
    what, sr, sc = self.net.msg_what[m]
    p = int(self.s_pe[s])
    b = self.prog.message_buf(it.op)  # type: ignore[arg-type]  # a pe.recv
    err = RoutingError(
        f"{it.what}: {pe_str(p // self.prog.C, p % self.prog.C)} receives on color "
        f"{it.op.color_id} a message of {int(self.net.msg_len[m])} wavelets from "  # type: ignore[attr-defined]  # a pe.recv
        f"{pe_str(sr, sc)} ({what}) into buffer '{b.name}' of {b.wavelets} wavelets"
    )
    err.op = it.op
    raise err
