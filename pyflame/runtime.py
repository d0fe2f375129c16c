"""Evaluation: `pf.eval`, the compile cache, pending state updates, `pf.ir`, `pf.explain`.

    pf.eval(loss, acc)     # one program for both (plus pending updates), compiled once per
                           # graph structure, then each tensor holds its data and drops its graph
    pf.cache_info()        # CacheInfo(hits=199, misses=1, currsize=1)
    pf.last_report()       # the simulator's report of the last run

Pending updates (optimizer steps, BatchNorm running statistics) are `(target, new_value)` pairs
registered with `add_pending_update`; the next `pf.eval` computes every new value in the same
program and then gives its data to the target leaf.
"""

from __future__ import annotations

import collections
import dataclasses
import io
import sys
import threading
import weakref
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, NamedTuple, cast

import numpy as np

from pyflame import checks, compiler, host_buffers, tensor_methods, tracing
from pyflame.core.errors import PyFlameError, ShapeError
from pyflame.lazy_tensor import Tensor, format_location, user_location
from pyflame.sim.device_array import DeviceArray
from pyflame.sim.executable import Executable

if TYPE_CHECKING:
    from xdsl.dialects.builtin import ModuleOp

CACHE_MAXSIZE = 64


class CacheInfo(NamedTuple):
    hits: int
    misses: int
    currsize: int


@dataclasses.dataclass(frozen=True)
class Compiled:
    """A cached program and the source lines of the trace it was compiled from.

    The cache key ignores source lines, so the program serves every trace with the same key,
    wherever it was built; its ops carry the first trace's lines. `run` makes the errors it
    raises name the lines of the trace it runs for (`tracing.SourceMap.relocate`)."""

    program: Any
    sources: tracing.SourceMap
    #: the key it is cached under (`_lookup` moves the entry to the end by this very object:
    #: found at once, where an equal key would be compared again, field by field)
    key: Any = None

    def run(self, tr: tracing.Trace, keep_tiles: range = range(0)) -> tuple[list[Any], Any]:
        """Run the program on `tr`'s inputs; a PyFlameError it raises (an int32 overflow, an
        integer division by zero, a simulator fault, a deadlock of the wavelet engine) names
        `tr`'s lines, not the lines of the trace the program was compiled from."""
        try:
            if keep_tiles and isinstance(self.program, Executable):
                return self.program.run(tr.inputs(), keep_tiles)
            return cast(tuple[list[Any], Any], self.program.run(tr.inputs()))
        except PyFlameError as err:
            if err.args and isinstance(err.args[0], str):
                err.args = (self.sources.relocate(err.args[0], tr.sources()), *err.args[1:])
            raise


class _ThreadState(threading.local):
    """What one thread's evaluations own: its pending updates and its last report (so that two
    threads training two models never run or see each other's updates)."""

    def __init__(self) -> None:
        self.pending: list[tuple[Tensor, Tensor]] = []
        #: tensors that held data until an in-place op rebound them (pyflame/inplace.py),
        #: weakly: the next pf.eval computes the live ones, so they hold data again
        self.rebound: list[Any] = []
        self.last_report: Any = None


#: compiled programs are shared by every thread (a program is immutable once built: each run gets
#: its own SRAM), under `_cache_lock`; compiling is serialised by `_compile_lock`, as the passes
#: share one xDSL context
_cache: collections.OrderedDict[Any, Compiled] = collections.OrderedDict()
_stats = {"hits": 0, "misses": 0}
_cache_lock = threading.Lock()
_compile_lock = threading.RLock()
_thread = _ThreadState()


# --------------------------------------------------------------------------- cache


def cache_info() -> CacheInfo:
    """(hits, misses, currsize) of the compile cache, like functools.lru_cache."""
    with _cache_lock:
        return CacheInfo(_stats["hits"], _stats["misses"], len(_cache))


def cache_clear() -> None:
    """Forget every compiled program and reset the counters; let the recycled host buffers of
    big `pf.from_numpy` snapshots go (pyflame/host_buffers.py)."""
    with _cache_lock:
        _cache.clear()
        _stats["hits"] = _stats["misses"] = 0
    host_buffers.clear()


