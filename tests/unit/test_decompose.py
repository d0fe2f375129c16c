"""decompose builds primitive ops with the flame builders and leaves duplicates to the pipeline's
next step, xDSL's cse: shared work is computed once, random draws never merge."""

from collections import Counter

import numpy as np
import pytest
from xdsl.dialects.builtin import ModuleOp

import pyflame as pf
from pyflame import compiler
from pyflame.tools._context import parse_module

pytestmark = pytest.mark.usefixtures("small_target")


def flame_ops(module: ModuleOp) -> Counter[str]:
    return Counter(op.name for op in module.walk() if op.name.startswith("flame."))


def run(text: str, spec: str) -> ModuleOp:
    module = parse_module(compiler.make_context(), text, "test.mlir")
    compiler.run_pipeline(module, spec)
    module.verify()
    return module


def test_cse_runs_after_decompose() -> None:
    steps = compiler.pipeline().split(",")
    assert steps.index("decompose") < steps.index("cse")


SOFTMAX_AND_LOG_SOFTMAX = """
func.func @main(%x: tensor<4x8xf32>) -> (tensor<4x8xf32>, tensor<4x8xf32>) {
  %0 = flame.softmax %x {dim = 1 : i64} : tensor<4x8xf32> -> tensor<4x8xf32>
  %1 = flame.log_softmax %x {dim = 1 : i64} : tensor<4x8xf32> -> tensor<4x8xf32>
  func.return %0, %1 : tensor<4x8xf32>, tensor<4x8xf32>
}
"""


def test_softmax_and_log_softmax_of_one_tensor_share_the_max_after_cse() -> None:
    alone = flame_ops(run(SOFTMAX_AND_LOG_SOFTMAX, "decompose"))
    merged = flame_ops(run(SOFTMAX_AND_LOG_SOFTMAX, "decompose,cse"))
    # decompose spells each composite out on its own ...
    assert alone["flame.reduce_max"] == 2
    assert alone["flame.exp"] == 2
    # ... cse keeps one max, its broadcast, x - max and exp(x - max)
    assert merged["flame.reduce_max"] == 1
    assert merged["flame.broadcast_to"] == alone["flame.broadcast_to"] - 1
    assert merged["flame.sub"] == alone["flame.sub"] - 1
    assert merged["flame.exp"] == 1
    assert merged["flame.reduce_sum"] == 1


def test_shared_max_gives_the_same_numbers() -> None:
    a = np.random.default_rng(0).standard_normal((4, 8)).astype(np.float32)
    x = pf.from_numpy(a)
    s, ls = pf.softmax(x, dim=1), pf.log_softmax(x, dim=1)
    values, indices = pf.max(x, dim=1)
    flame = pf.ir(s, ls, values, indices, stage="flame")
    mesh = pf.ir(s, ls, values, indices, stage="mesh")
    assert flame.count("flame.reduce_max") == 1  # pf.max's; softmax's and argmax's reuse it
    assert mesh.count("mesh.local_reduce") == 3  # the max, softmax's sum, argmax's min
    pf.eval(s, ls, values, indices)
    e = np.exp(a - a.max(1, keepdims=True))
    np.testing.assert_allclose(s.numpy(), e / e.sum(1, keepdims=True), rtol=1e-5)
    np.testing.assert_allclose(ls.numpy(), np.log(e / e.sum(1, keepdims=True)), atol=1e-5)
    np.testing.assert_array_equal(values.numpy(), a.max(1))
    np.testing.assert_array_equal(indices.numpy(), a.argmax(1))


TWO_DRAWS = """
func.func @main(%s0: i64, %s1: i64) -> (tensor<4x4xf32>, tensor<4x4xf32>, tensor<4x4xf32>) {
  %0 = flame.random_uniform %s0 {minval = 0.0 : f64, maxval = 1.0 : f64} : i64 -> tensor<4x4xf32>
  %1 = flame.random_uniform %s1 {minval = 0.0 : f64, maxval = 1.0 : f64} : i64 -> tensor<4x4xf32>
  %2 = flame.random_normal %s0 : i64 -> tensor<4x4xf32>
  %3 = flame.random_normal %s1 : i64 -> tensor<4x4xf32>
  %4 = flame.add %2, %3 : (tensor<4x4xf32>, tensor<4x4xf32>) -> tensor<4x4xf32>
  func.return %0, %1, %4 : tensor<4x4xf32>, tensor<4x4xf32>, tensor<4x4xf32>
}
"""


def test_random_ops_with_different_seeds_are_never_merged() -> None:
    ops = flame_ops(run(TWO_DRAWS, "decompose,cse"))
    assert ops["flame.random_uniform"] == 2
    assert ops["flame.random_normal"] == 2


def test_random_ops_of_one_seed_value_are_one_tensor() -> None:
    """A random op is a function of its seed operand (the frontend never shares one), so two of
    one seed value, shape and range are the same values: cse may keep one."""
    text = TWO_DRAWS.replace("random_uniform %s1", "random_uniform %s0")
    ops = flame_ops(run(text, "decompose,cse"))
    assert ops["flame.random_uniform"] == 1
    assert ops["flame.random_normal"] == 2


def test_two_dropout_masks_stay_two_draws() -> None:
    x = pf.from_numpy(np.ones((16, 16), np.float32))
    a = pf.nn.functional.dropout(x, 0.5)
    b = pf.nn.functional.dropout(x, 0.5)
    r1, r2 = pf.rand([16, 16]), pf.rand([16, 16])
    mesh = pf.ir(a, b, r1, r2, stage="mesh")
    assert mesh.count("mesh.random_uniform") == 4
    assert mesh.count("mesh.fill") == 2  # the keep threshold and the 1/(1-p) scale, once each
    pf.eval(a, b, r1, r2)
    assert not np.array_equal(a.numpy(), b.numpy())
    assert not np.array_equal(r1.numpy(), r2.numpy())
    assert set(np.unique(a.numpy())) <= {0.0, 2.0}


def test_unused_pure_ops_are_dropped() -> None:
    text = """
func.func @main(%x: tensor<4xf32>) -> tensor<4xf32> {
  %0 = flame.exp %x : tensor<4xf32> -> tensor<4xf32>
  %1 = flame.relu %x : tensor<4xf32> -> tensor<4xf32>
  func.return %1 : tensor<4xf32>
}
"""
    assert flame_ops(run(text, "cse")) == Counter({"flame.relu": 1})


def test_ops_with_different_layout_hints_are_kept_apart() -> None:
    text = """
func.func @main(%x: tensor<4x4xf32>) -> (tensor<4x4xf32>, tensor<4x4xf32>, tensor<4x4xf32>) {
  %0 = flame.exp %x : tensor<4x4xf32> -> tensor<4x4xf32>
  %1 = flame.exp %x {layout = #flame.layout<grid [2, 2]>} : tensor<4x4xf32> -> tensor<4x4xf32>
  %2 = flame.exp %x : tensor<4x4xf32> -> tensor<4x4xf32>
  func.return %0, %1, %2 : tensor<4x4xf32>, tensor<4x4xf32>, tensor<4x4xf32>
}
"""
    assert flame_ops(run(text, "cse")) == Counter({"flame.exp": 2})
