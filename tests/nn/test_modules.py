"""Module API, containers, state_dict, layers (against PyTorch when importable) and their errors."""
import math
from collections import OrderedDict

import numpy as np
import pytest

import autograd as ag
import nn
from autograd.tensor import Tensor

from helpers import graph_nodes


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU())
        self.head = nn.Linear(4, 2)
        self.scale = nn.Parameter(np.ones(1, np.float32))

    def forward(self, x):
        return self.head(self.features(x).mean(axis=(2, 3))) * self.scale


# -- Parameter ---------------------------------------------------------------------------------------
def test_parameter_is_a_leaf_that_requires_grad():
    p = nn.Parameter(np.zeros((2, 3), np.float32))
    assert isinstance(p, Tensor) and p.requires_grad and p.is_leaf and p.shape == (2, 3)
    assert repr(p).startswith("Parameter containing:\ntensor(")
    assert not nn.Parameter(ag.ones(2), requires_grad=False).requires_grad
    assert type(p * 2) is Tensor  # results of operations are plain tensors
    with pytest.raises(TypeError, match="floating"):
        nn.Parameter(np.arange(3))


# -- registration and traversal -------------------------------------------------------------------------
def test_attributes_register_parameters_buffers_and_children():
    net = Net()
    assert [n for n, _ in net.named_children()] == ["features", "head"]
    assert list(dict(net.named_parameters())) == [
        "scale", "features.0.weight", "features.0.bias", "features.1.weight", "features.1.bias",
        "head.weight", "head.bias"]
    assert len(list(net.parameters())) == 7
    assert [n for n, _ in net.named_modules()] == ["", "features", "features.0", "features.1", "features.2", "head"]
    assert [n for n, _ in net.named_buffers()] == [
        "features.1.running_mean", "features.1.running_var", "features.1.num_batches_tracked"]
    assert len(list(net.modules())) == 6 and len(list(net.children())) == 2
    assert [n for n, _ in net.named_parameters(recurse=False)] == ["scale"]


def test_shared_parameters_and_modules_are_listed_once():
    lin = nn.Linear(3, 3)
    seq = nn.Sequential(lin, nn.ReLU(), lin)
    assert len(list(seq.parameters())) == 2
    assert len(list(seq.modules())) == 3


def test_assignment_rules():
    net = Net()
    with pytest.raises(TypeError, match="parameter 'scale'"):
        net.scale = ag.ones(1)
    net.head = None
    assert net.head is None and "head.weight" not in net.state_dict()
    del net.scale
    with pytest.raises(AttributeError, match="scale"):
        net.scale
    net.plain = 3  # ordinary attributes stay ordinary
    assert net.plain == 3 and "plain" not in net.state_dict()

    class Early(nn.Module):
        def __init__(self):
            self.lin = nn.Linear(1, 1)

    with pytest.raises(AttributeError, match=r"super\(\).__init__\(\)"):
        Early()


def test_register_buffer_persistent_and_not():
    m = nn.Module()
    m.register_buffer("kept", np.arange(3.0))
    m.register_buffer("scratch", ag.zeros(2), persistent=False)
    assert list(m.state_dict()) == ["kept"]
    assert len(list(m.buffers())) == 2
    m.kept = ag.ones(3)
    np.testing.assert_array_equal(m.state_dict()["kept"], np.ones(3))
    with pytest.raises(TypeError, match="buffer"):
        m.register_buffer("bad", "text")


def test_train_eval_and_apply():
    net = Net()
    assert net.training and net.features[1].training
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())
    visited = []
    net.apply(lambda m: visited.append(type(m).__name__))
    assert visited == ["Conv2d", "BatchNorm2d", "ReLU", "Sequential", "Linear", "Net"]


