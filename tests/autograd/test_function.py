"""User extensions through Function: the same ctx mechanism the built-in primitives use."""
import numpy as np
import pytest

import autograd as ag

from helpers import f64


class Cube(ag.Function):
    """y = x³; the VJP ḡ·3x² is written with Tensor ops, so it is differentiable too."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x ** 3

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        return g * 3 * x ** 2


class ScaledProduct(ag.Function):
    """y = s·a·b with a non-tensor argument s; records which inputs need a gradient."""

    calls = []

    @staticmethod
    def forward(ctx, a, b, s):
        ctx.save_for_backward(a, b)
        ctx.s = s
        return s * a * b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        ScaledProduct.calls.append(ctx.needs_input_grad)
        need_a, need_b, _ = ctx.needs_input_grad
        return (g * b * ctx.s if need_a else None), (g * a * ctx.s if need_b else None), None


class SplitHalves(ag.Function):
    """Two outputs: the halves of a vector."""

    @staticmethod
    def forward(ctx, x):
        n = x.shape[0] // 2
        return x[:n].copy(), x[n:].copy()

    @staticmethod
    def backward(ctx, g1, g2):
        return ag.concatenate([g1, g2])


def test_user_function_forward_and_backward():
    x = f64([1.0, -2.0, 3.0])
    y = Cube.apply(x)
    assert isinstance(y, ag.Tensor) and y.grad_fn.name == "cube" and repr(y.grad_fn) == "<CubeBackward>"
    np.testing.assert_array_equal(y.data, x.data ** 3)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.data, 3 * x.data ** 2)
    assert ag.gradcheck(Cube.apply, [x])


def test_user_function_saved_input_comes_back_as_the_input_tensor():
    x = f64([2.0])
    y = Cube.apply(x)
    assert y.grad_fn.saved_tensors[0] is x


def test_user_function_supports_create_graph():
    x = f64([1.0, 2.0])
    g, = ag.grad(Cube.apply(x).sum(), x, create_graph=True)
    np.testing.assert_allclose(g.data, 3 * x.data ** 2)
    g.sum().backward()
    np.testing.assert_allclose(x.grad.data, 6 * x.data)
    assert ag.gradgradcheck(Cube.apply, [f64([0.5, -1.5])])


def test_needs_input_grad_and_non_tensor_arguments():
    ScaledProduct.calls.clear()
    a, b = f64([1.0, 2.0]), f64([3.0, 4.0], requires_grad=False)
    ScaledProduct.apply(a, b, 2.0).sum().backward()
    assert ScaledProduct.calls == [(True, False, False)]
    np.testing.assert_array_equal(a.grad.data, 2.0 * b.data)
    assert b.grad is None


def test_function_with_two_outputs_gets_zeros_for_an_unused_one():
    x = f64([1.0, 2.0, 3.0, 4.0])
    lo, hi = SplitHalves.apply(x)
    assert lo.grad_fn is hi.grad_fn
    (hi * 2).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [0.0, 0.0, 2.0, 2.0])
    assert ag.gradcheck(lambda t: SplitHalves.apply(t), [f64([1.0, 2.0, 3.0, 4.0])])


def test_outputs_are_kept_until_backward_frees_them_and_a_freed_node_keeps_no_dict():
    x = f64([1.0, 2.0, 3.0, 4.0])
    lo, hi = SplitHalves.apply(x)
    node = lo.grad_fn
    assert [o.tolist() for o in node.outputs] == [[1.0, 2.0], [3.0, 4.0]]
    y = Cube.apply(lo * hi)
    cube = y.grad_fn
    assert len(cube.outputs) == 1 and cube.outputs[0] is y.data
    y.sum().backward()
    assert node.released and node.outputs is None and cube.released and cube.outputs is None
    assert cube.__dict__ == {}  # releasing a one-output node writes no field it had left at its class default


def test_a_forward_that_returns_nothing_is_a_clear_error():
    class Nothing(ag.Function):
        @staticmethod
        def forward(ctx, x):
            return ()

    with pytest.raises(ValueError, match="nothing: forward returned an empty tuple"):
        Nothing.apply(f64([1.0]))


def test_function_without_inputs_requiring_grad_records_nothing():
    y = Cube.apply(ag.tensor([2.0]))
    assert not y.requires_grad and y.grad_fn is None and y.item() == 8.0
    with ag.no_grad():
        assert Cube.apply(f64([2.0])).grad_fn is None


def test_function_node_exposes_its_graph():
    x, w = f64([1.0]), f64([2.0])
    h = x * w
    y = Cube.apply(h)
    node = y.grad_fn
    assert node.next[0] == (h.grad_fn, 0) and node.next[0].node is h.grad_fn
    leaf_edges = h.grad_fn.next  # a leaf's gradient goes to its AccumulateGrad node
    assert [edge.node.variable for edge in leaf_edges] == [x, w] and all(e.index == 0 for e in leaf_edges)
    assert node.in_meta == (((1,), np.dtype(np.float64)),) and node.out_meta == (((1,), np.dtype(np.float64)),)
    assert node.n_outputs == 1 and not node.released


def test_saved_tensors_after_release_name_retain_graph():
    x = f64([1.0])
    y = Cube.apply(x)
    node = y.grad_fn
    y.backward(np.ones(1))
    with pytest.raises(RuntimeError, match=r"retain_graph=True"):
        node.saved_tensors


def test_a_function_without_backward_says_so():
    class NoBackward(ag.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

    y = NoBackward.apply(f64([1.0]))
    with pytest.raises(NotImplementedError, match=r"must define backward"):
        y.backward(np.ones(1))


def test_builtin_primitives_are_functions():
    assert all(issubclass(cls, ag.Function) for cls in ag.PRIMITIVES.values())
    y = f64([1.0]) * 2
    assert isinstance(y.grad_fn, ag.PRIMITIVES["mul"])


def test_nodes_record_the_scope_they_were_created_in():
    from autograd.grad_mode import scoped

    @scoped("double")
    def double(t):
        return t * 2

    x = f64([1.0])
    with ag.scope("block (Linear)"):
        y = double(x) + 1
    assert y.grad_fn.scope == ("block (Linear)",)
    assert y.grad_fn.next[0][0].scope == ("block (Linear)", "double")
    assert (x * 3).grad_fn.scope == ()


def test_every_node_is_a_graph_node_whose_function_is_the_subclass():
    x = f64([2.0])
    y = Cube.apply(x)
    z = y * 2.0
    assert type(y.grad_fn) is type(z.grad_fn) is ag.graph.Node
    assert y.grad_fn.function is Cube and z.grad_fn.function is ag.PRIMITIVES["mul"]
    assert isinstance(y.grad_fn, Cube) and isinstance(y.grad_fn, ag.Function)
    assert not isinstance(y.grad_fn, ag.PRIMITIVES["mul"]) and not isinstance(x, Cube)


class Seen(ag.Function):
    """Records the type of the value its forward gets."""

    types = []

    @staticmethod
    def forward(ctx, x):
        Seen.types.append(type(x))
        return x * 2

    @staticmethod
    def backward(ctx, g):
        return g * 2


def test_a_0d_tensor_reaches_forward_as_a_numpy_scalar_and_a_0d_view_still_shares_memory():
    Seen.types.clear()
    x = f64(1.5)
    Seen.apply(x).backward()
    with ag.no_grad():
        Seen.apply(x)
    assert Seen.types == [np.float64, np.float64] and x.grad.item() == 2.0
    v = x.reshape(1)  # a view primitive gets the 0-d array itself: the view shares x's memory and version
    assert np.shares_memory(v.data, x.data)


class Product(ag.Function):
    """y = Π xᵢ over any number of inputs, each saved for the VJP."""

    @staticmethod
    def forward(ctx, *xs):
        ctx.save_for_backward(*xs)
        return np.prod(np.stack(xs), axis=0)

    @staticmethod
    def backward(ctx, g):
        xs = ctx.saved_tensors
        total = 1
        for x in xs:
            total = total * x
        return tuple(g * total / x for x in xs)


def test_a_function_may_save_many_inputs():
    xs = [f64([1.0 + 0.1 * i]) for i in range(20)]
    Product.apply(*xs).sum().backward()
    total = np.prod([x.data for x in xs])
    for x in xs:
        np.testing.assert_allclose(x.grad.data, total / x.data)


class Returns(ag.Function):
    """Returns the value it was given as an option, whatever its type (a number, a NumPy scalar)."""

    @staticmethod
    def forward(ctx, x, value=None):
        return value

    @staticmethod
    def backward(ctx, g):
        return g


@pytest.mark.parametrize("values", [
    [np.float32(1.5), 1.5, np.float64(2.0), np.float32(0.5)],
    [np.str_("ab"), np.str_("abcd")],  # a scalar type whose dtype varies with the value: no metadata by type
    [True, np.int8(3), 7, np.bool_(False)],
])
def test_a_forward_that_returns_a_scalar_gets_the_dtype_and_metadata_of_that_scalar(values):
    x = f64(1.0)
    for value in values:
        y = Returns.apply(x, value=value)
        expected = np.asarray(value)
        assert y.dtype == expected.dtype and y.shape == ()
        assert y.grad_fn.out_meta == (((), expected.dtype),)
