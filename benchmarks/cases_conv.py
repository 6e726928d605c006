"""Conv suite: NumPy's matmul speed, Conv2d and max pooling forward+backward, one LeNet5 training step."""
import numpy as np

from .registry import add_case, need, need_attr, sgd_step_ours, sgd_step_torch

CASES = {}

# -- the machine's float32 matmul ------------------------------------------------------------------

MATMUL_N = {False: 1024, True: 32}

matmul = add_case(
    CASES, "matmul_f32", "float32 (1024x1024) @ (1024x1024): NumPy (what chainrule's matmul calls) vs torch",
    repeat=20, work=lambda tiny: {"flops": 2 * MATMUL_N[tiny] ** 3},
)


def _square(tiny):
    rng = np.random.default_rng(0)
    n = MATMUL_N[tiny]
    return rng.standard_normal((n, n)).astype(np.float32), rng.standard_normal((n, n)).astype(np.float32)


@matmul.builder("ours")
def matmul_numpy(tiny):
    a, b = _square(tiny)
    return lambda: np.matmul(a, b)


@matmul.builder("torch")
def matmul_torch(tiny):
    torch = need("torch")
    a, b = map(torch.from_numpy, _square(tiny))
    return lambda: torch.matmul(a, b)


# -- Conv2d forward + backward (input, weight and bias grads) --------------------------------------

CONVS = {  # name: (N, C, H, W, K, KH=KW, padding), stride 1
    "conv_a": (64, 1, 28, 28, 6, 5, 0),
    "conv_b": (64, 6, 12, 12, 16, 5, 0),
    "conv_c": (32, 16, 32, 32, 32, 3, 1),
    "conv_d": (8, 64, 56, 56, 64, 3, 1),
}
TINY_CONV = (2, 2, 6, 6, 3, 3, 1)


def _conv_shape(name, tiny):
    N, C, H, W, K, k, pad = TINY_CONV if tiny else CONVS[name]
    return N, C, H, W, K, k, pad, H + 2 * pad - k + 1, W + 2 * pad - k + 1


def _conv_flops(name):
    """Forward 2·N·K·C·KH·KW·OH·OW; forward + backward ≈ 3× that."""
    def work(tiny):
        N, C, H, W, K, k, pad, OH, OW = _conv_shape(name, tiny)
        return {"flops": 3 * 2 * N * K * C * k * k * OH * OW}

    return work


def _conv_arrays(name, tiny):
    """x, weight, bias and an upstream gradient for the output, float32, from a fixed seed."""
    N, C, H, W, K, k, pad, OH, OW = _conv_shape(name, tiny)
    rng = np.random.default_rng(0)
    bound = 1 / np.sqrt(C * k * k)
    return (rng.standard_normal((N, C, H, W)).astype(np.float32),
            rng.uniform(-bound, bound, (K, C, k, k)).astype(np.float32),
            rng.uniform(-bound, bound, K).astype(np.float32),
            rng.standard_normal((N, K, OH, OW)).astype(np.float32), pad)


def _fwd_bwd_step(forward, leaves, g):
    """Clear the leaves' grads, run forward, backpropagate the fixed upstream gradient g."""
    def step():
        for t in leaves:
            t.grad = None
        forward().backward(g)

    return step


def _conv_ours(name):
    def build(tiny):
        ag = need("autograd")
        conv2d = need_attr("nn.functional", "conv2d")
        x, w, b, g, pad = _conv_arrays(name, tiny)
        x, w, b = (ag.tensor(a, requires_grad=True) for a in (x, w, b))
        return _fwd_bwd_step(lambda: conv2d(x, w, b, 1, pad), (x, w, b), ag.tensor(g))

    return build


def _conv_torch(name):
    def build(tiny):
        torch = need("torch")
        x, w, b, g, pad = _conv_arrays(name, tiny)
        x, w, b = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
        conv2d = torch.nn.functional.conv2d
        return _fwd_bwd_step(lambda: conv2d(x, w, b, 1, pad), (x, w, b), torch.from_numpy(g))

    return build


for _name, (_N, _C, _H, _W, _K, _k, _pad) in CONVS.items():
    _case = add_case(
        CASES, _name, f"Conv2d fwd+bwd N{_N} C{_C} {_H}x{_W} K{_K} {_k}x{_k}" + (f" pad{_pad}" if _pad else ""),
        repeat=10, work=_conv_flops(_name),
    )
    _case.builder("ours")(_conv_ours(_name))
    _case.builder("torch")(_conv_torch(_name))

# -- max_pool2d 2x2 on conv_a's output ----------------------------------------------------------------

POOL_SHAPE = {False: (64, 6, 24, 24), True: (2, 3, 4, 4)}

