"""pyflame/tensor_methods.py: Tensor's op methods call the pf function of the same name, and a
method whose module is not loaded yet says which one to import."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import pyflame as pf
from pyflame.core import elementwise
from pyflame.tensor_methods import OpMethods

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", sorted(elementwise.UNARY))
def test_every_unary_elementwise_function_is_a_method(name):
    x = pf.from_numpy(np.array([1.0, 4.0], np.float32))
    if name == "logical_not":
        x = x > 2
    if elementwise.UNARY[name].operands == "int":
        x = x.int()
    assert name in vars(OpMethods)
    out = getattr(x, name)()
    if name == "signbit":  # flame.signbit gives 1 or 0 in x's dtype; x.signbit() is that != 0
        assert out.op_name == "flame.ne"
        out = out.inputs[0]
    assert out.op_name == f"flame.{name}"


@pytest.mark.parametrize("name", sorted(elementwise.BINARY))
def test_every_binary_elementwise_function_is_a_method(name):
    x = pf.from_numpy(np.array([1.0, 4.0], np.float32))
    y = pf.from_numpy(np.array([2.0, 3.0], np.float32))
    if name.startswith("logical_"):
        x, y = x > 2, y > 2
    if elementwise.BINARY[name].operands == "int":
        x, y = x.int(), y.int()
    assert name in vars(OpMethods)
    assert getattr(x, name)(y).op_name == f"flame.{name}"


def test_reduction_and_shape_methods_compute_what_the_functions_do():
    data = np.array([[1.0, 5.0, 2.0], [7.0, 0.0, 3.0]], np.float32)
    x = pf.from_numpy(data)
    values, indices = x.max(1)
    np.testing.assert_array_equal(values.numpy(), [5.0, 7.0])
    np.testing.assert_array_equal(indices.numpy(), [1, 0])
    np.testing.assert_allclose(x.softmax(1).numpy(), pf.softmax(x, 1).numpy(), rtol=1e-6)
    np.testing.assert_array_equal(x.argmin(0).numpy(), [0, 1, 0])
    np.testing.assert_array_equal(x.reshape(3, 2).T.numpy(), data.reshape(3, 2).T)
    np.testing.assert_array_equal(x[1, ::2].numpy(), [7.0, 3.0])
    np.testing.assert_array_equal(x.clamp(1.0, 4.0).int().numpy(), [[1, 4, 2], [4, 1, 3]])


def test_a_method_whose_module_is_not_loaded_names_it():
    code = (
        "import numpy as np\n"
        "from pyflame.lazy_tensor import Tensor\n"
        "t = Tensor((2,), data=np.zeros(2, np.float32))\n"
        "try:\n"
        "    t + 1\n"
        "except RuntimeError as err:\n"
        "    print(err)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout
    assert "pf.Tensor needs pyflame.ops.binary, which is not loaded yet: import pyflame.ops" in out


def test_to_takes_torchs_overloads_and_type_as():
    # session 23: x.to("cuda"), x.to(other), x.to(device, dtype), copy= were TypeErrors (or a
    # numpy message for a tensor); a device changes nothing, as Module.to(device)
    torch = pytest.importorskip("torch")
    a = np.array([1.5, -2.5, 7.0], np.float32)
    k = np.array([1, 2], np.int32)
    x, t = pf.from_numpy(a), torch.from_numpy(a.copy())
    other, tother = pf.from_numpy(k), torch.from_numpy(k.copy())
    cases = [
        (("cpu",), {}, ("cpu",), {}),
        (("cuda:0",), {}, ("cpu",), {}),  # no CUDA here: torch's own run stays on the cpu
        ((), {"device": "cpu"}, (), {"device": "cpu"}),
        (("cpu", pf.float16), {}, ("cpu", torch.float16), {}),
        ((pf.int32,), {"copy": True}, (torch.int32,), {"copy": True}),
        ((), {"dtype": pf.float16, "non_blocking": True}, (), {"dtype": torch.float16}),
        ((other,), {}, (tother,), {}),
    ]
    for args, kwargs, targs, tkwargs in cases:
        got, want = x.to(*args, **kwargs), t.to(*targs, **tkwargs)
        assert repr(got.dtype).removeprefix("pf.") == str(want.dtype).removeprefix("torch.")
        np.testing.assert_array_equal(got.numpy(), want.numpy())
    assert x.to("cpu") is x and x.to(pf.float32) is x  # no change: x itself, as torch's
    copied = x.to(pf.float32, copy=True)
    assert copied is not x
    np.testing.assert_array_equal(x.type_as(other).numpy(), t.type_as(tother).numpy())
    with pytest.raises(TypeError, match="unexpected keyword argument 'foo'"):
        x.to(foo=1)
    assert x.cpu() is x  # x.detach().cpu().numpy(), as Module.cpu()
    np.testing.assert_array_equal(x.detach().cpu().numpy(), t.detach().cpu().numpy())


def test_new_zeros_ones_full_view_as_reshape_as_match_torch():
    torch = pytest.importorskip("torch")
    a = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    k = np.array([3, -4, 0], np.int32)
    x, t, i, u = pf.from_numpy(a), torch.from_numpy(a.copy()), pf.from_numpy(k), torch.from_numpy(k)
    pairs = [
        (i.new_zeros(2, 3), u.new_zeros(2, 3)),
        (x.new_ones((2,)), t.new_ones((2,))),
        (i.new_full((2,), 2.9), u.new_full((2,), 2.9)),
        (x.new_zeros([3], dtype=pf.int32), t.new_zeros([3], dtype=torch.int32)),
        (x.view_as(pf.from_numpy(a.reshape(4, 6))), t.view_as(t.reshape(4, 6))),
        (x.mT.reshape_as(x.reshape(24)), t.mT.reshape_as(t.reshape(24))),
    ]
    for ours, theirs in pairs:
        assert repr(ours.dtype).removeprefix("pf.") == str(theirs.dtype).removeprefix("torch.")
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


# --------------------------------------------------------------------------- session 23 names


def _torch():
    return pytest.importorskip("torch")


def _pair(seed: int, shape=(3, 5)):
    torch = _torch()
    a = np.random.default_rng(seed).standard_normal(shape).astype(np.float32) * 3
    a[0, :2] = [0.0, -0.0]
    return a, pf.from_numpy(a), torch.from_numpy(a.copy())


def test_clip_frac_and_count_nonzero_as_torch():
    torch = _torch()
    a, x, t = _pair(1)
    assert pf.clip(x, -1.5, 2.0).numpy().tobytes() == torch.clip(t, -1.5, 2.0).numpy().tobytes()
    assert x.frac().numpy().tobytes() == t.frac().numpy().tobytes()
    assert pf.frac(x).numpy().tobytes() == torch.frac(t).numpy().tobytes()
    with pytest.raises(RuntimeError, match="frac is not implemented"):
        pf.frac(pf.from_numpy(np.array([1, 2], np.int32)))
    for dim in (None, 0, 1, (0, 1)):
        want = torch.count_nonzero(t, dim).numpy()
        np.testing.assert_array_equal(pf.count_nonzero(x, dim).numpy(), want)
    assert x.count_nonzero().dtype is pf.int32


@pytest.mark.parametrize("weight", [0.0, 0.3, 0.5, 0.7, 1.0, -0.25, 1.5, "tensor"])
def test_lerp_as_torch(weight):
    """PyTorch's two forms (from start below 0.5, from end above): the ends exactly (weight 0
    gives start, 1 gives end); elsewhere within an ulp (torch's CPU kernel fuses the multiply
    and add: one rounding where the machine's vector ops round twice)."""
    torch = _torch()
    a, x, t = _pair(2)
    b, y, u = _pair(3)
    if weight == "tensor":
        w = np.random.default_rng(4).uniform(-0.5, 1.5, a.shape).astype(np.float32)
        got, want = pf.lerp(x, y, pf.from_numpy(w)), torch.lerp(t, u, torch.from_numpy(w))
    else:
        got, want = x.lerp(y, weight), t.lerp(u, weight)
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=3e-7, atol=1e-6)
    if weight in (0.0, 1.0):  # (-0.0 + 0 * diff is +0.0 in both)
        assert got.numpy().tobytes() == want.numpy().tobytes()


