"""Neural-network functions as composites of the engine's primitives (import as `F`).

Nothing here has backward code: every gradient follows by the chain rule through
the primitives' VJPs (so everything is also twice differentiable). Each composite
runs inside `scope(name)`, so backward graphs show it as one cluster.

Convolution and pooling are built on one adjoint pair, `unfold` (im2col) and
`fold` (col2im). `unfold` lays windows out as (N, C, KH, KW, OH, OW), so

    conv:  pad → unfold → reshape (N, G, C/G·KH·KW, OH·OW) → shared_matmul(W, cols) → (N, K, OH, OW)
    pool:  pad → unfold → max or mean over the kernel axes (2, 3)

For speed the convolution picks its windows' layout by shape (the math is the same; see `_conv_layout`):
chunks of images with the batch innermost for small images, the wide stride-1 pair `unfold_wide` /
`fold_wide` for large ones.

Shapes follow PyTorch (NCHW, weights (K, C/groups, KH, KW)).
"""
import math

import numpy as np

import autograd as ag
from autograd.grad_mode import no_grad, scoped
from autograd.layer_rules import layer_rule
from autograd.ops.reduce import normalize_axes
from autograd.ops.window import check_fits, ints
from autograd.tensor import Tensor, as_tensor

from . import layer_rules as rules
from ._checks import BATCHED_OR_NOT, check_rank, takes_unbatched
from .pooling import (adaptive_avg_pool1d, adaptive_avg_pool2d, adaptive_avg_pool3d,  # noqa: F401
                      adaptive_max_pool1d, adaptive_max_pool2d, adaptive_max_pool3d,
                      avg_pool1d, avg_pool2d, avg_pool3d, max_pool1d, max_pool2d, max_pool3d)
from .resample import interpolate, max_unpool2d, pad  # noqa: F401  (composites of their own modules)

__all__ = [
    "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d", "locally_connected2d",
    "max_pool1d", "max_pool2d", "max_pool3d", "avg_pool1d", "avg_pool2d", "avg_pool3d",
    "adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d",
    "adaptive_max_pool1d", "adaptive_max_pool2d", "adaptive_max_pool3d",
    "softmax", "log_softmax", "cross_entropy", "nll_loss", "mse_loss", "l1_loss",
    "binary_cross_entropy", "binary_cross_entropy_with_logits", "multi_margin_loss",
    "linear", "relu", "leaky_relu", "sigmoid", "tanh", "dropout", "batch_norm", "flatten",
    "gelu", "elu", "selu", "celu", "silu", "mish", "softplus", "softsign", "hardtanh", "relu6", "hardsigmoid",
    "hardswish", "logsigmoid", "normalize", "one_hot", "pad", "interpolate", "max_unpool2d",
]


# -- argument checks (the shared ones are in nn._checks) ------------------------------------------
KERNEL = {1: "KL", 2: "KH, KW", 3: "KD, KH, KW"}
SIDES = {1: "((left, right),)", 2: "((top, bottom), (left, right))",
         3: "((front, back), (top, bottom), (left, right))"}


def _check_input(x, n, op):
    """x must be (N, C, L) for n = 1 spatial axis, (N, C, H, W) for n = 2, (N, C, D, H, W) for n = 3 (one example
    without N is made a batch of one by `takes_unbatched` before this check)."""
    check_rank(x, n + 2, BATCHED_OR_NOT[n], op)


def _check_weight(w, n, lead, op):
    """w must be (*lead, KL), (*lead, KH, KW) or (*lead, KD, KH, KW), `lead` naming its first two axes."""
    check_rank(w, n + 2, f"({lead}, {KERNEL[n]})", op, "weight")



