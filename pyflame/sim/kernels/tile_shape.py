"""Kernels that rearrange each PE's tile without crossing PEs: pe.transpose (permute the dims
of the tile viewed as `shape`) and pe.broadcast (expand size-1 dims of the tile)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from pyflame.dialects import pe
from pyflame.sim.costs import CostKind
from pyflame.sim.dead_transfers import overwrites
from pyflame.sim.kernels.registry import kernel
from pyflame.sim.schedule import Item, Schedule
from pyflame.sim.sram import tiles
from pyflame.sim.step_access import Access, annotate

if TYPE_CHECKING:  # executable.py owns Step: types only
    from pyflame.sim.executable import Step


@kernel(pe.TransposeOp)
def transpose(s: Schedule, it: Item, op: pe.TransposeOp) -> None:
    d, src = s.buf(op.dst, it), s.buf(op.src, it)
    shape = tuple(op.shape.get_values())
    perm = (0, 1) + tuple(int(p) + 2 for p in op.perm.get_values())
    nr, nc = it.rect[2], it.rect[3]
    dsl, ssl, di, si = d.sub(it.rect), src.sub(it.rect), d.index, src.index

    moved = tuple(shape[p - 2] for p in perm[2:])

    def make_step(keys: dict[int, int]) -> Step:
        """The step, reading the source from an in-flight view when `keys` names its buffer
        (an elided receive or host_in: pyflame/sim/step_access.py) instead of SRAM."""
        key = keys.get(si)
        if key is None:

            def step(V, F, A, O):
                src = V[si][ssl].reshape((nr, nc) + shape)
                tiles(V[di][dsl], moved)[...] = src.transpose(perm)

            return step

        def step_on_view(V, F, A, O):
            view = F[key]
            src = view.reshape(view.shape[:2] + shape)  # (rows or cols may be broadcast)
            tiles(V[di][dsl], moved)[...] = src.transpose(perm)

        return step_on_view

    access = Access({si: ssl}, {di: dsl}, rebuild=lambda keys: overwrites(make_step(keys), di, dsl))
    s.steps.append(annotate(overwrites(make_step({}), di, dsl), access))
    s.charge(it.rect, CostKind.TRANSPOSE, d.size, buf=d)


@kernel(pe.BroadcastOp)
def broadcast(s: Schedule, it: Item, op: pe.BroadcastOp) -> None:
    """Every PE's src tile (viewed as src_shape) expanded to dst_shape."""
    d, src = s.buf(op.dst, it), s.buf(op.src, it)
    src_shape = tuple(int(n) for n in op.src_shape.get_values())
    dst_shape = tuple(int(n) for n in op.dst_shape.get_values())
    nr, nc = it.rect[2], it.rect[3]
    ns, nd = int(np.prod(src_shape)), int(np.prod(dst_shape))
    dsl, ssl, di, si = d.sub(it.rect, nd), src.sub(it.rect, ns), d.index, src.index

    def step(V, F, A, O):
        tiles(V[di][dsl], dst_shape)[...] = V[si][ssl].reshape((nr, nc) + src_shape)

    s.steps.append(overwrites(step, di, dsl))
    s.charge(it.rect, CostKind.BROADCAST, nd, buf=d)
