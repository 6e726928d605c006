"""Layer rules (nn/layer_rules.py) give the engine's gradients: each lecture formula, computed in NumPy from a
composite's inputs, output and upstream gradient, equals what backward computes primitive by primitive."""
import numpy as np
import pytest

import autograd as ag
import nn.functional as F
from autograd.graph import Edge, position
from autograd.grad_mode import scoped
from autograd.layer_rules import LayerCall, LayerRule, layer_rule
from nn import layer_rules as rules

RNG = np.random.default_rng(0)


def tensor(*shape, grad=True):
    return ag.tensor(RNG.standard_normal(shape), dtype=np.float64, requires_grad=grad)


def assert_rule_is_the_engines(fn, *args, rule=None, **options):
    """Call the composite, send a random ḡ back through the engine, and compare with its recorded rule."""
    y = fn(*args, **options)
    call = y.grad_fn.layer
    assert isinstance(call, LayerCall) and call.rule is (rule or fn.layer_rule)
    inputs = {p: t for p, t in zip(call.args, args) if isinstance(t, ag.Tensor) and t.requires_grad}
    g = RNG.standard_normal(y.shape)
    engine = ag.grad(y, list(inputs.values()), grad_outputs=ag.tensor(g))
    values = {position(t): t.data for t in args if isinstance(t, ag.Tensor) and t.requires_grad}
    bound = {p: values[v] if isinstance(v, Edge) else v for p, v in call.args.items()}
    computed = call.rule.gradients(bound, y.data, g)
    assert set(inputs) == set(call.inputs())
    for (p, t), expected in zip(inputs.items(), engine):
        assert computed[p].shape == t.shape, p
        np.testing.assert_allclose(computed[p], expected.data, rtol=1e-10, atol=1e-12, err_msg=p)


