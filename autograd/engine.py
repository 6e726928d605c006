"""Reverse-mode differentiation: `backward`, `grad`, and the one loop that runs every VJP.

`run_backward` is the engine: it takes the graph's order from `graph.backward_order`
(the forward's nodes newest first, once per call) and walks it. For each node it pops the node's total
upstream gradient ḡ, runs the node's VJP, sums each result back to its input's shape
and adds it to what waits for that input's node. Cotangents live in a dict and are
dropped once used; a leaf's gradient reaches its `AccumulateGrad` node, whose VJP adds
it to `.grad`. After a node ran, its saved values are freed unless `retain_graph=True`.

Gradients are Tensors only under `create_graph=True` (the VJPs then record a graph of their
own). Otherwise they travel as raw NumPy arrays and the primitives' rules run on arrays
(`Function.vjp_on_arrays`); hooks, observers and user Functions still see Tensors.

Around that loop sit small helpers: which nodes must run for `grad` (a pre-pass), tensor
hooks (checked: a hook may change a gradient's values, not its shape), detect_anomaly's
check of each result, and the `create_graph` scope. An *observer* (any callable
`observer(node, upstream, grads, raw_shapes)`) sees, per node, the upstream gradients, each
VJP result per input summed to the input's shape, the shape the VJP returned where that
differed (broadcasting undone), and through `node.outputs`/`node.saved` the forward values;
`viz` and `explain` get their numbers this way. A node that received a gradient but does not
run (a leaf's accumulator when not accumulating, a `grad` target) is observed with no grads.
"""
import contextlib

import numpy as np

from .graph import AccumulateGrad, backward_order, position
from .grad_mode import ANOMALY, VJP_ON_ARRAYS, set_grad_enabled, state
from .tensor import Tensor, as_tensor

#: Scope element pushed while a VJP runs under `create_graph=True` (viz draws that part apart).
BACKWARD_SCOPE = "backward of "


def run_backward(seeds, *, retain_graph=False, create_graph=False, targets=None, accumulate=True,
                 run_hooks=True, observer=None):
    """Send the seed gradients back through the graph; returns {target position: gradient}.

    seeds: [(position, gradient)]. targets: {node: output slots} whose total gradient to capture
    (for `grad`); then only the nodes between the seeds and the targets run. accumulate: run the
    leaves' AccumulateGrad nodes (False leaves every `.grad` alone).

    What waits for a node (`pending`) is its total gradient ḡ when it has one output (most nodes), a
    list with one entry per output otherwise.
    """
    on_arrays = not create_graph
    pending = {}
    for (node, slot), g in seeds:
        _add(pending, node, slot, g.data if on_arrays else g)
    order = backward_order(pending)
    runs = _nodes_to_run(order, targets, accumulate)
    if targets is not None:
        order = [node for node in order if node in runs or node in targets]
    captured = {}
    plain = on_arrays and not ANOMALY.get()  # a primitive's rule then runs as it is, on arrays
    with _backward_mode(create_graph):
        for node in order:
            upstream = pending.pop(node, None)
            if upstream is None:  # no gradient reached it (its consumers returned None)
                if runs is None and not retain_graph:
                    node.release()
                continue
            if run_hooks and node.pre_hooks:
                upstream = _apply_hooks(node, upstream, on_arrays)
            if targets is not None and node in targets:
                for slot in targets[node]:
                    captured[(node, slot)] = _tensor(_per_output(upstream)[slot])
            if runs is not None and node not in runs:
                if observer is not None:
                    _observe(observer, node, upstream, (), ())
                continue
            grads = _vjp(node, upstream, on_arrays, plain)
            if observer is not None:
                grads, raw_shapes = _fitted(node, grads, on_arrays)
                _observe(observer, node, upstream, grads, raw_shapes)
            if not retain_graph:
                node.release()
            for g, child, slot in zip(grads, node.inputs, node.input_slots):
                if g is None or child is None:
                    continue
                meta = child.out_meta  # the input was output `slot` of `child`
                shape, dtype = meta[slot]
                if on_arrays:  # an array of the input's shape and dtype, or a NumPy scalar of its dtype for a 0-d one
                    if not (g.shape == shape and g.dtype == dtype if type(g) is np.ndarray
                            else type(g) is dtype.type and not shape):  # (a scalar's .dtype costs 5× its type)
                        g = _passed_on(g, shape, dtype, node, _input_index(node, grads, g, child, slot), on_arrays)
                elif not (type(g) is Tensor and g.data.shape == shape and g.data.dtype == dtype):
                    g = _passed_on(g, shape, dtype, node, _input_index(node, grads, g, child, slot), on_arrays)
                if len(meta) == 1:  # _add, inline (a call less per edge)
                    waiting = pending.get(child)
                    pending[child] = g if waiting is None else waiting + g
                else:
                    _add(pending, child, slot, g)
    return captured


