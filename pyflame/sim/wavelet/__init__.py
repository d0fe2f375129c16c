"""The wavelet-level reference simulator (`Target.fidelity == "wavelet"`).

The fast engine (pyflame/sim/planner.py) plans a program op by op over whole rectangles of PEs;
this one runs it PE by PE, cycle by cycle, and moves every wavelet of every message through
every router queue, link and CE queue (pyflame/sim/wavelet/network.py), so back-pressure,
multicast, link arbitration and route changes happen as they would on the machine. It is the
reference the fast engine is checked against (tests/unit/sim/test_fidelity.py), for meshes up
to 16x16 PEs.

    exe = compile_wavelet(module)   # reads and checks the program (no simulation yet)
    outs, report = exe.run(args)    # simulates it: values travel through the queues

Timing does not depend on data, so every run gives the same Report. `exe.report` before any
run simulates the program once on zero arguments; a deadlock or routing error of the program
comes from the first simulation (the run, or that report), not from `compile_wavelet`.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp

from pyflame.dialects import pe
from pyflame.sim.device_array import host_array
from pyflame.sim.executable import Arg, Executable
from pyflame.sim.report import Report
from pyflame.sim.wavelet.engine import WaveletRun
from pyflame.sim.wavelet.program import MAX_SIDE, WaveletProgram


class WaveletExecutable(Executable):
    """A program for the wavelet-level engine: `run(args)` simulates it, wavelet by wavelet."""

    #: the Report of the last simulation (None before the first)
    _report: Report | None = None

    def __init__(self, program: WaveletProgram):
        super().__init__(
            target=program.target,
            shape=(program.R, program.C, program.B),
            buffers=program.buffers,
            steps=[],
            arg_names=program.arg_names,
            arg_kinds=program.arg_kinds,
            returns=program.returns,
            num_outputs=program.num_outputs,
            report=None,  # type: ignore[arg-type]  # simulated on first use (the property)
            order=[it.what for it in program.items],
        )
        self.program = program

    @property
    def report(self) -> Report:
        if self._report is None:
            _, report = WaveletRun(self.program, self.program.zero_args()).run()
            self._report = report
            return report
        return self._report

    @report.setter
    def report(self, value: Report | None) -> None:
        self._report = value

    def __repr__(self) -> str:
        return (
            f"WaveletExecutable({len(self.program.items)} ops, args {self.arg_names}, "
            f"{self.report.cycles} cycles)"
        )

    def run(
        self, args: Sequence[Arg] = (), keep_tiles: Collection[int] = ()
    ) -> tuple[list[Any], Report]:
        """Run on `args` (device arrays among them are read as host arrays); `keep_tiles` is
        `Executable.run`'s (this engine's outputs are host arrays always)."""
        del keep_tiles
        host = [host_array(a) for a in self._check_args(args)]
        outputs, report = WaveletRun(self.program, host).run()
        self._report = report
        return outputs, report

    __call__ = run


def compile_wavelet(module: ModuleOp) -> WaveletExecutable:
    """Read and check a verified pe-level module for the wavelet-level engine (which runs a
    pe.loop as its iterations spelled out: the engine is for meshes up to 16x16)."""
    if any(isinstance(op, pe.LoopOp) for op in module.walk()):
        module = module.clone()
        for fn in module.walk():
            if isinstance(fn, func.FuncOp) and fn.body.blocks:
                pe.unroll_loops(fn.body.block)
    return WaveletExecutable(WaveletProgram(module))


__all__ = ["MAX_SIDE", "WaveletExecutable", "compile_wavelet"]
