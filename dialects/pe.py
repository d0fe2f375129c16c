"""The `pe` dialect: what each processing element (PE) and its router do.

A pe program is the body of `func.func @main`, in program order. Every op names the rectangle of
PEs that executes it, `pes = array<i64: row0, col0, rows, cols>` (SPMD: all of them run the same
instruction on their own data). Each PE runs the subsequence of ops whose rectangle contains it,
with its own clock: PEs only wait for each other through `pe.recv`.

Memory: `pe.alloc` reserves the same SRAM range `[offset, offset + size * elem_bytes)` on every PE
of its rectangle; `allocate-sram` assigns the offsets (reusing dead buffers). Compute ops read and
write whole buffers (one DSD each).

Network: `pe.route FROM -> [TO, ...]` configures, on every router of its rectangle, where
wavelets of `color` arriving from port FROM go (ports: north, south, east, west, ramp).
`pe.send` streams a buffer from every PE of its rectangle into its router on `color`; `pe.recv`
takes, on every PE of its rectangle, the next message delivered to that PE's ramp on `color`
(`combine sum` adds it into the buffer instead of overwriting, `combine max` keeps the larger,
...); the whole rectangle waits until each of its PEs has its message, so a chain is written as
one recv per step (`forward` streams the combined values on as they arrive: a pipelined chain).
A message is the sender's whole buffer at send time and must be exactly as long as the receiving
buffer. A send or recv with a `!pe.token` result is asynchronous (the PE goes on; `pe.wait`
joins it); without one the PE waits for it, and a synchronous send of a message longer than its
path's queues hold waits for its receivers to drain it (back-pressure). `pe.exchange` is a compiler-planned all-to-all between
two block distributions whose messages follow dimension-ordered (X then Y) routes on its color.
Host I/O enters at the west edge and leaves at the east edge (`pe.host_in`, `pe.host_out`).

Every op's parameters are properties with a typed builder (`pe.SendOp(buf, color=0,
pes=(0, 1, 4, 1))`); closed sets of names are enum attributes, written bare in the text:

    %a = pe.alloc {name = "a", pes = array<i64: 0, 0, 4, 4>, offset = 0 : i64} : !pe.buf<768xf32>
    pe.route ramp -> [east, west, ramp] {color = 0 : i64, pes = array<i64: 0, 0, 4, 4>}
    pe.send %a {color = 0 : i64, pes = array<i64: 0, 1, 4, 1>} : !pe.buf<768xf32>
    pe.recv %w {color = 0 : i64, pes = array<i64: 0, 0, 4, 4>} : !pe.buf<768xf32>
    pe.matmul_acc %c, %w, %b {pes = array<i64: 0, 0, 4, 4>, m = 16 : i64, k = 12 : i64, n = 8 : i64} : ...
    pe.binary add %d, %c, %e {pes = array<i64: 0, 0, 4, 4>} : ...
"""

from __future__ import annotations

import functools
import itertools
import math
import struct
from collections.abc import Sequence
from enum import Enum
from typing import Any, cast

from xdsl.dialects.builtin import (
    I64,
    ArrayAttr,
    BytesAttr,
    DenseArrayBase,
    FloatAttr,
    IndexType,
    IntAttr,
    IntegerAttr,
    IntegerType,
    StringAttr,
    TensorType,
    UnitAttr,
    f64,
    i64,
)
from xdsl.dialects.utils import EnumAttribute
from xdsl.ir import (
    Attribute,
    Block,
    BlockArgument,
    Dialect,
    Operation,
    ParametrizedAttribute,
    Region,
    SpacedOpaqueSyntaxAttribute,
    SSAValue,
    TypeAttribute,
)
from xdsl.irdl import (
    IRDLOperation,
    ParsePropInAttrDict,
    irdl_attr_definition,
    irdl_op_definition,
    operand_def,
    opt_operand_def,
    opt_prop_def,
    opt_result_def,
    param_def,
    prop_def,
    region_def,
    result_def,
    traits_def,
    var_operand_def,
    var_result_def,
)
from xdsl.irdl.declarative_assembly_format import (
    AttributeVariable,
    CustomDirective,
    ParsingState,
    PrintingState,
    irdl_custom_directive,
)
from xdsl.parser import AttrParser, Parser
from xdsl.printer import Printer
from xdsl.traits import IsTerminator
from xdsl.utils.exceptions import VerifyException
from xdsl.utils.str_enum import StrEnum

from pyflame.core import fused_expr, shapes
from pyflame.core.conv_window import WindowAccess, window_properties
from pyflame.core.distribution import DistributedAttr
from pyflame.core.elementwise import BinaryFn, UnaryFn, type_name
from pyflame.core.reductions import PoolKind, ReductionKind

# --- closed sets of names ------------------------------------------------------------------
# Enum attributes (as xDSL's csl dialect): the op's text spells the bare name (`pe.binary add`,
# `pe.route ramp -> [east, ramp]`), a wrong name is a parse error listing the right ones, and
# passes read a StrEnum member (`op.fn.data is BinaryFn.add`, also equal to the string "add").


class Port(StrEnum):
    """A router's ports: its four neighbours and the ramp to and from its own PE. The order is
    the simulator's port index."""

    NORTH = "north"
    SOUTH = "south"
    EAST = "east"
    WEST = "west"
    RAMP = "ramp"


class GridAxis(StrEnum):
    """An axis of the PE grid: its rows (`r`) or columns (`c`), as in tile layouts' splits."""

    ROWS = "r"
    COLS = "c"


def parse_name(parser: AttrParser, names: type[Enum], what: str) -> Any:
    """One of the names of `names`, bare or quoted; any other is an error that lists them:
    `unknown unary fn 'frobnicate' (one of neg, abs, ...)`."""
    start = parser.pos
    name = parser.parse_optional_identifier_or_str_literal()
    allowed = [member.value for member in names]
    if name not in allowed:
        got = f"unknown {what} '{name}'" if name is not None else f"expected a {what}"
        parser.raise_error(f"{got} (one of {', '.join(allowed)})", start, parser.pos)
    return names(name)


@irdl_attr_definition
class UnaryFnAttr(EnumAttribute[UnaryFn], SpacedOpaqueSyntaxAttribute):
    """`fn` of pe.unary: pyflame/core/elementwise.py's unary functions, and `scale`."""

    name = "pe.unary_fn"

    @classmethod
    def parse_parameter(cls, parser: AttrParser) -> UnaryFn:
        return parse_name(parser, UnaryFn, "unary fn")


@irdl_attr_definition
class BinaryFnAttr(EnumAttribute[BinaryFn], SpacedOpaqueSyntaxAttribute):
    """`fn` of pe.binary: pyflame/core/elementwise.py's binary functions."""

    name = "pe.binary_fn"

    @classmethod
    def parse_parameter(cls, parser: AttrParser) -> BinaryFn:
        return parse_name(parser, BinaryFn, "binary fn")


@irdl_attr_definition
class ReductionKindAttr(EnumAttribute[ReductionKind], SpacedOpaqueSyntaxAttribute):
    """`kind` of pe.reduce and `combine` of pe.recv: sum, prod, max, min
    (pyflame/core/reductions.py)."""

    name = "pe.reduction"

    @classmethod
    def parse_parameter(cls, parser: AttrParser) -> ReductionKind:
        return parse_name(parser, ReductionKind, "reduction")


@irdl_attr_definition
class PoolKindAttr(EnumAttribute[PoolKind], SpacedOpaqueSyntaxAttribute):
    """`kind` of pe.pool2d: max or avg."""

    name = "pe.pool"

    @classmethod
    def parse_parameter(cls, parser: AttrParser) -> PoolKind:
        return parse_name(parser, PoolKind, "pooling")


@irdl_attr_definition
class PortAttr(EnumAttribute[Port], SpacedOpaqueSyntaxAttribute):
    """`from` and each of `to` of pe.route."""

    name = "pe.port"

    @classmethod
    def parse_parameter(cls, parser: AttrParser) -> Port:
        return parse_name(parser, Port, "port")


@irdl_attr_definition
class GridAxisAttr(EnumAttribute[GridAxis], SpacedOpaqueSyntaxAttribute):
    """`axis` of pe.unpack."""

    name = "pe.axis"

    @classmethod
    def parse_parameter(cls, parser: AttrParser) -> GridAxis:
        return parse_name(parser, GridAxis, "grid axis")


ELEM_BYTES = {"f32": 4, "f16": 2, "bf16": 2, "i32": 4, "i1": 1}


@irdl_attr_definition
class BufferType(ParametrizedAttribute, TypeAttribute):
    """`!pe.buf<768xf32>`: a buffer of 768 f32 elements in every PE of its rectangle."""

    name = "pe.buf"

    size: IntAttr = param_def()
    element_type: Attribute = param_def()

    def __init__(self, size: int, element_type: Attribute):
        super().__init__(IntAttr(size), element_type)

    @classmethod
    def parse_parameters(cls, parser: AttrParser) -> Sequence[Attribute]:
        with parser.in_angle_brackets():
            start = parser.pos
            shape, elem = parser.parse_ranked_shape()
            if len(shape) != 1 or shape[0] < 0:
                parser.raise_error(
                    "a pe buffer is one-dimensional and static: !pe.buf<SIZExTYPE>",
                    start,
                    parser.pos,
                )
        return (IntAttr(shape[0]), elem)

    def print_parameters(self, printer: Printer) -> None:
        with printer.in_angle_brackets():
            printer.print_string(f"{self.size.data}x")
            printer.print_attribute(self.element_type)

    def verify(self) -> None:
        if type_name(self.element_type) not in ELEM_BYTES:
            raise VerifyException(
                f"pe buffers hold {', '.join(ELEM_BYTES)}, not {self.element_type}"
            )
        if self.size.data < 1:
            raise VerifyException(
                f"a pe buffer holds at least one element, got !pe.buf<{self.size.data}x"
                f"{self.element_type}> (lower-mesh-to-pe never makes empty buffers)"
            )

    @property
    def elem_bytes(self) -> int:
        return ELEM_BYTES[type_name(self.element_type)]

    @property
    def num_bytes(self) -> int:
        return self.size.data * self.elem_bytes


@irdl_attr_definition
class TokenType(ParametrizedAttribute, TypeAttribute):
    """`!pe.token`: the completion of an asynchronous `pe.send` or `pe.recv`, one per PE of its
    rectangle; `pe.wait` joins it."""

    name = "pe.token"


@irdl_attr_definition
class TileLayoutAttr(DistributedAttr):
    """`#pe.layout<64x48xf32 on 4x4 split [r, c]>`: how a host tensor of that shape and element
    type is tiled over a grid of PEs (anchored at the op's first PE). Each dim is split over the
    grid's rows (`r`), columns (`c`), all PEs row-major (`rc`) or not at all (`_`); a grid axis
    no dim uses holds copies. Each PE holds a block of ceil(n / parts) elements per dim, stored
    row-major, the last blocks padded. Host I/O, mask_pad, the creation ops and pe.exchange
    read it; `layout.dist` is its block arithmetic.

        pe.host_in %a, %buf {layout = #pe.layout<64x48xf32 on 4x4 split [r, c]>,
                             pes = array<i64: 0, 0, 4, 4>} : tensor<64x48xf32>, !pe.buf<192xf32>
    """

    name = "pe.layout"
    WHAT = "tile layouts"

    def verify(self) -> None:
        _expect(len(self.grid.data) == 2, f"a tile layout's grid is ROWSxCOLS, got {self.grid}")
        super().verify()


# --- building attributes from Python values ------------------------------------------------
# The builders take ints, floats, tuples and enum members (or their names) and make the one
# attribute type each property has; an attribute already of that type passes through unchanged.

Rect = Sequence[int]


def dense_i64(values: Sequence[int] | DenseArrayBase) -> DenseArrayBase:
    """An `array<i64: ...>` of the given ints."""
    if isinstance(values, DenseArrayBase):
        return values
    # packed directly (DenseArrayBase.from_list normalises each value in Python: a
    # wafer-wide exchange's pe.routes hold hundreds of thousands of numbers)
    ints = [int(v) for v in values]
    return DenseArrayBase(i64, BytesAttr(struct.pack(f"<{len(ints)}q", *ints)))


def int64(value: int | IntegerAttr) -> IntegerAttr:
    """An `N : i64` (an IntegerAttr of another width, e.g. a mesh op's, is re-typed)."""
    if isinstance(value, IntegerAttr):
        return value if value.type == i64 else IntegerAttr(value.value.data, i64)
    return IntegerAttr(int(value), i64)


def float64(value: float | FloatAttr) -> FloatAttr:
    """An `X : f64` (a FloatAttr of another width passes through: its value is kept exactly)."""
    return value if isinstance(value, FloatAttr) else FloatAttr(float(value), f64)


def _opt_int64(value: int | IntegerAttr | None) -> IntegerAttr | None:
    return None if value is None else int64(value)


def _opt_dense(values: Sequence[int] | DenseArrayBase | None) -> DenseArrayBase | None:
    return None if values is None else dense_i64(values)


def _expect(cond: bool, message: str) -> None:
    if not cond:
        raise VerifyException(message)


def buf_of(value: SSAValue) -> BufferType:
    typ = value.type
    if not isinstance(typ, BufferType):
        raise VerifyException(f"expected a !pe.buf, got {typ}")
    return typ


