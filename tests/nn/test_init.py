"""nn.init: gains, fans, distributions (bounds and standard deviations), in-place writes, seeding."""
import math

import numpy as np
import pytest

import autograd as ag
import nn
from nn import init


@pytest.mark.parametrize("name, param, gain", [
    ("linear", None, 1.0), ("conv2d", None, 1.0), ("sigmoid", None, 1.0), ("tanh", None, 5 / 3),
    ("relu", None, math.sqrt(2)), ("leaky_relu", None, math.sqrt(2 / (1 + 0.01 ** 2))),
    ("leaky_relu", math.sqrt(5), math.sqrt(1 / 3)), ("selu", None, 0.75),
])
def test_calculate_gain(name, param, gain):
    assert init.calculate_gain(name, param) == pytest.approx(gain)


def test_calculate_gain_matches_torch():
    torch = pytest.importorskip("torch")
    for name in ("linear", "tanh", "relu", "leaky_relu", "selu"):
        assert init.calculate_gain(name) == pytest.approx(torch.nn.init.calculate_gain(name))
    with pytest.raises(ValueError, match="unsupported"):
        init.calculate_gain("swish")


def test_fans():
    assert init.calculate_fan_in_and_fan_out(ag.zeros(20, 30)) == (30, 20)
    assert init.calculate_fan_in_and_fan_out(ag.zeros(16, 6, 5, 5)) == (150, 400)
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        init.calculate_fan_in_and_fan_out(ag.zeros(5))


def _param(*shape, dtype=np.float32):
    return nn.Parameter(np.zeros(shape, dtype))


@pytest.mark.parametrize("fill, bound, std", [
    (lambda w: init.kaiming_uniform_(w, nonlinearity="relu"), math.sqrt(6 / 400), math.sqrt(2 / 400)),
    (lambda w: init.kaiming_uniform_(w, a=math.sqrt(5)), 1 / 20, 1 / 20 / math.sqrt(3)),
    (lambda w: init.kaiming_uniform_(w, mode="fan_out", nonlinearity="relu"), math.sqrt(6 / 200), math.sqrt(2 / 200)),
    (lambda w: init.kaiming_normal_(w, nonlinearity="relu"), None, math.sqrt(2 / 400)),
    (lambda w: init.kaiming_normal_(w, mode="fan_out"), None, math.sqrt(2 / (1 + 1e-4)) / math.sqrt(200)),
    (lambda w: init.xavier_uniform_(w), math.sqrt(6 / 600), math.sqrt(2 / 600)),
    (lambda w: init.xavier_uniform_(w, gain=init.calculate_gain("tanh")), 5 / 3 * math.sqrt(6 / 600),
     5 / 3 * math.sqrt(2 / 600)),
    (lambda w: init.xavier_normal_(w), None, math.sqrt(2 / 600)),
    (lambda w: init.uniform_(w, -0.3, 0.3), 0.3, 0.3 / math.sqrt(3)),
    (lambda w: init.normal_(w, 0.0, 0.02), None, 0.02),
])
def test_random_init_statistics(fill, bound, std):
    ag.manual_seed(0)
    w = _param(200, 400)  # fan_in 400, fan_out 200
    assert fill(w) is w
    values = w.numpy()
    if bound is not None:
        assert np.abs(values).max() <= bound and np.abs(values).max() > 0.99 * bound
    assert values.std() == pytest.approx(std, rel=0.02)
    assert abs(values.mean()) < 0.05 * std


def test_init_on_conv_weight_uses_receptive_field():
    ag.manual_seed(0)
    w = _param(64, 32, 3, 3)
    init.kaiming_normal_(w, nonlinearity="relu")
    assert w.numpy().std() == pytest.approx(math.sqrt(2 / (32 * 9)), rel=0.03)


def test_normal_mean_and_constants():
    ag.manual_seed(0)
    w = _param(100, 100)
    init.normal_(w, mean=3.0, std=0.5)
    assert w.numpy().mean() == pytest.approx(3.0, abs=0.02)
    np.testing.assert_array_equal(init.zeros_(w).numpy(), 0)
    np.testing.assert_array_equal(init.ones_(w).numpy(), 1)
    np.testing.assert_array_equal(init.constant_(w, 0.25).numpy(), 0.25)
    with pytest.raises(ValueError, match="mode"):
        init.kaiming_uniform_(w, mode="fan_avg")


def test_init_writes_in_place_and_keeps_dtype():
    w = _param(4, 5, dtype=np.float64)
    array = w.data
    init.xavier_uniform_(w)
    assert w.data is array and w.dtype == np.float64 and w.requires_grad and w.is_leaf
    a = np.zeros((3, 3), np.float32)  # plain arrays work too
    init.ones_(a)
    assert a.sum() == 9


def test_kaiming_leaves_zero_element_tensors_alone_so_empty_layers_build():
    w = _param(5, 0)
    assert init.kaiming_uniform_(w) is w and init.kaiming_normal_(w) is w
    layer = nn.Linear(0, 5)
    assert layer.weight.shape == (5, 0)
    np.testing.assert_array_equal(layer.bias.numpy(), np.zeros(5))  # U(±1/√0) is taken as U(0, 0), as in PyTorch


def test_manual_seed_makes_models_reproducible():
    ag.manual_seed(123)
    first = nn.models.LeNet5().state_dict()
    ag.manual_seed(123)
    second = nn.models.LeNet5().state_dict()
    third = nn.models.LeNet5().state_dict()
    for key in first:
        np.testing.assert_array_equal(first[key], second[key])
    assert not np.array_equal(first["features.0.weight"], third["features.0.weight"])
