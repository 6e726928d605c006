"""nn.utils: summary table, gradient clipping, penalties, max-norm constraint."""
import numpy as np
import pytest

import autograd as ag
import nn
from nn import models, utils


# -- summary -----------------------------------------------------------------------------------------
def test_summary_lists_layers_shapes_and_counts():
    model = models.LeNet5()
    s = utils.summary(model, (1, 1, 28, 28))
    text = str(s)
    assert text.splitlines()[0] == "LeNet5"
    lines = {line.split()[0]: line for line in text.splitlines() if line.strip().startswith(("features", "classifier"))}
    assert "(1, 6, 28, 28)" in lines["features.0"] and lines["features.0"].rstrip().endswith(" 156")
    assert "(1, 16, 5, 5)" in lines["features.5"] and "(MaxPool2d)" in lines["features.5"]
    assert "(1, 120)" in lines["classifier.0"] and lines["classifier.0"].rstrip().endswith("48,120")
    assert lines["features"].rstrip().endswith("--")  # containers own no parameters
    assert "Total params: 61,706" in text and "Trainable params: 61,706" in text
    assert "Non-trainable params: 0" in text and "Output shape: (1, 10)" in text
    assert s.total_params == 61706 and s.output_shape == (1, 10)
    names = [row[1] for row in s.rows]
    assert names[:3] == ["features", "features.0", "features.1"] and names[-1] == "classifier.4"
    own = [int(row[4].replace(",", "")) for row in s.rows if row[4] != "--"]
    assert sum(own) == s.total_params
    assert repr(s) == text


def test_summary_leaves_the_model_as_it_was():
    model = models.ResNet(widths=(4, 8, 8))
    before = model.state_dict()
    model.layer1.train()
    model.fc.eval()
    model.conv1.requires_grad_(False)
    s = utils.summary(model, (2, 3, 32, 32))
    for key, value in model.state_dict().items():  # running statistics untouched
        np.testing.assert_array_equal(value, before[key])
    assert model.layer1.training and not model.fc.training
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())
    assert s.trainable_params == s.total_params - 4 * 3 * 3 * 3
    assert "layer2.0.downsample.0 (Conv2d)" in str(s) and "(2, 8, 16, 16)" in str(s)


def test_summary_in_float64():
    model = models.DigitsCNN().double()
    s = utils.summary(model, (1, 1, 8, 8))
    assert s.param_bytes == 8 * s.total_params


# -- gradient clipping ----------------------------------------------------------------------------------
def _with_grads(*grads):
    params = []
    for g in grads:
        p = nn.Parameter(np.zeros_like(g))
        p.grad = ag.tensor(g)
        params.append(p)
    return params


def test_clip_grad_norm_scales_to_max_norm():
    params = _with_grads(np.array([3.0, 0.0]), np.array([[0.0], [4.0]]))
    total = utils.clip_grad_norm_(params, max_norm=1.0)
    assert total.item() == pytest.approx(5.0)
    np.testing.assert_allclose(params[0].grad.numpy(), [0.6, 0.0], rtol=1e-5)
    np.testing.assert_allclose(params[1].grad.numpy(), [[0.0], [0.8]], rtol=1e-5)
    params = _with_grads(np.array([0.3, 0.4]))
    assert utils.clip_grad_norm_(params, 1.0).item() == pytest.approx(0.5)
    np.testing.assert_array_equal(params[0].grad.numpy(), [0.3, 0.4])  # below the threshold: unchanged


def test_clip_grad_norm_other_norms_and_edge_cases():
    params = _with_grads(np.array([1.0, -6.0]), np.array([2.0]))
    assert utils.clip_grad_norm_(params, 100.0, norm_type="inf").item() == 6.0
    assert utils.clip_grad_norm_(params, 100.0, norm_type=1).item() == 9.0
    assert utils.clip_grad_norm_([nn.Parameter(np.ones(2))], 1.0).item() == 0.0  # no gradients
    with pytest.raises(RuntimeError, match="norm is nan"):
        utils.clip_grad_norm_(_with_grads(np.array([np.nan])), 1.0, error_if_nonfinite=True)


