"""pf.nn.functional.conv2d, max_pool2d and avg_pool2d against PyTorch, through the whole
pipeline (frontend -> flame -> mesh -> pe -> simulator): strides, paddings, dilations, groups,
bias, odd shapes that leave block padding and halo drift, every layout the input can have;
the halo exchange in the pe IR; SRAM overflow; shape errors at the user's line."""

from __future__ import annotations

import re

import numpy as np
import pytest
from layouts import LAYOUTS
from xdsl.parser import Parser

import pyflame as pf
from pyflame import compiler
from pyflame.core.distribution import HaloAxis, largest_feasible_parts
from pyflame.passes.flame_lowering.windowed import forced_conv_form

torch = pytest.importorskip("torch")
F = pf.nn.functional
tF = torch.nn.functional
T = torch.nn.functional


def arrays(*shapes, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(np.float32) for s in shapes]


pytestmark = [
    pytest.mark.usefixtures("small_target"),
    pytest.mark.filterwarnings("ignore:Using padding='same':UserWarning"),
]


def conv_both(x, w, b=None, layout=None, **kw):
    ours = F.conv2d(
        pf.from_numpy(x, layout=layout),
        pf.from_numpy(w),
        None if b is None else pf.from_numpy(b),
        **kw,
    ).numpy()
    ref = T.conv2d(
        torch.from_numpy(x), torch.from_numpy(w), None if b is None else torch.from_numpy(b), **kw
    ).numpy()
    return ours, ref


def close(ours, ref):
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-4)


# --------------------------------------------------------------------------- conv2d numbers

CONV_CASES = [
    # (input shape, weight shape, kwargs)
    ((1, 3, 8, 8), (4, 3, 3, 3), {"padding": 1}),
    ((2, 3, 13, 11), (4, 3, 3, 3), {}),
    ((2, 3, 13, 11), (5, 3, 3, 3), {"padding": "same"}),
    ((1, 2, 13, 11), (3, 2, 4, 2), {"padding": "same"}),  # even kernel: extra pad bottom/right
    ((1, 3, 13, 11), (4, 3, 3, 3), {"padding": "valid", "dilation": 2}),
    ((2, 3, 10, 9), (4, 3, 3, 3), {"stride": 2, "padding": 1}),
    ((1, 3, 17, 15), (2, 3, 5, 3), {"stride": (3, 2), "padding": (2, 0)}),
    (
        (1, 4, 13, 11),
        (6, 2, 3, 2),
        {"stride": (2, 1), "padding": (2, 1), "dilation": (1, 2), "groups": 2},
    ),
    ((1, 6, 9, 9), (6, 1, 3, 3), {"padding": 1, "groups": 6}),  # depthwise
    ((2, 5, 7, 6), (3, 5, 1, 1), {}),  # 1x1: the tile is its own window
    ((1, 2, 12, 12), (3, 2, 2, 2), {"stride": 2}),  # windows line up with the blocks
    ((1, 1, 5, 23), (2, 1, 3, 7), {"padding": (1, 3)}),
]


@pytest.mark.parametrize("xs,ws,kw", CONV_CASES)
@pytest.mark.parametrize("bias", [True, False])
def test_conv2d_matches_torch_on_a_grid(xs, ws, kw, bias):
    x, w, b = arrays(xs, ws, (ws[0],))
    close(*conv_both(x, w, b if bias else None, layout=pf.MeshLayout.grid(4, 4), **kw))


@pytest.mark.parametrize("layout", LAYOUTS, ids=repr)
@pytest.mark.parametrize("case", [0, 2, 5, 7])
def test_conv2d_every_layout(layout, case):
    xs, ws, kw = CONV_CASES[case]
    x, w, b = arrays(xs, ws, (ws[0],), seed=case)
    close(*conv_both(x, w, b, layout=layout, **kw))


def test_conv2d_unbatched_input():
    x, w, b = arrays((3, 9, 7), (4, 3, 3, 3), (4,))
    close(*conv_both(x, w, b, layout=pf.MeshLayout.grid(2, 2), padding=1))


def test_conv_relu_pool_conv_chain():
    x, w1, b1, w2 = arrays((2, 3, 19, 17), (8, 3, 3, 3), (8,), (4, 8, 3, 3))
    xt = pf.from_numpy(x, layout=pf.MeshLayout.grid(4, 4))
    h = F.max_pool2d(pf.relu(F.conv2d(xt, pf.from_numpy(w1), pf.from_numpy(b1), padding=1)), 2)
    y = F.avg_pool2d(F.conv2d(h, pf.from_numpy(w2), stride=1), 3, stride=1, padding=1)
    tx = torch.from_numpy(x)
    ref = T.avg_pool2d(
        T.conv2d(
            T.max_pool2d(
                T.relu(T.conv2d(tx, torch.from_numpy(w1), torch.from_numpy(b1), padding=1)), 2
            ),
            torch.from_numpy(w2),
        ),
        3,
        stride=1,
        padding=1,
    )
    close(y.numpy(), ref.numpy())


def test_conv2d_results_feed_other_ops():
    x, w = arrays((1, 2, 9, 10), (3, 2, 3, 3))
    y = F.conv2d(pf.from_numpy(x, layout=pf.MeshLayout.grid(3, 3)), pf.from_numpy(w), padding=1)
    s = y.sum(dim=(2, 3))
    ref = T.conv2d(torch.from_numpy(x), torch.from_numpy(w), padding=1).sum(dim=(2, 3))
    close(s.numpy(), ref.numpy())


def test_weights_computed_on_the_mesh():
    x, w = arrays((1, 2, 8, 8), (3, 2, 3, 3))
    wt = pf.from_numpy(w, layout=pf.MeshLayout.grid(2, 2)) * 2.0  # not replicated: moved there
    y = F.conv2d(pf.from_numpy(x, layout=pf.MeshLayout.grid(2, 2)), wt, padding=1)
    ref = T.conv2d(torch.from_numpy(x), torch.from_numpy(w) * 2, padding=1)
    close(y.numpy(), ref.numpy())


# --------------------------------------------------------------------------- pooling numbers

POOL_CASES = [
    ("max_pool2d", (2,), {}),
    ("max_pool2d", (3, 2, 1), {}),
    ("max_pool2d", (3,), {"stride": 1, "padding": 1, "dilation": 2}),
    ("max_pool2d", ((3, 2), (2, 1), (1, 0)), {"ceil_mode": True}),
    ("max_pool2d", (2,), {"ceil_mode": True}),
    ("avg_pool2d", (2,), {}),
    ("avg_pool2d", (3, 2, 1), {}),
    ("avg_pool2d", (3, 2, 1), {"count_include_pad": False}),
    ("avg_pool2d", (3, 2, 1), {"ceil_mode": True, "count_include_pad": False}),
    ("avg_pool2d", (3, 2, 1), {"ceil_mode": True}),  # torch's divisor: taps in the padded input
    ("avg_pool2d", (2,), {"ceil_mode": True}),
    ("avg_pool2d", ((3, 2), (1, 2), (1, 1)), {"divisor_override": 5}),
    ("avg_pool2d", (5,), {"stride": 1, "padding": 2}),
]


