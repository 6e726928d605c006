# %% [markdown]
# # 01 · The chain rule on scalars
#
# Backprop is the chain rule applied to a composition of small functions, from the loss back to every
# weight. On scalars every step can be written out and checked by hand. This notebook follows the
# "multi-layer perceptron" of the ML-review lecture (seed notes `004`): one input, three weights, one
# bias, a sigmoid after every layer, and the squared-error loss,
#
# $$a_1 = w_1 x + b_1,\quad f_1 = \sigma(a_1),\qquad a_2 = w_2 f_1,\quad f_2 = \sigma(a_2),\qquad
# a_3 = w_3 f_2,\quad f_3 = \sigma(a_3) = \hat y,\qquad L = \tfrac12 (y - \hat y)^2 .$$
#
# Every tensor carries the name it has on the slides, so the pictures, derivations and traces below use
# the lecture's letters. The slides give no numbers; we pick $x = 0.5$, $y = 1$, $w_1 = 0.8$, $b_1 = 0.1$,
# $w_2 = -1.5$, $w_3 = 2$.
#
# Contents: the forward pass and its graph · $\partial L/\partial w_3$ as on the slide (and the slip on it)
# · reusing what backward already computed · finite differences · the derivatives of sigmoid, ReLU and
# leaky ReLU · gradients adding up where a value is used twice.

# %%
import numpy as np
import matplotlib.pyplot as plt
from IPython.display import display

import autograd as ag
import nn.functional as F
from autograd import viz

plt.rcParams.update({"figure.dpi": 80, "figure.figsize": (6, 3)})


def weight(value, name):
    """A float64 leaf that requires grad, named as on the slides."""
    return ag.tensor(value, dtype=np.float64, requires_grad=True, name=name)

# %% [markdown]
# ## The forward pass, named as on the slides
#
# Each operation records a node of the graph. A leaf gets its name with `name=`; an intermediate result
# gets one by assigning `.name`. Nothing is differentiated yet: pictures and derivations show the numbers
# the forward computed and the gradients the backward computes, so we draw and explain *before*
# `L.backward()` (a plain `backward()` frees those numbers as it goes).

# %%
x = ag.tensor(0.5, dtype=np.float64, name="x")   # the input: no gradient needed
y = ag.tensor(1.0, dtype=np.float64, name="y")   # the target
w1, b1, w2, w3 = weight(0.8, "w1"), weight(0.1, "b1"), weight(-1.5, "w2"), weight(2.0, "w3")

a1 = w1 * x + b1
a1.name = "a1"
f1 = a1.sigmoid()
f1.name = "f1"
a2 = w2 * f1
a2.name = "a2"
f2 = a2.sigmoid()
f2.name = "f2"
a3 = w3 * f2
a3.name = "a3"
f3 = a3.sigmoid()
f3.name = "f3"                        # f3 is the prediction ŷ
L = 0.5 * (y - f3) ** 2
L.name = "L"

for t in (a1, f1, a2, f2, a3, f3, L):
    print(f"{t.name} = {t.item():.4f}")
assert np.isclose(f3.item(), 1 / (1 + np.exp(-2.0 / (1 + np.exp(1.5 / (1 + np.exp(-0.5)))))))

# %% [markdown]
# ## The backward graph
#
# One box per backward node (numbered in the order backward will run it) and one per leaf, each with its
# value and the gradient $\partial L/\partial(\cdot)$. Edges point the way gradients flow and read
# `upstream · local → downstream`: the gradient arriving from the loss side, times the local derivative of
# that one operation, is what flows on. That product is the chain rule. Constants such as $x$ and $y$ appear
# as their values inside the formulas; the unnamed results $w_1 x$, $y - f_3$ and its square are `v1`–`v3`.

# %%
viz.draw(L, rankdir="LR")

# %% [markdown]
# ## $\partial L/\partial w_3$, the slide's first derivative
#
# The slide writes
# $\frac{\partial L}{\partial w_3} = \frac{\partial L}{\partial f_3}\frac{\partial f_3}{\partial a_3}\frac{\partial a_3}{\partial w_3}$
# and fills in each factor: $\partial L/\partial f_3 = -(y - \hat y)$ from the squared error,
# $\partial f_3/\partial a_3 = f_3(1 - f_3)$ from the sigmoid, and $\partial a_3/\partial w_3 = f_2$.
# `autograd.explain(L, w3)` derives it from the live graph: the forward steps between $w_3$ and $L$, each
# local derivative (from the primitive's VJP formula, with its value), their product along the one path,
# and the result next to autograd's gradient and a central difference.

# %%
d_w3 = ag.explain(L, w3)
d_w3

