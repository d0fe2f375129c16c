"""Costs of the collectives: mesh.allreduce and mesh.reduce with every line-plan algorithm of
pyflame/core/collectives.py (chain, two_chains, tree, tree3, ktree), and without `algorithm`
the one lower-mesh-to-pe chooses.

The estimate is `collectives.estimate`: each reduced mesh axis's line plan followed stage by
stage with the simulator's timing (pyflame/core/line_search.py: a chain's first position sends
after an issue, each middle one forwards `2 ramp + hops + ce_forward` after the head reaches
it, once its own partial is ready; the last keeps the total after its B-wavelet combine and a
task wake-up), the axes one after the other, then for an allreduce one multicast back from the
roots; plus the copy of the operand when a later op still reads it. On the collectives
benchmark (benchmarks/collectives.py) it is cycle-exact for every algorithm.

`chain_allreduce_cycles` is the closed form for one line and the chain (ALGORITHMS.md section 4:
end chain then broadcast, 2B + (s + 1) p):

    chain(n, B) = issue + (n - 1) * latency(1 hop) + (n - 2) * ce_forward + combine(B) + wake
                + issue + latency(n - 1 hops) + B + wake
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


def _by_plan(op: mesh.AllReduceOp | mesh.ReduceOp, ctx: CostContext, algorithm: str) -> Cost:
    """mesh.allreduce / mesh.reduce with a line-plan algorithm: pyflame.core.collectives'
    estimate (every line's plan stage by stage, a move to PE 0 where the plan has one, for an
    allreduce the multicast back), after the copy."""
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


def _chosen(op: mesh.AllReduceOp | mesh.ReduceOp, ctx: CostContext) -> Cost:
    """An op without `algorithm`: the one lower-mesh-to-pe would choose."""
    src = dist_of(op.input)
    return _by_plan(
        op,
        ctx,
        collectives.choose(
            collectives.reduced_lines(src, tuple(op.dims.get_values())),
            ctx.wavelets(src.local_elems, ctx.elem_bytes(op.input)),
            ctx.target,
            isinstance(op, mesh.ReduceOp),
        ),
    )


for _op_class in (mesh.AllReduceOp, mesh.ReduceOp):
    cost_rule(_op_class)(_chosen)
    for _algorithm in collectives.ALGORITHMS:
        _register(_op_class, _algorithm.value)


def _group(op: mesh.AllReduceGroupOp, ctx: CostContext, algorithm: str | None = None) -> Cost:
    """mesh.allreduce_group: the copy into the packed buffer of every input its producer
    does not make there (pe_lowering/collectives.py `plan_windows`), one reduction of the
    packed buffer (`collectives.estimate` on its B); the results are windows of it, which is
    the SRAM it adds."""
    # the lowering's own rule (the passes' layer: imported here, as matmul.py's plan_for)
    from pyflame.passes.pe_lowering.collectives import made_in_place

    lines = op.reduced_lines
    wavelets = op.packed_wavelets
    chosen = algorithm or collectives.choose(lines, wavelets, ctx.target, False, split=False)
    sizes = op.member_elems
    copied = [n for v, n in zip(op.inputs, sizes, strict=True) if not made_in_place(v)]
    copies = sum(ctx.compute_on(CostKind.PACK, op.inputs[0], n) for n in copied)
    reduce = collectives.estimate(lines, chosen, wavelets, ctx.target, False, op.plan_b)
    return Cost(
        copies + reduce,
        op.packed_elems * ctx.elem_bytes(op.inputs[0]),
        algorithm=str(chosen),
        detail=f"{len(sizes)} allreduces packed: {sum(sizes)} elements; {chosen} over lines of "
        f"{list(lines)}, multicast back",
    )


def _register_group(algorithm: str) -> None:
    cost_rule(mesh.AllReduceGroupOp, algorithm)(lambda op, ctx: _group(op, ctx, algorithm))


cost_rule(mesh.AllReduceGroupOp)(_group)
for _algorithm in collectives.ALGORITHMS:
    if _algorithm not in collectives.SPLIT:
        _register_group(_algorithm.value)