def rect_contains(outer: Sequence[int], inner: Sequence[int]) -> bool:
    r0, c0, nr, nc = outer
    s0, d0, sr, sc = inner
    return r0 <= s0 and c0 <= d0 and s0 + sr <= r0 + nr and d0 + sc <= c0 + nc


def rects_overlap(a: Sequence[int], b: Sequence[int]) -> bool:
    """Whether rectangles (row, col, rows, cols) a and b share a PE."""
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def moved_rect(
    rect: Sequence[int], steps: Sequence[Sequence[int]], at: Sequence[int]
) -> tuple[int, int, int, int]:
    """`rect` at iteration `at` (innermost loop first) of the loops that move it by `steps`
    (fewer steps than loops: the outer ones move nothing)."""
    r0, c0, nr, nc = rect
    for n, (dr, dc, dnr, dnc) in zip(at, steps, strict=False):
        if n:
            r0, c0, nr, nc = r0 + n * dr, c0 + n * dc, nr + n * dnr, nc + n * dnc
    return (r0, c0, nr, nc)


def check_layout(op: PEOp, layout: TileLayoutAttr, buffer: SSAValue) -> None:
    """A tile layout must span exactly the op's PEs, and its tile must fit the buffer."""
    d = layout.dist
    rect = op.rect
    _expect(
        tuple(d.grid) == (rect[2], rect[3]),
        f"'{op.name}' layout grid {d.grid[0]}x{d.grid[1]} does not match its PEs {list(rect)}",
    )
    _expect(
        buf_of(buffer).size.data >= d.local_elems,
        f"'{op.name}' buffer holds {buf_of(buffer).size.data} elements, its tile {d.local_elems}",
    )


# --- ops -------------------------------------------------------------------------------------
# Every op's parameters are properties (as xDSL's arith and memref ops). An op's enum property
# is part of its text (`pe.unary relu %d, %s`); the others print in its attribute dictionary
# (`{pes = array<i64: 0, 0, 2, 2>, color = 0 : i64}`), from where they are parsed back
# (ParsePropInAttrDict); the generic form `"pe.send"(%a) <{...}>` parses too.


class PEOp(IRDLOperation):
    """Base: the rectangle of PEs that executes the op, `pes = array<i64: row0, col0, rows,
    cols>`."""

    pes = prop_def(DenseArrayBase.constr(i64))
    #: inside a `pe.loop`: what each iteration adds to `pes` (its rectangle at iteration i is
    #: `pes + i * pes_step`, `pes` being the first iteration's); in nested loops, four numbers
    #: per loop from the innermost out (`pes + i * step0 + j * step1` in loop j's iteration i)
    pes_step = opt_prop_def(DenseArrayBase.constr(i64))
    irdl_options = (ParsePropInAttrDict(),)

    @property
    def rect(self) -> tuple[int, int, int, int]:
        """The op's rectangle (in a loop body: at the first iteration)."""
        # (unpacked once per attribute, an immutable value: passes ask ~10^5 times)
        pes = self.pes
        rect = pes.__dict__.get("_rect")
        if rect is None:
            rect = pes.__dict__["_rect"] = tuple(pes.get_values())
        return rect

    @property
    def rect_steps(self) -> list[tuple[int, int, int, int]]:
        """What an iteration of each enclosing pe.loop adds to the rectangle, innermost first
        (fewer than the loops: the outer ones add nothing)."""
        if self.pes_step is None:
            return []
        v = self.pes_step.get_values()
        return [tuple(v[k : k + 4]) for k in range(0, len(v), 4)]  # type: ignore[misc]  # four ints

    @property
    def rect_step(self) -> tuple[int, int, int, int] | None:
        """What each iteration of the innermost enclosing pe.loop adds (None: nothing)."""
        steps = self.rect_steps
        return steps[0] if steps else None

    def rect_at(self, i: int, outer: Sequence[int] = ()) -> tuple[int, int, int, int]:
        """The op's rectangle at iteration `i` of its loop (0: the first) and `outer` of the
        loops around it (innermost first)."""
        return moved_rect(self.rect, self.rect_steps, (i, *outer))

    def loops_around(self) -> list[LoopOp]:
        """The pe.loops enclosing the op, innermost first."""
        out: list[LoopOp] = []
        parent = self.parent_op()
        while isinstance(parent, LoopOp):
            out.append(parent)
            parent = parent.parent_op()
        return out

    def rect_span(self) -> tuple[tuple[int, int, int, int], ...]:
        """The rectangles at the corners of the enclosing loops' iterations (the first, and
        every combination of first and last): being affine in each index, every other lies
        between them."""
        levels = len(self.rect_steps)
        if not levels:
            return (self.rect,)
        lasts = [loop.trip_count - 1 for loop in self.loops_around()[:levels]]
        corners = {
            self.rect_at(idx[0], idx[1:])
            for idx in itertools.product(*[(0, last) for last in lasts])
        }
        return (self.rect, *sorted(corners - {self.rect}))

    def _check_rect(self, *buffers: SSAValue) -> None:
        # an enum property written in the op's text cannot be given again in the dictionary
        # (the old spelling, `pe.unary relu %d, %s {fn = "neg"}`, would parse as a stray attribute)
        twice = sorted(set(self.attributes) & set(self.get_irdl_definition().properties))
        _expect(
            not twice,
            f"'{self.name}' takes {', '.join(twice)} in its text, not in its attribute dictionary",
        )
        rect = self.rect
        _expect(
            len(rect) == 4 and rect[2] > 0 and rect[3] > 0 and min(rect) >= 0,
            f"pes must be [row0, col0, rows, cols] with positive sizes, got {list(rect)}",
        )
        span = self._check_step()
        for buf in buffers:
            owner = buf.owner
            if isinstance(owner, AllocOp):
                for r in span:
                    _expect(
                        rect_contains(owner.rect, r),
                        f"'{self.name}' runs on PEs {list(r)} outside buffer "
                        f"'{owner.buffer_name.data}' (allocated on {list(owner.rect)})"
                        + _at_iteration(self, r),
                    )

    def _check_step(self) -> tuple[tuple[int, int, int, int], ...]:
        """A `pes_step` only inside a pe.loop, and the rectangle stays a rectangle of the
        fabric at every iteration; returns the first and last iteration's rectangles."""
        if self.pes_step is None:
            return (self.rect,)
        values = list(self.pes_step.get_values())
        _expect(
            len(values) % 4 == 0 and bool(values),
            f"pes_step must hold four numbers per loop, got {values}",
        )
        _expect(
            isinstance(self.parent_op(), LoopOp),
            "pes_step is only meaningful inside a pe.loop (it moves the op's PEs per iteration)",
        )
        _expect(
            len(values) // 4 <= len(self.loops_around()),
            f"pes_step gives {len(values) // 4} loops' steps, but only "
            f"{len(self.loops_around())} pe.loop(s) enclose the op",
        )
        span = self.rect_span()
        for last in span[1:]:
            _expect(
                last[2] > 0 and last[3] > 0 and min(last) >= 0,
                f"pes {list(self.rect)} + i * pes_step {values} leaves the fabric at the "
                f"loop's last iteration: {list(last)}",
            )
        return span

    def verify_(self) -> None:
        self._check_rect(*[o for o in self.operands if isinstance(o.type, BufferType)])

    @property
    def buffers(self) -> list[SSAValue]:
        """The buffers the op reads or writes."""
        return [o for o in self.operands if isinstance(o.type, BufferType)]

    @property
    def written(self) -> SSAValue | None:
        """The buffer the op writes: its first buffer operand (the destination, by the
        dialect's convention), or None for ops that only read (send, host_out)."""
        bufs = self.buffers
        return bufs[0] if bufs and not isinstance(self, SendOp | HostOutOp) else None


@irdl_op_definition
class AllocOp(PEOp):
    """A buffer at the same SRAM offset on every PE of `pes` (offset set by allocate-sram).

    With `in %whole at N` it is a window of another buffer: its elements are the parent's
    N, N+1, ... (the same bytes: a write to either is seen through both), on the parent's
    PEs, placed with it (allocate-sram keeps the parent alive while the window is). A packed
    group of allreduces (mesh.allreduce_group) reduces one buffer whose windows are its
    operands and results, so that nothing is copied in or out. A window starts on a 32-bit
    word (the machine's and the simulator's alignment).

    %a = pe.alloc {name = "a@demo.py:3", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32>
    %w = pe.alloc in %a : !pe.buf<16xf32> at 4 {name = "w", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<8xf32>
    """

    name = "pe.alloc"
    whole = opt_operand_def(BufferType)
    at = opt_prop_def(IntegerAttr[I64])
    buffer_name = prop_def(StringAttr, prop_name="name")
    offset = opt_prop_def(IntegerAttr[I64])
    result = result_def(BufferType)
    assembly_format = "(`in` $whole^ `:` type($whole) `at` $at)? attr-dict `:` type($result)"

    def __init__(
        self,
        buffer_type: BufferType,
        *,
        name: str | StringAttr,
        pes: Rect,
        offset: int | IntegerAttr | None = None,
        within: tuple[SSAValue, int] | None = None,
    ):
        super().__init__(
            operands=[[] if within is None else [within[0]]],
            result_types=[buffer_type],
            properties={
                "name": StringAttr(name) if isinstance(name, str) else name,
                "pes": dense_i64(pes),
                "offset": _opt_int64(offset),
                "at": None if within is None else int64(within[1]),
            },
        )

    @property
    def written(self) -> SSAValue | None:
        """None: an alloc writes nothing (a window names its whole buffer only to share it)."""
        return None

    @property
    def window_start(self) -> int | None:
        """The first element of the parent this window starts at (None: not a window)."""
        return None if self.at is None else self.at.value.data

    @property
    def byte_offset(self) -> int | None:
        return None if self.offset is None else self.offset.value.data

    def set_offset(self, offset: int) -> None:
        """Place the buffer at `offset` bytes (allocate-sram)."""
        self.properties["offset"] = int64(offset)

    def verify_(self) -> None:
        self._check_rect()
        offset = self.byte_offset  # None exactly when self.offset is
        if offset is not None:
            _expect(offset >= 0, "offset must not be negative")
            _expect(offset % 4 == 0, f"offset {offset} must be 4-byte aligned")
        _expect((self.whole is None) == (self.at is None), "a window needs `in %buffer at N`")
        if self.whole is not None:
            self._check_window(self.whole)

    def _check_window(self, parent: SSAValue) -> None:
        owner, buf, whole = parent.owner, buf_of(self.result), buf_of(parent)
        start = self.window_start or 0
        _expect(
            isinstance(owner, AllocOp) and owner.whole is None,
            "a window's parent is a pe.alloc that is not a window",
        )
        assert isinstance(owner, AllocOp)
        _expect(buf.element_type == whole.element_type, "a window holds its parent's elements")
        _expect(
            start >= 0 and start + buf.size.data <= whole.size.data,
            f"window [{start}, {start + buf.size.data}) outside its parent's "
            f"{whole.size.data} elements",
        )
        _expect(start * buf.elem_bytes % 4 == 0, f"window at element {start} is not word-aligned")
        _expect(self.rect == owner.rect, "a window lies on its parent's PEs")

    def verify(self, verify_nested_ops: bool = True) -> None:
        super().verify(verify_nested_ops)
        block = self.parent_block()
        if block is not None and self is next(
            (op for op in block.ops if isinstance(op, AllocOp)), None
        ):  # the block's first alloc checks them all, once (an error names the later alloc)
            check_sram_overlaps(block)


def buffer_lives(block: Block) -> dict[AllocOp, tuple[int, int]]:
    """Each buffer of the block, live from its first to its last use in program order (the
    alloc itself when it has none): allocate-sram's rule."""
    index = {op: i for i, op in enumerate(block.ops)}
    lives = {}
    for op in index:
        if isinstance(op, AllocOp):
            uses = [i for u in op.result.uses if (i := program_index(index, u.operation)) >= 0]
            lives[op] = (min(uses, default=index[op]), max(uses, default=index[op]))
    for op, (start, end) in list(lives.items()):  # a parent lives while its windows do
        root = window_root(op)
        if root is not op and root in lives:
            lo, hi = lives[root]
            lives[root] = (min(lo, start), max(hi, end))
    return lives


def window_root(op: AllocOp) -> AllocOp:
    """The alloc whose bytes `op` is a window of (`op` itself when it is not a window)."""
    owner = op.whole.owner if op.whole is not None else op
    assert isinstance(owner, AllocOp)  # AllocOp's verifier
    return owner


def program_index(index: dict[Operation, int], op: Operation) -> int:
    """The position of `op` in a block's program order (`index`, the block's ops by position):
    an op inside a pe.loop counts as its loop (it runs at every iteration, so a buffer or a
    channel it uses lives as long as the whole loop); -1 when `op` is not in the block."""
    while op not in index:
        parent = op.parent_op()
        if parent is None:
            return -1
        op = parent
    return index[op]


