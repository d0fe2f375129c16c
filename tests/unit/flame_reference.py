"""A numpy reference evaluator of flame-level modules, standing in for the real compiler.

`fake_compile` has the signature of `pyflame.compiler.compile_module`; tests monkeypatch it in
so that `pf.eval` runs without passes or the simulator:

    monkeypatch.setattr(pyflame.compiler, "compile_module", fake.compile_module)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from xdsl.dialects.builtin import ModuleOp, TensorType
from xdsl.dialects.func import FuncOp, ReturnOp
from xdsl.ir import Operation, SSAValue

from pyflame.core import dtypes


def _np_dtype(typ: Any) -> np.dtype:
    assert isinstance(typ, TensorType)
    for d in dtypes.ALL:
        if d.mlir == typ.element_type:
            return d.numpy
    raise AssertionError(typ)


def _shape(value: SSAValue | Operation) -> tuple[int, ...]:
    typ = value.results[0].type if isinstance(value, Operation) else value.type
    assert isinstance(typ, TensorType)
    return tuple(typ.get_shape())


def _reduce(fn: Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
    def run(op: Operation, x: np.ndarray) -> np.ndarray:
        dims = tuple(op.dims.get_values())  # type: ignore[attr-defined]
        return fn(x, axis=dims, keepdims=op.keepdim is not None)  # type: ignore[attr-defined]

    return run


# flame op name -> f(op, *operand values) -> value
RULES: dict[str, Callable[..., Any]] = {
    "flame.fill": lambda op: np.full(
        _shape(op), op.value.value.data, dtype=_np_dtype(op.results[0].type)
    ),
    "flame.random_normal": lambda op, seed: (
        np.random.default_rng(seed)
        .standard_normal(_shape(op))
        .astype(_np_dtype(op.results[0].type))
    ),
    "flame.add": lambda op, a, b: a + b,
    "flame.sub": lambda op, a, b: a - b,
    "flame.mul": lambda op, a, b: a * b,
    "flame.div": lambda op, a, b: a / b,
    "flame.neg": lambda op, a: -a,
    "flame.relu": lambda op, a: np.maximum(a, 0).astype(a.dtype),
    "flame.reduce_sum": _reduce(np.sum),
    "flame.reduce_mean": _reduce(np.mean),
    "flame.matmul": lambda op, a, b: a @ b,
    "flame.transpose": lambda op, a: np.transpose(a, tuple(op.perm.get_values())),
    "flame.reshape": lambda op, a: a.reshape(_shape(op)),
}


# --- creation: iota and uniform random (numpy stand-ins; the simulator's values differ) ---


def _iota(op: Operation) -> np.ndarray:
    dim = op.dim.value.data  # type: ignore[attr-defined]
    index = np.indices(_shape(op))[dim].astype(np.float64)
    return op.start.value.data + op.step.value.data * index  # type: ignore[attr-defined]


def _uniform(op: Operation, seed: int) -> np.ndarray:
    low, high = op.minval.value.data, op.maxval.value.data  # type: ignore[attr-defined]
    gen = np.random.default_rng(seed)
    if _np_dtype(op.results[0].type).kind == "i":
        return gen.integers(int(low), int(high), _shape(op))
    return gen.uniform(low, high, _shape(op))


RULES.update({"flame.iota": _iota, "flame.random_uniform": _uniform})


class Report:
    def __init__(self, ops: int):
        self.cycles = ops
        self.ops = ops


class ReferenceProgram:
    """Runs @main of a flame module op by op with numpy."""

    def __init__(self, module: ModuleOp):
        module.verify()
        self.module = module
        funcs = [op for op in module.ops if isinstance(op, FuncOp) and op.sym_name.data == "main"]
        assert len(funcs) == 1
        self.func = funcs[0]
        self.runs = 0

    def run(self, args: list[np.ndarray | int]) -> tuple[list[np.ndarray], Report]:
        self.runs += 1
        block = self.func.body.block
        assert len(args) == len(block.args), (len(args), len(block.args))
        env: dict[SSAValue, Any] = {}
        for arg, value in zip(block.args, args, strict=True):
            if isinstance(arg.type, TensorType):
                assert isinstance(value, np.ndarray), arg.name_hint
                assert value.shape == _shape(arg), (arg.name_hint, value.shape)
                assert value.dtype == _np_dtype(arg.type), (arg.name_hint, value.dtype)
            else:
                assert isinstance(value, int), (arg.name_hint, value)
            env[arg] = value
        for count, op in enumerate(block.ops):
            if isinstance(op, ReturnOp):
                return [np.asarray(env[v]) for v in op.arguments], Report(count)
            value = RULES[op.name](op, *(env[v] for v in op.operands))
            env[op.results[0]] = np.asarray(value).astype(_np_dtype(op.results[0].type))
        raise AssertionError("no func.return")


class FakeCompiler:
    """`compile_module` replacement that counts compiles and keeps the programs."""

    def __init__(self) -> None:
        self.modules: list[ModuleOp] = []
        self.programs: list[ReferenceProgram] = []

    @property
    def compiles(self) -> int:
        return len(self.programs)

    def compile_module(self, module: ModuleOp) -> ReferenceProgram:
        self.modules.append(module)
        program = ReferenceProgram(module)
        self.programs.append(program)
        return program
