"""Run-time errors name the current graph's lines, also when the program comes from the cache.

The compile cache ignores source lines (a loop compiles once), so a program compiled from a
graph built at one line runs graphs built at others; its errors must name the lines of the graph
it runs for (pyflame/runtime.py `Compiled.run`, pyflame/tracing.py `SourceMap`), not the first's.
Each test builds the same graph at two lines (or more) and checks every error and the one
compile.
"""

from __future__ import annotations

import dataclasses
import sys

import numpy as np
import pytest

import pyflame as pf
import pyflame.nn.functional as F
from pyflame.core.errors import DeadlockError, IntegerDivisionByZeroError, IntegerOverflowError
from pyflame.lazy_tensor import format_location
from pyflame.sim import SMALL
from pyflame.tracing import SourceMap

pytestmark = pytest.mark.usefixtures("small_target", "no_pending_updates")


def here() -> str:
    """`file:line` of the caller's line, as errors print it."""
    frame = sys._getframe(1)
    return f"{frame.f_code.co_filename}:{frame.f_lineno}"


def message(t: pf.Tensor, error: type[Exception]) -> str:
    with pytest.raises(error) as err:
        pf.eval(t)
    return str(err.value)


@pytest.fixture(autouse=True)
def empty_cache() -> None:
    pf.cache_clear()


def big() -> pf.Tensor:
    return pf.from_numpy(np.array([2**30, 1], np.int32))


# --------------------------------------------------------------------------- simulator errors


def test_int32_overflow_names_each_line_that_built_the_graph() -> None:
    a = big()
    first, at_first = a + a, here()
    second, at_second = a + a, here()
    one = message(first, IntegerOverflowError)
    two = message(second, IntegerOverflowError)
    assert f"pe.binary at {at_first}: int32 overflow: add gives 2147483648" in one
    assert f"pe.binary at {at_second}: int32 overflow: add gives 2147483648" in two
    assert at_first not in two
    assert pf.cache_info() == (1, 1, 1)


def test_integer_division_by_zero_of_a_divisor_computed_on_the_device() -> None:
    a = pf.from_numpy(np.array([7, 8], np.int32))
    b = pf.from_numpy(np.array([3, 1], np.int32))
    first, at_first = a // (b - 3), here()
    second, at_second = a // (b - 3), here()
    one = message(first, IntegerDivisionByZeroError)
    two = message(second, IntegerDivisionByZeroError)
    assert f"at {at_first}: floor_divide: ZeroDivisionError" in one
    assert f"at {at_second}: floor_divide: ZeroDivisionError" in two
    assert at_first not in two
    assert pf.cache_info().misses == 1


def test_a_graph_spread_over_lines_names_the_line_of_the_failing_op() -> None:
    """The first graph is one line; the second puts the overflowing add on its own line, the
    multiply that follows on the next: the add's line is named, not the multiply's."""
    a, c = big(), pf.from_numpy(np.array([1, 1], np.int32))
    first, at_first = (a + a) * c, here()
    s, at_add = a + a, here()
    second = s * c
    one = message(first, IntegerOverflowError)
    two = message(second, IntegerOverflowError)
    assert f"at {at_first}: int32 overflow: add" in one
    # the first graph made both ops at one line: the add may be either line of the second
    assert f"at {at_add} or " in two and at_first not in two
    assert pf.cache_info().misses == 1


def test_in_a_function_called_from_two_call_sites() -> None:
    """`user_location()` is the innermost frame outside pyflame: inside a user's function, the
    function's line (the same for both calls, as a traceback's last frame), not the first
    compile's line elsewhere."""

    def double(x: pf.Tensor) -> tuple[pf.Tensor, str]:
        return x + x, here()

    a = big()
    first, at_first = a + a, here()  # compiles the program, at this line
    assert f"at {at_first}: int32 overflow" in message(first, IntegerOverflowError)
    by_one, inside = double(a)
    by_two, _ = double(a)
    for t in (by_one, by_two):
        text = message(t, IntegerOverflowError)
        assert f"at {inside}: int32 overflow" in text and at_first not in text
    assert pf.cache_info() == (2, 1, 1)


