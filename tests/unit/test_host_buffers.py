"""pyflame/host_buffers.py: big `pf.from_numpy` snapshots reuse the memory of dropped ones,
never memory that some array still shares."""

import gc

import numpy as np
import pytest

import pyflame as pf
from pyflame import host_buffers

BIG = (1024, 512)  # 2 MiB of float32: pooled
SMALL = (64, 64)


def address(a: np.ndarray) -> int:
    return a.__array_interface__["data"][0]


@pytest.fixture(autouse=True)
def empty_pool():
    host_buffers.clear()
    yield
    host_buffers.clear()


def test_a_dropped_snapshots_buffer_is_reused_for_the_next_of_its_shape():
    a, b = np.full(BIG, 1.5, np.float32), np.full(BIG, -2.0, np.float32)
    first = host_buffers.snapshot(a, np.dtype(np.float32))
    where = address(first)
    del first
    assert host_buffers.pooled_bytes() == a.nbytes
    second = host_buffers.snapshot(b, np.dtype(np.float32))
    assert address(second) == where and host_buffers.pooled_bytes() == 0
    np.testing.assert_array_equal(second, b)


def test_a_buffer_some_array_still_shares_is_never_reused():
    a, b = np.full(BIG, 1.5, np.float32), np.full(BIG, -2.0, np.float32)
    first = host_buffers.snapshot(a, np.dtype(np.float32))
    kept = first[3:]  # (a view: it shares the buffer, not the snapshot's view object)
    del first
    gc.collect()
    assert host_buffers.pooled_bytes() == 0
    second = host_buffers.snapshot(b, np.dtype(np.float32))
    assert not np.shares_memory(second, kept)
    np.testing.assert_array_equal(kept, a[3:])


def test_small_snapshots_are_plain_copies_and_casts_are_numpys():
    a = np.arange(SMALL[0] * SMALL[1], dtype=np.int64).reshape(SMALL)
    got = host_buffers.snapshot(a, np.dtype(np.int32))
    assert got.dtype == np.int32 and got.base is None
    del got
    assert host_buffers.pooled_bytes() == 0
    big = np.linspace(-3.7, 3.7, BIG[0] * BIG[1]).reshape(BIG)  # float64 -> float32
    np.testing.assert_array_equal(
        host_buffers.snapshot(big, np.dtype(np.float32)), big.astype(np.float32)
    )
    strided = np.ones((2048, 1024), np.float32)[::2]  # a non-contiguous source
    copy = host_buffers.snapshot(strided, np.dtype(np.float32))
    assert copy.flags.c_contiguous and not np.shares_memory(copy, strided)


def test_the_pool_is_bounded_and_cache_clear_empties_it(monkeypatch):
    monkeypatch.setattr(host_buffers, "MAX_POOL_BYTES", 5 << 20)
    arrays = [np.full(BIG, k, np.float32) for k in range(4)]
    held = [host_buffers.snapshot(a, np.dtype(np.float32)) for a in arrays]
    held += [host_buffers.snapshot(np.ones((512, 1024), np.float32), np.dtype(np.float32))]
    del held
    assert host_buffers.pooled_bytes() <= 5 << 20
    assert host_buffers.pooled_bytes() > 0
    pf.cache_clear()
    assert host_buffers.pooled_bytes() == 0


def test_from_numpy_keeps_a_copy_and_a_read_value_survives_the_reuse():
    a = np.random.default_rng(0).standard_normal(BIG).astype(np.float32)
    given = a.copy()
    t = pf.from_numpy(a)
    a += 1.0  # the leaf holds a copy: PyFlame's programs run later, on the value given
    np.testing.assert_array_equal((t * 2).numpy(), given * 2)
    read = t.numpy()  # the user's array: its memory is never handed to another leaf
    del t
    u = pf.from_numpy(np.zeros(BIG, np.float32))
    np.testing.assert_array_equal(read, given)
    np.testing.assert_array_equal((u + 1).numpy(), np.ones(BIG, np.float32))


def test_a_loop_of_big_inputs_reuses_one_buffer():
    """The benchmark's GEMV loop: a new 2 MiB input each step, the previous one dropped."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal(512).astype(np.float32)
    where = set()
    for _ in range(4):
        a = rng.standard_normal(BIG).astype(np.float32)
        leaf = pf.from_numpy(a, layout=pf.MeshLayout.grid(16, 16))
        where.add(address(leaf._data))
        np.testing.assert_allclose((leaf @ pf.from_numpy(x)).numpy(), a @ x, rtol=1e-4, atol=1e-4)
        del leaf
    assert len(where) <= 2
