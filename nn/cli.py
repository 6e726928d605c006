"""The `chainrule` command: train a CNN on the bundled digits (or MNIST) and evaluate saved weights.

    chainrule train                      # DigitsCNN on the bundled 8×8 UCI digits → runs/
    chainrule train --data mnist/ --epochs 3
    chainrule eval --weights runs/model.safetensors
"""
import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

import autograd as ag
import optim

from . import functional as F
from .data import DataLoader, TensorDataset, load_digits, load_mnist_idx, load_npz
from .models import DigitsCNN, LeNet5
from .serialization import load, save

MODELS = {"digits-cnn": DigitsCNN, "lenet5": LeNet5}
OPTIMIZERS = {
    "adam": lambda params, lr: optim.Adam(params, lr=lr),
    "adamw": lambda params, lr: optim.AdamW(params, lr=lr, weight_decay=0.05),
    "sgd": lambda params, lr: optim.SGD(params, lr=lr, momentum=0.9),
    "rmsprop": lambda params, lr: optim.RMSprop(params, lr=lr),
}
DEFAULT_LR = {"adam": 2e-3, "adamw": 3e-3, "sgd": 0.05, "rmsprop": 1e-3}
MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


class CommandError(Exception):
    """A user mistake: reported as one line, exit status 1."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


# -- data --------------------------------------------------------------------------------
def _as_images(x, source):
    """(N, H, W) or (N, C, H, W) → float32 (N, C, H, W) in [0, 1]: 8-bit pixels are divided by 255,
    other data with values above 1 by its maximum."""
    x = np.asarray(x)
    if x.ndim == 3:
        x = x[:, None]
    if x.ndim != 4:
        raise CommandError(f"{source}: expected images (N, H, W) or (N, C, H, W), got shape {x.shape}")
    top = 255.0 if x.dtype == np.uint8 else float(x.max()) if x.size else 1.0
    x = x.astype(np.float32)
    return x / np.float32(top) if top > 1 else x


def _split(x, y, seed, source):
    """Hold out a fixed fifth of the samples as the test split."""
    if len(x) != len(y):
        raise CommandError(f"{source}: {len(x)} images but {len(y)} labels")
    order = np.random.default_rng(seed).permutation(len(x))
    cut = len(x) - max(1, len(x) // 5)
    return x[order[:cut]], y[order[:cut]], x[order[cut:]], y[order[cut:]]


def _find(directory, stem):
    for name in (stem, stem + ".gz", stem.replace("-idx", ".idx"), stem.replace("-idx", ".idx") + ".gz"):
        if (directory / name).exists():
            return directory / name
    raise CommandError(f"--data {directory}: no {stem}[.gz] in that folder")


def load_dataset(paths, seed=0):
    """(x_train, y_train, x_test, y_test, source) from --data, or the bundled digits when it is absent."""
    if not paths:
        x_train, y_train = load_digits("train")
        x_test, y_test = load_digits("test")
        return x_train, y_train, x_test, y_test, "bundled UCI digits"
    paths = [Path(p) for p in paths]
    for p in paths:
        if not p.exists():
            raise CommandError(f"--data: {p} does not exist")
    if len(paths) == 2:
        x, y = load_mnist_idx(paths[0]), load_mnist_idx(paths[1])
        return (*_split(_as_images(x, paths[0]), y.astype(np.int64), seed, paths[0]), f"{paths[0]} + {paths[1]}")
    path = paths[0]
    if path.is_dir():
        parts = {}
        for split, (images, labels) in MNIST_FILES.items():
            parts[split] = (_as_images(load_mnist_idx(_find(path, images)), path),
                            load_mnist_idx(_find(path, labels)).astype(np.int64))
        return (*parts["train"], *parts["test"], str(path))
    if path.suffix == ".npz":
        x, y = load_npz(path)
        return (*_split(_as_images(x, path), np.asarray(y).astype(np.int64), seed, path), str(path))
    raise CommandError(f"--data {path}: expected a folder of MNIST IDX files, an images/labels IDX pair or a .npz")


# -- model -------------------------------------------------------------------------------
def _pick_model(name, image_shape):
    channels, height, width = image_shape
    if name == "auto":
        name = "digits-cnn" if (height, width) == (8, 8) else "lenet5"
    expected = {"digits-cnn": (8, 8), "lenet5": (28, 28)}[name]
    if (height, width) != expected:
        raise CommandError(f"--model {name} expects {expected[0]}×{expected[1]} images, the data has {height}×{width}")
    return name


def _accuracy(model, x, y, batch_size=512):
    """Fraction of correct predictions and the predictions themselves (eval mode, no graph)."""
    model.eval()
    predictions = []
    with ag.no_grad():
        for start in range(0, len(x), batch_size):
            predictions.append(model(ag.Tensor._wrap(x[start:start + batch_size])).data.argmax(axis=1))
    predicted = np.concatenate(predictions)
    return float(np.mean(predicted == y)), predicted


def confusion_matrix(y_true, y_pred, num_classes):
    """counts[i, j] = how many samples of class i were predicted as j."""
    counts = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(counts, (y_true, y_pred), 1)
    return counts


# -- artefacts ---------------------------------------------------------------------------
def _plot_curves(history, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = np.arange(1, len(history["loss"]) + 1)
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.2))
    left.plot(epochs, history["loss"], marker="o")
    left.set(xlabel="epoch", ylabel="training loss", title="Loss")
    right.plot(epochs, history["train_acc"], marker="o", label="train")
    right.plot(epochs, history["test_acc"], marker="o", label="test")
    right.set(xlabel="epoch", ylabel="accuracy", title="Accuracy")
    right.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _plot_filters(weight, path):
    """A grid of the first layer's filters (one tile per output channel, first input channel)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    w = weight[:, 0]
    cols = min(8, len(w))
    rows = -(-len(w) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.1, rows * 1.1))
    for ax, index in zip(np.ravel(axes), range(rows * cols)):
        ax.axis("off")
        if index < len(w):
            ax.imshow(w[index], cmap="gray")
            ax.set_title(str(index), fontsize=7)
    fig.suptitle("first-layer filters", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _render_graph(model, x, y, path):
    """The backward graph of one training step, drawn layer by layer (composites collapsed), as SVG."""
    from autograd import viz

    model.train()
    loss = F.cross_entropy(model(ag.Tensor._wrap(x)), ag.Tensor._wrap(y))
    graph = viz.draw(loss, params=model, collapse=True)
    path.write_bytes(graph.pipe(format="svg"))


# -- commands ----------------------------------------------------------------------------
def train(args):
    ag.manual_seed(args.seed)
    x_train, y_train, x_test, y_test, source = load_dataset(args.data, args.seed)
    name = _pick_model(args.model, x_train.shape[1:])
    num_classes = int(max(y_train.max(), y_test.max())) + 1
    model = MODELS[name](in_channels=x_train.shape[1], num_classes=num_classes)
    lr = args.lr if args.lr is not None else DEFAULT_LR[args.optimizer]
    optimizer = OPTIMIZERS[args.optimizer](model.parameters(), lr)
    schedule = optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs)
    loader = DataLoader(TensorDataset(x_train, y_train), batch_size=args.batch_size, shuffle=True, seed=args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(f"chainrule train: {name} on {source} ({len(x_train)} train / {len(x_test)} test images "
          f"{x_train.shape[2]}×{x_train.shape[3]}), {args.optimizer} lr={lr:g} (cosine schedule), {args.epochs} epochs")

    from tqdm import tqdm

    history = {"loss": [], "train_acc": [], "test_acc": []}
    started = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        model.train()
        total_loss = correct = seen = 0
        bar = tqdm(loader, desc=f"epoch {epoch}/{args.epochs}", unit="batch", leave=False, file=sys.stdout,
                   dynamic_ncols=True, mininterval=0.5)
        for xb, yb in bar:
            logits = model(xb)
            loss = F.cross_entropy(logits, yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total_loss += loss.item() * len(yb.data)
            correct += int((logits.data.argmax(axis=1) == yb.data).sum())
            seen += len(yb.data)
            bar.set_postfix(loss=f"{total_loss / seen:.4f}", acc=f"{correct / seen:.3f}", refresh=False)
        schedule.step()
        test_acc, _ = _accuracy(model, x_test, y_test)
        history["loss"].append(total_loss / seen)
        history["train_acc"].append(correct / seen)
        history["test_acc"].append(test_acc)
        bar.write(f"epoch {epoch}: loss {total_loss / seen:.4f}, train accuracy {correct / seen:.3f}, "
                  f"test accuracy {test_acc:.3f}")
    seconds = time.perf_counter() - started

    metadata = {"model": name, "num_classes": str(num_classes), "in_channels": str(x_train.shape[1])}
    save(model.state_dict(), out / "model.safetensors", metadata=metadata)
    _plot_curves(history, out / "curves.png")
    _plot_filters(model.features[0].weight.data, out / "filters.png")
    artefacts = ["model.safetensors", "curves.png", "filters.png"]
    try:
        _render_graph(model, x_train[:8], y_train[:8], out / "backward_graph.svg")
        artefacts.append("backward_graph.svg")
    except Exception as error:  # rendering needs a dot binary; the training itself succeeded
        print(f"chainrule train: could not render the backward graph: {error}", file=sys.stderr)
    (out / "metrics.json").write_text(json.dumps(
        {"model": name, "data": source, "epochs": args.epochs, "seconds": round(seconds, 2),
         "test_accuracy": history["test_acc"][-1], **history}, indent=2))
    artefacts.append("metrics.json")
    print(f"final test accuracy: {history['test_acc'][-1]:.4f} ({seconds:.1f} s of training)")
    print(f"wrote {', '.join(artefacts)} to {out}/")
    return 0


def evaluate(args):
    weights = Path(args.weights)
    if not weights.exists():
        raise CommandError(f"--weights: {weights} does not exist")
    from safetensors import safe_open

    state = load(weights)
    with safe_open(str(weights), framework="np") as f:
        metadata = f.metadata() or {}
    _, _, x_test, y_test, source = load_dataset(args.data, args.seed)
    name = args.model if args.model != "auto" else metadata.get("model", "auto")
    name = _pick_model(name, x_test.shape[1:])
    num_classes = int(metadata.get("num_classes", int(y_test.max()) + 1))
    model = MODELS[name](in_channels=x_test.shape[1], num_classes=num_classes)
    try:
        model.load_state_dict(state)
    except (KeyError, ValueError, RuntimeError) as error:
        raise CommandError(f"--weights {weights} do not fit {name}: {error}") from None
    accuracy, predicted = _accuracy(model, x_test, y_test)
    matrix = confusion_matrix(y_test, predicted, num_classes)
    print(f"{name} on the test split of {source}: accuracy {accuracy:.4f} ({int(np.trace(matrix))}/{len(y_test)})")
    print("confusion matrix (rows: true class, columns: predicted):")
    width = max(4, len(str(matrix.max())) + 1)
    print(" " * 4 + "".join(f"{j:>{width}}" for j in range(num_classes)))
    for i, row in enumerate(matrix):
        print(f"{i:>3} " + "".join(f"{v:>{width}}" for v in row))
    return 0


def build_parser():
    parser = _Parser(prog="chainrule", description="Train and evaluate CNNs built on chainrule's autograd.")
    commands = parser.add_subparsers(dest="command", metavar="{train,eval}", parser_class=_Parser)
    commands.required = True
    data_help = ("a folder of MNIST/Fashion-MNIST IDX files, an images/labels IDX pair, or a .npz with x and y "
                 "(default: the bundled 8×8 UCI digits)")

    t = commands.add_parser("train", help="train a CNN and save weights, curves, filters and the backward graph",
                            description="Train a small CNN (DigitsCNN for 8×8 digits, LeNet5 for 28×28 MNIST).")
    t.add_argument("--model", choices=["auto", *MODELS], default="auto",
                   help="network (default: digits-cnn for 8×8 images, lenet5 for 28×28)")
    t.add_argument("--epochs", type=_positive_int, default=30, help="passes over the training set (default 30)")
    t.add_argument("--batch-size", type=_positive_int, default=32, help="images per step (default 32)")
    t.add_argument("--lr", type=_positive_float, default=None, help="learning rate (default depends on --optimizer)")
    t.add_argument("--optimizer", choices=list(OPTIMIZERS), default="adamw",
                   help="update rule (default adamw, weight decay 0.05)")
    t.add_argument("--seed", type=int, default=0, help="seed for initialisation and shuffling (default 0)")
    t.add_argument("--out", default="runs", help="folder for the artefacts (default runs/)")
    t.add_argument("--data", nargs="+", metavar="PATH", help=data_help)
    t.set_defaults(run=train)

    e = commands.add_parser("eval", help="accuracy and confusion matrix of saved weights on the test split",
                            description="Evaluate weights written by `chainrule train` on the test split.")
    e.add_argument("--weights", required=True, help="a .safetensors file written by chainrule train")
    e.add_argument("--model", choices=["auto", *MODELS], default="auto", help="network (default: from the file)")
    e.add_argument("--data", nargs="+", metavar="PATH", help=data_help)
    e.add_argument("--seed", type=int, default=0, help="seed of the train/test split for --data without one")
    e.set_defaults(run=evaluate)
    return parser


def _positive(kind, name):
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or not value > 0:
            raise argparse.ArgumentTypeError(f"expected a positive {name}, got {text!r}")
        return value

    return parse


_positive_int = _positive(int, "integer")
_positive_float = _positive(float, "number")


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (CommandError, ValueError, OSError) as error:
        print(f"chainrule {args.command}: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"chainrule {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
