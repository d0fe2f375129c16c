"""The window of a convolution or pooling op as the flame, mesh and pe dialects keep it.

A windowed op's `kernel` (kh, kw), `stride` (sh, sw), `padding` (top, bottom, left, right) and
`dilation` (dh, dw) are `array<i64: ...>` properties and its `groups` an `N : i64` property
(pe ops have no padding: their input is the PE's window, halo included). The three dialects
build them with `window_properties` and read them through `WindowAccess`, so the attribute
names, their order in the printed attribute dictionary and their Python views are one fact:

    flame.conv2d %x, %w {stride = array<i64: 1, 1>, padding = array<i64: 1, 1, 1, 1>,
                         dilation = array<i64: 1, 1>, groups = 1 : i64} : ...
    op.spatial() == ((3, 3), (1, 1), (1, 1, 1, 1), (1, 1)); op.group_count == 1

The shape rules themselves are pyflame/core/shapes.py's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from xdsl.dialects.builtin import DenseArrayBase, IntegerAttr, IntegerType, i64
from xdsl.ir import Attribute

#: (kernel, stride, padding (top, bottom, left, right), dilation), each a tuple of ints
Spatial = tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...], tuple[int, ...]]


def ints(attr: DenseArrayBase[IntegerType]) -> tuple[int, ...]:
    """An `array<i64: ...>` property as a tuple of Python ints."""
    return tuple(int(v) for v in attr.get_values())


def window_properties(
    *,
    kernel: Sequence[int] | None = None,
    stride: Sequence[int],
    padding: Sequence[int] | None = None,
    dilation: Sequence[int],
    groups: int | None = None,
) -> dict[str, Attribute]:
    """A windowed op's properties in the order they print (kernel, stride, padding, dilation,
    groups); an absent one (None) is left out: mesh.conv2d takes its kernel from the weight,
    pe ops have no padding, pooling no groups."""
    props: dict[str, Attribute] = {}
    for name, values in (
        ("kernel", kernel),
        ("stride", stride),
        ("padding", padding),
        ("dilation", dilation),
    ):
        if values is not None:
            props[name] = DenseArrayBase.from_list(i64, [int(v) for v in values])
    if groups is not None:
        props["groups"] = IntegerAttr(int(groups), i64)
    return props


class WindowAccess:
    """Python views of the window properties, mixed into the windowed ops of every dialect
    (methods and properties only: IRDL sees no fields here). An op whose kernel is not a
    property (mesh.conv2d and flame.conv2d: the weight's last two dims) overrides
    `kernel_pair`; `padding_quad` and `spatial` need a `padding` property (not pe's ops)."""

    if TYPE_CHECKING:  # declared by the ops that mix this in
        kernel: DenseArrayBase[IntegerType]
        stride: DenseArrayBase[IntegerType]
        padding: DenseArrayBase[IntegerType]
        dilation: DenseArrayBase[IntegerType]
        groups: IntegerAttr

    @property
    def kernel_pair(self) -> tuple[int, ...]:
        return ints(self.kernel)

    @property
    def stride_pair(self) -> tuple[int, ...]:
        return ints(self.stride)

    @property
    def padding_quad(self) -> tuple[int, ...]:
        return ints(self.padding)

    @property
    def dilation_pair(self) -> tuple[int, ...]:
        return ints(self.dilation)

    @property
    def group_count(self) -> int:
        return self.groups.value.data

    def spatial(self) -> Spatial:
        """(kernel, stride, padding, dilation) as tuples, the argument order of the shape
        rules and of `pyflame.core.distribution.halo_axes`."""
        return (self.kernel_pair, self.stride_pair, self.padding_quad, self.dilation_pair)
