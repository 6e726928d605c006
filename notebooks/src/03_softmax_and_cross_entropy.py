# %% [markdown]
# # 03 · Softmax and cross-entropy
#
# A classifier's last layer turns scores (logits) $z \in \mathbb{R}^C$ into probabilities
#
# $$p_j = \mathrm{softmax}(z)_j = \frac{e^{z_j}}{\sum_k e^{z_k}},$$
#
# and the softmax loss (cross-entropy) of the true class $y$ is $\ell = -\log p_y$. Two things to see:
#
# 1. the formula as written **overflows** for large logits and **underflows** for very negative ones;
#    subtracting the maximum fixes it without changing the result;
# 2. the gradient of the averaged loss with respect to the logits is $(p - t)/N$ — derived here and
#    checked against autograd.

# %%
import numpy as np
import matplotlib.pyplot as plt

import autograd as ag
import nn.functional as F
from autograd.functional import jacobian

plt.rcParams.update({"figure.dpi": 80, "figure.figsize": (6, 3)})
np.set_printoptions(precision=4, suppress=True, linewidth=110)
rng = np.random.default_rng(0)

# %% [markdown]
# ## 1. The naive softmax breaks at ±1000
#
# $e^{1000}$ is far beyond the largest float64 ($\approx 1.8\cdot 10^{308} \approx e^{709.8}$), so it
# becomes `inf` and $\infty/\infty$ is `nan`. At the other end $e^{-1000}$ rounds to $0$, and $0/0$ is
# `nan` again. (Warnings are silenced with `np.errstate` so the results speak for themselves.)

# %%
def naive_softmax(z):
    e = np.exp(z)
    return e / e.sum()


big = np.array([1000.0, 999.0, 998.0])
with np.errstate(over="ignore", invalid="ignore", under="ignore"):
    print("exp(big)              =", np.exp(big))
    print("naive_softmax(big)    =", naive_softmax(big))
    print("exp(-big)             =", np.exp(-big))
    print("naive_softmax(-big)   =", naive_softmax(-big))
    assert np.isnan(naive_softmax(big)).all() and np.isnan(naive_softmax(-big)).all()

# %% [markdown]
# **The fix.** Softmax does not change when the same constant $c$ is subtracted from every logit:
#
# $$\frac{e^{z_j - c}}{\sum_k e^{z_k - c}} = \frac{e^{-c}\,e^{z_j}}{e^{-c}\sum_k e^{z_k}} = \frac{e^{z_j}}{\sum_k e^{z_k}}.$$
#
# With $c = \max_k z_k$ the largest exponent is $e^0 = 1$: nothing overflows, and the denominator is at
# least 1, so nothing divides by zero. `F.softmax` does exactly this.

# %%
stable = F.softmax(ag.tensor(big, dtype=np.float64)).numpy()
print("F.softmax(big)        =", stable)
print("F.softmax(-big)       =", F.softmax(ag.tensor(-big, dtype=np.float64)).numpy())
print("naive on [2, 1, 0]    =", naive_softmax(np.array([2.0, 1.0, 0.0])))
assert np.allclose(stable, naive_softmax(np.array([2.0, 1.0, 0.0])))   # shift invariance
assert np.allclose(F.softmax(ag.tensor(-big, dtype=np.float64)).numpy(), naive_softmax(np.array([-2.0, -1.0, 0.0])))

# %% [markdown]
# The same failure reaches the gradients. Built from chainrule primitives, the naive softmax-loss gives
# `nan` gradients at logits of 1000; `F.log_softmax` (which computes
# $z_j - \max z - \log\sum_k e^{z_k - \max z}$) gives the right ones.

# %%
def naive_loss(z):
    e = z.exp()
    return -(e / e.sum()).log()[0]


with np.errstate(over="ignore", invalid="ignore", under="ignore"):
    z = ag.tensor(big, dtype=np.float64, requires_grad=True)
    naive_loss(z).backward()
    print("naive gradient:  ", z.grad.numpy())
    assert np.isnan(z.grad.numpy()).all()

z = ag.tensor(big, dtype=np.float64, requires_grad=True)
(-F.log_softmax(z)[0]).backward()
print("stable gradient: ", z.grad.numpy(), "  (= p − t)")
assert np.allclose(z.grad.numpy(), stable - np.array([1.0, 0.0, 0.0]))

# %% [markdown]
# `autograd.explain` writes out the chain rule of the naive loss, one primitive per line (forward, then
# each VJP in the order backward runs it), checks the result against central differences, and its last
# section flags the unstable composition `log(softmax(z))` it found on the graph.

