"""pe.routes (an exchange phase's rules in one op) against the pe.route ops it stands for: the
same rules on the routers, so the same outputs, cycles and route switches in both engines;
its verifier, and allocate-colors dropping the rules the routers already hold."""

from __future__ import annotations

import re

import numpy as np
import pytest
from xdsl.parser import Parser
from xdsl.utils.exceptions import VerifyException

from pyflame import compiler
from pyflame.dialects import pe
from tests.unit.sim.test_mutations import RULE, RULES, redistribute

PROGRAMS = {
    "2x2 -> 4x4": ((8, 8), "2x2 split [r, c]", "4x4 split [r, c]"),
    "transpose 3x3": ((9, 9), "3x3 split [r, c]", "3x3 split [c, r]"),
    "1x1 -> 5x5 (a scatter: switches)": ((10, 9), "1x1 split [_, _]", "5x5 split [r, c]"),
}


def as_route_ops(text: str) -> str:
    """Every pe.routes of `text` written as one pe.route per rule, in its order."""
    out = []
    for line in text.split("\n"):
        rules = RULES.search(line)
        if not rules:
            out.append(line)
            continue
        indent = line[: len(line) - len(line.lstrip())]
        color = re.search(r"color = \d+ : i64", line).group(0)  # type: ignore[union-attr]
        for rule in RULE.finditer(rules.group(1)):
            rect = re.search(r"at \[([^\]]*)\]", rule.group(0)).group(1)  # type: ignore[union-attr]
            out.append(
                f"{indent}pe.route {rule.group(1)} -> [{rule.group(2)}] "
                f"{{{color}, pes = array<i64: {rect}>}}"
            )
    return "\n".join(out)


def run(text: str, wavelet: bool = False):
    if wavelet:
        text = text.replace('#pf.target<"small">', '#pf.target<"small", fidelity = "wavelet">')
    module = Parser(compiler.make_context(), text, "routes.mlir").parse_module()
    module.verify()
    x = np.random.default_rng(0).standard_normal(module_input_shape(text)).astype(np.float32)
    outputs, report = compiler.run_module(module, {"a": x})
    return outputs, report


def module_input_shape(text: str) -> tuple[int, ...]:
    dims = re.search(r"%a: tensor<([\dx]+)xf32>", text).group(1)  # type: ignore[union-attr]
    return tuple(int(d) for d in dims.split("x"))


@pytest.mark.parametrize("name", list(PROGRAMS))
@pytest.mark.parametrize("wavelet", [False, True], ids=["fast", "wavelet"])
def test_routes_op_runs_as_its_route_ops(name, wavelet):
    shape, src, dst = PROGRAMS[name]
    text = redistribute(shape, src, dst)
    assert "pe.routes [" in text  # (the barriers keep their pe.route ops)
    split = as_route_ops(text)
    assert "pe.routes [" not in split
    (got,), report = run(text, wavelet)
    (want,), want_report = run(split, wavelet)
    np.testing.assert_array_equal(got, want)
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    np.testing.assert_array_equal(got, x)  # a redistribution moves every element
    assert report.cycles == want_report.cycles
    assert (report.busy_cycles == want_report.busy_cycles).all()


def test_a_scatter_switches_rules():
    """On 1x1 -> 5x5 the 24 phases reuse the small target's colors, so pe.routes replace rules
    (ordered by barriers; each switch costs its PE route_switch_cycles, as a pe.route's)."""
    shape, src, dst = PROGRAMS["1x1 -> 5x5 (a scatter: switches)"]
    text = redistribute(shape, src, dst)
    colors = re.findall(r"pe\.routes .*color = (\d+) : i64", text)
    assert len(colors) > len(set(colors))  # a color set again: its rules switch
    assert '"barrier"' in text


