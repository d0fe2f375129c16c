"""A forwarding chain's stages as one step (pyflame/sim/chains.py): `Executable.run` folds a
reduction chain with `accumulate`, bit for bit the stage-by-stage run, cycles unchanged."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

import pyflame as pf
from pyflame import compiler, trace
from pyflame.sim import chains
from pyflame.sim.chains import MIN_STEPS, ChainStage, chained, set_chain_stage, vectorise_chains
from pyflame.sim.planner import compile_plan
from pyflame.sim.step_access import Access, annotate


def _plan(outputs: list):
    tr = trace.trace(outputs)
    module = tr.module()
    compiler.lower(module, "pe")
    return compile_plan(module), tr.inputs()


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
    exe, args = _plan([out])
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
        cols = [0, 2, 3, 5, 6, 1][:n]
    out = []
    for k, c in enumerate(cols):
        dst = (slice(0, 2), slice(c, c + 1), slice(0, 3))
        g = 100 if k == 0 else k - 1
        src = (slice(0, 2), slice(0, 1))

        def stage(V, F, A, O, dst=dst, g=g, src=src):
            V[0][dst] = (np.add if kind == "sum" else np.multiply)(V[0][dst], F[g][src])
            del F[g]

        out.append(set_chain_stage(stage, ChainStage(0, dst, g, src, kind, True, np.dtype(dtype))))

        def forward(V, F, A, O, dst=dst, k=k):
            F[k] = V[0][dst].copy()

        out.append(annotate(forward, Access(reads={0: dst}, sent=k)))
    return list(enumerate(out))


@pytest.mark.parametrize("step", [1, -1, 2])
@pytest.mark.parametrize("kind", ["sum", "prod"])
def test_chain_steps_fold_as_the_stages_do(step, kind):
    rng = np.random.default_rng(7)
    n = 6
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


def test_short_or_broken_chains_keep_their_steps():
    short = _stages(2, 1)
    assert not any(chained(s) for _, s in vectorise_chains(short))
    broken = _stages(6, 1)
    del broken[5]  # stage 3's forward missing: stages 0-2 and 3-5 are each too short
    assert not any(chained(s) for _, s in vectorise_chains(broken))
    half = _stages(6, 1, dtype=np.float16)  # half floats combine in float32: not folded
    assert not any(chained(s) for _, s in vectorise_chains(half))
    stages = [s.chain_stage for _, s in _stages(6, 1)[::2]]
    assert chains._line(stages) is not None
    # a PE combined twice (its second stage would read the first one's sum): not one fold
    assert chains._line([*stages, replace(stages[-1], dst=stages[0].dst)]) is None


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
