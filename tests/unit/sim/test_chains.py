"""A forwarding chain's stages as one step (pyflame/sim/chains.py): `Executable.run` folds a
reduction chain with `accumulate`, bit for bit the stage-by-stage run, cycles unchanged."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from planned import plan

import pyflame as pf
from pyflame import compiler
from pyflame.core.collectives import CollectiveAlgorithm
from pyflame.dialects import mesh
from pyflame.sim import chains
from pyflame.sim.chains import MIN_STEPS, ChainStage, chained, set_chain_stage, vectorise_chains
from pyflame.sim.step_access import Access, access_of, annotate, is_noop
from pyflame.tracing import trace_module


def _matrix(rng, shape, grid):
    return pf.from_numpy(
        (rng.standard_normal(shape) * 1e3).astype(np.float32), layout=pf.MeshLayout.grid(grid, grid)
    )


@pytest.mark.parametrize(
    "program",
    ["mm 64x30x10 g8", "mm 37x51x7 g8", "mm 100x33x3 g16", "sum0 64x29 g16", "gemv 64x50 g16"],
)
def test_a_chained_reduction_is_the_stage_by_stage_run_bit_for_bit(program):
    """Chains over every PE (a matmul's) and over the PEs that hold data (the rows of a
    37- or 64-row matrix on 16 PE rows, some rows' stages interleaved: those stay steps)."""
    kind, dims, g = program.split()
    sizes = [int(x) for x in dims.split("x")]
    grid = int(g[1:])
    rng = np.random.default_rng(sum(sizes))
    if kind == "mm":
        m, k, n = sizes
        a, b = _matrix(rng, (m, k), grid), _matrix(rng, (k, n), grid)
        out, want_np = a @ b, a.numpy() @ b.numpy()
    elif kind == "sum0":
        a = _matrix(rng, tuple(sizes), grid)
        out, want_np = a.sum(dim=0), a.numpy().sum(axis=0)
    else:
        a = _matrix(rng, tuple(sizes), grid)
        x = pf.from_numpy(rng.standard_normal(sizes[1]).astype(np.float32))
        out, want_np = a @ x, a.numpy() @ x.numpy()
    exe, args = plan([out])
    assert any(chained(s) for _, s in exe.run_steps), "no chain vectorised"
    assert not any(chained(s) for s in exe.steps)  # run_on_sram: stage by stage
    (got,), report = exe.run(args)
    (again,), _ = exe.run(args)  # a pooled SRAM: the same bits
    (want,), exact_report, _ = exe.run_on_sram(args)
    assert report.cycles == exact_report.cycles
    assert got.tobytes() == want.tobytes() == again.tobytes()
    np.testing.assert_allclose(got.reshape(want_np.shape), want_np, rtol=1e-4, atol=1.0)


def _stages(n: int, step: int, dtype=np.float32, kind: str = "sum"):
    """Run steps of a chain along the PE cols of buffer 0 ((2, n + 1, 3) tiles): stage k
    combines col k + 1's tiles (up), col n - 1 - k's (down) or the k-th of uneven places with
    the forward of the stage before; the first stage takes message 100."""
    cols = {1: list(range(1, n + 1)), -1: list(range(n - 1, -1, -1))}.get(step)
    if cols is None:  # uneven places (a chain over the PEs that hold data)
        cols = [0, 2, 3, 5, 6, 1, 4, 7, 9, 8, 10, 12, 11][:n]
    out = []
    for k, c in enumerate(cols):
        dst = (slice(0, 2), slice(c, c + 1), slice(0, 3))
        g = 100 if k == 0 else k - 1
        src = (slice(0, 2), slice(0, 1))

        def stage(V, F, A, O, dst=dst, g=g, src=src):
            V[0][dst] = chains.UFUNCS[kind](V[0][dst], F[g][src])
            del F[g]

        out.append(set_chain_stage(stage, ChainStage(0, dst, g, src, kind, True, np.dtype(dtype))))

        def forward(V, F, A, O, dst=dst, k=k):
            F[k] = V[0][dst].copy()

        out.append(annotate(forward, Access(reads={0: dst}, sent=k)))
    return list(enumerate(out))


@pytest.mark.parametrize("step", [1, -1, 2])
@pytest.mark.parametrize("kind", ["sum", "prod", "max", "min"])
@pytest.mark.parametrize("n", [6, chains.ACCUMULATE_STAGES + 4])
def test_chain_steps_fold_as_the_stages_do(step, kind, n):
    """Stage by stage (6 stages; max and min always, with the receive's operand order) or
    one `accumulate` (12 sums or products: in a view of the tiles, or on a gathered copy
    for uneven places)."""
    rng = np.random.default_rng(7)
    tiles = rng.standard_normal((2, n + 1, 3)).astype(np.float32)
    first = rng.standard_normal((2, 1, 3)).astype(np.float32)
    steps = _stages(n, step, kind=kind)
    fused = vectorise_chains(steps)
    # one step for the stages and the forwards between them; the last forward stays
    assert len(fused) == 2 and chained(fused[0][1]) == n
    runs = []
    for run in (steps, fused):
        V, F = [tiles.copy()], {100: first.copy()}
        for _, s in run:
            s(V, F, [], [])
        runs.append((V[0], F))
    (want, wf), (got, gf) = runs
    assert got.tobytes() == want.tobytes()
    assert set(gf) == set(wf) == {n - 1}  # the first message released, the last forwarded
    assert gf[n - 1].tobytes() == wf[n - 1].tobytes()


@pytest.mark.parametrize("kind", ["max", "min"])
def test_max_and_min_keep_the_receives_operand_order(kind):
    """np.maximum(-0.0, 0.0) is -0.0 and np.maximum(0.0, -0.0) is 0.0: over signed zeros
    (and NaNs) the fold gives the bits of the stages only with their operand order."""
    rng = np.random.default_rng(5)
    n = chains.ACCUMULATE_STAGES + 4  # (never an accumulate: it takes them the other way)
    tiles = rng.choice(np.array([-0.0, 0.0, np.nan], dtype=np.float32), (2, n + 1, 3))
    first = rng.choice(np.array([-0.0, 0.0], dtype=np.float32), (2, 1, 3))
    steps = _stages(n, 1, kind=kind)
    fused = vectorise_chains(steps)
    assert chained(fused[0][1]) == n
    _same(_run(fused, tiles, {100: first}), _run(steps, tiles, {100: first}))


def _run(steps, tiles, messages):
    V, F = [tiles.copy()], {g: m.copy() for g, m in messages.items()}
    for _, s in steps:
        s(V, F, [], [])
    return V[0], F


def _same(a, b):
    (va, fa), (vb, fb) = a, b
    assert va.tobytes() == vb.tobytes()
    assert set(fa) == set(fb)
    assert all(fa[g].tobytes() == fb[g].tobytes() for g in fa)


def test_short_or_broken_chains():
    short = _stages(2, 1)  # receive, forward, receive: fewer than MIN_STEPS
    assert 3 < MIN_STEPS
    assert not any(chained(s) for _, s in vectorise_chains(short))
    half = _stages(6, 1, dtype=np.float16)  # half floats combine in float32: not folded
    assert not any(chained(s) for _, s in vectorise_chains(half))
    # stage 2's forward missing: stage 3 takes message 2 from elsewhere, so stages 0-2 and
    # 3-5 are two chains of 3, folded side by side
    broken = _stages(6, 1)
    del broken[5]
    fused = vectorise_chains(broken)
    assert [chained(s) for _, s in fused] == [6, 0]
    rng = np.random.default_rng(3)
    tiles = rng.standard_normal((2, 7, 3)).astype(np.float32)
    msgs = {g: rng.standard_normal((2, 1, 3)).astype(np.float32) for g in (100, 2)}
    _same(_run(fused, tiles, msgs), _run(broken, tiles, msgs))


def test_a_place_combined_twice_ends_the_run():
    """Its second stage reads the first one's sum: the stages before it fold, it and those
    after start a run of their own."""
    steps = _stages(6, 1)
    again = [*steps, *_stages(6, 1)[:2]]  # col 1 once more, taking message 100 again
    run, end, _ = chains._run_at(again, 0)
    assert len(run) == 6 and end == 12


def _tree_level(
    lengths: list[int], axis: int, step: int, sends: bool, across: int = 3, lanes: int = 2
):
    """Run steps of one level of a tree allreduce along `axis` of buffer 0 (w = 4 places per
    chain along it, or the longest chain's length; 3 PEs the other way, 2 floats each): chain
    k over `lengths[k]` places `step`-th apart from w * k (backwards from w * k + w - 1 when
    step is -1; w * k, w * k + 2, w * k + 3 when step is 2, unevenly), its first message
    (key 100 + k) sent from its first place when `sends`, else received from elsewhere;
    each stage a loop over the chains that long (receive, forward: key 10 * stage + k); the
    last stage's forwards are taken later."""
    out = []

    def tile(p):
        sel = [slice(0, across), slice(0, across), slice(0, lanes)]
        sel[axis] = slice(p, p + 1)
        return tuple(sel)

    src = tuple(slice(0, 1) if a == axis else slice(0, across) for a in range(2))
    w = max(4, *lengths)
    if step == 2:
        places = [[w * k, w * k + 2, w * k + 3][:n] for k, n in enumerate(lengths)]
    else:
        first = [w * k if step > 0 else w * k + w - 1 for k in range(len(lengths))]
        places = [[f + step * i for i in range(n)] for f, n in zip(first, lengths, strict=True)]
    if sends:
        for k, where in enumerate(places):
            sel = tile(where[0])

            def send(V, F, A, O, sel=sel, key=100 + k):
                F[key] = V[0][sel].copy()

            out.append(annotate(send, Access(reads={0: sel}, sent=100 + k)))
    top = 1 if sends else 0  # the first receiving stage
    for n in range(top, max(lengths)):
        for k, where in enumerate(places):
            if n >= len(where):
                continue
            dst, g = tile(where[n]), (100 + k if n == top else 10 * (n - 1) + k)

            def stage(V, F, A, O, dst=dst, g=g):
                np.add(V[0][dst], F[g][src], out=V[0][dst])
                del F[g]

            rec = ChainStage(0, dst, g, src, "sum", True, np.dtype(np.float32))
            out.append(set_chain_stage(stage, rec))

            def forward(V, F, A, O, dst=dst, key=10 * n + k):
                F[key] = V[0][dst].copy()

            out.append(annotate(forward, Access(reads={0: dst}, sent=10 * n + k)))
    return list(enumerate(out))


def _level_data(chains_: int, axis: int, sends: bool, seed: int, w: int = 4):
    rng = np.random.default_rng(seed)
    shape = [3, 3, 2]
    shape[axis] = w * chains_
    tiles = rng.standard_normal(shape).astype(np.float32)
    one = [3, 3, 2]
    one[axis] = 1
    msgs = (
        {}
        if sends
        else {100 + k: rng.standard_normal(one).astype(np.float32) for k in range(chains_)}
    )
    return tiles, msgs


@pytest.mark.parametrize("axis", [0, 1])
@pytest.mark.parametrize("step", [1, -1, 2])
@pytest.mark.parametrize("sends", [True, False])
def test_chains_side_by_side_fold_as_their_stages_do(axis, step, sends):
    """A tree level's chains, each stage a loop over them: one step, bit for bit (even
    places: strided views of SRAM; uneven: a gathered copy), the first sends dropped."""
    steps = _tree_level([3] * 5, axis, step, sends)
    fused = vectorise_chains(steps)
    stages = 5 * (2 if sends else 3)
    # the fold, then the last stage's forwards (taken later)
    assert [chained(s) for _, s in fused] == [stages] + [0] * 5
    tiles, msgs = _level_data(5, axis, sends, axis * 10 + step + 1)
    _same(_run(fused, tiles, msgs), _run(steps, tiles, msgs))


@pytest.mark.parametrize("axis", [0, 1])
@pytest.mark.parametrize("step", [1, -1])
def test_chains_on_lane_major_tiles_fold_as_their_stages_do(axis, step):
    """Chains across 24 PEs of 10 lanes, each lane one plane (a lane-major SRAM block): the
    stages of column chains run along the rows (`long_last`: numpy's loop would run along the
    4 chains), the same bits as the stages one by one, the tiles' layout kept."""
    steps = _tree_level([8] * 4, axis, step, True, across=24, lanes=10)
    fused = vectorise_chains(steps)
    assert [chained(s) for _, s in fused] == [4 * 7] + [0] * 4  # (the sends fold in)
    shape = [24, 24, 10]
    shape[axis] = 32
    rng = np.random.default_rng(3 + axis)
    planes = rng.standard_normal((10, *shape[:2])).astype(np.float32)
    tiles = planes.transpose(1, 2, 0)
    stage = tiles[:, 1::8] if axis == 1 else tiles[1::8]
    assert (chains.long_last(stage) is not None) == (axis == 1)

    def run(steps):
        V, F = [np.copy(tiles, order="K")], {}
        for _, s in steps:
            s(V, F, [], [])
        assert V[0].strides == tiles.strides
        return V[0], F

    _same(run(fused), run(steps))


@pytest.mark.parametrize("axis", [0, 1])
@pytest.mark.parametrize("sends", [True, False])
@pytest.mark.parametrize("count", [1, 3])
def test_many_small_stages_accumulate(axis, sends, count):
    """Chains of 10 stages of 6 floats: one `accumulate` (one chain: in a view of the tiles;
    3 side by side: on a gathered copy), bit for bit."""
    n = chains.ACCUMULATE_STAGES + 2
    steps = _tree_level([n] * count, axis, 1, sends)
    fused = vectorise_chains(steps)
    assert [chained(s) for _, s in fused] == [count * (n - 1 if sends else n)] + [0] * count
    tiles, msgs = _level_data(count, axis, sends, 9 + axis, w=n)
    _same(_run(fused, tiles, msgs), _run(steps, tiles, msgs))


@pytest.mark.parametrize("sends", [True, False])
def test_chains_at_uneven_places_fold_on_a_copy(sends):
    """Chains starting at places 0, 4 and 12 (the third of 4 left out): no stage's places
    step evenly, so the fold gathers a copy and writes it back, bit for bit."""
    steps = [
        (k, s)
        for k, s in _tree_level([3] * 4, 0, 1, sends)
        if not any(8 <= sel[0].start < 12 for sel in _tiles_of(s))
    ]
    fused = vectorise_chains(steps)
    assert [chained(s) for _, s in fused] == [3 * (2 if sends else 3)] + [0] * 3
    tiles, msgs = _level_data(4, 0, sends, 11)
    msgs.pop(102, None)
    _same(_run(fused, tiles, msgs), _run(steps, tiles, msgs))


def _tiles_of(step):
    stage = chains.chain_stage(step)
    if stage is not None:
        return [stage.dst]
    acc = access_of(step)
    return list(acc.reads.values()) if acc is not None else []


def test_chains_of_other_lengths_fold_apart():
    """One run, chains of two lengths: a fold each; one chain too short keeps its steps."""
    steps = _tree_level([4, 2, 4, 2, 4, 2], 0, 1, sends=True)
    fused = vectorise_chains(steps)
    assert sorted(chained(s) for _, s in fused if chained(s)) == [3, 9]
    tiles, msgs = _level_data(6, 0, True, 5)
    _same(_run(fused, tiles, msgs), _run(steps, tiles, msgs))
    alone = _tree_level([4, 2, 4, 2], 0, 1, sends=False)
    fused = vectorise_chains(alone)
    assert sorted(chained(s) for _, s in fused if chained(s)) == [4, 8]
    lone = _tree_level([4, 4, 1], 0, 1, sends=True)  # send, receive: too short alone
    fused = vectorise_chains(lone)
    assert sorted(chained(s) for _, s in fused if chained(s)) == [6]
    tiles, msgs = _level_data(3, 0, True, 6)
    _same(_run(fused, tiles, msgs), _run(lone, tiles, msgs))


def test_a_first_message_taken_twice_keeps_the_steps():
    """Two chains starting from one message (a multicast): not folded."""
    steps = _tree_level([3, 3], 0, 1, sends=False)
    rec = chains.chain_stage(steps[2][1])
    assert rec is not None and rec.batch == 101
    set_chain_stage(steps[2][1], replace(rec, batch=100, release=False))
    assert not any(chained(s) for _, s in vectorise_chains(steps))


def test_a_first_message_of_another_type_runs_the_stages():
    steps = _stages(5, 1)
    fused = vectorise_chains(steps)
    assert chained(fused[0][1])
    tiles = np.arange(2 * 6 * 3, dtype=np.float32).reshape(2, 6, 3)
    first = np.full((2, 1, 3), 0.1, dtype=np.float64)  # the stage casts once: other bits
    runs = []
    for run in (steps, fused):
        V, F = [tiles.copy()], {100: first.copy()}
        for _, s in run:
            s(V, F, [], [])
        runs.append(V[0])
    assert runs[0].tobytes() == runs[1].tobytes()


def _allreduce_program(algorithm: str, grid: tuple[int, int], a: np.ndarray):
    """Sums over each axis and both of `a` on `grid`, on the mesh (allreduce) and read by the
    host (reduce), with `algorithm` forced on every collective: (executable, arguments)."""
    lay = pf.MeshLayout.grid(*grid)
    x = pf.from_numpy(a, layout=lay)
    module, _, inputs = trace_module([x.sum(dim=0) * 1, x.sum(dim=1) + 1, (x * 2).sum()])
    compiler.lower(module, "mesh")
    for op in module.walk():
        if isinstance(op, mesh.AllReduceOp | mesh.ReduceOp):
            op.properties["algorithm"] = mesh.CollectiveAlgorithmAttr(
                CollectiveAlgorithm(algorithm)
            )
    return compiler.compile_module(module), list(inputs)


@pytest.mark.parametrize("algorithm", ["tree", "tree3", "ktree"])
@pytest.mark.parametrize("grid", [(13, 3), (5, 17), (16, 7)])
def test_tree_allreduces_fold_bit_for_bit(algorithm, grid):
    """A tree of chains on odd grids: fewer run steps, the outputs of the unfolded steps
    and of `run_on_sram` bit for bit, the same cycles."""
    rng = np.random.default_rng(grid[0] * grid[1])
    a = (rng.standard_normal((2 * grid[0] + 1, 3 * grid[1] - 1)) * 1e3).astype(np.float32)
    exe, args = _allreduce_program(algorithm, grid, a)
    unfolded = [(k, s) for k, s in enumerate(exe.lean_steps) if not is_noop(s)]
    assert sum(chained(s) for _, s in exe.run_steps) >= max(grid) // 2
    assert len(exe.run_steps) < len(unfolded)
    outs, report = exe.run(args)
    plain, plain_report, _ = exe._run(args, unfolded, exe.new_sram())
    exact, exact_report, _ = exe.run_on_sram(args)
    assert report.cycles == plain_report.cycles == exact_report.cycles
    for got, want, sram in zip(outs, plain, exact, strict=True):
        assert got.tobytes() == want.tobytes() == sram.tobytes()
    np.testing.assert_allclose(outs[0], a.sum(axis=0), rtol=1e-4, atol=1e-1)
    np.testing.assert_allclose(outs[1], a.sum(axis=1) + 1, rtol=1e-4, atol=1e-1)
    np.testing.assert_allclose(outs[2], 2 * a.sum(), rtol=1e-4, atol=10.0)
