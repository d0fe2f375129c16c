"""The lazy Tensor and the op builders (pyflame/lazy_tensor.py, ops.py, dtypes.py, random.py)."""

from __future__ import annotations

import copy
import pickle
import sys
import tracemalloc

import ml_dtypes
import numpy as np
import pytest
from flame_reference import FakeCompiler
from xdsl.dialects.builtin import bf16, f16, f32, i1, i32

import pyflame as pf
from pyflame.dialects import flame


def here() -> int:
    """The caller's line number."""
    return sys._getframe(1).f_lineno


def arange(*shape: int, dtype=np.float32) -> np.ndarray:
    return np.arange(int(np.prod(shape)), dtype=dtype).reshape(shape) - 3


# ----------------------------------------------------------------------------- nodes


def test_building_a_node_is_lazy_and_instant() -> None:
    # lazy: no 1.6 GB of values made (measured in bytes allocated, not in seconds: a first
    # call's imports and a loaded host make a time bound flaky)
    tracemalloc.start()
    try:
        x = pf.randn([20000, 20000])
        line = here() - 1
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 << 20  # (a first call imports modules: a few MB)
    assert x.shape == (20000, 20000)
    assert x.size() == (20000, 20000) and x.size(-1) == 20000
    assert x.dim() == 2 and x.ndim == 2 and len(x) == 20000 and x.numel() == 20000**2
    assert x.dtype is pf.float32
    assert x.layout is None
    assert x.op is flame.RandomNormalOp and x.op_name == "flame.random_normal" and x.inputs == ()
    assert 0 <= x.attrs["seed"] < 2**31
    assert x.location == (__file__, line)
    assert not x.is_evaluated
    assert x.requires_grad is False and x.grad is None
    x.requires_grad = True
    assert x.requires_grad


def test_new_node_sets_what_tensor_init_sets() -> None:
    """`ops._node` makes its tensors with `lazy_tensor.new_node` (no class call): the same
    attributes, values and order as `Tensor(...)` (a field added to one must go to both)."""
    from pyflame.lazy_tensor import Tensor, new_node

    x = pf.zeros(2, 3)
    layout = pf.MeshLayout.grid(1, 1)
    args = ((2, 3), pf.float32, flame.AddOp, (x, x), {"k": 1}, layout, ("f.py", 3))
    made = new_node(*args)
    called = Tensor(*args[:5], layout=args[5], location=args[6])
    assert type(made) is Tensor
    assert list(vars(made)) == list(vars(called))
    for name, value in vars(called).items():
        if name == "_version_counter":  # (each tensor its own)
            assert type(vars(made)[name]) is type(value) and vars(made)[name] is not value
        else:
            assert vars(made)[name] == value, name
    assert made.attrs is not args[4]  # a copy, as Tensor's


def test_shape_argument_forms() -> None:
    assert pf.randn(2, 3).shape == (2, 3)
    assert pf.randn((2, 3)).shape == (2, 3)
    assert pf.zeros([4]).shape == (4,)
    assert pf.ones(np.int64(3), 2).shape == (3, 2)
    assert pf.full([2, 2], 7.0).attrs == {"value": 7.0}
    with pytest.raises(TypeError, match="sizes must be ints"):
        pf.randn(2.5, 3)


def test_node_records_op_inputs_attrs() -> None:
    a, b = pf.randn(3, 4), pf.randn(4, 5)
    c = a @ b
    assert c.op_name == "flame.matmul" and c.inputs == (a, b) and c.shape == (3, 5)
    s = c.sum(dim=-1, keepdim=True)
    assert s.op_name == "flame.reduce_sum" and s.attrs == {"dims": (1,), "keepdim": True}
    assert s.shape == (3, 1)
    m = pf.mean(c, dim=(1, 0))
    assert m.attrs == {"dims": (0, 1), "keepdim": False} and m.shape == ()
    t = c.transpose(0, 1)
    assert t.op_name == "flame.transpose" and t.attrs == {"perm": (1, 0)} and t.shape == (5, 3)
    assert c.T.shape == (5, 3) and c.T.attrs == {"perm": (1, 0)}
    r = c.reshape(-1)
    assert r.op_name == "flame.reshape" and r.shape == (15,)
    assert c.view(5, -1).shape == (5, 3) and c.view([1, 15]).shape == (1, 15)
    assert (-c).op_name == "flame.neg" and c.relu().op_name == "flame.relu"
    assert pf.relu(c).op_name == "flame.relu"


