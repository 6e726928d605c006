# %% [markdown]
# # 03 · Softmax and cross-entropy
#
# A classifier's last layer produces scores $f_{i,j}$ (example $i$, class $j$) and turns each row into
# probabilities
#
# $$p_{i,j} = \frac{e^{f_{i,j}}}{\sum_k e^{f_{i,k}}} ,$$
#
# and the "softmax loss" of a batch of $N$ examples with labels $y_i$ is the mean cross-entropy
# $L = -\frac1N \sum_i \log p_{i,y_i}$. This notebook follows the lecture's treatment (seed notes `000`, with
# its letters $f$, $p$, $t$, $N$):
#
# 1. the formula as written gives `nan` when a score of 1000 appears (overflow) or when the largest score is
#    −1000 (underflow); subtracting the row maximum fixes both without changing $p$;
# 2. the gradient with respect to the scores is $\partial L/\partial f_{i,j} = (p_{i,j} - t_{i,j})/N$, with
#    $t_i$ the one-hot vector of label $y_i$; then one more chain-rule step gives the weights of the layer
#    that produced $f$.
#
# Two slips in the ML-review notes (`004`) about the same formulas are shown where they come up.

# %%
import numpy as np
import matplotlib.pyplot as plt

import autograd as ag
import nn.functional as F
from autograd import viz
from autograd.functional import jacobian

plt.rcParams.update({"figure.dpi": 80, "figure.figsize": (6, 3)})
np.set_printoptions(precision=4, suppress=True, linewidth=110)
rng = np.random.default_rng(0)


def tensor(values, name=None, grad=False):
    """A float64 tensor, named for pictures and derivations."""
    return ag.tensor(np.asarray(values, dtype=np.float64), requires_grad=grad, name=name)

# %% [markdown]
# ## 1. The formula as written breaks at ±1000
#
# $e^{1000}$ is far beyond the largest float64 ($\approx 1.8\cdot 10^{308} \approx e^{709.8}$): it becomes
# `inf`, and $\infty/\infty$ is `nan`. When the largest score is $-1000$, every $e^{f}$ rounds to $0$ and
# $0/0$ is `nan` again. (Warnings are silenced with `np.errstate` so the results speak for themselves.)

# %%
def softmax_as_written(f):
    e = np.exp(f)
    return e / e.sum()


high = np.array([1000.0, 999.0, 998.0])        # a score of 1000 appears
low = np.array([-1000.0, -1001.0, -1002.0])    # the largest score is −1000
with np.errstate(over="ignore", invalid="ignore", under="ignore"):
    print("exp(high)               =", np.exp(high))
    print("softmax_as_written(high) =", softmax_as_written(high))
    print("exp(low)                =", np.exp(low))
    print("softmax_as_written(low)  =", softmax_as_written(low))
    assert np.isnan(softmax_as_written(high)).all() and np.isnan(softmax_as_written(low)).all()

# %% [markdown]
# **The fix.** Subtracting one constant $c$ from every score of a row leaves $p$ unchanged, because
# $e^{-c}$ cancels between numerator and denominator:
#
# $$\frac{e^{f_j - c}}{\sum_k e^{f_k - c}} = \frac{e^{-c}\,e^{f_j}}{e^{-c}\sum_k e^{f_k}} = p_j .$$
#
# With $c = \max_k f_k$ the largest exponent is $e^0 = 1$: nothing overflows, and the denominator is at
# least 1, so nothing divides by zero. Scores far below the maximum may still round to $0$, which is
# harmless. `F.softmax` does exactly this.

# %%
stable_high = F.softmax(tensor(high)).numpy()
stable_low = F.softmax(tensor(low)).numpy()
print("F.softmax(high)        =", stable_high)
print("F.softmax(low)         =", stable_low)
print("as written, on [0, −1, −2] =", softmax_as_written(np.array([0.0, -1.0, -2.0])))
assert np.allclose(stable_high, softmax_as_written(np.array([0.0, -1.0, -2.0])))   # shifted by c = 1000
assert np.allclose(stable_low, stable_high)                                      # shifted by c = −1000

# %% [markdown]
# The same failure reaches the gradients. Built from chainrule primitives exactly as written, the loss
# $-\log p_0$ gets `nan` gradients at scores near 1000; `F.log_softmax` (which computes
# $f_j - \max f - \log\sum_k e^{f_k - \max f}$) gives the right ones, $p - t$ for one example.

# %%
def loss_as_written(f):
    e = f.exp()
    return -(e / e.sum()).log()[0]


with np.errstate(over="ignore", invalid="ignore", under="ignore"):
    f = tensor(high, "f", grad=True)
    loss_as_written(f).backward()
    print("gradient, as written:", f.grad.numpy())
    assert np.isnan(f.grad.numpy()).all()

