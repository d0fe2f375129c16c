"""RouteTable.trace crosses runs of straight-on routers (that may also copy the wavelet to their
PE: a broadcast's) in one step (fabric.STRAIGHT_RUNS): the same trace as hop by hop (every
link, delivery, hop count and order) and the same errors, on random rule tables, broadcasts
and whole programs."""

from __future__ import annotations

import numpy as np
import pytest

from pyflame.core.errors import RoutingError
from pyflame.sim import fabric
from pyflame.sim.fabric import RouteTable

TRACE = RouteTable.trace


def both_ways(table: RouteTable, color: int, sr: np.ndarray, sc: np.ndarray):
    """The trace (or the RoutingError's message) with runs and hop by hop."""
    out = []
    for runs in (True, False):
        table._cache.clear()
        old, fabric.STRAIGHT_RUNS = fabric.STRAIGHT_RUNS, runs
        try:
            tr = TRACE(table, color, sr, sc, "a send")
            out.append({k: v.tolist() for k, v in vars(tr).items() if isinstance(v, np.ndarray)})
        except RoutingError as err:
            out.append(str(err))
        finally:
            fabric.STRAIGHT_RUNS = old
    return out


def straight_paths(rng, R: int, C: int, table: RouteTable, color: int, n: int):
    """Dimension-ordered unicast paths (row leg, then column leg) from random sources, set as
    rules where they agree with the rules so far (as an exchange phase's)."""
    rules = table._table(color)
    sources = []
    for _ in range(n):
        sr, sc, dr, dc = (int(v) for v in rng.integers(0, [R, C, R, C]))
        cells = []
        r, c, port = sr, sc, fabric.RAMP
        for way, steps in (
            (fabric.EAST if dc > sc else fabric.WEST, abs(dc - sc)),
            (fabric.SOUTH if dr > sr else fabric.NORTH, abs(dr - sr)),
        ):
            for _ in range(steps):
                cells.append((r, c, port, 1 << way))
                r, c = r + int(fabric._DR[way]), c + int(fabric._DC[way])
                port = fabric._ARRIVES_ON[way]
        cells.append((r, c, port, 1 << fabric.RAMP))
        if all(rules[a, b, p] in (fabric.NO_RULE, m) for a, b, p, m in cells):
            for a, b, p, m in cells:
                rules[a, b, p] = m
            sources.append((sr, sc))
    return np.array(sources, dtype=np.int64).reshape(-1, 2)


@pytest.mark.parametrize("seed", range(12))
def test_runs_give_the_hop_by_hop_trace(seed):
    rng = np.random.default_rng(seed)
    R, C = (int(v) for v in rng.integers(2, 24, 2))
    table = RouteTable(R, C, R, C)
    src = straight_paths(rng, R, C, table, 0, int(rng.integers(1, 40)))
    a, b = both_ways(table, 0, src[:, 0], src[:, 1])
    assert a == b


@pytest.mark.parametrize("seed", range(12))
def test_runs_find_the_same_errors(seed):
    """Paths cut, turned off the program's edge, or into a loop: the same RoutingError."""
    rng = np.random.default_rng(100 + seed)
    R, C = (int(v) for v in rng.integers(3, 16, 2))
    table = RouteTable(R, C, R + 2, C + 2)
    src = straight_paths(rng, R, C, table, 0, 1 + int(rng.integers(0, 3)))
    rules = table._table(0)
    r, c, p = (int(v) for v in rng.integers(0, [R, C, 4]))
    rules[r, c, p] = rng.choice([fabric.NO_RULE, 1 << int(rng.integers(0, 4))])
    a, b = both_ways(table, 0, src[:, 0], src[:, 1])
    assert a == b


