"""Arrival order per (PE, color) (pyflame/sim/arrivals.py): a PE's receives on a color take
messages in the order their heads reach it, so a message the planner posts later but whose
sender is ready first (a PE idle until then) would be taken first on the machine. Both engines
report such a race alike: the fast engine by the arrival check, the wavelet engine (which moves
every wavelet) because the receive takes the wrong message."""

from __future__ import annotations

import numpy as np
import pytest

from pyflame.core.errors import RoutingError

WAVELET = '#pf.target<"small", fidelity = "wavelet">'


def _two_senders(sim, *, first_busy: int, second_busy: int, sizes=(8, 4), target=None) -> str:
    """PEs (0, 0) .. (0, 2) on color 0: (0, 0) fills `first_busy` words, then sends `a`
    (sizes[0] words, 1.0 each) east to (0, 1); (0, 2) fills `second_busy` words, then sends `b`
    (sizes[1] words, 2.0 each) west to (0, 1). In program order (0, 1) receives `a`'s message
    first, then `b`'s, from two input ports of one color (two rules that coexist: no switch)."""
    b = sim.Body()
    b.alloc("a", (0, 0, 1, 3), sizes[0])
    b.alloc("b", (0, 0, 1, 3), sizes[1])
    b.alloc("s", (0, 0, 1, 1), first_busy)
    b.alloc("w", (0, 2, 1, 1), second_busy)
    b.op(sim.route(0, (0, 0, 1, 1), "ramp", ("east",)))
    b.op(sim.route(0, (0, 1, 1, 1), "west", ("ramp",)))
    b.op(sim.route(0, (0, 2, 1, 1), "ramp", ("west",)))
    b.op(sim.route(0, (0, 1, 1, 1), "east", ("ramp",)))
    b.op(f"pe.fill %a {{value = 1.0 : f64, pes = {sim.pes((0, 0, 1, 1))}}} : {b.t('a')}")
    b.op(f"pe.fill %b {{value = 2.0 : f64, pes = {sim.pes((0, 2, 1, 1))}}} : {b.t('b')}")
    b.op(f"pe.fill %s {{value = 1.0 : f64, pes = {sim.pes((0, 0, 1, 1))}}} : {b.t('s')}")
    b.op(f"pe.fill %w {{value = 1.0 : f64, pes = {sim.pes((0, 2, 1, 1))}}} : {b.t('w')}")
    loc = ' loc("model.py":{}:3)'
    b.op(f"pe.send %a {{color = 0 : i64, pes = {sim.pes((0, 0, 1, 1))}}} : {b.t('a')}")
    b.op(
        f"pe.recv %a {{color = 0 : i64, pes = {sim.pes((0, 1, 1, 1))}}} : {b.t('a')}"
        + loc.format(12)
    )
    b.op(
        f"pe.send %b {{color = 0 : i64, pes = {sim.pes((0, 2, 1, 1))}}} : {b.t('b')}"
        + loc.format(13)
    )
    b.op(f"pe.recv %b {{color = 0 : i64, pes = {sim.pes((0, 1, 1, 1))}}} : {b.t('b')}")
    lay_a = sim.layout((sizes[0],), (1, 1), ("",))
    lay_b = sim.layout((sizes[1],), (1, 1), ("",))
    ta, tb = sim.tensor((sizes[0],)), sim.tensor((sizes[1],))
    one = sim.pes((0, 1, 1, 1))
    b.op(f"%oa = pe.host_out %a {{layout = {lay_a}, pes = {one}}} : {b.t('a')} -> {ta}")
    b.op(f"%ob = pe.host_out %b {{layout = {lay_b}, pes = {one}}} : {b.t('b')} -> {tb}")
    kw = {"target": target} if target else {}
    return sim.program(b.text(), results=f"{ta}, {tb}", ret=f"%oa, %ob : {ta}, {tb}", **kw)


@pytest.mark.parametrize("target", [None, WAVELET])
def test_an_idle_sender_overtaking_an_earlier_message_is_a_routing_error(sim, target):
    # (0, 0) is busy for 400 words: (0, 2)'s message, posted after (0, 1)'s first receive,
    # reaches (0, 1) first; that receive (8 words) would take the 4-word message
    text = _two_senders(sim, first_busy=400, second_busy=1, target=target)
    with pytest.raises(RoutingError) as e:
        sim.run(text)
    msg = str(e.value)
    assert "PE (0, 1)" in msg and "color 0" in msg
    if target is None:  # the fast engine names both transfers, the later one by its line
        assert "model.py:13" in msg and "PE (0, 2)" in msg and "PE (0, 0)" in msg
        assert "at cycle" in msg and "race" in msg


def test_an_overtaking_message_of_the_same_size_is_caught_by_the_fast_engine(sim):
    # same sizes: on the machine (and the wavelet engine) the values would be silently swapped
    with pytest.raises(RoutingError, match=r"would take them in the other order"):
        sim.run(_two_senders(sim, first_busy=400, second_busy=1, sizes=(4, 4)))


@pytest.mark.parametrize("target", [None, WAVELET])
def test_messages_arriving_in_program_order_are_fine(sim, target):
    # (0, 2) is the busy one: its message comes after (0, 0)'s, as the program takes them
    a, b = sim.run(_two_senders(sim, first_busy=1, second_busy=400, target=target))[0]
    np.testing.assert_array_equal(a, np.ones(8, np.float32))
    np.testing.assert_array_equal(b, np.full(4, 2.0, np.float32))


def test_the_engines_agree_on_the_ordered_program(sim):
    fast = sim.run(_two_senders(sim, first_busy=1, second_busy=400))[1].cycles
    wave = sim.run(_two_senders(sim, first_busy=1, second_busy=400, target=WAVELET))[1].cycles
    assert abs(fast - wave) <= 0.05 * fast


@pytest.mark.parametrize("target", [None, WAVELET])
def test_an_exchange_phase_while_a_message_waits_on_its_color_is_a_routing_error(sim, target):
    # PE (0, 0) sends `m` to PE (0, 1) on color 0, then an exchange phase on color 0 (the same
    # rules) sends (0, 1) half of `s`, and only then does (0, 1) receive `m`: its queue holds
    # `m` first, so the phase would take it
    b = sim.Body()
    b.alloc("s", (0, 0, 1, 1), 8)
    b.alloc("d", (0, 0, 1, 2), 4)
    b.alloc("m", (0, 0, 1, 2), 4)
    b.op(sim.route(0, (0, 0, 1, 1), "ramp", ("east",)))
    b.op(sim.route(0, (0, 1, 1, 1), "west", ("ramp",)))
    b.op(f"pe.fill %s {{value = 1.0 : f64, pes = {sim.pes((0, 0, 1, 1))}}} : {b.t('s')}")
    b.op(f"pe.fill %m {{value = 2.0 : f64, pes = {sim.pes((0, 0, 1, 1))}}} : {b.t('m')}")
    b.op(f"pe.send %m {{color = 0 : i64, pes = {sim.pes((0, 0, 1, 1))}}} : {b.t('m')}")
    phases = sim.exchange(b, "d", "s", ((8,), (1, 1), ("",)), ((8,), (1, 2), ("c",)))
    assert phases == 1
    b.op(f"pe.recv %m {{color = 0 : i64, pes = {sim.pes((0, 1, 1, 1))}}} : {b.t('m')}")
    text = sim.program(b.text(), **({"target": target} if target else {}))
    with pytest.raises(RoutingError, match=r"PE \(0, 1\)"):
        sim.run(text)
