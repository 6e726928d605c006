"""The backward graph, declared: nodes, edges, version counters, and the one backward order.

A **node** is what one recorded operation leaves behind for backward. Its fields:

    function      the Function subclass that ran (its forward) and whose VJP backward runs
    inputs        per forward input: the node its gradient goes to (None: that input needs none)
    input_slots   per forward input: which output of that node it was
    in_meta       per forward input: (shape, dtype), None for a plain number
    in_versions   per forward input: its version when recorded (None for a number)
    out_meta      per output: (shape, dtype)
    outputs       the output arrays the forward computed (kept until backward frees the graph)
    saved         the values the VJP asked to keep, as the forward passed them (arrays)
    saved_from    per saved value: (kind, index, version when saved), kind 'input' (input `index`; its
                  version is in in_versions), 'output' (output `index`), 'tensor' (a Tensor that is
                  neither) or 'value' (no version)
    writes_seen   how many in-place writes the process had seen when the values were saved
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
`ALL_WRITES`: a node whose `writes_seen` still equals it has seen no write since it saved its
values, so its VJP gets them without a check per value.
"""
from typing import NamedTuple

import numpy as np

from .grad_mode import GRAD_ENABLED, VJP_ON_ARRAYS


class Edge(NamedTuple):
    """Where a gradient goes: output `index` of `node`."""

    node: object
    index: int


class VersionCounter:
    """How many in-place writes one block of memory has seen; shared by all its views."""

    __slots__ = ("value",)

    def __init__(self, value=0):
        self.value = value


#: In-place writes to any tensor so far, in any thread (the sum of every counter's increments).
ALL_WRITES = VersionCounter()


def count_write(counter):
    """Count one in-place write on `counter` (and on ALL_WRITES)."""
    counter.value += 1
    ALL_WRITES.value += 1


class Node:
    """A recorded operation in the backward graph (see the module docstring for its fields).

    Every node is of this one class, whatever its operation (`function`, the Function subclass
    whose forward ran and whose VJP backward runs): code that touches every node (recording, the
    engine) then reads and writes the fields at the speed of one known layout (Python's attribute
    caches are per class: on nodes of many classes they miss, measured 5× slower per access).
    """

    __slots__ = ("function", "inputs", "input_slots", "in_meta", "in_versions", "out_meta", "outputs",
                 "needs_input_grad", "scope", "saved", "saved_from", "writes_seen", "released", "out_counters",
                 "pre_hooks", "__dict__", "__weakref__")
    # fields most nodes leave at these defaults (written only when they differ, so most nodes need no __dict__)
    constants = ()
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

    def release(self):
        """Free the forward values and what was saved for the VJP; a later backward raises."""
        self.saved = self.outputs = None
        self.released = True

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
        if self.released:
            raise RuntimeError(
                f"{self!r}: trying to backward through the graph a second time; its saved values "
                "were freed after the first backward. Pass retain_graph=True to the first backward "
                "if you need to run it again."
            )
        on_arrays = VJP_ON_ARRAYS.get()
        if on_arrays and self.writes_seen == ALL_WRITES.value:
            return self.saved
        return tuple([self._unpack(item, kind, index, version, on_arrays)
                      for item, (kind, index, version) in zip(self.saved, self.saved_from)])

    def _unpack(self, item, kind, index, version, on_arrays):
        """One saved value, its version checked: the array, or the Tensor the VJP reads."""
        if kind == "value":
            return item if on_arrays else _wrap(item)
        if kind == "tensor":
            if item._version != version:
                self._modified(item.shape, version, item._version)
            return item.data if on_arrays else item
        if kind == "input":
            version = self.in_versions[index]
        counter = self._saved_counter(kind, index)
        if counter is not None and counter.value != version:
            self._modified(np.shape(item), version, counter.value)
        if on_arrays:
            return item
        if kind == "output":
            out = _wrap(self.outputs[index], self, index)
        else:
            out = self._input_tensor(item, index)
        if counter is not None:
            out._vc = counter
        return out

    def _saved_counter(self, kind, index):
        """The version counter of input or output `index` (None: none made yet, so still version 0)."""
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

    def _modified(self, shape, then, now):
        raise RuntimeError(
            f"{self!r}: a tensor of shape {shape} saved for backward was modified in place "
            f"(version {then} when saved, now {now}), through it or a view or .detach() of it. "
            "Use an out-of-place operation (y = y + 1), or clone it before writing."
        )

    def saved_items(self):
        """What this node keeps for its VJP: (kind, position, shape) with kind 'input' (position =
        the input's index, None for a Tensor that was no input), 'output' (the output's index) or
        'value' (anything else)."""
        for item, (kind, index, _) in zip(self.saved or (), self.saved_from):
            if kind == "tensor":
                kind = "input"
            elif kind == "input" and self.in_meta[index] is None:  # a number
                kind, index = "value", None
            yield kind, index, np.shape(_array(item, kind))

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
        return sum([np.asarray(_array(item, kind)).nbytes
                    for item, (kind, _, _) in zip(self.saved or (), self.saved_from)])

    @property
    def trace(self):
        """The user's line that created this node (recorded under detect_anomaly), else None."""
        return self.site

    def __repr__(self):
        return f"<{self.function.__name__}Backward>"


def _wrap(array, node=None, index=0):
    """Tensor._wrap (tensor.py imports this module: Tensor is imported when first needed)."""
    from .tensor import Tensor

    return Tensor._wrap(array, node, index)


def _array(item, kind):
    """The array of a saved value of `kind` (a saved Tensor's data)."""
    return item.data if kind == "tensor" else item


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

    def __init__(self, leaf):
        self.function = AccumulateGrad
        self.variable = leaf  #: the leaf tensor
        self.inputs = self.input_slots = self.in_meta = self.in_versions = ()
        self.needs_input_grad = ()
        self.out_meta = ((leaf.data.shape, leaf.data.dtype),)
        self.outputs = self.saved = None
        self.saved_from = self.scope = ()
        self.released = False
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

    Kahn's algorithm, computed once: count each node's consumers, then emit a node when its
    last consumer has been emitted. Iterative, so 100,000-deep chains are fine.
    """
    roots = list(dict.fromkeys(roots))
    consumers = dict.fromkeys(roots, 0)  # every node seen so far (no separate `seen` set: scalar MLP −1.3%
    stack = list(roots)                  # instructions): how many nodes send it a gradient
    while stack:
        node = stack.pop()
        for child in node.inputs:
            if child is not None:
                if child in consumers:
                    consumers[child] += 1
                else:
                    consumers[child] = 1
                    stack.append(child)
    order = []
    ready = [node for node in roots if consumers[node] == 0]
    while ready:
        node = ready.pop()
        order.append(node)
        for child in node.inputs:
            if child is not None:
                left = consumers[child] - 1
                consumers[child] = left
                if left == 0:
                    ready.append(child)
    return order
