"""pyflame.core.exchange_plan: an exchange's messages, grouped into phases one color can carry
(paths, rule agreement, route rectangles, phase counts for the usual layouts)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import numpy as np
import pytest

from pyflame.core.distribution import Distribution
from pyflame.core.exchange_plan import (
    Phase,
    _banded_summary,
    _column_rectangles,
    counted_message_pairs,
    exchange_phases,
    global_coords,
    message_pairs,
    pack_phases,
    rectangles,
    xy_hops,
    xy_legs,
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


@dataclass
class HopPhase:
    """The phases as they were first built (one rule per router a message crosses): the
    reference the packing by legs must reproduce exactly."""

    messages: list[tuple[tuple[int, int], tuple[int, int]]] = field(default_factory=list)
    rules: dict[tuple[int, int, str], str] = field(default_factory=dict)

    def fits(self, src, hops) -> bool:
        if (src[0], src[1], "ramp") in self.rules:
            return False  # one message per source and color
        return all(self.rules.get((r, c, p), out) == out for r, c, p, out in hops)

    def add(self, src, dst, hops) -> None:
        self.messages.append((src, dst))
        for r, c, p, out in hops:
            self.rules[(r, c, p)] = out

    @property
    def routes(self):
        groups: dict[tuple[str, str], set[tuple[int, int]]] = {}
        for (r, c, p), out in self.rules.items():
            groups.setdefault((p, out), set()).add((r, c))
        return [
            (rect, p, out)
            for (p, out), cells in sorted(groups.items())
            for rect in rectangles(cells)
        ]


def first_fit(pairs: list[tuple[int, int, int, int]]) -> list[HopPhase]:
    """The packing's definition: each message into the first phase whose rules it agrees with
    (`HopPhase.fits`), a new phase when none does."""
    phases: list[HopPhase] = []
    for sr, sc, dr, dc in pairs:
        if (sr, sc) == (dr, dc):
            continue
        hops = xy_hops((sr, sc), (dr, dc))
        phase = next((p for p in phases if p.fits((sr, sc), hops)), None)
        if phase is None:
            phase = HopPhase()
            phases.append(phase)
        phase.add((sr, sc), (dr, dc), hops)
    return phases


def test_legs_are_the_hops_of_the_path():
    """A path's legs (kept by the phases) state exactly the rules of its hops."""
    rng = np.random.default_rng(4)
    for _ in range(300):
        sr, sc, dr, dc = (int(v) for v in rng.integers(0, 7, 4))
        if (sr, sc) == (dr, dc):
            continue
        phase = Phase([((sr, sc), (dr, dc))])
        assert phase.rules == {(r, c, p): out for r, c, p, out in xy_hops((sr, sc), (dr, dc))}
        legs = xy_legs((sr, sc), (dr, dc))
        assert len(legs) == (sr != dr) + (sc != dc)
        assert sum(abs(end - start) for _, _, start, end, _ in legs) + 1 == len(
            xy_hops((sr, sc), (dr, dc))
        )


@pytest.mark.parametrize("side", [3, 6, 9, 17])
def test_packing_by_legs_is_first_fit_over_hops(side):
    """pack_phases finds each message's phase from its legs in O(log n) steps; it must give
    the phases (messages, rules and route rectangles) that trying every phase in turn, hop by
    hop, gives: on random message sets and on exchanges of the usual layouts."""
    rng = np.random.default_rng(side)
    for _ in range(40 if side < 10 else 6):
        count = int(rng.integers(1, 6 * side * side))
        pairs = sorted({tuple(int(v) for v in rng.integers(0, side, 4)) for _ in range(count)})
        expected, got = first_fit(pairs), pack_phases(pairs)
        assert [p.messages for p in got] == [p.messages for p in expected]
        assert [p.rules for p in got] == [p.rules for p in expected]
        assert [p.routes for p in got] == [p.routes for p in expected]


@pytest.mark.parametrize(
    "shape,src,dst",
    LAYOUTS
    + [
        ((100, 70), ((7, 5), ("r", "c")), ((16, 16), ("r", "c"))),
        ((64, 64), ((5, 3), ("c", "r")), ((13, 11), ("r", "c"))),
        ((300,), ((4, 4), ("rc",)), ((3, 9), ("c",))),
    ],
)
def test_exchange_phases_are_those_of_the_hop_packing(shape, src, dst):
    plan = _phases(shape, src, dst)
    pairs = sorted((a, b, c, d) for phase in plan.phases for (a, b), (c, d) in phase.messages)
    expected = first_fit(pairs)
    assert [p.messages for p in plan.phases] == [p.messages for p in expected]
    assert [p.routes for p in plan.phases] == [p.routes for p in expected]


def test_column_rectangles_are_the_rectangles_of_their_cells():
    rng = np.random.default_rng(8)
    for _ in range(300):
        spans = []
        for _ in range(int(rng.integers(1, 12))):
            c, lo = int(rng.integers(0, 8)), int(rng.integers(0, 10))
            spans.append((c, lo, lo + int(rng.integers(0, 6))))
        cells = {(r, c) for c, lo, hi in spans for r in range(lo, hi + 1)}
        assert _column_rectangles(spans) == rectangles(cells)


