"""F.pixel_shuffle / F.pixel_unshuffle and nn.PixelShuffle / nn.PixelUnshuffle
(pyflame/nn/pixel_shuffle.py) against torch: values and gradients on odd shapes and several
layouts, extra batch dims, every dtype (bit for bit: data only moves), reprs and errors."""

from __future__ import annotations

import numpy as np
import pytest

import pyflame as pf
from pyflame import nn

torch = pytest.importorskip("torch")

from nn_parity import check_function, check_layer, rand  # noqa: E402

pytestmark = pytest.mark.usefixtures("small_target")
F = pf.nn.functional

LAYOUTS = [None, pf.MeshLayout.grid(2, 2), pf.MeshLayout.grid(2, 3), pf.MeshLayout.row_partition(3)]


@pytest.mark.parametrize("layout", LAYOUTS, ids=repr)
def test_pixel_shuffle_and_unshuffle_match_torch_with_gradients(layout):
    check_function(lambda F, x: F.pixel_shuffle(x, 3), rand(2, 18, 3, 5), layout=layout)
    check_function(lambda F, x: F.pixel_unshuffle(x, 2), rand(2, 3, 6, 10), layout=layout)
    check_function(
        lambda F, x: F.pixel_unshuffle(F.pixel_shuffle(x, 2), 2) * 2,
        rand(1, 8, 3, 5),
        layout=layout,
    )


def test_layers_unbatched_and_extra_batch_dims_match_torch():
    check_layer(lambda m: m.PixelShuffle(2), rand(12, 5, 3))
    check_layer(lambda m: m.PixelUnshuffle(3), rand(2, 2, 3, 6, 9))
    check_layer(lambda m: m.PixelShuffle(1), rand(2, 3, 5, 7))
    for make in (lambda m: m.PixelShuffle(3), lambda m: m.PixelUnshuffle(2)):
        assert repr(make(nn)) == repr(make(torch.nn))


def test_every_dtype_moves_bit_for_bit():
    base = np.arange(2 * 8 * 3 * 5).reshape(2, 8, 3, 5)
    for array in (base.astype(np.int32) - 40, base % 3 == 0, rand(2, 8, 3, 5).astype(np.float16)):
        x = pf.from_numpy(array)
        t = torch.from_numpy(array)
        got = F.pixel_unshuffle(F.pixel_shuffle(x, 2), 1), F.pixel_unshuffle(x[:, :2], 1)
        want = torch.nn.functional.pixel_shuffle(t, 2), t[:, :2]
        np.testing.assert_array_equal(got[0].numpy(), want[0].numpy())
        np.testing.assert_array_equal(got[1].numpy(), want[1].numpy())
        assert got[0].dtype == x.dtype


def test_empty_batch_keeps_torchs_shape():
    got = F.pixel_shuffle(pf.zeros(0, 8, 2, 3), 2)
    assert got.shape == tuple(torch.nn.functional.pixel_shuffle(torch.zeros(0, 8, 2, 3), 2).shape)


def test_errors_as_torch_at_the_users_line():
    cases = [
        (lambda F, x: F.pixel_shuffle(x, 2), (4, 4), RuntimeError, "at least 3 dimensions"),
        (lambda F, x: F.pixel_shuffle(x, 2), (5, 2, 2), RuntimeError, "input.size\\(-3\\)=5 is"),
        (lambda F, x: F.pixel_shuffle(x, 0), (4, 2, 2), RuntimeError, "positive upscale_factor"),
        (lambda F, x: F.pixel_shuffle(x, 2.0), (4, 2, 2), TypeError, "must be int, not float"),
        (lambda F, x: F.pixel_unshuffle(x, 2), (4, 3, 2), RuntimeError, "expects height to be"),
        (lambda F, x: F.pixel_unshuffle(x, 2), (4, 2, 3), RuntimeError, "expects width to be"),
        (lambda F, x: F.pixel_unshuffle(x, -1), (4, 2, 2), RuntimeError, "positive downscale"),
    ]
    for call, shape, error, words in cases:
        with pytest.raises(error, match=words):
            call(torch.nn.functional, torch.zeros(shape))
        with pytest.raises(error, match=words):
            call(F, pf.zeros(*shape))
    with pytest.raises(RuntimeError, match=r"test_nn_pixel_shuffle\.py:\d+: pixel_shuffle"):
        F.pixel_shuffle(pf.zeros(5, 2, 2), 2)
