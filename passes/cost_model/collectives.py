"""Costs of the collectives: mesh.allreduce as today's pipelined chain (lower-mesh-to-pe's
`chain_allreduce`), one chain per reduced mesh axis, columns of the grid first.

Along an axis of n PEs with a vector of B wavelets per PE, the chain is: the first line sends
(issue, then B cycles of stream); each of the n - 2 middle lines receives, combines and forwards
(one hop, its ramps and `ce_forward_cycles` of compute-engine time per stage); the last line
receives the total (its combine streams B elements) and wakes; then it multicasts the total
back (issue, n - 1 hops, B cycles) and the receivers wake:

    chain(n, B) = issue + (n - 1) * latency(1 hop) + (n - 2) * ce_forward + combine(B) + wake
                + issue + latency(n - 1 hops) + B + wake

(ALGORITHMS.md section 4: end chain then broadcast, 2B + (s + 1) p.) The chains of the two axes
run one after the other, and the op first copies its operand when a later op still reads it.

Other collective algorithms (tree, two chains meeting in the middle, reduce to one PE) register
their own rules here under their algorithm's name.
"""

from __future__ import annotations

from pyflame.core import collectives, reductions
from pyflame.core.vector_costs import CostKind
from pyflame.dialects import mesh
from pyflame.dialects.mesh import dist_of
from pyflame.passes.cost_model.compute import copy_if_read_later
from pyflame.passes.cost_model.registry import Cost, CostContext, cost_rule


def chain_allreduce_cycles(
    ctx: CostContext, n: int, elems: int, elem_bytes: int, kind: str = "sum"
) -> int:
    """Cycles of one pipelined chain allreduce of `elems` elements over a line of `n` PEs."""
    if n <= 1:
        return 0
    t = ctx.target
    wavelets = ctx.wavelets(elems, elem_bytes)
    flops = reductions.KINDS[kind].flops
    combine = ctx.compute(CostKind.RECV_COMBINE, elems, flops, elem_bytes=elem_bytes)
    absorb = max(ctx.stream(wavelets), combine - ctx.issue)
    reduce = (
        ctx.issue + (n - 1) * ctx.latency(1) + (n - 2) * t.ce_forward_cycles + absorb + ctx.wake
    )
    back = ctx.issue + ctx.latency(n - 1) + ctx.stream(wavelets) + ctx.wake
    return reduce + back


@cost_rule(mesh.AllReduceOp)
@cost_rule(mesh.AllReduceOp, "chain")  # the name an `algorithm` property would give today's
def allreduce(op: mesh.AllReduceOp, ctx: CostContext) -> Cost:
    src = dist_of(op.input)
    axes = "".join(src.split[d] for d in op.dims.get_values())
    elems, eb = src.local_elems, ctx.elem_bytes(op.input)
    copy = copy_if_read_later(op, ctx)
    cycles, parts = copy, []
    for along, n in (("c", src.grid[1]), ("r", src.grid[0])):
        if along in axes and n > 1:
            cycles += chain_allreduce_cycles(ctx, n, elems, eb, op.kind.data)
            parts.append(f"chain of {n} along {'rows' if along == 'c' else 'columns'}")
    return Cost(
        cycles,
        ctx.tile_bytes(op.input) if copy else 0,
        algorithm="chain",
        detail=f"{elems} elements; " + ", ".join(parts) if parts else "nothing to reduce",
    )


def _by_plan(op: mesh.AllReduceOp | mesh.ReduceOp, ctx: CostContext, algorithm: str) -> Cost:
    """mesh.allreduce / mesh.reduce with a line-plan algorithm: pyflame.core.collectives'
    estimate (per phase the slowest chain's B + stages, extra streams a root absorbs, one wake
    per phase; a move to PE 0; for an allreduce the multicast back), after the copy."""
    src = dist_of(op.input)
    dims = tuple(op.dims.get_values())
    lines = collectives.reduced_lines(src, dims)
    wavelets = ctx.wavelets(src.local_elems, ctx.elem_bytes(op.input))
    to_root = isinstance(op, mesh.ReduceOp)
    copy = copy_if_read_later(op, ctx)
    cycles = copy + collectives.estimate(lines, algorithm, wavelets, ctx.target, to_root)
    return Cost(
        cycles,
        ctx.tile_bytes(op.input) if copy else 0,
        algorithm=algorithm,
        detail=f"{src.local_elems} elements; {algorithm} over lines of {list(lines)}"
        + ("" if to_root else ", multicast back"),
    )


def _register(op_class: type, algorithm: str) -> None:
    cost_rule(op_class, algorithm)(lambda op, ctx: _by_plan(op, ctx, algorithm))


for _algorithm in collectives.ALGORITHMS:
    if _algorithm != collectives.CollectiveAlgorithm.CHAIN:
        _register(mesh.AllReduceOp, _algorithm.value)
    _register(mesh.ReduceOp, _algorithm.value)
cost_rule(mesh.ReduceOp)(
    lambda op, ctx: _by_plan(
        op,
        ctx,
        collectives.choose(
            collectives.reduced_lines(dist_of(op.input), tuple(op.dims.get_values())),
            ctx.wavelets(dist_of(op.input).local_elems, ctx.elem_bytes(op.input)),
            ctx.target,
            True,
        ),
    )
)
