"""Consecutive exchange phases timed together (pyflame/sim/exchange_run.py): max-min fair link
shares, the walk's extra cycles, and the programs whose timing it fixed (matmul sweep seed 14
cases 20 and 110) against the wavelet engine, phase by phase as the fallback."""

from __future__ import annotations

import fidelity_corpus as corpus
import numpy as np
import pytest

from pyflame.core import link_sharing
from pyflame.sim import exchange_run


def _rates(links: list[list[int]], go: list[int]) -> list[float]:
    e_from = np.r_[0, np.cumsum([len(ls) for ls in links])]
    e_link = np.array([lk for ls in links for lk in ls], dtype=np.int64)
    return link_sharing.fair_rates(np.array(go), e_from, e_link).tolist()


def test_fair_rates_give_a_message_slowed_elsewhere_s_turns_to_the_others():
    # link 1 carries B, C, D (a third each); link 0 carries A and B: A gets what B leaves
    links = [[0], [0, 1], [1], [1]]
    got = _rates(links, [0, 1, 2, 3])
    assert got == pytest.approx([2 / 3, 1 / 3, 1 / 3, 1 / 3])
    # only the messages that progress share: A and C alone have a link each
    assert _rates(links, [0, 2]) == pytest.approx([1.0, 1.0])
    assert _rates(links, [0, 1]) == pytest.approx([0.5, 0.5])


def _case(name: str) -> corpus.Case:
    (case,) = [c for c in corpus.exchange_timing_programs() if c.name == name]
    return case


SHARED = "redistributions sharing links: summa 68x1 @ 1x44 on 4x4 at (0, 9)"
ALL_TO_ALL = "redistributions sharing links: summa 55x48 @ 48x8 on 8x8 at (0, 0)"


@pytest.mark.parametrize("name,within", [(SHARED, 0.025), (ALL_TO_ALL, 0.05)])
def test_phases_in_a_row_agree_with_the_wavelet_engine(name, within, monkeypatch):
    """Two redistributions whose phases cross links at once (A's from column 9, B's from row
    0, all west along row 0), and an all-to-all whose sources run ahead of busy receivers:
    timed together they are within 2.5% (the all-to-all: 5%) of the wavelet engine, with the
    same outputs; phase by phase (the fallback for large runs) the fast engine was 7.5% and
    9% early. (The all-to-all was 2% late until session 29 gave a link to the head that
    reaches it first, not to the first message in order: 4.3% late since, while converging
    messages elsewhere went from 18% early to within 5%: fidelity_corpus "converging
    heads".)"""
    together = corpus.compare(_case(name))
    assert together.verdict == "agree", together.detail
    assert abs(together.ratio - 1) < within, (together.fast_cycles, together.wavelet_cycles)
    monkeypatch.setattr(link_sharing, "MAX_RUN_MESSAGES", 0)
    alone = corpus.compare(_case(name))
    assert alone.wavelet_cycles == together.wavelet_cycles
    assert alone.fast_cycles < together.fast_cycles
    assert alone.ratio > 1.05


def test_the_walk_slows_the_messages_that_share_a_link(monkeypatch):
    """In the program of seed 14 case 20, A's phase-1 message from (0, 9) west to (0, 0) shares
    the link (0, 9) -> (0, 8) with B's messages from (0, 10..12), ready at once: the walk adds
    cycles to it; B's messages that meet nothing add none."""
    made: list = []
    make = exchange_run.RunPlan.make

    def spy(s, op):
        run = make(s, op)
        made.append(run)
        return run

    monkeypatch.setattr(exchange_run.RunPlan, "make", staticmethod(spy))
    corpus.compare(_case(SHARED))
    runs = [r for r in made if r.extra is not None]
    assert runs, "no run timed together"
    extras = [e for r in runs for e in r.extra.values()]
    assert all((e >= 0).all() for e in extras)
    assert any((e > 0).any() for e in extras)
    assert any((e == 0).any() for e in extras)