def token_users(token: SSAValue) -> list[Operation]:
    """The ops that use an asynchronous transfer's token, following it through pe.loop:
    yielded, it is the next iteration's carried token and, after the last, the loop's result."""
    seen: set[SSAValue] = set()
    todo, users = [token], []
    while todo:
        value = todo.pop()
        if value in seen:
            continue
        seen.add(value)
        for use in value.uses:
            users.append(use.operation)
            if isinstance(use.operation, YieldOp):
                loop = use.operation.parent_op()
                assert isinstance(loop, LoopOp)  # YieldOp's verifier
                todo += [loop.body.block.args[use.index + 1], loop.results[use.index]]
    return users


def check_sram_overlaps(block: Block) -> None:
    """No two buffers live at the same time on a common PE share SRAM bytes. The later of two
    such allocs fails verification, naming the other."""
    lives = buffer_lives(block)
    # (start, end, lo, hi, rect, window root, op) of each placed buffer, read from the IR
    # once: the pairs below are many (every buffer against those alive with it)
    placed = sorted(
        (
            (*lives[op], offset, offset + buf_of(op.result).num_bytes, op.rect, window_root(op), op)
            for op in lives
            if (offset := op.byte_offset) is not None
        ),
        key=lambda item: item[0],
    )
    for i, (_, end, lo, hi, rect, root, op) in enumerate(placed):
        for start2, _, lo2, hi2, rect2, root2, other in placed[i + 1 :]:
            if start2 > end:
                break
            if root2 is op or root is other:
                continue  # a window shares its parent's bytes by design
            if lo < hi2 and lo2 < hi and _rects_intersect(rect, rect2):
                message = (
                    f"buffer '{other.buffer_name.data}' (SRAM bytes [{lo2}, {hi2}) on PEs "
                    f"{list(other.rect)}) overlaps buffer '{op.buffer_name.data}' (bytes "
                    f"[{lo}, {hi}) on PEs {list(op.rect)}) while both are live; run "
                    "allocate-sram or give them disjoint offsets"
                )
                other.emit_error(f"Operation does not verify: {message}", VerifyException(message))


def _at_iteration(op: PEOp, rect: Sequence[int]) -> str:
    """' at the loop's last iteration' when `rect` is not the op's first-iteration rectangle."""
    return "" if tuple(rect) == op.rect else " at the loop's last iteration"


def _rects_intersect(a: Sequence[int], b: Sequence[int]) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


@irdl_op_definition
class HostInOp(PEOp):
    """Stream a host tensor into the tiles of `layout` (padding zeroed), through the west edge."""

    name = "pe.host_in"
    input = operand_def(TensorType)
    buffer = operand_def(BufferType)
    layout = prop_def(TileLayoutAttr)
    assembly_format = "$input `,` $buffer attr-dict `:` type($input) `,` type($buffer)"

    def __init__(self, input: SSAValue, buffer: SSAValue, *, layout: TileLayoutAttr, pes: Rect):
        super().__init__(
            operands=[input, buffer], properties={"pes": dense_i64(pes), "layout": layout}
        )

    def verify_(self) -> None:
        super().verify_()
        _expect(
            tuple(cast(TensorType, self.input.type).get_shape()) == self.layout.dist.shape,
            "host_in shape mismatch",
        )
        check_layout(self, self.layout, self.buffer)


@irdl_op_definition
class HostOutOp(PEOp):
    """Stream the tiles of `layout` out through the east edge into a host tensor."""

    name = "pe.host_out"
    buffer = operand_def(BufferType)
    layout = prop_def(TileLayoutAttr)
    result = result_def(TensorType)
    assembly_format = "$buffer attr-dict `:` type($buffer) `->` type($result)"

    def __init__(
        self, buffer: SSAValue, result_type: Attribute, *, layout: TileLayoutAttr, pes: Rect
    ):
        super().__init__(
            operands=[buffer],
            result_types=[result_type],
            properties={"layout": layout, "pes": dense_i64(pes)},
        )

    def verify_(self) -> None:
        super().verify_()
        _expect(
            tuple(self.result.type.get_shape()) == self.layout.dist.shape, "host_out shape mismatch"
        )
        check_layout(self, self.layout, self.buffer)


@irdl_op_definition
class FillOp(PEOp):
    """Every element of the buffer = `value`."""

    name = "pe.fill"
    buffer = operand_def(BufferType)
    value = prop_def(FloatAttr)
    assembly_format = "$buffer attr-dict `:` type($buffer)"

    def __init__(self, buffer: SSAValue, *, value: float | FloatAttr, pes: Rect):
        super().__init__(
            operands=[buffer], properties={"pes": dense_i64(pes), "value": float64(value)}
        )


@irdl_op_definition
class RandomNormalOp(PEOp):
    """Normal samples as a function of (seed, each element's global index in `layout`)."""

    name = "pe.random_normal"
    buffer = operand_def(BufferType)
    seed = operand_def(IntegerType)
    layout = prop_def(TileLayoutAttr)
    assembly_format = "$buffer `,` $seed attr-dict `:` type($buffer) `,` type($seed)"

    def __init__(self, buffer: SSAValue, seed: SSAValue, *, layout: TileLayoutAttr, pes: Rect):
        super().__init__(
            operands=[buffer, seed], properties={"pes": dense_i64(pes), "layout": layout}
        )

    def verify_(self) -> None:
        super().verify_()
        check_layout(self, self.layout, self.buffer)


@irdl_op_definition
class UnaryOp(PEOp):
    """dst = fn(src) elementwise; `scale` multiplies by `scalar`.

    pe.unary relu %d, %s {pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32>, !pe.buf<16xf32>
    """

    name = "pe.unary"
    dst = operand_def(BufferType)
    src = operand_def(BufferType)
    fn = prop_def(UnaryFnAttr)
    scalar = opt_prop_def(FloatAttr)
    #: an int32 result's tile layout: the simulator checks overflow in its real lanes only
    layout = opt_prop_def(TileLayoutAttr)
    assembly_format = "$fn $dst `,` $src attr-dict `:` type($dst) `,` type($src)"

    def __init__(
        self,
        fn: UnaryFn | str,
        dst: SSAValue,
        src: SSAValue,
        *,
        pes: Rect,
        scalar: float | FloatAttr | None = None,
        layout: TileLayoutAttr | None = None,
    ):
        super().__init__(
            operands=[dst, src],
            properties={
                "fn": UnaryFnAttr(UnaryFn(fn)),
                "pes": dense_i64(pes),
                "scalar": None if scalar is None else float64(scalar),
                "layout": layout,
            },
        )

    def verify_(self) -> None:
        super().verify_()
        if self.layout is not None:
            check_layout(self, self.layout, self.dst)
        _expect(
            (self.fn.data == UnaryFn("scale")) == (self.scalar is not None),
            "'scale' (and only it) takes a scalar",
        )
        _expect(buf_of(self.dst).size == buf_of(self.src).size, "unary buffers differ in size")


@irdl_op_definition
class BinaryOp(PEOp):
    """dst = fn(lhs, rhs) elementwise (one-element operands broadcast).

    pe.binary add %d, %a, %b {pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32>, ...
    """

    name = "pe.binary"
    dst = operand_def(BufferType)
    lhs = operand_def(BufferType)
    rhs = operand_def(BufferType)
    fn = prop_def(BinaryFnAttr)
    #: an int32 result's tile layout: the simulator checks overflow in its real lanes only
    layout = opt_prop_def(TileLayoutAttr)
    assembly_format = (
        "$fn $dst `,` $lhs `,` $rhs attr-dict `:` type($dst) `,` type($lhs) `,` type($rhs)"
    )

    def __init__(
        self,
        fn: BinaryFn | str,
        dst: SSAValue,
        lhs: SSAValue,
        rhs: SSAValue,
        *,
        pes: Rect,
        layout: TileLayoutAttr | None = None,
    ):
        super().__init__(
            operands=[dst, lhs, rhs],
            properties={
                "fn": BinaryFnAttr(BinaryFn(fn)),
                "pes": dense_i64(pes),
                "layout": layout,
            },
        )

    def verify_(self) -> None:
        super().verify_()
        if self.layout is not None:
            check_layout(self, self.layout, self.dst)
        check_operand_sizes(self, self.dst, self.lhs, self.rhs)


def check_operand_sizes(op: PEOp, dst: SSAValue, *operands: SSAValue) -> None:
    """Each operand is as long as dst, or one element (a scalar streamed with stride 0)."""
    n = buf_of(dst).size.data
    sizes = [buf_of(v).size.data for v in operands]
    _expect(
        all(k in (n, 1) for k in sizes),
        f"'{op.name}' operands must hold {n} elements or 1, got {sizes}",
    )


@irdl_op_definition
class SelectOp(PEOp):
    """dst = where(cond, lhs, rhs), elementwise (one-element operands broadcast)."""

    name = "pe.select"
    dst = operand_def(BufferType)
    cond = operand_def(BufferType)
    lhs = operand_def(BufferType)
    rhs = operand_def(BufferType)
    assembly_format = (
        "$dst `,` $cond `,` $lhs `,` $rhs attr-dict `:` type($dst) `,` type($cond) `,` "
        "type($lhs) `,` type($rhs)"
    )

    def __init__(self, dst: SSAValue, cond: SSAValue, lhs: SSAValue, rhs: SSAValue, *, pes: Rect):
        super().__init__(operands=[dst, cond, lhs, rhs], properties={"pes": dense_i64(pes)})

    def verify_(self) -> None:
        super().verify_()
        check_operand_sizes(self, self.dst, self.cond, self.lhs, self.rhs)


@irdl_op_definition
class ConvertOp(PEOp):
    """dst = src converted to dst's element type."""

    name = "pe.convert"
    dst = operand_def(BufferType)
    src = operand_def(BufferType)
    #: an int32 result's tile layout: the simulator checks overflow in its real lanes only
    layout = opt_prop_def(TileLayoutAttr)
    assembly_format = "$dst `,` $src attr-dict `:` type($dst) `,` type($src)"

    def __init__(
        self, dst: SSAValue, src: SSAValue, *, pes: Rect, layout: TileLayoutAttr | None = None
    ):
        super().__init__(operands=[dst, src], properties={"pes": dense_i64(pes), "layout": layout})

    def verify_(self) -> None:
        super().verify_()
        if self.layout is not None:
            check_layout(self, self.layout, self.dst)
        _expect(buf_of(self.dst).size == buf_of(self.src).size, "convert buffers differ in size")


@irdl_op_definition
class MaskPadOp(PEOp):
    """Set the elements of each PE's tile that are padding in `layout` to `value`."""

    name = "pe.mask_pad"
    buffer = operand_def(BufferType)
    layout = prop_def(TileLayoutAttr)
    value = prop_def(FloatAttr)
    assembly_format = "$buffer attr-dict `:` type($buffer)"

    def __init__(
        self, buffer: SSAValue, *, layout: TileLayoutAttr, value: float | FloatAttr, pes: Rect
    ):
        super().__init__(
            operands=[buffer],
            properties={"pes": dense_i64(pes), "layout": layout, "value": float64(value)},
        )

    def verify_(self) -> None:
        super().verify_()
        check_layout(self, self.layout, self.buffer)


def _ints(attr: DenseArrayBase[IntegerType]) -> tuple[int, ...]:
    return tuple(attr.get_values())


def _positive(op: PEOp, what: str, sizes: Sequence[int]) -> None:
    """A tile view or matrix size with no zero (or negative) dim: pe kernels work on at least
    one element (ops on zero-size tensors are folded away before the mesh)."""
    _expect(
        all(n >= 1 for n in sizes),
        f"'{op.name}' {what} {list(sizes)} must be positive (no zero-size dims)",
    )


@irdl_op_definition
class ReduceOp(PEOp):
    """dst = reduce(src viewed as `shape`) over `dims`, keeping them as size 1; the kind is sum,
    prod, max or min (pyflame/core/reductions.py).

        pe.reduce sum %p, %x {pes = ..., shape = array<i64: 4, 3>, dims = array<i64: 1>} : ...
    """

    name = "pe.reduce"
    dst = operand_def(BufferType)
    src = operand_def(BufferType)
    kind = prop_def(ReductionKindAttr)
    shape = prop_def(DenseArrayBase.constr(i64))
    dims = prop_def(DenseArrayBase.constr(i64))
    assembly_format = "$kind $dst `,` $src attr-dict `:` type($dst) `,` type($src)"

    def __init__(
        self,
        kind: ReductionKind | str,
        dst: SSAValue,
        src: SSAValue,
        *,
        shape: Sequence[int],
        dims: Sequence[int],
        pes: Rect,
    ):
        super().__init__(
            operands=[dst, src],
            properties={
                "kind": ReductionKindAttr(ReductionKind(kind)),
                "pes": dense_i64(pes),
                "shape": dense_i64(shape),
                "dims": dense_i64(dims),
            },
        )

    def verify_(self) -> None:
        super().verify_()
        shape, dims = _ints(self.shape), _ints(self.dims)
        _positive(self, "shape", shape)
        _expect(math.prod(shape) == buf_of(self.src).size.data, "reduce shape != src size")
        _expect(all(0 <= d < len(shape) for d in dims), "reduce dims out of range")
        out = math.prod(1 if i in dims else n for i, n in enumerate(shape))
        _expect(out == buf_of(self.dst).size.data, f"reduce dst must hold {out} elements")


