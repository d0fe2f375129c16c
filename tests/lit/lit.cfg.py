# lit configuration for PyFlame: `lit -v tests/lit` (also run by tests/unit/test_lit.py).
#
# Tools resolve to the environment lit runs in: `pyflame-opt`, `pyflame-run` and `filecheck` are
# the scripts next to that Python interpreter (or `python -m ...` from this checkout when PyFlame
# is not installed), and `python` is that interpreter.
# ruff: noqa: F821  (lit provides `config` and `lit_config`)

import os
import re
import shlex
import sys

import lit.formats

config.name = "PyFlame"
config.test_format = lit.formats.ShTest(execute_external=False)
config.suffixes = [".mlir", ".py"]
config.excludes = ["lit.cfg.py", "Inputs", "Output", "__pycache__"]
config.test_source_root = os.path.dirname(os.path.abspath(__file__))

repo_root = os.path.dirname(os.path.dirname(config.test_source_root))
bin_dir = os.path.dirname(sys.executable)
python = shlex.quote(sys.executable)


def tool(script: str, module: str) -> str:
    path = os.path.join(bin_dir, script)
    return shlex.quote(path) if os.path.exists(path) else f"{python} -m {module}"


tools = {
    "pyflame-opt": tool("pyflame-opt", "pyflame.tools.pyflame_opt"),
    "pyflame-run": tool("pyflame-run", "pyflame.tools.pyflame_run"),
    "filecheck": tool("filecheck", "filecheck"),
    "python": python,
}
# Whole words only, so that e.g. `%S/python_helper.py` is left alone.
for name, command in tools.items():
    pattern = r"(?<![\w./-])" + re.escape(name) + r"(?![\w.-])"
    config.substitutions.append((pattern, command.replace("\\", "\\\\")))

config.environment["PATH"] = os.pathsep.join([bin_dir, os.environ.get("PATH", "")])
# The `python -m` fallbacks import pyflame from this checkout.
config.environment["PYTHONPATH"] = os.pathsep.join(
    p for p in [repo_root, os.environ.get("PYTHONPATH", "")] if p
)
for var in ("PYFLAME_TRACEBACK", "HOME", "TMPDIR"):
    if var in os.environ:
        config.environment[var] = os.environ[var]
