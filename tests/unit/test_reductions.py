"""Reductions and softmax through the whole pipeline against PyTorch, under every layout.

sum, mean, prod, max/min (with and without dim), amax, amin, argmax, argmin, var, std,
logsumexp, softmax, log_softmax: odd shapes that leave padding, negative dims, tuples,
keepdim, ties, -inf masking, NaN, float16/bfloat16 and int32. Plus the frontend's errors, the
composite ops in the flame IR and their decomposition.
"""

from __future__ import annotations

import sys
import warnings

import numpy as np
import pytest
import torch
from layouts import LAYOUTS

import pyflame as pf
from pyflame import compiler
from pyflame.core import reductions
from pyflame.dialects import flame
from pyflame.passes.decompose import DECOMPOSITIONS, DecomposePass
from pyflame.tracing import trace

SHAPES = [(7, 5), (8, 8), (1, 9), (13, 3)]
DIMS = [None, 0, -1, (0, 1), (-1, 0)]


pytestmark = pytest.mark.usefixtures("small_target")


def check(pairs, rtol=1e-4, atol=1e-5):
    """Evaluate every PyFlame result in one program; compare with the torch results."""
    pf.eval(*[p for p, _ in pairs.values()])
    for name, (p, want) in pairs.items():
        got = p.numpy()
        assert got.shape == tuple(want.shape), name
        np.testing.assert_allclose(
            got.astype(np.float64),
            want.double().numpy(),
            rtol=rtol,
            atol=atol,
            equal_nan=True,
            err_msg=name,
        )


def ties(shape, seed=0):
    """Small integers as floats: many equal values in every row and column."""
    return np.random.default_rng(seed).integers(-3, 3, shape).astype(np.float32)


def torch_dim(dim):
    return tuple(range(2)) if dim is None else dim


# --------------------------------------------------------------------------- numerics


@pytest.mark.parametrize("layout", LAYOUTS, ids=repr)
@pytest.mark.parametrize("shape", SHAPES)
def test_value_reductions(layout, shape):
    a = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    x, t = pf.from_numpy(a, layout=layout), torch.from_numpy(a)
    pairs = {"max": (pf.max(x), torch.max(t)), "min": (x.min(), t.min())}
    for dim in DIMS:
        for keep in (False, True):
            k = f"{dim}/{keep}"
            pairs[f"sum {k}"] = (x.sum(dim, keep), t.sum(torch_dim(dim), keep))
            pairs[f"mean {k}"] = (pf.mean(x, dim, keep), t.mean(torch_dim(dim), keep))
            pairs[f"amax {k}"] = (x.amax(dim, keep), t.amax(torch_dim(dim), keep))
            pairs[f"amin {k}"] = (pf.amin(x, dim, keep), t.amin(torch_dim(dim), keep))
            pairs[f"prod {k}"] = (pf.prod(x, dim, keep), _torch_prod(t, dim, keep))
    check(pairs)


def _torch_prod(t, dim, keep):
    """torch.prod takes one dim: a tuple is a product of products."""
    if dim is None:
        out = t.prod()
        return out.reshape([1] * t.ndim) if keep else out
    for d in sorted((d % t.ndim for d in ((dim,) if isinstance(dim, int) else dim)), reverse=True):
        t = t.prod(d, keepdim=keep)
    return t


@pytest.mark.parametrize("layout", LAYOUTS, ids=repr)
@pytest.mark.parametrize("shape", SHAPES)
def test_max_min_argmax_argmin_first_of_ties(layout, shape):
    a = ties(shape)
    x, t = pf.from_numpy(a, layout=layout), torch.from_numpy(a)
    pairs = {
        "argmax": (x.argmax(), t.argmax()),
        "argmin": (pf.argmin(x), torch.argmin(t)),
        "argmax keep": (pf.argmax(x, keepdim=True), torch.argmax(t, keepdim=True)),
    }
    for dim in (0, 1, -1, -2):
        for keep in (False, True):
            k = f"{dim}/{keep}"
            values, indices = pf.max(x, dim, keep)
            want = torch.max(t, dim, keep)
            pairs[f"max values {k}"] = (values, want.values)
            pairs[f"max indices {k}"] = (indices, want.indices)
            low = x.min(dim, keepdim=keep)
            want = t.min(dim, keepdim=keep)
            pairs[f"min values {k}"] = (low.values, want.values)
            pairs[f"min indices {k}"] = (low.indices, want.indices)
            pairs[f"argmax {k}"] = (pf.argmax(x, dim, keep), torch.argmax(t, dim, keep))
            pairs[f"argmin {k}"] = (x.argmin(dim, keep), t.argmin(dim, keep))
    check(pairs, rtol=0, atol=0)
    assert pf.argmax(x, 0).dtype is pf.int32  # PyTorch: int64


@pytest.mark.parametrize("layout", LAYOUTS, ids=repr)
@pytest.mark.parametrize("shape", [(7, 5), (13, 3), (1, 9)])
def test_var_std(layout, shape):
    a = (np.random.default_rng(2).standard_normal(shape) * 3 + 1).astype(np.float32)
    x, t = pf.from_numpy(a, layout=layout), torch.from_numpy(a)
    pairs = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch warns where dof <= 0 (1-row shapes: inf, nan)
        for dim in DIMS:
            td = torch_dim(dim)
            pairs[f"var {dim}"] = (x.var(dim), t.var(td))
            pairs[f"std {dim} keep"] = (pf.std(x, dim, keepdim=True), t.std(td, keepdim=True))
            pairs[f"var {dim} biased"] = (pf.var(x, dim, unbiased=False), t.var(td, unbiased=False))
            pairs[f"std {dim} c=2"] = (x.std(dim, correction=2), t.std(td, correction=2))
            pairs[f"var {dim} c=0.5"] = (x.var(dim, correction=0.5), t.var(td, correction=0.5))
        pairs["var(True)"] = (pf.var(x, True), torch.var(t, True))
        pairs["std(False)"] = (x.std(False), t.std(False))
    check(pairs)


