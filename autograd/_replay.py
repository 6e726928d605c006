"""Run a recorded graph again from its leaves: every value, every gradient, a check of each VJP.

A node keeps its edges, its constants and its options (`ctx.constants`, `ctx.options`),
so its Function can be applied again to the same values. Replaying the nodes inputs-first
recomputes every intermediate value (the graph itself keeps only what VJPs need) on fresh
nodes that no backward has released: pictures and derivations work before and after
`backward()`. The backward half calls each fresh node's VJP (the primitives table's own
rule), sums it to the input's shape with the engine's `_fit`, and keeps what flows along
every edge. No `.grad` is touched and no tensor hook runs. Values come from the leaves'
current data: after an optimizer step they are the new values, which `stale` reports.
"""
import numpy as np

from .engine import _fit
from .grad_mode import enable_grad, no_grad
from .tensor import Tensor


def _edge_key(target):
    return target if type(target) is tuple else id(target)


def _cast(value, dtype):
    if dtype is not None and isinstance(value, np.ndarray) and value.dtype.kind == "f":
        return value.astype(dtype)
    return value


def _arguments(node, arrays, dtype=None):
    """Positional arguments for `node`'s Function: new leaves holding `arrays` at its edges, its constants elsewhere."""
    constants = dict(node.constants)
    args = []
    edge_arrays = iter(arrays)
    for index, target in enumerate(node.next):
        if target is None:
            value = _cast(constants[index], dtype)
            args.append(value if node.in_meta[index] is None else Tensor._wrap(np.asarray(value)))
        else:
            leaf = Tensor._wrap(next(edge_arrays))
            leaf.requires_grad = True
            args.append(leaf)
    return args


