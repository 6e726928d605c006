"""backward and grad: accumulation, errors, hooks, grad modes, deep graphs, memory release, in-place detection."""
import gc
import weakref

import numpy as np
import pytest

import autograd as ag

from helpers import f64


def test_gradients_accumulate_in_leaves_over_two_backward_calls():
    x = f64([1.0, 2.0])
    (x * x).sum().backward()
    (3 * x).sum().backward()
    np.testing.assert_allclose(x.grad.data, 2 * x.data + 3)


def test_leaf_grads_are_writable_arrays_of_their_own():
    """An optimizer may scale or zero `.grad` in place; no two leaves may share one gradient array."""
    a, b = f64([1.0, 2.0]), f64([3.0, 4.0])
    (a + b).sum().backward()
    assert a.grad is not b.grad and not np.shares_memory(a.grad.data, b.grad.data)
    a.grad.data *= 10.0
    b.grad.zero_()
    np.testing.assert_array_equal(a.grad.data, [10.0, 10.0])
    x = f64(np.ones((2, 3)))
    x.sum().backward()  # the sum's VJP broadcasts: the leaf still gets a real array
    x.grad.data[0, 0] = 5.0
    assert x.grad.data.sum() == 10.0
    g = f64([1.0, 1.0], requires_grad=False)
    y = f64([2.0, 3.0])
    (y * 1.0).backward(g)
    y.grad.data += 1.0
    np.testing.assert_array_equal(g.data, [1.0, 1.0])


def test_diamond_graph_sums_the_contributions_of_every_path():
    x = f64(2.0)
    a = x * 3
    b = x ** 2
    y = a * b + a + b  # y = 3x³ + 3x + x²
    y.backward()
    assert x.grad.item() == pytest.approx(9 * 4 + 3 + 2 * 2)


def test_a_tensor_used_twice_in_one_op():
    x = f64(3.0)
    (x * x).backward()
    assert x.grad.item() == 6.0


def test_backward_of_a_leaf_root():
    x = f64([1.0, 2.0])
    seed = ag.tensor([3.0, 4.0])
    x.backward(seed)  # a float32 gradient still lands in the leaf's dtype, in an array of its own
    np.testing.assert_array_equal(x.grad.data, [3.0, 4.0])
    assert x.grad.dtype == np.float64 and not np.shares_memory(x.grad.data, seed.data)
    s = f64(5.0)
    s.backward()
    assert s.grad.item() == 1.0
    assert ag.grad(s, s)[0].item() == 1.0


def test_non_scalar_backward_without_gradient_is_a_clear_error():
    y = f64([1.0, 2.0]) * 2
    with pytest.raises(RuntimeError, match=r"only for scalar outputs; this output has shape \(2,\)"):
        y.backward()
    y.backward(np.ones(2))


def test_gradient_of_the_wrong_shape_is_a_clear_error():
    y = f64([1.0, 2.0]) * 2
    with pytest.raises(ValueError, match=r"gradient has shape \(3,\), output has shape \(2,\)"):
        y.backward(np.ones(3))


def test_backward_on_a_tensor_without_grad_is_a_clear_error():
    with pytest.raises(RuntimeError, match=r"does not require grad"):
        ag.tensor([1.0]).sum().backward()


def test_second_backward_without_retain_graph_names_retain_graph():
    x = f64([1.0, 2.0])
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match=r"second time.*retain_graph=True"):
        y.backward()


def test_retain_graph_allows_a_second_backward():
    x = f64([1.0, 2.0])
    y = (x.exp() * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad.data, 2 * (np.exp(x.data) * (1 + x.data)))


def test_grad_returns_gradients_without_touching_dot_grad():
    x, w = f64([1.0, 2.0]), f64([3.0, 4.0])
    y = (x * w).sum()
    gx, gw = ag.grad(y, [x, w])
    np.testing.assert_array_equal(gx.data, w.data)
    np.testing.assert_array_equal(gw.data, x.data)
    assert x.grad is None and w.grad is None


def test_grad_with_unused_input_needs_allow_unused():
    x, z = f64([1.0]), f64([2.0])
    y = (x * 2).sum()
    with pytest.raises(RuntimeError, match=r"grad: input 1 \(shape \(1,\)\) was not used.*allow_unused=True"):
        ag.grad(y, [x, z], retain_graph=True)
    gx, gz = ag.grad(y, [x, z], allow_unused=True)
    assert gz is None and gx.item() == 2.0