def test_clip_grad_norm_matches_torch_on_a_model():
    torch = pytest.importorskip("torch")
    ag.manual_seed(0)
    model = models.DigitsCNN().double()
    (model(ag.randn(4, 1, 8, 8, dtype=np.float64)) ** 2).sum().backward()
    grads = [torch.from_numpy(p.grad.numpy().copy()) for p in model.parameters()]
    tparams = [torch.zeros_like(g, requires_grad=True) for g in grads]
    for p, g in zip(tparams, grads):
        p.grad = g
    expected = torch.nn.utils.clip_grad_norm_(tparams, 0.5)
    total = utils.clip_grad_norm_(model, 0.5)  # a Module means its parameters
    assert total.item() == pytest.approx(expected.item(), rel=1e-12)
    for p, t in zip(model.parameters(), tparams):
        np.testing.assert_allclose(p.grad.numpy(), t.grad.numpy(), rtol=1e-12)


def test_clip_grad_norm_with_a_gradient_shared_between_leaves():
    a = ag.tensor([3.0, 4.0], requires_grad=True)
    b = ag.tensor([1.0, 1.0], requires_grad=True)
    (a + b).sum().backward()  # a.grad and b.grad may be the same object
    utils.clip_grad_norm_([a, b], max_norm=1.0)
    np.testing.assert_allclose(a.grad.numpy(), [0.5, 0.5], rtol=1e-5)
    np.testing.assert_allclose(b.grad.numpy(), [0.5, 0.5], rtol=1e-5)


def test_clip_grad_norm_with_an_empty_gradient():
    layer = nn.Linear(0, 3)
    layer(ag.zeros(2, 0)).sum().backward()
    assert utils.clip_grad_norm_(layer.parameters(), 10.0, norm_type="inf").item() == 2.0  # the bias's gradient


def test_clip_grad_value():
    params = _with_grads(np.array([-3.0, 0.5, 2.0]))
    utils.clip_grad_value_(params, 1.0)
    np.testing.assert_array_equal(params[0].grad.numpy(), [-1.0, 0.5, 1.0])
    utils.clip_grad_value_(nn.Parameter(np.ones(2)), 1.0)  # no gradient: nothing to do


# -- penalties -----------------------------------------------------------------------------------------
def test_penalties_values_and_gradients():
    w = nn.Parameter(np.array([[1.0, -2.0], [0.5, 0.0]]))
    b = nn.Parameter(np.array([-3.0]))
    assert utils.l1_penalty([w, b]).item() == pytest.approx(6.5)
    assert utils.l2_penalty([w, b]).item() == pytest.approx(1 + 4 + 0.25 + 9)
    net = utils.elastic_net_penalty([w, b], l1=0.1, l2=0.01)
    assert net.item() == pytest.approx(0.65 + 0.1425)
    net.backward()
    np.testing.assert_allclose(w.grad.numpy(), 0.1 * np.sign(w.data) + 0.02 * w.data)
    np.testing.assert_allclose(b.grad.numpy(), [-0.1 - 0.06])


def test_penalty_of_a_module_is_differentiable_like_weight_decay():
    lin = nn.Linear(3, 2).double()
    utils.l2_penalty(lin).backward()
    np.testing.assert_allclose(lin.weight.grad.numpy(), 2 * lin.weight.numpy())
    assert utils.l1_penalty([]).item() == 0.0
    assert utils.l2_penalty([]).dtype == ag.get_default_dtype()  # adding it to a float32 loss keeps float32


# -- max-norm constraint ---------------------------------------------------------------------------------
def test_clip_weight_norm_rescales_rows_over_the_limit():
    lin = nn.Linear(2, 3).double()
    lin.weight.data[...] = [[3.0, 4.0], [0.3, 0.4], [0.0, 2.0]]
    largest = utils.clip_weight_norm_(lin.weight, max_norm=1.0)
    assert largest == pytest.approx(5.0)
    np.testing.assert_allclose(lin.weight.numpy(), [[0.6, 0.8], [0.3, 0.4], [0.0, 1.0]])


def test_clip_weight_norm_axes():
    conv = nn.Conv2d(2, 4, 3).double()
    conv.weight.data[...] = 1.0  # each filter has norm √18
    utils.clip_weight_norm_([conv.weight, conv.bias], max_norm=1.5)
    norms = np.sqrt((conv.weight.numpy() ** 2).sum(axis=(1, 2, 3)))
    np.testing.assert_allclose(norms, 1.5)
    assert np.linalg.norm(conv.bias.numpy()) <= 1.5 + 1e-12  # a 1-D tensor is one vector
    w = nn.Parameter(np.array([[3.0, 0.0], [4.0, 0.1]]))
    utils.clip_weight_norm_(w, 1.0, axis=0)  # columns
    np.testing.assert_allclose(np.linalg.norm(w.numpy(), axis=0), [1.0, 0.1])
