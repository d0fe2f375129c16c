"""Routes, sends and receives: data, timing, and the errors a broken program gets."""

from __future__ import annotations

import numpy as np
import pytest

from pyflame.core.errors import (
    ColorAllocationError,
    CompileError,
    DeadlockError,
    RoutingError,
    SRAMFault,
)
from pyflame.core.target import SMALL


def send(sim, name, color, rect, t):
    return f"pe.send %{name} {{color = {color} : i64, pes = {sim.pes(rect)}}} : {t}"


def recv(sim, name, color, rect, t, combine=None, loc=""):
    a = f" combine {combine}" if combine else ""
    return f"pe.recv %{name}{a} {{color = {color} : i64, pes = {sim.pes(rect)}}} : {t}{loc}"


def test_row_broadcast(sim, rng):
    """PE column 1 multicasts along every row; every PE (itself included) receives."""
    R, C, n = 3, 4, 5
    full = (0, 0, R, C)
    b = sim.Body()
    b.alloc("a", full, n)
    b.alloc("w", full, n)
    arg = sim.io(b, "a", full, n)
    for r in sim.row_broadcast_routes(0, R, C):
        b.op(r)
    b.op(send(sim, "a", 0, (0, 1, R, 1), b.t("a")))
    b.op(recv(sim, "w", 0, full, b.t("w")))
    tt = sim.io(b, "w", full, n, out="o")
    (o,), report = sim.run(
        sim.program(b.text(), arg, tt, f"%o : {tt}"),
        x := rng.standard_normal(R * C * n).astype(np.float32),
    )
    tiles = x.reshape(R, C, n)
    np.testing.assert_array_equal(o.reshape(R, C, n), np.broadcast_to(tiles[:, 1:2], (R, C, n)))
    # timing: the root (col 1) sends first (issue c, n wavelets), then receives its own message
    # from its queue (issue c, n cycles of draining), then the completion activates its task;
    # the farthest PE (col 3) began at once and is done at c + 2 + 2 + n + 2 + activation
    c = SMALL.vector_issue_cycles
    assert report.cycles == (c + n) + (c + n) + SMALL.task_activation_cycles
    # link counters: from col 1 east (to 2) and west (to 0), and from col 2 east (to 3)
    w = report.wavelets
    assert w[:, 1, 2].tolist() == [n] * R and w[:, 1, 3].tolist() == [n] * R
    assert w[:, 2, 2].tolist() == [n] * R and w[:, 0].sum() == 0 and w[:, 3].sum() == 0


def test_point_to_point_timing(sim):
    """One send of w wavelets to the east neighbour, longer than the path holds: both PEs
    issue at c; the receiver finishes at c + ramp + hop + w + ramp (then its task runs); the
    sender after streaming w wavelets."""
    w = 40
    b = sim.Body()
    b.alloc("a", (0, 0, 1, 2), w)
    b.op(sim.route(0, (0, 0, 1, 1), "ramp", ["east"]))
    b.op(sim.route(0, (0, 1, 1, 1), "west", ["ramp"]))
    b.op(send(sim, "a", 0, (0, 0, 1, 1), b.t("a")))
    b.op(recv(sim, "a", 0, (0, 1, 1, 1), b.t("a")))
    report = sim.plan(sim.program(b.text())).report
    c = SMALL.vector_issue_cycles
    assert report.cycles == c + 2 + 1 + w + 2 + SMALL.task_activation_cycles
    assert report.busy_cycles[0, 0] == c + w
    assert report.wavelets[0, 0, 2] == w and report.wavelets.sum() == w


