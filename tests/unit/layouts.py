"""Mesh layouts the frontend tests run their programs under, for `pytest.mark.parametrize`.

A plain module (imported as `from layouts import LAYOUTS`, like `flame_reference`), not
conftest.py: pytest discourages importing conftest modules. Tests pass `ids=repr`, so a case
is named after its layout, e.g. `MeshLayout.grid(3, 3)`.
"""

from typing import Any

import pytest

import pyflame as pf

slow = pytest.mark.slow

# The default layout (None), one PE, and every kind of mesh layout: a 4x4 grid that divides
# the tests' 8x8 shapes, and 3x3 and 2x3 grids that leave padding for odd shapes.
# Three run in the slow suite only (`pytest -m slow`), each with a stand-in in the default run
# (which they made ~40% of the frontend tests' time): one PE (the default layout puts small
# tensors on one), the 4x4 grid (the row partition divides the shapes too, on one axis) and
# the 3x3 grid (2x3 pads as well, and unequally on its two axes).
LAYOUTS: list[Any] = [
    None,
    pytest.param(pf.MeshLayout.single(), marks=slow),
    pytest.param(pf.MeshLayout.grid(4, 4), marks=slow),
    pytest.param(pf.MeshLayout.grid(3, 3), marks=slow),
    pf.MeshLayout.grid(2, 3),
    pf.MeshLayout.row_partition(4),
    pf.MeshLayout.col_partition(3),
    pf.MeshLayout.replicated(2, 2),
]
