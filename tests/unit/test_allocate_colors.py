"""allocate-colors on compiled programs: switches ordered by barriers give the same answers in
both engines (the pass's IR forms are in tests/lit/allocate-colors/)."""

from __future__ import annotations

import dataclasses

import numpy as np

import pyflame as pf
from pyflame.layout import MeshLayout
from pyflame.sim import SMALL


def _gathers(fidelity: str):
    """Slices of a 1x9 tensor spread over 4x4 PEs: many exchange phases, more than the colors,
    so some channels switch rules and barriers order them."""
    a = np.arange(9, dtype=np.float32).reshape(1, 9)
    with pf.target(dataclasses.replace(SMALL, fidelity=fidelity)):
        x = pf.from_numpy(a, layout=MeshLayout.grid(4, 4))
        outs = [x[:, 0:1], x[..., -1], x[:, ::4], x[0], x[:, 1:8], x[None, ..., None]]
        text = pf.ir(*outs, stage="pe")
        pf.eval(*outs)
        return text, [o.numpy() for o in outs], pf.last_report().cycles, a


def test_barriers_agree_between_the_engines():
    text, fast, fast_cycles, a = _gathers("fast")
    assert '"barrier"' in text and "pe.loop" in text
    refs = [a[:, 0:1], a[..., -1], a[:, ::4], a[0], a[:, 1:8], a[None, ..., None]]
    for got, ref in zip(fast, refs, strict=True):
        np.testing.assert_array_equal(got, ref)
    _, wavelet, wavelet_cycles, _ = _gathers("wavelet")
    for got, ref in zip(wavelet, refs, strict=True):
        np.testing.assert_array_equal(got, ref)
    assert 0.95 <= wavelet_cycles / fast_cycles <= 1.05, (fast_cycles, wavelet_cycles)
