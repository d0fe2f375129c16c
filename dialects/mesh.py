"""The `mesh` dialect: tensors split over a grid of PEs, local tile compute, explicit collectives.

A distributed tensor `!mesh.tensor<64x48xf32 on 4x4 split [r, c]>` lives on a 4x4 grid of PEs
(anchored at the fabric's north-west corner). Each tensor dim maps to mesh axes: `r` (split over
the grid's rows), `c` (over its columns), `rc` (over all PEs, row-major), or `_` (not split).
A mesh axis no dim uses replicates the tensor along it. A split dim of size n over p parts has
blocks of ceil(n/p) elements; the last blocks are padded, and the padding holds unspecified
values unless an op (`mesh.mask_pad`) sets it. Each PE stores its block row-major, densely.

Compute ops act on each PE's tile and need no communication. Data moves only through
`mesh.scatter`/`mesh.gather` (host I/O), `mesh.allreduce`, `mesh.matmul` (SUMMA's broadcasts)
and `mesh.redistribute`.

    %a1 = mesh.scatter %a : tensor<64x48xf32> -> !mesh.tensor<64x48xf32 on 4x4 split [r, c]>
    %p = mesh.local_reduce sum %a1 dims [0] : ... -> !mesh.tensor<4x48xf32 on 4x4 split [r, c]>
    %s = mesh.allreduce sum %p dims [0] : ... -> !mesh.tensor<1x48xf32 on 4x4 split [_, c]>

Text: a closed set of names (`fn`, `kind`, `algorithm`) is an enum attribute written as the
op's first word, like MLIR's `arith.cmpi slt` (`#mesh<unary_fn relu>` in the generic form);
every other parameter is a property written as `name value` (`dims [0]`, `value 0.0`). Every
op a pass creates has a builder taking Python values: `mesh.UnaryOp(UnaryFn.relu, x)`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import ClassVar

from xdsl.dialects.builtin import (
    I64,
    ArrayAttr,
    DenseArrayBase,
    Float64Type,
    FloatAttr,
    IntegerAttr,
    IntegerType,
    TensorType,
    UnitAttr,
    f32,
    f64,
    i64,
)
from xdsl.dialects.utils import EnumAttribute
from xdsl.ir import (
    Attribute,
    Dialect,
    OpResult,
    SpacedOpaqueSyntaxAttribute,
    SSAValue,
    TypeAttribute,
)
from xdsl.irdl import (
    IRDLOperation,
    VarConstraint,
    base,
    irdl_attr_definition,
    irdl_op_definition,
    operand_def,
    opt_operand_def,
    opt_prop_def,
    prop_def,
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
from xdsl.parser import Parser
from xdsl.printer import Printer
from xdsl.traits import Pure
from xdsl.utils.exceptions import VerifyException
from xdsl.utils.str_enum import StrEnum

from pyflame.core import elementwise, shapes
from pyflame.core.collectives import SPLIT, CollectiveAlgorithm
from pyflame.core.conv_window import WindowAccess, window_properties
from pyflame.core.distribution import (
    DistributedAttr,
    Distribution,
    HaloAxis,
    broadcast_problem,
    halo_axes,
    is_channel_split,
    is_local_reshape,
    is_spatial,
    origin_text,
)
from pyflame.core.elementwise import BinaryFn, UnaryFn
from pyflame.core.errors import ShapeError
from pyflame.core.reductions import PoolKind, ReductionKind

# --------------------------------------------------------------------------- the type


@irdl_attr_definition
class MeshTensorType(DistributedAttr, TypeAttribute):
    """`!mesh.tensor<64x48xf32 on 4x4 split [r, c]>` (parameters, syntax and checks:
    pyflame/core/distribution.py's `DistributedAttr`)."""

    name = "mesh.tensor"
    WHAT = "mesh tensors"

    def get_shape(self) -> tuple[int, ...]:
        return tuple(n.data for n in self.shape)


def dist_of(value: SSAValue | Attribute) -> Distribution:
    if type(value) is MeshTensorType:  # (the ABC checks below cost ~1 us: ~10^5 calls)
        return value.dist
    typ = value.type if isinstance(value, SSAValue) else value
    if type(typ) is MeshTensorType:
        return typ.dist
    if not isinstance(typ, MeshTensorType):
        raise VerifyException(f"expected a !mesh.tensor, got {typ}")
    return typ.dist


def elem_of(value: SSAValue) -> Attribute:
    typ = value.type
    assert isinstance(typ, MeshTensorType | TensorType)
    return typ.element_type


#: element types whose products the PEs accumulate in float32 (fp16 FMACs with fp32
#: accumulation: the SDK's @fmachs, MACHINE.md), as PyTorch's half matmul accumulates
HALF_ELEMS = ("f16", "bf16")


def accumulator_elem(elem: Attribute) -> Attribute:
    """The element type a product of `elem` operands accumulates in: f32 for half floats,
    else `elem` itself."""
    return f32 if str(elem) in HALF_ELEMS else elem


# --------------------------------------------------------------------------- attributes


class MatmulAlgorithm(StrEnum):
    """How mesh.matmul moves its operands (only mesh has this choice)."""

    SUMMA = "summa"  # per step k, PE column k broadcasts A's blocks along rows, row k B's
    #: shift-based (ALGORITHMS.md section 5): align, then g steps of multiply and shift A one
    #: ring position along its row and B along its column. Cannon's ring is the PE line with
    #: a wrap-around (the last hop g - 1 long); MeshGEMM's is folded (logical neighbours at
    #: most two PEs apart)
    CANNON = "cannon"
    MESHGEMM = "meshgemm"
    #: 2.5D SUMMA (passes/pe_lowering/layered_matmul.py): the PE rows form c interleaved layers,
    #: each multiplying a c-th of the contraction dim into blocks c times taller (longer
    #: vector instructions), then the c partial results are summed along the PE columns
    SUMMA25D = "summa25d"


@irdl_attr_definition
class UnaryFnAttr(EnumAttribute[UnaryFn], SpacedOpaqueSyntaxAttribute):
    """`fn` of mesh.unary: `#mesh<unary_fn relu>` (pyflame.core.elementwise, plus `scale`)."""

    name = "mesh.unary_fn"


@irdl_attr_definition
class BinaryFnAttr(EnumAttribute[BinaryFn], SpacedOpaqueSyntaxAttribute):
    """`fn` of mesh.binary: `#mesh<binary_fn add>` (pyflame.core.elementwise)."""

    name = "mesh.binary_fn"


@irdl_attr_definition
class ReductionKindAttr(EnumAttribute[ReductionKind], SpacedOpaqueSyntaxAttribute):
    """`kind` of mesh.local_reduce and mesh.allreduce: `#mesh<reduction sum>`."""

    name = "mesh.reduction"


@irdl_attr_definition
class PoolKindAttr(EnumAttribute[PoolKind], SpacedOpaqueSyntaxAttribute):
    """`kind` of mesh.pool2d: `#mesh<pool_kind max>`."""

    name = "mesh.pool_kind"


@irdl_attr_definition
class MatmulAlgorithmAttr(EnumAttribute[MatmulAlgorithm], SpacedOpaqueSyntaxAttribute):
    """`algorithm` of mesh.matmul: `#mesh<matmul_algorithm summa>`."""

    name = "mesh.matmul_algorithm"


@irdl_attr_definition
class CollectiveAlgorithmAttr(EnumAttribute[CollectiveAlgorithm], SpacedOpaqueSyntaxAttribute):
    """`algorithm` of mesh.allreduce and mesh.reduce: `#mesh<collective_algorithm tree>`
    (pyflame.core.collectives: chain, two_chains, tree, tree3, ktree)."""

    name = "mesh.collective_algorithm"


ENUM_ATTRS: list[type[Attribute]] = [
    CollectiveAlgorithmAttr,
    UnaryFnAttr,
    BinaryFnAttr,
    ReductionKindAttr,
    PoolKindAttr,
    MatmulAlgorithmAttr,
]

#: f64 properties (fill values, scalars, bounds): FloatAttr of f64, written without the type
F64Attr = FloatAttr[Float64Type]
#: integer-list properties (dims, perm, bounds, windows): typed dense arrays, written `[0, 1]`
I64Array = DenseArrayBase[I64]


def f64_attr(value: float) -> FloatAttr:
    return FloatAttr(float(value), f64)


def i64_array(values: Sequence[int]) -> DenseArrayBase:
    return DenseArrayBase.from_list(i64, [int(v) for v in values])


def _dims(attr: DenseArrayBase[IntegerType]) -> tuple[int, ...]:
    return tuple(int(v) for v in attr.get_values())


@irdl_custom_directive
class F64(CustomDirective):
    """An f64 property as a bare number: `0.5`, or its bits in hex for inf and nan
    (`0xFFF0000000000000` is -inf), as MLIR prints them. (xDSL's format prints the hex form
    of a typed FloatAttr but parses only float literals back.)"""

    value: AttributeVariable

    def parse(self, parser: Parser, state: ParsingState) -> None:
        is_hex = parser._current_token.text[:2] in ("0x", "0X")  # xDSL's own parser peeks too
        number = parser.parse_number()
        if is_hex:
            bits = int(number).to_bytes(8, "little")
            number = next(iter(f64.iter_unpack(bits)))
        self.value.set(state, f64_attr(number))

    def print(self, printer: Printer, state: PrintingState, op: IRDLOperation) -> None:
        attr = self.value.get(op)
        assert isinstance(attr, FloatAttr)
        state.print_whitespace(printer)
        printer.print_float(attr.value.data, f64)

    def is_present(self, op: IRDLOperation) -> bool:
        return self.value.get(op) is not None

    def is_anchorable(self) -> bool:
        return self.value.is_optional


# --------------------------------------------------------------------------- ops


def _expect(cond: bool, message: str) -> None:
    if not cond:
        raise VerifyException(message)


def nonempty(cls: type[IRDLOperation]) -> type[IRDLOperation]:
    """Ops that refuse zero-size tensors: flame-to-mesh never makes them on tensors with no
    elements (the decompose pass folds such ops into fills), and the PE kernels of
    reductions, collectives, matmul, data movement and windows assume at least one element."""
    checks = cls.verify_

    def verify_(self: IRDLOperation) -> None:
        for v in (*self.operands, *self.results):
            if isinstance(v.type, MeshTensorType) and 0 in v.type.get_shape():
                raise VerifyException(
                    f"'{self.name}' does not take zero-size tensors, got {v.type} (flame-to-mesh "
                    "folds ops on tensors with no elements into mesh.fill)"
                )
        checks(self)

    # wraps the op's own verifier (typed for IRDLOperation, the base's for Operation)
    cls.verify_ = verify_  # type: ignore[method-assign, assignment]  # wraps the op's verifier, see the comment above
    return cls


def _same_elem(op: IRDLOperation, *values: SSAValue) -> None:
    elems = {elem_of(v) for v in values}
    _expect(len(elems) == 1, f"'{op.name}' needs one element type, got {sorted(map(str, elems))}")


def _product_elems(op: IRDLOperation, lhs: SSAValue, rhs: SSAValue, result: SSAValue) -> None:
    """A product's operands share one element type; its result holds that type or, for half
    floats, the float32 the products accumulate in (`accumulator_elem`)."""
    _same_elem(op, lhs, rhs)
    elem = elem_of(lhs)
    _expect(
        elem_of(result) in (elem, accumulator_elem(elem)),
        f"'{op.name}' of {elem} operands gives {elem} or {accumulator_elem(elem)}, "
        f"got {elem_of(result)}",
    )


@irdl_op_definition
class ScatterOp(IRDLOperation):
    """Host to fabric: split a host tensor into tiles (padding zeroed)."""

    name = "mesh.scatter"
    input = operand_def(TensorType)
    result = result_def(MeshTensorType)
    assembly_format = "$input attr-dict `:` type($input) `->` type($result)"

    def __init__(self, input: SSAValue, dist: Distribution):
        host = input.type
        assert isinstance(host, TensorType)
        super().__init__(operands=[input], result_types=[MeshTensorType(dist, host.element_type)])

    def verify_(self) -> None:
        host_type = self.input.type
        _expect(
            isinstance(host_type, TensorType)
            and tuple(host_type.get_shape()) == dist_of(self.result).shape,
            "scatter must keep the global shape",
        )
        _same_elem(self, self.input, self.result)


@irdl_op_definition
class GatherOp(IRDLOperation):
    """Fabric to host: assemble the tiles (dropping padding) into a host tensor."""

    name = "mesh.gather"
    input = operand_def(MeshTensorType)
    result = result_def(TensorType)
    assembly_format = "$input attr-dict `:` type($input) `->` type($result)"

    def __init__(self, input: SSAValue):
        host = TensorType(elem_of(input), dist_of(input).shape)
        super().__init__(operands=[input], result_types=[host])

    def verify_(self) -> None:
        _expect(
            tuple(self.result.type.get_shape()) == dist_of(self.input).shape,
            "gather must keep the global shape",
        )
        _same_elem(self, self.input, self.result)


@irdl_op_definition
class FillOp(IRDLOperation):
    """Every element (padding included) set to `value`."""

    name = "mesh.fill"
    value = prop_def(F64Attr)
    result = result_def(MeshTensorType)
    assembly_format = "custom<F64>($value) attr-dict `:` type($result)"
    custom_directives = (F64,)
    traits = traits_def(Pure())

    def __init__(self, value: float, result_type: MeshTensorType):
        super().__init__(properties={"value": f64_attr(value)}, result_types=[result_type])


@irdl_op_definition
class RandomNormalOp(IRDLOperation):
    """Each PE draws its own elements as a function of (seed, global index): layout-independent."""

    name = "mesh.random_normal"
    seed = operand_def(IntegerType)
    result = result_def(MeshTensorType)
    assembly_format = "$seed attr-dict `:` type($seed) `->` type($result)"
    traits = traits_def(Pure())

    def __init__(self, seed: SSAValue, result_type: MeshTensorType):
        super().__init__(operands=[seed], result_types=[result_type])


@irdl_op_definition
class UnaryOp(IRDLOperation):
    """Tile-wise unary function (fns: pyflame.core.elementwise; `scale` is x * scalar):

    %r = mesh.unary relu %x : !mesh.tensor<48xf32 on 4x4 split [c]>
    %s = mesh.unary scale %x by 5.000000e-01 : !mesh.tensor<48xf32 on 4x4 split [c]>
    """

    name = "mesh.unary"
    T: ClassVar = VarConstraint("T", base(MeshTensorType))
    input = operand_def(T)
    fn = prop_def(UnaryFnAttr)
    scalar = opt_prop_def(F64Attr)
    result = result_def(T)
    assembly_format = "$fn $input (`by` custom<F64>($scalar)^)? attr-dict `:` type($result)"
    custom_directives = (F64,)
    traits = traits_def(Pure())

    def __init__(self, fn: UnaryFn | str, input: SSAValue, scalar: float | None = None):
        props: dict[str, Attribute] = {"fn": UnaryFnAttr(UnaryFn(fn))}
        if scalar is not None:
            props["scalar"] = f64_attr(scalar)
        super().__init__(operands=[input], properties=props, result_types=[input.type])

    def verify_(self) -> None:
        _expect(
            (self.fn.data == UnaryFn("scale")) == (self.scalar is not None),
            "'scale' (and only it) takes a scalar",
        )


def check_tile_operands(op: IRDLOperation, result: SSAValue, *operands: SSAValue) -> None:
    """Operands distributed like the result, or rank-0 (one element per PE) on its grid."""
    out = dist_of(result)
    for v in operands:
        d = dist_of(v)
        _expect(
            d.with_(shape=out.shape, split=out.split) == out if not d.shape else d == out,
            f"'{op.name}' operands must be distributed like the result ({out}) or be rank-0 on "
            f"its grid, got {d}",
        )


@irdl_op_definition
class BinaryOp(IRDLOperation):
    """Tile-wise binary function (fns: pyflame.core.elementwise); a rank-0 operand is one element
    per PE, broadcast over the tile."""

    name = "mesh.binary"
    lhs = operand_def(MeshTensorType)
    rhs = operand_def(MeshTensorType)
    fn = prop_def(BinaryFnAttr)
    result = result_def(MeshTensorType)
    assembly_format = "$fn $lhs `,` $rhs attr-dict `:` type($lhs) `,` type($rhs) `->` type($result)"
    traits = traits_def(Pure())

    def __init__(
        self, fn: BinaryFn | str, lhs: SSAValue, rhs: SSAValue, result_type: MeshTensorType
    ):
        super().__init__(
            operands=[lhs, rhs],
            properties={"fn": BinaryFnAttr(BinaryFn(fn))},
            result_types=[result_type],
        )

    def verify_(self) -> None:
        check_tile_operands(self, self.result, self.lhs, self.rhs)
        _same_elem(self, self.lhs, self.rhs)
        entry = elementwise.BINARY[self.fn.data]
        want = elementwise.result_type(entry, str(elem_of(self.lhs)))
        _expect(str(elem_of(self.result)) == want, f"'{self.name}' result must hold {want}")


@irdl_op_definition
class SelectOp(IRDLOperation):
    """`where`: lhs where cond holds, else rhs, tile-wise (rank-0 operands broadcast)."""

    name = "mesh.select"
    cond = operand_def(MeshTensorType)
    lhs = operand_def(MeshTensorType)
    rhs = operand_def(MeshTensorType)
    result = result_def(MeshTensorType)
    assembly_format = (
        "$cond `,` $lhs `,` $rhs attr-dict `:` type($cond) `,` type($lhs) `,` type($rhs) `->` "
        "type($result)"
    )
    traits = traits_def(Pure())

    def __init__(self, cond: SSAValue, lhs: SSAValue, rhs: SSAValue, result_type: MeshTensorType):
        super().__init__(operands=[cond, lhs, rhs], result_types=[result_type])

    def verify_(self) -> None:
        check_tile_operands(self, self.result, self.cond, self.lhs, self.rhs)
        _expect(str(elem_of(self.cond)) == "i1", "select's condition must be i1")
        _same_elem(self, self.lhs, self.rhs, self.result)


@irdl_op_definition
class ConvertOp(IRDLOperation):
    """Tile-wise element type conversion."""

    name = "mesh.convert"
    input = operand_def(MeshTensorType)
    result = result_def(MeshTensorType)
    assembly_format = "$input attr-dict `:` type($input) `->` type($result)"
    traits = traits_def(Pure())

    def __init__(self, input: SSAValue, element_type: Attribute):
        super().__init__(
            operands=[input], result_types=[MeshTensorType(dist_of(input), element_type)]
        )

    def verify_(self) -> None:
        _expect(dist_of(self.input) == dist_of(self.result), "convert keeps the distribution")


@irdl_op_definition
class MaskPadOp(IRDLOperation):
    """Set the padding elements of every tile to `value` (0 before a sum, ...)."""

    name = "mesh.mask_pad"
    T: ClassVar = VarConstraint("T", base(MeshTensorType))
    input = operand_def(T)
    value = prop_def(F64Attr)
    result = result_def(T)
    assembly_format = "$input `value` custom<F64>($value) attr-dict `:` type($input)"
    custom_directives = (F64,)
    traits = traits_def(Pure())

    def __init__(self, input: SSAValue, value: float):
        super().__init__(
            operands=[input], properties={"value": f64_attr(value)}, result_types=[input.type]
        )

    def verify_(self) -> None:
        _expect(self.input.type == self.result.type, "mask_pad keeps the tensor type")


def _unit_dims_dropped(d: Distribution) -> tuple:
    """A distribution without its unsplit size-1 dims (which change neither its blocks' bytes
    nor where their padding is)."""
    kept = tuple((n, s) for n, s in zip(d.shape, d.split, strict=True) if (n, s) != (1, ""))
    return kept, d.grid, d.origin


def zero_padded(value: SSAValue) -> bool:
    """Whether every tile of `value` is known to hold zeros in its padding: a host scatter's
    (the host streams whole tiles, zeros in the padding), a redistribution's (its exchange
    zeroes the destination's padding), a mask_pad to 0's, and a local transpose of such a value
    (it permutes each block, padding onto padding) or a reshape that only adds or drops unsplit
    size-1 dims (the same bytes, padding where it was). A mask_pad to 0 of such a value
    changes nothing (the lowering leaves it out)."""
    while isinstance(value, OpResult) and (
        isinstance(value.op, TransposeOp)
        or (
            isinstance(value.op, ReshapeOp)
            and _unit_dims_dropped(dist_of(value.op.input)) == _unit_dims_dropped(dist_of(value))
        )
    ):
        value = value.op.operands[0]
    if not isinstance(value, OpResult):
        return False
    op = value.op
    if isinstance(op, MaskPadOp):
        return op.value.value.data == 0.0
    return isinstance(op, ScatterOp | RedistributeOp)


@nonempty
@irdl_op_definition
class LocalReduceOp(IRDLOperation):
    """Reduce each PE's tile over `dims`; a split dim of p parts becomes p partials (one per PE)."""

    name = "mesh.local_reduce"
    input = operand_def(MeshTensorType)
    kind = prop_def(ReductionKindAttr)
    dims = prop_def(I64Array)
    result = result_def(MeshTensorType)
    assembly_format = "$kind $input `dims` $dims attr-dict `:` type($input) `->` type($result)"
    traits = traits_def(Pure())

    def __init__(self, kind: ReductionKind | str, input: SSAValue, dims: Sequence[int]):
        result = local_reduce_dist(dist_of(input), tuple(dims))
        super().__init__(
            operands=[input],
            properties={"kind": ReductionKindAttr(ReductionKind(kind)), "dims": i64_array(dims)},
            result_types=[MeshTensorType(result, elem_of(input))],
        )

    def verify_(self) -> None:
        src, dst = dist_of(self.input), dist_of(self.result)
        dims = _dims(self.dims)
        _expect(all(0 <= d < len(src.shape) for d in dims), f"dims {list(dims)} out of range")
        expected = local_reduce_dist(src, dims)
        _expect(dst == expected, f"local_reduce result should be {expected}, got {dst}")
        _same_elem(self, self.input, self.result)


def local_reduce_dist(src: Distribution, dims: tuple[int, ...]) -> Distribution:
    """A local reduce's result: each reduced dim keeps one partial per part."""
    return src.with_(shape=tuple(src.parts(d) if d in dims else n for d, n in enumerate(src.shape)))


class _CombineAcrossPEsOp(IRDLOperation):
    """mesh.allreduce and mesh.reduce: combine the per-PE partials of `dims` across the mesh
    axes they are split over, each line of PEs with `algorithm` (pyflame.core.collectives;
    absent, lower-mesh-to-pe chooses by cost with `collectives.choose`)."""

    input = operand_def(MeshTensorType)
    kind = prop_def(ReductionKindAttr)
    dims = prop_def(I64Array)
    algorithm = opt_prop_def(CollectiveAlgorithmAttr)
    result = result_def(MeshTensorType)
    assembly_format = (
        "$kind $input `dims` $dims (`algorithm` $algorithm^)? attr-dict `:` type($input) `->` "
        "type($result)"
    )
    traits = traits_def(Pure())

    def __init__(
        self,
        kind: ReductionKind | str,
        input: SSAValue,
        dims: Sequence[int],
        algorithm: CollectiveAlgorithm | str | None = None,
    ):
        result = self.result_dist(dist_of(input), tuple(dims))
        props: dict[str, Attribute] = {
            "kind": ReductionKindAttr(ReductionKind(kind)),
            "dims": i64_array(dims),
        }
        if algorithm is not None:
            props["algorithm"] = CollectiveAlgorithmAttr(CollectiveAlgorithm(algorithm))
        super().__init__(
            operands=[input],
            properties=props,
            result_types=[MeshTensorType(result, elem_of(input))],
        )

    @staticmethod
    def result_dist(src: Distribution, dims: tuple[int, ...]) -> Distribution:
        return allreduce_dist(src, dims)

    @property
    def algorithm_name(self) -> CollectiveAlgorithm | None:
        return None if self.algorithm is None else self.algorithm.data

    def verify_(self) -> None:
        src, dst = dist_of(self.input), dist_of(self.result)
        dims = _dims(self.dims)
        _check_reduced_dims(self.name, src, dims)
        expected = self.result_dist(src, dims)
        _expect(dst == expected, f"{self.name} result should be {expected}, got {dst}")
        _same_elem(self, self.input, self.result)


def _check_reduced_dims(name: str, src: Distribution, dims: Sequence[int]) -> None:
    """The dims a collective combines across PEs: in range, split, one partial per PE."""
    for d in dims:
        _expect(0 <= d < len(src.shape), f"dim {d} out of range")
        _expect(src.split[d] in ("r", "c", "rc"), f"{name} dim {d} must be split")
        _expect(src.block[d] == 1, f"{name} dim {d} must hold one partial per PE")


def reduced_axes(src: Distribution, dims: Sequence[int]) -> str:
    """The mesh axes a reduction over `dims` combines across ("r", "c" or "rc"), those of
    one PE left out (nothing to combine along them)."""
    letters = "".join(src.split[d] for d in dims)
    rows, cols = src.grid
    return "".join(a for a, n in (("r", rows), ("c", cols)) if a in letters and n > 1)


@nonempty
@irdl_op_definition
class AllReduceOp(_CombineAcrossPEsOp):
    """The result has size 1 on the reduced dims, no longer split: it is replicated along
    those axes (each line's total is multicast back from where its reduction ended).

        %r = mesh.allreduce sum %p dims [1] algorithm tree
            : !mesh.tensor<64x8xf32 on 8x8 split [r, c]> -> !mesh.tensor<64x1xf32 on 8x8 split [r, _]>
    """

    name = "mesh.allreduce"


@nonempty
@irdl_op_definition
class AllReduceGroupOp(IRDLOperation):
    """Several independent mesh.allreduce of one kind over the same mesh axes of one grid, as
    one collective (StableHLO's variadic all_reduce): result i is what `mesh.allreduce kind
    inputs[i] dims dims[i]` gives, bit for bit. Lowered, every PE packs its tiles of the
    inputs one after the other into one buffer, the lines reduce that buffer once (one
    message per stage instead of one per operand: one stage latency, one set of channels),
    and each result is its window of the total (passes/combine_collectives.py makes it).
    Every input lies on the same grid at the same origin with the same element type; the
    split algorithms (two_way, rsag) are not allowed: their halves of the packed buffer would
    not be the operands' halves, so a value's sum could be taken in another order.

        %s, %t = mesh.allreduce_group sum %p, %q dims [array<i64: 0>, array<i64: 0>]
            algorithm tree : (!mesh.tensor<8x4xf32 on 8x2 split [r, c]>,
                              !mesh.tensor<8xf32 on 8x2 split [r]>)
            -> (!mesh.tensor<1x4xf32 on 8x2 split [_, c]>, !mesh.tensor<1xf32 on 8x2 split [_]>)
    """

    name = "mesh.allreduce_group"
    inputs = var_operand_def(MeshTensorType)
    kind = prop_def(ReductionKindAttr)
    dims = prop_def(ArrayAttr[I64Array])
    algorithm = opt_prop_def(CollectiveAlgorithmAttr)
    #: the B (wavelets per PE) the line plans are made for, when not the packed buffer's:
    #: ktree's trees depend on it, and a group keeps its members' own (the same sums)
    plan_wavelets = opt_prop_def(IntegerAttr[I64])
    outputs = var_result_def(MeshTensorType)
    assembly_format = (
        "$kind $inputs `dims` $dims (`algorithm` $algorithm^)? "
        "(`plans` `for` $plan_wavelets^)? attr-dict `:` "
        "`(` type($inputs) `)` `->` `(` type($outputs) `)`"
    )
    traits = traits_def(Pure())

    def __init__(
        self,
        kind: ReductionKind | str,
        inputs: Sequence[SSAValue],
        dims: Sequence[Sequence[int]],
        algorithm: CollectiveAlgorithm | str | None = None,
        plan_wavelets: int | None = None,
    ):
        props: dict[str, Attribute] = {
            "kind": ReductionKindAttr(ReductionKind(kind)),
            "dims": ArrayAttr([i64_array(d) for d in dims]),
        }
        if plan_wavelets is not None:
            props["plan_wavelets"] = IntegerAttr(plan_wavelets, i64)
        if algorithm is not None:
            props["algorithm"] = CollectiveAlgorithmAttr(CollectiveAlgorithm(algorithm))
        result_types = [
            MeshTensorType(allreduce_dist(dist_of(v), tuple(d)), elem_of(v))
            for v, d in zip(inputs, dims, strict=True)
        ]
        super().__init__(operands=[list(inputs)], properties=props, result_types=[result_types])

    @property
    def member_dims(self) -> list[tuple[int, ...]]:
        """The reduced dims of each input."""
        return [_dims(d) for d in self.dims.data]

    @property
    def algorithm_name(self) -> CollectiveAlgorithm | None:
        return None if self.algorithm is None else self.algorithm.data

    @property
    def member_elems(self) -> list[int]:
        """Each input's elements per PE: its slice of the packed buffer, in order."""
        return [dist_of(v).local_elems for v in self.inputs]

    @property
    def plan_b(self) -> int:
        """The B the line plans are made for: `plan_wavelets`, else the packed buffer's."""
        if self.plan_wavelets is not None:
            return self.plan_wavelets.value.data
        return self.packed_wavelets

    @property
    def member_offsets(self) -> list[int]:
        """Where each input's tile starts in the packed buffer: one after the other, each on
        a 32-bit word (a half-float tile of odd length leaves half a word of padding)."""
        per = max(1, 32 // getattr(elem_of(self.inputs[0]), "bitwidth", 32))
        out, at = [], 0
        for n in self.member_elems:
            out.append(at)
            at += -(-n // per) * per
        return out

    @property
    def packed_elems(self) -> int:
        """Elements per PE of the packed buffer."""
        return self.member_offsets[-1] + self.member_elems[-1]

    @property
    def packed_wavelets(self) -> int:
        """B of the packed buffer."""
        bits = getattr(elem_of(self.inputs[0]), "bitwidth", 32)
        return max(1, -(-self.packed_elems * bits // 32))

    @property
    def reduced_lines(self) -> tuple[int, ...]:
        """The lengths of the lines the group reduces, in order (rows first, as an
        allreduce's: `collectives.reduced_lines`)."""
        src = dist_of(self.inputs[0])
        axes = reduced_axes(src, self.member_dims[0])
        return tuple(n for a, n in (("c", src.grid[1]), ("r", src.grid[0])) if a in axes)

    def verify_(self) -> None:
        n = len(self.inputs)
        _expect(n >= 1, f"{self.name} needs at least one input")
        _expect(
            len(self.outputs) == n and len(self.dims.data) == n,
            f"{self.name} needs one result and one dims list per input, got {n} inputs, "
            f"{len(self.outputs)} results and {len(self.dims.data)} dims lists",
        )
        _expect(
            self.plan_wavelets is None or self.plan_wavelets.value.data >= 1,
            f"{self.name} plans for at least one wavelet",
        )
        _expect(
            self.algorithm_name not in SPLIT,
            f"{self.name} cannot use {self.algorithm_name}: its halves of the packed buffer "
            "are not the inputs' halves",
        )
        srcs = [dist_of(v) for v in self.inputs]
        places = {(d.grid, d.origin) for d in srcs}
        _expect(len(places) == 1, f"{self.name} inputs must share one grid and origin")
        _same_elem(self, *self.inputs)
        axes = set()
        for src, dims, out in zip(srcs, self.member_dims, self.outputs, strict=True):
            _check_reduced_dims(self.name, src, dims)
            axes.add(reduced_axes(src, dims))
            expected = allreduce_dist(src, dims)
            dst = dist_of(out)
            _expect(dst == expected, f"{self.name} result should be {expected}, got {dst}")
        _same_elem(self, *self.inputs, *self.outputs)
        _expect(
            len(axes) == 1,
            f"{self.name} inputs must be reduced over the same mesh axes, got {sorted(axes)}",
        )


def allreduce_dist(src: Distribution, dims: tuple[int, ...]) -> Distribution:
    """An allreduce's result: the reduced dims have size 1 and are no longer split."""
    return src.with_(
        shape=tuple(1 if d in dims else n for d, n in enumerate(src.shape)),
        split=tuple("" if d in dims else a for d, a in enumerate(src.split)),
    )


@nonempty
@irdl_op_definition
class ReduceOp(_CombineAcrossPEsOp):
    """mesh.allreduce without the broadcast back: the total ends on the first PE of every
    reduced line, so the result lives on the grid with the reduced mesh axes collapsed to one
    PE (anchored at PE (0, 0) like every grid). For a result that only the host reads (or one
    PE): it saves the multicast back and lets every algorithm end at the corner.

        %r = mesh.reduce sum %p dims [0, 1] algorithm tree
            : !mesh.tensor<8x8xf32 on 8x8 split [r, c]> -> !mesh.tensor<1x1xf32 on 1x1 split [_, _]>
    """

    name = "mesh.reduce"

    @staticmethod
    def result_dist(src: Distribution, dims: tuple[int, ...]) -> Distribution:
        return reduce_dist(src, dims)


def reduce_dist(src: Distribution, dims: tuple[int, ...]) -> Distribution:
    """A reduce-to-root's result: as an allreduce's, on the grid without the reduced axes."""
    axes = "".join(src.split[d] for d in dims)
    rows, cols = src.grid
    return allreduce_dist(src, dims).with_(
        grid=(1 if "r" in axes else rows, 1 if "c" in axes else cols)
    )


@irdl_op_definition
class ReshapeOp(IRDLOperation):
    """A reshape that needs no data movement (see `is_local_reshape`)."""

    name = "mesh.reshape"
    input = operand_def(MeshTensorType)
    result = result_def(MeshTensorType)
    assembly_format = "$input attr-dict `:` type($input) `->` type($result)"
    traits = traits_def(Pure())

    def __init__(self, input: SSAValue, dist: Distribution):
        super().__init__(operands=[input], result_types=[MeshTensorType(dist, elem_of(input))])

    def verify_(self) -> None:
        _expect(
            is_local_reshape(dist_of(self.input), dist_of(self.result)),
            f"reshape {self.input.type} -> {self.result.type} moves data between PEs; "
            "redistribute first",
        )
        _same_elem(self, self.input, self.result)


@nonempty
@irdl_op_definition
class TransposeOp(IRDLOperation):
    """Permute dims of every tile; the split permutes with them (no communication)."""

    name = "mesh.transpose"
    input = operand_def(MeshTensorType)
    perm = prop_def(I64Array)
    result = result_def(MeshTensorType)
    assembly_format = "$input `perm` $perm attr-dict `:` type($input) `->` type($result)"
    traits = traits_def(Pure())

    def __init__(self, input: SSAValue, perm: Sequence[int]):
        result = transpose_dist(dist_of(input), tuple(perm))
        super().__init__(
            operands=[input],
            properties={"perm": i64_array(perm)},
            result_types=[MeshTensorType(result, elem_of(input))],
        )

    def verify_(self) -> None:
        src, dst = dist_of(self.input), dist_of(self.result)
        perm = _dims(self.perm)
        _expect(sorted(perm) == list(range(len(src.shape))), f"bad permutation {list(perm)}")
        expected = transpose_dist(src, perm)
        _expect(dst == expected, f"transpose result should be {expected}, got {dst}")
        _same_elem(self, self.input, self.result)


def transpose_dist(src: Distribution, perm: tuple[int, ...]) -> Distribution:
    """The dims and their split permuted together."""
    return src.with_(shape=[src.shape[p] for p in perm], split=[src.split[p] for p in perm])


@nonempty
@irdl_op_definition
class MatmulOp(IRDLOperation):
    """C = A @ B on a square grid, every operand split [r, c]. `algorithm`: SUMMA (per step k,
    PE column k broadcasts its A block along rows and PE row k its B block along columns),
    Cannon or MeshGEMM (A's blocks rotate along the rows and B's along the columns; A's column
    blocks and B's row blocks are the same size, one grid splitting the one contraction dim).

    Batched: A [*B, m, k], B [*B, k, n] -> C [*B, m, n] with the batch dims unsplit (each PE
    holds every batch entry of its blocks); one operand may have no batch dims (shared by
    every entry), as flame.matmul. The padding of A's and B's contraction dim must be zero
    (`mesh.mask_pad`).

    `transpose_a` / `transpose_b`: the operand is stored transposed in its last two dims
    (A [*B, k, m], B [*B, n, k]) and is consumed in place: C = A^T B, A B^T or A^T B^T with no
    transpose moved through the network (SUMMA only: each step's blocks go to the diagonal PE
    and turn there, see passes/pe_lowering/matmul.py; the other algorithms need the flags
    cleared by a materialised transpose first, `pe_lowering.matmul.set_algorithm` does it):

        %c = mesh.matmul summa transpose_a %a, %b : (!mesh.tensor<48x64xf32 on 4x4 split [r, c]>,
            !mesh.tensor<48x32xf32 on 4x4 split [r, c]>) -> !mesh.tensor<64x32xf32 on 4x4 split [r, c]>
    """

    name = "mesh.matmul"
    lhs = operand_def(MeshTensorType)
    rhs = operand_def(MeshTensorType)
    algorithm = prop_def(MatmulAlgorithmAttr)
    transpose_a = opt_prop_def(UnitAttr)
    transpose_b = opt_prop_def(UnitAttr)
    result = result_def(MeshTensorType)
    assembly_format = (
        "$algorithm (`transpose_a` $transpose_a^)? (`transpose_b` $transpose_b^)? $lhs `,` $rhs "
        "attr-dict `:` `(` type($lhs) `,` type($rhs) `)` `->` type($result)"
    )

    def __init__(
        self,
        lhs: SSAValue,
        rhs: SSAValue,
        result_type: MeshTensorType,
        algorithm: MatmulAlgorithm | str = MatmulAlgorithm.SUMMA,
        transpose_a: bool = False,
        transpose_b: bool = False,
    ):
        super().__init__(
            operands=[lhs, rhs],
            properties={
                "algorithm": MatmulAlgorithmAttr(MatmulAlgorithm(algorithm)),
                "transpose_a": UnitAttr() if transpose_a else None,
                "transpose_b": UnitAttr() if transpose_b else None,
            },
            result_types=[result_type],
        )

    @property
    def transposes(self) -> tuple[bool, bool]:
        """(A stored transposed, B stored transposed)."""
        return self.transpose_a is not None, self.transpose_b is not None

    @property
    def mkn(self) -> tuple[int, int, int]:
        """(m, k, n) of the product's blocks on one PE (the last two dims of A's block, or of
        its transpose, and B's)."""
        a, b = dist_of(self.lhs).block[-2:], dist_of(self.rhs).block[-2:]
        ta, tb = self.transposes
        (m, k), n = (a[::-1] if ta else a), (b[0] if tb else b[1])
        return m, k, n

    @property
    def k_blocks(self) -> int:
        """How many of the g K blocks hold data: ceil(K / k). The others are all contraction
        padding, zero in both operands (a 64x10 @ 10x256 product on 64x64 PEs has 10 of
        64), so a SUMMA's steps over them add nothing."""
        a = dist_of(self.lhs)
        contraction = a.shape[-2] if self.transposes[0] else a.shape[-1]
        k = self.mkn[1]
        return max(1, min(a.grid[0], -(-contraction // max(1, k))))

    def verify_(self) -> None:
        a, b, c = dist_of(self.lhs), dist_of(self.rhs), dist_of(self.result)
        ta, tb = self.transposes
        _expect(
            a.rect == b.rect == c.rect and a.grid[0] == a.grid[1],
            f"{self.algorithm.data} needs one square grid, got "
            + ", ".join(f"{d.grid}{origin_text(d.origin)}" for d in (a, b, c)),
        )
        for name, d in (("lhs", a), ("rhs", b), ("result", c)):
            _expect(
                len(d.shape) >= 2 and d.split == ("",) * (len(d.shape) - 2) + ("r", "c"),
                f"{self.algorithm.data}'s {name} must split its last two dims [r, c] and no "
                f"other, got {d}",
            )
        _expect(
            not (ta or tb)
            or self.algorithm.data in (MatmulAlgorithm.SUMMA, MatmulAlgorithm.SUMMA25D),
            f"{self.algorithm.data} cannot consume a transposed operand: materialise the "
            "transpose (mesh.transpose and mesh.redistribute) or use summa",
        )
        (am, ak), (bk, bn) = a.shape[-2:][:: -1 if ta else 1], b.shape[-2:][:: -1 if tb else 1]
        _expect(ak == bk, f"contraction sizes differ: {a.shape}, {b.shape}")
        batch_a, batch_b = a.shape[:-2], b.shape[:-2]
        _expect(
            not batch_a or not batch_b or batch_a == batch_b,
            f"batch dims differ: {batch_a}, {batch_b}",
        )
        _expect(
            c.shape == (batch_a or batch_b) + (am, bn),
            f"result shape {c.shape} is wrong",
        )
        _product_elems(self, self.lhs, self.rhs, self.result)


@nonempty
@irdl_op_definition
class LocalMatmulOp(IRDLOperation):
    """Every PE multiplies its own blocks, A [m, k] @ B [k, n], keeping one partial product per
    part of the contraction dim (as mesh.local_reduce keeps one partial per part): the result
    is [P, m, n], P the parts k is split over, dim 0 split like k. `mesh.allreduce sum` over
    dim 0 then gives the product. No communication: the operands stay where they are, which is
    what a GEMV or a skinny matmul wants (ALGORITHMS.md section 6).

    A and B share one grid; k has the same split in both (so the same blocks), and m, k, n are
    split over distinct mesh axes (`r`, `c`) or not at all. The padding of k must be zero in
    both operands (`mesh.mask_pad`). Batched: A [*B, m, k] @ B [*B, k, n] (one side may have
    no batch dims: it is shared by every entry) with the batch dims whole on every PE (a
    decode step's attention, q [B, h, 1, d] @ K^T [B, h, d, S]); the result is
    [P, *B, m, n].

        %p = mesh.local_matmul %a, %x : (!mesh.tensor<4096x4096xf32 on 64x64 split [r, c]>,
            !mesh.tensor<4096x1xf32 on 64x64 split [c, _]>)
            -> !mesh.tensor<64x4096x1xf32 on 64x64 split [c, r, _]>
    """

    name = "mesh.local_matmul"
    lhs = operand_def(MeshTensorType)
    rhs = operand_def(MeshTensorType)
    result = result_def(MeshTensorType)
    transpose_a = opt_prop_def(UnitAttr)
    transpose_b = opt_prop_def(UnitAttr)
    assembly_format = (
        "(`transpose_a` $transpose_a^)? (`transpose_b` $transpose_b^)? $lhs `,` $rhs attr-dict "
        "`:` `(` type($lhs) `,` type($rhs) `)` `->` type($result)"
    )
    traits = traits_def(Pure())

    def __init__(
        self,
        lhs: SSAValue,
        rhs: SSAValue,
        *,
        transpose_a: bool = False,
        transpose_b: bool = False,
        result_elem: Attribute | None = None,
    ):
        a = stored_transposed(dist_of(lhs), transpose_a)
        b = stored_transposed(dist_of(rhs), transpose_b)
        elem = elem_of(lhs) if result_elem is None else result_elem
        super().__init__(
            operands=[lhs, rhs],
            result_types=[MeshTensorType(local_matmul_dist(a, b), elem)],
            properties={
                "transpose_a": UnitAttr() if transpose_a else None,
                "transpose_b": UnitAttr() if transpose_b else None,
            },
        )

    @property
    def transposes(self) -> tuple[bool, bool]:
        """(A stored transposed, B stored transposed): its last two dims swapped, read in place
        (an `nn.Linear` weight W [n, k] for x @ W.T)."""
        return self.transpose_a is not None, self.transpose_b is not None

    def operand_dists(self) -> tuple[Distribution, Distribution]:
        """The operands as the product reads them (a transposed one with its last two dims,
        and their splits, swapped)."""
        ta, tb = self.transposes
        return stored_transposed(dist_of(self.lhs), ta), stored_transposed(dist_of(self.rhs), tb)

    def verify_(self) -> None:
        a, b = self.operand_dists()
        problem = local_matmul_problem(a, b)
        _expect(problem is None, f"local_matmul: {problem}")
        expected = local_matmul_dist(a, b)
        got = dist_of(self.result)
        _expect(got == expected, f"local_matmul result should be {expected}, got {got}")
        _product_elems(self, self.lhs, self.rhs, self.result)


def stored_transposed(d: Distribution, transposed: bool) -> Distribution:
    """`d` as a product reads it: with its last two dims and their splits swapped when it is
    stored transposed."""
    if not transposed:
        return d
    swap = (*range(len(d.shape) - 2), len(d.shape) - 1, len(d.shape) - 2)
    return d.with_(shape=tuple(d.shape[i] for i in swap), split=tuple(d.split[i] for i in swap))


def local_matmul_problem(a: Distribution, b: Distribution) -> str | None:
    """Why A @ B cannot be multiplied block by block where they are, or None."""
    if len(a.shape) < 2 or len(b.shape) < 2:
        return f"operands must be at least 2-D, got {a.shape} and {b.shape}"
    if a.rect != b.rect:
        return (
            f"operands must share a grid, got {a.grid}{origin_text(a.origin)} and "
            f"{b.grid}{origin_text(b.origin)}"
        )
    batch_a, batch_b = a.shape[:-2], b.shape[:-2]
    if batch_a and batch_b and batch_a != batch_b:
        return f"batch dims differ: {batch_a}, {batch_b}"
    if any(a.split[:-2]) or any(b.split[:-2]):
        return f"batch dims must be unsplit, got {a.split} and {b.split}"
    if a.shape[-1] != b.shape[-2]:
        return f"contraction sizes differ: {a.shape}, {b.shape}"
    if a.split[-1] != b.split[-2]:
        return f"the contraction dim must be split alike, got {a.split[-1]!r} and {b.split[-2]!r}"
    axes = [x for x in (a.split[-2], a.split[-1], b.split[-1]) if x]
    if any(x not in ("r", "c") for x in axes) or len(set(axes)) != len(axes):
        return f"m, k, n must be split over distinct axes r, c, got {a.split} and {b.split}"
    return None


def local_matmul_dist(a: Distribution, b: Distribution) -> Distribution:
    """The partials of a local matmul: [P, *B, m, n], P the parts of k, dim 0 split like k."""
    batch = a.shape[:-2] or b.shape[:-2]
    return Distribution(
        (a.parts(len(a.shape) - 1), *batch, a.shape[-2], b.shape[-1]),
        a.grid,
        (a.split[-1], *("",) * len(batch), a.split[-2], b.split[-1]),
        a.origin,
    )


@nonempty
@irdl_op_definition
class RedistributeOp(IRDLOperation):
    """Move a tensor to another distribution (another grid or split): point-to-point block
    transfers between PEs (the destination's padding zeroed)."""

    name = "mesh.redistribute"
    input = operand_def(MeshTensorType)
    result = result_def(MeshTensorType)
    assembly_format = "$input attr-dict `:` type($input) `->` type($result)"

    def __init__(self, input: SSAValue, dist: Distribution):
        super().__init__(operands=[input], result_types=[MeshTensorType(dist, elem_of(input))])

    def verify_(self) -> None:
        _expect(
            dist_of(self.input).shape == dist_of(self.result).shape,
            "redistribute keeps the global shape",
        )
        _same_elem(self, self.input, self.result)


# --- shape ops ---------------------------------------------------------------------------
# mesh.broadcast is local (each PE expands its tile). mesh.slice, mesh.concat and mesh.pad move
# data: every element of the result comes from the element of an operand at an affine index
# (lowered to pe.exchange with an offset and a stride per dim), so their operands and result
# may be distributed in any way, on any grids.


def _shape_rule(rule, *args):
    try:
        return rule(*args)
    except ShapeError as err:
        raise VerifyException(str(err)) from err


@nonempty
@irdl_op_definition
class BroadcastOp(IRDLOperation):
    """Expand every PE's tile to the result's block (numpy broadcasting, no communication);
    see `broadcast_problem` for the distributions it accepts."""

    name = "mesh.broadcast"
    input = operand_def(MeshTensorType)
    result = result_def(MeshTensorType)
    assembly_format = "$input attr-dict `:` type($input) `->` type($result)"
    traits = traits_def(Pure())

    def __init__(self, input: SSAValue, dist: Distribution):
        super().__init__(operands=[input], result_types=[MeshTensorType(dist, elem_of(input))])

    def verify_(self) -> None:
        problem = broadcast_problem(dist_of(self.input), dist_of(self.result))
        _expect(problem is None, str(problem))
        _same_elem(self, self.input, self.result)


@nonempty
@irdl_op_definition
class SliceOp(IRDLOperation):
    """Result element i (per dim d) = operand element start[d] + step[d] * i[d]; operand and
    result may be distributed differently (data moves between PEs where it must). The result
    may also be the window reshaped (any shape with as many elements): its element at
    row-major position p is the window's element p (flame-to-mesh folds a reshape that moves
    data into the slice before it: one exchange, not two)."""

    name = "mesh.slice"
    input = operand_def(MeshTensorType)
    start = prop_def(I64Array)
    stop = prop_def(I64Array)
    step = prop_def(I64Array)
    result = result_def(MeshTensorType)
    assembly_format = (
        "$input `start` $start `stop` $stop `step` $step attr-dict `:` type($input) `->` "
        "type($result)"
    )
    traits = traits_def(Pure())

    def __init__(
        self,
        input: SSAValue,
        start: Sequence[int],
        stop: Sequence[int],
        step: Sequence[int],
        dist: Distribution,
    ):
        super().__init__(
            operands=[input],
            properties={
                "start": i64_array(start),
                "stop": i64_array(stop),
                "step": i64_array(step),
            },
            result_types=[MeshTensorType(dist, elem_of(input))],
        )

    @property
    def bounds(self) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
        return _dims(self.start), _dims(self.stop), _dims(self.step)

    @property
    def window_shape(self) -> tuple[int, ...] | None:
        """The window's shape when the result is it reshaped; None when the result is the
        window itself."""
        window = _shape_rule(shapes.slice_shape, dist_of(self.input).shape, *self.bounds)
        return None if window == dist_of(self.result).shape else tuple(window)

    def verify_(self) -> None:
        expected = _shape_rule(shapes.slice_shape, dist_of(self.input).shape, *self.bounds)
        got = dist_of(self.result).shape
        _expect(
            got == expected or math.prod(got) == math.prod(expected),
            f"slice result shape {list(got)} should be {list(expected)} (or as many elements)",
        )
        _same_elem(self, self.input, self.result)


def slice_index_map(
    src: Sequence[int],
    dst: Sequence[int],
    offset: Sequence[int],
    stride: Sequence[int],
    window: Sequence[int] | None = None,
) -> tuple[tuple[int, ...], ...] | None:
    """The pe.exchange index map of a slice (offset, stride; the window's shape too when the
    result is the window reshaped); None when it is the identity between equal shapes."""
    if window is not None:
        return tuple(offset), tuple(stride), tuple(window)
    if tuple(src) == tuple(dst) and not any(offset) and all(k == 1 for k in stride):
        return None
    return tuple(offset), tuple(stride)


@irdl_op_definition
class ConcatOp(IRDLOperation):
    """The operands joined along `dim`; each may be distributed in its own way."""

    name = "mesh.concat"
    inputs = var_operand_def(MeshTensorType)
    dim = prop_def(IntegerAttr[I64])
    result = result_def(MeshTensorType)
    assembly_format = "$inputs `dim` $dim attr-dict `:` `(` type($inputs) `)` `->` type($result)"
    traits = traits_def(Pure())

    def __init__(self, inputs: Sequence[SSAValue], dim: int, dist: Distribution):
        super().__init__(
            operands=[list(inputs)],
            properties={"dim": IntegerAttr(dim, i64)},
            result_types=[MeshTensorType(dist, elem_of(inputs[0]))],
        )

    @property
    def dim_index(self) -> int:
        return self.dim.value.data

    def verify_(self) -> None:
        expected = _shape_rule(
            shapes.concat, [dist_of(v).shape for v in self.inputs], self.dim_index
        )
        got = dist_of(self.result).shape
        _expect(got == expected, f"concat result shape {list(got)} should be {list(expected)}")
        _same_elem(self, *self.inputs, self.result)


@nonempty
@irdl_op_definition
class PadOp(IRDLOperation):
    """`low[d]` elements of `value` before and `high[d]` after each dim d (negative: crop)."""

    name = "mesh.pad"
    input = operand_def(MeshTensorType)
    low = prop_def(I64Array)
    high = prop_def(I64Array)
    value = prop_def(F64Attr)
    result = result_def(MeshTensorType)
    assembly_format = (
        "$input `low` $low `high` $high `value` custom<F64>($value) attr-dict `:` "
        "type($input) `->` type($result)"
    )
    custom_directives = (F64,)
    traits = traits_def(Pure())

    def __init__(
        self,
        input: SSAValue,
        low: Sequence[int],
        high: Sequence[int],
        value: float,
        dist: Distribution,
    ):
        super().__init__(
            operands=[input],
            properties={"low": i64_array(low), "high": i64_array(high), "value": f64_attr(value)},
            result_types=[MeshTensorType(dist, elem_of(input))],
        )

    @property
    def widths(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        return _dims(self.low), _dims(self.high)

    def verify_(self) -> None:
        expected = _shape_rule(shapes.pad, dist_of(self.input).shape, *self.widths)
        got = dist_of(self.result).shape
        _expect(got == expected, f"pad result shape {list(got)} should be {list(expected)}")
        _same_elem(self, self.input, self.result)


@nonempty
@irdl_op_definition
class RelayoutOp(IRDLOperation):
    """A reshape that moves data: the same elements in row-major order, in a new shape and any
    distribution (each element travels to its new place; see `mesh.reshape` for the local
    kind)."""

    name = "mesh.relayout"
    input = operand_def(MeshTensorType)
    result = result_def(MeshTensorType)
    assembly_format = "$input attr-dict `:` type($input) `->` type($result)"
    traits = traits_def(Pure())

    def __init__(self, input: SSAValue, dist: Distribution):
        super().__init__(operands=[input], result_types=[MeshTensorType(dist, elem_of(input))])

    def verify_(self) -> None:
        src, dst = dist_of(self.input).shape, dist_of(self.result).shape
        _expect(
            math.prod(src) == math.prod(dst),
            f"relayout of {list(src)} ({math.prod(src)} elements) to {list(dst)} "
            f"({math.prod(dst)}) changes the element count",
        )
        _same_elem(self, self.input, self.result)


SHAPE_OPS: list[type[IRDLOperation]] = [BroadcastOp, SliceOp, ConcatOp, PadOp, RelayoutOp]


# --- convolution and pooling ---------------------------------------------------------------
# Windowed ops on NCHW tensors split [_, _, r, c]; the halo arithmetic (`HaloAxis`) is
# pyflame/core/distribution.py's.


class _WindowedOp(IRDLOperation, WindowAccess):
    """Shared by mesh.conv2d, mesh.conv2d_weight_grad and mesh.pool2d: the window's attributes
    (read through `WindowAccess`: `spatial()`, `group_count`, ...) and the layout rules."""

    stride = prop_def(I64Array)
    padding = prop_def(I64Array)
    dilation = prop_def(I64Array)

    @property
    def channel_split(self) -> bool:
        """conv2d's channel-split form (its weight split over the grid's columns)."""
        return False

    def _window_output(self) -> SSAValue:
        """The tensor of the output positions the windows are read for: the result, or the
        output gradient for the weight gradient."""
        return self.result  # type: ignore[attr-defined]  # subclasses declare it

    def axes(self) -> tuple[HaloAxis, HaloAxis]:
        """The H and W axes; in the channel-split form W is whole on every PE (one part)."""
        kernel, stride, padding, dilation = self.spatial()
        x, y = dist_of(self.input), dist_of(self._window_output())  # type: ignore[attr-defined]  # subclasses declare it
        grid = (x.grid[0], 1) if self.channel_split else x.grid
        return halo_axes(x.shape, y.shape, grid, kernel, stride, padding, dilation)

    def _check_input_split(self, channel_split_form: str) -> None:
        """The input's split for the op's form; `channel_split_form` names what asks for the
        channel-split one (in the message)."""
        x = dist_of(self.input)  # type: ignore[attr-defined]  # subclasses declare it
        if self.channel_split:
            _expect(
                is_channel_split(x),
                f"'{self.name}' with {channel_split_form} needs the input split [_, c, r, _], "
                f"got {x}",
            )
        else:
            _expect(
                is_spatial(x), f"'{self.name}' input must be 4-D and split [_, _, r, c], got {x}"
            )

    def _check_halos(self) -> None:
        for name, axis in zip(("rows", "cols"), self.axes(), strict=True):
            problem = axis.problem()
            _expect(
                problem is None,
                f"'{self.name}' halo along the grid's {name} exceeds a neighbour's block: "
                f"{problem}; use fewer PEs along that axis",
            )

    def _check_layouts(self, expected: Sequence[int]) -> None:
        x, y = dist_of(self.input), dist_of(self.result)  # type: ignore[attr-defined]  # subclasses declare them
        self._check_input_split("a channel-split weight")
        want = x.with_(shape=tuple(expected))
        _expect(y == want, f"'{self.name}' result should be {want}, got {y}")
        self._check_halos()


@nonempty
@irdl_op_definition
class Conv2dOp(_WindowedOp):
    """conv2d on a grid, in one of two forms (told apart by the weight's split):

    - spatial: the input split [_, _, r, c] (`is_spatial`), weight and bias replicated on every
      PE of the same grid, the result split like the input (PE (i, j) computes output block
      (i, j)). Lowered to a halo exchange between neighbouring PEs and a local conv on each PE.
    - channel-split (groups 1): the input split [_, c, r, _] (`is_channel_split`: input
      channels over the grid's columns, H over its rows), the weight split [c, _, _, _] and the
      bias [c] (output channels over the columns: the weight is never whole on a PE), the
      result split like the input. Lowered to one step per input channel chunk: the PE column
      holding it multicasts its tile along the rows, every PE exchanges the chunk's halo with
      its row neighbours and accumulates its output channels' conv of the chunk."""

    name = "mesh.conv2d"
    input = operand_def(MeshTensorType)
    weight = operand_def(MeshTensorType)
    bias = opt_operand_def(MeshTensorType)
    groups = prop_def(IntegerAttr[I64])
    result = result_def(MeshTensorType)
    assembly_format = (
        "$input `,` $weight (`,` $bias^)? `stride` $stride `padding` $padding `dilation` "
        "$dilation `groups` $groups attr-dict `:` functional-type(operands, results)"
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
        groups: int,
        dist: Distribution,
        result_elem: Attribute | None = None,
    ):
        super().__init__(
            operands=[input, weight, [] if bias is None else [bias]],
            properties=window_properties(
                stride=stride, padding=padding, dilation=dilation, groups=groups
            ),
            result_types=[
                MeshTensorType(dist, elem_of(input) if result_elem is None else result_elem)
            ],
        )

    @property
    def kernel_pair(self) -> tuple[int, ...]:
        return dist_of(self.weight).shape[2:]

    @property
    def channel_split(self) -> bool:
        return dist_of(self.weight).split[:1] == ("c",)

    def verify_(self) -> None:
        x, w = dist_of(self.input), dist_of(self.weight)
        b = None if self.bias is None else dist_of(self.bias)
        _, stride, padding, dilation = self.spatial()
        groups = self.group_count
        b_shape = None if b is None else b.shape
        expected = _shape_rule(
            shapes.conv2d, x.shape, w.shape, b_shape, stride, padding, dilation, groups
        )
        if self.channel_split:
            self._check_channel_split_operands(x, w, b)
        else:
            for name, d in (("weight", w), ("bias", b)):
                if d is not None:
                    _expect(
                        d.rect == x.rect and all(a == "" for a in d.split),
                        f"conv2d {name} must be replicated on the input's grid, got {d}",
                    )
        self._check_layouts(expected)
        _same_elem(self, *[v for v in (self.input, self.weight, self.bias) if v is not None])
        _product_elems(self, self.input, self.weight, self.result)

    def _check_channel_split_operands(
        self, x: Distribution, w: Distribution, b: Distribution | None
    ) -> None:
        groups = self.group_count
        _expect(groups == 1, f"the channel-split conv2d takes groups 1, got {groups}")
        _expect(
            w.rect == x.rect and w.split == ("c", "", "", ""),
            f"channel-split conv2d weight must be split [c, _, _, _] on the input's grid, got {w}",
        )
        _expect(
            b is None or (b.rect == x.rect and b.split == ("c",)),
            f"channel-split conv2d bias must be split [c] on the input's grid, got {b}",
        )


@nonempty
@irdl_op_definition
class Pool2dOp(_WindowedOp):
    """max or average (padding counted in the divisor) over each window; layouts as
    mesh.conv2d's input and result. max pooling pads with -inf, average pooling with zeros."""

    name = "mesh.pool2d"
    input = operand_def(MeshTensorType)
    kind = prop_def(PoolKindAttr)
    kernel = prop_def(I64Array)
    result = result_def(MeshTensorType)
    assembly_format = (
        "$kind $input `kernel` $kernel `stride` $stride `padding` $padding `dilation` $dilation "
        "attr-dict `:` type($input) `->` type($result)"
    )
    traits = traits_def(Pure())

    def __init__(
        self,
        kind: PoolKind | str,
        input: SSAValue,
        kernel: Sequence[int],
        stride: Sequence[int],
        padding: Sequence[int],
        dilation: Sequence[int],
        dist: Distribution,
    ):
        super().__init__(
            operands=[input],
            properties={
                "kind": PoolKindAttr(PoolKind(kind)),
                **window_properties(
                    kernel=kernel, stride=stride, padding=padding, dilation=dilation
                ),
            },
            result_types=[MeshTensorType(dist, elem_of(input))],
        )

    def verify_(self) -> None:
        expected = _shape_rule(shapes.pool2d, dist_of(self.input).shape, *self.spatial(), "pool2d")
        self._check_layouts(expected)
        _same_elem(self, self.input, self.result)


def weight_grad_partials(
    x: Distribution, w_shape: Sequence[int], channel_split: bool
) -> Distribution:
    """The per-PE partial sums of a conv2d's weight gradient (w_shape: O, C/groups, kh, kw) on
    x's grid, one per PE: spatial form (R, C, O, C/groups, kh, kw) split [r, c, _, _, _, _]
    (every PE its whole [O, C/groups, kh, kw] partial), channel-split form (R, O, C, kh, kw)
    split [r, c, _, _, _] (PE (i, j) the partial of its output channels' filters)."""
    rows, cols = x.grid
    if channel_split:
        return Distribution((rows, *w_shape), x.grid, ("r", "c", "", "", ""), x.origin)
    return Distribution((rows, cols, *w_shape), x.grid, ("r", "c", "", "", "", ""), x.origin)


@nonempty
@irdl_op_definition
class Conv2dWeightGradOp(_WindowedOp):
    """The per-PE partials of a conv2d's weight gradient: dW[o, c, ky, kx] = sum over n, y, x
    of grad[n, o, y, x] * xp[n, c, y * sh + ky * dh, x * sw + kx * dw] over each PE's pixels
    (xp the zero-padded input, its halo exchanged as mesh.conv2d's). Summed over the grid by a
    mesh.allreduce of the partial dims (`weight_grad_partials`), the weight gradient ends where
    the weight lives. Two forms, told apart by the result's rank:

    - spatial: input and grad split [_, _, r, c] on one grid; every PE computes its whole
      [O, C/groups, kh, kw] partial from its window (the result (R, C, O, C/groups, kh, kw)).
    - channel-split (groups 1): input and grad split [_, c, r, _]; one step per input channel:
      its PE column multicasts the channel's window along the rows and every PE computes the
      channel's taps for its output channels (the result (R, O, C, kh, kw) split [r, c, ...]).

        %p = mesh.conv2d_weight_grad %x, %dy kernel [3, 3] stride [1, 1] padding [1, 1, 1, 1]
             dilation [1, 1] groups 1 : (!mesh.tensor<2x5x9x8xf32 on 3x4 split [_, c, r, _]>,
             !mesh.tensor<2x6x9x8xf32 on 3x4 split [_, c, r, _]>)
             -> !mesh.tensor<3x6x5x3x3xf32 on 3x4 split [r, c, _, _, _]>
    """

    name = "mesh.conv2d_weight_grad"
    input = operand_def(MeshTensorType)
    grad = operand_def(MeshTensorType)
    kernel = prop_def(I64Array)
    groups = prop_def(IntegerAttr[I64])
    result = result_def(MeshTensorType)
    assembly_format = (
        "$input `,` $grad `kernel` $kernel `stride` $stride `padding` $padding `dilation` "
        "$dilation `groups` $groups attr-dict `:` functional-type(operands, results)"
    )
    traits = traits_def(Pure())

    def __init__(
        self,
        input: SSAValue,
        grad: SSAValue,
        kernel: Sequence[int],
        stride: Sequence[int],
        padding: Sequence[int],
        dilation: Sequence[int],
        groups: int,
        channel_split: bool,
        result_elem: Attribute | None = None,
    ):
        x, dy = dist_of(input), dist_of(grad)
        w_shape = (dy.shape[1], x.shape[1] // groups, *kernel)
        elem = elem_of(input) if result_elem is None else result_elem
        super().__init__(
            operands=[input, grad],
            properties=window_properties(
                kernel=kernel, stride=stride, padding=padding, dilation=dilation, groups=groups
            ),
            result_types=[MeshTensorType(weight_grad_partials(x, w_shape, channel_split), elem)],
        )

    @property
    def channel_split(self) -> bool:
        return len(dist_of(self.result).shape) == 5

    @property
    def weight_shape(self) -> tuple[int, ...]:
        return tuple(dist_of(self.result).shape[-4:])

    def _window_output(self) -> SSAValue:
        return self.grad

    def verify_(self) -> None:
        x, dy, p = dist_of(self.input), dist_of(self.grad), dist_of(self.result)
        groups = self.group_count
        w_shape = _shape_rule(shapes.conv2d_weight_grad, x.shape, dy.shape, *self.spatial(), groups)
        if self.channel_split:
            _expect(groups == 1, f"the channel-split {self.name} takes groups 1, got {groups}")
        self._check_input_split("(R, O, C, kh, kw) partials")
        want_dy = x.with_(shape=dy.shape)
        _expect(dy == want_dy, f"'{self.name}' grad should be {want_dy}, got {dy}")
        want = weight_grad_partials(x, w_shape, self.channel_split)
        _expect(p == want, f"'{self.name}' result should be {want}, got {p}")
        self._check_halos()
        _product_elems(self, self.input, self.grad, self.result)


CONV_OPS: list[type[IRDLOperation]] = [Conv2dOp, Conv2dWeightGradOp, Pool2dOp]


# --- creation: iota and uniform random ----------------------------------------------------
# Placed like mesh.fill / mesh.random_normal: every PE computes its own elements from their
# global indices, so the values do not depend on the distribution (padding: unspecified).


@irdl_op_definition
class IotaOp(IRDLOperation):
    """Every element `start + step * i`, i its global index along `dim` (as flame.iota)."""

    name = "mesh.iota"
    dim = prop_def(IntegerAttr[I64])
    start = prop_def(F64Attr)
    step = prop_def(F64Attr)
    result = result_def(MeshTensorType)
    assembly_format = (
        "`dim` $dim `start` custom<F64>($start) `step` custom<F64>($step) attr-dict `:` "
        "type($result)"
    )
    custom_directives = (F64,)
    traits = traits_def(Pure())

    def __init__(self, dim: int, start: float, step: float, result_type: MeshTensorType):
        super().__init__(
            properties={
                "dim": IntegerAttr(dim, i64),
                "start": f64_attr(start),
                "step": f64_attr(step),
            },
            result_types=[result_type],
        )

    def verify_(self) -> None:
        rank, dim = len(dist_of(self.result).shape), self.dim.value.data
        _expect(0 <= dim < rank, f"iota dim {dim} is out of range for a rank-{rank} result")


@irdl_op_definition
class RandomUniformOp(IRDLOperation):
    """Uniform samples in [minval, maxval) (integers for an integer result) from (seed, global
    index): layout-independent, as mesh.random_normal."""

    name = "mesh.random_uniform"
    seed = operand_def(IntegerType)
    minval = prop_def(F64Attr)
    maxval = prop_def(F64Attr)
    result = result_def(MeshTensorType)
    assembly_format = (
        "$seed `minval` custom<F64>($minval) `maxval` custom<F64>($maxval) attr-dict `:` "
        "type($seed) `->` type($result)"
    )
    custom_directives = (F64,)
    traits = traits_def(Pure())

    def __init__(self, seed: SSAValue, minval: float, maxval: float, result_type: MeshTensorType):
        super().__init__(
            operands=[seed],
            properties={"minval": f64_attr(minval), "maxval": f64_attr(maxval)},
            result_types=[result_type],
        )

    def verify_(self) -> None:
        _uniform_range(str(elem_of(self.result)), self.minval.value.data, self.maxval.value.data)


def _uniform_range(elem: str, low: float, high: float) -> None:
    problem = shapes.uniform_range_problem(elem, low, high)
    if problem is not None:
        raise VerifyException(problem)


CREATION_OPS: list[type[IRDLOperation]] = [IotaOp, RandomUniformOp]


# --- indexed rows -------------------------------------------------------------------------
# A table's rows stay where they are: the index (a copy on every PE) goes to them. Each PE
# reads the rows it holds (zeros for the others) into one partial per part of the table's row
# split; a sum across that split (mesh.allreduce) puts every row where the output lives. The
# transpose adds rows of a source (split like the table's columns) into the rows a PE holds.


def gather_rows_dist(table: Distribution, index: tuple[int, ...]) -> Distribution:
    """mesh.gather_rows' result for `table` and an index of shape I: [P, *I, D], one partial
    per part P of the table's row split, split like the table's rows (dim 0) and columns."""
    return Distribution(
        (table.parts(0), *index, table.shape[1]),
        table.grid,
        (table.split[0], *("",) * len(index), table.split[1]),
        table.origin,
    )


def _check_row_index(op: IRDLOperation, index: SSAValue, on: Distribution) -> None:
    d = dist_of(index)
    _expect(
        all(a == "" for a in d.split) and d.rect == on.rect and str(elem_of(index)) == "i32",
        f"'{op.name}' index must be i32 with a copy on every PE of the table's "
        f"{on.grid[0]}x{on.grid[1]}{origin_text(on.origin)} grid (no dim split), got {index.type}",
    )


@nonempty
@irdl_op_definition
class GatherRowsOp(IRDLOperation):
    """Every PE reads, for each index entry k, row index[k] of its table tile when it holds that
    row (else zeros): partial p of the result [P, *I, D] holds the rows of the table's row
    block p. The index (any shape I) is a copy on every PE; `mesh.allreduce sum` over dim 0
    then gives the gathered rows.

        %p = mesh.gather_rows %w, %i : (!mesh.tensor<4096x128xf32 on 8x8 split [r, c]>,
            !mesh.tensor<64xi32 on 8x8 split [_]>) -> !mesh.tensor<8x64x128xf32 on 8x8 split [r, _, c]>
    """

    name = "mesh.gather_rows"
    table = operand_def(MeshTensorType)
    index = operand_def(MeshTensorType)
    result = result_def(MeshTensorType)
    assembly_format = (
        "$table `,` $index attr-dict `:` `(` type($table) `,` type($index) `)` `->` type($result)"
    )
    traits = traits_def(Pure())

    def __init__(self, table: SSAValue, index: SSAValue):
        index_shape = dist_of(index).shape
        result = MeshTensorType(gather_rows_dist(dist_of(table), index_shape), elem_of(table))
        super().__init__(operands=[table, index], result_types=[result])

    def verify_(self) -> None:
        table = dist_of(self.table)
        _expect(len(table.shape) == 2, f"'{self.name}' table must be 2-D, got {self.table.type}")
        _check_row_index(self, self.index, table)
        expected = gather_rows_dist(table, dist_of(self.index).shape)
        got = dist_of(self.result)
        _expect(got == expected, f"gather_rows result should be {expected}, got {got}")
        _same_elem(self, self.table, self.result)


@nonempty
@irdl_op_definition
class ScatterAddRowsOp(IRDLOperation):
    """The transpose of gather_rows: every PE adds, for each index entry k, row k of `src` into
    row index[k] of its tile of a zero result when it holds that row. `src` [*I, D] (I the
    index's shape) is split like the result's columns and copied along the axis that splits the
    result's rows.

        %g = mesh.scatter_add_rows %i, %d : (!mesh.tensor<64xi32 on 8x8 split [_]>,
            !mesh.tensor<64x128xf32 on 8x8 split [_, c]>) -> !mesh.tensor<4096x128xf32 on 8x8 split [r, c]>
    """

    name = "mesh.scatter_add_rows"
    index = operand_def(MeshTensorType)
    src = operand_def(MeshTensorType)
    result = result_def(MeshTensorType)
    assembly_format = (
        "$index `,` $src attr-dict `:` `(` type($index) `,` type($src) `)` `->` type($result)"
    )
    traits = traits_def(Pure())

    def __init__(self, index: SSAValue, src: SSAValue, dist: Distribution):
        super().__init__(operands=[index, src], result_types=[MeshTensorType(dist, elem_of(src))])

    def verify_(self) -> None:
        out, src = dist_of(self.result), dist_of(self.src)
        _expect(len(out.shape) == 2, f"'{self.name}' result must be 2-D, got {self.result.type}")
        _check_row_index(self, self.index, out)
        index = dist_of(self.index).shape
        expected = out.with_(
            shape=(*index, out.shape[1]), split=(*("",) * len(index), out.split[1])
        )
        _expect(
            src == expected,
            f"scatter_add_rows source should be {expected} (the result's columns), got {src}",
        )
        _same_elem(self, self.src, self.result)


# The ring forms (passes/pe_lowering/ring_rows.py) split the index, the gathered rows and a
# scatter-add's source over the PEs instead of copying them to every PE: a table split
# [a, b] (rows along mesh axis a, or "" for none; its columns along the other axis b, or not)
# holds one copy per line of the axis b leaves; chunk k of the index (split over the axes b
# does not use) travels once around its line of a, each PE it visits reading (or adding) the
# rows it holds.


def ring_axes(table: Distribution) -> str:
    """The mesh axes a ring gather's index and rows are split over: those the table's columns
    are not split on ("rc" for a table whose columns are whole)."""
    return "".join(a for a in "rc" if a not in table.split[1])


def ring_length(table: Distribution) -> int:
    """The PEs one index chunk visits: the parts of the table's row split."""
    return table.parts(0)


def ring_index_dist(table: Distribution, entries: int) -> Distribution:
    return table.with_(shape=(entries,), split=(ring_axes(table),))


def ring_rows_dist(table: Distribution, entries: int) -> Distribution:
    """The rows a ring gather reads, [N, D]: split like its index and the table's columns."""
    return table.with_(shape=(entries, table.shape[1]), split=(ring_axes(table), table.split[1]))


def ring_partials_dist(table: Distribution) -> Distribution:
    """A ring scatter-add's result [P, V, D]: one partial table per copy of the table (P lines
    of the axis neither its rows nor its columns use; 1 when there is none)."""
    free = "".join(a for a in "rc" if a not in table.split[0] + table.split[1])
    parts = table.with_(shape=(1,), split=(free,)).parts(0)
    return table.with_(shape=(parts, *table.shape), split=(free, *table.split))


def _check_ring_table(op: IRDLOperation, table: Distribution) -> None:
    rows, cols = table.split
    _expect(
        rows in ("r", "c", "") and cols in ("r", "c", "") and (rows != cols or rows == ""),
        f"'{op.name}' table rows and columns must each be split along one mesh axis or none, "
        f"got {table}",
    )


def _check_ring_index(op: IRDLOperation, index: SSAValue, table: Distribution) -> int:
    d = dist_of(index)
    _expect(
        len(d.shape) == 1 and str(elem_of(index)) == "i32",
        f"'{op.name}' index must be 1-D i32, got {index.type}",
    )
    want = ring_index_dist(table, d.shape[0])
    _expect(d == want, f"'{op.name}' index should be {want}, got {d}")
    return d.shape[0]


@nonempty
@irdl_op_definition
class RingGatherRowsOp(IRDLOperation):
    """The rows of a table at a 1-D index, the index and the rows split over the PEs: each
    chunk of the index travels once around its line of the table's row split (with the rows
    gathered so far), and every PE it visits fills in the rows it holds. Rows at an index
    outside [0, V) are zeros.

        %e = mesh.ring_gather_rows %w, %i : (!mesh.tensor<10000x1xf32 on 16x4 split [r, _]>,
            !mesh.tensor<10000xi32 on 16x4 split [rc]>) -> !mesh.tensor<10000x1xf32 on 16x4 split [rc, _]>
    """

    name = "mesh.ring_gather_rows"
    table = operand_def(MeshTensorType)
    index = operand_def(MeshTensorType)
    result = result_def(MeshTensorType)
    assembly_format = (
        "$table `,` $index attr-dict `:` `(` type($table) `,` type($index) `)` `->` type($result)"
    )
    traits = traits_def(Pure())

    def __init__(self, table: SSAValue, index: SSAValue):
        entries = dist_of(index).shape[0]
        result = MeshTensorType(ring_rows_dist(dist_of(table), entries), elem_of(table))
        super().__init__(operands=[table, index], result_types=[result])

    def verify_(self) -> None:
        table = dist_of(self.table)
        _expect(len(table.shape) == 2, f"'{self.name}' table must be 2-D, got {self.table.type}")
        _check_ring_table(self, table)
        entries = _check_ring_index(self, self.index, table)
        expected = ring_rows_dist(table, entries)
        got = dist_of(self.result)
        _expect(got == expected, f"ring_gather_rows result should be {expected}, got {got}")
        _same_elem(self, self.table, self.result)


@nonempty
@irdl_op_definition
class RingScatterAddRowsOp(IRDLOperation):
    """The transpose of mesh.ring_gather_rows: each chunk of the index and of `src` [N, D]
    travels once around its line of the result's row split, and every PE it visits adds the
    rows it holds into its tile of a zero table. Each copy of the table (`ring_partials_dist`:
    dim 0, one per line of a mesh axis the table does not split) holds the sum of the chunks
    that went round its line; `mesh.allreduce sum` over dim 0 adds them.

        %g = mesh.ring_scatter_add_rows %i, %d : (!mesh.tensor<10000xi32 on 16x4 split [rc]>,
            !mesh.tensor<10000x1xf32 on 16x4 split [rc, _]>) -> !mesh.tensor<4x10000x1xf32 on 16x4 split [c, r, _]>
    """

    name = "mesh.ring_scatter_add_rows"
    index = operand_def(MeshTensorType)
    src = operand_def(MeshTensorType)
    result = result_def(MeshTensorType)
    assembly_format = (
        "$index `,` $src attr-dict `:` `(` type($index) `,` type($src) `)` `->` type($result)"
    )
    traits = traits_def(Pure())

    def __init__(self, index: SSAValue, src: SSAValue, table: Distribution):
        result = MeshTensorType(ring_partials_dist(table), elem_of(src))
        super().__init__(operands=[index, src], result_types=[result])

    def table_dist(self) -> Distribution:
        """The layout of one copy of the result table."""
        out = dist_of(self.result)
        return out.with_(shape=out.shape[1:], split=out.split[1:])

    def verify_(self) -> None:
        out = dist_of(self.result)
        _expect(len(out.shape) == 3, f"'{self.name}' result must be 3-D, got {self.result.type}")
        table = self.table_dist()
        _check_ring_table(self, table)
        _expect(
            out == ring_partials_dist(table),
            f"ring_scatter_add_rows result should be {ring_partials_dist(table)}, got {out}",
        )
        entries = _check_ring_index(self, self.index, table)
        expected = ring_rows_dist(table, entries)
        got = dist_of(self.src)
        _expect(got == expected, f"ring_scatter_add_rows source should be {expected}, got {got}")
        _same_elem(self, self.src, self.result)


INDEXED_OPS: list[type[IRDLOperation]] = [
    GatherRowsOp,
    ScatterAddRowsOp,
    RingGatherRowsOp,
    RingScatterAddRowsOp,
]


Mesh = Dialect(
    "mesh",
    [
        ScatterOp,
        GatherOp,
        FillOp,
        RandomNormalOp,
        UnaryOp,
        BinaryOp,
        SelectOp,
        ConvertOp,
        MaskPadOp,
        LocalReduceOp,
        AllReduceOp,
        AllReduceGroupOp,
        ReduceOp,
        ReshapeOp,
        TransposeOp,
        MatmulOp,
        LocalMatmulOp,
        RedistributeOp,
        *SHAPE_OPS,
        *CONV_OPS,
        *CREATION_OPS,
        *INDEXED_OPS,
    ],
    [MeshTensorType, *ENUM_ATTRS],
)
