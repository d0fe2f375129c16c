"""scatter, scatter_add, index_add, index_copy, index_fill and their in-place forms
(pyflame/indexed_writes.py) through the whole pipeline against PyTorch: every dim of 2-D and
3-D inputs, repeated indices, indices from the host and computed on the device, every layout,
dtypes, PyTorch's errors and gradients."""

from __future__ import annotations

import numpy as np
import pytest
from layouts import LAYOUTS

import pyflame as pf

torch = pytest.importorskip("torch")

pytestmark = pytest.mark.usefixtures("small_target")


def data(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def ints(high, shape, seed=1):
    return np.random.default_rng(seed).integers(0, high, shape).astype(np.int32)


def index_of(lib, a, on_device=False):
    """An index for `lib`: torch's int64, or PyFlame's int32 from the host or computed on the
    device (its values unknown when the graph is built)."""
    if lib is torch:
        return torch.from_numpy(a).long()
    t = pf.from_numpy(a)
    return t * 1 if on_device else t


def cases_for(lib, put, on_device):
    """The same writes in either library (`put` makes its float tensors)."""
    a, b = data((5, 7)), data((3, 4, 6), seed=2)
    x, y = put(a), put(b)
    i = lambda arr: index_of(lib, arr, on_device)  # noqa: E731
    rows = ints(5, (3, 7), seed=3)  # along dim 0 of x, repeats
    cols = ints(7, (5, 2), seed=4)  # along dim 1
    deep = ints(6, (2, 4, 3), seed=5)  # along dim 2 of y, index smaller in dim 0
    src = put(data((4, 7), seed=6))  # bigger than the index
    src3 = put(data((2, 4, 5), seed=7))
    vector = np.array([4, 0, 4, 2], np.int32)  # repeated 4
    source = put(data((5, 4), seed=8))
    return [
        lib.scatter(x, 0, i(rows), src),
        x.scatter(1, i(cols), put(data((5, 3), seed=10))),
        lib.scatter(x, -1, i(cols), 2.5),
        y.scatter(2, i(deep), src3),
        lib.scatter_add(x, 0, i(rows), src),
        y.scatter_add(-1, i(deep), src3),
        x.scatter(0, i(rows), src, reduce="add"),
        lib.index_add(x, 1, i(vector), source),
        x.index_add(0, i(vector[:3]), src[:3], alpha=-2.0),
        lib.index_copy(x, 1, i(vector), source),
        y.index_copy(1, i(vector[2:] - 1), put(data((3, 2, 6), seed=9))),
        lib.index_fill(x, 1, i(vector), -1.5),
        y.index_fill(2, i(np.array([5, 1], np.int32)), 3.0),
    ]


@pytest.mark.parametrize("on_device", [False, True], ids=["host", "device"])
@pytest.mark.parametrize("layout", LAYOUTS, ids=repr)
def test_writes_match_torch(layout, on_device):
    """Every op, dims 0, 1, 2 and -1, repeated indices (the last write wins, as PyTorch's CPU
    kernel; repeats add up), an index smaller than the input and a src bigger than the index;
    indices at hand and computed on the device."""
    ours = cases_for(pf, lambda a: pf.from_numpy(a, layout=layout), on_device)
    theirs = cases_for(torch, torch.from_numpy, False)
    pf.eval(*ours)
    for k, (got, want) in enumerate(zip(ours, theirs, strict=True)):
        assert got.shape == tuple(want.shape), k
        assert got.dtype is pf.float32, k
        # repeats added up in another order than PyTorch's (into x one by one): to rounding
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6, atol=1e-6, err_msg=k)


