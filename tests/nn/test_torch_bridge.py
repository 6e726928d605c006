"""nn.to_torch / nn.from_torch: every layer and model crosses to PyTorch and back with the same weights,
outputs and gradients; `chainrule export --to torch` writes a file plain PyTorch runs; what cannot cross is
refused by name."""
import ast
import importlib.util
import inspect
import sys
from collections import OrderedDict

import numpy as np
import pytest

import autograd as ag
import nn
import nn.functional as F
from autograd import viz
from nn import models, torch_bridge
from nn.cli import main

torch = pytest.importorskip("torch")
tnn = torch.nn

TOLERANCE = {np.float64: 1e-10, np.float32: 1e-4}

# (chainrule layer, input shape): every layer of torch_bridge.LAYERS, with arguments away from their defaults
LAYER_CASES = [
    (lambda: nn.Linear(5, 3), (4, 5)),
    (lambda: nn.Linear(5, 3, bias=False), (2, 3, 5)),
    (lambda: nn.Conv1d(2, 4, 3, stride=2, padding=1, groups=2), (2, 2, 9)),
    (lambda: nn.Conv1d(2, 3, 3, padding="same", dilation=2, bias=False), (2, 2, 7)),
    (lambda: nn.Conv2d(4, 6, 3, stride=2, padding=1, dilation=2, groups=2), (2, 4, 9, 9)),
    (lambda: nn.Conv2d(3, 4, (3, 2), padding="same", bias=False), (2, 3, 6, 5)),
    (lambda: nn.Conv2d(3, 4, 3, padding=(2, 1), padding_mode="reflect"), (2, 3, 6, 5)),
    (lambda: nn.Conv3d(2, 4, (2, 3, 2), stride=(1, 2, 1), padding=1, padding_mode="circular"), (1, 2, 3, 5, 4)),
    (lambda: nn.Upsample(scale_factor=2, mode="bilinear"), (1, 2, 3, 4)),
    (lambda: nn.Upsample(size=(5, 7), mode="bilinear", align_corners=True), (1, 2, 3, 4)),
    (lambda: nn.Upsample(scale_factor=(2, 3)), (1, 2, 3, 4)),
    (lambda: nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2), (2, 4, 5, 5)),
    (lambda: nn.LocallyConnected2d(2, 3, (6, 7), 3, stride=2, padding=1), (2, 2, 6, 7)),
    (lambda: nn.LocallyConnected2d(2, 3, 5, (2, 3), bias=False), (2, 2, 5, 5)),
    (lambda: nn.MaxPool2d(2), (2, 3, 8, 8)),
    (lambda: nn.MaxPool2d(3, stride=2, padding=1), (2, 3, 7, 7)),
    (lambda: nn.AvgPool2d(3, stride=2, padding=1), (2, 3, 7, 7)),
    (lambda: nn.MaxPool2d(3, stride=2, padding=1, dilation=2, ceil_mode=True), (2, 3, 9, 8)),
    (lambda: nn.AvgPool2d(3, stride=2, padding=1, ceil_mode=True, count_include_pad=False), (2, 3, 8, 7)),
    (lambda: nn.AvgPool2d(2, divisor_override=3), (2, 3, 6, 6)),
    (lambda: nn.AdaptiveAvgPool2d(1), (2, 3, 5, 5)),
    (lambda: nn.AdaptiveAvgPool2d((3, 2)), (2, 3, 7, 5)),
    (lambda: nn.MaxPool1d(3, stride=2, padding=1, ceil_mode=True), (2, 3, 8)),
    (lambda: nn.MaxPool3d(2, dilation=(1, 2, 1)), (1, 2, 4, 6, 4)),
    (lambda: nn.AvgPool1d(3, stride=2, padding=1, count_include_pad=False), (2, 3, 7)),
    (lambda: nn.AvgPool3d(2, ceil_mode=True, divisor_override=5), (1, 2, 3, 5, 4)),
    (lambda: nn.AdaptiveAvgPool1d(3), (2, 3, 7)),
    (lambda: nn.AdaptiveMaxPool1d(3), (2, 3, 7)),
    (lambda: nn.AdaptiveMaxPool2d((3, 2)), (2, 3, 7, 5)),
    (lambda: nn.ConvTranspose3d(2, 4, 2, stride=2, padding=(0, 1, 0)), (1, 2, 3, 3, 2)),
    (lambda: nn.ConvTranspose1d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2, dilation=2), (2, 4, 5)),
    (lambda: nn.AdaptiveAvgPool3d((2, None, 3)), (1, 2, 5, 4, 7)),
    (lambda: nn.AdaptiveMaxPool3d((3, 2, 2)), (1, 2, 5, 4, 3)),
    (lambda: nn.BatchNorm1d(3), (4, 3, 5)),
    (lambda: nn.BatchNorm2d(3, momentum=None), (4, 3, 4, 4)),
    (lambda: nn.BatchNorm2d(3, eps=1e-3, affine=False, track_running_stats=False), (4, 3, 4, 4)),
    (lambda: nn.Dropout(0.3), (4, 6)),
    (lambda: nn.Flatten(1, 2), (2, 3, 4, 5)),
    (lambda: nn.Identity(), (2, 3)),
    (lambda: nn.ReLU(), (4, 6)),
    (lambda: nn.LeakyReLU(0.2), (4, 6)),
    (lambda: nn.Sigmoid(), (4, 6)),
    (lambda: nn.Tanh(), (4, 6)),
    (lambda: nn.Softmax(dim=1), (2, 4, 3)),
    (lambda: nn.LogSoftmax(dim=1), (2, 4, 3)),
    (lambda: nn.GELU(), (4, 6)),
    (lambda: nn.GELU(approximate="tanh"), (4, 6)),
    (lambda: nn.ELU(alpha=0.5), (4, 6)),
    (lambda: nn.SELU(), (4, 6)),
    (lambda: nn.CELU(alpha=2.0), (4, 6)),
    (lambda: nn.SiLU(), (4, 6)),
    (lambda: nn.Mish(), (4, 6)),
    (lambda: nn.Softplus(beta=2.0, threshold=5.0), (4, 6)),
    (lambda: nn.Softsign(), (4, 6)),
    (lambda: nn.Hardtanh(-2.0, 0.5), (4, 6)),
    (lambda: nn.ReLU6(), (4, 6)),
    (lambda: nn.Hardsigmoid(), (4, 6)),
    (lambda: nn.Hardswish(), (4, 6)),
    (lambda: nn.LogSigmoid(), (4, 6)),
]

