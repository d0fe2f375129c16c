"""choose-collectives: the algorithm of every mesh.allreduce / mesh.reduce, chosen for the whole
program within the target's routing colors.

flame-to-mesh gives each collective the algorithm with the fewest estimated cycles on its own
(`collectives.choose`). On its own is not the whole story: a collective's channels are one per
route configuration, shared by every later collective with the same lines, so they stay live
from the first such op to the last, and ktree's levels (several channels each) of the row and
column reductions of a training step, with SUMMA's channels, can need more colors than the
target has (`ColorAllocationError`); and the more channels a program holds, the more route
switches allocate-colors orders with barriers (about a thousand cycles each on 64x64 PEs), which
the per-op costs do not see.

So this pass compares a few whole-program assignments (`candidates`: the per-op choice, the
per-op choice among the algorithms that need fewer channels, every algorithm everywhere) by
their estimated cycles: the cost model's critical path (passes/cost_model) plus the barriers,
counted on a copy lowered through lower-mesh-to-pe and allocate-colors, whose allocation also
says whether the assignment fits the colors at all (the real passes: the real verdict). It
lowers the per-op choice (kept at once when it fits without barriers), then chain everywhere
(the fewest colors: a bound, and what fits if anything does), then, one at a time, the
candidate with the fewest *predicted* cycles (its estimate plus the barriers of a lowered one
holding no more channels: `collective_colors`, counted from lower-mesh-to-pe's own route
configurations), until no prediction beats the best or `MAX_LOWERED` copies. If nothing fits,
chain everywhere's `ColorAllocationError` (naming the user's line, the PEs and the colors in
use) is the program's. The assignment kept is written on the ops (`algorithm`); an op whose
algorithm differs from its per-op choice says why in `pf.why` (pf.explain shows it).

    mesh.allreduce sum %x dims [1] algorithm ktree ...   (per-op choice, colors run out)
becomes
    mesh.allreduce sum %x dims [1] algorithm tree {pf.why = "choose-collectives: ..."} ...
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass

from pyflame.core import collectives
from pyflame.core.collectives import ALGORITHMS, CollectiveAlgorithm
from pyflame.core.errors import ColorAllocationError
from pyflame.core.target import Target
from pyflame.dialects import mesh
from pyflame.dialects.mesh import dist_of, elem_of
from pyflame.passes.pe_lowering.collectives import channel_configs
from pyflame.passes.pe_lowering.state import anchor_of

#: lowered copies at most per program (each costs about a lowering of the program)
MAX_LOWERED = 5

#: what a candidate is lowered through: the passes whose outcome depends on the channels
#: (fuse-elementwise moves only elementwise ops, never a channel op: the same colors and
#: barriers without it)
DRY_RUN = "lower-mesh-to-pe,allocate-colors"

#: algorithms by the channels their plans hold (most first): the candidates leave them out in
#: this order
BY_CHANNELS = (
    CollectiveAlgorithm.RSAG,
    CollectiveAlgorithm.KTREE,
    CollectiveAlgorithm.TREE3,
    CollectiveAlgorithm.TREE,
    CollectiveAlgorithm.TWO_WAY,
    CollectiveAlgorithm.TWO_CHAINS,
)

Collective = mesh.AllReduceOp | mesh.ReduceOp
Assignment = tuple[CollectiveAlgorithm, ...]


@dataclass(frozen=True)
class Outcome:
    """A lowered candidate: its estimated cycles (critical path + barriers) and barriers, or
    the error that says it does not fit the colors."""

    assignment: Assignment
    estimate: int
    cycles: int = 0
    barriers: int = 0
    error: ColorAllocationError | None = None


def collective_ops(module: ModuleOp) -> list[Collective]:
    return [op for op in module.walk() if isinstance(op, Collective)]


def per_op_choice(
    op: Collective, target: Target, allowed: tuple[CollectiveAlgorithm, ...]
) -> CollectiveAlgorithm:
    """The algorithm of `allowed` with the fewest estimated cycles for `op` alone."""
    src = dist_of(op.input)
    lines = collectives.reduced_lines(src, tuple(op.dims.get_values()))
    wavelets = collectives.wavelets_per_pe(src, getattr(elem_of(op.input), "bitwidth", 32))
    to_root = isinstance(op, mesh.ReduceOp)
    return min(allowed, key=lambda a: collectives.estimate(lines, a, wavelets, target, to_root))


def candidates(ops: list[Collective], target: Target) -> list[Assignment]:
    """The assignments compared: the per-op choice among all algorithms, then among those
    left after leaving out the most channel-hungry ones in turn (`BY_CHANNELS`), then each
    algorithm everywhere (two_way and rsag only where a per-op choice took them: they win on
    few lines, and each candidate is a lowered copy); duplicates dropped, first kept."""
    out: list[Assignment] = []
    allowed = ALGORITHMS
    for left_out in (None, *BY_CHANNELS):
        allowed = tuple(a for a in allowed if a != left_out)
        out.append(tuple(per_op_choice(op, target, allowed) for op in ops))
    chosen = {a for assignment in out for a in assignment}
    everywhere = [a for a in ALGORITHMS if a not in collectives.SPLIT or a in chosen]
    out += [tuple(a for _ in ops) for a in everywhere]
    return list(dict.fromkeys(out))


def _assign(ops: list[Collective], assignment: Assignment) -> None:
    for op, algorithm in zip(ops, assignment, strict=True):
        op.properties["algorithm"] = mesh.CollectiveAlgorithmAttr(algorithm)


def _main(module: ModuleOp) -> func.FuncOp | None:
    for op in module.ops:
        if isinstance(op, func.FuncOp) and op.sym_name.data == "main":
            return op
    return None


def collective_colors(ops: list[Collective], assignment: Assignment, target: Target) -> int:
    """The most channels the collectives alone hold at once under `assignment`, as
    allocate-colors will see them: one per (anchor, route configuration) (lower-mesh-to-pe's
    `channel_configs`), live from the first op that opens it to the last, all of an op's
    counted at once (an upper bound inside one op). A candidate needing at least as many as
    one that did not fit is not lowered."""
    index = {op: i for i, op in enumerate(ops)}
    span: dict[tuple, tuple[int, int]] = {}
    for op, algorithm in zip(ops, assignment, strict=True):
        for key in channel_keys(op, algorithm, target):
            first, _ = span.get(key, (index[op], index[op]))
            span[key] = (first, index[op])
    return max(
        (sum(1 for a, b in span.values() if a <= i <= b) for i in range(len(ops))), default=0
    )


def channel_keys(op: Collective, algorithm: CollectiveAlgorithm, target: Target) -> set[tuple]:
    dists = [
        v.type.dist for v in (*op.operands, *op.results) if isinstance(v.type, mesh.MeshTensorType)
    ]
    anchor = anchor_of(dists)
    return {(anchor, config) for config in channel_configs(op, algorithm, target)}


def program_estimate(module: ModuleOp) -> int:
    """The cost model's critical path of the module (no barriers)."""
    # the cost model needs numpy; loading the passes does not (pyflame-opt's start-up)
    from pyflame.passes.cost_model.critical_path import critical_path_cycles
    from pyflame.passes.cost_model.program import estimate

    return critical_path_cycles(estimate(module))


