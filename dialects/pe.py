"""The `pe` dialect: what each processing element (PE) and its router do.

A pe program is the body of `func.func @main`, in program order. Every op names the rectangle of
PEs that executes it, `pes = array<i64: row0, col0, rows, cols>` (SPMD: all of them run the same
instruction on their own data). Each PE runs the subsequence of ops whose rectangle contains it,
with its own clock: PEs only wait for each other through `pe.recv`.

Memory: `pe.alloc` reserves the same SRAM range `[offset, offset + size * elem_bytes)` on every PE
of its rectangle; `allocate-sram` assigns the offsets (reusing dead buffers). Compute ops read and
write whole buffers (one DSD each).

Network: `pe.route` configures, on every router of its rectangle, where wavelets of `color`
arriving from port `from` go (`to`: any of north, south, east, west, ramp). `pe.send` streams a
buffer from every PE of its rectangle into its router on `color`; `pe.recv` takes, on every PE of its
rectangle, the next message delivered to that PE's ramp on `color` (`accumulate` adds it into
the buffer instead of overwriting); the whole rectangle waits until each of its PEs has its
message, so a pipelined chain is written as one recv per step. A message is the sender's whole
buffer at send time and must be exactly as long as the receiving buffer. `pe.exchange` is a compiler-planned all-to-all between two block distributions
whose messages follow dimension-ordered (X then Y) routes on its color. Host I/O enters at the
west edge and leaves at the east edge (`pe.host_in`, `pe.host_out`).

    %a = pe.alloc {name = "a", pes = array<i64: 0, 0, 4, 4>, offset = 0 : i64} : !pe.buf<768xf32>
    pe.route {color = 0 : i64, from = "ramp", pes = array<i64: 0, 0, 4, 4>, to = ["east", "west", "ramp"]}
    pe.send %a {color = 0 : i64, pes = array<i64: 0, 1, 4, 1>} : !pe.buf<768xf32>
    pe.recv %w {color = 0 : i64, pes = array<i64: 0, 0, 4, 4>} : !pe.buf<768xf32>
    pe.matmul_acc %c, %w, %b {k = 12 : i64, m = 16 : i64, n = 8 : i64, pes = array<i64: 0, 0, 4, 4>} : ...
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from xdsl.dialects.builtin import (
    ArrayAttr,
    DenseArrayBase,
    FloatAttr,
    IntAttr,
    IntegerAttr,
    IntegerType,
    StringAttr,
    TensorType,
    UnitAttr,
    i64,
)
from xdsl.ir import Attribute, Dialect, ParametrizedAttribute, SSAValue, TypeAttribute
from xdsl.irdl import (
    IRDLOperation,
    attr_def,
    irdl_attr_definition,
    irdl_op_definition,
    operand_def,
    opt_attr_def,
    param_def,
    result_def,
)
from xdsl.parser import AttrParser
from xdsl.printer import Printer
from xdsl.utils.exceptions import VerifyException

from pyflame.dialects.mesh import BINARY_FNS, REDUCE_KINDS, UNARY_FNS, MeshTensorType

PORTS = ("north", "south", "east", "west", "ramp")

ELEM_BYTES = {"f32": 4, "f16": 2, "bf16": 2, "i32": 4}


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
                    start, parser.pos,
                )
        return (IntAttr(shape[0]), elem)

    def print_parameters(self, printer: Printer) -> None:
        with printer.in_angle_brackets():
            printer.print_string(f"{self.size.data}x")
            printer.print_attribute(self.element_type)

    @property
    def elem_bytes(self) -> int:
        return ELEM_BYTES.get(str(self.element_type), 4)

    @property
    def num_bytes(self) -> int:
        return self.size.data * self.elem_bytes


def dense_i64(values: Sequence[int]) -> DenseArrayBase:
    return DenseArrayBase.from_list(i64, list(values))


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


def check_layout(op: PEOp, layout: MeshTensorType, buffer: SSAValue) -> None:
    """A tile layout must span exactly the op's PEs, and its tile must fit the buffer."""
    d = layout.dist
    rect = op.rect
    _expect(
        tuple(d.grid) == (rect[2], rect[3]),
        f"'{op.name}' layout grid {d.grid[0]}x{d.grid[1]} does not match its PEs {list(rect)}",
    )
    _expect(
        buf_of(buffer).size.data >= d.local_elems,
        f"'{op.name}' buffer holds {buf_of(buffer).size.data} elements, its tile "
        f"{d.local_elems}",
    )


