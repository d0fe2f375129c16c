"""ruff and mypy keep the code clean (rules in pyproject.toml); part of the one test command."""

import importlib.util
import re
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


# `# type: ignore[code]` followed by a second comment that has at least one word in it
IGNORE = re.compile(r"#\s*type:\s*ignore\b(?P<codes>\[[^\]]*\])?(?P<rest>.*)$")
REASON = re.compile(r"^\s*#.*[A-Za-z]{2,}")


def unexplained_ignores(text: str) -> list[tuple[int, str]]:
    """(line number, line) of every `# type: ignore` in `text` with no reason comment after it."""
    found = []
    for n, line in enumerate(text.splitlines(), 1):
        m = IGNORE.search(line)
        if m and not REASON.match(m["rest"]):
            found.append((n, line.strip()))
    return found


def test_unexplained_ignores_are_found():
    assert unexplained_ignores("x = f()  # type: ignore[misc]\n") == [
        (1, "x = f()  # type: ignore[misc]")
    ]
    assert unexplained_ignores("x = f()  # type: ignore\n") == [(1, "x = f()  # type: ignore")]
    assert unexplained_ignores("x = f()  # type: ignore[misc]  #\n") != []
    assert unexplained_ignores("x = f()  # type: ignore[misc]  # xDSL lacks a stub\n") == []
    assert unexplained_ignores("x = f()  # noqa: E501\n") == []


def test_every_type_ignore_has_a_reason():
    """Issue 9: mypy is clean, and each `# type: ignore[...]` that remains says why after it,
    `# type: ignore[attr-defined]  # <reason>`. The folders are walked directly (not through
    the pyflame/ symlinks), so each file counts once."""
    bad = []
    for folder in ("pyflame", "dialects", "passes", "tools"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path.resolve() != path:  # reached through a symlink (pyflame/dialects, ...)
                continue
            for n, line in unexplained_ignores(path.read_text()):
                bad.append(f"{path.relative_to(ROOT)}:{n}: {line}")
    assert not bad, "type: ignore without a reason comment after it:\n" + "\n".join(bad)
