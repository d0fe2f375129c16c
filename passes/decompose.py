"""decompose: rewrite composite flame ops into primitive flame ops, one function per op.

Composite ops (`flame.COMPOSITE_OPS`: softmax, log_softmax, logsumexp, var, std, argmax,
argmin) keep the user's intent visible in `pf.ir(t, stage="flame")`; this pass spells each one
out in ops flame-to-mesh lowers (reductions, elementwise ops, broadcast_to, reshape, where,
iota, fill, convert), so a composite needs no mesh or pe support of its own. Every op made
carries the composite's location; its layout hint moves to the op giving the result. Ops are
made by the flame ops' builders, without looking for an identical earlier op: the pipeline's
next step, xDSL's `cse`, keeps one of each (the max that a `pf.max(x, dim)` and a softmax of
x both compute).

    %s = flame.softmax %x {dim = 1 : i64} : tensor<4x8xf32> -> tensor<4x8xf32>
becomes
    %0 = flame.reduce_max %x {dims = array<i64: 1>, keepdim} : tensor<4x8xf32> -> tensor<4x1xf32>
    %1 = flame.broadcast_to %0 : tensor<4x1xf32> -> tensor<4x8xf32>
    %2 = flame.sub %x, %1 : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
    %3 = flame.exp %2 : tensor<4x8xf32> -> tensor<4x8xf32>
    %4 = flame.reduce_sum %3 {dims = array<i64: 1>, keepdim} : tensor<4x8xf32> -> tensor<4x1xf32>
    %5 = flame.broadcast_to %4 : tensor<4x1xf32> -> tensor<4x8xf32>
    %s = flame.div %3, %5 : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>

Numerics follow PyTorch: softmax and log_softmax subtract the max (a row of -inf gives NaN, as
in PyTorch); logsumexp subtracts the max unless it is infinite (a row of -inf gives -inf);
half-precision inputs compute in float32 and round once at the end (also reduce_sum and
reduce_mean of f16/bf16: converted to f32, reduced, converted back; reduce_prod stays in its
type, each product rounded, as PyTorch's); argmax and argmin take the
first index of the max (min), NaN counting as the max (min).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from xdsl.context import Context
from xdsl.dialects.builtin import (
    FileLineColLoc,
    ModuleOp,
    TensorType,
    f32,
    i32,
)
from xdsl.ir import Attribute, Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    GreedyRewritePatternApplier,
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
)
from xdsl.rewriter import InsertPoint

from pyflame.core import elementwise, shapes
from pyflame.core.errors import UnsupportedOpsError
from pyflame.dialects import flame

HALF_ELEMENTS = ("f16", "bf16")


class Emitter:
    """Inserts primitive flame ops, made by their builders, before the composite op `anchor`,
    with its location. Duplicates are left to the `cse` pass that follows (the max that a
    `pf.max(x, dim)` and a softmax of x both compute is made twice here, kept once there)."""

    def __init__(self, rewriter: PatternRewriter, anchor: Operation):
        self.rewriter = rewriter
        self.anchor = anchor
        #: the ops this emitter made (a decomposition may also return a value it did not make)
        self.made: list[Operation] = []

    def emit(self, op: flame.FlameOp) -> SSAValue:
        op.location = self.anchor.location
        self.rewriter.insert(op, InsertPoint.before(self.anchor))
        self.made.append(op)
        return op.results[0]

    # ------------------------------------------------------------------ primitives

    def reduce(self, kind: str, x: SSAValue, dims: Sequence[int], keepdim: bool) -> SSAValue:
        cls = flame.REDUCE_OPS[kind] if kind != "mean" else flame.ReduceMeanOp
        return self.emit(cls(x, dims, keepdim))

    def unary(self, name: str, x: SSAValue) -> SSAValue:
        return self.emit(flame.UNARY_OPS[name](x))

    def binary(self, name: str, a: SSAValue, b: SSAValue) -> SSAValue:
        return self.emit(flame.BINARY_OPS[name](a, b))

    def scalar(self, value: float, elem: Attribute) -> SSAValue:
        """A rank-0 fill: the scalar operand of an elementwise op."""
        return self.fill(value, (), elem)

    def fill(self, value: float, shape: Sequence[int], elem: Attribute) -> SSAValue:
        return self.emit(flame.FillOp(value, TensorType(elem, shape)))

    def where(self, cond: SSAValue, a: SSAValue, b: SSAValue) -> SSAValue:
        return self.emit(flame.WhereOp(cond, a, b))

    def broadcast(self, x: SSAValue, shape: Sequence[int]) -> SSAValue:
        if shape_of(x) == tuple(shape):
            return x
        return self.emit(flame.BroadcastToOp(x, shape))

    def reshape(self, x: SSAValue, shape: Sequence[int]) -> SSAValue:
        if shape_of(x) == tuple(shape):
            return x
        return self.emit(flame.ReshapeOp(x, shape))

    def convert(self, x: SSAValue, elem: Attribute) -> SSAValue:
        if elem_of(x) == elem:
            return x
        return self.emit(flame.ConvertOp(x, elem))

    def iota(self, shape: Sequence[int], dim: int, step: int) -> SSAValue:
        """i32 `step * i`, i each element's index along `dim`."""
        return self.emit(flame.IotaOp(dim, 0.0, float(step), TensorType(i32, shape)))

    # ------------------------------------------------------------------ helpers

    def flat_index(self, shape: Sequence[int], dims: Sequence[int]) -> SSAValue:
        """Each element's row-major index over `dims` (i32), from one iota per dim."""
        if not dims:
            return self.fill(0.0, shape, i32)
        out: SSAValue | None = None
        stride = 1
        for d in reversed(dims):
            term = self.iota(shape, d, stride)
            out = term if out is None else self.binary("add", term, out)
            stride *= shape[d]
        assert out is not None  # dims is not empty (checked above)
        return out

    def upcast(self, x: SSAValue) -> SSAValue:
        """Half floats compute in float32 (rounded once at the end, as PyTorch)."""
        return self.convert(x, f32) if str(elem_of(x)) in HALF_ELEMENTS else x


