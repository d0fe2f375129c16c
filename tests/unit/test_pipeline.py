"""`compiler.pipeline()` is exactly what `pf.eval` runs: `pyflame-opt -p "$(pipeline)"` on a
program's flame IR prints the pe IR that `pf.ir(..., stage="pe")` and `pf.eval` compile, for the
examples' graphs, the lit suite's flame inputs, a sample of the fuzzer's programs, and programs
whose small tensors do not fit PE (0, 0) under the default single-PE budget (plan-placement's
choice, which a retry loop inside the compiler made before, out of pyflame-opt's sight)."""

from __future__ import annotations

import contextlib
import importlib
import io
import runpy
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from xdsl.dialects.builtin import ModuleOp

import pyflame as pf
from pyflame import compiler, runtime
from pyflame.tools import pyflame_opt
from pyflame.tools._context import parse_module

ROOT = Path(__file__).resolve().parents[2]


def fuzz_programs() -> Any:
    """The fuzzer's program generator (tests/fuzz/programs.py: in the checkout, not the package)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    return importlib.import_module("tests.fuzz.programs")


def opt(text: str, tmp_path: Path, spec: str) -> str:
    """`pyflame-opt FILE -p SPEC --print-debuginfo` in-process, as pf.ir prints (locations)."""
    path = tmp_path / "input.mlir"
    path.write_text(text)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = pyflame_opt.main([str(path), "-p", spec, "--print-debuginfo"])
    assert status == 0
    return out.getvalue().rstrip("\n") + "\n"


@pytest.fixture
def compiled_by_opt_too(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[list[str]]:
    """Every program pf.eval compiles is also lowered by pyflame-opt with the pipeline string;
    the two pe modules must print the same. Yields the flame texts checked."""
    checked: list[str] = []
    original = compiler.compile_module

    def compile_module(module: ModuleOp):
        flame = runtime._print(module)
        program = original(module)
        if compiler.stage_of(module) == "pe" and "flame." in flame:
            assert opt(flame, tmp_path, compiler.pipeline()) == runtime._print(module)
            checked.append(flame)
        return program

    monkeypatch.setattr(compiler, "compile_module", compile_module)
    pf.cache_clear()
    yield checked
    pf.cache_clear()


def placement(text: str) -> str:
    return text.splitlines()[0].partition("pf.placement = ")[2].rstrip(" {}")


def test_quickstart_example(compiled_by_opt_too: list[str], capsys) -> None:
    runpy.run_path(str(ROOT / "examples" / "quickstart.py"), run_name="__main__")
    assert "matches numpy: True" in capsys.readouterr().out
    assert compiled_by_opt_too  # the example's pf.eval went through the check


@pytest.mark.parametrize("index", [0, 3, 7, 12, 21])
def test_fuzzer_programs(index: int, compiled_by_opt_too: list[str]) -> None:
    outcome = fuzz_programs().program_for(1000, index).run()
    assert outcome.ok, outcome.report()
    assert compiled_by_opt_too


@pytest.mark.parametrize(
    "shape, count, budget",
    [((64, 64), 4, 4096), ((32, 32), 12, 1024), ((16, 16), 48, 0)],
    ids=["16KiB-each", "4KiB-each", "1KiB-each"],
)
def test_many_small_tensors_get_a_smaller_single_pe_budget(
    shape: tuple[int, int], count: int, budget: int, tmp_path: Path
) -> None:
    """`count` tensors that nobody placed, each small enough for one PE at 16 KiB, but all live
    at once: together they overflow PE (0, 0) until the budget drops to `budget`."""
    with pf.target(pf.sim.SMALL):
        xs = [pf.from_numpy(np.full(shape, i, np.float32)) for i in range(count)]
        ys = [x * 2 for x in xs]
        flame = pf.ir(*ys, stage="flame")
        pe = pf.ir(*ys, stage="pe")
    assert placement(pe) == f"#pf.placement<single_pe_bytes = {budget}>"
    assert opt(flame, tmp_path, compiler.pipeline()) == pe
    # flame-to-mesh follows the recorded budget: no plan-placement needed to rerun the lowering
    recorded = flame.replace(
        '#pf.target<"small">}',
        f'#pf.target<"small">, pf.placement = #pf.placement<single_pe_bytes = {budget}>}}',
        1,
    )
    spec = compiler.pipeline().replace("plan-placement,", "")
    assert opt(recorded, tmp_path, spec) == pe


def test_many_small_tensors_run(compiled_by_opt_too: list[str]) -> None:
    with pf.target(pf.sim.SMALL):
        xs = [pf.from_numpy(np.full((64, 64), i, np.float32)) for i in range(4)]
        y = xs[0] * xs[1] + xs[2] * xs[3]
        pf.eval(y)
    np.testing.assert_array_equal(y.numpy(), np.full((64, 64), 6, np.float32))
    assert len(compiled_by_opt_too) == 1


def test_nothing_fits_reports_the_first_budgets_error() -> None:
    """When no budget fits, plan-placement keeps 16 KiB and plan-memory reports that overflow,
    at the user's line, as the compiler always did."""
    with pf.target(pf.sim.SMALL):
        a = pf.from_numpy(np.ones((256, 256), np.float32), layout=pf.MeshLayout.single())
        with pytest.raises(pf.SRAMOverflowError, match="256.0 KiB per PE") as err:
            pf.eval(a + 1)
    assert err.value.location.startswith(__file__)


def lit_flame_inputs() -> list[Path]:
    found = []
    for path in sorted((ROOT / "tests" / "lit").rglob("*.mlir")):
        text = path.read_text()
        if (
            "flame." in text
            and "split-input-file" not in text
            and "// -----" not in text
            and "verify-diagnostics" not in text
            and "not pyflame-opt" not in text
            and "exit-status.py" not in text
        ):
            found.append(path)
    return found


@pytest.mark.parametrize("path", lit_flame_inputs(), ids=lambda p: p.parent.name + "/" + p.name)
def test_lit_flame_inputs(path: Path, tmp_path: Path) -> None:
    """The tool and the Python driver run the same pipeline on every lit input that lowers."""
    text = path.read_text()
    module = parse_module(compiler.make_context(), text, str(path))
    if compiler.stage_of(module) != "flame":
        pytest.skip("not a flame-level input")
    try:
        compiler.lower(module, "pe")
    except pf.CompileError:
        pytest.skip("does not lower (a test of an error)")
    assert opt(text, tmp_path, compiler.pipeline()) == runtime._print(module)


def test_pf_pipeline_through_the_console_script(tmp_path: Path) -> None:
    """As a user runs it: `pyflame-opt -p "$(pf.pipeline())"` on `pf.ir(x)`, a separate process."""
    import shutil
    import subprocess

    with pf.target(pf.sim.SMALL):
        x = pf.from_numpy(np.arange(40, dtype=np.float32).reshape(5, 8), name="x")
        y = (pf.softmax(x, dim=1) @ x.T).sum(dim=0)
        flame, pe = pf.ir(y), pf.ir(y, stage="pe")
    assert pf.pipeline() == compiler.pipeline()
    (tmp_path / "y.mlir").write_text(flame)
    tool = shutil.which("pyflame-opt") or str(Path(sys.executable).parent / "pyflame-opt")
    out = subprocess.run(
        [tool, str(tmp_path / "y.mlir"), "-p", pf.pipeline(), "--print-debuginfo"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.rstrip("\n") + "\n" == pe
