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
from pyflame.dialects.mesh import Distribution, MeshTensorType, dist_of, is_local_reshape
from pyflame.errors import CompileError, UnsupportedOpsError
from pyflame.passes.layouts import default_layout, elem_bytes_of, layout_to_dist
from pyflame.sim.target import Target

ARG_LAYOUT_ATTR = "flame.layout"


def describe_loc(op_or_value: Operation | SSAValue) -> str:
    """`file:line` of an op (or of a value's producer), '' when unknown."""
    loc = getattr(op_or_value, "location", None)
    if isinstance(op_or_value, SSAValue) and isinstance(op_or_value.owner, Operation):
        loc = op_or_value.owner.location
    if isinstance(loc, FileLineColLoc):
        return f"{loc.filename.data}:{loc.line.data}"
    return ""


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

    def emit(self, op: Operation, location: Attribute | None = None) -> SSAValue:
        assert self.current is not None
        op.location = location or self.current.location
        self.block.insert_op_before(op, self.current)
        return op.results[0] if op.results else None  # type: ignore[return-value]

    def materialize(self, v: SSAValue, dist: Distribution) -> SSAValue:
        make = self.deferred.pop(v)
        owner = v.owner
        loc = owner.location if isinstance(owner, Operation) else None
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
        hint = self.hints.get(v) or default_layout(
            shape, elem_bytes_of(typ.element_type), self.target
        )
        return layout_to_dist(hint, shape, self.target)

    def hinted(self, v: SSAValue) -> Distribution | None:
        hint = self.hints.get(v)
        if hint is None:
            return None
        return layout_to_dist(hint, tuple(v.type.get_shape()), self.target)  # type: ignore[attr-defined]

    def to_dist(self, v: SSAValue, dist: Distribution) -> SSAValue:
        if dist_of(v) == dist:
            return v
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
    lw.deferred[op.result] = lambda dist: mesh.FillOp.create(
        attributes={"value": op.value}, result_types=[mesh_type(dist)]
    )


def lower_random_normal(op: flame.RandomNormalOp, lw: Lowering) -> None:
    seed = lw.value(op.seed)
    lw.deferred[op.result] = lambda dist: mesh.RandomNormalOp.create(
        operands=[seed], result_types=[mesh_type(dist)]
    )


def tile_operand_dist(v: SSAValue, target: Distribution) -> Distribution:
    """Where an elementwise operand must be: like the result, or (rank-0) one element per PE."""
    if flame.tensor_shape(v):
        return target
    return Distribution((), target.grid, ())


def elementwise_result(lw: Lowering, op: Operation, operands: list[SSAValue]) -> Distribution:
    """The result's distribution: its hint, else a placed full-shape operand's, else default."""
    full = [v for v in operands if flame.tensor_shape(v) == flame.tensor_shape(op.results[0])]
    known = [d for d in (lw.known_dist(v) for v in full) if d is not None]
    return lw.hinted(op.results[0]) or (known[0] if known else lw.placed(op.results[0]))


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


def reduce_sum(lw: Lowering, x: SSAValue, dims: tuple[int, ...], keepdim: bool) -> SSAValue:
    """Local reduce on every PE, then an allreduce over the mesh axes the dims were split on."""
    src = dist_of(x)
    elem = x.type.element_type  # type: ignore[attr-defined]
    if src.has_padding(dims):
        x = mask_pad(lw, x, 0.0)
    partial = src.with_(shape=[src.parts(d) if d in dims else n for d, n in enumerate(src.shape)])
    x = lw.emit(
        mesh.LocalReduceOp.create(
            operands=[x],
            attributes={"kind": StringAttr("sum"), "dims": flame.dense_i64(dims)},
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
                attributes={"kind": StringAttr("sum"), "dims": flame.dense_i64(split_dims)},
                result_types=[mesh_type(total, elem)],
            )
        )
    if not keepdim:
        d = dist_of(x)
        kept = [i for i in range(len(d.shape)) if i not in dims]
        squeezed = d.with_(shape=[d.shape[i] for i in kept], split=[d.split[i] for i in kept])
        x = lw.emit(mesh.ReshapeOp.create(operands=[x], result_types=[mesh_type(squeezed, elem)]))
    return x


def lower_reduce_sum(op: flame.ReduceSumOp, lw: Lowering) -> SSAValue:
    return reduce_sum(lw, lw.value(op.input), op.dim_tuple, op.keepdim is not None)


def lower_reduce_mean(op: flame.ReduceMeanOp, lw: Lowering) -> SSAValue:
    shape = flame.tensor_shape(op.input)
    count = math.prod(shape[d] for d in op.dim_tuple)
    total = reduce_sum(lw, lw.value(op.input), op.dim_tuple, op.keepdim is not None)
    return scale(lw, total, 1.0 / count if count else math.nan)


def matmul_grid(
    lw: Lowering, op: flame.MatmulOp, a: Distribution | None, b: Distribution | None
) -> int:
    """The side of the square grid SUMMA runs on: the result's grid hint, else an operand's
    square [r, c] grid, else a grid hint of an operand, else the default for the sizes."""
    hint = lw.hints.get(op.result)
    if hint is not None and hint.kind.data == "grid":
        return min(hint.size_tuple)
    for d in (a, b):
        if d is not None and d.split == ("r", "c") and d.grid[0] == d.grid[1]:
            return d.grid[0]
    # otherwise a square grid with about as many PEs as a partitioned operand, and at least
    # what the sizes need by default
    sides = [1] + [math.isqrt(d.grid[0] * d.grid[1]) for d in (a, b) if d is not None]
    shapes = (flame.tensor_shape(op.lhs), flame.tensor_shape(op.rhs), flame.tensor_shape(op.result))
    for shape in shapes:
        layout = default_layout(shape, 4, lw.target)
        if layout.kind.data == "grid":
            sides.append(layout.size_tuple[0])
    return max(sides)


