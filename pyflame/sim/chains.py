"""A forwarding chain's stages as one step (`Executable.run`).

A reduction chain along a PE row or column (a bias gradient's sum over the batch rows, the
loss's sums: `pe.recv combine sum forward` in a pe.loop) is, at run time, one receive and one
send per stage: stage k adds the message of stage k - 1 into its tiles and forwards the
sum, the next stage takes that message and releases it.

    recv  %t combine sum forward  on PE col c     V[t][:, c] = V[t][:, c] + F[g]; del F[g]
    (the forward)                                  F[b] = V[t][:, c].copy()
    recv  %t combine sum forward  on PE col c + 1  V[t][:, c+1] = V[t][:, c+1] + F[b]; del F[b]
    ...

Each stage costs a few microseconds of numpy calls on a handful of lanes (the MLP training
step: 378 of them in 12 chains). `vectorise_chains` (run once per Executable, on the steps
`run` runs) finds runs of at least `MIN_STAGES` such stages, each forwarding to the next and
that next stage the only taker of the message (it releases it), each one PE wide along one
axis at a place of its own, and makes them one step: the first message and the stages'
tiles in order, folded with the combining ufunc's `accumulate` (numpy's accumulate adds left
to right, one rounding per stage, so each stage's `x + previous` is the very same number:
float32 sums and products only, bit for bit). The last stage's forward stays its own step (a
later receive may take it). Cycles, routes and the plan are untouched: only the host's work
changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from pyflame.sim.step_access import access_of

if TYPE_CHECKING:  # executable.py runs the pass: import its names for types only
    from pyflame.sim.executable import Step

#: fewer stages than this keep their own steps
MIN_STAGES = 4

#: combining kinds whose chain is an `accumulate` bit for bit (commutative, one rounding)
UFUNCS = {"sum": np.add, "prod": np.multiply}


@dataclass(frozen=True)
class ChainStage:
    """A combining receive `V[buffer][dst] = combine(kind, V[buffer][dst], F[batch][src])`
    of one whole message group (then `del F[batch]` when `release`)."""

    buffer: int
    dst: tuple[Any, ...]
    batch: int
    src: tuple[Any, ...]
    kind: str
    release: bool
    dtype: np.dtype


def set_chain_stage(step: Step, stage: ChainStage) -> Step:
    setattr(step, "chain_stage", stage)  # noqa: B010  (a plain function has no slot)
    return step


def chain_stage(step: Step) -> ChainStage | None:
    return getattr(step, "chain_stage", None)


def _forward_of(step: Step, stage: ChainStage) -> int | None:
    """The in-flight key `step` fills when it is the forward of `stage`'s tiles (a send of
    exactly what the stage wrote), else None."""
    acc = access_of(step)
    if acc is None or acc.sent is None or acc.reads != {stage.buffer: stage.dst}:
        return None
    return acc.sent


def _line(stages: Sequence[ChainStage]) -> tuple[int, tuple[Any, ...]] | None:
    """(axis, the index of all the stages' tiles in order) when the stages are one PE wide
    along one axis (0: PE rows, 1: PE cols) at distinct places (a slice when they step
    evenly, else a list), the other axis and the lanes the same; None otherwise."""
    first = stages[0].dst
    if len(first) != 3 or not all(isinstance(x, slice) for x in first):
        return None
    for axis in (0, 1):
        other = 1 - axis
        starts = []
        for s in stages:
            d = s.dst
            if not all(isinstance(x, slice) for x in d) or d[other] != first[other]:
                break
            if d[2] != first[2] or d[axis].step not in (None, 1):
                break
            if d[axis].stop - d[axis].start != 1:
                break
            starts.append(d[axis].start)
        else:
            if len(set(starts)) != len(starts):
                return None  # a PE combined twice: its second stage reads the first's sum
            sel: list[Any] = [first[0], first[1], first[2]]
            step = starts[1] - starts[0]
            if all(b - a == step for a, b in zip(starts, starts[1:], strict=False)):
                stop = starts[-1] + step
                sel[axis] = slice(starts[0], None if stop < 0 else stop, step)
            else:
                sel[axis] = starts  # (rows 7, 6, 5, 3, 0: a chain over the PEs that hold data)
            return axis, tuple(sel)
    return None


def _identity(src: tuple[Any, ...], dst: tuple[Any, ...], axis: int) -> bool:
    """Whether a message index takes, for each PE of a stage, the element its predecessor's
    PE forwarded: the whole message, one PE wide along the chain's axis."""
    if len(src) != 2 or not all(isinstance(x, slice) for x in src):
        return False
    other = 1 - axis
    n = dst[other].stop - dst[other].start
    return src[axis] == slice(0, 1) and src[other] == slice(0, n)


def _chain_at(steps: Sequence[tuple[int, Step]], n: int) -> tuple[list[ChainStage], int] | None:
    """(the stages, the number of run steps they and their forwards span) of a chain starting
    at run step `n`, or None."""
    first = chain_stage(steps[n][1])
    if first is None or first.kind not in UFUNCS or first.dtype != np.float32:
        return None
    stages = [first]
    at = n
    while at + 2 < len(steps):
        stage = stages[-1]
        bid = _forward_of(steps[at + 1][1], stage)
        nxt = chain_stage(steps[at + 2][1])
        if (
            bid is None
            or nxt is None
            or nxt.batch != bid
            or not nxt.release
            or (nxt.buffer, nxt.kind, nxt.dtype) != (first.buffer, first.kind, first.dtype)
        ):
            break
        stages.append(nxt)
        at += 2
    if len(stages) < MIN_STAGES:
        return None
    line = _line(stages)
    if line is None or not all(_identity(s.src, s.dst, line[0]) for s in stages[1:]):
        return None
    return stages, at - n + 1


def _chain_step(stages: list[ChainStage], replaced: list[Step]) -> Step:
    """One step doing `stages` (and the forwards between them, whose messages only the next
    stage takes): the steps it replaces run instead when the first message is not of the
    tiles' type (numpy would round once more in the stage's cast)."""
    line = _line(stages)
    assert line is not None  # checked by _chain_at
    axis, sel = line
    first = stages[0]
    i, g, src, release, dtype = first.buffer, first.batch, first.src, first.release, first.dtype
    ufunc = UFUNCS[first.kind]
    one = [slice(None)] * 3
    one[axis] = slice(0, 1)
    head = tuple(one)

    def step(V, F, A, O):
        tiles = V[i][sel]
        prev = F[g][src]
        if prev.dtype != dtype or tiles.dtype != dtype:
            for s in replaced:
                s(V, F, A, O)
            return
        shape = list(tiles.shape)
        shape[axis] += 1
        line = np.empty(shape, dtype=dtype)
        line[head] = np.broadcast_to(prev, line[head].shape)
        rest = [slice(None)] * 3
        rest[axis] = slice(1, None)
        line[tuple(rest)] = tiles
        ufunc.accumulate(line, axis=axis, out=line)  # stage by stage, left to right
        V[i][sel] = line[tuple(rest)]  # (a list of places: `tiles` was a copy)
        if release:
            del F[g]

    setattr(step, "chain_of", len(stages))  # noqa: B010  (chained reads it)
    return step


def chained(step: Step) -> int:
    """The number of chain stages `step` does (0: not a vectorised chain)."""
    return getattr(step, "chain_of", 0)


def vectorise_chains(steps: list[tuple[int, Step]]) -> list[tuple[int, Step]]:
    """`steps` ((index, step) pairs, as `Executable.run` runs them) with every chain of at
    least MIN_STAGES forwarding stages made one step, under the first stage's index."""
    out: list[tuple[int, Step]] = []
    n = 0
    while n < len(steps):
        found = _chain_at(steps, n)
        if found is None:
            out.append(steps[n])
            n += 1
            continue
        stages, span = found
        replaced = [s for _, s in steps[n : n + span]]
        out.append((steps[n][0], _chain_step(stages, replaced)))
        n += span
    return out


__all__ = [
    "MIN_STAGES",
    "ChainStage",
    "chain_stage",
    "chained",
    "set_chain_stage",
    "vectorise_chains",
]
