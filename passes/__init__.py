"""PyFlame's compiler passes, one per file, each registered here by its flag name.

`all_passes()` lists them in pipeline order (then `unroll-pe-loops`, a tool outside it), with the one library pass the pipeline runs: xDSL's
`cse`, after `decompose` (it keeps one of identical pure flame ops, e.g. the max that softmax
and log_softmax of one tensor both spell out, and drops unused ones). `PIPELINES` names pass
sequences: pyflame-opt expands such a name in `-p` (`-p mesh-to-pe` runs the three passes from
mesh to pe), and pyflame/compiler.py builds its pipeline from them.
"""

from collections.abc import Callable

from xdsl.passes import ModulePass

#: the passes from one stage to the next, as pass-pipeline strings
PIPELINES = {
    "lower-to-mesh": "decompose,canonicalize,cse,assign-layouts,place-on-fabric,plan-placement,flame-to-mesh,plan-memory,choose-matmuls,choose-collectives",
    "mesh-to-pe": "combine-collectives,lower-mesh-to-pe,fuse-elementwise,allocate-colors,allocate-sram",
}


#: what the library passes in the pipeline do (their classes have no docstring), for --help
LIBRARY_PASS_SUMMARIES = {
    "cse": "xDSL's common-subexpression elimination: of identical pure ops (same operands, "
    "properties, attributes and types) the first is kept and the others' uses go to it; unused "
    "pure ops are dropped. Random flame ops are pure functions of their seed operand, and every "
    "random node of a traced program has its own seed argument, so two draws are never merged.",
}


def all_passes() -> dict[str, Callable[[], type[ModulePass]]]:
    """Every PyFlame pass by flag name, loaded lazily (the one registry tools use)."""

    def decompose() -> type[ModulePass]:
        from pyflame.passes.decompose import DecomposePass

        return DecomposePass

    def canonicalize() -> type[ModulePass]:
        from pyflame.passes.canonicalize import CanonicalizePass

        return CanonicalizePass

    def cse() -> type[ModulePass]:
        from xdsl.transforms.common_subexpression_elimination import (
            CommonSubexpressionElimination,
        )

        return CommonSubexpressionElimination

    def assign_layouts() -> type[ModulePass]:
        from pyflame.passes.assign_layouts import AssignLayoutsPass

        return AssignLayoutsPass

    def place_on_fabric() -> type[ModulePass]:
        from pyflame.passes.place_on_fabric import PlaceOnFabricPass

        return PlaceOnFabricPass

    def plan_placement() -> type[ModulePass]:
        from pyflame.passes.plan_placement import PlanPlacementPass

        return PlanPlacementPass

    def flame_to_mesh() -> type[ModulePass]:
        from pyflame.passes.flame_to_mesh import FlameToMeshPass

        return FlameToMeshPass

    def plan_memory() -> type[ModulePass]:
        from pyflame.passes.plan_memory import PlanMemoryPass

        return PlanMemoryPass

    def choose_matmuls() -> type[ModulePass]:
        from pyflame.passes.choose_matmuls import ChooseMatmulsPass

        return ChooseMatmulsPass

    def choose_collectives() -> type[ModulePass]:
        from pyflame.passes.choose_collectives import ChooseCollectivesPass

        return ChooseCollectivesPass

    def combine_collectives() -> type[ModulePass]:
        from pyflame.passes.combine_collectives import CombineCollectivesPass

        return CombineCollectivesPass

    def lower_mesh_to_pe() -> type[ModulePass]:
        from pyflame.passes.lower_mesh_to_pe import LowerMeshToPEPass

        return LowerMeshToPEPass

    def fuse_elementwise() -> type[ModulePass]:
        from pyflame.passes.fuse_elementwise import FuseElementwisePass

        return FuseElementwisePass

    def allocate_colors() -> type[ModulePass]:
        from pyflame.passes.allocate_colors import AllocateColorsPass

        return AllocateColorsPass

    def allocate_sram() -> type[ModulePass]:
        from pyflame.passes.allocate_sram import AllocateSRAMPass

        return AllocateSRAMPass

    def unroll_pe_loops() -> type[ModulePass]:
        from pyflame.passes.unroll_pe_loops import UnrollPELoopsPass

        return UnrollPELoopsPass

    return {
        "decompose": decompose,
        "canonicalize": canonicalize,
        "cse": cse,
        "assign-layouts": assign_layouts,
        "place-on-fabric": place_on_fabric,
        "plan-placement": plan_placement,
        "flame-to-mesh": flame_to_mesh,
        "plan-memory": plan_memory,
        "choose-matmuls": choose_matmuls,
        "choose-collectives": choose_collectives,
        "combine-collectives": combine_collectives,
        "lower-mesh-to-pe": lower_mesh_to_pe,
        "fuse-elementwise": fuse_elementwise,
        "allocate-colors": allocate_colors,
        "allocate-sram": allocate_sram,
        "unroll-pe-loops": unroll_pe_loops,
    }
