"""Shape primitives: indexing (slices, steps, repeated integer arrays, masks), pad, join, and adjoint pairs."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays, basic_indices, integer_array_indices

import autograd as ag

from helpers import f64, randn

FEW = settings(max_examples=20, deadline=None)
SHAPES = array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4)


@FEW
@given(data=st.data(), shape=SHAPES)
def test_getitem_basic_indices_match_numpy_and_gradcheck(data, shape):
    index = data.draw(basic_indices(shape, allow_newaxis=True, allow_ellipsis=True))
    x = randn(*shape)
    np.testing.assert_array_equal(x[index].data, x.data[index])
    assert ag.gradcheck(lambda t: t[index] * 2.0, [x])


@FEW
@given(data=st.data(), shape=SHAPES)
def test_getitem_integer_arrays_accumulate_repeated_indices(data, shape):
    index = data.draw(integer_array_indices(shape, result_shape=array_shapes(max_dims=2, max_side=5)))
    x = randn(*shape)
    np.testing.assert_array_equal(x[index].data, x.data[index])
    x[index].sum().backward()
    counts = np.zeros(shape)
    np.add.at(counts, index, 1.0)
    np.testing.assert_array_equal(x.grad.data, counts)
    assert ag.gradcheck(lambda t: t[index], [x])


@FEW
@given(data=st.data(), shape=SHAPES)
def test_getitem_boolean_mask_routes_gradient_to_selected_elements(data, shape):
    mask = data.draw(arrays(bool, shape))
    x = randn(*shape)
    y = x[mask]
    np.testing.assert_array_equal(y.data, x.data[mask])
    (y * 3.0).sum().backward()
    np.testing.assert_array_equal(x.grad.data, 3.0 * mask)


def test_repeated_integer_index_adds_up():
    x = f64([1.0, 2.0, 3.0])
    x[[0, 0, 2, 0]].sum().backward()
    np.testing.assert_array_equal(x.grad.data, [3.0, 0.0, 1.0])


def test_index_with_an_integer_tensor():
    x = f64([1.0, 2.0, 3.0])
    y = x[ag.tensor([2, 2])]
    np.testing.assert_array_equal(y.data, [3.0, 3.0])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.data, [0.0, 0.0, 2.0])


@pytest.mark.parametrize("index", [np.s_[1:, ::2], np.s_[[0, 2, 2]], np.s_[[1, 1], 2:], np.s_[..., 1]])
def test_index_add_is_the_adjoint_of_getitem(index):
    x, rng = randn(3, 4), np.random.default_rng(5)
    c = rng.standard_normal(x.data[index].shape)
    lhs = np.sum(x[index].data * c)
    rhs = np.sum(x.data * ag.index_add(ag.tensor(c), index, x.shape).data)
    assert np.isclose(lhs, rhs, rtol=1e-12)


def test_getitem_dot_product_on_a_large_tensor():
    x = randn(40, 30, 20)
    idx = np.random.default_rng(1).integers(0, 40, 100)
    ag.dot_product_check(lambda t: t[idx, ::3, 2:-1], [x])
    ag.dot_product_check(lambda t: t[t.data > 0.5], [x])


@FEW
@given(shape=SHAPES, data=st.data())
def test_pad_gradient_is_the_slice_of_the_inner_region(shape, data):
    widths = tuple(data.draw(st.tuples(st.integers(0, 2), st.integers(0, 2))) for _ in shape)
    x = randn(*shape)
    y = ag.pad(x, widths, value=7.0)
    np.testing.assert_array_equal(y.data, np.pad(x.data, widths, constant_values=7.0))
    assert ag.gradcheck(lambda t: ag.pad(t, widths), [x])


def test_pad_with_an_int_pads_every_axis():
    x = randn(2, 3)
    y = x.pad(1)
    assert y.shape == (4, 5) and y.data[0, 0] == 0.0
    (y * y).sum().backward()
    np.testing.assert_allclose(x.grad.data, 2 * x.data)


@st.composite
def joinable(draw):
    shape = draw(array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=3))
    axis = draw(st.integers(-len(shape), len(shape) - 1))
    sizes = draw(st.lists(st.integers(1, 3), min_size=1, max_size=3))
    shapes = [shape[:axis % len(shape)] + (n,) + shape[axis % len(shape) + 1:] for n in sizes]
    return shapes, axis


@FEW
@given(case=joinable(), seed=st.integers(0, 2**16))
def test_concatenate_matches_numpy_and_splits_the_gradient(case, seed):
    shapes, axis = case
    xs = [randn(*s, seed=seed + i) for i, s in enumerate(shapes)]
    y = ag.concatenate(xs, axis=axis)
    np.testing.assert_array_equal(y.data, np.concatenate([x.data for x in xs], axis=axis))
    assert ag.gradcheck(lambda *ts: ag.concatenate(ts, axis=axis) ** 2, xs)


@FEW
@given(shape=array_shapes(min_dims=0, max_dims=2, max_side=3), count=st.integers(1, 3), data=st.data())
def test_stack_matches_numpy_and_splits_the_gradient(shape, count, data):
    axis = data.draw(st.integers(-len(shape) - 1, len(shape)))
    xs = [randn(*shape, seed=i) for i in range(count)]
    y = ag.stack(xs, axis=axis)
    np.testing.assert_array_equal(y.data, np.stack([x.data for x in xs], axis=axis))
    assert ag.gradcheck(lambda *ts: ag.stack(ts, axis=axis) ** 2, xs)


def test_concatenate_accepts_arrays_and_tensors_without_grad():
    x = randn(2)
    y = ag.concatenate([x, np.ones(3), ag.zeros(1, dtype=np.float64)])
    assert y.shape == (6,)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.data, [1.0, 1.0])


def test_broadcast_to_and_sum_to_are_adjoint():
    x, c = randn(3, 1), randn(2, 3, 4, seed=1)
    lhs = np.sum(x.broadcast_to(2, 3, 4).data * c.data)
    rhs = np.sum(x.data * c.sum_to((3, 1)).data)
    assert np.isclose(lhs, rhs, rtol=1e-12)


def test_broadcast_to_gradient_sums_the_repeated_axes():
    x = f64([[1.0], [2.0]])
    x.expand(3, 2, 4).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [[12.0], [12.0]])


def test_permute_and_transpose_move_gradients_back():
    x = randn(2, 3, 4)
    w = np.random.default_rng(2).standard_normal((4, 2, 3))
    (x.permute(2, 0, 1) * ag.tensor(w)).sum().backward()
    np.testing.assert_array_equal(x.grad.data, w.transpose(1, 2, 0))
    assert x.transpose(0, 2).shape == (4, 3, 2) and x.T.shape == (4, 3, 2) and x.mT.shape == (2, 4, 3)


@pytest.mark.parametrize("fn, shape", [
    (lambda x: x.squeeze(), (3,)), (lambda x: x.squeeze(0), (3, 4)), (lambda x: x.squeeze((0, -1)), (3,)),
    (lambda x: x.squeeze(np.int64(2)), (1, 3)),
    (lambda x: x.unsqueeze(1), (1, 1, 3, 1)), (lambda x: x.unsqueeze(-1), (1, 3, 1, 1)),
    (lambda x: x.flatten(), (3,)), (lambda x: x.flatten(1), (1, 3)), (lambda x: x.reshape(-1, 1), (3, 1)),
])
def test_squeeze_unsqueeze_flatten_reshape_shapes_and_gradients(fn, shape):
    x = randn(1, 3, 1) if shape != (3, 4) else randn(1, 3, 4)
    y = fn(x)
    assert y.shape == shape
    assert ag.gradcheck(fn, [x])


@pytest.mark.parametrize("call, message", [
    (lambda: ag.reshape(randn(2, 3), (4, 2)), r"reshape: cannot reshape .* shape \(2, 3\) \(6 values\) into \(4, 2\)"),
    (lambda: randn(2, 3).broadcast_to((3, 3)), r"broadcast_to: cannot broadcast shape \(2, 3\) to \(3, 3\)"),
    (lambda: ag.sum_to(randn(2, 3), (4, 3)), r"sum_to: shape \(2, 3\) does not broadcast from \(4, 3\)"),
    (lambda: ag.concatenate([randn(2, 3), randn(3, 2)], axis=0),
     r"concatenate: tensor 1 has shape \(3, 2\), expected it to match \(2, 3\)"),
    (lambda: ag.stack([randn(2), randn(3)]), r"stack: tensor 1 has shape \(3,\), expected it to match \(2,\)"),
    (lambda: ag.concatenate([]), r"concatenate: expected a non-empty list"),
    (lambda: randn(2, 3).permute(0, 0), r"permute: \(0, 0\) is not a permutation of the 2 axes of shape \(2, 3\)"),
    (lambda: ag.pad(randn(2, 3), ((1, 1),)), r"pad: 1 \(before, after\) pairs given for a tensor of shape \(2, 3\)"),
    (lambda: ag.pad(randn(2), ((-1, 0),)), r"pad: widths must be non-negative"),
    (lambda: randn(2, 1).squeeze(5), r"squeeze: axis 5 is out of range for a tensor with 2 dimensions"),
    (lambda: randn(2, 3).unsqueeze(-4), r"unsqueeze: axis -4 is out of range"),
    (lambda: randn(2, 3).permute(0, 3), r"permute: axis 3 is out of range for a tensor with 2 dimensions"),
    (lambda: randn(2, 3).transpose(1), r"transpose: give two axes to swap, or none to reverse all"),
    (lambda: randn(2, 3).transpose(0, 2), r"transpose: axis 2 is out of range"),
    (lambda: randn(2, 3).flatten(0, 2), r"flatten: axis 2 is out of range"),
    (lambda: ag.concatenate([randn(), randn()]), r"concatenate: 0-d tensors have no axis to join along; use stack"),
    (lambda: ag.concatenate([randn(2), randn(2)], axis=1), r"concatenate: axis 1 is out of range for a tensor with 1"),
    (lambda: ag.stack([randn(2), randn(2)], axis=2), r"stack: axis 2 is out of range"),
])
def test_shape_errors_name_expected_and_received(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_squeeze_leaves_axes_that_are_not_1_and_takes_axis_0_of_a_0d_tensor_like_torch():
    x = randn(2, 1, 3)
    assert x.squeeze(0) is x and x.squeeze((0, 1)).shape == (2, 3)
    assert randn().squeeze(0).shape == () and randn().squeeze(-1).shape == ()


def test_transpose_swaps_two_axes_and_permutes_by_a_full_order_like_numpy():
    x = randn(2, 3, 4)
    assert x.transpose(0, 2).shape == (4, 3, 2)  # two ints: PyTorch's swap
    assert x.transpose(2, 0, 1).shape == (4, 2, 3) and x.transpose((1, 2, 0)).shape == (3, 4, 2)
    np.testing.assert_array_equal(x.transpose(2, 0, 1).data, x.data.transpose(2, 0, 1))
    assert randn(2, 3).transpose(1, 0).shape == (3, 2)
    assert ag.gradcheck(lambda t: t.transpose(1, 2, 0) * 2.0, [x])


def test_contiguous_copies_only_what_is_not_in_c_order():
    x = ag.tensor(np.arange(24.0).reshape(2, 3, 4), requires_grad=True)
    assert x.is_contiguous() and x.contiguous() is x
    p = x.permute(2, 0, 1)
    assert not p.is_contiguous()
    c = p.contiguous()
    assert c.is_contiguous() and c.data.flags.c_contiguous
    np.testing.assert_array_equal(c.data, p.data)
    assert not np.shares_memory(c.data, x.data)
    (c * ag.tensor(np.arange(24.0).reshape(4, 2, 3))).sum().backward()
    np.testing.assert_array_equal(x.grad.data, np.arange(24.0).reshape(4, 2, 3).transpose(1, 2, 0))
