"""Regression tests for the bugs the differential fuzzer (tests/fuzz) found, one per bug, each a
plain PyFlame program checked against numpy (semantics: PyTorch's).

A bug not fixed yet is a strict xfail and its pattern is in `tests.fuzz.programs.KNOWN_BUGS`
(the fuzzer avoids it so that long runs report new bugs only). When a fix makes the test pass
(XPASS fails the run), remove the xfail mark and the KNOWN_BUGS entry of the same name.
Reproducers of the grad, rebuild and threads modes (tests/fuzz/modes.py) compare with torch
through `tests.fuzz.modes` helpers.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import pyflame as pf

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # grad reproducers import tests.fuzz.modes (check_against_torch)
    sys.path.insert(0, str(ROOT))


pytestmark = pytest.mark.usefixtures("small_target")


def test_reduce_0d_tensor_over_dim_0():
    # found as `t4 = t3.sum(-1, True)` with t3 0-d: ShapeError (fixed since: shapes.normalize_dim
    # rejected dim -1 and shapes.reduce dim 0 for a 0-d tensor)
    a = np.array(2.5, np.float32)
    for reduce in (pf.sum, pf.mean):
        for dim in (0, -1, (0,), (-1,)):
            for keepdim in (False, True):
                y = reduce(pf.from_numpy(a), dim, keepdim)
                assert y.shape == ()  # as torch.tensor(2.5).sum(dim=0, keepdim=True)
                np.testing.assert_array_equal(y.numpy(), a)


def test_transpose_0d_tensor():
    # found as `t8 = x5.transpose(0, 0)` with x5 0-d: IndexError in shapes.transpose_perm
    a = np.array(-1.25, np.float32)
    for d0, d1 in ((0, 0), (0, -1), (-1, -1)):
        y = pf.from_numpy(a).transpose(d0, d1)
        np.testing.assert_array_equal(y.numpy(), a)


@pytest.mark.parametrize("dtype", [pf.float16, pf.bfloat16], ids=repr)
def test_half_precision_randn_consumers_see_rounded_values(dtype):
    # found as pf.minimum(x.abs(), pf.randn([], dtype=pf.bfloat16)): the minimum used values
    # that are not those of the evaluated randn tensor. The flame IR is right
    # (flame.random_normal -> tensor<4xf16>); the mesh IR is not (mesh.random_normal ->
    # !mesh.tensor<4xf32>, then mesh.convert f32 -> f32 is a no-op).
    pf.manual_seed(0)
    y = pf.randn([4], dtype=dtype, layout=pf.MeshLayout.single())
    z = y.to(pf.float32)
    pf.eval(y, z)
    assert y.dtype == dtype and z.dtype == pf.float32
    np.testing.assert_array_equal(z.numpy(), y.numpy().astype(np.float32))


def test_int_tensor_pow_int_scalar_stays_int():
    # found as `x10 ** 2` with x10 int32: dtype pf.float32 (values right)
    a = np.array([[-3, 0, 2], [4, 1, -1]], np.int32)
    for y in (pf.from_numpy(a) ** 2, pf.pow(pf.from_numpy(a), 3)):
        assert y.dtype == pf.int32
    np.testing.assert_array_equal((pf.from_numpy(a) ** 2).numpy(), a**2)


def test_sum_of_bool_counts():
    # found as `t7.sum(None, True)` of a bool tensor: a bool (fixed since)
    b = np.array([[True, False, True], [False, False, True]])
    s, s0 = pf.from_numpy(b).sum(), pf.from_numpy(b).sum(dim=0, keepdim=True)
    pf.eval(s, s0)
    assert s.dtype == pf.int32 and s0.dtype == pf.int32
    assert s.item() == 3
    np.testing.assert_array_equal(s0.numpy(), [[1, 0, 2]])


def test_squeeze_0d_tensor_dim_minus_1():
    # found as `t4 = pf.squeeze(t3, -1)` with t3 0-d: ShapeError
    a = np.array(0.75, np.float32)
    for y in (pf.from_numpy(a).squeeze(-1), pf.squeeze(pf.from_numpy(a), (-1,))):
        assert y.shape == ()
        np.testing.assert_array_equal(y.numpy(), a)


def test_cat_and_stack_promote_dtypes():
    # found as `pf.cat((t9, x10), 2)` of float16 and float32: ShapeError "tensors of one dtype
    # expected" (fixed since); PyTorch promotes as for `+`
    h = np.array([[1.5, -2.0]], np.float16)
    f = np.array([[0.25, 3.0]], np.float32)
    i = np.array([[7, -1]], np.int32)
    c = pf.cat([pf.from_numpy(h), pf.from_numpy(f)], 0)
    s = pf.stack((pf.from_numpy(i), pf.from_numpy(f)), 1)
    b = pf.cat([pf.from_numpy(np.array([True, False])), pf.from_numpy(np.ones(1, np.float16))])
    pf.eval(c, s, b)
    assert (c.dtype, s.dtype, b.dtype) == (pf.float32, pf.float32, pf.float16)
    np.testing.assert_array_equal(c.numpy(), np.concatenate([h, f]).astype(np.float32))
    np.testing.assert_array_equal(s.numpy(), np.stack([i, f], 1).astype(np.float32))
    np.testing.assert_array_equal(b.numpy(), np.array([1, 0, 1], np.float16))


# ----------------------------------------------------------------------------- gradients
# (found by the fuzzer's grad, rebuild and threads modes, tests/fuzz/modes.py; expected values
# are torch.autograd's)


def _leaf(values):
    x = pf.from_numpy(np.asarray(values, np.float32))
    x.requires_grad = True
    return x


def test_grad_relu_keeps_nan_out_of_masked_elements():
    # found as relu(x) of an x with NaN entries, then std over a column holding the NaN: the
    # NaN gradient went into the elements relu masks (g * 0 = NaN); torch's relu uses a where.
    # Fixed (pyflame/gradients.py).
    x = _leaf([1.0, np.nan, -2.0])
    pf.backward((pf.relu(x) * pf.from_numpy(np.array([1.0, 1.0, np.nan], np.float32))).sum())
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 1.0, 0.0])  # torch


def test_values_read_before_backward_keep_the_graph():
    w = _leaf([1.0, 2.0, 3.0])
    y = w * 3.0
    np.testing.assert_array_equal(y.numpy(), [3.0, 6.0, 9.0])  # read an intermediate
    loss = (y * w).sum()
    assert loss.item() == 42.0  # log the loss, as a training loop does
    loss.backward()
    np.testing.assert_array_equal(w.grad.numpy(), [6.0, 12.0, 18.0])  # torch: 6 * w


def test_two_threads_keep_their_own_grad_mode():
    import threading

    inside, done = threading.Event(), threading.Event()
    out: dict = {}

    def inference():  # thread B: evaluation under no_grad
        with pf.target(pf.sim.SMALL), pf.autograd.no_grad():
            inside.set()
            done.wait(60)
            y = pf.from_numpy(np.ones(3, np.float32)) * 2.0
            out["b"] = (y.numpy(), y.requires_grad)

    def training():  # thread A: builds and differentiates while B is inside no_grad
        inside.wait(60)
        try:
            with pf.target(pf.sim.SMALL):
                w = _leaf([1.0, 2.0, 3.0])
                loss = (w * w).sum()
                loss.backward()
                out["a"] = w.grad.numpy()
        except Exception as err:  # reported below, not as an unhandled thread exception
            out["a"] = err
        finally:
            done.set()

    threads = [threading.Thread(target=inference), threading.Thread(target=training)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not isinstance(out["a"], Exception), out["a"]
    np.testing.assert_array_equal(out["a"], [2.0, 4.0, 6.0])
    np.testing.assert_array_equal(out["b"][0], [2.0, 2.0, 2.0])
    assert out["b"][1] is False


def test_grad_pad_negative_width():
    x = _leaf(np.arange(5.0))
    pf.backward(pf.pad(x, (-2, 2)).sum())
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0, 1.0, 1.0, 1.0])


def test_grad_prod_with_a_zero():
    x = _leaf([2.0, 0.0, 3.0])
    pf.backward(x.prod())
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 6.0, 0.0])


def test_grad_std_of_a_constant_row():
    x = _leaf([[1.5, 1.5, 1.5], [1.0, 2.0, 3.0]])
    pf.backward(x.std(dim=1).sum())
    np.testing.assert_allclose(x.grad.numpy(), [[0.0, 0.0, 0.0], [-0.5, 0.0, 0.5]], atol=1e-6)


def test_grad_max_dim_ties_go_to_the_returned_index():
    x = _leaf([[1.0, 3.0, 3.0], [0.0, 0.0, -1.0]])
    values, indices = x.max(dim=1)
    pf.backward(values.sum() + x.min(dim=1).values.sum())
    np.testing.assert_array_equal(indices.numpy(), [1, 0])
    # row 1: max 0 at index 0 (the first of the tie), min -1 at index 2 (as torch)
    np.testing.assert_array_equal(x.grad.numpy(), [[1.0, 1.0, 0.0], [1.0, 0.0, 1.0]])


def test_grad_clamp_on_a_bound_passes_whole():
    x = _leaf([-1.0, 0.0, 0.5, 2.0, 3.0])
    pf.backward(x.clamp(0, 2).sum())
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 1.0, 1.0, 1.0, 0.0])


def test_grad_nan_through_max_min_clamp():
    nan = np.nan
    x = _leaf([1.0, nan, -2.0])
    pf.backward(x.max())  # torch: the gradient goes to the NaN (the max)
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 1.0, 0.0])
    x = _leaf([1.0, nan, -2.0])
    upstream = pf.from_numpy(np.array([1.0, 1.0, nan], np.float32))
    pf.backward((pf.maximum(x, pf.zeros([3])) * upstream).sum())
    # torch: [1, 1, 0]: the NaN gradient of the masked element does not reach x
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 1.0, 0.0])
    x = _leaf([1.0, nan, -2.0])
    pf.backward((x.clamp(-1.0, 0.5) * upstream).sum())
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0, 0.0])  # torch
    x = _leaf(np.array([[[1.0, nan, 3.0, 0.0]]]))
    pf.backward(pf.nn.functional.max_pool2d(x, (1, 2)).sum())
    np.testing.assert_array_equal(x.grad.numpy(), [[[0.0, 1.0, 1.0, 0.0]]])  # torch


def test_grad_max_pool_of_an_all_minus_inf_window():
    # found as max_pool2d(x0, (3, 1), 1, (1, 0)) of an input with -inf entries (fuzzer seed 0,
    # program 149): a window whose in-bounds values are all -inf sent its gradient to the
    # padding (-inf too, and the first tap), so nowhere. torch's CPU kernel starts from the
    # window's first in-bounds element: padding and ceil_mode's extra taps never take it.
    inf, nan = np.inf, np.nan
    x = _leaf([[[-inf], [-inf], [2.0], [-inf]]])
    y = pf.nn.functional.max_pool2d(x, (3, 1), 1, (1, 0))
    pf.backward((y * pf.from_numpy(np.arange(1.0, 5.0, dtype=np.float32).reshape(1, 4, 1))).sum())
    pf.eval(y, x.grad)
    np.testing.assert_array_equal(y.numpy().ravel(), [-inf, 2.0, 2.0, 2.0])  # torch
    np.testing.assert_array_equal(x.grad.numpy().ravel(), [1.0, 0.0, 9.0, 0.0])  # torch
    x = _leaf([[[-inf, -inf, 1.0, -inf, -inf], [-inf, -inf, -inf, -inf, nan]]])
    y = pf.nn.functional.max_pool2d(x, 3, 2, 1, ceil_mode=True)
    pf.backward((y * pf.from_numpy(np.arange(1.0, 7.0, dtype=np.float32).reshape(1, 2, 3))).sum())
    pf.eval(y, x.grad)
    np.testing.assert_array_equal(y.numpy(), [[[-inf, 1.0, nan], [-inf, -inf, nan]]])  # torch
    np.testing.assert_array_equal(
        x.grad.numpy(), [[[1.0, 0.0, 2.0, 0.0, 0.0], [4.0, 5.0, 0.0, 0.0, 9.0]]]
    )


def test_pad_crops_before_it_pads():
    # the fuzzer (seed 0, program 1348) generated pf.pad(x0, (1, 0, 3, -2)) of a [1, 17] tensor
    # and expected a result; PyFlame raised, and so does torch (constant_pad_nd narrows by the
    # negative widths first: "narrow(): length must be non-negative"). The generator was wrong
    # (tests/fuzz/programs.py pad_attrs); the rule it now follows, checked here:
    x = pf.from_numpy(np.arange(3.0, dtype=np.float32))
    with pytest.raises(pf.ShapeError, match="crop more than"):
        pf.pad(x, (2, -4))  # a size of 1 after the padding, but 4 > 3 cropped first
    np.testing.assert_array_equal(pf.pad(x, (2, -3), value=1.5).numpy(), [1.5, 1.5])  # torch
    assert pf.pad(x, (-3, 0)).shape == (0,)
    with pytest.raises(pf.ShapeError, match="crop more than"):
        pf.pad(pf.zeros(1, 17), (1, 0, 3, -2))


def test_reduce_a_zero_size_tensor():
    # found as the loss term (x.narrow(-1, 3, 0) * w).sum() of a grad program: ValueError
    # "cannot reshape array of size 1 into shape (1,1,0)" from sim/executable.py
    x = _leaf([1.0, 2.0, 3.0, 4.0])
    empty = x.narrow(0, 3, 0)
    loss = empty.sum() + x.sum()
    pf.backward(loss)
    pf.eval(loss, x.grad)
    assert loss.item() == 10.0  # torch: sum of nothing is 0
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 1.0, 1.0, 1.0])
    a, b = pf.from_numpy(np.zeros((4, 0), np.float32)), pf.from_numpy(np.ones((0, 3), np.float32))
    np.testing.assert_array_equal((a @ b).numpy(), np.zeros((4, 3)))  # a sum over K = 0


def test_pool_ceil_mode():
    F = pf.nn.functional
    x = _leaf(np.arange(25.0).reshape(1, 1, 5, 5))
    y = F.avg_pool2d(x, 2, 2, 0, ceil_mode=True, count_include_pad=False)
    pf.backward(y.sum())
    pf.eval(y, x.grad)
    np.testing.assert_array_equal(y.numpy()[0, 0, :, 2], [6.5, 16.5, 24.0])  # torch
    want = np.full((5, 5), 0.25)
    want[4, :] = want[:, 4] = 0.5
    want[4, 4] = 1.0
    np.testing.assert_array_equal(x.grad.numpy()[0, 0], want)  # torch
    small = pf.from_numpy(np.arange(4.0, dtype=np.float32).reshape(1, 1, 2, 2))
    assert F.max_pool2d(small, 3, 2, 0, ceil_mode=True).numpy().ravel().tolist() == [3.0]


def test_cross_entropy_with_minus_inf_logits():
    logits = _leaf([[1.0, -np.inf, 0.5], [0.0, 2.0, -np.inf]])
    loss = pf.nn.functional.cross_entropy(logits, pf.from_numpy(np.array([0, 1], np.int32)))
    pf.backward(loss)
    pf.eval(loss, logits.grad)
    np.testing.assert_allclose(loss.item(), 0.3005, atol=1e-4)  # torch
    np.testing.assert_allclose(
        logits.grad.numpy(), [[-0.1888, 0.0, 0.1888], [0.0596, -0.0596, 0.0]], atol=1e-4
    )


def test_sdpa_query_that_attends_to_nothing():
    q, k = pf.ones([2, 3]), pf.ones([4, 3])
    v = pf.from_numpy(np.arange(8.0, dtype=np.float32).reshape(4, 2))
    mask = pf.from_numpy(np.array([[True, False, True, False], [False] * 4]))
    y = pf.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    np.testing.assert_array_equal(y.numpy(), [[2.0, 3.0], [0.0, 0.0]])  # torch


def _sdpa_grads(q, k, v, **kwargs):
    xs = [_leaf(a) for a in (q, k, v)]
    y = pf.nn.functional.scaled_dot_product_attention(*xs, **kwargs)
    pf.backward(y.sum())
    pf.eval(y, *[x.grad for x in xs])
    return [y.numpy()] + [x.grad.numpy() for x in xs]


def test_sdpa_masked_nan_score_stays_nan():
    # fuzzer program_for(0, 1993): 0 * -inf in q @ k^T is a NaN score; torch adds the bool mask
    # as 0 / -inf, so a masked NaN stays NaN (the row is not all -inf): NaN out, not zeros
    y, gq, gk, gv = _sdpa_grads(
        [[0.0, 1.0], [0.0, 1.0]],
        [[-np.inf, 0.0]],
        [[2.0]],
        attn_mask=pf.from_numpy(np.array([[True], [False]])),
    )
    assert np.isnan(y).all() and np.isnan(gq).all() and np.isnan(gk).all()
    assert np.isnan(gv).all()  # torch


def test_sdpa_minus_inf_query_row_gives_zeros_without_a_mask():
    # fuzzer program_for(0, 854): a -inf query makes its scores all -inf; torch's safe softmax
    # gives that row zeros (and zero gradients to it) with no mask at all, not NaN
    inf = np.inf
    y, gq, gk, gv = _sdpa_grads(
        [[-inf, 1.0], [1.0, 1.0]], [[0.5, 0.5], [0.5, 0.5]], [[1.0, 2.0], [3.0, 4.0]], scale=0.5
    )
    np.testing.assert_array_equal(y, [[0.0, 0.0], [2.0, 3.0]])  # torch
    np.testing.assert_array_equal(gq, np.zeros((2, 2)))
    np.testing.assert_allclose(gk, [[np.nan, -0.5], [np.nan, 0.5]], atol=1e-6)  # 0 * -inf
    np.testing.assert_array_equal(gv, np.full((2, 2), 0.5))


def test_sdpa_causal_nan_value_reaches_masked_key_gradients():
    # fuzzer program_for(0, 1337): the causal mask is added (0 / -inf), so a NaN gradient of
    # the weights (from a NaN value) reaches every key through 0 * NaN, as torch; a `where`
    # mask gave the masked keys 0
    y, gq, gk, gv = _sdpa_grads(
        np.ones((3, 2)),
        [[1.0, -np.inf], [0.0, 1.0], [1.0, 0.0]],
        [[1.0], [np.nan], [2.0]],
        is_causal=True,
    )
    assert np.isnan(y).all() and np.isnan(gq).all() and np.isnan(gk).all()
    np.testing.assert_allclose(gv, [[0.0], [1.5], [0.5]], atol=1e-6)  # torch


def test_half_mean_of_large_values():
    x = pf.full([100], 1000.0, dtype=pf.float16)
    assert x.mean().item() == 1000.0  # torch


# ----------------------------------------------------------------------------- layout hints
# A hint binds the hinted tensor, not everything derived from it (plan-placement's
# `hinted_only`, pyflame/core/placement.py). Before, a tensor hinted `replicated` or `single`
# made every derived tensor (and the backward's temporaries) a whole copy per PE, and small
# programs overflowed PE (0, 0) with SRAMOverflowError.


def test_replicated_hint_does_not_spread_to_derived_tensors():
    # fuzzer program_for(8, 436), minimized: 32x32 replicated on 1x3, then pad, flatten,
    # transposes, gelu and the backward of all of them (48 KiB on PE (0, 0))
    from tests.fuzz.modes import check_against_torch

    def build(pf):
        rng = np.random.default_rng(938981)
        a0 = np.where(rng.random((32, 32)) < 0.2, np.nan, rng.standard_normal((32, 32)))
        x2 = pf.from_numpy(a0.astype(np.float32), layout=pf.MeshLayout.replicated(1, 3))
        x2.requires_grad = True
        t3 = pf.pad(x2, (1, -1), value=1.5)
        t4 = pf.flatten(x2, -2, -2)
        t7 = pf.transpose(x2, -1, 0)
        t9 = pf.transpose(t7, -2, 0)
        t10 = pf.nn.functional.gelu(t7)
        t14 = pf.mul(t7, pf.full((32, 32), 1.0, layout=pf.MeshLayout.single()))
        w = [
            np.random.default_rng(s).standard_normal((32, 32)).astype(np.float32) for s in (1, 2, 3)
        ]
        loss = (
            (t3 * pf.from_numpy(w[0])).sum()
            + (t4 * pf.from_numpy(w[1])).sum()
            + (t9 * pf.from_numpy(w[2])).sum()
            + t10.sum()
            + t14.sum()
        )
        return loss, {"x2": x2}, {"t3": t3, "t4": t4, "t9": t9, "t10": t10, "t14": t14}

    loss, leaves, outs = build(pf)
    pf.backward(loss)
    pf.eval(loss, *outs.values(), leaves["x2"].grad)
    check_against_torch(build, loss, leaves, outs)


def test_replicated_hint_with_pooling_and_std_backward():
    # fuzzer program_for(8, 1116), minimized: 17x7x8 replicated on 3x1 through max_pool2d
    # (ceil_mode), minimum, std, mean and a 1x1 product, then the backward (46 KiB on PE (0, 0))
    from tests.fuzz.modes import check_against_torch

    def build(pf):
        a1 = np.random.default_rng(7525).standard_normal((17, 7, 8)).astype(np.float32)
        x2 = pf.from_numpy(a1, layout=pf.MeshLayout.replicated(3, 1))
        x2.requires_grad = True
        t3 = pf.nn.functional.max_pool2d(x2, 2, 2, 1, ceil_mode=True)
        t5 = x2.minimum(x2)
        t9 = pf.mean(pf.std(-x2, dim=-1, correction=0, keepdim=True), 0, keepdim=False)
        x10 = pf.from_numpy(np.array([[0.75]], np.float32))
        x10.requires_grad = True
        t11 = t9 @ x10
        w0 = np.random.default_rng(808602).standard_normal((17, 4, 5)).astype(np.float32)
        w1 = np.random.default_rng(803034).standard_normal((17, 7, 8)).astype(np.float32)
        w2 = np.random.default_rng(110637).standard_normal((7, 1)).astype(np.float32)
        loss = (
            (t3 * pf.from_numpy(w0)).sum()
            + (t5 * pf.from_numpy(w1)).sum()
            + (t11 * pf.from_numpy(w2)).sum()
        )
        return loss, {"x2": x2, "x10": x10}, {"t3": t3, "t5": t5, "t11": t11}

    loss, leaves, outs = build(pf)
    loss.backward()
    pf.eval(loss, *outs.values(), *[x.grad for x in leaves.values()])
    check_against_torch(build, loss, leaves, outs)
    # the value of one gradient by hand: d loss / d x10 = sum(t9 * w2)
    w2 = np.random.default_rng(110637).standard_normal((7, 1))
    a1 = np.random.default_rng(7525).standard_normal((17, 7, 8)).astype(np.float32)
    t9 = (-a1.astype(np.float64)).std(axis=-1, keepdims=True).mean(axis=0)
    np.testing.assert_allclose(leaves["x10"].grad.numpy(), [[(t9 * w2).sum()]], rtol=1e-4)


def test_program_for_16_57_layer_norm_with_an_infinite_weight():
    """layer_norm's input gradient where its weight holds -inf (and its input -inf): PyTorch's
    native formula (dx = rstd * g * w + b * x + c per row) gives +-inf where autograd through
    the decomposition gave NaN (3 of 195 elements); the rule `gradients.LayerNorm` is torch's."""
    from tests.fuzz.modes import check_against_torch

    def build(pf):
        rng = np.random.default_rng
        a0 = np.where(
            rng(466549).random((13, 3, 5)) < 0.2, -np.inf, rng(466548).standard_normal((13, 3, 5))
        ).astype(np.float32)
        x0 = pf.from_numpy(a0, layout=pf.MeshLayout.grid(5, 1))
        x0.requires_grad = True
        a1 = np.where(rng(63292).random((5,)) < 0.2, -np.inf, rng(63291).standard_normal((5,)))
        x1 = pf.from_numpy(a1.astype(np.float32))
        x2 = pf.from_numpy(rng(773797).integers(-2, 3, (5,)).astype(np.float32))
        x2.requires_grad = True
        t3 = pf.nn.functional.layer_norm(x0, [5], x1, x2, eps=1e-05)
        w0 = rng(37612).standard_normal((13, 3, 5)).astype(np.float32)
        loss = (t3 * pf.from_numpy(w0)).sum()
        return loss, {"x0": x0, "x2": x2}, {"t3": t3}

    with pf.target(pf.sim.SMALL):
        pf.manual_seed(787028017)
        loss, leaves, outs = build(pf)
        loss.numpy()
        pf.backward(loss)
        pf.eval(loss, *outs.values(), *[x.grad for x in leaves.values() if x.grad is not None])
    check_against_torch(build, loss, leaves, outs)
    assert np.isinf(leaves["x0"].grad.numpy()).any()  # the elements that were NaN


