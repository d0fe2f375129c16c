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
import importlib.util
import sys
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # type checkers see every public name
    from pyflame import autograd, extend, nn, optim, serving, sim, training
    from pyflame.api import (
        CheckpointError,
        CompileError,
        DeadlockError,
        DType,
        HostMemoryError,
        IntegerOverflowError,
        MeshLayout,
        PyFlameError,
        ShapeError,
        SimulationError,
        SRAMOverflowError,
        Tensor,
        abs,
        add,
        amax,
        amin,
        arange,
        argmax,
        argmin,
        astype,
        backward,
        bernoulli,
        bfloat16,
        bmm,
        bool,
        broadcast_to,
        cache_clear,
        cache_info,
        cat,
        chunk,
        clamp,
        concat,
        concatenate,
        div,
        dropout,
        eq,
        eval,
        exp,
        expand,
        explain,
        eye,
        flatten,
        float16,
        float32,
        from_numpy,
        full,
        full_like,
        ge,
        gelu,
        gt,
        int32,
        ir,
        last_report,
        le,
        load,
        log,
        log_softmax,
        logical_and,
        logical_not,
        logical_or,
        logsumexp,
        lt,
        manual_seed,
        matmul,
        max,
        maximum,
        mean,
        min,
        minimum,
        mul,
        narrow,
        ne,
        neg,
        no_grad,
        ones,
        ones_like,
        pad,
        permute,
        pipeline,
        pow,
        prod,
        rand,
        rand_like,
        randint,
        randint_like,
        randn,
        randn_like,
        relu,
        reshape,
        rsqrt,
        save,
        set_target,
        sigmoid,
        silu,
        softmax,
        split,
        sqrt,
        squeeze,
        stack,
        std,
        sub,
        sum,
        tanh,
        target,
        transpose,
        unsqueeze,
        var,
        view,
        where,
        zeros,
        zeros_like,
    )

# the same list as pyflame.api.__all__ (tests/unit/test_frontend_imports.py checks it), here so
# that asking for another name (`from pyflame import compiler`) does not load the frontend
__all__ = [
    "CheckpointError",
    "CompileError",
    "DType",
    "DeadlockError",
    "HostMemoryError",
    "IntegerOverflowError",
    "MeshLayout",
    "PyFlameError",
    "SRAMOverflowError",
    "ShapeError",
    "SimulationError",
    "Tensor",
    "abs",
    "add",
    "amax",
    "amin",
    "arange",
    "argmax",
    "argmin",
    "astype",
    "autograd",
    "backward",
    "bernoulli",
    "bfloat16",
    "bmm",
    "bool",
    "broadcast_to",
    "cache_clear",
    "cache_info",
    "cat",
    "chunk",
    "clamp",
    "concat",
    "concatenate",
    "div",
    "dropout",
    "eq",
    "eval",
    "exp",
    "expand",
    "explain",
    "extend",
    "eye",
    "flatten",
    "float16",
    "float32",
    "from_numpy",
    "full",
    "full_like",
    "ge",
    "gelu",
    "gt",
    "int32",
    "ir",
    "last_report",
    "le",
    "load",
    "log",
    "log_softmax",
    "logical_and",
    "logical_not",
    "logical_or",
    "logsumexp",
    "lt",
    "manual_seed",
    "matmul",
    "max",
    "maximum",
    "mean",
    "min",
    "minimum",
    "mul",
    "narrow",
    "ne",
    "neg",
    "nn",
    "no_grad",
    "ones",
    "ones_like",
    "optim",
    "pad",
    "permute",
    "pipeline",
    "pow",
    "prod",
    "rand",
    "rand_like",
    "randint",
    "randint_like",
    "randn",
    "randn_like",
    "relu",
    "reshape",
    "rsqrt",
    "save",
    "serving",
    "set_target",
    "sigmoid",
    "silu",
    "sim",
    "softmax",
    "split",
    "sqrt",
    "squeeze",
    "stack",
    "std",
    "sub",
    "sum",
    "tanh",
    "target",
    "training",
    "transpose",
    "unsqueeze",
    "var",
    "view",
    "where",
    "zeros",
    "zeros_like",
]
_API_NAMES = frozenset(__all__)

#: API names that are also the names of submodules holding something else (`pf.ir` prints a
#: program's IR; `pyflame.ir` is the IR's ground floor). Importing a submodule binds it on its
#: package, which would hide the API's object: for these names the package keeps the API's.
#: Import such a submodule with `from pyflame.ir import ...`, never `import pyflame.ir as x`.
API_NAMES_OVER_SUBMODULES = ("ir",)


def _load_api() -> types.ModuleType:
    """Import the frontend and publish its names here (once; later calls are a dict lookup)."""
    api = importlib.import_module("pyflame.api")
    namespace = globals()
    if namespace.get("_api") is not api:
        namespace.update({name: getattr(api, name) for name in api.__all__})
        namespace["_api"] = api
    return api


def __getattr__(name: str) -> Any:
    if name in _API_NAMES:
        return getattr(_load_api(), name)
    if not name.startswith("_") and importlib.util.find_spec(f"{__name__}.{name}") is not None:
        return importlib.import_module(f"{__name__}.{name}")  # pf.runtime, pf.io, ...
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _API_NAMES)


class _Package(types.ModuleType):
    """`pyflame` itself: the names of `API_NAMES_OVER_SUBMODULES` always give the API's object."""


def _api_attribute(name: str) -> property:
    def get(package: types.ModuleType) -> Any:
        return getattr(_load_api(), name)

    def set_(package: types.ModuleType, value: Any) -> None:
        pass  # the import system binding submodule pyflame.<name>: it stays in sys.modules

    return property(get, set_)


for _name in API_NAMES_OVER_SUBMODULES:
    setattr(_Package, _name, _api_attribute(_name))
sys.modules[__name__].__class__ = _Package
