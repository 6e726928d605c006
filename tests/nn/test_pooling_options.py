"""Pooling options against PyTorch: ceil_mode, count_include_pad, divisor_override, dilation, return_indices,
the adaptive max pools and the 3-d pools (values, gradients, indices), gradchecks, the layers, errors."""

import numpy as np
import pytest

import autograd as ag
import nn
import nn.functional as F

from helpers import against_torch, raises, torch_fn

rng = np.random.default_rng(13)


def distinct(*shape):
    """Random float64 values without ties (a tie's index and gradient are PyTorch's pick, not a rule)."""
    return rng.permutation(np.prod(shape)).reshape(shape) / 7.0 - 3.0


def leaf(*shape):
    return ag.tensor(distinct(*shape), requires_grad=True)


# input shape, kernel_size, stride, padding, dilation, ceil_mode: odd sizes, ceil windows that run past the end
MAX_CASES = [
    ((2, 2, 7, 6), 3, 2, 1, 1, True),
    ((1, 3, 8, 9), 2, 2, 0, 1, True),
    ((2, 1, 9, 7), 3, 2, 1, 2, False),
    ((1, 2, 10, 11), (3, 2), (2, 3), (1, 1), (2, 3), True),
    ((2, 2, 5, 5), 2, 1, 1, 3, True),
    ((1, 1, 6, 7), (2, 3), (3, 2), (0, 1), 1, True),
]


@pytest.mark.parametrize("shape, kernel, stride, padding, dilation, ceil_mode", MAX_CASES)
def test_max_pool2d_options_and_indices_match_torch(shape, kernel, stride, padding, dilation, ceil_mode):
    torch = pytest.importorskip("torch")
    options = dict(stride=stride, padding=padding, dilation=dilation, ceil_mode=ceil_mode)
    x = distinct(*shape)
    against_torch(lambda v: F.max_pool2d(v, kernel, **options),
                  lambda v: torch.nn.functional.max_pool2d(v, kernel, **options), [x])
    y, indices = F.max_pool2d(ag.tensor(x), kernel, **options, return_indices=True)
    _, expected = torch.nn.functional.max_pool2d(torch.tensor(x), kernel, **options, return_indices=True)
    assert indices.dtype == np.int64 and not indices.requires_grad
    np.testing.assert_array_equal(indices.data, expected.numpy())


# input shape, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override
AVG_CASES = [
    ((2, 2, 7, 6), 3, 2, 1, True, True, None),
    ((2, 2, 7, 6), 3, 2, 1, True, False, None),
    ((1, 3, 8, 9), 2, 2, 1, False, False, None),
    ((1, 2, 9, 10), (3, 2), (2, 3), (1, 1), True, False, None),
    ((2, 1, 5, 8), (2, 4), (2, 3), (1, 2), True, True, None),
    ((1, 2, 7, 7), 3, 2, 1, True, False, 4),
    ((1, 1, 6, 5), 2, 1, 0, False, True, -3),
]


@pytest.mark.parametrize("shape, kernel, stride, padding, ceil_mode, count_include_pad, divisor", AVG_CASES)
def test_avg_pool2d_options_match_torch(shape, kernel, stride, padding, ceil_mode, count_include_pad, divisor):
    options = dict(stride=stride, padding=padding, ceil_mode=ceil_mode, count_include_pad=count_include_pad,
                   divisor_override=divisor)
    against_torch(lambda v: F.avg_pool2d(v, kernel, **options),
                  lambda v: torch_fn("nn.functional.avg_pool2d")(v, kernel, **options), [distinct(*shape)])


@pytest.mark.parametrize("shape, kernel, stride, padding, dilation, ceil_mode", [
    ((2, 3, 9), 3, 2, 1, 1, True),
    ((1, 2, 10), 2, 3, 1, 2, True),
    ((2, 1, 11), 4, 2, 2, 2, False),
])
def test_pool1d_options_match_torch(shape, kernel, stride, padding, dilation, ceil_mode):
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    x = distinct(*shape)
    options = dict(stride=stride, padding=padding, ceil_mode=ceil_mode)
    against_torch(lambda v: F.max_pool1d(v, kernel, **options, dilation=dilation),
                  lambda v: tf.max_pool1d(v, kernel, **options, dilation=dilation), [x])
    _, indices = F.max_pool1d(ag.tensor(x), kernel, **options, dilation=dilation, return_indices=True)
    _, expected = tf.max_pool1d(torch.tensor(x), kernel, **options, dilation=dilation, return_indices=True)
    np.testing.assert_array_equal(indices.data, expected.numpy())
    for count_include_pad in (True, False):
        against_torch(lambda v: F.avg_pool1d(v, kernel, **options, count_include_pad=count_include_pad),
                      lambda v: tf.avg_pool1d(v, kernel, **options, count_include_pad=count_include_pad), [x])