@pytest.mark.parametrize("fn,args,kw", POOL_CASES)
@pytest.mark.parametrize("layout", [pf.MeshLayout.grid(4, 4), pf.MeshLayout.grid(2, 3)], ids=repr)
def test_pools_match_torch(fn, args, kw, layout):
    (x,) = arrays((2, 3, 13, 11))
    ours = getattr(F, fn)(pf.from_numpy(x, layout=layout), *args, **kw).numpy()
    close(ours, getattr(T, fn)(torch.from_numpy(x), *args, **kw).numpy())


@pytest.mark.parametrize("layout", LAYOUTS, ids=repr)
@pytest.mark.parametrize("fn", ["max_pool2d", "avg_pool2d"])
def test_pools_every_layout(layout, fn):
    (x,) = arrays((2, 3, 11, 9), seed=3)
    ours = getattr(F, fn)(pf.from_numpy(x, layout=layout), 3, 2, 1).numpy()
    close(ours, getattr(T, fn)(torch.from_numpy(x), 3, 2, 1).numpy())


def test_max_pool_of_negative_values_pads_with_minus_infinity():
    x = -np.abs(arrays((1, 2, 9, 9))[0]) - 5  # zero padding would win every border window
    ours = F.max_pool2d(pf.from_numpy(x, layout=pf.MeshLayout.grid(3, 3)), 3, 2, 1).numpy()
    close(ours, T.max_pool2d(torch.from_numpy(x), 3, 2, 1).numpy())


def test_pool_unbatched_input():
    (x,) = arrays((3, 10, 7))
    ours = F.avg_pool2d(pf.from_numpy(x, layout=pf.MeshLayout.grid(2, 2)), 2).numpy()
    close(ours, T.avg_pool2d(torch.from_numpy(x), 2).numpy())


# --------------------------------------------------------------------------- the halo exchange


def pe_ir(y) -> str:
    return pf.ir(y, stage="pe")


def spatial(fn):
    """fn() with every conv2d in the spatial form (weight replicated; see `channel_split`)."""
    pf.cache_clear()
    try:
        with forced_conv_form(False):
            return fn()
    finally:
        pf.cache_clear()


def test_conv_exchanges_halos_with_neighbours_not_a_gather():
    x, w = arrays((1, 4, 16, 16), (4, 4, 3, 3))

    def run():
        xt = pf.from_numpy(x, layout=pf.MeshLayout.grid(4, 4))
        return pe_ir(F.conv2d(xt, pf.from_numpy(w), padding=1))

    text = spatial(run)
    # nothing moves the input between layouts (no exchange, let alone onto one PE)
    assert "pe.exchange" not in text
    assert "on 1x1" not in text
    # four shift channels: every route goes one hop, from the ramp to a neighbour or back
    routes = re.findall(r"pe.route (\w+) -> \[([^\]]*)\]", text)
    assert routes and all(
        (src == "ramp" and dst in ("north", "south", "east", "west"))
        or (src != "ramp" and dst == "ramp")
        for src, dst in routes
    )
    assert len(re.findall(r"pe.send ", text)) == 4
    assert len(re.findall(r"pe.recv ", text)) == 4
    assert len(re.findall(r"pe.pack ", text)) == 4
    assert len(re.findall(r"pe.unpack ", text)) == 6
    assert len(re.findall(r"pe.conv2d ", text)) == 1
    # halo strips are one row / one column of the tile, not tiles
    assert "halo_to_south" in text and "!pe.buf<16xf32>" in text  # 4 channels x 4 columns


def test_pe_ir_does_not_grow_with_the_grid():
    sizes = []
    for g in (2, 4, 8):
        x, w = arrays((1, 2, 32, 32), (2, 2, 3, 3))
        y = F.conv2d(pf.from_numpy(x, layout=pf.MeshLayout.grid(g, g)), pf.from_numpy(w), padding=1)
        sizes.append(len(pe_ir(y).splitlines()))
    assert sizes[0] == sizes[1] == sizes[2]


def test_aligned_windows_need_no_exchange():
    x, w = arrays((1, 2, 16, 16), (3, 2, 2, 2))
    y = F.max_pool2d(pf.from_numpy(x, layout=pf.MeshLayout.grid(4, 4)), 2)
    z = F.conv2d(pf.from_numpy(x, layout=pf.MeshLayout.grid(4, 4)), pf.from_numpy(w), stride=2)
    for t in (y, z):
        text = pe_ir(t)
        assert "pe.send" not in text and "pe.unpack" not in text


def test_halo_too_wide_for_neighbours_uses_fewer_pes():
    # blocks of 1 row on 8 PE rows, a 5x5 kernel: rows 2 away would be needed
    axis = HaloAxis(size=8, out=8, parts=8, kernel=5, stride=1, dilation=1, pad_lo=2)
    assert not axis.feasible and "PE 0 of 8 needs input [0, 3)" in axis.problem()
    assert largest_feasible_parts(8, 8, 8, 5, 1, 1, 2) == 7  # blocks of 2 rows
    x, w = arrays((1, 2, 8, 8), (2, 2, 5, 5))
    xt = pf.from_numpy(x, layout=pf.MeshLayout.grid(8, 8))
    y = F.conv2d(xt, pf.from_numpy(w), padding=2)
    mesh = pf.ir(y, stage="mesh")
    assert "mesh.redistribute" in mesh and "mesh.conv2d" in mesh
    assert re.search(
        r"mesh.conv2d .*-> !mesh.tensor<1x2x8x8xf32 on 7x7 split \[_, _, r, c\]>", mesh
    )
    close(y.numpy(), T.conv2d(torch.from_numpy(x), torch.from_numpy(w), padding=2).numpy())


def test_drifting_windows_stay_between_neighbours():
    # 13 rows over 4 PEs (blocks of 4) but 11 output rows (blocks of 3): windows drift by a row
    # per PE and still only reach the neighbours' blocks
    axis = HaloAxis(size=13, out=11, parts=4, kernel=3, stride=1, dilation=1, pad_lo=0)
    assert axis.drift == 1 and axis.feasible and (axis.from_prev, axis.from_next) == (3, 1)
    x, w = arrays((1, 2, 13, 13), (2, 2, 3, 3))
    y = F.conv2d(pf.from_numpy(x, layout=pf.MeshLayout.grid(4, 4)), pf.from_numpy(w))
    assert "pe.exchange" not in pe_ir(y)
    close(y.numpy(), T.conv2d(torch.from_numpy(x), torch.from_numpy(w)).numpy())


def test_window_inside_the_previous_block_gets_all_its_rows():
    # 13 columns over 4 PEs (blocks of 4), kernel 2, stride 3: PE 3 reads columns 9 and 10,
    # inside block 2 but not at its end: the strip from the west must reach back to column 9
    axis = HaloAxis(size=13, out=4, parts=4, kernel=2, stride=3, dilation=1, pad_lo=0)
    assert axis.needed(3) == (9, 11) and axis.from_prev == 3
    (x,) = arrays((1, 6, 17, 13))
    for fn in ("avg_pool2d", "max_pool2d"):
        ours = getattr(F, fn)(pf.from_numpy(x, layout=pf.MeshLayout.grid(3, 5)), (3, 2), 3)
        close(ours.numpy(), getattr(T, fn)(torch.from_numpy(x), (3, 2), 3).numpy())


