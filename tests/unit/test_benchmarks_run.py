"""benchmarks/run.py and benchmarks/variants.py: the variants come from the compiler's
registries, the summaries say what was chosen and whether it was fastest, the tables parse."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pyflame.core import collectives
from pyflame.dialects import mesh

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def load(name: str):
    if str(BENCHMARKS) not in sys.path:
        sys.path.insert(0, str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCHMARKS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


variants = load("variants")
run = load("run")


def test_matmul_variants_are_the_registry():
    # every mesh.matmul algorithm with a cost rule, none listed by hand
    assert variants.matmul_algorithms() == [a.value for a in mesh.MatmulAlgorithm]
    assert variants.collective_algorithms() == [a.value for a in collectives.ALGORITHMS]


@pytest.mark.filterwarnings("ignore::UserWarning")  # the small grids are the point
def test_gemm_variants_measured_side_by_side():
    problem = variants.gemm(64, 2)
    rows = list(variants.measure_all(problem))
    *measured, summary = rows
    names = [r["variant"] for r in measured]
    algorithms = variants.matmul_algorithms()
    assert names == [
        "chosen",
        *[f"matmul {a}" for a in algorithms[:1]],
        "matmul summa 1-buffer",
    ] + [f"matmul {a}" for a in algorithms[1:]]
    for r in measured:
        assert r["cycles"] > r["bound"] == round(2 * 64**3 / (4 * 2))
        assert 0 < r["efficiency"] < 1
        assert abs(r["estimate"] - r["cycles"]) <= 0.10 * r["cycles"]
    assert summary["summary"] and summary["variants"] == len(measured)
    # the default is double-buffered SUMMA: the same cycles as the forced one
    by = {r["variant"]: r for r in measured}
    assert by["chosen"]["cycles"] == by["matmul summa"]["cycles"]
    assert summary["chosen_as"] == "matmul summa"
    fastest = min(r["cycles"] for r in measured)
    assert summary["fastest_cycles"] == fastest
    assert summary["chosen_fastest"] == (by["chosen"]["cycles"] <= 1.05 * fastest)
    assert by["matmul summa 1-buffer"]["algorithms"] == "matmul summa 1-buffer on 2x2"


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_variant_rows_are_kept_as_they_come_and_reused(tmp_path, monkeypatch):
    """A 720x720 variant plans for an hour: each row is appended to the rows file as it is
    measured, a rerun reads them back instead of planning again, and the forced variant that
    is the compiler's choice is that row, not a second plan."""
    problem = variants.gemm(64, 2)
    rows_file = tmp_path / "rows.jsonl"
    planned: list[str] = []
    measure = variants.measure

    def counting(problem, flame, variant, same_program=None):
        row = measure(problem, flame, variant, same_program)
        planned.append(variant.name)
        return row

    monkeypatch.setattr(variants, "measure", counting)
    first = list(variants.measure_all(problem, rows_file=rows_file))
    by = {r["variant"]: r for r in first[:-1]}
    assert by["matmul summa"] == {**by["chosen"], "variant": "matmul summa"}
    saved = [json.loads(line) for line in rows_file.read_text().splitlines()]
    assert saved == first[:-1]
    # a run that stopped after two rows goes on from the third
    rows_file.write_text("".join(json.dumps(r) + "\n" for r in saved[:2]))
    planned.clear()
    again = list(variants.measure_all(problem, rows_file=rows_file))
    assert planned == [r["variant"] for r in saved[2:]]

    def timeless(rows):
        return [{k: v for k, v in r.items() if "seconds" not in k} for r in rows]

    assert again[:2] == first[:2] and timeless(again) == timeless(first)
    # a run that stopped after the chosen row: the forced variant it is, is that row again
    # (its plan times too: not planned a second time)
    rows_file.write_text(json.dumps(saved[0]) + "\n")
    *resumed_rows, _ = variants.measure_all(problem, rows_file=rows_file)
    resumed = {r["variant"]: r for r in resumed_rows}
    assert resumed["matmul summa"] == {**saved[0], "variant": "matmul summa"}


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_saved_only_summarises_the_rows_so_far(tmp_path, monkeypatch):
    """`--saved-only` over a stopped run's rows plans nothing: the missing variants say so
    and the summary covers the measured ones, marked partial."""
    problem = variants.gemm(64, 2)
    rows_file = tmp_path / "rows.jsonl"
    full = list(variants.measure_all(problem, rows_file=rows_file))
    kept = rows_file.read_text().splitlines()[:2]
    rows_file.write_text("".join(line + "\n" for line in kept))

    def refuse(*args, **kwargs):
        raise AssertionError("--saved-only planned a variant")

    monkeypatch.setattr(variants, "measure", refuse)
    rows = list(variants.measure_all(problem, rows_file=rows_file, measure_new=False))
    summary = rows[-1]
    assert [r["variant"] for r in rows[:-1]] == [r["variant"] for r in full[:-1]]
    missing = [r for r in rows[:-1] if r.get("error") == variants.NOT_MEASURED]
    assert len(missing) == len(full) - 1 - 2
    assert summary["partial"] and summary["measured"] == 2
    assert summary["cycles"] == full[-1]["cycles"]  # the chosen row was among the two
    assert summary["fastest_cycles"] == min(r["cycles"] for r in rows[:2])
    assert "partial" not in full[-1]


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_gemv_and_collective_variants():
    rows = list(variants.measure_all(variants.gemv_problem(96, 3)))
    names = [r["variant"] for r in rows[:-1]]
    assert "no skinny path" in names
    assert [n for n in names if n.startswith("collective ")] == [
        f"collective {a}" for a in variants.collective_algorithms()
    ]
    by = {r["variant"]: r for r in rows[:-1]}
    assert by["chosen"]["algorithms"].startswith("gemv on 3x3")
    assert by["no skinny path"]["algorithms"].startswith("matmul summa")
    assert by["no skinny path"]["cycles"] > by["chosen"]["cycles"]
    # a variant that cannot apply is skipped by name
    problem = variants.gemv_problem(96, 3)
    problem.skip["no skinny"] = "too slow"
    rows = {r["variant"]: r for r in variants.measure_all(problem) if not r.get("summary")}
    assert rows["no skinny path"] == {
        "problem": problem.name,
        "variant": "no skinny path",
        "error": "not measured: too slow",
    }


