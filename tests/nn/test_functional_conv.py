"""nn.functional convolutions: gradchecks, PyTorch agreement, the adjoint relations, errors."""

import numpy as np
import pytest

import autograd as ag
import nn.functional as F

from helpers import against_torch, raises

rng = np.random.default_rng(0)


def leaf(*shape):
    return ag.tensor(rng.standard_normal(shape), requires_grad=True)


def arrays(*shapes):
    return [None if s is None else rng.standard_normal(s) for s in shapes]


# -- conv2d ---------------------------------------------------------------------------------------
CONV2D = [  # x shape, w shape, with bias, kwargs
    ((2, 3, 7, 6), (4, 3, 3, 3), True, {}),
    ((2, 3, 8, 7), (5, 3, 3, 2), True, dict(stride=2, padding=1)),
    ((1, 4, 9, 9), (6, 2, 3, 3), True, dict(groups=2, dilation=2, padding=2)),
    ((3, 2, 6, 5), (4, 2, 1, 1), False, dict(stride=(2, 3))),
    ((2, 3, 6, 7), (4, 3, 4, 3), True, dict(padding="same")),  # even kernel: asymmetric padding
    ((2, 6, 5, 5), (6, 1, 3, 3), True, dict(groups=6, padding="same", dilation=(1, 2))),  # depthwise
    ((2, 3, 5, 5), (4, 3, 5, 5), True, dict(padding="valid")),  # 1×1 output
    ((1, 2, 11, 10), (3, 2, 3, 4), True, dict(stride=(3, 2), padding=(2, 1), dilation=(2, 1))),
]


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
@pytest.mark.parametrize("xs, ws, bias, kwargs", CONV2D)
def test_conv2d_matches_torch(xs, ws, bias, kwargs):
    torch = pytest.importorskip("torch")
    against_torch(lambda x, w, b: F.conv2d(x, w, b, **kwargs),
                  lambda x, w, b: torch.nn.functional.conv2d(x, w, b, **kwargs),
                  arrays(xs, ws, (ws[0],) if bias else None))


@pytest.mark.parametrize("xs, ws, kwargs", [
    ((1, 2, 5, 4), (3, 2, 3, 3), {}),
    ((1, 2, 5, 6), (2, 2, 3, 2), dict(stride=2, padding=1)),
    ((1, 2, 4, 5), (2, 2, 2, 2), dict(padding="same")),
    ((1, 1, 6, 5), (2, 1, 2, 2), dict(dilation=2, stride=(1, 2))),
    ((1, 4, 3, 4), (4, 2, 2, 1), dict(groups=2, padding=(1, 0))),
    ((2, 2, 3, 3), (3, 2, 1, 1), {}),
])
def test_conv2d_gradcheck(xs, ws, kwargs):
    x, w, b = leaf(*xs), leaf(*ws), leaf(ws[0])
    assert ag.gradcheck(lambda x, w, b: F.conv2d(x, w, b, **kwargs), [x, w, b])


def test_conv2d_second_derivatives():
    x, w, b = leaf(1, 1, 3, 3), leaf(2, 1, 2, 2), leaf(2)
    assert ag.gradgradcheck(lambda x, w, b: F.conv2d(x, w, b, padding=1, stride=2), [x, w, b])


def test_conv2d_float32_stays_float32():
    x = ag.randn(2, 3, 6, 6, requires_grad=True)
    w = ag.randn(4, 3, 3, 3, requires_grad=True)
    y = F.conv2d(x, w, ag.zeros(4, requires_grad=True), padding=1)
    y.sum().backward()
    assert y.dtype == x.grad.dtype == w.grad.dtype == np.float32


def test_conv2d_graph_is_a_scope_cluster():
    x, w = leaf(1, 1, 4, 4), leaf(1, 1, 3, 3)
    y = F.conv2d(x, w)
    assert y.grad_fn.scope == ("conv2d",)


def test_conv_is_cross_correlation_and_flipping_gives_true_convolution():
    x, k = rng.standard_normal(9), rng.standard_normal(4)
    cross = F.conv1d(ag.tensor(x.reshape(1, 1, 9)), ag.tensor(k.reshape(1, 1, 4)))
    np.testing.assert_allclose(cross.data.ravel(), np.correlate(x, k, "valid"), atol=1e-12)
    true = F.conv1d(ag.tensor(x.reshape(1, 1, 9)), ag.tensor(k[::-1].copy().reshape(1, 1, 4)))
    np.testing.assert_allclose(true.data.ravel(), np.convolve(x, k, "valid"), atol=1e-12)