def test_single_pe_input_is_used_in_place():
    x, w = arrays((1, 2, 9, 9), (3, 2, 3, 3))
    y = F.conv2d(pf.from_numpy(x, layout=pf.MeshLayout.single()), pf.from_numpy(w), padding=1)
    mesh = pf.ir(y, stage="mesh")
    assert "mesh.redistribute" not in mesh
    assert "-> !mesh.tensor<1x3x9x9xf32 on 1x1 split [_, _, _, _]>" in mesh  # split like x
    close(y.numpy(), T.conv2d(torch.from_numpy(x), torch.from_numpy(w), padding=1).numpy())


def test_compiler_placed_input_leaves_room_for_the_halo():
    # 12 KiB: one PE by size alone, but not with its windows and the output next to it
    x, w = arrays((2, 6, 16, 16), (6, 6, 3, 3))
    y = F.conv2d(pf.from_numpy(x), pf.from_numpy(w), padding=1)
    assert re.search(r"mesh.conv2d .* on (2x2|4x4) split", pf.ir(y, stage="mesh"))
    close(y.numpy(), T.conv2d(torch.from_numpy(x), torch.from_numpy(w), padding=1).numpy())


def test_cycles_near_the_compute_bound():
    x, w, b = arrays((1, 8, 32, 32), (8, 8, 3, 3), (8,))
    y = F.conv2d(
        pf.from_numpy(x, layout=pf.MeshLayout.grid(4, 4)),
        pf.from_numpy(w),
        pf.from_numpy(b),
        padding=1,
    )
    y.numpy()
    report = pf.last_report()
    bound = 2 * 32 * 32 * 8 * 8 * 9 / (16 * pf.sim.SMALL.flops_per_cycle)
    # each PE's FMACs run over its 8x8 output plane: 64 of every 64 + vector_issue_cycles (69)
    # cycles compute, the halo exchange and the bias add the rest
    issue = pf.sim.SMALL.vector_issue_cycles
    assert bound * (64 + issue) / 64 <= report.cycles < 1.25 * bound
    assert report.flops >= 2 * 32 * 32 * 8 * 8 * 9


def test_conv_compiles_once():
    x, w = arrays((1, 2, 9, 9), (2, 2, 3, 3))
    pf.cache_clear()
    for _ in range(2):
        F.conv2d(pf.from_numpy(x, layout=pf.MeshLayout.grid(3, 3)), pf.from_numpy(w)).numpy()
    hits, misses, _ = pf.cache_info()
    assert (hits, misses) == (1, 1)


# --------------------------------------------------------------------------- memory


def test_huge_image_overflows_sram_at_compile_time():
    x = pf.zeros(1, 16, 128, 128, layout=pf.MeshLayout.grid(2, 2))
    w = pf.zeros(16, 16, 3, 3)
    y = F.conv2d(x, w, padding=1)
    with pytest.raises(pf.SRAMOverflowError) as err:
        pf.eval(y)
    message = str(err.value)
    assert "test_conv.py" in message and "KiB per PE" in message
    assert "A layout that would fit: layout=pf.MeshLayout.grid(" in message


def test_halo_buffers_count_in_the_memory_plan():
    # the tiles alone fit on 4x4 (16 + 16 + 9 KiB), the halo windows do not: plan-memory
    # counts them and refuses, suggesting a grid
    x = "!mesh.tensor<1x16x64x64xf32 on 4x4 split [_, _, r, c]>"
    w = "!mesh.tensor<16x16x3x3xf32 on 4x4 split [_, _, _, _]>"
    tx, tw = "tensor<1x16x64x64xf32>", "tensor<16x16x3x3xf32>"
    text = f"""func.func @main(%a: {tx}, %b: {tw}) -> {tx} {{
      %x = mesh.scatter %a : {tx} -> {x}
      %w = mesh.scatter %b : {tw} -> {w}
      %0 = mesh.conv2d %x, %w stride [1, 1] padding [1, 1, 1, 1] dilation [1, 1] groups 1 : ({x}, {w}) -> {x}
      %1 = mesh.gather %0 : {x} -> {tx}
      func.return %1 : {tx}
    }}"""
    module = Parser(compiler.make_context(), text).parse_module()
    with pytest.raises(pf.SRAMOverflowError, match=r"grid\((6|7|8), \1\)"):
        compiler.run_pipeline(module, "plan-memory")
    # from the frontend, the compiler picks a form and a grid that fit
    a, wa = arrays((1, 16, 64, 64), (16, 16, 3, 3))
    y = F.conv2d(pf.from_numpy(a, layout=pf.MeshLayout.grid(4, 4)), pf.from_numpy(wa), padding=1)
    np.testing.assert_allclose(
        y.numpy(), tF.conv2d(torch.from_numpy(a), torch.from_numpy(wa), padding=1), atol=1e-4
    )


# --------------------------------------------------------------------------- errors


def test_shape_errors_name_the_user_line():
    x, w = pf.zeros(1, 3, 8, 8), pf.zeros(4, 2, 3, 3)
    with pytest.raises(
        pf.ShapeError,
        match=r"test_conv.py:\d+: conv2d: input \[1, 3, 8, 8\] "
        r"has 3 channels but weight \[4, 2, 3, 3\]",
    ):
        F.conv2d(x, w)
    with pytest.raises(pf.ShapeError, match="bias of shape"):
        F.conv2d(x, pf.zeros(4, 3, 3, 3), pf.zeros(5))
    with pytest.raises(pf.ShapeError, match="not divisible by groups=2"):
        F.conv2d(pf.zeros(1, 4, 8, 8), pf.zeros(3, 2, 3, 3), groups=2)
    with pytest.raises(pf.ShapeError, match="smaller than the"):
        F.conv2d(pf.zeros(1, 3, 2, 2), pf.zeros(4, 3, 3, 3))
    with pytest.raises(pf.ShapeError, match="3-D .* or 4-D"):
        F.conv2d(pf.zeros(3, 8), pf.zeros(4, 3, 3, 3))
    with pytest.raises(pf.ShapeError, match="at most half"):
        F.max_pool2d(pf.zeros(1, 1, 8, 8), 2, padding=2)
    with pytest.raises(ValueError, match="strided convolutions"):
        F.conv2d(x, pf.zeros(4, 3, 3, 3), stride=2, padding="same")
    with pytest.raises(ValueError, match="Invalid padding string"):
        F.conv2d(x, pf.zeros(4, 3, 3, 3), padding="full")
    with pytest.raises(TypeError, match="stride must be an int or a pair"):
        F.conv2d(x, pf.zeros(4, 3, 3, 3), stride=1.5)
    with pytest.raises(TypeError, match="floating-point"):
        F.max_pool2d(pf.zeros(1, 1, 4, 4, dtype=pf.int32), 2)


def test_nn_is_importable_both_ways():
    from pyflame import nn

    assert nn.functional.conv2d is pf.nn.functional.conv2d


