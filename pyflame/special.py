"""`pf.special`, torch.special's functions that PyFlame computes to PyTorch's accuracy (each the `pf`
op of the same meaning): erf, erfinv, expit, logit, xlogy, xlog1py, entr, sinc, log1p, expm1,
exp2, round, softmax, log_softmax, logsumexp, digamma (psi), polygamma (n <= 1).

Not here (no PyFlame kernel computes them to PyTorch's accuracy yet, so they are left out
rather than approximated): erfc, erfcx, ndtr, ndtri, log_ndtr, gammaln, polygamma for n >= 2,
multigammaln, i0/i0e/i1/i1e, zeta, bessel functions.
"""

from __future__ import annotations

from pyflame.ops import (
    digamma,
    entr,
    erf,
    erfinv,
    exp2,
    expm1,
    log1p,
    log_softmax,
    logit,
    logsumexp,
    polygamma,
    round,
    sigmoid,
    sinc,
    softmax,
    xlog1py,
    xlogy,
)

expit = sigmoid  # torch.special.expit
psi = digamma  # torch.special.psi

__all__ = [
    "digamma",
    "entr",
    "erf",
    "erfinv",
    "exp2",
    "expit",
    "expm1",
    "log1p",
    "log_softmax",
    "logit",
    "logsumexp",
    "polygamma",
    "psi",
    "round",
    "sinc",
    "softmax",
    "xlog1py",
    "xlogy",
]
