"""Weights on disk: `save` / `load` in the safetensors format (no pickle, so loading runs no code).

Keys are PyTorch's state_dict names (`features.0.weight`), so a file written here
loads into an equivalent PyTorch model and the other way round. `save` writes a
temporary file in the same directory and renames it over the target, so a failed
save leaves an existing file untouched.
"""
import os
import uuid
from collections import OrderedDict

import numpy as np
import safetensors.numpy

from autograd.tensor import Tensor


def _arrays(obj):
    from .modules.module import Module

    state = obj.state_dict() if isinstance(obj, Module) else obj
    if not hasattr(state, "items"):
        raise TypeError(f"nn.save: expected a Module or a dict of name -> array, got {type(obj).__name__}")
    arrays = OrderedDict()
    for name, value in state.items():
        if not isinstance(name, str):
            raise TypeError(f"nn.save: keys must be strings, got {name!r}")
        if isinstance(value, Tensor):
            value = value.data
        if not isinstance(value, (np.ndarray, np.generic)):
            raise TypeError(f"nn.save: '{name}' is a {type(value).__name__}, not an array or Tensor")
        arrays[name] = np.require(value, requirements="C")  # (np.ascontiguousarray would make 0-d 1-d)
    return arrays


def save(state_dict, path, metadata=None):
    """Write a state_dict (or a Module's) to `path` as safetensors; metadata is an optional dict of str -> str."""
    data = safetensors.numpy.save(_arrays(state_dict), metadata)
    path = os.fspath(path)
    directory, base = os.path.split(os.path.abspath(path))
    tmp = os.path.join(directory, f".{base}.{uuid.uuid4().hex[:12]}.tmp")  # same directory: rename is atomic
    try:
        with open(tmp, "xb") as f:  # like any new file, it gets the umask's permissions
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def load(path):
    """Read a safetensors file into an ordered dict of name -> ndarray (ready for `load_state_dict`)."""
    path = os.fspath(path)
    with open(path, "rb") as f:
        data = f.read()
    try:
        arrays = safetensors.numpy.load(data)
    except Exception as error:  # the parser's own error type: a truncated or corrupt file
        raise ValueError(f"nn.load: '{path}' is not a valid safetensors file (truncated or corrupt?): {error}") \
            from None
    return OrderedDict(arrays)
