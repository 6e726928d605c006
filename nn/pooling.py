"""Pooling composites (nn.functional re-exports them): no backward code here.

    max / avg pool:  pad → unfold (N, C, *K, *O) → max or mean over the kernel axes
    adaptive max:    pad one −∞ slot per axis → getitem of every window (N, C, O₀, K₀, O₁, K₁) → max over K
    adaptive avg:    y = A_H · x · A_Wᵀ with constant averaging matrices (the mean over a box is separable; in 3-d
                     A_D also averages along D)

Their gradients are the chain rule through pad, unfold (whose VJP is fold), getitem (index_add), max (the
gradient to the winner, tied winners sharing it evenly; a NaN wins) and mean.

Window geometry follows PyTorch. Along an axis of size L with kernel k, stride s, padding p, dilation d:

    O = ⌊(L + 2p − d·(k − 1) − 1) / s⌋ + 1                     (ceil_mode=False)
    O = ⌈(L + 2p − d·(k − 1) − 1) / s⌉ + 1, less 1 when the last window would start at or past L + p
                                                              (ceil_mode=True: the last window may run past
                                                               the padded end, never start in the right padding)

ceil_mode pads the after side further, so the last window fits: with −∞ for max (never picked), with zeros
for avg, whose divisor then counts only the window's part inside the padded input (count_include_pad=True)
or inside the input (count_include_pad=False), as PyTorch does.
"""
import math
import re
from typing import NamedTuple

import numpy as np

import autograd as ag
from autograd.dtypes import lowest
from autograd.grad_mode import scoped
from autograd.layer_rules import layer_rule
from autograd.ops.elementwise import to_float
from autograd.ops.window import check_fits, ints

from . import layer_rules as rules
from ._checks import BATCHED_OR_NOT, check_rank, takes_unbatched, with_one_example


def _check_flag(value, name, op):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{op}: {name} must be True or False, got {value!r}")


# -- window geometry ---------------------------------------------------------------------------------------------
class Windows(NamedTuple):
    """Where a pooling call's windows lie: one entry per spatial axis."""

    spatial: tuple  # the input's sizes
    kernel: tuple
    stride: tuple
    padding: tuple  # PyTorch's padding (both sides)
    dilation: tuple
    outs: tuple  # the output's sizes
    pads: tuple  # (before, after) actually padded: the after side grows so that ceil_mode's last window fits

    @property
    def padded(self):
        """Whether some window reaches past the input (into padding)."""
        return any(before or after for before, after in self.pads)


def _pooled_size(size, kernel, stride, padding, dilation, ceil_mode):
    """PyTorch's number of windows along one axis (see the module docstring)."""
    room = size + 2 * padding - dilation * (kernel - 1) - 1
    out = (room + (stride - 1 if ceil_mode else 0)) // stride + 1
    if ceil_mode and (out - 1) * stride >= size + padding:
        out -= 1  # that window would start in the right padding
    return out


