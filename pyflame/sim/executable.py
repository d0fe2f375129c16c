"""Plan a pe program once (`compile_plan`), then run it many times with numpy (`Executable.run`).

Planning does all the static work: it reads the ops and their attributes, lays the buffers out in
one SRAM byte array, simulates the program's schedule (which op may run when, which message each
receive takes, where every wavelet goes, how long everything takes), and records the ops in a
valid execution order as a list of small numpy steps. Running only moves data: one numpy
operation per op over the op's whole rectangle of PEs.

Machine state at run time: `sram[R, C, B]` (uint8), R x C the bounding box of every `pes`
rectangle, B the highest byte any buffer uses (rounded up to 16). A buffer is the float32 view
`sram[r0:r0+nr, c0:c0+nc, off:off+nbytes]` of shape (nr, nc, size).

Schedule: every PE runs, in program order, the ops whose rectangle contains it. An op runs (for
its whole rectangle at once) when every earlier op overlapping its rectangle has run and, for a
`pe.recv`, every PE of its rectangle has a message waiting on its color. Planning always runs the
earliest op (in program order) that can run; when none can and some remain, the program
deadlocks (`DeadlockError`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from xdsl.dialects import arith, func
from xdsl.dialects.builtin import (
    FileLineColLoc,
    IntegerAttr,
    IntegerType,
    ModuleOp,
    TensorType,
)
from xdsl.ir import BlockArgument, Operation, SSAValue

from pyflame.dialects import pe
from pyflame.ir import elementwise, reductions
from pyflame.ir.distribution import Distribution
from pyflame.ir.errors import (
    ColorAllocationError,
    CompileError,
    DeadlockError,
    IntegerOverflowError,
    PyFlameError,
    RoutingError,
    SimulationError,
    SRAMFault,
)
from pyflame.ir.target import Target
from pyflame.sim import costs, rng
from pyflame.sim.fabric import (
    PORT_INDEX,
    Links,
    Mailboxes,
    RouteTable,
    pe_str,
    port_mask,
    xy_paths,
)
from pyflame.sim.report import Report

Rect = tuple[int, int, int, int]
#: a run-time step: (buffer views, in-flight messages, arguments, outputs) -> None
Step = Callable[[list, dict, list, list], None]


# --------------------------------------------------------------------------- helpers


def location_of(op: Operation) -> str | None:
    """`file:line` of an op's FileLineColLoc location, if it has one."""
    loc = getattr(op, "location", None)
    if isinstance(loc, FileLineColLoc):
        return f"{loc.filename.data}:{loc.line.data}"
    return None


def describe(op: Operation, seq: int | None = None) -> str:
    where = location_of(op)
    if where:
        return f"{op.name} at {where}"
    return f"{op.name} (op #{seq} of @main)" if seq is not None else op.name


# int32 kernels compute in int64 (products and powers checked in float64 too) and refuse a
# result outside int32 instead of wrapping (PyFlame stores PyTorch's int64 as int32); float
# kernels are untouched. Checked: binary add/sub/mul/pow, unary neg/abs/scale, sum/prod reduce
# and recv combine, matmul_acc, float -> int32 convert, iota and fill constants.
_I32 = np.dtype(np.int32)
_I32_MIN, _I32_MAX = -(2**31), 2**31 - 1


def _as_int32(wide: np.ndarray, what: str, kind: str) -> np.ndarray:
    """`wide` (the true int64 or float values) as int32, or an IntegerOverflowError naming
    the op (its user line) and one value that does not fit."""
    ok = (wide >= _I32_MIN) & (wide <= _I32_MAX)  # False for NaN
    if not ok.all():
        value = wide[~ok].flat[0]
        value = int(value) if np.isfinite(value) else float(value)
        raise IntegerOverflowError(
            f"{what}: int32 overflow: {kind} gives {value}, outside pf.int32's "
            f"[{_I32_MIN}, {_I32_MAX}] (PyFlame holds PyTorch's int64 as int32 and reports "
            "what would wrap; compute in float32 with .float() for larger values)"
        )
    return wide.astype(np.int32)


def _int32_op(*bufs: Buffer) -> bool:
    return all(b.dtype == _I32 for b in bufs)


def rects_overlap(a: Rect, b: Rect) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def rect_pes(rect: Rect) -> str:
    r0, c0, nr, nc = rect
    return f"PEs rows {r0}..{r0 + nr - 1}, cols {c0}..{c0 + nc - 1}"


