"""Reference models: shapes, one backward each, PyTorch-style names, and DigitsCNN's accuracy."""
import numpy as np
import pytest

import autograd as ag
import nn
import nn.functional as F
import optim
from nn import models

MODELS = [
    ("LeNet5", lambda: models.LeNet5(), (2, 1, 28, 28), (2, 10)),
    ("LeNet5-classic-32", lambda: models.LeNet5(activation="tanh", pooling="avg", padding=0), (2, 1, 32, 32),
     (2, 10)),
    ("LeNet5-rgb", lambda: models.LeNet5(in_channels=3, num_classes=4), (2, 3, 28, 28), (2, 4)),
    ("DigitsCNN", lambda: models.DigitsCNN(), (3, 1, 8, 8), (3, 10)),
    ("SmallVGG", lambda: models.SmallVGG(widths=(4, 8, 8)), (2, 3, 32, 32), (2, 10)),
    ("SmallVGG-bn", lambda: models.SmallVGG(widths=(4, 8), input_size=16, batch_norm=True, num_classes=3),
     (2, 3, 16, 16), (2, 3)),
    ("ResNet", lambda: models.ResNet(widths=(4, 8, 16)), (2, 3, 32, 32), (2, 10)),
    ("ResNet-2stage", lambda: models.ResNet(layers=(2, 1), widths=(4, 8), in_channels=1, num_classes=5),
     (2, 1, 16, 16), (2, 5)),
    ("TinyUNet", lambda: models.TinyUNet(base=4), (2, 1, 16, 12), (2, 1, 16, 12)),
    ("TinyUNet-multi", lambda: models.TinyUNet(in_channels=3, out_channels=2, base=2), (1, 3, 8, 8), (1, 2, 8, 8)),
    ("ConvAutoencoder", lambda: models.ConvAutoencoder(widths=(4, 8)), (2, 1, 28, 28), (2, 1, 28, 28)),
]


@pytest.mark.parametrize("make, in_shape, out_shape", [m[1:] for m in MODELS], ids=[m[0] for m in MODELS])
def test_forward_shape_and_backward(make, in_shape, out_shape):
    ag.manual_seed(0)
    model = make()
    x = ag.randn(*in_shape, requires_grad=True)
    out = model(x)
    assert out.shape == out_shape and out.dtype == np.float32
    (out * out).mean().backward()
    assert x.grad.shape == in_shape
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.shape == p.shape, name
        assert np.all(np.isfinite(p.grad.numpy())), name
    assert any(np.abs(p.grad.numpy()).sum() > 0 for p in model.parameters())


def test_lenet5_layout_and_options():
    model = models.LeNet5()
    assert sum(p.size for p in model.parameters()) == 61706
    assert list(model.state_dict())[:4] == ["features.0.weight", "features.0.bias", "features.3.weight",
                                            "features.3.bias"]
    assert isinstance(models.LeNet5(activation="tanh").features[1], nn.Tanh)
    assert isinstance(models.LeNet5(pooling="avg").features[2], nn.AvgPool2d)
    with pytest.raises(ValueError, match="activation must be one of"):
        models.LeNet5(activation="gelu")


def test_resnet_names_follow_torchvision():
    model = models.ResNet(layers=(3, 3, 3))  # ResNet-20
    keys = list(model.state_dict())
    assert keys[:2] == ["conv1.weight", "bn1.weight"] and keys[-2:] == ["fc.weight", "fc.bias"]
    assert "layer2.0.downsample.0.weight" in keys and "layer3.2.bn2.running_var" in keys
    assert "layer1.0.downsample.0.weight" not in keys
    assert sum(p.size for p in model.parameters()) == 272474


def test_basic_block_shortcuts():
    ag.manual_seed(0)
    same = models.BasicBlock(4, 4)
    assert same(ag.randn(2, 4, 6, 6)).shape == (2, 4, 6, 6)
    down = models.BasicBlock(4, 8, stride=2,
                             downsample=nn.Sequential(nn.Conv2d(4, 8, 1, stride=2, bias=False), nn.BatchNorm2d(8)))
    out = down(ag.randn(2, 4, 6, 6))
    assert out.shape == (2, 8, 3, 3) and out.numpy().min() >= 0  # ends with ReLU
    with pytest.raises(ValueError, match="needs a downsample"):
        models.BasicBlock(4, 8, stride=2)


def test_unet_and_autoencoder_details():
    with pytest.raises(ValueError, match="divisible by 4"):
        models.TinyUNet()(ag.randn(1, 1, 10, 12))
    ae = models.ConvAutoencoder()
    x = ag.rand(2, 1, 28, 28)
    z = ae.encode(x)
    assert z.shape == (2, 32, 7, 7)
    y = ae.decode(z).numpy()
    assert y.shape == (2, 1, 28, 28) and y.min() > 0 and y.max() < 1
    with pytest.raises(ValueError, match="too small"):
        models.SmallVGG(input_size=4)


def test_digits_cnn_reaches_97_percent_quickly():
    """The bundled UCI digits: Adam with ±1-pixel shifts for 10 epochs (a few seconds) gives ≥ 97%."""
    x_train, y_train = nn.data.load_digits("train")
    x_test, y_test = nn.data.load_digits("test")
    ag.manual_seed(0)
    model = models.DigitsCNN()
    loader = nn.data.DataLoader(nn.data.TensorDataset(x_train, y_train), batch_size=32, shuffle=True, seed=0,
                                transform=nn.data.RandomCrop(8, padding=1, generator=0))
    optimizer = optim.Adam(model.parameters(), lr=3e-3)
    steps = 10 * len(loader)
    schedule = optim.lr_scheduler.LambdaLR(optimizer, lambda t: 0.5 * (1 + np.cos(np.pi * t / steps)))  # per step
    for _ in range(10):
        for xb, yb in loader:
            optimizer.zero_grad()
            F.cross_entropy(model(xb), yb).backward()
            optimizer.step()
            schedule.step()
    model.eval()
    with ag.no_grad():
        accuracy = (model(ag.tensor(x_test)).numpy().argmax(1) == y_test).mean()
    assert accuracy >= 0.97


def test_basic_block_gradcheck_through_every_parameter():
    """Batch norm (training mode), convolutions, the residual add: finite differences agree."""
    ag.manual_seed(0)
    block = models.BasicBlock(2, 2).double()
    x = ag.randn(2, 2, 3, 3, dtype=np.float64, requires_grad=True)
    assert ag.gradcheck(lambda x, *params: block(x), [x, *block.parameters()], atol=1e-6)


def test_modules_are_twice_differentiable():
    ag.manual_seed(0)
    mlp = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1)).double()
    x = ag.randn(2, 3, dtype=np.float64, requires_grad=True)
    assert ag.gradgradcheck(lambda x, w: mlp(x).sum(), [x, mlp[0].weight])
