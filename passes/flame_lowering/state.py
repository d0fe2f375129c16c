"""The state of flame-to-mesh while it lowers one function, and the small mesh ops every lowering
emits (`scale`, `mask_pad`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field

from xdsl.dialects.builtin import (
    TensorType,
    UnitAttr,
    f32,
)
from xdsl.ir import Attribute, Block, Operation, SSAValue

from pyflame.core.distribution import Distribution
from pyflame.core.elementwise import UnaryFn
from pyflame.core.placement import SINGLE_PE_BYTES
from pyflame.core.target import Target
from pyflame.dialects import flame, mesh
from pyflame.dialects.mesh import MeshTensorType, dist_of
from pyflame.passes.flame_lowering.regrid import STAGED_ATTR, staged_regrid
from pyflame.passes.layouts import (
    DEFAULT_TILE_BYTES,
    default_dist,
    elem_bytes_of,
    last_two_dims_layout,
    layout_to_dist,
)
from pyflame.passes.locations import arg_loc


@dataclass
class Lowering:
    """State while one function is lowered: where to insert, value map, layout hints.

    Program inputs and creation ops are placed lazily, at their first use, directly in the
    layout that use wants (no redistribution), unless the user gave them a layout.
    """

    target: Target
    block: Block
    hints: dict[SSAValue, flame.LayoutAttr]
    values: dict[SSAValue, SSAValue] = field(default_factory=dict)
    deferred: dict[SSAValue, Callable[[Distribution], Operation]] = field(default_factory=dict)
    current: Operation | None = None
    #: tensors up to this size that nobody placed go on one PE (the compiler driver lowers it
    #: when a program of many small tensors does not fit PE (0, 0))
    single_pe_bytes: int = SINGLE_PE_BYTES
    #: layouts assign-layouts chose (passes/assign_layouts.py), followed like hints; a lazy
    #: leaf with one is still placed directly where its first use wants it
    assigned: dict[SSAValue, Distribution] = field(default_factory=dict)
    #: values that can be made again in another layout without moving data on the fabric:
    #: program inputs assign-layouts marked `pf.reload` (loaded from the host once per layout
    #: they are used in) and transposes of such values; a maker per value, its copies by layout
    remakes: dict[SSAValue, Callable[[Distribution], SSAValue]] = field(default_factory=dict)
    copies: dict[tuple[SSAValue, Distribution], SSAValue] = field(default_factory=dict)
    #: hinted values whose hint binds them only (`#pf.placement<..., hinted_only>`): they are
    #: made in the hinted layout, and every use reads one copy in the compiler's default
    #: layout, so nothing derived from them inherits the hint
    unbound: set[SSAValue] = field(default_factory=set)
    #: a move that changes both grid sides may go through an intermediate grid (regrid.py)
    stage_moves: bool = True

    def default_tile_bytes(self) -> int:
        return max(min(DEFAULT_TILE_BYTES, self.single_pe_bytes), 256)

    def default(self, shape: tuple[int, ...], elem_bytes: int) -> Distribution:
        """The compiler's layout for a tensor nobody placed (layouts.default_dist)."""
        return default_dist(
            shape, elem_bytes, self.target, self.single_pe_bytes, self.default_tile_bytes()
        )

    def matrix_layout(self, shape: tuple[int, ...], elem_bytes: int) -> flame.LayoutAttr:
        """The grid the last two dims of a tensor of `shape` need (what SUMMA sizes by)."""
        return last_two_dims_layout(
            shape, elem_bytes, self.target, self.single_pe_bytes, self.default_tile_bytes()
        )

    def emit(self, op: Operation, location: Attribute | None = None) -> SSAValue:
        assert self.current is not None
        op.location = location or self.current.location  # type: ignore[assignment]  # a loc
        self.block.insert_op_before(op, self.current)
        return op.results[0] if op.results else None  # type: ignore[return-value]  # None for an op with no result; callers ignore it

    def materialize(self, v: SSAValue, dist: Distribution) -> SSAValue:
        make = self.deferred.pop(v)
        owner = v.owner
        # a program input is placed at its first use, but it was made where its block
        # argument's location says (the user's `pf.from_numpy` line): errors name that line
        loc = owner.location if isinstance(owner, Operation) else arg_loc(v)
        self.values[v] = self.emit(make(dist), loc)
        return self.values[v]

    def value(self, v: SSAValue) -> SSAValue:
        if v in self.deferred:
            self.materialize(v, self.placed(v))
        have = self.values.get(v, v)
        if v in self.unbound:
            return self.copy(v, have, self.free_dist(v))
        return have

    def free_dist(self, v: SSAValue) -> Distribution:
        """The compiler's own layout for `v` (the default, as if nobody had placed it)."""
        typ = v.type
        assert isinstance(typ, TensorType)
        return self.default(tuple(typ.get_shape()), elem_bytes_of(typ.element_type))

    def copy(self, v: SSAValue, have: SSAValue, dist: Distribution) -> SSAValue:
        """`have` (the mesh value of `v`) in `dist`: one copy per layout, made at first use."""
        if dist_of(have) == dist:
            return have
        if (v, dist) not in self.copies:
            self.copies[(v, dist)] = self.to_dist(have, dist)
        return self.copies[(v, dist)]

    def value_as(self, v: SSAValue, dist: Distribution) -> SSAValue:
        """`v` in distribution `dist`: placed there directly if it is a lazy leaf."""
        if v in self.deferred and v not in self.hints:
            return self.materialize(v, dist)
        if v in self.unbound:
            self.value(v)  # made (and copied) once, in program order
            return self.copy(v, self.values[v], dist)
        have = self.value(v)
        if v in self.remakes and dist_of(have).normalized() != dist.normalized():
            if (v, dist) not in self.copies:
                self.copies[(v, dist)] = self.remakes[v](dist)
            return self.to_dist(self.copies[(v, dist)], dist)
        return self.to_dist(have, dist)

    def known_dist(self, v: SSAValue) -> Distribution | None:
        """The distribution `v` has or will have; None for an unplaced lazy leaf."""
        if v in self.unbound:
            return self.free_dist(v)
        if v in self.deferred:
            return self.hinted(v)
        return dist_of(self.values.get(v, v))

    def placed(self, v: SSAValue) -> Distribution:
        """The distribution a flame value's hint (or the default) gives it."""
        typ = v.type
        assert isinstance(typ, TensorType)
        if v in self.assigned and v not in self.hints:
            return self.assigned[v]
        shape = tuple(typ.get_shape())
        hint = self.hints.get(v)
        if hint is None:
            return self.default(shape, elem_bytes_of(typ.element_type))
        return layout_to_dist(hint, shape, self.target)

    def hinted(self, v: SSAValue) -> Distribution | None:
        hint = self.hints.get(v)
        assigned = self.assigned.get(v)
        if hint is None:
            return assigned
        dist = layout_to_dist(hint, flame.tensor_shape(v), self.target)
        if assigned is not None and assigned.with_(origin=dist.origin) == dist:
            return assigned  # the hinted layout, where place-on-fabric put it
        return dist

    def to_dist(self, v: SSAValue, dist: Distribution) -> SSAValue:
        if dist_of(v) == dist:
            return v
        if dist_of(v).normalized() == dist.normalized():  # the same tiles: only the type changes
            return self.emit(mesh.ReshapeOp(v, dist))
        mid = None
        if self.stage_moves:
            mid = staged_regrid(dist_of(v), dist, self.target, elem_bytes_of(mesh.elem_of(v)))
        if mid is not None:  # both grid sides change: one side per exchange (regrid.py)
            first = mesh.RedistributeOp(v, mid)
            first.attributes[STAGED_ATTR] = UnitAttr()
            v = self.emit(first)
        return self.emit(mesh.RedistributeOp(v, dist))

    def finish(self, flame_result: SSAValue, v: SSAValue) -> None:
        """Map a flame result to its mesh value, honouring a layout hint on the result."""
        hinted = self.hinted(flame_result)
        self.values[flame_result] = self.to_dist(v, hinted) if hinted else v


@functools.lru_cache(maxsize=8192)  # (an attribute is an immutable value: one serves all uses)
def mesh_type(dist: Distribution, elem: Attribute = f32) -> MeshTensorType:
    return MeshTensorType(dist, elem)


def scale(lw: Lowering, x: SSAValue, factor: float) -> SSAValue:
    return lw.emit(mesh.UnaryOp(UnaryFn("scale"), x, scalar=factor))


def mask_pad(lw: Lowering, x: SSAValue, value: float) -> SSAValue:
    """x with its tiles' padding set to `value`: x itself when it already holds zeros there
    and `value` is 0 (a host input's tiles, a redistribution's: `mesh.zero_padded`), so the
    padding is not zeroed twice (GEMV 16384^2 on 360x360: 2,121 of 5,209 cycles)."""
    if value == 0.0 and mesh.zero_padded(x):
        return x
    return lw.emit(mesh.MaskPadOp(x, value))
