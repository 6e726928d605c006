"""F.pad, F.interpolate, F.max_unpool2d and their layers: gradchecks, PyTorch agreement (values and gradients on
random shapes and options), errors."""
import numpy as np
import pytest

import autograd as ag
import nn
import nn.functional as F

from helpers import against_torch, gradcheck_and_torch, raises, torch_fn

rng = np.random.default_rng(3)

PADS = [  # input shape, pad
    ((2, 3, 5), (2, 1)),
    ((1, 2, 4, 5), (1, 3, 2, 0)),
    ((2, 1, 3, 4), (0, 3, 2, 2)),
    ((1, 2, 3, 4, 5), (1, 1, 0, 2, 2, 1)),
]


@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("shape, pad", PADS)
def test_pad_matches_torch_with_gradcheck(shape, pad, mode):
    gradcheck_and_torch(lambda x: F.pad(x, pad, mode), lambda x: torch_fn("nn.functional.pad")(x, pad, mode),
                        rng.standard_normal(shape))


@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate", "circular"])
def test_negative_widths_crop_first(mode):
    gradcheck_and_torch(lambda x: F.pad(x, (-1, 2, 1, -2), mode),
                        lambda x: torch_fn("nn.functional.pad")(x, (-1, 2, 1, -2), mode), rng.standard_normal((2, 4, 5)))


def test_only_constant_mode_takes_a_value():
    x = ag.randn(1, 2, 3)
    np.testing.assert_array_equal(F.pad(x, (1, 1), "reflect", None).data, F.pad(x, (1, 1), "reflect", 0.0).data)
    np.testing.assert_array_equal(F.pad(x, (1, 0), value=None).data[..., 0], 0.0)


def test_constant_pad_takes_a_value():
    gradcheck_and_torch(lambda x: F.pad(x, (2, 1, 0, 1), value=1.5),
                        lambda x: torch_fn("nn.functional.pad")(x, (2, 1, 0, 1), value=1.5), rng.standard_normal((3, 4)))


def test_reflect_pad_copies_each_mirrored_value_and_sums_its_gradients():
    x = ag.tensor(np.arange(4.0), requires_grad=True)
    y = F.pad(x, (3, 2), "reflect")
    np.testing.assert_array_equal(y.data, [3, 2, 1, 0, 1, 2, 3, 2, 1])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.data, [1, 3, 3, 2])


@pytest.mark.parametrize("call, message", [
    (lambda x: F.pad(x, (1, 2, 3)), "pad: pad must hold an even number of ints (a before and an after per axis), "
                                    "got 3: (1, 2, 3)"),
    (lambda x: F.pad(x, (1,) * 8), "pad: pad (1, 1, 1, 1, 1, 1, 1, 1) pads 4 axes, the input has only 3"),
    (lambda x: F.pad(x, 1), "pad: pad must be a tuple of ints (left, right, top, bottom, …), got 1"),
    (lambda x: F.pad(x, (1, 1), "edge"), "pad: mode must be one of constant, reflect, replicate, circular, got 'edge'"),
    (lambda x: F.pad(x, (4, 0), "reflect"), "pad: mode 'reflect' needs widths less than the size 4 of axis 2 "
                                            "(after any cropping: shape (1, 3, 4)), got (4, 0)"),
    (lambda x: F.pad(x, (0, 0, 0, 4), "circular"), "pad: mode 'circular' needs widths at most the size 3 of axis 1 "
                                                   "(after any cropping: shape (1, 3, 4)), got (0, 4)"),
    (lambda x: F.pad(x, (-4, 1), "replicate"), "pad: mode 'replicate' needs values to copy in axis 2 (after any "
                                               "cropping: shape (1, 3, 0)), got (0, 1)"),
    (lambda x: F.pad(x, (-3, -2)), "pad: widths (-3, -2) crop more than the 4 values of axis 2"),
    (lambda x: F.pad(x, (1, 0), "reflect", 2.0), "pad: value=2.0 is only used by mode 'constant', got mode 'reflect'"),
])
def test_pad_errors_name_what_was_expected(call, message):
    with raises(ValueError, message):
        call(ag.randn(1, 3, 4))


