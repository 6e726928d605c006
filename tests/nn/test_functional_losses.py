"""nn.functional softmax and losses: stability, gradchecks, PyTorch agreement, errors."""
import warnings

import numpy as np
import pytest

import autograd as ag
import nn
import nn.functional as F

from helpers import against_torch, raises

rng = np.random.default_rng(2)


def leaf(*shape, scale=1.0):
    return ag.tensor(scale * rng.standard_normal(shape), requires_grad=True)


def labels(C, *shape):
    return rng.integers(0, C, shape)


# -- softmax -------------------------------------------------------------------------------------
@pytest.mark.parametrize("axis", [-1, 0, 1])
def test_softmax_and_log_softmax_match_torch(axis):
    torch = pytest.importorskip("torch")
    a = [rng.standard_normal((3, 4, 5))]
    against_torch(lambda x: F.softmax(x, axis), lambda x: torch.softmax(x, axis), a)
    against_torch(lambda x: F.log_softmax(x, axis=axis), lambda x: torch.log_softmax(x, axis), a)
    against_torch(lambda x: F.softmax(x, dim=axis), lambda x: torch.softmax(x, axis), a)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("scale", [1000.0, 1e30])
def test_softmax_is_stable_for_huge_logits(dtype, scale):
    torch = pytest.importorskip("torch")
    a = (np.array([[1.0, -1.0, 0.0, 0.5], [-1.0, -1.0, -0.999, 1.0]]) * scale).astype(dtype)
    with warnings.catch_warnings(), np.errstate(over="raise", invalid="raise", divide="raise"):
        warnings.simplefilter("error")
        for ours, theirs in ((F.softmax, torch.softmax), (F.log_softmax, torch.log_softmax)):
            x = ag.tensor(a, requires_grad=True)
            y = ours(x, axis=1)
            (y * ag.tensor(rng.standard_normal(a.shape).astype(dtype))).sum().backward()
            assert np.isfinite(y.data).all() and np.isfinite(x.grad.data).all()
            assert y.dtype == x.grad.dtype == dtype
            np.testing.assert_allclose(y.data, theirs(torch.tensor(a), 1).numpy(), rtol=1e-6)


def test_softmax_rows_sum_to_one():
    np.testing.assert_allclose(F.softmax(leaf(4, 7)).data.sum(axis=-1), 1.0)


def test_softmax_gradcheck_and_second_derivatives():
    x = leaf(2, 3)
    assert ag.gradcheck(lambda x: F.softmax(x, axis=0), [x])
    assert ag.gradcheck(F.log_softmax, [x])
    assert ag.gradgradcheck(F.softmax, [x])
    assert ag.gradgradcheck(F.log_softmax, [leaf(1, 3)])


# -- cross entropy ----------------------------------------------------------------------------------
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.2])
@pytest.mark.parametrize("weighted, ignore", [(False, False), (True, False), (True, True), (False, True)])
@pytest.mark.parametrize("shape", [(6, 4), (3, 4, 2, 3)])
def test_cross_entropy_class_targets_match_torch(reduction, label_smoothing, weighted, ignore, shape):
    torch = pytest.importorskip("torch")
    t = labels(shape[1], shape[0], *shape[2:])
    if ignore:
        t.flat[::3] = -1
    w = rng.random(shape[1]) + 0.5 if weighted else None
    kwargs = dict(reduction=reduction, label_smoothing=label_smoothing, ignore_index=-1)
    against_torch(lambda x: F.cross_entropy(x, t, weight=w, **kwargs),
                  lambda x: torch.nn.functional.cross_entropy(
                      x, torch.tensor(t), weight=None if w is None else torch.tensor(w), **kwargs),
                  [3 * rng.standard_normal(shape)])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.3])
@pytest.mark.parametrize("weighted", [False, True])
def test_cross_entropy_probability_targets_match_torch(reduction, label_smoothing, weighted):
    torch = pytest.importorskip("torch")
    q = rng.random((5, 3, 2))
    q /= q.sum(axis=1, keepdims=True)
    w = rng.random(3) + 0.5 if weighted else None
    kwargs = dict(reduction=reduction, label_smoothing=label_smoothing)
    against_torch(lambda x, q: F.cross_entropy(x, q, weight=w, **kwargs),
                  lambda x, q: torch.nn.functional.cross_entropy(
                      x, q, weight=None if w is None else torch.tensor(w), **kwargs),
                  [rng.standard_normal((5, 3, 2)), q])


