"""Shape ops end to end (frontend -> flame -> mesh -> pe -> simulator) against numpy AND torch.

view/reshape, transpose/permute with negative dims, unsqueeze, squeeze, flatten, expand,
broadcast_to, cat, stack, split, chunk, narrow, basic indexing and slicing, pad. Every result
must equal both references exactly (these ops only move data), on odd shapes that leave
padding, under every layout kind, including grids that do not divide the shape.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from layouts import LAYOUTS

import pyflame as pf

SHAPES = [(7, 5), (13, 3), (1, 9), (8, 8)]
SHAPES_3D = [(3, 7, 5), (2, 9, 4)]


pytestmark = pytest.mark.usefixtures("small_target")


def data(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def check(outs, refs_np, refs_torch=None):
    """Evaluate `outs` in one program; each must equal its numpy and torch references."""
    pf.eval(*outs)
    refs_torch = refs_torch if refs_torch is not None else [None] * len(refs_np)
    for i, (o, r, t) in enumerate(zip(outs, refs_np, refs_torch, strict=True)):
        got = o.numpy()
        assert got.shape == np.shape(r), (i, got.shape, np.shape(r))
        np.testing.assert_array_equal(got, r, err_msg=f"output {i} vs numpy")
        if t is not None:
            np.testing.assert_array_equal(got, t.numpy(), err_msg=f"output {i} vs torch")


# --------------------------------------------------------------------------- indexing


KEYS_2D = [
    (slice(None), slice(0, 1)),
    (slice(1, 7, 2), slice(None, None, 3)),
    (Ellipsis, -1),
    (0,),
    (-1, slice(1, None)),
    (slice(-3, None), 2),
    (slice(None), None),
    (None, Ellipsis, None),
    (slice(2, 100), slice(-100, -1, 2)),
    (slice(1, 2), slice(None)),
    (slice(None, None, 5), slice(None, None, 4)),
    (Ellipsis,),
]


@pytest.mark.parametrize("layout", LAYOUTS, ids=repr)
@pytest.mark.parametrize("shape", SHAPES)
def test_indexing_2d(layout, shape):
    a = data(shape)
    x = pf.from_numpy(a, layout=layout)
    t = torch.from_numpy(a)
    keys = [k for k in KEYS_2D if _fits(k, shape)]
    check([x[k] for k in keys], [a[k] for k in keys], [t[k] for k in keys])


def _fits(key, shape):
    ints = [(d, k) for d, k in enumerate(key) if isinstance(k, int)]
    return all(-shape[d] <= k < shape[d] for d, k in ints if key[0] is not Ellipsis) and all(
        -shape[-1] <= k < shape[-1] for _, k in ints if key[0] is Ellipsis
    )


@pytest.mark.parametrize("layout", LAYOUTS, ids=repr)
@pytest.mark.parametrize("shape", SHAPES_3D)
def test_indexing_3d(layout, shape):
    a = data(shape, 1)
    x = pf.from_numpy(a, layout=layout)
    t = torch.from_numpy(a)
    keys = [
        (1,),
        (slice(None), 3),
        (Ellipsis, slice(1, None, 2)),
        (-1, slice(None, None, 2), -2),
        (slice(None), None, slice(2, 5), Ellipsis),
        (slice(1, 2), slice(7, 8), slice(3, 4)),
    ]
    check([x[k] for k in keys], [a[k] for k in keys], [t[k] for k in keys])


@pytest.mark.parametrize("layout", [None, pf.MeshLayout.grid(2, 3)], ids=repr)
def test_indexing_1d_and_iteration(layout):
    a = data((11,))
    x = pf.from_numpy(a, layout=layout)
    keys = [3, -1, slice(2, 9, 3), slice(None, None, 4), None, (None, slice(5, None))]
    check([x[k] for k in keys], [a[k] for k in keys])
    rows = list(pf.from_numpy(data((3, 4), 2), layout=layout))
    check(rows, list(data((3, 4), 2)))
    with pytest.raises(TypeError, match="0-d"):
        iter(x[0])


def test_slice_then_compute_has_no_padding_leak():
    """Slices feed reductions and matmuls on grids with padding: results stay exact."""
    a, b = data((13, 11)), data((9, 7), 3)
    lay = pf.MeshLayout.grid(3, 3)
    x, y = pf.from_numpy(a, layout=lay), pf.from_numpy(b, layout=lay)
    s = x[1:10:2, 3:]  # 5 x 8
    m = x[2:11, ::2] @ y[:6, 1:]  # (9 x 6) @ (6 x 6)
    pf.eval(s.sum(), s.sum(dim=0), m)
    np.testing.assert_allclose(s.sum().numpy(), a[1:10:2, 3:].sum(), rtol=1e-5)
    np.testing.assert_allclose(s.sum(dim=0).numpy(), a[1:10:2, 3:].sum(axis=0), rtol=1e-5)
    np.testing.assert_allclose(m.numpy(), a[2:11, ::2] @ b[:6, 1:], rtol=1e-5, atol=1e-5)


def test_empty_slices():
    a = data((5, 4))
    x = pf.from_numpy(a, layout=pf.MeshLayout.grid(2, 2))
    check([x[3:3], x[:, 4:], x[5:]], [a[3:3], a[:, 4:], a[5:]])


# --------------------------------------------------------------------------- views


@pytest.mark.parametrize("layout", LAYOUTS, ids=repr)
@pytest.mark.parametrize("shape", SHAPES)
def test_unsqueeze_squeeze_flatten(layout, shape):
    a = data(shape)
    x = pf.from_numpy(a, layout=layout)
    t = torch.from_numpy(a)
    outs = [
        x.unsqueeze(0),
        x.unsqueeze(-1),
        pf.unsqueeze(x, 1),
        x.unsqueeze(-2),
        x.unsqueeze(1).squeeze(),
        pf.squeeze(x.unsqueeze(0), 0),
        x.squeeze(1),
        x.squeeze(-2),
        x.unsqueeze(0).squeeze((0, 1)),
        x.flatten(),
        pf.flatten(x.unsqueeze(1), 1),
        x.unsqueeze(0).flatten(0, 1),
        x.flatten(-1),
        x.view(-1),
        x.reshape(shape[1], -1),
    ]
    refs = [
        t.unsqueeze(0),
        t.unsqueeze(-1),
        torch.unsqueeze(t, 1),
        t.unsqueeze(-2),
        t.unsqueeze(1).squeeze(),
        torch.squeeze(t.unsqueeze(0), 0),
        t.squeeze(1),
        t.squeeze(-2),
        t.unsqueeze(0).squeeze((0, 1)),
        t.flatten(),
        torch.flatten(t.unsqueeze(1), 1),
        t.unsqueeze(0).flatten(0, 1),
        t.flatten(-1),
        t.view(-1),
        t.reshape(shape[1], -1),
    ]
    check(outs, [r.numpy() for r in refs], refs)


@pytest.mark.parametrize("layout", LAYOUTS, ids=repr)
@pytest.mark.parametrize("shape", SHAPES_3D)
def test_flatten_and_reshape_3d(layout, shape):
    """Reshapes that move data between PEs (one exchange, no trip through one PE)."""
    a = data(shape, 4)
    x = pf.from_numpy(a, layout=layout)
    t = torch.from_numpy(a)
    n0, n1, n2 = shape
    outs = [
        x.flatten(),
        x.flatten(1),
        x.flatten(0, 1),
        x.view(n0 * n1, n2).t(),
        x.reshape(n2, -1, n0),
        x.permute(2, 0, 1).flatten(1),
    ]
    refs = [
        t.flatten(),
        t.flatten(1),
        t.flatten(0, 1),
        t.view(n0 * n1, n2).t(),
        t.reshape(n2, -1, n0),
        t.permute(2, 0, 1).flatten(1),
    ]
    check(outs, [r.numpy() for r in refs], refs)


def test_moving_reshape_keeps_the_grid():
    """flatten of a tensor split over a 4x4 grid stays on that grid (mesh.relayout)."""
    x = pf.from_numpy(data((2, 12, 10)), layout=pf.MeshLayout.grid(4, 4))
    text = pf.ir(x.flatten(1), stage="mesh")
    assert "mesh.relayout" in text
    assert "-> !mesh.tensor<2x120xf32 on 4x4 split [r, c]>" in text
    assert "on 1x1" not in text


@pytest.mark.parametrize("layout", LAYOUTS, ids=repr)
def test_transpose_permute_negative_dims(layout):
    a = data((3, 5, 7), 5)
    x = pf.from_numpy(a, layout=layout)
    t = torch.from_numpy(a)
    outs = [
        x.transpose(-1, -3),
        pf.transpose(x, 0, -1),
        x.permute(-1, 0, -2),
        pf.permute(x, (2, -2, -3)),
        x.transpose(-2, -1)[1:, ::2],
    ]
    refs = [
        t.transpose(-1, -3),
        torch.transpose(t, 0, -1),
        t.permute(-1, 0, -2),
        torch.permute(t, (2, -2, -3)),
        t.transpose(-2, -1)[1:, ::2],
    ]
    check(outs, [r.numpy() for r in refs], refs)


# --------------------------------------------------------------------------- broadcasting


@pytest.mark.parametrize("layout", LAYOUTS, ids=repr)
def test_expand_and_broadcast_to(layout):
    row, col, one = data((1, 9)), data((7, 1), 1), data((5,), 2)
    x = pf.from_numpy(row, layout=layout)
    y = pf.from_numpy(col, layout=layout)
    z = pf.from_numpy(one, layout=layout)
    tx, ty, tz = (torch.from_numpy(v) for v in (row, col, one))
    outs = [
        x.expand(7, 9),
        x.expand(3, -1, -1),
        y.expand(-1, 4),
        pf.broadcast_to(y, (2, 7, 6)),
        z.broadcast_to(3, 5),
        z.expand(2, 1, 5),
        x.expand_as(pf.zeros(7, 9)),
        pf.broadcast_to(y, (7, 1)),
        x.expand(7, 9) + y.expand(7, 9),
    ]
    refs = [
        tx.expand(7, 9),
        tx.expand(3, -1, -1),
        ty.expand(-1, 4),
        torch.broadcast_to(ty, (2, 7, 6)),
        tz.broadcast_to(3, 5),
        tz.expand(2, 1, 5),
        tx.expand_as(torch.zeros(7, 9)),
        torch.broadcast_to(ty, (7, 1)),
        tx.expand(7, 9) + ty.expand(7, 9),
    ]
    check(outs, [r.numpy() for r in refs], refs)


@pytest.mark.parametrize("layout", LAYOUTS, ids=repr)
def test_broadcast_of_reductions_and_scalars(layout):
    """Rank-0 and reduced (allreduced, replicated) sources expand on every PE."""
    a = np.arange(35, dtype=np.float32).reshape(7, 5)
    x = pf.from_numpy(a, layout=layout)
    outs = [
        x.sum().expand(3, 4),
        x[2, 3].expand(2, 2),
        x.sum(0).expand(4, 5),
        x.sum(1, keepdim=True).expand(7, 6),
        x[None].expand(2, 7, 5),
    ]
    refs = [
        np.full((3, 4), a.sum()),
        np.full((2, 2), a[2, 3]),
        np.broadcast_to(a.sum(0), (4, 5)),
        np.broadcast_to(a.sum(1, keepdims=True), (7, 6)),
        np.broadcast_to(a, (2, 7, 5)),
    ]
    check(outs, refs)


def test_broadcast_is_local_when_the_source_is_in_place():
    """(1, 9) on a 3x3 grid: the single row is first replicated down the columns (one
    exchange), then every PE expands its own tile; a source already unsplit on the broadcast
    dim needs no exchange at all."""
    x = pf.from_numpy(data((1, 9)), layout=pf.MeshLayout.grid(3, 3))
    text = pf.ir(x.expand(8, 9), stage="mesh")
    assert "mesh.redistribute" in text and "mesh.broadcast" in text
    assert "-> !mesh.tensor<8x9xf32 on 3x3 split [r, c]>" in text
    y = pf.from_numpy(data((9,)), layout=pf.MeshLayout.col_partition(3))
    text = pf.ir(y.expand(8, 9), stage="mesh")
    assert "mesh.redistribute" not in text
    assert "mesh.broadcast %0 : !mesh.tensor<9xf32 on 1x3 split [c]> -> " in text


def test_big_broadcast_spreads_over_the_default_grid():
    """A small source broadcast to a big result lands on the default grid, not on one PE."""
    x = pf.from_numpy(data((1, 256)))
    y = x.expand(256, 256)  # 256 KiB: does not fit one PE
    text = pf.ir(y, stage="mesh")
    assert "-> !mesh.tensor<256x256xf32 on 8x8 split [r, c]>" in text
    np.testing.assert_array_equal(y.numpy(), np.broadcast_to(x.numpy(), (256, 256)))


# --------------------------------------------------------------------------- cat, stack


@pytest.mark.parametrize("layout", LAYOUTS, ids=repr)
@pytest.mark.parametrize("shape", SHAPES)
def test_cat_and_stack(layout, shape):
    a, b = data(shape), data(shape, 1)
    c = data((shape[0], 3), 2)
    x, y = pf.from_numpy(a, layout=layout), pf.from_numpy(b, layout=layout)
    z = pf.from_numpy(c, layout=layout)
    ta, tb, tc = (torch.from_numpy(v) for v in (a, b, c))
    outs = [
        pf.cat([x, y]),
        pf.cat([x, y, x], dim=-1),
        pf.cat((x, z), 1),
        pf.cat([x[:1], y], 0),
        pf.stack([x, y]),
        pf.stack([x, y, x], dim=-1),
        pf.stack((x, y), 1),
        pf.cat([x]),
        pf.concat([y, x], -2),
    ]
    refs = [
        torch.cat([ta, tb]),
        torch.cat([ta, tb, ta], dim=-1),
        torch.cat((ta, tc), 1),
        torch.cat([ta[:1], tb], 0),
        torch.stack([ta, tb]),
        torch.stack([ta, tb, ta], dim=-1),
        torch.stack((ta, tb), 1),
        torch.cat([ta]),
        torch.concat([tb, ta], -2),
    ]
    check(outs, [r.numpy() for r in refs], refs)


def test_cat_of_differently_laid_out_operands():
    a, b, c = data((9, 7)), data((4, 7), 1), data((6, 7), 2)
    x = pf.from_numpy(a, layout=pf.MeshLayout.grid(3, 2))
    y = pf.from_numpy(b, layout=pf.MeshLayout.row_partition(4))
    z = pf.from_numpy(c, layout=pf.MeshLayout.replicated(2, 3))
    w = pf.full((2, 7), 1.5)
    check(
        [pf.cat([x, y, z, w]), pf.cat([w, z], 0), pf.stack([y, y * 2])],
        [
            np.concatenate([a, b, c, np.full((2, 7), 1.5, np.float32)]),
            np.concatenate([np.full((2, 7), 1.5, np.float32), c]),
            np.stack([b, b * 2]),
        ],
    )


# --------------------------------------------------------------------------- split, chunk


@pytest.mark.parametrize("layout", LAYOUTS, ids=repr)
@pytest.mark.parametrize("shape", SHAPES)
def test_split_chunk_narrow(layout, shape):
    a = data(shape)
    x = pf.from_numpy(a, layout=layout)
    t = torch.from_numpy(a)
    n0, n1 = shape
    outs = [
        *x.split(2),
        *pf.split(x, 3, dim=-1),
        *x.split([n0 - 1, 1]),
        *pf.chunk(x, 3),
        *x.chunk(2, dim=1),
        *x.chunk(4, -1),
        x.narrow(0, 1, n0 - 1),
        pf.narrow(x, -1, -2, 2),
    ]
    refs = [
        *t.split(2),
        *torch.split(t, 3, dim=-1),
        *t.split([n0 - 1, 1]),
        *torch.chunk(t, 3),
        *t.chunk(2, dim=1),
        *t.chunk(4, -1),
        t.narrow(0, 1, n0 - 1),
        torch.narrow(t, -1, -2, 2),
    ]
    assert len(outs) == len(refs)
    check(outs, [r.numpy() for r in refs], refs)


@pytest.mark.parametrize(
    "layout", [None, pf.MeshLayout.grid(2, 3), pf.MeshLayout.row_partition(4)], ids=repr
)
@pytest.mark.parametrize("shape, dim", [((0, 3), 0), ((3, 0), 1), ((2, 0, 4), 1), ((2, 0, 4), -2)])
def test_chunk_and_split_of_an_empty_dim_as_pytorch(shape, dim, layout):
    """torch.chunk of a size-0 dim gives `chunks` empty pieces (not one); split gives one
    empty piece for any split_size (0 too), and a list of zeros gives that many."""
    a = np.zeros(shape, np.float32)
    x, t = pf.from_numpy(a, layout=layout), torch.from_numpy(a)
    cases = [
        (pf.chunk(x, 3, dim), torch.chunk(t, 3, dim)),
        (x.chunk(1, dim=dim), t.chunk(1, dim=dim)),
        (x.chunk(5, dim), t.chunk(5, dim)),
        (pf.split(x, 2, dim), torch.split(t, 2, dim)),
        (x.split(0, dim), t.split(0, dim)),
        (x.split([0, 0, 0], dim), t.split([0, 0, 0], dim)),
    ]
    for got, want in cases:
        assert len(got) == len(want)
        for g, w in zip(got, want, strict=True):
            assert g.shape == tuple(w.shape)
            assert g.numpy().shape == tuple(w.shape)
    with pytest.raises(pf.ShapeError, match="split_sizes to sum exactly to 0"):
        x.split([1, 0], dim)
    with pytest.raises(pf.ShapeError, match="greater than 0"):
        x.chunk(0, dim)


# --------------------------------------------------------------------------- pad


PADS = [(1, 2), (0, 0, 3, 1), (2, 0, 0, 2), (-1, 1), (1, -2, -1, 0), (0, 0), (3, 3, 2, 2)]


@pytest.mark.parametrize("layout", LAYOUTS, ids=repr)
@pytest.mark.parametrize("shape", SHAPES)
def test_pad(layout, shape):
    a = data(shape)
    x = pf.from_numpy(a, layout=layout)
    t = torch.from_numpy(a)
    outs = [pf.pad(x, p, value=v) for p in PADS for v in (0.0, -2.5)]
    refs = [F.pad(t, p, value=v) for p in PADS for v in (0.0, -2.5)]
    check(outs, [r.numpy() for r in refs], refs)


def test_pad_3d_and_default_value():
    a = data((2, 5, 3))
    x = pf.from_numpy(a, layout=pf.MeshLayout.grid(2, 2))
    t = torch.from_numpy(a)
    outs = [
        pf.pad(x, (1, 1, 2, 0, 1, 2)),
        pf.pad(x, [0, 1], "constant", 7.0),
        pf.pad(x, (1, 1), value=None),
    ]
    refs = [F.pad(t, (1, 1, 2, 0, 1, 2)), F.pad(t, [0, 1], "constant", 7.0), F.pad(t, (1, 1))]
    check(outs, [r.numpy() for r in refs], refs)


EDGE_PADS = [
    # (input shape, pad): PyTorch's combinations (2-D / 3-D input for 2 widths, 3-D / 4-D for
    # 4, 4-D / 5-D for 6), negative widths crop first
    ((2, 3, 5), (2, 1)),
    ((2, 3, 5), (0, 4)),
    ((2, 3, 5), (-1, 2)),
    ((3, 5), (1, 3)),
    ((2, 3, 4, 5), (1, 2, 2, 1)),
    ((2, 3, 4, 5), (0, 1, -1, 2)),
    ((3, 4, 5), (3, 3, 1, 0)),
    ((1, 2, 3, 4, 5), (1, 0, 2, 1, 1, 1)),
]


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
@pytest.mark.parametrize("shape,pad", EDGE_PADS, ids=str)
def test_pad_reflect_replicate_circular_match_torch_with_gradients(mode, shape, pad):
    # session 23: only 'constant' (and Conv2d's padding_mode pointed at it)
    a = data(shape)
    x = pf.from_numpy(a)
    x.requires_grad = True
    t = torch.from_numpy(a.copy()).requires_grad_()
    out, ref = pf.pad(x, pad, mode=mode), F.pad(t, pad, mode=mode)
    np.testing.assert_array_equal(out.numpy(), ref.detach().numpy())
    weights = data(tuple(ref.shape), seed=3)
    (out * pf.from_numpy(weights)).sum().backward()
    (ref * torch.from_numpy(weights)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_pad_modes_refuse_what_torch_refuses():
    x = pf.from_numpy(data((2, 3, 5)))
    for call, error, words in [
        (lambda: pf.pad(x, (1, 1), mode="reflect", value=1.0), RuntimeError, "take in value"),
        (lambda: pf.pad(x, (5, 0), mode="reflect"), ValueError, "should be less than"),
        (lambda: pf.pad(x, (6, 0), mode="circular"), ValueError, "wrapping around more than"),
        (lambda: pf.pad(x[0, 0], (1, 1), mode="replicate"), NotImplementedError, "Padding size 2"),
        (lambda: pf.pad(x, (1, 1), mode="wrap"), NotImplementedError, "padding mode 'wrap'"),
    ]:
        with pytest.raises(error, match=words) as info:
            call()
        assert str(info.value).startswith(__file__ + ":")  # the user's line


# --------------------------------------------------------------------------- a small model


def test_shape_ops_in_a_computation():
    """Patch-like slicing, concatenation and padding around matmuls and reductions."""
    a, w = data((10, 12)), data((12, 5), 1)
    x = pf.from_numpy(a, layout=pf.MeshLayout.grid(2, 3))
    wt = pf.from_numpy(w)
    left, right = x.chunk(2, dim=1)
    mixed = pf.cat([right, left], dim=1) @ wt  # (10, 5)
    padded = pf.pad(mixed, (0, 3))  # (10, 8)
    pooled = padded.view(5, 2, 8).sum(dim=1)  # (5, 8)
    out = pooled[:, None, :].expand(5, 4, 8).flatten(1)[::2]
    mixed_ref = np.concatenate([a[:, 6:], a[:, :6]], 1) @ w
    ref = np.pad(mixed_ref, ((0, 0), (0, 3))).reshape(5, 2, 8).sum(1)
    ref = np.broadcast_to(ref[:, None, :], (5, 4, 8)).reshape(5, 32)[::2]
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-5, atol=1e-5)


def test_same_structure_compiles_once():
    pf.cache_clear()
    for i in range(3):
        x = pf.from_numpy(data((6, 5), i), layout=pf.MeshLayout.grid(2, 2))
        pf.eval(pf.cat([x[1:, ::2], pf.pad(x, (0, 0, 0, 1))[:5, :3]]))
    assert pf.cache_info().misses == 1
    x = pf.from_numpy(data((6, 5)), layout=pf.MeshLayout.grid(2, 2))
    pf.eval(x[2:, ::2])  # other bounds: another program
    assert pf.cache_info().misses == 2


def test_cat_and_stack_promote_dtypes_like_torch():
    a = np.arange(6, dtype=np.int32).reshape(2, 3)
    b = data((1, 3))
    x, y = pf.from_numpy(a), pf.from_numpy(b)
    h = pf.from_numpy(b.astype(np.float16))
    ta, tb, th = torch.from_numpy(a), torch.from_numpy(b), torch.from_numpy(b.astype(np.float16))
    outs = [pf.cat([x, y]), pf.cat([h, y]), pf.stack([h, h.to(pf.bfloat16)])]
    refs = [torch.cat([ta, tb]), torch.cat([th, tb]), torch.stack([th, th.to(torch.bfloat16)])]
    pf.eval(*outs)
    for o, r in zip(outs, refs, strict=True):
        assert str(o.dtype).split(".")[-1] == str(r.dtype).split(".")[-1]
        np.testing.assert_array_equal(np.asarray(o.numpy(), np.float32), r.float().numpy())


def test_int_and_bool_tensors_move_too():
    a = np.arange(35, dtype=np.int32).reshape(7, 5)
    x = pf.from_numpy(a, layout=pf.MeshLayout.grid(2, 2))
    check(
        [x[1::2, -1], pf.cat([x, x[:2]]), pf.pad(x, (1, 1), value=-1), x[:1].expand(3, 5)],
        [
            a[1::2, -1],
            np.concatenate([a, a[:2]]),
            np.pad(a, ((0, 0), (1, 1)), constant_values=-1),
            np.broadcast_to(a[:1], (3, 5)),
        ],
    )
    m = pf.from_numpy(a % 3 == 0, layout=pf.MeshLayout.grid(2, 2))
    check([m[::3], pf.stack([m, m], -1)], [(a % 3 == 0)[::3], np.stack([a % 3 == 0] * 2, -1)])


# --------------------------------------------------------------------------- errors


def _raises_here(exc, match, fn):
    """`fn()` raises `exc` whose message names this file and the line of the call."""
    import inspect

    line = inspect.currentframe().f_back.f_lineno  # the caller's line holds the lambda
    with pytest.raises(exc, match=match) as err:
        fn()
    assert f"test_shape_ops.py:{line}" in str(err.value), str(err.value)
    return err.value


def test_shape_errors_name_the_user_line():
    x = pf.from_numpy(data((4, 6)))
    y = pf.from_numpy(data((3, 5)))
    E = pf.ShapeError
    _raises_here(E, r"cannot broadcast \[4, 6\] to \[4, 7\]", lambda: x.expand(4, 7))
    _raises_here(E, "not allowed for the new leading dim", lambda: x.expand(-1, 4, 6))
    _raises_here(E, "cannot broadcast", lambda: pf.broadcast_to(x, (6,)))
    _raises_here(E, r"\[4, 6\] and \[3, 5\] \(tensor 1\) differ outside", lambda: pf.cat([x, y]))
    _raises_here(E, "cat dim 2 is out of range|out of range", lambda: pf.cat([x, x], 2))
    _raises_here(E, "stack expects each tensor to be equal size", lambda: pf.stack([x, y]))
    _raises_here(E, "split_sizes to sum exactly to 4", lambda: x.split([2, 1]))
    _raises_here(E, "split_size can only be 0 if dimension size is 0", lambda: x.split(0))
    _raises_here(E, "split_size be non-negative, but got split_size=-1", lambda: x.split(-1))
    _raises_here(E, "chunk expects `chunks` to be greater than 0", lambda: x.chunk(0))
    _raises_here(E, "divisible by 2", lambda: pf.pad(x, (1,)))
    _raises_here(E, "at most twice the rank", lambda: pf.pad(x, (1, 1, 1, 1, 1, 1)))
    _raises_here(E, "crop more than", lambda: pf.pad(x, (-7, 0)))
    _raises_here(E, "out of range", lambda: x.unsqueeze(3))
    _raises_here(E, "out of range", lambda: x.squeeze(-3))
    _raises_here(E, "start_dim 1 cannot come after end_dim 0", lambda: x.flatten(1, 0))
    _raises_here(E, "step must be greater than zero", lambda: x[::-1])
    _raises_here(E, "step must be greater than zero", lambda: x[:, ::0])
    _raises_here(E, "narrow", lambda: x.narrow(0, 3, 2))
    _raises_here(E, "out of range", lambda: x.permute(0, -3))
    _raises_here(E, "permutation", lambda: x.permute(-1, 1))
    _raises_here(E, "zero-dimensional tensor", lambda: pf.cat([x.sum(), x.sum()]))
    _raises_here(E, "1-dimensional", lambda: x.sum().chunk(2))
    _raises_here(E, "1-dimensional", lambda: pf.split(x.sum(), 1))


def test_index_errors_are_index_errors():
    x = pf.from_numpy(data((4, 6)))
    err = _raises_here(IndexError, "index 4 is out of bounds for dimension 0", lambda: x[4])
    assert isinstance(err, pf.ShapeError)
    _raises_here(IndexError, "index -7 is out of bounds for dimension 1", lambda: x[:, -7])
    _raises_here(IndexError, "too many indices for tensor of dimension 2", lambda: x[0, 0, 0])
    _raises_here(IndexError, "single ellipsis", lambda: x[..., 0, ...])
    # advanced indexing (test_advanced_indexing.py) takes int and bool tensors, as PyTorch
    with pytest.raises(IndexError, match="tensors used as indices must be long, int, byte or bool"):
        x[x]
    with pytest.raises(IndexError, match=r"valid indices \(got float\)"):
        x[0.5]
    with pytest.raises(TypeError, match="invalid data type 'str'"):
        x["0"]
    with pytest.raises(NotImplementedError, match="constant"):
        pf.pad(x, (1, 1), mode="symmetric")
    with pytest.raises(TypeError, match="list or tuple"):
        pf.cat(x)


# ------------------------------------------------------------------ flip, roll, repeat (issue 12)


@pytest.mark.parametrize("layout", LAYOUTS, ids=repr)
def test_flip_roll_repeat_match_torch(layout):
    a = data((7, 5))
    b = data((3, 7, 5), seed=1)
    x, y = pf.from_numpy(a, layout=layout), pf.from_numpy(b)
    t, u = torch.from_numpy(a), torch.from_numpy(b)
    cases = [
        (pf.flip(x, 0), torch.flip(t, (0,))),
        (x.flip(0, 1), t.flip(0, 1)),
        (pf.flip(y, (-1, 0)), torch.flip(u, (-1, 0))),
        (pf.roll(x, 2, 0), torch.roll(t, 2, 0)),
        (x.roll((-3, 7), (1, 0)), t.roll((-3, 7), (1, 0))),
        (pf.roll(y, 4), torch.roll(u, 4)),  # of the flattened tensor
        (x.repeat(2, 3), t.repeat(2, 3)),
        (x.repeat(2, 1, 1), t.repeat(2, 1, 1)),  # a leading dim added
        (y.repeat((1, 2, 1)), u.repeat((1, 2, 1))),
        (pf.roll(x @ x.transpose(0, 1), 1, 1).flip(0), torch.roll(t @ t.T, 1, 1).flip(0)),
    ]
    outs = [c[0] for c in cases]
    pf.eval(*outs)
    for i, (got, want) in enumerate(cases):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-5, err_msg=str(i))


def test_flip_roll_repeat_keep_integers_and_name_bad_arguments():
    k = np.arange(12, dtype=np.int32).reshape(3, 4)
    x, t = pf.from_numpy(k), torch.from_numpy(k)
    np.testing.assert_array_equal(x.flip(1).repeat(2, 1).numpy(), t.flip(1).repeat(2, 1).numpy())
    np.testing.assert_array_equal(x.roll(-1, 0).numpy(), t.roll(-1, 0).numpy())
    with pytest.raises(RuntimeError, match="Number of dimensions of repeat dims"):
        x.repeat(2)
    with pytest.raises(RuntimeError, match="shifts and dimensions must align"):
        x.roll((1, 2), 0)
    with pytest.raises(RuntimeError, match="appears multiple times"):
        x.flip(0, 0)
    with pytest.raises(pf.ShapeError):
        x.flip(2)


def test_cat_skips_empty_vectors_and_names_an_out_of_range_dim_as_pytorch():
    m, e = pf.ones(5, 5), pf.from_numpy(np.zeros(0, np.float32))
    np.testing.assert_array_equal(pf.cat([e, m], 1).numpy(), np.ones((5, 5)))  # legacy rule
    assert pf.cat([e, e], 0).shape == (0,)
    v, w = pf.ones(3), pf.ones(2)
    for tensors, dim, expected in (
        ([v, w], 1, "[-1, 0], but got 1"),
        ([m, e], -3, "[-2, 1], but got -3"),
    ):
        with pytest.raises(
            IndexError,
            match=re.escape(f"Dimension out of range (expected to be in range of {expected})"),
        ):
            pf.cat(tensors, dim)
        with pytest.raises(IndexError):
            torch.cat([torch.ones(3), torch.ones(2)], 1)


# --------------------------------------------------------------------------- split into heads


@pytest.mark.parametrize("grid", [(2, 3), (3, 3), (4, 2)], ids=repr)
@pytest.mark.parametrize(("t", "heads", "d"), [(5, 2, 3), (7, 3, 4), (4, 4, 2)], ids=repr)
def test_split_then_heads_moves_data_once(grid, t, heads, d):
    """q, k, v = x.split(c, -1), each reshaped into heads: the reshape of each slice is folded
    into the slice (one exchange from x to the heads' layout, flame-to-mesh
    `_fold_into_slice`), and the heads equal numpy's and torch's."""
    c = heads * d
    a = data((t, 3 * c), seed=t + heads)
    x = pf.from_numpy(a, layout=pf.MeshLayout.grid(*grid))
    outs = [z.reshape(t, heads, d) for z in x.split(c, dim=1)]
    mesh_text = pf.ir(*outs, stage="mesh")
    assert "mesh.relayout" not in mesh_text, mesh_text
    refs = [a[:, i * c : (i + 1) * c].reshape(t, heads, d) for i in range(3)]
    check(outs, refs, [r.reshape(t, heads, d) for r in torch.from_numpy(a).split(c, dim=1)])


def test_split_then_heads_agrees_on_both_engines():
    """The folded slice's exchange (a pe.exchange with a window) on the wavelet engine: the
    same heads."""
    import dataclasses

    a = data((7, 36), seed=3)
    for fidelity in ("fast", "wavelet"):
        with pf.target(dataclasses.replace(pf.sim.SMALL, fidelity=fidelity)):
            x = pf.from_numpy(a, layout=pf.MeshLayout.grid(3, 4))
            outs = [z.reshape(7, 3, 4) for z in x.split(12, dim=1)]
            assert "window = array<i64: 7, 12>" in pf.ir(*outs, stage="pe")
            check(outs, [a[:, i * 12 : (i + 1) * 12].reshape(7, 3, 4) for i in range(3)])


@pytest.mark.parametrize("source,destination", [(0, 2), (-1, 0), ((0, 1), (2, 0)), ([2], [1])])
def test_movedim_swapaxes_mt_match_torch(source, destination):
    # session 23: torch names that were AttributeErrors
    a = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    x, t = pf.from_numpy(a), torch.from_numpy(a.copy())
    pairs = [
        (pf.movedim(x, source, destination), torch.movedim(t, source, destination)),
        (x.moveaxis(source, destination), t.moveaxis(source, destination)),
        (pf.swapaxes(x, 0, 2), torch.swapaxes(t, 0, 2)),
        (x.swapdims(-1, 1), t.swapdims(-1, 1)),
        (x.mT, t.mT),
    ]
    for ours, theirs in pairs:
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    x.mT[0, 1, 0] = 99.0  # a view, as PyTorch's
    t.mT[0, 1, 0] = 99.0
    np.testing.assert_array_equal(x.numpy(), t.numpy())
    with pytest.raises(RuntimeError, match="should contain the same number of dims"):
        pf.movedim(x, (0, 1), 2)
    with pytest.raises(RuntimeError, match="mT is only supported on matrices"):
        _ = x[0, 0].mT


# --------------------------------------------------------------------------- diagonal

DIAGONALS = [(0, 0, 1), (1, 0, 1), (-1, 0, 1), (2, 1, 2), (-2, 2, 0), (1, -1, -3), (6, 0, 1)]


@pytest.mark.parametrize("layout", LAYOUTS, ids=repr)
def test_diagonal_matches_torch_exactly(layout):
    """Every offset (beyond the matrix too), dims in either order and negative, on odd shapes:
    bit for bit (-0.0, NaN and inf included), as a strided slice moves data only."""
    a = data((3, 5, 4))
    a[0, 0, 0], a[1, 1, 1], a[2, 2, 2] = -0.0, np.nan, -np.inf
    x, t = pf.from_numpy(a, layout=layout), torch.from_numpy(a)
    outs, refs = [], []
    for offset, d1, d2 in DIAGONALS:
        outs.append(pf.diagonal(x, offset, d1, d2))
        refs.append(torch.diagonal(t, offset, d1, d2))
    outs.append(x[0].diagonal(-1))
    refs.append(t[0].diagonal(-1))
    outs.append((x * 2).diagonal(dim1=2, dim2=1, offset=1))  # an op's result, keywords
    refs.append((t * 2).diagonal(dim1=2, dim2=1, offset=1))
    pf.eval(*outs)
    for i, (got, want) in enumerate(zip(outs, refs, strict=True)):
        assert got.shape == tuple(want.shape), i
        assert got.numpy().tobytes() == want.numpy().tobytes(), i


@pytest.mark.parametrize("dtype", ["int32", "bool", "float16", "bfloat16"])
def test_diagonal_keeps_every_dtype(dtype):
    a = np.arange(35).reshape(5, 7) % 3
    t = torch.from_numpy(a).to(getattr(torch, dtype))
    x = pf.from_numpy(t.float().numpy()).to(getattr(pf, dtype))
    for offset in (0, 2, -3):
        got, want = x.diagonal(offset), t.diagonal(offset)
        assert got.dtype is getattr(pf, dtype)
        np.testing.assert_array_equal(got.float().numpy(), want.float().numpy())


def test_diagonal_of_empty_and_size_one_dims_as_torch():
    for shape, args in [
        ((2, 0, 3), (0, 0, 1)),
        ((0, 4), (1, 0, 1)),
        ((4, 1), (0, 0, 1)),
        ((1, 1), (-1, 0, 1)),
        ((3, 3), (3, 0, 1)),
        ((3, 3), (-3, 0, 1)),
    ]:
        a = data(shape)
        got = pf.diagonal(pf.from_numpy(a), *args)
        want = torch.diagonal(torch.from_numpy(a), *args)
        assert got.shape == tuple(want.shape), (shape, args)
        np.testing.assert_array_equal(got.numpy(), want.numpy())


def test_diagonal_errors_name_the_line():
    x = pf.ones(3, 4)
    with pytest.raises(pf.ShapeError, match=r"test_shape_ops.py:\d+: diagonal: diagonal dim"):
        pf.diagonal(x, 0, 1, -1)
    with pytest.raises(pf.ShapeError, match="out of range"):  # torch's IndexError
        pf.ones(3).diagonal()
    with pytest.raises(pf.ShapeError, match="at least 2 dims"):
        pf.diagonal(pf.ones(()), 0, 0, -1)
    with pytest.raises(pf.ShapeError, match="out of range"):
        x.diagonal(0, 0, 2)
    with pytest.raises(TypeError, match="dim must be an int"):
        x.diagonal(0, 0.5, 1)


def test_diagonal_gradients_match_torch():
    a, w = data((3, 4, 5)), data((4, 3), seed=1)
    grads = {}
    for lib in (pf, torch):
        x = lib.from_numpy(a)
        x.requires_grad = True
        d = lib.diagonal(x, -1, 2, 0)  # [4, 3]
        loss = (d * lib.from_numpy(w)).sum() + (x[1].diagonal(1) ** 2).sum()
        loss.backward()
        grads[lib] = x.grad.numpy()
    np.testing.assert_allclose(grads[pf], grads[torch], rtol=1e-6)


def test_diagonal_is_a_view_as_in_torch():
    """`x.diagonal()` aliases x, as PyTorch's: an in-place op on it writes into x (the idiom
    `cov.diagonal().add_(eps)`), an in-place op on x shows in it, and gradients go through."""
    a = data((4, 3))
    results = {}
    for lib in (pf, torch):
        x = lib.from_numpy(a.copy())
        d = x.diagonal(-1)
        d.add_(10)
        seen_before = d * 1
        x.mul_(2)  # the view sees the base's change
        x.diagonal().fill_(-1)
        x.diagonal(1)[0] = 7.0  # item assignment through a view of a view
        results[lib] = [x.numpy().copy(), d.numpy().copy(), seen_before.numpy().copy()]
    for got, want in zip(results[pf], results[torch], strict=True):
        np.testing.assert_array_equal(got, want)
    from pyflame.ops.shape import strides_of

    b = data((2, 3, 4))
    y, u = pf.from_numpy(b).diagonal(1, 0, 2), torch.from_numpy(b).diagonal(1, 0, 2)
    assert strides_of(y) == u.stride()
    for shape in ((-1,), (1, 3, 2), (6, 1)):  # a reshape is a view only where torch's is
        assert (y.reshape(shape)._view_of is not None) == (u.reshape(shape)._base is not None)
    w = pf.from_numpy(a)
    w.requires_grad = True
    h = w * 1
    h.diagonal().mul_(3)
    h.sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), np.where(np.eye(4, 3, dtype=bool), 3.0, 1.0))


def test_broadcast_all_is_numpys_broadcast_shapes() -> None:
    """pyflame.core.shapes.broadcast_all (elementwise ops and where) against
    np.broadcast_shapes: every combination of up to three shapes, with 0 and 1 sizes."""
    import itertools

    from pyflame.core.shapes import broadcast_all

    sizes = [(), (1,), (0,), (3,), (1, 1), (2, 1), (1, 3), (2, 3), (0, 3), (0, 1), (4, 2, 3)]
    sizes += [(4, 1, 1), (1, 0), (2, 0)]
    for k in (1, 2, 3):
        for combo in itertools.product(sizes, repeat=k):
            try:
                expected: tuple[int, ...] | None = tuple(np.broadcast_shapes(*combo))
            except ValueError:
                expected = None
            if expected is None:
                with pytest.raises(ValueError):
                    broadcast_all(*combo)
            else:
                assert broadcast_all(*combo) == expected, combo
    with pytest.raises(pf.ShapeError, match=r"cannot be broadcast together"):
        pf.ones(2, 3) + pf.ones(3, 2)
    with pytest.raises(pf.ShapeError, match=r"where: shapes \[3, 2\], \[2, 3\], \[2, 3\]"):
        pf.where(pf.ones(3, 2) > 0, pf.ones(2, 3), pf.ones(2, 3))


UNFOLD_LAYOUTS = [
    None,
    pf.MeshLayout.grid(2, 2),
    pf.MeshLayout.grid(2, 3),
    pf.MeshLayout.row_partition(3),
]
# (dimension, size, step): windows that overlap, that leave elements out, one window, empty
# windows, and both forms (fewer windows than elements and more)
UNFOLD_CASES = [(1, 2, 1), (1, 3, 2), (0, 2, 3), (-1, 7, 1), (1, 1, 4), (0, 5, 9), (-2, 4, 1)]


@pytest.mark.parametrize("layout", UNFOLD_LAYOUTS, ids=repr)
def test_tensor_unfold_matches_torch_with_gradients(layout):
    a = data((5, 7))
    res = {}
    for lib in (pf, torch):
        x = pf.from_numpy(a, layout=layout) if lib is pf else torch.from_numpy(a)
        x.requires_grad = True
        outs = [x.unfold(*case) for case in UNFOLD_CASES]
        outs.append((x * 2).unsqueeze(0).unfold(2, 3, 2).unfold(1, 2, 2))  # unfold of unfold
        loss = sum((o * o).sum() * (k + 1) for k, o in enumerate(outs))
        loss.backward()
        res[lib] = [o.detach().numpy() for o in outs] + [x.grad.numpy()]
    for k, (got, want) in enumerate(zip(res[pf], res[torch], strict=True)):
        assert got.shape == want.shape, k
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6, err_msg=str(k))


def test_tensor_unfold_of_every_dtype_and_edge_shapes_as_torch():
    ints = np.arange(-20, 22, dtype=np.int32).reshape(2, 3, 7)
    for array in (ints, ints % 3 == 0, data((2, 3, 7)).astype(np.float16)):
        got = pf.from_numpy(array).unfold(2, 3, 2)
        want = torch.from_numpy(array).unfold(2, 3, 2)
        assert got.dtype == pf.from_numpy(array).dtype
        np.testing.assert_array_equal(got.numpy(), want.numpy())
    for shape, args in [
        ((), (0, 1, 1)),
        ((), (-1, 0, 3)),
        ((4, 5), (1, 0, 2)),
        ((0, 3), (0, 0, 1)),
    ]:
        got = pf.zeros(*shape).unfold(*args) if shape else pf.tensor(3.0).unfold(*args)
        want = torch.zeros(shape).unfold(*args) if shape else torch.tensor(3.0).unfold(*args)
        assert got.shape == tuple(want.shape), (shape, args)
        np.testing.assert_array_equal(got.numpy(), want.numpy())


def test_tensor_unfold_errors_as_torch_at_the_users_line():
    cases = [
        ((1, 6, 1), RuntimeError, "maximum size for tensor at dimension 1 is 5 but size is 6"),
        ((1, 2, 0), RuntimeError, "step is 0 but must be > 0"),
        ((1, -1, 1), RuntimeError, "size is -1 but must be >= 0"),
        ((2, 1, 1), IndexError, r"Dimension out of range \(expected to be in range of \[-2, 1\]"),
        ((1, 2.0, 1), TypeError, "argument 'size' \\(position 2\\) must be int, not float"),
    ]
    for args, error, words in cases:
        with pytest.raises(error, match=words):
            torch.zeros(4, 5).unfold(*args)
        with pytest.raises(error, match=words):
            pf.zeros(4, 5).unfold(*args)
    with pytest.raises(RuntimeError, match=r"test_shape_ops\.py:\d+: maximum size"):
        pf.zeros(4, 5).unfold(0, 5, 1)


def test_tensor_unfold_is_a_view_as_torch():
    """Writes into windows that do not overlap reach the tensor (and a change of the tensor
    reaches the windows), as PyTorch's view; writes into overlapping windows are refused
    (PyTorch's result there depends on its kernel's order)."""
    a = np.arange(24, dtype=np.float32).reshape(2, 12)
    for args in ((1, 2, 3), (1, 3, 3), (0, 1, 1), (1, 12, 1)):
        x, t = pf.from_numpy(a), torch.from_numpy(a.copy())
        u, tu = x.unfold(*args), t.unfold(*args)
        u.mul_(-2)
        tu.mul_(-2)
        np.testing.assert_array_equal(x.numpy(), t.numpy(), err_msg=str(args))
        x.add_(1)
        t.add_(1)
        np.testing.assert_array_equal(u.numpy(), tu.numpy(), err_msg=str(args))
    x, t = pf.from_numpy(a), torch.from_numpy(a.copy())
    x.unfold(1, 2, 4)[1, 2, 0] = 7.0
    t.unfold(1, 2, 4)[1, 2, 0] = 7.0
    np.testing.assert_array_equal(x.numpy(), t.numpy())
    with pytest.raises(RuntimeError, match=r"test_shape_ops\.py:\d+: writing into overlapping"):
        pf.from_numpy(a).unfold(1, 3, 2).add_(1)


def test_gradients_through_writes_into_unfold_windows_match_torch():
    a = np.arange(12, dtype=np.float32).reshape(2, 6) / 7
    res = []
    for lib in (torch, pf):
        x = lib.from_numpy(a.copy())
        x.requires_grad = True
        y = x * 1
        windows = y.unfold(1, 2, 3)
        windows.mul_(3)
        windows.add_(x[:, :4].reshape(2, 2, 2))
        y.sin().sum().backward()
        res.append((y.detach().numpy(), x.grad.numpy()))
    np.testing.assert_allclose(res[1][0], res[0][0], rtol=1e-6)
    np.testing.assert_allclose(res[1][1], res[0][1], rtol=1e-6)