def test_timeline_shows_the_send_and_the_receivers_stall(sim):
    """The point-to-point program's timeline (row 0): PE (0, 0) issues and sends for c + w
    cycles from 0; PE (0, 1) stalls while the stream flows in, then its receive's issue and
    task activation."""
    w = 40
    b = sim.Body()
    b.alloc("a", (0, 0, 1, 2), w)
    b.op(sim.route(0, (0, 0, 1, 1), "ramp", ["east"]))
    b.op(sim.route(0, (0, 1, 1, 1), "west", ["ramp"]))
    b.op(send(sim, "a", 0, (0, 0, 1, 1), b.t("a")))
    b.op(recv(sim, "a", 0, (0, 1, 1, 1), b.t("a")))
    timeline = sim.plan(sim.program(b.text())).report.timeline
    phases = timeline.to_dict()["phases"]
    events = [(c, start, end, phases[p]) for c, start, end, p, _ in timeline.events().tolist()]
    c = SMALL.vector_issue_cycles
    done = c + 2 + 1 + w + 2 + SMALL.task_activation_cycles
    assert events == [
        (0, 0, c + w, "send"),
        (1, 0, done - c - SMALL.task_activation_cycles, "stall"),
        (1, done - c - SMALL.task_activation_cycles, done, "receive"),
    ]
    assert timeline.row == 0 and "pe.recv" in timeline.ops[int(timeline.events()[-1, 4])]


def test_east_shift_chain_with_combine_sum(sim, rng):
    """A running sum along each row: PE col j adds what col j-1 sends, then passes it on."""
    R, C, n = 2, 4, 3
    full = (0, 0, R, C)
    b = sim.Body()
    b.alloc("a", full, n)
    arg = sim.io(b, "a", full, n)
    b.op(sim.route(0, (0, 0, R, C - 1), "ramp", ["east"]))
    b.op(sim.route(0, (0, 1, R, C - 1), "west", ["ramp"]))
    for j in range(C - 1):
        b.op(send(sim, "a", 0, (0, j, R, 1), b.t("a")))
        b.op(recv(sim, "a", 0, (0, j + 1, R, 1), b.t("a"), combine="sum"))
    tt = sim.io(b, "a", full, n, out="o")
    x = rng.standard_normal(R * C * n).astype(np.float32)
    exe = sim.plan(sim.program(b.text(), arg, tt, f"%o : {tt}"))
    (o,), report = exe.run([x])
    np.testing.assert_allclose(o.reshape(R, C, n), np.cumsum(x.reshape(R, C, n), axis=1), rtol=1e-6)
    # each step waits for the previous: latency adds up along the chain
    one = 2 + 1 + n + 2
    assert report.cycles >= (C - 1) * one
    assert report.flops == (C - 1) * R * n


def test_shift_all_pes_at_once(sim, rng):
    """Every PE sends east at once, every PE but col 0 receives (one send op, one recv op)."""
    R, C, n = 2, 3, 4
    full = (0, 0, R, C)
    b = sim.Body()
    b.alloc("a", full, n)
    b.alloc("w", full, n)
    arg = sim.io(b, "a", full, n)
    b.op(f"pe.fill %w {{value = 0.0 : f64, pes = {sim.pes(full)}}} : {b.t('w')}")
    b.op(sim.route(0, (0, 0, R, C - 1), "ramp", ["east"]))
    b.op(sim.route(0, (0, 1, R, C - 1), "west", ["ramp"]))
    b.op(send(sim, "a", 0, (0, 0, R, C - 1), b.t("a")))
    b.op(recv(sim, "w", 0, (0, 1, R, C - 1), b.t("w")))
    tt = sim.io(b, "w", full, n, out="o")
    x = rng.standard_normal(R * C * n).astype(np.float32)
    (o,), _ = sim.run(sim.program(b.text(), arg, tt, f"%o : {tt}"), x)
    want = np.zeros((R, C, n), np.float32)
    want[:, 1:] = x.reshape(R, C, n)[:, :-1]
    np.testing.assert_array_equal(o.reshape(R, C, n), want)