@irdl_op_definition
class TransposeOp(PEOp):
    """dst = src viewed as `shape`, dims permuted by `perm`."""

    name = "pe.transpose"
    dst = operand_def(BufferType)
    src = operand_def(BufferType)
    shape = prop_def(DenseArrayBase.constr(i64))
    perm = prop_def(DenseArrayBase.constr(i64))
    assembly_format = "$dst `,` $src attr-dict `:` type($dst) `,` type($src)"

    def __init__(
        self,
        dst: SSAValue,
        src: SSAValue,
        *,
        shape: Sequence[int],
        perm: Sequence[int],
        pes: Rect,
    ):
        super().__init__(
            operands=[dst, src],
            properties={"pes": dense_i64(pes), "shape": dense_i64(shape), "perm": dense_i64(perm)},
        )

    def verify_(self) -> None:
        super().verify_()
        shape, perm = _ints(self.shape), _ints(self.perm)
        _positive(self, "shape", shape)
        _expect(sorted(perm) == list(range(len(shape))), "bad permutation")
        _expect(
            math.prod(shape) == buf_of(self.src).size.data == buf_of(self.dst).size.data,
            "transpose sizes differ",
        )


@irdl_op_definition
class CopyOp(PEOp):
    """dst = src."""

    name = "pe.copy"
    dst = operand_def(BufferType)
    src = operand_def(BufferType)
    assembly_format = "$dst `,` $src attr-dict `:` type($dst) `,` type($src)"

    def __init__(self, dst: SSAValue, src: SSAValue, *, pes: Rect):
        super().__init__(operands=[dst, src], properties={"pes": dense_i64(pes)})

    def verify_(self) -> None:
        super().verify_()
        _expect(buf_of(self.dst).size == buf_of(self.src).size, "copy buffers differ in size")


@irdl_op_definition
class MatmulAccOp(PEOp):
    """acc[m, n] += lhs[m, k] @ rhs[k, n] on every PE (FMACs).

    Batched with `lhs_batch` / `rhs_batch` (each 1 by default): lhs holds lhs_batch [m, k]
    matrices, rhs rhs_batch [k, n] ones, acc max(lhs_batch, rhs_batch) [m, n] ones; a side of
    batch 1 is shared by every entry: acc[b] += lhs[b or 0] @ rhs[b or 0].

    `lhs_transposed` / `rhs_transposed`: that buffer holds [k, m] (or [n, k]) matrices, read
    as their transposes through strided DSDs: the same FMACs (a DSD's stride costs nothing),
    no transposed copy (SUMMA of a transposed operand, mesh.matmul's `transpose_a`/`_b`).

        pe.matmul_acc %c, %a, %b lhs_transposed {pes = array<i64: 0, 0, 2, 2>, m = 3 : i64,
            k = 4 : i64, n = 5 : i64} : !pe.buf<15xf32>, !pe.buf<12xf32>, !pe.buf<20xf32>
    """

    name = "pe.matmul_acc"
    acc = operand_def(BufferType)
    lhs = operand_def(BufferType)
    rhs = operand_def(BufferType)
    m = prop_def(IntegerAttr[I64])
    k = prop_def(IntegerAttr[I64])
    n = prop_def(IntegerAttr[I64])
    lhs_batch = opt_prop_def(IntegerAttr[I64])
    rhs_batch = opt_prop_def(IntegerAttr[I64])
    lhs_transposed = opt_prop_def(UnitAttr)
    rhs_transposed = opt_prop_def(UnitAttr)
    assembly_format = (
        "$acc `,` $lhs `,` $rhs (`lhs_transposed` $lhs_transposed^)? "
        "(`rhs_transposed` $rhs_transposed^)? attr-dict `:` type($acc) `,` type($lhs) `,` "
        "type($rhs)"
    )

    def __init__(
        self,
        acc: SSAValue,
        lhs: SSAValue,
        rhs: SSAValue,
        *,
        m: int,
        k: int,
        n: int,
        pes: Rect,
        lhs_batch: int | None = None,
        rhs_batch: int | None = None,
        lhs_transposed: bool = False,
        rhs_transposed: bool = False,
    ):
        super().__init__(
            operands=[acc, lhs, rhs],
            properties={
                "pes": dense_i64(pes),
                "m": int64(m),
                "k": int64(k),
                "n": int64(n),
                "lhs_batch": _opt_int64(lhs_batch),
                "rhs_batch": _opt_int64(rhs_batch),
                "lhs_transposed": UnitAttr() if lhs_transposed else None,
                "rhs_transposed": UnitAttr() if rhs_transposed else None,
            },
        )

    @property
    def transposes(self) -> tuple[bool, bool]:
        """(lhs stored [k, m], rhs stored [n, k])."""
        return self.lhs_transposed is not None, self.rhs_transposed is not None

    @property
    def mkn(self) -> tuple[int, int, int]:
        return (self.m.value.data, self.k.value.data, self.n.value.data)

    @property
    def batches(self) -> tuple[int, int, int]:
        """(acc, lhs, rhs) batch counts."""
        bl = 1 if self.lhs_batch is None else self.lhs_batch.value.data
        br = 1 if self.rhs_batch is None else self.rhs_batch.value.data
        return max(bl, br), bl, br

    def verify_(self) -> None:
        super().verify_()
        m, k, n = self.mkn
        _positive(self, "m, k, n", (m, k, n))
        b, bl, br = self.batches
        _expect(
            min(bl, br) >= 1 and bl in (1, b) and br in (1, b),
            f"matmul_acc batches {bl} and {br} must be positive and equal, or one of them 1",
        )
        for what, buf, size in (
            ("acc", self.acc, b * m * n),
            ("lhs", self.lhs, bl * m * k),
            ("rhs", self.rhs, br * k * n),
        ):
            _expect(buf_of(buf).size.data == size, f"matmul_acc {what} must hold {size} elements")


class _ChannelOp(PEOp):
    """Base of the ops on a routing color (a virtual channel until allocate-colors)."""

    color = prop_def(IntegerAttr[I64])

    @property
    def color_id(self) -> int:
        return self.color.value.data

    def set_color(self, color: int) -> None:
        """Move the op to routing color `color` (allocate-colors)."""
        self.properties["color"] = int64(color)

    def verify_(self) -> None:
        super().verify_()
        _expect(self.color_id >= 0, "color must not be negative")


class _TransferOp(_ChannelOp):
    """Base of pe.send and pe.recv: the message is the whole buffer, or with `window [o, n]`
    its `n` elements from element `o` (a slice: each half or segment of a vector goes its own
    way in the two_way and rsag collectives). A window starts on a wavelet boundary (its first
    element's byte offset a multiple of 4)."""

    window = opt_prop_def(DenseArrayBase.constr(i64))

    @property
    def window_span(self) -> tuple[int, int] | None:
        """(first element, element count) of the message's slice of the buffer; None: all."""
        if self.window is None:
            return None
        first, count = _ints(self.window)
        return first, count

    @property
    def message_elems(self) -> int:
        """Elements of the message: the window's, else the buffer's."""
        span = self.window_span
        return buf_of(self.operands[0]).size.data if span is None else span[1]

    def verify_(self) -> None:
        super().verify_()
        if self.window is None:
            return
        values = _ints(self.window)
        _expect(len(values) == 2, "window must be [first element, element count]")
        first, count = values
        buf = buf_of(self.operands[0])
        size = buf.size.data
        _expect(
            first >= 0 and count > 0 and first + count <= size,
            f"window [{first}, {count}] must be a non-empty slice of the buffer's {size} elements",
        )
        _expect(
            first * buf.elem_bytes % 4 == 0,
            f"window [{first}, {count}] must start on a 32-bit wavelet boundary "
            f"(element {first} of {buf.elem_bytes}-byte elements is not)",
        )


def window_prop(window: tuple[int, int] | None) -> DenseArrayBase | None:
    return None if window is None else dense_i64(window)


@irdl_op_definition
class SendOp(_TransferOp):
    """Every PE of `pes` streams its whole buffer into its router on `color`.

    Without a result the send is synchronous: each PE stops until its last wavelet has left
    (which, once the path's queues are full, waits for the receivers to drain them). With a
    `!pe.token` result it is asynchronous (a fabric DSD op on a microthread): the PE goes on at
    once and `pe.wait` joins the completion; the buffer must not be written before that.

        %t = pe.send %a {color = 0 : i64, pes = array<i64: 0, 1, 4, 1>} : !pe.buf<8xf32> -> !pe.token
    """

    name = "pe.send"
    buffer = operand_def(BufferType)
    token = opt_result_def(TokenType)
    assembly_format = (
        "$buffer (`window` $window^)? attr-dict `:` type($buffer) (`->` type($token)^)?"
    )

    def __init__(
        self,
        buffer: SSAValue,
        *,
        color: int,
        pes: Rect,
        asynchronous: bool = False,
        window: tuple[int, int] | None = None,
    ):
        super().__init__(
            operands=[buffer],
            properties={
                "pes": dense_i64(pes),
                "color": int64(color),
                "window": window_prop(window),
            },
            result_types=[[TokenType()] if asynchronous else []],
        )

    @property
    def is_async(self) -> bool:
        return self.token is not None


@irdl_op_definition
class RecvOp(_TransferOp):
    """Every PE of `pes` receives the next message on `color` into its buffer, or with
    `combine KIND` combines it with what the buffer holds (`sum` adds, `max` keeps the
    larger, ...: a reduction kind of pyflame/core/reductions.py). Without a result it is
    synchronous: each PE stops until its whole message has come in. With a `!pe.token` result it
    is asynchronous: the PE goes on, the wavelets land as they arrive, and `pe.wait` joins the
    completion; the buffer must not be read or written before that.

    With `forward` the PE streams what it has received (combined, with `combine`) on into its
    router on the same color as it goes, wavelet by wavelet: a pipelined chain (receive, add,
    pass on) in one op, whose stream leaves `ce_forward_cycles` after the incoming one reaches
    the PE. Its router needs a rule for the color from its ramp.

    With `messages = n` (n > 1) each PE takes the next n messages on `color`, whatever their
    senders, in the order they arrive, combining each into the buffer (one fabric DSD op of n
    times the buffer's length into a buffer read with stride 0): a gather whose senders' routes
    merge. Synchronous and combining only; the combined value's rounding follows the arrival
    order, so it is for values whose combination does not depend on it (a barrier's word).

        pe.recv %p combine sum forward {pes = array<i64: 0, 1, 2, 1>, color = 0 : i64} : !pe.buf<4xf32>
        pe.recv %p combine max {pes = array<i64: 0, 1, 2, 1>, color = 0 : i64} : !pe.buf<4xf32>
        %t = pe.recv %p {pes = array<i64: 0, 1, 2, 1>, color = 0 : i64} : !pe.buf<4xf32> -> !pe.token
        pe.recv %b combine sum {pes = array<i64: 0, 3, 4, 1>, color = 0 : i64, messages = 3 : i64} : !pe.buf<1xf32>
    """

    name = "pe.recv"
    buffer = operand_def(BufferType)
    combine = opt_prop_def(ReductionKindAttr)
    forward = opt_prop_def(UnitAttr)
    messages = opt_prop_def(IntegerAttr)
    token = opt_result_def(TokenType)
    assembly_format = (
        "$buffer (`window` $window^)? (`combine` $combine^)? (`forward` $forward^)? attr-dict "
        "`:` type($buffer) (`->` type($token)^)?"
    )

    def __init__(
        self,
        buffer: SSAValue,
        *,
        color: int,
        pes: Rect,
        combine: ReductionKind | str | None = None,
        forward: bool = False,
        asynchronous: bool = False,
        window: tuple[int, int] | None = None,
        messages: int = 1,
    ):
        super().__init__(
            operands=[buffer],
            properties={
                "pes": dense_i64(pes),
                "color": int64(color),
                "combine": None if combine is None else ReductionKindAttr(ReductionKind(combine)),
                "forward": UnitAttr() if forward else None,
                "window": window_prop(window),
                "messages": int64(messages) if messages != 1 else None,
            },
            result_types=[[TokenType()] if asynchronous else []],
        )

    @property
    def is_async(self) -> bool:
        return self.token is not None

    @property
    def message_count(self) -> int:
        """How many messages each PE takes (the `messages` property; 1 without it)."""
        return 1 if self.messages is None else self.messages.value.data

    @property
    def forwards(self) -> bool:
        return self.forward is not None

    @property
    def combine_kind(self) -> ReductionKind | None:
        return None if self.combine is None else self.combine.data

    def verify_(self) -> None:
        super().verify_()
        _expect("accumulate" not in self.attributes, "'accumulate' is spelled `combine sum` now")
        n = self.message_count
        _expect(n >= 1, f"messages = {n}: a receive takes at least one message")
        if n > 1:
            _expect(
                self.combine is not None and not self.forwards and not self.is_async,
                f"messages = {n} needs a synchronous, combining receive that does not forward",
            )


