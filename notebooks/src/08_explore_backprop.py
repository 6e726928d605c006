# %% [markdown]
# # 08 · Exploring backprop step by step
#
# `viz.explore(loss)` turns a recorded graph into one self-contained HTML page (inline SVG, style and script; no
# network): the backward graph of `viz.draw`, laid out once, with **Next / Previous / Play** (or the ← → keys)
# to run the forward pass box by box and then the backward pass in the engine's own order. Click a box for its
# op, its forward and VJP formulas, shapes, values, gradients, saved tensors and the numerical check of its VJP;
# click a leaf for its `explain` derivation. `page.save("backprop.html")` writes the file to mail or put online.
#
# 1. A scalar network, primitive by primitive.
# 2. A CNN at layer level: one box per layer with its rule, expanding into its primitives.
# 3. Exercise pages from `viz.problems`: hidden numbers that the student types in and the page checks.
#
# The pages below are live in Jupyter (each in its own frame); on a code host, which runs no script, save them
# and open the file in a browser.

# %%
import numpy as np

import autograd as ag
import nn
import nn.functional as F
from autograd import viz
from autograd._graph_walk import Graph
from nn.data import load_digits

x_train, y_train = load_digits("train")

# %% [markdown]
# ## 1. A neuron on scalars
#
# A lecturer projects this page and presses → once per sentence: "the forward pass computes each value …
# now backward starts with ∂L/∂L = 1 … `tanh` multiplies by 1 − y² …". Each edge shows `ḡ · local →
# downstream` when its box runs, and `x1`, used twice, shows its gradient as a running sum.

# %%
x1 = ag.tensor(2.0, requires_grad=True, name="x1")
w1 = ag.tensor(-3.0, requires_grad=True, name="w1")
x2 = ag.tensor(0.0, requires_grad=True, name="x2")
w2 = ag.tensor(1.0, requires_grad=True, name="w2")
b = ag.tensor(6.8813735870195432, requires_grad=True, name="b")
L = (x1 * w1 + x2 * w2 + b).tanh() * x1
L.name = "L"

neuron = viz.explore(L)
neuron

# %% [markdown]
# The page steps through the engine's order: backward step k highlights box `#k`, exactly the order of
# `graph.backward_order`, and the forward pass is the same boxes in reverse.

# %%
order = [f"n{i + 1}" for i in range(len(Graph(L).nodes))]
assert neuron.backward_units == order
print("backward order:", " → ".join(order), f"· page: {len(neuron.html) / 1e3:.0f} kB")

# %% [markdown]
# ## 2. A CNN at layer level
#
# For a lecture on CNNs, `level="layer"` draws each composite as one box with the rule the slides state
# (conv: a full convolution with the rotated kernel; softmax cross-entropy: (p − t)/N), checked against the
# engine's chain rule. Clicking a layer opens its rule and a small picture of its primitives; clicking one of
# those opens that primitive's panel. `chainrule explore` writes this page for the default `DigitsCNN`.

# %%
ag.manual_seed(0)
cnn = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(36, 10))
loss = F.cross_entropy(cnn(ag.tensor(x_train[:2])), y_train[:2])

layers = viz.explore(loss, params=cnn, level="layer")
layers

# %% [markdown]
# ## 3. Exercise pages
#
# Each generator draws a small graph of integers from its seed, so the answers are short, and hides the numbers
# the exercise asks for. The student steps to a box, types the answer into its panel and presses Enter: a wrong
# answer brings the VJP formula as a hint, a second one the derivation; the score line counts what is right.
# A new seed gives each student, or each year, a new exercise of the same kind.
#
# **A neuron on scalars** (`scalar_network`): every gradient hidden. Set in a first backprop tutorial: the
# students fill in the graph backwards, box by box, and see `w1`'s two paths add up.

# %%
viz.problems.scalar_network(seed=1).page

# %% [markdown]
# **Convolution by hand** (`conv2d_by_hand`): the lecture's 5×5×3 input, two 3×3×3 filters, stride 2, padding 1;
# four output values hidden. Handed out before the lecture on convolutions, so the output-size formula and the
# sliding dot product are worked once by hand (`exercise="grads"` asks entries of ∂L/∂w instead).

# %%
conv = viz.problems.conv2d_by_hand(seed=0, stride=2, padding=1)
print("output shape:", conv.tensors["out"].shape, "· asked:", [q.prompt.text for q in conv.page.questions])
conv.page

# %% [markdown]
# **Max-pool routing** (`maxpool_routing`): the gradient of every input of a 2×2 pooling. Used in class as a quick
# check that the gradient goes to each window's winner and nowhere else.

# %%
viz.problems.maxpool_routing(seed=0).page

# %% [markdown]
# **Softmax cross-entropy** (`softmax_ce`): logits ln(small integers), so p comes in quarters and eighths and
# (p − t)/N is short. A homework question before the derivation is shown in the lecture.

# %%
viz.problems.softmax_ce(seed=0).page

# %% [markdown]
# **Mean subtraction** (`mean_subtraction`): ∂L/∂x of x − mean(x) over a batch of 4, which is mean subtraction of
# G. Set in the lecture on batch normalisation, as the first half of its backward.

# %%
centred = viz.problems.mean_subtraction(seed=0)
g = centred.tensors["G"].numpy()
assert np.allclose([q.answer for q in centred.page.questions], (g - g.mean(axis=0)).ravel())
centred.page
