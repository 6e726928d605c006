"""Elementwise primitives: broadcasting gradients, tie and kink conventions, dtypes."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import mutually_broadcastable_shapes

import autograd as ag

from helpers import against_torch, f64

FEW = settings(max_examples=20, deadline=None)


def uniform(shape, seed, low=-2.0, high=2.0):
    return f64(np.random.default_rng(seed).uniform(low, high, shape))


BINARY = {
    "add": ag.add, "sub": ag.sub, "mul": ag.mul, "maximum": ag.maximum, "minimum": ag.minimum,
    "div": lambda a, b: a / (b * b + 0.5),  # a denominator bounded away from 0
    "pow": lambda a, b: (a * a + 0.5) ** b,  # a positive base
}


@FEW
@given(shapes=mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=3),
       op=st.sampled_from(sorted(BINARY)), seed=st.integers(0, 2**16))
def test_binary_gradients_sum_back_over_broadcast_axes(shapes, op, seed):
    a, b = uniform(shapes.input_shapes[0], seed), uniform(shapes.input_shapes[1], seed + 1)
    out = BINARY[op](a, b)
    assert out.shape == shapes.result_shape
    out.sum().backward()
    assert a.grad.shape == a.shape and b.grad.shape == b.shape
    assert ag.gradcheck(BINARY[op], [a, b])


@FEW
@given(shapes=mutually_broadcastable_shapes(num_shapes=3, max_dims=3, max_side=3), seed=st.integers(0, 2**16))
def test_where_broadcasts_condition_and_both_branches(shapes, seed):
    cshape, ashape, bshape = shapes.input_shapes
    cond = np.random.default_rng(seed).random(cshape) < 0.5
    a, b = uniform(ashape, seed), uniform(bshape, seed + 1)
    out = ag.where(cond, a, b)
    np.testing.assert_array_equal(out.data, np.where(cond, a.data, b.data))
    assert ag.gradcheck(lambda a, b: ag.where(cond, a, b), [a, b])


@pytest.mark.parametrize("op", ["add", "sub", "mul", "div"])
def test_binary_gradient_of_broadcast_operand_is_summed(op):
    a, b = uniform((4, 3), 0), uniform((3,), 1, low=0.5)
    getattr(ag, op)(a, b).sum().backward()
    expected = {"add": np.full(3, 4.0), "sub": np.full(3, -4.0), "mul": a.data.sum(0),
                "div": -(a.data / b.data ** 2).sum(0)}[op]
    np.testing.assert_allclose(b.grad.data, expected)


def test_maximum_and_minimum_split_the_gradient_on_ties():
    a, b = f64([1.0, 2.0, 3.0]), f64([1.0, 0.0, 5.0])  # a tie, a wins max, b wins max
    ag.maximum(a, b).sum().backward()
    np.testing.assert_array_equal(a.grad.data, [0.5, 1.0, 0.0])
    np.testing.assert_array_equal(b.grad.data, [0.5, 0.0, 1.0])
    a.grad = b.grad = None
    ag.minimum(a, b).sum().backward()
    np.testing.assert_array_equal(a.grad.data, [0.5, 0.0, 1.0])
    np.testing.assert_array_equal(b.grad.data, [0.5, 1.0, 0.0])


def test_relu_and_abs_send_zero_gradient_at_the_kink():
    x = f64([-1.0, 0.0, 2.0])
    x.relu().sum().backward()
    np.testing.assert_array_equal(x.grad.data, [0.0, 0.0, 1.0])
    x.grad = None
    abs(x).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [-1.0, 0.0, 1.0])


def test_clip_passes_the_gradient_inside_and_on_the_bounds():
    x = f64([-2.0, -1.0, 0.0, 1.0, 2.0])
    x.clip(-1.0, 1.0).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [0.0, 1.0, 1.0, 1.0, 0.0])


def test_clip_bounds_may_be_tensors_or_arrays_and_get_no_gradient():
    x, lo = f64([-2.0, 0.5, 3.0]), f64([-1.0, 0.0, 0.0])
    y = x.clip(lo, np.array([1.0, 1.0, 2.0]))
    np.testing.assert_array_equal(y.data, [-1.0, 0.5, 2.0])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.data, [0.0, 1.0, 0.0])
    assert lo.grad is None


def test_pow_with_scalar_exponent_on_negative_base():
    x = f64([-2.0, 3.0])
    (x ** 3).sum().backward()
    np.testing.assert_allclose(x.grad.data, [12.0, 27.0])


def test_pow_exponent_gradient_is_finite_at_zero_base():
    a, b = f64([0.0, 2.0]), f64([2.0, 3.0])
    (a ** b).sum().backward()
    np.testing.assert_allclose(b.grad.data, [0.0, 8.0 * np.log(2.0)])
    np.testing.assert_allclose(a.grad.data, [0.0, 12.0])


def test_rpow_differentiates_the_exponent():
    x = f64([0.0, 1.0, 2.0])
    (2.0 ** x).sum().backward()
    np.testing.assert_allclose(x.grad.data, 2.0 ** x.data * np.log(2.0))


def test_sigmoid_is_stable_for_large_inputs():
    x = f64([-1000.0, 0.0, 1000.0])
    y = x.sigmoid()
    np.testing.assert_allclose(y.data, [0.0, 0.5, 1.0])
    y.sum().backward()
    np.testing.assert_allclose(x.grad.data, [0.0, 0.25, 0.0])
    assert np.all(np.isfinite(x.grad.data))


@pytest.mark.parametrize("fn, grad", [
    (ag.exp, np.exp), (ag.log, lambda x: 1 / x), (ag.sqrt, lambda x: 0.5 / np.sqrt(x)),
    (ag.tanh, lambda x: 1 - np.tanh(x) ** 2), (ag.sigmoid, lambda x: np.exp(-x) / (1 + np.exp(-x)) ** 2),
    (ag.neg, lambda x: -np.ones_like(x)),
])
def test_unary_gradient_matches_the_textbook_derivative(fn, grad):
    x = uniform((5,), 3, low=0.2, high=2.0)
    fn(x).sum().backward()
    np.testing.assert_allclose(x.grad.data, grad(x.data))


def test_float32_stays_float32_with_python_scalars():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    y = (2 * x + 1.5) / 3 - x ** 2
    assert x.dtype == y.dtype == np.float32
    y.sum().backward()
    assert x.grad.dtype == np.float32


def test_gradient_takes_each_input_dtype_under_mixed_precision():
    a = ag.tensor([1.0, 2.0], requires_grad=True)  # float32
    b = f64([3.0, 4.0])
    y = a * b
    assert y.dtype == np.float64
    y.sum().backward()
    assert a.grad.dtype == np.float32 and b.grad.dtype == np.float64
    np.testing.assert_allclose(a.grad.data, [3.0, 4.0])


def test_cast_converts_the_gradient_back_to_the_input_dtype():
    x = f64([1.0, 2.0])
    y = x.float()
    assert y.dtype == np.float32 and y.grad_fn.name == "cast"
    (y * 3).sum().backward()
    assert x.grad.dtype == np.float64
    np.testing.assert_array_equal(x.grad.data, [3.0, 3.0])
    assert x.double() is x


def test_cast_to_integer_gives_a_tensor_without_grad():
    x = f64([1.7, -2.2])
    i = x.to(np.int64)
    assert i.dtype == np.int64 and not i.requires_grad and i.grad_fn is None
    np.testing.assert_array_equal(i.data, [1, -2])


def test_where_accepts_bool_tensor_condition_and_gives_it_no_gradient():
    a, b = f64([1.0, 2.0, 3.0]), f64([10.0, 20.0, 30.0])
    cond = a > 1.5
    y = ag.where(cond, a, b)
    np.testing.assert_array_equal(y.data, [10.0, 2.0, 3.0])
    y.sum().backward()
    np.testing.assert_array_equal(a.grad.data, [0.0, 1.0, 1.0])
    np.testing.assert_array_equal(b.grad.data, [1.0, 0.0, 0.0])


def test_operand_without_grad_gets_no_gradient():
    a, c = f64([1.0, 2.0]), f64([3.0, 4.0], requires_grad=False)
    (a * c).sum().backward()
    assert c.grad is None
    np.testing.assert_array_equal(a.grad.data, [3.0, 4.0])


def test_pow_with_exponent_zero_has_gradient_zero_even_at_zero_like_torch():
    x = f64([0.0, 1.0, -2.0])
    (x ** 0).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [0.0, 0.0, 0.0])
    a, b = f64([0.0, 3.0]), f64([0.0, 0.0])
    (a ** b).sum().backward()
    np.testing.assert_array_equal(a.grad.data, [0.0, 0.0])


@pytest.mark.filterwarnings("ignore:divide by zero encountered in power")  # 0 ** −1 = ∞
@pytest.mark.parametrize("base, exponents", [(0.0, [0.0, 2.0, -1.0, 0.5]), (-2.0, [0.0, 2.0, 3.0])])
def test_pow_exponent_gradient_at_zero_and_negative_bases_matches_torch(base, exponents):
    """0^b: 0 for b ≥ 0 and −∞ for b < 0; (−2)^b: NaN (ln of a negative number), as PyTorch gives."""
    against_torch(lambda b: base ** b, lambda b: base ** b, [np.array(exponents)])
