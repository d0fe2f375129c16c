"""Network phases of `pe.exchange` in the wavelet-level engine: their messages as streams.

Phase k of an exchange (docs/simulator.md, `pe.exchange`) is a set of messages, at most one per
source PE, each carrying the destination elements that one (source, destination) pair shares
(`pyflame.core.exchange_plan.exchange_phases`, the plan the compiler and the fast kernel use).
Here each message is a stream, like a send's: the source PE copies its elements (in the
destination's element order, packed into 32-bit wavelets) when it reaches the op and injects
them from its clock through its output ramp; the wavelets go wherever the color's rules take
them, wavelet by wavelet through the queues. A destination PE opens one receive stream per
message meant for it; the first wavelet names the message (one of this phase meant for this PE,
else a `RoutingError` as the fast kernel raises), and at its tail the elements are written into
the destination buffer. Timing as the fast kernel states it: no instruction issue (a phase is
one bulk transfer); a source that receives nothing goes on when its last wavelet left; a PE that
receives goes on `task_activation_cycles` after its last stream ended (send and receives).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from pyflame.core.errors import RoutingError
from pyflame.core.exchange_plan import exchange_phases
from pyflame.dialects import pe
from pyflame.sim import costs
from pyflame.sim.executable import Buffer
from pyflame.sim.fabric import pe_str
from pyflame.sim.kernels.exchange import read_exchange
from pyflame.sim.schedule import Item
from pyflame.sim.wavelet.network import HOP, NPORTS

if TYPE_CHECKING:
    from pyflame.sim.wavelet.engine import WaveletRun


@dataclass
class ExchangePhase:
    """One network phase's messages, as absolute PEs (flat r * C + c) and buffer elements."""

    src: Buffer
    dst: Buffer
    src_pe: np.ndarray  # (messages,)
    dst_pe: np.ndarray
    src_elems: list[np.ndarray]  # per message: the source buffer's elements, in order
    dst_elems: list[np.ndarray]  # per message: where they go in the destination buffer
    wavelets: np.ndarray  # per message
    #: the PE's message (index) if it sends one
    send_of: dict[int, int]
    #: the messages meant for each destination PE
    recv_of: dict[int, list[int]]
    stream_base: int = 0  # message m's send stream is base + m, its receive slot base + n + m
    send_words: np.ndarray | None = None  # per message: its send stream's words
    recv_words: np.ndarray | None = None  # per message: where its received words go

    @property
    def n(self) -> int:
        return int(self.src_pe.size)

    def busy(self, target, p: int) -> int:
        """Cycles the phase keeps PE p busy: its stream out, the wake of its receives."""
        m = self.send_of.get(p)
        out = 0 if m is None else costs.stream_cycles(target, int(self.wavelets[m]))
        return out + (costs.task_activation_cycles(target) if p in self.recv_of else 0)