@pytest.mark.parametrize("layout", LAYOUTS, ids=repr)
@pytest.mark.parametrize("shape", SHAPES)
def test_softmax_log_softmax_logsumexp(layout, shape):
    a = np.random.default_rng(3).standard_normal(shape).astype(np.float32) * 4
    x, t = pf.from_numpy(a, layout=layout), torch.from_numpy(a)
    pairs = {}
    for dim in (0, 1, -1, -2):
        pairs[f"softmax {dim}"] = (pf.softmax(x, dim), torch.softmax(t, dim))
        pairs[f"log_softmax {dim}"] = (x.log_softmax(dim), t.log_softmax(dim))
    for dim in (0, -1, (0, 1), None):
        for keep in (False, True):
            pairs[f"logsumexp {dim}/{keep}"] = (
                pf.logsumexp(x, dim, keep),
                torch.logsumexp(t, torch_dim(dim), keep),
            )
    check(pairs, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("layout", LAYOUTS, ids=repr)
def test_minus_inf_masking_and_nan_like_pytorch(layout):
    """Masked entries (-inf), a fully masked row and column (softmax: NaN; logsumexp: -inf),
    +inf and NaN entries."""
    a = np.random.default_rng(4).standard_normal((7, 6)).astype(np.float32)
    a[1, :] = -np.inf  # fully masked row
    a[:, 4] = -np.inf  # fully masked column
    a[3, 2] = a[5, 0] = -np.inf
    a[6, 1] = np.inf
    a[0, 3] = np.nan
    x, t = pf.from_numpy(a, layout=layout), torch.from_numpy(a)
    pairs = {}
    for dim in (0, 1):
        pairs[f"softmax {dim}"] = (x.softmax(dim), t.softmax(dim))
        pairs[f"log_softmax {dim}"] = (x.log_softmax(dim), t.log_softmax(dim))
        pairs[f"logsumexp {dim}"] = (x.logsumexp(dim), t.logsumexp(dim))
        pairs[f"amax {dim}"] = (x.amax(dim), t.amax(dim))
        pairs[f"amin {dim}"] = (x.amin(dim), t.amin(dim))
        pairs[f"argmax {dim}"] = (x.argmax(dim), t.argmax(dim))
        pairs[f"argmin {dim}"] = (x.argmin(dim), t.argmin(dim))
        pairs[f"max {dim}"] = (x.max(dim).indices, t.max(dim).indices)
    # the guide's masked attention: where(mask == 0, -inf, scores), then softmax
    s = np.random.default_rng(5).standard_normal((7, 6)).astype(np.float32)
    keep = np.tril(np.ones((7, 6), np.float32), -1)  # row 0 is fully masked
    scores, mask = pf.from_numpy(s, layout=layout), pf.from_numpy(keep, layout=layout)
    masked = pf.where(mask == 0, pf.full_like(scores, float("-inf")), scores)
    tm = torch.from_numpy(s).masked_fill(torch.from_numpy(keep) == 0, float("-inf"))
    pairs["masked softmax"] = (pf.softmax(masked, dim=-1), torch.softmax(tm, dim=-1))
    check(pairs, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "layout",
    [None, pf.MeshLayout.grid(3, 3), pf.MeshLayout.grid(2, 3), pf.MeshLayout.col_partition(3)],
    ids=repr,
)
@pytest.mark.parametrize("dtype", [pf.float16, pf.bfloat16], ids=str)
def test_half_floats(layout, dtype):
    """Half floats accumulate (and softmax, var, logsumexp compute) in float32."""
    a = np.random.default_rng(5).standard_normal((7, 5)).astype(np.float32)
    tdt = {pf.float16: torch.float16, pf.bfloat16: torch.bfloat16}[dtype]
    x = pf.from_numpy(a, layout=layout).to(dtype)
    t = torch.from_numpy(a).to(tdt)
    pairs = {
        "sum": (x.sum(0), t.sum(0)),
        "mean": (x.mean(), t.mean()),
        "prod": (x[:, :3].prod(1), t[:, :3].prod(1)),
        "amax": (x.amax(1), t.amax(1)),
        "max": (x.max(0).values, t.max(0).values),
        "argmin": (x.argmin(1), t.argmin(1)),
        "var": (x.var(0), t.var(0)),
        "std": (x.std(), t.std()),
        "logsumexp": (x.logsumexp(1), t.logsumexp(1)),
        "softmax": (x.softmax(-1), t.softmax(-1)),
        "log_softmax": (x.log_softmax(0), t.log_softmax(0)),
    }
    tol = 1e-2 if dtype is pf.float16 else 4e-2
    check(pairs, rtol=tol, atol=tol)
    for name in ("sum", "var", "softmax", "logsumexp"):
        assert pairs[name][0].dtype is dtype, name


@pytest.mark.parametrize(
    "layout", [None, pf.MeshLayout.grid(3, 2), pf.MeshLayout.row_partition(4)], ids=repr
)
@pytest.mark.parametrize("dtype", [pf.float16, pf.bfloat16], ids=str)
def test_half_cumsum_accumulates_in_float32_and_rounds_once(layout, dtype):
    """torch.cumsum of float16/bfloat16 keeps a float32 running sum and rounds each prefix
    once; PyFlame added in the half dtype (every step rounded: 22 of 64 prefix sums of
    |normal| values differed in float16). The scan's float32 order differs from torch's
    sequential one, so a prefix sum may differ by the last bit of float32 before rounding:
    checked bit for bit against torch here (the float32 differences do not reach the half
    dtype on these values) and against float64 sums within half an ulp of the dtype."""
    rng = np.random.default_rng(0)
    a = np.abs(rng.standard_normal((7, 64))).astype(np.float32)
    a[3] = rng.standard_normal(64)  # both signs
    tdt = {pf.float16: torch.float16, pf.bfloat16: torch.bfloat16}[dtype]
    x = pf.from_numpy(a, layout=layout).to(dtype)
    t = torch.from_numpy(a).to(tdt)
    got = [x.cumsum(1), pf.cumsum(x, 0), pf.cumsum(x[:, :13], -1), x.float().cumsum(1, dtype=dtype)]
    want = [
        t.cumsum(1),
        torch.cumsum(t, 0),
        torch.cumsum(t[:, :13], -1),
        t.float().cumsum(1, dtype=tdt),
    ]
    pf.eval(*got)
    for i, (g, w) in enumerate(zip(got, want, strict=True)):
        assert g.dtype is dtype and g.shape == tuple(w.shape), i
        np.testing.assert_array_equal(g.float().numpy(), w.float().numpy(), err_msg=str(i))
    exact = np.cumsum(t.double().numpy(), 1)
    ulp = np.spacing(exact.astype(np.float16)).astype(np.float64)
    if dtype is pf.bfloat16:
        ulp = ulp * 8  # bfloat16 keeps 3 fewer mantissa bits than float16
    assert np.all(np.abs(got[0].float().numpy() - exact) <= ulp / 2 + 1e-6)


@pytest.mark.parametrize("layout", LAYOUTS, ids=repr)
def test_int32(layout):
    """Padding gets the kind's integer identity: all-negative data under max, all-positive under
    min (a zero pad would win)."""
    neg = np.random.default_rng(6).integers(-9, -1, (7, 5)).astype(np.int32)
    x, t = pf.from_numpy(neg, layout=layout), torch.from_numpy(neg)
    y, u = -x, -t
    pairs = {
        "amax": (x.amax(0), t.amax(0)),
        "amin": (y.amin(1), u.amin(1)),
        "max": (pf.max(x), t.max()),
        "sum": (x.sum(1), t.sum(1)),
        "prod": (x[:, :3].prod(-1), t[:, :3].prod(-1)),
        "max dim": (x.max(1).values, t.max(1).values),
        "max idx": (x.max(1).indices, t.max(1).indices),
        "argmin": (y.argmin(0), u.argmin(0)),
        "argmax all": (x.argmax(), t.argmax()),
        "logsumexp": (x.logsumexp(1), t.logsumexp(1)),
        "softmax dtype": (x.softmax(1, dtype=pf.float32), t.softmax(1, dtype=torch.float32)),
    }
    check(pairs, rtol=1e-5, atol=1e-6)
    assert x.sum(1).dtype is pf.int32 and x.amax(0).dtype is pf.int32
    assert x.logsumexp(1).dtype is pf.float32


def test_bool():
    b = np.array([[True, False, True], [False, False, False]])
    x, t = pf.from_numpy(b), torch.from_numpy(b)
    pairs = {
        "sum": (x.sum(1), t.sum(1)),
        "amax": (x.amax(1), t.amax(1)),
        "amin": (pf.amin(x, 0), torch.amin(t, 0)),
        "prod": (x.prod(0), t.prod(0)),
    }
    check(pairs, rtol=0, atol=0)
    assert x.sum(1).dtype is pf.int32 and x.amax(1).dtype is pf.bool


@pytest.mark.parametrize(
    "layout",
    [
        None,
        pf.MeshLayout.grid(2, 3),
        pf.MeshLayout.grid(3, 3),
        pf.MeshLayout.row_partition(4),
        pf.MeshLayout.replicated(2, 2),
    ],
    ids=repr,
)
def test_rank3_tuples_and_negative_dims(layout):
    a = (
        ties((3, 5, 6), seed=7)
        + np.random.default_rng(7).standard_normal((3, 5, 6)).astype(np.float32) * 0.01
    )
    x, t = pf.from_numpy(a, layout=layout), torch.from_numpy(a)
    pairs = {}
    for dim in [(0, 2), (-1, -3), (1,), (0, 1, 2), [2, 0]]:
        td = tuple(dim)
        pairs[f"sum {dim}"] = (x.sum(dim), t.sum(td))
        pairs[f"amax {dim}"] = (x.amax(dim, keepdim=True), t.amax(td, keepdim=True))
        pairs[f"var {dim}"] = (x.var(dim), t.var(td))
        pairs[f"logsumexp {dim}"] = (x.logsumexp(dim), t.logsumexp(td))
    for dim in (0, 1, 2, -2):
        pairs[f"softmax {dim}"] = (x.softmax(dim), t.softmax(dim))
        pairs[f"argmin {dim}"] = (x.argmin(dim, keepdim=True), t.argmin(dim, keepdim=True))
        pairs[f"max {dim}"] = (x.max(dim).indices, t.max(dim).indices)
    pairs["argmax"] = (x.argmax(), t.argmax())
    check(pairs)


def test_rank0():
    s, ts = pf.from_numpy(np.array(3.0, np.float32)), torch.tensor(3.0)
    pairs = {
        "sum 0": (pf.sum(s, 0), torch.sum(ts, 0)),
        "sum -1": (s.sum(-1, keepdim=True), ts.sum(-1, keepdim=True)),
        "amax": (s.amax(), ts.amax()),
        "argmax": (s.argmax(), ts.argmax()),
        "max 0": (pf.max(s, 0).indices, torch.max(ts, 0).indices),
        "softmax": (s.softmax(0), ts.softmax(0)),
        "log_softmax": (s.log_softmax(-1), ts.log_softmax(-1)),
        "logsumexp": (s.logsumexp(0), ts.logsumexp(0)),
        "var": (s.var(correction=0), ts.var(correction=0)),
    }
    check(pairs)


# ------------------------------------------------------- an empty dim list (dim=(), dim=[])


def _torch_all_dims(t, op, keep, **kw):
    """torch's op over every dim, kept as size-1 dims when `keep` (for the ops where torch
    refuses a tuple of dims: prod; or raises on dim=() without keepdim: logsumexp)."""
    out = op(t, **kw)
    return out.reshape((1,) * t.ndim) if keep else out


@pytest.mark.parametrize(
    "layout",
    [None, pf.MeshLayout.grid(3, 2), pf.MeshLayout.row_partition(4), pf.MeshLayout.single()],
    ids=repr,
)
@pytest.mark.parametrize("shape", [(7, 13), (2, 3, 5), (), (0, 3)], ids=str)
@pytest.mark.filterwarnings("ignore:.*degrees of freedom is <= 0")  # torch's var of 1 element
def test_an_empty_dim_list_reduces_every_dim_as_pytorch(layout, shape):
    """torch 2.13: sum, mean, amax, amin, var, std, norm (and nansum, var_mean ...) over
    dim=() or [] reduce every dim (shape (), or all ones with keepdim); any/all keep every
    element (x != 0); prod takes one int dim in torch, so PyFlame's tuple form reads () as every
    dim, as sum; logsumexp: torch reduces every dim with keepdim and raises without (a shape
    mismatch), PyFlame reduces every dim both ways. Used to return x unchanged (var/std: NaN)."""
    rng = np.random.default_rng(5)
    a = np.asarray(rng.standard_normal(shape) * 2, np.float32)
    if a.size:
        a.flat[::4] = 0.0
    k = np.asarray(rng.integers(-3, 4, shape), np.int32)
    small = np.asarray(np.abs(a) * 0.3 + 0.5, np.float32)  # products stay finite
    x, t = pf.from_numpy(a, layout=layout), torch.from_numpy(a)
    xk, tk = pf.from_numpy(k, layout=layout), torch.from_numpy(k)
    xs, ts = pf.from_numpy(small, layout=layout), torch.from_numpy(small)
    pairs = {}
    for dim in [(), []]:
        for keep in (False, True):
            key = f"{dim}/{keep}"
            pairs[f"sum {key}"] = (x.sum(dim, keep), t.sum(dim, keep))
            pairs[f"sum int {key}"] = (pf.sum(xk, dim, keep), tk.sum(dim, keep))
            pairs[f"sum bool {key}"] = (pf.sum(xk > 0, dim, keep), (tk > 0).sum(dim, keep))
            pairs[f"mean {key}"] = (pf.mean(x, dim, keep), t.mean(dim, keep))
            if a.size:  # a max of no elements is refused by both
                pairs[f"amax {key}"] = (x.amax(dim, keep), t.amax(dim, keep))
                pairs[f"amin {key}"] = (pf.amin(xk, dim, keep), tk.amin(dim, keep))
            pairs[f"var {key}"] = (pf.var(x, dim, keepdim=keep), t.var(dim, keepdim=keep))
            pairs[f"var c0 {key}"] = (
                x.var(dim, keepdim=keep, correction=0),
                t.var(dim, keepdim=keep, correction=0),
            )
            pairs[f"std {key}"] = (pf.std(x, dim, False, keep), t.std(dim, False, keep))
            for p in (2, 1, 3, 0, float("inf"), float("-inf")):
                if p in (float("inf"), float("-inf")) and not a.size:
                    continue
                pairs[f"norm {p} {key}"] = (x.norm(p, dim, keep), t.norm(p, dim, keep))
            pairs[f"prod {key}"] = (xs.prod(dim, keep), _torch_all_dims(ts, torch.prod, keep))
            pairs[f"prod int {key}"] = (
                pf.prod(xk, dim, keep),
                _torch_all_dims(tk, torch.prod, keep),
            )
            pairs[f"logsumexp {key}"] = (
                x.logsumexp(dim, keep),
                _torch_all_dims(t, torch.logsumexp, keep, dim=tuple(range(t.ndim))),
            )
            pairs[f"any {key}"] = (x.any(dim, keep), t.any(dim, keep))
            pairs[f"all {key}"] = (pf.all(xk, dim, keep), tk.all(dim, keep))
            pairs[f"any bool {key}"] = (pf.any(xk > 0, dim, keep), torch.any(tk > 0, dim, keep))
    if a.ndim:  # torch's own keepdim form of logsumexp agrees
        pairs["logsumexp torch keepdim"] = (
            x.logsumexp((), True),
            torch.logsumexp(t, (), True),
        )
    check(pairs)
    for name, (got, want) in pairs.items():
        assert got.dtype.name == str(want.dtype).removeprefix("torch.").replace("64", "32"), name


def test_an_empty_dim_list_has_the_gradients_of_every_dim():
    """The gradients of the reductions over every dim. (torch 2.13's own backward of
    var(x, dim=()) is inf/NaN: its var_backward reads () as no dims; the reference is var(x).)"""
    a = np.array([[1.5, 0.0, -2.0], [3.0, 0.5, 0.0]], np.float32)
    x = pf.from_numpy(a, layout=pf.MeshLayout.grid(2, 2))
    x.requires_grad = True
    t = torch.from_numpy(a).requires_grad_(True)
    loss = x.sum(()) + x.mean([]) * 2 + x.var(()) + x.norm(dim=()) + x.prod(())
    loss = loss + x.norm(3, []) + x.logsumexp((), True).sum() + x.std([])
    tloss = t.sum(()) + t.mean([]) * 2 + t.var() + t.norm(dim=()) + t.prod()
    tloss = tloss + t.norm(3, []) + t.logsumexp((), True).sum() + t.std()
    pf.backward(loss)
    tloss.backward()
    np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_max_with_a_tensor_is_maximum_and_nn_functional():
    a, b = np.random.default_rng(8).standard_normal((2, 4, 5)).astype(np.float32)
    x, y = pf.from_numpy(a), pf.from_numpy(b)
    F = pf.nn.functional
    check(
        {
            "max(x, y)": (pf.max(x, y), torch.max(torch.from_numpy(a), torch.from_numpy(b))),
            "min(x, y)": (x.min(y), torch.from_numpy(a).min(torch.from_numpy(b))),
            "F.softmax": (
                F.softmax(x, dim=-1),
                torch.nn.functional.softmax(torch.from_numpy(a), -1),
            ),
            "F.log_softmax": (
                F.log_softmax(x, 0),
                torch.nn.functional.log_softmax(torch.from_numpy(a), 0),
            ),
        }
    )
    values, indices = pf.max(x, 1)  # unpacks like torch.return_types.max
    assert (values.shape, indices.shape) == ((4,), (4,))
    assert type(pf.max(x, 1)).__name__ == "max" and pf.min(x, 0)._fields == ("values", "indices")


def test_softmax_without_dim_warns_and_picks_pytorch_dim():
    x = pf.from_numpy(np.random.default_rng(9).standard_normal((3, 4)).astype(np.float32))
    with pytest.warns(UserWarning, match="Implicit dimension choice for softmax"):
        y = pf.softmax(x)
    assert y.attrs["dim"] == 1


# --------------------------------------------------------------------------- frontend errors


def test_shape_errors_name_the_user_line():
    x = pf.zeros(3, 4)
    line = test_shape_errors_name_the_user_line.__code__.co_firstlineno
    with pytest.raises(pf.ShapeError, match=rf"test_reductions.py:{line + 4}: dim 2 is out"):
        pf.amax(x, 2)
    with pytest.raises(pf.ShapeError, match=r"dim -3 is out of range for a tensor of rank 2"):
        x.softmax(-3)
    with pytest.raises(pf.ShapeError, match=r"name the same dimension twice"):
        x.var((0, -2))
    with pytest.raises(pf.ShapeError, match=r"rank 0"):
        pf.sum(pf.zeros(()), 1)
    with pytest.raises(IndexError, match=r"argmax\(\): Expected reduction dim 1 to have non-zero"):
        pf.argmax(pf.zeros(3, 0), 1)
    with pytest.raises(pf.ShapeError, match=r"Expected reduction dim to be specified for input"):
        pf.max(pf.zeros(0, 4))


def test_type_errors():
    x, i = pf.zeros(3, 4), pf.zeros(3, 4, dtype=pf.int32)
    with pytest.raises(TypeError, match=r"max: dim must be an int \(one dim\)"):
        pf.max(x, (0, 1))
    with pytest.raises(TypeError, match=r"argmax: dim must be an int or None"):
        x.argmax((0,))
    with pytest.raises(TypeError, match=r"var needs a floating-point tensor, got pf.int32"):
        i.var()
    with pytest.raises(TypeError, match=r"softmax needs a floating-point tensor"):
        pf.softmax(i, 0)
    with pytest.raises(TypeError, match=r"unbiased or correction, not both"):
        x.std(0, True, correction=0)
    with pytest.raises(TypeError, match=r"dim must be an int, a tuple of ints or None"):
        x.sum("0")


# --------------------------------------------------------------------------- IR


def test_flame_ir_shows_composites_and_mesh_ir_has_none():
    x = pf.from_numpy(np.ones((4, 6), np.float32))
    outs = [
        x.softmax(1),
        x.log_softmax(0),
        x.logsumexp(1),
        x.var(0, correction=2),
        x.std(),
        x.argmax(1),
        x.argmin(),
        pf.prod(x, 0),
    ]
    text = pf.ir(*outs, stage="flame")
    for name in (
        "softmax",
        "log_softmax",
        "logsumexp",
        "var",
        "std",
        "argmax",
        "argmin",
        "reduce_prod",
    ):
        assert f"flame.{name} " in text, name
    assert "correction = 2.0" in text
    mesh_text = pf.ir(*outs, stage="mesh")
    assert "flame." not in mesh_text
    assert "mesh.local_reduce max " in mesh_text and "mesh.local_reduce min " in mesh_text


def test_decomposition_keeps_the_location_and_cse_reuses_the_max():
    x = pf.from_numpy(np.ones((4, 6), np.float32))
    values, indices = pf.max(x, 1)  # one line: both results carry it
    line = test_decomposition_keeps_the_location_and_cse_reuses_the_max.__code__.co_firstlineno + 2
    module = trace([values, indices]).module()
    DecomposePass().apply(compiler.make_context(), module)
    module.verify()
    ops = [op for op in module.walk() if op.name.startswith("flame.")]
    assert all(op.location.line.data == line for op in ops)
    assert [op.name for op in ops].count("flame.reduce_max") == 2  # argmax's own, for now
    assert not any(isinstance(op, tuple(DECOMPOSITIONS)) for op in ops)
    compiler.run_pipeline(module, "cse")  # the pipeline's next step
    ops = [op for op in module.walk() if op.name.startswith("flame.")]
    assert [op.name for op in ops].count("flame.reduce_max") == 1  # argmax uses pf.max's


def test_every_reduce_op_is_a_reduction_kind():
    # (every flame op's lowering or decomposition: tests/unit/test_op_registries.py)
    assert set(flame.REDUCE_OPS) == set(reductions.KINDS)


# --- int32 results that do not fit are reported after the run, never wrapped (issue 8) -------


@pytest.mark.parametrize("layout", [None, pf.MeshLayout.grid(2, 2)], ids=str)
def test_int32_sum_and_prod_overflow_raise_naming_the_line(layout):
    x = pf.from_numpy(np.full([8, 4], 2**28, np.int32), layout=layout)
    line = sys._getframe().f_lineno + 1
    total = x.sum()  # 2**33: torch gives 8589934592 (int64); int32 would wrap to 0
    with pytest.raises(
        pf.IntegerOverflowError, match=rf"test_reductions.py:{line}: int32 overflow: sum"
    ):
        total.item()
    assert not total.is_evaluated
    with pytest.raises(pf.IntegerOverflowError, match="int32 overflow: prod"):
        pf.from_numpy(np.full([3], 2**11, np.int32), layout=layout).prod().item()
    # what fits is exact, up to the limit
    ok = pf.from_numpy(np.array([2**30, 2**30 - 1, -5, 4], np.int32), layout=layout)
    assert ok.sum().item() == 2**31 - 2
    assert pf.from_numpy(np.full([3], 2**10, np.int32), layout=layout).prod().item() == 2**30


# --- zero-size tensors (issue 8, item 13): PyTorch's values, never a simulator traceback


def _empty_cases():
    f32 = np.float32
    return [
        ("sum", lambda t: t.sum()),
        ("sum0", lambda t: t.sum(0)),
        ("sum1", lambda t: t.sum(1)),
        ("sum_keep", lambda t: t.sum(0, keepdim=True)),
        ("mean", lambda t: t.mean()),
        ("mean0", lambda t: t.mean(0)),
        ("prod", lambda t: t.prod()),
        ("prod0", lambda t: t.prod(0)),
        ("amax1", lambda t: t.amax(1)),
        ("argmax1", lambda t: t.argmax(1)),
        ("var0", lambda t: t.var(0)),
        ("std", lambda t: t.std()),
        ("logsumexp0", lambda t: t.logsumexp(0)),
        ("logsumexp1", lambda t: t.logsumexp(1)),
        ("softmax0", lambda t: t.softmax(0)),
        ("log_softmax1", lambda t: t.log_softmax(1)),
        (
            "matmul",
            lambda t: (
                t @ t.new_ones((4, 3)) if isinstance(t, torch.Tensor) else t @ pf.ones([4, 3])
            ),
        ),
        ("matmul_k0", lambda t: t.T @ t if isinstance(t, torch.Tensor) else t.T @ t),
        (
            "cat",
            lambda t: (torch.cat if isinstance(t, torch.Tensor) else pf.cat)(
                [t, t + 1, t * 2], 0
            ).sum(0),
        ),
    ], f32


@pytest.mark.parametrize("layout", [None, pf.MeshLayout.grid(2, 2)], ids=["default", "grid2x2"])
@pytest.mark.parametrize("case", [c[0] for c in _empty_cases()[0]])
def test_zero_size_reductions_match_torch(case, layout):
    fn = dict(_empty_cases()[0])[case]
    data = np.zeros((0, 4), np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch warns about var's degrees of freedom
        want = fn(torch.from_numpy(data)).numpy()
    got = fn(pf.from_numpy(data, layout=layout)).numpy()
    assert got.shape == want.shape
    np.testing.assert_array_equal(got, want.astype(got.dtype))


def test_zero_size_int_bool_half_and_gradients():
    assert pf.zeros(0, 3, dtype=pf.int32).sum(0).numpy().tolist() == [0, 0, 0]
    assert pf.zeros(0, 3, dtype=pf.bool).sum().item() == 0
    assert np.isnan(pf.zeros(0, 8, dtype=pf.float16).mean(0).numpy()).all()
    x = pf.from_numpy(np.zeros((0, 4), np.float32))
    w = pf.from_numpy(np.ones((4, 3), np.float32))
    x.requires_grad = w.requires_grad = True
    loss = (x @ w).sum() + x.sum() * 2
    loss.backward()
    assert loss.item() == 0.0
    assert x.grad.numpy().shape == (0, 4)
    np.testing.assert_array_equal(w.grad.numpy(), np.zeros((4, 3), np.float32))
    # conv2d over no input channels is its bias (torch 2.13 returns a [1, 0, 2, 2] tensor
    # here, dropping the output channels; a sum of no products plus the bias is the bias)
    y = pf.nn.functional.conv2d(
        pf.ones([1, 0, 4, 4]), pf.ones([2, 0, 3, 3]), pf.from_numpy(np.array([1.5, -2], np.float32))
    )
    want = np.broadcast_to(np.array([1.5, -2], np.float32)[None, :, None, None], (1, 2, 2, 2))
    np.testing.assert_array_equal(y.numpy(), want)


def test_max_of_no_elements_is_refused_in_torch_words():
    line = test_max_of_no_elements_is_refused_in_torch_words.__code__.co_firstlineno
    x = pf.zeros(0, 4)
    with pytest.raises(IndexError, match=rf"py:{line + 4}: amax\(\): Expected reduction dim 0 "):
        x.amax(0)
    with pytest.raises(IndexError, match=r"min\(\): Expected reduction dim 0 to have non-zero"):
        pf.min(x, 0)
    with pytest.raises(pf.ShapeError, match=r"argmin\(\): Expected reduction dim to be specified"):
        x.argmin()


def test_decompose_refuses_a_max_of_no_elements_at_its_line():
    # hand-written IR with the verifier off: a located error, not a simulator traceback
    from xdsl.parser import Parser

    from pyflame.core.errors import UnsupportedOpsError

    text = """
    func.func @main(%a: tensor<0x4xf32>) -> tensor<4xf32> {
      %0 = flame.reduce_max %a {dims = array<i64: 0>} : tensor<0x4xf32> -> tensor<4xf32> loc("net.py":7:0)
      func.return %0 : tensor<4xf32>
    }"""
    ctx = compiler.make_context()
    module = Parser(ctx, text).parse_module()
    with pytest.raises(UnsupportedOpsError, match=r"net.py:7: 'flame.reduce_max' of no elements"):
        DecomposePass().apply(ctx, module)


# ----------------------------------------------------- any, all, norm, cumsum (issue 12)


@pytest.mark.parametrize("layout", LAYOUTS, ids=repr)
def test_any_all_norm_cumsum_match_torch(layout):
    a = np.random.default_rng(2).standard_normal((7, 5)).astype(np.float32)
    a[1] = 0.0  # a row of zeros (any False, norm 0)
    a[3, 2] = 0.0
    x, t = pf.from_numpy(a, layout=layout), torch.from_numpy(a)
    cases = [
        (pf.any(x), torch.any(t)),
        (x.any(1), t.any(1)),
        (pf.all(x, dim=0, keepdim=True), torch.all(t, dim=0, keepdim=True)),
        ((x > -1).all(), (t > -1).all()),
        (x.any(dim=(0, 1)), t.any(dim=(0, 1))),
        (pf.norm(x), torch.norm(t)),
        (x.norm(dim=1), t.norm(dim=1)),
        (x.norm(p=1, dim=0, keepdim=True), t.norm(p=1, dim=0, keepdim=True)),
        (x.norm(p=float("inf"), dim=1), t.norm(p=float("inf"), dim=1)),
        (x.norm(p=float("-inf")), t.norm(p=float("-inf"))),
        (x.norm(p="fro", dim=(0, 1)), t.norm(p="fro", dim=(0, 1))),
        (x.norm(p=3, dim=-1), t.norm(p=3, dim=-1)),
        (x.norm(p=0, dim=1), t.norm(p=0, dim=1)),
        (pf.cumsum(x, 0), torch.cumsum(t, 0)),
        (x.cumsum(dim=-1), t.cumsum(dim=-1)),
        ((x > 0).cumsum(0), (t > 0).cumsum(0).int()),
        (pf.cumsum(x @ x.transpose(0, 1), 1), torch.cumsum(t @ t.T, 1)),
    ]
    pf.eval(*[g for g, _ in cases])
    for i, (got, want) in enumerate(cases):
        assert got.shape == tuple(want.shape), i
        if want.dtype == torch.bool:
            assert got.dtype == pf.bool
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-5, atol=1e-5, err_msg=str(i))


@pytest.mark.parametrize(
    "layout", [None, pf.MeshLayout.grid(4, 4), pf.MeshLayout.row_partition(3)], ids=repr
)
@pytest.mark.parametrize("dtype", [pf.float16, pf.bfloat16], ids=str)
def test_half_norms_compute_in_float32_as_torch(dtype, layout):
    """torch's norm of a float16/bfloat16 tensor computes in float32 and rounds once. PyFlame
    squared (cubed) in the half dtype: a 7x13 float16 tensor of values up to 50 had the 3-norm
    inf (torch: 74.9), and every element from 256 up overflowed the 2-norm, silently."""
    rng = np.random.default_rng(4)
    a = (rng.standard_normal((7, 13)) * 25).astype(np.float32)
    a[2, 3] = 300.0  # its square is beyond float16
    tdt = {pf.float16: torch.float16, pf.bfloat16: torch.bfloat16}[dtype]
    x, t = pf.from_numpy(a, layout=layout).astype(dtype), torch.from_numpy(a).to(tdt)
    cases = [
        (pf.norm(x), torch.norm(t)),
        (x.norm(dim=1), t.norm(dim=1)),
        (x.norm(dim=-2, keepdim=True), t.norm(dim=-2, keepdim=True)),
        (x.norm(p=3, dim=-1), t.norm(p=3, dim=-1)),
        (x.norm(p=1.5, dim=(0, 1)), t.norm(p=1.5, dim=(0, 1))),
        (x.norm(p=1, dim=0), t.norm(p=1, dim=0)),
        (x.norm(p=float("inf"), dim=1), t.norm(p=float("inf"), dim=1)),
        (x.norm(p=0), t.norm(p=0)),
    ]
    pf.eval(*[g for g, _ in cases])
    for i, (got, want) in enumerate(cases):
        assert got.dtype is dtype and got.shape == tuple(want.shape), i
        assert np.isfinite(got.numpy().astype(np.float32)).all(), i
        # one rounding to the half dtype each (the float32 sums may differ in order)
        np.testing.assert_allclose(
            got.numpy().astype(np.float32), want.float().numpy(), rtol=2**-7, err_msg=str(i)
        )


def test_cumsum_of_integers_is_exact_and_takes_dtype():
    k = np.arange(-20, 19, dtype=np.int32).reshape(3, 13) * 1000
    x, t = pf.from_numpy(k), torch.from_numpy(k)
    got = pf.cumsum(x, 1)
    assert got.dtype == pf.int32
    np.testing.assert_array_equal(got.numpy(), torch.cumsum(t, 1).numpy())
    as_float = x.cumsum(0, dtype=pf.float32)
    assert as_float.dtype == pf.float32
    np.testing.assert_array_equal(as_float.numpy(), torch.cumsum(t, 0, dtype=torch.float32))
    np.testing.assert_array_equal(pf.cumsum(pf.from_numpy(np.float32(2.0)), 0).numpy(), 2.0)


def test_any_all_of_nan_and_int_and_norm_errors():
    a = np.array([[np.nan, 0.0], [0.0, 0.0]], np.float32)
    x, t = pf.from_numpy(a), torch.from_numpy(a)
    np.testing.assert_array_equal(x.any(1).numpy(), t.any(1).numpy())
    np.testing.assert_array_equal(x.all(0).numpy(), t.all(0).numpy())
    k = pf.from_numpy(np.array([0, 3], np.int32))
    assert not k.all().item() and k.any().item()
    with pytest.raises(TypeError, match="norm needs a floating-point tensor"):
        pf.norm(k)
    with pytest.raises(NotImplementedError, match="'nuc'"):
        pf.norm(x, p="nuc")


def test_prod_and_sum_take_a_dtype():
    k = np.array([[1, 2, 3], [4, 5, 6]], np.int32)
    x, t = pf.from_numpy(k), torch.from_numpy(k)
    for got, want in [
        (x.prod(1, dtype=pf.float32), t.prod(1, dtype=torch.float32)),
        (
            pf.prod(x, 0, keepdim=True, dtype=pf.float32),
            torch.prod(t, 0, True, dtype=torch.float32),
        ),
        (x.sum(dtype=pf.float32), t.sum(dtype=torch.float32)),
        (pf.sum(x > 2, 1, dtype=pf.int32), torch.sum(t > 2, 1, dtype=torch.int32)),
    ]:
        assert got.dtype == {torch.float32: pf.float32, torch.int32: pf.int32}[want.dtype]
        np.testing.assert_array_equal(got.numpy(), want.numpy())


ALIASED = ["sum", "mean", "prod", "amax", "amin", "argmax", "argmin", "max", "min", "var", "std"]
ALIASED += ["logsumexp", "any", "all"]


def _values(result):
    """A tensor, or the values of max/min's (values, indices)."""
    return result if hasattr(result, "shape") else result[0]


@pytest.mark.parametrize(
    "layout", [None, pf.MeshLayout.grid(2, 3), pf.MeshLayout.row_partition(4)], ids=repr
)
@pytest.mark.parametrize("name", ALIASED)
def test_reductions_take_numpys_axis_and_keepdims_as_pytorch(name, layout):
    """torch.sum(x, axis=1, keepdims=True) is torch.sum(x, dim=1, keepdim=True): functions and
    Tensor methods, values and shapes (max/min: the values and the indices)."""
    a = np.random.default_rng(3).standard_normal((7, 5)).astype(np.float32)
    x, t = pf.from_numpy(a, layout=layout), torch.from_numpy(a)
    pairs = {}
    for form, got, want in [
        (
            "fn",
            getattr(pf, name)(x, axis=1, keepdims=True),
            getattr(torch, name)(t, axis=1, keepdims=True),
        ),
        ("method", getattr(x, name)(axis=0), getattr(t, name)(axis=0)),
        ("method keepdims", getattr(x, name)(0, keepdims=True), getattr(t, name)(0, keepdims=True)),
    ]:
        pairs[form] = (_values(got), _values(want))
        if not hasattr(got, "shape"):
            pairs[form + " indices"] = (got[1], want[1])
    for form, (got, want) in pairs.items():
        assert got.shape == tuple(want.shape), form
    check(pairs)


@pytest.mark.parametrize("name", ALIASED)
def test_an_alias_with_its_own_name_is_pytorchs_type_error(name):
    x, t = pf.ones(2, 3), torch.ones(2, 3)
    for kwargs, word in [
        ({"dim": 0, "axis": 0}, "axis"),
        ({"keepdim": True, "keepdims": True}, "keepdims"),
    ]:
        with pytest.raises(TypeError):  # PyTorch's words differ by function
            getattr(torch, name)(t, **kwargs)
        with pytest.raises(
            TypeError, match=f"{name}\\(\\) got an unexpected keyword argument '{word}'"
        ):
            getattr(pf, name)(x, **kwargs)


def test_norm_takes_no_numpy_names_as_pytorch():
    x, t = pf.ones(2, 3), torch.ones(2, 3)
    for kwargs in ({"axis": 1}, {"dim": 1, "keepdims": True}):
        with pytest.raises(TypeError, match="unexpected keyword argument"):
            torch.norm(t, **kwargs)
        with pytest.raises(TypeError, match="unexpected keyword argument"):
            pf.norm(x, **kwargs)
        with pytest.raises(TypeError, match="unexpected keyword argument"):
            x.norm(**kwargs)


@pytest.mark.parametrize("layout", [None, pf.MeshLayout.grid(2, 2)], ids=repr)
@pytest.mark.parametrize("dtype", [pf.float16, pf.bfloat16])
@pytest.mark.parametrize("name", ["sum", "mean"])
def test_sum_and_mean_convert_to_dtype_first_as_pytorch(name, dtype, layout):
    """`dtype=` converts the input, then reduces (in float32 for the half dtypes, rounded
    once): 0.1 rounds to the dtype before it is added, so 40 of them are not 4."""
    a = np.full((8, 5), 0.1, np.float32) + np.arange(5, dtype=np.float32) * np.float32(0.013)
    tdt = {pf.float16: torch.float16, pf.bfloat16: torch.bfloat16}[dtype]
    x, t = pf.from_numpy(a, layout=layout), torch.from_numpy(a)
    for dim in (None, 0, 1):
        kw = {} if dim is None else {"dim": dim}
        got = getattr(pf, name)(x, **kw, dtype=dtype)
        want = getattr(torch, name)(t, **kw, dtype=tdt)
        assert got.dtype is dtype and got.shape == tuple(want.shape)
        np.testing.assert_array_equal(got.float().numpy(), want.float().numpy())
        method = getattr(x, name)(**kw, dtype=dtype)
        np.testing.assert_array_equal(method.float().numpy(), want.float().numpy())


def test_prod_of_halves_to_float32_converts_first_as_pytorch():
    a = (1 + np.random.default_rng(5).random((6, 4)) / 4).astype(np.float16)
    x, t = pf.from_numpy(a, layout=pf.MeshLayout.grid(2, 2)), torch.from_numpy(a)
    for got, want in [
        (pf.prod(x, 0, dtype=pf.float32), torch.prod(t, 0, dtype=torch.float32)),
        (
            x.prod(axis=1, keepdims=True, dtype=pf.float32),
            t.prod(axis=1, keepdims=True, dtype=torch.float32),
        ),
    ]:
        assert got.dtype is pf.float32 and got.shape == tuple(want.shape)
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6)


