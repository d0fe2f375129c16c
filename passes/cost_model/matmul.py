"""Costs of mesh.matmul, one rule per algorithm (the `algorithm` property).

SUMMA on a g x g grid, tiles A [m, k], B [k, n] per PE: the accumulator is zeroed, then g steps
(only the first ceil(K / k) when the last K blocks hold nothing but padding, `k_blocks`);
in step s PE column s multicasts its A tile along the rows and PE row s its B tile along the
columns, and every PE multiplies what it received. One step's compute is the tile matmul
(`pe.matmul_acc`: k * n FMACs of length m), its transfer the two tiles through the PE's input
ramp (A then B: one ramp takes one stream at a time).

- double-buffered (lower-mesh-to-pe does it when the second pair of receive buffers fits):
  step s + 1's tiles stream in while step s multiplies, so

      fill + first transfer + g * max(matmul + step overhead, transfer)

  the step overhead being the wait's task activation and the next step's two receive issues
  (and the roots' send issues, which the pipeline spreads: calibrated as + 2 cycles);
- single-buffered: every step receives, then multiplies; the steps run as a wavefront (a PE
  d hops from step s + 1's roots finished step s d hops after them), so the farthest PE's
  latency comes once:

      fill + latency + g * (issue + one hop + transfer + 2 wakes + matmul + the roots' wait)

A transposed operand (`transpose_a` / `transpose_b`) moves the same tiles, but each goes to the
diagonal PE first and turns there: its farthest receiver is up to 2 (g - 1) hops away instead of
g - 1 (the latency of a single-buffered step, and of the double-buffered pipeline's first
transfer); the tile product reads it through strided DSDs at the same cost.

Operands on a 1x1 grid multiply in place: fill + matmul. Cannon and MeshGEMM: `shift_matmul`
below (within 3% of the simulator from 3x3 to 16x16). mesh.local_matmul (GEMV) is fill + one
tile matmul.
"""

from __future__ import annotations

import math

from xdsl.ir import Attribute, Block

from pyflame.core.distribution import Distribution
from pyflame.core.target import Target
from pyflame.core.vector_costs import CostKind
from pyflame.dialects import mesh
from pyflame.dialects.mesh import MeshTensorType, dist_of
from pyflame.passes.cost_model.registry import Cost, CostContext, cost_rule
from pyflame.passes.layouts import elem_bytes_of
from pyflame.passes.scratch import LayeredPlan

#: cycles per SUMMA step beyond the wait's wake and two receive issues, measured on the
#: simulator (the roots' send issues and waits, spread over the pipeline)
SUMMA_STEP_SLACK = 2


@cost_rule(mesh.MatmulOp, "summa")
def summa(op: mesh.MatmulOp, ctx: CostContext) -> Cost:
    a, b, c = dist_of(op.lhs), dist_of(op.rhs), dist_of(op.result)
    g = a.grid[0]
    m, k, n = op.mkn
    # a transposed operand's blocks reach the diagonal first, then turn (see above)
    hops = (g - 1) * (2 if any(op.transposes) else 1)
    batches_a, batches_b = math.prod(a.block[:-2]), math.prod(b.block[:-2])
    eb = ctx.elem_bytes(op.result)  # the accumulator's (float32 for half operands)
    half = ctx.elem_bytes(op.lhs) == 2  # fp16 FMAC lanes (into a float32 accumulator too)
    fill = ctx.compute(CostKind.FILL, c.local_elems, elem_bytes=eb)
    if batches_b > 1:  # one matmul per batch entry
        compute = ctx.compute(CostKind.MATMUL_ACC, batches_b, m, k, n, elem_bytes=eb, half=half)
    else:  # a shared B: the batch entries of A stack into one tall matmul
        compute = ctx.compute(CostKind.MATMUL_ACC, 1, batches_a * m, k, n, elem_bytes=eb, half=half)
    result = ctx.tile_bytes(op.result)
    if g == 1:
        return Cost(fill + compute, result, algorithm="summa", detail="1x1 grid: one matmul")
    operand_eb = ctx.elem_bytes(op.lhs)
    transfer = ctx.wavelets(a.local_elems, operand_eb) + ctx.wavelets(b.local_elems, operand_eb)
    receive = ctx.tile_bytes(op.lhs) + ctx.tile_bytes(op.rhs)
    steps = op.k_blocks  # the K blocks past it are contraction padding: no steps
    if op in ctx.double_buffered:
        first = 2 * ctx.issue + ctx.latency(1 if hops == g - 1 else hops) + transfer + ctx.wake
        step = max(compute + ctx.wake + 2 * ctx.issue + SUMMA_STEP_SLACK, transfer)
        return Cost(
            fill + first + steps * step,
            result + 2 * receive,
            algorithm="summa (double-buffered)",
            detail=f"{steps} steps of max(matmul {compute}, transfer {transfer})",
        )
    # a wavefront: step s + 1's roots are one hop from step s's, and a PE d hops out gets its
    # tiles d hops after them as it finished step s d hops after them too, so each step adds
    # one hop (two for a transposed operand's turn) and the farthest PE's latency comes once
    turn = 2 if any(op.transposes) else 1
    step = ctx.issue + ctx.latency(turn) + transfer + 3 * ctx.wake + compute
    return Cost(
        fill + ctx.latency(hops) - ctx.latency(turn) + steps * step,
        result + receive,
        algorithm="summa",
        detail=f"{steps} steps of matmul {compute} + transfer {transfer}",
    )


