"""Moving and picking values, composed from the shape primitives: no backward code here.

Every function below is a `getitem` (slices or integer arrays), an `index_add` (its adjoint), a `concatenate`,
a `broadcast_to` or a `where`, so its gradient moves ḡ back by the chain rule:

    flip, roll, split, chunk, diag (2-d → 1-d), gather, index_select, sort, topk   getitem
    diag (1-d → 2-d), scatter_add, scatter                                       index_add
    repeat, tile                                                                 reshape, broadcast_to
    tril, triu, masked_fill                                                      where

Indices (gather, scatter, index_select) are integer tensors, arrays or lists; they get no gradient.
"""
from collections import namedtuple

import numpy as np

from ..grad_mode import scoped
from ..tensor import Tensor, as_tensor
from .elementwise import where
from .shape import _axis, broadcast_to, concatenate, getitem, index_add, reshape

#: What sort and topk return, like PyTorch's: the values (differentiable) and their int64 indices.
ValuesIndices = namedtuple("ValuesIndices", ["values", "indices"])


def _dims(dims, ndim, op):
    """None → every axis; an int or a sequence → a tuple of non-negative axes."""
    if dims is None:
        return tuple(range(ndim))
    given = (dims,) if isinstance(dims, (int, np.integer)) else tuple(dims)
    return tuple(_axis(d, ndim, op) for d in given)


def _indices(index, op):
    """An index argument as an integer array."""
    array = np.asarray(index.data if isinstance(index, Tensor) else index)
    if array.dtype.kind not in "iu":
        raise TypeError(f"{op}: index must hold integers, got dtype {array.dtype}")
    return array


def flip(x, dims=None):
    """Reverse the order along `dims` (all axes for None): x[..., ::-1, ...], a getitem."""
    axes = _dims(dims, x.ndim, "flip")
    return getitem(x, tuple(slice(None, None, -1) if i in axes else slice(None) for i in range(x.ndim)))


@scoped("roll")
def roll(x, shifts, dims=None):
    """Shift values along `dims` by `shifts`, wrapping around (PyTorch's roll; dims=None rolls the flattened tensor):
    the two slices x[−s:], x[:−s] concatenated."""
    if dims is None:
        return reshape(roll(reshape(x, (-1,)), shifts, 0), x.shape)
    shifts = (shifts,) if isinstance(shifts, (int, np.integer)) else tuple(shifts)
    axes = _dims(dims, x.ndim, "roll")
    if len(shifts) != len(axes):
        raise ValueError(f"roll: expected one shift per dim, got shifts {shifts} for dims {dims}")
    for shift, axis in zip(shifts, axes):
        n = x.shape[axis]
        if n and shift % n:
            cut, lead = n - shift % n, (slice(None),) * axis
            x = concatenate([getitem(x, lead + (slice(cut, None),)), getitem(x, lead + (slice(0, cut),))], axis)
    return x


def _sizes(sizes):
    return tuple(sizes[0]) if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)) else tuple(sizes)


@scoped("repeat")
def repeat(x, *sizes):
    """Tile x sizes[i] times along axis i (PyTorch's Tensor.repeat; extra leading sizes add axes):
    reshape to (1, n₀, 1, n₁, …), broadcast to (r₀, n₀, r₁, n₁, …), merge each pair."""
    sizes = _sizes(sizes)
    if len(sizes) < x.ndim:
        raise ValueError(f"repeat: expected at least {x.ndim} sizes for a tensor of shape {x.shape}, got {sizes}")
    shape = (1,) * (len(sizes) - x.ndim) + x.shape
    paired = reshape(x, tuple(v for n in shape for v in (1, n)))
    spread = broadcast_to(paired, tuple(v for r, n in zip(sizes, shape) for v in (r, n)))
    return reshape(spread, tuple(r * n for r, n in zip(sizes, shape)))