def test_summary_of_a_slower_choice():
    problem = variants.full_sum(4)
    rows = [
        {"variant": "chosen", "cycles": 120, "estimate": 100, "efficiency": 0.5, "algorithms": "x"},
        {"variant": "collective a", "cycles": 120, "estimate": 100, "efficiency": 0.5},
        {"variant": "collective b", "cycles": 100, "estimate": 110, "efficiency": 0.6},
        {"variant": "collective c", "error": "CompileError: no"},
    ]
    s = variants.summarize(problem, rows)
    assert (s["chosen_as"], s["fastest"], s["fastest_cycles"]) == (
        "collective a",
        "collective b",
        100,
    )
    assert s["chosen_fastest"] is False and s["ratio"] == 1.2
    assert s["cost_model_pick"] == "collective a"
    assert run.fastest_cell(s) == "no (1.2x of collective b)"
    assert "error" in variants.summarize(problem, rows[3:])


def test_a_partial_summary_says_what_was_measured():
    """A 720x720 row whose other variants are still planning: the chosen program's own
    efficiency in its cell, and no claim that it is the fastest of variants not measured."""
    problem = variants.gemm(64, 4)
    chosen = {"variant": "chosen", "cycles": 120, "estimate": 100, "efficiency": 0.887}
    chosen["algorithms"] = "matmul summa25d on 8x8"
    missing = {"variant": "matmul summa", "error": variants.NOT_MEASURED}
    s = variants.summarize(problem, [chosen, missing])
    assert s["partial"] and s["measured"] == 1
    assert run.chosen_cell(s) == "matmul summa25d on 8x8: 0.887 (120)"
    assert run.fastest_cell(s) == "- (nothing else measured yet)"
    slower = {"variant": "matmul cannon", "cycles": 150, "estimate": 140, "efficiency": 0.7}
    s = variants.summarize(problem, [chosen, slower, missing])
    assert run.fastest_cell(s) == "yes of 2 measured"


