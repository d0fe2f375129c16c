"""combine-collectives (passes/combine_collectives.py) and mesh.allreduce_group's lowering
(passes/pe_lowering/collectives.py): groups of allreduces of odd shapes and mixed layouts over
the rows, the columns and both axes of 3x5 and 4x4 grids, with every line-plan algorithm, in
f32, f16 and i32, against numpy and bit for bit against the members' own allreduces, on both
simulator engines; what the pass groups and what it leaves alone; the MLP step's gradients."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp
from xdsl.parser import Parser
from xdsl.utils.exceptions import VerifyException

from pyflame import compiler
from pyflame.core import collectives
from pyflame.core.collectives import CollectiveAlgorithm
from pyflame.core.target import SMALL
from pyflame.dialects import mesh
from pyflame.passes import combine_collectives as cc
from pyflame.sim import compile_plan

sys.path.insert(0, str(Path(__file__).parent / "sim"))
import fidelity_corpus as corpus  # noqa: E402  (tests/unit/sim on the path first)

#: mesh-to-pe without combine-collectives: each allreduce on its own
ALONE = "lower-mesh-to-pe,fuse-elementwise,allocate-colors,allocate-sram"
PLANNED = [a.value for a in CollectiveAlgorithm if a not in collectives.SPLIT]
NP = {"f32": np.float32, "f16": np.float16, "i32": np.int32}

# (shape, split, dims) of each member, by the mesh axes reduced; R, C: the grid's sides
OVER = {
    "r": lambda R, C: [
        ((R, 11), "r, c", (0,)),
        ((R, 7), "r, _", (0,)),
        ((R,), "r", (0,)),
        ((3, R, 13), "_, r, c", (1,)),
    ],
    "c": lambda R, C: [
        ((13, C), "r, c", (1,)),
        ((C,), "c", (0,)),
        ((5, C), "_, c", (1,)),
    ],
    "rc": lambda R, C: [
        ((R, C), "r, c", (0, 1)),
        ((R * C,), "rc", (0,)),
        ((R, 3, C), "r, _, c", (0, 2)),
    ],
}


def tensor(shape: tuple[int, ...], elem: str) -> str:
    return "x".join([*map(str, shape), elem])


def reduced(shape: tuple[int, ...], dims: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(1 if d in dims else n for d, n in enumerate(shape))


def unsplit(split: str, dims: tuple[int, ...]) -> str:
    return ", ".join("_" if d in dims else a for d, a in enumerate(split.split(", ")))


def program(
    grid: tuple[int, int],
    members: list[tuple[tuple[int, ...], str, tuple[int, ...]]],
    elem: str = "f32",
    algorithm: str = "tree",
    kind: str = "sum",
    interleaved: bool = False,
) -> str:
    """@main scattering one argument per member, allreducing each over its dims, gathering
    the results (each allreduce independent of the others): all the scatters, then the
    allreduces, then the gathers; `interleaved`: each member's ops together. The even members
    reduce the negated argument (`sign`): a tile-local op makes them, straight into the packed
    buffer once grouped; the odd ones are copied in."""
    g = f"{grid[0]}x{grid[1]}"
    args, body, outs, types = [], [], [], []
    for i, (shape, split, dims) in enumerate(members):
        src = f"!mesh.tensor<{tensor(shape, elem)} on {g} split [{split}]>"
        small = reduced(shape, dims)
        dst = f"!mesh.tensor<{tensor(small, elem)} on {g} split [{unsplit(split, dims)}]>"
        args.append(f"%a{i}: tensor<{tensor(shape, elem)}>")
        made = f"%m{i} = mesh.unary neg %s{i} : {src}" if sign(i) < 0 else ""
        body += [
            f"%s{i} = mesh.scatter %a{i} : tensor<{tensor(shape, elem)}> -> {src}",
            made,
            f"%r{i} = mesh.allreduce {kind} {'%m' if made else '%s'}{i} dims {list(dims)} "
            f"algorithm {algorithm} : {src} -> {dst}",
            f"%g{i} = mesh.gather %r{i} : {dst} -> tensor<{tensor(small, elem)}>",
        ]
        outs.append(f"%g{i}")
        types.append(f"tensor<{tensor(small, elem)}>")
    if not interleaved:
        body = body[0::4] + body[1::4] + body[2::4] + body[3::4]
    return (
        'builtin.module attributes {pf.target = #pf.target<"small">} {\n'
        f"func.func @main({', '.join(args)}) -> ({', '.join(types)}) {{\n"
        + "\n".join(line for line in body if line)
        + f"\nfunc.return {', '.join(outs)} : {', '.join(types)}\n}}\n}}"
    )


def sign(i: int) -> int:
    """-1 for the members `program` negates before reducing."""
    return -1 if i % 2 == 0 else 1


def parse(text: str) -> ModuleOp:
    module = Parser(compiler.make_context(), text).parse_module()
    module.verify()
    return module


def main(module: ModuleOp) -> func.FuncOp:
    (fn,) = [op for op in module.ops if isinstance(op, func.FuncOp)]
    return fn


def main_ops(module: ModuleOp) -> list:
    return list(main(module).body.block.ops)


def cycles(module: ModuleOp) -> int:
    return cc.function_cycles(main(module), SMALL)


def allreduces(module: ModuleOp) -> list[mesh.AllReduceOp]:
    return [op for op in main_ops(module) if isinstance(op, mesh.AllReduceOp)]


def grouped(text: str) -> ModuleOp:
    """The program with all its allreduces forced into one group (whatever the estimate),
    keeping their line plans where they share them (`plan_b`)."""
    module = parse(text)
    ops = allreduces(module)
    _, pin = cc.plan_b(members_of(ops), SMALL)
    assert cc.combine(main(module).body.block, ops, ops[0].algorithm.data, pin) is not None
    module.verify()
    return module


def members_of(ops: list[mesh.AllReduceOp]) -> list[cc.Member]:
    out = [cc.member_of(op, SMALL) for op in ops]
    assert all(m is not None for m in out)
    return out  # type: ignore[return-value]


def to_pe(module: ModuleOp) -> ModuleOp:
    compiler.run_pipeline(module, ALONE)
    return module


def arguments(text: str, elem: str, seed: int) -> list[np.ndarray]:
    exe = compile_plan(to_pe(parse(text)))
    rng = np.random.default_rng(seed)
    out = []
    for kind in exe._arg_kinds:
        shape = kind[1]
        if elem == "i32":
            out.append(rng.integers(-50, 50, shape).astype(np.int32))
        else:
            out.append(rng.standard_normal(shape).astype(NP[elem]))
    return out


@pytest.mark.parametrize("algorithm", PLANNED)
@pytest.mark.parametrize("grid", [(3, 5), (4, 4)])
@pytest.mark.parametrize("axes", ["r", "c", "rc"])
def test_a_group_gives_each_allreduce_its_own_numbers(algorithm, grid, axes) -> None:
    """Members of odd shapes (not dividing the grid) and mixed splits, packed and reduced as
    one: numpy's sums, bit for bit what each allreduce gives alone (the same plan: the same
    order of additions), on the fast engine and the same on the wavelet-level one."""
    members = OVER[axes](*grid)
    text = program(grid, members, "f32", algorithm)
    args = arguments(text, "f32", sum(grid))
    alone, _ = compile_plan(to_pe(parse(text))).run(args)
    lowered = to_pe(grouped(text))
    # the negated members are made in their windows; the others are copied in, then their
    # results are windows too
    ir = str(lowered)
    assert ir.count("pe.unpack") == len(members) // 2
    assert ir.count("pe.alloc in") == len(members) and "pe.pack " not in ir
    together, _ = compile_plan(lowered).run(args)
    for i, (a, (_, _, dims), got, own) in enumerate(
        zip(args, members, together, alone, strict=True)
    ):
        want = (sign(i) * a).sum(axis=dims, keepdims=True)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
        same, _ = cc.plan_b(members_of(allreduces(parse(text))), SMALL)
        if same:  # ktree's trees depend on B: members with different ones are summed apart
            np.testing.assert_array_equal(got, own)
    engines_agree(text, args)


def engines_agree(text: str, args: list[np.ndarray]) -> None:
    """The group's program on both engines: the same outputs, and cycles within the corpus's
    tolerance, or (a short program) apart by no more than the members' own programs are (the
    fast engine times two_chains' meeting of two streams a few cycles early on 3-PE lines,
    in 8 of ~280 cycles alone: more than 5% of a group's ~150)."""
    outcome = corpus.compare(corpus.Case("group", lambda: to_pe(grouped(text)), args))
    if outcome.verdict == "agree":
        return
    assert outcome.detail.startswith("cycles"), outcome.detail  # the outputs agree
    own = corpus.compare(corpus.Case("alone", lambda: to_pe(parse(text)), args))
    gap = abs(outcome.wavelet_cycles - outcome.fast_cycles)
    assert gap <= abs(own.wavelet_cycles - own.fast_cycles) + 1, (outcome, own)


