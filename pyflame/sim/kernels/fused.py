"""Kernel of pe.fused: an elementwise expression (pyflame/core/fused_expr.py) over the tiles of
the op's rectangle, in one numpy step (or, in a loop, its compiled kernel: the same numbers,
pyflame/sim/compiled/fused_kernels.py), charged as one pass over the tile (`fused_cycles`: the
ALU work of every step, each input read once, the result written once, an issue per pass)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from pyflame.core import fused_expr
from pyflame.core.elementwise import type_name
from pyflame.core.errors import CompileError
from pyflame.dialects import pe
from pyflame.sim import compiled
from pyflame.sim.compiled.fused_kernels import Runner
from pyflame.sim.dead_transfers import overwrites
from pyflame.sim.kernels.registry import kernel
from pyflame.sim.schedule import Item, Schedule, pe_slice
from pyflame.sim.step_access import Access, annotate

if TYPE_CHECKING:  # executable.py owns Step: types only
    from pyflame.sim.executable import Step


def _tiles(view: np.ndarray) -> np.ndarray:
    """An in-flight view (rows, cols, ...) as (rows, cols, elements), as a buffer's view."""
    return view.reshape(view.shape[:2] + (-1,))


@kernel(pe.FusedOp)
def fused(s: Schedule, it: Item, op: pe.FusedOp) -> None:
    d = s.buf(op.dst, it)
    ins = [s.buf(v, it) for v in op.inputs]
    if any(b.dtype == np.int32 for b in (d, *ins)):  # the int32 kernels check overflow
        raise CompileError(f"{it.what}: pe.fused computes floats and bools, not i32")
    steps = op.steps()
    prepared = fused_expr.prepare(steps)  # (once: every run evaluates the same steps)
    dsl, di = d.sub(it.rect), d.index
    sels = [(b.index, b.sub(it.rect)) for b in ins]
    lead, n = (it.rect[2], it.rect[3]), d.size
    runner = Runner(steps, [b.size for b in ins], n)

    def make_step(keys: dict[int, int]) -> Step:
        """The step, reading the inputs of buffers in `keys` from in-flight views (an elided
        receive or host_in: pyflame/sim/step_access.py) instead of SRAM."""
        if not keys:

            def step(V, F, A, O):
                bound = compiled.kept_calls(V)
                if runner.run_bound(bound):  # (compiled on this SRAM's views before)
                    return
                ins, out = [V[i][sl] for i, sl in sels], V[di][dsl]
                if not runner.run(ins, out, bound):
                    fused_expr.evaluate(steps, ins, lead, n, out, prepared)

            return step
        viewed = [(i, sl, keys.get(i)) for i, sl in sels]
        flight_keys = [k for _, _, k in viewed if k is not None]
        holes = tuple(pos for pos, (_, _, k) in enumerate(viewed) if k is not None)

        def step_on_views(V, F, A, O):
            bound = compiled.kept_calls(V)
            flights = [_tiles(F[k]) for k in flight_keys]
            if runner.run_bound(bound, flights, holes):  # (compiled on this SRAM before)
                return
            flying = iter(flights)
            ins = [V[i][sl] if k is None else next(flying) for i, sl, k in viewed]
            out = V[di][dsl]
            if not runner.run(ins, out, bound, holes):
                fused_expr.evaluate(steps, ins, lead, n, out, prepared)

        return step_on_views

    # (what the step touches: the elision of receives and host inputs whose data only this
    # step reads, pyflame/sim/step_access.py, finds it so)
    access = Access(
        dict(sels), {di: dsl}, rebuild=lambda keys: overwrites(make_step(keys), di, dsl)
    )
    s.steps.append(annotate(overwrites(make_step({}), di, dsl), access))
    types = [type_name(pe.buf_of(v).element_type) for v in op.inputs]
    cycles, flops = fused_expr.fused_cycles(s.target, steps, n, [b.size for b in ins], types)
    sl = pe_slice(it.rect)
    s.clock[sl] += cycles
    s.busy[sl] += cycles
    s.flops += flops * it.rect[2] * it.rect[3]
