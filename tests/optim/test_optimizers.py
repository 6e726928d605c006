"""Optimizers: the same trajectories as PyTorch, hand-computed steps, groups, state and errors."""
import math

import numpy as np
import pytest

import autograd as ag
import optim

A0 = np.array([-1.2, 1.5])
B0 = np.array([[0.5, -1.0], [2.0, 0.3], [-0.7, 1.1]])
V = np.array([0.4, -0.9])
T = np.array([1.0, 0.0, -1.0])


def objective(a, B, V, T):
    """A Rosenbrock valley in `a` plus a least-squares term in `B`: works on chainrule and torch tensors."""
    rosen = (1 - a[0]) ** 2 + 5 * (a[1] - a[0] ** 2) ** 2
    return rosen + ((B @ V - T) ** 2).sum() + 0.1 * (B ** 4).sum()


def trajectory_ours(name, kwargs, steps=10, groups=None):
    a, B = ag.tensor(A0, requires_grad=True), ag.tensor(B0, requires_grad=True)
    params = [a, B] if groups is None else [{"params": [a], **groups[0]}, {"params": [B], **groups[1]}]
    opt = getattr(optim, name)(params, **kwargs)
    out = []
    for _ in range(steps):
        opt.zero_grad()
        objective(a, B, V, T).backward()
        opt.step()
        out.append(np.concatenate([a.data.ravel(), B.data.ravel()]))
    return np.array(out), opt


def trajectory_torch(torch, name, kwargs, steps=10, groups=None):
    a = torch.tensor(A0, requires_grad=True)
    B = torch.tensor(B0, requires_grad=True)
    params = [a, B] if groups is None else [{"params": [a], **groups[0]}, {"params": [B], **groups[1]}]
    opt = getattr(torch.optim, name)(params, **kwargs)
    out = []
    for _ in range(steps):
        opt.zero_grad()
        objective(a, B, torch.tensor(V), torch.tensor(T)).backward()
        opt.step()
        out.append(np.concatenate([a.detach().numpy().ravel(), B.detach().numpy().ravel()]))
    return np.array(out), opt


CASES = [
    ("SGD", dict(lr=0.01)),
    ("SGD", dict(lr=0.01, momentum=0.9)),
    ("SGD", dict(lr=0.01, momentum=0.9, dampening=0.5)),
    ("SGD", dict(lr=0.01, momentum=0.9, nesterov=True)),
    ("SGD", dict(lr=0.01, weight_decay=0.1)),
    ("SGD", dict(lr=0.01, momentum=0.8, weight_decay=0.1, nesterov=True)),
    ("SGD", dict(lr=0.001, momentum=0.5, maximize=True)),
    ("Adam", dict()),
    ("Adam", dict(lr=0.05)),
    ("Adam", dict(lr=0.1, amsgrad=True)),
    ("Adam", dict(lr=0.05, weight_decay=0.1)),
    ("Adam", dict(lr=0.1, betas=(0.8, 0.9), eps=1e-3, weight_decay=0.2, amsgrad=True)),
    ("AdamW", dict()),
    ("AdamW", dict(lr=0.05, weight_decay=0.1)),
    ("AdamW", dict(lr=0.1, betas=(0.5, 0.7), weight_decay=0.5, amsgrad=True)),
    ("RMSprop", dict()),
    ("RMSprop", dict(lr=0.001, momentum=0.9)),
    ("RMSprop", dict(centered=True)),
    ("RMSprop", dict(lr=0.005, alpha=0.9, eps=1e-4, weight_decay=0.1, momentum=0.5, centered=True)),
    ("Adagrad", dict()),
    ("Adagrad", dict(lr=0.1, lr_decay=0.1)),
    ("Adagrad", dict(lr=0.1, weight_decay=0.1)),
    ("Adagrad", dict(lr=0.2, lr_decay=0.05, weight_decay=0.05, initial_accumulator_value=0.5, eps=1e-6)),
]


@pytest.mark.parametrize("name,kwargs", CASES, ids=[",".join([n] + [f"{k}={v}" for k, v in kw.items()])
                                                      for n, kw in CASES])
def test_trajectory_matches_torch(name, kwargs):
    torch = pytest.importorskip("torch")
    ours, opt = trajectory_ours(name, kwargs)
    theirs, topt = trajectory_torch(torch, name, kwargs)
    assert np.abs(ours[-1] - ours[0]).max() > 1e-3  # the run really moves
    np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-12)
    ours_state, their_state = opt.state_dict()["state"], topt.state_dict()["state"]
    assert set(ours_state) == set(their_state)
    for i, s in their_state.items():
        assert set(ours_state[i]) == set(s), "per-parameter state has PyTorch's keys"
        for key, value in s.items():
            if torch.is_tensor(value) and value.ndim:
                np.testing.assert_allclose(ours_state[i][key], value.numpy(), rtol=1e-10, atol=1e-12)


