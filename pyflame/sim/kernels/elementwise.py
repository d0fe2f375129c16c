"""Kernels of the tile-local elementwise ops: pe.fill, pe.unary, pe.binary, pe.select,
pe.convert, pe.copy and pe.mask_pad. Each is one numpy operation over the op's rectangle;
int32 buffers compute in int64 and refuse to wrap (pyflame/sim/int32_checks.py)."""

from __future__ import annotations

import numpy as np

from pyflame.core import elementwise
from pyflame.core.elementwise import UnaryFn, type_name
from pyflame.core.errors import CompileError
from pyflame.dialects import pe
from pyflame.sim import compiled
from pyflame.sim.compiled.fused_kernels import op_runner
from pyflame.sim.costs import CostKind
from pyflame.sim.dead_transfers import overwrites
from pyflame.sim.int32_checks import (
    I32,
    all_int32,
    as_int32,
    real_lanes,
    refuse_zero_divisor,
)
from pyflame.sim.kernels.registry import kernel
from pyflame.sim.layout_io import global_index, kept_grid
from pyflame.sim.schedule import Item, Schedule
from pyflame.sim.step_access import Access, annotate


def _type(value) -> str:
    """The element type of a buffer value (`f32`, `i1`, ...)."""
    return type_name(pe.buf_of(value).element_type)


@kernel(pe.FillOp)
def fill(s: Schedule, it: Item, op: pe.FillOp) -> None:
    b = s.buf(op.buffer, it)
    sl = b.sub(it.rect)
    val = np.array(op.value.value.data)
    if b.dtype == I32:  # a constant beyond int32 (from IR text): refused, not wrapped
        as_int32(val, it.what, "the fill value")
    val = val.astype(b.dtype)
    i = b.index

    def step(V, F, A, O):
        V[i][sl] = val

    # (its value, for a run of products that starts from the zeros it writes:
    # pyflame/sim/fused_products.py `zero_started`)
    setattr(step, "fill_value", float(val))  # noqa: B010  (a plain function has no slot)
    s.steps.append(overwrites(step, i, sl))
    s.charge(it.rect, CostKind.FILL, b.size, buf=b)


@kernel(pe.UnaryOp)
def unary(s: Schedule, it: Item, op: pe.UnaryOp) -> None:
    d, src = s.buf(op.dst, it), s.buf(op.src, it)
    dsl, ssl, di, si = d.sub(it.rect), src.sub(it.rect), d.index, src.index
    fn = op.fn.data  # a UnaryFn: the attribute admits no other name
    k = None
    if fn == UnaryFn("scale"):
        if op.scalar is None:
            raise CompileError(f"{it.what}: 'scale' needs a scalar")
        k = np.array(op.scalar.value.data).astype(src.dtype)
        entry = elementwise.Elementwise("scale", 1, lambda x: x * k)
    else:
        entry = elementwise.UNARY[fn]
    # (in a loop, compiled: pyflame/sim/compiled/fused_kernels.py)
    runner = None if k is not None else op_runner(fn, _type(op.dst), [src.size], d.size)

    def step(V, F, A, O):
        bound = compiled.kept_calls(V)
        if runner is not None and runner.run_bound(bound):  # (compiled on this SRAM before)
            return
        x, out = V[si][ssl], V[di][dsl]
        if runner is None or not runner.run([x], out, bound):
            out[...] = elementwise.apply(entry, x)

    if all_int32(d, src):  # -(-2**31), abs, scale: in int64, checked
        what = it.what
        real = real_lanes(op.layout, it.rect[2], it.rect[3], d.size)
        if k is not None:
            k64 = k.astype(np.int64)
            entry = elementwise.Elementwise("scale", 1, lambda x: x * k64)

        def step(V, F, A, O):
            wide = elementwise.apply(entry, V[si][ssl].astype(np.int64))
            V[di][dsl] = as_int32(wide, what, fn, real)

    s.steps.append(overwrites(step, di, dsl))
    s.charge(it.rect, CostKind.UNARY, d.size, entry.flops, buf=src)


