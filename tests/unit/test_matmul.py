"""matmul in all of PyTorch's forms, bmm and nn.functional.linear, through the whole pipeline
(frontend -> flame -> mesh -> pe -> simulator) against torch on the CPU.

Batch dims stay whole on every PE and the last two dims are split [r, c] for SUMMA; vectors are
reshaped into matrices around one flame.matmul; batch dims that differ are broadcast (or, when
one side's are all 1, dropped so that side is shared).
"""

from __future__ import annotations

import numpy as np
import pytest
from layouts import LAYOUTS

import pyflame as pf
from pyflame.nn import functional as F

torch = pytest.importorskip("torch")


# (lhs shape, rhs shape): plain, batched, broadcast batch dims, vectors, odd sizes
CASES = [
    ((7, 5), (5, 3)),
    ((16, 12), (12, 8)),
    ((3, 7, 5), (3, 5, 6)),  # [b, m, k] @ [b, k, n]
    ((3, 7, 5), (5, 6)),  # [b, m, k] @ [k, n]: the rhs is shared
    ((7, 5), (3, 5, 6)),  # [m, k] @ [b, k, n]: the lhs is shared
    ((2, 3, 4, 5), (2, 3, 5, 2)),  # two batch dims
    ((2, 1, 4, 5), (3, 5, 2)),  # broadcast: [2, 1] and [3] -> [2, 3]
    ((1, 4, 5), (3, 5, 2)),  # a batch of 1 is shared
    ((3, 4, 5), (1, 5, 2)),
    ((7, 5), (5,)),  # matrix @ vector
    ((5,), (5, 3)),  # vector @ matrix
    ((5,), (5,)),  # dot product: rank 0
    ((2, 7, 5), (5,)),
    ((5,), (2, 5, 3)),
    ((1, 9), (9, 2)),
    ((10, 1), (1, 6)),
]


pytestmark = pytest.mark.usefixtures("small_target")


def arrays(*shapes, seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(dtype) for s in shapes]


def torch_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (torch.from_numpy(a) @ torch.from_numpy(b)).numpy()


@pytest.mark.parametrize("layout", LAYOUTS, ids=repr)
@pytest.mark.parametrize("shapes", CASES, ids=repr)
def test_matmul_forms_against_torch(shapes, layout):
    a, b = arrays(*shapes)
    z = pf.from_numpy(a, layout=layout) @ pf.from_numpy(b, layout=layout)
    want = torch_matmul(a, b)
    assert z.shape == want.shape
    out = z.numpy()
    assert out.shape == want.shape
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "layout", [pf.MeshLayout.grid(2, 2), pf.MeshLayout.row_partition(3)], ids=repr
)
@pytest.mark.parametrize("shapes", [((3, 7, 5), (5, 6)), ((7, 5), (3, 5, 6))], ids=repr)
def test_one_operand_laid_out(shapes, layout):
    a, b = arrays(*shapes, seed=1)
    z = pf.matmul(pf.from_numpy(a, layout=layout), pf.from_numpy(b))
    np.testing.assert_allclose(z.numpy(), torch_matmul(a, b), rtol=1e-5, atol=1e-5)


def test_method_and_function_forms():
    a, b = arrays((2, 3, 4), (2, 4, 5))
    x, y = pf.from_numpy(a), pf.from_numpy(b)
    want = torch_matmul(a, b)
    for z in (x @ y, pf.matmul(x, y), x.matmul(y), pf.bmm(x, y), x.bmm(y)):
        np.testing.assert_allclose(z.numpy(), want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("layout", LAYOUTS, ids=repr)
def test_bmm(layout):
    a, b = arrays((4, 6, 5), (4, 5, 7), seed=2)
    z = pf.bmm(pf.from_numpy(a, layout=layout), pf.from_numpy(b, layout=layout))
    np.testing.assert_allclose(
        z.numpy(),
        torch.bmm(torch.from_numpy(a), torch.from_numpy(b)).numpy(),
        rtol=1e-5,
        atol=1e-5,
    )


@pytest.mark.parametrize(
    "shapes", [((4, 5), (4, 5)), ((2, 4, 5), (5, 3)), ((2, 4, 5), (3, 5, 2))], ids=repr
)
def test_bmm_needs_3d_with_one_batch(shapes):
    x, y = (pf.zeros(s) for s in shapes)
    with pytest.raises(pf.ShapeError, match=r"test_matmul.py:\d+: bmm needs two 3-D tensors"):
        pf.bmm(x, y)


@pytest.mark.parametrize("layout", LAYOUTS, ids=repr)
@pytest.mark.parametrize("x_shape", [(6, 5), (2, 3, 5), (5,)], ids=repr)
@pytest.mark.parametrize("bias", [True, False])
def test_linear_against_torch(x_shape, bias, layout):
    x, w, b = arrays(x_shape, (4, 5), (4,), seed=3)
    out = F.linear(
        pf.from_numpy(x, layout=layout),
        pf.from_numpy(w, layout=layout),
        pf.from_numpy(b) if bias else None,
    )
    want = torch.nn.functional.linear(
        torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b) if bias else None
    ).numpy()
    np.testing.assert_allclose(out.numpy(), want, rtol=1e-5, atol=1e-5)