def test_param_groups_match_torch():
    torch = pytest.importorskip("torch")
    groups = [dict(lr=0.05, momentum=0.5), dict(weight_decay=0.1)]
    ours, _ = trajectory_ours("SGD", dict(lr=0.01, momentum=0.9), groups=groups)
    theirs, _ = trajectory_torch(torch, "SGD", dict(lr=0.01, momentum=0.9), groups=groups)
    np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-12)


# -- hand-computed steps (no torch) ---------------------------------------------------------

def one_step(opt_cls, grads, x0=(1.0, -2.0), steps=1, **kwargs):
    """Apply `steps` updates with fixed gradient values; returns the parameter values."""
    p = ag.tensor(np.array(x0), requires_grad=True)
    opt = opt_cls([p], **kwargs)
    for g in grads[:steps] if isinstance(grads[0], tuple) else [grads] * steps:
        p.grad = ag.tensor(np.array(g))
        opt.step()
    return p.data


def test_sgd_hand_steps():
    g = (0.5, 0.25)
    np.testing.assert_allclose(one_step(optim.SGD, g, lr=0.1), [0.95, -2.025])
    # weight decay: g + λx = (0.5 + 0.1, 0.25 − 0.2)
    np.testing.assert_allclose(one_step(optim.SGD, g, lr=0.1, weight_decay=0.1), [0.94, -2.005])
    # momentum: b₁ = g, b₂ = 0.9·g + g = 1.9·g; x₂ = x − 0.1·g − 0.19·g
    np.testing.assert_allclose(one_step(optim.SGD, g, steps=2, lr=0.1, momentum=0.9), [0.855, -2.0725])
    # dampening 0.5: b₂ = 0.9·g + 0.5·g = 1.4·g
    np.testing.assert_allclose(one_step(optim.SGD, g, steps=2, lr=0.1, momentum=0.9, dampening=0.5),
                               [1 - 0.05 - 0.07, -2 - 0.025 - 0.035])
    # Nesterov, first step: g + μ·b = 1.9·g
    np.testing.assert_allclose(one_step(optim.SGD, g, lr=0.1, momentum=0.9, nesterov=True), [0.905, -2.0475])
    np.testing.assert_allclose(one_step(optim.SGD, g, lr=0.1, maximize=True), [1.05, -1.975])


def test_adam_hand_steps():
    g, eps = (0.5, -0.25), 1e-8
    # step 1: m̂ = g, v̂ = g², so the step is η·g/(|g| + ε) ≈ η·sign(g)
    expected = [1 - 0.1 * 0.5 / (0.5 + eps), -2 + 0.1 * 0.25 / (0.25 + eps)]
    np.testing.assert_allclose(one_step(optim.Adam, g, lr=0.1), expected, rtol=1e-12)
    # L2 weight decay enters the gradient: g' = g + 0.5·x = (1.0, −1.25)
    np.testing.assert_allclose(one_step(optim.Adam, g, lr=0.1, weight_decay=0.5), [0.9, -1.9], rtol=1e-7)
    # AdamW: x·(1 − ηλ) first, then the Adam step on the raw gradient
    np.testing.assert_allclose(one_step(optim.AdamW, g, lr=0.1, weight_decay=0.5),
                               [1 * 0.95 - 0.1, -2 * 0.95 + 0.1], rtol=1e-7)
    # two steps with gradients 1 then 0 (β = 0.5, 0.5): m₂ = v₂ = 0.25, bias-corrected by 1 − 0.5² = 0.75
    x = one_step(optim.Adam, ((1.0, 1.0), (0.0, 0.0)), steps=2, lr=1.0, betas=(0.5, 0.5), eps=0.0)
    np.testing.assert_allclose(x, np.array([1.0, -2.0]) - 1 - (0.25 / 0.75) / math.sqrt(0.25 / 0.75))


def test_amsgrad_uses_the_largest_second_moment():
    # gradients 1 then 0: v₂ = β₂·v₁ shrinks, amsgrad keeps v₁ = 0.5 (before bias correction)
    grads = ((1.0, 1.0), (0.0, 0.0))
    x = one_step(optim.Adam, grads, steps=2, lr=1.0, betas=(0.5, 0.5), eps=0.0, amsgrad=True)
    np.testing.assert_allclose(x, np.array([1.0, -2.0]) - 1 - (0.25 / 0.75) / math.sqrt(0.5 / 0.75))
    grads = ((1.0, 1.0), (0.1, 0.1))
    plain = one_step(optim.Adam, grads, steps=2, lr=1.0, betas=(0.5, 0.5), eps=0.0)
    ams = one_step(optim.Adam, grads, steps=2, lr=1.0, betas=(0.5, 0.5), eps=0.0, amsgrad=True)
    m_hat = (0.25 + 0.05) / 0.75
    np.testing.assert_allclose(plain, np.array([0.0, -3.0]) - m_hat / math.sqrt((0.25 + 0.005) / 0.75))
    np.testing.assert_allclose(ams, np.array([0.0, -3.0]) - m_hat / math.sqrt(0.5 / 0.75))


