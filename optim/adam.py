"""Adam and AdamW: adaptive moment estimation, with L2 or decoupled weight decay."""
import numpy as np

from .optimizer import Optimizer, check_hyper


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015), PyTorch's formulation.

    With learning rate η, betas (β₁, β₂), weight decay λ, per step t = 1, 2, ...::

        g ← g + λ·x                     (Adam: L2 penalty in the gradient)
        x ← x·(1 − η·λ)                 (AdamW instead: decoupled decay)
        m ← β₁·m + (1 − β₁)·g           first moment
        v ← β₂·v + (1 − β₂)·g²          second moment
        v ← v̂ = max(v̂, v)               (amsgrad: the largest v so far is used)
        x ← x − η/(1 − β₁ᵗ) · m / (√v / √(1 − β₂ᵗ) + ε)
    """

    decoupled_weight_decay = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False):
        check_hyper("learning rate", lr, lr >= 0, ">= 0")
        check_hyper("eps", eps, eps >= 0, ">= 0")
        for i, beta in enumerate(betas):
            check_hyper(f"beta{i + 1}", beta, 0 <= beta < 1, "in [0, 1)")
        check_hyper("weight_decay", weight_decay, weight_decay >= 0, ">= 0")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      amsgrad=amsgrad))

    def update(self, x, g, state, group):
        lr, (beta1, beta2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
        if not state:
            state.update(step=0, exp_avg=np.zeros_like(x), exp_avg_sq=np.zeros_like(x))
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = np.zeros_like(x)
        state["step"] += 1
        t = state["step"]
        if wd != 0:
            if self.decoupled_weight_decay:
                x *= 1 - lr * wd
            else:
                g = g + wd * x
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m += (1 - beta1) * (g - m)  # = β₁·m + (1 − β₁)·g
        v *= beta2
        v += (1 - beta2) * g * g
        if group["amsgrad"]:
            v = np.maximum(state["max_exp_avg_sq"], v, out=state["max_exp_avg_sq"])
        denom = np.sqrt(v) / (1 - beta2 ** t) ** 0.5 + eps
        x -= lr / (1 - beta1 ** t) * m / denom


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter, 2019): x ← x·(1 − η·λ) before the Adam step.

    The decay does not pass through the adaptive scaling, so every weight shrinks at the same rate.
    """

    decoupled_weight_decay = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad)
