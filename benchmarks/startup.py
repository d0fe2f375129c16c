"""Tool start-up: `pyflame-opt --help` of this checkout against an older commit and `xdsl-opt`.

    python benchmarks/startup.py                      # against the commit before issue 9
    python benchmarks/startup.py --baseline 91cc645 --runs 15

The baseline commit is checked out into a temporary git worktree and run from there (PYTHONPATH),
in the same process loop as this checkout, alternating, so machine noise hits both alike; the
figure is the best of `--runs` launches of each (a fresh interpreter every time).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
#: the last commit before the restructuring of issue 9
DEFAULT_BASELINE = "91cc645"
OPT_HELP = "import sys; from pyflame.tools.pyflame_opt import main; sys.argv = ['pyflame-opt', '--help']; main()"
XDSL_HELP = (
    "import sys; from xdsl.tools.xdsl_opt import main; sys.argv = ['xdsl-opt', '--help']; main()"
)


def launch_seconds(code: str, pythonpath: Path | None) -> float:
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    start = time.perf_counter()
    # from a neutral folder: `python -c` puts the working directory first on sys.path, which
    # would import this checkout's pyflame whatever PYTHONPATH says
    subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        cwd=tempfile.gettempdir(),
        stdout=subprocess.DEVNULL,
        check=True,
    )
    return time.perf_counter() - start


def imported_from(pythonpath: Path) -> Path:
    out = subprocess.run(
        [sys.executable, "-c", "import pyflame; print(pyflame.__file__)"],
        env=dict(os.environ, PYTHONPATH=str(pythonpath)),
        cwd=tempfile.gettempdir(),
        capture_output=True,
        text=True,
        check=True,
    )
    return Path(out.stdout.strip()).resolve()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default=DEFAULT_BASELINE, help="git commit to compare with")
    parser.add_argument("--runs", type=int, default=10, help="launches of each (best is kept)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        old = Path(tmp) / "baseline"
        subprocess.run(
            ["git", "-C", str(REPO), "worktree", "add", "--detach", "-q", str(old), args.baseline],
            check=True,
        )
        try:
            for tree in (REPO, old):  # each launch must import its own checkout
                found = imported_from(tree)
                assert found.is_relative_to(tree), f"PYTHONPATH={tree} imported {found}"
            best = {
                "this checkout": float("inf"),
                f"commit {args.baseline}": float("inf"),
                "xdsl-opt": float("inf"),
            }
            for _ in range(args.runs):
                best["this checkout"] = min(best["this checkout"], launch_seconds(OPT_HELP, REPO))
                best[f"commit {args.baseline}"] = min(
                    best[f"commit {args.baseline}"], launch_seconds(OPT_HELP, old)
                )
                best["xdsl-opt"] = min(best["xdsl-opt"], launch_seconds(XDSL_HELP, None))
        finally:
            subprocess.run(
                ["git", "-C", str(REPO), "worktree", "remove", "--force", str(old)], check=True
            )
    print(f"pyflame-opt --help start-up, best of {args.runs} launches")
    for name, seconds in best.items():
        print(f"  {name:<22} {seconds:.3f} s")
    ratio = best[f"commit {args.baseline}"] / best["this checkout"]
    print(f"  speed-up over {args.baseline}: {ratio:.2f}x")


if __name__ == "__main__":
    main()
