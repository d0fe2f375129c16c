"""Worker threads for the simulator's biggest kernels.

numpy's batched matmul runs on one thread, so a large pe.matmul_acc or pe.conv2d splits its
rectangle's PE rows over a small thread pool (numpy releases the GIL inside the matmul).
Small ops stay on the calling thread: below `PARALLEL_FMACS` the hand-off costs more than it
saves.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

#: batched matmuls with at least this many FMACs run on several threads
PARALLEL_FMACS = 1 << 22

_POOL: list[ThreadPoolExecutor] = []


def thread_count() -> int:
    """Threads to use: the CPUs this process may run on, at most 8."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        n = os.cpu_count() or 1
    return max(1, min(n, 8))


def pool() -> ThreadPoolExecutor:
    """The simulator's thread pool (made on first use, shared by every executable)."""
    if not _POOL:
        _POOL.append(ThreadPoolExecutor(thread_count(), thread_name_prefix="pyflame-sim"))
    return _POOL[0]


def row_chunks(rows: int, fmacs: int) -> list[slice] | None:
    """Slices of PE rows to run on separate threads, or None to run on one."""
    n = min(thread_count(), rows)
    if n < 2 or fmacs < PARALLEL_FMACS:
        return None
    edges = [rows * i // n for i in range(n + 1)]
    return [slice(a, b) for a, b in itertools.pairwise(edges) if b > a]


def run_rows(part: Callable[..., None], chunks: list[slice] | None, *arrays: Any) -> None:
    """part(*arrays) on the calling thread (`chunks` None), else once per chunk of PE rows on
    the pool, each call given its rows of every array (None stays None), waiting for all."""
    if chunks is None:
        part(*arrays)
        return
    futures = [pool().submit(part, *(None if a is None else a[k] for a in arrays)) for k in chunks]
    for f in futures:
        f.result()
