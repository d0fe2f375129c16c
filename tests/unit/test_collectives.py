"""Collectives (pyflame.core.collectives and their lowering in pe_lowering/collectives.py):
every algorithm's plan reduces each position exactly once, the chooser's picks, and numpy parity
of reductions over every combination of split dims with each algorithm forced, on grids 1xN, Nx1,
3x5 and 2x2 with shapes that do not divide them (the fidelity corpus runs them in both engines)."""

from __future__ import annotations

import itertools
from collections import Counter

import numpy as np
import pytest
from xdsl.dialects.builtin import f32
from xdsl.utils.exceptions import VerifyException

import pyflame as pf
from pyflame import compiler
from pyflame.core import collectives
from pyflame.core.collectives import CollectiveAlgorithm, line_plan, plan_for
from pyflame.core.distribution import Distribution
from pyflame.core.line_search import StageCosts, search_line
from pyflame.core.target import WSE2
from pyflame.dialects import mesh
from pyflame.tracing import trace_module

ALGORITHMS = [a.value for a in CollectiveAlgorithm]
#: the algorithms one line plan describes (two_way and rsag split the vector: split_parts)
PLANNED = [a for a in ALGORITHMS if CollectiveAlgorithm(a) not in collectives.SPLIT]


def simulate(plan: collectives.LinePlan) -> Counter:
    """The positions whose partials end in the root (with multiplicity), following the chains:
    each chain's last position combines everything that entered the chain."""
    held = {p: Counter([p]) for p in range(plan.n)}
    for phase in plan.phases:
        for chain in phase:
            total = Counter()
            for p in chain:
                total += held[p]
            held[chain[-1]] = total
    if plan.moved_from is not None:
        held[plan.root] = held[plan.moved_from]
    return held[plan.root]


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("to_root", [False, True])
def test_every_plan_combines_each_position_exactly_once(algorithm: str, to_root: bool) -> None:
    if algorithm not in PLANNED and not to_root:
        pytest.skip("an allreduce by parts: test_split_parts_combine_each_position_once")
    for n in range(1, 41):
        plan = plan_for(n, algorithm, to_root)
        assert simulate(plan) == Counter(range(n)), (n, plan)
        if to_root:
            assert plan.root == 0
        for phase in plan.phases:  # a position ends chains, or starts/continues one: not both
            inner = [p for c in phase for p in c[:-1]]
            assert len(inner) == len(set(inner)), (n, phase)
            assert not set(inner) & {c[-1] for c in phase}, (n, phase)


def _part_total(part: collectives.Part, n: int) -> Counter:
    """The positions whose partials of `part` end in its first-axis root: the partial sent
    straight to the root first, then the chains (each passes its stream on)."""
    held = {p: Counter([p]) for p in range(n)}
    if part.partial_from is not None:
        held[part.plans[0].root] += held[part.partial_from]
        held[part.partial_from] = Counter()
    for phase in part.plans[0].phases:
        for chain in phase:
            total = Counter()
            for p in chain:
                total += held[p]
            held[chain[-1]] = total
    return held[part.plans[0].root]


@pytest.mark.parametrize("algorithm", ["two_way", "rsag"])
def test_split_parts_combine_each_position_once(algorithm: str) -> None:
    """Every part of every line length and B: its windows tile the vector, its first axis
    combines every position exactly once, and on a second axis its plan is one of a line."""
    for n, b in itertools.product(range(2, 41), (1, 2, 3, 8, 257)):
        parts = collectives.split_parts((n, 5), algorithm, b)
        assert [p.first for p in parts] == [0] + [p.first + p.wavelets for p in parts[:-1]], (n, b)
        assert sum(p.wavelets for p in parts) == b and all(p.wavelets > 0 for p in parts)
        for part in parts:
            assert _part_total(part, n) == Counter(range(n)), (n, b, part)
            assert simulate(part.plans[1]) == Counter(range(5))
        if algorithm == "rsag" and n >= 4 and b >= 2:
            # the two middle PEs own a half each, and no chain stops at the other owner
            m0 = collectives.middle(n)
            assert [p.plans[0].root for p in parts] == [m0, m0 + 1]
            for j, part in enumerate(parts):
                assert part.partial_from == [m0 + 1, m0][j]
                for chain in part.plans[0].phases[0]:
                    assert not set(chain) & {m0, m0 + 1} - {chain[-1]}