def test_tile_and_unbind_as_torch():
    torch = _torch()
    a, x, t = _pair(5)
    for dims in ((2,), (2, 1), (1, 3, 2), 3):
        got = pf.tile(x, dims) if isinstance(dims, int) else x.tile(*dims)
        want = torch.tile(t, (dims,) if isinstance(dims, int) else dims)
        np.testing.assert_array_equal(got.numpy(), want.numpy())
    for dim in (0, 1, -1):
        got, want = pf.unbind(x, dim), torch.unbind(t, dim)
        assert len(got) == len(want)
        for g, w in zip(got, want, strict=True):
            np.testing.assert_array_equal(g.numpy(), w.numpy())
    with pytest.raises(pf.ShapeError, match="unbind"):
        pf.unbind(pf.from_numpy(np.float32(1.0)))


def test_dot_and_mv_as_torch():
    torch = _torch()
    a, x, t = _pair(6, (4, 7))
    v = np.random.default_rng(7).standard_normal(7).astype(np.float32)
    np.testing.assert_allclose(
        pf.dot(pf.from_numpy(v), pf.from_numpy(v)).numpy(),
        torch.dot(torch.from_numpy(v), torch.from_numpy(v)).numpy(),
        rtol=1e-6,
    )
    np.testing.assert_allclose(
        x.mv(pf.from_numpy(v)).numpy(), t.mv(torch.from_numpy(v)).numpy(), rtol=1e-5, atol=1e-5
    )
    with pytest.raises(pf.ShapeError, match="dot: 1D tensors expected"):
        pf.dot(x, pf.from_numpy(v))
    with pytest.raises(pf.ShapeError, match="inconsistent tensor size"):
        pf.dot(pf.from_numpy(v), pf.from_numpy(v[:3]))
    with pytest.raises(pf.ShapeError, match="mv"):
        pf.mv(pf.from_numpy(v), pf.from_numpy(v))
