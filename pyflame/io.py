"""`pf.save(obj, path)` / `pf.load(path)`: state dicts and checkpoints with no pickle.

The file is a safetensors file: every tensor is stored there under a key, and the structure of
`obj` (nested dicts, lists, tuples, numbers, strings, bools, None, references to the tensors)
is JSON in the file's metadata. Loading parses JSON and copies bytes: it cannot run code.

    pf.save(model.state_dict(), "model.safetensors")      # keys are the parameter names
    model.load_state_dict(pf.load("model.safetensors"))
    pf.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": 3}, "ckpt")

- pf.Tensors load as pf.Tensors, numpy arrays as numpy arrays, with their dtypes (float32,
  float16, bfloat16, int32, bool; numpy arrays also any other numeric dtype). Tuples stay
  tuples; dict keys may be strings, ints, floats, bools or None.
- A file written by another safetensors writer (e.g. PyTorch's
  `safetensors.torch.save_file(model.state_dict(), path)`) loads as a dict of name ->
  pf.Tensor; int64 data (BatchNorm's `num_batches_tracked`) becomes int32 when it fits.
  `pf.load(path, as_numpy=True)` gives numpy arrays instead, for any dtype.
- Files written by `pf.save` load in PyTorch with `safetensors.torch.load_file` (flat name ->
  tensor; a top-level dict of tensors keeps its keys as the tensor names).
- Saving is atomic: the data goes to a temporary file in the same directory, which replaces
  `path` (`os.replace`) only once it is completely written and flushed, so a crash mid-save
  leaves the previous file intact. The temporary file a killed save left behind
  (`.<name>.<hex>.tmp`) is removed by the next save of the same path, or of any path in that
  directory once it is an hour old (`clean_temporaries`). A missing parent directory is a
  `FileNotFoundError` naming `path`, as `torch.save` refuses it (nothing is created).
- Saving evaluates lazy tensors (and, as every implicit evaluation does, applies pending
  updates first when one of the saved tensors has one), so what is saved is what
  `t.numpy()` would give.
- A truncated, corrupted or foreign file raises `pf.CheckpointError` (a `ValueError`) naming
  the path.
"""

from __future__ import annotations

import errno
import functools
import json
import math
import os
import re
import secrets
import struct
import time
from typing import IO, Any, cast

import numpy as np

from pyflame import ops, runtime
from pyflame.core.dtypes import DType, by_name
from pyflame.core.errors import CheckpointError, IntegerOverflowError
from pyflame.lazy_tensor import Tensor

__all__ = ["clean_temporaries", "load", "save"]

FORMAT = "pyflame"
FORMAT_VERSION = 1
#: metadata keys (safetensors metadata is a str -> str map)
META_FORMAT, META_VERSION, META_STRUCTURE = "format", "pyflame.version", "pyflame.structure"


@functools.cache
def _dtypes() -> dict[str, np.dtype]:
    """safetensors dtype names -> numpy dtypes (made at the first save or load: ml_dtypes takes
    half a second to import)."""
    import ml_dtypes

    return {
        "BOOL": np.dtype(np.bool_),
        "U8": np.dtype(np.uint8),
        "I8": np.dtype(np.int8),
        "U16": np.dtype(np.uint16),
        "I16": np.dtype(np.int16),
        "U32": np.dtype(np.uint32),
        "I32": np.dtype(np.int32),
        "U64": np.dtype(np.uint64),
        "I64": np.dtype(np.int64),
        "F16": np.dtype(np.float16),
        "BF16": np.dtype(ml_dtypes.bfloat16),
        "F32": np.dtype(np.float32),
        "F64": np.dtype(np.float64),
        "F8_E4M3": np.dtype(ml_dtypes.float8_e4m3fn),
        "F8_E5M2": np.dtype(ml_dtypes.float8_e5m2),
    }


@functools.cache
def _dtype_names() -> dict[np.dtype, str]:
    """numpy dtypes -> safetensors dtype names."""
    return {dt: name for name, dt in _dtypes().items()}


#: JSON tags of the structure (a dict with one of these as its only key is a tagged value)
_TENSOR, _NDARRAY, _TUPLE, _DICT, _FLOAT, _DTYPE = (
    "__tensor__",
    "__ndarray__",
    "__tuple__",
    "__dict__",
    "__float__",
    "__dtype__",
)
_TAGS = frozenset({_TENSOR, _NDARRAY, _TUPLE, _DICT, _FLOAT, _DTYPE})
_MAX_HEADER = 100 * 1024 * 1024  # the limit safetensors readers enforce


# --------------------------------------------------------------------------- save


