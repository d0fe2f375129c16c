"""combine-collectives: independent mesh.allreduce ops of one kind over the same mesh axes of
one grid become one mesh.allreduce_group, where the cost model says the program gets faster.

Every allreduce pays its line plan's stages (a latency of a few hundred cycles on a 64-PE line)
however short its vector; a training step's bias and weight gradients, or a loss's sum and its
count of targets, are short vectors summed over the same PE rows one after the other. Packed
into one buffer they pay the stages once (StableHLO's variadic all_reduce, XLA's all-reduce
combiner): the packed vector is B1 + B2 + ... wavelets, one message per stage.

A group's members have the same reduction kind, element type, grid and origin, reduced mesh
axes and algorithm (choose-collectives' choice: this pass runs after it, at the start of
mesh-to-pe), and none depends on another's result. Each value is then combined over the same
PEs in the same order as by its own allreduce, so the results are bit for bit the same. That
needs the packed buffer's line plans to be the members' own: the fixed plans do not depend on
B; ktree's do, so a ktree group is made only of members with one tree, which the packed
buffer keeps (`plan_wavelets`: the members' B); the split algorithms (two_way, rsag) halve the
packed buffer, not each member: they are never grouped.

The group goes right after its latest operand is made; the ops that read an earlier member's
result before that point move after the group with their users (only tile-local ops, which
hold no channel: the routing colors and barriers do not change). A group is kept only if the
cost model's critical path of the program (passes/cost_model) drops with it: it delays the
early members' users, costs a copy of every tile in and out, and saves all but one plan's
stages. Members are added greedily in program order, each kept if it lowers the estimate.

    %s = mesh.allreduce sum %p dims [0] algorithm tree : !mesh.tensor<64x256xf32 on 64x64 split [r, c]> -> ...
    %u = mesh.binary mul %k, %s ...
    %t = mesh.allreduce sum %q dims [0] algorithm tree : !mesh.tensor<64x10xf32 on 64x64 split [r, _]> -> ...
becomes
    %s, %t = mesh.allreduce_group sum %p, %q dims [array<i64: 0>, array<i64: 0>] algorithm tree
        {pf.why = "combine-collectives: ..."} : (...) -> (...)
    %u = mesh.binary mul %k, %s ...
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Block, Operation
from xdsl.passes import ModulePass

from pyflame.core import collectives
from pyflame.core.collectives import CollectiveAlgorithm
from pyflame.core.target import Target
from pyflame.dialects import mesh
from pyflame.dialects.mesh import dist_of, elem_of

#: ops that may move after a group (they read an early member's result): tile-local, so they
#: hold no routing channel and moving them changes no colors or barriers
MOVABLE = (
    mesh.UnaryOp,
    mesh.BinaryOp,
    mesh.SelectOp,
    mesh.ConvertOp,
    mesh.MaskPadOp,
    mesh.LocalReduceOp,
    mesh.TransposeOp,
    mesh.BroadcastOp,
    mesh.ReshapeOp,
)

#: the largest packed buffer per PE: the tile copies in and out grow with it and the saving
#: (one plan's stages) does not, so the estimate refuses long vectors anyway (a 64-PE line's
#: tree stages are worth ~170 cycles); the cap bounds the SRAM a group adds (the packed
#: buffer and the results) where allocate-sram, later, could not fit it
MAX_PACKED_BYTES = 2048

#: trial rewrites (each a copy of the program estimated) at most per program
MAX_TRIALS = 48


@dataclass(frozen=True)
class Member:
    """An allreduce that may join a group, with the facts a group's members share."""

    op: mesh.AllReduceOp
    algorithm: CollectiveAlgorithm
    key: tuple
    wavelets: int

    @property
    def bytes(self) -> int:
        return dist_of(self.op.input).local_elems * elem_bytes(self.op)


