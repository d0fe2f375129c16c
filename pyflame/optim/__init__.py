"""Optimizers, as `torch.optim`: `pf.optim.SGD`, `pf.optim.Adam`, `pf.optim.AdamW`.

`pyflame.optim.optimizers` holds them and their base class `Optimizer`; this package re-exports
them (`from pyflame.optim import SGD` and `pf.optim.SGD` work as before the split).
"""

from __future__ import annotations

from pyflame.optim.optimizers import SGD, Adam, AdamW, Optimizer, required

__all__ = ["SGD", "Adam", "AdamW", "Optimizer", "required"]