def test_scatter_and_index_copy_are_exact_and_leave_the_rest_bit_for_bit():
    """One value per written position, x elsewhere as it was (-0.0, NaN, inf); NaN in an
    overwritten entry does not leak; written -0.0 comes back +0.0 (the rows op adds into
    zeros, as index_select's)."""
    a = data((4, 5))
    a[0, 0], a[1, 1], a[2, 2] = -0.0, np.nan, -np.inf
    src = data((2, 5), seed=1)
    src[0, 3] = np.nan  # overwritten by the entry below it
    index = np.array([[3, 3, 0, 1, 2], [3, 0, 0, 1, 2]], np.int32)
    for on_device in (False, True):
        got = pf.from_numpy(a).scatter(0, index_of(pf, index, on_device), pf.from_numpy(src))
        want = torch.from_numpy(a).scatter(0, index_of(torch, index), torch.from_numpy(src))
        assert got.numpy().tobytes() == want.numpy().tobytes(), on_device
        source = data((4, 5), seed=2)
        source[:, 0] = np.nan  # overwritten: slice 3 is named by columns 0 and 1
        i = index_of(pf, index[0], on_device)
        got = pf.from_numpy(a).index_copy(1, i, pf.from_numpy(source))
        want = torch.from_numpy(a).index_copy(
            1, index_of(torch, index[0]), torch.from_numpy(source)
        )
        assert got.numpy().tobytes() == want.numpy().tobytes(), on_device
    filled = pf.from_numpy(a).index_fill(0, pf.tensor([3, -4]), float("nan"))
    want = torch.from_numpy(a).index_fill(0, torch.tensor([3, -4]), float("nan"))
    assert filled.numpy().tobytes() == want.numpy().tobytes()


@pytest.mark.parametrize("dtype", ["int32", "bool", "float16", "bfloat16"])
def test_writes_keep_every_dtype(dtype):
    a = np.array([[1, 0, 3, 2], [0, 2, 2, 1], [3, 1, 0, 0]], np.int32)
    index = np.array([[2, 0, 2, 1], [0, 0, 1, 1]], np.int32)
    outs = {}
    for lib in (pf, torch):
        cast = getattr(lib, dtype)
        x = lib.from_numpy(a).to(cast)
        i = index_of(lib, index)
        src = lib.from_numpy(a[:2] + 1).to(cast)
        v = index_of(lib, np.array([3, 0], np.int32))
        outs[lib] = [
            x.scatter(0, i, src),
            x.scatter(1, i, 1 if dtype != "bool" else True),
            x.scatter_add(0, i, src),
            x.index_add(1, v, x[:, :2]),
            x.index_copy(1, v, x[:, 1:3]),
            x.index_fill(0, index_of(lib, np.array([1], np.int32)), 0),
        ]
    for k, (got, want) in enumerate(zip(outs[pf], outs[torch], strict=True)):
        assert got.dtype is getattr(pf, dtype), k
        np.testing.assert_array_equal(got.float().numpy(), want.float().numpy(), err_msg=k)


def test_zero_dim_and_empty_indices_as_torch():
    s = pf.from_numpy(np.float32(1.5))
    t = torch.tensor(1.5)
    pairs = [
        (
            s.scatter(0, pf.tensor(0), pf.from_numpy(np.float32(4))),
            t.scatter(0, torch.tensor(0), torch.tensor(4.0)),
        ),
        (
            s.index_add(0, pf.tensor([0]), pf.from_numpy(np.float32(4))),
            t.index_add(0, torch.tensor([0]), torch.tensor(4.0)),
        ),
        (s.index_fill(0, pf.tensor([0]), 2.0), t.index_fill(0, torch.tensor([0]), 2.0)),
        (
            pf.ones(3, 4).index_fill(0, pf.tensor(1), 5.0),
            torch.ones(3, 4).index_fill(0, torch.tensor(1), 5.0),
        ),
        (pf.ones(3, 4).scatter(0, pf.zeros(0, 4, dtype=pf.int32), pf.ones(2, 4)), torch.ones(3, 4)),
        (pf.ones(3, 4).index_add(1, pf.zeros(0, dtype=pf.int32), pf.ones(3, 0)), torch.ones(3, 4)),
    ]
    for k, (got, want) in enumerate(pairs):
        assert got.shape == tuple(want.shape), k
        np.testing.assert_array_equal(got.numpy(), want.numpy(), err_msg=k)