def lower_matmul(op: flame.MatmulOp, lw: Lowering) -> SSAValue:
    (m, k), (_, n) = flame.tensor_shape(op.lhs), flame.tensor_shape(op.rhs)
    g = matmul_grid(lw, op, lw.known_dist(op.lhs), lw.known_dist(op.rhs))
    da = Distribution((m, k), (g, g), ("r", "c"))
    db = Distribution((k, n), (g, g), ("r", "c"))
    a, b = lw.value_as(op.lhs, da), lw.value_as(op.rhs, db)
    if da.has_padding([1]):
        a = mask_pad(lw, a, 0.0)
    if db.has_padding([0]):
        b = mask_pad(lw, b, 0.0)
    result = Distribution((m, n), (g, g), ("r", "c"))
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
    # Data moves between PEs: assemble on one PE, reshape there, then place the result.
    one = Distribution(src.shape, (1, 1), ("",) * len(src.shape))
    x = lw.to_dist(x, one)
    flat = Distribution(shape, (1, 1), ("",) * len(shape))
    x = lw.emit(mesh.ReshapeOp.create(operands=[x], result_types=[mesh_type(flat, elem)]))
    return lw.to_dist(x, lw.placed(op.result))


LOWERINGS: dict[type[Operation], Callable] = {
    flame.FillOp: lower_fill,
    flame.RandomNormalOp: lower_random_normal,
    **{cls: lower_elementwise for cls in flame.UNARY_OPS.values()},
    **{cls: lower_elementwise for cls in flame.BINARY_OPS.values()},
    flame.WhereOp: lower_elementwise,
    flame.ConvertOp: lower_convert,
    flame.ReduceSumOp: lower_reduce_sum,
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
    for op in fn.body.block.ops:
        if isinstance(op, flame.FlameOp) and op.layout is not None:
            hints[op.results[0]] = op.layout
    leaves = [a for a in fn.body.block.args if isinstance(a.type, TensorType)] + [
        op.results[0]
        for op in fn.body.block.ops
        if isinstance(op, flame.FillOp | flame.RandomNormalOp)
    ]
    for leaf in leaves:
        if leaf in hints:
            continue
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


def lower_function(fn: func.FuncOp, target: Target) -> None:
    check_supported(fn)
    block = fn.body.block
    lw = Lowering(target, block, collect_hints(fn))
    old_ops = list(block.ops)
    for arg in block.args:
        if isinstance(arg.type, TensorType):
            lw.deferred[arg] = lambda dist, arg=arg: mesh.ScatterOp.create(
                operands=[arg], result_types=[mesh_type(dist, arg.type.element_type)]
            )
    for op in old_ops:
        lw.current = op
        if isinstance(op, func.ReturnOp):
            gathered = [
                lw.emit(mesh.GatherOp.create(operands=[lw.value(v)], result_types=[v.type]))
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
            raise
        if lowered is not None:
            lw.finish(op.results[0], lowered)
    for op in reversed(old_ops):
        if not isinstance(op, func.ReturnOp):
            block.erase_op(op)


class FlameToMeshPass(ModulePass):
    """Lower flame to mesh (layouts, collectives, host I/O), then plan memory."""

    name = "flame-to-mesh"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        from pyflame.passes.plan_memory import PlanMemoryPass

        target = Target.of_module(op)
        for fn in op.walk():
            if isinstance(fn, func.FuncOp):
                lower_function(fn, target)
        PlanMemoryPass().apply(ctx, op)




# --- shape ops ---------------------------------------------------------------------------
# Result layouts: the result's hint, else derived from the operand (same grid; every dim keeps
# its split, a slice's size-1 result dims become unsplit), else -- when the compiler's default
# for the result's size spreads it over more PEs than that -- the default.
#
# - broadcast_to: the source is first put on the result's grid with its kept dims split like
#   the result's and its size-1 dims unsplit (a redistribute when it is not already there),
#   then every PE expands its own tile (mesh.broadcast).
# - slice / pad / concat: one data-moving op each (mesh.slice, mesh.pad, mesh.concat), lowered
#   to pe.exchange with an index map; operands stay where they are.


def shape_result_dist(lw: Lowering, result: SSAValue, derived: Distribution) -> Distribution:
    hinted = lw.hinted(result)
    if hinted is not None:
        return hinted
    default = lw.placed(result)
    return default if default.num_pes > derived.num_pes else derived


def operand_near(lw: Lowering, v: SSAValue, dist: Distribution) -> SSAValue:
    """`v`'s mesh value; an unplaced lazy leaf is placed in `dist` (no redistribution)."""
    if v in lw.deferred and v not in lw.hints:
        return lw.materialize(v, dist)
    return lw.value(v)


def lower_broadcast_to(op: flame.BroadcastToOp, lw: Lowering) -> SSAValue:
    src_shape, shape = flame.tensor_shape(op.input), flame.tensor_shape(op.result)
    k = len(shape) - len(src_shape)
    base = lw.known_dist(op.input) or lw.placed(op.input)
    result = shape_result_dist(
        lw, op.result, base.with_(shape=shape, split=("",) * k + base.split)
    )
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
    result = shape_result_dist(lw, op.result, derived)
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
    result = shape_result_dist(lw, op.result, dist_of(x).with_(shape=shape))
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
    result = shape_result_dist(lw, op.result, derived)
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


LOWERINGS.update({
    flame.BroadcastToOp: lower_broadcast_to,
    flame.SliceOp: lower_slice,
    flame.PadOp: lower_pad,
    flame.ConcatOp: lower_concat,
})
