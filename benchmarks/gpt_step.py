"""The GPT training step and decode step of examples/gpt.py (its default model: 2 layers, 2
heads, n_embd 32, block 32, batch 8, vocabulary 58, AdamW) on the default target: simulated
cycles, the barriers allocate-colors adds, the redistributions, and the layouts -- with
assign-layouts choosing (the pipeline `pf.eval` runs), with each grid side forced, and without
the pass.

    python benchmarks/gpt_step.py                       # the chosen layouts and no assignment
    python benchmarks/gpt_step.py --sides 1 8 16 32     # also each grid side forced
    python benchmarks/gpt_step.py --decode              # the decode step instead
    python benchmarks/gpt_step.py --decode --batch 4    # ... of 4 sequences at once

Each row compiles the step's flame program with one pipeline and runs it on the simulator with
the step's real inputs (weights, batch); the cost model's estimate (with barriers) is printed
next to the simulated cycles.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

import pyflame as pf
from pyflame import compiler, runtime
from pyflame.core.target import Target
from pyflame.passes.cost_model import CostContext, estimate_program
from pyflame.passes.cost_model.barriers import barrier_cycles, count_barriers

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
from gpt_model import GPT, GPTConfig, KVCacheDecoder  # noqa: E402

MOVES = re.compile(r"= mesh\.(redistribute|relayout) ")
GRIDS = re.compile(r"-> !mesh\.tensor<[^>]* on (\d+x\d+)")
VOCAB = 58  # examples/data/coriolanus.txt's distinct characters


def build_model() -> tuple[GPT, GPTConfig]:
    pf.manual_seed(0)
    config = GPTConfig(vocab_size=VOCAB)
    return GPT(config), config


def training_step() -> list[pf.Tensor]:
    """The loss of one AdamW training step (forward, backward, update recorded, nothing run)."""
    model, config = build_model()
    opt = pf.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.01)
    rng = np.random.default_rng(0)
    x = rng.integers(0, VOCAB, (8, config.block_size)).astype(np.int32)
    y = rng.integers(0, VOCAB, (8, config.block_size)).astype(np.int32)
    _, loss = model(pf.from_numpy(x), pf.from_numpy(y))
    assert loss is not None
    loss.backward()
    opt.step()
    return [loss]


def decode_step(batch: int = 1) -> list[pf.Tensor]:
    """One KV-cache decode step (token at position 3) of examples/gpt.py's generation, for
    `batch` sequences at once."""
    model, config = build_model()
    model.eval()
    caches = [pf.from_numpy(c) for c in model.empty_cache(batch)]
    token = pf.from_numpy(np.full((batch, 1), 5, np.int32))
    pos = pf.from_numpy(np.full(batch, 3, np.int32))
    with pf.no_grad():
        return list(KVCacheDecoder(model)(token, pos, *caches))


def traced(outputs: list[pf.Tensor]) -> tuple[str, list]:
    """The step's flame program as `pf.eval` compiles it (text: the outputs, the pending updates'
    new values and the runtime checks' counts as results) and its inputs."""
    pending = [n for _, n in pf.runtime.pending_updates() if n._data is None]
    outputs = outputs + pending
    tr, _ = runtime.traced(outputs)
    return pf.runtime._print(tr.module()), tr.inputs()


def pipeline_with(assign: str) -> str:
    """The default pipeline with assign-layouts replaced by `assign` ('' drops it)."""
    passes = [assign if p == "assign-layouts" else p for p in compiler.pipeline().split(",")]
    return ",".join(p for p in passes if p)


def measure(text: str, inputs: list, passes: str) -> dict:
    """Lower the flame program `text` with `passes`, then simulate it."""
    from xdsl.parser import Parser

    start = time.perf_counter()
    module = Parser(compiler.make_context(), text).parse_module()
    to_mesh, to_pe = passes.split(",lower-mesh-to-pe,")
    compiler.run_pipeline(module, to_mesh)
    mesh_text = str(module)
    ops_estimate = estimate_program(module, barriers=False).cycles
    compiler.run_pipeline(module, "lower-mesh-to-pe," + to_pe)
    barriers, rows, cols = count_barriers(module)  # what estimate_barriers counts, on this copy
    each = barrier_cycles(CostContext(Target.of_module(module)), rows, cols)
    program = compiler.compile_module(module)
    _, report = program.run(inputs)
    grids = Counter(GRIDS.findall(mesh_text))
    return {
        "cycles": report.cycles,
        "estimate": ops_estimate + barriers * each,
        "barriers": barriers,
        "moves": len(MOVES.findall(mesh_text)),
        "grids": ", ".join(f"{g}: {n}" for g, n in grids.most_common(4)),
        "seconds": time.perf_counter() - start,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sides", type=int, nargs="*", default=[], help="grid sides to force")
    parser.add_argument("--decode", action="store_true", help="the decode step")
    parser.add_argument("--batch", type=int, default=1, help="sequences per decode step")
    parser.add_argument("--only-chosen", action="store_true", help="only the default pipeline")
    args = parser.parse_args()
    text, inputs = traced(decode_step(args.batch) if args.decode else training_step())
    rows = [("assign-layouts (the default pipeline)", compiler.pipeline())]
    if not args.only_chosen:
        rows += [
            (f"{g}x{g} forced", pipeline_with(f"assign-layouts{{side={g}}}")) for g in args.sides
        ]
        rows += [("without assign-layouts", pipeline_with(""))]
    what = f"decode (batch {args.batch})" if args.decode else "training"
    print(f"GPT {what} step on {pf.sim.get_target().name}")
    print("| layouts | simulated cycles | estimate | barriers | redistributions | grids |")
    print("|---|---:|---:|---:|---:|---|")
    for name, passes in rows:
        try:
            m = measure(text, inputs, passes)
        except pf.CompileError as err:  # a forced side whose tiles do not fit, say
            print(f"| {name} | {type(err).__name__} | | | | |", flush=True)
            continue
        print(
            f"| {name} | {m['cycles']:,} | {m['estimate']:,} | {m['barriers']} | {m['moves']} "
            f"| {m['grids']} |  ({m['seconds']:.0f} s)",
            flush=True,
        )


if __name__ == "__main__":
    main()
