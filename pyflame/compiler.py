"""The compile driver: flame module -> mesh -> pe -> a runnable program.

    pipeline()               # the pass pipeline pf.eval runs, as a string for pyflame-opt -p
    lower(module, "pe")      # in place: the passes from the module's stage up to "pe"
    compile_module(module)   # lower to pe, then the simulator's execution plan
    run_module(module, {"x0": a}, seed=0)   # what pyflame-run does

Passes and the simulator are imported on first use, so `import pyflame` stays cheap.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from xdsl.context import Context
    from xdsl.dialects.builtin import ModuleOp
    from xdsl.dialects.func import FuncOp

STAGES = ("flame", "mesh", "pe")


@functools.cache
def make_context() -> Context:
    """An xDSL context knowing builtin, func, arith and PyFlame's dialects (shared)."""
    from xdsl.context import Context
    from xdsl.dialects.arith import Arith
    from xdsl.dialects.builtin import Builtin
    from xdsl.dialects.func import Func

    from pyflame.dialects import all_dialects

    ctx = Context()
    for dialect in (Builtin, Func, Arith):
        ctx.load_dialect(dialect)
    for name, loader in all_dialects().items():
        ctx.register_dialect(name, loader)
    return ctx


def stage_of(module: ModuleOp) -> str:
    """The lowest level still present: "flame" if any flame op, else "mesh" if any, else "pe"."""
    found = "pe"
    for op in module.walk():
        if op.name.startswith("flame."):
            return "flame"
        if op.name.startswith("mesh."):
            found = "mesh"
    return found


def stage_pipeline(start: str, stop: str) -> str:
    """The pass pipeline that lowers a module at stage `start` to stage `stop` ('' if none)."""
    from pyflame.passes import PIPELINES

    steps = {"mesh": PIPELINES["lower-to-mesh"], "pe": PIPELINES["mesh-to-pe"]}
    return ",".join(steps[s] for s in STAGES[STAGES.index(start) + 1 : STAGES.index(stop) + 1])


def pipeline(target: object = None) -> str:
    """The exact pass pipeline `pf.eval` runs on a flame module, for `pyflame-opt -p`:

        decompose,canonicalize,cse,assign-layouts,place-on-fabric,plan-placement,flame-to-mesh,plan-memory,
        choose-collectives,combine-collectives,lower-mesh-to-pe,fuse-elementwise,allocate-colors,
        allocate-sram

    The target travels in the module (`pf.target`), not in the pipeline, so the string is the same
    for every target; `target` (a `Target` or a preset's name) is checked, for callers that
    name the one they compile for."""
    if target is not None:
        from pyflame.core.target import as_target

        as_target(target)
    return stage_pipeline("flame", "pe")


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off while compiling, back on after (if it was on).

    A compile makes many IR objects that live through a few young collections (the stages of
    the module, plan-placement's copies) and so reach the old generation, where each full
    collection scans every object of the process: with a few compiled programs cached that
    was half of the compile time. Paused, the compile's garbage is freed by the first young
    collection after it and only the compiled program ages."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def run_pipeline(module: ModuleOp, spec: str) -> None:
    """Run the pass pipeline `spec` (PyFlame's pass names) on `module`, in place."""
    from xdsl.passes import PassPipeline

    from pyflame.passes import all_passes

    if not spec:
        return
    from pyflame.core.progress import PassProgress

    progress = PassProgress() if PassProgress.wanted(sys.stderr) else None
    with gc_paused():
        try:
            PassPipeline.parse_spec(all_passes(), spec, progress).apply(make_context(), module)
        finally:
            if progress is not None:
                progress.close()


def lower(module: ModuleOp, stage: str) -> ModuleOp:
    """Lower `module` in place from its current stage up to `stage`; returns it."""
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r} (one of {', '.join(STAGES)})")
    current = stage_of(module)
    for start, stop in zip(STAGES, STAGES[1:], strict=False):
        if STAGES.index(current) <= STAGES.index(start) and STAGES.index(stop) <= STAGES.index(
            stage
        ):
            run_pipeline(module, stage_pipeline(start, stop))
            verify_stage(module, stop)
    return module


