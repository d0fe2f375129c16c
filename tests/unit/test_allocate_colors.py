"""allocate-colors on compiled programs: switches ordered by barriers give the same answers in
both engines (the pass's IR forms are in tests/lit/allocate-colors/)."""

from __future__ import annotations

import dataclasses

import numpy as np

import pyflame as pf
from pyflame.layout import MeshLayout
from pyflame.sim import SMALL, compile_plan


def _gathers(fidelity: str):
    """Slices of a 1x9 tensor spread over 4x4 PEs: many exchange phases, more than the colors,
    so some channels switch rules and barriers order them."""
    a = np.arange(9, dtype=np.float32).reshape(1, 9)
    with pf.target(dataclasses.replace(SMALL, fidelity=fidelity)):
        x = pf.from_numpy(a, layout=MeshLayout.grid(4, 4))
        outs = [x[:, 0:1], x[..., -1], x[:, ::4], x[0], x[:, 1:8], x[None, ..., None]]
        text = pf.ir(*outs, stage="pe")
        pf.eval(*outs)
        return text, [o.numpy() for o in outs], pf.last_report().cycles, a


def test_barriers_agree_between_the_engines():
    text, fast, fast_cycles, a = _gathers("fast")
    assert '"barrier"' in text and "messages = 3 : i64" in text  # the rows' and column's gathers
    refs = [a[:, 0:1], a[..., -1], a[:, ::4], a[0], a[:, 1:8], a[None, ..., None]]
    for got, ref in zip(fast, refs, strict=True):
        np.testing.assert_array_equal(got, ref)
    _, wavelet, wavelet_cycles, _ = _gathers("wavelet")
    for got, ref in zip(wavelet, refs, strict=True):
        np.testing.assert_array_equal(got, ref)
    assert 0.95 <= wavelet_cycles / fast_cycles <= 1.05, (fast_cycles, wavelet_cycles)


#: virtual channels 7 and 9 deliver to PE (0, 1) from two sides, one after the other; their
#: rules coexist on one color (other input ports). PE (0, 0) is busy first, so PE (0, 2), idle,
#: would send at once: on one color its message would reach (0, 1) first
#: (tests/unit/sim/test_arrivals.py)
TWO_SENDERS = """builtin.module attributes {{pf.target = #pf.target<"small"{extra}>}} {{
  func.func @main() -> (tensor<8xf32>, tensor<4xf32>) {{
    %a = pe.alloc {{name = "a", pes = array<i64: 0, 0, 1, 3>, offset = 0 : i64}} : !pe.buf<8xf32>
    %b = pe.alloc {{name = "b", pes = array<i64: 0, 0, 1, 3>, offset = 32 : i64}} : !pe.buf<4xf32>
    %s = pe.alloc {{name = "s", pes = array<i64: 0, 0, 1, 1>, offset = 48 : i64}} : !pe.buf<400xf32>
    pe.route ramp -> [east] {{color = 7 : i64, pes = array<i64: 0, 0, 1, 1>}}
    pe.route west -> [ramp] {{color = 7 : i64, pes = array<i64: 0, 1, 1, 1>}}
    pe.fill %a {{value = 1.0 : f64, pes = array<i64: 0, 0, 1, 1>}} : !pe.buf<8xf32>
    pe.fill %b {{value = 2.0 : f64, pes = array<i64: 0, 2, 1, 1>}} : !pe.buf<4xf32>
    pe.fill %s {{value = 1.0 : f64, pes = array<i64: 0, 0, 1, 1>}} : !pe.buf<400xf32>
    pe.send %a {{color = 7 : i64, pes = array<i64: 0, 0, 1, 1>}} : !pe.buf<8xf32>
    pe.recv %a {{color = 7 : i64, pes = array<i64: 0, 1, 1, 1>}} : !pe.buf<8xf32>
    pe.route ramp -> [west] {{color = 9 : i64, pes = array<i64: 0, 2, 1, 1>}}
    pe.route east -> [ramp] {{color = 9 : i64, pes = array<i64: 0, 1, 1, 1>}}
    pe.send %b {{color = 9 : i64, pes = array<i64: 0, 2, 1, 1>}} : !pe.buf<4xf32>
    pe.recv %b {{color = 9 : i64, pes = array<i64: 0, 1, 1, 1>}} : !pe.buf<4xf32>
{more}    %oa = pe.host_out %a {{layout = #pe.layout<8xf32 on 1x1 split [_]>, pes = array<i64: 0, 1, 1, 1>}} : !pe.buf<8xf32> -> tensor<8xf32>
    %ob = pe.host_out %b {{layout = #pe.layout<4xf32 on 1x1 split [_]>, pes = array<i64: 0, 1, 1, 1>}} : !pe.buf<4xf32> -> tensor<4xf32>
    func.return %oa, %ob : tensor<8xf32>, tensor<4xf32>
  }}
}}"""


