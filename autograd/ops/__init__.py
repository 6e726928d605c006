"""The primitives table: every derivative rule of the engine, by family.

`PRIMITIVES` maps each primitive's name to its Function class; the class holds
the forward (NumPy), the VJP (Tensor ops) and the formulas side by side.
"""
from ..function import PRIMITIVES
from .elementwise import (abs, add, cast, clip, div, exp, log, maximum, minimum, mul, neg, pow, relu,
                          sigmoid, sqrt, sub, tanh, where)
from .linalg import matmul
from .reduce import max, mean, min, sum, var
from .shape import (broadcast_to, concatenate, expand, flatten, getitem, index_add, pad, permute, reshape,
                    squeeze, stack, sum_to, swapaxes, transpose, unsqueeze)
from .window import fold, unfold

__all__ = [
    "PRIMITIVES", "abs", "add", "cast", "clip", "div", "exp", "log", "maximum", "minimum", "mul", "neg", "pow",
    "relu", "sigmoid", "sqrt", "sub", "tanh", "where", "matmul", "max", "mean", "min", "sum", "var",
    "broadcast_to", "concatenate", "expand", "flatten", "getitem", "index_add", "pad", "permute", "reshape",
    "squeeze", "stack", "sum_to", "swapaxes", "transpose", "unsqueeze", "fold", "unfold",
]
