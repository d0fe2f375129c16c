"""`pyflame-run`: run a module's `@main` on the simulated machine and print outputs and the report.

    pyflame-run model.mlir --input a=a.npy --input b=b.npy
    pyflame-run model.mlir --seed 0 --report json
    pyflame-run model.mlir --seed 0 --plot report.png
    pyflame-run model.mlir --seed 0 --target small
    pyflame-run model.mlir --list-inputs

Whatever is not yet at the pe level is lowered first, including pe IR stopped after
`lower-mesh-to-pe` (colors and SRAM offsets not yet allocated). Inputs are named after `@main`'s
arguments (`%a` -> `--input a=a.npy`); inputs not given are drawn at random from `--seed`.

A `.npy` input must have the argument's shape and hold its element type by `pf.from_numpy`'s
rules: float32, float16, bfloat16, int32 and bool as they are; other integer widths as int32 when
their values fit; float64 is refused (save `a.astype(np.float32)`). User mistakes are one
`pyflame-run: error: ...` line on stderr and exit status 1, never a traceback. With
`--report json`, stdout holds only the report's JSON (the outputs' summaries go to stderr).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import numpy as np
from xdsl.dialects import func
from xdsl.dialects.builtin import (
    FileLineColLoc,
    IntAttr,
    IntegerType,
    ModuleOp,
    StringAttr,
    TensorType,
    UnknownLoc,
)
from xdsl.ir import SSAValue

from pyflame.compiler import make_context
from pyflame.core.module_checks import verify_module
from pyflame.tools._context import LocatingParser, SourcePositions
from pyflame.tools._diagnostics import emit, format_error, recording_diagnostic_ops

if TYPE_CHECKING:
    from pyflame.core.dtypes import DType

TOOL = "pyflame-run"
#: exit status after the reader of stdout went away (`pyflame-run ... | head -1`): 128 + SIGPIPE,
#: what a shell reports for a tool the signal ended
BROKEN_PIPE_STATUS = 141


class UsageError(Exception):
    """A bad command line (an input that cannot be read, an unknown name)."""


#: the name each value was written with (`%a_1`: xDSL's name hint drops the `_1`)
WrittenNames = dict[SSAValue, str]


class _NamingParser(LocatingParser):
    """Also records the name each value is written with, so that `--input a_1=...` finds `%a_1`
    (xDSL keeps `a` as its name hint and prints `%a_1` only when another `%a` comes first)."""

    def __init__(self, *args, names: WrittenNames, **kwargs):
        super().__init__(*args, **kwargs)
        self.names = names

    def _register_ssa_definition(self, name: str, values: Sequence[SSAValue], span) -> None:
        if len(values) == 1:
            self.names[values[0]] = name
        super()._register_ssa_definition(name, values, span)


def _seed(text: str) -> int:
    try:
        value = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got '{text}'") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {value}")
    return value


class _ArgumentParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        """One `pyflame-run: error: ...` line (and the usage), exit status 1 like other errors."""
        self.print_usage(sys.stderr)
        self.exit(1, f"{self.prog}: error: {message}\n")


def _arg_parser() -> argparse.ArgumentParser:
    from pyflame.core.target import PRESETS

    targets = ", ".join(name.lower() for name in PRESETS)
    p = _ArgumentParser(
        prog=TOOL,
        description="Run a PyFlame module's @main on the simulated machine.",
        epilog=f"targets: {targets} (default: the module's pf.target attribute, else wse2)",
    )
    p.add_argument("file", help="textual IR (flame, mesh or pe level)")
    p.add_argument(
        "--input",
        action="append",
        default=[],
        metavar="NAME=PATH.npy",
        help="value of @main's argument %%NAME (repeatable, once per name; see --list-inputs)",
    )
    p.add_argument("--seed", type=_seed, default=None, help="seed (>= 0) for the inputs not given")
    p.add_argument(
        "--report",
        choices=("text", "json"),
        default="text",
        help="json: stdout holds only the report's JSON; output summaries go to stderr",
    )
    p.add_argument(
        "--plot",
        default=None,
        metavar="PATH",
        help="write the report's heatmaps and the timeline of one PE row to PATH (PNG)",
    )
    p.add_argument(
        "--target",
        default=None,
        metavar="NAME",
        help=f"target preset, overriding the module's: {targets}",
    )
    p.add_argument(
        "--list-inputs",
        action="store_true",
        help="print @main's arguments (name, type) and exit",
    )
    return p


def read_inputs(specs: Sequence[str]) -> dict[str, np.ndarray]:
    inputs: dict[str, np.ndarray] = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            raise UsageError(f"--input expects NAME=PATH.npy, got '{spec}'")
        if name in inputs:
            raise UsageError(f"--input {name} is given twice: give each input once")
        try:
            inputs[name] = np.load(path, allow_pickle=False)
        except OSError as e:
            raise UsageError(f"cannot read input '{name}' from '{path}': {e.strerror or e}") from e
        except ValueError as e:
            raise UsageError(f"cannot read input '{name}' from '{path}': {e}") from e
        if not isinstance(inputs[name], np.ndarray):  # an .npz archive
            raise UsageError(f"input '{name}': '{path}' is not a .npy array file")
    return inputs


def find_main(module: ModuleOp, file: str) -> func.FuncOp:
    for op in module.walk():
        if isinstance(op, func.FuncOp) and op.sym_name.data == "main":
            if not op.body.blocks:
                raise UsageError(f"{file}: @main is only declared; pyflame-run needs its body")
            return op
    raise UsageError(f"{file}: no func.func @main to run")


def main_arguments(main: func.FuncOp, names: WrittenNames) -> list[tuple[str, object]]:
    """(name as written, type) of each of @main's arguments (`arg3` for one without a name)."""
    args = main.body.blocks[0].args
    return [(names.get(a) or a.name_hint or f"arg{i}", a.type) for i, a in enumerate(args)]


