"""lower-mesh-to-pe: turn every mesh op into per-PE instructions, buffers and router routes.

Each mesh value becomes a `pe.alloc` buffer (one tile per PE of its grid, offsets left to
allocate-sram). Collectives become sends and receives on virtual channels (one per distinct
route configuration; allocate-colors maps them to the target's colors), with the `pe.route`
rules they need emitted before their first use:

- SUMMA: per step k, PE column k sends its A block on a row-broadcast channel and PE row k its B
  block on a column-broadcast channel; every PE receives both and runs `pe.matmul_acc`.
- allreduce along an axis: a chain (each PE adds what its west/north neighbour sends and passes
  the sum on), then the last PE broadcasts the total back along the line.
- redistribute: one `pe.exchange` (X-then-Y point-to-point block transfers).

    %2 = mesh.binary %0, %1 {fn = "add"} : !mesh.tensor<8x8xf32 on 2x2 split [r, c]>
becomes
    %2 = pe.alloc {name = "binary@demo.py:3", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32>
    pe.binary %2, %0, %1 {fn = "add", pes = array<i64: 0, 0, 2, 2>} : ...
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from xdsl.context import Context
from xdsl.dialects import func
from xdsl.dialects.builtin import (
    ArrayAttr,
    FloatAttr,
    IntegerAttr,
    ModuleOp,
    StringAttr,
    UnitAttr,
    f64,
    i64,
)
from xdsl.ir import Attribute, Block, Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.utils.exceptions import VerifyException

import pyflame.passes.scratch as scratch
from pyflame.core.distribution import Distribution
from pyflame.core.errors import UnsupportedOpsError
from pyflame.core.target import Target
from pyflame.dialects import mesh, pe
from pyflame.dialects.mesh import MeshTensorType, dist_of
from pyflame.dialects.pe import BufferType, dense_i64
from pyflame.passes.locations import describe_loc

Rect = tuple[int, int, int, int]
Rule = tuple[Rect, str, tuple[str, ...]]  # (PEs, from port, to ports)


def grid_rect(dist: Distribution) -> Rect:
    return (0, 0, dist.grid[0], dist.grid[1])


def tile_layout(typ: Attribute) -> pe.TileLayoutAttr:
    """The pe tile layout (`#pe.layout<...>`) of a `!mesh.tensor` type: the same tiling."""
    if not isinstance(typ, MeshTensorType):
        raise VerifyException(f"expected a !mesh.tensor, got {typ}")
    return pe.TileLayoutAttr(typ.dist, typ.element_type)


# --------------------------------------------------------------------------- route patterns


def _line(n: int, lo: str, hi: str) -> list[tuple[tuple[int, int], str, tuple[str, ...]]]:
    """Broadcast from any position along a line of n PEs: (span, from, to) per segment, where
    `lo`/`hi` are the ports toward position 0 / n-1."""
    if n == 1:
        return [((0, 1), "ramp", ("ramp",))]
    rules = [
        ((0, 1), "ramp", (hi, "ramp")),
        ((n - 1, 1), "ramp", (lo, "ramp")),
        ((n - 1, 1), lo, ("ramp",)),
        ((0, 1), hi, ("ramp",)),
    ]
    if n > 2:
        rules += [
            ((1, n - 2), "ramp", (lo, hi, "ramp")),
            ((1, n - 2), lo, (hi, "ramp")),
            ((1, n - 2), hi, (lo, "ramp")),
        ]
    return rules


def row_broadcast(rows: int, cols: int) -> tuple[Rule, ...]:
    """Any PE of a row multicasts to its whole row (itself included)."""
    return tuple(((0, c0, rows, n), src, dst) for (c0, n), src, dst in _line(cols, "west", "east"))


def col_broadcast(rows: int, cols: int) -> tuple[Rule, ...]:
    """Any PE of a column multicasts to its whole column (itself included)."""
    return tuple(
        ((r0, 0, n, cols), src, dst) for (r0, n), src, dst in _line(rows, "north", "south")
    )


def chain_step(rows: int, cols: int, along: str) -> tuple[Rule, ...]:
    """Each PE sends to its east (along='c') or south (along='r') neighbour."""
    if along == "c":
        return (
            ((0, 0, rows, cols - 1), "ramp", ("east",)),
            ((0, 1, rows, cols - 1), "west", ("ramp",)),
        )
    return (
        ((0, 0, rows - 1, cols), "ramp", ("south",)),
        ((1, 0, rows - 1, cols), "north", ("ramp",)),
    )


def chain_return(rows: int, cols: int, along: str) -> tuple[Rule, ...]:
    """The last PE of each line sends back toward position 0, every PE on the way receiving."""
    if along == "c":
        rules: list[Rule] = [
            ((0, cols - 1, rows, 1), "ramp", ("west",)),
            ((0, 0, rows, 1), "east", ("ramp",)),
        ]
        if cols > 2:
            rules.append(((0, 1, rows, cols - 2), "east", ("west", "ramp")))
    else:
        rules = [
            ((rows - 1, 0, 1, cols), "ramp", ("north",)),
            ((0, 0, 1, cols), "south", ("ramp",)),
        ]
        if rows > 2:
            rules.append(((1, 0, rows - 2, cols), "south", ("north", "ramp")))
    return tuple(rules)


XY_CHANNEL = ("xy",)


# --------------------------------------------------------------------------- the lowering


@dataclass
class PELowering:
    target: Target
    block: Block
    values: dict[SSAValue, SSAValue] = field(default_factory=dict)
    channels: dict[tuple, int] = field(default_factory=dict)
    current: Operation | None = None
    #: program position of every mesh op, and the mesh values sharing each buffer
    position: dict[Operation, int] = field(default_factory=dict)
    sharing: dict[SSAValue, list[SSAValue]] = field(default_factory=dict)

    def emit(self, op: Operation) -> Operation:
        assert self.current is not None
        op.location = self.current.location
        self.block.insert_op_before(op, self.current)
        return op

    def buffer_name(self, what: str) -> str:
        assert self.current is not None
        where = describe_loc(self.current)
        return f"{what}@{where}" if where else what

    def alloc(self, rect: Rect, elems: int, elem: Attribute, what: str) -> SSAValue:
        op = pe.AllocOp.create(
            attributes={"name": StringAttr(self.buffer_name(what)), "pes": dense_i64(rect)},
            result_types=[BufferType(max(elems, 1), elem)],
        )
        return self.emit(op).results[0]

    def alloc_for(self, v: SSAValue, what: str) -> SSAValue:
        d = dist_of(v)
        return self.alloc(grid_rect(d), d.local_elems, v.type.element_type, what)  # type: ignore[attr-defined]

    def buf(self, v: SSAValue) -> SSAValue:
        return self.values[v]

    def op(self, cls: type[Operation], operands: list[SSAValue], rect: Rect, **attrs) -> Operation:
        attributes: dict[str, Attribute] = {"pes": dense_i64(rect)}
        for key, value in attrs.items():
            if value is None:
                continue
            if isinstance(value, bool):
                if value:
                    attributes[key] = UnitAttr()
            elif isinstance(value, str):
                attributes[key] = StringAttr(value)
            elif isinstance(value, float):
                attributes[key] = FloatAttr(value, f64)
            elif isinstance(value, int):
                attributes[key] = IntegerAttr(value, i64)
            elif isinstance(value, tuple | list):
                attributes[key] = dense_i64(value)
            else:
                attributes[key] = value
        return self.emit(cls.create(operands=operands, attributes=attributes))

    def channel(self, config: tuple) -> int:
        """The virtual channel of a route configuration, routing it on first use."""
        if config in self.channels:
            return self.channels[config]
        color = self.channels[config] = len(self.channels)
        if config is not XY_CHANNEL:
            for rect, src, dst in config:
                self.emit(
                    pe.RouteOp.create(
                        attributes={
                            "color": IntegerAttr(color, i64),
                            "from": StringAttr(src),
                            "to": ArrayAttr([StringAttr(p) for p in dst]),
                            "pes": dense_i64(rect),
                        }
                    )
                )
        return color

    def used_later(self, v: SSAValue) -> bool:
        """Whether mesh value `v` is read after the current op."""
        now = self.position[self.current]  # type: ignore[index]
        return any(self.position.get(u.operation, -1) > now for u in v.uses)

    def writable_copy(self, v: SSAValue, what: str) -> SSAValue:
        """A buffer holding `v` that may be overwritten: v's own when nothing reads that buffer
        later (through `v` or through a reshape sharing it)."""
        src = self.buf(v)
        if not any(self.used_later(w) for w in self.sharing.get(src, [v])):
            return src
        dst = self.alloc_for(v, what)
        self.op(pe.CopyOp, [dst, src], grid_rect(dist_of(v)))
        return dst


# --------------------------------------------------------------------------- op lowerings


def lower_scatter(op: mesh.ScatterOp, lw: PELowering) -> SSAValue:
    buf = lw.alloc_for(op.result, "input")
    lw.op(
        pe.HostInOp,
        [op.input, buf],
        grid_rect(dist_of(op.result)),
        layout=tile_layout(op.result.type),
    )
    return buf


def lower_gather(op: mesh.GatherOp, lw: PELowering) -> SSAValue:
    out = pe.HostOutOp.create(
        operands=[lw.buf(op.input)],
        attributes={
            "layout": tile_layout(op.input.type),
            "pes": dense_i64(grid_rect(dist_of(op.input))),
        },
        result_types=[op.result.type],
    )
    return lw.emit(out).results[0]


def lower_fill(op: mesh.FillOp, lw: PELowering) -> SSAValue:
    buf = lw.alloc_for(op.result, "fill")
    lw.op(pe.FillOp, [buf], grid_rect(dist_of(op.result)), value=op.value)
    return buf


def lower_random_normal(op: mesh.RandomNormalOp, lw: PELowering) -> SSAValue:
    buf = lw.alloc_for(op.result, "randn")
    lw.op(
        pe.RandomNormalOp,
        [buf, op.seed],
        grid_rect(dist_of(op.result)),
        layout=tile_layout(op.result.type),
    )
    return buf


def lower_unary(op: mesh.UnaryOp, lw: PELowering) -> SSAValue:
    buf = lw.alloc_for(op.result, op.fn.data)
    lw.op(
        pe.UnaryOp,
        [buf, lw.buf(op.input)],
        grid_rect(dist_of(op.result)),
        fn=op.fn.data,
        scalar=op.scalar,
    )
    return buf


def lower_binary(op: mesh.BinaryOp, lw: PELowering) -> SSAValue:
    buf = lw.alloc_for(op.result, op.fn.data)
    lw.op(
        pe.BinaryOp,
        [buf, lw.buf(op.lhs), lw.buf(op.rhs)],
        grid_rect(dist_of(op.result)),
        fn=op.fn.data,
    )
    return buf


def lower_select(op: mesh.SelectOp, lw: PELowering) -> SSAValue:
    buf = lw.alloc_for(op.result, "where")
    lw.op(
        pe.SelectOp,
        [buf] + [lw.buf(v) for v in (op.cond, op.lhs, op.rhs)],
        grid_rect(dist_of(op.result)),
    )
    return buf


def lower_convert(op: mesh.ConvertOp, lw: PELowering) -> SSAValue:
    buf = lw.alloc_for(op.result, "convert")
    lw.op(pe.ConvertOp, [buf, lw.buf(op.input)], grid_rect(dist_of(op.result)))
    return buf


def lower_mask_pad(op: mesh.MaskPadOp, lw: PELowering) -> SSAValue:
    buf = lw.writable_copy(op.input, "masked")
    lw.op(
        pe.MaskPadOp,
        [buf],
        grid_rect(dist_of(op.input)),
        layout=tile_layout(op.input.type),
        value=op.value,
    )
    return buf


def lower_local_reduce(op: mesh.LocalReduceOp, lw: PELowering) -> SSAValue:
    src = dist_of(op.input)
    buf = lw.alloc_for(op.result, "partial")
    lw.op(
        pe.ReduceOp,
        [buf, lw.buf(op.input)],
        grid_rect(src),
        kind=op.kind.data,
        shape=src.block,
        dims=tuple(op.dims.get_values()),
    )
    return buf


def chain_allreduce(
    lw: PELowering, buf: SSAValue, grid: tuple[int, int], along: str, kind: str = "sum"
) -> None:
    """Reduce `buf` with `kind` (sum, max, ...) over the PEs of each row (along='c') or column
    (along='r')."""
    rows, cols = grid
    n = cols if along == "c" else rows
    if n == 1:
        return
    step = lw.channel(chain_step(rows, cols, along))
    back = lw.channel(chain_return(rows, cols, along))

    def line(i: int, count: int = 1) -> Rect:
        return (0, i, rows, count) if along == "c" else (i, 0, count, cols)

    for i in range(n - 1):
        lw.op(pe.SendOp, [buf], line(i), color=step)
        lw.op(pe.RecvOp, [buf], line(i + 1), color=step, combine=kind)
    lw.op(pe.SendOp, [buf], line(n - 1), color=back)
    lw.op(pe.RecvOp, [buf], line(0, n - 1), color=back)


def lower_allreduce(op: mesh.AllReduceOp, lw: PELowering) -> SSAValue:
    src = dist_of(op.input)
    buf = lw.writable_copy(op.input, "allreduce")
    axes = "".join(src.split[d] for d in op.dims.get_values())
    for along in ("c", "r"):
        if along in axes:
            chain_allreduce(lw, buf, src.grid, along, op.kind.data)
    return buf


def lower_reshape(op: mesh.ReshapeOp, lw: PELowering) -> SSAValue:
    return lw.buf(op.input)  # the tile bytes do not change


def lower_transpose(op: mesh.TransposeOp, lw: PELowering) -> SSAValue:
    src = dist_of(op.input)
    buf = lw.alloc_for(op.result, "transpose")
    lw.op(
        pe.TransposeOp,
        [buf, lw.buf(op.input)],
        grid_rect(src),
        shape=src.block,
        perm=tuple(op.perm.get_values()),
    )
    return buf


def lower_matmul(op: mesh.MatmulOp, lw: PELowering) -> SSAValue:
    a, b = dist_of(op.lhs), dist_of(op.rhs)
    g = a.grid[0]
    rect = (0, 0, g, g)
    (bm, bk), bn = a.block[-2:], b.block[-1]
    # batch dims are unsplit: every PE holds all batch entries of its blocks
    bl, br = math.prod(a.block[:-2]), math.prod(b.block[:-2])
    elem = op.result.type.element_type
    acc = lw.alloc_for(op.result, "matmul")
    lw.op(pe.FillOp, [acc], rect, value=0.0)
    sizes = {
        "m": bm,
        "k": bk,
        "n": bn,
        "lhs_batch": bl if bl > 1 else None,
        "rhs_batch": br if br > 1 else None,
    }
    receive = scratch.summa_receive_elems(a, b)
    if receive is None:
        lw.op(pe.MatmulAccOp, [acc, lw.buf(op.lhs), lw.buf(op.rhs)], rect, **sizes)
        return acc
    a_in = lw.alloc(rect, receive[0], elem, "summa_a")
    b_in = lw.alloc(rect, receive[1], elem, "summa_b")
    rows = lw.channel(row_broadcast(g, g))
    cols = lw.channel(col_broadcast(g, g))
    for k in range(g):
        lw.op(pe.SendOp, [lw.buf(op.lhs)], (0, k, g, 1), color=rows)
        lw.op(pe.SendOp, [lw.buf(op.rhs)], (k, 0, 1, g), color=cols)
        lw.op(pe.RecvOp, [a_in], rect, color=rows)
        lw.op(pe.RecvOp, [b_in], rect, color=cols)
        lw.op(pe.MatmulAccOp, [acc, a_in, b_in], rect, **sizes)
    return acc


def lower_redistribute(op: mesh.RedistributeOp, lw: PELowering) -> SSAValue:
    src, dst = dist_of(op.input), dist_of(op.result)
    buf = lw.alloc_for(op.result, "redistribute")
    bbox = (0, 0, max(src.grid[0], dst.grid[0]), max(src.grid[1], dst.grid[1]))
    lw.op(
        pe.ExchangeOp,
        [buf, lw.buf(op.input)],
        bbox,
        color=lw.channel(XY_CHANNEL),
        src_layout=tile_layout(op.input.type),
        dst_layout=tile_layout(op.result.type),
    )
    return buf


LOWERINGS: dict[type[Operation], Callable] = {
    mesh.ScatterOp: lower_scatter,
    mesh.GatherOp: lower_gather,
    mesh.FillOp: lower_fill,
    mesh.RandomNormalOp: lower_random_normal,
    mesh.UnaryOp: lower_unary,
    mesh.BinaryOp: lower_binary,
    mesh.SelectOp: lower_select,
    mesh.ConvertOp: lower_convert,
    mesh.MaskPadOp: lower_mask_pad,
    mesh.LocalReduceOp: lower_local_reduce,
    mesh.AllReduceOp: lower_allreduce,
    mesh.ReshapeOp: lower_reshape,
    mesh.TransposeOp: lower_transpose,
    mesh.MatmulOp: lower_matmul,
    mesh.RedistributeOp: lower_redistribute,
}


def lower_function(fn: func.FuncOp, target: Target) -> None:
    block = fn.body.block
    missing = [
        op for op in block.ops if type(op) not in LOWERINGS and not isinstance(op, func.ReturnOp)
    ]
    if missing:
        raise UnsupportedOpsError(
            "ops with no pe lowering: " + ", ".join(sorted({op.name for op in missing}))
        )
    lw = PELowering(target, block)
    old_ops = list(block.ops)
    lw.position = {op: i for i, op in enumerate(old_ops)}
    for op in old_ops:
        lw.current = op
        if isinstance(op, func.ReturnOp):
            op.operands = [lw.values.get(v, v) for v in op.arguments]
            continue
        buf = LOWERINGS[type(op)](op, lw)
        lw.values[op.results[0]] = buf
        lw.sharing.setdefault(buf, []).append(op.results[0])
    for op in reversed(old_ops):
        if not isinstance(op, func.ReturnOp):
            block.erase_op(op)


class LowerMeshToPEPass(ModulePass):
    """Lower mesh ops to pe buffers, instructions, virtual channels and routes."""

    name = "lower-mesh-to-pe"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        target = Target.of_module(op)
        for fn in op.walk():
            if isinstance(fn, func.FuncOp):
                lower_function(fn, target)


__all__ = ["LowerMeshToPEPass", "LOWERINGS", "MeshTensorType"]


# --- shape ops ---------------------------------------------------------------------------
# mesh.broadcast -> pe.broadcast on every PE of the grid. mesh.slice, mesh.pad and mesh.concat
# -> one pe.exchange per operand with an index map (dst index i takes src index
# offset + stride * i per dim) on the shared X-then-Y channel; pad fills its result with the
# pad value first (the exchange leaves elements without a source alone).


def exchange_into(
    lw: PELowering,
    dst: SSAValue,
    dst_type: MeshTensorType,
    src: SSAValue,
    offset: tuple[int, ...],
    stride: tuple[int, ...],
) -> None:
    """Move mesh value `src` into buffer `dst` (laid out as `dst_type`) through the index map
    (left out when it is the identity between equal shapes: a plain redistribution)."""
    s, d = dist_of(src), dst_type.dist
    bbox = (0, 0, max(s.grid[0], d.grid[0]), max(s.grid[1], d.grid[1]))
    identity = s.shape == d.shape and not any(offset) and all(k == 1 for k in stride)
    lw.op(
        pe.ExchangeOp,
        [dst, lw.buf(src)],
        bbox,
        color=lw.channel(XY_CHANNEL),
        src_layout=tile_layout(src.type),
        dst_layout=tile_layout(dst_type),
        offset=None if identity else offset,
        stride=None if identity else stride,
    )


def lower_broadcast(op: mesh.BroadcastOp, lw: PELowering) -> SSAValue:
    src, dst = dist_of(op.input), dist_of(op.result)
    buf = lw.alloc_for(op.result, "broadcast")
    lead = (1,) * (len(dst.shape) - len(src.shape))
    lw.op(
        pe.BroadcastOp,
        [buf, lw.buf(op.input)],
        grid_rect(dst),
        src_shape=lead + src.block,
        dst_shape=dst.block,
    )
    return buf


def lower_slice(op: mesh.SliceOp, lw: PELowering) -> SSAValue:
    start, _, step = op.bounds
    buf = lw.alloc_for(op.result, "slice")
    exchange_into(lw, buf, op.result.type, op.input, start, step)
    return buf


def lower_pad(op: mesh.PadOp, lw: PELowering) -> SSAValue:
    low, high = op.widths
    buf = lw.alloc_for(op.result, "pad")
    if any(w > 0 for w in low + high):
        lw.op(pe.FillOp, [buf], grid_rect(dist_of(op.result)), value=op.value)
    exchange_into(lw, buf, op.result.type, op.input, tuple(-w for w in low), (1,) * len(low))
    return buf


def lower_concat(op: mesh.ConcatOp, lw: PELowering) -> SSAValue:
    dim = op.dim_index
    buf = lw.alloc_for(op.result, "cat")
    rank = len(dist_of(op.result).shape)
    begin = 0
    for v in op.inputs:
        n = dist_of(v).shape[dim]
        if n:
            offset = tuple(-begin if d == dim else 0 for d in range(rank))
            exchange_into(lw, buf, op.result.type, v, offset, (1,) * rank)
        begin += n
    return buf


def lower_relayout(op: mesh.RelayoutOp, lw: PELowering) -> SSAValue:
    """A reshape that moves data: one pe.exchange without an index map (row-major order)."""
    buf = lw.alloc_for(op.result, "reshape")
    s, d = dist_of(op.input), dist_of(op.result)
    bbox = (0, 0, max(s.grid[0], d.grid[0]), max(s.grid[1], d.grid[1]))
    lw.op(
        pe.ExchangeOp,
        [buf, lw.buf(op.input)],
        bbox,
        color=lw.channel(XY_CHANNEL),
        src_layout=tile_layout(op.input.type),
        dst_layout=tile_layout(op.result.type),
    )
    return buf


LOWERINGS.update(
    {
        mesh.RelayoutOp: lower_relayout,
        mesh.BroadcastOp: lower_broadcast,
        mesh.SliceOp: lower_slice,
        mesh.PadOp: lower_pad,
        mesh.ConcatOp: lower_concat,
    }
)


# --- convolution and pooling ---------------------------------------------------------------
# mesh.conv2d / mesh.pool2d: a halo exchange between neighbouring PEs, then one local op per PE.
# Per spatial axis (rows first, then columns, so that corners arrive in the second phase with
# the first phase's rows), unless the tile already is the window (`HaloAxis.in_place`):
#
#   %w = pe.alloc "halo_rows"; pe.fill %w (0, or -inf for max pooling)
#   pe.pack  %s, %x  (last `from_prev` rows)  on PE rows 0..P-2;  pe.send %s  (shift south)
#   pe.pack  %n, %x  (first `from_next` rows) on PE rows 1..P-1;  pe.send %n  (shift north)
#   pe.unpack %w, %x (the own block, at pad_lo + row * drift)
#   pe.recv %rs on rows 1..P-1; pe.unpack %w, %rs (above the own block)
#   pe.recv %rn on rows 0..P-2; pe.unpack %w, %rn (below it)
#
# then `pe.conv2d %out, %window, %weight[, %bias]` or `pe.pool2d`. Four channels (one per
# direction), routed like the allreduce chain steps; the IR does not grow with the grid.


def shift(rows: int, cols: int, toward: str) -> tuple[Rule, ...]:
    """Every PE that has a neighbour `toward` sends it one message."""
    return {
        "south": (
            ((0, 0, rows - 1, cols), "ramp", ("south",)),
            ((1, 0, rows - 1, cols), "north", ("ramp",)),
        ),
        "north": (
            ((1, 0, rows - 1, cols), "ramp", ("north",)),
            ((0, 0, rows - 1, cols), "south", ("ramp",)),
        ),
        "east": (
            ((0, 0, rows, cols - 1), "ramp", ("east",)),
            ((0, 1, rows, cols - 1), "west", ("ramp",)),
        ),
        "west": (
            ((0, 1, rows, cols - 1), "ramp", ("west",)),
            ((0, 0, rows, cols - 1), "east", ("ramp",)),
        ),
    }[toward]


def halo_phase(
    lw: PELowering, src: SSAValue, phase: scratch.HaloPhase, grid: tuple[int, int], fill: float
) -> SSAValue:
    """The window of every PE along tile dim `phase.dim` (2: over the grid's rows, 3: its
    columns), in the buffers passes/scratch.py describes."""
    axis, dim, shape = phase.axis, phase.dim, phase.shape
    rows, cols = grid
    rect = (0, 0, rows, cols)
    elem = src.type.element_type  # type: ignore[attr-defined]
    along_rows = dim == 2
    lo, hi = ("north", "south") if along_rows else ("west", "east")
    parts = rows if along_rows else cols

    def line(first: int, count: int) -> Rect:
        return (first, 0, count, cols) if along_rows else (0, first, rows, count)

    slab = phase.slab
    win_shape = phase.window
    win = lw.alloc(rect, math.prod(win_shape), elem, "halo_rows" if along_rows else "halo_cols")
    lw.op(pe.FillOp, [win], rect, value=fill)
    b, drift, pad = axis.in_block, axis.drift, axis.pad_lo
    placed = {"shape": win_shape, "dim": dim, "axis": "r" if along_rows else "c"}
    # (count, pack start, senders, receivers, toward, position of the strip in the window)
    moves = []
    if phase.from_prev:
        moves.append(
            (
                phase.from_prev,
                b - phase.from_prev,
                line(0, parts - 1),
                line(1, parts - 1),
                hi,
                pad - phase.from_prev,
            )
        )
    if phase.from_next:
        moves.append((phase.from_next, 0, line(1, parts - 1), line(0, parts - 1), lo, b + pad))
    received = []
    for count, start, senders, receivers, toward, at in moves:
        out = lw.alloc(rect, math.prod(slab(count)), elem, f"halo_to_{toward}")
        lw.op(pe.PackOp, [out, src], senders, shape=shape, dim=dim, start=start, count=count)
        color = lw.channel(shift(rows, cols, toward))
        lw.op(pe.SendOp, [out], senders, color=color)
        received.append((count, receivers, color, at, toward))
    lw.op(pe.UnpackOp, [win, src], rect, count=b, at=(pad, drift), **placed)
    for count, receivers, color, at, toward in received:
        into = lw.alloc(rect, math.prod(slab(count)), elem, f"halo_from_{toward}")
        lw.op(pe.RecvOp, [into], receivers, color=color)
        lw.op(pe.UnpackOp, [win, into], receivers, count=count, at=(at, drift), **placed)
    return win


def halo_window(lw: PELowering, op: mesh._WindowedOp, fill: float) -> tuple[SSAValue, tuple]:
    """Every PE's input window (halo included) of a windowed op: (buffer, NCHW shape)."""
    x = dist_of(op.input)  # type: ignore[attr-defined]
    buf, shape = lw.buf(op.input), x.block  # type: ignore[attr-defined]
    for phase in scratch.halo_phases(x.block, op.axes()):
        buf, shape = halo_phase(lw, buf, phase, x.grid, fill), phase.window
    return buf, shape


