"""Run the lit suite (tests/lit) as one pytest test, so `python -m pytest` runs everything."""

import os
import subprocess
import sys
from pathlib import Path

LIT_DIR = Path(__file__).resolve().parents[1] / "lit"
BIN_DIR = Path(sys.executable).parent


def lit_command() -> list[str]:
    script = BIN_DIR / "lit"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from lit.main import main; sys.exit(main())"]


def test_lit_suite() -> None:
    env = dict(os.environ, PATH=os.pathsep.join([str(BIN_DIR), os.environ.get("PATH", "")]))
    result = subprocess.run(
        [*lit_command(), "-v", str(LIT_DIR)],
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    assert result.returncode == 0, f"lit failed:\n{result.stdout}\n{result.stderr}"
