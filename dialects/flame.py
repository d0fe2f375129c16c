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

from collections.abc import Sequence

from xdsl.dialects.builtin import (
    ArrayAttr,
    DenseArrayBase,
    FloatAttr,
    IntAttr,
    IntegerType,
    StringAttr,
    TensorType,
    UnitAttr,
    i64,
)
from xdsl.ir import Attribute, Dialect, ParametrizedAttribute, SSAValue
from xdsl.irdl import (
    IRDLOperation,
    attr_def,
    irdl_attr_definition,
    irdl_op_definition,
    operand_def,
    opt_attr_def,
    param_def,
    result_def,
    traits_def,
)
from xdsl.parser import AttrParser
from xdsl.printer import Printer
from xdsl.traits import Pure
from xdsl.utils.exceptions import VerifyException

from pyflame import shapes
from pyflame.errors import ShapeError

# --------------------------------------------------------------------------- attributes

LAYOUT_KINDS = {
    # kind: number of integer parameters
    "single": 0,
    "grid": 2,
    "row_partition": 1,
    "col_partition": 1,
    "replicated": 2,
}


@irdl_attr_definition
class LayoutAttr(ParametrizedAttribute):
    """A user's layout hint: `#flame.layout<grid [8, 8]>`, `#flame.layout<single>`."""

    name = "flame.layout"

    kind: StringAttr = param_def()
    sizes: ArrayAttr[IntAttr] = param_def()

    def __init__(self, kind: str, sizes: Sequence[int] = ()):
        super().__init__(StringAttr(kind), ArrayAttr([IntAttr(s) for s in sizes]))

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
            params = (StringAttr(kind), ArrayAttr([IntAttr(s) for s in sizes]))
            problem = cls.problem(kind, sizes)
            if problem:
                parser.raise_error(problem, start, parser.pos)
        return params

    @staticmethod
    def problem(kind: str, sizes: Sequence[int]) -> str | None:
        """What is wrong with these parameters, or None."""
        if kind not in LAYOUT_KINDS:
            return f"unknown layout kind '{kind}' (one of {sorted(LAYOUT_KINDS)})"
        if len(sizes) != LAYOUT_KINDS[kind]:
            return f"layout '{kind}' takes {LAYOUT_KINDS[kind]} sizes, got {len(sizes)}"
        if any(s < 1 for s in sizes):
            return f"layout '{kind}' sizes must be positive"
        return None

    def print_parameters(self, printer: Printer) -> None:
        with printer.in_angle_brackets():
            printer.print_string(self.kind.data)
            if self.sizes.data:
                printer.print_string(" [" + ", ".join(str(s.data) for s in self.sizes) + "]")

    def verify(self) -> None:
        problem = self.problem(self.kind.data, self.size_tuple)
        if problem:
            raise VerifyException(problem)

    @property
    def size_tuple(self) -> tuple[int, ...]:
        return tuple(s.data for s in self.sizes.data)


# --------------------------------------------------------------------------- helpers


def tensor_shape(value: SSAValue | Attribute) -> tuple[int, ...]:
    typ = value.type if isinstance(value, SSAValue) else value
    assert isinstance(typ, TensorType)
    return tuple(typ.get_shape())


def dense_i64(values: Sequence[int]) -> DenseArrayBase:
    return DenseArrayBase.from_list(i64, list(values))


def _check(rule, *args):
    """Run a shared shape rule, turning its ShapeError into a verifier error."""
    try:
        return rule(*args)
    except ShapeError as err:
        raise VerifyException(str(err)) from err


class FlameOp(IRDLOperation):
    """Base: every flame op may carry a layout hint."""

    layout = opt_attr_def(LayoutAttr)

    def _check_result(self, expected: tuple[int, ...]) -> None:
        got = tensor_shape(self.result)  # type: ignore[attr-defined]
        if got != tuple(expected):
            raise VerifyException(
                f"result shape {list(got)} should be {list(expected)} for '{self.name}'"
            )

    def _check_elem(self, *values: SSAValue) -> None:
        elems = {v.type.element_type for v in values}  # type: ignore[attr-defined]
        elems.add(self.result.type.element_type)  # type: ignore[attr-defined]
        if len(elems) != 1:
            raise VerifyException(
                f"'{self.name}' needs one element type, got {sorted(map(str, elems))}"
            )


# --------------------------------------------------------------------------- creation


