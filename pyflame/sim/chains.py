"""Reduction chains' stages folded into one step (`Executable.run`).

A reduction chain along a PE row or column (a bias gradient's sum over the batch rows, the
loss's sums: `pe.recv combine sum forward` in a pe.loop) is, at run time, one receive and one
send per stage: stage k adds the message of stage k - 1 into its tiles and forwards the
sum, the next stage takes that message and releases it.

    recv  %t combine sum forward  on PE col c     V[t][:, c] = V[t][:, c] + F[g]; del F[g]
    (the forward)                                  F[b] = V[t][:, c].copy()
    recv  %t combine sum forward  on PE col c + 1  V[t][:, c+1] = V[t][:, c+1] + F[b]; del F[b]
    ...

A tree of chains (the `tree`, `tree3` and `ktree` allreduces, pyflame/core/collectives.py)
runs many short chains side by side, each stage a pe.loop whose iterations step the PE
rectangle: the MLP training step's groups of 4 PEs in a column give, per tree level, the 8
chains' first sends, then stage 1 of every chain (receive, forward), stage 2 of every chain,
stage 3 of every chain: 40 steps of a few microseconds each on one float per PE.

    send  %t  (rows 0, 4, ..., 28)                 F[a_k] = V[t][4k].copy()
    recv  %t combine sum forward (rows 1, 5, ...)  V[t][4k+1] += F[a_k]; F[b_k] = V[t][4k+1] ...
    recv  %t combine sum forward (rows 2, 6, ...)  V[t][4k+2] += F[b_k]; F[c_k] = ...
    recv  %t combine sum         (rows 3, 7, ...)  V[t][4k+3] += F[c_k]

`vectorise_chains` (run once per Executable, on the steps `run` runs) takes each *run* of
consecutive chain stages: combining receives (float32 `sum`, `prod`, `max`, `min`) of one
buffer, each
one PE wide along one axis with the same span of the other axis and the same lanes, each at
a place of its own, each followed by its forward when it has one. It splits the run into
chains by following every forward to the stage that takes it (which must take it whole and
release it, else the run keeps its steps), and folds the chains of one length into one step
when that replaces at least `MIN_STEPS` steps. The fold goes stage by stage: stage s's tiles
of every chain become combine(tiles, stage s - 1's), the receive's own call with its own
operand order, one ufunc call per stage (on a strided view of SRAM when the stage's places
step evenly, as a loop's iterations do; else on a gathered copy written back), stage 0
combining the chains' first messages; so every tile gets the very number its receive made,
bit for bit. Many small stages of sums or products fold with one `accumulate` instead
(combine(previous, tiles): float32 sums and products commute exactly). When the chains'
first messages were sent just before the run, from tiles of the same buffer, and only the
chains take them, the chains start from those tiles and the sends go too. Reordering is
sound: the stages touch distinct tiles, and each reads only its own tiles and its chain's
message. The forwards no stage of the run takes stay steps, after the folds (a later
receive takes them). Cycles, routes and the plan are untouched: only the host's work
changes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from pyflame.sim import compiled
from pyflame.sim.dead_transfers import set_operands
from pyflame.sim.step_access import access_of

if TYPE_CHECKING:  # executable.py runs the pass: import its names for types only
    from pyflame.sim.executable import Step

#: chains that would fold fewer steps than this (receives, the forwards they take, the
#: sends they start from) keep their steps
MIN_STEPS = 4

#: chains of sums or products of at least this many stages of at most this many elements
#: (all chains) fold with one `accumulate` on a gathered copy, not one ufunc call per stage
#: in SRAM (63 stages of 64 floats: 21 instead of 64 us; 12 stages of 4,096: 320 instead of
#: 40). numpy's accumulate along the stages costs ~6 ns an element, a ufunc call per stage
#: ~1.4 us plus ~1.4 ns an element: per stage (float32, one thread) 64 elements 15 against
#: 64 us over 63 stages, 128 elements 37 against 68, 256 elements 189 against 79, 1,024
#: elements over 8 stages 50 against 7 (the MLP step's bias-gradient chains, 4 chains of 64
#: PEs' 4 floats: 43 -> 12 us each)
ACCUMULATE_STAGES = 8
ACCUMULATE_ELEMENTS = 128

#: the combining kinds a fold runs (each the receive's own ufunc: reductions.combine)
UFUNCS = {"sum": np.add, "prod": np.multiply, "max": np.maximum, "min": np.minimum}
#: the kinds whose combine commutes bit for bit (float32 sums and products: one rounding of
#: the exact result), so `accumulate` may take the operands the other way round
COMMUTING = ("sum", "prod")


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


#: the line a tile lies on: (axis, the other axis's span, the lanes' span); its place is its
#: index along the axis
LineKey = tuple[int, tuple[int, int], tuple[int, int]]


def _span(sl: Any) -> tuple[int, int] | None:
    if not isinstance(sl, slice) or sl.step not in (None, 1):
        return None
    if not isinstance(sl.start, int) or not isinstance(sl.stop, int):
        return None
    return sl.start, sl.stop


def _places(dst: tuple[Any, ...]) -> dict[LineKey, int]:
    """{line key: index along its axis} of a tile one PE wide along axis 0 and/or 1."""
    if len(dst) != 3:
        return {}
    spans = [_span(x) for x in dst]
    if any(s is None for s in spans):
        return {}
    rows, cols, lanes = spans
    out: dict[LineKey, int] = {}
    for axis, (this, other) in enumerate(((rows, cols), (cols, rows))):
        assert this is not None and other is not None and lanes is not None  # checked
        if this[1] - this[0] == 1:
            out[(axis, other, lanes)] = this[0]
    return out


def _identity(src: tuple[Any, ...], key: LineKey) -> bool:
    """Whether a message index takes, for each PE of a stage, the element its predecessor's
    PE sent: the whole message, one PE wide along the line's axis."""
    if len(src) != 2:
        return False
    axis, other, _ = key
    return _span(src[axis]) == (0, 1) and _span(src[1 - axis]) == (0, other[1] - other[0])