# (model, input shape): every model of nn.models, small
MODEL_CASES = {
    "lenet5-relu-max": (lambda: models.LeNet5(), (2, 1, 28, 28)),
    "lenet5-tanh-avg": (lambda: models.LeNet5(activation="tanh", pooling="avg", padding=0), (2, 1, 32, 32)),
    "digits-cnn": (lambda: models.DigitsCNN(), (3, 1, 8, 8)),
    "vgg": (lambda: models.SmallVGG(widths=(4, 8), input_size=8, batch_norm=True, hidden=16), (2, 3, 8, 8)),
    "resnet": (lambda: models.ResNet(layers=(2, 1), widths=(4, 8)), (2, 3, 8, 8)),
    "unet": (lambda: models.TinyUNet(in_channels=2, out_channels=3, base=4), (2, 2, 8, 8)),
    "autoencoder": (lambda: models.ConvAutoencoder(widths=(4, 6)), (2, 1, 8, 8)),
    "sequential": (lambda: nn.Sequential(nn.Conv2d(1, 3, 3), nn.BatchNorm2d(3), nn.ReLU(), nn.Flatten(),
                                         nn.Linear(48, 5), nn.Softmax(dim=1)), (3, 1, 6, 6)),
}


def _has_dropout(module):
    return any(isinstance(m, nn.Dropout) for m in module.modules())


def _chainrule_pass(model, x):
    """(output, input gradient, parameter gradients, g) of sum(output · g) for a random upstream gradient g."""
    xc = ag.tensor(x, requires_grad=True)
    out = model(xc)
    g = np.random.default_rng(0).standard_normal(out.shape).astype(x.dtype)
    (out * ag.from_numpy(g)).sum().backward()
    return out.numpy(), xc.grad.numpy(), {name: p.grad.numpy() for name, p in model.named_parameters()}, g


def _torch_pass(model, x, g):
    xt = torch.tensor(x, requires_grad=True)
    out = model(xt)
    (out * torch.from_numpy(g)).sum().backward()
    return out.detach().numpy(), xt.grad.numpy(), {name: p.grad.numpy() for name, p in model.named_parameters()}


def _close(ours, theirs, tol, what):
    scale = max(1.0, float(np.abs(theirs).max(initial=0)))
    np.testing.assert_allclose(ours, theirs, rtol=tol, atol=tol * scale, err_msg=what)


