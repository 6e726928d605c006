"""Shape primitives: they move or copy values, so each VJP moves the gradient back.

Adjoint pairs: `broadcast_to`/`sum_to`, `pad`/slice (`getitem`), `getitem`/`index_add`.
"""
import numpy as np

from ..function import Formula, Function, primitive, values
from ..tensor import _index_key, as_tensor


@primitive
class Reshape(Function):
    view = True
    formula = Formula(("x",), "reshape(x, shape)", r"\operatorname{reshape}(x)", ("reshape(ḡ, x.shape)",),
                      (r"\operatorname{reshape}(\bar{g}, \text{shape}(x))",))

    @staticmethod
    def forward(ctx, x, shape):
        ctx.in_shape = x.shape
        return x.reshape(shape)

    @staticmethod
    def backward(ctx, g):
        return reshape(g, ctx.in_shape)


@primitive
class Permute(Function):
    view = True
    formula = Formula(("x",), "permute(x, axes)", r"x^{\top}", ("permute(ḡ, inverse axes)",), (r"\bar{g}^{\top}",))

    @staticmethod
    def forward(ctx, x, axes):
        ctx.axes = axes
        return np.transpose(x, axes)

    @staticmethod
    def backward(ctx, g):
        return permute(g, tuple(np.argsort(ctx.axes)))


@primitive
class Contiguous(Function):
    view = True  # an array already in C order is returned as it is
    formula = Formula(("x",), "x, its values in C (row-major) order", r"x", ("ḡ",), (r"\bar{g}",))

    @staticmethod
    def forward(ctx, x):
        return np.ascontiguousarray(x)

    @staticmethod
    def backward(ctx, g):
        return g


@primitive
class BroadcastTo(Function):
    view = True
    name = "broadcast_to"
    formula = Formula(("x",), "broadcast x to shape", r"\operatorname{broadcast}(x)",
                      ("sum ḡ over the broadcast axes",), (r"\operatorname{sum\_to}(\bar{g}, \text{shape}(x))",))

    @staticmethod
    def forward(ctx, x, shape):
        ctx.in_shape = x.shape
        return np.broadcast_to(x, shape)

    @staticmethod
    def backward(ctx, g):
        return sum_to(g, ctx.in_shape)


def _sum_axes(shape, target):
    """The axes to sum so that `shape` becomes `target` (NumPy's broadcasting rule, reversed)."""
    lead = len(shape) - len(target)
    if lead < 0:
        raise ValueError(f"sum_to: cannot reduce shape {shape} to the larger rank of {target}")
    axes = list(range(lead))
    for i, n in enumerate(target):
        if shape[lead + i] != n:
            if n != 1:
                raise ValueError(f"sum_to: shape {shape} does not broadcast from {target}")
            axes.append(lead + i)
    return tuple(axes), lead


@primitive
class SumTo(Function):
    view = True
    name = "sum_to"
    formula = Formula(("x",), "sum x down to shape", r"\operatorname{sum\_to}(x)",
                      ("broadcast ḡ back to x.shape",), (r"\operatorname{broadcast}(\bar{g}, \text{shape}(x))",))

    @staticmethod
    def forward(ctx, x, shape):
        ctx.in_shape = x.shape
        axes, lead = _sum_axes(x.shape, shape)
        y = np.sum(x, axis=axes, keepdims=True) if axes else x
        return y.reshape(shape) if lead else y

    @staticmethod
    def backward(ctx, g):
        return broadcast_to(g, ctx.in_shape)


@primitive
class GetItem(Function):
    view = True
    formula = Formula(("x",), "x[index]", r"x_{[\text{index}]}", ("zeros with ḡ added at index",),
                      (r"\operatorname{index\_add}(\mathbf{0}, \text{index}, \bar{g})",))

    @staticmethod
    def forward(ctx, x, index):
        ctx.in_shape, ctx.index = x.shape, index
        return x[index]

    @staticmethod
    def backward(ctx, g):
        return index_add(g, ctx.index, ctx.in_shape)


def _is_basic(index):
    """True when the index only holds ints, slices, None and Ellipsis (no repeats possible)."""
    items = index if isinstance(index, tuple) else (index,)
    return all(isinstance(i, (int, np.integer, slice)) or i is None or i is Ellipsis for i in items)


@primitive
class IndexAdd(Function):
    name = "index_add"
    formula = Formula(("v",), "zeros(shape) with v added at index", r"\operatorname{index\_add}(v)",
                      ("ḡ[index]",), (r"\bar{g}_{[\text{index}]}",))

    @staticmethod
    def forward(ctx, v, index, shape):
        ctx.index = index
        out = np.zeros(shape, dtype=v.dtype)
        if _is_basic(index):
            out[index] = v
        else:  # integer arrays may repeat an index: add every occurrence
            np.add.at(out, index, v)
        return out

    @staticmethod
    def backward(ctx, g):
        return getitem(g, ctx.index)