@pytest.mark.parametrize("layout", LAYOUTS, ids=repr)
def test_max_pool2d_return_indices_matches_torch(layout):
    a = np.random.default_rng(5).integers(-3, 3, (2, 3, 7, 9)).astype(np.float32)  # ties
    a[0, 0, 1, 1] = np.nan
    x, t = pf.from_numpy(a, layout=layout), torch.from_numpy(a)
    cases = [
        dict(kernel_size=2),
        dict(kernel_size=3, stride=2, padding=1),
        dict(kernel_size=(3, 2), stride=(2, 1), dilation=(1, 2), ceil_mode=True),
    ]
    got = [F.max_pool2d(x, return_indices=True, **kw) for kw in cases]
    pf.eval(*[r for pair in got for r in pair])
    for kw, (values, indices) in zip(cases, got, strict=True):
        want_values, want_indices = tF.max_pool2d(t, return_indices=True, **kw)
        np.testing.assert_array_equal(values.numpy(), want_values.numpy(), err_msg=str(kw))
        np.testing.assert_array_equal(indices.numpy(), want_indices.numpy(), err_msg=str(kw))
        assert indices.dtype == pf.int32
    values, indices = F.max_pool2d(x[0], 2, return_indices=True)  # unbatched
    np.testing.assert_array_equal(indices.numpy(), tF.max_pool2d(t[0], 2, return_indices=True)[1])


def test_max_pool2d_indices_of_a_window_with_two_nans_are_the_last_nans_as_torch():
    """PyTorch's loop takes a value when `val > max or isnan(val)`: the window's last NaN
    (the gradient rule already went there; the indices took the first)."""
    nan = np.nan
    a = np.array([[[[1.0, nan, 3.0, nan], [0.0, nan, 2.0, 9.0], [nan, 4.0, nan, nan]]]], np.float32)
    for kw in (
        dict(kernel_size=2),
        dict(kernel_size=3, stride=1, padding=1),
        dict(kernel_size=(3, 2)),
    ):
        got = F.max_pool2d(pf.from_numpy(a), return_indices=True, **kw)[1]
        want = tF.max_pool2d(torch.from_numpy(a), return_indices=True, **kw)[1]
        np.testing.assert_array_equal(got.numpy(), want.numpy(), err_msg=str(kw))


@pytest.mark.parametrize("layout", [None, pf.MeshLayout.grid(2, 3)], ids=repr)
def test_max_pool2d_layer_returns_indices_as_torch(layout):
    """nn.MaxPool2d(return_indices=True) passes it to F.max_pool2d: (values, indices), and
    the values' gradient is torch's."""
    a = np.random.default_rng(8).integers(-3, 3, (2, 3, 7, 9)).astype(np.float32)
    x, t = pf.from_numpy(a, layout=layout), torch.from_numpy(a)
    x.requires_grad_(True)
    t.requires_grad_(True)
    got = pf.nn.MaxPool2d(3, stride=2, padding=1, return_indices=True)(x)
    want = torch.nn.MaxPool2d(3, stride=2, padding=1, return_indices=True)(t)
    assert isinstance(got, tuple) and len(got) == 2
    np.testing.assert_array_equal(got[0].numpy(), want[0].detach().numpy())
    np.testing.assert_array_equal(got[1].numpy(), want[1].numpy())
    assert got[1].dtype is pf.int32
    got[0].sum().backward()
    want[0].sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), t.grad.numpy())
    values = pf.nn.MaxPool2d(2)(x)  # without: one tensor, as before
    np.testing.assert_array_equal(
        values.detach().numpy(), torch.nn.MaxPool2d(2)(t).detach().numpy()
    )


def test_avg_pool2d_takes_a_negative_divisor_and_refuses_zero():
    a = np.random.default_rng(6).standard_normal((1, 1, 4, 4)).astype(np.float32)
    got = F.avg_pool2d(pf.from_numpy(a), 2, divisor_override=-2)
    want = tF.avg_pool2d(torch.from_numpy(a), 2, divisor_override=-2)
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6)
    with pytest.raises(ValueError, match="divisor must be not zero"):
        F.avg_pool2d(pf.from_numpy(a), 2, divisor_override=0)


# --------------------------------------------------------------------------- channel-split form
# mesh.conv2d with the output channels over the grid's columns (the weight split [c, _, _, _]),
# H over its rows, one multicast step per input channel: forced here on shapes where the cost
# model would keep the weight replicated, chosen by cost where the filter bank does not fit.

CHANNEL_CASES = [
    # (input shape, weight shape, kwargs, grid)
    ((2, 5, 11, 9), (7, 5, 3, 3), {"padding": 1}, (3, 4)),
    ((1, 3, 13, 10), (4, 3, 3, 3), {"stride": 2, "padding": 2, "dilation": 2}, (4, 2)),
    ((2, 6, 10, 9), (5, 6, 3, 3), {"stride": (2, 1), "padding": (1, 0)}, (2, 3)),
    ((1, 4, 12, 12), (6, 4, 1, 1), {}, (4, 4)),  # 1x1: every window is the tile
    ((1, 2, 13, 11), (3, 2, 4, 2), {"padding": "same"}, (4, 3)),  # even kernel: pad bottom/right
    ((1, 7, 9, 8), (2, 7, 3, 3), {"padding": 1}, (1, 1)),
    ((2, 3, 8, 8), (9, 3, 3, 3), {"padding": 1}, (5, 6)),  # more PE columns than input channels
    ((1, 3, 17, 15), (2, 3, 5, 3), {"stride": (3, 2), "padding": (2, 0)}, (3, 3)),
]


def channel_split(fn):
    """fn() with every groups-1 conv2d lowered channel-split (the compile cache cleared around,
    since the forced form is not part of its key)."""
    pf.cache_clear()
    try:
        with forced_conv_form(True):
            return fn()
    finally:
        pf.cache_clear()


def conv_mesh_ir(y) -> str:
    return "\n".join(line for line in pf.ir(y, stage="mesh").splitlines() if "mesh.conv2d" in line)


@pytest.mark.parametrize("xs,ws,kw,grid", CHANNEL_CASES)
@pytest.mark.parametrize("bias", [True, False])
def test_channel_split_conv2d_matches_torch(xs, ws, kw, grid, bias):
    x, w, b = arrays(xs, ws, (ws[0],))

    def run():
        y = F.conv2d(
            pf.from_numpy(x, layout=pf.MeshLayout.grid(*grid)),
            pf.from_numpy(w),
            pf.from_numpy(b) if bias else None,
            **kw,
        )
        return conv_mesh_ir(y), y.numpy()

    text, ours = channel_split(run)
    if grid != (1, 1):
        assert "split [c, _, _, _]" in text
    ref = T.conv2d(
        torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b) if bias else None, **kw
    )
    close(ours, ref.numpy())