def test_program_for_18_793_prod_of_all_with_zeros_and_an_infinite_gradient():
    """`prod(x)` without dim, x holding two or more zeros, reached by an infinite (or NaN)
    gradient: PyTorch's `prod_backward` gives zeros there, whatever the gradient; PyFlame gave
    NaN (inf * 0). Found through attention on a product of 990 values (its gradient inf); a
    product over given dims keeps torch's NaN and inf (`prod_safe_zeros_backward`), and one
    zero gives inf at the zero and NaN elsewhere, as torch."""
    torch = pytest.importorskip("torch")
    a = np.array([[0.0, 0.0, 2.0], [3.0, 1.0, 2.0]], np.float32)
    for reduce in (
        lambda t: t.prod(),
        lambda t: t.prod(1).sum(),
        lambda t: t.prod(1, keepdim=True).sum(),
        lambda t: t[1:, :].prod() + t[:1, 1:].prod(),  # one zero; none
    ):
        x = pf.from_numpy(a)
        x.requires_grad = True
        pf.backward(reduce(x) * float("inf"))
        tx = torch.tensor(a, requires_grad=True)
        (reduce(tx) * float("inf")).backward()
        np.testing.assert_array_equal(x.grad.numpy(), tx.grad.numpy())


def test_program_for_2501_90_a_narrow_broadcast_broadcast_again():
    """Cross entropy's gradient on one PE: a fused expression broadcasts one value per PE,
    negates it and broadcasts the result again (`broadcast($0, 1, 13); neg(%0);
    broadcast(%1, 13x1, 13x1); select(...)`). A value broadcast from one lane is kept narrow
    for numpy to broadcast (pyflame/core/fused_expr.py); the second broadcast reshaped the
    narrow value and failed, until a narrow source is widened first (session 25)."""
    from tests.fuzz.modes import check_against_torch

    def build(pf):
        rng = np.random.default_rng
        x4 = pf.from_numpy(rng(732084).standard_normal((1, 1)).astype(np.float32))
        x4.requires_grad = True
        a4 = rng(605127).integers(-2, 3, (13, 1)).astype(np.float32)
        x7 = pf.from_numpy(a4, layout=pf.MeshLayout.single())
        x7.requires_grad = True
        labels = np.zeros(13, np.int32)
        t9 = pf.nn.functional.cross_entropy(x4 + x7, pf.from_numpy(labels), reduction="mean")
        w1 = rng(833424).standard_normal(()).astype(np.float32)
        loss = (t9 * pf.from_numpy(w1)).sum()
        return loss, {"x4": x4, "x7": x7}, {"t9": t9}

    with pf.target(pf.sim.SMALL):
        pf.manual_seed(121447236)
        loss, leaves, outs = build(pf)
        loss.backward()
        pf.eval(loss, *outs.values(), *[x.grad for x in leaves.values() if x.grad is not None])
    check_against_torch(build, loss, leaves, outs)


