"""Costs of mesh.conv2d and mesh.pool2d: the halo exchange (lower-mesh-to-pe's `halo_phase`,
rows first, then columns), then one local op per PE.

Per halo phase every PE: fills its window, packs the strip(s) its neighbours need and sends them
(asynchronously: an issue each), unpacks its own block into the window, receives each strip from
its neighbour (the strip's stream, one hop, a wake) and unpacks it, then waits for its sends.
Neighbours all do the same at the same time, so a phase costs one PE's sequence:

    fill(window) + per strip: pack + issue
                 + unpack(own block)
                 + per strip: issue + latency(1 hop) + strip wavelets + wake + unpack(strip)
                 + wake (the sends' wait)

then `pe.conv2d` (one FMAC over the output plane per (image, out channel, in channel, tap)) or
`pe.pool2d`.

The channel-split conv2d (weight split [c, _, _, _]) runs one step per input channel, each a
sequence every PE waits through (the next step's owner needs its own slab sent before it):

    [pack (slab) on the owner column, when a column holds more than one channel]
    + issue (send) + issue (recv) + latency(hops to the row's far end) + slab wavelets + wake
    + the slab's halo phases (as above)
    + pack (the channel's filters) + pe.conv2d (n * ob * taps FMACs over the output plane)
    + wake (the owner's send wait)

`conv2d_estimate` prices either form from the layouts alone, so flame-to-mesh can compare
the forms (and grids) before it emits one.
"""

from __future__ import annotations

import math

import pyflame.passes.scratch as scratch
from pyflame.core import collectives
from pyflame.core.distribution import Distribution, HaloAxis, halo_axes
from pyflame.core.vector_costs import CostKind
from pyflame.dialects import mesh
from pyflame.dialects.mesh import dist_of
from pyflame.passes.cost_model.registry import Cost, CostContext, cost_rule
from pyflame.passes.plan_memory import aligned


def halo_cycles(op: mesh.Conv2dOp | mesh.Pool2dOp, ctx: CostContext) -> tuple[int, tuple, int]:
    """Cycles of the halo exchange, the window's NCHW shape and its scratch bytes per PE."""
    return block_halo_cycles(
        tuple(dist_of(op.input).block), op.axes(), ctx.elem_bytes(op.input), ctx
    )


def block_halo_cycles(
    block: tuple, axes: tuple[HaloAxis, HaloAxis], eb: int, ctx: CostContext
) -> tuple[int, tuple, int]:
    """`halo_cycles` of a tile `block` (NCHW) with element size `eb`."""
    shape: tuple = tuple(block)
    cycles = scratch_bytes = 0
    for phase in scratch.halo_phases(block, axes):
        window = phase.window
        strips = [n for n in (phase.from_prev, phase.from_next) if n]
        cycles += ctx.compute(CostKind.FILL, math.prod(window), elem_bytes=eb)
        for count in strips:
            cycles += ctx.compute(CostKind.PACK, math.prod(phase.slab(count))) + ctx.issue
        cycles += ctx.compute(CostKind.PACK, math.prod(shape))
        for count in strips:
            elems = math.prod(phase.slab(count))
            cycles += ctx.issue + ctx.latency(1) + ctx.stream(ctx.wavelets(elems, eb))
            cycles += ctx.wake + ctx.compute(CostKind.PACK, elems)
        if strips:
            cycles += ctx.wake
        scratch_bytes += eb * (
            math.prod(window) + 2 * sum(math.prod(phase.slab(n)) for n in strips)
        )
        shape = window
    return cycles, shape, scratch_bytes


@cost_rule(mesh.Conv2dOp)
def conv2d(op: mesh.Conv2dOp, ctx: CostContext) -> Cost:
    x, y, w = dist_of(op.input), dist_of(op.result), dist_of(op.weight)
    cost = conv2d_estimate(
        x,
        y,
        w,
        op.bias is not None,
        op.spatial(),
        op.groups.value.data,
        ctx.elem_bytes(op.input),
        ctx,
    )
    return Cost(
        cost.cycles,
        ctx.tile_bytes(op.result) + cost.sram_bytes,
        algorithm=cost.algorithm,
        detail=cost.detail,
    )


