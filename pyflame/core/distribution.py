"""The distribution algebra: how a tensor's blocks sit on a rectangle of PEs.

Pure arithmetic, independent of any dialect: the mesh dialect's `!mesh.tensor` type prints one,
passes choose and transform them, the simulator scatters and gathers host arrays by them.

    Distribution(shape=(64, 48), grid=(4, 4), split=("r", "c"))   # 16x12 blocks
    Distribution((64, 48), (4, 4), ("r", "c"), origin=(0, 8))    # the same, on PEs (0..3, 8..11)

`origin` is the fabric PE holding block (0, 0): the grid is the rectangle of PEs from there, so
tensors of independent ops can live on disjoint parts of the fabric at once. Two distributions
differing only in origin hold the same tiles on different PEs (moving between them is a
redistribution). The text form writes it only when it is not (0, 0): `on 4x4 at (0, 8)`.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from xdsl.dialects.builtin import ArrayAttr, IntAttr, StringAttr
from xdsl.ir import Attribute, ParametrizedAttribute
from xdsl.irdl import param_def
from xdsl.parser import AttrParser
from xdsl.printer import Printer
from xdsl.utils.exceptions import VerifyException

from pyflame.core.elementwise import ELEMENT_TYPES, type_name

AXES = ("r", "c", "rc", "")  # "" (printed `_`): the dim is not split


@dataclass(frozen=True)
class Distribution:
    """Block arithmetic of a distributed tensor, independent of xDSL (used by passes and sim)."""

    shape: tuple[int, ...]
    grid: tuple[int, int]
    split: tuple[str, ...]
    #: the fabric PE (row, col) at the grid's north-west corner
    origin: tuple[int, int] = (0, 0)

    def parts(self, dim: int) -> int:
        rows, cols = self.grid
        return {"r": rows, "c": cols, "rc": rows * cols, "": 1}[self.split[dim]]

    # (block, padded_shape and local_elems are computed once: the compiler asks ~100,000
    # times in a big program; the instance is frozen and its equality reads only its fields)
    @functools.cached_property
    def block(self) -> tuple[int, ...]:
        """The per-PE block shape (padded)."""
        return tuple(-(-n // self.parts(d)) if n else 0 for d, n in enumerate(self.shape))

    @functools.cached_property
    def padded_shape(self) -> tuple[int, ...]:
        return tuple(b * self.parts(d) for d, b in enumerate(self.block))

    @functools.cached_property
    def local_elems(self) -> int:
        return math.prod(self.block)

    @property
    def num_pes(self) -> int:
        return self.grid[0] * self.grid[1]

    def has_padding(self, dims: Sequence[int] | None = None) -> bool:
        dims = range(len(self.shape)) if dims is None else dims
        return any(self.padded_shape[d] != self.shape[d] for d in dims)

    def block_index(self, dim: int, row, col):
        """Which block of `dim` PE (row, col) holds (works on numpy arrays of coordinates)."""
        axis = self.split[dim]
        if axis == "r":
            return row
        if axis == "c":
            return col
        if axis == "rc":
            return row * self.grid[1] + col
        return row * 0

    def __str__(self) -> str:
        shape = "x".join(map(str, self.shape)) or "scalar"
        split = ", ".join(a or "_" for a in self.split)
        return f"{shape} on {self.grid[0]}x{self.grid[1]}{origin_text(self.origin)} split [{split}]"

    @property
    def rect(self) -> tuple[int, int, int, int]:
        """The fabric PEs of the grid: (first row, first col, rows, cols)."""
        return (self.origin[0], self.origin[1], self.grid[0], self.grid[1])

    def fits(self, fabric_rows: int, fabric_cols: int) -> bool:
        """Whether the grid, at its origin, lies on a fabric of that many PEs."""
        r0, c0, rows, cols = self.rect
        return r0 + rows <= fabric_rows and c0 + cols <= fabric_cols

    def normalized(self) -> Distribution:
        """The same placement with mesh axes of size 1 dropped from the split (on a 4x1 grid,
        `c` is `_` and `rc` is `r`): equal normalized distributions hold the same tiles."""
        rows, cols = self.grid
        keep = lambda a: "".join(x for x in a if (x == "r" and rows > 1) or (x == "c" and cols > 1))  # noqa: E731
        return Distribution(self.shape, self.grid, tuple(keep(a) for a in self.split), self.origin)

    def with_(
        self,
        shape: Sequence[int] | None = None,
        grid: Sequence[int] | None = None,
        split: Sequence[str] | None = None,
        origin: Sequence[int] | None = None,
    ) -> Distribution:
        """This distribution with some fields replaced (the origin is kept unless given)."""
        rows, cols = self.grid if grid is None else grid
        r0, c0 = self.origin if origin is None else origin
        return Distribution(
            self.shape if shape is None else tuple(shape),
            (rows, cols),
            self.split if split is None else tuple(split),
            (r0, c0),
        )

    def check(self) -> None:
        if len(self.split) != len(self.shape):
            raise VerifyException(
                f"split has {len(self.split)} entries for a rank-{len(self.shape)} tensor"
            )
        if any(a not in AXES for a in self.split):
            raise VerifyException(f"split entries must be r, c, rc or _, got {list(self.split)}")
        used = [ax for a in self.split for ax in a]
        if len(used) != len(set(used)):
            raise VerifyException(f"split {list(self.split)} uses a mesh axis twice")
        if self.grid[0] < 1 or self.grid[1] < 1:
            raise VerifyException(f"grid {self.grid} must be positive")
        if len(self.origin) != 2 or min(self.origin) < 0:
            raise VerifyException(f"origin {self.origin} must be a PE (row, col) >= (0, 0)")
        if any(n < 0 for n in self.shape):
            raise VerifyException(
                f"mesh tensors have static shapes, got a dynamic dim ('?') in {list(self.shape)}"
            )


def is_local_reshape(src: Distribution, dst: Distribution) -> bool:
    """A reshape that leaves every PE's tile bytes unchanged: same grid, and the shapes differ
    only by unsplit size-1 dims and by how the unsplit dims in front of the first split one
    are grouped (`[2, 3, k]` split `[_, _, r]` as `[6, k]` split `[_, r]`: every tile starts
    with the same whole 2x3 rows), or nothing is split at all."""
    if src.rect != dst.rect:
        return False
    src, dst = src.normalized(), dst.normalized()
    if all(a == "" for a in src.split + dst.split):
        return math.prod(src.shape) == math.prod(dst.shape)

    def core(d: Distribution) -> tuple[int, list[tuple[int, str]]]:
        dims = [(n, a) for n, a in zip(d.shape, d.split, strict=True) if not (n == 1 and a == "")]
        first = next((i for i, (_, a) in enumerate(dims) if a != ""), len(dims))
        return math.prod(n for n, _ in dims[:first]), dims[first:]

    return core(src) == core(dst)


def broadcast_problem(src: Distribution, dst: Distribution) -> str | None:
    """Why `src` cannot be expanded to `dst` on every PE's own tile, or None.

    Same grid; dims aligned on the right; a dim of equal size keeps its split; a dim that is
    broadcast (size 1 in `src`, or new in front) must be unsplit in `src` (each PE holds its
    whole single element) and may be split in any way in `dst` (a mesh axis `src` does not use
    holds copies of the same data)."""
    if src.rect != dst.rect:
        return f"broadcast must keep the grid, got {src} -> {dst}"
    k = len(dst.shape) - len(src.shape)
    if k < 0:
        return f"broadcast cannot drop dims: {src} -> {dst}"
    for d, (n, axis) in enumerate(zip(src.shape, src.split, strict=True)):
        if n == dst.shape[k + d] and axis == dst.split[k + d]:
            continue
        if n == 1 and axis == "":
            continue
        if n not in (1, dst.shape[k + d]):
            return f"cannot broadcast {src} to {dst}: size {n} of dim {d}"
        return (
            f"broadcast {src} -> {dst}: dim {d} must keep its split, or have size 1 and be unsplit"
        )
    return None


# Windowed ops on NCHW tensors split [_, _, r, c]: H over the grid's rows, W over its columns.
# PE (i, j) computes output block (i, j). The input it needs (its *window*) overlaps the input
# blocks of its neighbours by a halo; `HaloAxis` is the arithmetic of one spatial axis, shared by
# the mesh verifiers, flame-to-mesh (which picks a grid on which the halo stays between
# neighbours) and lower-mesh-to-pe (which moves the halo with nearest-neighbour messages).


@dataclass(frozen=True)
class HaloAxis:
    """One spatial axis of a windowed op on `parts` PEs.

    Input blocks have `in_block` = ceil(size / parts) elements, output blocks `out_block` =
    ceil(out / parts). PE K's window is input [K * step - pad_lo, ... + window): what its
    `out_block` outputs read. Relative to the window, the PE's own block sits at
    `pad_lo + K * drift` (drift = in_block - step: 0 when blocks line up with output blocks times
    the stride). The halo comes from the last `from_prev` elements of block K - 1 and the first
    `from_next` elements of block K + 1; `feasible` says that no PE with outputs needs more.

        HaloAxis(size=8, out=8, parts=2, kernel=3, stride=1, dilation=1, pad_lo=1)
        # in_block 4, out_block 4, window 6, drift 0, from_prev 1, from_next 1
    """

    size: int
    out: int
    parts: int
    kernel: int
    stride: int
    dilation: int
    pad_lo: int

    @property
    def in_block(self) -> int:
        return -(-self.size // self.parts)

    @property
    def out_block(self) -> int:
        return -(-self.out // self.parts)

    @property
    def step(self) -> int:
        return self.out_block * self.stride

    @property
    def window(self) -> int:
        return (self.out_block - 1) * self.stride + (self.kernel - 1) * self.dilation + 1

    @property
    def drift(self) -> int:
        return self.in_block - self.step

    def needed(self, k: int) -> tuple[int, int] | None:
        """The input range [lo, hi) PE k's real outputs read (padding excluded), or None."""
        o0, o1 = k * self.out_block, min((k + 1) * self.out_block, self.out)
        if o0 >= o1:
            return None
        lo = max(o0 * self.stride - self.pad_lo, 0)
        hi = min(
            (o1 - 1) * self.stride - self.pad_lo + (self.kernel - 1) * self.dilation + 1, self.size
        )
        return (lo, hi) if lo < hi else None

    def _needs(self) -> list[tuple[int, int, int]]:
        return [(k, *r) for k in range(self.parts) if (r := self.needed(k)) is not None]

    @property
    def from_prev(self) -> int:
        """Elements at the end of block k - 1 that reach back to the first one PE k reads
        there (the strip is a block's tail, so it spans up to the block's end)."""
        b = self.in_block
        return max([k * b - lo for k, lo, _ in self._needs() if k > 0] + [0])

    @property
    def from_next(self) -> int:
        """Elements at the start of block k + 1 up to the last one PE k reads there."""
        b = self.in_block
        return max([hi - (k + 1) * b for k, _, hi in self._needs()] + [0])

    def problem(self) -> str | None:
        """Why some PE's window reaches past its neighbours' blocks, or None."""
        b = self.in_block
        for k, lo, hi in self._needs():
            if lo < (k - 1) * b or hi > (k + 2) * b:
                return (
                    f"PE {k} of {self.parts} needs input [{lo}, {hi}) but holds [{k * b}, "
                    f"{(k + 1) * b}) and its neighbours reach only [{max(k - 1, 0) * b}, "
                    f"{(k + 2) * b})"
                )
        return None

    @property
    def feasible(self) -> bool:
        return self.problem() is None

    @property
    def in_place(self) -> bool:
        """Every window is the start of the PE's own block: the op reads the tile directly."""
        return (
            self.pad_lo == 0
            and self.window <= self.in_block
            and (self.parts == 1 or (self.drift == 0 and self.from_next == 0))
        )


