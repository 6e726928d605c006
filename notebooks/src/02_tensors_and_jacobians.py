# %% [markdown]
# # 02 · Tensors and Jacobians
#
# Backprop on tensors is the scalar chain rule with bookkeeping. This notebook checks three facts
# with chainrule:
#
# 1. **Broadcasting forward means summing backward.** A bias `b` of shape `(3,)` added to every row of
#    `x` `(4, 3)` receives the sum of the upstream gradient over the rows.
# 2. **The Jacobian view.** $\partial L/\partial W$ is a product of Jacobians, but backprop never builds
#    them: it multiplies a *vector* by one Jacobian at a time, which is far cheaper.
# 3. **Mean subtraction** $h = x - \bar x$ has a backward pass of the same form:
#    $\partial L/\partial x = g - \bar g$.
#
# Every claim is checked numerically (`assert np.allclose(...)`).

# %%
import numpy as np
import matplotlib.pyplot as plt

import autograd as ag
from autograd import viz
from autograd.functional import jacobian

plt.rcParams.update({"figure.dpi": 80, "figure.figsize": (6, 3)})
np.set_printoptions(precision=4, suppress=True, linewidth=110)
rng = np.random.default_rng(0)

# %% [markdown]
# ## 1. Broadcasting and how gradients un-broadcast
#
# $y = x + b$ with $x \in \mathbb{R}^{4\times 3}$ and $b \in \mathbb{R}^{3}$: NumPy copies `b` into every
# row. Each copy $b_j$ influences four outputs $y_{0j}, \dots, y_{3j}$, and the chain rule adds the four
# contributions:
#
# $$\frac{\partial L}{\partial b_j} = \sum_{i} \frac{\partial L}{\partial y_{ij}}\,\frac{\partial y_{ij}}{\partial b_j} = \sum_i G_{ij}, \qquad G = \frac{\partial L}{\partial y}.$$
#
# So the gradient of a broadcast is a **sum over the broadcast axes**. We make the upstream gradient an
# arbitrary matrix `G` by taking $L = \sum_{ij} G_{ij}\, y_{ij}$.

# %%
x = ag.tensor(rng.standard_normal((4, 3)), dtype=np.float64, requires_grad=True, name="x")
b = ag.tensor(rng.standard_normal(3), dtype=np.float64, requires_grad=True, name="b")
G = rng.standard_normal((4, 3))

y = x + b
L = (y * ag.tensor(G)).sum()
L.backward()

print("G =\n", G)
print("b.grad        =", b.grad.numpy())
print("G.sum(axis=0) =", G.sum(axis=0))
assert np.allclose(b.grad.numpy(), G.sum(axis=0))
assert np.allclose(x.grad.numpy(), G)  # x was not broadcast: it gets G unchanged

# %% [markdown]
# A column vector `c` of shape `(4, 1)` is copied along axis 1, so its gradient sums over axis 1
# (keeping the axis). A scalar is copied everywhere and receives the sum of all of `G`.

# %%
c = ag.tensor(rng.standard_normal((4, 1)), dtype=np.float64, requires_grad=True)
s = ag.tensor(0.5, dtype=np.float64, requires_grad=True)
(((x.detach() + c) * s) * ag.tensor(G)).sum().backward()

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
lhs = np.sum(ag.broadcast_to(ag.tensor(bb), (4, 3)).numpy() * G)
rhs = np.sum(bb * ag.sum_to(ag.tensor(G), (3,)).numpy())
print(f"<broadcast(b), G> = {lhs:.6f}   <b, sum_to(G)> = {rhs:.6f}")
assert np.isclose(lhs, rhs)

# %% [markdown]
# The backward graph shows where the sum happens: the edge into `b` is labelled with the implicit sum
# over the broadcast axis (the spot where hand-written VJPs most often go wrong).

# %%
y = x + b
viz.draw((y * y).sum(), show_grads=False)

# %% [markdown]
# ## 2. The Jacobian view
#
# Take one layer and a loss: $h = W x$, $y = \tanh h$, $L = \tfrac12\lVert y - t\rVert^2$ with
# $W \in \mathbb{R}^{m\times n}$. Treat $W$ as a vector of $mn$ numbers. The chain rule in higher
# dimensions multiplies Jacobians:
#
# $$J_L(W) = \underbrace{J_L(y)}_{1\times m}\;\underbrace{J_y(h)}_{m\times m}\;\underbrace{J_h(W)}_{m\times mn}.$$
#
# `autograd.functional.jacobian(f, x)` builds each one (one VJP per output element); their product must
# equal the gradient backprop computes.

# %%
m, n = 3, 4
W0 = 0.5 * rng.standard_normal((m, n))
x0 = rng.standard_normal(n)
t0 = rng.standard_normal(m)
f64 = lambda a: ag.tensor(a, dtype=np.float64)

h0 = W0 @ x0
y0 = np.tanh(h0)

J_L_y = jacobian(lambda y: 0.5 * ((y - f64(t0)) ** 2).sum(), f64(y0)).numpy().reshape(1, m)
J_y_h = jacobian(lambda h: h.tanh(), f64(h0)).numpy()                      # (m, m)
J_h_W = jacobian(lambda W: W @ f64(x0), f64(W0)).numpy().reshape(m, m * n)  # (m, m·n)
J_L_W = J_L_y @ J_y_h @ J_h_W                                              # (1, m·n)

