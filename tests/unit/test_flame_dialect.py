"""The flame dialect: op classes match the ground floor's op tables one to one; every op has a
typed builder whose ops verify, print and parse back with the same properties."""

from collections.abc import Callable

import pytest
from xdsl.dialects.builtin import (
    DenseArrayBase,
    FloatAttr,
    IntegerAttr,
    ModuleOp,
    TensorType,
    UnitAttr,
    f32,
    i1,
    i32,
    i64,
)
from xdsl.dialects.func import FuncOp, ReturnOp
from xdsl.ir import Block, Region, SSAValue
from xdsl.irdl import IRDLOperation
from xdsl.parser import Parser
from xdsl.utils.exceptions import VerifyException

from pyflame import compiler
from pyflame.core import elementwise
from pyflame.core.errors import ShapeError
from pyflame.dialects import flame


def test_every_elementwise_function_has_one_op_class() -> None:
    for table, ops in (
        (elementwise.UNARY, flame.UNARY_OPS),
        (elementwise.BINARY, flame.BINARY_OPS),
    ):
        assert sorted(ops) == sorted(table)
        for name, cls in ops.items():
            assert cls.name == f"flame.{name}"
            assert cls.ENTRY is table[name]
            assert getattr(flame, cls.__name__) is cls  # defined by name, visible to grep


def test_the_dialect_registers_every_op_class() -> None:
    registered = set(flame.Flame.operations)
    assert set(flame.UNARY_OPS.values()) | set(flame.BINARY_OPS.values()) <= registered
    assert len({op.name for op in registered}) == len(registered)


# --------------------------------------------------------------------------- builders

ARG_TYPES = {
    "x": TensorType(f32, [4, 8]),
    "y": TensorType(f32, [4, 8]),
    "b": TensorType(i1, [4, 8]),
    "k": TensorType(i32, [4, 8]),
    "seed": i64,
    "img": TensorType(f32, [1, 2, 6, 6]),
    "w": TensorType(f32, [3, 2, 3, 3]),
    "bias": TensorType(f32, [3]),
    "idx": TensorType(i32, [5]),
}
Args = dict[str, SSAValue]


#: the argument an elementwise op of each operand kind takes (others: "x", "y")
_KIND_ARG = {"bool": "b", "int": "k"}


def _unary(cls: type[flame.ElementwiseUnaryOp]) -> Callable[[Args], flame.FlameOp]:
    return lambda a: cls(a[_KIND_ARG.get(cls.ENTRY.operands, "x")])


def _binary(cls: type[flame.ElementwiseBinaryOp]) -> Callable[[Args], flame.FlameOp]:
    arg = _KIND_ARG.get(cls.ENTRY.operands)
    if arg is not None:
        return lambda a: cls(a[arg], a[arg])
    return lambda a: cls(a["x"], a["y"])