def test_training_loop_error_on_the_third_iteration_names_the_loop_body() -> None:
    warm = pf.from_numpy(np.array([1, 2], np.int32))
    (warm + warm).numpy()  # the same graph, compiled at this line
    acc, at_body = pf.from_numpy(np.array([2**28, 1], np.int32)), ""
    steps = 0
    with pytest.raises(IntegerOverflowError) as err:
        for _ in range(5):
            acc, at_body = acc + acc, here()  # 2**29, 2**30, then 2**31 overflows
            pf.eval(acc)
            steps += 1
    assert steps == 2
    assert f"pe.binary at {at_body}: int32 overflow: add gives 2147483648" in str(err.value)
    assert pf.cache_info() == (3, 1, 1)  # the warm-up compiled it; three iterations ran it


def test_the_wavelet_engine_names_the_current_line_too() -> None:
    a = big()
    with pf.target(dataclasses.replace(SMALL, fidelity="wavelet")):
        first, at_first = a + a, here()
        second, at_second = a + a, here()
        assert f"at {at_first}: int32 overflow" in message(first, IntegerOverflowError)
        assert f"at {at_second}: int32 overflow" in message(second, IntegerOverflowError)
    assert pf.cache_info().misses == 1


# --------------------------------------------------------------------------- compile errors


def test_a_program_that_fails_to_compile_is_not_cached_so_each_graph_names_its_line() -> None:
    """Errors found while compiling (plan-memory here; the fast engine's deadlocks and routing
    errors are found while planning too) come from a compile of the current graph."""
    first, at_first = pf.randn(2048, 2048) + 1, here()
    second, at_second = pf.randn(2048, 2048) + 1, here()
    assert f"made at {at_first} needs" in message(first, pf.SRAMOverflowError)
    assert f"made at {at_second} needs" in message(second, pf.SRAMOverflowError)
    assert pf.cache_info() == (0, 0, 0)


# --------------------------------------------------------------------------- runtime checks


def computed_indices(n: int) -> pf.Tensor:
    """Indices computed on the device (so checked at run time): [n, 1]."""
    return pf.from_numpy(np.array([[0.0, 1.0], [1.0, 0.0]], np.float32)).argmax(1) + n - 1


def test_embedding_out_of_range_at_run_time_names_each_line() -> None:
    weight = pf.from_numpy(np.zeros((4, 3), np.float32))
    first, at_first = F.embedding(computed_indices(7), weight), here()
    second, at_second = F.embedding(computed_indices(7), weight), here()
    one = message(first, IndexError)
    two = message(second, IndexError)
    assert one.startswith(f"{at_first}: ") and "7" in one
    assert two.startswith(f"{at_second}: ")
    assert pf.cache_info().misses == 1


def test_index_select_out_of_range_at_run_time_names_each_line() -> None:
    x = pf.from_numpy(np.zeros((3, 4), np.float32))
    first, at_first = x.index_select(1, computed_indices(9)), here()
    second, at_second = x.index_select(1, computed_indices(9)), here()
    assert message(first, IndexError).startswith(f"{at_first}: ")
    assert message(second, IndexError).startswith(f"{at_second}: ")
    assert pf.cache_info().misses == 1


# --------------------------------------------------------------------------- SourceMap


def test_relocate_rewrites_every_line_the_program_names_at_once() -> None:
    then = SourceMap((("x.py", 3), ("x.py", 5), ("x.py", 3)))
    now = SourceMap((("x.py", 5), ("x.py", 3), ("x.py", 5)))  # the two lines swapped
    text = "deadlock: PE 0 waits (pe.recv at x.py:3); PE 1 waits (pe.recv at x.py:5)"
    assert then.relocate(text, now) == (
        "deadlock: PE 0 waits (pe.recv at x.py:5); PE 1 waits (pe.recv at x.py:3)"
    )


