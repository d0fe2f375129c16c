"""F.adaptive_avg_pool1d/2d, F.adaptive_max_pool1d/2d and their nn layers
(pyflame/nn/adaptive_pool.py) against torch: PyTorch's bins for sizes that divide the input
and sizes that do not (overlapping bins of two lengths), None entries, unbatched inputs,
indices (ties, NaN, -inf), gradients, several layouts, half dtypes, reprs and errors."""

from __future__ import annotations

import numpy as np
import pytest

import pyflame as pf
from pyflame import nn

torch = pytest.importorskip("torch")

from nn_parity import check_layer, rand  # noqa: E402

pytestmark = pytest.mark.usefixtures("small_target")
F = pf.nn.functional
TF = torch.nn.functional

LAYOUTS = [None, pf.MeshLayout.grid(2, 2), pf.MeshLayout.grid(2, 3), pf.MeshLayout.row_partition(3)]
SIZES = [(3, 2), (2, None), (7, 1)]  # under every layout; the rest once, marked slow
MORE_SIZES = [1, (7, 5), (4, 4), (5, 3)]


def check_in_one_program(calls, x, layout):
    """Every `call(F, x)` against torch: values (indices exactly) and the input's gradient of
    the sum of all the float outputs times random weights, in one pf program."""
    px = pf.from_numpy(x, layout=layout).requires_grad_()
    tx = torch.from_numpy(x).requires_grad_()
    got = [call(F, px) for call in calls]
    want = [call(TF, tx) for call in calls]
    weights = [rand(*w.shape, seed=k) for k, w in enumerate(want)]
    floats = [k for k, w in enumerate(want) if w.dtype.is_floating_point]
    sum((want[k] * torch.from_numpy(weights[k])).sum() for k in floats).backward()
    pf.backward(sum((got[k] * pf.from_numpy(weights[k])).sum() for k in floats))
    pf.eval(*got, px.grad)
    for k, (g, w) in enumerate(zip(got, want, strict=True)):
        assert g.shape == tuple(w.shape), k
        if k in floats:
            np.testing.assert_allclose(g.numpy(), w.detach().numpy(), 1e-5, 1e-6, err_msg=str(k))
        else:
            assert g.dtype == pf.int32
            np.testing.assert_array_equal(g.numpy(), w.numpy(), err_msg=str(k))
    np.testing.assert_allclose(px.grad.numpy(), tx.grad.numpy(), rtol=1e-5, atol=1e-6)


def pools_2d(size):
    return [
        lambda F, x: F.adaptive_avg_pool2d(x, size),
        lambda F, x: F.adaptive_max_pool2d(x, size),
        lambda F, x: F.adaptive_max_pool2d(x, size, return_indices=True)[0],
        lambda F, x: F.adaptive_max_pool2d(x, size, return_indices=True)[1],
    ]


@pytest.mark.slow
@pytest.mark.parametrize("size", MORE_SIZES, ids=str)
def test_more_adaptive_pool_2d_sizes_match_torch(size):
    check_in_one_program(pools_2d(size), rand(2, 3, 7, 5), None)


@pytest.mark.parametrize("layout", LAYOUTS, ids=repr)
def test_adaptive_pools_2d_match_torch_with_gradients(layout):
    for size in SIZES:
        check_in_one_program(pools_2d(size), rand(2, 3, 7, 5), layout)


@pytest.mark.parametrize("layout", LAYOUTS[:2], ids=repr)
def test_adaptive_pools_1d_match_torch_with_gradients(layout):
    for size in (4, 3, 13) if layout is None else (4, 3):
        calls = [
            lambda F, x, size=size: F.adaptive_avg_pool1d(x, size),
            lambda F, x, size=size: F.adaptive_max_pool1d(x, size),
            lambda F, x, size=size: F.adaptive_max_pool1d(x, size, return_indices=True)[0],
            lambda F, x, size=size: F.adaptive_max_pool1d(x, size, return_indices=True)[1],
        ]
        check_in_one_program(calls, rand(2, 3, 11), layout)


def test_layers_unbatched_inputs_and_reprs_match_torch():
    check_layer(lambda m: m.AdaptiveAvgPool2d((3, None)), rand(3, 7, 5))
    check_layer(lambda m: m.AdaptiveMaxPool2d(2), rand(3, 5, 5))
    check_layer(lambda m: m.AdaptiveAvgPool1d(3), rand(4, 7))
    check_layer(lambda m: m.AdaptiveMaxPool1d((2,)), rand(2, 4, 7))
    values, where = nn.AdaptiveMaxPool2d(3, return_indices=True)(pf.from_numpy(rand(2, 6, 4)))
    want = torch.nn.AdaptiveMaxPool2d(3, return_indices=True)(torch.from_numpy(rand(2, 6, 4)))
    np.testing.assert_array_equal(values.numpy(), want[0].numpy())
    np.testing.assert_array_equal(where.numpy(), want[1].numpy())
    for make in (
        lambda m: m.AdaptiveAvgPool1d(2),
        lambda m: m.AdaptiveAvgPool2d((2, None)),
        lambda m: m.AdaptiveMaxPool1d((2,)),
        lambda m: m.AdaptiveMaxPool2d(3, True),
    ):
        assert repr(make(nn)) == repr(make(torch.nn))


