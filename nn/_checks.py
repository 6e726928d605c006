"""Argument checks shared by the nn.functional composites (conv, pooling, resampling), and the one example
without a batch axis that conv and pooling also take (`takes_unbatched`). Each error names the op, what was
expected and what came (`ints` and `check_fits` live with the window primitives, `autograd.ops.window`, which
check the same arguments)."""
import functools
import inspect

import numpy as np

#: The input layout of a composite with 1, 2 or 3 spatial axes.
LAYOUTS = {1: "(N, C, L)", 2: "(N, C, H, W)", 3: "(N, C, D, H, W)"}
#: One example of that layout (conv and pooling take it too: `takes_unbatched`).
UNBATCHED = {n: layout.replace("N, ", "") for n, layout in LAYOUTS.items()}
BATCHED_OR_NOT = {n: f"{LAYOUTS[n]} or {UNBATCHED[n]}" for n in LAYOUTS}


def check_layer_input(layer, x):
    """A conv or pooling layer with `layer.n` spatial axes takes a batch or one example (`takes_unbatched`)."""
    n = layer.n
    if x.ndim not in (n + 1, n + 2):
        raise ValueError(f"{layer.describe()}: expected a {n + 2}-D input {LAYOUTS[n]} or a {n + 1}-D one "
                         f"{UNBATCHED[n]}, got shape {tuple(x.shape)}")


def takes_unbatched(n, also=()):
    """Decorator for a conv or pooling composite over x (N, C, *spatial) with n spatial axes: it also takes
    one example, x (C, *spatial), as PyTorch's do. That runs as a batch of one, x[None] (and the arguments of
    x's shape named in `also`, such as unpooling's indices, likewise), and the batch axis is dropped again
    from what the composite returns (from both tensors of a (y, indices) pair). Put it innermost, inside the
    composite's `scoped`: the reshapes then belong to the layer in pictures and derivations, and its layer
    rule sees the example as its input."""
    def wrap(composite):
        signature = inspect.signature(composite)

        @functools.wraps(composite)
        def call(x, *args, **kwargs):
            if getattr(x, "ndim", None) != n + 1:
                return composite(x, *args, **kwargs)
            bound = signature.bind(x, *args, **kwargs)
            bound.arguments[next(iter(signature.parameters))] = x[None]
            for name in also:
                bound.arguments[name] = _one_more_axis(bound.arguments[name], x, name, composite.__name__)
            out = composite(*bound.args, **bound.kwargs)
            return tuple(o[0] for o in out) if isinstance(out, tuple) else out[0]
        call.__doc__ = with_one_example(composite.__doc__, n)
        return call
    return wrap


def with_one_example(doc, n):
    """A docstring of a composite that `takes_unbatched`, with a sentence saying so."""
    return (f"{inspect.cleandoc(doc or '')}\n\nTakes one example {UNBATCHED[n]} too, without the batch axis, as "
            "PyTorch does: it runs as the batch of one.")


def _one_more_axis(value, x, name, op):
    """value (a Tensor, an array or nested lists of x's shape) with a batch axis of one in front."""
    if not hasattr(value, "shape"):
        value = np.asarray(value)
    if tuple(value.shape) != tuple(x.shape):
        raise ValueError(f"{op}: {name} must have the input's shape {tuple(x.shape)}, got {tuple(value.shape)}")
    return value[None]


def check_rank(t, ndim, layout, op, what="input"):
    if t.ndim != ndim:
        raise ValueError(f"{op}: expected {what} of shape {layout}, got shape {tuple(t.shape)} "
                         f"({t.ndim} dimensions)")
