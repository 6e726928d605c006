"""nn.functional pooling: gradchecks, PyTorch agreement, tie rule, errors."""

import numpy as np
import pytest

import autograd as ag
import nn.functional as F

from helpers import against_torch, raises

rng = np.random.default_rng(1)


def leaf(*shape):
    return ag.tensor(rng.standard_normal(shape), requires_grad=True)


POOL2D = [  # input shape, kernel_size, stride, padding
    ((2, 3, 6, 6), 2, None, 0),
    ((2, 2, 7, 5), 3, 2, 1),
    ((1, 3, 8, 9), (3, 2), (1, 2), (1, 0)),
    ((2, 1, 5, 5), 5, None, 2),
    ((1, 2, 4, 6), 1, 2, 0),
]


@pytest.mark.parametrize("shape, kernel, stride, padding", POOL2D)
def test_max_pool2d_matches_torch(shape, kernel, stride, padding):
    torch = pytest.importorskip("torch")
    against_torch(lambda x: F.max_pool2d(x, kernel, stride, padding),
                  lambda x: torch.nn.functional.max_pool2d(x, kernel, stride, padding), [rng.standard_normal(shape)])


@pytest.mark.parametrize("shape, kernel, stride, padding", POOL2D)
def test_avg_pool2d_matches_torch(shape, kernel, stride, padding):
    torch = pytest.importorskip("torch")
    against_torch(lambda x: F.avg_pool2d(x, kernel, stride, padding),
                  lambda x: torch.nn.functional.avg_pool2d(x, kernel, stride, padding), [rng.standard_normal(shape)])


@pytest.mark.parametrize("shape, kernel, stride, padding", [((2, 3, 8), 2, None, 0), ((1, 2, 9), 3, 2, 1)])
def test_pool1d_matches_torch(shape, kernel, stride, padding):
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    against_torch(lambda x: F.max_pool1d(x, kernel, stride, padding),
                  lambda x: tf.max_pool1d(x, kernel, stride, padding), [rng.standard_normal(shape)])
    against_torch(lambda x: F.avg_pool1d(x, kernel, stride, padding),
                  lambda x: tf.avg_pool1d(x, kernel, stride, padding), [rng.standard_normal(shape)])


@pytest.mark.parametrize("shape, size", [
    ((2, 3, 5, 7), 1), ((2, 2, 6, 8), (3, 2)), ((1, 2, 5, 7), (3, 4)), ((1, 2, 4, 5), (None, 3)),
    ((1, 1, 3, 3), 5), ((1, 2, 4, 4), (4, 4)),
])
def test_adaptive_avg_pool2d_matches_torch(shape, size):
    torch = pytest.importorskip("torch")
    against_torch(lambda x: F.adaptive_avg_pool2d(x, size),
                  lambda x: torch.nn.functional.adaptive_avg_pool2d(x, size), [rng.standard_normal(shape)])


@pytest.mark.parametrize("shape, size", [
    ((2, 3, 5, 7, 6), (3, 4, 2)), ((1, 2, 7, 5, 3), (2, 5, 3)), ((1, 2, 4, 5, 6), (None, 3, 4)),
    ((2, 2, 6, 4, 5), 1), ((1, 1, 3, 3, 3), 5), ((1, 2, 4, 6, 5), (4, 3, None)),
])
def test_adaptive_avg_pool3d_matches_torch(shape, size):
    """Sizes that do not divide the input (overlapping windows), that grow it, and None (keep that axis)."""
    torch = pytest.importorskip("torch")
    against_torch(lambda x: F.adaptive_avg_pool3d(x, size),
                  lambda x: torch.nn.functional.adaptive_avg_pool3d(x, size), [rng.standard_normal(shape)])


@pytest.mark.parametrize("pool, kwargs", [
    (F.max_pool2d, dict(kernel_size=2)),
    (F.max_pool2d, dict(kernel_size=3, stride=2, padding=1)),
    (F.avg_pool2d, dict(kernel_size=(2, 3), stride=1, padding=(1, 1))),
    (F.adaptive_avg_pool2d, dict(output_size=(2, 3))),
    (F.adaptive_avg_pool2d, dict(output_size=1)),
    (F.max_pool1d, dict(kernel_size=3, stride=2, padding=1)),
    (F.avg_pool1d, dict(kernel_size=2, padding=1)),
])
def test_pool_gradcheck(pool, kwargs):
    x = leaf(1, 2, 5, 5) if pool not in (F.max_pool1d, F.avg_pool1d) else leaf(2, 2, 7)
    assert ag.gradcheck(lambda x: pool(x, **kwargs), [x])


