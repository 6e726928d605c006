"""Activation layers: ReLU, LeakyReLU, Sigmoid, Tanh, Softmax, LogSoftmax."""
from .. import functional as F
from .module import Module


class ReLU(Module):
    """max(x, 0)."""

    def forward(self, x):
        return F.relu(x)


class LeakyReLU(Module):
    """x for x > 0, negative_slope·x otherwise."""

    def __init__(self, negative_slope=0.01):
        super().__init__()
        self.negative_slope = negative_slope

    def forward(self, x):
        return F.leaky_relu(x, self.negative_slope)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}"


class Sigmoid(Module):
    """1 / (1 + e^{−x})."""

    def forward(self, x):
        return F.sigmoid(x)


class Tanh(Module):
    """tanh(x)."""

    def forward(self, x):
        return F.tanh(x)


class Softmax(Module):
    """e^{x_i} / Σ_j e^{x_j} along `dim` (computed with the row maximum subtracted)."""

    def __init__(self, dim=-1):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return F.softmax(x, self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class LogSoftmax(Softmax):
    """x_i − log Σ_j e^{x_j} along `dim` (stable log-sum-exp)."""

    def forward(self, x):
        return F.log_softmax(x, self.dim)