class PEOp(IRDLOperation):
    """Base: the rectangle of PEs that executes the op."""

    pes = attr_def(DenseArrayBase)

    @property
    def rect(self) -> tuple[int, int, int, int]:
        return tuple(self.pes.get_values())  # type: ignore[return-value]

    def _check_rect(self, *buffers: SSAValue) -> None:
        rect = self.rect
        _expect(len(rect) == 4 and rect[2] > 0 and rect[3] > 0 and min(rect) >= 0,
                f"pes must be [row0, col0, rows, cols] with positive sizes, got {list(rect)}")
        for buf in buffers:
            owner = buf.owner
            if isinstance(owner, AllocOp):
                _expect(
                    rect_contains(owner.rect, rect),
                    f"'{self.name}' runs on PEs {list(rect)} outside buffer "
                    f"'{owner.buffer_name.data}' (allocated on {list(owner.rect)})",
                )

    def verify_(self) -> None:
        self._check_rect(*[o for o in self.operands if isinstance(o.type, BufferType)])


@irdl_op_definition
class AllocOp(PEOp):
    """A buffer at the same SRAM offset on every PE of `pes` (offset set by allocate-sram)."""

    name = "pe.alloc"
    buffer_name = attr_def(StringAttr, attr_name="name")
    offset = opt_attr_def(IntegerAttr)
    result = result_def(BufferType)
    assembly_format = "attr-dict `:` type($result)"

    @property
    def byte_offset(self) -> int | None:
        return None if self.offset is None else self.offset.value.data

    def verify_(self) -> None:
        self._check_rect()
        if self.offset is not None:
            offset = self.byte_offset
            _expect(offset >= 0, "offset must not be negative")  # type: ignore[operator]
            _expect(offset % 4 == 0, f"offset {offset} must be 4-byte aligned")  # type: ignore[operator]


@irdl_op_definition
class HostInOp(PEOp):
    """Stream a host tensor into the tiles of `layout` (padding zeroed), through the west edge."""

    name = "pe.host_in"
    input = operand_def(TensorType)
    buffer = operand_def(BufferType)
    layout = attr_def(MeshTensorType)
    assembly_format = "$input `,` $buffer attr-dict `:` type($input) `,` type($buffer)"

    def verify_(self) -> None:
        super().verify_()
        _expect(tuple(self.input.type.get_shape()) == self.layout.dist.shape,
                "host_in shape mismatch")
        check_layout(self, self.layout, self.buffer)


@irdl_op_definition
class HostOutOp(PEOp):
    """Stream the tiles of `layout` out through the east edge into a host tensor."""

    name = "pe.host_out"
    buffer = operand_def(BufferType)
    layout = attr_def(MeshTensorType)
    result = result_def(TensorType)
    assembly_format = "$buffer attr-dict `:` type($buffer) `->` type($result)"

    def verify_(self) -> None:
        super().verify_()
        _expect(tuple(self.result.type.get_shape()) == self.layout.dist.shape,
                "host_out shape mismatch")
        check_layout(self, self.layout, self.buffer)


@irdl_op_definition
class FillOp(PEOp):
    name = "pe.fill"
    buffer = operand_def(BufferType)
    value = attr_def(FloatAttr)
    assembly_format = "$buffer attr-dict `:` type($buffer)"


@irdl_op_definition
class RandomNormalOp(PEOp):
    """Normal samples as a function of (seed, each element's global index in `layout`)."""

    name = "pe.random_normal"
    buffer = operand_def(BufferType)
    seed = operand_def(IntegerType)
    layout = attr_def(MeshTensorType)
    assembly_format = "$buffer `,` $seed attr-dict `:` type($buffer) `,` type($seed)"

    def verify_(self) -> None:
        super().verify_()
        check_layout(self, self.layout, self.buffer)