def test_linear_with_a_vector_weight():
    x, w = arrays((3, 5), (5,), seed=4)
    out = F.linear(pf.from_numpy(x), pf.from_numpy(w))
    want = torch.nn.functional.linear(torch.from_numpy(x), torch.from_numpy(w)).numpy()
    np.testing.assert_allclose(out.numpy(), want, rtol=1e-5, atol=1e-5)


def test_linear_shape_error_names_both_shapes():
    with pytest.raises(
        pf.ShapeError,
        match=r"test_matmul.py:\d+: linear: input of shape "
        r"\[2, 3\] cannot go through weight of shape \[4, 5\]",
    ):
        F.linear(pf.zeros(2, 3), pf.zeros(4, 5))


@pytest.mark.parametrize(
    "shapes, words",
    [
        (((2, 3), (4, 5)), ["[2, 3]", "[4, 5]", "3 != 4"]),
        (((3,), (4,)), ["[3]", "[4]", "3 != 4"]),
        (((2, 3, 4), (5, 4, 2)), ["batch dims", "cannot be broadcast"]),
        (((), (3,)), ["at least 1 dim"]),
    ],
    ids=repr,
)
def test_shape_errors_at_the_users_line(shapes, words):
    x, y = (pf.zeros(s) for s in shapes)
    with pytest.raises(pf.ShapeError) as err:
        x @ y
    message = str(err.value)
    assert "test_matmul.py:" in message
    for word in words:
        assert word in message


def test_dtypes_must_match():
    with pytest.raises(pf.ShapeError, match="dtypes"):
        pf.zeros(2, 3) @ pf.zeros(3, 2, dtype=pf.float16)


def test_int_matmul_is_refused_by_the_compiler():
    x = pf.from_numpy(np.ones((2, 2), np.int32))
    with pytest.raises(pf.CompileError, match="flame.matmul"):
        (x @ x).numpy()


