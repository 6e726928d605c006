"""Numerically unstable compositions found on a backward graph, each with the stable op to use.

- `log(softmax(x))`: a log of a division whose denominator sums exps. The softmax can round to
  0 and its log to −inf; `log_softmax` computes x − max − log Σ exp(x − max) instead.
- `log(sigmoid(x))` and `log(1 − sigmoid(x))`: −inf once σ rounds to 0 or 1; use −softplus(−x),
  or `binary_cross_entropy_with_logits` on the logits.
- `exp` of large inputs: within 8 of overflow (≈ 80 in float32, ≈ 700 in float64); subtract
  the max first, as softmax and log_softmax do.
"""
import numpy as np

from .graph import AccumulateGrad

#: Ops that only move or reshape values: looked through when matching a pattern.
_SHAPE_ONLY = {"broadcast_to", "expand", "reshape", "unsqueeze", "squeeze", "cast", "flatten"}


def _producer(node, index):
    """The node whose output feeds input `index`, looking through shape-only ops (None for leaves)."""
    child = node.inputs[index]
    while child is not None and not isinstance(child, AccumulateGrad):
        if child.name not in _SHAPE_ONLY:
            return child
        child = child.inputs[0]
    return None


def _name(node):
    return node.name if node is not None else None


def _where(node):
    return f" (in {' › '.join(node.scope)})" if node.scope else ""


def stability_hints(graph, replay=None):
    """[(node, message)] for the unstable patterns in `graph`; `replay` supplies values for exp."""
    hints = []
    for node in graph.nodes:
        if node.name == "log":
            inner = _producer(node, 0)
            if _name(inner) == "sigmoid" or (_name(inner) == "sub" and _name(_producer(inner, 1)) == "sigmoid"):
                hints.append((node, "log(sigmoid(x)) is −inf once σ(x) rounds to 0 or 1" + _where(node)
                              + ": use −softplus(−x), or binary_cross_entropy_with_logits on the logits"))
            elif _name(inner) == "div" and len(inner.inputs) == 2:
                denominator = _producer(inner, 1)
                if _name(denominator) == "sum" and _name(_producer(denominator, 0)) == "exp":
                    hints.append((node, "log(softmax(x)): the softmax can round to 0 and its log to −inf"
                                  + _where(node) + ": use log_softmax(x) (x − max − log Σ exp(x − max))"))
        elif node.name == "exp" and replay is not None:
            target = node.edges[0]
            x = None if target is None else replay.value(target)
            if x is None or x.size == 0:
                continue
            limit = float(np.log(np.finfo(x.dtype).max)) - 8
            top = float(np.max(x))
            if top > limit:
                hints.append((node, f"exp of values up to {top:.4g} is near overflow in {x.dtype} (e^x is inf "
                              f"beyond {limit + 8:.1f}){_where(node)}: subtract the max first, as softmax "
                              "and log_softmax do"))
    return hints
