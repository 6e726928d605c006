# %% [markdown]
# # 07 · Higher-order derivatives, gradcheck, and weight decay
#
# chainrule's VJPs are written with operations that work on Tensors as well as on arrays. With
# `create_graph=True` they run on Tensors, so the backward pass is itself a graph that can be
# differentiated again (a plain backward runs the same rules on raw arrays, which is faster). This notebook
#
# 1. takes second and third derivatives and a Hessian, checked against formulas and finite differences;
# 2. writes a custom `autograd.Function` with a **wrong** VJP and lets `autograd.gradcheck` catch it;
# 3. shows that weight decay in `optim.SGD` and an explicit L2 penalty take exactly the same step.

# %%
import numpy as np
import matplotlib.pyplot as plt

import autograd as ag
import nn
import nn.functional as F
import optim
from autograd import viz
from autograd.functional import hessian

plt.rcParams.update({"figure.dpi": 80, "figure.figsize": (6, 3)})
np.set_printoptions(precision=4, suppress=True, linewidth=110)
rng = np.random.default_rng(0)

# %% [markdown]
# ## 1. Second derivatives
#
# For $y = \tanh x$: $\;y' = 1 - y^2,\quad y'' = -2y(1 - y^2),\quad y''' = -2(1 - y^2)(1 - 3y^2)$.
#
# `ag.grad(..., create_graph=True)` returns a gradient that is itself part of a graph, so it can be
# differentiated again. For an elementwise function, the gradient of `y.sum()` is the vector of
# derivatives at every point.

# %%
xs = ag.tensor(np.linspace(-3, 3, 121), dtype=np.float64, requires_grad=True)
y = xs.tanh()
d1, = ag.grad(y.sum(), xs, create_graph=True)
d2, = ag.grad(d1.sum(), xs, create_graph=True)
d3, = ag.grad(d2.sum(), xs)

t = np.tanh(xs.numpy())
assert np.allclose(d1.numpy(), 1 - t ** 2)
assert np.allclose(d2.numpy(), -2 * t * (1 - t ** 2))
assert np.allclose(d3.numpy(), -2 * (1 - t ** 2) * (1 - 3 * t ** 2))

fig, ax = plt.subplots(figsize=(6, 2.8))
for curve, label in [(y, "tanh x"), (d1, "1st derivative"), (d2, "2nd"), (d3, "3rd")]:
    ax.plot(xs.numpy(), curve.numpy(), label=label)
ax.axhline(0, color="gray", lw=0.6)
ax.legend(fontsize=8)
ax.set_xlabel("x")
plt.show()

# %% [markdown]
# ## 2. A Hessian
#
# Logistic regression on $N$ points $x_i \in \mathbb{R}^d$ with labels $y_i \in \{0, 1\}$:
#
# $$f(w) = \frac1N \sum_i \Big[\log\big(1 + e^{s_i}\big) - y_i s_i\Big], \qquad s = Xw .$$
#
# Its gradient is $\nabla f = \frac1N X^\top(\sigma(s) - y)$ and its Hessian
#
# $$H = \frac1N X^\top \mathrm{diag}\big(\sigma(s)(1 - \sigma(s))\big)\, X ,$$
#
# symmetric and positive semi-definite (the loss is convex). `autograd.functional.hessian` builds it
# from $d$ backward passes through the gradient's own graph.

# %%
N, d = 40, 4
X = rng.standard_normal((N, d))
labels = (X @ np.array([1.0, -2.0, 0.5, 0.0]) + 0.3 * rng.standard_normal(N) > 0).astype(np.float64)
w0 = 0.3 * rng.standard_normal(d)


def f(w):
    return F.binary_cross_entropy_with_logits(ag.tensor(X) @ w, ag.tensor(labels))


H = hessian(f, ag.tensor(w0, dtype=np.float64)).numpy()

s = X @ w0
sig = 1 / (1 + np.exp(-s))
H_formula = X.T @ np.diag(sig * (1 - sig)) @ X / N


def gradient_at(w):
    w = ag.tensor(w, dtype=np.float64, requires_grad=True)
    f(w).backward()
    return w.grad.numpy()


