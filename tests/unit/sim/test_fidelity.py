"""The two simulator engines agree: identical outputs and cycles within 5% (or the same error)
over the corpus of tests/unit/sim/fidelity_corpus.py; each test prints the worst case.

The default run checks the network tests' programs, the exchanges (test_sim_exchange's
layouts and programs, the shape ops' exchanges) and SUMMA; the slow run (`-m slow`) adds
every other sim test's programs, the lit inputs, the benchmarks at small sizes, and Cannon and
MeshGEMM (tests/unit/test_shift_matmul.py compares their small grids in the default run).

`KNOWN_GAPS` lists the programs on which the fast engine departs from docs/simulator.md
"Streams, queues and back-pressure; asynchronous sends and receives" by more than the
tolerance: they are reported, not asserted, and the test says when one of them starts to agree
(then delete it from the list).
"""

from __future__ import annotations

import fidelity_corpus as corpus
import pytest

KNOWN_GAPS: dict[str, str] = {
    # (session 26, "redistributions sharing links" summa 68x1 @ 1x44 on 4x4 at (0, 9) and
    # 3x54 @ 54x54 on 6x6 at (10, 8), fast 265 / 285 and 736 / 774: two redistributions whose
    # phases run at once on other sources share links round robin, and the fast engine gave
    # the first message planned on a link its full rate. Agree since consecutive exchange
    # phases are timed together in time order, each message at its share of its links:
    # pyflame/sim/exchange_run.py, benchmarks/RESULTS.md "Session 27, fidelity".)
    #
    # (empty. lit/flame-to-mesh/matmul-partitioned-operand.mlir, where a pass-through PE
    # switched a rule an earlier exchange phase still needed, agrees since allocate-colors
    # gives such phases colors whose rules agree, or orders the switch with barriers)
    #
    # (chains seed 1 case 10 of tests/fuzz/sweeps.py, 5.5-6% apart, agrees since an exchange
    # phase's messages that wait in the path for a busy receiver drain through the path's
    # last links one after another: fabric.Links.drain_parked)
    #
    # (session 20: copying each tile to every PE of its column, [r, c] -> [_, c], was 8-11%
    # early from 4 rows on: row 3's phase-1 message is still on the link (2, 0) -> (1, 0) when
    # row 2's phase-2 message takes it, and the machine shares a link round robin over colors.
    # Agrees since an exchange phase's messages delay the last phase's ones they share links
    # with: pyflame/sim/kernels/exchange.py `_share_links_with_last_phase`.)
    #
    # (chains seed 29 case 2, 49 phases from a grid at (0, 0) to one at (0, 6), 8% apart:
    # 3,566 / 3,280 with SUMMA, 3,798 / 3,493 with MeshGEMM. Agrees since barriers gather
    # (session 22): 2,708 / 2,580 and 2,914 / 2,806; the program's barriers were chains of
    # forwarding stages before. Which part of the gap went with them was not traced.)
    #
    # (chains seed 43 case 3, fast 5.8% early (664 / 705): the first redistribution's phase-1
    # message lost a link west of (4, 6) and then the link north out of (4, 0) for ~40 cycles
    # to later phases' and the next redistribution's messages, under a priority that rotated
    # with the cycle number. Agrees since the wavelet engine's arbiter is round robin from
    # each link's last grant (session 24, docs/simulator.md "Wavelet engine").)
    #
    # (session 21: an asynchronous send longer than its path, then a synchronous send on the
    # same PE whose receiver takes it first, deadlocked on the wavelet engine only; agrees since
    # such a stream holds its PE's output ramp until its receivers take it up:
    # kernels/network.py `ramp_free`, the planner's `_ramps_ready`)
}

SIM_TEST_MODULES = [
    "test_sim_compute",
    "test_sim_conv",
    "test_sim_creation",
    "test_sim_exchange",
    "test_sim_host_io",
    "test_sim_indexed",
    "test_sim_program",
    "test_sim_reductions",
    "test_sim_shape_ops",
    "test_sim_streams",
    "test_wavelet",
]


def check(cases) -> None:
    outcomes = [corpus.compare(c) for c in cases]
    assert outcomes, "the corpus is empty"
    print("\n" + corpus.summary(outcomes))
    now_agree = [o.name for o in outcomes if o.verdict == "agree" and o.name in KNOWN_GAPS]
    if now_agree:
        print("now agree (delete from KNOWN_GAPS): " + ", ".join(now_agree))
    bad = [o for o in outcomes if o.verdict == "differ" and o.name not in KNOWN_GAPS]
    assert not bad, "the engines disagree:\n" + "\n".join(f"{o.name}: {o.detail}" for o in bad)
    assert any(o.verdict == "agree" for o in outcomes)