def _lookup(key: Any) -> Compiled | None:
    with _cache_lock:
        program = _cache.get(key)
        if program is not None:
            _cache.move_to_end(key if program.key is None else program.key)
        return program


def _program(tr: tracing.Trace) -> Compiled:
    """The compiled program of `tr`'s key: from the cache, else compiled and cached (a program
    that fails to compile is not cached: the next trace compiles again and names its lines)."""
    program = _lookup(tr.key)
    if program is None:
        with _compile_lock:
            program = _lookup(tr.key)  # another thread may have compiled it meanwhile
            if program is None:
                with compiler.gc_paused():  # building the flame module too
                    program = Compiled(compiler.compile_module(tr.module()), tr.sources(), tr.key)
                with _cache_lock:
                    _stats["misses"] += 1
                    _cache[tr.key] = program
                    while len(_cache) > CACHE_MAXSIZE:
                        _cache.popitem(last=False)
                return program
    with _cache_lock:
        _stats["hits"] += 1
    return program


def last_report() -> Any:
    """The simulator's report of this thread's last `pf.eval` (None before the first one)."""
    return _thread.last_report


# --------------------------------------------------------------------------- pending updates


def add_pending_update(target: Tensor, new_value: Tensor) -> None:
    """At the next `pf.eval`, compute `new_value` and make it `target`'s data."""
    if not isinstance(target, Tensor) or not isinstance(new_value, Tensor):
        raise TypeError("add_pending_update expects two pf.Tensors")
    if target.shape != new_value.shape or target.dtype is not new_value.dtype:
        raise ShapeError(
            f"{format_location(user_location())}: update of a {list(target.shape)} "
            f"{target.dtype!r} tensor with a {list(new_value.shape)} {new_value.dtype!r} value"
        )
    _thread.pending.append((target, new_value))
    target._pending_value = new_value
    target._version_counter.bump(user_location())  # as PyTorch's in-place optimizer step
    new_value._requires_grad = target.requires_grad  # what gradient rules ask of it


def pending_updates() -> list[tuple[Tensor, Tensor]]:
    """This thread's registered (target, new_value) pairs, oldest first (a copy)."""
    return list(_thread.pending)


def retarget_pending_update(target: Tensor, new_target: Tensor) -> None:
    """The pending updates of `target` go to `new_target` instead (an in-place op rebinding
    `target` after `optimizer.step()`: the step belongs to the value it replaced,
    pyflame/inplace.py)."""
    pending = _thread.pending
    for i, (t, value) in enumerate(pending):
        if t is target:
            pending[i] = (new_target, value)


def clear_pending_updates() -> None:
    _forget(_thread.pending)
    _thread.pending.clear()
    _thread.rebound.clear()


def compute_at_next_eval(t: Tensor) -> None:
    """Make the next `pf.eval` compute `t` too (in the same program) and give it its data: a
    parameter, buffer or cache that an in-place op made lazy (`with pf.no_grad(): w -= lr *
    w.grad`, `cache[:, t] = k`) holds data again after each evaluation, as in PyTorch, instead
    of growing a longer graph every step."""
    _thread.rebound.append(weakref.ref(t))


def _rebound() -> list[Tensor]:
    """The live, still lazy tensors of `compute_at_next_eval`, oldest first."""
    live = (ref() for ref in _thread.rebound)
    return [t for t in live if t is not None and t._data is None]


def _forget(updates: list[tuple[Tensor, Tensor]]) -> None:
    for target, _ in updates:
        target._pending_value = None


# --------------------------------------------------------------------------- eval


def _flatten(tensors: Iterable[Any]) -> list[Tensor]:
    out: list[Tensor] = []
    for t in tensors:
        if isinstance(t, (list, tuple)):
            out.extend(_flatten(t))
        elif isinstance(t, Tensor):
            out.append(t)
        else:
            raise TypeError(f"pf.eval expects pf.Tensors, got {type(t).__name__}")
    return out