@dataclass
class _Stage:
    """A chain stage in a run: its receive's position in the steps, its record, its tile's
    place along each line it lies on, and the in-flight key of its forward (None: none)."""

    at: int
    stage: ChainStage
    places: dict[LineKey, int]
    sent: int | None


def _run_at(steps: Sequence[tuple[int, Step]], n: int) -> tuple[list[_Stage], int, LineKey]:
    """The stages of the run starting at step `n`, the position after it, and its line (no
    stages: not a run)."""
    run: list[_Stage] = []
    lines: dict[LineKey, set[int]] = {}
    at = n
    while at < len(steps):
        st = chain_stage(steps[at][1])
        if st is None or st.kind not in UFUNCS or st.dtype != np.float32:
            break
        if run and (st.buffer, st.kind) != (run[0].stage.buffer, run[0].stage.kind):
            break
        places = _places(st.dst)
        # the lines every stage so far lies on, at a place of its own
        fits = {}
        for k, p in places.items():
            seen = lines.get(k, set())
            if (not run or k in lines) and p not in seen:
                fits[k] = {*seen, p}
        if not fits:
            break
        lines = fits
        sent = _forward_of(steps[at + 1][1], st) if at + 1 < len(steps) else None
        run.append(_Stage(at, st, places, sent))
        at += 1 if sent is None else 2
    return run, at, next(iter(lines)) if run else (0, (0, 0), (0, 0))


def _chains(run: list[_Stage], key: LineKey) -> list[list[int]] | None:
    """The run's chains (lists of indices into `run`, each stage taking the forward of the
    one before), or None when a stage takes a forward of the run otherwise (not whole, not
    releasing it, or a second taker) or two chains start from one message."""
    made: dict[int, int] = {}  # forward key -> its stage
    nxt: dict[int, int] = {}
    heads: list[int] = []
    for j, s in enumerate(run):
        p = made.get(s.stage.batch)
        if p is None:
            heads.append(j)
        elif p in nxt or not s.stage.release or not _identity(s.stage.src, key):
            return None
        else:
            nxt[p] = j
        if s.sent is not None:
            made[s.sent] = j
    first = [run[j].stage.batch for j in heads]
    if len(set(first)) != len(first) or set(first) & set(made):
        return None
    chains = []
    for j in heads:
        chain = [j]
        while chain[-1] in nxt:
            chain.append(nxt[chain[-1]])
        chains.append(chain)
    return chains


