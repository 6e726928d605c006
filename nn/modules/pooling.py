"""Pooling layers: MaxPool2d, AvgPool2d, AdaptiveAvgPool2d (all unfold → reduce over the window axes)."""
from .. import functional as F
from .module import Module


class _Pool2d(Module):
    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding = padding

    def _check(self, x):
        if x.ndim != 4:
            raise ValueError(f"{self.describe()}: expected a 4-D input (N, C, H, W), got shape {tuple(x.shape)}")

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxPool2d(_Pool2d):
    """Maximum over each KH×KW window; the gradient goes to the window's maximum (split evenly on ties)."""

    def forward(self, x):
        self._check(x)
        return F.max_pool2d(x, self.kernel_size, self.stride, self.padding)


class AvgPool2d(_Pool2d):
    """Mean over each KH×KW window (zero padding counted in the mean, like PyTorch's default)."""

    def forward(self, x):
        self._check(x)
        return F.avg_pool2d(x, self.kernel_size, self.stride, self.padding)


class AdaptiveAvgPool2d(Module):
    """Average pooling to a fixed output size; AdaptiveAvgPool2d(1) is global average pooling."""

    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def forward(self, x):
        if x.ndim != 4:
            raise ValueError(f"{self.describe()}: expected a 4-D input (N, C, H, W), got shape {tuple(x.shape)}")
        return F.adaptive_avg_pool2d(x, self.output_size)

    def extra_repr(self):
        return f"output_size={self.output_size}"
