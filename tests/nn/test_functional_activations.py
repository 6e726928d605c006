"""Activations, F.normalize and F.one_hot: PyTorch's values and gradients, at the kinks too."""
import numpy as np
import pytest

import autograd as ag
import nn
import nn.functional as F

from helpers import against_torch, f64, gradcheck_and_torch, op_names, torch_fn

ACTIVATIONS = [  # (our F call, PyTorch's nn.functional name and options)
    ("gelu", {}), ("gelu", {"approximate": "tanh"}), ("elu", {}), ("elu", {"alpha": 0.5}), ("selu", {}),
    ("celu", {}), ("celu", {"alpha": 2.0}), ("silu", {}), ("mish", {}), ("softplus", {}),
    ("softplus", {"beta": 2.0, "threshold": 3.0}), ("softsign", {}), ("hardtanh", {}),
    ("hardtanh", {"min_val": -0.5, "max_val": 2.0}), ("relu6", {}), ("hardsigmoid", {}), ("hardswish", {}),
    ("leaky_relu", {"negative_slope": 0.2}), ("logsigmoid", {}),
]
IDS = [f"{name}{options or ''}" for name, options in ACTIVATIONS]
KINKS = np.array([-6.0, -3.0, -2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 6.0])


def torch_activation(name, options):
    return lambda t: torch_fn(f"nn.functional.{name}")(t, **options)


def tolerance(name):
    """PyTorch's hardsigmoid backward multiplies by a float32 1/6 even in float64 (ours is exact)."""
    return 1e-7 if name == "hardsigmoid" else 1e-10


@pytest.mark.parametrize("name, options", ACTIVATIONS, ids=IDS)
def test_activation_matches_torch(name, options):
    x = np.random.default_rng(0).uniform(-4, 4, (3, 5))
    gradcheck_and_torch(lambda t: getattr(F, name)(t, **options), torch_activation(name, options), x,
                        atol=tolerance(name))


@pytest.mark.parametrize("name, options", ACTIVATIONS, ids=IDS)
def test_activation_gradient_at_the_kinks_is_torchs(name, options):
    """At x = 0, ±1, ±3, 6, … (where the pieces meet, or the threshold) the one-sided choice is PyTorch's."""
    against_torch(lambda t: getattr(F, name)(t, **options), torch_activation(name, options), [KINKS], tolerance(name))


@pytest.mark.parametrize("name", ["elu", "selu", "celu", "softplus", "mish", "logsigmoid", "silu"])
def test_activation_of_large_inputs_is_finite_with_a_finite_gradient(name):
    x = f64([-1000.0, -50.0, 50.0, 1000.0])
    y = getattr(F, name)(x)
    y.sum().backward()
    assert np.all(np.isfinite(y.data)) or name == "logsigmoid" and np.isfinite(y.data[1:]).all()
    assert np.all(np.isfinite(x.grad.data))


def test_activations_are_composites():
    x = f64(np.linspace(-2, 2, 5))
    for name, options in ACTIVATIONS:
        assert op_names(getattr(F, name)(x, **options)) <= set(ag.PRIMITIVES), name


def test_activations_keep_float32():
    x = ag.randn(4)
    for name, options in ACTIVATIONS:
        assert getattr(F, name)(x, **options).dtype == np.float32, name


MODULES = ["GELU()", "GELU(approximate='tanh')", "ELU(alpha=0.3)", "SELU()", "CELU(2.0)", "SiLU()", "Mish()",
           "Softplus(beta=2.0, threshold=5.0)", "Softsign()", "Hardtanh(-2.0, 2.0)", "ReLU6()", "Hardsigmoid()",
           "Hardswish()", "LogSigmoid()", "LeakyReLU(0.1)"]


@pytest.mark.parametrize("spec", MODULES)
def test_module_matches_torch_in_repr_and_output(spec):
    torch = pytest.importorskip("torch")
    ours, theirs = eval(spec, vars(nn)), eval(spec, vars(torch.nn))
    assert repr(ours) == repr(theirs)
    x = np.random.default_rng(1).uniform(-4, 4, (2, 6))
    np.testing.assert_allclose(ours(ag.tensor(x)).data, theirs(torch.tensor(x)).numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("p, dim", [(2.0, 1), (1.0, 0), (3.0, -1)])
def test_normalize_matches_torch(p, dim):
    x = np.random.default_rng(2).uniform(-2, 2, (3, 4))
    gradcheck_and_torch(lambda t: F.normalize(t, p, dim), lambda t: torch_fn("nn.functional.normalize")(t, p, dim), x)


def test_normalize_of_a_zero_vector_is_zero_with_gradient_one_over_eps_like_torch():
    against_torch(lambda t: F.normalize(t, dim=0), lambda t: torch_fn("nn.functional.normalize")(t, dim=0),
                  [np.zeros(3)], atol=1e-3)


def test_one_hot_matches_torch():
    labels = np.array([[0, 2], [1, 2]])
    ours = F.one_hot(ag.tensor(labels))
    assert ours.dtype == np.int64 and ours.shape == (2, 2, 3)
    np.testing.assert_array_equal(ours.data, np.eye(3, dtype=np.int64)[labels])
    assert F.one_hot(labels, 5).shape == (2, 2, 5)


@pytest.mark.parametrize("call, error, message", [
    (lambda: F.one_hot(np.array([0, 3]), 3), ValueError, r"one_hot: label 3 is out of range for 3 classes"),
    (lambda: F.one_hot(np.array([0.0])), TypeError, r"one_hot: labels must be integers, got dtype float64"),
    (lambda: F.gelu(ag.randn(2), approximate="erf"), ValueError,
     r"gelu: approximate must be 'none' or 'tanh', got 'erf'"),
    (lambda: F.hardtanh(ag.randn(2), 1.0, -1.0), ValueError, r"hardtanh: min_val 1.0 must not exceed max_val -1.0"),
])
def test_errors_name_what_was_expected_and_what_came(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_softmax_and_log_softmax_of_a_0d_tensor_like_torch():
    x = f64(3.0)
    assert F.softmax(x, 0).item() == 1.0 and F.log_softmax(x, -1).item() == 0.0
    F.softmax(x, 0).backward()
    assert x.grad.item() == 0.0