@kernel(pe.BinaryOp)
def binary(s: Schedule, it: Item, op: pe.BinaryOp) -> None:
    d, lhs, rhs = (s.buf(v, it) for v in (op.dst, op.lhs, op.rhs))
    entry = elementwise.BINARY[op.fn.data]  # a BinaryFn: the attribute admits no other name
    dsl, lsl, rsl = d.sub(it.rect), lhs.sub(it.rect), rhs.sub(it.rect)
    di, li, ri = d.index, lhs.index, rhs.index
    runner = op_runner(op.fn.data, _type(op.dst), [lhs.size, rhs.size], d.size)

    def step(V, F, A, O):
        bound = compiled.kept_calls(V)
        if runner.run_bound(bound):  # (compiled on this SRAM's views before)
            return
        x, y, out = V[li][lsl], V[ri][rsl], V[di][dsl]
        if not runner.run([x, y], out, bound):
            out[...] = elementwise.apply(entry, x, y)

    if all_int32(d, lhs, rhs):  # add, sub, mul, pow, <<, // ... in int64, checked
        what, fn = it.what, op.fn.data
        real = real_lanes(op.layout, it.rect[2], it.rect[3], d.size)

        divides = entry.divides

        def step(V, F, A, O):
            a, b = V[li][lsl].astype(np.int64), V[ri][rsl].astype(np.int64)
            if divides:  # before the division: PyTorch's ZeroDivisionError, not a wrapped value
                refuse_zero_divisor(b, what, fn, real)
            if fn == "pow":  # check the size in float64 first: int64 powers wrap too
                # (a negative exponent gives 0, 1 or -1: only b >= 0 can grow)
                as_int32(np.power(a.astype(np.float64), np.maximum(b, 0)), what, fn, real)
            if fn == "bitwise_left_shift":  # likewise: a << b wraps in int64 from 2**63 on
                count = np.where((b < 0) | (b >= elementwise.SHIFT_BITS), -np.inf, b)
                as_int32(a * np.exp2(count), what, fn, real)
            V[di][dsl] = as_int32(entry.fn(a, b), what, fn, real)

    s.steps.append(overwrites(step, di, dsl))
    s.charge(it.rect, CostKind.BINARY, d.size, entry.flops, buf=lhs)


@kernel(pe.SelectOp)
def select(s: Schedule, it: Item, op: pe.SelectOp) -> None:
    d, c, lhs, rhs = (s.buf(v, it) for v in (op.dst, op.cond, op.lhs, op.rhs))
    dsl, csl, lsl, rsl = (b.sub(it.rect) for b in (d, c, lhs, rhs))
    di, ci, li, ri = d.index, c.index, lhs.index, rhs.index

    runner = op_runner("select", _type(op.dst), [c.size, lhs.size, rhs.size], d.size)

    def step(V, F, A, O):
        bound = compiled.kept_calls(V)
        if runner.run_bound(bound):  # (compiled on this SRAM's views before)
            return
        ins, out = [V[ci][csl], V[li][lsl], V[ri][rsl]], V[di][dsl]
        if not runner.run(ins, out, bound):
            # (np.where, not the bit select: a bool buffer is a mask, regular enough for its
            # branches; see core.elementwise.where)
            out[...] = np.where(*ins)

    s.steps.append(overwrites(step, di, dsl))
    s.charge(it.rect, CostKind.SELECT, d.size, buf=d)


@kernel(pe.ConvertOp)
def convert(s: Schedule, it: Item, op: pe.ConvertOp) -> None:
    d, src = s.buf(op.dst, it), s.buf(op.src, it)
    dsl, ssl, di, si = d.sub(it.rect), src.sub(it.rect), d.index, src.index
    to = d.dtype

    def step(V, F, A, O):
        V[di][dsl] = V[si][ssl].astype(to)

    if to == I32 and src.dtype.kind in "fV":  # NaN, inf or too large: never a wrapped value
        what = it.what
        real = real_lanes(op.layout, it.rect[2], it.rect[3], d.size)

        def step(V, F, A, O):
            wide = V[si][ssl].astype(np.float64)
            V[di][dsl] = as_int32(np.trunc(wide), what, "conversion to int32", real)

    s.steps.append(overwrites(step, di, dsl))
    wider = d if d.dtype.itemsize > src.dtype.itemsize else src
    s.charge(it.rect, CostKind.CONVERT, d.size, buf=wider)


@kernel(pe.CopyOp)
def copy(s: Schedule, it: Item, op: pe.CopyOp) -> None:
    d, src = s.buf(op.dst, it), s.buf(op.src, it)
    dsl, ssl, di, si = d.sub(it.rect), src.sub(it.rect), d.index, src.index

    def step(V, F, A, O):
        np.copyto(V[di][dsl], V[si][ssl])

    # (what it reads and writes, on its PEs only: a copy on one row of a layer leaves the
    # other rows' bytes undecided for written_first)
    s.steps.append(annotate(overwrites(step, di, dsl), Access(reads={si: ssl}, writes={di: dsl})))
    s.charge(it.rect, CostKind.COPY, d.size, buf=d)


@kernel(pe.MaskPadOp)
def mask_pad(s: Schedule, it: Item, op: pe.MaskPadOp) -> None:
    """Set the padding of each PE's tile (in the op's layout) to `value`."""
    dist = op.layout.dist
    s.check_layout_grid(it, dist)
    b = s.buf(op.buffer, it)
    L = dist.local_elems
    pr, pc = kept_grid(dist)
    _, valid = global_index(dist, pr, pc)
    pad = ~valid
    count = pad.sum(axis=2)  # (pr, pc)
    s.charge(it.rect, CostKind.MASK_PAD, np.broadcast_to(count, (it.rect[2], it.rect[3])), buf=b)
    if not pad.any():
        return
    sl, i = b.sub(it.rect, L), b.index
    val = np.array(op.value.value.data).astype(b.dtype)

    def step(V, F, A, O):
        np.copyto(V[i][sl], val, where=pad)

    s.steps.append(step)
