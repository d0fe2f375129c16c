"""Private accumulators (pyflame/sim/private_acc.py): a SUMMA loop's matmul steps add into a
contiguous copy of the accumulator, written back by the last one; outputs and SRAM are bit
for bit those of accumulating in SRAM. The pass serves PE-major SRAM blocks (half floats; a
lane-major block's lanes are contiguous planes already): the tests hold every block so."""

from __future__ import annotations

import numpy as np
import pytest
from planned import plan

import pyflame as pf
from pyflame.sim import private_acc, sram
from pyflame.sim.executable import Buffer
from pyflame.sim.flat_gather import view_strides
from pyflame.sim.fused_products import fused_use
from pyflame.sim.private_acc import (
    Accumulates,
    PrivateUse,
    accumulates_of,
    private_accumulators,
    private_use,
    set_accumulates,
)
from pyflame.sim.step_access import Access, annotate

# these tests cover the simulator's SUMMA paths
pytestmark = pytest.mark.usefixtures("summa_only")


@pytest.fixture(autouse=True)
def _pe_major_blocks(monkeypatch):
    monkeypatch.setattr(sram, "LANE_MAJOR_BLOCKS", False)


def test_lane_major_accumulators_stay_in_sram():
    """In a lane-major block every lane of the accumulator is one contiguous plane: no copy."""
    acc = Buffer(0, "acc", (0, 0, 2, 2), 0, 4, 16)
    sel = (slice(0, 2), slice(0, 2), slice(0, 4))
    info = Accumulates(0, sel, (1, 2), lambda use: acc)  # type: ignore[arg-type,return-value]  # never called
    assert private_acc._worth_it(info, [acc], {0: (64, 32, 4)})  # PE-major, 32-byte PE rows
    assert not private_acc._worth_it(info, [acc], {0: (8, 4, 16)})  # lane-major


def _programs(m: int, k: int, n: int, g: int, dtype: type):
    rng = np.random.default_rng(m * k + n)
    a = rng.standard_normal((m, k)).astype(dtype)
    b = rng.standard_normal((k, n)).astype(dtype)
    lay = pf.MeshLayout.grid(g, g)
    x, y = pf.from_numpy(a, layout=lay), pf.from_numpy(b, layout=lay)
    z = (x @ y).relu()
    return [z, x.T @ z], [np.maximum(a @ b, 0), a.T @ np.maximum(a @ b, 0)]


@pytest.mark.parametrize(
    ("m", "k", "n", "g", "dtype"),
    [
        (13, 33, 7, 4, np.float32),  # x.T @ z: K = 13 in 4 blocks of 4 (4 steps: a run)
        (13, 33, 7, 4, np.float16),
    ],
)
def test_private_accumulators_change_no_bit(m, k, n, g, dtype, monkeypatch):
    tensors, refs = _programs(m, k, n, g, dtype)
    exe, args = plan(tensors)
    # `run` fuses float32 runs into one product (pyflame/sim/fused_products.py); half floats
    # and `run_with_sram`'s steps accumulate privately
    lean_runs = [private_use(s) or fused_use(s) for _, s in enumerate(exe.lean_steps)]
    assert any(use is not None for use in lean_runs), "no run: the test no longer covers the pass"
    assert any(private_use(s) is not None for s in exe.steps)
    monkeypatch.setattr(private_acc, "MIN_RUN", 10**9)
    tensors, _ = _programs(m, k, n, g, dtype)
    plain, _ = plan(tensors)
    assert not any(private_use(s) is not None for s in plain.steps)
    got, _ = exe.run(args)
    want, _ = plain.run(args)
    got_all, _, sram = exe.run_with_sram(args)
    want_all, _, want_sram = plain.run_with_sram(args)
    for a, b in zip(got + got_all, want + want_all, strict=True):
        assert np.asarray(a).tobytes() == np.asarray(b).tobytes()
    assert sram.tobytes() == want_sram.tobytes()  # written back: the machine's SRAM
    tol = 2e-2 if dtype == np.float16 else 1e-4
    for a, ref in zip(got, refs, strict=True):
        np.testing.assert_allclose(np.asarray(a, np.float32), ref, rtol=tol, atol=tol * 10)