def test_zero_grad_and_requires_grad():
    net = Net()
    net(ag.randn(2, 1, 5, 5)).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad.data.any() for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())
    net.features.requires_grad_(False)
    net(ag.randn(2, 1, 5, 5)).sum().backward()
    assert net.features[0].weight.grad is None and net.head.weight.grad is not None


def test_to_converts_in_place_and_keeps_parameters():
    net = Net()
    weight = net.head.weight
    assert net.double() is net and net.head.weight is weight and weight.dtype == np.float64
    assert net.features[1].running_mean.dtype == np.float64
    assert net.features[1].num_batches_tracked.dtype == np.int64  # integer buffers keep their type
    assert net(ag.randn(2, 1, 5, 5, dtype=np.float64)).dtype == np.float64
    net.float()
    assert all(p.dtype == np.float32 for p in net.parameters())
    with pytest.raises(TypeError, match="floating"):
        net.to(np.int32)


def test_layers_follow_the_default_dtype():
    previous = ag.get_default_dtype()
    ag.set_default_dtype(np.float64)
    try:
        assert nn.Conv2d(1, 2, 3).weight.dtype == np.float64
        assert nn.BatchNorm1d(3).running_var.dtype == np.float64
    finally:
        ag.set_default_dtype(previous)


# -- scopes, hooks, repr ------------------------------------------------------------------------------------
def test_call_pushes_qualified_scope_names():
    model = nn.models.LeNet5()
    out = model(ag.randn(1, 1, 28, 28))
    scopes = {node.scope for node in graph_nodes(out)}
    assert ("LeNet5", "features (Sequential)", "features.0 (Conv2d)", "conv2d") in {s[:4] for s in scopes}
    assert any(s[:3] == ("LeNet5", "classifier (Sequential)", "classifier.4 (Linear)") for s in scopes)


def test_names_follow_the_attribute_path_when_subtrees_are_attached_later():
    block = nn.Sequential(nn.Linear(2, 2))
    assert block[0]._name == "0"
    outer = nn.Module()
    outer.body = block
    assert block[0]._name == "body.0"
    assert outer.body[:1][0]._name == "body.0"  # slicing does not rename


def test_forward_hooks_and_pre_hooks():
    lin = nn.Linear(2, 2)
    seen = []
    handle = lin.register_forward_hook(lambda m, inputs, out: seen.append(out.shape))
    lin(ag.randn(3, 2))
    assert seen == [(3, 2)]
    handle.remove()
    lin(ag.randn(3, 2))
    assert seen == [(3, 2)]
    pre = lin.register_forward_pre_hook(lambda m, inputs: (inputs[0] * 0,))
    replace = lin.register_forward_hook(lambda m, inputs, out: out + 1)
    np.testing.assert_allclose(lin(ag.randn(1, 2)).numpy(), lin.bias.numpy()[None] + 1, rtol=1e-6)
    pre.remove()
    replace.remove()


def test_repr_is_a_tree_like_pytorch():
    torch = pytest.importorskip("torch")
    spec = ("Sequential(Conv2d(1, 6, 5, padding=2), ReLU(), Conv2d(6, 8, 3, stride=2, bias=False), Flatten(), "
            "Linear(10, 4), Sequential(Tanh(), Sigmoid(), LeakyReLU(0.2), Softmax(dim=1), LogSoftmax(dim=1)), "
            "ModuleList([AvgPool2d(2), AdaptiveAvgPool2d((2, 3)), Identity()]), "
            "ModuleDict({'up': ConvTranspose2d(3, 4, 3, stride=2, padding=1, output_padding=1), "
            "'seq': Conv1d(2, 4, 3, padding='same', groups=2), 'loss': CrossEntropyLoss()}))")
    ours = eval(spec, vars(nn))
    theirs = eval(spec, vars(torch.nn))
    assert repr(ours) == repr(theirs)
    assert repr(nn.Identity()) == "Identity()"