def test_layout_is_kept_only_where_given() -> None:
    grid = pf.MeshLayout.grid(2, 2)
    x = pf.randn([8, 8], layout=grid)
    assert x.layout == grid
    assert (x + x).layout is None
    assert pf.zeros([4], layout=pf.MeshLayout.single()).layout == pf.MeshLayout.single()
    with pytest.raises(TypeError, match="MeshLayout"):
        pf.randn([4], layout="grid")


def test_scalar_operands_become_fills() -> None:
    x = pf.randn(2, 3)
    for expr, op, scalar_side in [
        (x + 1, "flame.add", 1),
        (2 - x, "flame.sub", 0),
        (x * 3, "flame.mul", 1),
        (1 / x, "flame.div", 0),
        (2.5 + x, "flame.add", 0),
    ]:
        assert expr.op_name == op
        fill = expr.inputs[scalar_side]
        assert fill.op_name == "flame.fill" and fill.shape == ()  # rank-0: one element per PE
        assert expr.inputs[1 - scalar_side] is x and expr.shape == (2, 3)


# ----------------------------------------------------------------------------- errors


def test_shape_error_names_shapes_and_user_line() -> None:
    x, y = pf.randn(2, 3), pf.randn(3, 2)
    with pytest.raises(pf.ShapeError) as err:
        x + y
    line = here() - 1
    message = str(err.value)
    assert f"{__file__}:{line}" in message
    assert "[2, 3]" in message and "[3, 2]" in message
    assert isinstance(err.value, ValueError)
    # raised while building the node, at the user's line (not later, at pf.eval)
    assert any(str(e.path) == __file__ and e.lineno + 1 == line for e in err.traceback)


@pytest.mark.parametrize(
    "build, words",
    [
        (lambda x: x @ x, ["matmul", "[2, 3]", "3 != 2"]),
        (lambda x: x.reshape(4, 2), ["reshape", "[2, 3]"]),
        (lambda x: x.sum(dim=2), ["out of range"]),
        (lambda x: x.transpose(0, 5), ["out of range"]),
        (lambda x: x * pf.randn(2), ["[2, 3]", "[2]", "broadcast"]),
        (lambda x: pf.where(x > 0, x, pf.randn(4, 1)), ["[2, 3]", "[4, 1]", "broadcast"]),
    ],
)
def test_shape_errors(build, words) -> None:
    x = pf.randn(2, 3)
    with pytest.raises(pf.ShapeError) as err:
        build(x)
    assert __file__ in str(err.value)
    for word in words:
        assert word in str(err.value)


def test_unsupported_operands() -> None:
    x = pf.randn(2)
    with pytest.raises(TypeError):
        x + "a"
    with pytest.raises(TypeError):
        x @ 3
    with pytest.raises(RuntimeError, match="mean\\(\\): could not infer output dtype"):
        pf.zeros(2, dtype=pf.int32).mean()
    with pytest.raises(NotImplementedError, match="bitwise_and is not implemented for pf.float32"):
        pf.zeros(2) & pf.zeros(2)
    with pytest.raises(TypeError, match="condition must be a bool"):
        pf.where(x, x, x)
    with pytest.raises(TypeError, match="floating-point"):
        pf.randn(2, dtype=pf.int32)


# ----------------------------------------------------------------------------- dtypes


def test_dtypes() -> None:
    table = [
        (pf.float32, np.float32, f32, "pf.float32"),
        (pf.float16, np.float16, f16, "pf.float16"),
        (pf.bfloat16, ml_dtypes.bfloat16, bf16, "pf.bfloat16"),
        (pf.int32, np.int32, i32, "pf.int32"),
        (pf.bool, np.bool_, i1, "pf.bool"),
    ]
    for dtype, numpy_dtype, mlir, text in table:
        assert dtype.numpy == np.dtype(numpy_dtype)
        assert dtype.mlir == mlir
        assert repr(dtype) == text
        assert copy.deepcopy(dtype) is dtype and pickle.loads(pickle.dumps(dtype)) is dtype
    assert pf.float32.is_floating_point and not pf.int32.is_floating_point
    assert pf.zeros(2, dtype=pf.bfloat16).dtype is pf.bfloat16


