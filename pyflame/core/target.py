"""The machine model: one `Target` per wafer, its figures from MACHINE.md, and its typed IR form.

A target travels with the IR as the module attribute `pf.target`, a `#pf.target<...>`
(`TargetAttr`), so passes and the simulator read the machine from the program itself, never from
Python-side state; a module without one is for WSE2. The attribute names a preset and prints only
the figures that differ from it:

    builtin.module attributes {pf.target = #pf.target<"small">} { ... }
    builtin.module attributes {pf.target = #pf.target<"WSE2", fabric_rows = 8, fabric_cols = 8>}

Which target the frontend compiles for next (per thread) is pyflame/sim/target.py's business.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from xdsl.dialects.builtin import FloatData, IntAttr, ModuleOp, StringAttr
from xdsl.ir import Attribute, Dialect, ParametrizedAttribute
from xdsl.irdl import irdl_attr_definition
from xdsl.parser import AttrParser
from xdsl.printer import Printer
from xdsl.utils.exceptions import VerifyException

from pyflame.core.errors import CompileError
from pyflame.core.placement import PlacementAttr

TARGET_ATTR = "pf.target"
#: the simulator's engines (`Target.fidelity`): the default first
FIDELITIES = ("fast", "wavelet")


@dataclasses.dataclass(frozen=True)
class Target:
    """A wafer-scale engine as the compiler and simulator see it."""

    name: str
    fabric_rows: int
    fabric_cols: int
    sram_bytes: int = 49_152
    #: SRAM kept back on every PE for code and stacks; buffers get the rest
    sram_reserved_bytes: int = 4_096
    #: routing colors free for kernels (the SDK's memcpy keeps the others)
    num_colors: int = 21
    hop_latency_cycles: int = 1
    ramp_latency_cycles: int = 2
    link_wavelets_per_cycle: int = 1
    flops_per_cycle: int = 2  # fp32, per PE (one FMAC)
    flops_per_cycle_fp16: int = 8
    mem_read_bytes_per_cycle: int = 16
    mem_write_bytes_per_cycle: int = 8
    clock_hz: float = 850e6
    #: host <-> fabric streams enter on the west edge and leave on the east edge,
    #: one wavelet per cycle per edge row
    host_wavelets_per_cycle_per_row: int = 1
    #: cycles a PE spends reconfiguring one router color at run time
    route_switch_cycles: int = 8
    #: fixed cycles of one vector (DSD) instruction beyond its streaming: the descriptor setup,
    #: the scalar loop step around it and the pipeline fill. Not published; WaferLLM (OSDI'25)
    #: blames such fixed overheads for the poor scaling of small tiles. 0 gives the ideal machine.
    vector_issue_cycles: int = 5
    #: cycles from a receive's completion to the code that consumes it (a task activation or
    #: completion callback, ALGORITHMS.md section 1 c_task). Not published either.
    task_activation_cycles: int = 10
    #: wavelets a router holds per color on a stream's path (one input queue per hop); WSE-2's
    #: queues hold 2 to 6 (MACHINE.md), we take the smallest
    router_queue_wavelets: int = 2
    #: wavelets the receiving PE's input queue holds (WSE-2 CE input queues: 6, 6, 4, 4, 2, 2, 2,
    #: 2; a middle depth). A stream longer than the path holds stalls its sender until the
    #: receivers drain it (back-pressure).
    ce_queue_wavelets: int = 4
    #: cycles a wavelet spends in the compute engine of a receive-combine-forward (pe.recv
    #: forward) between arriving and leaving again, beyond the ramps (ALGORITHMS.md: a CE stage
    #: is about 2 ramps + 2)
    ce_forward_cycles: int = 2
    #: how the simulator runs a program: "fast" plans it op by op over whole rectangles
    #: (pyflame/sim/planner.py); "wavelet" is the reference engine that moves every wavelet
    #: through every router queue cycle by cycle (pyflame/sim/wavelet/, meshes up to 16x16 PEs)
    fidelity: str = "fast"

    def __post_init__(self) -> None:
        if self.fidelity not in FIDELITIES:
            raise ValueError(
                f"unknown simulator fidelity {self.fidelity!r}: use one of {', '.join(FIDELITIES)}"
            )

    @property
    def usable_sram_bytes(self) -> int:
        return self.sram_bytes - self.sram_reserved_bytes

    # ---------------------------------------------------------------- IR round trip

    def to_attr(self) -> TargetAttr:
        """This target as the module attribute `pf.target` holds it."""
        return TargetAttr(self)

    @classmethod
    def from_attr(cls, attr: Attribute) -> Target:
        """The target a `#pf.target<...>` describes."""
        if not isinstance(attr, TargetAttr):
            raise CompileError(wrong_form_message(attr))
        return attr.target

    @classmethod
    def of_module(cls, module: ModuleOp) -> Target:
        """The module's `pf.target`; a module that names none is for the default machine, WSE2
        (a fixed default: passes never read Python-side state)."""
        attr = module.attributes.get(TARGET_ATTR)
        if attr is None:
            return WSE2
        return cls.from_attr(attr)


# Presets (MACHINE.md). Fabric sizes are the kernel regions the SDK leaves free.
WSE2 = Target(name="WSE2", fabric_rows=994, fabric_cols=750, flops_per_cycle_fp16=8)
WSE3 = Target(name="WSE3", fabric_rows=1170, fabric_cols=755, flops_per_cycle_fp16=16)
SMALL = Target(name="small", fabric_rows=16, fabric_cols=16, flops_per_cycle_fp16=8)

PRESETS = {"WSE2": WSE2, "WSE3": WSE3, "SMALL": SMALL}

#: figures that are words, not numbers
STRING_FIGURES = frozenset({"fidelity"})

#: figures for which 0 makes sense (no reserve, an ideal machine without overheads)
MAY_BE_ZERO = frozenset(
    {
        "sram_reserved_bytes",
        "vector_issue_cycles",
        "task_activation_cycles",
        "route_switch_cycles",
        "ce_forward_cycles",
    }
)

#: the figures of a target after its name, in the order `#pf.target<...>` prints them
FIGURES = tuple(f.name for f in dataclasses.fields(Target) if f.name != "name")


def as_target(value: object) -> Target:
    """A `Target`, or a preset's name ("WSE2", "WSE3", "small"; any case); anything else is refused
    here, where it is passed, rather than at the next compile."""
    if isinstance(value, Target):
        return value
    if isinstance(value, str):
        preset = PRESETS.get(value.upper())
        if preset is not None:
            return preset
        raise ValueError(
            f"unknown target {value!r}: use one of {', '.join(sorted(PRESETS))} "
            "(pf.sim.WSE2, pf.sim.WSE3, pf.sim.SMALL) or a pf.sim.Target"
        )
    raise TypeError(
        f"a target is a pf.sim.Target or a preset name ({', '.join(sorted(PRESETS))}), "
        f"got {type(value).__name__}"
    )


def wrong_form_message(attr: Attribute) -> str:
    """How to write `pf.target` when it is not a `#pf.target<...>` (e.g. the old dictionary)."""
    example = '#pf.target<"small">, #pf.target<"WSE2", fabric_rows = 8, fabric_cols = 8>'
    rewritten = _from_dictionary(attr)
    if rewritten is not None:
        example = str(rewritten.to_attr())
    return (
        f"'{TARGET_ATTR}' must be a #pf.target<...> naming a preset ({', '.join(PRESETS)}) and "
        f"then only the figures that differ from it, e.g. {example}; got {attr}"
    )


def _from_dictionary(attr: Attribute) -> Target | None:
    """The target an old-style `{name = "small", num_colors = 2 : i64}` meant, if it is one."""
    from xdsl.dialects.builtin import DictionaryAttr, FloatAttr, IntegerAttr

    if not isinstance(attr, DictionaryAttr):
        return None
    values: dict[str, object] = {}
    for key, value in attr.data.items():
        if isinstance(value, StringAttr):
            values[key] = value.data
        elif isinstance(value, IntegerAttr):
            values[key] = value.value.data
        elif isinstance(value, FloatAttr):
            values[key] = float(value.value.data)
    name = values.get("name")
    base = PRESETS.get(name.upper()) if isinstance(name, str) else None
    if base is None or not set(values) <= {"name", *FIGURES}:
        return None
    return dataclasses.replace(base, **values)  # type: ignore[arg-type]  # keys checked above


@irdl_attr_definition
class TargetAttr(ParametrizedAttribute):
    """The machine a module is compiled for: `#pf.target<"small">`, or a preset's name followed by
    the figures that differ from it: `#pf.target<"WSE2", fabric_rows = 8, fabric_cols = 8>`. A
    name that is no preset must give its figures (`#pf.target<"mine", fabric_rows = 4, ...>`)."""

    name = "pf.target"

    target_name: StringAttr
    fabric_rows: IntAttr
    fabric_cols: IntAttr
    sram_bytes: IntAttr
    sram_reserved_bytes: IntAttr
    num_colors: IntAttr
    hop_latency_cycles: IntAttr
    ramp_latency_cycles: IntAttr
    link_wavelets_per_cycle: IntAttr
    flops_per_cycle: IntAttr
    flops_per_cycle_fp16: IntAttr
    mem_read_bytes_per_cycle: IntAttr
    mem_write_bytes_per_cycle: IntAttr
    clock_hz: FloatData
    host_wavelets_per_cycle_per_row: IntAttr
    route_switch_cycles: IntAttr
    vector_issue_cycles: IntAttr
    task_activation_cycles: IntAttr
    router_queue_wavelets: IntAttr
    ce_queue_wavelets: IntAttr
    ce_forward_cycles: IntAttr
    fidelity: StringAttr

    def __init__(self, target: Target):
        super().__init__(StringAttr(target.name), *_figure_attrs(target))

    @property
    def target(self) -> Target:
        figures = {name: getattr(self, name).data for name in FIGURES}
        return Target(name=self.target_name.data, **figures)

    @classmethod
    def parse_parameters(cls, parser: AttrParser) -> Sequence[Attribute]:
        with parser.in_angle_brackets():
            start = parser.pos
            name = parser.parse_str_literal('the target\'s name, e.g. "small"')
            given: dict[str, int | float | str] = {}
            while parser.parse_optional_punctuation(",") is not None:
                at = parser.pos
                key = parser.parse_identifier("a target figure")
                if key not in FIGURES:
                    parser.raise_error(
                        f"unknown target figure '{key}' (known: {', '.join(FIGURES)})",
                        at,
                        parser.pos,
                    )
                if key in given:
                    parser.raise_error(f"target figure '{key}' given twice", at, parser.pos)
                parser.parse_punctuation("=")
                if key in STRING_FIGURES:
                    at = parser.pos
                    word = parser.parse_str_literal(f"a string for '{key}'")
                    if key == "fidelity" and word not in FIDELITIES:
                        parser.raise_error(
                            f"unknown fidelity {word!r} (one of {', '.join(FIDELITIES)})",
                            at,
                            parser.pos,
                        )
                    given[key] = word
                    continue
                given[key] = parser.parse_number(context_msg=f" for '{key}'")
            base = PRESETS.get(name.upper())
            if base is None and not given:
                parser.raise_error(
                    f"'{name}' names no preset target (presets: {', '.join(PRESETS)}); a custom "
                    "target gives its figures too",
                    start,
                    parser.pos,
                )
            values = {k: _figure_value(k, v) for k, v in given.items()}
            target = dataclasses.replace(base or WSE2, name=name, **values)  # type: ignore[arg-type]  # keys are Target's figures, values their types
        return (StringAttr(target.name), *_figure_attrs(target))

    def print_parameters(self, printer: Printer) -> None:
        target = self.target
        base = PRESETS.get(target.name.upper())
        with printer.in_angle_brackets():
            printer.print_string_literal(target.name)
            for key in FIGURES:
                value = getattr(target, key)
                if base is not None and value == getattr(base, key):
                    continue
                if key in STRING_FIGURES:
                    printer.print_string(f", {key} = ")
                    printer.print_string_literal(value)
                else:
                    printer.print_string(f", {key} = {value!r}")

    def verify(self) -> None:
        target = self.target
        for key in FIGURES:
            value = getattr(target, key)
            if key in STRING_FIGURES:
                continue
            if value <= 0 and key not in MAY_BE_ZERO or value < 0:
                raise VerifyException(f"#pf.target: '{key}' must be positive, got {value}")
        if target.usable_sram_bytes <= 0:
            raise VerifyException(
                f"#pf.target: sram_reserved_bytes ({target.sram_reserved_bytes}) leaves no SRAM "
                f"for data of sram_bytes ({target.sram_bytes})"
            )


def _figure_value(key: str, value: int | float | str) -> int | float | str:
    """A parsed figure as the Target field holds it."""
    if key in STRING_FIGURES:
        return str(value)
    return float(value) if key == "clock_hz" else int(value)


def _figure_attrs(target: Target) -> list[Attribute]:
    attrs: list[Attribute] = []
    for key in FIGURES:
        value = getattr(target, key)
        if key in STRING_FIGURES:
            attrs.append(StringAttr(value))
        elif key == "clock_hz":
            attrs.append(FloatData(float(value)))
        else:
            attrs.append(IntAttr(value))
    return attrs


#: the `pf` dialect: the attributes that carry machine facts and compile decisions in the IR
PF = Dialect("pf", [], [TargetAttr, PlacementAttr])
