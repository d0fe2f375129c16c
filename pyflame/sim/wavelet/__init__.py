"""The wavelet-level reference simulator (`Target.fidelity == "wavelet"`).

The fast engine (pyflame/sim/planner.py) plans a program op by op over whole rectangles of PEs;
this one runs it PE by PE, cycle by cycle, and moves every wavelet of every message through
every router queue, link and CE queue (pyflame/sim/wavelet/network.py), so back-pressure,
multicast, link arbitration and route changes happen as they would on the machine. It is the
reference the fast engine is checked against (tests/unit/sim/test_fidelity.py), for meshes up
to 16x16 PEs.

    exe = compile_wavelet(module)   # reads the program and runs it once on zeros: the Report,
    outs, report = exe.run(args)    # and every error, come at compile time as in the fast mode

Timing does not depend on data, so the report of the compile-time run is the report of every
run; values travel through the queues on every run.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from xdsl.dialects.builtin import ModuleOp

from pyflame.sim.executable import Executable
from pyflame.sim.report import Report
from pyflame.sim.wavelet.engine import WaveletRun
from pyflame.sim.wavelet.program import MAX_SIDE, WaveletProgram


class WaveletExecutable(Executable):
    """A program for the wavelet-level engine: `run(args)` simulates it, wavelet by wavelet."""

    def __init__(self, program: WaveletProgram, report: Report):
        super().__init__(
            target=program.target,
            shape=(program.R, program.C, program.B),
            buffers=program.buffers,
            steps=[],
            arg_names=program.arg_names,
            arg_kinds=program.arg_kinds,
            returns=program.returns,
            num_outputs=program.num_outputs,
            report=report,
            order=[it.what for it in program.items],
        )
        self.program = program

    def __repr__(self) -> str:
        return (
            f"WaveletExecutable({len(self.program.items)} ops, args {self.arg_names}, "
            f"{self.report.cycles} cycles)"
        )

    def run(self, args: Sequence[np.ndarray | int] = ()) -> tuple[list[np.ndarray], Report]:
        outputs, _ = WaveletRun(self.program, self._check_args(args)).run()
        return outputs, self.report

    __call__ = run


def compile_wavelet(module: ModuleOp) -> WaveletExecutable:
    """Read a verified pe-level module and simulate it once (errors and the Report)."""
    program = WaveletProgram(module)
    _, report = WaveletRun(program, program.zero_args()).run()
    return WaveletExecutable(program, report)


__all__ = ["MAX_SIDE", "WaveletExecutable", "compile_wavelet"]