def test_mean_of_integers_needs_a_float_dtype_as_pytorch():
    k = np.arange(6, dtype=np.int32).reshape(2, 3)
    x, t = pf.from_numpy(k), torch.from_numpy(k)
    np.testing.assert_array_equal(
        pf.mean(x, 1, dtype=pf.float32).numpy(), torch.mean(t, 1, dtype=torch.float32).numpy()
    )
    np.testing.assert_array_equal(
        x.mean(dtype=pf.float32).numpy(), t.mean(dtype=torch.float32).numpy()
    )
    words = r"mean\(\): could not infer output dtype. Input dtype must be either a floating point"
    for fn in (lambda v: v.mean(), lambda v: v.mean(axis=0)):
        with pytest.raises(RuntimeError, match=words):
            fn(t)
        with pytest.raises(RuntimeError, match=words):
            fn(x)
    words = r"Optional dtype must be either a floating point or complex dtype"
    with pytest.raises(RuntimeError, match=words):
        torch.mean(t.float(), dtype=torch.int32)
    with pytest.raises(RuntimeError, match=words):
        pf.mean(x.float(), dtype=pf.int32)
    line = test_mean_of_integers_needs_a_float_dtype_as_pytorch.__code__.co_firstlineno
    with pytest.raises(RuntimeError, match=rf"test_reductions.py:{line + 22}: mean"):
        x.mean()


