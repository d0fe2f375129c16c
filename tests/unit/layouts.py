"""Mesh layouts the frontend tests run their programs under, for `pytest.mark.parametrize`.

A plain module (imported as `from layouts import LAYOUTS`, like `flame_reference`), not
conftest.py: pytest discourages importing conftest modules. Tests pass `ids=repr`, so a case
is named after its layout, e.g. `MeshLayout.grid(3, 3)`.
"""

import pyflame as pf

# The default layout (None), one PE, and every kind of mesh layout: a 4x4 grid that divides
# the tests' 8x8 shapes, and 3x3 and 2x3 grids that leave padding for odd shapes.
LAYOUTS: list[pf.MeshLayout | None] = [
    None,
    pf.MeshLayout.single(),
    pf.MeshLayout.grid(4, 4),
    pf.MeshLayout.grid(3, 3),
    pf.MeshLayout.grid(2, 3),
    pf.MeshLayout.row_partition(4),
    pf.MeshLayout.col_partition(3),
    pf.MeshLayout.replicated(2, 2),
]
