"""Function: the one mechanism behind every primitive and every user extension.

A Function subclass defines `forward(ctx, *arrays)` on NumPy arrays and
`backward(ctx, *grads)` on Tensors (its vector-Jacobian product, VJP). `apply`
runs the forward and, when an input requires grad, turns `ctx` into a node of
the backward graph: it keeps the edges to the inputs' nodes (or the leaf
tensors themselves), the inputs' shapes, the scope it was created in and what
`save_for_backward` asked for. Because VJPs use Tensor operations, running them
with grad mode on (`create_graph=True`) records a graph of the backward pass.
"""
import os
import traceback
from typing import NamedTuple

import numpy as np

from . import grad_mode

_state = grad_mode._state

#: Every built-in primitive by name: the table of derivative rules (see `autograd.ops`).
PRIMITIVES = {}


class Formula(NamedTuple):
    """A primitive's math, in plain text and LaTeX.

    `inputs` names the operands (`a`, `b`); `vjps[i]` is the gradient sent to
    input i in terms of the operands, the output `y` and the upstream gradient `ḡ`.
    """

    inputs: tuple
    text: str
    tex: str
    vjps: tuple
    vjps_tex: tuple


def primitive(cls):
    """Class decorator: enter a Function subclass into the primitives table."""
    PRIMITIVES[cls.name] = cls
    return cls


# A saved input that needs a gradient, or a saved output, is kept as a plain tuple
# (SAVED_INPUT or SAVED_OUTPUT, position, array) and rebuilt as a Tensor on unpack: the
# garbage collector stops tracking such tuples, which keeps deep graphs cheap to build.
SAVED_INPUT = "input"
SAVED_OUTPUT = "output"