def test_relocate_names_whole_locations_only() -> None:
    then = SourceMap((("x.py", 3), ("x.py", 31)))
    now = SourceMap((("x.py", 4), ("x.py", 31)))
    text = "pe.add at x.py:31: ...; pe.mul at my_x.py:3: ...; (pe.neg at x.py:3)"
    assert then.relocate(text, now) == (
        "pe.add at x.py:31: ...; pe.mul at my_x.py:3: ...; (pe.neg at x.py:4)"
    )


def test_relocate_names_every_line_a_shared_line_may_mean() -> None:
    then = SourceMap((("x.py", 3), ("x.py", 3), ("x.py", 3)))
    now = SourceMap((("x.py", 5), ("x.py", 6), ("x.py", 5)))
    assert then.relocate("pe.binary at x.py:3: boom", now) == "pe.binary at x.py:5 or x.py:6: boom"
    assert then.relocate("pe.binary at x.py:3: boom", then) == "pe.binary at x.py:3: boom"
    with pytest.raises(ValueError, match="same key"):
        then.relocate("", SourceMap((("x.py", 3),)))


def test_a_deadlock_message_from_a_cached_program_names_the_current_lines() -> None:
    """What `Compiled.run` does with any PyFlameError of the program: a wavelet-engine deadlock
    (found at run time, so a cached program can raise it again) names every op it lists."""

    class Deadlocks:
        def run(self, args: object) -> tuple[list[object], object]:
            raise DeadlockError("deadlock: PE (0, 0) waits (pe.recv at x.py:3)", waiting=[])

    a = big()
    tr = pf.tracing.trace([a + a])
    at = f"{tr.nodes[-1].location[0]}:{tr.nodes[-1].location[1]}"
    compiled = pf.runtime.Compiled(Deadlocks(), SourceMap((("x.py", 2), ("x.py", 3))))
    with pytest.raises(DeadlockError) as err:
        compiled.run(tr)
    assert str(err.value) == f"deadlock: PE (0, 0) waits (pe.recv at {at})"


# --------------------------------------------------------------------------- gradient nodes


class _Doubled(pf.extend.AutogradFunction):
    @staticmethod
    def forward(ctx, x):
        return x * 2.0

    @staticmethod
    def backward(ctx, g):
        _Doubled.line = here()  # the node below is built on the next line
        return g * 2.0


def test_gradient_nodes_carry_the_backward_line_and_a_function_backward_its_own() -> None:
    # backward builds every gradient node at the user's `.backward()` line (one stack walk:
    # pyflame/lazy_tensor.py `building_at`); a pf.extend Function's backward is user code, so the
    # nodes it builds carry its own lines
    x = pf.from_numpy(np.ones(3, np.float32)).requires_grad_()
    y = (x * 3.0).exp().sum()
    y.backward()
    line = here()
    file, number = line.rsplit(":", 1)
    assert x.grad.location == (file, int(number) - 1)
    x2 = pf.from_numpy(np.ones(3, np.float32)).requires_grad_()
    _Doubled.apply(x2).sum().backward()
    file, number = _Doubled.line.rsplit(":", 1)
    assert x2.grad.location == (file, int(number) + 1)
    np.testing.assert_array_equal(x2.grad.numpy(), [2.0, 2.0, 2.0])


# --------------------------------------------------------------------------- one stack walk


def lazy_nodes(*outputs: pf.Tensor) -> list[pf.Tensor]:
    from pyflame import tracing

    return [t for t in tracing.trace(list(outputs)).nodes if not t.is_evaluated]


def test_cross_entropy_and_linear_build_every_node_at_the_callers_line() -> None:
    # pyflame/lazy_tensor.py `at_callers_line`: one stack walk for all their nodes
    x = pf.from_numpy(np.ones((4, 5), np.float32)).requires_grad_()
    w = pf.from_numpy(np.ones((3, 5), np.float32))
    b = pf.from_numpy(np.ones(3, np.float32))
    target = pf.from_numpy(np.array([0, 2, 1, 2], np.int32))
    logits = F.linear(x, w, b)
    line_linear = here()
    loss = F.cross_entropy(logits, target, label_smoothing=0.1)
    line_loss = here()
    made_by_linear = lazy_nodes(logits)
    assert len(made_by_linear) == 4
    for t in made_by_linear:
        assert format_location(t.location) == decrement(line_linear)
    made_by_loss = [t for t in lazy_nodes(loss) if id(t) not in {id(n) for n in made_by_linear}]
    assert len(made_by_loss) > 15
    for t in made_by_loss:
        assert format_location(t.location) == decrement(line_loss)


