"""What the forward and the backward of a recorded graph computed, for pictures and derivations.

Values are the forward's own outputs, which every node keeps until backward frees the graph
(`node.outputs`), and the leaves' data. Gradients come from one backward pass through the
engine (`engine.run_backward`) that sends d(root)/d(root) = 1 back with an observer: it sees
every node's upstream gradient and every VJP result per edge. That pass keeps the graph,
touches no `.grad` and runs no tensor hook. Nothing is recomputed from the leaves' current
data: if a leaf was written in place since the graph was recorded (its version moved), the
capture refuses with a sentence saying which leaf changed.
"""
import numpy as np

from .engine import _fit, run_backward
from .graph import AccumulateGrad, Edge
from .grad_mode import enable_grad, no_grad
from .tensor import Tensor


class StaleGraphError(RuntimeError):
    """A leaf of the graph changed since the graph was recorded: its numbers are no longer known."""


def check_current(graph, names):
    """Raise StaleGraphError when a leaf was written in place since the nodes that use it were recorded.

    `names` (a `_graph_walk.Names`) says which leaf changed."""
    for node in graph.nodes:
        for child in node.inputs:
            if isinstance(child, AccumulateGrad):
                leaf = child.variable
                if leaf._vc is not None and leaf._vc.last_write > node.writes_seen:
                    key = Edge(child, 0)
                    name = names[key] if key in names else f"a leaf of shape {leaf.shape}"
                    raise StaleGraphError(
                        f"{name} changed since this graph was built (optimizer.step? an in-place write?): "
                        "draw or explain before the change, or rebuild the graph"
                    )


