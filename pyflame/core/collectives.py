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
    #: bidirectional halves: the vector's first half is chained to the line's far end, its
    #: second half to the near end at the same time, then each end multicasts its half back:
    #: every link and ramp carries B/2 each way (allreduce only; a reduce uses the chain)
    TWO_WAY = "two_way"
    #: reduce-scatter + allgather: two halves, each reduced by two chains from the line's
    #: ends to its own owner (the two middle PEs), then each owner multicasts its half from
    #: the centre: half the chain stages and half the hops of the chain, and each owner's
    #: input ramp takes B from the chains, not two_chains' 2B (allreduce only)
    RSAG = "rsag"


ALGORITHMS = tuple(CollectiveAlgorithm)

#: the algorithms that split the vector into parts (windows) reduced and multicast separately
SPLIT = (CollectiveAlgorithm.TWO_WAY, CollectiveAlgorithm.RSAG)


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
    if algorithm in SPLIT:  # a reduce to one PE: nothing to gather, the chain's plan
        assert to_root, "an allreduce's two_way / rsag plans are split_plans'"
        return line_plan(n, CollectiveAlgorithm.CHAIN, 0)
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


@dataclass(frozen=True)
class Part:
    """One part of a split allreduce (two_way, rsag): wavelets [first, first + wavelets) of
    every PE's vector, reduced over each reduced axis in turn by its own one-phase plan (the
    second axis on the line of the first axis's root), then multicast back from the PE of its
    roots. `partial_from`: a first-axis position that sends its partial of this part straight
    to the part's root before the chains (rsag: the other owner, which the chains pass by)."""

    first: int
    wavelets: int
    plans: tuple[LinePlan, ...]
    partial_from: int | None = None

    @property
    def roots(self) -> tuple[int, ...]:
        return tuple(p.root for p in self.plans)


