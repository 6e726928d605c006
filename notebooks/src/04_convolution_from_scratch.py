# %% [markdown]
# # 04 · Convolution from scratch
#
# A convolutional layer slides a small kernel over its input. This notebook reproduces the worked examples of
# the CNN lectures (seed notes `001` Lecture 4, `002` Padova, `000` Cornell) with their numbers, computes each
# one by hand or with explicit loops, and compares with chainrule's `nn.functional` (`F.conv1d`, `F.conv2d`,
# `F.max_pool2d`, …). Then it derives the backward pass of a convolutional layer the way `002` does and checks
# every formula against autograd, and ends with pooling gradients and the weight-decay step. Where a slide's
# number is wrong, the cell shows the right one and says so.
#
# Contents: the 1-D box filter · the 2-D box-filter table · Sobel, convolution vs cross-correlation · the
# 5×5×3 example with stride 2, padding 1 and two filters · output sizes · conv-layer backprop (∂E/∂w, δ
# through the rotated kernel, the bias) · max-pool routing · weight decay.

# %%
import numpy as np
import matplotlib.pyplot as plt

import autograd as ag
import nn.functional as F
import optim
from autograd import viz

plt.rcParams.update({"figure.dpi": 80, "figure.figsize": (6, 3)})
np.set_printoptions(precision=3, suppress=True, linewidth=110)
rng = np.random.default_rng(0)


def T(a, name=None, grad=False):
    """A float64 chainrule tensor (exact comparisons with the loops below), named for pictures."""
    return ag.tensor(np.asarray(a, dtype=np.float64), requires_grad=grad, name=name)


def correlate2d(x, k):
    """Valid 2-D cross-correlation by loops: out[i, j] = Σ_mn x[i + m, j + n]·k[m, n]."""
    KH, KW = k.shape
    out = np.zeros((x.shape[0] - KH + 1, x.shape[1] - KW + 1))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = np.sum(x[i:i + KH, j:j + KW] * k)
    return out

# %% [markdown]
# ## 1. The 1-D box filter
#
# Lecture 4 (`001`) filters the signal $f = (10, 50, 60, 10, 20, 40, 30)$ with the box kernel
# $g = (\tfrac13, \tfrac13, \tfrac13)$: each output is the average of a sample and its two neighbours, with a
# zero beyond each end (zero padding 1, so $h$ has 7 entries like $f$):
# $h(i) = \tfrac13\big(f(i-1) + f(i) + f(i+1)\big)$.

# %%
f = np.array([10, 50, 60, 10, 20, 40, 30], dtype=np.float64)
g = np.ones(3) / 3
padded = np.pad(f, 1)
by_hand = np.array([padded[i:i + 3] @ g for i in range(len(f))])
by_F = F.conv1d(T(f).reshape(1, 1, -1), T(g).reshape(1, 1, -1), padding=1).numpy().ravel()   # (N, C, L) layout
slide = np.array([20, 40, 40, 30, 20, 30, 23.333])
print("by hand :", by_hand)
print("F.conv1d:", by_F)
print("slide   :", slide)
assert np.allclose(by_hand, by_F)
assert np.allclose(by_F[4], (10 + 20 + 40) / 3)
assert np.allclose(np.delete(by_F, 4), np.delete(slide, 4), atol=1e-3) and not np.isclose(by_F[4], slide[4])

# %% [markdown]
# **The slide has one wrong entry:** $h(4) = (10 + 20 + 40)/3 = 23.33$, not 20; the other six agree.
#
# ## 2. The 2-D box-filter table
#
# The same lecture filters a 10×10 image (a 90-valued block with one dark pixel inside and a stray bright
# pixel below) with the 3×3 box $\tfrac19\mathbf 1$, using
# $h[m, n] = \sum_{k,l} g[k, l]\, f[m + k, n + l]$ over the positions where the kernel fits (an 8×8 result).
# That formula slides the kernel without flipping it, a cross-correlation; for the symmetric box it makes no
# difference. Every entry of the slide's table is right:

