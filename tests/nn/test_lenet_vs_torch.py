"""A whole LeNet5 with identical weights in chainrule and PyTorch: outputs and every gradient agree."""
import numpy as np
import pytest

import autograd as ag
import nn
import nn.functional as F

torch = pytest.importorskip("torch")
tnn = torch.nn


def torch_lenet5(activation, pooling):
    act = {"relu": tnn.ReLU, "tanh": tnn.Tanh}[activation]
    pool = {"max": tnn.MaxPool2d, "avg": tnn.AvgPool2d}[pooling]

    class TorchLeNet5(tnn.Module):
        def __init__(self):
            super().__init__()
            self.features = tnn.Sequential(tnn.Conv2d(1, 6, 5, padding=2), act(), pool(2),
                                           tnn.Conv2d(6, 16, 5), act(), pool(2))
            self.classifier = tnn.Sequential(tnn.Linear(400, 120), act(), tnn.Linear(120, 84), act(),
                                             tnn.Linear(84, 10))

        def forward(self, x):
            return self.classifier(torch.flatten(self.features(x), 1))

    return TorchLeNet5()


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-10), (np.float32, 1e-4)])
@pytest.mark.parametrize("activation, pooling", [("relu", "max"), ("tanh", "avg")])
def test_lenet5_matches_torch(dtype, tol, activation, pooling):
    ag.manual_seed(0)
    model = nn.models.LeNet5(activation=activation, pooling=pooling).to(dtype)
    reference = torch_lenet5(activation, pooling).to(getattr(torch, np.dtype(dtype).name))
    reference.load_state_dict({k: torch.from_numpy(v) for k, v in model.state_dict().items()})

    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 1, 28, 28)).astype(dtype)
    y = np.array([3, 1, 4, 1])

    xc = ag.tensor(x, requires_grad=True)
    out = model(xc)
    loss = F.cross_entropy(out, y)
    loss.backward()

    xt = torch.tensor(x, requires_grad=True)
    out_t = reference(xt)
    loss_t = tnn.functional.cross_entropy(out_t, torch.tensor(y))
    loss_t.backward()

    scale = max(1.0, float(np.abs(out_t.detach().numpy()).max()))
    np.testing.assert_allclose(out.numpy(), out_t.detach().numpy(), rtol=tol, atol=tol * scale)
    np.testing.assert_allclose(loss.item(), loss_t.item(), rtol=tol, atol=tol)
    np.testing.assert_allclose(xc.grad.numpy(), xt.grad.numpy(), rtol=tol, atol=tol)
    torch_grads = {name: p.grad.numpy() for name, p in reference.named_parameters()}
    ours = dict(model.named_parameters())
    assert list(ours) == list(torch_grads)
    for name, p in ours.items():
        assert p.grad.dtype == dtype, name
        np.testing.assert_allclose(p.grad.numpy(), torch_grads[name], rtol=tol, atol=tol, err_msg=name)


def test_lenet5_state_dict_keys_and_shapes_match_torch():
    ours = nn.models.LeNet5().state_dict()
    theirs = torch_lenet5("relu", "max").state_dict()
    assert list(ours) == list(theirs)
    assert [v.shape for v in ours.values()] == [tuple(v.shape) for v in theirs.values()]


def test_lenet5_training_steps_track_torch():
    """Three SGD steps on both engines from the same weights stay together (float64)."""
    ag.manual_seed(0)
    model = nn.models.LeNet5().double()
    reference = torch_lenet5("relu", "max").double()
    reference.load_state_dict({k: torch.from_numpy(v) for k, v in model.state_dict().items()})
    rng = np.random.default_rng(2)
    opt_t = torch.optim.SGD(reference.parameters(), lr=0.1)
    for _ in range(3):
        x = rng.standard_normal((8, 1, 28, 28))
        y = rng.integers(0, 10, 8)
        model.zero_grad()
        F.cross_entropy(model(ag.tensor(x)), y).backward()
        for p in model.parameters():
            p.data -= 0.1 * p.grad.data
        opt_t.zero_grad()
        tnn.functional.cross_entropy(reference(torch.tensor(x)), torch.tensor(y)).backward()
        opt_t.step()
    for name, p in reference.named_parameters():
        np.testing.assert_allclose(model.state_dict()[name], p.detach().numpy(), rtol=1e-9, atol=1e-10,
                                   err_msg=name)


def test_a_torch_state_dict_loads_directly():
    reference = torch_lenet5("tanh", "avg").eval()
    model = nn.models.LeNet5(activation="tanh", pooling="avg")
    model.load_state_dict(reference.state_dict())  # torch tensors convert through NumPy
    x = np.random.default_rng(3).standard_normal((2, 1, 28, 28)).astype(np.float32)
    np.testing.assert_allclose(model(ag.tensor(x)).numpy(), reference(torch.from_numpy(x)).detach().numpy(),
                               rtol=1e-4, atol=1e-5)