maxpool = add_case(CASES, "maxpool_a", "max_pool2d 2x2 stride 2 fwd+bwd on conv_a's output (64, 6, 24, 24)",
                   repeat=20)


def _pool_arrays(tiny):
    N, C, H, W = POOL_SHAPE[tiny]
    rng = np.random.default_rng(0)
    return (rng.standard_normal((N, C, H, W)).astype(np.float32),
            rng.standard_normal((N, C, H // 2, W // 2)).astype(np.float32))


@maxpool.builder("ours")
def maxpool_ours(tiny):
    ag = need("autograd")
    max_pool2d = need_attr("nn.functional", "max_pool2d")
    x, g = _pool_arrays(tiny)
    x = ag.tensor(x, requires_grad=True)
    return _fwd_bwd_step(lambda: max_pool2d(x, 2, 2), (x,), ag.tensor(g))


@maxpool.builder("torch")
def maxpool_torch(tiny):
    torch = need("torch")
    x, g = _pool_arrays(tiny)
    x = torch.tensor(x, requires_grad=True)
    return _fwd_bwd_step(lambda: torch.nn.functional.max_pool2d(x, 2, 2), (x,), torch.from_numpy(g))


# -- one LeNet5 training step (batch 16, 64, 256) and a VGG-style CIFAR step, SGD --------------------

LENET_BATCHES = {"lenet5_step_16": 16, "lenet5_step": 64, "lenet5_step_256": 256}
TINY_BATCH = 2
LR = 0.05

# nn.models.LeNet5 for 28x28: conv1 (6,1,5,5) pad 2: 28 -> 28 -> pool 14; conv2 (16,6,5,5): 14 -> 10 -> pool 5;
# 16*5*5 = 400 features -> 120 -> 84 -> 10. Keys as in its state_dict (and PyTorch's for the same Sequential).
LENET_PARAMS = (("features.0", (6, 1, 5, 5)), ("features.3", (16, 6, 5, 5)),
                ("classifier.0", (120, 400)), ("classifier.2", (84, 120)), ("classifier.4", (10, 84)))


def _lenet_arrays(tiny, batch=64):
    """A batch, its labels and PyTorch-default-initialised weights {key: array} (U(±1/sqrt(fan_in)))."""
    rng = np.random.default_rng(0)
    n = TINY_BATCH if tiny else batch
    x = rng.standard_normal((n, 1, 28, 28)).astype(np.float32)
    y = rng.integers(0, 10, n)
    state = {}
    for key, shape in LENET_PARAMS:
        bound = 1 / np.sqrt(np.prod(shape[1:]))
        state[f"{key}.weight"] = rng.uniform(-bound, bound, shape).astype(np.float32)
        state[f"{key}.bias"] = rng.uniform(-bound, bound, shape[0]).astype(np.float32)
    return x, y, state


def _lenet_ours(batch):
    def build(tiny):
        LeNet5 = need_attr("nn.models", "LeNet5")
        x, y, state = _lenet_arrays(tiny, batch)
        model = LeNet5()
        model.load_state_dict(state)
        return sgd_step_ours(model, x, y, LR)

    return build


def torch_lenet5(torch):
    """PyTorch's LeNet5 with the same layers and state_dict keys as nn.models.LeNet5 (Flatten holds no weights)."""
    nn = torch.nn
    model = nn.Sequential()
    model.features = nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                                   nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten())
    model.classifier = nn.Sequential(nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))
    return model


def _lenet_torch(batch):
    def build(tiny):
        torch = need("torch")
        x, y, state = _lenet_arrays(tiny, batch)
        model = torch_lenet5(torch)
        model.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})
        return sgd_step_torch(torch, model, x, y, LR)

    return build


for _name, _batch in LENET_BATCHES.items():
    _case = add_case(
        CASES, _name,
        f"LeNet5 training step on 28x28, batch {_batch}, with the library: nn.models.LeNet5 (conv5 pad2 (6)-relu-"
        "pool-conv5(16)-relu-pool-120-84-10), F.cross_entropy, optim.SGD",
        repeat=10,
    )
    _case.builder("ours")(_lenet_ours(_batch))
    _case.builder("torch")(_lenet_torch(_batch))

VGG = {"batch": 32, "size": 32, "widths": (32, 64)}

vgg = add_case(
    CASES, "vgg_step",
    "VGG-style CIFAR step, batch 32 of 3x32x32: conv3 (32)-relu-conv3 (32)-relu-pool-conv3 (64)-relu-conv3 (64)-"
    "relu-pool-fc 4096-128-relu-10 (nn.models.SmallVGG), F.cross_entropy, optim.SGD",
    repeat=10,
)


