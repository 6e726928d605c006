"""Adagrad: per-coordinate learning rates from the sum of all past squared gradients."""
import numpy as np

from .optimizer import Optimizer, check_hyper


class Adagrad(Optimizer):
    """Adagrad (Duchi, Hazan & Singer, 2011), PyTorch's formulation.

    With learning rate η, decay δ and weight decay λ, per step t = 1, 2, ...::

        g ← g + λ·x
        s ← s + g²                      (s starts at initial_accumulator_value)
        x ← x − η/(1 + (t − 1)·δ) · g / (√s + ε)
    """

    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0, eps=1e-10):
        check_hyper("learning rate", lr, lr >= 0, ">= 0")
        check_hyper("lr_decay", lr_decay, lr_decay >= 0, ">= 0")
        check_hyper("weight_decay", weight_decay, weight_decay >= 0, ">= 0")
        check_hyper("initial_accumulator_value", initial_accumulator_value, initial_accumulator_value >= 0, ">= 0")
        check_hyper("eps", eps, eps >= 0, ">= 0")
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value, eps=eps))

    def update(self, x, g, state, group):
        if not state:
            state.update(step=0, sum=np.full_like(x, group["initial_accumulator_value"]))
        state["step"] += 1
        if group["weight_decay"] != 0:
            g = g + group["weight_decay"] * x
        s = state["sum"]
        s += g * g
        lr_t = group["lr"] / (1 + (state["step"] - 1) * group["lr_decay"])
        x -= lr_t * g / (np.sqrt(s) + group["eps"])
