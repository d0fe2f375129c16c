"""GEMV and skinny matmuls (passes/flame_lowering/gemv.py, mesh.local_matmul): numpy parity on
odd and non-dividing sizes, either side skinny, f32/f16/bf16; the matrix's layout is kept (no
mesh.redistribute of it); chained GEMVs alternate the reduction axis with no data movement in
between; both simulator fidelities agree. Batched forms (a decode step's [B, 1, d] rows through
nn.Linear, attention's q @ K^T) and a transposed matrix read in place, against numpy/torch."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest
from xdsl.dialects.builtin import TensorType, f32
from xdsl.utils.test_value import create_ssa_value

import pyflame as pf
from pyflame.dialects import flame
from pyflame.passes.flame_lowering.gemv import SKINNY_MAX, skinny_side


def arr(*shape: int, seed: int = 0, dtype=np.float32) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


GRIDS = [(1, 1), (2, 2), (3, 3), (2, 3), (4, 4)]


@pytest.mark.parametrize("grid", GRIDS, ids=str)
@pytest.mark.parametrize("mk", [(37, 29), (64, 64), (5, 41)], ids=str)
def test_matrix_vector_matches_numpy(grid, mk):
    a, x = arr(*mk, seed=1), arr(mk[1], seed=2)
    y = pf.from_numpy(a, layout=pf.MeshLayout.grid(*grid)) @ pf.from_numpy(x)
    assert "mesh.local_matmul" in pf.ir(y, stage="mesh")
    np.testing.assert_allclose(y.numpy(), a @ x, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("grid", GRIDS, ids=str)
@pytest.mark.parametrize(
    "shapes",
    [((29,), (29, 43)), ((3, 29), (29, 43)), ((43, 29), (29, 4)), ((2, 30), (30, 3))],
    ids=str,
)
def test_skinny_products_match_numpy(grid, shapes):
    """Vector on either side, and a batch of a few rows or columns; the big operand carries
    the layout."""
    (sa, sb), lay = shapes, pf.MeshLayout.grid(*grid)
    a, b = arr(*sa, seed=3), arr(*sb, seed=4)
    big_on_left = len(sa) == 2 and sa[0] >= (sb[1] if len(sb) == 2 else 1)
    lhs = pf.from_numpy(a, layout=lay if big_on_left else None)
    rhs = pf.from_numpy(b, layout=None if big_on_left else lay)
    z = lhs @ rhs
    assert "mesh.local_matmul" in pf.ir(z, stage="mesh")
    np.testing.assert_allclose(z.numpy(), a @ b, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("computed", [False, True], ids=["host", "computed"])
@pytest.mark.parametrize("grid", [(3, 3), (4, 4)], ids=str)
def test_contraction_padding_is_zero_whether_masked_or_from_the_host(grid, computed):
    """K = 50 does not divide the grid: the matrix's padding columns must be 0. From the host
    they are (no mesh.mask_pad: its tiles arrive zero-padded); computed on the PEs (exp(0) = 1
    there) they are masked first, or zeroed by the exchange that moves them. Both match
    numpy."""
    a, x = arr(37, 50, seed=7), arr(50, seed=8)
    m = pf.from_numpy(a, layout=pf.MeshLayout.grid(*grid))
    if computed:
        m = pf.exp(m)
    y = m @ pf.from_numpy(x)
    text = pf.ir(y, stage="mesh")
    masks = [ln for ln in text.splitlines() if "mesh.mask_pad" in ln and "37x50" in ln]
    if computed:
        assert masks or "mesh.redistribute" in text, text
    else:
        assert not masks, text
    want = (np.exp(a) if computed else a) @ x
    np.testing.assert_allclose(y.numpy(), want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("dtype", [pf.float16, pf.bfloat16], ids=repr)
@pytest.mark.parametrize("grid", [(2, 2), (3, 3)], ids=str)
def test_half_precision(dtype, grid):
    a, x = arr(23, 31, seed=5), arr(31, seed=6)
    a, x = a.astype(dtype.numpy), x.astype(dtype.numpy)
    y = pf.from_numpy(a, layout=pf.MeshLayout.grid(*grid)) @ pf.from_numpy(x)
    out = y.numpy()
    assert out.dtype == dtype.numpy
    want = a.astype(np.float32) @ x.astype(np.float32)
    tol = 3e-2 if dtype is pf.float16 else 1e-1
    np.testing.assert_allclose(out.astype(np.float32), want, rtol=tol, atol=tol)


def test_the_users_layout_is_kept():
    """The issue 11 program at a small size: A stays on its 4x4 grid split [r, c] (no
    redistribution, no SUMMA), x is scattered straight into copies along the rows, the
    partials are allreduced along the rows of PEs."""
    y = pf.from_numpy(arr(256, 256), layout=pf.MeshLayout.grid(4, 4)) @ pf.from_numpy(arr(256))
    text = pf.ir(y, stage="mesh")
    assert "mesh.redistribute" not in text and "mesh.matmul" not in text
    assert (
        "mesh.scatter %x0 : tensor<256x256xf32> -> !mesh.tensor<256x256xf32 on 4x4 split [r, c]>"
        in text
    )
    assert "-> !mesh.tensor<256xf32 on 4x4 split [c]>" in text  # x, one copy per PE row
    assert "-> !mesh.tensor<4x256x1xf32 on 4x4 split [c, r, _]>" in text  # one partial per column
    assert "mesh.allreduce sum" in text and "dims [0]" in text


def test_chained_gemvs_alternate_the_reduction_axis():
    """y2 = W2 @ (W1 @ x): W1's result lies split over the rows (copied along the columns), so W2
    is placed with its contraction dim on the rows: nothing moves between the two."""
    w1, w2, x = arr(96, 80, seed=7), arr(70, 96, seed=8), arr(80, seed=9)
    lay = pf.MeshLayout.grid(4, 4)
    y = pf.from_numpy(w2, layout=lay) @ (pf.from_numpy(w1, layout=lay) @ pf.from_numpy(x))
    text = pf.ir(y, stage="mesh")
    assert "mesh.redistribute" not in text
    assert "-> !mesh.tensor<70x96xf32 on 4x4 split [c, r]>" in text
    assert text.count("mesh.local_matmul") == 2
    np.testing.assert_allclose(y.numpy(), w2 @ (w1 @ x), rtol=1e-4, atol=1e-3)


def test_square_matmuls_stay_summa():
    a = pf.from_numpy(arr(32, 32), layout=pf.MeshLayout.grid(2, 2))
    text = pf.ir(a @ a, stage="mesh")
    assert "mesh.matmul summa" in text and "mesh.local_matmul" not in text


def test_skinny_side():
    side = skinny_side_of
    assert side((4096, 4096), (4096, 1)) == "rhs"
    assert side((1, 4096), (4096, 4096)) == "lhs"
    assert side((64, 256), (256, 10)) == "rhs"
    assert side((64, 64), (64, 64)) is None
    assert side((8, 8), (8, 8)) is None  # small, not skinny
    assert side((2, 64, 64), (64, 1)) is None  # batched: SUMMA
    assert side((SKINNY_MAX + 1, 99), (99, 200)) is None


def skinny_side_of(sa: tuple[int, ...], sb: tuple[int, ...]) -> str | None:
    lhs, rhs = create_ssa_value(TensorType(f32, sa)), create_ssa_value(TensorType(f32, sb))
    return skinny_side(flame.MatmulOp(lhs, rhs))


@pytest.mark.parametrize("grid", [(2, 2), (3, 3)], ids=str)
def test_both_fidelities_agree(grid):
    a, x = arr(37, 29, seed=10), arr(29, seed=11)
    lay = pf.MeshLayout.grid(*grid)
    before = pf.sim.get_target()
    results = {}
    try:
        for fidelity in ("fast", "wavelet"):
            pf.sim.set_target(dataclasses.replace(pf.sim.SMALL, fidelity=fidelity))
            y = pf.from_numpy(a, layout=lay) @ pf.from_numpy(x)
            results[fidelity] = (y.numpy(), pf.last_report().cycles)
    finally:
        pf.sim.set_target(before)
    (fast, fc), (wave, wc) = results["fast"], results["wavelet"]
    np.testing.assert_array_equal(fast, wave)
    np.testing.assert_allclose(fast, a @ x, rtol=1e-4, atol=1e-4)
    assert abs(wc - fc) <= 0.05 * fc


def test_gemv_cycles_near_the_bound():
    """4096^2 on 64x64 (benchmarks/gemv.py): at least 0.80 of compute + (rows + cols) hops
    (issue 11's target), planned only."""
    import os
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    os.environ.setdefault("PYFLAME_HOST_MEMORY", "off")
    import gemv as bench

    row = bench.measure(4096, 64, "gemv")
    assert row["efficiency"] >= 0.80, row
    assert row["pes_used"] == 64 * 64


def test_linear_layer_places_the_weight_directly():
    """h @ W.T + b (nn.Linear with 10 outputs): W [10, 256] is scattered straight into the
    transposed copies the GEMV wants (a transposed lazy leaf is lazy), and the result is split
    over the columns before the bias add (every PE keeps its block of its copy), so the bias is
    not copied to every PE."""
    h, w, b = arr(64, 256, seed=12), arr(10, 256, seed=13), arr(10, seed=14)
    lay = pf.MeshLayout.grid(4, 4)
    z = pf.from_numpy(h, layout=lay) @ pf.from_numpy(w).T + pf.from_numpy(b)
    text = pf.ir(z, stage="mesh")
    assert (
        "mesh.scatter %x1 : tensor<10x256xf32> -> !mesh.tensor<10x256xf32 on 4x4 split [_, c]>"
        in text
    )
    assert "-> !mesh.tensor<64x10xf32 on 4x4 split [r, c]>" in text
    assert "mesh.local_matmul" in text
    np.testing.assert_allclose(z.numpy(), h @ w.T + b, rtol=1e-4, atol=1e-3)


def test_a_placed_operand_that_would_move_more_than_the_matrix_takes_summa():
    """h^T @ d with d [64, 10] already on the grid: copying d to every PE column would move more
    than a quarter of h's elements, so SUMMA."""
    lay = pf.MeshLayout.grid(4, 4)
    h = pf.from_numpy(arr(64, 32, seed=15), layout=lay)
    d = pf.relu(pf.from_numpy(arr(64, 10, seed=16), layout=lay))
    text = pf.ir(h.T @ d, stage="mesh")
    assert "mesh.matmul summa" in text and "mesh.local_matmul" not in text


def test_skinny_side_of_batched_forms():
    side = skinny_side_of
    assert side((1, 1, 32), (32, 96)) == "lhs"  # a decode step's nn.Linear, batch 1
    assert side((4, 1, 32), (32, 96)) == "lhs"  # batch 4: [4, 32] rows
    assert side((1, 4, 32), (32, 96)) == "lhs"
    assert side((2, 3, 32), (32, 96)) == "lhs"  # rows over two dims: [6, 32] in place
    assert side((4, 5, 32), (32, 96)) is None  # 20 rows: not skinny
    assert side((1, 2, 1, 16), (1, 2, 16, 32)) == "lhs"  # attention q @ K^T, one token
    assert side((2, 40, 30), (2, 30, 3)) == "rhs"
    assert side((8, 32, 32), (32, 96)) is None  # a training step's activations


@pytest.mark.parametrize("grid", [(1, 1), (2, 3), (3, 3), (4, 4)], ids=str)
@pytest.mark.parametrize("rows", [(1, 1), (3, 1), (1, 5), (6,), (2, 3), (2, 1, 3)], ids=str)
def test_linear_on_a_few_rows_matches_torch(grid, rows):
    """F.linear(x [*rows, 29], W [43, 29], b) with W on the grid: a GEMV on x's rows (the
    batched lhs is reshaped to [rows, k] in place), W.T read where W is; PyTorch's values."""
    torch = pytest.importorskip("torch")
    x, w, b = arr(*rows, 29, seed=20), arr(43, 29, seed=21), arr(43, seed=22)
    w_t = pf.from_numpy(w, layout=pf.MeshLayout.grid(*grid))
    y = pf.nn.functional.linear(pf.from_numpy(x), w_t, pf.from_numpy(b))
    assert "mesh.local_matmul" in pf.ir(y, stage="mesh")
    want = torch.nn.functional.linear(*map(torch.from_numpy, (x, w, b))).numpy()
    np.testing.assert_allclose(y.numpy(), want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("grid", [(1, 1), (2, 3), (4, 4)], ids=str)
@pytest.mark.parametrize(
    "shapes",
    [((2, 3, 1, 16), (2, 3, 16, 37)), ((1, 2, 3, 33), (1, 2, 33, 20)), ((2, 40, 30), (2, 30, 3))],
    ids=str,
)
def test_batched_skinny_products_match_numpy(grid, shapes):
    """q @ K^T of a decode step (one query row per head) and a batched A @ X[k, 3]: the
    batch dims whole on every PE, the matrix on the grid (its last two dims)."""
    (sa, sb), lay = shapes, pf.MeshLayout.grid(*grid)
    a, b = arr(*sa, seed=23), arr(*sb, seed=24)
    big_on_left = sa[-2] > sb[-1]
    lhs = pf.from_numpy(a, layout=lay if big_on_left else None)
    rhs = pf.from_numpy(b, layout=None if big_on_left else lay)
    z = lhs @ rhs
    text = pf.ir(z, stage="mesh")
    assert "mesh.local_matmul" in text and "mesh.matmul" not in text
    np.testing.assert_allclose(z.numpy(), a @ b, rtol=1e-4, atol=1e-4)


def test_chained_linear_layers_alternate_the_reduction_axis():
    """x [1, 1, 48] -> Linear(48, 96) -> gelu -> Linear(96, 40), as a decode step's MLP, with
    nothing hinted: assign-layouts lays both products out as GEMVs (by cost), the second's
    weight stored with its dims' axes swapped, so nothing is redistributed; the weights are
    scattered straight into the layouts whose transposes the GEMVs read."""
    torch = pytest.importorskip("torch")
    x, w1, w2 = arr(1, 1, 48, seed=25), arr(96, 48, seed=26), arr(40, 96, seed=27)
    b1, b2 = arr(96, seed=28), arr(40, seed=29)
    linear = pf.nn.functional.linear
    h = pf.nn.functional.gelu(linear(pf.from_numpy(x), pf.from_numpy(w1), pf.from_numpy(b1)))
    y = linear(h, pf.from_numpy(w2), pf.from_numpy(b2))
    text = pf.ir(y, stage="mesh")
    assert text.count("mesh.local_matmul") == 2
    assert "mesh.redistribute" not in text and "mesh.matmul" not in text
    split = re.findall(
        r"mesh\.scatter %x\d : tensor<(?:96x48|40x96)xf32> -> [^\n]* split \[(\w), (\w)\]", text
    )
    assert len(split) == 2 and split[0] != split[1]  # W1 and W2 split the other way round
    tx = [torch.from_numpy(v) for v in (x, w1, b1, w2, b2)]
    want = torch.nn.functional.linear(
        torch.nn.functional.gelu(torch.nn.functional.linear(*tx[:3])), *tx[3:]
    )
    np.testing.assert_allclose(y.numpy(), want.numpy(), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("lead", [(2, 3), (3, 1, 5)], ids=str)
def test_rows_over_several_leading_dims_stay_copies(lead):
    """x [2, 3, k] @ W: the six rows are one [6, k] block on every PE (a reshape that moves
    nothing), the result [2, 3, n] stays a copy along the reduction's axis (its rows cannot
    be split over one mesh axis as two dims), then an elementwise user; numpy's values."""
    x, w, b = arr(*lead, 57, seed=30), arr(57, 70, seed=31), arr(70, seed=32)
    xt = pf.from_numpy(x)
    wt = pf.from_numpy(w, layout=pf.MeshLayout.grid(3, 4))
    z = pf.relu(xt @ wt + pf.from_numpy(b))
    text = pf.ir(z, stage="mesh")
    assert "mesh.local_matmul" in text and "mesh.matmul " not in text
    assert f"tensor<{'x'.join(map(str, lead))}x57xf32 on 3x4 split [{'_, ' * len(lead)}" in text
    np.testing.assert_allclose(z.numpy(), np.maximum(x @ w + b, 0), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("shape", [(64, 256), (37, 253)], ids=str)
def test_local_products_of_transposed_blocks_read_them_in_place(shape):
    """`h @ w.T` where `w` is read elsewhere too, and `g.T @ h`: the local products read the
    blocks transposed (flame_lowering/cleanup.py), with no mesh.transpose, and the values
    are numpy's (odd sizes: padding on both axes)."""
    rows, cols = shape
    w, h, g = arr(10, cols, seed=1), arr(rows, cols, seed=2), arr(rows, 10, seed=3)
    pw, ph, pg = pf.from_numpy(w), pf.from_numpy(h), pf.from_numpy(g)
    p = ph @ pw.T
    r = pg.T @ ph + pw
    mesh_ir = pf.ir(p, r, stage="mesh")
    assert "mesh.local_matmul transpose_b" in mesh_ir
    assert "mesh.local_matmul transpose_a" in mesh_ir
    assert "mesh.transpose" not in mesh_ir
    pf.eval(p, r)
    np.testing.assert_allclose(p.numpy(), h @ w.T, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(r.numpy(), g.T @ h + w, rtol=1e-4, atol=1e-4)