def test_grad_with_grad_outputs_and_several_outputs():
    x = f64([1.0, 2.0, 3.0])
    y1, y2 = x * 2, x ** 2
    g, = ag.grad([y1, y2], [x], [ag.tensor(np.ones(3)), ag.tensor(np.array([1.0, 0.0, 2.0]))])
    np.testing.assert_allclose(g.data, 2 + np.array([2.0, 0.0, 12.0]))
    with pytest.raises(ValueError, match=r"expected 2 gradients for 2 outputs, got 1"):
        ag.grad([x * 2, x * 3], [x], [np.ones(3)])


def test_grad_with_respect_to_a_non_leaf():
    x = f64([1.0, 2.0])
    h = x * 3
    y = (h ** 2).sum()
    gh, gx = ag.grad(y, [h, x])
    np.testing.assert_allclose(gh.data, 2 * h.data)
    np.testing.assert_allclose(gx.data, 18 * x.data)


def test_grad_input_must_require_grad():
    x = f64([1.0])
    with pytest.raises(RuntimeError, match=r"grad: input 0 does not require grad"):
        ag.grad((x * 2).sum(), [ag.tensor([1.0])])


def test_no_grad_and_enable_grad_as_context_managers_and_decorators():
    x = f64([1.0])
    with ag.no_grad():
        assert not (x * 2).requires_grad
        assert not ag.is_grad_enabled()
        with ag.enable_grad():
            assert (x * 2).requires_grad
        assert not (x * 2).requires_grad
    assert (x * 2).requires_grad

    @ag.no_grad()
    def frozen(t):
        return t * 2

    @ag.enable_grad()
    def live(t):
        return t * 2

    assert not frozen(x).requires_grad and frozen(x).grad_fn is None
    with ag.no_grad():
        assert live(x).requires_grad
    assert ag.is_grad_enabled()


def test_no_grad_restores_the_mode_after_an_exception():
    with pytest.raises(ZeroDivisionError):
        with ag.no_grad():
            1 / 0
    assert ag.is_grad_enabled()


def test_hook_on_a_leaf_sees_and_can_replace_its_gradient():
    x = f64([1.0, 2.0])
    seen = []
    x.register_hook(lambda g: seen.append(g.data.copy()))
    x.register_hook(lambda g: g * 10)
    (x * 3).sum().backward()
    np.testing.assert_array_equal(seen[0], [3.0, 3.0])
    np.testing.assert_array_equal(x.grad.data, [30.0, 30.0])


def test_hook_on_a_non_leaf_changes_what_flows_upstream():
    x = f64([1.0, 2.0])
    h = x * 2
    h.register_hook(lambda g: g * 0.5)
    (h * h).sum().backward()
    np.testing.assert_allclose(x.grad.data, 0.5 * 2 * h.data * 2)


def test_register_hook_needs_a_tensor_that_requires_grad():
    with pytest.raises(RuntimeError, match=r"register_hook: this tensor does not require grad"):
        ag.tensor([1.0]).register_hook(lambda g: g)


def test_retain_grad_keeps_the_gradient_of_a_non_leaf():
    x = f64([1.0, 2.0])
    h = x * 2
    h.retain_grad()
    other = x * 5
    (h * h + other).sum().backward()
    np.testing.assert_allclose(h.grad.data, 2 * h.data)
    assert other.grad is None
    s = x * 1.0
    s.retain_grad()
    s.sum().backward()
    s.grad.data *= 2.0  # a writable array of its own, like a leaf's
    np.testing.assert_array_equal(s.grad.data, [2.0, 2.0])


def test_a_chain_of_100000_ops_backpropagates_without_recursion():
    x = f64(1.0)
    y = x
    for _ in range(100_000):
        y = y * 1.00001
    y.backward()
    assert x.grad.item() == pytest.approx(1.00001 ** 100_000, rel=1e-9)
    del y  # freeing the long chain must not recurse either


