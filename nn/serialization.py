"""Weights on disk: `save` / `load` in the safetensors format (no pickle, so loading runs no code).

Keys are PyTorch's state_dict names (`features.0.weight`), so a file written here
loads into an equivalent PyTorch model and the other way round (bfloat16 tensors are
upcast to float32). `save` goes through `write_atomically`: a temporary file in the same
directory renamed over the target, so a failed or killed save leaves an existing file untouched.
"""
import json
import os
import re
import warnings
from collections import OrderedDict
from contextlib import suppress

import numpy as np
import safetensors.numpy
from safetensors import SafetensorError

from autograd.tensor import Tensor

METADATA_KEY = "__metadata__"  # the safetensors header's slot for the file's metadata, never a tensor name
NUMPY_DTYPES = ("F64", "F32", "F16", "I64", "U64", "I32", "U32", "I16", "U16", "I8", "U8", "BOOL")


# -- writing -------------------------------------------------------------------------------
def _arrays(obj):
    from .modules.module import Module

    state = obj.state_dict() if isinstance(obj, Module) else obj
    if not hasattr(state, "items"):
        raise TypeError(f"nn.save: expected a Module or a dict of name -> array, got {type(obj).__name__}")
    arrays = OrderedDict()
    for name, value in state.items():
        if not isinstance(name, str):
            raise TypeError(f"nn.save: keys must be strings, got {name!r}")
        if name == METADATA_KEY:
            raise ValueError(f"nn.save: the key '{METADATA_KEY}' is reserved by safetensors for the file's "
                             "metadata (a file holding it could never be loaded); rename the tensor, or pass "
                             "text through save(..., metadata=)")
        if isinstance(value, Tensor):
            value = value.data
        if not isinstance(value, (np.ndarray, np.generic)):
            raise TypeError(f"nn.save: '{name}' is a {type(value).__name__}, not an array or Tensor")
        arrays[name] = np.require(value, requirements="C")  # (np.ascontiguousarray would make 0-d 1-d)
    return arrays


def _check_metadata(metadata):
    if metadata is None:
        return
    for key, value in metadata.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise TypeError(f"nn.save: metadata maps str to str, got {key!r}: {type(value).__name__}")


def save(state_dict, path, metadata=None):
    """Write a state_dict (or a Module's) to `path` as safetensors; metadata is an optional dict of str -> str."""
    _check_metadata(metadata)
    write_atomically(path, safetensors.numpy.save(_arrays(state_dict), metadata))


def _temporary_pattern(base):
    return re.compile(rf"\.{re.escape(base)}\.[0-9a-f]{{12}}\.tmp")


def write_atomically(path, data):
    """Write bytes to `path` through a temporary file in its directory and a rename.

    Readers see the old file or the new one, never a part of either. An existing target keeps its
    permissions; temporary files of the same name pattern older than this write (left by a killed
    writer) are removed.
    """
    path = os.fspath(path)
    directory, base = os.path.split(os.path.abspath(path))
    tmp = os.path.join(directory, f".{base}.{os.urandom(6).hex()}.tmp")  # same directory: rename is atomic
    try:
        with open(tmp, "xb") as f:  # like any new file, it gets the umask's permissions ...
            started = os.fstat(f.fileno()).st_mtime_ns
            with suppress(FileNotFoundError):  # ... unless it replaces one
                os.fchmod(f.fileno(), os.stat(path).st_mode & 0o7777)
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with suppress(FileNotFoundError):
            os.remove(tmp)
        raise
    _remove_stale_temporaries(directory, base, started)


def _remove_stale_temporaries(directory, base, started):
    pattern = _temporary_pattern(base)
    for entry in os.scandir(directory):
        with suppress(OSError):  # gone already, or not ours to remove: the save itself succeeded
            if pattern.fullmatch(entry.name) and entry.stat(follow_symlinks=False).st_mtime_ns < started:
                os.remove(entry.path)


# -- reading -------------------------------------------------------------------------------
def _corrupt(path, why):
    return ValueError(f"nn.load: '{path}' is not a valid safetensors file (truncated or corrupt?): {why}")


def _read_header(data, path):
    """The JSON header of safetensors bytes: {name: {'dtype', 'shape', 'data_offsets'}, '__metadata__': {...}}."""
    if len(data) < 8:
        raise _corrupt(path, f"it has {len(data)} bytes, fewer than the 8 of the header length")
    size = int.from_bytes(data[:8], "little")
    if size > len(data) - 8:
        raise _corrupt(path, f"its header length is {size} bytes, the file has {len(data) - 8} after it")
    try:
        header = json.loads(data[8:8 + size])
    except ValueError:  # not UTF-8 or not JSON
        raise _corrupt(path, "its header is not JSON") from None
    if not isinstance(header, dict) or not all(isinstance(entry, dict) for entry in header.values()):
        raise _corrupt(path, "its header is not a JSON object of tensor descriptions")
    return header


def load_metadata(path):
    """The metadata dict (str -> str) stored in a safetensors file's header; {} when it has none."""
    path = os.fspath(path)
    with open(path, "rb") as f:
        head = f.read(8)
        data = head + f.read(int.from_bytes(head, "little")) if len(head) == 8 else head
    return dict(_read_header(data, path).get(METADATA_KEY) or {})


def _bfloat16_as_uint16(header, data):
    """The same file with BF16 tensors declared as U16 (same size and offsets), which NumPy can read."""
    entries = {name: {**entry, "dtype": "U16"} if entry.get("dtype") == "BF16" else entry
               for name, entry in header.items()}
    text = json.dumps(entries, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # safetensors aligns the data to 8 bytes
    size = int.from_bytes(data[:8], "little")
    return len(text).to_bytes(8, "little") + text + data[8 + size:]


def _bfloat16_to_float32(bits):
    """bfloat16 is the upper half of a float32: shifting its 16 bits up gives the same number exactly."""
    return (bits.astype(np.uint32) << 16).view(np.float32)


def load(path):
    """Read a safetensors file into an ordered dict of name -> ndarray (ready for `load_state_dict`).

    bfloat16 tensors (as PyTorch writes them) come back as float32, with a warning; other dtypes
    NumPy lacks (float8, ...) are refused by name.
    """
    path = os.fspath(path)
    with open(path, "rb") as f:
        data = f.read()
    header = _read_header(data, path)
    tensors = {name: entry.get("dtype") for name, entry in header.items() if name != METADATA_KEY}
    for name, dtype in tensors.items():
        if dtype not in (*NUMPY_DTYPES, "BF16"):
            raise ValueError(f"nn.load: '{path}': tensor '{name}' has dtype {dtype}, which chainrule cannot read "
                             f"(it reads {', '.join(NUMPY_DTYPES)}, and BF16 as float32)")
    bfloat16 = [name for name, dtype in tensors.items() if dtype == "BF16"]
    try:
        arrays = safetensors.numpy.load(_bfloat16_as_uint16(header, data) if bfloat16 else data)
    except SafetensorError as error:
        raise _corrupt(path, error) from None
    for name in bfloat16:
        arrays[name] = _bfloat16_to_float32(arrays[name])
    if bfloat16:
        warnings.warn(f"nn.load: '{path}': {len(bfloat16)} bfloat16 tensor(s) upcast to float32 "
                      f"({', '.join(bfloat16[:3])}{', ...' if len(bfloat16) > 3 else ''})", stacklevel=2)
    return OrderedDict((name, arrays[name]) for name in tensors)  # the file's order (the parser's is arbitrary)
