"""Every flame op class has an entry in each registry it needs (issue 9: one definition per op).

The op class is the key everywhere: the frontend records it on each node (`Tensor.op`), the
gradient rules are keyed by it, and so are the flame-to-mesh lowerings and the decompositions.
Adding a flame op without its entries fails here, naming the op.
"""

from __future__ import annotations

import pytest

from pyflame.dialects import flame
from pyflame.gradients import GRADIENTS, NOT_DIFFERENTIABLE
from pyflame.passes.decompose import DECOMPOSITIONS
from pyflame.passes.flame_to_mesh import LOWERINGS
from pyflame.tracing import op_form

OPS = list(flame.Flame.operations)


def test_the_registries_are_keyed_by_flame_op_classes():
    for table in (GRADIENTS, NOT_DIFFERENTIABLE, LOWERINGS, DECOMPOSITIONS):
        stray = [k for k in table if k not in OPS]
        assert not stray, stray


def test_every_flame_op_has_a_gradient_rule_or_is_not_differentiable():
    missing = [cls.name for cls in OPS if cls not in GRADIENTS and cls not in NOT_DIFFERENTIABLE]
    assert not missing, missing
    both = [cls.name for cls in OPS if cls in GRADIENTS and cls in NOT_DIFFERENTIABLE]
    assert not both, both


def test_every_flame_op_is_lowered_or_decomposed():
    missing = [cls.name for cls in OPS if cls not in LOWERINGS and cls not in DECOMPOSITIONS]
    assert not missing, missing
    for cls in flame.COMPOSITE_OPS:
        assert cls in DECOMPOSITIONS, cls.name


@pytest.mark.parametrize("cls", OPS, ids=lambda cls: cls.name)
def test_every_flame_op_has_an_ir_form(cls):
    """tracing.op_form reads each op's IRDL definition: every attribute but `layout` gets a
    converter, and a seed operand makes a random op."""
    form = op_form(cls)
    definition = cls.get_irdl_definition()
    wanted = set(definition.attributes) | set(definition.properties)
    assert set(form.attrs) == wanted - {"layout"}
    assert form.random == (cls in (flame.RandomNormalOp, flame.RandomUniformOp))
