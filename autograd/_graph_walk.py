"""One read-only view of a backward graph for `viz` and `explain`, walked without recursion.

`Graph(root)` lists the nodes in the order the engine's backward visits them
(Kahn's algorithm, last-ready first, exactly as `engine._execute` pops them), the
leaves in the order their gradients arrive, and every edge in the direction
gradients flow: from a node to one of its inputs. It reads only what a node keeps
after backward (`next`, `in_meta`, `out_meta`, `scope`, `name`), so a graph can be
walked after `loss.backward()` freed its saved values.
"""
import math
import re

from .tensor import Tensor

#: Scope element the engine pushes while a VJP runs under `create_graph=True`.
BACKWARD_SCOPE = "backward of "

_MODULE_SCOPE = re.compile(r"^(?:.* \(\w+\)|[A-Z]\w*)$")


def is_module_scope(element):
    """`features.0 (Conv2d)` or a root module's `LeNet5`; composites are lower-case (`conv2d`)."""
    return bool(_MODULE_SCOPE.match(element))


def in_gradient_part(node):
    """True for nodes recorded while a `create_graph=True` backward ran."""
    return any(element.startswith(BACKWARD_SCOPE) for element in node.scope)


class Edge:
    """Gradient flow from `node` to its input `index`: a node output `(child, slot)` or a leaf."""

    __slots__ = ("node", "index", "child", "slot", "leaf")

    def __init__(self, node, index, target):
        self.node = node
        self.index = index
        if type(target) is tuple:
            self.child, self.slot, self.leaf = target[0], target[1], None
        else:
            self.child, self.slot, self.leaf = None, 0, target

    @property
    def key(self):
        """What the edge points at: `(child, slot)` or the leaf's `id`."""
        return id(self.leaf) if self.leaf is not None else (self.child, self.slot)


def key_of(tensor):
    """The graph key of a tensor: its leaf `id` or its `(node, output index)`."""
    return id(tensor) if tensor._node is None else (tensor._node, tensor._out_idx)


class Graph:
    """Nodes in backward order, leaves, edges, and which parts lead to which."""

    def __init__(self, root):
        if not isinstance(root, Tensor):
            raise TypeError(f"expected a Tensor, got {type(root).__name__}")
        if not root.requires_grad:
            raise ValueError(
                f"the tensor of shape {root.shape} has no backward graph: it does not require grad "
                "(build it from tensors created with requires_grad=True, outside no_grad)"
            )
        self.root = root
        self.nodes = []
        self.leaves = []
        self.edges = []
        self.out_edges = {}  # node -> its edges, in input order
        self.consumers = {}  # key of a node output or leaf -> edges pointing at it
        top = root._node
        if top is None:
            self.leaves.append(root)
            self.step = {}
            return
        pending = {}
        stack = [top]
        seen = {top}
        while stack:
            node = stack.pop()
            for edge in node.next:
                if type(edge) is tuple:
                    child = edge[0]
                    pending[child] = pending.get(child, 0) + 1
                    if child not in seen:
                        seen.add(child)
                        stack.append(child)
        ready = [top]
        seen_leaves = set()
        while ready:
            node = ready.pop()
            self.nodes.append(node)
            mine = self.out_edges[node] = []
            for index, target in enumerate(node.next):
                if target is None:
                    continue
                edge = Edge(node, index, target)
                mine.append(edge)
                self.edges.append(edge)
                self.consumers.setdefault(edge.key, []).append(edge)
                if edge.leaf is not None:
                    if id(edge.leaf) not in seen_leaves:
                        seen_leaves.add(id(edge.leaf))
                        self.leaves.append(edge.leaf)
                    continue
                left = pending[edge.child] - 1
                pending[edge.child] = left
                if left == 0:
                    ready.append(edge.child)
        self.step = {node: i + 1 for i, node in enumerate(self.nodes)}

    @property
    def root_key(self):
        return key_of(self.root)

    def reaching(self, key):
        """Nodes from which gradient flows into `key` (a leaf id or a (node, slot)): every path's nodes."""
        reach = set()
        for node in reversed(self.nodes):  # inputs before consumers
            for edge in self.out_edges[node]:
                if edge.key == key or (edge.child is not None and edge.child in reach):
                    reach.add(node)
                    break
        return reach

    def on_path(self, edge, key, reach):
        """True when `edge` lies on a path into `key`, given `reach = reaching(key)`."""
        return edge.key == key or (edge.child is not None and edge.child in reach)


# -- labels shared by viz and explain ----------------------------------------------------
def leaf_names(graph, params=None):
    """id(leaf) -> name: the parameter name from `params` (a Module or a {name: tensor} dict),
    else the tensor's `name`, else t1, t2, … in the order gradients reach them."""
    names = {}
    if params is not None:
        items = params.named_parameters() if hasattr(params, "named_parameters") else params.items()
        for name, tensor in items:
            names[id(tensor)] = name
    unnamed = 0
    for leaf in graph.leaves:
        if id(leaf) not in names:
            if leaf.name:
                names[id(leaf)] = leaf.name
            else:
                unnamed += 1
                names[id(leaf)] = f"t{unnamed}"
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
