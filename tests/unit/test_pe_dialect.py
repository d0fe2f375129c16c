"""The pe dialect's typed construction: every op has a builder taking Python values, its
parameters are properties (dense i64 arrays, i64 and f64 numbers, enum attributes), the text
spells the enums bare (`pe.binary add`, `pe.route ramp -> [east, ramp]`) and round-trips, the
generic form parses, and a wrong name is a parse error that lists the right ones."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from xdsl.dialects import func
from xdsl.dialects.builtin import (
    DenseArrayBase,
    FloatAttr,
    FunctionType,
    IntegerAttr,
    ModuleOp,
    TensorType,
    f16,
    f32,
    f64,
    i1,
    i32,
    i64,
)
from xdsl.ir import Block, Operation, Region, SSAValue
from xdsl.parser import Parser
from xdsl.printer import Printer
from xdsl.utils.exceptions import ParseError, VerifyException

from pyflame import compiler
from pyflame.core.distribution import Distribution
from pyflame.core.elementwise import BinaryFn, UnaryFn
from pyflame.core.reductions import PoolKind, ReductionKind
from pyflame.dialects import pe

FULL = (0, 0, 2, 2)
LAYOUT = pe.TileLayoutAttr(Distribution((8, 8), (2, 2), ("r", "c")), f32)
TRANSPOSED = pe.TileLayoutAttr(Distribution((8, 8), (2, 2), ("c", "r")), f32)
HALF = pe.TileLayoutAttr(Distribution((8, 4), (2, 2), ("r", "c")), f32)


def every_op() -> ModuleOp:
    """@main with one op of every kind, each made by its builder (tiles of an 8x8 f32 tensor
    on 2x2 PEs: 16 elements)."""
    tensor = TensorType(f32, [8, 8])
    block = Block(arg_types=[tensor, i64])
    x, seed = block.args
    ops: list[Operation] = []

    def add(op: Operation) -> Operation:
        ops.append(op)
        return op

    def alloc(name: str, size: int, elem=f32) -> SSAValue:
        buffer = add(pe.AllocOp(pe.BufferType(size, elem), name=name, pes=FULL)).results[0]
        buffer.name_hint = name  # printed as %name
        return buffer

    a, b, c, t = (alloc(n, 16) for n in "abct")
    cond, half, r, s = alloc("cond", 16, i1), alloc("half", 16, f16), alloc("r", 4), alloc("s", 4)
    window, unpacked = alloc("window", 36), alloc("unpacked", 24)
    weight, bias = alloc("weight", 9), alloc("bias", 1)
    add(pe.HostInOp(x, a, layout=LAYOUT, pes=FULL))
    add(pe.RandomNormalOp(b, seed, layout=LAYOUT, pes=FULL))
    add(pe.FillOp(c, value=0.0, pes=FULL))
    add(pe.UnaryOp("relu", c, a, pes=FULL))
    add(pe.UnaryOp(UnaryFn("scale"), c, a, pes=FULL, scalar=2.5))
    add(pe.BinaryOp(BinaryFn("add"), c, a, b, pes=FULL))
    add(pe.SelectOp(c, cond, a, b, pes=FULL))
    add(pe.ConvertOp(half, a, pes=FULL))
    add(pe.MaskPadOp(a, layout=LAYOUT, value=float("-inf"), pes=FULL))
    add(pe.ReduceOp("max", r, a, shape=(4, 4), dims=(1,), pes=FULL))
    add(pe.TransposeOp(t, a, shape=(4, 4), perm=(1, 0), pes=FULL))
    add(pe.CopyOp(t, a, pes=FULL))
    add(pe.MatmulAccOp(c, a, b, m=4, k=4, n=4, pes=FULL))
    add(pe.RouteOp("ramp", ["east", "ramp"], color=0, pes=(0, 0, 2, 1)))
    add(pe.RouteOp(pe.Port.WEST, [pe.Port.RAMP], color=0, pes=(0, 1, 2, 1)))
    add(pe.RoutesOp.from_rules([((0, 0, 2, 1), "ramp", ["east"])], color=2))
    add(pe.SendOp(a, color=0, pes=(0, 0, 2, 1)))
    add(pe.RecvOp(b, color=0, pes=(0, 1, 2, 1), combine=ReductionKind("sum")))
    add(pe.RecvOp(b, color=0, pes=(0, 1, 2, 1)))
    sent = add(pe.SendOp(a, color=1, pes=(0, 0, 2, 1), asynchronous=True))
    received = add(pe.RecvOp(b, color=1, pes=(0, 1, 2, 1), combine="max", asynchronous=True))
    add(pe.WaitOp(sent.token, pes=(0, 0, 2, 1)))
    add(pe.WaitOp(received.token, pes=(0, 1, 1, 1)))
    # a loop: PE column 0 then 1 sends, each send joined by the next iteration or after it
    first = add(pe.SendOp(a, color=1, pes=(0, 0, 2, 1), asynchronous=True))
    loop, body, _, (carried,) = pe.LoopOp.empty(0, 2, [first.results[0]])
    joined = pe.WaitOp(carried, pes=(0, 0, 2, 1))
    step = pe.SendOp(a, color=1, pes=(0, 0, 2, 1), asynchronous=True)
    for op in (joined, step):
        op.properties["pes_step"] = pe.dense_i64((0, 1, 0, 0))
    body.add_ops([joined, step, pe.YieldOp(step.results[0])])
    add(loop)
    add(pe.WaitOp(loop.results[0], pes=(0, 1, 2, 1)))
    add(pe.ExchangeOp(t, a, src_layout=LAYOUT, dst_layout=TRANSPOSED, color=1, phase=1, pes=FULL))
    add(
        pe.ExchangeOp(
            t,
            a,
            src_layout=LAYOUT,
            dst_layout=LAYOUT,
            pes=FULL,
            offset=(1, 0),
            stride=(1, 1),
        )
    )
    add(  # a window of 4 x 8 (32 elements) of the 8 x 8 source, as an 8 x 4 tensor
        pe.ExchangeOp(
            t,
            a,
            src_layout=LAYOUT,
            dst_layout=HALF,
            pes=FULL,
            offset=(2, 0),
            stride=(1, 1),
            window=(4, 8),
        )
    )
    add(pe.BroadcastOp(c, r, src_shape=(1, 4), dst_shape=(4, 4), pes=FULL))
    add(
        pe.FusedOp(
            c,
            [a, r, bias],
            expr="broadcast.f32($1, 1x4, 4x4); sub.f32($0, %0); mul.f32(%1, 0.5:f32); "
            "lt.i1(%2, $2); select.f32(%3, %2, $0)",
            pes=FULL,
        )
    )
    add(pe.PackOp(s, a, shape=(1, 1, 4, 4), dim=2, start=3, count=1, pes=FULL))
    add(pe.UnpackOp(unpacked, s, axis="r", shape=(1, 1, 6, 4), dim=2, count=1, at=(0, 4), pes=FULL))
    windowed = dict(in_shape=(1, 1, 6, 6), out_shape=(1, 1, 4, 4), kernel=(3, 3))
    windowed |= dict(stride=(1, 1), dilation=(1, 1))
    add(pe.Conv2dOp(c, window, weight, bias, groups=1, pes=FULL, **windowed))
    add(pe.Conv2dOp(c, window, weight, groups=1, pes=FULL, **windowed))
    add(pe.Conv2dWeightGradOp(weight, window, c, groups=1, pes=FULL, **windowed))
    add(pe.Pool2dOp(PoolKind.AVG, c, window, pes=FULL, **windowed))
    index, rows = alloc("index", 3, i32), alloc("rows", 12)  # 3 rows of the 4-wide tiles
    add(pe.GatherRowsOp(rows, a, index, layout=LAYOUT, pes=FULL))
    add(pe.ScatterAddRowsOp(a, rows, index, layout=LAYOUT, pes=FULL))
    add(pe.IotaOp(c, layout=LAYOUT, dim=1, start=0.0, step=0.5, pes=FULL))
    add(pe.RandomUniformOp(c, seed, layout=LAYOUT, minval=-1.0, maxval=1.0, pes=FULL))
    out = add(pe.HostOutOp(c, tensor, layout=LAYOUT, pes=FULL)).results[0]
    block.add_ops([*ops, func.ReturnOp(out)])
    main = func.FuncOp("main", FunctionType.from_lists([tensor, i64], [tensor]), Region(block))
    return ModuleOp([main])


def parse(text: str) -> ModuleOp:
    return Parser(compiler.make_context(), text, "test.mlir").parse_module()


def generic(module: ModuleOp) -> str:
    out = io.StringIO()
    Printer(stream=out, print_generic_format=True).print_op(module)
    return out.getvalue()


def test_every_pe_op_has_a_builder_and_the_test_builds_them_all() -> None:
    built = {type(op) for op in every_op().walk() if op.name.startswith("pe.")}
    assert built == set(pe.PE.operations)
    assert all("__init__" in vars(cls) for cls in pe.PE.operations)


def test_built_ops_verify_print_and_parse_back() -> None:
    module = every_op()
    module.verify()
    text = str(module)
    parsed = parse(text)
    parsed.verify()
    assert str(parsed) == text
    assert parsed.is_structurally_equivalent(module)


def test_the_generic_form_parses_to_the_same_ops() -> None:
    module = every_op()
    text = generic(module)
    assert (
        '"pe.binary"(%c, %a, %b) <{fn = #pe<binary_fn add>, pes = array<i64: 0, 0, 2, 2>}>' in text
    )
    assert "<{from = #pe<port ramp>, to = [#pe<port east>, #pe<port ramp>], color = 0 : i64" in text
    parsed = parse(text)
    parsed.verify()
    assert parsed.is_structurally_equivalent(module)


def test_the_text_spells_enums_bare_and_the_rest_as_properties() -> None:
    lines = [line.strip() for line in str(every_op()).splitlines()]
    expected = [
        "pe.unary relu %c, %a {pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32>, !pe.buf<16xf32>",
        "pe.unary scale %c, %a {pes = array<i64: 0, 0, 2, 2>, scalar = 2.500000e+00 : f64} : "
        "!pe.buf<16xf32>, !pe.buf<16xf32>",
        "pe.binary add %c, %a, %b {pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32>, "
        "!pe.buf<16xf32>, !pe.buf<16xf32>",
        "pe.reduce max %r, %a {pes = array<i64: 0, 0, 2, 2>, shape = array<i64: 4, 4>, "
        "dims = array<i64: 1>} : !pe.buf<4xf32>, !pe.buf<16xf32>",
        "pe.route ramp -> [east, ramp] {color = 0 : i64, pes = array<i64: 0, 0, 2, 1>}",
        "pe.route west -> [ramp] {color = 0 : i64, pes = array<i64: 0, 1, 2, 1>}",
        "pe.recv %b combine sum {pes = array<i64: 0, 1, 2, 1>, color = 0 : i64} : !pe.buf<16xf32>",
        "pe.recv %b {pes = array<i64: 0, 1, 2, 1>, color = 0 : i64} : !pe.buf<16xf32>",
        "pe.unpack %unpacked, %s along r {pes = array<i64: 0, 0, 2, 2>, shape = array<i64: 1, 1, "
        "6, 4>, dim = 2 : i64, count = 1 : i64, at = array<i64: 0, 4>} : !pe.buf<24xf32>, "
        "!pe.buf<4xf32>",
    ]
    for line in expected:
        assert line in lines
    assert any(line.startswith("pe.pool2d avg %c, %window {") for line in lines)


def test_parameters_are_typed_properties() -> None:
    ops: dict[str, Operation] = {}
    for op in every_op().walk():
        ops.setdefault(op.name, op)  # the first op of each kind
    assert all(not op.attributes for op in ops.values() if op.name.startswith("pe."))
    binary = ops["pe.binary"]
    assert isinstance(binary, pe.BinaryOp)
    assert isinstance(binary.fn, pe.BinaryFnAttr) and binary.fn.data is BinaryFn("add")
    assert binary.fn.data == "add"  # a StrEnum: readers may compare with the name
    assert isinstance(binary.pes, DenseArrayBase) and binary.pes.elt_type == i64
    assert binary.rect == FULL
    matmul = ops["pe.matmul_acc"]
    assert isinstance(matmul, pe.MatmulAccOp)
    assert isinstance(matmul.m, IntegerAttr) and matmul.m.type == i64 and matmul.mkn == (4, 4, 4)
    assert matmul.lhs_batch is None and matmul.batches == (1, 1, 1)
    fill = ops["pe.fill"]
    assert isinstance(fill, pe.FillOp)
    assert isinstance(fill.value, FloatAttr) and fill.value.type == f64
    route = ops["pe.route"]
    assert isinstance(route, pe.RouteOp)
    assert route.from_port.data is pe.Port.RAMP
    assert route.outputs == (pe.Port.EAST, pe.Port.RAMP)


def test_builders_keep_a_given_attribute_and_refuse_unknown_names() -> None:
    buf = pe.AllocOp(pe.BufferType(4, f32), name="a", pes=FULL).result
    value = FloatAttr(0.5, f32)  # a mesh op's value attribute passes through as it is
    assert pe.FillOp(buf, value=value, pes=FULL).value is value
    iota = pe.IotaOp(buf, layout=LAYOUT, dim=IntegerAttr(1, i32), start=0.0, step=1.0, pes=FULL)
    assert iota.dim == IntegerAttr(1, i64)  # integers are i64 properties, whatever they came as
    with pytest.raises(ValueError, match="'frobnicate' is not a valid UnaryFn"):
        pe.UnaryOp("frobnicate", buf, buf, pes=FULL)
    with pytest.raises(ValueError, match="'up' is not a valid Port"):
        pe.RouteOp("up", ["ramp"], color=0, pes=FULL)


def test_passes_set_offsets_and_colors_through_the_ops() -> None:
    alloc = pe.AllocOp(pe.BufferType(4, f32), name="a", pes=FULL)
    alloc.set_offset(64)
    assert alloc.byte_offset == 64 and alloc.offset == IntegerAttr(64, i64)
    send = pe.SendOp(alloc.result, color=7, pes=FULL)
    send.set_color(2)
    assert send.color_id == 2


BUFS = '%a = pe.alloc {name = "a", pes = array<i64: 0, 0, 1, 1>} : !pe.buf<4xf32>\n'
T = "!pe.buf<4xf32>"
PES = "pes = array<i64: 0, 0, 1, 1>"


@pytest.mark.parametrize(
    "line, message",
    [
        (
            f"pe.unary frobnicate %a, %a {{{PES}}} : {T}, {T}",
            "unknown unary fn 'frobnicate' (one of neg, abs, relu,",
        ),
        (
            f"pe.binary max %a, %a, %a {{{PES}}} : {T}, {T}, {T}",
            "unknown binary fn 'max' (one of add, sub, mul, div, pow, maximum, minimum,",
        ),
        (
            f"pe.reduce median %a, %a {{{PES}, shape = array<i64: 4>, dims = array<i64: 0>}} : "
            f"{T}, {T}",
            "unknown reduction 'median' (one of sum, prod, max, min)",
        ),
        (
            f"pe.recv %a combine mean {{color = 0 : i64, {PES}}} : {T}",
            "unknown reduction 'mean' (one of sum, prod, max, min)",
        ),
        (
            f"pe.pool2d min %a, %a {{{PES}}} : {T}, {T}",
            "unknown pooling 'min' (one of max, avg)",
        ),
        (
            f"pe.route up -> [ramp] {{color = 0 : i64, {PES}}}",
            "unknown port 'up' (one of north, south, east, west, ramp)",
        ),
        (
            f"pe.route ramp -> [north, East] {{color = 0 : i64, {PES}}}",
            "unknown port 'East' (one of north, south, east, west, ramp)",
        ),
        (
            f"pe.unpack %a, %a along x {{{PES}}} : {T}, {T}",
            "unknown grid axis 'x' (one of r, c)",
        ),
        (
            f'pe.unary %a, %a {{fn = "relu", {PES}}} : {T}, {T}',
            "expected a unary fn (one of neg, abs,",
        ),
    ],
    ids=["unary", "binary", "reduce", "combine", "pool", "from", "to", "axis", "old-text"],
)
def test_a_wrong_name_is_a_parse_error_listing_the_names(line: str, message: str) -> None:
    with pytest.raises(ParseError) as err:
        parse(BUFS + line)
    assert message in str(err.value)


def test_passes_build_pe_ops_with_their_builders() -> None:
    """No pass assembles a pe op from an attribute dictionary (`pe.XOp.create(attributes=...)`)
    or guesses attribute types from Python values: they call the builders."""
    root = Path(__file__).resolve().parents[2] / "passes"
    offenders = [
        f"{path.relative_to(root)}:{number}"
        for path in sorted(root.rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"pe\.\w+Op\.create\(|\blw\.op\(|\.attributes\[\"(color|offset)\"\]", line)
    ]
    assert offenders == []


def test_an_enum_given_again_in_the_dictionary_is_refused() -> None:
    text = BUFS + f'pe.unary relu %a, %a {{fn = "neg", {PES}}} : {T}, {T}'
    module = parse(text)
    with pytest.raises(
        VerifyException, match="'pe.unary' takes fn in its text, not in its attribute"
    ):
        module.verify()


def test_async_transfers_return_tokens_that_wait_joins() -> None:
    text = str(every_op())
    assert "-> !pe.token" in text
    sends = [op for op in every_op().walk() if isinstance(op, pe.SendOp)]
    assert [op.is_async for op in sends] == [False, True, True, True]  # the last two: a loop's
    waits = [op for op in every_op().walk() if isinstance(op, pe.WaitOp)]
    assert len(waits) == 4 and all(len(w.tokens) == 1 for w in waits)


def test_a_wait_outside_its_transfer_is_refused() -> None:
    a = pe.AllocOp(pe.BufferType(4, f32), name="a", pes=(0, 0, 2, 2))
    sent = pe.SendOp(a.result, color=0, pes=(0, 0, 2, 1), asynchronous=True)
    assert sent.token is not None
    wait = pe.WaitOp(sent.token, pes=(0, 0, 2, 2))
    Block([a, sent, wait])
    with pytest.raises(VerifyException, match=r"outside the PEs \[0, 0, 2, 1\] of the pe.send"):
        wait.verify()


@pytest.mark.parametrize(
    ("offset", "window", "message"),
    [
        ((2, 0), (4, 4), "the window as many elements as dst"),
        ((6, 0), (4, 8), r"exchange window \[4, 8\] at \[6, 0\] step \[1, 1\] leaves src"),
    ],
)
def test_an_exchange_window_must_fit_both_layouts(offset, window, message) -> None:
    block = Block()
    a = block.insert_arg(pe.BufferType(16, f32), 0)
    t = block.insert_arg(pe.BufferType(16, f32), 1)
    op = pe.ExchangeOp(
        t,
        a,
        src_layout=LAYOUT,
        dst_layout=HALF,
        pes=FULL,
        offset=offset,
        stride=(1, 1),
        window=window,
    )
    block.add_op(op)
    with pytest.raises(VerifyException, match=message):
        op.verify()


def test_tile_layouts_compare_by_every_parameter() -> None:
    """`#pe.layout` shares its parameters with `!mesh.tensor` (pyflame.core's DistributedAttr)
    and stays a type of its own: equal exactly when every parameter is."""
    d = Distribution((8, 8), (2, 2), ("r", "c"))
    assert pe.TileLayoutAttr(d, f32) == LAYOUT and hash(pe.TileLayoutAttr(d, f32)) == hash(LAYOUT)
    assert pe.TileLayoutAttr(d.with_(split=("c", "r")), f32) != LAYOUT
    assert pe.TileLayoutAttr(d.with_(origin=(1, 0)), f32) != LAYOUT
    assert pe.TileLayoutAttr(d, f16) != LAYOUT
    with pytest.raises(VerifyException, match="tile layouts hold"):
        pe.TileLayoutAttr(d, f64)