def _conv_padding(padding, kernel, stride, dilation, op):
    """(before, after) per spatial axis from an int (every side), one int per axis (both its sides), one
    (before, after) pair per axis, 'valid' (none) or 'same' (d·(k−1) split, the extra on the after side)."""
    n = len(kernel)
    if isinstance(padding, (tuple, list)) and any(isinstance(p, (tuple, list)) for p in padding):
        if (len(padding) != n or not all(isinstance(p, (tuple, list)) and len(p) == 2 for p in padding)
                or not all(isinstance(v, (int, np.integer)) and v >= 0 for p in padding for v in p)):
            raise ValueError(f"{op}: padding per side must be {n} (before, after) pairs of ints ≥ 0, {SIDES[n]}, "
                             f"got {padding!r}")
        return tuple((int(before), int(after)) for before, after in padding)
    if isinstance(padding, str):
        if padding == "valid":
            return tuple((0, 0) for _ in kernel)
        if padding != "same":
            raise ValueError(f"{op}: padding must be an int, a tuple, 'same' or 'valid', got {padding!r}")
        if any(s != 1 for s in stride):
            raise ValueError(f"{op}: padding='same' needs stride 1, got stride {stride}")
        totals = [d * (k - 1) for k, d in zip(kernel, dilation)]
        return tuple((t // 2, t - t // 2) for t in totals)
    return tuple((p, p) for p in ints(padding, n, "padding", op, 0))


def _check_groups(groups, channels, op, what):
    if not isinstance(groups, (int, np.integer)) or groups < 1:
        raise ValueError(f"{op}: groups must be a positive int, got {groups!r}")
    if channels % groups:
        raise ValueError(f"{op}: groups={groups} must divide the {channels} {what}")


def _check_bias(b, channels, op):
    if b is not None and tuple(b.shape) != (channels,):
        raise ValueError(f"{op}: bias expects shape ({channels},), got {tuple(b.shape)}")


def _add_channel_bias(y, b):
    """y (N, K, *S) + b (K,), broadcast over the batch and spatial axes."""
    return y if b is None else y + b.reshape((1, -1) + (1,) * (y.ndim - 2))


# -- convolution ---------------------------------------------------------------------------------
def _conv(x, w, b, stride, padding, dilation, groups, op, n):
    _check_input(x, n, op)
    _check_weight(w, n, "K, C/groups", op)
    N, C = x.shape[:2]
    K, Cg = w.shape[:2]
    kernel = tuple(w.shape[2:])
    _check_groups(groups, C, op, "input channels")
    if Cg * groups != C:
        raise ValueError(f"{op}: weight expects {Cg * groups} input channels (groups={groups}), input has {C}")
    _check_groups(groups, K, op, "output channels of the weight")
    _check_bias(b, K, op)
    stride = ints(stride, n, "stride", op, 1)
    dilation = ints(dilation, n, "dilation", op, 1)
    pads = _conv_padding(padding, kernel, stride, dilation, op)
    check_fits(op, tuple(x.shape[2:]), pads, kernel, dilation)

    out = tuple(_out_size(size + sum(p), k, s, d)
                for size, p, k, s, d in zip(x.shape[2:], pads, kernel, stride, dilation))
    w = w.reshape(groups, K // groups, -1)  # (G, K/G, C/G·KH·KW): one weight matrix per group
    layout = _conv_layout(x, w, pads, kernel, stride, out)
    y = layout(x, w, pads, kernel, stride, dilation, out)
    return _add_channel_bias(y, b)


# -- convolution layouts: each is pad → unfold → shared_matmul, with the windows laid out for speed ----
# The GEMMs and the window copies split their batch over autograd.parallel's threads. Measured gains
# (CPU time of forward + backward at one thread, against one image per GEMM):
#   chunks of images, batch innermost: N64 C6 12² K16 5×5 4.0 → 2.9 ms, N64 C1 28² K6 5×5 4.0 → 2.9 ms,
#     LeNet5's second conv 5.9 → 3.4 ms at batch 64 and 22.6 → 14.1 ms at 256,
#     N32 C64 16² K64 3×3 36.9 → 32.3 ms;
#   wide (stride 1): N8 C64 56² K64 3×3 p1 95 → 93 ms (its fold 14.5 → 5.0 ms, the extra columns cost the
#     GEMMs 4 ms), N32 C16 32² K32 3×3 p1 24.5 → 24.0 ms; with no input gradient (no fold) it loses.
CHUNK_BYTES = 4 << 20  # the columns of one chunk of images: a few MB, in cache and below glibc's mmap threshold
CHUNK_POSITIONS = 768  # images with at least this many output positions make wide enough GEMMs alone
WIDE_EXTRA = 0.2  # at most this fraction of extra (wrapped-around) GEMM columns in the wide layout


def _out_size(padded, kernel, stride, dilation):
    return (padded - dilation * (kernel - 1) - 1) // stride + 1


def _conv_layout(x, w, pads, kernel, stride, out):
    """Chunks of images for small outputs; for large ones the wide layout when it pays (the input needs a
    gradient: its fold is what gets faster; stride 1; output rows nearly as wide as the padded input)."""
    if (math.prod(out) >= CHUNK_POSITIONS and x.requires_grad and len(kernel) == 2 and stride == (1, 1)
            and x.shape[3] + sum(pads[1]) <= out[1] * (1 + WIDE_EXTRA)):
        return _conv_wide
    return _conv_chunks


def _padded(x, pads, first_axis=2):
    """x with zero padding on the spatial axes from `first_axis` on (no copy when there is none)."""
    if not any(a or z for a, z in pads):
        return x
    widths = [(0, 0)] * x.ndim
    widths[first_axis:first_axis + len(pads)] = pads
    return ag.pad(x, tuple(widths))


def _chunk_size(N, image_bytes):
    """Images per chunk: columns of about CHUNK_BYTES; a divisor of N when one is at least half that size."""
    target = max(1, min(N, CHUNK_BYTES // max(1, image_bytes)))
    return next((n for n in range(target, (target - 1) // 2, -1) if N % n == 0), target)


def _conv_chunks(x, w, pads, kernel, stride, dilation, out):
    """The batch in chunks of n images, each chunk's columns (C/G·KH·KW, OH·OW·n), one GEMM per chunk.

    x (N, C, *S) is seen as (B, C, *S, n): with the chunk's images innermost every window row is one
    run of OW·n values, and small images still make wide GEMMs. n = 1 (large images) is the per-image
    layout (N, C·KH·KW, OH·OW); a batch that is not a multiple of n is padded with zero images.
    """
    N, C = x.shape[:2]
    G = w.shape[0]
    ns = len(kernel)
    L = math.prod(out)
    n = 1 if L >= CHUNK_POSITIONS else _chunk_size(N, C * math.prod(kernel) * L * x.dtype.itemsize)
    B = -(-N // n)
    if n > 1:
        if B * n > N:
            x = ag.pad(x, ((0, B * n - N),) + ((0, 0),) * (ns + 1))
        x = x.reshape((B, n) + tuple(x.shape[1:])).permute(0, *range(2, ns + 3), 1)  # (B, C, *S, n)
    cols = ag.unfold(_padded(x, pads), kernel, stride, 0, dilation, batch_last=n > 1)  # the pad makes (B, C, *S, n)
    y = ag.shared_matmul(w, cols.reshape(B, G, -1, L * n))  # (B, G, K/G, L·n)
    if n == 1:
        return y.reshape((N, -1) + out)
    y = y.reshape((B, -1) + out + (n,)).permute(0, ns + 2, *range(1, ns + 2)).reshape((B * n, -1) + out)
    # With one chunk the output stays a view with the batch innermost in memory. Copying it to NCHW order
    # (`contiguous`) was measured and dropped: a lone N64 C1 28² K6 5×5 convolution +0.47 ms, for 0.3 ms saved
    # in LeNet5's step at batch 64 (the ReLU's VJP no longer mixes orders); min of 300 and 200 steps
    # interleaved in one process.
    return y if B * n == N else y[:N]


def _conv_wide(x, w, pads, kernel, stride, dilation, out):
    """Stride 1, 2-d: every output row over the full padded width W, then the extra W − OW columns cropped.

    Each kernel offset is then one contiguous run of the flat padded image (see ag.unfold_wide).
    """
    N, G = x.shape[0], w.shape[0]
    x = _padded(x, pads)
    W = x.shape[3]
    cols = ag.unfold_wide(x, kernel, dilation).reshape(N, G, -1, out[0] * W)  # (N, G, C/G·KH·KW, OH·W)
    y = ag.shared_matmul(w, cols).reshape(N, -1, out[0], W)
    return y[:, :, :, :out[1]]


@layer_rule(rules.CONV1D)
@scoped("conv1d")
@takes_unbatched(1)
def conv1d(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    """1-d cross-correlation, like PyTorch: x (N, C, L), w (K, C/groups, KL), b (K,) → (N, K, OL).

    y[n, k, l] = b[k] + Σ_{c,i} w[k, c, i] · x[n, c, l·s + i·d]  (over the zero-padded x).
    A true convolution is this with the kernel flipped. padding: int, 'valid', 'same' (stride 1) or one
    (before, after) pair of zero columns, ((left, right),).
    """
    return _conv(x, w, b, stride, padding, dilation, groups, "conv1d", 1)


@layer_rule(rules.CONV2D)
@scoped("conv2d")
@takes_unbatched(2)
def conv2d(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    """2-d cross-correlation, like PyTorch: x (N, C, H, W), w (K, C/groups, KH, KW), b (K,) → (N, K, OH, OW).

    y[n, k, p, q] = b[k] + Σ_{c,i,j} w[k, c, i, j] · x[n, c, p·s₀ + i·d₀, q·s₁ + j·d₁]  (zero-padded x),
    OH = ⌊(H + 2·p₀ − d₀·(KH − 1) − 1) / s₀⌋ + 1. A true (flipped-kernel) convolution is this with
    w rotated by 180°. stride, padding, dilation: int or pair; padding also 'valid' or 'same' (stride 1 only;
    an odd total d·(k − 1) puts the extra row/column at the bottom/right, like PyTorch), or per side as
    ((top, bottom), (left, right)) zero rows and columns (asymmetric; OH then counts top + H + bottom, and
    PyTorch writes it as F.conv2d(F.pad(x, (left, right, top, bottom)), w)).
    Computed as pad → unfold → one matrix product per group and image (or chunk of images) → reshape (+ bias).
    """
    return _conv(x, w, b, stride, padding, dilation, groups, "conv2d", 2)


@layer_rule(rules.CONV3D)
@scoped("conv3d")
@takes_unbatched(3)
def conv3d(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    """3-d cross-correlation, like PyTorch: x (N, C, D, H, W), w (K, C/groups, KD, KH, KW), b (K,) → (N, K, OD, OH, OW).

    y[n, k, o, p, q] = b[k] + Σ_{c,h,i,j} w[k, c, h, i, j] · x[n, c, o·s₀ + h·d₀, p·s₁ + i·d₁, q·s₂ + j·d₂]
    (zero-padded x), OD = ⌊(D + 2·p₀ − d₀·(KD − 1) − 1) / s₀⌋ + 1. stride, padding, dilation: int or triple;
    padding also 'valid', 'same' or ((front, back), (top, bottom), (left, right)). The same composite as
    conv2d: pad → unfold (windows (N, C, KD, KH, KW, OD, OH, OW)) → matrix product → reshape (+ bias).
    """
    return _conv(x, w, b, stride, padding, dilation, groups, "conv3d", 3)


def _conv_transpose(x, w, b, stride, padding, output_padding, groups, dilation, op, n):
    _check_input(x, n, op)
    _check_weight(w, n, "C, K/groups", op)
    N, C = x.shape[:2]
    Cw, Kg = w.shape[:2]
    kernel = tuple(w.shape[2:])
    if Cw != C:
        raise ValueError(f"{op}: weight expects {Cw} input channels, input has {C}")
    _check_groups(groups, C, op, "input channels")
    K = Kg * groups
    _check_bias(b, K, op)
    stride = ints(stride, n, "stride", op, 1)
    padding = ints(padding, n, "padding", op, 0)
    dilation = ints(dilation, n, "dilation", op, 1)
    output_padding = ints(output_padding, n, "output_padding", op, 0)
    if any(o >= max(s, d) for o, s, d in zip(output_padding, stride, dilation)):
        raise ValueError(f"{op}: output_padding {output_padding} must be smaller than stride {stride} "
                         f"or dilation {dilation}")
    spatial = tuple(x.shape[2:])
    out = tuple((i - 1) * s - 2 * p + d * (k - 1) + o + 1
                for i, s, p, d, k, o in zip(spatial, stride, padding, dilation, kernel, output_padding))
    if min(out) < 1:
        raise ValueError(f"{op}: output size {out} is not positive (input {spatial}, kernel {kernel}, "
                         f"stride {stride}, padding {padding})")

    xg = x.reshape(N, groups, C // groups, math.prod(spatial))
    wg = w.reshape(groups, C // groups, -1).mT  # (G, K/G·KH·KW, C/G): the conv weight matrix, transposed
    cols = (wg @ xg).reshape((N, K) + kernel + spatial)  # every input pixel's contribution to its window
    return _add_channel_bias(_cropped(_fold_every_window(cols, kernel, stride, dilation), padding, out), b)


def _fold_every_window(cols, kernel, stride, dilation):
    """col2im onto the full extent the windows cover, (i − 1)·s + d·(k − 1) + 1 per axis: overlaps added."""
    spatial = cols.shape[2 + len(kernel):]
    full = tuple((i - 1) * s + d * (k - 1) + 1 for i, s, d, k in zip(spatial, stride, dilation, kernel))
    return ag.fold(cols, full, kernel, stride, 0, dilation)


def _cropped(y, padding, out):
    """y[..., p : p + out] per spatial axis; past y's end (output_padding beyond the last window) come zeros."""
    full = tuple(y.shape[2:])
    ends = tuple(p + o for p, o in zip(padding, out))
    if any(e > f for e, f in zip(ends, full)):
        y = ag.pad(y, ((0, 0), (0, 0)) + tuple((0, max(0, e - f)) for e, f in zip(ends, full)))
    if not any(padding):  # then out = full + output_padding: the zeros made y just long enough
        return y
    return y[(slice(None), slice(None)) + tuple(slice(p, e) for p, e in zip(padding, ends))]


@scoped("conv_transpose1d")
@takes_unbatched(1)
def conv_transpose1d(x, w, b=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """1-d transposed convolution (the adjoint of conv1d in x): x (N, C, L), w (C, K/groups, KL) → (N, K, OL).

    OL = (L − 1)·s − 2·p + d·(KL − 1) + output_padding + 1. Computed as cols = Wᵀ·x, then fold (col2im).
    """
    return _conv_transpose(x, w, b, stride, padding, output_padding, groups, dilation, "conv_transpose1d", 1)


@scoped("conv_transpose2d")
@takes_unbatched(2)
def conv_transpose2d(x, w, b=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """2-d transposed convolution, PyTorch's layout: x (N, C, H, W), w (C, K/groups, KH, KW), b (K,) → (N, K, OH, OW).

    It is the adjoint of conv2d in its input: conv_transpose2d(g, w) = ∂⟨conv2d(x, w), g⟩/∂x.
    Each input pixel scatters x[n, c, h, w]·w[c, k] into a KH×KW window of the output at (h·s, w·s):
    cols = Wᵀ·x (one batched matmul), then fold (col2im) sums the overlaps and crops `padding`;
    OH = (H − 1)·s₀ − 2·p₀ + d₀·(KH − 1) + output_padding₀ + 1.
    """
    return _conv_transpose(x, w, b, stride, padding, output_padding, groups, dilation, "conv_transpose2d", 2)


@scoped("conv_transpose3d")
@takes_unbatched(3)
def conv_transpose3d(x, w, b=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """3-d transposed convolution (the adjoint of conv3d in x): x (N, C, D, H, W), w (C, K/groups, KD, KH, KW),
    b (K,) → (N, K, OD, OH, OW).

    OD = (D − 1)·s₀ − 2·p₀ + d₀·(KD − 1) + output_padding₀ + 1 (likewise OH, OW). Computed as cols = Wᵀ·x, then
    fold (col2im).
    """
    return _conv_transpose(x, w, b, stride, padding, output_padding, groups, dilation, "conv_transpose3d", 3)


@scoped("locally_connected2d")
def locally_connected2d(x, w, b=None, stride=1, padding=0):
    """Convolution without weight sharing: every output position has its own filter.

    x (N, C, H, W); w (OH, OW, K, C, KH, KW): w[p, q] is the K×C×KH×KW filter bank used at output (p, q);
    b (K, OH, OW) or None → (N, K, OH, OW).

    y[n, k, p, q] = b[k, p, q] + Σ_{c,i,j} w[p, q, k, c, i, j] · x[n, c, p·s₀ + i, q·s₁ + j]
    Computed as unfold → one matmul per output position (batched over the L = OH·OW positions).
    """
    op = "locally_connected2d"
    check_rank(x, 4, "(N, C, H, W)", op)
    check_rank(w, 6, "(OH, OW, K, C, KH, KW)", op, "weight")
    N, C = x.shape[:2]
    OH, OW, K, Cw = w.shape[:4]
    kernel = tuple(w.shape[4:])
    if Cw != C:
        raise ValueError(f"{op}: weight expects {Cw} input channels, input has {C}")
    stride = ints(stride, 2, "stride", op, 1)
    padding = ints(padding, 2, "padding", op, 0)
    check_fits(op, tuple(x.shape[2:]), tuple((p, p) for p in padding), kernel, (1, 1))
    cols = ag.unfold(x, kernel, stride, padding)  # (N, C, KH, KW, OH, OW)
    out = tuple(cols.shape[4:])
    if out != (OH, OW):
        raise ValueError(f"{op}: weight is laid out for a {OH}×{OW} output grid, but input {tuple(x.shape[2:])} "
                         f"with kernel {kernel}, stride {stride}, padding {padding} gives {out[0]}×{out[1]}")
    if b is not None and tuple(b.shape) != (K, OH, OW):
        raise ValueError(f"{op}: bias expects shape {(K, OH, OW)}, got {tuple(b.shape)}")
    L = OH * OW
    cols = cols.reshape(N, C * math.prod(kernel), L).permute(2, 1, 0)  # (L, C·KH·KW, N)
    y = w.reshape(L, K, -1) @ cols  # (L, K, N): position l uses its own (K, C·KH·KW) matrix
    y = y.permute(2, 1, 0).reshape(N, K, OH, OW)
    return y if b is None else y + b


# -- softmax and losses --------------------------------------------------------------------------
def _shifted(x, axis):
    """x − max(x) along axis: exp of it cannot overflow. The shift cancels in (log-)softmax, so it is a
    constant here (no gradient flows through the max)."""
    return x - ag.from_numpy(np.max(x.data, axis=axis, keepdims=True))


@layer_rule(rules.SOFTMAX)
@scoped("softmax")
def softmax(x, axis=-1, *, dim=None):
    """softmax(x)ᵢ = e^(xᵢ − m) / Σⱼ e^(xⱼ − m), m = max x (stable for any finite logits)."""
    axis = normalize_axes(axis if dim is None else dim, x.ndim)  # a 0-d tensor takes axis 0 or −1, like PyTorch
    z = _shifted(x, axis).exp()
    return z / z.sum(axis, keepdims=True)


@layer_rule(rules.LOG_SOFTMAX)
@scoped("log_softmax")
def log_softmax(x, axis=-1, *, dim=None):
    """log softmax(x)ᵢ = (xᵢ − m) − log Σⱼ e^(xⱼ − m), m = max x (stable for any finite logits)."""
    axis = normalize_axes(axis if dim is None else dim, x.ndim)
    z = _shifted(x, axis)
    return z - z.exp().sum(axis, keepdims=True).log()


_REDUCTIONS = ("mean", "sum", "none")


def _check_reduction(reduction, op):
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{op}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def _reduce(loss, reduction, denominator=None):
    if reduction == "none":
        return loss
    total = loss.sum()
    if reduction == "sum":
        return total
    return total / (loss.size if denominator is None else denominator)


def _array(a):
    return a.data if isinstance(a, Tensor) else np.asarray(a)


def _in_dtype_of(value, x):
    """A weight or statistic (number, array or Tensor) as a Tensor of x's dtype, so that a float64
    constant does not turn a float32 computation into a float64 one (a Tensor with a graph keeps it)."""
    return as_tensor(value, like=x).to(x.dtype)


def _class_weight(weight, C, dtype, op):
    if weight is None:
        return None
    w = _array(weight).astype(dtype, copy=False)
    if w.shape != (C,):
        raise ValueError(f"{op}: weight expects one value per class, shape ({C},), got {w.shape}")
    return w


def _class_targets(target, shape, ignore_index, op):
    """Check integer class labels for scores of `shape` (N, C, d1, …); return (labels, valid mask)."""
    t = _array(target)
    expected = (shape[0],) + tuple(shape[2:])
    if t.dtype.kind not in "iu":
        raise TypeError(f"{op}: class-index targets must be integers, got dtype {t.dtype} (probability "
                        f"targets need the input's shape {tuple(shape)})")
    if t.shape != expected:
        raise ValueError(f"{op}: expected target of shape {expected} for input of shape {tuple(shape)}, "
                         f"got {t.shape}")
    C = shape[1]
    valid = np.ones(t.shape, bool) if ignore_index is None else t != ignore_index
    bad = valid & ((t < 0) | (t >= C))
    if bad.any():
        ignored = "" if ignore_index is None else f", or ignore_index={ignore_index}"
        raise IndexError(f"{op}: target label {t[bad].flat[0]} is out of range for {C} classes "
                         f"(expected 0…{C - 1}{ignored})")
    return t, valid


def _batched(x, target, op):
    """Unbatched (C,) scores with a scalar target become a batch of one."""
    if x.ndim == 0:
        raise ValueError(f"{op}: expected input of shape (C,), (N, C) or (N, C, d1, …), got a scalar")
    if x.ndim == 1:
        if isinstance(target, Tensor):
            return x.reshape(1, -1), target.reshape((1,) + target.shape)
        return x.reshape(1, -1), np.reshape(target, (1,) + np.shape(target))
    return x, target


def _nll(logp, target, weight, ignore_index, reduction, label_smoothing, op):
    """−Σ weight·log-probability of the target class, with PyTorch's ignore_index, weight and smoothing."""
    C = logp.shape[1]
    t, valid = _class_targets(target, logp.shape, ignore_index, op)
    w = _class_weight(weight, C, logp.dtype, op)
    labels = np.where(valid, t, 0)
    index = list(np.indices(t.shape, sparse=True))
    index.insert(1, labels)
    loss = -logp[tuple(index)]  # −log p(target) at every position (N, d1, …)
    w_t = None if w is None else w[labels]
    if w_t is not None:
        loss = loss * ag.from_numpy(w_t)
    if label_smoothing:
        # PyTorch: (1 − ε)·nll + (ε / C)·Σ_c −w_c·log p_c
        every = logp if w is None else logp * ag.from_numpy(w.reshape((1, C) + (1,) * (logp.ndim - 2)))
        loss = (1 - label_smoothing) * loss - (label_smoothing / C) * every.sum(axis=1)
    if not valid.all():
        loss = ag.where(valid, loss, 0.0)
    denominator = float(valid.sum() if w_t is None else (w_t * valid).sum())
    return _reduce(loss, reduction, denominator)


def _check_smoothing(label_smoothing, op):
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{op}: label_smoothing must be in [0, 1], got {label_smoothing}")


@layer_rule(rules.CROSS_ENTROPY)
@scoped("cross_entropy")
def cross_entropy(input, target, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    """Softmax cross-entropy of logits (N, C) or (N, C, d1, …) (class axis 1, like PyTorch).

    Class-index targets (integers, shape (N, d1, …)): ℓ = −w_y·log softmax(x)_y, with label smoothing
    ℓ = (1 − ε)·ℓ + (ε/C)·Σ_c −w_c·log softmax(x)_c; positions whose label is ignore_index add 0;
    'mean' divides by Σ w_y over the kept positions (their count without weight).
    Probability targets (floats of the input's shape): ℓ = −Σ_c w_c·q_c·log softmax(x)_c with
    q = (1 − ε)·target + ε/C; 'mean' divides by the number of positions.
    Uses log_softmax, so it is stable for any finite logits.
    """
    op = "cross_entropy"
    _check_reduction(reduction, op)
    _check_smoothing(label_smoothing, op)
    unbatched = input.ndim == 1
    input, target = _batched(input, target, op)
    logp = log_softmax(input, axis=1)
    t = _array(target)
    if t.dtype.kind == "f" and t.shape == tuple(input.shape):  # probability targets
        C = input.shape[1]
        q = as_tensor(target, like=logp)
        if label_smoothing:
            q = q * (1 - label_smoothing) + label_smoothing / C
        w = _class_weight(weight, C, logp.dtype, op)
        if w is not None:
            q = q * ag.from_numpy(w.reshape((1, C) + (1,) * (logp.ndim - 2)))
        loss = -(logp * q).sum(axis=1)
        out = _reduce(loss, reduction)
    else:
        out = _nll(logp, target, weight, ignore_index, reduction, label_smoothing, op)
    return out.reshape(()) if unbatched and reduction == "none" else out


@scoped("nll_loss")
def nll_loss(input, target, weight=None, ignore_index=-100, reduction="mean"):
    """Negative log-likelihood of log-probabilities (N, C) or (N, C, d1, …) and integer labels (N, d1, …).

    ℓ = −w_y·input[y]; 'mean' divides by Σ w_y over positions whose label is not ignore_index.
    cross_entropy(x, y) = nll_loss(log_softmax(x, axis=1), y).
    """
    op = "nll_loss"
    _check_reduction(reduction, op)
    unbatched = input.ndim == 1
    input, target = _batched(input, target, op)
    out = _nll(input, target, weight, ignore_index, reduction, 0.0, op)
    return out.reshape(()) if unbatched and reduction == "none" else out


def _same_shape_target(input, target, op):
    target = as_tensor(target, like=input)
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(f"{op}: target shape {tuple(target.shape)} does not match input shape "
                         f"{tuple(input.shape)} (reshape one of them; broadcasting here is a common bug)")
    return target


def _float_target(input, target, op):
    target = _same_shape_target(input, target, op)
    if target.dtype.kind != "f":
        raise TypeError(f"{op}: target must be floating point (probabilities in [0, 1]), got dtype {target.dtype}")
    return target


@scoped("mse_loss")
def mse_loss(input, target, reduction="mean"):
    """Mean squared error: ℓ = (input − target)², reduced by mean (default), sum or none."""
    _check_reduction(reduction, "mse_loss")
    d = input - _same_shape_target(input, target, "mse_loss")
    return _reduce(d * d, reduction)


@scoped("l1_loss")
def l1_loss(input, target, reduction="mean"):
    """Mean absolute error: ℓ = |input − target| (gradient sign(input − target), 0 at a tie)."""
    _check_reduction(reduction, "l1_loss")
    return _reduce((input - _same_shape_target(input, target, "l1_loss")).abs(), reduction)


@scoped("binary_cross_entropy_with_logits")
def binary_cross_entropy_with_logits(input, target, weight=None, reduction="mean", pos_weight=None):
    """Sigmoid + binary cross-entropy in one stable step, any shape.

    ℓ = −[t·log σ(x) + (1 − t)·log(1 − σ(x))] = max(x, 0) − x·t + log(1 + e^(−|x|)),
    which never overflows. pos_weight p (broadcast over the last axis, one per class) weights the
    positive term: ℓ += (p − 1)·t·(max(−x, 0) + log(1 + e^(−|x|))). weight rescales each element.
    max is `maximum`, whose tie rule (½ each way) gives the exact gradient σ(0) − t at x = 0.
    """
    op = "binary_cross_entropy_with_logits"
    _check_reduction(reduction, op)
    t = _float_target(input, target, op)
    log_term = (1.0 + (-input.abs()).exp()).log()  # log(1 + e^(−|x|)) ∈ (0, log 2]
    loss = ag.maximum(input, 0.0) - input * t + log_term
    if pos_weight is not None:
        loss = loss + (_in_dtype_of(pos_weight, input) - 1.0) * t * (ag.maximum(-input, 0.0) + log_term)
    if weight is not None:
        loss = loss * _in_dtype_of(weight, input)
    return _reduce(loss, reduction)


def _clamped_log(p):
    """log p, clamped at −100 like PyTorch, so p = 0 gives −100 (and gradient 0) instead of −∞."""
    positive = p.data > 0
    return ag.where(positive, ag.clip(ag.where(positive, p, 1.0).log(), -100.0), -100.0)


@scoped("binary_cross_entropy")
def binary_cross_entropy(input, target, weight=None, reduction="mean"):
    """Binary cross-entropy of probabilities p ∈ [0, 1]: ℓ = −[t·log p + (1 − t)·log(1 − p)].

    Each log is clamped at −100 (PyTorch's rule). Applied after a sigmoid this loses precision for large
    logits: prefer binary_cross_entropy_with_logits.
    """
    op = "binary_cross_entropy"
    _check_reduction(reduction, op)
    t = _float_target(input, target, op)
    if input.size and (input.data.min() < 0 or input.data.max() > 1):
        raise ValueError(f"{op}: input must be probabilities in [0, 1], got values in "
                         f"[{input.data.min():.4g}, {input.data.max():.4g}] (use the _with_logits version for logits)")
    loss = -(t * _clamped_log(input) + (1.0 - t) * _clamped_log(1.0 - input))
    if weight is not None:
        loss = loss * _in_dtype_of(weight, input)
    return _reduce(loss, reduction)


@scoped("multi_margin_loss")
def multi_margin_loss(input, target, p=1, margin=1.0, weight=None, reduction="mean"):
    """Multiclass SVM hinge loss (PyTorch's definition): scores (N, C) or (C,), labels (N,) or ().

    ℓ = Σ_{i ≠ y} w_y·max(0, margin − x_y + x_i)^p / C, with p = 1 or 2. The hinge's gradient is 0 where
    margin − x_y + x_i = 0 exactly, like PyTorch.
    """
    op = "multi_margin_loss"
    _check_reduction(reduction, op)
    if p not in (1, 2):
        raise ValueError(f"{op}: p must be 1 or 2, got {p!r}")
    if input.ndim not in (1, 2):
        raise ValueError(f"{op}: expected input of shape (N, C) or (C,), got shape {tuple(input.shape)}")
    unbatched = input.ndim == 1
    input, target = _batched(input, target, op)
    N, C = input.shape
    t, _ = _class_targets(target, input.shape, None, op)
    x_y = input[np.arange(N), t].reshape(N, 1)  # the true class's score
    hinge = ag.relu(margin - x_y + input)
    if p == 2:
        hinge = hinge * hinge
    others = np.arange(C) != t[:, None]  # i ≠ y
    w = _class_weight(weight, C, input.dtype, op)
    scale = others / C if w is None else others * (w[t][:, None] / C)
    loss = (hinge * ag.from_numpy(scale.astype(input.dtype))).sum(axis=1)
    out = _reduce(loss, reduction)
    return out.reshape(()) if unbatched and reduction == "none" else out


# -- layers' functions ----------------------------------------------------------------------------
@layer_rule(rules.LINEAR)
@scoped("linear")
def linear(x, w, b=None):
    """Affine map, PyTorch's layout: y = x·Wᵀ + b with x (…, in), w (out, in), b (out,) → (…, out)."""
    if w.ndim != 2:
        raise ValueError(f"linear: expected weight of shape (out, in), got shape {tuple(w.shape)}")
    if x.ndim == 0 or x.shape[-1] != w.shape[1]:
        raise ValueError(f"linear: weight expects {w.shape[1]} input features, input has shape {tuple(x.shape)}")
    if b is not None and tuple(b.shape) != (w.shape[0],):
        raise ValueError(f"linear: bias expects shape ({w.shape[0]},), got {tuple(b.shape)}")
    y = x @ w.mT
    return y if b is None else y + b


def relu(x):
    """max(x, 0); gradient [x > 0] (0 at x = 0, like PyTorch)."""
    return ag.relu(x)


@scoped("leaky_relu")
def leaky_relu(x, negative_slope=0.01):
    """x where x > 0, else negative_slope·x; gradient 1 or negative_slope (the slope at x = 0, like PyTorch)."""
    return ag.where(x.data > 0, x, x * negative_slope)


def sigmoid(x):
    """σ(x) = 1 / (1 + e^(−x)); gradient σ(x)·(1 − σ(x))."""
    return ag.sigmoid(x)


def tanh(x):
    """tanh x; gradient 1 − tanh² x."""
    return ag.tanh(x)


@scoped("dropout")
def dropout(x, p=0.5, training=True):
    """Inverted dropout: zero each element with probability p and scale the rest by 1/(1 − p), so the
    expected value is unchanged and evaluation (training=False) is the identity.

    y = x·m / (1 − p), m ~ Bernoulli(1 − p) drawn from `autograd.generator()` (seed with manual_seed).
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: p must be a probability in [0, 1], got {p}")
    if not training or p == 0.0:
        return x
    keep = ag.generator().random(x.shape) >= p
    scale = 0.0 if p == 1.0 else 1.0 / (1.0 - p)
    return x * ag.from_numpy((keep * scale).astype(x.dtype))


def _store(buffer, value):
    """Write value into a running-statistics buffer (ndarray or Tensor) in place."""
    if isinstance(buffer, Tensor):
        with no_grad():
            buffer.copy_(value)
    else:
        buffer[...] = value


@layer_rule(rules.BATCH_NORM)
@scoped("batch_norm")
def batch_norm(x, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    """Batch normalisation over the channel axis 1 of x (N, C), (N, C, L) or (N, C, H, W).

    Training: x̂ = (x − μ_B) / √(σ²_B + ε) with the batch mean and biased variance over every axis but 1;
    the running statistics (ndarrays or Tensors of shape (C,), or None) are updated in place, without
    gradient, r ← (1 − momentum)·r + momentum·batch value, using the unbiased variance for running_var
    (PyTorch's rule). Evaluation: x̂ = (x − running_mean) / √(running_var + ε).
    Then y = weight·x̂ + bias (per channel, each optional).
    """
    op = "batch_norm"
    if x.ndim < 2:
        raise ValueError(f"{op}: expected input of shape (N, C, ...), got shape {tuple(x.shape)}")
    C = x.shape[1]
    for name, value in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight),
                        ("bias", bias)):
        if value is not None and tuple(np.shape(_array(value))) != (C,):
            raise ValueError(f"{op}: {name} expects shape ({C},) for input with {C} channels, "
                             f"got {tuple(np.shape(_array(value)))}")
    axes = (0,) + tuple(range(2, x.ndim))
    per_channel = (1, C) + (1,) * (x.ndim - 2)
    if training:
        count = x.size // C
        if count < 2:
            raise ValueError(f"{op}: expected more than 1 value per channel when training, got input "
                             f"shape {tuple(x.shape)}")
        mean = x.mean(axis=axes, keepdims=True)
        var = x.var(axis=axes, keepdims=True)
        if running_mean is not None:
            _store(running_mean, (1 - momentum) * _array(running_mean) + momentum * mean.data.reshape(C))
        if running_var is not None:
            unbiased = var.data.reshape(C) * (count / (count - 1))
            _store(running_var, (1 - momentum) * _array(running_var) + momentum * unbiased)
    else:
        if running_mean is None or running_var is None:
            raise ValueError(f"{op}: evaluation (training=False) needs running_mean and running_var")
        mean = _in_dtype_of(running_mean, x).reshape(per_channel)
        var = _in_dtype_of(running_var, x).reshape(per_channel)
    y = (x - mean) / (var + eps).sqrt()
    if weight is not None:
        y = y * as_tensor(weight, like=x).reshape(per_channel)
    if bias is not None:
        y = y + as_tensor(bias, like=x).reshape(per_channel)
    return y


def flatten(x, start_dim=1, end_dim=-1):
    """Merge axes start_dim … end_dim into one (default: everything but the batch axis)."""
    return ag.flatten(x, start_dim, end_dim)


# -- more activations: composites of the elementwise primitives --------------------------------------
# Where a branch is masked out by `where`, its input is clamped first (clip(x, hi=0) before an exp), so the
# masked branch never overflows: its gradient is then 0, not 0·∞ = NaN. The gradients at the kinks follow
# PyTorch's choices (tests/nn/test_functional_activations.py checks them against PyTorch).
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_SELU_ALPHA, _SELU_SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946


@scoped("gelu")
def gelu(x, approximate="none"):
    """x·Φ(x) = ½x·(1 + erf(x/√2)); approximate='tanh': ½x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))."""
    if approximate == "none":
        return x * 0.5 * (1.0 + ag.erf(x * (1.0 / math.sqrt(2.0))))
    if approximate == "tanh":
        return 0.5 * x * (1.0 + ag.tanh(_SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)))
    raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")


def _exponential_below_zero(x, alpha, scale):
    """x where x > 0, else α·(e^(x/scale) − 1): ELU's and CELU's shape (gradient 1, or e^(x/scale)·α/scale)."""
    return ag.where(x.data > 0, x, alpha * ag.expm1(ag.clip(x, hi=0.0) / scale))


@scoped("elu")
def elu(x, alpha=1.0):
    """x where x > 0, else α·(eˣ − 1); gradient 1, or α·eˣ (α at x = 0, like PyTorch)."""
    return _exponential_below_zero(x, alpha, 1.0)


@scoped("selu")
def selu(x):
    """λ·elu(x, α) with λ ≈ 1.0507 and α ≈ 1.6733, the self-normalising constants."""
    return _SELU_SCALE * _exponential_below_zero(x, _SELU_ALPHA, 1.0)


@scoped("celu")
def celu(x, alpha=1.0):
    """x where x > 0, else α·(e^(x/α) − 1); gradient 1, or e^(x/α) (1 at x = 0)."""
    if alpha == 0:
        raise ValueError("celu: alpha must not be 0")
    return _exponential_below_zero(x, alpha, alpha)


@scoped("silu")
def silu(x):
    """x·σ(x) (swish); gradient σ(x)·(1 + x·(1 − σ(x)))."""
    return x * ag.sigmoid(x)


def _softplus(z):
    """log(1 + eᶻ) = max(z, 0) + log(1 + e^(−|z|)), finite for every z. max is `maximum`, whose tie rule (½ each
    way) gives the exact gradient σ(0) = ½ at z = 0."""
    return ag.maximum(z, 0.0) + ag.log1p(ag.exp(-ag.abs(z)))


@scoped("softplus")
def softplus(x, beta=1.0, threshold=20.0):
    """log(1 + e^(βx)) / β, and x itself where βx > threshold (PyTorch's switch to the linear part);
    gradient σ(βx), or 1 above the threshold."""
    z = x * beta
    return ag.where(z.data > threshold, x, _softplus(z) / beta)


@scoped("mish")
def mish(x):
    """x·tanh(softplus(x))."""
    return x * ag.tanh(_softplus(x))


@scoped("softsign")
def softsign(x):
    """x / (1 + |x|); gradient 1 / (1 + |x|)²."""
    return x / (1.0 + ag.abs(x))


@scoped("hardtanh")
def hardtanh(x, min_val=-1.0, max_val=1.0):
    """x clamped to [min_val, max_val]; gradient 1 strictly inside, 0 outside and on the bounds (like PyTorch;
    `clip` passes it on the bounds)."""
    if min_val > max_val:
        raise ValueError(f"hardtanh: min_val {min_val} must not exceed max_val {max_val}")
    inside = (x.data > min_val) & (x.data < max_val)
    return ag.where(inside, x, np.clip(x.data, min_val, max_val))


def relu6(x):
    """min(max(x, 0), 6) = hardtanh(x, 0, 6): gradient 1 on (0, 6), else 0."""
    return hardtanh(x, 0.0, 6.0)


@scoped("hardsigmoid")
def hardsigmoid(x):
    """relu6(x + 3) / 6: 0 below −3, 1 above 3, linear between (gradient 1/6 on (−3, 3))."""
    return hardtanh(x + 3.0, 0.0, 6.0) / 6.0


@scoped("hardswish")
def hardswish(x):
    """x·relu6(x + 3) / 6 = x·hardsigmoid(x); gradient x/3 + ½ on (−3, 3), 0 below, 1 above."""
    return x * hardsigmoid(x)


@scoped("logsigmoid")
def logsigmoid(x):
    """log σ(x) = min(x, 0) − log(1 + e^(−|x|)), finite for every x; gradient 1 − σ(x)."""
    return ag.minimum(x, 0.0) - ag.log1p(ag.exp(-ag.abs(x)))


@scoped("normalize")
def normalize(x, p=2.0, dim=1, eps=1e-12):
    """x / max(‖x‖_p, eps) along `dim` (PyTorch's F.normalize): unit vectors, and no division by 0."""
    return x / ag.clip(ag.norm(x, p, dim, keepdims=True), eps)


def one_hot(labels, num_classes=-1):
    """Integer labels (any shape) → int64 one-hot vectors (…, num_classes); num_classes=-1 means max label + 1."""
    t = _array(labels)
    if t.dtype.kind not in "iu":
        raise TypeError(f"one_hot: labels must be integers, got dtype {t.dtype}")
    if num_classes == -1:
        num_classes = int(t.max()) + 1 if t.size else 0
    bad = (t < 0) | (t >= num_classes)
    if bad.any():
        raise ValueError(f"one_hot: label {t[bad].flat[0]} is out of range for {num_classes} classes "
                         f"(expected 0…{num_classes - 1})")
    return ag.from_numpy((t[..., None] == np.arange(num_classes)).astype(np.int64))