class Capture:
    """Values and gradients of one graph: `value(key)`, `grad(key)`, `contribution(key, nodes)` and the raw
    `grads`, `leaf_grads`, `flows`; local derivatives (`local`, `partials`) and VJP checks (`check`)."""

    def __init__(self, graph, names):
        check_current(graph, names)
        self.graph = graph
        self.freed = any(node.released for node in graph.nodes)
        self.grads = {}  # node -> per output the total gradient (array or None)
        self.leaf_grads = {}  # leaf position -> total gradient
        self.flows = {}  # Flow -> (shape the VJP returned, gradient summed to the input's shape)
        self._flow_of = {(flow.node, flow.index): flow for flow in graph.edges}
        self._locals = {}

    def value(self, key):
        """The forward's array at a graph position (a leaf's data); None once backward freed it."""
        node, slot = key
        if isinstance(node, AccumulateGrad):
            return node.variable.data
        outputs = node.outputs  # (a property: the tuple is made per call)
        return None if outputs is None else outputs[slot]

    def problems(self):
        """Sentences for a picture or a derivation about what it cannot show."""
        if self.freed:
            return ["values and gradients inside the graph were freed by backward(): draw or explain before "
                    "calling backward(), or call it with retain_graph=True"]
        return []

    # -- gradients -------------------------------------------------------------------
    def backward(self):
        """Send d(root)/d(root) = 1 back through the engine; False when it cannot (freed, not one element)."""
        graph = self.graph
        root = graph.root
        if root.data.size != 1 or self.freed:
            return False
        seed = Tensor._wrap(np.ones(root.shape, root.dtype))
        with no_grad():
            run_backward([(graph.root_key, seed)], retain_graph=True, accumulate=False, run_hooks=False,
                         observer=self._observe)
        return True

    def _observe(self, node, upstream, grads, raw_shapes):
        if isinstance(node, AccumulateGrad):
            self.leaf_grads[Edge(node, 0)] = upstream[0].data
            return
        self.grads[node] = [None if g is None else g.data for g in upstream]
        for index, g in enumerate(grads):
            flow = self._flow_of.get((node, index))
            if g is not None and flow is not None:
                raw = raw_shapes[index] if raw_shapes and raw_shapes[index] is not None else g.shape
                self.flows[flow] = (raw, g.data)

    def grad(self, key):
        """d(root)/d(tensor at graph position `key`) as the backward computed it (None if none reached it)."""
        if isinstance(key.node, AccumulateGrad):
            return self.leaf_grads.get(key)
        grads = self.grads.get(key.node)
        return None if grads is None else grads[key.index]

    def contribution(self, key, nodes):
        """The part of the gradient at `key` that the VJPs of `nodes` sent (None if none did)."""
        parts = [self.flows[flow][1] for flow in self.graph.consumers.get(key, ())
                 if flow.node in nodes and flow in self.flows]
        return sum(parts[1:], parts[0]) if parts else None

    def local(self, flow):
        """∂(output)/∂(input) along `flow` for a one-output node: its VJP at ḡ = 1 (a number for scalars)."""
        node = flow.node
        if node.n_outputs != 1 or node.released:
            return None
        if node not in self._locals:
            ones = Tensor._wrap(np.ones(*node.out_meta[0]))
            with no_grad():
                result = node.function.backward(node, ones)
            result = result if type(result) is tuple else (result,)
            metas = node.in_meta
            self._locals[node] = [None if g is None or child is None else
                                  np.asarray(_fit(g, metas[i][0], metas[i][1], node, i))
                                  for i, (child, g) in enumerate(zip(node.inputs, result))]
        return self._locals[node][flow.index]

    def partials(self, flow, element):
        """∂y_k/∂x[element] for every element k of the output y of `flow.node`, x its input along `flow`.

        One VJP per element of y, with ḡ = the k-th unit vector: exact, for small outputs only.
        """
        node = flow.node
        shape, dtype = node.out_meta[0]
        in_shape, in_dtype = node.in_meta[flow.index]
        column = np.zeros(shape, np.float64)
        for k in np.ndindex(shape):
            unit = np.zeros(shape, dtype)
            unit[k] = 1
            with no_grad():
                result = node.function.backward(node, Tensor._wrap(unit))
            g = (result if type(result) is tuple else (result,))[flow.index]
            if g is not None:
                column[k] = np.asarray(_fit(g, in_shape, in_dtype, node, flow.index))[element]
        return column

    # -- checking a VJP --------------------------------------------------------------
    def _inputs(self, node):
        """The forward's arrays for node's inputs that take a gradient (None when freed)."""
        arrays = []
        for child, slot in zip(node.inputs, node.input_slots):
            if child is not None:
                value = self.value(Edge(child, slot))
                if value is None:
                    return None
                arrays.append(value)
        return arrays

    def check(self, node, eps=1e-6, seed=0):
        """Relative error of `node`'s VJP against central differences at its captured inputs.

        Dot-product test in float64: ⟨v, J·u⟩ by (f(x + εu) − f(x − εu)) / 2ε against ⟨Jᵀ·v, u⟩ from
        the VJP, for random u and v. Returns (error, None) or (None, why it could not run).
        """
        arrays = self._inputs(node)
        if arrays is None:
            return None, "its inputs were freed by backward()"
        arrays = [np.asarray(x, np.float64) for x in arrays]
        rng = np.random.default_rng(seed)
        directions = [rng.standard_normal(x.shape) for x in arrays]

        def run(xs):
            outs = node.function.apply(*_arguments(node, xs), **node.options)
            return outs if isinstance(outs, tuple) else (outs,)

        try:
            with no_grad():
                plus = run([x + eps * u for x, u in zip(arrays, directions)])
                minus = run([x - eps * u for x, u in zip(arrays, directions)])
            vs = [rng.standard_normal(p.shape) for p in plus]
            lhs = sum(float(np.sum(v * (p.data - m.data))) for v, p, m in zip(vs, plus, minus)) / (2 * eps)
            with enable_grad():
                fresh = run(arrays)[0]._node
            with no_grad():
                result = fresh.function.backward(fresh, *[Tensor._wrap(v) for v in vs])
            result = result if type(result) is tuple else (result,)
            rhs = 0.0
            edges = [i for i, child in enumerate(node.inputs) if child is not None]
            for index, u in zip(edges, directions):
                g = result[index] if index < len(result) else None
                if g is not None:
                    shape, dtype = fresh.in_meta[index]
                    rhs += float(np.sum(np.asarray(_fit(g, shape, dtype, fresh, index)) * u))
        except Exception as error:  # a user Function may not run twice; the picture then says why
            return None, f"{type(error).__name__}: {error}"
        return abs(lhs - rhs) / (max(abs(lhs), abs(rhs)) + 1e-6), None


def _arguments(node, arrays):
    """Positional arguments for node's Function in float64: new leaves holding `arrays` at its
    gradient inputs, its recorded constants elsewhere."""
    constants = dict(node.constants)
    metas = node.in_meta
    args = []
    edge_arrays = iter(arrays)
    for index, child in enumerate(node.inputs):
        if child is None:
            value = constants[index]
            if isinstance(value, np.ndarray) and value.dtype.kind == "f":
                value = value.astype(np.float64)
            args.append(value if metas[index] is None else Tensor._wrap(np.asarray(value)))
        else:
            args.append(Tensor._wrap(next(edge_arrays)).requires_grad_())
    return args


def forward_again(graph, key, value):
    """The root's value in float64 when the array at graph position `key` is replaced by `value`.

    Each node's Function runs again on the forward's inputs (its recorded constants and options,
    the leaves' data, which `check_current` vouched for): for finite-difference checks only.
    """
    values = {key: np.asarray(value, np.float64)}

    def read(position):
        if position not in values:
            values[position] = np.asarray(position.node.variable.data, np.float64)
        return values[position]

    with no_grad():
        for node in reversed(graph.nodes):  # inputs before their consumers
            arrays = [read(Edge(child, slot)) for child, slot in zip(node.inputs, node.input_slots)
                      if child is not None]
            outs = node.function.apply(*_arguments(node, arrays), **node.options)
            for slot, out in enumerate(outs if isinstance(outs, tuple) else (outs,)):
                values.setdefault(Edge(node, slot), out.data)
    return float(np.asarray(read(graph.root_key)).reshape(()))
