"""The simulator's pe.gather_rows and pe.scatter_add_rows on hand-written pe programs: each PE
reads (adds into) the rows of its table tile the index names, zeros (nothing) for the rows it
does not hold; values against numpy over the layouts a table takes, and their cost."""

from __future__ import annotations

import numpy as np
import pytest

from pyflame.core.distribution import Distribution
from pyflame.core.errors import IntegerOverflowError
from pyflame.core.target import SMALL
from pyflame.sim import costs

ELEMS = {"f32": np.float32, "i32": np.int32, "f16": np.float16}

#: (grid, split of the table [V, D]): rows over the grid's rows, columns, all PEs, or none
LAYOUTS = [
    ((1, 1), ("", "")),
    ((3, 2), ("r", "c")),
    ((2, 3), ("c", "r")),
    ((2, 2), ("rc", "")),
    ((2, 3), ("", "c")),
]


def _layout(shape, grid, split, elem="f32") -> str:
    s = "".join(f"{n}x" for n in shape)
    axes = ", ".join(a or "_" for a in split)
    return f"#pe.layout<{s}{elem} on {grid[0]}x{grid[1]} split [{axes}]>"


def _tensor(shape, elem="f32") -> str:
    return "tensor<" + "".join(f"{n}x" for n in shape) + f"{elem}>"


def _buf(n: int, elem: str) -> str:
    return f"!pe.buf<{max(n, 1)}x{elem}>"


