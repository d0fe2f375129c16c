"""Streams: back-pressure from shallow queues, asynchronous sends and receives, pe.wait, and the
errors a program that misuses them gets (pyflame/sim/streams.py)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from pyflame.core.errors import CompileError, DeadlockError
from pyflame.core.target import SMALL
from pyflame.sim.planner import Planner

C = SMALL.vector_issue_cycles
WAKE = SMALL.task_activation_cycles
#: wavelets a one-hop path holds: the receiver's queue and the two routers' queues
Q1 = SMALL.ce_queue_wavelets + 2 * SMALL.router_queue_wavelets


def east(sim, b, color=0):
    """Color `color` carries PE (0, 0)'s messages to PE (0, 1)."""
    b.op(sim.route(color, (0, 0, 1, 1), "ramp", ["east"]))
    b.op(sim.route(color, (0, 1, 1, 1), "west", ["ramp"]))


def west(sim, b, color=1):
    b.op(sim.route(color, (0, 1, 1, 1), "ramp", ["west"]))
    b.op(sim.route(color, (0, 0, 1, 1), "east", ["ramp"]))


def send(sim, b, name, rect, color=0, token=None):
    head = f"%{token} = " if token else ""
    tail = " -> !pe.token" if token else ""
    b.op(
        f"{head}pe.send %{name} {{color = {color} : i64, pes = {sim.pes(rect)}}} : {b.t(name)}{tail}"
    )


def recv(sim, b, name, rect, color=0, token=None):
    head = f"%{token} = " if token else ""
    tail = " -> !pe.token" if token else ""
    b.op(
        f"{head}pe.recv %{name} {{color = {color} : i64, pes = {sim.pes(rect)}}} : {b.t(name)}{tail}"
    )


def fill(sim, b, name, rect):
    b.op(f"pe.fill %{name} {{value = 1.0 : f64, pes = {sim.pes(rect)}}} : {b.t(name)}")


def wait(sim, b, rect, *tokens):
    b.op(f"pe.wait {', '.join('%' + t for t in tokens)} {{pes = {sim.pes(rect)}}}")


def clocks(sim, b):
    planner = Planner(sim.parse(sim.program(b.text())))
    planner.plan()
    return planner.schedule.clock


def test_a_busy_receiver_stalls_its_sender(sim):
    """The issue's case: four 4 KiB messages to a PE that computes for 8,005 cycles first. With
    unbounded mailboxes the sender was done at 4,096; with queues of a few wavelets it can only
    run ahead of the receiver by what the path holds."""
    w, busy = 1024, 8000
    b = sim.Body()
    b.alloc("a", (0, 0, 1, 2), w)
    b.alloc("big", (0, 0, 1, 2), busy)
    east(sim, b)
    fill(sim, b, "big", (0, 1, 1, 1))  # the receiver computes first: busy + C cycles
    for _ in range(4):
        send(sim, b, "a", (0, 0, 1, 1))
    for _ in range(4):
        recv(sim, b, "a", (0, 1, 1, 1))
    clock = clocks(sim, b)
    # the receiver drains one message after another, each begun after the last one's task
    receiver = busy + C
    for _ in range(4):
        receiver += C + w + WAKE
    assert clock[0, 1] == receiver
    # the sender's last wavelet leaves once the receiver has taken all but Q1 of the last message
    assert clock[0, 0] == receiver - WAKE - Q1
    assert clock[0, 0] > busy + 3 * w  # not 4 * (C + w) = 4,116 as with unbounded mailboxes


def test_a_late_receiver_drains_the_whole_stream(sim):
    """A message that fits its path never waits for the receiver, but a receiver that begins
    late still takes it wavelet by wavelet."""
    w, busy = 4, 1000
    assert w <= Q1
    b = sim.Body()
    b.alloc("a", (0, 0, 1, 2), w)
    b.alloc("big", (0, 0, 1, 2), busy)
    east(sim, b)
    fill(sim, b, "big", (0, 1, 1, 1))
    send(sim, b, "a", (0, 0, 1, 1))
    recv(sim, b, "a", (0, 1, 1, 1))
    clock = clocks(sim, b)
    assert clock[0, 0] == C + w
    assert clock[0, 1] == (busy + C) + C + w + WAKE


