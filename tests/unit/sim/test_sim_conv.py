"""The halo exchange's pe.pack / pe.unpack and the local pe.conv2d / pe.pool2d, on hand-written
pe programs: numbers against numpy and PyTorch (each PE with its own data), cycle costs."""

from __future__ import annotations

import numpy as np
import pytest

from pyflame.core.target import SMALL
from pyflame.sim import threads

torch = pytest.importorskip("torch")

RECT = (0, 0, 3, 2)  # 3 PE rows, 2 PE cols
PES = RECT[2] * RECT[3]


def ints(values) -> str:
    return "array<i64: " + ", ".join(map(str, values)) + ">"


def run_tiles(
    sim,
    inputs: dict[str, int],
    ops: list[str],
    out: str,
    sizes: dict[str, int],
    arrays: dict[str, np.ndarray],
    rect=RECT,
):
    """Host tensors (one distinct tile per PE, [rc] layout) into buffers `inputs` (name ->
    elements per PE), scratch buffers `sizes`, run `ops` (PES = the rectangle), read `out`."""
    b = sim.Body()
    pes = rect[2] * rect[3]
    for name, n in {**inputs, **sizes}.items():
        b.alloc(name, rect, n)
    args, values = [], []
    for name, n in inputs.items():
        shape = (pes * n,)
        lay = sim.layout(shape, rect[2:], ("rc",))
        b.op(
            f"pe.host_in %{name}_h, %{name} {{layout = {lay}, pes = {sim.pes(rect)}}} : "
            f"{sim.tensor(shape)}, {b.t(name)}"
        )
        args.append(f"%{name}_h: {sim.tensor(shape)}")
        values.append(arrays[name].reshape(-1))
    for op in ops:
        b.op(op.replace("PES", sim.pes(rect)))
    n = {**inputs, **sizes}[out]
    shape = (pes * n,)
    lay = sim.layout(shape, rect[2:], ("rc",))
    tt = sim.tensor(shape)
    b.op(f"%o = pe.host_out %{out} {{layout = {lay}, pes = {sim.pes(rect)}}} : {b.t(out)} -> {tt}")
    text = sim.program(b.text(), ", ".join(args), tt, f"%o : {tt}")
    (o,), report = sim.run(text, *values)
    return o.reshape(rect[2], rect[3], -1), report


def buf(n: int) -> str:
    return f"!pe.buf<{n}xf32>"


@pytest.mark.parametrize("dim,start,count", [(2, 0, 1), (2, 2, 2), (3, 1, 3), (1, 0, 2)])
def test_pack_copies_a_slab(sim, rng, dim, start, count):
    shape = (1, 2, 4, 5)
    slab = tuple(count if d == dim else n for d, n in enumerate(shape))
    n, m = int(np.prod(shape)), int(np.prod(slab))
    x = rng.standard_normal((3, 2, n)).astype(np.float32)
    op = (
        f"pe.pack %s, %x {{shape = {ints(shape)}, dim = {dim} : i64, start = {start} : i64, "
        f"count = {count} : i64, pes = PES}} : {buf(m)}, {buf(n)}"
    )
    o, report = run_tiles(sim, {"x": n}, [op], "s", {"s": m}, {"x": x})
    sel = [slice(None)] * 6
    sel[dim + 2] = slice(start, start + count)
    want = x.reshape((3, 2) + shape)[tuple(sel)].reshape(3, 2, -1)
    np.testing.assert_array_equal(o, want)
    # one strided copy of m f32: m cycles on one lane (the ports move 4 and 2 a cycle)
    assert report.cycles == m + SMALL.vector_issue_cycles


def unpack_reference(dst, src, shape, dim, count, base, per, axis, rect=RECT):
    out = dst.reshape((rect[2], rect[3]) + tuple(shape)).copy()
    slab = tuple(count if d == dim else n for d, n in enumerate(shape))
    s = src.reshape((rect[2], rect[3]) + slab)
    for r in range(rect[2]):
        for c in range(rect[3]):
            k = (rect[0] + r) if axis == "r" else (rect[1] + c)
            for j in range(count):
                t = base + k * per + j
                if 0 <= t < shape[dim]:
                    idx_d = [slice(None)] * len(shape)
                    idx_s = [slice(None)] * len(shape)
                    idx_d[dim], idx_s[dim] = t, j
                    out[(r, c, *idx_d)] = s[(r, c, *idx_s)]
    return out.reshape(rect[2], rect[3], -1)


