"""The long run of the differential fuzzer (from the repository root):

    python -m tests.fuzz.run --programs 2000 --seed 0 --jobs 1
    python -m tests.fuzz.run --seed 0 --index 17          # one program: its code and outcome
    python -m tests.fuzz.run --programs 300 --mode grad   # one mode only

Modes (--mode, default "mixed": each program's mode is drawn from its seed and index,
tests/fuzz/modes.py MIX):
  value    forward values against a float64 numpy reference, run twice (tests/fuzz/programs.py)
  grad     loss and every leaf's .grad against torch.autograd on the same program text, with
           edge inputs (exact ties, zeros, constant rows, -inf, NaN); sometimes values are read
           (.item(), .numpy(), print, pf.eval) before backward()
  rebuild  a value program, then rebuilt with other data (must hit the compile cache) and with
           other constants (scalars, clamp bounds, pad and fill values): each checked anew
  threads  a grad program and a value program (under no_grad) run alone, then at once from two
           threads: equal results

Program i of a run is `program_for(seed, i, mode=...)` (tests/fuzz/programs.py), whatever
--jobs is, so any failure is reproduced by its seed and index alone. Prints progress, a summary (ops and
evaluations generated, failures by kind) and every failing program as a pytest function
(paste it into tests/unit/test_fuzz_regressions.py). Exit status 1 on any failure.
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures
import signal
import sys
import time
import traceback
from typing import Any

import numpy as np

from tests.fuzz import programs


class Timeout(Exception):
    pass


def _alarm(signum: int, frame: Any) -> None:
    raise Timeout


def run_one(
    seed: int,
    index: int,
    max_ops: int,
    include_known: bool,
    timeout: int = 0,
    minimize: bool = False,
    mode: str = "mixed",
) -> dict[str, Any]:
    """Generate and check program `index`; a plain dict, so that it crosses processes."""
    if include_known:
        programs.AVOID_KNOWN[0] = False
    start = time.perf_counter()
    program = programs.program_for(seed, index, max_ops, mode)
    reproducer = program
    if timeout:
        signal.signal(signal.SIGALRM, _alarm)
        signal.alarm(timeout)
    try:
        outcome = program.run()
        failures = [str(f) for f in outcome.failures]
        kinds = [f.kind for f in outcome.failures]
        skipped = outcome.skipped
        if failures and minimize and hasattr(program, "without"):
            reproducer = programs.minimize(program, outcome)
    except Timeout:
        failures = [f"timeout: the program ran for more than {timeout} s"]
        kinds = ["timeout"]
        skipped = None
    except Exception:  # the fuzzer itself broke: report it like a failure
        failures = ["harness: " + traceback.format_exc()]
        kinds = ["harness"]
        skipped = None
    finally:
        if timeout:
            signal.alarm(0)
    return {
        "index": index,
        "mode": getattr(program, "mode", "value"),
        "known": sorted(program.known_hits),
        "ops": program.op_counts(),
        "evals": len(program.evals),
        "failures": failures,
        "kinds": kinds,
        "skipped": skipped,
        "reproducer": reproducer.describe(f"test_program_for_{seed}_{index}") if failures else "",
        "seconds": time.perf_counter() - start,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.fuzz.run",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--programs", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument("--max-ops", type=int, default=programs.DEFAULT_MAX_OPS)
    parser.add_argument(
        "--mode",
        default="mixed",
        choices=("mixed", "value", "grad", "rebuild", "threads"),
        help="what each program checks (default: mixed, by index)",
    )
    parser.add_argument("--start", type=int, default=0, help="index of the first program")
    parser.add_argument(
        "--index",
        type=int,
        default=None,
        help="run only this program and print it (and its outcome)",
    )
    parser.add_argument(
        "--include-known-bugs",
        action="store_true",
        help="also generate the patterns of programs.KNOWN_BUGS (a failing "
        "program that has one is listed as such)",
    )
    parser.add_argument(
        "--max-reproducers",
        type=int,
        default=20,
        help="print at most this many failing programs in full",
    )
    parser.add_argument(
        "--no-minimize",
        action="store_true",
        help="print failing programs as generated (default: minimized)",
    )
    parser.add_argument(
        "--timeout",
        type=int,
        default=300,
        help="seconds one program may take before it counts as a failure",
    )
    args = parser.parse_args(argv)

    if args.index is not None:
        if args.include_known_bugs:
            programs.AVOID_KNOWN[0] = False
        program = programs.program_for(args.seed, args.index, args.max_ops, args.mode)
        print(program.describe(f"test_program_for_{args.seed}_{args.index}"))
        outcome = program.run()
        print("ok" if outcome.ok else "\n".join(map(str, outcome.failures)))
        if not outcome.ok and not args.no_minimize and hasattr(program, "without"):
            small = programs.minimize(program, outcome)
            print("\nminimized:\n" + small.describe(f"test_program_for_{args.seed}_{args.index}"))
            print("\n".join(map(str, small.run().failures)))
        if outcome.skipped:
            print(f"not checked: {outcome.skipped}")
        print(f"cycles per evaluation: {outcome.cycles[0]} / rerun {outcome.cycles[1]}")
        return 0 if outcome.ok else 1

    disabled = programs.disabled_ops()
    enabled = [s.name for s in programs.enabled_ops()]
    print(
        f"differential fuzzer: {args.programs} programs, seed {args.seed}, mode {args.mode}, "
        f"up to {args.max_ops} ops each, {args.jobs} job(s), target pf.sim.SMALL"
    )
    print(f"ops ({len(enabled)}): {' '.join(enabled)}")
    if disabled:
        print(f"registry entries PyFlame does not have yet: {' '.join(disabled)}")
    if programs.KNOWN_BUGS and not args.include_known_bugs:
        print(f"avoiding {len(programs.KNOWN_BUGS)} known bug(s): {', '.join(programs.KNOWN_BUGS)}")

    indices = range(args.start, args.start + args.programs)
    start = time.perf_counter()
    results: list[dict[str, Any]] = []
    every = max(1, args.programs // 20)

    def progress(result: dict[str, Any]) -> None:
        results.append(result)
        if result["failures"]:
            known = f" [known: {', '.join(result['known'])}]" if result["known"] else ""
            print(
                f"  FAIL program_for({args.seed}, {result['index']}): "
                f"{result['failures'][0].splitlines()[0][:160]}{known}",
                flush=True,
            )
        done = len(results)
        if done % every == 0 or done == args.programs:
            failed = sum(1 for r in results if r["failures"])
            print(
                f"  {done}/{args.programs} programs, {failed} failing, "
                f"{time.perf_counter() - start:.1f} s",
                flush=True,
            )

    if args.jobs > 1:
        with concurrent.futures.ProcessPoolExecutor(args.jobs) as pool:
            futures = [
                pool.submit(
                    run_one,
                    args.seed,
                    i,
                    args.max_ops,
                    args.include_known_bugs,
                    args.timeout,
                    not args.no_minimize,
                    args.mode,
                )
                for i in indices
            ]
            for future in concurrent.futures.as_completed(futures):
                progress(future.result())
    else:
        if args.include_known_bugs:
            programs.AVOID_KNOWN[0] = False
        for i in indices:
            progress(
                run_one(
                    args.seed, i, args.max_ops, False, args.timeout, not args.no_minimize, args.mode
                )
            )
    elapsed = time.perf_counter() - start

    results.sort(key=lambda r: r["index"])
    ops: collections.Counter[str] = collections.Counter()
    for r in results:
        ops.update(r["ops"])
    failing = [r for r in results if r["failures"]]
    kinds = collections.Counter(k for r in failing for k in r["kinds"])
    seconds = np.array([r["seconds"] for r in results])

    print()
    print("summary")
    print(
        f"  programs      {len(results)} (seed {args.seed}, indices {args.start}.."
        f"{args.start + args.programs - 1})"
    )
    modes = collections.Counter(r["mode"] for r in results)
    failing_modes = collections.Counter(r["mode"] for r in results if r["failures"])
    print(
        "  per mode      "
        + ", ".join(f"{m} {n} ({failing_modes[m]} failing)" for m, n in sorted(modes.items()))
    )
    print(
        f"  tensors       {sum(ops.values())} ({sum(r['evals'] for r in results)} evaluation steps)"
    )
    print("  per op        " + ", ".join(f"{k} {v}" for k, v in sorted(ops.items())))
    skipped = [r["index"] for r in results if r["skipped"]]
    known = [r["index"] for r in results if r["skipped"] and "known bug" in r["skipped"]]
    print(
        f"  not checked   {len(skipped)} program(s): {len(skipped) - len(known)} too large "
        f"for SRAM (SRAMOverflowError with a tensor of >= {programs.SRAM_SKIP_BYTES} bytes)"
        f", {len(known)} threads programs while their known bug is avoided"
        + (f": {skipped[:20]}" if skipped else "")
    )
    print(f"  failures      {len(failing)} program(s)" + (f": {dict(kinds)}" if kinds else ""))
    if args.include_known_bugs:
        new = [r["index"] for r in failing if not r["known"]]
        by_bug = collections.Counter(k for r in failing for k in r["known"])
        print(
            f"  of which      {len(failing) - len(new)} have a known bug's pattern "
            f"({dict(by_bug)}), {len(new)} have none: {new[:30]}"
        )
    print(
        f"  time          {elapsed:.1f} s wall, {seconds.sum():.1f} s in programs "
        f"(slowest program {seconds.max():.2f} s: "
        f"{results[int(np.argmax(seconds))]['index']})"
    )
    for r in failing[: args.max_reproducers]:
        print()
        print(f"---- program_for({args.seed}, {r['index']}) ----")
        for f in r["failures"]:
            print("  " + f.replace("\n", "\n  "))
        print(r["reproducer"])
    if len(failing) > args.max_reproducers:
        print(
            f"... and {len(failing) - args.max_reproducers} more failing program(s): "
            f"{[r['index'] for r in failing[args.max_reproducers :]]}"
        )
    return 1 if failing else 0


if __name__ == "__main__":
    sys.exit(main())
