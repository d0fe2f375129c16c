"""pyflame/core/link_sharing.py: max-min fair link shares (every local bottleneck filled at
once must give what filling one level at a time gives), and the walk's extra cycles on runs
small enough to time by hand. The programs it times are checked against the wavelet engine in
tests/unit/sim/test_exchange_run.py and against the cost model in
tests/unit/test_cost_model_data_movement.py."""

from __future__ import annotations

import numpy as np
import pytest

import pyflame as pf
from pyflame.core import link_sharing
from pyflame.core.link_sharing import fair_rates, network_phase, walk


def level_by_level(go: np.ndarray, e_from: np.ndarray, e_link: np.ndarray) -> np.ndarray:
    """Water filling as first written (session 27): the least share of all links, then its
    messages frozen at it, one level a round."""
    rate = np.ones(go.size)
    msg = np.concatenate([np.full(e_from[g + 1] - e_from[g], i) for i, g in enumerate(go)])
    lk = np.concatenate([e_link[e_from[g] : e_from[g + 1]] for g in go])
    left = np.ones(int(lk.max()) + 1)
    todo = np.ones(go.size, dtype=bool)
    while todo.any():
        users = np.bincount(lk, minlength=left.size)
        share = np.where(users > 0, left / np.maximum(users, 1), np.inf)
        least = share.min()
        hit = np.zeros(go.size, dtype=bool)
        hit[msg[share[lk] <= least * (1 + 1e-9)]] = True
        rate[hit] = least
        todo &= ~hit
        out = hit[msg]
        left -= np.bincount(lk[out], minlength=left.size) * least
        msg, lk = msg[~out], lk[~out]
    return rate


@pytest.mark.parametrize("seed", range(40))
def test_local_bottlenecks_at_once_give_the_level_by_level_rates(seed):
    """Random messages over few links (many shared, several levels, independent groups)."""
    rng = np.random.default_rng(seed)
    n, links = int(rng.integers(2, 40)), int(rng.integers(2, 30))
    paths = [
        rng.choice(links, size=int(rng.integers(1, min(links, 6) + 1)), replace=False)
        for _ in range(n)
    ]
    e_from = np.r_[0, np.cumsum([p.size for p in paths])]
    e_link = np.concatenate(paths).astype(np.int64)
    go = np.sort(rng.choice(n, size=int(rng.integers(1, n + 1)), replace=False))
    expected = level_by_level(go, e_from, e_link)
    got = fair_rates(go, e_from, e_link, links)
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    assert (got <= 1).all() and (got > 0).all()
    # no link carries more than a wavelet a cycle
    load = np.zeros(links)
    for rate, g in zip(got, go, strict=True):
        load[e_link[e_from[g] : e_from[g + 1]]] += rate
    assert (load <= 1 + 1e-9).all()


def test_fair_rates_of_messages_on_no_shared_link_are_whole():
    e_from = np.array([0, 2, 3, 3])  # message 2 crosses no link the rates see
    e_link = np.array([0, 1, 2])
    assert fair_rates(np.array([0, 1, 2]), e_from, e_link, 3).tolist() == [1.0, 1.0, 1.0]


def _clocks(pes: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    zero = np.zeros(pes, dtype=np.int64)
    return zero, zero.copy(), zero.copy()


def test_two_colors_on_one_link_go_at_half_rate():
    """A: (0, 0) -> (0, 2) on color 0 and B: (0, 1) -> (1, 2) on color 1, both ready at 0,
    share the link east of (0, 1): each gets half of it for the whole stream, so each ends one
    stream later (extra = its cycles); A's other link and B's column link are A's and B's
    alone."""
    t, cols, w = pf.sim.SMALL, 3, 100
    a = network_phase(t, 0, [0], [0], [0], [2], np.array([w]), cols)
    b = network_phase(t, 1, [0], [1], [1], [2], np.array([w]), cols)
    extra = walk(t, [a, b], *_clocks(2 * cols))
    assert extra is not None
    assert [e.tolist() for e in extra if e is not None] == [[w], [w]]


def test_a_run_whose_links_each_carry_one_color_is_left_to_the_phases():
    """Nothing is shared: the walk gives None (phase by phase is exact), and so it does when
    two phases cross one link on one color."""
    t, cols = pf.sim.SMALL, 4
    a = network_phase(t, 0, [0], [0], [0], [1], np.array([50]), cols)
    b = network_phase(t, 1, [1], [0], [1], [1], np.array([50]), cols)
    assert walk(t, [a, b], *_clocks(2 * cols)) is None
    same = network_phase(t, 0, [0], [1], [0], [2], np.array([50]), cols)
    assert walk(t, [a, same], *_clocks(2 * cols)) is None


def test_a_run_too_large_to_walk(monkeypatch):
    assert not link_sharing.too_large(link_sharing.MAX_RUN_MESSAGES, 0)
    assert link_sharing.too_large(link_sharing.MAX_RUN_MESSAGES + 1, 0)
    assert link_sharing.too_large(0, link_sharing.MAX_RUN_ENTRIES + 1)
    monkeypatch.setattr(link_sharing, "MAX_RUN_MESSAGES", 0)
    assert link_sharing.too_large(1, 0)
