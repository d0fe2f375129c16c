"""A redistribution that changes both grid sides, staged through an intermediate grid when the
estimate says so (passes/flame_lowering/regrid.py), and plan-memory's per-PE peak that lets the
intermediate sit beside big source tiles (passes/plan_memory.py `peak_bytes_on_pes`)."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest
from xdsl.dialects import func

import pyflame as pf
from pyflame import compiler, runtime
from pyflame.core.distribution import Distribution
from pyflame.dialects import mesh
from pyflame.passes import plan_memory
from pyflame.passes.flame_lowering import regrid

WAVELET = dataclasses.replace(pf.sim.SMALL, fidelity="wavelet")
RNG = np.random.default_rng(0)
A = RNG.standard_normal((128, 128)).astype(np.float32)
B = RNG.standard_normal((128, 128)).astype(np.float32)
A96, B96 = A[:96, :96].copy(), B[:96, :96].copy()


def product(target) -> tuple[str, np.ndarray, int]:
    """x @ y, 96 x 96, both operands hinted on 2x2: flame-to-mesh multiplies on 16x16."""
    with pf.target(target):
        lay = pf.MeshLayout.grid(2, 2)
        z = pf.from_numpy(A96, layout=lay) @ pf.from_numpy(B96, layout=lay)
        text = pf.ir(z, stage="mesh")
        out = z.numpy()
        return text, out, pf.last_report().cycles


def test_a_big_regrid_goes_one_side_at_a_time():
    src = Distribution((1024, 1024), (10, 10), ("r", "c"))
    dst = Distribution((1024, 1024), (64, 64), ("r", "c"))
    mid = regrid.staged_regrid(src, dst, pf.sim.WSE2, 4)
    assert mid is not None
    # one side of the source's grid, one of the destination's
    assert sorted(mid.grid) == [10, 64]
    # the source's 42 KiB tiles leave no room on their PEs: the intermediate is beside them
    r0, c0, nr, nc = mid.rect
    assert r0 >= 10 or c0 >= 10


@pytest.mark.parametrize(
    ("src_grid", "dst_grid"),
    [((32, 32), (32, 64)), ((16, 16), (24, 24)), ((64, 64), (64, 64))],
)
def test_a_small_or_one_sided_regrid_is_one_exchange(src_grid, dst_grid):
    src = Distribution((1024, 1024), src_grid, ("r", "c"))
    dst = Distribution((1024, 1024), dst_grid, ("r", "c"))
    assert regrid.staged_regrid(src, dst, pf.sim.WSE2, 4) is None


def test_a_move_of_tiles_that_cannot_fit_is_not_estimated(monkeypatch):
    """A source tile bigger than the usable SRAM (the guide's 4096^2 hinted on 4x4: 4 MiB per
    PE) fails plan-memory whatever the stages: no exchange is estimated for it."""
    from pyflame.passes.cost_model import data_movement

    def no_estimates(*args, **kwargs):
        raise AssertionError("estimated a move that cannot fit")

    monkeypatch.setattr(data_movement, "redistribute_cost", no_estimates)
    regrid.staged_regrid.cache_clear()
    src = Distribution((4096, 4096), (4, 4), ("r", "c"))
    dst = Distribution((4096, 4096), (64, 64), ("r", "c"))
    assert regrid.staged_regrid(src, dst, pf.sim.WSE2, 4) is None
    assert regrid.staged_regrid(dst, src, pf.sim.WSE2, 4) is None


def test_staged_operands_give_the_product_faster(monkeypatch):
    """Staged: the right product, fewer cycles than the one-exchange moves."""
    runtime.cache_clear()
    text, out, staged = product(pf.sim.SMALL)
    assert "{pf.staged}" in text
    assert re.search(r"-> !mesh.tensor<96x96xf32 on (2x16|16x2)", text)
    np.testing.assert_allclose(out, A96 @ B96, rtol=1e-4, atol=1e-3)
    monkeypatch.setattr(regrid, "MIN_FACTOR", 10**9)
    regrid.staged_regrid.cache_clear()  # (decisions are kept per move)
    runtime.cache_clear()
    text, out, direct = product(pf.sim.SMALL)
    runtime.cache_clear()
    regrid.staged_regrid.cache_clear()
    assert "{pf.staged}" not in text
    np.testing.assert_allclose(out, A96 @ B96, rtol=1e-4, atol=1e-3)
    print(f"staged {staged:,} cycles, one exchange {direct:,}")
    assert staged < 0.95 * direct


def test_the_two_engines_agree_on_a_staged_move():
    """The staged moves on the wavelet engine: the same product, cycles within 5%."""
    runtime.cache_clear()
    _, fast_out, fast = product(pf.sim.SMALL)
    runtime.cache_clear()
    _, slow_out, slow = product(WAVELET)
    runtime.cache_clear()
    # (`run` sums a SUMMA loop's products in one GEMM: the same to fp32 rounding)
    np.testing.assert_allclose(fast_out, slow_out, rtol=1e-5, atol=1e-5)
    assert abs(slow - fast) <= 0.05 * fast, (fast, slow)


def mesh_function(target=pf.sim.SMALL):
    """The 128 x 128 product's mesh function: its 64 x 64 source tiles are big, so the
    intermediates sit beside the source grid."""
    with pf.target(target):
        lay = pf.MeshLayout.grid(2, 2)
        z = pf.from_numpy(A, layout=lay) @ pf.from_numpy(B, layout=lay)
        module = runtime._program_module((z,))
    compiler.lower(module, "mesh")
    return module, next(op for op in module.walk() if isinstance(op, func.FuncOp))


def test_unstage_moves_in_one_exchange_again():
    module, fn = mesh_function()
    staged = [op for op in fn.walk() if isinstance(op, mesh.RedistributeOp)]
    assert sum(regrid.STAGED_ATTR in op.attributes for op in staged) == 2
    assert regrid.unstage(list(fn.body.block.ops)) == 2
    moves = [op for op in fn.walk() if isinstance(op, mesh.RedistributeOp)]
    assert len(moves) == 2
    for op in moves:
        assert mesh.dist_of(op.input).grid == (2, 2)
        assert mesh.dist_of(op.result).grid == (16, 16)
    module.verify()
    # and the program still runs, with the right answer
    compiler.lower(module, "pe")
    from pyflame.sim.planner import compile_plan

    x_and_y = [A, B]
    outs, _ = compile_plan(module).run(x_and_y)
    np.testing.assert_allclose(outs[0], A @ B, rtol=1e-4, atol=1e-3)


def test_the_per_pe_peak_counts_only_tiles_that_share_pes():
    """An operand's 16 KiB tiles on 2x2, its intermediate beside them: the upper bound adds
    every live tile, the per-PE peak only those on the same PEs."""
    _, fn = mesh_function()
    bound = plan_memory.peak_bytes(fn, mesh.dist_of)[0]
    on_pes = plan_memory.peak_bytes_on_pes(fn, mesh.dist_of)
    assert on_pes < bound
    # an operand's 64 x 64 f32 tile on its 2x2 PEs, with a little beside it
    assert 64 * 64 * 4 <= on_pes < 64 * 64 * 4 + 2048
