"""The expression of a fused elementwise op (`pe.fused`, made by the fuse-elementwise pass): a
short SSA program over the op's input tiles, its text, its meaning in numpy, and its cost.

One step per line of the program, separated by `; `, each `fn.type(args)`: `fn` is an
elementwise function of pyflame/core/elementwise.py (`add`, `exp`, `lt`, ...), or `scale`
(x times a constant), `select` (cond, a, b), `convert` (to the step's type) or `broadcast`
(input `$k`, or a step `%k`, viewed as shape S, expanded to shape D, as pe.broadcast does:
`broadcast.f32($1, 1x64, 64x64)`); `type` is the element type of the step's result (`f32`, `f16`, `bf16`, `i1`).
An argument is `$k` (input k of the op), `%k` (step k's value) or a constant `1.5:f32`. The
last step is the op's result:

    mul.f32($0, 1.5:f32); add.f32(%0, 0.25:f32); relu.f32(%1)      # relu(x * 1.5 + 0.25)
    broadcast.f32($1, 1x64, 64x64); sub.f32($0, %0); mul.f32(%1, %1)  # (x - row)^2

Values: each step computes as the op it replaced did, half floats in float32 rounded once per
step (elementwise.apply), so a fused chain gives the bits of the unfused ops.

Cost (`fused_cycles`, the simulator's and the cost model's): a PE runs the chain as one vector
(DSD) instruction per pass of each step over the whole tile, the instructions chained through
FIFOs so that intermediate values never go to SRAM (the SDK's FIFO DSDs between asynchronous
DSD operations on microthreads; an assumption of this model, see docs/simulator.md):

    cycles = max(sum over steps of passes * ceil(n / lanes),     # the one FMAC/ALU datapath
                 ceil(bytes read / mem_read_bytes_per_cycle),    # each input tile read once
                 ceil(n * out bytes / mem_write_bytes_per_cycle))# the result written once
             + passes * vector_issue_cycles

A one-element input and a constant are held in a register (no SRAM reads); a broadcast input is
read once per element of the tile (a stride-0 DSD), but never written as a tile.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass
from typing import Any

from pyflame.core import elementwise

#: step functions that are not rows of the elementwise table
SPECIAL = {"scale": 2, "select": 3, "convert": 1, "broadcast": 3}

_STEP = re.compile(r"^([a-z_0-9]+)\.([a-z0-9]+)\((.*)\)$")
_SHAPE = re.compile(r"^\d+(x\d+)*$")


@dataclass(frozen=True)
class Input:
    """`$k`: input k of the op."""

    index: int

    def __str__(self) -> str:
        return f"${self.index}"


@dataclass(frozen=True)
class Ref:
    """`%k`: the value of step k."""

    index: int

    def __str__(self) -> str:
        return f"%{self.index}"


@dataclass(frozen=True)
class Const:
    """A constant of an element type (held in a register)."""

    value: float
    type: str

    def __str__(self) -> str:
        return f"{self.value!r}:{self.type}"


@dataclass(frozen=True)
class Shape:
    """A broadcast's shape argument, `1x64`."""

    dims: tuple[int, ...]

    def __str__(self) -> str:
        return "x".join(str(d) for d in self.dims) or "()"  # () : a rank-0 tile


Arg = Input | Ref | Const | Shape


@dataclass(frozen=True)
class Step:
    fn: str
    type: str
    args: tuple[Arg, ...]

    def __str__(self) -> str:
        return f"{self.fn}.{self.type}({', '.join(str(a) for a in self.args)})"

    @property
    def passes(self) -> int:
        """Vector passes over the tile (the unfused op's instruction count)."""
        if self.fn == "broadcast":
            return 0
        if self.fn in SPECIAL:
            return 1
        return elementwise.ALL[self.fn].flops


class ExprError(ValueError):
    """A fused expression that does not parse or does not fit its op."""


def format_steps(steps: list[Step]) -> str:
    return "; ".join(str(s) for s in steps)


