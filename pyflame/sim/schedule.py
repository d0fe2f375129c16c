"""The plan under construction: what every kernel reads and writes while the planner runs it.

The planner (pyflame/sim/planner.py) reads @main into buffers and items (one per op), then
executes the items in a valid order at plan time. Executing an item means calling its op's
kernel (pyflame/sim/kernels/), which

- appends the run-time `Step`s that move the op's data (numpy over the op's whole rectangle),
- advances the per-PE clocks (`clock`, `busy`) by what the op costs (pyflame/sim/costs.py),
- and, for the network ops, configures routers (`routes`), reserves links (`links`) and posts
  or takes messages (`mail`, `batches`).

Timing depends only on the program, never on the data, so one schedule serves every run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from xdsl.dialects.builtin import FileLineColLoc
from xdsl.ir import Operation, SSAValue

from pyflame.core.distribution import Distribution
from pyflame.core.errors import CompileError
from pyflame.core.target import Target
from pyflame.sim import costs
from pyflame.sim.arrivals import ArrivalOrder
from pyflame.sim.executable import Buffer, Rect, Step
from pyflame.sim.fabric import Links, Mailboxes, RouteTable
from pyflame.sim.streams import Completion, InFlight, Stream, Streams
from pyflame.sim.timeline import Timeline


def location_of(op: Operation) -> str | None:
    """`file:line` of an op's FileLineColLoc location, if it has one."""
    loc = getattr(op, "location", None)
    if isinstance(loc, FileLineColLoc):
        return f"{loc.filename.data}:{loc.line.data}"
    return None


def describe(op: Operation, seq: int | None = None) -> str:
    """How messages name an op: its user line if known, else its position in @main."""
    where = location_of(op)
    if where:
        return f"{op.name} at {where}"
    return f"{op.name} (op #{seq} of @main)" if seq is not None else op.name


def rect_pes(rect: Rect) -> str:
    r0, c0, nr, nc = rect
    return f"PEs rows {r0}..{r0 + nr - 1}, cols {c0}..{c0 + nc - 1}"


def pe_slice(rect: Rect) -> tuple[slice, slice]:
    """Index of `rect` in a per-PE array of the whole (R, C) box (clocks, busy cycles)."""
    r0, c0, nr, nc = rect
    return (slice(r0, r0 + nr), slice(c0, c0 + nc))


class Frame:
    """Which completion each token names, in one scope: @main's body (the root frame, whose
    table is `Schedule.tokens`) or one iteration of a pe.loop. An iteration's carried tokens
    are links to the previous iteration's yielded values (or to the loop's operands), and the
    loop's results links to the last iteration's: resolved when first looked up, so a frame
    lives only while an item of its iteration or an unresolved link needs it (plan memory does
    not grow with the trip count)."""

    __slots__ = ("links", "outer", "values")

    def __init__(self, values: dict[SSAValue, Completion], outer: Frame | None = None):
        self.values = values
        self.outer = outer
        self.links: dict[SSAValue, tuple[Frame, SSAValue]] = {}

    def lookup(self, value: SSAValue) -> Completion | None:
        got = self.values.get(value)
        if got is not None:
            return got
        link = self.links.get(value)
        if link is None:
            return None if self.outer is None else self.outer.lookup(value)
        got = link[0].lookup(link[1])
        if got is not None:  # resolved: the link (and the frame it names) is no longer needed
            self.values[value] = got
            del self.links[value]
        return got

    def link(self, value: SSAValue, frame: Frame, source: SSAValue) -> None:
        """`value` names what `source` names in `frame` (resolved now if it is known)."""
        got = frame.lookup(source)
        if got is not None:
            self.values[value] = got
        else:
            self.links[value] = (frame, source)


@dataclass
class Item:
    """One op of @main to execute: its position, its rectangle and how messages name it; an
    op of a pe.loop's body runs once per iteration, as an item with that iteration's rectangle
    and token frame."""

    seq: int
    op: Operation
    rect: Rect
    what: str
    frame: Frame | None = None
    #: (loop, iteration) of an op of a pe.loop's body (pyflame/sim/loop_fission.py)
    loop: tuple[int, int] | None = None


