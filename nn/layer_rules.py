"""The layer rules of `nn.functional`'s composites: each gradient in the form a lecture states it.

Every rule pairs the lecture's formula (text and LaTeX, with a gloss) with a NumPy function that
computes it from the call's inputs, its output Y and the upstream gradient ḡ = ∂L/∂Y. The composites
carry them with `@layer_rule(...)`; the engine never runs these functions: it differentiates the
composites primitive by primitive, and `autograd.layer_rules.verify` (used by `explain(level="layer")`,
by collapsed pictures and by tests/nn/test_layer_rules.py) checks that both give the same numbers.
"""
import numpy as np

from autograd.layer_rules import LayerRule
from autograd.ops.window import ints


def _spatial(args, n, kernel):
    """(stride, dilation, ((before, after) per axis)) of a convolution, read like F.conv2d reads them."""
    from .functional import _conv_padding  # nn.functional's composites use these rules: imported when first needed

    stride = ints(args["stride"], n, "stride", "layer rule", 1)
    dilation = ints(args["dilation"], n, "dilation", "layer rule", 1)
    return stride, dilation, _conv_padding(args["padding"], kernel, stride, dilation, "layer rule")


def _window(array, offset, stride, dilation, out):
    """The (N, C, OH, OW) values that kernel position `offset` meets over all output positions."""
    return array[(slice(None), slice(None)) + tuple(
        slice(o * d, o * d + s * (size - 1) + 1, s) for o, s, d, size in zip(offset, stride, dilation, out))]


def _conv_gradients(args, y, g):
    """∂L/∂W = corr(X, ḡ), ∂L/∂X = conv_full(ḡ, rot180 W), ∂L/∂b = Σ ḡ, per group (1, 2 or 3 spatial axes).

    corr: ∂L/∂W[k, c, i, j] = Σ_{n,p,q} ḡ[n, k, p, q] · X̃[n, c, p·s + i·d, q·s + j·d] (X̃ zero-padded).
    conv_full: spread ḡ out by the stride (s − 1 zeros between entries), pad it by d·(k − 1) on every side,
    cross-correlate it with W rotated by 180° (input and output channels swapped), then crop the padding.
    """
    x, w = args["x"], args["w"]
    stride, dilation, pads = _spatial(args, x.ndim - 2, w.shape[2:])
    padded = np.pad(x, ((0, 0), (0, 0)) + pads)
    groups = args["groups"]
    K, Cg = w.shape[:2]
    Kg = K // groups
    gw, gpadded = np.zeros_like(w), np.zeros_like(padded)
    for group in range(groups):
        ks, cs = slice(group * Kg, (group + 1) * Kg), slice(group * Cg, (group + 1) * Cg)
        gw[ks] = _correlate_with_gradient(padded[:, cs], g[:, ks], w.shape[2:], stride, dilation)
        full = _full_convolution(g[:, ks], w[ks], stride, dilation)
        gpadded[(slice(None), cs) + tuple(slice(0, n) for n in full.shape[2:])] = full  # what no window reaches: 0
    gx = gpadded[(slice(None), slice(None)) + tuple(slice(before, before + n)
                                                    for (before, _), n in zip(pads, x.shape[2:]))]
    out = {"x": gx, "w": gw}
    if args["b"] is not None:
        out["b"] = g.sum(axis=(0,) + tuple(range(2, g.ndim)))
    return out


def _correlate_with_gradient(padded, g, kernel, stride, dilation):
    """corr(X̃, ḡ): for each kernel position, the input values it met times ḡ, summed over n and the positions."""
    out = tuple(g.shape[2:])
    gw = np.zeros((g.shape[1], padded.shape[1]) + tuple(kernel))
    for offset in np.ndindex(*kernel):
        window = _window(padded, offset, stride, dilation, out)
        gw[(slice(None), slice(None)) + offset] = np.einsum(
            "nkl,ncl->kc", g.reshape(g.shape[:2] + (-1,)), window.reshape(window.shape[:2] + (-1,)))
    return gw