def shift_matmul(op: mesh.MatmulOp, ctx: CostContext) -> Cost:
    """Cannon and MeshGEMM (passes/pe_lowering/shift_matmul.py): g // 2 alignment rounds (each
    rotating PE posts a send and a receive of its A and its B tile, both through its ramp,
    then waits), then g - 1 double-buffered steps of max(matmul + the step's issues and wake,
    transfer) and a last matmul. A step waits only for the ring successor's previous one, so
    the wrap-around's hops are paid once per rotation (one latency in all), not per step."""
    a, b, c = dist_of(op.lhs), dist_of(op.rhs), dist_of(op.result)
    g = a.grid[0]
    (m, k), n = a.block[-2:], b.block[-1]
    batches_a, batches_b = math.prod(a.block[:-2]), math.prod(b.block[:-2])
    eb = ctx.elem_bytes(op.result)
    half = ctx.elem_bytes(op.lhs) == 2  # fp16 FMAC lanes (into a float32 accumulator too)
    name = algorithm_of_matmul(op)
    fill = ctx.compute(CostKind.FILL, c.local_elems, elem_bytes=eb)
    if batches_b > 1:
        compute = ctx.compute(CostKind.MATMUL_ACC, batches_b, m, k, n, elem_bytes=eb, half=half)
    else:
        compute = ctx.compute(CostKind.MATMUL_ACC, 1, batches_a * m, k, n, elem_bytes=eb, half=half)
    result = ctx.tile_bytes(op.result)
    if g == 1:
        return Cost(fill + compute, result, algorithm=name, detail="1x1 grid: one matmul")
    operand_eb = ctx.elem_bytes(op.lhs)
    transfer = ctx.wavelets(a.local_elems, operand_eb) + ctx.wavelets(b.local_elems, operand_eb)
    hops = 1 if name == "cannon" else 2
    align_round = 4 * ctx.issue + ctx.latency(hops) + transfer + ctx.wake
    step = max(compute + 4 * ctx.issue + ctx.wake, transfer + ctx.latency(hops))
    rounds = g // 2
    scratch = 2 * (ctx.tile_bytes(op.lhs) + ctx.tile_bytes(op.rhs))
    return Cost(
        fill + rounds * align_round + (g - 1) * step + ctx.latency(g - 1) + compute,
        result + scratch,
        algorithm=name,
        detail=f"{rounds} alignment rounds of {align_round}, {g - 1} steps of {step}",
    )


def algorithm_of_matmul(op: mesh.MatmulOp) -> str:
    return str(op.algorithm.data.value)


cost_rule(mesh.MatmulOp, "cannon")(shift_matmul)
cost_rule(mesh.MatmulOp, "meshgemm")(shift_matmul)


@cost_rule(mesh.LocalMatmulOp)
def local_matmul(op: mesh.LocalMatmulOp, ctx: CostContext) -> Cost:
    """GEMV's local products (passes/pe_lowering/gemv.py): a zeroed partial and one tile
    matmul per PE, nothing sent (the allreduce after it has its own rule); a transposed
    operand is read in place at the same cost (strided DSDs)."""
    a, b = op.operand_dists()
    (m, k), n = a.block[-2:], b.block[-1]
    batches_a, batches_b = math.prod(a.block[:-2]), math.prod(b.block[:-2])
    eb = ctx.elem_bytes(op.result)
    half = ctx.elem_bytes(op.lhs) == 2  # fp16 FMAC lanes (into a float32 accumulator too)
    fill = ctx.compute(CostKind.FILL, dist_of(op.result).local_elems, elem_bytes=eb)
    if batches_b > 1:  # one product per batch entry
        compute = ctx.compute(CostKind.MATMUL_ACC, batches_b, m, k, n, elem_bytes=eb, half=half)
    else:  # a shared B: A's entries stack into one tall product
        compute = ctx.compute(CostKind.MATMUL_ACC, 1, batches_a * m, k, n, elem_bytes=eb, half=half)
    return Cost(fill + compute, ctx.tile_bytes(op.result), algorithm="gemv (local products)")


