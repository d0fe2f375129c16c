"""PyFlame's compiler passes, one per file, each registered here by its flag name.

`all_passes()` lists them in pipeline order. `PIPELINES` names pass sequences: pyflame-opt
expands such a name in `-p` (`-p mesh-to-pe` runs the three passes from mesh to pe), and
pyflame/compiler.py builds its pipeline from them.
"""

from collections.abc import Callable

from xdsl.passes import ModulePass

#: the passes from one stage to the next, as pass-pipeline strings
PIPELINES = {
    "lower-to-mesh": "decompose,plan-placement,flame-to-mesh,plan-memory",
    "mesh-to-pe": "lower-mesh-to-pe,allocate-colors,allocate-sram",
}


def all_passes() -> dict[str, Callable[[], type[ModulePass]]]:
    """Every PyFlame pass by flag name, loaded lazily (the one registry tools use)."""

    def decompose() -> type[ModulePass]:
        from pyflame.passes.decompose import DecomposePass

        return DecomposePass

    def plan_placement() -> type[ModulePass]:
        from pyflame.passes.plan_placement import PlanPlacementPass

        return PlanPlacementPass

    def flame_to_mesh() -> type[ModulePass]:
        from pyflame.passes.flame_to_mesh import FlameToMeshPass

        return FlameToMeshPass

    def plan_memory() -> type[ModulePass]:
        from pyflame.passes.plan_memory import PlanMemoryPass

        return PlanMemoryPass

    def lower_mesh_to_pe() -> type[ModulePass]:
        from pyflame.passes.lower_mesh_to_pe import LowerMeshToPEPass

        return LowerMeshToPEPass

    def allocate_colors() -> type[ModulePass]:
        from pyflame.passes.allocate_colors import AllocateColorsPass

        return AllocateColorsPass

    def allocate_sram() -> type[ModulePass]:
        from pyflame.passes.allocate_sram import AllocateSRAMPass

        return AllocateSRAMPass

    return {
        "decompose": decompose,
        "plan-placement": plan_placement,
        "flame-to-mesh": flame_to_mesh,
        "plan-memory": plan_memory,
        "lower-mesh-to-pe": lower_mesh_to_pe,
        "allocate-colors": allocate_colors,
        "allocate-sram": allocate_sram,
    }