@irdl_op_definition
class WaitOp(PEOp):
    """Every PE of `pes` stops until its part of each asynchronous send or receive has completed
    (the completion activates the PE's task, which costs `task_activation_cycles`).

        pe.wait %t0, %t1 {pes = array<i64: 0, 0, 4, 4>}
    """

    name = "pe.wait"
    tokens = var_operand_def(TokenType)
    assembly_format = "$tokens attr-dict"

    def __init__(self, *tokens: SSAValue, pes: Rect):
        super().__init__(operands=[list(tokens)], properties={"pes": dense_i64(pes)})

    def verify_(self) -> None:
        super().verify_()
        _expect(len(self.tokens) > 0, "pe.wait needs at least one token")
        loop = self.parent_op()
        last = loop.trip_count - 1 if isinstance(loop, LoopOp) else 0
        for t in self.tokens:
            owner = t.owner
            if not isinstance(owner, PEOp):
                continue  # a loop's carried token or result: checked where it is made
            same_loop = owner.parent_op() is loop
            for i in sorted({0, last}):
                mine, theirs = self.rect_at(i), owner.rect_at(i) if same_loop else owner.rect
                _expect(
                    rect_contains(theirs, mine),
                    f"pe.wait runs on PEs {list(mine)}, outside the PEs "
                    f"{list(theirs)} of the {owner.name} whose token it waits for"
                    + _at_iteration(self, mine),
                )


@irdl_op_definition
class YieldOp(IRDLOperation):
    """Ends a pe.loop's body: the tokens that the next iteration carries (its block arguments
    after the induction variable) and, after the last iteration, the loop's results.

        pe.yield %t0, %t1
    """

    name = "pe.yield"
    values = var_operand_def(TokenType)
    assembly_format = "$values attr-dict"
    traits = traits_def(IsTerminator())

    def __init__(self, *values: SSAValue):
        super().__init__(operands=[list(values)])

    def verify_(self) -> None:
        _expect(isinstance(self.parent_op(), LoopOp), "pe.yield ends a pe.loop's body only")


@irdl_op_definition
class LoopOp(IRDLOperation):
    """A repeated step, kept a loop: the body runs for `%k = lower` to `upper - 1`, in order.
    Each body op's rectangle is affine in the iteration: `pes` at the first iteration plus
    `pes_step` per iteration (absent: the same PEs every time). Asynchronous transfers that
    cross iterations carry their tokens like scf.for's iter_args: the block's arguments after
    the induction variable start as the loop's operands, each iteration's `pe.yield` gives the
    next iteration's, and the loop's results are the last iteration's. Buffers are allocated
    outside the body (an SRAM offset cannot depend on the iteration); a body that alternates
    between buffers or colors (double buffering) is unrolled by their period.

        %r:2 = pe.loop %k = 0 to 7 iter_args(%a = %t0, %b = %t1) -> (!pe.token, !pe.token) {
          pe.wait %a {pes = array<i64: 0, 0, 8, 8>}
          %s = pe.send %x {color = 0 : i64, pes = array<i64: 0, 1, 8, 1>,
                           pes_step = array<i64: 0, 1, 0, 0>} : !pe.buf<4xf32> -> !pe.token
          ...
          pe.yield %s, %c
        }
    """

    name = "pe.loop"
    lower = prop_def(IntegerAttr[I64])
    upper = prop_def(IntegerAttr[I64])
    inits = var_operand_def(TokenType)
    outs = var_result_def(TokenType)
    body = region_def("single_block")

    def __init__(self, lower: int, upper: int, inits: Sequence[SSAValue], body: Region):
        super().__init__(
            operands=[list(inits)],
            result_types=[[TokenType()] * len(inits)],
            properties={"lower": int64(lower), "upper": int64(upper)},
            regions=[body],
        )

    @staticmethod
    def empty(
        lower: int, upper: int, inits: Sequence[SSAValue]
    ) -> tuple[LoopOp, Block, SSAValue, list[SSAValue]]:
        """An empty loop to fill: (the loop, its body block, the induction variable, the
        carried tokens); the caller appends the body's ops and its pe.yield."""
        block = Block(arg_types=[IndexType()] + [TokenType()] * len(inits))
        loop = LoopOp(lower, upper, inits, Region(block))
        return loop, block, block.args[0], list(block.args[1:])

    @property
    def trip_count(self) -> int:
        return self.upper.value.data - self.lower.value.data

    @property
    def carried(self) -> tuple[BlockArgument, ...]:
        """The body's carried tokens (its arguments after the induction variable)."""
        return self.body.block.args[1:]

    @property
    def yield_op(self) -> YieldOp:
        last = self.body.block.last_op
        assert isinstance(last, YieldOp)  # verified
        return last

    def verify_(self) -> None:
        lower, upper = self.lower.value.data, self.upper.value.data
        _expect(upper > lower, f"pe.loop runs from {lower} to {upper}: no iteration")
        _expect(lower >= 0, f"pe.loop's lower bound {lower} must not be negative")
        block = self.body.block
        _expect(
            len(block.args) == len(self.inits) + 1 and isinstance(block.args[0].type, IndexType),
            "pe.loop's body takes the induction variable (index) and one token per carried "
            f"token ({len(self.inits)}), got {len(block.args)} arguments",
        )
        last = block.last_op
        _expect(isinstance(last, YieldOp), "pe.loop's body must end with pe.yield")
        assert isinstance(last, YieldOp)
        _expect(
            len(last.values) == len(self.inits),
            f"pe.yield gives {len(last.values)} tokens, but the loop carries {len(self.inits)}",
        )
        for op in block.ops:
            _expect(
                not isinstance(op, AllocOp),
                f"'{op.name}' cannot be inside a pe.loop: "
                "allocate buffers before the loop (an offset cannot change per iteration)",
            )
            for r in op.results:  # every transfer started in the body is joined
                if isinstance(r.type, TokenType):
                    _expect(
                        any(isinstance(u.operation, WaitOp | YieldOp) for u in r.uses),
                        f"the token of '{op.name}' (op #{_position(op)} of the loop's body) is "
                        "neither waited for in the body nor yielded to the next iteration",
                    )
        for k, arg in enumerate(self.carried):
            _expect(
                bool(arg.uses),
                f"carried token #{k} of pe.loop is never waited for in the body (an "
                "iteration would start transfers that nothing joins)",
            )
        for k, res in enumerate(self.outs):
            _expect(
                bool(res.uses),
                f"result #{k} of pe.loop (the last iteration's token) is never waited for",
            )

    def print(self, printer: Printer) -> None:
        block = self.body.block
        printer.print_string(" ")
        printer.print_ssa_value(block.args[0])
        printer.print_string(f" = {self.lower.value.data} to {self.upper.value.data}")
        if self.inits:
            printer.print_string(" iter_args(")

            def assignment(pair: tuple[SSAValue, SSAValue]) -> None:
                printer.print_ssa_value(pair[0])
                printer.print_string(" = ")
                printer.print_ssa_value(pair[1])

            printer.print_list(zip(self.carried, self.inits, strict=True), assignment)
            printer.print_string(") -> (")
            printer.print_list(self.outs, lambda r: printer.print_attribute(r.type))
            printer.print_string(")")
        printer.print_string(" ")
        printer.print_region(self.body, print_entry_block_args=False)
        printer.print_op_attributes(self.attributes)

    @classmethod
    def parse(cls, parser: Parser) -> LoopOp:
        indvar = parser.parse_argument(expect_type=False)
        parser.parse_punctuation("=")
        lower = parser.parse_integer()
        parser.parse_keyword("to")
        upper = parser.parse_integer()
        carried: list[Parser.UnresolvedArgument] = []
        inits: list[SSAValue] = []
        if parser.parse_optional_keyword("iter_args"):

            def assignment() -> None:
                carried.append(parser.parse_argument(expect_type=False))
                parser.parse_punctuation("=")
                inits.append(parser.parse_operand(TokenType()))

            parser.parse_comma_separated_list(parser.Delimiter.PAREN, assignment)
            parser.parse_punctuation("->")
            parser.parse_comma_separated_list(parser.Delimiter.PAREN, parser.parse_type)
        args = [indvar.resolve(IndexType())] + [c.resolve(TokenType()) for c in carried]
        body = parser.parse_region(args)
        loop = cls(lower, upper, inits, body)
        loop.attributes |= parser.parse_optional_attr_dict()
        return loop


def unroll_loops(block: Block) -> int:
    """Replace every pe.loop of `block` by its iterations, one copy of the body each with the
    rectangles of that iteration (the program the loop stands for); returns how many loops.

        %r = pe.loop %k = 0 to 2 iter_args(%t = %t0) -> (!pe.token) { pe.wait %t ...;
             %s = pe.send %x {pes = array<i64: 0, 1, 4, 1>, pes_step = array<i64: 0, 1, 0, 0>}
             ...; pe.yield %s }
    becomes
        pe.wait %t0 ...; %s0 = pe.send %x {pes = array<i64: 0, 1, 4, 1>} ...
        pe.wait %s0 ...; %s1 = pe.send %x {pes = array<i64: 0, 2, 4, 1>} ...   (%r is %s1)
    """
    loops = [op for op in block.ops if isinstance(op, LoopOp)]
    count = 0
    while loops:  # a nested loop's copies land in the block: spelled out in the next round
        count += len(loops)
        for loop in loops:
            _unroll(block, loop)
        loops = [op for op in block.ops if isinstance(op, LoopOp)]
    return count


def _unroll(block: Block, loop: LoopOp) -> None:
    """One loop of `block` as its iterations (a loop nested in its body stays a loop, one
    copy per iteration)."""
    values: list[SSAValue] = list(loop.inits)
    for i in range(loop.trip_count):
        mapping: dict[SSAValue, SSAValue] = dict(zip(loop.carried, values, strict=True))
        for op in loop.body.block.ops:
            if isinstance(op, YieldOp):
                values = [mapping.get(v, v) for v in op.values]
                continue
            copy = op.clone(value_mapper=mapping)
            for inner in copy.walk():  # ops of loops nested in the body move by this loop too
                if isinstance(inner, PEOp) and inner.pes_step is not None:
                    # the copy is not placed yet: the loops around `inner` are those inside it
                    _drop_level(inner, depth=len(inner.loops_around()), i=i)
            block.insert_op_before(copy, loop)
    for res, value in zip(loop.results, values, strict=True):
        res.replace_all_uses_with(value)
    block.erase_op(loop)


def _drop_level(op: PEOp, depth: int, i: int) -> None:
    """Iteration `i` of the loop `depth` levels out from `op` spelled out: its step at that
    level added into `pes`, the level removed from `pes_step`."""
    steps = op.rect_steps
    if depth >= len(steps):
        return
    step = steps[depth]
    op.properties["pes"] = dense_i64(tuple(x + i * d for x, d in zip(op.rect, step, strict=True)))
    rest = [v for k, s in enumerate(steps) if k != depth for v in s]
    if rest:
        op.properties["pes_step"] = dense_i64(tuple(rest))
    else:
        del op.properties["pes_step"]


def _position(op: Operation) -> int:
    block = op.parent_block()
    return 0 if block is None else list(block.ops).index(op)


@irdl_custom_directive
class PortList(CustomDirective):
    """`[east, west, ramp]`: the `to` ports of pe.route, bare names in brackets."""

    ports: AttributeVariable

    def parse(self, parser: Parser, state: ParsingState) -> None:
        ports = parser.parse_comma_separated_list(
            parser.Delimiter.SQUARE, lambda: PortAttr(PortAttr.parse_parameter(parser))
        )
        self.ports.set(state, ArrayAttr(ports))

    def print(self, printer: Printer, state: PrintingState, op: IRDLOperation) -> None:
        state.print_whitespace(printer)
        ports = cast(ArrayAttr[PortAttr], self.ports.get(op))
        printer.print_string("[" + ", ".join(p.data for p in ports.data) + "]")


@irdl_op_definition
class RouteOp(_ChannelOp):
    """On every router of `pes`: wavelets of `color` arriving from one port go to a list of
    ports (north, south, east, west, ramp).

        pe.route ramp -> [east, ramp] {color = 0 : i64, pes = array<i64: 0, 0, 4, 1>}
    """

    name = "pe.route"
    from_port = prop_def(PortAttr, prop_name="from")
    to_ports = prop_def(ArrayAttr[PortAttr], prop_name="to")
    custom_directives = (PortList,)
    assembly_format = "$from `->` custom<PortList>($to) attr-dict"

    def __init__(
        self,
        from_port: Port | str,
        to_ports: Sequence[Port | str],
        *,
        color: int,
        pes: Rect,
    ):
        super().__init__(
            properties={
                "from": PortAttr(Port(from_port)),
                "to": ArrayAttr([PortAttr(Port(p)) for p in to_ports]),
                "color": int64(color),
                "pes": dense_i64(pes),
            }
        )

    @property
    def outputs(self) -> tuple[Port, ...]:
        return tuple(p.data for p in self.to_ports.data)

    def verify_(self) -> None:
        super().verify_()
        _expect(
            self.from_port.data not in self.outputs or self.from_port.data == Port.RAMP,
            "a route may not send wavelets back where they came from",
        )


#: the six numbers of each rule of a pe.routes: its rectangle, input port, output ports
ROUTE_RULE_FIELDS = 6
_PORT_LIST = list(Port)


def port_bits(ports: Sequence[Port | str]) -> int:
    """The bit mask of a set of ports (bit i: `list(Port)[i]`, the simulator's port index)."""
    return sum(1 << _PORT_LIST.index(Port(p)) for p in set(ports))


@functools.lru_cache(maxsize=256)
def _port_index(port: Port | str) -> int:
    return _PORT_LIST.index(Port(port))


@functools.lru_cache(maxsize=1024)
def _port_mask(ports: tuple[Port | str, ...]) -> int:
    return port_bits(ports)