def test_cross_entropy_unbatched_input():
    torch = pytest.importorskip("torch")
    for reduction in ("mean", "none"):
        against_torch(lambda x: F.cross_entropy(x, 2, reduction=reduction),
                      lambda x: torch.nn.functional.cross_entropy(x, torch.tensor(2), reduction=reduction),
                      [rng.standard_normal(4)])
    against_torch(lambda x, q: F.cross_entropy(x, q), lambda x, q: torch.nn.functional.cross_entropy(x, q),
                  [rng.standard_normal(4), np.array([0.1, 0.2, 0.3, 0.4])])


def test_cross_entropy_of_huge_and_infinite_logits_is_finite():
    torch = pytest.importorskip("torch")
    a = np.array([[1000.0, -1000.0, 0.0], [-np.inf, 3.0, -np.inf], [1e4, 1e4, -1e4]])
    t = np.array([1, 1, 0])
    with warnings.catch_warnings(), np.errstate(over="raise", invalid="raise", divide="raise"):
        warnings.simplefilter("error")
        x = ag.tensor(a, requires_grad=True)
        loss = F.cross_entropy(x, t)
        loss.backward()
    xt = torch.tensor(a, requires_grad=True)
    expected = torch.nn.functional.cross_entropy(xt, torch.tensor(t))
    expected.backward()
    np.testing.assert_allclose(loss.item(), expected.item(), rtol=1e-12)
    np.testing.assert_allclose(x.grad.data, xt.grad.numpy(), atol=1e-12)


def test_cross_entropy_gradcheck():
    x, t = leaf(4, 3), labels(3, 4)
    t[1] = -100
    assert ag.gradcheck(lambda x: F.cross_entropy(x, t, label_smoothing=0.1), [x])
    q = ag.tensor(rng.random((4, 3)), requires_grad=True)
    assert ag.gradcheck(lambda x, q: F.cross_entropy(x, q, reduction="sum"), [x, q])
    assert ag.gradgradcheck(lambda x: F.cross_entropy(x, t), [x])


def test_cross_entropy_is_nll_of_log_softmax():
    x, t = leaf(5, 4), labels(4, 5)
    np.testing.assert_allclose(F.cross_entropy(x, t).item(), F.nll_loss(F.log_softmax(x, axis=1), t).item())


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_nll_loss_matches_torch(reduction):
    torch = pytest.importorskip("torch")
    t = labels(5, 4, 3)
    t[0, 1] = 7
    w = rng.random(5)
    against_torch(lambda x: F.nll_loss(x, t, weight=w, ignore_index=7, reduction=reduction),
                  lambda x: torch.nn.functional.nll_loss(x, torch.tensor(t), weight=torch.tensor(w),
                                                         ignore_index=7, reduction=reduction),
                  [rng.standard_normal((4, 5, 3))])


# -- regression and binary losses -------------------------------------------------------------------------
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_and_l1_match_torch(reduction):
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    a = [rng.standard_normal((3, 4)), rng.standard_normal((3, 4))]
    a[1][0, 0] = a[0][0, 0]  # a tie: |d|' = 0 there, like PyTorch
    against_torch(lambda x, t: F.mse_loss(x, t, reduction), lambda x, t: tf.mse_loss(x, t, reduction=reduction), a)
    against_torch(lambda x, t: F.l1_loss(x, t, reduction), lambda x, t: tf.l1_loss(x, t, reduction=reduction), a)


