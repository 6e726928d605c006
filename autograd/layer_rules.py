"""Layer rules: a composite's gradient stated the way lectures state it, and checked against the chain rule.

A composite (conv2d, linear, cross_entropy, …) has no backward code: its gradient is the chain rule
through its primitives. A *layer rule* states the same gradient in one line per input, as a lecture
does (linear: ∂L/∂W = ḡᵀ·X), together with a NumPy function that computes it from the composite's
inputs, its output and the upstream gradient ḡ = ∂L/∂Y. Written beside the composite:

    @layer_rule(LINEAR)
    @scoped("linear")
    def linear(x, w, b=None): ...

each call that records a graph leaves a `LayerCall` on its output node (its arguments: graph positions
of the tensors that need a gradient, arrays of the others, and the options). `explain(..., level="layer")`
and collapsed pictures then treat the call as one step with its rule, and `verify` compares the rule's
numbers with the gradient the engine computed primitive by primitive: a rule is checked, never trusted.
"""
import functools
import inspect
import weakref
from typing import NamedTuple

import numpy as np

from .graph import AccumulateGrad, Edge, position
from .grad_mode import state
from .tensor import Tensor

__all__ = ["LayerRule", "LayerCall", "layer_rule", "layer_calls", "verify"]


class LayerRule(NamedTuple):
    """A composite's gradient in lecture form.

    name       the composite's scope name (`conv2d`)
    symbols    {parameter of the composite: its symbol in the formulas} (`{"x": "X", "w": "W"}`)
    forward    (text, tex) of Y = f(…)
    vjps       {parameter: (text, tex, gloss)}: ∂L/∂(symbol) in terms of the symbols, Y and ḡ = ∂L/∂Y, and a
               few words on how to read it
    gradients  gradients(args, y, g) -> {parameter: array}: the rule in NumPy, from the call's bound
               arguments (tensors as float64 arrays, None where not given), its output and ḡ
    applies    applies(args) -> None, or why the rule does not cover this call (an option it leaves out)
    options    the keyword options worth printing beside the step (`stride`, `padding`)
    """

    name: str
    symbols: dict
    forward: tuple
    vjps: dict
    gradients: object
    applies: object = None
    options: tuple = ()


class LayerCall:
    """One call of a composite with a rule: what it was given and which nodes it recorded."""

    def __init__(self, rule, signature, args, kwargs, node, scope):
        self.rule = rule
        self._node = weakref.ref(node)  # the node holds the call: a strong reference back would make a cycle
        self.scope = scope  # the scope the call ran in, its own name last
        self._call = (signature, args, kwargs)

    @property
    def node(self):
        """The node that made the composite's output."""
        return self._node()

    @functools.cached_property
    def args(self):
        """{parameter: Edge (a tensor that takes a gradient), array, number or option}, defaults filled in."""
        signature, args, kwargs = self._call
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        return dict(bound.arguments)

    @property
    def output(self):
        return Edge(self.node, 0)

    def inputs(self):
        """{parameter: graph position} of the tensor arguments that take a gradient."""
        return {p: v for p, v in self.args.items() if isinstance(v, Edge) and p in self.rule.symbols}

    def nodes(self):
        """The nodes this call recorded: from its output down to its inputs, inside its scope."""
        stops = set(self.inputs().values())
        found, stack = {self.node}, [self.node]
        depth = len(self.scope)
        while stack:
            node = stack.pop()
            for child, slot in zip(node.inputs, node.input_slots):
                if (child is None or child in found or isinstance(child, AccumulateGrad)
                        or Edge(child, slot) in stops or child.scope[:depth] != self.scope):
                    continue
                found.add(child)
                stack.append(child)
        return found


def _recorded(arg):
    """What a call keeps of one argument: a tensor's graph position, or the array of one without gradient."""
    if isinstance(arg, Tensor):
        return position(arg) if arg._requires_grad else arg.data
    return arg


def layer_rule(rule):
    """Decorator for a composite (outside its `scoped`): record each graph-building call with its rule.

    The rule's Y is the composite's output, or the first of the tensors it returns (a pooling's values,
    not their indices). Costs one attribute write per call when a graph is recorded; nothing under no_grad.
    """
    def decorate(fn):
        signature = inspect.signature(fn)

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            outer = state.scope
            out = fn(*args, **kwargs)
            y = out[0] if isinstance(out, tuple) else out
            node = y._node if isinstance(y, Tensor) else None
            depth = len(outer)
            if node is not None and node.scope[:depth + 1] == outer + (rule.name,):  # made by this call
                node.layer = LayerCall(rule, signature, [_recorded(a) for a in args],
                                       {k: _recorded(v) for k, v in kwargs.items()}, node, outer + (rule.name,))
            return out

        wrapper.layer_rule = rule
        return wrapper

    return decorate


def layer_calls(graph):
    """The outermost layer calls of `graph` (a call inside another's nodes is part of that one), each with
    its node set, in the order backward reaches their outputs."""
    calls = [node.layer for node in graph.nodes if getattr(node, "layer", None) is not None]
    members = [(call, call.nodes()) for call in calls]
    return [(call, nodes) for call, nodes in members
            if not any(call.node in others for other, others in members if other is not call)]


#: Largest relative difference between a rule and the engine that counts as agreement: float32 rounding
#: stays far below it, a wrong rule or gradient far above.
AGREEMENT = 1e-3


class Check(NamedTuple):
    """A rule's gradient for one input next to the engine's: `rule`, `engine` (arrays) and `error`
    (max |rule − engine| / max(|engine|, tiny)), or `why` it could not be compared."""

    rule: object = None
    engine: object = None
    error: float = None
    why: str = None

    @property
    def agrees(self):
        """Compared, and within AGREEMENT (a NaN error never agrees)."""
        return self.error is not None and self.error <= AGREEMENT


def verify(call, nodes, capture):
    """{parameter: Check} for one layer call, from the captured forward values and backward gradients."""
    rule = call.rule
    reason = rule.applies(call.args) if rule.applies is not None else None
    inputs = call.inputs()
    if reason is not None:
        return {p: Check(why=reason) for p in inputs}
    y, g = capture.value(call.output), capture.grad(call.output)
    args = {}
    for p, v in call.args.items():
        value = capture.value(v) if isinstance(v, Edge) else v
        args[p] = np.asarray(value, np.float64) if isinstance(value, np.ndarray) else value
    if y is None or g is None or any(isinstance(v, Edge) and args[p] is None for p, v in call.args.items()):
        why = "values freed by backward()" if capture.freed else "an input tensor no longer exists"
        return {p: Check(why=why) for p in inputs}
    computed = rule.gradients(args, np.asarray(y, np.float64), np.asarray(g, np.float64))
    checks = {}
    for p, key in inputs.items():
        engine = capture.contribution(key, nodes)
        if engine is None:
            checks[p] = Check(why="no gradient reached it")
            continue
        engine = np.asarray(engine, np.float64)
        error = float(np.max(np.abs(computed[p] - engine), initial=0.0)) / max(float(np.max(np.abs(engine),
                                                                                           initial=0.0)), 1e-30)
        checks[p] = Check(computed[p], engine, error)
    return checks
