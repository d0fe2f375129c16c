"""Fused products (pyflame/sim/fused_products.py): `Executable.run` adds a SUMMA loop's products
into the accumulator as one product of the steps' operand panels; outputs agree with the
step-by-step run (`run_on_sram`) to fp32 rounding, cycles are the plan's, and what cannot fuse
keeps its own steps."""

from __future__ import annotations

import numpy as np
import pytest
from planned import plan

import pyflame as pf
from pyflame.passes.flame_lowering import gemv
from pyflame.sim import fused_products
from pyflame.sim.fused_products import FusedUse, Panels, fused_use
from pyflame.sim.private_acc import private_use
from pyflame.sim.sram import BufferViews

ALGORITHMS = ["summa", "summa25d", "cannon", "meshgemm"]


def _assert_fp32_close(got, want):
    want = np.asarray(want)
    np.testing.assert_allclose(np.asarray(got), want, rtol=0, atol=1e-5 * np.abs(want).max())


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize(("m", "k", "n", "g"), [(37, 51, 23, 4), (100, 64, 7, 8), (64, 96, 80, 4)])
def test_fused_run_agrees_with_the_step_by_step_run(algorithm, m, k, n, g, monkeypatch):
    monkeypatch.setattr(gemv, "SKINNY_MAX", 0)  # n = 7: a matmul, not the GEMV lowering
    rng = np.random.default_rng(m * k + n)
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)
    lay = pf.MeshLayout.grid(g, g)
    exe, args = plan([pf.from_numpy(a, layout=lay) @ pf.from_numpy(b, layout=lay)], algorithm)
    fused = any(fused_use(s) is not None for _, s in enumerate(exe.lean_steps))
    # (2.5D on 4x4 PEs: one step per layer, then one on the whole grid: no run to fuse)
    assert fused or (algorithm == "summa25d" and g == 4), "nothing fused"
    assert not any(fused_use(s) is not None for s in exe.steps)  # run_on_sram: step by step
    (got,), report = exe.run(args)
    (again,), _ = exe.run(args)  # a pooled SRAM and its scratch panels: the same bits
    (want,), exact_report, _ = exe.run_on_sram(args)
    assert report.cycles == exact_report.cycles
    assert again.tobytes() == got.tobytes()
    _assert_fp32_close(got, want)
    np.testing.assert_allclose(got.reshape(m, n), a @ b, rtol=1e-4, atol=1e-4)


def test_a_mutated_operand_changes_the_fused_output():
    """The panels hold what the steps read: another argument gives another product (the data
    comes from SRAM and the messages, not from a copy taken once)."""
    rng = np.random.default_rng(3)
    a, b = (rng.standard_normal((48, 48)).astype(np.float32) for _ in range(2))
    lay = pf.MeshLayout.grid(4, 4)
    exe, args = plan([pf.from_numpy(a, layout=lay) @ pf.from_numpy(b, layout=lay)], "summa")
    (first,), _ = exe.run(args)
    other = [np.array(x, copy=True) for x in args]
    other[1][5, 7] += 1.0  # one element of B: row 5 of A times it changes column 7
    (second,), _ = exe.run(other)
    changed = np.argwhere(first.reshape(48, 48) != second.reshape(48, 48))
    assert set(changed[:, 1]) == {7} and len(changed) > 40


@pytest.mark.parametrize("dtype", [np.float16])
def test_half_floats_keep_their_steps(dtype):
    """Half floats round into the accumulator at every step: never fused, bit for bit the
    step-by-step run."""
    rng = np.random.default_rng(5)
    a = rng.integers(-4, 5, (32, 40)).astype(dtype)
    b = rng.integers(-4, 5, (40, 24)).astype(dtype)
    lay = pf.MeshLayout.grid(4, 4)
    exe, args = plan([pf.from_numpy(a, layout=lay) @ pf.from_numpy(b, layout=lay)], "summa")
    assert not any(fused_use(s) is not None for _, s in enumerate(exe.lean_steps))
    (got,), _ = exe.run(args)
    (want,), _, _ = exe.run_on_sram(args)
    assert got.tobytes() == want.tobytes()