@cost_rule(mesh.MatmulOp, "summa25d")
def summa25d(op: mesh.MatmulOp, ctx: CostContext) -> Cost:
    """2.5D SUMMA (passes/pe_lowering/layered_matmul.py) with the plan the lowering makes
    (layers c, steps per K block): the gather (c - 1 ring shifts of an A block up the columns,
    each copied into the panel; the last layer's c - 1 rotations of its panel along the row
    ring, each a panel copy; the pieces cut from the panel and from B), then as double-buffered
    SUMMA the first transfer and `steps` steps of max(matmul [c*m, w] x [w, n] + the step's
    issues and wake, transfer), then the reduction (the accumulator cut into c blocks, c - 1
    ring steps each a block through the ramp and added). The rings' wrap-around (g - 1 hops)
    is paid once per ring shift. Without a plan (batch dims, or nothing fits): SUMMA's cost."""
    plan = layered_plan_of(op, ctx.target)
    if plan is None:
        return summa(op, ctx)
    c, m, k, n, g = plan.layers, plan.m, plan.k, plan.n, plan.g
    eb = ctx.elem_bytes(op.result)

    def work(kind: CostKind, *sizes: int) -> int:
        return ctx.compute(kind, *sizes, elem_bytes=eb)

    def ring_step(elems: int) -> int:
        return 2 * ctx.issue + ctx.latency(g - 1) + ctx.wavelets(elems, eb) + ctx.wake

    def transfer(w: int) -> int:
        return ctx.wavelets(c * m * w, eb) + ctx.wavelets(w * n, eb)

    gather = work(CostKind.PACK, m * k) + (c - 1) * (ring_step(m * k) + work(CostKind.PACK, m * k))
    gather += (c - 1) * (ring_step(c * m * k) + work(CostKind.COPY, c * m * k))
    if plan.splits > 1:  # (B's pieces are windows of its block, or copies)
        b_pack = 0 if plan.b_windowed else 1
        gather += sum(
            work(CostKind.PACK, c * m * w) + b_pack * work(CostKind.PACK, w * n)
            for w in plan.widths
        )
    # a K block's steps, one per piece (widths differ by at most one)
    computes = [work(CostKind.MATMUL_ACC, 1, c * m, w, n) for w in plan.widths]
    steps = [
        max(compute + ctx.wake + 2 * ctx.issue + SUMMA_STEP_SLACK, transfer(w))
        for compute, w in zip(computes, plan.widths, strict=True)
    ]
    first = 2 * ctx.issue + ctx.latency(g - 1) + transfer(plan.widths[0]) + ctx.wake
    fill = work(CostKind.FILL, c * m * n)
    # block 0 copied into the result; the others copied out unless sent as windows
    reduce = (1 if plan.chunks_windowed else c) * work(CostKind.PACK, m * n)
    reduce += (c - 1) * (ring_step(m * n) + work(CostKind.RECV_COMBINE, m * n))
    scratch = plan.peak_elems() * eb
    return Cost(
        gather + fill + first + g // c * sum(steps) + reduce,
        ctx.tile_bytes(op.result) + scratch,
        algorithm="summa25d",
        detail=(
            f"{c} layers, {plan.steps} steps of max(matmul {computes[0]}, transfer "
            f"{transfer(plan.widths[0])}); "
            f"gather {gather}, reduction {reduce}"
        ),
    )


def layered_plan_of(op: mesh.MatmulOp, target: Target) -> LayeredPlan | None:
    """The plan the lowering makes for a 2.5D SUMMA (passes/pe_lowering/layered_matmul.py)."""
    from pyflame.passes.pe_lowering.layered_matmul import plan_for  # the lowering's own choice

    return plan_for(op, target)


def hypothetical_matmul(
    a: Distribution,
    b: Distribution,
    c: Distribution,
    elem: Attribute,
    transposes: tuple[bool, bool] = (False, False),
) -> mesh.MatmulOp:
    """A mesh.matmul (SUMMA) of operands laid out as `a` and `b`, outside any program (its
    operands are the arguments of a detached block): what a lowering costs before it emits
    anything."""
    block = Block(arg_types=[MeshTensorType(a, elem), MeshTensorType(b, elem)])
    ta, tb = transposes
    return mesh.MatmulOp(
        block.args[0], block.args[1], MeshTensorType(c, elem), transpose_a=ta, transpose_b=tb
    )


def matmul_cycles(
    target: Target,
    a: Distribution,
    b: Distribution,
    c: Distribution,
    elem: Attribute,
    transposes: tuple[bool, bool] = (False, False),
) -> int:
    """Estimated cycles of C = A @ B on SUMMA's layouts `a`, `b`, `c` (operands stored
    transposed per `transposes`): double-buffered SUMMA, or the 2.5D SUMMA when it applies
    and is cheaper (flame_lowering.matmul's own choice)."""
    op = hypothetical_matmul(a, b, c, elem, transposes)
    ctx = CostContext(target, double_buffered={op})
    cycles = summa(op, ctx).cycles
    if layered_plan_of(op, target) is not None:
        cycles = min(cycles, summa25d(op, ctx).cycles)
    return cycles


def redistribute_cycles(
    target: Target, src: Distribution, dst: Distribution, elem: Attribute
) -> int:
    """Estimated cycles of moving a tensor from layout `src` to `dst` (0 if the same tiles)."""
    from pyflame.passes.cost_model.data_movement import redistribute_cycles as exchange_cycles

    return exchange_cycles(target, src, dst, elem_bytes_of(elem))