def test_message_is_a_snapshot_at_send_time(sim):
    b = sim.Body()
    b.alloc("a", (0, 0, 1, 2), 2)
    b.alloc("w", (0, 0, 1, 2), 2)
    b.op(sim.route(0, (0, 0, 1, 1), "ramp", ["east"]))
    b.op(sim.route(0, (0, 1, 1, 1), "west", ["ramp"]))
    b.op(f"pe.fill %a {{value = 1.0 : f64, pes = {sim.pes((0, 0, 1, 2))}}} : {b.t('a')}")
    b.op(send(sim, "a", 0, (0, 0, 1, 1), b.t("a")))
    b.op(f"pe.fill %a {{value = 2.0 : f64, pes = {sim.pes((0, 0, 1, 1))}}} : {b.t('a')}")
    b.op(recv(sim, "w", 0, (0, 1, 1, 1), b.t("w")))
    tt = sim.io(b, "w", (0, 0, 1, 2), 2, out="o")
    (o,), _ = sim.run(sim.program(b.text(), "", tt, f"%o : {tt}"))
    assert o.tolist() == [0, 0, 1, 1]


def test_two_messages_queue_in_order(sim):
    """Two sends to one PE before it receives: its receives take them oldest first."""
    b = sim.Body()
    b.alloc("a", (0, 0, 1, 2), 1)
    b.alloc("w", (0, 0, 1, 2), 1)
    b.op(sim.route(0, (0, 0, 1, 1), "ramp", ["east"]))
    b.op(sim.route(0, (0, 1, 1, 1), "west", ["ramp"]))
    for v in (1.0, 2.0):
        b.op(f"pe.fill %a {{value = {v} : f64, pes = {sim.pes((0, 0, 1, 1))}}} : {b.t('a')}")
        b.op(send(sim, "a", 0, (0, 0, 1, 1), b.t("a")))
    b.op(recv(sim, "w", 0, (0, 1, 1, 1), b.t("w")))
    b.op(f"pe.copy %a, %w {{pes = {sim.pes((0, 1, 1, 1))}}} : {b.t('a', 'w')}")
    b.op(recv(sim, "w", 0, (0, 1, 1, 1), b.t("w")))
    b.op(f"pe.binary sub %w, %w, %a {{pes = {sim.pes((0, 1, 1, 1))}}} : {b.t('w', 'w', 'a')}")
    tt = sim.io(b, "w", (0, 0, 1, 2), 1, out="o")
    (o,), _ = sim.run(sim.program(b.text(), "", tt, f"%o : {tt}"))
    assert o[1] == 1.0  # second (2.0) minus first (1.0)


# --------------------------------------------------------------------------- contention


def _converge(sim, both: bool, w: int = 64):
    """PE (0,0) sends east through (0,1) to (0,2); optionally (0,1) sends to (0,2) too,
    first (its message arrives first: the other order would be a race, test_arrivals.py)."""
    b = sim.Body()
    b.alloc("a", (0, 0, 1, 3), w)
    b.op(sim.route(0, (0, 0, 1, 2), "ramp", ["east"]))
    b.op(sim.route(0, (0, 1, 1, 1), "west", ["east"]))
    b.op(sim.route(0, (0, 2, 1, 1), "west", ["ramp"]))
    if both:
        b.op(send(sim, "a", 0, (0, 1, 1, 1), b.t("a")))
    b.op(send(sim, "a", 0, (0, 0, 1, 1), b.t("a")))
    b.op(recv(sim, "a", 0, (0, 2, 1, 1), b.t("a")))
    if both:
        b.op(recv(sim, "a", 0, (0, 2, 1, 1), b.t("a")))
    return sim.plan(sim.program(b.text())).report


def test_contention_serialises_a_shared_link(sim):
    w = 64
    one, two = _converge(sim, False, w), _converge(sim, True, w)
    assert one.cycles == SMALL.vector_issue_cycles + 2 + 2 + w + 2 + SMALL.task_activation_cycles
    assert two.cycles >= one.cycles + w  # the second message waits for the shared link
    assert two.wavelets[0, 1, 2] == 2 * w