class Function:
    """Base class of graph nodes. Subclass it and call `MyFunction.apply(*inputs)`.

    Example (a user extension)::

        class Cube(Function):
            @staticmethod
            def forward(ctx, x):
                ctx.save_for_backward(x)
                return x ** 3
            @staticmethod
            def backward(ctx, g):
                x, = ctx.saved_tensors
                return g * 3 * x ** 2
    """

    name = None
    formula = None
    differentiable = True

    _to_save = ()  # what forward passed to save_for_backward (an instance attribute once set)
    pre_hooks = None  # [(output index, fn)] once register_prehook is called
    released = False
    trace = None  # the creating line, under detect_anomaly

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("name") is None:
            cls.name = cls.__name__.lower()

    # -- the two methods a subclass writes -------------------------------------------
    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError("a Function subclass must define forward(ctx, *args)")

    @staticmethod
    def backward(ctx, *grads):
        raise NotImplementedError("a Function subclass must define backward(ctx, *grads)")

    # -- context API used inside forward/backward ------------------------------------
    def save_for_backward(self, *arrays):
        """Keep inputs, outputs or other arrays for the VJP; read them back with `saved_tensors`."""
        self._to_save = arrays

    @property
    def saved_tensors(self):
        """The saved values as Tensors (inputs keep their graph, so VJPs stay differentiable)."""
        if self.released:
            raise RuntimeError(
                f"{self!r}: trying to backward through the graph a second time; its saved values "
                "were freed after the first backward. Pass retain_graph=True to the first backward "
                "if you need to run it again."
            )
        return tuple([self._unpack(item, version) for item, version in zip(self._saved, self._saved_versions)])

    def _unpack(self, item, version):
        if type(item) is tuple:  # (SAVED_INPUT | SAVED_OUTPUT, position, array)
            kind, index, array = item
            if kind == SAVED_OUTPUT:
                return _wrap(array, self, index)
            edge = self._next[index]
            if isinstance(edge, Tensor):  # a leaf: the Tensor itself, unless written in place since
                item = edge
            else:  # a non-leaf input: the same graph position (in-place writes to it are refused)
                return _wrap(array, *((edge, 0) if isinstance(edge, Function) else edge))
        if not isinstance(item, Tensor):
            return _wrap(item)
        if item._version != version:
            raise RuntimeError(
                f"{self!r}: a tensor of shape {item.shape} saved for backward was modified "
                f"in place (version {version} when saved, now {item._version}). Use an "
                "out-of-place operation (y = y + 1) instead of an in-place one."
            )
        return item

    # -- graph bookkeeping -----------------------------------------------------------
    @property
    def next(self):
        """For each input: (node, output index), the leaf Tensor, or None when it needs no grad."""
        return tuple([(e, 0) if isinstance(e, Function) else e for e in self._next])

    next_functions = next

    def register_prehook(self, index, fn):
        """Call fn(grad) on the total gradient of output `index` before this node's backward."""
        if self.pre_hooks is None:
            self.pre_hooks = []
        self.pre_hooks.append((index, fn))

    def release(self):
        """Free what was saved for backward; a later backward through this node raises."""
        self._saved = None
        self.released = True

    def saved_items(self):
        """What this node keeps for its VJP: (kind, position, shape) with kind 'input' (position =
        the input's index, None if unknown), 'output' (the output's index) or 'value' (anything else)."""
        for item in self._saved or ():
            if type(item) is tuple:
                yield item[0], item[1], item[2].shape
            elif isinstance(item, Tensor):  # an input without gradient, kept with its version
                yield "input", next((i for i, value in self.constants if value is item.data), None), item.shape
            else:
                yield "value", None, np.shape(item)

    @property
    def saved_nbytes(self):
        """Bytes of arrays this node keeps alive for its VJP."""
        total = 0
        for item in self._saved or ():
            if isinstance(item, Tensor):
                total += item.data.nbytes
            elif type(item) is tuple:
                total += item[2].nbytes
            else:
                total += np.asarray(item).nbytes
        return total

    def __repr__(self):
        return f"<{type(self).__name__}Backward>"

    # -- running a Function ----------------------------------------------------------
    @classmethod
    def apply(cls, *args, **kwargs):
        """Run forward on the inputs' arrays; record a node when grad is needed."""
        ctx = _new(cls)
        arrays = []
        record = False
        for a in args:
            if isinstance(a, Tensor):
                arrays.append(a.data)
                if a._requires_grad:
                    record = True
            else:
                arrays.append(a)
        if record and _state["grad_enabled"] and cls.differentiable:
            _link(ctx, args, kwargs)
            return _record(ctx, cls.forward(ctx, *arrays, **kwargs), args, arrays)
        ctx.needs_input_grad = (False,) * len(args)
        out = cls.forward(ctx, *arrays, **kwargs)
        if not isinstance(out, tuple) and not _state["anomaly"]:
            return _wrap(out)  # _wrap also turns NumPy scalars (what 0-d math returns) into arrays
        outs, single = _outputs(cls, out)
        return _wrap(outs[0]) if single else tuple([_wrap(o) for o in outs])


def _outputs(cls, out):
    """forward's result as a tuple of arrays (checked for NaN/inf under detect_anomaly)."""
    single = not isinstance(out, tuple)
    outs = tuple([o.data if isinstance(o, Tensor) else np.asarray(o) for o in ((out,) if single else out)])
    if _state["anomaly"]:
        _check_finite_forward(cls, outs)
    return outs, single


_NO_OPTIONS = {}
_SHARED = {}


def _shared(value):
    """One object for every equal small tuple of metadata (shapes, dtypes, flags): a deep graph then
    holds far fewer distinct objects, and the garbage collector's passes over it get much cheaper."""
    if len(_SHARED) > 100_000:  # shapes vary without bound in odd programs: keep the table small
        _SHARED.clear()
    return _SHARED.setdefault(value, value)


