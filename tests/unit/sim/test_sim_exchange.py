"""pe.exchange: redistribution between block layouts (data and timing)."""

from __future__ import annotations

import numpy as np
import pytest

from pyflame.core.distribution import Distribution
from pyflame.core.errors import CompileError, RoutingError
from pyflame.core.target import SMALL
from pyflame.sim.kernels import exchange as exchange_kernel


def _exchange_program(sim, shape, src, dst):
    """host_in in layout `src`, exchange to `dst`, host_out in `dst`."""
    (sg, ss), (dg, dsplit) = src, dst
    ds, dd = Distribution(shape, sg, ss), Distribution(shape, dg, dsplit)
    slay, dlay = sim.layout(shape, sg, ss), sim.layout(shape, dg, dsplit)
    b = sim.Body()
    b.alloc("s", (0, 0) + sg, ds.local_elems)
    b.alloc("d", (0, 0) + dg, dd.local_elems)
    tt = sim.tensor(shape)
    b.op(f"pe.host_in %x, %s {{layout = {slay}, pes = {sim.pes((0, 0) + sg)}}} : {tt}, {b.t('s')}")
    sim.exchange(b, "d", "s", (shape, sg, ss), (shape, dg, dsplit))
    b.op(
        f"%o = pe.host_out %d {{layout = {dlay}, pes = {sim.pes((0, 0) + dg)}}} : {b.t('d')} -> {tt}"
    )
    return sim.program(b.text(), f"%x: {tt}", tt, f"%o : {tt}")


CASES = [
    ((8, 8), ((2, 2), ("r", "c")), ((2, 2), ("c", "r"))),
    ((8, 6), ((2, 3), ("r", "c")), ((3, 2), ("c", "r"))),
    ((8, 8), ((2, 2), ("r", "c")), ((1, 1), ("", ""))),
    ((8, 8), ((1, 1), ("", "")), ((2, 2), ("r", "c"))),
    ((7, 5), ((2, 2), ("r", "c")), ((3, 2), ("c", "r"))),  # padding on both sides
    ((6, 4), ((2, 2), ("r", "")), ((2, 2), ("", "c"))),  # replicated source and destination
    ((12, 5), ((2, 3), ("rc", "")), ((3, 2), ("r", "c"))),
    ((9,), ((1, 3), ("c",)), ((2, 2), ("rc",))),
]


@pytest.mark.parametrize("shape,src,dst", CASES)
def test_exchange_data(sim, rng, shape, src, dst):
    x = rng.standard_normal(shape).astype(np.float32)
    (o,), _ = sim.run(_exchange_program(sim, shape, src, dst), x)
    np.testing.assert_array_equal(o, x)


@pytest.mark.parametrize("mask_part", [0.0, 2.0])
def test_exchange_zeroes_destination_padding(sim, monkeypatch, mask_part):
    """Padding of the destination tiles gets 0 (read the raw tiles through an [rc] layout),
    zeroed through a mask of the destination or through its index arrays."""
    monkeypatch.setattr(exchange_kernel, "PAD_MASK_PART", mask_part)
    shape, sg, dg = (5, 5), (1, 1), (2, 2)
    dd = Distribution(shape, dg, ("r", "c"))
    slay = sim.layout(shape, sg, ("", ""))
    b = sim.Body()
    b.alloc("s", (0, 0) + sg, 25)
    b.alloc("d", (0, 0) + dg, dd.local_elems)
    tt = sim.tensor(shape)
    b.op(f"pe.fill %d {{value = 7.0 : f64, pes = {sim.pes((0, 0, 2, 2))}}} : {b.t('d')}")
    b.op(f"pe.host_in %x, %s {{layout = {slay}, pes = {sim.pes((0, 0, 1, 1))}}} : {tt}, {b.t('s')}")
    sim.exchange(b, "d", "s", (shape, sg, ("", "")), (shape, dg, ("r", "c")))
    flat = (4 * dd.local_elems,)
    flay = sim.layout(flat, dg, ("rc",))
    b.op(
        f"%o = pe.host_out %d {{layout = {flay}, pes = {sim.pes((0, 0, 2, 2))}}} : {b.t('d')} -> "
        f"{sim.tensor(flat)}"
    )
    text = sim.program(b.text(), f"%x: {tt}", sim.tensor(flat), f"%o : {sim.tensor(flat)}")
    x = np.arange(1, 26, dtype=np.float32).reshape(shape)
    (o,), _ = sim.run(text, x)
    tiles = o.reshape(2, 2, 3, 3)
    assert tiles[1, 1].tolist() == [[19, 20, 0], [24, 25, 0], [0, 0, 0]]
    assert tiles[0, 0].tolist() == [[1, 2, 3], [6, 7, 8], [11, 12, 13]]


