# %% [markdown]
# # 06 · Seeing backprop in a CNN
#
# `autograd.viz.draw(loss, params=model)` draws the backward graph that `loss.backward()` will run: one box
# per VJP, numbered in the order backward visits it, leaves named after the model's parameters, edges
# labelled with the gradient's shape. Module and composite scopes become nested clusters, and
# `collapse=True` draws each composite (`conv2d`, `linear`, `max_pool2d`, `cross_entropy`) as one box.
#
# 1. A small CNN, first as **layers**, then **expanded to primitives**: a convolution really is
#    pad → unfold → matmul → reshape (+ bias).
# 2. **Vanishing gradients you can see**: per-layer gradient norms through a deep sigmoid net, a ReLU net
#    and a residual net.

# %%
import re

import numpy as np
import matplotlib.pyplot as plt

import autograd as ag
import nn
import nn.functional as F
from autograd import viz
from nn.data import load_digits

plt.rcParams.update({"figure.dpi": 80, "figure.figsize": (6, 3)})
np.set_printoptions(precision=4, suppress=True, linewidth=110)
x_train, y_train = load_digits("train")

# %% [markdown]
# ## 1. The backward graph of a CNN
#
# `nn.models.DigitsCNN` (the LeNet-style net for the 8×8 digits): conv 3×3 (16) → ReLU → conv 3×3 (32) →
# ReLU → max-pool → dropout → fc 512→64 → ReLU → fc 64→10, with the cross-entropy loss on a batch of 4.
#
# **Collapsed to layers.** `highlight=` marks every path from one tensor to the loss — here from the first
# convolution's weight: the chain of VJPs whose product is $\partial L/\partial W_1$.

# %%
ag.manual_seed(0)
model = nn.models.DigitsCNN()
xb, yb = ag.tensor(x_train[:4]), y_train[:4]
loss = F.cross_entropy(model(xb), yb)

layers = viz.draw(loss, params=model, collapse=True, highlight=model.features[0].weight)
layers

# %% [markdown]
# **Expanded to primitives.** The same graph without collapsing. Inside each `conv2d` cluster: `pad`,
# `unfold` (im2col: every 3×3 window becomes a column), one batched `matmul` with the weight matrix, the
# reshapes, and the bias `add` whose VJP sums the gradient over the batch and positions ("sum over
# axes"). Inside `cross_entropy`: the stable `log_softmax` (subtract the max, exp, sum, log). Every box is
# one entry of the primitives table, whose VJP you can read in its label.

# %%
primitives = viz.draw(loss, params=model)
primitives

# %% [markdown]
# What the two pictures claim, checked: the collapsed graph has one box per composite, the expanded one
# contains the primitives named above, both name every parameter, and the highlighted weight's
# gradient equals what `backward()` computes.

# %%
collapsed_src, expanded_src = layers.source, primitives.source
n_boxes = lambda src: sum(1 for line in src.splitlines() if "[label=<" in line)
print(f"boxes: collapsed {n_boxes(collapsed_src)}, expanded {n_boxes(expanded_src)}")
assert n_boxes(collapsed_src) < n_boxes(expanded_src)
for op in ("UnfoldBackward", "PadBackward", "MatMulBackward", "ExpBackward", "LogBackward"):
    assert op in expanded_src and op not in collapsed_src, op
for name, _ in model.named_parameters():
    assert name in collapsed_src and name in expanded_src, name

loss.backward()
w1 = model.features[0].weight
drawn = re.search(r"features\.0\.weight</b>.*?‖grad‖ ([^<]+)<", collapsed_src).group(1)
print(f"‖∂L/∂features.0.weight‖: backward() {np.linalg.norm(w1.grad.numpy()):.4f}, in the picture {drawn}")
assert np.isclose(float(drawn.replace("−", "-")), np.linalg.norm(w1.grad.numpy()), rtol=1e-2)

# %% [markdown]
# ## 2. Vanishing gradients you can see
#
# In a plain deep net $h_{l+1} = W_{l+1}\, a_l + b_{l+1}$, $a_l = \phi(h_l)$, backprop passes the gradient
# down one layer by
#
# $$\frac{\partial L}{\partial h_l} = \Big(W_{l+1}^\top \frac{\partial L}{\partial h_{l+1}}\Big) \odot \phi'(h_l),
# \qquad \Big\lVert \frac{\partial L}{\partial h_l} \Big\rVert \le \max|\phi'| \cdot \lVert W_{l+1} \rVert_2 \cdot
# \Big\lVert \frac{\partial L}{\partial h_{l+1}} \Big\rVert .$$
#
# For the sigmoid $\phi' = \sigma(1 - \sigma) \le \tfrac14$: unless the weights are large, every layer
# shrinks the gradient, geometrically with depth. ReLU has $\phi' \in \{0, 1\}$ (no shrinking by itself, but
# initialisation matters), and a **residual** block $h + f(h)$ has Jacobian $I + J_f$: the identity gives
# the gradient a path that skips every layer.
#
# Four nets of 12 hidden layers (width 32) on a batch of 128 digits, one backward pass each:

# %%
X = ag.tensor(x_train[:128].reshape(128, -1))
Y = y_train[:128]
depth, width = 12, 32


class Residual(nn.Module):
    """h ↦ h + relu(W h + b)."""

    def __init__(self, width):
        super().__init__()
        self.fc = nn.Linear(width, width)

    def forward(self, h):
        return h + F.relu(self.fc(h))


def deep_net(kind, kaiming=False):
    ag.manual_seed(0)
    layers = [nn.Linear(64, width)]
    for _ in range(depth):
        if kind == "residual":
            layers.append(Residual(width))
        else:
            layers += [nn.Sigmoid() if kind == "sigmoid" else nn.ReLU(), nn.Linear(width, width)]
    layers += [nn.ReLU(), nn.Linear(width, 10)]
    net = nn.Sequential(*layers)
    if kaiming:
        for m in net.modules():
            if isinstance(m, nn.Linear):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
    return net


def weight_grad_norms(net):
    F.cross_entropy(net(X), Y).backward()
    return np.array([np.linalg.norm(m.weight.grad.numpy()) for m in net.modules() if isinstance(m, nn.Linear)])


nets = {
    "sigmoid (default init)": deep_net("sigmoid"),
    "ReLU (default init)": deep_net("relu"),
    "ReLU (Kaiming init)": deep_net("relu", kaiming=True),
    "residual ReLU (default init)": deep_net("residual"),
}
norms = {label: weight_grad_norms(net) for label, net in nets.items()}

fig, ax = plt.subplots(figsize=(6.5, 3.2))
for (label, g), marker in zip(norms.items(), "os^D"):
    ax.semilogy(np.arange(1, len(g) + 1), g, marker=marker, ms=4, label=label)
ax.set(xlabel="layer (1 = next to the input)", ylabel="‖∂L/∂W‖", title="gradient norm per layer, one batch")
ax.legend(fontsize=8)
plt.show()

for label, g in norms.items():
    print(f"{label:30s} first layer / last layer = {g[0] / g[-1]:.1e}")

# %% [markdown]
# The sigmoid net's first layer receives a gradient about $10^{-10}$ times the last layer's: it barely
# learns. ReLU with PyTorch's default initialisation (uniform in $\pm 1/\sqrt{\text{fan-in}}$, variance
# $1/(3\,\text{fan-in})$) also shrinks; Kaiming's variance $2/\text{fan-in}$ keeps the norms level; the
# residual net keeps them level even with the default initialisation.

# %%
first_over_last = {label: g[0] / g[-1] for label, g in norms.items()}
assert first_over_last["sigmoid (default init)"] < 1e-6
assert 0.1 < first_over_last["ReLU (Kaiming init)"] < 10
assert 0.1 < first_over_last["residual ReLU (default init)"] < 10

# %% [markdown]
# **The layer-to-layer rule, checked.** Keep the gradients of the sigmoid net's pre-activations
# (`retain_grad()`) and verify, layer by layer, both the VJP formula and the ¼-bound that makes it vanish.

# %%
net = nets["sigmoid (default init)"]
linears = [m for m in net.modules() if isinstance(m, nn.Linear)]
pre = []                 # h_l, the output of each Linear
h = X
for module in net:
    h = module(h)
    if isinstance(module, nn.Linear):
        h.retain_grad()
        pre.append(h)
F.cross_entropy(h, Y).backward()

for l in range(depth):   # h_l feeds sigmoid, then linears[l + 1]
    g_next = pre[l + 1].grad.numpy()
    s = 1 / (1 + np.exp(-pre[l].numpy()))
    W_next = linears[l + 1].weight.numpy()
    g_formula = (g_next @ W_next) * s * (1 - s)
    assert np.allclose(pre[l].grad.numpy(), g_formula, rtol=1e-4, atol=1e-12)
    bound = 0.25 * np.linalg.norm(W_next, 2) * np.linalg.norm(g_next)
    assert np.linalg.norm(pre[l].grad.numpy()) <= bound * (1 + 1e-5)
shrink = [np.linalg.norm(pre[l].grad.numpy()) / np.linalg.norm(pre[l + 1].grad.numpy()) for l in range(depth)]
print("per-layer shrink factors ‖g_l‖ / ‖g_(l+1)‖:", np.round(shrink, 3))

# %% [markdown]
# `color_by="grad_norm"` shades every box by the norm of the gradient flowing through it (log scale,
# blue = small, red = large): on a 5-layer sigmoid net the gradient fades on its way to the input.

# %%
ag.manual_seed(0)
layers = [nn.Linear(64, width)]
for _ in range(4):
    layers += [nn.Sigmoid(), nn.Linear(width, width)]
small = nn.Sequential(*layers, nn.Sigmoid(), nn.Linear(width, 10))
viz.draw(F.cross_entropy(small(X), Y), params=small, collapse=True, color_by="grad_norm", group_scopes=False)
