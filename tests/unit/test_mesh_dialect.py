"""The mesh dialect's typed construction: every op built with its builder verifies, prints in
the keyword form (enum first, `name value` properties) and parses back to the same op, in the
custom and the generic form; a name outside a closed set is a parse error that lists the set."""

from __future__ import annotations

import io
import math
import re

import pytest
from xdsl.context import Context
from xdsl.dialects import builtin, func, test
from xdsl.dialects.builtin import DenseArrayBase, FloatAttr, ModuleOp, TensorType, f32, i32, i64
from xdsl.ir import Block, Operation, Region, SSAValue
from xdsl.printer import Printer
from xdsl.utils.exceptions import ParseError

from pyflame.core.distribution import Distribution
from pyflame.core.elementwise import BinaryFn, UnaryFn
from pyflame.core.reductions import PoolKind, ReductionKind
from pyflame.dialects import mesh
from pyflame.tools._context import parse_module, register_pyflame_dialects


def context() -> Context:
    ctx = Context()
    for dialect in (builtin.Builtin, func.Func, test.Test):
        ctx.load_dialect(dialect)
    register_pyflame_dialects(ctx)
    return ctx


def tensor(shape: tuple[int, ...], grid: tuple[int, int], split: tuple[str, ...]):
    return mesh.MeshTensorType(Distribution(shape, grid, split), f32)


def value(typ) -> SSAValue:
    """A value of type `typ` made by a `test.op` (the test dialect's opaque producer)."""
    return test.TestOp(result_types=[typ]).results[0]


def module_of(*ops: Operation) -> ModuleOp:
    """The producers of the ops' operands, then the ops, in one function body."""
    producers: list[Operation] = []
    for op in ops:
        for v in op.operands:
            owner = v.owner
            if isinstance(owner, test.TestOp) and owner not in producers:
                if owner.parent is not None:  # shared with an earlier module
                    owner.detach()
                producers.append(owner)
    body = Block([*producers, *ops, func.ReturnOp()])
    return ModuleOp([func.FuncOp("f", ((), ()), Region(body))])


def printed(module: ModuleOp, generic: bool = False) -> str:
    out = io.StringIO()
    Printer(stream=out, print_generic_format=generic).print_op(module)
    return out.getvalue()


def round_trip(op: Operation) -> str:
    """`op` verified, printed and parsed back (custom and generic); returns its custom text
    with every SSA name written `%v`."""
    module = module_of(op)
    module.verify()
    text = printed(module)
    for form in (text, printed(module, generic=True)):
        parsed = parse_module(context(), form, "test")
        parsed.verify()
        assert parsed.is_structurally_equivalent(module), form
    line = next(line.strip() for line in text.splitlines() if op.name in line)
    return re.sub(r"%\d+", "%v", line)


A = tensor((64, 48), (4, 4), ("r", "c"))
B = tensor((48, 32), (4, 4), ("r", "c"))
ROW = tensor((48,), (4, 4), ("c",))
X = tensor((1, 3, 13, 11), (4, 4), ("", "", "r", "c"))
W = tensor((4, 3, 3, 3), (4, 4), ("", "", "", ""))
BIAS = tensor((4,), (4, 4), ("",))
S = "!mesh.tensor<64x48xf32 on 4x4 split [r, c]>"


def test_unary_with_and_without_a_scalar() -> None:
    x = value(ROW)
    assert round_trip(mesh.UnaryOp(UnaryFn("relu"), x)).startswith("%v = mesh.unary relu %v :")
    scaled = mesh.UnaryOp("scale", x, scalar=0.5)
    assert scaled.fn.data == UnaryFn("scale") and scaled.result.type == ROW
    assert "mesh.unary scale %v by 5.000000e-01 :" in round_trip(scaled)


def test_binary_select_and_convert() -> None:
    x, y = value(ROW), value(ROW)
    assert "mesh.binary add %v, %v :" in round_trip(mesh.BinaryOp(BinaryFn("add"), x, y, ROW))
    cond = value(mesh.MeshTensorType(ROW.dist, builtin.i1))
    round_trip(mesh.SelectOp(cond, x, y, ROW))
    converted = mesh.ConvertOp(x, builtin.f16)
    assert converted.result.type == mesh.MeshTensorType(ROW.dist, builtin.f16)
    round_trip(converted)