def test_one_slow_receiver_of_a_multicast_stalls_the_others(sim):
    """PE (0, 1) multicasts west and east; PE (0, 2) computes first. PE (0, 0) has begun at
    once, but the stream it shares with (0, 2) moves only as fast as (0, 2) drains it."""
    w, busy = 256, 3000
    b = sim.Body()
    b.alloc("a", (0, 0, 1, 3), w)
    b.alloc("big", (0, 0, 1, 3), busy)
    b.op(sim.route(0, (0, 1, 1, 1), "ramp", ["west", "east"]))
    b.op(sim.route(0, (0, 0, 1, 1), "east", ["ramp"]))
    b.op(sim.route(0, (0, 2, 1, 1), "west", ["ramp"]))
    fill(sim, b, "big", (0, 2, 1, 1))
    send(sim, b, "a", (0, 1, 1, 1))
    recv(sim, b, "a", (0, 0, 1, 1))
    recv(sim, b, "a", (0, 2, 1, 1))
    clock = clocks(sim, b)
    slow_begin = busy + C + C
    sender_end = slow_begin + w - Q1
    assert clock[0, 1] == sender_end
    lat = 2 * SMALL.ramp_latency_cycles + SMALL.hop_latency_cycles
    assert clock[0, 0] == sender_end + lat + WAKE  # not C + lat + w + WAKE = 276
    assert clock[0, 2] == slow_begin + w + WAKE


def _late_receiver(sim, w: int, late: int) -> str:
    """PE (0, 1) multicasts w wavelets west and east along row 0 (PEs 0..3, every one
    receives; router (0, 2) forwards to its ramp and on east); PE (0, late) computes for 1,000
    cycles first. The late receiver's op comes first: the fast engine counts the receivers
    whose begin it knows when it times the others (an SPMD receive knows its whole
    rectangle's at once)."""
    b = sim.Body()
    b.alloc("a", (0, 0, 1, 4), w)
    b.alloc("big", (0, 0, 1, 4), 1000)
    b.op(sim.route(0, (0, 1, 1, 1), "ramp", ["west", "east"]))
    b.op(sim.route(0, (0, 0, 1, 1), "east", ["ramp"]))
    b.op(sim.route(0, (0, 2, 1, 1), "west", ["east", "ramp"]))
    b.op(sim.route(0, (0, 3, 1, 1), "west", ["ramp"]))
    fill(sim, b, "big", (0, late, 1, 1))
    send(sim, b, "a", (0, 1, 1, 1))
    for c in (late, *(c for c in (0, 2, 3) if c != late)):
        recv(sim, b, "a", (0, c, 1, 1))
    return sim.program(b.text())


def test_a_late_receiver_holds_the_other_branches_of_a_multicast_at_their_fork(sim):
    """The path to PE (0, 2) holds the whole message (w <= Q1: the sender never waits), but
    only ce_queue + router_queue wavelets of it past router (0, 1), where the branch to (0, 0)
    parts from it, and only ce_queue past router (0, 2), which also feeds (0, 3): the rest wait
    there until (0, 2) drains, and (0, 0) and (0, 3) with them (matmul sweep seed 15 case 134,
    2.5D SUMMA: its broadcasts' receivers that had just sent waited for their tokens)."""
    w = 8
    ce, rq = SMALL.ce_queue_wavelets, SMALL.router_queue_wavelets
    hop, ramp = SMALL.hop_latency_cycles, SMALL.ramp_latency_cycles
    assert ce + rq < w <= Q1
    planner = Planner(sim.parse(_late_receiver(sim, w, late=2)))
    planner.plan()
    clock = planner.schedule.clock
    slow_begin = 1000 + C + C
    assert clock[0, 1] == C + w  # the sender is not held: the path holds its message
    assert clock[0, 2] == slow_begin + w + WAKE
    # past router (0, 1) the east branch holds ce + rq: its last wavelet passes (0, 1) at
    # slow_begin + w - (ce + rq), a hop later for the freed room to reach (0, 1), then a hop
    # and the ramp down to (0, 0)
    assert clock[0, 0] == slow_begin + w - (ce + rq) + hop + hop + ramp + WAKE
    # past router (0, 2) its own branch holds ce: (0, 3) is one hop further
    assert clock[0, 3] == slow_begin + w - ce + hop + ramp + WAKE


