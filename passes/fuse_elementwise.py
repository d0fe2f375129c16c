"""fuse-elementwise: a chain or DAG of tile-local elementwise pe ops becomes one `pe.fused` op,
one pass over the tile with no intermediate tiles.

A group is grown backwards from a root (`pe.unary`, `pe.binary`, `pe.select`, `pe.convert`): the
op that writes a buffer the group reads joins it when it is such an op too (or a `pe.broadcast`,
which becomes a stride-0 read of its source, or a `pe.fill`, which becomes a constant), runs on
the same PEs, writes a buffer of the root's size, is the buffer's only writer, and every other
use of the buffer is in the group. So a value with a user outside the group (another op, a
send, a host output, a value saved for the backward pass) stays a buffer: it is the root of its
own group. Int32 ops are left alone (their kernels check overflow), and so are ops in a
`pe.loop`. The group's ops move to the root's place in program order, so a group's input may
not be written (or used by an asynchronous transfer) between a member and the root.

    %s = pe.alloc ... : !pe.buf<1xf32>
    pe.fill %s {value = 1.5 : f64, pes = [0, 0, 2, 2]} : !pe.buf<1xf32>
    pe.binary mul %t, %x, %s {pes = [0, 0, 2, 2]} : !pe.buf<64xf32>, !pe.buf<64xf32>, ...
    pe.unary relu %r, %t {pes = [0, 0, 2, 2]} : !pe.buf<64xf32>, !pe.buf<64xf32>
becomes
    pe.fused %r, %x expr "mul.f32($0, 1.5:f32); relu.f32(%0)" {pes = [0, 0, 2, 2]} : ...

Why at the pe level (after lower-mesh-to-pe, before allocate-colors and allocate-sram): there
every buffer, its writers and all its readers (sends, receives, matmuls, host outputs, ops in
loops, asynchronous transfers and their waits) are explicit uses of one SSA value, so "used only
inside the chain" is a local question with an exact answer, and the removed buffers never get
SRAM. At the mesh level the same value may still become several buffers (writable copies,
received views) or none (reshape), depending on the lowering. The cost model predicts the
groups on the mesh program with the same rule (`mesh_groups` below; passes/cost_model/fused.py
and plan-memory use it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import cast

from xdsl.context import Context
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Block, Operation, SSAValue
from xdsl.passes import ModulePass

from pyflame.core import fused_expr
from pyflame.core.elementwise import type_name
from pyflame.core.fused_expr import Arg, Const, Input, Ref, Shape, Step
from pyflame.dialects import mesh, pe

#: ops that compute a tile elementwise (roots and members)
COMPUTE = (pe.UnaryOp, pe.BinaryOp, pe.SelectOp, pe.ConvertOp)
#: ops that join a group but are no step of their own (a constant, a stride-0 read)
LEAVES = (pe.FillOp, pe.BroadcastOp)


def elem(v: SSAValue) -> str:
    return type_name(pe.buf_of(v).element_type)


def size(v: SSAValue) -> int:
    return pe.buf_of(v).size.data


def aliases(buf: SSAValue) -> list[SSAValue]:
    """`buf` and the buffers that share its bytes by construction: a window's whole buffer
    and a buffer's windows (`pe.alloc in %whole at N`, mesh.allreduce_group's packed buffer)."""
    owner = buf.owner
    out = [buf]
    if isinstance(owner, pe.AllocOp) and owner.whole is not None:
        out.append(owner.whole)
    out += [u.operation.result for u in buf.uses if isinstance(u.operation, pe.AllocOp)]
    return out


def fusable(op: Operation, block: Block) -> bool:
    """An elementwise (or leaf) op directly in `block`, on floats or bools, not in a loop."""
    if not isinstance(op, COMPUTE + LEAVES) or op.parent_block() is not block:
        return False
    if op.pes_step is not None:
        return False
    return all(elem(v) != "i32" for v in op.buffers)


@dataclass
class Group:
    root: pe.PEOp
    members: set[Operation] = field(default_factory=set)


class Fuser:
    """Finds the groups of one block (see the module docstring) and rewrites each."""

    def __init__(self, block: Block):
        self.block = block
        self.ops = list(block.ops)
        self.index = {op: i for i, op in enumerate(self.ops)}
        self.taken: set[Operation] = set()

    def writer(self, buf: SSAValue) -> Operation | None:
        """The one op of the block that writes `buf`, or None (several, or none)."""
        writers = [u.operation for u in buf.uses if getattr(u.operation, "written", None) is buf]
        return writers[0] if len(writers) == 1 else None

    def hazard(self, member: Operation, root: Operation, group: set[Operation]) -> bool:
        """Whether moving `member` to the root's place would read an input after a non-member
        wrote it (or while an asynchronous transfer uses it)."""
        lo, hi = self.index[member], self.index[root]
        # (a write of a buffer sharing v's bytes, a window's whole or a window, writes v too)
        for v in (a for r in self.reads_of(member) for a in aliases(r)):
            for u in v.uses:
                op = u.operation
                if op in group:
                    continue
                pos = pe.program_index(self.index, op)
                if not lo < pos < hi:
                    continue
                if op.parent_block() is not self.block or getattr(op, "written", None) is v:
                    return True
                if any(isinstance(r.type, pe.TokenType) for r in op.results):
                    return True
        return False

    @staticmethod
    def reads_of(op: Operation) -> list[SSAValue]:
        bufs = [o for o in op.operands if isinstance(o.type, pe.BufferType)]
        return bufs[1:]  # the first buffer operand is the one written (the dialect's convention)

    def absorbable(self, buf: SSAValue, group: Group, n: int) -> Operation | None:
        """The writer of `buf` when it may join `group` (tile size n), else None: never for a
        buffer that shares its bytes with another (`aliases`: what is written there is read
        through the other, unseen here)."""
        if not isinstance(buf.owner, pe.AllocOp) or len(aliases(buf)) > 1:
            return None
        w = self.writer(buf)
        if w is None or w in group.members or w in self.taken or not fusable(w, self.block):
            return None
        if w.rect != group.root.rect or buf in self.reads_of(w):  # type: ignore[attr-defined]  # pe ops (fusable)
            return None
        if isinstance(w, pe.FillOp):  # a constant: of a scalar or a tile, read by steps
            if size(buf) not in (1, n) or any(
                not isinstance(u.operation, COMPUTE) for u in buf.uses if u.operation is not w
            ):
                return None
        elif size(buf) != n:
            return None
        if isinstance(w, pe.BroadcastOp) and math.prod(w.dst_shape.get_values()) != n:
            return None
        if any(u.operation not in group.members and u.operation is not w for u in buf.uses):
            return None
        if any(self.index[w] > self.index[u.operation] for u in buf.uses):
            return None  # read before it is written: leave the program as it is
        return w

    def grow(self, root: pe.PEOp) -> Group:
        group = Group(root, {root})
        n = size(root.operands[0])
        changed = True
        while changed:
            changed = False
            for m in sorted(group.members, key=self.index.__getitem__):
                for buf in self.reads_of(m):
                    w = self.absorbable(buf, group, n)
                    if w is None:
                        continue
                    trial = group.members | {w}
                    if self.hazard(w, root, trial):
                        continue
                    group.members.add(w)
                    changed = True
        return group

    def groups(self) -> list[Group]:
        found = []
        for op in reversed(self.ops):
            if op in self.taken or not isinstance(op, COMPUTE) or not fusable(op, self.block):
                continue
            group = self.grow(op)
            if len(group.members) < 2:
                continue
            self.taken |= group.members
            found.append(group)
        return found

    def rewrite(self, group: Group) -> pe.FusedOp | None:
        """Replace the group's ops with one pe.fused at the root (None: nothing to stream,
        every input a constant, and the group is left as it is)."""
        members = sorted(group.members, key=self.index.__getitem__)
        expr = _Expression()
        made, inputs, steps, arg = expr.made, expr.inputs, expr.steps, expr.arg
        for m in members:
            dst = m.operands[0]
            if isinstance(m, pe.FillOp):
                made[dst] = Const(m.value.value.data, elem(dst))
                continue
            if isinstance(m, pe.BroadcastOp):
                src = (
                    Shape(tuple(m.src_shape.get_values())),
                    Shape(tuple(m.dst_shape.get_values())),
                )
                steps.append(Step("broadcast", elem(dst), (arg(m.src), *src)))
            elif isinstance(m, pe.UnaryOp) and m.fn.data == "scale":
                assert m.scalar is not None  # the verifier: scale takes a scalar
                k = Const(m.scalar.value.data, elem(m.src))
                steps.append(Step("scale", elem(dst), (arg(m.src), k)))
            elif isinstance(m, pe.UnaryOp):
                steps.append(Step(str(m.fn.data), elem(dst), (arg(m.src),)))
            elif isinstance(m, pe.BinaryOp):
                steps.append(Step(str(m.fn.data), elem(dst), (arg(m.lhs), arg(m.rhs))))
            elif isinstance(m, pe.SelectOp):
                steps.append(Step("select", elem(dst), (arg(m.cond), arg(m.lhs), arg(m.rhs))))
            else:
                assert isinstance(m, pe.ConvertOp)
                steps.append(Step("convert", elem(dst), (arg(m.src),)))
            made[dst] = Ref(len(steps) - 1)
        root = group.root
        if not inputs:
            return None
        fused = pe.FusedOp(
            root.operands[0], inputs, expr=fused_expr.format_steps(steps), pes=root.rect
        )
        fused.location = root.location
        self.block.insert_op_before(fused, root)
        dead = [m.operands[0].owner for m in members if m is not root]
        for m in reversed(members):
            m.detach()
            m.erase()
        for alloc in dead:
            if isinstance(alloc, pe.AllocOp) and not alloc.result.uses:
                alloc.detach()
                alloc.erase()
        return fused


# --- the same groups, predicted on a mesh program ------------------------------------------
# plan-memory (a fused-away value has no tile) and the cost model (a group costs one pass)
# apply the pe rule above to the mesh ops whose lowerings are those pe ops, one pe op each:
# mesh.unary/binary/select/convert compute, mesh.fill and mesh.broadcast are leaves, and a
# mesh.reshape lowers to no op at all (its result is its operand's buffer), so it joins a group
# as the same value. A mesh value is one buffer written once, so the writer and hazard
# questions disappear.

MESH_COMPUTE = (mesh.UnaryOp, mesh.BinaryOp, mesh.SelectOp, mesh.ConvertOp)
MESH_LEAVES = (mesh.FillOp, mesh.BroadcastOp)


@dataclass
class MeshGroup:
    """A group predicted on the mesh program: its root, members (root included) in program
    order, and the expression pe.fused will have (inputs: the mesh values it reads)."""

    root: Operation
    members: list[Operation]
    steps: list[Step]
    inputs: list[SSAValue]


def _mesh_fusable(op: Operation) -> bool:
    return isinstance(op, MESH_COMPUTE + MESH_LEAVES) and all(
        type_name(mesh.elem_of(v)) != "i32"
        for v in [*op.operands, *op.results]
        if isinstance(v.type, mesh.MeshTensorType)
    )


class _Expression:
    """A fused op's expression as it is built from a group's ops (the pe form and the mesh
    form share it): the steps so far, the group's inputs, and what each value already is."""

    def __init__(self) -> None:
        self.made: dict[SSAValue, Arg] = {}  # a value computed by a step, or a constant
        self.inputs: list[SSAValue] = []
        self.steps: list[Step] = []

    def arg(self, v: SSAValue) -> Arg:
        """`v` as an operand of a step: what it was made into, else an input (once each)."""
        if v in self.made:
            return self.made[v]
        if v not in self.inputs:
            self.inputs.append(v)
        return Input(self.inputs.index(v))


