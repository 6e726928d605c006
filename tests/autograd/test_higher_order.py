"""Higher-order derivatives: VJPs are made of Tensor ops, so create_graph=True differentiates them again."""
import numpy as np
import pytest

import autograd as ag

from helpers import f64


def uniform(shape, seed, low=-1.0, high=1.0):
    return f64(np.random.default_rng(seed).uniform(low, high, shape))


def test_second_derivative_of_x_cubed_is_6x():
    x = f64([-1.0, 0.5, 2.0])
    g, = ag.grad((x ** 3).sum(), x, create_graph=True)
    np.testing.assert_allclose(g.data, 3 * x.data ** 2)
    gg, = ag.grad(g.sum(), x)
    np.testing.assert_allclose(gg.data, 6 * x.data)


@pytest.mark.parametrize("fn, second", [(ag.exp, np.exp), (ag.tanh, lambda x: -2 * np.tanh(x) / np.cosh(x) ** 2),
                                        (ag.sqrt, lambda x: -0.25 * x ** -1.5)])
def test_second_derivative_of_ops_that_save_their_output_on_0d_tensors(fn, second):
    """NumPy returns scalars for 0-d inputs; the saved output must still be the graph's output."""
    x = f64(0.7)
    g, = ag.grad(fn(x), x, create_graph=True)
    gg, = ag.grad(g, x)
    assert gg.item() == pytest.approx(second(0.7))


def test_third_derivative_through_backward_create_graph():
    x = f64(1.5)
    y = x ** 4
    y.backward(create_graph=True)
    g1 = x.grad
    assert g1.requires_grad
    g2, = ag.grad(g1, x, create_graph=True)
    g3, = ag.grad(g2, x)
    assert g1.item() == pytest.approx(4 * 1.5 ** 3) and g2.item() == pytest.approx(12 * 1.5 ** 2)
    assert g3.item() == pytest.approx(24 * 1.5)


def mlp_loss(params, x, target):
    w1, b1, w2, b2 = params
    h = (x @ w1 + b1).tanh()
    out = h @ w2 + b2
    return ((out - target) ** 2).mean()


def test_hessian_of_a_small_mlp_loss_matches_finite_differences_of_the_gradient():
    rng = np.random.default_rng(0)
    x, target = ag.tensor(rng.standard_normal((5, 3))), ag.tensor(rng.standard_normal((5, 1)))
    shapes = [(3, 4), (4,), (4, 1), (1,)]
    sizes = [int(np.prod(s)) for s in shapes]
    theta0 = rng.standard_normal(sum(sizes)) * 0.5

    def unpack(theta):
        parts = np.split(theta, np.cumsum(sizes)[:-1])
        return [f64(p.reshape(s)) for p, s in zip(parts, shapes)]

    def gradient(theta, create_graph=False):
        params = unpack(theta)
        grads = ag.grad(mlp_loss(params, x, target), params, create_graph=create_graph)
        return params, grads

    params, grads = gradient(theta0, create_graph=True)
    flat_grad = ag.concatenate([g.reshape(-1) for g in grads])
    hessian = np.stack([
        np.concatenate([h.data.reshape(-1) for h in ag.grad(flat_grad[k], params, retain_graph=True)])
        for k in range(flat_grad.shape[0])
    ])
    eps = 1e-6
    numeric = np.stack([
        (np.concatenate([g.data.reshape(-1) for g in gradient(theta0 + eps * e)[1]])
         - np.concatenate([g.data.reshape(-1) for g in gradient(theta0 - eps * e)[1]])) / (2 * eps)
        for e in np.eye(theta0.size)
    ], axis=1)
    np.testing.assert_allclose(hessian, numeric, atol=1e-6, rtol=1e-5)
    np.testing.assert_allclose(hessian, hessian.T, atol=1e-12)


GRADGRAD = {
    "mul": (ag.mul, [(3, 2), (2,)]),
    "div": (lambda a, b: a / (b * b + 1.0), [(3,), (3,)]),
    "exp": (ag.exp, [(2, 3)]),
    "log": (lambda a: (a * a + 0.5).log(), [(4,)]),
    "tanh": (ag.tanh, [(2, 3)]),
    "sigmoid": (ag.sigmoid, [(5,)]),
    "pow": (lambda a, b: (a * a + 0.5) ** b, [(3,), (3,)]),
    "pow_scalar": (lambda a: a ** 3, [(4,)]),
    "sqrt": (lambda a: (a * a + 0.5).sqrt(), [(3,)]),
    "matmul": (ag.matmul, [(2, 3), (3, 2)]),
    "sum": (lambda a: (a.sum(axis=0) ** 2), [(3, 2)]),
    "mean_var": (lambda a: a.var(axis=1) + a.mean() ** 2, [(2, 4)]),
    "max": (lambda a: a.max(axis=1) ** 2, [(3, 4)]),
    "getitem": (lambda a: a[[0, 0, 2], 1:] ** 2, [(3, 3)]),
    "unfold": (lambda a: ag.unfold(a, 2, padding=1) ** 2, [(1, 1, 3, 3)]),
    "fold": (lambda c: ag.fold(c, (3, 3), 2) ** 2, [(1, 1, 2, 2, 2, 2)]),
    "broadcast_where": (lambda a, b: ag.where(np.array([True, False, True]), a * b, b ** 2), [(2, 3), (3,)]),
}


@pytest.mark.parametrize("name", sorted(GRADGRAD))
def test_gradgradcheck(name):
    fn, shapes = GRADGRAD[name]
    inputs = [uniform(s, seed) for seed, s in enumerate(shapes)]
    assert ag.gradgradcheck(fn, inputs)


def test_gradient_of_a_gradient_norm():
    """The penalty ‖∇ₓ f‖² of gradient-penalty training needs the VJP of every VJP on the way."""
    x, w = uniform((4,), 1), uniform((4, 4), 2)

    @ag.enable_grad()  # gradcheck evaluates fn under no_grad; the inner grad needs a graph
    def penalty(w_):
        g, = ag.grad((x @ w_).tanh().sum(), x, create_graph=True)
        return (g * g).sum()

    assert ag.gradcheck(penalty, [w])