W = ag.tensor(W0, dtype=np.float64, requires_grad=True)
L = 0.5 * (((W @ f64(x0)).tanh() - f64(t0)) ** 2).sum()
L.backward()

print("J_y(h) is diagonal:\n", J_y_h)
print("J_h(W) =\n", J_h_W)
assert np.allclose(J_L_W.reshape(m, n), W.grad.numpy())
assert np.allclose(J_y_h, np.diag(1 - y0 ** 2))              # tanh' = 1 − tanh²
assert np.allclose(J_h_W, np.kron(np.eye(m), x0[None, :]))   # row i holds xᵀ in block i

# %% [markdown]
# The Jacobians are mostly zeros: $J_y(h)$ is diagonal and $J_h(W) = I_m \otimes x^\top$. Backprop
# exploits that: it never forms them, it only applies them to the incoming row vector
# $\bar g = \partial L/\partial(\cdot)$:
#
# | step | as a matrix product | what the VJP computes | cost |
# |---|---|---|---|
# | $L \to y$ | $J_L(y)$ | $\bar g_y = y - t$ | $m$ |
# | $y \to h$ | $\bar g_y\, J_y(h)$ | $\bar g_h = \bar g_y \odot (1 - y^2)$ | $m$ instead of $m^2$ |
# | $h \to W$ | $\bar g_h\, J_h(W)$ | $\bar g_W = \bar g_h\, x^\top$ (outer product) | $mn$ instead of $m^2 n$ |

# %%
g_y = y0 - t0
g_h = g_y * (1 - y0 ** 2)
g_W = np.outer(g_h, x0)
assert np.allclose(g_W, W.grad.numpy())
print("∂L/∂W from three VJPs =\n", g_W)

# %% [markdown]
# ### Why vectors, not matrices: count the FLOPs
#
# For a deep chain $x_K = f_K(\dots f_1(x_0))$ of width $n$ with a scalar loss, the gradient with respect
# to $x_0$ is $J_L(x_K)\,J_K\cdots J_1$. Multiplying the $n\times n$ Jacobians **right to left**
# (matrix × matrix, what forward-mode accumulation of the full Jacobian does) costs about $2n^3$ FLOPs
# per layer; **left to right** starting from the $1\times n$ row $J_L(x_K)$ (reverse mode = backprop)
# every product is a vector × matrix, $2n^2$ per layer. Same numbers, a factor $n$ fewer operations.

# %%
def matmul_flops(a, b):
    """FLOPs of an (p×q)·(q×r) product: p·r dot products of length q."""
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
# The two orders give the same gradient; check it on a small random chain:

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
# ## 3. Mean subtraction: the backward pass looks like the forward pass
#
# $h = x - \bar x$ with $\bar x = \frac1n\sum_k x_k$. Its Jacobian is
#
# $$\frac{\partial h_i}{\partial x_j} = \delta_{ij} - \frac1n, \qquad J = I - \tfrac1n \mathbf 1 \mathbf 1^\top .$$
#
# $J$ is symmetric, so the VJP is $J^\top g = J g$:
#
# $$\frac{\partial L}{\partial x} = g - \bar g .$$
#
# The backward pass subtracts the mean of the upstream gradient, exactly as the forward pass subtracted
# the mean of $x$. ($J$ is the projection onto vectors with zero mean, so $J^2 = J$.)

# %%
n = 5
x = ag.tensor(rng.standard_normal(n), dtype=np.float64, requires_grad=True)
g = rng.standard_normal(n)
h = x - x.mean()
h.backward(ag.tensor(g, dtype=np.float64))

J = jacobian(lambda v: v - v.mean(), x.detach()).numpy()
print("x.grad    =", x.grad.numpy())
print("g − mean g =", g - g.mean())
assert np.allclose(x.grad.numpy(), g - g.mean())
assert np.allclose(J, np.eye(n) - np.ones((n, n)) / n)
assert np.allclose(J, J.T) and np.allclose(J @ J, J)

# %% [markdown]
# Batch normalisation centres each feature over the batch, `h = X − X.mean(axis=0)` for
# $X \in \mathbb{R}^{N\times D}$: the same rule holds per column.

# %%
X = ag.tensor(rng.standard_normal((8, 3)), dtype=np.float64, requires_grad=True)
Gb = rng.standard_normal((8, 3))
(X - X.mean(axis=0, keepdims=True)).backward(ag.tensor(Gb, dtype=np.float64))
assert np.allclose(X.grad.numpy(), Gb - Gb.mean(axis=0, keepdims=True))

fig, ax = plt.subplots(figsize=(6, 2.6))
ax.plot(g, "o-", label="upstream g")
ax.plot(x.grad.numpy(), "s--", label="∂L/∂x = g − mean(g)")
ax.axhline(g.mean(), color="gray", lw=0.8, ls=":", label="mean(g)")
ax.set_xlabel("index")
ax.legend(fontsize=8)
ax.set_title("the backward of mean subtraction is mean subtraction")
plt.show()