def test_rmsprop_hand_steps():
    g = (0.5, -0.25)
    # v = 0.01·g², so g/(√v + ε) ≈ 10·sign(g)
    np.testing.assert_allclose(one_step(optim.RMSprop, g, lr=0.01, eps=0.0), [0.9, -1.9])
    # centered: v − ḡ² = 0.01·g² − 0.0001·g² = 0.0099·g²
    np.testing.assert_allclose(one_step(optim.RMSprop, g, lr=0.01, eps=0.0, centered=True),
                               [1 - 0.01 / math.sqrt(0.0099), -2 + 0.01 / math.sqrt(0.0099)])
    # momentum: b₂ = 0.9·b₁ + g/√(0.0199·g²)
    step1, step2 = 10.0, 1 / math.sqrt(0.0199)
    np.testing.assert_allclose(one_step(optim.RMSprop, g, steps=2, lr=0.01, eps=0.0, momentum=0.9),
                               [1 - 0.01 * step1 - 0.01 * (0.9 * step1 + step2),
                                -2 + 0.01 * step1 + 0.01 * (0.9 * step1 + step2)])


def test_adagrad_hand_steps():
    g = (0.5, -0.25)
    np.testing.assert_allclose(one_step(optim.Adagrad, g, lr=0.1, eps=0.0), [0.9, -1.9])
    # step 2: s = 2g², η₂ = η/(1 + δ)
    x = one_step(optim.Adagrad, g, steps=2, lr=0.1, eps=0.0, lr_decay=0.5)
    np.testing.assert_allclose(x, [0.9 - 0.1 / 1.5 / math.sqrt(2), -1.9 + 0.1 / 1.5 / math.sqrt(2)])
    # the accumulator starts at initial_accumulator_value: s = 0.75 + 0.25
    x = one_step(optim.Adagrad, (0.5, 0.5), lr=0.1, eps=0.0, initial_accumulator_value=0.75)
    np.testing.assert_allclose(x, [0.95, -2.05])


# -- the Optimizer machinery ----------------------------------------------------------------

ALL = [
    (optim.SGD, dict(lr=0.01, momentum=0.9, nesterov=True)),
    (optim.Adam, dict(lr=0.05, amsgrad=True)),
    (optim.AdamW, dict(lr=0.05)),
    (optim.RMSprop, dict(lr=0.01, momentum=0.5, centered=True)),
    (optim.Adagrad, dict(lr=0.1, lr_decay=0.01)),
]


@pytest.mark.parametrize("cls,kwargs", ALL, ids=[c.__name__ for c, _ in ALL])
def test_parameters_without_grad_are_skipped(cls, kwargs):
    a, b = ag.tensor(A0, requires_grad=True), ag.tensor(B0, requires_grad=True)
    opt = cls([a, b], **kwargs)
    (a * a).sum().backward()
    opt.step()
    assert not np.allclose(a.data, A0)
    np.testing.assert_array_equal(b.data, B0)
    assert b not in opt.state and len(opt.state_dict()["state"]) == 1


@pytest.mark.parametrize("cls,kwargs", ALL, ids=[c.__name__ for c, _ in ALL])
def test_state_dict_round_trip_resumes_identically(cls, kwargs):
    def run(a, B, opt, steps):
        for _ in range(steps):
            opt.zero_grad()
            objective(a, B, V, T).backward()
            opt.step()

    a, B = ag.tensor(A0, requires_grad=True), ag.tensor(B0, requires_grad=True)
    opt = cls([a, B], **kwargs)
    run(a, B, opt, 4)
    saved = opt.state_dict()
    key = next(k for k, v in saved["state"][0].items() if isinstance(v, np.ndarray))
    before = saved["state"][0][key].copy()
    a2, B2 = ag.tensor(a.data, requires_grad=True), ag.tensor(B.data, requires_grad=True)
    run(a, B, opt, 4)
    np.testing.assert_array_equal(saved["state"][0][key], before)  # a snapshot, not a view of live state

    other = dict(kwargs, lr=123.0)  # hyper-parameters come back from the state dict too
    opt2 = cls([a2, B2], **other)
    opt2.load_state_dict(saved)
    assert opt2.param_groups[0]["lr"] == kwargs["lr"] and opt2.param_groups[0]["params"] == [a2, B2]
    run(a2, B2, opt2, 4)
    np.testing.assert_array_equal(a2.data, a.data)
    np.testing.assert_array_equal(B2.data, B.data)


