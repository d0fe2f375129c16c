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

Since the key ignores source lines, a program compiled from one trace serves traces built at
other lines; the messages it writes at run time name the lines of the first one.
`Trace.sources()` (a `SourceMap`) keeps where each node was made, and
`SourceMap.relocate(message, now)` rewrites those lines to the current trace's.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Callable, Hashable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from pyflame.core.target import Target
from pyflame.dialects.flame import FlameOp
from pyflame.lazy_tensor import Location, Tensor, format_location
from pyflame.sim.target import get_target

if TYPE_CHECKING:
    from xdsl.dialects.builtin import ModuleOp
    from xdsl.ir import Attribute


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
        values: list[np.ndarray | int] = [self.nodes[i]._data for i in self.args]  # type: ignore[misc]  # args are leaves, so _data is set
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

    def sources(self) -> SourceMap:
        """Where each node was made (the locations its module's ops carry)."""
        return SourceMap(tuple(t.location for t in self.nodes))


@dataclasses.dataclass(frozen=True)
class SourceMap:
    """The user's line of each node of a trace, by node index.

    A program compiled from trace A names A's lines in its messages (its ops carry them as
    locations, pyflame/sim/schedule.py `describe`: "pe.binary at demo.py:3"). A trace B with the
    same key has the same nodes in the same order, maybe made at other lines: a line L of A
    stands for the nodes A made at L, and in B for the lines B made those nodes at.

        A: x.py:3 add, x.py:3 mul     B: x.py:5 add, x.py:5 mul   -> x.py:3 reads x.py:5
        A: x.py:3 add, x.py:3 mul     B: x.py:5 add, x.py:6 mul   -> x.py:5 or x.py:6

    The second case is the one the lines of A cannot tell apart: every line B may mean is named.
    """

    locations: tuple[Location, ...]

    def relocate(self, text: str, now: SourceMap) -> str:
        """`text`, written by the program compiled from this map's trace, naming `now`'s lines
        (a trace with the same key) instead: each `file:line` of this trace that `now` made
        elsewhere is rewritten, in one pass (a line both traces use is not rewritten twice)."""
        if now.locations == self.locations:
            return text
        if len(now.locations) != len(self.locations):
            raise ValueError("relocate needs the source map of a trace with the same key")
        made_at: dict[Location, list[Location]] = {}
        for then, at in zip(self.locations, now.locations, strict=True):
            lines = made_at.setdefault(then, [])
            if at not in lines:
                lines.append(at)
        table = {
            format_location(then): " or ".join(format_location(at) for at in lines)
            for then, lines in made_at.items()
            if lines != [then]
        }
        if not table:
            return text
        # a whole `file:line`: not the end of a longer file name ("my_x.py:3" is not "x.py:3"),
        # nor the start of a longer line number ("x.py:31" is not "x.py:3")
        names = "|".join(re.escape(k) for k in sorted(table, key=len, reverse=True))
        pattern = re.compile(rf"(?<![^\s(])(?:{names})(?!\d)")
        return pattern.sub(lambda m: table[m.group(0)], text)


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
    """Walk the graph of `outputs`; see the module docstring for the order and the key.

    One pass: a post-order DFS from each output in turn, inputs left to right, no recursion;
    a node's key entry and edges are made when it is placed (its inputs are placed by then)."""
    target = target or get_target()
    nodes: list[Tensor] = []
    #: by id: the node's index once placed, -1 while its inputs are placed (one dict for both)
    index: dict[int, int] = {}
    args: list[int] = []
    seeds: list[int] = []
    entries: list[tuple[Any, ...]] = []
    all_edges: list[tuple[int, ...]] = []
    for out in outputs:
        if not isinstance(out, Tensor):
            raise TypeError(f"expected a pf.Tensor, got {type(out).__name__}")
        stack = [out]
        while stack:
            t = stack[-1]
            at = id(t)
            state = index.get(at)
            if state is not None and state >= 0:  # placed
                stack.pop()
                continue
            if t._data is not None:
                stack.pop()
                index[at] = i = len(nodes)
                nodes.append(t)
                args.append(i)
                all_edges.append(())
                entries.append(("arg", t.shape, t.dtype.name, t.layout))
                continue
            inputs = t.value_inputs() if t._reads else t.inputs
            if state is None:  # first met: push the inputs not placed yet
                index[at] = -1
                pushed = False
                for x in reversed(inputs):  # (placed left to right)
                    placed = index.get(id(x))
                    if placed is None or placed < 0:
                        stack.append(x)
                        pushed = True
                if pushed:
                    # back on top of the stack, its inputs are placed (a DAG: none leads to it)
                    continue
            stack.pop()
            index[at] = i = len(nodes)
            nodes.append(t)
            form = op_form(t.op)
            if form.random:
                seeds.append(i)
            attrs = t.attrs
            if not attrs:
                frozen: tuple[Any, ...] = ()
            elif len(attrs) == 1:
                ((k, v),) = attrs.items()
                frozen = () if k in form.operand_names else ((k, _freeze(v)),)
            else:
                items = [(k, _freeze(v)) for k, v in attrs.items() if k not in form.operand_names]
                items.sort()
                frozen = tuple(items)
            if len(inputs) == 1:  # (most nodes: no list to build)
                edges: tuple[int, ...] = (index[id(inputs[0])],)
            else:
                edges = tuple([index[id(x)] for x in inputs])
            all_edges.append(edges)
            entries.append((form.name, frozen, t.shape, t.dtype.name, t.layout, edges))
    out_idx = tuple(index[id(t)] for t in outputs)
    key = CacheKey((tuple(entries), out_idx, target))
    return Trace(nodes, all_edges, out_idx, args, seeds, target, key)


