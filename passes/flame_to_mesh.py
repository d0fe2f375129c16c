"""flame-to-mesh: place every tensor on the mesh and make all data movement explicit.

Each flame value gets a distribution: the user's `layout` hint, else one derived from its
operands, else (for inputs and creation ops nobody placed) the layout of a hinted neighbour or a
size-based default. Lowerings are one table, `LOWERINGS`, keyed by flame op:

- elementwise ops run on tiles; operands laid out differently are redistributed first;
- reductions: padding masked to the identity, a local reduce on every PE, then an allreduce
  along the mesh axes the reduced dims were split over;
- matmul: SUMMA on a square grid with both operands split [r, c] (contraction padding zeroed);
- transpose is local (the split permutes); a reshape that moves data goes through one PE;
- program inputs are scattered from the host, results gathered back.

Then plan-memory checks that every PE's SRAM holds the program.

    %0 = flame.add %a, %b : (tensor<5x7xf32>, tensor<5x7xf32>) -> tensor<5x7xf32>
becomes
    %0 = mesh.scatter %a : tensor<5x7xf32> -> !mesh.tensor<5x7xf32 on 1x1 split [_, _]>
    %1 = mesh.scatter %b : ...
    %2 = mesh.binary %0, %1 {fn = "add"} : !mesh.tensor<5x7xf32 on 1x1 split [_, _]>
    %3 = mesh.gather %2 : !mesh.tensor<5x7xf32 on 1x1 split [_, _]> -> tensor<5x7xf32>
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from xdsl.context import Context
from xdsl.dialects import func
from xdsl.dialects.builtin import (
    DictionaryAttr,
    FileLineColLoc,
    FloatAttr,
    ModuleOp,
    StringAttr,
    TensorType,
    f32,
    f64,
)
from xdsl.ir import Attribute, Block, Operation, SSAValue
from xdsl.passes import ModulePass

from pyflame.dialects import flame, mesh
from pyflame.dialects.mesh import MeshTensorType, dist_of
from pyflame.ir import distribution, reductions
from pyflame.ir.distribution import Distribution, is_local_reshape
from pyflame.ir.errors import CompileError, UnsupportedOpsError
from pyflame.ir.target import Target
from pyflame.ir.placement import SINGLE_PE_BYTES, single_pe_bytes_of
from pyflame.passes.layouts import (
    DEFAULT_TILE_BYTES,
    default_layout,
    elem_bytes_of,
    layout_to_dist,
)
from pyflame.passes.locations import arg_loc, describe_loc

ARG_LAYOUT_ATTR = "flame.layout"


@dataclass
class Lowering:
    """State while one function is lowered: where to insert, value map, layout hints.

    Program inputs and creation ops are placed lazily, at their first use, directly in the
    layout that use wants (no redistribution), unless the user gave them a layout.
    """

    target: Target
    block: Block
    hints: dict[SSAValue, flame.LayoutAttr]
    values: dict[SSAValue, SSAValue] = field(default_factory=dict)
    deferred: dict[SSAValue, Callable[[Distribution], Operation]] = field(default_factory=dict)
    current: Operation | None = None
    #: tensors up to this size that nobody placed go on one PE (the compiler driver lowers it
    #: when a program of many small tensors does not fit PE (0, 0))
    single_pe_bytes: int = SINGLE_PE_BYTES

    def default(self, shape: tuple[int, ...], elem_bytes: int) -> flame.LayoutAttr:
        tile = min(DEFAULT_TILE_BYTES, self.single_pe_bytes)
        return default_layout(shape, elem_bytes, self.target, self.single_pe_bytes,
                              max(tile, 256))

    def emit(self, op: Operation, location: Attribute | None = None) -> SSAValue:
        assert self.current is not None
        op.location = location or self.current.location
        self.block.insert_op_before(op, self.current)
        return op.results[0] if op.results else None  # type: ignore[return-value]

    def materialize(self, v: SSAValue, dist: Distribution) -> SSAValue:
        make = self.deferred.pop(v)
        owner = v.owner
        # a program input is placed at its first use, but it was made where its block
        # argument's location says (the user's `pf.from_numpy` line): errors name that line
        loc = owner.location if isinstance(owner, Operation) else arg_loc(v)
        self.values[v] = self.emit(make(dist), loc)
        return self.values[v]

    def value(self, v: SSAValue) -> SSAValue:
        if v in self.deferred:
            return self.materialize(v, self.placed(v))
        return self.values.get(v, v)

    def value_as(self, v: SSAValue, dist: Distribution) -> SSAValue:
        """`v` in distribution `dist`: placed there directly if it is a lazy leaf."""
        if v in self.deferred and v not in self.hints:
            return self.materialize(v, dist)
        return self.to_dist(self.value(v), dist)

    def known_dist(self, v: SSAValue) -> Distribution | None:
        """The distribution `v` has or will have; None for an unplaced lazy leaf."""
        if v in self.deferred:
            return self.hinted(v)
        return dist_of(self.values.get(v, v))

    def placed(self, v: SSAValue) -> Distribution:
        """The distribution a flame value's hint (or the default) gives it."""
        typ = v.type
        assert isinstance(typ, TensorType)
        shape = tuple(typ.get_shape())
        hint = self.hints.get(v) or self.default(shape, elem_bytes_of(typ.element_type))
        return layout_to_dist(hint, shape, self.target)

    def hinted(self, v: SSAValue) -> Distribution | None:
        hint = self.hints.get(v)
        if hint is None:
            return None
        return layout_to_dist(hint, tuple(v.type.get_shape()), self.target)  # type: ignore[attr-defined]

    def to_dist(self, v: SSAValue, dist: Distribution) -> SSAValue:
        if dist_of(v) == dist:
            return v
        if dist_of(v).normalized() == dist.normalized():  # the same tiles: only the type changes
            return self.emit(
                mesh.ReshapeOp.create(
                    operands=[v], result_types=[MeshTensorType(dist, v.type.element_type)]  # type: ignore[attr-defined]
                )
            )
        return self.emit(
            mesh.RedistributeOp.create(
                operands=[v], result_types=[MeshTensorType(dist, v.type.element_type)]  # type: ignore[attr-defined]
            )
        )

    def finish(self, flame_result: SSAValue, v: SSAValue) -> None:
        """Map a flame result to its mesh value, honouring a layout hint on the result."""
        hinted = self.hinted(flame_result)
        self.values[flame_result] = self.to_dist(v, hinted) if hinted else v


