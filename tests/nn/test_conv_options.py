"""Convolution options: conv3d / conv_transpose3d, per-side (asymmetric) padding, and the layers' padding_mode,
each against PyTorch with gradients, plus gradchecks and the errors a user meets."""
import numpy as np
import pytest

import autograd as ag
import nn
import nn.functional as F

from helpers import against_torch, raises

rng = np.random.default_rng(13)


def leaf(*shape):
    return ag.tensor(rng.standard_normal(shape), requires_grad=True)


def arrays(*shapes):
    return [None if s is None else rng.standard_normal(s) for s in shapes]


# -- 3-d windows and conv3d ----------------------------------------------------------------------------------------
def test_unfold_and_fold_take_three_spatial_axes_and_stay_adjoint():
    x, c = leaf(2, 2, 4, 5, 3), leaf(2, 2, 2, 3, 2, 2, 3, 2)
    kwargs = dict(kernel_size=(2, 3, 2), stride=(1, 2, 1), padding=(0, 1, 0), dilation=(2, 1, 1))
    cols = ag.unfold(x, **kwargs)
    assert cols.shape == c.shape
    back = ag.fold(c, (4, 5, 3), **kwargs)
    np.testing.assert_allclose(np.vdot(cols.data, c.data), np.vdot(x.data, back.data), rtol=1e-12)
    assert ag.gradcheck(lambda x: ag.unfold(x, **kwargs), [leaf(1, 1, 4, 5, 3)])


CONV3D = [  # x shape, w shape, bias, kwargs
    ((2, 3, 4, 5, 6), (4, 3, 2, 3, 3), True, {}),
    ((1, 4, 5, 6, 7), (6, 2, 3, 2, 3), True, dict(stride=(2, 1, 3), padding=(1, 0, 2), dilation=(1, 2, 1), groups=2)),
    ((2, 2, 4, 4, 5), (3, 2, 2, 3, 2), False, dict(padding="same")),
    ((1, 2, 3, 5, 4), (2, 2, 3, 3, 3), True, dict(padding=((1, 0), (2, 1), (0, 2)), stride=2)),
]


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
@pytest.mark.parametrize("xs, ws, bias, kwargs", CONV3D)
def test_conv3d_matches_torch(xs, ws, bias, kwargs):
    torch = pytest.importorskip("torch")
    pads = kwargs.get("padding")
    if isinstance(pads, tuple) and isinstance(pads[0], tuple):  # PyTorch: pad first (last axis first), then conv
        flat = tuple(p for pair in reversed(pads) for p in pair)
        theirs = lambda x, w, b: torch.nn.functional.conv3d(torch.nn.functional.pad(x, flat), w, b,
                                                            **{**kwargs, "padding": 0})
    else:
        theirs = lambda x, w, b: torch.nn.functional.conv3d(x, w, b, **kwargs)
    against_torch(lambda x, w, b: F.conv3d(x, w, b, **kwargs), theirs, arrays(xs, ws, (ws[0],) if bias else None))


def test_conv3d_gradcheck_and_second_derivatives():
    x, w, b = leaf(1, 2, 3, 4, 3), leaf(2, 1, 2, 2, 2), leaf(2)
    assert ag.gradcheck(lambda x, w, b: F.conv3d(x, w, b, stride=(1, 2, 1), padding=1, groups=2), [x, w, b])
    assert ag.gradgradcheck(lambda x, w: F.conv3d(x, w, padding=(0, 1, 0), groups=2), [leaf(1, 2, 2, 3, 2), leaf(2, 1, 2, 2, 1)])


def test_conv3d_float32_stays_float32_and_matches_conv2d_on_depth_one():
    x = ag.tensor(rng.standard_normal((2, 3, 1, 6, 5)).astype(np.float32))
    w = ag.tensor(rng.standard_normal((4, 3, 1, 3, 3)).astype(np.float32))
    y = F.conv3d(x, w, padding=(0, 1, 1))
    assert y.dtype == np.float32
    np.testing.assert_allclose(y.data[:, :, 0], F.conv2d(x[:, :, 0], w[:, :, 0], padding=1).data, rtol=1e-5,
                               atol=1e-5)