def _full_convolution(g, w, stride, dilation):
    """conv_full(ḡ, rot180 W): ḡ spread by the stride and padded by d·(k − 1), cross-correlated with the
    kernel rotated by 180°. Covers the part of the padded input that some window reaches."""
    spread = np.zeros(g.shape[:2] + tuple(s * (n - 1) + 1 for s, n in zip(stride, g.shape[2:])))
    spread[(slice(None), slice(None)) + tuple(slice(None, None, s) for s in stride)] = g
    reach = [d * (k - 1) for k, d in zip(w.shape[2:], dilation)]
    full = np.pad(spread, ((0, 0), (0, 0)) + tuple((r, r) for r in reach))
    rotated = w[(slice(None), slice(None)) + (slice(None, None, -1),) * (w.ndim - 2)]
    size = tuple(s + r for s, r in zip(spread.shape[2:], reach))
    gx = np.zeros((g.shape[0], w.shape[1]) + size)
    for offset in np.ndindex(*w.shape[2:]):
        gx += np.einsum("nk...,kc->nc...", _window(full, offset, (1,) * len(size), dilation, size),
                        rotated[(slice(None), slice(None)) + offset])
    return gx


def _one_example_too(gradients, n):
    """A rule written for a batch x (N, C, *S) with n spatial axes that also takes one example x (C, *S), as its
    composite does (`nn._checks.takes_unbatched`): the example is computed as the batch of one."""
    def run(args, y, g):
        if args["x"].ndim == n + 2:
            return gradients(args, y, g)
        grads = gradients({**args, "x": args["x"][None]}, y[None], g[None])
        return {**grads, "x": grads["x"][0]}
    return run


def _conv_rule(n, positions):
    """conv1d/2d/3d's rule; `positions` names the batch and output indices summed over for ∂L/∂b ("n,p,q")."""
    return LayerRule(
        f"conv{n}d", {"x": "X", "w": "W", "b": "b"},
        ("Y = corr(X, W) + b, the cross-correlation of the input with each filter", r"Y = X \star W + b"),
        {"w": ("∂L/∂W = corr(X, ḡ)", r"\frac{\partial L}{\partial W} = X \star \bar{g}",
               "the input cross-correlated with ḡ"),
         "x": ("∂L/∂X = conv_full(ḡ, rot180 W)",
               r"\frac{\partial L}{\partial X} = \bar{g} \ast_{\mathrm{full}} \operatorname{rot}_{180^\circ}(W)",
               "the full convolution of ḡ (spread out by the stride) with the kernel rotated by 180°"),
         "b": ("∂L/∂b = Σ ḡ",
               rf"\frac{{\partial L}}{{\partial b_k}} = \sum_{{{positions}}} \bar{{g}}_{{n,k,{positions[2:]}}}",
               "ḡ summed over the batch and every output position")},
        _one_example_too(_conv_gradients, n), options=("stride", "padding", "dilation", "groups"))


CONV1D = _conv_rule(1, "n,l")
CONV2D = _conv_rule(2, "n,p,q")
CONV3D = _conv_rule(3, "n,o,p,q")


def _linear_gradients(args, y, g):
    """y = x·Wᵀ + b over leading batch axes: ∂x = ḡ·W, ∂W = ḡᵀ·x, ∂b = Σ ḡ (batch axes flattened)."""
    x, w = args["x"], args["w"]
    rows = g.reshape(-1, w.shape[0])
    out = {"x": g @ w, "w": rows.T @ x.reshape(-1, w.shape[1])}
    if args["b"] is not None:
        out["b"] = rows.sum(axis=0)
    return out


LINEAR = LayerRule(
    "linear", {"x": "X", "w": "W", "b": "b"}, ("Y = X·Wᵀ + b", r"Y = X W^{\top} + b"),
    {"x": ("∂L/∂X = ḡ·W", r"\frac{\partial L}{\partial X} = \bar{g}\, W", "ḡ sent back through the weights"),
     "w": ("∂L/∂W = ḡᵀ·X", r"\frac{\partial L}{\partial W} = \bar{g}^{\top} X",
           "one outer product ḡₙ·Xₙᵀ per example, summed over the batch"),
     "b": ("∂L/∂b = Σₙ ḡₙ", r"\frac{\partial L}{\partial b} = \sum_n \bar{g}_n", "ḡ summed over the batch")},
    _linear_gradients)


def _class_axis(x):
    return 1 if x.ndim > 1 else 0


def _softmax(x, axis):
    z = np.exp(x - x.max(axis=axis, keepdims=True))
    return z / z.sum(axis=axis, keepdims=True)


def _cross_entropy_applies(args):
    if args["weight"] is not None or args["label_smoothing"]:
        return "the rule (p − t)/N is stated without class weights and label smoothing"
    return None


