"""place-on-fabric: put independent products on disjoint rectangles of the fabric, so that they
run at the same time, when the cost model says the program gets shorter.

assign-layouts anchors every grid at PE (0, 0): two matmuls with no data dependence between them
(the q/k/v projections, two branches of a model) queue on the same PEs while the rest of the
wafer idles. This pass runs after it, reads its choices (`pf.dist`), and moves some of them to
another origin (`pf.dist = "16x16 at (0, 16) split [r, c]"`), which flame-to-mesh follows:

1. The candidates are the SUMMA products (`flame.matmul`, not skinny: a GEMV stays where its
   matrix is) that assign-layouts placed. Each brings its *branch*: the ops whose result
   depends on that product and on no other candidate (its consumers up to where two branches
   meet), so that a chain such as softmax(q @ k^T) moves with its product.
2. Candidates are grouped in program order into *waves* of mutually independent ones (neither
   depends on the other); in each wave the first branch stays at PE (0, 0) and the others'
   rectangles are packed side by side (rows of rectangles, left to right, then the next row)
   outside the rectangle where every op that stays runs, so that a moved product never shares
   PEs with ops running at the same time (allocate-colors orders color reuse by program order,
   which holds between ops on the same PEs); a branch that does not fit stays at (0, 0) too.
3. The cost model decides: a copy of the module is lowered to mesh as it is and with the
   packing, and each is estimated as its critical path (passes/cost_model/critical_path.py:
   ops on disjoint PEs overlap; moving results back together is the redistributions the
   lowering adds). The packing is kept only when it is at least `MIN_GAIN` shorter.

A module without two independent products, or whose layouts were not assigned, is left alone.
Moved ops' `pf.why` says where and why:

    %4 = flame.matmul %c, %d {pf.dist = "4x4 split [r, c]", pf.why = "matmul"} : ...
becomes
    %4 = flame.matmul %c, %d {pf.dist = "4x4 at (0, 4) split [r, c]",
                              pf.why = "matmul; beside 1 independent product(s): 4,738 < 8,721
                                        estimated cycles in turn"} : ...
"""

from __future__ import annotations

from dataclasses import dataclass, field

from xdsl.context import Context
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp, StringAttr
from xdsl.ir import Operation, SSAValue
from xdsl.passes import ModulePass

from pyflame.core.distribution import Distribution
from pyflame.core.placement import placement_of
from pyflame.core.target import Target
from pyflame.dialects import flame
from pyflame.passes.flame_lowering.gemv import skinny_side
from pyflame.passes.layouts import (
    ASSIGNED_ATTR,
    REASON_ATTR,
    collect_assigned,
    dist_text,
    parse_dist_text,
    set_assignment,
)

#: keep a packing only when its estimated critical path is at most this fraction of the
#: program's in turn (estimates are within 10% per op; a gain below the noise is not taken)
MIN_GAIN = 0.95

Origin = tuple[int, int]


@dataclass
class Group:
    """A product and its branch: the ops placed with it, and the rectangle they span from
    PE (0, 0) (assign-layouts' grids)."""

    product: Operation
    ops: list[Operation]
    rows: int
    cols: int
    #: program inputs only the group reads (placed with it)
    args: list[SSAValue] = field(default_factory=list)


def assigned_dist(op: Operation) -> Distribution | None:
    text = op.attributes.get(ASSIGNED_ATTR)
    if not isinstance(text, StringAttr) or not op.results:
        return None
    return parse_dist_text(text.data, flame.tensor_shape(op.results[0]))


def candidates(fn: func.FuncOp) -> list[Operation]:
    """The SUMMA products assign-layouts placed at PE (0, 0)."""
    out: list[Operation] = []
    for op in fn.body.block.ops:
        if not isinstance(op, flame.MatmulOp) or skinny_side(op) is not None:
            continue
        d = assigned_dist(op)
        if d is not None and d.origin == (0, 0) and d.grid[0] == d.grid[1]:
            out.append(op)
    return out


def dependences(fn: func.FuncOp, products: list[Operation]) -> dict[Operation, frozenset]:
    """Per op, the products it depends on (itself included for a product)."""
    deps: dict[Operation, frozenset] = {}
    for op in fn.body.block.ops:
        found: set[Operation] = set()
        for v in op.operands:
            owner = v.owner
            if isinstance(owner, Operation):
                found |= deps.get(owner, frozenset())
        if op in products:
            found.add(op)
        deps[op] = frozenset(found)
    return deps


def groups(fn: func.FuncOp, products: list[Operation]) -> list[Group]:
    """Each product with its branch: the ops depending on it and on no product it does not
    depend on itself, and the ops before it that depend on no product and feed only the branch
    (a transposed operand)."""
    deps = dependences(fn, products)
    block_ops = list(fn.body.block.ops)
    inputs = {v: d for v, (d, _) in collect_assigned(fn).items() if v in fn.body.block.args}
    out = []
    for p in products:
        members = {
            op
            for op in block_ops
            if p in deps[op] and deps[op] <= deps[p] and (op is p or op not in products)
        }
        for op in reversed(block_ops):
            if op in members or deps[op] or not op.results:
                continue
            users = [u.operation for v in op.results for u in v.uses]
            if users and all(u in members for u in users):
                members.add(op)
        ops = [op for op in block_ops if op in members and assigned_dist(op)]
        args: list[SSAValue] = [
            a
            for a in fn.body.block.args
            if a in inputs and a.uses and all(u.operation in members for u in a.uses)
        ]
        dists = [d for op in ops if (d := assigned_dist(op)) is not None]
        dists += [inputs[a] for a in args]
        rows = max(d.grid[0] for d in dists)
        cols = max(d.grid[1] for d in dists)
        out.append(Group(p, ops, rows, cols, args))
    return out


