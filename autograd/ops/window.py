"""Sliding windows: `unfold` (im2col) and its adjoint `fold` (col2im), and their wide pair for stride 1.

For an input (N, C, *S) with 1, 2 or 3 spatial axes S, unfold lays windows out as
(N, C, *K, *O): the kernel axes K before the output positions O,

    cols[n, c, i, j, p, q] = x[n, c, p·s₀ + i·d₀, q·s₁ + j·d₁]

With `batch_last=True` the input has one more, innermost batch axis: (B, C, *S, n) → (B, C, *K, *O, n),
the batch cut into B chunks of n images. Every window row is then one contiguous run of OW·n values
and a convolution's GEMM is as wide as a chunk (the layout nn.functional uses for small images).
Fold adds each window back, so fold is exactly unfold's transpose: ⟨unfold(x), c⟩ = ⟨x, fold(c)⟩.
Convolution and pooling are composites over this pair.

Speed (CPU time at one thread; see parallel.py for the threads): unfold is one strided copy from an
`as_strided` view of every window, 1.5–1.65× faster than one copy per kernel offset (and per band of
rows) on conv shapes (N8 C64 58² 3×3: 7.4 → 4.5 ms); fold adds one strided slice per kernel offset,
and assigns instead of adding when windows do not overlap (pooling with kernel = stride, (64, 6, 24, 24):
0.44 → 0.20 ms). Large stride-1 convolutions use the wide pair below, whose fold is faster still.
Both split their leading axis over `parallel.run` (the channels when there is a single chunk).
"""
import itertools

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .. import parallel
from ..function import Formula, Function, primitive
from .shape import getitem, pad


def output_size(size, kernel, stride, dilation):
    """⌊(size − d·(k − 1) − 1) / s⌋ + 1 windows along one (already padded) axis."""
    return (size - dilation * (kernel - 1) - 1) // stride + 1


_positions = output_size  # fold's `output_size` argument shadows the function's name


def _window_slices(offsets, outs, strides, dilations):
    """For kernel offsets (i, j): the strided slices of the input that offset touches."""
    return tuple(slice(o * d, o * d + s * (n - 1) + 1, s) for o, n, s, d in zip(offsets, outs, strides, dilations))


def _windows(x, kernel, outs, stride, dilation):
    """A read-only strided view of every window of x (N, C, *S[, n]): (N, C, *K, *O[, n])."""
    end = 2 + len(kernel)
    s = x.strides
    strides = (s[:2] + tuple(d * t for d, t in zip(dilation, s[2:end]))
               + tuple(st * t for st, t in zip(stride, s[2:end])) + s[end:])
    return as_strided(x, x.shape[:2] + kernel + outs + x.shape[end:], strides, writeable=False)


def _over_parts(fn, shape, work):
    """fn(index) on slices of the leading axis (of the second when the first has one entry), in parallel."""
    axis = 0 if shape[0] > 1 else 1
    lead = (slice(None),) * axis
    parallel.run(lambda start, stop: fn(lead + (slice(start, stop),)), shape[axis], work)


def _overlapping(kernel, stride, dilation):
    """True when two windows may share an input element (dilated windows count as overlapping)."""
    return any(k > 1 and (d > 1 or s < k) for k, s, d in zip(kernel, stride, dilation))


@primitive
class Unfold(Function):
    formula = Formula(("x",), "unfold(x): every window as a column", r"\operatorname{unfold}(x)",
                      ("fold(ḡ): add each window's gradient back where it came from",),
                      (r"\operatorname{fold}(\bar{g})",))

    @staticmethod
    def forward(ctx, x, kernel, stride, dilation, batch_last=False):
        spatial = x.shape[2:2 + len(kernel)]
        outs = tuple(output_size(n, k, s, d) for n, k, s, d in zip(spatial, kernel, stride, dilation))
        ctx.spatial, ctx.kernel, ctx.stride, ctx.dilation = spatial, kernel, stride, dilation
        ctx.batch_last = batch_last
        if batch_last:  # runs of OW·n values need the batch innermost in memory too
            x = np.ascontiguousarray(x)
        view = _windows(x, kernel, outs, stride, dilation)
        cols = np.empty(view.shape, dtype=x.dtype)
        _over_parts(lambda part: np.copyto(cols[part], view[part]), cols.shape, cols.size)
        return cols

    @staticmethod
    def backward(ctx, g):
        return Fold.apply(g, spatial=ctx.spatial, kernel=ctx.kernel, stride=ctx.stride, dilation=ctx.dilation,
                          batch_last=ctx.batch_last)