#: two more channels delivering to PE (0, 1), multicasts from either end: four channels that
#: share a receiver, each with other rules (a target with 3 colors has none free for the last)
MULTICASTS = """    pe.route ramp -> [east] {color = 11 : i64, pes = array<i64: 0, 0, 1, 1>}
    pe.route west -> [east, ramp] {color = 11 : i64, pes = array<i64: 0, 1, 1, 1>}
    pe.route west -> [ramp] {color = 11 : i64, pes = array<i64: 0, 2, 1, 1>}
    pe.send %a {color = 11 : i64, pes = array<i64: 0, 0, 1, 1>} : !pe.buf<8xf32>
    pe.recv %a {color = 11 : i64, pes = array<i64: 0, 1, 1, 2>} : !pe.buf<8xf32>
    pe.route ramp -> [west] {color = 13 : i64, pes = array<i64: 0, 2, 1, 1>}
    pe.route east -> [west, ramp] {color = 13 : i64, pes = array<i64: 0, 1, 1, 1>}
    pe.route east -> [ramp] {color = 13 : i64, pes = array<i64: 0, 0, 1, 1>}
    pe.send %b {color = 13 : i64, pes = array<i64: 0, 2, 1, 1>} : !pe.buf<4xf32>
    pe.recv %b {color = 13 : i64, pes = array<i64: 0, 0, 1, 2>} : !pe.buf<4xf32>
"""


def _allocated(extra: str = "", fidelity: str = "fast", more: str = ""):
    from xdsl.context import Context
    from xdsl.parser import Parser

    from pyflame.compiler import make_context
    from pyflame.passes.allocate_colors import AllocateColorsPass
    from pyflame.passes.allocate_sram import AllocateSRAMPass

    if fidelity != "fast":
        extra += f', fidelity = "{fidelity}"'
    module = Parser(make_context(), TWO_SENDERS.format(extra=extra, more=more)).parse_module()
    AllocateColorsPass().apply(Context(), module)
    AllocateSRAMPass().apply(Context(), module)  # the barrier's word
    return module


def _runs_right(module) -> int:
    from pyflame.sim.planner import compile_plan

    (a, b), report = compile_plan(module).run([])
    np.testing.assert_array_equal(a, np.ones(8, np.float32))
    np.testing.assert_array_equal(b, np.full(4, 2.0, np.float32))
    return report.cycles


def test_channels_that_deliver_to_one_pe_take_different_colors():
    # their rules agree on color 0, but they share a receiver: the second takes a fresh color
    text = str(_allocated())
    assert "color = 0 : i64" in text and "color = 1 : i64" in text
    assert '"barrier"' not in text
    _runs_right(_allocated())


def test_without_a_free_color_barriers_order_channels_that_share_a_receiver():
    # 3 colors, four channels sharing PE (0, 1) with other rules: 2 colors are kept for
    # barriers and the channels take turns on the third, ordered; both engines take the
    # messages in program order
    text = str(_allocated(", num_colors = 3", more=MULTICASTS))
    assert '"barrier"' in text
    fast = _runs_right(_allocated(", num_colors = 3", more=MULTICASTS))
    wavelet = _runs_right(_allocated(", num_colors = 3", "wavelet", MULTICASTS))
    assert 0.95 <= wavelet / fast <= 1.05, (fast, wavelet)


