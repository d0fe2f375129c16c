"""einsum (torch.einsum) by decomposition: operands' own summed labels reduced with
flame.reduce_sum, the two operands permuted and reshaped to [batch, free, contracted] and
[batch, contracted, free] for one flame.matmul, the result reshaped and permuted to the
output's order; with nothing contracted, a broadcasting flame.mul. One operand: a permute and
a sum.

    pf.einsum("bij,bjk->bik", a, b)   # flame.matmul
    pf.einsum("ij->ji", a)            # flame.transpose
    pf.einsum("i,j->ij", u, v)        # flame.mul of two broadcasts (nothing contracted)

Repeated labels within one operand (diagonals, traces) are not supported.
"""

from __future__ import annotations

import math
import string
from typing import Any

from pyflame.lazy_tensor import Tensor
from pyflame.ops.elementwise import mul
from pyflame.ops.linalg import matmul
from pyflame.ops.node import _check_tensor, _shape_error
from pyflame.ops.reductions import sum
from pyflame.ops.shape import permute, reshape

_LETTERS = string.ascii_letters


def _parse(equation: str, ranks: list[int]) -> tuple[list[str], str]:
    """The operands' labels and the output's, with `...` spelled out as unused letters and the
    implicit output (no `->`: the labels used once, alphabetically) made explicit."""
    eq = equation.replace(" ", "")
    lhs, arrow, out = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(ranks):
        raise ValueError(
            f"einsum(): {len(terms)} operand(s) in the equation but {len(ranks)} given"
        )
    for t in [*terms, out]:
        bad = set(t.replace("...", "")) - set(_LETTERS)
        if bad:
            raise ValueError(f"einsum(): invalid subscript given in the equation: {sorted(bad)}")
    spare = [c for c in _LETTERS if c not in eq]
    ell_rank = max(
        [r - len(t.replace("...", "")) for t, r in zip(terms, ranks, strict=True) if "..." in t]
        or [0]
    )
    ell = "".join(spare[:ell_rank])
    labels: list[str] = []
    for t, r in zip(terms, ranks, strict=True):
        if "..." in t:
            n = r - len(t.replace("...", ""))
            t = t.replace("...", ell[ell_rank - n :] if n else "")
        if len(t) != r:
            raise ValueError(
                f"einsum(): the number of subscripts in the equation ({len(t)}) does not match "
                f"the number of dimensions ({r}) for operand {len(labels)}"
            )
        labels.append(t)
    if arrow:
        out = out.replace("...", ell)
    else:
        counts: dict[str, int] = {}
        for t in labels:
            for c in t:
                counts[c] = counts.get(c, 0) + 1
        out = ell + "".join(sorted(c for c in counts if counts[c] == 1 and c not in ell))
    for t in labels:
        if len(set(t)) != len(t):
            raise NotImplementedError(
                f"einsum(): a label repeated within one operand ({t!r}, a diagonal) is not "
                "supported"
            )
    if len(set(out)) != len(out):
        raise ValueError(f"einsum(): output subscript {out!r} appears more than once")
    missing = set(out) - set("".join(labels))
    if missing:
        raise ValueError(
            f"einsum(): output subscript {sorted(missing)[0]} does not appear in the equation "
            "for any input operand"
        )
    return labels, out


def _sum_own(x: Tensor, labels: str, keep: set[str]) -> tuple[Tensor, str]:
    """x with the labels not in `keep` summed away."""
    gone = [i for i, c in enumerate(labels) if c not in keep]
    if not gone:
        return x, labels
    return sum(x, tuple(gone)), "".join(c for c in labels if c in keep)


def _arrange(x: Tensor, labels: str, order: str) -> Tensor:
    if labels == order:
        return x
    return permute(x, *[labels.index(c) for c in order])


def _spread(x: Tensor, labels: str, out: str) -> Tensor:
    """x in the output's order, with a size-1 dim for each output label it lacks."""
    mine = "".join(c for c in out if c in labels)
    x = _arrange(x, labels, mine)
    return reshape(x, tuple(x.shape[mine.index(c)] if c in mine else 1 for c in out))


def einsum(equation: str, *operands: Any) -> Tensor:
    """torch.einsum for one or two operands (a list of operands is accepted too)."""
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    for i, t in enumerate(operands):
        _check_tensor(t, f"einsum operand {i}")
    if not 1 <= len(operands) <= 2:
        raise NotImplementedError("einsum(): one or two operands are supported")
    labels, out = _parse(equation, [t.ndim for t in operands])
    sizes: dict[str, int] = {}
    for t, lab in zip(operands, labels, strict=True):
        for c, n in zip(lab, t.shape, strict=True):
            if sizes.setdefault(c, n) != n:
                raise _shape_error(
                    f"einsum(): operands do not broadcast with remapped shapes: subscript {c} "
                    f"has size {sizes[c]} and {n}"
                )
    if len(operands) == 1:
        x, lab = _sum_own(operands[0], labels[0], set(out))
        return _arrange(x, lab, out)
    (a, b), (la, lb) = operands, labels
    a, la = _sum_own(a, la, set(out) | set(lb))
    b, lb = _sum_own(b, lb, set(out) | set(la))
    batch = "".join(c for c in out if c in la and c in lb)
    free_a = "".join(c for c in out if c in la and c not in lb)
    free_b = "".join(c for c in out if c in lb and c not in la)
    contracted = "".join(c for c in la if c in lb and c not in out)

    if not contracted:  # an elementwise or outer product: a broadcasting mul, no matmul
        return mul(_spread(a, la, out), _spread(b, lb, out))

    def size(labs: str) -> int:
        return math.prod(sizes[c] for c in labs)

    lhs = reshape(
        _arrange(a, la, batch + free_a + contracted),
        (*[sizes[c] for c in batch], size(free_a), size(contracted)),
    )
    rhs = reshape(
        _arrange(b, lb, batch + contracted + free_b),
        (*[sizes[c] for c in batch], size(contracted), size(free_b)),
    )
    product = matmul(lhs, rhs)
    got = batch + free_a + free_b
    product = reshape(product, tuple(sizes[c] for c in got))
    return _arrange(product, got, out)