def test_from_numpy_keeps_dtype_and_copies() -> None:
    for np_dtype, dtype in [
        (np.float32, pf.float32),
        (np.float16, pf.float16),
        (ml_dtypes.bfloat16, pf.bfloat16),
        (np.int32, pf.int32),
        (np.bool_, pf.bool),
    ]:
        a = np.ones((2, 3), dtype=np_dtype)
        t = pf.from_numpy(a)
        assert t.dtype is dtype and t.shape == (2, 3) and t.is_evaluated and t.op is None
        a[0, 0] = 0
        assert t.numpy()[0, 0] == 1  # a copy


def test_from_numpy_int64() -> None:
    t = pf.from_numpy(np.array([1, -5, 2**31 - 1], dtype=np.int64))
    assert t.dtype is pf.int32 and t.numpy().dtype == np.int32
    assert t.numpy().tolist() == [1, -5, 2**31 - 1]
    assert pf.from_numpy(np.array(7, dtype=np.int64)).item() == 7  # num_batches_tracked
    line = sys._getframe().f_lineno + 2  # the user's line, as an OverflowError (issue 8)
    with pytest.raises(pf.IntegerOverflowError, match=rf"test_lazy_tensor.py:{line}: .*do not fit"):
        pf.from_numpy(np.array([2**31], dtype=np.int64))


def test_from_numpy_rejects() -> None:
    with pytest.raises(TypeError, match=r"astype\(np.float32\)"):
        pf.from_numpy(np.zeros(3))
    with pytest.raises(TypeError, match="complex"):
        pf.from_numpy(np.zeros(3, dtype=np.complex64))
    with pytest.raises(TypeError, match="numpy array"):
        pf.from_numpy([1.0, 2.0])


# ----------------------------------------------------------------------------- evaluation


def test_eval_computes_and_drops_graph(fake: FakeCompiler) -> None:
    a_np, b_np = arange(3, 4), arange(4, 2)
    a, b = pf.from_numpy(a_np), pf.from_numpy(b_np)
    c = pf.relu(a @ b) + 1
    d = (2 - c) / 4
    assert pf.eval(c, d) == (c, d)
    np.testing.assert_allclose(c.numpy(), np.maximum(a_np @ b_np, 0) + 1)
    np.testing.assert_allclose(d.numpy(), (2 - (np.maximum(a_np @ b_np, 0) + 1)) / 4)
    for t in (c, d):
        assert t.is_evaluated and t.op is None and t.inputs == () and t.attrs == {}
    assert fake.compiles == 1
    pf.eval(c)  # already evaluated: nothing to do
    assert fake.compiles == 1 and fake.programs[0].runs == 1
    e = c * 2  # an evaluated tensor is a runtime input of later graphs
    np.testing.assert_allclose(e.numpy(), c.numpy() * 2)
    assert fake.modules[-1].body.block.first_op.body.block.args[0].name_hint == "x0"


def test_ops_numerics(fake: FakeCompiler) -> None:
    x_np = arange(2, 3, 4)
    x = pf.from_numpy(x_np)
    checks = [
        (x.sum(), x_np.sum()),
        (x.sum(dim=1), x_np.sum(1)),
        (pf.sum(x, dim=(0, -1), keepdim=True), x_np.sum((0, 2), keepdims=True)),
        (x.mean(dim=-1), x_np.mean(-1)),
        (pf.mean(x), x_np.mean()),
        (x.transpose(0, 2), x_np.transpose(2, 1, 0)),
        (x.permute(1, 2, 0), x_np.transpose(1, 2, 0)),
        (x.reshape(4, -1), x_np.reshape(4, -1)),
        (-x, -x_np),
        (x.relu(), np.maximum(x_np, 0)),
        (1 / (x * x + 1), 1 / (x_np * x_np + 1)),
        (x - 2, x_np - 2),
        (pf.zeros_like(x) + pf.ones_like(x), np.ones_like(x_np)),
        (pf.full_like(x, 2.5), np.full_like(x_np, 2.5)),
        (pf.full([2], 3.0), np.full([2], 3.0)),
    ]
    pf.eval(*(t for t, _ in checks))
    for t, expected in checks:
        np.testing.assert_allclose(t.numpy(), expected, rtol=1e-6)
    assert fake.compiles == 1


