"""The cost of the barriers allocate-colors inserts to order route switches (see
passes/allocate_colors.py): a program whose channels outnumber the free colors reuses colors,
and every channel that replaces an earlier channel's rules is fenced by barriers over all the
program's PEs.

Whether a channel switches depends on the colors every other channel of the program took and on
whether their rules agree, which only the whole lowered program knows, so the count comes from
lowering a copy of the module through mesh-to-pe (lower-mesh-to-pe, allocate-colors): no
simulation, but the program's compile time. A barrier over R x C PEs gathers one word per PE
into the last PE of every row (the senders' routes merge: one receive takes the row's C - 1
words as they come), then the last column's into the last PE, then multicasts back from it:

    gather(n) = issue + latency(n - 1 hops) + 1 + wake
    barrier(R, C) = gather(C) + gather(R) + issue + latency(R + C - 2 hops) + 1 + wake

(a gather's n - 1 words cross its last link one per cycle, the farthest after n - 1 hops: the
two overlap). Both engines give exactly this on an idle mesh (56 + 2 (R + C) cycles on WSE2:
tests/unit/test_allocate_colors.py). Beyond 64 x 64 PEs or a side of 128 (`allocate_colors.gathers`) the rows and the
column chain their words instead (a receive-combine-forward stage per PE; cheaper to plan):

    chain(n) = issue + (n - 1) latency(1 hop) + (n - 2) ce_forward + combine + wake Left out: the route switches themselves
(`route_switch_cycles` per replaced rule, on the PEs whose rules change, a few per channel) and
the overlap of a barrier with the previous op's last PEs.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp

from pyflame.core.target import Target
from pyflame.dialects import mesh, pe
from pyflame.passes.allocate_colors import BARRIER_COLORS, gathers
from pyflame.passes.cost_model.registry import CostContext

#: colors that a program's long-lived channels hold while its exchanges run (SUMMA's and the
#: collectives' routes are one channel per configuration, live from its first op to its last),
#: so that about `num_colors - BARRIER_COLORS - HELD_COLORS` switching channels share one
#: barrier pair: calibrated on the MLP and GPT training steps (docs/passes.md)
HELD_COLORS = 4


@dataclass(frozen=True)
class BarrierEstimate:
    barriers: int
    rows: int
    cols: int
    cycles_each: int

    @property
    def cycles(self) -> int:
        return self.barriers * self.cycles_each


def gather_cycles(ctx: CostContext, n: int) -> int:
    """A one-word gather from a line of n PEs into its last, up to that PE's wake."""
    if n <= 1:
        return 0
    return ctx.issue + ctx.latency(n - 1) + ctx.stream(1) + ctx.wake


def chain_reduce_cycles(ctx: CostContext, n: int) -> int:
    """A one-word chain sum over a line of n PEs, up to its last PE's wake (a barrier over
    larger than `allocate_colors.gathers` takes)."""
    if n <= 1:
        return 0
    t = ctx.target
    return (
        ctx.issue
        + (n - 1) * ctx.latency(1)
        + (n - 2) * t.ce_forward_cycles
        + max(ctx.stream(1), ctx.compute("recv_combine", 1, 1) - ctx.issue)
        + ctx.wake
    )


def barrier_cycles(ctx: CostContext, rows: int, cols: int) -> int:
    if rows * cols <= 1:
        return 0
    line = gather_cycles if gathers(rows, cols) else chain_reduce_cycles
    multicast = ctx.issue + ctx.latency(rows + cols - 2) + ctx.stream(1) + ctx.wake
    return line(ctx, cols) + line(ctx, rows) + multicast


def barrier_share(target: Target, channels: int, rows: int, cols: int) -> int:
    """The barriers' cycles a run of `channels` switching channels adds to a program over rows
    x cols PEs, at one barrier pair per `num_colors - BARRIER_COLORS - HELD_COLORS` of them:
    for choices made before the program is lowered (how to move a tensor)."""
    free = max(1, target.num_colors - BARRIER_COLORS - HELD_COLORS)
    return 2 * channels * barrier_cycles(CostContext(target), rows, cols) // free


def main_function(module: ModuleOp) -> func.FuncOp:
    for op in module.ops:
        if isinstance(op, func.FuncOp) and op.sym_name.data == "main":
            return op
    raise ValueError("the module has no func.func @main")


def count_barriers(pe_module: ModuleOp) -> tuple[int, int, int]:
    """(barriers, rows, cols) of a pe-level module after allocate-colors: a barrier ends with
    one multicast send from its last PE (rows - 1, cols - 1) of the "barrier" word."""
    fn = main_function(pe_module)
    alloc = next(
        (
            op
            for op in fn.body.block.ops
            if isinstance(op, pe.AllocOp) and op.buffer_name.data == "barrier"
        ),
        None,
    )
    if alloc is None:
        return 0, 0, 0
    _, _, rows, cols = alloc.rect
    last = (rows - 1, cols - 1, 1, 1)
    count = sum(
        1
        for op in fn.body.block.ops
        if isinstance(op, pe.SendOp) and op.buffer is alloc.results[0] and op.rect == last
    )
    return count, rows, cols


def estimate_barriers(mesh_module: ModuleOp) -> BarrierEstimate:
    """The barriers lowering `mesh_module` (left as it is) adds, and what they cost."""
    from xdsl.context import Context
    from xdsl.passes import PassPipeline

    from pyflame.passes import PIPELINES, all_passes

    lowered = mesh_module.clone()
    PassPipeline.parse_spec(all_passes(), PIPELINES["mesh-to-pe"]).apply(Context(), lowered)
    barriers, rows, cols = count_barriers(lowered)
    ctx = CostContext(Target.of_module(mesh_module))
    return BarrierEstimate(barriers, rows, cols, barrier_cycles(ctx, rows, cols))


def program_box(fn: func.FuncOp) -> tuple[int, int]:
    """The rows and columns of PEs from PE (0, 0) that a mesh-level function's tensors use
    (each grid from its origin): the rectangle allocate-colors' barriers span."""
    rows = cols = 1
    for op in fn.body.block.ops:
        for v in op.results:
            if isinstance(v.type, mesh.MeshTensorType):
                d = mesh.dist_of(v)
                rows = max(rows, d.origin[0] + d.grid[0])
                cols = max(cols, d.origin[1] + d.grid[1])
    return rows, cols


def approximate_barriers(fn: func.FuncOp, target: Target, channels: int) -> BarrierEstimate:
    """The barriers of a mesh-level function whose ops open `channels` channels of their own
    (exchange phases: `Cost.channels`), without lowering it: the first `free` of them take
    fresh colors, every later one switches a color, and allocate-colors' shared barriers order
    the switches of about `free` channels with one pair. Within 10% of the lowered count on
    the GPT and MLP training steps; `estimate_barriers` counts exactly (a compile's time)."""
    free = max(1, target.num_colors - BARRIER_COLORS - HELD_COLORS)
    switching = channels - free
    if switching <= 0:
        return BarrierEstimate(0, 0, 0, 0)
    rows, cols = program_box(fn)
    each = barrier_cycles(CostContext(target), rows, cols)
    return BarrierEstimate(2 * -(-switching // free), rows, cols, each)
