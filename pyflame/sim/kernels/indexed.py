"""Kernels of the indexed-row ops: pe.gather_rows (rows of each PE's table tile read through an
index, zeros for rows the PE does not hold, or with `keep` what the buffer held) and pe.scatter_add_rows (its transpose: rows of a
source added into the tile rows the index names).

Timing cannot depend on data (one schedule serves every run), so every PE is charged for every
index entry: one vector instruction of the tile's row width per entry (a copy or a zero fill;
an add for scatter-add), after one pass over the index that turns each entry into a local row
offset and checks it against the rows the PE holds. That is the work of the rows returned,
independent of the table's size. Half floats add in float32, rounded once (as pe.reduce);
int32 adds refuse to wrap."""

from __future__ import annotations

import numpy as np

from pyflame.dialects import pe
from pyflame.sim.costs import CostKind
from pyflame.sim.int32_checks import I32, as_int32
from pyflame.sim.kernels.registry import kernel
from pyflame.sim.schedule import Item, Schedule
from pyflame.sim.step_access import Access, annotate


def _owned_rows(
    s: Schedule, it: Item, layout: pe.TileLayoutAttr
) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Per PE of the rectangle (rows, cols, 1): the global index of its tile's first row and
    how many real (unpadded) rows it holds; the tile's row count and row width."""
    dist = layout.dist
    s.check_layout_grid(it, dist)
    nr, nc = it.rect[2], it.rect[3]
    rows, width = dist.block
    rr, cc = np.meshgrid(np.arange(nr), np.arange(nc), indexing="ij")
    first = np.asarray(dist.block_index(0, rr, cc), dtype=np.int64) * rows
    held = np.clip(dist.shape[0] - first, 0, rows)
    return first[..., None], held[..., None], rows, width


@kernel(pe.GatherRowsOp)
def gather_rows(s: Schedule, it: Item, op: pe.GatherRowsOp) -> None:
    d, t, x = (s.buf(v, it) for v in (op.dst, op.table, op.index))
    first, held, rows, width = _owned_rows(s, it, op.layout)
    nr, nc, n = it.rect[2], it.rect[3], x.size
    dsl, tsl, xsl = d.sub(it.rect), t.sub(it.rect, rows * width), x.sub(it.rect)
    di, ti, xi = d.index, t.index, x.index
    keep = op.keep is not None

    def step(V, F, A, O):
        local = V[xi][xsl].astype(np.int64) - first  # (nr, nc, n)
        owned = (local >= 0) & (local < held)
        tile = V[ti][tsl].reshape(nr, nc, rows, width)
        picked = np.take_along_axis(tile, np.where(owned, local, 0)[..., None], axis=2)
        if keep:  # the rows this PE does not hold stay as they are
            np.copyto(V[di][dsl].reshape(nr, nc, n, width), picked, where=owned[..., None])
            return
        picked[~owned] = 0
        V[di][dsl] = picked.reshape(nr, nc, n * width)

    reads = {ti: tsl, xi: xsl, **({di: dsl} if keep else {})}
    s.steps.append(annotate(step, Access(reads=reads, writes={di: dsl})))
    s.charge(it.rect, CostKind.GATHER_ROWS, n, width, buf=d)


@kernel(pe.ScatterAddRowsOp)
def scatter_add_rows(s: Schedule, it: Item, op: pe.ScatterAddRowsOp) -> None:
    t, src, x = (s.buf(v, it) for v in (op.table, op.src, op.index))
    first, held, rows, width = _owned_rows(s, it, op.layout)
    nr, nc, n = it.rect[2], it.rect[3], x.size
    tsl, ssl, xsl = t.sub(it.rect, rows * width), src.sub(it.rect), x.sub(it.rect)
    ti, si, xi = t.index, src.index, x.index
    wide = np.int64 if t.dtype == I32 else np.float64 if t.dtype.itemsize == 8 else np.float32
    pr, pc = np.meshgrid(np.arange(nr), np.arange(nc), indexing="ij")
    pr, pc = np.repeat(pr[..., None], n, axis=2), np.repeat(pc[..., None], n, axis=2)
    what, dtype = it.what, t.dtype

    def step(V, F, A, O):
        local = V[xi][xsl].astype(np.int64) - first
        owned = (local >= 0) & (local < held)
        acc = V[ti][tsl].reshape(nr, nc, rows, width).astype(wide)
        add = V[si][ssl].reshape(nr, nc, n, width)[owned].astype(wide)
        np.add.at(acc, (pr[owned], pc[owned], local[owned]), add)
        if dtype == I32:
            acc = as_int32(acc, what, "scatter-add")
        V[ti][tsl] = acc.reshape(nr, nc, rows * width).astype(dtype)

    reads = {ti: tsl, si: ssl, xi: xsl}
    s.steps.append(annotate(step, Access(reads=reads, writes={ti: tsl})))
    s.charge(it.rect, CostKind.SCATTER_ADD_ROWS, n, width, buf=t)