def test_errors_as_torch():
    x = pf.zeros(3, 4)
    idx = pf.tensor([[0, 1]])
    with pytest.raises(
        IndexError,
        match=r"test_indexed_writes.py:\d+: scatter\(\): index 3 is out of bounds for dimension 0 with size 3",
    ):
        x.scatter(0, pf.tensor([[3]]), 1.0)
    with pytest.raises(IndexError, match="index -1 is out of bounds"):
        x.scatter_add(0, pf.tensor([[-1]]), pf.ones(1, 1))
    with pytest.raises(IndexError, match=r"test_indexed_writes.py:\d+: index_copy\(\): index 7"):
        x.index_copy(1, pf.tensor([7]) * 1, pf.ones(3, 1)).numpy()  # after the run
    with pytest.raises(IndexError, match="index -1 is out of bounds"):
        x.index_add(0, pf.tensor([-1]), pf.ones(1, 4))
    with pytest.raises(IndexError, match="index -4 is out of bounds"):
        x.index_fill(0, pf.tensor([-4]), 1.0)
    with pytest.raises(IndexError, match="index 5 is out of bounds"):
        x.scatter(1, pf.tensor([[5]]) * 1, 2.0).numpy()
    with pytest.raises(pf.ShapeError, match="same number of dimensions"):
        x.scatter(0, pf.tensor([0]), pf.ones(1))
    with pytest.raises(pf.ShapeError, match="no larger size than src"):
        x.scatter(1, idx, pf.ones(1, 1))
    with pytest.raises(RuntimeError, match="Expected self.dtype to be equal to src.dtype"):
        x.scatter(1, idx, pf.ones(1, 2, dtype=pf.int32))
    with pytest.raises(RuntimeError, match="Expected dtype int32/int64 for index"):
        x.scatter(1, pf.ones(1, 2), 1.0)
    with pytest.raises(TypeError, match="must be Tensor, not float"):
        x.scatter_add(1, idx, 2.0)
    with pytest.raises(RuntimeError, match="reduce argument must be either add or multiply"):
        x.scatter(1, idx, pf.ones(1, 2), reduce="max")
    with pytest.raises(IndexError, match="Index is supposed to be a vector"):
        x.index_add(1, pf.tensor([[0]]), pf.ones(3, 1))
    with pytest.raises(pf.ShapeError, match=r"expected \[3, 2\]"):
        x.index_add(1, pf.tensor([0, 0]), pf.ones(3, 3))
    with pytest.raises(RuntimeError, match="same scalar type"):
        x.index_copy(1, pf.tensor([0]), pf.ones(3, 1, dtype=pf.int32))
    with pytest.raises(RuntimeError, match="0-dimensional value tensor"):
        x.index_fill(1, pf.tensor([0]), pf.ones(1))


def test_gradients_match_torch():
    """PyTorch's formulas, also with repeated indices: scatter's src and index_copy's source
    get the gradient at every entry's position (an overwritten one too), x none where written;
    scatter_add / index_add pass x's gradient whole, src's is a gather; index_fill's value
    gets the filled elements' sum."""
    a, w = data((4, 5)), data((4, 5), seed=1)
    rows = np.array([[3, 3, 0, 1, 2], [3, 0, 0, 1, 1]], np.int32)
    vector = np.array([4, 0, 4], np.int32)
    for on_device in (False, True):
        grads = {}
        for lib in (pf, torch):
            x, src = lib.from_numpy(a), lib.from_numpy(data((2, 5), seed=2))  # (torch: index-sized)
            source, value = (
                lib.from_numpy(data((4, 3), seed=3)),
                lib.from_numpy(np.array(0.5, np.float32)),
            )
            for t in (x, src, source, value):
                t.requires_grad = True
            weight = lib.from_numpy(w)
            i = index_of(lib, rows, on_device)
            v = index_of(lib, vector, on_device)
            loss = (x.scatter(0, i, src) * weight).sum()
            loss = loss + (x.scatter_add(0, i, src * 2) ** 2).sum()
            loss = loss + (lib.index_add(x, 1, v, source, alpha=3) * weight).sum()
            loss = loss + (x.index_copy(1, v, source * 1.5) * weight).sum()
            loss = loss + (x.index_fill(1, v, value) * weight * weight).sum()
            loss = loss + (x.scatter(1, i.T[:4] % 4, 1.0) * weight).sum()
            loss.backward()
            grads[lib] = [t.grad.numpy() for t in (x, src, source, value)]
        for k, (got, want) in enumerate(zip(grads[pf], grads[torch], strict=True)):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5, err_msg=f"{k} {on_device}")