@primitive
class Fold(Function):
    formula = Formula(("c",), "fold(c): add every column back into its window", r"\operatorname{fold}(c)",
                      ("unfold(ḡ)",), (r"\operatorname{unfold}(\bar{g})",))

    @staticmethod
    def forward(ctx, cols, spatial, kernel, stride, dilation, batch_last=False):
        ctx.kernel, ctx.stride, ctx.dilation, ctx.batch_last = kernel, stride, dilation, batch_last
        nk = len(kernel)
        outs = cols.shape[2 + nk:2 + 2 * nk]
        x = np.zeros(cols.shape[:2] + tuple(spatial) + cols.shape[2 + 2 * nk:], dtype=cols.dtype)
        overlapping = _overlapping(kernel, stride, dilation)
        offsets = list(itertools.product(*map(range, kernel)))

        def fold_part(part):
            xp, cp = x[part], cols[part]
            for o in offsets:
                every = (slice(None), slice(None))
                window, column = xp[every + _window_slices(o, outs, stride, dilation)], cp[every + o]
                if overlapping:
                    window += column
                else:
                    np.copyto(window, column)

        _over_parts(fold_part, x.shape, cols.size)
        return x

    @staticmethod
    def backward(ctx, g):
        return Unfold.apply(g, kernel=ctx.kernel, stride=ctx.stride, dilation=ctx.dilation, batch_last=ctx.batch_last)


# The wide layout for stride 1 (2-d): flatten each padded image (H, W) to H·W values. Output row p
# is then computed over the full width W (columns q ≥ OW wrap into the next row and are cropped by
# the caller), and each kernel offset (i, j) becomes one contiguous run of the flat image:
#
#     cols[n, c, i, j, t] = x_flat[n, c, t + i·d₀·W + j·d₁],   t < L = OH·W − d₁·(KW − 1)
#
# (the last d₁·(KW − 1) columns of each row, past the image's end, are 0). Fold is then KH·KW
# contiguous adds of long runs. Measured (CPU time, one thread) against the strided pair: fold
# 14.5 → 5.0 ms on N8 C64 58² 3×3 and 5.4 → 4.2 ms on N32 C16 34² 3×3, unfold about the same, at
# the price of W/OW more GEMM columns (see nn.functional for when it pays).
def _wide_sizes(spatial, kernel, dilation):
    """OH, OW, and L, the wide positions whose window lies inside the flat image."""
    (H, W), (KH, KW), (d0, d1) = spatial, kernel, dilation
    OH, OW = H - d0 * (KH - 1), W - d1 * (KW - 1)
    return OH, OW, OH * W - d1 * (KW - 1)


