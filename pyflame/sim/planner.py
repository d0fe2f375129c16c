"""Plan a pe program once (`compile_plan`), then run it many times (`Executable.run`).

Planning does all the static work: it reads the ops and their attributes, lays the buffers out in
one SRAM byte array, simulates the program's schedule (which op may run when, which message each
receive takes, where every wavelet goes, how long everything takes), and records the ops in a
valid execution order as a list of small numpy steps (each op's kernel, pyflame/sim/kernels/,
makes its steps and charges its time).

Schedule: every PE runs, in program order, the ops whose rectangle contains it. An op runs (for
its whole rectangle at once) when every earlier op overlapping its rectangle has run and, for a
`pe.recv`, every PE of its rectangle has a message waiting on its color. Planning always runs the
earliest op (in program order) that can run; when none can and some remain, the program
deadlocks (`DeadlockError`).
"""

from __future__ import annotations

import bisect
import itertools
import math
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import cast

import numpy as np
from xdsl.dialects import arith, func
from xdsl.dialects.builtin import IntegerAttr, IntegerType, ModuleOp, TensorType
from xdsl.ir import Attribute, BlockArgument, Operation, SSAValue

from pyflame.core import elementwise
from pyflame.core.errors import (
    ColorAllocationError,
    CompileError,
    DeadlockError,
    PyFlameError,
    RoutingError,
    SRAMFault,
)
from pyflame.core.progress import PlanProgress, wanted
from pyflame.core.target import Target
from pyflame.dialects import pe
from pyflame.sim import host_memory
from pyflame.sim.dead_transfers import set_operands
from pyflame.sim.executable import Buffer, Executable, Rect
from pyflame.sim.fabric import pe_str
from pyflame.sim.kernels import kernel_for
from pyflame.sim.kernels.exchange import end_run
from pyflame.sim.kernels.network import (
    ramp_holds,
    ramps_ready,
    wait_completions,
    wait_ready,
)
from pyflame.sim.loop_fission import fission_loops
from pyflame.sim.report import Report
from pyflame.sim.schedule import (
    Frame,
    Item,
    Schedule,
    describe,
    pe_slice,
    rect_pes,
)
from pyflame.sim.sram import group_buffers
from pyflame.sim.step_access import access_of
from pyflame.sim.streams import UNKNOWN, Completion, check_races
from pyflame.sim.uniform_tiles import UniformTiles

#: the timeline phase of each op that is not computation (pyflame/sim/timeline.py)
PHASE_OF: dict[type, str] = {
    pe.SendOp: "send",
    pe.RecvOp: "receive",
    pe.ExchangeOp: "exchange",
    pe.RouteOp: "route",
    pe.RoutesOp: "route",
}


def compile_plan(module: ModuleOp) -> Executable:
    """Plan a verified pe-level module (`func.func @main`, attribute `pf.target`) for running,
    on the engine its target's `fidelity` names (the wavelet-level one: pyflame/sim/wavelet/)."""
    if Target.of_module(module).fidelity == "wavelet":
        from pyflame.sim.wavelet import compile_wavelet  # imports this module

        return compile_wavelet(module)
    return Planner(module).plan()


def _find_main(module: ModuleOp) -> func.FuncOp:
    for op in module.walk():
        if isinstance(op, func.FuncOp) and op.sym_name.data == "main":
            if not op.body.blocks:
                raise CompileError("@main has no body")
            return op
    raise CompileError("the module has no func.func @main")


def _host_bytes(typ: Attribute) -> int:
    """Bytes of a host tensor of type `typ` (0 for scalars)."""
    if not isinstance(typ, TensorType):
        return 0
    elem = elementwise.numpy_dtype(elementwise.type_name(typ.element_type)).itemsize
    return math.prod(typ.get_shape()) * elem


@dataclass
class LoopPlan:
    """A pe.loop as read: its body's items at the first iteration, with the steps each one's
    rectangle moves by per iteration of each enclosing loop, innermost first (None: it
    stays; read once here, not from the op's properties per iteration), and the loops nested
    in it."""

    loop: pe.LoopOp
    trips: int
    body: list[tuple[Item, tuple[Rect, ...] | None] | LoopPlan]