def test_a_shared_receiver_without_barrier_colors_is_an_error():
    import pytest

    from pyflame.core.errors import ColorAllocationError

    with pytest.raises(ColorAllocationError, match="needs 2 more colors"):
        _allocated(", num_colors = 2", more=MULTICASTS)


REPEAT = """builtin.module attributes {pf.target = #pf.target<"small", num_colors = 1>} {
  func.func @main() {
    %a = pe.alloc {name = "a", pes = array<i64: 0, 0, 1, 2>} : !pe.buf<4xf32>
    pe.route ramp -> [east] {color = 7 : i64, pes = array<i64: 0, 0, 1, 1>}
    pe.route west -> [ramp] {color = 7 : i64, pes = array<i64: 0, 1, 1, 1>}
    pe.send %a {color = 7 : i64, pes = array<i64: 0, 0, 1, 1>} : !pe.buf<4xf32>
    pe.recv %a {color = 7 : i64, pes = array<i64: 0, 1, 1, 1>} : !pe.buf<4xf32>
    pe.route ramp -> [east] {color = 12 : i64, pes = array<i64: 0, 0, 1, 1>}
    pe.route west -> [ramp] {color = 12 : i64, pes = array<i64: 0, 1, 1, 1>}
    pe.send %a {color = 12 : i64, pes = array<i64: 0, 0, 1, 1>} : !pe.buf<4xf32>
    pe.recv %a combine sum {color = 12 : i64, pes = array<i64: 0, 1, 1, 1>} : !pe.buf<4xf32>
    func.return
  }
}"""


def test_a_channel_repeating_the_rules_of_its_color_may_reuse_it():
    # one color: channel 12 delivers to PE (0, 1) as 7 did, from the same sender along the
    # same path (rules that merge nowhere): its message follows 7's, no barrier needed
    from xdsl.context import Context
    from xdsl.parser import Parser

    from pyflame.compiler import make_context
    from pyflame.passes.allocate_colors import AllocateColorsPass

    module = Parser(make_context(), REPEAT).parse_module()
    AllocateColorsPass().apply(Context(), module)
    text = str(module)
    assert "color = 12" not in text and '"barrier"' not in text
    assert text.count("pe.route") == 2  # the repeated rules are dropped


#: channel 7 used twice; channel 9 lives and dies between its uses (other PEs, other rules)
IDLE_GAP = """builtin.module attributes {{pf.target = #pf.target<"small"{extra}>}} {{
  func.func @main() -> tensor<4xf32> {{
    %a = pe.alloc {{name = "a", pes = array<i64: 0, 0, 1, 4>, offset = 0 : i64}} : !pe.buf<4xf32>
    pe.fill %a {{value = 1.0 : f64, pes = array<i64: 0, 0, 1, 4>}} : !pe.buf<4xf32>
    pe.route ramp -> [east] {{color = 7 : i64, pes = array<i64: 0, 0, 1, 1>}}
    pe.route west -> [ramp] {{color = 7 : i64, pes = array<i64: 0, 1, 1, 1>}}
    pe.send %a {{color = 7 : i64, pes = array<i64: 0, 0, 1, 1>}} : !pe.buf<4xf32>
    pe.recv %a combine sum {{color = 7 : i64, pes = array<i64: 0, 1, 1, 1>}} : !pe.buf<4xf32>
    pe.route ramp -> [west] {{color = 9 : i64, pes = array<i64: 0, 3, 1, 1>}}
    pe.route east -> [ramp] {{color = 9 : i64, pes = array<i64: 0, 2, 1, 1>}}
    pe.send %a {{color = 9 : i64, pes = array<i64: 0, 3, 1, 1>}} : !pe.buf<4xf32>
    pe.recv %a combine sum {{color = 9 : i64, pes = array<i64: 0, 2, 1, 1>}} : !pe.buf<4xf32>
    pe.send %a {{color = 7 : i64, pes = array<i64: 0, 0, 1, 1>}} : !pe.buf<4xf32>
    pe.recv %a combine sum {{color = 7 : i64, pes = array<i64: 0, 1, 1, 1>}} : !pe.buf<4xf32>
    %o = pe.host_out %a {{layout = #pe.layout<4xf32 on 1x1 split [_]>, pes = array<i64: 0, 1, 1, 1>}} : !pe.buf<4xf32> -> tensor<4xf32>
    func.return %o : tensor<4xf32>
  }}
}}"""


