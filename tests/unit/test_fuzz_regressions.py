"""Regression tests for the bugs the differential fuzzer (tests/fuzz) found, one per bug, each a
plain PyFlame program checked against numpy (semantics: PyTorch's).

A bug not fixed yet is a strict xfail and its pattern is in `tests.fuzz.programs.KNOWN_BUGS`
(the fuzzer avoids it so that long runs report new bugs only). When a fix makes the test pass
(XPASS fails the run), remove the xfail mark and the KNOWN_BUGS entry of the same name.
"""

from __future__ import annotations

import numpy as np
import pytest

import pyflame as pf


@pytest.fixture(autouse=True)
def small_target():
    with pf.target(pf.sim.SMALL):
        yield


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