def test_in_place_forms_write_into_x_and_its_views():
    a = data((4, 5))
    results = {}
    for lib in (pf, torch):
        x = lib.from_numpy(a.copy())
        row = x[1]  # a view: sees the writes
        i = index_of(lib, np.array([[1, 0, 3, 3, 2]], np.int32))
        assert x.scatter_(0, i, lib.from_numpy(data((1, 5), seed=1))) is x
        x.scatter_add_(0, i, lib.from_numpy(data((1, 5), seed=2)))
        x.index_add_(1, index_of(lib, np.array([2, 2], np.int32)), x[:, :2])
        x.index_copy_(0, index_of(lib, np.array([0], np.int32)), x[3:4] * 2)
        x[2].index_fill_(0, index_of(lib, np.array([4, 0], np.int32)), -7.0)  # through a view
        x.scatter_(1, index_of(lib, np.array([[0], [1], [2], [3]], np.int32)), 9.0)
        results[lib] = [x.numpy().copy(), row.numpy().copy()]
    for got, want in zip(results[pf], results[torch], strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


def put_cases(lib, put, on_device):
    """index_put's forms in either library: int index tensors (repeats), a bool mask, several
    indices broadcast together, values broadcast to x[indices]'s shape."""
    a, b = data((5, 7)), data((3, 4, 6), seed=2)
    i = lambda arr: index_of(lib, arr, on_device)  # noqa: E731
    rows = np.array([4, 0, 4, 2], np.int32)  # repeated 4
    cols = np.array([6, 1, 6, 0], np.int32)  # (4, 6) named twice
    mask = lib.from_numpy(a > 0.3)
    cases = []
    for accumulate in (False, True):
        x, y = put(a), put(b)
        cases += [
            lib.index_put(x, (i(rows), i(cols)), put(data((4,), seed=3)), accumulate),
            x.index_put((i(rows),), put(data((7,), seed=4)), accumulate=accumulate),
            x.index_put((mask,), put(np.array(1.5, np.float32)), accumulate=accumulate),
            lib.index_put(y, [i(rows[:2] - 2), i(rows[1:3] - 1)], put(data((6,), 5)), accumulate),
            y.index_put(
                (i(np.array([[0, 2], [2, 2]], np.int32)),), put(data((2, 2, 4, 6), 6)), accumulate
            ),
        ]
    return cases


@pytest.mark.parametrize("on_device", [False, True], ids=["host", "device"])
@pytest.mark.parametrize("layout", LAYOUTS, ids=repr)
def test_index_put_matches_torch(layout, on_device):
    """pf.index_put and x.index_put against torch's, with accumulate False (the last write
    wins, as PyTorch's CPU kernel) and True (repeats add up)."""
    ours = put_cases(pf, lambda a: pf.from_numpy(a, layout=layout), on_device)
    theirs = put_cases(torch, torch.from_numpy, False)
    pf.eval(*ours)
    for k, (got, want) in enumerate(zip(ours, theirs, strict=True)):
        assert got.shape == tuple(want.shape), k
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6, atol=1e-6, err_msg=k)


def test_index_put_in_place_ints_bools_and_gradients():
    """x.index_put_ changes x; int and bool tensors (bool accumulates as logical or, as
    PyTorch); the gradients of x and values with accumulate (values at every entry)."""
    a = data((4, 5))
    rows = np.array([3, 1, 3], np.int32)
    for lib in (pf, torch):
        x = lib.from_numpy(a.copy())
        idx = index_of(lib, rows)
        out = x.index_put_((idx,), lib.from_numpy(np.full(5, 2.0, np.float32)), accumulate=True)
        assert out is x
        want = a.copy()
        np.add.at(want, rows, 2.0)
        np.testing.assert_allclose(x.numpy(), want, rtol=1e-6)
    k = np.arange(20, dtype=np.int32).reshape(4, 5)
    for accumulate in (False, True):
        want = torch.index_put(
            torch.from_numpy(k),
            (torch.from_numpy(rows).long(),),
            torch.tensor(7, dtype=torch.int32),
            accumulate,
        )
        got = pf.index_put(
            pf.from_numpy(k), (pf.from_numpy(rows),), pf.tensor(7, dtype=pf.int32), accumulate
        )
        assert got.dtype is pf.int32
        np.testing.assert_array_equal(got.numpy(), want.numpy())
        flags = np.zeros((4, 5), bool)
        want = torch.index_put(
            torch.from_numpy(flags),
            (torch.from_numpy(rows).long(),),
            torch.tensor(True),
            accumulate,
        )
        got = pf.index_put(
            pf.from_numpy(flags), (pf.from_numpy(rows),), pf.tensor(True), accumulate
        )
        np.testing.assert_array_equal(got.numpy(), want.numpy())
    grads = {}
    for lib in (pf, torch):
        x = lib.from_numpy(a.copy())
        v = lib.from_numpy(data((5,), seed=2))
        x.requires_grad = v.requires_grad = True
        weight = lib.from_numpy(data((4, 5), seed=3))
        (lib.index_put(x, (index_of(lib, rows),), v, accumulate=True) * weight).sum().backward()
        grads[lib] = (x.grad.numpy(), v.grad.numpy())
    for ours, theirs in zip(grads[pf], grads[torch], strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-6)