@pytest.mark.parametrize("w", [6, 7, 8, 12, 40])
@pytest.mark.parametrize("late", [0, 2, 3])
def test_a_multicast_held_at_its_forks_as_on_the_wavelet_engine(sim, w, late):
    """Every receiver of the multicast above ends when the wavelet engine says, whichever
    receiver is late and whether or not the branches past each fork hold the message (w = 6
    fits past every fork; 7 and 8 not past (0, 2)'s or (0, 1)'s for a late (0, 2) or (0, 0)).
    At 12 and 40 wavelets the late receiver's path cannot hold the message: the sender's stall
    holds the others, which end up to h_j = 1-2 cycles before the wavelet engine's, as the
    stalled sender does ("Known simplifications")."""
    import fidelity_corpus as corpus

    from pyflame.sim import compile_plan

    text = _late_receiver(sim, w, late)
    ends = {}
    for fidelity in ("fast", "wavelet"):
        exe = compile_plan(corpus.with_fidelity(sim.parse(text), fidelity))
        events = exe.run(corpus.random_args(exe))[1].timeline.events()
        ends[fidelity] = [int(events[events[:, 0] == c, 2].max()) for c in (0, 2, 3)]
    print(f"w {w}, late (0, {late}): receivers (0, 0), (0, 2), (0, 3) end at {ends}")
    if w <= Q1:
        assert ends["fast"] == ends["wavelet"]
    else:
        gaps = [b - a for a, b in zip(ends["fast"], ends["wavelet"], strict=True)]
        assert all(0 <= g <= 2 for g in gaps), gaps


@pytest.mark.parametrize("w", [64, 4])
def test_two_pes_sending_long_messages_to_each_other_first_deadlock(sim, w):
    b = sim.Body()
    b.alloc("a", (0, 0, 1, 2), w)
    b.alloc("r", (0, 0, 1, 2), w)
    east(sim, b, 0)
    west(sim, b, 1)
    send(sim, b, "a", (0, 0, 1, 1), color=0)
    send(sim, b, "a", (0, 1, 1, 1), color=1)
    recv(sim, b, "r", (0, 1, 1, 1), color=0)
    recv(sim, b, "r", (0, 0, 1, 1), color=1)
    if w <= Q1:  # short messages wait in the queues: no deadlock
        clocks(sim, b)
        return
    with pytest.raises(DeadlockError) as e:
        clocks(sim, b)
    assert sorted(e.value.waiting) == [((0, 0), 0), ((0, 1), 1)]
    msg = str(e.value)
    assert "PE (0, 0) is stalled sending on color 0" in msg
    assert "PE (0, 1) is stalled sending on color 1" in msg


def test_an_asynchronous_send_overlaps_with_compute(sim):
    """PE (0, 0) sends w wavelets and then computes for n cycles: asynchronously the two
    overlap and pe.wait joins them; synchronously they add up."""
    w, n = 1024, 2000
    for asynchronous in (True, False):
        b = sim.Body()
        b.alloc("a", (0, 0, 1, 2), w)
        b.alloc("big", (0, 0, 1, 2), n)
        east(sim, b)
        send(sim, b, "a", (0, 0, 1, 1), token="t" if asynchronous else None)
        fill(sim, b, "big", (0, 0, 1, 1))
        if asynchronous:
            wait(sim, b, (0, 0, 1, 1), "t")
        recv(sim, b, "a", (0, 1, 1, 1))
        clock = clocks(sim, b)
        head = C + 2 * SMALL.ramp_latency_cycles + SMALL.hop_latency_cycles
        send_end = max(C + w, head + w - Q1)
        if asynchronous:
            assert clock[0, 0] == max(C + (n + C), send_end) + WAKE
        else:
            assert clock[0, 0] == send_end + (n + C)
        assert clock[0, 1] == head + w + WAKE


