"""More elementwise math: trigonometry, logarithm variants, erf, rounding, remainder, and composites of them.

Primitives are the functions whose value or precision no composition keeps (asin, log1p near 0, log10 of
powers of ten, erf, the exact remainder); the rest are composites with no backward code:

    tan = sin / cos           sinh = (expm1(x) − expm1(−x)) / 2       cosh = (eˣ + e⁻ˣ) / 2
    exp2 = 2^x                rsqrt = x^(−½)                           reciprocal = 1 / x
    logaddexp = m + ln(e^(a−m) + e^(b−m))                              lerp = a + w·(b − a)

The rounding functions (sign, floor, ceil, round, trunc) are piecewise constant: their gradient is 0,
as in PyTorch. floor_divide and isnan/isinf/isfinite give constants (no gradient).
"""
import math

import numpy as np

from ..creation import from_numpy
from ..dtypes import result_type
from ..function import Formula, Function, primitive, values
from ..grad_mode import scoped
from ..tensor import Tensor, as_tensor
from .elementwise import _binary, _promotable, _unary, div, exp, log, pow, sqrt
from .reduce import shift_for_exp


@primitive
class Sin(Function):
    formula = Formula(("a",), "sin a", r"\sin a", ("ḡ·cos a",), (r"\bar{g}\,\cos a",))

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.sin(a)

    @staticmethod
    def backward(ctx, g):
        a, = ctx.saved_tensors
        return g * cos(a)


@primitive
class Cos(Function):
    formula = Formula(("a",), "cos a", r"\cos a", ("−ḡ·sin a",), (r"-\bar{g}\,\sin a",))

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.cos(a)

    @staticmethod
    def backward(ctx, g):
        a, = ctx.saved_tensors
        return -g * sin(a)


@primitive
class Asin(Function):
    formula = Formula(("a",), "asin a", r"\arcsin a", ("ḡ / √(1 − a²)",), (r"\frac{\bar{g}}{\sqrt{1 - a^{2}}}",))

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.arcsin(a)

    @staticmethod
    def backward(ctx, g):
        a, = ctx.saved_tensors
        return g / sqrt(1 - a * a)


@primitive
class Acos(Function):
    formula = Formula(("a",), "acos a", r"\arccos a", ("−ḡ / √(1 − a²)",), (r"-\frac{\bar{g}}{\sqrt{1 - a^{2}}}",))

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.arccos(a)

    @staticmethod
    def backward(ctx, g):
        a, = ctx.saved_tensors
        return -g / sqrt(1 - a * a)


@primitive
class Atan(Function):
    formula = Formula(("a",), "atan a", r"\arctan a", ("ḡ / (1 + a²)",), (r"\frac{\bar{g}}{1 + a^{2}}",))

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.arctan(a)

    @staticmethod
    def backward(ctx, g):
        a, = ctx.saved_tensors
        return g / (1 + a * a)


class _LogBase(Function):
    """log in a fixed base: ln a / ln base, computed by NumPy's own log2/log10 (exact on powers of the base)."""

    base = fn = None

    @classmethod
    def forward(cls, ctx, a):
        ctx.save_for_backward(a)
        return cls.fn(a)

    @staticmethod
    def backward(ctx, g):
        a, = ctx.saved_tensors
        return g / (a * math.log(ctx.function.base))


@primitive
class Log2(_LogBase):
    formula = Formula(("a",), "log₂ a", r"\log_{2} a", ("ḡ / (a·ln 2)",), (r"\frac{\bar{g}}{a \ln 2}",))
    base, fn = 2, staticmethod(np.log2)


@primitive
class Log10(_LogBase):
    formula = Formula(("a",), "log₁₀ a", r"\log_{10} a", ("ḡ / (a·ln 10)",), (r"\frac{\bar{g}}{a \ln 10}",))
    base, fn = 10, staticmethod(np.log10)


@primitive
class Log1p(Function):
    formula = Formula(("a",), "ln(1 + a)", r"\ln(1 + a)", ("ḡ / (1 + a)",), (r"\frac{\bar{g}}{1 + a}",))

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.log1p(a)

    @staticmethod
    def backward(ctx, g):
        a, = ctx.saved_tensors
        return g / (1 + a)


@primitive
class Expm1(Function):
    formula = Formula(("a",), "e^a − 1", r"e^{a} - 1", ("ḡ·(y + 1)",), (r"\bar{g}\,(y + 1)",))

    @staticmethod
    def forward(ctx, a):
        y = np.expm1(a)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        y, = ctx.saved_tensors
        return g * (y + 1)


_erf = np.frompyfunc(math.erf, 1, 1)  # NumPy has no erf ufunc: the C library's, element by element


@primitive
class Erf(Function):
    formula = Formula(("a",), "erf a = (2/√π) ∫₀ᵃ e^(−t²) dt", r"\operatorname{erf} a", ("ḡ·(2/√π)·e^(−a²)",),
                      (r"\bar{g}\,\frac{2}{\sqrt{\pi}} e^{-a^{2}}",))

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.asarray(_erf(a), dtype=a.dtype)

    @staticmethod
    def backward(ctx, g):
        a, = ctx.saved_tensors
        return g * (2 / math.sqrt(math.pi)) * exp(-(a * a))


