"""PyFlame's compiler passes, one per file, each registered here by its flag name."""

from collections.abc import Callable

from xdsl.passes import ModulePass


def all_passes() -> dict[str, Callable[[], type[ModulePass]]]:
    """Every PyFlame pass by flag name, loaded lazily (the one registry tools use)."""

    def decompose() -> type[ModulePass]:
        from pyflame.passes.decompose import DecomposePass

        return DecomposePass

    def flame_to_mesh() -> type[ModulePass]:
        from pyflame.passes.flame_to_mesh import FlameToMeshPass

        return FlameToMeshPass

    def plan_memory() -> type[ModulePass]:
        from pyflame.passes.plan_memory import PlanMemoryPass

        return PlanMemoryPass

    def mesh_to_pe() -> type[ModulePass]:
        from pyflame.passes.mesh_to_pe import MeshToPEPass

        return MeshToPEPass

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
        "flame-to-mesh": flame_to_mesh,
        "plan-memory": plan_memory,
        "mesh-to-pe": mesh_to_pe,
        "lower-mesh-to-pe": lower_mesh_to_pe,
        "allocate-colors": allocate_colors,
        "allocate-sram": allocate_sram,
    }