def mesh_type(dist: Distribution, elem: Attribute = f32) -> MeshTensorType:
    return MeshTensorType(dist, elem)


# --------------------------------------------------------------------------- lowerings


def lower_fill(op: flame.FillOp, lw: Lowering) -> None:
    elem = op.result.type.element_type
    lw.deferred[op.result] = lambda dist: mesh.FillOp.create(
        attributes={"value": op.value}, result_types=[mesh_type(dist, elem)]
    )


def lower_random_normal(op: flame.RandomNormalOp, lw: Lowering) -> None:
    seed = lw.value(op.seed)
    elem = op.result.type.element_type
    lw.deferred[op.result] = lambda dist: mesh.RandomNormalOp.create(
        operands=[seed], result_types=[mesh_type(dist, elem)]
    )


def tile_operand_dist(v: SSAValue, target: Distribution) -> Distribution:
    """Where an elementwise operand must be: like the result, or (rank-0) one element per PE."""
    if flame.tensor_shape(v):
        return target
    return Distribution((), target.grid, ())


def elementwise_result(lw: Lowering, op: Operation, operands: list[SSAValue]) -> Distribution:
    """The result's distribution: its hint, else a placed full-shape operand's, else default
    (sized for the widest of the result and its full-shape operands: an f32 operand of a bool
    result must fit too)."""
    full = [v for v in operands if flame.tensor_shape(v) == flame.tensor_shape(op.results[0])]
    known = [d for d in (lw.known_dist(v) for v in full) if d is not None]
    widest = max([op.results[0], *full], key=lambda v: elem_bytes_of(v.type.element_type))
    return lw.hinted(op.results[0]) or (known[0] if known else lw.placed(widest))


def lower_elementwise(op: Operation, lw: Lowering) -> SSAValue:
    """Unary and binary elementwise ops and where: tiles in, tiles out."""
    operands = list(op.operands)
    target = elementwise_result(lw, op, operands)
    values = [lw.value_as(v, tile_operand_dist(v, target)) for v in operands]
    result = mesh_type(target, op.results[0].type.element_type)  # type: ignore[attr-defined]
    if isinstance(op, flame.WhereOp):
        return lw.emit(mesh.SelectOp.create(operands=values, result_types=[result]))
    fn = StringAttr(op.ENTRY.name)  # type: ignore[attr-defined]
    if len(values) == 1:
        return lw.emit(mesh.UnaryOp.create(operands=values, attributes={"fn": fn},
                                           result_types=[result]))
    return lw.emit(mesh.BinaryOp.create(operands=values, attributes={"fn": fn},
                                        result_types=[result]))


def lower_convert(op: flame.ConvertOp, lw: Lowering) -> SSAValue:
    x = lw.value(op.input)
    return lw.emit(
        mesh.ConvertOp.create(
            operands=[x], result_types=[mesh_type(dist_of(x), op.result.type.element_type)]
        )
    )


def scale(lw: Lowering, x: SSAValue, factor: float) -> SSAValue:
    return lw.emit(
        mesh.UnaryOp.create(
            operands=[x],
            attributes={"fn": StringAttr("scale"), "scalar": FloatAttr(factor, f64)},
            result_types=[x.type],
        )
    )


def mask_pad(lw: Lowering, x: SSAValue, value: float) -> SSAValue:
    return lw.emit(
        mesh.MaskPadOp.create(
            operands=[x], attributes={"value": FloatAttr(value, f64)}, result_types=[x.type]
        )
    )


