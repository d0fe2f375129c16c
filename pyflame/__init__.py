"""PyFlame: PyTorch-style lazy tensors compiled for a wafer-scale 2D mesh of PEs.

import pyflame as pf
x = pf.randn([100, 100])          # a graph node, nothing computed yet
z = pf.relu(x).sum()
pf.eval(z)                        # compile (once per graph structure) and run
print(z.numpy(), pf.last_report())

The frontend loads on the first `pf.<name>`: this file imports nothing, so that
`import pyflame.dialects` (or .passes, .sim, .compiler, .tools) never loads it. The names come
from `pyflame.api` (the public API), copied here when it is loaded; `pf.<submodule>` imports
that submodule, as an eager package would have it loaded already.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # type checkers see every public name: pyflame.api's __all__
    from pyflame.api import *  # noqa: F403
    from pyflame.ops import *  # noqa: F403  (api's __all__ += ops.__all__: mypy does not follow it)


def _load_api() -> types.ModuleType:
    """Import the frontend and publish its names here (once; later calls are a dict lookup)."""
    api = importlib.import_module("pyflame.api")
    namespace = globals()
    if namespace.get("_api") is not api:
        namespace.update({name: getattr(api, name) for name in api.__all__})
        namespace["_api"] = api
    return api


def __getattr__(name: str) -> Any:
    if name == "__all__":  # `from pyflame import *`, help(), ...: the public API's names
        return list(_load_api().__all__)
    if name.startswith("_"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    # a submodule of this package's own directory (not one an editable install of another
    # checkout would map the name to: a module renamed here, e.g. pyflame.trace -> pf.trace)
    own = __spec__.submodule_search_locations
    if importlib.machinery.PathFinder.find_spec(f"{__name__}.{name}", own) is not None:
        return importlib.import_module(f"{__name__}.{name}")  # pf.runtime, pf.io, pf.nn, ...
    api = _load_api()
    if name in api.__all__:
        return getattr(api, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_load_api().__all__))