def _input_index(node, grads, g, child, slot):
    """Which input of node gets gradient g, going to output `slot` of `child` (for error messages)."""
    return next(index for index, edge in enumerate(zip(grads, node.inputs, node.input_slots))
                if edge[0] is g and edge[1] is child and edge[2] == slot)


def _tensor(g):
    """A gradient as the user sees it: a Tensor (None stays None)."""
    return g if g is None or isinstance(g, Tensor) else Tensor._wrap(np.asarray(g))


def _tensors(grads):
    return [_tensor(g) for g in grads]


def _per_output(upstream):
    """What waits for a node, as a list with one gradient (or None) per output."""
    return upstream if type(upstream) is list else [upstream]


def _observe(observer, node, upstream, grads, raw_shapes):
    with _user_code():
        observer(node, _tensors(_per_output(upstream)), _tensors(grads), raw_shapes)


@contextlib.contextmanager
def _user_code():
    """Code other than a primitive's rule (a hook, an observer, a user Function's VJP) sees Tensors,
    and ops on arrays give it Tensors as usual."""
    token = VJP_ON_ARRAYS.set(False)
    try:
        yield
    finally:
        VJP_ON_ARRAYS.reset(token)


def _add(pending, node, slot, g):
    """Add g to what waits for output `slot` of `node` (gradients from several consumers sum up)."""
    if len(node.out_meta) == 1:
        waiting = pending.get(node)
        pending[node] = g if waiting is None else waiting + g
        return
    grads = pending.get(node)
    if grads is None:
        grads = pending[node] = [None] * len(node.out_meta)
    grads[slot] = g if grads[slot] is None else grads[slot] + g


def _nodes_to_run(order, targets, accumulate):
    """The nodes whose VJP must run, or None for all of them.

    For `grad`: only nodes with a path to a target; leaves' accumulators only when accumulating.
    """
    if targets is None and accumulate:
        return None
    runs = set()
    for node in reversed(order):  # inputs before their consumers
        if isinstance(node, AccumulateGrad):
            if accumulate:
                runs.add(node)
            continue
        if targets is None or any(child in runs or (child in targets and slot in targets[child])
                                  for child, slot in zip(node.inputs, node.input_slots) if child is not None):
            runs.add(node)
    return runs


@contextlib.contextmanager
def _backward_mode(create_graph):
    """Grad mode on only for `create_graph` (VJPs then record the gradient's own graph); otherwise
    the VJPs run on arrays."""
    previous_mode, previous_scope = set_grad_enabled(create_graph), state.scope
    token = VJP_ON_ARRAYS.set(not create_graph)
    try:
        yield
    finally:
        VJP_ON_ARRAYS.reset(token)
        set_grad_enabled(previous_mode)
        state.scope = previous_scope


def _vjp(node, upstream, on_arrays, plain):
    """Run node's VJP on its upstream gradient(s); returns one result per input (None: no gradient)."""
    if node.saved is None:  # released
        raise RuntimeError(
            f"trying to backward through the graph a second time ({node!r} was freed after the "
            "first backward); pass retain_graph=True to the first backward to keep it"
        )
    if plain and type(upstream) is not list and node.function.vjp_on_arrays:
        result = node.function.backward(node, upstream)  # the common case: one output, a rule that runs on arrays
    else:
        result = _run_rule(node, upstream, on_arrays)
    if type(result) is not tuple:
        result = (result,)
    if len(result) != len(node.inputs):
        raise RuntimeError(
            f"{node!r}: backward returned {len(result)} gradients, expected {len(node.inputs)} "
            "(one per input of forward; use None for inputs without a gradient)"
        )
    return result


def _run_rule(node, upstream, on_arrays):
    """Run node's VJP in any other case: several outputs (those without a gradient get zeros), a
    user Function's rule (it sees Tensors), create_graph (a scope for the recorded backward), anomaly
    mode (checked results)."""
    if type(upstream) is list:
        upstream = [_zeros(shape, dtype, on_arrays) if g is None else g
                    for g, (shape, dtype) in zip(upstream, node.out_meta)]
    else:
        upstream = (upstream,)
    run = _vjp_under_anomaly if ANOMALY.get() else _call_backward
    if on_arrays and not node.function.vjp_on_arrays:  # a user Function: its VJP is written for Tensors
        with _user_code():
            return run(node, _tensors(upstream))
    if not on_arrays:
        state.scope = node.scope + (BACKWARD_SCOPE + node.name,)
    return run(node, upstream)


def _call_backward(node, upstream):
    return node.function.backward(node, *upstream)


def _fitted(node, result, on_arrays):
    """For an observer: per input the VJP's result summed to the input's shape and dtype (an array
    when `on_arrays`, else a Tensor; None where no gradient goes), and the shape the VJP returned
    where it differed (broadcasting undone; () when none did)."""
    grads = []
    raw_shapes = None
    for index, (child, meta, g) in enumerate(zip(node.inputs, node.in_meta, result)):
        if g is None or child is None:
            grads.append(None)
            continue
        shape, dtype = meta
        raw = np.shape(g.data if isinstance(g, Tensor) else g)
        grads.append(_passed_on(g, shape, dtype, node, index, on_arrays))
        if raw != shape:
            raw_shapes = raw_shapes or [None] * len(result)
            raw_shapes[index] = raw
    return grads, raw_shapes or ()


