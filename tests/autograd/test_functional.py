"""autograd.functional: jacobian, hessian, vjp and jvp against hand-derived results."""
import numpy as np

import autograd as ag
from autograd.functional import hessian, jacobian, jvp, vjp

from helpers import f64


A = np.array([[1.0, 2.0, 0.0], [0.0, -1.0, 3.0]])


def test_jacobian_of_a_linear_map_is_its_matrix():
    J = jacobian(lambda x: ag.tensor(A) @ x, f64([1.0, 2.0, 3.0]))
    assert J.shape == (2, 3)
    np.testing.assert_allclose(J.data, A)


def test_jacobian_of_an_elementwise_map_is_diagonal():
    x = f64([0.5, 1.0, 2.0])
    np.testing.assert_allclose(jacobian(ag.exp, x).data, np.diag(np.exp(x.data)))


def test_jacobian_shape_is_output_shape_then_input_shape():
    x = f64(np.arange(6.0).reshape(2, 3))
    J = jacobian(lambda t: t.sum(axis=0) * 2, x)
    assert J.shape == (3, 2, 3)
    expected = np.zeros((3, 2, 3))
    for j in range(3):
        expected[j, :, j] = 2.0
    np.testing.assert_array_equal(J.data, expected)


def test_jacobian_of_a_function_that_ignores_its_input_is_zero():
    J = jacobian(lambda x: ag.ones(2, dtype=np.float64), f64([1.0, 2.0]))
    np.testing.assert_array_equal(J.data, np.zeros((2, 2)))


def test_hessian_of_a_quadratic_form_is_the_symmetrised_matrix():
    M = np.array([[2.0, 1.0], [0.0, 3.0]])
    H = hessian(lambda x: x @ (ag.tensor(M) @ x), f64([0.3, -0.7]))
    np.testing.assert_allclose(H.data, M + M.T)


def test_hessian_of_a_sum_of_cubes_is_diagonal_6x():
    x = f64([1.0, -2.0, 0.5])
    np.testing.assert_allclose(hessian(lambda t: (t ** 3).sum(), x).data, np.diag(6 * x.data))


def test_hessian_of_a_linear_function_is_zero():
    np.testing.assert_array_equal(hessian(lambda t: (t * 2.0).sum(), f64([1.0, 2.0])).data, np.zeros((2, 2)))


def test_vjp_is_v_transpose_times_jacobian():
    x, v = f64([1.0, 2.0, 3.0]), f64([1.0, -1.0])
    y, g = vjp(lambda t: ag.tensor(A) @ t, x, v)
    np.testing.assert_allclose(y.data, A @ x.data)
    np.testing.assert_allclose(g.data, v.data @ A)
    assert not y.requires_grad


def test_jvp_is_jacobian_times_v():
    x, v = f64([1.0, 2.0, 3.0]), f64([0.5, 0.0, -1.0])
    y, jv = jvp(lambda t: ag.tensor(A) @ (t * t), x, v)
    np.testing.assert_allclose(y.data, A @ x.data ** 2)
    np.testing.assert_allclose(jv.data, A @ (2 * x.data * v.data))


def test_functional_does_not_touch_the_input_or_its_grad():
    x = f64([1.0, 2.0], requires_grad=True)
    jacobian(lambda t: t * t, x)
    hessian(lambda t: (t ** 3).sum(), x)
    vjp(lambda t: t * 2, x, f64([1.0, 1.0]))
    jvp(lambda t: t * 2, x, f64([1.0, 1.0]))
    assert x.grad is None and x.data.tolist() == [1.0, 2.0]
