"""Helpers for the simulator tests: write, parse and plan small hand-written pe programs.

Tests get them through the `sim` fixture (a namespace), so no test imports a `conftest` module.
"""

from __future__ import annotations

import types

import numpy as np
import pytest
from xdsl.context import Context
from xdsl.dialects import get_all_dialects
from xdsl.dialects.builtin import ModuleOp
from xdsl.parser import Parser

from pyflame.core.distribution import Distribution
from pyflame.core.exchange_plan import exchange_phases
from pyflame.dialects import all_dialects
from pyflame.sim import compile_plan


def make_context() -> Context:
    ctx = Context()
    xdsl = get_all_dialects()
    for name in ("builtin", "func", "arith"):
        ctx.register_dialect(name, xdsl[name])
    for name, loader in all_dialects().items():
        ctx.register_dialect(name, loader)
    return ctx


def parse(text: str, verify: bool = True) -> ModuleOp:
    module = Parser(make_context(), text, "test.mlir").parse_module()
    if verify:
        module.verify()
    return module


def program(
    body: str, args: str = "", results: str = "", ret: str = "", target: str = '#pf.target<"small">'
) -> str:
    """A module whose @main has the given arguments, results and body."""
    ret_types = f" -> ({results})" if results else ""
    ret_line = f"    func.return {ret}\n" if ret else "    func.return\n"
    return (
        f"builtin.module attributes {{pf.target = {target}}} {{\n"
        f"  func.func @main({args}){ret_types} {{\n{body}\n{ret_line}  }}\n}}\n"
    )


