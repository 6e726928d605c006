"""The same forward values and gradients as PyTorch (float64), where PyTorch defines the same thing.

max/min ties are not compared here: chainrule splits the gradient evenly among tied
winners (see test_ops_reduce.py), PyTorch's reductions do too but its pooling picks one.
"""
import numpy as np
import pytest

import autograd as ag

torch = pytest.importorskip("torch")
TF = torch.nn.functional


def compare(ours, theirs, *arrays, seed=0):
    """Forward values and the VJP of a random upstream gradient agree with PyTorch's."""
    xs = [ag.tensor(a, dtype=np.float64, requires_grad=True) for a in arrays]
    ts = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in arrays]
    y, yt = ours(*xs), theirs(*ts)
    np.testing.assert_allclose(y.data, yt.detach().numpy(), rtol=1e-12, atol=1e-12)
    g = np.random.default_rng(seed).standard_normal(y.shape)
    y.backward(ag.tensor(g))
    yt.backward(torch.tensor(g))
    for x, t in zip(xs, ts):
        np.testing.assert_allclose(x.grad.data, t.grad.numpy(), rtol=1e-10, atol=1e-12)


def rand(*shape, seed=0, low=-2.0, high=2.0):
    return np.random.default_rng(seed).uniform(low, high, shape)


@pytest.mark.parametrize("name, ours, theirs, positive", [
    ("add", ag.add, torch.add, False), ("sub", ag.sub, torch.sub, False), ("mul", ag.mul, torch.mul, False),
    ("div", ag.div, torch.div, True), ("pow", ag.pow, torch.pow, True),
    ("maximum", ag.maximum, torch.maximum, False), ("minimum", ag.minimum, torch.minimum, False),
])
@pytest.mark.parametrize("ashape, bshape", [((3, 4), (3, 4)), ((3, 1), (1, 4)), ((), (2, 3)), ((2, 1, 3), (3,))])
def test_binary_ops(name, ours, theirs, positive, ashape, bshape):
    low = 0.5 if positive else -2.0
    compare(ours, theirs, rand(*ashape, low=low), rand(*bshape, seed=1, low=low if name == "div" else -2.0))


@pytest.mark.parametrize("ours, theirs, low", [
    (ag.exp, torch.exp, -2.0), (ag.log, torch.log, 0.1), (ag.sqrt, torch.sqrt, 0.1), (ag.abs, torch.abs, -2.0),
    (ag.tanh, torch.tanh, -2.0), (ag.sigmoid, torch.sigmoid, -2.0), (ag.relu, torch.relu, -2.0),
    (ag.neg, torch.neg, -2.0), (lambda x: x ** 3, lambda t: t ** 3, -2.0),
    (lambda x: 2.0 ** x, lambda t: 2.0 ** t, -2.0),
    (lambda x: x.clip(-0.5, 1.0), lambda t: t.clamp(-0.5, 1.0), -2.0),
])
def test_unary_ops(ours, theirs, low):
    compare(ours, theirs, rand(3, 4, low=low))


def test_where():
    cond = rand(3, 4) > 0
    compare(lambda a, b: ag.where(cond, a, b), lambda a, b: torch.where(torch.tensor(cond), a, b),
            rand(3, 4), rand(4, seed=1))


@pytest.mark.parametrize("axis, keepdims", [(None, False), (1, False), ((0, 2), True), (-1, True), ((0, 1, 2), False)])
@pytest.mark.parametrize("op", ["sum", "mean", "max", "min"])
def test_reductions(op, axis, keepdims):
    dims = tuple(range(3)) if axis is None else axis
    theirs = {"sum": torch.sum, "mean": torch.mean, "max": torch.amax, "min": torch.amin}[op]
    compare(lambda x: getattr(x, op)(axis=axis, keepdims=keepdims), lambda t: theirs(t, dim=dims, keepdim=keepdims),
            rand(2, 3, 4))


@pytest.mark.parametrize("axis, ddof", [(None, 0), (None, 1), (1, 1), ((0, 2), 0), (-1, 2)])
def test_var_and_std_with_ddof(axis, ddof):
    dims = tuple(range(3)) if axis is None else axis
    compare(lambda x: x.var(axis=axis, ddof=ddof), lambda t: torch.var(t, dim=dims, correction=ddof), rand(3, 4, 5))
    compare(lambda x: x.std(axis=axis, ddof=ddof), lambda t: torch.std(t, dim=dims, correction=ddof), rand(3, 4, 5))