@irdl_op_definition
class UnaryOp(PEOp):
    name = "pe.unary"
    dst = operand_def(BufferType)
    src = operand_def(BufferType)
    fn = attr_def(StringAttr)
    scalar = opt_attr_def(FloatAttr)
    assembly_format = "$dst `,` $src attr-dict `:` type($dst) `,` type($src)"

    def verify_(self) -> None:
        super().verify_()
        _expect(self.fn.data in UNARY_FNS, f"unknown unary fn '{self.fn.data}'")
        _expect((self.fn.data == "scale") == (self.scalar is not None),
                "'scale' (and only it) takes a scalar")
        _expect(buf_of(self.dst).size == buf_of(self.src).size, "unary buffers differ in size")


@irdl_op_definition
class BinaryOp(PEOp):
    name = "pe.binary"
    dst = operand_def(BufferType)
    lhs = operand_def(BufferType)
    rhs = operand_def(BufferType)
    fn = attr_def(StringAttr)
    assembly_format = (
        "$dst `,` $lhs `,` $rhs attr-dict `:` type($dst) `,` type($lhs) `,` type($rhs)"
    )

    def verify_(self) -> None:
        super().verify_()
        _expect(self.fn.data in BINARY_FNS, f"unknown binary fn '{self.fn.data}'")
        sizes = {buf_of(v).size.data for v in (self.dst, self.lhs, self.rhs)}
        _expect(len(sizes) == 1, f"binary buffers differ in size: {sorted(sizes)}")


@irdl_op_definition
class MaskPadOp(PEOp):
    """Set the elements of each PE's tile that are padding in `layout` to `value`."""

    name = "pe.mask_pad"
    buffer = operand_def(BufferType)
    layout = attr_def(MeshTensorType)
    value = attr_def(FloatAttr)
    assembly_format = "$buffer attr-dict `:` type($buffer)"

    def verify_(self) -> None:
        super().verify_()
        check_layout(self, self.layout, self.buffer)


def _ints(attr: DenseArrayBase) -> tuple[int, ...]:
    return tuple(attr.get_values())


@irdl_op_definition
class ReduceOp(PEOp):
    """dst = reduce(src viewed as `shape`) over `dims`, keeping them as size 1."""

    name = "pe.reduce"
    dst = operand_def(BufferType)
    src = operand_def(BufferType)
    kind = attr_def(StringAttr)
    shape = attr_def(DenseArrayBase)
    dims = attr_def(DenseArrayBase)
    assembly_format = "$dst `,` $src attr-dict `:` type($dst) `,` type($src)"

    def verify_(self) -> None:
        super().verify_()
        shape, dims = _ints(self.shape), _ints(self.dims)
        _expect(self.kind.data in REDUCE_KINDS, f"unknown reduction '{self.kind.data}'")
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
    shape = attr_def(DenseArrayBase)
    perm = attr_def(DenseArrayBase)
    assembly_format = "$dst `,` $src attr-dict `:` type($dst) `,` type($src)"

    def verify_(self) -> None:
        super().verify_()
        shape, perm = _ints(self.shape), _ints(self.perm)
        _expect(sorted(perm) == list(range(len(shape))), "bad permutation")
        _expect(math.prod(shape) == buf_of(self.src).size.data == buf_of(self.dst).size.data,
                "transpose sizes differ")


@irdl_op_definition
class CopyOp(PEOp):
    name = "pe.copy"
    dst = operand_def(BufferType)
    src = operand_def(BufferType)
    assembly_format = "$dst `,` $src attr-dict `:` type($dst) `,` type($src)"

    def verify_(self) -> None:
        super().verify_()
        _expect(buf_of(self.dst).size == buf_of(self.src).size, "copy buffers differ in size")