ZERO_SIZE = [(0, 3), (3, 0), (2, 0, 4), (2, 3, 0)]


@pytest.mark.parametrize(
    "layout", [None, pf.MeshLayout.grid(2, 3), pf.MeshLayout.row_partition(4)], ids=repr
)
def test_zero_size_tensors_as_pytorch(layout):
    """OpInfo's zero-size samples: reductions, softmax, matmul, linear, layer_norm, cat, and the
    ops of issue 12, in one program per shape."""
    F, tF = pf.nn.functional, torch.nn.functional
    fns = [
        lambda L, x: x.sum(-1),
        lambda L, x: x.sum(),
        lambda L, x: x.mean(-1),
        lambda L, x: x.prod(0),
        lambda L, x: L.softmax(x, -1),
        lambda L, x: L.logsumexp(x, -1),
        lambda L, x: x @ L.ones(x.shape[-1], 2),
        lambda L, x: (F if L is pf else tF).linear(x, L.ones(5, x.shape[-1]), L.ones(5)),
        lambda L, x: (F if L is pf else tF).layer_norm(x, x.shape[-1:]),
        lambda L, x: L.cat([x, x + 1], -1),
        lambda L, x: x.cumsum(-1),
        lambda L, x: x.any(-1),
        lambda L, x: x.all(),
        lambda L, x: x.norm(dim=-1),
        lambda L, x: x.sort(-1)[0],
        lambda L, x: L.tril(x),
    ]
    for shape in ZERO_SIZE:
        a = np.zeros(shape, np.float32)
        x, t = pf.from_numpy(a, layout=layout), torch.from_numpy(a)
        got = [f(pf, x) for f in fns]
        pf.eval(*got)
        for i, (g, f) in enumerate(zip(got, fns, strict=True)):
            want = f(torch, t)
            assert g.shape == tuple(want.shape), (shape, i)
            np.testing.assert_allclose(g.numpy(), want.numpy(), err_msg=f"{shape} {i}")


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("split", [False, True], ids=["one-PE", "rows-split"])
def test_half_prod_rounds_every_product_as_pytorch(dtype, split):
    # PyTorch's CPU prod multiplies halves as halves (one rounding per product); PyFlame
    # accumulated in float32 and rounded once, up to 5 ulps away on 16 factors (session 23).
    # Bit for bit where both go in order: a dim on one PE, in torch of < 64 contiguous
    # elements or an outer dim (its vectorised path groups longer rows by lanes); rows split
    # over PEs multiply the PEs' partial products (rounded too): a few ulps
    layout = pf.MeshLayout.row_partition(2) if split else pf.MeshLayout.single()
    a = np.random.default_rng(3).uniform(0.5, 1.6, size=(8, 48)).astype(np.float32)
    t = torch.from_numpy(a).to(getattr(torch, dtype))
    x = pf.from_numpy(t.float().numpy(), layout=layout).astype(getattr(pf, dtype))
    exact = [(x.prod(1), t.prod(1)), (x[:, :5].prod(-1, keepdim=True), t[:, :5].prod(-1, True))]
    close = [(x.prod(0), t.prod(0))]
    for got, want in exact + ([] if split else close):
        np.testing.assert_array_equal(np.asarray(got.numpy(), np.float32), want.float().numpy())
    for got, want in close if split else []:
        eps = float(torch.finfo(getattr(torch, dtype)).eps)
        np.testing.assert_allclose(got.numpy().astype(np.float32), want.float(), rtol=8 * eps)
    # a product that rounds to inf / 0 on the way stays there, as torch's
    big = np.full((2, 8), 300.0, np.float32)
    big[1] = 1 / 300
    tb = torch.from_numpy(big).to(getattr(torch, dtype))
    xb = pf.from_numpy(tb.float().numpy()).astype(getattr(pf, dtype))
    np.testing.assert_array_equal(
        np.asarray(xb.prod(1).numpy(), np.float32), tb.prod(1).float().numpy()
    )


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_cumprod_matches_torch_values_dtypes_and_gradients_through_zeros(dim):
    # session 23: an AttributeError. float32 to rounding (PyTorch multiplies in order in
    # double), integers and bools exact, gradients through zeros as PyTorch's
    rng = np.random.default_rng(0)
    a = rng.uniform(0.5, 1.5, (2, 3, 40)).astype(np.float32)
    a *= np.sign(rng.standard_normal(a.shape)).astype(np.float32)
    x, t = pf.from_numpy(a), torch.from_numpy(a.copy())
    np.testing.assert_allclose(x.cumprod(dim).numpy(), t.cumprod(dim).numpy(), rtol=2e-6)
    k = np.array([[3, -1, 2, 0, 5], [1, 2, 3, 4, 5]], np.int32)
    for ours, theirs in [
        (pf.cumprod(pf.from_numpy(k), dim % 2), torch.cumprod(torch.from_numpy(k), dim % 2)),
        (pf.from_numpy(k > 0).cumprod(1), torch.from_numpy(k > 0).cumprod(1)),
    ]:
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    z = np.array([[2.0, 0.0, 3.0, 4.0], [1.0, -2.0, 0.0, 0.0], [0.5, 0.0, 0.0, 2.0]], np.float32)
    grads = []
    for lib, make in ((pf, pf.from_numpy), (torch, lambda v: torch.from_numpy(v.copy()))):
        leaf = make(z)
        leaf.requires_grad = True
        weights = make(np.arange(12, dtype=np.float32).reshape(3, 4))
        (lib.cumprod(leaf, 1) * weights).sum().backward()
        grads.append(np.asarray(leaf.grad.numpy()))
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-6)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_cumprod_multiplies_in_float32_and_rounds_each_product_once(dtype):
    a = np.random.default_rng(1).uniform(0.5, 1.5, (3, 12)).astype(np.float32)
    t = torch.from_numpy(a).to(getattr(torch, dtype))
    x = pf.from_numpy(t.float().numpy()).astype(getattr(pf, dtype))
    got = np.asarray(x.cumprod(1).numpy(), np.float32)
    np.testing.assert_array_equal(got, t.cumprod(1).float().numpy())


