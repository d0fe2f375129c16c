"""A pe program as the wavelet-level engine runs it: read once, then simulated on every run.

Reading reuses the fast planner's reader (`Planner.read`: buffers, items, arguments, checks), and
the fast kernels for every op that stays on its PE: each such op's kernel is called once on a
scratch `Schedule`, which gives its run-time numpy steps (the same math as the fast mode) and
the cycles it costs each PE of its rectangle (`costs.op_cycles`, through the kernel's `charge`).
The network ops (`pe.route`, `pe.send`, `pe.recv`, `pe.wait`) are the engine's own
(pyflame/sim/wavelet/engine.py), and so are the network phases of `pe.exchange`
(pyflame/sim/wavelet/exchange.py; an exchange's local part is a local op).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import BlockArgument, SSAValue

from pyflame.core import reductions
from pyflame.core.errors import CompileError, PyFlameError
from pyflame.core.route_rules import rule_array, rule_cells
from pyflame.dialects import pe
from pyflame.sim import costs
from pyflame.sim.costs import CostKind
from pyflame.sim.executable import Buffer, Step
from pyflame.sim.fabric import PORT_INDEX, port_mask
from pyflame.sim.kernels import kernel_for
from pyflame.sim.planner import Planner
from pyflame.sim.schedule import Item, pe_slice
from pyflame.sim.wavelet.exchange import ExchangePhase, read_phase

#: the largest mesh side the wavelet engine simulates
MAX_SIDE = 16
#: ops the engine runs itself (all others run their fast kernel's steps)
NETWORK_OPS = (pe.SendOp, pe.RecvOp, pe.RouteOp, pe.RoutesOp, pe.WaitOp)


@dataclass
class LocalOp:
    """An op that stays on its PEs: its fast kernel's steps and its cycles per PE of its rect."""

    steps: list[Step]
    cycles: np.ndarray  # (rows, cols) of the op's rectangle
    busy: np.ndarray


