"""Channel dropout (pyflame/nn/dropout.py `Dropout1d/2d/3d`, `F.dropout1d/2d/3d`, over
pyflame/ops/sampling.py `feature_dropout`): the mask's structure exactly (whole channels, one
draw per batch and channel, PyTorch's scale), its statistics, eval mode, PyTorch's rank rules,
warnings and errors, gradients and in-place forms."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import pyflame as pf
from pyflame import nn
from pyflame.nn import functional as F

torch = pytest.importorskip("torch")

pytestmark = pytest.mark.usefixtures("small_target")


def data(shape, seed=0):
    """Values away from zero, so a zero in the output is a dropped element."""
    rng = np.random.default_rng(seed)
    return (rng.uniform(0.5, 2.0, shape) * rng.choice([-1, 1], shape)).astype(np.float32)


def scale_of(p):
    """PyTorch's keep factor: 1 / (1 - p) in float32 (noise.div_(1 - p))."""
    return np.float32(torch.tensor(1.0) / (1 - p))


def channels_of(a, out, batched_dims, p):
    """Which (batch, channel) pairs are kept, checked to be whole channels: kept ones equal
    a * scale bit for bit, dropped ones a * 0 (-0.0 for a negative a, as PyTorch's)."""
    lead = a.shape[:batched_dims]
    flat_a, flat_out = a.reshape(*lead, -1), out.reshape(*lead, -1)
    kept = flat_out[..., 0] != 0
    want = np.where(kept[..., None], flat_a * scale_of(p), flat_a * np.float32(0))
    assert want.tobytes() == flat_out.astype(np.float32).tobytes()
    return kept


@pytest.mark.parametrize(
    "layer, shape, lead",
    [
        (nn.Dropout1d, (4, 6, 5), 2),
        (nn.Dropout1d, (6, 5), 1),  # unbatched [C, L]
        (nn.Dropout2d, (3, 5, 4, 3), 2),
        (nn.Dropout3d, (2, 4, 3, 2, 3), 2),
        (nn.Dropout3d, (4, 3, 2, 3), 1),  # unbatched [C, D, H, W]
    ],
)
@pytest.mark.parametrize("p", [0.2, 0.5, 0.8])
def test_whole_channels_are_dropped_or_scaled_as_torch(layer, shape, lead, p):
    """Every channel is either all zeros or all x * (1 / (1 - p)) bit for bit (PyTorch's
    float32 scale), as torch's own layer gives (checked the same way)."""
    a = data(shape)
    for module, lib in ((layer(p), pf), (getattr(torch.nn, layer.__name__)(p), torch)):
        channels_of(a, module(lib.from_numpy(a)).numpy(), lead, p)  # (the counts: below)


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_the_dropped_fraction_is_p(p):
    """4096 channels: the dropped fraction within 5 standard deviations of p; two calls draw
    different masks, a fixed seed the same one."""
    a = np.ones((64, 64, 3), np.float32)
    out = F.dropout1d(pf.from_numpy(a), p).numpy()
    dropped = (out[:, :, 0] == 0).mean()
    assert abs(dropped - p) < 5 * np.sqrt(p * (1 - p) / 4096)
    again = F.dropout1d(pf.from_numpy(a), p).numpy()
    assert not np.array_equal(out, again)
    b = np.ones((8, 16, 8, 8), np.float32)
    one = F.dropout2d(pf.from_numpy(b), p, seed=4).numpy()
    np.testing.assert_array_equal(one, F.dropout2d(pf.from_numpy(b), p, seed=4).numpy())


def test_eval_mode_and_edge_probabilities_are_torchs():
    x = pf.from_numpy(data((2, 3, 4)))
    for layer in (nn.Dropout1d(0.5), nn.Dropout2d(0.5), nn.Dropout3d(0.5)):
        assert repr(layer) == repr(getattr(torch.nn, type(layer).__name__)(0.5))
        layer.eval()
        y = x.unsqueeze(0).unsqueeze(0) if isinstance(layer, nn.Dropout3d) else x
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert layer(y) is y
    assert F.dropout1d(x, 0.0) is x
    assert F.dropout1d(x, 0.7, training=False) is x
    np.testing.assert_array_equal(F.dropout1d(x, 1.0).numpy(), np.zeros((2, 3, 4), np.float32))
    assert F.dropout1d(pf.zeros(0, 3, 4), 0.5).shape == (0, 3, 4)
    for dtype in (pf.float16, pf.bfloat16):
        y = F.dropout2d(pf.ones(8, 8, 2, 2, dtype=dtype), 0.5).numpy().astype(np.float32)
        assert set(np.unique(y)) == {0.0, 2.0}


def test_ranks_warnings_and_errors_as_torch():
    with pytest.raises(
        RuntimeError,
        match=r"test_nn_dropout.py:\d+: dropout1d: Expected 2D or 3D input, but received a 4D",
    ):
        F.dropout1d(pf.ones(2, 3, 4, 5))
    with pytest.raises(ValueError, match="between 0 and 1, but got 1.5"):
        F.dropout2d(pf.ones(2, 3, 4, 5), 1.5)
    with pytest.raises(ValueError, match="between 0 and 1"):
        nn.Dropout3d(-0.1)
    with pytest.raises(TypeError, match="floating-point"):
        F.dropout1d(pf.ones(2, 3, dtype=pf.int32))
    with pytest.warns(UserWarning, match="assuming that channel-wise 1D dropout"):
        out = F.dropout2d(pf.from_numpy(data((3, 4, 5))), 0.5).numpy()  # read as [N, C, L]
    channels_of(data((3, 4, 5)), out, 2, 0.5)
    with pytest.warns(UserWarning, match="Received a 2-D input to dropout2d"):
        out = F.dropout2d(pf.from_numpy(data((6, 5))), 0.5).numpy()  # [N, C]: per element
    channels_of(data((6, 5)), out, 2, 0.5)
    with pytest.warns(UserWarning, match="Received a 3-D input to dropout3d"):
        out = F.dropout3d(pf.from_numpy(data((6, 5, 4))), 0.5).numpy()  # unbatched [C, ...]
    channels_of(data((6, 5, 4)), out, 1, 0.5)


def test_gradients_follow_the_mask_and_in_place_writes_the_input():
    a = data((3, 4, 5))
    x = pf.from_numpy(a)
    x.requires_grad = True
    out = F.dropout1d(x, 0.4, seed=7)
    out.sum().backward()
    kept = channels_of(a, out.numpy(), 2, 0.4)
    want = np.where(kept[..., None], scale_of(0.4), np.float32(0))
    np.testing.assert_array_equal(x.grad.numpy(), np.broadcast_to(want, a.shape))
    y = pf.from_numpy(a)
    same = F.dropout1d(y, 0.4, inplace=True, seed=7)
    assert same is y
    np.testing.assert_array_equal(y.numpy(), out.numpy())
    z = pf.from_numpy(a)
    layer = nn.Dropout2d(0.5, inplace=True)
    assert layer(z.unsqueeze(-1)) is not None
    assert "inplace=True" in repr(layer)
