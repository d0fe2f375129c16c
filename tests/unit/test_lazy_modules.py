"""The lazy layers (LazyLinear, LazyConv1d/2d/3d, LazyConvTranspose1d/2d, LazyBatchNorm1d/2d/3d,
LazyInstanceNorm1d/2d/3d): the first call infers the input size and the module becomes the
full layer, with PyTorch's shapes, state-dict keys and initial distribution; a torch state dict
materialises it; outputs and gradients then match torch's."""

from __future__ import annotations

import numpy as np
import pytest

import pyflame as pf
from pyflame import nn

torch = pytest.importorskip("torch")

from nn_parity import close, rand  # noqa: E402

pytestmark = pytest.mark.usefixtures("small_target")

CASES = [
    (lambda m: m.LazyLinear(5), (3, 7), "Linear"),
    (lambda m: m.LazyLinear(4, bias=False), (2, 3, 6), "Linear"),
    (lambda m: m.LazyConv1d(4, 3, stride=2), (2, 3, 9), "Conv1d"),
    (lambda m: m.LazyConv2d(4, 3, padding=1, groups=2), (2, 6, 5, 4), "Conv2d"),
    (lambda m: m.LazyConv2d(3, 2), (2, 5, 4), "Conv2d"),  # unbatched: channels are dim 0
    (lambda m: m.LazyConv3d(2, 2), (1, 3, 3, 4, 3), "Conv3d"),
    (lambda m: m.LazyConvTranspose1d(3, 2, stride=2), (2, 4, 5), "ConvTranspose1d"),
    (lambda m: m.LazyConvTranspose2d(3, 3), (1, 2, 4, 3), "ConvTranspose2d"),
    (lambda m: m.LazyConvTranspose3d(2, 2), (1, 2, 2, 3, 2), "ConvTranspose3d"),
    (lambda m: m.LazyBatchNorm1d(), (4, 3), "BatchNorm1d"),
    (lambda m: m.LazyBatchNorm2d(eps=1e-3), (2, 3, 4, 5), "BatchNorm2d"),
    (lambda m: m.LazyBatchNorm3d(), (2, 3, 2, 3, 2), "BatchNorm3d"),
    (lambda m: m.LazyInstanceNorm1d(affine=True), (2, 3, 6), "InstanceNorm1d"),
    (lambda m: m.LazyInstanceNorm2d(), (2, 3, 4, 5), "InstanceNorm2d"),
    (lambda m: m.LazyInstanceNorm3d(), (1, 2, 3, 4, 3), "InstanceNorm3d"),
]


@pytest.mark.parametrize("case", range(len(CASES)))
def test_first_call_makes_the_full_layer(case):
    make, shape, name = CASES[case]
    x = rand(*shape)
    layer = make(nn)
    assert list(layer.parameters()) == []
    layer(pf.from_numpy(x))
    twin = make(torch.nn)
    twin(torch.from_numpy(x))
    assert type(layer).__name__ == name == type(twin).__name__
    assert repr(layer) == repr(twin)
    assert list(layer.state_dict()) == list(twin.state_dict())
    for key, value in twin.state_dict().items():
        assert tuple(layer.state_dict()[key].shape) == tuple(value.shape), key


@pytest.mark.parametrize("case", [0, 3, 6, 10, 12])
def test_torch_state_materialises_it_and_outputs_and_gradients_match(case):
    make, shape, _ = CASES[case]
    x = rand(*shape)
    torch.manual_seed(0)
    twin = make(torch.nn)
    twin(torch.from_numpy(x))  # materialised, then random state
    with torch.no_grad():
        for p in twin.parameters():
            p.copy_(torch.randn(p.shape))
    layer = make(nn)
    layer.load_state_dict(twin.state_dict())
    tx, px = torch.from_numpy(x).requires_grad_(), pf.from_numpy(x).requires_grad_()
    want, got = twin(tx), layer(px)
    g = rand(*want.shape, seed=3)
    (want * torch.from_numpy(g)).sum().backward()
    pf.backward((got * pf.from_numpy(g)).sum())
    close(got, want, 1e-4, 1e-5)
    close(px.grad, tx.grad, 1e-4, 1e-5)
    tparams = dict(twin.named_parameters())
    for name, param in layer.named_parameters():
        close(param.grad, tparams[name].grad, 1e-4, 1e-5, name)


def test_initial_values_follow_torchs_distribution_and_repr_before_the_call():
    assert repr(nn.LazyLinear(5)) == repr(torch.nn.LazyLinear(5))
    layer = nn.LazyLinear(300)
    layer(pf.from_numpy(rand(2, 50)))
    weight = layer.weight.numpy()
    bound = 1 / np.sqrt(50)
    assert np.all(np.abs(weight) <= bound) and weight.std() > bound / 2
    model = nn.Sequential(nn.LazyLinear(4), nn.ReLU(), nn.LazyLinear(2))
    out = model(pf.from_numpy(rand(3, 6)))
    assert out.shape == (3, 2) and [tuple(p.shape) for p in model.parameters()] == [
        (4, 6),
        (4,),
        (2, 4),
        (2,),
    ]