def reduce(
    lw: Lowering, x: SSAValue, kind: str, dims: tuple[int, ...], keepdim: bool
) -> SSAValue:
    """Padding in the reduced dims masked with the kind's identity (0 for sum, -inf or the
    smallest int for max, ...: pyflame/ir/reductions.py), a local reduce on every PE, then an
    allreduce over the mesh axes the dims were split on."""
    src = dist_of(x)
    elem = x.type.element_type  # type: ignore[attr-defined]
    if src.has_padding(dims):
        x = mask_pad(lw, x, reductions.identity(kind, str(elem)))
    partial = src.with_(shape=[src.parts(d) if d in dims else n for d, n in enumerate(src.shape)])
    x = lw.emit(
        mesh.LocalReduceOp.create(
            operands=[x],
            attributes={"kind": StringAttr(kind), "dims": flame.dense_i64(dims)},
            result_types=[mesh_type(partial, elem)],
        )
    )
    split_dims = tuple(d for d in dims if src.parts(d) > 1)
    if split_dims:
        total = partial.with_(
            shape=[1 if d in split_dims else n for d, n in enumerate(partial.shape)],
            split=["" if d in split_dims else a for d, a in enumerate(partial.split)],
        )
        x = lw.emit(
            mesh.AllReduceOp.create(
                operands=[x],
                attributes={"kind": StringAttr(kind), "dims": flame.dense_i64(split_dims)},
                result_types=[mesh_type(total, elem)],
            )
        )
    if not keepdim:
        d = dist_of(x)
        kept = [i for i in range(len(d.shape)) if i not in dims]
        squeezed = d.with_(shape=[d.shape[i] for i in kept], split=[d.split[i] for i in kept])
        x = lw.emit(mesh.ReshapeOp.create(operands=[x], result_types=[mesh_type(squeezed, elem)]))
    return x


def reduce_sum(lw: Lowering, x: SSAValue, dims: tuple[int, ...], keepdim: bool) -> SSAValue:
    return reduce(lw, x, "sum", dims, keepdim)


#: the reduction kind of each primitive flame reduction op
REDUCE_KIND_OF = {cls: kind for kind, cls in flame.REDUCE_OPS.items()}


def lower_reduce(op: flame.ReduceSumOp, lw: Lowering) -> SSAValue:
    """reduce_sum, reduce_prod, reduce_max, reduce_min."""
    kind = REDUCE_KIND_OF[type(op)]
    return reduce(lw, lw.value(op.input), kind, op.dim_tuple, op.keepdim is not None)


def lower_reduce_mean(op: flame.ReduceMeanOp, lw: Lowering) -> SSAValue:
    shape = flame.tensor_shape(op.input)
    count = math.prod(shape[d] for d in op.dim_tuple)
    total = reduce_sum(lw, lw.value(op.input), op.dim_tuple, op.keepdim is not None)
    return scale(lw, total, 1.0 / count if count else math.nan)


def matmul_grid(
    lw: Lowering, op: flame.MatmulOp, a: Distribution | None, b: Distribution | None
) -> int:
    """The side of the square grid SUMMA runs on: the result's grid hint; else an operand's
    square [r, c] grid if it is at least what the sizes need; else the larger of what the
    sizes need (the default layout of the biggest of A, B and C) and a square grid of about as
    many PEs as a partitioned operand."""
    hint = lw.hints.get(op.result)
    if hint is not None and hint.kind.data == "grid":
        return min(hint.size_tuple)
    needed = 1
    shapes = (flame.tensor_shape(op.lhs), flame.tensor_shape(op.rhs), flame.tensor_shape(op.result))
    for shape in shapes:
        layout = lw.default(shape, 4)
        if layout.kind.data == "grid":
            needed = max(needed, layout.size_tuple[0])
    for d in (a, b):
        if d is not None and d.split == summa_split(len(d.shape)) and d.grid[0] == d.grid[1] \
                and d.grid[0] >= needed:
            return d.grid[0]  # already placed for SUMMA: no redistribution
    sides = [needed] + [math.isqrt(d.grid[0] * d.grid[1]) for d in (a, b) if d is not None]
    return max(sides)


def summa_split(rank: int) -> tuple[str, ...]:
    """SUMMA's split of a rank-`rank` operand: batch dims unsplit, the last two [r, c]."""
    return ("",) * (rank - 2) + ("r", "c")


def lower_matmul(op: flame.MatmulOp, lw: Lowering) -> SSAValue:
    """SUMMA on a g x g grid; batch dims stay whole on every PE (one operand may have none)."""
    sa, sb = flame.tensor_shape(op.lhs), flame.tensor_shape(op.rhs)
    g = matmul_grid(lw, op, lw.known_dist(op.lhs), lw.known_dist(op.rhs))
    da = Distribution(sa, (g, g), summa_split(len(sa)))
    db = Distribution(sb, (g, g), summa_split(len(sb)))
    a, b = lw.value_as(op.lhs, da), lw.value_as(op.rhs, db)
    if da.has_padding([len(sa) - 1]):
        a = mask_pad(lw, a, 0.0)
    if db.has_padding([len(sb) - 2]):
        b = mask_pad(lw, b, 0.0)
    shape = flame.tensor_shape(op.result)
    result = Distribution(shape, (g, g), summa_split(len(shape)))
    return lw.emit(
        mesh.MatmulOp.create(
            operands=[a, b],
            attributes={"algorithm": StringAttr("summa")},
            result_types=[mesh_type(result, a.type.element_type)],  # type: ignore[attr-defined]
        )
    )


def lower_transpose(op: flame.TransposeOp, lw: Lowering) -> SSAValue:
    x = lw.value(op.input)
    d, perm = dist_of(x), op.perm_tuple
    out = d.with_(shape=[d.shape[p] for p in perm], split=[d.split[p] for p in perm])
    return lw.emit(
        mesh.TransposeOp.create(
            operands=[x], attributes={"perm": op.perm},
            result_types=[mesh_type(out, x.type.element_type)],  # type: ignore[attr-defined]
        )
    )