# -- conv1d ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("xs, ws, bias, kwargs", [
    ((2, 3, 9), (4, 3, 3), True, {}),
    ((2, 4, 10), (6, 2, 3), True, dict(stride=2, padding=1, groups=2)),
    ((1, 2, 8), (3, 2, 4), False, dict(padding="same", dilation=2)),
    ((3, 2, 5), (2, 2, 1), True, dict(stride=3)),
])
def test_conv1d_matches_torch(xs, ws, bias, kwargs):
    torch = pytest.importorskip("torch")
    against_torch(lambda x, w, b: F.conv1d(x, w, b, **kwargs),
                  lambda x, w, b: torch.nn.functional.conv1d(x, w, b, **kwargs),
                  arrays(xs, ws, (ws[0],) if bias else None))


def test_conv1d_gradcheck():
    x, w, b = leaf(2, 2, 7), leaf(4, 1, 3), leaf(4)
    assert ag.gradcheck(lambda x, w, b: F.conv1d(x, w, b, stride=2, padding=2, dilation=2, groups=2), [x, w, b])
    assert ag.gradcheck(lambda x, w, b: F.conv1d(x, w, b, padding="same"), [leaf(1, 2, 5), leaf(2, 2, 4), leaf(2)])


# -- conv_transpose -----------------------------------------------------------------------------------
CONV_T2D = [
    ((2, 3, 4, 5), (3, 4, 3, 3), True, {}),
    ((2, 4, 3, 4), (4, 2, 3, 2), True, dict(stride=2, padding=1, output_padding=1, groups=2)),
    ((1, 2, 3, 3), (2, 3, 2, 2), True, dict(stride=(2, 3), padding=(0, 1), output_padding=(1, 2), dilation=2)),
    ((2, 3, 3, 2), (3, 2, 1, 1), False, dict(stride=2)),
    ((1, 2, 5, 4), (2, 2, 4, 3), True, dict(padding=(2, 1), dilation=(1, 2))),
]


@pytest.mark.parametrize("xs, ws, bias, kwargs", CONV_T2D)
def test_conv_transpose2d_matches_torch(xs, ws, bias, kwargs):
    torch = pytest.importorskip("torch")
    K = ws[1] * kwargs.get("groups", 1)
    against_torch(lambda x, w, b: F.conv_transpose2d(x, w, b, **kwargs),
                  lambda x, w, b: torch.nn.functional.conv_transpose2d(x, w, b, **kwargs),
                  arrays(xs, ws, (K,) if bias else None))


def test_conv_transpose1d_matches_torch():
    torch = pytest.importorskip("torch")
    kwargs = dict(stride=3, padding=1, output_padding=2, groups=2, dilation=1)
    against_torch(lambda x, w, b: F.conv_transpose1d(x, w, b, **kwargs),
                  lambda x, w, b: torch.nn.functional.conv_transpose1d(x, w, b, **kwargs),
                  arrays((2, 4, 5), (4, 3, 3), (6,)))


@pytest.mark.parametrize("xs, ws, kwargs", [
    ((1, 2, 3, 3), (2, 2, 3, 3), dict(stride=2, padding=1, output_padding=1)),
    ((1, 4, 2, 3), (4, 1, 2, 2), dict(groups=2, dilation=2)),
    ((2, 2, 2, 2), (2, 3, 1, 1), dict(stride=(2, 1))),
])
def test_conv_transpose2d_gradcheck(xs, ws, kwargs):
    x, w, b = leaf(*xs), leaf(*ws), leaf(ws[1] * kwargs.get("groups", 1))
    assert ag.gradcheck(lambda x, w, b: F.conv_transpose2d(x, w, b, **kwargs), [x, w, b])


def test_conv_transpose2d_is_the_adjoint_of_conv2d():
    """conv_transpose2d(g, w) = ∂⟨conv2d(x, w), g⟩/∂x: same weight, same stride and padding."""
    x, w = leaf(2, 3, 7, 7), ag.tensor(rng.standard_normal((4, 3, 3, 3)))
    y = F.conv2d(x, w, stride=2, padding=1)
    g = ag.tensor(rng.standard_normal(y.shape))
    y.backward(g)
    np.testing.assert_allclose(F.conv_transpose2d(g, w, stride=2, padding=1).data, x.grad.data, atol=1e-12)


