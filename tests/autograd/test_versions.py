"""Version counters shared by views: an in-place write through any alias of a saved value is caught."""
import weakref

import numpy as np
import pytest

import autograd as ag
import nn
import nn.functional as F
import optim

from helpers import f64

MODIFIED = r"saved for backward was modified in place"

VIEWS = {
    "reshape": lambda t: t.reshape(-1),
    "transpose": lambda t: t.T,
    "permute": lambda t: t.permute(1, 0),
    "mT": lambda t: t.mT,
    "slice": lambda t: t[0],
    "step slice": lambda t: t[:, ::2],
    "expand": lambda t: t[:1].expand(3, 3),
    "unsqueeze": lambda t: t.unsqueeze(0),
    "flatten": lambda t: t.flatten(),
    "detach": lambda t: t.detach(),
}


WRITABLE = {name: view for name, view in VIEWS.items() if name != "expand"}  # NumPy's expand is read-only


@pytest.mark.parametrize("view", WRITABLE.values(), ids=WRITABLE.keys())
def test_a_write_through_a_view_of_a_saved_leaf_is_caught(view):
    w = f64(np.arange(9.0).reshape(3, 3))
    loss = (w * w).sum()
    with ag.no_grad():
        view(w).add_(1.0)
    with pytest.raises(RuntimeError, match=MODIFIED):
        loss.backward()


@pytest.mark.parametrize("view", VIEWS.values(), ids=VIEWS.keys())
def test_a_write_to_the_base_is_caught_when_a_view_was_saved(view):
    w = f64(np.arange(9.0).reshape(3, 3))
    x = f64(np.ones(view(w).shape))
    loss = (x * view(w)).sum()  # mul saves both inputs
    with ag.no_grad():
        w.mul_(2.0)
    with pytest.raises(RuntimeError, match=MODIFIED):
        loss.backward()


def test_detach_of_a_saved_intermediate_shares_its_version():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    y = x.exp()
    z = (y * y).sum()
    d = y.detach()
    d += 1
    with pytest.raises(RuntimeError, match=r"<MulBackward>.*modified in place.*after it was saved \(it is now at version 1\)"):
        z.backward()


def test_detach_of_an_output_saved_by_its_own_node_is_caught_too():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    y = x.exp()  # exp saves its output y
    loss = y.sum()
    y.detach().fill_(0.0)
    with pytest.raises(RuntimeError, match=r"<ExpBackward>.*modified in place"):
        loss.backward()


def test_unmodified_aliases_change_nothing():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    y = x.exp()
    z = (y * y).sum()
    y.detach().numpy()
    z.backward()
    np.testing.assert_allclose(x.grad.data, 2 * np.exp(2 * x.data), rtol=1e-6)


def test_the_linear_layer_reproducer_from_the_issue_is_caught():
    lin = nn.Linear(3, 2)
    opt = optim.SGD(lin.parameters(), lr=1.0)
    x = ag.tensor(np.ones((1, 3), np.float32), requires_grad=True)
    loss = (lin(x) ** 2).sum()
    (lin(x) ** 2).sum().backward()
    opt.step()
    with pytest.raises(RuntimeError, match=MODIFIED):
        loss.backward()


def test_a_conv_graph_built_before_a_step_is_refused_after_it():
    conv = nn.Conv2d(1, 2, 3)
    opt = optim.SGD(conv.parameters(), lr=0.1)
    x = ag.randn(2, 1, 5, 5, requires_grad=True)
    loss = conv(x).sum()
    (conv(x).sum()).backward()
    opt.step()
    with pytest.raises(RuntimeError, match=MODIFIED):
        loss.backward()


def test_numpy_of_a_tensor_that_requires_grad_is_read_only_and_of_a_constant_writable():
    w = ag.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(ValueError, match="read-only"):
        w.numpy()[0] = 5.0
    c = ag.tensor([1.0, 2.0])
    c.numpy()[0] = 5.0
    assert c.data[0] == 5.0


def test_in_place_updates_through_the_public_api_count_as_writes():
    w = f64([1.0, 2.0])
    for update in (lambda t: t.add_(1.0), lambda t: t.sub_(1.0), lambda t: t.div_(2.0),
                   lambda t: t.copy_(np.ones(2))):
        before = w._version
        with ag.no_grad():
            update(w)
        assert w._version == before + 1
    with ag.no_grad(), w.in_place("my update") as array:
        array *= 3
    np.testing.assert_array_equal(w.data, [3.0, 3.0])


def test_in_place_on_a_leaf_that_requires_grad_is_refused_while_recording():
    w = f64([1.0, 2.0])
    with pytest.raises(RuntimeError, match=r"my update: a leaf tensor that requires grad"):
        with w.in_place("my update"):
            pass


# -- hooks ----------------------------------------------------------------------------------------------
def test_a_hook_on_a_leaf_cannot_change_the_gradients_shape():
    x = f64([1.0, 2.0])
    x.register_hook(lambda g: ag.tensor([1.0, 2.0, 3.0]))
    with pytest.raises(RuntimeError, match=r"hook .*<lambda>.* returned a gradient of shape \(3,\).*expected shape \(2,\)"):
        (x * 2).sum().backward()
    assert x.grad is None


