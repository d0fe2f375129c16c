"""Run the lit suite (tests/lit) from pytest, so `python -m pytest` runs everything.

One pytest test per lit folder (one folder per dialect, pass or tool), so pytest-xdist spreads
the suite over its workers instead of running it as one long test; a new folder is picked up
by itself, and a test checks that the folders cover every lit test file. Within a folder, lit
runs its files in parallel (`lit -j`, one worker per usable core): while one pytest worker waits
on a long folder at the end of the run, the other core still has work.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

LIT_DIR = Path(__file__).resolve().parents[1] / "lit"
BIN_DIR = Path(sys.executable).parent
SUFFIXES = (".mlir", ".py")
EXCLUDED = {"Inputs", "Output", "__pycache__"}
LIT_WORKERS = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def lit_command() -> list[str]:
    script = BIN_DIR / "lit"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from lit.main import main; sys.exit(main())"]


def lit_folders() -> list[str]:
    return sorted(p.name for p in LIT_DIR.iterdir() if p.is_dir() and p.name not in EXCLUDED)


def test_the_folders_hold_every_lit_test() -> None:
    top_level = [
        p.name
        for p in LIT_DIR.iterdir()
        if p.is_file() and p.suffix in SUFFIXES and p.name != "lit.cfg.py"
    ]
    assert top_level == [], "put lit tests in a folder named after their dialect, pass or tool"
    assert len(lit_folders()) >= 10


@pytest.mark.parametrize("folder", lit_folders())
def test_lit_folder(folder: str) -> None:
    env = dict(os.environ, PATH=os.pathsep.join([str(BIN_DIR), os.environ.get("PATH", "")]))
    result = subprocess.run(
        [*lit_command(), "-v", "-j", str(LIT_WORKERS or 1), str(LIT_DIR / folder)],
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    assert result.returncode == 0, f"lit failed:\n{result.stdout}\n{result.stderr}"