# %%
image = np.zeros((10, 10))
image[2:7, 3:8] = 90
image[5, 4] = 0           # the dark pixel inside the block
image[8, 2] = 90          # the stray bright pixel
box = np.ones((3, 3)) / 9
h = F.conv2d(T(image)[None, None], T(box)[None, None]).numpy()[0, 0]
table = np.array([[0, 10, 20, 30, 30, 30, 20, 10],
                  [0, 20, 40, 60, 60, 60, 40, 20],
                  [0, 30, 60, 90, 90, 90, 60, 30],
                  [0, 30, 50, 80, 80, 90, 60, 30],
                  [0, 30, 50, 80, 80, 90, 60, 30],
                  [0, 20, 30, 50, 50, 60, 40, 20],
                  [10, 20, 30, 30, 30, 30, 20, 10],
                  [10, 10, 10, 0, 0, 0, 0, 0]])
assert np.allclose(h, correlate2d(image, box)) and np.allclose(h, table)

fig, axes = plt.subplots(1, 2, figsize=(7.5, 3.4))
for ax, (data, title) in zip(axes, [(image, "f (10×10)"), (h, "h = box-filtered f (8×8)")]):
    ax.imshow(data, cmap="gray", vmin=0, vmax=90)
    for (r, c), value in np.ndenumerate(data):
        ax.text(c, r, f"{value:.0f}", ha="center", va="center", fontsize=6,
                color="k" if value > 45 else "w")
    ax.set_title(title, fontsize=9)
    ax.axis("off")
plt.show()

# %% [markdown]
# ## 3. Sobel: true convolution vs cross-correlation
#
# The Padova notes (`002`) convolve the 3×3 image $I = \begin{pmatrix}1&2&3\\4&5&6\\7&8&9\end{pmatrix}$ with the
# Sobel kernel $K$ (rows and columns indexed $-1, 0, 1$), treating $I$ as zero outside:
#
# $$S(m, n) = (I * K)(m, n) = \sum_{i,j} I(i, j)\, K(m - i,\, n - j),\qquad
# K = \begin{pmatrix}-1&-2&-1\\0&0&0\\1&2&1\end{pmatrix}.$$
#
# The index $m - i$ runs backwards: true convolution equals cross-correlation with the kernel rotated by 180°,
# $I * K = I \star \mathrm{rot}_{180}(K)$. Deep-learning libraries, `F.conv2d` included, compute the
# cross-correlation $I \star K$ and still call it convolution. This $K$ is antisymmetric,
# $\mathrm{rot}_{180}(K) = -K$, so the two differ by a sign here.

# %%
I = np.arange(1, 10, dtype=np.float64).reshape(3, 3)
K = np.array([[-1, -2, -1], [0, 0, 0], [1, 2, 1]], dtype=np.float64)
kernel = lambda a, b: K[a + 1, b + 1] if -1 <= a <= 1 and -1 <= b <= 1 else 0.0   # K(a, b), zero outside

S = np.array([[sum(I[i, j] * kernel(m - i, n - j) for i in range(3) for j in range(3))
               for n in range(3)] for m in range(3)])
slide = np.array([[-13, -20, -17], [-18, -24, -18], [13, 20, 17]])
print("S = I * K, by the definition:\n", S)

rotated = np.rot90(K, 2)
corr = F.conv2d(T(I)[None, None], T(K)[None, None], padding=1).numpy()[0, 0]          # what F.conv2d computes
conv = F.conv2d(T(I)[None, None], T(rotated)[None, None], padding=1).numpy()[0, 0]    # true convolution
print("F.conv2d(I, K) (cross-correlation):\n", corr)
assert np.array_equal(S, slide) and np.array_equal(conv, S) and np.array_equal(corr, -S)
assert S[0, 0] == (-2) * 4 + (-1) * 5      # rot180(K) placed on I(0, 0): only I(1, 0) = 4 and I(1, 1) = 5 meet it