# -- locally connected ---------------------------------------------------------------------------------
def locally_connected_reference(torch, x, w, b, stride, padding):
    """Independent reference: torch's unfold, then one dot product per output position."""
    OH, OW, K = w.shape[:3]
    cols = torch.nn.functional.unfold(x, w.shape[4:], padding=padding, stride=stride)  # (N, C·KH·KW, L)
    y = torch.einsum("lkj,njl->nkl", w.reshape(OH * OW, K, -1), cols).reshape(x.shape[0], K, OH, OW)
    return y if b is None else y + b


@pytest.mark.parametrize("xs, kernel, K, stride, padding, bias", [
    ((2, 3, 5, 6), (3, 2), 4, 1, 0, True),
    ((1, 2, 7, 6), (3, 3), 3, (2, 1), 1, True),
    ((2, 2, 4, 4), (1, 1), 2, 1, 0, False),
])
def test_locally_connected2d_matches_torch_reference(xs, kernel, K, stride, padding, bias):
    torch = pytest.importorskip("torch")
    s = (stride, stride) if isinstance(stride, int) else stride
    OH = (xs[2] + 2 * padding - kernel[0]) // s[0] + 1
    OW = (xs[3] + 2 * padding - kernel[1]) // s[1] + 1
    ws = (OH, OW, K, xs[1]) + kernel
    against_torch(lambda x, w, b: F.locally_connected2d(x, w, b, stride=stride, padding=padding),
                  lambda x, w, b: locally_connected_reference(torch, x, w, b, stride, padding),
                  arrays(xs, ws, (K, OH, OW) if bias else None))


def test_locally_connected2d_gradcheck():
    x, w, b = leaf(1, 2, 4, 4), leaf(2, 2, 2, 2, 2, 3), leaf(2, 2, 2)
    assert ag.gradcheck(lambda x, w, b: F.locally_connected2d(x, w, b, stride=2, padding=(0, 1)), [x, w, b])


def test_locally_connected2d_with_shared_weights_is_conv2d():
    x, w = ag.tensor(rng.standard_normal((2, 3, 6, 5))), rng.standard_normal((4, 3, 3, 3))
    shared = ag.tensor(np.broadcast_to(w, (3, 3, 4, 3, 3, 3)).copy())
    np.testing.assert_allclose(F.locally_connected2d(x, shared, stride=2, padding=1).data,
                               F.conv2d(x, ag.tensor(w), stride=2, padding=1).data, atol=1e-12)


# -- errors --------------------------------------------------------------------------------------------
def test_conv2d_channel_mismatch_message():
    with raises(ValueError, "conv2d: weight expects 3 input channels (groups=1), input has 1"):
        F.conv2d(ag.zeros(2, 1, 8, 8), ag.zeros(6, 3, 5, 5))
    with raises(ValueError, "conv2d: weight expects 4 input channels (groups=2), input has 6"):
        F.conv2d(ag.zeros(2, 6, 8, 8), ag.zeros(4, 2, 3, 3), groups=2)


def test_conv_rank_errors():
    with raises(ValueError, "conv2d: expected input of shape (N, C, H, W) or (C, H, W), got shape (8, 8)"):
        F.conv2d(ag.zeros(8, 8), ag.zeros(6, 3, 5, 5))
    with raises(ValueError, "conv2d: expected weight of shape (K, C/groups, KH, KW), got shape (6, 3, 5)"):
        F.conv2d(ag.zeros(1, 3, 8, 8), ag.zeros(6, 3, 5))
    with raises(ValueError, "conv1d: expected input of shape (N, C, L) or (C, L), got shape (1, 3, 8, 8)"):
        F.conv1d(ag.zeros(1, 3, 8, 8), ag.zeros(6, 3, 5))


