"""Random PyFlame programs and their float64 numpy reference.

A program is a random DAG of ops from the registry `OPS` over random input tensors (random
shapes, with sizes such as 1, 3, 7, 13 that do not divide the grid, and random layouts),
evaluated with `pf.eval` in one or several steps on `pf.sim.SMALL`, and compared with numpy:

    program = random_program(np.random.default_rng([0, 17]))
    outcome = program.run()          # build, evaluate, compare; then build and run it again
    assert outcome.ok, outcome.report()
    print(program.describe())        # a pytest function reproducing the program

Adding an op is ONE entry in `OPS` (below): its name, arity, the PyFlame spellings (templates
whose `{0}`, `{1}` are the operands and `{name}` the attributes), the numpy expression of the
float64 reference, and optionally a shape constraint, the shape of the second operand, an
attribute generator, which operands must be bounded away from zero, and a weight:

    op("exp", 1, ("pf.exp({0})", "{0}.exp()"), "np.exp({0})", accepts=small_values),

An entry whose templates name a function or method PyFlame does not have yet is skipped
(`disabled_ops()` lists them), so entries for ops being written can be added early.

The reference runs in float64; float32 rounding is accounted for by running it again with every
op's operands and result perturbed by one float32 epsilon (random signs) and allowing a multiple
of the spread: cancellations, long sums and divisions get the tolerance they need, exact data
movement gets almost none.

Every evaluated tensor is compared, the whole program is then built and run a second time (with
the same `pf.manual_seed`; sometimes after `pf.cache_clear()`), and must give bit-identical
values and the same `pf.last_report().cycles` for every evaluation.
"""

from __future__ import annotations

import dataclasses
import math
import re
import traceback
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

import pyflame as pf

Shape = tuple[int, ...]

# ============================================================================ knobs

#: tensor sizes; 1, 3, 5, 7, 13, 17 do not divide most grids
SIZES = (1, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 16, 17, 19, 24, 31, 32)
RANK_WEIGHTS = {0: 0.05, 1: 0.25, 2: 0.45, 3: 0.2, 4: 0.05}
MAX_NUMEL = 1024
#: a generated value larger than this (in the generation-time reference) is not used
MAX_MAGNITUDE = 1e5
#: operands that must be bounded away from zero are at least this large (in absolute value)
NONZERO_BOUND = 0.25
#: float32 machine epsilon, the size of the perturbations of the noisy reference runs
EPS32 = 2.0**-23
NOISE_RUNS = 4
NOISE_FACTOR = 32.0
ATOL = 1e-6
RTOL = 2e-6
DEFAULT_MAX_OPS = 12


# ============================================================================ template values


class Expr(str):
    """An attribute value inserted into a template as source text (not as its repr)."""


class Data(str):
    """A numpy expression for input data, hoisted into its own line `aN = ...`."""


@dataclasses.dataclass
class Ctx:
    """What an attribute generator may look at."""

    rng: np.random.Generator
    #: operand shapes (empty for creation ops)
    shapes: tuple[Shape, ...] = ()
    #: the shape a creation op must produce
    shape: Shape = ()
    #: a creation op whose values must be bounded away from zero
    nonzero: bool = False

    def choice(self, seq: Sequence[Any]) -> Any:
        return seq[int(self.rng.integers(len(seq)))]

    def coin(self, p: float = 0.5) -> bool:
        return bool(self.rng.random() < p)

    def int(self, lo: int, hi: int) -> int:
        """A random int in [lo, hi]."""
        return int(self.rng.integers(lo, hi + 1))


# ============================================================================ op specs


@dataclasses.dataclass(frozen=True)
class OpSpec:
    """One registry entry. See the module docstring."""

    name: str
    #: number of tensor operands (0: a creation op, given the shape to make in `Ctx.shape`)
    arity: int
    #: PyFlame spellings (one is chosen per use); `{0}`, `{1}` operands, `{attr}` attributes
    pf: tuple[str, ...]
    #: numpy float64 reference with the same placeholders (for random ops: any array of the
    #: right shape; the reference is then the value PyFlame itself computed)
    np: str
    #: constraint on the shape of operand 0
    accepts: Callable[[Shape], bool] = lambda shape: True
    #: shape of operand 1 given the shape of operand 0 (default: the same shape)
    partner: Callable[[Ctx, Shape], Shape] | None = None
    #: attribute generator: a dict of template values, or None when none fits these shapes
    attrs: Callable[[Ctx], dict[str, Any] | None] | None = None
    #: operands whose values must be bounded away from zero (divisors)
    nonzero: tuple[int, ...] = ()
    #: values drawn by PyFlame (randn): compared with themselves, used as reference data
    random: bool = False
    weight: float = 1.0

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


