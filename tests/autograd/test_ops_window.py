"""unfold (im2col) and fold (col2im): the layout, the exact adjoint pair, and their gradients."""
import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import autograd as ag
from autograd.ops.window import output_size

from helpers import f64

FEW = settings(max_examples=20, deadline=None)


def unfold_reference(x, kernel, stride, padding, dilation):
    """cols[n, c, *k, *o] = padded[n, c, o·s + k·d], one window position at a time."""
    padded = np.pad(x, ((0, 0), (0, 0)) + tuple((p, p) for p in padding))
    outs = tuple(output_size(n, k, s, d) for n, k, s, d in zip(padded.shape[2:], kernel, stride, dilation))
    cols = np.zeros(x.shape[:2] + tuple(kernel) + outs)
    for k in itertools.product(*map(range, kernel)):
        for o in itertools.product(*map(range, outs)):
            src = tuple(oi * s + ki * d for oi, ki, s, d in zip(o, k, stride, dilation))
            cols[(slice(None), slice(None)) + k + o] = padded[(slice(None), slice(None)) + src]
    return cols


@st.composite
def window_case(draw):
    """Input shape and kernel/stride/padding/dilation (per axis) for 1 or 2 spatial axes."""
    dims = draw(st.integers(1, 2))
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(dims))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(dims))
    padding = tuple(draw(st.integers(0, 2)) for _ in range(dims))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(dims))
    spatial = tuple(draw(st.integers(max(1, d * (k - 1) + 1 - 2 * p), 6))
                    for k, p, d in zip(kernel, padding, dilation))
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 2))) + spatial
    return shape, kernel, stride, padding, dilation


@FEW
@given(case=window_case(), seed=st.integers(0, 2**16))
def test_unfold_lays_out_windows_as_n_c_kernel_then_positions(case, seed):
    shape, kernel, stride, padding, dilation = case
    x = np.random.default_rng(seed).standard_normal(shape)
    cols = ag.unfold(f64(x), kernel, stride, padding, dilation)
    np.testing.assert_array_equal(cols.data, unfold_reference(x, kernel, stride, padding, dilation))


@FEW
@given(case=window_case(), seed=st.integers(0, 2**16))
def test_fold_is_exactly_the_adjoint_of_unfold(case, seed):
    shape, kernel, stride, padding, dilation = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    cols = ag.unfold(f64(x, False), kernel, stride, padding, dilation)
    c = rng.standard_normal(cols.shape)
    folded = ag.fold(f64(c, False), shape[2:], kernel, stride, padding, dilation)
    assert folded.shape == shape
    assert np.isclose(np.sum(cols.data * c), np.sum(x * folded.data), rtol=1e-12, atol=1e-12)


@FEW
@given(case=window_case(), seed=st.integers(0, 2**16))
def test_unfold_and_fold_gradcheck(case, seed):
    shape, kernel, stride, padding, dilation = case
    x = f64(np.random.default_rng(seed).standard_normal(shape))
    assert ag.gradcheck(lambda t: ag.unfold(t, kernel, stride, padding, dilation), [x])
    cshape = ag.unfold(x, kernel, stride, padding, dilation).shape
    c = f64(np.random.default_rng(seed + 1).standard_normal(cshape))
    assert ag.gradcheck(lambda t: ag.fold(t, shape[2:], kernel, stride, padding, dilation), [c])


def test_unfold_gradient_counts_the_windows_covering_each_pixel():
    x = f64(np.zeros((1, 1, 3, 3)))
    ag.unfold(x, 2).sum().backward()
    np.testing.assert_array_equal(x.grad.data[0, 0], [[1, 2, 1], [2, 4, 2], [1, 2, 1]])


def test_unfold_vjp_is_fold_and_fold_vjp_is_unfold():
    x = f64(np.ones((1, 1, 4, 4)))
    cols = ag.unfold(x, 3)
    v = f64(np.ones(cols.shape))  # requires grad, so the VJP is recorded
    assert cols.grad_fn.name == "unfold"
    assert ag.grad(cols, x, v, create_graph=True)[0].grad_fn.name == "fold"
    folded = ag.fold(v, (4, 4), 3)
    assert folded.grad_fn.name == "fold"
    assert ag.grad(folded, v, x, create_graph=True)[0].grad_fn.name == "unfold"


