"""Convolution layers: Conv1d, Conv2d, Conv3d, ConvTranspose1d, ConvTranspose2d, ConvTranspose3d,
LocallyConnected2d.

All are cross-correlations computed by `nn.functional` (pad → unfold → matmul).
Weights are initialised like PyTorch: U(−1/√fan_in, 1/√fan_in) for weight and bias.
padding_mode (Conv1d/2d/3d, like PyTorch): 'zeros' pads inside the convolution; 'reflect', 'replicate' and
'circular' pad with F.pad(mode=...) first, then convolve with no padding.
"""
import math

from autograd.ops.window import ints, output_size

from .. import functional as F
from .. import init
from .._checks import check_layer_input
from .module import Module, new_parameter


#: padding_mode → the F.pad mode that does it ('zeros' is the convolution's own zero padding)
PADDING_MODES = {"zeros": None, "reflect": "reflect", "replicate": "replicate", "circular": "circular"}


def _reset(weight, bias, fan_in):
    """PyTorch's default: kaiming_uniform_(a=√5) on the weight (= U(±1/√fan_in)), U(±1/√fan_in) on the bias."""
    init.kaiming_uniform_(weight, a=math.sqrt(5))
    if bias is not None:
        bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
        init.uniform_(bias, -bound, bound)


class _ConvNd(Module):
    """Shared parts of the convolutions: arguments, parameters, checks, repr."""

    n = 2
    transposed = False

    def __init__(self, in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                 output_padding=0, padding_mode="zeros"):
        super().__init__()
        name = type(self).__name__
        if groups < 1 or in_channels % groups or out_channels % groups:
            raise ValueError(f"{name}: in_channels ({in_channels}) and out_channels ({out_channels}) must be "
                             f"divisible by groups ({groups})")
        if padding_mode not in PADDING_MODES:
            raise ValueError(f"{name}: padding_mode must be one of {', '.join(map(repr, PADDING_MODES))}, "
                             f"got {padding_mode!r}")
        self.padding_mode = padding_mode
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = ints(kernel_size, self.n, "kernel_size", name, 1)
        self.stride = ints(stride, self.n, "stride", name, 1)
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(f"{name}: padding must be an int, a tuple, 'same' or 'valid', got {padding!r}")
            self.padding = padding
        else:
            self.padding = ints(padding, self.n, "padding", name, 0)
        self.dilation = ints(dilation, self.n, "dilation", name, 1)
        self.output_padding = ints(output_padding, self.n, "output_padding", name, 0)
        self.groups = groups
        if self.transposed:
            self.weight = new_parameter(in_channels, out_channels // groups, *self.kernel_size)
        else:
            self.weight = new_parameter(out_channels, in_channels // groups, *self.kernel_size)
        self.register_parameter("bias", new_parameter(out_channels) if bias else None)
        self.reset_parameters()

    def reset_parameters(self):
        _reset(self.weight, self.bias, init.calculate_fan_in_and_fan_out(self.weight)[0])

    def _check(self, x):
        """x is a batch (N, C, *spatial) or one example (C, *spatial) with in_channels channels."""
        check_layer_input(self, x)
        channels = x.shape[x.ndim - self.n - 1]
        if channels != self.in_channels:
            raise ValueError(f"{self.describe()}: expected input with {self.in_channels} channels, got "
                             f"{channels} (input shape {tuple(x.shape)})")

    def _describe_args(self):
        k = self.kernel_size[0] if len(set(self.kernel_size)) == 1 else self.kernel_size
        return f"{self.in_channels}, {self.out_channels}, kernel_size={k}"

    def extra_repr(self):
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0,) * self.n:
            s += f", padding={self.padding}"
        if self.dilation != (1,) * self.n:
            s += f", dilation={self.dilation}"
        if self.output_padding != (0,) * self.n:
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode!r}"
        return s


class _Conv(_ConvNd):
    """A convolution layer: F.conv1d/2d/3d (`conv`), after F.pad in `padding_mode` unless that is 'zeros'."""

    conv = None

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias=True, padding_mode="zeros"):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                         padding_mode=padding_mode)

    def forward(self, x):
        self._check(x)
        if self.padding_mode == "zeros":
            return self.conv(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)
        return self.conv(self._pad(x), self.weight, self.bias, self.stride, 0, self.dilation, self.groups)

    def _pad(self, x):
        """x padded in padding_mode (PyTorch's widths: 'same' puts the odd one after), checked against its size."""
        mode = PADDING_MODES[self.padding_mode]
        pads = F._conv_padding(self.padding, self.kernel_size, self.stride, self.dilation, self.describe())
        spatial = tuple(x.shape[x.ndim - self.n:])
        widest = tuple(max(p) for p in pads)
        if mode == "reflect" and any(w >= n for w, n in zip(widest, spatial)):
            raise ValueError(f"{self.describe()}: padding_mode='reflect' needs padding smaller than the input "
                             f"on every side, got padding {pads} for input size {spatial}")
        if mode == "circular" and any(w > n for w, n in zip(widest, spatial)):
            raise ValueError(f"{self.describe()}: padding_mode='circular' needs padding at most the input size "
                             f"on every side, got padding {pads} for input size {spatial}")
        return F.pad(x, tuple(width for pair in reversed(pads) for width in pair), mode=mode)


class Conv1d(_Conv):
    """1-D cross-correlation: (N, C_in, L) → (N, C_out, L_out); weight (C_out, C_in/groups, K)."""

    n = 1
    conv = staticmethod(F.conv1d)


