"""Reductions: axes (int, tuple, negative, None), keepdims, ties in max/min, ddof in var."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, valid_tuple_axes

import autograd as ag

from helpers import f64, gradcheck_and_torch, torch_fn

FEW = settings(max_examples=20, deadline=None)


@st.composite
def shape_and_axes(draw):
    shape = draw(array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=3))
    if not shape:
        return shape, None
    ints = st.integers(-len(shape), len(shape) - 1)
    axis = draw(st.one_of(st.none(), valid_tuple_axes(len(shape), min_size=1), ints))
    return shape, axis


@FEW
@given(case=shape_and_axes(), keepdims=st.booleans(), op=st.sampled_from(["sum", "mean", "max", "min", "var"]),
       seed=st.integers(0, 2**16))
def test_reduction_matches_numpy_and_gradchecks(case, keepdims, op, seed):
    shape, axis = case
    x = f64(np.random.default_rng(seed).standard_normal(shape))
    y = getattr(x, op)(axis=axis, keepdims=keepdims)
    np.testing.assert_allclose(y.data, getattr(np, op)(x.data, axis=axis, keepdims=keepdims))
    assert ag.gradcheck(lambda t: getattr(t, op)(axis=axis, keepdims=keepdims), [x])


def test_sum_gradient_is_ones_and_mean_gradient_is_one_over_n():
    x = f64(np.arange(6.0).reshape(2, 3))
    x.sum(axis=1).sum().backward()
    np.testing.assert_array_equal(x.grad.data, np.ones((2, 3)))
    x.grad = None
    x.mean(axis=0).sum().backward()
    np.testing.assert_allclose(x.grad.data, np.full((2, 3), 0.5))


def test_max_splits_the_gradient_evenly_among_tied_winners():
    x = f64([1.0, 3.0, 3.0, 2.0])
    x.max().backward()
    np.testing.assert_array_equal(x.grad.data, [0.0, 0.5, 0.5, 0.0])


def test_min_splits_the_gradient_evenly_among_tied_winners_per_row():
    x = f64([[1.0, 1.0, 1.0], [0.0, 2.0, 0.0]])
    (x.min(axis=1) * f64([3.0, 4.0])).sum().backward()
    np.testing.assert_allclose(x.grad.data, [[1.0, 1.0, 1.0], [2.0, 0.0, 2.0]])


@pytest.mark.parametrize("op, fill", [(ag.max, -np.inf), (ag.min, np.inf)])
def test_only_candidates_win(op, fill):
    """Filling that ties with the extreme (a pooling window's padding) gets no share of the gradient."""
    x = f64([[fill, fill, fill], [1.0, fill, 1.0]])
    candidates = np.array([[False, True, True], [True, False, True]])
    y = op(x, axis=1, candidates=candidates)
    np.testing.assert_array_equal(y.data, [fill, 1.0])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.data, [[0.0, 0.5, 0.5], [0.5, 0.0, 0.5]])


@pytest.mark.parametrize("op, pick", [(ag.max, np.max), (ag.min, np.min)])
def test_extremes_with_candidates_gradcheck(op, pick):
    """Away from ties, the candidates mask changes nothing: the gradient goes to the winner, numerically too."""
    rng = np.random.default_rng(3)
    x = f64(rng.standard_normal((3, 4, 5)))
    candidates = rng.random((1, 4, 5)) < 0.7
    candidates[:, 0] = True  # every (row, column) window has a candidate
    x.data[~np.broadcast_to(candidates, x.shape)] = -pick([-1e3, 1e3])  # the others: filling that never wins
    y = op(x, axis=1, candidates=candidates)
    np.testing.assert_array_equal(y.data, pick(x.data, axis=1))
    assert ag.gradcheck(lambda t: op(t, axis=1, candidates=candidates), [x])


def test_max_over_several_axes_routes_to_the_winner():
    x = f64(np.array([[[1.0, 9.0], [3.0, 4.0]], [[5.0, 6.0], [7.0, 8.0]]]))
    y = x.max(axis=(0, 2), keepdims=True)
    assert y.shape == (1, 2, 1)
    np.testing.assert_array_equal(y.data.ravel(), [9.0, 8.0])
    y.sum().backward()
    expected = np.zeros((2, 2, 2))
    expected[0, 0, 1] = expected[1, 1, 1] = 1.0
    np.testing.assert_array_equal(x.grad.data, expected)