def _halves(wavelets: int) -> list[tuple[int, int]]:
    """(first, count) of the two halves of `wavelets` (the first the longer), or the whole."""
    if wavelets < 2:
        return [(0, wavelets)]
    half = -(-wavelets // 2)
    return [(0, half), (half, wavelets - half)]


def split_parts(
    lines: tuple[int, ...], algorithm: CollectiveAlgorithm | str, wavelets: int
) -> tuple[Part, ...]:
    """The parts of a two_way or rsag allreduce over axes of lengths `lines` (each > 1).

    two_way: the first half chained to the far end of every axis (position n - 1), the second
    half to position 0, at once (the two streams cross on every PE).

    rsag (reduce-scatter + allgather): two halves owned by the two middle positions m0 =
    middle(n) and m1 = m0 + 1 of the first axis. Each owner first sends its partial of the
    other's half straight to it (one hop; the owners' input ramps are idle until the chains
    arrive), then each half is reduced by two chains from the line's ends that pass the other
    owner's router without stopping: (0, .., m0 - 1, m_j) and (n - 1, .., m1 + 1, m_j). No PE
    forwards both ways and each owner takes B wavelets from the chains, not the 2B of one
    middle root; on a second axis each half is reduced on its owner's line by two chains to
    the middle. Lines shorter than 4 (no PE outside the owners on one side) use one part: two
    chains to the middle."""
    algorithm = CollectiveAlgorithm(algorithm)
    if not lines:
        return ()
    spans = _halves(wavelets)
    if algorithm == CollectiveAlgorithm.TWO_WAY:
        return tuple(
            Part(first, count, tuple(line_plan(n, "chain", n - 1 if j == 0 else 0) for n in lines))
            for j, (first, count) in enumerate(spans)
        )
    assert algorithm == CollectiveAlgorithm.RSAG, algorithm
    n0, rest = lines[0], lines[1:]
    tail = tuple(line_plan(n, "two_chains", middle(n)) for n in rest)
    if n0 < 4 or len(spans) < 2:
        return (Part(0, wavelets, (line_plan(n0, "two_chains", middle(n0)), *tail)),)
    m0 = middle(n0)
    owners = (m0, m0 + 1)
    out = []
    for j, (first, count) in enumerate(spans):
        own = owners[j]
        rising = (*range(m0), own)
        falling = (*range(n0 - 1, m0 + 1, -1), own)
        plan = LinePlan(n0, ((rising, falling),), own)
        out.append(Part(first, count, (plan, *tail), partial_from=owners[1 - j]))
    return tuple(out)


def split_order(parts: tuple[Part, ...], axis: int) -> list[tuple[int, Chain]]:
    """(part, chain) of one axis in the order lower-mesh-to-pe emits them (every PE takes the
    chains it is on in this order). rsag's first axis: the first half's chain from the low end,
    the second half's from the high end, then the others, so each owner takes its first
    chain as soon as the chains arrive; otherwise part by part, rising chains first."""
    chains = [
        (j, c)
        for j, part in enumerate(parts)
        for phase in part.plans[axis].phases
        for c in emission_order(phase)
    ]
    if axis == 0 and len(parts) == 2 and parts[0].partial_from is not None:
        (r0, f0), (r1, f1) = chains[:2], chains[2:]
        return [r0, f1, r1, f0]
    return chains


def _holds(target: Target, hops: int) -> int:
    """Wavelets a path of `hops` hops holds (vector_costs.path_capacity_wavelets)."""
    return target.ce_queue_wavelets + (hops + 1) * target.router_queue_wavelets


def split_cycles(parts: tuple[Part, ...], lines: tuple[int, ...], target: Target) -> int:
    """Estimated cycles of a split allreduce, in lower-mesh-to-pe's order: the owners'
    partials sent to each other (asynchronously) and combined; on the first axis every chain
    in `split_order` (a PE on several chains takes them one after another; every line of the
    axis alike), then each part's chains on the second axis (on its root's line), then every
    root sends its part back as an asynchronous multicast over the reduced lines and every
    other PE receives the parts in order; a multicast streams no faster than its slowest
    receiver takes it (one receiver still busy stalls it for all)."""
    if not parts:
        return 0
    n0 = lines[0]
    ready, clock = [0] * n0, [0] * n0
    base = StageCosts.of(target, 1)
    sends = [p for p in parts if p.partial_from is not None]
    for part in sends:  # every sender issues its asynchronous send first
        assert part.partial_from is not None
        ready[part.partial_from] += base.issue
    for part in sends:
        costs = StageCosts.of(target, part.wavelets)
        src, dst = part.partial_from, part.plans[0].root
        assert src is not None
        head = base.issue + costs.latency(abs(src - dst))
        ready[dst] = max(ready[dst] + costs.issue, head) + costs.keep
    clock = list(ready)
    for j, chain in split_order(parts, 0):
        costs = StageCosts.of(target, parts[j].wavelets)
        chain_times((chain,), ready, costs, clock)
        ready = [max(r, c) for r, c in zip(ready, clock, strict=True)]
    import numpy as np  # the passes load without numpy until an estimate needs it

    n1 = lines[1] if len(lines) > 1 else 1
    clock_at = np.repeat(np.array(ready, dtype=np.int64)[:, None], n1, axis=1)
    if len(lines) > 1:
        for j, chain in split_order(parts, 1):
            part = parts[j]
            k = part.plans[0].root
            col = [int(v) for v in clock_at[k]]
            cclock = list(col)
            chain_times((chain,), col, StageCosts.of(target, part.wavelets), cclock)
            clock_at[k] = np.maximum(col, cclock)
    roots = [(p.plans[0].root, p.plans[1].root if len(lines) > 1 else 0) for p in parts]
    for pos in roots:  # every root issues its asynchronous send first
        clock_at[pos] += base.issue
    starts = [int(clock_at[r]) for r in roots]
    rows, cols = np.indices((n0, n1))
    end = 0
    for j, part in enumerate(parts):
        costs = StageCosts.of(target, part.wavelets)
        dist = np.abs(rows - roots[j][0]) + np.abs(cols - roots[j][1])
        takers = dist >= 0
        takers[roots[j]] = False
        lat = costs.ramps + dist * costs.hop
        holds = target.ce_queue_wavelets + (dist + 1) * target.router_queue_wavelets
        # the stream runs ahead of a receiver that has not issued its receive by at most what
        # the path holds, then stalls for every receiver
        stalls = takers & (costs.stream > holds)
        start = starts[j]
        if stalls.any():
            start = max(start, int((clock_at + costs.issue - lat - holds)[stalls].max()))
        taken = np.maximum(clock_at + costs.issue, start + lat) + costs.keep
        clock_at = np.where(takers, taken, clock_at)
        end = max(end, start + costs.stream)
    for r in set(roots):  # the roots wait for their sends
        clock_at[r] = max(int(clock_at[r]), end) + base.wake
    return int(clock_at.max())


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
    plan_wavelets: int | None = None,
) -> int:
    """Estimated cycles of a reduction over the mesh axes of lengths `lines` (reduced one
    after another: every line of an axis at once, the next axis's line starting from their
    totals); for an allreduce the last line's root streams the total back to every PE as it
    arrives (`streamed_back_cycles`), or for long vectors multicasts it once it has it.
    `plan_wavelets`: the B the line plans are made for (ktree's depend on it), when not the
    reduced vector's (a group of allreduces keeps its members' plans: mesh.allreduce_group)."""
    if CollectiveAlgorithm(algorithm) in SPLIT and not to_root:
        return split_cycles(split_parts(lines, algorithm, wavelets), lines, target)
    shaped = wavelets if plan_wavelets is None else plan_wavelets
    plans = [plan_for(n, algorithm, to_root, shaped, target) for n in lines]
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
    lines: tuple[int, ...],
    wavelets: int,
    target: Target,
    to_root: bool,
    split: bool = True,
) -> CollectiveAlgorithm:
    """The algorithm with the fewest estimated cycles for this op alone (ties: the first of
    ALGORITHMS). The program's choice (passes/choose_collectives.py) starts from it and weighs
    the routing colors and barriers every op's channels add up to. `split=False`: among the
    line-plan algorithms only (a packed group of allreduces, mesh.allreduce_group)."""
    return min(
        (a for a in ALGORITHMS if not ((to_root or not split) and a in SPLIT)),
        key=lambda a: estimate(lines, a, wavelets, target, to_root),
    )
