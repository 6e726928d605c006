"""Engine suite: per-op overhead on scalar graphs, a very deep chain, and a small MLP training step."""
import numpy as np

from .registry import add_case, need, need_attr, sgd_step_ours, sgd_step_torch

CASES = {}

# -- (a) a scalar MLP built from mul/add/relu, as micrograd's demo does ----------------------------

MLP_SIZES = {False: (32, (2, 16, 16, 1)), True: (2, (2, 3, 1))}  # tiny -> (samples, layer sizes)


def scalar_mlp_ops(tiny):
    """Number of scalar ops in one forward: per neuron nin muls + nin adds (+ relu), hinge loss 4/sample, 1 scale."""
    samples, sizes = MLP_SIZES[tiny]
    per_sample = 0
    for i, (nin, nout) in enumerate(zip(sizes[:-1], sizes[1:])):
        per_sample += nout * (2 * nin + (i < len(sizes) - 2))
    return {"ops": samples * (per_sample + 4) + 1}


scalar_mlp = add_case(
    CASES, "scalar_mlp",
    "2-16-16-1 MLP on scalars over 32 samples (mul/add/relu, hinge loss), forward+backward, ~20.6k ops",
    repeat=7, work=scalar_mlp_ops,
)


def _scalar_mlp_data(tiny):
    """Weights per layer as nested lists [(W rows, b)], inputs and ±1 labels, from a fixed seed."""
    samples, sizes = MLP_SIZES[tiny]
    rng = np.random.default_rng(0)
    layers = [(rng.uniform(-1, 1, (nout, nin)).tolist(), rng.uniform(-1, 1, nout).tolist())
              for nin, nout in zip(sizes[:-1], sizes[1:])]
    xs = rng.standard_normal((samples, sizes[0])).tolist()
    ys = (rng.integers(0, 2, samples) * 2 - 1).tolist()
    return layers, xs, ys


def _scalar_mlp_loss(layers, xs, ys):
    """Mean hinge loss of the MLP: every number is an engine scalar, so each + and * is one node."""
    total = 0
    for x, y in zip(xs, ys):
        h = x
        for i, (W, b) in enumerate(layers):
            h = [sum((w * hi for w, hi in zip(row, h)), bias) for row, bias in zip(W, b)]
            if i < len(layers) - 1:
                h = [v.relu() for v in h]
        total = total + (1 + (-y) * h[0]).relu()
    return total * (1.0 / len(xs))


def _scalar_step(tiny, param, const, zero):
    """One forward+backward of the scalar MLP, its numbers made by `param` (weights) and `const` (inputs)."""
    layers, xs, ys = _scalar_mlp_data(tiny)
    layers = [([[param(w) for w in row] for row in W], [param(v) for v in b]) for W, b in layers]
    xs = [[const(v) for v in x] for x in xs]
    params = [p for W, b in layers for p in [*sum(W, []), *b]]

    def step():
        for p in params:
            zero(p)
        _scalar_mlp_loss(layers, xs, ys).backward()

    return step


@scalar_mlp.builder("ours")
def scalar_mlp_ours(tiny):
    ag = need("autograd")
    return _scalar_step(tiny, lambda v: ag.tensor(v, requires_grad=True), ag.tensor,
                        lambda p: setattr(p, "grad", None))


@scalar_mlp.builder("torch")
def scalar_mlp_torch(tiny):
    torch = need("torch")
    return _scalar_step(tiny, lambda v: torch.tensor(v, requires_grad=True), torch.tensor,
                        lambda p: setattr(p, "grad", None))


@scalar_mlp.builder("micrograd")
def scalar_mlp_micrograd(tiny):
    Value = need_attr("micrograd.engine", "Value")
    return _scalar_step(tiny, Value, Value, lambda p: setattr(p, "grad", 0.0))


# -- (b) a 100,000-deep chain y = y * 1.0001 ------------------------------------------------------

CHAIN_DEPTH = {False: 100_000, True: 200}

chain = add_case(
    CASES, "chain_100k", "100,000-deep chain y = y * 1.0001 on a 0-d tensor, forward+backward",
    repeat=3, work=lambda tiny: {"ops": CHAIN_DEPTH[tiny]},
)


def _chain_step(x, depth, zero):
    def step():
        zero(x)
        y = x
        for _ in range(depth):
            y = y * 1.0001
        y.backward()

    return step


@chain.builder("ours")
def chain_ours(tiny):
    ag = need("autograd")
    return _chain_step(ag.tensor(1.0, requires_grad=True), CHAIN_DEPTH[tiny], lambda p: setattr(p, "grad", None))


@chain.builder("torch")
def chain_torch(tiny):
    torch = need("torch")
    return _chain_step(torch.tensor(1.0, requires_grad=True), CHAIN_DEPTH[tiny], lambda p: setattr(p, "grad", None))


