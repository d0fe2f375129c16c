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
from pyflame.core.module_checks import ARG_LAYOUT_ATTR
from pyflame.core.placement import SINGLE_PE_BYTES
from pyflame.core.target import Target
from pyflame.dialects import flame
from pyflame.dialects.flame import LayoutAttr
from pyflame.passes.locations import describe_loc

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


def default_side(total_bytes: int, target: Target, tile_bytes: int = DEFAULT_TILE_BYTES) -> int:
    """The side of the smallest square grid (a power of two, up to the fabric's shorter side)
    whose tiles of a tensor of `total_bytes` are at most `tile_bytes`."""
    side = 1
    limit = min(target.fabric_rows, target.fabric_cols)
    while side < limit and total_bytes / (side * side) > tile_bytes:
        side *= 2
    return min(side, limit)


def pair_grid(rows: int, cols: int, side: int, target: Target) -> tuple[int, int]:
    """The grid for two dims of `rows` and `cols` elements, split over the mesh rows and
    columns: side x side, except that a dim smaller than `side` is never spread over more PEs
    than it has elements: its axis takes its size and the other axis the rest of the
    side x side PEs, within the fabric."""
    if rows < side:
        return (max(rows, 1), max(min(cols, (side * side) // max(rows, 1), target.fabric_cols), 1))
    if cols < side:
        return (max(min(rows, (side * side) // max(cols, 1), target.fabric_rows), 1), max(cols, 1))
    return (side, side)


def last_two_dims_layout(
    shape: tuple[int, ...],
    elem_bytes: int,
    target: Target,
    single_pe_bytes: int = SINGLE_PE_BYTES,
    tile_bytes: int = DEFAULT_TILE_BYTES,
) -> LayoutAttr:
    """The size-based layout splitting a tensor's last two dims (a 1-D tensor's only dim): one
    PE if small, else a grid of about side x side PEs (`default_side`; `pair_grid` for a last
    or second-to-last dim with fewer elements than that side: a [1, n] row keeps one PE row,
    not side - 1 rows of padding). SUMMA sizes its grid by it (what the matrices need)."""
    total = math.prod(shape) * elem_bytes
    if total <= single_pe_bytes or len(shape) == 0:
        return LayoutAttr("single")
    side = default_side(total, target, tile_bytes)
    if len(shape) == 1:
        return LayoutAttr("col_partition", [min(side * side, shape[0])])
    return LayoutAttr("grid", list(pair_grid(shape[-2], shape[-1], side, target)))


def default_dist(
    shape: tuple[int, ...],
    elem_bytes: int,
    target: Target,
    single_pe_bytes: int = SINGLE_PE_BYTES,
    tile_bytes: int = DEFAULT_TILE_BYTES,
) -> Distribution:
    """The compiler's choice for a tensor nobody placed: `last_two_dims_layout`, unless its
    last two dims cannot take the side x side PEs its size asks for (`default_side`) and its
    tiles stay over `tile_bytes`: a tensor whose trailing dims are small ([64, 64, 2, 2]: its
    last two dims hold 2x2 PEs, not 4x4, and each holds all 64x64 of the leading dims, 16
    KiB), or whose one large dim meets the fabric's edge ([2, 100000] on 16x16: 2x16 PEs).
    Then the split with the smallest tiles (padding counted), when smaller, among any two dims
    over the mesh rows and columns (`pair_grid`) and any one dim over both (`rc`); on a tie
    two dims before one, then the pair whose smaller dim is larger ([64, 64, 2, 2] on 4x4
    split [r, c, _, _], so a [64, 64, 1, 1] operand broadcast to it splits too), then the
    later dims."""
    layout = last_two_dims_layout(shape, elem_bytes, target, single_pe_bytes, tile_bytes)
    dist = layout_to_dist(layout, shape, target)
    side = default_side(math.prod(shape) * elem_bytes, target, tile_bytes)
    if (
        layout.kind.data == "single"
        or dist.local_elems * elem_bytes <= tile_bytes
        or dist.num_pes >= side * side  # as spread as the fabric lets a grid be
    ):
        return dist
    best = min(spread_candidates(shape, side, target), key=spread_rank, default=None)
    return best if best is not None and best.local_elems < dist.local_elems else dist


def spread_rank(d: Distribution) -> tuple[int, int, int, list[int]]:
    """`default_dist`'s order: smaller tiles, then two split dims before one (a grid, not a
    line of PEs), then a larger smallest split dim, then later split dims."""
    dims = [k for k in reversed(range(len(d.shape))) if d.split[k]]
    return (d.local_elems, -len(dims), -min(d.shape[k] for k in dims), [-k for k in dims])


def spread_candidates(shape: tuple[int, ...], side: int, target: Target) -> list[Distribution]:
    """`default_dist`'s alternatives for a tensor of `shape` on about side x side PEs: every
    two dims i < j over the mesh rows and columns (`pair_grid`), every dim over rows and
    columns at once (`rc`, as wide as the fabric allows)."""
    rank, found = len(shape), []
    for i in range(rank):
        for j in range(i + 1, rank):
            rows, cols = pair_grid(shape[i], shape[j], side, target)
            split = tuple(
                "r" if k == i and rows > 1 else "c" if k == j and cols > 1 else ""
                for k in range(rank)
            )
            if rows * cols > 1:
                found.append(Distribution(shape, (rows, cols), split))
    for d, n in enumerate(shape):
        pes = min(side * side, n)
        cols = min(pes, target.fabric_cols)
        rows = max(min(pes // max(cols, 1), target.fabric_rows), 1)
        if rows * cols > 1:
            axis = "rc" if rows > 1 else "c"
            found.append(
                Distribution(
                    shape, (rows, cols), tuple(axis if k == d else "" for k in range(rank))
                )
            )
    return found


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
