"""A SUMMA loop's products into one accumulator computed as one product (`Executable.run`).

A run of `pe.matmul_acc` steps into the same accumulator tiles that nothing else touches in
between (pyflame/sim/private_acc.py `accumulation_runs`: a SUMMA k-loop, one per 2.5D layer)
adds, on every PE (i, j), sum_s X_s(i, j) @ Y_s(i, j) = [X_1 ... X_p](i, j) @ [Y_1; ...; Y_p](i, j).
`fused_products` rewrites such a run so that each step copies its operands, read from where the
step would have read them (SRAM views or received messages, at the step's own time), into
slot s of two panels, and the last step adds the one product of the panels into the
accumulator in SRAM:

    matmul_acc %acc, %x1, %y1   ->  panels[1] = x1, y1
    (steps on other bytes: receives of the next tiles, sends)
    matmul_acc %acc, %xp, %yp   ->  panels[p] = xp, yp;  V[acc] += X @ Y

When every step's lhs is one tile per PE row (a row broadcast: shared along the PE columns)
and its rhs one tile per PE column, the whole grid's product is one BLAS GEMM,
(rows*m x p*k) @ (p*k x cols*n), instead of p batched products of rows*cols tiles and p adds.
Otherwise (tiles that differ on every PE) it is one batched product of (m x p*k) @ (p*k x n)
tiles. A step whose operands are laid out otherwise than the first's (one read from SRAM on
every PE in a run of broadcasts) first adds the panels filled so far (a new segment starts),
and so does a full panel (`PANEL_BYTES`).

Only the order of the additions changes (BLAS sums the k terms of all steps in its own
blocking order, as a wafer sums in its own): results agree with the step-by-step run to fp32
rounding. So `Executable.run` (its lean steps) fuses, and `run_with_sram` / `run_on_sram`,
whose SRAM is compared bit for bit, keep the step-by-step products. float32 only: int32
products are checked for overflow step by step, half floats round into the accumulator at
every step.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from pyflame.sim.dead_transfers import whole
from pyflame.sim.private_acc import accumulates_of, accumulation_runs, touches_part
from pyflame.sim.row_items import SHORT_ROW_BYTES, as_items, copy_rows
from pyflame.sim.sram import LANE_MAJOR_MAX_ITEMS, scratch_array
from pyflame.sim.step_access import buffer_conflicts, is_noop, reading_views_as

if TYPE_CHECKING:  # executable.py runs the pass: import its names for types only
    from pyflame.sim.executable import Buffer, Step

#: runs shorter than this keep their own products (one step has nothing to fuse)
MIN_FUSED_RUN = 2

#: at most this many bytes of panels per segment (a longer run adds its product in segments)
PANEL_BYTES = 64 << 20

#: bytes of one GEMM's result made at once (PE rows at a time), so that it is still in a
#: core's cache when it is added into the accumulator's tiles
RESULT_CHUNK_BYTES = 2 << 20


@dataclass(frozen=True)
class FusedUse:
    """How a step of a fused run uses the panels: in-flight key `key` (where the run keeps its
    `Panels`), the step's place `slot` in the run and the run's length `slots`."""

    key: int
    slot: int
    slots: int
    #: the run starts from zeros a fill wrote just for it: its first product is written into
    #: the accumulator, not added (`zero_started`)
    zeroed: bool = False

    @property
    def last(self) -> bool:
        return self.slot == self.slots - 1


def fused_key(buffer: int, run: int) -> int:
    """The in-flight key of the panels of accumulator `buffer`'s `run`-th fused run (below
    the keys of sends, received views, their parts and private accumulators)."""
    return -(1 << 44) - buffer - (run << 24)


#: adds a batched product into tiles: (acc, lhs, rhs) -> None (acc += lhs @ rhs)
AddProducts = Callable[[np.ndarray, np.ndarray, np.ndarray], None]


@dataclass(frozen=True, eq=False)
class FusedSlot:
    """What a fused run's step (a `pe.matmul_acc` kernel's, pyflame/sim/kernels/
    reduce_matmul.py) does with the panels: its `use`; the in-flight keys its lhs and rhs
    are read from (None: from SRAM); `operands(V, F)` -> its (x, y) tiles, x (rows | 1,
    cols | 1, m, k) and y (rows | 1, cols | 1, k, n), read from V and those keys of F;
    `accumulator(V)`, the accumulator's (rows, cols, m, n) tiles; `batched`, how a segment's
    product is added into them. pyflame/sim/sourced_panels.py reads it to fill a whole run's
    panels at its end."""

    use: FusedUse
    lhs_key: int | None
    rhs_key: int | None
    operands: Callable[[Sequence[np.ndarray], dict], tuple[np.ndarray, np.ndarray]]
    accumulator: Callable[[Sequence[np.ndarray]], np.ndarray]
    batched: AddProducts
    #: the accumulator's buffer and its part of the buffer's view (what `accumulator` reads)
    acc_buffer: int | None = None
    acc_part: tuple[Any, ...] = ()
    #: the op stores its rhs tiles [n, k] (`pe.matmul_acc rhs_transposed`: x @ W.T)
    rhs_transposed: bool = False


def set_fused_slot(step: Step, slot: FusedSlot) -> Step:
    setattr(step, "fused_slot", slot)  # noqa: B010  (a plain function has no slot)
    return step


def fused_slot(step: Step) -> FusedSlot | None:
    return getattr(step, "fused_slot", None)


def put_slot(V: Sequence[np.ndarray], F: dict, slot: FusedSlot, x: np.ndarray, y: np.ndarray):
    """One step of a fused run: its operands into the run's panels (kept in F), a segment's
    product added when the layout changes or the panels are full, and at the run's last step."""
    use = slot.use
    panels = F.get(use.key)
    if panels is None or not panels.fits(x, y):
        first = panels is None
        if panels is not None:  # another layout or a full panel: a new segment
            panels.add_into(slot.accumulator(V), V, slot.batched)
        panels = F[use.key] = Panels(V, use, x, y, slot.rhs_transposed)
        panels.assign = first and use.zeroed  # (the run's zeros not written)
    panels.put(x, y)
    if use.last:
        panels.add_into(slot.accumulator(V), V, slot.batched)
        del F[use.key]