def test_channel_split_conv2d_float16():
    x, w, b = arrays((2, 6, 11, 9), (5, 6, 3, 3), (5,))
    x16, w16, b16 = (a.astype(np.float16) for a in (x, w, b))

    def run():
        return F.conv2d(
            pf.from_numpy(x16, layout=pf.MeshLayout.grid(3, 3)),
            pf.from_numpy(w16),
            pf.from_numpy(b16),
            padding=1,
        ).numpy()

    ours = channel_split(run)
    assert ours.dtype == np.float16
    ref = T.conv2d(*(torch.from_numpy(a).float() for a in (x16, w16, b16)), padding=1).numpy()
    # every step's FMACs add into a float32 output block, rounded to half precision once
    np.testing.assert_allclose(ours.astype(np.float32), ref, rtol=1e-3, atol=1e-3)


def _half_ulp(values: torch.Tensor, dtype) -> torch.Tensor:
    bits = 10 if dtype is pf.float16 else 7  # the half type's mantissa
    return torch.exp2(torch.floor(torch.log2(values.abs().clamp_min(1e-3))) - bits)


@pytest.mark.parametrize("dtype", [pf.float16, pf.bfloat16], ids=repr)
@pytest.mark.parametrize("form", [False, True], ids=["spatial", "channel-split"])
def test_half_conv2d_and_its_gradients_accumulate_in_float32(dtype, form):
    """A half conv2d sums its products in float32 and rounds once, as PyTorch's and as the
    PEs' fp16 FMACs with fp32 accumulation: the output, the input's and the weight's
    gradients each within one half ulp of the exact value (the channel-split form's steps
    over input channels, and the weight gradient's sum over the grid, rounded to the half
    type at every step before: 2-3 times torch's error)."""
    tdt = {pf.float16: torch.float16, pf.bfloat16: torch.bfloat16}[dtype]
    x, w, b = (torch.from_numpy(a).to(tdt) for a in arrays((2, 12, 9, 8), (6, 12, 3, 3), (6,)))
    gy = torch.from_numpy(np.random.default_rng(3).standard_normal((2, 6, 9, 8)).astype(np.float32))
    pf.cache_clear()
    try:
        with forced_conv_form(form):
            px = pf.from_numpy(x.float().numpy(), layout=pf.MeshLayout.grid(3, 3)).to(dtype)
            pw, pb = (pf.from_numpy(a.float().numpy()).to(dtype) for a in (w, b))
            px.requires_grad = pw.requires_grad = True
            y = F.conv2d(px, pw, pb, padding=1)
            (y.float() * pf.from_numpy(gy.numpy())).sum().backward()
            ours = [t.float().numpy() for t in (y, px.grad, pw.grad)]
    finally:
        pf.cache_clear()
    # the exact values, from the half inputs and the half incoming gradient
    xd, wd = (a.double().requires_grad_() for a in (x, w))
    yd = T.conv2d(xd, wd, b.double(), padding=1)
    (yd * gy.to(tdt).double()).sum().backward()
    for got, exact in zip(ours, (yd.detach(), xd.grad, wd.grad), strict=True):
        got = torch.from_numpy(got).double()
        assert torch.all((got - exact).abs() <= _half_ulp(exact, dtype)), (got - exact).abs().max()


@pytest.mark.parametrize(
    "xs,ws,kw,grid",
    [
        ((2, 5, 9, 8), (6, 5, 3, 3), {"padding": 1}, (3, 4)),
        ((1, 4, 11, 9), (3, 4, 3, 3), {"stride": 2, "padding": (2, 1), "dilation": (2, 1)}, (2, 2)),
    ],
)
def test_channel_split_conv2d_gradients_match_torch(xs, ws, kw, grid):
    x, w, b, g = arrays(xs, ws, (ws[0],), (1,))
    out_shape = T.conv2d(torch.from_numpy(x), torch.from_numpy(w), **kw).shape
    gy = np.random.default_rng(3).standard_normal(tuple(out_shape)).astype(np.float32)

    def run():
        px = pf.from_numpy(x, layout=pf.MeshLayout.grid(*grid)).requires_grad_()
        pw, pb = pf.from_numpy(w).requires_grad_(), pf.from_numpy(b).requires_grad_()
        (F.conv2d(px, pw, pb, **kw) * pf.from_numpy(gy)).sum().backward()
        return px.grad.numpy(), pw.grad.numpy(), pb.grad.numpy()

    ours = channel_split(run)
    tx, tw, tb = (torch.from_numpy(a).requires_grad_() for a in (x, w, b))
    (T.conv2d(tx, tw, tb, **kw) * torch.from_numpy(gy)).sum().backward()
    for got, want in zip(ours, (tx.grad, tw.grad, tb.grad), strict=True):
        np.testing.assert_allclose(got, want.numpy(), rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("dtype", [pf.float32, pf.float16], ids=repr)
@pytest.mark.parametrize(
    "xs,ws,grid,colors",
    [
        ((2, 5, 11, 9), (7, 5, 3, 3), (3, 4), 4),
        ((2, 5, 11, 9), (7, 5, 3, 3), (3, 4), 5),
        ((2, 9, 7, 11), (5, 9, 3, 3), (4, 4), 4),
        ((2, 9, 7, 11), (5, 9, 3, 3), (4, 4), 6),
        ((1, 7, 9, 8), (6, 7, 3, 3), (3, 3), 5),
    ],
)
def test_channel_split_conv2d_with_few_colors(xs, ws, grid, colors, dtype):
    """The channel-split form's weight redistribution and per-channel halo exchanges need
    more colors than these targets have: channels switch rules behind barriers, which once
    sat between a halo send in flight and its receive and deadlocked (f16 2x32x16x16 *
    32x32x3x3 on WSE2 with 4x4 PEs did so; tests/unit/test_allocate_colors.py has the IR)."""
    import dataclasses

    x, w = arrays(xs, ws, seed=colors)
    half = dtype is pf.float16
    if half:
        x, w = (a.astype(np.float16).astype(np.float32) for a in (x, w))

    def run():
        with pf.target(dataclasses.replace(pf.sim.SMALL, num_colors=colors)):
            y = F.conv2d(
                pf.from_numpy(x, layout=pf.MeshLayout.grid(*grid)).to(dtype),
                pf.from_numpy(w).to(dtype),
                padding=1,
            )
            return y.float().numpy()

    ours = channel_split(run)
    ref = T.conv2d(*(torch.from_numpy(a).double() for a in (x, w)), padding=1).numpy()
    if half:  # one rounding of the float32 sum to half precision
        np.testing.assert_allclose(ours, ref, rtol=1e-3, atol=1e-3)
    else:
        np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-4)


def test_half_channel_split_conv2d_of_32_channels_on_wse2():
    """The case that deadlocked (session 26): its weight's 15 exchange phases leave the halo
    exchanges switching colors behind barriers."""
    x, w = (a.astype(np.float16) for a in arrays((2, 32, 16, 16), (32, 32, 3, 3), seed=5))

    def run():
        with pf.target(pf.sim.WSE2):
            px = pf.from_numpy(x.astype(np.float32), layout=pf.MeshLayout.grid(4, 4))
            pw = pf.from_numpy(w.astype(np.float32))
            return F.conv2d(px.half(), pw.half(), padding=1).float().numpy()

    ref = T.conv2d(torch.from_numpy(x).double(), torch.from_numpy(w).double(), padding=1)
    np.testing.assert_allclose(channel_split(run), ref.numpy(), rtol=1e-3, atol=1e-2)