def test_an_asynchronous_receive_overlaps_with_compute(sim):
    w, n = 512, 3000
    b = sim.Body()
    b.alloc("a", (0, 0, 1, 2), w)
    b.alloc("big", (0, 0, 1, 2), n)
    east(sim, b)
    send(sim, b, "a", (0, 0, 1, 1))
    recv(sim, b, "a", (0, 1, 1, 1), token="r")
    fill(sim, b, "big", (0, 1, 1, 1))
    wait(sim, b, (0, 1, 1, 1), "r")
    clock = clocks(sim, b)
    assert clock[0, 1] == C + (n + C) + WAKE  # the stream (done at ~C + 5 + w) hid behind it


def test_a_token_never_waited_for_is_an_error(sim):
    b = sim.Body()
    b.alloc("a", (0, 0, 1, 2), 4)
    east(sim, b)
    send(sim, b, "a", (0, 0, 1, 1), token="t")
    recv(sim, b, "a", (0, 1, 1, 1))
    with pytest.raises(CompileError, match=r"never waits for its token"):
        clocks(sim, b)


def test_waiting_for_a_send_no_one_receives_deadlocks(sim):
    b = sim.Body()
    b.alloc("a", (0, 0, 1, 2), 64)
    east(sim, b)
    send(sim, b, "a", (0, 0, 1, 1), token="t")
    wait(sim, b, (0, 0, 1, 1), "t")
    with pytest.raises(DeadlockError, match=r"PE \(0, 0\) waits .* for its pe.send"):
        clocks(sim, b)


def test_writing_a_buffer_an_asynchronous_send_reads_is_a_race(sim):
    b = sim.Body()
    b.alloc("a", (0, 0, 1, 2), 64)
    east(sim, b)
    send(sim, b, "a", (0, 0, 1, 1), token="t")
    fill(sim, b, "a", (0, 0, 1, 1))
    recv(sim, b, "a", (0, 1, 1, 1))
    wait(sim, b, (0, 0, 1, 1), "t")
    with pytest.raises(CompileError, match=r"pe.fill writes buffer 'a' on PE \(0, 0\) while"):
        clocks(sim, b)


def test_reading_a_buffer_an_asynchronous_receive_writes_is_a_race(sim):
    b = sim.Body()
    b.alloc("a", (0, 0, 1, 2), 8)
    b.alloc("b", (0, 0, 1, 2), 8)
    east(sim, b)
    send(sim, b, "a", (0, 0, 1, 1))
    recv(sim, b, "a", (0, 1, 1, 1), token="r")
    b.op(f"pe.copy %b, %a {{pes = {sim.pes((0, 1, 1, 1))}}} : {b.t('b', 'a')}")
    wait(sim, b, (0, 1, 1, 1), "r")
    with pytest.raises(CompileError, match=r"pe.copy reads buffer 'a' on PE \(0, 1\)"):
        clocks(sim, b)


def test_the_same_buffer_is_safe_after_the_wait(sim):
    b = sim.Body()
    b.alloc("a", (0, 0, 1, 2), 64)
    east(sim, b)
    send(sim, b, "a", (0, 0, 1, 1), token="t")
    recv(sim, b, "a", (0, 1, 1, 1))
    wait(sim, b, (0, 0, 1, 1), "t")
    fill(sim, b, "a", (0, 0, 1, 1))
    clocks(sim, b)