@dataclass
class Batch:
    """The messages of one executed `pe.send` (one per delivery)."""

    what: str
    color: int
    size: int
    rect: Rect
    src_lr: np.ndarray  # per delivery: source row / col inside the send's rectangle
    src_lc: np.ndarray
    stream: Stream | None  # its timing (None once every delivery is received)
    pending: int  # deliveries not received yet

    def forget_deliveries(self) -> None:
        """Drop the per-delivery arrays once every delivery is received (plan memory stays
        proportional to the messages in flight, not to every message ever sent)."""
        self.src_lr = self.src_lc = np.zeros(0, dtype=np.int64)
        self.stream = None


@dataclass
class Schedule:
    """The planner's state: the program as read, the steps so far, and the machine's timing."""

    target: Target
    #: the buffers (pe.alloc) in program order, and the buffer each alloc's result names
    buffers: list[Buffer] = field(default_factory=list)
    buf_of: dict[SSAValue, Buffer] = field(default_factory=dict)
    #: @main's arguments by position, and the integer constants (arith.constant)
    arg_index: dict[SSAValue, int] = field(default_factory=dict)
    consts: dict[SSAValue, int] = field(default_factory=dict)
    #: the run-time steps in execution order, and (description, op) of each step's op
    steps: list[Step] = field(default_factory=list)
    step_ops: list[tuple[str, Operation | None]] = field(default_factory=list)
    #: (cycles, flops) of compute ops by (kind, sizes, element bytes, half) when every size is
    #: an int (a loop's ops charge the same sizes once per iteration)
    op_costs: dict[tuple, tuple[int, int]] = field(default_factory=dict)
    #: (loop, iteration) of the loop body op that made each step (None: not in a loop)
    step_loops: list[tuple[int, int] | None] = field(default_factory=list)
    #: host outputs: the output slot of each pe.host_out result
    outputs: dict[SSAValue, int] = field(default_factory=dict)
    #: every executed pe.send's messages, by send index (the key of its in-flight data)
    batches: list[Batch] = field(default_factory=list)
    flops: int = 0
    io_cycles: int = 0
    #: the completion of every asynchronous send or receive, by its token
    tokens: dict[SSAValue, Completion] = field(default_factory=dict)
    #: the completions of asynchronous transfers inside loops not yet waited for everywhere
    loop_tokens: list[Completion] = field(default_factory=list)
    #: synchronous sends and receives still waiting for their streams, by item position
    holds: dict[int, Completion] = field(default_factory=dict)
    #: buffers asynchronous transfers still use (until their pe.wait)
    inflight: list[InFlight] = field(default_factory=list)
    #: how many of each token's pe.wait uses have run (a token whose every wait has run and
    #: that every PE waited for is dropped from `tokens`)
    token_waits: dict[SSAValue, int] = field(default_factory=dict)
    #: one copy of each distinct index array the steps gather messages with, by content: a
    #: ring's every step reads its neighbours with the same (rows, cols) arrays (Cannon on
    #: 720x720 kept 720 copies, ~9 GB)
    index_arrays: dict[tuple, list[np.ndarray]] = field(default_factory=dict)
    #: the last exchange phase's color and its messages' link entries: (color, link id, first
    #: and last + 1 cycle it carries the message, the destination PE as r * C + c), for the
    #: next phase, whose messages share those links with them on another color
    #: (pyflame/sim/kernels/exchange.py)
    exchange_links: tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None
    #: the run of consecutive exchange ops being timed together (pyflame/sim/exchange_run.py)
    exchange_run: Any = None
    #: which buffers hold equal tiles on which PEs (pyflame/sim/uniform_tiles.py; None: not
    #: tracked)
    uniform: Any = None

    def interned(self, a: np.ndarray) -> np.ndarray:
        """`a` (an index array, read only from now on), or the equal array kept before."""
        key = (a.shape, a.dtype.str, hash(a.tobytes()))
        for kept in self.index_arrays.get(key, ()):
            if np.array_equal(kept, a):
                return kept
        a.flags.writeable = False
        self.index_arrays.setdefault(key, []).append(a)
        return a

    def start(self, rows: int, cols: int) -> None:
        """Per-PE clocks and the fabric for the (rows, cols) box of the program's PEs."""
        t = self.target
        self.R, self.C = rows, cols
        self.clock = np.zeros((rows, cols), dtype=np.int64)
        self.busy = np.zeros((rows, cols), dtype=np.int64)
        self.used = np.zeros((rows, cols), dtype=bool)
        self.routes = RouteTable(rows, cols, t.fabric_rows, t.fabric_cols)
        self.links = Links(rows, cols, t)
        self.mail = Mailboxes(rows, cols)
        #: per (PE, color): the latest head posted there (messages must arrive in the order
        #: they are matched)
        self.arrivals = ArrivalOrder(rows, cols)
        #: when each PE's output and input ramp are next free (one stream each at a time)
        self.out_free = np.zeros((rows, cols), dtype=np.int64)
        self.in_free = np.zeros((rows, cols), dtype=np.int64)
        #: per PE: the asynchronous send whose stream still holds its output ramp (longer than
        #: its path, not yet taken up by its receivers), an index into `ramp_holders`; -1 none.
        #: A synchronous send there waits for that stream's end (kernels/network.py)
        self.ramp_held = np.full((rows, cols), -1, dtype=np.int64)
        self.ramp_holders: list[Completion] = []
        self.streams = Streams(self.clock, t)
        #: @main's token scope (its table is `tokens`); loop iterations' frames link to it
        self.root = Frame(self.tokens)
        #: what the middle row of PEs does over time (Report.timeline)
        self.timeline = Timeline(row=rows // 2)

    def token(self, item: Item, value: SSAValue) -> Completion | None:
        """The completion a token names where `item` runs (None: no transfer made it)."""
        return (item.frame or self.root).lookup(value)

    def set_token(self, item: Item, value: SSAValue, comp: Completion) -> None:
        """An asynchronous transfer's token, in the scope of `item`."""
        frame = item.frame or self.root
        frame.values[value] = comp
        if frame is not self.root:
            self.loop_tokens.append(comp)

    def buf(self, value: SSAValue, item: Item) -> Buffer:
        """The buffer an operand names (made by pe.alloc)."""
        b = self.buf_of.get(value)
        if b is None:
            raise CompileError(f"{item.what}: operand is not a buffer made by pe.alloc")
        return b

    def charge(
        self,
        rect: Rect,
        kind: str,
        *sizes: Any,
        buf: Buffer | None = None,
        half: bool | None = None,
    ) -> None:
        """Charge a compute op to the PEs of `rect` (element size and flop rate of `buf`; `half`:
        the fp16 lane count whatever `buf` holds, for fp16 FMACs into a float32 buffer)."""
        extra: dict[str, Any] = (
            {}
            if buf is None
            else {"elem_bytes": buf.dtype.itemsize, "half": buf.half if half is None else half}
        )
        sl = pe_slice(rect)
        if all(type(x) is int for x in sizes):
            key = (kind, sizes, *extra.values())
            known = self.op_costs.get(key)
            if known is None:
                known = self.op_costs[key] = costs.op_cycles(self.target, kind, *sizes, **extra)
            cyc, flops = known
            self.clock[sl] += cyc
            self.busy[sl] += cyc
            self.flops += flops * rect[2] * rect[3]
            return
        cyc, flops = costs.op_cycles(self.target, kind, *sizes, **extra)
        self.clock[sl] += cyc
        self.busy[sl] += cyc
        self.flops += int(np.sum(np.broadcast_to(flops, (rect[2], rect[3]))))

    def check_layout_grid(self, item: Item, dist: Distribution) -> None:
        """A tile layout's grid must be the op's rectangle."""
        if tuple(dist.grid) != (item.rect[2], item.rect[3]):
            raise CompileError(
                f"{item.what}: layout grid {dist.grid[0]}x{dist.grid[1]} does not match its PEs "
                f"{list(item.rect)}"
            )