def test_sources_of_one_send_share_a_link(sim):
    """Both PEs of one send op go through link (0,1)->east: they serialise too."""
    w = 32
    b = sim.Body()
    b.alloc("a", (0, 0, 1, 3), w)
    b.op(sim.route(0, (0, 0, 1, 2), "ramp", ["east"]))
    b.op(sim.route(0, (0, 1, 1, 1), "west", ["east"]))
    b.op(sim.route(0, (0, 2, 1, 1), "west", ["ramp"]))
    b.op(send(sim, "a", 0, (0, 0, 1, 2), b.t("a")))
    b.op(recv(sim, "a", 0, (0, 2, 1, 1), b.t("a")))
    b.op(recv(sim, "a", 0, (0, 2, 1, 1), b.t("a")))
    report = sim.plan(sim.program(b.text())).report
    assert report.cycles >= 2 * w + 4
    assert report.wavelets[0, 1, 2] == 2 * w


# --------------------------------------------------------------------------- errors


def test_recv_without_send_deadlocks(sim):
    b = sim.Body()
    b.alloc("a", (0, 0, 2, 2), 4)
    b.op(recv(sim, "a", 3, (1, 0, 1, 1), b.t("a"), loc=' loc("model.py":12:3)'))
    with pytest.raises(DeadlockError) as e:
        sim.plan(sim.program(b.text()))
    assert e.value.waiting == [((1, 0), 3)]
    msg = str(e.value)
    assert "PE (1, 0)" in msg and "color 3" in msg and "model.py:12" in msg
    assert e.value.op.name == "pe.recv"  # tools print the op's file:line:col first


def test_two_pes_receiving_before_sending_deadlock(sim):
    b = sim.Body()
    b.alloc("a", (0, 0, 1, 2), 4)
    b.op(sim.route(0, (0, 1, 1, 1), "ramp", ["west"]))
    b.op(sim.route(0, (0, 0, 1, 1), "east", ["ramp"]))
    b.op(sim.route(1, (0, 0, 1, 1), "ramp", ["east"]))
    b.op(sim.route(1, (0, 1, 1, 1), "west", ["ramp"]))
    b.op(recv(sim, "a", 0, (0, 0, 1, 1), b.t("a")))
    b.op(recv(sim, "a", 1, (0, 1, 1, 1), b.t("a")))
    b.op(send(sim, "a", 1, (0, 0, 1, 1), b.t("a")))
    b.op(send(sim, "a", 0, (0, 1, 1, 1), b.t("a")))
    with pytest.raises(DeadlockError) as e:
        sim.plan(sim.program(b.text()))
    assert sorted(e.value.waiting) == [((0, 0), 0), ((0, 1), 1)]
    assert "PE (0, 0)" in str(e.value) and "PE (0, 1)" in str(e.value)


def test_same_program_in_a_working_order(sim):
    """Swapping one PE's send and receive breaks the cycle."""
    b = sim.Body()
    b.alloc("a", (0, 0, 1, 2), 4)
    b.op(sim.route(0, (0, 1, 1, 1), "ramp", ["west"]))
    b.op(sim.route(0, (0, 0, 1, 1), "east", ["ramp"]))
    b.op(sim.route(1, (0, 0, 1, 1), "ramp", ["east"]))
    b.op(sim.route(1, (0, 1, 1, 1), "west", ["ramp"]))
    b.op(recv(sim, "a", 0, (0, 0, 1, 1), b.t("a")))
    b.op(send(sim, "a", 0, (0, 1, 1, 1), b.t("a")))
    b.op(recv(sim, "a", 1, (0, 1, 1, 1), b.t("a")))
    b.op(send(sim, "a", 1, (0, 0, 1, 1), b.t("a")))
    report = sim.plan(sim.program(b.text())).report
    c = SMALL.vector_issue_cycles
    assert report.cycles == 2 * (c + 2 + 1 + 4 + 2 + SMALL.task_activation_cycles)


