"""Tensor API: construction and dtypes, operators with numbers and ndarrays, comparisons, repr, in-place rules."""
import copy

import numpy as np
import pytest

import autograd as ag
import nn


def test_python_floats_default_to_float32_and_ints_to_int64():
    assert ag.tensor(1.5).dtype == np.float32
    assert ag.tensor([[1.0, 2.0]]).dtype == np.float32
    assert ag.tensor([1, 2]).dtype == np.int64
    assert ag.tensor([True, False]).dtype == np.bool_


def test_set_default_dtype_switches_python_floats_and_factories():
    ag.set_default_dtype(np.float64)
    assert ag.get_default_dtype() == np.float64
    assert ag.tensor([1.0]).dtype == np.float64
    assert ag.zeros(2).dtype == ag.randn(2).dtype == ag.arange(0.0, 1.0, 0.5).dtype == np.float64
    ag.set_default_dtype(np.float32)
    assert ag.tensor(1.0).dtype == np.float32
    with pytest.raises(TypeError, match=r"set_default_dtype: expected a floating dtype, got int64"):
        ag.set_default_dtype(np.int64)


def test_ndarray_keeps_its_dtype_and_data_is_copied():
    a = np.arange(3.0)
    t = ag.tensor(a)
    assert t.dtype == np.float64
    a[0] = 99.0
    assert t.data[0] == 0.0
    assert ag.tensor(np.float16([1])).dtype == np.float16
    assert ag.tensor([1, 2], dtype=np.float64).dtype == np.float64
    assert ag.tensor(t).dtype == np.float64 and ag.tensor(t).data is not t.data


def test_integer_tensors_cannot_require_grad():
    with pytest.raises(TypeError, match=r"only floating-point tensors can require gradients.*dtype int64"):
        ag.tensor([1, 2], requires_grad=True)
    t = ag.arange(3)
    with pytest.raises(TypeError, match=r"dtype int64"):
        t.requires_grad = True


def test_unsupported_data_is_a_clear_error():
    with pytest.raises(TypeError, match=r"tensor: cannot make a tensor from data of type str"):
        ag.tensor("abc")


def test_factories_take_shapes_as_args_or_tuple():
    assert ag.zeros(2, 3).shape == ag.zeros((2, 3)).shape == (2, 3)
    assert ag.ones(4).data.sum() == 4
    full = ag.full((2, 2), 7.0)
    assert full.shape == (2, 2) and np.all(full.data == 7.0) and full.dtype == np.float32
    assert ag.arange(4).dtype == np.int64 and ag.arange(1, 7, 2).tolist() == [1, 3, 5]
    r = ag.rand(100)
    assert r.dtype == np.float32 and 0 <= r.data.min() and r.data.max() < 1
    like = ag.zeros_like(ag.ones(2, 3, dtype=np.float64))
    assert like.shape == (2, 3) and like.dtype == np.float64 and ag.ones_like(like).data.sum() == 6
    assert ag.zeros(2, requires_grad=True).requires_grad


def test_manual_seed_makes_random_draws_reproducible():
    ag.manual_seed(3)
    a = ag.randn(5)
    ag.manual_seed(3)
    np.testing.assert_array_equal(a.data, ag.randn(5).data)
    assert isinstance(ag.generator(), np.random.Generator)


@pytest.mark.parametrize("op, ref", [
    (lambda a, b: a + b, np.add), (lambda a, b: a - b, np.subtract), (lambda a, b: a * b, np.multiply),
    (lambda a, b: a / b, np.divide), (lambda a, b: a ** b, np.power),
])
@pytest.mark.parametrize("left, right", [("tensor", "tensor"), ("tensor", "number"), ("number", "tensor"),
                                         ("tensor", "ndarray"), ("ndarray", "tensor")])
def test_operators_accept_tensors_numbers_and_ndarrays_on_either_side(op, ref, left, right):
    values = {"a": np.array([1.5, 2.0, 3.0]), "b": np.array([2.0, 0.5, 1.5])}
    x = ag.tensor(values["a"], requires_grad=True)
    y = ag.tensor(values["b"], requires_grad=True)
    operand = {"tensor": lambda t, v: t, "number": lambda t, v: float(v[0]), "ndarray": lambda t, v: v}
    lhs, rhs = operand[left](x, values["a"]), operand[right](y, values["b"])
    out = op(lhs, rhs)
    assert isinstance(out, ag.Tensor)
    a = values["a"][0] if left == "number" else values["a"]
    b = values["b"][0] if right == "number" else values["b"]
    np.testing.assert_allclose(out.data, ref(a, b))
    out.sum().backward()
    assert (x.grad is not None) == (left == "tensor") and (y.grad is not None) == (right == "tensor")