def _allocate_idle_gap(extra: str) -> str:
    from xdsl.context import Context
    from xdsl.parser import Parser

    from pyflame.compiler import make_context
    from pyflame.passes.allocate_colors import AllocateColorsPass

    module = Parser(make_context(), IDLE_GAP.format(extra=extra)).parse_module()
    AllocateColorsPass().apply(Context(), module)
    (out,), _ = compile_plan(module).run([])
    np.testing.assert_array_equal(out, np.full(4, 3.0, np.float32))  # 1 + 1 + 1
    return str(module)


def test_a_channel_idle_between_its_uses_goes_on_on_its_color():
    # colors to spare: channel 9 takes another one, channel 7's second piece goes on on its
    # own (its copied routes erased: the rules are there), no barrier
    text = _allocate_idle_gap("")
    assert text.count("pe.route") == 4 and '"barrier"' not in text
    assert text.count("color = 0 : i64") == 6 and text.count("color = 1 : i64") == 4


def _sliced_products(split: bool, fidelity: str = "fast"):
    """Two products with slices and a concatenation between them (exchange phases) on 3x3
    PEs with 7 colors: SUMMA's channels idle during the exchanges."""
    from pyflame.passes import allocate_colors

    rng = np.random.default_rng(0)
    a = rng.standard_normal((12, 12)).astype(np.float32)
    w = rng.standard_normal((12, 12)).astype(np.float32)
    whole = allocate_colors._split_idle_channels
    target = dataclasses.replace(SMALL, num_colors=7, fidelity=fidelity)
    try:
        if not split:
            allocate_colors._split_idle_channels = lambda block: allocate_colors._Split()
        with pf.target(target):
            pf.cache_clear()
            x = pf.from_numpy(a, layout=MeshLayout.grid(3, 3))
            W = pf.from_numpy(w, layout=MeshLayout.grid(3, 3))
            h = x @ W
            y = pf.cat([h[:, 0:5] * 2, h[:, 5:9] * 2, h[:, 9:12] * 2], dim=1) @ W
            y = y + pf.cat([h[1:, :], h[:1, :]], dim=0) @ W
            text = pf.ir(y, stage="pe")
            out = y.numpy()
            cycles = pf.last_report().cycles
    finally:
        allocate_colors._split_idle_channels = whole
        pf.cache_clear()
    np.testing.assert_allclose(
        out, (a @ w * 2) @ w + np.roll(a @ w, -1, axis=0) @ w, rtol=1e-4, atol=1e-4
    )
    return out, text.count("pe.recv %0 "), cycles


def test_split_channels_lend_their_colors_to_exchanges():
    out, barrier_recvs, cycles = _sliced_products(split=True)
    whole_out, whole_recvs, whole_cycles = _sliced_products(split=False)
    np.testing.assert_array_equal(out, whole_out)
    assert barrier_recvs < whole_recvs and cycles < whole_cycles, (
        (barrier_recvs, cycles),
        (whole_recvs, whole_cycles),
    )
    wavelet_out, _, wavelet_cycles = _sliced_products(split=True, fidelity="wavelet")
    # pf.eval's products sum K in BLAS's order, the wavelet engine tile by tile (the lean run's
    # contract, tests/unit/sim/fidelity_corpus.close)
    np.testing.assert_allclose(wavelet_out, out, rtol=0, atol=1e-5 * np.abs(out).max())
    assert 0.95 <= wavelet_cycles / cycles <= 1.05, (cycles, wavelet_cycles)