def _arg(text: str) -> Arg:
    t = text.strip()
    if t.startswith("$") and t[1:].isdigit():
        return Input(int(t[1:]))
    if t.startswith("%") and t[1:].isdigit():
        return Ref(int(t[1:]))
    if t == "()":
        return Shape(())
    if _SHAPE.match(t):
        return Shape(tuple(int(d) for d in t.split("x")))
    value, sep, typ = t.rpartition(":")
    if sep and typ in elementwise.ELEMENT_TYPES:
        try:
            return Const(float(value), typ)
        except ValueError:
            pass
    raise ExprError(f"bad argument '{t}' (expected $k, %k, a constant like 1.5:f32 or a shape)")


def parse(text: str) -> list[Step]:
    """The steps of an expression's text (ExprError when it is malformed)."""
    steps = []
    for i, part in enumerate(p.strip() for p in text.split(";")):
        m = _STEP.match(part)
        if m is None:
            raise ExprError(f"step {i}: '{part}' is not fn.type(args)")
        fn, typ, body = m.groups()
        args = tuple(_arg(a) for a in body.split(",")) if body.strip() else ()
        arity = SPECIAL.get(fn) or (elementwise.ALL[fn].arity if fn in elementwise.ALL else None)
        if arity is None:
            raise ExprError(f"step {i}: unknown function '{fn}'")
        if len(args) != arity:
            raise ExprError(f"step {i}: '{fn}' takes {arity} arguments, got {len(args)}")
        if typ not in elementwise.ELEMENT_TYPES:
            raise ExprError(f"step {i}: unknown element type '{typ}'")
        for a in args:
            if isinstance(a, Ref) and a.index >= i:
                raise ExprError(f"step {i}: %{a.index} is not an earlier step")
        shapes = [a for a in args if isinstance(a, Shape)]
        if (fn == "broadcast") != bool(shapes) or (
            fn == "broadcast" and (isinstance(args[0], Const | Shape) or len(shapes) != 2)
        ):
            raise ExprError(f"step {i}: only broadcast($k or %k, S, D) takes shapes")
        steps.append(Step(fn, typ, args))
    if not steps:
        raise ExprError("an empty expression")
    return steps


def inputs_used(steps: list[Step]) -> set[int]:
    return {a.index for s in steps for a in s.args if isinstance(a, Input)}


def check(steps: list[Step], input_sizes: list[int], out_size: int) -> None:
    """The steps fit an op with inputs of these sizes writing `out_size` elements: every input
    is used, a tile input holds out_size elements (or 1, a register), a broadcast's shapes fit."""
    used = inputs_used(steps)
    for k in used:
        if k >= len(input_sizes):
            raise ExprError(f"${k} but the op has {len(input_sizes)} inputs")
    if used != set(range(len(input_sizes))):
        raise ExprError(f"inputs {sorted(set(range(len(input_sizes))) - used)} are not used")
    broadcast = {
        s.args[0].index for s in steps if s.fn == "broadcast" and isinstance(s.args[0], Input)
    }
    for s in steps:
        if s.fn == "broadcast":
            src, dst = s.args[1].dims, s.args[2].dims  # type: ignore[union-attr]  # Shapes
            if len(src) != len(dst) or any(a not in (1, b) for a, b in zip(src, dst, strict=True)):
                raise ExprError(f"cannot broadcast {list(src)} to {list(dst)}")
            source = s.args[0]
            have = input_sizes[source.index] if isinstance(source, Input) else out_size
            if math.prod(src) > have or math.prod(dst) != out_size:
                raise ExprError(f"broadcast of {source} does not fit its source or the result")
        for a in s.args:
            if isinstance(a, Input) and s.fn != "broadcast" and a.index not in broadcast:
                if input_sizes[a.index] not in (1, out_size):
                    raise ExprError(
                        f"${a.index} holds {input_sizes[a.index]} elements, not {out_size} or 1"
                    )


@dataclass(frozen=True)
class Prepared:
    """What `evaluate` works out from the steps alone, once per op instead of at every run:
    each step's numpy dtype and exactly rounded ufunc (or None), its constants as arrays,
    and whether the step before the last feeds only the last (`_feeds_last_only`)."""

    dtypes: tuple[Any, ...]
    ufuncs: tuple[Any, ...]
    consts: dict[tuple[int, int], Any]
    feeds_last: bool


