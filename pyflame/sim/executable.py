"""A planned pe program and its run loop: `Executable.run(args)` -> (outputs, report).

The planner (pyflame/sim/planner.py, `compile_plan`) does all the static work once; running only
moves data: one numpy operation (a step) per op over the op's whole rectangle of PEs.

Machine state at run time: the SRAM as one uint8 block per group of buffers that share bytes
(pyflame/sim/sram.py: only the bytes buffers use exist on the host; aliasing buffers view the
same block). The machine's SRAM is the (R, C, B) array `run_with_sram` assembles, R x C the
bounding box of every `pes` rectangle, B the highest byte any buffer uses (rounded up to 16); a
buffer is its part `[r0:r0+nr, c0:c0+nc, off:off+nbytes]` (as its element type) of shape
(nr, nc, size).
A step reads and writes `V` (the buffer views, by buffer index), `F` (the messages in flight,
by send; and the received views that stand in for elided receives, pyflame/sim/step_access.py),
`A` (@main's arguments) and `O` (the host outputs).
"""

from __future__ import annotations

import collections
import threading
import weakref
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from xdsl.ir import Operation

from pyflame.core.errors import PyFlameError, SimulationError
from pyflame.core.target import Target
from pyflame.sim.chains import vectorise_chains
from pyflame.sim.dead_transfers import dead_transfers
from pyflame.sim.deferred_replicas import defer_replica_copies
from pyflame.sim.device_array import KEEP_TILES, DeviceArray, SramLease, host_out_slot
from pyflame.sim.fused_products import fused_products
from pyflame.sim.private_acc import private_accumulators
from pyflame.sim.report import Report
from pyflame.sim.sourced_panels import sourced_panels
from pyflame.sim.sram import POOL, Sram, group_buffers
from pyflame.sim.step_access import elide_receives, is_noop, merge_gathers
from pyflame.sim.written_first import bytes_to_zero

#: an argument of @main: a host array, an int (a seed), or a program's output kept as tiles
Arg = np.ndarray | int | DeviceArray

#: a rectangle of PEs: (first row, first col, rows, cols)
Rect = tuple[int, int, int, int]
#: the buffer views, by buffer index
Views = list[np.ndarray]
#: the messages in flight, by the index of the send that made them (and received views that
#: stand in for elided receives, by `step_access.view_key(buffer)`, negative)
InFlight = dict[int, np.ndarray]
#: a run-time step: (buffer views, in-flight messages, arguments, outputs) -> None
Step = Callable[[Views, InFlight, list[Any], list[Any]], None]