def conv2d_estimate(
    x: Distribution,
    y: Distribution,
    w: Distribution,
    bias: bool,
    spatial: tuple,
    groups: int,
    eb: int,
    ctx: CostContext,
) -> Cost:
    """Either form of mesh.conv2d from its layouts: cycles, scratch bytes per PE (beyond the
    operand and result tiles), the form's name."""
    kernel, stride, padding, dilation = spatial
    taps = kernel[0] * kernel[1]
    _, ob, ho, wo = y.block
    if w.split[:1] != ("c",):
        axes = halo_axes(x.shape, y.shape, x.grid, kernel, stride, padding, dilation)
        halo, (n, c, _, _), scratch_bytes = block_halo_cycles(tuple(x.block), axes, eb, ctx)
        count = n * ob * (c // groups) * taps
        compute = ctx.compute(CostKind.CONV2D, count, ho * wo, n * ob if bias else 0, elem_bytes=eb)
        return Cost(
            halo + compute,
            scratch_bytes,
            algorithm="halo + local",
            detail=f"halo {halo}, conv {compute} ({w.block[0]} filters)",
        )
    axes = halo_axes(x.shape, y.shape, (x.grid[0], 1), kernel, stride, padding, dilation)
    plan = scratch.ChannelSplitConv.of(tuple(x.block), axes, tuple(w.block))
    n, cb = x.block[0], x.block[1]
    # every channel's window, once
    halo, _, _ = block_halo_cycles(plan.slab, axes, eb, ctx)
    pack = ctx.compute(CostKind.PACK, math.prod(plan.slab)) if cb > 1 else 0
    windows = cb * (pack + halo)
    # the steps: step ch+1's multicast streams while step ch computes
    stream = ctx.latency(x.grid[1] - 1) + ctx.stream(ctx.wavelets(math.prod(plan.window), eb))
    filters = ctx.compute(CostKind.PACK, plan.filter_elems)
    fmacs = ctx.compute(CostKind.CONV2D, n * ob * taps, ho * wo, 0, elem_bytes=eb)
    work = filters + fmacs
    steps = x.shape[1]
    post = 2 * ctx.issue
    step = post + max(work, stream) + ctx.wake
    bias_adds = ctx.compute(CostKind.CONV2D, 0, ho * wo, n * ob, elem_bytes=eb) if bias else 0
    total = windows + post + stream + ctx.wake + (steps - 1) * step + work + bias_adds + ctx.wake
    return Cost(
        total if steps else 0,
        plan.scratch_bytes(eb, aligned),
        algorithm="channel-split",
        detail=(
            f"windows {windows}, {steps} steps of {step} (stream {stream}, conv {fmacs}; "
            f"{ob} filters per PE column)"
        ),
    )


@cost_rule(mesh.Conv2dWeightGradOp)
def conv2d_weight_grad(op: mesh.Conv2dWeightGradOp, ctx: CostContext) -> Cost:
    cost = weight_grad_estimate(
        dist_of(op.input),
        dist_of(op.grad),
        dist_of(op.result),
        op.spatial(),
        op.groups.value.data,
        ctx.elem_bytes(op.input),
        ctx,
    )
    return Cost(
        cost.cycles,
        ctx.tile_bytes(op.result) + cost.sram_bytes,
        algorithm=cost.algorithm,
        detail=cost.detail,
    )


def weight_grad_estimate(
    x: Distribution,
    dy: Distribution,
    partials: Distribution,
    spatial: tuple,
    groups: int,
    eb: int,
    ctx: CostContext,
    with_allreduce: bool = False,
) -> Cost:
    """Either form of mesh.conv2d_weight_grad from its layouts (cycles, scratch bytes per PE
    beyond the operand and result tiles); `with_allreduce` adds the mesh.allreduce of the
    partials that flame-to-mesh emits after it (for comparing forms and grids).

    spatial:        halo (as conv2d's) + O * C/groups * taps dot products over the PE's
                    (batch, rows, columns) of the grad block
    channel-split:  conv2d's channel-split steps, each computing ob * taps dot products and
                    unpacking them into the partial (ob * taps elements)
    """
    kernel, stride, padding, dilation = spatial
    taps = kernel[0] * kernel[1]
    n, ob, ho, wo = dy.block
    pixels = n * ho * wo
    channel_split = len(partials.shape) == 5
    if not channel_split:
        axes = halo_axes(x.shape, dy.shape, x.grid, kernel, stride, padding, dilation)
        halo, _, scratch_bytes = block_halo_cycles(tuple(x.block), axes, eb, ctx)
        dots = ctx.compute(
            CostKind.CONV2D_WEIGHT_GRAD, ob * (x.block[1] // groups) * taps, pixels, elem_bytes=eb
        )
        cycles, algorithm = halo + dots, "halo + local"
        detail = f"halo {halo}, dots {dots}"
    else:
        axes = halo_axes(x.shape, dy.shape, (x.grid[0], 1), kernel, stride, padding, dilation)
        plan = scratch.ChannelSplitConv.of(tuple(x.block), axes, (ob, 1, *kernel))
        cb = x.block[1]
        halo, _, _ = block_halo_cycles(plan.slab, axes, eb, ctx)
        pack = ctx.compute(CostKind.PACK, math.prod(plan.slab)) if cb > 1 else 0
        windows = cb * (pack + halo)
        stream = ctx.latency(x.grid[1] - 1) + ctx.stream(ctx.wavelets(math.prod(plan.window), eb))
        dots = ctx.compute(CostKind.CONV2D_WEIGHT_GRAD, ob * taps, pixels, elem_bytes=eb)
        work = dots + ctx.compute(CostKind.PACK, ob * taps)
        steps = x.shape[1]
        post = 2 * ctx.issue
        step = post + max(work, stream) + ctx.wake
        cycles = windows + post + stream + ctx.wake + (steps - 1) * step + work + ctx.wake
        cycles = cycles if steps else 0
        scratch_bytes = plan.scratch_bytes(eb, aligned)
        algorithm = "channel-split"
        detail = f"windows {windows}, {steps} steps of {step} (stream {stream}, dots {dots})"
    if with_allreduce:
        dims = tuple(d for d in ((0,) if channel_split else (0, 1)) if partials.parts(d) > 1)
        lines = collectives.reduced_lines(partials, dims)
        if lines:
            wavelets = ctx.wavelets(partials.local_elems, eb)
            chosen = collectives.choose(lines, wavelets, ctx.target, False)
            reduce = collectives.estimate(lines, chosen, wavelets, ctx.target, False)
            cycles += reduce
            detail += f", allreduce {reduce}"
    return Cost(cycles, scratch_bytes, algorithm=algorithm, detail=detail)


@cost_rule(mesh.Pool2dOp)
def pool2d(op: mesh.Pool2dOp, ctx: CostContext) -> Cost:
    halo, _, scratch_bytes = halo_cycles(op, ctx)
    y = dist_of(op.result)
    kernel = op.spatial()[0]
    outputs = y.local_elems
    compute = ctx.compute_on(
        CostKind.POOL2D, op.result, kernel[0] * kernel[1], outputs, op.kind.data == "avg"
    )
    return Cost(
        halo + compute,
        ctx.tile_bytes(op.result) + scratch_bytes,
        algorithm="halo + local",
        detail=f"halo {halo}, pool {compute}",
    )