def _link(ctx, args, kwargs):
    """Make ctx a node: per input its (shape, dtype), whether it needs a gradient and where that goes.

    The inputs without a gradient (`constants`, as (position, value)) and the keyword options are
    kept too: with the edges they are enough to run the forward again (viz, explain).
    """
    meta = []
    edges = []
    needs = []
    constants = []
    for a in args:
        if isinstance(a, Tensor):
            data = a.data
            meta.append((data.shape, data.dtype))
            if a._requires_grad:
                node = a._node  # stored bare when it is output 0 (one object fewer per edge)
                edges.append(a if node is None else node if a._out_idx == 0 else (node, a._out_idx))
                needs.append(True)
                continue
            constants.append((len(edges), data))
        else:
            meta.append(None)
            constants.append((len(edges), a))
        edges.append(None)
        needs.append(False)
    ctx.constants = tuple(constants)  # tuples: the garbage collector soon stops tracking them
    ctx.options = kwargs or _NO_OPTIONS
    ctx.in_meta = _shared(tuple(meta))
    ctx._next = tuple(edges)
    ctx.needs_input_grad = _shared(tuple(needs))
    ctx.scope = _state["scope"]
    if _state["anomaly"]:
        ctx.trace = _creation_site()


def _record(ctx, out, args, arrays):
    """Wrap forward's outputs as Tensors made by ctx and resolve what it saved."""
    if not isinstance(out, tuple) and not _state["anomaly"]:
        returned = (out,)
        outs = returned if type(out) is np.ndarray else (np.asarray(out),)
        ctx.n_outputs = 1
        ctx.out_meta = _shared(((outs[0].shape, outs[0].dtype),))
    else:
        returned = out if isinstance(out, tuple) else (out,)
        outs, _ = _outputs(type(ctx), out)
        ctx.n_outputs = len(outs)
        ctx.out_meta = tuple([(o.shape, o.dtype) for o in outs])
    to_save = ctx._to_save
    if to_save:
        ctx._to_save = ()
        saved = []
        versions = []
        for item in to_save:
            version = None
            if not isinstance(item, Tensor):
                index = _input_position(item, args, arrays, saved)  # most often an input's own array
                if index is None:
                    item = _saved_output(item, returned, outs)
                elif args[index]._requires_grad:
                    version = args[index]._version if args[index]._node is None else None
                    item = (SAVED_INPUT, index, item)
                else:
                    item = args[index]
            if isinstance(item, Tensor):
                version = item._version
            saved.append(item)
            versions.append(version)
        ctx._saved = tuple(saved)
        ctx._saved_versions = _shared(tuple(versions))
    else:
        ctx._saved = ctx._saved_versions = ()
    if len(outs) == 1 and not isinstance(out, tuple):
        return _wrap(outs[0], ctx, 0)
    return tuple([_wrap(o, ctx, i) for i, o in enumerate(outs)])


def _input_position(item, args, arrays, saved):
    """Which input Tensor's array `item` is; in x·x both are: the first one not saved yet."""
    position = None
    for i, array in enumerate(arrays):
        if item is array and isinstance(args[i], Tensor):
            if position is None:
                position = i
            elif any(type(entry) is tuple and entry[:2] == (SAVED_INPUT, position) for entry in saved):
                return i
    return position


def _saved_output(item, returned, outs):
    """An array passed to save_for_backward that is not an input: an output slot, or a constant.

    `returned` is what forward returned, `outs` the same as arrays: on 0-d inputs NumPy
    returns scalars (np.exp(a) is an np.float64), which become new array objects in `outs`.
    """
    for index, (raw, out) in enumerate(zip(returned, outs)):
        if item is raw or item is out:
            return (SAVED_OUTPUT, index, out)
    return item


_PACKAGES = tuple(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), name, "")
                  for name in ("autograd", "nn"))


def _creation_site():
    """The user's line that created a node (the innermost frame outside chainrule's packages)."""
    for frame in reversed(traceback.extract_stack()[:-2]):
        if not frame.filename.startswith(_PACKAGES):
            return f"{frame.filename}:{frame.lineno} in {frame.name}: {frame.line}"
    return None


from .tensor import Tensor  # noqa: E402  (tensor.py imports the ops, which import this module)

_wrap = Tensor._wrap
_new = object.__new__


def _check_finite_forward(cls, outs):
    for o in outs:
        if o.dtype.kind == "f" and not np.all(np.isfinite(o)):
            raise FloatingPointError(
                f"detect_anomaly: forward of '{cls.name}' produced NaN/inf "
                f"(output shape {o.shape}) at {_creation_site()}"
            )