def lower_conv2d(op: mesh.Conv2dOp, lw: PELowering) -> SSAValue:
    window, shape = halo_window(lw, op, 0.0)
    kernel, stride, _, dilation = op.spatial()
    out = lw.alloc_for(op.result, "conv2d")
    operands = [out, window, lw.buf(op.weight)]
    if op.bias is not None:
        operands.append(lw.buf(op.bias))
    lw.op(
        pe.Conv2dOp,
        operands,
        grid_rect(dist_of(op.result)),
        in_shape=shape,
        out_shape=dist_of(op.result).block,
        kernel=kernel,
        stride=stride,
        dilation=dilation,
        groups=op.groups.value.data,
    )
    return out


def lower_pool2d(op: mesh.Pool2dOp, lw: PELowering) -> SSAValue:
    kind = op.kind.data
    window, shape = halo_window(lw, op, -math.inf if kind == "max" else 0.0)
    kernel, stride, _, dilation = op.spatial()
    out = lw.alloc_for(op.result, f"{kind}_pool2d")
    lw.op(
        pe.Pool2dOp,
        [out, window],
        grid_rect(dist_of(op.result)),
        kind=kind,
        in_shape=shape,
        out_shape=dist_of(op.result).block,
        kernel=kernel,
        stride=stride,
        dilation=dilation,
    )
    return out


LOWERINGS.update(
    {
        mesh.Conv2dOp: lower_conv2d,
        mesh.Pool2dOp: lower_pool2d,
    }
)


# --- creation: iota and uniform random ----------------------------------------------------
# One pe op on every PE of the grid, computing its tile from the global indices in the layout.


def lower_iota(op: mesh.IotaOp, lw: PELowering) -> SSAValue:
    buf = lw.alloc_for(op.result, "iota")
    lw.op(
        pe.IotaOp,
        [buf],
        grid_rect(dist_of(op.result)),
        layout=tile_layout(op.result.type),
        dim=op.dim,
        start=op.start,
        step=op.step,
    )
    return buf


def lower_random_uniform(op: mesh.RandomUniformOp, lw: PELowering) -> SSAValue:
    buf = lw.alloc_for(op.result, "rand")
    lw.op(
        pe.RandomUniformOp,
        [buf, op.seed],
        grid_rect(dist_of(op.result)),
        layout=tile_layout(op.result.type),
        minval=op.minval,
        maxval=op.maxval,
    )
    return buf


LOWERINGS.update(
    {
        mesh.IotaOp: lower_iota,
        mesh.RandomUniformOp: lower_random_uniform,
    }
)
