"""A program's output as the PEs held it: read back only when the host asks for its values.

A training step returns the updated parameters, and the next step sends them straight back to
the wafer, often in the very layout they came out of (W1 of the MLP: out of [r, c] after the
SGD update, into [r, c] for the update and into [c, r], the grid transposed, for the forward).
Gathering a 256x784 tile layout into a host array is a transpose of every element (~170 us);
scattering it back, another. So `pe.host_out` of a large tensor keeps a copy of the tiles
(`DeviceArray`, a memcpy in the tiles' own order), and:

- the runtime (`pf.eval`) gives it to the tensor as its data; the host array is made the
  first time anything reads the values (`Tensor.numpy()`, printing, saving, ...);
- a `pe.host_in` of it writes the tiles back as they are when its layout is the same, or
  with the grid's rows and columns swapped when its layout is the transposed one (`tiles_in`);
  any other layout reads the host array. A host_in whose one reader reads views (an elided
  one, pyflame/sim/step_access.py) writes nothing: the reader computes from the tiles.

When nothing runs after the program's last host outputs (a training step's updates are its
last steps), the tiles need no copy at all: the run's SRAM is *lent* to the device arrays
(`SramLease`: `host_out` makes them views of its tiles, and zeroes their padding there, as a
copy's is) and the executable's next run takes another SRAM; the lent one goes back to its idle
SRAMs when the last device array viewing it is gone or gathered (the next step's updates
replace this step's: two SRAMs take turns). At most
`pyflame.sim.executable.MAX_LENT_SRAMS` SRAMs of an executable are lent at once (a user keeping
old parameters keeps their SRAM; past that, the tiles are copied as before).

Values are the same bits either way: the tiles are the data, the host array is their gather.
Once gathered, the host array is the data (the user may change it in place): a host_in then
reads it, never the tiles again. `Executable.run` hands back host arrays, device arrays only
for the results its caller names (`keep_tiles`: the runtime names the parameter updates; an
output the user asked for is read at once, a copy of its tiles would cost a pass for nothing).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

from pyflame.core.distribution import Distribution

#: outputs smaller than this are gathered at once (a device array saves nothing on them)
DEVICE_ARRAY_BYTES = 64 * 1024

#: what `Executable._run` puts in a result's output slot before the run when the caller wants
#: it as a device array (the host_out step replaces it); an `SramLease` there instead: the
#: device array may view the run's SRAM
KEEP_TILES = object()


class SramLease:
    """A finished run's SRAM, lent to the device arrays viewing its tiles: once none of them
    holds the lease, its finalizer queues the SRAM for the executable's next run to take back
    (`Executable._take_back_lent`)."""

    __slots__ = ("__weakref__",)


class DeviceArray:
    """The tiles of a `pe.host_out` (kept rows, kept cols, local elements), copied in the order
    SRAM held them, with the layout that says where each element is; `numpy()` gathers them
    into the host array (once)."""

    __slots__ = ("_array", "_gather", "dist", "lease", "tiles")

    def __init__(
        self,
        tiles: np.ndarray,
        dist: Distribution,
        gather: Callable[[np.ndarray], np.ndarray],
        lease: SramLease | None = None,
    ):
        self.tiles = tiles
        self.dist = dist
        self._gather = gather
        self._array: np.ndarray | None = None
        #: the SRAM `tiles` is a view of, or None: a copy of their own (padding zeroed either
        #: way)
        self.lease = lease

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.dist.shape)

    @property
    def dtype(self) -> np.dtype:
        return self.tiles.dtype

    @property
    def ndim(self) -> int:
        return len(self.dist.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.dist.shape, dtype=np.int64))

    def numpy(self) -> np.ndarray:
        """The host array (gathered the first time)."""
        if self._array is None:
            self._array = self._gather(self.tiles)
            self.lease = None  # (the tiles are never read again: the SRAM may go back)
        return self._array

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        array = self.numpy()
        if dtype is not None and np.dtype(dtype) != array.dtype:
            return array.astype(dtype)
        return array.copy() if copy else array

    def tiles_in(self, dist: Distribution) -> np.ndarray | None:
        """The (kept rows, kept cols, local elements) tiles of layout `dist` holding these
        values, as a view of this array's tiles: the same layout (wherever on the fabric), or
        the one with every split over rows made over cols and back on the transposed grid (PE
        (i, j) of one holds PE (j, i)'s block of the other). None for any other layout, and once the host array
        was made."""
        mine = self.dist
        if self._array is not None or dist.shape != mine.shape:
            return None  # (gathered: the host array is the data now, maybe changed in place)
        if dist.grid == mine.grid and dist.split == mine.split:
            return self.tiles
        swapped = tuple({"r": "c", "c": "r"}.get(s, s) for s in mine.split)
        if "rc" in mine.split or dist.grid != mine.grid[::-1] or dist.split != swapped:
            return None
        return self.tiles.transpose(1, 0, 2)

    def __repr__(self) -> str:
        return f"DeviceArray({list(self.shape)} {self.dtype} as {self.dist})"


def host_array(value: Any) -> Any:
    """`value`'s host array when it is a device array, else `value` itself."""
    return value.numpy() if type(value) is DeviceArray else value


StepT = TypeVar("StepT", bound=Callable[..., None])


def set_host_out(step: StepT, slot: int) -> StepT:
    """Record that `step` is a `pe.host_out`'s, writing output slot `slot` (`host_out_slot`)."""
    setattr(step, "host_out_slot", slot)  # noqa: B010  (a plain function has no slot)
    return step


def host_out_slot(step: Callable[..., None]) -> int | None:
    """The output slot `step` writes when it is a `pe.host_out`'s, else None."""
    return getattr(step, "host_out_slot", None)


__all__ = [
    "DEVICE_ARRAY_BYTES",
    "KEEP_TILES",
    "DeviceArray",
    "SramLease",
    "host_array",
    "host_out_slot",
    "set_host_out",
]
