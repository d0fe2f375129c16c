"""Route switches against traffic (pyflame/sim/fabric.py `RuleUses`): a PE switches its own
router when it reaches a `pe.route`, unordered with what other PEs send through that router, so
the planner reports a switch that would misroute wavelets still passing, and wavelets that reach
a router before the switch their op relies on. allocate-colors orders the switches of compiled
programs (tests/unit/test_allocate_colors.py)."""

from __future__ import annotations

import pytest

from pyflame.core.errors import DeadlockError, RoutingError

WAVELET = '#pf.target<"small", fidelity = "wavelet">'


def _line_program(
    sim,
    *,
    switch_after: int,
    send_after: int = 1,
    route_first: bool,
    target: str = '#pf.target<"small">',
) -> str:
    """PEs (0, 0) .. (0, 2): (0, 0) fills `send_after` words (time), then streams 64 words east
    through (0, 1)'s router; (0, 1) fills `switch_after` words, then replaces its west-port rule
    on color 0 (pass east) with one that delivers to itself. Without `route_first` the send
    comes first in program order and goes to (0, 2) under the old rule; with it, the switch
    comes first and the send relies on the new rule (received by (0, 1))."""
    b = sim.Body()
    b.alloc("a", (0, 0, 1, 3), 64)
    b.alloc("s", (0, 0, 1, 1), send_after)
    b.alloc("w", (0, 1, 1, 1), switch_after)
    b.op(sim.route(0, (0, 0, 1, 1), "ramp", ("east",)))
    b.op(sim.route(0, (0, 1, 1, 1), "west", ("east",)))
    b.op(sim.route(0, (0, 2, 1, 1), "west", ("ramp",)))
    b.op(f"pe.fill %s {{value = 1.0 : f64, pes = {sim.pes((0, 0, 1, 1))}}} : {b.t('s')}")
    b.op(f"pe.fill %w {{value = 1.0 : f64, pes = {sim.pes((0, 1, 1, 1))}}} : {b.t('w')}")
    switch = sim.route(0, (0, 1, 1, 1), "west", ("ramp",))
    send = f"pe.send %a {{color = 0 : i64, pes = {sim.pes((0, 0, 1, 1))}}} : {b.t('a')}"
    receiver = (0, 1, 1, 1) if route_first else (0, 2, 1, 1)
    recv = f"pe.recv %a {{color = 0 : i64, pes = {sim.pes(receiver)}}} : {b.t('a')}"
    b.lines += ["    " + x for x in ([switch, send, recv] if route_first else [send, recv, switch])]
    return sim.program(b.text(), target=target)


def test_a_switch_while_wavelets_still_pass_is_a_routing_error(sim):
    # (0, 1) reaches its switch at once while the 64-word stream passes its router
    with pytest.raises(RoutingError, match=r"PE \(0, 1\) switches its router's rule for color 0"):
        sim.plan(_line_program(sim, switch_after=1, route_first=False))


def test_a_switch_before_an_earlier_send_arrives_is_a_routing_error(sim):
    # the send is earlier in program order, but its PE is busy: (0, 1) switches first
    with pytest.raises(RoutingError, match=r"still pass that port until cycle"):
        sim.plan(_line_program(sim, switch_after=1, send_after=400, route_first=False))


def test_a_switch_after_the_traffic_passed_is_fine(sim):
    ex = sim.plan(_line_program(sim, switch_after=400, route_first=False))
    assert ex.report.cycles > 400


def test_wavelets_reaching_a_router_before_its_switch_is_a_routing_error(sim):
    # (0, 1) is busy filling 400 words when (0, 0)'s stream, which needs the new rule, arrives
    with pytest.raises(RoutingError, match=r"before the rule it needs takes effect"):
        sim.plan(_line_program(sim, switch_after=400, route_first=True))


def test_a_switch_before_the_wavelets_arrive_is_fine(sim):
    ex = sim.plan(_line_program(sim, switch_after=1, send_after=100, route_first=True))
    assert ex.report.cycles > 100 + 64


@pytest.mark.parametrize("switch_after, send_after, route_first", [(1, 400, False), (400, 1, True)])
def test_the_wavelet_engine_fails_on_the_racing_programs_too(
    sim, switch_after, send_after, route_first
):
    """As the machine would: the wavelets go where the rule of the moment sends them. (A switch
    in the middle of a passing stream waits there until the router's queue drains, so the
    first case above is the fast engine's alone.)"""
    text = _line_program(
        sim,
        switch_after=switch_after,
        send_after=send_after,
        route_first=route_first,
        target=WAVELET,
    )
    with pytest.raises((RoutingError, DeadlockError)):
        sim.run(text)