@pytest.mark.parametrize("shape, kernel, stride, padding, ceil_mode", [
    ((1, 2, 5, 6, 7), 3, 2, 1, True),
    ((2, 1, 4, 5, 6), (2, 3, 2), (1, 2, 3), (1, 1, 0), False),
])
def test_pool3d_matches_torch(shape, kernel, stride, padding, ceil_mode):
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    x = distinct(*shape)
    options = dict(stride=stride, padding=padding, ceil_mode=ceil_mode)
    against_torch(lambda v: F.max_pool3d(v, kernel, **options, dilation=(1, 2, 1)),
                  lambda v: tf.max_pool3d(v, kernel, **options, dilation=(1, 2, 1)), [x])
    _, indices = F.max_pool3d(ag.tensor(x), kernel, **options, return_indices=True)
    _, expected = tf.max_pool3d(torch.tensor(x), kernel, **options, return_indices=True)
    np.testing.assert_array_equal(indices.data, expected.numpy())
    for count_include_pad, divisor in ((True, None), (False, None), (True, 5)):
        extra = dict(count_include_pad=count_include_pad, divisor_override=divisor)
        against_torch(lambda v: F.avg_pool3d(v, kernel, **options, **extra),
                      lambda v: tf.avg_pool3d(v, kernel, **options, **extra), [x])


@pytest.mark.parametrize("shape, size", [
    ((2, 3, 7, 5), (3, 2)), ((1, 2, 5, 7), (3, 4)), ((1, 2, 6, 8), (3, 4)), ((2, 1, 4, 5), (None, 3)),
    ((1, 1, 3, 3), 5), ((1, 2, 5, 6), 1),
    ((2, 3, 5, 7, 6), (3, 4, 2)), ((1, 2, 7, 5, 3), (2, 5, 3)), ((2, 1, 4, 5, 6), (None, 3, None)),
    ((1, 1, 3, 3, 3), 5), ((1, 2, 4, 5, 6), 1),
])
def test_adaptive_max_pool_2d_and_3d_match_torch_with_indices(shape, size):
    torch = pytest.importorskip("torch")
    name = f"adaptive_max_pool{len(shape) - 2}d"
    ours, theirs = getattr(F, name), getattr(torch.nn.functional, name)
    x = distinct(*shape)
    against_torch(lambda v: ours(v, size), lambda v: theirs(v, size), [x])
    y, indices = ours(ag.tensor(x), size, return_indices=True)
    _, expected = theirs(torch.tensor(x), size, return_indices=True)
    assert indices.dtype == np.int64 and not indices.requires_grad and indices.shape == y.shape
    np.testing.assert_array_equal(indices.data, expected.numpy())


@pytest.mark.parametrize("length, size", [(7, 3), (5, 8), (9, 3)])
def test_adaptive_pool1d_matches_torch(length, size):
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    x = distinct(2, 3, length)
    against_torch(lambda v: F.adaptive_max_pool1d(v, size), lambda v: tf.adaptive_max_pool1d(v, size), [x])
    against_torch(lambda v: F.adaptive_avg_pool1d(v, size), lambda v: tf.adaptive_avg_pool1d(v, size), [x])
    _, indices = F.adaptive_max_pool1d(ag.tensor(x), size, return_indices=True)
    np.testing.assert_array_equal(indices.data, tf.adaptive_max_pool1d(torch.tensor(x), size, True)[1].numpy())