def shape_of(v: SSAValue) -> tuple[int, ...]:
    return flame.tensor_shape(v)


def elem_of(v: SSAValue) -> Attribute:
    return flame.element_type(v)


def _keepdim(op: Operation) -> bool:
    return op.keepdim is not None  # type: ignore[attr-defined]  # only reductions declare keepdim


# --------------------------------------------------------------------------- decompositions


def decompose_softmax(op: flame.SoftmaxOp, em: Emitter) -> SSAValue:
    """exp(x - max) / sum(exp(x - max)) along dim."""
    x = em.upcast(op.input)
    shape, dims = shape_of(x), _softmax_dims(op)
    shifted = em.binary("sub", x, em.broadcast(em.reduce("max", x, dims, True), shape))
    e = em.unary("exp", shifted)
    out = em.binary("div", e, em.broadcast(em.reduce("sum", e, dims, True), shape))
    return em.convert(out, elem_of(op.input))


def decompose_log_softmax(op: flame.LogSoftmaxOp, em: Emitter) -> SSAValue:
    """(x - max) - log(sum(exp(x - max))) along dim."""
    x = em.upcast(op.input)
    shape, dims = shape_of(x), _softmax_dims(op)
    shifted = em.binary("sub", x, em.broadcast(em.reduce("max", x, dims, True), shape))
    total = em.reduce("sum", em.unary("exp", shifted), dims, True)
    out = em.binary("sub", shifted, em.broadcast(em.unary("log", total), shape))
    return em.convert(out, elem_of(op.input))


def _softmax_dims(op: flame._SoftmaxOp) -> tuple[int, ...]:
    return (op.dim_index,) if shape_of(op.input) else ()


def decompose_logsumexp(op: flame.LogsumexpOp, em: Emitter) -> SSAValue:
    """log(sum(exp(x - m))) + m over dims, m the max where it is finite and 0 where not (so a
    row of -inf gives -inf and a +inf gives +inf, as PyTorch)."""
    x = em.upcast(op.input)
    shape, dims, elem = shape_of(x), op.dim_tuple, elem_of(x)
    m = em.reduce("max", x, dims, True)
    infinite = em.binary("eq", em.unary("abs", m), em.scalar(math.inf, elem))
    m = em.where(infinite, em.scalar(0.0, elem), m)
    total = em.reduce(
        "sum", em.unary("exp", em.binary("sub", x, em.broadcast(m, shape))), dims, True
    )
    out = em.binary("add", em.unary("log", total), m)
    out = em.reshape(out, shapes.reduce(shape, dims, _keepdim(op)))
    return em.convert(out, elem_of(op.input))


