"""Layout policy: which layout hint each value has (the user's, else a neighbour's for inputs and
creation ops nobody placed) and how a hint (or the compiler's default) splits a tensor of a given
shape over the mesh. Shared by flame-to-mesh (which places every value) and plan-memory (which
suggests a layout that would fit)."""

from __future__ import annotations

import functools
import math
import re

from xdsl.dialects import func
from xdsl.dialects.builtin import ArrayAttr, DictionaryAttr, StringAttr, TensorType, UnitAttr
from xdsl.ir import Attribute, Operation, SSAValue

from pyflame.core.distribution import Distribution, origin_text
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
    r0, c0 = layout.origin_tuple or (0, 0)
    if r0 + grid[0] > target.fabric_rows or c0 + grid[1] > target.fabric_cols:
        at = f" at ({r0}, {c0})" if (r0, c0) != (0, 0) else ""
        raise CompileError(
            f"layout {layout} needs a {grid[0]}x{grid[1]} grid{at}; the {target.name} fabric has "
            f"{target.fabric_rows}x{target.fabric_cols} PEs"
        )
    return Distribution(tuple(shape), grid, split, (r0, c0))


def default_layout(
    shape: tuple[int, ...],
    elem_bytes: int,
    target: Target,
    single_pe_bytes: int = SINGLE_PE_BYTES,
    tile_bytes: int = DEFAULT_TILE_BYTES,
) -> LayoutAttr:
    """The compiler's choice for a tensor nobody placed: one PE if small, else a grid of about
    side x side PEs (the smallest square whose tiles are at most `tile_bytes`). A last or
    second-to-last dim with fewer elements than that side is never spread over more PEs than
    it has elements (a [1, n] row keeps one PE row, not side - 1 rows of padding): its axis
    takes its size and the other axis the rest of the PEs, within the fabric."""
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
    rows, cols = shape[-2], shape[-1]
    if rows < side:
        cols_pes = min(cols, (side * side) // rows, target.fabric_cols)
        return LayoutAttr("grid", [rows, max(cols_pes, 1)])
    if cols < side:
        rows_pes = min(rows, (side * side) // cols, target.fabric_rows)
        return LayoutAttr("grid", [max(rows_pes, 1), cols])
    return LayoutAttr("grid", [side, side])


def gather_table_dist(
    table_shape: tuple[int, ...], result: Distribution, elem_bytes: int
) -> Distribution:
    """The layout of a gather_rows table [V, D] whose gather gives `result` ([*I, D]) without
    moving the rows: D split like the result's last dim; the rows whole on every PE (no sum of
    partials) while the table's tile stays within DEFAULT_TILE_BYTES, else split over the mesh
    axis D leaves free (flame_lowering/indexed.py then sums the partials over it)."""
    d_split = result.split[-1] if result.split else ""
    tile = math.prod(table_shape) * elem_bytes
    for axis, n in zip("rc", result.grid, strict=True):
        if axis in d_split:
            tile //= n
    rows = ""
    if tile > DEFAULT_TILE_BYTES:
        rows = next(
            (a for a, n in zip("rc", result.grid, strict=True) if n > 1 and a not in d_split), ""
        )
    return Distribution(tuple(table_shape), result.grid, (rows, d_split))


@functools.cache  # a handful of element types; printing one to look it up is slow in xDSL
def elem_bytes_of(element_type: Attribute) -> int:
    return {"f32": 4, "f16": 2, "bf16": 2, "i32": 4, "i1": 1}.get(str(element_type), 4)


def collect_hints(
    fn: func.FuncOp, from_neighbours: bool = True
) -> dict[SSAValue, flame.LayoutAttr]:
    """User hints, then (unless `from_neighbours` is False) neighbours' hints for inputs and
    creation ops nobody placed."""
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
    if not from_neighbours:
        return hints
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


# --------------------------------------------------------------------------- assigned layouts
# assign-layouts (passes/assign_layouts.py) writes its choice for a value as `pf.dist` (the
# grid and split, the tensor's shape being its type's) and `pf.why` on the op making it, or in
# the function's argument attributes; flame-to-mesh follows it like a hint, pf.explain shows it.

#: the attribute holding a value's assigned distribution, e.g. "16x16 split [r, c]"
ASSIGNED_ATTR = "pf.dist"
#: why it was chosen: "hint", "matmul" (anchored on the matmul grid), "gemv" (a GEMV's
#: layouts, layout_rules.gemv_implied) or "propagated"
REASON_ATTR = "pf.why"

#: on a program input: load it from the host once per layout it is used in (a weight used as
#: W and as W^T), rather than moving it on the fabric
RELOAD_ATTR = "pf.reload"
#: the algorithm assign-layouts chose for a skinny flame.matmul ("gemv" or "summa"):
#: flame-to-mesh follows it (passes/flame_lowering/gemv.py `chosen_algorithm`)
ALGORITHM_ATTR = "pf.algorithm"

_DIST_TEXT = re.compile(r"^\s*(\d+)x(\d+)(?: at \((\d+),\s*(\d+)\))? split \[([^\]]*)\]\s*$")


def dist_text(dist: Distribution) -> str:
    """The grid (with its origin when not (0, 0)) and split of `dist` as `pf.dist` spells
    them: "16x16 split [r, _]", "16x16 at (0, 16) split [r, c]"."""
    split = ", ".join(a or "_" for a in dist.split)
    return f"{dist.grid[0]}x{dist.grid[1]}{origin_text(dist.origin)} split [{split}]"


def parse_dist_text(text: str, shape: tuple[int, ...]) -> Distribution:
    """The distribution `dist_text` wrote for a tensor of `shape` (CompileError if malformed)."""
    match = _DIST_TEXT.match(text)
    split = (
        tuple("" if s.strip() == "_" else s.strip() for s in match.group(5).split(","))
        if match and match.group(5).strip()
        else ()
    )
    if match is None or len(split) != len(shape):
        raise CompileError(
            f"'{ASSIGNED_ATTR}' = \"{text}\" is not a layout of a rank-{len(shape)} tensor "
            '(expected e.g. "4x4 split [r, c]")'
        )
    origin = (int(match.group(3) or 0), int(match.group(4) or 0))
    dist = Distribution(shape, (int(match.group(1)), int(match.group(2))), split, origin)
    try:
        dist.check()
    except Exception as err:  # noqa: BLE001  (VerifyException: reported as a compile error)
        raise CompileError(f"'{ASSIGNED_ATTR}' = \"{text}\": {err}") from None
    return dist


def _arg_dict(fn: func.FuncOp, index: int) -> dict[str, Attribute]:
    attrs = fn.arg_attrs.data if fn.arg_attrs is not None else ()
    entry = attrs[index] if index < len(attrs) else None
    return dict(entry.data) if isinstance(entry, DictionaryAttr) else {}


def set_assignment(fn: func.FuncOp, v: SSAValue, text: str, why: str) -> None:
    """Record `v`'s assigned layout (and why) in the IR."""
    fields = {ASSIGNED_ATTR: StringAttr(text), REASON_ATTR: StringAttr(why)}
    if isinstance(v.owner, Operation):
        v.owner.attributes.update(fields)
        return
    args = fn.body.block.args
    dicts = [_arg_dict(fn, i) for i in range(len(args))]
    dicts[v.index].update(fields)  # type: ignore[attr-defined]  # a block argument
    fn.arg_attrs = ArrayAttr([DictionaryAttr(d) for d in dicts])


def collect_assigned(fn: func.FuncOp) -> dict[SSAValue, tuple[Distribution, str]]:
    """Every value's assigned layout and why, as assign-layouts wrote them."""
    found: dict[SSAValue, tuple[Distribution, str]] = {}
    places: list[tuple[SSAValue, dict[str, Attribute]]] = [
        (arg, _arg_dict(fn, arg.index)) for arg in fn.body.block.args
    ]
    places += [(op.results[0], dict(op.attributes)) for op in fn.body.block.ops if op.results]
    for v, attrs in places:
        text, why = attrs.get(ASSIGNED_ATTR), attrs.get(REASON_ATTR)
        if not isinstance(text, StringAttr) or not isinstance(v.type, TensorType):
            continue
        reason = why.data if isinstance(why, StringAttr) else "assigned"
        found[v] = (parse_dist_text(text.data, tuple(v.type.get_shape())), reason)
    return found


def reloaded_args(fn: func.FuncOp) -> list[SSAValue]:
    """The program inputs assign-layouts marked to be loaded once per layout."""
    return [a for a in fn.body.block.args if RELOAD_ATTR in _arg_dict(fn, a.index)]


def mark_reload(fn: func.FuncOp, arg: SSAValue) -> None:
    dicts = [_arg_dict(fn, i) for i in range(len(fn.body.block.args))]
    dicts[arg.index][RELOAD_ATTR] = UnitAttr()  # type: ignore[attr-defined]  # a block argument
    fn.arg_attrs = ArrayAttr([DictionaryAttr(d) for d in dicts])
