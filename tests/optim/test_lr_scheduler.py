"""Learning-rate schedules: PyTorch's sequences, hand values, resuming, ReduceLROnPlateau."""
import math

import numpy as np
import pytest

import autograd as ag
import optim
from optim import lr_scheduler

LRS = (0.1, 0.03)


def optimizer(lrs=LRS):
    groups = [{"params": [ag.tensor(np.zeros(2), requires_grad=True)], "lr": lr} for lr in lrs]
    return optim.SGD(groups, lr=lrs[0])


def lr_sequence(make, epochs=20, lrs=LRS):
    """The lrs of every group for epochs 0..epochs-1 under the schedule `make(opt)`."""
    opt = optimizer(lrs)
    sched = make(opt)
    seq = []
    for _ in range(epochs):
        assert sched.get_last_lr() == [g["lr"] for g in opt.param_groups]
        seq.append(sched.get_last_lr())
        opt.step()
        sched.step()
    return np.array(seq)


def torch_sequence(torch, make, epochs=20, lrs=LRS):
    params = [torch.zeros(2, requires_grad=True) for _ in lrs]
    opt = torch.optim.SGD([{"params": [p], "lr": lr} for p, lr in zip(params, lrs)], lr=lrs[0])
    sched = make(opt)
    seq = []
    for _ in range(epochs):
        seq.append(sched.get_last_lr())
        opt.step()
        sched.step()
    return np.array(seq)


SCHEDULES = {
    "StepLR": lambda m, opt: m.StepLR(opt, step_size=3, gamma=0.5),
    "MultiStepLR": lambda m, opt: m.MultiStepLR(opt, milestones=[2, 5, 5, 11], gamma=0.3),
    "ExponentialLR": lambda m, opt: m.ExponentialLR(opt, gamma=0.85),
    "CosineAnnealingLR": lambda m, opt: m.CosineAnnealingLR(opt, T_max=6, eta_min=0.005),
    "CosineAnnealingLR-zero-min": lambda m, opt: m.CosineAnnealingLR(opt, T_max=7),
    "LambdaLR": lambda m, opt: m.LambdaLR(opt, lambda t: 1 / math.sqrt(t + 1)),
    "LambdaLR-per-group": lambda m, opt: m.LambdaLR(opt, [lambda t: 0.9 ** t, lambda t: 1 + t]),
}


@pytest.mark.parametrize("name", SCHEDULES)
def test_sequence_matches_torch(name):
    torch = pytest.importorskip("torch")
    ours = lr_sequence(lambda opt: SCHEDULES[name](lr_scheduler, opt), epochs=25)
    theirs = torch_sequence(torch, lambda opt: SCHEDULES[name](torch.optim.lr_scheduler, opt), epochs=25)
    np.testing.assert_allclose(ours, theirs, rtol=1e-14, atol=0)