def test_program_for_3332_32_remainder_of_a_0d_tensor_by_a_leaf():
    """`pf.zeros([]) % x` with x requiring grad: PyTorch's remainder(Tensor, Tensor) has a
    derivative for x (-g * floor(a / x)); only remainder(Scalar, Tensor), `5.0 % x`, has none.
    PyFlame took every rank-0 fill for a Python number and raised PyTorch's error for both,
    until the constants made from Python numbers were marked (`ops.saved.is_python_number`,
    session 33). What PyTorch saves for backward follows the same overloads."""
    torch = pytest.importorskip("torch")
    from tests.fuzz.modes import check_against_torch

    def build(pf):
        x0 = pf.zeros([])
        x3 = pf.from_numpy(np.array(-1.25, np.float32), layout=pf.MeshLayout.replicated(3, 1))
        x3.requires_grad = True
        t4 = x0 % x3
        loss = (t4 * pf.from_numpy(np.array(0.75, np.float32))).sum()
        return loss, {"x3": x3}, {"t4": t4}

    with pf.target(pf.sim.SMALL):
        loss, leaves, outs = build(pf)
        pf.backward(loss)
        pf.eval(loss, *outs.values(), *[x.grad for x in leaves.values() if x.grad is not None])
    check_against_torch(build, loss, leaves, outs)
    # a tensor dividend of several values, against torch's gradient
    a = np.array([2.5, -7.0, 3.0, 0.5], np.float32)
    x = pf.from_numpy(np.array(-1.5, np.float32))
    x.requires_grad = True
    pf.backward((pf.from_numpy(a) % x * pf.from_numpy(a)).sum())
    tx = torch.tensor(-1.5, requires_grad=True)
    (torch.from_numpy(a) % tx * torch.from_numpy(a)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), tx.grad.numpy())
    # a Python number dividend: no derivative, as PyTorch
    y = pf.from_numpy(np.array(1.5, np.float32))
    y.requires_grad = True
    with pytest.raises(RuntimeError, match="derivative for aten::remainder is not implemented"):
        pf.backward(5.0 % y)