f = tensor(high, "f", grad=True)
(-F.log_softmax(f)[0]).backward()
print("gradient, stable:    ", f.grad.numpy(), "  (= p − t)")
assert np.allclose(f.grad.numpy(), stable_high - np.array([1.0, 0.0, 0.0]))

# %% [markdown]
# `autograd.explain` writes out the chain rule of the loss as written, one primitive per line, checks the
# result against central differences, and its last section flags the unstable composition
# `log(softmax(f))` it found on the graph.

# %%
f_small = tensor([2.0, 1.0, 0.0], "f", grad=True)
derivation = ag.explain(loss_as_written(f_small), f_small)
assert "use log_softmax" in str(derivation)
derivation

# %% [markdown]
# **A sign slip in the notes.** The ML-review notes (`004`) write softmax with $e^{-z_j}$ in numerator and
# denominator; it is $e^{+z_j}$. With the minus sign the *lowest* score would get the highest probability:

# %%
z = np.array([2.0, 1.0, 0.0])
as_on_slide = softmax_as_written(-z)
print("softmax(z) =", F.softmax(tensor(z)).numpy(), "   with e^(−z):", as_on_slide)
assert np.argmax(F.softmax(tensor(z)).numpy()) == np.argmax(z)
assert np.argmax(as_on_slide) == np.argmin(z)

# %% [markdown]
# ## 2. The gradient of the softmax loss is $(p - t)/N$
#
# **Softmax Jacobian.** For one row, differentiate $p_j = e^{f_j}/S$ with $S = \sum_k e^{f_k}$ (quotient rule):
#
# $$\frac{\partial p_j}{\partial f_k} = \frac{\delta_{jk}e^{f_j}S - e^{f_j}e^{f_k}}{S^2} = p_j(\delta_{jk} - p_k),
# \qquad J_p(f) = \mathrm{diag}(p) - p\,p^\top .$$

# %%
f0 = rng.standard_normal(4)
p0 = F.softmax(tensor(f0)).numpy()
J = jacobian(lambda v: F.softmax(v), tensor(f0)).numpy()
print("J_p(f) =\n", J)
assert np.allclose(J, np.diag(p0) - np.outer(p0, p0))
assert np.allclose(J.sum(axis=0), 0)   # probabilities always sum to 1, so each column sums to 0

# %% [markdown]
# **Loss gradient.** For one example with label $y$ and one-hot $t$ ($t_y = 1$), $\ell = -\log p_y$ and
#
# $$\frac{\partial \ell}{\partial f_k} = -\frac{1}{p_y}\,\frac{\partial p_y}{\partial f_k}
# = -\frac{1}{p_y}\,p_y(\delta_{yk} - p_k) = p_k - t_k .$$
#
# The batch loss is the mean $L = \frac1N\sum_i \ell_i$, so $\frac{\partial L}{\partial f_{i,j}} = \frac{p_{i,j} - t_{i,j}}{N}$.
#
# Take a batch of $N = 4$ examples and $C = 3$ classes. `F.cross_entropy` is a composite of primitives
# (log-softmax, a pick of the label's entry, a mean) with no backward code of its own, and it carries the
# lecture's rule: `explain(L, f, level="layer")` states the whole layer's backward as that one rule and
# checks it against the chain rule through the primitives that ran. As always, we explain before
# `L.backward()`.

# %%
f = tensor([[2.0, 1.0, 0.1],
            [0.5, 2.5, 0.3],
            [1.0, 1.0, 3.0],
            [-1.0, 0.0, 2.0]], "f", grad=True)
labels = np.array([0, 1, 1, 2])                       # y_i
N, C = f.shape
L = F.cross_entropy(f, labels)
L.name = "L"

d_f = ag.explain(L, f, level="layer")
d_f

# %%
P = F.softmax(f.detach(), axis=1).numpy()
T = np.eye(C)[labels]                                  # one-hot rows t_i
print("p =\n", P, "\nt =\n", T)
print("(p − t)/N =\n", (P - T) / N)
assert np.allclose(d_f.gradient, (P - T) / N)
assert np.isclose(L.item(), -np.log(P[np.arange(N), labels]).mean())
assert all(error < 1e-12 for _, _, error in d_f.checks)

# %% [markdown]
# One element, say example 2 (label 1) and class 2, the class that example wrongly scores highest:
# $\partial L/\partial f_{2,2} = (p_{2,2} - 0)/4$. `index=(2, 2)` writes the sum for that element alone.

# %%
d_f22 = ag.explain(L, f, index=(2, 2), level="layer")
print(f"(p[2, 2] − t[2, 2]) / N = ({P[2, 2]:.4f} − 0) / {N} = {P[2, 2] / N:.4f};  explain: {d_f22.gradient.item():.4f}")
assert np.isclose(d_f22.gradient.item(), P[2, 2] / N)

