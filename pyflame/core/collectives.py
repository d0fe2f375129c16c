"""Reductions over a line of PEs: the algorithms (as plans of pipelined chains), their cost
model, and the chooser that picks one by vector length B and line length p.

Pure arithmetic (no dialect): flame-to-mesh chooses with `choose`, lower-mesh-to-pe lowers the
chosen plan (`line_plan`) to pe.send / pe.recv ... combine forward over routes.

A plan is a list of *phases*; a phase is a set of chains that run at the same time on one
color; a chain is the positions it visits, first (sends its vector) to last (keeps the total),
each position in between receiving the stream, combining its own vector in and forwarding it
(one CE stage). Consecutive positions of a chain may be several hops apart: the routers in
between pass the stream through without touching the PE.

    line_plan(8, "chain", root=0).phases      -> (((7, 6, 5, 4, 3, 2, 1, 0),),)
    line_plan(8, "two_chains", root=3).phases -> (((0, 1, 2, 3), (7, 6, 5, 4, 3)),)
    line_plan(9, "tree", root=4).phases       -> (((0, 1), (2, 1), (3, 4), (5, 4), (6, 7), (8, 7)),
                                                  ((1, 4), (7, 4)))
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.utils.str_enum import StrEnum

from pyflame.core.distribution import Distribution
from pyflame.core.target import Target

Chain = tuple[int, ...]
Phase = tuple[Chain, ...]


class CollectiveAlgorithm(StrEnum):
    """How mesh.allreduce and mesh.reduce combine the partials of one line of PEs."""

    #: one pipelined chain from the far end to the root: B + s(p-1), bandwidth-optimal
    CHAIN = "chain"
    #: two chains from both ends meet at the middle: 2B + s*p/2
    TWO_CHAINS = "two_chains"
    #: two-level: groups of ~sqrt(p) chain to their root, then the group roots chain to the
    #: root over pass-through routes: ~4B + s*sqrt(p) + p hops
    TREE = "tree"
    #: three levels of groups of ~p^(1/3): fewer CE stages (~3 p^(1/3)) for one more vector
    #: term and phase boundary; for scalars on long lines
    TREE3 = "tree3"


ALGORITHMS = tuple(CollectiveAlgorithm)


@dataclass(frozen=True)
class LinePlan:
    """The phases of one line's reduction and the position that ends with the total; with
    `moved_from`, the total is then moved there from that position (a plain send, not a
    combine: the root's own partial is already in it)."""

    n: int
    phases: tuple[Phase, ...]
    root: int
    moved_from: int | None = None


def _toward(a: int, b: int, root: int) -> tuple[Chain, ...]:
    """The chains that bring positions a..b (inclusive) to the one of them nearest `root`."""
    r = min(max(root, a), b)
    chains = []
    if a < r:
        chains.append(tuple(range(a, r + 1)))
    if b > r:
        chains.append(tuple(range(b, r - 1, -1)))
    return tuple(chains)


LEVELS = {CollectiveAlgorithm.TREE: 2, CollectiveAlgorithm.TREE3: 3}


def group_size(n: int, levels: int = 2) -> int:
    """A tree's group size: ~n^(1/levels), which balances the stages of the levels."""
    return max(2, round(n ** (1 / levels)))


def line_plan(
    n: int, algorithm: CollectiveAlgorithm | str, root: int, group: int | None = None
) -> LinePlan:
    """The chains that reduce a line of `n` positions to `root` with `algorithm`."""
    algorithm = CollectiveAlgorithm(algorithm)
    if n == 1:
        return LinePlan(1, (), 0)
    if algorithm not in LEVELS:
        return LinePlan(n, (_toward(0, n - 1, root),), root)
    g = group or group_size(n, LEVELS[algorithm])
    # each level: the previous level's roots in groups of g (consecutive), each group chained
    # to its member nearest `root` (so `root` itself stays a root at every level)
    members = list(range(n))
    phases: list[Phase] = []
    while len(members) > 1:
        groups = [members[i : i + g] for i in range(0, len(members), g)]
        chains: list[Chain] = []
        roots = []
        for grp in groups:
            top = min(grp, key=lambda p: (abs(p - root), p))
            below, above = [p for p in grp if p <= top], [p for p in grp if p >= top]
            chains += [tuple(c) for c in (below, above[::-1]) if len(c) > 1]
            roots.append(top)
        phases.append(tuple(chains))
        members = roots
    return LinePlan(n, tuple(phases), root)


def middle(n: int) -> int:
    return (n - 1) // 2


def plan_for(n: int, algorithm: CollectiveAlgorithm | str, to_root: bool) -> LinePlan:
    """The plan an op uses: a reduce to one PE ends at position 0 (the corner its result lives
    on; two_chains meets in the middle and then moves the total there); an allreduce ends where
    its broadcast back starts: the middle, except for the single chain (its far end)."""
    algorithm = CollectiveAlgorithm(algorithm)
    if algorithm == CollectiveAlgorithm.CHAIN or (to_root and algorithm in LEVELS):
        return line_plan(n, algorithm, 0)
    plan = line_plan(n, algorithm, middle(n))
    if to_root and plan.root != 0:
        return LinePlan(n, plan.phases, 0, moved_from=plan.root)
    return plan


def reduced_lines(src: Distribution, dims: tuple[int, ...]) -> tuple[int, ...]:
    """The lengths of the lines a reduction over `dims` combines, in the order they are
    reduced: along rows (the dims split over PE columns) first, then along columns."""
    axes = "".join(src.split[d] for d in dims)
    return tuple(n for a, n in (("c", src.grid[1]), ("r", src.grid[0])) if a in axes and n > 1)


def wavelets_per_pe(src: Distribution, bits: int) -> int:
    """B: the 32-bit wavelets of one PE's partials (two 16-bit values per wavelet)."""
    return max(1, -(-src.local_elems * bits // 32))


# --------------------------------------------------------------------------- cost model


def stage_cycles(hops: int, target: Target) -> int:
    """One CE stage of a pipelined chain: down the ramp, `hops` links, combine, up again."""
    return (
        2 * target.ramp_latency_cycles + hops * target.hop_latency_cycles + target.ce_forward_cycles
    )


def boundary_cycles(target: Target) -> int:
    """A phase's end: the last receive's completion wakes its task, the next op is issued."""
    return target.task_activation_cycles + target.vector_issue_cycles


def plan_cycles(plan: LinePlan, wavelets: int, target: Target) -> int:
    """Estimated cycles of a line plan on B = `wavelets` per PE (model, see docs/passes.md):
    per phase, the slowest chain's B + stages, plus B and a task wake-up for every extra stream
    a root absorbs after its first, plus one phase boundary."""
    total = 0
    for phase in plan.phases:
        chains = max(
            wavelets + sum(stage_cycles(abs(v - u), target) for u, v in zip(c, c[1:], strict=False))
            for c in phase
        )
        ends: dict[int, int] = {}
        for c in phase:
            ends[c[-1]] = ends.get(c[-1], 0) + 1
        extra = (max(ends.values()) - 1) * (wavelets + boundary_cycles(target))
        total += chains + extra + boundary_cycles(target)
    if plan.moved_from is not None:
        total += (
            wavelets
            + 2 * target.ramp_latency_cycles
            + abs(plan.moved_from - plan.root) * target.hop_latency_cycles
            + boundary_cycles(target)
        )
    return total


def estimate(
    lines: tuple[int, ...],
    algorithm: CollectiveAlgorithm | str,
    wavelets: int,
    target: Target,
    to_root: bool,
) -> int:
    """Estimated cycles of a reduction over the mesh axes of lengths `lines` (reduced one
    after another), plus the broadcast back for an allreduce (one multicast from the root)."""
    total = sum(plan_cycles(plan_for(n, algorithm, to_root), wavelets, target) for n in lines)
    if to_root or not lines:
        return total
    far = sum(max(r, n - 1 - r) for n in lines for r in (plan_for(n, algorithm, False).root,))
    return (
        total
        + wavelets
        + 2 * target.ramp_latency_cycles
        + far * target.hop_latency_cycles
        + boundary_cycles(target)
    )


def choose(
    lines: tuple[int, ...], wavelets: int, target: Target, to_root: bool
) -> CollectiveAlgorithm:
    """The algorithm with the fewest estimated cycles (ties: the first of ALGORITHMS)."""
    return min(ALGORITHMS, key=lambda a: estimate(lines, a, wavelets, target, to_root))
