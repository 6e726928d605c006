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
    """A constant tensor that shares `array`'s memory (no copy), like torch.from_numpy. A NumPy scalar (what
    reductions of 0-d arrays return) becomes a 0-d tensor."""
    if isinstance(array, np.generic):
        array = np.asarray(array)
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy: expected a numpy.ndarray, got {type(array).__name__}")
    return _make(array, False, name)


def _shape(shape):
    return tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else tuple(shape)


def _make(array, requires_grad, name=None):
    t = Tensor._wrap(array)
    if name is not None:
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


def empty(*shape, dtype=None, requires_grad=False):
    """An uninitialised tensor (whatever the memory held): fill it before reading."""
    return _make(np.empty(_shape(shape), dtype or get_default_dtype()), requires_grad)


def full_like(t, fill_value, dtype=None, requires_grad=False):
    """A tensor of t's shape (and dtype, unless given) filled with fill_value."""
    return _make(np.full(t.shape, fill_value, dtype or t.dtype), requires_grad)


def eye(n, m=None, dtype=None, requires_grad=False):
    """The n×m identity matrix (m = n by default): ones on the diagonal."""
    return _make(np.eye(n, m, dtype=dtype or get_default_dtype()), requires_grad)


def linspace(start, end, steps, dtype=None, requires_grad=False):
    """`steps` evenly spaced values from start to end, both included (PyTorch's linspace)."""
    return _make(np.linspace(start, end, steps, dtype=dtype or get_default_dtype()), requires_grad)


def randint(low, high=None, size=None, dtype=np.int64):
    """Uniform integers in [low, high), like torch.randint: randint(high, size) or randint(low, high, size)."""
    if size is None and isinstance(high, (tuple, list)):  # randint(high, size)
        low, high, size = 0, low, high
    elif high is None:  # randint(high, size=...)
        low, high = 0, low
    if size is None:
        raise TypeError("randint: expected a size, as in randint(10, (2, 3)) or randint(0, 10, (2, 3))")
    return _make(generator().integers(low, high, _shape((size,)), dtype=dtype), False)


def randn_like(t, dtype=None, requires_grad=False):
    """Standard normal samples of t's shape (and dtype, unless given)."""
    return randn(t.shape, dtype=dtype or t.dtype, requires_grad=requires_grad)
