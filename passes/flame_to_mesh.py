"""flame-to-mesh: place every tensor on the mesh and make all data movement explicit.

Each flame value gets a distribution: the user's `layout` hint, else one derived from its
operands, else (for inputs and creation ops nobody placed) the layout of a hinted neighbour or a
size-based default (the module's `#pf.placement` budget, chosen by plan-placement, says which
tensors are small enough for one PE; passes/layouts.py has the rules). Lowerings are one table,
`LOWERINGS`, keyed by flame op class and gathered from one module per op family
(passes/flame_lowering/):

- elementwise ops run on tiles; operands laid out differently are redistributed first;
- reductions: padding masked to the identity, a local reduce on every PE, then an allreduce
  along the mesh axes the reduced dims were split over;
- matmul: SUMMA on a square grid with both operands split [r, c] (contraction padding zeroed);
- transpose is local (the split permutes); a reshape that moves data goes through one PE;
- program inputs are scattered from the host, results gathered back.

Composite ops must be decomposed first (the decompose pass); plan-memory, the next pass, checks
that every PE's SRAM holds the result.

    %0 = flame.add %a, %b : (tensor<5x7xf32>, tensor<5x7xf32>) -> tensor<5x7xf32>
becomes
    %0 = mesh.scatter %a : tensor<5x7xf32> -> !mesh.tensor<5x7xf32 on 1x1 split [_, _]>
    %1 = mesh.scatter %b : ...
    %2 = mesh.binary add %0, %1 : !mesh.tensor<5x7xf32 on 1x1 split [_, _]>, ... -> ...
    %3 = mesh.gather %2 : !mesh.tensor<5x7xf32 on 1x1 split [_, _]> -> tensor<5x7xf32>
"""

from __future__ import annotations

from collections.abc import Callable

from xdsl.context import Context
from xdsl.dialects import func
from xdsl.dialects.builtin import FileLineColLoc, ModuleOp, TensorType
from xdsl.ir import Attribute, Operation, SSAValue
from xdsl.passes import ModulePass

from pyflame.core.distribution import Distribution
from pyflame.core.elementwise import type_name
from pyflame.core.errors import CompileError, UnsupportedOpsError
from pyflame.core.placement import DEFAULT_PLACEMENT, Placement, placement_of
from pyflame.core.target import Target
from pyflame.dialects import flame, mesh
from pyflame.passes.flame_lowering import (
    cleanup,
    creation,
    elementwise,
    indexed,
    matmul,
    reductions,
    shape_ops,
    windowed,
)
from pyflame.passes.flame_lowering.gemv import chosen_algorithm
from pyflame.passes.flame_lowering.state import Lowering
from pyflame.passes.layouts import collect_assigned, collect_hints, reloaded_args
from pyflame.passes.locations import arg_loc, describe_loc

#: every flame op's lowering, by op class (one table per family in passes/flame_lowering/)
LOWERINGS: dict[type[Operation], Callable] = {
    **creation.LOWERINGS,
    **elementwise.LOWERINGS,
    **reductions.LOWERINGS,
    **matmul.LOWERINGS,
    **shape_ops.LOWERINGS,
    **windowed.LOWERINGS,
    **indexed.LOWERINGS,
}

SUPPORTED_ELEMENTS = {"f32", "f16", "bf16", "i32", "i1"}


FLOAT_ONLY_ELEMENTS = {"f32", "f16", "bf16"}
#: ops the PEs only run on floating-point data (FMACs)
FLOAT_ONLY_OPS = matmul.FLOAT_ONLY_OPS + windowed.FLOAT_ONLY_OPS


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
            if isinstance(v.type, TensorType) and type_name(v.type.element_type) not in allowed:
                problems.append(
                    f"{where}: '{op.name}' on {v.type}: this element type does not run on the mesh"
                )
                break
    for arg in fn.body.block.args:
        if (
            isinstance(arg.type, TensorType)
            and type_name(arg.type.element_type) not in SUPPORTED_ELEMENTS
        ):
            loc = arg.location
            where = (
                f"{loc.filename.data}:{loc.line.data}" if isinstance(loc, FileLineColLoc) else ""
            )
            problems.append(
                f"{where or 'unknown location'}: input {arg.type}: this element type does not "
                "run on the mesh"
            )
    if problems:
        raise UnsupportedOpsError(
            f"PyFlame cannot lower {len(problems)} part(s) of this program:\n  "
            + "\n  ".join(problems)
        )


