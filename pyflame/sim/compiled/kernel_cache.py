"""Generated kernels' source on disk: numba compiles a function once per machine only when its
source is a file (`cache=True` keys its cache by the file), so a kernel written for one
expression (pyflame/sim/compiled/fused_kernels.py) is a module of its own in the kernel cache,
named by the hash of its source, and imported from there.

The cache is `$PYFLAME_KERNEL_CACHE`, else `$XDG_CACHE_HOME/pyflame/kernels`, else
`~/.cache/pyflame/kernels`; deleting it costs only the compiles again.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import tempfile
import threading
from pathlib import Path
from types import ModuleType

_lock = threading.Lock()


def cache_dir() -> Path:
    """Where generated kernels are kept (module docstring)."""
    explicit = os.environ.get("PYFLAME_KERNEL_CACHE")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "pyflame" / "kernels"


def _name(source: str) -> str:
    return "pyflame_kernel_" + hashlib.sha256(source.encode()).hexdigest()[:24]


def compiled_before(source: str) -> bool:
    """Whether `source`'s kernel is imported in this process, or numba keeps a compile of it in
    the cache (its index file beside the module's source): loading it then takes ~1 ms."""
    name = _name(source)
    if name in sys.modules:
        return True
    directory = cache_dir()
    if not (directory / f"{name}.py").exists():
        return False
    return any((directory / "__pycache__").glob(f"{name}.*.nbi"))


def load(source: str) -> ModuleType:
    """The module of `source`, written to the cache (once) and imported (once per process)."""
    name = _name(source)
    with _lock:
        if name in sys.modules:
            return sys.modules[name]
        directory = cache_dir()
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{name}.py"
        if not path.exists() or path.read_text() != source:
            # (written whole, then renamed: another process may be importing it)
            fd, tmp = tempfile.mkstemp(dir=directory, suffix=".tmp")
            with os.fdopen(fd, "w") as f:
                f.write(source)
            os.replace(tmp, path)
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        sys.modules[name] = module
        return module