def _put_rows(lib, x, idx, v):
    return lib.index_put(x, (idx,), v)


def _set_rows(lib, x, idx, v):
    y = x * 1
    y[idx] = v
    return y


def _set_pairs(lib, x, idx, v):
    y = x * 1
    y[idx, idx % 4] = v
    return y


def _set_columns(lib, x, idx, v):
    y = x * 1
    y[:, idx] = v
    return y


@pytest.mark.parametrize(
    "layout", [None, pf.MeshLayout.grid(2, 3), pf.MeshLayout.row_partition(3)], ids=repr
)
@pytest.mark.parametrize(
    "write, value_shape",
    [
        (_put_rows, (4, 4)),
        (_put_rows, (4,)),  # one row broadcast to every indexed row
        (_set_rows, (4, 4)),
        (_set_pairs, (4,)),
        (_set_columns, (5, 4)),
    ],
    ids=["index_put", "index_put_broadcast", "rows", "pairs", "columns"],
)
def test_overwritten_values_get_torchs_gradient(layout, write, value_shape):
    """index_put without accumulate and item assignment at repeated positions: the last write
    wins, and every value, also an overwritten one, gets the gradient at its position
    (PyTorch's `values.grad = grad[indices]`), the broadcast value the sum over every entry."""
    a, weight = data((5, 4)), data((5, 4), seed=3)
    rows = np.array([3, 1, 3, 3], np.int32)
    got = {}
    for lib in (pf, torch):
        x = pf.from_numpy(a.copy(), layout=layout) if lib is pf else torch.from_numpy(a.copy())
        v = lib.from_numpy(np.arange(np.prod(value_shape), dtype=np.float32).reshape(value_shape))
        x.requires_grad = v.requires_grad = True
        out = write(lib, x, index_of(lib, rows), v)
        (out * lib.from_numpy(weight)).sum().backward()
        got[lib] = (out.detach().numpy(), x.grad.numpy(), v.grad.numpy())
    for ours, theirs in zip(got[pf], got[torch], strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-6)


def test_index_put_errors_use_pytorchs_words():
    x = pf.zeros(3, 4)
    i = pf.from_numpy(np.array([0, 2], np.int32))
    with pytest.raises(
        RuntimeError,
        match=r"test_indexed_writes.py:\d+: Index put requires the source and destination dtypes match",
    ):
        pf.index_put(x, (i,), pf.ones(4, dtype=pf.int32))
    with pytest.raises(
        TypeError, match="argument 'values' \\(position 3\\) must be Tensor, not float"
    ):
        pf.index_put(x, (i,), 1.0)
    with pytest.raises(
        TypeError, match="expected Tensor as element 0 in argument 1, but got NoneType"
    ):
        pf.index_put(x, (None, i), pf.ones(3))
    with pytest.raises(IndexError, match="tensors used as indices must be long, int, byte or bool"):
        pf.index_put(x, (pf.ones(2),), pf.ones(4))
    with pytest.raises(IndexError, match="index 5 is out of bounds for dimension 0 with size 3"):
        pf.index_put(
            x, (pf.from_numpy(np.array([5], np.int32)),), pf.ones(4), accumulate=True
        ).numpy()
    with pytest.raises(
        pf.ShapeError,
        match=r"value tensor of shape \[3, 4\] cannot be broadcast to indexing result of shape \[2, 4\]",
    ):
        pf.index_put(x, (i,), pf.ones(3, 4), accumulate=True)
    with pytest.raises(pf.ShapeError, match=r"value tensor of shape \[3, 4\] cannot be broadcast"):
        pf.index_put(x, (i,), pf.ones(3, 4))


REDUCTIONS = ["sum", "prod", "mean", "amax", "amin"]