def test_hand_values():
    t = np.arange(12)
    first = lambda make: lr_sequence(make, epochs=12, lrs=(0.1,))[:, 0]  # noqa: E731
    np.testing.assert_allclose(first(lambda o: lr_scheduler.StepLR(o, 3, gamma=0.5)), 0.1 * 0.5 ** (t // 3))
    np.testing.assert_allclose(first(lambda o: lr_scheduler.MultiStepLR(o, [2, 5], gamma=0.1)),
                               0.1 * 0.1 ** ((t >= 2).astype(int) + (t >= 5)))
    np.testing.assert_allclose(first(lambda o: lr_scheduler.ExponentialLR(o, 0.9)), 0.1 * 0.9 ** t)
    np.testing.assert_allclose(first(lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=5, eta_min=0.01)),
                               0.01 + 0.09 * (1 + np.cos(np.pi * t / 5)) / 2, rtol=1e-12)
    # the course's η₀/√t schedule
    np.testing.assert_allclose(first(lambda o: lr_scheduler.LambdaLR(o, lambda t: 1 / math.sqrt(t + 1))),
                               0.1 / np.sqrt(t + 1))


def test_the_schedule_drives_the_optimizer():
    p = ag.tensor(np.zeros(1), requires_grad=True)
    opt = optim.SGD([p], lr=1.0)
    sched = lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    for _ in range(3):
        p.grad = ag.ones(1, dtype=np.float64)
        opt.step()
        sched.step()
    np.testing.assert_allclose(p.data, -(1 + 0.5 + 0.25))
    assert sched.last_epoch == 3 and opt.param_groups[0]["initial_lr"] == 1.0


@pytest.mark.parametrize("name", SCHEDULES)
def test_state_dict_resumes(name):
    opt = optimizer()
    sched = SCHEDULES[name](lr_scheduler, opt)
    for _ in range(8):
        opt.step()
        sched.step()
    saved_opt, saved_sched = opt.state_dict(), sched.state_dict()
    assert "optimizer" not in saved_sched and saved_sched["last_epoch"] == 8
    expected = []
    for _ in range(6):
        opt.step()
        sched.step()
        expected.append(sched.get_last_lr())

    opt2 = optimizer(lrs=(7.0, 7.0))
    opt2.load_state_dict(saved_opt)
    sched2 = SCHEDULES[name](lr_scheduler, opt2)
    sched2.load_state_dict(saved_sched)
    resumed = []
    for _ in range(6):
        opt2.step()
        sched2.step()
        resumed.append(sched2.get_last_lr())
    assert resumed == expected


def test_resuming_by_last_epoch_needs_initial_lr():
    with pytest.raises(KeyError, match="initial_lr"):
        lr_scheduler.StepLR(optimizer(), step_size=2, last_epoch=4)


def test_errors():
    with pytest.raises(TypeError, match="Optimizer"):
        lr_scheduler.StepLR(object(), step_size=2)
    with pytest.raises(ValueError, match="step_size"):
        lr_scheduler.StepLR(optimizer(), step_size=0)
    with pytest.raises(ValueError, match="2 lr_lambdas"):
        lr_scheduler.LambdaLR(optimizer(), [lambda t: 1.0])
    with pytest.raises(ValueError, match="factor"):
        lr_scheduler.ReduceLROnPlateau(optimizer(), factor=1.0)
    with pytest.raises(ValueError, match="mode"):
        lr_scheduler.ReduceLROnPlateau(optimizer(), mode="up")


# -- ReduceLROnPlateau -------------------------------------------------------------------------

METRICS = [1.0, 0.9, 0.95, 0.95, 0.9, 0.91, 0.89, 0.89, 0.8999, 0.88, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9,
           0.7, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8]
PLATEAUS = [
    dict(patience=5),
    dict(patience=1),
    dict(patience=2, factor=0.5, cooldown=2),
    dict(patience=1, threshold=0.05, threshold_mode="abs", min_lr=[0.02, 0.01]),
    dict(mode="max", patience=1, factor=0.5, threshold=0.01),
    dict(mode="max", patience=0, factor=0.2, threshold_mode="abs", min_lr=0.001, cooldown=1),
]


@pytest.mark.parametrize("kwargs", PLATEAUS, ids=[str(k) for k in PLATEAUS])
def test_plateau_matches_torch(kwargs):
    torch = pytest.importorskip("torch")

    def run(module, opt):
        sched = module.ReduceLROnPlateau(opt, **kwargs)
        seq = []
        for m in METRICS:
            opt.step()
            sched.step(m)
            seq.append(sched.get_last_lr())
        return np.array(seq)

    ours = run(lr_scheduler, optimizer())
    params = [torch.zeros(1, requires_grad=True) for _ in LRS]
    theirs = run(torch.optim.lr_scheduler, torch.optim.SGD([{"params": [p], "lr": lr} for p, lr in zip(params, LRS)]))
    assert len(np.unique(ours[:, 0])) > 1
    np.testing.assert_array_equal(ours, theirs)


def test_plateau_hand_values():
    opt = optimizer(lrs=(1.0,))
    sched = lr_scheduler.ReduceLROnPlateau(opt, patience=2, factor=0.5, cooldown=1, min_lr=0.3)
    lrs = []
    for m in [5.0, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0, 4.0, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0]:
        sched.step(ag.tensor(m))  # a 0-d tensor works as a metric
        lrs.append(sched.get_last_lr()[0])
    # three bad epochs after the best (5.0) halve the lr; the cooldown epoch after it is not counted;
    # 4.0 is a new best; min_lr stops the second reduction at 0.3 and the third changes nothing
    assert lrs == [1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.3, 0.3, 0.3, 0.3, 0.3]
    state = sched.state_dict()
    assert state["best"] == 4.0 and "optimizer" not in state