@pytest.mark.parametrize("pool, shape, options", [
    (F.max_pool2d, (1, 2, 7, 6), dict(kernel_size=3, stride=2, padding=1, dilation=(1, 2), ceil_mode=True)),
    (F.avg_pool2d, (1, 2, 7, 6), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)),
    (F.avg_pool2d, (1, 1, 5, 6), dict(kernel_size=2, ceil_mode=True, divisor_override=3)),
    (F.avg_pool1d, (2, 2, 8), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    (F.max_pool3d, (1, 1, 4, 5, 5), dict(kernel_size=2, stride=2, padding=1, ceil_mode=True)),
    (F.avg_pool3d, (1, 1, 4, 5, 5), dict(kernel_size=3, stride=2, padding=1, count_include_pad=False)),
    (F.adaptive_max_pool2d, (1, 2, 5, 7), dict(output_size=(3, 4))),
    (F.adaptive_max_pool1d, (2, 1, 7), dict(output_size=3)),
    (F.adaptive_max_pool3d, (1, 2, 5, 4, 3), dict(output_size=(3, None, 2))),
    (F.adaptive_avg_pool3d, (1, 2, 5, 4, 3), dict(output_size=(3, 3, 2))),
])
def test_pooling_options_gradcheck(pool, shape, options):
    assert ag.gradcheck(lambda x: pool(x, **options), [leaf(*shape)])


@pytest.mark.parametrize("shape, kernel, stride, padding", [
    ((2, 3, 6, 6), 2, None, 0), ((1, 2, 7, 5), 3, 2, 1), ((1, 1, 8, 7), (3, 2), (2, 2), (1, 1)),
])
def test_indices_round_trip_through_max_unpool2d(shape, kernel, stride, padding):
    """max_unpool2d(max_pool2d(x, return_indices=True)) puts every winner back where it was, zeros elsewhere."""
    x = leaf(*shape)
    y, indices = F.max_pool2d(x, kernel, stride, padding, return_indices=True)
    back = F.max_unpool2d(y, indices, kernel, stride, padding, output_size=shape[2:])
    winners = np.zeros(x.data.size, bool)
    planes = np.arange(shape[0] * shape[1]).reshape(shape[:2] + (1, 1)) * (shape[2] * shape[3])
    winners[(planes + indices.data).ravel()] = True
    np.testing.assert_array_equal(back.data, np.where(winners.reshape(shape), x.data, 0.0))
    back.sum().backward()  # each winner once per window it won: the pool's gradient and the unpool's agree
    np.testing.assert_array_equal(x.grad.data != 0, winners.reshape(shape))


def test_indices_take_the_first_of_tied_winners_and_a_nan():
    x = ag.tensor([[[[1.0, 4.0, 4.0, np.nan], [4.0, 0.0, 2.0, 3.0]]]])
    _, indices = F.max_pool2d(x, 2, return_indices=True)
    assert indices.tolist() == [[[[1, 3]]]]


@pytest.mark.parametrize("n", [1, 2, 3])
def test_indices_match_torch_on_ties_nan_and_windows_that_reach_the_padding(n):
    """Among tied winners PyTorch takes the first inside the input (never a padding slot, even when every value is
    −∞ like the padding), and the last NaN of a window that has one."""
    torch = pytest.importorskip("torch")
    pool, theirs = getattr(F, f"max_pool{n}d"), getattr(torch.nn.functional, f"max_pool{n}d")
    rng = np.random.default_rng(n)
    for trial in range(12):
        x = rng.integers(-2, 3, (2, 2) + (5,) * n).astype(np.float64)  # small integers: many ties
        x[rng.random(x.shape) < 0.15] = np.nan
        if trial % 4 == 0:
            x[...] = -np.inf
        options = dict(kernel_size=3, stride=int(rng.integers(1, 3)), padding=1, dilation=int(rng.integers(1, 3)),
                       ceil_mode=bool(trial % 2), return_indices=True)
        _, indices = pool(ag.tensor(x), **options)
        np.testing.assert_array_equal(indices.data, theirs(torch.tensor(x), **options)[1].numpy())


def test_adaptive_max_pool_ties_share_the_gradient_evenly():
    """Overlapping adaptive windows (5 → 3 reads rows 0-1, 1-3, 3-4): each window's ḡ splits among its winners."""
    x = ag.tensor(np.ones((1, 1, 1, 5)), requires_grad=True)
    F.adaptive_max_pool2d(x, (1, 3)).sum().backward()
    np.testing.assert_allclose(x.grad.data[0, 0, 0], [1 / 2, 1 / 2 + 1 / 3, 1 / 3, 1 / 3 + 1 / 2, 1 / 2])


def test_ceil_mode_on_an_integer_tensor_pads_with_the_dtypes_minimum():
    x = ag.tensor(np.array([[[[-5, 2, -1], [3, -7, -2], [-4, -6, -9]]]], np.int32))
    y = F.max_pool2d(x, 2, padding=1, ceil_mode=True)
    assert y.dtype == np.int32
    np.testing.assert_array_equal(y.data[0, 0], [[-5, 2], [3, -2]])
    assert F.adaptive_max_pool2d(x, 2).dtype == np.int32


