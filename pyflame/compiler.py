"""The compile driver: flame module -> mesh -> pe -> a runnable program.

    lower(module, "pe")      # in place: flame-to-mesh, then mesh-to-pe (only what is missing)
    compile_module(module)   # lower to pe, then the simulator's execution plan
    run_module(module, {"x0": a}, seed=0)   # what pyflame-run does

Passes and the simulator are imported on first use, so `import pyflame` stays cheap.
"""

from __future__ import annotations

import functools
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


#: per-tensor byte limits for putting an unplaced tensor on one PE, tried in turn: a program of
#: many small tensors that fits no PE (0, 0) is spread over more PEs rather than refused
SINGLE_PE_BUDGETS = (16 * 1024, 4 * 1024, 1024, 0)


def lower(module: ModuleOp, stage: str) -> ModuleOp:
    """Lower `module` in place from its current stage up to `stage`; returns it."""
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r} (one of {', '.join(STAGES)})")
    ctx = make_context()
    current = STAGES.index(stage_of(module))
    wanted = STAGES.index(stage)
    if current < 1 <= wanted:
        _lower_from_flame(ctx, module, wanted)
    elif current < 2 <= wanted:
        from pyflame.passes.mesh_to_pe import MeshToPEPass

        MeshToPEPass().apply(ctx, module)
    return module


def _lower_from_flame(ctx: Context, module: ModuleOp, wanted: int) -> None:
    """flame-to-mesh (and mesh-to-pe), retrying with smaller single-PE budgets when SRAM
    overflows; the first error is the one reported if nothing fits."""
    from pyflame.ir.errors import SRAMOverflowError
    from pyflame.passes.flame_to_mesh import FlameToMeshPass
    from pyflame.passes.mesh_to_pe import MeshToPEPass

    pristine = module.clone()
    first: SRAMOverflowError | None = None
    for budget in SINGLE_PE_BUDGETS:
        if first is not None:
            _replace_body(module, pristine.clone())
        try:
            FlameToMeshPass(single_pe_bytes=budget).apply(ctx, module)
            if wanted >= 2:
                MeshToPEPass().apply(ctx, module)
            return
        except SRAMOverflowError as err:
            first = first or err
    assert first is not None
    raise first


def _replace_body(module: ModuleOp, source: ModuleOp) -> None:
    for op in list(module.ops):
        op.detach()
        op.erase(safe_erase=False)
    for op in list(source.ops):
        op.detach()
        module.body.block.add_op(op)


def compile_module(module: ModuleOp) -> Any:
    """Lower to pe and build the simulator's program (`.run(args) -> (outputs, report)`)."""
    from pyflame.sim.planner import compile_plan

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

    block_args = func.body.blocks.first.args if func.body.blocks else ()
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
    from pyflame.ir import dtypes

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
