"""The frontend's import graph: no cycles, no bottom-of-file imports, and a lazy `import pyflame`.

The frontend is every module under pyflame/ except the IR and compiler layers (pyflame/core,
dialects, passes, tools, sim, compiler.py). Its imports, at module level AND inside functions,
must form a DAG: a function-level import that only breaks a cycle is still a cycle. Imports
under `if TYPE_CHECKING:` do not run and are not counted.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "pyflame"
#: subpackages and modules below the frontend (other layers of the compiler)
NOT_FRONTEND = (
    "pyflame.core",
    "pyflame.dialects",
    "pyflame.passes",
    "pyflame.tools",
    "pyflame.sim",
    "pyflame.compiler",
)


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_below(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def frontend_modules() -> dict[str, Path]:
    """Module name -> file, for every frontend module (symlinked layers excluded)."""
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = _module_name(path)
        if not _is_below(name, NOT_FRONTEND):
            out[name] = path
    return out


def _type_checking_only(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement that can run (module level or in a function), not the ones under
    `if TYPE_CHECKING:`."""
    found: list[ast.Import | ast.ImportFrom] = []

    def walk(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _type_checking_only(child):
                for sub in child.orelse:
                    walk(sub)
                continue
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                found.append(child)
            walk(child)

    walk(tree)
    return found


def _resolve(
    node: ast.Import | ast.ImportFrom, importer: str, modules: dict[str, Path], is_package: bool
) -> set[str]:
    """The pyflame modules an import statement runs (a submodule's packages run first)."""
    targets: list[str] = []
    if isinstance(node, ast.Import):
        targets = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        if node.level:  # relative: from the importer's package
            package = importer if is_package else importer.rpartition(".")[0]
            for _ in range(node.level - 1):
                package = package.rpartition(".")[0]
            base = f"{package}.{base}" if base else package
        targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
    out: set[str] = set()
    for target in targets:
        if not target.startswith("pyflame"):
            continue
        parts = target.split(".")
        for i in range(1, len(parts) + 1):
            name = ".".join(parts[:i])
            # the importer's own packages are already running: not an edge
            if name in modules and not (importer == name or importer.startswith(name + ".")):
                out.add(name)
    return out


def import_graph() -> dict[str, set[str]]:
    modules = frontend_modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), str(path))
        edges: set[str] = set()
        for node in _runtime_imports(tree):
            edges |= _resolve(node, name, modules, path.name == "__init__.py")
        graph[name] = edges - {name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_graph_sees_the_frontend_and_its_edges():
    graph = import_graph()
    assert "pyflame.lazy_tensor" in graph and "pyflame.ops.elementwise" in graph
    assert "pyflame.sim.target" not in graph and "pyflame.dialects.flame" not in graph
    assert "pyflame.lazy_tensor" in graph["pyflame.ops.node"]
    # importing a submodule runs its package first: an edge to the package too
    assert {"pyflame.ops", "pyflame.ops.conv"} <= graph["pyflame.gradients"]
    assert "pyflame.ops" not in graph["pyflame.ops.shape"]  # (its own package is running)


def test_cycles_finds_a_cycle_and_names_its_modules():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]


def test_the_frontend_has_no_import_cycle():
    found = cycles(import_graph())
    assert not found, "import cycles among frontend modules:\n" + "\n".join(
        " <-> ".join(c) for c in found
    )


def test_every_import_sits_at_the_top_of_its_module():
    late = []
    for name, path in frontend_modules().items():
        source = path.read_text()
        assert "noqa: E402" not in source, f"{name}: an import after code (noqa: E402)"
        seen_code = False
        for node in ast.parse(source).body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                if seen_code:
                    late.append(f"{name}:{node.lineno}")
            elif isinstance(node, ast.If) and _type_checking_only(node):
                continue
            elif not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)):
                seen_code = True  # (the docstring is not code)
    assert not late, "imports after code: " + ", ".join(late)