@dataclass
class Buffer:
    index: int
    name: str
    rect: Rect
    offset: int
    size: int
    nbytes: int
    dtype: np.dtype = np.dtype(np.float32)

    @property
    def half(self) -> bool:
        """Half-precision floats run at the fp16 flop rate."""
        return self.dtype.itemsize == 2

    @property
    def wavelets(self) -> int:
        """32-bit wavelets to send the whole buffer (two f16 per wavelet, ...)."""
        return -(-self.nbytes // 4)

    def sub(self, rect: Rect, elems: int | None = None) -> tuple[slice, slice, slice]:
        """Index of `rect` (inside the buffer's rectangle) in the buffer's view."""
        r0, c0, nr, nc = rect
        br, bc = self.rect[0], self.rect[1]
        n = self.size if elems is None else elems
        return (slice(r0 - br, r0 - br + nr), slice(c0 - bc, c0 - bc + nc), slice(0, n))


@dataclass
class Batch:
    """The messages of one executed `pe.send` (one per delivery)."""

    what: str
    color: int
    size: int
    rect: Rect
    src_lr: np.ndarray  # per delivery: source row / col inside the send's rectangle
    src_lc: np.ndarray
    arrival: np.ndarray  # per delivery
    pending: int  # deliveries not received yet


# --------------------------------------------------------------------------- layouts


def _lead_dims(dist: Distribution):
    """The dims split over rows ('r'), cols ('c') or all PEs ('rc') (or None)."""
    find = {
        a: next((d for d, s in enumerate(dist.split) if s == a), None) for a in ("r", "c", "rc")
    }
    return find["r"], find["c"], find["rc"]


def _kept(dist: Distribution) -> tuple[int, int]:
    """Rows and cols of the grid holding distinct data (1 along a replicated mesh axis)."""
    rd, cd, rcd = _lead_dims(dist)
    gr, gc = dist.grid
    if rcd is not None:
        return gr, gc
    return (gr if rd is not None else 1), (gc if cd is not None else 1)


def make_scatter(dist: Distribution) -> Callable[[np.ndarray], np.ndarray]:
    """host array -> tiles of shape (kept rows, kept cols, *block), padding zeroed."""
    shape, block, padded = dist.shape, dist.block, dist.padded_shape
    nd = len(shape)
    inter = [v for d in range(nd) for v in (dist.parts(d), block[d])]
    rd, cd, rcd = _lead_dims(dist)
    if rcd is not None:
        lead = [2 * rcd]
    else:
        lead = [2 * d for d in (rd, cd) if d is not None]
    lead_shape = _kept(dist)
    rest = [2 * d for d in range(nd) if 2 * d not in lead]
    perm = lead + [2 * d + 1 for d in range(nd)] + rest
    needs_pad = tuple(padded) != tuple(shape)
    inner = tuple(slice(0, n) for n in shape)

    out_shape = lead_shape + tuple(block)

    def scatter(x: np.ndarray) -> np.ndarray:
        # a (transposed) view of x, copied once by the caller's assignment into the tiles
        if needs_pad:
            xp = np.zeros(padded, dtype=x.dtype)
            xp[inner] = x
        else:
            xp = x
        return xp.reshape(inter).transpose(perm).reshape(out_shape)

    return scatter


def make_gather(dist: Distribution) -> Callable[[np.ndarray], np.ndarray]:
    """tiles view (grid rows, grid cols, >= local elems) -> host array (row/col 0's copy of
    replicated data, padding dropped)."""
    shape, block, padded = dist.shape, dist.block, dist.padded_shape
    nd = len(shape)
    gr, gc = dist.grid
    L = dist.local_elems
    rd, cd, rcd = _lead_dims(dist)
    pr, pc = _kept(dist)
    if rcd is not None:
        lead_shape: tuple[int, ...] = (gr * gc,)
        part_axis = {rcd: 0}
    else:
        lead_shape = (pr, pc)
        part_axis = {}
        if rd is not None:
            part_axis[rd] = 0
        if cd is not None:
            part_axis[cd] = 1
    nlead = len(lead_shape)
    missing = [d for d in range(nd) if d not in part_axis]
    for j, d in enumerate(missing):
        part_axis[d] = nlead + nd + j
    order = [a for d in range(nd) for a in (part_axis[d], nlead + d)]
    order += [a for a in range(nlead) if a not in order]
    full_shape = lead_shape + tuple(block) + (1,) * len(missing)
    inner = tuple(slice(0, n) for n in shape)

    def gather(tiles: np.ndarray) -> np.ndarray:
        t = tiles[:pr, :pc, :L].reshape(full_shape).transpose(order).reshape(padded)
        return np.array(t[inner], copy=True)

    return gather


def global_coords(dist: Distribution, rows: int | None = None, cols: int | None = None):
    """Per dim, the global coordinate of every (PE row, PE col, local element) of the grid
    (arrays of shape (rows, cols, local elems)), and the mask of real (not padding) elements."""
    gr, gc = dist.grid
    rows = gr if rows is None else rows
    cols = gc if cols is None else cols
    block = dist.block
    L = dist.local_elems
    r = np.arange(rows, dtype=np.int64)[:, None, None]
    c = np.arange(cols, dtype=np.int64)[None, :, None]
    loc = np.indices(block, dtype=np.int64).reshape(len(block), L) if block else None
    coords = []
    valid = np.ones((rows, cols, L), dtype=bool)
    for d, n in enumerate(dist.shape):
        b = np.asarray(dist.block_index(d, r, c), dtype=np.int64)
        g = np.broadcast_to(b * block[d] + loc[d][None, None, :], (rows, cols, L))
        valid &= g < n
        coords.append(g)
    return coords, valid


def global_index(dist: Distribution, rows=None, cols=None) -> tuple[np.ndarray, np.ndarray]:
    """Row-major index in the (unpadded) global shape of every element, and the valid mask."""
    coords, valid = global_coords(dist, rows, cols)
    idx = np.zeros(valid.shape, dtype=np.int64)
    for g, n in zip(coords, dist.shape, strict=True):
        idx = idx * n + g
    return idx, valid


# --------------------------------------------------------------------------- the executable


class Executable:
    """A planned pe program: `run(args)` -> (outputs, report)."""

    def __init__(
        self,
        *,
        target: Target,
        shape: tuple[int, int, int],
        buffers: list[Buffer],
        steps: list[Step],
        arg_names: list[str],
        arg_kinds: list[tuple],
        returns: list[tuple[str, int]],
        num_outputs: int,
        report: Report,
        order: list[str],
        step_ops: Sequence[tuple[str, Operation | None]] = (),
    ):
        self.target = target
        self.sram_shape = shape
        self.buffers = buffers
        self.steps = steps
        self.arg_names = arg_names
        self._arg_kinds = arg_kinds
        self._returns = returns
        self._num_outputs = num_outputs
        self.report = report
        #: the ops in the order the plan executes them (for debugging)
        self.order = order
        #: (description, op) of the op each step runs, to name it when a step fails
        self.step_ops = list(step_ops)

    def __repr__(self) -> str:
        return (
            f"Executable({len(self.steps)} steps, args {self.arg_names}, "
            f"sram {self.sram_shape}, {self.report.cycles} cycles)"
        )

    def _check_args(self, args: Sequence) -> list:
        if len(args) != len(self._arg_kinds):
            raise TypeError(
                f"@main takes {len(self._arg_kinds)} arguments ({', '.join(self.arg_names)}), "
                f"got {len(args)}"
            )
        out = []
        for name, kind, a in zip(self.arg_names, self._arg_kinds, args, strict=True):
            if kind[0] == "tensor":
                arr = np.asarray(a, dtype=kind[2] if len(kind) > 2 else np.float32)
                if arr.shape != kind[1]:
                    raise ValueError(
                        f"argument '{name}' must have shape {kind[1]}, got {arr.shape}"
                    )
                out.append(arr)
            elif kind[0] == "int":
                if isinstance(a, np.ndarray) and a.size == 1:
                    a = a.item()
                if isinstance(a, bool) or not isinstance(a, (int, np.integer)):
                    raise TypeError(f"argument '{name}' must be an int, got {type(a).__name__}")
                out.append(int(a))
            else:
                out.append(a)
        return out

    def run(self, args: Sequence[np.ndarray | int] = ()) -> tuple[list[np.ndarray], Report]:
        """Run the program on `args` (in @main's argument order)."""
        A = self._check_args(args)
        R, C, B = self.sram_shape
        sram = np.zeros((R, C, B), dtype=np.uint8)
        V = [
            sram[
                b.rect[0] : b.rect[0] + b.rect[2],
                b.rect[1] : b.rect[1] + b.rect[3],
                b.offset : b.offset + b.nbytes,
            ].view(b.dtype)
            for b in self.buffers
        ]
        F: dict = {}
        O: list = [None] * self._num_outputs
        k = 0
        try:
            with np.errstate(all="ignore"):
                for k, step in enumerate(self.steps):  # noqa: B007  (k names a failing step)
                    step(V, F, A, O)
        except PyFlameError as err:
            if k < len(self.step_ops) and getattr(err, "op", None) is None:
                err.op = self.step_ops[k][1]  # type: ignore[attr-defined]
            raise
        except MemoryError:
            raise
        except Exception as err:  # a step's own failure: name the op (and the user's line)
            what, op = self.step_ops[k] if k < len(self.step_ops) else ("a pe op", None)
            located = SimulationError(
                f"{what}: the simulator failed on this op: {type(err).__name__}: {err}"
            )
            located.op = op  # type: ignore[attr-defined]  # tools print the op's location
            raise located from err
        outs = []
        for kind, i in self._returns:
            outs.append(O[i] if kind == "out" else np.array(A[i], copy=True))
        return outs, self.report

    __call__ = run


# --------------------------------------------------------------------------- planning


@dataclass
class _Item:
    seq: int
    op: Operation
    rect: Rect
    what: str


class _Planner:
    def __init__(self, module: ModuleOp):
        self.module = module
        self.target = Target.of_module(module)
        self.main = self._find_main()
        self.block = self.main.body.blocks[0]
        self.steps: list[Step] = []
        self.step_ops: list[tuple[str, Operation | None]] = []
        self.order: list[str] = []
        self.flops = 0
        self.io_cycles = 0

    # ------------------------------------------------------------------ reading

    def _find_main(self) -> func.FuncOp:
        for op in self.module.walk():
            if isinstance(op, func.FuncOp) and op.sym_name.data == "main":
                if not op.body.blocks:
                    raise CompileError("@main has no body")
                return op
        raise CompileError("the module has no func.func @main")

    def read(self) -> None:
        t = self.target
        args = list(self.block.args)
        self.arg_index: dict[SSAValue, int] = {a: i for i, a in enumerate(args)}
        self.arg_names = [a.name_hint or f"arg{i}" for i, a in enumerate(args)]
        self.arg_kinds: list[tuple] = []
        for a in args:
            if isinstance(a.type, TensorType):
                self.arg_kinds.append((
                    "tensor", tuple(a.type.get_shape()),
                    elementwise.numpy_dtype(str(a.type.element_type)),
                ))
            elif isinstance(a.type, IntegerType):
                self.arg_kinds.append(("int",))
            else:
                self.arg_kinds.append(("other",))
        self.items: list[_Item] = []
        self.buffers: list[Buffer] = []
        self.buf_of: dict[SSAValue, Buffer] = {}
        self.consts: dict[SSAValue, int] = {}
        self.return_values: list[SSAValue] = []
        R = C = 0
        for seq, op in enumerate(self.block.ops):
            self.reading = op  # the op a reading error is about (tools print its location)
            if isinstance(op, func.ReturnOp):
                self.return_values = list(op.operands)
                continue
            if isinstance(op, arith.ConstantOp):
                v = op.value
                if isinstance(v, IntegerAttr):
                    self.consts[op.result] = v.value.data
                continue
            if not isinstance(op, pe.PEOp):
                raise CompileError(
                    f"{describe(op, seq)}: not a pe op; lower the program to the pe level "
                    "first (flame-to-mesh, mesh-to-pe)"
                )
            rect = op.rect
            if len(rect) != 4 or rect[2] <= 0 or rect[3] <= 0 or min(rect) < 0:
                raise CompileError(f"{describe(op, seq)}: bad pes {list(rect)}")
            what = describe(op, seq)
            if isinstance(op, pe.AllocOp):
                self._read_alloc(op, rect, what)
            else:
                self.items.append(_Item(seq, op, rect, what))
            R = max(R, rect[0] + rect[2])
            C = max(C, rect[1] + rect[3])
            if isinstance(op, pe.ExchangeOp):
                for lay in (op.src_layout, op.dst_layout):
                    g = lay.dist.grid
                    R = max(R, rect[0] + g[0])
                    C = max(C, rect[1] + g[1])
            if (
                isinstance(op, pe.SendOp | pe.RecvOp | pe.RouteOp | pe.ExchangeOp)
                and op.color_id >= t.num_colors
            ):
                raise ColorAllocationError(
                    f"{what}: color {op.color_id} is not below the target's "
                    f"{t.num_colors} colors (run allocate-colors)"
                )
            if (
                rect[0] + rect[2] > t.fabric_rows or rect[1] + rect[3] > t.fabric_cols
            ) and not isinstance(op, pe.AllocOp):
                cls = RoutingError if isinstance(op, pe.RouteOp) else CompileError
                raise cls(
                    f"{what}: {rect_pes(rect)} lie outside the {t.fabric_rows} x "
                    f"{t.fabric_cols} fabric of target {t.name}"
                )
        self.R, self.C = R, C
        B = max([b.offset + b.nbytes for b in self.buffers] + [0])
        self.B = max(16, -(-B // 16) * 16)
        self._check_host_memory()

    def _check_host_memory(self) -> None:
        """Refuse, before planning, a program whose run would not fit in host memory."""
        from pyflame.sim import host_memory

        def nbytes(typ) -> int:
            if not isinstance(typ, TensorType):
                return 0
            elem = elementwise.numpy_dtype(str(typ.element_type)).itemsize
            return math.prod(typ.get_shape()) * elem

        op_elements = []
        for it in self.items:
            if it.op.name in host_memory.INDEX_BYTES_PER_ELEMENT:
                bufs = [self.buf_of[v] for v in it.op.operands if v in self.buf_of]
                elems = max((b.rect[2] * b.rect[3] * b.size for b in bufs), default=0)
                op_elements.append((it.op.name, elems))
        host_memory.check(
            (self.R, self.C, self.B),
            [(b.name, b.rect[2] * b.rect[3] * b.nbytes) for b in self.buffers],
            sum(nbytes(a.type) for a in self.block.args),
            sum(nbytes(v.type) for v in self.return_values),
            op_elements,
        )

    def _read_alloc(self, op: pe.AllocOp, rect: Rect, what: str) -> None:
        t = self.target
        name = op.buffer_name.data
        typ = op.result.type
        elem = str(typ.element_type)
        if elem not in elementwise.ELEMENT_TYPES:
            raise CompileError(f"{what}: buffer '{name}' holds {elem}, which PEs do not hold")
        if op.byte_offset is None:
            raise CompileError(
                f"{what}: buffer '{name}' has no SRAM offset; run allocate-sram first"
            )
        off = op.byte_offset
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
        if rect[0] + rect[2] > t.fabric_rows or rect[1] + rect[3] > t.fabric_cols:
            raise SRAMFault(
                f"buffer '{name}' on {rect_pes(rect)} lies outside the {t.fabric_rows} x "
                f"{t.fabric_cols} fabric of target {t.name} ({what})"
            )
        buf = Buffer(len(self.buffers), name, rect, off, size, nbytes, dtype)
        self.buffers.append(buf)
        self.buf_of[op.result] = buf

    def buf(self, value: SSAValue, item: _Item) -> Buffer:
        b = self.buf_of.get(value)
        if b is None:
            raise CompileError(f"{item.what}: operand is not a buffer made by pe.alloc")
        return b

    # ------------------------------------------------------------------ scheduling

    def plan(self) -> Executable:
        try:
            self.read()
        except PyFlameError as err:
            if getattr(err, "op", None) is None and getattr(self, "reading", None) is not None:
                err.op = self.reading  # type: ignore[attr-defined]
            raise
        R, C, t = self.R, self.C, self.target
        self.clock = np.zeros((R, C), dtype=np.int64)
        self.busy = np.zeros((R, C), dtype=np.int64)
        self.used = np.zeros((R, C), dtype=bool)
        self.routes = RouteTable(R, C, t.fabric_rows, t.fabric_cols)
        self.links = Links(R, C, t)
        self.mail = Mailboxes(R, C)
        self.batches: list[Batch] = []
        self.outputs: dict[SSAValue, int] = {}

        items = self.items
        blocked: list[int] = []
        nxt = 0
        dirty = False
        while True:
            if dirty and blocked:
                dirty = False
                seen: list[Rect] = []
                for j, i in enumerate(blocked):
                    it = items[i]
                    if not any(rects_overlap(it.rect, r) for r in seen) and self._ready(it):
                        del blocked[j]
                        self._execute(it)
                        dirty = True
                        break
                    seen.append(it.rect)
                if dirty:
                    continue
            if nxt >= len(items):
                break
            it = items[nxt]
            nxt += 1
            if any(rects_overlap(it.rect, items[b].rect) for b in blocked) or not self._ready(it):
                blocked.append(nxt - 1)
            else:
                self._execute(it)
                if isinstance(it.op, pe.SendOp):
                    dirty = True
        if blocked:
            self._deadlock([items[i] for i in blocked])
        left = self.mail.leftovers()
        if left:
            color, r, c, bid, idx, n = left[0]
            b = self.batches[bid]
            sr = b.rect[0] + int(b.src_lr[idx])
            sc = b.rect[1] + int(b.src_lc[idx])
            more = f" ({n} PEs hold unreceived messages on color {color})" if n > 1 else ""
            raise RoutingError(
                f"message on color {color} from {pe_str(sr, sc)} ({b.what}) to "
                f"{pe_str(r, c)} was never received{more}"
            )
        return self._executable()

    def _ready(self, it: _Item) -> bool:
        if isinstance(it.op, pe.RecvOp):
            return bool(self.mail.waiting(it.op.color_id, it.rect).all())
        return True

    def _deadlock(self, pending: list[_Item]) -> None:
        claimed = np.zeros((self.R, self.C), dtype=bool)
        waiting: list[tuple[tuple[int, int], int]] = []
        lines: list[str] = []
        for it in pending:
            r0, c0, nr, nc = it.rect
            sl = (slice(r0, r0 + nr), slice(c0, c0 + nc))
            mine = ~claimed[sl]
            claimed[sl] = True
            if not isinstance(it.op, pe.RecvOp):
                continue
            color = it.op.color_id
            stuck = mine & ~self.mail.waiting(color, it.rect)
            for r, c in np.argwhere(stuck):
                waiting.append(((r0 + int(r), c0 + int(c)), color))
                lines.append(f"{pe_str(r0 + r, c0 + c)} waits on color {color} ({it.what})")
        shown = lines[:8]
        if len(lines) > 8:
            shown.append(f"... and {len(lines) - 8} more")
        n = len({w[0] for w in waiting})
        err = DeadlockError(
            f"deadlock: {n} PE{'s' if n != 1 else ''} wait for messages no one will send: "
            + "; ".join(shown),
            waiting=waiting,
        )
        stuck = [it.op for it in pending if isinstance(it.op, pe.RecvOp)]
        err.op = stuck[0] if stuck else pending[0].op  # type: ignore[attr-defined]
        raise err

    # ------------------------------------------------------------------ execution (plan time)

    def _execute(self, it: _Item) -> None:
        op = it.op
        self.order.append(it.what)
        if not isinstance(op, pe.RouteOp):
            r0, c0, nr, nc = it.rect
            self.used[r0 : r0 + nr, c0 : c0 + nc] = True
        handler = getattr(self, "_op_" + op.name.split(".", 1)[1])
        self.step_ops += [("a pe op", None)] * (len(self.steps) - len(self.step_ops))
        try:
            handler(it, op)
        except PyFlameError as err:
            if getattr(err, "op", None) is None:
                err.op = op  # type: ignore[attr-defined]  # tools print the op's location
            raise
        self.step_ops += [(it.what, op)] * (len(self.steps) - len(self.step_ops))

    def _sl(self, rect: Rect):
        r0, c0, nr, nc = rect
        return (slice(r0, r0 + nr), slice(c0, c0 + nc))

    def _compute(self, rect: Rect, kind: str, *sizes, buf: Buffer | None = None) -> None:
        """Charge a compute op to the PEs of `rect` (element size and flop rate of `buf`)."""
        extra = {} if buf is None else {"elem_bytes": buf.dtype.itemsize, "half": buf.half}
        cyc, flops = costs.op_cycles(self.target, kind, *sizes, **extra)
        sl = self._sl(rect)
        self.clock[sl] += cyc
        self.busy[sl] += cyc
        self.flops += int(np.sum(np.broadcast_to(flops, (rect[2], rect[3]))))

    def _layout_grid(self, it: _Item, dist: Distribution) -> None:
        if tuple(dist.grid) != (it.rect[2], it.rect[3]):
            raise CompileError(
                f"{it.what}: layout grid {dist.grid[0]}x{dist.grid[1]} does not match its PEs "
                f"{list(it.rect)}"
            )

    # compute ops ------------------------------------------------------------

    def _op_fill(self, it, op: pe.FillOp) -> None:
        b = self.buf(op.buffer, it)
        sl = b.sub(it.rect)
        val = np.array(op.value.value.data)
        if b.dtype == _I32:  # a constant beyond int32 (from IR text): refused, not wrapped
            _as_int32(val, it.what, "the fill value")
        val = val.astype(b.dtype)
        i = b.index

        def step(V, F, A, O):
            V[i][sl] = val

        self.steps.append(step)
        self._compute(it.rect, "fill", b.size, buf=b)

    def _op_unary(self, it, op: pe.UnaryOp) -> None:
        d, s = self.buf(op.dst, it), self.buf(op.src, it)
        dsl, ssl, di, si = d.sub(it.rect), s.sub(it.rect), d.index, s.index
        fn = op.fn.data
        if fn == "scale":
            if op.scalar is None:
                raise CompileError(f"{it.what}: 'scale' needs a scalar")
            k = np.array(op.scalar.value.data).astype(s.dtype)
            entry = elementwise.Elementwise("scale", 1, lambda x: x * k)
        elif fn in elementwise.UNARY:
            entry = elementwise.UNARY[fn]
        else:
            raise CompileError(f"{it.what}: unknown unary fn '{fn}'")

        def step(V, F, A, O):
            V[di][dsl] = elementwise.apply(entry, V[si][ssl])

        if _int32_op(d, s):  # -(-2**31), abs, scale: in int64, checked
            what, k = it.what, (k.astype(np.int64) if fn == "scale" else None)
            if k is not None:
                entry = elementwise.Elementwise("scale", 1, lambda x: x * k)

            def step(V, F, A, O):
                wide = elementwise.apply(entry, V[si][ssl].astype(np.int64))
                V[di][dsl] = _as_int32(wide, what, fn)

        self.steps.append(step)
        self._compute(it.rect, "unary", d.size, entry.flops, buf=s)

    def _op_binary(self, it, op: pe.BinaryOp) -> None:
        d, lhs, rhs = (self.buf(v, it) for v in (op.dst, op.lhs, op.rhs))
        entry = elementwise.BINARY.get(op.fn.data)
        if entry is None:
            raise CompileError(f"{it.what}: unknown binary fn '{op.fn.data}'")
        dsl, lsl, rsl = d.sub(it.rect), lhs.sub(it.rect), rhs.sub(it.rect)
        di, li, ri = d.index, lhs.index, rhs.index

        def step(V, F, A, O):
            V[di][dsl] = elementwise.apply(entry, V[li][lsl], V[ri][rsl])

        if _int32_op(d, lhs, rhs):  # add, sub, mul, pow ... in int64, checked
            what, fn = it.what, op.fn.data

            def step(V, F, A, O):
                a, b = V[li][lsl].astype(np.int64), V[ri][rsl].astype(np.int64)
                if fn == "pow":  # check the size in float64 first: int64 powers wrap too
                    _as_int32(np.power(a.astype(np.float64), b), what, fn)
                V[di][dsl] = _as_int32(entry.fn(a, b), what, fn)

        self.steps.append(step)
        self._compute(it.rect, "binary", d.size, entry.flops, buf=lhs)

    def _op_select(self, it, op: pe.SelectOp) -> None:
        d, c, lhs, rhs = (self.buf(v, it) for v in (op.dst, op.cond, op.lhs, op.rhs))
        dsl, csl, lsl, rsl = (b.sub(it.rect) for b in (d, c, lhs, rhs))
        di, ci, li, ri = d.index, c.index, lhs.index, rhs.index

        def step(V, F, A, O):
            V[di][dsl] = np.where(V[ci][csl], V[li][lsl], V[ri][rsl])

        self.steps.append(step)
        self._compute(it.rect, "select", d.size, buf=d)

    def _op_convert(self, it, op: pe.ConvertOp) -> None:
        d, s = self.buf(op.dst, it), self.buf(op.src, it)
        dsl, ssl, di, si = d.sub(it.rect), s.sub(it.rect), d.index, s.index
        to = d.dtype

        def step(V, F, A, O):
            V[di][dsl] = V[si][ssl].astype(to)

        if to == _I32 and s.dtype.kind in "fV":  # NaN, inf or too large: never a wrapped value
            what = it.what

            def step(V, F, A, O):
                src = V[si][ssl].astype(np.float64)
                V[di][dsl] = _as_int32(np.trunc(src), what, "conversion to int32")

        self.steps.append(step)
        self._compute(it.rect, "convert", d.size, buf=d if d.dtype.itemsize > s.dtype.itemsize else s)

    def _op_copy(self, it, op: pe.CopyOp) -> None:
        d, s = self.buf(op.dst, it), self.buf(op.src, it)
        dsl, ssl, di, si = d.sub(it.rect), s.sub(it.rect), d.index, s.index

        def step(V, F, A, O):
            np.copyto(V[di][dsl], V[si][ssl])

        self.steps.append(step)
        self._compute(it.rect, "copy", d.size, buf=d)

    def _op_reduce(self, it, op: pe.ReduceOp) -> None:
        kind = op.kind.data
        if kind not in reductions.KINDS:
            raise CompileError(f"{it.what}: unknown reduction '{kind}'")
        d, s = self.buf(op.dst, it), self.buf(op.src, it)
        shape = tuple(op.shape.get_values())
        axes = tuple(int(x) + 2 for x in op.dims.get_values())
        nr, nc = it.rect[2], it.rect[3]
        dsl, ssl, di, si = d.sub(it.rect), s.sub(it.rect), d.index, s.index

        def step(V, F, A, O):  # half floats sum and multiply in float32 (reductions.reduce)
            src = V[si][ssl].reshape((nr, nc) + shape)
            V[di][dsl] = reductions.reduce(kind, src, axes).reshape(nr, nc, -1)

        if _int32_op(d, s) and kind in ("sum", "prod"):  # in int64 (prod checked in float64)
            what = it.what

            def step(V, F, A, O):
                src = V[si][ssl].reshape((nr, nc) + shape).astype(np.int64)
                if kind == "prod":
                    _as_int32(reductions.reduce(kind, src.astype(np.float64), axes), what, kind)
                wide = reductions.reduce(kind, src, axes).reshape(nr, nc, -1)
                V[di][dsl] = _as_int32(wide, what, kind)

        self.steps.append(step)
        self._compute(it.rect, "reduce", s.size, d.size, reductions.KINDS[kind].flops, buf=s)

    def _op_transpose(self, it, op: pe.TransposeOp) -> None:
        d, s = self.buf(op.dst, it), self.buf(op.src, it)
        shape = tuple(op.shape.get_values())
        perm = (0, 1) + tuple(int(p) + 2 for p in op.perm.get_values())
        nr, nc = it.rect[2], it.rect[3]
        dsl, ssl, di, si = d.sub(it.rect), s.sub(it.rect), d.index, s.index

        def step(V, F, A, O):
            src = V[si][ssl].reshape((nr, nc) + shape).transpose(perm)
            V[di][dsl] = src.reshape(nr, nc, -1)

        self.steps.append(step)
        self._compute(it.rect, "transpose", d.size, buf=d)

    def _op_matmul_acc(self, it, op: pe.MatmulAccOp) -> None:
        m, k, n = op.mkn
        nb, bl, br = op.batches  # batched: a side with batch 1 is shared (numpy broadcasting)
        acc, lhs, rhs = (self.buf(v, it) for v in (op.acc, op.lhs, op.rhs))
        nr, nc = it.rect[2], it.rect[3]
        asl, lsl, rsl = acc.sub(it.rect), lhs.sub(it.rect), rhs.sub(it.rect)
        ai, li, ri = acc.index, lhs.index, rhs.index

        chunks = _row_chunks(nr, nr * nc * nb * m * k * n)

        low = acc.half  # half floats: multiply in float32, round into the accumulator

        what, ints = it.what, _int32_op(acc, lhs, rhs)

        def part(a, lhs, rhs):
            if ints:  # int32: products and sums in int64, checked
                wide = a.astype(np.int64) + np.matmul(lhs.astype(np.int64), rhs.astype(np.int64))
                a[...] = _as_int32(wide, what, "matmul")
            elif low:
                a[...] = (a.astype(np.float32)
                          + np.matmul(lhs.astype(np.float32), rhs.astype(np.float32)))
            else:
                a += np.matmul(lhs, rhs)

        def step(V, F, A, O):
            a = V[ai][asl].reshape(nr, nc, nb, m, n)
            lhs = V[li][lsl].reshape(nr, nc, bl, m, k)
            rhs = V[ri][rsl].reshape(nr, nc, br, k, n)
            if chunks is None:
                part(a, lhs, rhs)
            else:  # numpy's batched matmul is single-threaded: split the PE rows over threads
                futures = [_pool().submit(part, a[c], lhs[c], rhs[c]) for c in chunks]
                for f in futures:
                    f.result()

        self.steps.append(step)
        self._compute(it.rect, "matmul_acc", nb * m, k, n, buf=acc)

    def _op_mask_pad(self, it, op: pe.MaskPadOp) -> None:
        dist = op.layout.dist
        self._layout_grid(it, dist)
        b = self.buf(op.buffer, it)
        L = dist.local_elems
        pr, pc = _kept(dist)
        _, valid = global_index(dist, pr, pc)
        pad = ~valid
        count = pad.sum(axis=2)  # (pr, pc)
        self._compute(it.rect, "mask_pad", np.broadcast_to(count, (it.rect[2], it.rect[3])),
                      buf=b)
        if not pad.any():
            return
        sl, i = b.sub(it.rect, L), b.index
        val = np.array(op.value.value.data).astype(b.dtype)

        def step(V, F, A, O):
            np.copyto(V[i][sl], val, where=pad)

        self.steps.append(step)

    def _op_random_normal(self, it, op: pe.RandomNormalOp) -> None:
        dist = op.layout.dist
        self._layout_grid(it, dist)
        b = self.buf(op.buffer, it)
        L = dist.local_elems
        pr, pc = _kept(dist)
        idx, _ = global_index(dist, pr, pc)
        sl, i = b.sub(it.rect, L), b.index
        seed = op.seed
        if seed in self.arg_index:
            ai = self.arg_index[seed]

            def step(V, F, A, O):
                V[i][sl] = rng.normal(A[ai], idx).astype(b.dtype)
        elif seed in self.consts:
            value = self.consts[seed]

            def step(V, F, A, O):
                V[i][sl] = rng.normal(value, idx).astype(b.dtype)
        else:
            raise CompileError(f"{it.what}: the seed must be an argument of @main or a constant")
        self.steps.append(step)
        self._compute(it.rect, "random_normal", L, buf=b)

    # host I/O ---------------------------------------------------------------

    def _op_host_in(self, it, op: pe.HostInOp) -> None:
        dist = op.layout.dist
        self._layout_grid(it, dist)
        b = self.buf(op.buffer, it)
        ai = self.arg_index.get(op.input)
        if ai is None:
            raise CompileError(f"{it.what}: the host tensor must be an argument of @main")
        if op.input.type.element_type != op.buffer.type.element_type:
            raise CompileError(
                f"{it.what}: host tensor of {op.input.type.element_type} into a buffer of "
                f"{op.buffer.type.element_type}"
            )
        scatter = make_scatter(dist)
        L = dist.local_elems
        sl, i = b.sub(it.rect, L), b.index
        tile = (it.rect[2], it.rect[3]) + tuple(dist.block)

        def step(V, F, A, O):
            V[i][sl].reshape(tile)[...] = scatter(A[ai])

        self.steps.append(step)
        _, c0, nr, nc = it.rect
        wavelets = -(-nr * nc * L * b.dtype.itemsize // 4)
        self.io_cycles += costs.host_io_cycles(self.target, wavelets, nr, c0 + nc)

    def _op_host_out(self, it, op: pe.HostOutOp) -> None:
        dist = op.layout.dist
        self._layout_grid(it, dist)
        b = self.buf(op.buffer, it)
        gather = make_gather(dist)
        slot = self.outputs.setdefault(op.result, len(self.outputs))
        sl, i = b.sub(it.rect), b.index

        def step(V, F, A, O):
            O[slot] = gather(V[i][sl])

        self.steps.append(step)
        c0 = it.rect[1]
        pr, pc = _kept(dist)
        wavelets = -(-pr * pc * dist.local_elems * b.dtype.itemsize // 4)
        self.io_cycles += costs.host_io_cycles(
            self.target, wavelets, pr, self.target.fabric_cols - c0
        )

    # network ----------------------------------------------------------------

    def _op_route(self, it, op: pe.RouteOp) -> None:
        from_port = PORT_INDEX[op.from_port.data]
        switched = self.routes.apply(op.color_id, it.rect, from_port, port_mask(op.outputs))
        if switched.any():
            sl = self._sl(it.rect)
            cost = switched.astype(np.int64) * costs.route_switch_cycles(self.target)
            self.clock[sl] += cost
            self.busy[sl] += cost

    def _op_send(self, it, op: pe.SendOp) -> None:
        b = self.buf(op.buffer, it)
        r0, c0, nr, nc = it.rect
        color = op.color_id
        lr, lc = (a.ravel() for a in np.indices((nr, nc), dtype=np.int64))
        sr, sc = lr + r0, lc + c0
        tr = self.routes.trace(color, sr, sc, it.what)
        w = b.wavelets
        start = self.links.stream(self.clock[sr, sc], w, tr.l_src, tr.l_r, tr.l_c, tr.l_dir, tr.l_h)
        arrival = self.links.arrival(start, w, tr.d_src, tr.d_h)
        cyc = costs.stream_cycles(self.target, w)
        self.clock[sr, sc] = start + cyc
        self.busy[sr, sc] += cyc
        n = tr.d_src.size
        if n == 0:
            return
        bid = len(self.batches)
        self.batches.append(
            Batch(it.what, color, b.size, it.rect, lr[tr.d_src], lc[tr.d_src], arrival, n)
        )
        self.mail.push(color, tr.d_r, tr.d_c, bid, np.arange(n, dtype=np.int64))
        sl, i = b.sub(it.rect), b.index

        def step(V, F, A, O):
            F[bid] = V[i][sl].copy()

        self.steps.append(step)

    def _op_recv(self, it, op: pe.RecvOp) -> None:
        b = self.buf(op.buffer, it)
        r0, c0, nr, nc = it.rect
        color = op.color_id
        kind = op.combine_kind  # None: overwrite; else combine with a reduction kind
        if kind is not None and kind not in reductions.KINDS:
            raise CompileError(f"{it.what}: unknown combine '{kind}'")
        acc = kind is not None
        bt, ix = self.mail.pop(color, it.rect)
        arrival = np.zeros((nr, nc), dtype=np.int64)
        groups = []
        release = []
        for g in np.unique(bt):
            g = int(g)
            batch = self.batches[g]
            mask = bt == g
            full = bool(mask.all())
            if batch.size != b.size:
                dr, dc = np.argwhere(mask)[0]
                j = ix[dr, dc]
                sr = batch.rect[0] + int(batch.src_lr[j])
                sc = batch.rect[1] + int(batch.src_lc[j])
                raise RoutingError(
                    f"{it.what}: {pe_str(r0 + dr, c0 + dc)} receives on color {color} a message "
                    f"of {batch.size} elements from {pe_str(sr, sc)} ({batch.what}) into buffer "
                    f"'{b.name}' of {b.size} elements"
                )
            arrival[mask] = batch.arrival[ix[mask]]
            if full:
                src_r = batch.src_lr[ix]
                src_c = batch.src_lc[ix]
                groups.append((Ellipsis, g, _compress(src_r, src_c)))
            else:
                dr, dc = np.nonzero(mask)
                j = ix[dr, dc]
                groups.append(((dr, dc), g, (batch.src_lr[j], batch.src_lc[j])))
            batch.pending -= int(mask.sum())
            if batch.pending == 0:
                release.append(g)
        sl = self._sl(it.rect)
        if acc:
            cyc, flops = costs.op_cycles(self.target, "recv_combine", b.size,
                                         reductions.KINDS[kind].flops,
                                         elem_bytes=b.dtype.itemsize, half=b.half)
            self.clock[sl] = np.maximum(self.clock[sl] + cyc, arrival)
            self.busy[sl] += cyc
            self.flops += int(flops) * nr * nc
        else:
            self.clock[sl] = np.maximum(self.clock[sl], arrival)
        bsl, i = b.sub(it.rect), b.index
        if acc and b.dtype == _I32 and kind in ("sum", "prod"):  # partial results, checked
            what, plain = it.what, kind

            def combine(kind: str, a: np.ndarray, b: np.ndarray) -> np.ndarray:
                wide = reductions.KINDS[kind].combine(a.astype(np.int64), b.astype(np.int64))
                return _as_int32(wide, what, f"{plain} of partial results")
        else:
            combine = reductions.combine

        if len(groups) == 1 and groups[0][0] is Ellipsis:
            _, g, ssel = groups[0]
            rel = bool(release)
            if acc:

                def step(V, F, A, O):
                    V[i][bsl] = combine(kind, V[i][bsl], F[g][ssel])
                    if rel:
                        del F[g]
            else:

                def step(V, F, A, O):
                    V[i][bsl] = F[g][ssel]
                    if rel:
                        del F[g]
        else:

            def step(V, F, A, O):
                dst = V[i][bsl]
                for dsel, g, ssel in groups:
                    if acc:
                        dst[dsel] = combine(kind, dst[dsel], F[g][ssel])
                    else:
                        dst[dsel] = F[g][ssel]
                for g in release:
                    del F[g]

        self.steps.append(step)

    def _op_exchange(self, it, op: pe.ExchangeOp) -> None:
        ds, dd = op.src_layout.dist, op.dst_layout.dist
        src, dst = self.buf(op.src, it), self.buf(op.dst, it)
        r0, c0, nr, nc = it.rect
        gsr, gsc = ds.grid
        gdr, gdc = dd.grid
        for name, buf, (gr, gc) in (("src", src, ds.grid), ("dst", dst, dd.grid)):
            grect = (r0, c0, gr, gc)
            if not pe.rect_contains(buf.rect, grect) or gr > nr or gc > nc:
                raise CompileError(
                    f"{it.what}: the {name} layout's grid {gr}x{gc} at ({r0}, {c0}) is not inside "
                    f"both the op's PEs {list(it.rect)} and buffer '{buf.name}' "
                    f"({list(buf.rect)})"
                )
        Ld, Ls = dd.local_elems, ds.local_elems
        rows = np.broadcast_to(np.arange(gdr, dtype=np.int64)[:, None, None], (gdr, gdc, Ld))
        cols = np.broadcast_to(np.arange(gdc, dtype=np.int64)[None, :, None], (gdr, gdc, Ld))
        src_row, src_col, se, has_src, valid = exchange_sources(ds, dd, op.index_map)
        ssl = src.sub((r0, c0, gsr, gsc), Ls)
        dsl = dst.sub((r0, c0, gdr, gdc), Ld)
        si, di = src.index, dst.index
        if bool((has_src | ~valid).all()):
            # -- data: gather the distinct dst tiles, broadcast along replicated dst axes
            pr, pc = _kept(dd)
            k_sr = np.ascontiguousarray(src_row[:pr, :pc])
            k_sc = np.ascontiguousarray(src_col[:pr, :pc])
            k_se = np.ascontiguousarray(se[:pr, :pc])
            k_pad = ~valid[:pr, :pc]
            has_pad = bool(k_pad.any())

            def step(V, F, A, O):
                vals = V[si][ssl][k_sr, k_sc, k_se]
                if has_pad:
                    vals[k_pad] = 0
                V[di][dsl] = vals
        else:
            # -- data: only the dst elements with a source change (and padding becomes 0)
            w_dst = np.nonzero(has_src)
            w_src = (src_row[w_dst], src_col[w_dst], se[w_dst])
            z_dst = np.nonzero(~valid)
            has_pad = bool(z_dst[0].size)

            def step(V, F, A, O):
                out = V[di][dsl]
                out[w_dst] = V[si][ssl][w_src]
                if has_pad:
                    out[z_dst] = 0

        self.steps.append(step)
        # -- timing: one message per (source PE, destination PE) pair
        t = self.target
        n_pe = self.R * self.C
        s_flat = ((r0 + src_row) * self.C + (c0 + src_col))[has_src]
        d_flat = ((r0 + rows) * self.C + (c0 + cols))[has_src]
        pairs, w = np.unique(s_flat * n_pe + d_flat, return_counts=True)
        ps, pd = pairs // n_pe, pairs % n_pe
        start_clock = self.clock.copy()
        send_end = start_clock.ravel().copy()
        recv_end = start_clock.ravel().copy()
        local = ps == pd
        local_cyc = np.zeros(n_pe, dtype=np.int64)
        if local.any():
            cyc, _ = costs.op_cycles(t, "exchange_local", w[local],
                                     elem_bytes=dst.dtype.itemsize)
            np.add.at(local_cyc, pd[local], cyc)
        # elements -> 32-bit wavelets (two f16/bf16 per wavelet)
        w = -(-w * dst.dtype.itemsize // 4)
        rs, rd, rw = ps[~local], pd[~local], w[~local]
        if rs.size:
            # messages of each source leave one after another (sorted by destination)
            first = np.r_[True, rs[1:] != rs[:-1]]
            starts = np.flatnonzero(first)
            rank = np.arange(rs.size) - np.repeat(starts, np.diff(np.r_[starts, rs.size]))
            in_cyc = np.zeros(n_pe, dtype=np.int64)
            np.add.at(in_cyc, rd, costs.stream_cycles(t, rw))
            for j in range(int(rank.max()) + 1):
                sel = rank == j
                s, d, ww = rs[sel], rd[sel], rw[sel]
                l_src, l_r, l_c, l_dir, l_h, hq = xy_paths(
                    s // self.C, s % self.C, d // self.C, d % self.C
                )
                begin = self.links.stream(send_end[s], ww, l_src, l_r, l_c, l_dir, l_h)
                cyc = costs.stream_cycles(t, ww)
                send_end[s] = begin + cyc
                self.busy.ravel()[s] += cyc
                arr = self.links.arrival(begin, ww, np.arange(s.size), hq)
                np.maximum.at(recv_end, d, arr)
            recv_end = np.maximum(recv_end, start_clock.ravel() + in_cyc)
        end = np.maximum(np.maximum(send_end, recv_end), start_clock.ravel() + local_cyc)
        end = end.reshape(self.R, self.C)
        sl = self._sl(it.rect)
        self.clock[sl] = np.maximum(self.clock[sl], end[sl])
        self.busy += local_cyc.reshape(self.R, self.C)

    # ------------------------------------------------------------------ result

    def _executable(self) -> Executable:
        returns: list[tuple[str, int]] = []
        for v in self.return_values:
            if v in self.outputs:
                returns.append(("out", self.outputs[v]))
            elif isinstance(v, BlockArgument) and v in self.arg_index:
                returns.append(("arg", self.arg_index[v]))
            else:
                raise CompileError(
                    "@main must return results of pe.host_out (or its own arguments)"
                )
        t = self.target
        sram_peak = np.zeros((self.R, self.C), dtype=np.int64)
        for b in self.buffers:
            sl = self._sl(b.rect)
            sram_peak[sl] = np.maximum(sram_peak[sl], b.offset + b.nbytes)
        cycles = int(self.clock.max()) if self.clock.size else 0
        report = Report(
            target=t.name,
            cycles=cycles,
            seconds=cycles / t.clock_hz,
            io_cycles=int(self.io_cycles),
            flops=int(self.flops),
            busy_cycles=self.busy,
            sram_peak_bytes=sram_peak,
            wavelets=self.links.per_router(),
            pes_used=int(self.used.sum()),
            clock_hz=float(t.clock_hz),
            flops_per_cycle=int(t.flops_per_cycle),
            fabric_pes=t.fabric_rows * t.fabric_cols,
        )
        return Executable(
            target=t,
            shape=(self.R, self.C, self.B),
            buffers=self.buffers,
            steps=self.steps,
            arg_names=self.arg_names,
            arg_kinds=self.arg_kinds,
            returns=returns,
            num_outputs=len(self.outputs),
            report=report,
            order=self.order,
            step_ops=self.step_ops,
        )


# --- shape ops ---------------------------------------------------------------------------
# The index map of pe.exchange (slice, pad, concat) and pe.broadcast's handler (bound to
# _Planner below).


def exchange_sources(
    ds: Distribution,
    dd: Distribution,
    index_map: tuple[Sequence[int], Sequence[int]] | None = None,
):
    """Where each element of the dst layout comes from, for every (PE row, PE col, local
    index) of dst's grid (arrays of shape (rows, cols, local elems)):
    (src PE row, src PE col, src local index, has a source, is a real dst element).

    Without an index map, a dst element takes the src element at the same global index (same
    shapes) or at the same row-major position (a reshape). With `index_map` = (offset, stride),
    dst global index i (per dim d) takes src global index offset[d] + stride[d] * i[d] and has
    a source only when that lies inside the src shape. Padding of dst never has a source.
    Along a mesh axis the src is replicated on, the nearest copy (the same row or column,
    clipped to src's grid) sends."""
    gdr, gdc = dd.grid
    gsr, gsc = ds.grid
    coords, valid = global_coords(dd)
    full = valid.shape
    has_src = valid.copy()
    if index_map is not None:
        offset, stride = index_map
        src_idx = []
        for d, g in enumerate(coords):
            j = offset[d] + stride[d] * g
            has_src &= (j >= 0) & (j < ds.shape[d])
            src_idx.append(j)
    elif ds.shape == dd.shape:
        src_idx = list(coords)
    else:  # a reshape: the same row-major position
        flat = np.zeros(full, dtype=np.int64)
        for g, n in zip(coords, dd.shape, strict=True):
            flat = flat * n + g
        flat = np.where(valid, flat, 0)
        src_idx = list(np.unravel_index(flat, ds.shape)) if ds.shape else []
    rows = np.arange(gdr, dtype=np.int64)[:, None, None]
    cols = np.arange(gdc, dtype=np.int64)[None, :, None]
    src_row = np.clip(rows, 0, gsr - 1)
    src_col = np.clip(cols, 0, gsc - 1)
    se = np.zeros(full, dtype=np.int64)
    sblock = ds.block
    for d, j in enumerate(src_idx):
        j = np.where(has_src, j, 0)
        bidx = j // sblock[d] if sblock[d] else j * 0
        se = se * sblock[d] + (j - bidx * sblock[d])
        axis = ds.split[d]
        if axis == "r":
            src_row = bidx
        elif axis == "c":
            src_col = bidx
        elif axis == "rc":
            src_row, src_col = bidx // gsc, bidx % gsc
    return (
        np.broadcast_to(src_row, full),
        np.broadcast_to(src_col, full),
        se,
        has_src,
        valid,
    )


_POOL: list = []
#: batched matmuls with at least this many FMACs run on several threads
PARALLEL_FMACS = 1 << 22


def _pool():
    if not _POOL:
        from concurrent.futures import ThreadPoolExecutor

        _POOL.append(ThreadPoolExecutor(_threads(), thread_name_prefix="pyflame-sim"))
    return _POOL[0]


def _threads() -> int:
    import os

    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        n = os.cpu_count() or 1
    return max(1, min(n, 8))


def _row_chunks(rows: int, fmacs: int) -> list[slice] | None:
    """Slices of PE rows to run on separate threads, or None to run on one."""
    n = min(_threads(), rows)
    if n < 2 or fmacs < PARALLEL_FMACS:
        return None
    edges = [rows * i // n for i in range(n + 1)]
    return [slice(a, b) for a, b in itertools.pairwise(edges) if b > a]


def _compress(src_r: np.ndarray, src_c: np.ndarray):
    """Index of a full (rows, cols) gather from a message array: basic slices when the source
    row depends only on the destination row (and the col only on the col) as a constant or a
    shift, which numpy runs as a broadcast copy; fancy index arrays otherwise."""

    def axis(a: np.ndarray, along: int):
        line = a[:, :1] if along == 0 else a[:1, :]
        if not (a == line).all():
            return None
        v = line.ravel()
        if (v == v[0]).all():
            return slice(int(v[0]), int(v[0]) + 1)
        if (np.diff(v) == 1).all():
            return slice(int(v[0]), int(v[0]) + v.size)
        return None

    rs, cs = axis(src_r, 0), axis(src_c, 1)
    if rs is not None and cs is not None:
        return (rs, cs)
    return (src_r, src_c)


def compile_plan(module: ModuleOp) -> Executable:
    """Plan a verified pe-level module (`func.func @main`, attribute `pf.target`) for running."""
    return _Planner(module).plan()


__all__ = ["Executable", "compile_plan", "location_of", "make_gather", "make_scatter"]


def _op_broadcast(self: _Planner, it: _Item, op: pe.BroadcastOp) -> None:
    """pe.broadcast: every PE's src tile (viewed as src_shape) expanded to dst_shape."""
    d, s = self.buf(op.dst, it), self.buf(op.src, it)
    src_shape = tuple(int(n) for n in op.src_shape.get_values())
    dst_shape = tuple(int(n) for n in op.dst_shape.get_values())
    nr, nc = it.rect[2], it.rect[3]
    ns, nd = int(np.prod(src_shape)), int(np.prod(dst_shape))
    dsl, ssl, di, si = d.sub(it.rect, nd), s.sub(it.rect, ns), d.index, s.index

    def step(V, F, A, O):
        tile = V[si][ssl].reshape((nr, nc) + src_shape)
        V[di][dsl] = np.broadcast_to(tile, (nr, nc) + dst_shape).reshape(nr, nc, nd)

    self.steps.append(step)
    self._compute(it.rect, "broadcast", nd, buf=d)


_Planner._op_broadcast = _op_broadcast  # type: ignore[attr-defined]


# --- convolution and pooling ---------------------------------------------------------------
# pe.pack / pe.unpack (the halo exchange's strided copies) and the local pe.conv2d / pe.pool2d,
# each one numpy operation over the op's whole rectangle (im2col + one batched matmul for the
# convolution). Half-precision buffers compute in float32 and round once.


def _ints(attr) -> tuple[int, ...]:
    return tuple(int(n) for n in attr.get_values())


def _op_pack(self: _Planner, it: _Item, op: pe.PackOp) -> None:
    """dst = the slab [start, start + count) along `dim` of src viewed as `shape`."""
    d, s = self.buf(op.dst, it), self.buf(op.src, it)
    shape = _ints(op.shape)
    dim, start, count = op.dim.value.data, op.start.value.data, op.count.value.data
    nr, nc = it.rect[2], it.rect[3]
    sel = (slice(None), slice(None)) + tuple(
        slice(start, start + count) if k == dim else slice(None) for k in range(len(shape))
    )
    dsl, ssl, di, si = d.sub(it.rect), s.sub(it.rect), d.index, s.index

    def step(V, F, A, O):
        V[di][dsl] = V[si][ssl].reshape((nr, nc) + shape)[sel].reshape(nr, nc, -1)

    self.steps.append(step)
    self._compute(it.rect, "pack", d.size)


def _op_unpack(self: _Planner, it: _Item, op: pe.UnpackOp) -> None:
    """src (a slab of `count` along `dim`) into dst (viewed as `shape`) at base + k * step,
    k the PE's fabric row or column; what falls outside dst is dropped."""
    d, s = self.buf(op.dst, it), self.buf(op.src, it)
    shape = _ints(op.shape)
    dim, count = op.dim.value.data, op.count.value.data
    base, per = _ints(op.at)
    along_rows = op.axis.data == "r"
    r0, c0, nr, nc = it.rect
    n = nr if along_rows else nc
    k = np.arange(n, dtype=np.int64) + (r0 if along_rows else c0)
    pos = base + k * per  # (n,) where each PE's slab starts in dst
    j = np.arange(count, dtype=np.int64)
    target = pos[:, None] + j[None, :]  # (n, count)
    valid = (target >= 0) & (target < shape[dim])
    per_j = int(np.prod(shape)) // shape[dim] if shape[dim] else 0
    moved = valid.sum(axis=1) * per_j  # elements written per PE line
    self._compute(it.rect, "pack", np.broadcast_to(
        moved[:, None] if along_rows else moved[None, :], (nr, nc)))
    if not valid.any():
        return
    slab = tuple(count if i == dim else m for i, m in enumerate(shape))
    dsl, ssl, di, si = d.sub(it.rect), s.sub(it.rect), d.index, s.index
    rest = (slice(None),) * dim
    if per == 0:  # the same position on every PE: one sliced copy
        lo, hi = int(j[valid[0]][0]), int(j[valid[0]][-1]) + 1
        dst_sel = (slice(None), slice(None)) + rest + (
            slice(int(pos[0]) + lo, int(pos[0]) + hi),)
        src_sel = (slice(None), slice(None)) + rest + (slice(lo, hi),)

        def step(V, F, A, O):
            dst = V[di][dsl].reshape((nr, nc) + shape)
            dst[dst_sel] = V[si][ssl].reshape((nr, nc) + slab)[src_sel]
    else:  # positions move with the PE's coordinate: one fancy-indexed copy
        line, jj = np.nonzero(valid)
        tt = target[line, jj]
        lead = (line, slice(None)) if along_rows else (slice(None), line)
        dst_sel = lead + rest + (tt,)
        src_sel = lead + rest + (jj,)

        def step(V, F, A, O):
            dst = V[di][dsl].reshape((nr, nc) + shape)
            dst[dst_sel] = V[si][ssl].reshape((nr, nc) + slab)[src_sel]

    self.steps.append(step)


def _windows(x: np.ndarray, out_hw, kernel, stride, dilation) -> np.ndarray:
    """(..., H, W) -> a strided view (..., Ho, Wo, kh, kw) of every window's taps."""
    sh, sw = x.strides[-2:]
    shape = x.shape[:-2] + tuple(out_hw) + tuple(kernel)
    strides = x.strides[:-2] + (sh * stride[0], sw * stride[1], sh * dilation[0],
                                sw * dilation[1])
    return np.lib.stride_tricks.as_strided(x, shape, strides, writeable=False)


def _as_f32(a: np.ndarray) -> np.ndarray:
    return a if a.dtype == np.float32 else a.astype(np.float32)


def _op_conv2d(self: _Planner, it: _Item, op: pe.Conv2dOp) -> None:
    """out = conv(window, weight) + bias on every PE of the rectangle: im2col of every PE's
    window and one batched matmul per group."""
    out, x, w = (self.buf(v, it) for v in (op.out, op.input, op.weight))
    b = None if op.bias is None else self.buf(op.bias, it)
    n, c, hi, wi = _ints(op.in_shape)
    _, o, ho, wo = _ints(op.out_shape)
    kernel, stride, dilation = _ints(op.kernel), _ints(op.stride), _ints(op.dilation)
    g = op.groups.value.data
    cg, og, taps = c // g, o // g, kernel[0] * kernel[1]
    nr, nc = it.rect[2], it.rect[3]
    osl, xsl, wsl = out.sub(it.rect), x.sub(it.rect), w.sub(it.rect)
    oi, xi, wi_ = out.index, x.index, w.index
    bsl, bi = (b.sub(it.rect), b.index) if b is not None else (None, None)
    fmacs = n * o * ho * wo * cg * taps
    chunks = _row_chunks(nr, nr * nc * fmacs)

    def part(dst, xs, ws, bs):
        r = xs.shape[0]
        win = _windows(_as_f32(xs).reshape(r, nc, n, g, cg, hi, wi), (ho, wo), kernel, stride,
                       dilation)  # (r, nc, n, g, cg, ho, wo, kh, kw)
        # K-major columns (channel, tap) x (batch, row, col): the copy keeps the input's order
        cols = win.transpose(0, 1, 3, 4, 7, 8, 2, 5, 6).reshape(r, nc, g, cg * taps, n * ho * wo)
        wm = _as_f32(ws).reshape(r, nc, g, og, cg * taps)
        y = np.matmul(wm, cols).reshape(r, nc, g, og, n, ho, wo)
        y = y.transpose(0, 1, 4, 2, 3, 5, 6).reshape(r, nc, n, o, ho, wo)
        if bs is not None:
            y = y + _as_f32(bs).reshape(r, nc, 1, o, 1, 1)
        dst[...] = y.reshape(r, nc, -1)

    def step(V, F, A, O):
        dst, xs, ws = V[oi][osl], V[xi][xsl], V[wi_][wsl]
        bs = V[bi][bsl] if bi is not None else None
        if chunks is None:
            part(dst, xs, ws, bs)
            return
        futures = [_pool().submit(part, dst[k], xs[k], ws[k], None if bs is None else bs[k])
                   for k in chunks]
        for f in futures:
            f.result()

    self.steps.append(step)
    self._compute(it.rect, "conv2d", fmacs, n * o * ho * wo if b is not None else 0)


def _op_pool2d(self: _Planner, it: _Item, op: pe.Pool2dOp) -> None:
    """out = max or mean over every window of the PE's input window."""
    out, x = self.buf(op.out, it), self.buf(op.input, it)
    n, c, hi, wi = _ints(op.in_shape)
    _, _, ho, wo = _ints(op.out_shape)
    kernel, stride, dilation = _ints(op.kernel), _ints(op.stride), _ints(op.dilation)
    kind = op.kind.data
    if kind not in ("max", "avg"):
        raise CompileError(f"{it.what}: unknown pooling '{kind}'")
    nr, nc = it.rect[2], it.rect[3]
    osl, xsl, oi, xi = out.sub(it.rect), x.sub(it.rect), out.index, x.index
    area = np.float32(kernel[0] * kernel[1])

    def step(V, F, A, O):
        win = _windows(_as_f32(V[xi][xsl]).reshape(nr, nc, n, c, hi, wi), (ho, wo), kernel,
                       stride, dilation)
        if kind == "max":
            y = win.max(axis=(-2, -1))
        else:
            y = win.sum(axis=(-2, -1), dtype=np.float32) / area
        V[oi][osl] = y.reshape(nr, nc, -1)

    self.steps.append(step)
    outputs = n * c * ho * wo
    self._compute(it.rect, "pool2d", outputs * kernel[0] * kernel[1],
                  outputs if kind == "avg" else 0)


_Planner._op_pack = _op_pack  # type: ignore[attr-defined]
_Planner._op_unpack = _op_unpack  # type: ignore[attr-defined]
_Planner._op_conv2d = _op_conv2d  # type: ignore[attr-defined]
_Planner._op_pool2d = _op_pool2d  # type: ignore[attr-defined]


# --- creation: iota and uniform random ------------------------------------------------------
# pe.iota and pe.random_uniform, like _op_random_normal: each PE's elements from their global
# indices in the op's layout (computed once at plan time for iota, per run for random).


def _seed_reader(self: _Planner, it: _Item, seed: SSAValue) -> Callable[[list], int]:
    """The seed of a random op at run time: an argument of @main or a constant."""
    if seed in self.arg_index:
        ai = self.arg_index[seed]
        return lambda A: A[ai]
    if seed in self.consts:
        value = self.consts[seed]
        return lambda A: value
    raise CompileError(f"{it.what}: the seed must be an argument of @main or a constant")


def _op_iota(self: _Planner, it: _Item, op: pe.IotaOp) -> None:
    dist = op.layout.dist
    self._layout_grid(it, dist)
    b = self.buf(op.buffer, it)
    pr, pc = _kept(dist)
    coords, _ = global_coords(dist, pr, pc)
    dim = op.dim.value.data
    values = op.start.value.data + op.step.value.data * coords[dim].astype(np.float64)
    if b.dtype.kind == "i":
        values = np.floor(values)
        if b.dtype == _I32:
            _as_int32(values, it.what, "iota")
    tiles = values.astype(b.dtype)
    sl, i = b.sub(it.rect, dist.local_elems), b.index

    def step(V, F, A, O):
        V[i][sl] = tiles

    self.steps.append(step)
    self._compute(it.rect, "iota", dist.local_elems, buf=b)


def _op_random_uniform(self: _Planner, it: _Item, op: pe.RandomUniformOp) -> None:
    dist = op.layout.dist
    self._layout_grid(it, dist)
    b = self.buf(op.buffer, it)
    pr, pc = _kept(dist)
    idx, _ = global_index(dist, pr, pc)
    sl, i = b.sub(it.rect, dist.local_elems), b.index
    seed_of = _seed_reader(self, it, op.seed)
    low, high = op.minval.value.data, op.maxval.value.data
    dtype = b.dtype
    if dtype.kind == "i":
        lo, hi = int(low), int(high)

        def draw(seed):
            return rng.integers(seed, idx, lo, hi).astype(dtype)
    elif (low, high) == (0.0, 1.0):

        def draw(seed):
            return rng.uniform_float(seed, idx, dtype)
    else:

        def draw(seed):
            u = rng.uniform_float(seed, idx, np.float64)
            return (low + (high - low) * u).astype(dtype)

    def step(V, F, A, O):
        V[i][sl] = draw(seed_of(A))

    self.steps.append(step)
    self._compute(it.rect, "random_uniform", dist.local_elems, buf=b)


_Planner._op_iota = _op_iota  # type: ignore[attr-defined]
_Planner._op_random_uniform = _op_random_uniform  # type: ignore[attr-defined]