@irdl_op_definition
class MatmulAccOp(PEOp):
    """acc[m, n] += lhs[m, k] @ rhs[k, n] on every PE (FMACs)."""

    name = "pe.matmul_acc"
    acc = operand_def(BufferType)
    lhs = operand_def(BufferType)
    rhs = operand_def(BufferType)
    m = attr_def(IntegerAttr)
    k = attr_def(IntegerAttr)
    n = attr_def(IntegerAttr)
    assembly_format = (
        "$acc `,` $lhs `,` $rhs attr-dict `:` type($acc) `,` type($lhs) `,` type($rhs)"
    )

    @property
    def mkn(self) -> tuple[int, int, int]:
        return (self.m.value.data, self.k.value.data, self.n.value.data)

    def verify_(self) -> None:
        super().verify_()
        m, k, n = self.mkn
        for what, buf, size in (("acc", self.acc, m * n), ("lhs", self.lhs, m * k),
                                ("rhs", self.rhs, k * n)):
            _expect(buf_of(buf).size.data == size, f"matmul_acc {what} must hold {size} elements")


class _ChannelOp(PEOp):
    color = attr_def(IntegerAttr)

    @property
    def color_id(self) -> int:
        return self.color.value.data

    def verify_(self) -> None:
        super().verify_()
        _expect(self.color_id >= 0, "color must not be negative")


@irdl_op_definition
class SendOp(_ChannelOp):
    """Every PE of `pes` streams its whole buffer into its router on `color`."""

    name = "pe.send"
    buffer = operand_def(BufferType)
    assembly_format = "$buffer attr-dict `:` type($buffer)"


@irdl_op_definition
class RecvOp(_ChannelOp):
    """Every PE of `pes` receives the next message on `color` into (or, with `accumulate`,
    added onto) its buffer; it waits until the message has arrived."""

    name = "pe.recv"
    buffer = operand_def(BufferType)
    accumulate = opt_attr_def(UnitAttr)
    assembly_format = "$buffer attr-dict `:` type($buffer)"


@irdl_op_definition
class RouteOp(_ChannelOp):
    """On every router of `pes`: wavelets of `color` arriving from `from` go to `to`."""

    name = "pe.route"
    from_port = attr_def(StringAttr, attr_name="from")
    to_ports = attr_def(ArrayAttr[StringAttr], attr_name="to")
    assembly_format = "attr-dict"

    @property
    def outputs(self) -> tuple[str, ...]:
        return tuple(p.data for p in self.to_ports.data)

    def verify_(self) -> None:
        super().verify_()
        _expect(self.from_port.data in PORTS, f"unknown port '{self.from_port.data}'")
        for port in self.outputs:
            _expect(port in PORTS, f"unknown port '{port}' (ports: {', '.join(PORTS)})")
        _expect(self.from_port.data not in self.outputs or self.from_port.data == "ramp",
                "a route may not send wavelets back where they came from")


@irdl_op_definition
class ExchangeOp(_ChannelOp):
    """Redistribute: every block of `src_layout` overlapping a block of `dst_layout` on another
    PE travels there on `color` along the X-then-Y route; blocks on the same PE are copied."""

    name = "pe.exchange"
    dst = operand_def(BufferType)
    src = operand_def(BufferType)
    src_layout = attr_def(MeshTensorType)
    dst_layout = attr_def(MeshTensorType)
    assembly_format = "$dst `,` $src attr-dict `:` type($dst) `,` type($src)"

    def verify_(self) -> None:
        self._check_rect()
        _expect(self.color_id >= 0, "color must not be negative")
        _expect(self.src_layout.dist.shape == self.dst_layout.dist.shape,
                "exchange layouts differ in shape")
        _expect(buf_of(self.src).size.data >= self.src_layout.dist.local_elems,
                "exchange src buffer too small")
        _expect(buf_of(self.dst).size.data >= self.dst_layout.dist.local_elems,
                "exchange dst buffer too small")


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
        MaskPadOp,
        ReduceOp,
        TransposeOp,
        CopyOp,
        MatmulAccOp,
        SendOp,
        RecvOp,
        RouteOp,
        ExchangeOp,
    ],
    [BufferType],
)
