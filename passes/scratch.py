"""Scratch memory: the buffers the pe lowering allocates for a mesh op beyond the op's operand and
result tiles, described once. lower-mesh-to-pe allocates exactly these; plan-memory counts them
when it checks a program's peak per PE before lowering.

- SUMMA (`mesh.matmul` on more than one PE): one receive buffer for an A block and one for a
  B block on every PE; a double-buffered SUMMA has two such pairs (plan_memory
  `summa_double_buffered` gives the second pair only where it fits without a peak check).
- Cannon and MeshGEMM (`mesh.matmul` with algorithm `cannon` / `meshgemm` on more than one PE):
  two buffers per operand that rotate (the block multiplied and sent, the block received). The
  first of each is the operand's own buffer when nothing reads the operand later; counted here
  as two new ones (an upper bound).
- The halo exchange of conv2d and pooling: per spatial axis not read in place (rows first, then
  columns), a window buffer and, per neighbour that contributes, a packed strip that is sent and
  one that is received.
- The channel-split conv2d (`mesh.conv2d` with its weight split [c, _, _, _]): per channel
  of the PE's block its window, made once (the channel's slab packed when the block holds more
  than one, then the halo exchange as above, the W axis on one part) and kept for the steps;
  two receive buffers of a window (double-buffered steps) and the step's filters.

    summa_receive_elems(a, b)          # (elements of the A buffer, of the B buffer) per PE
    halo_phases(x.block, op.axes())    # [HaloPhase(dim=2, ...), HaloPhase(dim=3, ...)]
    channel_steps(x)                   # [ChannelStep(column=0, index=0), ...]
    ChannelSplitConv.of(x.block, op.axes(), w.block)  # its windows, receive buffers, filters
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass

from pyflame.core.distribution import Distribution, HaloAxis

Ints = tuple[int, ...]


def summa_receive_elems(a: Distribution, b: Distribution) -> tuple[int, int] | None:
    """Elements per PE of SUMMA's receive buffers for an A block and a B block; None on a 1x1
    grid, where the PE multiplies its own tiles."""
    if a.grid == (1, 1):
        return None
    return (a.local_elems, b.local_elems)


def shift_matmul_elems(a: Distribution, b: Distribution) -> tuple[int, ...]:
    """Elements per PE of the rotating buffers of Cannon and MeshGEMM (two per operand); none
    on a 1x1 grid."""
    if a.grid == (1, 1):
        return ()
    return (a.local_elems, a.local_elems, b.local_elems, b.local_elems)


@dataclass(frozen=True)
class HaloPhase:
    """The halo exchange along one tile dim (`dim` 2: over the grid's rows, 3: its columns): the
    tile `shape` it reads (NCHW, the input block or the previous phase's window) and the
    `window` it fills."""

    dim: int
    axis: HaloAxis
    shape: Ints

    @property
    def window(self) -> Ints:
        return self.slab(self.axis.window)

    def slab(self, count: int) -> Ints:
        """`shape` with `count` elements along `dim` (a strip or the window)."""
        return tuple(count if d == self.dim else n for d, n in enumerate(self.shape))

    @property
    def from_prev(self) -> int:
        """Elements along `dim` each PE receives from the previous block (0: no strip)."""
        return self.axis.from_prev if self.axis.parts > 1 else 0

    @property
    def from_next(self) -> int:
        """Elements along `dim` each PE receives from the next block (0: no strip)."""
        return self.axis.from_next if self.axis.parts > 1 else 0

    @property
    def strips(self) -> tuple[int, ...]:
        """Elements along `dim` of each strip exchanged (from the previous block, then the next);
        each is packed and sent by one PE and received by its neighbour."""
        return tuple(m for m in (self.from_prev, self.from_next) if m)

    def strip_elems(self) -> list[int]:
        return [math.prod(self.slab(m)) for m in self.strips]


def halo_phases(block: Ints, axes: tuple[HaloAxis, HaloAxis]) -> list[HaloPhase]:
    """The phases of a windowed op's halo exchange, rows then columns; an axis read in place
    (no halo needed) has none."""
    phases: list[HaloPhase] = []
    shape = tuple(block)
    for dim, axis in ((2, axes[0]), (3, axes[1])):
        if axis.in_place:
            continue
        phase = HaloPhase(dim, axis, shape)
        phases.append(phase)
        shape = phase.window
    return phases


# --------------------------------------------------------------- channel-split conv2d


@dataclass(frozen=True)
class ChannelStep:
    """One step of a channel-split conv2d: input channel `index` of PE column `column`'s block."""

    column: int
    index: int


def channel_steps(x: Distribution) -> list[ChannelStep]:
    """The steps over the input's real channels (block padding past C is skipped)."""
    cb = x.block[1]
    return [ChannelStep(ch // cb, ch % cb) for ch in range(x.shape[1])]


@dataclass(frozen=True)
class ChannelSplitConv:
    """The buffers of a channel-split conv2d on a tile `block` (N, cb, bh, W): per channel of
    the block its window (the channel's `slab`, packed when cb > 1, through the halo `phases`),
    kept for the steps; two receive buffers of a window each (double-buffered steps); one
    buffer of the step's filters (ob x kh x kw)."""

    block: Ints
    phases: tuple[HaloPhase, ...]
    filter_elems: int

    @classmethod
    def of(cls, block: Ints, axes: tuple[HaloAxis, HaloAxis], w_block: Ints) -> ChannelSplitConv:
        slab = (block[0], 1, *block[2:])
        return cls(
            tuple(block), tuple(halo_phases(slab, axes)), w_block[0] * math.prod(w_block[2:])
        )

    @property
    def slab(self) -> Ints:
        return (self.block[0], 1, *self.block[2:])

    @property
    def window(self) -> Ints:
        return self.phases[-1].window if self.phases else self.slab

    @property
    def own_windows(self) -> bool:
        """Whether the windows are buffers of their own (else the tile is the one window)."""
        return self.block[1] > 1 or bool(self.phases)

    def halo_peaks(self) -> list[list[int]]:
        """Per point of one channel's window making, the elements of its buffers live then
        (the slab or the previous window, the new window, the strips packed and received)."""
        src = math.prod(self.slab) if self.block[1] > 1 else 0
        peaks = [[src]]
        for phase in self.phases:
            window = math.prod(phase.window)
            strips = [n for n in phase.strip_elems() for _ in range(2)]
            peaks.append([src, window, *strips])
            src = window
        return peaks

    def scratch_bytes(self, elem: int, align: Callable[[int], int]) -> int:
        """Bytes per PE beyond the tiles at the peak: making the last window (the others kept)
        or the steps."""
        win = align(math.prod(self.window) * elem) if self.own_windows else 0
        making = max(sum(align(n * elem) for n in p if n) for p in self.halo_peaks())
        steps = sum(align(n * elem) for n in self.step_elems())
        return max((self.block[1] - 1) * win + making, steps)

    def all_bytes(self, elem: int, align: Callable[[int], int]) -> int:
        """Bytes per PE of every buffer the lowering allocates, side by side."""
        each = [math.prod(self.slab)] if self.block[1] > 1 else []
        for phase in self.phases:
            each += [math.prod(phase.window), *(n for n in phase.strip_elems() for _ in range(2))]
        made = self.block[1] * sum(align(n * elem) for n in each)
        return made + sum(align(n * elem) for n in self.step_elems()[-3:])

    def step_elems(self) -> list[int]:
        """The buffers live during the steps (beyond the tiles): every window, the receive
        buffers, the filters."""
        windows = [math.prod(self.window)] * (self.block[1] if self.own_windows else 0)
        return [*windows, math.prod(self.window), math.prod(self.window), self.filter_elems]


# --------------------------------------------------------------------------- 2.5D SUMMA

#: layer counts the 2.5D SUMMA tries (each must divide the grid side)
LAYER_CHOICES = (2, 3, 4, 6, 8)
#: virtual channels of a 2.5D SUMMA beyond 2 per layer (B's column broadcasts, one per buffer
#: parity): A's row broadcasts (2), the gather's two ring shifts and the reduction's ring
LAYERED_FIXED_CHANNELS = 5


@dataclass(frozen=True)
class LayeredPlan:
    """A 2.5D SUMMA on a g x g grid with A blocks [m, k] and B blocks [k, n] per PE:
    `layers` interleaved layers of PE rows (c), each step multiplying a [c*m, w_h] piece of A
    by the matching [w_h, n] rows of B, `splits` steps per K block. The piece widths w_h differ
    by at most one where `splits` does not divide k (the wider ones first): a prime k (31 on
    a 750x750 grid for 23040^2) need not fall back to k one-column steps."""

    g: int
    m: int
    k: int
    n: int
    layers: int
    splits: int
    #: bytes of an element (a window of a buffer a send sends must start on a wavelet)
    elem_bytes: int = 4

    @property
    def b_windowed(self) -> bool:
        """Whether the steps send B's pieces as windows of its block (rows [o, o + w) of a
        [k, n] block: one run of elements, here starting on a wavelet boundary) instead of
        packed copies."""
        return self.splits > 1 and all(o * self.n * self.elem_bytes % 4 == 0 for o in self.offsets)

    @property
    def chunks_windowed(self) -> bool:
        """Whether the reduction sends and adds the accumulator's row blocks as windows of it
        (each [m, n] block one run of elements, on a wavelet boundary) instead of copying
        them into chunks first."""
        return self.m * self.n * self.elem_bytes % 4 == 0

    @property
    def widths(self) -> tuple[int, ...]:
        """Contraction width of each piece of a K block, in step order."""
        base, wider = divmod(self.k, self.splits)
        return tuple(base + (h < wider) for h in range(self.splits))

    @property
    def width(self) -> int:
        """Contraction width of the widest step."""
        return -(-self.k // self.splits)

    @property
    def offsets(self) -> tuple[int, ...]:
        """First contraction index of each piece."""
        return tuple(itertools.accumulate(self.widths[:-1], initial=0))

    @property
    def steps(self) -> int:
        return self.g // self.layers * self.splits

    def receive_buffers(self) -> dict[tuple[int, int], str]:
        """The receive buffers' names by (buffer parity, piece width): step s receives piece
        s % splits into parity s % 2, so with uneven pieces a parity may need two widths."""
        widths = self.widths
        pairs = sorted(
            {(s % 2, widths[s % self.splits]) for s in range(min(self.steps, 2 * self.splits))}
        )
        return {(p, w): str(p) if w == self.width else f"{p}w{w}" for p, w in pairs}

    def buffers(self) -> dict[str, int]:
        """Elements per PE of every buffer the lowering allocates (passes/pe_lowering/
        layered_matmul.py), by name."""
        c, m, k, n = self.layers, self.m, self.k, self.n
        out = {
            "panel": c * m * k,
            "gather_a": m * k,
            "gather_b": m * k,
            "shift": c * m * k,
        }
        for (_, w), name in self.receive_buffers().items():
            out[f"a{name}"] = c * m * w
            out[f"b{name}"] = w * n
        out["acc"] = c * m * n
        if self.splits > 1:
            out.update({f"panel{h}": c * m * w for h, w in enumerate(self.widths)})
            if not self.b_windowed:
                out.update({f"bpiece{h}": w * n for h, w in enumerate(self.widths)})
        if not self.chunks_windowed:
            out.update({f"chunk{d}": m * n for d in range(1, c)})
        return out

    def peak_elems(self) -> int:
        """Scratch elements live at once at the worst point (the steps: the panel pieces, the
        receive buffers, the tall accumulator, B's pieces): allocate-sram reuses the gather's
        and the reduction's buffers, which are dead by then or born after."""
        b = self.buffers()
        names = self.receive_buffers().values()
        steps = sum(b[f"a{name}"] + b[f"b{name}"] for name in names) + b["acc"]
        if self.splits > 1:
            steps += sum(b[f"panel{h}"] + b.get(f"bpiece{h}", 0) for h in range(self.splits))
        else:
            steps += b["panel"]
        gather = b["panel"] + b["gather_a"] + b["gather_b"] + b["shift"]
        if self.splits > 1:
            gather += b["panel"]  # the pieces are cut from the whole panel
        reduce = b["acc"] + sum(b.get(f"chunk{d}", 0) for d in range(1, self.layers))
        return max(steps, gather, reduce)


def layered_plan(
    a: Distribution,
    b: Distribution,
    elem_bytes: int,
    spare_bytes: int,
    colors: int,
    lanes: int = 1,
    issue: int = 5,
) -> LayeredPlan | None:
    """The 2.5D SUMMA for A @ B (both split [r, c] on one square grid, no batch dims): among
    the layer counts whose buffers fit in `spare_bytes` per PE (what the operands and the
    result leave) and whose channels fit in `colors`, each with the fewest steps per K block
    that fit, the one of least `estimate_cycles`; None where none fits (or a 1x1 grid, or
    batch dims)."""
    g = a.grid[0]
    if len(a.shape) != 2 or len(b.shape) != 2 or g < 2:
        return None
    (m, k), n = a.block, b.block[1]
    plans: list[LayeredPlan] = []
    for c in LAYER_CHOICES:
        if g % c or 2 * c + LAYERED_FIXED_CHANNELS > colors:
            continue
        # pieces of one column need the least SRAM of every split but one (no split: no
        # pieces cut from a second copy of the panel): neither fits, nothing does
        if min(
            LayeredPlan(g, m, k, n, c, h, elem_bytes).peak_elems() for h in {1, k}
        ) * elem_bytes > (spare_bytes):
            continue
        for h in range(1, k + 1):
            plan = LayeredPlan(g, m, k, n, c, h, elem_bytes)
            if plan.peak_elems() * elem_bytes <= spare_bytes:
                plans.append(plan)
                break
    if not plans:
        return None
    return min(plans, key=lambda p: estimate_cycles(p, lanes, issue))


def estimate_cycles(plan: LayeredPlan, lanes: int, issue: int) -> float:
    """First-order cycles of a plan, to choose the layer count (the cost model has the exact
    rule): the steps' FMACs (w * n of length c * m each), the gather (c - 1 ring shifts of a
    block up the columns, up to c - 1 of a panel along the rows) and the reduction (c - 1
    ring steps of a block)."""
    c, m, k, n, g = plan.layers, plan.m, plan.k, plan.n, plan.g
    compute = g // c * k * n * (-(-c * m // lanes) + issue)  # every piece's FMACs
    gather = (c - 1) * (m * k + g) + (c - 1) * 1.5 * c * m * k
    reduce = (c - 1) * (m * n + g) + (1 if plan.chunks_windowed else c) * m * n
    return compute + gather + reduce