# -- containers ----------------------------------------------------------------------------------------
def test_sequential():
    a, b, c = nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)
    seq = nn.Sequential(a, b, c)
    assert len(seq) == 3 and seq[0] is a and seq[-1] is c and list(seq) == [a, b, c]
    part = seq[1:]
    assert isinstance(part, nn.Sequential) and list(part) == [b, c]
    assert list(part.state_dict()) == ["2.weight", "2.bias"]  # slices keep PyTorch's keys
    with pytest.raises(IndexError, match="out of range"):
        seq[3]
    x = ag.randn(4, 2)
    np.testing.assert_allclose(seq(x).numpy(), c(b(a(x))).numpy())
    seq.append(nn.Sigmoid())
    assert len(seq) == 4 and "3" in dict(seq.named_children())
    named = nn.Sequential(OrderedDict([("conv", nn.Conv2d(1, 2, 3)), ("act", nn.ReLU())]))
    assert list(named.state_dict()) == ["conv.weight", "conv.bias"] and named[0] is named.conv


def test_module_list_and_dict():
    layers = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    assert len(layers) == 3 and list(layers.state_dict())[:2] == ["0.weight", "0.bias"]
    layers.append(nn.ReLU())
    layers.insert(0, nn.Identity())
    assert isinstance(layers[0], nn.Identity) and isinstance(layers[-1], nn.ReLU)
    assert list(layers.state_dict())[0] == "1.weight"
    layers[0] = nn.Tanh()
    assert isinstance(layers[0], nn.Tanh) and len(layers[1:3]) == 2
    heads = nn.ModuleDict({"digit": nn.Linear(4, 10), "parity": nn.Linear(4, 2)})
    assert "digit" in heads and len(heads) == 2 and list(heads) == ["digit", "parity"]
    assert list(heads.state_dict()) == ["digit.weight", "digit.bias", "parity.weight", "parity.bias"]
    del heads["parity"]
    assert list(heads.keys()) == ["digit"]
    x = ag.randn(2, 2)
    assert nn.Identity()(x) is x


# -- state_dict ----------------------------------------------------------------------------------------
def test_state_dict_holds_copies_with_pytorch_names():
    net = Net()
    state = net.state_dict()
    assert list(state) == ["scale", "features.0.weight", "features.0.bias", "features.1.weight", "features.1.bias",
                           "features.1.running_mean", "features.1.running_var",
                           "features.1.num_batches_tracked", "head.weight", "head.bias"]
    assert all(isinstance(v, np.ndarray) for v in state.values())
    state["head.bias"][:] = 123
    assert not np.any(net.head.bias.numpy() == 123)
    assert state["features.1.num_batches_tracked"].dtype == np.int64


def test_load_state_dict_round_trip_keeps_dtypes():
    ag.manual_seed(0)
    a = Net()
    ag.manual_seed(1)
    b = Net().double()
    result = b.load_state_dict(a.state_dict())
    assert result == ([], []) and result.missing_keys == [] and result.unexpected_keys == []
    assert b.head.weight.dtype == np.float64
    for key, value in a.state_dict().items():
        np.testing.assert_allclose(b.state_dict()[key], value)
    b.load_state_dict({k: ag.tensor(v) for k, v in a.state_dict().items()})  # Tensors work too


def test_load_state_dict_lists_missing_unexpected_and_mismatched_keys():
    net = Net()
    state = net.state_dict()
    del state["head.bias"]
    state["head.extra"] = np.zeros(1)
    state["features.0.weight"] = np.zeros((4, 1, 5, 5))
    before = net.state_dict()
    with pytest.raises(RuntimeError) as info:
        net.load_state_dict(state)
    message = str(info.value)
    assert "Net" in message and "missing keys: head.bias" in message and "unexpected keys: head.extra" in message
    assert "features.0.weight: expected shape (4, 1, 3, 3), got (4, 1, 5, 5)" in message
    for key, value in before.items():  # nothing was loaded
        np.testing.assert_array_equal(net.state_dict()[key], value)


