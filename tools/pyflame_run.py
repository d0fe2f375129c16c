"""`pyflame-run`: run a module's `@main` on the simulated machine and print outputs and the report.

    pyflame-run model.mlir --input a=a.npy --input b=b.npy
    pyflame-run model.mlir --seed 0 --report json
    pyflame-run model.mlir --seed 0 --target small

Whatever is not yet at the pe level is lowered first. Inputs are named after `@main`'s arguments
(`%a` -> `--input a=a.npy`); inputs not given are drawn at random from `--seed`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp

from pyflame.compiler import make_context
from pyflame.tools._context import SourcePositions, parse_module
from pyflame.tools._diagnostics import emit, format_error, recording_diagnostic_ops

TOOL = "pyflame-run"


class UsageError(Exception):
    """A bad command line (an input that cannot be read, an unknown name)."""


def _arg_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=TOOL, description="Run a PyFlame module's @main on the simulated machine."
    )
    p.add_argument("file", help="textual IR (flame, mesh or pe level)")
    p.add_argument(
        "--input",
        action="append",
        default=[],
        metavar="NAME=PATH.npy",
        help="value of @main's argument %%NAME (repeatable)",
    )
    p.add_argument("--seed", type=int, default=None, help="seed for inputs not given")
    p.add_argument("--report", choices=("text", "json"), default="text")
    p.add_argument(
        "--target", default=None, metavar="NAME", help="target preset (overrides the module's)"
    )
    return p


def read_inputs(specs: Sequence[str]) -> dict[str, np.ndarray]:
    inputs: dict[str, np.ndarray] = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            raise UsageError(f"--input expects NAME=PATH.npy, got '{spec}'")
        try:
            inputs[name] = np.load(path, allow_pickle=False)
        except OSError as e:
            raise UsageError(f"cannot read input '{name}' from '{path}': {e.strerror or e}") from e
        except ValueError as e:
            raise UsageError(f"cannot read input '{name}' from '{path}': {e}") from e
    return inputs


def check_input_names(module: ModuleOp, inputs: dict[str, np.ndarray]) -> None:
    """Refuse input names `@main` has no argument for (when its arguments are all named)."""
    main = next(
        (op for op in module.walk() if isinstance(op, func.FuncOp) and op.sym_name.data == "main"),
        None,
    )
    if main is None or not main.body.blocks:
        return
    names = [arg.name_hint for arg in main.body.blocks[0].args]
    if any(n is None for n in names):
        return
    unknown = sorted(set(inputs) - set(names))  # type: ignore[arg-type]
    if unknown:
        takes = ", ".join(str(n) for n in names) or "no arguments"
        raise UsageError(f"@main has no argument named {', '.join(unknown)} (it takes: {takes})")


def set_target(module: ModuleOp, name: str) -> None:
    from pyflame.sim.target import PRESETS, TARGET_ATTR

    preset = PRESETS.get(name.upper())
    if preset is None:
        raise UsageError(f"unknown target '{name}' (known: {', '.join(PRESETS)})")
    module.attributes[TARGET_ATTR] = preset.to_attr()


def describe(index: int, array: np.ndarray) -> str:
    """`output N: shape=(..), dtype=.., values=[first, ..., last], min=.., max=.., mean=..`."""
    a = np.asarray(array)
    with np.printoptions(threshold=8, edgeitems=3, precision=5, linewidth=10_000):
        values = np.array2string(a.reshape(-1), separator=", ")
    text = f"output {index}: shape={a.shape}, dtype={a.dtype}, values={values}"
    if a.size and a.dtype.kind in "fiu":
        f = a.astype(np.float64)
        text += f", min={f.min():.6g}, max={f.max():.6g}, mean={f.mean():.6g}"
    elif a.size and a.dtype.kind == "b":
        text += f", true={int(a.sum())}/{a.size}"
    return text


def main(argv: Sequence[str] | None = None) -> int:
    """Run `pyflame-run`; returns the exit status (0, or 1 after printing a diagnostic)."""
    try:
        args = _arg_parser().parse_args(argv)
    except SystemExit as e:
        return 0 if e.code in (0, None) else 1

    positions: SourcePositions = {}
    module: ModuleOp | None = None
    with recording_diagnostic_ops() as failed_ops:
        try:
            inputs = read_inputs(args.input)
            text = Path(args.file).read_bytes()
            module = parse_module(make_context(), text, args.file, positions)
            module.verify()
            check_input_names(module, inputs)
            if args.target is not None:
                set_target(module, args.target)

            from pyflame.compiler import run_module

            outputs, report = run_module(module, inputs, args.seed)
        except UsageError as e:
            return emit(f"{TOOL}: error: {e}")
        except Exception as e:  # noqa: BLE001  (the tool's last resort: a diagnostic, not a crash)
            return emit(
                format_error(
                    e,
                    tool=TOOL,
                    input_name=args.file,
                    positions=positions,
                    failed_ops=failed_ops,
                    module=module,
                )
            )

    for i, out in enumerate(outputs):
        print(describe(i, out))
    print(report.to_json() if args.report == "json" else report.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