def _ops_to_run(program: list[Item | LoopPlan]) -> int:
    """The ops a plan runs: a loop's body once per iteration (nested loops within)."""
    total = 0
    for entry in program:
        if isinstance(entry, LoopPlan):
            body = [part if isinstance(part, LoopPlan) else part[0] for part in entry.body]
            total += entry.trips * _ops_to_run(body)
        else:
            total += 1
    return total


def _versions(comps: list[Completion] | None) -> int:
    """A wait's completions' versions summed (each only grows: equal sums, nothing moved)."""
    total = 0
    for c in comps or ():
        total += c.version
    return total


def _still(known: tuple[list[Completion] | None, int, int], pushes: dict[int, int]) -> bool:
    """Whether a blocked item's cached "not yet" holds: a receive's color saw no push, a
    wait's completions no change, since it was asked."""
    comps, key, color = known
    if color >= 0:
        return pushes.get(color, 0) == key
    return _versions(comps) == key


@dataclass(frozen=True)
class _OpInfo:
    """An op's kind and buffers as `Planner._execute` uses them."""

    is_pe: bool
    is_route: bool
    #: the buffer operands, and the index of the written one among them (None: only reads)
    buffers: tuple[SSAValue, ...]
    written: int | None
    #: a send's or receive's window of its buffers (None: other ops)
    window: tuple[int, int] | None


class Blocked:
    """The items that cannot run yet, in program order, and how many of them hold each PE (an
    item from the program may not pass a blocked one on the same PEs)."""

    def __init__(self, rows: int, cols: int):
        self.items: list[Item] = []
        self.cover = np.zeros((rows, cols), dtype=np.int32)

    def __bool__(self) -> bool:
        return bool(self.items)

    def overlaps(self, rect: Rect) -> bool:
        return bool(self.items) and bool(self.cover[pe_slice(rect)].any())

    def append(self, it: Item) -> None:
        self.items.append(it)
        self.cover[pe_slice(it.rect)] += 1

    def insert(self, it: Item) -> None:
        """Back in its program-order place."""
        bisect.insort(self.items, it, key=lambda b: b.seq)
        self.cover[pe_slice(it.rect)] += 1

    def remove(self, j: int) -> None:
        it = self.items.pop(j)
        self.cover[pe_slice(it.rect)] -= 1


