"""Prefix scans, composed: cumsum and cumprod have no backward code of their own.

Both run one doubling scan (Hillis–Steele): after the step with shift s, y[i] combines x[i − 2s + 1 … i]:

    y ← y ⊕ shift(y, s),  s = 1, 2, 4, …   (shift fills with ⊕'s identity: 0 for +, 1 for ×)

so ⌈log₂ n⌉ steps of slice, pad and one elementwise add or multiply. The gradient follows by the chain rule:
cumsum's is the reverse cumulative sum of ḡ, cumprod's Σ_{k≥i} ḡ_k·∏_{j≤k, j≠i} x_j, exact even where x = 0.
"""
import numpy as np

from ..grad_mode import scoped
from .elementwise import add, mul
from .shape import pad


def _scan(x, axis, combine, identity, op):
    """Inclusive scan of `combine` along `axis`; a 0-d tensor (axis 0 or −1) is its own scan."""
    ndim = x.ndim or 1
    if not isinstance(axis, (int, np.integer)):
        raise TypeError(f"{op}: expected an int axis (dim), got {axis!r}")
    if not -ndim <= axis < ndim:
        raise ValueError(f"{op}: axis {axis} is out of range for a tensor with {x.ndim} dimensions")
    if x.ndim == 0:
        return x
    axis %= x.ndim
    n = x.shape[axis]
    lead = (slice(None),) * axis
    y, shift = x, 1
    while shift < n:
        widths = tuple((shift, 0) if i == axis else (0, 0) for i in range(x.ndim))
        y = combine(y, pad(y[lead + (slice(0, n - shift),)], widths, value=identity))
        shift *= 2
    return y


@scoped("cumsum")
def cumsum(x, axis):
    """y[i] = Σ_{j≤i} x[j] along `axis`; gradient: the reverse cumulative sum of ḡ."""
    return _scan(x, axis, add, 0, "cumsum")


@scoped("cumprod")
def cumprod(x, axis):
    """y[i] = ∏_{j≤i} x[j] along `axis`; gradient Σ_{k≥i} ḡ_k·∏_{j≤k, j≠i} x_j (no division: zeros are fine)."""
    return _scan(x, axis, mul, 1, "cumprod")