class _Encoder:
    """Turns `obj` into JSON with tensor references, collecting the arrays under unique keys."""

    def __init__(self) -> None:
        self.arrays: dict[str, Any] = {}  # key -> pf.Tensor or np.ndarray (in file order)
        self.by_id: dict[int, str] = {}

    def key_for(self, value: Any, path: str) -> str:
        found = self.by_id.get(id(value))
        if found is not None:  # the same tensor twice (tied weights): stored once
            return found
        key = path or "tensor"
        if key == "__metadata__" or key in self.arrays:
            n = 1
            while f"{key}#{n}" in self.arrays:
                n += 1
            key = f"{key}#{n}"
        self.arrays[key] = value
        self.by_id[id(value)] = key
        return key

    def encode(self, obj: Any, path: str) -> Any:
        if obj is None or isinstance(obj, bool | str):
            return obj
        if isinstance(obj, int):
            return obj
        if isinstance(obj, float):
            return obj if math.isfinite(obj) else {_FLOAT: repr(obj)}
        if isinstance(obj, Tensor):
            return {_TENSOR: self.key_for(obj, path)}
        if isinstance(obj, np.ndarray):
            dtype = obj.dtype.newbyteorder("<") if obj.dtype.byteorder == ">" else obj.dtype
            if dtype not in _dtype_names():
                raise TypeError(
                    f"pf.save cannot store a numpy array of dtype {obj.dtype} (at {_where(path)})"
                )
            return {_NDARRAY: self.key_for(obj, path)}
        if isinstance(obj, np.generic):
            return self.encode(obj.item(), path)
        if isinstance(obj, DType):
            return {_DTYPE: obj.name}
        if isinstance(obj, list):
            return [self.encode(v, _join(path, i)) for i, v in enumerate(obj)]
        if isinstance(obj, tuple):
            return {_TUPLE: [self.encode(v, _join(path, i)) for i, v in enumerate(obj)]}
        if isinstance(obj, dict):
            plain = all(isinstance(k, str) for k in obj) and not (
                len(obj) == 1 and next(iter(obj)) in _TAGS
            )
            if plain:
                return {k: self.encode(v, _join(path, k)) for k, v in obj.items()}
            items = []
            for k, v in obj.items():
                if not (k is None or isinstance(k, bool | int | float | str | np.generic)):
                    raise TypeError(
                        f"pf.save: dict keys must be strings, numbers, bools or "
                        f"None, got a {type(k).__name__} key at {_where(path)}"
                    )
                items.append([self.encode(k, path), self.encode(v, _join(path, k))])
            return {_DICT: items}
        hint = (
            " (convert it first, e.g. dataclasses.asdict(config))"
            if hasattr(obj, "__dataclass_fields__")
            else ""
        )
        raise TypeError(
            f"pf.save cannot store an object of type {type(obj).__name__} at "
            f"{_where(path)}: only pf.Tensors, numpy arrays, dicts, lists, tuples, "
            f"numbers, strings, bools and None{hint}"
        )


def _join(path: str, key: Any) -> str:
    return f"{path}.{key}" if path else str(key)


def _where(path: str) -> str:
    return repr(path) if path else "the top level"


def _array_of(value: Any) -> np.ndarray:
    array = value.numpy() if isinstance(value, Tensor) else value
    array = np.asarray(array)
    if array.dtype.byteorder == ">":
        array = array.astype(array.dtype.newbyteorder("<"))
    return array if array.flags.c_contiguous else np.array(array, order="C")  # keeps 0-d


def _evaluate(arrays: dict[str, Any]) -> None:
    """Evaluate lazy tensors (one program) and apply pending updates of saved tensors."""
    tensors = [v for v in arrays.values() if isinstance(v, Tensor)]
    lazy = [t for t in tensors if t._data is None]
    saved = {id(t) for t in tensors}
    if lazy or any(id(target) in saved for target, _ in runtime.pending_updates()):
        runtime.eval(*lazy)


def _serialize(obj: Any) -> tuple[bytes, list[np.ndarray]]:
    """(header bytes including the 8-byte length, arrays in data order)."""
    encoder = _Encoder()
    structure = encoder.encode(obj, "")
    _evaluate(encoder.arrays)
    header: dict[str, Any] = {
        "__metadata__": {
            META_FORMAT: FORMAT,
            META_VERSION: str(FORMAT_VERSION),
            META_STRUCTURE: json.dumps(structure, separators=(",", ":"), allow_nan=False),
        }
    }
    arrays = []
    offset = 0
    for key, value in encoder.arrays.items():
        array = _array_of(value)
        header[key] = {
            "dtype": _dtype_names()[array.dtype],
            "shape": list(array.shape),
            "data_offsets": [offset, offset + array.nbytes],
        }
        offset += array.nbytes
        arrays.append(array)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)  # safetensors pads the header to 8 bytes
    return struct.pack("<Q", len(text)) + text, arrays


def _write_payload(f: IO[bytes], header: bytes, arrays: list[np.ndarray]) -> None:
    f.write(header)
    for array in arrays:
        if array.size:
            f.write(array.reshape(-1).view(np.uint8).data)