@pytest.mark.parametrize("elem", ["f16", "i32"])
@pytest.mark.parametrize("kind", ["sum", "max"])
def test_half_floats_and_ints_pack_too(elem, kind) -> None:
    """f16 (two values a wavelet: an odd member count leaves half a wavelet of padding inside
    the packed buffer) and i32 members, sums and maxima, on both engines."""
    members = OVER["r"](3, 5)[:3]
    text = program((3, 5), members, elem, "tree", kind)
    args = arguments(text, elem, 5)
    alone, _ = compile_plan(to_pe(parse(text))).run(args)
    together, _ = compile_plan(to_pe(grouped(text))).run(args)
    ref = np.sum if kind == "sum" else np.max
    for i, (a, (_, _, dims), got, own) in enumerate(
        zip(args, members, together, alone, strict=True)
    ):
        want = ref(sign(i) * a.astype(np.float32), axis=dims, keepdims=True)
        np.testing.assert_allclose(np.float32(got), want, rtol=2e-2, atol=0.1)
        np.testing.assert_array_equal(got, own)
    engines_agree(text, args)


def test_the_pass_groups_scalars_whose_stages_dominate() -> None:
    """Three scalar sums over the rows of 4x4 PEs: one group, its pf.why naming the estimate
    that accepted it, lower than the program's without it."""
    text = program((4, 4), [((4,), "r", (0,))] * 3)
    module = parse(text)
    before = cycles(module)
    (group,) = cc.combine_collectives(module)
    module.verify()
    assert len(group.inputs) == 3 and not allreduces(module)
    assert group.algorithm_name == "tree"
    why = group.attributes["pf.why"].data
    assert why.startswith("combine-collectives: 3 allreduces as one (1 + 1 + 1 elements")
    assert f"{before:,} -> " in why and cycles(module) < before


