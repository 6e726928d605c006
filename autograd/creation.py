"""Making tensors: `tensor`, factories, and the seeded random generator."""
import numpy as np

from .dtypes import get_default_dtype
from .tensor import Tensor

_rng = {"gen": np.random.default_rng(0)}


def manual_seed(seed):
    """Seed every random draw of chainrule (randn, rand, init, dropout, shuffling)."""
    _rng["gen"] = np.random.default_rng(seed)


def generator():
    """The shared NumPy Generator behind all random draws."""
    return _rng["gen"]


def tensor(data, requires_grad=False, dtype=None, name=None):
    """A new leaf tensor (a copy of data). Python floats become the default dtype (float32)."""
    return Tensor(data, requires_grad=requires_grad, dtype=dtype, name=name)


def from_numpy(array, name=None):
    """A constant tensor that shares `array`'s memory (no copy), like torch.from_numpy."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy: expected a numpy.ndarray, got {type(array).__name__}")
    return _make(array, False, name)


def _shape(shape):
    return tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else tuple(shape)


def _make(array, requires_grad, name=None):
    t = Tensor._wrap(array)
    t.name = name
    if requires_grad:
        t.requires_grad = True
    return t


def zeros(*shape, dtype=None, requires_grad=False):
    return _make(np.zeros(_shape(shape), dtype or get_default_dtype()), requires_grad)


def ones(*shape, dtype=None, requires_grad=False):
    return _make(np.ones(_shape(shape), dtype or get_default_dtype()), requires_grad)


def full(shape, fill_value, dtype=None, requires_grad=False):
    return _make(np.full(_shape((shape,)), fill_value, dtype or get_default_dtype()), requires_grad)


def arange(start, stop=None, step=1, dtype=None, requires_grad=False):
    """Like np.arange; integer arguments give int64, float arguments the default float dtype."""
    array = np.arange(start, stop, step) if stop is not None else np.arange(start)
    if dtype is None and array.dtype.kind == "f":
        dtype = get_default_dtype()
    return _make(array.astype(dtype) if dtype is not None else array, requires_grad)


def randn(*shape, dtype=None, requires_grad=False):
    """Standard normal samples."""
    return _make(generator().standard_normal(_shape(shape)).astype(dtype or get_default_dtype()), requires_grad)


def rand(*shape, dtype=None, requires_grad=False):
    """Uniform samples on [0, 1)."""
    return _make(generator().random(_shape(shape)).astype(dtype or get_default_dtype()), requires_grad)


def zeros_like(t, dtype=None, requires_grad=False):
    return _make(np.zeros(t.shape, dtype or t.dtype), requires_grad)


def ones_like(t, dtype=None, requires_grad=False):
    return _make(np.ones(t.shape, dtype or t.dtype), requires_grad)
