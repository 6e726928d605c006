"""More elementwise math: the same values and gradients as PyTorch (float64), and the edge values users meet."""
import math

import numpy as np
import pytest

import autograd as ag

from helpers import f64, gradcheck_and_torch, torch_fn

SHAPES = [(3, 4), (), (2, 1, 3)]

UNARY = {  # name: the input range (inside the domain, away from kinks that finite differences straddle)
    "sin": (-3, 3), "cos": (-3, 3), "tan": (-1.2, 1.2), "asin": (-0.9, 0.9), "acos": (-0.9, 0.9),
    "atan": (-3, 3), "sinh": (-3, 3), "cosh": (-3, 3), "log2": (0.1, 3), "log10": (0.1, 3), "log1p": (-0.9, 3),
    "expm1": (-3, 3), "exp2": (-3, 3), "rsqrt": (0.1, 3), "reciprocal": (0.2, 3), "erf": (-3, 3),
    "sign": (-3, 3), "floor": (-3, 3), "ceil": (-3, 3), "round": (-3, 3), "trunc": (-3, 3),
}


def uniform(shape, low, high, seed=0):
    return np.random.default_rng(seed).uniform(low, high, shape)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_matches_torch(name, shape):
    gradcheck_and_torch(getattr(ag, name), torch_fn(name), uniform(shape, *UNARY[name]))


@pytest.mark.parametrize("ashape, bshape", [((3, 4), (3, 4)), ((3, 1), (4,)), ((), (2, 3))], ids=str)
@pytest.mark.parametrize("name, brange", [("remainder", (0.3, 2)), ("logaddexp", (-3, 3))])
def test_binary_matches_torch(name, brange, ashape, bshape):
    gradcheck_and_torch(getattr(ag, name), torch_fn(name), uniform(ashape, -3, 3), uniform(bshape, *brange, seed=1))


@pytest.mark.parametrize("wshape", [(3, 4), (4,), ()], ids=str)
def test_lerp_matches_torch(wshape):
    gradcheck_and_torch(ag.lerp, torch_fn("lerp"), uniform((3, 4), -2, 2), uniform((3, 4), -2, 2, seed=1),
                        uniform(wshape, 0, 1, seed=2))


def test_remainder_takes_the_sign_of_the_divisor_and_is_exact_like_python():
    a, b = f64([-3.0, 3.0, 1.0, -7.5]), f64([2.0, -2.0, 0.1, 2.0])
    np.testing.assert_array_equal(ag.remainder(a, b).data, [(-3.0) % 2.0, 3.0 % -2.0, 1.0 % 0.1, -7.5 % 2.0])
    ag.remainder(a, b).sum().backward()
    np.testing.assert_array_equal(a.grad.data, [1.0, 1.0, 1.0, 1.0])
    np.testing.assert_array_equal(b.grad.data, -np.floor_divide(a.data, b.data))


def test_floor_divide_is_exact_and_has_no_gradient():
    a = f64([1.0, -7.0, 7.0])
    q = ag.floor_divide(a, 0.1)
    np.testing.assert_array_equal(q.data, [1.0 // 0.1, -7.0 // 0.1, 7.0 // 0.1])  # 9, not floor(1 / 0.1) = 10
    assert not q.requires_grad
    assert ag.floor_divide(ag.tensor([7, -7]), 2).tolist() == [3, -4]


def test_rounding_functions_send_zero_gradient_like_torch():
    x = f64([-1.5, -0.5, 0.5, 2.5, 3.7])
    for op in (ag.sign, ag.floor, ag.ceil, ag.round, ag.trunc):
        x.grad = None
        op(x).sum().backward()
        np.testing.assert_array_equal(x.grad.data, np.zeros(5))
    np.testing.assert_array_equal(ag.round(x).data, [-2.0, -0.0, 0.0, 2.0, 4.0])  # halves to even, like torch


def test_rounding_an_integer_tensor_keeps_its_dtype():
    i = ag.tensor(np.array([3, -2], np.int32))
    for op in (ag.sign, ag.floor, ag.ceil, ag.round, ag.trunc):
        assert op(i).dtype == np.int32


def test_logarithms_are_exact_on_powers_of_their_base():
    assert ag.log10(f64([1e-3, 1.0, 1000.0])).tolist() == [-3.0, 0.0, 3.0]
    assert ag.log2(f64([0.125, 1.0, 1024.0])).tolist() == [-3.0, 0.0, 10.0]


def test_composites_keep_precision_near_zero():
    tiny = f64([1e-12, -1e-9])
    np.testing.assert_allclose(ag.sinh(tiny).data, np.sinh(tiny.data), rtol=1e-15)
    np.testing.assert_allclose(ag.expm1(tiny).data, np.expm1(tiny.data), rtol=1e-15)
    np.testing.assert_allclose(ag.log1p(tiny).data, np.log1p(tiny.data), rtol=1e-15)


def test_erf_matches_the_c_library_and_keeps_float32():
    x = ag.tensor([-2.0, -0.3, 0.0, 0.7, 4.0])
    assert ag.erf(x).dtype == np.float32
    np.testing.assert_allclose(ag.erf(x).data, [math.erf(v) for v in x.data], rtol=1e-6)


def test_logaddexp_does_not_overflow_and_handles_infinities_like_torch():
    a = f64([1000.0, -1000.0, -np.inf, np.inf, 0.0])
    b = f64([1000.0, -1000.0, -np.inf, 1.0, -np.inf])
    y = ag.logaddexp(a, b)
    np.testing.assert_allclose(y.data, [1000.0 + np.log(2), -1000.0 + np.log(2), -np.inf, np.inf, 0.0])
    with np.errstate(invalid="ignore"):
        y[:2].sum().backward()
    np.testing.assert_allclose(a.grad.data[:2], [0.5, 0.5])


def test_integer_inputs_compute_in_the_default_float_dtype():
    i = ag.tensor([1, 2])
    for op in (ag.sin, ag.log2, ag.erf, ag.sinh, ag.exp2, ag.rsqrt, ag.reciprocal):
        assert op(i).dtype == np.float32, op.__name__
    assert ag.logaddexp(i, i).dtype == np.float32


def test_isnan_isinf_isfinite_give_bool_tensors_without_gradient():
    x = f64([1.0, np.nan, np.inf, -np.inf])
    assert ag.isnan(x).tolist() == [False, True, False, False]
    assert ag.isinf(x).tolist() == [False, False, True, True]
    assert ag.isfinite(x).tolist() == [True, False, False, False]
    assert ag.isnan(x).dtype == bool and not ag.isnan(x).requires_grad
    assert ag.isfinite(f64(2.0)).shape == ()


def test_operators_and_methods_call_the_same_ops():
    x, y = f64([3.5, -2.25]), f64([2.0, 0.75])
    assert (x % y).tolist() == ag.remainder(x, y).tolist() and (7.0 % y).tolist() == ag.remainder(7.0, y).tolist()
    assert (x // y).tolist() == [1.0, -3.0] and (7 // y).tolist() == [3.0, 9.0]
    for name in ("sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "log2", "log10", "log1p", "expm1",
                 "exp2", "rsqrt", "reciprocal", "erf", "sign", "floor", "ceil", "round", "trunc", "isnan"):
        z = y / 4
        np.testing.assert_array_equal(getattr(z, name)().data, getattr(ag, name)(z).data, err_msg=name)
    assert x.logaddexp(y).tolist() == ag.logaddexp(x, y).tolist()
    assert x.lerp(y, 0.25).tolist() == ag.lerp(x, y, 0.25).tolist()
