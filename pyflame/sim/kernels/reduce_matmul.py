"""Kernels of the tile-local reductions and matrix products: pe.reduce (a reduction kind of
pyflame/reductions.py over some dims of each PE's tile) and pe.matmul_acc (acc += lhs @ rhs on
every PE, batched; large ones split their PE rows over threads)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from pyflame.core import reductions
from pyflame.dialects import pe
from pyflame.sim import compiled, threads, tile_math
from pyflame.sim.costs import CostKind
from pyflame.sim.dead_transfers import overwrites
from pyflame.sim.executable import Buffer, Rect, Step
from pyflame.sim.fused_products import FusedSlot, FusedUse, put_slot, set_fused_slot
from pyflame.sim.int32_checks import all_int32, as_int32
from pyflame.sim.kernels.registry import kernel
from pyflame.sim.loop_fission import LoopPart, Span, rect_span, set_loop_part
from pyflame.sim.private_acc import Accumulates, PrivateUse, set_accumulates, set_private
from pyflame.sim.schedule import Item, Schedule
from pyflame.sim.small_tiles import reduce_into
from pyflame.sim.sram import scratch_copy
from pyflame.sim.step_access import Access, annotate

#: bytes of products computed at once by `add_products` (with the accumulator's part, they
#: stay in a core's L2 cache between the product and the add)
PRODUCT_CHUNK_BYTES = 512 << 10

#: bytes of accumulator that small tiles' lane loop (`tile_math.add_product`) takes at once:
#: it makes no product to keep in cache, and every part costs its k multiplies and adds again
#: (the MLP's weight-gradient outer products, 655 KB on 64x64 PEs: 147 -> 93 us in two parts
#: against one)
LANE_LOOP_CHUNK_BYTES = 8 << 20


def add_products(a: np.ndarray, x: np.ndarray, y: np.ndarray, assign: bool = False) -> None:
    """a += x @ y per tile, summed as `tile_math.add_product` sums (the order the tile shape
    fixes, whatever the layout), a few PE rows at a time: the whole product of a large step
    (8 MB for a 2.5D SUMMA step on 32x32 PEs) would go to memory and back before the add.
    `assign`: a holds a fill's +0.0, the product is written (`tile_math.add_product`)."""
    rows = a.shape[0]
    batch = np.broadcast_shapes(a.shape[:-2], x.shape[:-2], y.shape[:-2])
    if batch != a.shape[:-2]:  # the product is larger than the accumulator: numpy's error
        a += np.matmul(x, y)
        return
    step = _row_step(a, x, y)
    if step >= rows:
        tile_math.add_product(a, x, y, assign)
        return
    for r in range(0, rows, step):
        part = slice(r, min(r + step, rows))
        tile_math.add_product(a[part], _rows(x, part), _rows(y, part), assign)


