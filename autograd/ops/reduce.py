"""Reductions and the broadcast adjoint pair's reducing half (`sum_to`).

A reduction's VJP puts the upstream gradient back on the reduced axes
(reshape to keepdims form, then `broadcast_to` the input's shape).
"""
import numpy as np

from ..function import Formula, Function, primitive
from ..tensor import Tensor

const = Tensor._wrap


def normalize_axes(axis, ndim):
    """None → all axes; int or tuple → a sorted tuple of non-negative axes."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out = []
    for a in axes:
        if not -ndim <= a < ndim:
            raise ValueError(f"axis {a} is out of range for a tensor with {ndim} dimensions")
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


class _Extreme(Function):
    """max/min over axes; the gradient is split evenly among tied winners."""

    pick = None

    @classmethod
    def forward(cls, ctx, x, axes=None, keepdims=False):
        if any(x.shape[a] == 0 for a in axes):
            raise ValueError(f"{cls.name}: reduction over an empty axis of a tensor of shape {x.shape} (axes {axes})")
        y = cls.pick(x, axis=axes, keepdims=True)
        ctx.in_shape, ctx.axes = x.shape, axes
        if ctx.needs_input_grad[0]:  # only a recorded node needs the winners' shares
            share = (x == y).astype(x.dtype)
            count = share.sum(axis=axes, keepdims=True)
            if count.max(initial=1) > 1:  # ties: each winner gets an equal part
                share /= count
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
    pick = staticmethod(np.max)


@primitive
class Min(_Extreme):
    formula = Formula(("x",), "min x", r"\min_i x_i", ("ḡ to the argmin (split evenly on ties)",),
                      (r"\bar{g}\,[x_i = y] / \#\{j: x_j = y\}",))
    pick = staticmethod(np.min)


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
    return _reduce(Mean, x, axis, keepdims)


def max(x, axis=None, keepdims=False):
    """Largest value; ties share the gradient evenly (max pooling on ties follows the math)."""
    return _reduce(Max, x, axis, keepdims)


def min(x, axis=None, keepdims=False):
    """Smallest value; ties share the gradient evenly."""
    return _reduce(Min, x, axis, keepdims)


def var(x, axis=None, ddof=0, keepdims=False):
    """Variance with NumPy's `ddof` (0: biased, as batch norm uses; 1: unbiased)."""
    return _reduce(Var, x, axis, keepdims, ddof=ddof)