def _barriers_alone(rows: int, cols: int, count: int, target: str, late: int = 0):
    """`count` barriers over rows x cols PEs and nothing else (PE (0, 0) first fills a buffer
    of `late` elements, so it reaches the first barrier last)."""
    from xdsl.dialects import func
    from xdsl.dialects.builtin import Float32Type
    from xdsl.parser import Parser

    from pyflame.compiler import make_context
    from pyflame.dialects import pe
    from pyflame.passes import allocate_colors

    text = f'builtin.module attributes {{pf.target = #pf.target<"{target}">}} {{\n'
    text += "func.func @main() {\nfunc.return\n}\n}"
    module = Parser(make_context(), text).parse_module()
    fn = next(op for op in module.ops if isinstance(op, func.FuncOp))
    block = fn.body.block
    ret = block.last_op
    assert ret is not None
    buf = allocate_colors._barrier_setup(block, rows, cols, (0, 1))
    alloc = buf.owner
    assert isinstance(alloc, pe.AllocOp)
    alloc.set_offset(0)
    if late:
        busy = pe.AllocOp(pe.BufferType(late, Float32Type()), name="busy", pes=(0, 0, 1, 1))
        busy.set_offset(64)
        block.insert_op_before(busy, ret)
        block.insert_op_before(pe.FillOp(busy.result, value=1.0, pes=(0, 0, 1, 1)), ret)
    for _ in range(count):
        for op in allocate_colors._barrier(buf, rows, cols, (0, 1)):
            block.insert_op_before(op, ret)
    return module


def test_a_barrier_costs_what_the_cost_model_says_in_both_engines():
    """A barrier gathers each row into its last PE (the senders' routes merge, one receive of
    C - 1 messages), the last column into the last PE, and multicasts back: 56 + 2 (R + C)
    cycles on WSE2, what `barrier_cycles` charges; over more than GATHER_MAX_PES PEs or a side
    over GATHER_MAX_SIDE it chains (65 x 64 PEs: 1,064 cycles; 2 x 130)."""
    from pyflame.core.target import PRESETS
    from pyflame.passes.cost_model import CostContext
    from pyflame.passes.cost_model.barriers import barrier_cycles

    for target in ("wse2", "small"):
        ctx = CostContext(PRESETS[target.upper()])
        for rows, cols in (
            (1, 5),
            (4, 1),
            (2, 2),
            (3, 4),
            (8, 8),
            (5, 16),
            (32, 32),
            (65, 64),
            (2, 130),
        ):
            if target == "small" and max(rows, cols) > 16:  # its fabric is 16 x 16
                continue
            engines = ("fast", "wavelet") if rows * cols <= 256 else ("fast",)
            for fidelity in engines:
                module = _barriers_alone(rows, cols, 3, target)
                exe = compile_plan(module if fidelity == "fast" else _wavelet(module))
                _, report = exe.run([])
                assert report.cycles == 3 * barrier_cycles(ctx, rows, cols), (target, rows, cols)
    assert barrier_cycles(CostContext(PRESETS["WSE2"]), 64, 64) == 56 + 2 * 128
    assert barrier_cycles(CostContext(PRESETS["WSE2"]), 65, 64) == 1064


def test_no_pe_leaves_a_barrier_before_the_last_arrives():
    from pyflame.core.target import PRESETS
    from pyflame.passes.cost_model import CostContext
    from pyflame.passes.cost_model.barriers import barrier_cycles

    ctx = CostContext(PRESETS["SMALL"])
    alone = barrier_cycles(ctx, 4, 6)
    for fidelity in ("fast", "wavelet"):
        quick = compile_plan(_wavelet(_barriers_alone(4, 6, 1, "small", late=1)))
        slow_module = _barriers_alone(4, 6, 1, "small", late=3000)
        slow = compile_plan(slow_module if fidelity == "fast" else _wavelet(slow_module))
        fill = quick.run([])[1].cycles - alone  # the 1-element fill's own cycles
        _, report = slow.run([])
        # PE (0, 0) is busy ~3000 cycles: everyone waits for it, then the gathers from it
        # and the multicast back still take their hops
        far = ctx.latency(5) + ctx.latency(3 + 5 - 2)
        assert report.cycles >= 3000 // 8 + far, (
            report.cycles
        )  # (fill streams 8 words/cycle at most)
        assert report.cycles > fill + alone
        busy_end = report.busy_cycles[0, 0]
        assert report.cycles >= busy_end + far