def _unique(tensors: Iterable[Tensor]) -> list[Tensor]:
    seen: set[int] = set()
    out = []
    for t in tensors:
        if id(t) not in seen:
            seen.add(id(t))
            out.append(t)
    return out


def _as_data(value: Any, t: Tensor) -> np.ndarray | DeviceArray:
    if type(value) is DeviceArray and value.dtype == t.dtype.numpy and value.shape == t.shape:
        return value  # gathered into a host array when read (pyflame/sim/device_array.py)
    array = np.asarray(value)
    if array.dtype != t.dtype.numpy:
        array = array.astype(t.dtype.numpy)
    if array.shape != t.shape:
        if array.size != t.numel():
            raise RuntimeError(
                f"program returned shape {list(array.shape)} for the tensor made at "
                f"{format_location(t.location)}, expected {list(t.shape)}"
            )
        array = array.reshape(t.shape)
    if array.base is not None or not array.flags.c_contiguous:
        array = np.array(array, order="C")  # never keep a view into the program's memory
    return array


def _keep_old_value_for_lazy_users(target: Tensor) -> None:
    """Lazy tensors built on `target` before this update keep seeing its old value (as in
    PyTorch, where `w.grad` stays what it was after `optimizer.step()`): they get a snapshot."""
    users = target._users
    target._users = None
    if not users or target._data is None:
        return
    old = Tensor(
        target.shape,
        target.dtype,
        data=target._data,
        layout=target.layout,
        location=target.location,
    )
    old._requires_grad = target.requires_grad  # what gradient rules ask of the value they read
    for ref in users.values():
        user = ref()
        if user is None or (user._data is not None and not user._grad_node):
            continue
        # read the snapshot, but keep `target` as the input, so gradients still reach it
        reads = user._reads if user._reads is not None else {}
        for i, t in enumerate(user.inputs):
            if t is target and i not in reads:
                reads[i] = old
        user._reads = reads


def traced(outputs: list[Tensor]) -> tuple[tracing.Trace, checks.Checks]:
    """The trace of the program computing `outputs`, and the runtime checks of the nodes it
    computes (pyflame/checks.py), whose tensors are extra outputs of that program (rare: the
    graph is then traced again with them)."""
    tr = tracing.trace(outputs)
    runtime_checks = checks.attached(tr.nodes)
    if runtime_checks.checks:
        tr = tracing.trace(outputs + runtime_checks.tensors)
    return tr, runtime_checks


def eval(*tensors: Any) -> Any:
    """Compute the given tensors (and pending updates) in one compiled program.

    Each tensor then holds its data and forgets its graph; already evaluated tensors are
    skipped. Returns the tensor (one argument) or a tuple of them.
    """
    requested = _flatten(tensors)
    lazy = _unique(t for t in requested if t._data is None)
    pending = _thread.pending
    updates = list(pending)
    rebound = _rebound()
    _thread.rebound.clear()
    seen = {id(t) for t in lazy}
    extra = [n for _, n in updates if n._data is None] + rebound
    outputs = lazy + _unique(n for n in extra if id(n) not in seen)
    if outputs:
        with compiler.gc_paused():  # the trace's objects die at once or live with the program
            tr, runtime_checks = traced(outputs)
        try:
            # (the updates' values as device arrays: the next step takes their tiles back)
            keep = range(len(lazy), len(outputs))
            results, report = _program(tr).run(tr, keep)  # errors name tr's lines
            results = runtime_checks.verify(results)  # raises a failed check at its op's line
        except Exception:
            # the updates belong to a program that cannot run: drop them, or every later
            # pf.eval would fail the same way
            _forget(updates)
            del pending[: len(updates)]
            raise
        if len(results) != len(outputs):
            raise RuntimeError(f"program returned {len(results)} values for {len(outputs)} outputs")
        data = [_as_data(value, t) for value, t in zip(results, outputs, strict=True)]
        for t, value in zip(outputs, data, strict=True):
            t._set_data(value, keep_grad_graph=True)
        runtime_checks.done(outputs)
        _thread.last_report = report
    for target, new in updates:
        _keep_old_value_for_lazy_users(target)
        target._set_data(cast(np.ndarray, new._data))  # an update's value is evaluated
        if target._pending_value is new:  # a later update, registered meanwhile, stays
            target._pending_value = None
    del pending[: len(updates)]
    if len(tensors) == 1 and isinstance(tensors[0], Tensor):
        return tensors[0]
    return tuple(requested)


