"""Tracing lazy tensors to flame IR and the structural cache key (pyflame/tracing.py)."""

from __future__ import annotations

import numpy as np
import pytest
from xdsl.dialects.builtin import DictionaryAttr, FileLineColLoc, ModuleOp, TensorType, i64
from xdsl.dialects.func import FuncOp, ReturnOp
from xdsl.parser import Parser

import pyflame as pf
from pyflame import runtime, tracing
from pyflame.compiler import make_context
from pyflame.core.target import TARGET_ATTR, Target


def main_of(module: ModuleOp) -> FuncOp:
    (func,) = [op for op in module.ops if isinstance(op, FuncOp)]
    assert func.sym_name.data == "main"
    return func


def build(a: pf.Tensor, b: pf.Tensor) -> pf.Tensor:
    return pf.relu(a @ b + pf.randn(4, 3)).sum(dim=0) * 2


def sample_graph() -> tuple[pf.Tensor, pf.Tensor, pf.Tensor]:
    a = pf.from_numpy(np.ones((4, 5), np.float32))
    b = pf.from_numpy(np.ones((5, 3), np.float32), layout=pf.MeshLayout.grid(1, 3))
    return a, b, build(a, b)


# ----------------------------------------------------------------------------- module


def test_module_verifies_and_round_trips() -> None:
    a, _, out = sample_graph()
    mean = (a - 1).mean(dim=1, keepdim=True).transpose(0, 1).reshape(2, 2)
    module = tracing.trace([out, mean]).module()
    module.verify()
    text = runtime._print(module)
    parsed = Parser(make_context(), text).parse_module()
    parsed.verify()
    assert runtime._print(parsed) == text
    assert str(parsed) == str(module)


def test_module_structure() -> None:
    a, b, out = sample_graph()
    tr = tracing.trace([out])
    module = tr.module()
    assert Target.from_attr(module.attributes[TARGET_ATTR]) == pf.sim.get_target()  # type: ignore[arg-type]
    func = main_of(module)
    args = func.body.block.args
    assert [arg.name_hint for arg in args] == ["x0", "x1", "seed0"]
    assert [arg.type for arg in args] == [
        TensorType(pf.float32.mlir, [4, 5]),
        TensorType(pf.float32.mlir, [5, 3]),
        i64,
    ]
    assert func.arg_attrs is not None
    attrs = func.arg_attrs.data
    assert attrs[0] == DictionaryAttr({})
    assert attrs[1] == DictionaryAttr({"flame.layout": pf.MeshLayout.grid(1, 3).to_attr()})
    names = [op.name for op in func.body.block.ops]
    assert names == [
        "flame.matmul",
        "flame.random_normal",
        "flame.add",
        "flame.relu",
        "flame.reduce_sum",
        "flame.fill",
        "flame.mul",
        "func.return",
    ]
    rn = next(op for op in func.body.block.ops if op.name == "flame.random_normal")
    assert rn.operands[0] is args[2]
    inputs = tr.inputs()
    assert len(inputs) == 3
    assert inputs[0] is a._data and inputs[1] is b._data
    assert inputs[2] == out.inputs[0].inputs[0].inputs[0].inputs[1].attrs["seed"]
    assert isinstance(inputs[2], int)


def test_locations_point_at_user_lines() -> None:
    x = pf.randn(3)
    line = x.location[1]
    y = x + 1
    module = tracing.trace([y]).module()
    ops = list(main_of(module).body.block.ops)
    for op in ops[:-1]:
        assert isinstance(op.location, FileLineColLoc)
        assert op.location.filename.data == __file__
    assert ops[0].location.line.data == line  # random_normal
    assert ops[-2].location.line.data == line + 2  # add
    assert f'loc("{__file__}":{line}:0)' in pf.ir(y)


def test_reduce_attrs_in_ir() -> None:
    x = pf.randn(2, 3, 4)
    text = pf.ir(x.sum(dim=(-1, 0)), x.mean(dim=1, keepdim=True))
    assert "flame.reduce_sum %0 {dims = array<i64: 0, 2>}" in text
    assert "flame.reduce_mean %0 {dims = array<i64: 1>, keepdim}" in text