def prepare(steps: list[Step]) -> Prepared:
    """The steps' `Prepared` form (pass it to every `evaluate` of them)."""
    import numpy as np

    consts = {}
    for at, s in enumerate(steps):
        for k, a in enumerate(s.args):
            if isinstance(a, Const):
                value = np.array(a.value).astype(elementwise.numpy_dtype(a.type))
                value.setflags(write=False)  # (shared by every run)
                consts[at, k] = value
    return Prepared(
        tuple(elementwise.numpy_dtype(s.type) for s in steps),
        tuple(_ufunc_of(s.fn) for s in steps),
        consts,
        _feeds_last_only(steps),
    )


def evaluate(
    steps: list[Step],
    inputs: list[Any],
    lead: tuple[int, ...],
    n: int,
    out: Any = None,
    prepared: Prepared | None = None,
) -> Any:
    """The result over PE rectangles: `inputs` are (rows, cols, size) arrays, `lead` = (rows,
    cols); each step's value is cast to its type, as the unfused op's buffer would hold it.
    With `out` (the destination's view), the result is written there (and returned): a last
    step that is a numpy ufunc on float32 arrays only writes it directly (the same numbers,
    without a temporary and its copy). `prepared`: `prepare(steps)`, made once by the caller
    that evaluates the same steps at every run."""
    import numpy as np

    if prepared is None:
        prepared = prepare(steps)
    values: list[Any] = []
    consts = prepared.consts

    def get(at: int, k: int, a: Arg) -> Any:
        if isinstance(a, Input):
            return inputs[a.index]
        if isinstance(a, Ref):
            return values[a.index]
        return consts[at, k]

    # the step before the last may write its value into `out` when only the last step reads
    # it and no input shares out's memory (the SGD update `mul($0, $1); add($2, %0)`: no
    # temporary as large as the weights)
    feeder = len(steps) - 2 if out is not None and prepared.feeds_last else -1
    last = len(steps) - 1
    for at, s in enumerate(steps):
        dtype = prepared.dtypes[at]
        if out is not None and at >= feeder >= 0 and dtype == np.float32 == out.dtype:
            ufunc = prepared.ufuncs[at]
            args = [get(at, k, a) for k, a in enumerate(s.args)] if ufunc is not None else []
            if ufunc is not None and all(
                isinstance(x, np.ndarray) and x.dtype == np.float32 for x in args
            ):
                if at == last:
                    elementwise.ufunc_into(ufunc, out, *args)  # (in out's memory order)
                    return out
                if _broadcasts_to([x.shape for x in args], out.shape) and not any(
                    np.may_share_memory(x, out) for x in inputs if isinstance(x, np.ndarray)
                ):
                    values.append(elementwise.ufunc_into(ufunc, out, *args))
                    continue
        if s.fn == "broadcast":
            src, dst = s.args[1].dims, s.args[2].dims  # type: ignore[union-attr]  # Shapes
            x = np.asarray(get(at, 0, s.args[0]))
            if x.ndim == 0:  # made from constants only (a fill's value): one value everywhere
                value = np.broadcast_to(x, (*lead, n))
            elif math.prod(src) == 1:
                # one value per PE (a row's max, a scale): the next ops broadcast its
                # (rows, cols, 1) themselves, without a copy of it n times
                value = x[..., :1]
            else:
                if x.shape[-1] == 1 < math.prod(src):  # kept narrow above: lanes alike
                    x = np.broadcast_to(x, (*lead, n))
                x = x[..., : math.prod(src)].reshape(*lead, *src)
                value = np.broadcast_to(x, (*lead, *dst)).reshape(*lead, n)
        elif s.fn == "select":
            # a condition computed here (a comparison) is as random as the data: the bit
            # select; one read from a bool buffer is a mask (one-hot labels, causal,
            # padding), on which np.where's branches predict well and it is faster
            where = np.where if isinstance(s.args[0], Input) else elementwise.where
            value = where(*(get(at, k, a) for k, a in enumerate(s.args)))
        elif s.fn == "convert":
            value = get(at, 0, s.args[0])
        elif s.fn == "scale":
            x, k = get(at, 0, s.args[0]), get(at, 1, s.args[1])
            value = elementwise.apply(elementwise.Elementwise("scale", 1, lambda v, k=k: v * k), x)
        else:
            value = elementwise.apply(
                elementwise.ALL[s.fn], *(get(at, k, a) for k, a in enumerate(s.args))
            )
        values.append(np.asarray(value).astype(dtype, copy=False))
    if out is None:
        result = values[-1]
        return result if result.shape[-1:] == (n,) else np.broadcast_to(result, (*lead, n)).copy()
    out[...] = values[-1]
    return out