#: one builder call per op class, and the result type it must have ("": its operand's type)
BUILT: dict[type[flame.FlameOp], tuple[Callable[[Args], flame.FlameOp], str]] = {
    **{c: (_unary(c), "") for c in flame.UNARY_OPS.values()},
    **{
        c: (_binary(c), "tensor<4x8xi1>" if c.ENTRY.result == "bool" else "")
        for c in flame.BINARY_OPS.values()
    },
    flame.FillOp: (lambda a: flame.FillOp(0.5, TensorType(f32, [2, 3])), "tensor<2x3xf32>"),
    flame.RandomNormalOp: (
        lambda a: flame.RandomNormalOp(a["seed"], TensorType(f32, [4])),
        "tensor<4xf32>",
    ),
    flame.RandomUniformOp: (
        lambda a: flame.RandomUniformOp(a["seed"], -2, 3, TensorType(i32, [4])),
        "tensor<4xi32>",
    ),
    flame.IotaOp: (
        lambda a: flame.IotaOp(1, -1.5, 0.25, TensorType(f32, [4, 6])),
        "tensor<4x6xf32>",
    ),
    flame.WhereOp: (lambda a: flame.WhereOp(a["b"], a["x"], a["y"]), "tensor<4x8xf32>"),
    flame.ConvertOp: (lambda a: flame.ConvertOp(a["x"], i32), "tensor<4x8xi32>"),
    flame.ReduceSumOp: (lambda a: flame.ReduceSumOp(a["x"], [1], True), "tensor<4x1xf32>"),
    flame.ReduceMeanOp: (lambda a: flame.ReduceMeanOp(a["x"], [0, 1]), "tensor<f32>"),
    flame.ReduceProdOp: (lambda a: flame.ReduceProdOp(a["k"], [0]), "tensor<8xi32>"),
    flame.ReduceMaxOp: (lambda a: flame.ReduceMaxOp(a["x"], [1], True), "tensor<4x1xf32>"),
    flame.ReduceMinOp: (lambda a: flame.ReduceMinOp(a["x"], [0]), "tensor<8xf32>"),
    flame.ArgmaxOp: (lambda a: flame.ArgmaxOp(a["x"], [1]), "tensor<4xi32>"),
    flame.ArgminOp: (lambda a: flame.ArgminOp(a["x"], [0], True), "tensor<1x8xi32>"),
    flame.LogsumexpOp: (lambda a: flame.LogsumexpOp(a["x"], [1]), "tensor<4xf32>"),
    flame.VarOp: (lambda a: flame.VarOp(a["x"], [0], 1.0), "tensor<8xf32>"),
    flame.StdOp: (lambda a: flame.StdOp(a["x"], [1], 0.0, True), "tensor<4x1xf32>"),
    flame.SoftmaxOp: (lambda a: flame.SoftmaxOp(a["x"], 1), "tensor<4x8xf32>"),
    flame.LogSoftmaxOp: (lambda a: flame.LogSoftmaxOp(a["x"], 0), "tensor<4x8xf32>"),
    flame.MatmulOp: (
        lambda a: flame.MatmulOp(a["x"], flame.TransposeOp(a["y"], [1, 0]).result),
        "tensor<4x4xf32>",
    ),
    flame.TransposeOp: (lambda a: flame.TransposeOp(a["x"], [1, 0]), "tensor<8x4xf32>"),
    flame.ReshapeOp: (lambda a: flame.ReshapeOp(a["x"], [2, 16]), "tensor<2x16xf32>"),
    flame.BroadcastToOp: (
        lambda a: flame.BroadcastToOp(a["x"], [3, 4, 8]),
        "tensor<3x4x8xf32>",
    ),
    flame.SliceOp: (
        lambda a: flame.SliceOp(a["x"], [1, 0], [4, 8], [2, 3]),
        "tensor<2x3xf32>",
    ),
    flame.ConcatOp: (lambda a: flame.ConcatOp([a["x"], a["y"], a["x"]], 0), "tensor<12x8xf32>"),
    flame.PadOp: (lambda a: flame.PadOp(a["x"], [1, 0], [0, -2], 7.0), "tensor<5x6xf32>"),
    flame.Conv2dOp: (
        lambda a: flame.Conv2dOp(a["img"], a["w"], a["bias"], (1, 1), (1, 1, 1, 1), (1, 1)),
        "tensor<1x3x6x6xf32>",
    ),
    flame.Conv2dWeightGradOp: (  # the grad made by a conv2d of the image
        lambda a: flame.Conv2dWeightGradOp(
            a["img"],
            flame.Conv2dOp(a["img"], a["w"], None, (1, 1), (1, 1, 1, 1), (1, 1)).result,
            (3, 3),
            (1, 1),
            (1, 1, 1, 1),
            (1, 1),
        ),
        "tensor<3x2x3x3xf32>",
    ),
    flame.MaxPool2dOp: (
        lambda a: flame.MaxPool2dOp(a["img"], (2, 2), (2, 2), (0, 0, 0, 0)),
        "tensor<1x2x3x3xf32>",
    ),
    flame.AvgPool2dOp: (
        lambda a: flame.AvgPool2dOp(a["img"], (3, 3), (2, 2), (1, 1, 1, 1), divisor=4),
        "tensor<1x2x3x3xf32>",
    ),
    flame.GatherRowsOp: (lambda a: flame.GatherRowsOp(a["x"], a["idx"]), "tensor<5x8xf32>"),
    flame.ScatterAddRowsOp: (
        lambda a: flame.ScatterAddRowsOp(a["idx"], flame.GatherRowsOp(a["y"], a["idx"]).result, 6),
        "tensor<6x8xf32>",
    ),
}