@pytest.mark.parametrize("xs, ws, kwargs", [
    ((2, 4, 3, 4, 3), (4, 3, 2, 3, 2), dict(stride=(2, 1, 2), padding=(1, 0, 1), output_padding=(1, 0, 0))),
    ((1, 6, 2, 3, 2), (6, 2, 3, 2, 2), dict(groups=3, dilation=(1, 2, 1), stride=2)),
])
def test_conv_transpose3d_matches_torch(xs, ws, kwargs):
    torch = pytest.importorskip("torch")
    against_torch(lambda x, w, b: F.conv_transpose3d(x, w, b, **kwargs),
                  lambda x, w, b: torch.nn.functional.conv_transpose3d(x, w, b, **kwargs),
                  arrays(xs, ws, (ws[1] * kwargs.get("groups", 1),)))


@pytest.mark.parametrize("n, xs, ws, kwargs", [
    (1, (2, 4, 5), (4, 2, 3), dict(dilation=3, output_padding=2)),  # output_padding ≥ stride: zeros past the windows
    (1, (2, 4, 5), (4, 2, 3), dict(padding=1, dilation=3, output_padding=2, groups=2)),
    (2, (1, 2, 4, 3), (2, 3, 3, 2), dict(stride=(2, 1), padding=(1, 0), dilation=(3, 2), output_padding=(2, 1))),
    (3, (1, 2, 3, 3, 2), (2, 1, 2, 2, 2), dict(stride=2, padding=1, dilation=2, output_padding=1)),
])
def test_conv_transpose_output_padding_up_to_the_dilation_matches_torch(n, xs, ws, kwargs):
    """PyTorch allows output_padding < max(stride, dilation): the extra rows lie past the last window."""
    torch = pytest.importorskip("torch")
    ours, theirs = getattr(F, f"conv_transpose{n}d"), getattr(torch.nn.functional, f"conv_transpose{n}d")
    against_torch(lambda x, w, b: ours(x, w, b, **kwargs), lambda x, w, b: theirs(x, w, b, **kwargs),
                  arrays(xs, ws, (ws[1] * kwargs.get("groups", 1),)))


def test_conv_transpose3d_is_the_adjoint_of_conv3d():
    x, w, g = (rng.standard_normal(s) for s in ((2, 3, 5, 4, 6), (4, 3, 3, 2, 3), (2, 4, 3, 3, 3)))
    kwargs = dict(stride=2, padding=1)
    y = F.conv3d(ag.tensor(x), ag.tensor(w), **kwargs)
    back = F.conv_transpose3d(ag.tensor(g), ag.tensor(w), output_padding=(0, 0, 1), **kwargs)
    assert back.shape == x.shape
    np.testing.assert_allclose(np.vdot(y.data, g), np.vdot(x, back.data), rtol=1e-12)


@pytest.mark.parametrize("kwargs", [
    dict(stride=2, padding=1, output_padding=1),
    dict(stride=3, padding=2, output_padding=2, groups=2, dilation=2),
    dict(stride=3, dilation=2, output_padding=2, bias=False),
])
def test_conv_transpose1d_layer_gradcheck(kwargs):
    """The layer's input, weight and bias gradients (the PyTorch comparisons are in test_modules/torch_bridge)."""
    layer = nn.ConvTranspose1d(4, 2, 3, **kwargs).double()
    x = leaf(2, 4, 5)
    assert layer(x).shape[2] == (5 - 1) * layer.stride[0] - 2 * layer.padding[0] + layer.dilation[0] * 2 + \
        layer.output_padding[0] + 1
    assert ag.gradcheck(lambda x, *params: layer(x), [x, *layer.parameters()])


def test_conv3d_and_conv3d_layer_errors_name_the_shapes():
    with raises(ValueError, "conv3d: expected input of shape (N, C, D, H, W) or (C, D, H, W), got shape (3, 4, 4) "
                            "(3 dimensions)"):
        F.conv3d(leaf(3, 4, 4), leaf(2, 3, 1, 1, 1))
    with raises(ValueError, "conv3d: expected weight of shape (K, C/groups, KD, KH, KW), got shape (2, 3, 1, 1) "
                            "(4 dimensions)"):
        F.conv3d(leaf(1, 3, 2, 2, 2), leaf(2, 3, 1, 1))
    with raises(ValueError, "Conv3d(3, 2, kernel_size=1): expected a 5-D input (N, C, D, H, W) or a 4-D one "
                            "(C, D, H, W), got shape (3, 2, 2)"):
        nn.Conv3d(3, 2, 1)(leaf(3, 2, 2))