def _offsets(*sizes: int) -> list[int]:
    """Consecutive 16-byte aligned SRAM offsets for buffers of `sizes` elements (4 bytes at most)."""
    out, at = [], 0
    for n in sizes:
        out.append(at)
        at += -(-max(n, 1) * 4 // 16) * 16
    return out


def _gather_program(sim, table, n, grid, split, elem="f32") -> str:
    """@main(%w: the table, %i: n indices) -> the per-PE partials [P, n, D] of pe.gather_rows."""
    d = Distribution(table, grid, split)
    width, parts = d.block[1], d.parts(0)
    rect = sim.pes((0, 0) + grid)
    lay = _layout(table, grid, split, elem)
    out = (parts, n, table[1])
    out_lay = _layout(out, grid, (split[0], "", split[1]), elem)
    idx_lay = _layout((n,), grid, ("",), "i32")
    tb, ib, db = _buf(d.local_elems, elem), _buf(n, "i32"), _buf(n * width, elem)
    ot, ox, od = _offsets(d.local_elems, n, n * width)
    body = "\n".join(
        [
            f'    %t = pe.alloc {{name = "t", pes = {rect}, offset = {ot}}} : {tb}',
            f"    pe.host_in %w, %t {{layout = {lay}, pes = {rect}}} : {_tensor(table, elem)}, {tb}",
            f'    %x = pe.alloc {{name = "x", pes = {rect}, offset = {ox}}} : {ib}',
            f"    pe.host_in %i, %x {{layout = {idx_lay}, pes = {rect}}} : {_tensor((n,), 'i32')}, {ib}",
            f'    %d = pe.alloc {{name = "d", pes = {rect}, offset = {od}}} : {db}',
            f"    pe.gather_rows %d, %t, %x {{layout = {lay}, pes = {rect}}} : {db}, {tb}, {ib}",
            f"    %o = pe.host_out %d {{layout = {out_lay}, pes = {rect}}} : {db} -> {_tensor(out, elem)}",
        ]
    )
    args = f"%w: {_tensor(table, elem)}, %i: {_tensor((n,), 'i32')}"
    return sim.program(body, args, _tensor(out, elem), f"%o : {_tensor(out, elem)}")


def _keep_program(sim, table, n, grid, split) -> str:
    """@main(%w: the table, %i: n indices, %r: rows [P, n, D] already there) -> the rows after
    pe.gather_rows with `keep` (a ring gather's step: rows the PE holds filled in)."""
    text = _gather_program(sim, table, n, grid, split)
    d = Distribution(table, grid, split)
    out = (d.parts(0), n, table[1])
    out_lay = _layout(out, grid, (split[0], "", split[1]))
    rect = sim.pes((0, 0) + grid)
    db = _buf(n * d.block[1], "f32")
    text = text.replace(
        "pe.gather_rows %d, %t, %x {",
        f"pe.host_in %r, %d {{layout = {out_lay}, pes = {rect}}} : {_tensor(out)}, {db}\n"
        f"    pe.gather_rows %d, %t, %x {{keep, ",
    )
    return text.replace(
        f"%i: {_tensor((n,), 'i32')}", f"%i: {_tensor((n,), 'i32')}, %r: {_tensor(out)}"
    )


def _scatter_program(sim, table, n, grid, split, elem="f32") -> str:
    """@main(%w: the table, %i: n indices, %g: [n, D]) -> the table with pe.scatter_add_rows."""
    d = Distribution(table, grid, split)
    width = d.block[1]
    rect = sim.pes((0, 0) + grid)
    lay = _layout(table, grid, split, elem)
    src = (n, table[1])
    src_lay = _layout(src, grid, ("", split[1]), elem)
    idx_lay = _layout((n,), grid, ("",), "i32")
    tb, ib, sb = _buf(d.local_elems, elem), _buf(n, "i32"), _buf(n * width, elem)
    ot, ox, os_ = _offsets(d.local_elems, n, n * width)
    tt = _tensor(table, elem)
    body = "\n".join(
        [
            f'    %t = pe.alloc {{name = "t", pes = {rect}, offset = {ot}}} : {tb}',
            f"    pe.host_in %w, %t {{layout = {lay}, pes = {rect}}} : {tt}, {tb}",
            f'    %x = pe.alloc {{name = "x", pes = {rect}, offset = {ox}}} : {ib}',
            f"    pe.host_in %i, %x {{layout = {idx_lay}, pes = {rect}}} : {_tensor((n,), 'i32')}, {ib}",
            f'    %s = pe.alloc {{name = "s", pes = {rect}, offset = {os_}}} : {sb}',
            f"    pe.host_in %g, %s {{layout = {src_lay}, pes = {rect}}} : {_tensor(src, elem)}, {sb}",
            f"    pe.scatter_add_rows %t, %s, %x {{layout = {lay}, pes = {rect}}} : {tb}, {sb}, {ib}",
            f"    %o = pe.host_out %t {{layout = {lay}, pes = {rect}}} : {tb} -> {tt}",
        ]
    )
    args = f"%w: {tt}, %i: {_tensor((n,), 'i32')}, %g: {_tensor(src, elem)}"
    return sim.program(body, args, tt, f"%o : {tt}")


def _partials(w: np.ndarray, idx: np.ndarray, d: Distribution) -> np.ndarray:
    """What pe.gather_rows leaves: partial p holds the rows of row block p, zeros elsewhere."""
    rows = d.block[0]
    out = np.zeros((d.parts(0), idx.size, w.shape[1]), w.dtype)
    for p in range(d.parts(0)):
        mine = (idx >= p * rows) & (idx < min((p + 1) * rows, w.shape[0]))
        out[p, mine] = w[idx[mine]]
    return out


def test_gather_and_scatter_add_rows_over_every_layout(sim, rng):
    """Odd sizes (padded row and column blocks), repeated indices and indices out of range
    (a zero row, nothing added) on every layout a table takes."""
    table, n = (11, 7), 9
    for grid, split in LAYOUTS:
        d = Distribution(table, grid, split)
        w = rng.standard_normal(table).astype(np.float32)
        idx = np.array([3, 0, 10, 3, -1, 11, 7, 5, 3], np.int32)
        (o,), _ = sim.run(_gather_program(sim, table, n, grid, split), w, idx)
        np.testing.assert_array_equal(o, _partials(w, idx, d), err_msg=f"{grid} {split}")
        np.testing.assert_array_equal(
            o.sum(0), np.where((idx >= 0) & (idx < 11), 1, 0)[:, None] * w[np.clip(idx, 0, 10)]
        )
        g = rng.standard_normal((n, table[1])).astype(np.float32)
        (t,), _ = sim.run(_scatter_program(sim, table, n, grid, split), w, idx, g)
        want = w.astype(np.float64)
        ok = (idx >= 0) & (idx < table[0])
        np.add.at(want, idx[ok], g[ok])
        np.testing.assert_allclose(t, want, rtol=1e-6, atol=1e-6, err_msg=f"{grid} {split}")


def test_gather_rows_keep_fills_in_only_the_rows_a_pe_holds(sim, rng):
    """With `keep` the rows a PE does not hold (other blocks', out of range) stay as they
    were; the ones it holds are read from its tile, over every layout."""
    table, n = (11, 7), 9
    for grid, split in LAYOUTS:
        d = Distribution(table, grid, split)
        w = rng.standard_normal(table).astype(np.float32)
        idx = np.array([3, 0, 10, 3, -1, 11, 7, 5, 3], np.int32)
        before = rng.standard_normal((d.parts(0), n, table[1])).astype(np.float32)
        (o,), _ = sim.run(_keep_program(sim, table, n, grid, split), w, idx, before)
        mine = _partials(np.ones_like(w), idx, d).astype(bool)
        want = np.where(mine, _partials(w, idx, d), before)
        np.testing.assert_array_equal(o, want, err_msg=f"{grid} {split}")


@pytest.mark.parametrize("elem", ["i32", "f16"])
def test_gather_rows_keeps_the_element_type(sim, elem):
    table, grid, split = (6, 4), (2, 2), ("r", "c")
    w = (np.arange(24).reshape(table) - 7).astype(ELEMS[elem])
    idx = np.array([5, 0, 2], np.int32)
    (o,), _ = sim.run(_gather_program(sim, table, 3, grid, split, elem), w, idx)
    assert o.dtype == ELEMS[elem]
    np.testing.assert_array_equal(o.sum(0), w[idx])


def test_scatter_add_rows_in_int32_refuses_to_wrap(sim):
    table, grid, split = (4, 2), (2, 1), ("r", "")
    w = np.full(table, 2**31 - 2, np.int32)
    idx, g = np.array([1, 1], np.int32), np.ones((2, 2), np.int32)
    with pytest.raises(IntegerOverflowError, match="pe.scatter_add_rows.*int32 overflow"):
        sim.run(_scatter_program(sim, table, 2, grid, split, "i32"), w, idx, g)


def test_gather_rows_cost(sim):
    """Per PE: one pass over the n index entries, then one instruction per entry over a row of
    the tile (f32: one lane, so w cycles), each with its issue: work per row returned, not per
    row of the table."""
    n, width = 6, 4
    exe = sim.plan(_gather_program(sim, (64, 8), n, (4, 2), ("r", "c")))
    cyc, flops = costs.op_cycles(SMALL, "gather_rows", n, width)
    issue = SMALL.vector_issue_cycles
    assert exe.report.cycles == cyc == (n + issue) + n * (width + issue)
    big = sim.plan(_gather_program(sim, (640, 8), n, (4, 2), ("r", "c")))
    assert big.report.cycles == exe.report.cycles  # a table 10x taller costs the same
    assert flops == 2 * n


def test_scatter_add_rows_cost(sim):
    n, width = 5, 3
    exe = sim.plan(_scatter_program(sim, (20, 6), n, (2, 2), ("r", "c")))
    cyc, flops = costs.op_cycles(SMALL, "scatter_add_rows", n, width)
    issue = SMALL.vector_issue_cycles
    assert exe.report.cycles == cyc == (n + issue) + n * (width + issue)
    assert exe.report.flops == 4 * flops == 4 * (2 * n + n * width)