def _row_step(a: np.ndarray, x: np.ndarray, y: np.ndarray) -> int:
    """How many PE rows `add_products` takes at a time."""
    lanes = tile_math.lane_loop(x.shape[-2], x.shape[-1], y.shape[-1])
    chunk = LANE_LOOP_CHUNK_BYTES if lanes else PRODUCT_CHUNK_BYTES
    return max(1, chunk // max(1, a[0].nbytes))


def product_call(
    a: np.ndarray, x: np.ndarray, y: np.ndarray, assign: bool = False
) -> Callable[[], None] | None:
    """`add_products(a, x, y, assign)` as a call to make again on the same arrays, when it is
    one compiled lane-loop product (`tile_math.product_call`: not split in PE rows, operands
    read where they lie); None otherwise."""
    if np.broadcast_shapes(a.shape[:-2], x.shape[:-2], y.shape[:-2]) != a.shape[:-2]:
        return None
    if _row_step(a, x, y) < a.shape[0]:
        return None  # (add_products would take a few PE rows at a time)
    return tile_math.product_call(a, x, y, assign)


def _rows(tiles: np.ndarray, rows: slice) -> np.ndarray:
    """PE rows `rows` of (rows, cols, ...) tiles; all of them when broadcast along the rows."""
    return tiles if tiles.shape[0] == 1 else tiles[rows]


@kernel(pe.ReduceOp)
def reduce(s: Schedule, it: Item, op: pe.ReduceOp) -> None:
    kind = op.kind.data
    d, src = s.buf(op.dst, it), s.buf(op.src, it)
    shape = tuple(op.shape.get_values())
    axes = tuple(int(x) + 2 for x in op.dims.get_values())
    nr, nc = it.rect[2], it.rect[3]
    dsl, ssl, di, si = d.sub(it.rect), src.sub(it.rect), d.index, src.index

    def step(V, F, A, O):  # half floats sum and multiply in float32 (reductions.reduce)
        tiles = V[si][ssl].reshape((nr, nc) + shape)
        out = V[di][dsl]
        # numpy's bits on C-contiguous tiles, whatever the SRAM's layout (tile_math); small
        # tiles by reduce_into (those bits, faster)
        if not reduce_into(kind, tiles, axes, out):
            tiles = tile_math.contiguous(tiles)
            out[...] = reductions.reduce(kind, tiles, axes).reshape(nr, nc, -1)

    if all_int32(d, src) and kind in ("sum", "prod"):  # in int64 (prod checked in float64)
        what = it.what

        def step(V, F, A, O):
            tiles = V[si][ssl].reshape((nr, nc) + shape).astype(np.int64)
            if kind == "prod":
                as_int32(reductions.reduce(kind, tiles.astype(np.float64), axes), what, kind)
            wide = reductions.reduce(kind, tiles, axes).reshape(nr, nc, -1)
            V[di][dsl] = as_int32(wide, what, kind)

    s.steps.append(overwrites(step, di, dsl))
    s.charge(it.rect, CostKind.REDUCE, src.size, d.size, reductions.KINDS[kind].flops, buf=src)


@kernel(pe.MatmulAccOp)
def matmul_acc(s: Schedule, it: Item, op: pe.MatmulAccOp) -> None:
    m, k, n = op.mkn
    nb, bl, br = op.batches  # batched: a side with batch 1 is shared (numpy broadcasting)
    acc, lhs, rhs = (s.buf(v, it) for v in (op.acc, op.lhs, op.rhs))
    s.steps.append(
        _matmul_step(
            it.what,
            it.rect,
            rect_span(it.rect),
            acc,
            lhs,
            rhs,
            (m, k, n),
            op.batches,
            op.transposes,
        )
    )
    # a shared rhs (br == 1) holds the same scalars for every batch: one FMAC covers the column
    # of all batches (a 2D DSD); otherwise each batch issues its own K*N FMACs. fp16 FMACs into
    # a float32 accumulator: the fp16 lanes, with the accumulator's 4-byte streams (its writes
    # fill the 8-byte write port at 2 lanes a cycle: half the fp16 rate, twice float32's)
    half = lhs.half
    if br == 1:
        s.charge(it.rect, CostKind.MATMUL_ACC, 1, nb * m, k, n, buf=acc, half=half)
    else:
        s.charge(it.rect, CostKind.MATMUL_ACC, nb, m, k, n, buf=acc, half=half)


def _matmul_step(
    what: str,
    rect: Rect,
    span: Span,
    acc: Buffer,
    lhs: Buffer,
    rhs: Buffer,
    mkn: tuple[int, int, int],
    batches: tuple[int, int, int],
    transposes: tuple[bool, bool],
) -> Step:
    """The run-time step of a pe.matmul_acc over the PEs of `span` (its own rectangle, or the
    strided rows of a loop's iterations: pyflame/sim/loop_fission.py); `transposes`: the lhs /
    rhs tiles are stored [k, m] / [n, k] and read as strided views. It keeps the op's `what`
    and `rect`, not its Item: the step lives as long as the plan, and an Item's frame holds
    every completion of its loop iteration (plan memory would grow with the steps)."""
    m, k, n = mkn
    nb, bl, br = batches
    lhs_t, rhs_t = transposes
    nr, nc = span.nrows, span.ncols
    asl, lsl, rsl = span.sub(acc), span.sub(lhs), span.sub(rhs)
    ai, li, ri = acc.index, lhs.index, rhs.index

    chunks = threads.row_chunks(nr, nr * nc * nb * m * k * n)

    # half floats: multiply in float32 and add into the accumulator, a float32 one (fp16
    # FMACs with fp32 accumulation) or, in IR that asks for it, a half one (rounded each step)
    low = acc.half or lhs.half or rhs.half

    ints = all_int32(acc, lhs, rhs)

    # float32 tiles only: int32 sums are checked and half floats rounded at every step
    can_fuse = nb == bl == br == 1 and all(b.dtype == np.float32 for b in (acc, lhs, rhs))

    def part(a, x, y, assign=False):
        if assign:  # (float32 only: `assigning` below)
            add_products(a, x, y, True)
        elif ints:  # int32: products and sums in int64, checked
            wide = a.astype(np.int64) + np.matmul(x.astype(np.int64), y.astype(np.int64))
            a[...] = as_int32(wide, what, "matmul")
        elif low:  # products and sums in float32, rounded once into the accumulator
            wide = a.astype(np.float32)
            tile_math.add_product(wide, x.astype(np.float32), y.astype(np.float32))
            a[...] = wide
        else:
            # per tile, in the order the tile shape fixes, whether the operands are SRAM
            # tiles, in-flight copies or views shared along PE rows / columns: the same bits
            # either way. Fewer, larger products (a PE row's tiles as one GEMM) would sum in
            # another order, and the wavelet engine, which never reads views, would give
            # other bits.
            add_products(a, x, y)

    def batched(a: np.ndarray, x: np.ndarray, y: np.ndarray) -> None:
        """a += x @ y over (rows, cols) tiles, PE rows split over threads when large."""
        split = threads.row_chunks(a.shape[0], a.size * x.shape[-1])
        if split is None:
            add_products(a, x, y)
            return
        futures = [
            threads.pool().submit(add_products, a[c], _rows(x, c), _rows(y, c)) for c in split
        ]
        for f in futures:
            f.result()

    def make_step(
        lhs_key: int | None = None,
        rhs_key: int | None = None,
        acc: PrivateUse | None = None,
        fused: FusedUse | None = None,
        assign: bool = False,
    ) -> Step:
        """The step, reading lhs / rhs from SRAM, or from an in-flight view when given its key
        (a received tile, broadcast along the PEs that share it: pyflame/sim/step_access.py);
        with `acc`, accumulating into a private contiguous copy of the accumulator
        (pyflame/sim/private_acc.py); with `fused`, one slot of a run's single product
        (pyflame/sim/fused_products.py); with `assign`, writing the product into an
        accumulator that holds a fill's zeros (fused_products.py `zero_started`)."""

        def operands(V, F):
            """The step's lhs (.., bl, m, k) and rhs (.., br, k, n) tiles, as views."""
            x = V[li][lsl] if lhs_key is None else F[lhs_key]
            y = V[ri][rsl] if rhs_key is None else F[rhs_key]
            # a transposed operand is read as a strided view of its [k, m] / [n, k] tiles
            if lhs_t:
                x = x.reshape(x.shape[0], x.shape[1], bl, k, m).swapaxes(-1, -2)
            else:
                x = x.reshape(x.shape[0], x.shape[1], bl, m, k)
            if rhs_t:
                y = y.reshape(y.shape[0], y.shape[1], br, n, k).swapaxes(-1, -2)
            else:
                y = y.reshape(y.shape[0], y.shape[1], br, k, n)
            return x, y

        if fused is not None:

            def slot_operands(V, F):
                x, y = operands(V, F)
                return x[:, :, 0], y[:, :, 0]  # (nb == bl == br == 1)

            def accumulator(V):
                return V[ai][asl].reshape(nr, nc, m, n)  # a view of the SRAM

            slot = FusedSlot(
                fused, lhs_key, rhs_key, slot_operands, accumulator, batched, ai, asl, rhs_t
            )

            def fused_step(V, F, A, O):
                x, y = slot_operands(V, F)
                put_slot(V, F, slot, x, y)

            return set_fused_slot(fused_step, slot)

        # every operand an SRAM view, the float path: the compiled product's call is kept in
        # the SRAM's `derived` (its views never move) and made again at the next runs
        keep = acc is None and lhs_key is None and rhs_key is None and chunks is None
        keep = keep and not ints and not low
        token = object()

        def step(V, F, A, O):
            derived = compiled.kept_calls(V) if keep else None
            if derived is not None:
                call = derived.get(token)
                if call is not None:
                    call()
                    return
            if acc is None:
                a = V[ai][asl].reshape(nr, nc, nb, m, n)
            else:
                if acc.load:  # (a pooled SRAM's scratch: no fresh pages to fault in)
                    F[acc.key] = scratch_copy(V, acc.key, V[ai][asl])
                a = F[acc.key].reshape(nr, nc, nb, m, n)
            x, y = operands(V, F)
            if derived is not None:
                call = product_call(a, x, y, assign)
                if call is not None:
                    derived[token] = call
                    call()
                    return
            if chunks is None:
                part(a, x, y, assign)
            else:  # numpy's batched matmul is single-threaded: split the PE rows over threads
                futures = [
                    threads.pool().submit(part, a[c], _rows(x, c), _rows(y, c), assign)
                    for c in chunks
                ]
                for f in futures:
                    f.result()
            if acc is not None and acc.store:
                V[ai][asl] = F.pop(acc.key)

        def private(use: PrivateUse) -> Step:
            return make_step(lhs_key, rhs_key, use)

        def fuse(use: FusedUse) -> Step:
            return make_step(lhs_key, rhs_key, fused=use)

        def assigning() -> Step:
            return make_step(lhs_key, rhs_key, assign=True)

        if assign:  # (a lean step: no later pass rewrites it)
            setattr(step, "assigns", True)  # noqa: B010  (tests/unit/sim/test_fused_products.py)
            # what it touches, for the passes after (deferred_replicas.py): it reads its
            # operands (as SRAM, at most) and writes all of the accumulator's part
            return annotate(overwrites(step, ai, asl), Access({li: lsl, ri: rsl}, {ai: asl}))
        if acc is None:
            info = Accumulates(
                ai,
                asl,
                (li, ri),
                private,
                fuse if can_fuse else None,
                assigning if can_fuse else None,
            )
            set_accumulates(step, info)
        else:
            set_private(step, acc)
        return step

    def rebuild(keys: dict[int, int]) -> Step:
        return make_step(keys.get(li), keys.get(ri))

    reads = {ai: asl, li: lsl, ri: rsl}
    access = Access(reads, {ai: asl}, rebuild=rebuild)
    step = annotate(make_step(), access)

    def merge(over: Span, parts: Sequence[LoopPart]) -> Step:
        return _matmul_step(what, rect, over, acc, lhs, rhs, mkn, batches, transposes)

    # the loop's iterations differ only in their PEs
    key = (ai, li, ri, mkn, batches, transposes)
    return set_loop_part(step, LoopPart(rect, key, merge))
