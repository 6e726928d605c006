"""Reference models: LeNet5, DigitsCNN, SmallVGG, BasicBlock/ResNet, TinyUNet, ConvAutoencoder.

Layer names follow PyTorch's usual ones (`features`/`classifier`, `conv1`/`bn1`/`layer1`/`fc`), so
state_dict keys such as `features.0.weight` map one to one onto the equivalent PyTorch model.
"""
import autograd as ag

from .modules import (AdaptiveAvgPool2d, AvgPool2d, BatchNorm2d, Conv2d, ConvTranspose2d, Dropout, Linear,
                      MaxPool2d, Module, ReLU, Sequential, Sigmoid, Tanh, Upsample)

_ACTIVATIONS = {"relu": ReLU, "tanh": Tanh}
_POOLS = {"max": MaxPool2d, "avg": AvgPool2d}


def _choice(value, options, what, model):
    if value not in options:
        raise ValueError(f"{model}: {what} must be one of {sorted(options)}, got {value!r}")
    return options[value]


class LeNet5(Module):
    """LeNet-5 for 28×28 inputs (padding=2; use padding=0 for the original 32×32):

    conv 5×5 (6) → act → pool 2 → conv 5×5 (16) → act → pool 2 → fc 400 → 120 → 84 → num_classes.
    activation 'relu' (default) or 'tanh' (LeCun's); pooling 'max' (default) or 'avg' (subsampling).
    """

    def __init__(self, in_channels=1, num_classes=10, activation="relu", pooling="max", padding=2):
        super().__init__()
        act = _choice(activation, _ACTIVATIONS, "activation", "LeNet5")
        pool = _choice(pooling, _POOLS, "pooling", "LeNet5")
        self.features = Sequential(
            Conv2d(in_channels, 6, 5, padding=padding), act(), pool(2),
            Conv2d(6, 16, 5), act(), pool(2),
        )
        self.classifier = Sequential(
            Linear(16 * 5 * 5, 120), act(),
            Linear(120, 84), act(),
            Linear(84, num_classes),
        )

    def forward(self, x):
        return self.classifier(self.features(x).flatten(1))


class DigitsCNN(Module):
    """A small CNN for 1×8×8 digits: conv 3×3 (16) → conv 3×3 (32) → max pool → dropout → fc 512 → 64 → 10.

    38k parameters; with Adam and ±1-pixel random shifts (`nn.data.RandomCrop(8, padding=1)`) it reaches
    about 98–99% test accuracy on the UCI digits in a few seconds (≥97% without the shifts).
    """

    def __init__(self, in_channels=1, num_classes=10, dropout=0.25):
        super().__init__()
        self.features = Sequential(
            Conv2d(in_channels, 16, 3, padding=1), ReLU(),
            Conv2d(16, 32, 3, padding=1), ReLU(), MaxPool2d(2),
        )
        self.classifier = Sequential(Dropout(dropout), Linear(32 * 4 * 4, 64), ReLU(), Linear(64, num_classes))

    def forward(self, x):
        return self.classifier(self.features(x).flatten(1))


class SmallVGG(Module):
    """VGG-style: per stage two 3×3 convs (+ batch norm if asked) with ReLU, then 2×2 max pooling.

    widths=(16, 32, 64) on 32×32 inputs gives 64×4×4 features → fc 128 → dropout → num_classes.
    """

    def __init__(self, in_channels=3, num_classes=10, widths=(16, 32, 64), input_size=32, batch_norm=False,
                 hidden=128, dropout=0.5):
        super().__init__()
        layers = []
        channels = in_channels
        for width in widths:
            for _ in range(2):
                layers.append(Conv2d(channels, width, 3, padding=1, bias=not batch_norm))
                if batch_norm:
                    layers.append(BatchNorm2d(width))
                layers.append(ReLU())
                channels = width
            layers.append(MaxPool2d(2))
        size = input_size // 2 ** len(widths)
        if size < 1:
            raise ValueError(f"SmallVGG: input_size {input_size} is too small for {len(widths)} pooling stages")
        self.features = Sequential(*layers)
        self.classifier = Sequential(Linear(channels * size * size, hidden), ReLU(), Dropout(dropout),
                                     Linear(hidden, num_classes))

    def forward(self, x):
        return self.classifier(self.features(x).flatten(1))


class BasicBlock(Module):
    """ResNet basic block: y = relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)).

    The shortcut is the identity, or `downsample` (e.g. a 1×1 conv with stride + batch norm) when the
    shape changes.
    """

    expansion = 1

    def __init__(self, in_planes, planes, stride=1, downsample=None):
        super().__init__()
        if downsample is None and (stride != 1 or in_planes != planes * self.expansion):
            raise ValueError(f"BasicBlock({in_planes}, {planes}, stride={stride}): the output shape differs from "
                             "the input's, so the shortcut needs a downsample module (e.g. 1×1 conv + batch norm)")
        self.conv1 = Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = BatchNorm2d(planes)
        self.relu = ReLU()
        self.conv2 = Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.relu(out + shortcut)