def broadcast(table: RouteTable, color: int, sr: int, sc: int, rows: range, cols: range) -> None:
    """Rules of a broadcast from (sr, sc) to the rectangle rows x cols (which holds it): along
    its row both ways, and from every PE of that row up and down its column, each router also
    copying to its PE."""
    rules = table._table(color)
    E, W, N, S, P = fabric.EAST, fabric.WEST, fabric.NORTH, fabric.SOUTH, fabric.RAMP
    for c in cols:
        out = 1 << P
        out |= (1 << N) if sr > rows.start else 0
        out |= (1 << S) if sr < rows.stop - 1 else 0
        if c == sc:
            port, out = P, out | ((1 << E) if c < cols.stop - 1 else 0)
            out |= (1 << W) if c > cols.start else 0
        elif c > sc:
            port, out = W, out | ((1 << E) if c < cols.stop - 1 else 0)
        else:
            port, out = E, out | ((1 << W) if c > cols.start else 0)
        rules[sr, c, port] = out
        for r in rows:
            if r < sr:  # travelling north, arriving on the south port
                rules[r, c, S] = (1 << P) | ((1 << N) if r > rows.start else 0)
            elif r > sr:
                rules[r, c, N] = (1 << P) | ((1 << S) if r < rows.stop - 1 else 0)


@pytest.mark.parametrize("seed", range(10))
def test_broadcast_runs_give_the_hop_by_hop_trace(seed):
    """Row and column broadcasts with taps on every router, from one source or from a root
    per row (a SUMMA step's), in one trace: the same as hop by hop."""
    rng = np.random.default_rng(200 + seed)
    R, C = (int(v) for v in rng.integers(2, 20, 2))
    table = RouteTable(R, C, R, C)
    sc = int(rng.integers(0, C))
    if seed % 2:
        sr = int(rng.integers(0, R))
        broadcast(table, 0, sr, sc, range(R), range(C))
        src = np.array([[sr, sc]])
    else:  # one row broadcast per row, all from column sc
        for r in range(R):
            broadcast(table, 0, r, sc, range(r, r + 1), range(C))
        src = np.stack([np.arange(R), np.full(R, sc)], axis=1)
    a, b = both_ways(table, 0, src[:, 0], src[:, 1])
    assert a == b
    assert len(a["d_src"]) == R * C
    assert sorted(zip(a["d_r"], a["d_c"], strict=True)) == [
        (r, c) for r in range(R) for c in range(C)
    ]


def test_a_row_of_straight_rules_is_one_run():
    table = RouteTable(1, 8, 1, 8)
    rules = table._table(0)
    rules[0, 0, fabric.RAMP] = 1 << fabric.EAST
    rules[0, 1:7, fabric.WEST] = 1 << fabric.EAST
    rules[0, 7, fabric.WEST] = 1 << fabric.RAMP
    runs = table._straight_runs(0, rules).reshape(1, 8, 5)[0, :, fabric.WEST]
    assert runs.tolist() == [0, 6, 5, 4, 3, 2, 1, 0]
    a, b = both_ways(table, 0, np.array([0]), np.array([0]))
    assert a == b and a["l_h"] == list(range(7)) and a["d_c"] == [7]


def test_program_traces_agree(monkeypatch):
    """Every trace a redistribution and a SUMMA make, both ways."""
    import pyflame as pf

    seen = []

    def checked(self, color, sr, sc, what):
        a, b = both_ways(self, color, sr, sc)
        assert a == b
        seen.append(isinstance(a, dict))
        return TRACE(self, color, sr, sc, what)

    monkeypatch.setattr(RouteTable, "trace", checked)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((37, 29)).astype(np.float32)
    with pf.target(pf.sim.SMALL):
        a = pf.from_numpy(x, layout=pf.MeshLayout.grid(2, 3))
        b = pf.from_numpy(x.T.copy(), layout=pf.MeshLayout.grid(5, 4))
        out = (a @ b).numpy()
    np.testing.assert_allclose(out, x @ x.T, rtol=1e-4, atol=1e-4)
    assert sum(seen) > 10