def verify_stage(module: ModuleOp, stage: str) -> None:
    """Verify the module a stage's passes produced: a pass that builds an op its verifier
    refuses (a mesh.reshape whose element count is wrong) is a compiler bug, named here
    rather than computed with."""
    from xdsl.utils.exceptions import VerifyException

    from pyflame.core.errors import CompileError

    try:
        module.verify()
    except VerifyException as e:
        raise CompileError(
            f"internal compiler error: the {stage} program the passes made does not verify "
            f"({e}); please report it with the program that produced it"
        ) from e


def compile_module(module: ModuleOp) -> Any:
    """Lower to pe and build the simulator's program (`.run(args) -> (outputs, report)`)."""
    from pyflame.sim.planner import compile_plan

    with gc_paused():
        lower(module, "pe")
        return compile_plan(module)


def main_func(module: ModuleOp) -> FuncOp:
    from xdsl.dialects.func import FuncOp

    for op in module.ops:
        if isinstance(op, FuncOp) and op.sym_name.data == "main":
            return op
    raise ValueError("the module has no func.func @main")


def run_module(
    module: ModuleOp, inputs: dict[str, np.ndarray], seed: int | None = None
) -> tuple[list[np.ndarray], Any]:
    """Run @main from any stage. Arguments come from `inputs` by name (`x0`, `seed0`, ...);
    missing ones are drawn from `np.random.default_rng(seed)` (normal floats, ints)."""
    args = _arguments(main_func(module), inputs, np.random.default_rng(seed))
    program = compile_module(module)
    return program.run(args)


def _arguments(
    func: FuncOp, inputs: dict[str, np.ndarray], rng: np.random.Generator
) -> list[np.ndarray | int]:
    from xdsl.dialects.builtin import IntegerType, TensorType

    block_args = func.body.blocks[0].args if func.body.blocks else ()
    types = list(func.function_type.inputs.data)
    names = [
        (block_args[i].name_hint if i < len(block_args) else None) or f"arg{i}"
        for i in range(len(types))
    ]
    unknown = sorted(set(inputs) - set(names))
    if unknown:
        raise ValueError(
            f"unknown input name(s) {', '.join(unknown)}; @main takes {', '.join(names) or 'none'}"
        )
    args: list[np.ndarray | int] = []
    for name, typ in zip(names, types, strict=True):
        given = inputs.get(name)
        if isinstance(typ, TensorType):
            shape = tuple(typ.get_shape())
            np_dtype = _numpy_dtype(typ.element_type)
            if given is None:
                args.append(_random_array(rng, shape, np_dtype))
                continue
            array = np.asarray(given)
            if array.shape != shape:
                raise ValueError(
                    f"input {name}: shape {list(array.shape)} does not match @main's {list(shape)}"
                )
            args.append(np.ascontiguousarray(array, dtype=np_dtype))
        elif isinstance(typ, IntegerType):
            if given is None:
                args.append(int(rng.integers(0, 2**31)))
                continue
            array = np.asarray(given)
            if array.size != 1 or array.dtype.kind not in "iub":
                raise ValueError(f"input {name}: expected one integer, got {given!r}")
            args.append(int(array.reshape(())))
        else:
            raise TypeError(f"input {name}: unsupported argument type {typ}")
    return args


def _numpy_dtype(element_type: Any) -> np.dtype:
    from pyflame.core import dtypes

    for d in dtypes.ALL:
        if d.mlir == element_type:
            return d.numpy
    raise ValueError(f"unsupported element type {element_type}")


def _random_array(rng: np.random.Generator, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    if dtype.kind == "f" or dtype.kind == "V":  # V: ml_dtypes' bfloat16
        return rng.standard_normal(shape).astype(np.float32).astype(dtype)
    if dtype.kind == "b":
        return rng.integers(0, 2, shape).astype(bool)
    return rng.integers(-10, 10, shape).astype(dtype)
