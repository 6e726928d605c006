# %% [markdown]
# # 02 · Tensors and Jacobians
#
# Backprop on tensors is the scalar chain rule with more subscripts and more sums. The lecture notes put it
# as $\partial L/\partial x_j = \sum_i \frac{\partial L}{\partial h_i}\frac{\partial h_i}{\partial x_j}$ for
# vectors, one more index and one more sum for every axis (seed notes `000`), and as a product of Jacobians
# evaluated from the loss end (`003`). This notebook checks three consequences with chainrule:
#
# 1. **Broadcasting forward means summing backward.** A bias copied into every row receives the sum of
#    the rows' gradients.
# 2. **The Jacobian of a linear layer** $h = Wx + b$, and why backprop multiplies a *vector* by one
#    Jacobian at a time instead of building them.
# 3. **Mean subtraction** $h_i = x_i - \frac1D\sum_k x_k$, the notes' worked example, whose backward pass
#    is the same operation: $\partial L/\partial x_i = \partial L/\partial h_i - \frac1D\sum_k \partial L/\partial h_k$.
#
# Every claim is checked numerically with an `assert`.

# %%
import numpy as np
import matplotlib.pyplot as plt

import autograd as ag
from autograd import viz
from autograd.functional import jacobian
from autograd.grad_mode import scoped
from autograd.layer_rules import layer_rule
from nn import layer_rules

plt.rcParams.update({"figure.dpi": 80, "figure.figsize": (6, 3)})
np.set_printoptions(precision=4, suppress=True, linewidth=110)
rng = np.random.default_rng(0)


def tensor(values, name=None, grad=False):
    """A float64 tensor, named for pictures and derivations."""
    return ag.tensor(np.asarray(values, dtype=np.float64), requires_grad=grad, name=name)

# %% [markdown]
# ## 1. Broadcasting and how gradients un-broadcast
#
# $y = x + b$ with $x \in \mathbb{R}^{4\times 3}$ and $b \in \mathbb{R}^{3}$: NumPy copies `b` into every
# row. Each $b_j$ influences four outputs $y_{0j}, \dots, y_{3j}$, and the chain rule adds the four
# contributions:
#
# $$\frac{\partial L}{\partial b_j} = \sum_{i} \frac{\partial L}{\partial y_{ij}}\,\frac{\partial y_{ij}}{\partial b_j} = \sum_i G_{ij}, \qquad G = \frac{\partial L}{\partial y}.$$
#
# So the gradient of a broadcast is a **sum over the broadcast axes**. We make the upstream gradient an
# arbitrary matrix $G$ by taking $L = \sum_{ij} G_{ij}\, y_{ij}$.

# %%
x = tensor(rng.standard_normal((4, 3)), "x", grad=True)
b = tensor(rng.standard_normal(3), "b", grad=True)
G = rng.standard_normal((4, 3))

y = x + b
L = (y * tensor(G, "G")).sum()
L.backward()

print("G =\n", G)
print("b.grad        =", b.grad.numpy())
print("G.sum(axis=0) =", G.sum(axis=0))
assert np.allclose(b.grad.numpy(), G.sum(axis=0))
assert np.allclose(x.grad.numpy(), G)  # x was not broadcast: it gets G unchanged

# %% [markdown]
# A column vector `c` of shape `(4, 1)` is copied along axis 1, so its gradient sums over axis 1
# (keeping the axis). A scalar is copied everywhere and receives the sum over everything.

# %%
c = tensor(rng.standard_normal((4, 1)), "c", grad=True)
s = tensor(0.5, "s", grad=True)
(((x.detach() + c) * s) * tensor(G)).sum().backward()

print("c.grad =", c.grad.numpy().ravel(), " shape", c.grad.shape)
assert c.grad.shape == (4, 1)
assert np.allclose(c.grad.numpy(), 0.5 * G.sum(axis=1, keepdims=True))
xc = x.detach().numpy() + c.detach().numpy()
assert np.allclose(s.grad.item(), (xc * G).sum())

# %% [markdown]
# `broadcast_to` and `sum_to` are an **adjoint pair**: for every $b$ and $G$,
# $\langle \mathrm{broadcast}(b), G\rangle = \langle b, \mathrm{sum\_to}(G)\rangle$. That identity is why
# one is the other's VJP.

# %%
bb = rng.standard_normal(3)
lhs = np.sum(ag.broadcast_to(tensor(bb), (4, 3)).numpy() * G)
rhs = np.sum(bb * ag.sum_to(tensor(G), (3,)).numpy())
print(f"<broadcast(b), G> = {lhs:.6f}   <b, sum_to(G)> = {rhs:.6f}")
assert np.isclose(lhs, rhs)