def _loaded_after(code: str) -> list[str]:
    """The pyflame modules loaded after running `code` in a fresh interpreter."""
    script = (
        code + "\nimport sys\nprint(' '.join(m for m in sys.modules if m.startswith('pyflame')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=ROOT
    )
    return out.stdout.split()


# That the layers below the frontend load none of it: tests/unit/test_import_graph.py.


def test_import_pyflame_alone_loads_nothing_until_a_name_is_used():
    assert _loaded_after("import pyflame") == ["pyflame"]
    loaded = _loaded_after("import pyflame as pf\npf.float32")
    assert {"pyflame.api", "pyflame.nn", "pyflame.training", "pyflame.ops"} <= set(loaded)


def test_the_package_names_are_the_api_names():
    import pyflame
    import pyflame.api

    assert sorted(pyflame.__all__) == sorted(pyflame.api.__all__)
    assert len(set(pyflame.__all__)) == len(pyflame.__all__)
    assert set(pyflame.__all__) <= set(dir(pyflame))
    for name in pyflame.__all__:
        assert getattr(pyflame, name) is getattr(pyflame.api, name), name


@pytest.mark.parametrize(
    "code",
    [
        "import pyflame as pf\nassert pf.lazy_tensor.Tensor is pf.Tensor",  # pf.<submodule> first
        "from pyflame import nn\nassert nn.Linear(2, 3).weight.shape == (3, 2)",
        "import pyflame as pf\nassert pf.runtime.pending_updates() == []",
        "import pyflame as pf\nassert pf.sim.SMALL.fabric_rows == 16",
        "import pickle, pyflame as pf\nassert pickle.loads(pickle.dumps(pf.bool)) is pf.bool",
        "from pyflame.ops import ones\nimport pyflame as pf\nassert pf.max(ones(3) * 2).item() == 2",
    ],
)
def test_lazy_package_keeps_the_names_working(code):
    _loaded_after(code)  # raises on a failed assert


def test_an_api_name_that_is_a_submodule_name_is_that_submodule():
    """Importing a submodule binds it on the package: an API name must never mean something else
    (`pf.nn` is `pyflame.nn`), or the import would silently replace the API's object."""
    import pkgutil
    import types

    import pyflame
    import pyflame.api as api

    submodules = {m.name for m in pkgutil.iter_modules(pyflame.__path__)}
    for name in set(api.__all__) & submodules:
        value = getattr(api, name)
        assert isinstance(value, types.ModuleType) and value.__name__ == f"pyflame.{name}", name


def test_ml_dtypes_is_imported_only_for_bfloat16():
    """ml_dtypes takes half a second to import (more than numpy and xDSL together): a program
    without bfloat16 (and without pf.save/pf.load) never imports it."""
    script = (
        "import sys, numpy as np, pyflame as pf\n"
        "x = pf.from_numpy(np.ones((3, 4), np.float32))\n"
        "labels = pf.from_numpy(np.arange(4))\n"  # int64: from_numpy looks its dtype up
        "pf.eval(pf.full((3, 4), 2.5, dtype=pf.float16) + x * 2, labels + 1)\n"
        "print('ml_dtypes' in sys.modules)\n"
        "pf.eval(x.to(pf.bfloat16) * 2)\n"
        "print('ml_dtypes' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.split() == ["False", "True"]


def test_torch_function_names_are_not_shadowed_by_modules():
    """pf.trace and pf.index_put are torch's functions (the tracer is pyflame.tracing, item
    assignment's builder pyflame.index_set); `pf.<name>` imports only this package's own
    submodules, so a stale module another checkout's editable install maps the name to
    (pyflame/trace.py) cannot shadow the function."""
    code = (
        "import pyflame as pf, types\n"
        "from pyflame import trace, index_put\n"
        "assert callable(pf.trace) and not isinstance(pf.trace, types.ModuleType)\n"
        "assert trace is pf.trace and index_put is pf.index_put\n"
        "assert isinstance(pf.tracing, types.ModuleType) and pf.tracing.trace([])\n"
        "assert pf.trace(pf.eye(3)).item() == 3.0\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
