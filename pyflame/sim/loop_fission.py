"""A pe.loop whose iterations run on disjoint PEs runs one step per body op (loop fission).

The 2.5D SUMMA (pyflame/passes/pe_lowering/layered_matmul.py) gives each of its c layers of
PE rows (every c-th row) a `pe.loop` over the g/c row groups; each iteration receives a B
block and multiplies on one PE row. Planned iteration by iteration, that is g/c receives and
g/c small matmul steps, each over a single row of PEs (992 numpy calls for GEMM 1024^3 on
32x32 PEs, against SUMMA's 64). The planner still runs every iteration for timing (cycles do
not change); only the run-time steps are regrouped:

    loop i: recv %b (row r0 + i*c); matmul_acc %acc, %a, %b (row r0 + i*c)
      ->  recv %b (rows r0, r0 + c, ...: one strided view); matmul_acc (the same rows)

Valid when the iterations touch disjoint PEs (the rectangle moves at least its own extent per
iteration) and every body step is PE-local (a receive only reads messages sent before the
loop; a loop with a send keeps its steps): the iterations then do not depend on each other,
so running body op 1 for every iteration, then body op 2, ... computes the same values. Each
kernel that supports it marks its step with a `LoopPart` (its rectangle and how to make the
same step over a strided span of PEs); a loop with any unmarked step, with iterations that
are not contiguous in the step list (the planner ran other ops in between) or whose
rectangles do not step evenly keeps its steps as they were.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # executable.py owns Buffer and Step: types only
    from pyflame.sim.executable import Buffer, Rect, Step


@dataclass(frozen=True)
class Span:
    """PEs `rows` x `cols` of the program's box (strided slices, no negative steps)."""

    rows: slice
    cols: slice

    @property
    def nrows(self) -> int:
        return len(range(self.rows.start, self.rows.stop, self.rows.step or 1))

    @property
    def ncols(self) -> int:
        return len(range(self.cols.start, self.cols.stop, self.cols.step or 1))

    def sub(self, buf: Buffer, elems: int | None = None) -> tuple[slice, slice, slice]:
        """Index of the span (inside `buf`'s rectangle) in `buf`'s view, as Buffer.sub."""
        br, bc = buf.rect[0], buf.rect[1]
        n = buf.size if elems is None else elems
        r, c = self.rows, self.cols
        return (
            slice(r.start - br, r.stop - br, r.step),
            slice(c.start - bc, c.stop - bc, c.step),
            slice(0, n),
        )


def rect_span(rect: Rect) -> Span:
    r0, c0, nr, nc = rect
    return Span(slice(r0, r0 + nr), slice(c0, c0 + nc))


@dataclass(frozen=True)
class LoopPart:
    """A step of a loop body op at one iteration: its rectangle, what must be equal for its
    iterations to merge (`same`), and `merge(span, parts)`: the step doing the iterations'
    `parts` at once over `span` (None: they do not merge)."""

    rect: Rect
    same: Any
    merge: Callable[[Span, Sequence[LoopPart]], Step | None]
    #: anything the merge needs from this iteration (a receive's message and release)
    data: Any = None


def set_loop_part(step: Step, part: LoopPart) -> Step:
    """Mark `step` (a kernel calls this) as mergeable over a loop's iterations."""
    setattr(step, "loop_part", part)  # noqa: B010  (a plain function has no slot)
    return step


def loop_part(step: Step) -> LoopPart | None:
    return getattr(step, "loop_part", None)


def strided_span(rects: Sequence[Rect]) -> Span | None:
    """The span of equal rectangles that move by the same step along rows or columns, at
    least their extent each time (so they do not overlap); None otherwise."""
    r0, c0, nr, nc = rects[0]
    if len(rects) == 1:
        return rect_span(rects[0])
    dr, dc = rects[1][0] - r0, rects[1][1] - c0
    for i, r in enumerate(rects):
        if r != (r0 + i * dr, c0 + i * dc, nr, nc):
            return None
    n = len(rects)
    if dc == 0 and dr > 0 and (nr == 1 or dr == nr):
        step = dr if nr == 1 else 1
        return Span(slice(r0, r0 + dr * (n - 1) + nr, step), slice(c0, c0 + nc))
    if dr == 0 and dc > 0 and (nc == 1 or dc == nc):
        step = dc if nc == 1 else 1
        return Span(slice(r0, r0 + nr), slice(c0, c0 + dc * (n - 1) + nc, step))
    return None


def _fission(run: Sequence[Step], iters: Sequence[int]) -> list[Step] | None:
    """The steps of one loop's iterations (in order, each making the same number of steps)
    as one step per body position, or None."""
    trips = iters[-1] + 1
    if trips < 2 or len(run) % trips or list(iters) != sorted(iters) or iters[0] != 0:
        return None
    per = len(run) // trips
    if any(iters[i * per + p] != i for i in range(trips) for p in range(per)):
        return None
    merged: list[Step] = []
    for p in range(per):
        parts = [loop_part(run[i * per + p]) for i in range(trips)]
        first = parts[0]
        if first is None or any(q is None or q.same != first.same for q in parts):
            return None
        span = strided_span([q.rect for q in parts])  # type: ignore[union-attr]  # checked
        if span is None:
            return None
        step = first.merge(span, parts)  # type: ignore[arg-type]  # no None left
        if step is None:
            return None
        merged.append(step)
    return merged


def fission_loops(
    steps: Sequence[Step],
    step_ops: Sequence[Any],
    step_loops: Sequence[tuple[int, int] | None],
) -> tuple[list[Step], list[Any]]:
    """(steps, step_ops) with each loop whose iterations merge run as one step per body op
    (`step_loops[k]`: (loop, iteration) of the loop body op that made step k, or None)."""
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    count: dict[int, int] = {}
    for k, tag in enumerate(step_loops):
        if tag is not None:
            first.setdefault(tag[0], k)
            last[tag[0]] = k
            count[tag[0]] = count.get(tag[0], 0) + 1
    if not first:
        return list(steps), list(step_ops)
    out: list[Step] = []
    ops: list[Any] = []
    k = 0
    while k < len(steps):
        tag = step_loops[k] if k < len(step_loops) else None
        if tag is None or first[tag[0]] != k:
            out.append(steps[k])
            ops.append(step_ops[k])
            k += 1
            continue
        end = last[tag[0]] + 1
        merged = None
        if count[tag[0]] == end - k:  # nothing else ran between its iterations
            iters = [t[1] for t in step_loops[k:end]]  # type: ignore[index]  # all tagged
            merged = _fission(steps[k:end], iters)
        if merged is None:  # its first step as it is; a loop nested in it may still merge
            out.append(steps[k])
            ops.append(step_ops[k])
            k += 1
            continue
        out.extend(merged)
        ops.extend(step_ops[k : k + len(merged)])
        k = end
    return out, ops


__all__ = [
    "LoopPart",
    "Span",
    "fission_loops",
    "loop_part",
    "rect_span",
    "set_loop_part",
    "strided_span",
]
