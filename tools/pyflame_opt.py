"""`pyflame-opt`: xdsl-opt with PyFlame's dialects and passes, diagnostics instead of tracebacks.

pyflame-opt model.mlir -p "$(python -c 'from pyflame.compiler import pipeline; print(pipeline())')"
pyflame-opt model.mlir -p decompose,flame-to-mesh,plan-memory --print-ir-after-all
pyflame-opt model.mesh.mlir -p mesh-to-pe -o model.pe.mlir   (a named pipeline, expanded)
pyflame-opt bad.mlir --verify-diagnostics
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from collections.abc import Sequence
from typing import IO

from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Operation
from xdsl.passes import ModulePass, PassPipeline
from xdsl.printer import Printer
from xdsl.universe import Universe
from xdsl.utils.exceptions import ArgSpecParseError
from xdsl.xdsl_opt_main import xDSLOptMain

from pyflame.core.module_checks import verify_module
from pyflame.passes import LIBRARY_PASS_SUMMARIES, PIPELINES, all_passes
from pyflame.tools._context import LocatingParser, SourcePositions, register_pyflame_dialects
from pyflame.tools._diagnostics import emit, format_error, recording_diagnostic_ops

TOOL = "pyflame-opt"
#: the output formats (`-t`) that take PyFlame's dialects
TARGETS = ("mlir",)


class PyFlameOptMain(xDSLOptMain):
    positions: SourcePositions
    failed_ops: list[Operation]
    module: ModuleOp | None = None

    def __init__(self, args: Sequence[str] | None = None):
        self.positions = {}
        self.failed_ops = []
        self._line_offset = 0
        super().__init__(description="PyFlame modular optimizer driver", args=args)

    def register_all_dialects(self) -> None:
        super().register_all_dialects()
        register_pyflame_dialects(self.ctx)

    def register_all_passes(self) -> None:
        # PyFlame's passes first (and winning any name clash), so `--help` lists them first
        for name, loader in all_passes().items():
            self.register_pass(name, loader)
        for name, loader in Universe.get_multiverse().all_passes.items():
            if name not in self.available_passes:
                self.register_pass(name, loader)

    def register_all_targets(self) -> None:
        # Only MLIR text: xDSL's other targets (csl, llvm, riscv-asm, wgsl, ...) take their own
        # dialects, not flame/mesh/pe; on PyFlame's IR they print nothing or fail internally.
        self.available_targets = {name: self._xdsl_target(name) for name in TARGETS}

    @staticmethod
    def _xdsl_target(name: str):
        return Universe.get_multiverse().all_targets[name]

    def register_all_frontends(self) -> None:
        super().register_all_frontends()
        self.available_frontends["mlir"] = self._parse_mlir

    def register_all_arguments(self, arg_parser: argparse.ArgumentParser) -> None:
        super().register_all_arguments(arg_parser)
        ours = list(all_passes())
        others = [name for name in self.available_passes if name not in ours]
        for action in arg_parser._actions:
            if action.dest == "passes":
                action.help = (
                    f"Comma-separated pass pipeline. PyFlame's passes (described above): "
                    f"{', '.join(ours)}; named pipelines: {', '.join(PIPELINES)}. "
                    f"xDSL's {len(others)} generic passes work too: " + ", ".join(others)
                )
            elif action.dest == "target":
                action.help = (
                    f"Output format: {', '.join(TARGETS)} (PyFlame's IR as MLIR text; xDSL's "
                    "code generators such as csl or llvm do not take PyFlame's dialects; run a "
                    "program with pyflame-run)"
                )
        arg_parser.formatter_class = argparse.RawDescriptionHelpFormatter
        plain_help = arg_parser.format_help

        def format_help() -> str:  # the passes are loaded only when --help asks for them
            arg_parser.description = _description_with_passes(arg_parser.description or "")
            return plain_help()

        # argparse has no hook for a help text made on demand: replace the bound method
        arg_parser.format_help = format_help  # type: ignore[method-assign]  # help made on demand, see the comment above
        arg_parser.add_argument(
            "--print-ir-after-all",
            default=False,
            action="store_true",
            help="Print the IR to stderr after each pass (like mlir-opt)",
        )

    def get_input_stream(self) -> tuple[IO[bytes], str]:
        # Any file extension is textual IR, as for mlir-opt.
        f, extension = super().get_input_stream()
        return f, extension if extension in self.available_frontends else "mlir"

    def parse_chunk(
        self, chunk: IO[bytes], file_extension: str, start_offset: int = 0
    ) -> ModuleOp | None:
        self.positions.clear()
        self.failed_ops.clear()
        self.module = None
        self._line_offset = start_offset
        return super().parse_chunk(chunk, file_extension, start_offset)

    def _parse_mlir(self, io: IO[bytes]) -> ModuleOp:
        parser = LocatingParser(
            self.ctx, io.read(), self.get_input_name(), self.positions, self._line_offset
        )
        return parser.parse_module(not self.args.no_implicit_module)

    def setup_pipeline(self) -> None:
        self.args.passes = expand_pipelines(self.args.passes)
        super().setup_pipeline()
        verify_and_time = self.pipeline.callback

        def callback(prev: ModulePass | None, module: ModuleOp, next: ModulePass | None) -> None:
            if verify_and_time is not None:
                verify_and_time(prev, module, next)
            if not self.args.disable_verify:
                verify_module(module)  # function signatures and flame.* attributes
            if prev is not None and self.args.print_ir_after_all:
                print(f"// -----// IR Dump After {prev.name} //----- //", file=sys.stderr)
                Printer(
                    stream=sys.stderr,
                    print_generic_format=self.args.print_op_generic,
                    print_debuginfo=self.args.print_debuginfo,
                ).print_op(module)
                print("\n", file=sys.stderr)

        self.pipeline = PassPipeline(self.pipeline.passes, callback)

    def apply_passes(self, prog: ModuleOp) -> None:
        self.module = prog
        super().apply_passes(prog)


def expand_pipelines(spec: str) -> str:
    """`spec` with every named pipeline of `PIPELINES` (e.g. `mesh-to-pe`) replaced by its passes;
    commas inside a pass's `{options}` are left alone."""
    items: list[str] = []
    depth, start = 0, 0
    for i, char in enumerate(spec + ","):
        if char in "{":
            depth += 1
        elif char == "}":
            depth -= 1
        elif char == "," and depth == 0:
            items.append(spec[start:i])
            start = i + 1
    if depth != 0:
        return spec  # malformed: xDSL's parser reports where
    return ",".join(PIPELINES.get(item.strip(), item) for item in items)