def tile(x, reps):
    """NumPy's tile: repeat, where fewer reps than axes repeat the trailing axes."""
    reps = (reps,) if isinstance(reps, (int, np.integer)) else tuple(reps)
    return repeat(x, (1,) * (x.ndim - len(reps)) + reps)


def split(x, split_size_or_sections, dim=0):
    """Slices along `dim`: pieces of split_size (the last may be smaller) or of the listed sizes (PyTorch's split)."""
    axis = _axis(dim, x.ndim, "split")
    n = x.shape[axis]
    if isinstance(split_size_or_sections, (int, np.integer)):
        if split_size_or_sections < 1:
            raise ValueError(f"split: split_size must be a positive int, got {split_size_or_sections}")
        sizes = [min(split_size_or_sections, n - start) for start in range(0, n, split_size_or_sections)]
    else:
        sizes = list(split_size_or_sections)
        if sum(sizes) != n:
            raise ValueError(f"split: sections {sizes} add up to {sum(sizes)}, dim {dim} has size {n}")
    starts = np.cumsum([0] + sizes)
    lead = (slice(None),) * axis
    return tuple(getitem(x, lead + (slice(int(a), int(b)),)) for a, b in zip(starts[:-1], starts[1:]))


def chunk(x, chunks, dim=0):
    """`chunks` slices of equal size ⌈n / chunks⌉ along `dim` (fewer when n runs out, like PyTorch)."""
    if chunks < 1:
        raise ValueError(f"chunk: chunks must be a positive int, got {chunks}")
    n = x.shape[_axis(dim, x.ndim, "chunk")]
    return split(x, max(-(-n // chunks), 1), dim)


def _triangle(x, keep, op):
    if x.ndim < 2:
        raise ValueError(f"{op}: expected a matrix or a batch of matrices, got shape {x.shape}")
    return where(keep(*x.shape[-2:]), x, 0.0)


def tril(x, diagonal=0):
    """The lower triangle of the last two axes: x[i, j] where j − i ≤ diagonal, else 0."""
    return _triangle(x, lambda n, m: np.tri(n, m, diagonal, dtype=bool), "tril")


def triu(x, diagonal=0):
    """The upper triangle of the last two axes: x[i, j] where j − i ≥ diagonal, else 0."""
    return _triangle(x, lambda n, m: ~np.tri(n, m, diagonal - 1, dtype=bool), "triu")


def diag(x, diagonal=0):
    """PyTorch's diag: a vector (n,) → the matrix with it on diagonal `diagonal` (an index_add); a matrix → that
    diagonal as a vector (a getitem)."""
    row, col = max(-diagonal, 0), max(diagonal, 0)  # where the diagonal starts
    if x.ndim == 1:
        n = x.shape[0] + abs(diagonal)
        k = np.arange(x.shape[0])
        return index_add(x, (k + row, k + col), (n, n))
    if x.ndim == 2:
        k = np.arange(max(min(x.shape[0] - row, x.shape[1] - col), 0))
        return getitem(x, (k + row, k + col))
    raise ValueError(f"diag: expected a vector or a matrix, got shape {x.shape}")


def _along(x, dim, index, op):
    """The integer index that picks x[i₀, …, index[i₀, …], …] at axis `dim` for every position of `index`
    (the gather/scatter addressing), checked against x."""
    axis = _axis(dim, x.ndim, op)
    if index.ndim != x.ndim:
        raise ValueError(f"{op}: index has {index.ndim} dimensions, input has {x.ndim} (shape {x.shape})")
    if any(i != axis and k > n for i, (k, n) in enumerate(zip(index.shape, x.shape))):
        raise ValueError(f"{op}: index of shape {index.shape} is larger than input {x.shape} outside dim {dim}")
    outside = (index < 0) | (index >= x.shape[axis])
    if outside.any():
        raise IndexError(f"{op}: index {index[outside].flat[0]} is out of range for dim {dim} of size {x.shape[axis]}")
    grid = list(np.indices(index.shape, sparse=True))
    grid[axis] = index
    return tuple(grid)


def gather(x, dim, index):
    """out[i][j] = x[index[i][j]][j] for dim 0, x[i][index[i][j]] for dim 1 (any rank): a getitem with integer
    arrays, whose VJP adds ḡ back where each value came from (scatter_add)."""
    index = _indices(index, "gather")
    return getitem(x, _along(x, dim, index, "gather"))


def _source(src, index, like, op):
    """scatter's source: a tensor cut to index's shape, or a number filled to it."""
    if not isinstance(src, Tensor):
        return np.full(index.shape, src, like.dtype)
    if any(k > n for k, n in zip(index.shape, src.shape)) or src.ndim != index.ndim:
        raise ValueError(f"{op}: src of shape {src.shape} is smaller than index {index.shape}")
    return src if src.shape == index.shape else getitem(src, tuple(slice(0, k) for k in index.shape))


@scoped("scatter_add")
def scatter_add(x, dim, index, src):
    """x with src[i][j] added at out[index[i][j]][j] (dim 0; likewise for any dim); repeated indices add up.
    x + index_add(src): gradients ḡ for x and ḡ gathered at index for src."""
    index = _indices(index, "scatter_add")
    places = _along(x, dim, index, "scatter_add")
    return x + index_add(_source(src, index, x, "scatter_add"), places, x.shape)


@scoped("scatter")
def scatter(x, dim, index, src):
    """x with out[index[i][j]][j] = src[i][j] (dim 0; likewise for any dim); src may be a number. x's gradient is
    0 at the written places, src's is ḡ gathered at index. Repeated indices add their values up (PyTorch leaves
    which one wins undefined)."""
    index = _indices(index, "scatter")
    places = _along(x, dim, index, "scatter")
    written = np.zeros(x.shape, bool)
    written[places] = True
    return where(written, 0.0, x) + index_add(_source(src, index, x, "scatter"), places, x.shape)


def index_select(x, dim, index):
    """The entries index[0], index[1], … of axis `dim` (repeats allowed): x[:, …, index], a getitem."""
    index = _indices(index, "index_select")
    if index.ndim != 1:
        raise ValueError(f"index_select: expected a 1-d index, got shape {index.shape}")
    axis = _axis(dim, x.ndim, "index_select")
    return getitem(x, (slice(None),) * axis + (index,))


def masked_fill(x, mask, value):
    """value where mask is True, else x (mask broadcasts; value is a number or a 0-d tensor): a where."""
    mask = np.asarray(mask.data if isinstance(mask, Tensor) else mask)
    if mask.dtype != bool:
        raise TypeError(f"masked_fill: expected a bool mask, got dtype {mask.dtype}")
    return where(mask, value, x)


def sort(x, dim=-1, descending=False):
    """Values in order along `dim` and where they came from, ties in their original order (stable), NaN last
    (first when descending): (values, indices). The values are gather(x, dim, indices)."""
    axis = _axis(dim, x.ndim, "sort")
    if descending:  # a stable descending order: the ascending order of the reversed axis, reversed back
        n = x.shape[axis]
        indices = n - 1 - np.flip(np.argsort(np.flip(x.data, axis), axis, kind="stable"), axis)
    else:
        indices = np.argsort(x.data, axis, kind="stable")
    return ValuesIndices(gather(x, axis, indices), as_tensor(indices.astype(np.int64, copy=False)))


def topk(x, k, dim=-1, largest=True):
    """The k largest (or smallest) values along `dim`, in order, and their indices: (values, indices)."""
    axis = _axis(dim, x.ndim, "topk")
    if not 0 <= k <= x.shape[axis]:
        raise ValueError(f"topk: k={k} is out of range for dim {dim} of size {x.shape[axis]}")
    values, indices = sort(x, axis, descending=largest)
    first = (slice(None),) * axis + (slice(0, k),)
    return ValuesIndices(getitem(values, first), as_tensor(indices.data[first]))