def test_exchange_timing(sim):
    """2x2 [r, c] -> [c, r]: the off-diagonal blocks swap over two hops each; the diagonal ones
    stay (local copies)."""
    report = sim.plan(
        _exchange_program(sim, (8, 8), ((2, 2), ("r", "c")), ((2, 2), ("c", "r")))
    ).report
    w = 16
    # ramp + 2 hops + w wavelets + ramp, then the receivers' completion task
    assert report.cycles == 2 + 2 * 1 + w + 2 + SMALL.task_activation_cycles
    assert report.wavelets.sum() == 2 * 2 * w  # two messages, two links each
    assert report.wavelets[0, 1, 3] == w  # (0,1) -> west -> (0,0) -> south -> (1,0)
    assert report.wavelets[0, 0, 1] == w


def test_exchange_gather_to_one_pe_serialises_at_the_destination(sim):
    report = sim.plan(
        _exchange_program(sim, (8, 8), ((2, 2), ("r", "c")), ((1, 1), ("", "")))
    ).report
    # three remote 16-wavelet blocks all enter PE (0, 0) through its ramp
    assert report.cycles >= 3 * 16
    assert report.busy_cycles[1, 1] == 16


def test_replicated_source_is_read_from_the_nearest_copy(sim):
    """[_, _] on 1x2 (both PEs hold everything) -> [_, c] on 1x2: no messages at all."""
    report = sim.plan(
        _exchange_program(sim, (4, 4), ((1, 2), ("", "")), ((1, 2), ("", "c")))
    ).report
    assert report.wavelets.sum() == 0


# --------------------------------------------------------------------------- routes are traced

TRANSPOSE = ((8, 8), ((2, 2), ("r", "c")), ((2, 2), ("c", "r")))


def test_exchange_phase_on_a_color_without_routes_raises(sim):
    text = _exchange_program(sim, *TRANSPOSE)
    text = text.replace("color = 0 : i64, phase = 1", "color = 5 : i64, phase = 1")
    with pytest.raises(RoutingError, match="on color 5 .* where no route is set for color 5"):
        sim.plan(text)


def test_exchange_phase_follows_its_routes_to_the_wrong_pe_and_raises(sim):
    """Phase 1 of the 2x2 transpose: (0,1) -> west -> (0,0) -> south -> (1,0). Turning (0,0)'s
    rule toward its ramp delivers (0,1)'s message to (0,0)."""
    text = _exchange_program(sim, *TRANSPOSE)
    assert "pe.route east -> [south] {color = 0 : i64, pes = array<i64: 0, 0, 1, 1>}" in text
    text = text.replace("pe.route east -> [south] {color = 0", "pe.route east -> [ramp] {color = 0")
    with pytest.raises(
        RoutingError,
        match=r"PE \(0, 0\) receives on color 0 the message of exchange phase 1 that "
        r"PE \(0, 1\) sends to PE \(1, 0\)",
    ):
        sim.plan(text)


