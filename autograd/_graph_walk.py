"""One read-only view of a backward graph for `viz` and `explain`, in the engine's own order.

`Graph(root)` lists the nodes in the order backward runs them (`graph.backward_order`, the
engine's single order; the leaves' AccumulateGrad nodes are left out of `nodes`), the
leaves, and every input edge in the direction gradients flow: from a node to the graph
position (`graph.Edge`) of one of its inputs. It reads only what a node keeps after
backward (`inputs`, `input_slots`, `in_meta`, `out_meta`, `scope`, `name`), so the structure
of a graph can be walked even after `loss.backward()` freed its values.

`Names` says what each graph position is called and `number` how a value is written, so a
picture, a derivation and a trace of one graph use the same words and digits.
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
        self.leaves = [node.variable for node in order if isinstance(node, AccumulateGrad)]
        self.step = {node: i + 1 for i, node in enumerate(self.nodes)}
        self.edges = []
        self.out_edges = {}  # node -> its flows, in input order
        self.consumers = {}  # graph position -> flows pointing at it
        for node in self.nodes:
            mine = self.out_edges[node] = []
            for index, (child, slot) in enumerate(zip(node.inputs, node.input_slots)):
                if child is None:
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


# -- names and numbers shared by viz and explain ---------------------------------------------------
class Names:
    """What every graph position is called, the same in pictures, derivations and traces.

    Leaves: the parameter name from `params` (a Module or a {name: tensor} dict), else the tensor's
    `name`, else t1, t2, … in the order backward reaches them. Node outputs: the name given to their
    tensor (its node keeps it, `output_names`), else v1, v2, … in the order the forward made them (a
    Wengert list). The root: its name, else L. Inputs without a gradient (constants): the name their
    tensor had when the node read it (`constant_names`).
    """

    def __init__(self, graph, params=None):
        given = {}
        if params is not None:
            items = params.named_parameters() if hasattr(params, "named_parameters") else params.items()
            given = {id(tensor): name for name, tensor in items}
        outputs, self._constants = _named_tensors(graph)
        self._of = {}
        for i, leaf in enumerate(graph.leaves):
            self._of[position(leaf)] = given.get(id(leaf)) or leaf.name or f"t{i + 1}"
        unnamed = 0
        for node in reversed(graph.nodes):  # the order the forward made them
            if not any(Edge(node, slot) in outputs for slot in range(node.n_outputs)):
                unnamed += 1
            for slot in range(node.n_outputs):
                key = Edge(node, slot)
                many = f"[{slot}]" if node.n_outputs > 1 else ""
                self._of[key] = outputs.get(key) or f"v{unnamed}{many}"
        if graph.root._node is not None:  # a leaf as the root keeps the leaf's name
            self._of[graph.root_key] = graph.root.name or "L"
        self.root = self._of[graph.root_key]

    def __getitem__(self, key):
        """The name of a graph position (an `Edge`)."""
        return self._of[key]

    def __contains__(self, key):
        return key in self._of

    def constant(self, value):
        """The name of the tensor whose array is the constant `value`, else None."""
        return self._constants.get(id(value))


def _named_tensors(graph):
    """Names the graph recorded: {node output position: name}, {id(constant array): name}.

    A name given to an intermediate (`h.name = "h"`) is kept by its node (`output_names`); a named
    constant's name by the node that read it (`constant_names`), so no live Tensor has to be found.
    """
    outputs, constants = {}, {}
    for node in graph.nodes:
        for slot, name in (node.output_names or {}).items():
            outputs[Edge(node, slot)] = name
        values = dict(node.constants)
        for index, name in (node.constant_names or {}).items():
            constants[id(values[index])] = name
    return outputs, constants


def number(value, digits=4, minus="−"):
    """`digits` significant digits: 0.005982, 1.667, −2, 0.5; rounded integers up to 10⁶ (123457);
    scientific beyond (1.235e−05)."""
    value = float(value)
    size = abs(value)
    if not math.isfinite(value):
        text = "nan" if math.isnan(value) else ("-inf" if value < 0 else "inf")
    elif size == 0:
        text = "0"
    elif 1e-4 <= size < 10 ** digits:
        text = f"{value:.{digits}g}"
    elif 10 ** digits <= size < 1e6:
        text = f"{value:.0f}"
    else:
        text = f"{value:.{digits - 1}e}"
    return text.replace("-", minus)


def plural(count, word):
    """1 step, 2 steps."""
    return f"{count} {word}{'' if count == 1 else 's'}"


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