def op(
    name: str,
    arity: int,
    pf_templates: str | Sequence[str],
    np_template: str,
    **options: Any,
) -> OpSpec:
    """A registry entry (see the module docstring)."""
    if isinstance(pf_templates, str):
        pf_templates = (pf_templates,)
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
    kind = ctx.choice(("single", "grid", "grid", "grid", "row_partition", "col_partition",
                       "replicated"))
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


def _size_forms(shape: Shape) -> list[str]:
    forms = [repr(list(shape)), repr(tuple(shape))]
    if shape:
        forms.append(", ".join(map(str, shape)))  # varargs: pf.zeros(3, 5)
    return forms


def size_attrs(ctx: Ctx) -> dict[str, Any]:
    """`size` (list, tuple or varargs), `seq` (list or tuple), `shape` (numpy), `layout`."""
    return {
        "size": Expr(ctx.choice(_size_forms(ctx.shape))),
        "seq": Expr(ctx.choice(_size_forms(ctx.shape)[:2])),
        "shape": tuple(ctx.shape),
        "layout": layout_kw(ctx),
    }


SCALARS = (0, 1, 2, -1, 3, 0.5, -0.25, 1.5, -2.5, 7.0, 0.1, -3)


def scalar_attrs(ctx: Ctx) -> dict[str, Any]:
    """`c`: a Python int or float (never zero when the op needs it bounded away from zero)."""
    return {"c": ctx.choice(SCALARS)}


def nonzero_scalar_attrs(ctx: Ctx) -> dict[str, Any]:
    return {"c": ctx.choice([c for c in SCALARS if abs(c) >= NONZERO_BOUND])}


def fill_attrs(ctx: Ctx) -> dict[str, Any]:
    values = (1.0, 2, -0.5, 3.25, -4, 0.75) if ctx.nonzero else (0.0, 1.0, 2, -0.5, 3.25, -4)
    return {**size_attrs(ctx), "value": ctx.choice(values)}


def data_attrs(ctx: Ctx) -> dict[str, Any]:
    """`data`: a seeded numpy expression (float32) of the wanted shape."""
    seed = ctx.int(0, 10**6)
    rng, shape = f"np.random.default_rng({seed})", repr(tuple(ctx.shape))
    if ctx.nonzero:
        expr = f"{rng}.uniform(0.5, 2.0, {shape})"
    else:
        expr = ctx.choice(
            (
                f"{rng}.standard_normal({shape})",
                f"{rng}.standard_normal({shape})",
                f"{rng}.uniform(-3.0, 3.0, {shape})",
                f"{rng}.integers(-4, 5, {shape})",
            )
        )
    return {"data": Data(f"{expr}.astype(np.float32)"), "layout": layout_kw(ctx)}