def test_a_hook_on_a_non_leaf_is_named_when_it_breaks_the_shape():
    x = f64([1.0, 2.0])
    h = x * 2

    def widen(g):
        return ag.ones(5, dtype=np.float64)

    h.register_hook(widen)
    with pytest.raises(RuntimeError, match=r"hook .*widen.* on output 0 of <MulBackward> returned a gradient"):
        h.sum().backward()


def test_a_hook_may_not_turn_a_gradient_into_integers():
    x = f64([1.0, 2.0])
    x.register_hook(lambda g: ag.tensor([1, 2]))
    with pytest.raises(RuntimeError, match=r"dtype int64.*a floating dtype"):
        (x * 2).sum().backward()


def test_a_hook_that_scales_the_gradient_is_applied():
    x = f64([1.0, 2.0])
    x.register_hook(lambda g: g * 10)
    (x * 2).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [20.0, 20.0])


def test_conv2d_saved_weight_view_shares_the_parameters_version():
    w = ag.randn(2, 1, 3, 3, requires_grad=True)
    loss = F.conv2d(ag.randn(1, 1, 4, 4), w).sum()
    with ag.no_grad():
        w.mul_(0.5)
    with pytest.raises(RuntimeError, match=MODIFIED):
        loss.backward()


def test_a_write_through_an_alias_is_caught_after_the_saved_leaf_itself_was_dropped():
    w = f64([1.0, 2.0])
    x = f64([3.0, 4.0])
    alias = w.detach()
    loss = (w * x).sum()
    del w
    alias.add_(1.0)
    with pytest.raises(RuntimeError, match=MODIFIED):
        loss.backward()


def test_a_write_to_a_saved_constant_tensor_is_caught():
    w = f64([1.0, 2.0])
    x = ag.tensor([3.0, 4.0], dtype=np.float64)  # no gradient: the node keeps its counter
    loss = (w * x).sum()
    x.add_(1.0)
    with pytest.raises(RuntimeError, match=MODIFIED):
        loss.backward()


def test_a_write_to_an_unrelated_tensor_leaves_the_graph_usable():
    """Any write makes every node check its saved values; unchanged ones pass."""
    w = f64([1.0, 2.0])
    loss = (w * w).sum()
    other = f64([5.0])
    with ag.no_grad():
        other.add_(1.0)
    loss.backward()
    np.testing.assert_array_equal(w.grad.data, [2.0, 4.0])


def test_an_intermediate_written_before_an_op_saved_it_is_saved_at_its_new_version():
    x = f64([1.0, 2.0])
    h = x * 3.0  # mul saves x and 3, not its output: writing h leaves its own VJP right
    h.detach().add_(1.0)  # version 1 before the next mul saves h: no error at backward
    loss = (h * h).sum()
    loss.backward()
    np.testing.assert_allclose(x.grad.data, 2 * (3 * x.data + 1) * 3)
    h2 = x * 3.0
    loss2 = (h2 * h2).sum()
    h2.detach().add_(1.0)  # after: caught
    with pytest.raises(RuntimeError, match=r"<MulBackward>.*after it was saved \(it is now at version 1\)"):
        loss2.backward()


class _ScaleBy(ag.Function):
    """y = x · s, where s is a Tensor the Function holds (not an input): it saves the Tensor itself."""

    scale = None

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(_ScaleBy.scale)
        return x * _ScaleBy.scale.data

    @staticmethod
    def backward(ctx, g):
        s, = ctx.saved_tensors
        return g * s


def test_a_tensor_that_is_no_input_saved_by_a_function_is_freed_by_backward():
    x = f64([1.0, 2.0])
    _ScaleBy.scale = ag.tensor([3.0, 4.0], dtype=np.float64)
    alive = weakref.ref(_ScaleBy.scale)
    y = _ScaleBy.apply(x).sum()
    _ScaleBy.scale = None
    y.backward()
    assert alive() is None


class _Masked(ag.Function):
    """y = x · m, where forward builds the mask m in place and saves the Tensor."""

    @staticmethod
    def forward(ctx, x):
        m = ag.zeros(*x.shape, dtype=x.dtype)
        m[x > 0] = 1.0  # an in-place write before the save
        ctx.save_for_backward(m)
        return x * m.data

    @staticmethod
    def backward(ctx, g):
        m, = ctx.saved_tensors
        return g * m


def test_a_tensor_a_forward_writes_before_it_saves_it_is_no_modified_value():
    x = f64([-1.0, 2.0])
    _Masked.apply(x).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [0.0, 1.0])


def test_a_tensor_that_is_no_input_saved_by_a_function_is_checked_too():
    x = f64([1.0, 2.0])
    _ScaleBy.scale = ag.tensor([3.0, 4.0], dtype=np.float64)
    y = _ScaleBy.apply(x).sum()
    y.backward(retain_graph=True)
    np.testing.assert_array_equal(x.grad.data, [3.0, 4.0])
    _ScaleBy.scale.detach().add_(1.0)  # a write through an alias, after the save
    with pytest.raises(RuntimeError, match=MODIFIED):
        y.backward()
