"""F.interpolate / nn.Upsample modes beyond 'nearest' (pyflame/nn/upsampling.py) against
torch: 'linear', 'bilinear', 'trilinear', 'bicubic' (align_corners both ways, sizes and scale
factors up and down, recompute_scale_factor, antialias), 'nearest-exact' (bit for bit) and
'area';
values and gradients under several layouts, half dtypes, reprs and errors. ('nearest' is in
test_nn_small_layers.py.)"""

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
CASES_2D = [
    {"scale_factor": 2, "mode": "bilinear"},
    {"size": (7, 3), "mode": "bilinear", "align_corners": True},
    {"scale_factor": (0.5, 1.5), "mode": "bilinear"},
    {"scale_factor": 1.3, "mode": "bilinear", "recompute_scale_factor": True},
    {"size": (7, 3), "mode": "bicubic"},
    {"scale_factor": 1.7, "mode": "bicubic", "align_corners": True},
    {"size": (3, 9), "mode": "nearest-exact"},
    {"size": (3, 3), "mode": "area"},
    {"scale_factor": 0.6, "mode": "area"},
]


@pytest.mark.slow
def test_more_2d_modes_match_torch_with_gradients():
    for kwargs in [CASES_2D[k] for k in (1, 2, 4, 8)]:
        check_function(lambda F, x, kw=kwargs: F.interpolate(x, **kw), rand(2, 3, 5, 4))


@pytest.mark.parametrize("layout", LAYOUTS, ids=repr)
def test_2d_modes_match_torch_with_gradients(layout):
    cases = [CASES_2D[k] for k in ((0, 3, 5, 6, 7) if layout is None else (1, 4))]
    for kwargs in cases:
        check_function(
            lambda F, x, kw=kwargs: F.interpolate(x, **kw), rand(2, 3, 5, 4), layout=layout
        )


def test_1d_and_3d_modes_match_torch_with_gradients():
    for kwargs in (
        {"scale_factor": 2.5, "mode": "linear"},
        {"size": 4, "mode": "linear", "align_corners": True},
        {"size": 3, "mode": "area"},
        {"scale_factor": 1.5, "mode": "nearest-exact"},
    ):
        check_function(lambda F, x, kw=kwargs: F.interpolate(x, **kw), rand(2, 3, 7))
    for kwargs in (
        {"scale_factor": 2, "mode": "trilinear"},
        {"size": (2, 5, 3), "mode": "trilinear", "align_corners": True},
        {"size": (2, 3, 4), "mode": "area"},
    ):
        check_function(lambda F, x, kw=kwargs: F.interpolate(x, **kw), rand(1, 2, 3, 4, 5))


def test_sizes_whose_indices_read_rows_by_index_select_match_torch():
    """More than row_runs.MAX_PHASES phases (5 -> 13 rows, 4 -> 9 columns): the lookup is
    `flame.gather_rows`; a 2x resize reads slices."""
    kwargs = {"size": (13, 9), "mode": "bicubic"}
    check_function(lambda F, x: F.interpolate(x, **kwargs), rand(1, 2, 5, 4))
    check_function(lambda F, x: F.interpolate(x, size=(13, 9), mode="bilinear"), rand(1, 2, 5, 4))
    x = pf.zeros(1, 2, 5, 4)
    assert "flame.gather_rows" in pf.ir(F.interpolate(x, **kwargs), stage="flame")
    doubled = F.interpolate(x, scale_factor=2, mode="bilinear")
    assert "flame.gather_rows" not in pf.ir(doubled, stage="flame")


@pytest.mark.parametrize(
    "layout",
    [pytest.param(None, marks=pytest.mark.slow), pf.MeshLayout.grid(2, 3)],  # (None: 10 s)
    ids=repr,
)
def test_antialiased_bilinear_and_bicubic_match_torch_with_gradients(layout):
    """antialias=True (torchvision's Resize default): a downscale widens the filter (triangle,
    or cubic with A = -0.5) by the scale and normalises each output's weights, as PyTorch's
    CPU kernel; upscales use the same filters unwidened."""
    cases = [
        {"size": (4, 3), "mode": "bilinear"},
        {"scale_factor": 0.4, "mode": "bicubic"},
        {"size": (6, 9), "mode": "bicubic", "align_corners": True},
    ]
    for kwargs in cases if layout is None else cases[:1]:
        check_function(
            lambda F, x, kw=kwargs: F.interpolate(x, antialias=True, **kw),
            rand(2, 3, 11, 8),
            layout=layout,
        )


def test_nearest_exact_is_exact_for_every_size():
    x = rand(1, 2, 7, 5)
    for size in ((3, 9), (14, 10), (7, 5), (1, 1), (11, 2)):
        got = F.interpolate(pf.from_numpy(x), size=size, mode="nearest-exact")
        want = TF.interpolate(torch.from_numpy(x), size=size, mode="nearest-exact")
        np.testing.assert_array_equal(got.numpy(), want.numpy(), err_msg=str(size))


