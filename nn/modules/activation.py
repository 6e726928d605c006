"""Activation layers, PyTorch's names and arguments: each applies one function of `nn.functional`."""
from .. import functional as F
from .module import Module


class _Activation(Module):
    """A layer that applies `fn` elementwise, with the options named in `options` (set by the subclass's __init__)."""

    fn = None
    options = ()

    def forward(self, x):
        return type(self).fn(x, **{name: getattr(self, name) for name in self.options})

    def extra_repr(self):
        return ", ".join(f"{name}={getattr(self, name)!r}" for name in self.options)


class ReLU(_Activation):
    """max(x, 0)."""

    fn = staticmethod(F.relu)


class LeakyReLU(_Activation):
    """x for x > 0, negative_slope·x otherwise."""

    fn = staticmethod(F.leaky_relu)
    options = ("negative_slope",)

    def __init__(self, negative_slope=0.01):
        super().__init__()
        self.negative_slope = negative_slope


class Sigmoid(_Activation):
    """1 / (1 + e^{−x})."""

    fn = staticmethod(F.sigmoid)


class Tanh(_Activation):
    """tanh(x)."""

    fn = staticmethod(F.tanh)


class GELU(_Activation):
    """x·Φ(x) (approximate='tanh': the tanh formula)."""

    fn = staticmethod(F.gelu)
    options = ("approximate",)

    def __init__(self, approximate="none"):
        super().__init__()
        self.approximate = approximate


class ELU(_Activation):
    """x for x > 0, α·(eˣ − 1) otherwise."""

    fn = staticmethod(F.elu)
    options = ("alpha",)

    def __init__(self, alpha=1.0):
        super().__init__()
        self.alpha = alpha


class SELU(_Activation):
    """λ·ELU(x, α) with the self-normalising λ ≈ 1.0507, α ≈ 1.6733."""

    fn = staticmethod(F.selu)


class CELU(_Activation):
    """x for x > 0, α·(e^{x/α} − 1) otherwise."""

    fn = staticmethod(F.celu)
    options = ("alpha",)

    def __init__(self, alpha=1.0):
        super().__init__()
        self.alpha = alpha


class SiLU(_Activation):
    """x·σ(x)."""

    fn = staticmethod(F.silu)


class Mish(_Activation):
    """x·tanh(softplus(x))."""

    fn = staticmethod(F.mish)


class Softplus(_Activation):
    """log(1 + e^{βx}) / β, linear where βx > threshold."""

    fn = staticmethod(F.softplus)
    options = ("beta", "threshold")

    def __init__(self, beta=1.0, threshold=20.0):
        super().__init__()
        self.beta = beta
        self.threshold = threshold


class Softsign(_Activation):
    """x / (1 + |x|)."""

    fn = staticmethod(F.softsign)


class Hardtanh(_Activation):
    """x clamped to [min_val, max_val]."""

    fn = staticmethod(F.hardtanh)
    options = ("min_val", "max_val")

    def __init__(self, min_val=-1.0, max_val=1.0):
        super().__init__()
        self.min_val = min_val
        self.max_val = max_val


class ReLU6(_Activation):
    """min(max(x, 0), 6)."""

    fn = staticmethod(F.relu6)


class Hardsigmoid(_Activation):
    """relu6(x + 3) / 6."""

    fn = staticmethod(F.hardsigmoid)


class Hardswish(_Activation):
    """x·relu6(x + 3) / 6."""

    fn = staticmethod(F.hardswish)


class LogSigmoid(_Activation):
    """log σ(x)."""

    fn = staticmethod(F.logsigmoid)


class Softmax(_Activation):
    """e^{x_i} / Σ_j e^{x_j} along `dim` (computed with the row maximum subtracted)."""

    fn = staticmethod(F.softmax)
    options = ("dim",)

    def __init__(self, dim=-1):
        super().__init__()
        self.dim = dim


class LogSoftmax(Softmax):
    """x_i − log Σ_j e^{x_j} along `dim` (stable log-sum-exp)."""

    fn = staticmethod(F.log_softmax)
