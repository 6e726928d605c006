"""Train suite: the main job's training loop (`chainrule train`) in chainrule and in PyTorch, wall time.

Both engines train nn.models.DigitsCNN on the bundled 8×8 UCI digits with the
command's defaults (epochs, batch size, learning rate, taken from nn.cli so the
two stay in step), from the same initial weights and the same shuffled batches,
evaluating the test split after every epoch as the command does. Left out: the
progress bar and the artefacts (weights, plots, graph) written after training.
"""
import numpy as np

from .registry import Skip, add_case, need, need_attr

CASES = {}
TINY = {"train": 128, "test": 64, "epochs": 1}


def _settings(optimizer, tiny):
    """The command's defaults: epochs, batch size, seed and the learning rate for `optimizer`."""
    cli = need("nn.cli")
    need_attr("nn.data", "load_digits")
    defaults = cli.build_parser().parse_args(["train"])
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
        s = _settings(optimizer, tiny)
        x_train, y_train, x_test, y_test = _digits(tiny)

        def step():
            model = _initial_model(s["seed"])
            opt = cli.OPTIMIZERS[optimizer](model.parameters(), s["lr"])
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
                test_acc, _ = cli._accuracy(model, x_test, y_test)
            return {"test_accuracy": round(test_acc, 4), "train_accuracy": round(correct / len(y_train), 4), **s}

        return step

    return build


def _torch_model(torch, seed):
    """DigitsCNN in PyTorch, loaded with chainrule's initial weights (same state_dict keys)."""
    nn = torch.nn
    model = nn.Sequential()
    model.features = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                   nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten())
    model.classifier = nn.Sequential(nn.Linear(32 * 2 * 2, 64), nn.ReLU(), nn.Linear(64, 10))
    state = {k: torch.from_numpy(np.array(v.data)) for k, v in _initial_model(seed).state_dict().items()}
    model.load_state_dict(state, strict=True)
    return model


TORCH_OPTIMIZERS = {  # the same update rules and settings as nn.cli.OPTIMIZERS
    "adam": lambda torch, params, lr: torch.optim.Adam(params, lr=lr),
    "sgd": lambda torch, params, lr: torch.optim.SGD(params, lr=lr, momentum=0.9),
}


def _torch(optimizer):
    def build(tiny):
        torch = need("torch")
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
            model = _torch_model(torch, s["seed"])
            opt = TORCH_OPTIMIZERS[optimizer](torch, model.parameters(), s["lr"])
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
                test_acc = accuracy(model)
            return {"test_accuracy": round(test_acc, 4), "train_accuracy": round(correct / n, 4), **s}

        return step

    return build


for _opt in ("adam", "sgd"):
    _case = add_case(
        CASES, f"digits_{_opt}",
        f"`chainrule train` loop: DigitsCNN on the 8x8 digits (1,437 train images), {_opt}, the command's "
        "default epochs and batch size, test accuracy after each epoch",
        repeat=1, warmup=0,
    )
    _case.builder("ours")(_ours(_opt))
    _case.builder("torch")(_torch(_opt))
