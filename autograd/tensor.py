"""Tensor: an ndarray with a gradient and the node that made it.

Operators delegate to the primitives in `autograd.ops`; methods take NumPy's
`axis`/`keepdims` and PyTorch's `dim`/`keepdim`.
"""
import numbers
import weakref

import numpy as np

from . import grad_mode
from .dtypes import get_default_dtype, is_float

_state = grad_mode._state


def _as_array(data, dtype=None):
    """Convert user data: Python floats become the default dtype, arrays keep theirs."""
    if isinstance(data, Tensor):
        data = data.data
    if dtype is not None:
        return np.array(data, dtype=dtype)
    if isinstance(data, np.ndarray):
        return data.copy()
    if isinstance(data, np.generic):
        return np.array(data)
    array = np.array(data)
    if array.dtype.kind == "f":
        array = array.astype(get_default_dtype(), copy=False)
    elif array.dtype.kind in "OUS":
        raise TypeError(f"tensor: cannot make a tensor from data of type {type(data).__name__}")
    return array


def _axis(axis, dim):
    return dim if axis is None else axis


class Tensor:
    """A multi-dimensional array that can record the operations applied to it."""

    __slots__ = ("data", "grad", "_requires_grad", "_node", "_out_idx", "name",
                 "_version", "_hooks", "__weakref__")
    __array_priority__ = 1000
    __array_ufunc__ = None  # make ndarray ⊕ Tensor defer to Tensor's reflected operators
    __hash__ = object.__hash__

    def __init__(self, data, requires_grad=False, dtype=None, name=None):
        self.data = _as_array(data, dtype)
        self.grad = None
        self._requires_grad = False
        self._node = None
        self._out_idx = 0
        self.name = name
        self._version = 0
        self._hooks = None
        if requires_grad:
            self.requires_grad = True

    @classmethod
    def _wrap(cls, array, node=None, index=0):
        """Fast internal constructor: no copy, no checks."""
        t = cls.__new__(cls)
        t.data = array if type(array) is np.ndarray else np.asarray(array)
        t.grad = None
        t._requires_grad = node is not None
        t._node = node
        t._out_idx = index
        t.name = None
        t._version = 0
        t._hooks = None
        return t

    # -- attributes ------------------------------------------------------------------
    @property
    def requires_grad(self):
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value):
        if value and not is_float(self.data.dtype):
            raise TypeError(
                f"only floating-point tensors can require gradients; this tensor has dtype "
                f"{self.data.dtype} (use dtype=float32/float64)"
            )
        if not value and self._node is not None:
            raise RuntimeError("requires_grad can only be switched off on leaf tensors; use .detach()")
        self._requires_grad = bool(value)

    def requires_grad_(self, requires_grad=True):
        self.requires_grad = requires_grad
        return self

    @property
    def grad_fn(self):
        """The node that made this tensor (None for leaves)."""
        return self._node

    @property
    def is_leaf(self):
        return self._node is None

    shape = property(lambda self: self.data.shape)
    ndim = property(lambda self: self.data.ndim)
    dtype = property(lambda self: self.data.dtype)
    size = property(lambda self: self.data.size)
    T = property(lambda self: self.permute(*reversed(range(self.ndim))))
    mT = property(lambda self: self.swapaxes(-1, -2))

    def numel(self):
        return self.data.size

    def dim(self):
        return self.data.ndim

    def __len__(self):
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return len(self.data)

    def __array__(self, dtype=None, copy=None):
        """np.asarray(t) gives the data (no graph): NumPy functions see a plain array."""
        return self.data if dtype is None else self.data.astype(dtype, copy=False)

    def numpy(self):
        """The underlying ndarray (shared, not copied)."""
        return self.data

    def item(self):
        if self.data.size != 1:
            raise ValueError(f"item(): expected a tensor with one element, got shape {self.shape}")
        return self.data.item()

    def tolist(self):
        return self.data.tolist()

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __bool__(self):
        if self.data.size != 1:
            raise ValueError(f"the truth value of a tensor with shape {self.shape} is ambiguous")
        return bool(self.data)

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def __repr__(self):
        body = np.array2string(self.data, precision=4, separator=", ", prefix="tensor(")
        extra = []
        if self.data.dtype != get_default_dtype() and self.data.dtype.kind != "i":
            extra.append(f"dtype={self.data.dtype}")
        if self._node is not None:
            extra.append(f"grad_fn={self._node!r}")
        elif self._requires_grad:
            extra.append("requires_grad=True")
        if self.name:
            extra.append(f"name={self.name!r}")
        return "tensor(" + ", ".join([body] + extra) + ")"

    # -- graph -----------------------------------------------------------------------
    def detach(self):
        """A new leaf sharing this tensor's data, outside any graph."""
        return Tensor._wrap(self.data)

    def backward(self, gradient=None, retain_graph=False, create_graph=False):
        """Accumulate d(self)/d(leaf) into every leaf's `.grad`."""
        from .engine import backward

        backward([self], None if gradient is None else [gradient], retain_graph, create_graph)

    def register_hook(self, fn):
        """Call fn(grad) when this tensor's gradient is computed; a returned tensor replaces it."""
        if not self._requires_grad:
            raise RuntimeError("register_hook: this tensor does not require grad")
        if self._node is None:
            if self._hooks is None:
                self._hooks = []
            self._hooks.append(fn)
        else:
            self._node.register_prehook(self._out_idx, fn)
        return fn

    def retain_grad(self):
        """Keep `.grad` on this non-leaf tensor after backward."""
        if self._node is None:
            return
        ref = weakref.ref(self)  # one weakref object per tensor: it also marks the hook as registered
        if any(getattr(fn, "retains", None) is ref for _, fn in self._node.pre_hooks or ()):
            return

        def keep(grad):
            t = ref()
            if t is not None:
                t.grad = Tensor._wrap(np.array(grad.data) if t.grad is None else t.grad.data + grad.data)

        keep.retains = ref
        self._node.register_prehook(self._out_idx, keep)

    # -- in-place writes (version counted, so a saved tensor changed later is caught) ---
    def _check_inplace(self, op):
        if self._requires_grad and self._node is None and _state["grad_enabled"]:
            raise RuntimeError(
                f"{op}: a leaf tensor that requires grad cannot be modified in place while "
                "recording; wrap the update in `with no_grad():`"
            )
        if self._node is not None:  # even under no_grad: its node may have saved it for backward
            raise RuntimeError(
                f"{op}: in-place change of a tensor made by {self._node!r}, which is part of a graph "
                "(its value may be saved for backward); use an out-of-place operation (y = y + 1) "
                "or change a .detach()ed copy"
            )
        self._version += 1

    def __setitem__(self, index, value):
        if isinstance(value, Tensor) and value._requires_grad and _state["grad_enabled"]:
            raise RuntimeError(
                "__setitem__: writing a tensor that requires grad into another tensor would drop its "
                "gradient; build the result out of place (ag.where, ag.concatenate, ag.index_add)"
            )
        self._check_inplace("__setitem__")
        self.data[_index_key(index)] = value.data if isinstance(value, Tensor) else value

    def _inplace(self, op, value):
        self._check_inplace(op)
        v = value.data if isinstance(value, Tensor) else value
        getattr(np, op)(self.data, v, out=self.data, casting="unsafe")
        return self

    def __iadd__(self, other):
        return self._inplace("add", other)

    def __isub__(self, other):
        return self._inplace("subtract", other)

    def __imul__(self, other):
        return self._inplace("multiply", other)

    def __itruediv__(self, other):
        return self._inplace("true_divide", other)

    def add_(self, other, alpha=1):
        return self._inplace("add", other * alpha if alpha != 1 else other)

    def mul_(self, other):
        return self._inplace("multiply", other)

    def zero_(self):
        return self.fill_(0)

    def fill_(self, value):
        self._check_inplace("fill_")
        self.data.fill(value)
        return self

    def copy_(self, other):
        src = other.data if isinstance(other, Tensor) else np.asarray(other)
        try:
            fits = np.broadcast_shapes(src.shape, self.shape) == self.shape
        except ValueError:
            fits = False
        if not fits:
            raise ValueError(f"copy_: cannot copy shape {src.shape} into shape {self.shape}")
        self._check_inplace("copy_")
        self.data[...] = src
        return self

    # -- dtype -----------------------------------------------------------------------
    def to(self, dtype):
        from .ops import cast

        return cast(self, dtype)

    astype = to

    def float(self):
        return self.to(np.float32)

    def double(self):
        return self.to(np.float64)

    # -- non-differentiable reductions -------------------------------------------------
    def argmax(self, axis=None, dim=None, keepdims=False):
        return Tensor._wrap(np.argmax(self.data, axis=_axis(axis, dim), keepdims=keepdims))

    def argmin(self, axis=None, dim=None, keepdims=False):
        return Tensor._wrap(np.argmin(self.data, axis=_axis(axis, dim), keepdims=keepdims))

    # -- comparisons (no gradient) -----------------------------------------------------
    def _compare(self, other, ufunc):
        return Tensor._wrap(ufunc(self.data, other.data if isinstance(other, Tensor) else other))

    def __eq__(self, other):
        return self._compare(other, np.equal)

    def __ne__(self, other):
        return self._compare(other, np.not_equal)

    def __lt__(self, other):
        return self._compare(other, np.less)

    def __le__(self, other):
        return self._compare(other, np.less_equal)

    def __gt__(self, other):
        return self._compare(other, np.greater)

    def __ge__(self, other):
        return self._compare(other, np.greater_equal)