def _same_passes(model, reference, x, tol):
    """chainrule's model and PyTorch's give the same output, input gradient and parameter gradients."""
    out, gx, grads, g = _chainrule_pass(model, x)
    out_t, gx_t, grads_t = _torch_pass(reference, x, g)
    _close(out, out_t, tol, "output")
    _close(gx, gx_t, tol, "input gradient")
    assert list(grads) == list(grads_t)
    for name in grads:
        _close(grads[name], grads_t[name], tol, f"gradient of {name}")


def _check_twin(model, shape, dtype, tol=None):
    """to_torch(model) computes chainrule's outputs, gradients and running statistics; from_torch brings
    back the same class, parameters and outputs."""
    model.to(dtype)
    if _has_dropout(model):
        model.eval()
    x = np.random.default_rng(1).standard_normal(shape).astype(dtype) * 2
    twin = nn.to_torch(model)
    assert {p.dtype for p in twin.parameters()} <= {getattr(torch, np.dtype(dtype).name)}

    tol = tol or TOLERANCE[dtype]
    _same_passes(model, twin, x, tol)
    theirs = twin.state_dict()
    for name, value in model.state_dict().items():  # running statistics after a training step
        _close(value, theirs[name].numpy(), tol, name)

    back = nn.from_torch(nn.to_torch(model))
    assert type(back) is type(model) and repr(back) == repr(model)
    assert back.training == model.training
    mine, returned = model.state_dict(), back.state_dict()
    assert list(returned) == list(mine)
    for name, value in mine.items():
        assert returned[name].dtype == value.dtype and np.array_equal(returned[name], value), name
    model.eval()
    back.eval()
    with ag.no_grad():
        assert np.array_equal(back(ag.from_numpy(x)).numpy(), model(ag.from_numpy(x)).numpy())


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel lengths")
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("make, shape", LAYER_CASES, ids=[repr(make()) for make, _ in LAYER_CASES])
def test_every_layer_crosses_with_the_same_outputs_and_gradients(make, shape, dtype):
    ag.manual_seed(0)
    layer = make()
    # PyTorch's hardsigmoid backward multiplies by a float32 1/6 even in float64 (chainrule's is exact)
    tol = 1e-7 if isinstance(layer, nn.Hardsigmoid) and dtype is np.float64 else None
    _check_twin(layer, shape, dtype, tol)


def test_the_layer_cases_cover_every_layer():
    covered = {type(make()) for make, _ in LAYER_CASES}
    assert covered == set(torch_bridge.LAYERS)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", MODEL_CASES)
def test_every_model_crosses_with_the_same_outputs_and_gradients(name, dtype):
    ag.manual_seed(0)
    make, shape = MODEL_CASES[name]
    _check_twin(make(), shape, dtype)


def test_the_model_cases_cover_every_model():
    covered = {type(m) for make, _ in MODEL_CASES.values() for m in make().modules()}
    assert set(torch_bridge.TWIN_MODELS) <= covered


def test_defaults_that_differ_between_the_engines_are_listed():
    """An argument at chainrule's default is left out of the PyTorch source, so the defaults must agree."""
    for cls, (names, _) in torch_bridge.LAYERS.items():
        if cls in torch_bridge.TWIN_LAYERS:
            continue
        ours = inspect.signature(cls).parameters
        theirs = inspect.signature(getattr(tnn, cls.__name__)).parameters
        differ = {name for name in names if ours[name].default != theirs[name].default}
        assert differ == set(torch_bridge.DEFAULTS_DIFFER.get(cls, ())), cls.__name__


def test_modes_cross_per_module():
    model = models.DigitsCNN().eval()
    model.features.train()
    twin = nn.to_torch(model)
    assert not twin.training and twin.features.training and not twin.classifier[0].training
    back = nn.from_torch(twin)
    assert not back.training and back.features.training and not back.classifier[0].training


# -- PyTorch models into chainrule ---------------------------------------------------------------
class TorchChain(tnn.Module):
    """A PyTorch model written the usual way: its forward calls its layers and a few functions in a row."""

    def __init__(self):
        super().__init__()
        self.conv = tnn.Conv2d(1, 4, 3)
        self.body = tnn.Sequential(tnn.Conv2d(4, 4, 3, padding=1), tnn.BatchNorm2d(4))
        self.fc = tnn.Linear(36, 10)

    def forward(self, x):
        x = tnn.functional.max_pool2d(tnn.functional.relu(self.conv(x)), 2)
        x = self.body(x).tanh()
        return self.fc(torch.flatten(tnn.functional.gelu(x, approximate="tanh"), 1))