def _wavelet(module):
    from pyflame.core.target import TARGET_ATTR, Target

    target = dataclasses.replace(Target.of_module(module), fidelity="wavelet")
    module.attributes[TARGET_ATTR] = target.to_attr()
    return module


#: four channels into PE (1, 0), each with other rules, leave no color PE (1, 0) has not
#: heard on; then channel 9's asynchronous send from PE (0, 2) to (0, 1) is in flight
#: (received after channel 13's transfer) when channel 13, from (0, 0) into (1, 0), must be
#: ordered by barriers: at 13's first transfer they would sit between 9's send, whose 64
#: wavelets hold (0, 2)'s ramp, and its receive
IN_FLIGHT = """builtin.module attributes {{pf.target = #pf.target<"small", num_colors = 4{extra}>}} {{
  func.func @main() -> (tensor<4xf32>, tensor<64xf32>, tensor<4xf32>) {{
    %a = pe.alloc {{name = "a", pes = array<i64: 0, 0, 3, 3>, offset = 0 : i64}} : !pe.buf<4xf32>
    %b = pe.alloc {{name = "b", pes = array<i64: 0, 0, 3, 3>, offset = 16 : i64}} : !pe.buf<64xf32>
    %c = pe.alloc {{name = "c", pes = array<i64: 0, 0, 3, 3>, offset = 272 : i64}} : !pe.buf<4xf32>
    pe.fill %a {{value = 1.0 : f64, pes = array<i64: 0, 0, 3, 3>}} : !pe.buf<4xf32>
    pe.fill %b {{value = 2.0 : f64, pes = array<i64: 0, 2, 1, 1>}} : !pe.buf<64xf32>
    pe.fill %c {{value = 3.0 : f64, pes = array<i64: 0, 0, 1, 1>}} : !pe.buf<4xf32>
    pe.route ramp -> [south] {{color = 1 : i64, pes = array<i64: 0, 0, 1, 1>}}
    pe.route north -> [ramp] {{color = 1 : i64, pes = array<i64: 1, 0, 1, 1>}}
    pe.send %a {{color = 1 : i64, pes = array<i64: 0, 0, 1, 1>}} : !pe.buf<4xf32>
    pe.recv %a {{color = 1 : i64, pes = array<i64: 1, 0, 1, 1>}} : !pe.buf<4xf32>
    pe.route ramp -> [west] {{color = 3 : i64, pes = array<i64: 1, 1, 1, 1>}}
    pe.route east -> [ramp] {{color = 3 : i64, pes = array<i64: 1, 0, 1, 1>}}
    pe.send %a {{color = 3 : i64, pes = array<i64: 1, 1, 1, 1>}} : !pe.buf<4xf32>
    pe.recv %a {{color = 3 : i64, pes = array<i64: 1, 0, 1, 1>}} : !pe.buf<4xf32>
    pe.route ramp -> [north] {{color = 5 : i64, pes = array<i64: 2, 0, 1, 1>}}
    pe.route south -> [ramp] {{color = 5 : i64, pes = array<i64: 1, 0, 1, 1>}}
    pe.send %a {{color = 5 : i64, pes = array<i64: 2, 0, 1, 1>}} : !pe.buf<4xf32>
    pe.recv %a {{color = 5 : i64, pes = array<i64: 1, 0, 1, 1>}} : !pe.buf<4xf32>
    pe.route ramp -> [south] {{color = 7 : i64, pes = array<i64: 0, 0, 1, 1>}}
    pe.route north -> [south, ramp] {{color = 7 : i64, pes = array<i64: 1, 0, 1, 1>}}
    pe.route north -> [ramp] {{color = 7 : i64, pes = array<i64: 2, 0, 1, 1>}}
    pe.send %a {{color = 7 : i64, pes = array<i64: 0, 0, 1, 1>}} : !pe.buf<4xf32>
    pe.recv %a {{color = 7 : i64, pes = array<i64: 1, 0, 2, 1>}} : !pe.buf<4xf32>
    pe.route ramp -> [west] {{color = 9 : i64, pes = array<i64: 0, 2, 1, 1>}}
    pe.route east -> [ramp] {{color = 9 : i64, pes = array<i64: 0, 1, 1, 1>}}
    %t = pe.send %b {{color = 9 : i64, pes = array<i64: 0, 2, 1, 1>}} : !pe.buf<64xf32> -> !pe.token
    pe.route ramp -> [south] {{color = 13 : i64, pes = array<i64: 0, 0, 1, 1>}}
    pe.route north -> [ramp] {{color = 13 : i64, pes = array<i64: 1, 0, 1, 1>}}
    pe.send %c {{color = 13 : i64, pes = array<i64: 0, 0, 1, 1>}} : !pe.buf<4xf32>
    pe.recv %c {{color = 13 : i64, pes = array<i64: 1, 0, 1, 1>}} : !pe.buf<4xf32>
    pe.recv %b {{color = 9 : i64, pes = array<i64: 0, 1, 1, 1>}} : !pe.buf<64xf32>
    pe.wait %t {{pes = array<i64: 0, 2, 1, 1>}}
    %oa = pe.host_out %a {{layout = #pe.layout<4xf32 on 1x1 split [_]>, pes = array<i64: 1, 0, 1, 1>}} : !pe.buf<4xf32> -> tensor<4xf32>
    %ob = pe.host_out %b {{layout = #pe.layout<64xf32 on 1x1 split [_]>, pes = array<i64: 0, 1, 1, 1>}} : !pe.buf<64xf32> -> tensor<64xf32>
    %oc = pe.host_out %c {{layout = #pe.layout<4xf32 on 1x1 split [_]>, pes = array<i64: 1, 0, 1, 1>}} : !pe.buf<4xf32> -> tensor<4xf32>
    func.return %oa, %ob, %oc : tensor<4xf32>, tensor<64xf32>, tensor<4xf32>
  }}
}}"""


