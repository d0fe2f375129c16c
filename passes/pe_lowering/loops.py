"""Building `pe.loop`s in lower-mesh-to-pe: a repeated step (a SUMMA step, a chain stage) is
emitted once, as a loop body whose ops move by a fixed `pes_step` per iteration, so the pe IR
does not grow with the grid side.

    body = LoopBody(lw, 0, g, [])                       # for k in range(g):
    body.emit(pe.SendOp(a, color=0, pes=(0, 0, g, 1)), step=(0, 1, 0, 0))   # PE column k sends
    body.finish()                                       # pe.yield (and the loop's results)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeVar

from xdsl.ir import Operation, SSAValue

from pyflame.dialects import pe
from pyflame.passes.pe_lowering.state import PELowering, Rect

OpT = TypeVar("OpT", bound=Operation)


class Emit(Protocol):
    """Where a step's ops go: the function's block (`at_top`) or a loop body."""

    def __call__(self, op: OpT, step: Rect | None = None) -> OpT: ...


def at_top(lw: PELowering) -> Emit:
    """Emit before the mesh op being lowered (a step spelled out: `step` is not needed)."""

    def emit(op: OpT, step: Rect | None = None) -> OpT:
        return lw.emit(op)

    return emit


class LoopBody:
    """A `pe.loop` from `lower` to `upper` carrying the tokens `inits`, emitted before the mesh
    op being lowered (or into an outer loop's body: `parent`, a nested loop); `emit` appends
    the body's ops (with the `pes_step` they move by per iteration), `carried` are the body's
    carried tokens, `finish` yields the next iteration's and returns the loop's results."""

    def __init__(
        self,
        lw: PELowering,
        lower: int,
        upper: int,
        inits: Sequence[SSAValue],
        parent: Emit | None = None,
    ):
        self.lw = lw
        self.loop, self.block, _, self.carried = pe.LoopOp.empty(lower, upper, inits)
        if parent is None:
            lw.emit(self.loop)
        else:
            parent(self.loop)

    def emit(self, op: OpT, step: Rect | None = None) -> OpT:
        assert self.lw.current is not None
        op.location = self.lw.current.location
        if step is not None and any(step):
            op.properties["pes_step"] = pe.dense_i64(step)
        self.block.add_op(op)
        return op

    def finish(self, *yielded: SSAValue) -> list[SSAValue]:
        end = pe.YieldOp(*yielded)
        end.location = self.loop.location
        self.block.add_op(end)
        return list(self.loop.results)