def test_upsample_layers_and_adaptive_avg_pool3d_match_torch():
    check_layer(
        lambda m: m.Upsample(scale_factor=2, mode="bilinear", align_corners=False), rand(1, 2, 3, 4)
    )
    check_layer(
        lambda m: m.Upsample(size=(4, 6), mode="bicubic", align_corners=True), rand(2, 1, 3, 5)
    )
    check_layer(lambda m: m.AdaptiveAvgPool3d((2, None, 3)), rand(2, 3, 4, 5, 7))
    for make in (
        lambda m: m.Upsample(scale_factor=2, mode="bilinear"),
        lambda m: m.Upsample(size=5, mode="nearest-exact"),
        lambda m: m.AdaptiveAvgPool3d((2, None, 3)),
    ):
        assert repr(make(nn)) == repr(make(torch.nn))


def test_half_inputs_compute_in_float32_as_torch():
    """PyTorch's CPU kernel keeps the weights in the input's dtype, computes in float32 and
    rounds once: the same bits."""
    x = rand(2, 3, 5, 4)
    for pdtype, tdtype in ((pf.float16, torch.float16), (pf.bfloat16, torch.bfloat16)):
        for kwargs in (
            {"scale_factor": 2, "mode": "bilinear"},
            {"size": (3, 7), "mode": "bicubic"},
            {"size": (3, 7), "mode": "area"},
        ):
            got = F.interpolate(pf.from_numpy(x).astype(pdtype), **kwargs)
            want = TF.interpolate(torch.from_numpy(x).to(tdtype), **kwargs)
            assert got.dtype == pdtype
            np.testing.assert_array_equal(got.astype(pf.float32).numpy(), want.float().numpy())


def test_errors_as_torch():
    cases = [
        (
            {"scale_factor": 2, "mode": "linear"},
            (1, 2, 5, 4),
            NotImplementedError,
            "needs 3D input",
        ),
        ({"scale_factor": 2, "mode": "trilinear"}, (1, 2, 5, 4), NotImplementedError, "needs 5D"),
        ({"scale_factor": 2, "mode": "bicubic"}, (1, 2, 5), NotImplementedError, "got bicubic"),
        (
            {"scale_factor": 2, "mode": "area", "align_corners": True},
            (1, 2, 5),
            ValueError,
            "align",
        ),
        (
            {"size": 4, "mode": "linear", "recompute_scale_factor": True},
            (1, 2, 5),
            ValueError,
            "not meaningful",
        ),
        (
            {"size": 4, "mode": "linear", "antialias": True},
            (1, 2, 5),
            ValueError,
            "Anti-alias option",
        ),
        ({"size": 4, "mode": "lanczos"}, (1, 2, 5, 4), ValueError, "requires antialias=True"),
        ({"size": 4, "mode": "bilinear", "antialias": True}, (1, 2, 5), ValueError, "Anti-alias"),
        (
            {"size": (4, 4, 4), "mode": "bilinear"},
            (1, 2, 5, 4),
            ValueError,
            "same number of spatial",
        ),
    ]
    for kwargs, shape, error, words in cases:
        with pytest.raises(error, match=words):
            TF.interpolate(torch.zeros(shape), **kwargs)
        with pytest.raises(error, match=words):
            F.interpolate(pf.zeros(*shape), **kwargs)
    for tdtype, pdtype, name in (
        (torch.float16, pf.float16, "Half"),
        (torch.bfloat16, pf.bfloat16, "BFloat16"),
    ):
        words = f"\"compute_index_ranges_weights\" not implemented for '{name}'"
        with pytest.raises(NotImplementedError, match=words):
            TF.interpolate(
                torch.zeros(1, 1, 4, 4, dtype=tdtype), size=2, mode="bilinear", antialias=True
            )
        with pytest.raises(NotImplementedError, match=words):
            F.interpolate(
                pf.zeros(1, 1, 4, 4, dtype=pdtype), size=2, mode="bilinear", antialias=True
            )
    for mode in ("bilinear", "bicubic"):
        with pytest.raises(NotImplementedError, match="not implemented for 'Long'"):
            TF.interpolate(torch.zeros(1, 2, 3, 3, dtype=torch.long), scale_factor=2, mode=mode)
        with pytest.raises(NotImplementedError, match=r"test_nn_upsampling\.py:\d+: .*'Long'"):
            F.interpolate(pf.zeros(1, 2, 3, 3, dtype=pf.int32), scale_factor=2, mode=mode)


def test_area_to_an_empty_size_is_empty_as_torch():
    """'area' is adaptive pooling, which takes a size of 0 (the other modes refuse it)."""
    x = rand(1, 2, 1, 7, 6)
    got = F.interpolate(pf.from_numpy(x), scale_factor=0.92, mode="area")
    assert got.shape == tuple(
        TF.interpolate(torch.from_numpy(x), scale_factor=0.92, mode="area").shape
    )
    words = r"test_nn_upsampling\.py:\d+: Input and output sizes should be greater than 0"
    with pytest.raises(RuntimeError, match=words):
        F.interpolate(pf.from_numpy(x), scale_factor=0.92, mode="trilinear")