# %% [markdown]
# The slide's output table is right. On a real picture (a bright disk) both operations find the same edges
# with opposite signs; this $K$ responds to changes from top to bottom.

# %%
yy, xx = np.mgrid[:20, :20]
disk = ((xx - 9.5) ** 2 + (yy - 9.5) ** 2 < 36).astype(np.float64)
edges_corr = F.conv2d(T(disk)[None, None], T(K)[None, None]).numpy()[0, 0]
edges_conv = F.conv2d(T(disk)[None, None], T(rotated)[None, None]).numpy()[0, 0]
assert np.allclose(edges_corr, correlate2d(disk, K)) and np.allclose(edges_conv, -edges_corr)

fig, axes = plt.subplots(1, 3, figsize=(7, 2.5))
for ax, (data, title) in zip(axes, [(disk, "image"), (edges_corr, "cross-correlation $I \\star K$\n(F.conv2d)"),
                                    (edges_conv, "true convolution $I * K$")]):
    limit = np.abs(data).max()
    ax.imshow(data, cmap="gray" if data is disk else "RdBu_r", vmin=-limit if data is not disk else 0, vmax=limit)
    ax.set_title(title, fontsize=8)
    ax.axis("off")
plt.show()

# %% [markdown]
# ## 4. The 5×5×3 example: stride 2, padding 1, two filters
#
# `002` works through a layer with a 5×5 input of 3 channels, two 3×3×3 filters $W_0, W_1$ with biases
# $b_0 = 1$, $b_1 = 0$, zero padding $P = 1$ and stride $S = 2$, and prints both 3×3 output maps. Each output
# number is a sum over all three channels of a window of the padded input, plus the filter's bias:
#
# $$o_k[i, j] = b_k + \sum_{c}\sum_{m,n} W_k[c, m, n]\; \tilde x[c,\; iS + m,\; jS + n].$$
#
# **Layout.** The slides store arrays channel-last, `x[:, :, c]` of shape $(H, W, C)$. chainrule uses PyTorch's
# $(N, C, H, W)$ for inputs and $(K, C, K_H, K_W)$ for filters, so the slide's channels become the second axis.

# %%
x_hwc = np.stack([[[2, 0, 0, 0, 0], [2, 2, 2, 1, 0], [2, 1, 1, 2, 2], [1, 1, 1, 2, 2], [0, 0, 1, 0, 0]],   # x[:, :, 0]
                  [[1, 1, 1, 2, 1], [1, 2, 1, 0, 0], [1, 2, 0, 2, 1], [2, 0, 1, 1, 1], [1, 1, 1, 2, 2]],   # x[:, :, 1]
                  [[0, 0, 0, 2, 0], [2, 1, 1, 1, 2], [1, 1, 2, 0, 2], [1, 2, 1, 2, 0], [0, 0, 0, 2, 1]]],  # x[:, :, 2]
                 axis=-1).astype(np.float64)                                                               # (5, 5, 3)
w0_hwc = np.stack([[[1, -1, 0], [1, 1, 1], [0, 1, 1]],
                   [[1, 1, 0], [-1, -1, 1], [1, -1, -1]],
                   [[1, -1, 1], [-1, 0, 1], [1, 1, 1]]], axis=-1)
w1_hwc = np.stack([[[-1, 1, 0], [1, -1, -1], [0, 1, 1]],
                   [[0, -1, -1], [0, -1, 0], [0, 1, 1]],
                   [[0, -1, -1], [0, 0, 0], [-1, 1, 0]]], axis=-1)

X = T(x_hwc.transpose(2, 0, 1)[None], "x")                                      # (N, C, H, W) = (1, 3, 5, 5)
Wk = T(np.stack([w0_hwc, w1_hwc]).transpose(0, 3, 1, 2), "W")                  # (K, C, KH, KW) = (2, 3, 3, 3)
bk = T([1.0, 0.0], "b")
out = F.conv2d(X, Wk, bk, stride=2, padding=1)
out.name = "o"