@pytest.mark.parametrize("layout", LAYOUTS, ids=repr)
def test_trace_matches_torch(layout):
    """pf.trace(x), x.trace(): the main diagonal's sum, of square and non-square matrices; integers give
    int32 (PyTorch: int64); halves add in float32 and round once, as PyTorch's; gradient."""
    a = np.random.default_rng(3).standard_normal((5, 7)).astype(np.float32)
    x, t = pf.from_numpy(a, layout=layout), torch.from_numpy(a)
    np.testing.assert_allclose(x.trace().numpy(), t.trace().numpy(), rtol=1e-6)
    np.testing.assert_allclose(x.T.trace().numpy(), t.T.trace().numpy(), rtol=1e-6)
    np.testing.assert_allclose(pf.trace(x).numpy(), torch.trace(t).numpy(), rtol=1e-6)
    k = np.arange(12, dtype=np.int32).reshape(4, 3)
    got = pf.from_numpy(k, layout=layout).trace()
    assert got.dtype is pf.int32 and got.item() == torch.from_numpy(k).trace().item()
    h = (a * 40).astype(np.float16)
    got = pf.from_numpy(h).trace()
    assert got.dtype is pf.float16
    assert got.numpy().tobytes() == torch.from_numpy(h).trace().numpy().tobytes()
    assert pf.zeros(0, 3).trace().item() == 0.0
    grads = {}
    for lib in (pf, torch):
        w = lib.from_numpy(a)
        w.requires_grad = True
        (w * w).trace().backward()
        grads[lib] = w.grad.numpy()
    np.testing.assert_array_equal(grads[pf], grads[torch])
    with pytest.raises(pf.ShapeError, match="trace: expected a matrix, but got tensor with dim 1"):
        pf.ones(3).trace()
    with pytest.raises(TypeError, match="not implemented for bool"):
        pf.ones(2, 2, dtype=pf.bool).trace()