# -- per-side padding ------------------------------------------------------------------------------------------------
ASYMMETRIC = [  # x shape, w shape, padding ((before, after) per axis), kwargs
    ((2, 3, 6, 7), (4, 3, 3, 2), ((0, 2), (3, 1)), dict(stride=2)),
    ((1, 4, 5, 5), (4, 2, 3, 3), ((2, 1), (0, 1)), dict(dilation=(2, 1), groups=2)),
    ((2, 2, 4, 3), (3, 2, 2, 2), ((1, 0), (0, 0)), {}),
    ((2, 3, 7), (4, 3, 3), ((2, 0),), dict(stride=2)),
]


@pytest.mark.parametrize("xs, ws, padding, kwargs", ASYMMETRIC)
def test_per_side_padding_is_torch_pad_then_convolution(xs, ws, padding, kwargs):
    torch = pytest.importorskip("torch")
    ours, theirs = (F.conv1d, torch.nn.functional.conv1d) if len(xs) == 3 else (F.conv2d, torch.nn.functional.conv2d)
    flat = tuple(p for pair in reversed(padding) for p in pair)  # F.pad's order: last axis first
    against_torch(lambda x, w, b: ours(x, w, b, padding=padding, **kwargs),
                  lambda x, w, b: theirs(torch.nn.functional.pad(x, flat), w, b, **kwargs),
                  arrays(xs, ws, (ws[0],)))


def test_per_side_padding_gradchecks_and_equals_symmetric_padding_when_sides_agree():
    x, w = leaf(1, 2, 4, 3), leaf(3, 2, 2, 2)
    assert ag.gradcheck(lambda x, w: F.conv2d(x, w, padding=((1, 0), (2, 1)), stride=(1, 2)), [x, w])
    np.testing.assert_array_equal(F.conv2d(x, w, padding=((1, 1), (2, 2))).data, F.conv2d(x, w, padding=(1, 2)).data)
    np.testing.assert_array_equal(F.conv1d(x[:, :, 0], w[:, :, 0], padding=[[1, 2]]).data,
                                  F.conv1d(F.pad(x[:, :, 0], (1, 2)), w[:, :, 0]).data)


@pytest.mark.parametrize("padding", [((1, 2), 3), ((1, 2, 3), (1, 1)), ((1, 2),), ((1, -1), (0, 0)),
                                     ((1.5, 1), (0, 0)), ((1, 2), (0, 0), (0, 0))])
def test_malformed_per_side_padding_says_what_it_expects(padding):
    with raises(ValueError, "conv2d: padding per side must be 2 (before, after) pairs of ints ≥ 0, "
                            f"((top, bottom), (left, right)), got {padding!r}"):
        F.conv2d(leaf(1, 1, 4, 4), leaf(1, 1, 2, 2), padding=padding)


def test_per_side_padding_too_small_for_the_kernel_names_the_padded_size():
    with raises(ValueError, "conv2d: kernel (4, 3) (dilation (1, 1), spanning (4, 3)) is larger than the padded "
                            "input (3, 6) (input (2, 4), padding ((1, 0), (1, 1)))"):
        F.conv2d(leaf(1, 1, 2, 4), leaf(1, 1, 4, 3), padding=((1, 0), (1, 1)))


# -- padding_mode ----------------------------------------------------------------------------------------------------
def layer_against_torch(layer, x):
    """The layer (in float64) and its PyTorch twin agree: output, input gradient and parameter gradients."""
    torch = pytest.importorskip("torch")
    layer = layer.double()
    twin = nn.to_torch(layer)
    xs, xt = ag.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y, yt = layer(xs), twin(xt)
    np.testing.assert_allclose(y.data, yt.detach().numpy(), rtol=1e-10, atol=1e-12)
    g = rng.standard_normal(y.shape)
    y.backward(ag.tensor(g))
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(xs.grad.data, xt.grad.numpy(), rtol=1e-10, atol=1e-12)
    for (name, p), (_, pt) in zip(layer.named_parameters(), twin.named_parameters()):
        np.testing.assert_allclose(p.grad.data, pt.grad.numpy(), rtol=1e-10, atol=1e-10, err_msg=name)


