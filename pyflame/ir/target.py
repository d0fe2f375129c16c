"""The machine model: one `Target` per wafer, its figures from MACHINE.md.

A target travels with the IR as the module attribute `pf.target`, so passes and the simulator
read the machine from the program itself, never from Python-side state. Which target the
frontend compiles for next (per thread) is pyflame/sim/target.py's business.
"""

from __future__ import annotations

import dataclasses

from xdsl.dialects.builtin import (
    DictionaryAttr,
    FloatAttr,
    IntegerAttr,
    ModuleOp,
    StringAttr,
    f64,
    i64,
)

TARGET_ATTR = "pf.target"


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

    @property
    def usable_sram_bytes(self) -> int:
        return self.sram_bytes - self.sram_reserved_bytes

    # ---------------------------------------------------------------- IR round trip

    def to_attr(self) -> DictionaryAttr:
        entries = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, str):
                entries[field.name] = StringAttr(value)
            elif isinstance(value, float):
                entries[field.name] = FloatAttr(value, f64)
            else:
                entries[field.name] = IntegerAttr(value, i64)
        return DictionaryAttr(entries)

    @classmethod
    def from_attr(cls, attr: DictionaryAttr) -> Target:
        """Read a target; a dictionary naming only `name` takes that preset's figures."""
        values: dict[str, object] = {}
        for key, value in attr.data.items():
            if isinstance(value, StringAttr):
                values[key] = value.data
            elif isinstance(value, IntegerAttr):
                values[key] = value.value.data
            elif isinstance(value, FloatAttr):
                values[key] = value.value.data
        name = str(values.get("name", "WSE2"))
        base = PRESETS.get(name.upper(), WSE2)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown target fields {sorted(unknown)} (known: {sorted(known)})")
        if "clock_hz" in values:
            values["clock_hz"] = float(values["clock_hz"])  # type: ignore[arg-type]
        return dataclasses.replace(base, **values)  # type: ignore[arg-type]

    @classmethod
    def of_module(cls, module: ModuleOp) -> Target:
        """The module's `pf.target`; a module that names none is for the default machine, WSE2
        (a fixed default: passes never read Python-side state)."""
        attr = module.attributes.get(TARGET_ATTR)
        if attr is None:
            return WSE2
        assert isinstance(attr, DictionaryAttr), f"{TARGET_ATTR} must be a dictionary"
        return cls.from_attr(attr)


# Presets (MACHINE.md). Fabric sizes are the kernel regions the SDK leaves free.
WSE2 = Target(name="WSE2", fabric_rows=994, fabric_cols=750, flops_per_cycle_fp16=8)
WSE3 = Target(name="WSE3", fabric_rows=1170, fabric_cols=755, flops_per_cycle_fp16=16)
SMALL = Target(name="small", fabric_rows=16, fabric_cols=16, flops_per_cycle_fp16=8)

PRESETS = {"WSE2": WSE2, "WSE3": WSE3, "SMALL": SMALL}

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