def _buffers() -> list[Buffer]:
    # acc: 4 floats per PE in a 32-byte block (clash joins it to `other`): strided tiles
    acc = Buffer(0, "acc", (0, 0, 2, 2), 0, 4, 16)
    other = Buffer(1, "other", (0, 0, 2, 2), 16, 4, 16)
    lhs = Buffer(2, "lhs", (0, 0, 2, 2), 64, 4, 16)
    clash = Buffer(3, "clash", (0, 0, 2, 2), 8, 4, 16)  # shares bytes with acc (and other)
    return [acc, other, lhs, clash]


def _matmul(log: list, k: int):
    sel = (slice(0, 2), slice(0, 2), slice(0, 4))

    def private(use: PrivateUse):
        def step(V, F, A, O):
            log.append((k, use.load, use.store))

        return step

    def step(V, F, A, O):
        log.append((k, None, None))

    step = annotate(step, Access({0: sel, 2: sel}, {0: sel}))
    return set_accumulates(step, Accumulates(0, sel, (2,), private))


def _writes(buffer: int):
    def step(V, F, A, O):
        pass

    sel = (slice(0, 2), slice(0, 2), slice(0, 4))
    return annotate(step, Access({}, {buffer: sel}))


def test_runs_stop_at_a_step_on_the_accumulators_bytes():
    log: list = []
    mm = [_matmul(log, k) for k in range(10)]
    steps = [mm[0], mm[1], _writes(1), mm[2], mm[3], _writes(3), mm[4], mm[5], mm[6]]
    steps += [mm[7], mm[8], mm[9]]
    out = private_accumulators(steps, steps, _buffers())
    for s in out:
        s(None, {}, [], [])
    # writing `other` (no shared byte) keeps the run going; `clash` ends it: 0-3 are a run
    # of four, 4-9 one of six
    assert log == [
        (0, True, False),
        (1, False, False),
        (2, False, False),
        (3, False, True),
        (4, True, False),
        (5, False, False),
        (6, False, False),
        (7, False, False),
        (8, False, False),
        (9, False, True),
    ]


def test_short_runs_and_unknown_steps_stay_in_sram():
    log: list = []
    mm = [_matmul(log, k) for k in range(6)]

    def unknown(V, F, A, O):  # no Access and no operands: may touch anything
        pass

    steps = [mm[0], mm[1], mm[2], unknown, mm[3], mm[4], mm[5]]
    out = private_accumulators(steps, steps, _buffers())
    for s in out:
        s(None, {}, [], [])
    assert all(load is None for _, load, _ in log)  # runs of three: below MIN_RUN


def test_back_to_back_tiles_stay_in_sram():
    """64x16x8 on 4x4 PEs: since allocate-sram's second placement, each accumulator's PE tiles
    lie back to back in their block (a PE row of them is one contiguous run), so its adds are
    already long runs and a private copy would only add the copies in and out: the pass
    leaves them in SRAM (this case was a strict xfail, "no private run since the fusion
    merge", read as a host-speed loss; it is the pass declining where nothing is to gain)."""
    tensors, _ = _programs(64, 16, 8, 4, np.float32)
    exe, args = plan(tensors)
    strides = view_strides(exe.buffers)
    infos = [info for s in exe.steps if (info := accumulates_of(s)) is not None]
    accs = {info.buffer: info for info in infos}
    assert len(accs) == 2  # the two products' accumulators
    for b, info in accs.items():
        lanes = info.sel[2].stop - (info.sel[2].start or 0)
        assert strides[b][1] == lanes * exe.buffers[b].dtype.itemsize  # back to back
    assert not any(private_use(s) is not None for s in exe.steps)