slide_o0 = np.array([[7, 10, -1], [7, 14, 6], [3, 8, -1]])
slide_o1 = np.array([[6, 3, 0], [-3, -1, -3], [-5, -7, -3]])
print("o[:, :, 0] → out[0, 0]:\n", out.numpy()[0, 0], "\no[:, :, 1] → out[0, 1]:\n", out.numpy()[0, 1])
assert out.shape == (1, 2, 3, 3)
assert np.array_equal(out.numpy()[0, 0], slide_o0) and np.array_equal(out.numpy()[0, 1], slide_o1)

# %% [markdown]
# Both output maps match the slides. The first number in detail: output position (0, 0) of filter $W_0$ reads
# the top-left 3×3 window of the padded input in every channel.

# %%
x_padded = np.pad(X.numpy()[0], ((0, 0), (1, 1), (1, 1)))
per_channel = [float(np.sum(x_padded[c, 0:3, 0:3] * Wk.numpy()[0, c])) for c in range(3)]
print(f"o0[0, 0] = {per_channel[0]:g} + ({per_channel[1]:g}) + {per_channel[2]:g} + b0 = {sum(per_channel) + 1:g}")
assert per_channel == [6.0, -3.0, 3.0] and sum(per_channel) + 1 == slide_o0[0, 0]

# %% [markdown]
# ## 5. How big is the output?
#
# Along each axis a window of size $F$ fits into the padded length $N + 2P$ at positions $0, S, 2S, \dots$ as
# long as it does not run past the end:
#
# $$O = \left\lfloor \frac{N + 2P - F}{S} \right\rfloor + 1 .$$
#
# (The 5×5×3 example: $\lfloor(5 + 2 - 3)/2\rfloor + 1 = 3$.) `002` also tries a 7×7 input with a 3×3 filter and
# stride 3, gets $(7 - 3)/3 + 1 = 2.33$, and says the filter **cannot be applied**. **Libraries do not refuse:
# they take the floor, giving a 2×2 output**, and the last row and column of the input are never read (their
# gradient is zero).

# %%
x7 = T(rng.standard_normal((1, 1, 7, 7)), "x", grad=True)
y7 = F.conv2d(x7, T(np.ones((1, 1, 3, 3))), stride=3)
y7.sum().backward()
print("7×7, 3×3, stride 3 →", y7.shape[2:], "; input columns ever read:", np.flatnonzero(x7.grad.numpy()[0, 0, 0]))
assert y7.shape[2:] == (2, 2)
assert np.all(x7.grad.numpy()[0, 0, 6, :] == 0) and np.all(x7.grad.numpy()[0, 0, :, 6] == 0)

