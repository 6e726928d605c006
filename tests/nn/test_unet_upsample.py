"""TinyUNet's choice of upsampling: a transposed convolution, or nn.Upsample (nearest, bilinear) then a conv."""
import numpy as np
import pytest

import autograd as ag
import nn
import optim
from nn import models

from helpers import raises

UPSAMPLES = ["transpose", "nearest", "bilinear"]


@pytest.mark.parametrize("upsample", UPSAMPLES)
def test_unet_keeps_the_spatial_size_with_every_upsampling(upsample):
    model = models.TinyUNet(in_channels=3, out_channels=2, base=2, upsample=upsample)
    assert model(ag.randn(2, 3, 8, 12)).shape == (2, 2, 8, 12)
    kinds = {type(m).__name__ for m in model.up2.modules()}
    assert ("Upsample" in kinds) == (upsample != "transpose")


@pytest.mark.parametrize("upsample", UPSAMPLES)
def test_unet_trains_one_step_with_every_upsampling(upsample):
    ag.manual_seed(0)
    model = models.TinyUNet(base=2, upsample=upsample)
    x, target = ag.randn(2, 1, 8, 8), ag.randn(2, 1, 8, 8)
    opt = optim.SGD(model.parameters(), lr=0.05)
    before = [p.data.copy() for p in model.parameters()]
    loss = nn.functional.mse_loss(model(x), target)
    loss.backward()
    assert all(p.grad is not None and np.isfinite(p.grad.data).all() for p in model.parameters())
    opt.step()
    assert any(not np.array_equal(b, p.data) for b, p in zip(before, model.parameters()))
    assert nn.functional.mse_loss(model(x), target).item() < loss.item()


@pytest.mark.parametrize("upsample", ["nearest", "bilinear"])
def test_unet_with_upsample_matches_its_torch_twin(upsample):
    torch = pytest.importorskip("torch")
    model = models.TinyUNet(base=2, upsample=upsample).double()
    twin = nn.to_torch(model)
    x = np.random.default_rng(0).standard_normal((2, 1, 8, 12))
    xs, xt = ag.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y, yt = model(xs), twin(xt)
    np.testing.assert_allclose(y.data, yt.detach().numpy(), rtol=1e-10, atol=1e-12)
    g = np.random.default_rng(1).standard_normal(y.shape)
    y.backward(ag.tensor(g))
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(xs.grad.data, xt.grad.numpy(), rtol=1e-9, atol=1e-12)
    theirs = dict(twin.named_parameters())
    for name, p in model.named_parameters():
        np.testing.assert_allclose(p.grad.data, theirs[name].grad.numpy(), rtol=1e-9, atol=1e-12, err_msg=name)
    assert repr(nn.from_torch(twin)) == repr(model)


def test_unet_names_the_upsampling_choices():
    with raises(ValueError, "TinyUNet: upsample must be one of 'transpose', 'nearest', 'bilinear', got 'bicubic'"):
        models.TinyUNet(upsample="bicubic")
