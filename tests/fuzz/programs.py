"""Random PyFlame programs and their float64 numpy reference.

A program is a random DAG of ops from the registry `OPS` over random input tensors (random
shapes, with sizes such as 1, 3, 7, 13 that do not divide the grid; random dtypes; random
layouts), evaluated with `pf.eval` in one or several steps on `pf.sim.SMALL`, and compared with
numpy:

    program = random_program(np.random.default_rng([0, 17]))
    outcome = program.run()          # build, evaluate, compare; then run it again
    outcome.outputs, outcome.references   # the evaluated pf tensors and numpy values, by name
    assert outcome.ok, outcome.report()
    print(program.describe())        # a pytest function reproducing the program
    print(minimize(program).describe())   # a smaller program failing the same way

Adding an op is ONE entry in `OPS` (below): its name, arity, the PyFlame spellings (templates
whose `{0}`, `{1}` are the operands and `{name}` the attributes), the numpy expression of the
float64 reference, and options (`OpSpec` documents them): operand dtypes and the result dtype
rule (PyTorch's promotion by default), a constraint on operand 0's shape, the shape of the other
operands, an attribute generator, operands that must be positive / bounded away from zero /
exactly known, and a weight. For example

    op("exp", 1, ("pf.exp({0})", "{0}.exp()"), "np.exp({0})"),

An entry whose templates name a function or method PyFlame does not have yet is skipped
(`disabled_ops()` lists them), so entries for ops being written can be added early. A reference
numpy has no one-liner for is a function of tests/fuzz/refs.py, written `fz.name(...)`; index
arguments are host data (`IDX`: a `Data` attribute, sometimes in a layout or computed on the
device). tests/unit/test_fuzz.py checks every entry's reference and result dtype against torch
(`modes.check_entry_against_torch`), so a new entry's mistakes show before any PyFlame run.

Semantics are PyTorch's (with int64 read as int32): result dtypes follow `torch.result_type`
(`promote`, checked against torch in tests/unit/test_fuzz.py), `pf.eval` of a tensor built from
another evaluated tensor, random values drawn from `pf.manual_seed`.

The reference runs in float64. Rounding is accounted for by running it again with the operands
and result of every inexact op perturbed by one epsilon of the result's dtype (random signs) and
allowing a multiple of the spread: cancellations, long sums and divisions get the tolerance they
need, exact ops (data movement, comparisons, integer arithmetic) get none.

Every evaluated tensor is compared. The whole program is then built and run a second time (same
`pf.manual_seed`; sometimes after `pf.cache_clear()`) and must give bit-identical values and the
same `pf.last_report().cycles` for every evaluation; a program that draws random numbers runs a
third time with another seed: same cycles, new values, still equal to the reference.
A program that raises SRAMOverflowError is "not checked" (Outcome.skipped) if one of its tensors
has SRAM_SKIP_BYTES or more (it may really not fit), else it fails.

Known, unfixed bugs are avoided by the generator (`KNOWN_BUGS`, one strict xfail test each in
tests/unit/test_fuzz_regressions.py), so that long runs report new bugs only.

This is the "value" mode; tests/fuzz/modes.py adds "grad" (gradients against torch.autograd),
"rebuild" (other data and constants: the compile cache) and "threads"; `program_for(seed, i,
mode=...)` gives any of them.
"""

from __future__ import annotations

import dataclasses
import math
import re
import traceback
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

import pyflame as pf
from tests.fuzz import refs

Shape = tuple[int, ...]
#: the reproducer's import of the references numpy lacks (`fz.sort(...)`)
REFS_IMPORT = "from tests.fuzz import refs as fz\n"

# ============================================================================ knobs

#: tensor sizes; 1, 3, 5, 7, 13, 17 do not divide most grids
SIZES = (1, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 16, 17, 19, 24, 31, 32)
RANK_WEIGHTS = {0: 0.05, 1: 0.25, 2: 0.45, 3: 0.2, 4: 0.05}
MAX_NUMEL = 1024
DEFAULT_MAX_OPS = 16

FLOATS = frozenset({"float32", "float16", "bfloat16"})
INTS = frozenset({"int32"})
NUMBERS = FLOATS | INTS
ANY = NUMBERS | {"bool"}
BOOL = frozenset({"bool"})
#: how often a new input has each dtype (among those the op accepts)
DTYPE_WEIGHTS = {"float32": 0.8, "float16": 0.05, "bfloat16": 0.05, "int32": 0.06, "bool": 0.04}
#: numpy source text of each dtype (for data expressions)
NP_DTYPE = {
    "float32": "np.float32",
    "float16": "np.float16",
    "bfloat16": "pf.bfloat16.numpy",
    "int32": "np.int32",
    "bool": "np.bool_",
}
#: a generated value larger than this (in the generation-time reference) is not used
MAX_MAGNITUDE = {"float32": 1e5, "float16": 1e3, "bfloat16": 1e4, "int32": 1e5, "bool": 1.0}
#: operands that must be bounded away from zero (or positive) are at least this large
DOMAIN_BOUND = 0.25
#: machine epsilon of each floating dtype: the size of the noisy reference's perturbations
EPS = {"float32": 2.0**-23, "float16": 2.0**-10, "bfloat16": 2.0**-7}
#: SRAMOverflowError is a failure unless some tensor of the program has this many bytes
SRAM_SKIP_BYTES = 8192
NOISE_RUNS = 4
NOISE_FACTOR = 32.0
ATOL = 1e-6
RTOL = 2e-6


# ============================================================================ template values


class NoReference(Exception):
    """A reference expression refuses these operands or attributes (the node is not made)."""


class Expr(str):
    """An attribute value inserted into a template as source text (not as its repr)."""


class Data(str):
    """A numpy expression for input data, hoisted into its own line `aN = ...`."""


@dataclasses.dataclass
class Ctx:
    """What an attribute generator may look at."""

    rng: np.random.Generator
    #: operand shapes and dtypes (empty for creation ops)
    shapes: tuple[Shape, ...] = ()
    dtypes: tuple[str, ...] = ()
    #: the shape and dtype a creation op must produce
    shape: Shape = ()
    dtype: str = "float32"
    #: a creation op's values must be "nonzero" (|x| >= DOMAIN_BOUND), "positive", or "" (any)
    domain: str = ""

    def choice(self, seq: Sequence[Any]) -> Any:
        return seq[int(self.rng.integers(len(seq)))]

    def coin(self, p: float = 0.5) -> bool:
        return bool(self.rng.random() < p)

    def int(self, lo: int, hi: int) -> int:
        """A random int in [lo, hi]."""
        return int(self.rng.integers(lo, hi + 1))


# ============================================================================ dtype promotion

_CATEGORY = {"bool": 0, "int32": 1, "float16": 2, "bfloat16": 2, "float32": 2}
_ITEMSIZE = {"bool": 1, "int32": 4, "float16": 2, "bfloat16": 2, "float32": 4}


def _scalar_category(value: Any) -> int:
    if isinstance(value, bool | np.bool_):
        return 0
    return 1 if isinstance(value, int | np.integer) else 2


def _promote_pair(a: str, b: str) -> str:
    if a == b:
        return a
    if _CATEGORY[a] != _CATEGORY[b]:
        return a if _CATEGORY[a] > _CATEGORY[b] else b
    if {a, b} == {"float16", "bfloat16"}:
        return "float32"
    return a if _ITEMSIZE[a] >= _ITEMSIZE[b] else b


def promote(tensors: Sequence[tuple[str, int]], scalars: Sequence[Any] = ()) -> str:
    """`torch.result_type` for (dtype, ndim) operands and Python scalars, int64 read as int32:
    the highest category (bool < int < float) wins; within it, tensors with dims decide before
    0-d tensors, which decide before scalars (a float scalar alone gives float32)."""
    top = max([_CATEGORY[d] for d, _ in tensors] + [_scalar_category(s) for s in scalars])
    for group in ([d for d, n in tensors if n > 0], [d for d, n in tensors if n == 0]):
        found = [d for d in group if _CATEGORY[d] == top]
        if found:
            out = found[0]
            for d in found[1:]:
                out = _promote_pair(out, d)
            return out
    return {0: "bool", 1: "int32", 2: "float32"}[top]


# ============================================================================ op specs

#: result dtype rules by name; a rule may also be a dtype name or a callable
#: (operand dtypes and ndims, scalar attribute values) -> dtype
RESULT_RULES: dict[str, Callable[[Sequence[tuple[str, int]], Sequence[Any]], str]] = {
    "promote": promote,
    "same": lambda ops, scalars: ops[0][0],
    "bool": lambda ops, scalars: "bool",
    # true division and float functions: integers and bools become float32
    "float": lambda ops, scalars: p if (p := promote(ops, scalars)) in FLOATS else "float32",
    # sum: integers and bools add up as integers (int64 in PyTorch)
    "sum": lambda ops, scalars: p if (p := promote(ops, scalars)) in FLOATS else "int32",
    # where(cond, a, b): a and b promote
    "where": lambda ops, scalars: promote(ops[1:], scalars),
}


@dataclasses.dataclass(frozen=True)
class OpSpec:
    """One registry entry. Only name, arity, pf and np are required."""

    name: str
    #: number of tensor operands (0: a creation op, given the shape and dtype to make in Ctx)
    arity: int
    #: PyFlame spellings (one is chosen per use); `{0}`, `{1}` operands, `{attr}` attributes
    pf: tuple[str, ...]
    #: numpy float64 reference with the same placeholders; bools are 0.0/1.0 there (for random
    #: ops: any array of the right shape, the reference is what PyFlame drew)
    np: str
    #: dtypes each operand may have (creation ops: the dtypes it can make); default floats
    dtypes: tuple[frozenset[str], ...] | None = None
    #: result dtype: a RESULT_RULES name, a dtype name, or a callable (see RESULT_RULES)
    result: str | Callable[[Sequence[tuple[str, int]], Sequence[Any]], str] = "promote"
    #: attributes that are Python scalar operands (they take part in promotion)
    scalars: tuple[str, ...] = ()
    #: the dtype operands are converted to before computing, as PyTorch does: "result" (the
    #: result dtype, if floating), "promote" (the promoted operand dtype: comparisons), "none"
    compute: str = "result"
    #: all operands have the same dtype (matmul)
    same_dtype: bool = False
    #: constraint on the shape of operand 0
    accepts: Callable[[Shape], bool] = lambda shape: True
    #: shape of operand i >= 1 given the earlier operands (Ctx.shapes, Ctx.dtypes); default:
    #: the shape of operand 0
    partner: Callable[[Ctx], Shape] | None = None
    #: for random ops: a numpy condition on the drawn values `{v}` (e.g. the range of rand)
    valid: str | None = None
    #: attribute generator: a dict of template values, or None when none fits these operands
    attrs: Callable[[Ctx], dict[str, Any] | None] | None = None
    #: operands whose values must be >= DOMAIN_BOUND in absolute value (divisors) / positive
    nonzero: tuple[int, ...] = ()
    positive: tuple[int, ...] = ()
    #: the result is exact (no rounding) when the operands are: data movement, max, compare
    exact: bool = False
    #: operands must be exact (comparisons, conversion to int: no rounding noise near a tie)
    exact_operands: bool = False
    #: values drawn by PyFlame (randn): compared with themselves, used as reference data
    random: bool = False
    weight: float = 1.0
    #: set in grad programs (tests/fuzz/modes.py), for KNOWN_BUGS predicates
    grad: bool = False

    @property
    def creation(self) -> bool:
        return self.arity == 0

    @property
    def templates(self) -> tuple[str, ...]:
        """The spellings PyFlame supports now."""
        return tuple(t for t in self.pf if _available(t))

    @property
    def enabled(self) -> bool:
        return bool(self.templates)

    def operand_dtypes(self, i: int) -> frozenset[str]:
        return self.dtypes[min(i, len(self.dtypes) - 1)] if self.dtypes else FLOATS

    def domain(self, i: int) -> str:
        return "positive" if i in self.positive else "nonzero" if i in self.nonzero else ""

    def result_dtype(self, operands: Sequence[tuple[str, int]], attrs: dict[str, Any]) -> str:
        rule = self.result
        if isinstance(rule, str) and rule in ANY:
            return rule
        fn = RESULT_RULES[rule] if isinstance(rule, str) else rule
        return fn(operands, self.scalar_values(attrs))

    def scalar_values(self, attrs: dict[str, Any]) -> list[Any]:
        return [attrs[k] for k in self.scalars if attrs.get(k) is not None]

    def compute_dtype(
        self, operands: Sequence[tuple[str, int]], attrs: dict[str, Any], result: str
    ) -> str | None:
        """The floating dtype the operands are converted to, or None."""
        if self.compute == "result":
            dtype = result
        elif self.compute == "promote":
            dtype = promote(operands, self.scalar_values(attrs))
        else:
            return None
        return dtype if dtype in FLOATS else None


HALF = frozenset({"float16", "bfloat16"})


def cast_code(var: str, src: str, dst: str | None) -> str:
    """numpy text converting operand `var` (of dtype `src`) to `dst`, where that rounds."""
    if dst in HALF and src != dst:
        return f"{var}.astype({NP_DTYPE[dst]}).astype(np.float64)"
    return var


def round_code(code: str, dtype: str) -> str:
    """numpy text rounding a float64 result to a half-precision result dtype."""
    if dtype in HALF:
        return f"({code}).astype({NP_DTYPE[dtype]}).astype(np.float64)"
    return code


def round_to(value: np.ndarray, dtype: str) -> np.ndarray:
    if dtype in HALF:
        return value.astype(getattr(pf, dtype).numpy).astype(np.float64)
    return value


def op(
    name: str,
    arity: int,
    pf_templates: str | Sequence[str],
    np_template: str,
    **options: Any,
) -> OpSpec:
    """A registry entry (see the module docstring and OpSpec)."""
    if isinstance(pf_templates, str):
        pf_templates = (pf_templates,)
    dtypes = options.get("dtypes")
    if isinstance(dtypes, frozenset):
        options["dtypes"] = (dtypes,)
    return OpSpec(name, arity, tuple(pf_templates), np_template, **options)


_PF_NAME = re.compile(r"\bpf\.([A-Za-z_][\w.]*)")
_METHOD = re.compile(r"\}\.([A-Za-z_]\w*)")


def _available(template: str) -> bool:
    """Whether every `pf.name` and `{k}.method` a template uses exists."""
    for path in _PF_NAME.findall(template):
        obj: Any = pf
        for part in path.split("."):
            if not hasattr(obj, part):
                return False
            obj = getattr(obj, part)
    return all(hasattr(pf.Tensor, m) for m in _METHOD.findall(template))


# ============================================================================ attribute generators


def random_layout(ctx: Ctx) -> str:
    """Source text of a random `pf.MeshLayout` (never None)."""
    kind = ctx.choice(
        ("single", "grid", "grid", "grid", "row_partition", "col_partition", "replicated")
    )
    if kind == "single":
        return "pf.MeshLayout.single()"
    if kind in ("grid", "replicated"):
        hi = 5 if kind == "grid" else 4
        return f"pf.MeshLayout.{kind}({ctx.int(1, hi)}, {ctx.int(1, hi)})"
    return f"pf.MeshLayout.{kind}({ctx.int(1, 8)})"


def layout_kw(ctx: Ctx) -> Expr:
    """`, layout=...` (a random layout, None, or no keyword at all)."""
    r = ctx.rng.random()
    if r < 0.2:
        return Expr("")
    if r < 0.3:
        return Expr(", layout=None")
    return Expr(f", layout={random_layout(ctx)}")


def dtype_kw(ctx: Ctx) -> Expr:
    """`, dtype=pf.<ctx.dtype>` (left out, sometimes, for the default float32)."""
    if ctx.dtype == "float32" and ctx.coin(0.7):
        return Expr("")
    return Expr(f", dtype=pf.{ctx.dtype}")


def _size_forms(shape: Shape) -> list[str]:
    forms = [repr(list(shape)), repr(tuple(shape))]
    if shape:
        forms.append(", ".join(map(str, shape)))  # varargs: pf.zeros(3, 5)
    return forms


def size_attrs(ctx: Ctx) -> dict[str, Any]:
    """`size` (list, tuple or varargs), `seq` (list or tuple), `shape` (numpy), `layout`,
    `dtype`."""
    return {
        "size": Expr(ctx.choice(_size_forms(ctx.shape))),
        "seq": Expr(ctx.choice(_size_forms(ctx.shape)[:2])),
        "shape": tuple(ctx.shape),
        "layout": layout_kw(ctx),
        "dtype": dtype_kw(ctx),
    }


#: Python scalars; EXACT_SCALARS are exact in every float dtype (comparisons, clamp)
SCALARS = (0, 1, 2, -1, 3, 0.5, -0.25, 1.5, -2.5, 7.0, 0.1, -3)
EXACT_SCALARS = (0, 1, 2, -1, 3, 0.5, -0.25, 1.5, -2.5, 7.0, -3.0)


def scalar_attrs(ctx: Ctx) -> dict[str, Any]:
    """`c`: a Python int or float."""
    return {"c": ctx.choice(SCALARS)}


def nonzero_scalar_attrs(ctx: Ctx) -> dict[str, Any]:
    return {"c": ctx.choice([c for c in SCALARS if abs(c) >= DOMAIN_BOUND])}


def exact_scalar_attrs(ctx: Ctx) -> dict[str, Any]:
    return {"c": ctx.choice(EXACT_SCALARS)}


_REVERSED = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}


def compare_scalar_attrs(ctx: Ctx) -> dict[str, Any]:
    """`x < c` or the same as `c > x` (`cmp`, `rcmp`), any comparison."""
    cmp = ctx.choice(tuple(_REVERSED))
    return {"c": ctx.choice(EXACT_SCALARS), "cmp": Expr(cmp), "rcmp": Expr(_REVERSED[cmp])}


def _fill_value(ctx: Ctx, dtype: str) -> Any:
    if dtype == "bool":
        return ctx.choice((True, False))
    values = {"": (0, 1, 2, -3, 4), "nonzero": (1, 2, -3, 4), "positive": (1, 2, 4)}[ctx.domain]
    value = ctx.choice(values)
    if dtype in FLOATS:
        value = float(value) * ctx.choice((1, 0.5, 0.75))
    return value


def fill_attrs(ctx: Ctx) -> dict[str, Any]:
    """full: a value of the dtype (a float value when `dtype=` is left out: full infers the
    dtype from the value, as PyTorch, and the program's float32 needs a float)."""
    attrs = size_attrs(ctx)
    return {**attrs, "value": _fill_value(ctx, ctx.dtype)}


def full_like_attrs(ctx: Ctx) -> dict[str, Any]:
    return {"layout": layout_kw(ctx), "value": _fill_value(ctx, ctx.dtypes[0])}


def data_attrs(ctx: Ctx) -> dict[str, Any]:
    """`data`: a seeded numpy expression of the wanted shape and dtype."""
    seed = ctx.int(0, 10**6)
    rng, shape = f"np.random.default_rng({seed})", repr(tuple(ctx.shape))
    if ctx.dtype == "bool":
        expr = f"{rng}.random({shape}) < 0.5"
    elif ctx.dtype in INTS:
        lo = 1 if ctx.domain else -4
        expr = f"{rng}.integers({lo}, 5, {shape})"
    elif ctx.dtype in HALF and not ctx.domain and ctx.coin(0.3):  # large: sums overflow
        expr = f"{rng}.uniform(400.0, 1000.0, {shape})"
    elif ctx.domain == "positive":
        expr = f"{rng}.uniform(0.5, 2.0, {shape})"
    elif ctx.domain == "nonzero":
        expr = f"{rng}.uniform(0.5, 2.0, {shape}) * {rng}.choice([-1, 1], {shape})"
    else:
        expr = ctx.choice(
            (
                f"{rng}.standard_normal({shape})",
                f"{rng}.standard_normal({shape})",
                f"{rng}.uniform(-3.0, 3.0, {shape})",
                f"{rng}.integers(-4, 5, {shape})",
            )
        )
    if ctx.dtype != "bool":
        expr = (
            f"({expr}).astype({NP_DTYPE[ctx.dtype]})"
            if " " in expr
            else (f"{expr}.astype({NP_DTYPE[ctx.dtype]})")
        )
    return {"data": Data(expr), "layout": layout_kw(ctx)}


def random_creation_attrs(ctx: Ctx) -> dict[str, Any] | None:
    return None if ctx.domain else size_attrs(ctx)


def _dim_forms(dims: int | tuple[int, ...] | None, keepdim: bool | None) -> list[str]:
    """Ways to pass dim/keepdim to a reduction (keepdim None: left out)."""
    forms = []
    if keepdim is None:
        forms.append(f"dim={dims!r}")
        if dims is None:
            forms.append("")
        else:
            forms.append(repr(dims))
    else:
        forms.append(f"dim={dims!r}, keepdim={keepdim!r}")
        forms.append(f"{dims!r}, {keepdim!r}")
        forms.append(f"{dims!r}, keepdim={keepdim!r}")
    return forms