def test_non_finite_floats_round_trip_in_hex() -> None:
    """-inf (max-pooling's padding) and nan (the mean of no elements) print as MLIR's hex bits,
    which xDSL's typed float parsing would not read back."""
    x = value(ROW)
    line = round_trip(mesh.MaskPadOp(x, -math.inf))
    assert "mesh.mask_pad %v value 0xfff0000000000000 :" in line
    nan = mesh.UnaryOp("scale", x, scalar=math.nan)
    text = printed(module_of(nan))
    assert "by 0x7ff8000000000000" in text
    parsed = parse_module(context(), text, "test")
    scalars = [op.scalar for op in parsed.walk() if isinstance(op, mesh.UnaryOp)]
    assert len(scalars) == 1 and isinstance(scalars[0], FloatAttr)
    assert math.isnan(scalars[0].value.data)


def test_reductions_infer_their_results() -> None:
    a = value(A)
    local = mesh.LocalReduceOp(ReductionKind("max"), a, (0,))
    assert local.result.type == tensor((4, 48), (4, 4), ("r", "c"))
    assert "mesh.local_reduce max %v dims [0] :" in round_trip(local)
    partial = value(local.result.type)
    total = mesh.AllReduceOp("max", partial, (0,))
    assert total.result.type == tensor((1, 48), (4, 4), ("", "c"))
    assert "mesh.allreduce max %v dims [0] :" in round_trip(total)


def test_transpose_matmul_and_moves() -> None:
    a = value(A)
    t = mesh.TransposeOp(a, (1, 0))
    assert t.result.type == tensor((48, 64), (4, 4), ("c", "r"))
    assert "mesh.transpose %v perm [1, 0] :" in round_trip(t)
    mm = mesh.MatmulOp(a, value(B), tensor((64, 32), (4, 4), ("r", "c")))
    assert mm.algorithm.data == mesh.MatmulAlgorithm.SUMMA
    assert "mesh.matmul summa %v, %v :" in round_trip(mm)
    for cls in (mesh.RedistributeOp, mesh.RelayoutOp):
        moved = cls(a, Distribution((64, 48), (2, 8), ("r", "c")))
        assert round_trip(moved).endswith("-> !mesh.tensor<64x48xf32 on 2x8 split [r, c]>")
    round_trip(mesh.ReshapeOp(a, Distribution((64, 1, 48), (4, 4), ("r", "", "c"))))
    round_trip(mesh.BroadcastOp(value(ROW), Distribution((3, 48), (4, 4), ("", "c"))))


def test_host_io_and_creation() -> None:
    host = value(TensorType(f32, (64, 48)))
    scattered = mesh.ScatterOp(host, A.dist)
    assert scattered.result.type == A
    round_trip(scattered)
    gathered = mesh.GatherOp(value(A))
    assert gathered.result.type == TensorType(f32, (64, 48))
    round_trip(gathered)
    assert "mesh.fill 1.000000e+00 :" in round_trip(mesh.FillOp(1.0, ROW))
    seed = value(i64)
    round_trip(mesh.RandomNormalOp(seed, A))
    iota = mesh.IotaOp(1, 0.0, 2.0, A)
    assert "mesh.iota dim 1 start 0.000000e+00 step 2.000000e+00 :" in round_trip(iota)
    uniform = mesh.RandomUniformOp(seed, -5.0, 5.0, A)
    assert "minval -5.000000e+00 maxval 5.000000e+00 :" in round_trip(uniform)


def test_zero_padded_knows_the_producers_that_zero_the_padding() -> None:
    """A host scatter's tiles, a redistribution's and a mask_pad to 0's hold zeros in their
    padding (flame lowering leaves out a mask_pad to 0 of them); anything else is unknown."""
    padded = tensor((10, 13), (4, 4), ("r", "c"))
    scattered = mesh.ScatterOp(value(TensorType(f32, (10, 13))), padded.dist).result
    assert mesh.zero_padded(scattered)
    moved = mesh.RedistributeOp(scattered, Distribution((10, 13), (2, 2), ("r", "c"))).result
    assert mesh.zero_padded(moved)
    assert mesh.zero_padded(mesh.MaskPadOp(value(padded), 0.0).result)
    assert not mesh.zero_padded(mesh.MaskPadOp(value(padded), -math.inf).result)
    assert mesh.zero_padded(mesh.TransposeOp(scattered, (1, 0)).result)
    column = mesh.ScatterOp(value(TensorType(f32, (10,))), Distribution((10,), (1, 4), ("c",)))
    unit = Distribution((10, 1), (1, 4), ("c", ""))
    assert mesh.zero_padded(mesh.ReshapeOp(column.result, unit).result)  # a size-1 dim added
    exp_col = mesh.UnaryOp(UnaryFn("exp"), column.result).result
    assert not mesh.zero_padded(mesh.ReshapeOp(exp_col, unit).result)
    assert not mesh.zero_padded(mesh.UnaryOp(UnaryFn("exp"), scattered).result)
    exp = mesh.UnaryOp(UnaryFn("exp"), scattered).result
    assert not mesh.zero_padded(mesh.TransposeOp(exp, (1, 0)).result)
    assert not mesh.zero_padded(value(padded))  # an opaque producer


