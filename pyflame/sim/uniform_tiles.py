"""Tiles known to be equal on many PEs, and tile-local ops computed once for all of them.

A buffer of a replicated layout holds the same bytes on many PEs: a bias on every row of PEs,
a softmax's rows on every PE of a row after an allreduce, a learning rate on all of them. A
tile-local op (unary, binary, select, convert, fused, reduce, broadcast, transpose) over such
buffers computes the same result on each PE of the replicas, so the run need not compute it
64 times: the planner proves which tiles are equal, and the op's step computes one column
(or row, or PE) of its rectangle and copies the result to the others. SRAM ends up byte for
byte as if every PE had computed (tests/unit/sim/test_uniform_tiles.py runs programs both
ways and compares every byte); the cycles are the model's, charged for every PE as before.

The proof never trusts a layout: it follows what the program does. Each buffer has a *token*
per PE (`UniformTiles.tokens`): two PEs holding the same token in a buffer hold the same bytes
there (different tokens say nothing). Tokens are made by
- the run's start: every run starts from zeroed SRAM (pyflame/sim/sram.py; a kept SRAM is
  zeroed again wherever a run may read before writing, pyflame/sim/written_first.py), so a
  buffer nothing has written yet holds one token, `ZEROS`, on every PE;
- a fill: one token over its rectangle; a host_in: one per kept tile (every replica is
  written from the same host values, pyflame/sim/kernels/host_io.py);
- a send: its messages carry its PEs' tokens; a plain receive of one whole message gives each
  PE the token of the PE its message came from; a combining receive one token per distinct
  (old, message) pair;
- a tile-local op: one token per distinct tuple of its inputs' tokens (the destination's too
  when the op does not overwrite all of it) - equal inputs, equal results, on any PE (a
  pe.matmul_acc, fresh tokens: the SUMMA loops' thousands of them would cost plan time);
- any other write (of the op's destination: its first buffer, pe.PEOp.written): fresh tokens
  on its rectangle. A write of a window (`pe.alloc ... in %whole at N`) gives the whole one
  token per distinct (old, window) pair: the rest of its bytes are as they were (the loss's
  two partial sums, copied into the two lanes of the one buffer an allreduce then sums, stay
  equal along the PE rows that hold them). A write gives fresh tokens to every other buffer
  sharing those bytes on those PEs (unknown from then on).

An op whose kernel checks int32 results for overflow (`_checks_int32`) runs on every PE: it
checks each PE's real elements only, and which are real depends on where the PE is in the
layout.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from pyflame.dialects import pe
from pyflame.sim.dead_transfers import overwrites
from pyflame.sim.deferred_replicas import (
    ComputedOnce,
    copies,
    copy_step,
    rect_within,
    set_computed_once,
)
from pyflame.sim.layout_io import kept_grid
from pyflame.sim.step_access import Access, access_of, annotate, buffer_conflicts

if TYPE_CHECKING:  # the planner owns the schedule: types only
    from pyflame.sim.executable import Buffer, Rect, Step
    from pyflame.sim.schedule import Item, Schedule

#: compute tile-local ops once over PEs proven to hold equal tiles (tests switch it off to
#: compare)
ENABLED = True

#: plans over more PEs do not track tokens (8 bytes per buffer per PE: 128 KB a buffer here)
MAX_PES = 1 << 14

#: the tile-local ops computed once over equal tiles: one numpy step over the rectangle whose
#: kernel does nothing else
COMPUTED_ONCE = (
    pe.UnaryOp,
    pe.BinaryOp,
    pe.SelectOp,
    pe.ConvertOp,
    pe.FusedOp,
    pe.ReduceOp,
    pe.BroadcastOp,
    pe.TransposeOp,
)

#: the token of bytes nothing has written in this run (zeroed SRAM)
ZEROS = 0

#: tile-local ops: each PE's result is a function of its own tiles only, wherever it is
#: (pe.copy too, run on every PE: its step's Access record is what later passes read)
TILE_LOCAL = (*COMPUTED_ONCE, pe.CopyOp)


class UniformTiles:
    """The tokens of every buffer on every PE, as the planner executes the program."""

    def __init__(self, s: Schedule):
        self.shape = (s.R, s.C)
        self.buffers = s.buffers
        #: buffer index -> (R, C) tokens (`ZEROS` everywhere when first looked at: bytes
        #: nothing wrote yet; fresh for the buffers in `unknown`)
        self.tokens: dict[int, np.ndarray] = {}
        #: buffers whose bytes a write of another buffer sharing them changed
        self.unknown: set[int] = set()
        #: send batch -> its sending PEs' tokens (rows, cols of the send's rectangle)
        self.sent: dict[int, np.ndarray] = {}
        self._next = ZEROS + 1
        self._conflicts: np.ndarray | None = None
        #: whole buffer index -> its windows (made when first needed)
        self._windows: dict[int, list[Buffer]] | None = None

    @staticmethod
    def start(s: Schedule) -> UniformTiles | None:
        """The tracker of a plan (None when switched off or over MAX_PES PEs)."""
        return UniformTiles(s) if ENABLED and s.R * s.C <= MAX_PES else None

    # ------------------------------------------------------------------ tokens

    def fresh(self, shape: tuple[int, ...]) -> np.ndarray:
        """New tokens, all different."""
        n = int(np.prod(shape))
        t = np.arange(self._next, self._next + n, dtype=np.int64).reshape(shape)
        self._next += n
        return t

    def of(self, index: int) -> np.ndarray:
        """The (R, C) tokens of buffer `index`."""
        t = self.tokens.get(index)
        if t is None:
            if index in self.unknown:
                t = self.fresh(self.shape)
            else:  # (nothing wrote its bytes: the run's zeros)
                t = np.full(self.shape, ZEROS, dtype=np.int64)
            self.tokens[index] = t
        return t

    def at(self, index: int, rect: Rect) -> np.ndarray:
        r0, c0, nr, nc = rect
        return self.of(index)[r0 : r0 + nr, c0 : c0 + nc]

    def of_tuples(self, parts: list[np.ndarray]) -> np.ndarray:
        """One new token per distinct tuple of `parts` (same-shaped token arrays)."""
        first = parts[0]
        if all(p.size and (p == p.flat[0]).all() for p in parts):  # (one tuple: scalars)
            return np.full(first.shape, self.fresh((1,))[0], dtype=np.int64)
        key = np.zeros(first.size, dtype=np.int64)
        for p in parts:  # each part's distinct values numbered, then paired with the key's
            _, inverse = np.unique(p.ravel(), return_inverse=True)
            key = key * (int(inverse.max()) + 1) + inverse
            _, key = np.unique(key, return_inverse=True)
        out = key.reshape(first.shape) + self._next
        self._next += int(key.max()) + 1 if key.size else 0
        return out

    def write(self, index: int, rect: Rect, tokens: np.ndarray) -> None:
        """Buffer `index` now holds `tokens` on `rect`; its windows (`Buffer.whole`: parts of
        its bytes) hold equal bytes where it does, so they take the same tokens there; the
        buffer it is a window of holds its old bytes and these (one token per distinct pair);
        other buffers sharing its bytes on some PEs hold something else there (unknown from
        now on, on all their PEs)."""
        self.at(index, rect)[...] = tokens
        if self._conflicts is None:
            self._conflicts = buffer_conflicts(self.buffers)
        whole = self.buffers[index].whole
        for j in np.flatnonzero(self._conflicts[index]).tolist():
            if j == index:
                continue
            if self.buffers[j].whole == index:
                # a window of the written bytes: equal there where the whole is equal
                self.at(j, rect)[...] = tokens
            elif j == whole:
                self.at(j, rect)[...] = self.of_tuples(self._whole_parts(j, rect))
            else:  # unknown again, on all its PEs (a cheap, safe loss)
                self.tokens.pop(j, None)
                self.unknown.add(j)

    def _whole_parts(self, whole: int, rect: Rect) -> list[np.ndarray]:
        """Token arrays on `rect` that together say what buffer `whole` holds there, after a
        write of one of its windows: its windows' when they cover all of its bytes (an
        allreduce group's partial sums, each copied into its lanes), else its old tokens and
        the windows' (the rest of its bytes as they were)."""
        b = self.buffers[whole]
        if self._windows is None:
            self._windows = {}
            for w in self.buffers:
                if w.whole is not None:
                    self._windows.setdefault(w.whole, []).append(w)
        windows = self._windows.get(whole, [])
        covered = np.zeros(b.nbytes, dtype=bool)
        for w in windows:
            if rect_within(rect, w.rect):
                covered[max(0, w.offset - b.offset) : w.offset - b.offset + w.nbytes] = True
        parts = [self.at(w.index, rect) for w in windows if rect_within(rect, w.rect)]
        return parts if covered.all() else [self.at(whole, rect), *parts]

    # ------------------------------------------------------------------ ops

    def sending(self, batch: int, b: Buffer, rect: Rect) -> None:
        """A send's messages (batch `batch`) carry its PEs' tokens of buffer `b`."""
        self.sent[batch] = self.at(b.index, rect).copy()

    def message_tokens(self, batch: int, src_r: np.ndarray, src_c: np.ndarray) -> np.ndarray:
        """The tokens of the messages of `batch` from its PEs (src_r, src_c) (local)."""
        sent = self.sent.get(batch)
        if sent is None:
            return self.fresh(np.shape(src_r))
        return sent[src_r, src_c]

    def received(
        self, b: Buffer, rect: Rect, messages: np.ndarray | None, combine: bool, whole: bool
    ) -> None:
        """A receive into `b` on `rect` of messages with tokens `messages` (None: unknown);
        `whole`: one message overwrites (or combines with) all of the buffer."""
        if messages is None or not whole:
            tokens = self.fresh((rect[2], rect[3]))
        elif combine:
            tokens = self.of_tuples([self.at(b.index, rect), messages])
        else:
            tokens = messages
        self.write(b.index, rect, tokens)

    def after(self, s: Schedule, it: Item, op: Any, first_step: int, kernel: Callable) -> None:
        """Update the tokens for op `op` (item `it`) the kernel just executed, whose steps start
        at `s.steps[first_step]`; compute it once over equal tiles when it may."""
        if isinstance(op, TILE_LOCAL):
            self._tile_local(s, it, op, first_step, kernel)
        elif isinstance(op, pe.MatmulAccOp):  # (rarely over equal tiles: not worth a plan's time)
            b = s.buf(op.acc, it)
            self.write(b.index, it.rect, self.fresh((it.rect[2], it.rect[3])))
        elif isinstance(op, pe.FillOp):
            b = s.buf(op.buffer, it)
            whole = _overwritten_whole(s, first_step, b)
            old = [self.at(b.index, it.rect)] if not whole else []
            tokens = self.of_tuples([*old, np.zeros((it.rect[2], it.rect[3]), np.int64)])
            self.write(b.index, it.rect, tokens)
        elif isinstance(op, pe.HostInOp | pe.IotaOp):  # the same values on every replica
            b = s.buf(op.buffer, it)
            dist = op.layout.dist
            tiles = self._per_kept_tile(dist, it.rect)
            if dist.local_elems < s.buffers[b.index].size:  # (the lanes after the tile's stay)
                tiles = self.of_tuples([self.at(b.index, it.rect), tiles])
            self.write(b.index, it.rect, tiles)
        elif isinstance(op, pe.SendOp | pe.HostOutOp | pe.RecvOp):
            pass  # (sends only read; receives are tracked by their kernel, which knows sources)
        elif isinstance(op, pe.PEOp) and op.written is not None:  # any other write
            b = s.buf(op.written, it)
            self.write(b.index, it.rect, self.fresh((it.rect[2], it.rect[3])))

    def _per_kept_tile(self, dist: Any, rect: Rect) -> np.ndarray:
        """One new token per kept tile of layout `dist` on `rect`: PE (r, c) holds kept tile
        (r or 0, c or 0), replicas the same (pyflame/sim/layout_io.py `kept_grid`)."""
        kr, kc = kept_grid(dist)
        nr, nc = rect[2], rect[3]  # (the layout's grid)
        rows = np.arange(nr) if kr > 1 else np.zeros(nr, np.int64)
        cols = np.arange(nc) if kc > 1 else np.zeros(nc, np.int64)
        tile = rows[:, None] * kc + cols[None, :]
        return self.fresh((kr * kc,))[tile]

    def _tile_local(
        self, s: Schedule, it: Item, op: Any, first_step: int, kernel: Callable
    ) -> None:
        bufs = [s.buf(v, it) for v in op.buffers]
        dst = bufs[0]
        whole = _overwritten_whole(s, first_step, dst)
        ins = bufs[1:] if whole else bufs
        parts = [self.at(b.index, it.rect) for b in ins]
        if not parts:
            parts = [np.zeros((it.rect[2], it.rect[3]), np.int64)]
        axes = _equal_axes(parts)
        if axes and isinstance(op, COMPUTED_ONCE) and len(s.steps) == first_step + 1:
            if not _checks_int32(op, bufs):
                once = self._computed_once(s, it, op, first_step, bufs, whole, axes, kernel)
                if once is not None:
                    s.steps[first_step] = once
        self.write(dst.index, it.rect, self.of_tuples(parts))

    def _computed_once(
        self,
        s: Schedule,
        it: Item,
        op: Any,
        first_step: int,
        bufs: list[Buffer],
        whole: bool,
        axes: tuple[bool, bool],
        kernel: Callable,
    ) -> Step | None:
        """The op's step over the first row / column / PE of its rectangle, then copied to
        the rest (None when its step does not write the destination as expected)."""
        step = s.steps[first_step]
        written = getattr(step, "overwrites", None)
        if written is None or written[0] != bufs[0].index:
            return None
        r0, c0, nr, nc = it.rect
        along_rows, along_cols = axes
        rect = (r0, c0, 1 if along_rows else nr, 1 if along_cols else nc)
        probe = _StepsOnly(s)
        kernel(probe, replace(it, rect=rect), op)
        if len(probe.steps) != 1:
            return None
        inner = probe.steps[0]
        di = written[0]
        reads = tuple(b.index for b in bufs[1:]) + (() if whole else (di,))
        once = ComputedOnce(inner, di, written[1], it.rect, rect, reads, whole)
        copied = copy_step(di, copies(once, rect, it.rect))

        def made(once: ComputedOnce) -> Step:
            inner = once.inner

            def computed_once(V, F, A, O):
                inner(V, F, A, O)
                copied(V, F, A, O)

            return set_computed_once(overwrites(computed_once, di, written[1]), once)

        step = made(once)
        acc = access_of(inner)
        if acc is None or acc.rebuild is None or acc.received is not None or di in acc.reads:
            return step
        # what it touches: the inner step's reads (of the first row / column / PE), all of
        # its rectangle of the destination written; so a host input only it reads (a bias,
        # a learning rate, a weight its SGD update reads on one row of PEs) is a view of the
        # host array (pyflame/sim/step_access.py), and the inner step reads that view
        rebuild_inner = acc.rebuild

        def rebuild(keys: dict[int, int]) -> Step:
            again = rebuild_inner(keys)
            setattr(again, "viewed", frozenset(keys))  # noqa: B010  (read_as_views)
            return made(replace(once, inner=again))

        return annotate(step, Access(dict(acc.reads), {di: written[1]}, rebuild=rebuild))


