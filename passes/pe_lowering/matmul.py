"""Distributed matmul: SUMMA (one loop of steps, or double-buffered with two pairs of receive
buffers and one channel pair per parity); Cannon and MeshGEMM are in shift_matmul.py."""

from __future__ import annotations

import math
from collections.abc import Callable

from xdsl.ir import Operation, SSAValue

import pyflame.passes.scratch as scratch
from pyflame.dialects import mesh, pe
from pyflame.dialects.mesh import dist_of
from pyflame.passes.pe_lowering.layered_matmul import lower_layered_matmul, plan_for
from pyflame.passes.pe_lowering.loops import Emit, LoopBody, at_top
from pyflame.passes.pe_lowering.shift_matmul import lower_shift_matmul
from pyflame.passes.pe_lowering.state import (
    PELowering,
    Rect,
    col_broadcast,
    col_broadcast_from,
    row_broadcast,
    row_broadcast_from,
)

#: channels double-buffered SUMMA uses at once: a row and a column broadcast per parity
DOUBLE_BUFFERED_SUMMA_CHANNELS = 4


def lower_matmul(op: mesh.MatmulOp, lw: PELowering) -> SSAValue:
    a, b = dist_of(op.lhs), dist_of(op.rhs)
    g = a.grid[0]
    rect = (0, 0, g, g)
    (bm, bk), bn = a.block[-2:], b.block[-1]
    # batch dims are unsplit: every PE holds all batch entries of its blocks
    bl, br = math.prod(a.block[:-2]), math.prod(b.block[:-2])
    elem = op.result.type.element_type
    if op.algorithm.data == mesh.MatmulAlgorithm.SUMMA25D:
        plan = plan_for(op, lw.target)
        if plan is not None:  # else (batch dims, no layer count fits): SUMMA
            acc = lw.alloc_for(op.result, "matmul")
            lower_layered_matmul(op, lw, acc, plan)
            return acc
    acc = lw.alloc_for(op.result, "matmul")
    lw.emit(pe.FillOp(acc, value=0.0, pes=rect))

    def matmul_acc(emit: Emit, lhs: SSAValue, rhs: SSAValue) -> None:
        emit(
            pe.MatmulAccOp(
                acc,
                lhs,
                rhs,
                m=bm,
                k=bk,
                n=bn,
                pes=rect,
                lhs_batch=bl if bl > 1 else None,
                rhs_batch=br if br > 1 else None,
            )
        )

    receive = scratch.summa_receive_elems(a, b)
    if receive is None:
        matmul_acc(at_top(lw), lw.buf(op.lhs), lw.buf(op.rhs))
        return acc
    if op.algorithm.data in (mesh.MatmulAlgorithm.CANNON, mesh.MatmulAlgorithm.MESHGEMM):
        lower_shift_matmul(op, lw, acc, matmul_acc)
        return acc
    if op in lw.double_buffered:
        summa_double_buffered(op, lw, receive, matmul_acc)
        return acc
    a_in = lw.alloc(rect, receive[0], elem, "summa_a")
    b_in = lw.alloc(rect, receive[1], elem, "summa_b")
    rows = lw.channel(row_broadcast(g, g))
    cols = lw.channel(col_broadcast(g, g))
    # one loop over the steps k: PE column k and PE row k are the roots (pes_step moves them)
    body = LoopBody(lw, 0, g, [])
    emit = body.emit
    # the roots send asynchronously: each also receives its own tile (its route includes its
    # ramp), which a synchronous send of a tile longer than the queues would deadlock
    a_root, b_root = (0, 0, g, 1), (0, 0, 1, g)
    sent_a = emit(pe.SendOp(lw.buf(op.lhs), color=rows, pes=a_root, asynchronous=True), COLUMN_STEP)
    sent_b = emit(pe.SendOp(lw.buf(op.rhs), color=cols, pes=b_root, asynchronous=True), ROW_STEP)
    emit(pe.RecvOp(a_in, color=rows, pes=rect))
    emit(pe.RecvOp(b_in, color=cols, pes=rect))
    matmul_acc(emit, a_in, b_in)
    emit(pe.WaitOp(sent_a.results[0], pes=a_root), COLUMN_STEP)
    emit(pe.WaitOp(sent_b.results[0], pes=b_root), ROW_STEP)
    body.finish()
    return acc


#: what a step moves the roots of a SUMMA by: PE column k (A's roots), PE row k (B's)
COLUMN_STEP: Rect = (0, 1, 0, 0)
ROW_STEP: Rect = (1, 0, 0, 0)