def test_load_state_dict_non_strict_returns_the_differences():
    net = Net()
    other = Net()
    state = other.state_dict()
    del state["head.bias"]
    state["head.extra"] = np.zeros(1)
    missing, unexpected = net.load_state_dict(state, strict=False)
    assert missing == ["head.bias"] and unexpected == ["head.extra"]
    np.testing.assert_array_equal(net.head.weight.numpy(), other.head.weight.numpy())
    state["head.weight"] = np.zeros((3, 3))
    with pytest.raises(RuntimeError, match="head.weight: expected shape"):  # shapes are always checked
        net.load_state_dict(state, strict=False)


# -- layers: initialisation ---------------------------------------------------------------------------------
@pytest.mark.parametrize("layer, fan_in", [
    (lambda: nn.Linear(300, 40), 300),
    (lambda: nn.Conv2d(8, 16, 3), 72),
    (lambda: nn.Conv2d(8, 16, 3, groups=4), 18),
    (lambda: nn.Conv1d(4, 8, 5), 20),
    (lambda: nn.ConvTranspose2d(8, 6, 3, groups=2), 27),  # PyTorch's fan_in: weight.shape[1]·KH·KW
    (lambda: nn.ConvTranspose1d(16, 12, 3, groups=2), 18),  # weight (16, 6, 3): fan_in 6·3
])
def test_default_init_is_pytorchs(layer, fan_in):
    ag.manual_seed(0)
    m = layer()
    bound = 1 / math.sqrt(fan_in)
    w, b = m.weight.numpy(), m.bias.numpy()
    assert np.abs(w).max() <= bound and np.abs(b).max() <= bound
    assert np.abs(w).max() > 0.9 * bound
    np.testing.assert_allclose(w.std(), bound / math.sqrt(3), rtol=0.1)


def test_batch_norm_and_locally_connected_init():
    bn = nn.BatchNorm2d(3)
    np.testing.assert_array_equal(bn.weight.numpy(), np.ones(3))
    np.testing.assert_array_equal(bn.bias.numpy(), np.zeros(3))
    assert bn.num_batches_tracked.item() == 0
    lc = nn.LocallyConnected2d(2, 3, input_size=(6, 5), kernel_size=3, stride=1)
    assert lc.weight.shape == (4, 3, 3, 2, 3, 3) and lc.bias.shape == (3, 4, 3)
    assert np.abs(lc.weight.numpy()).max() <= 1 / math.sqrt(18)


