"""ruff and mypy keep the code clean (rules in pyproject.toml); part of the one test command."""

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def ruff() -> str:
    local = Path(sys.executable).parent / "ruff"
    exe = str(local) if local.exists() else shutil.which("ruff")
    if exe is None:
        pytest.skip("ruff is not installed (pip install -e '.[dev]')")
    return exe


def test_ruff_is_clean():
    proc = subprocess.run([ruff(), "check", str(ROOT)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_ruff_format_is_clean():
    """Every file as `ruff format` writes it (run `ruff format .` before committing)."""
    proc = subprocess.run(
        [ruff(), "format", "--check", str(ROOT)], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_mypy_is_clean():
    """mypy over pyflame/ (and through its symlinks dialects/, passes/, tools/) finds nothing.

    The cache under the checkout's .mypy_cache makes a rerun take well under a second."""
    if importlib.util.find_spec("mypy") is None:
        pytest.skip("mypy is not installed (pip install -e '.[dev]')")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--config-file",
            str(ROOT / "pyproject.toml"),
            "--cache-dir",
            str(ROOT / ".mypy_cache"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith("Success: no issues found"), proc.stdout
