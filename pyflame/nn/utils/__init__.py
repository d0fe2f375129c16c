"""`pf.nn.utils`, as `torch.nn.utils`: gradient clipping (`clip_grad.py`).

from pyflame.nn.utils import clip_grad_norm_
total = clip_grad_norm_(model.parameters(), max_norm=1.0)
"""

from pyflame.nn.utils import clip_grad
from pyflame.nn.utils.clip_grad import (
    clip_grad_norm_,
    clip_grad_value_,
    clip_grads_with_norm_,
    get_total_norm,
)

__all__ = [
    "clip_grad",
    "clip_grad_norm_",
    "clip_grad_value_",
    "clip_grads_with_norm_",
    "get_total_norm",
]
