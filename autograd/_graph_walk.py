"""One read-only view of a backward graph for `viz` and `explain`, in the engine's own order.

`Graph(root)` lists the nodes in the order backward runs them (`graph.backward_order`, the
engine's single Kahn order; the leaves' AccumulateGrad nodes are left out of `nodes`), the
leaves, and every input edge in the direction gradients flow: from a node to the graph
position (`graph.Edge`) of one of its inputs. It reads only what a node keeps after
backward (`inputs`, `input_slots`, `in_meta`, `out_meta`, `scope`, `name`), so the structure
of a graph can be walked even after `loss.backward()` freed its values.
"""
import math
import re

from .engine import BACKWARD_SCOPE
from .graph import AccumulateGrad, Edge, backward_order, position
from .tensor import Tensor

_MODULE_SCOPE = re.compile(r"^(?:.* \(\w+\)|[A-Z]\w*)$")


def is_module_scope(element):
    """`features.0 (Conv2d)` or a root module's `LeNet5`; composites are lower-case (`conv2d`)."""
    return bool(_MODULE_SCOPE.match(element))


def in_gradient_part(node):
    """True for nodes recorded while a `create_graph=True` backward ran."""
    return any(element.startswith(BACKWARD_SCOPE) for element in node.scope)


class Flow:
    """Gradient flow from input `index` of `node` to the graph position `key` (an `Edge`)."""

    __slots__ = ("node", "index", "key")

    def __init__(self, node, index, key):
        self.node = node
        self.index = index
        self.key = key

    @property
    def child(self):
        """The node that made the input; None when the input is a leaf."""
        return None if isinstance(self.key.node, AccumulateGrad) else self.key.node

    @property
    def leaf(self):
        """The leaf tensor this flow reaches, else None."""
        return self.key.node.variable if isinstance(self.key.node, AccumulateGrad) else None


key_of = position  # the one key function: a tensor's graph position


class Graph:
    """Nodes in backward order, leaves, flows, and which parts lead to which."""

    def __init__(self, root):
        if not isinstance(root, Tensor):
            raise TypeError(f"expected a Tensor, got {type(root).__name__}")
        if not root.requires_grad:
            raise ValueError(
                f"the tensor of shape {root.shape} has no backward graph: it does not require grad "
                "(build it from tensors created with requires_grad=True, outside no_grad)"
            )
        self.root = root
        self.root_key = position(root)
        order = backward_order([self.root_key.node])
        self.nodes = [node for node in order if not isinstance(node, AccumulateGrad)]
        self.leaves = [node.variable for node in order
                       if isinstance(node, AccumulateGrad) and node.variable is not None]
        self.step = {node: i + 1 for i, node in enumerate(self.nodes)}
        self.edges = []
        self.out_edges = {}  # node -> its flows, in input order
        self.consumers = {}  # graph position -> flows pointing at it
        for node in self.nodes:
            mine = self.out_edges[node] = []
            for index, (child, slot) in enumerate(zip(node.inputs, node.input_slots)):
                if child is None or (isinstance(child, AccumulateGrad) and child.variable is None):
                    continue
                flow = Flow(node, index, Edge(child, slot))
                mine.append(flow)
                self.edges.append(flow)
                self.consumers.setdefault(flow.key, []).append(flow)

    def reaching(self, key):
        """Nodes from which gradient flows into `key` (a graph position): every path's nodes."""
        reach = set()
        for node in reversed(self.nodes):  # inputs before consumers
            if any(self.on_path(flow, key, reach) for flow in self.out_edges[node]):
                reach.add(node)
        return reach

    def on_path(self, flow, key, reach):
        """True when `flow` lies on a path into `key`, given `reach = reaching(key)`."""
        return flow.key == key or (flow.child is not None and flow.child in reach)


# -- labels shared by viz and explain ----------------------------------------------------
def leaf_names(graph, params=None):
    """leaf position -> name: the parameter name from `params` (a Module or a {name: tensor} dict),
    else the tensor's `name`, else t1, t2, … in the order backward reaches them."""
    given = {}
    if params is not None:
        items = params.named_parameters() if hasattr(params, "named_parameters") else params.items()
        given = {id(tensor): name for name, tensor in items}
    names = {}
    unnamed = 0
    for leaf in graph.leaves:
        name = given.get(id(leaf)) or leaf.name
        if not name:
            unnamed += 1
            name = f"t{unnamed}"
        names[position(leaf)] = name
    return names


def number(value, minus="−"):
    """2.000, −3.000, 1.234e−05: three decimals in a readable range, else scientific."""
    value = float(value)
    size = abs(value)
    readable = value == 0 or 1e-3 <= size < 1e5 or not math.isfinite(size)
    text = f"{value:.3f}" if readable else f"{value:.3e}"
    return text.replace("-", minus)


def shape_text(shape, times=", "):
    """(64, 10) or (64×10) with times="×"; a 0-d shape is `scalar`."""
    if len(shape) == 0:
        return "scalar"
    if len(shape) == 1:
        return f"({shape[0]},)"
    return "(" + times.join(str(n) for n in shape) + ")"


def broadcast_axes(raw, shape):
    """Axes a gradient of shape `raw` is summed over to reach `shape` (the engine's sum_to)."""
    lead = len(raw) - len(shape)
    return tuple(range(lead)) + tuple(lead + i for i, n in enumerate(shape) if n == 1 and raw[lead + i] != 1)