def _targets(x, target, ignore_index):
    """(t, kept): t the target distribution laid out like x (one-hot for class labels), kept the positions
    that count (labels not equal to ignore_index)."""
    axis = _class_axis(x)
    target = np.asarray(target)
    if target.dtype.kind == "f" and target.shape == x.shape:
        return target, np.ones(np.delete(x.shape, axis), bool)
    kept = target != ignore_index
    classes = np.arange(x.shape[axis]).reshape((-1,) + (1,) * (x.ndim - axis - 1))
    return (np.expand_dims(target, axis) == classes).astype(np.float64), kept


def _cross_entropy_gradients(args, y, g):
    """∂L/∂x = ḡ·(p − t)/N: p = softmax(x) along the class axis, t the targets, N the positions that count."""
    x = args["input"]
    axis = _class_axis(x)
    t, kept = _targets(x, args["target"], args["ignore_index"])
    p = _softmax(x, axis) * t.sum(axis=axis, keepdims=True)  # = p for one-hot or probability targets
    per_position = np.expand_dims(kept, axis) * (p - t)
    if args["reduction"] == "none":
        return {"input": per_position * np.expand_dims(g, axis)}
    count = kept.sum() if args["reduction"] == "mean" else 1
    return {"input": per_position * g / count}


CROSS_ENTROPY = LayerRule(
    "cross_entropy", {"input": "X", "target": "t"},
    ("L = −(1/N) Σₙ log pₙ,ₜₙ, p = softmax(X)",
     r"L = -\frac{1}{N} \sum_n \log p_{n, t_n},\ p = \operatorname{softmax}(X)"),
    {"input": ("∂L/∂X = (p − t)/N", r"\frac{\partial L}{\partial X} = \frac{p - t}{N}",
               "p = softmax(X) row by row, t the one-hot targets, N the rows that count (times ḡ)")},
    _cross_entropy_gradients, _cross_entropy_applies, options=("reduction",))


def _axis(args):
    return args["axis"] if args.get("dim") is None else args["dim"]


SOFTMAX = LayerRule(
    "softmax", {"x": "X"}, ("Y = softmax(X)", r"Y = \operatorname{softmax}(X)"),
    {"x": ("∂L/∂X = Y·(ḡ − Σⱼ ḡⱼ·Yⱼ)",
           r"\frac{\partial L}{\partial X} = Y \odot \left(\bar{g} - \sum_j \bar{g}_j Y_j\right)",
           "elementwise, the sum along the softmax axis")},
    lambda args, y, g: {"x": y * (g - (g * y).sum(axis=_axis(args), keepdims=True))}, options=("axis",))

LOG_SOFTMAX = LayerRule(
    "log_softmax", {"x": "X"}, ("Y = log softmax(X)", r"Y = \log \operatorname{softmax}(X)"),
    {"x": ("∂L/∂X = ḡ − softmax(X)·Σⱼ ḡⱼ",
           r"\frac{\partial L}{\partial X} = \bar{g} - \operatorname{softmax}(X) \sum_j \bar{g}_j",
           "the sum along the softmax axis")},
    lambda args, y, g: {"x": g - np.exp(y) * g.sum(axis=_axis(args), keepdims=True)}, options=("axis",))


def _pool_gradients(args, y, g, weights):
    """Spread ḡ over each window, its element at kernel offset o getting ḡ · weights[o], and crop the padding.

    weights(windows, inside, y, geometry, args) -> {offset: array like y}, from the window values at each offset
    and whether they lie in the input (not in the padding: `inside[offset]`, an array of the output's spatial shape)."""
    from .pooling import _inside, _windows

    x = args["x"]
    w = _windows(x, x.ndim - 2, "layer rule", args["kernel_size"], args["stride"], args["padding"],
                 args.get("dilation", 1), args["ceil_mode"])
    kernel, stride, dilation, pads = w.kernel, w.stride, w.dilation, w.pads
    padded = np.pad(x, ((0, 0), (0, 0)) + pads, constant_values=-np.inf)
    windows = {offset: _window(padded, offset, stride, dilation, y.shape[2:]) for offset in np.ndindex(*kernel)}
    inside = _inside(w).reshape(kernel + w.outs)  # inside[offset]: which windows have that slot in the input
    gpadded = np.zeros_like(padded)
    for offset, weight in weights(windows, inside, y, w, args).items():
        _window(gpadded, offset, stride, dilation, y.shape[2:])[...] += g * weight
    gx = gpadded[(slice(None), slice(None)) + tuple(slice(before, before + size)
                                                    for (before, _), size in zip(pads, x.shape[2:]))]
    return {"x": gx}