def logits_with_extremes(shape):
    x = 3 * rng.standard_normal(shape)
    x.flat[:5] = [0.0, 40.0, -40.0, 1000.0, -1000.0]
    return x


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
def test_bce_with_logits_matches_torch(reduction, weighted):
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    x, t = logits_with_extremes((4, 3)), rng.random((4, 3))
    t.flat[:5] = [0.3, 1.0, 0.0, 0.0, 1.0]
    w = rng.random((4, 3)) if weighted else None
    pw = rng.random(3) + 0.5 if weighted else None
    with warnings.catch_warnings(), np.errstate(over="raise", invalid="raise", divide="raise"):
        warnings.simplefilter("error")
        against_torch(
            lambda x, t: F.binary_cross_entropy_with_logits(x, t, weight=w, reduction=reduction, pos_weight=pw),
            lambda x, t: tf.binary_cross_entropy_with_logits(
                x, t, weight=None if w is None else torch.tensor(w), reduction=reduction,
                pos_weight=None if pw is None else torch.tensor(pw)),
            [x, t])


def test_bce_with_logits_gradient_at_zero_is_exact():
    """max(x, 0) and |x| have kinks at 0 that cancel: the gradient there is σ(0) − t = ½ − t."""
    x = ag.tensor(np.zeros(3), requires_grad=True)
    F.binary_cross_entropy_with_logits(x, ag.tensor(np.array([0.0, 0.25, 1.0])), reduction="sum").backward()
    np.testing.assert_allclose(x.grad.data, [0.5, 0.25, -0.5])


def test_float64_loss_weights_keep_a_float32_loss_float32_like_torch():
    x, t = ag.randn(4, 3, requires_grad=True), ag.rand(4, 3)
    w, pw = np.full((4, 3), 0.5), np.array([2.0, 1.0, 0.5])
    loss = F.binary_cross_entropy_with_logits(x, t, weight=w, pos_weight=pw)
    assert loss.dtype == np.float32
    loss.backward()
    assert x.grad.dtype == np.float32
    assert F.binary_cross_entropy(x.sigmoid(), t, weight=w).dtype == np.float32
    assert nn.BCEWithLogitsLoss(weight=w, pos_weight=pw)(x, t).dtype == np.float32


def test_bce_with_logits_gradcheck():
    x, t = leaf(3, 2), ag.tensor(rng.random((3, 2)), requires_grad=True)
    assert ag.gradcheck(lambda x, t: F.binary_cross_entropy_with_logits(x, t, pos_weight=ag.tensor([2.0, 0.5])),
                        [x, t])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_binary_cross_entropy_matches_torch(reduction):
    torch = pytest.importorskip("torch")
    p, t = rng.uniform(0.02, 0.98, (4, 3)), rng.random((4, 3))
    w = rng.random(3)
    against_torch(lambda p, t: F.binary_cross_entropy(p, t, weight=w, reduction=reduction),
                  lambda p, t: torch.nn.functional.binary_cross_entropy(p, t, torch.tensor(w), reduction=reduction),
                  [p, t])


def test_binary_cross_entropy_clamps_log_at_minus_100():
    p = ag.tensor(np.array([0.0, 1.0]), requires_grad=True)
    with warnings.catch_warnings(), np.errstate(over="raise", invalid="raise", divide="raise"):
        warnings.simplefilter("error")
        loss = F.binary_cross_entropy(p, ag.tensor(np.array([1.0, 0.0])), reduction="none")
        loss.sum().backward()
    np.testing.assert_allclose(loss.data, [100.0, 100.0])
    assert np.isfinite(p.grad.data).all()


@pytest.mark.parametrize("p", [1, 2])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
def test_multi_margin_loss_matches_torch(p, reduction, weighted):
    torch = pytest.importorskip("torch")
    t = labels(4, 6)
    w = rng.random(4) + 0.5 if weighted else None
    against_torch(lambda x: F.multi_margin_loss(x, t, p=p, margin=0.7, weight=w, reduction=reduction),
                  lambda x: torch.nn.functional.multi_margin_loss(
                      x, torch.tensor(t), p=p, margin=0.7, weight=None if w is None else torch.tensor(w),
                      reduction=reduction),
                  [rng.standard_normal((6, 4))])


