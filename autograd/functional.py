"""Whole-function derivatives built on `grad`: jacobian, hessian, vjp, jvp."""
import numpy as np

from .engine import grad
from .tensor import Tensor


def _leaf(x):
    return Tensor._wrap(np.array(x.data)).requires_grad_()


def vjp(f, x, v):
    """(f(x), vᵀ·J): the vector-Jacobian product, one backward pass."""
    x = _leaf(x)
    y = f(x)
    g = grad(y, x, v, allow_unused=True)[0] if y.requires_grad else None
    return y.detach(), g if g is not None else Tensor._wrap(np.zeros(x.shape, x.dtype))


def jvp(f, x, v):
    """(f(x), J·v) by the double-VJP trick: J·v = ∂/∂u ⟨Jᵀ·u, v⟩ (uᵀJ is linear in u)."""
    x = _leaf(x)
    y = f(x)
    jv = None
    if y.requires_grad:
        u = Tensor._wrap(np.zeros(y.shape, y.dtype)).requires_grad_()
        gx, = grad(y, x, u, create_graph=True, allow_unused=True)
        if gx is not None and gx.requires_grad:
            jv, = grad(gx, u, v, allow_unused=True)
    return y.detach(), jv if jv is not None else Tensor._wrap(np.zeros(y.shape, y.dtype))


def jacobian(f, x):
    """∂f/∂x with shape f(x).shape + x.shape (one VJP per output element; zeros where f ignores x)."""
    leaf = _leaf(x)
    y = f(leaf)
    rows = np.zeros((y.size,) + x.shape, x.dtype)
    if y.requires_grad:
        for k in range(y.size):
            seed = np.zeros(y.size, y.dtype)
            seed[k] = 1
            g, = grad(y, leaf, Tensor._wrap(seed.reshape(y.shape)), retain_graph=True, allow_unused=True)
            if g is not None:
                rows[k] = g.data
    return Tensor._wrap(rows.reshape(y.shape + x.shape))


def hessian(f, x):
    """∂²f/∂x² for scalar f, shape x.shape + x.shape: the Jacobian of the gradient."""

    def gradient(z):
        y = f(z)
        if y.size != 1:
            raise ValueError(f"hessian: f must return a scalar, got shape {y.shape}")
        g = grad(y, z, create_graph=True, allow_unused=True)[0] if y.requires_grad else None
        return g if g is not None else Tensor._wrap(np.zeros(z.shape, z.dtype))

    return jacobian(gradient, x)
