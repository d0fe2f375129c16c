"""What each pe operation costs on a PE: ONE table of work per op, turned into cycles by `cycles`.

Every compute op is described by the work one PE does for it: floating-point operations, bytes
read from and bytes written to its SRAM. A PE streams a whole vector per instruction (a DSD), so
the op takes as long as its most loaded resource, plus a small fixed issue overhead:

    cycles = ceil(max(flops / flops_per_cycle,
                      bytes_read / mem_read_bytes_per_cycle,
                      bytes_written / mem_write_bytes_per_cycle)) + ISSUE_CYCLES

With the WSE figures (2 flops, 16 B read, 8 B written per cycle) an elementwise add of n f32
takes n/2 cycles (memory bound on both ports); a matmul_acc takes m*k*n cycles (one FMAC per
cycle: it reads 8 bytes -- the accumulator and one operand, the other operand sits in a register --
and writes 4 bytes per FMAC). Messages cost `ceil(w / link_wavelets_per_cycle)` cycles of
streaming on the sender; host I/O has its own bandwidth (`host_io_cycles`).

All functions accept numpy arrays for the sizes (per-PE work, e.g. `mask_pad` whose padding
differs between PEs) and then return int64 arrays.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum

import numpy as np

#: fixed cycles to issue one vector instruction (DSD setup)
ISSUE_CYCLES = 2

#: floating-point work per element of `pe.random_normal` (counter hash + Box-Muller, estimated)
RANDOM_FLOPS_PER_ELEMENT = 16

#: floating-point work per element of `pe.random_uniform` (the counter hash, estimated)
RANDOM_UNIFORM_FLOPS_PER_ELEMENT = 8

#: bytes per f32 element / wavelet
F32 = 4


def _fmac(m, k, n):
    fmacs = m * k * n
    return (2 * fmacs, 2 * F32 * fmacs, F32 * fmacs)


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
    POOL2D = "pool2d"


#: work kind -> function of the per-PE sizes -> (flops, bytes read, bytes written), per PE.
WORK: dict[CostKind, Callable[..., tuple]] = {
    # dst[i] = value
    CostKind.FILL: lambda n: (0, 0, F32 * n),
    # dst[i] = f(src[i]), f costing `f` flops (pyflame.core.elementwise gives f per function)
    CostKind.UNARY: lambda n, f=1: (f * n, F32 * n, F32 * n),
    # dst[i] = lhs[i] op rhs[i]     (an operand of one element is held in a register)
    CostKind.BINARY: lambda n, f=1: (f * n, 2 * F32 * n, F32 * n),
    # dst[i] = cond[i] ? lhs[i] : rhs[i]
    CostKind.SELECT: lambda n: (n, 3 * F32 * n, F32 * n),
    CostKind.CONVERT: lambda n: (n, F32 * n, F32 * n),
    CostKind.COPY: lambda n: (0, F32 * n, F32 * n),
    CostKind.TRANSPOSE: lambda n: (0, F32 * n, F32 * n),
    # pe.broadcast: n dst elements written, each read from the src tile (stride-0 DSDs for the
    # broadcast dims), like a copy of the dst's size
    CostKind.BROADCAST: lambda n: (0, F32 * n, F32 * n),
    # n elements read and combined into `out` results, `f` operations each (the kind's flops in
    # pyflame/core/reductions.py: 1 for sum, prod, max and min)
    CostKind.REDUCE: lambda n, out, f=1: (f * n, F32 * n, F32 * out),
    # acc[m, n] += lhs[m, k] @ rhs[k, n]
    CostKind.MATMUL_ACC: _fmac,
    # n = padding elements of the PE's tile
    CostKind.MASK_PAD: lambda n: (0, 0, F32 * n),
    CostKind.RANDOM_NORMAL: lambda n: (RANDOM_FLOPS_PER_ELEMENT * n, 0, F32 * n),
    CostKind.RANDOM_UNIFORM: lambda n: (RANDOM_UNIFORM_FLOPS_PER_ELEMENT * n, 0, F32 * n),
    # pe.iota: one multiply-add per element (start + step * index), written once
    CostKind.IOTA: lambda n: (n, 0, F32 * n),
    # a recv with `combine`: n incoming elements combined with the buffer's (added, max, ...)
    CostKind.RECV_COMBINE: lambda n, f=1: (f * n, F32 * n, F32 * n),
    # the part of a pe.exchange that stays on the PE (a local copy of n elements)
    CostKind.EXCHANGE_LOCAL: lambda n: (0, F32 * n, F32 * n),
    # pe.pack / pe.unpack: a strided copy of n elements
    CostKind.PACK: lambda n: (0, F32 * n, F32 * n),
    # pe.conv2d: `fmacs` FMACs, each like one of matmul_acc (acc += in * w), plus `outputs`
    # bias adds (0 without a bias)
    CostKind.CONV2D: lambda fmacs, outputs: (
        2 * fmacs + outputs,
        2 * F32 * fmacs + F32 * outputs,
        F32 * fmacs + F32 * outputs,
    ),
    # pe.pool2d: `taps` window reads, each a compare (max) or an add (avg) into the output
    # element (read both, write one), plus `outputs` divisions for avg
    CostKind.POOL2D: lambda taps, outputs: (taps + outputs, 2 * F32 * taps, F32 * taps),
}


def work(kind: str, *sizes):
    """(flops, bytes read, bytes written) per PE for work `kind` (a CostKind or its name)."""
    return WORK[CostKind(kind)](*sizes)


def cycles(target, flops, bytes_read, bytes_written, flops_per_cycle=None):
    """Cycles of one vector op: its most loaded resource, plus the issue overhead."""
    rate = target.flops_per_cycle if flops_per_cycle is None else flops_per_cycle
    t = np.maximum(
        np.maximum(
            np.asarray(flops, dtype=np.float64) / rate,
            np.asarray(bytes_read, dtype=np.float64) / target.mem_read_bytes_per_cycle,
        ),
        np.asarray(bytes_written, dtype=np.float64) / target.mem_write_bytes_per_cycle,
    )
    out = np.ceil(t).astype(np.int64) + ISSUE_CYCLES
    return int(out) if out.ndim == 0 else out


def op_cycles(target, kind: str, *sizes, elem_bytes: int = F32, half: bool = False):
    """Cycles and flops (per PE) of op `kind` on sizes `sizes`, for elements of `elem_bytes`
    bytes (the table counts 4-byte elements); `half` floats run at the fp16 flop rate."""
    flops, rd, wr = work(kind, *sizes)
    if elem_bytes != F32:
        rd, wr = np.asarray(rd) * elem_bytes / F32, np.asarray(wr) * elem_bytes / F32
    rate = target.flops_per_cycle_fp16 if half else target.flops_per_cycle
    return cycles(target, flops, rd, wr, rate), flops


def stream_cycles(target, wavelets):
    """Cycles to push `wavelets` through one link (the sender is busy that long)."""
    bw = target.link_wavelets_per_cycle
    w = np.asarray(wavelets, dtype=np.int64)
    out = -(-w // bw)
    return int(out) if out.ndim == 0 else out


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
