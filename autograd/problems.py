"""The lecture's classic backprop exercises as small graphs of integers, each with its explorer page.

    from autograd import viz
    p = viz.problems.conv2d_by_hand(seed=3, stride=2, padding=1)
    p.page.save("conv.html")          # hand it out: the hidden numbers are the exercise
    p.loss, p.tensors["w"]            # the graph itself, to check or to draw

Each generator draws small integers from `numpy.random.default_rng(seed)` (a new seed, a new exercise
of the same kind) so that the answers are short: integers, or a few decimals where a mean or a softmax
divides. The graphs are built in float64, and the page (`viz.explore`) hides the numbers the exercise
asks for; `exercise=` picks another kind ("grads", "locals" or "values").
"""
import functools
from typing import NamedTuple

import numpy as np

from . import creation
from .explore import explore
from .grad_mode import scoped
from .layer_rules import layer_rule

__all__ = ["Problem", "scalar_network", "conv2d_by_hand", "maxpool_routing", "softmax_ce", "mean_subtraction"]


class Problem(NamedTuple):
    """An exercise: its `loss`, the named `tensors` it was built from, and its explorer `page`."""

    loss: object
    tensors: dict
    page: object


def _leaf(values, name, grad=True):
    return creation.tensor(np.asarray(values, np.float64), requires_grad=grad, dtype="float64", name=name)


def _weighted_sum(out, rng, low=-1, high=1):
    """L = Σ out·G with a constant G of small integers: ∂L/∂out = G, a known upstream gradient."""
    g = _leaf(rng.integers(low, high + 1, size=out.shape), "G", grad=False)
    loss = (out * g).sum()
    loss.name = "L"
    return loss, g


def scalar_network(seed=0, exercise="grads", questions=None):
    """A neuron on scalars, h = relu(x1·w1 + x2·w2 + b), read out as L = h·w1: w1 is used twice, so its
    gradient is the sum of two paths. Integers from −3 to 3 with a positive pre-activation: every value and
    gradient is an integer. Asks every gradient by default."""
    rng = np.random.default_rng(seed)
    while True:
        x1, x2, w1, w2 = (int(v) for v in rng.choice([-3, -2, -1, 1, 2, 3], size=4))
        b = int(rng.integers(-2, 3))
        if x1 * w1 + x2 * w2 + b > 0:
            break
    t = {name: _leaf(float(v), name) for name, v in (("x1", x1), ("x2", x2), ("w1", w1), ("w2", w2), ("b", b))}
    h = (t["x1"] * t["w1"] + t["x2"] * t["w2"] + t["b"]).relu()
    h.name = "h"
    loss = h * t["w1"]
    loss.name = "L"
    page = explore(loss, exercise=exercise, seed=seed, questions=questions,
                   title=f"Exercise {seed}: backprop through a neuron on scalars")
    return Problem(loss, {**t, "h": h}, page)


def conv2d_by_hand(seed=0, stride=2, padding=1, exercise="values", questions=4):
    """The lecture's convolution by hand: a 3×5×5 input of integers 0…2, two 3×3×3 filters of −1…1 and biases
    0 or 1, with `stride` and `padding` (2 and 1: a 2×3×3 output), read out as L = Σ out·G. Asks output
    values by default (exercise="grads" asks entries of ∂L/∂w)."""
    import nn.functional as F

    rng = np.random.default_rng(seed)
    x = _leaf(rng.integers(0, 3, size=(1, 3, 5, 5)), "x", grad=False)
    w = _leaf(rng.integers(-1, 2, size=(2, 3, 3, 3)), "w")
    b = _leaf(rng.integers(0, 2, size=2), "b")
    out = F.conv2d(x, w, b, stride=stride, padding=padding)
    out.name = "out"
    loss, g = _weighted_sum(out, rng)
    page = explore(loss, level="layer", exercise=exercise, seed=seed, questions=questions,
                   ask=[out] if exercise == "values" else [w, b],
                   title=f"Exercise {seed}: conv2d by hand (stride {stride}, padding {padding})")
    return Problem(loss, {"x": x, "w": w, "b": b, "out": out, "G": g}, page)


def maxpool_routing(seed=0, exercise="grads", questions=None):
    """2×2 max pooling (stride 2) of a 4×4 input of distinct integers, read out as L = Σ out·G with G of 1…4:
    each window's gradient goes to its largest entry, the other three get 0. Asks every entry of ∂L/∂x."""
    import nn.functional as F

    rng = np.random.default_rng(seed)
    x = _leaf(rng.permutation(16).reshape(1, 1, 4, 4) - 5, "x")
    out = F.max_pool2d(x, 2)
    out.name = "out"
    loss, g = _weighted_sum(out, rng, 1, 4)
    page = explore(loss, level="layer", exercise=exercise, seed=seed, questions=questions, ask=[x],
                   title=f"Exercise {seed}: where max pooling routes the gradient")
    return Problem(loss, {"x": x, "out": out, "G": g}, page)


# rows of e^z: small integers summing to 4 or 8, so the probabilities are quarters and eighths
_ODDS = ((1, 1, 2), (1, 2, 1), (2, 1, 1), (2, 3, 3), (1, 3, 4), (4, 2, 2), (6, 1, 1), (1, 1, 6), (3, 4, 1))


def softmax_ce(seed=0, exercise="grads", questions=None):
    """Softmax cross-entropy of 2 examples × 3 classes with logits z = ln(small integers), so that
    p = softmax(z) are quarters and eighths and ∂L/∂z = (p − t)/N is short. Asks every entry of ∂L/∂z."""
    import nn.functional as F

    rng = np.random.default_rng(seed)
    odds = np.array([_ODDS[i] for i in rng.choice(len(_ODDS), size=2)], np.float64)
    z = _leaf(np.log(odds), "z")
    labels = rng.integers(0, 3, size=2)
    loss = F.cross_entropy(z, labels)
    loss.name = "L"
    page = explore(loss, level="layer", exercise=exercise, seed=seed, questions=questions, ask=[z],
                   title=f"Exercise {seed}: softmax cross-entropy, e^z = {odds.astype(int).tolist()}, "
                         f"labels {labels.tolist()}")
    return Problem(loss, {"z": z}, page)


@functools.cache
def _centring():
    """x ↦ x − mean(x) over the batch axis, a composite carrying nn's mean-subtraction rule (made on first
    use: `nn` imports autograd, so autograd cannot import it while loading)."""
    from nn.layer_rules import MEAN_SUBTRACTION

    @layer_rule(MEAN_SUBTRACTION)
    @scoped("mean_subtraction")
    def centre(x, axis=0):
        return x - x.mean(axis=axis, keepdims=True)

    return centre


def mean_subtraction(seed=0, exercise="grads", questions=None):
    """Mean subtraction over a batch of 4 (x: 4×2 integers), read out as L = Σ y·G: its backward is mean
    subtraction again, ∂L/∂x = G − mean(G), in quarters. Asks every entry of ∂L/∂x."""
    rng = np.random.default_rng(seed)
    x = _leaf(rng.integers(-3, 4, size=(4, 2)), "x")
    y = _centring()(x)
    y.name = "y"
    loss, g = _weighted_sum(y, rng, -3, 3)
    page = explore(loss, level="layer", exercise=exercise, seed=seed, questions=questions, ask=[x],
                   title=f"Exercise {seed}: mean subtraction (its backward is mean subtraction)")
    return Problem(loss, {"x": x, "y": y, "G": g}, page)