def test_exchange_on_a_live_broadcast_color_raises(sim):
    """The issue's check: an exchange phase moved onto a color whose routes broadcast along
    rows no longer gives the same result, it raises."""
    b = sim.Body()
    shape, (sg, ss), (dg, dsplit) = TRANSPOSE
    ds, dd = Distribution(shape, sg, ss), Distribution(shape, dg, dsplit)
    b.alloc("s", (0, 0) + sg, ds.local_elems)
    b.alloc("d", (0, 0) + dg, dd.local_elems)
    tt, slay, dlay = sim.tensor(shape), sim.layout(shape, sg, ss), sim.layout(shape, dg, dsplit)
    b.op(f"pe.host_in %x, %s {{layout = {slay}, pes = {sim.pes((0, 0) + sg)}}} : {tt}, {b.t('s')}")
    for line in sim.row_broadcast_routes(1, 2, 2):
        b.op(line)
    sim.exchange(b, "d", "s", (shape, sg, ss), (shape, dg, dsplit), colors=1)
    b.op(
        f"%o = pe.host_out %d {{layout = {dlay}, pes = {sim.pes((0, 0) + dg)}}} : {b.t('d')} -> {tt}"
    )
    text = sim.program(b.text(), f"%x: {tt}", tt, f"%o : {tt}")
    x = np.arange(64, dtype=np.float32).reshape(shape)
    (o,), _ = sim.run(text, x)
    np.testing.assert_array_equal(o, x)
    # the exchange's phase on the broadcast color 1: its routes are not the phase's
    with pytest.raises(RoutingError):
        sim.plan(text.replace("color = 0 : i64, phase = 1", "color = 1 : i64, phase = 1"))


def test_exchange_phase_beyond_the_plan_is_an_error(sim):
    text = _exchange_program(sim, *TRANSPOSE)
    with pytest.raises(CompileError, match="phase 2 of an exchange that has 1 network phases"):
        sim.plan(text.replace("phase = 1 : i64", "phase = 2 : i64"))


def test_exchange_message_that_reaches_no_ramp_raises(sim):
    """A rule that drops the wavelets (no output port) leaves the message undelivered."""
    text = _exchange_program(sim, *TRANSPOSE)
    rule = "pe.route north -> [ramp] {color = 0 : i64, pes = array<i64: 1, 0, 1, 1>}"
    assert rule in text
    text = text.replace(rule, rule.replace("[ramp]", "[]"))
    with pytest.raises(
        RoutingError,
        match=r"the message of exchange phase 1 from PE \(0, 1\) to PE \(1, 0\) on color 0 is "
        r"delivered 0 times",
    ):
        sim.plan(text)


def _column_trace(sources, dests):
    """A Trace of unicast messages going north up column 0: message i from row sources[i]
    to row dests[i] (one link per hop, direction 0 = north)."""
    from pyflame.sim.fabric import Trace

    l_src, l_r, l_h = [], [], []
    for i, (s, d) in enumerate(zip(sources, dests, strict=True)):
        for h in range(s - d):
            l_src.append(i)
            l_r.append(s - h)
            l_h.append(h)
    n = len(l_src)
    arr = lambda v: np.asarray(v, dtype=np.int64)  # noqa: E731
    k = len(sources)
    return Trace(
        k,
        arr(range(k)),
        arr(dests),
        arr([0] * k),
        arr([s - d for s, d in zip(sources, dests, strict=True)]),
        arr([1] * k),
        arr(l_src),
        arr(l_r),
        arr([0] * n),
        arr([0] * n),
        arr(l_h),
        arr([1] * n),
    )


def test_parked_messages_drain_through_shared_links_one_after_another():
    """Two 20-wavelet messages up column 0, (7, 0) -> (0, 0) and (6, 0) -> (1, 0), wait in
    the path for receivers that begin at cycle 100. The first holds 20 (4 in (0, 0)'s input
    queue, 2 in each router back from it), the second 16 (its path's capacity) and 4 at its
    source: as they drain, the link into row r - 1 carries the wavelets waiting beyond it, one
    per cycle; the second drain waits for the links the first still uses (docs/simulator.md,
    "pe.exchange")."""
    links = _small_links(8, 1)
    tr = _column_trace([7, 6], [0, 1])
    start, w = np.zeros(2, dtype=np.int64), np.full(2, 20, dtype=np.int64)
    ends = links.drain_parked(tr, start, w, np.array([100, 100]))
    # first: the link into row 0 carries 20 - 4 - 2 = 14 wavelets from cycle 100, one hop on
    # second: the link into row 1 (the first's second-to-last, 12 behind it: free at 112)
    # carries 20 - 4 - 2 = 14 after that (the 4 still at its source too), one hop on
    assert ends.tolist() == [100 + 14 + 1, 112 + 14 + 1]
    north = 0  # link (r, 0) north: index (r * cols + 0) * 4 + 0
    assert links.free_at[1 * 4 + north] == 100 + 14  # (1, 0) -> (0, 0): the first's only
    assert links.free_at[2 * 4 + north] == 112 + 14  # (2, 0) -> (1, 0): both, one after another
    # a receiver that begins before the head arrives parks nothing
    fresh = _small_links(8, 1)
    assert fresh.drain_parked(tr, start, w, np.array([5, 5])).tolist() == [0, 0]