def squeeze_candidate(src: Distribution, shape: tuple[int, ...]) -> Distribution | None:
    """The same split for a reshape that only adds or drops size-1 dims, if it is one."""
    core = [(n, a) for n, a in zip(src.shape, src.split, strict=True) if n != 1]
    if any(a for n, a in zip(src.shape, src.split, strict=True) if n == 1):
        return None
    if [n for n in shape if n != 1] != [n for n, _ in core]:
        return None
    axes = iter(a for _, a in core)
    return src.with_(shape=shape, split=["" if n == 1 else next(axes) for n in shape])


def lower_reshape(op: flame.ReshapeOp, lw: Lowering) -> SSAValue:
    x = lw.value(op.input)
    elem = x.type.element_type  # type: ignore[attr-defined]
    shape = flame.tensor_shape(op.result)
    src = dist_of(x)
    local = squeeze_candidate(src, shape)
    if local is None and all(a == "" for a in src.split):
        local = src.with_(shape=shape, split=[""] * len(shape))
    if local is not None and is_local_reshape(src, local):
        return lw.emit(mesh.ReshapeOp.create(operands=[x], result_types=[mesh_type(local, elem)]))
    return moving_reshape(lw, op, x)  # see the shape-ops section


LOWERINGS: dict[type[Operation], Callable] = {
    flame.FillOp: lower_fill,
    flame.RandomNormalOp: lower_random_normal,
    **{cls: lower_elementwise for cls in flame.UNARY_OPS.values()},
    **{cls: lower_elementwise for cls in flame.BINARY_OPS.values()},
    flame.WhereOp: lower_elementwise,
    flame.ConvertOp: lower_convert,
    **{cls: lower_reduce for cls in flame.REDUCE_OPS.values()},
    flame.ReduceMeanOp: lower_reduce_mean,
    flame.MatmulOp: lower_matmul,
    flame.TransposeOp: lower_transpose,
    flame.ReshapeOp: lower_reshape,
}

SUPPORTED_ELEMENTS = {"f32", "f16", "bf16", "i32", "i1"}
FLOAT_ONLY_ELEMENTS = {"f32", "f16", "bf16"}
#: ops the PEs only run on floating-point data (FMACs)
FLOAT_ONLY_OPS: tuple[type[Operation], ...] = (flame.MatmulOp,)


# --------------------------------------------------------------------------- layout hints


def collect_hints(fn: func.FuncOp) -> dict[SSAValue, flame.LayoutAttr]:
    """User hints, then neighbours' hints for inputs and creation ops nobody placed."""
    hints: dict[SSAValue, flame.LayoutAttr] = {}
    if fn.arg_attrs is not None:
        for arg, attrs in zip(fn.body.block.args, fn.arg_attrs.data, strict=False):
            hint = attrs.data.get(ARG_LAYOUT_ATTR) if isinstance(attrs, DictionaryAttr) else None
            if isinstance(hint, flame.LayoutAttr):
                hints[arg] = hint
            elif hint is not None:  # never silently ignored (the flame verifier says so too)
                where = describe_loc(fn)
                err = CompileError(
                    f"{where + ': ' if where else ''}argument {arg.index} of "
                    f"@{fn.sym_name.data}: '{ARG_LAYOUT_ATTR}' must be a layout such as "
                    f"#flame.layout<grid [2, 2]>, got {hint}"
                )
                err.op = fn  # type: ignore[attr-defined]  # tools print the op's location
                raise err
    for op in fn.body.block.ops:
        if isinstance(op, flame.FlameOp) and op.layout is not None:
            hints[op.results[0]] = op.layout
    leaves = [a for a in fn.body.block.args if isinstance(a.type, TensorType)] + [
        op.results[0]
        for op in fn.body.block.ops
        if isinstance(op, flame.FillOp | flame.RandomNormalOp | flame.IotaOp
                      | flame.RandomUniformOp)
    ]
    for leaf in leaves:
        if leaf in hints or not flame.tensor_shape(leaf):
            continue  # scalars are placed by their users, on the users' grids
        for use in leaf.uses:
            user = use.operation
            if isinstance(user, flame.MatmulOp):
                continue  # SUMMA places its operands itself
            neighbours = [user.results[0]] if user.results else []
            if isinstance(user, flame.ElementwiseBinaryOp | flame.WhereOp):
                neighbours += [o for o in user.operands if o is not leaf]
            found = next((hints[v] for v in neighbours if v in hints), None)
            if found is not None:
                hints[leaf] = found
                break
    return hints