def test_message_counts_are_the_elements_of_each_pair():
    rng = np.random.default_rng(7)
    for _ in range(40):
        n = int(rng.integers(1, 300))
        cols = [rng.integers(0, int(rng.integers(1, 5)), n) for _ in range(4)]
        rows, counts = np.unique(np.stack(cols, axis=1), axis=0, return_counts=True)
        pairs, got = counted_message_pairs(*cols)
        assert [list(p) for p in pairs] == rows.tolist()
        assert got == counts.tolist()


def test_message_pairs_are_the_sorted_distinct_rows():
    rng = np.random.default_rng(6)
    for _ in range(40):
        n = int(rng.integers(1, 300))
        cols = [rng.integers(0, int(rng.integers(1, 12)), n) for _ in range(4)]
        expected = np.unique(np.stack(cols, axis=1), axis=0).tolist()
        assert [list(p) for p in message_pairs(*cols)] == expected
    empty = np.zeros(0, dtype=np.int64)
    assert message_pairs(empty, empty, empty, empty) == []


@pytest.mark.parametrize(
    "src,dst,index_map",
    [
        (
            Distribution((100, 70), (7, 5), ("r", "c")),
            Distribution((100, 70), (16, 16), ("r", "c")),
            None,
        ),
        (
            Distribution((64, 64), (5, 3), ("c", "r")),
            Distribution((64, 64), (13, 11), ("r", "c"), (2, 1)),
            None,
        ),
        (Distribution((300,), (4, 4), ("rc",), (1, 3)), Distribution((300,), (3, 9), ("c",)), None),
        (Distribution((12, 30), (3, 3), ("r", "c")), Distribution((360,), (5, 4), ("rc",)), None),
        (
            Distribution((40, 33), (4, 4), ("r", "c")),
            Distribution((13, 33), (6, 5), ("r", "")),
            ((3, 0), (2, 1)),
        ),
        (
            Distribution((9, 9), (3, 3), ("r", "c")),
            Distribution((9, 9), (3, 3), ("r", "c"), (0, 3)),
            None,
        ),
    ],
)
@pytest.mark.parametrize("band", [1, 2, 5])
def test_a_large_exchange_is_summarised_band_by_band_as_its_whole_plan(src, dst, index_map, band):
    """The cost model reads a large exchange a band of dst PE rows at a time (a 23040^2
    regrid's per-element plan does not fit in memory): the same phases, local copies and
    local part as the whole plan."""
    whole = exchange_phases(src, dst, index_map).summary
    banded = _banded_summary(src, dst, index_map, band)
    assert [p.messages for p in banded.phases] == [p.messages for p in whole.phases]
    assert [p.elems for p in banded.phases] == [p.elems for p in whole.phases]
    assert [p.routes for p in banded.phases] == [p.routes for p in whole.phases]
    np.testing.assert_array_equal(banded.local_counts, whole.local_counts)
    assert banded.has_local_part == whole.has_local_part
    assert (banded.padding, banded.src_at, banded.dst_at) == (
        whole.padding,
        whole.src_at,
        whole.dst_at,
    )


@pytest.mark.parametrize(
    "src,dst,index_map",
    [
        # a relayout onto 16,384 PEs of one element each: from element 8,193 on, every PE
        # took element 8,192 (np.unravel_index of (64, 256, 1) arrays: numpy/numpy#31980)
        (
            Distribution((64, 256), (4, 4), ("r", "c")),
            Distribution((16384,), (64, 256), ("rc",)),
            None,
        ),
        (
            Distribution((128, 128), (2, 2), ("r", "c")),
            Distribution((128, 128), (128, 128), ("r", "c")),
            None,
        ),
        # a window of a slice, reshaped onto 9,100 PEs (the window's own unravel)
        (
            Distribution((131, 73), (3, 2), ("r", "c")),
            Distribution((9100,), (70, 130), ("rc",)),
            ((1, 3), (1, 1), (130, 70)),
        ),
    ],
)
def test_every_element_comes_from_its_source_on_over_8192_pes(src, dst, index_map):
    """The element each dst PE takes, for every PE of exchanges wider than NumPy's iterator
    buffer of 8,192 elements: the src element at the same row-major position (a reshape),
    the same index, or the window's (offset + stride * window index)."""
    plan = exchange_phases(src, dst, index_map)
    coords, valid = global_coords(src)
    src_flat = np.zeros(valid.shape, dtype=np.int64)
    for g, n in zip(coords, src.shape, strict=True):
        src_flat = src_flat * n + g
    got = src_flat[plan.src_row, plan.src_col, plan.src_elem]
    assert valid[plan.src_row, plan.src_col, plan.src_elem][plan.has_src].all()
    dcoords, dvalid = global_coords(dst)
    if index_map is None:
        want = np.zeros(dvalid.shape, dtype=np.int64)
        for g, n in zip(dcoords, dst.shape, strict=True):
            want = want * n + g
    else:
        (offset, stride, window) = index_map
        p = np.zeros(dvalid.shape, dtype=np.int64)
        for g, n in zip(dcoords, dst.shape, strict=True):
            p = p * n + g
        wr, wc = p // window[1], p % window[1]
        want = (offset[0] + stride[0] * wr) * src.shape[1] + offset[1] + stride[1] * wc
    np.testing.assert_array_equal(plan.has_src, dvalid)
    np.testing.assert_array_equal(got[plan.has_src], want[plan.has_src])