def _chain(sim, cols: int, n: int, forward: bool):
    """A running sum along row 0: PE col j adds what col j-1 sends and passes the sum on,
    either as it streams through (forward) or after the whole message (receive, then send)."""
    b = sim.Body()
    full = (0, 0, 1, cols)
    b.alloc("a", full, n)
    b.op(sim.route(0, (0, 0, 1, cols - 1), "ramp", ["east"]))
    b.op(sim.route(0, (0, 1, 1, cols - 1), "west", ["ramp"]))
    send(sim, b, "a", (0, 0, 1, 1))
    for j in range(1, cols):
        at = sim.pes((0, j, 1, 1))
        if forward and j < cols - 1:
            b.op(f"pe.recv %a combine sum forward {{color = 0 : i64, pes = {at}}} : {b.t('a')}")
        else:
            b.op(f"pe.recv %a combine sum {{color = 0 : i64, pes = {at}}} : {b.t('a')}")
            if j < cols - 1:
                send(sim, b, "a", (0, j, 1, 1))
    lay = sim.layout((cols * n,), (1, cols), ("rc",))
    tt = sim.tensor((cols * n,))
    body = (
        f"    pe.host_in %x, %a {{layout = {lay}, pes = {sim.pes(full)}}} : {tt}, {b.t('a')}\n"
        + b.text()
        + f"\n    %o = pe.host_out %a {{layout = {lay}, pes = {sim.pes(full)}}} : {b.t('a')} -> {tt}"
    )
    return sim.plan(sim.program(body, f"%x: {tt}", tt, f"%o : {tt}"))


def test_a_forwarding_chain_streams_through_its_pes(sim, rng):
    """A pipelined chain of p PEs costs about B + s*p, a store-and-forward one p*(B + s)."""
    cols, n = 8, 512
    x = rng.standard_normal(cols * n).astype(np.float32)
    fwd, saf = _chain(sim, cols, n, True), _chain(sim, cols, n, False)
    want = np.cumsum(x.reshape(cols, n), axis=0)
    for exe in (fwd, saf):
        (o,), _ = exe.run([x])
        np.testing.assert_allclose(o.reshape(cols, n), want, rtol=1e-5, atol=1e-5)
    lat = 2 * SMALL.ramp_latency_cycles + SMALL.hop_latency_cycles
    stage = lat + SMALL.ce_forward_cycles
    assert fwd.report.cycles <= n + (cols - 1) * stage + 3 * (C + WAKE) + 2 * C
    assert saf.report.cycles >= (cols - 1) * n
    assert fwd.report.cycles * 4 < saf.report.cycles


def test_deliveries_of_sources_are_their_runs_of_the_sorted_deliveries():
    """A finished source's deliveries, found by searchsorted in the source-sorted list, are
    exactly those `np.isin` finds (sources with none, one or several deliveries)."""
    from pyflame.sim.streams import _deliveries_of

    rng = np.random.default_rng(7)
    for _ in range(50):
        d_src = np.sort(rng.integers(0, 12, rng.integers(0, 40)))
        sources = np.unique(rng.integers(0, 14, rng.integers(0, 8)))
        expected = np.flatnonzero(np.isin(d_src, sources))
        np.testing.assert_array_equal(_deliveries_of(d_src, sources), expected)


def test_distinct_values_sorted_or_in_first_seen_order():
    from pyflame.sim.streams import _distinct

    codes = np.array([3, 1, 3, 0, 1])
    assert _distinct(codes) == [0, 1, 3]
    assert _distinct(codes, first_seen=True) == [3, 1, 0]
    assert _distinct(np.array([2, 2, 2]), first_seen=True) == [2]
    assert _distinct(np.zeros(0, dtype=np.int64)) == []