def check_supported(fn: func.FuncOp) -> None:
    """Every op PyFlame cannot lower, reported together."""
    problems: list[str] = []
    for op in fn.body.block.ops:
        if isinstance(op, func.ReturnOp):
            continue
        where = describe_loc(op) or "unknown location"
        if type(op) not in LOWERINGS:
            problems.append(f"{where}: '{op.name}' has no lowering to the mesh")
            continue
        allowed = FLOAT_ONLY_ELEMENTS if isinstance(op, FLOAT_ONLY_OPS) else SUPPORTED_ELEMENTS
        for v in list(op.operands) + list(op.results):
            if isinstance(v.type, TensorType) and str(v.type.element_type) not in allowed:
                problems.append(
                    f"{where}: '{op.name}' on {v.type}: this element type does not run on the mesh"
                )
                break
    for arg in fn.body.block.args:
        if isinstance(arg.type, TensorType) and str(arg.type.element_type) not in SUPPORTED_ELEMENTS:
            loc = arg.location
            where = f"{loc.filename.data}:{loc.line.data}" if isinstance(loc, FileLineColLoc) else ""
            problems.append(
                f"{where or 'unknown location'}: input {arg.type}: this element type does not "
                "run on the mesh"
            )
    if problems:
        raise UnsupportedOpsError(
            f"PyFlame cannot lower {len(problems)} part(s) of this program:\n  "
            + "\n  ".join(problems)
        )


def lower_function(fn: func.FuncOp, target: Target, single_pe_bytes: int = SINGLE_PE_BYTES) -> None:
    check_supported(fn)
    block = fn.body.block
    lw = Lowering(target, block, collect_hints(fn), single_pe_bytes=single_pe_bytes)
    old_ops = list(block.ops)
    for arg in block.args:
        if isinstance(arg.type, TensorType):
            lw.deferred[arg] = lambda dist, arg=arg: mesh.ScatterOp.create(
                operands=[arg], result_types=[mesh_type(dist, arg.type.element_type)]
            )
    for op in old_ops:
        lw.current = op
        if isinstance(op, func.ReturnOp):
            gathered = [  # at the return's line, else (traced programs) where v was made
                lw.emit(
                    mesh.GatherOp.create(operands=[lw.value(v)], result_types=[v.type]),
                    None if isinstance(op.location, FileLineColLoc)
                    else v.owner.location if isinstance(v.owner, Operation) else arg_loc(v),
                )
                if isinstance(v.type, TensorType) else lw.value(v)
                for v in op.arguments
            ]
            op.operands = gathered
            continue
        try:
            lowered = LOWERINGS[type(op)](op, lw)
        except CompileError as err:
            where = describe_loc(op)
            if where and where not in str(err):
                located = type(err)(f"{where}: {err}")
                located.op = op  # type: ignore[attr-defined]  # tools print the op's location
                raise located from None
            if getattr(err, "op", None) is None:
                err.op = op  # type: ignore[attr-defined]  # where the op was written
            raise
        if lowered is not None:
            lw.finish(op.results[0], lowered)
    for op in reversed(old_ops):
        if not isinstance(op, func.ReturnOp):
            block.erase_op(op)


class FlameToMeshPass(ModulePass):
    """Lower flame to mesh: place every tensor (the user's hints, else the module's
    `#pf.placement` budget), make collectives and host I/O explicit."""

    name = "flame-to-mesh"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        target = Target.of_module(op)
        single_pe_bytes = single_pe_bytes_of(op)
        for fn in op.walk():
            if isinstance(fn, func.FuncOp):
                lower_function(fn, target, single_pe_bytes)


# --- shape ops ---------------------------------------------------------------------------
# Result layouts: the result's hint, else derived from the operand (same grid; every dim keeps
# its split, a slice's size-1 result dims become unsplit), unless that would make the tiles
# more than twice as big as the operands' (and bigger than 16 KiB) or not fit in SRAM next to
# them: then the compiler's default for the result's size.
#
# - broadcast_to: the source is first put on the result's grid with its kept dims split like
#   the result's and its size-1 dims unsplit (a redistribute when it is not already there),
#   then every PE expands its own tile (mesh.broadcast).
# - slice / pad / concat: one data-moving op each (mesh.slice, mesh.pad, mesh.concat), lowered
#   to pe.exchange with an index map; operands stay where they are.


#: a derived result layout is kept unless its tiles would grow past this factor times the
#: biggest operand tile (and past layouts.SINGLE_PE_BYTES); then the default for its size wins
TILE_GROWTH_LIMIT = 2


def shape_result_dist(
    lw: Lowering, result: SSAValue, derived: Distribution, operands: list[Distribution]
) -> Distribution:
    """The result's hint, else `derived` (the operands' grid and split), else -- when `derived`
    would make the tiles much bigger than the operands' (a broadcast, a stack of many) or its
    tile and the operands' would not fit in SRAM together -- the compiler's default layout for
    the result's size."""
    hinted = lw.hinted(result)
    if hinted is not None:
        return hinted
    elem = elem_bytes_of(result.type.element_type)  # type: ignore[attr-defined]
    tiles = [d.local_elems * elem for d in operands]
    tile = derived.local_elems * elem
    if (
        tile <= max(TILE_GROWTH_LIMIT * max(tiles + [0]), lw.single_pe_bytes)
        and tile + sum(tiles) <= lw.target.usable_sram_bytes
    ):
        return derived
    default = lw.placed(result)
    return default if default.local_elems < derived.local_elems else derived


def operand_near(lw: Lowering, v: SSAValue, dist: Distribution) -> SSAValue:
    """`v`'s mesh value; an unplaced lazy leaf is placed in `dist` (no redistribution)."""
    if v in lw.deferred and v not in lw.hints:
        return lw.materialize(v, dist)
    return lw.value(v)


