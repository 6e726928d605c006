"""Conv and pooling take one example without the batch axis, (C, *spatial), as PyTorch's do: the result and
the gradients are those of the batch of one, with the batch axis dropped."""
import types

import numpy as np
import pytest

import autograd as ag
import nn
import nn.functional as F
from tests.helpers import against_torch

RNG = np.random.default_rng(7)


def normal(*shape):
    return RNG.standard_normal(shape)


# name: (the call, written once for F = nn.functional or torch.nn.functional; the input's shape; the others')
CALLS = {
    "conv1d": (lambda x, w, b: F.conv1d(x, w, b, stride=2, padding=1), (3, 9), [(4, 3, 3), (4,)]),
    "conv2d": (lambda x, w, b: F.conv2d(x, w, b, padding=(1, 2), dilation=2, groups=2), (4, 8, 7),
               [(6, 2, 3, 3), (6,)]),
    "conv3d": (lambda x, w, b: F.conv3d(x, w, b, stride=(1, 2, 1)), (2, 5, 6, 4), [(3, 2, 2, 3, 2), (3,)]),
    "conv_transpose1d": (lambda x, w, b: F.conv_transpose1d(x, w, b, stride=2, output_padding=1), (3, 5),
                         [(3, 2, 3), (2,)]),
    "conv_transpose2d": (lambda x, w, b: F.conv_transpose2d(x, w, b, stride=2, padding=1), (4, 4, 3),
                         [(4, 3, 3, 3), (3,)]),
    "conv_transpose3d": (lambda x, w, b: F.conv_transpose3d(x, w, b), (2, 3, 2, 3), [(2, 2, 2, 2, 2), (2,)]),
    "max_pool1d": (lambda x: F.max_pool1d(x, 3, stride=2, padding=1), (3, 9), []),
    "max_pool2d": (lambda x: F.max_pool2d(x, 2, ceil_mode=True), (3, 7, 6), []),
    "max_pool3d": (lambda x: F.max_pool3d(x, 2), (2, 4, 4, 6), []),
    "avg_pool1d": (lambda x: F.avg_pool1d(x, 3, padding=1, count_include_pad=False), (3, 8), []),
    "avg_pool2d": (lambda x: F.avg_pool2d(x, 3, stride=2), (2, 7, 7), []),
    "avg_pool3d": (lambda x: F.avg_pool3d(x, 2), (2, 4, 2, 4), []),
    "adaptive_avg_pool1d": (lambda x: F.adaptive_avg_pool1d(x, 4), (3, 10), []),
    "adaptive_avg_pool2d": (lambda x: F.adaptive_avg_pool2d(x, (3, 2)), (2, 7, 5), []),
    "adaptive_avg_pool3d": (lambda x: F.adaptive_avg_pool3d(x, 2), (2, 5, 3, 4), []),
    "adaptive_max_pool1d": (lambda x: F.adaptive_max_pool1d(x, 4), (3, 10), []),
    "adaptive_max_pool2d": (lambda x: F.adaptive_max_pool2d(x, (3, 2)), (2, 7, 5), []),
    "adaptive_max_pool3d": (lambda x: F.adaptive_max_pool3d(x, 2), (2, 5, 3, 4), []),
}


def _in_torch(call):
    """The same call (its options as written) with PyTorch's functional as F."""
    torch = pytest.importorskip("torch")
    return types.FunctionType(call.__code__, {**call.__globals__, "F": torch.nn.functional})


@pytest.mark.parametrize("name", CALLS)
def test_one_example_is_the_batch_of_one(name):
    call, shape, others = CALLS[name]
    arrays = [normal(*shape)] + [normal(*s) for s in others]
    one = [ag.tensor(a, requires_grad=True) for a in arrays]
    batch = [ag.tensor(a[None] if i == 0 else a, requires_grad=True) for i, a in enumerate(arrays)]
    y, y_batch = call(*one), call(*batch)
    assert y.shape == y_batch.shape[1:]
    np.testing.assert_allclose(y.data, y_batch.data[0], rtol=1e-12)
    g = normal(*y.shape)
    y.backward(ag.tensor(g))
    y_batch.backward(ag.tensor(g[None]))
    assert one[0].grad.shape == shape
    np.testing.assert_allclose(one[0].grad.data, batch[0].grad.data[0], rtol=1e-12)
    for a, b in zip(one[1:], batch[1:]):
        np.testing.assert_allclose(a.grad.data, b.grad.data, rtol=1e-12)


