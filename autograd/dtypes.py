"""Default floating dtype (float32 like PyTorch; float64 for gradcheck), dtype checks, and the promotion rule."""
import numpy as np

_default = {"float": np.dtype(np.float32)}


def set_default_dtype(dtype):
    """Set the dtype that Python floats and the factory functions produce (float32 or float64)."""
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"set_default_dtype: expected a floating dtype, got {dtype}")
    _default["float"] = dtype


def get_default_dtype():
    """The current default floating dtype."""
    return _default["float"]


def is_float(dtype):
    return np.dtype(dtype).kind == "f"


def lowest(dtype):
    """The smallest value of dtype: −∞ for floats, the most negative integer otherwise (max pooling pads with it)."""
    dtype = np.dtype(dtype)
    return -np.inf if dtype.kind == "f" else np.iinfo(dtype).min


_KIND_RANK = {"b": 0, "u": 1, "i": 1, "f": 2, "c": 3}
_INT64 = np.dtype(np.int64)
_BOOL = np.dtype(bool)


def _promote(a, b):
    """Two dtypes of one group: NumPy's rule within a kind (int8, int32 → int32), else the higher kind's dtype
    (int64, float32 → float32, where NumPy would say float64)."""
    if a is None:
        return b
    rank_a, rank_b = _KIND_RANK[a.kind], _KIND_RANK[b.kind]
    if rank_a == rank_b:
        return np.promote_types(a, b)
    return a if rank_a > rank_b else b


def result_type(*operands):
    """The dtype of an operation on `operands` (Tensors, arrays, Python numbers): PyTorch's promotion rule.

    Kinds rank bool < integer < float. The operands fall into three groups, in priority order: tensors
    with axes, 0-d tensors, Python numbers (a float counts as the default float dtype, an int as int64).
    The result is the first group's promoted dtype, unless a later group holds a higher kind: then that
    group's dtype. So numbers and 0-d tensors never widen a kind they share with a tensor with axes:

        float32 (3,) + 0.5 → float32          float32 (3,) + float64 () → float32
        int32 (3,) + 0.5 → default float      int32 (3,) + float32 () → float32
        int64 () + 0.5 → default float        float32 (3,) + float64 (3,) → float64
    """
    groups = [None, None, None]
    for x in operands:
        if isinstance(x, bool):
            group, dtype = 2, _BOOL
        elif isinstance(x, int):
            group, dtype = 2, _INT64
        elif isinstance(x, float):
            group, dtype = 2, _default["float"]
        else:  # a Tensor, an ndarray or a NumPy scalar
            group, dtype = (0 if x.ndim else 1), np.dtype(x.dtype)
        groups[group] = _promote(groups[group], dtype)
    result = None
    for dtype in groups:
        if dtype is not None and (result is None or _KIND_RANK[dtype.kind] > _KIND_RANK[result.kind]):
            result = dtype
    if result is None:
        raise TypeError("result_type: expected at least one operand")
    return result