def test_short_panels_add_in_segments(monkeypatch):
    """A panel holds at most PANEL_BYTES: a longer run adds its product segment by segment,
    with the same result to rounding."""
    rng = np.random.default_rng(9)
    a = rng.standard_normal((64, 64)).astype(np.float32)
    b = rng.standard_normal((64, 64)).astype(np.float32)
    lay = pf.MeshLayout.grid(4, 4)
    outputs = [pf.from_numpy(a, layout=lay) @ pf.from_numpy(b, layout=lay)]
    exe, args = plan(outputs, "summa")
    (whole,), _ = exe.run(args)
    monkeypatch.setattr(fused_products, "PANEL_BYTES", 1)  # one step per segment
    adds = []
    add_into = Panels.add_into
    monkeypatch.setattr(
        Panels, "add_into", lambda self, *a: (adds.append(self.filled), add_into(self, *a))
    )
    exe2, _ = plan([pf.from_numpy(a, layout=lay) @ pf.from_numpy(b, layout=lay)], "summa")
    (split,), _ = exe2.run(args)
    assert adds and set(adds) == {1}
    _assert_fp32_close(split, whole)
    np.testing.assert_allclose(split.reshape(64, 64), a @ b, rtol=1e-4, atol=1e-4)


def _tiles(rng, lead, shape):
    return rng.standard_normal(lead + shape).astype(np.float32)


@pytest.mark.parametrize(
    ("x_lead", "y_lead"),
    [((3, 1), (1, 4)), ((1, 1), (1, 4)), ((3, 1), (1, 1)), ((3, 4), (1, 4)), ((3, 4), (3, 4))],
)
def test_panels_add_the_sum_of_the_products(x_lead, y_lead):
    """Panels of p steps add sum_s x_s @ y_s into every PE's tile: one GEMM over the grid when
    lhs is shared along the PE columns and rhs along the rows, a batched product otherwise;
    a step laid out otherwise than the panel's starts a new segment (the caller's check)."""
    rng = np.random.default_rng(1)
    rows, cols, m, k, n, p = 3, 4, 5, 2, 6, 7
    xs = [_tiles(rng, x_lead, (m, k)) for _ in range(p)]
    ys = [_tiles(rng, y_lead, (k, n)) for _ in range(p)]
    acc0 = rng.standard_normal((rows, cols, m, n)).astype(np.float32)
    block = np.zeros((rows, cols, 2 * m * n), np.float32)  # strided tiles, as SRAM's
    a = block[:, :, : m * n].reshape(rows, cols, m, n)
    a[...] = acc0
    V = BufferViews([])
    panels = Panels(V, FusedUse(key=-7, slot=0, slots=p), xs[0], ys[0])
    assert panels.gemm == (x_lead[1] == 1 and y_lead[0] == 1)
    for x, y in zip(xs, ys, strict=True):
        assert panels.fits(x, y)
        panels.put(x, y)
    assert not panels.fits(xs[0], ys[0])  # full
    assert not panels.fits(np.broadcast_to(xs[0], (rows, cols, m, k)), ys[0]) or x_lead == (
        rows,
        cols,
    )

    def batched(acc, x, y):
        acc += np.matmul(x, y)

    panels.add_into(a, V, batched)
    want = acc0.astype(np.float64) + sum(
        np.matmul(x.astype(np.float64), y.astype(np.float64)) for x, y in zip(xs, ys, strict=True)
    )
    np.testing.assert_allclose(a, want, rtol=1e-5, atol=1e-5)
    assert not block[:, :, m * n :].any()  # only the accumulator's bytes were written