def halo_axes(
    in_shape: Sequence[int],
    out_shape: Sequence[int],
    grid: Sequence[int],
    kernel: Sequence[int],
    stride: Sequence[int],
    padding: Sequence[int],
    dilation: Sequence[int],
) -> tuple[HaloAxis, HaloAxis]:
    """The H axis (over the grid's rows) and the W axis (over its columns) of an NCHW op."""
    return tuple(  # type: ignore[return-value]  # two axes: H and W
        HaloAxis(
            in_shape[2 + a],
            out_shape[2 + a],
            grid[a],
            kernel[a],
            stride[a],
            dilation[a],
            padding[2 * a],
        )
        for a in (0, 1)
    )


def largest_feasible_parts(
    size: int, out: int, parts: int, kernel: int, stride: int, dilation: int, pad_lo: int
) -> int:
    """The most PEs (at most `parts`) over which the axis splits with halos between
    neighbours only."""
    for p in range(parts, 1, -1):
        if HaloAxis(size, out, p, kernel, stride, dilation, pad_lo).feasible:
            return p
    return 1


SPATIAL_SPLIT = ("", "", "r", "c")
#: conv2d's channel-split form: channels over the grid's columns, H over its rows, W whole
CHANNEL_SPLIT = ("", "c", "r", "")


