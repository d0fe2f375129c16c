"""nn.InstanceNorm1d/2d/3d, F.instance_norm, nn.LocalResponseNorm, F.local_response_norm and
nn.BatchNorm3d against torch: values and gradients (input, weight, bias) on odd shapes under
layouts, batched and unbatched inputs, the running statistics (updated in training, used in
eval), state dicts, reprs, PyTorch's errors and warnings."""

from __future__ import annotations

import numpy as np
import pytest

import pyflame as pf
from pyflame import nn

torch = pytest.importorskip("torch")

from nn_parity import GRID, check_function, check_layer, close, rand, twin  # noqa: E402

pytestmark = pytest.mark.usefixtures("small_target")
F = pf.nn.functional


def _affine(t):
    """Random weight and bias in a torch layer (1 and 0 hide mistakes in the affine part)."""
    with torch.no_grad():
        t.weight.copy_(torch.randn(t.weight.shape))
        t.bias.copy_(torch.randn(t.bias.shape))
    return t.state_dict()


def _loaded(layer, state):
    layer.load_state_dict(state)
    return layer


@pytest.mark.parametrize(
    "make, shape, layout",
    [
        (lambda m: m.InstanceNorm1d(3), (2, 3, 7), None),
        (lambda m: m.InstanceNorm1d(4, affine=True), (4, 5), GRID),
        (lambda m: m.InstanceNorm2d(3, affine=True, eps=1e-3), (2, 3, 5, 3), GRID),
        (lambda m: m.InstanceNorm2d(5), (5, 3, 4), pf.MeshLayout.row_partition(2)),
        (lambda m: m.InstanceNorm3d(2, affine=True), (2, 2, 3, 4, 3), None),
    ],
    ids=["1d", "1d_unbatched_affine", "2d_affine", "2d_unbatched", "3d_affine"],
)
def test_instance_norm_layers_values_and_gradients(make, shape, layout):
    x = rand(*shape) * 3 + 1
    t, _ = check_layer(make, x, layout=layout)
    if t.affine:
        state = _affine(t)
        check_layer(lambda m: _loaded(make(m), state), x, layout=layout)


def test_functional_instance_norm_with_affine_and_running_stats_in_eval():
    x, w, b = rand(3, 4, 5, 2) * 2, rand(4, seed=1), rand(4, seed=2)
    check_function(lambda F, x, w, b: F.instance_norm(x, weight=w, bias=b, eps=1e-4), x, w, b)
    check_function(lambda F, x: F.instance_norm(x), x, layout=GRID)
    mean, var = rand(4, seed=3), np.abs(rand(4, seed=4)) + 0.5
    check_function(
        lambda F, x, w: F.instance_norm(
            x, _as(F, mean), _as(F, var), w, None, use_input_stats=False
        ),
        x,
        w,
    )


def _as(F, a):
    return torch.from_numpy(a.copy()) if F is torch.nn.functional else pf.from_numpy(a)


@pytest.mark.parametrize("momentum", [0.1, None])
def test_instance_norm_running_statistics_as_torch(momentum):
    """track_running_stats: training updates them as ATen's (the per-instance updates averaged
    over the batch, unbiased variances; momentum None is 0: no change), eval normalises with
    them; num_batches_tracked stays 0, as PyTorch's."""
    t, p = twin(lambda m: m.InstanceNorm2d(3, momentum=momentum, track_running_stats=True))
    for step in range(2):
        x = rand(4, 3, 5, 3, seed=step) * 2 + 1
        close(p(pf.from_numpy(x)), t(torch.from_numpy(x)))
        close(p.running_mean, t.running_mean, msg="running_mean")
        close(p.running_var, t.running_var, msg="running_var")
    assert int(p.num_batches_tracked.numpy()) == int(t.num_batches_tracked) == 0
    t.eval(), p.eval()
    x = rand(2, 3, 4, 4, seed=9)
    close(p(pf.from_numpy(x)), t(torch.from_numpy(x)))
    assert list(p.state_dict()) == list(t.state_dict())