def test_route_leaving_the_fabric(sim):
    edge = SMALL.fabric_cols - 1
    b = sim.Body()
    b.alloc("a", (0, edge, 1, 1), 4)
    b.op(sim.route(0, (0, edge, 1, 1), "ramp", ["east"]))
    b.op(send(sim, "a", 0, (0, edge, 1, 1), b.t("a")))
    with pytest.raises(RoutingError, match=rf"leaves the fabric.*PE \(0, {edge}\)"):
        sim.plan(sim.program(b.text()))


def test_route_leaving_the_programs_pes(sim):
    b = sim.Body()
    b.alloc("a", (0, 0, 1, 2), 4)
    b.op(sim.route(0, (0, 0, 1, 2), "ramp", ["east"]))
    b.op(send(sim, "a", 0, (0, 1, 1, 1), b.t("a")))
    with pytest.raises(RoutingError, match=r"color 0.*PE \(0, 2\)"):
        sim.plan(sim.program(b.text()))


def test_missing_rule(sim):
    b = sim.Body()
    b.alloc("a", (0, 0, 1, 2), 4)
    b.op(sim.route(2, (0, 0, 1, 1), "ramp", ["east"]))
    b.op(send(sim, "a", 2, (0, 0, 1, 1), b.t("a")))
    b.op(recv(sim, "a", 2, (0, 1, 1, 1), b.t("a")))
    with pytest.raises(RoutingError) as e:
        sim.plan(sim.program(b.text()))
    msg = str(e.value)
    assert "no route" in msg and "color 2" in msg and "PE (0, 1)" in msg and "PE (0, 0)" in msg


def test_send_with_no_route_at_all(sim):
    b = sim.Body()
    b.alloc("a", (0, 0, 1, 1), 4)
    b.op(send(sim, "a", 5, (0, 0, 1, 1), b.t("a")))
    with pytest.raises(RoutingError, match="no route is set for color 5"):
        sim.plan(sim.program(b.text()))


def test_routing_loop(sim):
    """A ring around a 2x2 square: the wavelet comes back to where it started."""
    b = sim.Body()
    b.alloc("a", (0, 0, 2, 2), 1)
    b.op(sim.route(0, (0, 0, 1, 1), "ramp", ["east"]))
    b.op(sim.route(0, (0, 1, 1, 1), "west", ["south"]))
    b.op(sim.route(0, (1, 1, 1, 1), "north", ["west"]))
    b.op(sim.route(0, (1, 0, 1, 1), "east", ["north"]))
    b.op(sim.route(0, (0, 0, 1, 1), "south", ["east"]))
    b.op(send(sim, "a", 0, (0, 0, 1, 1), b.t("a")))
    with pytest.raises(RoutingError, match="routing loop on color 0"):
        sim.plan(sim.program(b.text()))


def test_size_mismatch(sim):
    b = sim.Body()
    b.alloc("a", (0, 0, 1, 2), 4)
    b.alloc("w", (0, 0, 1, 2), 3)
    b.op(sim.route(0, (0, 0, 1, 1), "ramp", ["east"]))
    b.op(sim.route(0, (0, 1, 1, 1), "west", ["ramp"]))
    b.op(send(sim, "a", 0, (0, 0, 1, 1), b.t("a")))
    b.op(recv(sim, "w", 0, (0, 1, 1, 1), b.t("w")))
    with pytest.raises(RoutingError, match=r"PE \(0, 1\).*4 elements.*PE \(0, 0\).*3 elements"):
        sim.plan(sim.program(b.text()))


def test_message_never_received(sim):
    b = sim.Body()
    b.alloc("a", (0, 0, 1, 2), 4)
    b.op(sim.route(0, (0, 0, 1, 1), "ramp", ["east"]))
    b.op(sim.route(0, (0, 1, 1, 1), "west", ["ramp"]))
    b.op(send(sim, "a", 0, (0, 0, 1, 1), b.t("a")))
    with pytest.raises(RoutingError, match=r"color 0 from PE \(0, 0\).*never received"):
        sim.plan(sim.program(b.text()))