def test_rsag_beats_the_chain_on_long_lines_of_long_vectors() -> None:
    """Half the chain stages and half the multicast's hops of the chain, for one more half
    vector on the owners' input ramps (the partial they exchange): the chooser takes it on
    64 positions, the chain on 16 (B = 256, WSE2)."""
    est = {a: collectives.estimate((64,), a, 256, WSE2, False) for a in ALGORITHMS}
    assert est["rsag"] < min(v for a, v in est.items() if a != "rsag"), est
    assert collectives.choose((64,), 256, WSE2, to_root=False) == "rsag"
    assert collectives.choose((16,), 256, WSE2, to_root=False) == "chain"
    # on two PEs each sends the other half and takes half: two_way (454 cycles, chain 552)
    assert collectives.choose((2,), 256, WSE2, to_root=False) == "two_way"
    # a reduce to one PE has nothing to gather: never chosen, and forced it is the chain
    assert collectives.choose((64,), 256, WSE2, to_root=True) != "rsag"
    assert plan_for(9, "rsag", to_root=True) == plan_for(9, "chain", to_root=True)


@pytest.mark.parametrize("algorithm", ["two_way", "rsag"])
@pytest.mark.parametrize("dtype", ["float32", "float16"])
@pytest.mark.parametrize("grid", [(1, 9), (5, 1), (3, 7), (4, 4)])
def test_split_allreduce_matches_numpy(algorithm, dtype, grid) -> None:
    """Allreduce by parts along rows, along columns and over both axes, on vectors of odd
    lengths whose halves do not divide (an odd count of f16 values: the last wavelet half
    padding), sums and maxima, against numpy."""
    rng = np.random.default_rng(len(dtype) + grid[0])
    a = rng.standard_normal((grid[0] * 5 + 2, grid[1] * 7 + 3)).astype(np.float32)
    cast = getattr(pf, dtype)
    (rows, cols, both, peak), names = run(
        lambda x: [
            x.to(cast) - x.to(cast).sum(1, keepdim=True),
            x.to(cast).sum(0, keepdim=True) * 2,
            x.to(cast) * x.to(cast).sum(),
            x.to(cast).amax(dim=1, keepdim=True) + x.to(cast),
        ],
        [a],
        grid,
        algorithm,
    )
    h = a.astype(dtype)
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == "float32" else dict(rtol=2e-2, atol=0.1)
    np.testing.assert_allclose(np.float32(rows), h - h.sum(1, keepdims=True), **tol)
    np.testing.assert_allclose(np.float32(cols), h.sum(0, keepdims=True) * 2, **tol)
    np.testing.assert_allclose(
        np.float32(both), h * h.sum(), rtol=2e-2 if dtype != "float32" else 1e-4
    )
    np.testing.assert_allclose(np.float32(peak), h.max(1, keepdims=True) + h, **tol)
    assert "mesh.allreduce" in names


def test_plans_have_the_documented_shapes() -> None:
    assert line_plan(8, "chain", 0).phases == (((7, 6, 5, 4, 3, 2, 1, 0),),)
    assert line_plan(8, "two_chains", 3).phases == (((0, 1, 2, 3), (7, 6, 5, 4, 3)),)
    tree = line_plan(16, "tree", 0)
    assert tree.phases[0] == ((3, 2, 1, 0), (7, 6, 5, 4), (11, 10, 9, 8), (15, 14, 13, 12))
    assert tree.phases[1] == ((12, 8, 4, 0),)
    three = line_plan(27, "tree3", 0).phases
    assert three[1] == ((6, 3, 0), (15, 12, 9), (24, 21, 18)) and three[2] == ((18, 9, 0),)
    moved = plan_for(9, "two_chains", to_root=True)
    assert (moved.root, moved.moved_from) == (0, 4)