@pytest.mark.parametrize("name", CALLS)
def test_one_example_against_torch(name):
    call, shape, others = CALLS[name]
    against_torch(call, _in_torch(call), [normal(*shape)] + [normal(*s) for s in others])


@pytest.mark.parametrize("pool, n", [(F.max_pool2d, 2), (F.adaptive_max_pool2d, 2), (F.adaptive_max_pool1d, 1)])
def test_indices_of_one_example(pool, n):
    x = normal(3, *(6,) * n)
    y, indices = pool(ag.tensor(x), 2, return_indices=True)
    y_batch, indices_batch = pool(ag.tensor(x[None]), 2, return_indices=True)
    assert indices.shape == y.shape == y_batch.shape[1:]
    np.testing.assert_array_equal(indices.data, indices_batch.data[0])
    np.testing.assert_array_equal(y.data, y_batch.data[0])


def test_unpooling_one_example_against_torch():
    torch = pytest.importorskip("torch")
    x = normal(3, 6, 6)
    y, indices = F.max_pool2d(ag.tensor(x), 2, return_indices=True)
    t_indices = torch.tensor(indices.data)
    against_torch(lambda y: F.max_unpool2d(y, indices, 2, output_size=(7, 7)),
                  lambda y: torch.nn.functional.max_unpool2d(y, t_indices, 2, output_size=(7, 7)), [y.data])
    assert nn.MaxUnpool2d(2)(y, indices=indices).shape == (3, 6, 6)
    np.testing.assert_array_equal(F.max_unpool2d(y, indices.data.tolist(), 2).data, F.max_unpool2d(y, indices, 2).data)
    with pytest.raises(ValueError, match=r"^max_unpool2d: indices must have the input's shape \(3, 3, 3\), got "
                                         r"\(3, 2, 3\)$"):
        F.max_unpool2d(y, indices[:, :2], 2)


@pytest.mark.parametrize("layer, shape", [
    (lambda: nn.Conv2d(3, 4, 3, padding=1, padding_mode="reflect"), (3, 6, 5)),
    (lambda: nn.Conv2d(3, 2, 3, padding=(3, 1), padding_mode="reflect"), (3, 10, 3)),  # rows padded more than W
    (lambda: nn.Conv2d(3, 2, 3, padding=(3, 1), padding_mode="circular"), (3, 10, 2)),
    (lambda: nn.Conv1d(2, 3, 3), (2, 8)),
    (lambda: nn.ConvTranspose2d(3, 2, 2, stride=2), (3, 4, 4)),
    (lambda: nn.MaxPool2d(2), (3, 6, 6)),
    (lambda: nn.AvgPool1d(2), (3, 6)),
    (lambda: nn.AdaptiveAvgPool2d(1), (3, 5, 4)),
])
def test_layers_take_one_example(layer, shape):
    layer = layer()
    x = normal(*shape)
    y, y_batch = layer(ag.tensor(x)), layer(ag.tensor(x[None]))
    np.testing.assert_allclose(y.data, y_batch.data[0], rtol=1e-6)


def test_one_example_is_one_layer_step():
    """The batch axis is added and dropped inside the layer's scope: explain shows the conv as one step."""
    x = ag.tensor(normal(1, 6, 6), requires_grad=True)
    w = ag.tensor(normal(2, 1, 3, 3), requires_grad=True)
    loss = F.max_pool2d(F.conv2d(x, w, padding=1), 2).sum()
    text = str(ag.explain(loss, x, level="layer"))
    assert "getitem" not in text.lower()
    assert "conv2d" in text and "max_pool2d" in text


def test_a_model_classifies_one_image():
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(0), nn.Linear(4 * 3 * 3, 2))
    image = ag.tensor(normal(1, 8, 8).astype(np.float32))
    assert model(image).shape == (2,)


def test_other_ranks_are_refused_with_both_layouts():
    with pytest.raises(ValueError, match=r"^conv2d: expected input of shape \(N, C, H, W\) or \(C, H, W\), got "
                                         r"shape \(1, 1, 3, 8, 8\)"):
        F.conv2d(ag.zeros(1, 1, 3, 8, 8), ag.zeros(2, 3, 3, 3))
    with pytest.raises(ValueError, match=r"^adaptive_avg_pool1d: expected input of shape \(N, C, L\) or \(C, L\)"):
        F.adaptive_avg_pool1d(ag.zeros(4), 2)
