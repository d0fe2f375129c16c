"""PyFlame's device: the wafer, the only one. `pf.device` stands in for `torch.device` so that
ported code runs as written:

    x.device                           # device(type='wse'): every tensor lives on the wafer
    pf.zeros(3, device=x.device)       # creation ops take device= and change nothing
    y.to("cuda:0"), model.to(device)   # a device argument is accepted and changes nothing

What counts as a device argument (`is_device`): None, a device name (torch's types, "cpu",
"cuda", "mps", ..., and PyFlame's "wse", "wafer", "cerebras"; with an index, "cuda:1"), an
int index, a `pf.device`, or a `torch.device` (recognised by its `type` and `index`, without
importing torch). Anything else passed as `device=` is a TypeError naming the user's line
(pyflame/ops/node.py `_check_device`), as a misplaced argument (a dtype given as the device)
would otherwise pass silently. This module imports nothing of the frontend (lazy_tensor and
tensor_methods import it).
"""

from __future__ import annotations

import numbers
from typing import Any

#: torch's device type names, and PyFlame's names for the wafer
TORCH_TYPES = ("cpu", "cuda", "mps", "xpu", "meta", "hpu", "xla", "ipu", "mtia")
WAFER_TYPES = ("wse", "wafer", "cerebras")
DEVICE_TYPES = frozenset(TORCH_TYPES + WAFER_TYPES)


class device:  # noqa: N801 (torch's name: `torch.device` ports as `pf.device`)
    """`pf.device("cuda:0")`, `pf.device("cpu")`, `pf.device("cuda", 1)`: torch.device's
    constructor and fields (`type`, `index`); every device is the wafer, so any of them may be
    passed where PyTorch takes a device, and none moves data."""

    __slots__ = ("index", "type")

    def __init__(self, type: Any, index: int | None = None):  # noqa: A002 (torch's name)
        spec = type
        if isinstance(spec, device):
            index = spec.index if index is None else index
            spec = spec.type
        if isinstance(spec, numbers.Integral) and not isinstance(spec, bool):
            spec, index = "wse", int(spec)
        if not isinstance(spec, str):
            raise TypeError(f"device(): expected a device name, got {spec!r}")
        name, _, number = spec.partition(":")
        if name not in DEVICE_TYPES:
            raise RuntimeError(
                f"Expected one of {', '.join(sorted(DEVICE_TYPES))} device type at start of "
                f"device string: {spec}"
            )
        if number:
            if index is not None or not number.isdigit():
                raise RuntimeError(f"Invalid device string: '{spec}'")
            index = int(number)
        self.type: str = name
        self.index: int | None = index

    def __repr__(self) -> str:
        if self.index is None:
            return f"device(type='{self.type}')"
        return f"device(type='{self.type}', index={self.index})"

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            try:
                other = device(other)
            except (RuntimeError, TypeError):
                return False
        if hasattr(other, "type") and hasattr(other, "index"):
            return (self.type, self.index) == (other.type, other.index)
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self.type, self.index))


#: the device every tensor reports (`x.device`)
WAFER = device("wse")


def is_device(arg: Any) -> bool:
    """A device argument (not None): a name ("cuda", "cuda:1", "wse"), an index, a pf.device,
    or a torch.device (an object with `type` and `index`, recognised without importing torch)."""
    if isinstance(arg, str):
        return arg.split(":")[0] in DEVICE_TYPES
    if isinstance(arg, numbers.Integral) and not isinstance(arg, bool):
        return True
    return hasattr(arg, "type") and hasattr(arg, "index") and not hasattr(arg, "is_floating_point")


__all__ = ["DEVICE_TYPES", "WAFER", "device", "is_device"]