def test_dtypes_in_ir() -> None:
    for dtype, text in [
        (pf.float16, "f16"),
        (pf.bfloat16, "bf16"),
        (pf.int32, "i32"),
        (pf.bool, "i1"),
    ]:
        module = tracing.trace([pf.zeros(2, 2, dtype=dtype) + pf.ones(2, 2, dtype=dtype)]).module()
        module.verify()
        assert f"tensor<2x2x{text}>" in runtime._print(module)


def test_same_tensor_twice_and_leaf_used_twice() -> None:
    x = pf.from_numpy(np.ones(3, np.float32))
    y = x * x
    tr = tracing.trace([y, y, x])
    module = tr.module()
    module.verify()
    func = main_of(module)
    ret = func.body.block.last_op
    assert isinstance(ret, ReturnOp)
    assert ret.arguments[0] is ret.arguments[1]
    assert ret.arguments[2] is func.body.block.args[0]  # a leaf can be an output
    assert len(func.body.block.args) == 1
    assert len(tr.inputs()) == 1


def test_deep_graph_is_iterative() -> None:
    x = pf.zeros(2)
    for _ in range(20000):
        x = -x
    tr = tracing.trace([x])
    assert len(tr.nodes) == 20001


def reference_order(outputs: list[pf.Tensor]) -> list[pf.Tensor]:
    """The documented order, by plain recursion: post-order DFS from each output in turn,
    inputs left to right."""
    order: list[pf.Tensor] = []
    seen: set[int] = set()

    def visit(t: pf.Tensor) -> None:
        if id(t) in seen:
            return
        if t._data is None:
            for x in t.value_inputs():
                visit(x)
        seen.add(id(t))
        order.append(t)

    for out in outputs:
        visit(out)
    return order


@pytest.mark.parametrize("seed", range(20))
def test_order_of_random_dags_is_the_documented_one(seed: int) -> None:
    """Shared inputs, repeated inputs (x * x), diamonds, outputs inside the graph and repeated:
    the one-pass walk places the nodes as a recursive post-order DFS would."""
    rng = np.random.default_rng(seed)
    pool = [pf.from_numpy(np.ones(3, np.float32)) for _ in range(3)] + [pf.ones(3)]
    for _ in range(25):
        a, b = (pool[int(i)] for i in rng.integers(0, len(pool), 2))
        pool.append(a * b if rng.random() < 0.5 else a - b + a)
    outputs = [pool[int(i)] for i in rng.integers(0, len(pool), 4)] + [pool[-1]]
    tr = tracing.trace(outputs)
    expected = reference_order(outputs)
    assert [id(t) for t in tr.nodes] == [id(t) for t in expected]
    index = {id(t): i for i, t in enumerate(expected)}
    for t, edges in zip(tr.nodes, tr.edges, strict=True):
        assert edges == (() if t._data is not None else tuple(index[id(x)] for x in t.inputs))
    assert tr.outputs == tuple(index[id(t)] for t in outputs)


# ----------------------------------------------------------------------------- key


def test_key_ignores_lines_data_and_seeds() -> None:
    keys = []
    for i in range(3):
        a = pf.from_numpy(np.full((4, 5), i, np.float32))
        b = pf.from_numpy(np.full((5, 3), i, np.float32), layout=pf.MeshLayout.grid(1, 3))
        if i == 0:
            out = build(a, b)
        else:
            out = pf.relu(a @ b + pf.randn(4, 3)).sum(dim=0) * 2  # same graph, another line
        keys.append(tracing.trace([out]).key)
    assert keys[0] == keys[1] == keys[2]
    assert hash(keys[0]) == hash(keys[1])


def key_of(*outputs: pf.Tensor) -> object:
    return tracing.trace(list(outputs)).key