def test_every_op_class_has_a_builder_of_its_own() -> None:
    for cls in flame.Flame.operations:
        assert cls in BUILT, f"no builder example for {cls.name}"
        assert cls.__init__ is not IRDLOperation.__init__, f"{cls.name} has no builder"


def build(cls: type[flame.FlameOp]) -> tuple[ModuleOp, flame.FlameOp]:
    """`cls`'s example op, inside a verified func whose arguments are ARG_TYPES."""
    block = Block(arg_types=list(ARG_TYPES.values()))
    args = dict(zip(ARG_TYPES, block.args, strict=True))
    op = BUILT[cls][0](args)
    for operand in op.operands:  # an operand made by another builder (matmul's transpose)
        owner = operand.owner
        if isinstance(owner, flame.FlameOp) and owner.parent is None:
            block.add_op(owner)
    block.add_op(op)
    block.add_op(ReturnOp(op.results[0]))
    fn = FuncOp("f", (list(ARG_TYPES.values()), [op.results[0].type]), Region(block))
    module = ModuleOp([fn])
    module.verify()
    return module, op


@pytest.mark.parametrize("cls", sorted(BUILT, key=lambda c: c.name), ids=lambda c: c.name)
def test_built_ops_verify_print_and_parse_back(cls: type[flame.FlameOp]) -> None:
    module, op = build(cls)
    expected = BUILT[cls][1] or str(op.operands[0].type)
    assert str(op.results[0].type) == expected
    text = str(module)
    parsed = Parser(compiler.make_context(), text).parse_module()
    parsed.verify()
    assert str(parsed) == text
    again = next(o for o in parsed.walk() if isinstance(o, cls))
    assert again.properties == op.properties
    assert not again.attributes  # parameters and the layout hint are properties


def test_builders_make_typed_properties() -> None:
    module, op = build(flame.ReduceMaxOp)
    assert isinstance(op, flame.ReduceMaxOp)
    assert op.dim_tuple == (1,)
    assert isinstance(op.dims, DenseArrayBase) and op.dims.elt_type == i64
    assert op.keepdim == UnitAttr()
    assert "reduce_max %x {dims = array<i64: 1>, keepdim}" in str(module).replace("%0", "%x")
    _, iota = build(flame.IotaOp)
    assert iota.properties["dim"] == IntegerAttr(1, i64)
    assert iota.properties["step"] == FloatAttr(0.25, 64)
    _, avg = build(flame.AvgPool2dOp)
    assert avg.count_include_pad == UnitAttr() and avg.divisor == IntegerAttr(4, i64)


def test_a_builder_takes_a_layout_hint_printed_last() -> None:
    block = Block(arg_types=[ARG_TYPES["x"]])
    op = flame.ReduceSumOp(block.args[0], [0], True, layout=flame.LayoutAttr("grid", [2, 2]))
    assert op.layout == flame.LayoutAttr("grid", [2, 2])
    assert "{dims = array<i64: 0>, keepdim, layout = #flame.layout<grid [2, 2]>}" in str(op)


def test_a_builder_refuses_operands_its_op_does_not_take() -> None:
    x = Block(arg_types=[ARG_TYPES["x"]]).args[0]
    with pytest.raises(ShapeError, match="matmul"):
        flame.MatmulOp(x, x)
    with pytest.raises(ShapeError):
        flame.ReduceSumOp(x, [2])
    # a property of the wrong type is the verifier's to refuse
    bad = flame.ConcatOp([x, x], 0)
    bad.properties["dim"] = IntegerAttr(0, i32)
    with pytest.raises(VerifyException, match="i32"):
        bad.verify()


def test_layout_kinds_are_a_closed_enum() -> None:
    attr = flame.LayoutAttr("grid", [2, 2])
    assert isinstance(attr.kind, flame.LayoutKindAttr)
    assert attr.kind.data is flame.LayoutKind.GRID
    assert str(attr) == "#flame.layout<grid [2, 2]>"
    assert str(attr.kind) == "#flame<layout_kind grid>"
    assert set(flame.LAYOUT_KINDS) == set(flame.LayoutKind)
    with pytest.raises(ValueError, match="diagonal"):
        flame.LayoutAttr("diagonal")