# %% [markdown]
# The backward graph shows where the sum happens: the edge into `b` is labelled with the implicit sum
# over the broadcast axis (the spot where hand-written VJPs most often go wrong). It is drawn before any
# `backward()` of this graph, so it shows the values and gradients of this very forward pass.

# %%
y = x + b
y.name = "y"
viz.draw((y * y).sum(), rankdir="LR", show_values=False)

# %% [markdown]
# ## 2. The Jacobian of a linear layer
#
# The notes' layer with 2-d weights, a 1-d bias and 1-d activations: $h = Wx + b$ with $x \in \mathbb{R}^m$
# ($m = 3$ inputs) and $h \in \mathbb{R}^k$ ($k = 2$ outputs), followed by $f = \tanh h$ and the loss
# $L = \tfrac12\lVert f - t\rVert^2$. A Jacobian has one row per output and one column per input
# ($n_\text{outputs} \times n_\text{inputs}$), so the layer has three of them:
#
# $$J_h(x) = W \;(k\times m), \qquad J_h(b) = I_k \;(k \times k), \qquad
# J_h(W)_{i,(a,j)} = \frac{\partial h_i}{\partial W_{aj}} = \delta_{ia}\,x_j \;(k \times km).$$
#
# With $W$ flattened to a vector of $km$ numbers, the chain $W \to h \to f \to L$ multiplies Jacobians:
#
# $$J_L(W) = \underbrace{J_L(f)}_{1\times k}\;\underbrace{J_f(h)}_{k\times k}\;\underbrace{J_h(W)}_{k\times km} = (\nabla_W L)^\top .$$

# %%
x = tensor([1.0, 2.0, -1.0], "x")
W = tensor([[0.5, -1.0, 0.0], [1.0, 0.5, -0.5]], "W", grad=True)
b = tensor([0.1, -0.2], "b", grad=True)
t = tensor([0.5, -0.5], "t")
k, m = W.shape

h = W @ x + b
h.name = "h"
f = h.tanh()
f.name = "f"
L = 0.5 * ((f - t) ** 2).sum()
L.name = "L"

x0, W0, b0, t0 = x.numpy(), W.detach().numpy(), b.detach().numpy(), t.numpy()
h0, f0 = h.detach().numpy(), f.detach().numpy()
J_h_x = jacobian(lambda v: tensor(W0) @ v + tensor(b0), tensor(x0)).numpy()           # (k, m)
J_h_b = jacobian(lambda v: tensor(W0) @ tensor(x0) + v, tensor(b0)).numpy()           # (k, k)
J_h_W = jacobian(lambda M: M @ tensor(x0) + tensor(b0), tensor(W0)).numpy().reshape(k, k * m)
J_f_h = jacobian(lambda v: v.tanh(), tensor(h0)).numpy()                               # (k, k)
J_L_f = jacobian(lambda v: 0.5 * ((v - tensor(t0)) ** 2).sum(), tensor(f0)).numpy().reshape(1, k)

print("J_h(x) =\n", J_h_x, "\nJ_h(W) =\n", J_h_W, "\nJ_f(h) =\n", J_f_h)
assert np.allclose(J_h_x, W0) and np.allclose(J_h_b, np.eye(k))
assert np.allclose(J_h_W, np.kron(np.eye(k), x0[None, :]))   # row i holds xᵀ in block i, zeros elsewhere
assert np.allclose(J_f_h, np.diag(1 - f0 ** 2))              # tanh' = 1 − tanh², on the diagonal only
J_L_W = J_L_f @ J_f_h @ J_h_W                                # (1, k·m)

# %% [markdown]
# **One element, as the notes write it.** $\frac{\partial L}{\partial W_{ij}} = \sum_{a} \frac{\partial L}{\partial h_a}\frac{\partial h_a}{\partial W_{ij}}$,
# and only $a = i$ survives ($\partial h_a/\partial W_{ij} = \delta_{ai}x_j$), so
# $\partial L/\partial W_{ij} = \frac{\partial L}{\partial h_i}\,x_j$. `autograd.explain(L, W, index=(i, j))`
# writes that sum for one element of the live graph: the backward steps, then the terms that element
# touches, then the value next to a central difference. (Before `L.backward()`: the derivation shows this
# forward's numbers.)

# %%
d_W12 = ag.explain(L, W, index=(1, 2))
d_W12