def scatter_of(arg: SSAValue, elem: Attribute) -> Callable[[Distribution], Operation]:
    """A program input's placement, made at its first use: scattered from the host."""
    return lambda dist: mesh.ScatterOp(arg, dist)


def reload_of(lw: Lowering, arg: SSAValue) -> Callable[[Distribution], SSAValue]:
    """A program input loaded from the host again, in another layout (assign-layouts'
    `pf.reload`)."""
    return lambda dist: lw.emit(mesh.ScatterOp(arg, dist), arg_loc(arg))


def lower_function(
    fn: func.FuncOp,
    target: Target,
    placement: Placement = DEFAULT_PLACEMENT,
    stage_moves: bool = True,
) -> None:
    """Lower `fn` to mesh. `stage_moves=False` moves every tensor in one exchange (no
    staged regrids, flame_lowering/regrid.py: their estimates cost seconds of compile time
    for large grids, too many for assign-layouts' candidate lowerings)."""
    check_supported(fn)
    block = fn.body.block
    # hints binding the hinted tensors only: no neighbour takes one, every use reads a copy
    hints = collect_hints(fn, from_neighbours=not placement.hinted_only)
    unbound = set(hints) if placement.hinted_only else set()
    assigned = {v: d for v, (d, _) in collect_assigned(fn).items()}
    for op in block.ops:  # SUMMA runs on the grid assign-layouts chose for the product
        d = assigned.get(op.results[0]) if isinstance(op, flame.MatmulOp) else None
        if isinstance(op, flame.MatmulOp) and chosen_algorithm(op) == "gemv":
            continue  # a GEMV's result is where the reduction leaves it, not on a SUMMA grid
        if d is not None and op.results[0] not in hints and d.grid[0] == d.grid[1]:
            hints[op.results[0]] = flame.LayoutAttr("grid", list(d.grid))
    lw = Lowering(
        target,
        block,
        hints,
        single_pe_bytes=placement.single_pe_bytes,
        assigned=assigned,
        unbound=unbound,
        stage_moves=stage_moves,
    )
    old_ops = list(block.ops)
    for arg in block.args:
        if isinstance(arg.type, TensorType):
            lw.deferred[arg] = scatter_of(arg, arg.type.element_type)
    for reloaded in reloaded_args(fn):
        lw.remakes[reloaded] = reload_of(lw, reloaded)
    for op in old_ops:
        lw.current = op
        if isinstance(op, func.ReturnOp):
            gathered = [  # at the return's line, else (traced programs) where v was made
                lw.emit(
                    mesh.GatherOp(lw.value(v)),
                    None
                    if isinstance(op.location, FileLineColLoc)
                    else v.owner.location
                    if isinstance(v.owner, Operation)
                    else arg_loc(v),
                )
                if isinstance(v.type, TensorType)
                else lw.value(v)
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
                located.op = op
                raise located from None
            if getattr(err, "op", None) is None:
                err.op = op
            raise
        if lowered is not None:
            lw.finish(op.results[0], lowered)
    for op in reversed(old_ops):
        if not isinstance(op, func.ReturnOp):
            block.erase_op(op)
    cleanup.fold_transpose_pairs(block)
    cleanup.fold_transposed_operands(block)
    cleanup.erase_unread(block)


class FlameToMeshPass(ModulePass):
    """Lower flame to mesh: place every tensor (the user's hints, else the module's
    `#pf.placement` budget), make collectives and host I/O explicit."""

    name = "flame-to-mesh"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        target = Target.of_module(op)
        placement = placement_of(op)
        for fn in op.walk():
            if isinstance(fn, func.FuncOp):
                lower_function(fn, target, placement)
