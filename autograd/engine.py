"""Reverse-mode differentiation: `backward` and `grad`.

The order is computed once per call with Kahn's algorithm: count, for every
node, how many consumers will send it a gradient; a node runs when all have
arrived. Cotangents wait in a dict keyed by node and are dropped once used, so
nothing is recursive and a 100,000-deep chain runs in a loop. After the pass
each node frees its saved values unless `retain_graph=True`.
"""
import gc

import numpy as np

from . import grad_mode
from .function import Function
from .tensor import Tensor, as_tensor

_state = grad_mode._state


def _seed(outputs, grad_outputs):
    """Initial cotangents: ones for scalar outputs, else the given gradients."""
    if isinstance(outputs, Tensor):
        outputs = [outputs]
    outputs = list(outputs)
    if grad_outputs is None:
        grad_outputs = [None] * len(outputs)
    elif isinstance(grad_outputs, Tensor) or not isinstance(grad_outputs, (list, tuple)):
        grad_outputs = [grad_outputs]
    if len(grad_outputs) != len(outputs):
        raise ValueError(f"expected {len(outputs)} gradients for {len(outputs)} outputs, got {len(grad_outputs)}")
    seeds = []
    for out, g in zip(outputs, grad_outputs):
        if not out._requires_grad:
            raise RuntimeError(
                f"backward: the tensor of shape {out.shape} does not require grad and has no grad_fn "
                "(did you build it under no_grad, or from tensors without requires_grad=True?)"
            )
        if g is None:
            if out.data.size != 1:
                raise RuntimeError(
                    f"backward: grad can be implicitly created only for scalar outputs; this output "
                    f"has shape {out.shape}. Pass gradient=<tensor of shape {out.shape}>."
                )
            g = Tensor._wrap(np.ones(out.shape, dtype=out.dtype))
        else:
            g = as_tensor(g, like=out)
            if g.dtype != out.dtype and g.dtype.kind == "f":  # seed in the output's dtype: VJPs stay float32
                g = Tensor._wrap(g.data.astype(out.dtype))
            if g.shape != out.shape:
                raise ValueError(f"backward: gradient has shape {g.shape}, output has shape {out.shape}")
        seeds.append((out, g))
    return seeds


def _children(node):
    return [child for child in map(_node_of, node._next) if child is not None]


def _count_consumers(roots, runs=None, keep=None):
    """For every node reachable from `roots`: how many edges point at it.

    With `runs`/`keep` (from `_prune`) only edges out of nodes that run, into nodes kept, count.
    """
    consumers = {}
    stack = list(roots)
    seen = set(roots)
    while stack:
        node = stack.pop()
        if node.released:
            raise RuntimeError(
                f"trying to backward through the graph a second time ({node!r} was freed after the "
                "first backward); pass retain_graph=True to the first backward to keep it"
            )
        if runs is not None and node not in runs:
            continue
        for edge in node._next:
            child = _node_of(edge)
            if child is not None and (keep is None or child in keep):
                consumers[child] = consumers.get(child, 0) + 1
                if child not in seen:
                    seen.add(child)
                    stack.append(child)
    return consumers


def _prune(roots, capture):
    """For `grad`: the nodes whose VJP must run to reach the inputs (`runs`) and those that
    receive a gradient at all (`keep`: `runs` plus the inputs' own nodes). Nothing else runs,
    so the rest of the graph stays intact for a later backward."""
    postorder = []  # children before parents: a reverse topological order
    visited = set(roots)
    for root in roots:
        stack = [(root, iter(_children(root)))]
        while stack:
            node, pending = stack[-1]
            for child in pending:
                if child not in visited:
                    visited.add(child)
                    stack.append((child, iter(_children(child))))
                    break
            else:
                stack.pop()
                postorder.append(node)
    runs, keep = set(), set()
    for node in postorder:
        if any(edge in keep if _node_of(edge) is not None else edge is not None and edge in capture
               for edge in map(_edge_key, node._next)):
            runs.add(node)
            keep.add(node)
        elif any((node, i) in capture for i in range(node.n_outputs)):
            keep.add(node)
    return runs, keep


