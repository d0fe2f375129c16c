"""Fused elementwise expressions (pyflame/core/fused_expr.py) compiled, one kernel each.

A `pe.fused` step asks its `Runner` first. Once the step has run `HOT_RUNS` times on at least
`compiled.MIN_WORK` elements, or `HOT_SMALL_RUNS` times on fewer (a training loop's step, not
a test's few runs; `HOT_RUNS` too when the machine compiled its kernel before), the runner writes
the expression as a numba function of its own (`source`: three loops, over the tile elements,
the PE rows and the PE columns, the steps as scalar expressions in the innermost loop, which
LLVM vectorizes over the contiguous PE columns of lane-major SRAM), compiles it through the
kernel cache (pyflame/sim/compiled/kernel_cache.py: once per machine) and runs it from then on.

Every step computes as `fused_expr.evaluate` does, on float32 values with the same rounding:
add, sub, mul, div (IEEE), compares, selects, relu, maximum and minimum (exact); a value of type
i1 is 0 or 1, as numpy's bools convert. Expressions with anything else (exp and the other
functions numpy computes with its own SIMD code, half floats, a broadcast of a computed value
across elements), tiles not held as contiguous planes, and inputs that overlap the result are
left to numpy. The NaN an operation gives when both operands are NaN may have another sign or
payload (LLVM may swap a commutative operation's operands): the compiled tier's one difference.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from pyflame.core.fused_expr import Const, Input, Ref, Shape, Step, format_steps
from pyflame.sim import compiled

#: runs of a step before its expression is compiled (the compile, ~0.5 s the first time on a
#: machine, is paid by loops only)
HOT_RUNS = 3

#: runs of a step on fewer than `compiled.MIN_WORK` elements before it is compiled: numpy's
#: per-call costs are all such a step costs (the MLP's SGD update of a 10x256 weight, 256
#: elements a PE row: ~30 us, compiled ~5), worth a compile in a long loop only
HOT_SMALL_RUNS = 50

#: a broadcast input's planes are copied to be contiguous up to this many elements (a row or a
#: column shared by every PE row or column); a larger input must be contiguous planes already
COPIED_ELEMENTS = 4096

_BINARY = {"add": "+", "sub": "-", "mul": "*", "div": "/"}
_COMPARE = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}


#: (expression, error) of every generated kernel numba refused to compile (a bug of `source`:
#: the step runs numpy's path instead, the same numbers)
REFUSED: list[tuple[str, str]] = []


class Unsupported(Exception):
    """The expression has a step the kernels do not compute as numpy does."""


def source(
    steps: Sequence[Step],
    sizes: Sequence[int],
    n: int,
    shared: Sequence[tuple[bool, bool]],
    bool_out: bool,
    bools: Sequence[bool] = (),
) -> str:
    """The numba module of one expression over inputs of `sizes` elements per tile, results of
    `n`, input k shared by every PE row (`shared[k][0]`) or column (`shared[k][1]`), a bool
    or float32 result, input k bool (`bools[k]`, held as uint8) or float32:
    `kernel(i0, i1, ..., tables, consts, out)` with inputs as C-contiguous (elements, rows | 1,
    cols | 1) planes and out as (n, rows, cols) planes. Raises `Unsupported`."""
    return _Writer(list(sizes), n, list(shared), list(bools)).write(steps, bool_out)


class _Writer:
    def __init__(
        self, sizes: list[int], n: int, shared: list[tuple[bool, bool]], bools: list[bool]
    ):
        self.sizes, self.n, self.shared = sizes, n, shared
        self.bools = bools or [False] * len(sizes)
        self.consts: list[float] = []  # the f32 constants, passed as an array (exact bits)
        self.rows: dict[str, str] = {}  # row views, name -> expression (per PE row)
        self.tables: list[list[int]] = []
        self.body: list[str] = []  # the innermost loop's lines
        self.values: list[tuple[str, bool]] = []  # per step: its name, whether uniform
        self.reads: list[set[str]] = [set() for _ in sizes]  # per input: the elements read

    def write(self, steps: Sequence[Step], bool_out: bool) -> str:
        for at, s in enumerate(steps):
            expr, uniform = self._step(s)
            self.body.append(f"s{at} = {expr}")
            self.values.append((f"s{at}", uniform))
        last = self.values[-1][0]
        store = (
            f"o[c] = np.uint8(1) if {last} != zero else np.uint8(0)"
            if bool_out
            else f"o[c] = {last}"
        )
        inputs = ", ".join(f"i{k}" for k in range(len(self.sizes)))
        lines = [
            "import numba",
            "import numpy as np",
            "",
            "",
            '@numba.njit(cache=True, nogil=True, error_model="numpy", boundscheck=False)',
            f"def kernel({inputs}, tables, consts, out):",
            "    n, rows, cols = out.shape",
            "    zero, one = np.float32(0.0), np.float32(1.0)",
            *(f"    k{j} = consts[{j}]" for j in range(len(self.consts))),
            "    for e in range(n):",
            *(f"        t{j} = tables[{j}, e]" for j in range(len(self.tables))),
            "        for r in range(rows):",
            "            o = out[e, r]",
            *(f"            {name} = {expr}" for name, expr in self.rows.items()),
            "            for c in range(cols):",
            *(f"                {line}" for line in self.body),
            f"                {store}",
            "",
        ]
        return "\n".join(lines)

    def const_array(self) -> np.ndarray:
        """The f32 constants as `fused_expr.prepare` makes them (inf and NaN included)."""
        return np.array([np.array(v).astype(np.float32) for v in self.consts or [0.0]], np.float32)

    def table_array(self) -> np.ndarray:
        return np.array(self.tables or [[0]], dtype=np.int64)

    def _row(self, k: int, element: str) -> str:
        """The element of input k this row reads (a row view of its planes, named once)."""
        rows_shared, cols_shared = self.shared[k]
        self.reads[k].add(element)
        name = f"a{k}_{element}"
        self.rows[name] = f"i{k}[{element}, {'0' if rows_shared else 'r'}]"
        item = f"{name}[{'0' if cols_shared else 'c'}]"
        return f"np.float32({item})" if self.bools[k] else item  # (a bool: 0 or 1)

    def _arg(self, a: Any) -> tuple[str, bool]:
        if isinstance(a, Input):
            size = self.sizes[a.index]
            if size == 1:
                return self._row(a.index, "0"), True
            if size != self.n:
                raise Unsupported
            return self._row(a.index, "e"), False
        if isinstance(a, Ref):
            return self.values[a.index]
        if isinstance(a, Const):
            if a.type == "f32":
                name = f"k{len(self.consts)}"
                self.consts.append(a.value)
                return name, True
            if a.type == "i1":
                return ("one" if a.value else "zero"), True
        raise Unsupported

    def _step(self, s: Step) -> tuple[str, bool]:
        if s.type not in ("f32", "i1"):
            raise Unsupported
        if s.fn == "broadcast":
            return self._broadcast(s)
        args = [self._arg(a) for a in s.args if not isinstance(a, Shape)]
        uniform = all(u for _, u in args)
        x = [e for e, _ in args]
        if s.fn == "convert":
            return (f"(one if {x[0]} != zero else zero)" if s.type == "i1" else x[0]), uniform
        if s.fn == "select":
            return f"({x[1]} if {x[0]} != zero else {x[2]})", uniform
        if s.fn == "scale":
            if s.type != "f32":
                raise Unsupported
            return f"({x[0]} * {x[1]})", uniform
        if s.fn in _BINARY and (s.type == "f32" or s.fn in ("add", "mul")):
            expr = f"({x[0]} {_BINARY[s.fn]} {x[1]})"
            if s.type == "i1":  # (numpy's add and mul of bools: or, and)
                expr = f"(one if {expr} != zero else zero)"
            return expr, uniform
        if s.fn in _COMPARE and s.type == "i1":
            return f"(one if {x[0]} {_COMPARE[s.fn]} {x[1]} else zero)", uniform
        if s.type == "f32" and s.fn in ("neg", "abs", "relu", "maximum", "minimum"):
            return {
                "neg": lambda: f"(-{x[0]})",
                "abs": lambda: f"abs({x[0]})",
                "relu": lambda: f"(zero if {x[0]} < zero else {x[0]})",
                # (b where a < b or b is NaN, else a: elementwise._maximum)
                "maximum": lambda: f"({x[1]} if ({x[0]} < {x[1]} or {x[1]} != {x[1]}) else {x[0]})",
                "minimum": lambda: f"({x[1]} if ({x[0]} > {x[1]} or {x[1]} != {x[1]}) else {x[0]})",
            }[s.fn](), uniform
        if s.type == "i1" and s.fn in ("logical_and", "logical_or", "logical_not"):
            return {
                "logical_and": lambda: f"(one if ({x[0]} != zero and {x[1]} != zero) else zero)",
                "logical_or": lambda: f"(one if ({x[0]} != zero or {x[1]} != zero) else zero)",
                "logical_not": lambda: f"(one if {x[0]} == zero else zero)",
            }[s.fn](), uniform
        raise Unsupported

    def _broadcast(self, s: Step) -> tuple[str, bool]:
        """`fused_expr.evaluate`'s broadcast: an input's elements through an index table; a
        value that is one per tile (constants, one-element inputs) as it is."""
        source_arg, src, dst = s.args
        assert isinstance(src, Shape) and isinstance(dst, Shape)
        if isinstance(source_arg, Ref):
            name, uniform = self.values[source_arg.index]
            if not uniform:  # (element 0 of a computed value: not this element's)
                raise Unsupported
            return name, True
        if not isinstance(source_arg, Input):
            raise Unsupported
        size, count = self.sizes[source_arg.index], math.prod(src.dims)
        if size == 1 or count == 1:
            return self._row(source_arg.index, "0"), True
        if count > size or math.prod(dst.dims) != self.n:
            raise Unsupported
        index = np.arange(count).reshape(src.dims)
        self.tables.append(np.broadcast_to(index, dst.dims).reshape(-1).tolist())
        return self._row(source_arg.index, f"t{len(self.tables) - 1}"), False


def _planes(t: np.ndarray, small: bool) -> np.ndarray | None:
    """(rows | 1, cols | 1, elements) tiles as float32 or uint8 (a bool's) (elements, rows | 1,
    cols | 1) planes (a PE axis broadcast by a zero stride cut to one element): C-contiguous
    (copied when they fit `COPIED_ELEMENTS`), or for a `small` step however they are held (the
    kernel's loops then run strided: at a few hundred elements the call is the cost); None (a
    large input not held so, another type)."""
    t = compiled.shared_pe_axes(t)
    if t.dtype == np.bool_:
        t = t.view(np.uint8)  # (read as 0 or 1)
    elif t.dtype != np.float32:
        return None
    planes = t.transpose(2, 0, 1)
    if small or planes.flags.c_contiguous:
        return planes
    return np.ascontiguousarray(planes) if planes.size <= COPIED_ELEMENTS else None


def op_runner(fn: str, typ: str, sizes: Sequence[int], n: int) -> Runner:
    """The runner of one elementwise op (pe.unary, pe.binary, pe.select: `fn` over inputs of
    `sizes` elements per tile, a result of type `typ` and `n` elements) as a one-step
    expression."""
    return Runner([Step(fn, typ, tuple(Input(k) for k in range(len(sizes))))], sizes, n)


@dataclass(frozen=True)
class _Kept:
    """A call `Runner.run` made on an SRAM's views, kept to make again (`run_bound`): the
    kernel, the input planes (None where an input is in flight: `holes`, each (position,
    its plane's shape, strides and dtype)), and the tables, constants and result after them."""

    kernel: Any
    planes: list[np.ndarray | None]
    holes: tuple[tuple[int, tuple[int, ...], tuple[int, ...], np.dtype], ...]
    small: bool
    result: np.ndarray
    tail: tuple[np.ndarray, np.ndarray, np.ndarray]


class Runner:
    """What a `pe.fused` step asks first: `run(inputs, out)` evaluates the expression with its
    compiled kernel and says True, or says False (nothing written) and the step evaluates it
    with numpy (module docstring)."""

    def __init__(self, steps: Sequence[Step], sizes: Sequence[int], n: int):
        self.steps, self.sizes, self.n = list(steps), list(sizes), n
        self.runs = 0
        #: (inputs' sharing, bool result, bool inputs) -> (kernel, tables, constants, inputs
        #: read only at the element written), or None: not compiled
        self._kernels: dict[tuple, tuple[Any, np.ndarray, np.ndarray, tuple[bool, ...]] | None] = {}
        self._lock = threading.Lock()
        #: (shape, strides, dtype) of results it does not write (PE-major, another type)
        self._refused: set[tuple] = set()
        #: key -> whether its kernel is in the kernel cache, compiled (`_on_disk`)
        self._disk: dict[tuple, bool] = {}
        #: whether the kernels can compute the expression at all (None: not asked yet)
        self._compilable: bool | None = None

    def run(
        self,
        inputs: Sequence[np.ndarray],
        out: np.ndarray,
        bound: dict[Hashable, object] | None = None,
        holes: tuple[int, ...] = (),
    ) -> bool:
        """Evaluate into `out` with the compiled kernel (True), or do nothing (False). `bound`:
        the SRAM's `derived` dict (pyflame/sim/sram.py), when `out` and the inputs are views of
        that SRAM's buffers, the same views at every run, but the inputs at positions `holes`
        (in flight: received or host data, new arrays at every run). The call made is kept
        there under this runner, without the planes of `holes`, so that the step's later
        runs on that SRAM make it again with `run_bound`, without the checks, which cost
        several times a small kernel's ~2 us."""
        if out.ndim != 3 or len(inputs) != len(self.sizes):
            return False
        self.runs += 1
        if self.runs < HOT_RUNS or not compiled.enabled():
            return False
        if self._compilable is None:
            self._compilable = self._can_compile()
        if not self._compilable:
            return False  # (exp, log, ...: numpy's at every run, without the checks)
        # (a small step waits for HOT_SMALL_RUNS runs, unless its kernel is on disk: below)
        early = self.runs < HOT_SMALL_RUNS and out.size < compiled.MIN_WORK
        layout = (out.shape, out.strides, out.dtype)
        if layout in self._refused:  # (a result the kernels do not write: one look)
            return False
        if out.dtype == np.bool_:
            result = out.view(np.uint8).transpose(2, 0, 1)
        elif out.dtype == np.float32:
            result = out.transpose(2, 0, 1)
        else:
            result = None
        small = out.size < compiled.MIN_WORK
        if result is None or not (small or result.flags.c_contiguous):
            self._refused.add(layout)
            return False
        rows, cols = out.shape[:2]
        planes = []
        copied = False  # (an SRAM plane copied: a call kept would read the copy's stale values)
        for k, t in enumerate(inputs):
            if t.ndim != 3 or t.shape[0] not in (1, rows) or t.shape[1] not in (1, cols):
                return False
            p = _planes(t, small)
            if p is None:
                return False
            copied = copied or (k not in holes and not np.may_share_memory(p, t))
            planes.append(p)
        key = (
            tuple((p.shape[1] == 1, p.shape[2] == 1) for p in planes),
            out.dtype == np.bool_,
            tuple(p.dtype == np.uint8 for p in planes),
        )
        if key not in self._kernels:
            if early and not self._on_disk(key):
                return False
            with self._lock:
                if key not in self._kernels:
                    self._kernels[key] = self._compile(*key)
        entry = self._kernels[key]
        if entry is None:
            return False
        kernel, tables, consts, in_place = entry
        for k, t in enumerate(inputs):
            # (an input that is the result's own memory is safe read element by element, each
            # element before it is written; any other overlap could read what was written)
            if np.may_share_memory(t, out) and not (
                in_place[k]
                and t.shape == out.shape
                and t.strides == out.strides
                and t.dtype == out.dtype
                and t.ctypes.data == out.ctypes.data
            ):
                return False
        try:
            kernel(*planes, tables, consts, result)
        except Exception as err:  # (numba compiles at the first call: a kernel it refuses)
            # is numpy's from now on, and recorded: tests/unit/sim/test_compiled_fused.py
            # asserts that none was; the result is untouched (nothing ran)
            self._kernels[key] = None
            REFUSED.append((format_steps(self.steps), f"{type(err).__name__}: {err}"))
            return False
        if bound is not None and not copied:
            layouts = tuple((k, planes[k].shape, planes[k].strides, planes[k].dtype) for k in holes)
            kept = [None if k in holes else p for k, p in enumerate(planes)]
            # (keyed by the positions in flight too: a step read otherwise is another call)
            bound[self, holes] = _Kept(
                kernel, kept, layouts, small, result, (tables, consts, result)
            )
        return True

    def run_bound(
        self,
        bound: dict[Hashable, object] | None,
        flights: Sequence[np.ndarray] = (),
        holes: tuple[int, ...] = (),
    ) -> bool:
        """Make again the call `run` kept in `bound` (an SRAM's `derived`: its views never
        move) for inputs in flight at positions `holes`, with `flights` (this run's arrays of
        those inputs, in order) filled in: True; False (nothing done) when none is kept, the
        tier is off, or an in-flight input is not laid out as when the call was kept or
        overlaps the result."""
        if bound is None or not compiled.enabled():
            return False
        kept = bound.get((self, holes))
        if not isinstance(kept, _Kept):
            return False
        planes = kept.planes
        if kept.holes:
            planes = list(planes)
            for (k, shape, strides, dtype), t in zip(kept.holes, flights, strict=True):
                p = _planes(t, kept.small)
                if (
                    p is None
                    or p.shape != shape
                    or p.strides != strides
                    or p.dtype != dtype
                    or np.may_share_memory(p, kept.result)
                ):
                    return False
                planes[k] = p
        kept.kernel(*planes, *kept.tail)
        return True

    def _can_compile(self) -> bool:
        """Whether `source` writes the expression (the kernels compute every step of it as
        numpy does): decided by its steps, sizes and constants alone, never by the inputs'
        layouts or types, so asked once."""
        sizes = self.sizes
        try:
            _Writer(sizes, self.n, [(False, False)] * len(sizes), []).write(self.steps, False)
        except Unsupported:
            return False
        return True

    def _on_disk(self, key: tuple) -> bool:
        """Whether the kernel of `key` was compiled on this machine before (kernel_cache): then
        a small step takes it from its `HOT_RUNS`-th run (loading costs ~1 ms, not a compile's
        ~0.5 s). Asked once per key."""
        known = self._disk.get(key)
        if known is None:
            try:
                text = _Writer(self.sizes, self.n, list(key[0]), list(key[2])).write(
                    self.steps, key[1]
                )
                from pyflame.sim.compiled import kernel_cache

                known = kernel_cache.compiled_before(text)
            except Exception:  # (Unsupported, or a cache it cannot read: not early)
                known = False
            self._disk[key] = known
        return known

    def _compile(
        self, shared: tuple[tuple[bool, bool], ...], bool_out: bool, bools: tuple[bool, ...]
    ) -> tuple[Any, np.ndarray, np.ndarray, tuple[bool, ...]] | None:
        writer = _Writer(self.sizes, self.n, list(shared), list(bools))
        try:
            text = writer.write(self.steps, bool_out)
        except Unsupported:
            return None
        try:
            from pyflame.sim.compiled import kernel_cache

            module = kernel_cache.load(text)
        except Exception:  # (no numba here, or no cache it can write: numpy's path)
            return None
        in_place = tuple(
            reads <= {"e"} and not any(shared[k]) for k, reads in enumerate(writer.reads)
        )
        return module.kernel, writer.table_array(), writer.const_array(), in_place