def test_the_chooser_picks_ktree_for_scalars_and_a_chain_for_long_vectors() -> None:
    assert collectives.choose((16,), 1, WSE2, to_root=False) == "ktree"
    assert collectives.choose((64, 64), 1, WSE2, to_root=True) == "ktree"
    assert collectives.choose((720,), 16, WSE2, to_root=False) == "ktree"
    assert collectives.choose((64,), 2048, WSE2, to_root=False) == "chain"  # ktree: the same
    assert collectives.choose((4,), 1, WSE2, to_root=True) == "chain"
    # the estimate grows with B by one vector per phase for the chain, more for the others
    chain = [collectives.estimate((64,), "chain", b, WSE2, False) for b in (1, 1001)]
    tree = [collectives.estimate((64,), "tree", b, WSE2, False) for b in (1, 1001)]
    assert chain[1] - chain[0] < tree[1] - tree[0]


@pytest.mark.parametrize("to_root", [False, True])
def test_ktree_is_never_estimated_slower_than_a_fixed_plan(to_root: bool) -> None:
    """Its search covers the chain, and beats the fixed trees: on 64 positions with one
    wavelet, 116 cycles to position 0 (tree3 159, a single chain 455)."""
    for n, b in itertools.product(range(2, 41), (1, 16, 256)):
        ktree = collectives.estimate((n,), "ktree", b, WSE2, to_root)
        # (line plans only: two_way and rsag split the vector, which no tree of chains does)
        others = [collectives.estimate((n,), a, b, WSE2, to_root) for a in PLANNED]
        # (its search leaves out that a receiver of the stream back may still be busy: on 4
        # and 5 positions two_chains is estimated 1 cycle faster)
        assert ktree <= min(others) + 1, (n, b)
    if to_root:
        assert collectives.estimate((64,), "ktree", 1, WSE2, True) == 116
        assert collectives.estimate((64,), "tree3", 1, WSE2, True) == 159
        assert collectives.estimate((64,), "chain", 1, WSE2, True) == 455


def test_ktree_search_agrees_with_the_plan_timing_and_its_shape() -> None:
    costs = StageCosts.of(WSE2, 1)
    for n, to_root in itertools.product((2, 7, 16, 33, 64), (False, True)):
        levels, root, cycles = search_line(n, costs, to_root)
        plan = plan_for(n, "ktree", to_root, 1, WSE2)
        assert (plan.phases, plan.root) == (levels, root)
        assert collectives.plan_cycles(plan, 1, WSE2) == cycles
    # 16 positions to 0: short chains far away, a longer one near the root, all overlapping
    assert plan_for(16, "ktree", True).phases == (
        ((4, 3), (2, 1, 0)),
        ((12, 11), (10, 9, 8), (7, 6, 5, 3, 0)),
        ((15, 14, 13, 11, 8, 0),),
    )
    # long vectors: one chain (each level would add a vector's stream)
    assert plan_for(16, "ktree", True, 4096).phases == (tuple([tuple(range(15, -1, -1))]),)


def run(build, arrays, grid, algorithm: str | None):
    """The outputs of `build(*tensors)` (each array placed on `grid`) with `algorithm` forced
    on every mesh.allreduce / mesh.reduce, and the collectives' names."""
    lay = pf.MeshLayout.grid(*grid)
    module, _, inputs = trace_module(build(*[pf.from_numpy(a, layout=lay) for a in arrays]))
    compiler.lower(module, "mesh")
    ops = [op for op in module.walk() if isinstance(op, mesh.AllReduceOp | mesh.ReduceOp)]
    for op in ops:
        if algorithm is not None:
            op.properties["algorithm"] = mesh.CollectiveAlgorithmAttr(
                CollectiveAlgorithm(algorithm)
            )
    outputs, _ = compiler.compile_module(module).run(list(inputs))
    return outputs, [op.name for op in ops]