class Replay:
    """Values of every node output, optionally in another float dtype or with some values replaced.

    `overrides` maps a leaf id or a `(node, slot)` to the array to use instead (for finite
    differences). With `record=False` only values are computed (no fresh nodes, no gradients).
    """

    def __init__(self, graph, dtype=None, overrides=None, record=True):
        self.graph = graph
        self.dtype = dtype
        self.values = {}
        self.fresh = {}
        self.failed = {}  # node -> why it could not be replayed
        self.overrides = overrides or {}
        self._leaf_values = {id(leaf): _cast(self.overrides.get(id(leaf), leaf.data), dtype) for leaf in graph.leaves}
        self._locals = {}
        with enable_grad() if record else no_grad():
            for node in reversed(graph.nodes):  # inputs before their consumers
                self._run(node, record)

    def value(self, key):
        """The array of a leaf id or a `(node, slot)`; None when it could not be replayed."""
        if type(key) is tuple:
            outs = self.values.get(key[0])
            return None if outs is None else outs[key[1]]
        return self._leaf_values.get(key)

    def _run(self, node, record):
        arrays = []
        for target in node.next:
            if target is not None:
                value = self.value(_edge_key(target))
                if value is None:
                    self.failed[node] = "an input could not be replayed"
                    return
                arrays.append(value)
        try:
            outs = type(node).apply(*_arguments(node, arrays, self.dtype), **node.options)
        except Exception as error:  # a user Function may not run twice; the picture then says why
            self.failed[node] = f"{type(error).__name__}: {error}"
            return
        outs = outs if isinstance(outs, tuple) else (outs,)
        if tuple(o.shape for o in outs) != tuple(shape for shape, _ in node.out_meta):
            self.failed[node] = "replaying it gave outputs of other shapes"
            return
        self.values[node] = tuple(_cast(self.overrides.get((node, i), o.data), self.dtype) for i, o in enumerate(outs))
        if record:
            self.fresh[node] = outs[0]._node

    def problems(self):
        """Sentences for a picture or a derivation: a node that would not replay, changed leaves."""
        out = []
        if self.failed:
            node = next(n for n in reversed(self.graph.nodes) if n in self.failed)
            out.append(f"values from #{self.graph.step[node]} {type(node).__name__}Backward on are unknown: "
                       f"replaying it failed ({self.failed[node]})")
        if self.stale:
            out.append("the leaves changed since this graph was built: values and gradients are "
                       "recomputed from their current data")
        return out

    @property
    def stale(self):
        """True when the replayed root differs from the recorded one (leaves changed since)."""
        root = self.graph.root
        value = self.value(self.graph.root_key)
        if value is None or self.dtype is not None:
            return False
        return not np.allclose(value, root.data, rtol=1e-5, atol=1e-7, equal_nan=True)

    # -- gradients -------------------------------------------------------------------
    def backward(self):
        """Send d(root)/d(root) = 1 back; fill `grads`, `leaf_grads` and `flows`. False for non-scalar roots."""
        graph = self.graph
        root = graph.root
        self.grads = {}  # node -> per output the total gradient (array or None)
        self.leaf_grads = {}  # leaf id -> total gradient
        self.flows = {}  # Edge -> (shape the VJP returned, gradient summed to the input's shape)
        if root.data.size != 1 or self.value(graph.root_key) is None:
            return False
        seed = np.ones(root.shape, self.value(graph.root_key).dtype)
        if root._node is None:
            self.leaf_grads[id(root)] = seed
            return True
        buffers = {root._node: [None] * root._node.n_outputs}
        buffers[root._node][root._out_idx] = seed
        with no_grad():
            for node in graph.nodes:
                grads = buffers.pop(node, None)
                fresh = self.fresh.get(node)
                if grads is None or fresh is None:
                    continue
                self.grads[node] = grads
                for edge, g in zip(graph.out_edges[node], self._vjp(node, grads)):
                    if g is None:
                        continue
                    if edge.leaf is not None:
                        total = self.leaf_grads.get(id(edge.leaf))
                        self.leaf_grads[id(edge.leaf)] = g[1] if total is None else total + g[1]
                    else:
                        buf = buffers.setdefault(edge.child, [None] * edge.child.n_outputs)
                        buf[edge.slot] = g[1] if buf[edge.slot] is None else buf[edge.slot] + g[1]
                    self.flows[edge] = g
        return True

    def _vjp(self, node, grads):
        """Per edge of `node`: (shape the VJP returned, gradient fitted to the input) or None."""
        fresh = self.fresh[node]
        upstream = [Tensor._wrap(g if g is not None else np.zeros(shape, dtype))
                    for g, (shape, dtype) in zip(grads, fresh.out_meta)]
        result = fresh.backward(fresh, *upstream)
        result = result if type(result) is tuple else (result,)
        out = []
        for edge in self.graph.out_edges[node]:
            g = result[edge.index] if edge.index < len(result) else None
            if g is None:
                out.append(None)
                continue
            raw = np.shape(g.data if isinstance(g, Tensor) else g)
            shape, dtype = fresh.in_meta[edge.index]
            out.append((raw, _fit(g, shape, dtype, fresh, edge.index).data))
        return out

    def local(self, edge):
        """∂(output)/∂(input) along `edge` for a one-output node: the VJP of ḡ = 1 (a number for scalars)."""
        node = edge.node
        if node not in self.fresh or node.n_outputs != 1:
            return None
        if node not in self._locals:
            ones = [np.ones(shape, dtype) for shape, dtype in self.fresh[node].out_meta]
            with no_grad():
                self._locals[node] = self._vjp(node, ones)
        flow = self._locals[node][self.graph.out_edges[node].index(edge)]
        return None if flow is None else flow[1]

    # -- checking a VJP --------------------------------------------------------------
    def check(self, node, eps=1e-6, seed=0):
        """Relative error of `node`'s VJP against central differences at its replayed inputs.

        Dot-product test in float64: ⟨v, J·u⟩ by (f(x + εu) − f(x − εu)) / 2ε against ⟨Jᵀ·v, u⟩ from
        the VJP, for random u and v. Returns (error, None) or (None, why it could not run).
        """
        if node in self.failed or node not in self.values:
            return None, self.failed.get(node, "not replayed")
        arrays = [np.asarray(self.value(_edge_key(t)), np.float64) for t in node.next if t is not None]
        rng = np.random.default_rng(seed)
        directions = [rng.standard_normal(x.shape) for x in arrays]
        cls, options = type(node), node.options
        def run(xs):
            outs = cls.apply(*_arguments(node, xs, np.float64), **options)
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
                result = fresh.backward(fresh, *[Tensor._wrap(v) for v in vs])
            result = result if type(result) is tuple else (result,)
            rhs = 0.0
            edges = [i for i, t in enumerate(node.next) if t is not None]
            for index, u in zip(edges, directions):
                g = result[index] if index < len(result) else None
                if g is not None:
                    shape, dtype = fresh.in_meta[index]
                    rhs += float(np.sum(_fit(g, shape, dtype, fresh, index).data * u))
        except Exception as error:
            return None, f"{type(error).__name__}: {error}"
        return abs(lhs - rhs) / (max(abs(lhs), abs(rhs)) + 1e-6), None