def reduce_attrs(ctx: Ctx) -> dict[str, Any]:
    """dim None / int / tuple (negative allowed, any order) and keepdim True / False / absent.

    `args` is what the method takes (`x.sum(args)`), `_args` the same with a leading comma
    (`pf.sum(x_args)`), `axis`/`keepdims` the numpy equivalents."""
    (shape,) = ctx.shapes
    rank = len(shape)
    kind = ctx.choice(("none", "int", "int", "tuple"))
    dims: int | tuple[int, ...] | None
    if kind == "none":
        dims = None
    elif rank == 0:  # PyTorch accepts dim 0 and -1 for a 0-d tensor
        d = ctx.choice((0, -1))
        dims = d if kind == "int" else (d,)
    elif kind == "int":
        dims = ctx.int(-rank, rank - 1)
    else:
        chosen = ctx.rng.permutation(rank)[: ctx.int(1, rank)]
        dims = tuple(int(d) - rank if ctx.coin(0.3) else int(d) for d in chosen)
    keepdim = ctx.choice((None, True, False))
    args = ctx.choice(_dim_forms(dims, keepdim))
    return {
        "args": Expr(args),
        "_args": Expr(", " + args if args else ""),
        "axis": None if rank == 0 else dims,
        "keepdims": bool(keepdim),
        "dims": dims,
    }


def transpose_attrs(ctx: Ctx) -> dict[str, Any]:
    (shape,) = ctx.shapes
    rank = len(shape)
    lo, hi = (-1, 0) if rank == 0 else (-rank, rank - 1)
    d0, d1 = ctx.int(lo, hi), ctx.int(lo, hi)
    perm = list(range(rank))
    if rank:
        perm[d0 % rank], perm[d1 % rank] = perm[d1 % rank], perm[d0 % rank]
    return {"d0": d0, "d1": d1, "perm": tuple(perm)}


def permute_attrs(ctx: Ctx) -> dict[str, Any]:
    (shape,) = ctx.shapes
    rank = len(shape)
    perm = [int(p) for p in ctx.rng.permutation(rank)]
    given = [p - rank if ctx.coin(0.3) else p for p in perm]
    return {
        "dims": Expr(ctx.choice((", ".join(map(str, given)), repr(given), repr(tuple(given))))),
        "perm": tuple(perm),
    }


def _prime_factors(n: int) -> list[int]:
    out, p = [], 2
    while p * p <= n:
        while n % p == 0:
            out.append(p)
            n //= p
        p += 1
    return out + ([n] if n > 1 else [])


def reshape_attrs(ctx: Ctx) -> dict[str, Any]:
    """A random shape with the same number of elements; sometimes one size is -1."""
    (shape,) = ctx.shapes
    numel = math.prod(shape)
    rank = ctx.int(0 if numel == 1 else 1, 4)
    new = [1] * rank
    for p in _prime_factors(numel):
        new[ctx.int(0, rank - 1)] *= p
    given = list(new)
    if rank and ctx.coin(0.35):
        given[ctx.int(0, rank - 1)] = -1
    forms = [repr(given), repr(tuple(given))]
    if rank:
        forms.append(", ".join(map(str, given)))
    return {
        "size": Expr(ctx.choice(forms)),
        "seq": Expr(ctx.choice(forms[:2])),
        "shape": tuple(new),
    }


def clamp_attrs(ctx: Ctx) -> dict[str, Any]:
    """`args`: min and/or max (positional or keyword), `lo`/`hi` for numpy (None: absent)."""
    lo, hi = sorted(ctx.choice(EXACT_SCALARS) for _ in range(2))
    which = ctx.choice(("both", "both", "min", "max"))
    lo = lo if which != "max" else None
    hi = hi if which != "min" else None
    if which == "both":
        args = ctx.choice((f"{lo!r}, {hi!r}", f"min={lo!r}, max={hi!r}"))
    elif which == "min":
        args = ctx.choice((f"{lo!r}", f"min={lo!r}"))
    else:
        args = f"max={hi!r}"
    return {"args": Expr(args), "lo": lo, "hi": hi}


def pow_attrs(ctx: Ctx) -> dict[str, Any]:
    """A Python exponent: any for a positive base (see the entries' `positive`)."""
    return {"c": ctx.choice((2, 0.5, 1.5, -0.5, 3, 2.0, -1, 0))}


def int_pow_attrs(ctx: Ctx) -> dict[str, Any]:
    return {"c": ctx.choice((2, 3, 1, 0))}


def rpow_attrs(ctx: Ctx) -> dict[str, Any]:
    return {"c": ctx.choice((2, 0.5, 1.5, 3.0))}


# ============================================================================ shape rules


def rank_in(*ranks: int) -> Callable[[Shape], bool]:
    return lambda shape: len(shape) in ranks


def min_rank(n: int) -> Callable[[Shape], bool]:
    return lambda shape: len(shape) >= n


def matmul_partner(ctx: Ctx) -> Shape:
    return (ctx.shapes[0][1], ctx.choice(SIZES))


def _supports(build: Callable[[], Any]) -> bool:
    """Whether PyFlame's frontend accepts a construct (nothing is evaluated)."""
    try:
        build()
    except Exception:
        return False
    return True


#: feature probes: the generator uses a feature as soon as the frontend accepts it
BROADCASTING = _supports(lambda: pf.zeros([2, 1]) + pf.zeros([3]))


def broadcast_partner(ctx: Ctx) -> Shape:
    """The shape of the earlier operands (broadcast together), or (once PyFlame broadcasts) a
    shape that broadcasts with it: fewer leading dims (down to 0-d), sizes 1, sizes where it
    has 1, a new leading dim."""
    shape = tuple(np.broadcast_shapes(*ctx.shapes))
    if not BROADCASTING or ctx.coin(0.5):
        return shape
    out = list(shape)
    if out and ctx.coin(0.3):
        out = out[ctx.int(1, len(out)) :]
    out = [1 if ctx.coin(0.3) else n for n in out]
    aligned = shape[len(shape) - len(out) :]
    out = [
        ctx.choice(SIZES) if a == 1 and ctx.coin(0.4) else n
        for n, a in zip(out, aligned, strict=True)
    ]
    if len(out) == len(shape) < 4 and ctx.coin(0.2):  # a new leading dim
        out.insert(0, ctx.choice((1, 2, 3)))
    return tuple(out)


# ============================================================================ more generators
# (reductions with one dim, shape ops, creation ops with a fixed rank, nn.functional)


def _one_dim(ctx: Ctx, rank: int) -> int:
    """A dim of a tensor of this rank, negative sometimes (0 or -1 for a 0-d tensor)."""
    return ctx.choice((0, -1)) if rank == 0 else ctx.int(-rank, rank - 1)


def dim_attrs(ctx: Ctx) -> dict[str, Any]:
    """One dim (`d`, numpy `axis`) and keepdim (`keepdim`, `keepdims`): x.max(d, keepdim)."""
    rank = len(ctx.shapes[0])
    d = _one_dim(ctx, rank)
    keepdim = ctx.coin()
    return {
        "d": d,
        "axis": None if rank == 0 else d,
        "keepdim": keepdim,
        "keepdims": keepdim,
        "args": Expr(ctx.choice((f"{d}, {keepdim}", f"dim={d}, keepdim={keepdim}"))),
    }


def arg_attrs(ctx: Ctx) -> dict[str, Any]:
    """argmax/argmin: dim None (the flattened index) or one dim; keepdim."""
    attrs = dim_attrs(ctx)
    if ctx.coin(0.3):
        keepdim = ctx.choice((None, True, False))
        attrs.update(
            d=None,
            axis=None,
            keepdim=bool(keepdim),
            keepdims=bool(keepdim),
            args=Expr("" if keepdim is None else f"keepdim={keepdim}"),
        )
    attrs["_args"] = Expr(", " + attrs["args"] if attrs["args"] else "")
    return attrs


def single_dim_reduce_attrs(ctx: Ctx) -> dict[str, Any]:
    """reduce_attrs without tuples of dims (torch.prod takes one dim)."""
    while isinstance((attrs := reduce_attrs(ctx))["dims"], tuple):
        pass
    return attrs


def var_attrs(ctx: Ctx) -> dict[str, Any]:
    """var/std: dims as reduce_attrs, keepdim, unbiased= or correction= (numpy ddof). As in
    PyTorch, the second positional argument is `unbiased`, not keepdim."""
    attrs = reduce_attrs(ctx)
    dims, keepdim = attrs["dims"], attrs["keepdims"]
    kind = ctx.choice(("default", "unbiased", "correction"))
    ddof = 1 if kind == "default" else ctx.choice((0, 1))
    if kind == "unbiased" and ctx.coin(0.3):  # torch.var(x, dim, unbiased, keepdim)
        args = f"{dims!r}, {bool(ddof)}, {keepdim}"
    else:
        parts = []
        if dims is not None or ctx.coin():
            parts.append(ctx.choice((f"{dims!r}", f"dim={dims!r}")))
        if kind != "default":
            parts.append(f"unbiased={bool(ddof)}" if kind == "unbiased" else f"correction={ddof}")
        if keepdim or ctx.coin():
            parts.append(f"keepdim={keepdim}")
        args = ", ".join(parts)
    return {**attrs, "args": Expr(args), "_args": Expr(", " + args if args else ""), "ddof": ddof}


def lse_attrs(ctx: Ctx) -> dict[str, Any]:
    attrs = reduce_attrs(ctx)
    out = np.zeros(ctx.shapes[0]).sum(axis=attrs["axis"], keepdims=attrs["keepdims"]).shape
    return {**attrs, "out": tuple(out)}


def softmax_attrs(ctx: Ctx) -> dict[str, Any]:
    rank = len(ctx.shapes[0])
    d = _one_dim(ctx, rank)
    return {
        "d": d,
        "axis": None if rank == 0 else d,
        "args": Expr(ctx.choice((f"{d}", f"dim={d}"))),
    }


def unsqueeze_attrs(ctx: Ctx) -> dict[str, Any]:
    rank = len(ctx.shapes[0])
    return {"d": ctx.int(-rank - 1, rank)}


def squeeze_attrs(ctx: Ctx) -> dict[str, Any]:
    """dim None (every size-1 dim), an int or a tuple; dims whose size is not 1 stay."""
    shape = ctx.shapes[0]
    rank = len(shape)
    kind = ctx.choice(("none", "int", "tuple")) if rank else ctx.choice(("none", "int"))
    if kind == "none":
        dims: Any = None
        drop = {i for i, n in enumerate(shape) if n == 1}
        args = ""
    elif kind == "int":
        dims = _one_dim(ctx, rank)
        drop = {dims % rank} if rank and shape[dims] == 1 else set()
        args = ctx.choice((f"{dims}", f"dim={dims}"))
    else:
        chosen = [int(d) for d in ctx.rng.permutation(rank)[: ctx.int(1, rank)]]
        dims = tuple(d - rank if ctx.coin(0.3) else d for d in chosen)
        drop = {d for d in chosen if shape[d] == 1}
        args = ctx.choice((f"{dims!r}", f"dim={dims!r}"))
    new = tuple(n for i, n in enumerate(shape) if i not in drop)
    return {"args": Expr(args), "_args": Expr(", " + args if args else ""), "shape": new}


def flatten_attrs(ctx: Ctx) -> dict[str, Any]:
    shape = ctx.shapes[0]
    rank = len(shape)
    if rank == 0:
        start, end = ctx.choice(((0, -1), (0, 0), (-1, 0)))
        new: Shape = (1,)
    else:
        lo, hi = sorted((ctx.int(0, rank - 1), ctx.int(0, rank - 1)))
        start = lo - rank if ctx.coin(0.3) else lo
        end = hi - rank if ctx.coin(0.5) else hi
        new = shape[:lo] + (math.prod(shape[lo : hi + 1]),) + shape[hi + 1 :]
    forms = ["", f"{start}", f"{start}, {end}", f"start_dim={start}, end_dim={end}"]
    if (start, end) not in ((0, -1), (0, rank - 1), (-rank, -1)):
        forms = forms[2:]
    elif start not in (0, -rank):
        forms = forms[1:]
    args = ctx.choice(forms)
    return {"args": Expr(args), "_args": Expr(", " + args if args else ""), "shape": new}


def expand_attrs(ctx: Ctx) -> dict[str, Any] | None:
    """A shape `shape` broadcasts to: size-1 dims grown, new leading dims; `size` for expand
    (-1 keeps a dim), `seq` (list or tuple) for broadcast_to."""
    shape = ctx.shapes[0]
    new = [ctx.choice(SIZES) if n == 1 and ctx.coin(0.6) else n for n in shape]
    lead = [ctx.choice((1, 2, 3, 4)) for _ in range(ctx.int(0, max(0, 4 - len(shape))))]
    target = tuple(lead + new)
    if math.prod(target) > 4 * MAX_NUMEL:
        return None
    given = lead + [-1 if n == s and ctx.coin(0.3) else n for n, s in zip(new, shape, strict=True)]
    forms = [repr(given), repr(tuple(given))] + ([", ".join(map(str, given))] if given else [])
    return {"size": Expr(ctx.choice(forms)), "seq": Expr(ctx.choice(forms[:2])), "shape": target}


def cat_partner(ctx: Ctx) -> Shape:
    """Operand 0's shape with one dim resized (cat joins along it)."""
    shape = list(ctx.shapes[0])
    shape[ctx.int(0, len(shape) - 1)] = ctx.choice(SIZES)
    return tuple(shape)


def cat_attrs(ctx: Ctx) -> dict[str, Any] | None:
    rank = len(ctx.shapes[0])
    fits = [d for d in range(rank) if len({s[:d] + s[d + 1 :] for s in ctx.shapes}) == 1]
    if not fits:
        return None
    d = ctx.choice(fits)
    d = d - rank if ctx.coin(0.3) else d
    return {"d": d, "dim": Expr(ctx.choice((f"{d}", f"dim={d}")))}


def stack_attrs(ctx: Ctx) -> dict[str, Any]:
    rank = len(ctx.shapes[0])
    d = ctx.int(-rank - 1, rank)
    return {"d": d, "dim": Expr(ctx.choice((f"{d}", f"dim={d}")))}