def _windows(x, n, op, kernel_size, stride, padding, dilation=1, ceil_mode=False):
    """Check a pooling call's arguments (x is a Tensor or an array) and lay out its windows."""
    check_rank(x, n + 2, BATCHED_OR_NOT[n], op)
    _check_flag(ceil_mode, "ceil_mode", op)
    kernel = ints(kernel_size, n, "kernel_size", op, 1)
    stride = kernel if stride is None else ints(stride, n, "stride", op, 1)
    padding = ints(padding, n, "padding", op, 0)
    dilation = ints(dilation, n, "dilation", op, 1)
    if any(p > k // 2 for p, k in zip(padding, kernel)):
        raise ValueError(f"{op}: padding {padding} must be at most half the kernel size {kernel}")
    spatial = tuple(x.shape[2:])
    check_fits(op, spatial, tuple((p, p) for p in padding), kernel, dilation)
    outs = tuple(_pooled_size(*axis, ceil_mode) for axis in zip(spatial, kernel, stride, padding, dilation))
    pads = tuple((p, max(p, (o - 1) * s + d * (k - 1) + 1 - size - p))
                 for size, k, s, p, d, o in zip(spatial, kernel, stride, padding, dilation, outs))
    return Windows(spatial, kernel, stride, padding, dilation, outs, pads)


def _unfolded(x, w, fill):
    """x padded with `fill`, then every window: (N, C, *S) → (N, C, *K, *O)."""
    if w.padded:
        x = ag.pad(x, ((0, 0), (0, 0)) + w.pads, value=fill)
    return ag.unfold(x, w.kernel, w.stride, 0, w.dilation)


def _flat_index(positions, spatial):
    """Per-axis input positions (arrays broadcasting to (N, C, *O)) → one index into the flattened (*S) plane."""
    flat = 0
    for position, size in zip(positions, spatial):
        flat = flat * size + position
    return ag.from_numpy(np.asarray(flat, dtype=np.int64))


def _on_axis(axis, n, values):
    """values (O,) shaped to broadcast along output axis `axis` of (N, C, *O)."""
    return values.reshape((-1,) + (1,) * (n - 1 - axis))


def _per_output(per_axis):
    """The product of per-axis (O,) arrays, each along its own output axis: shape (*O) for (N, C, *O)."""
    n = len(per_axis)
    return math.prod(_on_axis(a, n, values) for a, values in enumerate(per_axis))


def _all_axes(masks):
    """The logical AND of per-axis (A, B) masks, each on its own axes: shape (A₀, A₁, …, B₀, B₁, …)."""
    n = len(masks)
    both = True
    for a, mask in enumerate(masks):
        shape = [1] * (2 * n)
        shape[a], shape[n + a] = mask.shape
        both = both & mask.reshape(shape)
    return both


def _inside(w):
    """(K, *O) bool: whether kernel offset k of the window at each output position lies in the unpadded input."""
    masks = []
    for size, k, o, s, p, d in zip(w.spatial, w.kernel, w.outs, w.stride, w.padding, w.dilation):
        position = (np.arange(k) * d)[:, None] + (np.arange(o) * s - p)[None, :]  # (k, o)
        masks.append((position >= 0) & (position < size))
    return _all_axes(masks).reshape((-1,) + w.outs)


def _winner(values, inside, axis):
    """The slot along `axis` that PyTorch's max pooling picks: the first inside the input holding the largest
    value, or the last NaN when there is one (it takes a value that is larger, or NaN)."""
    largest = values.max(axis=axis, keepdims=True)
    nan = np.isnan(values) if values.dtype.kind == "f" else np.zeros(values.shape, bool)
    first = np.argmax(((values == largest) | nan) & inside, axis=axis)
    last_nan = values.shape[axis] - 1 - np.argmax(np.flip(nan, axis=axis), axis=axis)
    return np.where(nan.any(axis=axis), last_nan, first)


def _winner_index(cols, w):
    """PyTorch's indices of max pooling as flat positions in the unpadded (*S) plane: in each window the first
    element inside the input that holds the largest value, or the last NaN when the window has one (PyTorch
    takes a value when it is larger or NaN)."""
    n = len(w.kernel)
    best = _winner(cols.data.reshape(tuple(cols.shape[:2]) + (-1,) + w.outs), _inside(w), axis=2)
    offsets = np.unravel_index(best, w.kernel)
    return _flat_index([_on_axis(a, n, np.arange(o) * s - p) + t * d
                        for a, (t, o, s, p, d) in enumerate(zip(offsets, w.outs, w.stride, w.padding, w.dilation))],
                       w.spatial)


# -- max and average pooling -------------------------------------------------------------------------------------
def _max_pool(x, n, op, kernel_size, stride, padding, dilation, ceil_mode, return_indices):
    _check_flag(return_indices, "return_indices", op)
    w = _windows(x, n, op, kernel_size, stride, padding, dilation, ceil_mode)
    cols = _unfolded(x, w, lowest(x.dtype))
    # padding never wins (the mask costs ~50 µs a call: made only when a window reaches into padding)
    candidates = _inside(w).reshape((1, 1) + w.kernel + w.outs) if w.padded else None
    y = ag.max(cols, axis=tuple(range(2, 2 + n)), candidates=candidates)
    return (y, _winner_index(cols, w)) if return_indices else y


def _divisor(w, count_include_pad, divisor_override):
    """avg pooling's divisor per output position, as PyTorch counts: the window clipped to the padded input
    (count_include_pad) or to the input; None when it is the kernel size everywhere (a plain mean)."""
    if divisor_override is not None:
        return divisor_override
    counts = []
    for size, k, s, p, o in zip(w.spatial, w.kernel, w.stride, w.padding, w.outs):
        start = np.arange(o) * s - p
        end = np.minimum(start + k, size + p)
        if not count_include_pad:
            start, end = np.maximum(start, 0), np.minimum(end, size)
        counts.append(end - start)
    if all((c == k).all() for c, k in zip(counts, w.kernel)):
        return None
    return _per_output(counts)


def _avg_pool(x, n, op, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override=None):
    _check_flag(count_include_pad, "count_include_pad", op)
    if divisor_override is not None and (not isinstance(divisor_override, (int, np.integer)) or divisor_override == 0):
        raise ValueError(f"{op}: divisor_override must be a nonzero int or None, got {divisor_override!r}")
    w = _windows(x, n, op, kernel_size, stride, padding, 1, ceil_mode)
    cols = _unfolded(x, w, 0)
    axes = tuple(range(2, 2 + n))
    divisor = _divisor(w, count_include_pad, divisor_override)
    if divisor is None:
        return cols.mean(axis=axes)
    if isinstance(divisor, np.ndarray):
        divisor = ag.from_numpy(divisor.astype(x.dtype if x.dtype.kind == "f" else np.float64))
    return cols.sum(axis=axes) / divisor


_MAX_DOC = """Largest value of each {window} window: x {x} → {y}; stride defaults to kernel_size.

    {formula}
    computed as pad → unfold → max over the kernel axes. Padding adds −∞ (the dtype's minimum for integers:
    never picked); dilation d spaces a window's elements d apart; ceil_mode keeps a last, partial window that
    starts inside the input or the left padding. The gradient goes to each window's winner (a NaN wins, as in
    PyTorch); tied winners share it evenly (PyTorch gives it all to one of them, so gradients differ on ties
    only). return_indices=True also returns, as an int64 tensor without gradient, each winner's flat index in
    its unpadded {plane} plane (the first winner inside the input on ties, the last NaN if any, as PyTorch
    picks), which F.max_unpool2d inverts.
    """


_AVG_DOC = """Mean of each {window} window: x {x} → {y}; stride defaults to kernel_size.

    {formula}
    computed as pad → unfold → sum over the kernel axes / count. The count is the kernel size ({count}),
    less the part of a ceil_mode window past the padded end; count_include_pad=False counts only the input's
    elements.{override}
    """


@layer_rule(rules.MAX_POOL1D)
@scoped("max_pool1d")
@takes_unbatched(1)
def max_pool1d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    return _max_pool(x, 1, "max_pool1d", kernel_size, stride, padding, dilation, ceil_mode, return_indices)


@layer_rule(rules.MAX_POOL2D)
@scoped("max_pool2d")
@takes_unbatched(2)
def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    return _max_pool(x, 2, "max_pool2d", kernel_size, stride, padding, dilation, ceil_mode, return_indices)


@layer_rule(rules.MAX_POOL3D)
@scoped("max_pool3d")
@takes_unbatched(3)
def max_pool3d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    return _max_pool(x, 3, "max_pool3d", kernel_size, stride, padding, dilation, ceil_mode, return_indices)


@layer_rule(rules.AVG_POOL1D)
@scoped("avg_pool1d")
@takes_unbatched(1)
def avg_pool1d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    return _avg_pool(x, 1, "avg_pool1d", kernel_size, stride, padding, ceil_mode, count_include_pad)


@layer_rule(rules.AVG_POOL2D)
@scoped("avg_pool2d")
@takes_unbatched(2)
def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    return _avg_pool(x, 2, "avg_pool2d", kernel_size, stride, padding, ceil_mode, count_include_pad,
                     divisor_override)


@layer_rule(rules.AVG_POOL3D)
@scoped("avg_pool3d")
@takes_unbatched(3)
def avg_pool3d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    return _avg_pool(x, 3, "avg_pool3d", kernel_size, stride, padding, ceil_mode, count_include_pad,
                     divisor_override)


def _document(n, max_pool, avg_pool):
    """Write max_pool{n}d's and avg_pool{n}d's docstrings for n spatial axes from the two templates."""
    window, x, y, plane = {1: ("length-KL", "(N, C, L)", "(N, C, OL)", "L"),
                           2: ("KH×KW", "(N, C, H, W)", "(N, C, OH, OW)", "H·W"),
                           3: ("KD×KH×KW", "(N, C, D, H, W)", "(N, C, OD, OH, OW)", "D·H·W")}[n]
    out, offsets, at = {1: ("l", "i", "l·s + i·d"), 2: ("p, q", "i,j", "p·s₀ + i·d₀, q·s₁ + j·d₁"),
                        3: ("o, p, q", "h,i,j", "o·s₀ + h·d₀, p·s₁ + i·d₁, q·s₂ + j·d₂")}[n]
    undilated = re.sub("·d[₀₁₂]?", "", at)
    count = window.replace("×", "·").replace("length-", "")
    max_pool.__doc__ = with_one_example(_MAX_DOC.format(
        window=window, x=x, y=y, plane=plane, formula=f"y[n, c, {out}] = max_{{{offsets}}} x[n, c, {at}],"), n)
    avg_pool.__doc__ = with_one_example(_AVG_DOC.format(
        window=window, x=x, y=y, count=count,
        formula=f"y[n, c, {out}] = (1 / count) Σ_{{{offsets}}} x[n, c, {undilated}],",
        override="" if n == 1 else " divisor_override replaces the count everywhere."), n)


_document(1, max_pool1d, avg_pool1d)
_document(2, max_pool2d, avg_pool2d)
_document(3, max_pool3d, avg_pool3d)


# -- adaptive pooling --------------------------------------------------------------------------------------------
def _adaptive_bounds(size, out):
    """PyTorch's adaptive windows along one axis: window i covers ⌊i·size/out⌋ … ⌈(i+1)·size/out⌉ − 1."""
    i = np.arange(out)
    return (i * size) // out, -(-((i + 1) * size) // out)


def _output_size(x, output_size, n, op):
    """An int or n entries → n sizes ≥ 1. For 2-d and 3-d pooling an entry may be None, which keeps that axis's
    size (as in PyTorch, which refuses None for 1-d pooling and a bare None everywhere)."""
    check_rank(x, n + 2, BATCHED_OR_NOT[n], op)
    spatial = tuple(x.shape[2:])
    if isinstance(output_size, (int, np.integer)):
        output_size = (output_size,) * n
    if not isinstance(output_size, (tuple, list)) or len(output_size) != n or (n == 1 and None in output_size):
        raise ValueError(f"{op}: output_size must be an int or a tuple of {n} ints"
                         f"{' (None keeps a size)' if n > 1 else ''}, got {output_size!r}")
    return ints(tuple(size if o is None else o for o, size in zip(output_size, spatial)), n, "output_size", op, 1)


def _adaptive_matrix(size, out, dtype):
    """(out, size) averaging matrix: row i averages the i-th adaptive window."""
    a = np.zeros((out, size), dtype)
    for i, (start, end) in enumerate(zip(*_adaptive_bounds(size, out))):
        a[i, start:end] = 1.0 / (end - start)
    return a


def _average_along(x, axis, out):
    """x averaged along `axis` into `out` adaptive windows: A · x, the (out, S) matrix A multiplying x seen as
    (…, S, R), R the product of the sizes after `axis`."""
    lead, size, rest = tuple(x.shape[:axis]), x.shape[axis], tuple(x.shape[axis + 1:])
    y = ag.from_numpy(_adaptive_matrix(size, out, x.dtype)) @ x.reshape(lead + (size, math.prod(rest)))
    return y.reshape(lead + (out,) + rest)


def _adaptive_avg_pool(x, output_size, n, op):
    """Separable (the mean over a box is the mean along each axis in turn): y = A_H · x · A_Wᵀ in 2-d, and in
    3-d y[o, p, q] = Σ_{d,h,w} A_D[o, d] · A_H[p, h] · A_W[q, w] · x[d, h, w], one matmul per axis whose size
    changes. A matmul also adds the inputs of weight 0, and 0·inf is NaN: an x holding inf or NaN is averaged
    window by window instead, so they stay inside their windows, as in PyTorch."""
    outs = _output_size(x, output_size, n, op)
    x = to_float(x)
    if outs == (1,) * n:
        return x.mean(axis=tuple(range(2, 2 + n)), keepdims=True)
    if not np.isfinite(x.data).all():
        cols, _ = _adaptive_windows(x, outs, 0.0)
        bounds = [_adaptive_bounds(size, out) for size, out in zip(x.shape[2:], outs)]
        counts = _per_output([ends - starts for starts, ends in bounds])
        return cols.sum(axis=tuple(range(3, 3 + 2 * n, 2))) / ag.from_numpy(counts.astype(x.dtype))
    *leading, (W, OW) = zip(x.shape[2:], outs)
    for axis, (size, out) in enumerate(leading, start=2):
        if out != size:
            x = _average_along(x, axis, out)
    if OW != W:
        x = x @ ag.from_numpy(_adaptive_matrix(W, OW, x.dtype).T)
    return x


@layer_rule(rules.ADAPTIVE_AVG_POOL1D)
@scoped("adaptive_avg_pool1d")
@takes_unbatched(1)
def adaptive_avg_pool1d(x, output_size):
    """Average pooling to a fixed length: x (N, C, L) → (N, C, OL).

    y[n, c, i] = mean x[n, c, ⌊i·L/OL⌋ … ⌈(i+1)·L/OL⌉ − 1] (PyTorch's windows), computed as y = x · A_Lᵀ with
    a constant averaging matrix A_L (OL, L).
    """
    return _adaptive_avg_pool(x, output_size, 1, "adaptive_avg_pool1d")


@layer_rule(rules.ADAPTIVE_AVG_POOL2D)
@scoped("adaptive_avg_pool2d")
@takes_unbatched(2)
def adaptive_avg_pool2d(x, output_size):
    """Average pooling to a fixed output size: x (N, C, H, W) → (N, C, OH, OW).

    output_size 1 is global average pooling (the mean over H and W). Otherwise output row i averages
    input rows ⌊i·H/OH⌋ … ⌈(i+1)·H/OH⌉ − 1 (likewise columns), like PyTorch. The mean over a rectangle
    is separable, so y = A_H · x · A_Wᵀ with constant averaging matrices A_H (OH, H), A_W (OW, W).
    """
    return _adaptive_avg_pool(x, output_size, 2, "adaptive_avg_pool2d")


@layer_rule(rules.ADAPTIVE_AVG_POOL3D)
@scoped("adaptive_avg_pool3d")
@takes_unbatched(3)
def adaptive_avg_pool3d(x, output_size):
    """Average pooling to a fixed output size: x (N, C, D, H, W) → (N, C, OD, OH, OW).

    y[n, c, o, p, q] = mean of x[n, c] over the box of adaptive windows ⌊o·D/OD⌋ … ⌈(o+1)·D/OD⌉ − 1 (likewise
    along H and W), like PyTorch; output_size 1 is the mean over D, H and W. Separable: one constant averaging
    matrix per axis, A_D (OD, D), A_H (OH, H), A_W (OW, W), applied along its axis by a matmul.
    """
    return _adaptive_avg_pool(x, output_size, 3, "adaptive_avg_pool3d")


def _adaptive_windows(x, outs, fill):
    """Every adaptive window as (N, C, O₀, K₀, O₁, K₁, …), K the widest window along the axis: narrower windows
    are filled up with a slot holding `fill` padded after the input's end (−∞ for max, 0 for a sum), so each
    element of a window is seen once. Also returns, per axis, the (O, K) input positions (the fill slot's: size)."""
    n = len(outs)
    index, slots = [slice(None)] * 2, []
    for a, (size, out) in enumerate(zip(x.shape[2:], outs)):
        starts, ends = _adaptive_bounds(size, out)
        at = starts[:, None] + np.arange((ends - starts).max())  # (O, K)
        at = np.where(at < ends[:, None], at, size)  # past the window's end: the fill slot
        slots.append(at)
        index.append(at.reshape((1,) * 2 * a + at.shape + (1,) * 2 * (n - 1 - a)))
    return ag.pad(x, ((0, 0), (0, 0)) + ((0, 1),) * n, value=fill)[tuple(index)], slots


def _adaptive_max_pool(x, output_size, return_indices, n, op):
    """The max over each adaptive window (see `_adaptive_windows`); ties share the gradient evenly."""
    _check_flag(return_indices, "return_indices", op)
    outs = _output_size(x, output_size, n, op)
    spatial = tuple(x.shape[2:])
    cols, slots = _adaptive_windows(x, outs, lowest(x.dtype))
    kernel_axes = tuple(range(3, 3 + 2 * n, 2))
    inside = _all_axes([at < size for at, size in zip(slots, spatial)])  # (O₀, O₁, …, K₀, K₁, …): not a fill slot
    interleaved = inside.transpose([i for a in range(n) for i in (a, n + a)])[None, None]  # as cols: (O₀, K₀, …)
    y = ag.max(cols, axis=kernel_axes, candidates=None if inside.all() else interleaved)  # the fill never wins
    if not return_indices:
        return y
    # the winner among each window's (K₀, K₁, …) slots, scanned in row-major order like PyTorch
    window_last = cols.data.transpose(0, 1, *range(2, 2 + 2 * n, 2), *kernel_axes).reshape(tuple(y.shape) + (-1,))
    best = _winner(window_last, inside.reshape(tuple(y.shape[2:]) + (-1,)), axis=-1)
    offsets = np.unravel_index(best, tuple(at.shape[1] for at in slots))
    winners = [at[_on_axis(a, n, np.arange(at.shape[0])), t] for a, (at, t) in enumerate(zip(slots, offsets))]
    return y, _flat_index(winners, spatial)


@layer_rule(rules.ADAPTIVE_MAX_POOL1D)
@scoped("adaptive_max_pool1d")
@takes_unbatched(1)
def adaptive_max_pool1d(x, output_size, return_indices=False):
    """Max pooling to a fixed length: x (N, C, L) → (N, C, OL).

    y[n, c, i] = max x[n, c, ⌊i·L/OL⌋ … ⌈(i+1)·L/OL⌉ − 1] (PyTorch's windows). Composed as getitem of every
    window (narrower ones filled with −∞) → max; the gradient and return_indices
    as in max_pool1d.
    """
    return _adaptive_max_pool(x, output_size, return_indices, 1, "adaptive_max_pool1d")


@layer_rule(rules.ADAPTIVE_MAX_POOL2D)
@scoped("adaptive_max_pool2d")
@takes_unbatched(2)
def adaptive_max_pool2d(x, output_size, return_indices=False):
    """Max pooling to a fixed output size: x (N, C, H, W) → (N, C, OH, OW).

    y[n, c, i, j] = max of x[n, c] over rows ⌊i·H/OH⌋ … ⌈(i+1)·H/OH⌉ − 1 and columns ⌊j·W/OW⌋ … ⌈(j+1)·W/OW⌉ − 1
    (PyTorch's windows; they overlap when OH does not divide H). Composed as getitem of every window (narrower
    ones filled with −∞) → max over the window axes; the gradient and return_indices as in max_pool2d.
    """
    return _adaptive_max_pool(x, output_size, return_indices, 2, "adaptive_max_pool2d")


@layer_rule(rules.ADAPTIVE_MAX_POOL3D)
@scoped("adaptive_max_pool3d")
@takes_unbatched(3)
def adaptive_max_pool3d(x, output_size, return_indices=False):
    """Max pooling to a fixed output size: x (N, C, D, H, W) → (N, C, OD, OH, OW).

    y[n, c, o, p, q] = max of x[n, c] over the box of adaptive windows ⌊o·D/OD⌋ … ⌈(o+1)·D/OD⌉ − 1 (likewise
    along H and W; PyTorch's windows). Composed as getitem of every window (narrower ones filled with −∞) → max
    over the window axes; the gradient and return_indices (flat indices in the D·H·W plane) as in max_pool3d.
    """
    return _adaptive_max_pool(x, output_size, return_indices, 3, "adaptive_max_pool3d")
