"""Rebased views (pyflame/sim/rebased_views.py): a view recorded on one array is the same view
of another array laid out alike, wherever its memory is."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.lib.stride_tricks import as_strided

from pyflame.sim.rebased_views import layout_of, rebased_view


def _planes(seed: int) -> np.ndarray:
    """(rows, cols, lanes) tiles held lane-major, as a device array's: a transposed view."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal((52, 6, 5)).astype(np.float32).transpose(1, 2, 0)


@pytest.mark.parametrize(
    "derive",
    [
        lambda t: t[2:5, 1:4, 13:26],  # a block of tiles
        lambda t: t[1, :, ::2],  # every other lane of one PE row
        lambda t: t.transpose(1, 0, 2)[3:, :, 4:10].reshape(2, 6, 2, 3),  # grid transposed
        lambda t: as_strided(t[0, 2], (3, 4), (t.strides[0], t.strides[2])),  # stacked rows
    ],
)
def test_a_view_made_on_another_array_alike_holds_that_arrays_elements(derive):
    first, second = _planes(1), _planes(2)
    assert layout_of(first) == layout_of(second)
    view = derive(first)
    recorded = rebased_view(view, [np.zeros(3, np.float32), first])
    assert recorded is not None and recorded.base == 1
    np.testing.assert_array_equal(recorded.on(first), view)
    # the same elements of the other array: found by their positions, not by memory
    at = {float(v): idx for idx, v in np.ndenumerate(first)}
    want = np.vectorize(lambda v: second[at[float(v)]])(view).astype(np.float32)
    np.testing.assert_array_equal(recorded.on(second), want)
    assert not recorded.on(second).flags.writeable


def test_a_broadcast_array_places_a_view_at_its_first_copy():
    """Replicated tiles are one copy broadcast over the PE rows (stride 0)."""
    one = np.arange(24, dtype=np.float32).reshape(1, 4, 6)
    tiles = np.broadcast_to(one, (5, 4, 6))
    recorded = rebased_view(tiles[3, 1:3, 2:], [tiles])
    assert recorded is not None and recorded.start == (0, 1, 2)
    other = np.broadcast_to(one + 100, (5, 4, 6))
    np.testing.assert_array_equal(recorded.on(other), one[0, 1:3, 2:] + 100)


def test_a_view_of_other_memory_is_not_recorded():
    tiles = _planes(3)
    assert rebased_view(np.zeros((2, 2), np.float32), [tiles]) is None
    backwards = np.arange(10, dtype=np.float32)[::-1]  # (negative strides: no index found)
    assert rebased_view(backwards[2:5], [backwards]) is None