def reduce_cases(lib, put, on_device):
    """scatter_reduce's every reduction, with and without x, dims 0, 1 and -1 of 2-D and 3-D
    inputs, an index smaller than x and src (so part of x is out of its reach)."""
    a, b = data((5, 7)), data((3, 4, 6), seed=2)
    i = lambda arr: index_of(lib, arr, on_device)  # noqa: E731
    rows = ints(5, (4, 6), seed=3)  # repeats along dim 0
    deep = ints(6, (2, 4, 5), seed=5)
    src, src3 = put(data((4, 7), seed=6)), put(data((2, 4, 5), seed=7))
    out = []
    for reduce in REDUCTIONS:
        for include_self in (True, False):
            x, y = put(a), put(b)
            out += [
                lib.scatter_reduce(x, 0, i(rows), src, reduce, include_self=include_self),
                x.scatter_reduce(1, i(rows % 7), src, reduce, include_self=include_self),
                y.scatter_reduce(-1, i(deep), src3, reduce, include_self=include_self),
            ]
    return out


@pytest.mark.parametrize("on_device", [False, True], ids=["host", "device"])
@pytest.mark.parametrize("layout", LAYOUTS, ids=repr)
def test_scatter_reduce_matches_torch(layout, on_device):
    ours = reduce_cases(pf, lambda a: pf.from_numpy(a, layout=layout), on_device)
    theirs = reduce_cases(torch, torch.from_numpy, False)
    pf.eval(*ours)
    for k, (got, want) in enumerate(zip(ours, theirs, strict=True)):
        assert got.shape == tuple(want.shape) and got.dtype is pf.float32, k
        # (the entries reduce in another order than PyTorch's one by one: to rounding)
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-5, atol=1e-6, err_msg=k)


def test_scatter_reduce_of_ints_bools_halves_and_the_legacy_multiply():
    """int32 (mean rounds toward -inf, as PyTorch), bool (or / and; mean refused), float16 to
    its rounding, and scatter(..., reduce="multiply") as scatter_reduce's prod."""
    k = np.arange(-9, 15, dtype=np.int32).reshape(4, 6)
    idx = np.array([[0, 0, 3, 1, 5, 5], [2, 2, 2, 0, 1, 5]], np.int32)
    src = np.array([[3, -4, 1, 7, -2, 2], [5, 1, -8, 2, 3, 3]], np.int32)
    flags = k % 3 == 0
    for reduce in REDUCTIONS:
        for include_self in (True, False):
            got = pf.from_numpy(k).scatter_reduce(
                1, pf.from_numpy(idx), pf.from_numpy(src), reduce, include_self=include_self
            )
            want = torch.from_numpy(k).scatter_reduce(
                1,
                torch.from_numpy(idx).long(),
                torch.from_numpy(src),
                reduce,
                include_self=include_self,
            )
            assert got.dtype is pf.int32
            np.testing.assert_array_equal(got.numpy(), want.numpy(), err_msg=reduce)
            if reduce == "mean":
                continue
            got = pf.scatter_reduce(
                pf.from_numpy(flags),
                1,
                pf.from_numpy(idx),
                pf.from_numpy(src > 0),
                reduce,
                include_self=include_self,
            )
            want = torch.scatter_reduce(
                torch.from_numpy(flags),
                1,
                torch.from_numpy(idx).long(),
                torch.from_numpy(src > 0),
                reduce,
                include_self=include_self,
            )
            assert got.dtype is pf.bool
            np.testing.assert_array_equal(got.numpy(), want.numpy(), err_msg=reduce)
            h = data((4, 6)).astype(np.float16)
            hs = data((2, 6), seed=3).astype(np.float16)
            got = pf.from_numpy(h).scatter_reduce(1, pf.from_numpy(idx), pf.from_numpy(hs), reduce)
            want = torch.from_numpy(h).scatter_reduce(
                1, torch.from_numpy(idx).long(), torch.from_numpy(hs), reduce
            )
            assert got.dtype is pf.float16
            np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=2e-3, atol=1e-3)
    with pytest.raises(NotImplementedError, match="not implemented for bool"):
        pf.scatter_reduce(
            pf.from_numpy(flags), 1, pf.from_numpy(idx), pf.from_numpy(src > 0), "mean"
        )
    for value in (pf.from_numpy(src), 3):
        theirs = torch.from_numpy(src) if isinstance(value, pf.Tensor) else value
        got = pf.from_numpy(k).scatter(1, pf.from_numpy(idx), value, reduce="multiply")
        want = torch.from_numpy(k).scatter(
            1, torch.from_numpy(idx).long(), theirs, reduce="multiply"
        )
        np.testing.assert_array_equal(got.numpy(), want.numpy())
    x = pf.from_numpy(k.copy())
    assert x.scatter_(1, pf.from_numpy(idx), 2, reduce="multiply") is x
    t = torch.from_numpy(k.copy()).scatter_(1, torch.from_numpy(idx).long(), 2, reduce="multiply")
    np.testing.assert_array_equal(x.numpy(), t.numpy())


