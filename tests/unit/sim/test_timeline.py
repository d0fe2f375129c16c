"""The timeline of one PE row (pyflame/sim/timeline.py): past MAX_EVENTS intervals it merges
touching intervals of one phase before it drops anything, and a long one is drawn as a sampled
image (`Timeline.raster`) whose samples name the phase each PE was in."""

from __future__ import annotations

import numpy as np

from pyflame.sim import report as report_module
from pyflame.sim import timeline as timeline_module
from pyflame.sim.report import Report
from pyflame.sim.timeline import PHASES, Timeline


def _ops(timeline: Timeline, phases: list[str], cols: int = 3, length: int = 5) -> None:
    """Back-to-back ops of the given phases on columns 0..cols-1, `length` busy cycles each."""
    clock = np.zeros(cols, dtype=np.int64)
    for phase in phases:
        after = clock + length
        timeline.record(0, clock, after, np.full(cols, length), phase, f"pe.{phase}")
        clock = after


def test_back_to_back_ops_of_one_phase_merge_past_the_cap(monkeypatch):
    monkeypatch.setattr(timeline_module, "MAX_EVENTS", 40)
    timeline = Timeline(row=0)
    _ops(timeline, ["compute"] * 30 + ["send"] * 30)  # 180 intervals, 2 per column merged
    assert timeline.merged and not timeline.truncated
    events = timeline.events()
    assert len(events) <= 40 + 3  # (the intervals since the last merge stay apart)
    for c in range(3):  # every cycle still covered once, by its own phase
        mine = events[events[:, 0] == c]
        assert mine[0, 1] == 0 and (mine[1:, 1] == mine[:-1, 2]).all() and mine[-1, 2] == 300
        for phase, (lo, hi) in (("compute", (0, 150)), ("send", (150, 300))):
            spans = mine[mine[:, 3] == PHASES.index(phase)]
            assert spans[0, 1] == lo and spans[-1, 2] == hi
    assert events[0, 4] == 0  # a merged interval is named by its first op
    assert timeline.to_dict()["merged"] is True


def test_alternating_phases_past_the_cap_are_dropped_and_say_so(monkeypatch):
    monkeypatch.setattr(timeline_module, "MAX_EVENTS", 40)
    timeline = Timeline(row=0)
    _ops(timeline, ["compute", "send"] * 30)
    assert timeline.truncated and timeline.to_dict()["truncated"] is True
    assert len(timeline.events()) <= 40 + 3  # the cap, and the op that crossed it


def test_stalls_and_phases_are_recorded_per_column():
    timeline = Timeline(row=2)
    before = np.array([0, 10])
    timeline.record(4, before, np.array([20, 20]), np.array([5, 10]), "receive", "pe.recv")
    assert timeline.events().tolist() == [
        [4, 0, 15, PHASES.index("stall"), 0],
        [4, 15, 20, PHASES.index("receive"), 0],
        [5, 10, 20, PHASES.index("receive"), 0],
    ]


def test_raster_samples_the_phase_of_each_column():
    timeline = Timeline(row=0)
    # column 3: compute [0, 50), send [50, 100); column 5: stall [0, 80) then receive to 100
    timeline.record_cols(
        np.array([3]), np.array([0]), np.array([50]), np.array([50]), "compute", "a"
    )
    timeline.record_cols(
        np.array([3]), np.array([50]), np.array([100]), np.array([50]), "send", "b"
    )
    timeline.record_cols(
        np.array([5]), np.array([0]), np.array([100]), np.array([20]), "receive", "c"
    )
    first, image, last = timeline.raster(10)
    assert (first, image.shape, last) == (3, (3, 10), 100)
    compute, send, receive, stall = (
        PHASES.index(p) for p in ("compute", "send", "receive", "stall")
    )
    assert image[0].tolist() == [compute] * 5 + [send] * 5
    assert image[1].tolist() == [-1] * 10  # column 4: nothing recorded
    assert image[2].tolist() == [stall] * 8 + [receive] * 2


def test_a_long_timeline_is_plotted_as_an_image(tmp_path, monkeypatch):
    monkeypatch.setattr(report_module, "PLOT_BARS", 10)
    timeline = Timeline(row=1)
    _ops(timeline, ["compute", "send", "receive"] * 20, cols=4)
    report = Report(
        target="SMALL",
        cycles=300,
        seconds=1e-9,
        io_cycles=0,
        flops=0,
        busy_cycles=np.zeros((3, 4)),
        sram_peak_bytes=np.zeros((3, 4)),
        wavelets=np.zeros((3, 4, 4)),
        timeline=timeline,
    )
    fig = report.figure()
    (panel,) = [a for a in fig.axes if "timeline" in a.get_title()]
    assert "sampled" in panel.get_title() and len(panel.images) == 1
    shown = panel.images[0].get_array()
    assert shown.shape == (4, report_module.RASTER_WIDTH) and shown.min() == 0
    assert report.plot(tmp_path / "t.png").endswith("t.png")
