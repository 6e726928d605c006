"""Default floating dtype (float32 like PyTorch; float64 for gradcheck) and dtype checks."""
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