class Conv2d(_Conv):
    """2-D cross-correlation: (N, C_in, H, W) → (N, C_out, OH, OW); weight (C_out, C_in/groups, KH, KW).

    OH = ⌊(H + 2·pad − dilation·(KH − 1) − 1) / stride⌋ + 1; padding may also be 'same' or 'valid';
    padding_mode 'zeros' (default), 'reflect', 'replicate' or 'circular' says what fills the padding.
    """

    conv = staticmethod(F.conv2d)


class Conv3d(_Conv):
    """3-D cross-correlation: (N, C_in, D, H, W) → (N, C_out, OD, OH, OW); weight (C_out, C_in/groups, KD, KH, KW).

    OD = ⌊(D + 2·pad − dilation·(KD − 1) − 1) / stride⌋ + 1 (likewise OH, OW); padding and padding_mode as Conv2d.
    """

    n = 3
    conv = staticmethod(F.conv3d)


class _ConvTranspose(_ConvNd):
    """A transposed convolution layer: F.conv_transpose1d/2d/3d (`conv`), weight (C_in, C_out/groups, *kernel)."""

    transposed = True
    conv = None

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, output_padding=0, groups=1,
                 bias=True, dilation=1):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                         output_padding)
        if isinstance(self.padding, str):
            raise ValueError(f"{type(self).__name__}: padding must be an int or a tuple of {self.n} ints, "
                             f"got {padding!r}")

    def forward(self, x):
        self._check(x)
        return self.conv(x, self.weight, self.bias, self.stride, self.padding, self.output_padding, self.groups,
                         self.dilation)


class ConvTranspose1d(_ConvTranspose):
    """1-D transposed convolution (the adjoint of Conv1d): weight (C_in, C_out/groups, K).

    (N, C_in, L) → (N, C_out, OL), OL = (L − 1)·stride − 2·pad + dilation·(K − 1) + output_padding + 1.
    """

    n = 1
    conv = staticmethod(F.conv_transpose1d)


class ConvTranspose2d(_ConvTranspose):
    """Transposed convolution (the adjoint of Conv2d, for upsampling): weight (C_in, C_out/groups, KH, KW).

    OH = (H − 1)·stride − 2·pad + dilation·(KH − 1) + output_padding + 1.
    """

    conv = staticmethod(F.conv_transpose2d)


class ConvTranspose3d(_ConvTranspose):
    """3-D transposed convolution (the adjoint of Conv3d): weight (C_in, C_out/groups, KD, KH, KW).

    OD = (D − 1)·stride − 2·pad + dilation·(KD − 1) + output_padding + 1 (likewise OH, OW).
    """

    n = 3
    conv = staticmethod(F.conv_transpose3d)


class LocallyConnected2d(Module):
    """Convolution without weight sharing: each output position (p, q) has its own K×C×KH×KW filter bank.

    The input size must be fixed, since it decides the output grid: weight (OH, OW, C_out, C_in, KH, KW),
    bias (C_out, OH, OW). Parameters: OH·OW times those of the equivalent Conv2d.
    """

    def __init__(self, in_channels, out_channels, input_size, kernel_size, stride=1, padding=0, bias=True):
        super().__init__()
        name = type(self).__name__
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.input_size = ints(input_size, 2, "input_size", name, 1)
        self.kernel_size = ints(kernel_size, 2, "kernel_size", name, 1)
        self.stride = ints(stride, 2, "stride", name, 1)
        self.padding = ints(padding, 2, "padding", name, 0)
        self.output_size = tuple(output_size(n + 2 * p, k, s, 1) for n, p, k, s in
                                 zip(self.input_size, self.padding, self.kernel_size, self.stride))
        if min(self.output_size) < 1:
            raise ValueError(f"{name}: kernel {self.kernel_size} does not fit the padded input {self.input_size} "
                             f"(padding {self.padding})")
        self.weight = new_parameter(*self.output_size, out_channels, in_channels, *self.kernel_size)
        self.register_parameter("bias", new_parameter(out_channels, *self.output_size) if bias else None)
        self.reset_parameters()

    def reset_parameters(self):
        bound = 1 / math.sqrt(self.in_channels * self.kernel_size[0] * self.kernel_size[1])
        init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            init.uniform_(self.bias, -bound, bound)

    def forward(self, x):
        if x.ndim != 4:
            raise ValueError(f"{self.describe()}: expected a 4-D input (N, C, H, W), got shape {tuple(x.shape)}")
        if x.shape[1] != self.in_channels or tuple(x.shape[2:]) != self.input_size:
            raise ValueError(f"{self.describe()}: expected input with {self.in_channels} channels of size "
                             f"{self.input_size[0]}×{self.input_size[1]}, got input shape {tuple(x.shape)}")
        return F.locally_connected2d(x, self.weight, self.bias, self.stride, self.padding)

    def _describe_args(self):
        return (f"{self.in_channels}, {self.out_channels}, input_size={self.input_size}, "
                f"kernel_size={self.kernel_size}")

    def extra_repr(self):
        s = (f"{self.in_channels}, {self.out_channels}, input_size={self.input_size}, "
             f"kernel_size={self.kernel_size}, stride={self.stride}")
        if self.padding != (0, 0):
            s += f", padding={self.padding}"
        if self.bias is None:
            s += ", bias=False"
        return s