@primitive
class UnfoldWide(Function):
    name = "unfold_wide"
    formula = Formula(("x",), "unfold_wide(x): every stride-1 window over the full width, as a column",
                      r"\operatorname{unfold\_wide}(x)", ("fold_wide(ḡ)",), (r"\operatorname{fold\_wide}(\bar{g})",))

    @staticmethod
    def forward(ctx, x, kernel, dilation):
        N, C, H, W = x.shape
        OH, _, L = _wide_sizes((H, W), kernel, dilation)
        ctx.spatial, ctx.kernel, ctx.dilation = (H, W), kernel, dilation
        flat = np.ascontiguousarray(x).reshape(N, C, H * W)
        s = flat.strides
        view = as_strided(flat, (N, C) + kernel + (L,), s[:2] + (dilation[0] * W * s[2], dilation[1] * s[2], s[2]),
                          writeable=False)
        cols = np.empty((N, C) + kernel + (OH * W,), dtype=x.dtype)

        def unfold_part(part):
            np.copyto(cols[part + (Ellipsis, slice(None, L))], view[part])
            cols[part + (Ellipsis, slice(L, None))] = 0

        _over_parts(unfold_part, cols.shape, cols.size)
        return cols

    @staticmethod
    def backward(ctx, g):
        return FoldWide.apply(g, spatial=ctx.spatial, kernel=ctx.kernel, dilation=ctx.dilation)


@primitive
class FoldWide(Function):
    name = "fold_wide"
    formula = Formula(("c",), "fold_wide(c): add every wide column back into its window",
                      r"\operatorname{fold\_wide}(c)", ("unfold_wide(ḡ)",),
                      (r"\operatorname{unfold\_wide}(\bar{g})",))

    @staticmethod
    def forward(ctx, cols, spatial, kernel, dilation):
        ctx.kernel, ctx.dilation = kernel, dilation
        (H, W), (KH, KW), (d0, d1) = spatial, kernel, dilation
        _, _, L = _wide_sizes(spatial, kernel, dilation)
        N, C = cols.shape[:2]
        x = np.zeros((N, C, H * W), dtype=cols.dtype)
        starts = [((i, j), i * d0 * W + j * d1) for i in range(KH) for j in range(KW)]

        def fold_part(part):
            xp, cp = x[part], cols[part]
            for (i, j), start in starts:
                xp[:, :, start:start + L] += cp[:, :, i, j, :L]

        _over_parts(fold_part, cols.shape, cols.size)
        return x.reshape(N, C, H, W)

    @staticmethod
    def backward(ctx, g):
        return UnfoldWide.apply(g, kernel=ctx.kernel, dilation=ctx.dilation)


def ints(value, n, name, op, low):
    """An int or n ints → a tuple of n ints, each ≥ low (the error names the op and what came)."""
    out = (value,) * n if isinstance(value, (int, np.integer)) else tuple(value)
    if len(out) != n or not all(isinstance(v, (int, np.integer)) for v in out):
        raise ValueError(f"{op}: {name} must be an int or a tuple of {n} ints, got {value!r}")
    if min(out) < low:
        raise ValueError(f"{op}: {name} must be ≥ {low}, got {value!r}")
    return tuple(int(v) for v in out)


def window_params(x_ndim, kernel_size, stride, padding, dilation, op):
    """Normalise kernel/stride/padding/dilation to tuples, one entry per spatial axis."""
    n = x_ndim - 2
    if n not in (1, 2, 3):
        raise ValueError(f"{op}: expected input (N, C, L), (N, C, H, W) or (N, C, D, H, W), got {x_ndim} dimensions")
    return (ints(kernel_size, n, "kernel_size", op, 1), ints(stride, n, "stride", op, 1),
            ints(padding, n, "padding", op, 0), ints(dilation, n, "dilation", op, 1))


def check_fits(op, spatial, pads, kernel, dilation):
    """Every window must fit inside the padded input (pads: (before, after) per spatial axis)."""
    padded = tuple(s + before + after for s, (before, after) in zip(spatial, pads))
    span = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
    if any(w > p for w, p in zip(span, padded)):
        raise ValueError(f"{op}: kernel {kernel} (dilation {dilation}, spanning {span}) is larger than the "
                         f"padded input {padded} (input {tuple(spatial)}, padding {tuple(pads)})")


