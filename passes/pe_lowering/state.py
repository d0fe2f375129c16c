"""The per-function state of lower-mesh-to-pe (`PELowering`: value map, buffers, channels) and
the router route patterns its lowerings use (row/column broadcasts, chains)."""

from __future__ import annotations

from dataclasses import dataclass, field

from xdsl.dialects.builtin import (
    ArrayAttr,
    FloatAttr,
    IntegerAttr,
    StringAttr,
    UnitAttr,
    f64,
    i64,
)
from xdsl.ir import Attribute, Block, Operation, SSAValue
from xdsl.utils.exceptions import VerifyException

from pyflame.core.distribution import Distribution
from pyflame.core.target import Target
from pyflame.dialects import pe
from pyflame.dialects.mesh import MeshTensorType, dist_of, elem_of
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
        return self.alloc(grid_rect(d), d.local_elems, elem_of(v), what)

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
        now = self.position[self.current]  # type: ignore[index]  # current is set while an op is lowered
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


def exchange_whole(op: Operation, lw: PELowering, what: str) -> SSAValue:
    """`op`'s operand moved element by element (row-major order) into a new buffer of its
    result's layout: one pe.exchange on the shared X-then-Y channel, over both grids."""
    src, dst = dist_of(op.operands[0]), dist_of(op.results[0])
    buf = lw.alloc_for(op.results[0], what)
    bbox = (0, 0, max(src.grid[0], dst.grid[0]), max(src.grid[1], dst.grid[1]))
    lw.op(
        pe.ExchangeOp,
        [buf, lw.buf(op.operands[0])],
        bbox,
        color=lw.channel(XY_CHANNEL),
        src_layout=tile_layout(op.operands[0].type),
        dst_layout=tile_layout(op.results[0].type),
    )
    return buf