def summa_double_buffered(
    op: mesh.MatmulOp,
    lw: PELowering,
    receive: tuple[int, int],
    matmul_acc: Callable[[Emit, SSAValue, SSAValue], None],
) -> None:
    """SUMMA with two pairs of receive buffers (ALGORITHMS.md section 7): step k multiplies pair
    k mod 2 while step k+1's tiles stream into the other pair, so a step costs about
    max(matmul, transfer) instead of their sum.

    Step k+1's sends and receives are posted (asynchronously) before step k's matmul, right
    after step k's receives are waited for. Each parity has its own row and column channels:
    two roots of one line multicasting at once on one color would merge their streams in the
    routers, and a root starts sending step k+2 on its color only once it has received all of
    step k (its router has passed step k on by then). A pair is refilled only after the matmul
    that read it (synchronous, earlier in program order) and after its previous receive's
    wait; the roots' send tokens are joined a step later (the operands stay unchanged during
    the SUMMA), all of them before it ends.

    Steps 1 .. g-2 are alike but for the parity: they are a pe.loop whose body is two steps
    (unrolled by the period of the buffers and channels), carrying step k's receive tokens and
    the send tokens of steps k and k-1; step 0 (nothing to join yet), an odd step left over
    and step g-1 (nothing to post) are spelled out."""
    g = dist_of(op.lhs).grid[0]
    rect = (0, 0, g, g)
    elem = op.result.type.element_type
    pairs = [
        (
            lw.alloc(rect, receive[0], elem, f"summa_a{p}"),
            lw.alloc(rect, receive[1], elem, f"summa_b{p}"),
        )
        for p in range(2)
    ]
    # each parity's channels carry only its roots' streams, so route only what they pass
    # (a middle root's rule recurs every other line: one route in a loop)
    rows = [lw.channel(row_broadcast_from(g, g, range(p, g, 2)), strided=True) for p in range(2)]
    cols = [lw.channel(col_broadcast_from(g, g, range(p, g, 2)), strided=True) for p in range(2)]
    # in the loop, a body of two steps moves the roots by two
    col2: Rect = (0, 2, 0, 0)
    row2: Rect = (2, 0, 0, 0)

    def post(emit: Emit, k: int) -> tuple[list[SSAValue], list[SSAValue]]:
        """Step k's root sends and every PE's receives into pair k mod 2 (asynchronous):
        (the two send tokens, the two receive tokens)."""
        p = k % 2
        a_root, b_root = (0, k, g, 1), (k, 0, 1, g)
        sa = emit(pe.SendOp(lw.buf(op.lhs), color=rows[p], pes=a_root, asynchronous=True), col2)
        sb = emit(pe.SendOp(lw.buf(op.rhs), color=cols[p], pes=b_root, asynchronous=True), row2)
        ra = emit(pe.RecvOp(pairs[p][0], color=rows[p], pes=rect, asynchronous=True))
        rb = emit(pe.RecvOp(pairs[p][1], color=cols[p], pes=rect, asynchronous=True))
        return [sa.results[0], sb.results[0]], [ra.results[0], rb.results[0]]

    def step(emit: Emit, k: int, tokens: list[SSAValue]) -> list[SSAValue]:
        """Step k given (step k's receive tokens, step k's send tokens, step k-1's send
        tokens, the last two absent at step 0); returns the same for step k+1."""
        received, sends, previous = tokens[:2], tokens[2:4], tokens[4:]
        emit(pe.WaitOp(*received, pes=rect))
        if previous:  # step k-1's root sends, a step late
            emit(pe.WaitOp(previous[0], pes=(0, k - 1, g, 1)), col2)
            emit(pe.WaitOp(previous[1], pes=(k - 1, 0, 1, g)), row2)
        after: list[SSAValue] = []
        if k + 1 < g:
            next_sends, next_received = post(emit, k + 1)
            after = next_received + next_sends + sends
        matmul_acc(emit, *pairs[k % 2])
        return after or sends

    top = at_top(lw)
    sends, received = post(top, 0)
    tokens = step(top, 0, received + sends)
    first_spelled = 1
    pairs_of_steps = (g - 2) // 2
    if pairs_of_steps >= 1:  # steps 1 .. 2 * pairs_of_steps as a loop of two steps each
        body = LoopBody(lw, 0, pairs_of_steps, tokens)
        tokens = body.finish(*step(body.emit, 2, step(body.emit, 1, body.carried)))
        first_spelled = 1 + 2 * pairs_of_steps
    for k in range(first_spelled, g):
        tokens = step(top, k, tokens)
    # step g-1 left its own sends and step g-2's joined: join step g-1's
    top(pe.WaitOp(tokens[0], pes=(0, g - 1, g, 1)))
    top(pe.WaitOp(tokens[1], pes=(g - 1, 0, 1, g)))


LOWERINGS: dict[type[Operation], Callable] = {mesh.MatmulOp: lower_matmul}


def set_algorithm(module: Operation, algorithm: mesh.MatmulAlgorithm | str) -> int:
    """Rewrite the algorithm of every mesh.matmul in a mesh-level `module` (how benchmarks and
    tests force one: lower to "mesh", call this, lower to "pe"); returns how many it set."""
    count = 0
    for op in module.walk():
        if isinstance(op, mesh.MatmulOp):
            op.properties["algorithm"] = mesh.MatmulAlgorithmAttr(mesh.MatmulAlgorithm(algorithm))
            op.verify()
            count += 1
    return count
