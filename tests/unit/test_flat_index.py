"""pyflame.core.flat_index: flat indices to coordinates, right past NumPy's 8,192-element
iterator buffer for index arrays whose shape ends in a size-1 axis (numpy/numpy#31980)."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

from pyflame.core.flat_index import unravel_index

REPO = Path(__file__).resolve().parents[2]


def _indices(shape: tuple[int, ...], size: int) -> np.ndarray:
    """Distinct flat indices into `size` elements, shaped `shape`, not in order (a run of
    equal coordinates would hide the bug's repeats)."""
    n = int(np.prod(shape))
    return np.random.default_rng(0).permutation(size)[:n].reshape(shape)


@pytest.mark.parametrize(
    "shape",
    [(16384, 1), (64, 256, 1), (3, 5000, 1), (1, 9000, 1, 1), (8193, 1), (128, 128), (20000,)],
)
@pytest.mark.parametrize("dims", [(64, 256), (7, 11, 300)])
def test_coordinates_of_every_index(shape, dims):
    """The coordinates by integer arithmetic, for every index: shapes ending in a size-1 axis
    of more than 8,192 elements got element 8,192's coordinates from element 8,193 on."""
    size = int(np.prod(dims))
    if int(np.prod(shape)) > size:
        pytest.skip("more indices than elements")
    idx = _indices(shape, size)
    coords = unravel_index(idx, dims)
    rest = idx.astype(np.int64)
    for d in reversed(range(len(dims))):
        assert coords[d].shape == idx.shape
        np.testing.assert_array_equal(coords[d], rest % dims[d])
        rest = rest // dims[d]


def test_a_non_contiguous_view_and_a_scalar():
    base = _indices((16384, 3), 16384 * 3)
    view = base[:, 1:2]  # (N, 1), strided
    r, c = unravel_index(view, (384, 128))
    np.testing.assert_array_equal(r * 128 + c, view)
    r, c = unravel_index(np.int64(1000), (10, 128))
    assert (int(r), int(c)) == (7, 104)


def test_pyflame_unravels_only_through_the_helper():
    """Every package of the checkout calls `unravel_index` from pyflame.core.flat_index, never
    NumPy's directly (a new direct call would bring the silent wrong coordinates back)."""
    direct = []
    for root in ("pyflame", "passes", "dialects", "tools"):
        for path in sorted((REPO / root).rglob("*.py")):
            if path == REPO / "pyflame" / "core" / "flat_index.py":
                continue
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Attribute) and node.attr == "unravel_index":
                    direct.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert not direct, f"call pyflame.core.flat_index.unravel_index instead: {direct}"