@primitive
class Pad(Function):
    formula = Formula(("x",), "pad(x) with a constant", r"\operatorname{pad}(x)", ("ḡ sliced back to x",),
                      (r"\bar{g}_{[\text{inner}]}",))

    @staticmethod
    def forward(ctx, x, pad_width, value=0):
        ctx.inner = tuple(slice(before, before + n) for (before, _), n in zip(pad_width, x.shape))
        return np.pad(x, pad_width, mode="constant", constant_values=value)

    @staticmethod
    def backward(ctx, g):
        return getitem(g, ctx.inner)


@primitive
class Concatenate(Function):
    formula = Formula(("x₁…xₖ",), "[x₁, …, xₖ] along axis", r"[x_1, \dots, x_k]",
                      ("the slice of ḡ where xᵢ sits",), (r"\bar{g}_{[x_i]}",))

    @staticmethod
    def forward(ctx, *xs, axis=0):
        ctx.axis = axis
        ctx.bounds = np.cumsum([0] + [x.shape[axis] for x in xs])
        return np.concatenate(xs, axis=axis)

    @staticmethod
    def backward(ctx, g):
        lead = (slice(None),) * (ctx.axis % g.ndim)
        return tuple(getitem(g, lead + (slice(int(a), int(b)),)) for a, b in zip(ctx.bounds[:-1], ctx.bounds[1:]))


@primitive
class Stack(Function):
    formula = Formula(("x₁…xₖ",), "stack x₁…xₖ on a new axis", r"\operatorname{stack}(x_1, \dots, x_k)",
                      ("ḡ[…, i, …] for xᵢ",), (r"\bar{g}_{[i]}",))

    @staticmethod
    def forward(ctx, *xs, axis=0):
        ctx.axis = axis
        ctx.count = len(xs)
        return np.stack(xs, axis=axis)

    @staticmethod
    def backward(ctx, g):
        lead = (slice(None),) * (ctx.axis % g.ndim)
        return tuple(getitem(g, lead + (i,)) for i in range(ctx.count))


