"""canonicalize: algebraic simplifications of flame programs that remove work.

Autograd and the frontend compose ops without looking at their neighbours: the gradient of
`x @ w.T` with respect to `w` is `(x.T @ g).T`, and the gradient that flows back through a
transposed weight transposes it again. On the wafer every transpose is a pass over each PE's
tile (and, between layouts, a redistribution), so these rewrites run before layouts are
chosen:

- transpose(transpose(x, p), q) -> x when q undoes p and nothing else reads transpose(x, p);
- transpose(matmul(a, b)) (the last two dims swapped) -> matmul(b^T, a^T), when a or b is
  itself such a transpose (it cancels), so the program holds fewer transposes than before.

What is left alone, measured (benchmarks/RESULTS.md, session 25): a transpose of a transpose
whose inner one is read elsewhere (`w.T` of a weight's forward product, transposed back for
its backward product: flame-to-mesh reads the back-transpose as `w.T`'s layout transposed,
where `w` itself would need a layout of its own: the GPT step 211,999 -> 220,198 cycles), and
two permutations that compose to a third (a last-two-dims swap of a head split folds into a
matmul's operand in flame-to-mesh; their composition does not: 221,345). A transpose or matmul
with a layout hint (the user's `layout=`) is kept as written: the hint belongs to that result.
Values are the same: a transpose moves them, and (b^T a^T)_{ij} is the dot product of
(a b)_{ji}, summed in the order the chosen product's algorithm sums.
"""

from __future__ import annotations

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    GreedyRewritePatternApplier,
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
    op_type_rewrite_pattern,
)

from pyflame.dialects import flame


def _swaps_last_two(perm: tuple[int, ...]) -> bool:
    rank = len(perm)
    return rank >= 2 and perm == (*range(rank - 2), rank - 1, rank - 2)


def _swapped(v: SSAValue) -> SSAValue | None:
    """`x` when `v` is `x` with its last two dims swapped by a hint-free flame.transpose."""
    owner = v.owner
    if isinstance(owner, flame.TransposeOp) and owner.layout is None:
        if _swaps_last_two(owner.perm_tuple):
            return owner.input
    return None


def _erase_if_unused(op: Operation, rewriter: PatternRewriter) -> None:
    if all(not r.uses for r in op.results):
        rewriter.erase(op)


class FoldTransposeOfTranspose(RewritePattern):
    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: flame.TransposeOp, rewriter: PatternRewriter) -> None:
        inner = op.input.owner
        if op.layout is not None or not isinstance(inner, flame.TransposeOp):
            return
        if not inner.result.has_one_use():
            # x.T read elsewhere too (a weight's forward product): flame-to-mesh reads
            # (x.T).T as x.T's layout transposed, which a second copy of x would not share
            return
        p, q = inner.perm_tuple, op.perm_tuple
        if tuple(p[i] for i in q) != tuple(range(len(q))):  # result dim i is x's dim p[q[i]]
            # not the identity: kept as two (a last-two-dims swap of a head split is what
            # flame-to-mesh folds into a matmul's operand; their composition is not)
            return
        rewriter.replace(op, [], [inner.input])
        _erase_if_unused(inner, rewriter)


class TransposeOfMatmul(RewritePattern):
    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: flame.TransposeOp, rewriter: PatternRewriter) -> None:
        product = op.input.owner
        if (
            op.layout is not None
            or not _swaps_last_two(op.perm_tuple)
            or not isinstance(product, flame.MatmulOp)
            or product.layout is not None
            or not product.result.has_one_use()
        ):
            return
        lhs, rhs = product.lhs, product.rhs
        if len(flame.tensor_shape(lhs)) < 2 or len(flame.tensor_shape(rhs)) < 2:
            return  # a vector operand: its transpose is not a matrix's
        lhs_t, rhs_t = _swapped(lhs), _swapped(rhs)
        if lhs_t is None and rhs_t is None:
            return  # two transposes would replace one
        made: list[Operation] = []

        def transposed(v: SSAValue, source: SSAValue | None) -> SSAValue:
            if source is not None:
                return source
            rank = len(flame.tensor_shape(v))
            t = flame.TransposeOp(v, (*range(rank - 2), rank - 1, rank - 2))
            t.location = op.location
            made.append(t)
            return t.result

        new_lhs, new_rhs = transposed(rhs, rhs_t), transposed(lhs, lhs_t)
        matmul = flame.MatmulOp(new_lhs, new_rhs)
        matmul.location = product.location
        rewriter.replace(op, [*made, matmul])
        rewriter.erase(product)
        for v in (lhs, rhs):
            if isinstance(v.owner, flame.TransposeOp):
                _erase_if_unused(v.owner, rewriter)


class CanonicalizePass(ModulePass):
    """Fold transposes of transposes and transposes of products (module docstring)."""

    name = "canonicalize"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        PatternRewriteWalker(
            GreedyRewritePatternApplier([FoldTransposeOfTranspose(), TransposeOfMatmul()]),
            apply_recursively=True,
        ).rewrite_module(op)