def test_no_barrier_sits_between_a_send_and_its_receive():
    """The barriers ordering a switch go to the latest point before the switching channel's
    first transfer where no send waits for a receive after them (at the transfer itself, they
    deadlocked: the in-flight send held its PE's ramp, so that PE never reached the barrier's
    end; the half channel-split conv2d of test_conv.py::test_channel_split_conv2d_with_few_colors
    did so). Both engines."""
    from xdsl.context import Context
    from xdsl.parser import Parser

    from pyflame.compiler import make_context
    from pyflame.passes.allocate_colors import AllocateColorsPass
    from pyflame.passes.allocate_sram import AllocateSRAMPass

    for fidelity in ("fast", "wavelet"):
        extra = "" if fidelity == "fast" else f', fidelity = "{fidelity}"'
        module = Parser(make_context(), IN_FLIGHT.format(extra=extra)).parse_module()
        AllocateColorsPass().apply(Context(), module)
        AllocateSRAMPass().apply(Context(), module)
        lines = str(module).splitlines()
        assert '"barrier"' in lines[2]  # 13 is ordered by barriers
        sent = next(i for i, line in enumerate(lines) if "-> !pe.token" in line)
        received = next(i for i, line in enumerate(lines) if "pe.recv %b" in line)
        assert not any("combine max" in line for line in lines[sent:received])
        (a, b, c), _ = compile_plan(module).run([])
        np.testing.assert_array_equal(a, np.ones(4, np.float32))
        np.testing.assert_array_equal(b, np.full(64, 2.0, np.float32))
        np.testing.assert_array_equal(c, np.full(4, 3.0, np.float32))
