"""Scratch memory: the buffers the pe lowering allocates for a mesh op beyond the op's operand and
result tiles, described once. lower-mesh-to-pe allocates exactly these; plan-memory counts them
when it checks a program's peak per PE before lowering.

- SUMMA (`mesh.matmul` on more than one PE): one receive buffer for an A block and one for a
  B block on every PE; a double-buffered SUMMA has two such pairs (plan_memory
  `summa_double_buffered` gives the second pair only where it fits without a peak check).
- Cannon and MeshGEMM (`mesh.matmul` with algorithm `cannon` / `meshgemm` on more than one PE):
  two buffers per operand that rotate (the block multiplied and sent, the block received). The
  first of each is the operand's own buffer when nothing reads the operand later; counted here
  as two new ones (an upper bound).
- The halo exchange of conv2d and pooling: per spatial axis not read in place (rows first, then
  columns), a window buffer and, per neighbour that contributes, a packed strip that is sent and
  one that is received.

    summa_receive_elems(a, b)          # (elements of the A buffer, of the B buffer) per PE
    halo_phases(x.block, op.axes())    # [HaloPhase(dim=2, ...), HaloPhase(dim=3, ...)]
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pyflame.core.distribution import Distribution, HaloAxis

Ints = tuple[int, ...]


def summa_receive_elems(a: Distribution, b: Distribution) -> tuple[int, int] | None:
    """Elements per PE of SUMMA's receive buffers for an A block and a B block; None on a 1x1
    grid, where the PE multiplies its own tiles."""
    if a.grid == (1, 1):
        return None
    return (a.local_elems, b.local_elems)


def shift_matmul_elems(a: Distribution, b: Distribution) -> tuple[int, ...]:
    """Elements per PE of the rotating buffers of Cannon and MeshGEMM (two per operand); none
    on a 1x1 grid."""
    if a.grid == (1, 1):
        return ()
    return (a.local_elems, a.local_elems, b.local_elems, b.local_elems)


@dataclass(frozen=True)
class HaloPhase:
    """The halo exchange along one tile dim (`dim` 2: over the grid's rows, 3: its columns): the
    tile `shape` it reads (NCHW, the input block or the previous phase's window) and the
    `window` it fills."""

    dim: int
    axis: HaloAxis
    shape: Ints

    @property
    def window(self) -> Ints:
        return self.slab(self.axis.window)

    def slab(self, count: int) -> Ints:
        """`shape` with `count` elements along `dim` (a strip or the window)."""
        return tuple(count if d == self.dim else n for d, n in enumerate(self.shape))

    @property
    def from_prev(self) -> int:
        """Elements along `dim` each PE receives from the previous block (0: no strip)."""
        return self.axis.from_prev if self.axis.parts > 1 else 0

    @property
    def from_next(self) -> int:
        """Elements along `dim` each PE receives from the next block (0: no strip)."""
        return self.axis.from_next if self.axis.parts > 1 else 0

    @property
    def strips(self) -> tuple[int, ...]:
        """Elements along `dim` of each strip exchanged (from the previous block, then the next);
        each is packed and sent by one PE and received by its neighbour."""
        return tuple(m for m in (self.from_prev, self.from_next) if m)

    def strip_elems(self) -> list[int]:
        return [math.prod(self.slab(m)) for m in self.strips]


def halo_phases(block: Ints, axes: tuple[HaloAxis, HaloAxis]) -> list[HaloPhase]:
    """The phases of a windowed op's halo exchange, rows then columns; an axis read in place
    (no halo needed) has none."""
    phases: list[HaloPhase] = []
    shape = tuple(block)
    for dim, axis in ((2, axes[0]), (3, axes[1])):
        if axis.in_place:
            continue
        phase = HaloPhase(dim, axis, shape)
        phases.append(phase)
        shape = phase.window
    return phases