class Body:
    """Builds a pe program body: buffers get consecutive SRAM offsets."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.offset = 0
        self.types: dict[str, str] = {}

    def alloc(self, name: str, rect, size: int, offset: int | None = None) -> str:
        off = self.offset if offset is None else offset
        if offset is None:
            self.offset += -(-size * 4 // 16) * 16
        r = ", ".join(map(str, rect))
        self.types[name] = f"!pe.buf<{size}xf32>"
        self.lines.append(
            f'    %{name} = pe.alloc {{name = "{name}", pes = array<i64: {r}>, '
            f"offset = {off} : i64}} : {self.types[name]}"
        )
        return name

    def op(self, text: str) -> None:
        self.lines.append("    " + text)

    def t(self, *names: str) -> str:
        return ", ".join(self.types[n] for n in names)

    def text(self) -> str:
        return "\n".join(self.lines)


def pes(rect) -> str:
    return "array<i64: " + ", ".join(map(str, rect)) + ">"


def layout(shape, grid, split) -> str:
    s = "".join(f"{n}x" for n in shape)
    axes = ", ".join(a or "_" for a in split)
    return f"#pe.layout<{s}f32 on {grid[0]}x{grid[1]} split [{axes}]>"


def tensor(shape) -> str:
    return "tensor<" + "".join(f"{n}x" for n in shape) + "f32>"


def line_rules(n: int, lo: str, hi: str):
    """Broadcast from any position along a line of n PEs: ((start, count), from, to) rules."""
    if n == 1:
        return [((0, 1), "ramp", ("ramp",))]
    rules = [
        ((0, 1), "ramp", (hi, "ramp")),
        ((n - 1, 1), "ramp", (lo, "ramp")),
        ((n - 1, 1), lo, ("ramp",)),
        ((0, 1), hi, ("ramp",)),
    ]
    if n > 2:
        rules += [
            ((1, n - 2), "ramp", (lo, hi, "ramp")),
            ((1, n - 2), lo, (hi, "ramp")),
            ((1, n - 2), hi, (lo, "ramp")),
        ]
    return rules


def route(color: int, rect, src: str, dst) -> str:
    to = ", ".join(dst)
    return f"pe.route {src} -> [{to}] {{color = {color} : i64, pes = {pes(rect)}}}"


def row_broadcast_routes(color: int, rows: int, cols: int) -> list[str]:
    return [
        route(color, (0, c0, rows, n), s, d) for (c0, n), s, d in line_rules(cols, "west", "east")
    ]


def col_broadcast_routes(color: int, rows: int, cols: int) -> list[str]:
    return [
        route(color, (r0, 0, n, cols), s, d) for (r0, n), s, d in line_rules(rows, "north", "south")
    ]


def summa(g: int, t: int, synchronous_roots: bool = False) -> str:
    """SUMMA for (g*t) x (g*t) matrices on a g x g grid of PEs with t x t tiles. The roots send
    asynchronously (they receive their own tile); `synchronous_roots` makes the program that
    deadlocks on the machine once a tile is longer than the queues."""
    n = g * t
    b = Body()
    full = (0, 0, g, g)
    for name in ("a", "bm", "c", "ai", "bi"):
        b.alloc(name, full, t * t)
    lay = layout((n, n), (g, g), ("r", "c"))
    tt = f"tensor<{n}x{n}xf32>"
    b.op(f"pe.host_in %x, %a {{layout = {lay}, pes = {pes(full)}}} : {tt}, {b.t('a')}")
    b.op(f"pe.host_in %y, %bm {{layout = {lay}, pes = {pes(full)}}} : {tt}, {b.t('bm')}")
    b.op(f"pe.fill %c {{value = 0.0 : f64, pes = {pes(full)}}} : {b.t('c')}")
    for r in row_broadcast_routes(0, g, g) + col_broadcast_routes(1, g, g):
        b.op(r)
    for k in range(g):
        a_root, b_root = pes((0, k, g, 1)), pes((k, 0, 1, g))
        ta, tb = ("", "") if synchronous_roots else (f"%ta{k} = ", f"%tb{k} = ")
        token = "" if synchronous_roots else " -> !pe.token"
        b.op(f"{ta}pe.send %a {{color = 0 : i64, pes = {a_root}}} : {b.t('a')}{token}")
        b.op(f"{tb}pe.send %bm {{color = 1 : i64, pes = {b_root}}} : {b.t('bm')}{token}")
        b.op(f"pe.recv %ai {{color = 0 : i64, pes = {pes(full)}}} : {b.t('ai')}")
        b.op(f"pe.recv %bi {{color = 1 : i64, pes = {pes(full)}}} : {b.t('bi')}")
        b.op(
            f"pe.matmul_acc %c, %ai, %bi {{m = {t} : i64, k = {t} : i64, n = {t} : i64, "
            f"pes = {pes(full)}}} : {b.t('c', 'ai', 'bi')}"
        )
        if not synchronous_roots:
            b.op(f"pe.wait %ta{k} {{pes = {a_root}}}")
            b.op(f"pe.wait %tb{k} {{pes = {b_root}}}")
    b.op(f"%o = pe.host_out %c {{layout = {lay}, pes = {pes(full)}}} : {b.t('c')} -> {tt}")
    target = '#pf.target<"WSE2">' if g > 16 else '#pf.target<"small">'
    return program(b.text(), f"%x: {tt}, %y: {tt}", tt, f"%o : {tt}", target=target)


def exchange(
    b: Body, dst: str, src: str, src_spec, dst_spec, index_map=None, colors: int | None = None
) -> int:
    """Append the ops of an exchange from buffer `src` (laid out as src_spec = (shape, grid,
    split)) to `dst` (dst_spec), as lower-mesh-to-pe and allocate-colors emit them: the local
    part, then each network phase's routes and op, each phase on a color of its own (or
    cycling over `colors` colors: then a PE may switch a rule while another phase's wavelets
    still pass, a race the planner may report). Returns the phases."""
    (ss, sg, sp), (dsh, dg, dp) = src_spec, dst_spec
    ds, dd = (
        Distribution(tuple(ss), tuple(sg), tuple(sp)),
        Distribution(tuple(dsh), tuple(dg), tuple(dp)),
    )
    plan_ = exchange_phases(ds, dd, index_map)
    bbox = (0, 0, max(sg[0], dg[0]), max(sg[1], dg[1]))
    attrs = f"src_layout = {layout(ss, sg, sp)}, dst_layout = {layout(dsh, dg, dp)}"
    if index_map is not None:
        off, st = index_map
        attrs += f", offset = array<i64: {', '.join(map(str, off))}>"
        attrs += f", stride = array<i64: {', '.join(map(str, st))}>"
    attrs += f", pes = {pes(bbox)}"
    types = b.t(dst, src)
    if plan_.has_local_part:
        b.op(f"pe.exchange %{dst}, %{src} {{{attrs}}} : {types}")
    for k, phase in enumerate(plan_.phases, start=1):
        color = k - 1 if colors is None else (k - 1) % colors
        for rect, p, out in phase.routes:
            b.op(route(color, rect, p, (out,)))
        b.op(
            f"pe.exchange %{dst}, %{src} {{color = {color} : i64, phase = {k} : i64, {attrs}}}"
            f" : {types}"
        )
    return len(plan_.phases)


def io(b: Body, name: str, rect, n: int, out: str | None = None) -> str:
    """host_in of PE-distinct data ([rc] layout) into buffer `name` (its @main argument, as
    text), or with `out` its host_out into %out (the result's tensor type)."""
    shape = (rect[2] * rect[3] * n,)
    lay = layout(shape, rect[2:], ("rc",))
    tt = tensor(shape)
    if out is None:
        b.op(
            f"pe.host_in %{name}_h, %{name} {{layout = {lay}, pes = {pes(rect)}}} : "
            f"{tt}, {b.t(name)}"
        )
        return f"%{name}_h: {tt}"
    b.op(
        f"%{out} = pe.host_out %{name} {{layout = {lay}, pes = {pes(rect)}}} : {b.t(name)} -> {tt}"
    )
    return tt


def plan(text: str):
    return compile_plan(parse(text))


def run(text: str, *args):
    return plan(text).run(list(args))


@pytest.fixture
def sim():
    return types.SimpleNamespace(
        parse=parse,
        program=program,
        tensor=tensor,
        plan=plan,
        run=run,
        Body=Body,
        pes=pes,
        layout=layout,
        route=route,
        row_broadcast_routes=row_broadcast_routes,
        col_broadcast_routes=col_broadcast_routes,
        summa=summa,
        exchange=exchange,
        io=io,
    )


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