def test_color_beyond_the_target(sim):
    b = sim.Body()
    b.alloc("a", (0, 0, 1, 1), 4)
    b.op(sim.route(SMALL.num_colors, (0, 0, 1, 1), "ramp", ["ramp"]))
    with pytest.raises(ColorAllocationError, match="allocate-colors"):
        sim.plan(sim.program(b.text()))


def test_sram_fault(sim):
    b = sim.Body()
    b.alloc("big", (0, 0, 2, 2), 16, offset=49152 - 32)
    with pytest.raises(SRAMFault) as e:
        sim.plan(sim.program(b.text()))
    msg = str(e.value)
    assert "'big'" in msg and "49152" in msg and "49184" in msg and "rows 0..1" in msg


def test_buffer_in_the_code_reserve(sim):
    """The top sram_reserved_bytes hold code and stacks: a buffer there is a fault, although it
    fits the PE's SRAM."""
    usable = SMALL.usable_sram_bytes
    b = sim.Body()
    b.alloc("code", (0, 0, 1, 1), 4, offset=usable - 8)
    with pytest.raises(SRAMFault) as e:
        sim.plan(sim.program(b.text()))
    msg = str(e.value)
    assert "'code'" in msg and f"[{usable - 8}, {usable + 8})" in msg and "code and stacks" in msg
    b = sim.Body()
    b.alloc("last", (0, 0, 1, 1), 4, offset=usable - 16)  # ends exactly at the reserve
    sim.plan(sim.program(b.text()))


def test_buffer_outside_the_fabric(sim):
    b = sim.Body()
    b.alloc("far", (0, SMALL.fabric_cols - 1, 1, 2), 4)
    with pytest.raises(SRAMFault, match="'far'.*outside"):
        sim.plan(sim.program(b.text()))


def test_missing_offset(sim):
    text = sim.program(
        '    %a = pe.alloc {name = "a", pes = array<i64: 0, 0, 1, 1>} : !pe.buf<4xf32>'
    )
    with pytest.raises(CompileError, match="allocate-sram"):
        sim.plan(text)


def test_route_switch_costs_cycles(sim):
    b = sim.Body()
    b.alloc("a", (0, 0, 1, 2), 4)
    b.op(sim.route(0, (0, 0, 1, 2), "ramp", ["east"]))  # first setting: free
    b.op(sim.route(0, (0, 0, 1, 1), "ramp", ["east"]))  # unchanged: free
    report = sim.plan(sim.program(b.text())).report
    assert report.cycles == 0
    b.op(sim.route(0, (0, 1, 1, 1), "ramp", ["ramp"]))  # a change on (0, 1)
    report = sim.plan(sim.program(b.text())).report
    assert report.cycles == SMALL.route_switch_cycles
    assert report.busy_cycles.tolist() == [[0, SMALL.route_switch_cycles]]


def test_route_change_between_sends(sim, rng):
    """Routes take effect in program order: the same send goes elsewhere after a change."""
    b = sim.Body()
    b.alloc("a", (0, 0, 1, 3), 2)
    b.alloc("w", (0, 0, 1, 3), 2)
    b.op(f"pe.fill %w {{value = 0.0 : f64, pes = {sim.pes((0, 0, 1, 3))}}} : {b.t('w')}")
    b.op(f"pe.fill %a {{value = 5.0 : f64, pes = {sim.pes((0, 1, 1, 1))}}} : {b.t('a')}")
    b.op(sim.route(0, (0, 1, 1, 1), "ramp", ["east"]))
    b.op(sim.route(0, (0, 2, 1, 1), "west", ["ramp"]))
    b.op(send(sim, "a", 0, (0, 1, 1, 1), b.t("a")))
    b.op(recv(sim, "w", 0, (0, 2, 1, 1), b.t("w")))
    b.op(sim.route(0, (0, 1, 1, 1), "ramp", ["west"]))
    b.op(sim.route(0, (0, 0, 1, 1), "east", ["ramp"]))
    b.op(send(sim, "a", 0, (0, 1, 1, 1), b.t("a")))
    b.op(recv(sim, "w", 0, (0, 0, 1, 1), b.t("w")))
    tt = sim.io(b, "w", (0, 0, 1, 3), 2, out="o")
    (o,), _ = sim.run(sim.program(b.text(), "", tt, f"%o : {tt}"))
    assert o.tolist() == [5, 5, 0, 0, 5, 5]