def test_the_pass_keeps_a_group_only_where_the_estimate_drops() -> None:
    """Two long vectors on a line of two PEs: the stages saved (one hop) are worth less than
    the copies in and out, and the pass leaves them; the trial it refused was dearer."""
    members = [((2, 250), "r, _", (0,)), ((2, 240), "r, _", (0,))]
    module = parse(program((2, 1), members, algorithm="chain"))
    before = cycles(module)
    trial = cc.trial_cycles(main(module), allreduces(module), "chain", SMALL)
    assert trial is not None and trial > before
    assert cc.combine_collectives(module) == [] and len(allreduces(module)) == 2


def test_a_user_that_holds_channels_is_not_moved() -> None:
    """The first sum is gathered before the second's operand is made: the gather (host I/O,
    not tile-local) would have to move after the group, so the pair stays apart."""
    module = parse(program((4, 4), [((4,), "r", (0,))] * 2, interleaved=True))
    ops = allreduces(module)
    assert cc.combine(main(module).body.block, ops, "tree") is None
    assert allreduces(module) == ops  # unchanged
    assert cc.combine_collectives(module) == []


def test_a_dependent_pair_is_left_alone() -> None:
    """The second sum reads the first's result (through a tile-local op): no group."""
    src = "!mesh.tensor<4xf32 on 4x4 split [r]>"
    dst = "!mesh.tensor<1xf32 on 4x4 split [_]>"
    text = f"""builtin.module attributes {{pf.target = #pf.target<"small">}} {{
func.func @main(%a: tensor<4xf32>) -> tensor<1xf32> {{
  %s = mesh.scatter %a : tensor<4xf32> -> {src}
  %r = mesh.allreduce sum %s dims [0] algorithm tree : {src} -> {dst}
  %b = mesh.broadcast %r : {dst} -> {src}
  %m = mesh.binary mul %b, %s : {src}, {src} -> {src}
  %t = mesh.allreduce sum %m dims [0] algorithm tree : {src} -> {dst}
  %g = mesh.gather %t : {dst} -> tensor<1xf32>
  func.return %g : tensor<1xf32>
}}
}}"""
    module = parse(text)
    ops = allreduces(module)
    assert not cc.independent(ops, main(module).body.block)
    assert cc.combine_collectives(module) == [] and allreduces(module) == ops


