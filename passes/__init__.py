"""PyFlame's compiler passes, one per file, each registered here by its flag name.

`all_passes()` lists them in pipeline order (then `unroll-pe-loops`, a tool outside it), with the one library pass the pipeline runs: xDSL's
`cse`, after `decompose` (it keeps one of identical pure flame ops, e.g. the max that softmax
and log_softmax of one tensor both spell out, and drops unused ones). `PIPELINES` names pass
sequences: pyflame-opt expands such a name in `-p` (`-p mesh-to-pe` runs the three passes from
mesh to pe), and pyflame/compiler.py builds its pipeline from them. `apply_pipeline` runs a
pipeline with the one retry the compiler makes (allocate-colors out of colors: ktree left out).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from xdsl.passes import ModulePass

if TYPE_CHECKING:
    from xdsl.context import Context
    from xdsl.dialects.builtin import ModuleOp

#: the passes from one stage to the next, as pass-pipeline strings
PIPELINES = {
    "lower-to-mesh": "decompose,cse,assign-layouts,place-on-fabric,plan-placement,flame-to-mesh,plan-memory",
    "mesh-to-pe": "lower-mesh-to-pe,fuse-elementwise,allocate-colors,allocate-sram",
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
        "cse": cse,
        "assign-layouts": assign_layouts,
        "place-on-fabric": place_on_fabric,
        "plan-placement": plan_placement,
        "flame-to-mesh": flame_to_mesh,
        "plan-memory": plan_memory,
        "lower-mesh-to-pe": lower_mesh_to_pe,
        "fuse-elementwise": fuse_elementwise,
        "allocate-colors": allocate_colors,
        "allocate-sram": allocate_sram,
        "unroll-pe-loops": unroll_pe_loops,
    }


def apply_pipeline(module: ModuleOp, spec: str, ctx: Context) -> None:
    """Run the pass pipeline `spec` on `module`, in place. When it runs allocate-colors and that
    runs out of colors, once more from the module as it was, without ktree collectives: their
    levels run at once, each on its own colors, so a program with several collectives in flight
    (the MLP training step on 64x64 PEs) can need more colors than the target has, where the
    fixed plans' levels run one after another (pyflame/core/collectives.py `leaving_out`).
    With flame-to-mesh in `spec`, it chooses among the other algorithms; from the mesh stage,
    the mesh.allreduce / mesh.reduce whose `algorithm` is ktree lose it, and lower-mesh-to-pe
    chooses again among the others."""
    from xdsl.passes import PassPipeline

    from pyflame.core import collectives
    from pyflame.core.errors import ColorAllocationError

    def run() -> None:
        PassPipeline.parse_spec(all_passes(), spec).apply(ctx, module)

    names = spec.split(",")
    if "allocate-colors" not in names or "lower-mesh-to-pe" not in names:
        run()
        return
    backup = module.clone()
    try:
        run()
    except ColorAllocationError:
        ktree = collectives.CollectiveAlgorithm.KTREE
        _restore(module, backup)
        if "flame-to-mesh" not in names:
            _drop_collective_algorithm(module, ktree)
        with collectives.leaving_out(ktree):
            run()


def _drop_collective_algorithm(module: ModuleOp, algorithm: object) -> None:
    """The mesh collectives of `module` set to `algorithm` lose it (lowered by cost)."""
    from pyflame.dialects import mesh

    for op in module.walk():
        if isinstance(op, mesh.AllReduceOp | mesh.ReduceOp):
            if op.algorithm is not None and op.algorithm.data == algorithm:
                del op.properties["algorithm"]


def _restore(module: ModuleOp, backup: ModuleOp) -> None:
    """Make `module` (in place: callers hold it) what `backup` is."""
    for op in list(module.body.block.ops):
        op.detach()
    for op in list(backup.body.block.ops):
        op.detach()
        module.body.block.add_op(op)
    module.attributes.clear()
    module.attributes.update(backup.attributes)