# --------------------------------------------------------------------------- inspection


def _program_module(tensors: tuple[Any, ...]) -> ModuleOp:
    requested = _flatten(tensors)
    if not requested:
        raise ValueError("pf.ir needs at least one tensor")
    seen = {id(t) for t in requested}
    pending = _thread.pending
    extra = [n for _, n in pending if n._data is None] + _rebound()
    outputs = requested + _unique(n for n in extra if id(n) not in seen)
    return tracing.trace(outputs).module()


def _print(module: ModuleOp) -> str:
    from xdsl.printer import Printer

    stream = io.StringIO()
    Printer(stream=stream, print_debuginfo=True).print_op(module)
    return stream.getvalue().rstrip("\n") + "\n"


def ir(*tensors: Any, stage: str = "flame") -> str:
    """The MLIR text of the program `pf.eval(*tensors)` would run, at `stage`
    ("flame", "mesh" or "pe"). Pending updates' new values and the tensors an in-place op made
    lazy (`compute_at_next_eval`) are extra results."""
    if stage not in compiler.STAGES:
        raise ValueError(f"unknown stage {stage!r} (one of {', '.join(compiler.STAGES)})")
    module = _program_module(tensors)
    with _compile_lock:
        compiler.lower(module, stage)
    return _print(module)


def explain(*tensors: Any) -> None:
    """Print the program at every stage, with the pass between each two (stage by stage, so a
    failing pass still shows what it was given), then the cost model's view of its mesh-level
    form: per op its algorithm, estimated cycles and result layout, the barriers, the total
    (`cost_table`)."""
    module = _program_module(tensors)
    print("// stage: flame\n" + _print(module))
    print(_layouts(module))
    mesh_module = None
    for start, stage in (("flame", "mesh"), ("mesh", "pe")):
        with _compile_lock:
            compiler.lower(module, stage)
        passes = compiler.stage_pipeline(start, stage)
        print(f"// passes: {passes}\n// stage: {stage}\n" + _print(module))
        if stage == "mesh" and compiler.stage_of(module) == "mesh":
            mesh_module = module.clone()
    if mesh_module is not None:
        print(cost_table(mesh_module))


def cost_table(mesh_module: ModuleOp) -> str:
    """The cost model's estimates of a mesh-level module (passes/cost_model/), as a table headed
    `// cost estimate`: per op of @main its algorithm, estimated cycles, result layout and where
    the cycles go; then the barriers that order route switches and the total."""
    from pyflame.core.target import Target
    from pyflame.passes.cost_model import estimate_program

    with _compile_lock:
        program = estimate_program(mesh_module)
    target = Target.of_module(mesh_module).name
    return (
        f"// cost estimate on {target} (passes/cost_model; kernel cycles, host I/O apart)\n"
        + program.table()
    )


def _layouts(module: ModuleOp) -> str:
    """Each tensor's layout as assign-layouts chooses it, and why (on a copy: the stages below
    are printed from the module as it was)."""
    from pyflame.passes import assign_layouts

    copy = module.clone()
    with _compile_lock:
        compiler.run_pipeline(copy, "decompose,canonicalize,cse,assign-layouts")
    return assign_layouts.describe(copy) or "// layouts: the compiler's defaults (no large matmul)"


def pipeline() -> str:
    """The exact pass pipeline `pf.eval` runs on a program's flame IR (`pf.ir(x)`), for
    `pyflame-opt -p "$(...)"`: the same pe IR as `pf.ir(x, stage="pe")`. The target is not part
    of it: it travels in the program (`pf.target`)."""
    return compiler.pipeline()


tensor_methods.bind("runtime", sys.modules[__name__])  # `x.numpy()`, `print(x)` call `eval` above
