"""pyflame-run on the flame IR of a program reports what pf.eval reports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

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

    proc = subprocess.run(
        [*pyflame_run(), str(tmp_path / "prog.mlir"), "--input", f"x0={tmp_path / 'a.npy'}",
         "--input", f"x1={tmp_path / 'b.npy'}", "--report", "json"],
        capture_output=True, text=True, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout[proc.stdout.index("{"):])
    assert report["cycles"] == cycles
    assert "output 0: shape=(20,)" in proc.stdout


def test_bad_input_name_is_a_diagnostic(tmp_path):
    t = pf.from_numpy(np.ones((2, 2), np.float32)) + 1.0
    (tmp_path / "prog.mlir").write_text(pf.ir(t, stage="flame"))
    np.save(tmp_path / "a.npy", np.ones((2, 2), np.float32))
    proc = subprocess.run(
        [*pyflame_run(), str(tmp_path / "prog.mlir"), "--input", f"nope={tmp_path / 'a.npy'}"],
        capture_output=True, text=True, check=False,
    )
    assert proc.returncode == 1
    assert "nope" in proc.stderr and "Traceback" not in proc.stderr
