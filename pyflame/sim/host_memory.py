"""The host memory simulating a program needs, checked before anything is allocated.

The simulator keeps the SRAM bytes the program's buffers use (one block per group of buffers that
share bytes, pyflame/sim/sram.py: the SRAM image), and next to it the program's inputs,
its outputs, the messages in flight and one op's temporaries. A program whose estimate exceeds
the memory available is refused with `HostMemoryError` (a `MemoryError`) naming the biggest
tensor and the line that made it, instead of being killed by the operating system minutes later:

    pf.ones([2**31]).sum()   # 8 GiB of data, about 8 GiB of SRAM image
    HostMemoryError: demo.py:3: simulating this program needs about 22.0 GiB of host memory ...

The limit is MemAvailable of /proc/meminfo (else the free physical pages), or the environment
variable `PYFLAME_HOST_MEMORY`: a size such as `64G`, `512M` or `1000000` (bytes), or `off` to
never refuse.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence

from xdsl.ir import Operation

from pyflame.core.errors import HostMemoryError
from pyflame.dialects import pe

#: the environment variable overriding the memory available (a size, or "off")
ENV = "PYFLAME_HOST_MEMORY"

_UNITS = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}

#: host bytes per element an op's plan keeps or its step makes on top of the SRAM image
#: (index maps, the random hash's uint64 words), by pe op class, measured on 16M-element
#: tensors (see tests/unit/sim/test_host_memory.py) and rounded up. An exchange: its cached
#: plan (each dst element's source row, column and element, int64, three masks, the moved
#: elements by phase: 35 bytes) and its merged gather's int32 offsets (8). Strided copies
#: (pe.pack, pe.unpack, pe.copy, ...) index nothing per element: their temporaries are the
#: "messages and temporaries" part.
INDEX_BYTES_PER_ELEMENT: dict[type[Operation], int] = {
    pe.ExchangeOp: 44,
    pe.RandomNormalOp: 32,
    pe.RandomUniformOp: 32,
    pe.IotaOp: 24,
    pe.HostInOp: 8,
    pe.HostOutOp: 8,
    pe.MaskPadOp: 1,
    pe.BroadcastOp: 8,
}


def parse_size(text: str) -> int | None:
    """`64G`, `512MiB`, `1.5g`, `1000000` -> bytes; `off`/`none`/`0` -> None (no limit)."""
    t = text.strip().lower()
    if t in ("off", "none", "no", "0", ""):
        return None
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?", t)
    if m is None:
        raise ValueError(
            f"{ENV}={text!r}: expected a size such as 64G, 512M or 1000000 (bytes), or 'off'"
        )
    return int(float(m.group(1)) * _UNITS[m.group(2)])


def available() -> tuple[int | None, str]:
    """(bytes the host can give the simulator, where that figure comes from); None: no limit."""
    env = os.environ.get(ENV)
    if env is not None:
        return parse_size(env), f"{ENV}={env}"
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024, "MemAvailable in /proc/meminfo"
    except OSError:
        pass
    try:
        pages = os.sysconf("SC_AVPHYS_PAGES")
        return pages * os.sysconf("SC_PAGE_SIZE"), "the free physical memory"
    except (AttributeError, OSError, ValueError):
        return None, "unknown"


def size_text(n: float) -> str:
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{int(n)} B"


def estimate(
    sram_bytes: int,
    buffers: Sequence[tuple[str, int]],
    inputs: int,
    outputs: int,
    op_elements: Sequence[tuple[type[Operation], int]] = (),
) -> dict[str, int]:
    """Host bytes by part: the SRAM image (`sram_bytes`, its blocks' bytes), inputs, outputs, the ops' index maps
    (`INDEX_BYTES_PER_ELEMENT` times the elements of each op's biggest buffer, all PEs) and
    working space (messages in flight and one op's temporaries: 1.5 times the biggest buffer).

    `buffers` holds (name, bytes over all its PEs) for each buffer; `op_elements` (op class,
    elements of its biggest buffer over its PEs) for each op."""
    biggest = max((n for _, n in buffers), default=0)
    return {
        "SRAM image": sram_bytes,
        "inputs": inputs,
        "outputs": outputs,
        "index maps": sum(INDEX_BYTES_PER_ELEMENT.get(op, 0) * n for op, n in op_elements),
        "messages and temporaries": biggest * 3 // 2,
    }


def check(
    sram_bytes: int,
    buffers: Sequence[tuple[str, int]],
    inputs: int,
    outputs: int,
    op_elements: Sequence[tuple[type[Operation], int]] = (),
) -> None:
    """Raise HostMemoryError when the estimate exceeds the memory available."""
    parts = estimate(sram_bytes, buffers, inputs, outputs, op_elements)
    need = sum(parts.values())
    limit, source = available()
    if limit is None or need <= limit:
        return
    name, nbytes = max(buffers, key=lambda b: b[1]) if buffers else ("", 0)
    kind, _, where = name.partition("@")
    detail = ", ".join(f"{k} {size_text(v)}" for k, v in parts.items())
    raise HostMemoryError(
        (f"{where}: " if where else "")
        + f"simulating this program needs about {size_text(need)} of host memory ({detail}; "
        f"the SRAM image holds the bytes buffers use), but {size_text(limit)} is "
        f"available ({source}). The biggest tensor is '{kind}'"
        + (f" made at {where}" if where else "")
        + f" ({size_text(nbytes)}): use smaller tensors, or set {ENV} to a larger size "
        "(or 'off') if the memory is there.",
        location=where,
        needed_bytes=need,
        available_bytes=limit,
    )
