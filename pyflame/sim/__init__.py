"""`pf.sim`: the machine model (targets); the simulator adds its exports here."""

from pyflame.core.target import SMALL, WSE2, WSE3, Target
from pyflame.sim.report import Report
from pyflame.sim.target import get_target, set_target, target

__all__ = [
    "SMALL",
    "WSE2",
    "WSE3",
    "Executable",
    "Report",
    "Target",
    "compile_plan",
    "get_target",
    "set_target",
    "target",
]


def __getattr__(name: str):
    # the planner pulls in xDSL and the dialects: load it on first use only
    if name == "compile_plan":
        from pyflame.sim.planner import compile_plan

        return compile_plan
    if name == "Executable":
        from pyflame.sim.executable import Executable

        return Executable
    raise AttributeError(f"module 'pyflame.sim' has no attribute '{name}'")