# %%
dL_dh = (f0 - t0) * (1 - f0 ** 2)          # ∂L/∂h = J_L(f)·J_f(h), a row vector
by_hand = dL_dh[1] * x0[2]
print(f"∂L/∂W[1, 2] = ∂L/∂h_1 · x_2 = {dL_dh[1]:.4f} · {x0[2]:g} = {by_hand:.4f};  explain: {d_W12.gradient.item():.4f}")
assert np.isclose(d_W12.gradient.item(), by_hand) and np.isclose(d_W12.numeric.item(), by_hand, rtol=1e-7)

d_b = ag.explain(L, b, index=(0,))       # ∂L/∂b_i = Σ_a ∂L/∂h_a · δ_ai = ∂L/∂h_i
assert np.isclose(d_b.gradient.item(), dL_dh[0])

L.backward()
assert np.allclose(J_L_W.reshape(k, m), W.grad.numpy())     # the product of Jacobians is the gradient
assert np.allclose(W.grad.numpy(), np.outer(dL_dh, x0)) and np.allclose(b.grad.numpy(), dL_dh)
print("∂L/∂W = (∂L/∂h) xᵀ =\n", W.grad.numpy())

# %% [markdown]
# The Jacobians are mostly zeros: $J_f(h)$ is diagonal and $J_h(W) = I_k \otimes x^\top$. Backprop never
# forms them; it only applies each one to the row vector $\bar g = \partial L/\partial(\cdot)$ arriving from
# the loss side, which is the notes' "evaluate the product left to right":
#
# | step | as a matrix product | what the VJP computes | cost |
# |---|---|---|---|
# | $L \to f$ | $J_L(f)$ | $\bar g_f = f - t$ | $k$ |
# | $f \to h$ | $\bar g_f\, J_f(h)$ | $\bar g_h = \bar g_f \odot (1 - f^2)$ | $k$ instead of $k^2$ |
# | $h \to W$ | $\bar g_h\, J_h(W)$ | $\bar g_W = \bar g_h\, x^\top$ (outer product) | $km$ instead of $k^2 m$ |
# | $h \to x$ | $\bar g_h\, J_h(x)$ | $\bar g_x = \bar g_h\, W$ | $km$ |

# %% [markdown]
# ### Why vectors, not matrices: count the FLOPs
#
# For a deep chain $x_K = f_K(\dots f_1(x_0))$ of width $n$ with a scalar loss, the gradient with respect
# to $x_0$ is $J_L(x_K)\,J_K\cdots J_1$. Multiplying the $n\times n$ Jacobians **right to left**
# (matrix × matrix) costs about $2n^3$ FLOPs per layer; **left to right**, starting from the $1\times n$ row
# $J_L(x_K)$ (reverse mode, backprop), every product is a vector × matrix, $2n^2$ per layer. Same numbers,
# a factor $n$ fewer operations.

# %%
def matmul_flops(a, b):
    """FLOPs of a (p×q)·(q×r) product: p·r dot products of length q."""
    (p, q), (_, r) = a, b
    return 2 * p * q * r


def chain_flops(n, K, order):
    row, mats = (1, n), [(n, n)] * K
    if order == "reverse":  # ((row · J_K) · J_{K-1}) · …
        total, acc = 0, row
        for J in mats:
            total += matmul_flops(acc, J)
            acc = (acc[0], J[1])
        return total
    total, acc = 0, mats[0]  # row · (J_K · (J_{K-1} · … J_1))
    for J in mats[1:]:
        total += matmul_flops(J, acc)
    return total + matmul_flops(row, acc)


K = 10
print(f"{'width n':>8} {'matrix×matrix':>15} {'vector×matrix':>15} {'ratio':>7}")
for width in (10, 100, 1000, 4096):
    forward, reverse = chain_flops(width, K, "forward"), chain_flops(width, K, "reverse")
    print(f"{width:>8} {forward:>15.3g} {reverse:>15.3g} {forward / reverse:>7.0f}")

# %% [markdown]
# Matrix multiplication is associative, so both orders give the same gradient; check it on a small
# random chain:

# %%
Js = [rng.standard_normal((6, 6)) for _ in range(K)]
row = rng.standard_normal((1, 6))
right_to_left = Js[0]
for J in Js[1:]:
    right_to_left = J @ right_to_left
left_to_right = row
for J in reversed(Js):
    left_to_right = left_to_right @ J
assert np.allclose(row @ right_to_left, left_to_right)

