"""RMSprop: divide the gradient by a running root-mean-square of its recent values."""
import numpy as np

from .optimizer import Optimizer, check_hyper


class RMSprop(Optimizer):
    """RMSprop (Hinton's lecture 6e), PyTorch's formulation.

    With learning rate η, smoothing α, momentum μ and weight decay λ, per step::

        g ← g + λ·x
        v ← α·v + (1 − α)·g²
        ḡ ← α·ḡ + (1 − α)·g,  v ← v − ḡ²      (centered: subtract the squared mean)
        d = √v + ε
        b ← μ·b + g/d,  x ← x − η·b            (momentum > 0)
        x ← x − η·g/d                          (otherwise)
    """

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False):
        check_hyper("learning rate", lr, lr >= 0, ">= 0")
        check_hyper("eps", eps, eps >= 0, ">= 0")
        check_hyper("alpha", alpha, 0 <= alpha <= 1, "in [0, 1]")
        check_hyper("momentum", momentum, momentum >= 0, ">= 0")
        check_hyper("weight_decay", weight_decay, weight_decay >= 0, ">= 0")
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                                      centered=centered))

    def update(self, x, g, state, group):
        lr, alpha, mu, wd = group["lr"], group["alpha"], group["momentum"], group["weight_decay"]
        if not state:
            state.update(step=0, square_avg=np.zeros_like(x))
            if mu > 0:
                state["momentum_buffer"] = np.zeros_like(x)
            if group["centered"]:
                state["grad_avg"] = np.zeros_like(x)
        state["step"] += 1
        if wd != 0:
            g = g + wd * x
        v = state["square_avg"]
        v *= alpha
        v += (1 - alpha) * g * g
        if group["centered"]:
            mean = state["grad_avg"]
            mean += (1 - alpha) * (g - mean)  # = α·ḡ + (1 − α)·g
            v = v - mean * mean
        d = np.sqrt(v) + group["eps"]
        if mu > 0:
            b = state["momentum_buffer"]
            b *= mu
            b += g / d
            x -= lr * b
        else:
            x -= lr * g / d
