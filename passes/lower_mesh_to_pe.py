"""lower-mesh-to-pe: turn every mesh op into per-PE instructions, buffers and router routes.

Each mesh value becomes a `pe.alloc` buffer (one tile per PE of its grid, offsets left to
allocate-sram). Collectives become sends and receives on virtual channels (one per distinct
route configuration; allocate-colors maps them to the target's colors), with the `pe.route`
rules they need emitted before their first use:

- SUMMA: per step k, PE column k sends its A block on a row-broadcast channel and PE row k its B
  block on a column-broadcast channel; every PE receives both and runs `pe.matmul_acc`.
  Double-buffered where SRAM and the target's colors allow (plan_memory
  `summa_double_buffered`, four colors): step k+1's tiles arrive asynchronously into a second
  pair of buffers while step k multiplies. The steps are a `pe.loop` (the double-buffered
  body two steps, one per parity), so the IR does not grow with the grid side.
- allreduce along an axis: a chain (each PE adds what its west/north neighbour sends and passes
  the sum on; the middle stages a `pe.loop`), then the last PE broadcasts the total back along
  the line.
- redistribute (and slice, pad, concat, relayout): an exchange: its local part, then one
  `pe.exchange` per network phase with the `pe.route` ops of its messages' paths.

    %2 = mesh.binary add %0, %1 : !mesh.tensor<8x8xf32 on 2x2 split [r, c]>
becomes
    %2 = pe.alloc {name = "binary@demo.py:3", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32>
    pe.binary add %2, %0, %1 {pes = array<i64: 0, 0, 2, 2>} : ...
"""

from __future__ import annotations

from collections.abc import Callable

from xdsl.context import Context
from xdsl.dialects import func
from xdsl.dialects.builtin import (
    ModuleOp,
)
from xdsl.ir import Operation
from xdsl.passes import ModulePass

from pyflame.core.distribution import Distribution
from pyflame.core.errors import CompileError, UnsupportedOpsError
from pyflame.core.target import Target
from pyflame.dialects import mesh
from pyflame.passes.locations import describe_loc
from pyflame.passes.pe_lowering import (
    collectives,
    gemv,
    indexed,
    local_ops,
    matmul,
    ring_rows,
    shape_ops,
    windowed,
)
from pyflame.passes.pe_lowering.state import PELowering, anchor_of, shift_rects, tile_layout
from pyflame.passes.plan_memory import summa_double_buffered

#: mesh op class -> its lowering, over every op family
LOWERINGS: dict[type[Operation], Callable] = {
    **local_ops.LOWERINGS,
    **collectives.LOWERINGS,
    **gemv.LOWERINGS,
    **matmul.LOWERINGS,
    **shape_ops.LOWERINGS,
    **windowed.LOWERINGS,
    **indexed.LOWERINGS,
    **ring_rows.LOWERINGS,
}


def lower_function(fn: func.FuncOp, target: Target, exchange_routes: bool = True) -> None:
    """Lower `fn`'s mesh ops to pe; without `exchange_routes`, exchanges state no routes (for
    passes that only ask about SRAM)."""
    block = fn.body.block
    missing = [
        op for op in block.ops if type(op) not in LOWERINGS and not isinstance(op, func.ReturnOp)
    ]
    if missing:
        raise UnsupportedOpsError(
            "ops with no pe lowering: " + ", ".join(sorted({op.name for op in missing}))
        )
    lw = PELowering(target, block)
    lw.exchange_routes = exchange_routes
    # double-buffered SUMMA multicasts on four channels at once (a row and a column channel per
    # parity); a target with fewer colors keeps the single-buffered form's two
    if target.num_colors >= matmul.DOUBLE_BUFFERED_SUMMA_CHANNELS:
        lw.double_buffered = summa_double_buffered(fn, target.usable_sram_bytes)
    old_ops = list(block.ops)
    lw.position = {op: i for i, op in enumerate(old_ops)}
    collectives.plan_windows(old_ops, lw)
    lw.folded_transposes = matmul.tile_transposes(old_ops)
    for op in old_ops:
        lw.current = op
        if isinstance(op, func.ReturnOp):
            op.operands = [lw.values.get(v, v) for v in op.arguments]
            continue
        dists = placed_on(op, target)
        lw.anchor = anchor_of(dists)
        before = op.prev_op
        buf = LOWERINGS[type(op)](op, lw)
        emitted = []
        at = op.prev_op
        while at is not None and at is not before:
            emitted.append(at)
            at = at.prev_op
        shift_rects(emitted, lw.anchor)
        # a lowering gives one buffer, or one per result (mesh.allreduce_group)
        bufs = buf if isinstance(buf, list) else [buf]
        for result, b in zip(op.results, bufs, strict=True):
            lw.values[result] = b
            lw.sharing.setdefault(b, []).append(result)
    for op in reversed(old_ops):
        if not isinstance(op, func.ReturnOp):
            block.erase_op(op)


#: the mesh ops that move data between layouts (by exchanges): their tensors may sit at
#: different origins; every other op's tensors share one
MOVES_BETWEEN_ORIGINS: tuple[type[Operation], ...] = (
    mesh.RedistributeOp,
    mesh.RelayoutOp,
    mesh.SliceOp,
    mesh.PadOp,
    mesh.ConcatOp,
)


def placed_on(op: Operation, target: Target) -> list[Distribution]:
    """The distributions of `op`'s mesh tensors, checked to lie on the target's fabric (when
    away from PE (0, 0)) and (unless the op moves data between layouts) to share one origin."""
    dists = [
        v.type.dist for v in (*op.operands, *op.results) if isinstance(v.type, mesh.MeshTensorType)
    ]
    for d in dists:
        # a grid at the corner larger than the fabric is left to the simulator's planner (IR
        # size tests lower 32x32 grids for the 16x16 small target); one moved away must fit
        if d.origin != (0, 0) and not d.fits(target.fabric_rows, target.fabric_cols):
            raise CompileError(
                f"{describe_loc(op) or op.name}: {d} does not fit the {target.name} fabric of "
                f"{target.fabric_rows}x{target.fabric_cols} PEs"
            )
    origins = {d.origin for d in dists}
    if len(origins) > 1 and not isinstance(op, MOVES_BETWEEN_ORIGINS):
        raise CompileError(
            f"{describe_loc(op) or op.name}: '{op.name}' needs its tensors at one origin, got "
            + ", ".join(str(d) for d in dists)
        )
    return dists


class LowerMeshToPEPass(ModulePass):
    """Lower mesh ops to pe buffers, instructions, virtual channels and routes."""

    name = "lower-mesh-to-pe"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        target = Target.of_module(op)
        for fn in op.walk():
            if isinstance(fn, func.FuncOp):
                lower_function(fn, target)


__all__ = ["LOWERINGS", "LowerMeshToPEPass", "lower_function", "tile_layout"]
