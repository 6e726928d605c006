"""nn.functional linear, activations, dropout, batch_norm, flatten."""

import numpy as np
import pytest

import autograd as ag
import nn.functional as F

from helpers import against_torch, raises

rng = np.random.default_rng(3)


def leaf(*shape):
    return ag.tensor(rng.standard_normal(shape), requires_grad=True)


# -- linear --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("x_shape, bias", [((5, 3), True), ((2, 4, 3), True), ((3,), False)])
def test_linear_matches_torch(x_shape, bias):
    torch = pytest.importorskip("torch")
    against_torch(F.linear, torch.nn.functional.linear,
                  [rng.standard_normal(x_shape), rng.standard_normal((4, 3)), rng.standard_normal(4) if bias else None])


def test_linear_gradcheck():
    assert ag.gradcheck(F.linear, [leaf(2, 3), leaf(4, 3), leaf(4)])


def test_linear_errors():
    with raises(ValueError, "linear: weight expects 3 input features, input has shape (5, 4)"):
        F.linear(ag.zeros(5, 4), ag.zeros(2, 3))
    with raises(ValueError, "linear: expected weight of shape (out, in), got shape (3,)"):
        F.linear(ag.zeros(5, 3), ag.zeros(3))
    with raises(ValueError, "linear: bias expects shape (2,), got (3,)"):
        F.linear(ag.zeros(5, 3), ag.zeros(2, 3), ag.zeros(3))


# -- activations ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name, kwargs", [("relu", {}), ("leaky_relu", {}), ("leaky_relu", dict(negative_slope=0.2)),
                                          ("sigmoid", {}), ("tanh", {})])
def test_activations_match_torch_including_at_zero(name, kwargs):
    torch = pytest.importorskip("torch")
    a = rng.standard_normal((3, 5))
    a[0, :2] = 0.0  # the gradient at the kink: relu 0, leaky_relu the slope, like PyTorch
    against_torch(lambda x: getattr(F, name)(x, **kwargs),
                  lambda x: getattr(torch.nn.functional, name)(x, **kwargs), [a])


def test_leaky_relu_gradcheck():
    assert ag.gradcheck(lambda x: F.leaky_relu(x, 0.1), [leaf(3, 4)])


def test_flatten():
    x = leaf(2, 3, 4, 5)
    assert F.flatten(x).shape == (2, 60)
    assert F.flatten(x, 0, 1).shape == (6, 4, 5)
    assert F.flatten(x, start_dim=2).shape == (2, 3, 20)


# -- dropout ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_statistics(p):
    ag.manual_seed(0)
    x = ag.ones(200_000, requires_grad=True)
    y = F.dropout(x, p)
    zeroed = (y.data == 0).mean()
    assert abs(zeroed - p) < 0.01
    assert abs(y.data.mean() - 1.0) < 0.02  # inverted dropout keeps the mean
    np.testing.assert_allclose(y.data[y.data != 0], 1 / (1 - p), rtol=1e-6)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.data, y.data)  # the gradient is the same mask / (1 − p)


def test_dropout_eval_and_edge_probabilities():
    x = leaf(4, 5)
    assert F.dropout(x, 0.5, training=False) is x
    assert F.dropout(x, 0.0) is x
    np.testing.assert_array_equal(F.dropout(x, 1.0).data, 0.0)
    with raises(ValueError, "dropout: p must be a probability in [0, 1], got 1.5"):
        F.dropout(x, 1.5)


def test_dropout_is_seeded_and_keeps_dtype():
    x = ag.ones(100)
    ag.manual_seed(7)
    first = F.dropout(x, 0.5).data
    ag.manual_seed(7)
    np.testing.assert_array_equal(F.dropout(x, 0.5).data, first)
    assert first.dtype == np.float32


# -- batch norm ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(8, 3), (4, 3, 5), (2, 3, 4, 5)])
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm_matches_torch(shape, training, affine):
    torch = pytest.importorskip("torch")
    C = shape[1]
    mean0, var0 = rng.standard_normal(C), rng.random(C) + 0.5
    ours_stats = [mean0.copy(), ag.tensor(var0)]  # ndarray and Tensor buffers both work
    torch_stats = [torch.tensor(mean0), torch.tensor(var0)]
    params = [rng.standard_normal(C), rng.standard_normal(C)] if affine else [None, None]
    against_torch(
        lambda x, w, b: F.batch_norm(x, *ours_stats, w, b, training=training, momentum=0.3, eps=1e-3),
        lambda x, w, b: torch.nn.functional.batch_norm(x, *torch_stats, w, b, training=training, momentum=0.3,
                                                       eps=1e-3),
        [2 + 3 * rng.standard_normal(shape)] + params)
    np.testing.assert_allclose(ours_stats[0], torch_stats[0].numpy(), rtol=1e-12)
    np.testing.assert_allclose(ours_stats[1].data, torch_stats[1].numpy(), rtol=1e-12)


def test_batch_norm_without_running_stats_and_float32_buffers():
    x = ag.randn(6, 2, 3)
    y = F.batch_norm(x, None, None, training=True)
    np.testing.assert_allclose(y.data.mean(axis=(0, 2)), 0.0, atol=1e-5)
    mean, var = np.zeros(2, np.float32), np.ones(2, np.float32)
    F.batch_norm(x.double(), mean, var, training=True)
    assert mean.dtype == var.dtype == np.float32
    assert not np.allclose(mean, 0.0)


def test_batch_norm_in_eval_keeps_the_input_dtype_with_float64_running_statistics():
    x = ag.randn(4, 3, 2)
    y = F.batch_norm(x, np.full(3, 0.5), np.full(3, 4.0), training=False)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y.data, (x.data - 0.5) / np.sqrt(4.0 + 1e-5), rtol=1e-6)


def test_batch_norm_gradcheck():
    x, w, b = leaf(4, 2, 3), leaf(2), leaf(2)
    assert ag.gradcheck(lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True), [x, w, b])
    assert ag.gradcheck(lambda x, w, b: F.batch_norm(x, np.zeros(2), np.ones(2), w, b), [x, w, b])


def test_batch_norm_errors():
    with raises(ValueError, "batch_norm: expected more than 1 value per channel when training, got input shape (1, 3)"):
        F.batch_norm(ag.zeros(1, 3), np.zeros(3), np.ones(3), training=True)
    with raises(ValueError, "batch_norm: running_mean expects shape (3,) for input with 3 channels, got (4,)"):
        F.batch_norm(ag.zeros(2, 3), np.zeros(4), np.ones(3))
    with raises(ValueError, "batch_norm: evaluation (training=False) needs running_mean and running_var"):
        F.batch_norm(ag.zeros(2, 3), None, None)
    with raises(ValueError, "batch_norm: expected input of shape (N, C, ...), got shape (3,)"):
        F.batch_norm(ag.zeros(3), np.zeros(3), np.ones(3))