def test_replace_section_keeps_the_prose():
    text = "# R\n\nprose\n\n<!-- run.py:a -->\nold\n<!-- /run.py:a -->\n\nmore prose\n"
    out = run.replace_section(text, "a", "A", "new")
    assert "old" not in out and "<!-- run.py:a -->\nnew\n<!-- /run.py:a -->" in out
    assert out.startswith("# R\n\nprose") and "more prose" in out
    out = run.replace_section(out, "b", "B", "table")
    assert out.index(run.GENERATED_HEADING) < out.index("### B") < out.index("<!-- run.py:b -->")


def test_every_section_has_its_marker_in_results():
    text = (BENCHMARKS / "RESULTS.md").read_text()
    for name in run.SECTIONS:
        assert f"<!-- run.py:{name} -->" in text and f"<!-- /run.py:{name} -->" in text, name


def tables(text: str) -> list[list[list[str]]]:
    """The markdown tables of `text`: rows of cells, separator rows left out."""
    found: list[list[list[str]]] = []
    current: list[list[str]] = []
    for line in text.splitlines() + [""]:
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if not all(re.fullmatch(r"-+:?", c) for c in cells):
                current.append(cells)
        elif current:
            found.append(current)
            current = []
    return found


NUMBER = re.compile(r"^-?\d[\d,]*(\.\d+)?")


@pytest.mark.slow
def test_quick_run_prints_tables_with_numbers(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            str(BENCHMARKS / "run.py"),
            "--quick",
            "--print",
            "--saved-dir",  # (the committed benchmarks/saved/ rows stay as they are)
            str(tmp_path),
            "--max-grid",
            "32",
            "--only",
            "variants",
            "weak-scaling",
        ],
        capture_output=True,
        text=True,
        timeout=900,
        check=True,
    )
    found = tables(proc.stdout)
    summary, detail, weak = found
    assert summary[0][:3] == ["problem", "bound", "compiler's choice"]
    # --max-grid 32: the 1024^3 GEMM on 32x32 and the conv2d on 28x28
    gemm, conv = summary[1:]
    assert conv[0].startswith("conv2d") and conv[6] == "yes"  # one variant: the chosen one
    assert gemm[0].startswith("GEMM 1024^3") and gemm[6].split()[0] in ("yes", "no")
    cycles, efficiency = int(gemm[3].replace(",", "")), float(gemm[4])
    assert 0.5 < efficiency < 1 and cycles > 1_000_000
    assert {r[1] for r in detail[1:]} >= {"chosen", "matmul summa", "matmul cannon"}
    for row in detail[1:]:
        assert NUMBER.match(row[2]) and 0 < float(row[3]) < 1, row
    assert weak[0][2:4] == ["16x16", "32x32"]
    assert [r[0] for r in weak[1:]] == ["GEMM", "GEMV", "allreduce", "allreduce", "full-grid sum"]
    for row in weak[1:]:
        for cell in row[2:4]:
            assert 0 < float(cell.split()[0]) < 1, row
        assert row[-1] in ("yes", "no") and row[-2].endswith("%")


def test_saved_only_keeps_the_earlier_rows_of_measurements_not_saved_here():
    """A fresh checkout without a measurement's saved rows rebuilds a table keeping that
    row as RESULTS.md had it (same first two cells, same columns), not "not measured"."""
    earlier = (
        "stamp\n\nbound\n\n| n | grid | a | b |\n|---|---|---|---|\n"
        "| 32 | 32x32 | 1 | 2 |\n| 64 | 64x64 | 3 | 4 |\n| 99 | 9x9 | 5 |\n"
    )
    body = (
        "bound\n\n| n | grid | a | b |\n|---|---|---|---|\n"
        f"| 32 | 32x32 | - | {run.MISSING} |\n| 64 | 64x64 | 7 | 8 |\n"
        f"| 99 | 9x9 | - | {run.MISSING} |\n| 128 | 128x128 | - | {run.MISSING} |"
    )
    table, kept = run.keep_earlier_rows(earlier, body)
    assert kept == 1
    assert table.splitlines()[4:] == [
        "| 32 | 32x32 | 1 | 2 |",  # kept
        "| 64 | 64x64 | 7 | 8 |",  # measured now: the new row
        f"| 99 | 9x9 | - | {run.MISSING} |",  # the earlier row has other columns
        f"| 128 | 128x128 | - | {run.MISSING} |",  # not in the earlier table
    ]


