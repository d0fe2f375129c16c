"""The simulator's kernel registry: every pe op that can appear in a lowered program has a
kernel, keyed by its op class; an op without one is refused with a clear error."""

from __future__ import annotations

import pytest
from xdsl.irdl import irdl_op_definition, operand_def

from pyflame.core.errors import CompileError
from pyflame.dialects import pe
from pyflame.sim import compile_plan, host_memory
from pyflame.sim.kernels import FAMILIES, KERNELS, kernel

#: pe ops the planner handles itself, so they have no kernel (each with the reason)
NO_KERNEL = {
    pe.AllocOp: "read as a buffer (an SRAM range) before scheduling; it runs nothing",
    pe.LoopOp: "the planner runs its body's ops per iteration (Planner._in_order)",
    pe.YieldOp: "the planner links its tokens to the next iteration's frame",
}


def test_every_pe_op_has_a_kernel():
    missing = [op.name for op in pe.PE.operations if op not in KERNELS and op not in NO_KERNEL]
    assert missing == []


def test_kernels_are_keyed_by_pe_op_classes_only():
    pe_ops = set(pe.PE.operations)
    assert set(KERNELS) <= pe_ops
    assert not set(KERNELS) & set(NO_KERNEL)
    assert len(KERNELS) == len(pe_ops) - len(NO_KERNEL) == 30


def test_each_kernel_lives_in_its_family_module():
    where = {op.name: KERNELS[op].__module__.rsplit(".", 1)[1] for op in KERNELS}
    assert where["pe.conv2d"] == where["pe.conv2d_weight_grad"] == "conv"
    assert where["pe.exchange"] == "exchange"
    assert where["pe.send"] == where["pe.recv"] == where["pe.route"] == "network"
    assert where["pe.host_in"] == where["pe.host_out"] == "host_io"
    assert where["pe.matmul_acc"] == where["pe.reduce"] == "reduce_matmul"
    assert where["pe.iota"] == where["pe.random_normal"] == "creation"
    assert where["pe.gather_rows"] == where["pe.scatter_add_rows"] == "indexed"
    assert {m.__name__.rsplit(".", 1)[1] for m in FAMILIES} == set(where.values())


def test_a_second_kernel_for_an_op_is_refused():
    with pytest.raises(ValueError, match="pe.fill has two kernels"):
        kernel(pe.FillOp)(lambda s, it, op: None)
    assert KERNELS[pe.FillOp].__name__ == "fill"


def test_host_memory_index_costs_are_keyed_by_op_class():
    assert set(host_memory.INDEX_BYTES_PER_ELEMENT) <= set(KERNELS)
    assert host_memory.INDEX_BYTES_PER_ELEMENT[pe.ExchangeOp] == 44


@irdl_op_definition
class UnknownOp(pe.PEOp):
    """A pe op the simulator has no kernel for (as a new op would be before its kernel)."""

    name = "pe.unknown_test_op"
    buffer = operand_def(pe.BufferType)
    assembly_format = "$buffer attr-dict `:` type($buffer)"


def test_an_op_without_a_kernel_is_a_clear_compile_error(sim):
    b = sim.Body()
    b.alloc("a", (0, 0, 1, 1), 4)
    b.op(f"pe.fill %a {{value = 1.0 : f64, pes = {sim.pes((0, 0, 1, 1))}}} : {b.t('a')}")
    module = sim.parse(sim.program(b.text()))
    fill = next(op for op in module.walk() if isinstance(op, pe.FillOp))
    unknown = UnknownOp.create(operands=[fill.buffer], properties={"pes": fill.pes})
    fill.parent_block().insert_op_after(unknown, fill)
    with pytest.raises(
        CompileError,
        match=r"pe.unknown_test_op \(op #2 of @main\): the "
        "simulator has no kernel for pe.unknown_test_op",
    ) as err:
        compile_plan(module)
    assert err.value.op is unknown
