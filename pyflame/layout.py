"""`pf.MeshLayout`: how a tensor is split over the 2D mesh of processing elements.

    pf.MeshLayout.grid(8, 8)          # rows and columns of the tensor over an 8x8 block of PEs
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

    __slots__ = ("_kind", "_sizes")

    _kind: str
    _sizes: tuple[int, ...]

    def __init__(self, kind: str, sizes: tuple[int, ...] = ()):
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
        object.__setattr__(self, "_kind", kind)
        object.__setattr__(self, "_sizes", tuple(ints))

    # ---------------------------------------------------------------- constructors

    @classmethod
    def grid(cls, rows: int, cols: int) -> MeshLayout:
        return cls("grid", (rows, cols))

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
    def num_pes(self) -> int:
        """How many PEs the layout spans."""
        return math.prod(self._sizes)

    # ---------------------------------------------------------------- IR round trip

    def to_attr(self) -> LayoutAttr:
        from pyflame.dialects.flame import LayoutAttr

        return LayoutAttr(self._kind, self._sizes)

    @classmethod
    def from_attr(cls, attr: LayoutAttr) -> MeshLayout:
        return cls(attr.kind.data.value, attr.size_tuple)

    # ---------------------------------------------------------------- value semantics

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("MeshLayout is immutable")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MeshLayout):
            return NotImplemented
        return self._kind == other._kind and self._sizes == other._sizes

    def __hash__(self) -> int:
        return hash((self._kind, self._sizes))

    def __repr__(self) -> str:
        return f"MeshLayout.{self._kind}({', '.join(map(str, self._sizes))})"

    def __reduce__(self):
        return (MeshLayout, (self._kind, self._sizes))