# %% [markdown]
# **A slip on the slide.** Its second line reads $-\eta\,(y - \hat y)\cdots$: a learning rate $\eta$ has
# strayed into the derivative, which contains none ($\eta$ belongs to the update
# $w_3 \leftarrow w_3 - \eta\,\partial L/\partial w_3$, not to the gradient). With any $\eta \ne 1$, say $0.1$,
# the slide's expression is off by that factor; the product of the three local derivatives is what autograd
# and the central difference give.

# %%
by_hand = -(y.item() - f3.item()) * f3.item() * (1 - f3.item()) * f2.item()
eta = 0.1
as_on_slide = eta * by_hand
print(f"-(y − ŷ)·f3(1 − f3)·f2    = {by_hand:.6f}")
print(f"autograd (explain)         = {d_w3.gradient.item():.6f}")
print(f"central difference         = {d_w3.numeric.item():.6f}")
print(f"slide, with a stray η = 0.1: {as_on_slide:.6f}  (wrong)")
assert np.isclose(d_w3.gradient.item(), by_hand) and np.isclose(d_w3.numeric.item(), by_hand, rtol=1e-7)
assert not np.isclose(d_w3.gradient.item(), as_on_slide)

# %% [markdown]
# ## Deeper weights reuse what is already computed
#
# The slide's next lines for $w_2$ and $w_1$ start with the same factors as $w_3$'s:
#
# $$\frac{\partial L}{\partial w_2} = \underbrace{\frac{\partial L}{\partial f_3}\frac{\partial f_3}{\partial a_3}}_{\partial L/\partial a_3}
# \frac{\partial a_3}{\partial f_2}\frac{\partial f_2}{\partial a_2}\frac{\partial a_2}{\partial w_2},\qquad
# \frac{\partial L}{\partial w_1} = \underbrace{\frac{\partial L}{\partial f_3}\cdots\frac{\partial f_2}{\partial a_2}}_{\partial L/\partial a_2}
# \frac{\partial a_2}{\partial f_1}\frac{\partial f_1}{\partial a_1}\frac{\partial a_1}{\partial w_1}.$$
#
# Backprop never recomputes a shared prefix: it computes $\partial L/\partial a_3$ once, passes it down, and
# each step multiplies by one more local derivative. `autograd.trace_backward(L)` lists the steps in the order
# backward runs them, each as `[gradient from the right] · [local gradient] = [gradient to the left]`.

# %%
print(ag.trace_backward(L))

# %% [markdown]
# The same recursion by hand, with $\delta_k = \partial L/\partial a_k$ (one multiplication per layer), and
# then the engine's own backward. We keep the graph (`retain_graph=True`) because the next cells still
# explain and draw it.

# %%
s = lambda t: t.item()
delta3 = -(s(y) - s(f3)) * s(f3) * (1 - s(f3))
delta2 = delta3 * s(w3) * s(f2) * (1 - s(f2))
delta1 = delta2 * s(w2) * s(f1) * (1 - s(f1))
by_recursion = {"w3": delta3 * s(f2), "w2": delta2 * s(f1), "w1": delta1 * s(x), "b1": delta1}

L.backward(retain_graph=True)
for p in (w3, w2, w1, b1):
    print(f"∂L/∂{p.name} = {p.grad.item(): .6f}   by the recursion: {by_recursion[p.name]: .6f}")
    assert np.isclose(p.grad.item(), by_recursion[p.name])

# %% [markdown]
# ## $\partial L/\partial w_1$ for slides, and checked by finite differences
#
# A derivation renders as Markdown in the notebook and as LaTeX for slides: `to_latex(style="align")` gives
# one `align*` block (amsmath), a line per formula, aligned at its first `=`. Here is the path product for
# $w_1$, the longest one in the network:

# %%
d_w1 = ag.explain(L, w1)
latex = d_w1.to_latex(style="align")
print("\n".join(line for line in latex.splitlines() if r"\to" in line))
assert latex.startswith(r"\begin{align*}") and r"w_{1} \to v_{1} \to a_{1}" in latex

# %% [markdown]
# The derivative is the slope of $L$ as a function of $w_1$ alone. The central difference
# $\big(L(w_1 + \varepsilon) - L(w_1 - \varepsilon)\big)/2\varepsilon$ has error $O(\varepsilon^2)$; in float64,
# $\varepsilon = 10^{-6}$ gives about nine correct digits.

# %%
def sigmoid(v):
    return 1 / (1 + np.exp(-v))


def loss_at(w1_value):
    f1_ = sigmoid(w1_value * s(x) + s(b1))
    f3_ = sigmoid(s(w3) * sigmoid(s(w2) * f1_))
    return 0.5 * (s(y) - f3_) ** 2