@pytest.mark.parametrize("dtype", [pf.float16, pf.bfloat16], ids=repr)
@pytest.mark.parametrize(
    "layout", [None, pf.MeshLayout.grid(3, 3), pf.MeshLayout.row_partition(2)], ids=repr
)
@pytest.mark.parametrize(
    "shapes", [((9, 7), (7, 5)), ((2, 5, 6), (6, 4)), ((6,), (2, 6, 3))], ids=repr
)
def test_half_precision(dtype, layout, shapes):
    a, b = (x.astype(dtype.numpy) for x in arrays(*shapes, seed=5))
    z = pf.from_numpy(a, layout=layout) @ pf.from_numpy(b, layout=layout)
    out = z.numpy()
    assert out.dtype == dtype.numpy
    want = torch_matmul(a.astype(np.float32), b.astype(np.float32))
    tol = 2e-2 if dtype is pf.float16 else 6e-2
    np.testing.assert_allclose(out.astype(np.float32), want, rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", [pf.float16, pf.bfloat16], ids=repr)
@pytest.mark.parametrize(
    "layout",
    # (the 4x4 grid in the slow suite only: the 3x3 one runs the same SUMMA, padded)
    [
        None,
        pytest.param(pf.MeshLayout.grid(4, 4), marks=pytest.mark.slow),
        pf.MeshLayout.grid(3, 3),
    ],
    ids=repr,
)
@pytest.mark.parametrize(
    "shapes",
    [((37, 200), (200, 29)), ((64, 256), (256, 1)), ((3, 150), (150, 70)), ((2, 9, 90), (90, 11))],
    ids=repr,
)
def test_half_matmul_accumulates_in_float32_and_rounds_once(dtype, layout, shapes):
    """PyTorch's half matmul (and the PEs' fp16 FMACs with fp32 accumulation) sums the
    products in float32 and rounds once: every element within one half ulp of the exact
    product, as torch's. Partial sums rounded to the half type at each SUMMA step or before
    a GEMV's sum over the PEs were 2-3 times torch's error. The gradients too."""
    tdt = {pf.float16: torch.float16, pf.bfloat16: torch.bfloat16}[dtype]
    a, b = (torch.from_numpy(x).to(tdt) for x in arrays(*shapes, seed=7))
    a.requires_grad = b.requires_grad = True
    pa, pb = (pf.from_numpy(x.detach().float().numpy(), layout=layout).to(dtype) for x in (a, b))
    pa.requires_grad = pb.requires_grad = True
    z = pa @ pb
    weight = arrays(tuple(z.shape), seed=8)[0]
    (z.float() * pf.from_numpy(weight)).sum().backward()
    t = a @ b
    (t.float() * torch.from_numpy(weight)).sum().backward()
    for ours, theirs in ((z, t), (pa.grad, a.grad), (pb.grad, b.grad)):
        assert ours.dtype is dtype
        got = torch.from_numpy(ours.float().numpy())
        want = theirs.detach().float()
        bits = 10 if dtype is pf.float16 else 7  # the half type's mantissa
        ulp = torch.exp2(torch.floor(torch.log2(want.abs().clamp_min(1e-3))) - bits)
        # float32 sums in another order than torch's may round the other way, by one ulp
        assert torch.all((got - want).abs() <= ulp), (got - want).abs().max()
        assert (got != want).float().mean() < 0.02


def test_flame_ir_of_the_forms():
    """One flame.matmul each; reshapes around vectors; broadcast only where batch dims differ
    and neither side can be shared."""
    x3, w = pf.zeros(3, 7, 5), pf.zeros(5, 6)
    text = pf.ir(x3 @ w, stage="flame")
    assert "flame.matmul" in text and "broadcast_to" not in text and "reshape" not in text
    assert "(tensor<3x7x5xf32>, tensor<5x6xf32>) -> tensor<3x7x6xf32>" in text
    v = pf.zeros(5)
    text = pf.ir(pf.zeros(7, 5) @ v, stage="flame")
    assert "tensor<5xf32> -> tensor<5x1xf32>" in text and "tensor<7x1xf32> -> tensor<7xf32>" in text
    text = pf.ir(pf.zeros(2, 1, 4, 5) @ pf.zeros(3, 5, 2), stage="flame")
    assert "flame.broadcast_to" in text
    assert "-> tensor<2x3x4x2xf32>" in text


def test_mesh_ir_keeps_batch_dims_whole():
    x = pf.from_numpy(np.ones((2, 8, 8), np.float32), layout=pf.MeshLayout.grid(2, 2))
    w = pf.from_numpy(np.ones((8, 4), np.float32))
    text = pf.ir(x @ w, stage="mesh")
    assert (
        "mesh.matmul summa %0, %1 : (!mesh.tensor<2x8x8xf32 on 2x2 split "
        "[_, r, c]>, !mesh.tensor<8x4xf32 on 2x2 split [r, c]>) -> !mesh.tensor<2x8x4xf32 on "
        "2x2 split [_, r, c]>"
    ) in text
    pe_text = pf.ir(x @ w, stage="pe")
    assert "lhs_batch = 2 : i64" in pe_text and "rhs_batch" not in pe_text


def test_linear_loop_compiles_once():
    rng = np.random.default_rng(6)
    w = pf.from_numpy(rng.standard_normal((4, 5)).astype(np.float32))
    b = pf.from_numpy(rng.standard_normal(4).astype(np.float32))
    pf.cache_clear()
    for _ in range(3):
        x = rng.standard_normal((2, 3, 5)).astype(np.float32)
        y = F.linear(pf.from_numpy(x), w, b)
        want = x @ w.numpy().T + b.numpy()
        np.testing.assert_allclose(y.numpy(), want, rtol=1e-5, atol=1e-5)
    hits, misses, _ = pf.cache_info()
    assert (hits, misses) == (2, 1)


def test_large_batched_matmul_on_a_grid():
    a, b = arrays((4, 40, 36), (4, 36, 44), seed=7)
    z = pf.from_numpy(a, layout=pf.MeshLayout.grid(4, 4)) @ pf.from_numpy(b)
    np.testing.assert_allclose(z.numpy(), torch_matmul(a, b), rtol=1e-4, atol=1e-4)
    report = pf.last_report()
    assert report.flops >= 2 * 4 * 40 * 36 * 44


@pytest.mark.parametrize(
    "x_shape, w_shape", [((2, 3, 5), (4, 5)), ((5,), (4, 5)), ((3, 5), (4, 5))], ids=repr
)
def test_gradients_through_linear_match_torch(x_shape, w_shape):
    """The batched and vector forms differentiate like torch (a shared weight's gradient is
    summed over the batch)."""
    x, w, b = arrays(x_shape, w_shape, (w_shape[0],), seed=8)
    px, pw, pb = (pf.from_numpy(a) for a in (x, w, b))
    for t in (px, pw, pb):
        t.requires_grad = True
    loss = (F.linear(px, pw, pb) ** 2).sum()
    pf.backward(loss)
    pf.eval(loss, px.grad, pw.grad, pb.grad)
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    (torch.nn.functional.linear(tx, tw, tb) ** 2).sum().backward()
    for p, t in ((px, tx), (pw, tw), (pb, tb)):
        np.testing.assert_allclose(p.grad.numpy(), t.grad.numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("layout", LAYOUTS, ids=repr)
def test_outer_and_addmm_match_torch(layout):
    rng = np.random.default_rng(4)
    a, b, c = (rng.standard_normal(s).astype(np.float32) for s in ((7, 5), (5, 9), (7, 9)))
    x, y, z = (pf.from_numpy(v, layout=layout) for v in (a, b, c))
    t, u, w = (torch.from_numpy(v) for v in (a, b, c))
    bias = pf.from_numpy(c[0])
    cases = [
        (pf.outer(x[:, 0], y[1]), torch.outer(t[:, 0], u[1])),
        (x[2].outer(x[3]), t[2].outer(t[3])),
        (pf.addmm(z, x, y), torch.addmm(w, t, u)),
        (pf.addmm(bias, x, y, beta=0.5, alpha=-2), torch.addmm(w[0], t, u, beta=0.5, alpha=-2)),
        (z.addmm(x, y, beta=0), w.addmm(t, u, beta=0)),
    ]
    pf.eval(*[g for g, _ in cases])
    for i, (got, want) in enumerate(cases):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-4, atol=1e-5, err_msg=str(i))


def test_addmm_with_beta_zero_ignores_nan_in_input_and_outer_promotes():
    nan = pf.full([2, 2], float("nan"))
    eye = pf.eye(2)
    np.testing.assert_array_equal(pf.addmm(nan, eye, eye, beta=0).numpy(), np.eye(2))
    k = pf.from_numpy(np.array([1, 2], np.int32))
    f = pf.from_numpy(np.array([0.5, 1.0, 2.0], np.float32))
    got = pf.outer(k, f)
    assert got.dtype == pf.float32
    np.testing.assert_array_equal(got.numpy(), np.outer([1, 2], [0.5, 1.0, 2.0]))
    with pytest.raises(RuntimeError, match="expected 1-D tensors"):
        pf.outer(eye, f)


# transposed products (flame-to-mesh folds a transpose of the last two dims into mesh.matmul's
# transpose_a / transpose_b where the cost model estimates it cheaper: no transpose moved)
TRANSPOSED_LAYOUTS = [
    pf.MeshLayout.grid(1, 1),
    pf.MeshLayout.grid(2, 3),
    pf.MeshLayout.grid(4, 4),
    pf.MeshLayout.grid(5, 7),
]


@pytest.mark.parametrize("layout", TRANSPOSED_LAYOUTS, ids=repr)
@pytest.mark.parametrize("form", ["a.T @ b", "a @ b.T", "a.T @ b.T"])
def test_transposed_products_against_torch(form, layout):
    ta, tb = form.startswith("a.T"), form.endswith("b.T")
    m, k, n = 23, 37, 19
    a, b = arrays((k, m) if ta else (m, k), (n, k) if tb else (k, n), seed=11)
    pa, pb = pf.from_numpy(a, layout=layout), pf.from_numpy(b, layout=layout)
    z = (pa.T if ta else pa) @ (pb.T if tb else pb)
    want = torch_matmul(a.T.copy() if ta else a, b.T.copy() if tb else b)
    np.testing.assert_allclose(z.numpy(), want, rtol=1e-4, atol=1e-4)


def test_a_transpose_on_a_grid_is_folded_not_moved():
    """On a 4x4 grid, x.T @ y moves nothing: SUMMA reads x's blocks in place (transpose_a), no
    mesh.transpose or redistribute is left, and it takes fewer cycles than the transposed copy
    made first (x.T.contiguous-like: the transpose evaluated on its own, then the product)."""
    layout = pf.MeshLayout.grid(4, 4)
    x, y = arrays((48, 40), (48, 36), seed=12)
    px, py = pf.from_numpy(x, layout=layout), pf.from_numpy(y, layout=layout)
    z = px.T @ py
    mesh_ir = pf.ir(z, stage="mesh")
    assert "mesh.matmul summa transpose_a" in mesh_ir
    assert "mesh.transpose" not in mesh_ir and "mesh.redistribute" not in mesh_ir
    np.testing.assert_allclose(z.numpy(), torch_matmul(x.T.copy(), y), rtol=1e-4, atol=1e-4)


def test_attention_scores_fold_the_key_transpose():
    """q @ k.transpose(-2, -1) with batch and head dims: the key is consumed transposed."""
    layout = pf.MeshLayout.grid(3, 3)
    q, k = arrays((2, 3, 13, 8), (2, 3, 11, 8), seed=13)
    pq, pk = pf.from_numpy(q, layout=layout), pf.from_numpy(k, layout=layout)
    z = pq @ pk.transpose(-2, -1)
    assert "transpose_b" in pf.ir(z, stage="mesh")
    want = (torch.from_numpy(q) @ torch.from_numpy(k).transpose(-2, -1)).numpy()
    np.testing.assert_allclose(z.numpy(), want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("grid", [2, 3, 5], ids=repr)
@pytest.mark.parametrize("form", ["x @ w.T", "w.T @ x", "w.T @ w"])
def test_a_reloaded_weights_transpose_is_read_turned_not_copied(form, grid):
    """A transpose of an unplaced program input (nn.Linear's `W.T`) is loaded from the host
    in the transposed split and turned on each PE (a local mesh.transpose); when only SUMMA reads it, lower-mesh-to-pe
    folds it: pe.matmul_acc reads the input's tiles with its transposed flag, and no
    pe.transpose copies them. Odd shapes pad the blocks; the product matches torch's."""
    layout = pf.MeshLayout.grid(grid, grid)
    x, w = arrays((23, 37), (29, 37) if form == "x @ w.T" else (37, 29), seed=15)
    if form == "w.T @ x":
        x = arrays((37, 19), seed=16)[0]
    # (w unplaced: its user places it, in the split whose local transpose it reads)
    px, pw = pf.from_numpy(x, layout=layout), pf.from_numpy(w)
    z = {"x @ w.T": lambda: px @ pw.T, "w.T @ x": lambda: pw.T @ px, "w.T @ w": lambda: pw.T @ pw}
    out = z[form]()
    pe_ir = pf.ir(out, stage="pe")
    assert "pe.transpose" not in pe_ir
    assert "lhs_transposed" in pe_ir or "rhs_transposed" in pe_ir
    tw = torch.from_numpy(w)
    want = {
        "x @ w.T": lambda: torch.from_numpy(x) @ tw.T,
        "w.T @ x": lambda: tw.T @ torch.from_numpy(x),
        "w.T @ w": lambda: tw.T @ tw,
    }[form]().numpy()
    np.testing.assert_allclose(out.numpy(), want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("layout", TRANSPOSED_LAYOUTS, ids=repr)
def test_matmul_gradients_are_transposed_products(layout):
    """The backward of C = A @ B is dC @ B^T and A^T @ dC: on each grid (odd shapes) both
    gradients match torch's."""
    a, b, w = arrays((17, 29), (29, 13), (17, 13), seed=14)
    pa, pb = pf.from_numpy(a, layout=layout), pf.from_numpy(b, layout=layout)
    pa.requires_grad = pb.requires_grad = True
    loss = ((pa @ pb) * pf.from_numpy(w, layout=layout)).sum()
    pf.backward(loss)
    pf.eval(loss, pa.grad, pb.grad)
    ta, tb = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    ((ta @ tb) * torch.from_numpy(w)).sum().backward()
    np.testing.assert_allclose(pa.grad.numpy(), ta.grad.numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(pb.grad.numpy(), tb.grad.numpy(), rtol=1e-4, atol=1e-4)