def list_inputs(main: func.FuncOp, names: WrittenNames) -> str:
    """One line per argument of @main: `%x0: tensor<2x3xf32>  (--input x0=PATH.npy: ...)`."""
    from pyflame.core import dtypes

    lines = []
    for name, typ in main_arguments(main, names):
        if isinstance(typ, TensorType):
            d = next((d for d in dtypes.ALL if d.mlir == typ.element_type), None)
            what = f"shape {list(typ.get_shape())}, {d.name if d else typ.element_type}"
        elif isinstance(typ, IntegerType):
            what = "one integer, a random op's seed"
        else:
            what = "not an input pyflame-run can give"
        lines.append(f"%{name}: {typ}  (--input {name}=PATH.npy: {what})")
    return "\n".join(lines) or "@main takes no arguments"


def _pf_dtype_of(array: np.ndarray, name: str, path: str) -> DType:
    """The PyFlame dtype `pf.from_numpy` would give this array (its refusals, as UsageError)."""
    from pyflame.core import dtypes

    d = dtypes.from_numpy_dtype(array.dtype)
    if d is None and array.dtype.kind in "iu":
        info = np.iinfo(np.int32)
        if array.size and (array.min() < info.min or array.max() > info.max):
            raise UsageError(
                f"input '{name}' ({path}): {array.dtype} values in [{array.min()}, {array.max()}] "
                "do not fit int32, the widest integer type PyFlame holds"
            )
        d = dtypes.int32
    if d is None:
        hint = " (save a.astype(np.float32))" if array.dtype.kind == "f" else ""
        raise UsageError(
            f"input '{name}' ({path}): PyFlame cannot hold {array.dtype} data{hint}; "
            "supported: float32, float16, bfloat16, int32, bool"
        )
    return d


def check_inputs(
    main: func.FuncOp, names: WrittenNames, inputs: dict[str, np.ndarray], specs: Sequence[str]
) -> None:
    """Refuse unknown names, wrong shapes and element types, before anything is compiled."""
    from pyflame.core import dtypes

    paths = dict(spec.partition("=")[::2] for spec in specs)
    args = dict(main_arguments(main, names))
    unknown = sorted(set(inputs) - set(args))
    if unknown:
        takes = ", ".join(args) or "no arguments"
        raise UsageError(
            f"@main has no argument named {', '.join(unknown)} (it takes: {takes}; "
            "see --list-inputs)"
        )
    for name, array in inputs.items():
        typ, path = args[name], paths[name]
        if isinstance(typ, TensorType):
            shape = list(typ.get_shape())
            if list(array.shape) != shape:
                raise UsageError(
                    f"input '{name}' ({path}) has shape {list(array.shape)}, but %{name} is "
                    f"{typ} (shape {shape})"
                )
            have = _pf_dtype_of(array, name, path)
            want = next((d for d in dtypes.ALL if d.mlir == typ.element_type), None)
            if have is not want:
                hint = f" (save a.astype(np.{want.numpy.name}))" if want is not None else ""
                raise UsageError(
                    f"input '{name}' ({path}) holds {array.dtype}, but %{name} is {typ}: "
                    f"PyFlame does not convert inputs{hint}"
                )
            if array.dtype != have.numpy:  # lossless: int64 values that fit int32
                inputs[name] = array.astype(have.numpy)
        elif isinstance(typ, IntegerType):
            if array.size != 1 or array.dtype.kind not in "iu":
                raise UsageError(
                    f"input '{name}' ({path}): %{name} is an {typ} scalar; give a .npy holding "
                    f"one integer, not {array.dtype} of shape {list(array.shape)}"
                )
            value = int(array.reshape(()))
            if not 0 <= value < 2**63:
                raise UsageError(f"input '{name}' ({path}): seed {value} is not in [0, 2**63)")


