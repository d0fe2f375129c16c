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

import dataclasses
import math

import pyflame.passes.scratch as scratch
from pyflame.core import collectives
from pyflame.core.conv_window import Spatial
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
            cycles += (
                ctx.compute(CostKind.PACK, math.prod(phase.slab(count)), elem_bytes=eb) + ctx.issue
            )
        cycles += ctx.compute(CostKind.PACK, math.prod(shape), elem_bytes=eb)
        for count in strips:
            elems = math.prod(phase.slab(count))
            cycles += ctx.issue + ctx.latency(1) + ctx.stream(ctx.wavelets(elems, eb))
            cycles += ctx.wake + ctx.compute(CostKind.PACK, elems, elem_bytes=eb)
        if strips:
            cycles += ctx.wake
        scratch_bytes += eb * (
            math.prod(window) + 2 * sum(math.prod(phase.slab(n)) for n in strips)
        )
        shape = window
    return cycles, shape, scratch_bytes


def _with_result_tile(
    cost: Cost, op: mesh.Conv2dOp | mesh.Conv2dWeightGradOp, ctx: CostContext
) -> Cost:
    """An estimate's cost as the op's: its result tile added to the scratch bytes."""
    return dataclasses.replace(cost, sram_bytes=ctx.tile_bytes(op.result) + cost.sram_bytes)


def _window_axes(
    x: Distribution, out_shape: tuple, spatial: Spatial, channel_split: bool
) -> tuple[HaloAxis, HaloAxis]:
    """The H and W halo axes of x's windows for `out_shape`'s positions; in the channel-split
    form W is whole on every PE (one part)."""
    grid = (x.grid[0], 1) if channel_split else x.grid
    return halo_axes(x.shape, out_shape, grid, *spatial)


def _channel_steps(
    x: Distribution,
    axes: tuple[HaloAxis, HaloAxis],
    plan: scratch.ChannelSplitConv,
    work: int,
    eb: int,
    ctx: CostContext,
) -> tuple[int, int, int, int]:
    """The channel-split form's sequence (the module docstring's): every input channel's window
    once, then one step per input channel whose `work` overlaps the next channel's multicast.
    (cycles without the step's extras, windows, one step, its stream); 0 cycles without
    input channels."""
    halo, _, _ = block_halo_cycles(plan.slab, axes, eb, ctx)
    pack = ctx.compute(CostKind.PACK, math.prod(plan.slab), elem_bytes=eb) if x.block[1] > 1 else 0
    windows = x.block[1] * (pack + halo)
    # the steps: step ch+1's multicast streams while step ch computes
    stream = ctx.latency(x.grid[1] - 1) + ctx.stream(ctx.wavelets(math.prod(plan.window), eb))
    steps = x.shape[1]
    post = 2 * ctx.issue
    step = post + max(work, stream) + ctx.wake
    cycles = windows + post + stream + ctx.wake + (steps - 1) * step + work + ctx.wake
    return (cycles if steps else 0), windows, step, stream


@cost_rule(mesh.Conv2dOp)
def conv2d(op: mesh.Conv2dOp, ctx: CostContext) -> Cost:
    x, y, w = dist_of(op.input), dist_of(op.result), dist_of(op.weight)
    eb = ctx.elem_bytes(op.input)
    cost = conv2d_estimate(x, y, w, op.bias is not None, op.spatial(), op.group_count, eb, ctx)
    return _with_result_tile(cost, op, ctx)


def conv2d_estimate(
    x: Distribution,
    y: Distribution,
    w: Distribution,
    bias: bool,
    spatial: Spatial,
    groups: int,
    eb: int,
    ctx: CostContext,
) -> Cost:
    """Either form of mesh.conv2d from its layouts: cycles, scratch bytes per PE (beyond the
    operand and result tiles), the form's name."""
    kernel = spatial[0]
    taps = kernel[0] * kernel[1]
    _, ob, ho, wo = y.block
    channel_split = w.split[:1] == ("c",)
    axes = _window_axes(x, y.shape, spatial, channel_split)
    if not channel_split:
        halo, (n, c, _, _), scratch_bytes = block_halo_cycles(tuple(x.block), axes, eb, ctx)
        count = n * ob * (c // groups) * taps
        compute = ctx.compute(CostKind.CONV2D, count, ho * wo, n * ob if bias else 0, elem_bytes=eb)
        return Cost(
            halo + compute,
            scratch_bytes,
            algorithm="halo + local",
            detail=f"halo {halo}, conv {compute} ({w.block[0]} filters)",
        )
    plan = scratch.ChannelSplitConv.of(tuple(x.block), axes, tuple(w.block))
    n = x.block[0]
    filters = ctx.compute(CostKind.PACK, plan.filter_elems, elem_bytes=eb)
    # the steps add into the output block: a half conv's in float32 (fp16 FMAC lanes, the
    # accumulator's 4-byte streams)
    acc_eb, half = (4, True) if eb == 2 else (eb, False)
    fmacs = ctx.compute(CostKind.CONV2D, n * ob * taps, ho * wo, 0, elem_bytes=acc_eb, half=half)
    cycles, windows, step, stream = _channel_steps(x, axes, plan, filters + fmacs, eb, ctx)
    steps = x.shape[1]
    if bias and steps:
        cycles += ctx.compute(CostKind.CONV2D, 0, ho * wo, n * ob, elem_bytes=acc_eb, half=half)
    return Cost(
        cycles,
        plan.scratch_bytes(eb, aligned),
        algorithm="channel-split",
        detail=(
            f"windows {windows}, {steps} steps of {step} (stream {stream}, conv {fmacs}; "
            f"{ob} filters per PE column)"
        ),
    )


@cost_rule(mesh.Conv2dWeightGradOp)
def conv2d_weight_grad(op: mesh.Conv2dWeightGradOp, ctx: CostContext) -> Cost:
    x, dy, partials = dist_of(op.input), dist_of(op.grad), dist_of(op.result)
    eb = ctx.elem_bytes(op.input)
    cost = weight_grad_estimate(x, dy, partials, op.spatial(), op.group_count, eb, ctx)
    return _with_result_tile(cost, op, ctx)


def weight_grad_estimate(
    x: Distribution,
    dy: Distribution,
    partials: Distribution,
    spatial: Spatial,
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
    kernel = spatial[0]
    taps = kernel[0] * kernel[1]
    n, ob, ho, wo = dy.block
    pixels = n * ho * wo
    channel_split = len(partials.shape) == 5
    axes = _window_axes(x, dy.shape, spatial, channel_split)
    if not channel_split:
        halo, _, scratch_bytes = block_halo_cycles(tuple(x.block), axes, eb, ctx)
        dots = ctx.compute(
            CostKind.CONV2D_WEIGHT_GRAD, ob * (x.block[1] // groups) * taps, pixels, elem_bytes=eb
        )
        cycles, algorithm = halo + dots, "halo + local"
        detail = f"halo {halo}, dots {dots}"
    else:
        plan = scratch.ChannelSplitConv.of(tuple(x.block), axes, (ob, 1, *kernel))
        dots = ctx.compute(CostKind.CONV2D_WEIGHT_GRAD, ob * taps, pixels, elem_bytes=eb)
        work = dots + ctx.compute(CostKind.PACK, ob * taps)  # the taps into the partial
        cycles, windows, step, stream = _channel_steps(x, axes, plan, work, eb, ctx)
        steps = x.shape[1]
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