def test_network_programs_agree(sim):
    check(list(corpus.recorded_programs(sim, ["test_sim_network"])))


def test_exchange_programs_agree(sim):
    check(
        list(corpus.exchange_programs(sim))
        + list(corpus.recorded_programs(sim, ["test_sim_exchange", "test_sim_shape_ops"]))
    )


def test_indexed_row_programs_agree(sim):
    check(list(corpus.recorded_programs(sim, ["test_sim_indexed"])))


#: whole lookups and their gradients as the compiler lowers them (the index's copies, the
#: gather, the allreduce across the table's row split; the scatter-add), per table layout
LOOKUP = """builtin.module attributes {{pf.target = #pf.target<"small">}} {{
  func.func @main(%w: tensor<9x6xf32> {{flame.layout = #flame.layout<{layout}>}},
                  %i: tensor<2x3xi32>, %g: tensor<2x3x6xf32>) -> (tensor<2x3x6xf32>, tensor<9x6xf32>) {{
    %0 = flame.gather_rows %w, %i : (tensor<9x6xf32>, tensor<2x3xi32>) -> tensor<2x3x6xf32>
    %1 = flame.scatter_add_rows %i, %g {{rows = 9 : i64, layout = #flame.layout<{layout}>}} : (tensor<2x3xi32>, tensor<2x3x6xf32>) -> tensor<9x6xf32>
    func.return %0, %1 : tensor<2x3x6xf32>, tensor<9x6xf32>
  }}
}}"""


def test_lowered_lookups_agree(sim):
    from pyflame import compiler

    def make(layout: str):
        module = sim.parse(LOOKUP.format(layout=layout))
        compiler.lower(module, "pe")
        return module

    layouts = ["single", "grid [3, 2]", "row_partition [4]", "col_partition [2]", "grid [2, 2]"]
    check([corpus.Case(f"lookup {lay}", lambda lay=lay: make(lay)) for lay in layouts])


def test_summa_agrees(sim):
    check(list(corpus.summa_programs(sim)))


@pytest.mark.slow  # ~45 s
def test_shift_matmul_programs_agree():
    check(list(corpus.shift_matmul_programs()))


def test_layered_matmul_programs_agree():
    check(list(corpus.layered_matmul_programs()))


def test_transposed_matmul_programs_agree():
    check(list(corpus.transposed_matmul_programs()))


@pytest.mark.slow
def test_sim_test_programs_agree(sim):
    check(list(corpus.recorded_programs(sim, SIM_TEST_MODULES)))


@pytest.mark.slow
def test_lit_programs_agree(sim):
    check(list(corpus.lit_programs(sim)))


@pytest.mark.slow  # (16 s: the other corpora keep both engines' agreement in the default run)
def test_sweep_chains_agree():
    # chains of products found by tests/fuzz/sweeps.py (fidelity_corpus.SWEEP_CHAINS)
    check(list(corpus.sweep_chain_programs(("summa", "meshgemm"))))


def test_exchange_timing_programs_agree():
    # fidelity_corpus.exchange_timing_programs: 5.7% and 6.3% apart before session 14 (the two
    # redistributions sharing links are KNOWN_GAPS)
    check(list(corpus.exchange_timing_programs()))


def test_replicating_exchange_programs_agree(sim):
    # fidelity_corpus.replicating_exchange_programs: 8-11% apart before session 20's link
    # sharing between exchange phases
    check(list(corpus.replicating_exchange_programs(sim)))


def test_async_send_holding_the_ramp():
    # fidelity_corpus.ramp_programs: the third deadlocked on the wavelet engine only before
    # session 21's held ramps
    check(list(corpus.ramp_programs()))


def test_multicast_fork_programs_agree():
    # fidelity_corpus.multicast_fork_programs: 5.5% apart before session 15
    check(list(corpus.multicast_fork_programs()))


@pytest.mark.slow  # ~4 min under load (the training step's trace and wavelet run)
def test_gpt_programs_agree():
    check(list(corpus.gpt_programs()))


def test_split_collectives_agree():
    check(list(corpus.split_collective_programs()))


def test_conv_forms_agree():
    check(list(corpus.conv_programs()))


def test_conv_weight_gradient_forms_agree():
    check(list(corpus.conv_weight_grad_programs()))


@pytest.mark.slow
def test_benchmarks_agree():
    check(list(corpus.benchmark_programs()))