LAYERS = [  # chainrule layer and torch layer (same arguments), input shape
    ("MaxPool1d(3, stride=2, padding=1, dilation=2, ceil_mode=True)", (2, 2, 9)),
    ("MaxPool2d(3, stride=2, padding=1, dilation=(1, 2), ceil_mode=True)", (2, 2, 7, 8)),
    ("MaxPool3d(2, stride=2, padding=1, ceil_mode=True)", (1, 2, 4, 5, 5)),
    ("AvgPool1d(3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)", (2, 2, 8)),
    ("AvgPool2d(3, stride=2, padding=1, ceil_mode=True, divisor_override=2)", (2, 2, 7, 6)),
    ("AvgPool3d(3, stride=2, padding=1, count_include_pad=False)", (1, 2, 5, 4, 5)),
    ("AdaptiveMaxPool1d(4)", (2, 3, 9)),
    ("AdaptiveMaxPool2d((3, 2))", (2, 3, 7, 5)),
    ("AdaptiveAvgPool1d(3)", (2, 3, 8)),
    ("AdaptiveMaxPool3d((3, None, 2))", (2, 2, 5, 4, 3)),
    ("AdaptiveAvgPool3d((2, 3, 2))", (1, 2, 5, 4, 3)),
]


@pytest.mark.parametrize("spec, shape", LAYERS)
def test_layers_match_torch_and_print_like_torch(spec, shape):
    torch = pytest.importorskip("torch")
    ours, theirs = eval(spec, vars(nn)), eval(spec, vars(torch.nn))
    against_torch(ours, theirs, [distinct(*shape)])
    assert repr(ours) == repr(theirs)


def test_layers_with_return_indices_return_the_pair():
    x = ag.tensor(distinct(1, 2, 6, 6))
    y, indices = nn.MaxPool2d(2, return_indices=True)(x)
    np.testing.assert_array_equal(nn.MaxUnpool2d(2)(y, indices).data, F.max_unpool2d(y, indices, 2).data)
    y, indices = nn.AdaptiveMaxPool2d(3, return_indices=True)(x)
    assert indices.shape == y.shape == (1, 2, 3, 3)
    with raises(ValueError, "MaxPool3d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False): expected "
                            "a 5-D input (N, C, D, H, W) or a 4-D one (C, D, H, W), got shape (2, 6, 6)"):
        nn.MaxPool3d(2)(x[0])


def test_adaptive_pool3d_layers_return_the_pair_and_name_the_layout_they_expect():
    x = ag.tensor(distinct(2, 2, 5, 4, 3))
    y, indices = nn.AdaptiveMaxPool3d((3, None, 2), return_indices=True)(x)
    assert indices.shape == y.shape == (2, 2, 3, 4, 2)
    assert nn.AdaptiveAvgPool3d(1)(x).shape == (2, 2, 1, 1, 1)
    for layer in (nn.AdaptiveMaxPool3d(2), nn.AdaptiveAvgPool3d(2)):
        with raises(ValueError, f"{layer!r}: expected a 5-D input (N, C, D, H, W) or a 4-D one (C, D, H, W), "
                                "got shape (5, 4, 3)"):
            layer(x[0, 0])