def _checks_int32(op: Any, bufs: list[Buffer]) -> bool:
    """Whether the op's kernel checks int32 results for overflow (on each PE's real elements
    only, which depend on where the PE is in the layout: such an op runs on every PE):
    pyflame/sim/kernels/elementwise.py and reduce_matmul.py."""
    i32 = [b.dtype == np.int32 for b in bufs]
    if isinstance(op, pe.UnaryOp | pe.BinaryOp):
        return all(i32)
    if isinstance(op, pe.ConvertOp):
        return i32[0] and bufs[1].dtype.kind in "fV"
    if isinstance(op, pe.ReduceOp):
        return all(i32) and op.kind.data in ("sum", "prod")
    return False


class _StepsOnly:
    """A schedule for running a kernel again over a smaller rectangle: it keeps the steps and
    forgets the charges (the op is charged once, by its real run, for every PE)."""

    def __init__(self, s: Schedule):
        self._s = s
        self.steps: list[Step] = []
        self.clock = np.zeros_like(s.clock)
        self.busy = np.zeros_like(s.busy)
        self.flops = 0

    def charge(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __getattr__(self, name: str) -> Any:
        return getattr(self._s, name)


def _overwritten_whole(s: Schedule, first_step: int, b: Buffer) -> bool:
    """Whether the op's one step writes every element of `b` on its rectangle."""
    if len(s.steps) != first_step + 1:
        return False
    written = getattr(s.steps[first_step], "overwrites", None)
    if written is None or written[0] != b.index:
        return False
    lanes = written[1][2]
    full = s.buffers[b.index]
    return (
        isinstance(lanes, slice)
        and (lanes.start or 0) == full.first
        and lanes.stop == full.first + full.size
        and lanes.step in (None, 1)
    )


def _equal_axes(parts: list[np.ndarray]) -> tuple[bool, bool] | None:
    """(equal along rows, equal along cols) of every token array, each with more than one PE
    on that axis; None when neither holds."""
    rows = all(p.shape[0] > 1 and bool((p == p[:1, :]).all()) for p in parts)
    cols = all(p.shape[1] > 1 and bool((p == p[:, :1]).all()) for p in parts)
    return (rows, cols) if rows or cols else None


__all__ = ["ENABLED", "UniformTiles"]
