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
"""

from __future__ import annotations

import math

import pyflame.passes.scratch as scratch
from pyflame.core.vector_costs import CostKind
from pyflame.dialects import mesh
from pyflame.dialects.mesh import dist_of
from pyflame.passes.cost_model.registry import Cost, CostContext, cost_rule


def halo_cycles(op: mesh.Conv2dOp | mesh.Pool2dOp, ctx: CostContext) -> tuple[int, tuple, int]:
    """Cycles of the halo exchange, the window's NCHW shape and its scratch bytes per PE."""
    x = dist_of(op.input)
    eb = ctx.elem_bytes(op.input)
    shape: tuple = tuple(x.block)
    cycles = scratch_bytes = 0
    for phase in scratch.halo_phases(x.block, op.axes()):
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
    halo, (n, c, _, _), scratch_bytes = halo_cycles(op, ctx)
    y, w = dist_of(op.result), dist_of(op.weight)
    _, o, ho, wo = y.block
    kernel = op.spatial()[0]
    groups = op.groups.value.data
    taps = kernel[0] * kernel[1]
    count = n * o * (c // groups) * taps
    bias = n * o if op.bias is not None else 0
    compute = ctx.compute_on(CostKind.CONV2D, op.result, count, ho * wo, bias)
    return Cost(
        halo + compute,
        ctx.tile_bytes(op.result) + scratch_bytes,
        algorithm="halo + local",
        detail=f"halo {halo}, conv {compute} ({w.block[0]} filters)",
    )


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