def test_multi_margin_loss_unbatched_and_gradcheck():
    torch = pytest.importorskip("torch")
    against_torch(lambda x: F.multi_margin_loss(x, 1, reduction="none"),
                  lambda x: torch.nn.functional.multi_margin_loss(x[None], torch.tensor([1]), reduction="none")[0],
                  [rng.standard_normal(5)])
    x, t = leaf(3, 4), labels(4, 3)
    assert ag.gradcheck(lambda x: F.multi_margin_loss(x, t, p=2, margin=0.5), [x])


def test_multi_margin_loss_is_the_svm_hinge():
    """Label 0 with scores (3, 1, −1) beats every other class by the margin: loss 0. With (0, 0.5, 0.2)
    each other class i adds 1 − x₀ + xᵢ, and the sum is divided by C = 3."""
    x = ag.tensor([[3.0, 1.0, -1.0], [0.0, 0.5, 0.2]])
    np.testing.assert_allclose(F.multi_margin_loss(x, [0, 0], reduction="none").data,
                               [0.0, ((1 + 0.5) + (1 + 0.2)) / 3])


# -- errors ---------------------------------------------------------------------------------------------------
def test_loss_target_errors():
    x = ag.zeros(4, 3)
    with raises(ValueError, "cross_entropy: expected target of shape (4,) for input of shape (4, 3), got (5,)"):
        F.cross_entropy(x, np.zeros(5, int))
    with raises(ValueError, "cross_entropy: expected target of shape (4, 5) for input of shape (4, 3, 5), got (4,)"):
        F.cross_entropy(ag.zeros(4, 3, 5), np.zeros(4, int))
    with raises(TypeError, "cross_entropy: class-index targets must be integers, got dtype float32 (probability "
                           "targets need the input's shape (4, 3))"):
        F.cross_entropy(x, ag.zeros(4))
    with raises(IndexError, "cross_entropy: target label 3 is out of range for 3 classes (expected 0…2, or "
                            "ignore_index=-100)"):
        F.cross_entropy(x, np.array([0, 1, 2, 3]))
    with raises(IndexError, "nll_loss: target label -1 is out of range for 3 classes"):
        F.nll_loss(x, np.array([0, -1, 2, 2]))
    with raises(IndexError, "multi_margin_loss: target label 5 is out of range for 3 classes (expected 0…2)"):
        F.multi_margin_loss(x, np.array([0, 1, 5, 2]))
    with raises(ValueError, "cross_entropy: weight expects one value per class, shape (3,), got (4,)"):
        F.cross_entropy(x, np.zeros(4, int), weight=np.ones(4))
    with raises(ValueError, "mse_loss: target shape (4,) does not match input shape (4, 1)"):
        F.mse_loss(ag.zeros(4, 1), ag.zeros(4))
    with raises(ValueError, "l1_loss: target shape (3,) does not match input shape (4, 3)"):
        F.l1_loss(x, ag.zeros(3))
    with raises(TypeError, "binary_cross_entropy_with_logits: target must be floating point (probabilities in "
                           "[0, 1]), got dtype int64"):
        F.binary_cross_entropy_with_logits(x, np.zeros((4, 3), int))
    with raises(ValueError, "binary_cross_entropy: input must be probabilities in [0, 1]"):
        F.binary_cross_entropy(ag.full((4, 3), 2.0), ag.zeros(4, 3))


def test_loss_argument_errors():
    x, t = ag.zeros(4, 3), np.zeros(4, int)
    with raises(ValueError, "cross_entropy: reduction must be 'mean', 'sum' or 'none', got 'avg'"):
        F.cross_entropy(x, t, reduction="avg")
    with raises(ValueError, "mse_loss: reduction must be 'mean', 'sum' or 'none', got 'max'"):
        F.mse_loss(x, x, reduction="max")
    with raises(ValueError, "cross_entropy: label_smoothing must be in [0, 1], got 1.5"):
        F.cross_entropy(x, t, label_smoothing=1.5)
    with raises(ValueError, "multi_margin_loss: p must be 1 or 2, got 3"):
        F.multi_margin_loss(x, t, p=3)
    with raises(ValueError, "multi_margin_loss: expected input of shape (N, C) or (C,), got shape (4, 3, 2)"):
        F.multi_margin_loss(ag.zeros(4, 3, 2), t)
