"""Train suite: the main job's training loop (`chainrule train`) in chainrule and in PyTorch, wall time.

Both engines train nn.models.DigitsCNN on the bundled 8×8 UCI digits with the
command's defaults (optimizer, learning rate, epochs, batch size, read from
nn.cli so the two stay in step) and its cosine schedule, from the same initial
weights and the same shuffled batches, evaluating the test split after every
epoch as the command does. PyTorch's network and optimizer are built from
chainrule's (layer arguments, hyper-parameters). Left out: the progress bar
and the artefacts (weights, plots, graph) written after training.
"""
import numpy as np

from .registry import Skip, add_case, need, need_attr

CASES = {}
TINY = {"train": 128, "test": 64, "epochs": 1}


def _settings(optimizer, tiny):
    """The command's defaults: optimizer (unless given), its learning rate, epochs, batch size and seed."""
    cli = need("nn.cli")
    need_attr("nn.data", "load_digits")
    defaults = cli.build_parser().parse_args(["train"])
    optimizer = optimizer or defaults.optimizer
    return {"optimizer": optimizer, "lr": cli.DEFAULT_LR[optimizer], "batch_size": defaults.batch_size,
            "epochs": TINY["epochs"] if tiny else defaults.epochs, "seed": defaults.seed}


def _digits(tiny):
    load_digits = need_attr("nn.data", "load_digits")
    try:
        x_train, y_train = load_digits("train")
        x_test, y_test = load_digits("test")
    except (OSError, ValueError) as e:
        raise Skip(f"the bundled digits could not be loaded ({e})") from None
    if tiny:
        return x_train[:TINY["train"]], y_train[:TINY["train"]], x_test[:TINY["test"]], y_test[:TINY["test"]]
    return x_train, y_train, x_test, y_test


def _initial_model(seed):
    """chainrule's DigitsCNN with its initial weights, seeded as the command seeds them."""
    ag = need("autograd")
    DigitsCNN = need_attr("nn.models", "DigitsCNN")
    ag.manual_seed(seed)
    return DigitsCNN()


def _ours(optimizer):
    def build(tiny):
        cli = need("nn.cli")
        F = need("nn.functional")
        DataLoader, TensorDataset = need_attr("nn.data", "DataLoader", "TensorDataset")
        CosineAnnealingLR = need_attr("optim.lr_scheduler", "CosineAnnealingLR")
        s = _settings(optimizer, tiny)
        x_train, y_train, x_test, y_test = _digits(tiny)

        def step():
            model = _initial_model(s["seed"])
            opt = cli.OPTIMIZERS[s["optimizer"]](model.parameters(), s["lr"])
            schedule = CosineAnnealingLR(opt, T_max=s["epochs"])
            loader = DataLoader(TensorDataset(x_train, y_train), batch_size=s["batch_size"], shuffle=True,
                                seed=s["seed"])
            for _ in range(s["epochs"]):
                model.train()
                correct = 0
                for xb, yb in loader:
                    logits = model(xb)
                    loss = F.cross_entropy(logits, yb)
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                    loss.item()
                    correct += int((logits.data.argmax(axis=1) == yb.data).sum())
                schedule.step()
                test_acc, _ = cli._accuracy(model, x_test, y_test)
            return {"test_accuracy": round(test_acc, 4), "train_accuracy": round(correct / len(y_train), 4), **s}

        return step

    return build


def torch_twin(torch, model):
    """The same network in PyTorch, layer by layer, with `model`'s weights.

    Expects the reference models' shape: `features` and `classifier` Sequentials with a flatten
    between them; the layer arguments are read from chainrule's modules, so a change to the
    model is followed here. PyTorch's state_dict keys are the same (Flatten holds no weights).
    """
    nn = torch.nn
    make = {
        "Conv2d": lambda m: nn.Conv2d(m.in_channels, m.out_channels, m.kernel_size, m.stride, m.padding,
                                      m.dilation, m.groups, bias=m.bias is not None),
        "Linear": lambda m: nn.Linear(m.in_features, m.out_features, bias=m.bias is not None),
        "MaxPool2d": lambda m: nn.MaxPool2d(m.kernel_size, m.stride, m.padding),
        "AvgPool2d": lambda m: nn.AvgPool2d(m.kernel_size, m.stride, m.padding),
        "Dropout": lambda m: nn.Dropout(m.p),
        "ReLU": lambda m: nn.ReLU(),
        "Tanh": lambda m: nn.Tanh(),
        "Flatten": lambda m: nn.Flatten(),
    }
    twin = nn.Sequential()
    for part in ("features", "classifier"):
        layers = []
        for layer in getattr(model, part):
            name = type(layer).__name__
            if name not in make:
                raise Skip(f"no PyTorch twin for {name} in {type(model).__name__}.{part}")
            layers.append(make[name](layer))
        if part == "features":
            layers.append(nn.Flatten())
        setattr(twin, part, nn.Sequential(*layers))
    twin.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in model.state_dict().items()}, strict=True)
    return twin


def _torch_optimizer(torch, ours, params):
    """PyTorch's optimizer of the same class with the same hyper-parameters as chainrule's `ours`."""
    import inspect

    cls = getattr(torch.optim, type(ours).__name__)
    accepted = inspect.signature(cls).parameters
    return cls(params, **{k: v for k, v in ours.param_groups[0].items() if k in accepted and k != "params"})


def _torch(optimizer):
    def build(tiny):
        torch = need("torch")
        cli = need("nn.cli")
        s = _settings(optimizer, tiny)
        x_train, y_train, x_test, y_test = _digits(tiny)
        F = torch.nn.functional

        def accuracy(model):
            model.eval()
            with torch.no_grad():
                predicted = torch.cat([model(torch.from_numpy(x_test[i:i + 512])).argmax(1)
                                       for i in range(0, len(x_test), 512)])
            return float((predicted.numpy() == y_test).mean())

        def step():
            ours = _initial_model(s["seed"])
            model = torch_twin(torch, ours)
            opt = _torch_optimizer(torch, cli.OPTIMIZERS[s["optimizer"]](ours.parameters(), s["lr"]),
                                   model.parameters())
            schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=s["epochs"])
            n, batch = len(x_train), s["batch_size"]
            for epoch in range(s["epochs"]):
                model.train()
                correct = 0
                order = np.random.default_rng([s["seed"], epoch]).permutation(n)  # DataLoader's order
                for start in range(0, n, batch):
                    index = order[start:start + batch]
                    xb, yb = torch.from_numpy(x_train[index]), torch.from_numpy(y_train[index])
                    logits = model(xb)
                    loss = F.cross_entropy(logits, yb)
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                    loss.item()
                    correct += int((logits.argmax(1) == yb).sum())
                schedule.step()
                test_acc = accuracy(model)
            return {"test_accuracy": round(test_acc, 4), "train_accuracy": round(correct / n, 4), **s}

        return step

    return build


for _name, _opt in (("digits_default", None), ("digits_sgd", "sgd")):
    _case = add_case(
        CASES, _name,
        "`chainrule train` loop: DigitsCNN on the 8x8 digits (1,437 train images), "
        + ("the command's default optimizer" if _opt is None else f"{_opt}")
        + ", its default lr, epochs and batch size, cosine schedule, test accuracy after each epoch",
        repeat=1, warmup=0,
    )
    _case.builder("ours")(_ours(_opt))
    _case.builder("torch")(_torch(_opt))