def _edge_key(edge):
    """An edge as `_prune` compares it: the node for node edges, the leaf Tensor for leaves."""
    node = _node_of(edge)
    return edge if node is None else node


def _node_of(edge):
    """The node an edge leads to (None for a leaf or no edge)."""
    if isinstance(edge, Function):
        return edge
    return edge[0] if type(edge) is tuple else None


def _fit(g, shape, dtype, node, index):
    """Sum a VJP's result back to its input's shape (undoing broadcasting) and dtype."""
    if not isinstance(g, Tensor):
        g = as_tensor(np.asarray(g))
    if g.data.shape != shape:
        from .ops import sum_to

        try:
            g = sum_to(g, shape)
        except ValueError:
            raise RuntimeError(
                f"{node!r} returned a gradient of shape {g.shape} for input {index}, which has shape {shape}"
            ) from None
    if g.data.dtype != dtype:
        g = g.to(dtype)
    if _state["anomaly"] and not np.all(np.isfinite(g.data)):
        raise FloatingPointError(
            f"detect_anomaly: backward of '{node.name}' returned NaN/inf in the gradient for input "
            f"{index} (shape {shape}); the node was created at {node.trace}"
        )
    return g


def _run_hooks(hooks, g):
    for fn in hooks:
        result = fn(g)
        if result is not None:
            g = as_tensor(result)
    return g


def _execute(seeds, retain_graph, create_graph, capture=None, accumulate=True):
    """Run the backward pass. `capture` maps (node, index) or a leaf to a slot for `grad`."""
    buffers = {}
    roots = []
    captured = {}
    for out, g in seeds:
        if out._node is None:
            _deliver_to_leaf(out, g, capture, captured, accumulate)
            continue
        node = out._node
        buf = buffers.get(node)
        if buf is None:
            buf = buffers[node] = [None] * node.n_outputs
            roots.append(node)
        index = out._out_idx
        buf[index] = g if buf[index] is None else buf[index] + g
    runs = keep = None
    if capture is not None and not accumulate:
        runs, keep = _prune(roots, capture)
        roots = [n for n in roots if n in keep]
    consumers = _count_consumers(roots, runs, keep)
    ready = [n for n in roots if n not in consumers]
    previous = grad_mode.set_grad_enabled(create_graph)
    outer_scope = _state["scope"]
    # The pass makes many short-lived objects and no reference cycles: pausing the cyclic
    # garbage collector saves it from rescanning the whole graph again and again.
    collecting = gc.isenabled()
    gc.disable()
    try:
        while ready:
            node = ready.pop()
            grads = buffers.pop(node, None)
            if grads is None:  # no gradient reached this node: only release its consumers' counts
                if runs is None or node in runs:
                    _skip(node, consumers, ready, retain_graph, keep)
                continue
            if node.pre_hooks:
                for index, fn in node.pre_hooks:
                    if grads[index] is not None:
                        grads[index] = _run_hooks([fn], grads[index])
            if capture:
                for index, g in enumerate(grads):
                    if (node, index) in capture:
                        captured[(node, index)] = g
                if runs is not None and node not in runs:  # an input of `grad` with nothing to reach below
                    continue
            if node.n_outputs > 1:
                for index, g in enumerate(grads):
                    if g is None:
                        shape, dtype = node.out_meta[index]
                        grads[index] = Tensor._wrap(np.zeros(shape, dtype))
            if create_graph:  # what this VJP records is the graph's gradient part (viz draws it apart)
                _state["scope"] = node.scope + (f"backward of {node.name}",)
            result = node.backward(node, *grads) if not _state["anomaly"] else _backward_quietly(node, grads)
            if not retain_graph:
                node.release()
            if type(result) is not tuple:
                result = (result,)
            edges = node._next
            if len(result) != len(edges):
                raise RuntimeError(
                    f"{node!r}: backward returned {len(result)} gradients, expected {len(edges)} "
                    "(one per input of forward; use None for inputs without a gradient)"
                )
            index = -1
            for edge, g in zip(edges, result):
                index += 1
                if edge is None or (keep is not None and _edge_key(edge) not in keep and edge not in capture):
                    continue
                if g is None:
                    child = _node_of(edge)
                    if child is not None:
                        _release_edge(child, consumers, ready)
                    continue
                shape, dtype = node.in_meta[index]
                if type(g) is not Tensor or g.data.shape != shape or g.data.dtype != dtype or _state["anomaly"]:
                    g = _fit(g, shape, dtype, node, index)
                if isinstance(edge, Function):
                    child, slot = edge, 0
                elif type(edge) is tuple:
                    child, slot = edge
                else:
                    _deliver_to_leaf(edge, g, capture, captured, accumulate)
                    continue
                buf = buffers.get(child)
                if buf is None:
                    buf = buffers[child] = [None] * child.n_outputs
                buf[slot] = g if buf[slot] is None else buf[slot] + g
                left = consumers[child] - 1
                consumers[child] = left
                if left == 0:
                    ready.append(child)
    finally:
        grad_mode.set_grad_enabled(previous)
        _state["scope"] = outer_scope
        if collecting:
            gc.enable()
    return captured