@pytest.mark.parametrize("shape, kernel, stride, padding, dilation", [
    ((2, 3, 16, 16), 3, 2, 1, 1), ((2, 2, 15, 12), (3, 2), (1, 2), (2, 0), (2, 1)), ((3, 4, 40), 5, 3, 2, 2),
])
def test_unfold_and_fold_pass_the_dot_product_test_on_large_shapes(shape, kernel, stride, padding, dilation):
    x = f64(np.random.default_rng(0).standard_normal(shape))
    ag.dot_product_check(lambda t: ag.unfold(t, kernel, stride, padding, dilation), [x])
    cshape = ag.unfold(x, kernel, stride, padding, dilation).shape
    c = f64(np.random.default_rng(1).standard_normal(cshape))
    ag.dot_product_check(lambda t: ag.fold(t, shape[2:], kernel, stride, padding, dilation), [c])


def test_output_size_counts_window_positions():
    assert output_size(5, 3, 1, 1) == 3
    assert output_size(7, 3, 2, 1) == 3
    assert output_size(7, 3, 1, 2) == 3
    assert output_size(3, 3, 5, 1) == 1


@pytest.mark.parametrize("call, message", [
    (lambda: ag.unfold(ag.zeros(2, 3), 2),
     r"unfold: expected input \(N, C, L\), \(N, C, H, W\) or \(N, C, D, H, W\), got 2 dimensions"),
    (lambda: ag.unfold(ag.zeros(1, 1, 3, 3), 4), r"unfold: kernel \(4, 4\) .* larger than the padded input \(3, 3\)"),
    (lambda: ag.unfold(ag.zeros(1, 1, 3, 3), (2, 2, 2)), r"unfold: kernel_size must be an int or a tuple of 2 ints, got \(2, 2, 2\)"),
    (lambda: ag.unfold(ag.zeros(1, 1, 3, 3), 2, stride=0), r"unfold: stride must be ≥ 1, got 0"),
    (lambda: ag.unfold(ag.zeros(1, 1, 3, 3), 2, padding=-1), r"unfold: padding must be ≥ 0, got -1"),
    (lambda: ag.fold(ag.zeros(1, 1, 2, 2, 3, 3), (5, 5), 2),
     r"fold: output_size \(5, 5\) .* has \(4, 4\) window positions, got columns of shape \(1, 1, 2, 2, 3, 3\)"),
    (lambda: ag.fold(ag.zeros(1, 1, 3, 3, 2, 2), (3, 3), 2), r"fold: expected columns \(N, C, \*\(2, 2\), \*out\)"),
])
def test_window_errors_name_expected_and_received(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# -- the chunked layout: an innermost batch axis ----------------------------------------------------------------
@pytest.mark.parametrize("chunks", [1, 2, 6])
@pytest.mark.parametrize("kwargs", [dict(kernel_size=3), dict(kernel_size=(2, 3), stride=(2, 1), padding=1,
                                                                dilation=(1, 2)), dict(kernel_size=2, stride=2)])
def test_batch_last_is_the_same_windows_with_the_batch_moved_innermost(chunks, kwargs):
    x = np.random.default_rng(0).standard_normal((6, 3, 6, 7))
    n = 6 // chunks
    inner = np.ascontiguousarray(x.reshape(chunks, n, 3, 6, 7).transpose(0, 2, 3, 4, 1))  # (B, C, H, W, n)
    cols = ag.unfold(f64(inner, False), batch_last=True, **kwargs).data
    expected = ag.unfold(f64(x, False), **kwargs).data
    np.testing.assert_array_equal(np.moveaxis(cols, -1, 1).reshape(expected.shape), expected)


@pytest.mark.parametrize("kwargs", [dict(kernel_size=3, padding=1), dict(kernel_size=(2, 3), stride=(2, 1),
                                                                          dilation=(1, 2)), dict(kernel_size=2, stride=2)])
def test_batch_last_unfold_and_fold_gradcheck_and_are_adjoint(kwargs):
    rng = np.random.default_rng(1)
    x = f64(rng.standard_normal((2, 2, 5, 6, 3)))
    assert ag.gradcheck(lambda t: ag.unfold(t, batch_last=True, **kwargs), [x])
    cols = ag.unfold(x, batch_last=True, **kwargs)
    c = f64(rng.standard_normal(cols.shape))
    assert ag.gradcheck(lambda t: ag.fold(t, (5, 6), batch_last=True, **kwargs), [c])
    folded = ag.fold(c, (5, 6), batch_last=True, **kwargs).data
    assert np.isclose(np.sum(cols.data * c.data), np.sum(x.data * folded), rtol=1e-12)


def test_fold_of_non_overlapping_windows_assigns_and_leaves_the_rest_zero():
    """kernel = stride (pooling): each input element is in at most one window; the uncovered border is 0."""
    cols = f64(np.arange(1.0, 17.0).reshape(1, 1, 2, 2, 2, 2), False)
    x = ag.fold(cols, (5, 5), 2, stride=2).data[0, 0]
    assert x[4].tolist() == [0] * 5 and x[:, 4].tolist() == [0] * 5
    np.testing.assert_array_equal(x[:4, :4], [[1, 5, 2, 6], [9, 13, 10, 14], [3, 7, 4, 8], [11, 15, 12, 16]])


# -- the wide pair (stride 1) -------------------------------------------------------------------------------------
WIDE = [((2, 3, 6, 7), (3, 3), (1, 1)), ((1, 2, 5, 4), (2, 3), (2, 1)), ((2, 1, 4, 4), (1, 1), (1, 1)),
        ((1, 2, 7, 9), (3, 2), (1, 3)), ((3, 1, 3, 5), (3, 5), (1, 1))]


@pytest.mark.parametrize("shape, kernel, dilation", WIDE)
def test_unfold_wide_holds_every_window_over_the_full_width(shape, kernel, dilation):
    """Column p·W + q is window (p, q) for q < OW; the wrapped columns are windows that run into the next row."""
    x = np.random.default_rng(0).standard_normal(shape)
    cols = ag.unfold_wide(f64(x, False), kernel, dilation).data
    expected = ag.unfold(f64(x, False), kernel, dilation=dilation).data  # (N, C, KH, KW, OH, OW)
    OH, OW = expected.shape[-2:]
    W = shape[3]
    assert cols.shape == shape[:2] + kernel + (OH * W,)
    np.testing.assert_array_equal(cols.reshape(cols.shape[:4] + (OH, W))[..., :OW], expected)
    flat = x.reshape(shape[:2] + (-1,))
    i, j, t = kernel[0] - 1, kernel[1] - 1, OH * W - 1 - dilation[1] * (kernel[1] - 1)  # the last in-image column
    np.testing.assert_array_equal(cols[:, :, i, j, t], flat[:, :, t + i * dilation[0] * W + j * dilation[1]])
    assert not cols[..., t + 1:].any()  # past the image's end: zeros


@pytest.mark.parametrize("shape, kernel, dilation", WIDE)
def test_wide_pair_gradchecks_and_is_adjoint(shape, kernel, dilation):
    rng = np.random.default_rng(2)
    x = f64(rng.standard_normal(shape))
    assert ag.gradcheck(lambda t: ag.unfold_wide(t, kernel, dilation), [x])
    cols = ag.unfold_wide(x, kernel, dilation)
    c = f64(rng.standard_normal(cols.shape))
    assert ag.gradcheck(lambda t: ag.fold_wide(t, shape[2:], kernel, dilation), [c])
    assert np.isclose(np.sum(cols.data * c.data), np.sum(x.data * ag.fold_wide(c, shape[2:], kernel, dilation).data),
                      rtol=1e-12)
    assert ag.grad(cols, x, c, create_graph=True)[0].grad_fn.name == "fold_wide"


def test_wide_pair_passes_the_dot_product_test_on_a_large_shape():
    x = f64(np.random.default_rng(3).standard_normal((4, 8, 30, 33)))
    ag.dot_product_check(lambda t: ag.unfold_wide(t, 3), [x])
    c = f64(np.random.default_rng(4).standard_normal(ag.unfold_wide(x, (3, 2), (2, 1)).shape))
    ag.dot_product_check(lambda t: ag.fold_wide(t, (30, 33), (3, 2), (2, 1)), [c])


@pytest.mark.parametrize("call, message", [
    (lambda: ag.unfold_wide(ag.zeros(2, 3, 4), 2), r"unfold_wide: expected \(N, C, H, W\) input, got 3 dimensions"),
    (lambda: ag.unfold_wide(ag.zeros(1, 1, 3, 3), 4), r"unfold_wide: kernel \(4, 4\) .* larger than the padded input"),
    (lambda: ag.fold_wide(ag.zeros(1, 1, 2, 2, 5), (3, 3), 2),
     r"fold_wide: expected columns \(N, C, \*\(2, 2\), 6\) for output_size \(3, 3\), got shape \(1, 1, 2, 2, 5\)"),
    (lambda: ag.fold(ag.zeros(1, 1, 2, 2, 3, 3), (4, 4), 2, batch_last=True),
     r"fold: expected columns \(N, C, \*\(2, 2\), \*out, n\)"),
])
def test_wide_and_batch_last_errors_name_expected_and_received(call, message):
    with pytest.raises(ValueError, match=message):
        call()
