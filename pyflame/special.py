"""`pf.special`, torch.special's functions that PyFlame computes to PyTorch's accuracy (each the `pf`
op of the same meaning): erf, erfinv, expit, logit, xlogy, xlog1py, entr, sinc, log1p, expm1,
exp2, round, softmax, log_softmax, logsumexp, digamma (psi), polygamma (n <= 1), gammaln,
multigammaln, erfc, ndtr, i0, i0e, i1, i1e.

Not here (no PyFlame kernel computes them to PyTorch's accuracy yet, so they are left out
rather than approximated): erfcx, ndtri, log_ndtr, polygamma for n >= 2, zeta, the other bessel functions.
"""

from __future__ import annotations

import math
import sys

from pyflame import ops, tensor_methods
from pyflame.core.dtypes import float32
from pyflame.lazy_tensor import Tensor, format_location, user_location
from pyflame.ops import (
    digamma,
    entr,
    erf,
    erfc,
    erfinv,
    exp2,
    expm1,
    i0,
    i0e,
    i1,
    i1e,
    lgamma,
    log1p,
    log_softmax,
    logit,
    logsumexp,
    ndtr,
    polygamma,
    round,
    sigmoid,
    sinc,
    softmax,
    xlog1py,
    xlogy,
)
from pyflame.ops.node import _check_tensor

expit = sigmoid  # torch.special.expit
psi = digamma  # torch.special.psi
gammaln = lgamma  # torch.special.gammaln


def multigammaln(x: Tensor, p: int) -> Tensor:
    """The log of the multivariate gamma function of dimension p (torch.special.multigammaln,
    torch.mvlgamma): p (p - 1) / 4 log(pi) + sum_i lgamma(x - i / 2), i < p. Defined for
    x > (p - 1) / 2; PyTorch 2.13 no longer checks that, and neither does PyFlame (lgamma's
    values below: its poles give inf, as PyTorch's)."""
    _check_tensor(x, "multigammaln")
    if isinstance(p, bool) or not isinstance(p, int) or p < 1:
        raise RuntimeError(
            f"{format_location(user_location())}: p has to be greater than or equal to 1"
        )
    if not x.dtype.is_floating_point:
        x = x.astype(float32)
    out = ops.add(
        ops.sum(ops.stack([lgamma(ops.sub(x, i / 2)) for i in range(p)], -1), -1),
        p * (p - 1) / 4 * math.log(math.pi),
    )
    return out


__all__ = [
    "digamma",
    "entr",
    "erf",
    "erfc",
    "erfinv",
    "exp2",
    "gammaln",
    "i0",
    "i0e",
    "i1",
    "i1e",
    "expit",
    "expm1",
    "log1p",
    "log_softmax",
    "logit",
    "multigammaln",
    "ndtr",
    "logsumexp",
    "polygamma",
    "psi",
    "round",
    "sinc",
    "softmax",
    "xlog1py",
    "xlogy",
]

tensor_methods.bind("special", sys.modules[__name__])
