"""The critical path of a mesh-level program whose ops may run on different parts of the fabric.

`program_cycles` sums the ops' estimates along program order: right when every op starts at PE
(0, 0), as every grid did before tensors had origins. Once place-on-fabric puts independent ops
on disjoint rectangles, they run at the same time (every PE runs its own program), and the
program takes its critical path: an op starts when the PEs it runs on are done with the ops
before it (in program order, each PE runs one op after the other) and when its operands are
made; it keeps its PEs busy for its estimate.

    estimates = estimate(mesh_module)
    critical_path_cycles(estimates)    # <= program_cycles(estimates); equal when all share PEs

An op runs on the bounding rectangle of its tensors' grids (an exchange between two origins on
both, and the PEs between them its messages cross). Like `program_cycles`, an op's estimate is
its slowest PE's, and host I/O is counted apart.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from xdsl.dialects import func

from pyflame.core.target import Target
from pyflame.dialects import mesh
from pyflame.passes.cost_model.program import FREE, OpEstimate, estimate_op
from pyflame.passes.cost_model.registry import CostContext

Rect = tuple[int, int, int, int]


def op_rect(est: OpEstimate) -> Rect | None:
    """The fabric rectangle op `est.op` runs on: the bounding box of its tensors' grids."""
    rects = [
        v.type.dist.rect
        for v in (*est.op.operands, *est.op.results)
        if isinstance(v.type, mesh.MeshTensorType)
    ]
    if not rects:
        return None
    r0 = min(r[0] for r in rects)
    c0 = min(r[1] for r in rects)
    r1 = max(r[0] + r[2] for r in rects)
    c1 = max(r[1] + r[3] for r in rects)
    return (r0, c0, r1 - r0, c1 - c0)


def function_estimates(fn: func.FuncOp, target: Target) -> list[OpEstimate]:
    """Per op of a mesh-level function (any, not only @main), its estimate, in program order."""
    ctx = CostContext.of_function(fn, target)
    return [
        OpEstimate(op, estimate_op(op, ctx)) for op in fn.body.block.ops if not isinstance(op, FREE)
    ]


def critical_path_cycles(estimates: Sequence[OpEstimate]) -> int:
    """When the program's last op ends, ops on disjoint PEs overlapping in time (see above)."""
    rects = [op_rect(e) for e in estimates]
    placed = [r for r in rects if r is not None]
    if not placed:
        return 0
    rows = max(r[0] + r[2] for r in placed)
    cols = max(r[1] + r[3] for r in placed)
    free = np.zeros((rows, cols), dtype=np.int64)  # when each PE is done with its ops so far
    done: dict[object, int] = {}  # mesh value -> when the op making it ends
    end = 0
    for est, rect in zip(estimates, rects, strict=True):
        ready = max((done.get(v, 0) for v in est.op.operands), default=0)
        if rect is not None:
            r0, c0, nr, nc = rect
            ready = max(ready, int(free[r0 : r0 + nr, c0 : c0 + nc].max()))
        finish = ready + est.cycles
        if rect is not None:
            free[r0 : r0 + nr, c0 : c0 + nc] = finish
        for v in est.op.results:
            done[v] = finish
        end = max(end, finish)
    return end