class Panels:
    """The operands of a fused run's steps so far, side by side along k. `x` tiles
    (rows | 1, cols | 1, m, k), `y` tiles (rows | 1, cols | 1, k, n), as the step reads
    them (a shared operand broadcast along its PE axis)."""

    def __init__(
        self,
        V: Sequence[np.ndarray],
        use: FusedUse,
        x: np.ndarray,
        y: np.ndarray,
        rhs_transposed: bool = False,
    ):
        self.x_shape, self.y_shape = x.shape, y.shape
        (xr, xc, m, k), (yr, yc, _, n) = x.shape, y.shape
        dtype = np.result_type(x, y)
        #: one GEMM over the grid: lhs one tile per PE row, rhs one per PE column
        self.gemm = xc == 1 and yr == 1
        #: one GEMM per (i, j) element of the tiles (`block_products`): decided by the
        #: shapes alone, so that the result's bits do not depend on the SRAM's layout
        self.blocks = self.gemm and block_products(xr, m, yc, n)
        #: the GEMM's rhs columns ordered (n, PE col), not (PE col, n): lane-major tiles
        #: (lane j of every PE one plane) fill it and take its result a plane row at a time.
        #: Decided by the tiles' shapes (small tiles: the ones SRAM holds lane-major), not
        #: by their layout: BLAS's bits depend on the columns' order (OpenBLAS on AMD Zen
        #: gave other bits for a 4x4 grid's products in the two orders)
        self.cols_last = self.gemm and (self.blocks or max(m, k) * n <= LANE_MAJOR_MAX_ITEMS)
        self.slots = panel_slots(use, x, y)
        self.k = k
        #: the GEMM's K ordered (tile element, slot), not (slot, tile element): small tiles
        #: (the ones SRAM holds lane-major, each element a plane of every PE's) are copied in
        #: rows of one element over the slots' PEs instead of one element at a time (the MLP's
        #: forward lhs, 1x13 tiles of 61 PE columns: 52 -> 11 us alone). Decided by the
        #: shapes, as `cols_last` is: the order fixes the bits
        self.k_major = self.cols_last and k > 1
        #: the GEMM's rhs held as its transpose, (N, K) in rows of K, when the op stores its
        #: rhs tiles [n, k] (x @ W.T: a Linear's forward). Its usual source, the weight as the
        #: last step's update left it ([r, c] planes of a device array, read on the transposed
        #: grid: pyflame/sim/sourced_panels.py), fills it along rows of PEs: 42 us for the
        #: MLP's 784x256, against 148 us into (K, N), which only a copy onto the transposed
        #: grid first (82 us) made a straight copy. Decided by the op, not by where the tiles
        #: are: BLAS's bits may depend on the rhs's order in memory
        self.rhs_nk = self.gemm and not self.blocks and rhs_transposed
        self.filled = 0
        width = self.slots * k
        # (scratch arrays of the SRAM: kept for its next run, no fresh pages to fault in)
        self.x = scratch_array(V, (use.key, use.slot, "x"), (xr, xc, m, width), dtype)
        if self.gemm:  # (p*k, cols, n): its (p*k, cols*n) reshape is the GEMM's rhs
            shape = (width, n, yc) if self.cols_last else (width, yc, n)
            if self.rhs_nk:  # (held (n, cols, p*k) or (cols, n, p*k): its transpose)
                held = scratch_array(V, (use.key, use.slot, "yt"), (*shape[1:], width), dtype)
                self.y = held.transpose(2, 0, 1)
            else:
                self.y = scratch_array(V, (use.key, use.slot, "y"), shape, dtype)
        else:
            self.y = scratch_array(V, (use.key, use.slot, "y"), (yr, yc, width, n), dtype)
        self._key = use.key, use.slot
        #: the run's first segment of a zero-started run: its product is written, not added
        self.assign = False

    def fits(self, x: np.ndarray, y: np.ndarray) -> bool:
        """Whether the next step's operands go into these panels."""
        return self.filled < self.slots and x.shape == self.x_shape and y.shape == self.y_shape

    def put(self, x: np.ndarray, y: np.ndarray) -> None:
        """Copy one step's operands into the next slot."""
        self.put_all((x,), (y,))

    def put_all(self, xs: Sequence[np.ndarray], ys: Sequence[np.ndarray]) -> None:
        """Copy several steps' operands into the next slots (one concatenation per operand).
        Rows of a few lanes (the MLP's tiles: 13 and 4 floats) are moved as single items of a
        void type as wide as the row (`as_items`): numpy's copy otherwise runs one inner loop
        per row (several times slower, the same bytes)."""
        if self.k_major:  # (slot by slot, each tile element into its part of K)
            x5, y4 = self._by_element()
            for j, (x, y) in enumerate(zip(xs, ys, strict=True)):
                x5[..., self.filled + j] = x
                y4[:, self.filled + j] = y[0].transpose(1, 2, 0)  # (cols, k, n) -> (k, n, cols)
            self.filled += len(xs)
            return
        lo, hi = self.filled * self.k, (self.filled + len(xs)) * self.k
        _concatenate(xs, self.x[..., lo:hi], -1, self.k)
        n = self.y.shape[-1]
        if self.cols_last:  # (cols, k, n) -> (k, n, cols)
            _concatenate([y[0].transpose(1, 2, 0) for y in ys], self.y[lo:hi], 0, n)
        elif self.gemm:  # (cols, k, n) -> (k, cols, n)
            _concatenate([y[0].transpose(1, 0, 2) for y in ys], self.y[lo:hi], 0, n)
        else:
            _concatenate(ys, self.y[:, :, lo:hi, :], 2, n)
        self.filled += len(xs)

    def put_stacked(self, xs: np.ndarray, ys: np.ndarray) -> None:
        """`put_all` of operands given as one array each, (slots, *x tile shape) and
        (slots, *y tile shape) (`stacked`): one copy per operand, however many slots."""
        p, k = xs.shape[0], self.k
        if self.k_major:  # (slots, ..., k) -> (..., k, slots): rows along the slots
            x5, y4 = self._by_element()
            lo, hi = self.filled, self.filled + p
            copy_rows(x5[..., lo:hi], xs.transpose(1, 2, 3, 4, 0), p)
            copy_rows(y4[:, lo:hi], ys[:, 0].transpose(2, 0, 3, 1), y4.shape[-1])
            self.filled += p
            return
        lo, hi = self.filled * k, (self.filled + p) * k
        xr, xc, m, _ = self.x.shape
        copy_rows(split_view(self.x[..., lo:hi], (xr, xc, m, p, k)), xs.transpose(1, 2, 3, 0, 4), k)
        n = self.y.shape[-1]
        if self.cols_last:  # (slots, 1, cols, k, n) -> (slots, k, n, cols)
            out = split_view(self.y[lo:hi], (p, k, *self.y.shape[1:]))
            copy_rows(out, ys[:, 0].transpose(0, 2, 3, 1), n)
        elif self.gemm:  # (slots, 1, cols, k, n) -> (slots, k, cols, n)
            out = split_view(self.y[lo:hi], (p, k, self.y.shape[1], n))
            copy_rows(out, ys[:, 0].transpose(0, 2, 1, 3), n)
        else:
            yr, yc = self.y.shape[:2]
            out = split_view(self.y[:, :, lo:hi], (yr, yc, p, k, n))
            copy_rows(out, ys.transpose(1, 2, 0, 3, 4), n)
        self.filled += p

    def _by_element(self) -> tuple[np.ndarray, np.ndarray]:
        """The k-major panels as (rows | 1, 1, m, k, slots) and (k, slots, n, cols) views."""
        xr, xc, m, _ = self.x.shape
        _, n, yc = self.y.shape
        return (
            split_view(self.x, (xr, xc, m, self.k, self.slots)),
            split_view(self.y, (self.k, self.slots, n, yc)),
        )

    def _filled(self) -> tuple[np.ndarray, np.ndarray]:
        """The filled part of the panels: x (.., m, width), y (width, ...) (GEMM) or
        (.., width, n), in the GEMM's K order (a k-major segment cut short is compacted)."""
        width = self.filled * self.k
        if not self.k_major:
            y = self.y[:width] if self.gemm else self.y[:, :, :width, :]
            return self.x[..., :width], y
        if self.filled == self.slots:
            return self.x, self.y
        x5, y4 = self._by_element()  # (a copy each: the slots left empty dropped)
        x = x5[..., : self.filled].reshape(*self.x.shape[:3], width)
        return x, y4[:, : self.filled].reshape(width, *self.y.shape[1:])

    def add_into(self, a: np.ndarray, V: Sequence[np.ndarray], batched: AddProducts) -> None:
        """a += (the filled slots' product); a is the (rows, cols, m, n) accumulator tiles."""
        width = self.filled * self.k
        x, y = self._filled()
        if not self.gemm:
            if self.assign:
                a[...] = 0.0
            batched(a, x, y)
            return
        xr, m = x.shape[0], x.shape[2]
        yc, n = self.y.shape[1], self.y.shape[2]
        if self.cols_last:
            n, yc = yc, n
        if self.blocks:
            self._add_blocks(a, V, x.reshape(xr, m, width), y)
            return
        rhs = y.reshape(width, yc * n)
        lhs = x.reshape(xr, m, width)  # (PE rows, m, p*k): a view (its rows are strided)
        step = max(1, RESULT_CHUNK_BYTES // max(1, m * yc * n * a.itemsize))
        step = min(step, xr)
        out = scratch_array(V, (*self._key, "out"), (step * m, yc * n), a.dtype)
        if self.rhs_nk:
            out_t = scratch_array(V, (*self._key, "out_t"), (yc * n, step * m), a.dtype)
        for r in range(0, xr, step):
            nr = min(step, xr - r)
            part = out[: nr * m]
            rows_lhs = lhs[r : r + nr].reshape(nr * m, width)
            if self.rhs_nk:
                # the product transposed, (N, K) @ (K, rows): BLAS reads the large panel in
                # rows as its lhs (the MLP's forward: 330 us with it as a transposed rhs,
                # 305 so); taken back in the accumulator's order below
                shapes = (rhs.T.shape, rows_lhs.T.shape, "CF")
                np.matmul(rhs.T, rows_lhs.T, out=out_t[:, : nr * m])
                if self.cols_last:
                    part = out_t[:, : nr * m].T
                else:
                    np.copyto(part, out_t[:, : nr * m].T)
            else:
                shapes = (rows_lhs.shape, rhs.shape, "CC")
                np.matmul(rows_lhs, rhs, out=part)
            # (rows, m, cols, n) -> the accumulator's (rows, cols, m, n); a lhs shared by
            # every PE row (xr == 1) adds to all of them, a rhs shared by every column alike
            rows = slice(None) if xr == 1 else slice(r, r + nr)
            if self.cols_last:  # (rows, m, n, cols): a plane row of the accumulator each
                planes = part.reshape(nr, m, n, yc).transpose(0, 3, 1, 2)
                if self.assign and zero_sums_positive(*shapes, a.dtype):
                    np.copyto(a[rows], planes)  # (no -0.0 to make +0.0: a copy, 2x faster)
                elif self.assign:
                    np.add(planes, np.float32(0.0), out=a[rows])  # (+ 0.0: as below)
                else:
                    a[rows] += planes
                continue
            tiles = part.reshape(nr, m, yc, n)
            if self.assign:
                if not zero_sums_positive(*shapes, a.dtype):
                    np.add(part, np.float32(0.0), out=part)  # (-0.0 -> +0.0, as added to zeros)
                copy_rows(a[rows], tiles.transpose(0, 2, 1, 3), n)
            else:
                add_transposed(a[rows], tiles, V, (*self._key, "tiles"))

    def _add_blocks(self, a: np.ndarray, V: Sequence[np.ndarray], lhs: np.ndarray, rhs: np.ndarray):
        """a += the product, one GEMM per element (i, j) of the tiles: the (PE rows x PE cols)
        plane of element (i, j) is lhs's rows of element i (rows, p*k) @ rhs's columns of
        element j (p*k, cols), all of them in one batched np.matmul. On lane-major tiles
        (each element a plane of every PE's) the planes are the accumulator's own and BLAS
        writes them in place: no result to scatter into tiles of a few lanes (the MLP's
        weight gradient, 4x13 tiles on 64x64 PEs: its 0.85 MB scatter gone)."""
        xr, m, width = lhs.shape
        n, yc = rhs.shape[1], rhs.shape[2]
        left = lhs.transpose(1, 0, 2)[:, None]  # (m, 1, rows, p*k)
        right = rhs.transpose(1, 0, 2)[None]  # (1, n, p*k, cols)
        planes = a.transpose(2, 3, 0, 1)  # (m, n, rows, cols)
        # PE rows at a time (each part still in cache when added), the same parts whether
        # BLAS writes the planes in place or a scratch array: the same GEMMs, the same bits
        step = max(1, min(xr, RESULT_CHUNK_BYTES // max(1, m * n * yc * a.itemsize)))
        direct = self.assign and planes.strides[2:] == (yc * a.itemsize, a.itemsize)
        out = (
            None if direct else scratch_array(V, (*self._key, "blocks"), (m, n, step, yc), a.dtype)
        )
        for r in range(0, xr, step):
            rows = slice(r, min(r + step, xr))
            part = planes[:, :, rows] if out is None else out[:, :, : rows.stop - r]
            lhs_rows = left[:, :, rows]
            np.matmul(lhs_rows, right, out=part)
            if self.assign:  # (+ 0.0: as added to the fill's zeros; BLAS's own zeros may do)
                positive = zero_sums_positive(lhs_rows.shape, right.shape, "CC", a.dtype)
                if out is not None or not positive:
                    np.add(part, np.float32(0.0), out=planes[:, :, rows])
            else:
                planes[:, :, rows] += part


#: by (lhs shape, rhs shape, dtype): whether np.matmul of them gives +0.0, never -0.0, for a
#: sum whose every product is -0.0 (`zero_sums_positive`)
_POSITIVE_ZERO_SUMS: dict[tuple[Any, ...], bool] = {}


def zero_sums_positive(
    lhs: tuple[int, ...], rhs: tuple[int, ...], orders: str, dtype: np.dtype
) -> bool:
    """Whether np.matmul of operands of these shapes, in these memory orders ("CF": lhs C,
    rhs F), starts every sum from +0.0, as a fill's zeros plus the products would (the
    step-by-step run, the wavelet engine): then no sum is -0.0 (from +0.0, round-to-nearest
    gives -0.0 for no sum), and a written product needs no `+ 0.0` pass over it. numpy's own
    loop starts from 0; BLAS kernels zero their accumulators, but a BLAS that started from
    the first product would give -0.0 where every product is -0.0: asked once per shapes
    and orders, with exactly such operands."""
    key = (lhs, rhs, orders, np.dtype(dtype).str)
    known = _POSITIVE_ZERO_SUMS.get(key)
    if known is None:
        left, right = np.full(lhs, -1.0, dtype), np.zeros(rhs, dtype)
        left = np.asfortranarray(left) if orders[0] == "F" else left
        right = np.asfortranarray(right) if orders[1] == "F" else right
        probe = np.matmul(left, right)
        known = _POSITIVE_ZERO_SUMS[key] = not np.signbit(probe).any()
    return known


#: at most this many elements in a tile's product (m x n) for one GEMM per element
#: (`block_products`); larger tiles (a GEMM's 32x32) keep one GEMM over the grid
MAX_BLOCK_PRODUCTS = 64

#: at least this many PEs along each side of the grid for one GEMM per element: each GEMM
#: is (rows x p*k) @ (p*k x cols), too small for BLAS below
MIN_BLOCK_SIDE = 32


def block_products(rows: int, m: int, cols: int, n: int) -> bool:
    """Whether a grid's product of (m x k) by (k x n) tiles on rows x cols PEs is one GEMM per
    tile element (`Panels._add_blocks`) rather than one over the grid (small tiles of a
    large grid: the MLP's weight gradient, 4x13). Tiles of one row or one column (the MLP's
    forward, 1x4) stay one GEMM: its (element, PE column) columns are already one matrix,
    and one GEMM beats one per element (the forward's whole step, warm: 455 -> 430 us)."""
    return m > 1 and n > 1 and m * n <= MAX_BLOCK_PRODUCTS and min(rows, cols) >= MIN_BLOCK_SIDE


def panel_slots(use: FusedUse, x: np.ndarray, y: np.ndarray) -> int:
    """How many of a run's steps, from `use`'s on, one segment's panels hold, for operands
    like `x` (rows | 1, cols | 1, m, k) and `y` (rows | 1, cols | 1, k, n)."""
    (xr, xc, m, k), (yr, yc, _, n) = x.shape, y.shape
    per_slot = (xr * xc * m * k + yr * yc * k * n) * np.result_type(x, y).itemsize
    return max(1, min(use.slots - use.slot, PANEL_BYTES // max(1, per_slot)))


def stacked(parts: Sequence[np.ndarray]) -> np.ndarray | None:
    """`parts` as one (len(parts), *shape) view, when they are views of one array, alike in
    shape, type and strides, and start equally far apart in it (a SUMMA's operands: the
    tiles of successive PE columns or rows of one buffer); None otherwise. A copy from it
    into the panels is one numpy call instead of one per part."""
    first = parts[0]
    root = root_of(first)
    if root is None or any(
        p.shape != first.shape or p.strides != first.strides or p.dtype != first.dtype
        for p in parts
    ):
        return None
    if any(root_of(p) is not root for p in parts):
        return None
    starts = [p.__array_interface__["data"][0] for p in parts]
    step = starts[1] - starts[0] if len(parts) > 1 else 0
    if any(b - a != step for a, b in zip(starts, starts[1:], strict=False)):
        return None
    return np.lib.stride_tricks.as_strided(
        first, (len(parts), *first.shape), (step, *first.strides), writeable=False
    )


def root_of(a: np.ndarray) -> np.ndarray | None:
    """The array owning `a`'s memory (None when `a` owns it: not a view). A view made by
    `as_strided` has numpy's DummyArray between it and the array it views: followed too."""
    root = None
    base = a.base
    while base is not None:
        if isinstance(base, np.ndarray):
            root = base
        base = getattr(base, "base", None)
    return root


def split_view(a: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """`a` reshaped to `shape` as a view; raises rather than copy (writes to a copy are lost),
    as `sram.tiles` does for a buffer's tiles."""
    try:
        return np.reshape(a, shape, copy=False)
    except ValueError:
        raise ValueError(f"reshaping {a.shape} to {shape} would copy") from None


def _concatenate(parts: Sequence[np.ndarray], out: np.ndarray, axis: int, width: int) -> None:
    """np.concatenate(parts, axis, out=out), rows of `width` elements moved as items."""
    items = [as_items(p, width) for p in parts]
    into = as_items(out, width)
    if into is not None and all(v is not None for v in items):
        parts, out = [v for v in items if v is not None], into
    if len(parts) == 1:
        np.copyto(out, parts[0])
    else:
        np.concatenate(parts, axis=axis, out=out)


def add_transposed(acc: np.ndarray, part: np.ndarray, V: Sequence[np.ndarray], key: tuple) -> None:
    """acc (rows, cols, m, n) += part (rows, m, cols, n) (a contiguous GEMM result; acc may
    have one row that broadcasts). numpy's add of the transposed view runs one inner loop per
    tile row: with rows of a few lanes (the MLP's tiles of 4 floats) that loop's overhead is
    the whole cost. So short rows are first copied as single items (a void type n lanes wide)
    into a scratch array in the accumulator's order, then added with whole tiles as the
    inner loop: ~5x faster for 4-lane rows, the same numbers added in the same order."""
    nr, m, yc, n = part.shape
    row_bytes = n * part.itemsize
    tile_contiguous = acc.strides[3] == part.itemsize and acc.strides[2] == row_bytes
    if row_bytes > SHORT_ROW_BYTES or m == 1 or not tile_contiguous:
        acc += part.transpose(0, 2, 1, 3)
        return
    row = np.dtype(f"V{row_bytes}")
    ordered = scratch_array(V, key, (nr, yc, m, n), part.dtype)
    ordered.reshape(nr, yc, m * n).view(row)[...] = (
        part.reshape(nr, m, yc * n).view(row).transpose(0, 2, 1)
    )
    acc += ordered


def fused_products(
    steps: Sequence[Step], planned: Sequence[Step], buffers: Sequence[Buffer]
) -> list[Step]:
    """`steps` (derived from the plan's steps `planned` one for one) with each run of at least
    MIN_FUSED_RUN accumulations into the same tiles, that nothing else touches in between and
    that can all fuse, made one product added by the run's last step."""
    out = list(steps)
    # (runs of one step too: the single products over a fill, `_assign_single_products`)
    runs = accumulation_runs(steps, planned, buffers, lambda info: info.fused is not None, 1)
    fusing = [
        run for run in runs if len(run) >= MIN_FUSED_RUN and all(_fuses(steps[s]) for s in run)
    ]
    zeroed, fills = zero_started(fusing, steps, planned, buffers)
    for j in fills:
        out[j] = _zeros_written_by_the_run
    for n_run, run in enumerate(fusing):
        infos = [accumulates_of(steps[s]) for s in run]
        first = infos[0]
        assert first is not None
        key = fused_key(first.buffer, n_run)
        for slot, (s, info) in enumerate(zip(run, infos, strict=True)):
            assert info is not None and info.fused is not None
            use = FusedUse(key, slot, len(run), zeroed=n_run in zeroed)
            out[s] = reading_views_as(set_fused(info.fused(use), use), steps[s])
    singles = [run for run in runs if len(run) == 1]
    _assign_single_products(out, steps, planned, buffers, fills, singles)
    return out


def _assign_single_products(
    out: list[Step],
    steps: Sequence[Step],
    planned: Sequence[Step],
    buffers: Sequence[Buffer],
    taken: set[int],
    runs: Sequence[Sequence[int]],
) -> None:
    """Each product into tiles that only a fill of zeros wrote before it, and that no other
    product adds into next (a local matmul: `pe.fill 0` then one `pe.matmul_acc`), made to
    write its product instead of adding it (`Accumulates.assigning`), its fill writing
    nothing: the same numbers (+0.0 plus the product), one pass over the tiles instead of
    the fill's, the product's temporary and the add's. In `out`, from `steps`; `runs`: the
    accumulation runs of one step; fills in `taken` belong to fused runs already."""
    singles = [run for run in runs if getattr(accumulates_of(steps[run[0]]), "assigning", None)]
    if not singles:
        return
    zeroed, fills = zero_started(singles, steps, planned, buffers)
    if fills & taken:
        return  # (a fill shared with a fused run: leave both as they are)
    for j in fills:
        out[j] = _zeros_written_by_the_run
    for n in zeroed:
        (s,) = singles[n]
        info = accumulates_of(steps[s])
        assert info is not None and info.assigning is not None
        out[s] = reading_views_as(info.assigning(), steps[s])


def _fuses(step: Step) -> bool:
    """A step that can be one slot of a fused run (not another element type, batched tiles)."""
    info = accumulates_of(step)
    return info is not None and info.fused is not None


def _zeros_written_by_the_run(V, F, A, O) -> None:
    """A fill of zeros that the fused runs after it write over whole (`zero_started`): it
    stays a step, so the plan's record of its write still tells a kept SRAM that those bytes
    need no zeroing (pyflame/sim/written_first.py), but writes nothing."""


setattr(_zeros_written_by_the_run, "no_sram", True)  # noqa: B010  (step_access.touches_no_sram)


def zero_started(
    runs: Sequence[Sequence[int]], steps: Sequence[Step], planned: Sequence[Step], buffers
) -> tuple[set[int], set[int]]:
    """(the runs, by index, that start from zeros; the fill steps they make unnecessary). A
    fill of +0.0 over a whole accumulator whose every element belongs to runs that nothing
    touches between the fill and them (the fill before a SUMMA, or before a 2.5D SUMMA's
    layers: one run per layer's rows) is folded into them: each run's first product is
    written into its tiles instead of added to zeros (the fill's pass over the accumulator
    and the add's read of it; a GEMM 1024^3 run on 32x32 PEs without them: ~10% less CPU,
    measured under load). The same numbers: x + 0.0 for every product x."""
    if not runs:
        return set(), set()
    conflicts = buffer_conflicts(buffers)
    by_fill: dict[int, list[int]] = {}
    for n, run in enumerate(runs):
        info = accumulates_of(steps[run[0]])
        assert info is not None
        j = run[0] - 1
        while j >= 0:
            fill = _zero_fill_of(planned[j], info.buffer, buffers)
            if fill:
                by_fill.setdefault(j, []).append(n)
                break
            if not is_noop(steps[j]) and touches_part(planned[j], info.buffer, info.sel, conflicts):
                break
            j -= 1
    zeroed: set[int] = set()
    fills: set[int] = set()
    for j, ns in by_fill.items():
        sels = []
        for n in ns:
            info = accumulates_of(steps[runs[n][0]])
            assert info is not None
            sels.append(info.sel)
        buffer = accumulates_of(steps[runs[ns[0]][0]])
        assert buffer is not None
        if _cover(buffers[buffer.buffer], sels):
            zeroed.update(ns)
            fills.add(j)
    return zeroed, fills


def _zero_fill_of(step: Step, buffer: int, buffers) -> bool:
    """Whether `step` fills all of `buffer` with +0.0."""
    value = getattr(step, "fill_value", None)
    written = getattr(step, "overwrites", None)
    return (
        value == 0.0
        and np.copysign(1.0, value) > 0
        and written is not None
        and written[0] == buffer
        and whole(buffers[buffer], written[1])
    )


#: the largest accumulator (PEs x elements) whose cover by runs is checked element by element
COVER_LIMIT = 1 << 24


def _cover(b: Buffer, sels: Sequence[tuple]) -> bool:
    """Whether the runs' parts `sels` ((rows, cols, lanes) slices) cover all of buffer `b`."""
    rows, cols, size = b.rect[2], b.rect[3], b.size
    if any(len(sel) != 3 or not all(isinstance(x, slice) for x in sel) for sel in sels):
        return False
    if rows * cols * size > COVER_LIMIT:
        # big: each part must hold every lane, and their PEs cover the buffer's
        if any(sel[2].indices(size) != (0, size, 1) for sel in sels):
            return False
        mask = np.zeros((rows, cols), dtype=bool)
        for sel in sels:
            mask[sel[0], sel[1]] = True
        return bool(mask.all())
    full = np.zeros((rows, cols, size), dtype=bool)
    for sel in sels:
        full[sel] = True
    return bool(full.all())


def set_fused(step: Step, use: FusedUse) -> Step:
    """Mark `step` as one slot of a fused run (`fused_use` reads it back)."""
    setattr(step, "fused_use", use)  # noqa: B010  (a plain function has no slot)
    return step


def fused_use(step: Step) -> FusedUse | None:
    return getattr(step, "fused_use", None)


__all__ = [
    "MIN_FUSED_RUN",
    "PANEL_BYTES",
    "FusedSlot",
    "FusedUse",
    "Panels",
    "add_transposed",
    "fused_key",
    "fused_products",
    "fused_slot",
    "fused_use",
    "panel_slots",
    "put_slot",
    "root_of",
    "set_fused_slot",
    "split_view",
    "stacked",
]
