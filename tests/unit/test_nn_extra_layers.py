"""Bilinear / F.bilinear, F.pdist, ChannelShuffle / F.channel_shuffle, AlphaDropout /
FeatureAlphaDropout (F.alpha_dropout, F.feature_alpha_dropout), F.gumbel_softmax and
UpsamplingNearest2d / UpsamplingBilinear2d against torch: values and gradients on odd shapes
under two layouts, the random ones by their structure and statistics, reprs, state dicts and
PyTorch's errors at the user's line."""

from __future__ import annotations

import numpy as np
import pytest

import pyflame as pf
from pyflame import nn

torch = pytest.importorskip("torch")

from nn_parity import GRID, check_function, check_layer, rand  # noqa: E402

pytestmark = pytest.mark.usefixtures("small_target")
F = pf.nn.functional
TF = torch.nn.functional
HERE = r"test_nn_extra_layers.py:\d+: "


# --------------------------------------------------------------------------- bilinear


@pytest.mark.parametrize("layout", [None, GRID], ids=str)
def test_bilinear_function_and_layer_match_torch(layout):
    x1, x2, w, b = rand(5, 3), rand(5, 4, seed=1), rand(6, 3, 4, seed=2), rand(6, seed=3)
    check_function(lambda F, a, c, w, b: F.bilinear(a, c, w, b), x1, x2, w, b, layout=layout)
    check_function(lambda F, a, c, w: F.bilinear(a, c, w), rand(2, 3, 3), rand(2, 3, 4, seed=1), w)

    class Pair:
        """The layer with its second input fixed, for check_layer's one input."""

        def __init__(self, lib):
            self.lib, self.layer = lib, lib.Bilinear(3, 4, 6)

        def __getattr__(self, name):
            return getattr(self.layer, name)

        def __call__(self, x):
            other = pf.from_numpy(x2) if self.lib is nn else torch.from_numpy(x2)
            return self.layer(x, other)

    t, p = check_layer(Pair, x1, layout=layout)
    assert repr(p.layer) == repr(t.layer)
    assert list(p.layer.state_dict()) == list(t.layer.state_dict())
    assert repr(nn.Bilinear(2, 3, 4, bias=False)) == repr(torch.nn.Bilinear(2, 3, 4, bias=False))


def test_bilinear_errors_as_torch():
    w = pf.from_numpy(rand(6, 3, 4))
    with pytest.raises(pf.ShapeError, match=HERE + r"bilinear\(\): input batch dimensions do not"):
        F.bilinear(pf.from_numpy(rand(5, 3)), pf.from_numpy(rand(4, 4)), w)
    with pytest.raises(pf.ShapeError, match=HERE + r"bilinear\(\): input2 size does not match"):
        F.bilinear(pf.from_numpy(rand(5, 3)), pf.from_numpy(rand(5, 5)), w)


# --------------------------------------------------------------------------- pdist, shuffle


@pytest.mark.parametrize("p", [2.0, 1.0, 3.0, float("inf")])
def test_pdist_matches_torch(p):
    check_function(lambda F, x: F.pdist(x, p), rand(5, 3), layout=GRID, rtol=1e-4, atol=1e-5)
    check_function(lambda F, x: F.pdist(x, p), rand(2, 7))


def test_pdist_errors_as_torch():
    with pytest.raises(pf.ShapeError, match=HERE + "pdist only supports 2D tensors, got: 3D"):
        F.pdist(pf.from_numpy(rand(2, 3, 4)))
    with pytest.raises(RuntimeError, match=HERE + "pdist only supports non-negative p values"):
        F.pdist(pf.from_numpy(rand(2, 3)), -1.0)
    assert F.pdist(pf.from_numpy(rand(1, 3))).shape == (0,)


@pytest.mark.parametrize(
    "groups, shape, layout", [(2, (2, 6, 3), GRID), (3, (1, 9, 2, 3), None), (1, (2, 4, 5), None)]
)
def test_channel_shuffle_matches_torch(groups, shape, layout):
    check_layer(lambda m: m.ChannelShuffle(groups), rand(*shape), layout=layout)
    ints = np.arange(np.prod(shape), dtype=np.int32).reshape(shape)
    got = F.channel_shuffle(pf.from_numpy(ints), groups).numpy()
    np.testing.assert_array_equal(got, TF.channel_shuffle(torch.from_numpy(ints), groups).numpy())
    assert repr(nn.ChannelShuffle(groups)) == repr(torch.nn.ChannelShuffle(groups))


def test_channel_shuffle_errors_as_torch():
    with pytest.raises(RuntimeError, match=HERE + "Number of channels must be divisible by groups"):
        F.channel_shuffle(pf.from_numpy(rand(2, 5, 3)), 2)
    with pytest.raises(RuntimeError, match=HERE + "channel_shuffle expects input to have at least"):
        F.channel_shuffle(pf.from_numpy(rand(2, 4)), 2)
    with pytest.raises(RuntimeError, match=HERE + "Number of groups to divide channels in must be"):
        F.channel_shuffle(pf.from_numpy(rand(2, 4, 3)), 0)


# --------------------------------------------------------------------------- alpha dropout