# %%
z_small = ag.tensor([2.0, 1.0, 0.0], dtype=np.float64, requires_grad=True, name="z")
derivation = ag.explain(naive_loss(z_small), z_small)
assert "use log_softmax" in str(derivation)
derivation

# %% [markdown]
# ## 2. The gradient of the softmax loss is $(p - t)/N$
#
# **Softmax Jacobian.** Differentiate $p_j = e^{z_j}/S$ with $S = \sum_k e^{z_k}$ (quotient rule):
#
# $$\frac{\partial p_j}{\partial z_k} = \frac{\delta_{jk}e^{z_j}S - e^{z_j}e^{z_k}}{S^2} = p_j(\delta_{jk} - p_k),
# \qquad J_p(z) = \mathrm{diag}(p) - p\,p^\top .$$

# %%
z0 = rng.standard_normal(4)
p0 = F.softmax(ag.tensor(z0, dtype=np.float64)).numpy()
J = jacobian(lambda z: F.softmax(z), ag.tensor(z0, dtype=np.float64)).numpy()
print("J_p(z) =\n", J)
assert np.allclose(J, np.diag(p0) - np.outer(p0, p0))
assert np.allclose(J.sum(axis=0), 0)   # probabilities always sum to 1, so each column sums to 0

# %% [markdown]
# **Loss gradient.** For one example with one-hot target $t$ ($t_y = 1$), $\ell = -\log p_y$ and
#
# $$\frac{\partial \ell}{\partial z_k} = -\frac{1}{p_y}\,\frac{\partial p_y}{\partial z_k}
# = -\frac{1}{p_y}\,p_y(\delta_{yk} - p_k) = p_k - t_k .$$
#
# The loss of a batch is the mean $L = \frac1N\sum_i \ell_i$, so
#
# $$\frac{\partial L}{\partial z_{ik}} = \frac{p_{ik} - t_{ik}}{N}.$$
#
# Check it against `F.cross_entropy` on a batch of $N = 6$ examples with $C = 5$ classes:

# %%
N, C = 6, 5
logits = ag.tensor(2 * rng.standard_normal((N, C)), dtype=np.float64, requires_grad=True)
labels = rng.integers(0, C, size=N)

loss = F.cross_entropy(logits, labels)
loss.backward()

P = F.softmax(logits.detach(), axis=1).numpy()
T = np.eye(C)[labels]
print(f"L = {loss.item():.4f}  (= mean of −log p_y = {-np.log(P[np.arange(N), labels]).mean():.4f})")
print("autograd ∂L/∂z =\n", logits.grad.numpy())
print("(P − T)/N =\n", (P - T) / N)
assert np.allclose(logits.grad.numpy(), (P - T) / N)
assert np.isclose(loss.item(), -np.log(P[np.arange(N), labels]).mean())
assert np.allclose(logits.grad.numpy().sum(axis=1), 0)  # each row of the gradient sums to zero

# %% [markdown]
# Finite differences agree too (central differences in float64, every logit):

# %%
def loss_at(zs):
    return F.cross_entropy(ag.tensor(zs, dtype=np.float64), labels).item()


eps = 1e-6
numeric = np.zeros((N, C))
for i in range(N):
    for k in range(C):
        d = np.zeros((N, C))
        d[i, k] = eps
        numeric[i, k] = (loss_at(logits.numpy() + d) - loss_at(logits.numpy() - d)) / (2 * eps)
print("max |autograd − finite differences| =", np.abs(numeric - logits.grad.numpy()).max())
assert np.allclose(numeric, logits.grad.numpy(), atol=1e-8)

# %% [markdown]
# What the gradient does for one example: gradient descent $z \leftarrow z - \eta (p - t)$ lowers the
# score of every wrong class in proportion to the probability it received, and raises the true class by
# $1 - p_y$. A confident, correct prediction ($p \approx t$) gets almost no gradient.

# %%
i = 0
fig, ax = plt.subplots(figsize=(6, 2.8))
xs = np.arange(C)
ax.bar(xs - 0.2, P[i], width=0.4, label="p (softmax)")
ax.bar(xs + 0.2, T[i], width=0.4, label="t (one-hot)")
ax.plot(xs, P[i] - T[i], "ko-", label="p − t (gradient · N)")
ax.axhline(0, color="gray", lw=0.8)
ax.set_xticks(xs)
ax.set_xlabel("class")
ax.set_title(f"example 0, true class {labels[i]}")
ax.legend(fontsize=8)
plt.show()