def _piece(ctx: Ctx, n: int, size: int) -> tuple[int, int, int]:
    """A random piece of pieces of `size` along a dim of `n`: (index, start, stop)."""
    count = -(-n // size)
    k = ctx.int(0, count - 1)
    return k, k * size, min(n, (k + 1) * size)


def split_attrs(ctx: Ctx) -> dict[str, Any] | None:
    shape = ctx.shapes[0]
    d = _one_dim(ctx, len(shape))
    n = shape[d]
    if n == 0:  # no piece to take of an empty dim
        return None
    if ctx.coin(0.6):
        size = ctx.int(1, n)
        k, lo, hi = _piece(ctx, n, size)
        how = f"{size}"
    else:  # sections
        cuts = sorted({int(c) for c in ctx.rng.integers(0, n + 1, ctx.int(0, 3))} | {0, n})
        sections = [b - a for a, b in zip(cuts[:-1], cuts[1:], strict=True)] or [n]
        k = ctx.int(0, len(sections) - 1)
        lo = sum(sections[:k])
        hi = lo + sections[k]
        how = repr(sections)
    return {"how": Expr(how), "d": d, "k": k, "lo": lo, "hi": hi}


def chunk_attrs(ctx: Ctx) -> dict[str, Any] | None:
    shape = ctx.shapes[0]
    d = _one_dim(ctx, len(shape))
    n = shape[d]
    if n == 0:
        return None
    chunks = ctx.int(1, n + 2)
    k, lo, hi = _piece(ctx, n, -(-n // chunks))
    return {"chunks": chunks, "d": d, "k": k, "lo": lo, "hi": hi}


def narrow_attrs(ctx: Ctx) -> dict[str, Any] | None:
    shape = ctx.shapes[0]
    d = _one_dim(ctx, len(shape))
    n = shape[d]
    if n == 0:  # no start to draw on an empty dim
        return None
    start = ctx.int(0, n - 1)
    length = ctx.int(0 if ctx.coin(0.1) else 1, n - start)
    given = start - n if ctx.coin(0.3) else start
    return {"d": d, "start": given, "length": length, "lo": start, "hi": start + length}


def pad_attrs(ctx: Ctx) -> dict[str, Any] | None:
    """F.pad: (before, after) widths from the last dim backwards; a constant value."""
    shape = ctx.shapes[0]
    k = ctx.int(1, min(len(shape), 3))
    low = -2 if ctx.coin(0.3) else 0  # negative widths crop, as in PyTorch
    widths = [(ctx.int(low, 3), ctx.int(low, 3)) for _ in range(k)]
    pads = tuple(w for pair in widths for w in pair)
    all_widths = [(0, 0)] * (len(shape) - k) + widths[::-1]
    # PyTorch (constant_pad_nd) crops first, by narrowing, then pads: the crops of a dim must
    # fit in it ("narrow(): length must be non-negative") whatever the positive width adds
    if any(n + min(a, 0) + min(b, 0) < 0 for n, (a, b) in zip(shape, all_widths, strict=True)):
        return None
    new = [n + a + b for n, (a, b) in zip(shape, all_widths, strict=True)]
    if math.prod(new) > 4 * MAX_NUMEL or min(new) < 1:
        return None
    # numpy: crop (slices) first, then pad by the positive widths
    crop = [f"{max(-a, 0) or ''}:{-max(-b, 0) or ''}" for a, b in all_widths]
    np_pad = tuple((max(a, 0), max(b, 0)) for a, b in all_widths)
    value = ctx.choice((None, 0.0, 1.5, -2.0))
    kw = "" if value is None else ctx.choice((f", value={value!r}", f", 'constant', {value!r}"))
    return {
        "pads": pads,
        "value_kw": Expr(kw),
        "np_pad": np_pad,
        "crop": Expr(f"[{', '.join(crop)}]" if any(c != ":" for c in crop) else ""),
        "value": 0.0 if value is None else value,
    }


def arange_attrs(ctx: Ctx) -> dict[str, Any] | None:
    """A 1-D range of ctx.shape[0] values: ints (int32, no dtype= as in PyTorch's int64) or
    exact binary fractions (float32)."""
    if len(ctx.shape) != 1 or ctx.domain:
        return None
    n = ctx.shape[0]
    if ctx.dtype == "int32":
        start, step = ctx.int(-5, 5), ctx.choice((1, 1, 2, 3, -1))
        dtype = ""
    else:
        start, step = ctx.choice((0.0, 0.5, -2.25, 1.0)), ctx.choice((1.0, 0.5, 0.25, -0.75))
        dtype = ", dtype=pf.float32" if ctx.coin(0.3) else ""
    end = start + n * step
    if ctx.dtype != "int32" and ctx.coin(0.3):
        start, end, step = int(start), int(start) + n, 1
        dtype = ", dtype=pf.float32"
    if start == 0 and step == 1 and ctx.coin():
        args = f"{end}"
    elif step == 1 and ctx.coin():
        args = f"{start}, {end}"
    else:
        args = f"{start}, {end}, {step}"
    return {
        "args": Expr(args + dtype),
        "start": start,
        "end": end,
        "step": step,
        "layout": layout_kw(ctx),
    }


def eye_attrs(ctx: Ctx) -> dict[str, Any] | None:
    if len(ctx.shape) != 2 or ctx.domain:
        return None
    n, m = ctx.shape
    args = f"{n}" if n == m and ctx.coin() else f"{n}, {m}"
    return {"args": Expr(args), "n": n, "m": m, "dtype": dtype_kw(ctx), "layout": layout_kw(ctx)}


def randint_attrs(ctx: Ctx) -> dict[str, Any] | None:
    if ctx.domain:
        return None
    low = ctx.choice((0, -3, 2))
    high = low + ctx.choice((1, 2, 5, 100))
    size = repr(tuple(ctx.shape)) if ctx.coin() else repr(list(ctx.shape))
    args = f"{high}, {size}" if low == 0 and ctx.coin() else f"{low}, {high}, {size}"
    return {
        "args": Expr(args),
        "low": low,
        "high": high,
        "shape": tuple(ctx.shape),
        "layout": layout_kw(ctx),
    }


def linear_partner(ctx: Ctx) -> Shape:
    """weight (out, in) for input (..., in); then bias (out,)."""
    if len(ctx.shapes) == 1:
        return (ctx.choice(SIZES), ctx.shapes[0][-1])
    return (ctx.shapes[1][0],)


def layer_norm_partner(ctx: Ctx) -> Shape:
    """weight and bias: the normalized shape (trailing dims of the input)."""
    if len(ctx.shapes) >= 2:
        return ctx.shapes[1]
    shape = ctx.shapes[0]
    return shape[len(shape) - ctx.int(1, len(shape)) :]


def layer_norm_attrs(ctx: Ctx) -> dict[str, Any]:
    shape = ctx.shapes[0]
    j = len(ctx.shapes[1]) if len(ctx.shapes) > 1 else ctx.int(1, len(shape))
    normalized = shape[len(shape) - j :]
    given: Any = normalized[0] if j == 1 and ctx.coin() else list(normalized)
    eps = ctx.choice((None, 1e-5, 0.1))
    return {
        "normalized": given,
        "axes": tuple(range(-j, 0)),
        "eps": 1e-5 if eps is None else eps,
        "eps_kw": Expr("" if eps is None else f", eps={eps!r}"),
    }


# ============================================================================ generators of the
# ops added in session 30 (cumulative, sorting, gather/scatter, flips, statistics, products)

#: an index tensor argument: host data (`{idx}`, a `Data` attribute), in a random layout,
#: sometimes computed on the device (a lazy index: PyFlame checks it after the run)
IDX = "pf.from_numpy({idx}{ilay}){lazy}"


def _index_attrs(ctx: Ctx, expr: str) -> dict[str, Any]:
    """`idx` (numpy int32 data from `expr`, which has `{rng}` for a seeded generator), its
    layout and how it reaches the op (`IDX`)."""
    rng = f"np.random.default_rng({ctx.int(0, 10**6)})"
    return {
        "idx": Data(f"({expr.format(rng=rng)}).astype(np.int32)"),
        "ilay": layout_kw(ctx) if ctx.coin(0.4) else Expr(""),
        "lazy": Expr(ctx.choice(("", "", "", " * 1", " + 0"))),
    }


def _dim_arg(ctx: Ctx, d: int) -> Expr:
    return Expr(ctx.choice((f"{d}", f"dim={d}")))


def cum_attrs(ctx: Ctx) -> dict[str, Any]:
    """cumsum & co: one dim (`d`, `dim` as positional or keyword); numpy `axis` of
    `np.atleast_1d(x)` (`shape` restores a 0-d tensor's)."""
    shape = ctx.shapes[0]
    d = _one_dim(ctx, len(shape))
    return {"d": d, "dim": _dim_arg(ctx, d), "axis": d if shape else 0, "shape": shape}


def sort_attrs(ctx: Ctx) -> dict[str, Any]:
    shape = ctx.shapes[0]
    d = _one_dim(ctx, len(shape))
    return {"d": d, "desc": ctx.coin(), "shape": shape}


def topk_attrs(ctx: Ctx) -> dict[str, Any] | None:
    shape = ctx.shapes[0]
    d = _one_dim(ctx, len(shape))
    n = shape[d] if shape else 1
    if n == 0:
        return None
    return {"d": d, "k": ctx.int(1, n), "largest": ctx.coin(), "keepdim": ctx.coin()}


def median_dim_attrs(ctx: Ctx) -> dict[str, Any] | None:
    """median / mode along one dim: not an empty one (PyTorch's IndexError, PyFlame's too)."""
    shape = ctx.shapes[0]
    d = _one_dim(ctx, len(shape))
    if shape and shape[d] == 0:
        return None
    return {"d": d, "keepdim": ctx.coin(), "axis": d}


#: q values exact in float32, and whose rank q * (n - 1) PyTorch computes in float32: dyadic q
#: keep floor / ceil / round of the rank the same in float32 and float64
QUANTILES = (0.0, 0.25, 0.5, 0.75, 1.0, 0.125, 0.375, 0.875)


def quantile_attrs(ctx: Ctx) -> dict[str, Any] | None:
    shape = ctx.shapes[0]
    if not math.prod(shape):
        return None
    if ctx.coin(0.7):
        q: Any = ctx.choice(QUANTILES)
        qn, qpf = q, repr(q)
    else:
        qs = [ctx.choice(QUANTILES) for _ in range(ctx.int(1, 3))]
        qn, qpf = qs, f"pf.from_numpy(np.array({qs!r}, np.float32))"
    d = None if not shape or ctx.coin(0.3) else _one_dim(ctx, len(shape))
    keepdim = ctx.coin()
    method = ctx.choice(("linear", "linear", "lower", "higher", "nearest", "midpoint"))
    args = f", dim={d}" if d is not None or ctx.coin() else ""
    args += f", keepdim={keepdim}" if keepdim or ctx.coin() else ""
    args += "" if method == "linear" and ctx.coin() else f", interpolation={method!r}"
    return {
        "q": Expr(qpf),
        "qn": qn,
        "args": Expr(args),
        "axis": d,
        "keepdims": keepdim,
        "method": method,
    }


def gather_attrs(ctx: Ctx) -> dict[str, Any] | None:
    """gather: an index no larger than the input in the other dims (any size along d), the
    numpy reference takes the input cropped to it (`crop`)."""
    shape = ctx.shapes[0]
    d = ctx.int(0, len(shape) - 1)
    if shape[d] == 0 or 0 in shape:
        return None
    ishape = tuple(ctx.int(1, 5) if j == d else ctx.int(1, n) for j, n in enumerate(shape))
    crop = ", ".join(":" if j == d else f":{m}" for j, m in enumerate(ishape))
    given = d - len(shape) if ctx.coin(0.3) else d
    attrs = _index_attrs(ctx, f"{{rng}}.integers(0, {shape[d]}, {ishape!r})")
    return {**attrs, "d": given, "axis": d, "crop": Expr(f"[{crop}]")}


def take_along_attrs(ctx: Ctx) -> dict[str, Any] | None:
    shape = ctx.shapes[0]
    numel = math.prod(shape)
    if not numel:
        return None
    if not shape or ctx.coin(0.3):  # dim None: positions in the flattened input
        attrs = _index_attrs(ctx, f"{{rng}}.integers(0, {numel}, ({ctx.int(1, 9)},))")
        return {**attrs, "dkw": Expr(""), "axis": None}
    d = _one_dim(ctx, len(shape))
    ishape = list(shape)
    ishape[d] = ctx.int(1, 5)
    attrs = _index_attrs(ctx, f"{{rng}}.integers(0, {shape[d]}, {tuple(ishape)!r})")
    return {**attrs, "dkw": Expr(ctx.choice((f", {d}", f", dim={d}"))), "axis": d}


def index_select_attrs(ctx: Ctx) -> dict[str, Any] | None:
    shape = ctx.shapes[0]
    d = _one_dim(ctx, len(shape))
    if shape[d] == 0:
        return None
    attrs = _index_attrs(ctx, f"{{rng}}.integers(0, {shape[d]}, ({ctx.int(1, 8)},))")
    return {**attrs, "d": d}


def take_attrs(ctx: Ctx) -> dict[str, Any] | None:
    numel = math.prod(ctx.shapes[0])
    if not numel:
        return None
    ishape = tuple(ctx.int(1, 6) for _ in range(ctx.choice((0, 1, 1, 2))))
    return _index_attrs(ctx, f"{{rng}}.integers({-numel}, {numel}, {ishape!r})")


#: scatter compares each index entry with every position along dim (a one-hot of index size x
#: n elements, placed like the input: whole on every PE of a replicated layout); larger ones
#: overflow SRAM in grad programs (seed 0, grad program 14: [30, 15] into 32 rows)
SCATTER_ONE_HOT = 4096


def _scatter_index(ctx: Ctx, unique: bool) -> dict[str, Any] | None:
    """An index for scatter into operand 0 along `d`: no larger than operand 0, of the shape of
    operand 1 (the source) if there is one (PyTorch's backward needs that); `unique`: distinct
    along d (else the result depends on the order of the writes)."""
    shape = ctx.shapes[0]
    if not shape or 0 in shape:
        return None
    d = ctx.int(0, len(shape) - 1)
    n = shape[d]
    ishape = ctx.shapes[1] if len(ctx.shapes) > 1 else tuple(ctx.int(1, m) for m in shape)
    if 0 in ishape or math.prod(ishape) * n > SCATTER_ONE_HOT:
        return None
    if unique:
        full = tuple(n if j == d else m for j, m in enumerate(ishape))
        expr = (
            f"np.take(np.argsort({{rng}}.random({full!r}), axis={d}), "
            f"np.arange({ishape[d]}), axis={d})"
        )
    else:
        expr = f"{{rng}}.integers(0, {n}, {ishape!r})"
    given = d - len(shape) if ctx.coin(0.3) else d
    return {**_index_attrs(ctx, expr), "d": given, "axis": d}


def scatter_partner(ctx: Ctx) -> Shape:
    """scatter's source: no larger than operand 0 in any dim (the index has its shape)."""
    return tuple(ctx.int(1, n) if n else 0 for n in ctx.shapes[0])


def _fill_for(ctx: Ctx, dtype: str) -> Any:
    """An exact value of this dtype's kind (a float for floats, an int for ints)."""
    if dtype == "bool":
        return ctx.choice((True, False))
    if dtype in INTS:
        return ctx.choice((0, 1, -3, 7))
    return ctx.choice((0.0, 1.5, -2.25, 7.0))


def scatter_attrs(ctx: Ctx) -> dict[str, Any] | None:
    return _scatter_index(ctx, unique=True)


def scatter_value_attrs(ctx: Ctx) -> dict[str, Any] | None:
    attrs = _scatter_index(ctx, unique=False)
    return None if attrs is None else {**attrs, "c": _fill_for(ctx, ctx.dtypes[0])}


def scatter_add_attrs(ctx: Ctx) -> dict[str, Any] | None:
    return _scatter_index(ctx, unique=False)


def scatter_reduce_attrs(ctx: Ctx) -> dict[str, Any] | None:
    attrs = _scatter_index(ctx, unique=False)
    if attrs is None:
        return None
    # integer "mean" rounds (PyTorch floor-divides); prod of many values overflows int32
    reduces = ("sum", "prod", "amax", "amin") + (("mean",) if ctx.dtypes[0] in FLOATS else ())
    return {**attrs, "reduce": ctx.choice(reduces), "inc": ctx.coin(0.6)}


def index_partner(ctx: Ctx) -> Shape:
    """The source of index_add / index_copy: operand 0's shape with one dim resized (to at
    most its size: index_copy's index has distinct entries)."""
    shape = list(ctx.shapes[0])
    d = ctx.int(0, len(shape) - 1)
    shape[d] = ctx.int(1, shape[d]) if shape[d] else 0
    return tuple(shape)


def index_add_attrs(ctx: Ctx) -> dict[str, Any] | None:
    x, src = ctx.shapes
    fits = [d for d in range(len(x)) if x[:d] + x[d + 1 :] == src[:d] + src[d + 1 :]]
    if not fits:
        return None
    d = ctx.choice(fits)
    n, m = x[d], src[d]
    if n == 0 or m > n:
        return None
    unique = f"{{rng}}.permutation({n})[:{m}]"
    attrs = _index_attrs(ctx, unique if ctx.coin() else f"{{rng}}.integers(0, {n}, ({m},))")
    uniq = _index_attrs(ctx, unique)
    alpha = ctx.choice((1, 2, -1)) if ctx.dtypes[0] in INTS else ctx.choice((1, 0.5, -2.0))
    given = d - len(x) if ctx.coin(0.3) else d
    return {
        **attrs,
        "uidx": uniq["idx"],
        "d": given,
        "alpha": alpha,
        "alpha_kw": Expr("" if alpha == 1 and ctx.coin() else f", alpha={alpha!r}"),
    }


def index_fill_attrs(ctx: Ctx) -> dict[str, Any] | None:
    attrs = index_select_attrs(ctx)
    if attrs is None:
        return None
    return {**attrs, "c": _fill_for(ctx, ctx.dtypes[0])}


def mask_partner(ctx: Ctx) -> Shape:
    """A shape that broadcasts to operand 0's (masked_fill's mask): sizes 1, fewer dims."""
    shape = list(ctx.shapes[0])
    if shape and ctx.coin(0.3):
        shape = shape[ctx.int(1, len(shape)) :]
    return tuple(1 if ctx.coin(0.3) else n for n in shape)


def masked_fill_attrs(ctx: Ctx) -> dict[str, Any]:
    return {"c": _fill_for(ctx, ctx.dtypes[0])}


def _dims_tuple(ctx: Ctx, rank: int, k: int | None = None) -> tuple[int, ...]:
    chosen = [int(d) for d in ctx.rng.permutation(rank)[: k or ctx.int(1, rank)]]
    return tuple(d - rank if ctx.coin(0.3) else d for d in chosen)


def flip_attrs(ctx: Ctx) -> dict[str, Any]:
    rank = len(ctx.shapes[0])
    dims = _dims_tuple(ctx, rank)
    forms = [repr(list(dims)), repr(dims)]
    return {
        "dims": Expr(ctx.choice(forms)),
        "mdims": Expr(ctx.choice(forms + [", ".join(map(str, dims))])),
        "axis": dims,
    }


def rot90_attrs(ctx: Ctx) -> dict[str, Any]:
    rank = len(ctx.shapes[0])
    dims = _dims_tuple(ctx, rank, 2)
    return {"k": ctx.int(-3, 5), "dims": list(dims), "axes": dims}


def roll_attrs(ctx: Ctx) -> dict[str, Any]:
    shape = ctx.shapes[0]
    rank = len(shape)
    if not rank or ctx.coin(0.3):  # no dims: the flattened tensor rolls
        shift = ctx.int(-9, 9)
        return {
            "args": Expr(ctx.choice((f"{shift}", f"shifts={shift}"))),
            "shift": shift,
            "axis": None,
        }
    dims = _dims_tuple(ctx, rank)
    shifts = tuple(ctx.int(-9, 9) for _ in dims)
    if len(dims) == 1 and ctx.coin():
        args = ctx.choice((f"{shifts[0]}, {dims[0]}", f"shifts={shifts[0]}, dims={dims[0]}"))
    else:
        args = ctx.choice((f"{shifts!r}, {dims!r}", f"{list(shifts)!r}, dims={list(dims)!r}"))
    return {"args": Expr(args), "shift": shifts, "axis": dims}


def tri_attrs(ctx: Ctx) -> dict[str, Any]:
    n, m = ctx.shapes[0][-2:]
    k = ctx.int(-n - 1, m + 1)
    forms = [f"{k}", f"diagonal={k}"] + ([""] if k == 0 else [])
    form = ctx.choice(forms)
    return {"k": k, "args": Expr(form), "_args": Expr(", " + form if form else "")}


def diag_attrs(ctx: Ctx) -> dict[str, Any]:
    shape = ctx.shapes[0]
    n = shape[0] if shape else 1
    k = ctx.int(-n - 1, (shape[-1] if shape else 1) + 1)
    form = ctx.choice((f", {k}", f", diagonal={k}") + (("",) if k == 0 else ()))
    return {"k": k, "_args": Expr(form)}


def diagonal_attrs(ctx: Ctx) -> dict[str, Any]:
    shape = ctx.shapes[0]
    rank = len(shape)
    d1, d2 = _dims_tuple(ctx, rank, 2)
    k = ctx.int(-shape[d1] - 1, shape[d2] + 1)
    return {"k": k, "d1": d1, "d2": d2}


def diag_embed_attrs(ctx: Ctx) -> dict[str, Any]:
    rank = len(ctx.shapes[0]) + 1
    d1, d2 = _dims_tuple(ctx, rank, 2)
    k = ctx.int(-3, 3)
    args = ctx.choice(
        (f", {k}, {d1}, {d2}", f", offset={k}, dim1={d1}, dim2={d2}")
        + ((f", {k}",) if (d1 % rank, d2 % rank) == (rank - 2, rank - 1) else ())
    )
    return {"k": k, "d1": d1, "d2": d2, "_args": Expr(args)}


def repeat_attrs(ctx: Ctx) -> dict[str, Any] | None:
    shape = ctx.shapes[0]
    sizes = [ctx.int(1, 3) for _ in range(len(shape) + ctx.int(0, 1))]
    if not sizes or math.prod(shape) * math.prod(sizes) > 4 * MAX_NUMEL:
        return None
    forms = [", ".join(map(str, sizes)), repr(sizes), repr(tuple(sizes))]
    return {
        "sizes": Expr(ctx.choice(forms)),
        "seq": Expr(ctx.choice(forms[1:])),
        "reps": tuple(sizes),
    }


def repeat_interleave_attrs(ctx: Ctx) -> dict[str, Any] | None:
    shape = ctx.shapes[0]
    numel = math.prod(shape)
    if not shape or ctx.coin(0.3):
        r = ctx.int(0, 3)
        return (
            None
            if numel * r > 4 * MAX_NUMEL
            else {"r": Expr(f"{r}"), "rn": r, "dkw": Expr(""), "axis": None}
        )
    d = _one_dim(ctx, len(shape))
    if ctx.coin(0.6):
        r = ctx.int(0, 3)
        rn: Any = r
        rpf = f"{r}"
    else:  # a tensor of repeats per entry along d (the host holds it: the shape needs it)
        rn = [ctx.int(0, 3) for _ in range(shape[d])]
        rpf = f"pf.from_numpy(np.array({rn!r}, np.int32))"
    if numel * 3 > 4 * MAX_NUMEL:
        return None
    return {"r": Expr(rpf), "rn": rn, "dkw": _dim_arg(ctx, d), "axis": d}


def movedim_attrs(ctx: Ctx) -> dict[str, Any]:
    rank = len(ctx.shapes[0])
    k = ctx.int(1, rank)
    src, dst = _dims_tuple(ctx, rank, k), _dims_tuple(ctx, rank, k)
    if k == 1 and ctx.coin():
        return {"src": src[0], "dst": dst[0]}
    return {"src": src, "dst": dst}


def unbind_attrs(ctx: Ctx) -> dict[str, Any] | None:
    shape = ctx.shapes[0]
    d = _one_dim(ctx, len(shape))
    if shape[d] == 0:
        return None
    return {"d": d, "k": ctx.int(0, shape[d] - 1)}


def tensor_split_attrs(ctx: Ctx) -> dict[str, Any]:
    shape = ctx.shapes[0]
    d = _one_dim(ctx, len(shape))
    n = shape[d]
    if ctx.coin():
        sections = ctx.int(1, n + 2)
        sizes = [n // sections + (1 if i < n % sections else 0) for i in range(sections)]
        bounds = [sum(sizes[:i]) for i in range(sections + 1)]
        how = f"{sections}"
    else:
        cuts = sorted(ctx.int(0, n + 2) for _ in range(ctx.int(0, 3)))
        bounds = [0] + [min(c, n) for c in cuts] + [n]
        how = repr(cuts) if ctx.coin() else repr(tuple(cuts))
    k = ctx.int(0, len(bounds) - 2)
    lo, hi = bounds[k], max(bounds[k], bounds[k + 1])
    return {"how": Expr(how), "d": d, "k": k, "lo": lo, "hi": hi}


def diff_attrs(ctx: Ctx) -> dict[str, Any] | None:
    """diff: n, dim (`args`: left out when they are the defaults) and, for the entry with
    prepend and append, pieces of the operand itself (`ps`, `pl`; `as_`, `al`: start, length)."""
    shape = ctx.shapes[0]
    d = _one_dim(ctx, len(shape))
    n = ctx.int(1, 3)
    if not shape[d]:
        return None
    ps, as_ = ctx.int(0, shape[d] - 1), ctx.int(0, shape[d] - 1)
    pl, al = ctx.int(1, shape[d] - ps), ctx.int(1, shape[d] - as_)
    args = f"{n}, {d}" if ctx.coin() else f"n={n}, dim={d}"
    if n == 1 and d == -1 and ctx.coin():
        args = ""
    return {"args": Expr(args), "n": n, "d": d, "ps": ps, "pl": pl, "as_": as_, "al": al}


def aminmax_attrs(ctx: Ctx) -> dict[str, Any]:
    shape = ctx.shapes[0]
    if ctx.coin(0.3):
        return {"args": Expr(""), "_args": Expr(""), "axis": None, "keepdims": False}
    d = _one_dim(ctx, len(shape))
    kd = ctx.coin()
    args = f"dim={d}, keepdim={kd}" if kd or ctx.coin() else f"dim={d}"
    return {
        "args": Expr(args),
        "_args": Expr(", " + args),
        "axis": d if shape else None,
        "keepdims": kd,
    }


def count_attrs(ctx: Ctx) -> dict[str, Any]:
    attrs = reduce_attrs(ctx)
    dims = attrs["dims"]
    args = "" if dims is None and ctx.coin() else ctx.choice((f"{dims!r}", f"dim={dims!r}"))
    return {
        **attrs,
        "args": Expr(args),
        "_args": Expr(", " + args if args else ""),
        "keepdims": False,
    }


_INF = float("inf")


def norm_attrs(ctx: Ctx) -> dict[str, Any]:
    attrs = reduce_attrs(ctx)
    dims = attrs["dims"]
    many = isinstance(dims, tuple) and len(dims) > 2 or dims is None and len(ctx.shapes[0]) > 2
    p = ctx.choice((2, 2.0, 1, 3, _INF, -_INF, 0) + (() if many else ("fro",)))
    ppf = {_INF: "float('inf')", -_INF: "float('-inf')"}.get(p, repr(p))
    kd = attrs["keepdims"]
    args = ctx.choice(
        (f"{ppf}, {dims!r}, {kd}", f"p={ppf}, dim={dims!r}, keepdim={kd}")
        + ((f"{ppf}",) if dims is None and not kd else ())
    )
    return {**attrs, "args": Expr(args), "p": Expr(ppf)}


def std_mean_attrs(ctx: Ctx) -> dict[str, Any]:
    """var_attrs, but `unbiased=` only with a dim (torch.var_mean / std_mean(x, unbiased=False)
    without one match no overload of PyTorch's)."""
    while True:
        attrs = var_attrs(ctx)
        if "unbiased=" not in attrs["args"] or attrs["dims"] is not None:
            return attrs


def cross_attrs(ctx: Ctx) -> dict[str, Any] | None:
    shape = ctx.shapes[0]
    fits = [d for d, n in enumerate(shape) if n == 3]
    if not fits:
        return None
    d = ctx.choice(fits)
    return {"d": d - len(shape) if ctx.coin(0.3) else d}


def small_partner(ctx: Ctx) -> Shape:
    """A small tensor of rank 0-2 (kron's second operand)."""
    return tuple(ctx.int(1, 4) for _ in range(ctx.int(0, 2)))


def tensordot_partner(ctx: Ctx) -> Shape:
    a = ctx.shapes[0]
    k = ctx.int(0, min(len(a), 2))
    return a[len(a) - k :] + tuple(ctx.choice(SIZES) for _ in range(ctx.int(0, 2)))


def tensordot_attrs(ctx: Ctx) -> dict[str, Any] | None:
    a, b = ctx.shapes
    fits = [k for k in range(min(len(a), len(b)) + 1) if a[len(a) - k :] == b[:k]]
    k = ctx.choice(fits)
    out = a[: len(a) - k] + b[k:]
    if math.prod(out) > 4 * MAX_NUMEL or len(out) > 4:
        return None
    la, lb = list(range(len(a) - k, len(a))), list(range(k))
    order = [int(i) for i in ctx.rng.permutation(k)]
    la, lb = [la[i] for i in order], [lb[i] for i in order]  # any order, the same for both
    form = ctx.choice((f"{k}", f"dims={k}", f"({la!r}, {lb!r})", f"dims=[{la!r}, {lb!r}]"))
    return {"dims": Expr(form), "axes": (la, lb)}


def inner_partner(ctx: Ctx) -> Shape:
    a = ctx.shapes[0]
    lead = tuple(ctx.choice(SIZES) for _ in range(ctx.int(0, 2)))
    return lead + a[-1:] if a else lead


def addmm_partner(ctx: Ctx) -> Shape:
    n, p = ctx.shapes[0]
    if len(ctx.shapes) == 1:
        return (n, ctx.choice(SIZES))
    return (ctx.shapes[1][1], p)


def searchsorted_attrs(ctx: Ctx) -> dict[str, Any]:
    right = ctx.coin()
    form = ctx.choice(
        (f", right={right}", f", side={'right' if right else 'left'!r}")
        + (("",) if not right else ())
    )
    return {"right": right, "kw": Expr(form + ctx.choice(("", ", out_int32=True")))}


def clamp_one_attrs(ctx: Ctx) -> dict[str, Any]:
    return {"c": ctx.choice(EXACT_SCALARS)}


def lerp_attrs(ctx: Ctx) -> dict[str, Any]:
    return {"w": ctx.choice((0.0, 0.25, 0.5, 0.75, 1.0, -0.5, 1.5, 0.3))}


def round_attrs(ctx: Ctx) -> dict[str, Any]:
    return {"dec": ctx.choice((1, 2, -1, 3))}


def split_fn_attrs(ctx: Ctx) -> dict[str, Any]:
    """softplus & co: keyword arguments and their numpy values."""
    return {
        "beta": ctx.choice((1.0, 2.0, 0.5)),
        "th": ctx.choice((20.0, 1.0, 5.0)),
        "alpha": ctx.choice((1.0, 0.5, 2.0)),
        "slope": ctx.choice((0.01, 0.2, 1.5)),
        "lambd": ctx.choice((0.5, 1.0, 0.25)),
        "lo": ctx.choice((-1, -2, 0)),
        "hi": ctx.choice((1, 3, 6)),
        # the operand's numpy dtype, for a reference that rounds where PyTorch's does
        "rt": Expr(NP_DTYPE[ctx.dtypes[0]] if ctx.dtypes else "np.float32"),
    }


def vander_attrs(ctx: Ctx) -> dict[str, Any]:
    n = ctx.int(1, 5)
    inc = ctx.coin()
    return {
        "N": n,
        "inc": inc,
        "args": Expr(ctx.choice((f", N={n}, increasing={inc}", f", {n}, {inc}"))),
    }


def trapezoid_attrs(ctx: Ctx) -> dict[str, Any] | None:
    shape = ctx.shapes[0]
    d = _one_dim(ctx, len(shape))
    if not shape[d]:
        return None
    dx = ctx.choice((None, 0.5, 2.0, 1.0))
    kw = ("" if dx is None else f", dx={dx!r}") + (f", dim={d}" if d != -1 or ctx.coin() else "")
    return {"kw": Expr(kw), "dx": 1.0 if dx is None else dx, "d": d}


def isin_partner(ctx: Ctx) -> Shape:
    return tuple(ctx.int(1, 6) for _ in range(ctx.int(0, 2)))


# ============================================================================ the registry


def binary(sym: str, fn: str) -> tuple[str, ...]:
    """`a + b`, `pf.add(a, b)`, `a.add(b)`."""
    return (f"{{0}} {sym} {{1}}", f"pf.{fn}({{0}}, {{1}})", f"{{0}}.{fn}({{1}})")


def unary(fn: str) -> tuple[str, ...]:
    """`pf.exp(x)`, `x.exp()`."""
    return (f"pf.{fn}({{0}})", f"{{0}}.{fn}()")


_LAYOUT = {"attrs": lambda c: {"layout": layout_kw(c)}}
_BCAST = {"partner": broadcast_partner}
_EXACT_ANY = {"dtypes": ANY, "result": "same", "exact": True}
_GELU = "0.5 * {0} * (1.0 + np.vectorize(math.erf)({0} / math.sqrt(2.0)))"

OPS: tuple[OpSpec, ...] = (
    # ---------------------------------------------------------------- creation
    op(
        "from_numpy",
        0,
        "pf.from_numpy({data}{layout})",
        "{data}.astype(np.float64)",
        dtypes=ANY,
        attrs=data_attrs,
        weight=8,
    ),
    op(
        "randn",
        0,
        "pf.randn({size}{dtype}{layout})",
        "np.zeros({shape})",
        attrs=random_creation_attrs,
        random=True,
        weight=2,
    ),
    op(
        "zeros",
        0,
        "pf.zeros({size}{dtype}{layout})",
        "np.zeros({shape})",
        dtypes=ANY,
        attrs=lambda c: None if c.domain else size_attrs(c),
        weight=0.5,
    ),
    op(
        "ones",
        0,
        "pf.ones({size}{dtype}{layout})",
        "np.ones({shape})",
        dtypes=ANY,
        attrs=size_attrs,
        weight=0.5,
    ),
    op(
        "full",
        0,
        "pf.full({seq}, {value}{dtype}{layout})",
        "np.full({shape}, {value})",
        dtypes=ANY,
        attrs=fill_attrs,
        weight=0.7,
    ),
    op(
        "arange",
        0,
        "pf.arange({args}{layout})",
        "np.arange({start}, {end}, {step})",
        dtypes=frozenset({"int32", "float32"}),
        attrs=arange_attrs,
        weight=0.3,
    ),
    op(
        "eye",
        0,
        "pf.eye({args}{dtype}{layout})",
        "np.eye({n}, {m})",
        dtypes=ANY,
        attrs=eye_attrs,
        weight=0.3,
    ),
    op(
        "rand",
        0,
        "pf.rand({size}{dtype}{layout})",
        "np.zeros({shape})",
        attrs=random_creation_attrs,
        random=True,
        valid="({v} >= 0) & ({v} < 1)",
        weight=0.5,
    ),
    op(
        "randint",
        0,
        "pf.randint({args}{layout})",
        "np.zeros({shape})",
        dtypes=INTS,
        attrs=randint_attrs,
        random=True,
        valid="({v} >= {low}) & ({v} < {high})",
        weight=1.0,  # int32 leaves are few: it must still come in a few hundred programs
    ),
    op(
        "zeros_like",
        1,
        "pf.zeros_like({0}{layout})",
        "np.zeros_like({0})",
        dtypes=ANY,
        result="same",
        weight=0.3,
        **_LAYOUT,
    ),
    op(
        "ones_like",
        1,
        "pf.ones_like({0}{layout})",
        "np.ones_like({0})",
        dtypes=ANY,
        result="same",
        weight=0.3,
        **_LAYOUT,
    ),
    op(
        "full_like",
        1,
        "pf.full_like({0}, {value}{layout})",
        "np.full_like({0}, {value})",
        dtypes=ANY,
        result="same",
        attrs=full_like_attrs,
        weight=0.3,
    ),
    op(
        "randn_like",
        1,
        "pf.randn_like({0}{layout})",
        "np.zeros_like({0})",
        result="same",
        random=True,
        weight=0.4,
        **_LAYOUT,
    ),
    op(
        "rand_like",
        1,
        "pf.rand_like({0}{layout})",
        "np.zeros_like({0})",
        result="same",
        random=True,
        valid="({v} >= 0) & ({v} < 1)",
        weight=0.3,
        **_LAYOUT,
    ),
    # ---------------------------------------------------------------- elementwise
    op("add", 2, binary("+", "add"), "{0} + {1}", dtypes=ANY, weight=2, **_BCAST),
    op("sub", 2, binary("-", "sub"), "{0} - {1}", dtypes=NUMBERS, weight=2, **_BCAST),
    op("mul", 2, binary("*", "mul"), "{0} * {1}", dtypes=ANY, weight=2, **_BCAST),
    op(
        "div",
        2,
        binary("/", "div"),
        "{0} / {1}",
        dtypes=NUMBERS,
        result="float",
        nonzero=(1,),
        weight=1.5,
        **_BCAST,
    ),
    op(
        "add_scalar",
        1,
        ("{0} + {c}", "{c} + {0}", "pf.add({0}, {c})", "{0}.add({c})"),
        "{0} + {c}",
        dtypes=NUMBERS,
        scalars=("c",),
        attrs=scalar_attrs,
    ),
    op(
        "sub_scalar",
        1,
        ("{0} - {c}", "pf.sub({0}, {c})", "{0}.sub({c})"),
        "{0} - {c}",
        dtypes=NUMBERS,
        scalars=("c",),
        attrs=scalar_attrs,
    ),
    op(
        "rsub_scalar",
        1,
        ("{c} - {0}", "pf.sub({c}, {0})"),
        "{c} - {0}",
        dtypes=NUMBERS,
        scalars=("c",),
        attrs=scalar_attrs,
    ),
    op(
        "mul_scalar",
        1,
        ("{0} * {c}", "{c} * {0}", "pf.mul({c}, {0})", "{0}.mul({c})"),
        "{0} * {c}",
        dtypes=NUMBERS,
        scalars=("c",),
        attrs=scalar_attrs,
    ),
    op(
        "div_scalar",
        1,
        ("{0} / {c}", "pf.div({0}, {c})", "{0}.div({c})"),
        "{0} / {c}",
        dtypes=NUMBERS,
        result="float",
        scalars=("c",),
        attrs=nonzero_scalar_attrs,
    ),
    op(
        "rdiv_scalar",
        1,
        ("{c} / {0}", "pf.div({c}, {0})"),
        "{c} / {0}",
        dtypes=NUMBERS,
        result="float",
        scalars=("c",),
        attrs=scalar_attrs,
        nonzero=(0,),
        weight=0.7,
    ),
    op("neg", 1, ("-{0}", "pf.neg({0})", "{0}.neg()"), "-{0}", dtypes=NUMBERS, exact=True),
    op("relu", 1, unary("relu"), "np.maximum({0}, 0.0)", dtypes=NUMBERS, exact=True, weight=1.5),
    op("abs", 1, unary("abs"), "np.abs({0})", dtypes=NUMBERS, exact=True, weight=0.5),
    op("exp", 1, unary("exp"), "np.exp({0})", weight=0.5),
    op("log", 1, unary("log"), "np.log({0})", positive=(0,), weight=0.5),
    op("sqrt", 1, unary("sqrt"), "np.sqrt({0})", positive=(0,), weight=0.5),
    op("rsqrt", 1, unary("rsqrt"), "1.0 / np.sqrt({0})", positive=(0,), weight=0.5),
    op("tanh", 1, unary("tanh"), "np.tanh({0})", weight=0.5),
    op("sigmoid", 1, unary("sigmoid"), "1.0 / (1.0 + np.exp(-{0}))", weight=0.5),
    op("gelu", 1, ("pf.gelu({0})", "pf.nn.functional.gelu({0})"), _GELU, weight=0.5),
    op(
        "silu",
        1,
        ("pf.silu({0})", "pf.nn.functional.silu({0})"),
        "{0} / (1.0 + np.exp(-{0}))",
        weight=0.5,
    ),
    op(
        "pow",
        2,
        ("{0} ** {1}", "pf.pow({0}, {1})", "{0}.pow({1})"),
        "{0} ** {1}",
        positive=(0,),
        weight=0.5,
        **_BCAST,
    ),
    op(
        "pow_scalar",
        1,
        ("{0} ** {c}", "pf.pow({0}, {c})", "{0}.pow({c})"),
        "{0} ** {c}",
        scalars=("c",),
        attrs=pow_attrs,
        positive=(0,),
        weight=0.5,
    ),
    op(
        "pow_int_scalar",
        1,
        ("{0} ** {c}", "pf.pow({0}, {c})"),
        "{0} ** {c}",
        dtypes=NUMBERS,
        scalars=("c",),
        attrs=int_pow_attrs,
        weight=0.4,
    ),
    # ---------------------------------------------------------------- float_power, frexp (session 31)
    # float_power: PyTorch's float64 result is float32 in PyFlame (docs/ops.md), every operand
    # dtype widened to it first (an int32 base to a negative power is 0.5, not pow's refusal)
    op(
        "float_power",
        2,
        ("pf.float_power({0}, {1})", "{0}.float_power({1})"),
        "np.power({0}, {1})",
        dtypes=NUMBERS,
        result="float32",
        positive=(0,),
        weight=0.3,
        **_BCAST,
    ),
    op(
        "float_power_scalar",
        1,
        ("pf.float_power({0}, {c})", "{0}.float_power({c})"),
        "np.power({0}, {c})",
        dtypes=NUMBERS,
        result="float32",
        scalars=("c",),
        attrs=pow_attrs,
        positive=(0,),
        weight=0.3,
    ),
    op(
        "frexp_mantissa",
        1,
        ("pf.frexp({0}).mantissa", "pf.frexp({0})[0]", "{0}.frexp()[0]"),
        "np.frexp({0})[0]",
        result="same",
        exact=True,
        exact_operands=True,  # (an operand rounded across a power of two: 0.5 against ~1)
        weight=0.2,
    ),
    op(
        "frexp_exponent",
        1,
        ("pf.frexp({0}).exponent", "pf.frexp({0})[1]", "{0}.frexp()[1]"),
        "np.frexp({0})[1]",
        result="int32",
        compute="none",
        exact=True,
        exact_operands=True,
        weight=0.2,
    ),
    op(
        "rpow_scalar",
        1,
        ("{c} ** {0}", "pf.pow({c}, {0})"),
        "{c} ** {0}",
        scalars=("c",),
        attrs=rpow_attrs,
        weight=0.3,
    ),
    op(
        "maximum",
        2,
        ("pf.maximum({0}, {1})", "{0}.maximum({1})"),
        "np.maximum({0}, {1})",
        dtypes=ANY,
        exact=True,
        weight=0.5,
        **_BCAST,
    ),
    op(
        "minimum",
        2,
        ("pf.minimum({0}, {1})", "{0}.minimum({1})"),
        "np.minimum({0}, {1})",
        dtypes=ANY,
        exact=True,
        weight=0.5,
        **_BCAST,
    ),
    op(
        "clamp",
        1,
        ("pf.clamp({0}, {args})", "{0}.clamp({args})"),
        "np.clip({0}, {lo}, {hi})",
        dtypes=NUMBERS,
        scalars=("lo", "hi"),
        attrs=clamp_attrs,
        exact=True,
        weight=0.5,
    ),
    *(
        op(
            name,
            2,
            binary(sym, name),
            f"{{0}} {sym} {{1}}",
            dtypes=ANY,
            result="bool",
            compute="promote",
            exact_operands=True,
            weight=0.3,
            **_BCAST,
        )
        for name, sym in (
            ("eq", "=="),
            ("ne", "!="),
            ("lt", "<"),
            ("le", "<="),
            ("gt", ">"),
            ("ge", ">="),
        )
    ),
    op(
        "compare_scalar",
        1,
        ("{0} {cmp} {c}", "{c} {rcmp} {0}"),
        "{0} {cmp} {c}",
        dtypes=NUMBERS,
        result="bool",
        compute="promote",
        attrs=compare_scalar_attrs,
        exact_operands=True,
        weight=0.5,
    ),
    op(
        "logical_and",
        2,
        ("pf.logical_and({0}, {1})", "{0} & {1}"),
        "np.logical_and({0}, {1})",
        dtypes=BOOL,
        result="bool",
        weight=0.3,
        **_BCAST,
    ),
    op(
        "logical_or",
        2,
        ("pf.logical_or({0}, {1})", "{0} | {1}"),
        "np.logical_or({0}, {1})",
        dtypes=BOOL,
        result="bool",
        weight=0.3,
        **_BCAST,
    ),
    op(
        "logical_not",
        1,
        ("pf.logical_not({0})", "~{0}"),
        "np.logical_not({0})",
        dtypes=BOOL,
        result="bool",
        weight=0.3,
    ),
    op(
        "where",
        3,
        ("pf.where({0}, {1}, {2})",),
        "np.where({0} != 0, {1}, {2})",
        dtypes=(BOOL, ANY, ANY),
        result="where",
        exact=True,
        weight=0.5,
        **_BCAST,
    ),
    op(
        "where_scalar",
        2,
        ("pf.where({0}, {1}, {c})",),
        "np.where({0} != 0, {1}, {c})",
        dtypes=(BOOL, ANY),
        result="where",
        scalars=("c",),
        attrs=exact_scalar_attrs,
        exact=True,
        weight=0.3,
        **_BCAST,
    ),
    # ---------------------------------------------------------------- dtype conversion
    # (the reference of a half-precision result is rounded to it: "{0}" is the conversion)
    op(
        "to_float32",
        1,
        ("{0}.float()", "{0}.to(pf.float32)", "pf.astype({0}, pf.float32)"),
        "{0}",
        dtypes=ANY,
        compute="none",
        result="float32",
        exact=True,
        weight=0.3,
    ),
    op(
        "to_float16",
        1,
        ("{0}.half()", "{0}.to(pf.float16)", "{0}.astype(pf.float16)"),
        "{0}",
        dtypes=ANY,
        compute="none",
        result="float16",
        exact=True,
        weight=0.2,
    ),
    op(
        "to_bfloat16",
        1,
        ("{0}.bfloat16()", "{0}.to(pf.bfloat16)"),
        "{0}",
        dtypes=ANY,
        compute="none",
        result="bfloat16",
        exact=True,
        weight=0.2,
    ),
    op(
        "to_int32",
        1,
        ("{0}.int()", "{0}.to(pf.int32)"),
        "np.trunc({0})",
        dtypes=ANY,
        compute="none",
        result="int32",
        exact_operands=True,
        weight=0.3,
    ),
    op(
        "to_bool",
        1,
        ("{0}.bool()", "{0}.to(pf.bool)"),
        "({0} != 0)",
        dtypes=ANY,
        compute="none",
        result="bool",
        exact_operands=True,
        weight=0.2,
    ),
    # ---------------------------------------------------------------- reductions
    op(
        "sum",
        1,
        ("{0}.sum({args})", "pf.sum({0}{_args})"),
        "{0}.sum(axis={axis}, keepdims={keepdims})",
        dtypes=ANY,
        result="sum",
        attrs=reduce_attrs,
        weight=2,
    ),
    op(
        "mean",
        1,
        ("{0}.mean({args})", "pf.mean({0}{_args})"),
        "{0}.mean(axis={axis}, keepdims={keepdims})",
        attrs=reduce_attrs,
        weight=2,
    ),
    op(
        "amax",
        1,
        ("{0}.amax({args})", "pf.amax({0}{_args})"),
        "{0}.max(axis={axis}, keepdims={keepdims})",
        dtypes=NUMBERS,
        result="same",
        attrs=reduce_attrs,
        exact=True,
    ),
    op(
        "amin",
        1,
        ("{0}.amin({args})", "pf.amin({0}{_args})"),
        "{0}.min(axis={axis}, keepdims={keepdims})",
        dtypes=NUMBERS,
        result="same",
        attrs=reduce_attrs,
        exact=True,
    ),
    op(
        "max_all",
        1,
        ("{0}.max()", "pf.max({0})"),
        "{0}.max()",
        dtypes=NUMBERS,
        result="same",
        exact=True,
        weight=0.5,
    ),
    op(
        "min_all",
        1,
        ("{0}.min()", "pf.min({0})"),
        "{0}.min()",
        dtypes=NUMBERS,
        result="same",
        exact=True,
        weight=0.5,
    ),
    op(
        "max_dim",
        1,
        ("{0}.max({args})[0]", "pf.max({0}, {args}).values"),
        "{0}.max(axis={axis}, keepdims={keepdims})",
        dtypes=NUMBERS,
        result="same",
        attrs=dim_attrs,
        exact=True,
        weight=0.5,
    ),
    op(
        "min_dim",
        1,
        ("{0}.min({args})[0]", "pf.min({0}, {args}).values"),
        "{0}.min(axis={axis}, keepdims={keepdims})",
        dtypes=NUMBERS,
        result="same",
        attrs=dim_attrs,
        exact=True,
        weight=0.5,
    ),
    op(
        "max_dim_indices",
        1,
        ("{0}.max({args})[1]", "pf.max({0}, {args}).indices"),
        "np.argmax({0}, axis={axis}, keepdims={keepdims})",
        dtypes=NUMBERS,
        result="int32",
        compute="none",
        attrs=dim_attrs,
        exact_operands=True,
        weight=0.3,
    ),
    op(
        "argmax",
        1,
        ("{0}.argmax({args})", "pf.argmax({0}{_args})"),
        "np.argmax({0}, axis={axis}, keepdims={keepdims})",
        dtypes=NUMBERS,
        result="int32",
        compute="none",
        attrs=arg_attrs,
        exact_operands=True,
        weight=0.5,
    ),
    op(
        "argmin",
        1,
        ("{0}.argmin({args})", "pf.argmin({0}{_args})"),
        "np.argmin({0}, axis={axis}, keepdims={keepdims})",
        dtypes=NUMBERS,
        result="int32",
        compute="none",
        attrs=arg_attrs,
        exact_operands=True,
        weight=0.5,
    ),
    op(
        "var",
        1,
        ("{0}.var({args})", "pf.var({0}{_args})"),
        "{0}.var(axis={axis}, ddof={ddof}, keepdims={keepdims})",
        attrs=var_attrs,
        weight=0.5,
    ),
    op(
        "std",
        1,
        ("{0}.std({args})", "pf.std({0}{_args})"),
        "{0}.std(axis={axis}, ddof={ddof}, keepdims={keepdims})",
        attrs=var_attrs,
        weight=0.5,
    ),
    op(
        "prod",
        1,
        ("{0}.prod({args})", "pf.prod({0}{_args})"),
        "{0}.prod(axis={axis}, keepdims={keepdims})",
        dtypes=ANY,
        result="sum",
        attrs=single_dim_reduce_attrs,
        weight=0.5,
    ),
    op(
        "logsumexp",
        1,
        ("{0}.logsumexp({args})", "pf.logsumexp({0}{_args})"),
        "({0}.max(axis={axis}, keepdims=True) + np.log(np.exp({0} - {0}.max(axis={axis}, "
        "keepdims=True)).sum(axis={axis}, keepdims=True))).reshape({out})",
        attrs=lse_attrs,
        weight=0.5,
    ),
    op(
        "softmax",
        1,
        ("pf.softmax({0}, {args})", "{0}.softmax({args})"),
        "np.exp({0} - {0}.max(axis={axis}, keepdims=True)) / np.exp({0} - {0}.max(axis={axis}, "
        "keepdims=True)).sum(axis={axis}, keepdims=True)",
        attrs=softmax_attrs,
        weight=0.5,
    ),
    op(
        "log_softmax",
        1,
        ("pf.log_softmax({0}, {args})", "{0}.log_softmax({args})"),
        "{0} - {0}.max(axis={axis}, keepdims=True) - np.log(np.exp({0} - {0}.max(axis={axis}, "
        "keepdims=True)).sum(axis={axis}, keepdims=True))",
        attrs=softmax_attrs,
        weight=0.5,
    ),
    # ---------------------------------------------------------------- linear algebra
    op(
        "matmul",
        2,
        ("{0} @ {1}", "pf.matmul({0}, {1})", "{0}.matmul({1})"),
        "{0} @ {1}",
        same_dtype=True,
        accepts=rank_in(2),
        partner=matmul_partner,
        weight=2,
    ),
    op(
        "bmm",
        2,
        ("pf.bmm({0}, {1})", "{0}.bmm({1})"),
        "{0} @ {1}",
        same_dtype=True,
        accepts=rank_in(3),
        partner=lambda c: (c.shapes[0][0], c.shapes[0][2], c.choice(SIZES)),
        weight=0.5,
    ),
    op(
        "linear",
        2,
        "pf.nn.functional.linear({0}, {1})",
        "{0} @ {1}.T",
        same_dtype=True,
        accepts=min_rank(1),
        partner=linear_partner,
        weight=0.5,
    ),
    op(
        "linear_bias",
        3,
        "pf.nn.functional.linear({0}, {1}, {2})",
        "{0} @ {1}.T + {2}",
        same_dtype=True,
        accepts=min_rank(1),
        partner=linear_partner,
        weight=0.3,
    ),
    op(
        "layer_norm",
        1,
        "pf.nn.functional.layer_norm({0}, {normalized}{eps_kw})",
        "({0} - {0}.mean(axis={axes}, keepdims=True)) / np.sqrt({0}.var(axis={axes}, "
        "keepdims=True) + {eps})",
        accepts=min_rank(1),
        attrs=layer_norm_attrs,
        weight=0.3,
    ),
    op(
        "layer_norm_affine",
        3,
        "pf.nn.functional.layer_norm({0}, {normalized}, {1}, {2}{eps_kw})",
        "({0} - {0}.mean(axis={axes}, keepdims=True)) / np.sqrt({0}.var(axis={axes}, "
        "keepdims=True) + {eps}) * {1} + {2}",
        same_dtype=True,
        accepts=min_rank(1),
        partner=layer_norm_partner,
        attrs=layer_norm_attrs,
        weight=0.3,
    ),
    # ---------------------------------------------------------------- shape
    op(
        "unsqueeze",
        1,
        ("pf.unsqueeze({0}, {d})", "{0}.unsqueeze({d})"),
        "np.expand_dims({0}, {d})",
        accepts=lambda s: len(s) < 4,
        attrs=unsqueeze_attrs,
        **_EXACT_ANY,
    ),
    op(
        "squeeze",
        1,
        ("pf.squeeze({0}{_args})", "{0}.squeeze({args})"),
        "{0}.reshape({shape})",
        attrs=squeeze_attrs,
        **_EXACT_ANY,
    ),
    op(
        "flatten",
        1,
        ("pf.flatten({0}{_args})", "{0}.flatten({args})"),
        "{0}.reshape({shape})",
        attrs=flatten_attrs,
        **_EXACT_ANY,
    ),
    op(
        "expand",
        1,
        ("{0}.expand({size})", "pf.expand({0}, {size})"),
        "np.broadcast_to({0}, {shape})",
        attrs=expand_attrs,
        **_EXACT_ANY,
    ),
    op(
        "broadcast_to",
        1,
        ("pf.broadcast_to({0}, {seq})", "{0}.broadcast_to({seq})"),
        "np.broadcast_to({0}, {shape})",
        attrs=expand_attrs,
        **_EXACT_ANY,
    ),
    op(
        "cat",
        2,
        ("pf.cat([{0}, {1}], {dim})", "pf.cat(({0}, {1}), {dim})", "pf.concat([{0}, {1}], {dim})"),
        "np.concatenate([{0}, {1}], axis={d})",
        dtypes=ANY,
        accepts=min_rank(1),
        partner=cat_partner,
        attrs=cat_attrs,
        exact=True,
    ),
    op(
        "stack",
        2,
        ("pf.stack([{0}, {1}], {dim})", "pf.stack(({0}, {1}), {dim})"),
        "np.stack([{0}, {1}], axis={d})",
        dtypes=ANY,
        attrs=stack_attrs,
        exact=True,
        weight=0.5,
    ),
    op(
        "stack3",
        3,
        "pf.stack([{0}, {1}, {2}], {dim})",
        "np.stack([{0}, {1}, {2}], axis={d})",
        dtypes=ANY,
        attrs=stack_attrs,
        exact=True,
        weight=0.3,
    ),
    op(
        "split",
        1,
        ("pf.split({0}, {how}, {d})[{k}]", "{0}.split({how}, dim={d})[{k}]"),
        "np.take({0}, np.arange({lo}, {hi}), axis={d})",
        accepts=min_rank(1),
        attrs=split_attrs,
        weight=0.5,
        **_EXACT_ANY,
    ),
    op(
        "chunk",
        1,
        ("pf.chunk({0}, {chunks}, {d})[{k}]", "{0}.chunk({chunks}, {d})[{k}]"),
        "np.take({0}, np.arange({lo}, {hi}), axis={d})",
        accepts=min_rank(1),
        attrs=chunk_attrs,
        weight=0.5,
        **_EXACT_ANY,
    ),
    op(
        "narrow",
        1,
        ("pf.narrow({0}, {d}, {start}, {length})", "{0}.narrow({d}, {start}, {length})"),
        "np.take({0}, np.arange({lo}, {hi}), axis={d})",
        accepts=min_rank(1),
        attrs=narrow_attrs,
        weight=0.5,
        **_EXACT_ANY,
    ),
    op(
        "pad",
        1,
        ("pf.pad({0}, {pads}{value_kw})", "pf.nn.functional.pad({0}, {pads}{value_kw})"),
        "np.pad({0}{crop}, {np_pad}, constant_values={value})",
        accepts=min_rank(1),
        attrs=pad_attrs,
        result="same",
        exact=True,
        weight=0.5,
    ),
    op(
        "transpose",
        1,
        ("{0}.transpose({d0}, {d1})", "pf.transpose({0}, {d0}, {d1})"),
        "np.transpose({0}, {perm})",
        attrs=transpose_attrs,
        weight=1.5,
        **_EXACT_ANY,
    ),
    op(
        "permute",
        1,
        ("{0}.permute({dims})", "pf.permute({0}, {dims})"),
        "np.transpose({0}, {perm})",
        accepts=min_rank(1),
        attrs=permute_attrs,
        **_EXACT_ANY,
    ),
    op("t", 1, "{0}.t()", "{0}.T", accepts=rank_in(0, 1, 2), weight=0.5, **_EXACT_ANY),
    op("T", 1, "{0}.T", "np.transpose({0})", accepts=min_rank(2), weight=0.5, **_EXACT_ANY),
    op(
        "reshape",
        1,
        (
            "{0}.reshape({size})",
            "{0}.view({size})",
            "pf.reshape({0}, {seq})",
            "pf.view({0}, {seq})",
        ),
        "{0}.reshape({shape})",
        attrs=reshape_attrs,
        weight=2,
        **_EXACT_ANY,
    ),
    # ---------------------------------------------------------------- cumulative (session 30)
    op(
        "cumsum",
        1,
        ("pf.cumsum({0}, {dim})", "{0}.cumsum({dim})"),
        "np.cumsum(np.atleast_1d({0}), axis={axis}).reshape({shape})",
        dtypes=ANY,
        result="sum",
        attrs=cum_attrs,
        weight=0.6,
    ),
    op(
        "cumprod",
        1,
        ("pf.cumprod({0}, {dim})", "{0}.cumprod({dim})"),
        "np.cumprod(np.atleast_1d({0}), axis={axis}).reshape({shape})",
        dtypes=ANY,
        result="sum",
        attrs=cum_attrs,
        weight=0.3,
    ),
    *(
        op(
            name,
            1,
            (f"pf.{name}({{0}}, {{dim}}).values", f"{{0}}.{name}({{dim}})[0]"),
            f"np.{ufunc}.accumulate(np.atleast_1d({{0}}), axis={{axis}}).reshape({{shape}})",
            dtypes=NUMBERS,
            result="same",
            attrs=cum_attrs,
            exact=True,
            weight=0.3,
        )
        for name, ufunc in (("cummax", "maximum"), ("cummin", "minimum"))
    ),
    *(
        op(
            f"{name}_indices",
            1,
            (f"pf.{name}({{0}}, {{dim}}).indices", f"{{0}}.{name}({{dim}})[1]"),
            f"fz.cum_extreme_indices({{0}}, {{d}}, {name == 'cummax'})",
            dtypes=NUMBERS,
            result="int32",
            compute="none",
            attrs=cum_attrs,
            exact_operands=True,
            weight=0.2,
        )
        for name in ("cummax", "cummin")
    ),
    op(
        "logcumsumexp",
        1,
        ("pf.logcumsumexp({0}, {dim})", "{0}.logcumsumexp({dim})"),
        "np.logaddexp.accumulate(np.atleast_1d({0}), axis={axis}).reshape({shape})",
        attrs=cum_attrs,
        weight=0.3,
    ),
    # ---------------------------------------------------------------- sorting (session 30)
    op(
        "sort",
        1,
        (
            "pf.sort({0}, {d}, {desc})[0]",
            "{0}.sort(dim={d}, descending={desc}).values",
            "pf.sort({0}, dim={d}, descending={desc}, stable=True).values",
        ),
        "fz.sort({0}, {d}, {desc})",
        dtypes=ANY,
        result="same",
        attrs=sort_attrs,
        exact=True,
        weight=0.5,
    ),
    op(
        "argsort_stable",
        1,
        (
            "pf.sort({0}, stable=True, dim={d}, descending={desc}).indices",
            "{0}.argsort(dim={d}, descending={desc}, stable=True)",
            "pf.argsort({0}, dim={d}, descending={desc}, stable=True)",
        ),
        "fz.argsort_stable({0}, {d}, {desc})",
        dtypes=NUMBERS,
        result="int32",
        compute="none",
        attrs=sort_attrs,
        exact_operands=True,
        weight=0.3,
    ),
    op(
        # the values at the (unstable) sort indices: the sorted values whatever the ties
        "sort_gather",
        1,
        (
            "pf.take_along_dim({0}, {0}.argsort({d}, {desc}), {d})",
            "pf.gather({0}, {d}, pf.sort({0}, {d}, {desc}).indices)",
        ),
        "fz.sort({0}, {d}, {desc})",
        dtypes=NUMBERS,
        result="same",
        accepts=min_rank(1),  # torch.take_along_dim of a 0-d tensor is an error
        attrs=sort_attrs,
        exact=True,
        weight=0.3,
    ),
    op(
        "msort",
        1,
        ("pf.msort({0})", "{0}.msort()"),
        "np.sort({0}, axis=0)",
        dtypes=NUMBERS,
        result="same",
        accepts=min_rank(1),
        exact=True,
        weight=0.2,
    ),
    op(
        "topk",
        1,
        (
            "pf.topk({0}, {k}, {d}, {largest}).values",
            "{0}.topk({k}, dim={d}, largest={largest})[0]",
            "{0}.topk({k}, {d}, {largest}, False).values.sort({d}, {largest}).values",
        ),
        "fz.topk({0}, {k}, {d}, {largest})",
        dtypes=NUMBERS,
        result="same",
        attrs=topk_attrs,
        exact=True,
        weight=0.5,
    ),
    op(
        "topk_gather",
        1,
        "pf.gather({0}, {d}, {0}.topk({k}, {d}, {largest}).indices)",
        "fz.topk({0}, {k}, {d}, {largest})",
        dtypes=NUMBERS,
        result="same",
        attrs=topk_attrs,
        exact=True,
        weight=0.2,
    ),
    op(
        "kthvalue",
        1,
        (
            "pf.kthvalue({0}, {k}, {d}, {keepdim}).values",
            "{0}.kthvalue({k}, {d}, keepdim={keepdim})[0]",
        ),
        "fz.kthvalue({0}, {k}, {d}, {keepdim})",
        dtypes=NUMBERS,
        result="same",
        attrs=topk_attrs,
        exact=True,
        weight=0.3,
    ),
    op(
        "kthvalue_gather",
        1,
        "pf.gather({0}, {d}, pf.kthvalue({0}, {k}, {d}, True).indices)",
        "fz.kthvalue({0}, {k}, {d}, True)",
        dtypes=NUMBERS,
        result="same",
        attrs=topk_attrs,
        exact=True,
        weight=0.2,
    ),
    op(
        "median_all",
        1,
        ("pf.median({0})", "{0}.median()"),
        "fz.median({0}, None, False)",
        dtypes=NUMBERS,
        result="same",
        # the median of nothing: PyTorch's NaN, not used; of more than 512 elements the n * n
        # ranks (docs/ops.md: "meant for modest sizes") outgrow SMALL's SRAM (program_for(3105,
        # 39): 1488 elements, an SRAMOverflowError, as documented)
        accepts=lambda s: 0 < math.prod(s) <= 512,
        exact=True,
        weight=0.2,
    ),
    op(
        "median",
        1,
        ("pf.median({0}, {d}, {keepdim}).values", "{0}.median({d}, keepdim={keepdim})[0]"),
        "fz.median({0}, {d}, {keepdim})",
        dtypes=NUMBERS,
        result="same",
        attrs=median_dim_attrs,
        exact=True,
        weight=0.3,
    ),
    op(
        "median_gather",
        1,
        "pf.gather({0}, {d}, pf.median({0}, {d}, True).indices)",
        "fz.median({0}, {d}, True)",
        dtypes=NUMBERS,
        result="same",
        attrs=median_dim_attrs,
        exact=True,
        weight=0.2,
    ),
    op(
        "mode",
        1,
        ("pf.mode({0}, {d}, {keepdim}).values", "{0}.mode({d}, keepdim={keepdim})[0]"),
        "fz.mode({0}, {d}, {keepdim})",
        dtypes=NUMBERS,
        result="same",
        attrs=median_dim_attrs,
        exact=True,
        exact_operands=True,
        weight=0.2,
    ),
    op(
        "mode_gather",
        1,
        "pf.gather({0}, {d}, pf.mode({0}, {d}, True).indices)",
        "fz.mode({0}, {d}, True)",
        dtypes=NUMBERS,
        result="same",
        attrs=median_dim_attrs,
        exact=True,
        exact_operands=True,
        weight=0.2,
    ),
    op(
        "quantile",
        1,
        (
            "pf.quantile({0}, {q}{args})",
            "{0}.quantile({q}{args})",
            "pf.nanquantile({0}, {q}{args})",
        ),
        "np.quantile({0}, {qn}, axis={axis}, keepdims={keepdims}, method={method})",
        dtypes=frozenset({"float32"}),
        attrs=quantile_attrs,
        weight=0.3,
    ),
    # ---------------------------------------------------------------- gather / scatter (session 30)
    op(
        "gather",
        1,
        (
            f"pf.gather({{0}}, {{d}}, {IDX})",
            f"{{0}}.gather({{d}}, {IDX})",
            f"pf.gather({{0}}, dim={{d}}, index={IDX})",
        ),
        "np.take_along_axis({0}{crop}, {idx}, axis={axis})",
        dtypes=ANY,
        result="same",
        accepts=min_rank(1),
        attrs=gather_attrs,
        exact=True,
        weight=0.5,
    ),
    op(
        "take_along_dim",
        1,
        (f"pf.take_along_dim({{0}}, {IDX}{{dkw}})", f"{{0}}.take_along_dim({IDX}{{dkw}})"),
        "fz.take_along_dim({0}, {idx}, {axis})",
        dtypes=ANY,
        result="same",
        attrs=take_along_attrs,
        exact=True,
        weight=0.3,
    ),
    op(
        "index_select",
        1,
        (f"pf.index_select({{0}}, {{d}}, {IDX})", f"{{0}}.index_select({{d}}, {IDX})"),
        "np.take({0}, {idx}, axis={d})",
        dtypes=ANY,
        result="same",
        accepts=min_rank(1),
        attrs=index_select_attrs,
        exact=True,
        weight=0.5,
    ),
    op(
        "take",
        1,
        (f"pf.take({{0}}, {IDX})", f"{{0}}.take({IDX})"),
        "np.take({0}.reshape(-1), {idx})",
        dtypes=ANY,
        result="same",
        attrs=take_attrs,
        exact=True,
        weight=0.3,
    ),
    op(
        "scatter",
        2,
        (
            f"pf.scatter({{0}}, {{d}}, {IDX}, {{1}})",
            f"{{0}}.scatter({{d}}, {IDX}, {{1}})",
            f"pf.scatter({{0}}, {{d}}, {IDX}, src={{1}})",
        ),
        "fz.scatter({0}, {axis}, {idx}, {1})",
        dtypes=ANY,
        result="same",
        same_dtype=True,
        accepts=min_rank(1),
        partner=scatter_partner,
        attrs=scatter_attrs,
        exact=True,
        weight=0.4,
    ),
    op(
        "scatter_value",
        1,
        (f"pf.scatter({{0}}, {{d}}, {IDX}, value={{c}})", f"{{0}}.scatter({{d}}, {IDX}, {{c}})"),
        "fz.scatter({0}, {axis}, {idx}, {c})",
        dtypes=NUMBERS,
        result="same",
        accepts=min_rank(1),
        attrs=scatter_value_attrs,
        exact=True,
        weight=0.3,
    ),
    op(
        "scatter_add",
        2,
        (f"pf.scatter_add({{0}}, {{d}}, {IDX}, {{1}})", f"{{0}}.scatter_add({{d}}, {IDX}, {{1}})"),
        "fz.scatter({0}, {axis}, {idx}, {1}, 'sum')",
        dtypes=NUMBERS,
        result="same",
        same_dtype=True,
        accepts=min_rank(1),
        partner=scatter_partner,
        attrs=scatter_add_attrs,
        weight=0.4,
    ),
    op(
        "scatter_reduce",
        2,
        (
            f"pf.scatter_reduce({{0}}, {{d}}, {IDX}, {{1}}, {{reduce}}, include_self={{inc}})",
            f"{{0}}.scatter_reduce({{d}}, {IDX}, {{1}}, reduce={{reduce}}, include_self={{inc}})",
        ),
        "fz.scatter({0}, {axis}, {idx}, {1}, {reduce}, {inc})",
        dtypes=NUMBERS,
        result="same",
        same_dtype=True,
        accepts=min_rank(1),
        partner=scatter_partner,
        attrs=scatter_reduce_attrs,
        weight=0.4,
    ),
    op(
        "index_add",
        2,
        (
            f"pf.index_add({{0}}, {{d}}, {IDX}, {{1}}{{alpha_kw}})",
            f"{{0}}.index_add({{d}}, {IDX}, {{1}}{{alpha_kw}})",
        ),
        "fz.index_add({0}, {d}, {idx}, {1}, {alpha})",
        dtypes=NUMBERS,
        result="same",
        same_dtype=True,
        accepts=min_rank(1),
        partner=index_partner,
        attrs=index_add_attrs,
        weight=0.3,
    ),
    op(
        "index_copy",
        2,
        (
            "pf.index_copy({0}, {d}, pf.from_numpy({uidx}), {1})",
            "{0}.index_copy({d}, pf.from_numpy({uidx}), {1})",
        ),
        "fz.index_copy({0}, {d}, {uidx}, {1})",
        dtypes=ANY,
        result="same",
        same_dtype=True,
        accepts=min_rank(1),
        partner=index_partner,
        attrs=index_add_attrs,
        exact=True,
        weight=0.3,
    ),
    op(
        "index_fill",
        1,
        (f"pf.index_fill({{0}}, {{d}}, {IDX}, {{c}})", f"{{0}}.index_fill({{d}}, {IDX}, {{c}})"),
        "fz.index_fill({0}, {d}, {idx}, {c})",
        dtypes=NUMBERS,
        result="same",
        accepts=min_rank(1),
        attrs=index_fill_attrs,
        exact=True,
        weight=0.3,
    ),
    op(
        "masked_fill",
        2,
        ("pf.masked_fill({0}, {1}, {c})", "{0}.masked_fill({1}, {c})"),
        "np.where({1} != 0, {c}, {0})",
        dtypes=(ANY, BOOL),
        result="same",
        partner=mask_partner,
        attrs=masked_fill_attrs,
        exact=True,
        weight=0.4,
    ),
    # ---------------------------------------------------------------- data movement (session 30)
    op(
        "flip",
        1,
        ("pf.flip({0}, {dims})", "{0}.flip({mdims})"),
        "np.flip({0}, axis={axis})",
        accepts=min_rank(1),
        attrs=flip_attrs,
        weight=0.5,
        **_EXACT_ANY,
    ),
    op(
        "fliplr",
        1,
        ("pf.fliplr({0})", "{0}.fliplr()"),
        "np.fliplr({0})",
        accepts=min_rank(2),
        weight=0.2,
        **_EXACT_ANY,
    ),
    op(
        "flipud",
        1,
        ("pf.flipud({0})", "{0}.flipud()"),
        "np.flipud({0})",
        accepts=min_rank(1),
        weight=0.2,
        **_EXACT_ANY,
    ),
    op(
        "rot90",
        1,
        ("pf.rot90({0}, {k}, {dims})", "{0}.rot90({k}, {dims})"),
        "np.rot90({0}, {k}, axes={axes})",
        accepts=min_rank(2),
        attrs=rot90_attrs,
        weight=0.3,
        **_EXACT_ANY,
    ),
    op(
        "roll",
        1,
        ("pf.roll({0}, {args})", "{0}.roll({args})"),
        "np.roll({0}, {shift}, axis={axis})",
        attrs=roll_attrs,
        weight=0.5,
        **_EXACT_ANY,
    ),
    *(
        op(
            name,
            1,
            (f"pf.{name}({{0}}{{_args}})", f"{{0}}.{name}({{args}})"),
            f"np.{name}({{0}}, {{k}})",
            accepts=min_rank(2),
            attrs=tri_attrs,
            weight=0.4,
            **_EXACT_ANY,
        )
        for name in ("tril", "triu")
    ),
    op(
        "diag",
        1,
        ("pf.diag({0}{_args})", "{0}.diag({k})"),
        "np.diag({0}, {k})",
        accepts=rank_in(1, 2),
        attrs=diag_attrs,
        weight=0.3,
        **_EXACT_ANY,
    ),
    op(
        "diagonal",
        1,
        ("pf.diagonal({0}, {k}, {d1}, {d2})", "{0}.diagonal(offset={k}, dim1={d1}, dim2={d2})"),
        "np.diagonal({0}, {k}, {d1}, {d2})",
        accepts=min_rank(2),
        attrs=diagonal_attrs,
        weight=0.3,
        **_EXACT_ANY,
    ),
    op(
        "diag_embed",
        1,
        ("pf.diag_embed({0}{_args})", "{0}.diag_embed({k}, {d1}, {d2})"),
        "fz.diag_embed({0}, {k}, {d1}, {d2})",
        accepts=lambda s: 1 <= len(s) <= 3 and s[-1] <= 16,
        attrs=diag_embed_attrs,
        weight=0.2,
        **_EXACT_ANY,
    ),
    op(
        "trace",
        1,
        ("pf.trace({0})", "{0}.trace()"),
        "np.trace({0})",
        dtypes=NUMBERS,
        result="sum",
        accepts=rank_in(2),
        weight=0.2,
    ),
    op(
        "repeat",
        1,
        ("{0}.repeat({sizes})", "pf.tile({0}, {seq})", "{0}.tile({seq})"),
        "np.tile({0}, {reps})",
        attrs=repeat_attrs,
        weight=0.4,
        **_EXACT_ANY,
    ),
    op(
        "repeat_interleave",
        1,
        ("pf.repeat_interleave({0}, {r}{dkw})", "{0}.repeat_interleave({r}{dkw})"),
        "np.repeat({0}, {rn}, axis={axis})",
        attrs=lambda c: (
            None
            if (a := repeat_interleave_attrs(c)) is None
            else {**a, "dkw": Expr(", " + a["dkw"] if a["dkw"] else "")}
        ),
        weight=0.3,
        **_EXACT_ANY,
    ),
    op(
        "movedim",
        1,
        (
            "pf.movedim({0}, {src}, {dst})",
            "{0}.movedim({src}, {dst})",
            "pf.moveaxis({0}, {src}, {dst})",
        ),
        "np.moveaxis({0}, {src}, {dst})",
        accepts=min_rank(1),
        attrs=movedim_attrs,
        weight=0.3,
        **_EXACT_ANY,
    ),
    op(
        "swapaxes",
        1,
        ("pf.swapaxes({0}, {d0}, {d1})", "{0}.swapdims({d0}, {d1})", "{0}.swapaxes({d0}, {d1})"),
        "np.transpose({0}, {perm})",
        attrs=transpose_attrs,
        weight=0.2,
        **_EXACT_ANY,
    ),
    op(
        "unbind",
        1,
        ("pf.unbind({0}, {d})[{k}]", "{0}.unbind({d})[{k}]"),
        "np.take({0}, {k}, axis={d})",
        accepts=min_rank(1),
        attrs=unbind_attrs,
        weight=0.3,
        **_EXACT_ANY,
    ),
    op(
        "tensor_split",
        1,
        ("pf.tensor_split({0}, {how}, {d})[{k}]", "{0}.tensor_split({how}, dim={d})[{k}]"),
        "np.take({0}, np.arange({lo}, {hi}), axis={d})",
        accepts=min_rank(1),
        attrs=tensor_split_attrs,
        weight=0.3,
        **_EXACT_ANY,
    ),
    *(
        op(
            name,
            2,
            (f"pf.{name}([{{0}}, {{1}}])", f"pf.{name}(({{0}}, {{1}}))"),
            f"np.{name}([{{0}}, {{1}}])",
            dtypes=ANY,
            accepts=(lambda s: len(s) <= 3) if name == "dstack" else (lambda s: True),
            exact=True,
            weight=0.2,
        )
        for name in ("hstack", "vstack", "dstack", "column_stack")
    ),
    op(
        "diff",
        1,
        ("pf.diff({0}{_args})", "{0}.diff({args})"),
        "np.diff({0}, {n}, axis={d})",
        dtypes=NUMBERS,
        result="same",
        accepts=min_rank(1),
        attrs=lambda c: (
            None
            if (a := diff_attrs(c)) is None
            else {**a, "_args": Expr(", " + a["args"] if a["args"] else "")}
        ),
        weight=0.4,
    ),
    op(
        "diff_ends",
        1,
        "pf.diff({0}, {n}, {d}, {0}.narrow({d}, {ps}, {pl}), {0}.narrow({d}, {as_}, {al}))",
        "np.diff({0}, {n}, axis={d}, prepend=np.take({0}, np.arange({ps}, {ps} + {pl}), "
        "axis={d}), append=np.take({0}, np.arange({as_}, {as_} + {al}), axis={d}))",
        dtypes=NUMBERS,
        result="same",
        accepts=min_rank(1),
        attrs=diff_attrs,
        weight=0.2,
    ),
    # ---------------------------------------------------------------- statistics (session 30)
    *(
        op(
            f"{name}_mean_{k}",
            1,
            (f"pf.{name}_mean({{0}}{{_args}})[{k}]",),
            f"{{0}}.{'var' if name == 'var' else 'std'}(axis={{axis}}, ddof={{ddof}}, "
            "keepdims={keepdims})"
            if k == 0
            else "{0}.mean(axis={axis}, keepdims={keepdims})",
            attrs=std_mean_attrs,
            weight=0.2,
        )
        for name in ("var", "std")
        for k in (0, 1)
        if (name, k) != ("std", 1)
    ),
    *(
        op(
            f"aminmax_{part}",
            1,
            (
                f"pf.aminmax({{0}}{{_args}}).{part}",
                f"{{0}}.aminmax({{args}})[{int(part == 'max')}]",
            ),
            f"{{0}}.{part}(axis={{axis}}, keepdims={{keepdims}})",
            dtypes=NUMBERS,
            result="same",
            attrs=aminmax_attrs,
            exact=True,
            weight=0.2,
        )
        for part in ("min", "max")
    ),
    op(
        "nansum",
        1,
        ("pf.nansum({0}{_args})", "{0}.nansum({args})"),
        "{0}.sum(axis={axis}, keepdims={keepdims})",
        dtypes=NUMBERS,
        result="sum",
        attrs=reduce_attrs,
        weight=0.2,
    ),
    op(
        "nanmean",
        1,
        ("pf.nanmean({0}{_args})", "{0}.nanmean({args})"),
        "{0}.mean(axis={axis}, keepdims={keepdims})",
        attrs=reduce_attrs,
        weight=0.2,
    ),
    op(
        "count_nonzero",
        1,
        ("pf.count_nonzero({0}{_args})", "{0}.count_nonzero({args})"),
        "({0} != 0).sum(axis={axis})",
        dtypes=ANY,
        result="int32",
        compute="none",
        attrs=count_attrs,
        exact_operands=True,
        weight=0.2,
    ),
    *(
        op(
            name,
            1,
            (f"pf.{name}({{0}}{{_args}})", f"{{0}}.{name}({{args}})"),
            f"({{0}} != 0).{name}(axis={{axis}}, keepdims={{keepdims}})",
            dtypes=ANY,
            result="bool",
            compute="none",
            attrs=reduce_attrs,
            exact_operands=True,
            weight=0.2,
        )
        for name in ("all", "any")
    ),
    op(
        "norm",
        1,
        ("pf.norm({0}, {args})", "{0}.norm({args})"),
        "fz.norm({0}, {p}, {axis}, {keepdims})",
        attrs=norm_attrs,
        weight=0.4,
    ),
    op(
        "trapezoid",
        1,
        ("pf.trapezoid({0}{kw})",),
        "np.trapezoid({0}, dx={dx}, axis={d})",
        accepts=min_rank(1),
        attrs=trapezoid_attrs,
        weight=0.2,
    ),
    op(
        "cumulative_trapezoid",
        1,
        ("pf.cumulative_trapezoid({0}{kw})",),
        "np.cumsum(({0}.take(np.arange(1, {0}.shape[{d}]), axis={d}) + {0}.take(np.arange("
        "{0}.shape[{d}] - 1), axis={d})) * ({dx} / 2), axis={d})",
        accepts=min_rank(1),
        attrs=trapezoid_attrs,
        weight=0.2,
    ),
    # ---------------------------------------------------------------- products (session 30)
    op(
        "cross",
        2,
        (
            "pf.cross({0}, {1}, {d})",
            "{0}.cross({1}, dim={d})",
            "pf.linalg.cross({0}, {1}, dim={d})",
        ),
        "np.cross({0}, {1}, axis={d})",
        dtypes=NUMBERS,
        same_dtype=True,
        accepts=lambda s: 3 in s,
        attrs=cross_attrs,
        weight=0.3,
    ),
    op(
        "kron",
        2,
        ("pf.kron({0}, {1})", "{0}.kron({1})"),
        "np.kron({0}, {1})",
        dtypes=NUMBERS,
        # kron reshapes a 0-d operand before it multiplies: both promote as tensors with dims
        result=lambda ops, scalars: promote([(d, 1) for d, _ in ops], scalars),
        accepts=lambda s: len(s) <= 2 and math.prod(s) <= 128,
        partner=small_partner,
        weight=0.3,
    ),
    op(
        "tensordot",
        2,
        ("pf.tensordot({0}, {1}, {dims})",),
        "np.tensordot({0}, {1}, axes={axes})",
        same_dtype=True,
        partner=tensordot_partner,
        attrs=tensordot_attrs,
        weight=0.3,
    ),
    op(
        "inner",
        2,
        ("pf.inner({0}, {1})", "{0}.inner({1})"),
        "np.inner({0}, {1})",
        same_dtype=True,
        accepts=lambda s: len(s) <= 2,
        partner=inner_partner,
        weight=0.3,
    ),
    op(
        "outer",
        2,
        ("pf.outer({0}, {1})", "{0}.outer({1})", "pf.ger({0}, {1})"),
        "np.outer({0}, {1})",
        dtypes=NUMBERS,
        accepts=rank_in(1),
        partner=lambda c: (c.choice(SIZES),),
        weight=0.3,
    ),
    op(
        "dot",
        2,
        ("pf.dot({0}, {1})", "{0}.dot({1})", "pf.vdot({0}, {1})"),
        "np.dot({0}, {1})",
        same_dtype=True,
        accepts=rank_in(1),
        weight=0.2,
    ),
    op(
        "mv",
        2,
        ("pf.mv({0}, {1})", "{0}.mv({1})"),
        "{0} @ {1}",
        same_dtype=True,
        accepts=rank_in(2),
        partner=lambda c: (c.shapes[0][1],),
        weight=0.2,
    ),
    op(
        "addmm",
        3,
        (
            "pf.addmm({0}, {1}, {2}, beta={beta}, alpha={alpha})",
            "{0}.addmm({1}, {2}, alpha={alpha}, beta={beta})",
        ),
        "{beta} * {0} + {alpha} * ({1} @ {2})",
        same_dtype=True,
        accepts=rank_in(2),
        partner=addmm_partner,
        attrs=lambda c: (
            {"beta": c.choice((1, 0.5, 2.0)), "alpha": c.choice((1, -1.0, 0.25))}
            if c.coin(0.5)
            else {"beta": 1, "alpha": 1}
        ),
        weight=0.3,
    ),
    op(
        "cdist",
        2,
        ("pf.cdist({0}, {1}, p={p})", "pf.cdist({0}, {1})"),
        "fz.norm({0}[:, None, :] - {1}[None, :, :], {p}, -1, False)",
        dtypes=frozenset({"float32"}),  # PyTorch has no half cdist
        same_dtype=True,
        accepts=rank_in(2),
        partner=lambda c: (c.choice(SIZES), c.shapes[0][1]),
        attrs=lambda c: {"p": 2.0},
        weight=0.2,
    ),
    op(
        "searchsorted",
        2,
        ("pf.searchsorted({0}.sort().values, {1}{kw})",),
        "fz.searchsorted(np.sort({0}), {1}, {right})",
        dtypes=NUMBERS,
        result="int32",
        compute="none",
        same_dtype=True,
        accepts=rank_in(1),
        partner=lambda c: tuple(c.choice(SIZES) for _ in range(c.int(0, 2))),
        attrs=searchsorted_attrs,
        exact_operands=True,
        weight=0.3,
    ),
    op(
        "bucketize",
        2,
        ("pf.bucketize({0}, pf.sort({1})[0], right={right})",),
        "fz.searchsorted(np.sort({1}), {0}, {right})",
        dtypes=NUMBERS,
        result="int32",
        compute="none",
        same_dtype=True,
        partner=lambda c: (c.choice(SIZES),),
        attrs=searchsorted_attrs,
        exact_operands=True,
        weight=0.2,
    ),
    op(
        "vander",
        1,
        ("pf.vander({0}{args})",),
        "np.vander({0}, {N}, increasing={inc})",
        dtypes=NUMBERS,
        result="sum",
        accepts=rank_in(1),
        attrs=vander_attrs,
        weight=0.2,
    ),
    op(
        "isin",
        2,
        ("pf.isin({0}, {1})",),
        "np.isin({0}, {1})",
        dtypes=NUMBERS,
        result="bool",
        compute="promote",
        partner=isin_partner,
        exact_operands=True,
        weight=0.2,
    ),
    # ---------------------------------------------------------------- elementwise (session 30)
    *(
        op(
            f"clamp_{side}",
            1,
            (f"pf.clamp_{side}({{0}}, {{c}})", f"{{0}}.clamp_{side}({{c}})"),
            f"np.{'maximum' if side == 'min' else 'minimum'}({{0}}, {{c}})",
            dtypes=NUMBERS,
            scalars=("c",),
            attrs=clamp_one_attrs,
            exact=True,
            weight=0.3,
        )
        for side in ("min", "max")
    ),
    op(
        "clamp_tensor",
        3,
        ("pf.clamp({0}, {1}, {2})", "{0}.clamp(min={1}, max={2})"),
        "np.minimum(np.maximum({0}, {1}), {2})",
        dtypes=NUMBERS,
        exact=True,
        weight=0.3,
        **_BCAST,
    ),
    op(
        "max_binary",
        2,
        ("pf.max({0}, {1})", "{0}.max({1})", "pf.fmax({0}, {1})"),
        "np.maximum({0}, {1})",
        dtypes=NUMBERS,
        exact=True,
        weight=0.2,
        **_BCAST,
    ),
    op(
        "lerp",
        2,
        ("pf.lerp({0}, {1}, {w})", "{0}.lerp({1}, {w})"),
        "{0} + {w} * ({1} - {0})",
        same_dtype=True,
        attrs=lerp_attrs,
        weight=0.3,
        **_BCAST,
    ),
    op(
        "lerp_tensor",
        3,
        ("pf.lerp({0}, {1}, {2})", "{0}.lerp({1}, {2})"),
        "{0} + {2} * ({1} - {0})",
        same_dtype=True,
        weight=0.2,
        **_BCAST,
    ),
    *(
        op(
            name,
            2,
            (f"pf.{name}({{0}}, {{1}})", f"{{0}}.{name}({{1}})"),
            ref,
            dtypes=dt,
            result="float",
            weight=0.2,
            **_BCAST,
        )
        for name, ref, dt in (
            ("hypot", "np.hypot({0}, {1})", FLOATS),
            ("atan2", "np.arctan2({0}, {1})", NUMBERS),
            ("logaddexp", "np.logaddexp({0}, {1})", FLOATS),
            ("logaddexp2", "np.logaddexp2({0}, {1})", FLOATS),
            ("copysign", "np.copysign({0}, {1})", NUMBERS),
        )
    ),
    op(
        "xlogy",
        2,
        ("pf.xlogy({0}, {1})", "{0}.xlogy({1})", "pf.special.xlogy({0}, {1})"),
        "{0} * np.log({1})",
        dtypes=NUMBERS,
        result="float",
        positive=(1,),
        weight=0.2,
        **_BCAST,
    ),
    op(
        "fmod",
        2,
        ("pf.fmod({0}, {1})", "{0}.fmod({1})"),
        "np.fmod({0}, {1})",
        dtypes=NUMBERS,
        nonzero=(1,),
        exact=True,
        weight=0.3,
        **_BCAST,
    ),
    op(
        "fmod_scalar",
        1,
        ("pf.fmod({0}, {c})", "{0}.fmod({c})"),
        "np.fmod({0}, {c})",
        dtypes=NUMBERS,
        scalars=("c",),
        attrs=lambda c: {"c": c.choice((2, -3, 0.5, 1.5, -2.5, 7.0))},
        exact=True,
        weight=0.2,
    ),
    op(
        "remainder",
        2,
        ("{0} % {1}", "pf.remainder({0}, {1})", "{0}.remainder({1})"),
        "np.remainder({0}, {1})",
        dtypes=NUMBERS,
        nonzero=(1,),
        weight=0.3,
        **_BCAST,
    ),
    op(
        "remainder_scalar",
        1,
        ("{0} % {c}", "pf.remainder({0}, {c})", "{0}.remainder({c})"),
        "np.remainder({0}, {c})",
        dtypes=NUMBERS,
        scalars=("c",),
        attrs=lambda c: {"c": c.choice((2, -3, 0.5, 1.5, -2.5, 7.0))},
        weight=0.2,
    ),
    op(
        "floor_divide",
        2,
        ("{0} // {1}", "pf.floor_divide({0}, {1})", "{0}.div({1}, rounding_mode='floor')"),
        "np.floor_divide({0}, {1})",
        dtypes=NUMBERS,
        nonzero=(1,),
        exact=True,
        exact_operands=True,
        weight=0.3,
        **_BCAST,
    ),
    op(
        "div_trunc",
        2,
        ("pf.div({0}, {1}, rounding_mode='trunc')", "{0}.div({1}, rounding_mode='trunc')"),
        "np.trunc({0} / {1})",
        dtypes=NUMBERS,
        nonzero=(1,),
        exact=True,
        exact_operands=True,
        weight=0.2,
        **_BCAST,
    ),
    *(
        op(
            name,
            1,
            unary(name),
            ref,
            dtypes=NUMBERS,
            result="same",
            exact=True,
            exact_operands=True,
            weight=0.2,
        )
        for name, ref in (
            ("floor", "np.floor({0})"),
            ("ceil", "np.ceil({0})"),
            ("trunc", "np.trunc({0})"),
            ("round", "np.round({0})"),
        )
    ),
    op(
        "round_decimals",
        1,
        ("pf.round({0}, decimals={dec})", "{0}.round(decimals={dec})"),
        "np.round({0} * 10.0 ** {dec}) / 10.0 ** {dec}",
        attrs=round_attrs,
        exact_operands=True,
        weight=0.2,
    ),
    op(
        "frac", 1, unary("frac"), "{0} - np.trunc({0})", exact=True, exact_operands=True, weight=0.2
    ),
    op(
        "sign",
        1,
        (*unary("sign"), "pf.sgn({0})"),
        "np.sign({0})",
        dtypes=ANY,
        result="same",
        exact=True,
        exact_operands=True,
        weight=0.2,
    ),
    op(
        "signbit",
        1,
        unary("signbit"),
        "np.signbit({0})",
        dtypes=NUMBERS,
        result="bool",
        compute="none",
        exact_operands=True,
        weight=0.2,
    ),
    op("square", 1, unary("square"), "{0} * {0}", dtypes=NUMBERS, result="same", weight=0.2),
    op(
        "reciprocal",
        1,
        unary("reciprocal"),
        "1.0 / {0}",
        dtypes=NUMBERS,
        result="float",
        nonzero=(0,),
        weight=0.2,
    ),
    *(
        op(name, 1, unary(name), ref, dtypes=NUMBERS, result="float", positive=pos, weight=0.15)
        for name, ref, pos in (
            ("erf", "np.vectorize(math.erf, otypes=[float])({0})", ()),
            ("erfc", "np.vectorize(math.erfc, otypes=[float])({0})", ()),
            ("log1p", "np.log1p({0})", (0,)),
            ("expm1", "np.expm1({0})", ()),
            ("log2", "np.log2({0})", (0,)),
            ("log10", "np.log10({0})", (0,)),
            ("exp2", "np.exp2({0})", ()),
            ("sin", "np.sin({0})", ()),
            ("cos", "np.cos({0})", ()),
            ("atan", "np.arctan({0})", ()),
            ("sinh", "np.sinh({0})", ()),
            ("cosh", "np.cosh({0})", ()),
            ("asinh", "np.arcsinh({0})", ()),
            ("sinc", "np.sinc({0})", ()),
            ("deg2rad", "np.deg2rad({0})", ()),
        )
    ),
    op(
        "logit",
        1,
        ("pf.logit({0}, {eps})", "{0}.logit(eps={eps})"),
        "np.log(np.clip({0}, {eps}, 1 - {eps}) / (1 - np.clip({0}, {eps}, 1 - {eps})))",
        attrs=lambda c: {"eps": c.choice((0.1, 0.25, 0.01))},
        weight=0.15,
    ),
    op(
        "heaviside",
        2,
        ("pf.heaviside({0}, {1})", "{0}.heaviside({1})"),
        "np.heaviside({0}, {1})",
        dtypes=NUMBERS,
        same_dtype=True,
        exact=True,
        exact_operands=True,
        weight=0.15,
        **_BCAST,
    ),
    *(
        op(
            name,
            1,
            (f"pf.nn.functional.{name}({{0}}{args})",),
            ref,
            attrs=split_fn_attrs,
            weight=0.15,
            **extra,
        )
        for name, args, ref, extra in (
            (
                "softplus",
                ", beta={beta}, threshold={th}",
                "np.where({0} * {beta} > {th}, {0}, np.log1p(np.exp({0} * {beta})) / {beta})",
                {},
            ),
            ("elu", ", alpha={alpha}", "np.where({0} > 0, {0}, {alpha} * np.expm1({0}))", {}),
            (
                "celu",
                ", alpha={alpha}",
                "np.maximum({0}, 0) + np.minimum(0, {alpha} * np.expm1({0} / {alpha}))",
                {},
            ),
            (
                "selu",
                "",
                "1.0507009873554804934193349852946 * np.where({0} > 0, {0}, "
                "1.6732632423543772848170429916717 * np.expm1({0}))",
                {},
            ),
            ("leaky_relu", ", {slope}", "np.where({0} > 0, {0}, {0} * {slope})", {}),
            (
                "hardtanh",
                ", {lo}, {hi}",
                "np.clip({0}, {lo}, {hi})",
                {"dtypes": NUMBERS, "exact": True, "result": "same"},
            ),
            (
                "relu6",
                "",
                "np.clip({0}, 0, 6)",
                {"dtypes": NUMBERS, "exact": True, "result": "same"},
            ),
            ("mish", "", "{0} * np.tanh(np.log1p(np.exp({0})))", {}),
            ("hardswish", "", "{0} * np.clip({0} + 3, 0, 6) / 6", {}),
            ("hardsigmoid", "", "np.clip({0} / 6 + 0.5, 0, 1)", {}),
            ("logsigmoid", "", "-np.logaddexp(0, -{0})", {}),
            ("softsign", "", "{0} / (1 + np.abs({0}))", {}),
            # tanh rounded to the dtype first, as PyTorch (and PyFlame) compute it: in float16
            # x - tanh(x) cancels that rounding into the result (program_for(3124, 44))
            ("tanhshrink", "", "{0} - np.tanh({0}).astype({rt}).astype(np.float64)", {}),
            (
                "softshrink",
                ", {lambd}",
                "np.where({0} > {lambd}, {0} - {lambd}, np.where({0} < -{lambd}, {0} + {lambd}, 0))",
                {},
            ),
            (
                "hardshrink",
                ", {lambd}",
                "np.where(np.abs({0}) > {lambd}, {0}, 0)",
                {"exact": True, "exact_operands": True},
            ),
        )
    ),
    op(
        "addcmul",
        3,
        ("pf.addcmul({0}, {1}, {2}, value={v})", "{0}.addcmul({1}, {2}, value={v})"),
        "{0} + {v} * {1} * {2}",
        attrs=lambda c: {"v": c.choice((1, 0.5, -2.0))},
        weight=0.2,
        **_BCAST,
    ),
    op(
        "addcdiv",
        3,
        ("pf.addcdiv({0}, {1}, {2}, value={v})", "{0}.addcdiv({1}, {2}, value={v})"),
        "{0} + {v} * {1} / {2}",
        attrs=lambda c: {"v": c.choice((1, 0.5, -2.0))},
        nonzero=(2,),
        weight=0.2,
        **_BCAST,
    ),
)

OPS_BY_NAME = {spec.name: spec for spec in OPS}
assert len(OPS_BY_NAME) == len(OPS), "two registry entries have the same name"


def enabled_ops() -> list[OpSpec]:
    return [spec for spec in OPS if spec.enabled]


def disabled_ops() -> list[str]:
    """Registry entries none of whose spellings PyFlame has yet."""
    return [spec.name for spec in OPS if not spec.enabled]


# ============================================================================ known bugs

#: Patterns of known, not yet fixed bugs that the generator avoids, so that a long run reports
#: new bugs only. Each names its xfail test in tests/unit/test_fuzz_regressions.py; when that
#: test starts to pass (strict xfail: XPASS fails), delete the entry here.
#: A predicate gets (spec, operand nodes, attrs, result dtype) and returns True to avoid that
#: node.
#: Entries for a whole feature of a fuzzer mode (tests/fuzz/modes.py: reading values before
#: backward, two threads) never avoid a node; the mode asks `name in KNOWN_BUGS`.
REDUCTIONS = {
    "sum",
    "mean",
    "amax",
    "amin",
    "max_all",
    "min_all",
    "max_dim",
    "min_dim",
    "max_dim_indices",
    "argmax",
    "argmin",
    "var",
    "std",
    "prod",
    "logsumexp",
    "softmax",
    "log_softmax",
    "layer_norm",
    "layer_norm_affine",
}


def _ties_at_extreme(ref: np.ndarray, axis: int | None, largest: bool) -> bool:
    """Whether some max (min) along `axis` is reached by two elements or more."""
    if ref.ndim == 0:
        return False
    m = ref.max(axis=axis, keepdims=True) if largest else ref.min(axis=axis, keepdims=True)
    return bool(((ref == m).sum(axis=axis) > 1).any())


def _may_differ(drawn: np.ndarray) -> bool:
    """Whether another seed must draw other values: floats, or integers with 20 bits or more
    of choice (randint(2, 3, ...) has none; randint(0, 2, (2,)) repeats one time in four:
    program_for(3143, 45)), counted from the distinct values drawn."""
    distinct = len(np.unique(drawn))
    if distinct < 2:
        return False
    return drawn.dtype.kind not in "iub" or drawn.size * math.log2(distinct) >= 20


def _constant_along(ref: np.ndarray, axis: Any) -> bool:
    if ref.size == 0:  # (no row to be constant; np.ptp has no identity to reduce nothing)
        return False
    with np.errstate(all="ignore"):
        return bool((np.ptp(ref, axis=axis) == 0).any()) if ref.ndim else True


#: False (run.py --include-known-bugs): generate the patterns of KNOWN_BUGS anyway and record
#: which ones a program has (`program.known_hits`), so that a failure is attributed to them
AVOID_KNOWN = [True]

KNOWN_BUGS: dict[str, Callable[[OpSpec, Sequence[Node], dict[str, Any], str], bool]] = {}


# ============================================================================ programs


@dataclasses.dataclass
class Node:
    """One tensor of a program: `name = <pf code>` and `r_name = <numpy code>`."""

    name: str
    spec: OpSpec
    operands: tuple[str, ...]
    attrs: dict[str, Any]
    #: hoisted data lines (variable, numpy expression)
    setup: tuple[tuple[str, str], ...]
    pf_code: str
    np_code: str
    shape: Shape
    #: the expected dtype name ("float32", "int32", "bool", ...)
    dtype: str
    #: reference values known before running (no random op upstream)
    known: bool
    #: PyFlame's value is exactly the float64 reference (no rounding anywhere upstream)
    exact: bool
    #: generation-time reference (random values replaced by placeholders)
    ref: np.ndarray = dataclasses.field(repr=False)
    #: a data leaf from the start (from_numpy)
    data_leaf: bool = False
    #: random ops: numpy condition on the drawn values `__v`
    valid_code: str | None = None
    #: the spelling chosen from spec.templates (to render the node again with other attributes)
    template: str = ""
    #: grad mode: a leaf that requires gradients (`x.requires_grad = True` after it)
    requires_grad: bool = False


@dataclasses.dataclass
class EvalStep:
    """`pf.eval(a, b)`, `pf.eval([a, b])` or `a.numpy()`."""

    names: tuple[str, ...]
    style: str = "eval"

    def code(self) -> str:
        if self.style == "numpy":
            return f"{self.names[0]}.numpy()"
        if self.style == "list":
            return f"pf.eval([{', '.join(self.names)}])"
        return f"pf.eval({', '.join(self.names)})"


@dataclasses.dataclass
class Failure:
    #: "error" (an exception), "shape", "mismatch", "nondeterministic", "rerun-error",
    #: "reseeded-error"
    kind: str
    message: str
    node: str | None = None

    def __str__(self) -> str:
        where = f" [{self.node}]" if self.node else ""
        return f"{self.kind}{where}: {self.message}"


@dataclasses.dataclass
class Outcome:
    program: Program
    failures: list[Failure] = dataclasses.field(default_factory=list)
    #: the evaluated pf tensors of the first run, by name
    outputs: dict[str, pf.Tensor] = dataclasses.field(default_factory=dict)
    #: the float64 references of the same tensors
    references: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
    #: why the program was not checked (SRAMOverflowError of a program with large tensors)
    skipped: str | None = None
    #: `pf.last_report().cycles` after each evaluation step (first run, second run)
    cycles: tuple[list[int | None], list[int | None]] = ([], [])

    @property
    def ok(self) -> bool:
        return not self.failures

    def report(self) -> str:
        lines = [f"{self.program.label}: {len(self.failures)} failure(s)"]
        lines += [f"  {f}" for f in self.failures]
        lines += ["reproducer:", self.program.describe()]
        return "\n".join(lines)


class Program:
    """A random program: statements (nodes and evaluation steps) and how to check them."""

    def __init__(
        self, label: str, manual_seed: int, steps: list[Node | EvalStep], clear_cache: bool = False
    ):
        self.label = label
        self.manual_seed = manual_seed
        self.steps = steps
        #: call pf.cache_clear() before the second run (recompile instead of a cache hit)
        self.clear_cache = clear_cache
        #: KNOWN_BUGS entries whose pattern the program has (generated with AVOID_KNOWN off)
        self.known_hits: set[str] = set()

    # ---------------------------------------------------------------- structure

    @property
    def nodes(self) -> list[Node]:
        return [s for s in self.steps if isinstance(s, Node)]

    @property
    def evals(self) -> list[EvalStep]:
        return [s for s in self.steps if isinstance(s, EvalStep)]

    @property
    def checked(self) -> list[str]:
        """Every tensor an evaluation step names, in order of first evaluation."""
        out: list[str] = []
        for step in self.evals:
            out += [n for n in step.names if n not in out]
        return out

    def without(self, names: set[str]) -> Program:
        """The program minus these nodes and every node computed from them."""
        gone = set(names)
        steps: list[Node | EvalStep] = []
        for step in self.steps:
            if isinstance(step, Node):
                if step.name in gone or gone.intersection(step.operands):
                    gone.add(step.name)
                else:
                    steps.append(step)
            else:
                kept = tuple(n for n in step.names if n not in gone)
                if kept:
                    steps.append(
                        EvalStep(
                            kept, step.style if len(kept) == 1 or step.style != "numpy" else "eval"
                        )
                    )
        return Program(self.label, self.manual_seed, steps, self.clear_cache)

    def largest_bytes(self) -> int:
        return max((math.prod(n.shape) * _ITEMSIZE[n.dtype] for n in self.nodes), default=0)

    def op_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for node in self.nodes:
            counts[node.spec.name] = counts.get(node.spec.name, 0) + 1
        return counts

    def __repr__(self) -> str:
        return f"<Program {self.label}: {len(self.nodes)} tensors, {len(self.evals)} evals>"

    # ---------------------------------------------------------------- source text

    def pf_lines(self) -> list[str]:
        lines = []
        for step in self.steps:
            if isinstance(step, Node):
                lines += [f"{var} = {expr}" for var, expr in step.setup]
                lines.append(f"{step.name} = {step.pf_code}")
            else:
                lines.append(step.code())
        return lines

    def ref_lines(self) -> list[str]:
        lines = []
        for node in self.nodes:
            if node.spec.random:
                lines.append(f"r_{node.name} = {node.name}.numpy().astype(np.float64)")
            else:
                lines.append(f"r_{node.name} = {round_code(node.np_code, node.dtype)}")
        return lines

    def check_lines(self) -> list[str]:
        """Assertions on every evaluated tensor (dtype and values, with loose tolerances)."""
        scale = max([1.0] + [float(np.max(np.abs(n.ref))) for n in self.nodes if n.ref.size])
        by_name = {n.name: n for n in self.nodes}
        lines = []
        for name in self.checked:
            node = by_name[name]
            lines.append(f"assert {name}.dtype == pf.{node.dtype}")
            got = f"{name}.numpy().astype(np.float64)"
            if node.exact or node.dtype not in FLOATS:
                lines.append(f"np.testing.assert_array_equal({got}, r_{name})")
            else:
                rtol = {"float32": 1e-4, "float16": 1e-2, "bfloat16": 5e-2}[node.dtype]
                atol = float(f"{rtol * 0.1 * scale:.0e}")
                lines.append(
                    f"np.testing.assert_allclose({got}, r_{name}, rtol={rtol!r}, atol={atol!r})"
                )
        return lines

    def body_lines(self) -> list[str]:
        """The reproducer's statements: build and evaluate, the numpy reference, assertions."""
        body = [
            f"# {self.label}",
            "with pf.target(pf.sim.SMALL):",
            f"    pf.manual_seed({self.manual_seed})",
        ]
        body += ["    " + line for line in self.pf_lines()]
        body += self.ref_lines()
        body += self.check_lines()
        return body

    def describe(self, name: str | None = None, imports: bool = True) -> str:
        """A pytest function (with its imports) that reproduces the program."""
        name = name or "test_" + re.sub(r"\W+", "_", self.label).strip("_")
        text = f"def {name}():\n" + "\n".join("    " + line for line in self.body_lines()) + "\n"
        if imports:
            head = "import math\n\n" if any("math." in n.np_code for n in self.nodes) else ""
            tail = REFS_IMPORT if any("fz." in n.np_code for n in self.nodes) else ""
            text = f"{head}import numpy as np\n\nimport pyflame as pf\n{tail}\n\n" + text
        return text

    # ---------------------------------------------------------------- running

    def _execute(self, outcome: Outcome, phase: str) -> tuple[dict[str, Any], list] | None:
        """Build and evaluate every statement; None (and a failure) on an exception."""
        ns: dict[str, Any] = {"pf": pf, "np": np}
        cycles: list[int | None] = []
        with pf.target(pf.sim.SMALL):
            pf.manual_seed(self.manual_seed)
            for lineno, step in enumerate(self.steps):
                if isinstance(step, Node):
                    code = "\n".join(
                        [f"{v} = {e}" for v, e in step.setup] + [f"{step.name} = {step.pf_code}"]
                    )
                else:
                    code = step.code()
                    # no program runs when every tensor is already evaluated (x.t() of a 1-D
                    # x is x itself): then there is no report of this step
                    runs = any(not ns[n].is_evaluated for n in step.names)
                try:
                    exec(compile(code, f"<fuzz step {lineno}>", "exec"), ns)
                except pf.SRAMOverflowError as err:
                    if self.largest_bytes() >= SRAM_SKIP_BYTES:  # may really not fit
                        outcome.skipped = f"`{code}` does not fit: {err}"
                        return None
                    outcome.failures.append(
                        Failure(
                            kind="error",
                            node=getattr(step, "name", None),
                            message=f"`{code}` raised SRAMOverflowError although no tensor of "
                            f"the program has more than {self.largest_bytes()} bytes: {err}",
                        )
                    )
                    return None
                except Exception as err:  # every exception is a finding
                    kind = "error" if phase == "first" else f"{phase}-error"
                    frame = traceback.extract_tb(err.__traceback__)[-1]
                    where = f"{frame.filename}:{frame.lineno} in {frame.name}"
                    message = "".join(traceback.format_exception_only(err)).strip()
                    outcome.failures.append(
                        Failure(
                            kind,
                            f"`{code.splitlines()[-1]}` raised {message} (at {where})",
                            getattr(step, "name", None),
                        )
                    )
                    return None
                if isinstance(step, Node):
                    t = ns[step.name]
                    if not isinstance(t, pf.Tensor):
                        outcome.failures.append(
                            Failure("shape", f"`{code}` gave a {type(t).__name__}", step.name)
                        )
                        return None
                    if tuple(t.shape) != step.shape or t.dtype.name != step.dtype:
                        outcome.failures.append(
                            Failure(
                                "shape",
                                f"`{step.pf_code}` has shape {list(t.shape)} dtype "
                                f"{t.dtype!r}, expected {list(step.shape)} pf.{step.dtype} "
                                "(numpy / torch.result_type)",
                                step.name,
                            )
                        )
                        return None
                else:
                    report = pf.last_report()
                    cycles.append(int(report.cycles) if runs and report is not None else None)
        return ns, cycles

    def reference(
        self, pf_values: dict[str, np.ndarray], noise: np.random.Generator | None = None
    ) -> dict[str, np.ndarray]:
        """The float64 reference of every node. Random ops take their values from
        `pf_values`. With `noise`, the floating operands and the result of every inexact op
        are perturbed by up to one epsilon of the result's dtype (relative, random signs)."""
        ns: dict[str, Any] = {"np": np, "math": math, "pf": pf, "fz": refs}
        out: dict[str, np.ndarray] = {}
        by_name = {n.name: n for n in self.nodes}

        def perturb(a: np.ndarray, eps: float) -> np.ndarray:
            assert noise is not None
            return a * (1.0 + eps * noise.uniform(-1.0, 1.0, a.shape))

        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            for node in self.nodes:
                for var, expr in node.setup:
                    if var not in ns:
                        ns[var] = eval(expr, ns)
                if node.spec.random:
                    value = np.asarray(pf_values[node.name], dtype=np.float64)
                else:
                    scope = ns
                    eps = EPS.get(node.dtype) if noise is not None and not node.exact else None
                    if eps and node.operands:
                        scope = dict(ns)
                        for o in node.operands:
                            if by_name[o].dtype in FLOATS:
                                scope[f"r_{o}"] = perturb(ns[f"r_{o}"], eps)
                    value = np.asarray(eval(node.np_code, scope), dtype=np.float64)
                    if eps:
                        value = perturb(value, eps)
                    else:  # PyFlame's result is in its dtype
                        value = round_to(value, node.dtype)
                ns[f"r_{node.name}"] = out[node.name] = value
        return out

    def check_values(
        self, outcome: Outcome, ns: dict[str, Any], phase: str
    ) -> dict[str, np.ndarray] | None:
        """Compare every evaluated tensor of namespace `ns` with the reference (computed from
        the random values this run drew); the values, or None if one was not evaluated."""
        values = {}
        by_name = {n.name: n for n in self.nodes}
        for name in self.checked:
            t = ns[name]
            if not t.is_evaluated:
                outcome.failures.append(Failure("error", f"{phase}: not evaluated", name))
                return None
            values[name] = np.asarray(t.numpy())
        ref = self.reference(values)
        noise = np.random.default_rng(self.manual_seed)
        spread = {n: np.zeros(ref[n].shape) for n in values}
        for _ in range(NOISE_RUNS):
            noisy = self.reference(values, noise)
            for n in values:
                spread[n] = np.maximum(spread[n], np.abs(noisy[n] - ref[n]))
        for name in values:
            node = by_name[name]
            if node.valid_code is not None:
                drawn = values[name].astype(np.float64)
                if not np.all(eval(node.valid_code, {"np": np, "__v": drawn})):
                    outcome.failures.append(
                        Failure(
                            "mismatch",
                            f"{phase}: drawn values break {node.valid_code}: "
                            f"{np.unique(drawn)[:8]}",
                            name,
                        )
                    )
            failure = compare(name, node.dtype, values[name], ref[name], spread[name])
            if failure:
                if phase != "first":
                    failure.message = f"{phase}: {failure.message}"
                outcome.failures.append(failure)
        if phase == "first":
            outcome.outputs = {n: ns[n] for n in values}
            outcome.references = {n: ref[n] for n in values}
        return values

    def run(self, rerun: bool = True) -> Outcome:
        """Build and evaluate the program and compare every evaluated tensor with the
        reference. Then (rerun) build and run it again (sometimes after pf.cache_clear()):
        identical values and cycles; and, if it draws random numbers, a third time with
        another pf.manual_seed: the same cycles, fresh values that match the reference."""
        outcome = Outcome(self)
        first = self._execute(outcome, "first")
        if first is None:
            return outcome
        ns, cycles = first
        values = self.check_values(outcome, ns, "first")
        outcome.cycles = (cycles, [])
        if values is None or not rerun:
            return outcome
        if self.clear_cache:
            pf.cache_clear()
        second = self._execute(outcome, "rerun")
        if second is None:
            return outcome
        ns2, cycles2 = second
        outcome.cycles = (cycles, cycles2)
        if cycles != cycles2:
            outcome.failures.append(
                Failure("nondeterministic", f"cycles per evaluation {cycles} then {cycles2}")
            )
        for name, value in values.items():
            again = np.asarray(ns2[name].numpy())
            if again.shape != value.shape or not np.array_equal(again, value, equal_nan=True):
                outcome.failures.append(
                    Failure("nondeterministic", "the second run gave different values", name)
                )
        if any(n.spec.random for n in self.nodes):
            other = Program(self.label, (self.manual_seed + 1) % 2**31, self.steps)
            third = other._execute(outcome, "reseeded")
            if third is None:
                return outcome
            ns3, cycles3 = third
            if cycles3 != cycles:
                outcome.failures.append(
                    Failure(
                        "nondeterministic",
                        f"cycles per evaluation {cycles}, then {cycles3} with "
                        "another pf.manual_seed",
                    )
                )
            other.check_values(outcome, ns3, "reseeded")
            for node in self.nodes:
                if (
                    node.spec.random
                    and node.name in values
                    and _may_differ(values[node.name])
                    and np.array_equal(ns3[node.name].numpy(), values[node.name])
                ):
                    outcome.failures.append(
                        Failure(
                            "nondeterministic",
                            "another pf.manual_seed gave the same values",
                            node.name,
                        )
                    )
        return outcome


def tolerance(ref: np.ndarray, spread: np.ndarray) -> np.ndarray:
    return ATOL + RTOL * np.abs(ref) + NOISE_FACTOR * spread


def compare(
    name: str, dtype: str, got: np.ndarray, ref: np.ndarray, spread: np.ndarray
) -> Failure | None:
    if got.shape != ref.shape:
        return Failure("shape", f"pf gave shape {list(got.shape)}, numpy {list(ref.shape)}", name)
    if got.dtype != getattr(pf, dtype).numpy:
        return Failure("shape", f"pf gave numpy dtype {got.dtype}, expected pf.{dtype}", name)
    tol = tolerance(ref, spread)
    err = np.abs(got.astype(np.float64) - ref)
    bad = ~(err <= tol)  # NaN is bad
    if not bad.any():
        return None
    flat = int(np.argmax(np.where(bad, np.nan_to_num(err, nan=np.inf) / tol, -1)))
    idx = np.unravel_index(flat, ref.shape) if ref.shape else ()
    return Failure(
        "mismatch",
        f"{int(bad.sum())}/{bad.size} elements differ; worst at {list(map(int, idx))}: "
        f"pf {got[idx]!r} numpy {ref[idx]!r} (tolerance {tol[idx]:.2e})",
        name,
    )


# ============================================================================ the generator


class _Generator:
    def __init__(self, rng: np.random.Generator, ops: Sequence[OpSpec]):
        self.rng = rng
        self.ctx = Ctx(rng)
        self.creation = [s for s in ops if s.creation]
        self.ops = [s for s in ops if not s.creation]
        self.nodes: list[Node] = []
        self.by_name: dict[str, Node] = {}
        self.steps: list[Node | EvalStep] = []
        self.evaluated: set[str] = set()
        self.consumers: dict[str, int] = {}
        self.n_ops = 0
        self.n_setup = 0
        #: how often a new input has each dtype; grad mode uses float32 (and constant int/bool)
        self.dtype_weights = DTYPE_WEIGHTS
        #: grad mode: inputs may hold -inf and NaN, so non-finite values are kept
        self.allow_nonfinite = False
        #: more names for the reference expressions (grad mode: `torch_ref`)
        self.scope_extra: dict[str, Any] = {}
        #: KNOWN_BUGS entries whose pattern was generated (when AVOID_KNOWN is off)
        self.known_hits: set[str] = set()

    # ---------------------------------------------------------------- helpers

    def weighted(self, specs: Sequence[OpSpec]) -> OpSpec:
        w = np.array([s.weight for s in specs], dtype=float)
        return specs[int(self.rng.choice(len(specs), p=w / w.sum()))]

    def random_shape(self, accepts: Callable[[Shape], bool]) -> Shape | None:
        ranks, weights = zip(*RANK_WEIGHTS.items(), strict=True)
        p = np.array(weights) / sum(weights)
        for _ in range(100):
            rank = int(self.rng.choice(ranks, p=p))
            shape = tuple(int(self.ctx.choice(SIZES)) for _ in range(rank))
            if math.prod(shape) <= MAX_NUMEL and accepts(shape):
                return shape
        return None

    def random_dtype(self, allowed: frozenset[str]) -> str | None:
        names = [d for d in self.dtype_weights if d in allowed]
        if not names:
            return None
        w = np.array([self.dtype_weights[d] for d in names])
        return names[int(self.rng.choice(len(names), p=w / w.sum()))]

    @staticmethod
    def in_domain(node: Node, domain: str) -> bool:
        if not domain:
            return True
        if not node.known or node.ref.size == 0:
            return False
        low = float(np.min(node.ref if domain == "positive" else np.abs(node.ref)))
        return low >= DOMAIN_BOUND

    # ---------------------------------------------------------------- nodes

    def make(
        self,
        spec: OpSpec,
        operands: Sequence[Node],
        attrs: dict[str, Any],
        dtype: str | None = None,
    ) -> Node | None:
        if dtype is None:
            dtype = spec.result_dtype([(o.dtype, len(o.shape)) for o in operands], attrs)
        if spec.name == "prod" and (dtype in HALF or dtype == "float32") and operands[0].ref.size:
            # a partial product may overflow the dtype although the product does not (inf *
            # 0 = NaN; torch's order differs from a tiled one, and torch's CPU float32 product
            # accumulates in float64, which PEs do not have): not a defined result
            bound = np.prod(np.maximum(np.abs(operands[0].ref), 1.0), axis=attrs["axis"])
            if np.max(bound) > (6e4 if dtype == "float16" else 1e38):
                return None
        if spec.name == "cross" and dtype == "float16" and operands[0].ref.size:
            # a x b - ... in float16 (PyTorch's kernel and PyFlame's): a product beyond
            # float16 is inf, and x cross x of values near 1000 is inf - inf = NaN, not 0
            bound = np.max(np.abs(operands[0].ref)) * np.max(np.abs(operands[1].ref))
            if bound > 6e4:
                return None
        hits = [name for name, bug in KNOWN_BUGS.items() if bug(spec, operands, attrs, dtype)]
        if hits:
            if AVOID_KNOWN[0]:
                return None
            self.known_hits.update(hits)
        is_leaf = spec.creation
        name = f"{'x' if is_leaf else 't'}{len(self.nodes)}"
        setup, values = [], {}
        for key, value in attrs.items():
            if isinstance(value, Data):
                var = f"a{self.n_setup + len(setup)}"
                setup.append((var, str(value)))
                values[key] = var
            elif isinstance(value, Expr):
                values[key] = str(value)
            else:
                values[key] = repr(value)
        template = self.ctx.choice(spec.templates)
        pf_code = template.format(*(o.name for o in operands), **values)
        compute = spec.compute_dtype([(o.dtype, len(o.shape)) for o in operands], attrs, dtype)
        np_code = spec.np.format(
            *(cast_code(f"r_{o.name}", o.dtype, compute) for o in operands), **values
        )
        scope: dict[str, Any] = {
            "np": np,
            "math": math,
            "pf": pf,
            "fz": refs,
            **self.scope_extra,
            **{f"r_{o.name}": o.ref for o in operands},
        }
        try:
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                for var, expr in setup:
                    scope[var] = eval(expr, scope)
                ref = round_to(np.asarray(eval(np_code, scope), dtype=np.float64), dtype)
        except NoReference:  # the reference refuses these attributes: not generated
            return None
        except Exception as err:
            if any(o.ref.size == 0 for o in operands):  # numpy's max of nothing: not used
                return None
            raise AssertionError(f"registry entry {spec.name!r}: numpy rejects {np_code}") from err
        if spec.random:
            ref = self.rng.standard_normal(ref.shape)
        if ref.size > 4 * MAX_NUMEL or not (self.allow_nonfinite or np.all(np.isfinite(ref))):
            return None
        finite = ref[np.isfinite(ref)]
        if finite.size and np.max(np.abs(finite)) > MAX_MAGNITUDE[dtype]:
            return None
        known = not spec.random and all(o.known for o in operands)
        exact = (
            spec.creation
            or spec.random
            or dtype not in FLOATS
            or (spec.exact and all(o.exact for o in operands))
        )
        node = Node(
            name,
            spec,
            tuple(o.name for o in operands),
            attrs,
            tuple(setup),
            pf_code,
            np_code,
            tuple(ref.shape),
            dtype,
            known,
            exact,
            ref,
            data_leaf=spec.name == "from_numpy",
            valid_code=spec.valid.format(v="__v", **values) if spec.valid else None,
            template=template,
        )
        self.n_setup += len(setup)
        self.nodes.append(node)
        self.by_name[name] = node
        self.steps.append(node)
        if node.data_leaf:
            self.evaluated.add(name)
        for o in operands:
            self.consumers[o.name] = self.consumers.get(o.name, 0) + 1
        return node

    def new_leaf(self, shape: Shape, allowed: frozenset[str], domain: str) -> Node | None:
        if math.prod(shape) > 2 * MAX_NUMEL:
            return None
        if domain:
            allowed = allowed - BOOL
        for _ in range(20):
            dtype = self.random_dtype(allowed)
            if dtype is None:
                return None
            specs = [s for s in self.creation if dtype in s.operand_dtypes(0)]
            if not specs:
                allowed = allowed - {dtype}
                continue
            spec = self.weighted(specs)
            ctx = Ctx(self.rng, shape=shape, dtype=dtype, domain=domain)
            attrs = spec.attrs(ctx) if spec.attrs else {}
            if attrs is None:
                continue
            node = self.make(spec, (), attrs, dtype)
            if node is not None and node.shape == shape and self.in_domain(node, domain):
                return node
        return None

    def operand(
        self,
        want: Shape | None,
        accepts: Callable[[Shape], bool],
        allowed: frozenset[str],
        domain: str,
        exact: bool,
        fresh: float,
    ) -> Node | None:
        pool = [
            n
            for n in self.nodes
            if (want is None or n.shape == want)
            and accepts(n.shape)
            and n.dtype in allowed
            and (n.exact or not exact)
            and self.in_domain(n, domain)
        ]
        if pool and self.rng.random() >= fresh:
            w = np.arange(1, len(pool) + 1, dtype=float) ** 2  # prefer recent values
            return pool[int(self.rng.choice(len(pool), p=w / w.sum()))]
        shape = want if want is not None else self.random_shape(accepts)
        return None if shape is None else self.new_leaf(shape, allowed, domain)

    def apply(self, spec: OpSpec) -> bool:
        x = self.operand(
            None,
            spec.accepts,
            spec.operand_dtypes(0),
            spec.domain(0),
            spec.exact_operands,
            fresh=0.15,
        )
        if x is None:
            return False
        operands = [x]
        for i in range(1, spec.arity):
            earlier = Ctx(
                self.rng, tuple(o.shape for o in operands), tuple(o.dtype for o in operands)
            )
            want = spec.partner(earlier) if spec.partner else x.shape
            allowed = spec.operand_dtypes(i)
            if spec.same_dtype:
                allowed = allowed & {x.dtype}
            y = self.operand(
                want, lambda s: True, allowed, spec.domain(i), spec.exact_operands, fresh=0.4
            )
            if y is None:
                return False
            operands.append(y)
        ctx = Ctx(self.rng, tuple(o.shape for o in operands), tuple(o.dtype for o in operands))
        attrs = spec.attrs(ctx) if spec.attrs else {}
        if attrs is None:
            return False
        if self.make(spec, operands, attrs) is None:
            return False
        self.n_ops += 1
        return True

    # ---------------------------------------------------------------- evaluation steps

    def pending_random(self, names: Sequence[str]) -> list[str]:
        """Random ops upstream of `names` not evaluated yet: evaluated in the same step, so
        that the reference can use the values the program computed."""
        out, stack, seen = [], list(names), set()
        while stack:
            n = stack.pop()
            if n in seen or n in self.evaluated:
                continue
            seen.add(n)
            node = self.by_name[n]
            if node.spec.random and n not in names:
                out.append(n)
            stack += node.operands
        return sorted(out, key=lambda n: int(n[1:]))

    def eval_step(self, names: list[str]) -> None:
        names = names + self.pending_random(names)
        if self.rng.random() < 0.1:  # an already evaluated tensor in the list is skipped
            done = sorted(self.evaluated)
            if done:
                names.append(self.ctx.choice(done))
        if self.rng.random() < 0.05:  # repeats are allowed
            names.append(self.ctx.choice(names))
        order = [names[int(i)] for i in self.rng.permutation(len(names))]
        if len(order) == 1 and order[0] not in self.evaluated and self.rng.random() < 0.4:
            style = "numpy"
        else:
            style = "list" if self.rng.random() < 0.2 else "eval"
        self.steps.append(EvalStep(tuple(order), style))
        self.evaluated.update(order)

    def mid_eval(self) -> None:
        """Evaluate some intermediates now; later ops use them as data."""
        lazy = [n.name for n in self.nodes if n.name not in self.evaluated]
        if lazy:
            k = min(len(lazy), self.ctx.int(1, 3))
            self.eval_step([lazy[int(i)] for i in self.rng.choice(len(lazy), k, replace=False)])

    def final_eval(self) -> None:
        lazy = [n.name for n in self.nodes if n.name not in self.evaluated]
        sinks = [n for n in lazy if not self.consumers.get(n)]
        extra = [n for n in lazy if n not in sinks and self.rng.random() < 0.25]
        outputs = sinks + extra
        if not outputs:
            return
        if self.rng.random() < 0.6 or len(outputs) == 1:
            self.eval_step(outputs)
            return
        order = [outputs[int(i)] for i in self.rng.permutation(len(outputs))]
        while order:
            k = self.ctx.int(1, len(order))
            group = [n for n in order[:k] if n not in self.evaluated]
            order = order[k:]
            if group:
                self.eval_step(group)


def random_program(
    rng: np.random.Generator | int | Sequence[int] | None = None,
    *,
    max_ops: int = DEFAULT_MAX_OPS,
    ops: Sequence[OpSpec] | None = None,
    label: str | None = None,
) -> Program:
    """A random program of 1..max_ops ops (plus the inputs they need) from `ops` (default:
    every enabled registry entry), with evaluation steps. Deterministic in `rng`."""
    if label is None:
        label = (
            f"random_program(np.random.default_rng({rng!r}))"
            if not isinstance(rng, np.random.Generator)
            else "random_program(rng)"
        )
    if not isinstance(rng, np.random.Generator):
        rng = np.random.default_rng(rng)
    specs = [s for s in (ops if ops is not None else OPS) if s.enabled]
    g = _Generator(rng, specs)
    if not g.ops:
        raise ValueError("no enabled op in the registry")
    target = int(rng.integers(1, max_ops + 1))
    tries = 0
    while g.n_ops < target and tries < 30 * max_ops:
        tries += 1
        g.apply(g.weighted(g.ops))
        if g.n_ops and rng.random() < 0.12:
            g.mid_eval()
    g.final_eval()
    program = Program(
        label, int(rng.integers(0, 2**31)), g.steps, clear_cache=bool(rng.random() < 0.3)
    )
    program.known_hits = g.known_hits
    return program


def signature(failure: Failure) -> str:
    """What two failures must share to be the same bug (kind, and the exception's type)."""
    raised = re.search(r"raised ([\w.]+)", failure.message)
    return failure.kind + (f" {raised.group(1)}" if raised else "")


def minimize(program: Program, outcome: Outcome | None = None, budget: int = 200) -> Program:
    """A smaller program failing the same way (greedy: drop each node and what depends on it,
    latest first, while the first failure's signature stays)."""
    outcome = outcome or program.run()
    if outcome.ok:
        return program
    wanted = signature(outcome.failures[0])
    best = program
    changed = True
    while changed and budget > 0:
        changed = False
        for node in reversed(best.nodes):
            if budget <= 0:
                break
            trial = best.without({node.name})
            if not trial.checked:
                continue
            budget -= 1
            if any(signature(f) == wanted for f in trial.run().failures):
                best, changed = trial, True
                break
    best.label = f"{program.label}, minimized"
    return best


def program_for(seed: int, index: int, max_ops: int = DEFAULT_MAX_OPS, mode: str = "value") -> Any:
    """Program `index` of the run with base seed `seed` (what run.py and test_fuzz.py use).
    Other modes than "value" ("grad", "rebuild", "threads", "mixed": chosen by index) are in
    tests/fuzz/modes.py."""
    if mode != "value":
        from tests.fuzz import modes

        return modes.program_for(seed, index, max_ops, mode)
    return random_program(
        np.random.default_rng([seed, index]), max_ops=max_ops, label=f"program_for({seed}, {index})"
    )