def test_instance_norm_reprs_state_dicts_errors_and_warnings_as_torch():
    for make in (
        lambda m: m.InstanceNorm1d(3),
        lambda m: m.InstanceNorm2d(4, affine=True, track_running_stats=True),
        lambda m: m.InstanceNorm3d(2, eps=1e-3, momentum=None),
        lambda m: m.BatchNorm3d(5),
        lambda m: m.LocalResponseNorm(3, alpha=1e-3, k=2.0),
    ):
        assert repr(make(nn)) == repr(make(torch.nn))
        assert list(make(nn).state_dict()) == list(make(torch.nn).state_dict())
    here = r"test_instance_norm.py:\d+: "
    with pytest.raises(ValueError, match=here + r"expected 2D or 3D input \(got 4D input\)"):
        nn.InstanceNorm1d(3)(pf.from_numpy(rand(2, 3, 4, 5)))
    with pytest.raises(
        ValueError, match=here + r"expected input.s size at dim=1 to match num_features \(3\)"
    ):
        nn.InstanceNorm2d(3, affine=True)(pf.from_numpy(rand(2, 4, 4, 5)))
    with pytest.warns(UserWarning, match="size at dim=1 does not match num_features") as caught:
        nn.InstanceNorm2d(3)(pf.from_numpy(rand(2, 4, 4, 5)))
    assert caught[0].filename == __file__
    with pytest.raises(ValueError, match=here + "Expected more than 1 spatial element"):
        nn.InstanceNorm1d(3)(pf.from_numpy(rand(2, 3, 1)))
    with pytest.raises(pf.ShapeError, match=here + r"BatchNorm3d expected 5D input \(got 4D input"):
        nn.BatchNorm3d(3)(pf.from_numpy(rand(2, 3, 4, 5)))
    with pytest.raises(ValueError, match=here + "Expected 3D or higher dimensionality input"):
        F.local_response_norm(pf.from_numpy(rand(2, 3)), 2)


@pytest.mark.parametrize(
    "size, shape, layout",
    [
        (3, (2, 5, 4), None),
        (2, (2, 4, 3, 5), GRID),
        (5, (1, 3, 2, 3, 2), None),
        (4, (3, 7, 2), GRID),
    ],
    ids=str,
)
def test_local_response_norm_values_and_gradients(size, shape, layout):
    x = rand(*shape) * 3
    check_layer(lambda m: m.LocalResponseNorm(size), x, layout=layout)
    check_function(
        lambda F, x: F.local_response_norm(x, size, alpha=0.3, beta=0.5, k=1.5), x, layout=layout
    )


def test_batch_norm_3d_trains_and_evaluates_as_torch():
    t, p = twin(lambda m: m.BatchNorm3d(3))
    state = _affine(t)
    p.load_state_dict(state)
    x = rand(2, 3, 3, 4, 2) * 2 + 1
    check_layer(lambda m: _loaded(m.BatchNorm3d(3), state), x, layout=GRID)
    close(p(pf.from_numpy(x)), t(torch.from_numpy(x)))
    close(p.running_var, t.running_var)
    t.eval(), p.eval()
    close(p(pf.from_numpy(x)), t(torch.from_numpy(x)))


@pytest.mark.parametrize(
    "size, channels, layout", [(5, 9, GRID), (4, 7, None), (2, 5, None), (6, 3, GRID)], ids=str
)
def test_cross_map_lrn2d_is_torchs_legacy_layer(size, channels, layout):
    """PyTorch's legacy loops as written: the forward's running sum never drops channel 0,
    and its backward is its own window formula (not the forward's derivative): both
    matched."""
    check_layer(
        lambda m: m.CrossMapLRN2d(size, 0.3, 0.6, 1.5), rand(2, channels, 3, 4), layout=layout
    )
    assert repr(nn.CrossMapLRN2d(size)) == repr(torch.nn.CrossMapLRN2d(size))
    with pytest.raises(ValueError, match=r"test_instance_norm.py:\d+: CrossMapLRN2d: Expected"):
        nn.CrossMapLRN2d(size)(pf.from_numpy(rand(2, 3, 4)))