def bits_ports(mask: int) -> tuple[Port, ...]:
    """The ports of a bit mask, in port order."""
    return tuple(p for i, p in enumerate(_PORT_LIST) if mask >> i & 1)


@irdl_custom_directive
class RuleList(CustomDirective):
    """`[ramp -> [east] at [0, 0, 1, 3], west -> [ramp] at [0, 3, 1, 1]]`: the rules of
    pe.routes, each an input port, its output ports and the rectangle of routers."""

    rules: AttributeVariable

    def parse(self, parser: Parser, state: ParsingState) -> None:
        def rule() -> list[int]:
            src = Port(PortAttr.parse_parameter(parser))
            parser.parse_punctuation("->")
            outs = parser.parse_comma_separated_list(
                parser.Delimiter.SQUARE, lambda: Port(PortAttr.parse_parameter(parser))
            )
            parser.parse_keyword("at")
            rect = parser.parse_comma_separated_list(parser.Delimiter.SQUARE, parser.parse_integer)
            if len(rect) != 4:
                parser.raise_error(f"a rule's rectangle has four numbers, got {rect}")
            return [*rect, _PORT_LIST.index(src), port_bits(outs)]

        rules = parser.parse_comma_separated_list(parser.Delimiter.SQUARE, rule)
        self.rules.set(state, dense_i64([v for r in rules for v in r]))

    def print(self, printer: Printer, state: PrintingState, op: IRDLOperation) -> None:
        state.print_whitespace(printer)
        values = _ints(cast(DenseArrayBase[IntegerType], self.rules.get(op)))
        parts = []
        for i in range(0, len(values) - ROUTE_RULE_FIELDS + 1, ROUTE_RULE_FIELDS):
            r0, c0, nr, nc, src, mask = values[i : i + ROUTE_RULE_FIELDS]
            src_name = _PORT_LIST[src].value if 0 <= src < len(_PORT_LIST) else str(src)
            outs = ", ".join(p.value for p in bits_ports(int(mask)))
            parts.append(f"{src_name} -> [{outs}] at [{r0}, {c0}, {nr}, {nc}]")
        printer.print_string("[" + ", ".join(parts) + "]")


@irdl_op_definition
class RoutesOp(_ChannelOp):
    """Many rules of one color in one op (an exchange phase's: one op per phase, however many
    routers its messages cross): each rule is `FROM -> [TO, ...] at [row0, col0, rows, cols]`,
    set on every router of its rectangle, as a `pe.route` would; the rules act in order, as
    consecutive pe.route ops (the lowerings never set one (router, input port) twice in one
    op). `pes` is the rectangle around them (a PE of `pes` outside every rule does nothing). Stored as `rules`, six numbers per rule
    (the rectangle, the input port's index and the output ports' bit mask, in `Port` order:
    north, south, east, west, ramp).

        pe.routes [ramp -> [east] at [0, 0, 1, 1], west -> [ramp] at [0, 1, 1, 1]]
            {color = 0 : i64, pes = array<i64: 0, 0, 1, 2>}
    """

    name = "pe.routes"
    rules = prop_def(DenseArrayBase.constr(i64))
    custom_directives = (RuleList,)
    assembly_format = "custom<RuleList>($rules) attr-dict"

    def __init__(self, rules: DenseArrayBase | Sequence[int], *, color: int, pes: Rect):
        super().__init__(
            properties={"rules": dense_i64(rules), "color": int64(color), "pes": dense_i64(pes)}
        )

    @staticmethod
    def from_rules(
        rules: Sequence[tuple[Rect, Port | str, Sequence[Port | str]]], *, color: int
    ) -> RoutesOp:
        """One op setting `(rect, from, [to, ...])` rules; its `pes` is their bounding box."""
        # (a wafer-wide exchange phase has ~10^6 rules: ports converted once per distinct
        # port or set of ports, the bounding box in the same pass)
        flat: list[int] = []
        r0 = c0 = math.inf
        r1 = c1 = -math.inf
        for rect, src, outs in rules:
            a, b, n, m = rect
            flat += (a, b, n, m, _port_index(src), _port_mask(tuple(outs)))
            r0, c0, r1, c1 = min(r0, a), min(c0, b), max(r1, a + n), max(c1, b + m)
        if not rules:
            raise ValueError("pe.routes needs at least one rule")
        pes = (int(r0), int(c0), int(r1 - r0), int(c1 - c0))
        return RoutesOp(flat, color=color, pes=pes)

    @property
    def rule_values(self) -> tuple[int, ...]:
        """The flat rules, six numbers each (see the class)."""
        return _ints(self.rules)

    @property
    def rule_bytes(self) -> bytes:
        """The rules as little-endian int64s (`np.frombuffer(..., "<i8").reshape(-1, 6)`)."""
        return self.rules.data.data

    def rule_list(self) -> list[tuple[tuple[int, int, int, int], Port, tuple[Port, ...]]]:
        """(rect, from port, output ports) of each rule."""
        v = self.rule_values
        return [
            (
                (v[i], v[i + 1], v[i + 2], v[i + 3]),
                _PORT_LIST[v[i + 4]],
                bits_ports(v[i + 5]),
            )
            for i in range(0, len(v), ROUTE_RULE_FIELDS)
        ]

    def verify_(self) -> None:
        super().verify_()
        _expect(self.pes_step is None, "pe.routes does not move with a loop (no pes_step)")
        v = self.rule_values
        _expect(
            len(v) > 0 and len(v) % ROUTE_RULE_FIELDS == 0,
            f"rules must hold {ROUTE_RULE_FIELDS} numbers per rule (rectangle, input port, "
            f"output mask), at least one rule; got {len(v)} numbers",
        )
        # (the hot loop of verifying a big exchange: a phase's op on 720x720 PEs holds ~10^6
        # rules; the op's rectangle read once, and a rule's message made only if it fails)
        full = (1 << len(_PORT_LIST)) - 1
        ports, ramp = len(_PORT_LIST), _PORT_LIST.index(Port.RAMP)
        p0, q0, pn, qn = self.rect
        p1, q1 = p0 + pn, q0 + qn
        for i in range(0, len(v), ROUTE_RULE_FIELDS):
            r0, c0, nr, nc, src, mask = v[i : i + ROUTE_RULE_FIELDS]
            if (
                nr > 0
                and nc > 0
                and r0 >= 0
                and c0 >= 0
                and r0 >= p0
                and c0 >= q0
                and r0 + nr <= p1
                and c0 + nc <= q1
                and 0 <= src < ports
                and 0 < mask <= full
                and (src == ramp or not mask >> src & 1)
            ):
                continue
            self._check_rule(i, v[i : i + ROUTE_RULE_FIELDS])

    def _check_rule(self, i: int, rule: Sequence[int]) -> None:
        """Raise the verifier's error of rule `i` (flat index), which failed a check."""
        r0, c0, nr, nc, src, mask = rule
        rect = (r0, c0, nr, nc)
        full = (1 << len(_PORT_LIST)) - 1
        where = f"rule {i // ROUTE_RULE_FIELDS} at {list(rect)}"
        _expect(nr > 0 and nc > 0 and min(rect) >= 0, f"{where}: a rectangle of routers")
        _expect(rect_contains(self.rect, rect), f"{where}: outside the op's PEs {list(self.rect)}")
        _expect(0 <= src < len(_PORT_LIST), f"{where}: input port index {src}")
        _expect(0 < mask <= full, f"{where}: output port mask {mask}")
        _expect(
            src == _PORT_LIST.index(Port.RAMP) or not mask >> src & 1,
            f"{where}: a route may not send wavelets back where they came from",
        )
        raise VerifyException(f"{where}: an invalid rule")  # (every check above passed)


@irdl_op_definition
class ExchangeOp(_ChannelOp):
    """Redistribute from `src_layout` to `dst_layout`, one part per op: the local part (no
    `phase`, no `color`) copies the elements whose source is on the same PE and zeroes the
    padding of dst tiles; network phase k (`phase = k`, k >= 1, on `color`) moves the messages
    of phase k of `pyflame.core.exchange_plan.exchange_phases` (one message per source PE,
    carrying the dst elements its destination PE takes from it) along the routes that the
    `pe.route` ops of `color` state: the simulator traces them, so a message goes where the
    routes take it.

    Which src element each dst element takes:
    - same shapes, no map: the element at the same global index (a redistribution);
    - different shapes with as many elements, no map: the element at the same row-major
      position (a reshape that moves data);
    - with `offset` and `stride` (one entry per dim, the shapes' ranks equal): dst global index
      i takes src global index offset + stride * i (per dim); dst elements whose source lies
      outside the src shape keep what the buffer holds (slice, pad and concat use this);
    - with `offset`, `stride` and `window` (one entry per src dim each; dst of any shape with
      as many elements as the window): dst's element at row-major position p takes the
      window's element p, window index w being src index offset + stride * w (a slice whose
      result is reshaped: q, k and v split from one projection straight into heads).

        pe.exchange %d, %s {src_layout = ..., dst_layout = ..., pes = array<i64: 0, 0, 2, 2>}
        pe.route ramp -> [east] {color = 0 : i64, pes = array<i64: 0, 0, 2, 1>}
        pe.route west -> [ramp] {color = 0 : i64, pes = array<i64: 0, 1, 2, 1>}
        pe.exchange %d, %s {color = 0 : i64, phase = 1 : i64, src_layout = ..., ...}
    """

    name = "pe.exchange"
    color = opt_prop_def(IntegerAttr[I64])  # type: ignore[assignment]  # absent on the local part
    phase = opt_prop_def(IntegerAttr[I64])
    dst = operand_def(BufferType)
    src = operand_def(BufferType)
    src_layout = prop_def(TileLayoutAttr)
    dst_layout = prop_def(TileLayoutAttr)
    offset = opt_prop_def(DenseArrayBase.constr(i64))
    stride = opt_prop_def(DenseArrayBase.constr(i64))
    window = opt_prop_def(DenseArrayBase.constr(i64))
    assembly_format = "$dst `,` $src attr-dict `:` type($dst) `,` type($src)"

    def __init__(
        self,
        dst: SSAValue,
        src: SSAValue,
        *,
        src_layout: TileLayoutAttr,
        dst_layout: TileLayoutAttr,
        pes: Rect,
        color: int | None = None,
        phase: int | None = None,
        offset: Sequence[int] | None = None,
        stride: Sequence[int] | None = None,
        window: Sequence[int] | None = None,
    ):
        super().__init__(
            operands=[dst, src],
            properties={
                "pes": dense_i64(pes),
                "color": None if color is None else int64(color),
                "phase": None if phase is None else int64(phase),
                "src_layout": src_layout,
                "dst_layout": dst_layout,
                "offset": _opt_dense(offset),
                "stride": _opt_dense(stride),
                "window": _opt_dense(window),
            },
        )

    @property
    def color_id(self) -> int:
        """The routing color of a network phase; -1 on the local part (which uses none)."""
        return -1 if self.color is None else self.color.value.data

    @property
    def phase_index(self) -> int:
        """The network phase this op moves (0: the local part)."""
        return 0 if self.phase is None else self.phase.value.data

    @property
    def index_map(self) -> tuple[tuple[int, ...], ...] | None:
        """(offset, stride) per dim (0 and 1 where one is absent), with the window's shape
        after them when there is one; None without any."""
        if self.offset is None and self.stride is None and self.window is None:
            return None
        rank = len(self.src_layout.dist.shape)
        offset = _ints(self.offset) if self.offset is not None else (0,) * rank
        stride = _ints(self.stride) if self.stride is not None else (1,) * rank
        if self.window is not None:
            return offset, stride, _ints(self.window)
        return offset, stride

    def verify_(self) -> None:
        self._check_rect()
        _expect(
            (self.color is None) == (self.phase is None),
            "an exchange's network phase (phase >= 1) has a color; its local part has neither",
        )
        if self.phase is not None:
            _expect(self.phase_index >= 1, "an exchange's phase is at least 1")
            _expect(self.color_id >= 0, "color must not be negative")
        src_shape, dst_shape = self.src_layout.dist.shape, self.dst_layout.dist.shape
        index_map = self.index_map
        if index_map is None:
            _expect(
                math.prod(src_shape) == math.prod(dst_shape), "exchange layouts differ in shape"
            )
        elif len(index_map) == 3:
            offset, stride, window = index_map
            _expect(
                len(src_shape) == len(offset) == len(stride) == len(window)
                and math.prod(window) == math.prod(dst_shape),
                f"exchange with a window needs one offset, stride and window size per src dim, "
                f"the window as many elements as dst, got offset {list(offset)}, stride "
                f"{list(stride)}, window {list(window)} for shapes {list(src_shape)} -> "
                f"{list(dst_shape)}",
            )
            _expect(
                all(
                    w == 0 or (0 <= o and 0 <= o + k * (w - 1) < n)
                    for o, k, w, n in zip(offset, stride, window, src_shape, strict=True)
                ),
                f"exchange window {list(window)} at {list(offset)} step {list(stride)} leaves "
                f"src {list(src_shape)}",
            )
        else:
            offset, stride = index_map
            _expect(
                len(src_shape) == len(dst_shape) == len(offset) == len(stride),
                f"exchange with an index map needs one offset and stride per dim of both "
                f"layouts, got offset {list(offset)}, stride {list(stride)} for shapes "
                f"{list(src_shape)} -> {list(dst_shape)}",
            )
        _expect(
            buf_of(self.src).size.data >= self.src_layout.dist.local_elems,
            "exchange src buffer too small",
        )
        _expect(
            buf_of(self.dst).size.data >= self.dst_layout.dist.local_elems,
            "exchange dst buffer too small",
        )


