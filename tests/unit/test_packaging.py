"""Packaging and command-line tools: names, console scripts, diagnostics without tracebacks."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
import textwrap
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest

import pyflame

REPO = Path(__file__).resolve().parents[2]
BIN_DIR = Path(sys.executable).parent
# The directory the pyflame under test is imported from (site-packages, or the checkout).
PYFLAME_HOME = Path(next(iter(pyflame.__path__))).resolve().parent

BAD_SYNTAX = """\
func.func @f(%a: i32) -> i32 {
  %0 = arith.addi %a, %a : i32
  func.return %0 : i33
}
"""
BAD_TYPES = """\
func.func @f(%a: i32) -> i32 {
  %0 = "arith.addi"(%a, %a) : (i32, i32) -> i64
  func.return %a : i32
}
"""
GOOD = """\
func.func @f(%a: i32) -> i32 {
  %0 = arith.addi %a, %a : i32
  func.return %0 : i32
}
"""


def _env() -> dict[str, str]:
    path = os.pathsep.join(p for p in [str(PYFLAME_HOME), os.environ.get("PYTHONPATH")] if p)
    return dict(os.environ, PYTHONPATH=path)


def _in_process(
    main: Callable[[list[str]], int], tool: str, args: tuple[str | Path, ...], cwd: Path
) -> subprocess.CompletedProcess[str]:
    """A tool's `main()` run in this process, in `cwd`: its exit status and what it printed.
    The console scripts the tools are installed as are launched by
    test_console_scripts_are_installed; a launch costs an interpreter start-up per check."""
    argv = [str(a) for a in args]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.chdir(cwd), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(argv)
    return subprocess.CompletedProcess([tool, *argv], status, out.getvalue(), err.getvalue())


def run_opt(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    from pyflame.tools import pyflame_opt

    return _in_process(pyflame_opt.main, "pyflame-opt", args, cwd)


def run_run(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    from pyflame.tools import pyflame_run

    return _in_process(pyflame_run.main, "pyflame-run", args, cwd)


def assert_diagnostic(result: subprocess.CompletedProcess[str], *expected: str) -> None:
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr, result.stderr
    for text in expected:
        assert text in result.stderr, result.stderr


# ----------------------------------------------------------------------------- names


def test_module_identity(tmp_path: Path) -> None:
    """`pyflame.dialects` etc. never also load as top-level `dialects`/`passes`/`tools`, and no
    file is imported under two module names (that would make two copies of every class)."""
    code = textwrap.dedent(
        """
        import os, sys
        import pyflame, pyflame.dialects, pyflame.passes, pyflame.tools
        import pyflame.tools.pyflame_opt, pyflame.tools.pyflame_run
        from pyflame.dialects import all_dialects
        from pyflame.passes import all_passes

        for table in (all_dialects(), all_passes()):
            for load in table.values():
                try:
                    load()
                except ModuleNotFoundError as e:  # not written yet: identity is checked here
                    if not (e.name or "").startswith("pyflame."):
                        raise

        for top in ("dialects", "passes", "tools"):
            assert top not in sys.modules, f"top-level module {top!r} was imported"
        roots = tuple(
            os.path.realpath(p) + os.sep
            for pkg in (pyflame, pyflame.dialects, pyflame.passes, pyflame.tools)
            for p in pkg.__path__
        )
        names_by_file = {}
        for name, module in list(sys.modules.items()):
            file = os.path.realpath(getattr(module, "__file__", None) or "")
            if file.startswith(roots):
                names_by_file.setdefault(file, []).append(name)
        twice = {f: n for f, n in names_by_file.items() if len(n) > 1}
        assert not twice, f"files imported under several names: {twice}"
        print("ok")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


