"""The `flame` dialect: whole-tensor ops on static shapes, one per user op, no placement.

Values are builtin ranked tensors. Any op may carry a `layout` hint (`#flame.layout<...>`) from
the user's `layout=`; the flame-to-mesh pass honours it or chooses one. Random ops take their seed
as an operand (a runtime input of the program), never as an attribute, so a compiled program is
reused across seeds. Every op carries the user's source line as its MLIR location.

    %0 = flame.matmul %a, %b : (tensor<64x48xf32>, tensor<48x32xf32>) -> tensor<64x32xf32> loc("demo.py":7:0)
    %1 = flame.relu %0 : tensor<64x32xf32> -> tensor<64x32xf32>
    %2 = flame.reduce_sum %1 {dims = array<i64: 0>} : tensor<64x32xf32> -> tensor<32xf32>
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import ClassVar

from xdsl.dialects.builtin import (
    I64,
    ArrayAttr,
    DenseArrayBase,
    Float64Type,
    FloatAttr,
    IntAttr,
    IntegerAttr,
    IntegerType,
    TensorType,
    UnitAttr,
    f64,
    i1,
    i32,
    i64,
)
from xdsl.dialects.utils import EnumAttribute
from xdsl.ir import (
    Attribute,
    Dialect,
    ParametrizedAttribute,
    SpacedOpaqueSyntaxAttribute,
    SSAValue,
)
from xdsl.irdl import (
    IRDLOperation,
    ParsePropInAttrDict,
    irdl_attr_definition,
    irdl_op_definition,
    operand_def,
    opt_operand_def,
    opt_prop_def,
    prop_def,
    result_def,
    traits_def,
    var_operand_def,
)
from xdsl.parser import AttrParser
from xdsl.printer import Printer
from xdsl.traits import Pure
from xdsl.utils.exceptions import VerifyException
from xdsl.utils.str_enum import StrEnum

from pyflame.core import elementwise, shapes
from pyflame.core.conv_window import WindowAccess, window_properties
from pyflame.core.errors import ShapeError

# (the tensor types PyFlame runs; with verify_module, which pyflame-opt runs on every module:
# a program of mesh or pe ops never loads this dialect)
from pyflame.core.module_checks import check_tensor_type

# --------------------------------------------------------------------------- attributes


class LayoutKind(StrEnum):
    """The closed set of layout hint kinds (pyflame.layout.MeshLayout's constructors)."""

    SINGLE = "single"
    GRID = "grid"
    ROW_PARTITION = "row_partition"
    COL_PARTITION = "col_partition"
    REPLICATED = "replicated"


LAYOUT_KINDS: dict[str, int] = {
    # kind: number of integer parameters
    LayoutKind.SINGLE: 0,
    LayoutKind.GRID: 2,
    LayoutKind.ROW_PARTITION: 1,
    LayoutKind.COL_PARTITION: 1,
    LayoutKind.REPLICATED: 2,
}


@irdl_attr_definition
class LayoutKindAttr(EnumAttribute[LayoutKind], SpacedOpaqueSyntaxAttribute):
    """A layout hint's kind: `#flame<layout_kind grid>` alone; inside `#flame.layout<grid [8, 8]>`
    it is the leading keyword."""

    name = "flame.layout_kind"


@irdl_attr_definition
class LayoutAttr(ParametrizedAttribute):
    """A user's layout hint: `#flame.layout<grid [8, 8]>`, `#flame.layout<single>`; a grid may
    say where on the fabric it starts: `#flame.layout<grid [8, 8] at [0, 8]>` (PE row, col of
    its corner; without `at`, wherever the compiler puts it)."""

    name = "flame.layout"

    kind: LayoutKindAttr
    sizes: ArrayAttr[IntAttr]
    #: empty, or the fabric PE (row, col) of a grid's corner
    origin: ArrayAttr[IntAttr]

    def __init__(self, kind: str, sizes: Sequence[int] = (), origin: Sequence[int] = ()):
        """`kind` a LayoutKind (or its name; ValueError if it names none)."""
        super().__init__(
            LayoutKindAttr(LayoutKind(kind)),
            ArrayAttr([IntAttr(s) for s in sizes]),
            ArrayAttr([IntAttr(s) for s in origin]),
        )

    @classmethod
    def parse_parameters(cls, parser: AttrParser) -> Sequence[Attribute]:
        with parser.in_angle_brackets():
            start = parser.pos
            kind = parser.parse_identifier("layout kind")
            sizes: list[int] = []
            if parser.parse_optional_punctuation("[") is not None:
                sizes.append(parser.parse_integer())
                while parser.parse_optional_punctuation(",") is not None:
                    sizes.append(parser.parse_integer())
                parser.parse_punctuation("]")
            origin: list[int] = []
            if parser.parse_optional_keyword("at") is not None:
                origin = parser.parse_comma_separated_list(
                    parser.Delimiter.SQUARE, lambda: parser.parse_integer(allow_boolean=False)
                )
            problem = cls.problem(kind, sizes, origin)
            if problem:
                parser.raise_error(problem, start, parser.pos)
        return (
            LayoutKindAttr(LayoutKind(kind)),
            ArrayAttr([IntAttr(s) for s in sizes]),
            ArrayAttr([IntAttr(s) for s in origin]),
        )

    @staticmethod
    def problem(kind: str, sizes: Sequence[int], origin: Sequence[int] = ()) -> str | None:
        """What is wrong with these parameters, or None."""
        if origin and (kind != "grid" or len(origin) != 2 or min(origin) < 0):
            return (
                f"only a grid layout takes an origin [row, col] >= 0, got {kind} at {list(origin)}"
            )
        if kind not in LAYOUT_KINDS:
            return f"unknown layout kind '{kind}' (one of {sorted(k.value for k in LayoutKind)})"
        if len(sizes) != LAYOUT_KINDS[kind]:
            return f"layout '{kind}' takes {LAYOUT_KINDS[kind]} sizes, got {len(sizes)}"
        if any(s < 1 for s in sizes):
            return f"layout '{kind}' sizes must be positive"
        return None

    def print_parameters(self, printer: Printer) -> None:
        with printer.in_angle_brackets():
            printer.print_string(self.kind.data.value)
            if self.sizes.data:
                printer.print_string(" [" + ", ".join(str(s.data) for s in self.sizes) + "]")
            if self.origin.data:
                printer.print_string(" at [" + ", ".join(str(s.data) for s in self.origin) + "]")

    def verify(self) -> None:
        problem = self.problem(self.kind.data, self.size_tuple, self.origin_tuple)
        if problem:
            raise VerifyException(problem)

    @property
    def size_tuple(self) -> tuple[int, ...]:
        return tuple(s.data for s in self.sizes.data)

    @property
    def origin_tuple(self) -> tuple[int, ...]:
        """() or the grid's (row, col) on the fabric."""
        return tuple(s.data for s in self.origin.data)


# --------------------------------------------------------------------------- helpers


def tensor_shape(value: SSAValue | Attribute) -> tuple[int, ...]:
    typ = value.type if isinstance(value, SSAValue) else value
    assert isinstance(typ, TensorType)
    return tuple(typ.get_shape())


def element_type(value: SSAValue) -> Attribute:
    typ = value.type
    assert isinstance(typ, TensorType)
    return typ.element_type


def dense_i64(values: Sequence[int]) -> DenseArrayBase[I64]:
    return DenseArrayBase.from_list(i64, [int(v) for v in values])


def float64(value: float) -> FloatAttr[Float64Type]:
    return FloatAttr(float(value), f64)


def int64(value: int) -> IntegerAttr[I64]:
    return IntegerAttr(int(value), i64)


def flag(value: bool) -> UnitAttr | None:
    """A unit property: present when true, left out when false."""
    return UnitAttr() if value else None


def _infer(rule: Callable[..., Sequence[int]], *args: object) -> tuple[int, ...]:
    """A builder's result shape by the shape rule its verifier checks; the rule's ShapeError
    propagates (the builder's caller gave operands no op of this kind takes)."""
    return tuple(rule(*args))


def _check(rule, *args):
    """Run a shared shape rule, turning its ShapeError into a verifier error."""
    try:
        return rule(*args)
    except ShapeError as err:
        raise VerifyException(str(err)) from err


class FlameOp(IRDLOperation):
    """Base: every flame op may carry a layout hint; its tensors pass `check_tensor_type`.

    An op's parameters (`dims`, `value`, `stride`, ...) and its `layout` hint are properties,
    typed (`f64`, `i64`, `array<i64: ...>`, `#flame.layout<...>`), as xDSL's and MLIR's ops
    keep inherent attributes. They print in the attribute dictionary, in the order they were
    set (the layout last), as MLIR's default `attr-dict` prints inherent attributes
    (`ParsePropInAttrDict`): `{dims = array<i64: 1>, keepdim, layout = #flame.layout<single>}`.

    Every op has a builder taking typed Python values; the result type is inferred from the
    operands by the same shape rule the verifier checks, unless the op cannot know it (fill,
    iota, the random ops: `result_type`; reshape, broadcast_to: `shape`; convert: the element
    type):

        FillOp(0.0, TensorType(f32, [2, 3]))
        ReduceMaxOp(x, dims=[1], keepdim=True)
        AddOp(a, b, layout=LayoutAttr("grid", [2, 2]))
    """

    irdl_options = (ParsePropInAttrDict(),)

    layout = opt_prop_def(LayoutAttr)

    def _init(
        self,
        operands: Sequence[SSAValue | Sequence[SSAValue] | None],
        result_type: Attribute,
        layout: LayoutAttr | None,
        **properties: Attribute | None,
    ) -> None:
        """The builders' common tail: absent (None) properties and layout are left out."""
        properties["layout"] = layout
        super().__init__(
            operands=list(operands),
            result_types=[result_type],
            properties={k: v for k, v in properties.items() if v is not None},
        )

    def verify(self, verify_nested_ops: bool = True) -> None:
        try:  # before the op's own checks, which assume static shapes
            for i, v in enumerate(self.operands):
                check_tensor_type(v.type, f"operand {i}")
            for i, v in enumerate(self.results):
                check_tensor_type(v.type, f"result {i}")
        except VerifyException as err:
            self.emit_error(f"Operation does not verify: {err}", err)
        super().verify(verify_nested_ops)

    def _check_result(self, expected: tuple[int, ...]) -> None:
        got = tensor_shape(self.result)  # type: ignore[attr-defined]  # every FlameOp has one
        if got != tuple(expected):
            raise VerifyException(
                f"result shape {list(got)} should be {list(expected)} for '{self.name}'"
            )

    def _check_elem(self, *values: SSAValue) -> None:
        elems = {element_type(v) for v in values}
        elems.add(element_type(self.result))  # type: ignore[attr-defined]  # every FlameOp has one
        if len(elems) != 1:
            raise VerifyException(
                f"'{self.name}' needs one element type, got {sorted(map(str, elems))}"
            )


# --------------------------------------------------------------------------- creation


@irdl_op_definition
class FillOp(FlameOp):
    """A tensor with every element `value` (zeros, ones, full)."""

    name = "flame.fill"
    value = prop_def(FloatAttr[Float64Type])
    result = result_def(TensorType)
    assembly_format = "attr-dict `:` type($result)"
    traits = traits_def(Pure())

    def __init__(self, value: float, result_type: TensorType, *, layout: LayoutAttr | None = None):
        self._init([], result_type, layout, value=float64(value))


class _RandomOp(FlameOp):
    """Random values as a function of the seed operand and each element's global index.

    Pure: the values are a function of the operands, so two random ops of one seed value (and
    one shape and range) are the same tensor and cse may merge them; the frontend gives every
    random node its own seed argument of @main, so two draws are never merged."""

    seed = operand_def(IntegerType)
    result = result_def(TensorType)
    assembly_format = "$seed attr-dict `:` type($seed) `->` type($result)"
    traits = traits_def(Pure())


@irdl_op_definition
class RandomNormalOp(_RandomOp):
    """Standard normal samples (randn)."""

    name = "flame.random_normal"

    def __init__(
        self, seed: SSAValue, result_type: TensorType, *, layout: LayoutAttr | None = None
    ):
        self._init([seed], result_type, layout)


# --------------------------------------------------------------------------- elementwise


class _BinaryOp(FlameOp):
    """Two tensor operands (elementwise ops and matmul share the syntax)."""

    lhs = operand_def(TensorType)
    rhs = operand_def(TensorType)
    result = result_def(TensorType)
    assembly_format = (
        "$lhs `,` $rhs attr-dict `:` `(` type($lhs) `,` type($rhs) `)` `->` type($result)"
    )
    traits = traits_def(Pure())


def elem_name(value: SSAValue) -> str:
    return str(element_type(value))


def _check_elementwise(op: FlameOp, entry: elementwise.Elementwise, *operands: SSAValue) -> None:
    """Operands of one element type that `entry` accepts, shapes equal or rank-0 (a scalar),
    result of the broadcast shape and the element type `entry` gives."""
    elems = sorted({elem_name(v) for v in operands})
    if len(elems) != 1:
        raise VerifyException(f"'{op.name}' needs operands of one element type, got {elems}")
    if not elementwise.accepts(entry, elems[0]):
        raise VerifyException(f"'{op.name}' does not take {elems[0]} operands")
    shapes_ = [tensor_shape(v) for v in operands]
    full = [s for s in shapes_ if s]
    if any(s != full[0] for s in full):
        raise VerifyException(
            f"'{op.name}' operands must have one shape or be rank-0, got "
            + ", ".join(str(list(s)) for s in shapes_)
        )
    op._check_result(full[0] if full else ())
    want = elementwise.result_type(entry, elems[0])
    if elem_name(op.result) != want:  # type: ignore[attr-defined]  # every FlameOp has one
        raise VerifyException(f"'{op.name}' result must hold {want}")


class ElementwiseBinaryOp(_BinaryOp):
    """`ENTRY` is this op's row of pyflame.core.elementwise.BINARY."""

    ENTRY: ClassVar[elementwise.Elementwise]

    def __init__(self, lhs: SSAValue, rhs: SSAValue, *, layout: LayoutAttr | None = None):
        """Result: the shape of the operand that is not rank-0 (if any), of i1 for a
        comparison, else of the operands' element type."""
        shape = tensor_shape(lhs) or tensor_shape(rhs)
        elem = i1 if self.ENTRY.result == "bool" else element_type(lhs)
        self._init([lhs, rhs], TensorType(elem, shape), layout)

    def verify_(self) -> None:
        _check_elementwise(self, self.ENTRY, self.lhs, self.rhs)


class _UnaryOp(FlameOp):
    input = operand_def(TensorType)
    result = result_def(TensorType)
    assembly_format = "$input attr-dict `:` type($input) `->` type($result)"
    traits = traits_def(Pure())

    def __init__(self, input: SSAValue, *, layout: LayoutAttr | None = None):
        """Result: the operand's type."""
        self._init([input], input.type, layout)

    def verify_(self) -> None:
        self._check_result(tensor_shape(self.input))
        self._check_elem(self.input)


class ElementwiseUnaryOp(_UnaryOp):
    """`ENTRY` is this op's row of pyflame.core.elementwise.UNARY."""

    ENTRY: ClassVar[elementwise.Elementwise]

    def verify_(self) -> None:
        _check_elementwise(self, self.ENTRY, self.input)


# One op class per row of the elementwise tables (pyflame/core/elementwise.py); a test checks
# that the classes and the tables list the same functions.


@irdl_op_definition
class NegOp(ElementwiseUnaryOp):
    """Elementwise `neg`: -x."""

    name = "flame.neg"
    ENTRY: ClassVar[elementwise.Elementwise] = elementwise.UNARY["neg"]


@irdl_op_definition
class AbsOp(ElementwiseUnaryOp):
    """Elementwise `abs`: |x|."""

    name = "flame.abs"
    ENTRY: ClassVar[elementwise.Elementwise] = elementwise.UNARY["abs"]


@irdl_op_definition
class ReluOp(ElementwiseUnaryOp):
    """Elementwise `relu`: max(x, 0)."""

    name = "flame.relu"
    ENTRY: ClassVar[elementwise.Elementwise] = elementwise.UNARY["relu"]


@irdl_op_definition
class ExpOp(ElementwiseUnaryOp):
    """Elementwise `exp`."""

    name = "flame.exp"
    ENTRY: ClassVar[elementwise.Elementwise] = elementwise.UNARY["exp"]


@irdl_op_definition
class LogOp(ElementwiseUnaryOp):
    """Elementwise `log`."""

    name = "flame.log"
    ENTRY: ClassVar[elementwise.Elementwise] = elementwise.UNARY["log"]


@irdl_op_definition
class SqrtOp(ElementwiseUnaryOp):
    """Elementwise `sqrt`."""

    name = "flame.sqrt"
    ENTRY: ClassVar[elementwise.Elementwise] = elementwise.UNARY["sqrt"]


@irdl_op_definition
class RsqrtOp(ElementwiseUnaryOp):
    """Elementwise `rsqrt`: 1 / sqrt(x)."""

    name = "flame.rsqrt"
    ENTRY: ClassVar[elementwise.Elementwise] = elementwise.UNARY["rsqrt"]


@irdl_op_definition
class TanhOp(ElementwiseUnaryOp):
    """Elementwise `tanh`."""

    name = "flame.tanh"
    ENTRY: ClassVar[elementwise.Elementwise] = elementwise.UNARY["tanh"]


@irdl_op_definition
class SigmoidOp(ElementwiseUnaryOp):
    """Elementwise `sigmoid`: 1 / (1 + exp(-x))."""

    name = "flame.sigmoid"
    ENTRY: ClassVar[elementwise.Elementwise] = elementwise.UNARY["sigmoid"]


@irdl_op_definition
class GeluOp(ElementwiseUnaryOp):
    """Elementwise `gelu`: x * Phi(x) (exact, erf)."""

    name = "flame.gelu"
    ENTRY: ClassVar[elementwise.Elementwise] = elementwise.UNARY["gelu"]


@irdl_op_definition
class SiluOp(ElementwiseUnaryOp):
    """Elementwise `silu`: x * sigmoid(x)."""

    name = "flame.silu"
    ENTRY: ClassVar[elementwise.Elementwise] = elementwise.UNARY["silu"]


@irdl_op_definition
class LogicalNotOp(ElementwiseUnaryOp):
    """Elementwise `logical_not`: ~x on bool."""

    name = "flame.logical_not"
    ENTRY: ClassVar[elementwise.Elementwise] = elementwise.UNARY["logical_not"]


@irdl_op_definition
class SinOp(ElementwiseUnaryOp):
    """Elementwise `sin`."""

    name = "flame.sin"
    ENTRY: ClassVar[elementwise.Elementwise] = elementwise.UNARY["sin"]


@irdl_op_definition
class CosOp(ElementwiseUnaryOp):
    """Elementwise `cos`."""

    name = "flame.cos"
    ENTRY: ClassVar[elementwise.Elementwise] = elementwise.UNARY["cos"]


@irdl_op_definition
class ErfOp(ElementwiseUnaryOp):
    """Elementwise `erf`: the error function."""

    name = "flame.erf"
    ENTRY: ClassVar[elementwise.Elementwise] = elementwise.UNARY["erf"]


@irdl_op_definition
class FloorOp(ElementwiseUnaryOp):
    """Elementwise `floor`: round down (integers unchanged)."""

    name = "flame.floor"
    ENTRY: ClassVar[elementwise.Elementwise] = elementwise.UNARY["floor"]


@irdl_op_definition
class RoundOp(ElementwiseUnaryOp):
    """Elementwise `round`: round half to even (integers unchanged)."""

    name = "flame.round"
    ENTRY: ClassVar[elementwise.Elementwise] = elementwise.UNARY["round"]


@irdl_op_definition
class SignOp(ElementwiseUnaryOp):
    """Elementwise `sign`: -1, 0 or 1 (0 at NaN, as PyTorch)."""

    name = "flame.sign"
    ENTRY: ClassVar[elementwise.Elementwise] = elementwise.UNARY["sign"]


@irdl_op_definition
class Log1pOp(ElementwiseUnaryOp):
    """Elementwise `log1p`: log(1 + x)."""

    name = "flame.log1p"
    ENTRY: ClassVar[elementwise.Elementwise] = elementwise.UNARY["log1p"]


@irdl_op_definition
class Expm1Op(ElementwiseUnaryOp):
    """Elementwise `expm1`: exp(x) - 1."""

    name = "flame.expm1"
    ENTRY: ClassVar[elementwise.Elementwise] = elementwise.UNARY["expm1"]


@irdl_op_definition
class TruncOp(ElementwiseUnaryOp):
    """Elementwise `trunc`: round toward 0 (integers unchanged)."""

    name = "flame.trunc"
    ENTRY: ClassVar[elementwise.Elementwise] = elementwise.UNARY["trunc"]


@irdl_op_definition
class BitwiseNotOp(ElementwiseUnaryOp):
    """Elementwise `bitwise_not`: ~x on i32 (-x - 1); `~` of a bool tensor is logical_not."""

    name = "flame.bitwise_not"
    ENTRY: ClassVar[elementwise.Elementwise] = elementwise.UNARY["bitwise_not"]


@irdl_op_definition
class SignbitOp(ElementwiseUnaryOp):
    """Elementwise `signbit`: 1 where the sign bit is set (-0.0 and a negative NaN too;
    integers: x < 0), else 0, in the operand's type (`pf.signbit` is `flame.ne` of it and 0)."""

    name = "flame.signbit"
    ENTRY: ClassVar[elementwise.Elementwise] = elementwise.UNARY["signbit"]


@irdl_op_definition
class Exp2Op(ElementwiseUnaryOp):
    """Elementwise `exp2`: 2 ** x."""

    name = "flame.exp2"
    ENTRY: ClassVar[elementwise.Elementwise] = elementwise.UNARY["exp2"]


@irdl_op_definition
class Log2Op(ElementwiseUnaryOp):
    """Elementwise `log2`: log base 2."""

    name = "flame.log2"
    ENTRY: ClassVar[elementwise.Elementwise] = elementwise.UNARY["log2"]


@irdl_op_definition
class Log10Op(ElementwiseUnaryOp):
    """Elementwise `log10`: log base 10."""

    name = "flame.log10"
    ENTRY: ClassVar[elementwise.Elementwise] = elementwise.UNARY["log10"]


@irdl_op_definition
class TanOp(ElementwiseUnaryOp):
    """Elementwise `tan`."""

    name = "flame.tan"
    ENTRY: ClassVar[elementwise.Elementwise] = elementwise.UNARY["tan"]


@irdl_op_definition
class AsinOp(ElementwiseUnaryOp):
    """Elementwise `asin`: arcsine."""

    name = "flame.asin"
    ENTRY: ClassVar[elementwise.Elementwise] = elementwise.UNARY["asin"]


@irdl_op_definition
class AcosOp(ElementwiseUnaryOp):
    """Elementwise `acos`: arccosine."""

    name = "flame.acos"
    ENTRY: ClassVar[elementwise.Elementwise] = elementwise.UNARY["acos"]


@irdl_op_definition
class AtanOp(ElementwiseUnaryOp):
    """Elementwise `atan`: arctangent."""

    name = "flame.atan"
    ENTRY: ClassVar[elementwise.Elementwise] = elementwise.UNARY["atan"]


@irdl_op_definition
class SinhOp(ElementwiseUnaryOp):
    """Elementwise `sinh`."""

    name = "flame.sinh"
    ENTRY: ClassVar[elementwise.Elementwise] = elementwise.UNARY["sinh"]


@irdl_op_definition
class CoshOp(ElementwiseUnaryOp):
    """Elementwise `cosh`."""

    name = "flame.cosh"
    ENTRY: ClassVar[elementwise.Elementwise] = elementwise.UNARY["cosh"]


@irdl_op_definition
class AsinhOp(ElementwiseUnaryOp):
    """Elementwise `asinh`: inverse sinh."""

    name = "flame.asinh"
    ENTRY: ClassVar[elementwise.Elementwise] = elementwise.UNARY["asinh"]


@irdl_op_definition
class AcoshOp(ElementwiseUnaryOp):
    """Elementwise `acosh`: inverse cosh."""

    name = "flame.acosh"
    ENTRY: ClassVar[elementwise.Elementwise] = elementwise.UNARY["acosh"]


@irdl_op_definition
class AtanhOp(ElementwiseUnaryOp):
    """Elementwise `atanh`: inverse tanh."""

    name = "flame.atanh"
    ENTRY: ClassVar[elementwise.Elementwise] = elementwise.UNARY["atanh"]


@irdl_op_definition
class ErfinvOp(ElementwiseUnaryOp):
    """Elementwise `erfinv`: the inverse of erf."""

    name = "flame.erfinv"
    ENTRY: ClassVar[elementwise.Elementwise] = elementwise.UNARY["erfinv"]


@irdl_op_definition
class AddOp(ElementwiseBinaryOp):
    """Elementwise `add`: a + b (or on bool)."""

    name = "flame.add"
    ENTRY: ClassVar[elementwise.Elementwise] = elementwise.BINARY["add"]


@irdl_op_definition
class SubOp(ElementwiseBinaryOp):
    """Elementwise `sub`."""

    name = "flame.sub"
    ENTRY: ClassVar[elementwise.Elementwise] = elementwise.BINARY["sub"]


@irdl_op_definition
class MulOp(ElementwiseBinaryOp):
    """Elementwise `mul`: a * b (and on bool)."""

    name = "flame.mul"
    ENTRY: ClassVar[elementwise.Elementwise] = elementwise.BINARY["mul"]


@irdl_op_definition
class DivOp(ElementwiseBinaryOp):
    """Elementwise `div`: true division."""

    name = "flame.div"
    ENTRY: ClassVar[elementwise.Elementwise] = elementwise.BINARY["div"]


@irdl_op_definition
class PowOp(ElementwiseBinaryOp):
    """Elementwise `pow`: a ** b (integers stay integers)."""

    name = "flame.pow"
    ENTRY: ClassVar[elementwise.Elementwise] = elementwise.BINARY["pow"]


@irdl_op_definition
class MaximumOp(ElementwiseBinaryOp):
    """Elementwise `maximum`."""

    name = "flame.maximum"
    ENTRY: ClassVar[elementwise.Elementwise] = elementwise.BINARY["maximum"]


@irdl_op_definition
class MinimumOp(ElementwiseBinaryOp):
    """Elementwise `minimum`."""

    name = "flame.minimum"
    ENTRY: ClassVar[elementwise.Elementwise] = elementwise.BINARY["minimum"]


@irdl_op_definition
class EqOp(ElementwiseBinaryOp):
    """Elementwise `eq`."""

    name = "flame.eq"
    ENTRY: ClassVar[elementwise.Elementwise] = elementwise.BINARY["eq"]


@irdl_op_definition
class NeOp(ElementwiseBinaryOp):
    """Elementwise `ne`."""

    name = "flame.ne"
    ENTRY: ClassVar[elementwise.Elementwise] = elementwise.BINARY["ne"]


@irdl_op_definition
class LtOp(ElementwiseBinaryOp):
    """Elementwise `lt`."""

    name = "flame.lt"
    ENTRY: ClassVar[elementwise.Elementwise] = elementwise.BINARY["lt"]


@irdl_op_definition
class LeOp(ElementwiseBinaryOp):
    """Elementwise `le`."""

    name = "flame.le"
    ENTRY: ClassVar[elementwise.Elementwise] = elementwise.BINARY["le"]


@irdl_op_definition
class GtOp(ElementwiseBinaryOp):
    """Elementwise `gt`."""

    name = "flame.gt"
    ENTRY: ClassVar[elementwise.Elementwise] = elementwise.BINARY["gt"]


@irdl_op_definition
class GeOp(ElementwiseBinaryOp):
    """Elementwise `ge`."""

    name = "flame.ge"
    ENTRY: ClassVar[elementwise.Elementwise] = elementwise.BINARY["ge"]


@irdl_op_definition
class LogicalAndOp(ElementwiseBinaryOp):
    """Elementwise `logical_and`: a & b on bool."""

    name = "flame.logical_and"
    ENTRY: ClassVar[elementwise.Elementwise] = elementwise.BINARY["logical_and"]


@irdl_op_definition
class LogicalOrOp(ElementwiseBinaryOp):
    """Elementwise `logical_or`: a | b on bool."""

    name = "flame.logical_or"
    ENTRY: ClassVar[elementwise.Elementwise] = elementwise.BINARY["logical_or"]


@irdl_op_definition
class FloorDivideOp(ElementwiseBinaryOp):
    """Elementwise `floor_divide`: a // b, rounded toward -inf (PyTorch's
    `torch.floor_divide`, `torch.div(rounding_mode="floor")`); an int32 divisor of 0 is an
    error of the run.

        %q = flame.floor_divide %a, %b : (tensor<4xi32>, tensor<4xi32>) -> tensor<4xi32>
    """

    name = "flame.floor_divide"
    ENTRY: ClassVar[elementwise.Elementwise] = elementwise.BINARY["floor_divide"]


@irdl_op_definition
class RemainderOp(ElementwiseBinaryOp):
    """Elementwise `remainder`: a % b, with the sign of b (Python's, `torch.remainder`)."""

    name = "flame.remainder"
    ENTRY: ClassVar[elementwise.Elementwise] = elementwise.BINARY["remainder"]


@irdl_op_definition
class FmodOp(ElementwiseBinaryOp):
    """Elementwise `fmod`: C's remainder, with the sign of a (`torch.fmod`)."""

    name = "flame.fmod"
    ENTRY: ClassVar[elementwise.Elementwise] = elementwise.BINARY["fmod"]


@irdl_op_definition
class BitwiseAndOp(ElementwiseBinaryOp):
    """Elementwise `bitwise_and`: a & b on i32 (on bool tensors the frontend's `&` is
    logical_and).

        %r = flame.bitwise_and %a, %b : (tensor<4xi32>, tensor<4xi32>) -> tensor<4xi32>
    """

    name = "flame.bitwise_and"
    ENTRY: ClassVar[elementwise.Elementwise] = elementwise.BINARY["bitwise_and"]


@irdl_op_definition
class BitwiseOrOp(ElementwiseBinaryOp):
    """Elementwise `bitwise_or`: a | b on i32."""

    name = "flame.bitwise_or"
    ENTRY: ClassVar[elementwise.Elementwise] = elementwise.BINARY["bitwise_or"]


@irdl_op_definition
class BitwiseXorOp(ElementwiseBinaryOp):
    """Elementwise `bitwise_xor`: a ^ b on i32."""

    name = "flame.bitwise_xor"
    ENTRY: ClassVar[elementwise.Elementwise] = elementwise.BINARY["bitwise_xor"]


@irdl_op_definition
class BitwiseLeftShiftOp(ElementwiseBinaryOp):
    """Elementwise `bitwise_left_shift`: a << b on i32 (PyTorch's int64: a count outside
    [0, 64) gives 0; a result beyond int32 is an overflow error of the run)."""

    name = "flame.bitwise_left_shift"
    ENTRY: ClassVar[elementwise.Elementwise] = elementwise.BINARY["bitwise_left_shift"]


@irdl_op_definition
class BitwiseRightShiftOp(ElementwiseBinaryOp):
    """Elementwise `bitwise_right_shift`: a >> b on i32, arithmetic (a count outside [0, 64)
    gives the sign, 0 or -1)."""

    name = "flame.bitwise_right_shift"
    ENTRY: ClassVar[elementwise.Elementwise] = elementwise.BINARY["bitwise_right_shift"]


@irdl_op_definition
class Atan2Op(ElementwiseBinaryOp):
    """Elementwise `atan2`: atan(a / b) in the quadrant of (b, a)."""

    name = "flame.atan2"
    ENTRY: ClassVar[elementwise.Elementwise] = elementwise.BINARY["atan2"]


@irdl_op_definition
class HypotOp(ElementwiseBinaryOp):
    """Elementwise `hypot`: sqrt(a * a + b * b) without overflow (floats only)."""

    name = "flame.hypot"
    ENTRY: ClassVar[elementwise.Elementwise] = elementwise.BINARY["hypot"]


@irdl_op_definition
class NextafterOp(ElementwiseBinaryOp):
    """Elementwise `nextafter`: the next float after a toward b (floats only)."""

    name = "flame.nextafter"
    ENTRY: ClassVar[elementwise.Elementwise] = elementwise.BINARY["nextafter"]


#: flame op class of every elementwise function, by function name
UNARY_OPS: dict[str, type[ElementwiseUnaryOp]] = {
    cls.ENTRY.name: cls for cls in ElementwiseUnaryOp.__subclasses__()
}
BINARY_OPS: dict[str, type[ElementwiseBinaryOp]] = {
    cls.ENTRY.name: cls for cls in ElementwiseBinaryOp.__subclasses__()
}


@irdl_op_definition
class WhereOp(FlameOp):
    """`where(cond, a, b)`: a where cond holds, else b (operands rank-0 or of one shape)."""

    name = "flame.where"
    cond = operand_def(TensorType)
    lhs = operand_def(TensorType)
    rhs = operand_def(TensorType)
    result = result_def(TensorType)
    assembly_format = (
        "$cond `,` $lhs `,` $rhs attr-dict `:` `(` type($cond) `,` type($lhs) `,` type($rhs) `)`"
        " `->` type($result)"
    )
    traits = traits_def(Pure())

    def __init__(
        self, cond: SSAValue, lhs: SSAValue, rhs: SSAValue, *, layout: LayoutAttr | None = None
    ):
        """Result: the shape of the operands that are not rank-0, `lhs`'s element type."""
        shape = next((s for s in map(tensor_shape, (cond, lhs, rhs)) if s), ())
        self._init([cond, lhs, rhs], TensorType(element_type(lhs), shape), layout)

    def verify_(self) -> None:
        if elem_name(self.cond) != "i1":
            raise VerifyException(f"where's condition must be i1, got {elem_name(self.cond)}")
        shapes_ = [tensor_shape(v) for v in (self.cond, self.lhs, self.rhs)]
        full = [s for s in shapes_ if s]
        if any(s != full[0] for s in full):
            raise VerifyException(
                "where's operands must have one shape or be rank-0, got "
                + ", ".join(str(list(s)) for s in shapes_)
            )
        self._check_result(full[0] if full else ())
        self._check_elem(self.lhs, self.rhs)


@irdl_op_definition
class ConvertOp(_UnaryOp):
    """Element type conversion (`x.to(dtype)`), rounding to nearest even like PyTorch."""

    name = "flame.convert"

    def __init__(self, input: SSAValue, element: Attribute, *, layout: LayoutAttr | None = None):
        self._init([input], TensorType(element, tensor_shape(input)), layout)

    def verify_(self) -> None:
        self._check_result(tensor_shape(self.input))


# --------------------------------------------------------------------------- reductions


class _ReduceOp(FlameOp):
    """Reduce over `dims` (sorted, unique); `keepdim` keeps them as size 1."""

    input = operand_def(TensorType)
    dims = prop_def(DenseArrayBase[I64])
    keepdim = opt_prop_def(UnitAttr)
    result = result_def(TensorType)
    assembly_format = "$input attr-dict `:` type($input) `->` type($result)"
    traits = traits_def(Pure())

    #: the result's element type when it is not the operand's (argmax, argmin: i32)
    RESULT_ELEMENT: ClassVar[Attribute | None] = None

    def __init__(
        self,
        input: SSAValue,
        dims: Sequence[int],
        keepdim: bool = False,
        *,
        layout: LayoutAttr | None = None,
    ):
        self._init_reduce(input, dims, keepdim, layout)

    def _init_reduce(
        self,
        input: SSAValue,
        dims: Sequence[int],
        keepdim: bool,
        layout: LayoutAttr | None,
        **more: Attribute,
    ) -> None:
        shape = _infer(shapes.reduce, tensor_shape(input), dims, keepdim)
        elem = self.RESULT_ELEMENT or element_type(input)
        self._init(
            [input],
            TensorType(elem, shape),
            layout,
            dims=dense_i64(dims),
            keepdim=flag(keepdim),
            **more,
        )

    @property
    def dim_tuple(self) -> tuple[int, ...]:
        return tuple(self.dims.get_values())

    def _check_shape(self) -> None:
        dims = _check(shapes.check_dims, self.dim_tuple, len(tensor_shape(self.input)))
        self._check_result(
            _check(shapes.reduce, tensor_shape(self.input), dims, self.keepdim is not None)
        )

    def verify_(self) -> None:
        self._check_shape()
        self._check_elem(self.input)


@irdl_op_definition
class ReduceSumOp(_ReduceOp):
    name = "flame.reduce_sum"


@irdl_op_definition
class ReduceMeanOp(_ReduceOp):
    name = "flame.reduce_mean"


# --------------------------------------------------------------------------- linear algebra


@irdl_op_definition
class MatmulOp(_BinaryOp):
    name = "flame.matmul"

    def __init__(self, lhs: SSAValue, rhs: SSAValue, *, layout: LayoutAttr | None = None):
        shape = _infer(shapes.matmul, tensor_shape(lhs), tensor_shape(rhs))
        self._init([lhs, rhs], TensorType(element_type(lhs), shape), layout)

    def verify_(self) -> None:
        self._check_result(_check(shapes.matmul, tensor_shape(self.lhs), tensor_shape(self.rhs)))
        self._check_elem(self.lhs, self.rhs)


# --------------------------------------------------------------------------- shape


@irdl_op_definition
class TransposeOp(FlameOp):
    """Permute dimensions: result dim i is input dim perm[i]."""

    name = "flame.transpose"
    input = operand_def(TensorType)
    perm = prop_def(DenseArrayBase[I64])
    result = result_def(TensorType)
    assembly_format = "$input attr-dict `:` type($input) `->` type($result)"
    traits = traits_def(Pure())

    def __init__(self, input: SSAValue, perm: Sequence[int], *, layout: LayoutAttr | None = None):
        shape = _infer(shapes.permute, tensor_shape(input), perm)
        self._init([input], TensorType(element_type(input), shape), layout, perm=dense_i64(perm))

    @property
    def perm_tuple(self) -> tuple[int, ...]:
        return tuple(self.perm.get_values())

    def verify_(self) -> None:
        self._check_result(_check(shapes.permute, tensor_shape(self.input), self.perm_tuple))
        self._check_elem(self.input)


@irdl_op_definition
class ReshapeOp(_UnaryOp):
    """Same elements in row-major order, new shape (view/reshape)."""

    name = "flame.reshape"

    def __init__(self, input: SSAValue, shape: Sequence[int], *, layout: LayoutAttr | None = None):
        self._init([input], TensorType(element_type(input), shape), layout)

    def verify_(self) -> None:
        self._check_result(
            _check(shapes.reshape, tensor_shape(self.input), tensor_shape(self.result))
        )
        self._check_elem(self.input)


# --- shape ops ---------------------------------------------------------------------------
# broadcast_to, slice, concat, pad. unsqueeze/squeeze/flatten are flame.reshape; stack is
# reshapes + concat; split/chunk are slices; integer indexing is a slice + a reshape.


def _ints_of(attr: DenseArrayBase[IntegerType]) -> tuple[int, ...]:
    return tuple(attr.get_values())


@irdl_op_definition
class BroadcastToOp(FlameOp):
    """numpy broadcasting of the operand to the result type's shape (expand, broadcast_to)."""

    name = "flame.broadcast_to"
    input = operand_def(TensorType)
    result = result_def(TensorType)
    assembly_format = "$input attr-dict `:` type($input) `->` type($result)"
    traits = traits_def(Pure())

    def __init__(self, input: SSAValue, shape: Sequence[int], *, layout: LayoutAttr | None = None):
        self._init([input], TensorType(element_type(input), shape), layout)

    def verify_(self) -> None:
        _check(shapes.broadcast_to, tensor_shape(self.input), tensor_shape(self.result))
        self._check_elem(self.input)


@irdl_op_definition
class SliceOp(FlameOp):
    """Per dim d the elements start[d], start[d] + step[d], ... below stop[d], with
    0 <= start <= stop <= size and step >= 1 (the frontend normalizes python slices)."""

    name = "flame.slice"
    input = operand_def(TensorType)
    start = prop_def(DenseArrayBase[I64])
    stop = prop_def(DenseArrayBase[I64])
    step = prop_def(DenseArrayBase[I64])
    result = result_def(TensorType)
    assembly_format = "$input attr-dict `:` type($input) `->` type($result)"
    traits = traits_def(Pure())

    def __init__(
        self,
        input: SSAValue,
        start: Sequence[int],
        stop: Sequence[int],
        step: Sequence[int],
        *,
        layout: LayoutAttr | None = None,
    ):
        shape = _infer(shapes.slice_shape, tensor_shape(input), start, stop, step)
        self._init(
            [input],
            TensorType(element_type(input), shape),
            layout,
            start=dense_i64(start),
            stop=dense_i64(stop),
            step=dense_i64(step),
        )

    @property
    def bounds(self) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
        return _ints_of(self.start), _ints_of(self.stop), _ints_of(self.step)

    def verify_(self) -> None:
        self._check_result(_check(shapes.slice_shape, tensor_shape(self.input), *self.bounds))
        self._check_elem(self.input)


@irdl_op_definition
class ConcatOp(FlameOp):
    """The operands joined along `dim` (torch.cat); all other dims agree."""

    name = "flame.concat"
    inputs = var_operand_def(TensorType)
    dim = prop_def(IntegerAttr[I64])
    result = result_def(TensorType)
    assembly_format = "$inputs attr-dict `:` `(` type($inputs) `)` `->` type($result)"
    traits = traits_def(Pure())

    def __init__(self, inputs: Sequence[SSAValue], dim: int, *, layout: LayoutAttr | None = None):
        shape = _infer(shapes.concat, [tensor_shape(v) for v in inputs], dim)
        self._init([inputs], TensorType(element_type(inputs[0]), shape), layout, dim=int64(dim))

    @property
    def dim_index(self) -> int:
        return self.dim.value.data

    def verify_(self) -> None:
        self._check_result(
            _check(shapes.concat, [tensor_shape(v) for v in self.inputs], self.dim_index)
        )
        self._check_elem(*self.inputs)


@irdl_op_definition
class PadOp(FlameOp):
    """Constant padding: `low[d]` elements of `value` before and `high[d]` after each dim d;
    negative widths crop."""

    name = "flame.pad"
    input = operand_def(TensorType)
    low = prop_def(DenseArrayBase[I64])
    high = prop_def(DenseArrayBase[I64])
    value = prop_def(FloatAttr[Float64Type])
    result = result_def(TensorType)
    assembly_format = "$input attr-dict `:` type($input) `->` type($result)"
    traits = traits_def(Pure())

    def __init__(
        self,
        input: SSAValue,
        low: Sequence[int],
        high: Sequence[int],
        value: float,
        *,
        layout: LayoutAttr | None = None,
    ):
        shape = _infer(shapes.pad, tensor_shape(input), low, high)
        self._init(
            [input],
            TensorType(element_type(input), shape),
            layout,
            low=dense_i64(low),
            high=dense_i64(high),
            value=float64(value),
        )

    @property
    def widths(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        return _ints_of(self.low), _ints_of(self.high)

    def verify_(self) -> None:
        self._check_result(_check(shapes.pad, tensor_shape(self.input), *self.widths))
        self._check_elem(self.input)


SHAPE_OPS: list[type[FlameOp]] = [BroadcastToOp, SliceOp, ConcatOp, PadOp]


# --- convolution and pooling ---------------------------------------------------------------
# NCHW activations, OIhw weights. `padding` is explicit: (top, bottom, left, right); the
# frontend resolves PyTorch's int / pair / 'same' / 'valid'. Shape rules: pyflame/core/shapes.py.


class _SpatialOp(FlameOp, WindowAccess):
    """Attributes shared by convolution and pooling: strides, paddings, dilations (read
    through `WindowAccess`: `stride_pair`, `spatial()`, ...)."""

    stride = prop_def(DenseArrayBase[I64])
    padding = prop_def(DenseArrayBase[I64])
    dilation = prop_def(DenseArrayBase[I64])


@irdl_op_definition
class Conv2dOp(_SpatialOp):
    """2-D cross-correlation (torch.nn.functional.conv2d): input (N, C, H, W), weight
    (O, C/groups, kh, kw), optional bias (O,) -> (N, O, Ho, Wo); zero padding.

        %y = flame.conv2d %x, %w, %b {stride = array<i64: 1, 1>, padding = array<i64: 1, 1, 1, 1>,
               dilation = array<i64: 1, 1>, groups = 1 : i64}
             : (tensor<1x3x8x8xf32>, tensor<4x3x3x3xf32>, tensor<4xf32>) -> tensor<1x4x8x8xf32>
    """

    name = "flame.conv2d"
    input = operand_def(TensorType)
    weight = operand_def(TensorType)
    bias = opt_operand_def(TensorType)
    groups = prop_def(IntegerAttr[I64])
    result = result_def(TensorType)
    assembly_format = (
        "$input `,` $weight (`,` $bias^)? attr-dict `:` functional-type(operands, results)"
    )
    traits = traits_def(Pure())

    def __init__(
        self,
        input: SSAValue,
        weight: SSAValue,
        bias: SSAValue | None,
        stride: Sequence[int],
        padding: Sequence[int],
        dilation: Sequence[int],
        groups: int = 1,
        *,
        layout: LayoutAttr | None = None,
    ):
        bias_shape = None if bias is None else tensor_shape(bias)
        shape = _infer(
            shapes.conv2d,
            tensor_shape(input),
            tensor_shape(weight),
            bias_shape,
            stride,
            padding,
            dilation,
            groups,
        )
        self._init(
            [input, weight, bias],
            TensorType(element_type(input), shape),
            layout,
            **window_properties(stride=stride, padding=padding, dilation=dilation, groups=groups),
        )

    @property
    def kernel_pair(self) -> tuple[int, ...]:
        return tensor_shape(self.weight)[2:]

    def verify_(self) -> None:
        bias = None if self.bias is None else tensor_shape(self.bias)
        _, stride, padding, dilation = self.spatial()
        self._check_result(
            _check(
                shapes.conv2d,
                tensor_shape(self.input),
                tensor_shape(self.weight),
                bias,
                stride,
                padding,
                dilation,
                self.group_count,
            )
        )
        self._check_elem(*[v for v in (self.input, self.weight, self.bias) if v is not None])


@irdl_op_definition
class Conv2dWeightGradOp(_SpatialOp):
    """conv2d's weight gradient (what autograd emits for a conv2d's weight): input x (N, C, H,
    W) and the output gradient dy (N, O, Ho, Wo) of a conv2d with `kernel` (kh, kw), stride,
    padding, dilation and groups -> dW (O, C/groups, kh, kw), dW[o, c, ky, kx] = sum over n,
    y, x of dy[n, o, y, x] * xp[n, g * C/groups + c, y * sh + ky * dh, x * sw + kx * dw] (xp the
    zero-padded input, g the group of o).

        %dw = flame.conv2d_weight_grad %x, %dy {kernel = array<i64: 3, 3>, stride = ..., padding
              = ..., dilation = ..., groups = 1 : i64}
              : (tensor<2x3x8x8xf32>, tensor<2x4x8x8xf32>) -> tensor<4x3x3x3xf32>
    """

    name = "flame.conv2d_weight_grad"
    input = operand_def(TensorType)
    grad = operand_def(TensorType)
    kernel = prop_def(DenseArrayBase[I64])
    groups = prop_def(IntegerAttr[I64])
    result = result_def(TensorType)
    assembly_format = "$input `,` $grad attr-dict `:` functional-type(operands, results)"
    traits = traits_def(Pure())

    def __init__(
        self,
        input: SSAValue,
        grad: SSAValue,
        kernel: Sequence[int],
        stride: Sequence[int],
        padding: Sequence[int],
        dilation: Sequence[int],
        groups: int = 1,
        *,
        layout: LayoutAttr | None = None,
    ):
        shape = _infer(
            shapes.conv2d_weight_grad,
            tensor_shape(input),
            tensor_shape(grad),
            kernel,
            stride,
            padding,
            dilation,
            groups,
        )
        self._init(
            [input, grad],
            TensorType(element_type(input), shape),
            layout,
            **window_properties(
                kernel=kernel, stride=stride, padding=padding, dilation=dilation, groups=groups
            ),
        )

    def verify_(self) -> None:
        self._check_result(
            _check(
                shapes.conv2d_weight_grad,
                tensor_shape(self.input),
                tensor_shape(self.grad),
                *self.spatial(),
                self.group_count,
            )
        )
        self._check_elem(self.input, self.grad)


class _PoolOp(_SpatialOp):
    input = operand_def(TensorType)
    kernel = prop_def(DenseArrayBase[I64])
    result = result_def(TensorType)
    assembly_format = "$input attr-dict `:` type($input) `->` type($result)"
    traits = traits_def(Pure())

    def __init__(
        self,
        input: SSAValue,
        kernel: Sequence[int],
        stride: Sequence[int],
        padding: Sequence[int],
        dilation: Sequence[int] = (1, 1),
        *,
        layout: LayoutAttr | None = None,
    ):
        self._init_pool(input, kernel, stride, padding, dilation, layout)

    def _init_pool(
        self,
        input: SSAValue,
        kernel: Sequence[int],
        stride: Sequence[int],
        padding: Sequence[int],
        dilation: Sequence[int],
        layout: LayoutAttr | None,
        **more: Attribute | None,
    ) -> None:
        shape = _infer(
            shapes.pool2d,
            tensor_shape(input),
            kernel,
            stride,
            padding,
            dilation,
            self.name.removeprefix("flame."),
        )
        self._init(
            [input],
            TensorType(element_type(input), shape),
            layout,
            **window_properties(kernel=kernel, stride=stride, padding=padding, dilation=dilation),
            **more,
        )

    def verify_(self) -> None:
        self._check_result(
            _check(
                shapes.pool2d,
                tensor_shape(self.input),
                *self.spatial(),
                self.name.removeprefix("flame."),
            )
        )
        self._check_elem(self.input)


@irdl_op_definition
class MaxPool2dOp(_PoolOp):
    """Max over each window (padding holds -inf).

    %y = flame.max_pool2d %x {kernel = array<i64: 2, 2>, stride = array<i64: 2, 2>,
           padding = array<i64: 0, 0, 0, 0>, dilation = array<i64: 1, 1>}
         : tensor<1x3x8x8xf32> -> tensor<1x3x4x4xf32>
    """

    name = "flame.max_pool2d"


@irdl_op_definition
class AvgPool2dOp(_PoolOp):
    """Mean over each window. Padding holds zeros; `count_include_pad` counts them in the
    divisor (PyTorch's default), without it only input elements count; `divisor` overrides
    the divisor (divisor_override)."""

    name = "flame.avg_pool2d"
    count_include_pad = opt_prop_def(UnitAttr)
    divisor = opt_prop_def(IntegerAttr[I64])

    def __init__(
        self,
        input: SSAValue,
        kernel: Sequence[int],
        stride: Sequence[int],
        padding: Sequence[int],
        dilation: Sequence[int] = (1, 1),
        count_include_pad: bool = True,
        divisor: int | None = None,
        *,
        layout: LayoutAttr | None = None,
    ):
        self._init_pool(
            input,
            kernel,
            stride,
            padding,
            dilation,
            layout,
            count_include_pad=flag(count_include_pad),
            divisor=None if divisor is None else int64(divisor),
        )


CONV_OPS: list[type[FlameOp]] = [Conv2dOp, Conv2dWeightGradOp, MaxPool2dOp, AvgPool2dOp]


# --- creation: iota and uniform random ----------------------------------------------------
# arange and eye are computed on the PEs from each element's global index (flame.iota; eye is
# two iotas compared); rand, randint, bernoulli and dropout draw from flame.random_uniform.

#: element types of the values these ops make (bool comes from comparisons)
NUMERIC_ELEMENTS = shapes.NUMERIC_ELEMENTS


@irdl_op_definition
class IotaOp(FlameOp):
    """`start + step * i` where i is the element's index along `dim` (arange, eye).

        %r = flame.iota {dim = 0 : i64, start = 0.0 : f64, step = 1.0 : f64} : tensor<5xf32>

    Computed in float64 and rounded once into the result type (as PyTorch's arange)."""

    name = "flame.iota"
    dim = prop_def(IntegerAttr[I64])
    start = prop_def(FloatAttr[Float64Type])
    step = prop_def(FloatAttr[Float64Type])
    result = result_def(TensorType)
    assembly_format = "attr-dict `:` type($result)"
    traits = traits_def(Pure())

    def __init__(
        self,
        dim: int,
        start: float,
        step: float,
        result_type: TensorType,
        *,
        layout: LayoutAttr | None = None,
    ):
        self._init(
            [], result_type, layout, dim=int64(dim), start=float64(start), step=float64(step)
        )

    def verify_(self) -> None:
        rank, dim = len(tensor_shape(self.result)), self.dim.value.data
        if not 0 <= dim < rank:
            raise VerifyException(f"iota dim {dim} is out of range for a rank-{rank} result")
        if elem_name(self.result) not in NUMERIC_ELEMENTS:
            raise VerifyException(
                f"iota makes {', '.join(NUMERIC_ELEMENTS)} tensors, not {elem_name(self.result)}"
            )


@irdl_op_definition
class RandomUniformOp(_RandomOp):
    """Uniform samples in [minval, maxval): reals for a float result, integers for an integer
    one (rand: [0, 1); randint: [low, high)), from the seed and each element's global index.

        %u = flame.random_uniform %seed {minval = 0.0 : f64, maxval = 1.0 : f64} : i64 -> tensor<4x4xf32>
    """

    name = "flame.random_uniform"
    minval = prop_def(FloatAttr[Float64Type])
    maxval = prop_def(FloatAttr[Float64Type])

    def __init__(
        self,
        seed: SSAValue,
        minval: float,
        maxval: float,
        result_type: TensorType,
        *,
        layout: LayoutAttr | None = None,
    ):
        self._init([seed], result_type, layout, minval=float64(minval), maxval=float64(maxval))

    def verify_(self) -> None:
        check_uniform_range(elem_name(self.result), self.minval.value.data, self.maxval.value.data)


def check_uniform_range(elem: str, low: float, high: float) -> None:
    """A uniform range the element type can hold (the rule is pyflame.core.shapes', shared with
    the mesh and pe verifiers)."""
    problem = shapes.uniform_range_problem(elem, low, high)
    if problem is not None:
        raise VerifyException(problem)


CREATION_OPS: list[type[FlameOp]] = [IotaOp, RandomUniformOp]


# --- reductions ---------------------------------------------------------------------------
# Primitives, lowered by flame-to-mesh: reduce_sum, reduce_prod, reduce_max, reduce_min (one op
# per kind of pyflame/core/reductions.py) and reduce_mean (a sum, then a scale). Composites,
# rewritten into primitives by the `decompose` pass: argmax, argmin, logsumexp, var, std,
# softmax, log_softmax. `pf.ir(t, stage="flame")` shows the composites.


def _is_float(value: SSAValue) -> bool:
    return elementwise.ELEMENT_TYPES.get(elem_name(value), ("", 0, False))[2]


@irdl_op_definition
class ReduceProdOp(_ReduceOp):
    name = "flame.reduce_prod"


class _NonemptyReduceOp(_ReduceOp):
    """max and min have no value over no elements: a reduced dim of size 0 is refused (as in
    PyTorch)."""

    def verify_(self) -> None:
        super().verify_()
        _check(
            shapes.nonempty_reduction,
            tensor_shape(self.input),
            self.dim_tuple,
            self.name.removeprefix("flame."),
        )


@irdl_op_definition
class ReduceMaxOp(_NonemptyReduceOp):
    """Max over `dims` (NaN wins, as in torch.amax)."""

    name = "flame.reduce_max"


@irdl_op_definition
class ReduceMinOp(_NonemptyReduceOp):
    """Min over `dims` (NaN wins, as in torch.amin)."""

    name = "flame.reduce_min"


#: the primitive reduction op of each kind of pyflame/core/reductions.py
REDUCE_OPS: dict[str, type[_ReduceOp]] = {
    "sum": ReduceSumOp,
    "prod": ReduceProdOp,
    "max": ReduceMaxOp,
    "min": ReduceMinOp,
}


class _ArgOp(_ReduceOp):
    """The index of the first max (min) over `dims`, row-major over those dims, as i32
    (PyTorch returns int64). NaN counts as the max (min), as in PyTorch."""

    RESULT_ELEMENT: ClassVar[Attribute | None] = i32

    def verify_(self) -> None:
        self._check_shape()
        _check(
            shapes.nonempty_reduction,
            tensor_shape(self.input),
            self.dim_tuple,
            self.name.removeprefix("flame."),
        )
        if elem_name(self.result) != "i32":
            raise VerifyException(f"'{self.name}' result must hold i32")


@irdl_op_definition
class ArgmaxOp(_ArgOp):
    """Composite: reduce_max, then the smallest index (iota) where the input equals it.

    %i = flame.argmax %x {dims = array<i64: 1>} : tensor<4x8xf32> -> tensor<4xi32>
    """

    name = "flame.argmax"


@irdl_op_definition
class ArgminOp(_ArgOp):
    name = "flame.argmin"


class _FloatReduceOp(_ReduceOp):
    def verify_(self) -> None:
        super().verify_()
        if not _is_float(self.input):
            raise VerifyException(f"'{self.name}' needs floating-point operands")


@irdl_op_definition
class LogsumexpOp(_FloatReduceOp):
    """Composite: log(sum(exp(x - m))) + m, m the max over `dims` (0 where it is infinite).

    %l = flame.logsumexp %x {dims = array<i64: 1>} : tensor<4x8xf32> -> tensor<4xf32>
    """

    name = "flame.logsumexp"


class _MomentOp(_FloatReduceOp):
    """`correction`: divide the sum of squared deviations by max(0, count - correction)."""

    correction = prop_def(FloatAttr[Float64Type])

    def __init__(
        self,
        input: SSAValue,
        dims: Sequence[int],
        correction: float,
        keepdim: bool = False,
        *,
        layout: LayoutAttr | None = None,
    ):
        self._init_reduce(input, dims, keepdim, layout, correction=float64(correction))


@irdl_op_definition
class VarOp(_MomentOp):
    """Composite: sum((x - mean)^2) / max(0, count - correction) over `dims`.

    %v = flame.var %x {correction = 1.0 : f64, dims = array<i64: 0>} : tensor<4x8xf32> -> tensor<8xf32>
    """

    name = "flame.var"


@irdl_op_definition
class StdOp(_MomentOp):
    """Composite: sqrt(var)."""

    name = "flame.std"


class _SoftmaxOp(FlameOp):
    input = operand_def(TensorType)
    dim = prop_def(IntegerAttr[I64])
    result = result_def(TensorType)
    assembly_format = "$input attr-dict `:` type($input) `->` type($result)"
    traits = traits_def(Pure())

    def __init__(self, input: SSAValue, dim: int, *, layout: LayoutAttr | None = None):
        self._init([input], input.type, layout, dim=int64(dim))

    @property
    def dim_index(self) -> int:
        return self.dim.value.data

    def verify_(self) -> None:
        shape = tensor_shape(self.input)
        _check(shapes.check_dims, (self.dim_index,), max(len(shape), 1))
        self._check_result(shape)
        self._check_elem(self.input)
        if not _is_float(self.input):
            raise VerifyException(f"'{self.name}' needs floating-point operands")


@irdl_op_definition
class SoftmaxOp(_SoftmaxOp):
    """Composite: exp(x - max) / sum(exp(x - max)) along `dim` (half floats in float32).

    %s = flame.softmax %x {dim = 1 : i64} : tensor<4x8xf32> -> tensor<4x8xf32>
    """

    name = "flame.softmax"


@irdl_op_definition
class LogSoftmaxOp(_SoftmaxOp):
    """Composite: (x - max) - log(sum(exp(x - max))) along `dim` (half floats in float32)."""

    name = "flame.log_softmax"


#: ops the `decompose` pass rewrites into the others (each has an entry in its table)
COMPOSITE_OPS: list[type[FlameOp]] = [
    ArgmaxOp,
    ArgminOp,
    LogsumexpOp,
    VarOp,
    StdOp,
    SoftmaxOp,
    LogSoftmaxOp,
]
REDUCTION_OPS: list[type[FlameOp]] = [ReduceProdOp, ReduceMaxOp, ReduceMinOp, *COMPOSITE_OPS]


# --- indexed rows --------------------------------------------------------------------------
# Data-dependent addressing of whole rows: the PEs that hold a table's rows read (or add into)
# the rows an index names, so a lookup moves index-sized and output-sized data, never the
# table. gather_rows and scatter_add_rows are each other's transpose (their gradients).


def _check_index(op: FlameOp, index: SSAValue) -> None:
    if elem_name(index) != "i32":
        raise VerifyException(f"'{op.name}' index must hold i32, got {elem_name(index)}")


def _check_rows_elem(op: FlameOp, value: SSAValue) -> None:
    if elem_name(value) == "i1":
        raise VerifyException(f"'{op.name}' does not take i1 rows (convert them to i32)")


@irdl_op_definition
class GatherRowsOp(FlameOp):
    """`out[k..., :] = table[index[k...], :]`: the rows of a 2-D table at an i32 index of any
    shape (embedding, index_select along dim 0). An index outside [0, V) gives a zero row (the frontend adds a
    runtime check that raises PyTorch's IndexError after the run).

        %e = flame.gather_rows %w, %i : (tensor<4096x256xf32>, tensor<64xi32>) -> tensor<64x256xf32>
    """

    name = "flame.gather_rows"
    table = operand_def(TensorType)
    index = operand_def(TensorType)
    result = result_def(TensorType)
    assembly_format = (
        "$table `,` $index attr-dict `:` `(` type($table) `,` type($index) `)` `->` type($result)"
    )
    traits = traits_def(Pure())

    def __init__(self, table: SSAValue, index: SSAValue, *, layout: LayoutAttr | None = None):
        shape = _infer(shapes.gather_rows, tensor_shape(table), tensor_shape(index))
        self._init([table, index], TensorType(element_type(table), shape), layout)

    def verify_(self) -> None:
        rule = shapes.gather_rows
        self._check_result(_check(rule, tensor_shape(self.table), tensor_shape(self.index)))
        _check_index(self, self.index)
        _check_rows_elem(self, self.table)
        self._check_elem(self.table)


@irdl_op_definition
class ScatterAddRowsOp(FlameOp):
    """`out = zeros(rows, D); out[index[k...], :] += src[k..., :]`: the transpose of gather_rows
    (its gradient; embedding's weight gradient). Indices outside [0, rows) add nothing.

        %g = flame.scatter_add_rows %i, %d {rows = 4096 : i64} : (tensor<64xi32>, tensor<64x256xf32>) -> tensor<4096x256xf32>
    """

    name = "flame.scatter_add_rows"
    index = operand_def(TensorType)
    src = operand_def(TensorType)
    rows = prop_def(IntegerAttr[I64])
    result = result_def(TensorType)
    assembly_format = (
        "$index `,` $src attr-dict `:` `(` type($index) `,` type($src) `)` `->` type($result)"
    )
    traits = traits_def(Pure())

    def __init__(
        self, index: SSAValue, src: SSAValue, rows: int, *, layout: LayoutAttr | None = None
    ):
        shape = _infer(shapes.scatter_add_rows, tensor_shape(index), tensor_shape(src), rows)
        self._init([index, src], TensorType(element_type(src), shape), layout, rows=int64(rows))

    @property
    def row_count(self) -> int:
        return self.rows.value.data

    def verify_(self) -> None:
        rule = shapes.scatter_add_rows
        shape = _check(rule, tensor_shape(self.index), tensor_shape(self.src), self.row_count)
        self._check_result(shape)
        _check_index(self, self.index)
        _check_rows_elem(self, self.src)
        self._check_elem(self.src)


INDEXED_OPS: list[type[FlameOp]] = [GatherRowsOp, ScatterAddRowsOp]


Flame = Dialect(
    "flame",
    [
        FillOp,
        RandomNormalOp,
        *UNARY_OPS.values(),
        *BINARY_OPS.values(),
        WhereOp,
        ConvertOp,
        ReduceSumOp,
        ReduceMeanOp,
        MatmulOp,
        TransposeOp,
        ReshapeOp,
        *SHAPE_OPS,
        *CONV_OPS,
        *CREATION_OPS,
        *REDUCTION_OPS,
        *INDEXED_OPS,
    ],
    [LayoutAttr, LayoutKindAttr],
)
