"""Argument checks shared by the nn.functional composites (conv, pooling, resampling): each error names
the op, what was expected and what came (`ints` and `check_fits` live with the window primitives,
`autograd.ops.window`, which check the same arguments)."""
#: The input layout of a composite with 1, 2 or 3 spatial axes.
LAYOUTS = {1: "(N, C, L)", 2: "(N, C, H, W)", 3: "(N, C, D, H, W)"}


def check_rank(t, ndim, layout, op, what="input"):
    if t.ndim != ndim:
        raise ValueError(f"{op}: expected {what} of shape {layout}, got shape {tuple(t.shape)} "
                         f"({t.ndim} dimensions)")
