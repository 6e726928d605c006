"""Linear, Identity and Flatten."""
import math

from .. import functional as F
from .. import init
from .module import Module, new_parameter


class Identity(Module):
    """Returns its input unchanged (a placeholder, e.g. a ResNet block without downsampling)."""

    def forward(self, x):
        return x


class Linear(Module):
    """y = x Wᵀ + b with W of shape (out_features, in_features); x is (*, in_features).

    Initialised like PyTorch: W and b ~ U(−1/√in_features, 1/√in_features).
    """

    def __init__(self, in_features, out_features, bias=True):
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.weight = new_parameter(out_features, in_features)
        self.register_parameter("bias", new_parameter(out_features) if bias else None)
        self.reset_parameters()

    def reset_parameters(self):
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1 / math.sqrt(self.in_features) if self.in_features > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, x):
        if x.ndim < 1 or x.shape[-1] != self.in_features:
            raise ValueError(f"{self.describe()}: expected input with last dimension {self.in_features}, "
                             f"got shape {tuple(x.shape)}")
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Flatten(Module):
    """Merge dimensions start_dim…end_dim into one: (N, C, H, W) → (N, C·H·W)."""

    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        self.start_dim = start_dim
        self.end_dim = end_dim

    def forward(self, x):
        return F.flatten(x, self.start_dim, self.end_dim)

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"
