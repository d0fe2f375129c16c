"""Tracing: lazy tensors -> a flame-level `builtin.module` and a structural cache key.

`trace(outputs)` walks the graph once (iteratively, in a deterministic topological order) and
returns a `Trace` with the cache key and the runtime inputs; the xDSL module is built only when
asked for (`Trace.module()`), i.e. on a compile-cache miss.

    x = pf.from_numpy(a); y = pf.randn([4, 4]); z = (x + y).relu()
    builtin.module attributes {pf.target = {...}} {
      func.func @main(%x0 : tensor<4x4xf32>, %seed0 : i64) -> tensor<4x4xf32> {
        %0 = flame.random_normal %seed0 : i64 -> tensor<4x4xf32> loc("demo.py":2:0)
        %1 = flame.add %x0, %0 : (...) -> tensor<4x4xf32> loc("demo.py":2:0)
        %2 = flame.relu %1 : tensor<4x4xf32> -> tensor<4x4xf32> loc("demo.py":2:0)
        func.return %2 : tensor<4x4xf32>
      }
    }

Arguments of `@main`: first every leaf tensor holding data (in order of first use), then one
`i64` seed per random op (`%seed0`, ...), both in topological order. A data leaf's argument is
named after the leaf's `name` (`pf.from_numpy(a, name="a")` -> `%a`; a module's parameters and
buffers are named by their path, `%fc1.weight`), made a valid SSA name (other characters become
`_`, a leading digit gets a `_` in front); an unnamed leaf is `%x<k>`, k its argument index.
A repeated name gets xDSL's `_1`, `_2` suffixes, as the printer shows it. A leaf with a layout
carries it as the argument attribute `flame.layout`. Results: the requested tensors, in the
order given (repeats allowed).

The key holds op names, attrs (except runtime ones such as seeds), shapes, dtypes, layouts,
edges as node indices, which nodes are outputs, and the target; never data, seeds, argument
names or source locations, so a loop that rebuilds the same graph compiles once (and two graphs
that differ only in their inputs' names share one compiled program).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Hashable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from pyflame.core.target import Target
from pyflame.sim.target import get_target
from pyflame.tensor import Tensor

if TYPE_CHECKING:
    from xdsl.dialects.builtin import ModuleOp
    from xdsl.ir import Attribute

#: attrs that are runtime inputs of the program, not part of its structure
RUNTIME_ATTRS = frozenset({"seed"})
#: ops whose `seed` attr becomes an i64 argument of @main
RANDOM_OPS = frozenset({"flame.random_normal", "flame.random_uniform"})
#: f64 attrs of one op whose names other ops use otherwise (flame.iota's start and step are
#: numbers, flame.slice's are arrays)
OP_FLOAT_ATTRS = {
    "flame.iota": frozenset({"start", "step"}),
    "flame.random_uniform": frozenset({"minval", "maxval"}),
    "flame.var": frozenset({"correction"}),  # reductions: var and std's divisor correction
    "flame.std": frozenset({"correction"}),
}
#: shape-op attrs that are i64 arrays (flame.slice start/stop/step, flame.pad low/high)
SHAPE_OP_ARRAY_ATTRS = frozenset({"start", "stop", "step", "low", "high"})
#: convolution and pooling attrs: i64 arrays, i64 integers, and flags (unit attrs)
CONV_ARRAY_ATTRS = frozenset({"kernel", "stride", "padding", "dilation"})
CONV_INT_ATTRS = frozenset({"groups", "divisor"})
CONV_FLAG_ATTRS = frozenset({"count_include_pad"})
#: ops with optional trailing operands: how many operands they have with all of them
OPTIONAL_OPERAND_OPS = {"flame.conv2d": 3}
#: ops whose operands form one variadic group
VARIADIC_OPS = frozenset({"flame.concat"})


@dataclasses.dataclass
class Trace:
    """One traced graph: nodes in topological order and everything derived from them."""

    nodes: list[Tensor]
    #: for each node, the node indices of its inputs (empty for leaves)
    edges: list[tuple[int, ...]]
    #: node index of each requested output, in request order (repeats allowed)
    outputs: tuple[int, ...]
    #: node indices of the data leaves (arguments x0, x1, ...)
    args: list[int]
    #: node indices of the random ops (arguments seed0, seed1, ...)
    seeds: list[int]
    target: Target
    key: Hashable

    def inputs(self) -> list[np.ndarray | int]:
        """Runtime input values in @main argument order."""
        values: list[np.ndarray | int] = [self.nodes[i]._data for i in self.args]  # type: ignore[misc]
        values += [int(self.nodes[i].attrs["seed"]) for i in self.seeds]
        return values

    def arg_names(self) -> list[str]:
        """@main's argument names: data leaves' `name`s (else `x<k>`), then `seed<k>`; unique."""
        wanted = [
            ssa_name(getattr(self.nodes[i], "name", None)) or f"x{k}"
            for k, i in enumerate(self.args)
        ] + [f"seed{k}" for k in range(len(self.seeds))]
        return unique_names(wanted)

    def module(self) -> ModuleOp:
        return _build_module(self)


def ssa_name(name: object) -> str | None:
    """`name` as a valid SSA value name (`[A-Za-z_$.-][A-Za-z0-9_$.-]*`), or None if empty."""
    if not isinstance(name, str) or not name:
        return None
    text = re.sub(r"[^A-Za-z0-9_$.\-]", "_", name)
    if text.isdigit():
        return "x" + text  # "_7" would be no name at all (xDSL drops a `_<digits>` suffix)
    return "_" + text if text[0].isdigit() else text


def unique_names(names: Sequence[str]) -> list[str]:
    """The names as xDSL prints them: a name's hint drops a trailing `_<digits>`, and a repeated
    hint gets `_1`, `_2`, ... in order."""
    counts: dict[str, int] = {}
    out = []
    for name in names:
        hint = re.sub(r"_\d+$", "", name) or name
        n = counts.get(hint, 0)
        counts[hint] = n + 1
        out.append(f"{hint}_{n}" if n else hint)
    return out


def trace(outputs: Sequence[Tensor], target: Target | None = None) -> Trace:
    """Walk the graph of `outputs`; see the module docstring for the order and the key."""
    target = target or get_target()
    nodes, index = _toposort(outputs)
    args: list[int] = []
    seeds: list[int] = []
    entries: list[tuple[Any, ...]] = []
    all_edges: list[tuple[int, ...]] = []
    for i, t in enumerate(nodes):
        if t._data is not None:
            args.append(i)
            all_edges.append(())
            entries.append(("arg", t.shape, t.dtype.name, t.layout))
            continue
        if t.op in RANDOM_OPS:
            seeds.append(i)
        attrs = tuple(sorted((k, _freeze(v)) for k, v in t.attrs.items() if k not in RUNTIME_ATTRS))
        edges = tuple(index[id(x)] for x in t.value_inputs())
        all_edges.append(edges)
        entries.append((t.op, attrs, t.shape, t.dtype.name, t.layout, edges))
    out_idx = tuple(index[id(t)] for t in outputs)
    key = (tuple(entries), out_idx, target)
    return Trace(nodes, all_edges, out_idx, args, seeds, target, key)


def trace_module(outputs: Sequence[Tensor]) -> tuple[ModuleOp, Hashable, list[np.ndarray | int]]:
    """(flame module, structural cache key, runtime inputs in argument order)."""
    t = trace(outputs)
    return t.module(), t.key, t.inputs()


def _toposort(outputs: Sequence[Tensor]) -> tuple[list[Tensor], dict[int, int]]:
    """Post-order DFS from each output in turn, inputs left to right; no recursion."""
    order: list[Tensor] = []
    index: dict[int, int] = {}
    for out in outputs:
        if not isinstance(out, Tensor):
            raise TypeError(f"expected a pf.Tensor, got {type(out).__name__}")
        stack = [out]
        while stack:
            t = stack[-1]
            if id(t) in index:
                stack.pop()
                continue
            pending = []
            if t._data is None:
                pending = [x for x in t.value_inputs() if id(x) not in index]
            if pending:
                stack.extend(reversed(pending))
                continue
            stack.pop()
            index[id(t)] = len(order)
            order.append(t)
    return order, index


def _freeze(value: Any) -> Hashable:
    """A hashable, exact stand-in for an attr value (floats by bits, so NaN == NaN)."""
    if isinstance(value, float):
        return ("f", value.hex())
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    return value


# --------------------------------------------------------------------------- IR building


def _ir_attrs(t: Tensor) -> dict[str, Attribute]:
    """Python attrs -> flame op attributes (one converter per attr name)."""
    from xdsl.dialects.builtin import FloatAttr, IntegerAttr, UnitAttr, f64, i64

    from pyflame.dialects.flame import dense_i64

    out: dict[str, Attribute] = {}
    for name, value in t.attrs.items():
        if name in RUNTIME_ATTRS:
            continue
        if name in OP_FLOAT_ATTRS.get(t.op, ()):  # type: ignore[arg-type]
            out[name] = FloatAttr(float(value), f64)
        elif name == "value":
            out["value"] = FloatAttr(float(value), f64)
        elif name in ("dims", "perm"):
            out[name] = dense_i64(value)
        elif name == "keepdim":
            if value:
                out["keepdim"] = UnitAttr()
        elif name in SHAPE_OP_ARRAY_ATTRS:
            out[name] = dense_i64(value)
        elif name == "dim":
            out["dim"] = IntegerAttr(int(value), i64)
        elif name in CONV_ARRAY_ATTRS:
            out[name] = dense_i64(value)
        elif name in CONV_INT_ATTRS:
            if value is not None:
                out[name] = IntegerAttr(int(value), i64)
        elif name in CONV_FLAG_ATTRS:
            if value:
                out[name] = UnitAttr()
        else:
            raise NotImplementedError(f"no IR form for attr {name!r} of {t.op}")
    if t.layout is not None:
        out["layout"] = t.layout.to_attr()
    return out


def _build_module(tr: Trace) -> ModuleOp:
    from xdsl.dialects.builtin import (
        ArrayAttr,
        DictionaryAttr,
        FileLineColLoc,
        IntAttr,
        ModuleOp,
        StringAttr,
        TensorType,
        i64,
    )
    from xdsl.dialects.func import FuncOp, ReturnOp
    from xdsl.ir import Block, Region, SSAValue

    from pyflame.core.target import TARGET_ATTR
    from pyflame.dialects.flame import Flame

    op_classes = {cls.name: cls for cls in Flame.operations}
    locs: dict[tuple[str, int], FileLineColLoc] = {}

    def loc(t: Tensor) -> FileLineColLoc:
        key = t.location
        if key not in locs:
            locs[key] = FileLineColLoc(StringAttr(key[0]), IntAttr(key[1]), IntAttr(0))
        return locs[key]

    def ttype(t: Tensor) -> TensorType:
        return TensorType(t.dtype.mlir, t.shape)

    nodes = tr.nodes
    arg_types = [ttype(nodes[i]) for i in tr.args] + [i64] * len(tr.seeds)
    block = Block(arg_types=arg_types)
    for arg, name, i in zip(block.args, tr.arg_names(), tr.args + tr.seeds, strict=True):
        arg.name_hint = name
        arg.location = loc(nodes[i])
    values: dict[int, SSAValue] = {i: block.args[k] for k, i in enumerate(tr.args)}
    seed_arg = {i: block.args[len(tr.args) + k] for k, i in enumerate(tr.seeds)}

    for i, t in enumerate(nodes):
        if i in values:
            continue
        cls = op_classes.get(t.op)  # type: ignore[arg-type]
        if cls is None:
            where = f"{t.location[0]}:{t.location[1]}"
            raise NotImplementedError(f"no flame op {t.op!r} (made at {where})")
        operands = [seed_arg[i]] if i in seed_arg else [values[k] for k in tr.edges[i]]
        if t.op in VARIADIC_OPS:
            operands = [operands]
        if t.op in OPTIONAL_OPERAND_OPS:  # a missing optional operand (conv2d's bias) is None
            operands += [None] * (OPTIONAL_OPERAND_OPS[t.op] - len(operands))
        op = cls.build(operands=operands, result_types=[ttype(t)], attributes=_ir_attrs(t))
        op.location = loc(t)
        block.add_op(op)
        values[i] = op.results[0]

    result_values = [values[i] for i in tr.outputs]
    ret = ReturnOp(*result_values)
    block.add_op(ret)

    arg_attrs = None
    if any(nodes[i].layout is not None for i in tr.args):
        dicts = [
            DictionaryAttr({"flame.layout": nodes[i].layout.to_attr()})  # type: ignore[union-attr]
            if nodes[i].layout is not None
            else DictionaryAttr({})
            for i in tr.args
        ] + [DictionaryAttr({})] * len(tr.seeds)
        arg_attrs = ArrayAttr(dicts)
    func = FuncOp(
        "main",
        (arg_types, [v.type for v in result_values]),
        Region(block),
        arg_attrs=arg_attrs,
    )
    module = ModuleOp([func])
    module.attributes[TARGET_ATTR] = tr.target.to_attr()
    return module
