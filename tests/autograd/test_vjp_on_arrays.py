"""A plain backward runs the primitives' rules on raw arrays; users still see Tensors everywhere."""
import numpy as np
import pytest

import autograd as ag
from autograd.ops.elementwise import Mul


@pytest.fixture
def mul_rule_inputs(monkeypatch):
    """The types of ḡ and of the saved values each time Mul's rule runs."""
    seen = []
    rule = Mul.backward

    def spy(ctx, g):
        seen.append((type(g), tuple(type(v) for v in ctx.saved_tensors)))
        return rule(ctx, g)

    monkeypatch.setattr(Mul, "backward", staticmethod(spy))
    return seen


def test_a_primitive_rule_gets_arrays_in_a_plain_backward(mul_rule_inputs):
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    (x * x).sum().backward()
    assert mul_rule_inputs == [(np.ndarray, (np.ndarray, np.ndarray))]
    assert type(x.grad) is ag.Tensor and np.array_equal(x.grad.data, [2.0, 4.0])


def test_a_primitive_rule_gets_tensors_under_create_graph(mul_rule_inputs):
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    g, = ag.grad((x * x).sum(), x, create_graph=True)
    assert mul_rule_inputs == [(ag.Tensor, (ag.Tensor, ag.Tensor))]
    g.sum().backward()
    assert np.array_equal(x.grad.data, [2.0, 2.0])


class Square(ag.Function):
    """A user extension: its VJP is written for Tensors only (a Tensor method, an op on a NumPy array)."""

    seen = []

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        two = ag.exp(np.log(np.full(x.shape, 2.0)))  # an op on an array gives a Tensor here as anywhere
        Square.seen.append((type(g), type(x), type(two)))
        return g.mul(two * x)


def test_a_user_function_keeps_getting_tensors():
    Square.seen.clear()
    x = ag.tensor([1.0, 3.0], requires_grad=True)
    (Square.apply(x) * 1.5).sum().backward()
    assert Square.seen == [(ag.Tensor, ag.Tensor, ag.Tensor)]
    np.testing.assert_allclose(x.grad.data, [3.0, 9.0])


def test_hooks_and_grad_see_tensors():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    y = x.exp()
    seen = []
    y.register_hook(lambda g: seen.append(type(g)) or g * 2)
    x.register_hook(lambda g: seen.append(type(g)))
    gx, = ag.grad(y.sum(), x)
    assert seen == [ag.Tensor, ag.Tensor] and type(gx) is ag.Tensor
    np.testing.assert_allclose(gx.data, 2 * np.exp([1.0, 2.0]))


def test_zero_d_gradients_are_own_writable_arrays_and_accumulate():
    w = ag.tensor(3.0, requires_grad=True)
    for _ in range(2):
        (w * w + w).backward()
    assert type(w.grad.data) is np.ndarray and w.grad.data.shape == () and w.grad.data.flags.writeable
    assert w.grad.item() == 14.0


def test_a_broadcast_gradient_reaches_grad_as_an_own_array():
    b = ag.tensor(np.zeros((1, 3)), requires_grad=True)
    (ag.tensor(np.ones((4, 3))) + b).sum().backward()  # the rule of sum hands back a broadcast view
    assert b.grad.data.flags.c_contiguous and b.grad.data.flags.writeable and b.grad.data.base is None
    assert np.array_equal(b.grad.data, [[4.0, 4.0, 4.0]])


def test_a_parameters_grad_under_create_graph_keeps_its_graph():
    """A gradient penalty through p.grad (double backward on a Module's parameter)."""
    import nn

    p = nn.Parameter(np.array([1.0, 2.0]))
    (p ** 3).sum().backward(create_graph=True)  # p.grad = 3p², with a graph
    assert type(p.grad) is ag.Tensor and p.grad.grad_fn is not None
    g = p.grad
    p.grad = None
    ((p * 1).sum() + (g ** 2).sum()).backward()  # 1 + d/dp (9p⁴) = 1 + 36p³
    np.testing.assert_allclose(p.grad.data, [37.0, 289.0])
    assert type(p.grad) is ag.Tensor


class TensorOnlyRelu(ag.ops.elementwise.Relu):
    """A user's subclass of a primitive whose own VJP uses Tensor methods: it must keep getting Tensors."""

    @staticmethod
    def backward(ctx, g):
        y, = ctx.saved_tensors
        return g * (y.data > 0)


def test_a_user_subclass_of_a_primitive_gets_tensors():
    x = ag.tensor([-1.0, 2.0], requires_grad=True)
    TensorOnlyRelu.apply(x).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [0.0, 1.0])