MODES = ["zeros", "reflect", "replicate", "circular"]
LAYERS = [  # layer class, x shape, kwargs
    (nn.Conv2d, (2, 4, 7, 6), dict(kernel_size=3, padding=2, stride=2)),
    (nn.Conv2d, (1, 4, 5, 8), dict(kernel_size=(3, 2), padding=(1, 3), dilation=(2, 1), groups=2)),
    (nn.Conv2d, (2, 2, 5, 6), dict(kernel_size=(4, 3), padding="same")),  # PyTorch: the odd row after
    (nn.Conv1d, (2, 2, 9), dict(kernel_size=3, padding=4, stride=3)),
    (nn.Conv3d, (1, 2, 3, 4, 5), dict(kernel_size=(2, 3, 3), padding=(1, 1, 2), stride=(1, 2, 1))),
]


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("cls, xs, kwargs", LAYERS)
def test_padding_mode_matches_torch(mode, cls, xs, kwargs):
    layer = cls(xs[1], 4, padding_mode=mode, **kwargs)
    layer_against_torch(layer, rng.standard_normal(xs))


@pytest.mark.parametrize("mode", MODES[1:])
def test_padding_mode_gradcheck(mode):
    layer = nn.Conv2d(2, 2, 3, padding=(2, 1), padding_mode=mode).double()
    assert ag.gradcheck(lambda x: layer(x), [leaf(1, 2, 3, 4)])


def test_padding_mode_is_in_the_repr_and_survives_the_torch_round_trip():
    layer = nn.Conv2d(3, 4, 3, padding=1, padding_mode="reflect")
    assert "padding_mode='reflect'" in repr(layer)
    assert "padding_mode" not in repr(nn.Conv2d(3, 4, 3, padding=1))
    pytest.importorskip("torch")
    assert nn.to_torch(layer).padding_mode == "reflect"
    assert nn.from_torch(nn.to_torch(layer)).padding_mode == "reflect"


def test_padding_mode_errors_name_the_sizes():
    with raises(ValueError, "Conv2d: padding_mode must be one of 'zeros', 'reflect', 'replicate', 'circular', "
                            "got 'mirror'"):
        nn.Conv2d(1, 1, 3, padding_mode="mirror")
    with raises(ValueError, "Conv2d(1, 1, kernel_size=3): padding_mode='reflect' needs padding smaller than the "
                            "input on every side, got padding ((3, 3), (3, 3)) for input size (3, 5)"):
        nn.Conv2d(1, 1, 3, padding=3, padding_mode="reflect")(leaf(1, 1, 3, 5))
    with raises(ValueError, "Conv1d(1, 1, kernel_size=3): padding_mode='circular' needs padding at most the "
                            "input size on every side, got padding ((3, 3),) for input size (2,)"):
        nn.Conv1d(1, 1, 3, padding=3, padding_mode="circular")(leaf(1, 1, 2))
    nn.Conv1d(1, 1, 3, padding=2, padding_mode="circular")(leaf(1, 1, 2))  # at most the size: fine


@pytest.mark.parametrize("make, message", [
    (lambda: nn.Conv2d(1, 1, (3, 3, 3)), "Conv2d: kernel_size must be an int or a tuple of 2 ints, got (3, 3, 3)"),
    (lambda: nn.Conv2d(1, 1, 3, stride=0), "Conv2d: stride must be ≥ 1, got 0"),
    (lambda: nn.Conv1d(1, 1, 3, padding=-1), "Conv1d: padding must be ≥ 0, got -1"),
    (lambda: nn.ConvTranspose2d(1, 1, 3, dilation=(1, 0)), "ConvTranspose2d: dilation must be ≥ 1, got (1, 0)"),
    (lambda: nn.Conv2d(1, 1, 0), "Conv2d: kernel_size must be ≥ 1, got 0"),
])
def test_a_conv_layer_with_bad_window_arguments_is_refused_when_made(make, message):
    with raises(ValueError, message):
        make()