def test_key_sees_structure() -> None:
    x = pf.from_numpy(np.ones((2, 2), np.float32))
    y = pf.from_numpy(np.ones((2, 2), np.float32))
    base = key_of(x + y)
    assert key_of(pf.from_numpy(np.zeros((2, 2), np.float32)) + y) == base
    different = [
        key_of(x + x),  # edges
        key_of(x - y),  # op
        key_of(x + y + 0),  # more nodes
        key_of(pf.from_numpy(np.ones((2, 3), np.float32)) * 1),  # shape
        key_of(pf.from_numpy(np.ones((2, 2), np.float16)) + pf.ones(2, 2, dtype=pf.float16)),
        key_of(pf.from_numpy(np.ones((2, 2), np.float32), layout=pf.MeshLayout.single()) + y),
        key_of(x + y, x),  # outputs
        key_of(x.sum(dim=0)),
    ]
    assert base not in different
    assert len(set(different)) == len(different)
    assert key_of(x.sum(dim=0)) != key_of(x.sum(dim=1))
    assert key_of(x.sum(dim=0)) != key_of(x.sum(dim=0, keepdim=True))
    assert key_of(x + 1) != key_of(x + 2)
    assert key_of(x + float("nan")) == key_of(x + float("nan"))
    with pf.target(pf.sim.SMALL):
        assert key_of(x + y) != base


def general_freeze(value: object) -> object:
    """`trace._freeze` without its fast path for plain values and tuples of ints."""
    if isinstance(value, float):
        return ("f", value.hex())
    if isinstance(value, (list, tuple)):
        return tuple(general_freeze(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, general_freeze(v)) for k, v in value.items()))
    return value


@pytest.mark.parametrize(
    "value",
    [
        0,
        -3,
        True,
        False,
        None,
        "sum",
        (1, 0),
        (),
        (0, 1, 2),
        [1, 0],
        (1.0, 0),
        (1, 2.5),
        (True, 1),
        0.0,
        -0.0,
        float("nan"),
        ((1, 2), (3,)),
        {"a": 1, "b": (2, 0.5)},
        np.int64(3),
        (np.int64(1), 0),
        np.float64(-0.0),
    ],
)
def test_freeze_fast_path_gives_the_general_form(value: object) -> None:
    frozen = tracing._freeze(value)
    expected = general_freeze(value)
    assert frozen == expected and type(frozen) is type(expected)
    if isinstance(frozen, tuple):
        assert isinstance(expected, tuple)
        assert [type(v) for v in frozen] == [type(v) for v in expected]


def test_key_tells_attr_values_of_other_types_and_signs_apart() -> None:
    x = pf.from_numpy(np.ones((2, 3), np.float32))
    assert key_of(x.permute(1, 0)) != key_of(x.permute(0, 1).reshape(3, 2))
    assert key_of(x + 0.0) != key_of(x + -0.0)  # (a fill's value, by its bits)
    assert key_of(x + 0.0) == key_of(x + 0.0)
    assert key_of(x.sum(dim=(0, 1))) == key_of(x.sum(dim=[0, 1]))


def test_cache_key_is_the_plain_tuple_hashed_once() -> None:
    """tracing.CacheKey: equal to the tuple (entries, outputs, target) and hashed as it, in a
    dict or set as it; a pickle round trip hashes it again (a str's hash is per process)."""
    import pickle

    x = pf.from_numpy(np.ones((2, 3), np.float32))
    key = key_of((x + 1.5).sum(dim=0), x * x)
    assert isinstance(key, tracing.CacheKey)
    plain = tuple(key)
    assert type(plain) is tuple and key == plain and plain == key
    assert hash(key) == hash(plain)
    assert {plain: 1}[key] == 1 and {key: 2}[plain] == 2
    again = key_of((x + 1.5).sum(dim=0), x * x)
    assert again == key and again is not key and hash(again) == hash(key)
    other = key_of((x + 2.5).sum(dim=0), x * x)
    assert other != key and not (other == key)
    copied = pickle.loads(pickle.dumps(key))
    assert isinstance(copied, tracing.CacheKey) and copied == key and hash(copied) == hash(key)