@pytest.mark.parametrize("ddof", [0, 1, 2])
def test_var_follows_numpy_ddof_and_its_gradient(ddof):
    x = f64(np.random.default_rng(ddof).standard_normal((3, 5)))
    y = x.var(axis=1, ddof=ddof)
    np.testing.assert_allclose(y.data, np.var(x.data, axis=1, ddof=ddof))
    y.sum().backward()
    centered = x.data - x.data.mean(axis=1, keepdims=True)
    np.testing.assert_allclose(x.grad.data, 2 * centered / (5 - ddof))


def test_var_accepts_torch_style_unbiased_and_correction():
    x = f64(np.random.default_rng(0).standard_normal(6))
    np.testing.assert_allclose(x.var(unbiased=True).data, np.var(x.data, ddof=1))
    np.testing.assert_allclose(x.var(correction=0).data, np.var(x.data))
    np.testing.assert_allclose(x.std(dim=0).data, np.std(x.data))


def test_dim_and_keepdim_are_aliases_of_axis_and_keepdims():
    x = f64(np.random.default_rng(1).standard_normal((2, 3, 4)))
    for op in ("sum", "mean", "max", "min"):
        a = getattr(x, op)(dim=(0, 2), keepdim=True)
        b = getattr(x, op)(axis=(0, 2), keepdims=True)
        assert a.shape == (1, 3, 1)
        np.testing.assert_array_equal(a.data, b.data)


def test_reduction_of_a_0d_tensor_is_the_identity():
    x = f64(2.5)
    for op in ("sum", "mean", "max", "min"):
        y = getattr(x, op)()
        assert y.shape == () and y.item() == 2.5
        x.grad = None
        y.backward()
        assert x.grad.item() == 1.0


def test_axis_out_of_range_names_the_axis_and_the_rank():
    with pytest.raises(ValueError, match=r"axis 2 is out of range for a tensor with 2 dimensions"):
        f64(np.ones((2, 3))).sum(axis=2)


def test_max_of_an_empty_tensor_is_an_error_naming_the_shape():
    with pytest.raises(ValueError, match=r"max: .*empty.*\(0, 3\)"):
        f64(np.ones((0, 3))).max()


def test_max_over_non_empty_axes_of_an_empty_batch_is_empty():
    x = f64(np.ones((0, 3, 2)))
    y = x.max(axis=(1, 2))
    assert y.shape == (0,)
    y.sum().backward()
    assert x.grad.shape == (0, 3, 2)
    with pytest.raises(ValueError, match=r"min: reduction over an empty axis .*\(3, 0\)"):
        f64(np.ones((3, 0))).min(axis=1)


def test_var_without_degrees_of_freedom_is_nan_with_a_nan_gradient_like_torch():
    x = f64([1.5])
    with np.errstate(invalid="ignore", divide="ignore"), pytest.warns(RuntimeWarning):
        y = x.var(ddof=1)
    y.backward()
    assert np.isnan(y.item()) and np.isnan(x.grad.data).all()


# -- composites: prod, logsumexp, std, norm; constants: any, all, argmax, argmin ---------------------------------
def _dims(axis, ndim):
    return tuple(range(ndim)) if axis is None else axis


@pytest.mark.parametrize("shape, axis", [((3, 4), None), ((3, 4), 1), ((2, 3, 5), (0, 2)), ((7,), 0), ((), None),
                                         ((2, 1, 3), -1)], ids=str)
@pytest.mark.parametrize("keepdims", [False, True])
def test_prod_and_logsumexp_match_torch(shape, axis, keepdims):
    x = np.random.default_rng(0).uniform(-2, 2, shape)
    dims = _dims(axis, len(shape))
    gradcheck_and_torch(lambda t: ag.prod(t, axis, keepdims),
                        lambda t: torch_fn("prod")(t.reshape(-1)) if axis is None and not keepdims else
                        _torch_prod(t, dims, keepdims), x)
    gradcheck_and_torch(lambda t: ag.logsumexp(t, axis, keepdims), lambda t: torch_fn("logsumexp")(t, dims, keepdims), x)


def _torch_prod(t, dims, keepdims):
    """torch.prod reduces one dim at a time."""
    for d in sorted((d % max(t.ndim, 1) for d in (dims if isinstance(dims, tuple) else (dims,))), reverse=True):
        t = t.prod(d, keepdim=keepdims) if t.ndim else t
    return t


def test_prod_gradient_is_the_product_of_the_others_even_with_zeros():
    x = f64([[2.0, 0.0, 3.0], [0.0, 0.0, 5.0], [1.5, 2.0, 4.0]])
    ag.prod(x, 1).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [[0.0, 6.0, 0.0], [0.0, 0.0, 0.0], [8.0, 6.0, 3.0]])
    assert ag.prod(f64(np.ones((2, 0))), 1).tolist() == [1.0, 1.0]