class _Step(Function):
    """A piecewise-constant function: its derivative is 0 wherever it exists (PyTorch's convention at the jumps)."""

    fn = None

    @classmethod
    def forward(cls, ctx, a):
        return cls.fn(a)

    @staticmethod
    def backward(ctx, g):
        return np.zeros(g.shape, g.dtype)


@primitive
class Sign(_Step):
    formula = Formula(("a",), "sign a", r"\operatorname{sign} a", ("0",), ("0",))
    fn = staticmethod(np.sign)


@primitive
class Floor(_Step):
    formula = Formula(("a",), "⌊a⌋", r"\lfloor a \rfloor", ("0",), ("0",))
    fn = staticmethod(np.floor)


@primitive
class Ceil(_Step):
    formula = Formula(("a",), "⌈a⌉", r"\lceil a \rceil", ("0",), ("0",))
    fn = staticmethod(np.ceil)


@primitive
class Round(_Step):
    formula = Formula(("a",), "round a (halves to even)", r"\operatorname{round} a", ("0",), ("0",))
    fn = staticmethod(np.round)


@primitive
class Trunc(_Step):
    formula = Formula(("a",), "trunc a (towards 0)", r"\operatorname{trunc} a", ("0",), ("0",))
    fn = staticmethod(np.trunc)


@primitive
class Remainder(Function):
    formula = Formula(("a", "b"), "a mod b = a − b·⌊a/b⌋", r"a - b \lfloor a / b \rfloor", ("ḡ", "−ḡ·⌊a/b⌋"),
                      (r"\bar{g}", r"-\bar{g} \lfloor a / b \rfloor"))

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return np.remainder(a, b)  # exact, with the sign of b (Python's %, PyTorch's remainder)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        return (g if need_a else None), (-g * np.floor_divide(values(a), values(b)) if need_b else None)


sin = _unary(Sin)
cos = _unary(Cos)
asin = _unary(Asin)
acos = _unary(Acos)
atan = _unary(Atan)
log2 = _unary(Log2)
log10 = _unary(Log10)
log1p = _unary(Log1p)
expm1 = _unary(Expm1)
erf = _unary(Erf)
sign = _unary(Sign, floating=False)
floor = _unary(Floor, floating=False)
ceil = _unary(Ceil, floating=False)
round = _unary(Round, floating=False)
trunc = _unary(Trunc, floating=False)
remainder = _binary(Remainder)


@scoped("tan")
def tan(x):
    """tan x = sin x / cos x; gradient 1 / cos² x by the chain rule."""
    return sin(x) / cos(x)


@scoped("sinh")
def sinh(x):
    """sinh x = (expm1(x) − expm1(−x)) / 2 (no cancellation near 0); gradient cosh x."""
    return (expm1(x) - expm1(-x)) / 2


@scoped("cosh")
def cosh(x):
    """cosh x = (eˣ + e⁻ˣ) / 2; gradient sinh x."""
    return (exp(x) + exp(-x)) / 2


def exp2(x):
    """2^x, the pow primitive with base 2; gradient 2^x·ln 2."""
    return pow(2.0, x)


def rsqrt(x):
    """1/√x = x^(−½), the pow primitive; gradient −½·x^(−3/2)."""
    return pow(x, -0.5)


def reciprocal(x):
    """1/x, the div primitive; gradient −1/x²."""
    return div(1.0, x)


@scoped("logaddexp")
def logaddexp(a, b):
    """ln(eᵃ + eᵇ) = m + ln(e^(a−m) + e^(b−m)) with m = max(a, b) held constant (so nothing overflows);
    gradients eᵃ / (eᵃ + eᵇ) and eᵇ / (eᵃ + eᵇ)."""
    m = shift_for_exp(np.maximum(*_arrays(a, b)))
    with np.errstate(divide="ignore"):  # a = b = −∞: log 0 = −∞ is the answer
        return m + log(exp(a - m) + exp(b - m))


@scoped("lerp")
def lerp(start, end, weight):
    """start + weight·(end − start), elementwise with broadcasting; weight may be a number or a tensor."""
    return start + weight * (end - start)


def _arrays(a, b):
    """Both operands as arrays of their promoted dtype (for the operations without gradient)."""
    dtype = result_type(*_promotable((a, b)))
    return [np.asarray(x.data if isinstance(x, Tensor) else x).astype(dtype, copy=False) for x in (a, b)]


def floor_divide(a, b):
    """⌊a / b⌋ elementwise (Python's //, exact like NumPy's); a constant: it has no gradient (PyTorch refuses
    to differentiate it)."""
    return from_numpy(np.floor_divide(*_arrays(a, b)))


def isnan(x):
    """True where x is NaN (a bool tensor, no gradient)."""
    return from_numpy(np.isnan(as_tensor(x).data))


def isinf(x):
    """True where x is +∞ or −∞ (a bool tensor, no gradient)."""
    return from_numpy(np.isinf(as_tensor(x).data))


def isfinite(x):
    """True where x is neither NaN nor ±∞ (a bool tensor, no gradient)."""
    return from_numpy(np.isfinite(as_tensor(x).data))