def _index_key(index):
    """Replace Tensors inside an index by their arrays."""
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, tuple):
        return tuple(i.data if isinstance(i, Tensor) else i for i in index)
    return index


def as_tensor(x, like=None):
    """Tensors pass through; numbers and arrays become constant tensors (numbers take `like`'s dtype)."""
    if isinstance(x, Tensor):
        return x
    if isinstance(x, numbers.Number) and like is not None and is_float(like.data.dtype):
        return Tensor._wrap(np.asarray(x, dtype=like.data.dtype))
    if isinstance(x, np.ndarray):
        return Tensor._wrap(x)
    return Tensor(x)


# -- operators and methods: each one delegates to a primitive in autograd.ops -----------
from . import ops as _ops  # noqa: E402  (ops needs Tensor defined first)


def _reflected(op):
    return lambda self, other: op(other, self)


def _reduction(op):
    def method(self, axis=None, keepdims=False, *, dim=None, keepdim=None):
        return op(self, _axis(axis, dim), keepdims if keepdim is None else keepdim)

    method.__name__ = op.__name__
    method.__doc__ = op.__doc__
    return method


def _var(self, axis=None, ddof=0, keepdims=False, *, dim=None, keepdim=None, unbiased=None, correction=None):
    if unbiased is not None:
        ddof = int(unbiased)
    if correction is not None:
        ddof = correction
    return _ops.var(self, _axis(axis, dim), ddof, keepdims if keepdim is None else keepdim)