def test_a_chain_of_forwarding_streams_is_freed_once_handed_on():
    """Barriers over more than GATHER_MAX_PES PEs are chains of forwarding receives, each a
    stream fed by the one before: once every delivery is handed on, no stream keeps its
    downstream alive (a reference each way kept every chain of the plan in memory: ~2 MB per
    barrier on 256x256 PEs)."""
    import gc
    import weakref

    from xdsl.dialects import func
    from xdsl.dialects.builtin import ModuleOp

    from pyflame.core.target import WSE2, TargetAttr
    from pyflame.passes import allocate_colors
    from pyflame.passes.allocate_sram import allocate as allocate_sram
    from pyflame.sim import planner, streams

    side = 65  # 65 x 65 PEs: more than GATHER_MAX_PES, so the barriers chain
    assert side * side > allocate_colors.GATHER_MAX_PES
    fn = func.FuncOp("main", ((), ()))
    end = func.ReturnOp()
    fn.body.block.add_op(end)
    colors = (WSE2.num_colors - 2, WSE2.num_colors - 1)
    word = allocate_colors._barrier_setup(fn.body.block, side, side, colors)
    for _ in range(3):
        for op in allocate_colors._barrier(word, side, side, colors):
            fn.body.block.insert_op_before(op, end)
    allocate_sram(fn, WSE2)
    module = ModuleOp([fn])
    module.attributes["pf.target"] = TargetAttr(WSE2)

    made: list[weakref.ref] = []
    open_ = streams.Streams.open

    def tracked(self, *args, **kwargs):
        st = open_(self, *args, **kwargs)
        made.append(weakref.ref(st))
        return st

    streams.Streams.open = tracked  # type: ignore[method-assign]
    gc.collect()
    gc.disable()  # only what reference counting frees counts (a cycle waits for the collector)
    try:
        planner.Planner(module).plan()
        live = sum(r() is not None for r in made)
    finally:
        gc.enable()
        streams.Streams.open = open_  # type: ignore[method-assign]
    assert len(made) > 3 * 2 * (side - 2)  # the chains' stages
    assert live <= len(made) // 4, f"{live} of {len(made)} streams still alive after the plan"


def _random_forest(rng, trees: int, nodes: int):
    """A forest of `trees` random trees over `nodes` nodes (node i's parent comes before it;
    the first `trees` nodes are roots), as `streams.Forest` holds it."""
    from pyflame.sim.streams import Forest

    parent = np.full(nodes, -1, dtype=np.int64)
    level = np.zeros(nodes, dtype=np.int64)
    for i in range(trees, nodes):
        # mostly the node just before (long paths, as a row broadcast's), sometimes a fork
        p = i - 1 if rng.random() < 0.8 else int(rng.integers(0, i))
        parent[i], level[i] = p, level[p] + 1
    return Forest.of_parents(parent, level, np.arange(nodes, dtype=np.int64))


class _TraceWith:
    """A stand-in for a send's trace whose forest is made already (`Forest.of` reads it)."""

    def __init__(self, forest):
        self.forest = forest


def _ancestors(f, node):
    while node >= 0:
        yield node
        node = int(f.parent[node])


def _bounds_by_definition(f, passes, hop):
    from pyflame.sim.streams import _NEVER

    held = set(np.flatnonzero(passes > _NEVER).tolist())
    out = []
    for v in range(f.parent.size):
        above = [int(passes[u] - f.level[u] * hop) for u in _ancestors(f, v) if u in held]
        out.append(max(above, default=_NEVER))
    return out


def test_a_forest_in_preorder_holds_each_subtree_as_one_run():
    """`Forest.of_parents` numbers the nodes in preorder: the positions of the nodes at or
    below v are exactly `first[v] .. end[v]`, and every node has its own position."""
    rng = np.random.default_rng(3)
    for _ in range(30):
        f = _random_forest(rng, int(rng.integers(1, 5)), int(rng.integers(1, 80)))
        n = f.parent.size
        assert sorted(f.first.tolist()) == list(range(n))
        for v in range(n):
            below = [u for u in range(n) if v in _ancestors(f, u)]
            assert sorted(int(f.first[u]) for u in below) == list(range(f.first[v], f.end[v]))


def test_a_nodes_ancestor_k_levels_up_is_found_by_its_level_and_preorder():
    """`Forest.ancestor(v, k)` (a late receiver's walk jumps to its topmost router) is the
    node k parents up, for every node and every k up to its level."""
    rng = np.random.default_rng(5)
    for _ in range(30):
        f = _random_forest(rng, int(rng.integers(1, 5)), int(rng.integers(1, 80)))
        v = np.repeat(np.arange(f.parent.size), f.level + 1)
        k = np.concatenate([np.arange(int(lv) + 1) for lv in f.level])
        want = [list(_ancestors(f, int(node)))[int(up)] for node, up in zip(v, k, strict=True)]
        assert f.ancestor(v, k).tolist() == want


