"""Function: the one mechanism behind every primitive and every user extension.

A Function subclass defines `forward(ctx, *arrays)` on NumPy arrays (a 0-d tensor's
value comes as a NumPy scalar) and `backward(ctx, *grads)` (its vector-Jacobian product,
VJP). `apply` runs the forward and, when an input requires grad and grad mode is on,
records `ctx` as a node of the backward graph (`graph.Node`, with `function` = the
subclass: its input edges, metadata, the forward's outputs, what `save_for_backward`
asked for, its scope).

A VJP gets Tensors and uses Tensor operations, so running it with grad mode on
(`create_graph=True`) records a graph of the backward pass. A primitive of the table
(`@primitive`) writes its rule once for two kinds of values: Tensors under
`create_graph=True`, raw NumPy arrays in a plain backward (no Tensor, no dispatch per
step: the scalar MLP, forward and backward, runs 23% fewer instructions). Such a rule uses operators, the
methods arrays and Tensors share, and ops functions: while a VJP runs on arrays
(`grad_mode.VJP_ON_ARRAYS`), a primitive applied to arrays only returns arrays.
"""
import os
import traceback
from operator import is_
from typing import NamedTuple

import numpy as np

from .graph import ALL_WRITES, Node, next_creation
from .grad_mode import ANOMALY, GRAD_ENABLED, SCOPE, VJP_ON_ARRAYS
from .tensor import Tensor

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
    """Class decorator: enter a Function subclass into the primitives table (its VJP runs on arrays too)."""
    PRIMITIVES[cls.name] = cls
    cls.vjp_on_arrays = True
    return cls


def values(x):
    """The array of a Tensor, or x itself: for a VJP rule that reads values (a mask, a sign) on both kinds."""
    return x.data if isinstance(x, Tensor) else x


class _FunctionClass(type):
    """Function's metaclass: `isinstance(y.grad_fn, Mul)` asks whether the node's operation is Mul
    (every node is a `graph.Node`; its `function` is the Function subclass)."""

    def __instancecheck__(cls, instance):
        function = getattr(instance, "function", None) if isinstance(instance, Node) else None
        return type.__instancecheck__(cls, instance) or (isinstance(function, type) and issubclass(function, cls))


class Function(metaclass=_FunctionClass):
    """Base class of operations. Subclass it and call `MyFunction.apply(*inputs)`.

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

    `apply` records a node of the backward graph (`graph.Node`, with `function` = the subclass); forward
    and backward get it as `ctx` (`save_for_backward`, `saved_tensors`, `needs_input_grad`, and any
    attribute forward sets on it). Set `view = True` on a primitive whose output may share the input's
    memory (reshape, transpose, slicing): the output then shares the input's version counter.
    """

    formula = None
    differentiable = True
    view = False
    #: True when backward(node, *grads) is written for raw NumPy arrays as well as Tensors (every primitive
    #: of the table is): a backward without create_graph then runs it on arrays, with no Tensor per step.
    vjp_on_arrays = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("name") is None:
            cls.name = cls.__name__.lower()
        cls.vjp_on_arrays = False  # until @primitive says so: a user's subclass of a primitive gets Tensors

    # -- the two methods a subclass writes -------------------------------------------
    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError("a Function subclass must define forward(ctx, *args)")

    @staticmethod
    def backward(ctx, *grads):
        raise NotImplementedError("a Function subclass must define backward(ctx, *grads)")

    # -- running a Function ----------------------------------------------------------
    @classmethod
    def apply(cls, *args, **kwargs):
        """Run forward on the inputs' arrays; record a node when grad mode is on and an input requires grad."""
        ctx = _new(Node)
        ctx.function = cls
        if GRAD_ENABLED.get() and cls.differentiable:
            arrays = _link(ctx, args, kwargs)
            if arrays is not None:  # (no `**{}` when there are no options: passing it costs 1% of a scalar op)
                out = cls.forward(ctx, *arrays, **kwargs) if kwargs else cls.forward(ctx, *arrays)
                return _record(ctx, out, args, arrays)
        arrays = [_operand_value(a, cls) for a in args]
        n = len(args)
        ctx.needs_input_grad = _NONE_NEEDED[n] if n < len(_NONE_NEEDED) else (False,) * n
        out = cls.forward(ctx, *arrays, **kwargs)
        if VJP_ON_ARRAYS.get() and not any([isinstance(a, Tensor) for a in args]):
            return out  # inside a VJP run on arrays: arrays in, arrays out
        if type(out) is not tuple and not ANOMALY.get():
            result = _wrap(out)
            if cls.view:
                _share_version(result, args[0], None)
            return result
        outs = _outputs(cls, out)
        results = tuple([_wrap(o) for o in outs])
        return results[0] if type(out) is not tuple else results


_NONE_NEEDED = tuple((False,) * n for n in range(16))