def test_global_average_pooling_is_the_mean():
    x = leaf(3, 4, 5, 6)
    np.testing.assert_allclose(F.adaptive_avg_pool2d(x, 1).data, x.data.mean(axis=(2, 3), keepdims=True))
    x = leaf(2, 3, 4, 5, 6)
    np.testing.assert_allclose(F.adaptive_avg_pool3d(x, 1).data, x.data.mean(axis=(2, 3, 4), keepdims=True))


def test_max_pool_gradient_goes_to_the_winner():
    x = ag.tensor([[[[1.0, 5.0], [2.0, 3.0]]]], requires_grad=True)
    F.max_pool2d(x, 2).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [[[[0, 1], [0, 0]]]])


def test_max_pool_ties_share_the_gradient_evenly():
    """A tie among k winners sends 1/k to each (PyTorch sends it all to one of them)."""
    x = ag.tensor([[[[2.0, 2.0, 1.0, 0.0], [2.0, 2.0, 0.0, 1.0]]]], requires_grad=True)
    F.max_pool2d(x, 2).sum().backward()
    np.testing.assert_allclose(x.grad.data, [[[[0.25, 0.25, 0.5, 0], [0.25, 0.25, 0, 0.5]]]])


def test_max_pool_padding_never_wins():
    torch = pytest.importorskip("torch")
    a = -1.0 - rng.random((1, 1, 3, 3))  # all negative: zero padding would win, −∞ padding never does
    y = F.max_pool2d(ag.tensor(a), 2, padding=1)
    np.testing.assert_array_equal(y.data, torch.nn.functional.max_pool2d(torch.tensor(a), 2, padding=1).numpy())
    assert (y.data < 0).all()


def test_avg_pool_counts_zero_padding():
    y = F.avg_pool2d(ag.ones(1, 1, 2, 2), 2, stride=1, padding=1)
    np.testing.assert_allclose(y.data[0, 0], [[0.25, 0.5, 0.25], [0.5, 1.0, 0.5], [0.25, 0.5, 0.25]])


@pytest.mark.parametrize("pool", [F.max_pool2d, F.avg_pool2d])
def test_pooling_an_empty_batch_gives_an_empty_batch(pool):
    x = ag.zeros(0, 2, 4, 4, requires_grad=True)
    y = pool(x, 2)
    assert y.shape == (0, 2, 2, 2)
    y.sum().backward()
    assert x.grad.shape == x.shape


def test_pool_errors():
    with raises(ValueError, "max_pool2d: expected input of shape (N, C, H, W) or (C, H, W), got shape (8, 8)"):
        F.max_pool2d(ag.zeros(8, 8), 2)
    with raises(ValueError, "avg_pool2d: padding (2, 2) must be at most half the kernel size (3, 3)"):
        F.avg_pool2d(ag.zeros(1, 1, 8, 8), 3, padding=2)
    with raises(ValueError, "max_pool2d: kernel (5, 5) (dilation (1, 1), spanning (5, 5)) is larger than the "
                            "padded input (4, 4)"):
        F.max_pool2d(ag.zeros(1, 1, 4, 4), 5)
    with raises(ValueError, "max_pool2d: stride must be ≥ 1, got 0"):
        F.max_pool2d(ag.zeros(1, 1, 4, 4), 2, stride=0)
    with raises(ValueError, "max_pool1d: kernel_size must be ≥ 1, got 0"):
        F.max_pool1d(ag.zeros(1, 1, 4), 0)
    with raises(ValueError, "adaptive_avg_pool2d: output_size must be ≥ 1, got (0, 2)"):
        F.adaptive_avg_pool2d(ag.zeros(1, 1, 4, 4), (0, 2))


def test_max_pool_with_padding_on_an_integer_tensor_pads_with_the_dtypes_minimum():
    x = ag.tensor(np.array([[[[-5, 2], [3, -7]]]], np.int32))
    y = F.max_pool2d(x, 2, stride=1, padding=1)
    assert y.dtype == np.int32
    np.testing.assert_array_equal(y.data[0, 0], [[-5, 2, 2], [3, 3, 2], [3, 3, -7]])
    assert F.max_pool1d(ag.tensor(np.array([[[-3, -4]]])), 2, padding=1).tolist() == [[[-3, -4]]]


def test_max_pool_sends_the_gradient_to_a_nan_like_torch():
    x = ag.tensor([[[[1.0, np.nan], [3.0, 2.0]]]], dtype=np.float64, requires_grad=True)
    y = F.max_pool2d(x, 2)
    assert np.isnan(y.item())
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.data, [[[[0.0, 1.0], [0.0, 0.0]]]])