def test_implicit_eval(fake: FakeCompiler) -> None:
    x = pf.from_numpy(np.array([[1.0, 2.0], [3.0, 4.0]], dtype=np.float32))
    s = x.sum()
    assert float(s) == 10.0 and s.item() == 10.0 and int(s) == 10
    assert bool(pf.from_numpy(np.array([1.0], np.float32)) - 1) is False
    with pytest.raises(ValueError, match="ambiguous"):
        bool(x + 0)
    with pytest.raises(ValueError, match="4 elements"):
        (x + 0).item()
    y = x * 2
    arr = np.asarray(y)
    assert isinstance(arr, np.ndarray) and arr.tolist() == [[2, 4], [6, 8]]
    assert np.asarray(x * 1, dtype=np.float64).dtype == np.float64
    assert f"{x.mean():.2f}" == "2.50"
    assert (x - 1).tolist() == [[0, 1], [2, 3]]


def test_repr_and_print(fake: FakeCompiler, capsys: pytest.CaptureFixture[str]) -> None:
    x = pf.randn([4, 4], layout=pf.MeshLayout.grid(2, 2))
    assert repr(x) == (
        "tensor(<lazy> shape=[4, 4], dtype=pf.float32, layout=MeshLayout.grid(2, 2))"
    )
    assert repr(pf.zeros(3)) == "tensor(<lazy> shape=[3], dtype=pf.float32, layout=auto)"
    assert fake.compiles == 0  # repr never evaluates
    y = pf.from_numpy(np.array([[1.0, 2.0], [3.0, 4.0]], dtype=np.float32))
    assert repr(y) == "tensor([[1., 2.],\n        [3., 4.]])"
    assert repr(pf.from_numpy(np.array([1.5, 2.0], np.float32))) == "tensor([1.5000, 2.0000])"
    assert repr(pf.from_numpy(np.array(3.0, np.float32))) == "tensor(3.)"
    assert repr(pf.from_numpy(np.array([1, 2], np.int32))) == "tensor([1, 2], dtype=pf.int32)"
    assert repr(pf.from_numpy(np.array([True]))) == "tensor([ True])"
    z = y + 1
    print(z)
    assert capsys.readouterr().out == "tensor([[2., 3.],\n        [4., 5.]])\n"
    assert z.is_evaluated


# ----------------------------------------------------------------------------- random


def test_random_seeds_drawn_at_build() -> None:
    pf.manual_seed(123)
    a, b = pf.randn(3), pf.randn_like(pf.zeros(3))
    assert a.attrs["seed"] != b.attrs["seed"]
    pf.manual_seed(123)
    assert pf.randn(3).attrs["seed"] == a.attrs["seed"]
    assert pf.randn(3).attrs["seed"] == b.attrs["seed"]
    pf.manual_seed(-1)  # any int, as in torch


def test_random_values(fake: FakeCompiler) -> None:
    pf.manual_seed(0)
    a, b = pf.randn(1000), pf.randn(1000)
    pf.eval(a, b)
    assert not np.allclose(a.numpy(), b.numpy())
    assert abs(float(a.numpy().std()) - 1) < 0.1
    pf.manual_seed(0)
    c = pf.randn(1000)
    np.testing.assert_array_equal(c.numpy(), a.numpy())
    assert fake.compiles == 2  # (a, b) and (c): different structures


def test_deep_graph_no_recursion_limit(fake: FakeCompiler) -> None:
    x = pf.zeros(2)
    for _ in range(5000):
        x = x + 1
    np.testing.assert_allclose(x.numpy(), [5000, 5000])
