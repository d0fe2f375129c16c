"""Independent GEMMs in turn on one grid at PE (0, 0) against side by side on the fabric
(place-on-fabric): simulated cycles, what the cost model predicted (its critical path, and the
sum along program order), numpy parity. Issue 11, deliverable 2.

    python benchmarks/placement.py                      # 2 and 4 GEMMs of 512^3 on 32x32, WSE2
    python benchmarks/placement.py --count 2 --size 256 --grid 16 --json

Each GEMM is `x_i @ w_i` with its own inputs; assign-layouts is told the grid side
(`assign-layouts{side=G}`), so "in turn" is the pipeline without place-on-fabric and "side by
side" the pipeline with it (which decides by the cost model whether to pack).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from xdsl.parser import Parser

import pyflame as pf
from pyflame import compiler
from pyflame.core.target import Target
from pyflame.passes.cost_model import estimate_program
from pyflame.passes.cost_model.critical_path import critical_path_cycles, function_estimates


def flame_text(count: int, size: int, target) -> tuple[str, dict, list]:
    rng = np.random.default_rng(0)
    xs = {f"x{i}": rng.standard_normal((size, size)).astype(np.float32) for i in range(2 * count)}
    with pf.target(target):
        ts = [pf.from_numpy(x, name=k) for k, x in xs.items()]
        text = pf.ir(*(ts[2 * i] @ ts[2 * i + 1] for i in range(count)), stage="flame")
    refs = [xs[f"x{2 * i}"] @ xs[f"x{2 * i + 1}"] for i in range(count)]
    return text, xs, refs


def measure(text: str, inputs: dict, refs: list, grid: int, place: bool) -> dict:
    module = Parser(compiler.make_context(), text).parse_module()
    spec = f"decompose,canonicalize,cse,assign-layouts{{side={grid}}}"
    spec += ",place-on-fabric" if place else ""
    start = time.perf_counter()
    compiler.run_pipeline(module, spec + ",plan-placement,flame-to-mesh,plan-memory")
    target = Target.of_module(module)
    fn = compiler.main_func(module)
    estimates = function_estimates(fn, target)
    predicted = critical_path_cycles(estimates)
    in_order = estimate_program(module, barriers=False).cycles
    origins = sorted(
        {
            v.type.dist.origin
            for op in fn.body.block.ops
            if op.name == "mesh.matmul"
            for v in op.results
        }
    )
    outs, report = compiler.run_module(module, inputs)
    wall = time.perf_counter() - start
    worst = max(
        float(np.max(np.abs(o - r)) / np.max(np.abs(r))) for o, r in zip(outs, refs, strict=True)
    )
    return {
        "cycles": report.cycles,
        "predicted_critical_path": predicted,
        "predicted_sum": in_order,
        "origins": [list(o) for o in origins],
        "max_rel_error": worst,
        "seconds": round(wall, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, nargs="+", default=[2, 4])
    parser.add_argument("--size", type=int, default=512, help="M = N = K of each GEMM")
    parser.add_argument("--grid", type=int, default=32, help="the grid side of each GEMM")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    target = pf.sim.WSE2
    for count in args.count:
        text, inputs, refs = flame_text(count, args.size, target)
        row = {"gemms": count, "size": args.size, "grid": args.grid}
        for name, place in (("in_turn", False), ("side_by_side", True)):
            row[name] = measure(text, inputs, refs, args.grid, place)
        row["speedup"] = round(row["in_turn"]["cycles"] / row["side_by_side"]["cycles"], 2)
        if args.json:
            print(json.dumps(row))
            continue
        print(
            f"{count} GEMMs {args.size}^3 on {args.grid}x{args.grid}: in turn "
            f"{row['in_turn']['cycles']:,} cycles (predicted {row['in_turn']['predicted_critical_path']:,}), "
            f"side by side {row['side_by_side']['cycles']:,} (predicted "
            f"{row['side_by_side']['predicted_critical_path']:,}; sum along program order "
            f"{row['side_by_side']['predicted_sum']:,}) at {row['side_by_side']['origins']}: "
            f"{row['speedup']}x"
        )


if __name__ == "__main__":
    main()