def _std(self, *args, **kwargs):
    return _ops.sqrt(_var(self, *args, **kwargs))


_methods = {
    "__add__": _ops.add, "__radd__": _reflected(_ops.add),
    "__sub__": _ops.sub, "__rsub__": _reflected(_ops.sub),
    "__mul__": _ops.mul, "__rmul__": _reflected(_ops.mul),
    "__truediv__": _ops.div, "__rtruediv__": _reflected(_ops.div),
    "__pow__": _ops.pow, "__rpow__": _reflected(_ops.pow),
    "__matmul__": lambda self, other: _ops.matmul(self, as_tensor(other, like=self)),
    "__rmatmul__": lambda self, other: _ops.matmul(as_tensor(other, like=self), self),
    "__neg__": _ops.neg, "__abs__": _ops.abs,
    "__getitem__": _ops.getitem,
    "add": _ops.add, "sub": _ops.sub, "mul": _ops.mul, "div": _ops.div, "pow": _ops.pow,
    "matmul": _ops.matmul, "neg": _ops.neg, "exp": _ops.exp, "log": _ops.log, "sqrt": _ops.sqrt,
    "abs": _ops.abs, "tanh": _ops.tanh, "sigmoid": _ops.sigmoid, "relu": _ops.relu,
    "maximum": _ops.maximum, "minimum": _ops.minimum, "clip": _ops.clip, "clamp": _ops.clip,
    "sum": _reduction(_ops.sum), "mean": _reduction(_ops.mean),
    "max": _reduction(_ops.max), "min": _reduction(_ops.min), "var": _var, "std": _std,
    "reshape": _ops.reshape, "view": _ops.reshape, "permute": _ops.permute, "transpose": _ops.transpose,
    "swapaxes": _ops.swapaxes, "broadcast_to": _ops.broadcast_to, "expand": _ops.expand,
    "sum_to": _ops.sum_to, "squeeze": _ops.squeeze, "unsqueeze": _ops.unsqueeze,
    "flatten": _ops.flatten, "pad": _ops.pad,
}
for _name, _fn in _methods.items():
    setattr(Tensor, _name, _fn)
del _name, _fn
