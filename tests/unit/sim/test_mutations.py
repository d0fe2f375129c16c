"""Every route, color and send in the pe IR matters: removing or corrupting any single one
(drop a `pe.route` or one rule of a `pe.routes`, change one of its output ports, change its
color; change the color of a
send, receive or exchange phase; drop a `pe.send`) never leaves the program's output silently
unchanged. Each mutant raises (RoutingError, DeadlockError, CompileError, a verifier error) or
computes other numbers. A silently harmless mutant means the lowering emitted an op that does
nothing: fix the lowering, not this test.

A transfer's color is moved to the next color, and while that is silent to the one after, and
so on: it matters when some other color shows. A transfer whose routes were already in place
(allocate-colors drops routes the routers hold, docs/passes.md) works unchanged on another
color whose routers hold the same rules from an earlier transfer: that color is as good, not a
sign of an op that does nothing (the MLP step's scalar and 1x1 -> 2x2 exchanges on color 5,
whose rules color 6 holds too, since session 8's merges).

Programs: the benchmarks at small sizes (GEMM, conv2d, an MLP training step) and
redistribution, slice, pad, concat and reshape programs, whose data all moves as exchange
phases on routes (issue 10, deliverable 1).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import numpy as np
import pytest
from xdsl.parser import Parser

import pyflame as pf
from pyflame import compiler

PORTS = ("north", "south", "east", "west", "ramp")
ROUTE = re.compile(r"pe\.route (\w+) -> \[([^\]]*)\]")
#: one rule of a pe.routes (an exchange phase's rules, one op)
RULE = re.compile(r"(\w+) -> \[([^\]]*)\] at \[[^\]]*\]")
RULES = re.compile(r"pe\.routes \[(.*)\] \{")
COLOR = re.compile(r"color = (\d+) : i64")


def run_text(text: str) -> list[np.ndarray]:
    module = Parser(compiler.make_context(), text, "mutant.mlir").parse_module()
    module.verify()
    outputs, _ = compiler.run_module(module, {}, seed=0)
    return outputs


def mutants(text: str, num_colors: int) -> Iterator[tuple[str, Iterator[str]]]:
    """(what, program texts) for every single-op mutation of the pe program `text`: the
    mutation shows when one of its texts does (several for a color: every other one, lazily)."""
    lines = text.split("\n")

    def with_line(i: int, new: str | None) -> str:
        return "\n".join(lines[:i] + ([] if new is None else [new]) + lines[i + 1 :])

    for i, line in enumerate(lines):
        route = ROUTE.search(line)
        if route:
            yield f"drop route: {line.strip()}", iter([with_line(i, None)])
            src, outs = route.group(1), [p.strip() for p in route.group(2).split(",")]
            for j, port in enumerate(outs):
                alt = next(p for p in PORTS if p not in outs and (p != src or p == "ramp"))
                new = outs[:j] + [alt] + outs[j + 1 :]
                corrupt = f"pe.route {src} -> [{', '.join(new)}]"
                yield (
                    f"port {port}->{alt}: {line.strip()}",
                    iter([with_line(i, line.replace(route.group(0), corrupt))]),
                )
        rules = RULES.search(line)
        if rules:
            # each rule of a pe.routes is a route: drop it, corrupt each of its ports
            found = list(RULE.finditer(rules.group(1)))
            base = rules.start(1)
            for rule in found:
                a, b = base + rule.start(), base + rule.end()
                if len(found) == 1:
                    dropped = None
                else:  # the rule and its separator
                    a, b = (a - 2, b) if a > base else (a, b + 2)
                    dropped = line[:a] + line[b:]
                yield f"drop rule: {rule.group(0)} of {line.strip()}", iter([with_line(i, dropped)])
                src, outs = rule.group(1), [p.strip() for p in rule.group(2).split(",")]
                for j, port in enumerate(outs):
                    alt = next(p for p in PORTS if p not in outs and (p != src or p == "ramp"))
                    new = outs[:j] + [alt] + outs[j + 1 :]
                    corrupt = rule.group(0).replace(
                        f"{src} -> [{rule.group(2)}]", f"{src} -> [{', '.join(new)}]"
                    )
                    a, b = base + rule.start(), base + rule.end()
                    yield (
                        f"port {port}->{alt}: {rule.group(0)} of {line.strip()}",
                        iter([with_line(i, line[:a] + corrupt + line[b:])]),
                    )
        color = COLOR.search(line)
        if color and re.search(r"pe\.(route|routes|send|recv|exchange) ", line):
            k = int(color.group(1))
            others = (
                with_line(i, line.replace(color.group(0), f"color = {(k + d) % num_colors} : i64"))
                for d in range(1, num_colors)
            )
            yield f"color {k}: {line.strip()}", others
        if re.search(r"\bpe\.send ", line):
            yield f"drop send: {line.strip()}", iter([with_line(i, None)])


def assert_every_mutant_shows(name: str, text: str, num_colors: int) -> int:
    """Run every mutant of `text`; fail on any that raises nothing and computes the same
    outputs. Returns (and prints) the number of mutants tried."""
    base = run_text(text)

    def shows(mutant: str) -> bool:
        try:
            outputs = run_text(mutant)
        except Exception:  # noqa: BLE001  # any error shows the mutation; which one does not matter
            return True
        return not (
            len(outputs) == len(base)
            and all(
                a.shape == b.shape and np.array_equal(a, b, equal_nan=True)
                for a, b in zip(outputs, base, strict=True)
            )
        )

    tried, silent = 0, []
    for what, texts in mutants(text, num_colors):
        tried += 1
        if not any(shows(t) for t in texts):
            silent.append(what)
    print(f"{name}: {tried} mutants tried, {len(silent)} silently harmless")
    assert tried > 0
    assert not silent, f"{name}: mutants with no effect:\n" + "\n".join(silent)
    return tried


# --------------------------------------------------------------------------- programs


def lower_mesh(body: str, args: str, result: str) -> str:
    """The pe program (after mesh-to-pe) of a mesh @main."""
    text = (
        'builtin.module attributes {pf.target = #pf.target<"small">} {\n'
        f"  func.func @main({args}) -> {result} {{\n{body}\n  }}\n}}\n"
    )
    module = Parser(compiler.make_context(), text, "mesh.mlir").parse_module()
    return str(compiler.lower(module, "pe"))


def redistribute(shape, src: str, dst: str) -> str:
    t = "x".join(map(str, shape))
    return lower_mesh(
        f"    %0 = mesh.scatter %a : tensor<{t}xf32> -> !mesh.tensor<{t}xf32 on {src}>\n"
        f"    %1 = mesh.redistribute %0 : !mesh.tensor<{t}xf32 on {src}> -> "
        f"!mesh.tensor<{t}xf32 on {dst}>\n"
        f"    %2 = mesh.gather %1 : !mesh.tensor<{t}xf32 on {dst}> -> tensor<{t}xf32>\n"
        "    func.return %2 : tensor<" + t + "xf32>",
        f"%a: tensor<{t}xf32>",
        f"tensor<{t}xf32>",
    )


REDISTRIBUTIONS = {
    "1x1 -> 2x2": ((8, 8), "1x1 split [_, _]", "2x2 split [r, c]"),
    "2x2 -> 1x1": ((8, 8), "2x2 split [r, c]", "1x1 split [_, _]"),
    "2x2 -> 4x4": ((8, 8), "2x2 split [r, c]", "4x4 split [r, c]"),
    "4x4 -> 2x2": ((8, 8), "4x4 split [r, c]", "2x2 split [r, c]"),
    "transpose 3x3": ((9, 9), "3x3 split [r, c]", "3x3 split [c, r]"),
    "rows -> cols": ((8, 6), "4x1 split [r, _]", "1x3 split [_, c]"),
}


@pytest.mark.parametrize("name", list(REDISTRIBUTIONS))
def test_redistribution_mutants_all_show(name):
    shape, src, dst = REDISTRIBUTIONS[name]
    text = redistribute(shape, src, dst)
    assert "phase = 1" in text
    assert_every_mutant_shows(name, text, pf.sim.SMALL.num_colors)


def test_slice_pad_concat_reshape_mutants_all_show(small_grid):
    rng = np.random.default_rng(0)
    t = pf.from_numpy(rng.standard_normal((16, 16)).astype(np.float32), layout=small_grid)
    s = pf.cat([t[1:9, 2:7], pf.pad(t[:4, :3], (1, 1, 0, 3))], dim=0)
    r = pf.reshape(t, 8, 32)
    text = pf.ir(s, r, stage="pe")
    assert "phase = 1" in text
    assert_every_mutant_shows("slice/pad/cat/reshape", text, pf.sim.SMALL.num_colors)


def test_gemm_mutants_all_show(small_grid):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((16, 16)).astype(np.float32)
    z = pf.from_numpy(a, layout=small_grid) @ pf.from_numpy(a.T.copy(), layout=small_grid)
    assert_every_mutant_shows("gemm", pf.ir(z, stage="pe"), pf.sim.SMALL.num_colors)


@pytest.mark.parametrize(
    "form",
    ["a.T @ b", pytest.param("a @ b.T", marks=pytest.mark.slow)],  # ~30 s each
)
def test_transposed_gemm_mutants_all_show(form, small_target):
    """SUMMA consuming a transposed operand on 3x3: every rule of the turn at the diagonal
    (the legs along the lines, the turning router, the multicast) matters."""
    rng = np.random.default_rng(1)
    a, b = (rng.standard_normal((9, 9)).astype(np.float32) for _ in range(2))
    layout = pf.MeshLayout.grid(3, 3)
    pa, pb = pf.from_numpy(a, layout=layout), pf.from_numpy(b, layout=layout)
    z = pa.T @ pb if form == "a.T @ b" else pa @ pb.T
    text = pf.ir(z, stage="pe")
    assert "_transposed" in text
    assert_every_mutant_shows(form, text, pf.sim.SMALL.num_colors)


@pytest.mark.slow  # ~15 s
def test_conv2d_mutants_all_show(small_grid):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 2, 8, 8)).astype(np.float32)
    w = rng.standard_normal((2, 2, 3, 3)).astype(np.float32)
    b = rng.standard_normal(2).astype(np.float32)
    F = pf.nn.functional
    y = F.conv2d(pf.from_numpy(x, layout=small_grid), pf.from_numpy(w), pf.from_numpy(b), padding=1)
    assert_every_mutant_shows("conv2d", pf.ir(y, stage="pe"), pf.sim.SMALL.num_colors)


@pytest.mark.slow  # ~220 mutants, a few minutes
def test_mlp_training_step_mutants_all_show(small_grid):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 16)).astype(np.float32)
    labels = rng.integers(0, 4, 8)
    w1 = pf.from_numpy((rng.standard_normal((16, 16)) * 0.3).astype(np.float32), layout=small_grid)
    w2 = pf.from_numpy((rng.standard_normal((16, 4)) * 0.3).astype(np.float32), layout=small_grid)
    w1.requires_grad = True
    w2.requires_grad = True
    h = pf.relu(pf.from_numpy(x, layout=small_grid) @ w1)
    loss = pf.nn.functional.cross_entropy(h @ w2, pf.from_numpy(labels))
    loss.backward()
    text = pf.ir(loss, w1.grad, w2.grad, stage="pe")
    assert_every_mutant_shows("mlp step", text, pf.sim.SMALL.num_colors)


@pytest.fixture
def small_grid(small_target):
    return pf.MeshLayout.grid(2, 2)