def _description_with_passes(description: str) -> str:
    """The tool's description, then PyFlame's passes in pipeline order, one line each."""
    lines = [description, "", "PyFlame's passes (-p NAME[,NAME...]), in pipeline order:"]
    for name, loader in all_passes().items():
        doc = " ".join((loader().__doc__ or LIBRARY_PASS_SUMMARIES.get(name, "")).split())
        lines.append(
            textwrap.fill(doc, 96, initial_indent=f"  {name:<17} ", subsequent_indent=" " * 20)
        )
    lines += ["", "Named pipelines (-p NAME, expanded to their passes):"]
    for name, spec in PIPELINES.items():
        lines.append(f"  {name:<17} {spec}")
    lines += [
        "",
        "pyflame-opt model.mlir -p lower-to-mesh,mesh-to-pe -o model.pe.mlir  (what pf.eval runs)",
        "pyflame-opt bad.mlir --verify-diagnostics",
    ]
    return "\n".join(lines)


def _status(e: SystemExit) -> int:
    """argparse exits 0 for --help and 2 for usage errors; every error is status 1 here."""
    if e.code is None or e.code == 0:
        return 0
    return e.code if isinstance(e.code, int) and e.code != 2 else 1


def main(argv: Sequence[str] | None = None) -> int:
    """Run `pyflame-opt`; returns the exit status (0, or 1 after printing a diagnostic)."""
    try:
        opt = PyFlameOptMain(args=argv)
    except SystemExit as e:
        return _status(e)
    except ValueError as e:  # unknown pass, bad pass option
        return emit(f"{TOOL}: error: {e}")
    except Exception as e:  # noqa: BLE001  (the tool's last resort: a diagnostic, not a crash)
        return emit(format_error(e, tool=TOOL, input_name="<input>"))
    except ArgSpecParseError as e:  # malformed pipeline; a BaseException in xDSL
        return emit(format_error(e, tool=TOOL, input_name="<input>"))

    with recording_diagnostic_ops(opt.failed_ops):
        try:
            opt.run()
        except SystemExit as e:  # --shrink
            return _status(e)
        except Exception as e:  # noqa: BLE001  (the tool's last resort: a diagnostic, not a crash)
            return emit(
                format_error(
                    e,
                    tool=TOOL,
                    input_name=opt.get_input_name(),
                    positions=opt.positions,
                    failed_ops=opt.failed_ops,
                    module=opt.module,
                )
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
