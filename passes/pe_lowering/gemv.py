"""mesh.local_matmul: every PE multiplies its own blocks into a fresh partial (no
communication; the partials are summed by the mesh.allreduce that follows it).

    %p = mesh.local_matmul %a, %x : (!mesh.tensor<256x256xf32 on 4x4 split [r, c]>,
        !mesh.tensor<256x1xf32 on 4x4 split [c, _]>) -> !mesh.tensor<4x256x1xf32 on 4x4 split [c, r, _]>

    %p = pe.alloc ... ; pe.fill %p 0.0 ; pe.matmul_acc %p, %a, %x {m = 64, k = 64, n = 1}

pe.matmul_acc issues K*N FMACs of length M (pyflame/sim/costs.py): for A @ x that is one
vector FMAC of the PE's Mt rows per column of its block, as the SDK's GEMV kernels do.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from xdsl.ir import Operation, SSAValue

from pyflame.dialects import mesh, pe
from pyflame.passes.pe_lowering.state import PELowering, grid_rect


def lower_local_matmul(op: mesh.LocalMatmulOp, lw: PELowering) -> SSAValue:
    a, b = op.operand_dists()  # as read: a transposed operand is read through strided DSDs
    ta, tb = op.transposes
    rect = grid_rect(a)
    (bm, bk), bn = a.block[-2:], b.block[-1]
    # batch dims are whole on every PE: one product per entry (a side without them is shared)
    bl, br = math.prod(a.shape[:-2]), math.prod(b.shape[:-2])
    acc = lw.alloc_for(op.result, "gemv")
    lw.emit(pe.FillOp(acc, value=0.0, pes=rect))
    lw.emit(
        pe.MatmulAccOp(
            acc,
            lw.buf(op.lhs),
            lw.buf(op.rhs),
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
    return acc


LOWERINGS: dict[type[Operation], Callable] = {mesh.LocalMatmulOp: lower_local_matmul}