@pytest.mark.parametrize(
    "dim,count,base,per,axis",
    [
        (2, 2, 1, 0, "r"),  # the same place on every PE
        (2, 3, -1, 1, "r"),  # moves one row per PE row; clipped at both ends
        (2, 4, 3, -1, "r"),  # moves backwards
        (3, 2, 0, 2, "c"),  # along columns, by PE column; the second column writes nothing
        (3, 5, -2, 1, "c"),
        (2, 1, 7, 0, "r"),  # entirely outside: nothing written
    ],
)
def test_unpack_places_slabs_by_pe_coordinate(sim, rng, dim, count, base, per, axis):
    shape = (1, 2, 4, 3)
    slab = tuple(count if d == dim else n for d, n in enumerate(shape))
    n, m = int(np.prod(shape)), int(np.prod(slab))
    d = rng.standard_normal((3, 2, n)).astype(np.float32)
    s = rng.standard_normal((3, 2, m)).astype(np.float32)
    op = (
        f"pe.unpack %d, %s along {axis} {{shape = {ints(shape)}, dim = {dim} : i64, "
        f"count = {count} : i64, at = {ints((base, per))}, pes = PES}} : {buf(n)}, {buf(m)}"
    )
    o, _ = run_tiles(sim, {"d": n, "s": m}, [op], "d", {}, {"d": d, "s": s})
    np.testing.assert_array_equal(o, unpack_reference(d, s, shape, dim, count, base, per, axis))


def test_unpack_on_a_sub_rectangle_uses_fabric_coordinates(sim, rng):
    shape, dim, count = (1, 1, 5, 2), 2, 2
    n, m = 10, 4
    d = rng.standard_normal((3, 2, n)).astype(np.float32)
    s = rng.standard_normal((3, 2, m)).astype(np.float32)
    sub = (1, 0, 2, 2)
    op = (
        f"pe.unpack %d, %s along r {{shape = {ints(shape)}, dim = {dim} : i64, "
        f"count = {count} : i64, at = {ints((0, 2))}, pes = {ints(sub)}}} : {buf(n)}, {buf(m)}"
    )
    o, _ = run_tiles(sim, {"d": n, "s": m}, [op], "d", {}, {"d": d, "s": s})
    want = unpack_reference(d, s, shape, dim, count, 0, 2, "r")
    want[0] = d[0]  # PE row 0 is outside the op's rectangle
    np.testing.assert_array_equal(o, want)


