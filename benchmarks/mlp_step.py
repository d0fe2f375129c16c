"""The MLP 784-256-10 training step (batch 64, SGD, cross-entropy) under assign-layouts: the grid
the pass chose, its estimate for every grid side, and the simulated cycles and redistributions
per step -- with the pass choosing, with each grid side forced, and without the pass (the
layouts each op's lowering picks on its own, as before issue 11).

    python benchmarks/mlp_step.py                 # the chosen grid and the run without the pass
    python benchmarks/mlp_step.py --sides 16 32 64 128   # also each side forced
"""

from __future__ import annotations

import argparse
import re

import numpy as np
from xdsl.parser import Parser

import pyflame as pf
from pyflame import compiler, nn, optim
from pyflame.core.target import Target
from pyflame.passes.assign_layouts import choose_grid

MOVES = re.compile(r"= mesh\.(redistribute|relayout) ")
TO_MESH = "place-on-fabric,plan-placement,flame-to-mesh,plan-memory,choose-collectives"


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sides", type=int, nargs="*", default=[], help="grid sides to force")
    args = parser.parse_args()
    text = step_ir()
    module = Parser(compiler.make_context(), text).parse_module()
    compiler.run_pipeline(module, "decompose,cse")
    chosen, estimates = choose_grid(compiler.main_func(module), Target.of_module(module))
    print("estimates (cycles):", {g: round(e) for g, e in estimates.items()})
    side = chosen.grid[0]
    rows = [(f"assign-layouts (chose {side}x{side})", "decompose,cse,assign-layouts")]
    rows += [(f"{g}x{g} forced", f"decompose,cse,assign-layouts{{side={g}}}") for g in args.sides]
    rows += [("without assign-layouts", "decompose,cse")]
    print("| layouts | simulated cycles | host I/O cycles | redistributions |")
    print("|---|---:|---:|---:|")
    for name, passes in rows:
        cycles, io_cycles, moves = measure(text, f"{passes},{TO_MESH}")
        print(f"| {name} | {cycles:,} | {io_cycles:,} | {moves} |", flush=True)


if __name__ == "__main__":
    main()
