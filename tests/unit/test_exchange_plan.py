"""pyflame.core.exchange_plan: an exchange's messages, grouped into phases one color can carry
(paths, rule agreement, route rectangles, phase counts for the usual layouts)."""

from __future__ import annotations

import random

import numpy as np
import pytest

from pyflame.core.distribution import Distribution
from pyflame.core.exchange_plan import (
    Phase,
    exchange_phases,
    message_pairs,
    pack_phases,
    rectangles,
    xy_hops,
)


def test_xy_hops_go_along_the_row_then_the_column_and_end_at_the_ramp():
    assert xy_hops((0, 0), (2, 1)) == [
        (0, 0, "ramp", "east"),
        (0, 1, "west", "south"),
        (1, 1, "north", "south"),
        (2, 1, "north", "ramp"),
    ]
    assert xy_hops((1, 2), (1, 0)) == [
        (1, 2, "ramp", "west"),
        (1, 1, "east", "west"),
        (1, 0, "east", "ramp"),
    ]


def test_rectangles_cover_the_cells_exactly():
    rng = random.Random(1)
    for _ in range(200):
        cells = {(rng.randrange(6), rng.randrange(6)) for _ in range(rng.randrange(1, 30))}
        covered = [
            (r, c)
            for r0, c0, nr, nc in rectangles(cells)
            for r in range(r0, r0 + nr)
            for c in range(c0, c0 + nc)
        ]
        assert sorted(covered) == sorted(cells)
    assert rectangles({(0, 0), (0, 1), (1, 0), (1, 1), (2, 1)}) == [(0, 0, 2, 2), (2, 1, 1, 1)]


def _phases(shape, src, dst, index_map=None):
    (sg, ss), (dg, dsplit) = src, dst
    return exchange_phases(Distribution(shape, sg, ss), Distribution(shape, dg, dsplit), index_map)


LAYOUTS = [
    ((8, 8), ((1, 1), ("", "")), ((4, 4), ("r", "c"))),
    ((8, 8), ((4, 4), ("r", "c")), ((1, 1), ("", ""))),
    ((16, 16), ((2, 2), ("r", "c")), ((4, 4), ("r", "c"))),
    ((16, 16), ((4, 4), ("r", "c")), ((4, 4), ("c", "r"))),
    ((12, 5), ((2, 3), ("rc", "")), ((3, 2), ("r", "c"))),
]


@pytest.mark.parametrize("shape,src,dst", LAYOUTS)
def test_phases_carry_every_remote_pair_once_with_agreeing_rules(shape, src, dst):
    plan = _phases(shape, src, dst)
    gr, gc = plan.has_src.shape[:2]
    rows = np.broadcast_to(np.arange(gr)[:, None, None], plan.has_src.shape)
    cols = np.broadcast_to(np.arange(gc)[None, :, None], plan.has_src.shape)
    m = plan.has_src & ~plan.local
    pairs = {
        ((a, b), (c, d))
        for a, b, c, d in zip(plan.src_row[m], plan.src_col[m], rows[m], cols[m], strict=True)
    }
    carried = [msg for phase in plan.phases for msg in phase.messages]
    assert sorted(carried) == sorted(pairs)
    for phase in plan.phases:
        sources = [s for s, _ in phase.messages]
        assert len(sources) == len(set(sources))  # one message per source and color
        for s, d in phase.messages:  # following the phase's rules from s ends at d's ramp
            r, c, port = s[0], s[1], "ramp"
            for _ in range(64):
                out = phase.rules[(r, c, port)]
                if out == "ramp":
                    break
                r += {"south": 1, "north": -1}.get(out, 0)
                c += {"east": 1, "west": -1}.get(out, 0)
                port = {"east": "west", "west": "east", "south": "north", "north": "south"}[out]
            assert (r, c) == d
        stated = {
            (r, c, p): out
            for (r0, c0, nr, nc), p, out in phase.routes
            for r in range(r0, r0 + nr)
            for c in range(c0, c0 + nc)
        }
        assert stated == phase.rules


def test_phase_counts_of_the_usual_layouts():
    """A gather onto one PE is one phase (paths merge toward it); a transpose on g x g needs
    g - 1; a scatter from one PE sends one message per phase, so g*g - 1."""
    assert len(_phases((8, 8), ((4, 4), ("r", "c")), ((1, 1), ("", ""))).phases) == 1
    assert len(_phases((16, 16), ((4, 4), ("r", "c")), ((4, 4), ("c", "r"))).phases) == 3
    assert len(_phases((8, 8), ((1, 1), ("", "")), ((4, 4), ("r", "c"))).phases) == 15
    local = _phases((8, 8), ((1, 4), ("", "c")), ((1, 4), ("", "c")), (((2, 0), (2, 1))))
    assert local.phases == [] and local.has_local_part


def first_fit(pairs: list[tuple[int, int, int, int]]) -> list[Phase]:
    """The packing's definition: each message into the first phase whose rules it agrees with
    (`Phase.fits`), a new phase when none does."""
    phases: list[Phase] = []
    for sr, sc, dr, dc in pairs:
        if (sr, sc) == (dr, dc):
            continue
        hops = xy_hops((sr, sc), (dr, dc))
        phase = next((p for p in phases if p.fits((sr, sc), hops)), None)
        if phase is None:
            phase = Phase()
            phases.append(phase)
        phase.add((sr, sc), (dr, dc), hops)
    return phases


def test_packing_by_bitsets_is_first_fit():
    """pack_phases finds each message's phase in one pass over its hops; it must give the
    phases (messages and rules) that trying every phase in turn gives."""
    rng = np.random.default_rng(5)
    for _ in range(60):
        side = int(rng.integers(2, 9))
        count = int(rng.integers(1, 120))
        pairs = sorted({tuple(int(v) for v in rng.integers(0, side, 4)) for _ in range(count)})
        expected, got = first_fit(pairs), pack_phases(pairs)
        assert [p.messages for p in got] == [p.messages for p in expected]
        assert [p.rules for p in got] == [p.rules for p in expected]


def test_message_pairs_are_the_sorted_distinct_rows():
    rng = np.random.default_rng(6)
    for _ in range(40):
        n = int(rng.integers(1, 300))
        cols = [rng.integers(0, int(rng.integers(1, 12)), n) for _ in range(4)]
        expected = np.unique(np.stack(cols, axis=1), axis=0).tolist()
        assert [list(p) for p in message_pairs(*cols)] == expected
    empty = np.zeros(0, dtype=np.int64)
    assert message_pairs(empty, empty, empty, empty) == []