def test_unary_minus_and_abs_operators():
    x = ag.tensor([-1.0, 2.0], requires_grad=True)
    np.testing.assert_array_equal((-x).data, [1.0, -2.0])
    np.testing.assert_array_equal(abs(x).data, [1.0, 2.0])
    assert (-x).grad_fn.name == "neg" and abs(x).grad_fn.name == "abs"


def test_comparisons_return_bool_tensors_without_grad():
    x = ag.tensor([1.0, 2.0, 3.0], requires_grad=True)
    for result in (x > 1.5, x >= 2, x < ag.tensor([2.0, 2.0, 2.0]), x <= 1, x == 2.0, x != 2.0,
                   np.array([2.0, 2.0, 2.0]) < x):
        assert isinstance(result, ag.Tensor) and result.dtype == np.bool_
        assert not result.requires_grad and result.grad_fn is None
    np.testing.assert_array_equal((np.array([2.0, 2.0, 2.0]) < x).data, [False, False, True])


def test_repr_shows_values_and_the_node_name():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    assert repr(x) == "tensor([1., 2.], requires_grad=True)"
    y = x * 2
    assert "tensor([2., 4.]" in repr(y) and "MulBackward" in repr(y)
    assert "dtype=float64" in repr(ag.tensor([1.0], dtype=np.float64))
    assert repr(ag.tensor(3)) == "tensor(3)"
    assert "name='w'" in repr(ag.tensor([1.0], name="w"))


