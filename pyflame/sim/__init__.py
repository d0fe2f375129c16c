"""`pf.sim`: the machine model (targets); the simulator adds its exports here."""

from pyflame.sim.target import SMALL, WSE2, WSE3, Target, get_target, set_target, target

__all__ = ["SMALL", "WSE2", "WSE3", "Target", "get_target", "set_target", "target"]
