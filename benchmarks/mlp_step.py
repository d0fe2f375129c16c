"""The MLP 784-256-10 training step (batch 64, SGD, cross-entropy) under assign-layouts: the grid
the pass chose, its estimate for every grid side, and the simulated cycles and redistributions
per step -- with the pass choosing, with each grid side forced, and without the pass (the
layouts each op's lowering picks on its own, as before issue 11).

    python benchmarks/mlp_step.py                 # the chosen grid and the run without the pass
    python benchmarks/mlp_step.py --sides 16 32 64 128   # also each side forced
    python benchmarks/mlp_step.py --collectives tree tree/chain   # collectives' assignments forced

`--collectives`: after choose-collectives, every mesh.allreduce / mesh.reduce gets the named
algorithm (`ROWS/COLUMNS`: one for the reductions along rows, dims split over PE columns, one
for the others); each row gives the estimate choose-collectives ranks by (critical path plus
the barriers of a lowered copy) and the simulated cycles, or that it does not fit the colors.
"""

from __future__ import annotations

import argparse
import re

import numpy as np
from xdsl.parser import Parser

import pyflame as pf
from pyflame import compiler, nn, optim
from pyflame.core.collectives import CollectiveAlgorithm
from pyflame.core.errors import ColorAllocationError
from pyflame.core.target import Target
from pyflame.dialects import mesh
from pyflame.passes import choose_collectives
from pyflame.passes.assign_layouts import choose_grid
from pyflame.passes.cost_model.barriers import barrier_cycles, count_barriers
from pyflame.passes.cost_model.registry import CostContext

MOVES = re.compile(r"= mesh\.(redistribute|relayout) ")
TO_MESH = (
    "place-on-fabric,plan-placement,flame-to-mesh,plan-memory,choose-matmuls,choose-collectives"
)


def build_step() -> pf.Tensor:
    """The step's loss, with backward and the SGD update recorded (nothing evaluated yet)."""
    pf.manual_seed(0)
    model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
    opt = optim.SGD(model.parameters(), lr=0.1)
    rng = np.random.default_rng(0)
    x = pf.from_numpy(rng.standard_normal((64, 784)).astype(np.float32))
    y = pf.from_numpy(rng.integers(0, 10, 64).astype(np.int32))
    loss = nn.functional.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
    return loss


def step_ir() -> str:
    return pf.ir(build_step(), stage="flame")


def measure(text: str, passes: str) -> tuple[int, int, int]:
    """(simulated cycles, host I/O cycles, redistributions) of the step lowered with `passes`
    to mesh (choose-collectives last: the collectives' algorithms fitting the colors). The
    redistributions are counted on a copy at mesh; the run lowers flame to pe in one pipeline,
    as `pf.eval` does."""
    at_mesh = Parser(compiler.make_context(), text).parse_module()
    compiler.run_pipeline(at_mesh, passes)
    moves = len(MOVES.findall(str(at_mesh)))
    module = Parser(compiler.make_context(), text).parse_module()
    compiler.run_pipeline(module, f"{passes},{compiler.stage_pipeline('mesh', 'pe')}")
    _, report = compiler.run_module(module, {}, seed=0)
    return report.cycles, report.io_cycles, moves


def force_collectives(module, spec: str) -> None:
    """Set the algorithm of every collective of a mesh module by `spec` (see the doc)."""
    along_rows, _, others = spec.partition("/")
    for op in choose_collectives.collective_ops(module):
        src = mesh.dist_of(op.input)
        axes = {src.split[d] for d in op.dims.get_values()}
        name = along_rows if axes == {"c"} else (others or along_rows)
        op.properties["algorithm"] = mesh.CollectiveAlgorithmAttr(CollectiveAlgorithm(name))


def measure_collectives(text: str, spec: str) -> str:
    """One `--collectives` row."""
    module = Parser(compiler.make_context(), text).parse_module()
    compiler.run_pipeline(module, f"decompose,canonicalize,cse,assign-layouts,{TO_MESH}")
    force_collectives(module, spec)
    est = choose_collectives.program_estimate(module)
    lowered = module.clone()
    try:
        compiler.run_pipeline(lowered, compiler.stage_pipeline("mesh", "pe"))
    except ColorAllocationError:
        return f"| {spec} | - | - | does not fit {Target.of_module(module).num_colors} colors |"
    barriers, rows, cols = count_barriers(lowered)
    each = barrier_cycles(CostContext(Target.of_module(module)), rows, cols)
    _, report = compiler.run_module(module, {}, seed=0)
    return f"| {spec} | {est + barriers * each:,} | {barriers} | {report.cycles:,} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sides", type=int, nargs="*", default=[], help="grid sides to force")
    parser.add_argument(
        "--collectives",
        nargs="*",
        default=[],
        help="collectives' algorithms to force: ALG or ROWS/COLUMNS",
    )
    args = parser.parse_args()
    text = step_ir()
    module = Parser(compiler.make_context(), text).parse_module()
    compiler.run_pipeline(module, "decompose,canonicalize,cse")
    chosen, estimates = choose_grid(compiler.main_func(module), Target.of_module(module))
    print("estimates (cycles):", {g: round(e) for g, e in estimates.items()})
    side = chosen.grid[0]
    rows = [(f"assign-layouts (chose {side}x{side})", "decompose,canonicalize,cse,assign-layouts")]
    rows += [
        (f"{g}x{g} forced", f"decompose,canonicalize,cse,assign-layouts{{side={g}}}")
        for g in args.sides
    ]
    rows += [("without assign-layouts", "decompose,canonicalize,cse")]
    print("| layouts | simulated cycles | host I/O cycles | redistributions |")
    print("|---|---:|---:|---:|")
    for name, passes in rows:
        cycles, io_cycles, moves = measure(text, f"{passes},{TO_MESH}")
        print(f"| {name} | {cycles:,} | {io_cycles:,} | {moves} |", flush=True)
    if args.collectives:
        print()
        print("| collectives (along rows/others) | estimate | barriers | simulated cycles |")
        print("|---|---:|---:|---:|")
        for spec in args.collectives:
            print(measure_collectives(text, spec), flush=True)


if __name__ == "__main__":
    main()