@pytest.mark.parametrize("layout", LAYOUTS, ids=repr)
def test_cummax_cummin_match_torch(layout):
    """Values and indices along every dim of odd shapes: ties move the index to the later
    element (PyTorch's CPU rule), NaN is the extreme from there on (the index at the latest
    NaN), -0.0 and 0.0 kept as they are."""
    rng = np.random.default_rng(5)
    a = rng.integers(-2, 3, (5, 9)).astype(np.float32)
    a[1, 3], a[1, 6], a[3, 0] = np.nan, np.nan, np.nan
    a[0, :4] = [0.0, -0.0, 0.0, -0.0]
    x, t = pf.from_numpy(a, layout=layout), torch.from_numpy(a)
    pairs = []
    for op in ("cummax", "cummin"):
        for dim in (0, 1, -1):
            got, want = getattr(pf, op)(x, dim), getattr(torch, op)(t, dim)
            pairs += [(got.values, want.values), (got.indices, want.indices)]
        got, want = getattr(x * 2, op)(1), getattr(t * 2, op)(1)
        pairs += [(got.values, want.values), (got.indices, want.indices)]
    pf.eval(*[p[0] for p in pairs])
    for k, (got, want) in enumerate(pairs):
        assert got.shape == tuple(want.shape), k
        assert got.numpy().tobytes() == want.numpy().astype(got.numpy().dtype).tobytes(), k