@pytest.mark.parametrize("algorithm", ["two_way", "rsag"])
def test_split_algorithms_are_never_grouped(algorithm) -> None:
    """two_way and rsag reduce each half of the buffer by its own chains: the packed buffer's
    halves are not the members', so a value could be summed in another order. The pass leaves
    them alone and the op's verifier refuses them."""
    text = program((4, 4), [((4,), "r", (0,))] * 3, algorithm=algorithm)
    module = parse(text)
    assert all(cc.member_of(op, SMALL) is None for op in allreduces(module))
    assert cc.combine_collectives(module) == [] and len(allreduces(module)) == 3
    ops = allreduces(parse(text))
    with pytest.raises(VerifyException, match=f"cannot use {algorithm}: its halves"):
        mesh.AllReduceGroupOp("sum", [op.input for op in ops], [(0,)] * 3, algorithm).verify()


def test_ktree_members_are_grouped_only_where_their_trees_agree() -> None:
    """ktree's tree depends on B: on a line of 8 PEs one wavelet and seven get different
    trees, so a scalar and a 7-vector stay apart although the estimate favours packing them.
    Three scalars on a line of 16 share their tree, which the packed buffer (3 wavelets:
    another tree) keeps (`plans for 1`): the same sums bit for bit, on both engines."""
    mixed = parse(program((8, 1), [((8,), "r", (0,)), ((8, 7), "r, _", (0,))], algorithm="ktree"))
    ops = allreduces(mixed)
    trial = cc.trial_cycles(main(mixed), ops, "ktree", SMALL)
    assert trial is not None and trial < cycles(mixed)
    assert cc.plan_b(members_of(ops), SMALL) == (False, None)
    assert cc.combine_collectives(mixed) == []
    text = program((16, 1), [((16,), "r", (0,))] * 3, algorithm="ktree")
    scalars = parse(text)
    assert cc.plan_b(members_of(allreduces(scalars)), SMALL) == (True, 1)
    (group,) = cc.combine_collectives(scalars)
    assert group.algorithm_name == "ktree" and group.plan_b == 1 and group.packed_wavelets == 3
    assert "plans for 1" in str(group)
    args = arguments(text, "f32", 16)
    alone, _ = compile_plan(to_pe(parse(text))).run(args)
    together, _ = compile_plan(to_pe(scalars)).run(args)
    for a, b in zip(alone, together, strict=True):
        np.testing.assert_array_equal(a, b)
    engines_agree(text, args)


def test_members_must_share_kind_axes_grid_and_type() -> None:
    """Sums and maxima, rows and columns, two grids, f32 and i32: no two of them group; the
    op's verifier names what differs."""
    members = [((4, 4), "r, c", (0,)), ((4, 4), "r, c", (1,))]
    module = parse(program((4, 4), members))
    assert cc.combine_collectives(module) == []
    ops = allreduces(module)
    with pytest.raises(VerifyException, match="over the same mesh axes"):
        mesh.AllReduceGroupOp("sum", [op.input for op in ops], [(0,), (1,)]).verify()
    maxima = parse(program((4, 4), [((4,), "r", (0,))] * 2, kind="max"))
    sums = parse(program((4, 4), [((4,), "r", (0,))] * 2))
    keys = {cc.member_of(op, SMALL).key for m in (maxima, sums) for op in allreduces(m)}
    assert len(keys) == 2
    ints = allreduces(parse(program((4, 4), [((4,), "r", (0,))], elem="i32")))
    floats = allreduces(sums)
    with pytest.raises(VerifyException, match="needs one element type"):
        mesh.AllReduceGroupOp("sum", [ints[0].input, floats[0].input], [(0,), (0,)]).verify()
    other = allreduces(parse(program((4, 2), [((4,), "r", (0,))])))
    with pytest.raises(VerifyException, match="share one grid and origin"):
        mesh.AllReduceGroupOp("sum", [other[0].input, floats[0].input], [(0,), (0,)]).verify()