ALPHA = 1.7580993408473766


@pytest.mark.parametrize("p", [0.2, 0.5])
def test_alpha_dropout_values_are_atens_two_affine_maps(p):
    """Kept elements are a x + alpha a p, dropped ones alpha a (p - 1), with a =
    1 / sqrt((alpha^2 p + 1)(1 - p)); the dropped fraction is about p, the mean and variance
    of standard normal input about 0 and 1; the gradient is a where kept, 0 where dropped."""
    x = rand(64, 50)
    a = 1 / np.sqrt((ALPHA**2 * p + 1) * (1 - p))
    px = pf.from_numpy(x, layout=GRID).requires_grad_()
    y = F.alpha_dropout(px, p, training=True)
    pf.backward(y.sum())
    out, grad = y.numpy(), px.grad.numpy()
    kept = np.isclose(out, a * x + ALPHA * a * p, rtol=1e-5, atol=1e-6)
    dropped = np.isclose(out, ALPHA * a * (p - 1), rtol=1e-6) & ~kept
    assert np.all(kept | dropped)
    assert abs(dropped.mean() - p) < 0.03
    assert abs(out.mean()) < 0.05 and abs(out.var() - 1) < 0.08
    np.testing.assert_allclose(grad, np.where(dropped, 0.0, a), rtol=1e-6)


def test_feature_alpha_dropout_drops_whole_channels_and_layers_follow_the_mode():
    x = rand(6, 40, 3, 2)
    out = F.feature_alpha_dropout(pf.from_numpy(x), 0.5, training=True).numpy()
    flat = out.reshape(6, 40, -1)
    a = 1 / np.sqrt((ALPHA**2 * 0.5 + 1) * 0.5)
    dropped = np.all(np.isclose(flat, ALPHA * a * -0.5, rtol=1e-6), axis=2)
    kept = np.all(np.isclose(flat, a * x.reshape(6, 40, -1) + ALPHA * a * 0.5, atol=1e-6), axis=2)
    assert np.all(dropped | kept) and 0.3 < dropped.mean() < 0.7
    for layer in (nn.AlphaDropout(0.3), nn.FeatureAlphaDropout(0.3)):
        layer.eval()
        np.testing.assert_array_equal(layer(pf.from_numpy(x)).numpy(), x)
        layer.train()
        assert not np.allclose(layer(pf.from_numpy(x)).numpy(), x)
    np.testing.assert_array_equal(F.alpha_dropout(pf.from_numpy(x), 0.5).numpy(), x)  # eval default
    assert repr(nn.AlphaDropout(0.2)) == repr(torch.nn.AlphaDropout(0.2))
    assert repr(nn.FeatureAlphaDropout()) == repr(torch.nn.FeatureAlphaDropout())
    with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1"):
        F.alpha_dropout(pf.from_numpy(x), 1.5, True)


# --------------------------------------------------------------------------- gumbel softmax


def test_gumbel_softmax_samples_the_softmax_distribution():
    """Rows sum to 1; the argmax of the samples follows softmax(logits) (tau only sharpens);
    hard samples are one-hot with the soft sample's gradient (straight-through); a seed fixes
    the draw."""
    logits = np.log(np.array([0.1, 0.2, 0.3, 0.4], np.float32))
    rows = np.tile(logits, (3000, 1))
    soft = F.gumbel_softmax(pf.from_numpy(rows), tau=0.5).numpy()
    np.testing.assert_allclose(soft.sum(1), 1, rtol=1e-5)
    freq = np.bincount(soft.argmax(1), minlength=4) / len(rows)
    np.testing.assert_allclose(freq, [0.1, 0.2, 0.3, 0.4], atol=0.03)
    x = pf.from_numpy(rand(5, 7)).requires_grad_()
    hard = F.gumbel_softmax(x, hard=True, dim=0, seed=3)
    weights = pf.from_numpy(rand(5, 7, seed=2))
    pf.backward((hard * weights).sum())
    y = pf.from_numpy(rand(5, 7)).requires_grad_()
    pf.backward((F.gumbel_softmax(y, dim=0, seed=3) * weights).sum())
    values = hard.numpy()
    assert set(np.unique(values)) <= {0.0, 1.0} and np.all(values.sum(0) == 1)
    np.testing.assert_allclose(x.grad.numpy(), y.grad.numpy(), rtol=1e-5, atol=1e-7)


# --------------------------------------------------------------------------- legacy upsampling


@pytest.mark.parametrize(
    "make",
    [
        lambda m: m.UpsamplingNearest2d(scale_factor=2),
        lambda m: m.UpsamplingNearest2d(size=(5, 7)),
        lambda m: m.UpsamplingBilinear2d(scale_factor=2),
        lambda m: m.UpsamplingBilinear2d(size=(4, 6)),
    ],
    ids=["nearest_scale", "nearest_size", "bilinear_scale", "bilinear_size"],
)
def test_legacy_upsampling_layers_match_torch(make):
    check_layer(make, rand(2, 3, 3, 4), layout=GRID, rtol=1e-5, atol=1e-5)
    assert repr(make(nn)) == repr(make(torch.nn))