def test_scatter_reduce_in_place_and_gradients_as_torch():
    """x.scatter_reduce_ changes x; gradients of x and src for every reduction, amax/amin
    with ties between x and several entries (PyTorch shares the gradient evenly among them)."""
    a = np.array([[1.0, 5.0, 2.0, 0.5], [3.0, -1.0, 4.0, 2.5], [0.5, 2.0, -3.0, 1.5]], np.float32)
    src = np.array([[5.0, 1.0, 3.0, 5.0, 2.0], [-1.0, 4.0, 4.0, 0.25, 3.0]], np.float32)
    idx = np.array([[1, 0, 2, 1, 3], [1, 2, 2, 0, 3]], np.int32)  # row 0: 5 meets x's 5 twice
    for reduce in REDUCTIONS:
        x, t = pf.from_numpy(a.copy()), torch.from_numpy(a.copy())
        assert x.scatter_reduce_(1, pf.from_numpy(idx), pf.from_numpy(src), reduce) is x
        t.scatter_reduce_(1, torch.from_numpy(idx).long(), torch.from_numpy(src), reduce)
        np.testing.assert_allclose(x.numpy(), t.numpy(), rtol=1e-6)
        for include_self in (True, False):
            if reduce in ("amax", "amin") and not include_self:
                continue  # PyTorch counts x's ties in the share though x takes no part: below
            grads = {}
            for lib in (pf, torch):
                x, s = lib.from_numpy(a.copy()), lib.from_numpy(src.copy())
                x.requires_grad = s.requires_grad = True
                out = lib.scatter_reduce(
                    x, 1, index_of(lib, idx), s, reduce, include_self=include_self
                )
                (out * lib.from_numpy(data((3, 4), seed=4))).sum().backward()
                grads[lib] = (x.grad.numpy(), s.grad.numpy())
            for ours, theirs in zip(grads[pf], grads[torch], strict=True):
                np.testing.assert_allclose(
                    ours, theirs, rtol=1e-5, atol=1e-6, err_msg=(reduce, include_self)
                )


def test_scatter_reduce_errors_use_pytorchs_words():
    x = pf.zeros(3, 4)
    idx = pf.from_numpy(np.array([[0, 5]], np.int32))
    with pytest.raises(
        RuntimeError,
        match=r"test_indexed_writes.py:\d+: reduce argument must be either sum, prod, mean, amax or amin, got max",
    ):
        pf.scatter_reduce(x, 1, idx, pf.ones(1, 2), "max")
    with pytest.raises(RuntimeError, match="Expected self.dtype to be equal to src.dtype"):
        pf.scatter_reduce(x, 1, idx, pf.ones(1, 2, dtype=pf.int32), "sum")
    with pytest.raises(IndexError, match="index 5 is out of bounds for dimension 1 with size 4"):
        pf.scatter_reduce(x, 1, idx, pf.ones(1, 2), "amax").numpy()
    with pytest.raises(
        RuntimeError,
        match=r"test_indexed_writes.py:\d+: reduce argument must be either add or multiply",
    ):
        x.scatter(1, idx, 1.0, reduce="mean")


def test_scatter_reduce_amax_without_self_shares_among_the_entries_only():
    """amax with include_self=False: the gradient is shared among the tied entries only
    (PyTorch also counts x's equal value, which takes no part, so its entries' shares do not
    add up to the gradient: docs/ops.md)."""
    x = pf.from_numpy(np.array([5.0, 0.0], np.float32))
    s = pf.from_numpy(np.array([5.0, 5.0, 1.0], np.float32))
    x.requires_grad = s.requires_grad = True
    idx = pf.from_numpy(np.array([0, 0, 1], np.int32))
    out = pf.scatter_reduce(x, 0, idx, s, "amax", include_self=False)
    np.testing.assert_array_equal(out.numpy(), [5.0, 1.0])
    out.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0])
    np.testing.assert_array_equal(s.grad.numpy(), [0.5, 0.5, 1.0])


SCATTER_LAYOUTS = [
    None,
    pf.MeshLayout.grid(2, 2),
    pf.MeshLayout.grid(2, 3),
    pf.MeshLayout.row_partition(3),
]


