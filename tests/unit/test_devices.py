"""`device=` as PyTorch code passes it (pyflame/devices.py): `x.device`, `pf.device`, every
creation op's `device=` and `requires_grad=`, `x.to(device)`, `module.to(device)`. PyFlame has
one device (the wafer): a device argument changes nothing, anything else is an error."""

from __future__ import annotations

import numpy as np
import pytest

import pyflame as pf
from pyflame import nn

torch = pytest.importorskip("torch")

pytestmark = pytest.mark.usefixtures("small_target")

#: every form PyTorch code passes a device in
DEVICES = [None, "cpu", "cuda", "cuda:1", 0, "wse", pf.device("cpu"), "torch_cuda", "x.device"]


def as_device(spec, x):
    if spec == "torch_cuda":
        return torch.device("cuda", 0)  # a torch.device (made without a GPU)
    if spec == "x.device":
        return x.device
    return spec


#: creation ops, each called with extra keywords; results compared with the call without them
CREATORS = {
    "zeros": lambda **k: pf.zeros(2, 3, **k),
    "ones": lambda **k: pf.ones((2, 3), **k),
    "empty": lambda **k: pf.empty(2, 3, **k),
    "full": lambda **k: pf.full((2, 3), 1.5, **k),
    "zeros_like": lambda **k: pf.zeros_like(pf.ones(2, 3), **k),
    "ones_like": lambda **k: pf.ones_like(pf.ones(2, 3), **k),
    "empty_like": lambda **k: pf.empty_like(pf.ones(2, 3), **k),
    "full_like": lambda **k: pf.full_like(pf.ones(2, 3), 2.5, **k),
    "arange": lambda **k: pf.arange(0.0, 3.0, 0.5, **k),
    "linspace": lambda **k: pf.linspace(0, 1, 5, **k),
    "logspace": lambda **k: pf.logspace(0, 2, 3, **k),
    "eye": lambda **k: pf.eye(3, **k),
    "tensor": lambda **k: pf.tensor([[1.0, 2.0]], **k),
    "randn": lambda **k: pf.randn(2, 3, **k),
    "rand": lambda **k: pf.rand(2, 3, seed=1, **k),
    "randn_like": lambda **k: pf.randn_like(pf.ones(2, 3), **k),
    "rand_like": lambda **k: pf.rand_like(pf.ones(2, 3), seed=2, **k),
    "new_zeros": lambda **k: pf.ones(2).new_zeros(2, 3, **k),
    "new_ones": lambda **k: pf.ones(2).new_ones((2, 3), **k),
    "new_full": lambda **k: pf.ones(2).new_full((2, 3), 4.0, **k),
    "new_empty": lambda **k: pf.ones(2).new_empty(2, 3, **k),
}
INTEGER_CREATORS = {
    "randint": lambda **k: pf.randint(0, 5, (2, 3), seed=3, **k),
    "randint_like": lambda **k: pf.randint_like(pf.ones(2, 3), 5, seed=4, **k),
    "as_tensor": lambda **k: pf.as_tensor([1, 2], **k),
}


def test_a_tensor_is_on_the_wafer_and_pf_device_reads_as_torchs():
    x = pf.ones(2)
    assert x.device == pf.device("wse") and (x * 2).device is x.device
    assert repr(x.device) == "device(type='wse')" and str(x.device) == "wse"
    for spec, text, index in [
        ("cuda:1", "cuda:1", 1),
        ("cpu", "cpu", None),
        (("cuda", 0), "cuda:0", 0),
    ]:
        d = pf.device(*spec) if isinstance(spec, tuple) else pf.device(spec)
        t = torch.device(*spec) if isinstance(spec, tuple) else torch.device(spec)
        assert (str(d), d.type, d.index) == (str(t), t.type, t.index) == (text, t.type, index)
        assert d == t and d == text and hash(d) == hash(pf.device(d))
    assert pf.device("cpu") != pf.device("cuda") and pf.device("cpu") != "nonsense"
    for bad, error in [("gpu", RuntimeError), ("cuda:x", RuntimeError), (1.5, TypeError)]:
        with pytest.raises(error):
            pf.device(bad)
    with pytest.raises(
        RuntimeError, match="Expected one of .* device type at start of device string: gpu"
    ):
        pf.device("gpu")


