"""Helpers shared by the test modules (importable as `helpers`: pytest puts tests/ on sys.path)."""
import re

import numpy as np
import pytest

import autograd as ag


def f64(data, requires_grad=True, name=None):
    """A float64 leaf, the dtype every numerical check uses."""
    return ag.tensor(data, dtype=np.float64, requires_grad=requires_grad, name=name)


def randn(*shape, seed=0):
    """A float64 leaf of standard normal values."""
    return f64(np.random.default_rng(seed).standard_normal(shape))


def raises(exc, message):
    """pytest.raises for an exact error message (no regex)."""
    return pytest.raises(exc, match=re.escape(message))


def against_torch(ours, theirs, arrays, atol=1e-10):
    """ours(*inputs) and theirs(*inputs) agree in float64: the forward and, under one random upstream
    gradient, the gradient of every float input. Integer arrays go in as labels, None as None."""
    torch = pytest.importorskip("torch")
    differentiable = [a is not None and a.dtype.kind == "f" for a in arrays]
    xs = [None if a is None else ag.tensor(a, requires_grad=d) for a, d in zip(arrays, differentiable)]
    ts = [None if a is None else torch.tensor(a, requires_grad=d) for a, d in zip(arrays, differentiable)]
    y, yt = ours(*xs), theirs(*ts)
    assert y.shape == tuple(yt.shape)
    np.testing.assert_allclose(y.data, yt.detach().numpy(), rtol=1e-10, atol=atol)
    g = np.random.default_rng(0).standard_normal(y.shape)
    y.backward(ag.tensor(g))
    yt.backward(torch.tensor(g))
    for x, t, d in zip(xs, ts, differentiable):
        if d:
            np.testing.assert_allclose(x.grad.data, t.grad.numpy(), rtol=1e-10, atol=atol)


def graph_nodes(t):
    """Every backward node behind t, each once."""
    seen, stack = {}, [t.grad_fn]
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen[node] = None
        stack.extend(edge.node for edge in node.next if edge is not None)
    return list(seen)


def neuron():
    """micrograd's neuron o = tanh(x1·w1 + x2·w2 + b) on named float64 scalars: (o, {name: leaf})."""
    leaves = {name: f64(value, name=name) for name, value in
              (("x1", 2.0), ("x2", 0.0), ("w1", -3.0), ("w2", 1.0), ("b", 6.8813735870195432))}
    o = (leaves["x1"] * leaves["w1"] + leaves["x2"] * leaves["w2"] + leaves["b"]).tanh()
    return o, leaves


def gradcheck_and_torch(ours, theirs, *arrays, atol=1e-10):
    """ours passes gradcheck in its float inputs (float64), then agrees with PyTorch's theirs: values and
    gradients (skipped without torch). Integer arrays (indices, labels) go in as they are."""
    def of_floats(*floats):
        given = iter(floats)
        return ours(*[next(given) if a.dtype.kind == "f" else ag.tensor(a) for a in arrays])

    assert ag.gradcheck(of_floats, [f64(a) for a in arrays if a.dtype.kind == "f"])
    against_torch(ours, theirs, list(arrays), atol)


def torch_fn(name):
    """PyTorch's function `name` (dotted, e.g. "nn.functional.gelu"), imported when called: test modules
    stay importable without torch."""
    def call(*args, **kwargs):
        fn = pytest.importorskip("torch")
        for part in name.split("."):
            fn = getattr(fn, part)
        return fn(*args, **kwargs)

    return call


def op_names(t):
    """The names of the ops behind t (the leaves' gradient accumulators left out)."""
    return {node.name for node in graph_nodes(t)} - {"accumulate_grad"}
