"""Distributed matmul: SUMMA (one loop of steps, or double-buffered with two pairs of receive
buffers and one channel pair per parity); Cannon and MeshGEMM are in shift_matmul.py."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

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
    diagonal_broadcast_from,
    row_broadcast,
    row_broadcast_from,
)

#: channels double-buffered SUMMA uses at once: a row and a column broadcast per parity
DOUBLE_BUFFERED_SUMMA_CHANNELS = 4


def lower_matmul(op: mesh.MatmulOp, lw: PELowering) -> SSAValue:
    a, b = dist_of(op.lhs), dist_of(op.rhs)
    g = a.grid[0]
    rect = (0, 0, g, g)
    bm, bk, bn = op.mkn
    ta, tb = op.transposes
    # an operand whose local transpose was folded holds its tiles unturned: read them turned
    ta ^= tile_transposed(op.lhs, lw)
    tb ^= tile_transposed(op.rhs, lw)
    # batch dims are unsplit: every PE holds all batch entries of its blocks
    bl, br = math.prod(a.block[:-2]), math.prod(b.block[:-2])
    elem = mesh.elem_of(op.lhs)  # the operands' (a half product accumulates in f32)
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
                lhs_transposed=ta,
                rhs_transposed=tb,
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
    # the K blocks past op.k_blocks are contraction padding in both operands: no steps
    steps = op.k_blocks
    a_moves, b_moves = summa_operands(op, None if steps == g else range(steps))
    rows, cols = lw.channel(a_moves.routes), lw.channel(b_moves.routes)
    # one loop over the steps k: PE column k and PE row k are the roots (pes_step moves them)
    body = LoopBody(lw, 0, steps, [])
    emit = body.emit
    # the roots send asynchronously: each also receives its own tile (its route includes its
    # ramp), which a synchronous send of a tile longer than the queues would deadlock
    a_root, b_root = a_moves.root(0, g), b_moves.root(0, g)
    a_step, b_step = a_moves.step(1), b_moves.step(1)
    sent_a = emit(pe.SendOp(lw.buf(op.lhs), color=rows, pes=a_root, asynchronous=True), a_step)
    sent_b = emit(pe.SendOp(lw.buf(op.rhs), color=cols, pes=b_root, asynchronous=True), b_step)
    emit(pe.RecvOp(a_in, color=rows, pes=rect))
    emit(pe.RecvOp(b_in, color=cols, pes=rect))
    matmul_acc(emit, a_in, b_in)
    emit(pe.WaitOp(sent_a.results[0], pes=a_root), a_step)
    emit(pe.WaitOp(sent_b.results[0], pes=b_root), b_step)
    body.finish()
    return acc


def tile_transposes(ops: Iterable[Operation]) -> set[Operation]:
    """The local transposes of two dims (mesh.transpose perm [1, 0]) whose every reader is a
    SUMMA mesh.matmul (single or double-buffered). Each is left unlowered: its value is its
    input's buffer, and the SUMMA's pe.matmul_acc reads those tiles with its transposed
    flag, as a PE's FMACs read a tile through a strided DSD, instead of a pe.transpose
    copying every tile first. The blocks do not move (a local transpose turns each PE's tile
    in place), so the SUMMA's sends and receives are the same. `x @ w.T` of a weight loaded
    from the host in the transposed split (the MLP's first layer) is the common case.

    Not folded: the 2.5D SUMMA and the ring algorithms (they lower their own operand moves),
    batched operands, and a transpose anything else reads."""
    folded: set[Operation] = set()
    for op in ops:
        if not isinstance(op, mesh.TransposeOp) or tuple(op.perm.get_values()) != (1, 0):
            continue
        readers = [use.operation for use in op.result.uses]
        if readers and all(
            isinstance(r, mesh.MatmulOp) and r.algorithm.data == mesh.MatmulAlgorithm.SUMMA
            for r in readers
        ):
            folded.add(op)
    return folded


def tile_transposed(v: SSAValue, lw: PELowering) -> bool:
    """Whether mesh value `v` is a folded local transpose (`tile_transposes`): its buffer holds
    the transpose's input tiles, to be read turned."""
    return isinstance(v.owner, mesh.TransposeOp) and v.owner in lw.folded_transposes


#: what a step moves the roots of a SUMMA by: PE column k (A's roots), PE row k (B's)
COLUMN_STEP: Rect = (0, 1, 0, 0)
ROW_STEP: Rect = (1, 0, 0, 0)


@dataclass(frozen=True)
class OperandMoves:
    """How one SUMMA operand reaches the PEs in step k: its roots are PE column k (`along` 'c':
    A's blocks, or a transposed B's) or PE row k ('r'), on a channel of `routes`."""

    along: str
    routes: tuple

    def root(self, k: int, g: int) -> Rect:
        return (0, k, g, 1) if self.along == "c" else (k, 0, 1, g)

    def step(self, by: int) -> Rect:
        """What `by` steps move the roots by (a loop's pes_step)."""
        return (0, by, 0, 0) if self.along == "c" else (by, 0, 0, 0)


def summa_operands(op: mesh.MatmulOp, roots: range | None) -> tuple[OperandMoves, OperandMoves]:
    """The moves of A and B with the step roots `roots` (one parity's, double-buffered; None:
    every step's). A's
    k-th block column is PE column k's blocks, multicast along the rows; A stored transposed
    (`transpose_a`) has it in PE row k instead: each block goes along its column to the
    diagonal PE, which multicasts it along its row (`diagonal_broadcast_from`). B likewise,
    rows and columns swapped."""
    g = dist_of(op.lhs).grid[0]
    ta, tb = op.transposes
    every = range(g) if roots is None else roots
    if ta:
        a = OperandMoves("r", diagonal_broadcast_from(g, every, "c"))
    elif roots is None:
        a = OperandMoves("c", row_broadcast(g, g))
    else:
        a = OperandMoves("c", row_broadcast_from(g, g, roots))
    if tb:
        b = OperandMoves("c", diagonal_broadcast_from(g, every, "r"))
    elif roots is None:
        b = OperandMoves("r", col_broadcast(g, g))
    else:
        b = OperandMoves("r", col_broadcast_from(g, g, roots))
    return a, b


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
    and step g-1 (nothing to post) are spelled out. Only the `op.k_blocks` steps whose K
    block holds data run (the rest would multiply contraction padding)."""
    g = dist_of(op.lhs).grid[0]
    steps = op.k_blocks
    rect = (0, 0, g, g)
    elem = mesh.elem_of(op.lhs)  # the operands' (a half product accumulates in f32)
    pairs = [
        (
            lw.alloc(rect, receive[0], elem, f"summa_a{p}"),
            lw.alloc(rect, receive[1], elem, f"summa_b{p}"),
        )
        for p in range(2)
    ]
    # each parity's channels carry only its roots' streams, so route only what they pass
    # (a middle root's rule recurs every other line: one route in a loop)
    moves = [summa_operands(op, range(p, steps, 2)) for p in range(min(2, steps))]
    rows = [lw.channel(a.routes, strided=True) for a, _ in moves]
    cols = [lw.channel(b.routes, strided=True) for _, b in moves]
    a_moves, b_moves = moves[0]
    # in the loop, a body of two steps moves the roots by two
    a2, b2 = a_moves.step(2), b_moves.step(2)

    def post(emit: Emit, k: int) -> tuple[list[SSAValue], list[SSAValue]]:
        """Step k's root sends and every PE's receives into pair k mod 2 (asynchronous):
        (the two send tokens, the two receive tokens)."""
        p = k % 2
        a_root, b_root = a_moves.root(k, g), b_moves.root(k, g)
        sa = emit(pe.SendOp(lw.buf(op.lhs), color=rows[p], pes=a_root, asynchronous=True), a2)
        sb = emit(pe.SendOp(lw.buf(op.rhs), color=cols[p], pes=b_root, asynchronous=True), b2)
        ra = emit(pe.RecvOp(pairs[p][0], color=rows[p], pes=rect, asynchronous=True))
        rb = emit(pe.RecvOp(pairs[p][1], color=cols[p], pes=rect, asynchronous=True))
        return [sa.results[0], sb.results[0]], [ra.results[0], rb.results[0]]

    def step(emit: Emit, k: int, tokens: list[SSAValue]) -> list[SSAValue]:
        """Step k given (step k's receive tokens, step k's send tokens, step k-1's send
        tokens, the last two absent at step 0); returns the same for step k+1."""
        received, sends, previous = tokens[:2], tokens[2:4], tokens[4:]
        emit(pe.WaitOp(*received, pes=rect))
        if previous:  # step k-1's root sends, a step late
            emit(pe.WaitOp(previous[0], pes=a_moves.root(k - 1, g)), a2)
            emit(pe.WaitOp(previous[1], pes=b_moves.root(k - 1, g)), b2)
        after: list[SSAValue] = []
        if k + 1 < steps:
            next_sends, next_received = post(emit, k + 1)
            after = next_received + next_sends + sends
        matmul_acc(emit, *pairs[k % 2])
        return after or sends

    top = at_top(lw)
    sends, received = post(top, 0)
    tokens = step(top, 0, received + sends)
    first_spelled = 1
    pairs_of_steps = (steps - 2) // 2
    if pairs_of_steps >= 1:  # steps 1 .. 2 * pairs_of_steps as a loop of two steps each
        body = LoopBody(lw, 0, pairs_of_steps, tokens)
        tokens = body.finish(*step(body.emit, 2, step(body.emit, 1, body.carried)))
        first_spelled = 1 + 2 * pairs_of_steps
    for k in range(first_spelled, steps):
        tokens = step(top, k, tokens)
    # the last step left its own sends and the one before's joined: join the last's
    top(pe.WaitOp(tokens[0], pes=a_moves.root(steps - 1, g)))
    top(pe.WaitOp(tokens[1], pes=b_moves.root(steps - 1, g)))


LOWERINGS: dict[type[Operation], Callable] = {mesh.MatmulOp: lower_matmul}


def set_algorithm(module: Operation, algorithm: mesh.MatmulAlgorithm | str) -> int:
    """Rewrite the algorithm of every mesh.matmul in a mesh-level `module` (how benchmarks and
    tests force one: lower to "mesh", call this, lower to "pe"); returns how many it set. An
    algorithm that cannot consume a transposed operand (Cannon, MeshGEMM) gets it materialised
    (`materialise_transposes`)."""
    count = 0
    algorithm = mesh.MatmulAlgorithm(algorithm)
    for op in list(module.walk()):
        if isinstance(op, mesh.MatmulOp):
            if algorithm not in (mesh.MatmulAlgorithm.SUMMA, mesh.MatmulAlgorithm.SUMMA25D):
                materialise_transposes(op)
            op.properties["algorithm"] = mesh.MatmulAlgorithmAttr(algorithm)
            op.verify()
            count += 1
    return count


def materialise_transposes(op: mesh.MatmulOp) -> None:
    """Clear `op`'s transpose flags: each flagged operand transposed (mesh.transpose, local),
    moved to SUMMA's [r, c] split (mesh.redistribute: the corner-to-corner traffic the flags
    avoid) and its padding zeroed, before the op."""
    block = op.parent_block()
    assert block is not None
    for index, name in ((0, "transpose_a"), (1, "transpose_b")):
        if op.properties.get(name) is None:
            continue
        operand = op.operands[index]
        d = dist_of(operand)
        rank = len(d.shape)
        perm = (*range(rank - 2), rank - 1, rank - 2)
        flipped = mesh.TransposeOp(operand, perm)
        target = mesh.transpose_dist(d, perm).with_(split=d.split)
        moved = mesh.RedistributeOp(flipped.result, target)  # (its padding zeroed)
        for new in (flipped, moved):
            new.location = op.location
            block.insert_op_before(new, op)
        op.operands[index] = moved.result
        del op.properties[name]