class WaveletProgram:
    """The static part of a wavelet-level run (see the module docstring)."""

    def __init__(self, module: ModuleOp):
        planner = Planner(module)
        try:
            planner.read()
        except PyFlameError as err:
            if getattr(err, "op", None) is None and planner.reading is not None:
                err.op = planner.reading
            raise
        t, s = planner.target, planner.schedule
        self.target = t
        self.R, self.C, self.B = planner.R, planner.C, planner.B
        self.items: list[Item] = planner.items
        self.buffers = s.buffers
        self.buf_of = s.buf_of
        self.arg_names, self.arg_kinds = planner.arg_names, planner.arg_kinds
        if self.R > MAX_SIDE or self.C > MAX_SIDE:
            raise CompileError(
                f"the wavelet-level simulator runs meshes up to {MAX_SIDE}x{MAX_SIDE} PEs; this "
                f"program spans {self.R}x{self.C} (use the target's default fidelity='fast')"
            )
        s.start(self.R, self.C)
        self.local: dict[int, LocalOp] = {}
        #: the network phases of exchanges (their local parts are local ops)
        self.exchange: dict[int, ExchangePhase] = {}
        for j, it in enumerate(self.items):
            if isinstance(it.op, NETWORK_OPS):
                continue
            if isinstance(it.op, pe.ExchangeOp) and it.op.phase_index > 0:
                try:
                    self.exchange[j] = read_phase(it, it.op, self.buf_of, self.C)
                except PyFlameError as err:
                    err.op = getattr(err, "op", None) or it.op
                    raise
                continue
            clock, busy, n0 = s.clock.copy(), s.busy.copy(), len(s.steps)
            try:
                kernel_for(it)(s, it, it.op)
            except PyFlameError as err:
                if getattr(err, "op", None) is None:
                    err.op = it.op
                raise
            sl = pe_slice(it.rect)
            self.local[j] = LocalOp(
                s.steps[n0:], (s.clock - clock)[sl].copy(), (s.busy - busy)[sl].copy()
            )
        self.flops, self.io_cycles = int(s.flops), int(s.io_cycles)
        self.num_outputs = len(s.outputs)
        self.returns = _returns(planner.return_values, s.outputs, s.arg_index)
        # colors, packed densely
        used = sorted({it.op.color_id for it in self.items if isinstance(it.op, pe._ChannelOp)})
        self.colors: list[int] = used or [0]
        self.color_index = {c: k for k, c in enumerate(self.colors)}
        self.first_rules = _first_rules(self.items, self.color_index, self.C)
        # every PE's ops in program order
        self.pe_items: list[list[int]] = [[] for _ in range(self.R * self.C)]
        for j, it in enumerate(self.items):
            r0, c0, nr, nc = it.rect
            for r in range(r0, r0 + nr):
                for c in range(c0, c0 + nc):
                    self.pe_items[r * self.C + c].append(j)
        # which op made each token
        self.token_item: dict[SSAValue, int] = {}
        for j, it in enumerate(self.items):
            if isinstance(it.op, pe.SendOp | pe.RecvOp) and it.op.token is not None:
                self.token_item[it.op.token] = j
        # streams: one per (send or recv op, PE of its rectangle), numbered statically
        self.stream_base = np.zeros(len(self.items), dtype=np.int64)
        self.word_base = np.zeros(len(self.items), dtype=np.int64)
        #: a forwarding receive's outgoing streams (one per PE), numbered after the others
        self.forward_base: dict[int, tuple[int, int]] = {}
        n_streams = n_words = 0
        for j, it in enumerate(self.items):
            if isinstance(it.op, pe.SendOp | pe.RecvOp):
                area = it.rect[2] * it.rect[3]
                w = self.stream_wavelets(it.op)
                self.stream_base[j], self.word_base[j] = n_streams, n_words
                n_streams += area
                n_words += area * w
                if isinstance(it.op, pe.RecvOp) and it.op.forwards:
                    self.forward_base[j] = (n_streams, n_words)
                    n_streams += area
                    n_words += area * w
        for ph in self.exchange.values():  # a send stream and a receive slot per message
            total = int(ph.wavelets.sum())
            ph.stream_base = n_streams
            ph.send_words = n_words + np.cumsum(ph.wavelets) - ph.wavelets
            ph.recv_words = ph.send_words + total
            n_streams += 2 * ph.n
            n_words += 2 * total
        self.n_streams, self.n_words = n_streams, n_words
        # a combining receive's cycles and flops per PE
        self.combine: dict[int, tuple[int, int]] = {}
        for j, it in enumerate(self.items):
            op = it.op
            if isinstance(op, pe.RecvOp) and op.combine_kind is not None:
                b = self.message_buf(op)
                cyc, flops = costs.op_cycles(
                    t,
                    CostKind.RECV_COMBINE,
                    op.message_count * b.size,
                    reductions.KINDS[op.combine_kind].flops,
                    elem_bytes=b.dtype.itemsize,
                    half=b.half,
                )
                # the combine's streaming part: its instruction issue is the receive's own
                self.combine[j] = (int(cyc) - t.vector_issue_cycles, int(flops))

    def message_buf(self, op: pe.SendOp | pe.RecvOp) -> Buffer:
        """What a send or receive moves: its buffer, or the buffer's window."""
        return self.buf_of[op.buffer].window(op.window_span)

    def stream_wavelets(self, op: pe.SendOp | pe.RecvOp) -> int:
        """Wavelets of one PE's stream: its message's, times the messages a gathering
        receive takes (`messages`) one after another."""
        w = self.message_buf(op).wavelets
        return w * op.message_count if isinstance(op, pe.RecvOp) else w

    def zero_args(self) -> list:
        """Arguments of the right shapes and types (timing does not depend on data)."""
        out: list = []
        for kind in self.arg_kinds:
            if kind[0] == "tensor":
                out.append(np.zeros(kind[1], dtype=kind[2]))
            elif kind[0] == "int":
                out.append(0)
            else:
                out.append(None)
        return out


def _returns(values, outputs, arg_index) -> list[tuple[str, int]]:
    returns: list[tuple[str, int]] = []
    for v in values:
        if v in outputs:
            returns.append(("out", outputs[v]))
        elif isinstance(v, BlockArgument) and v in arg_index:
            returns.append(("arg", arg_index[v]))
        else:
            raise CompileError("@main must return results of pe.host_out (or its own arguments)")
    return returns


def _first_rules(items: list[Item], color_index: dict[int, int], C: int):
    """The first rule of each (router, color, input port), as (router, color, port, mask)
    arrays: it is configured at load time, so it is in force before its PE reaches its
    pe.route (a PE still computing does not hold back the wavelets its router passes on, as
    in the fast engine, where a rule takes effect at its place in program order); later rules
    replace it when their PE gets there."""
    seen: dict[tuple[int, int, int], int] = {}
    for it in items:
        op = it.op
        if isinstance(op, pe.RouteOp):
            r0, c0, nr, nc = it.rect
            k, port = color_index[op.color_id], PORT_INDEX[op.from_port.data]
            mask = port_mask(op.outputs)
            for r in range(r0, r0 + nr):
                for c in range(c0, c0 + nc):
                    seen.setdefault((r * C + c, k, port), mask)
        elif isinstance(op, pe.RoutesOp):
            k = color_index[op.color_id]
            router, ports, masks = rule_cells(rule_array(op.rule_bytes), C)
            for key, mask in zip(
                zip(router.tolist(), [k] * router.size, ports.tolist(), strict=True),
                masks.tolist(),
                strict=True,
            ):
                seen.setdefault(key, mask)
    rows = np.array(list(seen), dtype=np.int64).reshape(-1, 3)
    return rows[:, 0], rows[:, 1], rows[:, 2], np.array(list(seen.values()), dtype=np.int64)
