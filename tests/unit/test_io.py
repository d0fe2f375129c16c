"""pf.save / pf.load: safetensors + JSON, no pickle; dtypes, nesting, atomic writes, bad files,
and PyTorch interop."""

from __future__ import annotations

import io
import json
import math
import os
import struct

import ml_dtypes
import numpy as np
import pytest

import pyflame as pf
import pyflame.io as pf_io

pytestmark = pytest.mark.usefixtures("small_target")


RNG = np.random.default_rng(0)
PF_ARRAYS = {
    "f32": RNG.standard_normal((3, 4)).astype(np.float32),
    "f16": RNG.standard_normal((5,)).astype(np.float16),
    "bf16": RNG.standard_normal((2, 3)).astype(ml_dtypes.bfloat16),
    "i32": np.arange(-3, 9, dtype=np.int32).reshape(3, 4),
    "bool": np.array([[True, False, True]]),
    "scalar": np.asarray(2.5, np.float32),
    "empty": np.zeros((0, 3), np.float32),
}


def test_pf_tensors_round_trip_every_dtype(tmp_path):
    path = tmp_path / "sd.safetensors"
    pf.save({k: pf.from_numpy(a) for k, a in PF_ARRAYS.items()}, path)
    out = pf.load(path)
    assert list(out) == list(PF_ARRAYS)
    for key, a in PF_ARRAYS.items():
        t = out[key]
        assert isinstance(t, pf.Tensor), key
        assert t.numpy().dtype == a.dtype and t.shape == a.shape, key
        np.testing.assert_array_equal(t.numpy(), a)
    assert out["bf16"].dtype is pf.bfloat16 and out["bool"].dtype is pf.bool


def test_numpy_arrays_round_trip_as_numpy(tmp_path):
    arrays = {
        "i64": np.array([1, -2, 2**40], np.int64),
        "f64": np.linspace(0, 1, 5),
        "u8": np.arange(7, dtype=np.uint8),
        "i16": np.array([-5, 5], np.int16),
        "strided": np.arange(12, dtype=np.float32).reshape(3, 4)[:, ::2],
        "bigendian": np.arange(3, dtype=">f4"),
        "bf16": np.ones((2, 2), ml_dtypes.bfloat16),
    }
    path = tmp_path / "np.safetensors"
    pf.save(arrays, path)
    out = pf.load(path)
    for key, a in arrays.items():
        assert isinstance(out[key], np.ndarray), key
        np.testing.assert_array_equal(out[key], a)
        assert out[key].dtype == a.dtype.newbyteorder("=") or out[key].dtype == a.dtype, key
    assert out["i64"].dtype == np.int64 and out["i64"][2] == 2**40
    out["f64"][0] = 5.0  # loaded arrays are writable copies