def _head_sends(
    out: list[tuple[int, Step]],
    run: list[_Stage],
    chains: list[list[int]],
    key: LineKey,
    taken: set[int],
) -> list[tuple[int, int]] | None:
    """Per chain, (position in `out`, place) of the send at the end of `out` that made its
    first message, when each chain's first stage takes one of them whole and releases it,
    all of the run's buffer, one PE wide on the run's line at places not `taken` (the run's
    and other folds' tiles; the chains then start from those tiles); None otherwise."""
    buffer = run[0].stage.buffer
    sends: dict[int, tuple[int, Any]] = {}  # in-flight key -> (position in out, reads)
    k = len(out) - 1
    while k >= 0:
        acc = access_of(out[k][1])
        if acc is None or acc.sent is None or len(acc.reads) != 1:
            break
        sends[acc.sent] = (k, acc.reads)
        k -= 1
    found: list[tuple[int, int]] = []
    places: set[int] = set()
    for chain in chains:
        head = run[chain[0]].stage
        sent = sends.get(head.batch)
        if sent is None or not head.release or not _identity(head.src, key):
            return None
        at, reads = sent
        place = _places(reads.get(buffer, ())).get(key)
        if place is None or place in taken or place in places:
            return None
        places.add(place)
        found.append((at, place))
    return found


def _progression(places: np.ndarray) -> slice | None:
    """The places (in order) as a slice when they step evenly (a stage's chains: the
    iterations of one pe.loop), else None."""
    start = int(places[0])
    step = int(places[1] - places[0]) if places.size > 1 else 1
    if step == 0 or (places != start + step * np.arange(places.size)).any():
        return None
    stop = start + step * places.size
    return slice(start, None if stop < 0 else stop, step)


#: a stage's innermost loop shorter than this runs along a longer axis instead (`long_last`)
SHORT_LOOP = 16


def long_last(tiles: np.ndarray) -> tuple[int, ...] | None:
    """An order of `tiles`' axes whose last is its longest, for a ufunc called with
    order="C", when numpy's own loop (along the smallest stride) would be short: the
    stages of column chains on lane-major tiles (every 8th PE column of 10 lanes: numpy's
    inner loop 4 PEs long, 7 us a stage; along the 64 rows instead, ~5); None: numpy's order.
    Elementwise, so the same numbers in any order."""
    sizes = tiles.shape
    if tiles.ndim < 2 or min(tiles.size, max(sizes)) < SHORT_LOOP:
        return None
    inner = min(range(tiles.ndim), key=lambda k: abs(tiles.strides[k]) if sizes[k] > 1 else 1 << 62)
    if sizes[inner] >= SHORT_LOOP:
        return None
    longest = max(range(tiles.ndim), key=lambda k: sizes[k])
    rest = sorted(
        (k for k in range(tiles.ndim) if k != longest), key=lambda k: -abs(tiles.strides[k])
    )
    return (*rest, longest)