def _backward_quietly(node, grads):
    """Run a VJP under detect_anomaly without the forward checks of the ops inside it, so a
    non-finite gradient is reported (by _fit) as this node's, not as its VJP's `div` or `mul`."""
    _state["anomaly"] = False
    try:
        return node.backward(node, *grads)
    finally:
        _state["anomaly"] = True


def _release_edge(child, consumers, ready):
    left = consumers[child] - 1
    consumers[child] = left
    if left == 0:
        ready.append(child)


def _skip(node, consumers, ready, retain_graph, keep):
    for edge in node._next:
        child = _node_of(edge)
        if child is not None and (keep is None or child in keep):
            _release_edge(child, consumers, ready)
    if not retain_graph:
        node.release()


def _deliver_to_leaf(leaf, g, capture, captured, accumulate):
    if leaf._hooks:
        g = _run_hooks(leaf._hooks, g)
    if capture is not None and leaf in capture:
        captured[leaf] = g if captured.get(leaf) is None else captured[leaf] + g
    if accumulate:
        if leaf.grad is not None:
            leaf.grad = leaf.grad + g
        elif g._node is not None and _state["grad_enabled"]:  # create_graph: the gradient keeps its graph
            leaf.grad = g
        else:  # an array of its own (VJPs may return views or one g for two inputs): safe to update in place
            leaf.grad = Tensor._wrap(np.array(g.data, dtype=leaf.data.dtype, order="C"))


def backward(tensors, grad_tensors=None, retain_graph=False, create_graph=False):
    """Accumulate the gradients of `tensors` into the `.grad` of every leaf they depend on."""
    seeds = _seed(tensors, grad_tensors)
    _execute(seeds, retain_graph or create_graph, create_graph)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False, allow_unused=False):
    """Return d(outputs)/d(inputs) as a tuple, without touching any `.grad`.

    With `create_graph=True` the results carry a graph, so they can be
    differentiated again (second and higher derivatives).
    """
    single = isinstance(inputs, Tensor)
    inputs = [inputs] if single else list(inputs)
    for i, x in enumerate(inputs):
        if not isinstance(x, Tensor) or not x._requires_grad:
            raise RuntimeError(f"grad: input {i} does not require grad")
    if retain_graph is None:
        retain_graph = create_graph
    keys = [x if x._node is None else (x._node, x._out_idx) for x in inputs]
    seeds = _seed(outputs, grad_outputs)
    captured = _execute(seeds, retain_graph, create_graph, capture=set(keys), accumulate=False)
    results = []
    for i, key in enumerate(keys):
        g = captured.get(key)
        if g is None and not allow_unused:
            raise RuntimeError(
                f"grad: input {i} (shape {inputs[i].shape}) was not used to compute the outputs; "
                "pass allow_unused=True to get None for it"
            )
        results.append(g)
    return tuple(results)