def _wins(values, y):
    """1.0 where a value is its window's max y, else 0.0: equal to it, or NaN when y is (NaN wins, as in NumPy's
    max and the engine's)."""
    return ((values == y) | (np.isnan(values) & np.isnan(y))).astype(np.float64)


def _winners(windows, inside, y, w, args):
    """1 / (number of winners) at each window's arg-max in the input (the engine's max rule), 0 elsewhere."""
    hits = {offset: _wins(window, y) * inside[offset] for offset, window in windows.items()}
    total = sum(hits.values())
    return {offset: hit / total for offset, hit in hits.items()}


def _evenly(windows, inside, y, w, args):
    """1 / count everywhere: the count of F.avg_pool2d (kernel size, clipped windows, or divisor_override)."""
    from .pooling import _divisor

    divisor = _divisor(w, args["count_include_pad"], args.get("divisor_override"))
    share = 1.0 / (np.prod(w.kernel) if divisor is None else divisor)
    return {offset: share for offset in windows}


def _max_pool_gradients(args, y, g):
    """ḡ routed to each window's arg-max; tied winners share it evenly (the engine's max rule)."""
    return _pool_gradients(args, y, g, _winners)


def _avg_pool_gradients(args, y, g):
    """ḡ / count to every element of each window (padding counts unless count_include_pad=False)."""
    return _pool_gradients(args, y, g, _evenly)


#: The max and mean of each window and their VJPs, in lecture form (the pools and the adaptive pools).
_MAX = (("Y = max of each window", r"Y_w = \max_{i \in w} X_i"),
        ("∂L/∂X = ḡ routed to the arg-max",
         r"\frac{\partial L}{\partial X_i} = \sum_{w \ni i} \bar{g}_w\, \frac{[X_i = Y_w]}{\#\mathrm{argmax}_w}",
         "each window's ḡ goes to the element that won its max; tied winners share it evenly"))
_MEAN = (("Y = mean of each window", r"Y_w = \frac{1}{\lvert w \rvert} \sum_{i \in w} X_i"),
         ("∂L/∂X = ḡ / |w| to all of w",
          r"\frac{\partial L}{\partial X_i} = \sum_{w \ni i} \frac{\bar{g}_w}{\lvert w \rvert}"))


def _pool_rule(n, kind):
    if kind == "max":
        forward, vjp = _MAX
        return LayerRule(f"max_pool{n}d", {"x": "X"}, forward, {"x": vjp}, _one_example_too(_max_pool_gradients, n),
                         options=("kernel_size", "stride", "padding", "dilation", "ceil_mode"))
    forward, vjp = _MEAN
    vjp += ("each window w shares its ḡ evenly among its |w| elements (zero padding counts unless "
            "count_include_pad=False)",)
    return LayerRule(f"avg_pool{n}d", {"x": "X"}, forward, {"x": vjp}, _one_example_too(_avg_pool_gradients, n),
                     options=("kernel_size", "stride", "padding", "ceil_mode", "count_include_pad"))


MAX_POOL1D, MAX_POOL2D, MAX_POOL3D = (_pool_rule(n, "max") for n in (1, 2, 3))
AVG_POOL1D, AVG_POOL2D, AVG_POOL3D = (_pool_rule(n, "avg") for n in (1, 2, 3))


def _adaptive_boxes(x, y):
    """Per output position (o₀, o₁, …) of an adaptive pooling, the slice of x's spatial axes its window covers."""
    from .pooling import _adaptive_bounds

    bounds = [list(zip(*_adaptive_bounds(size, out))) for size, out in zip(x.shape[2:], y.shape[2:])]
    for position in np.ndindex(*y.shape[2:]):
        yield position, tuple(slice(*bounds[axis][o]) for axis, o in enumerate(position))


def _adaptive_gradients(args, y, g, share):
    """∂L/∂X: each window's ḡ spread over its box of X, element i getting ḡ · share(box values, window's Y)."""
    x = args["x"]
    gx = np.zeros_like(x)
    everything = (slice(None), slice(None))
    for position, box in _adaptive_boxes(x, y):
        at = everything + position
        gx[everything + box] += g[at][(Ellipsis,) + (None,) * len(box)] * share(x[everything + box], y[at])
    return {"x": gx}


def _to_winners(window, y):
    """The engine's max rule inside one box: 1 / (number of winners) at each arg-max, 0 elsewhere."""
    hits = _wins(window, y[(Ellipsis,) + (None,) * (window.ndim - 2)])
    return hits / hits.sum(axis=tuple(range(2, window.ndim)), keepdims=True)