def test_nested_checkpoint_round_trip(tmp_path):
    w = pf.from_numpy(PF_ARRAYS["f32"])
    checkpoint = {
        "model": {"fc.weight": w, "fc.bias": pf.from_numpy(np.zeros(4, np.float32))},
        "optimizer": {
            "state": {
                0: {
                    "step": pf.from_numpy(np.asarray(3.0, np.float32)),
                    "exp_avg": pf.from_numpy(PF_ARRAYS["f32"] * 2),
                }
            },
            "param_groups": [
                {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "amsgrad": False, "params": [0, 1]}
            ],
        },
        "epoch": 7,
        "big": 2**70,
        "name": "run-1 ünïcode",
        "done": True,
        "best": None,
        "floats": [0.5, math.inf, -math.inf, math.nan],
        "history": {"loss": [1.0, 0.5], "acc": []},
        "tied": [w, w],
        "mixed_keys": {1: "one", 2.5: "x", None: "none", False: "f", "s": "s"},
        "looks_tagged": {"__tensor__": "model.fc.weight"},
        "numpy_scalar": np.float32(1.5),
        "dtype": pf.bfloat16,
        "nested": ({"deep": [np.arange(3, dtype=np.int32)]},),
    }
    path = tmp_path / "ckpt.safetensors"
    pf.save(checkpoint, path)
    out = pf.load(path)
    np.testing.assert_array_equal(out["model"]["fc.weight"].numpy(), PF_ARRAYS["f32"])
    state = out["optimizer"]["state"]
    assert list(state) == [0] and float(state[0]["step"].item()) == 3.0
    assert out["optimizer"]["param_groups"][0]["betas"] == (0.9, 0.999)
    assert out["optimizer"]["param_groups"][0]["params"] == [0, 1]
    assert out["epoch"] == 7 and out["big"] == 2**70 and out["name"] == "run-1 ünïcode"
    assert out["done"] is True and out["best"] is None
    assert out["floats"][:3] == [0.5, math.inf, -math.inf] and math.isnan(out["floats"][3])
    assert out["history"] == {"loss": [1.0, 0.5], "acc": []}
    assert out["tied"][0] is out["tied"][1]  # stored once, loaded as one tensor
    assert out["mixed_keys"] == {1: "one", 2.5: "x", None: "none", False: "f", "s": "s"}
    assert out["looks_tagged"] == {"__tensor__": "model.fc.weight"}
    assert out["numpy_scalar"] == 1.5
    assert out["dtype"] is pf.bfloat16
    assert isinstance(out["nested"], tuple)
    np.testing.assert_array_equal(out["nested"][0]["deep"][0], np.arange(3))


def test_no_code_runs_and_unsupported_objects_are_refused(tmp_path):
    class Thing:
        pass

    with pytest.raises(TypeError, match=r"Thing at 'a.b'"):
        pf.save({"a": {"b": Thing()}}, tmp_path / "x")
    with pytest.raises(TypeError, match="object"):
        pf.save({"a": np.array([object()])}, tmp_path / "x")
    assert not os.listdir(tmp_path)
    # the file is a safetensors file: an 8-byte length, a JSON header, raw bytes
    pf.save({"w": pf.from_numpy(PF_ARRAYS["f32"])}, tmp_path / "w")
    data = (tmp_path / "w").read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    assert header["w"] == {"dtype": "F32", "shape": [3, 4], "data_offsets": [0, 48]}
    assert header["__metadata__"]["format"] == "pyflame"
    assert len(data) == 8 + n + 48 and n % 8 == 0
    assert b"pickle" not in data and b"\x80\x04" not in data[:2]


def test_lazy_tensors_are_evaluated_and_pending_updates_applied(tmp_path):
    x = pf.from_numpy(PF_ARRAYS["f32"])
    lazy = (x * 2).relu()
    target = pf.from_numpy(np.zeros(3, np.float32))
    from pyflame.runtime import add_pending_update

    add_pending_update(target, pf.from_numpy(np.ones(3, np.float32)) + 1)
    pf.save({"lazy": lazy, "target": target}, tmp_path / "f")
    out = pf.load(tmp_path / "f")
    np.testing.assert_allclose(out["lazy"].numpy(), np.maximum(PF_ARRAYS["f32"] * 2, 0))
    np.testing.assert_array_equal(out["target"].numpy(), [2, 2, 2])