def test_shape_ops_take_typed_dense_arrays() -> None:
    b = value(tensor((5, 6), (2, 2), ("r", "c")))
    sliced = mesh.SliceOp(b, (1, 0), (5, 6), (2, 3), Distribution((2, 2), (2, 2), ("r", "c")))
    assert isinstance(sliced.start, DenseArrayBase) and sliced.bounds == ((1, 0), (5, 6), (2, 3))
    assert "mesh.slice %v start [1, 0] stop [5, 6] step [2, 3] :" in round_trip(sliced)
    padded = mesh.PadOp(b, (0, 1), (2, -1), 0.0, Distribution((7, 6), (2, 2), ("r", "c")))
    assert padded.widths == ((0, 1), (2, -1))
    assert "mesh.pad %v low [0, 1] high [2, -1] value 0.000000e+00 :" in round_trip(padded)
    c = value(tensor((2, 6), (1, 1), ("", "")))
    cat = mesh.ConcatOp([b, c], 0, Distribution((7, 6), (2, 2), ("r", "c")))
    assert cat.dim_index == 0
    assert "mesh.concat %v, %v dim 0 :" in round_trip(cat)


def test_a_slice_may_reshape_its_window() -> None:
    """mesh.slice's result may be the window reshaped (as many elements): `window_shape` says
    so, and the pe.exchange index map carries it; another element count is an error."""
    from xdsl.utils.exceptions import VerifyException

    b = value(tensor((5, 6), (2, 2), ("r", "c")))
    plain = mesh.SliceOp(b, (1, 0), (5, 6), (1, 1), Distribution((4, 6), (2, 2), ("r", "c")))
    assert plain.window_shape is None
    heads = mesh.SliceOp(b, (1, 0), (5, 6), (1, 1), Distribution((4, 2, 3), (2, 2), ("", "r", "c")))
    heads.verify()
    assert heads.window_shape == (4, 6)
    assert mesh.slice_index_map((5, 6), (4, 2, 3), (1, 0), (1, 1), heads.window_shape) == (
        (1, 0),
        (1, 1),
        (4, 6),
    )
    assert mesh.slice_index_map((5, 6), (5, 6), (0, 0), (1, 1)) is None
    bad = mesh.SliceOp(b, (1, 0), (5, 6), (1, 1), Distribution((4, 5), (2, 2), ("r", "c")))
    with pytest.raises(VerifyException, match=r"slice result shape \[4, 5\] should be \[4, 6\]"):
        bad.verify()


def test_conv_and_pool() -> None:
    x, w, b = value(X), value(W), value(BIAS)
    out = Distribution((1, 4, 13, 11), (4, 4), ("", "", "r", "c"))
    conv = mesh.Conv2dOp(x, w, b, (1, 1), (1, 1, 1, 1), (1, 1), 1, out)
    assert conv.spatial() == ((3, 3), (1, 1), (1, 1, 1, 1), (1, 1))
    line = round_trip(conv)
    assert (
        "mesh.conv2d %v, %v, %v stride [1, 1] padding [1, 1, 1, 1] dilation [1, 1] groups 1 :"
        in line
    )
    no_bias = mesh.Conv2dOp(
        x, w, None, (2, 2), (0, 0, 0, 0), (1, 1), 1, out.with_(shape=(1, 4, 6, 5))
    )
    assert no_bias.bias is None
    round_trip(no_bias)
    pooled = Distribution((1, 3, 7, 6), (4, 4), ("", "", "r", "c"))
    pool = mesh.Pool2dOp(PoolKind.MAX, x, (3, 3), (2, 2), (1, 1, 1, 1), (1, 1), pooled)
    assert (
        "mesh.pool2d max %v kernel [3, 3] stride [2, 2] padding [1, 1, 1, 1] dilation [1, 1] :"
        in round_trip(pool)
    )


