"""Ring gathers and scatter-adds: mesh.ring_gather_rows and mesh.ring_scatter_add_rows, whose
index (and rows) are split over the PEs. Each chunk of the index travels once around its line of
the table's row split, a logical ring (shift_matmul.py's folded ring: neighbours at most two
PEs apart), and each PE it visits reads (or adds) the rows its table tile holds.

    %e = mesh.ring_gather_rows %w, %i : (!mesh.tensor<10000x1xf32 on 4x2 split [r, _]>,
        !mesh.tensor<10000xi32 on 4x2 split [rc]>) -> !mesh.tensor<10000x1xf32 on 4x2 split [rc, _]>
becomes
    pe.fill %rows0 ...                                 // the rows gathered so far: none
    // step s = 0 .. 3, buffers of parity s % 2 (steps 1 and 2 as a pe.loop):
    pe.send %index0 async ; pe.recv %index1 async       // the chunk moves on (not at step 3)
    pe.gather_rows %rows0, %w, %index0 {keep, ...}      // the rows this PE holds, the rest kept
    pe.send %rows0 async ; pe.recv %rows1 async         // and so do its rows, after the gather
    pe.wait ...

After L steps (L PEs on the ring) every chunk has been to each PE of its line and its rows are
back where the chunk started. A gather must finish before its rows move on, so only the index
moves while it runs. A scatter-add's chunks (index and source rows) are read only: they move on
while the PE adds them, and stay where the last step leaves them (L - 1 moves).

Per PE, a ring holds two index chunks and two row chunks, N / (PEs the index is split over)
entries each, where the replicated form (indexed.py) holds the whole index and N rows.
"""

from __future__ import annotations

from collections.abc import Callable

from xdsl.ir import Operation, SSAValue

from pyflame.core.distribution import Distribution
from pyflame.dialects import mesh, pe
from pyflame.dialects.mesh import dist_of, elem_of, ring_length
from pyflame.passes.pe_lowering.loops import Emit, at_top
from pyflame.passes.pe_lowering.shift_matmul import folded_ring, ring_channel, run_periodic
from pyflame.passes.pe_lowering.state import PELowering, grid_rect, tile_layout

#: colors a ring uses: one for the index chunks, one for the rows
RING_CHANNELS = 2


def _ring_channels(lw: PELowering, table: Distribution) -> tuple[int, int]:
    """Two channels whose routes move every chunk one step along its line of the table's row
    split (the PE columns for rows split over `r`, the PE rows for `c`)."""
    along = table.split[0]
    lines = table.grid[1] if along == "r" else table.grid[0]
    ring = folded_ring(ring_length(table))
    transposed = along == "r"
    first = ring_channel(lw, ring, [True] * lines, transposed)
    second = ring_channel(lw, ring, [True] * lines, transposed)
    return first, second


def lower_ring_gather_rows(op: mesh.RingGatherRowsOp, lw: PELowering) -> SSAValue:
    td = dist_of(op.table)
    rect = grid_rect(td)
    layout = tile_layout(op.table.type)
    table = lw.buf(op.table)
    steps = ring_length(td)
    first = lw.alloc_for(op.result, "ring_rows")
    if steps == 1:  # every PE holds all the rows its chunk needs
        lw.emit(pe.GatherRowsOp(first, table, lw.buf(op.index), layout=layout, pes=rect))
        return first
    rows = [first, lw.alloc_for(op.result, "ring_rows_next")]
    index = [lw.writable_copy(op.index, "ring_index"), lw.alloc_for(op.index, "ring_index_next")]
    lw.emit(pe.FillOp(first, value=0.0, pes=rect))
    index_color, rows_color = _ring_channels(lw, td)

    def step(emit: Emit, s: int, last: bool = False) -> None:
        cur, nxt = s % 2, (s + 1) % 2
        tokens: list[SSAValue] = []
        if not last:  # the chunk's index moves on while the PE reads its rows
            sent = emit(pe.SendOp(index[cur], color=index_color, pes=rect, asynchronous=True))
            got = emit(pe.RecvOp(index[nxt], color=index_color, pes=rect, asynchronous=True))
            tokens += [sent.results[0], got.results[0]]
        emit(pe.GatherRowsOp(rows[cur], table, index[cur], layout=layout, pes=rect, keep=True))
        sent = emit(pe.SendOp(rows[cur], color=rows_color, pes=rect, asynchronous=True))
        got = emit(pe.RecvOp(rows[nxt], color=rows_color, pes=rect, asynchronous=True))
        emit(pe.WaitOp(*tokens, sent.results[0], got.results[0], pes=rect))

    run_periodic(lw, steps - 1, 0, step)
    step(at_top(lw), steps - 1, last=True)
    return rows[steps % 2]


def lower_ring_scatter_add_rows(op: mesh.RingScatterAddRowsOp, lw: PELowering) -> SSAValue:
    td = op.table_dist()
    rect = grid_rect(td)
    layout = pe.TileLayoutAttr(td, elem_of(op.result))
    table = lw.alloc_for(op.result, "ring_scatter_add_rows")
    lw.emit(pe.FillOp(table, value=0.0, pes=rect))
    steps = ring_length(td)
    if steps == 1:
        lw.emit(
            pe.ScatterAddRowsOp(table, lw.buf(op.src), lw.buf(op.index), layout=layout, pes=rect)
        )
        return table
    index = [lw.writable_copy(op.index, "ring_index"), lw.alloc_for(op.index, "ring_index_next")]
    src = [lw.writable_copy(op.src, "ring_src"), lw.alloc_for(op.src, "ring_src_next")]
    index_color, src_color = _ring_channels(lw, td)

    def step(emit: Emit, s: int, last: bool = False) -> None:
        cur, nxt = s % 2, (s + 1) % 2
        tokens: list[SSAValue] = []
        if not last:  # the chunk moves on while the PE adds it
            for bufs, color in ((index, index_color), (src, src_color)):
                sent = emit(pe.SendOp(bufs[cur], color=color, pes=rect, asynchronous=True))
                got = emit(pe.RecvOp(bufs[nxt], color=color, pes=rect, asynchronous=True))
                tokens += [sent.results[0], got.results[0]]
        emit(pe.ScatterAddRowsOp(table, src[cur], index[cur], layout=layout, pes=rect))
        if tokens:
            emit(pe.WaitOp(*tokens, pes=rect))

    run_periodic(lw, steps - 1, 0, step)
    step(at_top(lw), steps - 1, last=True)
    return table


LOWERINGS: dict[type[Operation], Callable] = {
    mesh.RingGatherRowsOp: lower_ring_gather_rows,
    mesh.RingScatterAddRowsOp: lower_ring_scatter_add_rows,
}
