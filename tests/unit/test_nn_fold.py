"""F.unfold / F.fold and nn.Unfold / nn.Fold (pyflame/nn/fold.py) against torch: kernels,
dilations, paddings and strides (pairs too), overlapping and gapped blocks, unbatched inputs,
several layouts, gradients, bool and half dtypes (bit for bit), reprs and errors."""

from __future__ import annotations

import numpy as np
import pytest

import pyflame as pf
from pyflame import nn

torch = pytest.importorskip("torch")

from nn_parity import check_function, check_layer, rand  # noqa: E402

pytestmark = pytest.mark.usefixtures("small_target")
F = pf.nn.functional
TF = torch.nn.functional

LAYOUTS = [None, pf.MeshLayout.grid(2, 2), pf.MeshLayout.grid(2, 3), pf.MeshLayout.row_partition(3)]
# overlapping blocks, a dilated and padded pair form, blocks with gaps between them
ARGS = [
    {"kernel_size": 2},
    {"kernel_size": (2, 3), "dilation": (1, 2), "padding": (1, 0), "stride": (2, 1)},
    {"kernel_size": 2, "stride": 3, "padding": 1},
]


@pytest.mark.parametrize("layout", LAYOUTS, ids=repr)
def test_unfold_and_fold_match_torch_with_gradients(layout):
    for kwargs in ARGS if layout is None else ARGS[1:2]:
        check_function(lambda F, x, kw=kwargs: F.unfold(x, **kw), rand(2, 3, 5, 7), layout=layout)
        blocks = TF.unfold(torch.zeros(2, 3, 5, 7), **kwargs).shape
        check_function(
            lambda F, c, kw=kwargs: F.fold(c, (5, 7), **kw), rand(*blocks), layout=layout
        )


def test_layers_and_unbatched_inputs_match_torch():
    check_layer(lambda m: m.Unfold(3, padding=1), rand(2, 4, 5))
    check_layer(lambda m: m.Fold((4, 5), 2, stride=(1, 2), dilation=(2, 1)), rand(8, 4))
    for make in (lambda m: m.Unfold(2, padding=1), lambda m: m.Fold((4, 5), 2)):
        assert repr(make(nn)) == repr(make(torch.nn))


def test_fold_of_unfold_counts_the_overlaps_and_every_dtype_is_exact():
    x = rand(1, 2, 6, 5)
    got = F.fold(F.unfold(pf.from_numpy(x), 3, padding=1), (6, 5), 3, padding=1)
    want = TF.fold(TF.unfold(torch.from_numpy(x), 3, padding=1), (6, 5), 3, padding=1)
    np.testing.assert_array_equal(got.numpy(), want.numpy())  # the same adds in the same order
    flags = rand(2, 3, 4, 5) > 0
    got = F.unfold(pf.from_numpy(flags), (2, 2), stride=2)
    want = TF.unfold(torch.from_numpy(flags), (2, 2), stride=2)
    assert got.dtype == pf.bool
    np.testing.assert_array_equal(got.numpy(), want.numpy())
    np.testing.assert_array_equal(
        F.fold(got, (4, 5), 2, stride=2).numpy(), TF.fold(want, (4, 5), 2, stride=2).numpy()
    )
    h = rand(2, 3, 4, 5).astype(np.float16)
    got = F.unfold(pf.from_numpy(h), 2, dilation=2)
    want = TF.unfold(torch.from_numpy(h), 2, dilation=2)
    assert got.dtype == pf.float16
    np.testing.assert_array_equal(got.numpy(), want.numpy())
    np.testing.assert_array_equal(
        F.fold(got, (4, 5), 2, dilation=2).numpy(), TF.fold(want, (4, 5), 2, dilation=2).numpy()
    )


def test_errors_as_torch_at_the_users_line():
    cases = [
        (lambda F, x: F.unfold(x, 7), (2, 3, 5, 6), RuntimeError, "must be at least one"),
        (lambda F, x: F.unfold(x, 0), (2, 3, 5, 6), RuntimeError, "kernel size should be greater"),
        (lambda F, x: F.unfold(x, 2, stride=0), (2, 3, 5, 6), RuntimeError, "stride should be"),
        (lambda F, x: F.unfold(x, 2, padding=-1), (2, 3, 5, 6), RuntimeError, "non-negative"),
        (lambda F, x: F.unfold(x, 2, dilation=0), (2, 3, 5, 6), RuntimeError, "dilation should"),
        (lambda F, x: F.unfold(x, (2, 3, 4)), (2, 3, 5, 6), RuntimeError, "equals to 2, but got"),
        (lambda F, x: F.unfold(x, 2.5), (2, 3, 5, 6), TypeError, "must be tuple of ints"),
        (lambda F, x: F.unfold(x, 2), (1, 2, 3, 4, 5), RuntimeError, "Expected 3D or 4D"),
        (lambda F, x: F.unfold(x, 2), (2, 0, 4, 4), RuntimeError, "Expected 3D or 4D"),
        (lambda F, x: F.unfold(x.int(), 2), (2, 3, 4, 4), NotImplementedError, "im2col_out_cpu"),
        (lambda F, x: F.fold(x, (5, 6), 2), (2, 12, 19), RuntimeError, "sliding blocks 4 \\* 5"),
        (lambda F, x: F.fold(x, (5, 6), 2), (2, 13, 20), RuntimeError, "divisible by the product"),
        (lambda F, x: F.fold(x, (5, 6), 2), (2, 2, 12, 20), RuntimeError, "Expected 2D or 3D"),
        (lambda F, x: F.fold(x, (4, 4, 1), 2), (2, 4, 9), RuntimeError, "output_size equals to 2"),
        (lambda F, x: F.fold(x.int(), (3, 3), 2), (2, 4, 4), NotImplementedError, "col2im_out"),
    ]
    for call, shape, error, words in cases:
        with pytest.raises(error, match=words):
            call(TF, torch.zeros(shape))
        with pytest.raises(error, match=words):
            call(F, pf.zeros(*shape))
    with pytest.raises(RuntimeError, match=r"test_nn_fold\.py:\d+: Given input with spatial"):
        F.unfold(pf.zeros(1, 1, 2, 2), 3)
