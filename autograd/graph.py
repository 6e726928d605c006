"""The backward graph, declared: nodes, edges, version counters, and the one backward order.

A **node** is what one recorded operation leaves behind for backward. Its fields:

    function      the Function subclass that ran (its forward) and whose VJP backward runs
    created       when it was made: a number that grows with every node made, in any thread
    inputs        per forward input: the node its gradient goes to (None: that input needs none)
    input_slots   per forward input: which output of that node it was
    needs_input_grad  per forward input: whether a gradient goes to it (its `inputs` entry is a node)
    out_meta      per output: (shape, dtype); `in_meta` reads an input's from its node (or the constant)
    output        the array the forward computed (its first one: `outputs` gives them all; a node with
                  several keeps the others in `more_outputs`), kept until backward frees the graph
    saved         the values the VJP asked to keep, as the forward passed them (arrays)
    saved_from    per saved value: (kind, index), kind 'input' (input `index`), 'output' (output
                  `index`), 'tensor' (the array of a Tensor that is neither; index: that Tensor) or 'value'
    writes_seen   how many in-place writes the process had seen when the node was recorded (after its
                  forward ran: a forward may write a value it then saves)
    constants     (position, value) of the inputs without a gradient; options, the keyword options
    output_names  {output index: name} of named outputs; constant_names, {input position: name}
    constant_counters  {input position: version counter} of the tensor inputs without a gradient
    scope         the scope stack it was created in; site, the user's line (under detect_anomaly)
    pre_hooks     [(output index, hook)] run on an output's total gradient before the VJP

An **edge** is always `Edge(node, index)`: the gradient for one input of a node goes to
output `index` of `node`. A leaf that requires grad is no exception: its gradient goes to
its `AccumulateGrad` node, which adds it to `.grad`. `position(tensor)` names the place of
any tensor in the graph the same way, and every tool (engine, `grad`, viz, explain) uses it.

A **version counter** counts in-place writes to a block of memory. Views share it with
their base (reshape, transpose, slices, expand, detach), so a write through any alias of a
value saved for backward is caught when the VJP unpacks it. Every write also counts on
`ALL_WRITES`, and a counter remembers that count at its last write (`last_write`): a value a
node saved was written since exactly when its counter's `last_write` is above the node's
`writes_seen`. A node whose `writes_seen` still equals `ALL_WRITES` has seen no write at all,
so its VJP gets its values without a check per value.
"""
import threading
from itertools import count
from operator import attrgetter
from typing import NamedTuple

import numpy as np

from .grad_mode import GRAD_ENABLED, VJP_ON_ARRAYS


class Edge(NamedTuple):
    """Where a gradient goes: output `index` of `node`."""

    node: object
    index: int


class VersionCounter:
    """How many in-place writes one block of memory has seen (`value`); shared by all its views.
    `last_write`: how many writes the whole process had seen after its last one (0: none yet)."""

    __slots__ = ("value", "last_write")

    def __init__(self):
        self.value = self.last_write = 0


#: The `created` number of the next node.
next_creation = count().__next__

#: In-place writes to any tensor so far, in any thread (the sum of every counter's increments).
ALL_WRITES = VersionCounter()


_WRITES_LOCK = threading.Lock()


def count_write(counter):
    """Count one in-place write on `counter` (and on ALL_WRITES). Under a lock: a lost update from two
    threads writing at once could leave ALL_WRITES below a counter's `last_write`, and a node recorded
    then would take its unchanged saved value for a modified one."""
    with _WRITES_LOCK:
        ALL_WRITES.value += 1
        counter.value += 1
        counter.last_write = ALL_WRITES.value


