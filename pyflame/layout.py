"""`pf.MeshLayout`: how a tensor is split over the 2D mesh of processing elements.

    pf.MeshLayout.grid(8, 8)          # rows and columns of the tensor over an 8x8 block of PEs
    pf.MeshLayout.grid(8, 8, at=(0, 8))   # the same block, its corner at PE (0, 8)
    pf.MeshLayout.row_partition(16)   # the leading dimension split over 16 PEs
    pf.MeshLayout.col_partition(16)   # the last dimension split over 16 PEs
    pf.MeshLayout.replicated(2, 2)    # a full copy on each PE of a 2x2 block
    pf.MeshLayout.single()            # the whole tensor on one PE

A layout is a hint in the IR (`#flame.layout<grid [8, 8]>`); the compiler honours it, padding
shapes that do not divide evenly, and chooses one for tensors without a hint.
"""

from __future__ import annotations

import math
import operator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyflame.dialects.flame import LayoutAttr

#: kind -> names of its integer parameters (the same table as the flame dialect's LAYOUT_KINDS)
KINDS: dict[str, tuple[str, ...]] = {
    "single": (),
    "grid": ("rows", "cols"),
    "row_partition": ("n",),
    "col_partition": ("n",),
    "replicated": ("rows", "cols"),
}


class MeshLayout:
    """An immutable, hashable layout; build one with the class methods."""

    __slots__ = ("_kind", "_origin", "_sizes")

    _kind: str
    _sizes: tuple[int, ...]
    #: () or the fabric PE (row, col) of a grid's corner
    _origin: tuple[int, ...]

    def __init__(self, kind: str, sizes: tuple[int, ...] = (), at: tuple[int, int] | None = None):
        if kind not in KINDS:
            raise ValueError(f"unknown layout kind {kind!r} (one of {sorted(KINDS)})")
        params = KINDS[kind]
        sizes = tuple(sizes)
        if len(sizes) != len(params):
            raise ValueError(f"MeshLayout.{kind} takes {len(params)} sizes, got {len(sizes)}")
        ints = []
        for name, size in zip(params, sizes, strict=True):
            try:
                value = operator.index(size)  # ints and numpy ints, not floats
            except TypeError:
                value = 0
            if isinstance(size, bool) or value < 1:
                raise ValueError(f"MeshLayout.{kind}: {name} must be a positive int, got {size!r}")
            ints.append(value)
        origin: tuple[int, ...] = ()
        if at is not None:
            if kind != "grid":
                raise ValueError(f"only MeshLayout.grid takes at=, not MeshLayout.{kind}")
            try:
                origin = tuple(operator.index(a) for a in at)
            except TypeError:
                origin = (-1,)
            if len(origin) != 2 or min(origin) < 0:
                raise ValueError(
                    f"MeshLayout.grid: at must be a PE (row, col) >= (0, 0), got {at!r}"
                )
        object.__setattr__(self, "_kind", kind)
        object.__setattr__(self, "_sizes", tuple(ints))
        object.__setattr__(self, "_origin", origin)

    # ---------------------------------------------------------------- constructors

    @classmethod
    def grid(cls, rows: int, cols: int, at: tuple[int, int] | None = None) -> MeshLayout:
        """rows x cols PEs; `at` the fabric PE (row, col) of its corner (default: the compiler
        chooses, PE (0, 0) unless place-on-fabric moves it)."""
        return cls("grid", (rows, cols), at)

    @classmethod
    def row_partition(cls, n: int) -> MeshLayout:
        return cls("row_partition", (n,))

    @classmethod
    def col_partition(cls, n: int) -> MeshLayout:
        return cls("col_partition", (n,))

    @classmethod
    def replicated(cls, rows: int, cols: int) -> MeshLayout:
        return cls("replicated", (rows, cols))

    @classmethod
    def single(cls) -> MeshLayout:
        return cls("single", ())

    # ---------------------------------------------------------------- properties

    @property
    def kind(self) -> str:
        return self._kind

    @property
    def sizes(self) -> tuple[int, ...]:
        return self._sizes

    @property
    def at(self) -> tuple[int, int] | None:
        """The grid's corner on the fabric if the layout says, else None."""
        return (self._origin[0], self._origin[1]) if self._origin else None

    @property
    def num_pes(self) -> int:
        """How many PEs the layout spans."""
        return math.prod(self._sizes)

    # ---------------------------------------------------------------- IR round trip

    def to_attr(self) -> LayoutAttr:
        from pyflame.dialects.flame import LayoutAttr

        return LayoutAttr(self._kind, self._sizes, self._origin)

    @classmethod
    def from_attr(cls, attr: LayoutAttr) -> MeshLayout:
        origin = attr.origin_tuple
        return cls(
            attr.kind.data.value, attr.size_tuple, (origin[0], origin[1]) if origin else None
        )

    # ---------------------------------------------------------------- value semantics

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("MeshLayout is immutable")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MeshLayout):
            return NotImplemented
        return (self._kind, self._sizes, self._origin) == (other._kind, other._sizes, other._origin)

    def __hash__(self) -> int:
        return hash((self._kind, self._sizes, self._origin))

    def __repr__(self) -> str:
        at = f", at={self.at}" if self._origin else ""
        return f"MeshLayout.{self._kind}({', '.join(map(str, self._sizes))}{at})"

    def __reduce__(self):
        return (MeshLayout, (self._kind, self._sizes, self.at))
