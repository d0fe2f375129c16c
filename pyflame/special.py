"""`pf.special`, torch.special's functions that PyFlame computes exactly (each the `pf` op of
the same meaning): erf, erfinv, expit, logit, xlogy, xlog1py, entr, sinc, log1p, expm1, exp2,
round, softmax, log_softmax, logsumexp.

Not here (no PyFlame kernel computes them to PyTorch's accuracy yet, so they are left out
rather than approximated): erfc, erfcx, ndtr, ndtri, log_ndtr, gammaln, digamma/psi,
polygamma, multigammaln, i0/i0e/i1/i1e, zeta, bessel functions.
"""

from __future__ import annotations

from pyflame.ops import (
    entr,
    erf,
    erfinv,
    exp2,
    expm1,
    log1p,
    log_softmax,
    logit,
    logsumexp,
    round,
    sigmoid,
    sinc,
    softmax,
    xlog1py,
    xlogy,
)

expit = sigmoid  # torch.special.expit

__all__ = [
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
    "round",
    "sinc",
    "softmax",
    "xlog1py",
    "xlogy",
]
