"""unroll-pe-loops: replace every `pe.loop` by its iterations (not in the pipeline).

The loop form is what the compiler emits and the simulator plans; the unrolled form is the
same program spelled out, op by op: what a reader may want to see, what the wavelet engine
runs, and what tests compare the loop form against (identical outputs and cycles).

    %r = pe.loop %k = 0 to 2 iter_args(%t = %t0) -> (!pe.token) {
      pe.wait %t {pes = array<i64: 0, 0, 4, 1>, pes_step = array<i64: 0, 1, 0, 0>}
      %s = pe.send %a {pes = array<i64: 0, 1, 4, 1>, pes_step = array<i64: 0, 1, 0, 0>, ...}
      pe.yield %s
    }
becomes
    pe.wait %t0 {pes = array<i64: 0, 0, 4, 1>}
    %s0 = pe.send %a {pes = array<i64: 0, 1, 4, 1>, ...}
    pe.wait %s0 {pes = array<i64: 0, 1, 4, 1>}
    %s1 = pe.send %a {pes = array<i64: 0, 2, 4, 1>, ...}      (the loop's result %r is %s1)
"""

from __future__ import annotations

from xdsl.context import Context
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass

from pyflame.dialects import pe


class UnrollPELoopsPass(ModulePass):
    """Spell every pe.loop out as its iterations."""

    name = "unroll-pe-loops"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        for fn in op.walk():
            if isinstance(fn, func.FuncOp) and fn.body.blocks:
                pe.unroll_loops(fn.body.block)