def read_phase(it: Item, op: pe.ExchangeOp, buf_of, C: int) -> ExchangePhase:
    """The messages of network phase `op.phase` (checked as the fast kernel checks them)."""
    src, dst = buf_of[op.src], buf_of[op.dst]
    r0, c0 = it.rect[0], it.rect[1]
    read_exchange(it, op, src, dst)
    plan = exchange_phases(op.src_layout.dist, op.dst_layout.dist, op.index_map)
    k = op.phase_index
    src_pe, dst_pe, src_elems, dst_elems = [], [], [], []
    (ar, ac), (br, bc) = plan.src_at, plan.dst_at
    for (a, b), (c, d) in plan.phases[k - 1].messages:
        # messages are relative to the anchor, the plan's arrays to each grid
        at = (c - br, d - bc)
        mine = plan.has_src[at] & (plan.src_row[at] == a - ar) & (plan.src_col[at] == b - ac)
        src_pe.append((r0 + a) * C + c0 + b)
        dst_pe.append((r0 + c) * C + c0 + d)
        dst_elems.append(np.flatnonzero(mine))
        src_elems.append(np.asarray(plan.src_elem[at][mine], dtype=np.int64))
    elems = np.array([e.size for e in dst_elems], dtype=np.int64)
    send_of = {p: m for m, p in enumerate(src_pe)}
    recv_of: dict[int, list[int]] = {}
    for m, p in enumerate(dst_pe):
        recv_of.setdefault(p, []).append(m)
    return ExchangePhase(
        src,
        dst,
        np.array(src_pe, dtype=np.int64),
        np.array(dst_pe, dtype=np.int64),
        src_elems,
        dst_elems,
        -(-elems * dst.dtype.itemsize // 4),
        send_of,
        recv_of,
    )


def start_phase(run: WaveletRun, j: int, g: np.ndarray) -> None:
    """PEs g reach phase j: sources open their send streams, destinations their receives."""
    prog = run.prog
    ph = prog.exchange[j]
    k = prog.color_index[prog.items[j].op.color_id]  # type: ignore[attr-defined]  # an exchange
    wake = run.act
    for p in g.tolist():
        m = ph.send_of.get(p)
        slots = ph.recv_of.get(p, [])
        if m is None and not slots:
            continue  # not in this phase: the PE does not wait for it
        if m is not None:
            _open_send(run, j, ph, m, k, p)
        for slot in slots:
            sid = ph.stream_base + ph.n + slot
            run.s_pe[sid], run.s_k[sid], run.s_item[sid] = p, k, j
            run.s_len[sid], run.s_pos[sid], run.s_msg[sid] = 0, 0, -1  # set by the first wavelet
            run.s_start[sid] = run.clock[p]
            run.in_ramp_enqueue(p, sid)
        run.parts[(j, p)] = [int(m is not None) + len(slots), 0, wake if slots else 0]
        run.busy[p] += ph.busy(prog.target, p)
        run.blocked[p] = True
        run.blocked_on[p] = j


def _open_send(run: WaveletRun, j: int, ph: ExchangePhase, m: int, k: int, p: int) -> None:
    prog = run.prog
    assert ph.send_words is not None
    r, c = divmod(p, prog.C)
    br, bc = ph.src.rect[0], ph.src.rect[1]
    src = run.V[ph.src.index][r - br, c - bc, ph.src_elems[m]].astype(ph.dst.dtype)
    raw = np.ascontiguousarray(src).view(np.uint8)
    w = int(ph.wavelets[m])
    base = int(ph.send_words[m])
    words = np.zeros(4 * w, dtype=np.uint8)
    words[: raw.size] = raw
    run.words[base : base + w] = words.view(np.uint32)
    sid = ph.stream_base + m
    run.s_pe[sid], run.s_k[sid], run.s_item[sid] = p, k, j
    run.s_base[sid], run.s_len[sid], run.s_pos[sid] = base, w, 0
    run.s_avail[sid] = w
    run.s_start[sid] = run.clock[p]
    msg = run.net.new_messages(np.array([w]), prog.items[j].what, [r], [c])
    run.s_msg[sid] = msg[0]
    run.exchange_msg[int(msg[0])] = (j, m)
    run.out_ramp_enqueue(p, sid)


def first_wavelet(run: WaveletRun, sid: int, msg: int) -> None:
    """A phase's receive stream takes its first wavelet: it names the message it receives."""
    prog = run.prog
    j, p = int(run.s_item[sid]), int(run.s_pe[sid])
    ph = prog.exchange[j]
    it = prog.items[j]
    j_m, m = run.exchange_msg.get(msg, (-1, -1))
    if j_m != j or int(ph.dst_pe[m]) != p:
        what, sr, sc = run.net.msg_what[msg]
        if j_m >= 0:  # a message of another phase (or another exchange) on the same color
            other = prog.items[j_m].op
            assert isinstance(other, pe.ExchangeOp)
            dst = pe_str(*divmod(int(prog.exchange[j_m].dst_pe[m]), prog.C))
            what = f"{what}, its message of exchange phase {other.phase_index} to {dst}"
        op = it.op
        assert isinstance(op, pe.ExchangeOp)
        err = RoutingError(
            f"{it.what}: {pe_str(*divmod(p, prog.C))} receives on color {op.color_id} in "
            f"exchange phase {op.phase_index} a message from {pe_str(sr, sc)} ({what}) that "
            "is not one of this phase's messages to it"
        )
        err.op = it.op
        raise err
    assert ph.recv_words is not None
    run.s_base[sid] = ph.recv_words[m]
    run.s_len[sid] = ph.wavelets[m]
    run.s_first_msg[sid] = m


def received(run: WaveletRun, sid: int) -> None:
    """A phase's receive stream ended: its elements go into the destination buffer."""
    ph = run.prog.exchange[int(run.s_item[sid])]
    m = int(run.s_first_msg[sid])
    p = int(run.s_pe[sid])
    r, c = divmod(p, run.prog.C)
    n = ph.dst_elems[m].size
    base = int(run.s_base[sid])
    got = run.words[base : base + int(ph.wavelets[m])].view(np.uint8)
    data = got[: n * ph.dst.dtype.itemsize].view(ph.dst.dtype)
    br, bc = ph.dst.rect[0], ph.dst.rect[1]
    run.V[ph.dst.index][r - br, c - bc, ph.dst_elems[m]] = data


def check_deliveries(run: WaveletRun) -> None:
    """Nothing can move: a phase's message that went to the wrong PE's queue, or that a rule
    without outputs stopped, is the `RoutingError` the fast kernel raises for it."""
    net, prog = run.net, run.prog
    for q in np.flatnonzero(net.count).tolist():
        msg = int(net.msg[q, net.head[q]]) % HOP
        j, m = run.exchange_msg.get(msg, (-1, -1))
        if j < 0:
            continue
        ph, it = prog.exchange[j], prog.items[j]
        op = it.op
        assert isinstance(op, pe.ExchangeOp)
        src = pe_str(*divmod(int(ph.src_pe[m]), prog.C))
        dst = pe_str(*divmod(int(ph.dst_pe[m]), prog.C))
        if q >= net.n_router:
            at = (q - net.n_router) // net.K
            if at == int(ph.dst_pe[m]):
                continue
            text = (
                f"{pe_str(*divmod(at, prog.C))} receives on color {op.color_id} the message "
                f"of exchange phase {op.phase_index} that {src} sends to {dst}"
            )
        elif net.rules_flat[q] == 0:
            at = q // NPORTS // net.K
            text = (
                f"the message of exchange phase {op.phase_index} from {src} to {dst} on color "
                f"{op.color_id} is delivered 0 times (the rule of "
                f"{pe_str(*divmod(at, prog.C))} sends its wavelets nowhere)"
            )
        else:
            continue
        err = RoutingError(f"{it.what}: {text}")
        err.op = op
        raise err
