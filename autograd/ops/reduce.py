"""Reductions: the primitives sum, mean, max, min, var; composites over them (std, prod, logsumexp, norm);
and any, all, argmax, argmin, which give constants.

This module defines functions named sum, max, min, abs, any and all: inside it those names are the ops.

A reduction's VJP puts the upstream gradient back on the reduced axes
(reshape to keepdims form, then `broadcast_to` the input's shape).
"""
import itertools
import math

import numpy as np

from ..creation import from_numpy
from ..function import Formula, Function, primitive
from ..grad_mode import scoped
from ..tensor import Tensor, as_tensor
from .elementwise import abs, exp, log, to_float, where
from .shape import pad, permute, reshape

const = Tensor._wrap


def normalize_axes(axis, ndim):
    """None → all axes; int or tuple → a sorted tuple of non-negative axes. A 0-d tensor takes axis 0 or −1
    (PyTorch's rule) and has no axis to reduce."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    bound = ndim or 1
    out = []
    for a in axes:
        if not -bound <= a < bound:
            raise ValueError(f"axis {a} is out of range for a tensor with {ndim} dimensions")
        if ndim:
            out.append(int(a) % ndim)
    return tuple(sorted(set(out)))


def _kept_shape(shape, axes):
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


def expand_reduced(g, shape, axes):
    """Spread a reduced gradient back over the reduced axes: (…) → shape."""
    from .shape import broadcast_to, reshape

    return broadcast_to(reshape(g, _kept_shape(shape, axes)), shape)


@primitive
class Sum(Function):
    formula = Formula(("x",), "Σ x", r"\sum_i x_i", ("broadcast ḡ over the summed axes",),
                      (r"\mathbf{1}\,\bar{g}",))

    @staticmethod
    def forward(ctx, x, axes=None, keepdims=False):
        ctx.in_shape, ctx.axes = x.shape, axes
        return np.sum(x, axis=axes, keepdims=keepdims)

    @staticmethod
    def backward(ctx, g):
        return expand_reduced(g, ctx.in_shape, ctx.axes)


@primitive
class Mean(Function):
    formula = Formula(("x",), "(1/n) Σ x", r"\frac{1}{n}\sum_i x_i", ("ḡ / n on every element",),
                      (r"\frac{1}{n}\mathbf{1}\,\bar{g}",))

    @staticmethod
    def forward(ctx, x, axes=None, keepdims=False):
        ctx.in_shape, ctx.axes = x.shape, axes
        ctx.count = int(np.prod([x.shape[a] for a in axes]))
        return np.mean(x, axis=axes, keepdims=keepdims)

    @staticmethod
    def backward(ctx, g):
        return expand_reduced(g / ctx.count, ctx.in_shape, ctx.axes)


#: max/min over axes holding at most this many elements run as pairwise maximum/minimum of strided views:
#: NumPy's reduction over several small axes that are not the last is slow (max over the 2×2 windows of
#: max_pool2d on (64, 6, 24, 24): 0.13 → 0.085 ms).
SMALL = 16


def _pick_small(pair, x, axes):
    """pair.reduce over `axes`, keeping them (size 1), as one pairwise call per element of the axes."""
    index = [slice(None)] * x.ndim
    y = None
    for offsets in itertools.product(*[range(x.shape[a]) for a in axes]):
        for a, o in zip(axes, offsets):
            index[a] = slice(o, o + 1)
        view = x[tuple(index)]
        y = view.copy() if y is None else pair(y, view, out=y)
    return y


class _Extreme(Function):
    """max/min over axes; the gradient is split evenly among tied winners. NaN wins (NumPy's max and min
    propagate it), so the NaN elements get the gradient, as in PyTorch. `candidates` (a bool mask broadcasting
    to x) marks the elements that may win: the others are filling (a pooling window's padding, holding the
    dtype's extreme value) and get no share even when they tie."""

    pair = None  # np.maximum or np.minimum: the reduction is pair.reduce

    @classmethod
    def forward(cls, ctx, x, axes=None, keepdims=False, candidates=None):
        if 0 in [x.shape[a] for a in axes]:
            raise ValueError(f"{cls.name}: reduction over an empty axis of a tensor of shape {x.shape} (axes {axes})")
        small = axes and math.prod([x.shape[a] for a in axes]) <= SMALL
        y = _pick_small(cls.pair, x, axes) if small else cls.pair.reduce(x, axis=axes, keepdims=True)
        ctx.in_shape, ctx.axes = x.shape, axes
        if ctx.needs_input_grad[0]:  # only a recorded node needs the winners' shares
            winners = x == y
            if np.isnan(y).any():  # NumPy's max and min propagate NaN: the NaN elements are the winners
                winners |= np.isnan(x)
            if candidates is not None:
                winners &= candidates
            # Every window has a winner, so one per window is as many winners as windows; then the mask
            # itself is the share (max_pool2d 2×2 on (64, 6, 24, 24): forward 0.24 → 0.15 ms).
            if np.count_nonzero(winners) == y.size:
                share = winners
            else:  # ties: each winner gets an equal part
                share = winners.astype(x.dtype)
                share /= share.sum(axis=axes, keepdims=True)
            ctx.save_for_backward(share)
        return y if keepdims else np.squeeze(y, axis=axes)

    @staticmethod
    def backward(ctx, g):
        share, = ctx.saved_tensors
        return expand_reduced(g, ctx.in_shape, ctx.axes) * share


@primitive
class Max(_Extreme):
    formula = Formula(("x",), "max x", r"\max_i x_i", ("ḡ to the argmax (split evenly on ties)",),
                      (r"\bar{g}\,[x_i = y] / \#\{j: x_j = y\}",))
    pair = np.maximum


@primitive
class Min(_Extreme):
    formula = Formula(("x",), "min x", r"\min_i x_i", ("ḡ to the argmin (split evenly on ties)",),
                      (r"\bar{g}\,[x_i = y] / \#\{j: x_j = y\}",))
    pair = np.minimum


@primitive
class Var(Function):
    formula = Formula(("x",), "Σ (x − x̄)² / (n − ddof)", r"\frac{1}{n - d}\sum_i (x_i - \bar{x})^2",
                      ("ḡ·2(x − x̄)/(n − ddof)",), (r"\bar{g}\,\frac{2 (x - \bar{x})}{n - d}",))

    @staticmethod
    def forward(ctx, x, axes=None, ddof=0, keepdims=False):
        ctx.save_for_backward(x)
        ctx.axes, ctx.ddof = axes, ddof
        ctx.count = int(np.prod([x.shape[a] for a in axes]))
        return np.var(x, axis=axes, ddof=ddof, keepdims=keepdims)

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        centered = x - mean(x, ctx.axes, keepdims=True)
        spread = expand_reduced(g, x.shape, ctx.axes)
        dof = ctx.count - ctx.ddof  # ≤ 0: the variance is NaN, and so is its gradient (NumPy, PyTorch)
        return spread * centered * (2.0 / dof if dof > 0 else np.nan)


def _reduce(cls, x, axis, keepdims, **extra):
    return cls.apply(x, axes=normalize_axes(axis, x.ndim), keepdims=keepdims, **extra)


def sum(x, axis=None, keepdims=False):
    """Σ over `axis` (int, tuple or None for all)."""
    return _reduce(Sum, x, axis, keepdims)


def mean(x, axis=None, keepdims=False):
    """(1/n) Σ over `axis` (int, tuple or None for all)."""
    return _reduce(Mean, x, axis, keepdims)


def max(x, axis=None, keepdims=False, *, candidates=None):
    """Largest value; ties share the gradient evenly (max pooling on ties follows the math). candidates: a bool
    mask broadcasting to x of the elements that may win; the others must not exceed the result (padding that
    holds the dtype's lowest value) and get no gradient even when they tie with it."""
    return _reduce(Max, x, axis, keepdims, candidates=candidates)


def min(x, axis=None, keepdims=False, *, candidates=None):
    """Smallest value; ties share the gradient evenly. candidates: as for `max` (the others hold the highest value)."""
    return _reduce(Min, x, axis, keepdims, candidates=candidates)


def _ddof(ddof, correction, unbiased, op):
    """The degrees-of-freedom correction from NumPy's `ddof` or PyTorch's `correction` / `unbiased` (one of them)."""
    given = [name for name, value in (("correction", correction), ("unbiased", unbiased)) if value is not None]
    if len(given) > 1 or (given and ddof):
        raise ValueError(f"{op}: give one of ddof, correction and unbiased, got ddof={ddof}, correction={correction}, "
                         f"unbiased={unbiased}")
    if correction is not None:
        return correction
    return int(unbiased) if unbiased is not None else ddof


def var(x, axis=None, ddof=0, keepdims=False, *, correction=None, unbiased=None):
    """Variance Σ (x − x̄)² / (n − ddof). The default ddof=0 is NumPy's (and batch norm's biased variance);
    PyTorch's default is correction=1: pass ddof=1, correction=1 or unbiased=True for it."""
    return _reduce(Var, x, axis, keepdims, ddof=_ddof(ddof, correction, unbiased, "var"))


@scoped("std")
def std(x, axis=None, ddof=0, keepdims=False, *, correction=None, unbiased=None):
    """Standard deviation √var (ddof as in `var`: 0 by default); its gradient is 0 where the spread is 0, like PyTorch."""
    return _safe_root(var(x, axis, _ddof(ddof, correction, unbiased, "std"), keepdims), 2)


def _safe_root(s, p):
    """s^(1/p) with gradient 0 where s = 0 (instead of ∞·0 = NaN): the root's input is 1 there, then masked."""
    positive = s.data > 0
    if positive.all():
        return s ** (1.0 / p)
    return where(positive, where(positive, s, 1.0) ** (1.0 / p), 0.0)


def _merge_axes(x, axes):
    """x with the reduced axes moved to the end and merged into one: (kept…, n)."""
    kept = [a for a in range(x.ndim) if a not in axes]
    return permute(x, *(kept + list(axes))).reshape(tuple(x.shape[a] for a in kept) + (-1,))


@scoped("prod")
def prod(x, axis=None, keepdims=False):
    """∏ over `axis`, as a tree of pairwise products (halves multiplied until one value is left). Each element's
    gradient ∏_{j≠i} xⱼ follows by the chain rule without a division, so zeros need no special case."""
    axes = normalize_axes(axis, x.ndim)
    y = _merge_axes(x, axes) if x.ndim else reshape(x, (1,))
    one_more = ((0, 0),) * (y.ndim - 1) + ((0, 1),)
    if y.shape[-1] == 0:  # the empty product is 1
        y = pad(y, one_more, value=1)
    while y.shape[-1] > 1:
        if y.shape[-1] % 2:  # an odd count is padded with the product's identity
            y = pad(y, one_more, value=1)
        half = y.shape[-1] // 2
        y = y[..., :half] * y[..., half:]
    return reshape(y, _kept_shape(x.shape, axes) if keepdims else tuple(n for i, n in enumerate(x.shape) if i not in axes))


def shift_for_exp(values):
    """A constant shift m for e^(x − m): the largest value, 0 where that is ±∞ or NaN (nothing to shift then)."""
    return from_numpy(np.where(np.isfinite(values), values, 0))


@scoped("logsumexp")
def logsumexp(x, axis=None, keepdims=False):
    """log Σ eˣ over `axis`, as m + log Σ e^(x − m) with m = max x held constant (nothing overflows);
    gradient softmax(x) = e^(x − y)."""
    x = to_float(x)
    axes = normalize_axes(axis, x.ndim)
    m = shift_for_exp(np.max(x.data, axis=axes, keepdims=True, initial=-np.inf))
    with np.errstate(divide="ignore"):  # only −∞ along the axis: log 0 = −∞ is the answer
        y = log(sum(exp(x - m), axes, keepdims=True)) + m
    return y if keepdims else reshape(y, tuple(n for i, n in enumerate(x.shape) if i not in axes))


@scoped("norm")
def norm(x, p=2, axis=None, keepdims=False):
    """Vector p-norm over `axis`: (Σ |x|^p)^(1/p); p = inf / −inf: max / min |x|; p = 0: the number of non-zeros
    (no gradient). At x = 0 the gradient is 0 (the subgradient PyTorch picks), not NaN."""
    x = to_float(x)
    axes = normalize_axes(axis, x.ndim)
    if p == 0:
        return from_numpy(np.asarray(np.sum(x.data != 0, axis=axes, keepdims=keepdims), dtype=x.dtype))
    if p in (np.inf, -np.inf):
        return (max if p > 0 else min)(abs(x), axes, keepdims)
    if p == 1:
        return sum(abs(x), axes, keepdims)
    power = x * x if p == 2 else abs(x) ** p
    return _safe_root(sum(power, axes, keepdims), p)


def _no_gradient(fn, x, axis, keepdims):
    """A reduction without gradient (any, all) on x's array: a constant tensor."""
    return from_numpy(fn(as_tensor(x).data, axis=normalize_axes(axis, np.ndim(x)), keepdims=keepdims))


def any(x, axis=None, keepdims=False):
    """True where some element along `axis` is non-zero (a bool tensor, no gradient)."""
    return _no_gradient(np.any, x, axis, keepdims)


def all(x, axis=None, keepdims=False):
    """True where every element along `axis` is non-zero (a bool tensor, no gradient)."""
    return _no_gradient(np.all, x, axis, keepdims)


def _arg(fn, x, axis, keepdims, op):
    """argmax / argmin: int64 indices along one axis, or into the flattened tensor when axis is None."""
    if axis is not None and not isinstance(axis, (int, np.integer)):
        raise TypeError(f"{op}: axis must be an int or None, got {axis!r}")
    data = as_tensor(x).data
    if axis is not None:
        axis = normalize_axes(axis, data.ndim)
        axis = axis[0] if axis else None  # a 0-d tensor: its one element
    return from_numpy(np.asarray(fn(data, axis=axis, keepdims=keepdims), dtype=np.int64))


def argmax(x, axis=None, keepdims=False):
    """Index of the largest value along `axis` (of the flattened tensor for None); the first on ties, NaN wins."""
    return _arg(np.argmax, x, axis, keepdims, "argmax")


def argmin(x, axis=None, keepdims=False):
    """Index of the smallest value along `axis` (of the flattened tensor for None); the first on ties, NaN wins."""
    return _arg(np.argmin, x, axis, keepdims, "argmin")