L.backward()
assert np.allclose(f.grad.numpy(), (P - T) / N)
assert np.allclose(f.grad.numpy().sum(axis=1), 0)      # each row of the gradient sums to zero

# %% [markdown]
# ## 3. One layer further back: the weights that made the scores
#
# The notes then take the chain rule one step further, to the weights of the layer that made the scores.
# If the scores come from a linear layer $f = X W^\top + b$ (inputs $X \in \mathbb{R}^{N\times D}$, one row of
# $W$ per class), then $\partial L/\partial W = \bar g^\top X$ and $\partial L/\partial b = \sum_i \bar g_i$ with
# $\bar g = (p - t)/N$ arriving from the loss. With `level="layer"` the derivation has exactly those two
# steps; the collapsed picture draws each layer as one box with its rule (drawn, like the derivation,
# before `backward()`).

# %%
X = tensor(rng.standard_normal((N, 2)), "X")
W = tensor(rng.standard_normal((C, 2)), "W", grad=True)
b = tensor(np.zeros(C), "b", grad=True)
scores = F.linear(X, W, b)
scores.name = "f"
L = F.cross_entropy(scores, labels)
L.name = "L"

d_W = ag.explain(L, W, level="layer")
print(d_W)
viz.draw(L, collapse=True, rankdir="LR")

# %%
P = F.softmax(scores.detach(), axis=1).numpy()
g_bar = (P - T) / N
assert np.allclose(d_W.gradient, g_bar.T @ X.numpy())
L.backward()
assert np.allclose(W.grad.numpy(), g_bar.T @ X.numpy()) and np.allclose(b.grad.numpy(), g_bar.sum(axis=0))
print("∂L/∂W = ((p − t)/N)ᵀ X =\n", W.grad.numpy())

# %% [markdown]
# Finite differences agree too (central differences in float64, every score of the first batch):

# %%
def loss_at(values):
    return F.cross_entropy(tensor(values), labels).item()


eps = 1e-6
f_values = f.detach().numpy()
numeric = np.zeros((N, C))
for i in range(N):
    for j in range(C):
        step = np.zeros((N, C))
        step[i, j] = eps
        numeric[i, j] = (loss_at(f_values + step) - loss_at(f_values - step)) / (2 * eps)
print("max |autograd − finite differences| =", np.abs(numeric - f.grad.numpy()).max())
assert np.allclose(numeric, f.grad.numpy(), atol=1e-8)

# %% [markdown]
# ## 4. Why not train on the number of mistakes?
#
# The 0-1 loss counts misclassified examples, $\sum_i \mathbb{1}[\hat y_i \ne y_i]$ with
# $\hat y_i = \arg\max_j f_{i,j}$. **The ML-review notes (`004`) write $\mathbb{1}(\hat y = y)$, which counts the
# correct predictions instead.** Either way it is piecewise constant in $f$: a small change of the scores
# changes no count, so its gradient is zero almost everywhere and gives no direction. Cross-entropy is smooth
# and always says which way to move.

# %%
predictions = np.argmax(f_values, axis=1)
mistakes = int(np.sum(predictions != labels))
as_on_slide = int(np.sum(predictions == labels))
print(f"ŷ = {predictions}, y = {labels}:  0-1 loss Σ[ŷ ≠ y] = {mistakes};  the slide's Σ[ŷ = y] = {as_on_slide}")
assert (mistakes, as_on_slide) == (1, 3) and mistakes + as_on_slide == N
nudged = np.argmax(f_values + 1e-3 * rng.standard_normal((N, C)), axis=1)
assert np.sum(nudged != labels) == mistakes    # a small change of the scores changes no count

# %% [markdown]
# What the gradient does for one example: gradient descent $f \leftarrow f - \eta (p - t)$ lowers the score of
# every wrong class in proportion to the probability it received, and raises the true class by $1 - p_y$.
# A confident, correct prediction ($p \approx t$) gets almost no gradient.

# %%
i = 2
P = F.softmax(tensor(f_values), axis=1).numpy()
fig, ax = plt.subplots(figsize=(6, 2.8))
xs = np.arange(C)
ax.bar(xs - 0.2, P[i], width=0.4, label="p (softmax)")
ax.bar(xs + 0.2, T[i], width=0.4, label="t (one-hot)")
ax.plot(xs, P[i] - T[i], "ko-", label="p − t (gradient · N)")
ax.axhline(0, color="gray", lw=0.8)
ax.set_xticks(xs)
ax.set_xlabel("class j")
ax.set_title(f"example {i}, label y = {labels[i]}")
ax.legend(fontsize=8)
plt.show()
