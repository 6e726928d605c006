"""Training helpers: a model summary table, gradient clipping, weight penalties and max-norm constraints."""
import numpy as np

from autograd.creation import from_numpy, zeros
from autograd.grad_mode import no_grad
from autograd.tensor import Tensor


def _tensors(parameters):
    """A list from a Tensor, a Module (its parameters) or an iterable of Tensors."""
    from .modules.module import Module

    if isinstance(parameters, Tensor):
        return [parameters]
    if isinstance(parameters, Module):
        return list(parameters.parameters())
    return list(parameters)


# -- summary --------------------------------------------------------------------------------------
class Summary:
    """The result of `summary`: `str(s)` is the table; rows are (name, type, output shape, #params)."""

    def __init__(self, title, rows, total_params, trainable_params, param_bytes, input_shape, output_shape):
        self.title = title
        self.rows = rows
        self.total_params = total_params
        self.trainable_params = trainable_params
        self.param_bytes = param_bytes
        self.input_shape = input_shape
        self.output_shape = output_shape

    def __str__(self):
        header = ("Layer (type)", "Output shape", "Param #")
        body = [(f"{'  ' * depth}{name} ({kind})", shape, params) for depth, name, kind, shape, params in self.rows]
        widths = [max(len(r[i]) for r in [header] + body) for i in range(3)]
        width = max(sum(widths) + 6, len(self.title))

        def line(cells):
            return f"{cells[0]:<{widths[0]}}   {cells[1]:<{widths[1]}}   {cells[2]:>{widths[2]}}"

        out = [self.title, "=" * width, line(header), "-" * width]
        out += [line(r) for r in body]
        out += [
            "=" * width,
            f"Input shape: {self.input_shape}    Output shape: {self.output_shape}",
            f"Total params: {self.total_params:,}",
            f"Trainable params: {self.trainable_params:,}",
            f"Non-trainable params: {self.total_params - self.trainable_params:,}",
            f"Params size: {self.param_bytes / 1024:.1f} KiB",
            "=" * width,
        ]
        return "\n".join(out)

    __repr__ = __str__


def _shape_of(out):
    if isinstance(out, Tensor):
        return tuple(out.shape)
    if isinstance(out, (tuple, list)):
        return [_shape_of(o) for o in out]
    return type(out).__name__


def summary(model, input_shape, dtype=None):
    """Run one forward pass of zeros of `input_shape` (batch dimension included) and tabulate each submodule.

    Rows follow the call order, indented by depth; "Param #" counts the parameters a module owns
    directly ("--" for containers), so the column adds up to the total. The model's parameters,
    buffers and train/eval modes are left as they were (it runs in eval mode under no_grad).
    """
    if dtype is None:
        first = next(iter(model.parameters()), None)
        dtype = first.dtype if first is not None else None
    names = {id(m): name for name, m in model.named_modules()}
    rows = {}
    handles = []

    def before(module, inputs):
        rows.setdefault(id(module), [names[id(module)], module, None])

    def after(module, inputs, output):
        rows[id(module)][2] = _shape_of(output)

    for name, m in model.named_modules():
        if m is not model:
            handles.append(m.register_forward_pre_hook(before))
            handles.append(m.register_forward_hook(after))
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        with no_grad():
            output = model(zeros(*input_shape, dtype=dtype))
    finally:
        for h in handles:
            h.remove()
        for m, mode in modes:
            object.__setattr__(m, "training", mode)
    table = []
    for name, m, shape in rows.values():
        own = sum(p.size for p in m.parameters(recurse=False))
        has_children = next(iter(m.children()), None) is not None
        depth = name.count(".")
        table.append((depth, name, type(m).__name__, str(shape), "--" if has_children and not own else f"{own:,}"))
    params = list(model.parameters())
    return Summary(type(model).__name__, table, sum(p.size for p in params),
                   sum(p.size for p in params if p.requires_grad), sum(p.data.nbytes for p in params),
                   tuple(input_shape), _shape_of(output))


# -- gradient clipping ------------------------------------------------------------------------------
def _grad_norm(grads, norm_type):
    if norm_type == float("inf"):
        return max((float(np.max(np.abs(g))) for g in grads if g.size), default=0.0)
    return float(sum(float(np.sum(np.abs(g) ** norm_type)) for g in grads) ** (1.0 / norm_type))


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False):
    """Scale all gradients together so that their joint norm ‖(g₁, …, gₙ)‖_p is at most max_norm.

    Returns the norm before clipping (a 0-d float64 Tensor). The coefficient is max_norm / (norm + 1e-6).
    """
    params = [p for p in _tensors(parameters) if p.grad is not None]
    if not params:
        return Tensor(np.array(0.0))
    norm_type = float(norm_type)
    total = _grad_norm([p.grad.data for p in params], norm_type)
    if error_if_nonfinite and not np.isfinite(total):
        raise RuntimeError(f"clip_grad_norm_: the total gradient norm is {total}; set error_if_nonfinite=False "
                           "to clip anyway")
    coef = max_norm / (total + 1e-6)
    if coef < 1:
        for p in params:  # new arrays: a gradient Tensor may be shared between leaves
            p.grad = from_numpy((p.grad.data * coef).astype(p.grad.dtype, copy=False))
    return Tensor(np.array(total))


def clip_grad_value_(parameters, clip_value):
    """Clamp every gradient element to [−clip_value, clip_value]."""
    for p in _tensors(parameters):
        if p.grad is not None:
            p.grad = from_numpy(np.clip(p.grad.data, -clip_value, clip_value))


# -- penalties (differentiable) -------------------------------------------------------------------------
def _total(terms):
    """The sum of scalar Tensors, a 0-d zero of the default dtype when there are none."""
    return sum(terms[1:], terms[0]) if terms else Tensor(0.0)


def l1_penalty(parameters):
    """Σ |w| over all given tensors (a Module means its parameters): add λ·l1_penalty(...) to the loss."""
    return _total([p.abs().sum() for p in _tensors(parameters)])


def l2_penalty(parameters):
    """Σ w² over all given tensors (no ½): its gradient is 2w, so λ·l2_penalty is weight decay with rate 2λ."""
    return _total([(p * p).sum() for p in _tensors(parameters)])


def elastic_net_penalty(parameters, l1, l2):
    """l1·Σ|w| + l2·Σw², the elastic-net penalty."""
    params = _tensors(parameters)
    return l1 * l1_penalty(params) + l2 * l2_penalty(params)


# -- max-norm constraint ----------------------------------------------------------------------------------
def clip_weight_norm_(parameters, max_norm, axis=None):
    """Max-norm constraint: rescale each slice w whose ‖w‖₂ over `axis` exceeds max_norm to norm max_norm.

    axis=None means every axis but the first, i.e. each output unit's incoming weights (a row of a
    Linear weight, a filter of a Conv2d weight); a 1-D tensor is treated as one vector. Call it after
    each optimizer step. Returns the largest norm found before clipping.
    """
    largest = 0.0
    for p in _tensors(parameters):
        a = p.data
        axes = (tuple(range(1, a.ndim)) if a.ndim > 1 else None) if axis is None else axis
        norms = np.sqrt(np.sum(a * a, axis=axes, keepdims=True))
        largest = max(largest, float(np.max(norms)) if norms.size else 0.0)
        scale = np.minimum(1.0, max_norm / np.maximum(norms, 1e-12))
        with no_grad(), p.in_place("clip_weight_norm_") as array:
            array *= scale.astype(a.dtype)
    return largest