eps = 1e-6
numeric = (loss_at(s(w1) + eps) - loss_at(s(w1) - eps)) / (2 * eps)
print(f"central difference: {numeric:.9f}   autograd: {w1.grad.item():.9f}")
assert np.isclose(numeric, w1.grad.item(), rtol=1e-6)

ws = np.linspace(-6, 6, 200)
fig, ax = plt.subplots(figsize=(6, 2.8))
ax.plot(ws, [loss_at(w) for w in ws], label="L as a function of $w_1$")
ax.plot(ws, L.item() + w1.grad.item() * (ws - s(w1)), "--", label="tangent, slope ∂L/∂$w_1$")
ax.plot([s(w1)], [L.item()], "ko")
ax.set(xlabel="$w_1$", ylabel="L")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# $\partial L/\partial w_1$ is small because the gradient passes through three sigmoids, each multiplying it by
# $f(1 - f) \le 1/4$. That is the "gradients go to zero" remark on the sigmoid slide.

# %%
print(f"f1(1−f1) = {s(f1) * (1 - s(f1)):.3f},  f2(1−f2) = {s(f2) * (1 - s(f2)):.3f},  "
      f"f3(1−f3) = {s(f3) * (1 - s(f3)):.3f}")
assert abs(w1.grad.item()) < abs(w2.grad.item()) < abs(w3.grad.item())

# %% [markdown]
# ## The derivatives on the activation slides
#
# The lecture lists three nonlinearities with their derivatives. Autograd gives them at a few points:
#
# * sigmoid: $\sigma'(y) = \sigma(y)\,(1 - \sigma(y))$;
# * ReLU: $0$ for $y < 0$, $1$ for $y > 0$;
# * leaky ReLU with a small $a$ (the slide's example is $0.02$): $1$ for $y > 0$ and $+a$ for $y < 0$.
#   **The slide writes $-a$ for negative inputs; that is a sign error**: the function is $a\,y$ there, whose
#   slope is $+a$.
#
# At exactly $y = 0$ none of the kinked ones is differentiable; chainrule takes $0$ for ReLU and $a$ for
# leaky ReLU there, like PyTorch, so the check below stays off $0$.

# %%
points = np.array([-3.0, -0.5, 0.5, 3.0])
slope = 0.02


def derivative(fn):
    v = ag.tensor(points, dtype=np.float64, requires_grad=True, name="y")
    fn(v).sum().backward()
    return v.grad.numpy()


sig = sigmoid(points)
print("σ'      ", derivative(F.sigmoid), "  σ(1 − σ):", np.round(sig * (1 - sig), 4))
print("ReLU'   ", derivative(F.relu))
print("leaky'  ", derivative(lambda v: F.leaky_relu(v, slope)))
assert np.allclose(derivative(F.sigmoid), sig * (1 - sig))
assert np.array_equal(derivative(F.relu), (points > 0).astype(float))
assert np.allclose(derivative(lambda v: F.leaky_relu(v, slope)), np.where(points > 0, 1.0, +slope))

# %% [markdown]
# ## Where a value is used twice, gradients add
#
# In $g = u\,v + u$ the input $u$ reaches $g$ along two paths: through the product (local derivative $v$)
# and directly (local derivative 1). The multivariate chain rule sums over paths:
# $\partial g/\partial u = v + 1$. Backprop implements the sum by *accumulating*: each path adds its
# contribution to $u$'s gradient.

# %%
u, v = weight(3.0, "u"), weight(0.5, "v")
g = u * v + u
g.name = "g"
d_u = ag.explain(g, u)
print(f"∂g/∂u = {d_u.gradient.item()}  (v + 1 = {v.item() + 1})")
assert d_u.gradient.item() == v.item() + 1 and len(d_u.paths) == 2
d_u

# %% [markdown]
# In the picture, the leaf $u$ shows the sum of what its two edges deliver:

# %%
viz.draw(g, rankdir="LR")

# %% [markdown]
# `viz.frames(g)` yields one picture per backward step: the node that just ran is outlined in orange, and a
# leaf shows the part of its gradient that has arrived so far. After the first step $u$ holds only the
# direct contribution 1; after the second, $1 + v$.

# %%
for frame in viz.frames(g, rankdir="LR"):
    display(frame)

# %% [markdown]
# One more check: the sigmoid network's picture has exactly one box per node and per leaf.

# %%
source = viz.dot(L)
boxes = sum(1 for line in source.splitlines() if "[label=<" in line)
print(f"{boxes} boxes: 10 nodes (mul, add, 3 × sigmoid, 2 × mul, sub, pow, mul) and the leaves w1, b1, w2, w3")
assert boxes == 10 + 4
