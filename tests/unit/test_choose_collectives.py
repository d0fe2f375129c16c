"""choose-collectives (passes/choose_collectives.py): the collectives' algorithms chosen for the
whole program within the target's routing colors, by estimated cycles with the barriers of a
lowered copy; one compile, the choice recorded on the mesh ops."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest
from training_programs import mlp_step

import pyflame as pf
from pyflame import compiler, runtime
from pyflame.core import collectives
from pyflame.core.collectives import CollectiveAlgorithm
from pyflame.core.errors import ColorAllocationError
from pyflame.passes import allocate_colors
from pyflame.passes import choose_collectives as cc
from pyflame.passes.cost_model.program import WHY_ATTR
from pyflame.passes.flame_lowering import gemv

TO_MESH_BEFORE = compiler.stage_pipeline("flame", "mesh").removesuffix(",choose-collectives")


pytestmark = pytest.mark.usefixtures("no_pending_updates")


def interleaved(x: pf.Tensor) -> pf.Tensor:
    """Row and column allreduces one after the other: each axis's channels stay live from its
    first collective to its last, so both axes' are live at once."""
    a = x - x.sum(1, keepdim=True)
    b = a - a.sum(0, keepdim=True)
    c = b * x.sum(1, keepdim=True)
    return c - b.sum(0, keepdim=True)


def interleaved_numpy(x: np.ndarray) -> np.ndarray:
    a = x - x.sum(1, keepdims=True)
    b = a - a.sum(0, keepdims=True)
    c = b * x.sum(1, keepdims=True)
    return c - b.sum(0, keepdims=True)


def at_mesh(out: pf.Tensor, through: str = TO_MESH_BEFORE):
    module = runtime._program_module((out,))
    compiler.run_pipeline(module, through)
    return module


def algorithms(module) -> list[str]:
    return [str(op.algorithm.data) for op in cc.collective_ops(module)]


def test_candidates_start_with_the_per_op_choice_and_end_with_each_algorithm_everywhere():
    x = pf.from_numpy(np.ones((16, 16), np.float32), layout=pf.MeshLayout.grid(16, 16))
    with pf.target(pf.sim.SMALL):
        module = at_mesh(interleaved(x))
    ops = cc.collective_ops(module)
    assert len(ops) == 3  # cse keeps one x.sum(1)
    options = cc.candidates(ops, pf.sim.SMALL)
    assert options[0] == tuple(CollectiveAlgorithm.KTREE for _ in ops)  # scalars on 16 PEs
    assert len(set(options)) == len(options)
    for a in CollectiveAlgorithm:
        # the split allreduces everywhere only when some op's own choice took them
        everywhere = tuple(a for _ in ops) in options
        assert everywhere == (a not in collectives.SPLIT), a


def test_a_program_that_fits_keeps_the_per_op_choice_with_one_lowered_copy():
    data = np.random.default_rng(0).standard_normal((16, 16)).astype(np.float32)
    with pf.target(pf.sim.SMALL):
        x = pf.from_numpy(data, layout=pf.MeshLayout.grid(16, 16))
        module = at_mesh(interleaved(x))
        lowered = cc.choose(compiler.make_context(), module)
    assert [o.assignment for o in lowered] == [tuple(CollectiveAlgorithm.KTREE for _ in range(3))]
    assert lowered[0].error is None and lowered[0].barriers == 0
    assert algorithms(module) == ["ktree"] * 3
    assert all(WHY_ATTR not in op.attributes for op in cc.collective_ops(module))


@pytest.mark.parametrize("colors", [4, 6])
def test_many_collectives_at_once_on_few_colors_compile_and_give_numpys_values(colors):
    """On 4 or 6 colors the per-op choice (ktree everywhere) does not fit or needs barriers;
    the pass keeps an assignment that fits, the one compile succeeds, the values are numpy's."""
    target = dataclasses.replace(pf.sim.SMALL, num_colors=colors)
    data = np.random.default_rng(1).standard_normal((16, 16)).astype(np.float32)
    with pf.target(target):
        x = pf.from_numpy(data, layout=pf.MeshLayout.grid(16, 16))
        out = interleaved(x)
        module = at_mesh(out)
        per_op = cc.lower_copy(
            compiler.make_context(), module, cc.candidates(cc.collective_ops(module), target)[0]
        )
        assert per_op.error is not None or per_op.barriers > 0
        chosen = at_mesh(out, compiler.stage_pipeline("flame", "mesh"))
        assert algorithms(chosen) != ["ktree"] * 3
        assert all(
            "choose-collectives" in op.attributes[WHY_ATTR].data for op in cc.collective_ops(chosen)
        )
        got = out.numpy()
    np.testing.assert_allclose(got, interleaved_numpy(data), rtol=1e-4, atol=1e-4)


def test_nothing_fits_is_a_color_error_naming_the_line_the_pes_and_the_colors_in_use():
    target = dataclasses.replace(pf.sim.SMALL, num_colors=1)
    data = np.ones((4, 4), np.float32)
    with pf.target(target):
        x = pf.from_numpy(data, layout=pf.MeshLayout.grid(4, 4))
        out = interleaved(x)
        with pytest.raises(ColorAllocationError) as info:
            out.numpy()
    message = str(info.value)
    assert "test_choose_collectives.py:" in message  # the user's line
    # one color: every later transfer switches its routes, with no colors left for barriers
    assert "these routes (PEs (" in message
    assert re.search(
        r"every free color, or deliver to PEs it delivered to \(color 0, last used by "
        r"\S*test_choose_collectives",
        message,
    )
    assert "chain everywhere included" in message


def test_mlp_step_on_wse2_compiles_in_one_pipeline_with_the_choice_recorded(monkeypatch):
    """ktree everywhere (each op's own cheapest) needs more than 17 colors on the MLP
    784-256-10 step (row and column reductions of the loss live at once, with SUMMA's
    channels): the pass picks another assignment, says why on the ops, and the step lowers to
    pe with allocate-colors run once on it. The products are all SUMMA here (the skinny path
    off): with the logits and h^T @ dlogits as GEMVs the step has fewer channels, and ktree
    everywhere fits the colors (it is then out by cost). WSE2 with 17 colors: its 21 fit
    since SUMMA leaves out the steps over K blocks of padding (dlogits @ W2: 10 of 64), and
    with 18-20 ktree fits and is out by cost."""
    monkeypatch.setattr(gemv, "SKINNY_MAX", 0)
    with pf.target(dataclasses.replace(pf.sim.WSE2, num_colors=17)):
        loss = mlp_step()
        module = at_mesh(loss, compiler.stage_pipeline("flame", "mesh"))
    chosen = algorithms(module)
    assert len(chosen) >= 4 and "ktree" not in chosen
    whys = [op.attributes[WHY_ATTR].data for op in cc.collective_ops(module)]
    assert all("needs more than WSE2's 17 routing colors" in w for w in whys), whys
    calls: list[int] = []
    real = allocate_colors.allocate

    def counted(fn, target):
        calls.append(1)
        return real(fn, target)

    monkeypatch.setattr(allocate_colors, "allocate", counted)
    compiler.lower(module, "pe")
    assert calls == [1]