class Node:
    """A recorded operation in the backward graph (see the module docstring for its fields).

    Every node is of this one class, whatever its operation (`function`, the Function subclass
    whose forward ran and whose VJP backward runs): code that touches every node (recording, the
    engine) then reads and writes the fields at the speed of one known layout (Python's attribute
    caches are per class: on nodes of many classes they miss, measured 5× slower per access).
    """

    __slots__ = ("function", "created", "inputs", "input_slots", "out_meta", "output",
                 "needs_input_grad", "scope", "saved", "saved_from", "writes_seen", "out_counters",
                 "pre_hooks", "__dict__", "__weakref__")
    # fields most nodes leave at these defaults (written only when they differ, so most nodes need no __dict__)
    constants = more_outputs = ()
    options = {}
    site = output_names = constant_names = constant_counters = None

    @property
    def name(self):
        """The operation's name (`mul`, `conv2d`, a user Function's class name in lower case)."""
        return self.function.name

    @property
    def formula(self):
        """The operation's math (`function.Formula`), None for a user Function."""
        return self.function.formula

    @property
    def n_outputs(self):
        return len(self.out_meta)

    @property
    def in_meta(self):
        """Per forward input: (shape, dtype), None for a plain number (an input with a gradient: the
        output of its node; a constant tensor: its array)."""
        constants, tensors = dict(self.constants), self.constant_counters or {}
        return tuple([node.out_meta[slot] if node is not None
                      else (np.shape(constants[index]), constants[index].dtype) if index in tensors else None
                      for index, (node, slot) in enumerate(zip(self.inputs, self.input_slots))])

    @property
    def edges(self):
        """For each input: its Edge, or None when it needs no gradient."""
        return tuple([None if node is None else Edge(node, slot)
                      for node, slot in zip(self.inputs, self.input_slots)])

    next_functions = next = edges  # PyTorch's name, and the short one

    def output_counter(self, index):
        """The version counter of output `index` (made when first asked for)."""
        counters = self.out_counters
        if counters is None:
            counters = self.out_counters = [None] * len(self.out_meta)
        if counters[index] is None:
            counters[index] = VersionCounter()
        return counters[index]

    def name_output(self, index, name):
        """Remember the name given to output `index` (pictures and derivations use it)."""
        if self.output_names is None:
            self.output_names = {}
        self.output_names[index] = name

    def register_prehook(self, index, fn):
        """Call fn(grad) on the total gradient of output `index` before this node's VJP."""
        if self.pre_hooks is None:
            self.pre_hooks = []
        self.pre_hooks.append((index, fn))

    @property
    def outputs(self):
        """The output arrays the forward computed (None once backward freed them)."""
        return None if self.saved is None else (self.output, *self.more_outputs)

    @property
    def released(self):
        """True once backward freed the forward values and what was saved (`release`)."""
        return self.saved is None

    def release(self):
        """Free the forward values and what was saved for the VJP; a later backward raises."""
        self.saved = self.output = None
        self.saved_from = ()  # (a saved Tensor that is no input is named there)
        if len(self.out_meta) > 1:  # (only there: a one-output node then needs no __dict__)
            self.more_outputs = ()

    # -- the context API: what forward and backward call on their `ctx` (this node) -----
    def save_for_backward(self, *values):
        """Keep inputs, outputs or other arrays for the VJP; read them back with `saved_tensors`."""
        self.saved = values

    @property
    def saved_tensors(self):
        """The saved values: arrays while the VJP runs on arrays, else Tensors (a saved input is that
        input's graph position, so VJPs stay differentiable; a saved output is this node's output).

        Raises when a saved tensor was written in place since (through any view or alias). No write
        at all since the node saved them (`ALL_WRITES` unchanged) is the common case: no check per value.
        """
        if self.saved is None:  # released
            raise RuntimeError(
                f"{self!r}: trying to backward through the graph a second time; its saved values "
                "were freed after the first backward. Pass retain_graph=True to the first backward "
                "if you need to run it again."
            )
        on_arrays = VJP_ON_ARRAYS.get()
        if on_arrays and self.writes_seen == ALL_WRITES.value:
            return self.saved
        return tuple([self._unpack(item, kind, index, on_arrays)
                      for item, (kind, index) in zip(self.saved, self.saved_from)])

    def _unpack(self, item, kind, index, on_arrays):
        """One saved value, checked unwritten since: the array, or the Tensor the VJP reads."""
        if kind == "value":
            return item if on_arrays else _wrap(item)
        counter = index._vc if kind == "tensor" else self._saved_counter(kind, index)
        if counter is not None and counter.last_write > self.writes_seen:
            self._modified(np.shape(item), counter.value)
        if on_arrays:
            return item
        if kind == "tensor":
            return index
        if kind == "output":
            out = _wrap(self.outputs[index], self, index)
        else:
            out = self._input_tensor(item, index)
        if counter is not None:
            out._vc = counter
        return out

    def _saved_counter(self, kind, index):
        """The version counter of input or output `index` (None: none made yet, so never written)."""
        if kind == "output":
            counters = self.out_counters
            return None if counters is None else counters[index]
        source = self.inputs[index]
        if source is None:  # a tensor without a gradient (a number has no counter)
            counters = self.constant_counters
            return None if counters is None else counters.get(index)
        if isinstance(source, AccumulateGrad):
            return source.variable._vc
        counters = source.out_counters
        return None if counters is None else counters[self.input_slots[index]]

    def _input_tensor(self, array, index):
        """Input `index` as a Tensor at its place in the graph (a leaf: the leaf itself)."""
        source = self.inputs[index]
        if isinstance(source, AccumulateGrad):
            return source.variable
        return _wrap(array, source, self.input_slots[index])

    def _modified(self, shape, now):
        raise RuntimeError(
            f"{self!r}: a tensor of shape {shape} saved for backward was modified in place after it was "
            f"saved (it is now at version {now}), through it or a view or .detach() of it. "
            "Use an out-of-place operation (y = y + 1), or clone it before writing."
        )

    def saved_items(self):
        """What this node keeps for its VJP: (kind, position, shape) with kind 'input' (position =
        the input's index, None for a Tensor that was no input), 'output' (the output's index) or
        'value' (anything else)."""
        in_meta = self.in_meta
        for item, (kind, index) in zip(self.saved or (), self.saved_from):
            if kind == "tensor":
                kind, index = "input", None
            elif kind == "input" and in_meta[index] is None:  # a number
                kind, index = "value", None
            yield kind, index, np.shape(item)

    def saved_symbols(self):
        """(symbol, kind, shape) per saved value: the formula's symbol of a saved input (`a`), `y` for a
        saved output, None for an input the formula does not name or another array."""
        symbols = self.formula.inputs if self.formula is not None else ()
        for kind, position, shape in self.saved_items():
            if kind == "output":
                yield "y", kind, shape
            elif kind == "input" and position is not None and position < len(symbols):
                yield symbols[position], kind, shape
            else:
                yield None, kind, shape

    @property
    def saved_nbytes(self):
        """Bytes of arrays this node keeps alive for its VJP."""
        return sum([np.asarray(item).nbytes for item in self.saved or ()])

    @property
    def trace(self):
        """The user's line that created this node (recorded under detect_anomaly), else None."""
        return self.site

    @property
    def title(self):
        """The node's name in pictures, derivations and errors: `MulBackward`, as PyTorch names its nodes."""
        return f"{self.function.__name__}Backward"

    def __repr__(self):
        return f"<{self.title}>"


