"""Every algorithm variant of a benchmark problem side by side: simulated cycles, the lower
bound, efficiency = bound / cycles, the cost model's estimate, the compiler's own choice and
whether it was the fastest (issue 11, deliverable 6). Planned only: the cycles are the plan's
(what a run reports); nothing runs, so the largest grids need no host memory for SRAM images.

    python benchmarks/variants.py gemm --size 1024 --grid 32
    python benchmarks/variants.py gemv --size 4096 --grid 64 --json   # one JSON object per row
    python benchmarks/variants.py sum --grid 64
    python benchmarks/variants.py allreduce --grid 64 --vector 256
    python benchmarks/variants.py conv2d                              # 8x64x56x56, 3x3, 64 out, 64x64
    python benchmarks/variants.py conv2d --channels 16 --grid 28      # 16 channels on 28x28
    python benchmarks/variants.py conv2d-step                         # its SGD training step
    python benchmarks/variants.py conv2d-step --batch 2 --size 16 --grid 8   # a small one
    python benchmarks/variants.py mlp                                 # 784-256-10 step
    python benchmarks/variants.py transformer                         # B=2 T=64 d=128 4 heads
    python benchmarks/variants.py gemm --tile 32 --grid 16 --chosen-only   # weak scaling

Variants come from the compiler's registries, not from a list here, so a new algorithm shows
up by itself:
- `chosen`: the default pipeline, untouched (what `pf.eval` runs);
- `matmul X` for every mesh.matmul algorithm that has a cost rule (passes/cost_model
  COST_RULES: summa, cannon, meshgemm, ...), forced on every mesh.matmul with
  `set_algorithm`; SUMMA is double-buffered where its second buffers fit, and
  `matmul summa 1-buffer` turns that off;
- `no skinny path` where the compiler used the GEMV lowering (mesh.local_matmul): the skinny
  path turned off, so the product is SUMMA on the compiler's square grid;
- `conv spatial` / `conv channel-split` where a groups-1 conv2d runs: every such conv2d
  forced into one form of mesh.conv2d (weight replicated, input split [_, _, r, c]; or
  output channels over the grid's columns, input [_, c, r, _]), on the grid the choice uses;
- `collective X` for every allreduce/reduce algorithm (pyflame.core.collectives.ALGORITHMS),
  forced on every mesh.allreduce and mesh.reduce;
- `layouts GxG` / `no assign-layouts` for whole programs: assign-layouts forced to one grid
  side, or left out (each op's lowering picks its layout, as before issue 11).
A variant the program cannot take (Cannon on a non-square grid, tiles that do not fit SRAM)
is a row with an error instead of cycles. The estimate is passes/cost_model's
`estimate_program` of the variant's mesh module (with the barriers lowering adds, for whole
programs); "cost model's pick" is the variant with the lowest estimate.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from xdsl.dialects.builtin import ModuleOp  # noqa: E402

import pyflame as pf  # noqa: E402
from pyflame import compiler, runtime  # noqa: E402
from pyflame.core import collectives  # noqa: E402
from pyflame.core.target import Target  # noqa: E402
from pyflame.dialects import mesh  # noqa: E402
from pyflame.passes import PIPELINES, lower_mesh_to_pe, plan_memory  # noqa: E402
from pyflame.passes.cost_model import COST_RULES, estimate_program  # noqa: E402
from pyflame.passes.flame_lowering import gemv  # noqa: E402
from pyflame.passes.flame_lowering.windowed import forced_conv_form  # noqa: E402
from pyflame.passes.pe_lowering.matmul import set_algorithm  # noqa: E402
from pyflame.sim.planner import compile_plan  # noqa: E402


@dataclass
class Problem:
    """A benchmark program: `build()` returns its frontend outputs (nothing evaluated);
    `bound` its lower bound in cycles (`bound_text` says which)."""

    name: str
    build: Callable[[], list[Any]]
    bound: float
    bound_text: str
    #: a whole program (several ops): estimates count the barriers that order route switches,
    #: and layouts are a variant
    program: bool = False
    #: grid sides to force assign-layouts to (whole programs)
    layout_sides: tuple[int, ...] = ()
    #: variant name prefixes left out, with the reason (too slow to plan, say)
    skip: dict[str, str] = field(default_factory=dict)
    #: the PEs `bound` assumes (a GEMM's g x g): a program that runs on more (the compiler
    #: moved the product to a larger grid) is held to the bound of the PEs it used
    pes: int = 0


@dataclass
class Variant:
    name: str
    #: rewrite of the mesh-level module (force an algorithm); returns how many ops it changed
    force: Callable[[ModuleOp], int] | None = None
    single_buffered: bool = False
    skinny: bool = True
    #: conv2d forced channel-split (True) or spatial (False); None: by cost
    conv_channel_split: bool | None = None
    #: the flame -> mesh pipeline (assign-layouts forced or left out)
    to_mesh: str = PIPELINES["lower-to-mesh"]


# ------------------------------------------------------------------------------- registries


def matmul_algorithms() -> list[str]:
    """mesh.matmul's algorithms with a cost rule, in the enum's order."""
    ruled = {alg for cls, alg in COST_RULES if cls is mesh.MatmulOp}
    return [a.value for a in mesh.MatmulAlgorithm if a.value in ruled]


def collective_algorithms() -> list[str]:
    return [a.value for a in collectives.ALGORITHMS]


def _force_matmul(algorithm: str) -> Callable[[ModuleOp], int]:
    return lambda module: set_algorithm(module, algorithm)


def _force_collective(algorithm: str) -> Callable[[ModuleOp], int]:
    def force(module: ModuleOp) -> int:
        count = 0
        for op in module.walk():
            if isinstance(op, mesh.AllReduceOp | mesh.ReduceOp):
                op.properties["algorithm"] = mesh.CollectiveAlgorithmAttr(
                    collectives.CollectiveAlgorithm(algorithm)
                )
                count += 1
        return count

    return force


@contextlib.contextmanager
def lowering_options(variant: Variant) -> Iterator[None]:
    """SUMMA single-buffered and/or the skinny path off inside the block (module globals the
    compiler reads; the estimate reads the same function as the lowering)."""
    saved = (
        lower_mesh_to_pe.summa_double_buffered,
        plan_memory.summa_double_buffered,
        gemv.SKINNY_MAX,
    )
    if variant.single_buffered:

        def none(fn: Any, usable: int) -> set:
            return set()

        lower_mesh_to_pe.summa_double_buffered = none  # type: ignore[assignment]  # forced off
        plan_memory.summa_double_buffered = none  # type: ignore[assignment]  # forced off
    if not variant.skinny:
        gemv.SKINNY_MAX = 0
    try:
        with forced_conv_form(variant.conv_channel_split):
            yield
    finally:
        (
            lower_mesh_to_pe.summa_double_buffered,
            plan_memory.summa_double_buffered,
            gemv.SKINNY_MAX,
        ) = saved


def describe(module: ModuleOp) -> str:
    """What the compiler chose in a mesh-level module: each matmul's and collective's
    algorithm (with SUMMA's buffering), GEMV, and the grids of the matmuls."""
    fn = compiler.main_func(module)
    target = Target.of_module(module)
    double = plan_memory.summa_double_buffered(fn, target.usable_sram_bytes)
    parts: dict[str, int] = {}
    for op in module.walk():
        if isinstance(op, mesh.MatmulOp):
            g = mesh.dist_of(op.result).grid
            name = f"matmul {op.algorithm.data.value}"
            if op.algorithm.data == mesh.MatmulAlgorithm.SUMMA:
                name += "" if op in double else " 1-buffer"
            name += f" on {g[0]}x{g[1]}"
        elif isinstance(op, mesh.LocalMatmulOp):
            g = mesh.dist_of(op.result).grid
            name = f"gemv on {g[0]}x{g[1]}"
        elif isinstance(op, mesh.Conv2dOp):
            g = mesh.dist_of(op.result).grid
            form = "channel-split" if op.channel_split else "spatial"
            name = f"conv2d {form} on {g[0]}x{g[1]}"
        elif isinstance(op, mesh.Conv2dWeightGradOp):
            g = mesh.dist_of(op.result).grid
            form = "channel-split" if op.channel_split else "spatial"
            name = f"conv2d_weight_grad {form} on {g[0]}x{g[1]}"
        elif isinstance(op, mesh.AllReduceOp | mesh.ReduceOp):
            alg = op.algorithm_name
            name = f"{op.name.split('.')[1]} {alg.value if alg is not None else '(lowering picks)'}"
        else:
            continue
        parts[name] = parts.get(name, 0) + 1
    text = "; ".join(f"{n}" + (f" x{c}" if c > 1 else "") for n, c in parts.items())
    return text or "no algorithm to choose"


def variants_of(problem: Problem, chosen: ModuleOp) -> list[Variant]:
    """The variants that apply to the program (by the ops of its chosen mesh module)."""
    ops = list(chosen.walk())
    out = [Variant("chosen")]
    if any(isinstance(op, mesh.MatmulOp) for op in ops):
        for alg in matmul_algorithms():
            out.append(Variant(f"matmul {alg}", force=_force_matmul(alg)))
            if alg == mesh.MatmulAlgorithm.SUMMA.value:
                out.append(
                    Variant("matmul summa 1-buffer", force=_force_matmul(alg), single_buffered=True)
                )
    if any(isinstance(op, mesh.LocalMatmulOp) for op in ops):
        out.append(Variant("no skinny path", skinny=False))
    if any(isinstance(op, mesh.Conv2dOp) and op.group_count == 1 for op in ops):
        out.append(Variant("conv spatial", conv_channel_split=False))
        out.append(Variant("conv channel-split", conv_channel_split=True))
    if any(isinstance(op, mesh.AllReduceOp | mesh.ReduceOp) for op in ops):
        out += [
            Variant(f"collective {alg}", force=_force_collective(alg))
            for alg in collective_algorithms()
        ]
    default = PIPELINES["lower-to-mesh"]
    for side in problem.layout_sides:
        to_mesh = default.replace("assign-layouts", f"assign-layouts{{side={side}}}")
        out.append(Variant(f"layouts {side}x{side}", to_mesh=to_mesh))
    if problem.layout_sides:
        to_mesh = ",".join(p for p in default.split(",") if p != "assign-layouts")
        out.append(Variant("no assign-layouts", to_mesh=to_mesh))
    return out


def skipped(problem: Problem, variant: Variant) -> str | None:
    """Why `variant` is left out of `problem`, if it is."""
    return next((why for s, why in problem.skip.items() if variant.name.startswith(s)), None)


# --------------------------------------------------------------------------------- measuring


def flame_module(problem: Problem) -> ModuleOp:
    pf.manual_seed(0)
    return runtime._program_module(tuple(problem.build()))


def to_mesh(flame: ModuleOp, variant: Variant) -> ModuleOp:
    module = flame.clone()
    compiler.run_pipeline(module, variant.to_mesh)
    if variant.force is not None and not variant.force(module):
        raise ValueError(f"{variant.name}: no op to force")
    return module


def earlier_rows(rows_file: Path | None) -> dict[str, dict]:
    """The rows an earlier run appended to `rows_file`, by variant; rows that failed for
    want of memory are measured again."""
    if rows_file is None or not rows_file.exists():
        return {}
    rows = [json.loads(line) for line in rows_file.read_text().splitlines() if line.strip()]
    return {r["variant"]: r for r in rows if "MemoryError" not in r.get("error", "")}


def bound_for(problem: Problem, pes_used: int) -> float:
    """The problem's bound for a program that used `pes_used` PEs: a bound that assumes
    `problem.pes` scales down when more ran (work / PEs), so that a product the compiler moved
    from the user's g x g onto the whole fabric is not credited with g x g's efficiency."""
    if problem.pes and pes_used > problem.pes:
        return problem.bound * problem.pes / pes_used
    return problem.bound


def measure(
    problem: Problem,
    flame: ModuleOp,
    variant: Variant,
    same_program: dict[tuple[str, bool], dict] | None = None,
) -> dict:
    """One variant's row: cycles, estimate, efficiency, what the module ran. A variant whose
    mesh program (and SUMMA buffering) is one `same_program` already holds is that row
    again, not planned twice (the compiler's choice is always one of the forced variants)."""
    row: dict = {"problem": problem.name, "variant": variant.name, "bound": round(problem.bound)}
    start, cpu = time.perf_counter(), time.process_time()
    try:
        with lowering_options(variant):
            module = to_mesh(flame, variant)
            key = (str(module), variant.single_buffered)
            if same_program is not None and key in same_program:
                return {**same_program[key], "variant": variant.name}
            row["algorithms"] = describe(module)
            row["redistributions"] = sum(
                isinstance(op, mesh.RedistributeOp | mesh.RelayoutOp) for op in module.walk()
            )
            row["estimate"] = estimate_program(module, barriers=problem.program).cycles
            compiler.lower(module, "pe")
            report = compile_plan(module).report
    except Exception as err:  # a variant that fails is a row saying how, not a lost table
        text = str(err).splitlines()[0][:160] if str(err) else ""
        row["error"] = f"{type(err).__name__}: {text}"
        return row
    row.update(
        cycles=report.cycles,
        efficiency=round(bound_for(problem, report.pes_used) / report.cycles, 4),
        pes_used=report.pes_used,
        plan_seconds=round(time.perf_counter() - start, 2),
        plan_cpu_seconds=round(time.process_time() - cpu, 2),
    )
    if same_program is not None:
        same_program[key] = row
    return row


def measure_all(
    problem: Problem,
    chosen_only: bool = False,
    rows_file: Path | None = None,
    measure_new: bool = True,
) -> Iterator[dict]:
    """The chosen variant's row, then every other variant's; the last row is the summary
    (`"summary": true`): the fastest variant, whether the chosen one is within 5% of it, and
    the cost model's pick. With `rows_file`, rows measured by an earlier run that stopped are
    read from it and each new row is appended to it as it comes (a 720x720 variant plans for
    an hour: a run that dies keeps what it measured). `measure_new=False` (`--saved-only`)
    measures nothing: the variants missing from `rows_file` are rows saying so, and the
    summary covers the measured ones (`"partial": true`)."""
    earlier = earlier_rows(rows_file)
    flame = flame_module(problem)
    try:
        chosen = to_mesh(flame, Variant("chosen"))
    except Exception:  # the program itself does not compile: say why, once
        rows = [measure(problem, flame, Variant("chosen"))]
        yield rows[0]
        yield summarize(problem, rows)
        return
    rows = []
    same_program: dict[tuple[str, bool], dict] = {}
    if "chosen" in earlier and "error" not in earlier["chosen"]:
        # a resumed run: the forced variant the compiler chose is that row again (a 720x720
        # 2.5D SUMMA plans for 20 minutes)
        same_program[(str(chosen), False)] = earlier["chosen"]
    for variant in [Variant("chosen")] if chosen_only else variants_of(problem, chosen):
        why = skipped(problem, variant)
        if why is not None:
            row = {
                "problem": problem.name,
                "variant": variant.name,
                "error": f"not measured: {why}",
            }
        elif variant.name in earlier:
            row = earlier[variant.name]
        elif not measure_new:
            row = {"problem": problem.name, "variant": variant.name, "error": NOT_MEASURED}
        else:
            row = measure(problem, flame, variant, same_program)
            if rows_file is not None:
                with rows_file.open("a") as f:
                    f.write(json.dumps(row) + "\n")
        rows.append(row)
        yield row
    yield summarize(problem, rows)


#: the error of a variant that `--saved-only` found no row for
NOT_MEASURED = "not measured yet: no saved row"


def summarize(problem: Problem, rows: list[dict]) -> dict:
    ok = [r for r in rows if "cycles" in r]
    summary: dict = {"problem": problem.name, "summary": True, "bound": round(problem.bound)}
    missing = sum(r.get("error") == NOT_MEASURED for r in rows)
    if missing:  # fastest and pick are among the measured variants only
        summary["partial"] = True
        summary["measured"] = len(rows) - missing
    summary["bound_text"] = problem.bound_text
    chosen = next((r for r in ok if r["variant"] == "chosen"), None)
    if chosen is None or not ok:
        summary["error"] = next((r["error"] for r in rows if "error" in r), "no rows")
        return summary
    fastest = min(ok, key=lambda r: r["cycles"])
    others = [r for r in ok if r["variant"] != "chosen"]
    # the variant the compiler's choice is: the forced one with the same cycles (and layout)
    same = [r for r in others if r["cycles"] == chosen["cycles"]]
    pick = min(others or ok, key=lambda r: r["estimate"])
    summary.update(
        chosen=chosen["algorithms"],
        chosen_as=same[0]["variant"] if same else "",
        cycles=chosen["cycles"],
        estimate=chosen["estimate"],
        efficiency=chosen["efficiency"],
        fastest=fastest["variant"] if fastest is not chosen else (same or [chosen])[0]["variant"],
        fastest_cycles=fastest["cycles"],
        chosen_fastest=chosen["cycles"] <= 1.05 * fastest["cycles"],
        ratio=round(chosen["cycles"] / fastest["cycles"], 3),
        cost_model_pick=pick["variant"],
        redistributions=chosen.get("redistributions", 0),
        variants=len(rows),
    )
    return summary


# ---------------------------------------------------------------------------------- problems


def _zeros(*shape: int, layout: Any = None, dtype: Any = np.float32) -> Any:
    return pf.from_numpy(np.zeros(shape, dtype), layout=layout)


def _random(*shape: int, layout: Any = None, seed: int = 0) -> Any:
    a = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    return pf.from_numpy(a, layout=layout)


def gemm(n: int, g: int) -> Problem:
    target = pf.sim.get_target()
    grid = pf.MeshLayout.grid(g, g)
    tile = -(-n // g)
    return Problem(
        f"GEMM {n}^3 f32 on {g}x{g} ({tile}x{tile} tiles)",
        lambda: [_zeros(n, n, layout=grid) @ _zeros(n, n, layout=grid)],
        2 * n**3 / (g * g * target.flops_per_cycle),
        "2n^3 / (PEs * flops/cycle)",
        pes=g * g,
    )


def gemv_problem(n: int, g: int) -> Problem:
    import gemv  # benchmarks/gemv.py: the GEMV's bounds

    grid = pf.MeshLayout.grid(g, g)
    tile = -(-n // g)
    return Problem(
        f"GEMV {n}^2 f32 on {g}x{g} ({tile}x{tile} tiles)",
        lambda: [_zeros(n, n, layout=grid) @ _zeros(n)],
        gemv.bound(n, g, "float32"),
        "tile^2 / FMAC lanes + (side - 1) / 2 hops",
    )


def full_sum(g: int, per_pe: int = 1) -> Problem:
    target = pf.sim.get_target()
    grid = pf.MeshLayout.grid(g, g)
    side = g * int(per_pe**0.5)
    return Problem(
        f"full-grid sum of {side}x{side} on {g}x{g}",
        lambda: [_random(side, side, layout=grid).sum()],
        per_pe / target.flops_per_cycle + 2 * (g - 1) * target.hop_latency_cycles,
        "local elements / flops + 2 (side - 1) hops",
    )


def allreduce(g: int, vector: int) -> Problem:
    """`x - x.sum(1, keepdim=True)` on [vector * g, g]: an allreduce of `vector` values per PE
    along every PE row (benchmarks/collectives.py's `rows` / `vector` problems)."""
    target = pf.sim.get_target()
    grid = pf.MeshLayout.grid(g, g)

    def build() -> list[Any]:
        x = _random(vector * g, g, layout=grid)
        return [x - x.sum(1, keepdim=True)]

    return Problem(
        f"allreduce of {vector} per PE along the rows of {g}x{g}",
        build,
        vector + 2 * (g - 1) * target.hop_latency_cycles,
        "B + 2 (side - 1) hops",
    )


def conv2d(batch: int = 8, channels: int = 64, size: int = 56, g: int = 64) -> Problem:
    """The issue's layer (ResNet's 64-channel 3x3 conv at 56x56, batch 8), the input on g x g
    PEs (64: the channel-split conv runs on 56 x 64 of them, one output row and one output
    channel per PE); bound: its FMACs on the g x g PEs."""
    target = pf.sim.get_target()
    grid = pf.MeshLayout.grid(g, g)

    def build() -> list[Any]:
        x = _random(batch, channels, size, size, layout=grid)
        w, b = _random(channels, channels, 3, 3, seed=1), _random(channels, seed=2)
        return [pf.nn.functional.conv2d(x, w, b, padding=1)]

    flops = 2 * batch * channels * size * size * channels * 9
    return Problem(
        f"conv2d {batch}x{channels}x{size}x{size}, {channels} 3x3 filters, on {g}x{g}",
        build,
        flops / (g * g * target.flops_per_cycle),
        "2 N O H W C 9 / (PEs * flops/cycle)",
        program=True,
    )


def conv2d_step(batch: int = 8, channels: int = 64, size: int = 56, g: int = 64) -> Problem:
    """The issue's layer trained one SGD step: forward, an MSE loss, backward (the input's,
    the weight's and the bias's gradients) and the update; bound: the three convolutions'
    FMACs (forward, input gradient, weight gradient) on the g x g PEs."""
    target = pf.sim.get_target()
    grid = pf.MeshLayout.grid(g, g)

    def build() -> list[Any]:
        x = _random(batch, channels, size, size, layout=grid).requires_grad_()
        conv = pf.nn.Conv2d(channels, channels, 3, padding=1)
        opt = pf.optim.SGD(conv.parameters(), lr=0.01)
        t = _random(batch, channels, size, size, seed=3)  # where the output is
        loss = pf.nn.functional.mse_loss(conv(x), t)
        loss.backward()
        opt.step()
        return [loss, x.grad]

    flops = 3 * 2 * batch * channels * size * size * channels * 9
    return Problem(
        f"conv2d training step {batch}x{channels}x{size}x{size}, {channels} 3x3 filters, "
        f"on {g}x{g}",
        build,
        flops / (g * g * target.flops_per_cycle),
        "3 * 2 N O H W C 9 / (PEs * flops/cycle)",
        program=True,
    )


def mlp() -> Problem:
    """The MLP 784-256-10 SGD training step, batch 64 (benchmarks/mlp_step.py's); bound: its
    matmul flops (forward, both backward products, three per layer) on the 64x64 PEs."""
    import mlp_step

    target = pf.sim.get_target()
    flops = 3 * 2 * 64 * (784 * 256 + 256 * 10)
    return Problem(
        "MLP 784-256-10 training step, batch 64",
        lambda: [mlp_step.build_step()],
        flops / (64 * 64 * target.flops_per_cycle),
        "matmul flops / (64x64 PEs * flops/cycle)",
        program=True,
        layout_sides=(16, 32, 64, 128),
    )


def transformer(batch: int = 2, seq: int = 64, dim: int = 128, heads: int = 4) -> Problem:
    """benchmarks/transformer_block.py's block, forward; bound: its matmul flops on 64x64 PEs."""
    import transformer_block

    target = pf.sim.get_target()

    def build() -> list[Any]:
        block = transformer_block.Block(dim, heads)
        x = _random(batch, seq, dim)
        with pf.no_grad():
            return [block(x)]

    flops = transformer_block.matmul_flops(batch, seq, dim)
    return Problem(
        f"transformer block B={batch} T={seq} d={dim} heads={heads}",
        build,
        flops / (64 * 64 * target.flops_per_cycle),
        "matmul flops / (64x64 PEs * flops/cycle)",
        program=True,
        layout_sides=(16, 32, 64),
    )


def problem_of(args: argparse.Namespace) -> Problem:
    g = args.grid
    n = g * args.tile if args.tile else args.size
    if args.problem == "gemm":
        return gemm(n or 1024, g or 32)
    if args.problem == "gemv":
        return gemv_problem(n or 4096, g or 64)
    if args.problem == "sum":
        return full_sum(g or 64, args.per_pe)
    if args.problem == "allreduce":
        return allreduce(g or 64, args.vector)
    if args.problem == "conv2d":
        return conv2d(args.batch, args.channels, args.size or 56, g or 64)
    if args.problem == "conv2d-step":
        return conv2d_step(args.batch, args.channels, args.size or 56, g or 64)
    if args.problem == "mlp":
        return mlp()
    return transformer()


PROBLEMS = ("gemm", "gemv", "sum", "allreduce", "conv2d", "conv2d-step", "mlp", "transformer")


def text_row(row: dict) -> str:
    if row.get("summary"):
        if "error" in row:
            return f"  {row['problem']}: {row['error']}"
        return (
            f"  chosen: {row['chosen']} ({row['cycles']:,} cycles, efficiency "
            f"{row['efficiency']:.3f}); fastest: {row['fastest']} ({row['fastest_cycles']:,}); "
            f"chosen fastest: {'yes' if row['chosen_fastest'] else 'no'} ({row['ratio']}x); "
            f"cost model's pick: {row['cost_model_pick']}"
            + (f" (of the {row['measured']} measured so far)" if row.get("partial") else "")
        )
    if "error" in row:
        return f"{row['problem']} | {row['variant']}: {row['error']}"
    return (
        f"{row['problem']} | {row['variant']}: {row['cycles']:,} cycles, bound {row['bound']:,}, "
        f"efficiency {row['efficiency']:.3f}, estimate {row['estimate']:,} "
        f"[{row['algorithms']}] ({row['plan_cpu_seconds']} s CPU)"
    )


def main() -> None:
    # only planned, never run: the host-memory check would refuse the largest grids
    os.environ.setdefault("PYFLAME_HOST_MEMORY", "off")
    # forced layouts and algorithms are the point here: no advice about the hints
    warnings.filterwarnings("ignore", category=UserWarning)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("problem", choices=PROBLEMS)
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--size", type=int, help="matrix side n (gemm, gemv); H = W (conv2d)")
    size.add_argument("--tile", type=int, help="tile side per PE: n = grid * tile (gemm, gemv)")
    parser.add_argument("--grid", type=int, help="grid side")
    parser.add_argument("--vector", type=int, default=256, help="values per PE (allreduce)")
    parser.add_argument("--batch", type=int, default=8, help="conv2d's N (conv2d, conv2d-step)")
    parser.add_argument("--channels", type=int, default=64, help="conv2d's C = O")
    parser.add_argument("--per-pe", type=int, default=1, help="elements per PE (sum; a square)")
    parser.add_argument("--chosen-only", action="store_true", help="only the compiler's choice")
    parser.add_argument(
        "--skip", nargs="*", default=[], help="leave out variants whose name starts so"
    )
    parser.add_argument("--json", action="store_true", help="one JSON object per row")
    parser.add_argument(
        "--rows",
        type=Path,
        help="JSON-lines file: rows measured earlier are reused, new rows appended",
    )
    parser.add_argument(
        "--saved-only",
        action="store_true",
        help="with --rows: measure nothing, print the saved rows and their summary",
    )
    args = parser.parse_args()
    problem = problem_of(args)
    problem.skip.update({s: "left out (--skip)" for s in args.skip})
    if args.saved_only and args.rows is None:
        parser.error("--saved-only reads the rows of --rows FILE")
    for row in measure_all(problem, args.chosen_only, args.rows, not args.saved_only):
        print(json.dumps(row) if args.json else text_row(row), flush=True)


if __name__ == "__main__":
    main()