def test_the_highest_held_router_above_each_node_as_a_walk_over_its_ancestors():
    """`HeldRouters.bound` reads, per node, the latest `passes[v] - level[v] * hop` over the
    routers v at or above it (`_NEVER` where none is held), as a walk over its ancestors
    does, after routers are raised in several rounds (several raises of one router too)."""
    from pyflame.sim.streams import _NEVER, HeldRouters

    rng = np.random.default_rng(11)
    hop = 1
    for _ in range(40):
        f = _random_forest(rng, int(rng.integers(1, 4)), int(rng.integers(1, 90)))
        n = f.parent.size
        state = HeldRouters.of(f)
        passes = np.full(n, _NEVER, dtype=np.int64)
        nodes = np.r_[np.arange(n), -1]  # (and a delivery with no node)
        assert state.bound(f, nodes).tolist() == [_NEVER] * (n + 1)
        for _ in range(3):
            held = rng.integers(0, n, int(rng.integers(0, n // 2 + 2)))
            value = rng.integers(0, 900, held.size)
            np.maximum.at(passes, held, value)
            state.raise_subtrees(f, held, value - f.level[held] * hop)
            got = state.bound(f, nodes)
            assert got.tolist() == [*_bounds_by_definition(f, passes, hop), _NEVER]


def _read_bounds(st, f) -> list[int]:
    """What each node of `f` reads from stream `st`'s held routers."""
    from pyflame.sim.streams import _NEVER

    n = f.parent.size
    return [_NEVER] * n if st.held is None else st.held.bound(f, np.arange(n)).tolist()


@pytest.mark.parametrize(
    "target",
    [
        SMALL,
        # a router's bound then grows toward the root (router queues shorter than 2 hops)
        dataclasses.replace(SMALL, router_queue_wavelets=1, hop_latency_cycles=3),
        dataclasses.replace(SMALL, router_queue_wavelets=7, hop_latency_cycles=1),
    ],
    ids=["small", "short-queues", "long-queues"],
)
def test_late_receivers_walked_up_in_parts_hold_the_routers_as_all_at_once(target):
    """`fork_bounds` walks each late receiver up its tree once, when its begin becomes known:
    receivers walked in several calls leave the routers held as one walk over all of them
    (the routers above a receiver within (cyc - ce - 1) // rq hops, each at the latest of
    its receivers' holds), whichever way the bounds grow along a walk."""
    from pyflame.sim.streams import _NEVER, Stream, _walk_up_late

    rng = np.random.default_rng(5)
    ce, rq = target.ce_queue_wavelets, target.router_queue_wavelets
    hop = target.hop_latency_cycles
    for _ in range(10):
        f = _random_forest(rng, 2, 80)
        n = f.parent.size
        cyc = int(rng.integers(ce + 1, 60))
        roots = (f.level == 0).nonzero()[0]
        # each node's delivery, its source the root above it
        d_src = np.array([[r for r in _ancestors(f, v)][-1] for v in range(n)])
        d_src = np.searchsorted(roots, d_src)

        cap = np.full(n, cyc) + rng.integers(-2, 3, n)
        begin = rng.integers(0, 200, n)
        a, b = (Stream.__new__(Stream) for _ in range(2))
        for st in (a, b):
            st.cyc, st.start, st.d_src = cyc, np.zeros(roots.size, dtype=np.int64), d_src
            st.lat, st.cap, st.begin, st.held = f.level + 2, cap, begin, None
            st.trace = _TraceWith(f)
        every = np.arange(n)

        _walk_up_late(a, every, target)
        for part in np.array_split(rng.permutation(n), 4):
            _walk_up_late(b, part, target)
        assert _read_bounds(a, f) == _read_bounds(b, f)
        # against the definition
        expected = np.full(n, _NEVER, dtype=np.int64)
        reach = (cyc - ce - 1) // rq
        for j in range(n):
            head = a.lat[j]
            if not (a.begin[j] > head and cyc <= a.cap[j]):
                continue
            held = max(int(a.begin[j]), int(head)) + cyc - ce
            for dist, v in enumerate(_ancestors(f, j)):
                if dist > reach:
                    break
                expected[v] = max(expected[v], held - dist * (rq - hop))
        assert _read_bounds(a, f) == _bounds_by_definition(f, expected, hop)
