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
    %p = mesh.local_reduce %a1 {kind = "sum", dims = array<i64: 0>} : ... -> !mesh.tensor<4x48xf32 on 4x4 split [r, c]>
    %s = mesh.allreduce %p {kind = "sum", dims = array<i64: 0>} : ... -> !mesh.tensor<1x48xf32 on 4x4 split [_, c]>
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from xdsl.dialects.builtin import (
    ArrayAttr,
    DenseArrayBase,
    FloatAttr,
    IntAttr,
    IntegerType,
    StringAttr,
    TensorType,
)
from xdsl.ir import Attribute, Dialect, ParametrizedAttribute, SSAValue, TypeAttribute
from xdsl.irdl import (
    IRDLOperation,
    VarConstraint,
    attr_def,
    base,
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

AXES = ("r", "c", "rc", "")  # "" (printed `_`): the dim is not split

# --------------------------------------------------------------------------- the type


@dataclass(frozen=True)
class Distribution:
    """Block arithmetic of a distributed tensor, independent of xDSL (used by passes and sim)."""

    shape: tuple[int, ...]
    grid: tuple[int, int]
    split: tuple[str, ...]

    def parts(self, dim: int) -> int:
        rows, cols = self.grid
        return {"r": rows, "c": cols, "rc": rows * cols, "": 1}[self.split[dim]]

    @property
    def block(self) -> tuple[int, ...]:
        """The per-PE block shape (padded)."""
        return tuple(-(-n // self.parts(d)) if n else 0 for d, n in enumerate(self.shape))

    @property
    def padded_shape(self) -> tuple[int, ...]:
        return tuple(b * self.parts(d) for d, b in enumerate(self.block))

    @property
    def local_elems(self) -> int:
        return math.prod(self.block)

    @property
    def num_pes(self) -> int:
        return self.grid[0] * self.grid[1]

    def has_padding(self, dims: Sequence[int] | None = None) -> bool:
        dims = range(len(self.shape)) if dims is None else dims
        return any(self.padded_shape[d] != self.shape[d] for d in dims)

    def block_index(self, dim: int, row, col):
        """Which block of `dim` PE (row, col) holds (works on numpy arrays of coordinates)."""
        axis = self.split[dim]
        if axis == "r":
            return row
        if axis == "c":
            return col
        if axis == "rc":
            return row * self.grid[1] + col
        return row * 0

    def __str__(self) -> str:
        shape = "x".join(map(str, self.shape)) or "scalar"
        split = ", ".join(a or "_" for a in self.split)
        return f"{shape} on {self.grid[0]}x{self.grid[1]} split [{split}]"

    def with_(self, **changes) -> Distribution:
        fields = {"shape": self.shape, "grid": self.grid, "split": self.split}
        fields.update(changes)
        return Distribution(
            tuple(fields["shape"]), tuple(fields["grid"]), tuple(fields["split"])
        )

    def check(self) -> None:
        if len(self.split) != len(self.shape):
            raise VerifyException(
                f"split has {len(self.split)} entries for a rank-{len(self.shape)} tensor"
            )
        if any(a not in AXES for a in self.split):
            raise VerifyException(f"split entries must be r, c, rc or _, got {list(self.split)}")
        used = [ax for a in self.split for ax in a]
        if len(used) != len(set(used)):
            raise VerifyException(f"split {list(self.split)} uses a mesh axis twice")
        if self.grid[0] < 1 or self.grid[1] < 1:
            raise VerifyException(f"grid {self.grid} must be positive")


@irdl_attr_definition
class MeshTensorType(ParametrizedAttribute, TypeAttribute):
    """`!mesh.tensor<64x48xf32 on 4x4 split [r, c]>`."""

    name = "mesh.tensor"

    shape: ArrayAttr[IntAttr] = param_def()
    element_type: Attribute = param_def()
    grid: ArrayAttr[IntAttr] = param_def()
    split: ArrayAttr[StringAttr] = param_def()

    def __init__(self, dist: Distribution, element_type: Attribute):
        super().__init__(
            ArrayAttr([IntAttr(n) for n in dist.shape]),
            element_type,
            ArrayAttr([IntAttr(n) for n in dist.grid]),
            ArrayAttr([StringAttr(s) for s in dist.split]),
        )

    @property
    def dist(self) -> Distribution:
        return Distribution(
            tuple(n.data for n in self.shape),
            (self.grid.data[0].data, self.grid.data[1].data),
            tuple(s.data for s in self.split),
        )

    def get_shape(self) -> tuple[int, ...]:
        return tuple(n.data for n in self.shape)

    @classmethod
    def parse_parameters(cls, parser: AttrParser) -> Sequence[Attribute]:
        with parser.in_angle_brackets():
            start = parser.pos
            shape, elem = parser.parse_ranked_shape()
            if any(n < 0 for n in shape):
                parser.raise_error("mesh tensors have static shapes (no '?')", start, parser.pos)
            parser.parse_keyword("on")
            grid = parser.parse_dimension_list()
            if len(grid) != 2:
                parser.raise_error("expected a grid ROWSxCOLS")
            parser.parse_keyword("split")
            split = parser.parse_comma_separated_list(
                parser.Delimiter.SQUARE, lambda: parser.parse_identifier("split axis")
            )
            split = ["" if s == "_" else s for s in split]
            try:
                Distribution(tuple(shape), (grid[0], grid[1]), tuple(split)).check()
            except VerifyException as err:
                parser.raise_error(str(err), start, parser.pos)
        return (
            ArrayAttr([IntAttr(n) for n in shape]),
            elem,
            ArrayAttr([IntAttr(n) for n in grid]),
            ArrayAttr([StringAttr(s) for s in split]),
        )

    def print_parameters(self, printer: Printer) -> None:
        d = self.dist
        with printer.in_angle_brackets():
            printer.print_string("".join(f"{n}x" for n in d.shape))
            printer.print_attribute(self.element_type)
            printer.print_string(f" on {d.grid[0]}x{d.grid[1]} split [")
            printer.print_string(", ".join(s or "_" for s in d.split))
            printer.print_string("]")

    def verify(self) -> None:
        self.dist.check()


def dist_of(value: SSAValue | Attribute) -> Distribution:
    typ = value.type if isinstance(value, SSAValue) else value
    if not isinstance(typ, MeshTensorType):
        raise VerifyException(f"expected a !mesh.tensor, got {typ}")
    return typ.dist


def elem_of(value: SSAValue) -> Attribute:
    typ = value.type
    assert isinstance(typ, MeshTensorType | TensorType)
    return typ.element_type


# --------------------------------------------------------------------------- ops


def _expect(cond: bool, message: str) -> None:
    if not cond:
        raise VerifyException(message)


def _same_elem(op: IRDLOperation, *values: SSAValue) -> None:
    elems = {elem_of(v) for v in values}
    _expect(len(elems) == 1, f"'{op.name}' needs one element type, got {sorted(map(str, elems))}")


@irdl_op_definition
class ScatterOp(IRDLOperation):
    """Host to fabric: split a host tensor into tiles (padding zeroed)."""

    name = "mesh.scatter"
    input = operand_def(TensorType)
    result = result_def(MeshTensorType)
    assembly_format = "$input attr-dict `:` type($input) `->` type($result)"

    def verify_(self) -> None:
        _expect(
            tuple(self.input.type.get_shape()) == dist_of(self.result).shape,
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
    value = attr_def(FloatAttr)
    result = result_def(MeshTensorType)
    assembly_format = "attr-dict `:` type($result)"
    traits = traits_def(Pure())


@irdl_op_definition
class RandomNormalOp(IRDLOperation):
    """Each PE draws its own elements as a function of (seed, global index): layout-independent."""

    name = "mesh.random_normal"
    seed = operand_def(IntegerType)
    result = result_def(MeshTensorType)
    assembly_format = "$seed attr-dict `:` type($seed) `->` type($result)"
    traits = traits_def(Pure())


UNARY_FNS = {"neg", "relu", "scale"}  # scale: x * scalar
BINARY_FNS = {"add", "sub", "mul", "div"}
REDUCE_KINDS = {"sum"}


@irdl_op_definition
class UnaryOp(IRDLOperation):
    """Tile-wise unary function: `mesh.unary %x {fn = "relu"}`."""

    name = "mesh.unary"
    T: ClassVar = VarConstraint("T", base(MeshTensorType))
    input = operand_def(T)
    fn = attr_def(StringAttr)
    scalar = opt_attr_def(FloatAttr)
    result = result_def(T)
    assembly_format = "$input attr-dict `:` type($result)"
    traits = traits_def(Pure())

    def verify_(self) -> None:
        _expect(self.fn.data in UNARY_FNS, f"unknown unary fn '{self.fn.data}'")
        _expect((self.fn.data == "scale") == (self.scalar is not None),
                "'scale' (and only it) takes a scalar")
        _expect(self.input.type == self.result.type, "unary ops keep the tensor type")


@irdl_op_definition
class BinaryOp(IRDLOperation):
    """Tile-wise binary function of two identically distributed tensors."""

    name = "mesh.binary"
    T: ClassVar = VarConstraint("T", base(MeshTensorType))
    lhs = operand_def(T)
    rhs = operand_def(T)
    fn = attr_def(StringAttr)
    result = result_def(T)
    assembly_format = "$lhs `,` $rhs attr-dict `:` type($result)"
    traits = traits_def(Pure())

    def verify_(self) -> None:
        _expect(self.fn.data in BINARY_FNS, f"unknown binary fn '{self.fn.data}'")
        _expect(
            self.lhs.type == self.rhs.type == self.result.type,
            f"'{self.name}' needs identically distributed operands and result, got "
            f"{self.lhs.type}, {self.rhs.type} -> {self.result.type}",
        )


@irdl_op_definition
class MaskPadOp(IRDLOperation):
    """Set the padding elements of every tile to `value` (0 before a sum, ...)."""

    name = "mesh.mask_pad"
    T: ClassVar = VarConstraint("T", base(MeshTensorType))
    input = operand_def(T)
    value = attr_def(FloatAttr)
    result = result_def(T)
    assembly_format = "$input attr-dict `:` type($input)"
    traits = traits_def(Pure())

    def verify_(self) -> None:
        _expect(self.input.type == self.result.type, "mask_pad keeps the tensor type")


def _dims(attr: DenseArrayBase) -> tuple[int, ...]:
    return tuple(attr.get_values())


@irdl_op_definition
class LocalReduceOp(IRDLOperation):
    """Reduce each PE's tile over `dims`; a split dim of p parts becomes p partials (one per PE)."""

    name = "mesh.local_reduce"
    input = operand_def(MeshTensorType)
    kind = attr_def(StringAttr)
    dims = attr_def(DenseArrayBase)
    result = result_def(MeshTensorType)
    assembly_format = "$input attr-dict `:` type($input) `->` type($result)"
    traits = traits_def(Pure())

    def verify_(self) -> None:
        src, dst = dist_of(self.input), dist_of(self.result)
        _expect(self.kind.data in REDUCE_KINDS, f"unknown reduction '{self.kind.data}'")
        dims = _dims(self.dims)
        _expect(all(0 <= d < len(src.shape) for d in dims), f"dims {list(dims)} out of range")
        expected = tuple(src.parts(d) if d in dims else n for d, n in enumerate(src.shape))
        _expect(
            dst == src.with_(shape=expected),
            f"local_reduce result should be {src.with_(shape=expected)}, got {dst}",
        )
        _same_elem(self, self.input, self.result)


@irdl_op_definition
class AllReduceOp(IRDLOperation):
    """Combine the per-PE partials of `dims` across the mesh axes they are split over.

    The result has size 1 on those dims, no longer split: it is replicated along those axes.
    """

    name = "mesh.allreduce"
    input = operand_def(MeshTensorType)
    kind = attr_def(StringAttr)
    dims = attr_def(DenseArrayBase)
    result = result_def(MeshTensorType)
    assembly_format = "$input attr-dict `:` type($input) `->` type($result)"
    traits = traits_def(Pure())

    def verify_(self) -> None:
        src, dst = dist_of(self.input), dist_of(self.result)
        _expect(self.kind.data in REDUCE_KINDS, f"unknown reduction '{self.kind.data}'")
        dims = _dims(self.dims)
        for d in dims:
            _expect(0 <= d < len(src.shape), f"dim {d} out of range")
            _expect(src.split[d] in ("r", "c", "rc"), f"allreduce dim {d} must be split")
            _expect(src.block[d] == 1, f"allreduce dim {d} must hold one partial per PE")
        shape = tuple(1 if d in dims else n for d, n in enumerate(src.shape))
        split = tuple("" if d in dims else a for d, a in enumerate(src.split))
        expected = src.with_(shape=shape, split=split)
        _expect(dst == expected, f"allreduce result should be {expected}, got {dst}")
        _same_elem(self, self.input, self.result)


def is_local_reshape(src: Distribution, dst: Distribution) -> bool:
    """A reshape that leaves every PE's tile bytes unchanged: same grid, and the shapes differ
    only by unsplit size-1 dims, or nothing is split at all."""
    if src.grid != dst.grid:
        return False
    if all(a == "" for a in src.split + dst.split):
        return math.prod(src.shape) == math.prod(dst.shape)

    def core(d: Distribution):
        return [(n, a) for n, a in zip(d.shape, d.split, strict=True) if not (n == 1 and a == "")]

    return core(src) == core(dst)


@irdl_op_definition
class ReshapeOp(IRDLOperation):
    """A reshape that needs no data movement (see `is_local_reshape`)."""

    name = "mesh.reshape"
    input = operand_def(MeshTensorType)
    result = result_def(MeshTensorType)
    assembly_format = "$input attr-dict `:` type($input) `->` type($result)"
    traits = traits_def(Pure())

    def verify_(self) -> None:
        _expect(
            is_local_reshape(dist_of(self.input), dist_of(self.result)),
            f"reshape {self.input.type} -> {self.result.type} moves data between PEs; "
            "redistribute first",
        )
        _same_elem(self, self.input, self.result)


@irdl_op_definition
class TransposeOp(IRDLOperation):
    """Permute dims of every tile; the split permutes with them (no communication)."""

    name = "mesh.transpose"
    input = operand_def(MeshTensorType)
    perm = attr_def(DenseArrayBase)
    result = result_def(MeshTensorType)
    assembly_format = "$input attr-dict `:` type($input) `->` type($result)"
    traits = traits_def(Pure())

    def verify_(self) -> None:
        src, dst = dist_of(self.input), dist_of(self.result)
        perm = _dims(self.perm)
        _expect(sorted(perm) == list(range(len(src.shape))), f"bad permutation {list(perm)}")
        expected = src.with_(
            shape=[src.shape[p] for p in perm], split=[src.split[p] for p in perm]
        )
        _expect(dst == expected, f"transpose result should be {expected}, got {dst}")
        _same_elem(self, self.input, self.result)


MATMUL_ALGORITHMS = {"summa"}


@irdl_op_definition
class MatmulOp(IRDLOperation):
    """C = A @ B on a square grid, every operand split [r, c] (SUMMA: per step k, PE column k
    broadcasts its A block along rows and PE row k its B block along columns).

    The padding of A's and B's contraction dim must be zero (`mesh.mask_pad`)."""

    name = "mesh.matmul"
    lhs = operand_def(MeshTensorType)
    rhs = operand_def(MeshTensorType)
    algorithm = attr_def(StringAttr)
    result = result_def(MeshTensorType)
    assembly_format = (
        "$lhs `,` $rhs attr-dict `:` `(` type($lhs) `,` type($rhs) `)` `->` type($result)"
    )

    def verify_(self) -> None:
        a, b, c = dist_of(self.lhs), dist_of(self.rhs), dist_of(self.result)
        _expect(self.algorithm.data in MATMUL_ALGORITHMS,
                f"unknown matmul algorithm '{self.algorithm.data}'")
        _expect(a.grid == b.grid == c.grid and a.grid[0] == a.grid[1],
                f"summa needs one square grid, got {a.grid}, {b.grid}, {c.grid}")
        for name, d in (("lhs", a), ("rhs", b), ("result", c)):
            _expect(len(d.shape) == 2 and d.split == ("r", "c"),
                    f"summa's {name} must be 2-D and split [r, c], got {d}")
        _expect(a.shape[1] == b.shape[0], f"contraction sizes differ: {a.shape}, {b.shape}")
        _expect(c.shape == (a.shape[0], b.shape[1]), f"result shape {c.shape} is wrong")
        _same_elem(self, self.lhs, self.rhs, self.result)


@irdl_op_definition
class RedistributeOp(IRDLOperation):
    """Move a tensor to another distribution (another grid or split): point-to-point block
    transfers between PEs."""

    name = "mesh.redistribute"
    input = operand_def(MeshTensorType)
    result = result_def(MeshTensorType)
    assembly_format = "$input attr-dict `:` type($input) `->` type($result)"

    def verify_(self) -> None:
        _expect(dist_of(self.input).shape == dist_of(self.result).shape,
                "redistribute keeps the global shape")
        _same_elem(self, self.input, self.result)


Mesh = Dialect(
    "mesh",
    [
        ScatterOp,
        GatherOp,
        FillOp,
        RandomNormalOp,
        UnaryOp,
        BinaryOp,
        MaskPadOp,
        LocalReduceOp,
        AllReduceOp,
        ReshapeOp,
        TransposeOp,
        MatmulOp,
        RedistributeOp,
    ],
    [MeshTensorType],
)