@pytest.mark.parametrize("ashape, bshape", [
    ((3, 4), (4, 2)), ((4,), (4, 2)), ((3, 4), (4,)), ((4,), (4,)), ((2, 1, 3, 4), (5, 4, 2)), ((2, 3, 4), (4,)),
    ((3,), (2, 3, 2)), ((2, 3, 4), (2, 4, 5)),
])
def test_matmul(ashape, bshape):
    compare(ag.matmul, torch.matmul, rand(*ashape), rand(*bshape, seed=1))


@pytest.mark.parametrize("ours, theirs", [
    (lambda x: x.reshape(4, -1), lambda t: t.reshape(4, -1)),
    (lambda x: x.permute(2, 0, 1), lambda t: t.permute(2, 0, 1)),
    (lambda x: x.permute(2, 0, 1).contiguous() * x.permute(2, 0, 1),
     lambda t: t.permute(2, 0, 1).contiguous() * t.permute(2, 0, 1)),
    (lambda x: x.transpose(0, 2), lambda t: t.transpose(0, 2)),
    (lambda x: x[:, :1].expand(3, 2, 1, 4), lambda t: t[:, :1].expand(3, 2, 1, 4)),
    (lambda x: x[:, :1].squeeze(1), lambda t: t[:, :1].squeeze(1)),
    (lambda x: x.unsqueeze(-2), lambda t: t.unsqueeze(-2)),
    (lambda x: x.flatten(1), lambda t: t.flatten(1)),
    (lambda x: x[[0, 0, 1, 0]], lambda t: t[[0, 0, 1, 0]]),
    (lambda x: x[:, [2, 2, 0], 1:], lambda t: t[:, [2, 2, 0], 1:]),
    (lambda x: x[1:, ::2, -1], lambda t: t[1:, ::2, -1]),
    (lambda x: x[x.data > 0], lambda t: t[t > 0]),
    (lambda x: ag.pad(x, ((0, 0), (1, 2), (3, 0)), value=0.5), lambda t: TF.pad(t, (3, 0, 1, 2), value=0.5)),
])
def test_shape_ops(ours, theirs):
    compare(ours, theirs, rand(2, 3, 4))


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_concatenate_and_stack(axis):
    compare(lambda a, b, c: ag.concatenate([a, b, c], axis=axis), lambda a, b, c: torch.cat([a, b, c], dim=axis),
            rand(2, 3, 4), rand(2, 3, 4, seed=1), rand(2, 3, 4, seed=2))
    compare(lambda a, b: ag.stack([a, b], axis=axis), lambda a, b: torch.stack([a, b], dim=axis),
            rand(2, 3), rand(2, 3, seed=1))


WINDOWS = [((2, 3, 6, 7), (3, 3), 1, 0, 1), ((1, 2, 8, 9), (2, 3), (2, 1), (1, 2), (2, 1)), ((2, 1, 5, 5), 2, 3, 1, 1)]


@pytest.mark.parametrize("shape, kernel, stride, padding, dilation", WINDOWS)
def test_unfold_matches_torch_up_to_the_column_layout(shape, kernel, stride, padding, dilation):
    """Ours: (N, C, KH, KW, OH, OW); torch: (N, C·KH·KW, OH·OW), the same order once reshaped."""
    def ours(x):
        cols = ag.unfold(x, kernel, stride, padding, dilation)
        n, c, kh, kw, oh, ow = cols.shape
        return cols.reshape(n, c * kh * kw, oh * ow)

    compare(ours, lambda t: TF.unfold(t, kernel, dilation=dilation, padding=padding, stride=stride), rand(*shape))


def test_unfold_1d_matches_torch_on_a_height_one_image():
    compare(lambda x: ag.unfold(x, 3, stride=2, padding=1, dilation=2).reshape(2, 9, -1),
            lambda t: TF.unfold(t[:, :, None, :], (1, 3), dilation=(1, 2), padding=(0, 1), stride=(1, 2)),
            rand(2, 3, 11))


@pytest.mark.parametrize("shape, kernel, stride, padding, dilation", WINDOWS)
def test_fold_matches_torch(shape, kernel, stride, padding, dilation):
    n, c, h, w = shape
    probe = ag.unfold(ag.zeros(*shape, dtype=np.float64), kernel, stride, padding, dilation)
    kh, kw, oh, ow = probe.shape[2:]
    compare(lambda cols: ag.fold(cols.reshape(n, c, kh, kw, oh, ow), (h, w), kernel, stride, padding, dilation),
            lambda t: TF.fold(t, (h, w), kernel, dilation=dilation, padding=padding, stride=stride),
            rand(n, c * kh * kw, oh * ow))
