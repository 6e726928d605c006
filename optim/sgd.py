"""Stochastic gradient descent with momentum, Nesterov momentum and weight decay."""
from .optimizer import Optimizer, check_hyper, required


class SGD(Optimizer):
    """Stochastic gradient descent (PyTorch's formulation).

    With learning rate η, momentum μ, dampening τ and weight decay λ, per step::

        g ← −g  (maximize)          g ← g + λ·x
        b ← g  (first step)         b ← μ·b + (1 − τ)·g  (later steps)
        g ← g + μ·b  (Nesterov)     g ← b  (plain momentum)
        x ← x − η·g

    With μ = 0 this is x ← x − η·(∇f(x) + λ·x).
    """

    def __init__(self, params, lr=required, momentum=0, dampening=0, weight_decay=0, nesterov=False,
                 maximize=False):
        if lr is not required:
            check_hyper("learning rate", lr, lr >= 0, ">= 0")
        check_hyper("momentum", momentum, momentum >= 0, ">= 0")
        check_hyper("weight_decay", weight_decay, weight_decay >= 0, ">= 0")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("SGD: Nesterov momentum needs momentum > 0 and dampening = 0")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                                      nesterov=nesterov, maximize=maximize))

    def update(self, x, g, state, group):
        lr, mu, wd = group["lr"], group["momentum"], group["weight_decay"]
        if group["maximize"]:
            g = -g
        if wd != 0:
            g = g + wd * x
        if mu != 0:
            b = state.get("momentum_buffer")
            if b is None:
                b = state["momentum_buffer"] = g.copy()
            else:
                b *= mu
                b += (1 - group["dampening"]) * g
            g = g + mu * b if group["nesterov"] else b
        x -= lr * g