def test_accessors():
    x = ag.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], requires_grad=True)
    assert x.shape == (2, 3) and x.ndim == 2 and x.dim() == 2 and x.size == 6 and x.numel() == 6 and len(x) == 2
    assert x.T.shape == (3, 2) and x.T.grad_fn.name == "permute"
    assert isinstance(x.numpy(), np.ndarray) and np.shares_memory(x.numpy(), x.data)
    with pytest.raises(ValueError, match="read-only"):  # it requires grad: write with in-place ops instead
        x.numpy()[0, 0] = 7.0
    assert ag.tensor([1.0]).numpy().flags.writeable
    assert x.sum().item() == 21.0 and isinstance(x.sum().item(), float)
    assert float(x[0, 1]) == 2.0 and int(x[1, 2]) == 6 and bool(x[0, 0] > 0)
    assert [row.shape for row in x] == [(3,), (3,)]
    assert x.tolist() == [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
    assert x.argmax().item() == 5 and x.argmin(dim=1).tolist() == [0, 0]
    with pytest.raises(ValueError, match=r"item\(\): expected a tensor with one element, got shape \(2, 3\)"):
        x.item()
    with pytest.raises(ValueError, match=r"truth value of a tensor with shape \(2, 3\) is ambiguous"):
        bool(x)
    with pytest.raises(TypeError, match=r"len\(\) of a 0-d tensor"):
        len(ag.tensor(1.0))


def test_detach_shares_data_and_leaves_the_graph():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3
    d = y.detach()
    assert d.is_leaf and not d.requires_grad and d.grad_fn is None
    assert np.shares_memory(d.data, y.data)


def test_leaf_flags_and_requires_grad_switches():
    x = ag.tensor([1.0], requires_grad=True)
    y = x * 2
    assert x.is_leaf and not y.is_leaf and y.requires_grad and y.grad_fn is not None
    with pytest.raises(RuntimeError, match=r"requires_grad can only be switched off on leaf tensors"):
        y.requires_grad = False
    z = ag.tensor([1.0]).requires_grad_()
    assert z.requires_grad
    x.grad = ag.tensor([5.0])
    assert x.grad.item() == 5.0


def test_methods_mirror_numpy_and_accept_torch_names():
    x = ag.tensor(np.arange(6.0).reshape(2, 3))
    assert x.sum(1).tolist() == [3.0, 12.0] and x.sum(dim=1, keepdim=True).shape == (2, 1)
    assert x.view(3, 2).shape == (3, 2) and x.reshape((6,)).shape == (6,)
    assert x.clamp(1, 4).tolist() == [[1, 1, 2], [3, 4, 4]]
    assert x.maximum(2.0).min().item() == 2.0 and x.minimum(2.0).max().item() == 2.0
    assert x.exp().log().data == pytest.approx(x.data)


def test_in_place_ops_are_refused_on_leaves_that_require_grad():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    for write in (lambda: x.__iadd__(1.0), lambda: x.add_(1.0), lambda: x.mul_(2.0), lambda: x.zero_(),
                  lambda: x.fill_(0.0), lambda: x.copy_(np.zeros(2)), lambda: x.__setitem__(0, 5.0)):
        with pytest.raises(RuntimeError, match=r"leaf tensor that requires grad cannot be modified in place.*no_grad"):
            write()
    with pytest.raises(RuntimeError, match=r"cannot be modified in place"):
        x += 1.0
    np.testing.assert_array_equal(x.data, [1.0, 2.0])


def test_in_place_ops_work_under_no_grad_and_on_plain_tensors():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    with ag.no_grad():
        x -= 0.5
        x.mul_(2.0)
        x[1] = 10.0
    np.testing.assert_array_equal(x.data, [1.0, 10.0])
    assert x.is_leaf and x.requires_grad
    t = ag.zeros(3)
    t += 1.0
    t.add_(ag.ones(3), alpha=2.0)
    t[0] = ag.tensor(7.0)
    np.testing.assert_array_equal(t.data, [7.0, 3.0, 3.0])
    assert t.zero_().data.sum() == 0


def test_in_place_on_a_tensor_inside_a_graph_is_refused():
    y = ag.tensor([1.0, 2.0], requires_grad=True) * 2
    with pytest.raises(RuntimeError, match=r"in-place change of a tensor made by <MulBackward>, which is part of a graph"):
        y += 1.0


def test_copy_checks_shapes():
    t = ag.zeros(2, 3)
    t.copy_(np.ones(3))
    assert t.data.sum() == 6
    with pytest.raises(ValueError, match=r"copy_: cannot copy shape \(4,\) into shape \(2, 3\)"):
        t.copy_(np.ones(4))


def test_a_deep_copy_of_a_leaf_gets_its_own_gradients_even_while_a_graph_of_the_original_lives():
    layer = nn.Linear(3, 2)
    x = ag.tensor(np.ones((1, 3), np.float32))
    graph = layer(x).sum()
    graph.backward(retain_graph=True)  # the graph, and the weight's accumulator, stay alive
    twin = copy.deepcopy(layer)
    assert type(twin.weight) is type(layer.weight) and not np.shares_memory(twin.weight.data, layer.weight.data)
    np.testing.assert_array_equal(twin.weight.grad.data, layer.weight.grad.data)
    layer.zero_grad()
    twin.zero_grad()
    twin(x).sum().backward()
    assert layer.weight.grad is None and twin.weight.grad is not None


def test_a_deep_copy_of_a_tensor_made_by_an_op_is_refused():
    y = ag.tensor([1.0, 2.0], requires_grad=True) * 2
    with pytest.raises(RuntimeError, match="only leaf tensors"):
        copy.deepcopy(y)


def test_a_shallow_copy_of_a_leaf_shares_its_memory_but_gets_its_own_gradients():
    w = ag.tensor([1.0, 2.0], requires_grad=True)
    graph = (w * 3.0).sum()  # keeps w's accumulator alive
    twin = copy.copy(w)
    assert twin.requires_grad and twin.is_leaf and np.shares_memory(twin.data, w.data)
    (twin * 2.0).sum().backward()
    np.testing.assert_array_equal(twin.grad.data, [2.0, 2.0])
    assert w.grad is None
    graph.backward()
    np.testing.assert_array_equal(w.grad.data, [3.0, 3.0])
    with ag.no_grad():
        twin.add_(1.0)  # one memory, one version counter
    assert w._version == twin._version == 1
    calls = []
    w.register_hook(lambda g: calls.append(g))
    fresh = copy.copy(w)  # as in PyTorch: without the original's gradient and hooks
    assert fresh.grad is None
    (fresh * 2.0).sum().backward()
    assert calls == [] and np.array_equal(fresh.grad.data, [2.0, 2.0])


def test_a_shallow_copy_of_a_tensor_made_by_an_op_stands_at_its_place_in_the_graph():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2.0
    copy.copy(y).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [2.0, 2.0])
