"""The layers import only downward (docs/architecture.md):

    pyflame.core  <  pyflame.dialects  <  pyflame.passes, pyflame.sim  <  pyflame.compiler
    <  pyflame.tools  <  the frontend (every other pyflame module)

The simulator never imports the passes (nor the passes the simulator), and no dialect imports
another (pe never sees mesh's types; shared rules live in pyflame.core). Every import counts,
at module level or inside a function, and `import pyflame.dialects` (or any lower layer) loads
no frontend module.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from pyflame.passes import all_passes

REPO = Path(__file__).resolve().parents[2]
#: where each installed package's sources live in the checkout
ROOTS = {
    "pyflame": REPO / "pyflame",
    "pyflame.dialects": REPO / "dialects",
    "pyflame.passes": REPO / "passes",
    "pyflame.tools": REPO / "tools",
}
LOWER_LAYERS = (
    "pyflame.core",
    "pyflame.dialects",
    "pyflame.passes",
    "pyflame.sim",
    "pyflame.compiler",
)


def layer(module: str) -> tuple[int, str]:
    """(rank, name) of a module's layer; imports may only go to an equal or lower rank."""
    for rank, prefix in enumerate(("pyflame.core", "pyflame.dialects")):
        if module == prefix or module.startswith(prefix + "."):
            return rank, prefix
    for prefix in ("pyflame.passes", "pyflame.sim"):
        if module == prefix or module.startswith(prefix + "."):
            return 2, prefix
    if module == "pyflame.compiler":
        return 3, module
    if module == "pyflame.tools" or module.startswith("pyflame.tools."):
        return 4, "pyflame.tools"
    return 5, "frontend"


def source_modules() -> dict[str, Path]:
    """Every PyFlame module of the checkout by its installed name."""
    found: dict[str, Path] = {}
    for package, root in ROOTS.items():
        for path in root.rglob("*.py"):
            rel = path.relative_to(root).with_suffix("")
            if any(part.startswith(".") or part == "__pycache__" for part in rel.parts):
                continue
            if package == "pyflame" and rel.parts[0] in ("dialects", "passes", "tools"):
                continue  # the symlinks to the top-level folders
            parts = [p for p in rel.parts if p != "__init__"]
            found[".".join([package, *parts])] = path
    return found


def imports_of(module: str, path: Path, known: set[str]) -> list[tuple[str, int]]:
    """(imported PyFlame module, line) for every import statement in the file."""
    tree = ast.parse(path.read_text(), str(path))
    is_package = path.name == "__init__.py"
    found: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                anchor = anchor if is_package else anchor[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                found.append((candidate if candidate in known else base, node.lineno))
    return [
        (name, line) for name, line in found if name == "pyflame" or name.startswith("pyflame.")
    ]


def upward_edges() -> list[str]:
    modules = source_modules()
    problems = []
    for module, path in sorted(modules.items()):
        rank, name = layer(module)
        for imported, line in imports_of(module, path, set(modules)):
            if imported == "pyflame":
                imported = "pyflame.__init__ (the frontend API)"
            target_rank, target_name = layer(imported)
            where = f"{path.relative_to(REPO)}:{line}: {module} imports {imported}"
            if target_rank > rank:
                problems.append(f"{where} ({name} -> {target_name} goes up)")
            elif {name, target_name} == {"pyflame.passes", "pyflame.sim"} and name != target_name:
                problems.append(f"{where} (passes and simulator are independent)")
            elif (
                module.startswith("pyflame.dialects.")
                and imported.startswith("pyflame.dialects.")
                and imported.split(".")[2] != module.split(".")[2]
            ):
                problems.append(f"{where} (a dialect stands on pyflame.core alone)")
    return problems


def test_the_source_map_finds_every_layer() -> None:
    modules = source_modules()
    for expected in (
        "pyflame.core.shapes",
        "pyflame.dialects.pe",
        "pyflame.passes.decompose",
        "pyflame.sim.fabric",
        "pyflame.tools.pyflame_opt",
        "pyflame.lazy_tensor",
    ):
        assert expected in modules


def test_the_checker_sees_an_upward_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from pyflame.lazy_tensor import Tensor\n")
    found = imports_of("pyflame.dialects.bad", bad, {"pyflame.lazy_tensor"})
    assert found == [("pyflame.lazy_tensor", 2)]
    assert layer("pyflame.lazy_tensor")[0] > layer("pyflame.dialects.bad")[0]


def test_no_layer_imports_upward() -> None:
    problems = upward_edges()
    assert problems == [], "upward imports:\n" + "\n".join(problems)


@pytest.mark.parametrize("lower", LOWER_LAYERS + ("pyflame.tools",))
def test_importing_a_lower_layer_loads_no_frontend_module(lower: str) -> None:
    """Every module of the layer, imported in a fresh interpreter (as `pyflame-opt` starts)."""
    names = sorted(m for m in source_modules() if m == lower or m.startswith(lower + "."))
    code = (
        f"import sys, importlib\nfor m in {names!r}: importlib.import_module(m)\n"
        "print('\\n'.join(m for m in sys.modules if m.startswith('pyflame')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    frontend = sorted(m for m in out if layer(m)[1] == "frontend" and m != "pyflame")
    assert frontend == [], f"import {lower} loaded frontend modules: {frontend}"


def test_pyflame_opt_and_the_passes_load_without_numpy() -> None:
    """numpy was a quarter of pyflame-opt's start-up, paid by every lit RUN line: the dialects,
    the passes and the tool read the op tables (pyflame/core/elementwise.py, reductions.py)
    without it; the simulator and the frontend import it when they run."""
    code = (
        "import sys\n"
        "import pyflame.tools.pyflame_opt, pyflame.dialects.flame, pyflame.dialects.mesh\n"
        "import pyflame.dialects.pe\n"
        "from pyflame.passes import all_passes\n"
        "passes = [load() for load in all_passes().values()]\n"
        "print(len(passes), sorted(m for m in sys.modules if m.split('.')[0] == 'numpy')[:3])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"{len(all_passes())} []"
