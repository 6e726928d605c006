"""Argument checks shared by the nn.functional composites (conv, pooling, resampling): each error names
the op, what was expected and what came."""
import numpy as np

#: The input layout of a composite with 1, 2 or 3 spatial axes.
LAYOUTS = {1: "(N, C, L)", 2: "(N, C, H, W)", 3: "(N, C, D, H, W)"}


def ints(value, n, name, op, low):
    """An int or n ints → a tuple of n ints, each ≥ low."""
    out = (value,) * n if isinstance(value, (int, np.integer)) else tuple(value)
    if len(out) != n or not all(isinstance(v, (int, np.integer)) for v in out):
        raise ValueError(f"{op}: {name} must be an int or a tuple of {n} ints, got {value!r}")
    if min(out) < low:
        raise ValueError(f"{op}: {name} must be ≥ {low}, got {value!r}")
    return tuple(int(v) for v in out)


def check_rank(t, ndim, layout, op, what="input"):
    if t.ndim != ndim:
        raise ValueError(f"{op}: expected {what} of shape {layout}, got shape {tuple(t.shape)} "
                         f"({t.ndim} dimensions)")


def check_fits(op, spatial, pads, kernel, dilation):
    """Every window must fit inside the padded input."""
    padded = tuple(s + before + after for s, (before, after) in zip(spatial, pads))
    span = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
    if any(w > p for w, p in zip(span, padded)):
        raise ValueError(f"{op}: kernel {kernel} (dilation {dilation}, spanning {span}) is larger than the "
                         f"padded input {padded} (input {spatial}, padding {tuple(pads)})")
