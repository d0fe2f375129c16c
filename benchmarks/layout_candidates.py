"""assign-layouts' candidates for a program, ranked by the cost model (passes/layout_choice.py),
each then simulated: was the pass's choice (the first) the fastest?

    python benchmarks/layout_candidates.py transformer    # benchmarks/transformer_block.py's block
    python benchmarks/layout_candidates.py mlp            # benchmarks/mlp_step.py's step
    python benchmarks/layout_candidates.py gpt            # examples/gpt.py's training step
    python benchmarks/layout_candidates.py gpt-decode     # and its decode step
"""

from __future__ import annotations

import argparse

import numpy as np
from gpt_step import decode_step, measure, pipeline_with, traced, training_step
from mlp_step import build_step
from transformer_block import Block
from xdsl.parser import Parser

import pyflame as pf
from pyflame import compiler
from pyflame.core.target import Target
from pyflame.passes.layout_choice import rank_candidates


def transformer() -> list[pf.Tensor]:
    pf.manual_seed(0)
    block = Block(128, 4)
    x = np.random.default_rng(0).standard_normal((2, 64, 128)).astype(np.float32)
    with pf.no_grad():
        return [block(pf.from_numpy(x))]


PROGRAMS = {
    "transformer": transformer,
    "mlp": lambda: [build_step()],
    "gpt": training_step,
    "gpt-decode": decode_step,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("program", choices=sorted(PROGRAMS))
    args = parser.parse_args()
    text, inputs = traced(PROGRAMS[args.program]())
    module = Parser(compiler.make_context(), text).parse_module()
    compiler.run_pipeline(module, "decompose,canonicalize,cse")
    ranked = rank_candidates(module, compiler.main_func(module), Target.of_module(module))
    print(f"{args.program} on {pf.sim.get_target().name}: candidates, cheapest estimate first")
    print("| candidate | estimate (ranking) | simulated cycles | barriers | redistributions |")
    print("|---|---:|---:|---:|---:|")
    for c in ranked:
        assign = "" if c.assignment is None else f"assign-layouts{{side={c.assignment.grid[0]}}}"
        m = measure(text, inputs, pipeline_with(assign))
        print(
            f"| {c.name} | {c.cycles:,} | {m['cycles']:,} | {m['barriers']} | {m['moves']} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