def test_cummax_cummin_of_ints_bools_halves_and_small_shapes():
    k = np.array([[3, 1, 3, 7, 7], [-1, -1, 0, -5, 2]], np.int32)
    for dtype in ("int32", "bool", "float16", "bfloat16"):
        x = pf.from_numpy(k).to(getattr(pf, dtype))
        t = torch.from_numpy(k).to(getattr(torch, dtype))
        for op in ("cummax", "cummin"):
            got, want = getattr(x, op)(1), getattr(t, op)(1)
            assert got.values.dtype is getattr(pf, dtype) and got.indices.dtype is pf.int32
            np.testing.assert_array_equal(got.values.float().numpy(), want.values.float().numpy())
            np.testing.assert_array_equal(got.indices.numpy(), want.indices.numpy())
    for shape, dim in [((), 0), ((1, 4), 0), ((0, 3), 0), ((3, 0), 1)]:
        a = np.ones(shape, np.float32)
        got, want = pf.cummax(pf.from_numpy(a), dim), torch.cummax(torch.from_numpy(a), dim)
        assert got.values.shape == tuple(want.values.shape)
        np.testing.assert_array_equal(got.indices.numpy(), want.indices.numpy())
    with pytest.raises(pf.ShapeError, match="out of range"):
        pf.cummin(pf.ones(3), 1)


def test_cummax_cummin_gradients_go_to_the_index():
    a = np.random.default_rng(6).integers(-2, 3, (4, 7)).astype(np.float32)
    w = np.random.default_rng(7).standard_normal((4, 7)).astype(np.float32)
    grads = {}
    for lib in (pf, torch):
        x = lib.from_numpy(a)
        x.requires_grad = True
        loss = (lib.cummax(x, 1).values * lib.from_numpy(w)).sum() + x.cummin(0).values.sum()
        loss.backward()
        grads[lib] = x.grad.numpy()
    np.testing.assert_allclose(grads[pf], grads[torch], rtol=1e-6)