def test_logsumexp_is_stable_and_handles_all_minus_infinity():
    y = ag.logsumexp(f64([[1000.0, 1000.0], [-np.inf, -np.inf]]), 1)
    np.testing.assert_allclose(y.data, [1000.0 + np.log(2), -np.inf])


@pytest.mark.parametrize("axis, correction", [(None, 0), (1, 1), ((0, 2), 2), (-1, 0)])
def test_std_matches_torch(axis, correction):
    x = np.random.default_rng(1).standard_normal((3, 4, 5))
    dims = _dims(axis, 3)
    gradcheck_and_torch(lambda t: ag.std(t, axis, correction=correction),
                        lambda t: torch_fn("std")(t, dims, correction=correction), x)


def test_std_keeps_numpys_default_and_takes_torchs_keywords():
    x = f64([1.0, 2.0, 4.0])
    assert ag.std(x).item() == pytest.approx(np.std(x.data))
    assert ag.std(x, unbiased=True).item() == ag.std(x, correction=1).item() == pytest.approx(np.std(x.data, ddof=1))
    with pytest.raises(ValueError, match="std: give one of ddof, correction and unbiased"):
        ag.std(x, ddof=1, correction=1)


def test_std_and_norm_of_a_constant_have_gradient_zero_like_torch():
    x = f64([3.0, 3.0])
    ag.std(x).backward()
    np.testing.assert_array_equal(x.grad.data, [0.0, 0.0])
    z = f64([0.0, 0.0])
    ag.norm(z).backward()
    np.testing.assert_array_equal(z.grad.data, [0.0, 0.0])


@pytest.mark.parametrize("p", [2, 1, 3, 0.5, np.inf, -np.inf])
@pytest.mark.parametrize("axis", [None, 1])
def test_norm_matches_torch(p, axis):
    x = np.random.default_rng(2).uniform(0.2, 2, (3, 4)) * np.array([1, -1, 1, -1])
    dims = _dims(axis, 2)
    gradcheck_and_torch(lambda t: ag.norm(t, p, axis), lambda t: torch_fn("linalg.vector_norm")(t, p, dims), x)


def test_norm_zero_counts_nonzeros():
    assert ag.norm(f64([0.0, 2.0, -1.0]), 0).item() == 2.0


def test_any_all_argmax_argmin_give_constants_like_torch():
    x = f64([[0.0, 2.0, 2.0], [-1.0, np.nan, 0.5]])
    assert ag.any(x, 1).tolist() == [True, True] and ag.all(x, 1).tolist() == [False, True]
    assert ag.any(x, keepdims=True).shape == (1, 1)
    assert ag.argmax(x, 1).tolist() == [1, 1]  # the first of tied maxima; NaN is the largest, as in PyTorch
    assert ag.argmin(x, 1, keepdims=True).tolist() == [[0], [1]]
    assert ag.argmax(x).item() == 4 and ag.argmax(x).dtype == np.int64
    assert ag.argmax(f64(3.0), 0).item() == 0


def test_a_0d_tensor_accepts_axis_0_and_minus_1_like_torch():
    x = f64(2.5)
    for axis in (0, -1, (0,)):
        assert x.sum(axis).item() == 2.5 and x.max(axis, keepdims=True).shape == ()
    with pytest.raises(ValueError, match="axis 1 is out of range for a tensor with 0 dimensions"):
        x.sum(1)


def test_max_and_min_send_the_gradient_to_nan_like_torch():
    x = f64([[1.0, np.nan, 3.0, np.nan], [1.0, 2.0, 3.0, 0.0]])
    y = x.max(axis=1)
    assert np.isnan(y.data[0]) and y.data[1] == 3.0
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.data, [[0.0, 0.5, 0.0, 0.5], [0.0, 0.0, 1.0, 0.0]])


def test_tensor_methods_take_dim_and_keepdim():
    x = f64(np.random.default_rng(3).uniform(0.5, 2, (2, 3)))
    assert x.prod(dim=1, keepdim=True).shape == (2, 1) and x.logsumexp(1).shape == (2,)
    assert x.norm(1, dim=0).tolist() == ag.norm(x, 1, 0).tolist() and x.norm().shape == ()
    assert x.any(dim=1).tolist() == [True, True] and x.all().item()
    assert x.cumsum(dim=1).tolist() == ag.cumsum(x, 1).tolist() and x.cumprod(0).shape == (2, 3)
    assert x.std(dim=1, correction=1).tolist() == ag.std(x, 1, correction=1).tolist()
    assert x.argmax(dim=1).tolist() == np.argmax(x.data, 1).tolist()