def _vgg(tiny):
    """chainrule's SmallVGG (no dropout), seeded, and a batch of CIFAR-sized inputs with labels."""
    ag = need("autograd")
    SmallVGG = need_attr("nn.models", "SmallVGG")
    ag.manual_seed(0)
    size = 8 if tiny else VGG["size"]
    model = SmallVGG(3, 10, widths=VGG["widths"], input_size=size, dropout=0.0)
    rng = np.random.default_rng(0)
    n = TINY_BATCH if tiny else VGG["batch"]
    return model, rng.standard_normal((n, 3, size, size)).astype(np.float32), rng.integers(0, 10, n)


@vgg.builder("ours")
def vgg_ours(tiny):
    return sgd_step_ours(*_vgg(tiny), LR)


@vgg.builder("torch")
def vgg_torch(tiny):
    torch = need("torch")
    from .cases_train import torch_twin

    model, x, y = _vgg(tiny)
    return sgd_step_torch(torch, torch_twin(torch, model), x, y, LR)


lenet_f = add_case(
    CASES, "lenet5_step_F",
    "the same LeNet5 step without modules or optimizer: F.conv2d/relu/max_pool2d/linear on raw parameter "
    "tensors, F.cross_entropy, SGD on .data",
    repeat=10,
)


def _lenet_forward(F, x, p):
    """LeNet5's forward on the flat parameter list [w1, b1, ..., w5, b5]; F is either engine's functional."""
    h = F.max_pool2d(F.relu(F.conv2d(x, p[0], p[1], 1, 2)), 2, 2)
    h = F.max_pool2d(F.relu(F.conv2d(h, p[2], p[3], 1, 0)), 2, 2)
    h = h.reshape(h.shape[0], -1)
    h = F.relu(F.linear(h, p[4], p[5]))
    h = F.relu(F.linear(h, p[6], p[7]))
    return F.linear(h, p[8], p[9])


@lenet_f.builder("ours")
def lenet_f_ours(tiny):
    ag = need("autograd")
    F = need("nn.functional")
    need_attr("nn.functional", "conv2d", "max_pool2d", "relu", "linear", "cross_entropy")
    x, y, state = _lenet_arrays(tiny)
    x, y = ag.tensor(x), ag.tensor(y)
    params = [ag.tensor(a, requires_grad=True) for a in state.values()]

    def step():
        F.cross_entropy(_lenet_forward(F, x, params), y).backward()
        for p in params:
            p.data -= LR * p.grad.data
            p.grad = None

    return step


@lenet_f.builder("torch")
def lenet_f_torch(tiny):
    torch = need("torch")
    F = torch.nn.functional
    x, y, state = _lenet_arrays(tiny)
    x, y = torch.from_numpy(x), torch.from_numpy(y)
    params = [torch.tensor(a, requires_grad=True) for a in state.values()]

    def step():
        F.cross_entropy(_lenet_forward(F, x, params), y).backward()
        with torch.no_grad():
            for p in params:
                p -= LR * p.grad
                p.grad = None

    return step


# -- resampling: reflect pad and interpolate, forward + backward ------------------------------------------------------

RESAMPLE_SHAPE = {False: (8, 16, 32, 32), True: (2, 2, 4, 4)}
RESAMPLES = {  # name: (what, call(F, x))
    "pad_reflect": ("F.pad reflect (1, 1, 1, 1)", lambda F, x: F.pad(x, (1, 1, 1, 1), mode="reflect")),
    "upsample_bilinear": ("F.interpolate ×2 bilinear", lambda F, x: F.interpolate(x, scale_factor=2, mode="bilinear")),
    "upsample_nearest": ("F.interpolate ×2 nearest", lambda F, x: F.interpolate(x, scale_factor=2, mode="nearest")),
}


def _resample_step(engine, call):
    def build(tiny):
        lib = need("autograd" if engine == "ours" else "torch")
        F = need("nn.functional" if engine == "ours" else "torch.nn.functional")
        x0 = np.random.default_rng(0).standard_normal(RESAMPLE_SHAPE[tiny]).astype(np.float32)
        x = lib.tensor(x0, requires_grad=True)
        g = lib.tensor(np.random.default_rng(1).standard_normal(call(F, x).shape).astype(np.float32))
        return _fwd_bwd_step(lambda: call(F, x), (x,), g)

    return build


for _name, (_what, _call) in RESAMPLES.items():
    _case = add_case(CASES, _name, f"{_what} fwd+bwd on (8, 16, 32, 32)", repeat=20)
    _case.builder("ours")(_resample_step("ours", _call))
    _case.builder("torch")(_resample_step("torch", _call))
