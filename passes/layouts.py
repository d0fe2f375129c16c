"""Layout policy: which layout hint each value has (the user's, else a neighbour's for inputs and
creation ops nobody placed) and how a hint (or the compiler's default) splits a tensor of a given
shape over the mesh. Shared by flame-to-mesh (which places every value) and plan-memory (which
suggests a layout that would fit)."""

from __future__ import annotations

import functools
import math

from xdsl.dialects import func
from xdsl.dialects.builtin import DictionaryAttr, TensorType
from xdsl.ir import Attribute, SSAValue

from pyflame.core.distribution import Distribution
from pyflame.core.errors import CompileError
from pyflame.core.placement import SINGLE_PE_BYTES
from pyflame.core.target import Target
from pyflame.dialects import flame
from pyflame.dialects.flame import LayoutAttr
from pyflame.passes.locations import describe_loc

#: the function argument attribute holding an input's layout hint
ARG_LAYOUT_ATTR = "flame.layout"

#: larger tensors default to the smallest square grid whose tiles are at most this big
DEFAULT_TILE_BYTES = 4 * 1024


def fold(n: int, max_rows: int, max_cols: int) -> tuple[int, int]:
    """A rows x cols rectangle of exactly n PEs fitting the fabric, as tall as possible."""
    if n <= max_rows:
        return (n, 1)
    for cols in range(2, max_cols + 1):
        if n % cols == 0 and n // cols <= max_rows:
            return (n // cols, cols)
    raise CompileError(
        f"{n} PEs cannot be arranged as a rectangle on the {max_rows}x{max_cols} fabric; "
        "choose a partition count with a divisor that fits"
    )


def layout_to_dist(layout: LayoutAttr, shape: tuple[int, ...], target: Target) -> Distribution:
    """The distribution a layout hint gives a tensor of `shape`."""
    kind, sizes, rank = layout.kind.data, layout.size_tuple, len(shape)
    grid: tuple[int, ...]
    split: tuple[str, ...]
    if kind == "single" or rank == 0 and kind not in ("replicated", "grid"):
        grid, split = (1, 1), ("",) * rank
    elif rank == 0:  # a scalar on a grid: one copy on every PE
        grid, split = sizes, ()
    elif kind == "grid":
        grid = sizes
        split = ("",) * (rank - 2) + ("r", "c") if rank >= 2 else ("c",)
    elif kind == "row_partition":
        grid = fold(sizes[0], target.fabric_rows, target.fabric_cols)
        split = ("r" if grid[1] == 1 else "rc",) + ("",) * (rank - 1)
    elif kind == "col_partition":
        rows, cols = fold(sizes[0], target.fabric_cols, target.fabric_rows)
        grid = (cols, rows)  # folded the other way: as wide as possible
        split = ("",) * (rank - 1) + ("c" if grid[0] == 1 else "rc",)
    elif kind == "replicated":
        grid, split = sizes, ("",) * rank
    else:
        raise CompileError(f"unknown layout kind '{kind}'")
    grid = (int(grid[0]), int(grid[1]))
    if grid[0] > target.fabric_rows or grid[1] > target.fabric_cols:
        raise CompileError(
            f"layout {layout} needs a {grid[0]}x{grid[1]} grid; the {target.name} fabric has "
            f"{target.fabric_rows}x{target.fabric_cols} PEs"
        )
    return Distribution(tuple(shape), grid, split)


def default_layout(
    shape: tuple[int, ...],
    elem_bytes: int,
    target: Target,
    single_pe_bytes: int = SINGLE_PE_BYTES,
    tile_bytes: int = DEFAULT_TILE_BYTES,
) -> LayoutAttr:
    """The compiler's choice for a tensor nobody placed: one PE if small, else a square grid
    with tiles of at most `tile_bytes`."""
    total = math.prod(shape) * elem_bytes
    if total <= single_pe_bytes or len(shape) == 0:
        return LayoutAttr("single")
    side = 1
    limit = min(target.fabric_rows, target.fabric_cols)
    while side < limit and total / (side * side) > tile_bytes:
        side *= 2
    side = min(side, limit)
    if len(shape) == 1:
        return LayoutAttr("col_partition", [min(side * side, shape[0])])
    return LayoutAttr("grid", [side, side])


@functools.cache  # a handful of element types; printing one to look it up is slow in xDSL
def elem_bytes_of(element_type: Attribute) -> int:
    return {"f32": 4, "f16": 2, "bf16": 2, "i32": 4, "i1": 1}.get(str(element_type), 4)


def collect_hints(fn: func.FuncOp) -> dict[SSAValue, flame.LayoutAttr]:
    """User hints, then neighbours' hints for inputs and creation ops nobody placed."""
    hints: dict[SSAValue, flame.LayoutAttr] = {}
    if fn.arg_attrs is not None:
        for arg, attrs in zip(fn.body.block.args, fn.arg_attrs.data, strict=False):
            hint = attrs.data.get(ARG_LAYOUT_ATTR) if isinstance(attrs, DictionaryAttr) else None
            if isinstance(hint, flame.LayoutAttr):
                hints[arg] = hint
            elif hint is not None:  # never silently ignored (the flame verifier says so too)
                where = describe_loc(fn)
                err = CompileError(
                    f"{where + ': ' if where else ''}argument {arg.index} of "
                    f"@{fn.sym_name.data}: '{ARG_LAYOUT_ATTR}' must be a layout such as "
                    f"#flame.layout<grid [2, 2]>, got {hint}"
                )
                err.op = fn
                raise err
    for op in fn.body.block.ops:
        if isinstance(op, flame.FlameOp) and op.layout is not None:
            hints[op.results[0]] = op.layout
    leaves = [a for a in fn.body.block.args if isinstance(a.type, TensorType)] + [
        op.results[0]
        for op in fn.body.block.ops
        if isinstance(
            op, flame.FillOp | flame.RandomNormalOp | flame.IotaOp | flame.RandomUniformOp
        )
    ]
    for leaf in leaves:
        if leaf in hints or not flame.tensor_shape(leaf):
            continue  # scalars are placed by their users, on the users' grids
        for use in leaf.uses:
            user = use.operation
            if isinstance(user, flame.MatmulOp | flame.GatherRowsOp | flame.ScatterAddRowsOp):
                continue  # SUMMA and the indexed-row ops place their operands themselves
            neighbours = [user.results[0]] if user.results else []
            if isinstance(user, flame.ElementwiseBinaryOp | flame.WhereOp):
                neighbours += [o for o in user.operands if o is not leaf]
            found = next((hints[v] for v in neighbours if v in hints), None)
            if found is not None:
                hints[leaf] = found
                break
    return hints