def _shape_arg(shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(shape)


def reshape(x, *shape):
    """Same values, new shape (one axis may be -1)."""
    shape = _shape_arg(shape)
    if x.shape == shape:
        return x
    known = int(np.prod([n for n in shape if n != -1]))
    free = shape.count(-1)
    if free > 1 or (free and (known == 0 or x.size % known)) or (not free and known != x.size):
        raise ValueError(f"reshape: cannot reshape a tensor of shape {x.shape} ({x.size} values) into {shape}")
    return Reshape.apply(x, shape=shape)


def contiguous(x):
    """The same values laid out in C (row-major) order: x itself when it already is, else a copy (PyTorch's
    `contiguous`). NumPy's elementwise loops keep an operand's memory order and run strided on operands in
    mixed orders."""
    if values(x).flags.c_contiguous:
        return x
    return Contiguous.apply(x)


def _axis(axis, ndim, op):
    """axis as a non-negative index, or an error naming the op and the rank."""
    if not -ndim <= axis < ndim:
        raise ValueError(f"{op}: axis {axis} is out of range for a tensor with {ndim} dimensions")
    return int(axis) % ndim


def permute(x, *axes):
    """Reorder axes: y[i₀, i₁, …] = x[i_axes…]."""
    axes = tuple(_axis(a, x.ndim, "permute") for a in _shape_arg(axes))
    if sorted(axes) != list(range(x.ndim)):
        raise ValueError(f"permute: {axes} is not a permutation of the {x.ndim} axes of shape {x.shape}")
    if axes == tuple(range(x.ndim)):
        return x
    return Permute.apply(x, axes=axes)


def transpose(x, *axes):
    """Two axes: swap them (PyTorch's transpose(dim0, dim1)); none: reverse all; a full order, as several ints
    or one tuple: permute by it (NumPy's transpose(*axes))."""
    if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
        return permute(x, *axes[0])
    if not axes:
        return permute(x, *reversed(range(x.ndim)))
    if len(axes) != 2:
        if len(axes) == x.ndim:
            return permute(x, *axes)
        raise ValueError(f"transpose: give two axes to swap, or none to reverse all, or an order of all {x.ndim} "
                         f"axes; got {axes}")
    order = list(range(x.ndim))
    axis0, axis1 = _axis(axes[0], x.ndim, "transpose"), _axis(axes[1], x.ndim, "transpose")
    order[axis0], order[axis1] = order[axis1], order[axis0]
    return permute(x, *order)


def swapaxes(x, axis0, axis1):
    """Swap two axes (NumPy's name for PyTorch's two-axis transpose)."""
    return transpose(x, axis0, axis1)


def broadcast_to(x, *shape):
    """Repeat x along new or size-1 axes (a view); its VJP sums those axes."""
    shape = _shape_arg(shape)
    if x.shape == shape:
        return x
    try:
        compatible = np.broadcast_shapes(x.shape, shape) == shape
    except ValueError:
        compatible = False
    if not compatible:
        raise ValueError(f"broadcast_to: cannot broadcast shape {x.shape} to {shape}")
    return BroadcastTo.apply(x, shape=shape)


def expand(x, *shape):
    """PyTorch's name for broadcast_to (-1 keeps a size)."""
    shape = _shape_arg(shape)
    lead = len(shape) - x.ndim
    shape = tuple(x.shape[i - lead] if n == -1 else n for i, n in enumerate(shape))
    return broadcast_to(x, shape)


def sum_to(x, shape):
    """Sum over the axes that broadcasting would have added: the adjoint of broadcast_to."""
    shape = tuple(shape)
    if x.shape == shape:
        return x
    _sum_axes(x.shape, shape)
    return SumTo.apply(x, shape=shape)


def getitem(x, index):
    """x[index]: ints, slices, steps, None, Ellipsis, integer arrays (repeats accumulate), boolean masks."""
    return GetItem.apply(x, index=_index_key(index))


def index_add(v, index, shape):
    """zeros(shape) with v added at index (repeated indices add up): the adjoint of getitem."""
    return IndexAdd.apply(v, index=_index_key(index), shape=tuple(shape))


def pad(x, pad_width, value=0.0):
    """Constant padding, NumPy style: pad_width is ((before, after), …) per axis, or an int for all."""
    if isinstance(pad_width, (int, np.integer)):
        pad_width = ((int(pad_width), int(pad_width)),) * x.ndim
    pad_width = tuple((int(b), int(a)) for b, a in pad_width)
    if len(pad_width) != x.ndim:
        raise ValueError(f"pad: {len(pad_width)} (before, after) pairs given for a tensor of shape {x.shape}")
    if any(b < 0 or a < 0 for b, a in pad_width):
        raise ValueError(f"pad: widths must be non-negative, got {pad_width}")
    if not any(b or a for b, a in pad_width):
        return x
    return Pad.apply(x, pad_width=pad_width, value=value)


def concatenate(tensors, axis=0):
    """Join tensors along an existing axis."""
    tensors = [as_tensor(t) for t in tensors]
    if tensors and tensors[0].ndim == 0:
        raise ValueError("concatenate: 0-d tensors have no axis to join along; use stack")
    _check_same(tensors, axis, "concatenate", skip_axis=True)
    axis = _axis(axis, tensors[0].ndim, "concatenate")
    return Concatenate.apply(*tensors, axis=axis)


def stack(tensors, axis=0):
    """Join same-shaped tensors along a new axis."""
    tensors = [as_tensor(t) for t in tensors]
    _check_same(tensors, axis, "stack", skip_axis=False)
    axis = _axis(axis, tensors[0].ndim + 1, "stack")
    return Stack.apply(*tensors, axis=axis)


def _check_same(tensors, axis, op, skip_axis):
    if not tensors:
        raise ValueError(f"{op}: expected a non-empty list of tensors")
    first = tensors[0].shape
    for i, t in enumerate(tensors[1:], 1):
        a, b = list(first), list(t.shape)
        if skip_axis and len(a) == len(b) and len(a) > 0:
            a.pop(axis % len(a))
            b.pop(axis % len(b))
        if a != b:
            raise ValueError(f"{op}: tensor {i} has shape {t.shape}, expected it to match {first}"
                             + (" except along the joined axis" if skip_axis else ""))


def squeeze(x, axis=None):
    """Drop size-1 axes (all, or those of the given ones that have size 1; others stay, like PyTorch): a reshape.
    A 0-d tensor takes axis 0 or −1."""
    if axis is None:
        axes = {i for i, n in enumerate(x.shape) if n == 1}
    else:
        given = (axis,) if isinstance(axis, (int, np.integer)) else axis
        axes = {_axis(a, x.ndim or 1, "squeeze") for a in given}
    return reshape(x, tuple(n for i, n in enumerate(x.shape) if not (i in axes and n == 1)))


def unsqueeze(x, axis):
    """Insert a size-1 axis at `axis`: a reshape."""
    axis = _axis(axis, x.ndim + 1, "unsqueeze")
    return reshape(x, x.shape[:axis] + (1,) + x.shape[axis:])


def flatten(x, start_dim=0, end_dim=-1):
    """Merge axes start_dim…end_dim into one: a reshape."""
    if x.ndim == 0:
        return reshape(x, (1,))
    start, end = _axis(start_dim, x.ndim, "flatten"), _axis(end_dim, x.ndim, "flatten")
    merged = int(np.prod(x.shape[start:end + 1]))
    return reshape(x, x.shape[:start] + (merged,) + x.shape[end + 1:])
