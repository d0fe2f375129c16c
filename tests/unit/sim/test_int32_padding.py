"""int32 overflow checks look at real lanes only (pyflame/sim/int32_checks.py): the padding of
a split tile may hold a reduction's identity (an argmax's INT32_MAX), where `index + 1` wraps
unobserved; a value that overflows in a real lane is still refused."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from xdsl.parser import Parser

import pyflame as pf
from pyflame import compiler
from pyflame.core.errors import IntegerOverflowError

A = np.arange(15, dtype=np.float32).reshape(3, 5) * np.array([1, -1, 1, -1, 1], np.float32)

CASES = [
    ("argmax + 1", lambda x: x.argmax(dim=1) + 1, lambda a: a.argmax(1) + 1),
    ("argmin * 2", lambda x: x.argmin(dim=0) * 2, lambda a: a.argmin(0) * 2),
    ("-max", lambda x: -x.int().max(dim=1).values, lambda a: -a.astype(np.int32).max(1)),
    ("min - 1", lambda x: x.int().min(dim=0).values - 1, lambda a: a.astype(np.int32).min(0) - 1),
]


@pytest.mark.parametrize("grid", [(2, 2), (3, 3), (2, 4)])
@pytest.mark.parametrize(("name", "ours", "ref"), CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("fidelity", ["fast", "wavelet"])
def test_padding_lanes_never_overflow(grid, name, ours, ref, fidelity):
    target = (
        pf.sim.SMALL if fidelity == "fast" else dataclasses.replace(pf.sim.SMALL, fidelity=fidelity)
    )
    with pf.target(target):
        x = pf.from_numpy(A, layout=pf.MeshLayout.grid(*grid))
        got = ours(x).numpy()
    np.testing.assert_array_equal(got, ref(A))


def test_a_real_lane_still_overflows():
    x = pf.from_numpy(A, layout=pf.MeshLayout.grid(2, 2))
    with pytest.raises(IntegerOverflowError, match="int32 overflow: mul"):
        ((x.argmax(dim=1) + 2**20) * 2**12).numpy()


def test_int32_results_carry_their_layout():
    x = pf.from_numpy(A, layout=pf.MeshLayout.grid(2, 2))
    text = pf.ir(x.argmax(dim=1) + 1, x + 1.0, stage="pe")
    ints = [line for line in text.splitlines() if "pe.binary add" in line and "xi32>" in line]
    # the float add may be fused (fuse-elementwise skips int32 ops, so the int add stays)
    floats = [
        line
        for line in text.splitlines()
        if ("pe.binary add" in line or "pe.fused" in line) and "xf32>" in line
    ]
    assert ints and all("#pe.layout<3xi32 on 2x2" in line for line in ints)
    assert floats and not any("#pe.layout" in line for line in floats)
    module = Parser(compiler.make_context(), text, "t.mlir").parse_module()
    module.verify()  # the layout property prints and parses back
    assert "#pe.layout<3xi32 on 2x2" in str(module)