def is_spatial(d: Distribution) -> bool:
    """4-D with H over the grid's rows and W over its columns, N and C unsplit; along a grid
    axis of one PE the dim may also be unsplit (the same tiles: e.g. any 4-D tensor on 1x1)."""
    return (
        len(d.shape) == 4
        and d.split[:2] == ("", "")
        and d.split[2] in ("r", "" if d.grid[0] == 1 else "r")
        and d.split[3] in ("c", "" if d.grid[1] == 1 else "c")
    )


# --------------------------------------------------------------------------- text form
# `64x48xf32 on 4x4 split [r, c]`: the parameters of mesh's `!mesh.tensor<...>` and pe's
# `#pe.layout<...>`, parsed and printed here once.


def origin_text(origin: tuple[int, int]) -> str:
    """` at (r, c)`, or nothing for the default origin (0, 0)."""
    return f" at ({origin[0]}, {origin[1]})" if origin != (0, 0) else ""


@functools.lru_cache(maxsize=8192)
def distributed_parameters(dist: Distribution, element_type: Attribute) -> tuple[Attribute, ...]:
    """The parameters (shape, element type, grid, split, origin) that `!mesh.tensor` and
    `#pe.layout` store for `dist`. Remembered: attributes are immutable values, and building
    and verifying the ~15 inner ones took most of a lowering's ~70,000 types' 140 us each."""
    return (
        ArrayAttr([IntAttr(n) for n in dist.shape]),
        element_type,
        ArrayAttr([IntAttr(n) for n in dist.grid]),
        ArrayAttr([StringAttr(s) for s in dist.split]),
        ArrayAttr([IntAttr(n) for n in dist.origin]),
    )