class ResNet(Module):
    """ResNet for 32×32 inputs (He et al.'s CIFAR design): conv 3×3 → stages of BasicBlocks → global
    average pooling → fc. Each stage after the first halves the size and doubles the width.

    layers=(3, 3, 3), widths=(16, 32, 64) is ResNet-20; the default (1, 1, 1) is a small one.
    """

    def __init__(self, layers=(1, 1, 1), widths=(16, 32, 64), in_channels=3, num_classes=10, block=BasicBlock):
        super().__init__()
        if len(layers) != len(widths):
            raise ValueError(f"ResNet: layers {layers} and widths {widths} must have the same length")
        self.in_planes = widths[0]
        self.conv1 = Conv2d(in_channels, widths[0], 3, padding=1, bias=False)
        self.bn1 = BatchNorm2d(widths[0])
        self.relu = ReLU()
        for i, (blocks, width) in enumerate(zip(layers, widths)):
            setattr(self, f"layer{i + 1}", self._make_layer(block, width, blocks, 1 if i == 0 else 2))
        self.avgpool = AdaptiveAvgPool2d(1)
        self.fc = Linear(widths[-1] * block.expansion, num_classes)
        self.n_stages = len(layers)

    def _make_layer(self, block, planes, blocks, stride):
        downsample = None
        if stride != 1 or self.in_planes != planes * block.expansion:
            downsample = Sequential(Conv2d(self.in_planes, planes * block.expansion, 1, stride=stride, bias=False),
                                    BatchNorm2d(planes * block.expansion))
        layers = [block(self.in_planes, planes, stride, downsample)]
        self.in_planes = planes * block.expansion
        layers += [block(self.in_planes, planes) for _ in range(1, blocks)]
        return Sequential(*layers)

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        for i in range(self.n_stages):
            x = getattr(self, f"layer{i + 1}")(x)
        return self.fc(self.avgpool(x).flatten(1))


def _double_conv(in_channels, out_channels):
    return Sequential(Conv2d(in_channels, out_channels, 3, padding=1), ReLU(),
                      Conv2d(out_channels, out_channels, 3, padding=1), ReLU())


UPSAMPLES = ("transpose", "nearest", "bilinear")


def _upsampler(upsample, in_channels, out_channels):
    """×2 upsampling that also halves the channels: a learned 2×2 stride-2 transposed convolution, or a fixed
    nn.Upsample (nearest or bilinear) followed by a 3×3 convolution."""
    if upsample == "transpose":
        return ConvTranspose2d(in_channels, out_channels, 2, stride=2)
    return Sequential(Upsample(scale_factor=2, mode=upsample), Conv2d(in_channels, out_channels, 3, padding=1))


class TinyUNet(Module):
    """A two-level U-Net: encoder (double conv, pool) ×2 → bottleneck → decoder (×2 upsampling, concatenation
    with the encoder's skip, double conv) ×2 → 1×1 conv. H and W must be divisible by 4; the output has the
    input's spatial size.

    upsample: 'transpose' (default) a 2×2 stride-2 transposed convolution; 'nearest' or 'bilinear' nn.Upsample
    then a 3×3 convolution (fixed interpolation, no checkerboard artefacts of overlapping-free transposed convs).
    """

    def __init__(self, in_channels=1, out_channels=1, base=8, upsample="transpose"):
        super().__init__()
        if upsample not in UPSAMPLES:
            raise ValueError(f"TinyUNet: upsample must be one of {', '.join(map(repr, UPSAMPLES))}, got {upsample!r}")
        self.enc1 = _double_conv(in_channels, base)
        self.enc2 = _double_conv(base, 2 * base)
        self.pool = MaxPool2d(2)
        self.bottleneck = _double_conv(2 * base, 4 * base)
        self.up2 = _upsampler(upsample, 4 * base, 2 * base)
        self.dec2 = _double_conv(4 * base, 2 * base)
        self.up1 = _upsampler(upsample, 2 * base, base)
        self.dec1 = _double_conv(2 * base, base)
        self.head = Conv2d(base, out_channels, 1)

    def forward(self, x):
        if x.ndim != 4 or x.shape[2] % 4 or x.shape[3] % 4:
            raise ValueError(f"TinyUNet: expected (N, C, H, W) with H and W divisible by 4, got {tuple(x.shape)}")
        s1 = self.enc1(x)
        s2 = self.enc2(self.pool(s1))
        b = self.bottleneck(self.pool(s2))
        d2 = self.dec2(ag.concatenate([self.up2(b), s2], axis=1))
        d1 = self.dec1(ag.concatenate([self.up1(d2), s1], axis=1))
        return self.head(d1)


class ConvAutoencoder(Module):
    """Convolutional autoencoder: two stride-2 convs encode 28×28 to 32×7×7, two stride-2 transposed
    convs decode back; the sigmoid output suits inputs in [0, 1] (train with MSELoss or BCE).
    """

    def __init__(self, in_channels=1, widths=(16, 32)):
        super().__init__()
        c1, c2 = widths
        self.encoder = Sequential(Conv2d(in_channels, c1, 3, stride=2, padding=1), ReLU(),
                                  Conv2d(c1, c2, 3, stride=2, padding=1), ReLU())
        self.decoder = Sequential(ConvTranspose2d(c2, c1, 3, stride=2, padding=1, output_padding=1), ReLU(),
                                  ConvTranspose2d(c1, in_channels, 3, stride=2, padding=1, output_padding=1),
                                  Sigmoid())

    def encode(self, x):
        return self.encoder(x)

    def decode(self, z):
        return self.decoder(z)

    def forward(self, x):
        return self.decoder(self.encoder(x))
