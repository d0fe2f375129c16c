"""How assign-layouts chooses among its candidates: by the cost model, on the mesh lowering of
each candidate.

The candidates are the square grids for the function's matmuls (assign-layouts' propagation
regridded to each side) and *no assignment* (flame-to-mesh's own rules, as without the pass).
The pass's own estimate (`estimate_cycles`, a few arithmetic lines per op)
shortlists the `SHORTLIST` most promising sides; each shortlisted candidate is written into a
copy of the module, lowered to mesh with flame-to-mesh's library function (the default
single-PE budget), checked against SRAM with plan-memory's (a candidate that overflows is out),
and estimated with passes/cost_model: every mesh op's rule (exchanges replayed phase by phase)
plus the barriers allocate-colors would add to order route switches, approximated from the
exchanges' phases without lowering to pe (`cost_model.barriers.approximate_barriers`). The
cheapest wins; ties (estimates within `TIE`, 1%, of the best) go to no assignment, then to the
smaller grid.

    ranking = rank_candidates(module, fn, target)
    [(Candidate('32x32', cycles=201,532, barriers=150), ...), (Candidate('none', ...)), ...]

What is shared between candidates is computed once: the propagation (`SYMBOLIC_SIDE`), the
exchange plans (pyflame/core/exchange_plan.py caches them by layouts).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp, TensorType
from xdsl.ir import SSAValue

from pyflame.core.distribution import Distribution
from pyflame.core.errors import CompileError, SRAMOverflowError
from pyflame.core.placement import PLACEMENTS
from pyflame.core.target import Target
from pyflame.dialects import flame
from pyflame.passes.flame_to_mesh import lower_function as lower_flame_function
from pyflame.passes.layout_rules import (
    REDUCTIONS,
    SYMBOLIC_SIDE,
    Assignment,
    gemv_roles,
    is_matrix_product,
    propagate,
    write_assignment,
)
from pyflame.passes.layouts import elem_bytes_of
from pyflame.passes.plan_memory import check_function as check_memory

# --------------------------------------------------------------------------- own estimate


def matmul_cycles(op: flame.MatmulOp, g: int, target: Target) -> float:
    """SUMMA on g x g: g steps, each a local product of tiles (one FMAC a cycle, a vector
    instruction per output row and contraction element) after a row and a column broadcast
    (latency about g hops plus a task activation)."""
    m, k = flame.tensor_shape(op.lhs)[-2:]
    n = flame.tensor_shape(op.rhs)[-1]
    batch = math.prod(flame.tensor_shape(op.result)[:-2])
    tm, tk, tn = (-(-x // g) for x in (m, k, n))
    compute = batch * tm * tk * tn * 2 / target.flops_per_cycle
    issue = batch * tm * tk * target.vector_issue_cycles
    comm = g * target.hop_latency_cycles + 2 * target.task_activation_cycles
    return g * (max(compute + issue, (tm * tk + tk * tn) / target.link_wavelets_per_cycle) + comm)


def gemv_cycles(op: flame.MatmulOp, d: Distribution, target: Target) -> float:
    """A GEMV whose matrix is split over `d`'s grid: every PE's block product (a vector FMAC
    per contraction element and skinny row or column, over the matrix block's other dim) and
    an allreduce of the partials along the contraction's axis (2 g hops)."""
    matrix, vector, k_dim = gemv_roles(op)
    mshape = flame.tensor_shape(matrix)
    core = mshape[-2:]
    skinny = math.prod(flame.tensor_shape(vector)) // core[k_dim]  # batch entries included
    g = max(d.grid)
    tk, to = (-(-core[i] // g) for i in (k_dim, 1 - k_dim))
    fmacs = skinny * tk * (to * 2 / target.flops_per_cycle + target.vector_issue_cycles)
    return fmacs + (2 * g * target.hop_latency_cycles if g > 1 else 0)


def estimate_cycles(fn: func.FuncOp, a: Assignment, target: Target) -> float:
    """matmuls (SUMMA), elementwise work per tile, allreduce latency of reductions over split
    dims, and one redistribution (a tile's worth of wavelets plus the grid's diameter) per
    conflict. Documented in docs/passes.md (assign-layouts)."""
    total = 0.0
    for op in fn.body.block.ops:
        if isinstance(op, flame.MatmulOp):
            d = a.dists.get(op.result)
            if d is not None and op in a.gemv_ops:
                total += gemv_cycles(op, d, target)
            elif d is not None and is_matrix_product(op):
                total += matmul_cycles(op, d.grid[0], target)
        elif op.results and op.results[0] in a.dists:
            d = a.dists[op.results[0]]
            total += d.local_elems + target.vector_issue_cycles
            if isinstance(op, REDUCTIONS) and op.input in a.dists:
                src = a.dists[op.input]
                if any(src.parts(i) > 1 for i in op.dim_tuple):
                    total += 2 * sum(src.grid) * target.hop_latency_cycles
    for _, d in a.conflicts:
        total += d.local_elems * 2 + 2 * sum(d.grid)
    return total


def tile_bytes(fn: func.FuncOp, a: Assignment, with_hints: bool = False) -> int:
    """Every tensor's tile the pass chose, side by side: an upper bound of what plan-memory
    needs for them."""
    total = 0
    for v, d in a.dists.items():
        assert isinstance(v.type, TensorType)  # only tensors are assigned (`modelled`)
        if with_hints or a.why[v] != "hint":  # the user's tiles are alike on every grid
            total += d.local_elems * elem_bytes_of(v.type.element_type)
    return total


def candidate_sides(target: Target) -> list[int]:
    limit = min(target.fabric_rows, target.fabric_cols)
    sides = [1]
    while sides[-1] * 2 <= limit:
        sides.append(sides[-1] * 2)
    return sides


def choose_grid(
    fn: func.FuncOp, target: Target, use_hints: bool = True
) -> tuple[Assignment, dict[int, float]]:
    """The assignment of least estimated cycles among the square grids whose tiles fit."""
    estimates: dict[int, float] = {}
    best: Assignment | None = None
    symbolic = propagate(fn, SYMBOLIC_SIDE, target, use_hints)
    for g in candidate_sides(target):
        a = symbolic.regrid(g)
        if tile_bytes(fn, a) > target.usable_sram_bytes:
            continue
        estimates[g] = estimate_cycles(fn, a, target)
        if best is None or estimates[g] < estimates[best.grid[0]]:
            best = a
    if best is None:  # nothing fits: the largest grid, plan-memory reports what overflows
        best = symbolic.regrid(candidate_sides(target)[-1])
    return best, estimates


# --------------------------------------------------------------------------- the cost model

#: estimates within this share of the best are a tie: the transformer block's 64x64 and 32x32
#: were 34 cycles apart (74,617 and 74,651), simulated 79,364 and 76,580
TIE = 0.01

#: how many grid sides (the best by the pass's own estimate) are lowered and estimated ...
SHORTLIST = 3
#: ... of those estimated within this factor of the best (the own estimate ranks sides well
#: when they are far apart; the cost model decides between close ones)
SHORTLIST_FACTOR = 2.0


@dataclass(frozen=True)
class Candidate:
    """One way to lay the function out, and what the cost model says it costs."""

    #: "GxG" for a grid side, "none" for flame-to-mesh's own rules
    name: str
    assignment: Assignment | None
    #: estimated kernel cycles: the mesh ops' plus the barriers'
    cycles: int
    barriers: int

    def __repr__(self) -> str:
        return f"Candidate({self.name!r}, cycles={self.cycles:,}, barriers={self.barriers})"


def shortlist(fn: func.FuncOp, target: Target, use_hints: bool = True) -> list[Assignment]:
    """At most `SHORTLIST` grid sides, those whose own estimate (`estimate_cycles`) is within
    `SHORTLIST_FACTOR` of the least, as assignments (best first). A function with skinny
    products has two assignments per side: those products as GEMVs, and as SUMMA."""
    scored = []
    with_gemvs = propagate(fn, SYMBOLIC_SIDE, target, use_hints)
    kinds = [with_gemvs]
    if with_gemvs.gemv_ops:  # else both kinds are the same
        kinds.append(propagate(fn, SYMBOLIC_SIDE, target, use_hints, gemv=False))
    for symbolic in kinds:
        scored += [
            (estimate_cycles(fn, a, target), a)
            for a in map(symbolic.regrid, candidate_sides(target))
        ]
    scored.sort(key=lambda entry: entry[0])
    best = scored[0][0]
    return [a for cost, a in scored[:SHORTLIST] if cost <= SHORTLIST_FACTOR * best]


def lowered_cost(
    module: ModuleOp, fn: func.FuncOp, a: Assignment | None, target: Target
) -> tuple[int, int] | None:
    """(estimated cycles, barriers) of `fn` laid out by `a` (None: no assignment), lowered to
    mesh in a copy of `module` under the first placement (single-PE budget, hints spread or
    not) that fits SRAM, as plan-placement chooses it; None when none fits or it does not
    lower."""
    # the cost model loads numpy (its cost table); loading the passes does not need it
    from pyflame.passes.cost_model.barriers import approximate_barriers
    from pyflame.passes.cost_model.program import estimate_function, program_cycles

    index = [op for op in module.walk() if isinstance(op, func.FuncOp)].index(fn)
    for placement in PLACEMENTS:
        mapper: dict[SSAValue, SSAValue] = {}
        copy = module.clone(value_mapper=mapper)
        fn_copy = [op for op in copy.walk() if isinstance(op, func.FuncOp)][index]
        if a is not None:
            write_assignment(fn_copy, a, mapper)
        try:
            lower_flame_function(fn_copy, target, placement, stage_moves=False)
            check_memory(fn_copy, target)
        except SRAMOverflowError:
            continue
        except CompileError:  # a layout this lowering cannot make
            return None
        ops = estimate_function(fn_copy, target)
        barriers = approximate_barriers(fn_copy, target, sum(e.cost.channels for e in ops))
        return program_cycles(ops) + barriers.cycles, barriers.barriers
    return None


def candidate_name(a: Assignment) -> str:
    """ "GxG", and " summa" when the function's skinny products were laid out for SUMMA."""
    return f"{a.grid[0]}x{a.grid[1]}" + ("" if a.skinny_as_gemv else " summa")


def rank_candidates(module: ModuleOp, fn: func.FuncOp, target: Target) -> list[Candidate]:
    """The shortlisted grids and no assignment, cheapest first (those that fit SRAM)."""
    options: list[tuple[str, Assignment | None]] = [("none", None)]
    options += [(candidate_name(a), a) for a in shortlist(fn, target)]
    ranked = []
    for order, (name, a) in enumerate(options):
        cost = lowered_cost(module, fn, a, target)
        if cost is not None:
            side = a.grid[0] if a is not None else 0
            ranked.append((cost[0], side, order, Candidate(name, a, *cost)))
    ranked.sort(key=lambda entry: entry[:3])
    if not ranked:
        return []
    # candidates within TIE of the best are the same to the cost model (its estimates are good
    # to a few %): among them no assignment, then the smaller grid (fewer PEs and cheaper
    # barriers), as for exact ties
    best = ranked[0][0]
    tied = sorted((entry for entry in ranked if entry[0] <= best * (1 + TIE)), key=lambda e: e[1:3])
    rest = [entry for entry in ranked if entry[0] > best * (1 + TIE)]
    return [entry[3] for entry in tied + rest]