@pytest.mark.parametrize("p", [3.0, 1.5, 0.5, -1.0, -2.0, 4.0])
def test_p_norm_gradients_at_zeros_are_torchs(p):
    """torch's norm_backward for p other than 0, 1, 2, +-inf: 0 where x is 0 (p < 1) or where
    the norm is 0 (p > 1). The chain rule through pow(abs(x), p) gave NaN there, so
    F.normalize(x, p=3) of a zero row (padding) had a NaN gradient."""
    a = np.array(
        [[0.0, 0.0, 0.0, 0.0, 0.0], [1.0, -2.0, 0.0, 3.0, 0.5], [0.5, 0.25, -0.5, 0.75, -1.0]],
        np.float32,
    )
    weights = np.arange(1, 16, dtype=np.float32).reshape(3, 5) / 7
    for dim, keep in ((1, False), (1, True), (None, False), ((0, 1), True), (0, False)):
        x = pf.from_numpy(a, layout=pf.MeshLayout.grid(2, 2))
        x.requires_grad = True
        t = torch.from_numpy(a).requires_grad_(True)
        got, want = x.norm(p, dim, keep), t.norm(p, dim, keep)
        shape = tuple(want.shape)
        w = weights.reshape(-1)[: want.numel()].reshape(shape)
        (got * pf.from_numpy(w)).sum().backward()
        (want * torch.from_numpy(w)).sum().backward()
        np.testing.assert_allclose(got.numpy(), want.detach().numpy(), rtol=1e-5)
        np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=1e-5, atol=1e-6)
    x = pf.from_numpy(a)
    x.requires_grad = True
    t = torch.from_numpy(a).requires_grad_(True)
    (pf.nn.functional.normalize(x, p=p, dim=1) * pf.from_numpy(weights)).sum().backward()
    (torch.nn.functional.normalize(t, p=p, dim=1) * torch.from_numpy(weights)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=1e-5)


@pytest.mark.parametrize("p", [float("inf"), float("-inf")])
@pytest.mark.parametrize("layout", [None, pf.MeshLayout.grid(2, 3)])
def test_inf_norm_gradients_with_nan_ties_and_zeros_are_torchs(p, layout):
    """torch's norm_backward for +-inf: g shared by the elements where |x| is the norm or
    NaN, times sgn(x). Through amax(abs(x)) a NaN made every element's gradient NaN, where
    torch gives 0 (to the NaN too); ties share g, a zero row gives 0."""
    nan, inf = float("nan"), float("inf")
    a = np.array(
        [
            [1.0, -3.0, 3.0, nan, 0.5],
            [1.0, 2.0, 3.0, 4.0, -4.0],
            [0.0, 0.0, 0.0, 0.0, 0.0],
            [inf, -inf, 1.0, nan, 2.0],
            [nan, nan, 1.0, 2.0, -0.0],
            [-2.0, 0.5, 0.25, -0.5, 1.5],
        ],
        np.float32,
    )
    weights = np.arange(1, 31, dtype=np.float32).reshape(6, 5) / 7
    for dim, keep in ((1, False), (1, True), (0, False), (None, False), ((0, 1), True)):
        kw = {} if layout is None else {"layout": layout}
        x = pf.from_numpy(a, **kw)
        x.requires_grad = True
        t = torch.from_numpy(a).requires_grad_(True)
        got = pf.linalg.vector_norm(x, p, dim, keep)
        want = torch.linalg.vector_norm(t, p, dim, keep)
        w = weights.reshape(-1)[: want.numel()].reshape(tuple(want.shape))
        (got * pf.from_numpy(w)).sum().backward()
        (want * torch.from_numpy(w)).sum().backward()
        np.testing.assert_array_equal(got.numpy(), want.detach().numpy())
        np.testing.assert_array_equal(x.grad.numpy(), t.grad.numpy())
        assert not np.isnan(x.grad.numpy()).any()


SCAN_LAYOUTS = [
    None,
    # (slow since PyTorch's gradient rule, 2 s: grid(2, 3) leaves padding, grid(2, 2) does not)
    pytest.param(pf.MeshLayout.grid(2, 2), marks=pytest.mark.slow),
    pf.MeshLayout.grid(2, 3),
    pf.MeshLayout.row_partition(3),
]


@pytest.mark.parametrize("layout", SCAN_LAYOUTS, ids=repr)
def test_logcumsumexp_matches_torch_with_gradients(layout):
    """Along every dim of an odd 3-D shape and a long row (values up to +-40: exp alone
    would overflow float32 sums), values and gradients against torch."""
    rng = np.random.default_rng(5)
    a = (rng.standard_normal((3, 7, 5)) * 20).astype(np.float32)
    b = (rng.standard_normal((2, 37)) * 40).astype(np.float32)
    res = {}
    for lib in (pf, torch):
        x = pf.from_numpy(a, layout=layout) if lib is pf else torch.from_numpy(a)
        y = pf.from_numpy(b, layout=layout) if lib is pf else torch.from_numpy(b)
        x.requires_grad = y.requires_grad = True
        outs = [lib.logcumsumexp(x, 0), x.logcumsumexp(1), x.logcumsumexp(-1), y.logcumsumexp(1)]
        loss = sum((o * (k + 1)).tanh().sum() for k, o in enumerate(outs))
        loss.backward()
        res[lib] = [o.detach().numpy() for o in outs] + [x.grad.numpy(), y.grad.numpy()]
    for k, (got, want) in enumerate(zip(res[pf], res[torch], strict=True)):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5, err_msg=str(k))


def test_logcumsumexp_of_infinities_nan_halves_and_scalars_as_torch():
    inf = np.inf
    x = np.array([-inf, -inf, 1.0, inf, inf, 3.0, np.nan, 2.0], np.float32)
    np.testing.assert_array_equal(
        pf.logcumsumexp(pf.from_numpy(x), 0).numpy(), torch.logcumsumexp(torch.from_numpy(x), 0)
    )
    h = np.linspace(-3, 5, 24, dtype=np.float32).reshape(2, 12)
    for pdtype, tdtype in ((pf.float16, torch.float16), (pf.bfloat16, torch.bfloat16)):
        got = pf.from_numpy(h).astype(pdtype).logcumsumexp(1)
        want = torch.from_numpy(h).to(tdtype).logcumsumexp(1)
        assert got.dtype == pdtype
        np.testing.assert_array_equal(got.astype(pf.float32).numpy(), want.float().numpy())
    assert pf.tensor(2.0).logcumsumexp(-1).item() == 2.0


def test_logcumsumexp_gradients_at_infinities_and_nan_are_torchs():
    """PyTorch's logcumsumexp_backward (log space, the signs of g apart): an element of -inf (a
    log-space mask) gets gradient 0, where the scan's logaddexp(-inf, -inf) rule gave NaN;
    leading -inf, +inf, NaN and a row of -inf as torch's; along both dims; bfloat16."""
    inf = np.inf
    a = np.array(
        [
            [-2.5, 1e-30, -1, -inf, -inf],
            [-inf, -inf, 1, 2, -inf],
            [0.5, -inf, 2, -inf, 3],
            [-inf, -inf, -inf, -inf, -inf],
            [inf, 1, -inf, 2, 3],
            [np.nan, 1, 2, 3, 4],
        ],
        np.float32,
    )
    w = np.random.default_rng(0).standard_normal(a.shape).astype(np.float32)
    for pdtype, tdtype, rtol in (
        (pf.float32, torch.float32, 1e-5),
        (pf.bfloat16, torch.bfloat16, 2e-2),
    ):
        grads = {}
        for lib, dtype in ((pf, pdtype), (torch, tdtype)):
            x = lib.from_numpy(a).to(dtype).detach()
            x.requires_grad = True
            loss = (lib.logcumsumexp(x, 1) * lib.from_numpy(w).to(dtype)).sum()
            loss = loss + (x.logcumsumexp(0) * lib.from_numpy(w[::-1].copy()).to(dtype)).sum()
            loss.backward()
            grads[lib] = x.grad.float().numpy()
        np.testing.assert_allclose(grads[pf], grads[torch], rtol=rtol, atol=1e-6)


def test_logcumsumexp_errors_as_torch():
    for dtype, tdtype, name in ((pf.int32, torch.long, "Long"), (pf.bool, torch.bool, "Bool")):
        words = f"\"logcumsumexp_out_cpu\" not implemented for '{name}'"
        with pytest.raises(NotImplementedError, match=words):
            torch.logcumsumexp(torch.zeros(3, dtype=tdtype), 0)
        with pytest.raises(NotImplementedError, match=r"test_reductions\.py:\d+: " + words):
            pf.logcumsumexp(pf.zeros(3, dtype=dtype), 0)
    with pytest.raises(
        IndexError,
        match=r"Dimension out of range \(expected to be in range of \[-2, 1\], but got 2\)",
    ):
        torch.zeros(2, 3).logcumsumexp(2)
    with pytest.raises(
        IndexError,
        match=r"Dimension out of range \(expected to be in range of \[-2, 1\], but got 2\)",
    ):
        pf.zeros(2, 3).logcumsumexp(2)