def _fold_step(
    stage: ChainStage,
    key: LineKey,
    table: np.ndarray,
    heads: list[ChainStage] | None,
    replaced: list[Step],
) -> Step:
    """One step folding chains: `table[s, k]` the place of stage s of chain k along the
    line (row 0 the first messages' tiles when `heads` is None; else `heads[k]` names chain
    k's first message). Stage by stage, chain k's tiles become combine(tiles, what came before):
    one ufunc call per stage over all its chains (in SRAM when every stage's places step
    evenly, a strided view each), or one `accumulate` along the stages for many small ones
    (in SRAM for one chain stepping evenly); else on a gathered copy written back. The
    steps it replaces run instead when a first message is not of the tiles' type (numpy
    would round once more in the stage's cast)."""
    axis, other, lanes = key
    i, dtype, ufunc = stage.buffer, stage.dtype, UFUNCS[stage.kind]

    def index(places: Any) -> tuple[Any, ...]:
        sel: list[Any] = [places, slice(*other), slice(*lanes)]
        return tuple(sel) if axis == 0 else (sel[1], sel[0], sel[2])

    stages, chains = table.shape
    rows = [_progression(r) for r in table]  # each stage's places, as a slice
    column = _progression(table[:, 0]) if chains == 1 else None  # the one chain's places
    # many small stages: one `accumulate` along the stages (a ufunc call per stage costs more
    # than its few elements), else a call per stage over all its chains
    small = (other[1] - other[0]) * (lanes[1] - lanes[0]) * chains <= ACCUMULATE_ELEMENTS
    accumulate = stage.kind in COMMUTING and stages >= ACCUMULATE_STAGES and small
    # the folded array: `tiles` itself (each stage a strided view), a view of the chain's
    # places (one chain stepping evenly; (stage, chain) in the place of the line's axis), or
    # a gathered copy written back
    strided = not accumulate and all(r is not None for r in rows)
    chain_axis = (slice(None), None) if axis == 0 else (slice(None), slice(None), None)
    view = None if strided or column is None else index(column)
    at = (
        [index(r) for r in rows]
        if strided
        else [(s,) if axis == 0 else (slice(None), s) for s in range(stages)]
    )
    gather, first = index(table), (1 if heads is None else 0)
    write = index(table[first:])
    later = (slice(first, None),) if axis == 0 else (slice(None), slice(first, None))
    firsts = [] if heads is None else [(h.batch, h.src) for h in heads]
    drop = [] if heads is None else [h.batch for h in heads if h.release]
    # the shape of a first message's tiles, and one without the line's axis
    one = [1, 1, lanes[1] - lanes[0]]
    one[1 - axis] = other[1] - other[0]
    tile, squeeze = tuple(one), ((0,) if axis == 0 else (slice(None), 0))
    # the first messages side by side, as the first stage's tiles: chain k at slots[k]
    head_shape = [tile[1 - axis], tile[2]]
    head_shape.insert(axis, len(firsts))
    slots = [(k,) if axis == 0 else (slice(None), k) for k in range(len(firsts))]

    orders: dict[tuple, tuple[int, ...] | None] = {}  # (shape, strides) -> long_last
    places = np.ascontiguousarray(table, dtype=np.int64)
    # many stages' elements: the compiled fold (pyflame/sim/compiled/chain_folds.py); fewer,
    # once another chain loaded it (numpy's few calls per stage cost more than the kernel's
    # call, ~1 us: the MLP's loss and bias-gradient sums, 10-20 us each on numpy's path)
    work = (stages - 1) * chains * (other[1] - other[0]) * (lanes[1] - lanes[0])
    large = work >= compiled.MIN_WORK
    token = object()  # (this step's compiled fold, kept in each SRAM's `derived`)

    def compiled_fold(V: Sequence[np.ndarray], tiles: np.ndarray) -> Callable[[], None] | None:
        """The compiled fold of stages 1 .. on `tiles` (V[i]), or None: kept in the SRAM's
        `derived` (its views never move), so that later runs skip the checks."""
        derived = compiled.kept_calls(V)
        fold = None if derived is None else derived.get(token)
        if fold is None:
            folds = compiled.kernels("chain_folds") if large else compiled.loaded("chain_folds")
            if folds is None or not folds.applies(tiles, axis, stage.kind):
                return None
            fold = folds.bound(tiles, places, axis, other, lanes, stage.kind)
            if derived is not None:
                derived[token] = fold
        return fold

    def step(V, F, A, O):
        tiles = V[i]
        msgs = [F[g][src] for g, src in firsts]
        if tiles.dtype != dtype or any(m.dtype != dtype for m in msgs):
            for s in replaced:
                s(V, F, A, O)
            return
        # the first messages copied before any tile is written (a send may have kept a
        # view of SRAM: pyflame/sim/step_access.py)
        if msgs:
            first_msgs = np.empty(head_shape, dtype=dtype)
            for k, m in enumerate(msgs):
                first_msgs[slots[k]] = (
                    m[squeeze] if m.shape == tile else np.broadcast_to(m, tile)[squeeze]
                )
        fold = compiled_fold(V, tiles)
        if fold is not None:
            if msgs:  # (stage 0: the first messages into their tiles, the receive's order)
                first = index(places[0])
                tiles[first] = ufunc(tiles[first], first_msgs)
            fold()
            for g in drop:
                del F[g]
            return
        if strided:
            line = tiles
        elif view is not None:
            line = tiles[view][chain_axis]
        else:
            line = tiles[gather]  # (a copy: fancy indexing)
        prev = line[at[0]]
        if msgs:
            ufunc(prev, first_msgs, out=prev)
        if accumulate:  # (left to right along the stages: the same numbers)
            ufunc.accumulate(line, axis=axis, out=line)
        order = None
        if not accumulate and len(at) >= 2:
            # (one SRAM layout per plan: the order is found once per line's strides)
            layout = (line.shape, line.strides)
            if layout in orders:
                order = orders[layout]
            else:
                order = orders[layout] = long_last(line[at[1]])
        if order is not None:
            prev = prev.transpose(order)
        for sel in [] if accumulate else at[1:]:  # stage by stage
            cur = line[sel]
            if order is None:
                ufunc(cur, prev, out=cur)  # (the receive's operand order)
            else:
                cur = cur.transpose(order)
                ufunc(cur, prev, out=cur, order="C")
            prev = cur
        if not strided and view is None:
            tiles[write] = line[later]
        for g in drop:
            del F[g]

    return step


