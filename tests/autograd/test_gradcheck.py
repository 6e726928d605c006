"""gradcheck, gradgradcheck and dot_product_check catch wrong VJPs and say where."""
import numpy as np
import pytest

import autograd as ag

from helpers import f64


class WrongSquare(ag.Function):
    """y = x²·w with a wrong VJP for w (1 instead of x²) and a right one for x."""

    @staticmethod
    def forward(ctx, x, w):
        ctx.save_for_backward(x, w)
        return x * x * w

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        return g * 2 * x * w, g


class DetachedCube(ag.Function):
    """Right first derivative, but the VJP uses raw arrays: it is not differentiable again."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x ** 3

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        return g * ag.tensor(3 * x.data ** 2)


def test_gradcheck_passes_a_correct_vjp():
    assert ag.gradcheck(lambda a, b: (a * b).exp(), [f64([0.1, 0.2]), f64([0.3, -0.4])])


def test_gradcheck_names_the_input_the_element_and_both_values():
    x, w = f64([1.0, 2.0]), f64([3.0, 5.0])  # element 0 of w is right by luck (x₀² = 1), element 1 is not
    with pytest.raises(ag.GradcheckError) as info:
        ag.gradcheck(WrongSquare.apply, [x, w])
    assert str(info.value) == (
        "gradcheck: Jacobian mismatch for input 1 (shape (2,)) at output element 1, input element (1,): "
        "analytic 1, numerical 4 (max abs error 3)"
    )


def test_gradcheck_names_a_multi_dimensional_element():
    class WrongAt(ag.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            wrong = np.full(g.shape, 2.0)
            wrong[1, 2] = 7.0
            return g * ag.tensor(wrong)

    message = r"input 0 \(shape \(2, 3\)\) .* input element \(1, 2\): analytic 7, numerical 2"
    with pytest.raises(ag.GradcheckError, match=message):
        ag.gradcheck(WrongAt.apply, [f64(np.ones((2, 3)))])


def test_gradcheck_without_raising_returns_false():
    assert ag.gradcheck(WrongSquare.apply, [f64([1.0, 2.0]), f64([3.0, 5.0])], raise_exception=False) is False
    assert ag.gradcheck(ag.mul, [f64([1.0]), f64([2.0])], raise_exception=False) is True


def test_gradcheck_requires_float64_inputs():
    with pytest.raises(TypeError, match=r"gradcheck: inputs must be float64 .* got float32"):
        ag.gradcheck(ag.exp, [ag.tensor([1.0], requires_grad=True)])


def test_gradcheck_skips_inputs_without_grad_and_non_tensors():
    x, c = f64([1.0, 2.0]), f64([3.0, 4.0], requires_grad=False)
    assert ag.gradcheck(lambda a, b, k: a * b * k, [x, c, 2.0])


def test_gradcheck_handles_inputs_with_any_memory_layout():
    fortran = ag.tensor(np.asfortranarray(np.arange(6.0).reshape(2, 3)), dtype=np.float64, requires_grad=True)
    transposed = ag.tensor(np.arange(6.0).reshape(2, 3), dtype=np.float64).T.detach().requires_grad_()
    assert ag.gradcheck(lambda a, b: a * b.T, [fortran, transposed])
    np.testing.assert_array_equal(fortran.data, np.arange(6.0).reshape(2, 3))  # restored after perturbing


def test_gradcheck_of_several_outputs():
    assert ag.gradcheck(lambda x: (x.exp(), x.sum()), [f64([0.5, 1.0])])


def test_gradgradcheck_catches_a_vjp_that_is_not_differentiable():
    x = f64([0.5, -1.0])
    assert ag.gradcheck(DetachedCube.apply, [x])
    with pytest.raises(ag.GradcheckError, match=r"input 0"):
        ag.gradgradcheck(DetachedCube.apply, [x])
    assert ag.gradgradcheck(DetachedCube.apply, [x], raise_exception=False) is False


def test_checks_need_an_input_that_requires_grad():
    """A forgotten requires_grad=True must not make a check pass vacuously."""
    with pytest.raises(ValueError, match=r"gradcheck: no input requires grad"):
        ag.gradcheck(ag.exp, [f64([1.0], requires_grad=False)])
    with pytest.raises(ValueError, match=r"gradgradcheck: no input requires grad"):
        ag.gradgradcheck(ag.exp, [f64([1.0], requires_grad=False)])
    with pytest.raises(ValueError, match=r"dot_product_check: no input requires grad"):
        ag.dot_product_check(ag.exp, [f64([1.0], requires_grad=False)])


def test_dot_product_check_passes_a_correct_vjp_and_catches_a_wrong_one():
    x = f64(np.random.default_rng(0).standard_normal((20, 30)))
    lhs, rhs = ag.dot_product_check(lambda t: (t * t).sum(axis=0), [x])
    assert np.isclose(lhs, rhs)
    w = f64(np.random.default_rng(1).uniform(1, 2, (20, 30)))
    with pytest.raises(ag.GradcheckError, match=r"dot_product_check: ⟨v, J·u⟩ = .* but ⟨Jᵀ·v, u⟩ = "):
        ag.dot_product_check(WrongSquare.apply, [x, w])
    np.testing.assert_array_equal(x.data, np.random.default_rng(0).standard_normal((20, 30)))  # restored
