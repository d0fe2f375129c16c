"""rows_at (pyflame/nn/row_runs.py): x's rows at a constant index read by phases of slices
when the index steps evenly but at its ends, else by index_select; against numpy's `take`
for the indices resizing makes (clamped ends, PyTorch's i0 + 1 past a clamped source) and
for indices without that form, under two layouts."""

from __future__ import annotations

import numpy as np
import pytest

import pyflame as pf
from pyflame.nn import row_runs

pytestmark = pytest.mark.usefixtures("small_target")

INDICES = {
    "twice": (6, [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5]),
    "linear_2x_i1": (5, [1, 1, 1, 2, 2, 3, 3, 4, 4, 4]),  # i0 + 1 past a clamped source
    "cubic_clamped": (5, [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4]),
    "halved": (8, [1, 3, 5, 7]),
    "three_fifths": (5, [0, 1, 3]),
    "one_row_phases": (7, [3, 0, 6]),
    "unordered": (9, [4, 1, 7, 0, 8, 2, 6, 3, 5, 4, 0]),  # 11 phases: index_select
}


@pytest.mark.parametrize("layout", [None, pf.MeshLayout.grid(2, 3)], ids=repr)
def test_rows_at_matches_numpy_take(layout):
    outs, wants = [], []
    for n, index in INDICES.values():
        a = np.arange(3 * n * 4, dtype=np.float32).reshape(3, n, 4) * 0.5 - 7
        x = pf.from_numpy(a, layout=layout)
        outs.append(row_runs.rows_at(x, 1, np.array(index)))
        wants.append(np.take(a, index, axis=1))
    pf.eval(*outs)
    for name, got, want in zip(INDICES, outs, wants, strict=True):
        np.testing.assert_array_equal(got.numpy(), want, err_msg=name)


def test_evenly_stepping_indices_read_slices_and_others_rows():
    for name in ("twice", "linear_2x_i1", "halved"):
        n, index = INDICES[name]
        parts = row_runs.phases(pf.zeros(3, n, 4), 1, np.array(index))
        assert parts is not None, name
        text = pf.ir(row_runs.rows_at(pf.zeros(3, n, 4), 1, np.array(index)), stage="flame")
        assert "flame.gather_rows" not in text, name
    unordered = np.array(INDICES["unordered"][1])  # 11 phases
    assert row_runs.phases(pf.zeros(3, 9, 4), 1, unordered) is None
    text = pf.ir(row_runs.rows_at(pf.zeros(3, 9, 4), 1, unordered), stage="flame")
    assert "flame.gather_rows" in text