def arguments(
    main: func.FuncOp, names: WrittenNames, inputs: dict[str, np.ndarray], seed: int | None
) -> list[np.ndarray | int]:
    """@main's arguments in order: the given inputs, the others drawn from `seed` (as
    `pyflame.compiler.run_module` draws them: normal floats, small ints, seeds in [0, 2**31))."""
    from pyflame import compiler
    from pyflame.core import dtypes

    rng = np.random.default_rng(seed)
    out: list[np.ndarray | int] = []
    for name, typ in main_arguments(main, names):
        given = inputs.get(name)
        if isinstance(typ, TensorType):
            d = next((d for d in dtypes.ALL if d.mlir == typ.element_type), None)
            if d is None:
                raise UsageError(f"%{name}: PyFlame cannot run {typ} (its element type)")
            if given is None:
                given = compiler._random_array(rng, tuple(typ.get_shape()), d.numpy)
            out.append(np.ascontiguousarray(given, dtype=d.numpy))
        elif isinstance(typ, IntegerType):
            out.append(int(rng.integers(0, 2**31)) if given is None else int(given.reshape(())))
        else:
            raise UsageError(f"%{name}: pyflame-run cannot give an argument of type {typ}")
    return out


def locate_ops(module: ModuleOp, positions: SourcePositions) -> None:
    """Give each op without a `loc(...)` its position in the input file (as mlir-opt does), so
    that errors of later passes and of the simulator name `file:line:col`; a function's
    arguments without one get the function's."""
    for op, span in positions.items():
        if isinstance(op.location, UnknownLoc):
            where = span.get_location()
            op.location = FileLineColLoc(
                StringAttr(where.file), IntAttr(where.line), IntAttr(where.col)
            )
        if isinstance(op, func.FuncOp) and op.body.blocks:
            for arg in op.body.blocks[0].args:
                if isinstance(arg.location, UnknownLoc):
                    arg.location = op.location


def finish_lowering(module: ModuleOp) -> None:
    """Lower to pe, then run what pe IR stopped after `lower-mesh-to-pe` still lacks:
    allocate-colors and allocate-sram when a buffer has no SRAM offset, allocate-colors when a
    color is past the target's."""
    from pyflame.compiler import lower, make_context
    from pyflame.core.target import Target
    from pyflame.dialects import pe
    from pyflame.passes.allocate_colors import AllocateColorsPass
    from pyflame.passes.allocate_sram import AllocateSRAMPass

    lower(module, "pe")
    ops = list(module.walk())
    no_offset = any(isinstance(op, pe.AllocOp) and op.byte_offset is None for op in ops)
    colors = Target.of_module(module).num_colors
    virtual = any(isinstance(op, pe._ChannelOp) and op.color_id >= colors for op in ops)
    ctx = make_context()
    if no_offset or virtual:
        AllocateColorsPass().apply(ctx, module)
    if no_offset:
        AllocateSRAMPass().apply(ctx, module)


def set_target(module: ModuleOp, name: str) -> None:
    from pyflame.core.target import PRESETS, TARGET_ATTR

    preset = PRESETS.get(name.upper())
    if preset is None:
        known = ", ".join(n.lower() for n in PRESETS)
        raise UsageError(f"--target: unknown target '{name}' (known: {known})")
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
    names: WrittenNames = {}
    module: ModuleOp | None = None
    with recording_diagnostic_ops() as failed_ops:
        try:
            inputs = read_inputs(args.input)
            text = Path(args.file).read_bytes()
            parser = _NamingParser(make_context(), text, args.file, positions, names=names)
            module = parser.parse_module()
            module.verify()
            verify_module(module)  # signatures, flame.* attributes and pf.target, as pyflame-opt
            locate_ops(module, positions)
            main_fn = find_main(module, args.file)
            if args.list_inputs:
                return _print_out([list_inputs(main_fn, names)])
            check_inputs(main_fn, names, inputs, args.input)
            values = arguments(main_fn, names, inputs, args.seed)
            if args.target is not None:
                set_target(module, args.target)
            finish_lowering(module)

            from pyflame.sim.planner import compile_plan

            outputs, report = compile_plan(module).run(values)
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

    lines = [describe(i, out) for i, out in enumerate(outputs)]
    if args.plot is not None:
        try:
            report.plot(args.plot)
        except OSError as e:
            return emit(f"{TOOL}: error: cannot write the plot to {args.plot}: {e.strerror}")
        print(f"{TOOL}: plot written to {args.plot}", file=sys.stderr)
    if args.report == "json":
        print("\n".join(lines), file=sys.stderr)
        return _print_out([report.to_json()])
    return _print_out([*lines, report.summary()])


def _print_out(lines: Sequence[str]) -> int:
    """Print to stdout; a reader that went away (`| head -1`) ends the tool quietly, like a
    command killed by SIGPIPE."""
    try:
        for line in lines:
            print(line)
        sys.stdout.flush()
    except BrokenPipeError:
        # Python flushes stdout again at exit: point it at /dev/null so that fails quietly too
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return BROKEN_PIPE_STATUS
    return 0


if __name__ == "__main__":
    sys.exit(main())