def broadcast_split(base: Distribution, shape: tuple[int, ...]) -> tuple[str, ...]:
    """The split of a broadcast's result derived from its source's distribution `base`: every
    source dim keeps its split; when the source is split at all, a mesh axis it leaves free
    (it is replicated along it) goes to the last broadcast dims, so the result is spread like
    the source (a (1, M) row on [_, c] becomes (N, M) on [r, c])."""
    k = len(shape) - len(base.shape)
    split = ["" for _ in range(k)] + list(base.split)
    if not any(base.split):
        return tuple(split)
    used = set("".join(base.split))
    free = [ax for ax, n in zip(("r", "c"), base.grid, strict=True) if n > 1 and ax not in used]
    grown = [
        e for e in range(len(shape))
        if split[e] == "" and (e < k or base.shape[e - k] != shape[e])
    ]
    for e, ax in zip(reversed(grown), reversed(free), strict=False):
        split[e] = ax
    return tuple(split)


def lower_broadcast_to(op: flame.BroadcastToOp, lw: Lowering) -> SSAValue:
    src_shape, shape = flame.tensor_shape(op.input), flame.tensor_shape(op.result)
    k = len(shape) - len(src_shape)
    base = lw.known_dist(op.input) or lw.placed(op.input)
    derived = base.with_(shape=shape, split=broadcast_split(base, shape))
    result = shape_result_dist(lw, op.result, derived, [base])
    need = Distribution(
        src_shape,
        result.grid,
        tuple(result.split[k + d] if n == shape[k + d] else "" for d, n in enumerate(src_shape)),
    )
    x = lw.value_as(op.input, need)
    elem = op.result.type.element_type
    return lw.emit(mesh.BroadcastOp.create(operands=[x], result_types=[mesh_type(result, elem)]))


def lower_slice(op: flame.SliceOp, lw: Lowering) -> SSAValue:
    x = lw.value(op.input)
    src, shape = dist_of(x), flame.tensor_shape(op.result)
    derived = src.with_(
        shape=shape, split=["" if n == 1 else a for n, a in zip(shape, src.split, strict=True)]
    )
    result = shape_result_dist(lw, op.result, derived, [src])
    if result == src and shape == src.shape:  # takes everything, where it already is
        return x
    return lw.emit(
        mesh.SliceOp.create(
            operands=[x],
            attributes={"start": op.start, "stop": op.stop, "step": op.step},
            result_types=[mesh_type(result, op.result.type.element_type)],
        )
    )


def lower_pad(op: flame.PadOp, lw: Lowering) -> SSAValue:
    x = lw.value(op.input)
    shape = flame.tensor_shape(op.result)
    result = shape_result_dist(lw, op.result, dist_of(x).with_(shape=shape), [dist_of(x)])
    return lw.emit(
        mesh.PadOp.create(
            operands=[x],
            attributes={"low": op.low, "high": op.high, "value": op.value},
            result_types=[mesh_type(result, op.result.type.element_type)],
        )
    )


def lower_concat(op: flame.ConcatOp, lw: Lowering) -> SSAValue:
    shape = flame.tensor_shape(op.result)
    known = [d for d in (lw.known_dist(v) for v in op.inputs) if d is not None]
    derived = known[0].with_(shape=shape) if known else lw.placed(op.result)
    result = shape_result_dist(lw, op.result, derived, known)
    values = [
        operand_near(lw, v, result.with_(shape=flame.tensor_shape(v))) for v in op.inputs
    ]
    return lw.emit(
        mesh.ConcatOp.create(
            operands=values,
            attributes={"dim": op.dim},
            result_types=[mesh_type(result, op.result.type.element_type)],
        )
    )


def grid_split(grid: tuple[int, int], rank: int) -> tuple[str, ...]:
    """The split a `grid` layout gives a rank-`rank` tensor on `grid` (last two dims over rows
    and columns; a 1-D tensor over all PEs); unsplit along a mesh axis of size 1."""
    gr, gc = grid
    if rank == 0:
        return ()
    if rank == 1:
        return ("rc" if gr > 1 and gc > 1 else "r" if gr > 1 else "c" if gc > 1 else "",)
    return ("",) * (rank - 2) + ("r" if gr > 1 else "", "c" if gc > 1 else "")


def moving_reshape(lw: Lowering, op: flame.ReshapeOp, x: SSAValue) -> SSAValue:
    """A reshape the tiles cannot do in place. When only split size-1 dims are in the way,
    unsplit them (their mesh axes then hold copies) and reshape in place; otherwise one
    mesh.relayout moves every element to its place in the result's layout (the hint, else
    the source's grid split like a `grid` layout, else the default when that spreads wider)."""
    src, shape = dist_of(x), flame.tensor_shape(op.result)
    elem = op.result.type.element_type
    unsplit = src.with_(
        split=["" if n == 1 else a for n, a in zip(src.shape, src.split, strict=True)]
    )
    if unsplit != src:
        local = squeeze_candidate(unsplit, shape)
        if local is None and all(a == "" for a in unsplit.split):
            local = unsplit.with_(shape=shape, split=[""] * len(shape))
        if local is not None and is_local_reshape(unsplit, local):
            x = lw.to_dist(x, unsplit)
            return lw.emit(
                mesh.ReshapeOp.create(operands=[x], result_types=[mesh_type(local, elem)])
            )
    derived = Distribution(shape, src.grid, grid_split(src.grid, len(shape)))
    result = shape_result_dist(lw, op.result, derived, [src])
    return lw.emit(mesh.RelayoutOp.create(operands=[x], result_types=[mesh_type(result, elem)]))