class CacheKey(tuple):
    """A trace's structural key: the tuple `(entries, outputs, target)`, equal to it and hashed
    as it is, but hashed once. Hashing the nested tuple of a training step's ~70 nodes takes
    ~7 us, and CPython does not keep a tuple's hash: the compile cache hashes the key at each
    lookup (pyflame/runtime.py `_lookup`)."""

    def __init__(self, parts: tuple[Any, ...]) -> None:
        self._hash = tuple.__hash__(self)

    def __hash__(self) -> int:
        return self._hash

    def __reduce__(self) -> tuple[Any, ...]:
        return (CacheKey, (tuple(self),))  # (hashed again: a str's hash differs per process)


def trace_module(outputs: Sequence[Tensor]) -> tuple[ModuleOp, Hashable, list[np.ndarray | int]]:
    """(flame module, structural cache key, runtime inputs in argument order)."""
    t = trace(outputs)
    return t.module(), t.key, t.inputs()


#: attr value types that stand for themselves in the key (exactly: not their subclasses)
_AS_IS = frozenset({int, bool, str, type(None)})


def _freeze(value: Any) -> Hashable:
    """A hashable, exact stand-in for an attr value (floats by bits, so NaN == NaN)."""
    cls = type(value)
    if cls in _AS_IS:
        return value  # (what the general case below makes of them, sooner)
    if cls is tuple:
        for v in value:  # (a loop, not all() of a generator: most attrs are these)
            if type(v) is not int:
                break
        else:
            return value  # a tuple of ints, as the general case below makes it
    if isinstance(value, float):
        return ("f", value.hex())
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    return value


# --------------------------------------------------------------------------- IR building


#: IR attribute of a Python attr value, by the attribute's base class in the op's IRDL definition
#: (None: the attribute is left out, e.g. a False flag or an absent optional integer)
Converter = Callable[[Any], "Attribute | None"]


def _converters() -> dict[type, Converter]:
    from xdsl.dialects.builtin import DenseArrayBase, FloatAttr, IntegerAttr, UnitAttr

    from pyflame.dialects.flame import dense_i64, flag, float64, int64

    return {
        FloatAttr: lambda v: None if v is None else float64(v),
        IntegerAttr: lambda v: None if v is None else int64(v),
        DenseArrayBase: lambda v: None if v is None else dense_i64(v),
        UnitAttr: flag,
    }