checked = 0
for N_ in range(4, 11):
    for F_ in range(1, 6):
        for S_ in range(1, 4):
            for P_ in range(0, 3):
                if F_ > N_ + 2 * P_:
                    continue
                o = F.conv2d(ag.zeros(1, 1, N_, N_), ag.zeros(1, 1, F_, F_), stride=S_, padding=P_)
                assert o.shape[2:] == ((N_ + 2 * P_ - F_) // S_ + 1,) * 2, (N_, F_, S_, P_)
                checked += 1
print(f"the formula matches F.conv2d in all {checked} cases")

# %% [markdown]
# ## 6. Backprop through a convolutional layer
#
# `002` derives the layer's gradients with this notation: layer $\ell$ reads the previous layer's output
# $y^{\ell-1}$ ($H \times W$), computes the activation $a^\ell$ as a cross-correlation with the $k_1\times k_2$
# kernel $w^\ell$ plus a bias, and applies $f$ (ReLU here):
#
# $$a^\ell_{i,j} = \sum_{m,n} w^\ell_{m,n}\, y^{\ell-1}_{i+m,\,j+n} + b^\ell, \qquad y^\ell_{i,j} = f(a^\ell_{i,j}),
# \qquad \delta^\ell_{i,j} = \frac{\partial E}{\partial a^\ell_{i,j}} .$$
#
# The three results, each from one application of the chain rule:
#
# * **weights:** $\displaystyle \frac{\partial E}{\partial w^\ell_{m,n}} = \sum_{i,j} \delta^\ell_{i,j}\, y^{\ell-1}_{i+m,\,j+n}$,
#   the input cross-correlated with the deltas;
# * **deltas:** $\delta^\ell = f'(a^\ell) \odot \big(\delta^{\ell+1} \star \mathrm{rot}_{180}(w^{\ell+1})\big)$, where
#   $\delta^{\ell+1}$ must first be **zero-padded by $k - 1$ on every side** (a *full* convolution). The slide writes
#   the step without the padding; without it the result is too small (checked below);
# * **bias:** $\displaystyle \frac{\partial E}{\partial b^\ell} = \sum_{i,j} \delta^\ell_{i,j}$.
#
# Two layers with $\ell = 1$ make all three visible: $y^0$ is a 4×4 input, $w^1, w^2$ are 2×2 kernels, and
# $E = \tfrac12\sum (a^2 - t)^2$. Names follow the slide (`y0`, `w1`, `a1`, …). The picture draws each convolution
# as one box with its rule (`collapse=["conv2d"]`, inside the scope of its layer) and, like the layer-level
# derivation, comes before `E.backward()`.

# %%
y0 = T([[[[1, 2, 0, 1], [0, 1, 3, 1], [2, 1, 0, 2], [1, 0, 1, 1]]]], "y0", grad=True)
w1 = T([[[[1, -1], [2, 0]]]], "w1", grad=True)
b1 = T([0.5], "b1", grad=True)
w2 = T([[[[1, 0], [-1, 1]]]], "w2", grad=True)
b2 = T([-1.0], "b2", grad=True)
t = T(np.zeros((1, 1, 2, 2)), "t")

with ag.scope("layer 1"):         # each layer in its own scope: one cluster per layer in the picture
    a1 = F.conv2d(y0, w1, b1)
a1.name = "a1"
y1 = F.relu(a1)
y1.name = "y1"
with ag.scope("layer 2"):
    a2 = F.conv2d(y1, w2, b2)
a2.name = "a2"
E = 0.5 * ((a2 - t) ** 2).sum()
E.name = "E"
for node in (a1, a2):
    node.retain_grad()       # keep δ¹ = ∂E/∂a1 and δ² = ∂E/∂a2 for the checks below

viz.draw(E, collapse=["conv2d"], rankdir="LR")

# %%
d_w1 = ag.explain(E, w1, level="layer")
d_w1_01 = ag.explain(E, w1, index=(0, 0, 0, 1), level="layer")     # one element, used further down
assert all(error < 1e-12 for _, _, error in d_w1.checks)
d_w1

# %% [markdown]
# Now the engine's backward, and the three formulas by hand (loops, no `F.conv2d`):

# %%
E.backward()
A1, W2 = a1.detach().numpy()[0, 0], w2.detach().numpy()[0, 0]
delta2 = (a2.detach() - t).numpy()[0, 0]                                   # ∂E/∂a² for E = ½Σ(a² − t)²
delta1 = np.where(A1 > 0, correlate2d(np.pad(delta2, 1), np.rot90(W2, 2)), 0.0)   # f'(a¹) ⊙ (pad(δ²) ⋆ rot180 w²)
dE_dw1 = correlate2d(y0.numpy()[0, 0], delta1)                             # y⁰ cross-correlated with δ¹
dE_db1 = delta1.sum()
print("δ² =\n", delta2, "\nδ¹ =\n", delta1, "\n∂E/∂w1 =\n", dE_dw1, f"\n∂E/∂b1 = {dE_db1:g}")
assert np.allclose(a2.grad.numpy()[0, 0], delta2) and np.allclose(a1.grad.numpy()[0, 0], delta1)
assert np.allclose(w1.grad.numpy()[0, 0], dE_dw1) and np.allclose(d_w1.gradient[0, 0], dE_dw1)
assert np.isclose(b1.grad.item(), dE_db1)
assert np.allclose(w2.grad.numpy()[0, 0], correlate2d(y1.detach().numpy()[0, 0], delta2))   # the same rule one layer up

without_padding = correlate2d(delta2, np.rot90(W2, 2))
print(f"without the full padding, δ² ⋆ rot180(w²) has shape {without_padding.shape}, but a¹ is {A1.shape}")
assert without_padding.shape == (1, 1) != A1.shape

# %% [markdown]
# One weight, written out: $\partial E/\partial w^1_{0,1} = \sum_{i,j}\delta^1_{i,j}\,y^0_{i,\,j+1}$, the deltas
# times the input patch whose top-left corner is $(0, 1)$. The derivation with `index=(0, 0, 0, 1)`, made
# before the backward above, ends with that one element:

# %%
print("\n".join(d_w1_01.text.splitlines()[-4:]))
patch = y0.numpy()[0, 0, 0:3, 1:4]
print(f"Σ δ¹ ⊙ y0[0:3, 1:4] = {np.sum(delta1 * patch):g};  explain: {d_w1_01.gradient.item():g}")
assert np.isclose(d_w1_01.gradient.item(), np.sum(delta1 * patch))

# %% [markdown]
# **With channels, stride and padding** (the layer of section 4): the same rules hold per channel pair, with the
# upstream gradient spread out by the stride ($S - 1$ zeros between its entries) before the full convolution,
# and the filters' input and output channels swapped ($w^\top$: $(C, K, K_H, K_W)$):
#
# $$\frac{\partial L}{\partial x} = \mathrm{pad}_{F-1-P}(G_{\uparrow S}) \star \mathrm{rot}_{180}(w^\top),
# \qquad \frac{\partial L}{\partial w_{k,c}} = \sum_n \tilde x_{n,c} \star (G_{\uparrow S})_{n,k},
# \qquad \frac{\partial L}{\partial b_k} = \sum_{n,i,j} G_{n,k,i,j}.$$
#
# Both are convolutions again, so `F.conv2d` computes them; autograd must agree. The input gradient is also
# `F.conv_transpose2d(G, w)`: the transposed convolution (used for upsampling, e.g. in a U-Net) *is* the
# backward pass of a convolution with respect to its input.

# %%
x2 = T(X.numpy(), "x", grad=True)
y2 = F.conv2d(x2, Wk, bk, stride=2, padding=1)
G2 = rng.integers(-2, 3, size=y2.shape).astype(np.float64)
w_leaf = T(Wk.numpy(), "W", grad=True)
b_leaf = T(bk.numpy(), "b", grad=True)
(F.conv2d(x2, w_leaf, b_leaf, stride=2, padding=1) * T(G2)).sum().backward()

G_up = np.zeros((1, 2, 5, 5))
G_up[:, :, ::2, ::2] = G2                                                      # spread by the stride
w_flipped = np.rot90(Wk.numpy(), 2, axes=(2, 3)).transpose(1, 0, 2, 3)   # (C, K, 3, 3)
dx = F.conv2d(T(G_up), T(w_flipped), padding=3 - 1 - 1).numpy()                # full convolution, minus P = 1
dw = F.conv2d(T(x_padded[None].transpose(1, 0, 2, 3)), T(G_up.transpose(1, 0, 2, 3))).numpy().transpose(1, 0, 2, 3)
assert np.allclose(dx, x2.grad.numpy()) and np.allclose(dw, w_leaf.grad.numpy())
assert np.allclose(G2.sum(axis=(0, 2, 3)), b_leaf.grad.numpy())
assert np.allclose(F.conv_transpose2d(T(G2), Wk, stride=2, padding=1).numpy(), x2.grad.numpy())
print("input, weight and bias gradients of the 5×5×3 layer match autograd; ∂L/∂x is also conv_transpose2d(G, w)")

# %% [markdown]
# ## 7. Max pooling routes the gradient
#
# The pooling slides (`000`, `002`) take the 4×4 single depth slice of their figure, max-pool it with 2×2
# windows and stride 2, and state the backward rule: in the forward pass remember which element won each window;
# in the backward pass that element receives the window's gradient and the others receive 0. Average pooling
# instead gives every element of an $N\times N$ window the share $1/(N \cdot N)$.
#
# With an upstream gradient $G$ we take $L = \sum G \odot y$; `level="layer"` states the routing rule (before
# `backward()`).

# %%
slice_ = T([[[[1, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]]]], "x", grad=True)
G = T([[[[1.0, 2.0], [3.0, 4.0]]]], "G")
pooled = F.max_pool2d(slice_, 2, stride=2)
pooled.name = "y"
L = (pooled * G).sum()
L.name = "L"
print("max-pooled:\n", pooled.detach().numpy()[0, 0])
assert np.array_equal(pooled.detach().numpy()[0, 0], [[6, 8], [3, 4]])

d_x = ag.explain(L, slice_, level="layer")
d_x

# %%
xv = slice_.numpy()[0, 0]
winners = {}
for i in range(2):                                   # the forward pass remembers the arg-max of each window
    for j in range(2):
        window = xv[2 * i:2 * i + 2, 2 * j:2 * j + 2]
        a, b = np.unravel_index(np.argmax(window), window.shape)
        winners[i, j] = (2 * i + int(a), 2 * j + int(b))
routed = np.zeros((4, 4))
for (i, j), (r, c) in winners.items():               # the backward pass sends G[i, j] there
    routed[r, c] = G.numpy()[0, 0, i, j]

L.backward()
print("winners:", winners, "\n∂L/∂x:\n", slice_.grad.numpy()[0, 0])
assert np.array_equal(slice_.grad.numpy()[0, 0], routed) and np.array_equal(d_x.gradient[0, 0], routed)

x_avg = T(xv[None, None], "x", grad=True)
(F.avg_pool2d(x_avg, 2) * G).sum().backward()
print("average pooling, ∂L/∂x:\n", x_avg.grad.numpy()[0, 0])
assert np.allclose(x_avg.grad.numpy()[0, 0], np.kron(G.numpy()[0, 0], np.ones((2, 2))) / (2 * 2))

# %% [markdown]
# Two details worth knowing:
#
# * With **overlapping windows** (stride < window) an element can win several windows; it collects the sum of
#   their gradients.
# * With **ties** the max is not differentiable. chainrule splits the gradient evenly among tied winners (the
#   average of the one-sided choices; PyTorch gives all of it to one of them): a window of four equal values
#   sends ¼ to each.

# %%
x_ov = T(xv, "x", grad=True)
F.max_pool2d(x_ov[None, None], 2, stride=1).sum().backward()   # 3×3 windows of size 2×2, upstream 1 each
wins = np.zeros((4, 4))
for i in range(3):
    for j in range(3):
        window = xv[i:i + 2, j:j + 2]
        a, b = np.unravel_index(np.argmax(window), window.shape)
        wins[i + a, j + b] += 1
print("overlapping windows: how many windows each element wins\n", x_ov.grad.numpy())
assert np.array_equal(x_ov.grad.numpy(), wins)

x_tie = T(np.ones((1, 1, 2, 2)), "x", grad=True)
F.max_pool2d(x_tie, 2).backward(T(np.ones((1, 1, 1, 1))))
print("a tied window:", x_tie.grad.numpy().ravel())
assert np.allclose(x_tie.grad.numpy(), 0.25)

# %%
fig, axes = plt.subplots(1, 3, figsize=(7.5, 2.6))
for ax, (data, title) in zip(axes, [(xv, "x"), (slice_.grad.numpy()[0, 0], "max pool: routed"),
                                    (x_avg.grad.numpy()[0, 0], "average pool: shared")]):
    ax.imshow(data, cmap="viridis")
    for (r, c), value in np.ndenumerate(data):
        ax.text(c, r, f"{value:g}", ha="center", va="center", color="w", fontsize=9)
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
plt.show()

# %% [markdown]
# ## 8. Weight decay
#
# Lecture 4 (`001`) adds the L2 penalty $L_\text{reg} = \tfrac{\lambda}{2}\lVert W\rVert_2^2$ to the data loss. Its
# gradient is $\lambda W$, so one gradient-descent step with learning rate $\alpha$ on $L = L_\text{data} + L_\text{reg}$ is
#
# $$W \leftarrow W - \alpha\Big(\frac{\partial L_\text{data}}{\partial W} + \lambda W\Big)
# = W - \alpha\lambda W - \alpha \frac{\partial L_\text{data}}{\partial W} :$$
#
# every step shrinks the weights by the factor $1 - \alpha\lambda$ before the data term moves them. **The slide
# writes the last term without $\alpha$**, $W \leftarrow W - \alpha\lambda W - \partial L_\text{data}/\partial W$;
# the learning rate multiplies the whole gradient, data term included.
#
# We take $w^1$ of section 6 as $W$ and the two-layer $E$ as $L_\text{data}$, with $\alpha = 0.05$, $\lambda = 0.5$.
# `optim.SGD(..., weight_decay=λ)` applied to $L_\text{data}$ alone must give the same step as the explicit penalty.

# %%
alpha, lam = 0.05, 0.5


def data_loss(w):
    hidden = F.relu(F.conv2d(y0.detach(), w, b1.detach()))
    return 0.5 * ((F.conv2d(hidden, w2.detach(), b2.detach()) - t) ** 2).sum()


W0 = w1.detach().numpy().copy()
W_leaf = T(W0, "W", grad=True)
grad_data, = ag.grad(data_loss(W_leaf), [W_leaf])
expected = W0 - alpha * lam * W0 - alpha * grad_data.numpy()
as_on_slide = W0 - alpha * lam * W0 - grad_data.numpy()

W_penalty = T(W0, "W", grad=True)                                # explicit penalty, plain SGD
L_total = data_loss(W_penalty) + lam / 2 * (W_penalty ** 2).sum()
L_total.backward()
optim.SGD([W_penalty], lr=alpha).step()

W_decay = T(W0, "W", grad=True)                                  # weight_decay = λ on the data loss alone
L_data = data_loss(W_decay)
L_data.name = "L_data"
L_data.backward()
optim.SGD([W_decay], lr=alpha, weight_decay=lam).step()

print("W before          :", W0.ravel())
print("W − αλW − α∂L/∂W  :", expected.ravel())
print("explicit penalty  :", W_penalty.detach().numpy().ravel())
print("SGD weight_decay  :", W_decay.detach().numpy().ravel())
print("slide, without α  :", as_on_slide.ravel())
assert np.allclose(W_penalty.detach().numpy(), expected) and np.allclose(W_decay.detach().numpy(), expected)
assert not np.allclose(as_on_slide, expected)

# %% [markdown]
# The step changed $W$ in place, so the graph of `L_data` no longer describes the current weights. Pictures and
# derivations show what the forward and backward computed, never a recomputation, so they refuse a graph whose
# leaves changed since it was built, with a sentence saying why:

# %%
try:
    ag.explain(L_data, W_decay)
except RuntimeError as error:
    print(type(error).__name__ + ":", error)
    assert "changed since this graph was built" in str(error)