# -- layers against PyTorch --------------------------------------------------------------------------------
LAYERS = [
    ("Linear(5, 3)", (4, 5)),
    ("Linear(5, 3, bias=False)", (2, 6, 5)),
    ("Conv1d(3, 4, 3, stride=2, padding=1)", (2, 3, 9)),
    ("Conv1d(4, 6, 3, padding='same', dilation=2, groups=2)", (2, 4, 7)),
    ("Conv2d(3, 4, 3)", (2, 3, 7, 6)),
    ("Conv2d(2, 4, (3, 2), stride=(2, 1), padding=(1, 0), dilation=(1, 2), bias=False)", (2, 2, 7, 8)),
    ("Conv2d(4, 4, 3, padding='same', groups=4)", (1, 4, 5, 5)),
    ("Conv2d(3, 2, 1)", (2, 3, 4, 4)),
    ("ConvTranspose2d(3, 4, 3, stride=2, padding=1, output_padding=1)", (2, 3, 4, 5)),
    ("ConvTranspose2d(4, 6, 2, stride=2, groups=2)", (1, 4, 3, 3)),
    ("ConvTranspose1d(3, 4, 3, stride=2, padding=1, output_padding=1)", (2, 3, 7)),
    ("ConvTranspose1d(4, 6, 3, stride=3, padding=2, output_padding=1, groups=2, bias=False, dilation=2)", (2, 4, 5)),
    ("MaxPool2d(2)", (2, 3, 6, 6)),
    ("MaxPool2d(3, stride=2, padding=1)", (2, 2, 7, 7)),
    ("AvgPool2d(2, stride=1)", (2, 3, 5, 5)),
    ("AvgPool2d(3, stride=2, padding=1)", (2, 2, 7, 6)),
    ("AdaptiveAvgPool2d(1)", (2, 3, 5, 4)),
    ("AdaptiveAvgPool2d((2, 3))", (2, 3, 5, 7)),
    ("AdaptiveAvgPool3d((2, None, 3))", (2, 3, 5, 4, 7)),
    ("AdaptiveMaxPool3d((3, 2, 4))", (2, 2, 5, 4, 6)),
    ("ReLU()", (3, 4)),
    ("LeakyReLU(0.2)", (3, 4)),
    ("Sigmoid()", (3, 4)),
    ("Tanh()", (3, 4)),
    ("Softmax(dim=1)", (3, 4, 2)),
    ("LogSoftmax(dim=-1)", (3, 4)),
    ("Flatten()", (2, 3, 2, 2)),
    ("Flatten(0, 1)", (2, 3, 2)),
    ("Dropout(0.5)", (3, 4)),  # compared in eval mode: the identity
    ("BatchNorm1d(3)", (6, 3)),
    ("BatchNorm1d(3, affine=False)", (4, 3, 5)),
    ("BatchNorm2d(3, momentum=0.3)", (4, 3, 3, 3)),
    ("BatchNorm2d(2, momentum=None)", (3, 2, 4, 4)),
    ("BatchNorm2d(2, track_running_stats=False)", (3, 2, 4, 4)),
]