INTERPOLATIONS = [  # input shape, size, scale_factor
    ((2, 3, 4, 5), (7, 3), None),
    ((1, 2, 5, 3), None, 2),
    ((1, 1, 6, 7), None, (1.5, 0.6)),
    ((2, 1, 3, 4), 4, None),
    ((1, 2, 9, 8), (3, 5), None),
    ((1, 1, 10, 5), None, 2.05),
]


@pytest.mark.parametrize("shape, size, scale_factor", INTERPOLATIONS)
@pytest.mark.parametrize("mode, align_corners", [("nearest", None), ("bilinear", False), ("bilinear", True)])
def test_interpolate_2d_matches_torch_with_gradcheck(shape, size, scale_factor, mode, align_corners):
    gradcheck_and_torch(lambda x: F.interpolate(x, size, scale_factor, mode, align_corners),
                        lambda x: torch_fn("nn.functional.interpolate")(x, size, scale_factor, mode, align_corners),
                        rng.standard_normal(shape))


@pytest.mark.parametrize("mode, shape, size, scale_factor", [
    ("nearest", (2, 3, 7), 11, None), ("linear", (2, 3, 7), None, 1.7), ("linear", (1, 2, 8), 3, None),
    ("nearest", (1, 2, 3, 4, 2), None, (2, 0.5, 1.5)), ("trilinear", (1, 2, 3, 4, 2), (2, 5, 3), None),
])
@pytest.mark.parametrize("align_corners", [False, True])
def test_interpolate_1d_and_3d_match_torch(mode, shape, size, scale_factor, align_corners):
    corners = None if mode == "nearest" else align_corners
    gradcheck_and_torch(lambda x: F.interpolate(x, size, scale_factor, mode, corners),
                        lambda x: torch_fn("nn.functional.interpolate")(x, size, scale_factor, mode, corners),
                        rng.standard_normal(shape))


def test_nearest_picks_the_same_source_pixels_as_torch_for_every_size_up_to_40():
    torch = pytest.importorskip("torch")
    for n_in in range(1, 41):
        x = np.arange(n_in, dtype=np.float32).reshape(1, 1, n_in)
        for n_out in range(1, 41):
            ours = F.interpolate(ag.tensor(x), n_out).data
            np.testing.assert_array_equal(ours, torch.nn.functional.interpolate(torch.tensor(x), n_out).numpy())


def test_nearest_keeps_integer_dtypes():
    x = ag.tensor(np.arange(6).reshape(1, 1, 2, 3))
    y = F.interpolate(x, scale_factor=2)
    assert y.dtype == np.int64 and y.shape == (1, 1, 4, 6)
    np.testing.assert_array_equal(y.data[0, 0, :2], [[0, 0, 1, 1, 2, 2]] * 2)


@pytest.mark.parametrize("call, exc, message", [
    (lambda x: F.interpolate(x, 4, 2), ValueError, "interpolate: give exactly one of size and scale_factor, got "
                                                   "size=4, scale_factor=2"),
    (lambda x: F.interpolate(x), ValueError, "interpolate: give exactly one of size and scale_factor, got "
                                             "size=None, scale_factor=None"),
    (lambda x: F.interpolate(x, 4, mode="linear"), ValueError, "interpolate: mode 'linear' expects a 3-D (N, C, L) "
                                                               "input, got shape (1, 2, 3, 3)"),
    (lambda x: F.interpolate(x, 4, mode="bicubic"), ValueError, "interpolate: mode must be 'nearest', 'linear', "
                                                                "'bilinear' or 'trilinear', got 'bicubic'"),
    (lambda x: F.interpolate(x, 4, align_corners=True), ValueError, "interpolate: align_corners only goes with the "
                                                                    "linear modes (linear, bilinear, trilinear), got "
                                                                    "align_corners=True with mode 'nearest'"),
    (lambda x: F.interpolate(x, (4, 4, 4)), ValueError, "interpolate: size must be a positive int or 2 positive ints "
                                                        "for input shape (1, 2, 3, 3), got (4, 4, 4)"),
    (lambda x: F.interpolate(x, scale_factor=0.2), ValueError, "interpolate: scale_factor 0.2 shrinks input "
                                                               "(1, 2, 3, 3) to an empty output (0, 0)"),
    (lambda x: F.interpolate(ag.tensor(x.data.astype(np.int64)), 4, mode="bilinear"), TypeError, "interpolate: mode 'bilinear' needs a float "
                                                                       "input, got dtype int64"),
])
def test_interpolate_errors_name_what_was_expected(call, exc, message):
    with raises(exc, message):
        call(ag.randn(1, 2, 3, 3))


