# %% [markdown]
# # 04 · Convolution from scratch
#
# A convolutional layer slides a small kernel over its input. This notebook computes every case by hand
# with explicit loops and compares with `nn.functional` (`F.conv1d`, `F.conv2d`, `F.max_pool2d`, …),
# then derives the backward pass of a convolution and of pooling and checks it against autograd.
#
# Contents: a 1-D box filter · Sobel edges, convolution vs cross-correlation · channels, stride and
# padding · the output-size formula · conv backward · pooling backward.

# %%
import numpy as np
import matplotlib.pyplot as plt

import autograd as ag
import nn.functional as F

plt.rcParams.update({"figure.dpi": 80, "figure.figsize": (6, 3)})
np.set_printoptions(precision=3, suppress=True, linewidth=110)
rng = np.random.default_rng(0)


def T(a, grad=False):
    """A float64 chainrule tensor (exact comparisons with the loops below)."""
    return ag.tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)

# %% [markdown]
# ## 1. A 1-D box filter
#
# Sliding a kernel $k$ of length $K$ over a signal $x$ (no padding, "valid"):
#
# $$y_i = \sum_{j=0}^{K-1} k_j\, x_{i+j}, \qquad i = 0, \dots, L - K.$$
#
# With the box kernel $k = (\tfrac13, \tfrac13, \tfrac13)$ each output is the average of three
# neighbours: edges get ramps, an isolated spike gets spread out.

# %%
signal = np.array([0, 0, 0, 3, 3, 3, 3, 3, 0, 0, 0, 0, 6, 0, 0, 0], dtype=np.float64)
box = np.ones(3) / 3

by_hand = np.array([sum(box[j] * signal[i + j] for j in range(3)) for i in range(len(signal) - 2)])
by_F = F.conv1d(T(signal).reshape(1, 1, -1), T(box).reshape(1, 1, -1)).numpy().ravel()  # (N, C, L) layout
print("by hand   :", by_hand)
print("F.conv1d  :", by_F)
assert np.allclose(by_hand, by_F)

fig, ax = plt.subplots(figsize=(6, 2.4))
ax.step(np.arange(len(signal)), signal, where="mid", label="signal x")
ax.step(np.arange(1, len(signal) - 1), by_F, where="mid", label="box-filtered (centred)")
ax.legend(fontsize=8)
ax.set_xlabel("position")
plt.show()

# %% [markdown]
# ## 2. Sobel edges: convolution vs cross-correlation
#
# The Sobel kernel $S_x$ estimates the horizontal derivative (right minus left, smoothed vertically).
# Two operations slide it over an image:
#
# * **cross-correlation** (what deep-learning libraries call "convolution", `F.conv2d` included):
#   $\;(x \star k)_{ij} = \sum_{a,b} x_{i+a,\,j+b}\; k_{ab}$
# * **true convolution** (signal processing, flips the kernel):
#   $\;(x * k)_{ij} = \sum_{a,b} x_{i-a,\,j-b}\; k_{ab}$, which on the valid region is
#   cross-correlation with the kernel rotated by 180°: $x * k = x \star \mathrm{rot}_{180}(k)$.
#
# For a symmetric kernel (the box filter) they agree. $S_x$ is antisymmetric,
# $\mathrm{rot}_{180}(S_x) = -S_x$, so the two differ by a sign.

# %%
def cross_correlate2d(x, k):
    """Valid 2-D cross-correlation, by loops."""
    H, W = x.shape
    KH, KW = k.shape
    out = np.zeros((H - KH + 1, W - KW + 1))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = np.sum(x[i:i + KH, j:j + KW] * k)
    return out


def convolve2d(x, k):
    """Valid 2-D true convolution, by loops: out[i, j] = Σ_ab x[i + KH−1 − a, j + KW−1 − b]·k[a, b]."""
    H, W = x.shape
    KH, KW = k.shape
    out = np.zeros((H - KH + 1, W - KW + 1))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = sum(x[i + KH - 1 - a, j + KW - 1 - b] * k[a, b] for a in range(KH) for b in range(KW))
    return out


sobel_x = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=np.float64)
sobel_y = sobel_x.T
yy, xx = np.mgrid[:20, :20]
image = ((xx - 9.5) ** 2 + (yy - 9.5) ** 2 < 36).astype(np.float64)  # a bright disk


def conv(x, k):
    """F.conv2d on one single-channel image."""
    return F.conv2d(T(x)[None, None], T(k)[None, None]).numpy()[0, 0]