@pytest.mark.usefixtures("no_pending_updates")
def test_the_mlp_steps_gradient_sums_become_one_with_the_same_numbers() -> None:
    """The MLP 784-256-10 step of benchmarks/host_speed.py (batch 64, 64x64 PEs): bias1's,
    W2's and bias2's gradients (4 + 40 + 10 values per PE, summed over the PE rows) become one
    allreduce, and so do the loss's sum and its count of targets; the step's outputs (loss,
    updated weights) are bit for bit those of the allreduces alone, in fewer cycles, and the
    step trains as torch does."""
    import torch

    from pyflame import nn, optim, runtime

    rng = np.random.default_rng(2)
    xs = rng.standard_normal((64, 784)).astype(np.float32)
    ys = rng.integers(0, 10, 64).astype(np.int32)
    model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
    tmodel = torch.nn.Sequential(
        torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Linear(256, 10)
    )
    with torch.no_grad():
        for p, t in zip(model.parameters(), tmodel.parameters(), strict=True):
            t.copy_(torch.from_numpy(p.numpy()))
    opt = optim.SGD(model.parameters(), lr=0.01)
    loss = nn.CrossEntropyLoss()(model(pf_tensor(xs)), pf_tensor(ys))
    loss.backward()
    opt.step()
    module = runtime._program_module((loss,))
    compiler.run_pipeline(module, compiler.stage_pipeline("flame", "mesh"))
    grouped_module = module.clone()
    groups = cc.combine_collectives(grouped_module)
    assert sorted(g.member_elems for g in groups) == [[1, 1], [4, 40, 10]]
    inputs = {"x0": ys, "x1": xs}
    alone, alone_report = compiler.run_module(to_pe(module), inputs, seed=0)
    together, report = compiler.run_module(to_pe(grouped_module), inputs, seed=0)
    for a, b in zip(alone, together, strict=True):
        np.testing.assert_array_equal(a, b)
    assert report.cycles < alone_report.cycles - 300, (report.cycles, alone_report.cycles)
    tloss = torch.nn.functional.cross_entropy(
        tmodel(torch.from_numpy(xs)), torch.from_numpy(ys).long()
    )
    tloss.backward()
    torch.optim.SGD(tmodel.parameters(), lr=0.01).step()
    assert abs(loss.item() - tloss.item()) < 1e-5
    for p, t in zip(model.parameters(), tmodel.parameters(), strict=True):
        np.testing.assert_allclose(p.numpy(), t.detach().numpy(), rtol=1e-5, atol=1e-6)


def pf_tensor(a: np.ndarray):
    import pyflame as pf

    return pf.from_numpy(a)


def test_ops_before_and_after_a_group_are_not_fused_across_it() -> None:
    """neg before a group and neg after it, on the same window of the packed buffer (the
    operand made there, the result read there): fuse-elementwise must not make them one pass
    over the tile, which would skip the reduction in between (the window is written through
    the packed buffer, by the reduction's receives)."""
    src = "!mesh.tensor<4xf32 on 4x4 split [r]>"
    dst = "!mesh.tensor<1xf32 on 4x4 split [_]>"
    text = f"""builtin.module attributes {{pf.target = #pf.target<"small">}} {{
func.func @main(%a0: tensor<4xf32>, %a1: tensor<4xf32>) -> (tensor<1xf32>, tensor<1xf32>) {{
  %s0 = mesh.scatter %a0 : tensor<4xf32> -> {src}
  %s1 = mesh.scatter %a1 : tensor<4xf32> -> {src}
  %m0 = mesh.unary neg %s0 : {src}
  %m1 = mesh.unary exp %s1 : {src}
  %r0 = mesh.allreduce sum %m0 dims [0] algorithm tree : {src} -> {dst}
  %r1 = mesh.allreduce sum %m1 dims [0] algorithm tree : {src} -> {dst}
  %n0 = mesh.unary neg %r0 : {dst}
  %n1 = mesh.unary exp %r1 : {dst}
  %g0 = mesh.gather %n0 : {dst} -> tensor<1xf32>
  %g1 = mesh.gather %n1 : {dst} -> tensor<1xf32>
  func.return %g0, %g1 : tensor<1xf32>, tensor<1xf32>
}}
}}"""
    a = np.array([1, 2, 3, 4], np.float32)
    b = np.array([0.1, 0.2, 0.3, 0.4], np.float32)
    lowered = to_pe(grouped(text))
    assert "pe.fused" not in str(lowered) and str(lowered).count("pe.alloc in") == 2
    (neg, exp), _ = compile_plan(lowered).run([a, b])
    np.testing.assert_allclose(neg, [a.sum()], rtol=1e-6)
    np.testing.assert_allclose(exp, [np.exp(np.exp(b).sum())], rtol=1e-5)