def _variance(op: flame.VarOp | flame.StdOp, em: Emitter) -> SSAValue:
    """The corrected two-pass variance over dims, in float32 for half floats:

        d = x - mean(x);  (sum(d^2) - sum(d)^2 / count) / max(0, count - correction)

    The second term takes back the rounding error of the mean (Chan, Golub and LeVeque): a
    constant group, whose float mean may be an ulp off its value, gets a variance of exactly 0,
    as PyTorch's Welford reduction gives, so std's gradient there is PyTorch's 0 rather than
    d / (tiny std). Clamped at 0, where rounding could make it slightly negative."""
    x = em.upcast(op.input)
    shape, dims, elem = shape_of(x), op.dim_tuple, elem_of(x)
    keep = _keepdim(op)
    dev = em.binary("sub", x, em.broadcast(em.reduce("mean", x, dims, True), shape))
    squares = em.reduce("sum", em.binary("mul", dev, dev), dims, keep)
    drift = em.reduce("sum", dev, dims, keep)
    count = shapes.reduced_count(shape, dims)
    drift_squares = em.binary("div", em.binary("mul", drift, drift), em.scalar(count, elem))
    spread = em.binary("maximum", em.binary("sub", squares, drift_squares), em.scalar(0.0, elem))
    dof = max(0.0, count - op.correction.value.data)
    return em.binary("div", spread, em.scalar(dof, elem))


def decompose_var(op: flame.VarOp, em: Emitter) -> SSAValue:
    return em.convert(_variance(op, em), elem_of(op.input))


def decompose_std(op: flame.StdOp, em: Emitter) -> SSAValue:
    return em.convert(em.unary("sqrt", _variance(op, em)), elem_of(op.input))


def _arg(kind: str) -> Callable[[flame.ArgmaxOp, Emitter], SSAValue]:
    def decompose(op: flame.ArgmaxOp, em: Emitter) -> SSAValue:
        """The smallest row-major index over dims where x equals its max (NaN: where x is NaN,
        since the max is then NaN)."""
        x = op.input
        shape, dims = shape_of(x), op.dim_tuple
        best = em.broadcast(em.reduce(kind, x, dims, True), shape)
        hit = em.binary("eq", x, best)
        if elementwise.ELEMENT_TYPES[str(elem_of(x))][2]:
            hit = em.binary("logical_or", hit, em.binary("ne", x, x))
        none = em.scalar(float(shapes.reduced_count(shape, dims)), i32)
        candidates = em.where(hit, em.flat_index(shape, dims), none)
        return em.reduce("min", candidates, dims, _keepdim(op))

    decompose.__name__ = f"decompose_arg{kind}"
    return decompose


def _half_reduction(kind: str) -> Callable[..., SSAValue | None]:
    def decompose(op: flame.ReduceSumOp, em: Emitter) -> SSAValue | None:
        """A half-float sum or mean accumulates in float32 (on every PE and across them)
        and rounds once at the end, as PyTorch: the mean of a hundred f16 1000.0 is 1000.0,
        not inf from an f16 partial sum. Other element types are left alone. (A half-float
        prod is not widened: PyTorch rounds every product, pyflame/core/reductions.py.)"""
        if str(elem_of(op.input)) not in HALF_ELEMENTS:
            return None
        out = em.reduce(kind, em.upcast(op.input), op.dim_tuple, _keepdim(op))
        return em.convert(out, elem_of(op.input))

    decompose.__name__ = f"decompose_half_{kind}"
    return decompose


#: one decomposition per composite op (and per reduction that half floats widen)
DECOMPOSITIONS: dict[type[Operation], Callable[..., SSAValue | None]] = {
    flame.SoftmaxOp: decompose_softmax,
    flame.LogSoftmaxOp: decompose_log_softmax,
    flame.LogsumexpOp: decompose_logsumexp,
    flame.VarOp: decompose_var,
    flame.StdOp: decompose_std,
    flame.ArgmaxOp: _arg("max"),
    flame.ArgminOp: _arg("min"),
    flame.ReduceSumOp: _half_reduction("sum"),
    flame.ReduceMeanOp: _half_reduction("mean"),
}


# --------------------------------------------------------------------------- zero-size tensors
# An op on tensors with no elements computes nothing: its result is a constant. Folding those
# ops here (before the composites are spelled out) means no later pass or simulator kernel ever
# sees a zero-size reduction, matmul or convolution, and the values are PyTorch's:
# - a result with no elements: an empty flame.fill;
# - a reduction of no elements: its identity (sum 0, prod 1), or NaN (mean, var, std), or
#   -inf (logsumexp); max, min, argmax and argmin of no elements are refused (by the frontend
#   and the flame verifier, as PyTorch does);
# - matmul over an empty contraction dim: zeros; conv2d over no input channels: the bias;
# - pad of an empty tensor: the padding value; concat: its empty operands dropped.

