"""The machine's SRAM at run time: one block per group of buffers that share bytes.

allocate-sram reuses offsets, so two buffers whose PE rectangles and byte ranges overlap are
the same memory and must alias. The buffers fall into groups (connected by overlap); each group
gets one zeroed uint8 block covering the union of its rectangles times the union of its byte
ranges, and a buffer is a view into its group's block:

    buffers a: PEs (0,0)+4x4 bytes [0, 4096)       group 0: block (4, 4, 8192) at (0, 0), byte 0
            b: PEs (2,2)+2x2 bytes [4096, 8192)    (a and b do not overlap, but c joins them)
            c: PEs (0,0)+4x4 bytes [2048, 6144)
            d: PEs (0,4)+4x4 bytes [0, 4096)       group 1: block (4, 4, 4096) at (0, 4), byte 0

So only the bytes programs use exist on the host (a GEMM on 720x720 PEs holds its tiles, not
720 * 720 * 48 KiB), and data still lives at its SRAM address: a step that writes one buffer
changes every buffer sharing those bytes. `Sram.image()` assembles the whole (rows, cols,
bytes) array, zeros where no buffer lies, for tests that compare SRAM bit for bit.

A block whose buffers all hold elements of one width at multiples of it (f32 and i32 words,
f16 halves, i1 bytes), or fit in one such item (a mask of at most four i1 among f32 tiles), is
held *lane-major*: an (items, rows, cols) array of unsigned items of that width, item k of
every PE's bytes one contiguous (rows, cols) plane. A buffer's view is still (rows, cols, n),
with the element axis strided by a plane. The kernels run numpy over every PE's few-lane
tiles at once; lane-major, an elementwise op over 64x64 PEs' 52-lane tiles is one contiguous
pass (47 us) instead of 4,096 inner loops of 52 (178 us), and lane k of every tile is one
plane (`benchmarks/sram_layouts.py`). Other blocks (f16 tiles sharing bytes with f32 ones, a
long mask in a block of words) and blocks of more than LANE_MAJOR_MAX_ITEMS items per PE
(large tiles: long inner loops already, and a host transfer into lane-major tiles is a true
transpose) are held PE-major, (rows, cols, bytes) uint8. allocate-sram
keeps i1 buffers longer than a word out of the bytes of other buffers, so that the masks of
a program do not make its f32 blocks PE-major (half floats are not kept apart: the SRAM of a
mixed-precision program).
The layout is the host's business: addresses, aliasing and the image are the same, and the
kernels' results do not depend on it (their sums run in an order fixed by the op: see
pyflame/sim/tile_math.py).
"""

from __future__ import annotations

import threading
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # executable.py owns Buffer and builds Sram: types only
    from pyflame.sim.executable import Buffer, Rect