def unfold(x, kernel_size, stride=1, padding=0, dilation=1, batch_last=False):
    """im2col: (N, C, *S) → (N, C, *K, *O) windows, zero padding first.

    batch_last: x has an innermost batch axis, (N, C, *S, n) → (N, C, *K, *O, n)."""
    kernel, stride, padding, dilation = window_params(x.ndim - batch_last, kernel_size, stride, padding, dilation,
                                                      "unfold")
    pads = tuple((p, p) for p in padding)
    check_fits("unfold", x.shape[2:2 + len(kernel)], pads, kernel, dilation)
    if any(padding):
        x = pad(x, ((0, 0), (0, 0)) + pads + ((0, 0),) * batch_last)
    return Unfold.apply(x, kernel=kernel, stride=stride, dilation=dilation, batch_last=batch_last)


def fold(cols, output_size, kernel_size, stride=1, padding=0, dilation=1, batch_last=False):
    """col2im: (N, C, *K, *O) → (N, C, *output_size), summing overlapping windows; adjoint of unfold.

    batch_last: (N, C, *K, *O, n) → (N, C, *output_size, n)."""
    n = len(tuple(np.atleast_1d(output_size)))
    kernel, stride, padding, dilation = window_params(n + 2, kernel_size, stride, padding, dilation, "fold")
    size = ints(output_size, n, "output_size", "fold", 1)
    if cols.ndim != 2 + 2 * n + batch_last or cols.shape[2:2 + n] != kernel:
        layout = f"(N, C, *{kernel}, *out{', n' if batch_last else ''})"
        raise ValueError(f"fold: expected columns {layout}, got shape {cols.shape}")
    padded = tuple(s + 2 * p for s, p in zip(size, padding))
    outs = tuple(map(_positions, padded, kernel, stride, dilation))
    if cols.shape[2 + n:2 + 2 * n] != outs:
        raise ValueError(f"fold: output_size {size} with kernel {kernel}, stride {stride}, padding {padding}, "
                         f"dilation {dilation} has {outs} window positions, got columns of shape {cols.shape}")
    x = Fold.apply(cols, spatial=padded, kernel=kernel, stride=stride, dilation=dilation, batch_last=batch_last)
    if any(padding):
        x = getitem(x, (slice(None), slice(None)) + tuple(slice(p, p + s) for p, s in zip(padding, size)))
    return x


def _wide_params(ndim, kernel_size, dilation, op):
    if ndim != 4:
        raise ValueError(f"{op}: expected (N, C, H, W) input, got {ndim} dimensions")
    kernel, _, _, dilation = window_params(4, kernel_size, 1, 0, dilation, op)
    return kernel, dilation


def unfold_wide(x, kernel_size, dilation=1):
    """Stride-1 im2col over the full width: (N, C, H, W) → (N, C, KH, KW, OH·W).

    Column p·W + q holds window (p, q); the columns q ≥ OW = W − d·(KW − 1) wrap into the next row
    (the caller crops them). Pad x first for a padded convolution.
    """
    kernel, dilation = _wide_params(x.ndim, kernel_size, dilation, "unfold_wide")
    check_fits("unfold_wide", x.shape[2:], ((0, 0), (0, 0)), kernel, dilation)
    return UnfoldWide.apply(x, kernel=kernel, dilation=dilation)


def fold_wide(cols, output_size, kernel_size, dilation=1):
    """Adjoint of unfold_wide: (N, C, KH, KW, OH·W) → (N, C, H, W), summing overlapping windows."""
    kernel, dilation = _wide_params(4, kernel_size, dilation, "fold_wide")
    size = ints(output_size, 2, "output_size", "fold_wide", 1)
    check_fits("fold_wide", size, ((0, 0), (0, 0)), kernel, dilation)
    OH = _wide_sizes(size, kernel, dilation)[0]
    if cols.ndim != 5 or cols.shape[2:] != kernel + (OH * size[1],):
        raise ValueError(f"fold_wide: expected columns (N, C, *{kernel}, {OH * size[1]}) for output_size {size}, "
                         f"got shape {cols.shape}")
    return FoldWide.apply(cols, spatial=size, kernel=kernel, dilation=dilation)
