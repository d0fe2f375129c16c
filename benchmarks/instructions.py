"""A cached program's host cost counted by callgrind: the same count on a loaded machine.

    python benchmarks/instructions.py mlp              # one MLP 784-256-10 training step
    python benchmarks/instructions.py mlp --steps 5 --frontend   # its frontend alone
    python benchmarks/instructions.py mlp-torch        # the same step in PyTorch eager
    python benchmarks/instructions.py mlp-forward      # its forward alone, host parameters
    python benchmarks/instructions.py gemm --steps 1   # GEMM 1024^3 on 32x32 PEs

Wall time on this shared machine moves by 20-40% from run to run (other tenants' load and
their use of the shared cache), more than most changes to the simulator are worth, so an A/B
of two worktrees by `host_speed.py` or `step_times.py` often cannot tell them apart. This
runs the program under `valgrind --tool=callgrind` with its cache simulation: the steps after
a warm-up (uninstrumented: the compile is not counted) are counted instruction by instruction,
with the misses of a first-level data cache and of a last level the size of this machine's
per-core L2 (1 MiB: data from the shared L3 then costs tens of cycles). It prints, per step,
the instructions (Ir), both levels' misses and `estimate` = Ir + 10 L1 misses + 40 L2 misses,
a cycle count that weighs the misses roughly as an AMD Zen core does (prefetched streams cost
less: compare estimates of like code, not against wall time; and valgrind counts each byte
of a `rep movsb` / `rep stosb`, glibc's large memcpy and memset, as an instruction). The
counts repeat to a few parts in a thousand whatever else runs. `--frontend` counts the frontend alone (graph
building, autograd, trace, cache lookup): `Executable.run` returns its first results again.
`mlp-torch` counts PyTorch's step (one thread), for a ratio of estimates beside
`host_speed.py`'s ratio of times.

Needs valgrind (callgrind_control too). About 100x slower than the program: a few MLP steps
take 1-2 minutes.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Callable

#: the last level of the simulated caches: this machine's per-core L2 (bytes, ways, line)
LAST_LEVEL = "1048576,16,64"

#: the estimate's weights of a first-level miss and a last-level one, in cycles
L1_MISS_CYCLES, LAST_LEVEL_MISS_CYCLES = 10, 40


def programs() -> dict[str, Callable[[], Callable[[], object]]]:
    import host_speed  # (benchmarks/: the same programs; imported under valgrind only)

    def torch_mlp() -> Callable[[], object]:
        import torch

        torch.set_num_threads(1)
        _, xs, ys = host_speed.mlp_program()
        return host_speed.torch_mlp_program(xs, ys)

    return {
        "gemm": lambda: host_speed.gemm_program()[0],
        "mlp": lambda: host_speed.mlp_program()[0],
        "mlp-forward": host_speed.mlp_forward_program,
        "mlp-torch": torch_mlp,
    }


def counted(program: str, steps: int, frontend: bool) -> None:
    """Run `program` under callgrind's instrumentation for `steps` steps (this process is
    valgrind's guest)."""
    import threadpoolctl

    from pyflame.sim import executable, threads

    warnings.simplefilter("ignore")
    threads.thread_count = lambda: 1  # type: ignore[assignment]  # (one thread: one count)
    with threadpoolctl.threadpool_limits(1):
        step = programs()[program]()
        for _ in range(3):  # compiled, SRAM pooled, scratch arrays made
            step()
        if frontend:
            plain = executable.Executable.run
            first: dict[int, object] = {}

            def run(self, args=(), keep_tiles=()):  # type: ignore[no-untyped-def]
                if id(self) not in first:
                    first[id(self)] = plain(self, args, keep_tiles)
                return first[id(self)]

            executable.Executable.run = run  # type: ignore[method-assign]
            step()
        toggle = ["callgrind_control", "-i"]
        subprocess.run([*toggle, "on", str(os.getpid())], capture_output=True, check=True)
        for _ in range(steps):
            step()
        subprocess.run([*toggle, "off", str(os.getpid())], capture_output=True, check=True)


def totals(path: str) -> dict[str, int]:
    """The event totals of a callgrind output file (its last `totals:` or `summary:` line)."""
    events: list[str] = []
    counts: list[int] | None = None
    for line in open(path):
        if line.startswith("events:"):
            events = line.split()[1:]
        elif line.startswith(("summary:", "totals:")):
            counts = [int(x) for x in line.split()[1:]]  # (trailing zeros left out)
    if counts is None:
        raise RuntimeError(f"no totals in {path}")
    return {e: counts[i] if i < len(counts) else 0 for i, e in enumerate(events)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("program", choices=("gemm", "mlp", "mlp-forward", "mlp-torch"))
    parser.add_argument("--steps", type=int, default=3, help="steps counted (default 3)")
    parser.add_argument("--frontend", action="store_true", help="the frontend alone")
    parser.add_argument("--guest", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.guest:
        counted(args.program, args.steps, args.frontend)
        return
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        sys.exit("instructions.py needs valgrind (callgrind and callgrind_control)")
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "callgrind.out")
        command = [
            "valgrind",
            "--tool=callgrind",
            "--instr-atstart=no",
            "--cache-sim=yes",
            f"--LL={LAST_LEVEL}",
            f"--callgrind-out-file={out}",
            sys.executable,
            os.path.abspath(__file__),
            args.program,
            f"--steps={args.steps}",
            "--guest",
            *(["--frontend"] if args.frontend else []),
        ]
        subprocess.run(command, check=True, capture_output=True)
        t = totals(out)
    n = args.steps
    l1 = t.get("D1mr", 0) + t.get("D1mw", 0) + t.get("I1mr", 0)
    last = t.get("DLmr", 0) + t.get("DLmw", 0) + t.get("ILmr", 0)
    estimate = t["Ir"] + L1_MISS_CYCLES * l1 + LAST_LEVEL_MISS_CYCLES * last
    what = f"{args.program}{' frontend' if args.frontend else ''}"
    print(
        f"{what}, per step: Ir {t['Ir'] / n / 1e6:.2f} M, L1 misses {l1 / n / 1e3:.0f} K, "
        f"L2 misses {last / n / 1e3:.0f} K, estimate {estimate / n / 1e6:.2f} M cycles"
    )


if __name__ == "__main__":
    main()