@dataclass
class Buffer:
    """A pe.alloc: `size` elements of `dtype` at SRAM byte `offset` on every PE of `rect`."""

    index: int
    name: str
    rect: Rect
    offset: int
    size: int
    nbytes: int
    dtype: np.dtype = np.dtype(np.float32)
    #: the first element of the view this Buffer is (non-zero for a message's window)
    first: int = 0
    #: the index of the buffer this one is a window of (`pe.alloc ... in %whole at N`), or None
    whole: int | None = None

    @property
    def half(self) -> bool:
        """Half-precision floats run at the fp16 flop rate."""
        return self.dtype.itemsize == 2

    @property
    def wavelets(self) -> int:
        """32-bit wavelets to send the whole buffer (two f16 per wavelet, ...)."""
        return -(-self.nbytes // 4)

    def sub(self, rect: Rect, elems: int | None = None) -> tuple[slice, slice, slice]:
        """Index of `rect` (inside the buffer's rectangle) in the buffer's view."""
        r0, c0, nr, nc = rect
        br, bc = self.rect[0], self.rect[1]
        n = self.size if elems is None else elems
        rows, cols = slice(r0 - br, r0 - br + nr), slice(c0 - bc, c0 - bc + nc)
        return (rows, cols, slice(self.first, self.first + n))

    def window(self, span: tuple[int, int] | None) -> Buffer:
        """The part of the buffer a pe.send / pe.recv `window [first, count]` moves (itself
        when None): `count` elements from element `first`, at their SRAM bytes."""
        if span is None:
            return self
        first, count = span
        size = self.dtype.itemsize
        return replace(
            self,
            offset=self.offset + first * size,
            size=count,
            nbytes=count * size,
            first=self.first + first,
        )


class Executable:
    """A planned pe program: `run(args)` -> (outputs, report)."""

    def __init__(
        self,
        *,
        target: Target,
        shape: tuple[int, int, int],
        buffers: list[Buffer],
        steps: list[Step],
        arg_names: list[str],
        arg_kinds: list[tuple],
        returns: list[tuple[str, int]],
        num_outputs: int,
        report: Report,
        order: list[str],
        step_ops: Sequence[tuple[str, Operation | None]] = (),
    ):
        self.target = target
        self.sram_shape = shape
        self.buffers = buffers
        #: the SRAM blocks of each run: one per group of buffers sharing bytes
        self.sram_blocks = group_buffers(buffers)
        #: the planned steps, until the first run prepares them (`_prepare`): a program only
        #: planned (its report read, as benchmarks/variants.py and pf.explain do) never builds
        #: the run's merged gathers and index maps (~50 bytes per element moved: GBs at
        #: 720x720 PEs with 32x32 tiles)
        self._planned: list[Step] | None = steps
        self._planned_count = len(steps)
        self._prepare_lock = threading.Lock()
        self.arg_names = arg_names
        self._arg_kinds = arg_kinds
        self._returns = returns
        self._num_outputs = num_outputs
        self.report = report
        #: the ops in the order the plan executes them (for debugging)
        self.order = order
        #: (description, op) of the op each step runs, to name it when a step fails
        self.step_ops = list(step_ops)
        #: SRAMs of finished runs, kept zeroed for the next (pyflame/sim/sram.py, `POOL`)
        self._idle_srams: list[Sram] = []
        weakref.finalize(self, POOL.drop, self._idle_srams)
        #: SRAMs lent to device arrays now (`SramLease`), counted under the lock; the lent
        #: ones nothing views any more, queued by the lease's finalizer (which may run inside
        #: any code, a garbage collection's: it takes no lock) for the next run to take back
        self._lent_srams = 0
        self._lend_lock = threading.Lock()
        self._returned_srams: collections.deque[Sram] = collections.deque()
        #: the returns whose device arrays may view the SRAM (`lendable_outputs`, prepared)
        self._lendable: frozenset[tuple[str, int]] = frozenset()

    def _prepare(self) -> None:
        """Build both step lists from the planned steps (once; the first run, or the first
        look at `steps`, `lean_steps`, `run_steps` or `bytes_to_zero`)."""
        if self._planned is None:
            return  # prepared: every later run reads it without the lock
        with self._prepare_lock:
            steps, buffers = self._planned, self.buffers
            if steps is None:
                return  # prepared by another thread meanwhile
            # receives whose data only feeds views are not written (step_access.py)
            merged: dict = {}  # one merged gather (and its offsets) for both step lists
            self._steps = private_accumulators(
                merge_gathers(elide_receives(steps, buffers), buffers, merged), steps, buffers
            )
            # `steps` also without the sends and receives no host output depends on
            # (pyflame/sim/dead_transfers.py), and without writing the last receives into
            # buffers only views of them are read from; `run_on_sram` runs `steps`, so its
            # SRAM is exact
            lean = elide_receives(dead_transfers(steps, buffers), buffers, until_end=True)
            # a SUMMA loop's products are one product (pyflame/sim/fused_products.py: only
            # the order of the additions differs), other runs accumulate in private arrays
            # (pyflame/sim/private_acc.py)
            fused = fused_products(merge_gathers(lean, buffers, merged), steps, buffers)
            self._lean_steps = private_accumulators(fused, steps, buffers)
            # what `run` runs: (index, step) of the lean steps that do something
            run_steps = [(k, s) for k, s in enumerate(self._lean_steps) if not is_noop(s)]
            # the bytes `run` may read before writing them whole: all a kept SRAM zeroes again
            self._bytes_to_zero = bytes_to_zero(self.sram_blocks, buffers, run_steps, steps)
            # a fused run's operands read from their senders' tiles at its end
            # (pyflame/sim/sourced_panels.py), a forwarding chain's stages as one step
            # (pyflame/sim/chains.py)
            self._run_steps = vectorise_chains(sourced_panels(run_steps, steps, buffers))
            # the copies of tiles computed once, made where read (pyflame/sim/deferred_replicas.py)
            self._run_steps = defer_replica_copies(self._run_steps, buffers, exact=False)
            self._lendable = lendable_outputs(self._run_steps)
            self._planned = None

    @property
    def steps(self) -> list[Step]:
        """Every step, as `run_on_sram` runs them (its SRAM is exact)."""
        self._prepare()
        return self._steps

    @property
    def lean_steps(self) -> list[Step]:
        """The steps `run` keeps (transfers no output depends on dropped, products fused)."""
        self._prepare()
        return self._lean_steps

    @property
    def run_steps(self) -> list[tuple[int, Step]]:
        """(index, step) of what `run` runs."""
        self._prepare()
        return self._run_steps

    @property
    def bytes_to_zero(self) -> dict:
        """The bytes `run` may read before writing them whole: all a kept SRAM zeroes again."""
        self._prepare()
        return self._bytes_to_zero

    @property
    def written_first(self) -> set[int]:
        """Blocks `run` writes whole before reading them: a kept SRAM needs no zeroing."""
        return {n for n in range(len(self.sram_blocks)) if n not in self.bytes_to_zero}

    def __repr__(self) -> str:
        return (
            f"Executable({self._planned_count} steps, args {self.arg_names}, "
            f"sram {self.sram_shape}, {self.report.cycles} cycles)"
        )

    def _check_args(self, args: Sequence) -> list:
        if len(args) != len(self._arg_kinds):
            raise TypeError(
                f"@main takes {len(self._arg_kinds)} arguments ({', '.join(self.arg_names)}), "
                f"got {len(args)}"
            )
        out: list[Any] = []
        for name, kind, a in zip(self.arg_names, self._arg_kinds, args, strict=True):
            if kind[0] == "tensor":
                dtype = kind[2] if len(kind) > 2 else np.float32
                if type(a) is DeviceArray and a.dtype == dtype and a.shape == kind[1]:
                    out.append(a)  # (a program's output: its tiles go back as they are)
                    continue
                arr = np.asarray(a, dtype=dtype)
                if arr.shape != kind[1]:
                    raise ValueError(
                        f"argument '{name}' must have shape {kind[1]}, got {arr.shape}"
                    )
                out.append(arr)
            elif kind[0] == "int":
                if isinstance(a, np.ndarray) and a.size == 1:
                    a = a.item()
                if isinstance(a, bool) or not isinstance(a, int | np.integer):
                    raise TypeError(f"argument '{name}' must be an int, got {type(a).__name__}")
                out.append(int(a))
            else:
                out.append(a)
        return out

    def run(
        self, args: Sequence[Arg] = (), keep_tiles: Collection[int] = ()
    ) -> tuple[list[Any], Report]:
        """Run the program on `args` (in @main's argument order): the outputs of running every
        step, without the transfers they do not depend on. The large ones among the results
        numbered in `keep_tiles` are device arrays (pyflame/sim/device_array.py: the tiles,
        gathered when read; the runtime's parameter updates), the others host arrays;
        arguments may be device arrays."""
        self._take_back_lent()
        sram = POOL.take(self._idle_srams, self.bytes_to_zero) or self.new_sram()
        lease = self._lease(sram, keep_tiles)
        outs, report, _ = self._run(args, self.run_steps, sram, keep_tiles, lease)
        # not after a failure (it may be mid-step); not while device arrays view it
        if lease is not None and any(type(o) is DeviceArray and o.lease is lease for o in outs):
            with self._lend_lock:
                self._lent_srams += 1
            weakref.finalize(lease, self._returned_srams.append, sram)
        else:
            POOL.give(self._idle_srams, sram)
        return outs, report

    def _take_back_lent(self) -> None:
        """The lent SRAMs no device array views any more back among the idle ones."""
        while self._returned_srams:
            try:
                sram = self._returned_srams.popleft()
            except IndexError:  # (another thread took it meanwhile)
                return
            with self._lend_lock:
                self._lent_srams -= 1
            POOL.give(self._idle_srams, sram)

    def _lease(self, sram: Sram, keep_tiles: Collection[int]) -> SramLease | None:
        """A lease of `sram` for the device arrays of `keep_tiles` results whose host outputs
        run last (`lendable_outputs`), or None: none of them, an SRAM past `LEND_BYTES`, or
        `MAX_LENT_SRAMS` lent already."""
        if not keep_tiles or sram.held_bytes > LEND_BYTES or self._lent_srams >= MAX_LENT_SRAMS:
            return None
        lendable = self._lendable
        if not any(self._returns[n] in lendable for n in keep_tiles):
            return None
        return SramLease()

    def run_with_sram(
        self, args: Sequence[Arg] = ()
    ) -> tuple[list[np.ndarray], Report, np.ndarray]:
        """`run`, also returning the machine's SRAM after the run (rows, cols, bytes; assembled
        from the blocks for the caller: the whole bounding box times the highest byte)."""
        outs, report, sram = self.run_on_sram(args)
        return outs, report, sram.image()

    def new_sram(self) -> Sram:
        """A zeroed SRAM for one run (the blocks of the buffers in use)."""
        return Sram(self.sram_shape, self.buffers, self.sram_blocks)

    def run_on_sram(self, args: Sequence[Arg] = ()) -> tuple[list[np.ndarray], Report, Sram]:
        """`run`, also returning the run's SRAM blocks (`Sram.image()` is the whole array):
        every step runs, so the SRAM is exact."""
        return self._run(args, list(enumerate(self.steps)), self.new_sram())

    def _run(
        self,
        args: Sequence[Arg],
        steps: list[tuple[int, Step]],
        sram: Sram,
        keep_tiles: Collection[int] = (),
        lease: SramLease | None = None,
    ) -> tuple[list[Any], Report, Sram]:
        A = self._check_args(args)
        V = sram.views
        F: InFlight = {}
        O: list[Any] = [None] * self._num_outputs
        for n in keep_tiles:  # (the host_out steps of these results keep their tiles)
            kind, i = self._returns[n]
            if kind == "out":
                O[i] = lease if lease is not None and (kind, i) in self._lendable else KEEP_TILES
        k = 0
        try:
            with np.errstate(all="ignore"):
                for k, step in steps:  # noqa: B007  (k names a failing step)
                    step(V, F, A, O)
        except PyFlameError as err:
            if k < len(self.step_ops) and getattr(err, "op", None) is None:
                err.op = self.step_ops[k][1]
            raise
        except MemoryError:
            raise
        except Exception as err:  # a step's own failure: name the op (and the user's line)
            what, op = self.step_ops[k] if k < len(self.step_ops) else ("a pe op", None)
            located = SimulationError(
                f"{what}: the simulator failed on this op: {type(err).__name__}: {err}"
            )
            located.op = op
            raise located from err
        outs = []
        for kind, i in self._returns:
            outs.append(O[i] if kind == "out" else np.array(A[i], copy=True))
        return outs, self.report, sram

    __call__ = run


#: a run lends its SRAM to its device arrays (pyflame/sim/device_array.py) only when the SRAM
#: holds at most this many bytes, and while fewer than `MAX_LENT_SRAMS` of the executable's are
#: lent (a training loop needs two: the last step's updates, viewed until this step's replace
#: them, and this step's)
LEND_BYTES = 64 << 20
MAX_LENT_SRAMS = 2


def lendable_outputs(run_steps: Sequence[tuple[int, Step]]) -> frozenset[tuple[str, int]]:
    """The ("out", slot) returns whose host outputs are among the run's last steps, all host
    outputs (they only read): nothing changes their tiles after them, so a device array may
    view the SRAM instead of copying it."""
    lendable = set()
    for _, step in reversed(run_steps):
        slot = host_out_slot(step)
        if slot is None:
            break
        lendable.add(("out", slot))
    return frozenset(lendable)


__all__ = [
    "LEND_BYTES",
    "MAX_LENT_SRAMS",
    "Arg",
    "Buffer",
    "Executable",
    "Rect",
    "Step",
    "lendable_outputs",
]
