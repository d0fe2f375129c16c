"""pyflame-run on the flame IR of a program reports what pf.eval reports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import pyflame as pf


def pyflame_run() -> list[str]:
    script = Path(sys.executable).parent / "pyflame-run"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "pyflame.tools.pyflame_run"]


def test_same_cycles_and_values_as_pf_eval(tmp_path):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((20, 12)).astype(np.float32)
    b = rng.standard_normal((12, 9)).astype(np.float32)
    layout = pf.MeshLayout.grid(3, 3)
    t = (pf.from_numpy(a, layout=layout) @ pf.from_numpy(b, layout=layout)).relu().sum(dim=1)
    (tmp_path / "prog.mlir").write_text(pf.ir(t, stage="flame"))
    np.save(tmp_path / "a.npy", a)
    np.save(tmp_path / "b.npy", b)
    pf.eval(t)
    cycles = pf.last_report().cycles

    status, out, err = run_tool(
        str(tmp_path / "prog.mlir"),
        "--input",
        f"x0={tmp_path / 'a.npy'}",
        "--input",
        f"x1={tmp_path / 'b.npy'}",
        "--report",
        "json",
    )
    assert status == 0, err
    report = json.loads(out)  # --report json: stdout is only the JSON
    assert report["cycles"] == cycles
    assert "output 0: shape=(20,)" in err


def test_bad_input_name_is_a_diagnostic(tmp_path):
    t = pf.from_numpy(np.ones((2, 2), np.float32)) + 1.0
    (tmp_path / "prog.mlir").write_text(pf.ir(t, stage="flame"))
    np.save(tmp_path / "a.npy", np.ones((2, 2), np.float32))
    status, _, err = run_tool(str(tmp_path / "prog.mlir"), "--input", f"nope={tmp_path / 'a.npy'}")
    assert status == 1
    assert "nope" in err and "Traceback" not in err


# --------------------------------------------------------------------------- issue 8, item 17


def run_tool(*argv: str) -> tuple[int, str, str]:
    """pyflame-run in this process: (exit status, stdout, stderr)."""
    import contextlib
    import io

    from pyflame.tools.pyflame_run import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(list(argv))
    return status, out.getvalue(), err.getvalue()


def program_files(tmp_path: Path) -> Path:
    """prog.mlir: @main(%x0: tensor<2x3xf32>, %seed0: i64); and a few .npy files."""
    t = pf.from_numpy(np.ones((2, 3), np.float32)) + pf.randn([2, 3])
    (tmp_path / "prog.mlir").write_text(pf.ir(t, stage="flame"))
    np.save(tmp_path / "good.npy", np.ones((2, 3), np.float32))
    np.save(tmp_path / "shape.npy", np.ones((3, 3), np.float32))
    np.save(tmp_path / "f64.npy", np.ones((2, 3), np.float64))
    np.save(tmp_path / "i32.npy", np.ones((2, 3), np.int32))
    np.save(tmp_path / "big.npy", np.full((2, 3), 2**40, np.int64))
    np.savez(tmp_path / "z.npz", a=np.ones(3))
    (tmp_path / "nomain.mlir").write_text("builtin.module { func.func @f() { func.return } }")
    return tmp_path


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["prog.mlir", "--input", "x0=shape.npy"], ["'x0'", "shape [3, 3]", "tensor<2x3xf32>"]),
        (["prog.mlir", "--seed", "-1"], ["--seed", "non-negative", "-1"]),
        (["prog.mlir", "--seed", "x"], ["--seed", "non-negative", "'x'"]),
        (["nomain.mlir"], ["nomain.mlir", "no func.func @main"]),
        (["missing.mlir"], ["cannot open 'missing.mlir'", "No such file"]),
        (["prog.mlir", "--input", "y=good.npy"], ["no argument named y", "x0, seed0"]),
        (["prog.mlir", "--input", "x0=nope.npy"], ["'x0'", "nope.npy"]),
        (["prog.mlir", "--input", "x0=f64.npy"], ["cannot hold float64", "astype(np.float32)"]),
        (["prog.mlir", "--input", "x0=i32.npy"], ["holds int32", "tensor<2x3xf32>"]),
        (["prog.mlir", "--input", "x0=big.npy"], ["do not fit int32"]),
        (["prog.mlir", "--input", "x0=z.npz"], ["not a .npy"]),
        (["prog.mlir", "--input", "seed0=good.npy"], ["%seed0", "one integer"]),
        (["prog.mlir", "--input", "x0=good.npy", "--input", "x0=good.npy"], ["x0", "twice"]),
        (["prog.mlir", "--target", "wse9"], ["wse9", "wse2, wse3, small"]),
    ],
)
def test_user_mistakes_are_one_line_errors(tmp_path, monkeypatch, argv, words):
    monkeypatch.chdir(program_files(tmp_path))
    status, out, err = run_tool(*argv)
    assert status == 1 and out == ""
    assert "pyflame-run: error:" in err or ": error:" in err
    assert "internal error" not in err and "Traceback" not in err and "PYFLAME_TRACEBACK" not in err
    for word in words:
        assert word in err, (word, err)


def test_int64_input_is_taken_as_int32_when_it_fits_like_from_numpy(tmp_path, monkeypatch):
    x = pf.from_numpy(np.arange(6, dtype=np.int32).reshape(2, 3))
    (tmp_path / "p.mlir").write_text(pf.ir(x * 2, stage="flame"))
    np.save(tmp_path / "a.npy", np.arange(6, dtype=np.int64).reshape(2, 3) + 100)
    monkeypatch.chdir(tmp_path)
    status, out, err = run_tool("p.mlir", "--input", "x0=a.npy")
    assert status == 0, err
    assert "dtype=int32, values=[200, 202, 204, 206, 208, 210]" in out


def test_report_json_prints_only_json_on_stdout(tmp_path, monkeypatch):
    monkeypatch.chdir(program_files(tmp_path))
    status, out, err = run_tool(
        "prog.mlir", "--input", "x0=good.npy", "--seed", "0", "--report", "json"
    )
    assert status == 0, err
    assert json.loads(out)["cycles"] > 0  # the whole of stdout is one JSON document
    assert "output 0: shape=(2, 3)" in err


def test_a_closed_pipe_ends_quietly(tmp_path):
    """`pyflame-run ... | head -1`: the reader is gone before the first line is written."""
    program_files(tmp_path)
    proc = subprocess.Popen(
        [*pyflame_run(), str(tmp_path / "prog.mlir"), "--seed", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    proc.stdout.close()  # type: ignore[union-attr]
    err = proc.stderr.read().decode()  # type: ignore[union-attr]
    assert proc.wait() == 141  # 128 + SIGPIPE, as a shell reports `yes | head -1`'s yes
    assert "Traceback" not in err and "BrokenPipeError" not in err


def test_help_lists_the_targets():
    status, out, _ = run_tool("--help")
    assert status == 0
    assert "wse2, wse3, small" in out and "--list-inputs" in out


def test_list_inputs(tmp_path, monkeypatch):
    monkeypatch.chdir(program_files(tmp_path))
    status, out, err = run_tool("prog.mlir", "--list-inputs")
    assert status == 0, err
    assert out.splitlines() == [
        "%x0: tensor<2x3xf32>  (--input x0=PATH.npy: shape [2, 3], float32)",
        "%seed0: i64  (--input seed0=PATH.npy: one integer, a random op's seed)",
    ]


def test_pe_ir_stopped_after_lower_mesh_to_pe_is_finished(tmp_path, monkeypatch):
    """The README: pyflame-run lowers whatever is missing, pe IR without colors and SRAM
    offsets included; it runs like the fully lowered program."""
    from xdsl.printer import Printer

    from pyflame import compiler
    from pyflame.passes.lower_mesh_to_pe import LowerMeshToPEPass

    layout = pf.MeshLayout.grid(3, 3)
    a = pf.from_numpy(np.ones((20, 12), np.float32), layout=layout)
    b = pf.from_numpy(np.ones((12, 9), np.float32), layout=layout)
    t = (a @ b).relu().sum(dim=1)
    (tmp_path / "full.mlir").write_text(pf.ir(t, stage="pe"))
    module = compiler.lower(pf.runtime._program_module((t,)), "mesh")
    LowerMeshToPEPass().apply(compiler.make_context(), module)
    with open(tmp_path / "partial.mlir", "w") as f:
        Printer(stream=f).print_op(module)
    assert "offset =" not in (tmp_path / "partial.mlir").read_text()
    monkeypatch.chdir(tmp_path)
    np.save("a.npy", np.ones((20, 12), np.float32))
    np.save("b.npy", np.ones((12, 9), np.float32))
    inputs = ("--input", "x0=a.npy", "--input", "x1=b.npy")
    full = run_tool("full.mlir", *inputs)
    partial = run_tool("partial.mlir", *inputs)
    assert partial[0] == 0, partial[2]
    assert partial[1] == full[1]  # the same outputs and the same report
    assert "values=[108., 108., 108., ..., 108., 108., 108.]" in partial[1]


# --------------------------------------------------------------------------- issue 8, item 18


def test_simulator_errors_name_the_op_line_in_the_input_file(tmp_path, monkeypatch):
    """Ops without a loc(...) take their position in the input file, as in mlir-opt: a deadlock
    names the file:line:col of the stuck receive, its PE and its color (not 'op #1 of @main')."""
    (tmp_path / "dead.mlir").write_text(
        'builtin.module attributes {pf.target = #pf.target<"small">} {\n'
        "  func.func @main() {\n"
        '    %a = pe.alloc {name = "a", pes = array<i64: 0, 0, 2, 2>, offset = 0 : i64}'
        " : !pe.buf<4xf32>\n"
        "    pe.recv %a {color = 3 : i64, pes = array<i64: 1, 0, 1, 1>} : !pe.buf<4xf32>\n"
        "    func.return\n  }\n}\n"
    )
    monkeypatch.chdir(tmp_path)
    status, _, err = run_tool("dead.mlir")
    assert status == 1
    assert err.startswith("dead.mlir:4:5: error: deadlock:")
    assert "PE (1, 0) waits on color 3 (pe.recv at dead.mlir:4)" in err
    assert "op #" not in err


# --------------------------------------------------------------------------- issue 8, item 19


def test_named_inputs_round_trip_through_pyflame_run(tmp_path, monkeypatch):
    """`pf.from_numpy(..., name="a")` and a module's parameter paths are @main's argument names:
    `--input a=a.npy`, `--input fc.weight=w.npy`, as --list-inputs prints them."""
    fc = pf.nn.Sequential()
    fc.add_module("fc", pf.nn.Linear(3, 2, bias=False))
    a = pf.from_numpy(np.zeros((4, 3), np.float32), name="a")
    a2 = pf.from_numpy(np.zeros((4, 2), np.float32), name="a")  # printed as %a_1
    (tmp_path / "p.mlir").write_text(pf.ir(fc(a) + a2))
    monkeypatch.chdir(tmp_path)
    status, out, err = run_tool("p.mlir", "--list-inputs")
    assert status == 0, err
    assert [line.split(":")[0] for line in out.splitlines()] == ["%a", "%fc.weight", "%a_1"]
    np.save("a.npy", np.arange(12, dtype=np.float32).reshape(4, 3))
    np.save("w.npy", np.array([[1, 0, 0], [0, 0, 1]], np.float32))
    np.save("a1.npy", np.full((4, 2), 100, np.float32))
    status, out, err = run_tool(
        "p.mlir", "--input", "a=a.npy", "--input", "fc.weight=w.npy", "--input", "a_1=a1.npy"
    )
    assert status == 0, err
    assert "values=[100., 102., 103., 105., 106., 108., 109., 111.]" in out


# --------------------------------------------------------------------------- issue 10, item 8


def test_plot_writes_a_png_and_json_keeps_stdout_clean(tmp_path, monkeypatch):
    monkeypatch.chdir(program_files(tmp_path))
    status, out, err = run_tool("prog.mlir", "--seed", "0", "--plot", "r.png", "--report", "json")
    assert status == 0, err
    assert (tmp_path / "r.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "plot written to r.png" in err
    report = json.loads(out)  # stdout holds the JSON alone
    timeline = report["timeline"]
    assert timeline["phases"] == ["compute", "send", "receive", "exchange", "route", "stall"]
    assert timeline["events"] and all(len(e) == 5 for e in timeline["events"])
    assert all(e[1] < e[2] <= report["cycles"] for e in timeline["events"])


def test_plot_to_an_unwritable_path_is_a_one_line_error(tmp_path, monkeypatch):
    monkeypatch.chdir(program_files(tmp_path))
    status, out, err = run_tool("prog.mlir", "--seed", "0", "--plot", "no/such/dir/r.png")
    assert status == 1
    assert "cannot write the plot to no/such/dir/r.png" in err and "Traceback" not in err