LOWERINGS.update({
    flame.BroadcastToOp: lower_broadcast_to,
    flame.SliceOp: lower_slice,
    flame.PadOp: lower_pad,
    flame.ConcatOp: lower_concat,
})


# --- convolution and pooling ---------------------------------------------------------------
# conv2d, max_pool2d and avg_pool2d run on a grid with the activations split [_, _, r, c]
# (H over the grid's rows, W over its columns) and the weight and bias replicated on every PE;
# each PE computes its block of output rows and columns from its window of the input, whose
# halo the mesh op's lowering fetches from the neighbouring PEs (see distribution.HaloAxis).
#
# The grid: the result's `grid` hint, else the input's grid (a partitioned or replicated input
# spreads over the same PEs; one already split [_, _, r, c] -- `distribution.is_spatial`, e.g. any
# tensor on one PE -- is used as it is and the result is split like it), else, for an input the
# compiler places, the default for its size grown until the op's buffers take at most half of a
# PE's SRAM; per axis at most one PE per output row/column. When a halo would reach past a
# neighbour's block (small blocks, wide kernels, or output blocks that drift away from the input
# blocks with a stride), the axis uses the most PEs on which it does not
# (`largest_feasible_parts`): the input is redistributed there, down to one PE along that axis. Block padding the windows read is masked first (0 for
# conv and average pooling, -inf for max pooling). avg_pool2d without count_include_pad divides
# by the average pooling of ones (the count of input elements per window); `divisor` scales.


def windowed_grid(
    lw: Lowering, op: Operation, kernel, stride, padding, dilation
) -> tuple[int, int]:
    x_shape, out_shape = flame.tensor_shape(op.input), flame.tensor_shape(op.result)
    hint = lw.hints.get(op.result)
    if hint is not None and hint.kind.data == "grid":
        start = hint.size_tuple
    else:
        known = lw.known_dist(op.input)
        start = known.grid if known is not None else compiler_grid(
            lw, op, kernel, stride, padding, dilation)
    return feasible_grid(start, x_shape, out_shape, kernel, stride, padding, dilation)


def feasible_grid(start, x_shape, out_shape, kernel, stride, padding, dilation) -> tuple:
    return tuple(
        distribution.largest_feasible_parts(x_shape[2 + a], out_shape[2 + a],
                                    min(start[a], out_shape[2 + a]), kernel[a], stride[a],
                                    dilation[a], padding[2 * a])
        for a in (0, 1)
    )


def compiler_grid(lw: Lowering, op: Operation, kernel, stride, padding, dilation) -> tuple:
    """For an input the compiler places: the default for its size, its side doubled until the
    op's tiles, halo windows and weights take at most half of a PE's SRAM for data."""
    x_shape, out_shape = flame.tensor_shape(op.input), flame.tensor_shape(op.result)
    elem = elem_bytes_of(op.input.type.element_type)  # type: ignore[attr-defined]
    params = sum(math.prod(flame.tensor_shape(v)) for v in op.operands[1:])
    limit = min(lw.target.fabric_rows, lw.target.fabric_cols)

    def per_pe(side: int) -> int:
        grid = feasible_grid((side, side), x_shape, out_shape, kernel, stride, padding, dilation)
        dx = Distribution(x_shape, grid, distribution.SPATIAL_SPLIT)
        dy = Distribution(out_shape, grid, distribution.SPATIAL_SPLIT)
        rows, cols = distribution.halo_axes(x_shape, out_shape, grid, kernel, stride, padding, dilation)
        n, c, bh, bw = dx.block
        wh = bh if rows.in_place else rows.window
        ww = bw if cols.in_place else cols.window
        return elem * (dx.local_elems + n * c * wh * (bw + ww) + dy.local_elems + params)

    side = max(lw.placed(op.input).grid)
    while side < limit and per_pe(side) > lw.target.usable_sram_bytes // 2:
        side = min(2 * side, limit)
    return (side, side)


def windowed_input(
    lw: Lowering, op: Operation, grid: tuple[int, int], kernel, stride, padding, dilation,
    pad_value: float,
) -> SSAValue:
    """The input split [_, _, r, c] on `grid`, its block padding masked where windows read it."""
    x_shape, out_shape = flame.tensor_shape(op.input), flame.tensor_shape(op.result)
    known = lw.known_dist(op.input)
    if known is not None and known.grid == grid and distribution.is_spatial(known):
        x = lw.value(op.input)  # already there (e.g. any 4-D tensor on one PE)
    else:
        x = lw.value_as(op.input, Distribution(x_shape, grid, distribution.SPATIAL_SPLIT))
    return mask_windowed(lw, x, out_shape, kernel, stride, padding, dilation, pad_value)