def test_backward_runs_the_operations_newest_first_each_after_every_consumer():
    """The backward order is the reverse of the order the forward made the nodes in."""
    from autograd.graph import backward_order

    x = f64([1.0, 2.0])
    a = x.exp()
    b = x.sin()
    c = a * b
    d = (b + c + a).sum()
    order = backward_order([d.grad_fn])
    assert [node.name for node in order[:-1]] == ["sum", "add", "add", "mul", "sin", "exp"]
    assert order[-1].variable is x  # its accumulator
    assert [node.created for node in order] == sorted(node.created for node in order)[::-1]
    e = (b + a).sum()  # sin was made after exp: its VJP runs first
    assert [node.name for node in backward_order([e.grad_fn])][2:4] == ["sin", "exp"]
    position = {node: i for i, node in enumerate(order)}
    assert all(position[node] < position[child] for node in order for child in node.inputs if child is not None)


def test_a_leaf_given_data_of_another_shape_gets_gradients_of_that_shape_while_an_old_graph_lives():
    w = f64([1.0, 2.0])
    old = (w * 2.0).sum()  # keeps w's accumulator alive
    w.data = np.ones((2, 3))
    (w * 3.0).sum().backward()
    np.testing.assert_array_equal(w.grad.data, np.full((2, 3), 3.0))
    w.grad = None
    w.data = np.array([1.0, 2.0])
    old.backward()
    np.testing.assert_array_equal(w.grad.data, [2.0, 2.0])


def test_grad_of_a_graph_reaches_a_leaf_whose_data_was_replaced_since():
    x = f64([1.0, 2.0])
    y = (x * 2.0).sum()
    x.data = x.data.copy()  # the same shape and dtype
    np.testing.assert_array_equal(ag.grad(y, x)[0].data, [2.0, 2.0])
    z = (x * 3.0).sum()
    x.data = x.data.astype(np.float32)  # as Module.to(dtype) does
    np.testing.assert_array_equal(ag.grad(z, x)[0].data, [3.0, 3.0])


def test_saved_tensors_are_freed_after_backward():
    x = f64(np.ones(1000))
    y = (x.exp() * x).sum()
    nodes = [y.grad_fn, y.grad_fn.next[0][0]]
    assert sum(n.saved_nbytes for n in nodes) > 0
    y.backward()
    assert all(n.saved is None and n.saved_nbytes == 0 and n.released for n in nodes)


def test_graph_nodes_are_freed_when_the_output_is_deleted_without_gc():
    x = f64(np.ones(10))
    y = ((x * 2).exp() + 1).sum()
    refs = [weakref.ref(y.grad_fn), weakref.ref(y.grad_fn.next[0][0])]
    y.backward()
    gc.disable()
    try:
        del y
        assert all(r() is None for r in refs), "graph nodes outlived their output: a reference cycle"
    finally:
        gc.enable()


def test_retained_graph_nodes_are_freed_too():
    x = f64(np.ones(10))
    y = (x.exp() * x).sum()
    h = x.tanh()
    h.retain_grad()
    (y + h.sum()).backward(retain_graph=True)
    refs = [weakref.ref(y.grad_fn), weakref.ref(h.grad_fn)]
    gc.disable()
    try:
        del y, h
        assert all(r() is None for r in refs)
    finally:
        gc.enable()


@pytest.mark.parametrize("write", [
    lambda t: t.copy_(np.zeros(t.shape)), lambda t: t.fill_(0.0), lambda t: t.add_(1.0),
    lambda t: t.__setitem__(0, 3.0), lambda t: t.mul_(2.0), lambda t: t.zero_(),
])
def test_in_place_write_to_a_saved_input_is_detected_at_backward(write):
    x = f64([1.0, 2.0])
    y = (x * x).sum()
    with ag.no_grad():
        write(x)
    with pytest.raises(RuntimeError, match=r"saved for backward was modified in place.*after it was saved \(it is now at version 1\)"):
        y.backward()


def test_in_place_write_to_a_tensor_in_a_graph_is_refused_even_under_no_grad():
    x = f64([1.0, 2.0])
    e = x.exp()  # exp saves its output for the VJP
    y = e.sum()
    with ag.no_grad(), pytest.raises(RuntimeError, match=r"in-place change of a tensor made by <ExpBackward>"):
        e.fill_(0.0)
    y.backward()
    np.testing.assert_allclose(x.grad.data, np.exp(x.data))


def test_in_place_update_of_a_parameter_after_backward_is_fine():
    w = f64([1.0, 2.0])
    for _ in range(2):
        (w * w).sum().backward()
        with ag.no_grad():
            w -= 0.1 * w.grad
        w.grad = None
    np.testing.assert_allclose(w.data, np.array([1.0, 2.0]) * 0.8 ** 2)


