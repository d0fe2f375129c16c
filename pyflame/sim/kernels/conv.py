"""Kernels of convolution and pooling: pe.pack / pe.unpack (the halo exchange's strided copies)
and the local pe.conv2d / pe.conv2d_weight_grad / pe.pool2d, each one numpy operation over the
op's whole rectangle (im2col + one batched matmul for the convolution and its weight
gradient). Half-precision buffers compute in float32 and round once."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from xdsl.dialects.builtin import DenseArrayBase, IntegerType
from xdsl.ir import SSAValue

from pyflame.core.reductions import PoolKind
from pyflame.dialects import pe
from pyflame.sim import threads, tile_math
from pyflame.sim.costs import CostKind
from pyflame.sim.dead_transfers import overwrites
from pyflame.sim.executable import Step
from pyflame.sim.kernels.registry import kernel
from pyflame.sim.row_items import copy_rows
from pyflame.sim.schedule import Item, Schedule
from pyflame.sim.sram import tiles
from pyflame.sim.step_access import Access, annotate


def _ints(attr: DenseArrayBase[IntegerType]) -> tuple[int, ...]:
    return tuple(int(n) for n in attr.get_values())


@kernel(pe.PackOp)
def pack(s: Schedule, it: Item, op: pe.PackOp) -> None:
    """dst = the slab [start, start + count) along `dim` of src viewed as `shape`."""
    d, src = s.buf(op.dst, it), s.buf(op.src, it)
    shape = _ints(op.shape)
    dim, start, count = op.dim.value.data, op.start.value.data, op.count.value.data
    sel = (slice(None), slice(None)) + tuple(
        slice(start, start + count) if k == dim else slice(None) for k in range(len(shape))
    )
    slab = tuple(count if k == dim else m for k, m in enumerate(shape))
    dsl, ssl, di, si = d.sub(it.rect), src.sub(it.rect), d.index, src.index

    def make_step(src_key: int | None = None) -> Step:
        """The step, reading src from SRAM or from an in-flight view (as unpack's)."""

        def step(V, F, A, O):
            # (a view may hold one PE row or column for all of them: broadcast)
            src = V[si][ssl] if src_key is None else F[src_key]
            out = tiles(V[di][dsl], slab)  # (short rows moved whole: a half tile's 16 floats)
            copy_rows(out, src.reshape(src.shape[:2] + shape)[sel], slab[-1])

        return step

    def rebuild(keys: dict[int, int]) -> Step:
        return make_step(keys.get(si))

    # the slab is all of dst
    access = Access(reads={si: ssl}, writes={di: dsl}, rebuild=rebuild)
    s.steps.append(annotate(overwrites(make_step(), di, dsl), access))
    s.charge(it.rect, CostKind.PACK, d.size, buf=d)  # (its element size: a half moves faster)


@kernel(pe.UnpackOp)
def unpack(s: Schedule, it: Item, op: pe.UnpackOp) -> None:
    """src (a slab of `count` along `dim`) into dst (viewed as `shape`) at base + k * step,
    k the PE's fabric row or column; what falls outside dst is dropped."""
    d, src = s.buf(op.dst, it), s.buf(op.src, it)
    shape = _ints(op.shape)
    dim, count = op.dim.value.data, op.count.value.data
    base, per = _ints(op.at)
    along_rows = op.axis.data == pe.GridAxis.ROWS
    r0, c0, nr, nc = it.rect
    n = nr if along_rows else nc
    k = np.arange(n, dtype=np.int64) + (r0 if along_rows else c0)
    pos = base + k * per  # (n,) where each PE's slab starts in dst
    j = np.arange(count, dtype=np.int64)
    target = pos[:, None] + j[None, :]  # (n, count)
    valid = (target >= 0) & (target < shape[dim])
    per_j = int(np.prod(shape)) // shape[dim] if shape[dim] else 0
    moved = valid.sum(axis=1) * per_j  # elements written per PE line
    s.charge(
        it.rect,
        CostKind.PACK,
        np.broadcast_to(moved[:, None] if along_rows else moved[None, :], (nr, nc)),
        buf=d,
    )
    if not valid.any():
        return
    slab = tuple(count if i == dim else m for i, m in enumerate(shape))
    dsl, ssl, di, si = d.sub(it.rect), src.sub(it.rect), d.index, src.index
    rest = (slice(None),) * dim
    dst_sel: tuple
    src_sel: tuple
    if per == 0:  # the same position on every PE: one sliced copy
        lo, hi = int(j[valid[0]][0]), int(j[valid[0]][-1]) + 1
        dst_sel = (slice(None), slice(None)) + rest + (slice(int(pos[0]) + lo, int(pos[0]) + hi),)
        src_sel = (slice(None), slice(None)) + rest + (slice(lo, hi),)
    else:  # positions move with the PE's coordinate: one fancy-indexed copy
        line, jj = np.nonzero(valid)
        tt = target[line, jj]
        lead = (line, slice(None)) if along_rows else (slice(None), line)
        dst_sel = lead + rest + (tt,)
        src_sel = lead + rest + (jj,)

    def make_step(src_key: int | None = None) -> Step:
        """The step, reading src from SRAM, or from an in-flight view when given its key (a
        host input's tiles, read as a view of the host array: pyflame/sim/step_access.py)."""

        def step(V, F, A, O):
            # (a view may hold one PE row or column for all of them: broadcast)
            src = V[si][ssl] if src_key is None else F[src_key]
            dst = V[di][dsl].reshape((nr, nc) + shape)
            part = src.reshape(src.shape[:2] + slab)[src_sel]
            if per == 0:  # (slices: a view, its short rows moved whole)
                copy_rows(dst[dst_sel], part, part.shape[-1])
            else:
                dst[dst_sel] = part

        return step

    def rebuild(keys: dict[int, int]) -> Step:
        return make_step(keys.get(si))

    inner = int(np.prod(shape[dim + 1 :]))
    if per == 0 and int(np.prod(shape[:dim])) == 1:  # one run of lanes on every PE
        first = dsl[2].start + (int(pos[0]) + lo) * inner
        part = (dsl[0], dsl[1], slice(first, first + (hi - lo) * inner))
        # writes all of that run, reads only src (pyflame/sim/step_access.py `_dead_from`)
        access = Access(reads={si: ssl}, writes={di: part}, rebuild=rebuild)
        s.steps.append(annotate(overwrites(make_step(), di, part), access))
    else:  # writes part of dst, never reads it; indexes PE lines, so reads SRAM only (no view)
        s.steps.append(annotate(make_step(), Access(reads={si: ssl}, writes={di: dsl})))


@dataclass(frozen=True)
class _Window:
    """A pe windowed op's sizes: the PE's window (n, c, hi, wi), its output block (o, ho, wo),
    kernel, stride, dilation and groups (1 for pooling)."""

    n: int
    c: int
    hi: int
    wi: int
    o: int
    ho: int
    wo: int
    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    dilation: tuple[int, ...]
    groups: int

    @classmethod
    def of(cls, op: pe.Conv2dOp | pe.Conv2dWeightGradOp | pe.Pool2dOp) -> _Window:
        n, c, hi, wi = _ints(op.in_shape)
        _, o, ho, wo = _ints(op.out_shape)
        groups = 1 if isinstance(op, pe.Pool2dOp) else op.group_count
        return cls(
            n, c, hi, wi, o, ho, wo, op.kernel_pair, op.stride_pair, op.dilation_pair, groups
        )

    @property
    def cg(self) -> int:
        """Input channels per group."""
        return self.c // self.groups

    @property
    def og(self) -> int:
        """Output channels per group."""
        return self.o // self.groups

    @property
    def taps(self) -> int:
        return self.kernel[0] * self.kernel[1]

    @property
    def fmacs(self) -> int:
        """A convolution's (or its weight gradient's) FMACs per PE."""
        return self.n * self.o * self.ho * self.wo * self.cg * self.taps

    def conv_sizes(self) -> tuple[int, int, int, int, int, int, int, int]:
        """(n, o, ho, wo, groups, cg, og, taps): what the convolution kernels compute with."""
        return (self.n, self.o, self.ho, self.wo, self.groups, self.cg, self.og, self.taps)

    def taps_of(self, xs: np.ndarray) -> np.ndarray:
        """PE rows' windows (r, nc, n * c * hi * wi) -> a strided float32 view (r, nc, n,
        groups, cg, ho, wo, kh, kw) of every output position's taps."""
        # (C-contiguous first: the sums over taps and BLAS then see one layout, whatever the
        # SRAM's, so the bits do not depend on it: pyflame/sim/tile_math.py)
        x = tile_math.contiguous(_as_f32(xs))
        x = x.reshape(*xs.shape[:2], self.n, self.groups, self.cg, self.hi, self.wi)
        sh, sw = x.strides[-2:]
        shape = x.shape[:-2] + (self.ho, self.wo) + tuple(self.kernel)
        st, dl = self.stride, self.dilation
        strides = x.strides[:-2] + (sh * st[0], sw * st[1], sh * dl[0], sw * dl[1])
        return np.lib.stride_tricks.as_strided(x, shape, strides, writeable=False)


def _as_f32(a: np.ndarray) -> np.ndarray:
    return a if a.dtype == np.float32 else a.astype(np.float32)


def _run_on_rows(
    s: Schedule, it: Item, part: Callable[..., None], fmacs: int, *values: SSAValue | None
) -> None:
    """A step calling part(*tiles), the tiles (PE rows, PE cols, elements) of each buffer over
    the rectangle (None for an absent operand), the PE rows split over threads when large."""
    bufs = [None if v is None else s.buf(v, it) for v in values]
    where = [None if b is None else (b.index, b.sub(it.rect)) for b in bufs]
    nr, nc = it.rect[2], it.rect[3]
    chunks = threads.row_chunks(nr, nr * nc * fmacs)

    def step(V, F, A, O):
        tiles = (None if w is None else V[w[0]][w[1]] for w in where)
        threads.run_rows(part, chunks, *tiles)

    s.steps.append(step)


@kernel(pe.Conv2dOp)
def conv2d(s: Schedule, it: Item, op: pe.Conv2dOp) -> None:
    """out = conv(window, weight) + bias on every PE of the rectangle (out += ... with
    `accumulate`): im2col of every PE's window and one batched matmul per group."""
    win = _Window.of(op)
    n, o, ho, wo, g, cg, og, taps = win.conv_sizes()
    nc = it.rect[3]
    accumulate = op.accumulate is not None

    def part(dst, xs, ws, bs):
        r = xs.shape[0]
        taps_view = win.taps_of(xs)  # (r, nc, n, g, cg, ho, wo, kh, kw)
        # K-major columns (channel, tap) x (batch, row, col): the copy keeps the input's order
        cols = taps_view.transpose(0, 1, 3, 4, 7, 8, 2, 5, 6).reshape(
            r, nc, g, cg * taps, n * ho * wo
        )
        wm = tile_math.contiguous(_as_f32(ws)).reshape(r, nc, g, og, cg * taps)
        y = np.matmul(wm, cols).reshape(r, nc, g, og, n, ho, wo)
        y = y.transpose(0, 1, 4, 2, 3, 5, 6).reshape(r, nc, n, o, ho, wo)
        if bs is not None:
            y = y + _as_f32(bs).reshape(r, nc, 1, o, 1, 1)
        if accumulate:  # the FMACs add into the output block (a step over input channels)
            dst[...] = _as_f32(dst) + y.reshape(r, nc, -1)
        else:
            dst[...] = y.reshape(r, nc, -1)

    _run_on_rows(s, it, part, win.fmacs, op.out, op.input, op.weight, op.bias)
    # one FMAC over the output plane per (image, out channel, in channel of its group, tap)
    bias_adds = n * o if op.bias is not None else 0
    # (at the input's lane count, half floats run 4 FMAC lanes on WSE-2, and the output's
    # element size: a half conv's float32 output block, its steps over input channels adding
    # into it, streams 4 bytes a lane)
    half = s.buf(op.input, it).half
    out = s.buf(op.out, it)
    s.charge(it.rect, CostKind.CONV2D, n * o * cg * taps, ho * wo, bias_adds, buf=out, half=half)


@kernel(pe.Conv2dWeightGradOp)
def conv2d_weight_grad(s: Schedule, it: Item, op: pe.Conv2dWeightGradOp) -> None:
    """dw = sum over (batch, rows, columns) of grad times the window's taps, on every PE of the
    rectangle: per group one batched matmul of the grad [og, n * ho * wo] by the window's
    columns [n * ho * wo, cg * taps]."""
    win = _Window.of(op)
    n, o, ho, wo, g, cg, og, taps = win.conv_sizes()
    nc = it.rect[3]

    def part(dst, xs, ys):
        r = xs.shape[0]
        taps_view = win.taps_of(xs)  # (r, nc, n, g, cg, ho, wo, kh, kw)
        cols = taps_view.transpose(0, 1, 3, 2, 5, 6, 4, 7, 8).reshape(
            r, nc, g, n * ho * wo, cg * taps
        )
        gm = tile_math.contiguous(_as_f32(ys)).reshape(r, nc, n, g, og, ho * wo)
        gm = gm.transpose(0, 1, 3, 4, 2, 5)
        y = np.matmul(gm.reshape(r, nc, g, og, n * ho * wo), cols)  # (r, nc, g, og, cg * taps)
        dst[...] = y.reshape(r, nc, -1)

    _run_on_rows(s, it, part, win.fmacs, op.dw, op.input, op.grad)
    # one dot product per (out channel, in channel of its group, tap) over the batch's pixels
    s.charge(
        it.rect, CostKind.CONV2D_WEIGHT_GRAD, o * cg * taps, n * ho * wo, buf=s.buf(op.input, it)
    )


@kernel(pe.Pool2dOp)
def pool2d(s: Schedule, it: Item, op: pe.Pool2dOp) -> None:
    """out = max or mean over every window of the PE's input window."""
    win = _Window.of(op)
    kind = op.kind.data
    area = np.float32(win.taps)

    def part(dst, xs):
        taps_view = win.taps_of(xs)  # (nr, nc, n, 1, c, ho, wo, kh, kw)
        if kind == PoolKind.MAX:
            y = taps_view.max(axis=(-2, -1))
        else:
            y = taps_view.sum(axis=(-2, -1), dtype=np.float32) / area
        dst[...] = y.reshape(*xs.shape[:2], -1)

    _run_on_rows(s, it, part, 0, op.out, op.input)  # (one thread: no matmul to split)
    outputs = win.n * win.c * win.ho * win.wo
    s.charge(
        it.rect, CostKind.POOL2D, win.taps, outputs, kind == PoolKind.AVG, buf=s.buf(op.input, it)
    )