def test_save_replaces_atomically_and_survives_a_crash_mid_write(tmp_path, monkeypatch):
    path = tmp_path / "model.safetensors"
    pf.save({"w": pf.from_numpy(np.ones(4, np.float32))}, path)
    before = path.read_bytes()

    real_write = pf_io._write_payload

    def crash_midway(f, header, arrays):
        f.write(header[: len(header) // 2])  # part of the new file is on disk ...
        raise OSError("disk full")  # ... when the writer dies

    monkeypatch.setattr(pf_io, "_write_payload", crash_midway)
    with pytest.raises(OSError, match="disk full"):
        pf.save({"w": pf.from_numpy(np.zeros(1000, np.float32))}, path)
    assert path.read_bytes() == before  # the previous file is intact
    assert os.listdir(tmp_path) == ["model.safetensors"]  # and no temporary file is left
    np.testing.assert_array_equal(pf.load(path)["w"].numpy(), np.ones(4))

    # a successful save writes to a temporary file in the same directory, then os.replace
    replaced = []
    real_replace = os.replace

    def spy(src, dst):
        replaced.append((os.path.dirname(src), os.fspath(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(pf_io, "_write_payload", real_write)
    monkeypatch.setattr(pf_io.os, "replace", spy)
    pf.save({"w": pf.from_numpy(np.zeros(2, np.float32))}, path)
    assert replaced == [(str(tmp_path), str(path))]
    np.testing.assert_array_equal(pf.load(path)["w"].numpy(), np.zeros(2))
    assert os.listdir(tmp_path) == ["model.safetensors"]


def _write(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("cut", [0, 5, 8, 20, -1, -30])
def test_truncated_files_raise_a_clear_error(tmp_path, cut):
    good = tmp_path / "good.safetensors"
    pf.save({"w": pf.from_numpy(np.ones((8, 8), np.float32)), "n": 3}, good)
    data = good.read_bytes()
    bad = _write(tmp_path, "bad.safetensors", data[:cut])
    with pytest.raises(pf.CheckpointError, match=r"bad\.safetensors") as info:
        pf.load(bad)
    assert isinstance(info.value, ValueError) and isinstance(info.value, pf.PyFlameError)
    assert "truncated" in str(info.value) or "not a PyFlame/safetensors" in str(info.value)


def test_corrupted_files_raise_a_clear_error(tmp_path):
    good = tmp_path / "good.safetensors"
    pf.save({"w": pf.from_numpy(np.ones((2, 2), np.float32))}, good)
    data = good.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])

    def with_header(h):
        text = json.dumps(h).encode()
        return struct.pack("<Q", len(text)) + text + data[8 + n :]

    cases = {
        "garbage": os.urandom(64),
        "text": b"this is not a checkpoint at all, just some text" * 3,
        "pickle": b"\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00\x00}\x94\x8c\x01a\x94K\x01s.",
        "bad_json": data[:8] + b"{" * n + data[8 + n :],
        "bad_dtype": with_header({**header, "w": {**header["w"], "dtype": "X9"}}),
        "bad_offsets": with_header({**header, "w": {**header["w"], "data_offsets": [0, 12]}}),
        "past_end": with_header({**header, "w": {**header["w"], "data_offsets": [16, 32]}}),
        "bad_structure": with_header(
            {
                **header,
                "__metadata__": {
                    **header["__metadata__"],
                    "pyflame.structure": '{"x": {"__tensor__": "nope"}}',
                },
            }
        ),
        "structure_not_json": with_header(
            {**header, "__metadata__": {**header["__metadata__"], "pyflame.structure": "{oops"}}
        ),
    }
    for name, blob in cases.items():
        path = _write(tmp_path, f"{name}.bin", blob)
        with pytest.raises(pf.CheckpointError, match=rf"{name}\.bin"):
            pf.load(path)
    with pytest.raises(FileNotFoundError):
        pf.load(tmp_path / "missing.safetensors")


def test_file_objects_and_as_numpy(tmp_path):
    buffer = io.BytesIO()
    pf.save({"w": pf.from_numpy(PF_ARRAYS["bf16"]), "k": [1, 2]}, buffer)
    buffer.seek(0)
    out = pf.load(buffer, as_numpy=True)
    assert isinstance(out["w"], np.ndarray) and out["w"].dtype == ml_dtypes.bfloat16
    assert out["k"] == [1, 2]


# --------------------------------------------------------------------------- PyTorch interop

torch = pytest.importorskip("torch")
safetensors_torch = pytest.importorskip("safetensors.torch")


def test_torch_state_dict_loads_into_the_matching_pyflame_model(tmp_path):
    from pyflame import nn

    torch.manual_seed(0)
    tmodel = torch.nn.Sequential(
        torch.nn.Linear(4, 6), torch.nn.BatchNorm1d(6), torch.nn.ReLU(), torch.nn.Linear(6, 3)
    )
    tmodel.train()
    tmodel(torch.randn(8, 4))  # running statistics and num_batches_tracked (int64) change
    tmodel.eval()
    path = tmp_path / "torch.safetensors"
    safetensors_torch.save_file(tmodel.state_dict(), str(path))

    state = pf.load(path)
    assert isinstance(state["0.weight"], pf.Tensor)
    assert state["1.num_batches_tracked"].dtype is pf.int32  # int64 -> int32 (it fits)
    assert int(state["1.num_batches_tracked"].item()) == 1
    model = nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.ReLU(), nn.Linear(6, 3))
    result = model.load_state_dict(state)
    assert not result.missing_keys and not result.unexpected_keys
    model.eval()
    x = np.random.default_rng(1).standard_normal((5, 4)).astype(np.float32)
    with torch.no_grad():
        expected = tmodel(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(model(pf.from_numpy(x)).numpy(), expected, rtol=1e-4, atol=1e-5)


def test_pyflame_files_load_in_torch(tmp_path):
    from pyflame import nn

    pf.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 5), nn.ReLU(), nn.Linear(5, 2))
    path = tmp_path / "pf.safetensors"
    pf.save(model.state_dict(), path)
    tensors = safetensors_torch.load_file(str(path))
    tmodel = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.ReLU(), torch.nn.Linear(5, 2))
    tmodel.load_state_dict(tensors)
    x = np.random.default_rng(2).standard_normal((4, 3)).astype(np.float32)
    with torch.no_grad():
        expected = tmodel(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(model(pf.from_numpy(x)).numpy(), expected, rtol=1e-4, atol=1e-5)
    # every PyFlame dtype reads back in torch with the same values
    pf.save({k: pf.from_numpy(a) for k, a in PF_ARRAYS.items()}, path)
    tensors = safetensors_torch.load_file(str(path))
    for key, a in PF_ARRAYS.items():
        t = tensors[key]
        got = t.float().numpy() if t.dtype == torch.bfloat16 else t.numpy()
        np.testing.assert_array_equal(got, a.astype(got.dtype), err_msg=key)


def test_int64_that_does_not_fit_int32_is_a_clear_error(tmp_path):
    path = tmp_path / "big.safetensors"
    safetensors_torch.save_file({"n": torch.tensor([2**40])}, str(path))
    with pytest.raises(pf.IntegerOverflowError, match=r"big\.safetensors.*'n'.*int32"):
        pf.load(path)
    assert pf.load(path, as_numpy=True)["n"].dtype == np.int64


def test_optimizer_state_survives_save_and_load(tmp_path):
    p = pf.from_numpy(np.ones((2, 3), np.float32))
    p.requires_grad = True
    opt = pf.optim.Adam([p], lr=0.1)
    for _ in range(2):
        with pf.autograd.enable_grad():
            loss = (p * p).sum()
        pf.backward(loss)
        opt.step()
        pf.eval(loss)
    pf.save(opt.state_dict(), tmp_path / "opt")
    q = pf.from_numpy(p.numpy())
    q.requires_grad = True
    opt2 = pf.optim.Adam([q], lr=0.1)
    opt2.load_state_dict(pf.load(tmp_path / "opt"))
    for o, t in ((opt, p), (opt2, q)):
        with pf.autograd.enable_grad():
            loss = (t * t).sum()
        pf.backward(loss)
        o.step()
        pf.eval(loss)
    np.testing.assert_array_equal(p.numpy(), q.numpy())
    assert float(opt2.state[q]["step"].item()) == 3.0