@dataclass(frozen=True)
class Block:
    """The host memory of one group of aliasing buffers: PEs `rect` x bytes [lo, hi)."""

    rect: Rect
    lo: int
    hi: int
    #: the indices of the buffers living in this block
    members: tuple[int, ...]
    #: 0: held PE-major, (rows, cols, bytes) uint8; else lane-major, (items, rows, cols) of
    #: unsigned items of `unit` bytes, item k of every PE one plane (module docstring)
    unit: int = 0

    @property
    def lane_major(self) -> bool:
        return self.unit > 0

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.rect[2], self.rect[3], self.hi - self.lo)

    @property
    def host_shape(self) -> tuple[int, int, int]:
        """The shape of the block's host array."""
        rows, cols, nbytes = self.shape
        if self.unit:
            return (-(-nbytes // self.unit), rows, cols)
        return (rows, cols, nbytes)

    @property
    def nbytes(self) -> int:
        """Host bytes of the block's array."""
        a, b, c = self.host_shape
        return a * b * c * max(1, self.unit)

    def view_strides(self, buffer: Buffer) -> tuple[int, int, int]:
        """The byte strides (row, col, element) of `buffer`'s view (one of the members)."""
        rows, cols, nbytes = self.shape
        unit = self.unit
        if not unit:
            return (cols * nbytes, nbytes, buffer.dtype.itemsize)
        if buffer.dtype.itemsize < unit:  # within one item
            return (cols * unit, unit, buffer.dtype.itemsize)
        return (cols * unit, unit, rows * cols * unit)


#: hold blocks lane-major where their buffers allow (tests turn it off to check that results
#: do not depend on it)
LANE_MAJOR_BLOCKS = True

#: blocks of more items per PE stay PE-major: a PE's run of items is then long enough for
#: numpy's inner loops, and a host transfer or a GEMM panel's fill of lane-major tiles is a
#: true transpose (GEMM 1024^3 on 32x32 PEs, 1,024-float tiles: 34 -> 51 ms lane-major)
LANE_MAJOR_MAX_ITEMS = 256


def _unit(lo: int, hi: int, members: Sequence[int], buffers: Sequence[Buffer]) -> int:
    """The item bytes of a lane-major block [lo, hi) of these buffers (their widest element,
    when each holds elements of that width at a multiple of it, or fits in one such item, and
    the block holds at most LANE_MAJOR_MAX_ITEMS of them per PE), or 0."""
    if not LANE_MAJOR_BLOCKS:
        return 0
    unit = max(buffers[i].dtype.itemsize for i in members)
    if -(-(hi - lo) // unit) > LANE_MAJOR_MAX_ITEMS:
        return 0
    for i in members:
        b, at = buffers[i], buffers[i].offset - lo
        if at % unit or (b.dtype.itemsize != unit and b.nbytes > unit):
            return 0
    return unit


def _box(b: Buffer) -> tuple[int, int, int, int, int, int]:
    """(row, col, byte) lower and upper bounds of a buffer's memory."""
    r0, c0, nr, nc = b.rect
    return (r0, c0, b.offset, r0 + nr, c0 + nc, b.offset + b.nbytes)


def group_buffers(buffers: Sequence[Buffer]) -> list[Block]:
    """The blocks of `buffers`: buffers that share a byte on some PE, directly or through
    others, are one block (in order of their first buffer). Empty buffers get no block."""
    live = [b.index for b in buffers if b.nbytes and b.rect[2] and b.rect[3]]
    # component label of each live buffer (the least position in it): a row of the overlap
    # matrix merges every label it hits at once, so the work is numpy's, O(n) per row (SRAM
    # reuse makes the matrix dense: thousands of hits a row in a big program)
    label = np.arange(len(live))
    if live:
        box = np.array([_box(buffers[i]) for i in live], dtype=np.int64)
        lo, hi = box[:, :3], box[:, 3:]
        for k in range(len(live) - 1):  # one row of the overlap matrix at a time: O(n) memory
            rest = slice(k + 1, len(live))
            hit = np.all((lo[k] < hi[rest]) & (lo[rest] < hi[k]), axis=1)
            if not hit.any():
                continue
            merged = np.unique(np.append(label[k + 1 :][hit], label[k]))
            if len(merged) > 1:
                label[np.isin(label, merged)] = merged[0]
    groups: dict[int, list[int]] = {}
    for k, i in enumerate(live):
        groups.setdefault(int(label[k]), []).append(i)
    blocks = []
    for members in groups.values():
        boxes = np.array([_box(buffers[i]) for i in members], dtype=np.int64)
        r0, c0, b0 = (int(x) for x in boxes[:, :3].min(axis=0))
        r1, c1, b1 = (int(x) for x in boxes[:, 3:].max(axis=0))
        unit = _unit(b0, b1, members, buffers)
        blocks.append(Block((r0, c0, r1 - r0, c1 - c0), b0, b1, tuple(members), unit))
    return blocks


class BufferViews(list):
    """The buffer views of one SRAM, by buffer index (what a run's steps get as `V`), with
    `scratch`: host arrays a step keeps from one run to the next on this SRAM (a private
    accumulator's copy, pyflame/sim/private_acc.py), so that a pooled SRAM's runs do not take
    fresh memory, whose first touch costs a page fault per 4 KiB; and `derived`: what a step
    derives once from the views alone (views of views, pyflame/sim/sourced_panels.py), valid
    for the SRAM's life since its blocks never move."""

    def __init__(self, views: Sequence[np.ndarray]):
        super().__init__(views)
        self.scratch: dict[Hashable, np.ndarray] = {}
        self.derived: dict[Hashable, object] = {}


def scratch_array(
    V: Sequence[np.ndarray], key: Hashable, shape: tuple[int, ...], dtype: np.dtype
) -> np.ndarray:
    """An array of `shape` and `dtype` to overwrite (its values are left over): V's scratch
    array `key` when V has one of that shape and type (left by the SRAM's previous run), else
    a new one (kept there for the next run)."""
    scratch = getattr(V, "scratch", None)  # a plain list of views (tests): no scratch
    out = None if scratch is None else scratch.get(key)
    if out is None or out.shape != shape or out.dtype != dtype:
        out = np.empty(shape, dtype=dtype)
        if scratch is not None:
            scratch[key] = out
    return out


def scratch_copy(V: Sequence[np.ndarray], key: Hashable, src: np.ndarray) -> np.ndarray:
    """A contiguous copy of `src`: into V's scratch array `key` when V has one of its shape and
    type (left by the SRAM's previous run), else a new array (kept there for the next run)."""
    scratch = getattr(V, "scratch", None)  # a plain list of views (tests): no scratch
    out = None if scratch is None else scratch.get(key)
    if out is None or out.shape != src.shape or out.dtype != src.dtype:
        out = np.array(src, copy=True)
        if scratch is not None:
            scratch[key] = out
    else:
        np.copyto(out, src)
    return out


class Sram:
    """One run's SRAM: a zeroed block per group of aliasing buffers and each buffer's view."""

    def __init__(self, shape: tuple[int, int, int], buffers: Sequence[Buffer], blocks: list[Block]):
        self.shape = shape
        self.buffers = buffers
        self.blocks = blocks
        self.arrays = [_zeros(b) for b in blocks]
        #: host bytes the blocks hold (asked at every run: `held_bytes`)
        self.nbytes = sum(b.nbytes for b in blocks)
        views: list[np.ndarray | None] = [None] * len(buffers)
        for block, array in zip(blocks, self.arrays, strict=True):
            for i in block.members:
                views[i] = _view(block, array, buffers[i])
        for i, b in enumerate(buffers):  # a buffer without bytes or PEs: an empty view
            if views[i] is None:
                views[i] = np.zeros((b.rect[2], b.rect[3], b.size), dtype=b.dtype)
        #: the buffer views, by buffer index (what the run's steps read and write)
        self.views = BufferViews(views)  # type: ignore[arg-type]  # every slot filled above

    @property
    def held_bytes(self) -> int:
        """Host bytes the blocks and the steps' scratch arrays hold."""
        return self.nbytes + sum(a.nbytes for a in self.views.scratch.values())

    def reset(self, zero: Mapping[int, Sequence[tuple[int, int]]] | None = None) -> None:
        """Zero again, for another run, the bytes a run may read before writing them: `zero`
        maps a block to runs [lo, hi) of its byte axis (pyflame/sim/written_first.py
        `bytes_to_zero`; a block it leaves out is written whole before it is read); None: every
        block. The scratch arrays are rewritten before they are read."""
        for n, a in enumerate(self.arrays):
            ranges = None if zero is None else zero.get(n)
            if zero is not None and not ranges:
                continue
            unit = self.blocks[n].unit
            width = a.shape[0] * unit if unit else a.shape[2]
            if ranges is None or sum(hi - lo for lo, hi in ranges) * 2 > width:
                a.fill(0)  # most of the block: one contiguous pass is cheaper
            elif unit:  # whole items (the rest of an item is written before it is read)
                for lo, hi in ranges:
                    a[lo // unit : -(-hi // unit)] = 0
            else:
                for lo, hi in ranges:
                    a[:, :, lo:hi] = 0

    def image(self) -> np.ndarray:
        """The whole SRAM as one (rows, cols, bytes) uint8 array (zeros outside any buffer).
        Copied buffer by buffer: the boxes of two blocks may overlap where neither has a buffer."""
        out = np.zeros(self.shape, dtype=np.uint8)
        for block, array in zip(self.blocks, self.arrays, strict=True):
            br, bc = block.rect[0], block.rect[1]
            array = block_bytes(block, array)
            for i in block.members:
                r0, c0, nr, nc = self.buffers[i].rect
                lo, hi = self.buffers[i].offset, self.buffers[i].offset + self.buffers[i].nbytes
                out[r0 : r0 + nr, c0 : c0 + nc, lo:hi] = array[
                    r0 - br : r0 - br + nr, c0 - bc : c0 - bc + nc, lo - block.lo : hi - block.lo
                ]
        return out


def _zeros(block: Block) -> np.ndarray:
    dtype = np.dtype(f"uint{8 * block.unit}") if block.unit else np.uint8
    return np.zeros(block.host_shape, dtype=dtype)


def _view(block: Block, array: np.ndarray, buffer: Buffer) -> np.ndarray:
    """`buffer`'s (rows, cols, n) view of its block's host `array`."""
    br, bc = block.rect[0], block.rect[1]
    r0, c0, nr, nc = buffer.rect
    rows, cols = slice(r0 - br, r0 - br + nr), slice(c0 - bc, c0 - bc + nc)
    at, unit = buffer.offset - block.lo, block.unit
    if not unit:
        return array[rows, cols, at : at + buffer.nbytes].view(buffer.dtype)
    w = at // unit
    if buffer.dtype.itemsize == unit:
        return array[w : w + buffer.size, rows, cols].transpose(1, 2, 0).view(buffer.dtype)
    # a few narrow elements in item w: its bytes, as the last axis
    item = array.view(np.uint8).reshape(*array.shape, unit)[w, rows, cols]
    return item[:, :, : buffer.nbytes].view(buffer.dtype)


def block_bytes(block: Block, array: np.ndarray) -> np.ndarray:
    """A block's host `array` as (rows, cols, bytes) uint8: itself when PE-major, else a copy
    (item k of PE (r, c) at bytes [k * unit, (k + 1) * unit))."""
    if not block.unit:
        return array
    return np.ascontiguousarray(array.transpose(1, 2, 0)).view(np.uint8)


def tiles(view: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """A buffer's view (rows, cols, n) as (rows, cols, *shape) tiles, without a copy: a kernel
    writes a rearranged tile straight into it (one pass; assigning a rearranged array reshaped
    to (rows, cols, n) copied it twice). Raises rather than return a copy, whose writes would
    be lost."""
    return np.reshape(view, view.shape[:2] + tuple(shape), copy=False)


class SramPool:
    """Idle SRAMs kept for their executables' next runs, up to `limit` bytes over all of them.

    A run that allocates its SRAM afresh touches every page of it for the first time, and each
    first touch is a page fault (about 1-5 us per 4 KiB page, more on a loaded machine or in a
    VM): 8,192 of them for the 32 MiB of a GEMM 1024^3 on 32x32 PEs, more than the zeroing of
    a kept SRAM costs. A kept SRAM is zeroed again before it runs, so every run still starts
    from zeroed SRAM; runs at the same time each take their own."""

    def __init__(self, limit: int):
        self.limit = limit
        self.idle_bytes = 0
        self._lock = threading.Lock()

    def take(
        self, idle: list[Sram], zero: Mapping[int, Sequence[tuple[int, int]]] | None = None
    ) -> Sram | None:
        """One of an executable's idle SRAMs, its bytes `zero` zeroed again (`Sram.reset`;
        None: all of them); None when none is idle."""
        with self._lock:
            if not idle:
                return None
            sram = idle.pop()
            self.idle_bytes -= sram.held_bytes
        sram.reset(zero)
        return sram

    def give(self, idle: list[Sram], sram: Sram) -> None:
        """Keep `sram` (after a run) in `idle`, if the pool has room for it."""
        held = sram.held_bytes
        with self._lock:
            if self.idle_bytes + held <= self.limit:
                idle.append(sram)
                self.idle_bytes += held

    def drop(self, idle: list[Sram]) -> None:
        """Forget an executable's idle SRAMs (it is gone)."""
        with self._lock:
            self.idle_bytes -= sum(s.held_bytes for s in idle)
            idle.clear()


#: the idle SRAMs of every executable (`Executable.run`), at most 512 MiB of them
POOL = SramPool(512 << 20)


__all__ = [
    "POOL",
    "Block",
    "BufferViews",
    "Sram",
    "SramPool",
    "group_buffers",
    "scratch_array",
    "scratch_copy",
    "tiles",
]