class _OwnNe(pf.Tensor):
    """A user's Tensor subclass whose `!=` is user code: its node belongs to its own line."""

    line = ""

    def __ne__(self, other: object) -> pf.Tensor:  # type: ignore[override]  # as pf.Tensor's
        out = pf.Tensor.__ne__(self, other)
        _OwnNe.line = here()
        return out


def test_a_user_tensor_subclass_operator_in_cross_entropy_keeps_its_own_line() -> None:
    logits = pf.from_numpy(np.ones((4, 3), np.float32)).requires_grad_()
    target = pf.from_numpy(np.array([0, 2, 1, 2], np.int32))
    target.__class__ = _OwnNe
    loss = F.cross_entropy(logits, target, label_smoothing=0.1)  # calls target != -100
    line_loss = here()
    nodes = lazy_nodes(loss)
    (user_ne,) = [t for t in nodes if t.op_name == "flame.ne" and t.inputs[0] is target]
    mine = [user_ne, user_ne.inputs[1]]  # (the operand -100 as a flame.fill)
    assert all(format_location(t.location) == decrement(_OwnNe.line) for t in mine)
    others = [t for t in nodes if all(t is not m for m in mine)]
    assert len(others) > 15
    assert all(format_location(t.location) == decrement(line_loss) for t in others)


class _OwnSGD(pf.optim.SGD):
    """A user's optimizer: its `_update` is user code, its nodes at its own lines."""

    line = assign_line = ""

    def _update(self, p: pf.Tensor, grad: pf.Tensor, group: dict, state: dict) -> None:
        new = p - grad * group["lr"]
        _OwnSGD.line = here()
        self._assign(p, new)
        _OwnSGD.assign_line = here()


def test_optimizer_step_nodes_at_the_step_line_and_a_users_update_at_its_own() -> None:
    from pyflame import runtime

    for cls, own in ((pf.optim.SGD, False), (_OwnSGD, True)):
        runtime.clear_pending_updates()
        w = pf.nn.Parameter(pf.from_numpy(np.ones(3, np.float32)))
        opt = cls([w], lr=0.5)
        (w * 2.0).sum().backward()
        opt.step()
        line_step = here()
        ((target, new),) = runtime.pending_updates()
        assert target is w
        made_by_backward = {id(t) for t in lazy_nodes(w._grad)}  # type: ignore[arg-type]  # backward wrote it
        nodes = [t for t in lazy_nodes(new) if id(t) not in made_by_backward]
        assert nodes
        expected = decrement(_OwnSGD.line if own else line_step)
        assert all(format_location(t.location) == expected for t in nodes)
        bumped_at = decrement(_OwnSGD.assign_line if own else line_step)  # (add_pending_update's)
        assert w._version_counter.changes[-1][1] == parse(bumped_at)
        np.testing.assert_array_equal(new.numpy(), [0.0, 0.0, 0.0])
        runtime.clear_pending_updates()


def test_user_location_after_pyflame_frames_names_each_callers_own_line() -> None:
    # the frames of pyflame's functions are remembered by their code objects; a user's frame
    # is never taken for one, from whichever line it calls
    from pyflame.lazy_tensor import user_location

    lines = []
    for _ in range(2):
        lines.append((pf.ones(2) + 1).location)
        lines.append(user_location())
        lines.append((pf.ones(2) * 2).location)
    here_file = __file__
    assert all(f == here_file for f, _ in lines)
    assert len({n for _, n in lines[:3]}) == 3
    assert lines[:3] == lines[3:]


def decrement(line: str) -> str:
    """`file:line` of the line before (`here()` is called on the line after the op)."""
    file, number = line.rsplit(":", 1)
    return f"{file}:{int(number) - 1}"


def parse(line: str) -> tuple[str, int]:
    file, number = line.rsplit(":", 1)
    return file, int(number)