@pytest.mark.parametrize(
    "xs,ws,grid,dtype,target,weight_on_mesh",
    [
        # the spatial form fits from 16x16 PEs only: it was never compared (332,797 cycles
        # channel-split on 4x4 against 117,125)
        ((2, 32, 16, 16), (32, 32, 3, 3), (4, 4), pf.float32, "WSE2", False),
        ((1, 16, 20, 20), (24, 16, 3, 3), (2, 2), pf.float32, "WSE2", False),
        # the half weight is converted on the mesh: replicating it costs 4x splitting it
        # (199,700 spatial against 186,178)
        ((2, 32, 16, 16), (32, 32, 3, 3), (4, 4), pf.float16, "WSE2", False),
        ((2, 32, 16, 16), (32, 32, 3, 3), (8, 8), pf.float32, "WSE2", False),
        ((2, 8, 15, 13), (12, 8, 3, 3), (3, 3), pf.float32, "SMALL", True),
        ((2, 8, 15, 13), (12, 8, 3, 3), (3, 3), pf.float16, "SMALL", True),
        ((1, 24, 12, 12), (24, 24, 3, 3), (2, 2), pf.float32, "SMALL", True),
    ],
)
def test_the_chosen_conv2d_form_is_the_faster_one(xs, ws, grid, dtype, target, weight_on_mesh):
    """conv2d's form by cost is the one the simulator runs faster (each form as it runs when
    forced: on the input's grid, or the first grid where it fits); the channel-split form only
    when more than `CHANNEL_SPLIT_MARGIN` faster."""
    from pyflame.passes.flame_lowering.windowed import CHANNEL_SPLIT_MARGIN

    x, w = arrays(xs, ws)
    cycles = {}
    for form in (None, False, True):
        pf.cache_clear()
        with pf.target(getattr(pf.sim, target)), forced_conv_form(form):
            pw = pf.from_numpy(w).to(dtype)
            pw = pw * 1.0 if weight_on_mesh else pw
            y = F.conv2d(
                pf.from_numpy(x, layout=pf.MeshLayout.grid(*grid)).to(dtype), pw, padding=1
            )
            pf.eval(y)
            cycles[form] = pf.last_report().cycles
    pf.cache_clear()
    spatial, channel_split = cycles[False], cycles[True]
    faster = channel_split if channel_split < CHANNEL_SPLIT_MARGIN * spatial else spatial
    assert cycles[None] == faster, cycles


def test_grouped_conv2d_stays_spatial_when_channel_split_is_forced():
    x, w = arrays((1, 4, 9, 9), (6, 2, 3, 3))

    def run():
        y = F.conv2d(pf.from_numpy(x, layout=pf.MeshLayout.grid(3, 3)), pf.from_numpy(w), groups=2)
        return conv_mesh_ir(y), y.numpy()

    text, ours = channel_split(run)
    assert "split [_, _, _, _]" in text
    close(ours, T.conv2d(torch.from_numpy(x), torch.from_numpy(w), groups=2).numpy())


def test_filter_bank_too_big_to_replicate_runs_channel_split():
    # 64 -> 64 channels: a 144 KiB filter bank, three times a PE's SRAM. The cost model picks
    # the channel-split form on the input's grid: 8 filters (18 KiB) per PE column
    x, w, b = arrays((1, 64, 16, 16), (64, 64, 3, 3), (64,))
    y = F.conv2d(
        pf.from_numpy(x, layout=pf.MeshLayout.grid(8, 8)),
        pf.from_numpy(w),
        pf.from_numpy(b),
        padding=1,
    )
    text = conv_mesh_ir(y)
    assert "64x64x3x3xf32 on 8x8 split [c, _, _, _]" in text
    assert "1x64x16x16xf32 on 8x8 split [_, c, r, _]" in text
    close(y.numpy(), T.conv2d(*(torch.from_numpy(a) for a in (x, w, b)), padding=1).numpy())
    report = pf.last_report()
    assert report.sram_peak_bytes.max() <= pf.sim.SMALL.usable_sram_bytes
    # the FMACs run over each PE's 2 x 16 output rows: 32 of every 32 + issue cycles compute
    bound = 2 * 16 * 16 * 64 * 64 * 9 / (64 * pf.sim.SMALL.flops_per_cycle)
    assert bound <= report.cycles < 1.5 * bound


def test_form_by_cost():
    # where the simulator runs the spatial form faster, the cost model keeps it: a 1x1 kernel
    # on 2x2 needs no halo, and the channel-split steps would cost 16 multicasts
    x, w = arrays((1, 16, 16, 16), (16, 16, 1, 1))
    y = F.conv2d(pf.from_numpy(x, layout=pf.MeshLayout.grid(2, 2)), pf.from_numpy(w))
    assert "16x16x1x1xf32 on 2x2 split [_, _, _, _]" in conv_mesh_ir(y)
    # with a 3x3 kernel the channel-split form is faster even for 4 channels: its halos are
    # exchanged along the rows only (W is whole on a PE), once per input channel
    x, w = arrays((1, 4, 16, 16), (4, 4, 3, 3))
    y = F.conv2d(pf.from_numpy(x, layout=pf.MeshLayout.grid(4, 4)), pf.from_numpy(w), padding=1)
    assert "4x4x3x3xf32 on 4x4 split [c, _, _, _]" in conv_mesh_ir(y)


def test_channel_split_steps_in_the_pe_ir():
    x, w = arrays((1, 6, 12, 10), (4, 6, 3, 3))

    def run():
        y = F.conv2d(pf.from_numpy(x, layout=pf.MeshLayout.grid(4, 3)), pf.from_numpy(w), padding=1)
        return pe_ir(y)

    text = channel_split(run)
    # one step per input channel: a multicast of the channel's slab along the rows (packed by
    # its PE column, which holds 2), the slab's halo along the columns, one accumulating conv
    # every channel's window made once (2 per PE: packed, then the halo along the rows), then
    # one step per input channel: a multicast of the window from its PE column (async, two
    # receive buffers) and one accumulating conv
    assert len(re.findall(r"pe.conv2d ", text)) == 6
    assert len(re.findall(r"pe.conv2d .*accumulate", text)) == 5
    sends = re.findall(r"pe.send .*pes = array<i64: (\d+), (\d+), (\d+), (\d+)>", text)
    multicasts = [s for s in sends if s[2:] == ("4", "1")]
    assert [int(s[1]) for s in multicasts] == [0, 0, 1, 1, 2, 2]
    assert "conv_recv0" in text and "conv_recv1" in text
    # the whole filter bank is never on a PE: each holds 2 of the 4 filters (2 x 6 x 3 x 3)
    assert "!pe.buf<216xf32>" not in text and "!pe.buf<108xf32>" in text