def distribution_of_parameters(
    shape: ArrayAttr[IntAttr],
    grid: ArrayAttr[IntAttr],
    split: ArrayAttr[StringAttr],
    origin: ArrayAttr[IntAttr],
) -> Distribution:
    """The `Distribution` those stored parameters describe."""
    return Distribution(
        tuple(n.data for n in shape),
        (grid.data[0].data, grid.data[1].data),
        tuple(s.data for s in split),
        (origin.data[0].data, origin.data[1].data),
    )


def parse_distributed(parser: AttrParser, what: str) -> tuple[Attribute, ...]:
    """The parameters (shape, element type, grid, split, origin) of
    `<64x48xf32 on 4x4 split [r, c]>` or `<64x48xf32 on 4x4 at (0, 8) split [r, c]>`; `what`
    names the type in errors ("mesh tensors")."""
    with parser.in_angle_brackets():
        start = parser.pos
        shape, elem = parser.parse_ranked_shape()
        if any(n < 0 for n in shape):
            parser.raise_error(f"{what} have static shapes (no '?')", start, parser.pos)
        parser.parse_keyword("on")
        grid = parser.parse_dimension_list()
        if len(grid) != 2:
            parser.raise_error("expected a grid ROWSxCOLS")
        origin = (0, 0)
        if parser.parse_optional_keyword("at") is not None:
            at = parser.pos
            parser.parse_punctuation("(")
            row = parser.parse_integer(allow_boolean=False, allow_negative=False)
            parser.parse_punctuation(",")
            col = parser.parse_integer(allow_boolean=False, allow_negative=False)
            parser.parse_punctuation(")")
            if (row, col) == (0, 0):
                parser.raise_error("the origin (0, 0) is the default: leave `at` out", at)
            origin = (row, col)
        parser.parse_keyword("split")
        split = parser.parse_comma_separated_list(
            parser.Delimiter.SQUARE, lambda: parser.parse_identifier("split axis")
        )
        split = ["" if s == "_" else s for s in split]
        dist = Distribution(tuple(shape), (grid[0], grid[1]), tuple(split), origin)
        try:
            dist.check()
        except VerifyException as err:
            parser.raise_error(str(err), start, parser.pos)
    return distributed_parameters(dist, elem)


