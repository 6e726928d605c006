"""The backward graph, declared: nodes, edges, version counters, and the one backward order.

A **node** is what one recorded operation leaves behind for backward. Its fields:

    inputs        per forward input: the node its gradient goes to (None: that input needs none)
    input_slots   per forward input: which output of that node it was
    in_meta       per forward input: (shape, dtype), None for a plain number
    in_versions   per forward input: its version when recorded (None for a non-leaf or a number)
    out_meta      per output: (shape, dtype)
    outputs       the output arrays the forward computed (kept until backward frees the graph)
    saved         the values the VJP asked to keep, as the forward passed them (arrays)
    saved_from    per saved value: (kind, index, version when saved), kind 'input' (input `index`),
                  'output' (output `index`), 'tensor' (a Tensor that is neither) or 'value' (no version)
    writes_seen   how many in-place writes the process had seen when the values were saved
    constants     (position, value) of the inputs without a gradient; options, the keyword options
    output_names  {output index: name} of named outputs; constant_names, {input position: name}
    constant_counters  {input position: version counter} of the saved inputs without a gradient
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

from .grad_mode import GRAD_ENABLED


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
    """A recorded operation in the backward graph (see the module docstring for its fields)."""

    __slots__ = ("inputs", "input_slots", "in_meta", "in_versions", "out_meta", "outputs", "needs_input_grad",
                 "scope", "saved", "saved_from", "writes_seen", "released", "out_counters", "pre_hooks",
                 "__dict__", "__weakref__")
    name = None
    # fields most nodes leave at these defaults (written only when they differ, so most nodes need no __dict__)
    constants = ()
    options = {}
    site = output_names = constant_names = constant_counters = None
    #: True when backward(node, *grads) is written for raw NumPy arrays as well as Tensors (every primitive
    #: of the table is): a backward without create_graph then runs it on arrays, with no Tensor per step.
    vjp_on_arrays = False

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

    def __repr__(self):
        return f"<{type(self).__name__}Backward>"


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
        self.variable = leaf  #: the leaf tensor
        self.counter = leaf._version_counter()
        self.inputs = self.input_slots = self.in_meta = self.in_versions = ()
        self.needs_input_grad = ()
        self.out_meta = ((leaf.data.shape, leaf.data.dtype),)
        self.outputs = self.saved = None
        self.saved_from = self.scope = ()
        self.released = False
        self.out_counters = None

    @property
    def pre_hooks(self):
        return self.variable._hooks

    def register_prehook(self, index, fn):
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