def random_creation_attrs(ctx: Ctx) -> dict[str, Any] | None:
    return None if ctx.nonzero else size_attrs(ctx)


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
    axis = None if rank == 0 else dims
    return {
        "args": Expr(args),
        "_args": Expr(", " + args if args else ""),
        "axis": axis,
        "keepdims": bool(keepdim),
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
    return {"size": Expr(ctx.choice(forms)), "seq": Expr(ctx.choice(forms[:2])),
            "shape": tuple(new)}


# ============================================================================ shape rules


def rank_in(*ranks: int) -> Callable[[Shape], bool]:
    return lambda shape: len(shape) in ranks


def min_rank(n: int) -> Callable[[Shape], bool]:
    return lambda shape: len(shape) >= n


def matmul_partner(ctx: Ctx, shape: Shape) -> Shape:
    return (shape[1], ctx.choice(SIZES))


# ============================================================================ the registry



def binary(sym: str, fn: str) -> tuple[str, ...]:
    """`a + b`, `pf.add(a, b)`, `a.add(b)`."""
    return (f"{{0}} {sym} {{1}}", f"pf.{fn}({{0}}, {{1}})", f"{{0}}.{fn}({{1}})")


OPS: tuple[OpSpec, ...] = (
    # ---------------------------------------------------------------- creation
    op("from_numpy", 0, "pf.from_numpy({data}{layout})", "{data}.astype(np.float64)",
       attrs=data_attrs, weight=8),
    op("randn", 0, "pf.randn({size}{layout})", "np.zeros({shape})", attrs=random_creation_attrs,
       random=True, weight=2),
    op("zeros", 0, "pf.zeros({size}{layout})", "np.zeros({shape})",
       attrs=lambda c: None if c.nonzero else size_attrs(c), weight=0.5),
    op("ones", 0, "pf.ones({size}{layout})", "np.ones({shape})", attrs=size_attrs, weight=0.5),
    op("full", 0, "pf.full({seq}, {value}{layout})", "np.full({shape}, {value})",
       attrs=fill_attrs, weight=0.7),
    op("zeros_like", 1, "pf.zeros_like({0}{layout})", "np.zeros_like({0})",
       attrs=lambda c: {"layout": layout_kw(c)}, weight=0.3),
    op("ones_like", 1, "pf.ones_like({0}{layout})", "np.ones_like({0})",
       attrs=lambda c: {"layout": layout_kw(c)}, weight=0.3),
    op("full_like", 1, "pf.full_like({0}, {value}{layout})", "np.full_like({0}, {value})",
       attrs=lambda c: {"layout": layout_kw(c), "value": c.choice((2.5, -1, 0.0))}, weight=0.3),
    op("randn_like", 1, "pf.randn_like({0}{layout})", "np.zeros_like({0})",
       attrs=lambda c: {"layout": layout_kw(c)}, random=True, weight=0.4),
    # ---------------------------------------------------------------- elementwise
    op("add", 2, binary("+", "add"), "{0} + {1}", weight=2),
    op("sub", 2, binary("-", "sub"), "{0} - {1}", weight=2),
    op("mul", 2, binary("*", "mul"), "{0} * {1}", weight=2),
    op("div", 2, binary("/", "div"), "{0} / {1}",
       nonzero=(1,), weight=1.5),
    op("add_scalar", 1, ("{0} + {c}", "{c} + {0}", "pf.add({0}, {c})", "{0}.add({c})"),
       "{0} + {c}", attrs=scalar_attrs),
    op("sub_scalar", 1, ("{0} - {c}", "pf.sub({0}, {c})", "{0}.sub({c})"), "{0} - {c}",
       attrs=scalar_attrs),
    op("rsub_scalar", 1, ("{c} - {0}", "pf.sub({c}, {0})"), "{c} - {0}", attrs=scalar_attrs),
    op("mul_scalar", 1, ("{0} * {c}", "{c} * {0}", "pf.mul({c}, {0})", "{0}.mul({c})"),
       "{0} * {c}", attrs=scalar_attrs),
    op("div_scalar", 1, ("{0} / {c}", "pf.div({0}, {c})", "{0}.div({c})"), "{0} / {c}",
       attrs=nonzero_scalar_attrs),
    op("rdiv_scalar", 1, ("{c} / {0}", "pf.div({c}, {0})"), "{c} / {0}", attrs=scalar_attrs,
       nonzero=(0,), weight=0.7),
    op("neg", 1, ("-{0}", "pf.neg({0})", "{0}.neg()"), "-{0}"),
    op("relu", 1, ("pf.relu({0})", "{0}.relu()"), "np.maximum({0}, 0.0)", weight=1.5),
    # ---------------------------------------------------------------- reductions
    op("sum", 1, ("{0}.sum({args})", "pf.sum({0}{_args})"),
       "{0}.sum(axis={axis}, keepdims={keepdims})", attrs=reduce_attrs, weight=2),
    op("mean", 1, ("{0}.mean({args})", "pf.mean({0}{_args})"),
       "{0}.mean(axis={axis}, keepdims={keepdims})", attrs=reduce_attrs, weight=2),
    # ---------------------------------------------------------------- linear algebra
    op("matmul", 2, ("{0} @ {1}", "pf.matmul({0}, {1})", "{0}.matmul({1})"), "{0} @ {1}",
       accepts=rank_in(2), partner=matmul_partner, weight=2),
    # ---------------------------------------------------------------- shape
    op("transpose", 1, ("{0}.transpose({d0}, {d1})", "pf.transpose({0}, {d0}, {d1})"),
       "np.transpose({0}, {perm})", attrs=transpose_attrs, weight=1.5),
    op("permute", 1, ("{0}.permute({dims})", "pf.permute({0}, {dims})"),
       "np.transpose({0}, {perm})", accepts=min_rank(1), attrs=permute_attrs),
    op("t", 1, "{0}.t()", "{0}.T", accepts=rank_in(0, 1, 2), weight=0.5),
    op("T", 1, "{0}.T", "np.transpose({0})", accepts=min_rank(2), weight=0.5),
    op("reshape", 1, ("{0}.reshape({size})", "{0}.view({size})", "pf.reshape({0}, {seq})",
                      "pf.view({0}, {seq})"),
       "{0}.reshape({shape})", attrs=reshape_attrs, weight=2),
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
#: A predicate gets (spec, operand nodes, attrs) and returns True to avoid that node.
KNOWN_BUGS: dict[str, Callable[[OpSpec, Sequence[Node], dict[str, Any]], bool]] = {}


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
    #: reference values known before running (no random op upstream)
    known: bool
    #: generation-time reference (random values replaced by placeholders)
    ref: np.ndarray = dataclasses.field(repr=False)
    #: a data leaf from the start (from_numpy)
    data_leaf: bool = False


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
    #: "error" (an exception), "shape", "mismatch", "nondeterministic", "rerun-error"
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

    def __init__(self, label: str, manual_seed: int, steps: list[Node | EvalStep],
                 clear_cache: bool = False):
        self.label = label
        self.manual_seed = manual_seed
        self.steps = steps
        #: call pf.cache_clear() before the second run (recompile instead of a cache hit)
        self.clear_cache = clear_cache

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
                lines.append(f"r_{node.name} = {node.np_code}")
        return lines

    def describe(self, name: str | None = None, imports: bool = True) -> str:
        """A pytest function (with its imports) that reproduces the program."""
        name = name or "test_" + re.sub(r"\W+", "_", self.label).strip("_")
        scale = max([1.0] + [float(np.max(np.abs(n.ref))) for n in self.nodes if n.ref.size])
        atol = float(f"{1e-5 * scale:.0e}")
        body = [f"# {self.label}", "with pf.target(pf.sim.SMALL):",
                f"    pf.manual_seed({self.manual_seed})"]
        body += ["    " + line for line in self.pf_lines()]
        body += self.ref_lines()
        checked = self.checked
        pairs = ", ".join(f"({n}, r_{n})" for n in checked)
        body += [f"for got, want in [{pairs}]:",
                 f"    np.testing.assert_allclose(got.numpy(), want, rtol=1e-4, atol={atol!r})"]
        text = f"def {name}():\n" + "\n".join("    " + line for line in body) + "\n"
        if imports:
            text = "import numpy as np\n\nimport pyflame as pf\n\n\n" + text
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
                    code = "\n".join([f"{v} = {e}" for v, e in step.setup]
                                     + [f"{step.name} = {step.pf_code}"])
                else:
                    code = step.code()
                try:
                    exec(compile(code, f"<fuzz step {lineno}>", "exec"), ns)
                except Exception as err:  # every exception is a finding
                    kind = "error" if phase == "first" else "rerun-error"
                    frame = traceback.extract_tb(err.__traceback__)[-1]
                    where = f"{frame.filename}:{frame.lineno} in {frame.name}"
                    message = "".join(traceback.format_exception_only(err)).strip()
                    outcome.failures.append(Failure(
                        kind, f"`{code.splitlines()[-1]}` raised {message} (at {where})",
                        getattr(step, "name", None)))
                    return None
                if isinstance(step, Node):
                    t = ns[step.name]
                    if not isinstance(t, pf.Tensor):
                        outcome.failures.append(Failure(
                            "shape", f"`{code}` gave a {type(t).__name__}", step.name))
                        return None
                    if tuple(t.shape) != step.shape or t.dtype is not pf.float32:
                        outcome.failures.append(Failure(
                            "shape", f"`{code}` has shape {list(t.shape)} dtype {t.dtype!r}, "
                            f"numpy says {list(step.shape)} float32", step.name))
                        return None
                else:
                    report = pf.last_report()
                    cycles.append(None if report is None else int(report.cycles))
        return ns, cycles

    def reference(self, pf_values: dict[str, np.ndarray],
                  noise: np.random.Generator | None = None) -> dict[str, np.ndarray]:
        """The float64 reference of every node. Random ops take their values from
        `pf_values`. With `noise`, every op's operands and result are perturbed by up to one
        float32 epsilon (relative, random signs)."""
        ns: dict[str, Any] = {"np": np}
        out: dict[str, np.ndarray] = {}

        def perturb(a: np.ndarray) -> np.ndarray:
            assert noise is not None
            return a * (1.0 + EPS32 * noise.uniform(-1.0, 1.0, a.shape))

        with np.errstate(all="ignore"):
            for node in self.nodes:
                for var, expr in node.setup:
                    if var not in ns:
                        ns[var] = eval(expr, ns)
                if node.spec.random:
                    value = np.asarray(pf_values[node.name], dtype=np.float64)
                else:
                    scope = ns
                    if noise is not None and node.operands:
                        scope = dict(ns)
                        for o in node.operands:
                            scope[f"r_{o}"] = perturb(ns[f"r_{o}"])
                    value = np.asarray(eval(node.np_code, scope), dtype=np.float64)
                    if noise is not None and not node.spec.creation:
                        value = perturb(value)
                ns[f"r_{node.name}"] = out[node.name] = value
        return out

    def run(self, rerun: bool = True) -> Outcome:
        """Build and evaluate the program, compare every evaluated tensor with the reference,
        then (rerun) do it all again and require identical values and cycles."""
        outcome = Outcome(self)
        first = self._execute(outcome, "first")
        if first is None:
            return outcome
        ns, cycles = first
        checked = self.checked
        values = {}
        for name in checked:
            t = ns[name]
            outcome.outputs[name] = t
            if not t.is_evaluated:
                outcome.failures.append(Failure("error", "not evaluated by pf.eval", name))
                return outcome
            values[name] = np.asarray(t.numpy())
        ref = self.reference(values)
        noise = np.random.default_rng(self.manual_seed)
        spread = {n: np.zeros(ref[n].shape) for n in checked}
        for _ in range(NOISE_RUNS):
            noisy = self.reference(values, noise)
            for n in checked:
                spread[n] = np.maximum(spread[n], np.abs(noisy[n] - ref[n]))
        for name in checked:
            outcome.references[name] = ref[name]
            failure = compare(name, values[name], ref[name], spread[name])
            if failure:
                outcome.failures.append(failure)
        outcome.cycles = (cycles, [])
        if not rerun:
            return outcome
        if self.clear_cache:
            pf.cache_clear()
        second = self._execute(outcome, "rerun")
        if second is None:
            return outcome
        ns2, cycles2 = second
        outcome.cycles = (cycles, cycles2)
        if cycles != cycles2:
            outcome.failures.append(Failure(
                "nondeterministic", f"cycles per evaluation {cycles} then {cycles2}"))
        for name in checked:
            again = np.asarray(ns2[name].numpy())
            if again.shape != values[name].shape or not np.array_equal(
                again, values[name], equal_nan=True
            ):
                outcome.failures.append(Failure(
                    "nondeterministic", "the second run gave different values", name))
        return outcome


def tolerance(ref: np.ndarray, spread: np.ndarray) -> np.ndarray:
    return ATOL + RTOL * np.abs(ref) + NOISE_FACTOR * spread


def compare(name: str, got: np.ndarray, ref: np.ndarray, spread: np.ndarray) -> Failure | None:
    if got.shape != ref.shape:
        return Failure("shape", f"pf gave shape {list(got.shape)}, numpy {list(ref.shape)}", name)
    if got.dtype != np.float32:
        return Failure("shape", f"pf gave dtype {got.dtype}, expected float32", name)
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

    def bounded(self, node: Node) -> bool:
        return node.known and node.ref.size > 0 and float(np.min(np.abs(node.ref))) >= (
            NONZERO_BOUND
        )

    # ---------------------------------------------------------------- nodes

    def make(self, spec: OpSpec, operands: Sequence[Node], attrs: dict[str, Any]) -> Node | None:
        if any(bug(spec, operands, attrs) for bug in KNOWN_BUGS.values()):
            return None
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
        np_code = spec.np.format(*(f"r_{o.name}" for o in operands), **values)
        scope: dict[str, Any] = {"np": np, **{f"r_{o.name}": o.ref for o in operands}}
        try:
            with np.errstate(all="ignore"):
                for var, expr in setup:
                    scope[var] = eval(expr, scope)
                ref = np.asarray(eval(np_code, scope), dtype=np.float64)
        except Exception as err:  # the generator made something numpy refuses: skip it
            raise AssertionError(f"registry entry {spec.name!r}: numpy rejects {np_code}") from err
        if spec.random:
            ref = self.rng.standard_normal(ref.shape)
        if not np.all(np.isfinite(ref)) or (ref.size and np.max(np.abs(ref)) > MAX_MAGNITUDE):
            return None
        known = not spec.random and all(o.known for o in operands)
        node = Node(name, spec, tuple(o.name for o in operands), attrs, tuple(setup), pf_code,
                    np_code, tuple(ref.shape), known, ref, data_leaf=spec.name == "from_numpy")
        self.n_setup += len(setup)
        self.nodes.append(node)
        self.by_name[name] = node
        self.steps.append(node)
        if node.data_leaf:
            self.evaluated.add(name)
        for o in operands:
            self.consumers[o.name] = self.consumers.get(o.name, 0) + 1
        return node

    def new_leaf(self, shape: Shape, nonzero: bool) -> Node | None:
        for _ in range(20):
            spec = self.weighted(self.creation)
            attrs = spec.attrs(Ctx(self.rng, (), shape, nonzero)) if spec.attrs else {}
            if attrs is None:
                continue
            node = self.make(spec, (), attrs)
            if node is not None and node.shape == shape and (not nonzero or self.bounded(node)):
                return node
        return None

    def operand(self, want: Shape | None, accepts: Callable[[Shape], bool], nonzero: bool,
                fresh: float) -> Node | None:
        pool = [n for n in self.nodes
                if (want is None or n.shape == want) and accepts(n.shape)
                and (not nonzero or self.bounded(n))]
        if pool and self.rng.random() >= fresh:
            w = np.arange(1, len(pool) + 1, dtype=float) ** 2  # prefer recent values
            return pool[int(self.rng.choice(len(pool), p=w / w.sum()))]
        shape = want if want is not None else self.random_shape(accepts)
        return None if shape is None else self.new_leaf(shape, nonzero)

    def apply(self, spec: OpSpec) -> bool:
        x = self.operand(None, spec.accepts, 0 in spec.nonzero, fresh=0.15)
        if x is None:
            return False
        operands = [x]
        if spec.arity == 2:
            want = spec.partner(self.ctx, x.shape) if spec.partner else x.shape
            y = self.operand(want, lambda s: True, 1 in spec.nonzero, fresh=0.4)
            if y is None:
                return False
            operands.append(y)
        attrs = spec.attrs(Ctx(self.rng, tuple(o.shape for o in operands))) if spec.attrs else {}
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
        r = self.rng.random()
        if r < 0.6 or len(outputs) == 1:
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
        label = (f"random_program(np.random.default_rng({rng!r}))"
                 if not isinstance(rng, np.random.Generator) else "random_program(rng)")
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
    return Program(label, int(rng.integers(0, 2**31)), g.steps,
                   clear_cache=bool(rng.random() < 0.3))


def program_for(seed: int, index: int, max_ops: int = DEFAULT_MAX_OPS) -> Program:
    """Program `index` of the run with base seed `seed` (what run.py and test_fuzz.py use)."""
    return random_program(np.random.default_rng([seed, index]), max_ops=max_ops,
                          label=f"program_for({seed}, {index})")
