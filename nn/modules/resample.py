"""Resizing and padding layers: Upsample, MaxUnpool2d and the padding layers (thin wrappers of F.interpolate,
F.max_unpool2d and F.pad)."""
import numbers

from .. import functional as F
from .module import Module


def _float(factor):
    """A number as a float (PyTorch keeps scale factors so); anything else as it is, for F.interpolate to refuse."""
    return float(factor) if isinstance(factor, numbers.Real) else factor


class Upsample(Module):
    """Resize the spatial axes to `size` or by `scale_factor` (F.interpolate: 'nearest', 'linear', 'bilinear',
    'trilinear')."""

    def __init__(self, size=None, scale_factor=None, mode="nearest", align_corners=None):
        super().__init__()
        scale_factor = tuple(map(_float, scale_factor)) if isinstance(scale_factor, (tuple, list)) \
            else _float(scale_factor)
        self.size, self.scale_factor, self.mode, self.align_corners = size, scale_factor, mode, align_corners

    def forward(self, x):
        return F.interpolate(x, self.size, self.scale_factor, self.mode, self.align_corners)

    def extra_repr(self):
        given = f"size={self.size}" if self.size is not None else f"scale_factor={self.scale_factor}"
        corners = "" if self.align_corners is None else f", align_corners={self.align_corners}"
        return f"{given}, mode='{self.mode}'{corners}"


class MaxUnpool2d(Module):
    """Put each value back at its max_pool2d index, zeros elsewhere (F.max_unpool2d)."""

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding = padding

    def forward(self, x, indices, output_size=None):
        return F.max_unpool2d(x, indices, self.kernel_size, self.stride, self.padding, output_size)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class _Pad(Module):
    """Pad the last `axes` axes with F.pad in mode `mode`; padding is an int (all sides) or 2·axes ints."""

    mode, axes, value = "constant", 2, 0.0

    def __init__(self, padding):
        super().__init__()
        self.padding = (padding,) * (2 * self.axes) if isinstance(padding, int) else tuple(padding)
        if len(self.padding) != 2 * self.axes:
            raise ValueError(f"{type(self).__name__}: padding must be an int or {2 * self.axes} ints, got {padding!r}")

    def forward(self, x):
        return F.pad(x, self.padding, self.mode, self.value)

    def extra_repr(self):
        return f"padding={self.padding}" + (f", value={self.value}" if self.value else "")


class ConstantPad2d(_Pad):
    """Pad H and W with a constant: padding (left, right, top, bottom) or an int."""

    def __init__(self, padding, value):
        super().__init__(padding)
        self.value = value


class ZeroPad2d(_Pad):
    """Pad H and W with zeros: padding (left, right, top, bottom) or an int."""


class ReflectionPad1d(_Pad):
    """Mirror the last axis at each end (edge not repeated): padding (left, right) or an int."""

    mode, axes = "reflect", 1


class ReflectionPad2d(ReflectionPad1d):
    """Mirror H and W at each end (edge not repeated): padding (left, right, top, bottom) or an int."""

    axes = 2


class ReplicationPad1d(_Pad):
    """Repeat the edge values of the last axis: padding (left, right) or an int."""

    mode, axes = "replicate", 1


class ReplicationPad2d(ReplicationPad1d):
    """Repeat the edge values of H and W: padding (left, right, top, bottom) or an int."""

    axes = 2


class CircularPad2d(_Pad):
    """Wrap H and W around: padding (left, right, top, bottom) or an int."""

    mode = "circular"