def _local(v: SSAValue) -> int:
    return mesh.dist_of(v).local_elems


def _mesh_steps(members: list[Operation]) -> tuple[list[Step], list[SSAValue]]:
    expr = _Expression()
    made, inputs, steps, arg = expr.made, expr.inputs, expr.steps, expr.arg
    for m in members:
        out = m.results[0]
        typ = type_name(mesh.elem_of(out))
        if isinstance(m, mesh.FillOp):
            made[out] = Const(m.value.value.data, typ)
            continue
        if isinstance(m, mesh.ReshapeOp):  # the same buffer, read as it is
            made[out] = arg(m.input)
            continue
        if isinstance(m, mesh.BroadcastOp):
            src, dst = mesh.dist_of(m.input), mesh.dist_of(out)
            lead = (1,) * (len(dst.shape) - len(src.shape))
            shapes = (Shape(lead + tuple(src.block)), Shape(tuple(dst.block)))
            steps.append(Step("broadcast", typ, (arg(m.input), *shapes)))
        elif isinstance(m, mesh.UnaryOp) and m.fn.data == "scale":
            assert m.scalar is not None  # the verifier: scale takes a scalar
            k = Const(m.scalar.value.data, type_name(mesh.elem_of(m.input)))
            steps.append(Step("scale", typ, (arg(m.input), k)))
        elif isinstance(m, mesh.ConvertOp):
            steps.append(Step("convert", typ, (arg(m.input),)))
        elif isinstance(m, mesh.SelectOp):
            steps.append(Step("select", typ, tuple(arg(v) for v in m.operands)))
        else:
            fn = m.fn.data  # type: ignore[attr-defined]  # unary and binary ops have fn
            steps.append(Step(str(fn), typ, tuple(arg(v) for v in m.operands)))
        made[out] = Ref(len(steps) - 1)
    return steps, inputs