def test_saved_only_keeps_an_earlier_table_with_nothing_saved_whole():
    earlier = "| n | grid | a |\n|---|---|---|\n| 32 | 32x32 | 1 |\n| 64 | 64x64 | 3 |"
    body = f"| n | grid | chosen |\n|---|---|\n| 32 | 32x32 | {run.MISSING} |"
    assert run.keep_earlier_rows(earlier, body) == (earlier, 2)


def test_saved_only_keeps_an_earlier_variants_problem_by_position(tmp_path, monkeypatch):
    """A variants problem with no saved rows names its command, not its problem: its summary
    row and its detail rows come from the table before, by the jobs' order."""
    section = (
        "stamp\n\nintro\n\n"
        "| problem | bound | choice | cycles | eff | fastest | yes | pick |\n|---|---|---|---|---|---|---|---|\n"
        "| P1 | 1 | a | 10 | 0.1 | a | yes | a |\n| P2 | 2 | b | 20 | 0.1 | b | yes | b |\n\n"
        "Every variant:\n\n"
        "| problem | variant | cycles | eff | est | ran |\n|---|---|---|---|---|---|\n"
        "| P1 | chosen | 10 | 0.1 | 10 | a |\n| P2 | chosen | 20 | 0.1 | 20 | b |\n"
        "| P2 | other | 30 | 0.1 | 30 | c |"
    )
    results = tmp_path / "RESULTS.md"
    results.write_text(f"<!-- run.py:variants -->\n{section}\n<!-- /run.py:variants -->\n")
    monkeypatch.setattr(run, "RESULTS", results)
    monkeypatch.setattr(run, "SAVED", tmp_path / "saved")
    monkeypatch.setattr(run, "SAVED_ONLY", [True])
    monkeypatch.setattr(run, "RESUME", [True])
    monkeypatch.setattr(run, "MEASURED", {})
    monkeypatch.setattr(run, "variant_jobs", lambda quick: [["p1"], ["p2"]])
    table = run.variants(False)
    assert "(2 problems kept from the table before: no saved rows here)" in table
    assert "| P2 | 2 | b | 20 | 0.1 | b | yes | b |" in table
    assert "| P2 | other | 30 | 0.1 | 30 | c |" in table
    assert run.MISSING not in table


def test_a_gemm_moved_onto_more_pes_is_held_to_their_bound():
    """A GEMM hinted on g x g that the compiler runs on a larger grid (32x32 tiles on 720x720
    do not fit the 2.5D SUMMA: it regrids to 750x750) is held to the bound of the PEs it
    used, not credited with g x g's efficiency."""
    p = variants.gemm(2048, 64)
    assert p.pes == 64 * 64
    assert variants.bound_for(p, 64 * 64) == p.bound
    assert variants.bound_for(p, 10) == p.bound  # fewer PEs: the user's grid's bound
    assert variants.bound_for(p, 128 * 128) == p.bound / 4


def test_the_tile_column_names_the_grid_the_choice_ran_on():
    """The efficiency tables' "tile per PE" is the hint's, and says the chosen program's
    own tile where it ran on a larger grid."""
    moved = {"chosen": "matmul summa25d on 750x750"}
    assert run.tile_cell(23040, 720, moved) == "32x32 (chosen on 750x750: 31x31)"
    assert run.tile_cell(8192, 512, {"chosen": "matmul summa25d on 512x512"}) == "16x16"
    assert run.tile_cell(2048, 720, {}) == "3x3"  # (no measurement yet)