def test_every_package_is_listed_in_pyproject() -> None:
    """A package missing from pyproject.toml works in the checkout but not once installed."""
    pyproject = REPO / "pyproject.toml"
    if not pyproject.exists():
        pytest.skip("not running from a checkout")
    config = tomllib.loads(pyproject.read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    package_dir = config["package-dir"]

    found = {"pyflame"}
    for init in (REPO / "pyflame").rglob("__init__.py"):
        if "__pycache__" in init.parts:
            continue
        parts = init.parent.relative_to(REPO).parts
        found.add(".".join(parts))
    for name in ("dialects", "passes", "tools"):
        for init in (REPO / name).rglob("__init__.py"):
            rel = init.parent.relative_to(REPO / name).parts
            found.add(".".join(("pyflame", name, *rel)))
        link = REPO / "pyflame" / name
        assert link.is_symlink() and link.resolve() == (REPO / name).resolve(), link
        assert package_dir[f"pyflame.{name}"] == name
    assert found <= listed, f"add to [tool.setuptools] packages: {sorted(found - listed)}"


# ----------------------------------------------------------------------------- pyflame-opt


def test_console_scripts_are_installed() -> None:
    for script in ("pyflame-opt", "pyflame-run"):
        assert (BIN_DIR / script).exists(), (
            f"{script} not next to {sys.executable}: pip install -e ."
        )
    result = subprocess.run(
        [str(BIN_DIR / "pyflame-opt"), "--help"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "PyFlame modular optimizer driver" in result.stdout


def test_opt_roundtrip(tmp_path: Path) -> None:
    (tmp_path / "good.mlir").write_text(GOOD)
    result = run_opt("good.mlir", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "arith.addi %a, %a : i32" in result.stdout


def test_opt_syntax_error(tmp_path: Path) -> None:
    (tmp_path / "file.mlir").write_text(BAD_SYNTAX)
    result = run_opt("file.mlir", cwd=tmp_path)
    assert_diagnostic(result, "file.mlir:3:15: error: ")


def test_opt_verify_error_names_the_op_line(tmp_path: Path) -> None:
    (tmp_path / "file.mlir").write_text(BAD_TYPES)
    result = run_opt("file.mlir", cwd=tmp_path)
    assert_diagnostic(result, "file.mlir:2:3: error: 'arith.addi' op ")


def test_opt_verify_error_prefers_the_op_loc(tmp_path: Path) -> None:
    text = BAD_TYPES.replace("-> i64\n", '-> i64 loc("model.py":12:4)\n')
    (tmp_path / "file.mlir").write_text(text)
    assert_diagnostic(run_opt("file.mlir", cwd=tmp_path), "model.py:12:4: error: 'arith.addi' op ")


def test_opt_verify_diagnostics_still_works(tmp_path: Path) -> None:
    (tmp_path / "file.mlir").write_text(BAD_TYPES)
    result = run_opt("file.mlir", "--verify-diagnostics", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "does not verify" in result.stdout


def test_opt_unknown_pass(tmp_path: Path) -> None:
    (tmp_path / "good.mlir").write_text(GOOD)
    result = run_opt("good.mlir", "-p", "no-such-pass", cwd=tmp_path)
    assert_diagnostic(result, "no-such-pass")


@pytest.mark.parametrize("pipeline", ["canonicalize{no-such-option=1}", "canonicalize{"])
def test_opt_bad_pass_options(tmp_path: Path, pipeline: str) -> None:
    (tmp_path / "good.mlir").write_text(GOOD)
    assert_diagnostic(run_opt("good.mlir", "-p", pipeline, cwd=tmp_path), "error")


def test_opt_missing_file(tmp_path: Path) -> None:
    assert_diagnostic(run_opt("missing.mlir", cwd=tmp_path), "missing.mlir")


def test_opt_print_ir_after_all(tmp_path: Path) -> None:
    (tmp_path / "good.mlir").write_text(GOOD)
    result = run_opt("good.mlir", "-p", "canonicalize,cse", "--print-ir-after-all", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "// -----// IR Dump After canonicalize //----- //" in result.stderr
    assert "// -----// IR Dump After cse //----- //" in result.stderr
    assert "IR Dump" not in result.stdout


# ----------------------------------------------------------------------------- pyflame-run


def test_run_errors_are_diagnostics(tmp_path: Path) -> None:
    (tmp_path / "file.mlir").write_text(BAD_SYNTAX)
    assert_diagnostic(run_run("file.mlir", cwd=tmp_path), "file.mlir:3:15: error: ")
    assert_diagnostic(run_run("missing.mlir", cwd=tmp_path), "missing.mlir")
    (tmp_path / "good.mlir").write_text(GOOD)
    assert_diagnostic(run_run("good.mlir", "--input", "a=none.npy", cwd=tmp_path), "none.npy")