gx = conv(image, sobel_x)
gy = conv(image, sobel_y)
assert np.allclose(gx, cross_correlate2d(image, sobel_x))                 # F.conv2d is cross-correlation
assert np.allclose(convolve2d(image, sobel_x), conv(image, np.rot90(sobel_x, 2)))  # convolution = flipped kernel
assert np.allclose(convolve2d(image, sobel_x), -gx)                       # for Sobel: a sign flip

fig, axes = plt.subplots(1, 4, figsize=(9, 2.5))
panels = [(image, "image"), (gx, "cross-corr. with $S_x$\n(F.conv2d)"), (convolve2d(image, sobel_x),
          "true convolution with $S_x$"), (np.hypot(gx, gy), "edge strength $\\sqrt{g_x^2+g_y^2}$")]
for ax, (data, title), cmap in zip(axes, panels, ["gray", "RdBu_r", "RdBu_r", "magma"]):
    limit = np.abs(data).max() if cmap == "RdBu_r" else None  # diverging maps centred on 0: red > 0 > blue
    ax.imshow(data, cmap=cmap, vmin=-limit if limit else None, vmax=limit)
    ax.set_title(title, fontsize=8)
    ax.axis("off")
plt.show()

# %% [markdown]
# ## 3. Several channels, stride 2, padding 1 — by hand and by `F.conv2d`
#
# A layer with $C$ input channels and $K$ filters has weights $w$ of shape $(K, C, K_H, K_W)$; every
# filter sees all input channels and sums over them:
#
# $$y_{k,i,j} = b_k + \sum_{c}\sum_{a,b} w_{k,c,a,b}\; \tilde x_{c,\; iS + a,\; jS + b},$$
#
# where $\tilde x$ is $x$ padded with $P$ zeros on each side and $S$ is the stride. Small integers make
# every number checkable by eye.

# %%
x_int = rng.integers(-2, 3, size=(1, 2, 5, 5)).astype(np.float64)   # N=1, C=2, 5×5
w_int = rng.integers(-1, 2, size=(3, 2, 3, 3)).astype(np.float64)   # K=3 filters, 3×3
b_int = np.array([1.0, 0.0, -1.0])
S, P = 2, 1


def conv2d_loops(x, w, b, stride, padding):
    N, C, H, W = x.shape
    K, _, KH, KW = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    OH = (H + 2 * padding - KH) // stride + 1
    OW = (W + 2 * padding - KW) // stride + 1
    y = np.zeros((N, K, OH, OW))
    for n in range(N):
        for k in range(K):
            for i in range(OH):
                for j in range(OW):
                    window = xp[n, :, i * stride:i * stride + KH, j * stride:j * stride + KW]  # (C, KH, KW)
                    y[n, k, i, j] = b[k] + np.sum(window * w[k])
    return y


y_loops = conv2d_loops(x_int, w_int, b_int, S, P)
y_F = F.conv2d(T(x_int), T(w_int), T(b_int), stride=S, padding=P).numpy()
print("input channel 0:\n", x_int[0, 0], "\ninput channel 1:\n", x_int[0, 1])
print("output (3 filters, each 3×3):\n", y_F[0])
assert np.array_equal(y_loops, y_F)

# %% [markdown]
# One output number in detail: filter 0 at output position (1, 1) reads the padded window starting at
# row $1\cdot S = 2$, column 2, in both channels:

# %%
xp = np.pad(x_int[0], ((0, 0), (P, P), (P, P)))
window = xp[:, 2:5, 2:5]
print("window (2 channels):\n", window)
print("filter 0:\n", w_int[0])
terms = window * w_int[0]
print(f"y[0, 1, 1] = b0 + Σ(channel 0) + Σ(channel 1) = {b_int[0]:g} + ({terms[0].sum():g}) + ({terms[1].sum():g})"
      f" = {b_int[0] + terms.sum():g}")
assert b_int[0] + terms.sum() == y_F[0, 0, 1, 1]

# %% [markdown]
# ## 4. The output size
#
# Along each spatial axis, a window of size $K$ fits into the padded length $W + 2P$ at the positions
# $0, S, 2S, \dots$ as long as it does not run past the end:
#
# $$W_\text{out} = \left\lfloor \frac{W + 2P - K}{S} \right\rfloor + 1 .$$
#
# (Stride 1 with $P = (K-1)/2$ keeps the size: "same" padding.) Check the formula against `F.conv2d`
# for every small combination:

# %%
checked = 0
for W in range(4, 11):
    for K in range(1, 6):
        for S_ in range(1, 4):
            for P_ in range(0, 3):
                if K > W + 2 * P_:
                    continue
                out = F.conv2d(ag.zeros(1, 1, W, W), ag.zeros(1, 1, K, K), stride=S_, padding=P_)
                assert out.shape[2:] == ((W + 2 * P_ - K) // S_ + 1,) * 2, (W, K, S_, P_)
                checked += 1
print(f"formula matches F.conv2d in all {checked} cases")

# %% [markdown]
# ## 5. The backward pass of a convolution
#
# Take one channel, stride 1, no padding: $y = x \star w$, and let $G = \partial L/\partial y$ arrive
# from above. Every weight $w_{ab}$ touches every output, $\partial y_{ij}/\partial w_{ab} = x_{i+a,j+b}$,
# and every input pixel $x_{pq}$ touches the outputs whose window covers it,
# $\partial y_{ij}/\partial x_{pq} = w_{p-i,\,q-j}$. Summing over the outputs:
#
# $$\frac{\partial L}{\partial w_{ab}} = \sum_{ij} G_{ij}\, x_{i+a,\,j+b} = (x \star G)_{ab}
# \qquad\text{a cross-correlation of the input with the upstream gradient,}$$
#
# $$\frac{\partial L}{\partial x_{pq}} = \sum_{ij} G_{ij}\, w_{p-i,\,q-j} = (G * w)_{pq}
# = \big(\mathrm{pad}_{K-1}(G) \star \mathrm{rot}_{180}(w)\big)_{pq}
# \qquad\text{a full convolution with the rotated kernel.}$$
#
# We use $L = \sum_{ij} G_{ij}\,y_{ij}$ so that the upstream gradient is exactly $G$.

# %%
x1 = T(rng.standard_normal((1, 1, 6, 6)), grad=True)
w1 = T(rng.standard_normal((1, 1, 3, 3)), grad=True)
y1 = F.conv2d(x1, w1)                                # (1, 1, 4, 4)
G1 = rng.standard_normal(y1.shape)
(y1 * T(G1)).sum().backward()

xa, wa, Ga = x1.numpy()[0, 0], w1.numpy()[0, 0], G1[0, 0]
dw_formula = cross_correlate2d(xa, Ga)                          # x ⋆ G: (6−4+1) = 3×3
dx_formula = cross_correlate2d(np.pad(Ga, 2), np.rot90(wa, 2))  # pad G by K−1 = 2, rotate w by 180°
print("∂L/∂w autograd:\n", w1.grad.numpy()[0, 0], "\n∂L/∂w = x ⋆ G:\n", dw_formula)
assert np.allclose(w1.grad.numpy()[0, 0], dw_formula)
assert np.allclose(x1.grad.numpy()[0, 0], dx_formula)
assert np.allclose(dx_formula, convolve2d(np.pad(Ga, 2), wa))   # i.e. the full true convolution G * w

# %% [markdown]
# **With channels, stride and padding** (the layer from section 3): the gradient with respect to the
# input is a full convolution of the upstream gradient *dilated by the stride* (S − 1 zeros between its
# entries) with the rotated kernels, channels swapped ($w^\top$: $(C, K, K_H, K_W)$); the weight gradient
# is a cross-correlation of the padded input with that dilated gradient, summed over the batch; the bias
# gradient sums $G$ over batch and positions.
#
# $$\frac{\partial L}{\partial x} = \mathrm{pad}_{K-1-P}(G_{\uparrow S}) \star \mathrm{rot}_{180}(w^\top),
# \qquad \frac{\partial L}{\partial w_{k,c}} = \sum_n \tilde x_{n,c} \star (G_{\uparrow S})_{n,k},
# \qquad \frac{\partial L}{\partial b_k} = \sum_{n,i,j} G_{n,k,i,j}.$$
#
# Both are themselves convolutions, so `F.conv2d` computes them; autograd must agree. (Here
# $(W + 2P - K)/S = 2$ is whole; otherwise the last rows and columns of $x$ that no window reaches get a
# zero gradient, and $\partial L/\partial x$ needs that many extra zeros at the bottom and right.)

# %%
x2 = T(rng.standard_normal((2, 2, 5, 5)), grad=True)
w2 = T(rng.standard_normal((3, 2, 3, 3)), grad=True)
b2 = T(rng.standard_normal(3), grad=True)
y2 = F.conv2d(x2, w2, b2, stride=2, padding=1)       # (2, 3, 3, 3)
G2 = rng.standard_normal(y2.shape)
(y2 * T(G2)).sum().backward()

K_ = 3
G_up = np.zeros((2, 3, 5, 5))
G_up[:, :, ::2, ::2] = G2                             # dilate by the stride: (3 − 1)·2 + 1 = 5
w_flipped = np.rot90(w2.numpy(), 2, axes=(2, 3)).transpose(1, 0, 2, 3)       # (C, K, 3, 3)
dx = F.conv2d(T(G_up), T(w_flipped), padding=K_ - 1 - 1).numpy()             # full conv, minus P = 1
x_padded = np.pad(x2.numpy(), ((0, 0), (0, 0), (1, 1), (1, 1)))
dw = F.conv2d(T(x_padded.transpose(1, 0, 2, 3)), T(G_up.transpose(1, 0, 2, 3))).numpy().transpose(1, 0, 2, 3)
db = G2.sum(axis=(0, 2, 3))

assert np.allclose(dx, x2.grad.numpy())
assert np.allclose(dw, w2.grad.numpy())
assert np.allclose(db, b2.grad.numpy())
assert np.allclose(F.conv_transpose2d(T(G2), w2.detach(), stride=2, padding=1).numpy(), x2.grad.numpy())
print("input, weight and bias gradients match autograd; ∂L/∂x is also conv_transpose2d(G, w)")

# %% [markdown]
# The last line is why the "transposed convolution" (used for upsampling, e.g. in a U-Net) has its name:
# it *is* the backward pass of a convolution with respect to its input.
#
# ## 6. Pooling gradients: routing and splitting
#
# * **Max pooling** $y = \max_{(a,b) \in \text{window}} x_{ab}$: the derivative is 1 for the winner and 0
#   for the rest, so the upstream gradient is **routed to the winner** (backprop "stores the index that
#   took the max").
# * **Average pooling** $y = \frac{1}{K_H K_W}\sum x_{ab}$: every element gets an **equal share**
#   $G/(K_H K_W)$.

# %%
x_pool = T(rng.permutation(16).reshape(1, 1, 4, 4), grad=True)
G_pool = np.array([[1.0, 2.0], [3.0, 4.0]])

F.max_pool2d(x_pool, 2).backward(T(G_pool[None, None]))
routed = np.zeros((4, 4))
xv = x_pool.numpy()[0, 0]
for i in range(2):
    for j in range(2):
        win = xv[2 * i:2 * i + 2, 2 * j:2 * j + 2]
        a, b = np.unravel_index(np.argmax(win), win.shape)
        routed[2 * i + a, 2 * j + b] = G_pool[i, j]
print("x:\n", xv, "\nmax-pool ∂L/∂x (upstream G = [[1, 2], [3, 4]]):\n", x_pool.grad.numpy()[0, 0])
assert np.array_equal(x_pool.grad.numpy()[0, 0], routed)

x_avg = T(xv, grad=True)
F.avg_pool2d(x_avg[None, None], 2).backward(T(G_pool[None, None]))
print("avg-pool ∂L/∂x:\n", x_avg.grad.numpy())
assert np.allclose(x_avg.grad.numpy(), np.kron(G_pool, np.ones((2, 2))) / 4)

# %% [markdown]
# Two details worth knowing:
#
# * With **overlapping windows** (stride < kernel) an element can win several windows; it collects the
#   sum of their gradients.
# * With **ties** the max is not differentiable. chainrule splits the gradient evenly among tied winners
#   (the average of the one-sided choices; PyTorch gives it all to one of them). A window of four equal
#   values sends 1/4 of its gradient to each.

# %%
x_ov = T(xv, grad=True)
F.max_pool2d(x_ov[None, None], 2, stride=1).sum().backward()   # 3×3 windows of size 2×2, upstream 1 each
wins = np.zeros((4, 4))
for i in range(3):
    for j in range(3):
        win = xv[i:i + 2, j:j + 2]
        a, b = np.unravel_index(np.argmax(win), win.shape)
        wins[i + a, j + b] += 1
print("overlapping max-pool: how many windows each element wins\n", x_ov.grad.numpy())
assert np.array_equal(x_ov.grad.numpy(), wins)

x_tie = T(np.ones((1, 1, 2, 2)), grad=True)
F.max_pool2d(x_tie, 2).backward(T(np.ones((1, 1, 1, 1))))
print("tied window:", x_tie.grad.numpy().ravel())
assert np.allclose(x_tie.grad.numpy(), 0.25)

# %%
fig, axes = plt.subplots(1, 3, figsize=(7.5, 2.6))
for ax, (data, title) in zip(axes, [(xv, "x"), (x_pool.grad.numpy()[0, 0], "max-pool: routed"),
                                    (x_avg.grad.numpy(), "avg-pool: split")]):
    ax.imshow(data, cmap="viridis")
    for (r, c), v in np.ndenumerate(data):
        ax.text(c, r, f"{v:g}", ha="center", va="center", color="w", fontsize=9)
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
plt.show()