def test_conv_kernel_larger_than_padded_input():
    with raises(ValueError, "conv2d: kernel (7, 5) (dilation (1, 1), spanning (7, 5)) is larger than the padded "
                            "input (5, 5) (input (3, 3), padding ((1, 1), (1, 1)))"):
        F.conv2d(ag.zeros(1, 1, 3, 3), ag.zeros(1, 1, 7, 5), padding=1)
    with raises(ValueError, "spanning (5, 3)"):
        F.conv2d(ag.zeros(1, 1, 4, 4), ag.zeros(1, 1, 3, 2), dilation=2)


def test_conv_bad_arguments():
    x, w = ag.zeros(1, 4, 6, 6), ag.zeros(6, 4, 3, 3)
    with raises(ValueError, "conv2d: stride must be ≥ 1, got 0"):
        F.conv2d(x, w, stride=0)
    with raises(ValueError, "conv2d: stride must be ≥ 1, got (1, -1)"):
        F.conv2d(x, w, stride=(1, -1))
    with raises(ValueError, "conv2d: padding must be ≥ 0, got -1"):
        F.conv2d(x, w, padding=-1)
    with raises(ValueError, "conv2d: dilation must be an int or a tuple of 2 ints, got (1, 1, 1)"):
        F.conv2d(x, w, dilation=(1, 1, 1))
    with raises(ValueError, "conv2d: groups=3 must divide the 4 input channels"):
        F.conv2d(x, w, groups=3)
    with raises(ValueError, "conv2d: groups=4 must divide the 6 output channels of the weight"):
        F.conv2d(x, ag.zeros(6, 1, 3, 3), groups=4)
    with raises(ValueError, "conv2d: padding='same' needs stride 1, got stride (2, 2)"):
        F.conv2d(x, w, stride=2, padding="same")
    with raises(ValueError, "conv2d: padding must be an int, a tuple, 'same' or 'valid', got 'full'"):
        F.conv2d(x, w, padding="full")
    with raises(ValueError, "conv2d: bias expects shape (6,), got (4,)"):
        F.conv2d(x, w, ag.zeros(4))


def test_conv_transpose_errors():
    with raises(ValueError, "conv_transpose2d: weight expects 4 input channels, input has 3"):
        F.conv_transpose2d(ag.zeros(1, 3, 4, 4), ag.zeros(4, 2, 3, 3))
    with raises(ValueError, "conv_transpose2d: output_padding (2, 2) must be smaller than stride (2, 2) or "
                            "dilation (1, 1)"):
        F.conv_transpose2d(ag.zeros(1, 4, 4, 4), ag.zeros(4, 2, 3, 3), stride=2, output_padding=2)
    with raises(ValueError, "conv_transpose2d: output size (-1, -1) is not positive"):
        F.conv_transpose2d(ag.zeros(1, 4, 1, 1), ag.zeros(4, 2, 1, 1), padding=1)
    with raises(ValueError, "conv_transpose2d: groups=3 must divide the 4 input channels"):
        F.conv_transpose2d(ag.zeros(1, 4, 2, 2), ag.zeros(4, 2, 1, 1), groups=3)


def test_locally_connected2d_errors():
    with raises(ValueError, "locally_connected2d: weight is laid out for a 5×5 output grid, but input (8, 8) "
                            "with kernel (3, 3), stride (1, 1), padding (0, 0) gives 6×6"):
        F.locally_connected2d(ag.zeros(1, 2, 8, 8), ag.zeros(5, 5, 4, 2, 3, 3))
    with raises(ValueError, "locally_connected2d: weight expects 3 input channels, input has 2"):
        F.locally_connected2d(ag.zeros(1, 2, 8, 8), ag.zeros(6, 6, 4, 3, 3, 3))
    with raises(ValueError, "locally_connected2d: bias expects shape (4, 6, 6), got (4,)"):
        F.locally_connected2d(ag.zeros(1, 2, 8, 8), ag.zeros(6, 6, 4, 2, 3, 3), ag.zeros(4))


