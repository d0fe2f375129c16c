"""Run the benchmarks and rewrite their generated tables in benchmarks/RESULTS.md.

    python benchmarks/run.py                 # everything (the 720x720 rows take a while)
    python benchmarks/run.py --quick         # a small subset: minutes, not hours
    python benchmarks/run.py --only scale efficiency-tile
    python benchmarks/run.py --quick --print # print the tables, leave RESULTS.md alone
    python benchmarks/run.py --jobs 3        # three measurements at once (memory permitting)
    python benchmarks/run.py --resume        # reuse the measurements an earlier run saved
    python benchmarks/run.py --saved-only --only variants   # tables from saved rows alone
    python benchmarks/run.py --max-grid 256  # grid sides up to 256 only

Every measurement runs in a fresh subprocess (`sys.executable`, this checkout's scripts), so
peak memory is per program. Each section's table sits in RESULTS.md between two marker
comments, `<!-- run.py:NAME -->` and `<!-- /run.py:NAME -->`; only the text between them is
replaced (the first run appends the section with its markers), so prose written around the
tables stays. Sections, in the order they run:

- `variants` (issue 11, deliverable 6): every algorithm variant side by side on the issue's
  problems (GEMM 1024^3 on 32x32 and 8192^2 on 720x720; GEMV 4096^2 on 64x64 and 16384^2 on
  360x360 and 720x720; the full-grid sum and allreduces on 64x64; conv2d 8x64x56x56 3x3 (the input on
  64x64; quick: 8x16x56x56 on 28x28); the
  MLP 784-256-10 training step; a transformer block): simulated cycles, the lower bound,
  efficiency = bound / cycles, the cost model's estimate of each variant, the compiler's own
  choice and whether it was the fastest (within 5%), and the variant the cost model ranks
  first. The variants come from the compiler's registries (benchmarks/variants.py says which):
  a new matmul or collective algorithm appears without a change here;
- `weak-scaling`: the compiler's choice on 16x16, 32x32 and 64x64 PEs with the work per PE
  fixed (GEMM, GEMV, allreduce, full-grid sum), and the efficiency lost (target: < 10%);
- `efficiency-tile`: GEMM cycles against the compute bound at a fixed 32x32 tile per PE, grid
  sides 32 to 720, every matmul variant side by side (planned only: the cycles are the plan's;
  benchmarks/variants.py gemm);
- `efficiency-size`: the same at fixed matrix sizes, 2048^2 and 8192^2, up to 720x720;
- `scale` (issue 10, deliverable 6): plan time, first and cached `pf.eval`, peak RSS and SRAM
  held for GEMMs on grid sides 64 to 720 and a program over the whole WSE-2
  (benchmarks/scale.py);
- `host-speed` (issue 10, deliverable 7): benchmarks/host_speed.py's four ratios (GEMM and
  GEMV against numpy, the MLP step against PyTorch eager, the 10-op overhead), in CPU time
  with one thread for numpy, PyTorch and the simulator (`--cpu --threads 1`); `gemm`, `conv2d`: those scripts' reports (host time against numpy / PyTorch);
- `cost-model` (issue 11, deliverable 1): benchmarks/cost_model.py, estimates against the
  simulator over its corpus.

`--quick` keeps the 32x32 and 64x64 problems of `variants` (no whole programs), sides 16 and
32 of `weak-scaling`, the small GEMM grids, two scale rows, and short repeats (measured
2026-12-04 on the shared VM at load average 23-29: the quick `variants` section 197 s of wall
time, the full `weak-scaling` section 263 s). The full run is hours of CPU: a variant of the
8192^2 GEMM on 720x720 PEs plans in ~5 minutes of CPU, the transformer block's 14 variants
take ~6 minutes, the MLP step's ~4; on that loaded VM it did not finish within a session
(RESULTS.md, "Benchmark runner"). `--max-grid 256` leaves the largest grids out; `--resume`
continues an interrupted run: a finished measurement's rows are in `benchmarks/saved/NAME.json`,
and variants.py appends each variant's row to `saved/NAME.partial.jsonl` as it comes (its
`--rows` option), so a run stopped in the middle of a problem keeps the variants it measured.
`--saved-only` plans nothing: a problem whose run stopped shows the variants saved so far
(the others "not measured yet"), summarised over those and marked "saved so far: k of n"; a
row with no saved measurement at all keeps what RESULTS.md's table had for it (the stamp says
how many rows were kept). `benchmarks/saved/` is committed with the tables it made, so a
fresh checkout rebuilds them.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "RESULTS.md"
GENERATED_HEADING = "## Generated tables (benchmarks/run.py)"
#: subprocesses at once (`--jobs`)
JOBS = [1]
#: where each measurement's rows are saved, and whether to reuse them (`--resume`)
SAVED = HERE / "saved"
RESUME = [False]
#: build tables from saved rows only (`--saved-only`): what is not saved says so
SAVED_ONLY = [False]
#: the largest grid side to measure (`--max-grid`)
MAX_GRID = [10**9]

#: (grid sides at 32x32 tiles), full and quick
TILE_GRIDS = ([32, 64, 128, 256, 512, 720], [32, 64])
#: (matrix side, grid sides), full and quick (2048^2 needs 64x64 PEs or more to fit SRAM)
SIZE_GRIDS = (
    [(2048, [64, 128, 256, 512, 720]), (8192, [256, 512, 720])],
    [(2048, [64, 128])],
)
#: benchmarks/variants.py arguments per problem of the `variants` section, full and quick (the
#: SUMMA path of a large GEMV, `no skinny path`, redistributes the matrix to the compiler's
#: square grid: ~30 minutes of planning for 4096^2 on a loaded machine, hours at 16384^2)
VARIANT_JOBS = (
    [
        ["gemm", "--size", "1024", "--grid", "32"],
        ["gemm", "--size", "8192", "--grid", "720"],
        ["gemv", "--size", "4096", "--grid", "64"],
        ["gemv", "--size", "16384", "--grid", "360", "--skip", "no skinny"],
        ["gemv", "--size", "16384", "--grid", "720", "--skip", "no skinny"],
        ["sum", "--grid", "64"],
        ["allreduce", "--grid", "64", "--vector", "1"],
        ["allreduce", "--grid", "64", "--vector", "256"],
        ["conv2d"],  # the issue's: 8x64x56x56, 64 3x3 filters, input on 64x64 (channel-split)
        ["mlp"],
        ["transformer"],
    ],
    [
        ["gemm", "--size", "1024", "--grid", "32"],
        ["gemv", "--size", "4096", "--grid", "64", "--skip", "no skinny"],
        ["sum", "--grid", "64"],
        ["allreduce", "--grid", "64", "--vector", "1"],
        ["allreduce", "--grid", "64", "--vector", "256"],
        ["conv2d", "--channels", "16", "--grid", "28"],
    ],
)
#: weak scaling: (benchmark, work per PE, variants.py arguments without the grid), and the
#: grid sides
WEAK_PROBLEMS = [
    ("GEMM", "32x32 tiles of A, B and C (n = 32 g)", ["gemm", "--tile", "32"]),
    ("GEMV", "a 64x64 tile of A (n = 64 g)", ["gemv", "--tile", "64"]),
    ("allreduce", "256 values, along every PE row", ["allreduce", "--vector", "256"]),
    ("allreduce", "1 value, along every PE row", ["allreduce", "--vector", "1"]),
    ("full-grid sum", "1 value, to the host", ["sum"]),
]
WEAK_GRIDS = ([16, 32, 64], [16, 32])
#: scale.py arguments per row, full and quick
SCALE_ROWS = (
    [
        ["64"],
        ["128"],
        ["256"],
        ["512", "--size", "8192"],
        ["wafer"],
        ["720", "--size", "2048"],
        ["720", "--size", "8192"],
    ],
    [["64"], ["128", "--size", "2048"]],
)


def run(script: str, *args: str, timeout: float | None = None) -> subprocess.CompletedProcess:
    """Run a benchmark script of this folder in a fresh interpreter."""
    cmd = [sys.executable, str(HERE / script), *args]
    print("$", " ".join(cmd[1:]), flush=True)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)


def json_rows(proc: subprocess.CompletedProcess) -> list[dict]:
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode and not rows:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        rows.append({"error": f"exit {proc.returncode}: {tail[0][:200]}"})
    return rows


def in_parallel(make: Callable[[list[str]], list[dict]], jobs: list[list[str]]) -> list:
    """`make(args)` for every job, `JOBS` subprocesses at a time, results in job order; the
    last job (the largest: tables list them smallest first) starts first."""
    order = [len(jobs) - 1, *range(len(jobs) - 1)] if jobs else []
    with ThreadPoolExecutor(JOBS[0]) as pool:
        futures = {i: pool.submit(make, jobs[i]) for i in order}
        return [futures[i].result() for i in range(len(jobs))]


def measured(script: str, args: list[str]) -> list[dict]:
    """The JSON rows of `script args`, run now, or read back from SAVED with `--resume` (each
    run's rows are saved there as they come, so a long run that stops can go on later)."""
    saved = SAVED / (script.removesuffix(".py") + "_" + "_".join(args).replace("-", "") + ".json")
    if RESUME[0] and saved.exists():
        print("reusing", saved.relative_to(HERE), flush=True)
        rows = json.loads(saved.read_text())
        return rows if isinstance(rows, list) else [rows]
    # variants.py appends each variant's row here as it comes: a run that stops keeps them
    partial = saved.with_suffix(".partial.jsonl")
    if SAVED_ONLY[0]:
        if script == "variants.py" and partial.exists():  # the rows so far, summarised
            return json_rows(run(script, *args, "--rows", str(partial), "--saved-only"))
        return [{"error": "not measured yet (no saved rows)"}]
    SAVED.mkdir(exist_ok=True)
    extra = ["--rows", str(partial)] if script == "variants.py" else []
    proc = run(script, *args, *extra)
    rows = json_rows(proc)
    # a finished process's rows, errors of single variants (Cannon on a non-square grid)
    # included; a crash or a row that failed for want of memory is measured again
    if rows and proc.returncode == 0 and not any("MemoryError" in r.get("error", "") for r in rows):
        saved.write_text(json.dumps(rows))
        partial.unlink(missing_ok=True)
    return rows


#: variants.py's rows per argument list, measured once per run (the variant section's GEMMs
#: are the efficiency tables' rows)
MEASURED: dict[tuple[str, ...], list[dict]] = {}


def variant_rows(args: list[str]) -> list[dict]:
    """`benchmarks/variants.py args --json`: every variant's row, then the summary row."""
    key = tuple(args)
    if key not in MEASURED:
        MEASURED[key] = measured("variants.py", [*args, "--json"])
    return MEASURED[key]


def cycles_cell(r: dict) -> str:
    if "error" in r:
        return r["error"].split(":")[0]
    return f"{r['efficiency']:.3f} ({r['cycles']:,})"


def efficiency_table(jobs: list[tuple[int | None, int | None, int]]) -> str:
    """Rows of (tile, size, grid): one variants.py run per grid, every matmul algorithm of the
    compiler's registry side by side, then the compiler's choice and whether it was fastest."""
    arguments = [
        ["gemm", "--size", str(size or (tile or 0) * g), "--grid", str(g)] for tile, size, g in jobs
    ]
    results = in_parallel(variant_rows, arguments)
    names: list[str] = []
    for rows in results:
        for r in rows:
            name = r.get("variant")
            if name and name != "chosen" and name not in names:
                names.append(name)
    lines = [
        "| n | grid | tile per PE | "
        + " | ".join(n.removeprefix("matmul ") for n in names)
        + " | chosen | chosen fastest | plan CPU (s) |",
        "|---|---|---|" + "---|" * (len(names) + 3),
    ]
    for (tile, size, g), rows in zip(jobs, results, strict=True):
        n = size or (tile or 0) * g
        by = {r.get("variant"): r for r in rows if not r.get("summary")}
        # (a problem with no rows at all says why in the chosen column)
        summary = next((r for r in rows if r.get("summary")), rows[0] if len(rows) == 1 else {})
        cells = [cycles_cell(by[v]) if v in by else "-" for v in names]
        plans = "/".join(str(r["plan_cpu_seconds"]) for r in by.values() if "plan_cpu_seconds" in r)
        lines.append(
            f"| {n} | {g}x{g} | {tile_cell(n, g, summary)} | {' | '.join(cells)} "
            f"| {chosen_cell(summary)} "
            f"| {fastest_cell(summary)} | {plans or '-'} |"
        )
    return "\n".join(lines)


def tile_cell(n: int, g: int, summary: dict) -> str:
    """The tile per PE on the g x g grid, and the chosen program's own where the compiler moved
    the product onto a larger grid ("... on 750x750" in its algorithms: 23040^2 with 2.5D
    SUMMA's layers does not fit 720x720 PEs)."""
    t = -(-n // g)
    cell = f"{t}x{t}"
    found = re.search(r" on (\d+)x(\d+)", summary.get("chosen", ""))
    if found:
        rows, cols = int(found.group(1)), int(found.group(2))
        if rows * cols > g * g:
            cell += f" (chosen on {rows}x{cols}: {-(-n // rows)}x{-(-n // cols)})"
    return cell


def chosen_cell(summary: dict) -> str:
    """The variant the compiler's choice is; until its forced twin is measured (a partial
    run), the choice itself with its efficiency, which no other cell shows yet."""
    if "chosen" not in summary:
        return summary.get("error", "-").split(":")[0]
    if summary["chosen_as"]:
        return summary["chosen_as"]
    if summary.get("partial"):
        return f"{summary['chosen']}: {summary['efficiency']:.3f} ({summary['cycles']:,})"
    return summary["chosen"]


def fastest_cell(summary: dict) -> str:
    if "chosen_fastest" not in summary:
        return "-"
    among = ""
    if summary.get("partial"):  # only among the variants measured so far
        if summary["measured"] <= 1:
            return "- (nothing else measured yet)"
        among = f" of {summary['measured']} measured"
    if summary["chosen_fastest"] and summary["ratio"] <= 1:
        return f"yes{among}"
    verdict = "yes" if summary["chosen_fastest"] else "no"
    return f"{verdict}{among} ({summary['ratio']}x of {summary['fastest']})"


def fits(side: int | str) -> bool:
    """Whether a grid side is within `--max-grid` (the whole-wafer row always is)."""
    return side == "wafer" or int(side) <= MAX_GRID[0]


def efficiency_tile(quick: bool) -> str:
    grids = [g for g in TILE_GRIDS[quick] if fits(g)]
    return (
        "bound = 2n^3 / (PEs * 2 flops/cycle), WSE2, f32 (PEs: the grid's, or those the program "
        "used where the compiler moved the product onto more); cells: efficiency = bound / "
        "simulated cycles (cycles); chosen: the variant the compiler's own choice matches\n\n"
        + efficiency_table([(32, None, g) for g in grids])
    )


def efficiency_size(quick: bool) -> str:
    jobs = [(None, n, g) for n, grids in SIZE_GRIDS[quick] for g in grids if fits(g)]
    return (
        "tiles of ceil(n / grid) (the last PE row and column hold the rest, padded)\n\n"
        + efficiency_table(jobs)
    )


def variant_jobs(quick: bool) -> list[list[str]]:
    return [args for args in VARIANT_JOBS[quick] if fits(grid_of(args))]


def grid_of(args: list[str]) -> int:
    return int(args[args.index("--grid") + 1]) if "--grid" in args else 0


def variants(quick: bool) -> str:
    """Per problem: the compiler's choice, the fastest variant, the cost model's pick; then
    every variant's cycles, efficiency and estimate."""
    jobs = variant_jobs(quick)
    results = in_parallel(variant_rows, jobs)
    summary_lines = [
        "| problem | bound | compiler's choice | cycles | efficiency | fastest variant (cycles) "
        "| chosen fastest (within 5%) | cost model's pick (lowest estimate) |",
        "|---|---:|---|---:|---:|---|---|---|",
    ]
    detail_lines = [
        "| problem | variant | simulated cycles | efficiency | estimate (error) | what ran |",
        "|---|---|---:|---:|---:|---|",
    ]
    # --saved-only: a problem with no saved rows keeps its rows of the table before (the
    # jobs in the same order, so by position: its missing row names the command, not the
    # problem)
    earlier = _earlier_problems() if SAVED_ONLY[0] else []
    if len(earlier) != len(jobs):
        earlier = []
    kept = 0
    for i, (args, rows) in enumerate(zip(jobs, results, strict=True)):
        summary = next((r for r in rows if r.get("summary")), None)
        if summary is None or "chosen" not in summary:
            error = (summary or (rows[0] if rows else {})).get("error", "no output")
            if error == MISSING and earlier and not earlier[i][0].startswith("| `"):
                summary_lines.append(earlier[i][0])
                detail_lines += earlier[i][1]
                kept += 1
                continue
            summary_lines.append(f"| `variants.py {' '.join(args)}` | {error} | | | | | | |")
            continue
        moves = summary.get("redistributions", 0)
        chosen = summary["chosen"] + (f"; {moves} redistributions" if moves else "")
        problem = summary["problem"]
        if summary.get("partial"):
            problem += f" (saved so far: {summary['measured']} of {summary['variants']} variants)"
        summary_lines.append(
            f"| {problem} | {summary['bound']:,} ({summary['bound_text']}) "
            f"| {chosen} | {summary['cycles']:,} | {summary['efficiency']:.3f} "
            f"| {summary['fastest']} ({summary['fastest_cycles']:,}) | {fastest_cell(summary)} "
            f"| {summary['cost_model_pick']} |"
        )
        for r in rows:
            if r.get("summary"):
                continue
            if "error" in r:
                detail_lines.append(f"| {r['problem']} | {r['variant']} | {r['error']} | | | |")
                continue
            error = (r["estimate"] - r["cycles"]) / r["cycles"]
            moves = r.get("redistributions", 0)
            detail_lines.append(
                f"| {r['problem']} | {r['variant']} | {r['cycles']:,} | {r['efficiency']:.3f} "
                f"| {r['estimate']:,} ({100 * error:+.1f}%) | {r['algorithms']}"
                + (f"; {moves} redistributions" if moves else "")
                + " |"
            )
    return (
        "planned only (the plan's cycles are a run's); efficiency = bound / simulated cycles; "
        "estimate: passes/cost_model's `estimate_program` of the variant's mesh module"
        + (f" ({kept} problems kept from the table before: no saved rows here)" if kept else "")
        + "\n\n"
        + "\n".join(summary_lines)
        + "\n\nEvery variant:\n\n"
        + "\n".join(detail_lines)
    )


def _earlier_problems() -> list[tuple[str, list[str]]]:
    """The variants section as RESULTS.md has it: per problem, in job order, its summary row
    and its rows in the table of every variant."""
    body = section_body(RESULTS.read_text(), "variants") if RESULTS.exists() else ""
    tables = [b.splitlines()[2:] for b in body.split("\n\n") if b.startswith("|")]
    if len(tables) < 2:
        return []
    summary, detail = tables[0], tables[1]
    out = []
    for line in summary:
        problem = _cells(line)[0].split(" (saved so far")[0]
        out.append((line, [d for d in detail if _cells(d)[0] == problem]))
    return out


def weak_scaling(quick: bool) -> str:
    """Work per PE fixed, grid side 16 -> 32 -> 64: the compiler's choice's efficiency."""
    sides = [g for g in WEAK_GRIDS[quick] if fits(g)]
    jobs = [[*args, "--grid", str(g), "--chosen-only"] for *_, args in WEAK_PROBLEMS for g in sides]
    results = iter(in_parallel(variant_rows, jobs))
    lines = [
        "| benchmark | work per PE | "
        + " | ".join(f"{g}x{g}" for g in sides)
        + f" | efficiency lost {sides[0]} -> {sides[-1]} | under 10% |",
        "|---|---|" + "---|" * (len(sides) + 2),
    ]
    for name, work, _ in WEAK_PROBLEMS:
        effs, cells = [], []
        for _ in sides:
            rows = next(results)
            summary = next((r for r in rows if r.get("summary")), rows[-1] if rows else {})
            if "efficiency" in summary:
                effs.append(summary["efficiency"])
                cells.append(f"{summary['efficiency']:.3f} ({summary['cycles']:,})")
            else:
                effs.append(None)
                cells.append(summary.get("error", "no output").split(":")[0])
        if len(effs) > 1 and None not in effs:
            loss = 1 - effs[-1] / effs[0]
            verdict = f"{100 * loss:+.1f}% | {'yes' if loss < 0.10 else 'no'}"
        else:
            verdict = "- | -"
        lines.append(f"| {name} | {work} | {' | '.join(cells)} | {verdict} |")
    return (
        "the compiler's choice, planned; cells: efficiency = bound / simulated cycles (cycles); "
        "loss = 1 - efficiency at the largest side / at the smallest (negative: a gain)\n\n"
        + "\n".join(lines)
    )


def scale(quick: bool) -> str:
    lines = [
        "seconds: wall (CPU of the process, all threads); first eval = trace, lower, plan, run; "
        "cached eval = a compile-cache hit (the run and host I/O)\n",
        "| program | ops planned (loop bodies once per iteration) | plan (s) | first eval (s) "
        "| cached eval (s) | peak RSS after plan / "
        "in all (GB) | SRAM held (GB, share of 48 KiB x PEs) | cycles (efficiency) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    jobs = [args for args in SCALE_ROWS[quick] if fits(args[0])]
    results = in_parallel(lambda a: measured("scale.py", [*a, "--json"]), jobs)
    for args, rows in zip(jobs, results, strict=True):
        r = rows[0]
        if "error" in r:
            lines.append(f"| `scale.py {' '.join(args)}` | {r['error']} | | | | | | |")
            continue
        eff = f" ({r['efficiency']:.3f})" if "efficiency" in r else ""
        lines.append(
            f"| {r['program']} | {r['ops']:,} | {r['plan_seconds']} ({r['plan_cpu_seconds']}) "
            f"| {r['first_eval_seconds']} ({r['first_eval_cpu_seconds']}) "
            f"| {r['cached_eval_seconds']} ({r['cached_eval_cpu_seconds']}) "
            f"| {r['plan_peak_rss_gb']} / {r['peak_rss_gb']} | "
            f"{r['sram_gb']} ({100 * r['sram_fraction']:.1f}%) | {r['cycles']:,}{eff} |"
        )
    return "\n".join(lines)


def report_of(
    script: str, *args: str, quick: tuple[str, ...] = ("--repeat", "2")
) -> Callable[[bool], str]:
    """A section that is `script args`'s printed report (`quick`: the arguments `--quick` adds)."""

    def section(quick_run: bool) -> str:
        proc = run(script, *args, *(quick if quick_run else ()))
        text = proc.stdout.strip() or f"exit {proc.returncode}: {proc.stderr.strip()[-300:]}"
        return f"```\n{text}\n```"

    return section


SECTIONS: dict[str, tuple[str, Callable[[bool], str]]] = {
    "variants": ("Every algorithm variant, the compiler's choice (issue 11)", variants),
    "weak-scaling": ("Weak scaling, work per PE fixed (issue 11)", weak_scaling),
    "efficiency-tile": ("GEMM efficiency, 32x32 tiles per PE", efficiency_tile),
    "efficiency-size": ("GEMM efficiency, fixed matrix sizes", efficiency_size),
    "scale": ("Wafer scale: plan, run and memory", scale),
    # CPU time at one thread everywhere: on a shared machine wall time measured the load
    # (a table at load 29 showed GEMM at 0.62x numpy and GEMV at 39x)
    "host-speed": (
        "Host speed (benchmarks/host_speed.py)",
        report_of("host_speed.py", "--cpu", "--threads", "1"),
    ),
    "gemm": ("GEMM 1024^3 on 32x32 (benchmarks/gemm.py)", report_of("gemm.py")),
    "conv2d": ("conv2d (benchmarks/conv2d.py)", report_of("conv2d.py")),
    "cost-model": (
        "The cost model against the simulator (benchmarks/cost_model.py)",
        report_of("cost_model.py", quick=("--quick",)),
    ),
}


def commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=HERE, capture_output=True, text=True
        )
        return out.stdout.strip() or "unknown"
    except OSError:
        return "unknown"


#: what a table row says when `--saved-only` finds no saved rows for it
MISSING = "not measured yet (no saved rows)"


def section_body(text: str, name: str) -> str:
    """Section `name`'s generated part in `text` ("" when missing)."""
    start, end = f"<!-- run.py:{name} -->", f"<!-- /run.py:{name} -->"
    found = re.search(re.escape(start) + r"\n(.*?)\n" + re.escape(end), text, re.DOTALL)
    return found.group(1) if found else ""


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def keep_earlier_rows(earlier: str, body: str) -> tuple[str, int]:
    """`body` with each table row that has no saved rows (`MISSING`) replaced by the row of
    the same table in `earlier` (the section as RESULTS.md had it) with the same first two
    cells and as many cells as the table's header (the efficiency tables' (n, grid)), and a
    table with no row measured by the earlier table whole: a machine without the saved rows
    of every measurement rebuilds a table without losing the others. Returns the body and
    how many rows it kept."""
    earlier_tables = [b.splitlines() for b in earlier.split("\n\n") if b.startswith("|")]
    blocks, kept, t = [], 0, -1
    for block in body.split("\n\n"):
        if not block.startswith("|"):
            blocks.append(block)
            continue
        t += 1
        lines = block.splitlines()
        if t < len(earlier_tables) and all(MISSING in line for line in lines[2:]):
            # nothing measured here: not even the columns are known, the earlier table stays
            blocks.append("\n".join(earlier_tables[t]))
            kept += len(earlier_tables[t]) - 2
            continue
        width = len(_cells(lines[0]))
        old = {
            tuple(_cells(line)[:2]): line
            for line in (earlier_tables[t] if t < len(earlier_tables) else [])[2:]
            if MISSING not in line and len(_cells(line)) == width
        }
        for i, line in enumerate(lines):
            same = old.get(tuple(_cells(line)[:2])) if MISSING in line else None
            if same is not None:
                lines[i] = same
                kept += 1
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks), kept


def replace_section(text: str, name: str, title: str, body: str) -> str:
    """`text` with section `name`'s generated part replaced (appended when missing)."""
    start, end = f"<!-- run.py:{name} -->", f"<!-- /run.py:{name} -->"
    block = f"{start}\n{body}\n{end}"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)
    if pattern.search(text):
        return pattern.sub(lambda _: block, text, count=1)
    if GENERATED_HEADING not in text:
        text = text.rstrip("\n") + f"\n\n{GENERATED_HEADING}\n"
    return text.rstrip("\n") + f"\n\n### {title}\n\n{block}\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small subset of every section")
    parser.add_argument("--only", nargs="+", choices=list(SECTIONS), help="these sections")
    parser.add_argument("--print", action="store_true", help="print, leave RESULTS.md alone")
    parser.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="measurements at once (each its own process; "
        "times then include the others' load, peak memory stays per process)",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="reuse measurements saved in benchmarks/saved/ "
        "by an earlier run instead of repeating them",
    )
    parser.add_argument(
        "--saved-only",
        action="store_true",
        help="with --resume: tables from the saved measurements alone, the rest marked "
        "not measured (the script-report sections still run)",
    )
    parser.add_argument("--max-grid", type=int, help="leave out GEMM grid sides above this")
    parser.add_argument(
        "--saved-dir",
        type=Path,
        help="keep the measurements' rows here instead of benchmarks/saved/ (a test's run "
        "leaves the committed ones alone)",
    )
    args = parser.parse_args()
    if args.saved_dir is not None:
        global SAVED
        SAVED = args.saved_dir
    JOBS[0] = max(1, args.jobs)
    MAX_GRID[0] = args.max_grid or MAX_GRID[0]
    RESUME[0] = args.resume or args.saved_only
    SAVED_ONLY[0] = args.saved_only
    for name in args.only or list(SECTIONS):
        title, make = SECTIONS[name]
        start = time.perf_counter()
        table = make(args.quick)
        load = os.getloadavg()[0]
        options = (
            (" --quick" if args.quick else "")
            + (f" --max-grid {args.max_grid}" if args.max_grid else "")
            + (" --saved-only" if args.saved_only else "")
        )
        stamp = (
            f"`python benchmarks/run.py{options} --only {name}`, "
            f"{time.strftime('%Y-%m-%d %H:%M')}, commit {commit()}, load average {load:.1f}, "
            f"{time.perf_counter() - start:.0f} s"
        )
        if args.print:
            print(f"\n### {title}\n\n{stamp}\n\n{table}\n", flush=True)
        else:
            with open(RESULTS, "r+") as f:  # two runs may finish sections at once
                fcntl.flock(f, fcntl.LOCK_EX)
                text = f.read()
                body = f"{stamp}\n\n{table}"
                if args.saved_only:
                    table, kept = keep_earlier_rows(section_body(text, name), table)
                    if kept:
                        stamp += f"; {kept} rows kept from the table before (no saved rows here)"
                    body = f"{stamp}\n\n{table}"
                print(f"\n### {title}\n\n{body}\n", flush=True)
                text = replace_section(text, name, title, body)
                f.seek(0)
                f.write(text)
                f.truncate()


if __name__ == "__main__":
    main()
