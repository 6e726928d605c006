"""Numerical checks of hand-written VJPs, in float64.

gradcheck compares the analytic Jacobian (one VJP per output element) with
central differences, J[:, k] ≈ (f(x + ε·e_k) − f(x − ε·e_k)) / 2ε.
dot_product_check tests ⟨v, J·u⟩ = ⟨Jᵀ·v, u⟩ with random u, v: cheap on large shapes.
"""
import numpy as np

from .engine import grad
from .grad_mode import enable_grad, no_grad
from .tensor import Tensor


class GradcheckError(AssertionError):
    """A VJP disagrees with finite differences."""


def _prepare(inputs):
    inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
    out = []
    for x in inputs:
        if isinstance(x, Tensor) and x.requires_grad:
            if x.dtype != np.float64:
                raise TypeError(f"gradcheck: inputs must be float64 for reliable differences, got {x.dtype}")
        out.append(x)
    return out


def _outputs(fn, inputs):
    y = fn(*inputs)
    return [y] if isinstance(y, Tensor) else list(y)


def _numeric_jacobians(fn, inputs, eps):
    """For each differentiable input: an array (total output size, input size) of central differences."""
    jacobians = []
    for x in inputs:
        if not (isinstance(x, Tensor) and x.requires_grad):
            jacobians.append(None)
            continue
        columns = []
        for k in np.ndindex(x.shape):  # perturb x.data in place (any memory layout), restore afterwards
            original = x.data[k]
            x.data[k] = original + eps
            with no_grad():
                plus = np.concatenate([y.data.reshape(-1) for y in _outputs(fn, inputs)])
            x.data[k] = original - eps
            with no_grad():
                minus = np.concatenate([y.data.reshape(-1) for y in _outputs(fn, inputs)])
            x.data[k] = original
            columns.append((plus - minus) / (2 * eps))
        jacobians.append(np.stack(columns, axis=1) if columns else None)
    return jacobians


def _analytic_jacobians(fn, inputs):
    outputs = _outputs(fn, inputs)
    wrt = [x for x in inputs if isinstance(x, Tensor) and x.requires_grad]
    total = sum(y.size for y in outputs)
    rows = {id(x): np.zeros((total, x.size)) for x in wrt}
    row = 0
    for y in outputs:
        for k in range(y.size):
            seed = np.zeros(y.size, dtype=y.dtype)
            seed[k] = 1
            if y.requires_grad:
                grads = grad(y, wrt, Tensor._wrap(seed.reshape(y.shape)), retain_graph=True, allow_unused=True)
                for x, g in zip(wrt, grads):
                    if g is not None:
                        rows[id(x)][row] = g.data.reshape(-1)
            row += 1
    return [rows.get(id(x)) if isinstance(x, Tensor) and x.requires_grad else None for x in inputs]


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True):
    """True when fn's VJPs match central differences for every input that requires grad.

    A failure names the input index, the (output, input) element and both values.
    """
    inputs = _prepare(inputs)
    if not any(isinstance(x, Tensor) and x.requires_grad for x in inputs):
        raise ValueError("gradcheck: no input requires grad, so there is nothing to check")
    numeric = _numeric_jacobians(fn, inputs, eps)
    analytic = _analytic_jacobians(fn, inputs)
    for i, (num, ana) in enumerate(zip(numeric, analytic)):
        if num is None:
            continue
        bad = ~np.isclose(ana, num, atol=atol, rtol=rtol)
        if bad.any():
            r, c = np.argwhere(bad)[0]
            shape = inputs[i].shape
            element = np.unravel_index(c, shape) if shape else ()
            message = (
                f"gradcheck: Jacobian mismatch for input {i} (shape {shape}) at output element {r}, "
                f"input element {tuple(int(e) for e in element)}: analytic {ana[r, c]:.8g}, "
                f"numerical {num[r, c]:.8g} (max abs error {np.abs(ana - num).max():.3g})"
            )
            if raise_exception:
                raise GradcheckError(message)
            return False
    return True


def gradgradcheck(fn, inputs, grad_outputs=None, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True, seed=0):
    """gradcheck of the map x ↦ VJP(fn)(x, v): checks the VJPs of the VJPs (second derivatives)."""
    inputs = _prepare(inputs)
    wrt = [x for x in inputs if isinstance(x, Tensor) and x.requires_grad]
    if grad_outputs is None:
        rng = np.random.default_rng(seed)
        grad_outputs = [Tensor._wrap(rng.standard_normal(y.shape)) for y in _outputs(fn, inputs)]

    def first_derivatives(*xs):
        picked = [x for x in xs if isinstance(x, Tensor) and x.requires_grad]
        with enable_grad():  # the numerical pass runs under no_grad; the first derivatives need a graph
            outputs = _outputs(fn, xs)
            grads = grad(outputs, picked, grad_outputs, create_graph=True, allow_unused=True)
        return tuple(g if g is not None else Tensor._wrap(np.zeros(x.shape)) for g, x in zip(grads, picked))

    if not wrt:
        raise ValueError("gradgradcheck: no input requires grad")
    return gradcheck(first_derivatives, inputs, eps, atol, rtol, raise_exception)


def dot_product_check(fn, inputs, eps=1e-6, rtol=1e-5, seed=0):
    """⟨v, J·u⟩ = ⟨Jᵀ·v, u⟩ with J·u by central differences; returns (lhs, rhs)."""
    inputs = _prepare(inputs)
    rng = np.random.default_rng(seed)
    wrt = [x for x in inputs if isinstance(x, Tensor) and x.requires_grad]
    if not wrt:
        raise ValueError("dot_product_check: no input requires grad, so there is nothing to check")
    directions = [rng.standard_normal(x.shape) for x in wrt]
    y = fn(*inputs)
    v = rng.standard_normal(y.shape)
    grads = grad(y, wrt, Tensor._wrap(v), allow_unused=True)
    rhs = sum(float(np.sum(g.data * u)) for g, u in zip(grads, directions) if g is not None)
    saved = [x.data.copy() for x in wrt]
    values = []
    for sign in (1, -1):
        for x, u, original in zip(wrt, directions, saved):
            x.data[...] = original + sign * eps * u
        with no_grad():
            values.append(fn(*inputs).data)
    for x, original in zip(wrt, saved):
        x.data[...] = original
    lhs = float(np.sum(v * (values[0] - values[1]) / (2 * eps)))
    if not np.isclose(lhs, rhs, rtol=rtol, atol=1e-8):
        raise GradcheckError(f"dot_product_check: ⟨v, J·u⟩ = {lhs:.10g} but ⟨Jᵀ·v, u⟩ = {rhs:.10g}")
    return lhs, rhs
