"""Pooling layers: each calls its nn.functional composite (unfold → max or mean over the window axes; the
adaptive ones gather their windows) with the options it was built with, under PyTorch's names and defaults."""
from .. import functional as F
from .._checks import check_layer_input
from .module import Module


class _Pool(Module):
    """A layer that calls `function(x, **options)`, its options being attributes of the same names."""

    n = 2  # spatial axes
    function = None  # the nn.functional composite
    options = ()  # the keyword options passed on, in PyTorch's order
    shown = ()  # the options extra_repr shows (PyTorch's)

    def forward(self, x):
        check_layer_input(self, x)
        return type(self).function(x, **{name: getattr(self, name) for name in self.options})

    def extra_repr(self):
        return ", ".join(f"{name}={getattr(self, name)}" for name in self.shown)


class _MaxPool(_Pool):
    options = ("kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices")
    shown = ("kernel_size", "stride", "padding", "dilation", "ceil_mode")

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False, ceil_mode=False):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding, self.dilation = padding, dilation
        self.return_indices, self.ceil_mode = return_indices, ceil_mode


class MaxPool1d(_MaxPool):
    """Maximum over each window of length KL (F.max_pool1d); the gradient goes to the window's maximum (split
    evenly on ties); return_indices=True also returns the winners' indices (F.max_unpool2d inverts 2-d ones)."""

    n, function = 1, F.max_pool1d


class MaxPool2d(_MaxPool):
    """Maximum over each KH×KW window (F.max_pool2d); the gradient goes to the window's maximum (split evenly
    on ties); return_indices=True also returns the winners' flat indices, which nn.MaxUnpool2d inverts."""

    function = F.max_pool2d


class MaxPool3d(_MaxPool):
    """Maximum over each KD×KH×KW window (F.max_pool3d); the gradient goes to the window's maximum (split
    evenly on ties)."""

    n, function = 3, F.max_pool3d


class _AvgPool(_Pool):
    options = ("kernel_size", "stride", "padding", "ceil_mode", "count_include_pad", "divisor_override")
    shown = ("kernel_size", "stride", "padding")

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
                 divisor_override=None):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding, self.ceil_mode, self.count_include_pad = padding, ceil_mode, count_include_pad
        self.divisor_override = divisor_override


class AvgPool1d(_AvgPool):
    """Mean over each window of length KL (F.avg_pool1d): zero padding counted in the mean unless
    count_include_pad=False."""

    n, function = 1, F.avg_pool1d
    options = _AvgPool.options[:-1]

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
        super().__init__(kernel_size, stride, padding, ceil_mode, count_include_pad)
        # PyTorch's AvgPool1d keeps (and prints) its sizes as 1-tuples
        self.kernel_size, self.stride, self.padding = (
            v if isinstance(v, tuple) else (v,) for v in (self.kernel_size, self.stride, self.padding))


class AvgPool2d(_AvgPool):
    """Mean over each KH×KW window (F.avg_pool2d): zero padding counted in the mean (PyTorch's default) unless
    count_include_pad=False; divisor_override replaces the count."""

    function = F.avg_pool2d


class AvgPool3d(_AvgPool):
    """Mean over each KD×KH×KW window (F.avg_pool3d), with AvgPool2d's options."""

    n, function = 3, F.avg_pool3d


class _AdaptiveAvgPool(_Pool):
    options = shown = ("output_size",)

    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size


class AdaptiveAvgPool1d(_AdaptiveAvgPool):
    """Average pooling to a fixed length (F.adaptive_avg_pool1d)."""

    n, function = 1, F.adaptive_avg_pool1d


class AdaptiveAvgPool2d(_AdaptiveAvgPool):
    """Average pooling to a fixed output size; AdaptiveAvgPool2d(1) is global average pooling."""

    n, function = 2, F.adaptive_avg_pool2d


class AdaptiveAvgPool3d(_AdaptiveAvgPool):
    """Average pooling to a fixed output size (F.adaptive_avg_pool3d); AdaptiveAvgPool3d(1) is the mean over
    D, H and W."""

    n, function = 3, F.adaptive_avg_pool3d


class _AdaptiveMaxPool(_Pool):
    options = ("output_size", "return_indices")
    shown = ("output_size",)

    def __init__(self, output_size, return_indices=False):
        super().__init__()
        self.output_size, self.return_indices = output_size, return_indices


class AdaptiveMaxPool1d(_AdaptiveMaxPool):
    """Max pooling to a fixed length (F.adaptive_max_pool1d); return_indices=True also returns the winners'
    indices."""

    n, function = 1, F.adaptive_max_pool1d


class AdaptiveMaxPool2d(_AdaptiveMaxPool):
    """Max pooling to a fixed output size (F.adaptive_max_pool2d); return_indices=True also returns the
    winners' flat indices in their H·W plane."""

    n, function = 2, F.adaptive_max_pool2d


class AdaptiveMaxPool3d(_AdaptiveMaxPool):
    """Max pooling to a fixed output size (F.adaptive_max_pool3d); return_indices=True also returns the
    winners' flat indices in their D·H·W plane."""

    n, function = 3, F.adaptive_max_pool3d
