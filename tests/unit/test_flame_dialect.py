"""The flame dialect's op classes match the ground floor's op tables one to one."""

from pyflame.core import elementwise
from pyflame.dialects import flame


def test_every_elementwise_function_has_one_op_class() -> None:
    for table, ops in (
        (elementwise.UNARY, flame.UNARY_OPS),
        (elementwise.BINARY, flame.BINARY_OPS),
    ):
        assert sorted(ops) == sorted(table)
        for name, cls in ops.items():
            assert cls.name == f"flame.{name}"
            assert cls.ENTRY is table[name]
            assert getattr(flame, cls.__name__) is cls  # defined by name, visible to grep


def test_the_dialect_registers_every_op_class() -> None:
    registered = set(flame.Flame.operations)
    assert set(flame.UNARY_OPS.values()) | set(flame.BINARY_OPS.values()) <= registered
    assert len({op.name for op in registered}) == len(registered)