def _broadcasts_to(shapes: list[tuple[int, ...]], target: tuple[int, ...]) -> bool:
    """Whether the shapes broadcast to exactly `target` (np.broadcast_shapes(*shapes) ==
    target, without its ~2 us when one of them is `target`: every fused step's case)."""
    if target not in shapes:
        import numpy as np

        return np.broadcast_shapes(*shapes) == target
    for shape in shapes:
        if len(shape) > len(target):
            return False
        for a, b in zip(reversed(shape), reversed(target), strict=False):
            if a != b and a != 1:
                return False
    return True


def _feeds_last_only(steps: list[Step]) -> bool:
    """Whether the step before the last is read by the last step only (once or more), an
    exactly rounded function (which `evaluate` writes into `out` elementwise)."""
    if len(steps) < 2 or _ufunc_of(steps[-1].fn) is None:
        return False
    k = len(steps) - 2
    return any(isinstance(a, Ref) and a.index == k for a in steps[-1].args)


#: functions whose result is exactly rounded (IEEE), so any of numpy's inner loops (SIMD or
#: not, whatever the output's strides) gives the same bits: `evaluate` may write them in place
EXACT_FUNCTIONS = frozenset({"add", "sub", "mul", "div", "abs"})
# (not neg: numpy's `negative` is wrong on strided operands, elementwise.on_contiguous)


@functools.cache  # (asked at every step of every fused op's run)
def _ufunc_of(fn: str) -> Any:
    """The numpy ufunc of an exactly rounded elementwise function (`add`: np.add), or None
    (transcendentals may take another inner loop for a strided output; max and min may pick
    another zero)."""
    import numpy as np

    if fn not in EXACT_FUNCTIONS:
        return None
    name = elementwise.ALL[fn].fn.__name__.removeprefix("numpy.")
    ufunc = getattr(np, name, None)
    return ufunc if isinstance(ufunc, np.ufunc) else None


def _is_half(t: str) -> bool:
    return t in ("f16", "bf16")


def step_operand_types(steps: list[Step], input_types: list[str]) -> list[str]:
    """The element type each step computes in (its first value operand's, else its own)."""
    out = []
    for s in steps:
        typ = s.type
        for a in s.args:
            if isinstance(a, Input):
                typ = input_types[a.index]
                break
            if isinstance(a, Ref):
                typ = steps[a.index].type
                break
        out.append(typ)
    return out


def fused_cycles(
    target: Any,
    steps: list[Step],
    n: int,
    input_sizes: list[int],
    input_types: list[str],
) -> tuple[int, int]:
    """(cycles, flops) of one PE running the expression over an n-element tile (the model in
    the module docstring)."""
    from pyflame.core.vector_costs import lanes  # numpy: not when the dialects load

    operand = step_operand_types(steps, input_types)
    alu = sum(
        s.passes * -(-n // lanes(target, _is_half(t))) for s, t in zip(steps, operand, strict=True)
    )
    read = 0
    for k, size in enumerate(input_sizes):
        if size > 1:  # a tile read once per element (a broadcast one with a stride-0 DSD)
            read += n * elementwise.ELEMENT_TYPES[input_types[k]][1]
    write = n * elementwise.ELEMENT_TYPES[steps[-1].type][1]
    passes = sum(s.passes for s in steps)
    cycles = max(
        alu,
        -(-read // target.mem_read_bytes_per_cycle),
        -(-write // target.mem_write_bytes_per_cycle),
    )
    return int(cycles + passes * target.vector_issue_cycles), int(passes * n)