def _sum_with_vjp(vjp):
    """A user Function y = a + b whose backward is `vjp`: what does the engine do with its results?"""
    class Bad(ag.Function):
        forward = staticmethod(lambda ctx, a, b: a + b)
        backward = staticmethod(vjp)

    return Bad


def test_a_vjp_returning_the_wrong_number_of_gradients_is_a_clear_error():
    with pytest.raises(RuntimeError, match=r"backward returned 1 gradients, expected 2"):
        _sum_with_vjp(lambda ctx, g: g).apply(f64([1.0]), f64([2.0])).sum().backward()


def test_a_vjp_returning_an_unbroadcastable_shape_is_a_clear_error():
    class Bad(ag.Function):
        @staticmethod
        def forward(ctx, a):
            return a * 2

        @staticmethod
        def backward(ctx, g):
            return ag.ones(5, dtype=np.float64)

    with pytest.raises(RuntimeError, match=r"returned a gradient of shape \(5,\) for input 0, which has shape \(3,\)"):
        Bad.apply(f64(np.ones(3))).sum().backward()


def test_the_shape_error_names_the_input_even_when_one_tensor_is_both_inputs():
    x = f64(np.ones(2)) * 1
    with pytest.raises(RuntimeError, match=r"shape \(3, 3\) for input 1, which has shape \(2,\)"):
        _sum_with_vjp(lambda ctx, g: (g, ag.ones(3, 3, dtype=np.float64))).apply(x, x).sum().backward()


def test_backward_function_takes_several_roots():
    x = f64([1.0, 2.0])
    ag.backward([(x * 2).sum(), (x * x).sum()])
    np.testing.assert_allclose(x.grad.data, 2 + 2 * x.data)
    y = f64([1.0, 2.0])
    ag.backward([y * 3], [np.array([1.0, -1.0])])
    np.testing.assert_allclose(y.grad.data, [3.0, -3.0])


def test_grad_with_respect_to_a_non_leaf_leaves_the_graph_before_it_intact():
    x = f64([1.0, 2.0])
    h = x.exp()
    ag.grad((h * 2).sum(), h)
    (h * 3).sum().backward()
    np.testing.assert_allclose(x.grad.data, 3 * np.exp(x.data))


def test_grad_runs_only_the_vjps_between_outputs_and_inputs():
    x = f64([1.0, 2.0])
    w = f64([0.5, -1.0])
    h = x * w
    loss = (h.tanh() * w).sum()
    gh, = ag.grad(loss, h)
    assert not h.grad_fn.released  # the node below the input did not run
    np.testing.assert_allclose(gh.data, (1 - np.tanh(h.data) ** 2) * w.data)
    gw, gx = ag.grad((h * h).sum(), [w, x])
    np.testing.assert_allclose(gw.data, 2 * h.data * x.data)
    np.testing.assert_allclose(gx.data, 2 * h.data * w.data)


def test_a_graph_keeps_its_leaves_alive_and_a_dropped_graph_frees_its_accumulators():
    """As in PyTorch: the accumulator holds its leaf, the leaf holds its accumulator weakly."""
    x = f64([1.0, 2.0])
    leaf = weakref.ref(x)
    y = (x * x).sum()
    accumulator = weakref.ref(y.grad_fn.next[0][0].next[0][0])
    gc.disable()
    try:
        del x
        assert leaf() is not None, "the graph let a leaf it reads go"
        y.backward()
        np.testing.assert_array_equal(leaf().grad.data, [2.0, 4.0])
        del y
        assert accumulator() is None and leaf() is None, "leaf and accumulator outlived the graph: a cycle"
    finally:
        gc.enable()


def test_a_leaf_hook_outlives_the_graphs_it_ran_in():
    x = f64([1.0, 2.0])
    seen = []
    x.register_hook(lambda g: seen.append(g.data.copy()))
    for scale in (2.0, 3.0):
        (x * scale).sum().backward()  # each graph, and the accumulator it made, dies after its step
    np.testing.assert_array_equal(seen, [[2.0, 2.0], [3.0, 3.0]])


def test_backward_reads_the_values_the_forward_used_even_after_data_is_replaced():
    w = f64([1.0, 2.0])
    x = f64([3.0, 4.0])
    loss = (w * x).sum()
    w.data = np.array([10.0, 20.0])  # a new array, not an in-place write: the saved array is untouched
    loss.backward()
    np.testing.assert_array_equal(x.grad.data, [1.0, 2.0])