def _wrap(array, node=None, index=0):
    """Tensor._wrap (tensor.py imports this module: Tensor is imported when first needed)."""
    from .tensor import Tensor

    return Tensor._wrap(array, node, index)


class AccumulateGrad(Node):
    """The node a leaf's gradient goes to: its 'VJP' adds the gradient to `leaf.grad`.

    As in PyTorch, the accumulator holds its leaf and the leaf holds its accumulator weakly: a
    graph keeps every leaf it reaches alive (a VJP may read a saved leaf's value), no reference
    cycle forms, and a leaf outside any graph has no accumulator. Tensor hooks on the leaf live
    on the leaf (they outlast every graph) and are this node's pre-hooks.
    """

    name = "accumulate_grad"
    formula = None
    vjp_on_arrays = True
    outputs = ()  # a leaf's value is its `.data`

    def __init__(self, leaf):
        self.function = AccumulateGrad
        self.created = next_creation()
        self.variable = leaf  #: the leaf tensor
        self.made_for = leaf.data  #: the leaf's array it was last checked against (out_meta describes it)
        self.inputs = self.input_slots = self.needs_input_grad = ()
        self.out_meta = ((leaf.data.shape, leaf.data.dtype),)
        self.saved = self.saved_from = self.scope = ()  # (saved None would mean released)
        self.out_counters = None

    @property
    def pre_hooks(self):
        """The leaf's tensor hooks, [(0, fn)] (None: none)."""
        return self.variable._hooks

    def register_prehook(self, index, fn):
        """Keep the hook on the leaf: a later graph's accumulator runs it too."""
        leaf = self.variable
        leaf._hooks = (leaf._hooks or []) + [(index, fn)]

    @staticmethod
    def backward(node, g):
        """Add g (an array, or a Tensor under create_graph) to the leaf's `.grad`: an own, C-contiguous
        array unless it carries a graph."""
        from .tensor import Tensor  # (tensor.py imports this module; `.grad` is a plain Tensor, also for a Parameter)

        leaf = node.variable
        if not isinstance(g, Tensor):
            leaf.grad = Tensor._wrap(_own(g, leaf) if leaf.grad is None else np.asarray(leaf.grad.data + g))
        elif leaf.grad is not None:
            leaf.grad = leaf.grad + g
        elif g._node is not None and GRAD_ENABLED.get():  # create_graph: the gradient keeps its graph
            leaf.grad = g
        else:
            leaf.grad = Tensor._wrap(_own(g.data, leaf))
        return ()

    def release(self):
        pass  # nothing saved; the same accumulator serves every graph the leaf takes part in

    def __repr__(self):
        return "<AccumulateGrad>"


def _own(g, leaf):
    """g as a new C-contiguous array in the leaf's dtype: VJPs may return views, or one g for two
    inputs, so `.grad` gets its own copy and later in-place updates are safe."""
    return np.array(g, dtype=leaf.data.dtype, order="C")


def position(tensor):
    """The graph position of a tensor that requires grad: `Edge(node, output index)`."""
    if tensor._node is not None:
        return Edge(tensor._node, tensor._out_idx)
    return Edge(tensor._grad_accumulator(), 0)


def backward_order(roots):
    """Every node reachable from `roots`, each after all nodes that send it a gradient.

    A node is always made after the nodes of its inputs (they had to exist first), so the
    reverse of creation order (`Node.created`) is such an order: the backward pass runs the
    forward's operations newest first, as PyTorch's engine does by sequence number. One
    iterative walk finds the reachable nodes (100,000-deep chains are fine), one sort orders them.
    """
    found = dict.fromkeys(roots)  # insertion-ordered: the walk meets most nodes newest first, which the sort likes
    stack = list(found)
    while stack:
        for child in stack.pop().inputs:
            if child is not None and child not in found:
                found[child] = None
                stack.append(child)
    return sorted(found, key=_CREATED_AT, reverse=True)


_CREATED_AT = attrgetter("created")