UNPOOLS = [  # input shape, kernel_size, stride, padding: windows that do not overlap (overlaps: the next test)
    ((2, 3, 6, 6), 2, None, 0),
    ((1, 2, 7, 5), 3, 3, 1),
    ((2, 1, 6, 7), (2, 3), (3, 3), (1, 0)),
]


@pytest.mark.parametrize("shape, kernel, stride, padding", UNPOOLS)
def test_max_unpool2d_matches_torch_with_gradcheck(shape, kernel, stride, padding):
    torch = pytest.importorskip("torch")
    pooled, indices = torch.nn.functional.max_pool2d(torch.tensor(rng.standard_normal(shape)), kernel, stride,
                                                     padding, return_indices=True)
    size = shape[2:]
    gradcheck_and_torch(lambda x, i: F.max_unpool2d(x, i, kernel, stride, padding, size),
                        lambda x, i: torch.nn.functional.max_unpool2d(x, i, kernel, stride, padding, size),
                        pooled.numpy(), indices.numpy())


def test_max_unpool2d_averages_copies_that_share_a_place():
    torch = pytest.importorskip("torch")
    pooled, indices = torch.nn.functional.max_pool2d(torch.tensor(rng.standard_normal((1, 1, 5, 5))), 3, 1,
                                                     return_indices=True)
    x = ag.tensor(pooled.numpy(), requires_grad=True)
    assert ag.gradcheck(lambda x: F.max_unpool2d(x, indices.numpy(), 3, 1), [x])
    y = F.max_unpool2d(x, indices.numpy(), 3, 1)
    np.testing.assert_array_equal(y.data, torch.nn.functional.max_unpool2d(pooled, indices, 3, 1).numpy())
    y.sum().backward()
    counts = np.bincount(indices.numpy().ravel(), minlength=25)[indices.numpy()]
    np.testing.assert_allclose(x.grad.data, 1.0 / counts)


@pytest.mark.parametrize("call, exc, message", [
    (lambda x, i: F.max_unpool2d(x, i[..., :1], 2), ValueError, "max_unpool2d: indices must have the input's shape "
                                                                "(1, 1, 2, 2), got (1, 1, 2, 1)"),
    (lambda x, i: F.max_unpool2d(x, i + 16, 2), IndexError, "max_unpool2d: index 16 is out of range for an output "
                                                            "plane of 4×4 = 16 values"),
    (lambda x, i: F.max_unpool2d(x, i * 1.0, 2), TypeError, "max_unpool2d: indices must be integers, got dtype "
                                                            "float64"),
    (lambda x, i: F.max_unpool2d(x, i, 2, output_size=(6, 4)), ValueError,
     "max_unpool2d: output_size must be (OH, OW) or (N, C, OH, OW) with OH, OW in 3…5, 3…5 for input size (2, 2) "
     "(H, W), kernel (2, 2), stride (2, 2), padding (0, 0); got (6, 4)"),
    (lambda x, i: F.max_unpool2d(x[0], i[0], 2, output_size=(6, 4)), ValueError,  # one example: the same sizes
     "max_unpool2d: output_size must be (OH, OW) or (N, C, OH, OW) with OH, OW in 3…5, 3…5 for input size (2, 2) "
     "(H, W), kernel (2, 2), stride (2, 2), padding (0, 0); got (6, 4)"),
    (lambda x, i: F.max_unpool2d(x[0, 0], i[0, 0], 2), ValueError, "max_unpool2d: expected input of shape "
                                                                   "(N, C, H, W) or (C, H, W), got shape (2, 2) (2 "
                                                                   "dimensions)"),
])
def test_max_unpool2d_errors_name_what_was_expected(call, exc, message):
    with raises(exc, message):
        call(ag.randn(1, 1, 2, 2), np.zeros((1, 1, 2, 2), np.int64))