def _fold_run(
    steps: Sequence[tuple[int, Step]],
    run: list[_Stage],
    end: int,
    key: LineKey,
    out: list[tuple[int, Step]],
) -> None:
    """Append to `out` the run's steps (`steps[run[0].at:end]`) with its chains folded (and
    drop from `out` the sends the folds start from)."""
    start = run[0].at
    chains = _chains(run, key)
    if chains is None:
        out.extend(steps[start:end])
        return
    by_length: dict[int, list[list[int]]] = {}
    for chain in chains:
        by_length.setdefault(len(chain), []).append(chain)
    kept = set(range(start, end))  # positions that stay steps
    taken = {s.places[key] for s in run}
    folds: list[tuple[int, Step]] = []
    dropped: list[int] = []  # positions in `out` of the sends folds start from
    for length, group in by_length.items():
        mine = []  # the group's receives and the forwards its stages take
        for chain in group:
            for j in chain:
                mine.append(run[j].at)
                if j != chain[-1]:
                    mine.append(run[j].at + 1)
        sends = _head_sends(out, run, group, key, taken)
        if len(mine) + len(sends or ()) < MIN_STEPS:
            continue
        kept -= set(mine)
        replaced = [steps[at][1] for at in sorted(mine)]
        table = np.array([[run[j].places[key] for j in c] for c in group], dtype=np.intp).T
        if sends is None:
            heads: list[ChainStage] | None = [run[c[0]].stage for c in group]
        else:  # row 0: the tiles the first messages were sent from
            heads = None
            table = np.vstack([np.array([p for _, p in sends], dtype=np.intp), table])
            taken.update(p for _, p in sends)
            dropped += [at for at, _ in sends]
            replaced = [out[at][1] for at in sorted(at for at, _ in sends)] + replaced
        step = _fold_step(run[group[0][0]].stage, key, table, heads, replaced)
        setattr(step, "chain_of", length * len(group))  # noqa: B010  (chained reads it)
        touched = _buffers_touched(replaced)
        if touched is not None:  # (what later passes know it touches)
            set_operands(step, touched)
        folds.append((steps[min(mine)][0], step))
    if dropped:
        out[:] = [s for n, s in enumerate(out) if n not in set(dropped)]
    out.extend(folds)
    out.extend(steps[at] for at in sorted(kept))


def _buffers_touched(steps: list[Step]) -> tuple[int, ...] | None:
    """The buffers the steps a fold replaces read or write (None: any)."""
    touched: set[int] = set()
    for s in steps:
        acc = access_of(s)
        if acc is not None:
            touched.update(acc.reads)
            touched.update(acc.writes)
            continue
        operands = getattr(s, "operands", None)
        if operands is None:
            return None
        touched.update(operands)
    return tuple(sorted(touched))


def chained(step: Step) -> int:
    """The number of chain stages `step` does (0: not a vectorised chain)."""
    return getattr(step, "chain_of", 0)


def vectorise_chains(steps: list[tuple[int, Step]]) -> list[tuple[int, Step]]:
    """`steps` ((index, step) pairs, as `Executable.run` runs them) with the chains of each
    run of chain stages folded (at least MIN_STEPS steps a fold), each fold under its first
    stage's index."""
    out: list[tuple[int, Step]] = []
    n = 0
    while n < len(steps):
        run, end, key = _run_at(steps, n)
        if not run:
            out.append(steps[n])
            n += 1
            continue
        _fold_run(steps, run, end, key, out)
        n = end
    return out


__all__ = [
    "MIN_STEPS",
    "ChainStage",
    "chain_stage",
    "chained",
    "set_chain_stage",
    "vectorise_chains",
]
