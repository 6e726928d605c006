"""The primitives table: every derivative rule of the engine, by family.

`PRIMITIVES` maps each primitive's name to its Function class; the class holds
the forward (NumPy), the VJP (Tensor ops) and the formulas side by side. The
composites (index.py, einsum.py, scan.py and parts of math.py and reduce.py)
are functions of those primitives with no backward code of their own.
"""
from ..function import PRIMITIVES
from .batched import outer_sum, shared_matmul
from .einsum import einsum
from .elementwise import (abs, add, cast, clip, div, exp, log, maximum, minimum, mul, neg, pow, relu,
                          sigmoid, sqrt, sub, tanh, where)
from .index import (chunk, diag, flip, gather, index_select, masked_fill, repeat, roll, scatter, scatter_add, sort,
                    split, tile, topk, tril, triu)
from .linalg import matmul
from .math import (acos, asin, atan, ceil, cos, cosh, erf, exp2, expm1, floor, floor_divide, isfinite, isinf, isnan,
                   lerp, log1p, log2, log10, logaddexp, reciprocal, remainder, round, rsqrt, sign, sin, sinh, tan,
                   trunc)
from .reduce import all, any, argmax, argmin, logsumexp, max, mean, min, norm, prod, std, sum, var
from .scan import cumprod, cumsum
from .shape import (broadcast_to, concatenate, contiguous, expand, flatten, getitem, index_add, pad, permute,
                    reshape, squeeze, stack, sum_to, swapaxes, transpose, unsqueeze)
from .window import fold, fold_wide, unfold, unfold_wide

__all__ = [
    "PRIMITIVES", "abs", "add", "cast", "clip", "div", "exp", "log", "maximum", "minimum", "mul", "neg", "pow",
    "relu", "sigmoid", "sqrt", "sub", "tanh", "where",
    "sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "log2", "log10", "log1p", "expm1", "exp2",
    "rsqrt", "reciprocal", "erf", "sign", "floor", "ceil", "round", "trunc", "remainder", "floor_divide",
    "logaddexp", "lerp", "isnan", "isinf", "isfinite",
    "matmul", "einsum", "sum", "mean", "max", "min", "var", "std", "prod", "logsumexp", "norm", "any", "all",
    "argmax", "argmin", "cumsum", "cumprod",
    "broadcast_to", "concatenate", "contiguous", "expand", "flatten", "getitem", "index_add", "pad", "permute",
    "reshape", "squeeze", "stack", "sum_to", "swapaxes", "transpose", "unsqueeze", "fold", "unfold",
    "fold_wide", "unfold_wide", "shared_matmul", "outer_sum",
    "flip", "roll", "repeat", "tile", "split", "chunk", "tril", "triu", "diag", "gather", "scatter", "scatter_add",
    "index_select", "masked_fill", "sort", "topk",
]

#: The functions whose result is a constant (bool or integer values, or a step no gradient can cross).
NO_GRADIENT = ("floor_divide", "isnan", "isinf", "isfinite", "any", "all", "argmax", "argmin")
