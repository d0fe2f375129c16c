"""mesh-to-pe: the whole mesh-to-PE lowering as one named pass.

Runs lower-mesh-to-pe (instructions, buffers, channels, routes), allocate-colors (channels to
the target's colors) and allocate-sram (buffer offsets with reuse), in that order.
"""

from __future__ import annotations

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass

from pyflame.passes.allocate_colors import AllocateColorsPass
from pyflame.passes.allocate_sram import AllocateSRAMPass
from pyflame.passes.lower_mesh_to_pe import LowerMeshToPEPass


class MeshToPEPass(ModulePass):
    """Lower mesh to pe, then allocate colors and SRAM."""

    name = "mesh-to-pe"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        LowerMeshToPEPass().apply(ctx, op)
        AllocateColorsPass().apply(ctx, op)
        AllocateSRAMPass().apply(ctx, op)