def lower_copy(
    ctx: Context, module: ModuleOp, assignment: Assignment, est: int | None = None
) -> Outcome:
    """Lower a copy of `module` with `assignment` through `DRY_RUN`; its barriers or error.
    `est`: the assignment's estimate, if known (computed on the copy otherwise)."""
    from xdsl.passes import PassPipeline

    from pyflame.passes import all_passes
    from pyflame.passes.cost_model.barriers import barrier_cycles, count_barriers
    from pyflame.passes.cost_model.registry import CostContext

    copy = module.clone()
    _assign(collective_ops(copy), assignment)
    if est is None:
        est = program_estimate(copy)
    try:
        PassPipeline.parse_spec(all_passes(), DRY_RUN).apply(ctx, copy)
    except ColorAllocationError as error:
        return Outcome(assignment, est, error=error)
    barriers, rows, cols = count_barriers(copy)
    each = barrier_cycles(CostContext(Target.of_module(module)), rows, cols) if barriers else 0
    return Outcome(assignment, est, est + barriers * each, barriers)


def choose(ctx: Context, module: ModuleOp) -> list[Outcome]:
    """Set the program's assignment (see the module's doc); returns the candidates lowered,
    in the order they were (the kept one is the fitting one with the fewest cycles)."""
    ops = collective_ops(module)
    if not ops or _main(module) is None:
        return []
    target = Target.of_module(module)
    options = candidates(ops, target)
    per_op = options[0]
    if len(options) == 1:
        _assign(ops, per_op)
        return []
    # the per-op choice first, without estimating anything: fitting without barriers it is
    # the cheapest (each op at its least), and most programs stop here
    first = lower_copy(ctx, module, per_op, est=0)
    if first.error is None and first.barriers == 0:
        _assign(ops, per_op)
        return [first]
    estimates = {}
    for assignment in options:
        _assign(ops, assignment)
        estimates[assignment] = program_estimate(module)
    colors = {a: collective_colors(ops, a, target) for a in options}
    fewest_colors = tuple(CollectiveAlgorithm.CHAIN for _ in ops)
    lowered: list[Outcome] = []
    best: Outcome | None = None

    def predicted(assignment: Assignment) -> float:
        """The estimate plus the barriers of the costliest fitting candidate lowered so far
        that held no more colors (more channels held, at least as many switches); infinite
        when it needs at least as many colors as one that did not fit."""
        if any(colors[assignment] >= colors[o.assignment] for o in lowered if o.error):
            return float("inf")
        fewer = [
            o.cycles - o.estimate
            for o in lowered
            if not o.error and colors[o.assignment] <= colors[assignment]
        ]
        return estimates[assignment] + max(fewer, default=0)

    # the per-op choice, then the fewest colors (a bound, and what fits when anything does),
    # then the others by predicted cycles, re-predicted after each lowering
    waiting = [a for a in options if a not in (per_op, fewest_colors)]
    barrier_cost = first.cycles - first.estimate
    first = Outcome(
        per_op, estimates[per_op], estimates[per_op] + barrier_cost, first.barriers, first.error
    )
    lowered.append(first)
    if per_op != fewest_colors and (first.error or estimates[fewest_colors] < first.cycles):
        lowered.append(lower_copy(ctx, module, fewest_colors, estimates[fewest_colors]))
    while len(lowered) < MAX_LOWERED and waiting:
        fitting = [o for o in lowered if not o.error]
        best = min(fitting, key=lambda o: o.cycles) if fitting else None
        assignment = min(waiting, key=lambda a: (predicted(a), options.index(a)))
        waiting.remove(assignment)
        if predicted(assignment) >= (best.cycles if best else float("inf")):
            break  # sorted: no other can beat the best
        lowered.append(lower_copy(ctx, module, assignment, estimates[assignment]))
    fitting = [o for o in lowered if not o.error]
    best = min(fitting, key=lambda o: o.cycles) if fitting else None
    if best is None:
        # the fewest colors' error: what the program needs at least
        error = next(o.error for o in lowered if o.assignment == fewest_colors)
        assert error is not None
        raise ColorAllocationError(
            f"{error} (choose-collectives: no assignment of the collectives' algorithms fits, "
            "chain everywhere included)"
        )
    _assign(ops, best.assignment)
    _explain(ops, per_op, best, lowered, target)
    return lowered


def _explain(
    ops: list[Collective],
    per_op: Assignment,
    best: Outcome,
    lowered: list[Outcome],
    target: Target,
) -> None:
    """`pf.why` on every op whose algorithm is not its per-op choice."""
    from pyflame.passes.cost_model.program import add_why

    first = next((o for o in lowered if o.assignment == per_op), None)
    if first is None:
        reason = "costs more over the whole program"
    elif first.error is not None:
        reason = f"needs more than {target.name}'s {target.num_colors} routing colors"
    else:
        reason = (
            f"{first.cycles:,} estimated cycles over the program ({first.barriers} barriers), "
            f"against {best.cycles:,} ({best.barriers} barriers)"
        )
    for op, mine, alone in zip(ops, best.assignment, per_op, strict=True):
        if mine == alone:
            continue
        add_why(
            op,
            "choose-collectives",
            f"{mine}, not {alone} (its per-op choice): the per-op choice {reason}",
        )


class ChooseCollectivesPass(ModulePass):
    """Choose the collectives' algorithms for the whole program within the routing colors."""

    name = "choose-collectives"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        choose(ctx, op)