def _group_of(
    root: Operation,
    block: Block,
    fusable: dict[Operation, bool],
    taken: set[Operation],
    n: int,
    rect: tuple[int, int, int, int],
) -> set[Operation]:
    """The least group holding `root` that takes in every maker of a member's operand that
    may join: fusable (or a reshape) in `block`, on `rect`, `n` elements a PE (a fill: 1 or n,
    read by compute ops only), not `taken`, every user of the value a member. A worklist: a
    value some of whose users are outside waits, and is asked again whenever the group grows
    (the group only grows, so the order of joining does not change it)."""
    from pyflame.passes.pe_lowering.state import grid_rect

    members: set[Operation] = {root}

    def joins(v: SSAValue) -> bool | None:
        """Whether v's maker joins now (None: not now, maybe once v's other users have)."""
        w = v.owner
        if not isinstance(w, Operation) or w in members or w in taken:
            return False
        if w.parent_block() is not block:
            return False
        if not fusable[w] and not isinstance(w, mesh.ReshapeOp):
            return False
        if grid_rect(mesh.dist_of(v)) != rect:
            return False
        if isinstance(w, mesh.FillOp):
            if _local(v) not in (1, n) or any(
                not isinstance(u.operation, MESH_COMPUTE) for u in v.uses
            ):
                return False
        elif _local(v) != n:
            return False
        return None if any(u.operation not in members for u in v.uses) else True

    frontier: list[Operation] = [root]
    waiting: list[SSAValue] = []
    while frontier:
        m = frontier.pop()
        for v in m.operands:
            verdict = joins(v)
            if verdict is None:
                waiting.append(v)
            elif verdict:
                members.add(cast(Operation, v.owner))
                frontier.append(cast(Operation, v.owner))
        if not frontier and waiting:
            verdicts = [(v, joins(v)) for v in waiting]
            waiting = [v for v, verdict in verdicts if verdict is None]
            for v, verdict in verdicts:
                if verdict and v.owner not in members:
                    members.add(cast(Operation, v.owner))
                    frontier.append(cast(Operation, v.owner))
    return members


