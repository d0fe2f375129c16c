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

`ktree` is a tree of chains whose shape is searched (pyflame/core/line_search.py) for the fewest
cycles by the same timing model `plan_cycles` uses: segments far from the root are reduced by
short chains, segments near it by longer ones (their totals are needed later), and the chain of
each level passes through its segments' routers to their roots, so the levels overlap in time.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.utils.str_enum import StrEnum

from pyflame.core.distribution import Distribution
from pyflame.core.line_search import StageCosts, chain_times, search_line
from pyflame.core.target import WSE2, Target

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
    #: a tree of chains searched for the fewest cycles (group sizes grow toward the root, the
    #: levels overlap); one-sided to position 0 for a reduce, around the best root for an
    #: allreduce; a single chain for long vectors
    KTREE = "ktree"


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


def plan_for(
    n: int,
    algorithm: CollectiveAlgorithm | str,
    to_root: bool,
    wavelets: int = 1,
    target: Target = WSE2,
) -> LinePlan:
    """The plan an op uses: a reduce to one PE ends at position 0 (the corner its result lives
    on; two_chains meets in the middle and then moves the total there); an allreduce ends where
    its broadcast back starts: the middle, except for the single chain (its far end) and ktree
    (the root its search found). Only ktree's shape depends on B (`wavelets`) and `target`."""
    algorithm = CollectiveAlgorithm(algorithm)
    if algorithm == CollectiveAlgorithm.KTREE:
        streamed = not to_root and streams_back(wavelets, target)
        levels, root, _ = search_line(n, StageCosts.of(target, wavelets), to_root, streamed)
        return LinePlan(n, levels, root)
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


def emission_order(phase: Phase) -> Phase:
    """A phase's chains in the order lower-mesh-to-pe emits them: those running toward higher
    positions first (one channel), then those toward lower ones (another), so a position that
    ends one chain from each side keeps the lower side's first."""
    rising = tuple(c for c in phase if len(c) > 1 and c[1] > c[0])
    return rising + tuple(c for c in phase if len(c) > 1 and c[1] < c[0])


def plan_times(plan: LinePlan, wavelets: int, target: Target) -> tuple[int, int]:
    """(the root's ready time, every position's latest end) of a line plan on B = `wavelets`,
    every position starting at 0: the timing of pyflame/core/line_search.py followed phase by
    phase in emission order (a phase's chains overlap in time with earlier phases' wherever
    their positions are free), then the move of the total to the root if the plan has one."""
    costs = StageCosts.of(target, wavelets)
    ready, clock = [0] * plan.n, [0] * plan.n
    for phase in plan.phases:
        chain_times(emission_order(phase), ready, costs, clock)
    if plan.moved_from is not None:
        start = ready[plan.moved_from] + costs.issue
        head = start + costs.latency(abs(plan.moved_from - plan.root))
        ready[plan.root] = max(ready[plan.root] + costs.issue, head) + costs.keep
        clock[plan.root] = ready[plan.root]
    return ready[plan.root], max(clock)


def plan_cycles(plan: LinePlan, wavelets: int, target: Target) -> int:
    """Estimated cycles until the root of a line plan holds the total."""
    return plan_times(plan, wavelets, target)[0]


def streams_back(wavelets: int, target: Target) -> bool:
    """Whether an allreduce's root forwards the total back as it arrives: only when B fits the
    queues of a one-hop path. Longer, the stream back stalls on a PE whose input ramp is still
    taking the chain's stream toward the root, which stalls the root, which stalls that chain:
    a deadlock (the machine's and the simulator's)."""
    one_hop = target.ce_queue_wavelets + 2 * target.router_queue_wavelets  # as vector_costs'
    return wavelets <= one_hop  # path_capacity_wavelets(target, 1), without importing numpy


def multicast_cycles(far: int, wavelets: int, target: Target) -> int:
    """A root multicasting B wavelets to PEs up to `far` hops away: issue, the head's way to
    the farthest, B cycles of stream, the receivers' wake-up."""
    costs = StageCosts.of(target, wavelets)
    return costs.issue + costs.latency(far) + costs.keep


def streamed_back_cycles(plan: LinePlan, far: int, wavelets: int, target: Target) -> int:
    """An allreduce's last line: the plan, except that its root forwards the total as it
    arrives (its last receive is a receive-combine-forward onto a multicast back to every PE,
    `far` hops beyond this line on the other axes), then every PE has received it: the stream
    reaches each, and no sooner than that PE has finished its own part and issued the receive
    (one receiver still busy stalls the multicast for all)."""
    costs = StageCosts.of(target, wavelets)
    ready, clock = [0] * plan.n, [0] * plan.n
    *early, last = plan.phases
    for phase in early:
        chain_times(emission_order(phase), ready, costs, clock)
    start = chain_times(emission_order(last), ready, costs, clock, open_end=True)
    arrivals = [
        max(clock[i] + costs.issue, start + costs.latency(abs(i - plan.root) + far))
        for i in range(plan.n)
        if i != plan.root
    ]
    return max(arrivals) + costs.keep


def estimate(
    lines: tuple[int, ...],
    algorithm: CollectiveAlgorithm | str,
    wavelets: int,
    target: Target,
    to_root: bool,
) -> int:
    """Estimated cycles of a reduction over the mesh axes of lengths `lines` (reduced one
    after another: every line of an axis at once, the next axis's line starting from their
    totals); for an allreduce the last line's root streams the total back to every PE as it
    arrives (`streamed_back_cycles`), or for long vectors multicasts it once it has it."""
    plans = [plan_for(n, algorithm, to_root, wavelets, target) for n in lines]
    if to_root or not lines:
        return sum(plan_cycles(plan, wavelets, target) for plan in plans)
    if not streams_back(wavelets, target):
        far = sum(max(p.root, p.n - 1 - p.root) for p in plans)
        total = sum(plan_cycles(plan, wavelets, target) for plan in plans)
        return total + multicast_cycles(far, wavelets, target)
    *early, last = plans
    far = sum(max(p.root, p.n - 1 - p.root) for p in early)
    return sum(plan_cycles(plan, wavelets, target) for plan in early) + streamed_back_cycles(
        last, far, wavelets, target
    )


def choose(
    lines: tuple[int, ...], wavelets: int, target: Target, to_root: bool
) -> CollectiveAlgorithm:
    """The algorithm with the fewest estimated cycles for this op alone (ties: the first of
    ALGORITHMS). The program's choice (passes/choose_collectives.py) starts from it and weighs
    the routing colors and barriers every op's channels add up to."""
    return min(ALGORITHMS, key=lambda a: estimate(lines, a, wavelets, target, to_root))