# %% [markdown]
# ## 3. Mean subtraction: the backward pass is the forward pass
#
# The notes' worked example: $h_i = x_i - \frac1D \sum_k x_k$ over the $D$ channels of one input. Its local
# derivative is $\partial h_i/\partial x_j = \delta_{ij} - \frac1D$, and the chain rule gives
#
# $$\frac{\partial L}{\partial x_j} = \sum_i \frac{\partial L}{\partial h_i}\Big(\delta_{ij} - \frac1D\Big)
# = \frac{\partial L}{\partial h_j} - \frac1D \sum_i \frac{\partial L}{\partial h_i}:$$
#
# the backward subtracts the mean of the upstream gradient, exactly as the forward subtracted the mean of
# $x$. We write the layer as a small composite and attach chainrule's layer rule for it
# (`nn.layer_rules.MEAN_SUBTRACTION`), so that `explain(..., level="layer")` states that rule as one step and
# checks it against the chain rule through the primitives (`sub`, `mean`) that actually ran.

# %%
@layer_rule(layer_rules.MEAN_SUBTRACTION)
@scoped("mean_subtraction")
def mean_subtraction(x, axis=-1):
    """h = x − mean(x) along `axis` (keepdims, so it broadcasts back over x)."""
    return x - x.mean(axis=axis, keepdims=True)


x = tensor([1.0, 3.0, 2.0, 6.0], "x", grad=True)      # D = 4 channels
G = tensor([1.0, -2.0, 0.0, 5.0], "G")                 # the upstream gradient ∂L/∂h, chosen
h = mean_subtraction(x)
h.name = "h"
L = (h * G).sum()
L.name = "L"
print("h =", h.detach().numpy())

d_x = ag.explain(L, x, level="layer")
d_x

# %%
D = 4
g = G.numpy()
print("∂L/∂x               =", d_x.gradient)
print("∂L/∂h − mean(∂L/∂h) =", g - g.mean())
assert np.allclose(d_x.gradient, g - g.mean()) and np.allclose(d_x.gradient, [0.0, -3.0, -1.0, 4.0])
assert all(error < 1e-12 for _, _, error in d_x.checks)       # the rule agrees with the engine's chain rule

J = jacobian(lambda v: mean_subtraction(v), x.detach()).numpy()
assert np.allclose(J, np.eye(D) - np.ones((D, D)) / D)       # δ_ij − 1/D
assert np.allclose(J, J.T) and np.allclose(J @ J, J)         # symmetric, and a projection: J² = J

# %% [markdown]
# ### A batch, and the broadcasting slip the notes warn about
#
# For a batch $X \in \mathbb{R}^{N\times D}$ (one input per row) the mean is over axis 1. Written as
# `X - X.mean(axis=1)`, the means form a vector of length $N$ that broadcasts along the *last* axis, the
# $D$ axis: with $N \ne D$ that is a shape error, and with $N = D$ it silently subtracts row $j$'s mean from
# column $j$. `keepdims=True` keeps the mean as a column $(N, 1)$, which broadcasts along the rows.

# %%
X = tensor(rng.integers(0, 10, size=(3, 4)), "X", grad=True)
try:
    X - X.mean(axis=1)
except ValueError as error:
    print("N = 3, D = 4:", error)

square = tensor(np.arange(9.0).reshape(3, 3))
wrong = (square - square.mean(axis=1)).numpy()
right = (square - square.mean(axis=1, keepdims=True)).numpy()
print("N = D = 3, without keepdims (rows do not have mean 0):\n", wrong)
assert not np.allclose(wrong.mean(axis=1), 0) and np.allclose(right.mean(axis=1), 0)

# %% [markdown]
# With the mean taken per row, the backward rule holds row by row: each row of $\partial L/\partial X$ is
# that row of the upstream gradient minus its own mean.

# %%
GX = rng.standard_normal((3, 4))
mean_subtraction(X, axis=1).backward(tensor(GX))
assert np.allclose(X.grad.numpy(), GX - GX.mean(axis=1, keepdims=True))

fig, ax = plt.subplots(figsize=(6, 2.6))
ax.plot(g, "o-", label="upstream ∂L/∂h")
ax.plot(d_x.gradient, "s--", label="∂L/∂x = ∂L/∂h − mean")
ax.axhline(g.mean(), color="gray", lw=0.8, ls=":", label="mean of ∂L/∂h")
ax.set_xlabel("channel i")
ax.set_xticks(range(D))
ax.legend(fontsize=8)
ax.set_title("the backward of mean subtraction is mean subtraction")
plt.show()