def test_rules_set_twice_act_in_order():
    """A hand-written pe.routes that sets one router twice acts as its pe.route ops in order:
    the later rule is in force, having replaced the earlier (a switch, here against the
    phase's own traffic: the same RoutingError), in both engines."""
    text = redistribute((4, 4), "1x2 split [_, c]", "1x1 split [_, _]")
    line = next(ln for ln in text.split("\n") if "pe.routes [" in ln)
    rules = RULES.search(line)
    assert rules is not None
    first = RULE.search(rules.group(1))
    assert first is not None
    src, outs = first.group(1), first.group(2)
    wrong = next(p for p in ("north", "south", "east", "west") if p not in (outs, src))
    bad = first.group(0).replace(f"-> [{outs}]", f"-> [{wrong}]")
    twice = text.replace(line, line.replace(rules.group(1), f"{bad}, {rules.group(1)}"))
    same = text.replace(line, line.replace(rules.group(1), f"{first.group(0)}, {rules.group(1)}"))
    for wavelet in (False, True):
        outcomes = []
        for program in (twice, as_route_ops(twice), same):
            try:
                outcomes.append(run(program, wavelet)[0][0].tobytes())
            except Exception as err:  # noqa: BLE001  # the error is the outcome compared
                message = re.sub(r"pe\.routes?\b", "pe.route", f"{type(err).__name__}: {err}")
                outcomes.append(re.sub(r"op #\d+", "op #N", message))
        assert outcomes[0] == outcomes[1]  # as the pe.route ops
        assert outcomes[2] == run(text, wavelet)[0][0].tobytes()  # the same rule twice: nothing


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ([], "at least one rule"),
        ([0, 0, 1, 1, 4], "6 numbers per rule"),
        ([0, 0, 0, 1, 4, 4], "a rectangle of routers"),
        ([0, 0, 3, 1, 4, 4], "outside the op's PEs"),
        ([0, 0, 1, 1, 5, 4], "input port index 5"),
        ([0, 0, 1, 1, 4, 0], "output port mask 0"),
        ([0, 0, 1, 1, 2, 4], "back where they came from"),
    ],
)
def test_verifier_names_the_bad_rule(rules, message):
    op = pe.RoutesOp(rules, color=0, pes=(0, 0, 2, 2))
    with pytest.raises(VerifyException, match=message):
        op.verify()


def test_text_round_trips():
    op = pe.RoutesOp.from_rules(
        [((0, 0, 1, 2), "ramp", ["east"]), ((0, 2, 2, 1), "west", ["south", "ramp"])], color=3
    )
    assert op.rect == (0, 0, 2, 3)
    text = str(op)
    assert text.startswith(
        "pe.routes [ramp -> [east] at [0, 0, 1, 2], west -> [south, ramp] at [0, 2, 2, 1]]"
    )
    module = Parser(compiler.make_context(), f"builtin.module {{\n{text}\n}}").parse_module()
    (parsed,) = module.ops
    assert isinstance(parsed, pe.RoutesOp) and parsed.rule_list() == op.rule_list()


def test_allocate_colors_drops_the_rules_routers_hold():
    """A phase whose rules an earlier one left on its color keeps only the rules it changes
    (drop_redundant_routes): the op goes when none is left."""
    from xdsl.dialects import func

    from pyflame.passes.allocate_colors import drop_redundant_routes

    a = pe.RoutesOp.from_rules(
        [((0, 0, 1, 2), "ramp", ["east"]), ((0, 1, 1, 2), "west", ["ramp"])], color=0
    )
    b = pe.RoutesOp.from_rules(
        [((0, 0, 1, 2), "ramp", ["east"]), ((0, 2, 1, 1), "west", ["south"])], color=0
    )
    c = pe.RoutesOp.from_rules([((0, 1, 1, 1), "west", ["ramp"])], color=0)
    fn = func.FuncOp("main", ((), ()))
    fn.body.block.add_ops([a, b, c, func.ReturnOp()])
    assert drop_redundant_routes(fn) == 2
    ops = [op for op in fn.body.block.ops if isinstance(op, pe.RoutesOp)]
    assert ops == [a, b]  # c set what a left at (0, 1): gone
    assert b.rule_list() == [((0, 2, 1, 1), pe.Port.WEST, (pe.Port.SOUTH,))]
    assert b.rect == (0, 2, 1, 1)