def print_distributed(printer: Printer, dist: Distribution, element_type: Attribute) -> None:
    with printer.in_angle_brackets():
        printer.print_string("".join(f"{n}x" for n in dist.shape))
        printer.print_attribute(element_type)
        printer.print_string(f" on {dist.grid[0]}x{dist.grid[1]}{origin_text(dist.origin)} split [")
        printer.print_string(", ".join(s or "_" for s in dist.split))
        printer.print_string("]")


class DistributedAttr(ParametrizedAttribute):
    """The parameters, syntax and checks `!mesh.tensor` and `#pe.layout` share:
    `<64x48xf32 on 4x4 split [r, c]>` (shape, element type, grid, split, origin, printed only
    when not (0, 0)); `.dist` is its `Distribution`. A subclass names itself in messages by
    `WHAT` ("mesh tensors")."""

    WHAT: ClassVar[str] = "distributed tensors"

    shape: ArrayAttr[IntAttr] = param_def()
    element_type: Attribute = param_def()
    grid: ArrayAttr[IntAttr] = param_def()
    split: ArrayAttr[StringAttr] = param_def()
    #: the fabric PE (row, col) of the grid's north-west corner; printed only when not (0, 0)
    origin: ArrayAttr[IntAttr] = param_def()

    def __init__(self, dist: Distribution, element_type: Attribute):
        super().__init__(*distributed_parameters(dist, element_type))

    @property
    def dist(self) -> Distribution:
        """The block arithmetic of this tiling (block shape, padding, which PE holds what)."""
        # (made once per attribute: lowering and planning ask ~30,000 times in a program; the
        # attribute is immutable, and its equality and hash read only its parameters)
        memo = self.__dict__.get("_dist")
        if memo is None:
            memo = distribution_of_parameters(self.shape, self.grid, self.split, self.origin)
            self.__dict__["_dist"] = memo
        return memo

    @classmethod
    def parse_parameters(cls, parser: AttrParser) -> Sequence[Attribute]:
        return parse_distributed(parser, cls.WHAT)

    def print_parameters(self, printer: Printer) -> None:
        print_distributed(printer, self.dist, self.element_type)

    def verify(self) -> None:
        self.dist.check()
        elem = type_name(self.element_type)
        if elem not in ELEMENT_TYPES:
            raise VerifyException(f"{self.WHAT} hold {', '.join(ELEMENT_TYPES)}, not {elem}")


if not TYPE_CHECKING:
    # A dataclass, like the attributes irdl_attr_definition makes: without it the subclasses'
    # dataclasses would have no fields and any two of them would compare equal. At run time
    # only: type checkers would give the subclasses a field-wise __init__ instead of this one.
    dataclass(frozen=True, init=False)(DistributedAttr)


def is_channel_split(d: Distribution) -> bool:
    """4-D with the channels over the grid's columns and H over its rows, N and W unsplit
    (conv2d's channel-split form; along a grid axis of one PE the dim may also be unsplit)."""
    return (
        len(d.shape) == 4
        and d.split[0] == ""
        and d.split[3] == ""
        and d.split[1] in ("c", "" if d.grid[1] == 1 else "c")
        and d.split[2] in ("r", "" if d.grid[0] == 1 else "r")
    )