@dataclasses.dataclass(frozen=True)
class OpForm:
    """How a frontend node of one flame op class becomes IR, read off the op's IRDL definition."""

    #: Python attr name -> (converter, stored as a property rather than an attribute)
    attrs: dict[str, tuple[Converter, bool]]
    #: names of the op's operands; an attr of that name is a runtime input (a random op's seed)
    operand_names: frozenset[str]
    #: the op takes a `seed` operand: its `seed` attr becomes an i64 argument of @main
    random: bool
    #: the op's operands form one variadic group (flame.concat)
    variadic: bool
    #: operand count with every optional operand present (conv2d's bias), else None
    optional_count: int | None
    #: the op's name (`flame.add`), as the key holds it
    name: str = ""


@functools.cache
def op_form(cls: type[FlameOp]) -> OpForm:
    """`cls`'s `OpForm`: properties (and attributes) by their constraint's base class (FloatAttr
    -> f64, IntegerAttr -> i64, DenseArrayBase -> i64 array, UnitAttr -> a flag present when
    true); the `layout` attribute comes from `Tensor.layout`, not from the attrs."""
    from xdsl.irdl import BaseAttr, OptOperandDef, ParamAttrConstraint, VarOperandDef

    converters = _converters()
    definition = cls.get_irdl_definition()
    attrs: dict[str, tuple[Converter, bool]] = {}
    for table, is_prop in ((definition.attributes, False), (definition.properties, True)):
        for name, attr_def in table.items():
            constr = attr_def.constr
            base: type[Attribute] | None = None
            if isinstance(constr, BaseAttr):
                base = constr.attr
            elif isinstance(constr, ParamAttrConstraint):  # typed: FloatAttr[Float64Type], ...
                base = constr.base_attr
            if name == "layout" or base not in converters:
                continue
            attrs[name] = (converters[base], is_prop)
    operands = definition.operands
    names = frozenset(name for name, _ in operands)
    optional = any(isinstance(d, OptOperandDef) for _, d in operands)
    return OpForm(
        attrs=attrs,
        operand_names=names,
        random="seed" in names,
        variadic=len(operands) == 1 and isinstance(operands[0][1], VarOperandDef),
        optional_count=len(operands) if optional else None,
        name=cls.name,
    )


def _ir_attrs(t: Tensor, form: OpForm) -> tuple[dict[str, Attribute], dict[str, Attribute]]:
    """Python attrs -> the flame op's (attributes, properties), converted as `op_form` says."""
    attributes: dict[str, Attribute] = {}
    properties: dict[str, Attribute] = {}
    for name, value in t.attrs.items():
        if name in form.operand_names:
            continue
        if name not in form.attrs:
            raise NotImplementedError(f"no IR form for attr {name!r} of {t.op_name}")
        convert, is_prop = form.attrs[name]
        attr = convert(value)
        if attr is not None:
            (properties if is_prop else attributes)[name] = attr
    if t.layout is not None:
        properties["layout"] = t.layout.to_attr()
    return attributes, properties


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
        cls = t.op
        if cls is None:
            where = f"{t.location[0]}:{t.location[1]}"
            raise NotImplementedError(f"no flame op for the node made at {where}")
        form = op_form(cls)
        operands: list[Any] = [seed_arg[i]] if i in seed_arg else [values[k] for k in tr.edges[i]]
        if form.variadic:
            operands = [operands]
        if form.optional_count is not None:  # a missing optional operand (conv2d's bias): None
            operands += [None] * (form.optional_count - len(operands))
        attributes, properties = _ir_attrs(t, form)
        op = cls.build(
            operands=operands,
            result_types=[ttype(t)],
            attributes=attributes,
            properties=properties,
        )
        op.location = loc(t)
        block.add_op(op)
        values[i] = op.results[0]

    result_values = [values[i] for i in tr.outputs]
    ret = ReturnOp(*result_values)
    block.add_op(ret)

    arg_attrs = None
    if any(nodes[i].layout is not None for i in tr.args):
        dicts = [
            DictionaryAttr({"flame.layout": nodes[i].layout.to_attr()})  # type: ignore[union-attr]  # the `if` below skips None layouts
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