@pytest.mark.parametrize("call, exc, message", [
    (lambda x: F.max_pool2d(x, 2, dilation=0), ValueError, "max_pool2d: dilation must be ≥ 1, got 0"),
    (lambda x: F.max_pool2d(x, 2, dilation=(1, 2, 1)), ValueError,
     "max_pool2d: dilation must be an int or a tuple of 2 ints, got (1, 2, 1)"),
    (lambda x: F.max_pool2d(x, 3, dilation=3), ValueError,
     "max_pool2d: kernel (3, 3) (dilation (3, 3), spanning (7, 7)) is larger than the padded input (6, 6)"),
    (lambda x: F.max_pool2d(x, 2, ceil_mode="yes"), TypeError,
     "max_pool2d: ceil_mode must be True or False, got 'yes'"),
    (lambda x: F.max_pool2d(x, 2, return_indices=1), TypeError,
     "max_pool2d: return_indices must be True or False, got 1"),
    (lambda x: F.avg_pool2d(x, 2, count_include_pad=None), TypeError,
     "avg_pool2d: count_include_pad must be True or False, got None"),
    (lambda x: F.avg_pool2d(x, 2, divisor_override=0), ValueError,
     "avg_pool2d: divisor_override must be a nonzero int or None, got 0"),
    (lambda x: F.avg_pool3d(x[0], 2), ValueError,
     "avg_pool3d: expected input of shape (N, C, D, H, W) or (C, D, H, W), got shape (2, 6, 6) (3 dimensions)"),
    (lambda x: F.adaptive_max_pool2d(x, (2, 2, 2)), ValueError,
     "adaptive_max_pool2d: output_size must be an int or a tuple of 2 ints (None keeps a size), got (2, 2, 2)"),
    (lambda x: F.adaptive_max_pool2d(x, (0, 2)), ValueError,
     "adaptive_max_pool2d: output_size must be ≥ 1, got (0, 2)"),
    (lambda x: F.adaptive_avg_pool3d(x[0], 2), ValueError,
     "adaptive_avg_pool3d: expected input of shape (N, C, D, H, W) or (C, D, H, W), got shape (2, 6, 6) "
     "(3 dimensions)"),
    (lambda x: F.adaptive_max_pool3d(x[0], 2), ValueError,
     "adaptive_max_pool3d: expected input of shape (N, C, D, H, W) or (C, D, H, W), got shape (2, 6, 6) "
     "(3 dimensions)"),
    (lambda x: F.adaptive_max_pool3d(x, (2, 2)), ValueError,
     "adaptive_max_pool3d: output_size must be an int or a tuple of 3 ints (None keeps a size), got (2, 2)"),
    (lambda x: F.adaptive_avg_pool1d(x[0], None), ValueError,
     "adaptive_avg_pool1d: output_size must be an int or a tuple of 1 ints, got None"),
    (lambda x: F.adaptive_max_pool1d(x[0], (None,)), ValueError,
     "adaptive_max_pool1d: output_size must be an int or a tuple of 1 ints, got (None,)"),
    (lambda x: F.adaptive_avg_pool2d(x, None), ValueError,
     "adaptive_avg_pool2d: output_size must be an int or a tuple of 2 ints (None keeps a size), got None"),
    (lambda x: F.adaptive_max_pool1d(x, 2), ValueError,
     "adaptive_max_pool1d: expected input of shape (N, C, L) or (C, L), got shape (1, 2, 6, 6) (4 dimensions)"),
])
def test_bad_options_name_what_was_expected(call, exc, message):
    with raises(exc, message):
        call(ag.zeros(1, 2, 6, 6))


@pytest.mark.parametrize("n", [1, 2, 3])
def test_adaptive_max_pool_indices_match_torch_on_ties_and_nan(n):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(n)
    for trial in range(10):
        x = rng.integers(-2, 3, (2, 2) + (7,) * n).astype(np.float64)
        x[rng.random(x.shape) < 0.15] = np.nan
        if trial % 5 == 0:
            x[...] = -np.inf
        size = (3, 2, 5)[trial % 3]
        _, indices = getattr(F, f"adaptive_max_pool{n}d")(ag.tensor(x), size, return_indices=True)
        expected = getattr(torch.nn.functional, f"adaptive_max_pool{n}d")(torch.tensor(x), size, return_indices=True)
        np.testing.assert_array_equal(indices.data, expected[1].numpy())


@pytest.mark.parametrize("n, size", [(1, 3), (2, (3, 2)), (2, 5), (3, (3, None, 2))])
def test_adaptive_avg_pool_keeps_inf_and_nan_in_their_windows(n, size):
    """A matmul by the averaging matrices would spread them through the 0 weights (0·inf is NaN)."""
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).standard_normal((2, 2) + (7,) * n)
    x[(0, 0) + (1,) * n], x[(1, 1) + (0,) * n] = np.inf, np.nan
    fn = f"adaptive_avg_pool{n}d"
    against_torch(lambda t: getattr(F, fn)(t, size), lambda t: getattr(torch.nn.functional, fn)(t, size), [x])


def test_adaptive_avg_pool_of_integers_averages_in_floats():
    y = F.adaptive_avg_pool2d(ag.tensor(np.arange(16).reshape(1, 1, 4, 4)), 2)
    assert y.dtype.kind == "f" and y.tolist() == [[[[2.5, 4.5], [10.5, 12.5]]]]