def test_a_pytorch_model_whose_forward_is_a_chain_comes_across_and_can_be_drawn():
    torch.manual_seed(0)
    reference = TorchChain().double()
    model = nn.from_torch(reference)
    assert isinstance(model, nn.Sequential)
    assert list(model.state_dict()) == list(reference.state_dict())
    assert {p.data.dtype for p in model.parameters()} == {np.dtype(np.float64)}

    x = np.random.default_rng(0).standard_normal((2, 1, 8, 8))
    _same_passes(model, reference, x, 1e-10)

    logits = model(ag.from_numpy(x))
    loss = F.cross_entropy(logits, np.array([3, 1]))
    dot = viz.draw(loss, params=model, collapse=True).source
    for layer in ("conv (Conv2d)", "body (Sequential)", "fc (Linear)", "max_pool2d (MaxPool2d)"):
        assert layer in dot
    assert "fc.weight" in dot
    assert "fc.weight" in str(ag.explain(loss, model.fc.weight, params=model))


class TorchChain3d(tnn.Module):
    """A 3-d PyTorch model whose forward pools with F.adaptive_avg_pool3d between its layers."""

    def __init__(self):
        super().__init__()
        self.conv = tnn.Conv3d(2, 3, 2)
        self.fc = tnn.Linear(3 * 2 * 1 * 2, 4)

    def forward(self, x):
        return self.fc(torch.flatten(tnn.functional.adaptive_avg_pool3d(self.conv(x), (2, 1, 2)), 1))


def test_a_chain_calling_adaptive_avg_pool3d_comes_across_as_the_layer():
    torch.manual_seed(0)
    reference = TorchChain3d().double()
    model = nn.from_torch(reference)
    assert [type(m).__name__ for m in model] == ["Conv3d", "AdaptiveAvgPool3d", "Flatten", "Linear"]
    x = np.random.default_rng(0).standard_normal((2, 2, 5, 4, 6))
    _same_passes(model, reference, x, 1e-10)


def test_a_pytorch_sequential_comes_across():
    reference = tnn.Sequential(tnn.Conv2d(1, 2, 3), tnn.ReLU(), tnn.Flatten(), tnn.Linear(72, 3))
    model = nn.from_torch(reference)
    assert [type(m).__name__ for m in model] == ["Conv2d", "ReLU", "Flatten", "Linear"]
    x = np.random.default_rng(0).standard_normal((2, 1, 8, 8)).astype(np.float32)
    _close(model(ag.from_numpy(x)).numpy(), reference(torch.from_numpy(x)).detach().numpy(), 1e-5, "output")


class Residual(tnn.Module):
    def __init__(self):
        super().__init__()
        self.fc = tnn.Linear(3, 3)

    def forward(self, x):
        return self.fc(x) + x


class Reshaping(tnn.Module):
    def __init__(self):
        super().__init__()
        self.fc = tnn.Linear(4, 2)

    def forward(self, x):
        return self.fc(x.view(x.size(0), -1))


class Unused(tnn.Module):
    def __init__(self):
        super().__init__()
        self.fc = tnn.Linear(4, 2)
        self.spare = tnn.Linear(2, 2)

    def forward(self, x):
        return self.fc(x)


@pytest.mark.parametrize("make", [lambda: nn.MaxPool2d(3, 2, 1, return_indices=True),
                                  lambda: nn.AdaptiveMaxPool1d(3, return_indices=True),
                                  lambda: nn.AdaptiveMaxPool3d((3, None, 2), return_indices=True)])
def test_pools_returning_indices_cross_with_their_indices(make):
    layer = make()
    x = np.random.default_rng(0).standard_normal((2, 3) + (7,) * layer.n)
    y, indices = layer(ag.tensor(x))
    twin = nn.to_torch(layer)
    y_t, indices_t = twin(torch.from_numpy(x))
    np.testing.assert_array_equal(indices.data, indices_t.numpy())
    back = nn.from_torch(twin)
    assert type(back) is type(layer) and back.return_indices
    np.testing.assert_array_equal(back(ag.tensor(x))[1].data, indices.data)


@pytest.mark.parametrize("make, words", [
    (lambda: tnn.Sequential(tnn.Linear(2, 2), tnn.LSTM(2, 2)), ["torch.nn.LSTM at '1'", "Linear, Conv1d"]),
    (lambda: tnn.Upsample(scale_factor=2, recompute_scale_factor=True),
     ["Upsample", "recompute_scale_factor=True", "recompute_scale_factor=None"]),
    (lambda: Residual(), ["Residual.forward is not a plain chain", "add"]),
    (lambda: Reshaping(), ["Reshaping.forward is not a plain chain", "size"]),
    (lambda: Unused(), ["never uses spare.weight, spare.bias"]),
])
def test_what_chainrule_lacks_is_refused_by_name(make, words):
    with pytest.raises(ValueError) as error:
        nn.from_torch(make())
    for word in words:
        assert word in str(error.value)


