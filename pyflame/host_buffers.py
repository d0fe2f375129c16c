"""Recycled host memory for the snapshots of big leaves (`pf.from_numpy` copies its array).

A fresh array of megabytes costs more than the copy into it: the kernel zeroes every page at
its first touch (a 64 MB `np.array(a)` takes 10 ms here, `np.copyto` into a used buffer 6),
and glibc gives allocations of 32 MB and more back to the kernel when freed. A loop that
feeds a new big array each step (`pf.from_numpy(a) @ pf.from_numpy(x)`) would pay it every
time. So a snapshot of `MIN_BYTES` or more is copied into a buffer of its shape and dtype that
an earlier snapshot no longer uses, when there is one, as PyTorch's caching allocator does for
device memory.

The leaf holds a view of the buffer. When that view dies (the tensor is dropped, and every
array that shares its memory with it too), the buffer goes back to the pool, unless some
other array still shares its memory (a view of it taken through `t.numpy()`, for instance):
then it is left to numpy, and freed with its last user. At most `MAX_POOL_BYTES` wait in the
pool (the oldest go first); `pf.cache_clear()` empties it.
"""

from __future__ import annotations

import sys
import threading
import weakref
from collections import OrderedDict

import numpy as np

#: snapshots smaller than this are plain copies (malloc reuses small blocks already), as
#: are those larger than the whole pool
MIN_BYTES = 1 << 20
#: free buffers kept at most (bytes), and per shape and dtype (count)
MAX_POOL_BYTES = 256 << 20
MAX_PER_KEY = 2

Key = tuple[tuple[int, ...], str]

#: free buffers by (shape, dtype), least recently released first
_free: OrderedDict[Key, list[np.ndarray]] = OrderedDict()
_free_bytes = [0]
# re-entrant: a collection started by an allocation inside the lock may release a buffer
_lock = threading.RLock()


def snapshot(array: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """A C-ordered copy of `array` as `dtype` (numpy's unsafe cast, as `np.array(array,
    dtype)`), in a recycled buffer when it is big and one of its shape and dtype is free."""
    dtype = np.dtype(dtype)
    if not MIN_BYTES <= array.size * dtype.itemsize <= MAX_POOL_BYTES:  # (never pooled)
        return np.array(array, dtype=dtype, copy=True, order="C")
    key = (array.shape, dtype.str)
    buffer = None
    with _lock:
        free = _free.get(key)
        if free:
            buffer = free.pop()
            _free_bytes[0] -= buffer.nbytes
            if not free:
                del _free[key]
    if buffer is None:
        buffer = np.empty(array.shape, dtype)
    np.copyto(buffer, array, casting="unsafe")
    view = buffer[...]
    weakref.finalize(view, _release, buffer, key).atexit = False
    return view


#: references to a buffer in `_release` when nothing else holds it: the finalizer's
#: arguments, the call's, the parameter and getrefcount's own (CPython 3.11;
#: tests/unit/test_host_buffers.py checks that a dropped snapshot's buffer is reused)
_UNSHARED = 4


def _release(buffer: np.ndarray, key: Key) -> None:
    """The view of `buffer` died: keep `buffer` for the next snapshot of its shape, unless an
    array still shares its memory."""
    if sys.getrefcount(buffer) > _UNSHARED:
        return
    with _lock:
        free = _free.setdefault(key, [])
        if len(free) >= MAX_PER_KEY:
            return
        free.append(buffer)
        _free.move_to_end(key)
        _free_bytes[0] += buffer.nbytes
        while _free_bytes[0] > MAX_POOL_BYTES:  # the least recently released go first
            oldest, buffers = next(iter(_free.items()))
            _free_bytes[0] -= buffers.pop(0).nbytes
            if not buffers:
                del _free[oldest]


def pooled_bytes() -> int:
    """Bytes of the buffers waiting in the pool."""
    return _free_bytes[0]


def clear() -> None:
    """Let every waiting buffer go."""
    with _lock:
        _free.clear()
        _free_bytes[0] = 0