def _operand_value(a, cls):
    """What the forward of `cls` gets for the argument `a`: a Tensor's array, as a NumPy scalar when
    it is 0-d and `cls` makes no view (scalar arithmetic is 3-10× faster than ufuncs on 0-d arrays,
    and the VJP gets the same scalars back as saved values); anything else as it is."""
    if not isinstance(a, Tensor):
        return a
    data = a.data
    return data if data.shape or cls.view else data[()]


def _outputs(cls, out):
    """forward's result as a tuple of arrays (checked for NaN/inf under detect_anomaly)."""
    outs = tuple([o.data if isinstance(o, Tensor) else np.asarray(o)
                  for o in (out if type(out) is tuple else (out,))])
    if not outs:
        raise ValueError(f"{cls.name}: forward returned an empty tuple; it must return at least one array")
    if ANOMALY.get():
        _check_finite_forward(cls, outs)
    return outs


_SHARED = {}  # one object per equal metadata tuple (shapes, dtypes, flags)


def _shared(value):
    """The one stored tuple equal to `value` (every node with equal metadata keeps the same object)."""
    if len(_SHARED) > 100_000:  # shapes vary without bound in odd programs: keep the table small
        _SHARED.clear()
    return _SHARED.setdefault(value, value)


def _link(ctx, args, kwargs):
    """Make ctx a node, before its forward runs: input edges, constants, scope (needs_input_grad too).
    Returns the inputs' arrays, or None when no input requires grad (then ctx is no node).

    Fields left at their class defaults (no hooks, nothing saved, no options) are not written.
    A 0-d input reaches the forward of a primitive that is no view as a NumPy scalar (see `_operand_value`).
    """
    arrays = []
    inputs = []
    slots = None  # per input, the output of its node it is: made only when one is not output 0
    constants = None
    constant_mask = 0  # bit i: input i is a constant
    scalars = not ctx.function.view
    for a in args:  # (input i is args[i], and len(inputs) == i until it is appended: no enumerate per op)
        if isinstance(a, Tensor):
            data = a.data
            if scalars and not data.shape:
                data = data[()]
            arrays.append(data)
            node = a._node
            if node is not None:
                if a._out_idx:
                    slots = slots or [0] * len(args)
                    slots[len(inputs)] = a._out_idx
                inputs.append(node)
                continue
            if a._requires_grad:
                inputs.append(a._grad_accumulator(True))  # (recording: positional, a keyword costs more per op)
                continue
            value = a.data
            _keep_constant_tensor(ctx, len(inputs), a)
        else:
            arrays.append(a)
            value = a
        i = len(inputs)
        constants = ((i, value),) if constants is None else constants + ((i, value),)
        constant_mask |= 1 << i
        inputs.append(None)
    n = len(args)
    if constants is not None:
        if len(constants) == n:  # no input requires grad
            return None
        ctx.constants = constants  # tuples: the garbage collector soon stops tracking them
    ctx.inputs = tuple(inputs)
    key = (n, constant_mask) if constant_mask else n
    fields = None if slots is not None else _INPUT_FIELDS.get(key)
    ctx.input_slots, ctx.needs_input_grad = fields or _input_fields(n, constant_mask, slots, key)
    if kwargs:
        ctx.options = kwargs
    ctx.scope = SCOPE.get()
    ctx.out_counters = ctx.pre_hooks = None  # slots: the engine and `saved` read them for every node
    ctx.saved = ctx.saved_from = ()
    ctx.created = next_creation()  # after its inputs' nodes, even a leaf's accumulator made just now
    if ANOMALY.get():
        ctx.site = _creation_site()
    return arrays


#: (inputs, constants' bit mask), or just the number of inputs when none is a constant (the common case: no
#: tuple to build and hash per op) -> (input_slots, needs_input_grad), for nodes whose every slot is 0
_INPUT_FIELDS = {}


def _input_fields(n, constant_mask, slots, key):
    """The node fields input_slots and needs_input_grad, shared by every node with the same ones (remembered
    under `key` in _INPUT_FIELDS when every slot is 0)."""
    needs = tuple([not constant_mask >> i & 1 for i in range(n)])
    if slots is not None:
        return _shared(tuple(slots)), _shared(needs)
    fields = _INPUT_FIELDS[key] = (_shared((0,) * n), _shared(needs))
    return fields


def _keep_constant_tensor(ctx, position, tensor):
    """What the node keeps of an input tensor without a gradient: its version counter (a VJP that
    saved it checks it) and its name (pictures show it)."""
    if ctx.constant_counters is None:
        ctx.constant_counters = {}
    ctx.constant_counters[position] = tensor._version_counter()
    if tensor._name is not None:
        if ctx.constant_names is None:
            ctx.constant_names = {}
        ctx.constant_names[position] = tensor._name