@pytest.mark.parametrize("spec, shape", LAYERS, ids=[s for s, _ in LAYERS])
def test_layer_matches_torch(spec, shape):
    """Same weights (loaded from our state_dict) ⇒ same outputs, input and parameter gradients, buffers."""
    torch = pytest.importorskip("torch")
    ag.manual_seed(0)
    ours = eval("nn." + spec).double()
    theirs = eval("torch.nn." + spec).double()
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    if "Dropout" in spec:
        ours.eval()
        theirs.eval()
    rng = np.random.default_rng(0)
    for step in range(2 if "BatchNorm" in spec else 1):
        x = rng.standard_normal(shape)
        xc = ag.tensor(x, requires_grad=True)
        xt = torch.tensor(x, requires_grad=True)
        yc, yt = ours(xc), theirs(xt)
        g = rng.standard_normal(yt.shape)
        yc.backward(ag.tensor(g))
        yt.backward(torch.tensor(g))
        np.testing.assert_allclose(yc.numpy(), yt.detach().numpy(), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(xc.grad.numpy(), xt.grad.numpy(), rtol=1e-10, atol=1e-12)
    for name, p in theirs.named_parameters():
        np.testing.assert_allclose(dict(ours.named_parameters())[name].grad.numpy(), p.grad.numpy(),
                                   rtol=1e-10, atol=1e-12, err_msg=name)
    for name, value in theirs.state_dict().items():  # running statistics after training steps
        np.testing.assert_allclose(ours.state_dict()[name], value.numpy(), rtol=1e-10, err_msg=name)
    if "BatchNorm" in spec and "track_running_stats=False" not in spec:
        ours.eval()
        theirs.eval()
        x = rng.standard_normal(shape)
        np.testing.assert_allclose(ours(ag.tensor(x)).numpy(), theirs(torch.tensor(x)).detach().numpy(),
                                   rtol=1e-10, atol=1e-12)


LOSSES = [
    ("CrossEntropyLoss()", (5, 4), "class"),
    ("CrossEntropyLoss(reduction='sum', label_smoothing=0.1)", (5, 4), "class"),
    ("CrossEntropyLoss(weight=W, ignore_index=2)", (6, 4), "class"),
    ("NLLLoss(reduction='none')", (5, 4), "logp"),
    ("MSELoss()", (3, 4), "same"),
    ("L1Loss(reduction='sum')", (3, 4), "same"),
    ("BCEWithLogitsLoss()", (3, 4), "binary"),
    ("BCEWithLogitsLoss(weight=W, pos_weight=W)", (3, 4), "binary"),
    ("MultiMarginLoss(weight=W)", (5, 4), "class"),
    ("MultiMarginLoss()", (5, 4), "class"),
    ("MultiMarginLoss(p=2, margin=0.5, reduction='sum')", (5, 4), "class"),
]


@pytest.mark.parametrize("spec, shape, kind", LOSSES, ids=[s for s, _, _ in LOSSES])
def test_loss_matches_torch(spec, shape, kind):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape)
    if kind in ("class", "logp"):
        target = rng.integers(0, shape[1], shape[0])
        if kind == "logp":
            x = x - np.log(np.exp(x).sum(1, keepdims=True))
    elif kind == "binary":
        target = rng.integers(0, 2, shape).astype(np.float64)
    else:
        target = rng.standard_normal(shape)
    w = np.array([1.0, 2.0, 0.5, 3.0])  # class weights, W in the specs
    xc, xt = ag.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    lc = eval("nn." + spec, {"nn": nn, "W": w})(xc, target)
    lt = eval("nn." + spec, {"nn": torch.nn, "W": torch.from_numpy(w)})(xt, torch.tensor(target))
    g = rng.standard_normal(lt.shape)
    lc.backward(ag.tensor(g))
    lt.backward(torch.tensor(g))
    np.testing.assert_allclose(lc.numpy(), lt.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(xc.grad.numpy(), xt.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_loss_weight_is_a_buffer_like_pytorch():
    assert list(nn.CrossEntropyLoss(weight=np.ones(3)).state_dict()) == ["weight"]
    assert list(nn.CrossEntropyLoss().state_dict()) == []
    with pytest.raises(ValueError, match="reduction"):
        nn.MSELoss(reduction="avg")


def test_locally_connected_matches_a_loop():
    ag.manual_seed(0)
    lc = nn.LocallyConnected2d(2, 3, input_size=5, kernel_size=3, stride=2, padding=1).double()
    x = ag.randn(2, 2, 5, 5, dtype=np.float64)
    xp = np.pad(x.numpy(), ((0, 0), (0, 0), (1, 1), (1, 1)))
    w, b = lc.weight.numpy(), lc.bias.numpy()
    expected = np.zeros((2, 3, 3, 3))
    for p in range(3):
        for q in range(3):
            window = xp[:, :, 2 * p:2 * p + 3, 2 * q:2 * q + 3]
            expected[:, :, p, q] = np.einsum("ncij,kcij->nk", window, w[p, q]) + b[:, p, q]
    np.testing.assert_allclose(lc(x).numpy(), expected, rtol=1e-12)


def test_dropout_module_follows_training_mode():
    ag.manual_seed(0)
    drop = nn.Dropout(0.5)
    x = ag.ones(1000)
    y = drop(x).numpy()
    assert set(np.unique(y)) == {0.0, 2.0} and 400 < (y == 0).sum() < 600
    drop.eval()
    assert drop(x) is x
    with pytest.raises(ValueError, match="p must be"):
        nn.Dropout(1.5)


def test_batch_norm_counts_batches_and_freezes_in_eval():
    bn = nn.BatchNorm2d(2)
    x = ag.randn(4, 2, 3, 3)
    bn(x)
    bn(x)
    assert bn.num_batches_tracked.item() == 2
    mean = bn.running_mean.numpy().copy()
    bn.eval()
    bn(ag.randn(4, 2, 3, 3))
    np.testing.assert_array_equal(bn.running_mean.numpy(), mean)
    assert bn.num_batches_tracked.item() == 2


# -- layer errors name the module --------------------------------------------------------------------------
def test_conv_channel_error_names_the_layer():
    with pytest.raises(ValueError) as info:
        nn.Conv2d(3, 8, kernel_size=3)(ag.randn(2, 1, 8, 8))
    assert str(info.value) == \
        "Conv2d(3, 8, kernel_size=3): expected input with 3 channels, got 1 (input shape (2, 1, 8, 8))"
    model = nn.models.LeNet5()
    with pytest.raises(ValueError, match=r"^features.0 \(Conv2d\(1, 6, kernel_size=5\)\): expected input with 1 "):
        model(ag.randn(2, 3, 28, 28))


@pytest.mark.parametrize("layer, shape, message", [
    (lambda: nn.Conv2d(3, 8, 3), (8, 8), r"Conv2d\(3, 8, kernel_size=3\): expected a 4-D input \(N, C, H, W\) "
                                         r"or a 3-D one \(C, H, W\), got shape \(8, 8\)"),
    (lambda: nn.Conv2d(3, 8, 3), (4, 8, 8), r"expected input with 3 channels, got 4 \(input shape \(4, 8, 8\)\)"),
    (lambda: nn.Conv1d(2, 4, 3), (2, 3, 9), "expected input with 2 channels, got 3"),
    (lambda: nn.ConvTranspose2d(4, 2, 2), (1, 2, 3, 3), "expected input with 4 channels, got 2"),
    (lambda: nn.ConvTranspose1d(4, 2, 3), (1, 4, 3, 3), r"ConvTranspose1d\(4, 2, kernel_size=3\): expected a 3-D "
                                                        r"input \(N, C, L\) or a 2-D one \(C, L\), got shape "
                                                        r"\(1, 4, 3, 3\)"),
    (lambda: nn.ConvTranspose1d(4, 2, 3), (5, 9), r"expected input with 4 channels, got 5 \(input shape \(5, 9\)\)"),
    (lambda: nn.Linear(400, 120), (2, 256), r"Linear\(in_features=400, .*last dimension 400, got shape \(2, 256\)"),
    (lambda: nn.BatchNorm2d(6), (2, 4, 3, 3), r"BatchNorm2d\(6\): expected input with 6 channels, got 4"),
    (lambda: nn.BatchNorm1d(6), (2, 6, 3, 3), r"BatchNorm1d\(6\): expected a 2-D or 3-D input"),
    (lambda: nn.MaxPool2d(2), (8,), r"MaxPool2d\(.*\): expected a 4-D input"),
    (lambda: nn.LocallyConnected2d(1, 2, 6, 3), (1, 1, 7, 7), "channels of size 6×6"),
])
def test_layer_errors(layer, shape, message):
    with pytest.raises(ValueError, match=message):
        layer()(ag.randn(*shape))


def test_constructor_errors():
    with pytest.raises(ValueError, match="divisible by groups"):
        nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="kernel_size"):
        nn.Conv2d(3, 4, (3, 3, 3))
    with pytest.raises(ValueError, match="padding"):
        nn.Conv2d(3, 4, 3, padding="full")
    with pytest.raises(ValueError, match="does not fit"):
        nn.LocallyConnected2d(1, 1, 2, 3)


@pytest.mark.parametrize("family", ["Conv", "ConvTranspose", "MaxPool", "AvgPool", "AdaptiveAvgPool", "AdaptiveMaxPool"])
def test_layers_of_one_family_are_siblings_as_in_pytorch(family):
    """isinstance(m, nn.ConvTranspose2d) is False for a 1-d or 3-d layer, as in PyTorch: no N-d layer subclasses
    another."""
    classes = [getattr(nn, f"{family}{n}d") for n in (1, 2, 3)]
    for cls in classes:
        for other in classes:
            assert issubclass(cls, other) == (cls is other), (cls.__name__, other.__name__)
