"""Optimizers and learning-rate schedulers, as `torch.optim` and `torch.optim.lr_scheduler`.

`pyflame.optim.optimizers` holds `SGD`, `Adam`, `AdamW`, `RMSprop`, `Adagrad`, `Adamax`,
`NAdam`, `RAdam`, `Adadelta` and their base class `Optimizer`;
`pyflame.optim.lr_scheduler` the schedulers (`pf.optim.lr_scheduler.StepLR`, ...). A
scheduler only assigns `group["lr"]` (and momentum/betas for the cycling ones): the learning
rate is a runtime input of the compiled step, so a schedule never recompiles.
"""

from __future__ import annotations

from pyflame.optim import lr_scheduler
from pyflame.optim.optimizers import (
    SGD,
    Adadelta,
    Adagrad,
    Adam,
    Adamax,
    AdamW,
    NAdam,
    Optimizer,
    RAdam,
    RMSprop,
    required,
)

__all__ = [
    "SGD",
    "Adadelta",
    "Adagrad",
    "Adam",
    "AdamW",
    "Adamax",
    "NAdam",
    "Optimizer",
    "RAdam",
    "RMSprop",
    "lr_scheduler",
    "required",
]