def _small_links(rows: int, cols: int):
    from types import SimpleNamespace

    from pyflame.sim.fabric import Links

    target = SimpleNamespace(
        ramp_latency_cycles=2,
        hop_latency_cycles=1,
        link_wavelets_per_cycle=1,
        ce_queue_wavelets=4,
        router_queue_wavelets=2,
    )
    return Links(rows, cols, target)


def test_parked_messages_to_one_destination_queue_behind_each_other():
    """Two 10-wavelet messages up column 0 to PE (0, 0) on one color, from (5, 0) and (7, 0),
    whose receiver begins at cycle 100: they share the path's queues as one stream (a router's
    output is held by one message from head to tail), the nearer one first (its head arrives
    first). It holds the first 10 places: 4 in (0, 0)'s input queue, 2 in each of the routers of
    rows 0-2; the other queues behind it from row 3 on, so all its 10 wavelets cross the link
    into (0, 0) after the first's 4 (each given its own path, its 10 would have waited in rows
    0-2 and drained with 4 crossing that link)."""
    links = _small_links(8, 1)
    tr = _column_trace([5, 7], [0, 0])
    start, w = np.zeros(2, dtype=np.int64), np.full(2, 10, dtype=np.int64)
    ends = links.drain_parked(tr, start, w, np.array([100, 100]))
    # (5, 0): 10 - 4 - 2 = 4 beyond the link into row 0 -> [100, 104), one hop on
    # (7, 0): all 10 beyond that link, after the first -> [104, 114), one hop on
    assert ends.tolist() == [104 + 1, 114 + 1]
    north = 0
    assert links.free_at[1 * 4 + north] == 114
    # into row 1: the first's 10 - 4 - 4 = 2 [100, 102), then the other's 10 [102, 112)
    assert links.free_at[2 * 4 + north] == 112
    # into row 6 (dist 6 from (0, 0)): the other's 20 - 4 - 12 = 4 only
    assert links.free_at[6 * 4 + north] == 104


def test_links_keep_idle_gaps_for_transfers_planned_later():
    """The planner plans in program order, not time order: a message planned after one that
    holds a link late still goes earlier if it fits in the link's idle time before
    (docs/simulator.md, "Links"); one that does not fit waits for the link."""
    links = _small_links(1, 4)
    arr = lambda *v: np.asarray(v, dtype=np.int64)  # noqa: E731
    # (0, 0) -> (0, 2) east: links (0, 0, E) at hop 0 and (0, 1, E) at hop 1, ready at 50
    late = links.stream(arr(50), arr(10), arr(0, 0), arr(0, 0), arr(0, 1), arr(2, 2), arr(0, 1))
    assert late.tolist() == [50]
    east00, east01 = (0 * 4 + 0) * 4 + 2, (0 * 4 + 1) * 4 + 2
    assert links.free_at[[east00, east01]].tolist() == [50 + 2 + 10, 50 + 3 + 10]
    # a 6-wavelet message over (0, 1, E) ready at 0 fits before (link idle [0, 53)): starts at 0
    early = links.stream(arr(0), arr(6), arr(0), arr(0), arr(1), arr(2), arr(0))
    assert early.tolist() == [0]
    # one of 60 wavelets does not fit: after the late one, 63 - 2
    big = links.stream(arr(10), arr(60), arr(0), arr(0), arr(1), arr(2), arr(0))
    assert big.tolist() == [63 - 2]
    # what is left of the gap, [8, 53), still takes a 40-wavelet message ready at 5: from 8
    mid = links.stream(arr(5), arr(40), arr(0), arr(0), arr(1), arr(2), arr(0))
    assert mid.tolist() == [8 - 2]
    # over both links: (0, 0, E) is idle in [0, 52), (0, 1, E) in [0, 2) and [48, 53); a
    # 3-wavelet message ready at 0 starts where both are idle for it: its head at 48 on the
    # second link (hop 1: start + 3)
    both = links.stream(arr(0), arr(3), arr(0, 0), arr(0, 0), arr(0, 1), arr(2, 2), arr(0, 1))
    assert both.tolist() == [48 - 3]