def waves(fn: func.FuncOp, found: list[Group]) -> list[list[Group]]:
    """Groups in program order, in sets of mutually independent products."""
    deps = dependences(fn, [g.product for g in found])
    out: list[list[Group]] = []
    for g in found:
        wave = out[-1] if out else None
        if wave is not None and all(
            h.product not in deps[g.product] and g.product not in deps[h.product] for h in wave
        ):
            wave.append(g)
        else:
            out.append([g])
    return out


def pack(
    wave: list[Group], fabric_rows: int, fabric_cols: int, occupied: tuple[int, int]
) -> dict[Operation, Origin]:
    """Origins side by side for the wave's groups after the first (which stays at PE (0, 0)),
    in rows of rectangles, none of them on the `occupied` rows x cols from PE (0, 0) (where
    every op that stays runs: a moved product runs beside them, not on top of them); a group
    that does not fit keeps (0, 0)."""
    origins: dict[Operation, Origin] = {wave[0].product: (0, 0)}
    busy_rows, busy_cols = occupied
    row0, col, shelf = 0, 0, 0
    for g in wave[1:]:
        while True:
            if row0 < busy_rows:
                col = max(col, busy_cols)
            if col + g.cols <= fabric_cols:
                break
            # the next row of rectangles (below the occupied ones if this row held none)
            row0 = row0 + shelf if shelf else max(row0 + 1, busy_rows)
            col, shelf = 0, 0
        if row0 + g.rows > fabric_rows:
            break
        origins[g.product] = (row0, col)
        col += g.cols
        shelf = max(shelf, g.rows)
    return origins


def move(fn: func.FuncOp, group: Group, origin: Origin, why: str = "") -> None:
    """Write `origin` into the `pf.dist` of the group's ops and inputs (and `why` into the
    product's `pf.why`)."""
    for op in group.ops:
        d = assigned_dist(op)
        assert d is not None  # groups hold only assigned ops
        op.attributes[ASSIGNED_ATTR] = StringAttr(dist_text(d.with_(origin=origin)))
    inputs = collect_assigned(fn)
    for arg in group.args:
        d, reason = inputs[arg]
        set_assignment(fn, arg, dist_text(d.with_(origin=origin)), reason)
    if why:
        old = group.product.attributes.get(REASON_ATTR)
        before = f"{old.data}; " if isinstance(old, StringAttr) else ""
        group.product.attributes[REASON_ATTR] = StringAttr(before + why)


def estimated_cycles(module: ModuleOp, fn: func.FuncOp, target: Target) -> int:
    """The critical path of `fn` (flame, layouts assigned) lowered to mesh, on a copy."""
    from pyflame.passes.cost_model.critical_path import (
        critical_path_cycles,
        function_estimates,
    )
    from pyflame.passes.flame_to_mesh import lower_function

    copy = fn.clone()
    lower_function(copy, target, placement_of(module), stage_moves=False)
    return critical_path_cycles(function_estimates(copy, target))


def placement(fn: func.FuncOp, target: Target) -> list[tuple[Group, Origin, int]]:
    """Every group that moves, its origin, and how many products share its wave."""
    moves = []
    found = groups(fn, candidates(fn))
    for wave in waves(fn, found):
        if len(wave) < 2:
            continue
        moving = {op for g in wave[1:] for op in g.ops}
        staying = [
            d
            for op in fn.body.block.ops
            if op not in moving and (d := assigned_dist(op)) is not None
        ]
        occupied = (max(d.grid[0] for d in staying), max(d.grid[1] for d in staying))
        origins = pack(wave, target.fabric_rows, target.fabric_cols, occupied)
        placed = sum(1 for g in wave if g.product in origins)
        for g in wave:
            at = origins.get(g.product, (0, 0))
            if at != (0, 0):
                moves.append((g, at, placed))
    return moves


def place_function(module: ModuleOp, fn: func.FuncOp, target: Target) -> bool:
    """Pack `fn`'s independent products when the cost model says it pays; True if it did."""
    moves = placement(fn, target)
    if not moves:
        return False
    in_turn = estimated_cycles(module, fn, target)
    for g, at, _ in moves:
        move(fn, g, at)
    packed = estimated_cycles(module, fn, target)
    if packed <= MIN_GAIN * in_turn:
        for g, at, placed in moves:
            move(
                fn,
                g,
                at,
                f"at {at} beside {placed - 1} independent product(s): {packed:,} < {in_turn:,} "
                "estimated cycles in turn",
            )
        return True
    for g, _, _ in moves:
        move(fn, g, (0, 0))
    return False


class PlaceOnFabricPass(ModulePass):
    """Move independent products (and the ops that depend only on them) to disjoint rectangles
    of the fabric when the cost model's critical path says the program gets shorter."""

    name = "place-on-fabric"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        target = Target.of_module(op)
        for fn in op.walk():
            if isinstance(fn, func.FuncOp) and not fn.is_declaration:
                place_function(op, fn, target)
