"""What flame-to-mesh leaves behind once every op is lowered, removed before the mesh program
is planned (each would otherwise run on every PE of its layout and cost cycles):

- a transpose of a transpose that gives back its source in the source's very layout: the
  lowering remakes a value in the layout a user wants from the value it was made from (the
  backward product's `(w.T).T` on SUMMA's grid from `w` scattered there: transpose, then
  transpose back, every PE's block turned twice), so the pair stands where `w` would do;
- a local product of a block transposed on every PE (`dlogits.T @ h`, `h @ w.T` where `w.T`
  was made for another reader): mesh.local_matmul reads the block in place instead
  (`transpose_a` / `transpose_b`: strided reads, as the GEMV's `W.T` already is);
- local transposes nothing reads: a flame value is lowered where it is made, and when all
  its users took another route (the pair above, a product reading a transposed source in
  place) the lowered transpose stays unread (the MLP step's `w.T` transposed back for a
  product that took `w` from another scatter). Only transposes: a value the user laid out
  (`layout=`) stays even unread, so that a layout that cannot fit is still refused at
  compile time (tests/unit/test_conv.py `test_huge_image_overflows_sram_at_compile_time`).

    %t = mesh.transpose %w perm [1, 0] : <10x256 split [r, c]> -> <256x10 split [c, r]>
    %u = mesh.transpose %t perm [1, 0] : <256x10 split [c, r]> -> <10x256 split [r, c]>
    %p = mesh.matmul summa %g, %u ...        ->   %p = mesh.matmul summa %g, %w ...
"""

from __future__ import annotations

from xdsl.ir import Block

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


def _swaps_last_two(op: mesh.TransposeOp) -> bool:
    perm = [int(p) for p in op.perm.get_values()]
    n = len(perm)
    return n >= 2 and perm == [*range(n - 2), n - 1, n - 2]


def fold_transposed_operands(block: Block) -> None:
    """A mesh.local_matmul operand that is a mesh.transpose of its last two dims is read in
    place from the transpose's source (the product's flag for that side set); the result's
    type is the same."""
    for op in list(block.ops):
        if not isinstance(op, mesh.LocalMatmulOp):
            continue
        operands, flags = [op.lhs, op.rhs], list(op.transposes)
        for i, v in enumerate(operands):
            owner = v.owner
            if not flags[i] and isinstance(owner, mesh.TransposeOp) and _swaps_last_two(owner):
                operands[i], flags[i] = owner.input, True
        if flags == list(op.transposes):
            continue
        folded = mesh.LocalMatmulOp(
            operands[0],
            operands[1],
            transpose_a=flags[0],
            transpose_b=flags[1],
            result_elem=mesh.elem_of(op.result),
        )
        if folded.result.type != op.result.type:
            continue
        block.insert_op_before(folded, op)
        op.result.replace_all_uses_with(folded.result)
        block.erase_op(op)


def erase_unread(block: Block) -> None:
    """Erase the mesh.transposes of `block` whose results nothing reads (users first, so a
    chain of them goes at once)."""
    for op in reversed(list(block.ops)):
        if isinstance(op, mesh.TransposeOp) and not op.result.uses:
            block.erase_op(op)


__all__ = ["erase_unread", "fold_transpose_pairs", "fold_transposed_operands"]
