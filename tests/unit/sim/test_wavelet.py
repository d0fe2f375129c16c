"""The wavelet-level engine (pyflame/sim/wavelet/): the spec's timing, back-pressure, multicast,
asynchronous transfers, its errors, and how a target selects it."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import pyflame as pf
from pyflame.core.errors import CompileError, DeadlockError, RoutingError
from pyflame.core.target import SMALL
from pyflame.sim.wavelet import WaveletExecutable

WAVELET = '#pf.target<"small", fidelity = "wavelet">'
C_ISSUE = SMALL.vector_issue_cycles
ACT = SMALL.task_activation_cycles


def send(sim, name, color, rect, t, token=""):
    lhs = f"%{token} = " if token else ""
    res = " -> !pe.token" if token else ""
    return f"{lhs}pe.send %{name} {{color = {color} : i64, pes = {sim.pes(rect)}}} : {t}{res}"


def recv(sim, name, color, rect, t):
    return f"pe.recv %{name} {{color = {color} : i64, pes = {sim.pes(rect)}}} : {t}"


def events(report):
    phases = report.timeline.to_dict()["phases"]
    return [(c, s, e, phases[p]) for c, s, e, p, _ in report.timeline.events().tolist()]


def east_pair(sim, w, before_recv: str = ""):
    """PE (0, 0) sends w wavelets east to PE (0, 1), which may first run `before_recv`."""
    b = sim.Body()
    b.alloc("a", (0, 0, 1, 2), w)
    b.op(sim.route(0, (0, 0, 1, 1), "ramp", ["east"]))
    b.op(sim.route(0, (0, 1, 1, 1), "west", ["ramp"]))
    b.op(send(sim, "a", 0, (0, 0, 1, 1), b.t("a")))
    if before_recv:
        b.op(before_recv.format(t=b.t("a")))
    b.op(recv(sim, "a", 0, (0, 1, 1, 1), b.t("a")))
    return sim.program(b.text(), target=WAVELET)


def test_compile_plan_picks_the_engine_from_the_target(sim):
    exe = sim.plan(east_pair(sim, 8))
    assert isinstance(exe, WaveletExecutable)


def test_point_to_point_timing_follows_the_spec(sim):
    """docs/simulator.md's example: a send of w > Q wavelets to the east neighbour, received at
    once, ends on the receiver at c + 2 + 1 + w + 2 + activation; the sender streams w cycles
    from c."""
    w = 40
    report = sim.plan(east_pair(sim, w)).report
    assert report.cycles == C_ISSUE + 2 + 1 + w + 2 + ACT
    assert report.busy_cycles[0, 0] == w + C_ISSUE
    assert report.wavelets[0, 0, 2] == w and report.wavelets.sum() == w
    assert events(report)[0] == (0, 0, C_ISSUE + w, "send")


def test_a_late_receiver_stalls_the_sender(sim):
    """Back-pressure: the path holds a few wavelets; the rest wait for the receiver, so the
    sender ends about w - (what the path holds) cycles after the receiver begins."""
    w = 200
    b = sim.Body()
    b.alloc("a", (0, 0, 1, 2), w)
    b.alloc("z", (0, 1, 1, 1), 1000)
    b.op(sim.route(0, (0, 0, 1, 1), "ramp", ["east"]))
    b.op(sim.route(0, (0, 1, 1, 1), "west", ["ramp"]))
    b.op(send(sim, "a", 0, (0, 0, 1, 1), b.t("a")))
    b.op(f"pe.fill %z {{value = 1.0 : f64, pes = {sim.pes((0, 1, 1, 1))}}} : {b.t('z')}")
    b.op(recv(sim, "a", 0, (0, 1, 1, 1), b.t("a")))
    report = sim.plan(sim.program(b.text(), target=WAVELET)).report
    ev = events(report)
    send_end = [e for c, s, e, p in ev if c == 0 and p == "send"][0]
    fill_end = [e for c, s, e, p in ev if c == 1 and p == "compute"][0]
    begin = fill_end + C_ISSUE
    held = begin + w - send_end  # wavelets the path held when the receiver began
    assert fill_end == 1000 + C_ISSUE
    assert send_end > fill_end  # the sender waited for the receiver
    assert 4 <= held <= 20, held
    assert report.cycles == begin + w + ACT


def test_long_synchronous_send_to_its_own_ramp_deadlocks(sim):
    """A PE that sends more than its path holds to itself before receiving never gets to the
    receive (the spec's example); the error names the PE, the color and the op."""
    b = sim.Body()
    b.alloc("a", (0, 0, 1, 1), 64)
    b.alloc("w", (0, 0, 1, 1), 64)
    b.op(sim.route(3, (0, 0, 1, 1), "ramp", ["ramp"]))
    b.op(send(sim, "a", 3, (0, 0, 1, 1), b.t("a")) + ' loc("model.py":7:1)')
    b.op(recv(sim, "w", 3, (0, 0, 1, 1), b.t("w")))
    with pytest.raises(
        DeadlockError,
        match=r"PE \(0, 0\) cannot finish sending on color 3 "
        r"\(pe.send at model.py:7\)",
    ) as err:
        sim.run(sim.program(b.text(), target=WAVELET))
    assert err.value.waiting == [((0, 0), 3)]


def test_an_asynchronous_send_to_its_own_ramp_completes(sim, rng):
    """The same program with an asynchronous send: the PE receives while the send streams."""
    n = 64
    b = sim.Body()
    b.alloc("a", (0, 0, 1, 1), n)
    b.alloc("w", (0, 0, 1, 1), n)
    b.op(sim.route(3, (0, 0, 1, 1), "ramp", ["ramp"]))
    lay, tt = sim.layout((n,), (1, 1), ("",)), sim.tensor((n,))
    b.op(f"pe.host_in %x, %a {{layout = {lay}, pes = {sim.pes((0, 0, 1, 1))}}} : {tt}, {b.t('a')}")
    b.op(send(sim, "a", 3, (0, 0, 1, 1), b.t("a"), token="t"))
    b.op(recv(sim, "w", 3, (0, 0, 1, 1), b.t("w")))
    b.op(f"pe.wait %t {{pes = {sim.pes((0, 0, 1, 1))}}}")
    b.op(
        f"%o = pe.host_out %w {{layout = {lay}, pes = {sim.pes((0, 0, 1, 1))}}} : {b.t('w')} -> {tt}"
    )
    x = rng.standard_normal(n).astype(np.float32)
    (o,), report = sim.run(sim.program(b.text(), f"%x: {tt}", tt, f"%o : {tt}", target=WAVELET), x)
    np.testing.assert_array_equal(o, x)
    # the send streams from c (its head is in the PE's queue at c + 2 ramps); the receive
    # begins at 2c, takes n cycles and wakes its task; the wait (the send ended long before)
    # adds another activation
    assert report.cycles == 2 * C_ISSUE + n + ACT + ACT


def test_one_slow_receiver_of_a_multicast_stalls_every_receiver(sim):
    """A row broadcast from PE (0, 0) to (0, 1) and (0, 2); (0, 2) computes first, so (0, 1)
    gets the stream's tail only when (0, 2) drains it."""
    w = 100
    b = sim.Body()
    b.alloc("a", (0, 0, 1, 3), w)
    b.alloc("z", (0, 2, 1, 1), 800)
    b.op(sim.route(0, (0, 0, 1, 1), "ramp", ["east"]))
    b.op(sim.route(0, (0, 1, 1, 1), "west", ["east", "ramp"]))
    b.op(sim.route(0, (0, 2, 1, 1), "west", ["ramp"]))
    b.op(send(sim, "a", 0, (0, 0, 1, 1), b.t("a")))
    b.op(f"pe.fill %z {{value = 1.0 : f64, pes = {sim.pes((0, 2, 1, 1))}}} : {b.t('z')}")
    b.op(recv(sim, "a", 0, (0, 1, 1, 2), b.t("a")))
    report = sim.plan(sim.program(b.text(), target=WAVELET)).report
    ev = events(report)
    end1 = [e for c, s, e, p in ev if c == 1 and p == "receive"][0]
    fill_end = [e for c, s, e, p in ev if c == 2 and p == "compute"][0]
    assert fill_end > w  # the slow receiver is busy long after a free stream would have ended
    assert end1 > fill_end  # and the fast one finishes only after it


def test_values_travel_through_the_queues(sim, rng):
    """Values agree with the fast engine on a multicast (every PE of a column gets the row's
    tile) and the messages cross the links the routes say."""
    text = sim.summa(4, 2)
    x = rng.standard_normal((8, 8)).astype(np.float32)
    y = rng.standard_normal((8, 8)).astype(np.float32)
    (fast,), rf, _ = sim.plan(text).run_on_sram([x, y])  # every step, as the wavelet engine
    (wave,), rw = sim.run(text.replace('#pf.target<"small">', WAVELET), x, y)
    np.testing.assert_array_equal(wave, fast)
    np.testing.assert_array_equal(rw.wavelets, rf.wavelets)
    assert rw.flops == rf.flops and rw.pes_used == rf.pes_used


def test_routing_errors(sim):
    b = sim.Body()
    b.alloc("a", (0, 0, 1, 1), 4)
    b.op(sim.route(0, (0, 0, 1, 1), "ramp", ["north"]))
    b.op(send(sim, "a", 0, (0, 0, 1, 1), b.t("a")))
    with pytest.raises(RoutingError, match="leaves the fabric"):
        sim.run(sim.program(b.text(), target=WAVELET))
    b = sim.Body()
    b.alloc("a", (0, 0, 2, 2), 4)
    b.op(sim.route(0, (0, 0, 1, 1), "ramp", ["east"]))
    b.op(sim.route(0, (0, 1, 1, 1), "west", ["south"]))
    b.op(sim.route(0, (1, 1, 1, 1), "north", ["west"]))
    b.op(sim.route(0, (1, 0, 1, 1), "east", ["north"]))
    b.op(sim.route(0, (0, 0, 1, 1), "south", ["east"]))
    b.op(send(sim, "a", 0, (0, 0, 1, 1), b.t("a")))
    with pytest.raises(RoutingError, match="routing loop"):
        sim.run(sim.program(b.text(), target=WAVELET))


def test_more_than_16x16_pes_is_refused(sim):
    b = sim.Body()
    b.alloc("a", (0, 0, 1, 17), 4)
    b.op(f"pe.fill %a {{value = 1.0 : f64, pes = {sim.pes((0, 0, 1, 17))}}} : {b.t('a')}")
    text = sim.program(b.text(), target='#pf.target<"WSE2", fidelity = "wavelet">')
    with pytest.raises(CompileError, match="up to 16x16 PEs; this program spans 1x17"):
        sim.plan(text)


def test_pf_eval_runs_the_targets_engine():
    """The fidelity is part of the target, so of the cache key: the same graph evaluated for
    both engines gives the same values and each engine's own report."""
    rng = np.random.default_rng(3)
    v = rng.standard_normal((16, 16)).astype(np.float32)
    reports = {}
    before = pf.sim.get_target()
    try:
        for fidelity in ("fast", "wavelet"):
            pf.sim.set_target(dataclasses.replace(SMALL, fidelity=fidelity))
            lay = pf.MeshLayout.grid(2, 2)
            z = pf.from_numpy(v, layout=lay) @ pf.from_numpy(v, layout=lay)
            pf.eval(z)
            np.testing.assert_allclose(z.numpy(), v @ v, rtol=1e-5, atol=1e-5)
            reports[fidelity] = pf.last_report()
    finally:
        pf.sim.set_target(before)
    assert reports["fast"] is not reports["wavelet"]
    assert reports["wavelet"].cycles > 0 and reports["wavelet"].wavelets.sum() > 0


def test_two_colors_share_a_link_wavelet_by_wavelet(sim):
    """PE (0, 0) streams on color 0 through PE (0, 1) to PE (0, 2) while PE (0, 1) streams on
    color 1 to PE (0, 2): the link (0, 1) -> (0, 2) carries both, and the second stream, which
    waits for (0, 2)'s input ramp, does not hold the link meanwhile."""
    w = 60
    b = sim.Body()
    b.alloc("a", (0, 0, 1, 3), w)
    b.alloc("b", (0, 0, 1, 3), w)
    b.op(sim.route(0, (0, 0, 1, 1), "ramp", ["east"]))
    b.op(sim.route(0, (0, 1, 1, 1), "west", ["east"]))
    b.op(sim.route(0, (0, 2, 1, 1), "west", ["ramp"]))
    b.op(sim.route(1, (0, 1, 1, 1), "ramp", ["east"]))
    b.op(sim.route(1, (0, 2, 1, 1), "west", ["ramp"]))
    b.op(send(sim, "a", 0, (0, 0, 1, 1), b.t("a"), token="t0"))
    b.op(send(sim, "b", 1, (0, 1, 1, 1), b.t("b"), token="t1"))
    b.op(recv(sim, "a", 0, (0, 2, 1, 1), b.t("a")))
    b.op(recv(sim, "b", 1, (0, 2, 1, 1), b.t("b")))
    b.op(f"pe.wait %t0 {{pes = {sim.pes((0, 0, 1, 1))}}}")
    b.op(f"pe.wait %t1 {{pes = {sim.pes((0, 1, 1, 1))}}}")
    report = sim.plan(sim.program(b.text(), target=WAVELET)).report
    assert report.wavelets[0, 1, 2] == 2 * w and report.wavelets[0, 0, 2] == w
    # (0, 2) drains color 0 first; the link alternates between the colors until color 1's
    # queues on (0, 2) are full (at most ce + router queue wavelets), then carries color 0 only
    alone = C_ISSUE + 2 + 2 * 1 + 2 + w + ACT
    held = SMALL.ce_queue_wavelets + SMALL.router_queue_wavelets
    first = [e for c, s, e, p in events(report) if c == 2 and p == "receive"][0]
    assert alone < first <= alone + held
    # then color 1: what its queues held is there already, the rest streams at a wavelet a cycle
    assert first + w - held <= report.cycles <= first + w + C_ISSUE + ACT


def test_a_forwarding_chain_streams_through_its_pes(sim, rng):
    """PE (0, 0) sends w wavelets east; PEs 1..p-2 add theirs and pass the sum on as it streams
    (pe.recv combine sum forward); the last PE adds too. The last PE ends about w + p stages
    after the start, not p * w."""
    p, w = 6, 200
    full = (0, 0, 1, p)
    b = sim.Body()
    b.alloc("a", full, w)
    lay, tt = sim.layout((p * w,), (1, p), ("c",)), sim.tensor((p * w,))
    b.op(f"pe.host_in %x, %a {{layout = {lay}, pes = {sim.pes(full)}}} : {tt}, {b.t('a')}")
    b.op(sim.route(0, (0, 0, 1, p - 1), "ramp", ["east"]))
    b.op(sim.route(0, (0, 1, 1, p - 1), "west", ["ramp"]))
    b.op(send(sim, "a", 0, (0, 0, 1, 1), b.t("a")))
    for j in range(1, p):  # one op per stage, as the fast engine plans a rectangle at once
        fwd = " forward" if j < p - 1 else ""
        at = sim.pes((0, j, 1, 1))
        b.op(f"pe.recv %a combine sum{fwd} {{color = 0 : i64, pes = {at}}} : {b.t('a')}")
    b.op(f"%o = pe.host_out %a {{layout = {lay}, pes = {sim.pes(full)}}} : {b.t('a')} -> {tt}")
    x = rng.standard_normal(p * w).astype(np.float32)
    text = sim.program(b.text(), f"%x: {tt}", tt, f"%o : {tt}", target=WAVELET)
    (o,), report = sim.run(text, x)
    np.testing.assert_allclose(o.reshape(p, w), np.cumsum(x.reshape(p, w), axis=0), rtol=1e-5)
    assert w < report.cycles < w + p * 30  # a pipeline, not p * w
    (fast,), fast_report = sim.run(text.replace(WAVELET, '#pf.target<"small">'), x)
    np.testing.assert_array_equal(o, fast)
    assert abs(report.cycles - fast_report.cycles) <= 0.05 * fast_report.cycles


def test_a_link_is_granted_round_robin_from_its_last_grant():
    """Three (input port, color) queues of one router want the same link every cycle: the
    link serves them in turn (a requester waits one grant of each other one at most), whatever
    the cycle number; a time-rotating priority let one queue win many cycles in a row."""
    from pyflame.sim.wavelet.network import NPORTS, Network

    net = Network(1, 1, [0, 1, 2], SMALL)
    port, k = np.array([0, 2, 4]), np.array([0, 1, 2])
    pc, res = np.arange(3), np.full(3, 3)  # each wants link 3 of router 0
    order = []
    for t in range(12):
        granted = net._arbitrate(t, 3, pc, res, port, k, np.ones(3, dtype=bool))
        assert granted.sum() == 1
        net._remember(granted[pc], pc, res, port * net.K + k)
        order.append(int(np.flatnonzero(granted)[0]))
    assert order == [order[0], order[1], order[2]] * 4 and len(set(order[:3])) == 3
    # a multicast (candidate 0: links 1 and 3) against two rivals, one on each link: one rank
    # per requester (its worst), so it wins both or loses both (ranked per link it could win
    # one and lose the other while each rival did the opposite: nobody moved, a false deadlock)
    for last_1 in range(-1, NPORTS * 3):
        for last_3 in range(-1, NPORTS * 3):
            net = Network(1, 1, [0, 1, 2], SMALL)
            net.last_grant[[1, 3]] = last_1, last_3
            pc, res = np.array([0, 0, 1, 2]), np.array([1, 3, 3, 1])
            port, k = np.array([0, 2, 4]), np.array([0, 1, 2])
            granted = net._arbitrate(0, 3, pc, res, port, k, np.ones(3, dtype=bool))
            assert granted.tolist() in ([True, False, False], [False, True, True])
    assert NPORTS == 5