#: the value of each reduction of no elements (the others have none: refused)
EMPTY_REDUCTION: dict[type[Operation], float] = {
    flame.ReduceSumOp: 0.0,
    flame.ReduceProdOp: 1.0,
    flame.ReduceMeanOp: math.nan,
    flame.VarOp: math.nan,
    flame.StdOp: math.nan,
    flame.LogsumexpOp: -math.inf,
    flame.MatmulOp: 0.0,
    flame.ScatterAddRowsOp: 0.0,  # no rows to add: zeros
}


def _numel(v: SSAValue) -> int:
    return math.prod(shape_of(v)) if isinstance(v.type, TensorType) else 1


def _where(op: Operation) -> str:
    loc = op.location
    return f"{loc.filename.data}:{loc.line.data}: " if isinstance(loc, FileLineColLoc) else ""


def _fold_empty_op(op: Operation) -> Operation | None:
    """The op(s) replacing `op` (the last one gives the result), or None to keep it."""
    result = op.results[0]
    typ = result.type
    assert isinstance(typ, TensorType)

    def fill(value: float) -> Operation:
        return flame.FillOp(value, typ)

    if _numel(result) == 0:
        return None if isinstance(op, flame.FillOp) else fill(0.0)
    if not any(_numel(v) == 0 for v in op.operands):
        return None
    if type(op) in EMPTY_REDUCTION:
        return fill(EMPTY_REDUCTION[type(op)])
    if isinstance(op, flame.PadOp):
        return fill(op.value.value.data)
    if isinstance(op, flame.ConcatOp):
        kept = [v for v in op.inputs if _numel(v) > 0]
        return flame.ConcatOp(kept, op.dim_index)
    if isinstance(op, flame.Conv2dOp) and _numel(op.weight) == 0 and op.bias is None:
        return fill(0.0)
    what = "of no elements" if isinstance(op, flame._ReduceOp) else "on a zero-size tensor"
    err = UnsupportedOpsError(
        f"{_where(op)}'{op.name}' {what} has no value here "
        f"({', '.join(str(v.type) for v in op.operands)} -> {typ})"
    )
    err.op = op
    raise err


def _conv_bias(op: flame.Conv2dOp) -> list[Operation]:
    """conv2d over no input channels: the bias, broadcast to the result."""
    assert op.bias is not None
    shape = shape_of(op.result)
    column = flame.ReshapeOp(op.bias, (1, shape[1], 1, 1))
    full = flame.BroadcastToOp(column.result, shape)
    return [column, full]


def fold_empty(module: ModuleOp) -> None:
    """Replace every flame op on zero-size tensors by the constant it computes (see above)."""
    for op in list(module.walk()):
        if not isinstance(op, flame.FlameOp) or len(op.results) != 1:
            continue
        if not isinstance(op.results[0].type, TensorType):
            continue
        if (
            isinstance(op, flame.Conv2dOp)
            and op.bias is not None
            and _numel(op.weight) == 0 < _numel(op.result)
        ):
            new_ops = _conv_bias(op)
        else:
            new = _fold_empty_op(op)
            if new is None:
                continue
            new_ops = [new]
        block = op.parent_block()
        assert block is not None
        for new in new_ops:
            new.location = op.location
            block.insert_op_before(new, op)
        hint = op.layout
        if hint is not None:
            new_ops[-1].properties["layout"] = hint
        op.results[0].replace_all_uses_with(new_ops[-1].results[0])
        block.erase_op(op)


class DecomposeComposite(RewritePattern):
    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> None:
        decompose = DECOMPOSITIONS.get(type(op))
        if decompose is None or not isinstance(op, flame.FlameOp):
            return
        em = Emitter(rewriter, op)
        out = decompose(op, em)
        if out is None:  # nothing to spell out (a reduction that is not in half floats)
            return
        hint = op.layout
        owner = out.owner
        if hint is not None and isinstance(owner, Operation) and owner in em.made:
            owner.properties["layout"] = hint
        rewriter.replace(op, [], [out])


class DecomposePass(ModulePass):
    """Fold ops on zero-size tensors into constants, then rewrite composite flame ops (softmax,
    log_softmax, logsumexp, var, std, argmax, argmin) into primitive flame ops."""

    name = "decompose"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        fold_empty(op)
        walker = PatternRewriteWalker(
            GreedyRewritePatternApplier([DecomposeComposite()], dce_enabled=False),
            apply_recursively=False,
        )
        walker.rewrite_module(op)