def test_seeds_are_arguments_not_attributes() -> None:
    r1, r2 = pf.randn(2), pf.randn(2)
    tr = tracing.trace([r1 + r2])
    assert tr.inputs() == [r1.attrs["seed"], r2.attrs["seed"]]
    text = runtime._print(tr.module())
    assert str(r1.attrs["seed"]) not in text
    assert "%seed0: i64" in text and "%seed1: i64" in text
    assert tracing.trace([pf.randn(2) + pf.randn(2)]).key == tr.key


def test_trace_module_helper() -> None:
    x = pf.from_numpy(np.ones(2, np.float32))
    module, key, inputs = tracing.trace_module([x + pf.randn(2)])
    module.verify()
    assert key == tracing.trace([x + pf.randn(2)]).key
    assert inputs[0] is x._data and isinstance(inputs[1], int)


def test_trace_rejects_non_tensors() -> None:
    with pytest.raises(TypeError, match="pf.Tensor"):
        tracing.trace([np.ones(2)])  # type: ignore[list-item]


# --------------------------------------------------------------------------- issue 8, item 19


def test_inputs_are_named_after_from_numpy_name_and_module_paths():
    class MLP(pf.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = pf.nn.Linear(4, 8)
            self.fc2 = pf.nn.Linear(8, 2)

        def forward(self, x):
            return self.fc2(self.fc1(x).relu())

    model = pf.nn.Sequential(MLP())  # the outermost module names the parameters: `0.fc1...`
    x = pf.from_numpy(np.ones((3, 4), np.float32), name="images")
    plain = pf.from_numpy(np.ones((3, 2), np.float32))
    loss = (model(x) + plain).sum() + pf.randn([2]).sum()
    names = [a.name_hint for a in main_of(runtime._program_module((loss,))).body.block.args]
    assert names == [
        "images",
        "_0.fc1.weight",
        "_0.fc1.bias",
        "_0.fc2.weight",
        "_0.fc2.bias",
        "x5",
        "seed0",
    ]
    text = pf.ir(loss)
    assert "@main(%images: tensor<3x4xf32>" in text and "%_0.fc2.bias: tensor<2xf32>" in text
    assert MLP().fc1.weight.name == "fc1.weight"


def test_input_names_are_valid_unique_and_as_printed():
    a = pf.from_numpy(np.ones(2, np.float32), name="a")
    a2 = pf.from_numpy(np.ones(2, np.float32), name="a")
    odd = pf.from_numpy(np.ones(2, np.float32), name="my input/1")
    digits = pf.from_numpy(np.ones(2, np.float32), name="7")
    x1 = pf.from_numpy(np.ones(2, np.float32), name="x1")  # the next unnamed leaf's default
    unnamed = pf.from_numpy(np.ones(2, np.float32))
    out = a + a2 + odd + digits + x1 + unnamed
    names = tracing.trace([out]).arg_names()
    assert names == ["a", "a_1", "my_input", "x7", "x1", "x5"]
    # the names printed are exactly these (xDSL drops a `_<digits>` suffix and renumbers)
    import re

    text = re.sub(r" loc\([^)]*\)", "", pf.ir(out))
    assert (
        "@main(%a: tensor<2xf32>, %a_1: tensor<2xf32>, %my_input: tensor<2xf32>, "
        "%x7: tensor<2xf32>, %x1: tensor<2xf32>, %x5: tensor<2xf32>)"
    ) in text
    with pytest.raises(TypeError, match="name= expects a str"):
        pf.from_numpy(np.ones(2, np.float32), name=3)  # type: ignore[arg-type]


def test_names_are_not_in_the_cache_key_a_training_loop_compiles_once():
    pf.cache_clear()
    model = pf.nn.Linear(3, 2)
    opt = pf.optim.SGD(model.parameters(), lr=0.1)
    for step in range(4):
        x = pf.from_numpy(np.full((5, 3), step, np.float32), name=f"batch{step}")
        loss = model(x).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        pf.eval(loss)
    assert pf.cache_info().misses == 1 and pf.cache_info().hits == 3
    a = pf.from_numpy(np.ones(2, np.float32), name="left") * 2
    b = pf.from_numpy(np.ones(2, np.float32), name="right") * 2
    assert tracing.trace([a]).key == tracing.trace([b]).key  # same program, other names