def test_layers_match_torch():
    torch = pytest.importorskip("torch")
    x, x1 = rng.standard_normal((2, 3, 4, 5)), rng.standard_normal((2, 3, 5))
    against_torch(nn.ReflectionPad1d((3, 1)), torch.nn.ReflectionPad1d((3, 1)), [x1])
    against_torch(nn.ReplicationPad1d(2), torch.nn.ReplicationPad1d(2), [x1])
    pairs = [
        (nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True),
         torch.nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True)),
        (nn.Upsample(size=(3, 7)), torch.nn.Upsample(size=(3, 7))),
        (nn.ConstantPad2d((1, 0, 2, 1), 0.5), torch.nn.ConstantPad2d((1, 0, 2, 1), 0.5)),
        (nn.ZeroPad2d(2), torch.nn.ZeroPad2d(2)),
        (nn.ReflectionPad2d(2), torch.nn.ReflectionPad2d(2)),
        (nn.ReplicationPad2d((0, 1, 2, 3)), torch.nn.ReplicationPad2d((0, 1, 2, 3))),
        (nn.CircularPad2d(1), torch.nn.CircularPad2d(1)),
    ]
    for ours, theirs in pairs:
        against_torch(ours, theirs, [x])
    pooled, indices = torch.nn.functional.max_pool2d(torch.tensor(x), 2, return_indices=True)
    against_torch(lambda v: nn.MaxUnpool2d(2)(v, indices.numpy(), (4, 5)),
                  lambda v: torch.nn.MaxUnpool2d(2)(v, indices, (4, 5)), [pooled.numpy()])


def test_layer_reprs_show_their_options():
    assert repr(nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)) == \
        "Upsample(scale_factor=2.0, mode='bilinear', align_corners=False)"  # floats, as PyTorch keeps them
    assert repr(nn.ConstantPad2d(1, 0.5)) == "ConstantPad2d(padding=(1, 1, 1, 1), value=0.5)"
    assert repr(nn.MaxUnpool2d(2)) == "MaxUnpool2d(kernel_size=2, stride=2, padding=0)"
    with raises(ValueError, "ReflectionPad2d: padding must be an int or 4 ints, got (1, 2)"):
        nn.ReflectionPad2d((1, 2))


def test_second_derivatives_pass_through_pad_and_interpolate():
    x = ag.tensor(rng.standard_normal((1, 2, 3, 4)), requires_grad=True)
    assert ag.gradgradcheck(lambda x: F.pad(F.interpolate(x, scale_factor=1.5, mode="bilinear"), (1, 2, 2, 1),
                                            "reflect") ** 2, [x])


def test_float32_bilinear_stays_float32_and_close_to_torch():
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((2, 3, 5, 7)).astype(np.float32)
    y = F.interpolate(ag.tensor(x), (8, 4), mode="bilinear")
    assert y.dtype == np.float32
    expected = torch.nn.functional.interpolate(torch.tensor(x), (8, 4), mode="bilinear").numpy()
    np.testing.assert_allclose(y.data, expected, rtol=1e-5, atol=1e-6)


def test_max_unpool2d_takes_output_size_with_or_without_batch_and_channels():
    x, i = ag.randn(1, 2, 2, 2), np.zeros((1, 2, 2, 2), np.int64)
    assert F.max_unpool2d(x, i, 2, output_size=(1, 2, 5, 4)).shape == (1, 2, 5, 4)
    assert F.max_unpool2d(x, i, 2, output_size=(4, 5)).shape == (1, 2, 4, 5)
