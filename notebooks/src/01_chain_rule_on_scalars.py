# %% [markdown]
# # 01 · The chain rule on scalars
#
# A neural network is a composition of small functions, and backprop is the chain rule applied to that
# composition, from the loss back to every weight. On scalars everything can be written out and checked by
# hand. We take a toy network with one hidden unit,
#
# $$h = \tanh(w_1 x + b_1), \qquad \hat y = w_2 h + b_2, \qquad L = (\hat y - y)^2,$$
#
# and look at its backward graph, derive $\partial L/\partial w_1$ three ways (by hand, with
# `autograd.explain`, by finite differences), and watch gradients add up where a value is used twice.

# %%
import numpy as np
import matplotlib.pyplot as plt
from IPython.display import display

import autograd as ag
from autograd import viz

plt.rcParams.update({"figure.dpi": 80, "figure.figsize": (6, 3)})


def scalar(value, name):
    """A float64 leaf that requires grad, named for the pictures."""
    return ag.tensor(value, dtype=np.float64, requires_grad=True, name=name)

# %% [markdown]
# ## Forward and backward
#
# Every operation below (`*`, `+`, `tanh`, `-`, `**`) records a node of the graph. `L.backward()` then
# visits the nodes in reverse and fills `.grad` of every leaf with $\partial L/\partial(\text{leaf})$.
# It frees the graph's numbers as it goes; `retain_graph=True` keeps them, so that the pictures and
# derivations below can show exactly the values the forward and the backward computed.

# %%
x, y = 1.5, 0.5                       # one training example: input and target
w1, b1 = scalar(0.8, "w1"), scalar(-0.2, "b1")
w2, b2 = scalar(-1.2, "w2"), scalar(0.3, "b2")

h = (w1 * x + b1).tanh()
y_hat = w2 * h + b2
L = (y_hat - y) ** 2
L.name = "L"                          # names show up in the pictures and derivations
L.backward(retain_graph=True)         # keep the graph's numbers: the pictures below show them

print(f"h = {h.item():.4f}, ŷ = {y_hat.item():.4f}, L = {L.item():.4f}")
for p in (w1, b1, w2, b2):
    print(f"∂L/∂{p.name} = {p.grad.item(): .5f}")

# %% [markdown]
# ## The backward graph
#
# Each box is a backward node (the VJP backward runs, numbered in the order it runs) or a leaf; each
# shows its value and its gradient, like `data 0.800 | grad 1.684` for $w_1$. Edges point the way gradients flow
# and read `upstream · local → downstream`: the gradient arriving from above, times the local derivative
# of that one operation, is the gradient passed down. That product *is* the chain rule.

# %%
viz.draw(L)

# %% [markdown]
# ## The chain rule for one weight
#
# By hand, following the only path from $w_1$ to $L$:
#
# $$\frac{\partial L}{\partial w_1} = \underbrace{2(\hat y - y)}_{\partial L/\partial \hat y}\cdot
# \underbrace{w_2}_{\partial \hat y/\partial h}\cdot \underbrace{(1 - h^2)}_{\partial h/\partial(\cdot)}
# \cdot \underbrace{x}_{\partial (w_1 x + b_1)/\partial w_1}$$
#
# `autograd.explain(L, w1)` derives the same thing from the live graph: the forward pass one primitive
# per line, each local derivative (from the primitive's VJP formula, with its value), the product along
# every path, the sum over paths, and the result next to autograd's gradient and a central difference.

# %%
derivation = ag.explain(L, w1)
derivation

# %%
hv, yv = h.item(), y_hat.item()
by_hand = 2 * (yv - y) * w2.item() * (1 - hv ** 2) * x
print(f"by hand: {by_hand:.8f}   autograd: {w1.grad.item():.8f}")
assert np.isclose(by_hand, w1.grad.item())

# %% [markdown]
# ## The same gradient by finite differences
#
# The derivative is the slope of $L$ as a function of $w_1$ alone. The central difference
# $\big(L(w_1 + \varepsilon) - L(w_1 - \varepsilon)\big) / 2\varepsilon$ has error $O(\varepsilon^2)$;
# in float64 $\varepsilon = 10^{-6}$ gives about 9 correct digits.

# %%
def loss_at(w1_value):
    hh = np.tanh(w1_value * x + b1.item())
    return (w2.item() * hh + b2.item() - y) ** 2


eps = 1e-6
numeric = (loss_at(w1.item() + eps) - loss_at(w1.item() - eps)) / (2 * eps)
print(f"central difference: {numeric:.8f}   autograd: {w1.grad.item():.8f}")
assert np.isclose(numeric, w1.grad.item(), rtol=1e-7)

ws = np.linspace(-1.5, 2.5, 200)
fig, ax = plt.subplots(figsize=(6, 2.8))
ax.plot(ws, [loss_at(w) for w in ws], label="L as a function of $w_1$")
ax.plot(ws, L.item() + w1.grad.item() * (ws - w1.item()), "--", label="tangent, slope ∂L/∂$w_1$")
ax.plot([w1.item()], [L.item()], "ko")
ax.set(xlabel="$w_1$", ylabel="L", ylim=(-0.2, 3.5))
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# ## The backward pass, step by step
#
# `autograd.trace_backward(L)` lists the nodes in the order backward runs them, each line being
# `[gradient from the right] · [local gradient] = [gradient to the left]`.

# %%
trace = ag.trace_backward(L)
print(trace)

# %% [markdown]
# ## Where a value is used twice, gradients add
#
# In $f = x\,y + x$ the input $x$ reaches $f$ along two paths: through the product (local derivative $y$)
# and directly (local derivative 1). The multivariate chain rule sums over paths:
# $\partial f/\partial x = y + 1$. Backprop implements the sum by *accumulating*: each path adds its
# contribution to $x$'s gradient.

# %%
a, c = scalar(3.0, "x"), scalar(0.5, "y")
f = a * c + a
f.backward(retain_graph=True)
print(f"∂f/∂x = {a.grad.item()}  (y + 1 = {c.item() + 1})")
assert a.grad.item() == c.item() + 1
ag.explain(f, a)

# %% [markdown]
# In the picture, the leaf $x$ shows the sum of what its two edges deliver:

# %%
viz.draw(f)

# %% [markdown]
# `viz.frames(f)` yields one picture per backward step: the node that just ran is outlined in orange, and
# a leaf shows the part of its gradient that has arrived so far. After the first step $x$ holds only the
# direct contribution 1; after the second, $1 + y$.

# %%
for frame in viz.frames(f):
    display(frame)

# %% [markdown]
# One more check: the graph's picture has exactly one box per node and per leaf of the graph.

# %%
source = viz.dot(L)
boxes = sum(1 for line in source.splitlines() if "[label=<" in line)
print(f"{boxes} boxes: the nodes mul, add, tanh, mul, add, sub, pow and the leaves w1, b1, w2, b2")
assert boxes == 7 + 4