@pytest.mark.parametrize("layout", SCATTER_LAYOUTS, ids=repr)
def test_masked_scatter_matches_torch_with_gradients(layout):
    """Masks at hand and computed on the device, a mask broadcast over the input and an input
    broadcast over the mask, a source longer than needed and of another shape; values and
    the gradients of input and source (the unused source elements get 0)."""
    a, s = data((5, 7)), data((6, 7), seed=3)
    mask = data((5, 7), seed=4) > 0.3
    res = {}
    for lib in (pf, torch):
        x = pf.from_numpy(a, layout=layout) if lib is pf else torch.from_numpy(a)
        src = lib.from_numpy(s)
        x.requires_grad = src.requires_grad = True
        held = lib.from_numpy(mask)
        outs = [
            x.masked_scatter(held, src),
            lib.masked_scatter(x, (x * 3).sin() > 0, src),  # a mask computed on the device
            x.masked_scatter(held[2:3], src),  # one row of mask for every row
            lib.masked_scatter(x[1:2], held, src * 2),  # the input broadcast to the mask
        ]
        loss = sum((o * o).sum() * (k + 1) for k, o in enumerate(outs))
        loss.backward()
        res[lib] = [o.detach().numpy() for o in outs] + [x.grad.numpy(), src.grad.numpy()]
    for k, (got, want) in enumerate(zip(res[pf], res[torch], strict=True)):
        assert got.shape == want.shape, k
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6, err_msg=str(k))


def test_masked_scatter_keeps_every_dtype_and_writes_in_place():
    mask = np.array([[True, False, True], [False, True, True]])
    ints = np.arange(6, dtype=np.int32).reshape(2, 3)
    for a, s in (
        (ints, -ints - 10),
        (ints % 2 == 0, np.ones((2, 3), bool)),
        (data((2, 3)).astype(np.float16), data((4,), seed=2).astype(np.float16)),
    ):
        got = pf.from_numpy(a).masked_scatter(pf.from_numpy(mask), pf.from_numpy(s))
        want = torch.from_numpy(a).masked_scatter(torch.from_numpy(mask), torch.from_numpy(s))
        assert got.dtype == pf.from_numpy(a).dtype
        np.testing.assert_array_equal(got.numpy(), want.numpy())
    x, t = pf.from_numpy(data((2, 3))), torch.from_numpy(data((2, 3)))
    view, tview = x[1], t[1]
    x.masked_scatter_(pf.from_numpy(mask[:1]), pf.from_numpy(np.arange(6, dtype=np.float32)))
    t.masked_scatter_(torch.from_numpy(mask[:1]), torch.arange(6, dtype=torch.float32))
    np.testing.assert_array_equal(x.numpy(), t.numpy())
    np.testing.assert_array_equal(view.numpy(), tview.numpy())  # the view sees it, as torch's


def test_masked_scatter_errors_as_torch_at_the_users_line():
    mask = np.array([[True, False, True], [True, True, True]])
    x, t = pf.zeros(2, 3), torch.zeros(2, 3)
    cases = [
        (
            pf.from_numpy(mask),
            pf.arange(4.0),
            torch.from_numpy(mask),
            torch.arange(4.0),
            "source <",
        ),
        (
            pf.from_numpy(mask.astype(np.int32)),
            pf.arange(6.0),
            torch.from_numpy(mask).int(),
            torch.arange(6.0),
            "only supports boolean masks, but got mask with dtype Int",
        ),
        (pf.from_numpy(mask), pf.arange(6), torch.from_numpy(mask), torch.arange(6), "same dtypes"),
    ]
    for pmask, psource, tmask, tsource, words in cases:
        with pytest.raises(RuntimeError, match=words.replace("Int", "")):
            t.masked_scatter(tmask, tsource)
        with pytest.raises(
            RuntimeError, match=r"test_indexed_writes\.py:\d+: .*" + words.replace("Int", "")
        ):
            x.masked_scatter(pmask, psource)
    computed = pf.from_numpy(data((2, 3))) > -10  # all True, known only after the run
    late = x.masked_scatter(computed, pf.arange(5.0))
    with pytest.raises(
        RuntimeError, match=r"test_indexed_writes\.py:\d+: Number of elements of source"
    ):
        late.numpy()
    with pytest.raises(pf.ShapeError, match="cannot be broadcast"):
        x.masked_scatter(pf.from_numpy(np.ones((3, 3), bool)), pf.arange(9.0))
