"""Tensor: an ndarray with a gradient and the node that made it.

Operators and methods delegate to the primitives in `autograd.ops`; methods take NumPy's
`axis`/`keepdims` and PyTorch's `dim`/`keepdim`. In-place writes (`+=`, `add_`, `copy_`,
`t[i] = v`) bump the version counter that the tensor shares with its views, so a graph
that saved the old value refuses to use it.
"""
import contextlib
import copy
import numbers
import weakref

import numpy as np

from . import ops as _ops  # the package imports `ops` before this module (ops -> function -> tensor)
from .dtypes import get_default_dtype, is_float
from .graph import AccumulateGrad, VersionCounter, count_write
from .grad_mode import GRAD_ENABLED


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


_new = object.__new__


def _axis(axis, dim):
    return dim if axis is None else axis


def _keep(keepdims, keepdim):
    return keepdims if keepdim is None else keepdim


class Tensor:
    """A multi-dimensional array that can record the operations applied to it."""

    # _vc: the version counter, made when first needed (a write, a view, a save); a slot, as every op reads it
    __slots__ = ("data", "_requires_grad", "_node", "_out_idx", "_vc", "__dict__", "__weakref__")
    # rarely set: class defaults until written (each op's output then costs five writes, not eight)
    grad = None
    _name = None
    _accumulator = None  # a weak reference to the leaf's AccumulateGrad (graphs hold it, not the leaf)
    _hooks = None  # a leaf's tensor hooks: [(0, fn)]
    __array_priority__ = 1000
    __array_ufunc__ = None  # make ndarray ⊕ Tensor defer to Tensor's reflected operators
    __hash__ = object.__hash__

    def __init__(self, data, requires_grad=False, dtype=None, name=None):
        self.data = _as_array(data, dtype)
        self._requires_grad = False
        self._node = None
        self._out_idx = 0
        self._vc = None
        if name is not None:
            self.name = name
        if requires_grad:
            self.requires_grad = True

    @classmethod
    def _wrap(cls, array, node=None, index=0):
        """Fast internal constructor: no copy, no checks."""
        t = _new(cls)
        t.data = array if type(array) is np.ndarray else np.asarray(array)
        t._requires_grad = node is not None
        t._node = node
        t._out_idx = index
        t._vc = None
        return t

    @property
    def name(self):
        """The tensor's name, used by pictures, derivations and traces (None: unnamed)."""
        return self._name

    @name.setter
    def name(self, value):
        self._name = value
        if self._node is not None:  # the graph keeps the names of named intermediates
            self._node.name_output(self._out_idx, value)

    # -- versions and graph positions ----------------------------------------------------
    @property
    def _version(self):
        """How many in-place writes this tensor's memory has seen (through it or any alias)."""
        counter = self._vc
        if counter is None and self._node is not None and self._node.out_counters is not None:
            counter = self._vc = self._node.out_counters[self._out_idx]
        return 0 if counter is None else counter.value

    def _version_counter(self):
        """The counter shared with every alias of this memory (made when first asked for)."""
        if self._vc is None:
            node = self._node
            self._vc = VersionCounter() if node is None else node.output_counter(self._out_idx)
        return self._vc

    def _grad_accumulator(self, recording=False):
        """The AccumulateGrad node of a leaf that requires grad (one while any graph holds it).

        recording: a new graph takes the leaf in. The engine fits the leaf's gradients to the shape and
        dtype its accumulator was made for, so when `.data` was since replaced by an array of another
        shape or dtype, the new graph gets a new accumulator (graphs recorded before keep theirs)."""
        ref = self._accumulator
        accumulator = None if ref is None else ref()
        if accumulator is not None and recording and accumulator.made_for is not self.data:
            if accumulator.out_meta[0] == (self.data.shape, self.data.dtype):
                accumulator.made_for = self.data  # the same kind of array: the accumulator still fits
            else:
                accumulator = None
        if accumulator is None:
            accumulator = AccumulateGrad(self)
            self._accumulator = weakref.ref(accumulator)
        return accumulator

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
        """The underlying ndarray, shared; read-only when the tensor requires grad (write with
        in-place ops under `no_grad()`, which the version counter sees)."""
        if not self._requires_grad:
            return self.data
        view = self.data.view()
        view.flags.writeable = False
        return view

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
        """A new leaf sharing this tensor's data and its version counter, outside any graph:
        writing to it in place is caught by a backward that saved this tensor."""
        out = Tensor._wrap(self.data)
        out._vc = self._version_counter()
        return out

    def __deepcopy__(self, memo):
        """A new leaf with copies of the data, `.grad` and the other attributes (hooks stay shared), of the
        same class (a Parameter stays one); no accumulator, so its gradients reach the copy. As in PyTorch,
        only a leaf can be copied."""
        if self._node is not None:
            raise RuntimeError(
                f"deepcopy: only leaf tensors support it, and this one was made by {self._node!r}; "
                "use .detach().clone() for a copy outside the graph"
            )
        out = _new(type(self))
        memo[id(self)] = out
        out.data = self.data.copy()
        out._requires_grad, out._node, out._out_idx, out._vc = self._requires_grad, None, 0, None
        for name, value in self.__dict__.items():
            if name != "_accumulator":
                setattr(out, name, value if name == "_hooks" else copy.deepcopy(value, memo))
        return out

    def __copy__(self):
        """A new Tensor object sharing the data and its version counter. A leaf's copy is a leaf of its own,
        as in PyTorch: no gradient, hooks or accumulator of the original (its gradients reach the copy);
        a non-leaf's copy stands at the same place in the graph."""
        out = _new(type(self))
        out.data, out._requires_grad, out._node, out._out_idx = self.data, self._requires_grad, self._node, self._out_idx
        out._vc = self._vc if self._node is not None else self._version_counter()
        out.__dict__.update(self.__dict__)
        if self._node is None:
            for name in ("_accumulator", "_hooks", "grad"):
                out.__dict__.pop(name, None)
        return out

    def clone(self):
        """A copy with its own memory; gradients flow back to this tensor."""
        return _ops.mul(self, 1) if self._requires_grad else Tensor._wrap(self.data.copy())

    def backward(self, gradient=None, retain_graph=False, create_graph=False):
        """Accumulate d(self)/d(leaf) into every leaf's `.grad`."""
        from .engine import backward

        backward([self], None if gradient is None else [gradient], retain_graph, create_graph)

    def register_hook(self, fn):
        """Call fn(grad) when this tensor's total gradient is known; a returned tensor replaces it
        (it must keep the gradient's shape and stay floating point)."""
        if not self._requires_grad:
            raise RuntimeError("register_hook: this tensor does not require grad")
        node = self._grad_accumulator() if self._node is None else self._node
        node.register_prehook(self._out_idx, fn)
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
        """Refuse writes that would corrupt a graph; count the others on the shared version."""
        if self._requires_grad and self._node is None and GRAD_ENABLED.get():
            raise RuntimeError(
                f"{op}: a leaf tensor that requires grad cannot be modified in place while "
                "recording; wrap the update in `with no_grad():`"
            )
        if self._node is not None:  # even under no_grad: its node may have saved it for backward
            raise RuntimeError(
                f"{op}: in-place change of a tensor made by {self._node!r}, which is part of a graph "
                "(its value may be saved for backward); use an out-of-place operation (y = y + 1)"
            )
        count_write(self._version_counter())

    def __setitem__(self, index, value):
        if isinstance(value, Tensor) and value._requires_grad and GRAD_ENABLED.get():
            raise RuntimeError(
                "__setitem__: writing a tensor that requires grad into another tensor would drop its "
                "gradient; build the result out of place (ag.where, ag.concatenate, ag.index_add)"
            )
        self._check_inplace("__setitem__")
        self.data[_index_key(index)] = value.data if isinstance(value, Tensor) else value

    @contextlib.contextmanager
    def in_place(self, op="in-place write"):
        """`with t.in_place() as array:` write `array` (this tensor's memory) with NumPy; the write is
        counted on the version this tensor shares with its views (optimizers and init use it).
        Refused, like every in-place op, on a tensor made by an op or a recording leaf that requires grad."""
        self._check_inplace(op)
        yield self.data

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

    def sub_(self, other, alpha=1):
        return self._inplace("subtract", other * alpha if alpha != 1 else other)

    def mul_(self, other):
        return self._inplace("multiply", other)

    def div_(self, other):
        return self._inplace("true_divide", other)

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

    # -- arithmetic: each operator is one primitive of `autograd.ops` ---------------------
    def __add__(self, other):
        return _ops.add(self, other)

    def __radd__(self, other):
        return _ops.add(other, self)

    def __sub__(self, other):
        return _ops.sub(self, other)

    def __rsub__(self, other):
        return _ops.sub(other, self)

    def __mul__(self, other):
        return _ops.mul(self, other)

    def __rmul__(self, other):
        return _ops.mul(other, self)

    def __truediv__(self, other):
        return _ops.div(self, other)

    def __rtruediv__(self, other):
        return _ops.div(other, self)

    def __pow__(self, other):
        return _ops.pow(self, other)

    def __rpow__(self, other):
        return _ops.pow(other, self)

    def __matmul__(self, other):
        return _ops.matmul(self, as_tensor(other, like=self))

    def __rmatmul__(self, other):
        return _ops.matmul(as_tensor(other, like=self), self)

    def __neg__(self):
        return _ops.neg(self)

    def __abs__(self):
        return _ops.abs(self)

    def __getitem__(self, index):
        return _ops.getitem(self, index)

    add = __add__
    sub = __sub__
    mul = __mul__
    div = __truediv__
    pow = __pow__
    matmul = __matmul__
    neg = __neg__
    abs = __abs__

    def exp(self):
        return _ops.exp(self)

    def log(self):
        return _ops.log(self)

    def sqrt(self):
        return _ops.sqrt(self)

    def tanh(self):
        return _ops.tanh(self)

    def sigmoid(self):
        return _ops.sigmoid(self)

    def relu(self):
        return _ops.relu(self)

    def maximum(self, other):
        return _ops.maximum(self, other)

    def minimum(self, other):
        return _ops.minimum(self, other)

    def clip(self, lo=None, hi=None):
        return _ops.clip(self, lo, hi)

    clamp = clip

    def __floordiv__(self, other):
        return _ops.floor_divide(self, other)

    def __rfloordiv__(self, other):
        return _ops.floor_divide(other, self)

    def __mod__(self, other):
        return _ops.remainder(self, other)

    def __rmod__(self, other):
        return _ops.remainder(other, self)

    floor_divide = __floordiv__
    remainder = __mod__

    def sin(self):
        return _ops.sin(self)

    def cos(self):
        return _ops.cos(self)

    def tan(self):
        return _ops.tan(self)

    def asin(self):
        return _ops.asin(self)

    def acos(self):
        return _ops.acos(self)

    def atan(self):
        return _ops.atan(self)

    def sinh(self):
        return _ops.sinh(self)

    def cosh(self):
        return _ops.cosh(self)

    def log2(self):
        return _ops.log2(self)

    def log10(self):
        return _ops.log10(self)

    def log1p(self):
        return _ops.log1p(self)

    def expm1(self):
        return _ops.expm1(self)

    def exp2(self):
        return _ops.exp2(self)

    def rsqrt(self):
        return _ops.rsqrt(self)

    def reciprocal(self):
        return _ops.reciprocal(self)

    def erf(self):
        return _ops.erf(self)

    def sign(self):
        return _ops.sign(self)

    def floor(self):
        return _ops.floor(self)

    def ceil(self):
        return _ops.ceil(self)

    def round(self):
        return _ops.round(self)

    def trunc(self):
        return _ops.trunc(self)

    def logaddexp(self, other):
        return _ops.logaddexp(self, other)

    def lerp(self, end, weight):
        return _ops.lerp(self, end, weight)

    def isnan(self):
        return _ops.isnan(self)

    def isinf(self):
        return _ops.isinf(self)

    def isfinite(self):
        return _ops.isfinite(self)

    # -- reductions: NumPy's axis/keepdims or PyTorch's dim/keepdim ---------------------
    def sum(self, axis=None, keepdims=False, *, dim=None, keepdim=None):
        """Σ over `axis` (int, tuple or None for all)."""
        return _ops.sum(self, _axis(axis, dim), _keep(keepdims, keepdim))

    def mean(self, axis=None, keepdims=False, *, dim=None, keepdim=None):
        return _ops.mean(self, _axis(axis, dim), _keep(keepdims, keepdim))

    def max(self, axis=None, keepdims=False, *, dim=None, keepdim=None):
        """Largest value; ties share the gradient evenly."""
        return _ops.max(self, _axis(axis, dim), _keep(keepdims, keepdim))

    def min(self, axis=None, keepdims=False, *, dim=None, keepdim=None):
        """Smallest value; ties share the gradient evenly."""
        return _ops.min(self, _axis(axis, dim), _keep(keepdims, keepdim))

    def var(self, axis=None, ddof=0, keepdims=False, *, dim=None, keepdim=None, unbiased=None, correction=None):
        """Variance; ddof=0 (NumPy's default) unless `ddof`, `unbiased` or `correction` say otherwise."""
        return _ops.var(self, _axis(axis, dim), ddof, _keep(keepdims, keepdim), correction=correction, unbiased=unbiased)

    def std(self, axis=None, ddof=0, keepdims=False, *, dim=None, keepdim=None, unbiased=None, correction=None):
        """√var, with var's arguments."""
        return _ops.std(self, _axis(axis, dim), ddof, _keep(keepdims, keepdim), correction=correction, unbiased=unbiased)

    def prod(self, axis=None, keepdims=False, *, dim=None, keepdim=None):
        return _ops.prod(self, _axis(axis, dim), _keep(keepdims, keepdim))

    def logsumexp(self, axis=None, keepdims=False, *, dim=None, keepdim=None):
        return _ops.logsumexp(self, _axis(axis, dim), _keep(keepdims, keepdim))

    def norm(self, p=2, axis=None, keepdims=False, *, dim=None, keepdim=None):
        return _ops.norm(self, p, _axis(axis, dim), _keep(keepdims, keepdim))

    def any(self, axis=None, keepdims=False, *, dim=None, keepdim=None):
        return _ops.any(self, _axis(axis, dim), _keep(keepdims, keepdim))

    def all(self, axis=None, keepdims=False, *, dim=None, keepdim=None):
        return _ops.all(self, _axis(axis, dim), _keep(keepdims, keepdim))

    def cumsum(self, axis=None, *, dim=None):
        return _ops.cumsum(self, _axis(axis, dim))

    def cumprod(self, axis=None, *, dim=None):
        return _ops.cumprod(self, _axis(axis, dim))

    # -- shape -----------------------------------------------------------------------
    def reshape(self, *shape):
        return _ops.reshape(self, *shape)

    view = reshape

    def permute(self, *axes):
        return _ops.permute(self, *axes)

    def contiguous(self):
        """The same values in C (row-major) order: self when they already are, else a copy (with its gradient)."""
        return _ops.contiguous(self)

    def is_contiguous(self):
        """True when the values lie in C (row-major) order in memory."""
        return self.data.flags.c_contiguous

    def transpose(self, *axes):
        return _ops.transpose(self, *axes)

    def swapaxes(self, axis0, axis1):
        return _ops.swapaxes(self, axis0, axis1)

    def broadcast_to(self, *shape):
        return _ops.broadcast_to(self, *shape)

    def expand(self, *shape):
        return _ops.expand(self, *shape)

    def sum_to(self, shape):
        return _ops.sum_to(self, shape)

    def squeeze(self, axis=None):
        return _ops.squeeze(self, axis)

    def unsqueeze(self, axis):
        return _ops.unsqueeze(self, axis)

    def flatten(self, start_dim=0, end_dim=-1):
        return _ops.flatten(self, start_dim, end_dim)

    def pad(self, pad_width, value=0.0):
        return _ops.pad(self, pad_width, value)

    def flip(self, *dims):
        return _ops.flip(self, dims[0] if len(dims) == 1 else dims)

    def roll(self, shifts, dims=None):
        return _ops.roll(self, shifts, dims)

    def repeat(self, *sizes):
        return _ops.repeat(self, *sizes)

    def tile(self, *reps):
        return _ops.tile(self, reps[0] if len(reps) == 1 else reps)

    def split(self, split_size_or_sections, dim=0):
        return _ops.split(self, split_size_or_sections, dim)

    def chunk(self, chunks, dim=0):
        return _ops.chunk(self, chunks, dim)

    def tril(self, diagonal=0):
        return _ops.tril(self, diagonal)

    def triu(self, diagonal=0):
        return _ops.triu(self, diagonal)

    def diag(self, diagonal=0):
        return _ops.diag(self, diagonal)

    def gather(self, dim, index):
        return _ops.gather(self, dim, index)

    def scatter(self, dim, index, src):
        return _ops.scatter(self, dim, index, src)

    def scatter_add(self, dim, index, src):
        return _ops.scatter_add(self, dim, index, src)

    def index_select(self, dim, index):
        return _ops.index_select(self, dim, index)

    def masked_fill(self, mask, value):
        return _ops.masked_fill(self, mask, value)

    def sort(self, dim=-1, descending=False):
        return _ops.sort(self, dim, descending)

    def topk(self, k, dim=-1, largest=True):
        return _ops.topk(self, k, dim, largest)

    # -- dtype -----------------------------------------------------------------------
    def to(self, dtype):
        return _ops.cast(self, dtype)

    astype = to

    def float(self):
        return self.to(np.float32)

    def double(self):
        return self.to(np.float64)

    # -- non-differentiable reductions -------------------------------------------------
    def argmax(self, axis=None, dim=None, keepdims=False):
        return _ops.argmax(self, _axis(axis, dim), keepdims)

    def argmin(self, axis=None, dim=None, keepdims=False):
        return _ops.argmin(self, _axis(axis, dim), keepdims)

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