@pytest.mark.parametrize("N, C, K, H, W, kh, kw, options", [
    (2, 3, 4, 7, 6, 3, 3, {}),
    (2, 3, 6, 9, 8, 3, 2, {"stride": (2, 1), "padding": (1, 2), "dilation": (2, 1), "groups": 3}),
    (1, 2, 2, 10, 10, 3, 3, {"stride": 3, "padding": 1}),  # rows no window reaches: their gradient is 0
    (3, 1, 5, 6, 6, 3, 3, {"padding": "same"}),
    (2, 4, 4, 8, 5, 2, 3, {"dilation": 2, "padding": "valid", "groups": 2}),
])
@pytest.mark.parametrize("bias", [True, False])
def test_conv2d(N, C, K, H, W, kh, kw, options, bias):
    groups = options.get("groups", 1)
    assert_rule_is_the_engines(F.conv2d, tensor(N, C, H, W), tensor(K, C // groups, kh, kw),
                               tensor(K) if bias else None, **options)


@pytest.mark.parametrize("options", [{}, {"stride": 2, "padding": 1, "dilation": 2}, {"groups": 2, "padding": "same"}])
def test_conv1d(options):
    assert_rule_is_the_engines(F.conv1d, tensor(2, 4, 11), tensor(6, 4 // options.get("groups", 1), 3), tensor(6),
                               **options)


@pytest.mark.parametrize("options", [{}, {"stride": (2, 1, 2), "padding": ((1, 0), (0, 2), (1, 1)), "dilation": (1, 2, 1)},
                                     {"groups": 2, "padding": "same"}])
def test_conv3d(options):
    assert_rule_is_the_engines(F.conv3d, tensor(2, 4, 5, 6, 5), tensor(6, 4 // options.get("groups", 1), 2, 3, 2),
                               tensor(6), **options)


def test_conv2d_with_an_input_that_needs_no_gradient():
    assert_rule_is_the_engines(F.conv2d, tensor(2, 1, 6, 6, grad=False), tensor(3, 1, 3, 3), tensor(3), padding=1)


@pytest.mark.parametrize("x_shape", [(5, 3), (2, 4, 3), (3,)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear(x_shape, bias):
    assert_rule_is_the_engines(F.linear, tensor(*x_shape), tensor(4, 3), tensor(4) if bias else None)


@pytest.mark.parametrize("target, options", [
    (np.array([0, 3, 1, 2, 3]), {}),
    (np.array([0, 3, 1, 2, 3]), {"reduction": "sum"}),
    (np.array([0, 3, 1, 2, 3]), {"reduction": "none"}),
    (np.array([0, -100, 1, 2, -100]), {}),  # ignored positions count neither in p − t nor in N
    (RNG.dirichlet(np.ones(4), 5), {}),  # probability targets
])
def test_cross_entropy(target, options):
    assert_rule_is_the_engines(F.cross_entropy, tensor(5, 4), target, **options)


def test_cross_entropy_over_spatial_positions_and_unbatched():
    assert_rule_is_the_engines(F.cross_entropy, tensor(2, 4, 3, 2), RNG.integers(0, 4, (2, 3, 2)))
    assert_rule_is_the_engines(F.cross_entropy, tensor(4), np.array(2))


def test_cross_entropy_with_class_weights_is_outside_the_rule():
    x = tensor(3, 4)
    y = F.cross_entropy(x, np.array([0, 1, 2]), weight=np.ones(4))
    call = y.grad_fn.layer
    assert "without class weights" in call.rule.applies(call.args)


@pytest.mark.parametrize("fn", [F.softmax, F.log_softmax])
@pytest.mark.parametrize("axis", [-1, 0, 1])
def test_softmax_and_log_softmax(fn, axis):
    assert_rule_is_the_engines(fn, tensor(3, 4, 2), axis=axis)


@pytest.mark.parametrize("fn", [F.max_pool2d, F.avg_pool2d])
@pytest.mark.parametrize("shape, kernel, options", [
    ((2, 3, 6, 6), 2, {}),
    ((2, 2, 7, 6), 3, {"stride": 2, "padding": 1}),
    ((1, 2, 5, 8), (2, 3), {"stride": (1, 2), "padding": (1, 1)}),  # overlapping windows
])
def test_pool2d(fn, shape, kernel, options):
    assert_rule_is_the_engines(fn, tensor(*shape), kernel, **options)


def test_max_pool_ties_share_the_gradient():
    x = ag.tensor(np.ones((1, 1, 4, 4)), requires_grad=True)
    assert_rule_is_the_engines(F.max_pool2d, x, 2)


@pytest.mark.parametrize("fn", [F.max_pool1d, F.avg_pool1d])
def test_pool1d(fn):
    assert_rule_is_the_engines(fn, tensor(2, 3, 9), 3, stride=2, padding=1)


@pytest.mark.parametrize("fn, options", [(F.max_pool3d, {"dilation": (1, 2, 1)}),
                                         (F.avg_pool3d, {"count_include_pad": False})])
def test_pool3d(fn, options):
    assert_rule_is_the_engines(fn, tensor(2, 2, 4, 6, 5), (2, 2, 3), stride=(2, 1, 2), padding=(1, 1, 1),
                               ceil_mode=True, **options)


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("shape, output_size", [
    ((2, 3, 10), 4),  # overlapping windows: 10 into 4
    ((2, 2, 7, 5), (3, None)),
    ((1, 2, 5, 6, 4), (2, 4, 3)),  # enlarging the last axis: windows of one element, shared
])
def test_adaptive_pools(kind, shape, output_size):
    fn = getattr(F, f"adaptive_{kind}_pool{len(shape) - 2}d")
    assert_rule_is_the_engines(fn, tensor(*shape), output_size)


def test_adaptive_max_pool_ties_share_the_gradient():
    x = ag.tensor(np.ones((1, 1, 5, 5)), requires_grad=True)
    assert_rule_is_the_engines(F.adaptive_max_pool2d, x, 2)


@pytest.mark.parametrize("fn, size", [(F.max_pool1d, 2), (F.adaptive_max_pool1d, 3)])
def test_a_nan_wins_in_the_max_rules_as_in_the_engine(fn, size):
    x = ag.tensor(np.array([[[1.0, np.nan, 2.0, 0.0, 5.0, np.nan]]]), requires_grad=True)
    assert_rule_is_the_engines(fn, x, size)


@pytest.mark.parametrize("fn, args", [
    (F.adaptive_max_pool1d, (3,)),  # windows of 2, 3 and 2 elements, narrower ones filled up with −∞
    (F.max_pool2d, (3, 2, 1)),  # kernel 3, stride 2, padding 1: windows reach into the −∞ padding
])
def test_windows_of_only_minus_infinity_give_all_of_the_gradient_to_the_input(fn, args):
    """The −∞ filling ties with an input of −∞ but is no candidate: ḡ goes to the window's elements only."""
    shape = (1, 1, 5) if fn is F.adaptive_max_pool1d else (1, 1, 4, 4)
    x = ag.tensor(np.full(shape, -np.inf), requires_grad=True)
    y = fn(x, *args)
    y.sum().backward()
    assert x.grad.data.sum() == y.size
    assert_rule_is_the_engines(fn, ag.tensor(np.full(shape, -np.inf), requires_grad=True), *args)


def _forgets_the_two(args, y, g):
    return {"x": g}


WRONG = LayerRule("twice", {"x": "X"}, ("Y = 2X", "Y = 2X"),
                  {"x": ("∂L/∂X = ḡ", r"\frac{\partial L}{\partial X} = \bar{g}", "forgets the 2")}, _forgets_the_two)


@layer_rule(WRONG)
@scoped("twice")
def twice(x):
    return x * 2


def test_a_rule_that_differs_from_the_engine_says_so():
    """Pictures and derivations call a rule's agreement with the engine what it is: here a wrong rule."""
    from autograd import viz

    x = tensor(2, 3)
    loss = twice(x).sum()
    assert "the rule DIFFERS from the engine's chain rule through 1 primitive by 0.5" in \
        str(ag.explain(loss, x, level="layer"))
    assert "≠ engine" in viz.draw(loss, collapse=True).source
    good = F.linear(x, tensor(4, 3)).sum()
    assert "= engine" in viz.draw(good, collapse=True).source


@pytest.mark.parametrize("fn", [F.max_pool2d, F.adaptive_max_pool2d])
def test_a_call_that_also_returns_indices_has_its_rule(fn):
    """The rule's Y is the pooled values, the first of the (values, indices) pair."""
    values, _ = fn(tensor(2, 3, 6, 6), 3, return_indices=True)
    assert values.grad_fn.layer.rule is fn.layer_rule
    assert_rule_is_the_engines(lambda *args, **options: fn(*args, **options, return_indices=True)[0],
                               tensor(2, 3, 6, 6), 3, rule=fn.layer_rule)


@pytest.mark.parametrize("fn, args, options", [
    (F.conv2d, lambda: (tensor(3, 7, 6), tensor(4, 3, 3, 3), tensor(4)), {"padding": 1}),
    (F.conv1d, lambda: (tensor(2, 9), tensor(3, 2, 3)), {"stride": 2}),
    (F.max_pool2d, lambda: (tensor(3, 6, 6), 2), {}),
    (F.avg_pool3d, lambda: (tensor(2, 4, 4, 4), 2), {}),
    (F.adaptive_avg_pool2d, lambda: (tensor(2, 7, 5), (3, 2)), {}),
    (F.adaptive_max_pool1d, lambda: (tensor(2, 10), 4), {}),
])
def test_one_example_keeps_its_rule(fn, args, options):
    """A call on one example (no batch axis) is one layer call, its rule computed as the batch of one."""
    assert_rule_is_the_engines(fn, *args(), **options)


@pytest.mark.parametrize("shape", [(6, 3), (4, 3, 2, 2)])
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm(shape, training, affine):
    C = shape[1]
    params = (tensor(C), tensor(C)) if affine else (None, None)
    assert_rule_is_the_engines(F.batch_norm, tensor(*shape), RNG.standard_normal(C), RNG.random(C) + 0.5, *params,
                               training=training)


@layer_rule(rules.MEAN_SUBTRACTION)
@scoped("mean_subtraction")
def center(x, axis=0):
    """x − mean(x) along `axis`: a user's composite carrying the mean-subtraction rule."""
    return x - x.mean(axis=axis, keepdims=True)


@pytest.mark.parametrize("axis", [0, 1, (0, 2)])
def test_mean_subtraction_backward_is_mean_subtraction(axis):
    assert_rule_is_the_engines(center, tensor(4, 3, 2), axis=axis)


def test_every_composite_with_a_rule_is_tested_here():
    tested = {"conv3d", "conv2d", "conv1d", "linear", "cross_entropy", "softmax", "log_softmax", "max_pool2d", "avg_pool2d",
              "max_pool1d", "avg_pool1d", "max_pool3d", "avg_pool3d", "batch_norm", "adaptive_max_pool1d",
              "adaptive_max_pool2d", "adaptive_max_pool3d", "adaptive_avg_pool1d", "adaptive_avg_pool2d",
              "adaptive_avg_pool3d"}
    with_rules = {name for name in F.__all__ if hasattr(getattr(F, name), "layer_rule")}
    assert with_rules == tested


def test_nothing_is_recorded_without_a_graph():
    with ag.no_grad():
        y = F.linear(tensor(2, 3), tensor(4, 3))
    assert y.grad_fn is None
    x = tensor(2, 3, 4, 4, grad=False)
    assert F.adaptive_avg_pool2d(x, (4, 4)).grad_fn is None


def test_a_recorded_call_makes_no_reference_cycle():
    """The output node holds its call; the call points back weakly, so the graph goes with its last tensor."""
    import gc
    import weakref

    y = F.linear(tensor(2, 3), tensor(4, 3))
    node = weakref.ref(y.grad_fn)
    assert y.grad_fn.layer.node is y.grad_fn
    gc.disable()
    try:
        del y
        assert node() is None
    finally:
        gc.enable()
