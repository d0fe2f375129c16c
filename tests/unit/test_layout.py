"""pf.MeshLayout (pyflame/layout.py)."""

from __future__ import annotations

import pickle

import pytest
from xdsl.parser import Parser

import pyflame as pf
from pyflame.compiler import make_context
from pyflame.dialects.flame import LayoutAttr
from pyflame.layout import KINDS

ALL = [
    (pf.MeshLayout.grid(8, 8), "MeshLayout.grid(8, 8)", "grid", (8, 8)),
    (pf.MeshLayout.row_partition(16), "MeshLayout.row_partition(16)", "row_partition", (16,)),
    (pf.MeshLayout.col_partition(4), "MeshLayout.col_partition(4)", "col_partition", (4,)),
    (pf.MeshLayout.replicated(2, 3), "MeshLayout.replicated(2, 3)", "replicated", (2, 3)),
    (pf.MeshLayout.single(), "MeshLayout.single()", "single", ()),
]


@pytest.mark.parametrize("layout, text, kind, sizes", ALL)
def test_constructors(layout: pf.MeshLayout, text: str, kind: str, sizes: tuple) -> None:
    assert repr(layout) == text
    assert layout.kind == kind and layout.sizes == sizes
    assert eval(text, {"MeshLayout": pf.MeshLayout}) == layout  # the repr is code
    assert pickle.loads(pickle.dumps(layout)) == layout


@pytest.mark.parametrize("layout, text, kind, sizes", ALL)
def test_attr_round_trip(layout: pf.MeshLayout, text: str, kind: str, sizes: tuple) -> None:
    attr = layout.to_attr()
    assert isinstance(attr, LayoutAttr)
    attr.verify()
    assert attr.kind.data == kind and attr.size_tuple == sizes
    assert pf.MeshLayout.from_attr(attr) == layout
    parsed = Parser(make_context(), str(attr)).parse_attribute()
    assert pf.MeshLayout.from_attr(parsed) == layout  # type: ignore[arg-type]


def test_kinds_match_the_dialect() -> None:
    from pyflame.dialects.flame import LAYOUT_KINDS

    assert {k: len(v) for k, v in KINDS.items()} == LAYOUT_KINDS


def test_value_semantics() -> None:
    a, b = pf.MeshLayout.grid(2, 4), pf.MeshLayout.grid(2, 4)
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    assert a != pf.MeshLayout.grid(4, 2)
    assert a != pf.MeshLayout.replicated(2, 4)
    assert a != "grid"
    assert a.num_pes == 8 and pf.MeshLayout.single().num_pes == 1
    with pytest.raises(AttributeError, match="immutable"):
        a.kind = "single"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        a._sizes = (1, 1)  # type: ignore[misc]


@pytest.mark.parametrize(
    "build, words",
    [
        (lambda: pf.MeshLayout.grid(0, 4), "rows must be a positive int"),
        (lambda: pf.MeshLayout.row_partition(-1), "n must be a positive int"),
        (lambda: pf.MeshLayout.grid(2.0, 4), "rows must be a positive int"),
        (lambda: pf.MeshLayout("diagonal"), "unknown layout kind"),
        (lambda: pf.MeshLayout("grid", (2,)), "takes 2 sizes"),
    ],
)
def test_bad_layouts(build, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        build()


def test_layout_in_ir() -> None:
    import numpy as np

    grid = pf.MeshLayout.grid(2, 2)
    x = pf.randn([8, 8], layout=grid)
    y = pf.from_numpy(np.zeros((8, 8), np.float32), layout=pf.MeshLayout.row_partition(4))
    text = pf.ir(x + y)
    assert "flame.random_normal %seed0 {layout = #flame.layout<grid [2, 2]>}" in text
    assert "%x0: tensor<8x8xf32> {flame.layout = #flame.layout<row_partition [4]>}" in text