#: programs on rectangles away from PE (0, 0): hints with an origin (a reduction, an exchange
#: between two origins), and two independent products place-on-fabric puts side by side
AT_ORIGINS = """builtin.module attributes {pf.target = #pf.target<"small">} {
  func.func @main(%x: tensor<9x13xf32> {flame.layout = #flame.layout<grid [2, 2] at [1, 6]>},
                  %y: tensor<9x13xf32> {flame.layout = #flame.layout<grid [3, 3] at [5, 0]>},
                  %a: tensor<19x11xf32>, %b: tensor<11x9xf32>, %c: tensor<19x11xf32>,
                  %d: tensor<11x9xf32>) -> (tensor<13xf32>, tensor<19x9xf32>, tensor<19x9xf32>) {
    %0 = flame.add %x, %y : (tensor<9x13xf32>, tensor<9x13xf32>) -> tensor<9x13xf32>
    %1 = flame.reduce_sum %0 {dims = array<i64: 0>} : tensor<9x13xf32> -> tensor<13xf32>
    %2 = flame.matmul %a, %b {layout = #flame.layout<grid [4, 4]>} : (tensor<19x11xf32>, tensor<11x9xf32>) -> tensor<19x9xf32>
    %3 = flame.matmul %c, %d {layout = #flame.layout<grid [4, 4]>} : (tensor<19x11xf32>, tensor<11x9xf32>) -> tensor<19x9xf32>
    func.return %1, %2, %3 : tensor<13xf32>, tensor<19x9xf32>, tensor<19x9xf32>
  }
}"""


def test_programs_at_origins_agree(sim):
    from pyflame import compiler

    def make():
        module = sim.parse(AT_ORIGINS)
        compiler.lower(module, "pe")
        return module

    assert " at (" in str(compiler.lower(sim.parse(AT_ORIGINS), "mesh"))
    check([corpus.Case("at origins", make)])


@pytest.mark.parametrize("algorithm", ["summa25d", "meshgemm", "summa", "cannon"])
def test_products_fed_from_an_origin_agree(algorithm):
    # found by the session-9 sweep: (A @ B) @ C with A, B, C hinted on 4x4 at (8, 8): the
    # products run at (0, 0); C's redistribution from (8, 8) shared a color with the first
    # product's panels, and its senders, idle during that product, sent at once. The fast
    # engine delivered in program order (right values); the wavelet engine saw PE (2, 3) take
    # the exchange's 36-wavelet message for the product's 72-wavelet panel (RoutingError), or
    # a deadlock. Now the fast engine reports such a race (test_arrivals.py) and
    # allocate-colors gives the redistribution a color none of whose receivers it shares
    import numpy as np

    import pyflame as pf
    from pyflame.sim.planner import compile_plan

    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((24, 24)).astype(np.float32) for _ in range(2))
    lay = pf.MeshLayout.grid(4, 4, at=(8, 8))

    def build():
        x, y, z = (pf.from_numpy(v, layout=lay) for v in (a, b, b.T.copy()))
        return [(x @ y) @ z]

    case = corpus._traced(f"{algorithm} chain from (8, 8)", build, pf.sim.SMALL, None, algorithm)
    check([case])
    # agreeing by raising the same error is not enough here: the program is valid
    out, _ = compile_plan(case.module()).run(case.args)
    np.testing.assert_allclose(out[0], (a @ b) @ b.T, rtol=1e-4, atol=1e-4)


def test_small_summa_tiles_agree_bit_for_bit():
    # found by the session-11 sweep (tests/fuzz/sweeps.py chains, seed 1 case 2): outputs
    # 3.8e-6 apart. From broadcast views (elided receives) the fast engine made a PE row's
    # small tiles one BLAS product (n = 1: (cols x k) @ (k x m); m*k*n <= 16^3: (rows*m x k) @
    # (k x cols*n)), which sums in another order than one product per tile, as the wavelet
    # engine (never reading views) and the fast engine from SRAM make it; now every step is
    # one product per tile on both engines. Here the first product's 5x3x1 tiles on 6x6.
    import numpy as np

    import pyflame as pf
    from pyflame.sim.planner import compile_plan

    rng = np.random.default_rng(2)
    a, w1, w2, w3 = (
        rng.standard_normal(s).astype(np.float32) for s in ((28, 13), (13, 3), (13, 3), (4, 13))
    )

    def build():
        def on(x, at):
            return pf.from_numpy(x, layout=pf.MeshLayout.grid(6, 6, at=at))

        y = on(a, (0, 0)) @ on(w1, (0, 0)) @ on(w2, (3, 3)).T @ on(w3, (9, 6)).T
        return [y.sum(1)]

    case = corpus._traced("summa chain with 5x3x1 tiles", build, pf.sim.SMALL, None, "summa")
    check([case])  # identical outputs
    (out,), _ = compile_plan(case.module()).run(case.args)
    want = (a.astype(np.float64) @ w1 @ w2.T @ w3.T).sum(1)
    np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-4)
