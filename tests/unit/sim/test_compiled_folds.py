"""Compiled folds of reduction chains (pyflame/sim/compiled/chain_folds.py): a folded run of
chain stages gives the stage-by-stage run's bits on lane-major tiles, along PE rows and columns,
from sends or from messages received, at even and uneven places; sums and products."""

from __future__ import annotations

import numpy as np
import pytest
from test_chains import _tree_level

from pyflame.sim import compiled
from pyflame.sim.chains import chained, vectorise_chains
from pyflame.sim.sram import BufferViews

folds = compiled.kernels("chain_folds")
pytestmark = [
    pytest.mark.skipif(folds is None, reason="numba does not import here"),
    pytest.mark.filterwarnings("ignore::RuntimeWarning"),  # (inf * 0 and friends, on purpose)
]


def _lane_major(rng: np.random.Generator, shape: list[int]) -> np.ndarray:
    values = rng.standard_normal((shape[2], *shape[:2])).astype(np.float32) * 100
    values.reshape(-1)[::37] = np.inf
    values.reshape(-1)[::41] = -0.0
    return values.transpose(1, 2, 0)


def _run(steps, tiles, messages):
    V, F = [np.copy(tiles, order="K")], {g: m.copy() for g, m in messages.items()}
    for _, s in steps:
        s(V, F, [], [])
    assert V[0].strides == tiles.strides
    return V[0], F


@pytest.mark.parametrize("axis", [0, 1])
@pytest.mark.parametrize("step", [1, -1, 2])
@pytest.mark.parametrize("sends", [True, False])
def test_compiled_folds_give_the_stages_bits(monkeypatch, axis, step, sends):
    monkeypatch.setattr(compiled, "MIN_WORK", 0)  # (these chains are small)
    calls = []
    real = folds.bound
    monkeypatch.setattr(folds, "bound", lambda *a: calls.append(1) or real(*a))
    steps = _tree_level([3] * 5, axis, step, sends, across=24, lanes=10)
    fused = vectorise_chains(steps)
    assert chained(fused[0][1])
    rng = np.random.default_rng(axis * 10 + step + 2)
    shape = [24, 24, 10]
    shape[axis] = 20
    tiles = _lane_major(rng, shape)
    one = [24, 24, 10]
    one[axis] = 1
    msgs = {} if sends else {100 + k: rng.standard_normal(one).astype(np.float32) for k in range(5)}
    (got, f_got), (want, f_want) = _run(fused, tiles, msgs), _run(steps, tiles, msgs)
    assert calls == [1]
    assert got.tobytes() == want.tobytes()
    assert set(f_got) == set(f_want) and all(
        f_got[g].tobytes() == f_want[g].tobytes() for g in f_got
    )


@pytest.mark.parametrize("axis", [0, 1])
def test_a_fold_kept_for_an_sram_folds_its_new_values(monkeypatch, axis):
    """On an SRAM's views (`BufferViews`), the fold made at the first run is kept in its
    `derived` dict: later runs fold the values the tiles hold then, with the stages' bits;
    with the tier switched off, the numpy path runs."""
    monkeypatch.setattr(compiled, "MIN_WORK", 0)
    calls = []
    real = folds.bound
    monkeypatch.setattr(folds, "bound", lambda *a: calls.append(1) or real(*a))
    steps = _tree_level([3] * 5, axis, 1, True, across=24, lanes=10)
    fused = vectorise_chains(steps)
    rng = np.random.default_rng(axis + 30)
    shape = [24, 24, 10]
    shape[axis] = 20
    V = BufferViews([_lane_major(rng, shape)])
    for run in range(3):
        if run == 2:
            monkeypatch.setattr(compiled, "_enabled", False)
        V[0][...] = _lane_major(rng, shape)
        want, _ = _run(steps, V[0], {})
        for _, s in fused:
            s(V, {}, [], [])
        assert V[0].tobytes() == want.tobytes(), run
    assert calls == [1] and len(V.derived) == 1


@pytest.mark.parametrize("axis", [0, 1])
@pytest.mark.parametrize("kind", ["sum", "prod"])
@pytest.mark.parametrize(
    "places",
    [
        [[0, 5], [2, 7], [3, 11], [1, 9]],
        [[0, 5], [2, 3], [3, 7], [1, 9]],  # (place 3 twice: the stage-major fold along cols)
    ],
)
def test_fold_combines_stage_after_stage(axis, kind, places):
    """`bound(...)()` itself: stage s of chain k at place table[s, k] becomes its tiles combined with
    stage s - 1's, the tiles first (the receive's order), on every lane in range, stage after
    stage over the chains."""
    rng = np.random.default_rng(7)
    tiles = _lane_major(rng, [12, 14, 6])
    table = np.array(places, dtype=np.int64)
    other, lanes = (2, 10), (1, 5)
    want = tiles.copy()
    ufunc = np.add if kind == "sum" else np.multiply
    for s in range(1, 4):
        for k in range(2):
            sel = [slice(*other), slice(*other)]
            cur, prev = list(sel), list(sel)
            cur[axis], prev[axis] = table[s, k], table[s - 1, k]
            a, b = want[(*cur, slice(*lanes))], want[(*prev, slice(*lanes))]
            want[(*cur, slice(*lanes))] = ufunc(a, b)
    assert folds.applies(tiles, axis, kind)
    got = np.copy(tiles, order="K")
    folds.bound(got, table, axis, other, lanes, kind)()
    assert got.tobytes() == want.tobytes()


def test_what_fold_does_not_take():
    tiles = np.zeros((4, 4, 3), np.float32)  # (PE-major: a tile's lanes contiguous)
    assert not folds.applies(tiles, 0, "sum")
    planes = np.zeros((3, 4, 4), np.float32).transpose(1, 2, 0)
    assert folds.applies(planes, 1, "prod")
    assert not folds.applies(planes, 0, "max")  # (numpy's maximum: its own NaN rules)
    assert not folds.applies(planes.astype(np.float16), 0, "sum")


def test_a_small_chain_folds_compiled_once_a_large_one_loaded_the_kernels(monkeypatch):
    """Below `compiled.MIN_WORK` a chain never imports numba itself (`compiled.loaded`), but
    folds compiled, with the stages' bits, once the kernels are loaded."""
    calls = []
    real = folds.bound
    monkeypatch.setattr(folds, "bound", lambda *a: calls.append(1) or real(*a))
    steps = _tree_level([3] * 5, 0, 1, True, across=24, lanes=2)  # (~1,000 elements of work)
    rng = np.random.default_rng(40)
    tiles = _lane_major(rng, [20, 24, 2])
    want, _ = _run(steps, tiles, {})
    monkeypatch.delitem(compiled._loaded, "chain_folds")  # (as in a process that never did)
    got, _ = _run(vectorise_chains(steps), tiles, {})
    assert calls == [] and got.tobytes() == want.tobytes()
    assert compiled.loaded("chain_folds") is None
    monkeypatch.setitem(compiled._loaded, "chain_folds", folds)
    got, _ = _run(vectorise_chains(steps), tiles, {})
    assert calls == [1] and got.tobytes() == want.tobytes()