@pytest.mark.parametrize("combine", [None, "sum"])
def test_rotation_received_in_blocks(sim, rng, monkeypatch, combine):
    """Every PE sends west on one color, col 0's message wrapping east past every row PE to the
    last col (SUMMA 2.5D's gather, a ring's wrap-around): each PE receives its east neighbour's
    tile, the last col col 0's. The receive copies two blocks (cols 1.. into 0.., col 0 into
    the last), not PE by PE, and gets what fancy indexing gets, combining or not."""
    from pyflame.sim.kernels import network

    R, C, n = 3, 5, 4
    full = (0, 0, R, C)
    b = sim.Body()
    b.alloc("a", full, n)
    b.alloc("w", full, n)
    arg_a = sim.io(b, "a", full, n)
    arg_w = sim.io(b, "w", full, n)
    b.op(sim.route(0, (0, 0, R, C - 1), "east", ["ramp"]))
    b.op(sim.route(0, (0, 0, R, 1), "ramp", ["east"]))
    b.op(sim.route(0, (0, 1, R, C - 1), "ramp", ["west"]))
    b.op(sim.route(0, (0, 1, R, C - 2), "west", ["east"]))
    b.op(sim.route(0, (0, C - 1, R, 1), "west", ["ramp"]))
    b.op(send(sim, "a", 0, full, b.t("a")))
    b.op(recv(sim, "w", 0, full, b.t("w"), combine=combine))
    tt = sim.io(b, "w", full, n, out="o")
    text = sim.program(b.text(), f"{arg_a}, {arg_w}", tt, f"%o : {tt}")
    x = rng.standard_normal(R * C * n).astype(np.float32)
    w = rng.standard_normal(R * C * n).astype(np.float32)
    found = []
    pieces = network._pieces
    monkeypatch.setattr(network, "_pieces", lambda ssel: found.append(pieces(ssel)) or found[-1])
    (o,), report = sim.plan(text).run([x, w])
    assert [len(p) for p in found if p is not None] == [2]
    moved = np.roll(x.reshape(R, C, n), -1, axis=1)
    want = moved if combine is None else w.reshape(R, C, n) + moved
    assert o.reshape(R, C, n).tobytes() == want.astype(np.float32).tobytes()
    monkeypatch.setattr(network, "MAX_PIECES", 0)  # fancy indexing: the same bytes and cycles
    monkeypatch.setattr(network, "_pieces", pieces)
    (fancy,), fancy_report = sim.plan(text).run([x, w])
    assert fancy.tobytes() == o.tobytes() and fancy_report.cycles == report.cycles


def _win(op: str, first: int, count: int) -> str:
    """`op` (a pe.send / pe.recv line) moving only `count` elements from element `first`."""
    name_end = op.index(" ", op.index("%"))
    return f"{op[:name_end]} window [{first}, {count}]{op[name_end:]}"