def test_a_model_of_ones_own_without_a_twin_is_refused_by_name():
    class Mine(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(2, 2)

        def forward(self, x):
            return self.fc(x) * 2

    with pytest.raises(TypeError, match=r"Mine at 'body' has no PyTorch twin.*Sequential"):
        nn.to_torch(nn.Sequential(OrderedDict(body=Mine())))


def test_without_pytorch_the_error_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    for call, argument in ((nn.to_torch, nn.Linear(2, 2)), (nn.from_torch, object())):
        with pytest.raises(ImportError, match="pip install torch"):
            call(argument)


# -- chainrule export --------------------------------------------------------------------------
def _import_file(path):
    spec = importlib.util.spec_from_file_location(f"exported_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _imported(source):
    """The top-level packages a Python source imports."""
    nodes = list(ast.walk(ast.parse(source)))
    names = [alias.name for node in nodes if isinstance(node, ast.Import) for alias in node.names]
    names += [node.module for node in nodes if isinstance(node, ast.ImportFrom)]
    return {name.split(".")[0] for name in names}


def test_export_writes_a_pytorch_file_that_loads_the_trained_weights(tmp_path, capsys):
    ag.manual_seed(0)
    model = models.DigitsCNN()
    weights = tmp_path / "runs" / "model.safetensors"
    weights.parent.mkdir()
    nn.save(model, weights, metadata={"model": "digits-cnn", "num_classes": "10", "in_channels": "1"})
    out = tmp_path / "export" / "digits_torch.py"
    out.parent.mkdir()

    assert main(["export", "--weights", str(weights), "--to", "torch", str(out)]) == 0
    assert "digits_torch.py" in capsys.readouterr().out
    assert _imported(out.read_text()) == {"math", "collections", "pathlib", "torch", "safetensors"}  # no chainrule
    exported = _import_file(out).load()
    assert not exported.training
    x = np.random.default_rng(0).random((4, 1, 8, 8), dtype=np.float32)
    with ag.no_grad():
        expected = model.eval()(ag.from_numpy(x)).numpy()
    _close(exported(torch.from_numpy(x)).detach().numpy(), expected, 1e-5, "exported output")
    assert type(nn.from_torch(exported)) is models.DigitsCNN


def test_export_writes_a_torch_export_archive(tmp_path, capsys):
    ag.manual_seed(0)
    model = models.DigitsCNN().eval()
    weights = tmp_path / "model.safetensors"
    nn.save(model, weights, metadata={"model": "digits-cnn"})
    out = tmp_path / "digits.pt2"
    assert main(["export", "--weights", str(weights), "--to", "torch", str(out)]) == 0
    assert "torch.export.load" in capsys.readouterr().out
    program = torch.export.load(str(out)).module()
    x = np.random.default_rng(0).random((5, 1, 8, 8), dtype=np.float32)  # another batch size than the example's
    with ag.no_grad():
        expected = model(ag.from_numpy(x)).numpy()
    _close(program(torch.from_numpy(x)).detach().numpy(), expected, 1e-5, "exported program's output")


def test_export_refuses_other_file_kinds_and_unnamed_models(tmp_path, capsys):
    weights = tmp_path / "model.safetensors"
    nn.save(models.DigitsCNN(), weights)
    assert main(["export", "--weights", str(weights), "--to", "torch", str(tmp_path / "model.txt")]) == 2
    assert "model.txt: expected a .py file name" in capsys.readouterr().err
    assert main(["export", "--weights", str(weights), "--to", "torch", str(tmp_path / "model.py")]) == 2
    assert "names no model; pass --model" in capsys.readouterr().err
    assert main(["export", "--weights", str(weights), "--to", "torch", "--model", "digits-cnn",
                 str(tmp_path / "model.py")]) == 0


def test_export_refuses_weights_that_do_not_fit_the_named_model(tmp_path, capsys):
    weights = tmp_path / "model.safetensors"
    nn.save(models.LeNet5(), weights, metadata={"model": "digits-cnn"})
    assert main(["export", "--weights", str(weights), "--to", "torch", str(tmp_path / "m.py")]) == 2
    assert "do not fit digits-cnn" in capsys.readouterr().err
    assert not (tmp_path / "m.py").exists()