def elem_bytes(op: mesh.AllReduceOp) -> int:
    return max(1, getattr(elem_of(op.input), "bitwidth", 32) // 8)


def member_of(op: Operation, target: Target) -> Member | None:
    """`op` as a possible member, or None: not an allreduce, nothing to combine across (the
    reduced axes have one PE), or a split algorithm."""
    if not isinstance(op, mesh.AllReduceOp):
        return None
    src = dist_of(op.input)
    dims = tuple(op.dims.get_values())
    lines = collectives.reduced_lines(src, dims)
    if not lines:
        return None
    wavelets = collectives.wavelets_per_pe(src, getattr(elem_of(op.input), "bitwidth", 32))
    algorithm = (
        op.algorithm.data
        if op.algorithm is not None
        else collectives.choose(lines, wavelets, target, to_root=False)
    )
    if algorithm in collectives.SPLIT:
        return None
    key = (op.kind.data, src.grid, src.origin, mesh.reduced_axes(src, dims), elem_of(op.input))
    return Member(op, algorithm, (*key, algorithm), wavelets)


def plan_b(members: Sequence[Member], target: Target) -> tuple[bool, int | None]:
    """(whether the members can share one reduction, the B its line plans must be made for):
    each value is summed as by its own allreduce only when every member has the same line
    plans; they are then the packed buffer's too (None: no B to pin), except for ktree, whose
    trees depend on B: its packed buffer keeps the members' (their B is pinned,
    mesh.allreduce_group's `plan_wavelets`)."""
    algorithm = members[0].algorithm
    src = dist_of(members[0].op.input)
    lines = collectives.reduced_lines(src, tuple(members[0].op.dims.get_values()))

    def plans(wavelets: int) -> list[collectives.LinePlan]:
        return [collectives.plan_for(n, algorithm, False, wavelets, target) for n in lines]

    own = plans(members[0].wavelets)
    if any(plans(m.wavelets) != own for m in members[1:]):
        return False, None
    return True, None if plans(packed_wavelets(members)) == own else members[0].wavelets


def packed_wavelets(members: Sequence[Member]) -> int:
    bits = 8 * elem_bytes(members[0].op)
    return max(1, -(-sum(dist_of(m.op.input).local_elems for m in members) * bits // 32))


# --------------------------------------------------------------------------- the rewrite


def ancestors(op: Operation, block: Block) -> set[Operation]:
    """The ops of `block` whose results `op` reads, directly or through others."""
    seen: set[Operation] = set()
    todo = [op]
    while todo:
        for v in todo.pop().operands:
            owner = v.owner
            if isinstance(owner, Operation) and owner.parent is block and owner not in seen:
                seen.add(owner)
                todo.append(owner)
    return seen


def users(ops: Sequence[Operation]) -> set[Operation]:
    """The ops that read the results of `ops`, directly or through others."""
    seen: set[Operation] = set()
    todo = list(ops)
    while todo:
        for result in todo.pop().results:
            for use in result.uses:
                if use.operation not in seen:
                    seen.add(use.operation)
                    todo.append(use.operation)
    return seen


def independent(ops: Sequence[Operation], block: Block) -> bool:
    """Whether no op of `ops` reads another's result, directly or through others."""
    members = set(ops)
    return all(not (ancestors(op, block) & members) for op in ops)


def combine(
    block: Block,
    ops: Sequence[mesh.AllReduceOp],
    algorithm: str,
    plan_wavelets: int | None = None,
) -> Operation | None:
    """Replace the independent allreduces `ops` (in program order) of `block` by one
    mesh.allreduce_group (its line plans made for `plan_wavelets`, when given) right after
    their latest operand is made, moving the ops that read an earlier member's result before
    that point after it; None (and `block` unchanged) when one of those is not tile-local
    (`MOVABLE`)."""
    order = {op: i for i, op in enumerate(block.ops)}
    made = [
        order[owner]
        for op in ops
        if isinstance(owner := op.input.owner, Operation) and owner.parent is block
    ]
    at = max(made, default=-1) + 1  # the group goes before the op at this position
    later = users(ops)
    moved = sorted((u for u in later if order.get(u, len(order)) < at), key=order.__getitem__)
    if any(not isinstance(u, MOVABLE) for u in moved):
        return None
    anchor = list(block.ops)[at]
    inputs = [op.input for op in ops]
    dims = [tuple(op.dims.get_values()) for op in ops]
    group = mesh.AllReduceGroupOp(ops[0].kind.data, inputs, dims, algorithm, plan_wavelets)
    group.location = ops[-1].location
    block.insert_op_before(group, anchor)
    for op, result in zip(ops, group.outputs, strict=True):
        op.result.replace_all_uses_with(result)
    for u in moved:
        block.detach_op(u)
    block.insert_ops_after(moved, group)
    for op in ops:
        block.erase_op(op)
    return group


# --------------------------------------------------------------------------- the choice


def function_cycles(fn: func.FuncOp, target: Target) -> int:
    """The cost model's critical path of a mesh-level function (passes/cost_model)."""
    # the cost model needs numpy; loading the passes does not (pyflame-opt's start-up)
    from pyflame.passes.cost_model.critical_path import critical_path_cycles, function_estimates

    return critical_path_cycles(function_estimates(fn, target))


def trial_cycles(
    fn: func.FuncOp,
    ops: Sequence[mesh.AllReduceOp],
    algorithm: str,
    target: Target,
    plan_wavelets: int | None = None,
) -> int | None:
    """The estimated cycles of `fn` with `ops` combined (on a copy), or None if they cannot
    be."""
    index = {op: i for i, op in enumerate(fn.body.block.ops)}
    copy = fn.clone()
    copied = list(copy.body.block.ops)
    twins = [copied[index[op]] for op in ops]
    assert all(isinstance(t, mesh.AllReduceOp) for t in twins)
    if combine(copy.body.block, twins, algorithm, plan_wavelets) is None:  # type: ignore[arg-type]  # checked above
        return None
    return function_cycles(copy, target)


def candidate_groups(members: list[Member]) -> Iterator[list[Member]]:
    """The members by key (what a group's members share), in program order."""
    by_key: dict[tuple, list[Member]] = {}
    for m in members:
        by_key.setdefault(m.key, []).append(m)
    yield from (ms for ms in by_key.values() if len(ms) > 1)


def combine_collectives(module: ModuleOp) -> list[mesh.AllReduceGroupOp]:
    """Combine every function's allreduces where it pays (see the module's doc); the groups
    made."""
    target = Target.of_module(module)
    made: list[mesh.AllReduceGroupOp] = []
    for fn in module.ops:
        if isinstance(fn, func.FuncOp) and fn.body.blocks:
            made += combine_in(fn, target)
    return made


def combine_in(fn: func.FuncOp, target: Target) -> list[mesh.AllReduceGroupOp]:
    """Greedy, in program order: each group starts at its first member left, and takes each
    later member that can join (independent of every member, a packed buffer of at most
    MAX_PACKED_BYTES, the same line plans: `plan_b`) if the estimate with it is lower."""
    block = fn.body.block
    members = [m for op in block.ops if (m := member_of(op, target)) is not None]
    made: list[mesh.AllReduceGroupOp] = []
    trials = 0
    base: int | None = None
    for same in candidate_groups(members):
        left = list(same)
        while len(left) > 1 and trials < MAX_TRIALS:
            group, best, pin = [left[0]], None, None
            for m in left[1:]:
                trial = [*group, m]
                ops = [t.op for t in trial]
                if (
                    trials >= MAX_TRIALS
                    or sum(t.bytes for t in trial) > MAX_PACKED_BYTES
                    or not independent(ops, block)
                ):
                    continue
                shared, plan_wavelets = plan_b(trial, target)
                if not shared:
                    continue
                if base is None:
                    base = function_cycles(fn, target)
                trials += 1
                cycles = trial_cycles(fn, ops, group[0].algorithm, target, plan_wavelets)
                if cycles is not None and cycles < (base if best is None else best):
                    group, best, pin = trial, cycles, plan_wavelets
            left = [m for m in left if m not in group]
            if best is None or base is None:
                continue
            made_group = combine(block, [m.op for m in group], group[0].algorithm, pin)
            assert isinstance(made_group, mesh.AllReduceGroupOp)  # the trial made it
            explain(made_group, group, base, best)
            made.append(made_group)
            base = best
    return made


def explain(group: Operation, members: Sequence[Member], before: int, after: int) -> None:
    """`pf.why` on the group: what it packs and the estimate that accepted it."""
    from pyflame.passes.cost_model.program import add_why

    sizes = " + ".join(str(dist_of(m.op.input).local_elems) for m in members)
    add_why(
        group,
        "combine-collectives",
        f"{len(members)} allreduces as one ({sizes} elements per PE, one plan's stages): "
        f"{before:,} -> {after:,} estimated cycles over the program",
    )


class CombineCollectivesPass(ModulePass):
    """Pack independent allreduces over the same mesh axes into one."""

    name = "combine-collectives"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        combine_collectives(op)
