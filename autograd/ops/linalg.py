"""Matrix product (1-d, 2-d and batched with broadcasting, NumPy's `matmul` rules)."""
import numpy as np

from ..function import Formula, Function, primitive, values
from .shape import reshape, swapaxes, sum_to


@primitive
class MatMul(Function):
    formula = Formula(("A", "B"), "A·B", r"A B", ("ḡ·Bᵀ", "Aᵀ·ḡ"), (r"\bar{g} B^{\top}", r"A^{\top} \bar{g}"))

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return np.matmul(a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        # treat vectors as matrices: a (k,) is a row (1, k), b (k,) a column (k, 1)
        a2 = reshape(a, (1, a.shape[0])) if a.ndim == 1 else a
        b2 = reshape(b, (b.shape[0], 1)) if b.ndim == 1 else b
        g2 = reshape(g, np.broadcast_shapes(a2.shape[:-2], b2.shape[:-2]) + (a2.shape[-2], b2.shape[-1]))
        ga = reshape(sum_to(g2 @ swapaxes(b2, -1, -2), a2.shape), a.shape) if need_a else None
        gb = reshape(sum_to(_at_g(a2, g2, like=b2), b2.shape), b.shape) if need_b else None
        return ga, gb


def _at_g(a, g, like):
    """Aᵀ·ḡ, laid out like B: for a transposed matrix B = Wᵀ (as in x·Wᵀ) it is computed as (ḡᵀ·A)ᵀ,
    so the transpose's own VJP hands W a C-contiguous gradient instead of a strided copy."""
    if like.ndim == 2 and g.ndim == 2 and values(like).flags.f_contiguous and not values(like).flags.c_contiguous:
        return swapaxes(swapaxes(g, -1, -2) @ a, -1, -2)
    return swapaxes(a, -1, -2) @ g


def matmul(a, b):
    """a @ b. Vectors act as rows (left) or columns (right); leading axes broadcast."""
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul: both operands need at least one dimension, got shapes {a.shape} and {b.shape}")
    ka = a.shape[-1]
    kb = b.shape[0] if b.ndim == 1 else b.shape[-2]
    if ka != kb:
        raise ValueError(f"matmul: shapes {a.shape} and {b.shape} do not align ({ka} ≠ {kb})")
    return MatMul.apply(a, b)
