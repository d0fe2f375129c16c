"""pe.exchange on the wavelet-level engine (pyflame/sim/wavelet/exchange.py): each network
phase's messages stream through the queues along the phase's routes, with the fast kernel's
timing and its routing errors."""

from __future__ import annotations

import numpy as np
import pytest
import test_sim_exchange as exchange_tests

from pyflame.core.distribution import Distribution
from pyflame.core.errors import RoutingError
from pyflame.core.target import SMALL
from pyflame.sim.wavelet import WaveletExecutable

TRANSPOSE = exchange_tests.TRANSPOSE


def wavelet(text: str) -> str:
    return text.replace('#pf.target<"small">', '#pf.target<"small", fidelity = "wavelet">')


def test_transpose_streams_each_message_over_its_two_hops(sim, rng):
    """2x2 [r, c] -> [c, r]: (0,1) -> west -> (0,0) -> south -> (1,0) and back through (1,1)."""
    text = wavelet(exchange_tests._exchange_program(sim, *TRANSPOSE))
    exe = sim.plan(text)
    assert isinstance(exe, WaveletExecutable)
    x = rng.standard_normal((8, 8)).astype(np.float32)
    (o,), report = exe.run([x])
    np.testing.assert_array_equal(o, x)
    w = 16
    # ramp + 2 hops + w wavelets + ramp, then the receivers' completion task
    assert report.cycles == 2 + 2 * 1 + w + 2 + SMALL.task_activation_cycles
    assert report.wavelets.sum() == 2 * 2 * w
    assert report.wavelets[0, 1, 3] == w  # (0, 1) sends west
    assert report.wavelets[0, 0, 1] == w  # (0, 0) passes it south
    # the sources stream w wavelets; the receivers are woken once
    assert report.busy_cycles[0, 1] == w + SMALL.task_activation_cycles


@pytest.mark.parametrize("shape,src,dst", exchange_tests.CASES)
def test_exchange_data_travels_through_the_queues(sim, rng, shape, src, dst):
    x = rng.standard_normal(shape).astype(np.float32)
    text = wavelet(exchange_tests._exchange_program(sim, shape, src, dst))
    (o,), _ = sim.run(text, x)
    np.testing.assert_array_equal(o, x)


def test_gather_serialises_at_the_destination_ramp(sim):
    text = wavelet(
        exchange_tests._exchange_program(sim, (8, 8), ((2, 2), ("r", "c")), ((1, 1), ("", "")))
    )
    report = sim.plan(text).report
    assert report.cycles >= 3 * 16  # three 16-wavelet messages through one ramp
    assert report.busy_cycles[1, 1] == 16  # a source only streams


def test_message_delivered_to_the_wrong_pe_raises(sim):
    text = wavelet(exchange_tests._exchange_program(sim, *TRANSPOSE))
    text = text.replace("pe.route east -> [south] {color = 0", "pe.route east -> [ramp] {color = 0")
    with pytest.raises(
        RoutingError,
        match=r"PE \(0, 0\) receives on color 0 the message of exchange phase 1 that "
        r"PE \(0, 1\) sends to PE \(1, 0\)",
    ):
        _ = sim.plan(text).report  # the first simulation raises


def test_message_a_rule_drops_is_delivered_zero_times(sim):
    text = wavelet(exchange_tests._exchange_program(sim, *TRANSPOSE))
    rule = "pe.route north -> [ramp] {color = 0 : i64, pes = array<i64: 1, 0, 1, 1>}"
    assert rule in text
    text = text.replace(rule, rule.replace("[ramp]", "[]"))
    with pytest.raises(
        RoutingError,
        match=r"the message of exchange phase 1 from PE \(0, 1\) to PE \(1, 0\) on color 0 is "
        r"delivered 0 times",
    ):
        _ = sim.plan(text).report  # the first simulation raises


def test_scatter_phases_on_one_color_switch_routes_between_them(sim):
    """A 1x1 -> 2x2 scatter is three phases from PE (0, 0); on one color each phase replaces
    (0, 0)'s ramp rule, and each message still reaches its own destination, with the fast
    engine's cycles."""
    shape = (8, 8)
    src, dst = (shape, (1, 1), ("", "")), (shape, (2, 2), ("r", "c"))
    ds, dd = Distribution(*src), Distribution(*dst)
    b = sim.Body()
    b.alloc("s", (0, 0, 1, 1), ds.local_elems)
    b.alloc("d", (0, 0, 2, 2), dd.local_elems)
    tt = sim.tensor(shape)
    slay, dlay = sim.layout(*src), sim.layout(*dst)
    b.op(f"pe.host_in %x, %s {{layout = {slay}, pes = {sim.pes((0, 0, 1, 1))}}} : {tt}, {b.t('s')}")
    assert sim.exchange(b, "d", "s", src, dst, colors=1) == 3
    out = f"pe.host_out %d {{layout = {dlay}, pes = {sim.pes((0, 0, 2, 2))}}}"
    b.op(f"%o = {out} : {b.t('d')} -> {tt}")
    text = sim.program(b.text(), f"%x: {tt}", tt, f"%o : {tt}")
    x = np.arange(64, dtype=np.float32).reshape(shape)
    (o,), report = sim.run(wavelet(text), x)
    np.testing.assert_array_equal(o, x)
    (_,), fast = sim.run(text, x)
    assert abs(report.cycles - fast.cycles) <= 0.05 * fast.cycles
    assert report.wavelets.sum() == fast.wavelets.sum() == 16 * (1 + 1 + 2)