eps = 1e-5
H_numeric = np.stack([(gradient_at(w0 + eps * e) - gradient_at(w0 - eps * e)) / (2 * eps) for e in np.eye(d)],
                     axis=1)
print("Hessian (autograd):\n", H)
print("max |autograd − formula|            =", np.abs(H - H_formula).max())
print("max |autograd − finite differences| =", np.abs(H - H_numeric).max())
assert np.allclose(gradient_at(w0), X.T @ (sig - labels) / N)
assert np.allclose(H, H_formula) and np.allclose(H, H_numeric, atol=1e-7)
assert np.allclose(H, H.T) and np.linalg.eigvalsh(H).min() > -1e-12

# %% [markdown]
# A full Hessian costs $d$ backward passes and $d^2$ memory. Often only a **Hessian-vector product** is
# needed (Newton-CG, curvature along a direction): it is the gradient of $\langle \nabla f(w), v\rangle$,
# two backward passes whatever $d$ is.

# %%
v = rng.standard_normal(d)
w = ag.tensor(w0, dtype=np.float64, requires_grad=True)
g, = ag.grad(f(w), w, create_graph=True)
Hv, = ag.grad((g * ag.tensor(v)).sum(), w)
print("H·v by double backward:", Hv.numpy())
assert np.allclose(Hv.numpy(), H @ v)

# %% [markdown]
# ## 3. A custom `Function` with a wrong VJP, caught by `gradcheck`
#
# A user extension defines `forward` on NumPy arrays and `backward` (its VJP) with Tensor operations.
# Here is softplus, $y = \log(1 + e^x)$, whose derivative is $\sigma(x)$ — but the VJP below uses the
# *output* where it needs the input, a common slip:

# %%
class BuggySoftplus(ag.Function):
    """y = log(1 + eˣ); the correct VJP is ḡ·σ(x)."""

    @staticmethod
    def forward(ctx, x):
        y = np.logaddexp(0.0, x)
        ctx.save_for_backward(x, y)
        return y

    @staticmethod
    def backward(ctx, g):
        x, y = ctx.saved_tensors
        return g * y.sigmoid()  # bug: σ(y) instead of σ(x)


x = ag.tensor(rng.standard_normal(5), dtype=np.float64, requires_grad=True, name="x")
y = BuggySoftplus.apply(x)
print("forward looks fine:", y.numpy(), "=", np.log1p(np.exp(x.numpy())))

# %% [markdown]
# The forward pass is right, and `backward()` runs without complaint — nothing tells the two VJPs apart
# except a numerical check. `autograd.gradcheck(fn, inputs)` compares the Jacobian that the VJPs produce
# with central differences $\big(f(x + \varepsilon e_k) - f(x - \varepsilon e_k)\big)/2\varepsilon$ in
# float64, and names the first element that disagrees:

# %%
try:
    ag.gradcheck(BuggySoftplus.apply, [x])
    raise AssertionError("gradcheck should have failed")
except ag.GradcheckError as error:
    message = str(error)
print(message)
assert "input 0" in message and "analytic" in message and "numerical" in message

# %% [markdown]
# The cheaper dot-product test $\langle v, J u\rangle = \langle J^\top v, u\rangle$ (one backward pass,
# two forward passes, any size) catches it too; and `viz.draw(..., check=True)` checks every node's VJP
# on the recorded values and colours the culprit (red: wrong, green: agrees):

# %%
try:
    ag.dot_product_check(BuggySoftplus.apply, [x])
    raise AssertionError("dot_product_check should have failed")
except ag.GradcheckError as error:
    print(error)

viz.draw((BuggySoftplus.apply(x) * 2.0).sum(), check=True, show_grads=False)

# %% [markdown]
# The fix uses the saved input. The fixed VJP passes `gradcheck`, and because it is written with
# Tensor operations it can be differentiated again: `gradgradcheck` checks the second derivatives
# $\sigma'(x) = \sigma(x)(1 - \sigma(x))$ that come for free.