@chain.builder("micrograd")
def chain_micrograd(tiny):
    Value = need_attr("micrograd.engine", "Value")
    return _chain_step(Value(1.0), CHAIN_DEPTH[tiny], lambda p: setattr(p, "grad", 0.0))


# -- (c) a float32 MLP training step, batch 64 -----------------------------------------------------

MLP_SHAPE = {False: (64, 784, 256, 10), True: (4, 12, 8, 3)}  # batch, in, hidden, classes
LR = 0.1


def _mlp_data(tiny):
    """Input batch, labels, and (W1, b1, W2, b2) initialised like PyTorch's Linear (U(±1/sqrt(fan_in)))."""
    batch, n_in, hidden, classes = MLP_SHAPE[tiny]
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, n_in)).astype(np.float32)
    y = rng.integers(0, classes, batch)
    params = []
    for fan_in, fan_out in ((n_in, hidden), (hidden, classes)):
        bound = 1 / np.sqrt(fan_in)
        params.append(rng.uniform(-bound, bound, (fan_in, fan_out)).astype(np.float32))
        params.append(rng.uniform(-bound, bound, fan_out).astype(np.float32))
    return x, y, params


def _mlp_flops(tiny):
    batch, n_in, hidden, classes = MLP_SHAPE[tiny]
    return {"flops": 3 * 2 * batch * (n_in * hidden + hidden * classes)}


mlp_raw = add_case(
    CASES, "mlp_step_raw",
    "784-256-10 MLP, batch 64, float32: matmul/relu, log-softmax from max/exp/sum/log, NLL, SGD on .data",
    repeat=20, work=_mlp_flops,
)


@mlp_raw.builder("ours")
def mlp_raw_ours(tiny):
    ag = need("autograd")
    x, y, arrays = _mlp_data(tiny)
    x = ag.tensor(x)
    rows = np.arange(len(y))
    W1, b1, W2, b2 = params = [ag.tensor(a, requires_grad=True) for a in arrays]

    def step():
        z = (x @ W1 + b1).relu() @ W2 + b2
        s = z - z.max(axis=1, keepdims=True).detach()
        logp = s - s.exp().sum(axis=1, keepdims=True).log()
        loss = -logp[rows, y].mean()
        loss.backward()
        for p in params:
            p.data -= LR * p.grad.data
            p.grad = None

    return step


@mlp_raw.builder("torch")
def mlp_raw_torch(tiny):
    torch = need("torch")
    x, y, arrays = _mlp_data(tiny)
    x = torch.from_numpy(x)
    rows, y = torch.arange(len(y)), torch.from_numpy(y)
    W1, b1, W2, b2 = params = [torch.tensor(a, requires_grad=True) for a in arrays]

    def step():
        z = (x @ W1 + b1).relu() @ W2 + b2
        s = z - z.amax(dim=1, keepdim=True).detach()
        logp = s - s.exp().sum(dim=1, keepdim=True).log()
        loss = -logp[rows, y].mean()
        loss.backward()
        with torch.no_grad():
            for p in params:
                p -= LR * p.grad
                p.grad = None

    return step


mlp_nn = add_case(
    CASES, "mlp_step_nn",
    "the same MLP step with the library: nn.Sequential(Linear, ReLU, Linear), F.cross_entropy, optim.SGD",
    repeat=20, work=_mlp_flops,
)


def _copy_linear_weights(linears, arrays, transpose):
    """Load (W, b) pairs into Linear layers; PyTorch's Linear keeps W as (out, in)."""
    for layer, W, b in zip(linears, arrays[0::2], arrays[1::2]):
        layer.weight.data[...] = W.T if transpose else W
        layer.bias.data[...] = b


@mlp_nn.builder("ours")
def mlp_nn_ours(tiny):
    Sequential, Linear, ReLU = need_attr("nn", "Sequential", "Linear", "ReLU")
    x, y, arrays = _mlp_data(tiny)
    _, n_in, hidden, classes = MLP_SHAPE[tiny]
    linears = [Linear(n_in, hidden), Linear(hidden, classes)]
    model = Sequential(linears[0], ReLU(), linears[1])
    _copy_linear_weights(linears, arrays, transpose=tuple(linears[0].weight.shape) == (hidden, n_in))
    return sgd_step_ours(model, x, y, LR)


@mlp_nn.builder("torch")
def mlp_nn_torch(tiny):
    torch = need("torch")
    x, y, arrays = _mlp_data(tiny)
    _, n_in, hidden, classes = MLP_SHAPE[tiny]
    linears = [torch.nn.Linear(n_in, hidden), torch.nn.Linear(hidden, classes)]
    model = torch.nn.Sequential(linears[0], torch.nn.ReLU(), linears[1])
    with torch.no_grad():
        _copy_linear_weights(linears, [torch.from_numpy(a) for a in arrays], transpose=True)
    return sgd_step_torch(torch, model, x, y, LR)
