"""`torch.<name>(x)` forms of Tensor methods that build no op of their own, for code that calls
them as functions: `pf.numel(x)`, `pf.is_floating_point(x)`, `pf.clone(x)`, `pf.detach(x)`,
`pf.conj(x)` ... (each is `x.<name>()`)."""

from __future__ import annotations

from typing import Any

from pyflame.lazy_tensor import Tensor
from pyflame.ops.node import _check_tensor


def numel(x: Tensor) -> int:
    return _check_tensor(x, "numel").numel()


def is_floating_point(x: Tensor) -> bool:
    return _check_tensor(x, "is_floating_point").is_floating_point()


def is_complex(x: Tensor) -> bool:
    return _check_tensor(x, "is_complex").is_complex()


def is_nonzero(x: Tensor) -> bool:
    return _check_tensor(x, "is_nonzero").is_nonzero()


def is_same_size(x: Tensor, other: Tensor) -> bool:
    return _check_tensor(x, "is_same_size").is_same_size(other)


def is_conj(x: Tensor) -> bool:
    return _check_tensor(x, "is_conj").is_conj()


def is_neg(x: Tensor) -> bool:
    return _check_tensor(x, "is_neg").is_neg()


def conj(x: Tensor) -> Tensor:
    return _check_tensor(x, "conj").conj()


def resolve_conj(x: Tensor) -> Tensor:
    return _check_tensor(x, "resolve_conj").resolve_conj()


def resolve_neg(x: Tensor) -> Tensor:
    return _check_tensor(x, "resolve_neg").resolve_neg()


def clone(x: Tensor, *, memory_format: Any = None) -> Tensor:
    return _check_tensor(x, "clone").clone()


def detach(x: Tensor) -> Tensor:
    return _check_tensor(x, "detach").detach()


def isreal(x: Tensor) -> Tensor:
    return _check_tensor(x, "isreal").isreal()


def real(x: Tensor) -> Tensor:
    return _check_tensor(x, "real").real