# -- layouts: wide, chunks of n images (with zero images padding the last chunk), one image per chunk -------------
LAYOUT_CASES = [  # x shape, w shape, kwargs
    ((5, 3, 9, 8), (4, 3, 3, 3), dict(padding=1)),
    ((7, 4, 8, 11), (6, 2, 3, 2), dict(padding=(2, 1), dilation=(2, 1), groups=2)),
    ((3, 2, 10, 7), (5, 2, 4, 3), dict(stride=(2, 1), padding=1)),
    ((6, 3, 7, 7), (2, 3, 1, 1), {}),
    ((4, 6, 9, 10), (6, 1, 3, 3), dict(padding="same", groups=6)),
]
LAYOUTS = {  # module settings that force each layout
    "wide": dict(WIDE_EXTRA=100.0, CHUNK_POSITIONS=1),
    "one_chunk": dict(WIDE_EXTRA=-1.0, CHUNK_BYTES=1 << 30),
    "chunks_of_2": dict(WIDE_EXTRA=-1.0, CHUNK_BYTES=None),  # filled in per case: two images' columns
    "per_image": dict(WIDE_EXTRA=-1.0, CHUNK_BYTES=1),
}


def image_bytes(xs, ws, kwargs):
    """The float64 columns of one image for this conv."""
    y = F.conv2d(ag.zeros(1, *xs[1:], dtype=np.float64), ag.zeros(*ws, dtype=np.float64), **kwargs)
    return xs[1] * ws[2] * ws[3] * y.shape[2] * y.shape[3] * 8


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("xs, ws, kwargs", LAYOUT_CASES)
def test_every_conv_layout_matches_torch(monkeypatch, layout, xs, ws, kwargs):
    torch = pytest.importorskip("torch")
    settings = dict(LAYOUTS[layout])
    if settings.get("CHUNK_BYTES", 0) is None:
        settings["CHUNK_BYTES"] = 2 * image_bytes(xs, ws, kwargs)  # batches of 3, 5, 7 leave a short last chunk
    for name, value in settings.items():
        monkeypatch.setattr(F, name, value)
    against_torch(lambda x, w, b: F.conv2d(x, w, b, **kwargs),
                  lambda x, w, b: torch.nn.functional.conv2d(x, w, b, **kwargs),
                  arrays(xs, ws, (ws[0],)))


@pytest.mark.parametrize("layout", ["wide", "chunks_of_2", "per_image"])
def test_conv_layouts_gradcheck(monkeypatch, layout):
    xs, ws, kwargs = (3, 2, 5, 6), (3, 2, 3, 2), dict(padding=1, dilation=(1, 2))
    settings = dict(LAYOUTS[layout])
    if settings.get("CHUNK_BYTES", 0) is None:
        settings["CHUNK_BYTES"] = 2 * image_bytes(xs, ws, kwargs)
    for name, value in settings.items():
        monkeypatch.setattr(F, name, value)
    x, w, b = leaf(*xs), leaf(*ws), leaf(ws[0])
    assert ag.gradcheck(lambda x, w, b: F.conv2d(x, w, b, **kwargs), [x, w, b])


@pytest.mark.parametrize("N, image_bytes, chunk", [(64, 1000, 64), (64, 100_000, 32), (256, 60_000, 64),
                                                    (30, 1 << 30, 1), (7, 1_000_000, 4), (10, 1_000_000, 2)])
def test_chunks_hold_a_few_megabytes_and_divide_the_batch_when_they_can(N, image_bytes, chunk):
    """About CHUNK_BYTES (4 MB) of columns per chunk; a divisor of the batch at least half that size if any."""
    assert F._chunk_size(N, image_bytes) == chunk


def test_conv_layout_is_chosen_by_shape():
    def layout(xs, K, k, requires_grad=True, **kwargs):
        x, w = ag.zeros(*xs, requires_grad=requires_grad), ag.zeros(K, xs[1], k, k)
        y = F.conv2d(x, w, **kwargs)
        pads = ((kwargs.get("padding", 0),) * 2,) * 2
        return F._conv_layout(x, w, pads, (k, k), (kwargs.get("stride", 1),) * 2, tuple(y.shape[2:])).__name__

    assert layout((8, 64, 56, 56), 64, 3, padding=1) == "_conv_wide"  # 58 wide for 56 outputs
    assert layout((8, 64, 56, 56), 64, 3, padding=1, requires_grad=False) == "_conv_chunks"  # no fold to speed up
    assert layout((64, 6, 12, 12), 16, 5) == "_conv_chunks"  # 12 wide for 8 outputs
    assert layout((64, 1, 28, 28), 6, 5) == "_conv_chunks"  # 576 outputs per image: chunks of images
    assert layout((8, 64, 56, 56), 64, 3, padding=1, stride=2) == "_conv_chunks"
