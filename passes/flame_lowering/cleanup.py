"""What flame-to-mesh leaves behind once every op is lowered, removed before the mesh program
is planned (each would otherwise run on every PE of its layout and cost cycles):

- a transpose of a transpose that gives back its source in the source's very layout: the
  lowering remakes a value in the layout a user wants from the value it was made from (the
  backward product's `(w.T).T` on SUMMA's grid from `w` scattered there: transpose, then
  transpose back, every PE's block turned twice), so the pair stands where `w` would do;
- pure mesh ops nothing reads: a flame value is lowered where it is made, and when all its
  users took another route (the pair above, a matmul reading a transposed source in place)
  the lowered value stays unread (the MLP step's `w.T` transposed back for a product that
  took `w` from another scatter).

    %t = mesh.transpose %w perm [1, 0] : <10x256 split [r, c]> -> <256x10 split [c, r]>
    %u = mesh.transpose %t perm [1, 0] : <256x10 split [c, r]> -> <10x256 split [r, c]>
    %p = mesh.matmul summa %g, %u ...        ->   %p = mesh.matmul summa %g, %w ...
"""

from __future__ import annotations

from xdsl.ir import Block
from xdsl.traits import Pure

from pyflame.dialects import mesh


def fold_transpose_pairs(block: Block) -> None:
    """Read `x` where a mesh.transpose of a mesh.transpose of `x` gives `x` back, layout and
    all (the inner transpose stays for its other readers, if any)."""
    for op in block.ops:
        if not isinstance(op, mesh.TransposeOp):
            continue
        inner = op.input.owner
        if not isinstance(inner, mesh.TransposeOp):
            continue
        outer_perm, inner_perm = op.perm.get_values(), inner.perm.get_values()
        composed = [int(inner_perm[p]) for p in outer_perm]
        if composed == list(range(len(composed))) and op.result.type == inner.input.type:
            op.result.replace_all_uses_with(inner.input)


def erase_unread(block: Block) -> None:
    """Erase the pure ops of `block` whose results nothing reads (users first, so a chain of
    them goes at once)."""
    for op in reversed(list(block.ops)):
        if op.results and op.has_trait(Pure) and not any(r.uses for r in op.results):
            block.erase_op(op)


__all__ = ["erase_unread", "fold_transpose_pairs"]