@pytest.mark.parametrize("chunked", [False, True])
@pytest.mark.parametrize("assign", [True, False])
@pytest.mark.parametrize(
    ("m", "n", "blocks"), [(1, 4, False), (4, 1, False), (4, 13, True), (8, 8, True)]
)
def test_block_products_are_one_gemm_per_tile_element(m, n, blocks, assign, chunked, monkeypatch):
    """Small tiles on a large grid (m x n <= MAX_BLOCK_PRODUCTS, sides >= MIN_BLOCK_SIDE): one
    GEMM per element (i, j) of the tiles, each the plane of (i, j) of every PE. Tiles of one
    row or one column (the MLP's forward, 1x4) stay one GEMM over the grid: its columns are
    (element, PE column), and one GEMM of them is faster than one per element. Lane-major
    accumulators (each element a plane) and PE-major ones get the same bits (the choice and
    the panels' order follow the shapes, not the layout); written over a fill or added;
    PE rows at a time too (`chunked`: a large grid's parts)."""
    if chunked:
        monkeypatch.setattr(fused_products, "RESULT_CHUNK_BYTES", 1)
    rows, cols, k, p = 32, fused_products.MIN_BLOCK_SIDE, 3, 5
    assert fused_products.block_products(rows, m, cols, n) == blocks
    rng = np.random.default_rng(m * n)
    xs = [_tiles(rng, (rows, 1), (m, k)) for _ in range(p)]
    ys = [_tiles(rng, (1, cols), (k, n)) for _ in range(p)]
    for x, y in zip(xs, ys, strict=True):  # element (0, 0): -1 * 0 products (-0.0 each)
        x[..., 0, :] = -1.0
        y[..., :, 0] = 0.0
    acc0 = rng.standard_normal((rows, cols, m, n)).astype(np.float32)
    if assign:
        acc0[...] = 0.0
    got = []
    for lane_major in (True, False):
        if lane_major:  # (elements, rows, cols) planes, as a lane-major SRAM block
            planes = np.zeros((m * n + 2, rows, cols), np.float32)
            a = planes[: m * n].reshape(m, n, rows, cols).transpose(2, 3, 0, 1)
        else:
            block = np.zeros((rows, cols, m * n + 2), np.float32)
            a = block[:, :, : m * n].reshape(rows, cols, m, n)
        a[...] = acc0
        V = BufferViews([])
        panels = Panels(V, FusedUse(key=-7, slot=0, slots=p), xs[0], ys[0])
        assert panels.blocks == blocks and panels.cols_last
        panels.assign = assign
        for x, y in zip(xs, ys, strict=True):
            panels.put(x, y)
        panels.add_into(a, V, lambda *args: pytest.fail("not a GEMM"))
        got.append(np.array(a))
        rest = planes[m * n :] if lane_major else block[:, :, m * n :]
        assert not rest.any()  # only the accumulator's bytes were written
    assert got[0].tobytes() == got[1].tobytes()
    want = acc0.astype(np.float64) + sum(
        np.matmul(x.astype(np.float64), y.astype(np.float64)) for x, y in zip(xs, ys, strict=True)
    )
    np.testing.assert_allclose(got[0], want, rtol=1e-5, atol=1e-5)
    if assign:  # (+0.0 plus the products: never -0.0)
        assert (got[0][..., 0, 0] == 0).all() and not np.signbit(got[0][..., 0, 0]).any()


def test_zero_sums_are_positive_for_numpys_matmul_and_asked_of_a_blas_that_is_not(monkeypatch):
    """A written product skips its `+ 0.0` pass only when np.matmul starts its sums from +0.0
    (every product -0.0 then sums to +0.0): numpy's BLAS does; a BLAS starting from the first
    product would not, and the probe says so (one probe per shapes)."""
    monkeypatch.setattr(fused_products, "_POSITIVE_ZERO_SUMS", {})
    assert fused_products.zero_sums_positive((4, 1, 32, 15), (1, 13, 15, 32), "CC", np.float32)
    assert fused_products.zero_sums_positive((9, 40), (40, 3), "CF", np.float32)  # (N, K) @ x.T
    plain = np.matmul

    def from_first_product(x, y, out=None):  # x @ y, each sum started from its first product
        x, y = np.asarray(x), np.asarray(y)
        got = x[..., :, :1] * y[..., :1, :]
        for q in range(1, x.shape[-1]):
            got = got + x[..., :, q : q + 1] * y[..., q : q + 1, :]
        if out is None:
            return got
        out[...] = got
        return out

    monkeypatch.setattr(np, "matmul", from_first_product)
    assert not fused_products.zero_sums_positive((6, 5), (5, 7), "CC", np.float32)
    assert fused_products.zero_sums_positive(
        (4, 1, 32, 15), (1, 13, 15, 32), "CC", np.float32
    )  # kept
    monkeypatch.setattr(np, "matmul", plain)