@pytest.mark.slow
def test_issue_layer_compiles_channel_split_within_sram():
    # issue 11's conv2d: 8x64x56x56, 64 3x3 filters (a 144 KiB bank), the input on 64x64 PEs:
    # channel-split on 56x64 (one output row and one output channel per PE); plan-memory and
    # allocate-sram accept it. Values at this size: benchmarks/variants.py conv2d
    with pf.target(pf.sim.WSE2):
        x = pf.zeros(8, 64, 56, 56, layout=pf.MeshLayout.grid(64, 64))
        y = F.conv2d(x, pf.zeros(64, 64, 3, 3), pf.zeros(64), padding=1)
        mesh_text = conv_mesh_ir(y)
        text = pe_ir(y)
    assert "64x64x3x3xf32 on 56x64 split [c, _, _, _]" in mesh_text
    assert text.count("pe.conv2d ") == 64 and "conv_recv1" in text


# ------------------------------------------------------------ conv2d's weight gradient
# autograd's rule for a conv2d's weight is one flame.conv2d_weight_grad: per PE the products
# of its output-gradient tile with the shifted input window over its pixels, every tap, then
# an allreduce of the partials over the grid (passes/flame_lowering/windowed.py)

WEIGHT_GRAD_CASES = [
    # (input shape, weight shape, kwargs, input grid)
    ((2, 3, 13, 11), (5, 3, 3, 3), {"padding": "same"}, (4, 3)),
    ((1, 2, 13, 11), (3, 2, 4, 2), {"padding": "same"}, (4, 3)),  # even kernel
    ((1, 3, 13, 11), (4, 3, 3, 3), {"padding": "valid", "dilation": 2}, (3, 3)),
    ((2, 3, 10, 9), (4, 3, 3, 3), {"stride": 2, "padding": 1}, (3, 3)),
    ((1, 3, 17, 15), (2, 3, 5, 3), {"stride": (3, 2), "padding": (2, 0)}, (3, 3)),
    ((1, 4, 11, 9), (3, 4, 3, 3), {"stride": 2, "padding": (2, 1), "dilation": (2, 1)}, (2, 2)),
    ((2, 5, 9, 8), (6, 5, 3, 3), {"padding": 1}, (3, 4)),
    ((2, 3, 8, 8), (9, 3, 3, 3), {"padding": 1}, (5, 6)),  # more PE columns than channels
    ((2, 5, 7, 6), (3, 5, 1, 1), {}, (2, 2)),  # 1x1: the tile is its own window
]


def conv_grads(x, w, b, gy, layout, **kw):
    """(x.grad, w.grad, b.grad) of sum(conv2d(x, w, b) * gy) by pf and by torch."""
    px = pf.from_numpy(x, layout=layout).requires_grad_()
    pw, pb = pf.from_numpy(w).requires_grad_(), pf.from_numpy(b).requires_grad_()
    (F.conv2d(px, pw, pb, **kw) * pf.from_numpy(gy)).sum().backward()
    ours = (px.grad.numpy(), pw.grad.numpy(), pb.grad.numpy())
    tx, tw, tb = (torch.from_numpy(a).requires_grad_() for a in (x, w, b))
    (T.conv2d(tx, tw, tb, **kw) * torch.from_numpy(gy)).sum().backward()
    return ours, (tx.grad.numpy(), tw.grad.numpy(), tb.grad.numpy())


def weight_grad_mesh_ir(t) -> str:
    return "\n".join(
        line for line in pf.ir(t, stage="mesh").splitlines() if "mesh.conv2d_weight_grad" in line
    )


@pytest.mark.parametrize("xs,ws,kw,grid", WEIGHT_GRAD_CASES)
@pytest.mark.parametrize("form", [None, False, True], ids=["by-cost", "spatial", "channel-split"])
def test_conv2d_gradients_in_every_form_match_torch(xs, ws, kw, grid, form):
    x, w, b = arrays(xs, ws, (ws[0],))
    out_shape = T.conv2d(torch.from_numpy(x), torch.from_numpy(w), **kw).shape
    gy = np.random.default_rng(3).standard_normal(tuple(out_shape)).astype(np.float32)
    pf.cache_clear()
    try:
        with forced_conv_form(form):
            ours, want = conv_grads(x, w, b, gy, pf.MeshLayout.grid(*grid), **kw)
    finally:
        pf.cache_clear()
    for got, ref in zip(ours, want, strict=True):
        np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    "xs,ws,kw",
    [
        ((1, 4, 13, 11), (6, 2, 3, 2), {"stride": (2, 1), "padding": (2, 1), "dilation": (1, 2)}),
        ((1, 6, 9, 9), (6, 1, 3, 3), {"padding": 1}),  # depthwise
    ],
)
def test_grouped_conv2d_weight_gradient_is_spatial_and_matches_torch(xs, ws, kw):
    x, w, b = arrays(xs, ws, (ws[0],))
    groups = xs[1] // ws[1]
    out_shape = T.conv2d(torch.from_numpy(x), torch.from_numpy(w), groups=groups, **kw).shape
    gy = np.random.default_rng(3).standard_normal(tuple(out_shape)).astype(np.float32)
    ours, want = conv_grads(x, w, b, gy, pf.MeshLayout.grid(3, 3), groups=groups, **kw)
    for got, ref in zip(ours, want, strict=True):
        np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4)


def test_weight_gradient_ends_where_the_weight_lives():
    # channel-split: the partials (R, O, C, kh, kw) are allreduced over the PE rows only, and
    # the gradient is split [c, _, _, _] on the conv's grid like the weight: SGD moves nothing
    x, w, b = arrays((2, 6, 12, 10), (4, 6, 3, 3), (4,))

    def run():
        px = pf.from_numpy(x, layout=pf.MeshLayout.grid(4, 4))
        conv = pf.nn.Conv2d(6, 4, 3, padding=1)
        conv.weight.data, conv.bias.data = pf.from_numpy(w), pf.from_numpy(b)
        opt = pf.optim.SGD(conv.parameters(), lr=0.5)
        loss = (conv(px) ** 2).sum()
        loss.backward()
        opt.step()
        text = pf.ir(loss, stage="mesh")
        pf.eval(loss)
        return text, conv.weight.numpy()

    text, stepped = channel_split(run)
    assert re.search(
        r"mesh.conv2d_weight_grad .* -> !mesh.tensor<4x4x6x3x3xf32 on 4x4 split \[r, c, _, _, _\]>",
        text,
    )
    assert re.search(
        r"mesh.allreduce sum %\d+ dims \[0\].*-> !mesh.tensor<1x4x6x3x3xf32 on 4x4 split "
        r"\[_, c, _, _, _\]>",
        text,
    )
    # the update reads the gradient and the weight where they are: no move of a 4x6x3x3
    assert not re.search(r"mesh.redistribute .*4x6x3x3", text)
    tx, tw = torch.from_numpy(x), torch.from_numpy(w).requires_grad_()
    tb = torch.from_numpy(b).requires_grad_()
    (T.conv2d(tx, tw, tb, padding=1) ** 2).sum().backward()
    np.testing.assert_allclose(stepped, w - 0.5 * tw.grad.numpy(), rtol=1e-4, atol=1e-3)