KINDS = {
    "sum": (lambda x, d: x.sum(dim=d), lambda a, d: a.sum(axis=d)),
    "max": (lambda x, d: x.amax(dim=d), lambda a, d: a.max(axis=d)),
    "min": (lambda x, d: x.amin(dim=d), lambda a, d: a.min(axis=d)),
    "prod": (lambda x, d: x.prod(dim=d[0]) if len(d) == 1 else x.prod(), np.prod),
    "mean": (lambda x, d: x.mean(dim=d), lambda a, d: a.mean(axis=d)),
}
GRIDS = [(1, 4), (4, 1), (3, 5), (2, 2)]


@pytest.mark.slow
@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("grid", GRIDS)
def test_reductions_match_numpy_with_every_algorithm(algorithm, grid) -> None:
    rng = np.random.default_rng(sum(grid))
    a = (rng.random((7, 11), dtype=np.float32) + 0.5).astype(np.float32)
    for kind, dims in itertools.product(KINDS, [(0,), (1,), (0, 1)]):
        ours, ref = KINDS[kind]
        # read by the host (mesh.reduce) and used on the mesh (mesh.allreduce) in one program
        (host, on_mesh), names = run(
            lambda x, ours=ours, dims=dims: [ours(x, dims), ours(x * 2, dims) + 1],
            [a],
            grid,
            algorithm,
        )
        expected = ref(a, dims) if kind != "prod" else np.prod(a, axis=dims)
        np.testing.assert_allclose(host, expected, rtol=2e-5, err_msg=f"{kind} {dims}")
        twice = ref(2 * a, dims) if kind != "prod" else np.prod(2 * a, axis=dims)
        np.testing.assert_allclose(on_mesh, twice + 1, rtol=2e-5, err_msg=f"{kind} {dims}")
        split = [d for d in dims if grid[d] > 1]
        if split:
            assert names == ["mesh.reduce", "mesh.allreduce"], (kind, dims, names)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_long_vectors_stall_but_never_deadlock(algorithm) -> None:
    """60 wavelets per PE (more than a path's queues hold), reduced over both axes of 3x5 PEs
    and along each axis, to the host and on the mesh."""
    a = np.random.default_rng(4).standard_normal((3, 60, 5)).astype(np.float32)
    (total, rows, cols), names = run(
        lambda x: [x.sum(dim=(0, 2)), x.amax(dim=2) + 0, x.amin(dim=0) * 1],
        [a],
        (3, 5),
        algorithm,
    )
    np.testing.assert_allclose(total, a.sum(axis=(0, 2)), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(rows, a.max(axis=2))
    np.testing.assert_allclose(cols, a.min(axis=0))
    assert names[0] == "mesh.reduce" and "mesh.allreduce" in names


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_floats_with_every_algorithm(algorithm, dtype) -> None:
    a = np.random.default_rng(1).random((6, 10), dtype=np.float32)
    (host, on_mesh), _ = run(
        lambda x: [x.to(getattr(pf, dtype)).sum(), x.to(getattr(pf, dtype)).sum(1)[0] * 1],
        [a],
        (3, 5),
        algorithm,
    )
    np.testing.assert_allclose(np.float32(host), a.sum(), rtol=1e-2)
    np.testing.assert_allclose(np.float32(on_mesh), a.sum(1)[0], rtol=1e-2)


def test_softmax_and_layer_norm_over_a_split_dim_use_allreduce_with_the_chosen_algorithm() -> None:
    a = np.random.default_rng(2).standard_normal((8, 40)).astype(np.float32)
    (soft, norm), names = run(
        lambda x: [pf.softmax(x, dim=1), pf.nn.functional.layer_norm(x, (40,))],
        [a],
        (2, 4),
        None,
    )
    e = np.exp(a - a.max(1, keepdims=True))
    np.testing.assert_allclose(soft, e / e.sum(1, keepdims=True), rtol=1e-4, atol=1e-6)
    ref = (a - a.mean(1, keepdims=True)) / np.sqrt(a.var(1, keepdims=True) + 1e-5)
    np.testing.assert_allclose(norm, ref, rtol=1e-3, atol=1e-4)
    assert names and set(names) == {"mesh.allreduce"}


def test_a_full_grid_sum_read_by_the_host_is_a_ktree_reduce_without_broadcast_back() -> None:
    a = np.random.default_rng(3).random((32, 32), dtype=np.float32)
    x = pf.from_numpy(a, layout=pf.MeshLayout.grid(16, 16))
    text = pf.ir(x.sum(), stage="mesh")
    assert "mesh.reduce sum" in text and "algorithm ktree" in text
    assert "-> !mesh.tensor<1x1xf32 on 1x1 split [_, _]>" in text
    np.testing.assert_allclose(x.sum().numpy(), a.sum(), rtol=1e-5)


def test_reduce_verifier_checks_the_collapsed_grid() -> None:
    src = mesh.MeshTensorType(Distribution((4, 4), (4, 4), ("r", "c")), f32)
    from xdsl.ir import Block

    block = Block(arg_types=[src])
    op = mesh.ReduceOp("sum", block.args[0], (1,))
    assert str(op.result.type) == "!mesh.tensor<4x1xf32 on 4x1 split [r, _]>"
    op.verify()
    replicated = mesh.AllReduceOp("sum", block.args[0], (1,)).result.type
    bad = mesh.ReduceOp.create(
        operands=[block.args[0]], properties=dict(op.properties), result_types=[replicated]
    )
    with pytest.raises(VerifyException, match=r"mesh.reduce result should be 4x1 on 4x1"):
        bad.verify()


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_every_algorithm_estimate_within_ten_percent_of_the_simulator(algorithm) -> None:
    """The cost model's estimate of a reduce to the host and an allreduce on the mesh (the
    whole program: host I/O aside, the local reduce, the collective, the elementwise op after
    it) against the simulated cycles, on odd shapes and grids from 1x1 to non-square. (Where
    only PEs near the root hold padding, the masking before the collective delays part of the
    line only, which the sum of per-op estimates does not see: 13 rows on 6x1 PEs, +10.6%.)"""
    from pyflame.passes.cost_model import estimate, program_cycles
    from pyflame.sim.planner import compile_plan

    rng = np.random.default_rng(5)
    for grid, shape in [
        ((1, 1), (3, 5)),
        ((2, 2), (5, 7)),
        ((3, 3), (7, 11)),
        ((3, 5), (9, 13)),
        ((1, 7), (2, 20)),
        ((6, 1), (17, 3)),
        ((4, 4), (32, 32)),
    ]:
        a = rng.random(shape, dtype=np.float32)
        for build in (
            lambda x: [x.sum()],
            lambda x: [x - x.sum(1, keepdim=True)],
            lambda x: [x * x.sum()],
        ):
            x = pf.from_numpy(a, layout=pf.MeshLayout.grid(*grid))
            module, _, _ = trace_module(build(x))
            compiler.lower(module, "mesh")
            for op in module.walk():
                if isinstance(op, mesh.AllReduceOp | mesh.ReduceOp):
                    op.properties["algorithm"] = mesh.CollectiveAlgorithmAttr(
                        CollectiveAlgorithm(algorithm)
                    )
            estimated = program_cycles(estimate(module))
            compiler.lower(module, "pe")
            simulated = compile_plan(module).report.cycles
            assert abs(estimated - simulated) <= 0.1 * simulated, (grid, estimated, simulated)