@pytest.mark.parametrize(
    ("rows", "m", "k", "cols", "n"),
    [
        (6, 1, 13, 5, 4),  # lane-major tiles (the MLP's forward): K and N element-major
        (1, 1, 13, 5, 4),  # one lhs for every PE row
        (3, 2, 20, 4, 16),  # larger tiles: K and N in the tiles' order
        (5, 3, 1, 4, 2),  # one k per step
    ],
)
@pytest.mark.parametrize("slots", [1, 3, 7])
@pytest.mark.parametrize("assign", [False, True])
def test_a_transposed_rhs_panel_holds_the_same_product(rows, m, k, cols, n, slots, assign):
    """An op that stores its rhs [n, k] (x @ W.T) keeps the GEMM's rhs panel as its
    transpose, (N, K) in rows of K, and takes the product transposed: the same sum as the
    (K, N) panel's to fp32 rounding, in every order of K and N, filled step by step or
    stacked, cut short (a segment of fewer slots than the panel holds) or not."""
    rng = np.random.default_rng(rows * 100 + k)
    xs = [_tiles(rng, (rows, 1), (m, k)) for _ in range(slots)]
    ys = [_tiles(rng, (1, cols), (k, n)) for _ in range(slots)]
    start = _tiles(rng, (rows, cols), (m, n))
    want = start.astype(np.float64) * (not assign) + sum(
        np.matmul(x.astype(np.float64), y.astype(np.float64)) for x, y in zip(xs, ys, strict=True)
    )
    for transposed in (False, True):
        for filled in (slots, max(1, slots - 2)):  # (all slots, or a segment cut short)
            V = BufferViews([])
            panels = Panels(V, FusedUse(key=-9, slot=0, slots=slots), xs[0], ys[0], transposed)
            assert panels.rhs_nk == transposed and not panels.blocks
            panels.assign = assign
            if filled == slots and slots > 1:
                panels.put_stacked(np.stack(xs), np.stack(ys))
            else:
                for x, y in zip(xs[:filled], ys[:filled], strict=True):
                    panels.put(x, y)
            a = start.copy()
            panels.add_into(a, V, lambda *args: pytest.fail("not a GEMM"))
            part = start.astype(np.float64) * (not assign) + sum(
                np.matmul(x.astype(np.float64), y.astype(np.float64))
                for x, y in zip(xs[:filled], ys[:filled], strict=True)
            )
            np.testing.assert_allclose(a, want if filled == slots else part, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(("m", "n"), [(4, 13), (1, 4)])
@pytest.mark.parametrize("blas_positive", [True, False])
@pytest.mark.parametrize("rhs_transposed", [False, True])
def test_written_gemm_products_are_never_negative_zero(
    blas_positive, m, n, rhs_transposed, monkeypatch
):
    """GEMM products written over a fill's zeros (the block GEMMs, 4x13 tiles; one GEMM whose
    result is copied into lane-major planes, 1x4): +0.0 where every product is -0.0, with the
    `+ 0.0` pass (a BLAS that may give -0.0) or without it (one that never does)."""
    monkeypatch.setattr(fused_products, "zero_sums_positive", lambda *shapes: blas_positive)
    rows, cols, k, p = 32, 32, 1, 3
    rng = np.random.default_rng(9)
    xs = [_tiles(rng, (rows, 1), (m, k)) for _ in range(p)]
    ys = [_tiles(rng, (1, cols), (k, n)) for _ in range(p)]
    for x, y in zip(xs, ys, strict=True):
        x[..., 0, :] = -1.0
        y[..., :, 0] = 0.0
    planes = np.zeros((m * n, rows, cols), np.float32)
    a = planes.reshape(m, n, rows, cols).transpose(2, 3, 0, 1)
    V = BufferViews([])
    panels = Panels(V, FusedUse(key=-9, slot=0, slots=p), xs[0], ys[0], rhs_transposed)
    assert panels.blocks == (m > 1) and panels.cols_last
    assert panels.rhs_nk == (rhs_transposed and m == 1)  # (block GEMMs keep their order)
    panels.assign = True
    for x, y in zip(xs, ys, strict=True):
        panels.put(x, y)
    panels.add_into(a, V, lambda *args: pytest.fail("not a GEMM"))
    assert not np.signbit(a[..., 0, 0]).any() and (a[..., 0, 0] == 0).all()
    want = sum(
        np.matmul(x.astype(np.float64), y.astype(np.float64)) for x, y in zip(xs, ys, strict=True)
    )
    np.testing.assert_allclose(a, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    ("rows", "acc_rows", "m", "cols", "n", "dtype"),
    [
        (3, 3, 26, 5, 4, np.float32),  # short rows: moved as items, then added
        (2, 2, 7, 3, 13, np.float32),  # 52-byte rows
        (4, 4, 1, 6, 4, np.float32),  # one row per tile: already in the accumulator's order
        (2, 2, 3, 4, 32, np.float32),  # long rows: added through the transposed view
        (1, 3, 5, 4, 2, np.float32),  # one lhs row shared by every PE row (broadcast)
        (2, 2, 6, 3, 3, np.int32),
    ],
)
def test_add_transposed_adds_a_gemm_result_into_strided_tiles(rows, acc_rows, m, cols, n, dtype):
    """acc (rows, cols, m, n) += part (rows, m, cols, n), whatever the rows' length; only the
    accumulator's bytes of its SRAM block change."""
    rng = np.random.default_rng(rows * 100 + m * 10 + n)
    part = (rng.standard_normal((rows, m, cols, n)) * 100).astype(dtype)
    acc0 = (rng.standard_normal((acc_rows, cols, m, n)) * 100).astype(dtype)
    block = np.zeros((acc_rows, cols, m * n + 3), dtype)  # tiles strided, as in SRAM
    acc = block[:, :, : m * n].reshape(acc_rows, cols, m, n)
    acc[...] = acc0
    fused_products.add_transposed(acc, part, BufferViews([]), ("test",))
    np.testing.assert_array_equal(acc, acc0 + part.transpose(0, 2, 1, 3))
    assert not block[:, :, m * n :].any()


def test_the_lean_run_of_a_layered_gemm_fuses_each_layer():
    """2.5D SUMMA: each layer's k-loop is one run (the layers interleave on disjoint rows)."""
    rng = np.random.default_rng(4)
    a = rng.standard_normal((96, 64)).astype(np.float32)
    b = rng.standard_normal((64, 80)).astype(np.float32)
    lay = pf.MeshLayout.grid(8, 8)
    exe, args = plan([pf.from_numpy(a, layout=lay) @ pf.from_numpy(b, layout=lay)], "summa25d")
    keys = {use.key for _, s in enumerate(exe.lean_steps) if (use := fused_use(s)) is not None}
    assert len(keys) >= 2  # one run per layer
    assert not any(private_use(s) is not None for _, s in enumerate(exe.lean_steps))
    (got,), _ = exe.run(args)
    (want,), _, _ = exe.run_on_sram(args)
    _assert_fp32_close(got, want)


@pytest.mark.parametrize("algorithm", ["summa", "summa25d"])
def test_a_summa_loops_last_k_step_joins_its_gemm(algorithm, monkeypatch):
    """The loop's last tiles are received into buffers whose bytes later buffers reuse: `run`
    reads them as views too (step_access `dead_from`), so each run is one GEMM segment (its
    last step no longer a batched product of every PE's tiles from SRAM)."""
    made: list[bool] = []
    init = Panels.__init__

    def counting(self, V, use, x, y, rhs_transposed=False):
        init(self, V, use, x, y, rhs_transposed)
        made.append(self.gemm)

    monkeypatch.setattr(Panels, "__init__", counting)
    rng = np.random.default_rng(5)
    a = rng.standard_normal((96, 64)).astype(np.float32)
    b = rng.standard_normal((64, 80)).astype(np.float32)
    lay = pf.MeshLayout.grid(8, 8)
    exe, args = plan([pf.from_numpy(a, layout=lay) @ pf.from_numpy(b, layout=lay)], algorithm)
    runs = {use.key for _, s in enumerate(exe.lean_steps) if (use := fused_use(s)) is not None}
    (got,), _ = exe.run(args)
    assert len(made) == len(runs) and all(made)  # one GEMM segment per run
    (want,), _, _ = exe.run_on_sram(args)
    _assert_fp32_close(got, want)


def _folded_fills(exe) -> int:
    return sum(s is fused_products._zeros_written_by_the_run for s in exe.lean_steps)


@pytest.mark.parametrize("algorithm", ["summa", "summa25d"])
def test_the_fill_of_zeros_is_folded_into_the_runs_that_write_it(algorithm, monkeypatch):
    """SUMMA's accumulator starts as a fill of zeros that its run overwrites (the 2.5D
    SUMMA's: one run per layer's rows, together the whole buffer): `run` writes the first
    product instead of filling and adding, with the same bits as without the fold, over a
    kept SRAM (whose accumulator then holds the last run's result until it is written)."""
    rng = np.random.default_rng(11)
    a, b = (rng.standard_normal((96, 96)).astype(np.float32) for _ in range(2))
    lay = pf.MeshLayout.grid(8, 8)
    exe, args = plan([pf.from_numpy(a, layout=lay) @ pf.from_numpy(b, layout=lay)], algorithm)
    assert _folded_fills(exe) == 1
    assert all(
        fused_use(s).zeroed for _, s in enumerate(exe.lean_steps) if fused_use(s) is not None
    )
    (got,), _ = exe.run(args)
    (again,), _ = exe.run([x * 2 for x in args])  # the kept SRAM holds the first product
    monkeypatch.setattr(fused_products, "zero_started", lambda *args: (set(), set()))
    unfolded, _ = plan([pf.from_numpy(a, layout=lay) @ pf.from_numpy(b, layout=lay)], algorithm)
    assert _folded_fills(unfolded) == 0
    (want,), _ = unfolded.run(args)
    assert got.tobytes() == want.tobytes()
    np.testing.assert_allclose(again, 4 * want, rtol=1e-6, atol=1e-5)


def test_runs_cover_their_fill_only_all_together():
    """The fill is folded only when the runs' parts cover every element it wrote: a layer's
    rows alone do not."""
    from pyflame.sim.executable import Buffer

    buf = Buffer(0, "acc", (0, 0, 4, 3), 0, 8, 32, np.dtype(np.float32))
    every = slice(0, 3)
    even, odd = (slice(0, 4, 2), every, slice(0, 8)), (slice(1, 4, 2), every, slice(0, 8))
    assert fused_products._cover(buf, [even, odd])
    assert not fused_products._cover(buf, [even])
    assert not fused_products._cover(buf, [(slice(0, 4), every, slice(0, 7))])


def test_stacked_parts_are_one_view_of_equally_spaced_tiles():
    block = np.arange(6 * 7 * 20, dtype=np.float32).reshape(6, 7, 20)
    columns = [block[:, c, 3:11] for c in range(1, 6)]  # a tile per PE column, strided
    got = fused_products.stacked(columns)
    assert got is not None and np.shares_memory(got, block)
    assert got.tobytes() == np.stack(columns).tobytes()
    rows = [block[r][None, :, 4:8] for r in (5, 3, 1)]  # backwards, two rows apart
    assert fused_products.stacked(rows).tobytes() == np.stack(rows).tobytes()
    assert (
        fused_products.stacked([columns[2]] * 3).tobytes() == np.stack([columns[2]] * 3).tobytes()
    )


def test_parts_that_are_not_one_strided_view_are_not_stacked():
    block = np.zeros((6, 7, 20), np.float32)
    other = np.zeros((6, 7, 20), np.float32)
    assert fused_products.stacked([block[:, 0, :4], block[:, 1, :4], block[:, 3, :4]]) is None
    assert fused_products.stacked([block[:, 0, :4], other[:, 1, :4]]) is None
    assert fused_products.stacked([block[:, 0, :4], block[:, 1, :5]]) is None
    assert fused_products.stacked([np.zeros((6, 4)), np.zeros((6, 4))]) is None  # (own memory)


def test_split_view_refuses_to_copy():
    a = np.zeros((4, 12), np.float32)
    assert np.shares_memory(fused_products.split_view(a[:, 2:8], (4, 2, 3)), a)
    with pytest.raises(ValueError, match="would copy"):
        fused_products.split_view(a[:, 2:8].T, (3, 8))


@pytest.mark.parametrize("gemm", [True, False])
def test_stacked_operands_fill_the_panels_as_one_by_one(gemm):
    rng = np.random.default_rng(5)
    rows, cols, m, k, n, p = 3, 4, 2, 5, 3, 6
    src = rng.standard_normal((rows + p, cols + p, m * k + k * n + 2)).astype(np.float32)
    if gemm:  # lhs one tile per PE row (from column s), rhs one per column (from row s)
        xs = [src[:rows, s, 1 : 1 + m * k].reshape(rows, 1, m, k) for s in range(p)]
        ys = [src[s, :cols, 2 + m * k :].reshape(1, cols, k, n) for s in range(p)]
    else:
        xs = [src[s : s + rows, :cols, 1 : 1 + m * k].reshape(rows, cols, m, k) for s in range(p)]
        ys = [src[:rows, s : s + cols, 2 + m * k :].reshape(rows, cols, k, n) for s in range(p)]
    use = fused_products.FusedUse(key=-1, slot=0, slots=p)
    one, stacked = (fused_products.Panels([], use, xs[0], ys[0]) for _ in range(2))
    one.put_all(xs, ys)
    stacked.put_stacked(fused_products.stacked(xs), fused_products.stacked(ys))
    assert one.gemm == stacked.gemm == gemm
    assert one.x.tobytes() == stacked.x.tobytes() and one.y.tobytes() == stacked.y.tobytes()
    acc = np.zeros((rows, cols, m, n), np.float32)
    stacked.add_into(acc, [], lambda a, x, y: np.add(a, x @ y, out=a))
    want = sum(x @ y for x, y in zip(xs, ys, strict=True))
    np.testing.assert_allclose(acc, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(("m", "k", "n"), [(3, 1, 2), (4, 3, 5), (12, 16, 9)])
def test_a_single_product_over_a_fill_of_zeros_writes_its_product(sim, m, k, n):
    """A local matmul (`pe.fill 0`, then one `pe.matmul_acc` into the same tiles) writes its
    product instead of adding it to the zeros (`Accumulates.assigning`): the lean run's fill
    writes nothing, and the outputs are the step-by-step run's bit for bit, signed zeros
    (+0.0 plus a -0.0 product is +0.0), infinities and NaN included, for the lane loop
    (m * k * n <= 1024) and BLAS products (12 * 16 * 9) alike."""
    rect = (0, 0, 2, 3)
    b = sim.Body()
    for name, size in (("acc", m * n), ("lhs", m * k), ("rhs", k * n)):
        b.alloc(name, rect, size)
    b.op(f"pe.fill %acc {{value = 0.0 : f64, pes = {sim.pes(rect)}}} : {b.t('acc')}")
    args = []
    for name, size in (("lhs", m * k), ("rhs", k * n)):
        lay = sim.layout((6 * size,), (2, 3), ("rc",))
        b.op(
            f"pe.host_in %{name}_h, %{name} {{layout = {lay}, pes = {sim.pes(rect)}}} : "
            f"{sim.tensor((6 * size,))}, {b.t(name)}"
        )
        args.append(f"%{name}_h: {sim.tensor((6 * size,))}")
    b.op(
        f"pe.matmul_acc %acc, %lhs, %rhs {{m = {m} : i64, k = {k} : i64, n = {n} : i64, "
        f"pes = {sim.pes(rect)}}} : {b.t('acc', 'lhs', 'rhs')}"
    )
    lay, tt = sim.layout((6 * m * n,), (2, 3), ("rc",)), sim.tensor((6 * m * n,))
    b.op(f"%o = pe.host_out %acc {{layout = {lay}, pes = {sim.pes(rect)}}} : {b.t('acc')} -> {tt}")
    exe = sim.plan(sim.program(b.text(), ", ".join(args), tt, f"%o : {tt}"))
    assert any(getattr(s, "assigns", False) for s in exe.lean_steps)
    assert any(s is fused_products._zeros_written_by_the_run for s in exe.lean_steps)
    rng = np.random.default_rng(m * k + n)
    lhs = rng.standard_normal((6, m, k)).astype(np.float32)
    rhs = rng.standard_normal((6, k, n)).astype(np.float32)
    lhs[0, 0], rhs[0, :, 0] = -0.0, 0.0  # products of -0.0 and +0.0: the sum from +0.0
    lhs[1, 0, 0], lhs[2, -1, -1] = np.inf, np.nan
    data = [lhs.reshape(-1), rhs.reshape(-1)]
    (got,), report = exe.run(data)
    (again,), _ = exe.run(data)  # a pooled SRAM: its old tiles are overwritten, not added to
    (want,), exact_report, _ = exe.run_on_sram(data)
    assert got.tobytes() == again.tobytes() == want.tobytes()
    assert report.cycles == exact_report.cycles
    with np.errstate(invalid="ignore"):
        np.testing.assert_allclose(got.reshape(6, m, n), lhs @ rhs, rtol=1e-5, atol=1e-5)
    assert not np.signbit(got.reshape(6, m, n)[0, 0]).any()  # (+0.0, as 0.0 + -0.0 gives)


@pytest.mark.parametrize(("m", "n"), [(1, 4), (3, 2)])
def test_small_tiles_order_k_by_tile_element(m, n):
    """Small tiles with k > 1 (the MLP's forward: 1x13 by 13x4) take the GEMM's K as (tile
    element, slot): filled slot by slot, all at once from stacked views, or cut short (a
    segment ending before its panels are full: compacted), the same bits; lane-major and
    PE-major accumulators alike; the sum of the products to fp32 rounding."""
    rows, cols, k, p = 6, 5, 3, 4
    rng = np.random.default_rng(m * 10 + n)
    xs = [_tiles(rng, (rows, 1), (m, k)) for _ in range(p)]
    ys = [_tiles(rng, (1, cols), (k, n)) for _ in range(p)]
    acc0 = rng.standard_normal((rows, cols, m, n)).astype(np.float32)
    want = acc0.astype(np.float64) + sum(
        np.matmul(x.astype(np.float64), y.astype(np.float64)) for x, y in zip(xs, ys, strict=True)
    )
    got = []
    for way in ("one by one", "stacked", "cut short", "pe-major"):
        if way == "pe-major":
            a = np.zeros((rows, cols, m * n), np.float32).reshape(rows, cols, m, n)
        else:  # (m*n, rows, cols) planes, as a lane-major block
            planes = np.zeros((m * n, rows, cols), np.float32)
            a = planes.reshape(m, n, rows, cols).transpose(2, 3, 0, 1)
        a[...] = acc0
        V = BufferViews([])
        slots = p + 2 if way == "cut short" else p
        panels = Panels(V, FusedUse(key=-9, slot=0, slots=slots), xs[0], ys[0])
        assert panels.k_major and not panels.blocks
        if way == "stacked":
            panels.put_stacked(np.stack(xs), np.stack(ys))
        else:
            for x, y in zip(xs, ys, strict=True):
                panels.put(x, y)
        panels.add_into(a, V, lambda *args: pytest.fail("not a GEMM"))
        got.append(np.array(a))
    for g in got[1:]:
        assert g.tobytes() == got[0].tobytes()
    np.testing.assert_allclose(got[0], want, rtol=1e-5, atol=1e-5)