# %%
class Softplus(ag.Function):
    """y = log(1 + eˣ); VJP ḡ·σ(x)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.logaddexp(0.0, x)

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        return g * x.sigmoid()


assert ag.gradcheck(Softplus.apply, [x])
assert ag.gradgradcheck(Softplus.apply, [x])
d1, = ag.grad(Softplus.apply(x).sum(), x, create_graph=True)
d2, = ag.grad(d1.sum(), x)
sig = 1 / (1 + np.exp(-x.numpy()))
assert np.allclose(d2.numpy(), sig * (1 - sig))
print("gradcheck and gradgradcheck pass; softplus'' =", d2.numpy())

# %% [markdown]
# ## 4. Weight decay is an L2 penalty (for SGD)
#
# Adding $\frac{\lambda}{2}\lVert w\rVert^2$ to the loss adds $\lambda w$ to the gradient, so one SGD step is
#
# $$w \leftarrow w - \eta\big(\nabla L(w) + \lambda w\big) = (1 - \eta\lambda)\,w - \eta\,\nabla L(w):$$
#
# the weights shrink ("decay") by the factor $1 - \eta\lambda$ before the usual step. `optim.SGD(...,
# weight_decay=λ)` adds $\lambda w$ inside the optimizer instead of differentiating a penalty. Train two
# identical models, one each way, and compare after every step (with momentum, too).

# %%
lam, lr = 0.1, 0.5
ag.manual_seed(0)
model_a = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3))
model_b = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3))
model_b.load_state_dict(model_a.state_dict())

opt_a = optim.SGD(model_a.parameters(), lr=lr, momentum=0.9, weight_decay=lam)
opt_b = optim.SGD(model_b.parameters(), lr=lr, momentum=0.9)
inputs = ag.tensor(rng.standard_normal((16, 4)))
targets = rng.integers(0, 3, size=16)

for step in range(5):
    opt_a.zero_grad()
    F.cross_entropy(model_a(inputs), targets).backward()
    opt_a.step()

    opt_b.zero_grad()
    penalty = (lam / 2) * nn.utils.l2_penalty(model_b.parameters())   # l2_penalty = Σ w² (no ½)
    (F.cross_entropy(model_b(inputs), targets) + penalty).backward()
    opt_b.step()

    for (name, pa), pb in zip(model_a.named_parameters(), model_b.parameters()):
        assert np.allclose(pa.numpy(), pb.numpy(), atol=1e-6), (step, name)
print("5 SGD steps: weight decay and the L2 penalty give the same weights")
print("first layer weights, row 0:", model_a[0].weight.numpy()[0], "\n                            ",
      model_b[0].weight.numpy()[0])

# %% [markdown]
# With adaptive optimizers the two differ. `Adam(weight_decay=λ)` adds $\lambda w$ to the gradient before
# the per-parameter rescaling (still the same as the L2 penalty), while `AdamW` decays the weights
# directly, $w \leftarrow w - \eta\lambda w$, outside the rescaling ("decoupled" weight decay):

# %%
def one_step(make_optimizer, with_penalty):
    ag.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3))
    opt = make_optimizer(model.parameters())
    loss = F.cross_entropy(model(inputs), targets)
    if with_penalty:
        loss = loss + (lam / 2) * nn.utils.l2_penalty(model.parameters())
    opt.zero_grad()
    loss.backward()
    opt.step()
    return model[0].weight.numpy().copy()


adam_wd = one_step(lambda p: optim.Adam(p, lr=0.01, weight_decay=lam), False)
adam_l2 = one_step(lambda p: optim.Adam(p, lr=0.01), True)
adamw = one_step(lambda p: optim.AdamW(p, lr=0.01, weight_decay=lam), False)
print("Adam(weight_decay) vs Adam + L2 penalty: max difference", np.abs(adam_wd - adam_l2).max())
print("AdamW vs Adam + L2 penalty:             max difference", np.abs(adamw - adam_l2).max())
assert np.allclose(adam_wd, adam_l2, atol=1e-6)
assert not np.allclose(adamw, adam_l2, atol=1e-4)