class Planner:
    """Reads @main into a Schedule, then executes its items in a valid order at plan time."""

    def __init__(self, module: ModuleOp):
        self.module = module
        self.target = Target.of_module(module)
        self.main = _find_main(module)
        self.block = self.main.body.blocks[0]
        self.schedule = Schedule(self.target)
        self.order: list[str] = []
        self._op_infos: dict[Operation, _OpInfo] = {}
        #: the op being read (a reading error names it; tools print its location)
        self.reading: Operation | None = None
        #: the progress line of a long plan (pyflame/core/progress.py), or None
        self.progress: PlanProgress | None = None

    # ------------------------------------------------------------------ reading

    def read(self) -> None:
        s = self.schedule
        args = list(self.block.args)
        s.arg_index = {a: i for i, a in enumerate(args)}
        self.arg_names = [a.name_hint or f"arg{i}" for i, a in enumerate(args)]
        self.arg_kinds: list[tuple] = []
        for a in args:
            if isinstance(a.type, TensorType):
                self.arg_kinds.append(
                    (
                        "tensor",
                        tuple(a.type.get_shape()),
                        elementwise.numpy_dtype(elementwise.type_name(a.type.element_type)),
                    )
                )
            elif isinstance(a.type, IntegerType):
                self.arg_kinds.append(("int",))
            else:
                self.arg_kinds.append(("other",))
        #: the program: an item per op of @main, a LoopPlan per pe.loop
        self.program: list[Item | LoopPlan] = []
        #: every op to run once, as read (a loop body's ops at their first iteration)
        self.items: list[Item] = []
        self.return_values: list[SSAValue] = []
        self.R = self.C = 0
        for seq, op in enumerate(self.block.ops):
            self.reading = op
            if isinstance(op, func.ReturnOp):
                self.return_values = list(op.operands)
                continue
            if isinstance(op, arith.ConstantOp):
                v = op.value
                if isinstance(v, IntegerAttr):
                    s.consts[op.result] = v.value.data
                continue
            if isinstance(op, pe.LoopOp):
                self.program.append(self._read_loop(op, seq))
                continue
            item = self._read_op(op, seq)
            if item is not None:
                self.program.append(item)
        B = max([b.offset + b.nbytes for b in s.buffers] + [0])
        self.B = max(16, -(-B // 16) * 16)
        self._check_host_memory()

    def _read_loop(self, loop: pe.LoopOp, seq: int) -> LoopPlan:
        """A pe.loop's body is read once: each op checked at its first and last iteration (its
        rectangle is affine in the iteration, so every other one lies between them)."""
        body: list[tuple[Item, tuple[Rect, ...] | None] | LoopPlan] = []
        for op in loop.body.block.ops:
            if isinstance(op, pe.YieldOp):
                continue
            self.reading = op
            if isinstance(op, pe.LoopOp):
                body.append(self._read_loop(op, seq))
                continue
            if isinstance(op, pe.AllocOp) or not isinstance(op, pe.PEOp):
                raise CompileError(f"{describe(op, seq)}: cannot be inside a pe.loop")
            steps = tuple(op.rect_steps) or None
            for corner in op.rect_span()[1:]:
                self._read_op(op, seq, corner, " at the loop's last iteration")
            item = self._read_op(op, seq)
            assert item is not None  # not an alloc
            body.append((item, steps))
        return LoopPlan(loop, loop.trip_count, body)

    def _read_op(
        self, op: Operation, seq: int, rect: tuple[int, ...] | None = None, when: str = ""
    ) -> Item | None:
        """Check one op (at rectangle `rect`, its own when None); its item (None: a buffer)."""
        t = self.target
        if not isinstance(op, pe.PEOp):
            raise CompileError(
                f"{describe(op, seq)}: not a pe op; lower the program to the pe level "
                "first (flame-to-mesh, mesh-to-pe)"
            )
        rect = op.rect if rect is None else rect
        if len(rect) != 4 or rect[2] <= 0 or rect[3] <= 0 or min(rect) < 0:
            raise CompileError(f"{describe(op, seq)}: bad pes {list(rect)}{when}")
        what = describe(op, seq)
        item = None
        if isinstance(op, pe.AllocOp):
            self._read_alloc(op, rect, what)
        elif not when:
            item = Item(seq, op, rect, what)
            self.items.append(item)
        self.R = max(self.R, rect[0] + rect[2])
        self.C = max(self.C, rect[1] + rect[3])
        if isinstance(op, pe.ExchangeOp):
            # each grid at its origin's offset from the nearer origin (exchange_plan.anchor)
            lays = (op.src_layout.dist, op.dst_layout.dist)
            a0, a1 = min(d.origin[0] for d in lays), min(d.origin[1] for d in lays)
            for d in lays:
                self.R = max(self.R, rect[0] + d.origin[0] - a0 + d.grid[0])
                self.C = max(self.C, rect[1] + d.origin[1] - a1 + d.grid[1])
        if (
            isinstance(op, pe.SendOp | pe.RecvOp | pe.RouteOp | pe.RoutesOp | pe.ExchangeOp)
            and op.color_id >= t.num_colors
        ):
            raise ColorAllocationError(
                f"{what}: color {op.color_id} is not below the target's "
                f"{t.num_colors} colors (run allocate-colors)"
            )
        if (
            rect[0] + rect[2] > t.fabric_rows or rect[1] + rect[3] > t.fabric_cols
        ) and not isinstance(op, pe.AllocOp):
            cls = RoutingError if isinstance(op, pe.RouteOp | pe.RoutesOp) else CompileError
            raise cls(
                f"{what}: {rect_pes(rect)} lie outside the {t.fabric_rows} x "
                f"{t.fabric_cols} fabric of target {t.name}{when}"
            )
        return item

    def _check_host_memory(self) -> None:
        """Refuse, before planning, a program whose run would not fit in host memory."""
        s = self.schedule
        op_elements = []
        exchanges: set[tuple[int, ...]] = set()
        for it in self.items:
            if type(it.op) in host_memory.INDEX_BYTES_PER_ELEMENT:
                bufs = [s.buf_of[v] for v in it.op.operands if v in s.buf_of]
                if isinstance(it.op, pe.ExchangeOp):
                    # the parts of one exchange (its local part and its phases) hold index maps
                    # for its elements once between them
                    pair = tuple(b.index for b in bufs)
                    if pair in exchanges:
                        continue
                    exchanges.add(pair)
                elems = max((b.rect[2] * b.rect[3] * b.size for b in bufs), default=0)
                op_elements.append((type(it.op), elems))
        host_memory.check(
            sum(block.nbytes for block in group_buffers(s.buffers)),
            [(b.name, b.rect[2] * b.rect[3] * b.nbytes) for b in s.buffers],
            sum(_host_bytes(a.type) for a in self.block.args),
            sum(_host_bytes(v.type) for v in self.return_values),
            op_elements,
        )

    def _read_alloc(self, op: pe.AllocOp, rect: Rect, what: str) -> None:
        t, s = self.target, self.schedule
        name = op.buffer_name.data
        typ = pe.buf_of(op.result)
        elem = elementwise.type_name(typ.element_type)
        if elem not in elementwise.ELEMENT_TYPES:
            raise CompileError(f"{what}: buffer '{name}' holds {elem}, which PEs do not hold")
        off = op.byte_offset
        if off is None:
            raise CompileError(
                f"{what}: buffer '{name}' has no SRAM offset; run allocate-sram first"
            )
        size = typ.size.data
        dtype = elementwise.numpy_dtype(elem)
        nbytes = size * dtype.itemsize
        if off % 4:
            raise SRAMFault(f"{what}: buffer '{name}' at byte offset {off} is not 4-byte aligned")
        if off + nbytes > t.sram_bytes:
            raise SRAMFault(
                f"buffer '{name}' on {rect_pes(rect)} spans bytes [{off}, {off + nbytes}) but a "
                f"PE of target {t.name} has {t.sram_bytes} bytes of SRAM ({what})"
            )
        if off + nbytes > t.usable_sram_bytes:  # the top of SRAM holds the PE's code and stacks
            raise SRAMFault(
                f"buffer '{name}' on {rect_pes(rect)} spans bytes [{off}, {off + nbytes}), into "
                f"the {t.sram_reserved_bytes} bytes that target {t.name} keeps for code and "
                f"stacks at [{t.usable_sram_bytes}, {t.sram_bytes}) ({what}); buffers must end "
                f"by byte {t.usable_sram_bytes} (allocate-sram places them so)"
            )
        if rect[0] + rect[2] > t.fabric_rows or rect[1] + rect[3] > t.fabric_cols:
            raise SRAMFault(
                f"buffer '{name}' on {rect_pes(rect)} lies outside the {t.fabric_rows} x "
                f"{t.fabric_cols} fabric of target {t.name} ({what})"
            )
        whole = None if op.whole is None else s.buf_of[op.whole].index
        buf = Buffer(len(s.buffers), name, rect, off, size, nbytes, dtype, whole=whole)
        s.buffers.append(buf)
        s.buf_of[op.result] = buf

    # ------------------------------------------------------------------ scheduling

    def plan(self) -> Executable:
        try:
            self.read()
        except PyFlameError as err:
            if getattr(err, "op", None) is None and self.reading is not None:
                err.op = self.reading
            raise
        s = self.schedule
        s.start(self.R, self.C)
        s.uniform = UniformTiles.start(s)
        total = _ops_to_run(self.program)
        self.progress = (
            PlanProgress(total, f"{self.R}x{self.C} PEs") if wanted(total, sys.stderr) else None
        )
        try:
            exe = self._plan_all()
        except BaseException:
            if self.progress is not None:
                self.progress.stop()
            raise
        if self.progress is not None:
            self.progress.close()
        return exe

    def _plan_all(self) -> Executable:
        """Run every op of the program (`plan`, after reading it)."""
        s = self.schedule
        items = self._in_order()
        s.streams.on_late_completion = self._record_late
        blocked = Blocked(self.R, self.C)  # in program order
        #: blocked receives and waits found not ready: (the wait's completions, the counts read)
        self.unready: dict[int, tuple[list[Completion] | None, int, int]] = {}
        pushes = s.mail.pushes
        # the PEs of the blocked items looked at so far in a scan (an item may only pass the
        # blocked items in front of it on other PEs): a mask, not a list of rectangles (a
        # 720x720 plan rescans ~2 x 720 blocked rows after every op)
        seen = np.zeros((self.R, self.C), dtype=bool)
        dirty = False
        while True:
            if dirty and blocked:
                dirty = False
                # the PEs of the blocked items in front of the first ready one, marked only
                # once a ready one is found (most scans find none: each item's "not yet" is
                # cached, so a scan is a walk over the list)
                marked: list[Item] = []
                for j, it in enumerate(blocked.items):
                    held = s.holds.get(it.seq)
                    if held is not None:
                        if held.complete:  # a synchronous transfer whose streams have finished
                            blocked.remove(j)
                            del s.holds[it.seq]
                            dirty = True
                            break
                        continue
                    known = self.unready.get(it.seq)
                    if known is not None and _still(known, pushes):
                        continue  # (the common case, asked without a call: ~g^2 scans)
                    if not self._ready(it):
                        continue
                    for before in blocked.items[len(marked) : j]:
                        seen[pe_slice(before.rect)] = True
                        marked.append(before)
                    if not seen[pe_slice(it.rect)].any():
                        blocked.remove(j)
                        self._run(it, blocked)
                        dirty = True
                        break
                # the items in front of the one taken out (if any) kept their places
                for before in marked:
                    seen[pe_slice(before.rect)] = False
                if dirty:
                    continue
            nxt = next(items, None)
            if nxt is None:
                break
            it = nxt
            if blocked.overlaps(it.rect) or not self._ready(it):
                blocked.append(it)
            else:
                self._run(it, blocked)
                if isinstance(it.op, pe.SendOp | pe.RecvOp):
                    dirty = True
        if blocked:
            self._deadlock(blocked.items)
        self._check_waited()
        left = s.mail.leftovers()
        if left:
            color, r, c, bid, idx, n = left[0]
            b = s.batches[bid]
            sr = b.rect[0] + int(b.src_lr[idx])
            sc = b.rect[1] + int(b.src_lc[idx])
            more = f" ({n} PEs hold unreceived messages on color {color})" if n > 1 else ""
            raise RoutingError(
                f"message on color {color} from {pe_str(sr, sc)} ({b.what}) to "
                f"{pe_str(r, c)} was never received{more}"
            )
        return self._executable()

    def _in_order(self) -> Iterator[Item]:
        """The items to run, in program order, each with a position of its own: a loop's body
        once per iteration with that iteration's rectangles and token frame, made when the
        planner reaches it and dropped once run (plan memory does not grow with trip counts)."""
        self._position = 0
        # each run of a nested loop (one per iteration of its outer loop) is a loop of its own
        # for loop fission: numbered after @main's entries
        self._loop_runs = itertools.count(len(self.program))
        for number, entry in enumerate(self.program):
            if isinstance(entry, Item):
                entry.seq = self._position
                self._position += 1
                yield entry
                continue
            yield from self._loop_items(entry, self.schedule.root, number, ())

    def _loop_items(
        self, entry: LoopPlan, outer: Frame, number: int, around: tuple[int, ...]
    ) -> Iterator[Item]:
        """One run of a loop inside the scope `outer`: its iterations' items in order (a nested
        loop's once per iteration of this one, its frames inside this iteration's)."""
        loop = entry.loop
        yielded = loop.yield_op.values
        previous, sources = outer, list(loop.inits)
        for i in range(entry.trips):
            frame = Frame({}, outer=outer)
            for carried, source in zip(loop.carried, sources, strict=True):
                frame.link(carried, previous, source)
            for part in entry.body:
                if isinstance(part, LoopPlan):
                    yield from self._loop_items(part, frame, next(self._loop_runs), (i, *around))
                    continue
                first, steps = part
                # (the steps read once in _read_loop, not from the op's properties)
                rect = (
                    first.rect if steps is None else pe.moved_rect(first.rect, steps, (i, *around))
                )
                yield Item(self._position, first.op, rect, first.what, frame, (number, i))
                self._position += 1
            previous, sources = frame, list(yielded)
        for result, source in zip(loop.results, sources, strict=True):
            outer.link(result, previous, source)

    def _run(self, it: Item, blocked: Blocked) -> None:
        """Execute `it`; a synchronous transfer that cannot finish yet stays blocked, holding
        its PEs, until its streams do (Schedule.holds)."""
        self.unready.pop(it.seq, None)
        self._execute(it)
        if self.progress is not None:
            self.progress.tick()
        if it.seq in self.schedule.holds:
            blocked.insert(it)

    def _ready(self, it: Item) -> bool:
        """A receive has a message on every PE; a wait's tokens have completed on every PE.
        A blocked item is asked again after every op that ran: the answer "not yet" is kept
        with the counts it read (its color's pushes, its completions' versions) and given
        again until one of them moves."""
        op = it.op
        kind = type(op)  # (exact types: no subclass of either; isinstance goes through ABCs)
        if kind is pe.SendOp:
            return self._ramps_ready(it)
        if kind is not pe.RecvOp and kind is not pe.WaitOp:
            return True
        known = self.unready.get(it.seq)
        if known is not None and _still(known, self.schedule.mail.pushes):
            return False
        color = -1
        if kind is pe.RecvOp:
            mail = self.schedule.mail
            color = cast(pe.RecvOp, op).color_id
            key = mail.pushes.get(color, 0)
            ready = bool(mail.waiting(color, it.rect, cast(pe.RecvOp, op).message_count).all())
            comps = None
            if ready and cast(pe.RecvOp, op).forwards:
                return self._ramps_ready(it)
        else:
            wait = cast(pe.WaitOp, op)
            comps = wait_completions(self.schedule, it, wait) if known is None else known[0]
            key = _versions(comps)
            ready = wait_ready(comps, it)
        if not ready:
            self.unready[it.seq] = (comps, key, color)
        return ready

    def _ramps_ready(self, it: Item) -> bool:
        """A synchronous send (or forwarding receive) starts its stream only once every
        asynchronous stream still holding one of its PEs' output ramps has its end known
        (`kernels.network.ramp_holds`); "not yet" is kept until one of those moves."""
        op = it.op
        if op.is_async:  # type: ignore[attr-defined]  # sends and receives
            return True
        s = self.schedule
        known = self.unready.get(it.seq)
        if known is not None and known[2] == -1 and _still(known, s.mail.pushes):
            return False
        if ramps_ready(s, it.rect):
            return True
        comps = ramp_holds(s, it.rect)
        self.unready[it.seq] = (comps, _versions(comps), -1)
        return False

    def _record_late(self, comp: Completion, lr, lc, before, after) -> None:
        """A synchronous transfer finished after it was issued: its interval on the timeline."""
        s = self.schedule
        row = s.timeline.row - comp.rect[0]
        on = lr == row
        if on.any():
            cols = lc[on]
            s.timeline.record_cols(
                comp.rect[1] + cols,
                before[on],
                after[on],
                comp.busy[row, cols],
                comp.phase,
                comp.what,
            )

    def _check_waited(self) -> None:
        """Every asynchronous transfer is waited for on each of its PEs (its completion is what
        makes its buffer safe to touch again)."""
        for comp in [*self.schedule.tokens.values(), *self.schedule.loop_tokens]:
            if not comp.waited.all():
                r, c = np.argwhere(~comp.waited)[0]
                raise CompileError(
                    f"{comp.what}: asynchronous, but {pe_str(comp.rect[0] + r, comp.rect[1] + c)} "
                    "never waits for its token (add a pe.wait after it)"
                )

    def _deadlock(self, pending: list[Item]) -> None:
        """Name every PE that waits, on what, and where (the first blocked op covering it)."""
        s = self.schedule
        claimed = np.zeros((self.R, self.C), dtype=bool)
        waiting: list[tuple[tuple[int, int], int]] = []
        lines: list[str] = []
        culprits: list[Operation] = []
        for it in pending:
            r0, c0, nr, nc = it.rect
            sl = (slice(r0, r0 + nr), slice(c0, c0 + nc))
            mine = ~claimed[sl]
            claimed[sl] = True
            op = it.op
            held = s.holds.get(it.seq)
            if held is not None:
                color = op.color_id  # type: ignore[attr-defined]  # holds are sends and receives
                for r, c in np.argwhere(mine & (held.done == UNKNOWN)):
                    waiting.append(((r0 + int(r), c0 + int(c)), color))
                    lines.append(self._stalled(it, held, int(r), int(c), color))
                culprits.append(op)
            elif (
                isinstance(op, pe.SendOp) or (isinstance(op, pe.RecvOp) and op.forwards)
            ) and not ramps_ready(s, it.rect):
                color = op.color_id
                ramps = s.ramp_held[sl]
                for r, c in np.argwhere(mine & (ramps >= 0)):
                    holder = s.ramp_holders[int(ramps[r, c])]
                    waiting.append(((r0 + int(r), c0 + int(c)), color))
                    lines.append(
                        f"{pe_str(r0 + r, c0 + c)} cannot start sending on color {color} "
                        f"({it.what}): its output ramp still carries {holder.what}, longer than "
                        "its path's queues hold, whose receivers have not begun taking it"
                    )
                culprits.append(op)
            elif isinstance(op, pe.RecvOp):
                color = op.color_id
                stuck = mine & ~s.mail.waiting(color, it.rect, op.message_count)
                for r, c in np.argwhere(stuck):
                    waiting.append(((r0 + int(r), c0 + int(c)), color))
                    lines.append(f"{pe_str(r0 + r, c0 + c)} waits on color {color} ({it.what})")
                culprits.append(op)
            elif isinstance(op, pe.WaitOp):
                for t in op.tokens:
                    comp = s.token(it, t)
                    if comp is None:
                        continue
                    part = comp.done[
                        r0 - comp.rect[0] : r0 - comp.rect[0] + nr,
                        c0 - comp.rect[1] : c0 - comp.rect[1] + nc,
                    ]
                    # a token comes from a transfer (or, in a loop, through its carried tokens)
                    color = getattr(t.owner, "color_id", -1)
                    for r, c in np.argwhere(mine & (part == UNKNOWN)):
                        waiting.append(((r0 + int(r), c0 + int(c)), color))
                        lines.append(
                            f"{pe_str(r0 + r, c0 + c)} waits ({it.what}) for its {comp.what} "
                            f"on color {color}, whose stream never drains"
                        )
                culprits.append(op)
        shown = lines[:8]
        if len(lines) > 8:
            shown.append(f"... and {len(lines) - 8} more")
        n = len({w[0] for w in waiting})
        plain = (
            all(isinstance(op, pe.RecvOp) for op in culprits)
            and not s.holds
            and all(ramps_ready(s, it.rect) for it in pending)
        )
        why = (
            "wait for messages no one will send"
            if plain
            else "wait for each other (a stream stalls its sender once its path's queues are full)"
        )
        err = DeadlockError(
            f"deadlock: {n} PE{'s' if n != 1 else ''} {why}: " + "; ".join(shown),
            waiting=waiting,
        )
        err.op = culprits[0] if culprits else pending[0].op
        raise err

    def _stalled(self, it: Item, held: Completion, r: int, c: int, color: int) -> str:
        """Why PE (r, c) of a pending synchronous transfer cannot finish."""
        where = pe_str(it.rect[0] + r, it.rect[1] + c)
        if isinstance(it.op, pe.SendOp):
            return (
                f"{where} is stalled sending on color {color} ({it.what}): the message is longer "
                "than its path's queues hold and a receiver never begins taking it"
            )
        return (
            f"{where} is receiving on color {color} ({it.what}) a stream whose sender is "
            "stalled by another of its receivers"
        )

    def _op_info(self, op: Operation) -> _OpInfo:
        """What `_execute` reads of an op, read from its operands and properties once (a
        loop body's ops execute once per iteration)."""
        info = self._op_infos.get(op)
        if info is None:
            buffers: tuple[SSAValue, ...] = ()
            written = None
            if isinstance(op, pe.PEOp):
                buffers = tuple(op.buffers)
                written = None if op.written is None else buffers.index(op.written)
            info = self._op_infos[op] = _OpInfo(
                isinstance(op, pe.PEOp),
                isinstance(op, pe.RouteOp | pe.RoutesOp),
                buffers,
                written,
                op.window_span if isinstance(op, pe.SendOp | pe.RecvOp) else None,
            )
        return info

    def _execute(self, it: Item) -> None:
        """Run one item at plan time: its kernel makes its steps and charges its time."""
        s, op = self.schedule, it.op
        info = self._op_info(op)
        self.order.append(it.what)
        if not info.is_route:
            s.used[pe_slice(it.rect)] = True
        s.step_ops += [("a pe op", None)] * (len(s.steps) - len(s.step_ops))
        s.step_loops += [None] * (len(s.steps) - len(s.step_loops))
        if s.inflight and info.is_pe:
            bufs = [s.buf(b, it) for b in info.buffers]
            if info.window is not None:  # a transfer touches its window only
                bufs = [b.window(info.window) for b in bufs]
            check_races(
                s.inflight,
                op.name,
                it.what,
                it.rect,
                bufs,
                None if info.written is None else bufs[info.written],
            )
        r0, c0, nr, nc = it.rect
        row = s.timeline.row
        on_row = r0 <= row < r0 + nr
        if on_row:
            before = s.clock[row, c0 : c0 + nc].copy()
            busy = s.busy[row, c0 : c0 + nc].copy()
        first_step = len(s.steps)
        if s.exchange_run is not None and op not in s.exchange_run.members:
            end_run(s)  # an op between a run's exchange phases ends the run
        try:
            kernel = kernel_for(it)
            kernel(s, it, op)
        except PyFlameError as err:
            if getattr(err, "op", None) is None:
                err.op = op
            raise
        if s.uniform is not None and info.is_pe:  # equal tiles computed once
            s.uniform.after(s, it, op, first_step, kernel)
        if len(s.steps) > first_step and info.is_pe:
            # a step without an Access record touches only its op's buffers (dead_transfers.py)
            operands = [s.buf(b, it).index for b in info.buffers]
            for step in s.steps[first_step:]:
                if access_of(step) is None:
                    set_operands(step, operands)
        if on_row:
            s.timeline.record(
                c0,
                before,
                s.clock[row, c0 : c0 + nc],
                s.busy[row, c0 : c0 + nc] - busy,
                PHASE_OF.get(type(op), "compute"),
                it.what,
            )
        s.step_ops += [(it.what, op)] * (len(s.steps) - len(s.step_ops))
        s.step_loops += [it.loop] * (len(s.steps) - len(s.step_loops))

    # ------------------------------------------------------------------ result

    def _executable(self) -> Executable:
        s = self.schedule
        returns: list[tuple[str, int]] = []
        for v in self.return_values:
            if v in s.outputs:
                returns.append(("out", s.outputs[v]))
            elif isinstance(v, BlockArgument) and v in s.arg_index:
                returns.append(("arg", s.arg_index[v]))
            else:
                raise CompileError(
                    "@main must return results of pe.host_out (or its own arguments)"
                )
        t = self.target
        sram_peak = np.zeros((self.R, self.C), dtype=np.int64)
        for b in s.buffers:
            sl = pe_slice(b.rect)
            sram_peak[sl] = np.maximum(sram_peak[sl], b.offset + b.nbytes)
        cycles = int(s.clock.max()) if s.clock.size else 0
        report = Report(
            target=t.name,
            cycles=cycles,
            seconds=cycles / t.clock_hz,
            io_cycles=int(s.io_cycles),
            flops=int(s.flops),
            busy_cycles=s.busy,
            sram_peak_bytes=sram_peak,
            wavelets=s.links.per_router(),
            pes_used=int(s.used.sum()),
            clock_hz=float(t.clock_hz),
            flops_per_cycle=int(t.flops_per_cycle),
            fabric_pes=t.fabric_rows * t.fabric_cols,
            timeline=s.timeline,
        )
        s.step_loops += [None] * (len(s.steps) - len(s.step_loops))
        steps, step_ops = fission_loops(s.steps, s.step_ops, s.step_loops)
        return Executable(
            target=t,
            shape=(self.R, self.C, self.B),
            buffers=s.buffers,
            steps=steps,
            arg_names=self.arg_names,
            arg_kinds=self.arg_kinds,
            returns=returns,
            num_outputs=len(s.outputs),
            report=report,
            order=self.order,
            step_ops=step_ops,
        )


__all__ = ["Planner", "compile_plan"]