def save(obj: Any, path: str | os.PathLike[str] | IO[bytes]) -> None:
    """Write `obj` (a state dict, an optimizer state dict, or a checkpoint: nested dicts,
    lists and tuples of pf.Tensors, numpy arrays, numbers, strings, bools and None) to
    `path`, atomically (a temporary file in the same directory, then `os.replace`).
    `path` may also be a binary file object (written in place, not atomically)."""
    header, arrays = _serialize(obj)
    if hasattr(path, "write"):
        _write_payload(cast(IO[bytes], path), header, arrays)  # hasattr does not narrow a union
        return
    target = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(target))
    if not os.path.isdir(directory):  # as torch.save; never the name of our temporary file
        raise FileNotFoundError(
            errno.ENOENT,
            f"pf.save: parent directory {directory} does not exist (create it "
            "first, e.g. os.makedirs(path.parent, exist_ok=True))",
            target,
        )
    clean_temporaries(directory, os.path.basename(target))
    tmp = os.path.join(directory, f".{os.path.basename(target)}.{secrets.token_hex(6)}.tmp")
    # os.open applies the umask (mkstemp would make the file private)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    except OSError as err:  # e.g. a read-only directory: name the user's path
        raise type(err)(
            err.errno, f"pf.save: cannot write in {directory}: {err.strerror}", target
        ) from None
    try:
        with os.fdopen(fd, "wb") as f:
            _write_payload(f, header, arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_directory(directory)


#: the temporary files `save` writes: `.<name>.<12 hex digits>.tmp` next to the target
_TEMPORARY = re.compile(r"^\.(?P<name>.+)\.[0-9a-f]{12}\.tmp$")
#: a temporary file of another target older than this is left over from a killed save
STALE_TEMPORARY_SECONDS = 3600.0


def clean_temporaries(
    directory: str | os.PathLike[str],
    name: str | None = None,
    max_age: float = STALE_TEMPORARY_SECONDS,
) -> list[str]:
    """Remove the temporary files a killed `pf.save` left in `directory`: those of target
    `name` (whatever their age: a save of that target is starting) and any other older than
    `max_age` seconds (a save still running elsewhere keeps its own). Returns the removed
    paths; files that are not ours are never touched."""
    removed: list[str] = []
    now = time.time()
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return removed
    for entry in entries:
        match = _TEMPORARY.match(entry.name)
        if match is None or not entry.is_file(follow_symlinks=False):
            continue
        try:
            if match["name"] != name and now - entry.stat().st_mtime < max_age:
                continue
            os.unlink(entry.path)
            removed.append(entry.path)
        except OSError:
            continue
    return removed


def _fsync_directory(directory: str) -> None:
    """Make the rename durable where the OS allows it (not on Windows)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# --------------------------------------------------------------------------- load


def _bad(name: str, message: str) -> CheckpointError:
    return CheckpointError(f"{name}: {message}")


def _parse(data: bytes, name: str) -> tuple[dict[str, Any], dict[str, Any], memoryview]:
    """(tensor entries, metadata, data buffer), validated like a safetensors reader does."""
    if len(data) < 8:
        raise _bad(
            name, f"not a PyFlame/safetensors file: only {len(data)} bytes (empty or truncated)"
        )
    (n,) = struct.unpack("<Q", data[:8])
    if n > _MAX_HEADER:
        raise _bad(
            name, f"not a PyFlame/safetensors file: its first 8 bytes give a header of {n} bytes"
        )
    if 8 + n > len(data):
        raise _bad(
            name,
            f"truncated or not a PyFlame/safetensors file: the header needs "
            f"{n} bytes but only {len(data) - 8} follow",
        )
    try:
        header = json.loads(bytes(data[8 : 8 + n]).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise _bad(
            name, f"corrupted or not a PyFlame/safetensors file: bad header ({err})"
        ) from None
    if not isinstance(header, dict):
        raise _bad(name, "corrupted safetensors header: not a JSON object")
    meta = header.pop("__metadata__", None) or {}
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise _bad(name, "corrupted safetensors header: __metadata__ is not a str -> str map")
    buffer = memoryview(data)[8 + n :]
    for key, entry in header.items():
        try:
            dtype = _dtypes()[entry["dtype"]]
            shape = [int(s) for s in entry["shape"]]
            begin, end = (int(o) for o in entry["data_offsets"])
            if any(s < 0 for s in shape) or any(
                not isinstance(s, int) or isinstance(s, bool) for s in entry["shape"]
            ):
                raise ValueError
        except (KeyError, TypeError, ValueError):
            raise _bad(
                name,
                f"corrupted safetensors header: bad entry for tensor {key!r}: {str(entry)[:200]}",
            ) from None
        size = math.prod(shape) * dtype.itemsize
        if not 0 <= begin <= end or end - begin != size:
            raise _bad(
                name,
                f"corrupted safetensors header: tensor {key!r} "
                f"({entry['dtype']} {shape}) has data offsets [{begin}, {end}]",
            )
        if end > len(buffer):
            raise _bad(
                name,
                f"truncated: tensor {key!r} needs data bytes [{begin}, {end}) but "
                f"the file holds only {len(buffer)} data bytes",
            )
    return header, meta, buffer


def _array(header: dict[str, Any], buffer: memoryview, key: str) -> np.ndarray:
    """A read-only view of tensor `key` in `buffer`."""
    entry = header[key]
    dtype = _dtypes()[entry["dtype"]]
    begin, _ = entry["data_offsets"]
    count = math.prod(entry["shape"])
    return np.frombuffer(buffer, dtype=dtype, count=count, offset=begin).reshape(entry["shape"])


def _to_tensor(array: np.ndarray, key: str, name: str) -> Tensor:
    try:
        return ops.from_numpy(array)
    except IntegerOverflowError:
        raise IntegerOverflowError(
            f"{name}: tensor {key!r}: {array.dtype} values in [{array.min()}, {array.max()}] do "
            "not fit pf.int32, the widest integer type PyFlame holds (pf.load(path, "
            "as_numpy=True) gives the numpy arrays)"
        ) from None
    except TypeError as err:
        raise TypeError(f"{name}: tensor {key!r}: {err}") from None


class _Decoder:
    def __init__(self, header: dict[str, Any], buffer: memoryview, name: str, as_numpy: bool):
        self.header, self.buffer, self.name, self.as_numpy = header, buffer, name, as_numpy
        self.loaded: dict[tuple[str, str], Any] = {}

    def tensor(self, tag: str, key: Any) -> Any:
        if not isinstance(key, str) or key not in self.header:
            raise _bad(
                self.name,
                f"corrupted PyFlame file: the structure refers to a tensor "
                f"{key!r} that the file does not hold",
            )
        found = self.loaded.get((tag, key))
        if found is None:
            array = _array(self.header, self.buffer, key)
            if tag == _TENSOR and not self.as_numpy:
                found = _to_tensor(array, key, self.name)
            else:
                found = array.copy()
            self.loaded[(tag, key)] = found
        return found

    def decode(self, obj: Any) -> Any:
        if isinstance(obj, list):
            return [self.decode(v) for v in obj]
        if not isinstance(obj, dict):
            return obj
        if len(obj) == 1:
            ((tag, value),) = obj.items()
            if tag in (_TENSOR, _NDARRAY):
                return self.tensor(tag, value)
            if tag == _TUPLE:
                return tuple(self.decode(v) for v in value)
            if tag == _DICT:
                return {self.decode(k): self.decode(v) for k, v in value}
            if tag == _FLOAT:
                return float(value)
            if tag == _DTYPE:
                return by_name(value)
        return {k: self.decode(v) for k, v in obj.items()}


def _read(path: str | os.PathLike[str] | IO[bytes]) -> tuple[bytes, str]:
    if hasattr(path, "read"):
        data = cast(IO[bytes], path).read()  # hasattr does not narrow a union
        return data, str(getattr(path, "name", "<file object>"))
    name = os.fspath(path)
    with open(name, "rb") as f:
        return f.read(), name


def load(path: str | os.PathLike[str] | IO[bytes], *, as_numpy: bool = False) -> Any:
    """Read what `pf.save` wrote (or any safetensors file: a dict name -> pf.Tensor).
    `as_numpy=True` returns numpy arrays in place of pf.Tensors (any dtype the file holds).
    Raises `pf.CheckpointError` (a ValueError) naming the path for a bad or truncated file."""
    data, name = _read(path)
    header, meta, buffer = _parse(data, name)
    decoder = _Decoder(header, buffer, name, as_numpy)
    if meta.get(META_FORMAT) == FORMAT and META_STRUCTURE in meta:
        try:
            version = int(meta.get(META_VERSION, "1"))
            structure = json.loads(meta[META_STRUCTURE])
        except (ValueError, json.JSONDecodeError) as err:
            raise _bad(name, f"corrupted PyFlame file: bad structure ({err})") from None
        if version > FORMAT_VERSION:
            raise _bad(
                name,
                f"written by a newer PyFlame (format version {version}, this one "
                f"reads up to {FORMAT_VERSION})",
            )
        try:
            return decoder.decode(structure)
        except CheckpointError:
            raise
        except (TypeError, ValueError, KeyError, IndexError, AttributeError) as err:
            raise _bad(name, f"corrupted PyFlame file: bad structure ({err})") from None
    # a plain safetensors file (e.g. safetensors.torch.save_file): name -> tensor
    return {key: decoder.tensor(_TENSOR, key) for key in header}