# --- shape ops ---------------------------------------------------------------------------
# pe.broadcast expands tiles (mesh.broadcast); slice, concat and pad are pe.exchange with an
# index map (`offset`, `stride`), plus pe.fill for pad's value.


@irdl_op_definition
class BroadcastOp(PEOp):
    """dst (viewed as `dst_shape`) = src (viewed as `src_shape`, same rank, each dim 1 or equal
    to dst's) broadcast, on every PE."""

    name = "pe.broadcast"
    dst = operand_def(BufferType)
    src = operand_def(BufferType)
    src_shape = prop_def(DenseArrayBase.constr(i64))
    dst_shape = prop_def(DenseArrayBase.constr(i64))
    assembly_format = "$dst `,` $src attr-dict `:` type($dst) `,` type($src)"

    def __init__(
        self,
        dst: SSAValue,
        src: SSAValue,
        *,
        src_shape: Sequence[int],
        dst_shape: Sequence[int],
        pes: Rect,
    ):
        super().__init__(
            operands=[dst, src],
            properties={
                "pes": dense_i64(pes),
                "src_shape": dense_i64(src_shape),
                "dst_shape": dense_i64(dst_shape),
            },
        )

    def verify_(self) -> None:
        super().verify_()
        src, dst = _ints(self.src_shape), _ints(self.dst_shape)
        _positive(self, "src_shape", src)
        _positive(self, "dst_shape", dst)
        _expect(
            len(src) == len(dst) and all(a in (1, b) for a, b in zip(src, dst, strict=True)),
            f"cannot broadcast {list(src)} to {list(dst)}",
        )
        _expect(
            math.prod(src) <= buf_of(self.src).size.data,
            f"broadcast src buffer holds fewer than {math.prod(src)} elements",
        )
        _expect(
            math.prod(dst) <= buf_of(self.dst).size.data,
            f"broadcast dst buffer holds fewer than {math.prod(dst)} elements",
        )
        _expect(
            buf_of(self.src).element_type == buf_of(self.dst).element_type,
            "broadcast buffers differ in element type",
        )


SHAPE_OPS: list[type[PEOp]] = [BroadcastOp]


# --- convolution and pooling ---------------------------------------------------------------
# The halo exchange of mesh.conv2d / mesh.pool2d is pe.pack (an edge slab of the tile into a
# contiguous message buffer), pe.send / pe.recv between neighbours, and pe.unpack (a buffer
# into the PE's window, at an offset that depends on the PE's coordinate); then pe.conv2d or
# pe.pool2d run on the window. Tiles are viewed as NCHW `shape`s.


def _int(attr: IntegerAttr) -> int:
    return attr.value.data


def _slab(shape: Sequence[int], dim: int, count: int) -> int:
    """Elements of `shape` with dim `dim` resized to `count`."""
    return math.prod(shape) // max(shape[dim], 1) * count if shape[dim] else 0


@irdl_op_definition
class PackOp(PEOp):
    """dst = src (viewed as `shape`) restricted to [start, start + count) along `dim`, stored
    densely: one strided copy, the same on every PE.

        pe.pack %strip, %tile {pes = ..., shape = array<i64: 1, 16, 16, 16>, dim = 2 : i64,
                               start = 15 : i64, count = 1 : i64} : !pe.buf<256xf32>, ...
    """

    name = "pe.pack"
    dst = operand_def(BufferType)
    src = operand_def(BufferType)
    shape = prop_def(DenseArrayBase.constr(i64))
    dim = prop_def(IntegerAttr[I64])
    start = prop_def(IntegerAttr[I64])
    count = prop_def(IntegerAttr[I64])
    assembly_format = "$dst `,` $src attr-dict `:` type($dst) `,` type($src)"

    def __init__(
        self,
        dst: SSAValue,
        src: SSAValue,
        *,
        shape: Sequence[int],
        dim: int,
        start: int,
        count: int,
        pes: Rect,
    ):
        super().__init__(
            operands=[dst, src],
            properties={
                "pes": dense_i64(pes),
                "shape": dense_i64(shape),
                "dim": int64(dim),
                "start": int64(start),
                "count": int64(count),
            },
        )

    def verify_(self) -> None:
        super().verify_()
        shape, dim, start, count = (
            _ints(self.shape),
            _int(self.dim),
            _int(self.start),
            _int(self.count),
        )
        _expect(0 <= dim < len(shape), f"pack dim {dim} out of range for shape {list(shape)}")
        _expect(
            0 <= start and count >= 0 and start + count <= shape[dim],
            f"pack range [{start}, {start + count}) outside dim {dim} of {list(shape)}",
        )
        _expect(
            math.prod(shape) == buf_of(self.src).size.data,
            f"pack shape {list(shape)} does not match the source buffer",
        )
        want = _slab(shape, dim, count)
        _expect(buf_of(self.dst).size.data == want, f"pack dst must hold {want} elements")


@irdl_op_definition
class UnpackOp(PEOp):
    """Write src (a slab of `count` along `dim` of dst's `shape`) into dst at position
    `at[0] + k * at[1]` along `dim`, where k is the PE's row (`along r`) or column (`along c`)
    on the fabric; the parts falling outside dst are dropped. The offset that moves with k is
    how a PE places its own block and its neighbours' halos in its window.

        pe.unpack %window, %strip along r {pes = ..., shape = array<i64: 1, 16, 18, 16>,
                                           dim = 2 : i64, count = 1 : i64, at = array<i64: 0, 0>}
    """

    name = "pe.unpack"
    dst = operand_def(BufferType)
    src = operand_def(BufferType)
    shape = prop_def(DenseArrayBase.constr(i64))
    dim = prop_def(IntegerAttr[I64])
    count = prop_def(IntegerAttr[I64])
    at = prop_def(DenseArrayBase.constr(i64))
    axis = prop_def(GridAxisAttr)
    assembly_format = "$dst `,` $src `along` $axis attr-dict `:` type($dst) `,` type($src)"

    def __init__(
        self,
        dst: SSAValue,
        src: SSAValue,
        *,
        axis: GridAxis | str,
        shape: Sequence[int],
        dim: int,
        count: int,
        at: Sequence[int],
        pes: Rect,
    ):
        super().__init__(
            operands=[dst, src],
            properties={
                "axis": GridAxisAttr(GridAxis(axis)),
                "pes": dense_i64(pes),
                "shape": dense_i64(shape),
                "dim": int64(dim),
                "count": int64(count),
                "at": dense_i64(at),
            },
        )

    def verify_(self) -> None:
        super().verify_()
        shape, dim, count = _ints(self.shape), _int(self.dim), _int(self.count)
        _expect(0 <= dim < len(shape), f"unpack dim {dim} out of range for shape {list(shape)}")
        _expect(len(_ints(self.at)) == 2, "unpack at must be [base, per-PE step]")
        _expect(
            math.prod(shape) == buf_of(self.dst).size.data,
            f"unpack shape {list(shape)} does not match the destination buffer",
        )
        want = _slab(shape, dim, count)
        _expect(buf_of(self.src).size.data == want, f"unpack src must hold {want} elements")


def _window_props(
    pes: Rect,
    in_shape: Sequence[int],
    out_shape: Sequence[int],
    kernel: Sequence[int],
    stride: Sequence[int],
    dilation: Sequence[int],
) -> dict[str, Attribute]:
    return {
        "pes": dense_i64(pes),
        "in_shape": dense_i64(in_shape),
        "out_shape": dense_i64(out_shape),
        **window_properties(kernel=kernel, stride=stride, dilation=dilation),
    }


class _WindowOp(PEOp, WindowAccess):
    """Shared by pe.conv2d, pe.conv2d_weight_grad and pe.pool2d: `in_shape` (the PE's window,
    halo included, NCHW), `out_shape` (its output block) and the window's kernel, stride and
    dilation (no padding: the halo holds it). Read through `WindowAccess` (`kernel_pair`,
    `stride_pair`, `dilation_pair`)."""

    in_shape = prop_def(DenseArrayBase.constr(i64))
    out_shape = prop_def(DenseArrayBase.constr(i64))
    kernel = prop_def(DenseArrayBase.constr(i64))
    stride = prop_def(DenseArrayBase.constr(i64))
    dilation = prop_def(DenseArrayBase.constr(i64))

    def _verify_window(self) -> None:
        """Non-empty NCHW shapes and kernel, and a window large enough for the output."""
        i, o, k = _ints(self.in_shape), _ints(self.out_shape), _ints(self.kernel)
        for what, sizes in (("in_shape", i), ("out_shape", o), ("kernel", k)):
            _positive(self, what, sizes)
        _expect(len(i) == 4 and len(o) == 4, "windowed ops take NCHW shapes")
        stride, dilation = self.stride_pair, self.dilation_pair
        for a in (0, 1):
            need = (o[2 + a] - 1) * stride[a] + (k[a] - 1) * dilation[a] + 1
            _expect(
                i[2 + a] >= need,
                f"'{self.name}' input {list(i)} is too small for output {list(o)}: "
                f"dim {2 + a} needs {need}",
            )


