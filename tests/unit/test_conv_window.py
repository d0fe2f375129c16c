"""pyflame/core/conv_window.py: the window properties of every conv2d, conv2d_weight_grad and
pooling op of the three dialects are built by one function and read by one mixin, so their
names, printed order and Python views agree at every level."""

from __future__ import annotations

import pytest
from xdsl.dialects import test
from xdsl.dialects.builtin import DenseArrayBase, IntegerAttr, TensorType, f32, i64
from xdsl.ir import SSAValue
from xdsl.utils.exceptions import VerifyException

from pyflame.core.conv_window import WindowAccess, ints, window_properties
from pyflame.core.distribution import Distribution
from pyflame.core.reductions import PoolKind
from pyflame.dialects import flame, mesh, pe


def value(typ) -> SSAValue:
    return test.TestOp(result_types=[typ]).results[0]


def buf(size: int) -> SSAValue:
    return value(pe.BufferType(size, f32))


def test_window_properties_in_printed_order_absent_ones_left_out() -> None:
    props = window_properties(
        kernel=(3, 2), stride=(2, 1), padding=(1, 0, 2, 1), dilation=(1, 3), groups=4
    )
    assert list(props) == ["kernel", "stride", "padding", "dilation", "groups"]
    assert all(isinstance(props[k], DenseArrayBase) for k in list(props)[:4])
    assert ints(props["padding"]) == (1, 0, 2, 1)  # type: ignore[arg-type]
    assert props["groups"] == IntegerAttr(4, i64)
    assert list(window_properties(stride=(1, 1), dilation=(2, 2))) == ["stride", "dilation"]


def test_flame_ops_read_their_window_the_same_way() -> None:
    x = value(TensorType(f32, (2, 6, 9, 7)))
    w = value(TensorType(f32, (4, 3, 3, 2)))
    conv = flame.Conv2dOp(x, w, None, (2, 1), (1, 1, 0, 1), (1, 2), groups=2)
    assert isinstance(conv, WindowAccess)
    # flame.conv2d's kernel is its weight's last two dims (not a property)
    assert conv.spatial() == ((3, 2), (2, 1), (1, 1, 0, 1), (1, 2))
    assert conv.group_count == 2
    assert "kernel" not in conv.properties
    dy = value(conv.result.type)
    grad = flame.Conv2dWeightGradOp(x, dy, (3, 2), (2, 1), (1, 1, 0, 1), (1, 2), groups=2)
    assert grad.spatial() == conv.spatial() and grad.group_count == 2
    pool = flame.MaxPool2dOp(x, (2, 3), (2, 2), (0, 1, 1, 0))
    assert pool.spatial() == ((2, 3), (2, 2), (0, 1, 1, 0), (1, 1))
    assert list(pool.properties) == ["kernel", "stride", "padding", "dilation"]


def test_mesh_ops_read_their_window_the_same_way() -> None:
    grid = (2, 2)
    x = value(mesh.MeshTensorType(Distribution((1, 4, 8, 8), grid, ("", "", "r", "c")), f32))
    w = value(mesh.MeshTensorType(Distribution((6, 2, 3, 3), grid, ("",) * 4), f32))
    out = Distribution((1, 6, 8, 8), grid, ("", "", "r", "c"))
    conv = mesh.Conv2dOp(x, w, None, (1, 1), (1, 1, 1, 1), (1, 1), 2, out)
    assert conv.spatial() == ((3, 3), (1, 1), (1, 1, 1, 1), (1, 1))
    assert conv.group_count == 2
    assert list(conv.properties) == ["stride", "padding", "dilation", "groups"]
    conv.verify()
    dy = value(mesh.MeshTensorType(out, f32))
    grad = mesh.Conv2dWeightGradOp(x, dy, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 2, False)
    assert grad.spatial() == conv.spatial() and grad.weight_shape == (6, 2, 3, 3)
    grad.verify()
    # the weight gradient's halo is the conv's: windows at the output gradient's positions
    assert grad.axes() == conv.axes()


def test_pe_ops_read_their_window_without_padding() -> None:
    window = dict(in_shape=(1, 4, 6, 10), out_shape=(1, 6, 4, 4), kernel=(3, 3))
    window |= dict(stride=(1, 2), dilation=(1, 1))
    conv = pe.Conv2dOp(buf(16 * 6), buf(240), buf(6 * 2 * 9), groups=2, pes=(0, 0, 1, 1), **window)
    conv.verify()
    assert (conv.kernel_pair, conv.stride_pair, conv.dilation_pair) == ((3, 3), (1, 2), (1, 1))
    assert conv.group_count == 2
    assert list(conv.properties) == [
        "pes",
        "in_shape",
        "out_shape",
        "kernel",
        "stride",
        "dilation",
        "groups",
    ]
    grad = pe.Conv2dWeightGradOp(
        buf(6 * 2 * 9), buf(240), buf(16 * 6), groups=2, pes=(0, 0, 1, 1), **window
    )
    grad.verify()
    with pytest.raises(VerifyException, match="conv2d_weight_grad dw must hold 108 elements"):
        pe.Conv2dWeightGradOp(
            buf(6 * 4 * 9), buf(240), buf(16 * 6), groups=2, pes=(0, 0, 1, 1), **window
        ).verify()


def test_pe_pool2d_refuses_an_empty_kernel() -> None:
    window = dict(in_shape=(1, 1, 4, 4), out_shape=(1, 1, 4, 4), kernel=(0, 1))
    window |= dict(stride=(1, 1), dilation=(1, 1))
    pool = pe.Pool2dOp(PoolKind.MAX, buf(16), buf(16), pes=(0, 0, 1, 1), **window)
    with pytest.raises(VerifyException, match="kernel"):
        pool.verify()
