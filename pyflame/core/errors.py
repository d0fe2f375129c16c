"""Every error PyFlame raises on purpose, in one place.

Each carries the user's source location when one is known, so that a failure at any level
(frontend, a verifier, the memory planner, the simulator) names the line that caused it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from xdsl.ir import Operation


class PyFlameError(Exception):
    """Base of all PyFlame errors."""

    #: the IR op the error is about, when a pass or the simulator knows it; set on some errors
    #: only (declared without a value: code reads it with getattr(err, "op", None)), and the
    #: tools print its source location. After `pf.eval` it is an op of the cached program, whose
    #: location is the line of the graph that compiled it; the message names the current lines
    #: (`pyflame.runtime.Compiled.run`)
    op: Operation | None


class ShapeError(PyFlameError, ValueError):
    """A shape or dtype mismatch, raised when the graph node is built."""


class IndexShapeError(ShapeError, IndexError):
    """An index out of range (`x[5]` on 5 rows): also an IndexError, as in PyTorch, so that
    `for row in x` stops at the end."""


class CheckpointError(PyFlameError, ValueError):
    """A file given to `pf.load` is not a readable PyFlame/safetensors file (truncated,
    corrupted, or not one at all); the message names the path."""


class IntegerOverflowError(PyFlameError, OverflowError):
    """An int32 value out of [-2**31, 2**31 - 1]: a constant or data (named where it is
    made), or a result on the device (named by the op's line, after the run). PyFlame stores
    PyTorch's int64 as int32, so it reports what int64 would hold instead of wrapping."""


class IntegerDivisionByZeroError(PyFlameError, RuntimeError, ZeroDivisionError):
    """An integer `//`, `%`, `fmod` or `div(rounding_mode=...)` by zero: PyTorch raises
    `RuntimeError("ZeroDivisionError")` for it, so this is a RuntimeError (and Python's
    ZeroDivisionError). A number divisor is refused when the op is built, a tensor one after
    the run, naming the op's line (a float division by zero gives inf or NaN, as PyTorch)."""


class CompileError(PyFlameError):
    """The program cannot be compiled; nothing has run."""


class UnsupportedOpsError(CompileError):
    """Ops PyFlame cannot lower; lists every such op of the program at once."""


class SRAMOverflowError(CompileError):
    """The program needs more SRAM per PE than the target has."""

    def __init__(
        self,
        message: str,
        *,
        tensor: str = "",
        location: str = "",
        bytes_per_pe: int = 0,
        sram_bytes: int = 0,
        suggestion: str = "",
    ):
        super().__init__(message)
        self.tensor = tensor
        self.location = location
        self.bytes_per_pe = bytes_per_pe
        self.sram_bytes = sram_bytes
        self.suggestion = suggestion


class HostMemoryError(CompileError, MemoryError):
    """Simulating the program would need more host memory than is available (see
    `pyflame.sim.host_memory`); raised before anything is allocated."""

    def __init__(
        self, message: str, *, location: str = "", needed_bytes: int = 0, available_bytes: int = 0
    ):
        super().__init__(message)
        self.location = location
        self.needed_bytes = needed_bytes
        self.available_bytes = available_bytes


class ColorAllocationError(CompileError):
    """More routing colors are live at once than the target has."""


class SimulationError(PyFlameError):
    """The simulated machine faulted while running a program."""


class SRAMFault(SimulationError):
    """A PE touched SRAM outside its memory or outside a buffer."""


class RoutingError(SimulationError):
    """A wavelet left the fabric, met a router with no route for its color, or looped."""


class DeadlockError(SimulationError):
    """The program can never finish: PEs wait on colors no one will send on."""

    def __init__(self, message: str, *, waiting: list[tuple[tuple[int, int], int]] | None = None):
        super().__init__(message)
        #: [((row, col), color), ...] for every PE stuck in a receive
        self.waiting = waiting or []