def _record(ctx, out, args, arrays):
    """After the forward: keep its outputs, resolve what it saved, wrap the outputs as ctx's.
    `writes_seen` is noted now: a forward may write a tensor it then saves (a mask it builds)."""
    ctx.writes_seen = ALL_WRITES.value
    if type(out) is not tuple and not ANOMALY.get():
        if type(out) is np.ndarray:
            array = out
            key = ((out.shape, out.dtype),)
            ctx.out_meta = _SHARED.get(key) or _shared(key)
        else:  # mostly a NumPy scalar (the forward of 0-d inputs): its metadata is found by its type, and its
            meta = _SCALAR_META.get(type(out))  # own __array__ makes the 0-d array (17% less than np.asarray)
            array = np.asarray(out) if meta is None else out.__array__()
            ctx.out_meta = meta or _scalar_meta(out, array)
        ctx.output = array  # (no tuple: one object fewer for the garbage collector per node)
        result = _wrap(array, ctx, 0)
        if ctx.function.view:
            _share_version(result, args[0], ctx)
        if ctx.saved:
            _resolve_saved(ctx, arrays, out)
        return result
    outs = _outputs(ctx.function, out)
    ctx.output, ctx.more_outputs = outs[0], outs[1:]
    key = tuple([(o.shape, o.dtype) for o in outs])
    ctx.out_meta = _shared(key)
    results = [_wrap(o, ctx, i) for i, o in enumerate(outs)]
    if ctx.function.view:
        _share_version(results[0], args[0], ctx)
    if ctx.saved:
        _resolve_saved(ctx, arrays, out)
    return results[0] if type(out) is not tuple else tuple(results)


_SCALAR_META = {}  # NumPy scalar type -> the out_meta of a node whose one output is such a scalar


def _scalar_meta(out, array):
    """out_meta of a node whose forward returned `out` (not an ndarray), remembered for NumPy scalar types
    of one fixed dtype (np.float64: yes; np.str_, whose length varies: no)."""
    meta = _shared(((array.shape, array.dtype),))
    if isinstance(out, np.generic) and np.dtype(type(out)) == array.dtype:
        _SCALAR_META[type(out)] = meta
    return meta


def _share_version(out, source, node):
    """A view's output shares its source's version counter (when they share memory)."""
    if isinstance(source, Tensor) and np.may_share_memory(out.data, source.data):
        counter = source._version_counter()
        out._vc = counter
        if node is not None:
            node.out_counters = [counter] + [None] * (len(node.out_meta) - 1)


_PLAIN = ("value", None)


def _resolve_saved(ctx, arrays, out):
    """Describe what forward saved (node.saved_from: per value its kind and index). A saved Tensor is
    kept as its array, its counter made now (a write through any alias is then seen). `out`: what
    forward returned."""
    saved = ctx.saved
    n = len(saved)
    if n <= len(arrays) and n < len(_FIRST_INPUTS) and all(map(is_, saved, arrays)):  # the first inputs, in order
        ctx.saved_from = _FIRST_INPUTS[n]  # (the common case: no loop, one shared tuple)
        return
    saved_from = []
    returned = out if type(out) is tuple else (out,)
    for item in saved:
        if isinstance(item, Tensor):
            item._version_counter()
            saved_from.append(("tensor", item))
            continue
        # the first input with this array not saved yet (in x·x, x is input 0 and input 1)
        index = _input_position(item, arrays, [i for kind, i in saved_from if kind == "input"])
        if index is not None:
            saved_from.append(("input", index))
            continue
        slot = _output_position(item, returned, ctx.outputs)
        saved_from.append(_PLAIN if slot is None else ("output", slot))
    if any([kind == "tensor" for kind, _ in saved_from]):
        ctx.saved = tuple([item.data if isinstance(item, Tensor) else item for item in saved])
        ctx.saved_from = tuple(saved_from)
    else:
        key = tuple(saved_from)
        ctx.saved_from = _SHARED.get(key) or _shared(key)


_FIRST_INPUTS = tuple(tuple(("input", i) for i in range(n)) for n in range(16))


def _input_position(item, arrays, taken):
    """Which input's array `item` is (the first such input not `taken`), else None."""
    for i, array in enumerate(arrays):
        if array is item and i not in taken:
            return i
    return None


def _output_position(item, returned, outs):
    """Which output slot `item` is, or None. `returned` is what forward returned, `outs` the same
    as arrays: on 0-d inputs NumPy returns scalars, which become new array objects in `outs`."""
    for index, (raw, out) in enumerate(zip(returned, outs)):
        if item is raw or item is out:
            return index
    return None


_PACKAGES = tuple(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), name, "")
                  for name in ("autograd", "nn"))


def _creation_site():
    """The user's line that created a node (the innermost frame outside chainrule's packages)."""
    for frame in reversed(traceback.extract_stack()[:-2]):
        if not frame.filename.startswith(_PACKAGES):
            return f"{frame.filename}:{frame.lineno} in {frame.name}: {frame.line}"
    return None


def _check_finite_forward(cls, outs):
    for o in outs:
        if o.dtype.kind == "f" and not np.all(np.isfinite(o)):
            raise FloatingPointError(
                f"detect_anomaly: forward of '{cls.name}' produced NaN/inf "
                f"(output shape {o.shape}) at {_creation_site()}"
            )


_wrap = Tensor._wrap
_new = object.__new__