class _GroupedConvOp(_WindowOp):
    """Shared by pe.conv2d and pe.conv2d_weight_grad: `groups`, and the buffer sizes of the
    window, the output-sized operand and the filters (O x C/groups x kh x kw)."""

    groups = prop_def(IntegerAttr[I64])

    def _verify_conv(self, out: tuple[str, SSAValue], filters: tuple[str, SSAValue]) -> None:
        self._verify_window()
        i, o, k = _ints(self.in_shape), _ints(self.out_shape), self.kernel_pair
        g = self.group_count
        _expect(
            g >= 1 and i[1] % g == 0 and o[1] % g == 0,
            f"groups {g} must divide the {i[1]} input and {o[1]} output channels",
        )
        what = self.name.removeprefix("pe.")
        _expect(i[0] == o[0], f"{what} keeps the batch size")
        for part, buf, size in (
            ("in", self.input, math.prod(i)),  # type: ignore[attr-defined]  # subclasses declare it
            (*out, math.prod(o)),
            (*filters, o[1] * i[1] // g * k[0] * k[1]),
        ):
            _expect(buf_of(buf).size.data == size, f"{what} {part} must hold {size} elements")


@irdl_op_definition
class Conv2dOp(_GroupedConvOp):
    """out = conv(in, weight) + bias on every PE, no padding: `in` is the PE's window (halo
    included), `out` its output block. FMACs: N * O * Ho * Wo * (C / groups) * kh * kw. With
    `accumulate`, out += conv(in, weight) + bias (one step of a sum over input channels).

        pe.conv2d %out, %window, %w, %b {pes = ..., in_shape = array<i64: 1, 16, 18, 18>,
            out_shape = array<i64: 1, 16, 16, 16>, kernel = array<i64: 3, 3>,
            stride = array<i64: 1, 1>, dilation = array<i64: 1, 1>, groups = 1 : i64} : ...
    """

    name = "pe.conv2d"
    out = operand_def(BufferType)
    input = operand_def(BufferType)
    weight = operand_def(BufferType)
    bias = opt_operand_def(BufferType)
    #: out += conv (a step of a sum over input channels) instead of out = conv
    accumulate = opt_prop_def(UnitAttr)
    assembly_format = (
        "$out `,` $input `,` $weight (`,` $bias^)? attr-dict `:` type($out) `,` type($input) `,` "
        "type($weight) (`,` type($bias)^)?"
    )

    def __init__(
        self,
        out: SSAValue,
        input: SSAValue,
        weight: SSAValue,
        bias: SSAValue | None = None,
        *,
        in_shape: Sequence[int],
        out_shape: Sequence[int],
        kernel: Sequence[int],
        stride: Sequence[int],
        dilation: Sequence[int],
        groups: int,
        pes: Rect,
        accumulate: bool = False,
    ):
        props = _window_props(pes, in_shape, out_shape, kernel, stride, dilation)
        if accumulate:
            props["accumulate"] = UnitAttr()
        super().__init__(
            operands=[out, input, weight, bias],
            properties=props | {"groups": int64(groups)},
        )

    def verify_(self) -> None:
        super().verify_()
        self._verify_conv(("out", self.out), ("weight", self.weight))
        o = _ints(self.out_shape)
        if self.bias is not None:
            _expect(buf_of(self.bias).size.data == o[1], f"conv2d bias must hold {o[1]} elements")


@irdl_op_definition
class Conv2dWeightGradOp(_GroupedConvOp):
    """A conv2d's weight gradient over one PE's pixels: dw[o, c, ky, kx] = sum over n, y, x of
    grad[n, o, y, x] * in[n, g * C/groups + c, y * sh + ky * dh, x * sw + kx * dw] (g the group
    of o), no padding: `in` is the PE's window (halo included, viewed as `in_shape`), `grad` its
    block of the conv's output gradient (`out_shape`), `dw` holds O x C/groups x kh x kw. Per
    (o, c, tap) one dot product (FMACs into a register) over the (batch, row, column) DSD.

        pe.conv2d_weight_grad %dw, %window, %dy {pes = ..., in_shape = array<i64: 2, 1, 3, 10>,
            out_shape = array<i64: 2, 4, 1, 8>, kernel = array<i64: 3, 3>,
            stride = array<i64: 1, 1>, dilation = array<i64: 1, 1>, groups = 1 : i64} : ...
    """

    name = "pe.conv2d_weight_grad"
    dw = operand_def(BufferType)
    input = operand_def(BufferType)
    grad = operand_def(BufferType)
    assembly_format = (
        "$dw `,` $input `,` $grad attr-dict `:` type($dw) `,` type($input) `,` type($grad)"
    )

    def __init__(
        self,
        dw: SSAValue,
        input: SSAValue,
        grad: SSAValue,
        *,
        in_shape: Sequence[int],
        out_shape: Sequence[int],
        kernel: Sequence[int],
        stride: Sequence[int],
        dilation: Sequence[int],
        groups: int,
        pes: Rect,
    ):
        props = _window_props(pes, in_shape, out_shape, kernel, stride, dilation)
        super().__init__(operands=[dw, input, grad], properties=props | {"groups": int64(groups)})

    def verify_(self) -> None:
        super().verify_()
        self._verify_conv(("grad", self.grad), ("dw", self.dw))


@irdl_op_definition
class Pool2dOp(_WindowOp):
    """out = max or mean (divided by kh * kw) over each window of `in`, no padding.

    pe.pool2d max %out, %window {pes = ..., in_shape = ..., out_shape = ..., kernel = ...,
                                 stride = ..., dilation = ...} : ...
    """

    name = "pe.pool2d"
    out = operand_def(BufferType)
    input = operand_def(BufferType)
    kind = prop_def(PoolKindAttr)
    assembly_format = "$kind $out `,` $input attr-dict `:` type($out) `,` type($input)"

    def __init__(
        self,
        kind: PoolKind | str,
        out: SSAValue,
        input: SSAValue,
        *,
        in_shape: Sequence[int],
        out_shape: Sequence[int],
        kernel: Sequence[int],
        stride: Sequence[int],
        dilation: Sequence[int],
        pes: Rect,
    ):
        props = _window_props(pes, in_shape, out_shape, kernel, stride, dilation)
        super().__init__(
            operands=[out, input],
            properties={"kind": PoolKindAttr(PoolKind(kind)), **props},
        )

    def verify_(self) -> None:
        super().verify_()
        self._verify_window()
        i, o = _ints(self.in_shape), _ints(self.out_shape)
        _expect(i[:2] == o[:2], "pool2d keeps batch and channels")
        for what, buf, size in (("in", self.input, math.prod(i)), ("out", self.out, math.prod(o))):
            _expect(buf_of(buf).size.data == size, f"pool2d {what} must hold {size} elements")


CONV_OPS: list[type[PEOp]] = [PackOp, UnpackOp, Conv2dOp, Conv2dWeightGradOp, Pool2dOp]


# --- creation: iota and uniform random ----------------------------------------------------
# Like pe.random_normal, each PE computes its elements from their global indices in `layout`.


@irdl_op_definition
class IotaOp(PEOp):
    """Every element `start + step * i`, i its global index along `dim` of `layout` (computed in
    float64, rounded once to the buffer's type); padding gets what its index gives.

        pe.iota %b {pes = ..., layout = ..., dim = 0 : i64, start = 0.0 : f64, step = 1.0 : f64}
    """

    name = "pe.iota"
    buffer = operand_def(BufferType)
    layout = prop_def(TileLayoutAttr)
    dim = prop_def(IntegerAttr[I64])
    start = prop_def(FloatAttr)
    step = prop_def(FloatAttr)
    assembly_format = "$buffer attr-dict `:` type($buffer)"

    def __init__(
        self,
        buffer: SSAValue,
        *,
        layout: TileLayoutAttr,
        dim: int | IntegerAttr,
        start: float | FloatAttr,
        step: float | FloatAttr,
        pes: Rect,
    ):
        super().__init__(
            operands=[buffer],
            properties={
                "pes": dense_i64(pes),
                "layout": layout,
                "dim": int64(dim),
                "start": float64(start),
                "step": float64(step),
            },
        )

    def verify_(self) -> None:
        super().verify_()
        check_layout(self, self.layout, self.buffer)
        rank, dim = len(self.layout.dist.shape), self.dim.value.data
        _expect(0 <= dim < rank, f"iota dim {dim} is out of range for a rank-{rank} layout")


@irdl_op_definition
class RandomUniformOp(PEOp):
    """Uniform samples in [minval, maxval) (integers for an i32 buffer) from (seed, each
    element's global index in `layout`), as pe.random_normal."""

    name = "pe.random_uniform"
    buffer = operand_def(BufferType)
    seed = operand_def(IntegerType)
    layout = prop_def(TileLayoutAttr)
    minval = prop_def(FloatAttr)
    maxval = prop_def(FloatAttr)
    assembly_format = "$buffer `,` $seed attr-dict `:` type($buffer) `,` type($seed)"

    def __init__(
        self,
        buffer: SSAValue,
        seed: SSAValue,
        *,
        layout: TileLayoutAttr,
        minval: float | FloatAttr,
        maxval: float | FloatAttr,
        pes: Rect,
    ):
        super().__init__(
            operands=[buffer, seed],
            properties={
                "pes": dense_i64(pes),
                "layout": layout,
                "minval": float64(minval),
                "maxval": float64(maxval),
            },
        )

    def verify_(self) -> None:
        super().verify_()
        check_layout(self, self.layout, self.buffer)
        _uniform_range(
            str(buf_of(self.buffer).element_type), self.minval.value.data, self.maxval.value.data
        )


def _uniform_range(elem: str, low: float, high: float) -> None:
    problem = shapes.uniform_range_problem(elem, low, high)
    if problem is not None:
        raise VerifyException(problem)


CREATION_OPS: list[type[PEOp]] = [IotaOp, RandomUniformOp]


# --- indexed rows ------------------------------------------------------------------------
# Data-dependent addressing: an index buffer (i32) names rows of a table tiled by `layout`
# (2-D, rows split over some grid axis or none). A PE resolves each index against the rows its
# tile holds (the layout's row block of that PE) and reads or adds a row of its tile's width:
# one vector instruction per index (a DSD whose base address comes from the index, as the
# SDK's indexed DSD ops), a zero row (gather) or nothing (scatter-add) for rows it does not
# hold, so the work is the rows it returns, never the table.


def _check_rows(
    op: PEOp, layout: TileLayoutAttr, table: SSAValue, index: SSAValue, rows: SSAValue
) -> None:
    d = layout.dist
    _expect(len(d.shape) == 2, f"'{op.name}' layout must be 2-D (a table of rows), got {layout}")
    check_layout(op, layout, table)
    _expect(
        str(buf_of(index).element_type) == "i32",
        f"'{op.name}' index must hold i32, got {buf_of(index).element_type}",
    )
    n, width = buf_of(index).size.data, d.block[1]
    _expect(
        buf_of(rows).size.data == n * width,
        f"'{op.name}' rows buffer must hold {n} x {width} elements (index entries x the "
        f"tile's row width), got {buf_of(rows).size.data}",
    )
    _expect(
        buf_of(rows).element_type == buf_of(table).element_type,
        f"'{op.name}' rows and table hold different element types",
    )


@irdl_op_definition
class GatherRowsOp(PEOp):
    """dst[k, :] = tile row (index[k] - first row of the PE's block) when the PE's tile of
    `layout` holds row index[k] (a real row, not padding), else zeros; with `keep`, the rows
    the PE does not hold keep what dst had (a ring gather's travelling rows, filled in by
    each PE they visit: passes/pe_lowering/ring_rows.py).

        pe.gather_rows %d, %w, %i {layout = #pe.layout<4096x128xf32 on 8x8 split [r, c]>,
            pes = array<i64: 0, 0, 8, 8>} : !pe.buf<1024xf32>, !pe.buf<8192xf32>, !pe.buf<64xi32>
    """

    name = "pe.gather_rows"
    dst = operand_def(BufferType)
    table = operand_def(BufferType)
    index = operand_def(BufferType)
    layout = prop_def(TileLayoutAttr)
    keep = opt_prop_def(UnitAttr)
    assembly_format = (
        "$dst `,` $table `,` $index attr-dict `:` type($dst) `,` type($table) `,` type($index)"
    )

    def __init__(
        self,
        dst: SSAValue,
        table: SSAValue,
        index: SSAValue,
        *,
        layout: TileLayoutAttr,
        pes: Rect,
        keep: bool = False,
    ):
        properties: dict[str, Attribute] = {"pes": dense_i64(pes), "layout": layout}
        if keep:
            properties["keep"] = UnitAttr()
        super().__init__(operands=[dst, table, index], properties=properties)

    def verify_(self) -> None:
        super().verify_()
        _check_rows(self, self.layout, self.table, self.index, self.dst)


@irdl_op_definition
class ScatterAddRowsOp(PEOp):
    """tile row (index[k] - first row of the PE's block) += src[k, :] for every k whose row the
    PE's tile of `layout` holds (the transpose of pe.gather_rows); other indices add nothing.

        pe.scatter_add_rows %w, %d, %i {layout = #pe.layout<4096x128xf32 on 8x8 split [r, c]>,
            pes = array<i64: 0, 0, 8, 8>} : !pe.buf<8192xf32>, !pe.buf<1024xf32>, !pe.buf<64xi32>
    """

    name = "pe.scatter_add_rows"
    table = operand_def(BufferType)
    src = operand_def(BufferType)
    index = operand_def(BufferType)
    layout = prop_def(TileLayoutAttr)
    assembly_format = (
        "$table `,` $src `,` $index attr-dict `:` type($table) `,` type($src) `,` type($index)"
    )

    def __init__(
        self,
        table: SSAValue,
        src: SSAValue,
        index: SSAValue,
        *,
        layout: TileLayoutAttr,
        pes: Rect,
    ):
        super().__init__(
            operands=[table, src, index], properties={"pes": dense_i64(pes), "layout": layout}
        )

    def verify_(self) -> None:
        super().verify_()
        _check_rows(self, self.layout, self.table, self.index, self.src)


# --- fused elementwise chains (the fuse-elementwise pass) -----------------------------------


@irdl_op_definition
class FusedOp(PEOp):
    """dst = an elementwise expression of the inputs, in one pass over the tile: each input read
    once, dst written once, no intermediate tiles (pyflame/core/fused_expr.py has the
    expression's text, meaning and cost). Inputs hold dst's size, or one element (a register),
    or feed a `broadcast` step.

    pe.fused %d, %x, %row expr "broadcast.f32($1, 1x8, 8x8); sub.f32($0, %0); exp.f32(%1)"
        {pes = array<i64: 0, 0, 2, 2>} : !pe.buf<64xf32>, !pe.buf<64xf32>, !pe.buf<8xf32>
    """

    name = "pe.fused"
    dst = operand_def(BufferType)
    inputs = var_operand_def(BufferType)
    expr = prop_def(StringAttr)
    assembly_format = "$dst `,` $inputs `expr` $expr attr-dict `:` type($dst) `,` type($inputs)"

    def __init__(self, dst: SSAValue, inputs: Sequence[SSAValue], *, expr: str, pes: Rect):
        super().__init__(
            operands=[dst, list(inputs)],
            properties={"pes": dense_i64(pes), "expr": StringAttr(expr)},
        )

    def steps(self) -> list[fused_expr.Step]:
        return fused_expr.parse(self.expr.data)

    def verify_(self) -> None:
        super().verify_()
        _expect(len(self.inputs) > 0, "'pe.fused' takes at least one input buffer")
        try:
            steps = self.steps()
            fused_expr.check(
                steps, [buf_of(v).size.data for v in self.inputs], buf_of(self.dst).size.data
            )
        except fused_expr.ExprError as err:
            raise VerifyException(f"'pe.fused' expression: {err}") from err
        _expect(
            steps[-1].type == str(buf_of(self.dst).element_type),
            f"'pe.fused' expression gives {steps[-1].type}, dst holds "
            f"{buf_of(self.dst).element_type}",
        )


INDEXED_OPS: list[type[PEOp]] = [GatherRowsOp, ScatterAddRowsOp]


PE = Dialect(
    "pe",
    [
        AllocOp,
        HostInOp,
        HostOutOp,
        FillOp,
        RandomNormalOp,
        UnaryOp,
        BinaryOp,
        SelectOp,
        ConvertOp,
        MaskPadOp,
        ReduceOp,
        TransposeOp,
        CopyOp,
        MatmulAccOp,
        SendOp,
        RecvOp,
        WaitOp,
        LoopOp,
        YieldOp,
        RouteOp,
        RoutesOp,
        ExchangeOp,
        *SHAPE_OPS,
        *CONV_OPS,
        *CREATION_OPS,
        *INDEXED_OPS,
        FusedOp,
    ],
    [
        BufferType,
        TokenType,
        TileLayoutAttr,
        UnaryFnAttr,
        BinaryFnAttr,
        ReductionKindAttr,
        PoolKindAttr,
        PortAttr,
        GridAxisAttr,
    ],
)