def test_window_halves_reduced_both_ways(sim, rng):
    """Each half of a vector goes its own way along every row (the two_way collective's
    chains): the first 4 of 7 elements combined eastward into col C-1, the last 3 westward
    into col 0, each middle PE receiving, adding and forwarding its half on (on its own
    color), so a middle PE holds the running sums of its side and the ends the totals."""
    R, C, n, h = 2, 5, 7, 4
    full = (0, 0, R, C)
    b = sim.Body()
    b.alloc("a", full, n)
    arg = sim.io(b, "a", full, n)
    b.op(sim.route(0, (0, 0, R, C - 1), "ramp", ["east"]))
    b.op(sim.route(0, (0, 1, R, C - 1), "west", ["ramp"]))
    b.op(sim.route(1, (0, 1, R, C - 1), "ramp", ["west"]))
    b.op(sim.route(1, (0, 0, R, C - 1), "east", ["ramp"]))
    t = b.t("a")
    b.op(_win(send(sim, "a", 0, (0, 0, R, 1), t), 0, h))
    b.op(_win(send(sim, "a", 1, (0, C - 1, R, 1), t), h, n - h))
    for j in range(1, C - 1):  # one stage per op: each forwards what the previous passed on
        fwd = recv(sim, "a", 0, (0, j, R, 1), t, combine="sum").replace(" {", " forward {", 1)
        b.op(_win(fwd, 0, h))
    b.op(_win(recv(sim, "a", 0, (0, C - 1, R, 1), t, combine="sum"), 0, h))
    for j in range(C - 2, 0, -1):
        fwd = recv(sim, "a", 1, (0, j, R, 1), t, combine="sum").replace(" {", " forward {", 1)
        b.op(_win(fwd, h, n - h))
    b.op(_win(recv(sim, "a", 1, (0, 0, R, 1), t, combine="sum"), h, n - h))
    tt = sim.io(b, "a", full, n, out="o")
    x = rng.standard_normal(R * C * n).astype(np.float32)
    (o,), report = sim.run(sim.program(b.text(), arg, tt, f"%o : {tt}"), x)
    tiles = x.reshape(R, C, n)
    want = np.empty_like(tiles)
    want[..., :h] = np.cumsum(tiles[..., :h], axis=1)
    want[..., h:] = np.cumsum(tiles[:, ::-1, h:], axis=1)[:, ::-1]
    np.testing.assert_allclose(o.reshape(R, C, n), want, rtol=1e-6)
    assert report.flops == (C - 1) * R * n  # every element combined once per hop
    # a link carries only its half: h wavelets east and n - h west between cols 1 and 2
    w = report.wavelets
    assert w[:, 1, 2].tolist() == [h] * R  # from col 1 east
    assert w[:, 2, 3].tolist() == [n - h] * R  # from col 2 west


def test_window_receive_writes_only_its_slice(sim, rng):
    """A plain receive of a window overwrites those elements and keeps the others; the
    message's length is the window's (a message of the whole buffer into a window of it is
    named as a size mismatch)."""
    n = 6
    b = sim.Body()
    b.alloc("a", (0, 0, 1, 2), n)
    arg = sim.io(b, "a", (0, 0, 1, 2), n)
    b.op(sim.route(0, (0, 0, 1, 1), "ramp", ["east"]))
    b.op(sim.route(0, (0, 1, 1, 1), "west", ["ramp"]))
    t = b.t("a")
    b.op(_win(send(sim, "a", 0, (0, 0, 1, 1), t), 4, 2))
    b.op(_win(recv(sim, "a", 0, (0, 1, 1, 1), t), 2, 2))
    tt = sim.io(b, "a", (0, 0, 1, 2), n, out="o")
    x = rng.standard_normal(2 * n).astype(np.float32)
    (o,), report = sim.run(sim.program(b.text(), arg, tt, f"%o : {tt}"), x)
    want = x.reshape(2, n).copy()
    want[1, 2:4] = want[0, 4:6]
    np.testing.assert_array_equal(o.reshape(2, n), want)
    assert report.wavelets[0, 0].sum() == 2
    bad = sim.Body()
    bad.alloc("a", (0, 0, 1, 2), n)
    bad.op(sim.route(0, (0, 0, 1, 1), "ramp", ["east"]))
    bad.op(sim.route(0, (0, 1, 1, 1), "west", ["ramp"]))
    bad.op(send(sim, "a", 0, (0, 0, 1, 1), t))
    bad.op(_win(recv(sim, "a", 0, (0, 1, 1, 1), t), 2, 2))
    with pytest.raises(RoutingError, match=r"a message of 6 elements.*into buffer 'a' of 2"):
        sim.plan(sim.program(bad.text()))