@pytest.mark.parametrize(
    "n,c,o,g,hw,kernel,stride,dilation,bias",
    [
        (1, 3, 4, 1, (6, 6), (3, 3), (1, 1), (1, 1), True),
        (2, 4, 6, 2, (7, 6), (3, 2), (2, 1), (1, 2), False),
        (1, 3, 3, 3, (5, 5), (1, 1), (1, 1), (1, 1), True),
    ],
)
@pytest.mark.parametrize("parallel", [False, True])
def test_conv2d_each_pe_with_its_own_data(
    sim, rng, monkeypatch, n, c, o, g, hw, kernel, stride, dilation, bias, parallel
):
    if parallel:  # force the multi-threaded path on a small problem
        monkeypatch.setattr(threads, "PARALLEL_FMACS", 1)
        monkeypatch.setattr(threads, "thread_count", lambda: 2)
    h, w = hw
    ho = (h - dilation[0] * (kernel[0] - 1) - 1) // stride[0] + 1
    wo = (w - dilation[1] * (kernel[1] - 1) - 1) // stride[1] + 1
    in_shape, out_shape = (n, c, h, w), (n, o, ho, wo)
    wshape = (o, c // g, *kernel)
    sizes = {"x": int(np.prod(in_shape)), "w": int(np.prod(wshape))}
    if bias:
        sizes["b"] = o
    data = {k: rng.standard_normal((3, 2, v)).astype(np.float32) for k, v in sizes.items()}
    out_n = int(np.prod(out_shape))
    operands = "%y, %x, %w" + (", %b" if bias else "")
    types = ", ".join(buf(v) for v in [out_n, sizes["x"], sizes["w"]] + ([o] if bias else []))
    op = (
        f"pe.conv2d {operands} {{in_shape = {ints(in_shape)}, out_shape = {ints(out_shape)}, "
        f"kernel = {ints(kernel)}, stride = {ints(stride)}, dilation = {ints(dilation)}, "
        f"groups = {g} : i64, pes = PES}} : {types}"
    )
    got, report = run_tiles(sim, sizes, [op], "y", {"y": out_n}, data)
    for r in range(3):
        for q in range(2):
            ref = torch.nn.functional.conv2d(
                torch.from_numpy(data["x"][r, q].reshape(in_shape)),
                torch.from_numpy(data["w"][r, q].reshape(wshape)),
                torch.from_numpy(data["b"][r, q]) if bias else None,
                stride=stride,
                dilation=dilation,
                groups=g,
            )
            np.testing.assert_allclose(got[r, q], ref.numpy().ravel(), rtol=1e-5, atol=1e-5)
    fmacs = n * o * ho * wo * (c // g) * kernel[0] * kernel[1]
    extra = n * o * ho * wo if bias else 0
    # one FMAC over the Ho x Wo plane per (image, out channel, in channel, tap), then one bias
    # add per (image, out channel) plane, each with its issue overhead
    instructions = n * o * (c // g) * kernel[0] * kernel[1] + (n * o if bias else 0)
    assert report.cycles == fmacs + extra + instructions * SMALL.vector_issue_cycles
    assert report.flops == PES * (2 * fmacs + extra)


@pytest.mark.parametrize("parallel", [False, True])
def test_conv2d_accumulate_adds_into_the_output(sim, rng, monkeypatch, parallel):
    """`accumulate`: out += conv + bias (a channel-split conv2d's step), at the FMACs' cost."""
    if parallel:
        monkeypatch.setattr(threads, "PARALLEL_FMACS", 1)
        monkeypatch.setattr(threads, "thread_count", lambda: 2)
    in_shape, out_shape, wshape = (2, 1, 6, 5), (2, 3, 4, 3), (3, 1, 3, 3)
    sizes = {"x": 60, "w": 27, "b": 3, "y": 72}
    data = {k: rng.standard_normal((3, 2, v)).astype(np.float32) for k, v in sizes.items()}
    op = (
        f"pe.conv2d %y, %x, %w, %b {{accumulate, in_shape = {ints(in_shape)}, "
        f"out_shape = {ints(out_shape)}, kernel = {ints((3, 3))}, stride = {ints((1, 1))}, "
        f"dilation = {ints((1, 1))}, groups = 1 : i64, pes = PES}} : "
        f"{buf(72)}, {buf(60)}, {buf(27)}, {buf(3)}"
    )
    got, report = run_tiles(sim, sizes, [op], "y", {}, data)
    for r in range(3):
        for q in range(2):
            conv = torch.nn.functional.conv2d(
                torch.from_numpy(data["x"][r, q].reshape(in_shape)),
                torch.from_numpy(data["w"][r, q].reshape(wshape)),
                torch.from_numpy(data["b"][r, q]),
            )
            want = data["y"][r, q] + conv.numpy().ravel()
            np.testing.assert_allclose(got[r, q], want, rtol=1e-5, atol=1e-5)
    fmacs, bias_adds = 2 * 3 * 12 * 9, 2 * 3 * 12
    assert report.cycles == fmacs + bias_adds + (2 * 3 * 9 + 2 * 3) * SMALL.vector_issue_cycles


@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pool2d(sim, rng, kind):
    in_shape, out_shape = (2, 3, 7, 6), (2, 3, 3, 4)
    kernel, stride, dilation = (3, 2), (2, 1), (1, 2)
    nx, ny = int(np.prod(in_shape)), int(np.prod(out_shape))
    x = rng.standard_normal((3, 2, nx)).astype(np.float32)
    op = (
        f"pe.pool2d {kind} %y, %x {{in_shape = {ints(in_shape)}, "
        f"out_shape = {ints(out_shape)}, kernel = {ints(kernel)}, stride = {ints(stride)}, "
        f"dilation = {ints(dilation)}, pes = PES}} : {buf(ny)}, {buf(nx)}"
    )
    got, report = run_tiles(sim, {"x": nx}, [op], "y", {"y": ny}, {"x": x})
    tx = torch.from_numpy(x.reshape((6 * in_shape[0],) + in_shape[1:]))  # 6 PEs x batch 2
    if kind == "max":
        ref = torch.nn.functional.max_pool2d(tx, kernel, stride, dilation=dilation)
    else:  # avg_pool2d has no dilation: take the dilated windows by hand
        ref = torch.stack(
            [
                tx[
                    :,
                    :,
                    i * stride[0] : i * stride[0] + 3 : 1,
                    j * stride[1] : j * stride[1] + 3 : 2,
                ].mean(dim=(2, 3))
                for i in range(3)
                for j in range(4)
            ],
            dim=-1,
        ).reshape(12, 3, 3, 4)
    np.testing.assert_allclose(got.reshape(-1), ref.numpy().reshape(-1), rtol=1e-6, atol=1e-6)
    outputs = int(np.prod(out_shape))
    taps = outputs * 6
    divisions = outputs if kind == "avg" else 0
    # one instruction per tap (6) over all outputs, one element a cycle, then avg's division
    issue = SMALL.vector_issue_cycles
    assert report.cycles == taps + 6 * issue + (divisions + issue if kind == "avg" else 0)
    assert report.flops == 6 * (taps + divisions)
