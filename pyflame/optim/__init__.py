"""Optimizers and learning-rate schedulers, as `torch.optim` and `torch.optim.lr_scheduler`.

`pyflame.optim.optimizers` holds `SGD`, `Adam`, `AdamW` and their base class `Optimizer`;
`pyflame.optim.lr_scheduler` the schedulers (`pf.optim.lr_scheduler.StepLR`, ...). A
scheduler only assigns `group["lr"]` (and momentum/betas for the cycling ones): the learning
rate is a runtime input of the compiled step, so a schedule never recompiles.
"""

from __future__ import annotations

from pyflame.optim import lr_scheduler
from pyflame.optim.optimizers import SGD, Adam, AdamW, Optimizer, required

__all__ = ["SGD", "Adam", "AdamW", "Optimizer", "lr_scheduler", "required"]