def test_max_indices_of_ties_nan_and_minus_infinity_are_torchs():
    """PyTorch's loop takes `val > max or isnan(val)`: the first of tied maxima, the last NaN,
    and the window's first element when all are -inf; the gradient goes to that element."""
    nan, inf = np.nan, np.inf
    cases = [
        np.array([[[[1.0, nan, 3.0, nan], [0.0, nan, 2.0, 9.0]]]], np.float32),
        np.array([[[[1.0, nan, 3.0, nan, 5.0]]]], np.float32),
        np.array([[[[2.0, 2.0, 2.0, 2.0, 5.0], [2.0, 5.0, 5.0, 1.0, 5.0]]]], np.float32),
        np.full((1, 1, 3, 3), -inf, np.float32),
    ]
    for x in cases:
        for size in ((1, 2), (2, 2), (1, 1)):
            got = F.adaptive_max_pool2d(pf.from_numpy(x), size, True)
            want = TF.adaptive_max_pool2d(torch.from_numpy(x), size, True)
            np.testing.assert_array_equal(got[0].numpy(), want[0].numpy())
            np.testing.assert_array_equal(got[1].numpy(), want[1].numpy(), err_msg=f"{x} {size}")
    x = cases[2]
    px, tx = pf.from_numpy(x).requires_grad_(), torch.from_numpy(x).requires_grad_()
    F.adaptive_max_pool2d(px, (2, 2)).sum().backward()
    TF.adaptive_max_pool2d(tx, (2, 2)).sum().backward()
    np.testing.assert_array_equal(px.grad.numpy(), tx.grad.numpy())


def test_half_inputs_compute_as_torch():
    x = rand(2, 3, 7, 5)
    for dtype, tdtype in ((np.float16, torch.float16), (None, torch.bfloat16)):
        px = pf.from_numpy(x).astype(pf.float16 if dtype else pf.bfloat16)
        tx = torch.from_numpy(x).to(tdtype)
        for size in ((3, 2), (7, 1), 1):
            got = F.adaptive_avg_pool2d(px, size)
            assert got.dtype == px.dtype
            want = TF.adaptive_avg_pool2d(tx, size).float().numpy()
            np.testing.assert_allclose(got.astype(pf.float32).numpy(), want, rtol=1e-2, atol=1e-2)
            got = F.adaptive_max_pool2d(px, size, True)
            want = TF.adaptive_max_pool2d(tx, size, True)
            np.testing.assert_array_equal(got[0].astype(pf.float32).numpy(), want[0].float())
            np.testing.assert_array_equal(got[1].numpy(), want[1].numpy())


def test_empty_outputs_and_batches_have_torchs_shapes():
    for call in (
        lambda F, x: F.adaptive_avg_pool2d(x, 0),
        lambda F, x: F.adaptive_max_pool2d(x, (0, 2)),
        lambda F, x: F.adaptive_avg_pool2d(x[:0], 2),
        lambda F, x: F.adaptive_max_pool2d(x[:0], 3, True)[1],
    ):
        got = call(F, pf.from_numpy(rand(2, 3, 4, 5)))
        assert got.shape == tuple(call(TF, torch.from_numpy(rand(2, 3, 4, 5))).shape)


def test_errors_as_torch_at_the_users_line():
    cases = [
        (lambda F, x: F.adaptive_avg_pool2d(x, -1), (2, 3, 4, 5), RuntimeError, "greater than or"),
        (lambda F, x: F.adaptive_avg_pool2d(x, (2, 3, 4)), (2, 3, 4, 5), RuntimeError, "must be 2"),
        (lambda F, x: F.adaptive_max_pool2d(x, 2), (4, 5), RuntimeError, "Expected 3D or 4D"),
        (lambda F, x: F.adaptive_avg_pool3d(x, 2), (4, 5), RuntimeError, "Expected 4D or 5D"),
        (lambda F, x: F.adaptive_avg_pool1d(x, 2), (2, 3, 4, 5), RuntimeError, "Expected 2 to 3"),
        (lambda F, x: F.adaptive_max_pool1d(x, (2, 3)), (3, 7), RuntimeError, "contain one int"),
        (lambda F, x: F.adaptive_avg_pool2d(x, 2), (2, 3, 0, 5), RuntimeError, "non-zero size"),
        (
            lambda F, x: F.adaptive_max_pool2d(x.long(), 2),
            (2, 3, 4, 5),
            NotImplementedError,
            "'Long'",
        ),
    ]
    for call, shape, error, words in cases:
        with pytest.raises(error, match=words):
            call(TF, torch.zeros(shape))
        with pytest.raises(error, match=words):
            call(F, pf.zeros(*shape))
    with pytest.raises(RuntimeError, match=r"test_nn_adaptive_pool\.py:\d+: adaptive_avg_pool2d"):
        F.adaptive_avg_pool2d(pf.zeros(1, 2, 3, 3), -2)
