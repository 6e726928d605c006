"""Elementwise primitives. Each: forward on arrays, VJP on arrays or Tensors (see `function`), formulas.

Binary VJPs return gradients of the broadcast shape; the engine sums them back
to each input's shape (`sum_to`), so the rules below are the textbook ones.
"""
import numpy as np

from ..function import Formula, Function, primitive, values
from ..dtypes import get_default_dtype, result_type
from ..tensor import Tensor, as_tensor


@primitive
class Add(Function):
    formula = Formula(("a", "b"), "a + b", "a + b", ("ḡ", "ḡ"), (r"\bar{g}", r"\bar{g}"))

    @staticmethod
    def forward(ctx, a, b):
        return a + b

    @staticmethod
    def backward(ctx, g):
        return g, g


@primitive
class Sub(Function):
    formula = Formula(("a", "b"), "a − b", "a - b", ("ḡ", "−ḡ"), (r"\bar{g}", r"-\bar{g}"))

    @staticmethod
    def forward(ctx, a, b):
        return a - b

    @staticmethod
    def backward(ctx, g):
        return g, -g if ctx.needs_input_grad[1] else None


@primitive
class Mul(Function):
    formula = Formula(("a", "b"), "a·b", r"a \cdot b", ("ḡ·b", "ḡ·a"),
                      (r"\bar{g} \cdot b", r"\bar{g} \cdot a"))

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        return (g * b if need_a else None), (g * a if need_b else None)


@primitive
class Div(Function):
    formula = Formula(("a", "b"), "a / b", r"\frac{a}{b}", ("ḡ / b", "−ḡ·a / b²"),
                      (r"\frac{\bar{g}}{b}", r"-\frac{\bar{g}\, a}{b^{2}}"))

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a / b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        ga = g / b if need_a else None
        gb = -g * a / (b * b) if need_b else None
        return ga, gb


@primitive
class Neg(Function):
    formula = Formula(("a",), "−a", "-a", ("−ḡ",), (r"-\bar{g}",))

    @staticmethod
    def forward(ctx, a):
        return -a

    @staticmethod
    def backward(ctx, g):
        return -g