def mesh_groups(fn: func.FuncOp) -> list[MeshGroup]:
    """The groups fuse-elementwise will make of `fn`'s mesh program once it is lowered."""
    from pyflame.passes.pe_lowering.state import grid_rect

    ops = list(fn.body.block.ops)
    index = {op: i for i, op in enumerate(ops)}
    fusable = {op: _mesh_fusable(op) for op in ops}
    taken: set[Operation] = set()
    found = []
    for root in reversed(ops):
        if root in taken or not isinstance(root, MESH_COMPUTE) or not fusable[root]:
            continue
        n, rect = _local(root.results[0]), grid_rect(mesh.dist_of(root.results[0]))
        members = _group_of(root, fn.body.block, fusable, taken, n, rect)
        if len(members) < 2:
            continue
        ordered = sorted(members, key=index.__getitem__)
        steps, inputs = _mesh_steps(ordered)
        if not inputs:
            continue
        taken |= members
        found.append(MeshGroup(root, ordered, steps, inputs))
    return found


def fuse_block(block: Block) -> int:
    """Fuse the groups of `block`; returns how many pe.fused ops it made."""
    fuser = Fuser(block)
    return sum(fuser.rewrite(group) is not None for group in fuser.groups())


class FuseElementwisePass(ModulePass):
    """Fuse chains of tile-local elementwise pe ops into pe.fused ops (one pass per tile)."""

    name = "fuse-elementwise"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        import dataclasses

        from pyflame.core.errors import SRAMOverflowError
        from pyflame.core.target import Target
        from pyflame.passes.allocate_sram import allocate
        from pyflame.passes.plan_memory import ALIGN

        # A group reads its inputs at the root, so fusing can lengthen an input's life: a
        # function whose fused form would not fit SRAM (allocate-colors' barrier word kept back,
        # as plan-placement does) is left unfused. plan-placement checks the unfused lowering.
        target = Target.of_module(op)
        target = dataclasses.replace(target, sram_reserved_bytes=target.sram_reserved_bytes + ALIGN)
        for fn in [f for f in op.walk() if isinstance(f, func.FuncOp)]:
            trial = fn.clone()
            if not fuse_block(trial.body.block):
                continue
            try:
                allocate(trial, target)
            except SRAMOverflowError:
                continue
            fuse_block(fn.body.block)