def test_builders_refuse_names_outside_the_closed_sets() -> None:
    x = value(ROW)
    with pytest.raises(ValueError, match="'frobnicate' is not a valid UnaryFn"):
        mesh.UnaryOp("frobnicate", x)
    with pytest.raises(ValueError, match="'median' is not a valid ReductionKind"):
        mesh.LocalReduceOp("median", value(A), (0,))
    with pytest.raises(ValueError, match="'strassen' is not a valid MatmulAlgorithm"):
        mesh.MatmulOp(value(A), value(B), A, "strassen")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"%v = mesh.unary frobnicate %a : {S}", "Expected `neg`, `abs`, `relu`, "),
        (f"%v = mesh.binary xor %a, %a : {S}, {S} -> {S}", "Expected `add`, `sub`, "),
        (f"%v = mesh.local_reduce median %a dims [0] : {S} -> {S}", "Expected `sum`, `prod`, "),
        (
            f"%v = mesh.matmul strassen %a, %a : ({S}, {S}) -> {S}",
            "Expected `summa`, `cannon`, `meshgemm`, or",
        ),
        (
            f'%0 = "mesh.unary"(%a) <{{fn = #mesh<unary_fn frobnicate>}}> : ({S}) -> {S}',
            "Expected `neg`",
        ),
        (f'%0 = mesh.unary %a {{fn = "relu"}} : {S}', "Expected `neg`"),  # the old text
    ],
)
def test_a_wrong_name_is_a_parse_error_listing_the_names(text: str, expected: str) -> None:
    source = f'%a = "test.op"() : () -> {S}\n{text}\n'
    with pytest.raises(ParseError, match=expected.replace("(", r"\(")) as err:
        parse_module(context(), source, "wrong.mlir")
    assert "wrong.mlir:2:" in str(err.value)


def test_the_dialect_registers_every_enum_attribute() -> None:
    names = {attr.name for attr in mesh.Mesh.attributes}
    assert {
        "mesh.unary_fn",
        "mesh.binary_fn",
        "mesh.reduction",
        "mesh.pool_kind",
        "mesh.matmul_algorithm",
    } <= names


def test_indexed_rows_infer_their_partials_and_round_trip() -> None:
    """gather_rows: one partial per part of the table's row split, [P, *I, D]; scatter_add_rows
    takes its source split like the result's columns."""
    index = value(mesh.MeshTensorType(Distribution((2, 5), (4, 4), ("", "")), i32))
    rows = mesh.GatherRowsOp(value(A), index)
    assert rows.result.type == tensor((4, 2, 5, 48), (4, 4), ("r", "", "", "c"))
    assert "mesh.gather_rows %v, %v :" in round_trip(rows)
    src = value(tensor((2, 5, 48), (4, 4), ("", "", "c")))
    grad = mesh.ScatterAddRowsOp(index, src, Distribution((64, 48), (4, 4), ("r", "c")))
    assert grad.result.type == A
    assert "mesh.scatter_add_rows %v, %v :" in round_trip(grad)


def test_local_reshape_regroups_the_unsplit_dims_in_front():
    """mesh.reshape moves nothing when every tile keeps its bytes: size-1 dims come and go,
    and the unsplit dims before the first split one may be regrouped ([2, 3, k] as [6, k]);
    a regroup that crosses a split dim, or changes a split dim, is a relayout."""
    from pyflame.core.distribution import Distribution, is_local_reshape

    def d(shape, split, grid=(3, 4)):
        return Distribution(shape, grid, split)

    assert is_local_reshape(d((2, 3, 57), ("", "", "r")), d((6, 57), ("", "r")))
    assert is_local_reshape(d((6, 57), ("", "r")), d((3, 1, 2, 57), ("", "", "", "r")))
    assert is_local_reshape(d((1, 8, 57), ("", "r", "c")), d((8, 57), ("r", "c")))
    assert not is_local_reshape(d((2, 3, 57), ("", "r", "c")), d((6, 57), ("r", "c")))
    assert not is_local_reshape(d((2, 3, 57), ("", "", "r")), d((2, 171), ("", "r")))
    assert not is_local_reshape(d((6, 57), ("", "r")), d((6, 57), ("", "r"), grid=(4, 3)))
    assert is_local_reshape(d((4, 6), ("", "")), d((24,), ("",)))
    assert not is_local_reshape(d((4, 6), ("", "")), d((24,), ("r",)))


def test_mesh_tensor_types_compare_by_every_parameter() -> None:
    """`!mesh.tensor` keeps its parameters in pyflame.core's DistributedAttr (shared with
    `#pe.layout`): two types are equal (and hash alike) exactly when shape, element type,
    grid, split and origin agree (the op verifiers' type variables rely on it)."""
    d = Distribution((4, 6), (2, 2), ("r", "c"))
    same = mesh.MeshTensorType(d, f32)
    assert same == mesh.MeshTensorType(d, f32) and hash(same) == hash(mesh.MeshTensorType(d, f32))
    for other in (
        mesh.MeshTensorType(d.with_(split=("c", "r")), f32),
        mesh.MeshTensorType(d.with_(shape=(4, 7)), f32),
        mesh.MeshTensorType(d.with_(grid=(1, 2)), f32),
        mesh.MeshTensorType(d.with_(origin=(0, 2)), f32),
        mesh.MeshTensorType(d, i32),
    ):
        assert other != same
    assert str(same) == "!mesh.tensor<4x6xf32 on 2x2 split [r, c]>"
