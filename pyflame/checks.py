"""Runtime checks: conditions only the data can tell, checked on the device, raised after the run.

An op whose inputs may be invalid in a way the shapes cannot show (a class index computed with
`argmax` that may be out of range, ...) checks data it already holds at once, with numpy, at the
user's line (`check_now`). When the data is lazy, it attaches a `Check` to its result
(`add_check`): a small graph computing how many elements are bad and one offending value.

`pf.eval` (`pyflame.runtime`) asks `attached(nodes)` for the checks of every lazy node it is
about to compute (the nodes its trace walked); their tensors become extra results of the same
compiled program (so they are part of its cache key), and `Checks.verify(results)` raises the first failed check, naming the
user's line of the op, before any tensor gets its data or any pending update is applied.

    hot = one_hot(argmax(logits, 1) + 3, 10)  # attaches a Check: bad count, one bad value
    pf.eval(hot.sum())                         # IndexError: demo.py:3: one_hot: Class values
                                               # must be smaller than num_classes (10), got 12
                                               # (1 element out of range)

Checks live on the tensors themselves (`Tensor._checks`), never in a global list: a graph that
is never evaluated costs nothing, and threads do not see each other's checks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from pyflame import ops
from pyflame.autograd import no_grad
from pyflame.core.dtypes import int32
from pyflame.dialects import flame
from pyflame.lazy_tensor import Location, Tensor, format_location, user_location

INT32_MIN = -(2**31)


@dataclass(frozen=True)
class Check:
    """A runtime check of one op: fails when `count` (an int32 scalar tensor) is nonzero."""

    count: Tensor
    #: one offending value (int32 scalar), shown in the message
    value: Tensor
    #: message(value, count) -> text after "file:line: "
    message: Callable[[int, int], str]
    location: Location
    error: type[Exception] = IndexError


def add_check(
    guarded: Tensor,
    bad: Tensor,
    values: Tensor,
    message: Callable[[int, int], str],
    *,
    error: type[Exception] = IndexError,
    location: Location | None = None,
) -> None:
    """Check, when `guarded` is computed, that no element of the bool tensor `bad` is True;
    `values` (int32, `bad`'s shape) gives the value reported for a failing element."""
    with no_grad():
        count = bad.astype(int32).sum()
        value = ops.amax(ops.where(bad, values, INT32_MIN)) if bad.numel() else count
    check = Check(count, value, message, location or user_location(), error)
    checks: list[Check] | None = getattr(guarded, "_checks", None)
    if checks is None:
        guarded._checks = checks = []
    checks.append(check)


def check_now(
    bad: np.ndarray,
    values: np.ndarray,
    message: Callable[[int, int], str],
    *,
    error: type[Exception] = IndexError,
    location: Location | None = None,
) -> None:
    """The same check on data at hand: raise at once at the user's line."""
    if not bad.any():
        return
    first = values[bad].reshape(-1)[0].item()
    raise error(f"{format_location(location or user_location())}: {message(first, int(bad.sum()))}")


@dataclass
class Checks:
    """The checks of one evaluation: their tensors are extra outputs of the program."""

    checks: list[Check]

    @property
    def tensors(self) -> list[Tensor]:
        return [t for c in self.checks for t in (c.count, c.value)]

    def verify(self, results: Sequence[Any]) -> list[Any]:
        """Raise the first failed check; return `results` without the checks' values."""
        if not self.checks:
            return list(results)
        n = len(results) - 2 * len(self.checks)
        for i, check in enumerate(self.checks):
            count = int(np.asarray(results[n + 2 * i]).reshape(()))
            if count:
                value = int(np.asarray(results[n + 2 * i + 1]).reshape(()))
                raise check.error(
                    f"{format_location(check.location)}: {check.message(value, count)}"
                )
        return list(results[:n])

    def done(self, outputs: Sequence[Tensor]) -> None:
        """Forget the checks of tensors that now hold data (they passed)."""
        for t in outputs:
            if getattr(t, "_checks", None):
                t._checks = None


def attached(nodes: Sequence[Tensor]) -> Checks:
    """The checks attached to the lazy nodes among `nodes` (a trace's nodes, inputs first),
    users before their inputs: an op's own check is raised before that of an op inside it
    (narrow's range before its index_select's)."""
    found: list[Check] = []
    for t in reversed(nodes):
        if t._data is None:
            checks = t.__dict__.get("_checks")
            if checks:
                found.extend(checks)
    return Checks(found)


def data_at_hand(t: Tensor) -> np.ndarray | None:
    """The values of `t` when they are known without running: a leaf's data, also through
    reshapes (embedding flattens its indices) and broadcasts (index_select spreads its
    indices over the other dims)."""
    if t._data is None and t.op in (flame.ReshapeOp, flame.BroadcastToOp):
        inner = data_at_hand(t.inputs[0])
        if inner is None:
            return None
        if t.op is flame.ReshapeOp:
            return inner.reshape(t.shape)
        return np.broadcast_to(inner, t.shape)
    return t._host_data()


def check_indices(
    indices: Tensor,
    classes: int,
    message: Callable[[int, int], str],
    *,
    guarded: Tensor,
    ignore_index: int | None = None,
    location: Location | None = None,
) -> None:
    """Indices must lie in [0, classes) (or equal `ignore_index`): checked now when `indices`
    holds data, else by a runtime check on `guarded`, the op's result (embedding, one_hot,
    index_select, gather_rows' users).
    `message(value, count)` words the error."""
    location = location or user_location()
    data = data_at_hand(indices)
    if data is not None:
        if not data.size or (data.min() >= 0 and data.max() < classes):
            return  # every index in range (two reductions, not four array ops: each step asks)
        bad_now = (data < 0) | (data >= classes)
        if ignore_index is not None:
            bad_now &= data != ignore_index
        check_now(bad_now, data, message, location=location)
        return
    with no_grad():
        bad = (indices < 0) | (indices >= classes)
        if ignore_index is not None:
            bad = bad & (indices != ignore_index)
    add_check(guarded, bad, indices.astype(int32), message, location=location)