def test_state_dict_layout_is_pytorchs():
    a, b, c = (ag.tensor(np.ones(2), requires_grad=True) for _ in range(3))
    opt = optim.Adam([{"params": [a, b]}, {"params": [c], "lr": 0.5}], lr=0.1)
    for p in (a, c):
        p.grad = ag.ones(2, dtype=np.float64)
    opt.step()
    sd = opt.state_dict()
    assert [g["params"] for g in sd["param_groups"]] == [[0, 1], [2]]
    assert [g["lr"] for g in sd["param_groups"]] == [0.1, 0.5]
    assert sorted(sd["state"]) == [0, 2]
    assert set(sd["state"][0]) == {"step", "exp_avg", "exp_avg_sq"} and sd["state"][0]["step"] == 1


def test_load_state_dict_checks_groups():
    a, b = ag.tensor(A0, requires_grad=True), ag.tensor(B0, requires_grad=True)
    sd = optim.SGD([a, b], lr=0.1).state_dict()
    with pytest.raises(ValueError, match="groups"):
        optim.SGD([{"params": [a]}, {"params": [b]}], lr=0.1).load_state_dict(sd)
    with pytest.raises(ValueError, match="2 parameters"):
        optim.SGD([a], lr=0.1).load_state_dict(sd)


def test_add_param_group_with_its_own_lr():
    a, b = ag.tensor(np.zeros(2), requires_grad=True), ag.tensor(np.zeros(3), requires_grad=True)
    opt = optim.SGD([a], lr=0.1, momentum=0.9)
    opt.add_param_group({"params": b, "lr": 0.01})
    assert opt.param_groups[1]["momentum"] == 0.9 and opt.param_groups[1]["params"] == [b]
    a.grad, b.grad = ag.ones(2, dtype=np.float64), ag.ones(3, dtype=np.float64)
    opt.step()
    np.testing.assert_allclose(a.data, -0.1)
    np.testing.assert_allclose(b.data, -0.01)
    with pytest.raises(ValueError, match="more than once"):
        opt.add_param_group({"params": [a]})


def test_zero_grad():
    p = ag.tensor(A0, requires_grad=True)
    opt = optim.SGD([p], lr=0.1)
    (p * p).sum().backward()
    grad = p.grad
    opt.zero_grad(set_to_none=False)
    assert p.grad is grad and np.all(grad.data == 0)
    opt.zero_grad()
    assert p.grad is None


def test_params_from_a_generator_and_closure():
    a = ag.tensor(A0, requires_grad=True)
    opt = optim.SGD((p for p in [a]), lr=0.1)

    def closure():
        opt.zero_grad()
        loss = (a * a).sum()
        loss.backward()
        return loss

    loss = opt.step(closure)
    assert loss.item() == pytest.approx((A0 ** 2).sum())
    np.testing.assert_allclose(a.data, 0.8 * A0)


def test_float32_parameters_stay_float32():
    p = ag.tensor(np.ones(3, np.float32), requires_grad=True)
    opt = optim.Adam([p], lr=0.1)
    p.grad = ag.ones(3)
    opt.step()
    assert p.dtype == np.float32 and opt.state[p]["exp_avg"].dtype == np.float32


def test_a_graph_that_saved_a_parameter_sees_the_update():
    p = ag.tensor(A0, requires_grad=True)
    opt = optim.SGD([p], lr=0.1)
    p.grad = ag.ones(2, dtype=np.float64)
    loss = (p * p).sum()
    opt.step()
    with pytest.raises(RuntimeError, match="modified in place"):
        loss.backward()


def test_errors():
    p = ag.tensor(A0, requires_grad=True)
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.SGD([], lr=0.1)
    with pytest.raises(TypeError, match="single Tensor"):
        optim.SGD(p, lr=0.1)
    with pytest.raises(ValueError, match="required hyper-parameter 'lr'"):
        optim.SGD([p])
    with pytest.raises(ValueError, match="non-leaf"):
        optim.SGD([p * 2], lr=0.1)
    with pytest.raises(ValueError, match="learning rate: -1"):
        optim.Adam([p], lr=-1)
    with pytest.raises(ValueError, match="beta2"):
        optim.Adam([p], betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="Nesterov"):
        optim.SGD([p], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="more than once"):
        optim.SGD([p, p], lr=0.1)
    opt = optim.SGD([p], lr=0.1)
    p.grad = ag.ones(3, dtype=np.float64)
    with pytest.raises(ValueError, match=r"gradient of shape \(3,\)"):
        opt.step()


def test_repr_lists_groups():
    text = repr(optim.SGD([ag.tensor(A0, requires_grad=True)], lr=0.1, momentum=0.9))
    assert text.startswith("SGD (") and "Parameter Group 0" in text and "momentum: 0.9" in text