@pytest.mark.parametrize("name", list(CREATORS) + list(INTEGER_CREATORS))
def test_every_creation_op_takes_any_device_and_changes_nothing(name):
    make = {**CREATORS, **INTEGER_CREATORS}[name]
    pf.manual_seed(5)
    want = make()
    x = pf.ones(1)
    for spec in DEVICES:
        pf.manual_seed(5)
        got = make(device=as_device(spec, x))
        assert got.shape == want.shape and got.dtype is want.dtype, spec
        np.testing.assert_array_equal(got.numpy(), want.numpy(), err_msg=str(spec))


@pytest.mark.parametrize("name", list(CREATORS))
def test_creation_ops_take_requires_grad(name):
    x = CREATORS[name](requires_grad=True, device="cuda")
    assert x.requires_grad and x.is_leaf
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * x.numpy(), rtol=1e-6)
    assert not CREATORS[name]().requires_grad
    with pytest.raises(RuntimeError, match="only Tensors of floating point dtype can require"):
        pf.zeros(2, dtype=pf.int32, requires_grad=True)


def test_a_wrong_device_names_the_line():
    with pytest.raises(TypeError, match=r"test_devices.py:\d+: zeros: device= expects a device"):
        pf.zeros(3, device=pf.float32)  # a dtype where the device goes
    with pytest.raises(TypeError, match="device= expects a device"):
        pf.tensor([1.0], device="gpu0")
    with pytest.raises(TypeError, match="to: device= expects a device"):
        pf.ones(2).to(device="npu")
    with pytest.raises(TypeError, match="randn: device= expects"):
        pf.randn(2, device=[0])


def test_to_and_module_to_take_the_devices_pytorch_code_passes():
    """The ported lines: `y.to(x.device)`, `x.to(device, dtype)`, `model.to(device)`,
    `torch.zeros(n, device=x.device)` (PyTorch's own names and PyFlame's)."""
    x = pf.from_numpy(np.arange(3, dtype=np.float32))
    for spec in DEVICES[1:]:
        device = as_device(spec, x)
        assert x.to(device) is x
        assert x.to(device, pf.float16).dtype is pf.float16
        assert x.to(device=device, dtype=pf.int32).dtype is pf.int32
        model = nn.Linear(3, 2)
        before = model.weight.numpy().copy()
        assert model.to(device) is model
        np.testing.assert_array_equal(model.weight.numpy(), before)
    assert nn.Linear(3, 2).to(x.device, pf.float16).weight.dtype is pf.float16
    y = pf.zeros(3, device=x.device) + x.to(x.device)
    np.testing.assert_array_equal(y.numpy(), [0.0, 1.0, 2.0])


def test_empty_is_zeros_of_the_asked_shape_and_dtype():
    for got, shape, dtype in [
        (pf.empty(2, 3), (2, 3), pf.float32),
        (pf.empty((4,), dtype=pf.int32), (4,), pf.int32),
        (pf.empty_like(pf.ones(3, 1, dtype=pf.float16)), (3, 1), pf.float16),
        (pf.ones(2).new_empty((2, 2)), (2, 2), pf.float32),
    ]:
        want = torch.empty(shape, dtype=getattr(torch, repr(dtype).removeprefix("pf.")))
        assert got.shape == tuple(want.shape) == shape and got.dtype is dtype
        np.testing.assert_array_equal(got.numpy(), np.zeros(shape, dtype.numpy))
    w = pf.empty(50, 40)
    w.normal_(0.0, 0.02)  # the usual use: overwritten
    assert 0.015 < float(w.numpy().std()) < 0.025
