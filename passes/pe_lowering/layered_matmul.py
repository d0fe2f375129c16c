"""2.5D SUMMA (`mesh.matmul summa25d`): longer vector instructions from c layers of PE rows.

A tile matmul costs k*n FMACs of length m, each with a fixed issue cost (pyflame/core/
vector_costs.py), so SUMMA with m x m blocks is capped at m / (m + issue) of the compute bound
(32 / 37 = 0.865 for 32x32 blocks). Here every PE computes a block c times taller over a c-th of
the contraction dim, so its FMACs are c * m long, and the c partial results are then summed:

- Layers: PE row r belongs to layer r mod c and holds the partial sum, over the K blocks
  s = l (mod c) of its layer l, of the C row blocks r, r+1, ..., r+c-1 (mod g), stacked into
  one tall accumulator [c*m, n]. Every C row block is covered by c consecutive PE rows, one of
  each layer, so the partials add up to the whole contraction.
- Gather (once): c - 1 ring shifts up the PE columns give every PE its panel, the A blocks of
  rows r .. r+c-1 of its column stacked [c*m, k]; the rows of layer l then rotate their panels
  l PEs west along their row ring, so that PE column c*q holds, in every row, the panel of K
  block c*q + l that its layer multiplies at step q.
- Steps (double-buffered, as SUMMA): at step q PE column c*q multicasts its panels along the
  rows (one channel for every row) and PE row c*q + l multicasts its B block down its column
  to the rows of layer l only (a channel per layer, passing through the other layers'
  routers). With `splits` > 1 a step multiplies a [c*m, w] piece of the panel by the
  matching rows of the B block, so that the buffers fit the SRAM; the widths w of a K block's
  pieces differ by at most one where `splits` does not divide k.
- Reduction (once): the accumulator is cut into its c row blocks; c - 1 ring steps down the PE
  columns add block c-j of each PE into block c-j-1 of the next, leaving every PE with the
  whole of its own C block: the natural [r, c] layout.

The rows of one layer are every c-th PE row: the ops only they run (B's receive and the tile
matmul of a step, a layer's row rotation) are `pe.loop`s over the g/c row groups whose
rectangle moves c rows per iteration; the steps are a `pe.loop` over periods of
lcm(2, splits) steps with those loops nested inside, and the multicasts' routes are route
loops along the lines, so the pe IR does not grow with g.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from xdsl.ir import SSAValue

from pyflame.core.target import Target
from pyflame.dialects import mesh, pe
from pyflame.dialects.mesh import dist_of
from pyflame.dialects.pe import Port
from pyflame.passes.layouts import elem_bytes_of
from pyflame.passes.pe_lowering.loops import Emit, LoopBody, at_top
from pyflame.passes.pe_lowering.shift_matmul import natural_ring, ring_channel
from pyflame.passes.pe_lowering.state import PELowering, Rect, Rule, row_broadcast_from
from pyflame.passes.scratch import LayeredPlan, layered_plan


def plan_for(op: mesh.MatmulOp, target: Target) -> LayeredPlan | None:
    """The 2.5D plan of `op` on `target` (the same for the lowering and the cost model): what
    the operands and the result leave of the usable SRAM goes to its buffers."""
    a, b, c = dist_of(op.lhs), dist_of(op.rhs), dist_of(op.result)
    if len({d.origin for d in (a, b, c)}) > 1:
        return None  # one grid for the three (lower-mesh-to-pe moves its rectangles there)
    if any(op.transposes):
        return None  # its gather reads A's block columns in place: a transposed operand, SUMMA
    if mesh.elem_of(op.result) != mesh.elem_of(op.lhs):
        return None  # its panels and partial sums hold one element type: a half product, SUMMA
    eb = elem_bytes_of(op.result.type.element_type)
    spare = target.usable_sram_bytes - eb * (a.local_elems + b.local_elems + c.local_elems)
    lanes = (target.flops_per_cycle_fp16 if eb == 2 else target.flops_per_cycle) // 2
    return layered_plan(
        a, b, eb, spare, target.num_colors, lanes=max(lanes, 1), issue=target.vector_issue_cycles
    )


def layer_col_broadcast(g: int, roots: Sequence[int], layer: int, layers: int) -> tuple[Rule, ...]:
    """PE rows `roots` (all of layer `layer`) multicast down and up their columns to the rows
    of that layer; the other rows' routers pass the stream on. Each stream goes only as far as
    the last receiver on its side."""
    receivers = [r for r in range(g) if r % layers == layer]
    first_root, last_root = min(roots), max(roots)
    lowest, highest = min(receivers), max(receivers)
    rules: list[Rule] = []
    for r in range(g):
        ramp = (Port.RAMP,) if r % layers == layer else ()
        if r in roots:
            out = (*((Port.NORTH,) if lowest < r else ()), *((Port.SOUTH,) if highest > r else ()))
            rules.append(((r, 0, 1, g), Port.RAMP, (*out, Port.RAMP)))
        if first_root < r:  # a stream from above: on down while a receiver is below
            out = ((Port.SOUTH,) if highest > r else ()) + ramp
            if out:
                rules.append(((r, 0, 1, g), Port.NORTH, out))
        if last_root > r:  # a stream from below: on up while a receiver is above
            out = ((Port.NORTH,) if lowest < r else ()) + ramp
            if out:
                rules.append(((r, 0, 1, g), Port.SOUTH, out))
    return tuple(rules)


def layer_rows(
    lw: PELowering,
    plan: LayeredPlan,
    layer: int,
    body: Callable[[Emit], None],
    parent: Emit | None = None,
) -> None:
    """Run `body` on the PE rows of `layer` (every c-th row): a pe.loop over the g / c row
    groups whose ops move c rows per iteration (`body` emits on rectangle (layer, 0, 1, g)),
    at the top or inside the loop `parent` emits into."""
    groups = plan.g // plan.layers
    step: Rect = (plan.layers, 0, 0, 0)
    if groups == 1:
        body(parent or at_top(lw))
        return
    loop = LoopBody(lw, 0, groups, [], parent)
    body(lambda op, _step=None: loop.emit(op, step))
    loop.finish()


def lower_layered_matmul(
    op: mesh.MatmulOp, lw: PELowering, acc_result: SSAValue, plan: LayeredPlan
) -> None:
    """Gather the panels, run the steps, reduce into `acc_result` (the op's result buffer)."""
    g, c, m, k, n = plan.g, plan.layers, plan.m, plan.k, plan.n
    rect: Rect = (0, 0, g, g)
    elem = op.result.type.element_type
    bufs = plan.buffers()

    def alloc(name: str) -> SSAValue:
        return lw.alloc(rect, bufs[name], elem, f"summa25d_{name}")

    # ---- gather: panel rows r .. r+c-1 of the PE's column, then layer l rotates l PEs west
    a_own, b_own = lw.buf(op.lhs), lw.buf(op.rhs)
    panel = alloc("panel")
    lw.emit(
        pe.UnpackOp(panel, a_own, axis="r", shape=(c, m, k), dim=0, count=1, at=(0, 0), pes=rect)
    )
    up = ring_channel(lw, natural_ring(g), [True] * g, transposed=True)
    temps = [alloc("gather_a"), alloc("gather_b")]
    source = a_own
    for d in range(1, c):
        into = temps[d % 2]
        sent = lw.emit(pe.SendOp(source, color=up, pes=rect, asynchronous=True))
        got = lw.emit(pe.RecvOp(into, color=up, pes=rect, asynchronous=True))
        lw.emit(pe.WaitOp(sent.results[0], got.results[0], pes=rect))
        lw.emit(
            pe.UnpackOp(panel, into, axis="r", shape=(c, m, k), dim=0, count=1, at=(d, 0), pes=rect)
        )
        source = into
    if c > 1:
        west = ring_channel(lw, natural_ring(g), [True] * g, transposed=False)
        shift = alloc("shift")
        for layer in range(1, c):

            def rotate(emit: Emit, times: int = layer) -> None:
                line: Rect = (times, 0, 1, g)
                for _ in range(times):
                    sent = emit(pe.SendOp(panel, color=west, pes=line, asynchronous=True))
                    got = emit(pe.RecvOp(shift, color=west, pes=line, asynchronous=True))
                    emit(pe.WaitOp(sent.results[0], got.results[0], pes=line))
                    emit(pe.CopyOp(panel, shift, pes=line))

            layer_rows(lw, plan, layer, rotate)

    # ---- the pieces each step sends: (buffer, window); B's rows [o, o + w) are one run of
    # its block's elements, sent as a window of it (no copy) where it starts on a wavelet
    a_pieces: list[SSAValue] = [panel]
    b_pieces: list[tuple[SSAValue, tuple[int, int] | None]] = [(b_own, None)]
    if plan.splits > 1:
        a_pieces, b_pieces = [], []
        for h, (start, w) in enumerate(zip(plan.offsets, plan.widths, strict=True)):
            ap = alloc(f"panel{h}")
            lw.emit(pe.PackOp(ap, panel, shape=(c * m, k), dim=1, start=start, count=w, pes=rect))
            a_pieces.append(ap)
            if plan.b_windowed:
                b_pieces.append((b_own, (start * n, w * n)))
                continue
            bp = alloc(f"bpiece{h}")
            lw.emit(pe.PackOp(bp, b_own, shape=(k, n), dim=0, start=start, count=w, pes=rect))
            b_pieces.append((bp, None))

    # ---- the steps
    acc = alloc("acc")
    lw.emit(pe.FillOp(acc, value=0.0, pes=rect))
    # step s receives piece s % splits into buffer parity s % 2 (pieces of two widths: a
    # buffer for each width a parity takes)
    a_in = {key: alloc(f"a{name}") for key, name in plan.receive_buffers().items()}
    b_in = {key: alloc(f"b{name}") for key, name in plan.receive_buffers().items()}

    def receive_key(s: int) -> tuple[int, int]:
        """The receive buffers of step s: (parity, piece width)."""
        return s % 2, plan.widths[s % plan.splits]

    steps = plan.steps
    parity_roots = [sorted({c * (s // plan.splits) for s in range(p, steps, 2)}) for p in range(2)]
    rows_ch = [
        lw.fresh_channel(row_broadcast_from(g, g, roots), grouped=True) if roots else -1
        for roots in parity_roots
    ]
    cols_ch = [
        [
            lw.fresh_channel(
                layer_col_broadcast(g, [r + layer for r in roots], layer, c), grouped=True
            )
            if roots
            else -1
            for roots in parity_roots
        ]
        for layer in range(c)
    ]

    # the steps repeat with period P (buffer and channel parity s % 2, piece s % splits);
    # per period the roots move c * P / splits PEs: steps 0 .. steps-2 are a loop over the
    # periods (row-group loops nested in it), the rest spelled out, so the pe IR does not grow
    # with g / c
    period = math.lcm(2, plan.splits)
    jump = c * period // plan.splits

    def roots(s: int) -> list[Rect]:
        """Step s's roots: PE column c*q (its panel piece along the rows), PE rows c*q + l (B
        pieces down their columns to layer l)."""
        q = s // plan.splits
        return [(0, c * q, g, 1)] + [(c * q + layer, 0, 1, g) for layer in range(c)]

    moves: list[Rect] = [(0, jump, 0, 0)] + [(jump, 0, 0, 0)] * c

    def post_roots(emit: Emit, s: int) -> list[SSAValue]:
        """Step s's root sends (asynchronous)."""
        h, p = s % plan.splits, s % 2
        sent: list[SSAValue] = []
        for i, (root, move) in enumerate(zip(roots(s), moves, strict=True)):
            piece, window = (a_pieces[h], None) if i == 0 else b_pieces[h]
            color = rows_ch[p] if i == 0 else cols_ch[i - 1][p]
            send = pe.SendOp(piece, color=color, pes=root, asynchronous=True, window=window)
            sent.append(emit(send, move).results[0])
        return sent

    def matmul(emit: Emit, s: int, line: Rect) -> None:
        w = plan.widths[s % plan.splits]
        emit(
            pe.MatmulAccOp(
                acc, a_in[receive_key(s)], b_in[receive_key(s)], m=c * m, k=w, n=n, pes=line
            )
        )

    def step(emit: Emit, s: int, pending: list[SSAValue]) -> list[SSAValue]:
        """Step s (not the last): post step s+1's roots and its panel's receive, each layer's
        rows receive the next B piece while multiplying, then join; step s's root sends
        (`pending`) are joined a step late. Returns step s+1's root sends."""
        posted = post_roots(emit, s + 1)
        p, nxt = (s + 1) % 2, receive_key(s + 1)
        got_next = emit(pe.RecvOp(a_in[nxt], color=rows_ch[p], pes=rect, asynchronous=True))
        for layer in range(c):

            def rows(emit: Emit, layer: int = layer) -> None:
                line: Rect = (layer, 0, 1, g)
                got = emit(
                    pe.RecvOp(b_in[nxt], color=cols_ch[layer][p], pes=line, asynchronous=True)
                )
                matmul(emit, s, line)
                emit(pe.WaitOp(got.results[0], pes=line))

            layer_rows(lw, plan, layer, rows, emit)
        emit(pe.WaitOp(got_next.results[0], pes=rect))
        for token, root, move in zip(pending, roots(s), moves, strict=True):
            emit(pe.WaitOp(token, pes=root), move)
        return posted

    # step 0's transfers, waited before the first step
    top = at_top(lw)
    pending = post_roots(top, 0)
    got_a = lw.emit(pe.RecvOp(a_in[receive_key(0)], color=rows_ch[0], pes=rect, asynchronous=True))
    for layer in range(c):

        def first_b(emit: Emit, layer: int = layer) -> None:
            line: Rect = (layer, 0, 1, g)
            got = emit(
                pe.RecvOp(
                    b_in[receive_key(0)], color=cols_ch[layer][0], pes=line, asynchronous=True
                )
            )
            emit(pe.WaitOp(got.results[0], pes=line))

        layer_rows(lw, plan, layer, first_b)
    lw.emit(pe.WaitOp(got_a.results[0], pes=rect))
    periods = (steps - 1) // period
    spelled = 0
    if periods >= 2:
        loop = LoopBody(lw, 0, periods, pending)
        tokens = list(loop.carried)
        for t in range(period):
            tokens = step(loop.emit, t, tokens)
        pending = loop.finish(*tokens)
        spelled = periods * period
    for s in range(spelled, steps - 1):
        pending = step(top, s, pending)
    # the last product per layer, as the others: the same work on the same PEs, and the
    # simulator's lean run adds it into that layer's one GEMM (pyflame/sim/fused_products.py)
    for layer in range(c):

        def last(emit: Emit, layer: int = layer) -> None:
            matmul(emit, steps - 1, (layer, 0, 1, g))

        layer_rows(lw, plan, layer, last)
    for token, root in zip(pending, roots(steps - 1), strict=True):
        lw.emit(pe.WaitOp(token, pes=root))

    # ---- reduction: the accumulator's c row blocks, c - 1 ring steps down the columns; block
    # 0 is copied into the result, the others sent and added into as windows of the
    # accumulator (each one run of elements) where they start on wavelets, else copied out
    mn = m * n
    chunks: list[tuple[SSAValue, tuple[int, int] | None]] = [(acc_result, None)]
    for d in range(1, c):
        chunks.append((acc, (d * mn, mn)) if plan.chunks_windowed else (alloc(f"chunk{d}"), None))
    for d, (chunk, window) in enumerate(chunks):
        if window is None:
            lw.emit(pe.PackOp(chunk, acc, shape=(c, m, n), dim=0, start=d, count=1, pes=rect))
    down = ring_channel(lw, natural_ring(g), [False] * g, transposed=True)
    for j in range(1, c):
        (src, src_window), (dst, dst_window) = chunks[c - j], chunks[c - j - 1]
        sent = lw.emit(pe.SendOp(src, color=down, pes=rect, asynchronous=True, window=src_window))
        got = lw.emit(
            pe.RecvOp(
                dst, color=down, pes=rect, combine="sum", asynchronous=True, window=dst_window
            )
        )
        lw.emit(pe.WaitOp(sent.results[0], got.results[0], pes=rect))