@pytest.mark.parametrize("seed", range(6))
def test_messages_sharing_links_are_timed_a_conflict_level_at_a_time(seed):
    """`Links.stream` with messages sharing links: reserving a conflict level at a time (the
    messages of a level share no link) gives the start times and link state of reserving one
    message at a time in ready order, gaps included (links busy beforehand)."""
    from pyflame.core.link_sharing import xy_paths

    rng = np.random.default_rng(seed)
    rows, cols, k = 6, 7, 60
    sr, dr = rng.integers(0, rows, k), rng.integers(0, rows, k)
    sc, dc = rng.integers(0, cols, k), rng.integers(0, cols, k)
    *paths, _ = xy_paths(sr, sc, dr, dc)
    t = rng.integers(0, 40, k)  # ties in ready times too
    w = rng.integers(1, 30, k)
    busy = rng.permutation(rows * cols * 4)[:40]  # the same links busy before both runs
    runs = []
    for max_levels in (0, 256):  # 0: one message at a time
        links = _small_links(rows, cols)
        links.max_levels = max_levels
        links.reserve(busy, np.full(busy.size, 30), np.full(busy.size, 20))
        start = links.stream(t, w, *paths)
        runs.append((start, links.free_at, links.gap_from, links.gap_to, links.wavelets))
    for got, want in zip(runs[1], runs[0], strict=True):
        np.testing.assert_array_equal(got, want)
    from pyflame.sim.fabric import conflict_levels

    lid = (paths[1] * cols + paths[2]) * 4 + paths[3]
    levels = conflict_levels(np.lexsort((np.arange(k), t)), paths[0], lid, k, 256)
    assert levels is not None and levels.max() >= 3  # the case is one of shared links


def test_a_phase_sharing_a_link_with_the_last_phase_delays_its_message_only_across_colors():
    """The last phase's message holds link 7 for cycles [10, 20) to PE 5 (of a 2x4 box); this
    phase's message reaches that link at cycle 14 for 3 cycles. On another color the machine
    shares the link round robin: the earlier message ends 3 cycles later (min of its 6 left
    and the 3), and its receiver with it. On the same color it would not interleave: nothing
    moves. A message reaching the link after the earlier one left (cycle 20) delays nothing."""
    from types import SimpleNamespace

    from pyflame.sim.kernels.exchange import _share_links_with_last_phase

    def schedule(last_color: int):
        s = SimpleNamespace(C=4, clock=np.full((2, 4), 30), in_free=np.full((2, 4), 25))
        arr = lambda *v: np.array(v, dtype=np.int64)  # noqa: E731
        s.exchange_links = (last_color, arr(7, 9), arr(10, 12), arr(20, 15), arr(5, 2))
        return s

    lid, cyc = np.array([7]), np.array([3])
    other = schedule(last_color=0)
    _share_links_with_last_phase(other, 1, lid, np.array([14]), cyc)
    assert other.clock[1, 1] == 33 and other.in_free[1, 1] == 28  # PE 5 = (1, 1)
    assert (other.clock == 30).sum() == 7  # the other PEs untouched
    same = schedule(last_color=1)
    _share_links_with_last_phase(same, 1, lid, np.array([14]), cyc)
    assert (same.clock == 30).all() and (same.in_free == 25).all()
    after = schedule(last_color=0)
    _share_links_with_last_phase(after, 1, lid, np.array([20]), cyc)
    assert (after.clock == 30).all()
    short = schedule(last_color=0)  # 2 cycles left of the earlier message: it ends 2 later
    _share_links_with_last_phase(short, 1, lid, np.array([18]), np.array([5]))
    assert short.clock[1, 1] == 32
