"""The typed target and placement attributes (pyflame/core/target.py, pyflame/core/placement.py):
printed with only the figures that differ from the named preset, parsed back to the same Target,
the old dictionary form refused with its new spelling."""

from __future__ import annotations

import dataclasses

import pytest
from xdsl.dialects.builtin import DictionaryAttr, IntegerAttr, ModuleOp, StringAttr, i64
from xdsl.parser import Parser
from xdsl.utils.exceptions import ParseError, VerifyException

from pyflame import compiler
from pyflame.core.errors import CompileError
from pyflame.core.placement import (
    PLACEMENT_ATTR,
    SINGLE_PE_BYTES,
    Placement,
    PlacementAttr,
    placement_of,
    single_pe_bytes_of,
)
from pyflame.core.target import SMALL, TARGET_ATTR, WSE2, WSE3, Target, TargetAttr


def parse(text: str):
    return Parser(compiler.make_context(), text).parse_attribute()


@pytest.mark.parametrize(
    "target, text",
    [
        (SMALL, '#pf.target<"small">'),
        (WSE2, '#pf.target<"WSE2">'),
        (WSE3, '#pf.target<"WSE3">'),
        (
            dataclasses.replace(WSE2, fabric_rows=8, fabric_cols=8),
            '#pf.target<"WSE2", fabric_rows = 8, fabric_cols = 8>',
        ),
        (
            dataclasses.replace(SMALL, num_colors=2, clock_hz=1e9),
            '#pf.target<"small", num_colors = 2, clock_hz = 1000000000.0>',
        ),
        (
            dataclasses.replace(SMALL, fidelity="wavelet"),
            '#pf.target<"small", fidelity = "wavelet">',
        ),
    ],
)
def test_prints_only_what_differs_and_parses_back(target: Target, text: str) -> None:
    attr = target.to_attr()
    assert isinstance(attr, TargetAttr) and str(attr) == text
    parsed = parse(text)
    assert parsed == attr and Target.from_attr(parsed) == target


def test_a_custom_name_prints_every_figure() -> None:
    mine = dataclasses.replace(SMALL, name="mine", fabric_rows=4)
    text = str(mine.to_attr())
    assert text.startswith('#pf.target<"mine", fabric_rows = 4, fabric_cols = 16, sram_bytes')
    assert Target.from_attr(parse(text)) == mine


def test_preset_names_any_case() -> None:
    assert Target.from_attr(parse('#pf.target<"SMALL">')) == dataclasses.replace(
        SMALL, name="SMALL"
    )


@pytest.mark.parametrize(
    "text, words",
    [
        ('#pf.target<"wse9">', "'wse9' names no preset target (presets: WSE2, WSE3, SMALL)"),
        ('#pf.target<"small", colour = 3>', "unknown target figure 'colour'"),
        ('#pf.target<"small", num_colors = 2, num_colors = 3>', "'num_colors' given twice"),
        (
            '#pf.target<"small", fidelity = "slow">',
            "unknown fidelity 'slow' (one of fast, wavelet)",
        ),
        ('#pf.target<"small", fidelity = 2>', "string for 'fidelity'"),
    ],
)
def test_parse_errors(text: str, words: str) -> None:
    with pytest.raises(ParseError, match=words.replace("(", r"\(").replace(")", r"\)")):
        parse(text)


def test_fidelity_is_fast_unless_chosen() -> None:
    assert WSE2.fidelity == SMALL.fidelity == "fast"
    with pytest.raises(ValueError, match="unknown simulator fidelity 'exact'"):
        dataclasses.replace(SMALL, fidelity="exact")


def test_verifier_checks_the_figures() -> None:
    with pytest.raises(VerifyException, match="'num_colors' must be positive, got 0"):
        parse('#pf.target<"small", num_colors = 0>')
    with pytest.raises(VerifyException, match="leaves no SRAM"):
        parse('#pf.target<"small", sram_reserved_bytes = 49152>')


def test_of_module_defaults_to_wse2_and_refuses_a_dictionary() -> None:
    module = ModuleOp([])
    assert Target.of_module(module) == WSE2
    module.attributes[TARGET_ATTR] = SMALL.to_attr()
    assert Target.of_module(module) == SMALL
    module.attributes[TARGET_ATTR] = DictionaryAttr(
        {"name": StringAttr("small"), "num_colors": IntegerAttr(2, i64)}
    )
    with pytest.raises(CompileError, match='e.g. #pf.target<"small", num_colors = 2>; got'):
        Target.of_module(module)


def test_placement_round_trip_and_default() -> None:
    attr = PlacementAttr(4096)
    assert str(attr) == "#pf.placement<single_pe_bytes = 4096>"
    assert parse(str(attr)) == attr
    module = ModuleOp([])
    assert single_pe_bytes_of(module) == SINGLE_PE_BYTES == 16 * 1024
    module.attributes[PLACEMENT_ATTR] = attr
    assert single_pe_bytes_of(module) == 4096
    with pytest.raises(VerifyException, match="single_pe_bytes must be at least 0, got -1"):
        PlacementAttr(-1)
    hinted_only = PlacementAttr(1024, hinted_only=True)
    assert str(hinted_only) == "#pf.placement<single_pe_bytes = 1024, hinted_only>"
    assert parse(str(hinted_only)) == hinted_only != PlacementAttr(1024)
    module.attributes[PLACEMENT_ATTR] = hinted_only
    assert placement_of(module) == Placement(1024, hinted_only=True)
    assert single_pe_bytes_of(module) == 1024