def _passed_on(g, shape, dtype, node, index, on_arrays):
    """A VJP's result for input `index` as the engine passes it on: summed to the input's shape and
    dtype; an array when `on_arrays`, else a Tensor."""
    g = _fit(g, shape, dtype, node, index)
    if on_arrays:
        return g.data if isinstance(g, Tensor) else g
    return _tensor(g)


def _zeros(shape, dtype, on_arrays):
    """The gradient of an output that received none (a multi-output node's other outputs)."""
    zeros = np.zeros(shape, dtype)
    return zeros if on_arrays else Tensor._wrap(zeros)


def _fit(g, shape, dtype, node, index):
    """Sum a VJP's result back to its input's shape (undoing broadcasting) and dtype; an array stays
    an array, anything else becomes a Tensor."""
    from .ops import sum_to

    if not isinstance(g, (Tensor, np.ndarray, np.generic)):
        g = as_tensor(np.asarray(g))
    if g.shape != shape:
        try:
            g = sum_to(g, shape)
        except ValueError:
            raise RuntimeError(
                f"{node!r} returned a gradient of shape {g.shape} for input {index}, which has shape {shape}"
            ) from None
    if g.dtype != dtype:
        g = g.to(dtype) if isinstance(g, Tensor) else np.asarray(g, dtype)
    return g


def _vjp_under_anomaly(node, upstream):
    """detect_anomaly: run the VJP without the forward checks of the ops inside it, then name
    this node (and the line that created it) if a gradient came out NaN or inf."""
    state.anomaly = False
    try:
        result = _call_backward(node, upstream)
    finally:
        state.anomaly = True
    for index, g in enumerate(result if type(result) is tuple else (result,)):
        if g is not None and not np.all(np.isfinite(g.data if isinstance(g, Tensor) else g)):
            raise FloatingPointError(
                f"detect_anomaly: backward of '{node.name}' returned NaN/inf in the gradient for input "
                f"{index} (shape {np.shape(g.data if isinstance(g, Tensor) else g)}); the node was "
                f"created at {node.site}"
            )
    return result


def _apply_hooks(node, upstream, on_arrays):
    """Run the tensor hooks registered on node's outputs; a returned gradient must keep the shape."""
    single = type(upstream) is not list
    upstream = list(_per_output(upstream))
    for index, fn in node.pre_hooks:
        g = _tensor(upstream[index])
        if g is None:
            continue
        with _user_code():
            result = fn(g)
        if result is None:
            continue
        result = as_tensor(result, like=g)
        if result.shape != g.shape or result.dtype.kind != "f":
            raise RuntimeError(
                f"hook {getattr(fn, '__qualname__', fn)!r} on output {index} of {node!r} returned a "
                f"gradient of shape {result.shape} and dtype {result.dtype}; expected shape {g.shape} "
                f"and a floating dtype (a hook may change a gradient's values, not its shape)"
            )
        result = result if result.dtype == g.dtype else result.to(g.dtype)
        upstream[index] = result.data if on_arrays else result
    return upstream[0] if single else upstream


# -- the two entry points --------------------------------------------------------------
def _seeds(outputs, grad_outputs):
    """(position, initial gradient) per output: ones for one-element outputs, else the given gradient."""
    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
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
        seeds.append((position(out), g))
    return seeds


def backward(tensors, grad_tensors=None, retain_graph=False, create_graph=False):
    """Accumulate the gradients of `tensors` into the `.grad` of every leaf they depend on."""
    run_backward(_seeds(tensors, grad_tensors), retain_graph=retain_graph or create_graph,
                 create_graph=create_graph)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False, allow_unused=False):
    """Return d(outputs)/d(inputs) as a tuple, without touching any `.grad`.

    Only the VJPs between the outputs and the inputs run. With `create_graph=True` the
    results carry a graph, so they can be differentiated again.
    """
    inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    for i, x in enumerate(inputs):
        if not isinstance(x, Tensor) or not x._requires_grad:
            raise RuntimeError(f"grad: input {i} does not require grad")
    if retain_graph is None:
        retain_graph = create_graph
    positions = [position(x) for x in inputs]
    targets = {}
    for node, slot in positions:
        targets.setdefault(node, set()).add(slot)
    captured = run_backward(_seeds(outputs, grad_outputs), retain_graph=retain_graph, create_graph=create_graph,
                            targets=targets, accumulate=False)
    results = []
    for i, key in enumerate(positions):
        g = captured.get(key)
        if g is None and not allow_unused:
            raise RuntimeError(
                f"grad: input {i} (shape {inputs[i].shape}) was not used to compute the outputs; "
                "pass allow_unused=True to get None for it"
            )
        results.append(g)
    return tuple(results)
