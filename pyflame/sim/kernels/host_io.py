"""Kernels of host I/O: pe.host_in streams an argument of @main into the tiles of its layout
through the fabric's west edge; pe.host_out streams tiles out through the east edge into a
host array. Their time is counted apart from the PEs' clocks (`io_cycles`)."""

from __future__ import annotations

import math

import numpy as np

from pyflame.core.errors import CompileError
from pyflame.dialects import pe
from pyflame.sim import costs
from pyflame.sim.dead_transfers import overwrites
from pyflame.sim.deferred_replicas import set_reads_pes
from pyflame.sim.device_array import (
    DEVICE_ARRAY_BYTES,
    KEEP_TILES,
    DeviceArray,
    SramLease,
    host_array,
    set_host_out,
)
from pyflame.sim.kernels.registry import kernel
from pyflame.sim.layout_io import (
    kept_grid,
    make_gather,
    make_scatter,
    make_scatter_into,
    zero_padding,
)
from pyflame.sim.schedule import Item, Schedule
from pyflame.sim.sram import scratch_array
from pyflame.sim.step_access import LANES_OUTER, PE_MAJOR, Access, Received, annotate


@kernel(pe.HostInOp)
def host_in(s: Schedule, it: Item, op: pe.HostInOp) -> None:
    dist = op.layout.dist
    s.check_layout_grid(it, dist)
    b = s.buf(op.buffer, it)
    ai = s.arg_index.get(op.input)
    if ai is None:
        raise CompileError(f"{it.what}: the host tensor must be an argument of @main")
    host_elem = op.input.type.element_type  # type: ignore[attr-defined]  # a TensorType
    buf_elem = op.buffer.type.element_type  # type: ignore[attr-defined]  # a !pe.buf
    if host_elem != buf_elem:
        raise CompileError(f"{it.what}: host tensor of {host_elem} into a buffer of {buf_elem}")
    scatter, scatter_into = make_scatter(dist), make_scatter_into(dist)
    L = dist.local_elems
    sl, i = b.sub(it.rect, L), b.index
    tile = (it.rect[2], it.rect[3]) + tuple(dist.block)

    kept = kept_grid(dist)
    replicated = math.prod(kept) < it.rect[2] * it.rect[3]

    def step(V, F, A, O):
        host = A[ai]
        if type(host) is DeviceArray:  # a program's output (pyflame/sim/device_array.py)
            held = host.tiles_in(dist)
            if held is not None:  # its tiles as they are, or on the transposed grid
                V[i][sl][...] = held  # (their padding zeroed: pyflame/sim/device_array.py)
                return
            host = host.numpy()
        tiles = V[i][sl].reshape(tile)
        if replicated:  # one copy of the (fewer) tiles first, then whole tiles
            # (laid out in SRAM's order, so that the copies run along contiguous rows of
            # both: 10x256 on 64x64 [_, c], lane-major, 167 -> ~40 -> ~15 us)
            src = np.empty_like(tiles[: kept[0], : kept[1]], order="K")
            scatter_into(host, src)
            tiles[...] = src
        else:
            scatter_into(host, tiles)

    def tiles(F, A):  # the tiles as a view of the host array (an elided host_in's readers):
        host = A[ai]  # replicas: every PE's copy
        if type(host) is DeviceArray:  # a program's output: a view of its tiles, if it has
            held = host.tiles_in(dist)  # them in this layout (or on the transposed grid)
            if held is not None:
                return np.broadcast_to(held.reshape(held.shape[:2] + tile[2:]), tile)
        return np.broadcast_to(scatter(host_array(host)), tile)

    held_shape = (it.rect[2], it.rect[3], L)
    # by the order of a stand-in's axes in memory: (its scratch array's shape, the transpose
    # back to (rows, cols, lanes))
    orders = {
        order: (
            tuple((*kept, L)[ax] for ax in order),
            tuple(sorted(range(3), key=order.__getitem__)),
        )
        for order in (PE_MAJOR, LANES_OUTER)
    }
    token = object()  # (its scratch array in an SRAM)

    def stand_in(V, F, A, order: tuple[int, int, int] = PE_MAJOR):
        """What it writes, shaped as V[i][sl], SRAM left as it is: a device array's tiles
        (a view), or the host array's scattered into a scratch array of V (one PE's copy of
        replicas), its (rows, cols, lanes) axes in memory in `order`, outermost first;
        kept for the SRAM's next run (no pages to fault in, the same layout every run)."""
        host = A[ai]
        if type(host) is DeviceArray:
            held = host.tiles_in(dist)
            if held is not None:
                return np.broadcast_to(held, held_shape)
            host = host.numpy()
        laid, back = orders[order]
        out = scratch_array(V, (token, order), laid, host.dtype).transpose(back)
        scatter_into(host, np.reshape(out, (*kept, *dist.block), copy=False))
        return np.broadcast_to(out, held_shape) if replicated else out

    # a receive of the host's data: elided like one when only views of it are read
    # (pyflame/sim/step_access.py; the GEMV's matrix, read by its one matmul step)
    received = Received(i, sl, -1, None, False, source=tiles, stand_in=stand_in)
    s.steps.append(annotate(overwrites(step, i, sl), Access(writes={i: sl}, received=received)))
    _, c0, nr, nc = it.rect
    wavelets = -(-nr * nc * L * b.dtype.itemsize // 4)
    s.io_cycles += costs.host_io_cycles(s.target, wavelets, nr, c0 + nc)


@kernel(pe.HostOutOp)
def host_out(s: Schedule, it: Item, op: pe.HostOutOp) -> None:
    dist = op.layout.dist
    s.check_layout_grid(it, dist)
    b = s.buf(op.buffer, it)
    gather = make_gather(dist)
    slot = s.outputs.setdefault(op.result, len(s.outputs))
    sl, i = b.sub(it.rect), b.index
    pr, pc = kept_grid(dist)
    L = dist.local_elems

    def step(V, F, A, O):
        O[slot] = gather(V[i][sl])

    if pr * pc * L * b.dtype.itemsize >= DEVICE_ARRAY_BYTES:

        def step(V, F, A, O):
            want = O[slot]
            tiles = V[i][sl][:pr, :pc, :L]
            # nothing runs after: the tiles as SRAM holds them, their padding zeroed there
            # (no step reads the lent SRAM again before `Sram.reset`), as every device
            # array's is: a host_in may then read them as they are, copied or as a view
            if type(want) is SramLease and zero_padding(dist, tiles):
                O[slot] = DeviceArray(tiles, dist, gather, lease=want)
                return
            if want is not KEEP_TILES and type(want) is not SramLease:
                O[slot] = gather(V[i][sl])
                return
            # a device array: the tiles as SRAM held them (one memcpy), their padding zeroed
            # as a host_in of them must leave it (else the host array they gather)
            tiles = np.copy(tiles, order="K")
            kept = zero_padding(dist, tiles)
            O[slot] = DeviceArray(tiles, dist, gather) if kept else gather(tiles)

    # (it reads the kept tiles only: pyflame/sim/deferred_replicas.py)
    s.steps.append(set_host_out(set_reads_pes(step, i, (it.rect[0], it.rect[1], pr, pc)), slot))
    c0 = it.rect[1]
    wavelets = -(-pr * pc * dist.local_elems * b.dtype.itemsize // 4)
    s.io_cycles += costs.host_io_cycles(s.target, wavelets, pr, s.target.fabric_cols - c0)