def _to_all(window, y):
    """1 / |w| to every element of the box."""
    return np.full(window.shape, 1.0 / np.prod(window.shape[2:]))


def _adaptive_rule(n, kind):
    """Adaptive pooling: the windows are set by the sizes (⌊o·L/O⌋ … ⌈(o+1)·L/O⌉ − 1 along each axis)."""
    if kind == "max":
        (forward, vjp), share = _MAX, _to_winners
    else:
        (forward, vjp), share = _MEAN, _to_all
        vjp += ("each window shares its ḡ evenly; windows overlap where the output size does not divide the "
                "input's",)
    return LayerRule(f"adaptive_{kind}_pool{n}d", {"x": "X"}, forward, {"x": vjp},
                     _one_example_too(lambda args, y, g: _adaptive_gradients(args, y, g, share), n),
                     options=("output_size",))


ADAPTIVE_MAX_POOL1D, ADAPTIVE_MAX_POOL2D, ADAPTIVE_MAX_POOL3D = (_adaptive_rule(n, "max") for n in (1, 2, 3))
ADAPTIVE_AVG_POOL1D, ADAPTIVE_AVG_POOL2D, ADAPTIVE_AVG_POOL3D = (_adaptive_rule(n, "avg") for n in (1, 2, 3))


def _centred(g, axes):
    """g − mean(g) over `axes`: the backward of mean subtraction, which is mean subtraction again."""
    return g - g.mean(axis=axes, keepdims=True)


MEAN_SUBTRACTION = LayerRule(
    "mean_subtraction", {"x": "X"}, ("Y = X − mean(X)", r"Y = X - \bar{X}"),
    {"x": ("∂L/∂X = ḡ − mean(ḡ)", r"\frac{\partial L}{\partial X} = \bar{g} - \operatorname{mean}(\bar{g})",
           "the backward of mean subtraction is mean subtraction")},
    lambda args, y, g: {"x": _centred(g, args["axis"])}, options=("axis",))
# for a composite f(x, axis) that returns x − x.mean(axis, keepdims=True) inside scope("mean_subtraction")


def _batch_norm_gradients(args, y, g):
    """Per channel, with X̂ = (X − μ)/σ and ĝ = γ·ḡ: training ∂X = (ĝ − mean ĝ − X̂·mean(ĝ·X̂))/σ (μ, σ from
    the batch); evaluation ∂X = ĝ/σ (running statistics). ∂γ = Σ ḡ·X̂, ∂β = Σ ḡ."""
    x = args["x"]
    axes = (0,) + tuple(range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    if args["training"]:
        mean, var = x.mean(axis=axes, keepdims=True), x.var(axis=axes, keepdims=True)
    else:
        mean, var = (np.asarray(args[k], np.float64).reshape(shape) for k in ("running_mean", "running_var"))
    sigma = np.sqrt(var + args["eps"])
    x_hat = (x - mean) / sigma
    scale = 1.0 if args["weight"] is None else np.asarray(args["weight"], np.float64).reshape(shape)
    g_hat = g * scale
    if args["training"]:
        gx = (_centred(g_hat, axes) - x_hat * (g_hat * x_hat).mean(axis=axes, keepdims=True)) / sigma
    else:
        gx = g_hat / sigma
    return {"x": gx, "weight": (g * x_hat).sum(axis=axes), "bias": g.sum(axis=axes)}


BATCH_NORM = LayerRule(
    "batch_norm", {"x": "X", "weight": "γ", "bias": "β"},
    ("Y = γ·X̂ + β, X̂ = (X − μ)/σ", r"Y = \gamma \hat{X} + \beta"),
    {"x": ("∂L/∂X = (ĝ − mean(ĝ) − X̂·mean(ĝ·X̂))/σ, ĝ = γ·ḡ",
           r"\frac{\partial L}{\partial X} = \frac{1}{\sigma}\left(\hat{g} - \operatorname{mean}(\hat{g})"
           r" - \hat{X} \operatorname{mean}(\hat{g} \hat{X})\right)",
           "per channel over the batch; mean subtraction's rule plus the term from σ (evaluation: ĝ/σ)"),
     "weight": ("∂L/∂γ = Σ ḡ·X̂", r"\frac{\partial L}{\partial \gamma} = \sum \bar{g} \hat{X}", "per channel"),
     "bias": ("∂L/∂β = Σ ḡ", r"\frac{\partial L}{\partial \beta} = \sum \bar{g}", "per channel")},
    _batch_norm_gradients, options=("training",))