def mask_windowed(
    lw: Lowering, x: SSAValue, out_shape, kernel, stride, padding, dilation, pad_value: float
) -> SSAValue:
    dx = dist_of(x)
    reads_past_end = any(
        (out_shape[2 + a] - 1) * stride[a] - padding[2 * a] + (kernel[a] - 1) * dilation[a] + 1
        > dx.shape[2 + a]
        for a in (0, 1) if dx.has_padding([2 + a])
    )
    return mask_pad(lw, x, pad_value) if reads_past_end else x


def _spatial_attrs(kernel, stride, padding, dilation) -> dict[str, Attribute]:
    out = {"stride": flame.dense_i64(stride), "padding": flame.dense_i64(padding),
           "dilation": flame.dense_i64(dilation)}
    if kernel is not None:
        out["kernel"] = flame.dense_i64(kernel)
    return out


def lower_conv2d(op: flame.Conv2dOp, lw: Lowering) -> SSAValue:
    spatial = (flame.tensor_shape(op.weight)[2:], op.stride_pair, op.padding_quad,
               op.dilation_pair)
    grid = windowed_grid(lw, op, *spatial)
    x = windowed_input(lw, op, grid, *spatial, 0.0)
    operands = [x]
    for v in (op.weight, op.bias):
        if v is not None:
            shape = flame.tensor_shape(v)
            operands.append(lw.value_as(v, Distribution(shape, grid, ("",) * len(shape))))
    result = Distribution(flame.tensor_shape(op.result), grid, dist_of(x).split)
    attrs = _spatial_attrs(None, *spatial[1:])
    attrs["groups"] = op.groups
    return lw.emit(mesh.Conv2dOp.create(
        operands=operands, attributes=attrs,
        result_types=[mesh_type(result, x.type.element_type)],  # type: ignore[attr-defined]
    ))


def pool(lw: Lowering, x: SSAValue, kind: str, out_shape, spatial) -> SSAValue:
    """mesh.pool2d of `x` (already split [_, _, r, c] and masked) into `out_shape`."""
    d = dist_of(x)
    result = Distribution(tuple(out_shape), d.grid, d.split)
    attrs = _spatial_attrs(*spatial)
    attrs["kind"] = StringAttr(kind)
    return lw.emit(mesh.Pool2dOp.create(
        operands=[x], attributes=attrs,
        result_types=[mesh_type(result, x.type.element_type)],  # type: ignore[attr-defined]
    ))


def _pool_spatial(op: flame._PoolOp) -> tuple:
    return (op.kernel_pair, op.stride_pair, op.padding_quad, op.dilation_pair)


def lower_max_pool2d(op: flame.MaxPool2dOp, lw: Lowering) -> SSAValue:
    spatial = _pool_spatial(op)
    grid = windowed_grid(lw, op, *spatial)
    x = windowed_input(lw, op, grid, *spatial, -math.inf)
    return pool(lw, x, "max", flame.tensor_shape(op.result), spatial)


def lower_avg_pool2d(op: flame.AvgPool2dOp, lw: Lowering) -> SSAValue:
    spatial = _pool_spatial(op)
    out_shape = flame.tensor_shape(op.result)
    grid = windowed_grid(lw, op, *spatial)
    x = windowed_input(lw, op, grid, *spatial, 0.0)
    y = pool(lw, x, "avg", out_shape, spatial)
    kh, kw = spatial[0]
    if op.divisor is not None:
        return scale(lw, y, kh * kw / op.divisor.value.data)
    if op.count_include_pad is not None:
        return y
    ones = lw.emit(mesh.FillOp.create(attributes={"value": FloatAttr(1.0, f64)},
                                      result_types=[x.type]))
    ones = mask_windowed(lw, ones, out_shape, *spatial, 0.0)
    count = pool(lw, ones, "avg", out_shape, spatial)  # input elements per window / (kh * kw)
    return lw.emit(mesh.BinaryOp.create(operands=[y, count], attributes={"fn": StringAttr("div")},
                                        result_types=[y.type]))


LOWERINGS.update({
    flame.Conv2dOp: lower_conv2d,
    flame.MaxPool2dOp: lower_max_pool2d,
    flame.AvgPool2dOp: lower_avg_pool2d,
})
FLOAT_ONLY_OPS = FLOAT_ONLY_OPS + (flame.Conv2dOp, flame.MaxPool2dOp, flame.AvgPool2dOp)



# --- creation: iota and uniform random ----------------------------------------------------
# Lazy leaves like fill and random_normal: placed at their first use, in the layout that use
# wants (or their hint, or the default), each PE computing its own elements.


def lower_iota(op: flame.IotaOp, lw: Lowering) -> None:
    elem = op.result.type.element_type
    attrs = {"dim": op.dim, "start": op.start, "step": op.step}
    lw.deferred[op.result] = lambda dist: mesh.IotaOp.create(
        attributes=attrs, result_types=[mesh_type(dist, elem)]
    )


def lower_random_uniform(op: flame.RandomUniformOp, lw: Lowering) -> None:
    seed = lw.value(op.seed)
    elem = op.result.type.element_type
    attrs = {"minval": op.minval, "maxval": op.maxval}
    lw.deferred[op.result] = lambda dist: mesh.RandomUniformOp.create(
        operands=[seed], attributes=attrs, result_types=[mesh_type(dist, elem)]
    )


LOWERINGS.update({
    flame.IotaOp: lower_iota,
    flame.RandomUniformOp: lower_random_uniform,
})