def test_channel_split_weight_gradient_steps_in_the_pe_ir():
    x, w = arrays((1, 6, 12, 10), (4, 6, 3, 3))

    def run():
        pw = pf.from_numpy(w).requires_grad_()
        y = F.conv2d(pf.from_numpy(x, layout=pf.MeshLayout.grid(4, 3)), pw, padding=1)
        y.sum().backward()
        return pe_ir(pw.grad)

    text = channel_split(run)
    # one step per input channel: the channel's window multicast from its PE column (two
    # receive buffers), the taps of the PE's filters, unpacked at the channel in the partial
    assert len(re.findall(r"pe.conv2d_weight_grad ", text)) == 6
    assert "wgrad_recv0" in text and "wgrad_recv1" in text
    unpacks = re.findall(r"pe.unpack .*shape = array<i64: 2, 6, 3, 3>.*", text)
    assert [re.search(r"at = array<i64: (\d+), 0>", u).group(1) for u in unpacks] == [
        str(k) for k in range(6)
    ]


def test_weight_gradient_second_derivatives_match_torch():
    # create_graph: dW = conv2d_weight_grad(x, dy) is differentiated again (its rule: a conv2d
    # of x for dy, conv2d's input gradient for x)
    x, w = arrays((1, 2, 7, 6), (3, 2, 3, 3))
    px, pw = pf.from_numpy(x).requires_grad_(), pf.from_numpy(w).requires_grad_()
    (gw,) = pf.autograd.grad(
        (F.conv2d(px, pw, stride=2, padding=(1, 0)) ** 2).sum(), [pw], create_graph=True
    )
    (gx,) = pf.autograd.grad((gw * gw).sum(), [px])
    tx, tw = torch.from_numpy(x).requires_grad_(), torch.from_numpy(w).requires_grad_()
    (tgw,) = torch.autograd.grad(
        (T.conv2d(tx, tw, stride=2, padding=(1, 0)) ** 2).sum(), [tw], create_graph=True
    )
    (tgx,) = torch.autograd.grad((tgw * tgw).sum(), [tx])
    np.testing.assert_allclose(gw.numpy(), tgw.detach().numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(gx.numpy(), tgx.numpy(), rtol=1e-3, atol=1e-2)


def test_many_channel_training_step_fits_sram():
    # 64 channels: the weight gradient used to be a conv2d of transposes whose 64x2x16x16
    # intermediate took 128 KiB per PE (SRAMOverflowError); now it runs channel-split like
    # the forward, and every gradient matches torch
    x, w, b, t = arrays((2, 64, 16, 16), (64, 64, 3, 3), (64,), (2, 64, 16, 16))
    w *= 0.1
    px = pf.from_numpy(x, layout=pf.MeshLayout.grid(4, 4)).requires_grad_()
    pw, pb = pf.from_numpy(w).requires_grad_(), pf.from_numpy(b).requires_grad_()
    F.mse_loss(F.conv2d(px, pw, pb, padding=1), pf.from_numpy(t)).backward()
    assert "split [r, c, _, _, _]" in weight_grad_mesh_ir(pw.grad)  # channel-split
    pf.eval(px.grad, pw.grad, pb.grad)
    assert pf.last_report().sram_peak_bytes.max() <= pf.sim.SMALL.usable_sram_bytes
    tx, tw, tb = (torch.from_numpy(a).requires_grad_() for a in (x, w, b))
    T.mse_loss(T.conv2d(tx, tw, tb, padding=1), torch.from_numpy(t)).backward()
    for got, ref in zip((px.grad, pw.grad, pb.grad), (tx.grad, tw.grad, tb.grad), strict=True):
        np.testing.assert_allclose(got.numpy(), ref.numpy(), rtol=1e-4, atol=1e-5)


def test_many_channel_training_step_cycles_near_the_bound():
    # the issue's layer at a size the default tests run: 2x64x16x16, 64 3x3 filters, the input
    # on the SMALL fabric's 16x16 PEs; forward, both convolutions of the backward and the
    # weight gradient all run channel-split on 16x16 (one output row, 4 filters per PE), the
    # gradient ends where the weight lives and SGD moves nothing. Simulated 354,432 cycles
    # against the bound of the three convolutions' FMACs on 256 PEs, 221,184 (0.62): the
    # FMACs run over 16-element rows (5 issue cycles each), and the input gradient's
    # transposed filters move once (benchmarks/RESULTS.md, session 11)
    x, w, b, t = arrays((2, 64, 16, 16), (64, 64, 3, 3), (64,), (2, 64, 16, 16))
    px = pf.from_numpy(x, layout=pf.MeshLayout.grid(16, 16)).requires_grad_()
    conv = pf.nn.Conv2d(64, 64, 3, padding=1)
    conv.weight.data, conv.bias.data = pf.from_numpy(w * 0.1), pf.from_numpy(b)
    opt = pf.optim.SGD(conv.parameters(), lr=0.1)
    loss = F.mse_loss(conv(px), pf.from_numpy(t))
    loss.backward()
    opt.step()
    text = pf.ir(loss, px.grad, stage="mesh")
    assert text.count("on 16x16 split [_, c, r, _]>) -> !mesh.tensor<16x64x64x3x3xf32") == 1
    # the update reads the gradient where the weight is: [c, _, _, _] on 16x16, no move
    assert re.search(
        r"mesh.binary add .*-> !mesh.tensor<64x64x3x3xf32 on 16x16 split \[c, _, _, _\]>", text
    )
    assert not re.search(
        r"mesh.redistribute .* -> !mesh.tensor<64x64x3x3xf32 on \S+ split \[c",
        text.split("mesh.conv2d_weight_grad")[1],
    )
    pf.eval(loss, px.grad)
    report = pf.last_report()
    bound = 3 * 2 * 2 * 64 * 16 * 16 * 64 * 9 / (256 * pf.sim.SMALL.flops_per_cycle)
    assert bound <= report.cycles < 1.7 * bound
    assert report.sram_peak_bytes.max() <= pf.sim.SMALL.usable_sram_bytes
    tx, tw, tb = (torch.from_numpy(a).requires_grad_() for a in (x, w * 0.1, b))
    T.mse_loss(T.conv2d(tx, tw, tb, padding=1), torch.from_numpy(t)).backward()
    np.testing.assert_allclose(px.grad.numpy(), tx.grad.numpy(), rtol=1e-4, atol=1e-6)
    stepped = (conv.weight.numpy(), conv.bias.numpy())
    want = (w * 0.1 - 0.1 * tw.grad.numpy(), b - 0.1 * tb.grad.numpy())
    for got, ref in zip(stepped, want, strict=True):
        np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    "xs,ws,kw",
    [((2, 3, 13, 11), (5, 3, 3, 3), {"padding": 1}), ((1, 8, 9, 7), (6, 8, 3, 3), {"stride": 2})],
)
def test_conv2d_gradients_on_the_compilers_layouts_match_torch(xs, ws, kw):
    # no layout hint: the compiler places the input, the conv2d and its gradients
    x, w, b = arrays(xs, ws, (ws[0],))
    out_shape = T.conv2d(torch.from_numpy(x), torch.from_numpy(w), **kw).shape
    gy = np.random.default_rng(3).standard_normal(tuple(out_shape)).astype(np.float32)
    ours, want = conv_grads(x, w, b, gy, None, **kw)
    for got, ref in zip(ours, want, strict=True):
        np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4)