@primitive
class Pow(Function):
    formula = Formula(("a", "b"), "a^b", "a^{b}", ("ḡ·b·a^(b−1) (0 where b = 0)", "ḡ·a^b·ln a (0 where a = 0, b ≥ 0)"),
                      (r"\bar{g}\, b\, a^{b-1}", r"\bar{g}\, a^{b} \ln a"))

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return np.power(a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        ga = gb = None
        if need_a:  # a⁰ is constant: where b = 0 the exponent b − 1 becomes 0, so 0·a⁰ = 0 even at a = 0
            zero_exponent = values(b) == 0
            ga = g * b * a ** (where(zero_exponent, 0.0, b - 1) if zero_exponent.any() else b - 1)
        if need_b:  # like PyTorch: 0 where a = 0 and b ≥ 0; ln of a < 0 is NaN, a = 0 with b < 0 gives −∞
            zero_base = (values(a) == 0) & (values(b) >= 0)
            with np.errstate(divide="ignore", invalid="ignore"):
                gb = g * a ** b * log(where(zero_base, 1.0, a) if zero_base.any() else a)
        return ga, gb


@primitive
class Exp(Function):
    formula = Formula(("a",), "exp(a)", r"e^{a}", ("ḡ·y",), (r"\bar{g}\, y",))

    @staticmethod
    def forward(ctx, a):
        y = np.exp(a)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        y, = ctx.saved_tensors
        return g * y


@primitive
class Log(Function):
    formula = Formula(("a",), "ln a", r"\ln a", ("ḡ / a",), (r"\frac{\bar{g}}{a}",))

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.log(a)

    @staticmethod
    def backward(ctx, g):
        a, = ctx.saved_tensors
        return g / a


@primitive
class Sqrt(Function):
    formula = Formula(("a",), "√a", r"\sqrt{a}", ("ḡ / (2y)",), (r"\frac{\bar{g}}{2 y}",))

    @staticmethod
    def forward(ctx, a):
        y = np.sqrt(a)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        y, = ctx.saved_tensors
        return g / (2 * y)


@primitive
class Abs(Function):
    formula = Formula(("a",), "|a|", r"\lvert a \rvert", ("ḡ·sign(a)",), (r"\bar{g}\,\operatorname{sign}(a)",))

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.abs(a)

    @staticmethod
    def backward(ctx, g):
        a, = ctx.saved_tensors
        return g * np.sign(values(a))


@primitive
class Tanh(Function):
    formula = Formula(("a",), "tanh a", r"\tanh a", ("ḡ·(1 − y²)",), (r"\bar{g}\,(1 - y^{2})",))

    @staticmethod
    def forward(ctx, a):
        y = np.tanh(a)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        y, = ctx.saved_tensors
        return g * (1 - y * y)


@primitive
class Sigmoid(Function):
    formula = Formula(("a",), "σ(a) = 1/(1 + e^−a)", r"\sigma(a) = \frac{1}{1 + e^{-a}}",
                      ("ḡ·y·(1 − y)",), (r"\bar{g}\, y\,(1 - y)",))

    @staticmethod
    def forward(ctx, a):
        y = 0.5 * (1 + np.tanh(0.5 * a))  # = 1/(1+e^-a) without overflow for large |a|
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        y, = ctx.saved_tensors
        return g * (y * (1 - y))


@primitive
class Relu(Function):
    formula = Formula(("a",), "max(a, 0)", r"\max(a, 0)", ("ḡ·[a > 0]",), (r"\bar{g}\,[a > 0]",))

    @staticmethod
    def forward(ctx, a):
        y = np.maximum(a, 0)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        y, = ctx.saved_tensors
        return g * (values(y) > 0)


class _Pick(Function):
    """Elementwise max or min of a and b; on ties each input gets half the gradient.

    With y = pick(a, b), a's share of ḡ is [a = y] − ½·[a = b] (1, ½ or 0) and b gets the rest.
    """

    pick = None

    @classmethod
    def forward(cls, ctx, a, b):
        ctx.save_for_backward(a, b)
        return cls.pick(a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        a, b = values(a), values(b)
        share = ((a == ctx.function.pick(a, b)) - 0.5 * (a == b)).astype(g.dtype)
        return g * share, g * (1 - share)


@primitive
class Maximum(_Pick):
    formula = Formula(("a", "b"), "max(a, b)", r"\max(a, b)", ("ḡ·[a > b] (½ on ties)", "ḡ·[b > a] (½ on ties)"),
                      (r"\bar{g}\,[a > b]", r"\bar{g}\,[b > a]"))
    pick = staticmethod(np.maximum)


@primitive
class Minimum(_Pick):
    formula = Formula(("a", "b"), "min(a, b)", r"\min(a, b)", ("ḡ·[a < b] (½ on ties)", "ḡ·[b < a] (½ on ties)"),
                      (r"\bar{g}\,[a < b]", r"\bar{g}\,[b < a]"))
    pick = staticmethod(np.minimum)


@primitive
class Where(Function):
    formula = Formula(("c", "a", "b"), "c ? a : b", r"c \,?\, a : b", ("—", "ḡ·[c]", "ḡ·[¬c]"),
                      ("-", r"\bar{g}\,[c]", r"\bar{g}\,[\lnot c]"))

    @staticmethod
    def forward(ctx, c, a, b):
        ctx.save_for_backward(c)
        return np.where(c, a, b)

    @staticmethod
    def backward(ctx, g):
        c, = ctx.saved_tensors
        zero = np.zeros((), g.dtype)
        _, need_a, need_b = ctx.needs_input_grad
        return (None, where(c, g, zero) if need_a else None, where(c, zero, g) if need_b else None)


@primitive
class Clip(Function):
    formula = Formula(("a",), "clip(a, lo, hi)", r"\min(\max(a, lo), hi)", ("ḡ·[lo ≤ a ≤ hi]",),
                      (r"\bar{g}\,[lo \le a \le hi]",))

    @staticmethod
    def forward(ctx, a, lo=None, hi=None):
        inside = np.ones(a.shape, bool)
        if lo is not None:
            inside &= a >= lo
        if hi is not None:
            inside &= a <= hi
        ctx.save_for_backward(inside)
        return np.clip(a, lo, hi)

    @staticmethod
    def backward(ctx, g):
        inside, = ctx.saved_tensors
        return g * inside


@primitive
class Cast(Function):
    formula = Formula(("a",), "a as dtype", r"\operatorname{cast}(a)", ("cast(ḡ) back to a's dtype",),
                      (r"\operatorname{cast}(\bar{g})",))

    @staticmethod
    def forward(ctx, a, dtype):
        ctx.in_dtype = a.dtype
        return a.astype(dtype)

    @staticmethod
    def backward(ctx, g):
        return cast(g, ctx.in_dtype)


_NUMBERS = {}


def _number(x, dtype):
    """A Python number as a NumPy scalar of dtype, cached (the same few constants recur in every step).

    A scalar, not a 0-d array: on 0-d tensors (whose arrays `Function.apply` hands the forward as
    scalars) NumPy's scalar arithmetic is ~10× faster than its ufuncs on 0-d arrays."""
    key = (x, type(x), dtype)
    scalar = _NUMBERS.get(key)
    if scalar is None:
        scalar = dtype.type(x)
        if x != x or (x == 0 and type(x) is float):  # never cached: NaN equals no key, −0.0 would equal 0.0
            return scalar
        if len(_NUMBERS) > 4096:  # a loop over many distinct numbers: keep the cache small
            _NUMBERS.clear()
        _NUMBERS[key] = scalar
    return scalar


def _operand(x, dtype):
    """x in dtype: a Tensor as it is when NumPy would widen it to dtype anyway, else cast (keeping its gradient);
    a number or an array as a raw constant (no Tensor, no graph edge)."""
    if isinstance(x, Tensor):
        return x if np.can_cast(x.data.dtype, dtype) else cast(x, dtype)
    return np.asarray(x).astype(dtype, copy=False)


def _binary(cls, floating=False):
    """The function of a binary primitive: operands promoted by `result_type` (integers to the default float
    dtype for a `floating` op such as true division)."""
    apply = cls.apply  # bound once: no attribute lookup on the class per call

    def op(a, b):
        # the common cases first: two float tensors of one dtype, a float tensor and a Python number
        if isinstance(a, Tensor):
            dtype = a.data.dtype
            if isinstance(b, Tensor):
                if dtype is b.data.dtype and dtype.kind == "f":
                    return apply(a, b)
            elif type(b) in (float, int) and dtype.kind == "f":
                return apply(a, _number(b, dtype))
        elif type(a) in (float, int) and isinstance(b, Tensor) and b.data.dtype.kind == "f":
            return apply(_number(a, b.data.dtype), b)
        if not isinstance(a, Tensor) and not isinstance(b, Tensor):
            raise TypeError(f"{cls.name}: expected at least one Tensor, got {type(a).__name__} and {type(b).__name__}")
        dtype = result_type(*_promotable((a, b)))
        if floating and dtype.kind != "f":
            dtype = get_default_dtype()
        return apply(_operand(a, dtype), _operand(b, dtype))

    op.__name__ = cls.name
    op.__doc__ = f"{cls.name}(a, b) = {cls.formula.text}, broadcasting like NumPy."
    return op


def _promotable(operands):
    """Operands as `result_type` takes them: lists and tuples become arrays (Python floats in the default dtype)."""
    return [as_tensor(x) if isinstance(x, (list, tuple)) else x for x in operands]


add = _binary(Add)
sub = _binary(Sub)
mul = _binary(Mul)
div = _binary(Div, floating=True)
pow = _binary(Pow)
maximum = _binary(Maximum)
minimum = _binary(Minimum)


def to_float(a):
    """a as a floating Tensor: integer and bool tensors (and numbers) become the default float dtype, like PyTorch."""
    a = as_tensor(a)
    return a if a.data.dtype.kind == "f" else cast(a, get_default_dtype())


def _unary(cls, floating=True):
    """The function of a unary primitive; a `floating` one (exp, log, …) computes integers in the default float dtype."""
    apply = cls.apply
    if floating:
        def op(a):  # (an array in a VJP run on arrays stays one)
            return apply(a if isinstance(a, (Tensor, np.ndarray, np.generic)) and a.dtype.kind == "f" else to_float(a))
    else:
        def op(a):
            return apply(a)

    op.__name__ = cls.name
    op.__doc__ = f"y = {cls.formula.text}, elementwise; VJP {cls.formula.vjps[0]} (ḡ: the upstream gradient)."
    return op


neg = _unary(Neg, floating=False)
exp = _unary(Exp)
log = _unary(Log)
sqrt = _unary(Sqrt)
abs = _unary(Abs, floating=False)
tanh = _unary(Tanh)
sigmoid = _unary(Sigmoid)
relu = _unary(Relu, floating=False)


def where(condition, a, b):
    """Pick a where condition holds, else b (condition gets no gradient)."""
    c = condition.data if isinstance(condition, Tensor) else np.asarray(condition, bool)
    dtype = result_type(*_promotable((a, b)))
    return Where.apply(c, _operand(a, dtype), _operand(b, dtype))


def clip(a, lo=None, hi=None):
    """Clamp to [lo, hi] (numbers, arrays or tensors, given no gradient); the gradient passes where lo ≤ a ≤ hi."""
    lo = lo.data if isinstance(lo, Tensor) else lo
    hi = hi.data if isinstance(hi, Tensor) else hi
    return Clip.apply(a, lo=lo, hi=hi)


def cast(a, dtype):
    """Convert to dtype; the gradient is converted back."""
    dtype = np.dtype(dtype)
    if a.dtype == dtype:
        return a
    if dtype.kind != "f":  # integer and bool tensors carry no gradient
        return Tensor._wrap(a.data.astype(dtype))
    return Cast.apply(a, dtype=dtype)
