"""`Report`: what a simulated run cost, per PE and per link.

Timing is data-independent, so an `Executable` computes its Report once, when it is planned, and
every run returns the same object.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from pyflame.core.flat_index import unravel_index
from pyflame.sim.timeline import PHASES, Timeline

#: a timeline of more intervals than this is drawn as a sampled image (`Timeline.raster`),
#: not bar by bar
PLOT_BARS = 20_000

#: the samples per PE of a timeline drawn as an image
RASTER_WIDTH = 2_000

DIRECTIONS = ("north", "south", "east", "west")


@dataclass(eq=False)
class Report:
    """Simulated cost of one run of a program.

    Per-PE arrays cover the program's bounding box (rows x cols, anchored at the fabric's
    north-west corner): `busy_cycles[r, c]`, `sram_peak_bytes[r, c]`, and `wavelets[r, c, d]`,
    the wavelets that left router (r, c) in direction d (0 north, 1 south, 2 east, 3 west)."""

    #: the target preset's name
    target: str
    #: kernel cycles: the latest PE clock (host I/O excluded)
    cycles: int
    #: cycles / target clock
    seconds: float
    #: host <-> fabric transfer cycles (host_in / host_out), reported apart from `cycles`
    io_cycles: int
    #: floating-point operations of the whole program (all PEs)
    flops: int
    busy_cycles: np.ndarray
    sram_peak_bytes: np.ndarray
    wavelets: np.ndarray
    #: PEs that execute at least one op
    pes_used: int = 0
    clock_hz: float = 850e6
    flops_per_cycle: int = 2
    #: total PEs of the fabric
    fabric_pes: int = 0
    #: what the middle row of PEs did over time (phases per PE; pyflame/sim/timeline.py)
    timeline: Timeline | None = None

    # ----------------------------------------------------------------- derived figures

    @property
    def io_seconds(self) -> float:
        return self.io_cycles / self.clock_hz

    @property
    def utilisation(self) -> float:
        """flops / (cycles * PEs used * flops per cycle): the fraction of peak reached."""
        denom = self.cycles * max(self.pes_used, 1) * self.flops_per_cycle
        return float(self.flops / denom) if denom else 0.0

    utilization = utilisation

    @property
    def flops_per_second(self) -> float:
        return self.flops / self.seconds if self.seconds else 0.0

    @property
    def sram_peak_max(self) -> int:
        return int(self.sram_peak_bytes.max()) if self.sram_peak_bytes.size else 0

    @property
    def total_wavelets(self) -> int:
        return int(self.wavelets.sum())

    def busiest_link(self) -> tuple[tuple[int, int], str, int] | None:
        """((row, col), direction, wavelets) of the link that carried the most, or None."""
        if not self.wavelets.size or self.wavelets.max() == 0:
            return None
        r, c, d = (int(i) for i in unravel_index(np.argmax(self.wavelets), self.wavelets.shape))
        return (int(r), int(c)), DIRECTIONS[d], int(self.wavelets[r, c, d])

    # ----------------------------------------------------------------- output

    def summary(self) -> str:
        rows, cols = self.busy_cycles.shape if self.busy_cycles.ndim == 2 else (0, 0)
        link = self.busiest_link()
        link_txt = f"PE {link[0]} {link[1]}: {link[2]:,} wavelets" if link else "none (no messages)"
        lines = [
            ("target", self.target),
            ("cycles", f"{self.cycles:,}"),
            ("seconds", f"{self.seconds:.6g}"),
            ("io cycles", f"{self.io_cycles:,} ({self.io_seconds:.3g} s, not in cycles)"),
            ("flops", f"{self.flops:,}"),
            ("PEs used", f"{self.pes_used:,} (bounding box {rows} x {cols})"),
            ("utilisation", f"{100 * self.utilisation:.1f}% of peak on the PEs used"),
            ("SRAM peak", f"{self.sram_peak_max:,} bytes per PE (max)"),
            ("busiest link", link_txt),
            ("wavelets", f"{self.total_wavelets:,} link crossings"),
        ]
        width = max(len(k) for k, _ in lines)
        return "\n".join(f"{k:<{width}}  {v}" for k, v in lines)

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        return (
            f"Report(target={self.target!r}, cycles={self.cycles}, io_cycles={self.io_cycles}, "
            f"flops={self.flops}, pes_used={self.pes_used})"
        )

    def to_dict(self) -> dict:
        link = self.busiest_link()
        return {
            "target": self.target,
            "cycles": int(self.cycles),
            "seconds": float(self.seconds),
            "io_cycles": int(self.io_cycles),
            "io_seconds": float(self.io_seconds),
            "flops": int(self.flops),
            "pes_used": int(self.pes_used),
            "utilisation": self.utilisation,
            "clock_hz": float(self.clock_hz),
            "sram_peak_max": self.sram_peak_max,
            "busiest_link": (
                {"pe": list(link[0]), "direction": link[1], "wavelets": link[2]} if link else None
            ),
            "busy_cycles": self.busy_cycles.tolist(),
            "sram_peak_bytes": self.sram_peak_bytes.tolist(),
            "wavelets": self.wavelets.tolist(),
            "wavelet_directions": list(DIRECTIONS),
            "timeline": self.timeline.to_dict() if self.timeline is not None else None,
        }

    def to_json(self, **kwargs) -> str:
        return json.dumps(self.to_dict(), **kwargs)

    def plot(self, path) -> str:
        """Write a PNG to `path`: heatmaps (busy cycles, SRAM peak, wavelets per link direction)
        and the timeline of one PE row (compute, send, receive, exchange, route, stall)."""
        fig = self.figure()
        fig.savefig(path, dpi=90)
        return str(path)

    def _plot_timeline(self, ax) -> None:
        """One bar per PE of the recorded row: its phases over the cycles."""
        ax.set_xlabel("cycle")
        ax.set_ylabel("col")
        if self.timeline is None:
            ax.set_title("timeline (not recorded)")
            return
        events = self.timeline.events()
        colors = dict(
            zip(
                PHASES,
                ("tab:blue", "tab:orange", "tab:green", "tab:purple", "tab:gray", "tab:red"),
                strict=True,
            )
        )
        if len(events) > PLOT_BARS:  # too many bars to draw one by one: a sampled image
            self._plot_raster(ax, colors)
            return
        for index, phase in enumerate(PHASES):
            mine = events[events[:, 3] == index]
            for col in np.unique(mine[:, 0]):
                spans = mine[mine[:, 0] == col]
                ax.broken_barh(
                    list(zip(spans[:, 1], spans[:, 2] - spans[:, 1], strict=True)),
                    (col - 0.4, 0.8),
                    facecolors=colors[phase],
                    label=phase if col == mine[0, 0] else None,
                )
        from matplotlib.ticker import MaxNLocator

        ax.set_title(f"timeline of PE row {self.timeline.row}")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
        ax.invert_yaxis()
        if len(events):
            ax.legend(loc="upper right", ncols=len(PHASES), fontsize="small")

    def _plot_raster(self, ax, colors: dict[str, str]) -> None:
        """The timeline as an image: each PE's phase at RASTER_WIDTH cycles spread evenly."""
        from matplotlib.colors import ListedColormap
        from matplotlib.patches import Patch
        from matplotlib.ticker import MaxNLocator

        assert self.timeline is not None
        first, image, last = self.timeline.raster(RASTER_WIDTH)
        ax.imshow(
            np.ma.masked_less(image, 0),
            cmap=ListedColormap([colors[p] for p in PHASES]),
            vmin=-0.5,
            vmax=len(PHASES) - 0.5,
            aspect="auto",
            interpolation="nearest",
            extent=(0, last, first + len(image) - 0.5, first - 0.5),
        )
        ax.yaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
        ax.set_title(
            f"timeline of PE row {self.timeline.row} "
            f"({len(self.timeline.events()):,} intervals, sampled at {RASTER_WIDTH:,} cycles)"
        )
        handles = [Patch(color=colors[p], label=p) for p in PHASES]
        ax.legend(handles=handles, loc="upper right", ncols=len(PHASES), fontsize="small")

    def figure(self):
        """The heatmaps of `plot` as a matplotlib `Figure` (ticks at whole PE rows and columns)."""
        # a bare Figure renders with Agg without touching pyplot or the user's backend
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator

        fig = Figure(figsize=(13, 10.5), constrained_layout=True)
        grid = fig.add_gridspec(3, 3, height_ratios=(1, 1, 0.8))
        axes = np.array([[fig.add_subplot(grid[r, c]) for c in range(3)] for r in range(2)])
        panels = [
            (self.busy_cycles, "busy cycles", "viridis"),
            (self.sram_peak_bytes, "SRAM peak (bytes)", "magma"),
        ] + [
            (
                self.wavelets[..., d] if self.wavelets.ndim == 3 else np.zeros((1, 1)),
                f"wavelets out {DIRECTIONS[d]}",
                "cividis",
            )
            for d in range(4)
        ]
        for ax, (data, title, cmap) in zip(axes.flat, panels, strict=True):
            data = np.asarray(data)
            if data.size == 0:
                data = np.zeros((1, 1))
            im = ax.imshow(data, cmap=cmap, interpolation="nearest", aspect="auto")
            ax.set_title(title)
            ax.set_xlabel("col")
            ax.set_ylabel("row")
            # imshow's cells span [i - 0.5, i + 0.5]: only whole numbers are PE indices
            ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
            ax.yaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
            fig.colorbar(im, ax=ax, shrink=0.8)
        self._plot_timeline(fig.add_subplot(grid[2, :]))
        fig.suptitle(
            f"{self.target}: {self.cycles:,} cycles ({self.seconds:.3g} s), "
            f"utilisation {100 * self.utilisation:.1f}%"
        )
        return fig