@irdl_op_definition
class FillOp(FlameOp):
    """A tensor with every element `value` (zeros, ones, full)."""

    name = "flame.fill"
    value = attr_def(FloatAttr)
    result = result_def(TensorType)
    assembly_format = "attr-dict `:` type($result)"
    traits = traits_def(Pure())


class _RandomOp(FlameOp):
    """Random values as a function of the seed operand and each element's global index."""

    seed = operand_def(IntegerType)
    result = result_def(TensorType)
    assembly_format = "$seed attr-dict `:` type($seed) `->` type($result)"
    traits = traits_def(Pure())


@irdl_op_definition
class RandomNormalOp(_RandomOp):
    """Standard normal samples (randn)."""

    name = "flame.random_normal"


# --------------------------------------------------------------------------- elementwise


class _BinaryOp(FlameOp):
    lhs = operand_def(TensorType)
    rhs = operand_def(TensorType)
    result = result_def(TensorType)
    assembly_format = (
        "$lhs `,` $rhs attr-dict `:` `(` type($lhs) `,` type($rhs) `)` `->` type($result)"
    )
    traits = traits_def(Pure())

    def verify_(self) -> None:
        self._check_result(_check(shapes.elementwise, tensor_shape(self.lhs),
                                  tensor_shape(self.rhs), self.name))
        self._check_elem(self.lhs, self.rhs)


@irdl_op_definition
class AddOp(_BinaryOp):
    name = "flame.add"


@irdl_op_definition
class SubOp(_BinaryOp):
    name = "flame.sub"


@irdl_op_definition
class MulOp(_BinaryOp):
    name = "flame.mul"


@irdl_op_definition
class DivOp(_BinaryOp):
    name = "flame.div"


class _UnaryOp(FlameOp):
    input = operand_def(TensorType)
    result = result_def(TensorType)
    assembly_format = "$input attr-dict `:` type($input) `->` type($result)"
    traits = traits_def(Pure())

    def verify_(self) -> None:
        self._check_result(tensor_shape(self.input))
        self._check_elem(self.input)


@irdl_op_definition
class NegOp(_UnaryOp):
    name = "flame.neg"


@irdl_op_definition
class ReluOp(_UnaryOp):
    name = "flame.relu"


# --------------------------------------------------------------------------- reductions


class _ReduceOp(FlameOp):
    input = operand_def(TensorType)
    dims = attr_def(DenseArrayBase)
    keepdim = opt_attr_def(UnitAttr)
    result = result_def(TensorType)
    assembly_format = "$input attr-dict `:` type($input) `->` type($result)"
    traits = traits_def(Pure())

    @property
    def dim_tuple(self) -> tuple[int, ...]:
        return tuple(self.dims.get_values())

    def verify_(self) -> None:
        rank = len(tensor_shape(self.input))
        dims = self.dim_tuple
        if list(dims) != sorted(set(dims)) or any(not 0 <= d < rank for d in dims):
            raise VerifyException(
                f"dims {list(dims)} must be sorted, unique and in [0, {rank})"
            )
        self._check_result(
            _check(shapes.reduce, tensor_shape(self.input), dims, self.keepdim is not None)
        )
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

    def verify_(self) -> None:
        self._check_result(_check(shapes.matmul, tensor_shape(self.lhs), tensor_shape(self.rhs)))
        self._check_elem(self.lhs, self.rhs)


# --------------------------------------------------------------------------- shape


@irdl_op_definition
class TransposeOp(FlameOp):
    """Permute dimensions: result dim i is input dim perm[i]."""

    name = "flame.transpose"
    input = operand_def(TensorType)
    perm = attr_def(DenseArrayBase)
    result = result_def(TensorType)
    assembly_format = "$input attr-dict `:` type($input) `->` type($result)"
    traits = traits_def(Pure())

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

    def verify_(self) -> None:
        self._check_result(
            _check(shapes.reshape, tensor_shape(self.input), tensor_shape(self.result))
        )
        self._check_elem(self.input)


Flame = Dialect(
    "flame",
    [
        FillOp,
        RandomNormalOp,
        AddOp,
        SubOp,
        MulOp,
        DivOp,
        NegOp,
        ReluOp,
        ReduceSumOp,
        ReduceMeanOp,
        MatmulOp,
        TransposeOp,
        ReshapeOp,
    ],
    [LayoutAttr],
)
