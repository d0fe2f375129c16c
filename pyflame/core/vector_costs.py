"""What each pe operation costs on a PE, at the granularity of the machine's vector instructions
(the one table: the simulator charges it, pyflame/sim/costs.py, and the compiler's cost model
estimates with it, passes/cost_model/).

A PE computes with vector (DSD) instructions: one instruction streams `length` elements through
the FMAC lanes (fp32: 1 lane on the WSE; fp16: 4 on WSE-2, 8 on WSE-3, that is the target's
flops per cycle / 2) and through the SRAM ports (16 bytes read, 8 bytes written per cycle), and
costs a fixed `vector_issue_cycles` to issue (DSD setup, the loop step around it, pipeline fill):

    cycles(instruction) = max(ceil(length / lanes),
                              ceil(length * elem_bytes * reads / mem_read_bytes_per_cycle),
                              ceil(length * elem_bytes * writes / mem_write_bytes_per_cycle))
                          + vector_issue_cycles

Each op is described by the instructions one PE issues for it (`WORK`): a tile matmul
acc[M, N] += lhs[M, K] @ rhs[K, N] is K*N FMACs of length M (one column of acc plus a scalar of
rhs times a column of lhs, as the SDK's GEMM kernels and WaferLLM do; M*K FMACs of length N, by
rows, when N > M), an elementwise op is one
instruction over the tile (transcendental functions: one pass per unit of their cost in
pyflame/core/elementwise.py), a reduction into `out` results min(out, n / out) instructions.
Small tiles therefore pay their issue overheads, as on the machine. Messages cost
`ceil(w / link_wavelets_per_cycle)` cycles of streaming on the sender, and a receive wakes its PE
with a task activation (`task_activation_cycles`); host I/O has its own bandwidth.

All functions accept numpy arrays for the sizes (per-PE work, e.g. `mask_pad` whose padding
differs between PEs) and then return int64 arrays.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np

#: floating-point work per element of `pe.random_normal` (counter hash + Box-Muller, estimated):
#: as many vector passes over the tile
RANDOM_FLOPS_PER_ELEMENT = 16

#: floating-point work per element of `pe.random_uniform` (the counter hash, estimated)
RANDOM_UNIFORM_FLOPS_PER_ELEMENT = 8

#: bytes per f32 element / wavelet
F32 = 4


class CostKind(StrEnum):
    """The kinds of work the cost table knows: one per compute op (named after it), plus the
    parts of network ops that compute (a combining recv, an exchange's local copies)."""

    FILL = "fill"
    UNARY = "unary"
    BINARY = "binary"
    SELECT = "select"
    CONVERT = "convert"
    COPY = "copy"
    TRANSPOSE = "transpose"
    BROADCAST = "broadcast"
    REDUCE = "reduce"
    MATMUL_ACC = "matmul_acc"
    MASK_PAD = "mask_pad"
    RANDOM_NORMAL = "random_normal"
    RANDOM_UNIFORM = "random_uniform"
    IOTA = "iota"
    RECV_COMBINE = "recv_combine"
    EXCHANGE_LOCAL = "exchange_local"
    PACK = "pack"
    CONV2D = "conv2d"
    CONV2D_WEIGHT_GRAD = "conv2d_weight_grad"
    POOL2D = "pool2d"
    GATHER_ROWS = "gather_rows"
    SCATTER_ADD_ROWS = "scatter_add_rows"


@dataclass(frozen=True)
class Instructions:
    """`count` vector instructions, each over `length` elements, reading `reads` and writing
    `writes` element streams from and to SRAM, doing `flops` floating-point operations in all
    (count and length may be per-PE arrays)."""

    count: Any
    length: Any
    reads: int
    writes: int
    flops: Any


def _passes(count, n, reads: int, writes: int = 1, flops_per_element: int = 1) -> Instructions:
    return Instructions(count, n, reads, writes, flops_per_element * np.asarray(n) * count)


def _reduce(n, out, f: int = 1) -> Instructions:
    # accumulate n // out vectors of `out` partial results, or (few results) `out` instructions
    # that each reduce a long vector into a scalar register
    n, out = np.asarray(n, dtype=np.int64), np.maximum(np.asarray(out, dtype=np.int64), 1)
    count = np.maximum(np.minimum(out, n // out), 1)
    return Instructions(count, -(-n // count), 2, 1, f * n)


def _matmul(batches, m, k, n) -> Instructions:
    # acc[:, j] += lhs[:, p] * rhs[p, j] for every (p, j): K*N FMACs of length M, per batch;
    # when the result has more columns than rows, the row form instead (the rows of acc and rhs
    # are contiguous too): acc[i, :] += lhs[i, p] * rhs[p, :], M*K FMACs of length N, so that
    # x @ W with one row of x is K FMACs of length N, not K*N of length 1
    flops = 2 * batches * m * k * n
    if n > m:
        return Instructions(batches * m * k, n, 2, 1, flops)
    return Instructions(batches * k * n, m, 2, 1, flops)


def _conv2d(count, length, bias_count) -> list[Instructions]:
    # out[n, o, :, :] += x[n, c, taps of the window] * w[o, c, tap]: one FMAC over the Ho x Wo
    # plane (a 2D DSD) per (n, o, c, tap); then the bias, one add per (n, o) plane
    fmacs = Instructions(count, length, 2, 1, 2 * count * length)
    if not bias_count:
        return [fmacs]
    return [fmacs, Instructions(bias_count, length, 1, 1, bias_count * length)]


def _conv2d_weight_grad(count, length) -> Instructions:
    # dw[o, c, tap] = sum over (n, y, x) of grad[n, o, y, x] * window[n, c, taps]: one dot
    # product per (o, c, tap), FMACs into a scalar register over a 3D DSD (batch, rows,
    # columns) of both operands, the result stored once
    return Instructions(count, length, 2, 0, 2 * np.asarray(count) * length)


def _pool2d(taps, outputs, divides: bool) -> list[Instructions]:
    # one compare (max) or add (avg) of every output with one tap of its window (a 4D DSD over
    # the batch, channels and the output plane), then avg's divisions
    window = Instructions(taps, outputs, 2, 1, taps * outputs)
    return [window, Instructions(1, outputs, 1, 1, outputs)] if divides else [window]


def _indexed_rows(n, width, accumulate: bool) -> list[Instructions]:
    # one pass over the n index entries (minus the PE's first row, compared with its row
    # count), then per entry one instruction over a row of the tile: a copy or a zero fill
    # (gather), an add (scatter-add); its base address is the entry's offset (an indexed DSD)
    offsets = Instructions(1, n, 1, 1, 2 * np.asarray(n))
    reads = 2 if accumulate else 1
    rows = Instructions(n, width, reads, 1, np.asarray(n) * width if accumulate else 0)
    return [offsets, rows]


#: work kind -> function of the per-PE sizes -> the vector instructions one PE issues
WORK: dict[CostKind, Callable[..., Instructions | list[Instructions]]] = {
    # dst[i] = value
    CostKind.FILL: lambda n: _passes(1, n, 0, flops_per_element=0),
    # dst[i] = f(src[i]), f costing `f` passes (pyflame.core.elementwise gives f per function)
    CostKind.UNARY: lambda n, f=1: _passes(f, n, 1),
    # dst[i] = lhs[i] op rhs[i]     (an operand of one element is held in a register)
    CostKind.BINARY: lambda n, f=1: _passes(f, n, 2),
    # dst[i] = cond[i] ? lhs[i] : rhs[i]
    CostKind.SELECT: lambda n: _passes(1, n, 3),
    CostKind.CONVERT: lambda n: _passes(1, n, 1),
    CostKind.COPY: lambda n: _passes(1, n, 1, flops_per_element=0),
    # a strided (2D DSD) copy
    CostKind.TRANSPOSE: lambda n: _passes(1, n, 1, flops_per_element=0),
    # pe.broadcast: n dst elements written, each read from the src tile (stride-0 DSDs for the
    # broadcast dims), like a copy of the dst's size
    CostKind.BROADCAST: lambda n: _passes(1, n, 1, flops_per_element=0),
    # n elements read and combined into `out` results, `f` operations each (the kind's flops in
    # pyflame/core/reductions.py: 1 for sum, prod, max and min)
    CostKind.REDUCE: _reduce,
    # acc[m, n] += lhs[m, k] @ rhs[k, n], `batches` times
    CostKind.MATMUL_ACC: _matmul,
    # n = padding elements of the PE's tile
    CostKind.MASK_PAD: lambda n: _passes(1, n, 0, flops_per_element=0),
    CostKind.RANDOM_NORMAL: lambda n: _passes(RANDOM_FLOPS_PER_ELEMENT, n, 1),
    CostKind.RANDOM_UNIFORM: lambda n: _passes(RANDOM_UNIFORM_FLOPS_PER_ELEMENT, n, 1),
    # pe.iota: one multiply-add per element (start + step * index), written once
    CostKind.IOTA: lambda n: _passes(1, n, 0),
    # a recv with `combine`: n incoming elements combined with the buffer's (added, max, ...)
    CostKind.RECV_COMBINE: lambda n, f=1: _passes(f, n, 1),
    # the part of a pe.exchange that stays on the PE (a local copy of n elements)
    CostKind.EXCHANGE_LOCAL: lambda n: _passes(1, n, 1, flops_per_element=0),
    # pe.pack / pe.unpack: a strided copy of n elements
    CostKind.PACK: lambda n: _passes(1, n, 1, flops_per_element=0),
    CostKind.CONV2D: _conv2d,
    CostKind.CONV2D_WEIGHT_GRAD: _conv2d_weight_grad,
    CostKind.POOL2D: _pool2d,
    # pe.gather_rows / pe.scatter_add_rows: n index entries, rows of `width` elements
    CostKind.GATHER_ROWS: lambda n, width: _indexed_rows(n, width, accumulate=False),
    CostKind.SCATTER_ADD_ROWS: lambda n, width: _indexed_rows(n, width, accumulate=True),
}


def work(kind: str, *sizes) -> list[Instructions]:
    """The vector instructions one PE issues for work `kind` (a CostKind or its name)."""
    w = WORK[CostKind(kind)](*sizes)
    return w if isinstance(w, list) else [w]


def lanes(target, half: bool = False) -> int:
    """Elements a vector instruction processes per cycle (one FMAC = 2 flops per lane)."""
    return max(1, (target.flops_per_cycle_fp16 if half else target.flops_per_cycle) // 2)


def instruction_cycles(target, ins: Instructions, elem_bytes: int = F32, half: bool = False):
    """Cycles of `ins`: each instruction as long as its most loaded resource, plus its issue."""
    length = np.asarray(ins.length, dtype=np.int64)
    width = lanes(target, half)
    each = np.maximum(
        np.maximum(
            -(-length // width),
            -(-length * elem_bytes * ins.reads // target.mem_read_bytes_per_cycle),
        ),
        -(-length * elem_bytes * ins.writes // target.mem_write_bytes_per_cycle),
    )
    return np.asarray(ins.count, dtype=np.int64) * (each + target.vector_issue_cycles)


def op_cycles(target, kind: str, *sizes, elem_bytes: int = F32, half: bool = False):
    """Cycles and flops (per PE) of op `kind` on sizes `sizes`, for elements of `elem_bytes`
    bytes; `half` floats run at the fp16 lane count."""
    groups = work(kind, *sizes)
    cyc = sum(instruction_cycles(target, g, elem_bytes, half) for g in groups)
    flops = sum(np.asarray(g.flops, dtype=np.int64) for g in groups)
    cyc, flops = np.asarray(cyc), np.asarray(flops)
    return (int(cyc) if cyc.ndim == 0 else cyc), (int(flops) if flops.ndim == 0 else flops)


def stream_cycles(target, wavelets):
    """Cycles to push `wavelets` through one link (the sender is busy that long)."""
    bw = target.link_wavelets_per_cycle
    w = np.asarray(wavelets, dtype=np.int64)
    out = -(-w // bw)
    return int(out) if out.ndim == 0 else out


def transfer_issue_cycles(target) -> int:
    """Cycles a PE spends starting a send or a receive: a fabric transfer is one vector (DSD)
    instruction, with the same fixed overhead as any other."""
    return int(target.vector_issue_cycles)


def path_capacity_wavelets(target, hops):
    """Wavelets a stream's path of `hops` router-to-router hops holds before its sender stalls:
    one router queue per router on the way (hops + 1 of them) and the receiver's input queue."""
    h = np.asarray(hops, dtype=np.int64)
    return target.ce_queue_wavelets + (h + 1) * target.router_queue_wavelets


def task_activation_cycles(target) -> int:
    """Cycles from a receive's completion to its PE running the code that follows (a data task
    or completion callback is activated)."""
    return int(target.task_activation_cycles)


def host_io_cycles(target, wavelets: int, rows: int, columns_crossed: int) -> int:
    """Host <-> fabric transfer: `wavelets` in total over `rows` edge rows in parallel, then
    `columns_crossed` hops to reach the farthest PE, plus a ramp at each end."""
    per_cycle = max(1, rows) * target.host_wavelets_per_cycle_per_row
    return int(
        -(-wavelets // per_cycle)
        + columns_crossed * target.hop_latency_cycles
        + 2 * target.ramp_latency_cycles
    )


def route_switch_cycles(target) -> int:
    """Cycles a PE spends changing one of its router's rules at run time."""
    return int(target.route_switch_cycles)
