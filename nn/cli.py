"""The `chainrule` command: train a CNN on the bundled digits (or MNIST) and evaluate saved weights.

    chainrule train                      # DigitsCNN on the bundled 8×8 UCI digits → runs/
    chainrule train --data mnist/ --epochs 3
    chainrule train --resume runs        # continue an interrupted run from its checkpoint
    chainrule eval --weights runs/model.safetensors
    chainrule export --weights runs/model.safetensors --to torch digits_torch.py   # the model for PyTorch
    chainrule explore --out backprop.html  # one training step as an interactive page (viz.explore)

Arguments, data and the output folder are all checked before the first step. A checkpoint is
written atomically at the end of every epoch and on Ctrl-C; a run that diverges stops and keeps
the last finite one. Exit status: 0 done, 1 training stopped (divergence, a failed write),
2 bad arguments or data, 130 interrupted.
"""
import argparse
import dataclasses
import hashlib
import itertools
import json
import math
import os
import signal
import sys
import threading
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np

import autograd as ag
import optim

from . import functional as F
from .data import DataLoader, TensorDataset, load_digits, load_mnist_idx, load_npz
from .models import DigitsCNN, LeNet5
from .serialization import load, load_metadata, save, write_atomically
from .torch_bridge import torch_file, torch_program

MODELS = {"digits-cnn": DigitsCNN, "lenet5": LeNet5}
IMAGE_SIZES = {"digits-cnn": (8, 8), "lenet5": (28, 28)}
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
MAX_CLASSES = 1000  # labels are class indices; a larger one is a mistake, not a 10⁹-way classifier
CHECKPOINT = "checkpoint.safetensors"
CHECKPOINT_FORMAT = "chainrule-checkpoint-1"


class CommandError(Exception):
    """A mistake in the arguments, the data or a file, found before training: one line, exit status 2."""

    status = 2


class TrainingStopped(CommandError):
    """Training could not go on (divergence, a failed write): one line, exit status 1."""

    status = 1


class Interrupted(Exception):
    """Training stopped on Ctrl-C after saving a checkpoint: one line, exit status 130."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


class _Given(argparse.Action):
    """Store the value and note the option in `namespace.given`, so --resume can refuse settings it would ignore."""

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, values)
        namespace.given = (*namespace.given, option_string)


# -- data --------------------------------------------------------------------------------
class Splits(NamedTuple):
    """Checked data: images float32 (N, C, H, W) in [0, 1], labels int64 class indices."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str


def _read(reader, path):
    """reader(path), its format and file errors turned into one-line CommandErrors."""
    try:
        return reader(path)
    except ValueError as error:
        raise CommandError(str(error)) from None
    except OSError as error:
        raise CommandError(f"--data: cannot read {path}: {error.strerror or error}") from None


def _as_images(x, source):
    """(N, H, W) or (N, C, H, W) numbers → float32 (N, C, H, W) in [0, 1]: 8-bit pixels are divided by
    255, other data with values above 1 by its maximum. NaN and infinite values are refused."""
    x = np.asarray(x)
    if x.dtype.kind not in "buif":
        raise CommandError(f"{source}: expected images of numbers, got dtype {x.dtype}")
    if x.ndim == 3:
        x = x[:, None]
    if x.ndim != 4 or 0 in x.shape[1:]:
        raise CommandError(f"{source}: expected images (N, H, W) or (N, C, H, W), got shape {x.shape}")
    eight_bit = x.dtype == np.uint8
    with np.errstate(over="ignore"):  # values beyond float32's range become inf, refused just below
        x = x.astype(np.float32)
    bad = x.size - np.count_nonzero(np.isfinite(x))
    if bad:
        raise CommandError(f"{source}: {bad} pixel values are NaN or infinite (in float32); expected finite numbers")
    top = 255.0 if eight_bit else float(x.max()) if x.size else 1.0
    return x / np.float32(top) if top > 1 else x


def _as_labels(y, source):
    """Labels → int64 class indices 0…C−1 (C ≤ MAX_CLASSES); float labels only when they are whole numbers."""
    y = np.asarray(y)
    if y.ndim != 1:
        raise CommandError(f"{source}: expected labels of shape (N,), got shape {y.shape}")
    if y.dtype.kind not in "buif":
        raise CommandError(f"{source}: expected integer class labels, got dtype {y.dtype}")
    if y.dtype.kind == "f":
        fractional = np.flatnonzero(~np.isfinite(y) | (y != np.round(y)))
        if fractional.size:
            i = fractional[0]
            raise CommandError(f"{source}: expected whole-number class labels, got {y[i]} at index {i} "
                               f"({fractional.size} such labels)")
    if y.size and y.min() < 0:
        raise CommandError(f"{source}: expected class labels 0…C−1, got {y.min()} at index {int(y.argmin())}")
    if y.size and y.max() >= MAX_CLASSES:
        raise CommandError(f"{source}: expected class labels 0…C−1 with at most {MAX_CLASSES} classes, got "
                           f"{y.max()} at index {int(y.argmax())}")
    return y.astype(np.int64)


def _paired(x, y, source):
    if len(x) != len(y):
        raise CommandError(f"{source}: {len(x)} images but {len(y)} labels")
    return x, y


def _split(x, y, seed, source):
    """Hold out a fixed fifth of the samples as the test split."""
    _paired(x, y, source)
    if len(x) < 2:
        raise CommandError(f"{source}: expected at least 2 samples (one to train on, one to test), got {len(x)}")
    order = np.random.default_rng(seed).permutation(len(x))
    cut = len(x) - max(1, len(x) // 5)
    return Splits(x[order[:cut]], y[order[:cut]], x[order[cut:]], y[order[cut:]], source)


def _find(directory, stem):
    for name in (stem, stem + ".gz", stem.replace("-idx", ".idx"), stem.replace("-idx", ".idx") + ".gz"):
        if (directory / name).exists():
            return directory / name
    raise CommandError(f"--data {directory}: no {stem}[.gz] in that folder")


def _idx_split(directory, split):
    images, labels = (_find(directory, stem) for stem in MNIST_FILES[split])
    x = _as_images(_read(load_mnist_idx, images), images)
    return _paired(x, _as_labels(_read(load_mnist_idx, labels), labels), f"--data {directory} ({split} split)")


def _idx_folder(directory):
    x_train, y_train = _idx_split(directory, "train")
    x_test, y_test = _idx_split(directory, "test")
    if x_train.shape[1:] != x_test.shape[1:]:
        raise CommandError(f"--data {directory}: training images are {x_train.shape[1:]} (C, H, W), "
                           f"test images {x_test.shape[1:]}")
    return Splits(x_train, y_train, x_test, y_test, str(directory))


def load_dataset(paths, seed=0):
    """Checked train and test splits from --data, or the bundled digits when it is absent."""
    if not paths:
        return Splits(*load_digits("train"), *load_digits("test"), "bundled UCI digits")
    paths = [Path(p) for p in paths]
    for p in paths:
        if not p.exists():
            raise CommandError(f"--data: {p} does not exist")
    if len(paths) > 2:
        raise CommandError(f"--data: expected a folder, a .npz or an images/labels pair, got {len(paths)} paths")
    if len(paths) == 2:
        images, labels = paths
        x, y = _as_images(_read(load_mnist_idx, images), images), _as_labels(_read(load_mnist_idx, labels), labels)
        return _split(x, y, seed, f"{images} + {labels}")
    path = paths[0]
    if path.is_dir():
        return _idx_folder(path)
    if path.suffix == ".npz":
        x, y = _read(load_npz, path)
        return _split(_as_images(x, f"{path} (x)"), _as_labels(y, f"{path} (y)"), seed, str(path))
    raise CommandError(f"--data {path}: expected a folder of MNIST IDX files, an images/labels IDX pair or a .npz")


def _fingerprint(data):
    """SHA-256 of the splits: a resumed run refuses data that changed under it."""
    digest = hashlib.sha256()
    for array in data[:4]:
        digest.update(str(array.shape).encode())
        digest.update(np.ascontiguousarray(array).data)
    return digest.hexdigest()


# -- model -------------------------------------------------------------------------------
def _pick_model(name, image_shape):
    channels, height, width = image_shape
    if name == "auto":
        name = "digits-cnn" if (height, width) == IMAGE_SIZES["digits-cnn"] else "lenet5"
    expected = IMAGE_SIZES[name]
    if (height, width) != expected:
        raise CommandError(f"--model {name} expects {expected[0]}×{expected[1]} images, "
                           f"the data has {height}×{width}")
    return name


def _accuracy(model, x, y, batch_size=512):
    """Fraction of correct predictions and the predictions themselves (eval mode, no graph)."""
    model.eval()
    predictions = []
    with ag.no_grad():
        for start in range(0, len(x), batch_size):
            predictions.append(model(ag.from_numpy(x[start:start + batch_size])).data.argmax(axis=1))
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

    epochs = np.arange(1, len(history.loss) + 1)
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.2))
    left.plot(epochs, history.loss, marker="o")
    left.set(xlabel="epoch", ylabel="training loss", title="Loss")
    right.plot(epochs, history.train_acc, marker="o", label="train")
    right.plot(epochs, history.test_acc, marker="o", label="test")
    right.set(xlabel="epoch", ylabel="accuracy", title="Accuracy")
    right.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _filters_figure(weight):
    """A grid of the first layer's filters (one tile per output channel, first input channel) on one diverging
    colour scale centred on zero (red positive, blue negative, white 0), with its colour bar."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    w = weight[:, 0]
    limit = float(np.abs(w).max()) or 1.0
    cols = min(8, len(w))
    rows = -(-len(w) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.1 + 1.2, rows * 1.1 + 0.4), layout="constrained",
                             squeeze=False)
    for ax, index in zip(axes.ravel(), range(rows * cols)):
        ax.axis("off")
        if index < len(w):
            image = ax.imshow(w[index], cmap="RdBu_r", vmin=-limit, vmax=limit)
            ax.set_title(str(index), fontsize=7)
    fig.colorbar(image, ax=axes.ravel().tolist(), shrink=0.9, label="weight")
    fig.suptitle("first-layer filters", fontsize=9)
    return fig


def _plot_filters(weight, path):
    import matplotlib.pyplot as plt

    fig = _filters_figure(weight)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _render_first_step(run, path):
    """The backward graph of the first training step, drawn layer by layer with each layer's rule, as SVG.

    Drawn from the initial weights, before any update, where the gradients are large enough to teach
    something (after training they are 1e-3 to 1e-4 everywhere). Dropout draws from autograd's generator:
    its state is put back, so the training run is the same with or without the picture.
    """
    from autograd import viz

    state = ag.generator().bit_generator.state
    try:
        run.model.train()
        loss = F.cross_entropy(run.model(ag.from_numpy(run.data.x_train[:8])), ag.from_numpy(run.data.y_train[:8]))
        picture = viz.draw(loss, params=run.model, collapse=True, rankdir="LR", show_values=False, show_dtype=False,
                           edge_labels=False, group_scopes=False, color_by="grad")
        path.write_bytes(picture.pipe(format="svg"))
    finally:
        ag.generator().bit_generator.state = state


def _json_safe(value):
    """value with every non-finite float replaced by None, so that the JSON is valid (no bare NaN)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def _write_json(path, value):
    write_atomically(path, json.dumps(_json_safe(value), indent=2, allow_nan=False).encode())


def _prepare_out(folder, option="--out"):
    """Create the output folder and write a probe file there, so a run never trains only to fail at saving."""
    probe = folder / f".chainrule-probe-{os.getpid()}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise CommandError(f"{option} {folder}: cannot write there ({error.strerror or error})") from None
    return folder


# -- the state of a run ------------------------------------------------------------------
@dataclass(frozen=True)
class Settings:
    """What a run was asked for; a resumed run takes them from its checkpoint."""

    model: str
    epochs: int
    batch_size: int
    lr: float
    optimizer: str
    seed: int
    data: list  # absolute paths, or None for the bundled digits


@dataclass
class Progress:
    """How far a run got: completed epochs, batches of the current one, its running sums, the history."""

    epoch: int = 0
    step: int = 0
    loss_sum: float = 0.0
    correct: int = 0
    seen: int = 0
    seconds: float = 0.0
    loss: list = field(default_factory=list)
    train_acc: list = field(default_factory=list)
    test_acc: list = field(default_factory=list)

    def add_batch(self, mean_loss, correct, size):
        self.step += 1
        self.loss_sum += mean_loss * size
        self.correct += correct
        self.seen += size

    def end_epoch(self, test_acc):
        self.loss.append(self.loss_sum / self.seen)
        self.train_acc.append(self.correct / self.seen)
        self.test_acc.append(test_acc)
        self.epoch += 1
        self.step, self.loss_sum, self.correct, self.seen = 0, 0.0, 0, 0


@dataclass
class Run:
    """Everything a training run works with."""

    settings: Settings
    out: Path
    data: Splits
    name: str
    num_classes: int
    model: object
    optimizer: object
    schedule: object
    loader: DataLoader
    fingerprint: str
    progress: Progress
    saved_at: str = ""  # where the latest checkpoint stands, for messages


class Diverged(Exception):
    """A non-finite loss or weight: training cannot go on from here."""


def _optimizer_parts(optimizer):
    """The optimizer's state_dict split into arrays (for safetensors) and the rest (for JSON)."""
    full = optimizer.state_dict()
    arrays, scalars = {}, {}
    for index, entry in full["state"].items():
        scalars[str(index)] = {k: v for k, v in entry.items() if not isinstance(v, np.ndarray)}
        arrays.update({f"optimizer.{index}.{k}": v for k, v in entry.items() if isinstance(v, np.ndarray)})
    return arrays, {"state": scalars, "param_groups": full["param_groups"]}


def _optimizer_state(saved, arrays):
    """The inverse of `_optimizer_parts`: a state_dict for `Optimizer.load_state_dict`."""
    state = {index: dict(entry) for index, entry in saved["state"].items()}
    for name, value in arrays.items():
        _, index, key = name.split(".", 2)
        state.setdefault(index, {})[key] = value
    return {"state": state, "param_groups": saved["param_groups"]}


def _write_checkpoint(run):
    """One file, one atomic rename: weights, optimizer arrays, and as JSON metadata the settings, progress,
    optimizer scalars, schedule and random generator state. Then the weights alone, for `chainrule eval`."""
    optimizer_arrays, optimizer_rest = _optimizer_parts(run.optimizer)
    state = {
        "settings": dataclasses.asdict(run.settings), "progress": dataclasses.asdict(run.progress),
        "fingerprint": run.fingerprint, "optimizer": optimizer_rest, "schedule": run.schedule.state_dict(),
        "generator": ag.generator().bit_generator.state,
    }
    weights = run.model.state_dict()
    tensors = {**{f"model.{k}": v for k, v in weights.items()}, **optimizer_arrays}
    with _writing(run.out / CHECKPOINT):
        save(tensors, run.out / CHECKPOINT, metadata={"format": CHECKPOINT_FORMAT,
                                                     "state": json.dumps(state, allow_nan=False)})
    with _writing(run.out / "model.safetensors"):
        save(weights, run.out / "model.safetensors", metadata=_model_metadata(run))
    run.saved_at = _position(run.progress)


def _position(progress):
    """Where a run stands, in words: 'epoch 2' (completed) or 'step 3 of epoch 2'."""
    return f"step {progress.step} of epoch {progress.epoch + 1}" if progress.step else f"epoch {progress.epoch}"


def _model_metadata(run):
    return {"model": run.name, "num_classes": str(run.num_classes), "in_channels": str(run.data.x_train.shape[1])}


@contextmanager
def _writing(path):
    """A failed write of `path` becomes a TrainingStopped error that names it."""
    try:
        yield
    except OSError as error:
        raise TrainingStopped(f"cannot write {path}: {error.strerror or error}") from None


def _read_checkpoint(folder):
    """(tensors, state) of the checkpoint in `folder`, checked to be one this command wrote."""
    path = folder / CHECKPOINT
    if not path.is_file():
        raise CommandError(f"--resume {folder}: no {CHECKPOINT} there (it is written at the end of each epoch)")
    try:
        metadata = load_metadata(path)
        tensors = load(path)
    except ValueError as error:
        raise CommandError(f"--resume {folder}: {error}") from None
    except OSError as error:
        raise CommandError(f"--resume {folder}: cannot read {path}: {error.strerror or error}") from None
    if metadata.get("format") != CHECKPOINT_FORMAT:
        raise CommandError(f"--resume {folder}: {path} is not a checkpoint of this version of chainrule train "
                           f"(format {metadata.get('format')!r}, expected {CHECKPOINT_FORMAT!r})")
    try:
        return tensors, json.loads(metadata["state"])
    except (KeyError, ValueError) as error:
        raise CommandError(f"--resume {folder}: the checkpoint's state is damaged ({error})") from None


def _restore(run, tensors, state, folder):
    """Put the checkpoint's weights, optimizer, schedule, generator and progress into a freshly built run."""
    if state["fingerprint"] != run.fingerprint:
        raise CommandError(f"--resume {folder}: the data ({run.data.source}) changed since the checkpoint was written")
    run.model.load_state_dict({k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")})
    optimizer_arrays = {k: v for k, v in tensors.items() if k.startswith("optimizer.")}
    run.optimizer.load_state_dict(_optimizer_state(state["optimizer"], optimizer_arrays))
    run.schedule.load_state_dict(state["schedule"])
    ag.generator().bit_generator.state = state["generator"]
    run.progress = Progress(**state["progress"])
    run.saved_at = _position(run.progress)


# -- training ----------------------------------------------------------------------------
class _CtrlC:
    """Turns the first Ctrl-C into a request that the loop honours between steps, so that a checkpoint never
    holds half an update; a second Ctrl-C interrupts at once."""

    def __init__(self):
        self.requested = False
        self._installed = threading.current_thread() is threading.main_thread()  # signals reach only that one
        self._previous = signal.getsignal(signal.SIGINT) if self._installed else None

    def __enter__(self):
        if self._installed:
            signal.signal(signal.SIGINT, self._request)
        return self

    def _request(self, signum, frame):
        self.requested = True
        signal.signal(signal.SIGINT, signal.default_int_handler)

    def __exit__(self, *exc_info):
        if self._installed:
            signal.signal(signal.SIGINT, self._previous if self._previous is not None else signal.default_int_handler)


def _train_step(model, optimizer, xb, yb):
    """One update; returns (mean loss, correct predictions). A non-finite loss stops before the update,
    non-finite weights right after it."""
    logits = model(xb)
    loss = F.cross_entropy(logits, yb)
    value = loss.item()
    if not math.isfinite(value):
        raise Diverged(f"the loss became {value}")
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    _check_finite_weights(model)  # 40 µs on DigitsCNN (0.2% of a step): caught at the step that overflowed
    return value, int((logits.data.argmax(axis=1) == yb.data).sum())


def _check_finite_weights(model):
    bad = [name for name, p in model.named_parameters() if not np.isfinite(p.data).all()]
    if bad:
        raise Diverged(f"the update made weights non-finite ({', '.join(bad)})")


def _batches(run):
    """The current epoch's batches from where the progress stands, behind a progress bar on a terminal."""
    from tqdm import tqdm

    run.loader.set_epoch(run.progress.epoch)
    batches = itertools.islice(run.loader, run.progress.step, None)
    return tqdm(batches, total=len(run.loader), initial=run.progress.step, unit="batch", leave=False,
                desc=f"epoch {run.progress.epoch + 1}/{run.settings.epochs}", file=sys.stdout, dynamic_ncols=True,
                mininterval=0.5, disable=not sys.stdout.isatty())


def _warn_if_diverging(run):
    """Warn when an epoch's loss is far above ln C, the loss of guessing uniformly: a finite divergence."""
    chance = math.log(run.num_classes) if run.num_classes > 1 else 1.0
    loss = run.progress.loss[-1]
    if loss > 2 * chance:
        print(f"chainrule train: warning: epoch {run.progress.epoch} ended with loss {loss:.4g}, far above "
              f"{chance:.2f} (the loss of guessing uniformly): the learning rate is most likely too high "
              f"(--lr {run.settings.lr:g})", file=sys.stderr)


def _train_epochs(run, ctrl_c):
    """Train until the last epoch, writing a checkpoint after each; stop between steps on Ctrl-C."""
    progress = run.progress
    while progress.epoch < run.settings.epochs:
        started = time.perf_counter()
        run.model.train()
        with _batches(run) as bar:
            for xb, yb in bar:
                progress.add_batch(*_train_step(run.model, run.optimizer, xb, yb), len(yb.data))
                bar.set_postfix(loss=f"{progress.loss_sum / progress.seen:.4f}",
                                acc=f"{progress.correct / progress.seen:.3f}", refresh=False)
                if ctrl_c.requested:
                    progress.seconds += time.perf_counter() - started
                    _interrupt(run)
        run.schedule.step()
        progress.end_epoch(_accuracy(run.model, run.data.x_test, run.data.y_test)[0])
        progress.seconds += time.perf_counter() - started
        print(f"epoch {progress.epoch}/{run.settings.epochs}: loss {progress.loss[-1]:.4f}, "
              f"train accuracy {progress.train_acc[-1]:.3f}, test accuracy {progress.test_acc[-1]:.3f}")
        _warn_if_diverging(run)
        _write_checkpoint(run)
        _write_metrics(run, "running")
        if ctrl_c.requested and progress.epoch < run.settings.epochs:
            _interrupt(run)


def _interrupt(run):
    """Save a checkpoint where the run stands and stop."""
    _write_checkpoint(run)
    _write_metrics(run, "interrupted")
    raise Interrupted(f"interrupted after {run.saved_at}; checkpoint saved, continue with: "
                      f"chainrule train --resume {run.out}")


def _write_metrics(run, status, **extra):
    history = run.progress
    with _writing(run.out / "metrics.json"):
        _write_json(run.out / "metrics.json", {
            "model": run.name, "data": run.data.source, "status": status, "epochs": run.settings.epochs,
            "completed_epochs": history.epoch, "seconds": round(history.seconds, 2),
            "test_accuracy": history.test_acc[-1] if history.test_acc else None,
            "loss": history.loss, "train_acc": history.train_acc, "test_acc": history.test_acc, **extra})


def _stop_diverged(run, error):
    """Record the divergence in metrics.json and explain it; the last finite checkpoint stays as it is."""
    epoch, step = run.progress.epoch + 1, run.progress.step + 1
    _write_metrics(run, "diverged", stopped_at={"epoch": epoch, "step": step, "reason": str(error)})
    kept = (f"the checkpoint after {run.saved_at} is kept in {run.out}/" if run.saved_at
            else "no checkpoint was written")
    raise TrainingStopped(f"training diverged in step {step} of epoch {epoch}: {error}; the learning rate is most "
                          f"likely too high (--lr {run.settings.lr:g}): try a smaller one; {kept}") from None


def _write_final_artefacts(run):
    """metrics.json, the curves and the filters; the backward graph was drawn before the first step."""
    out = run.out
    _write_metrics(run, "finished")
    with _writing(out / "curves.png"):
        _plot_curves(run.progress, out / "curves.png")
    with _writing(out / "filters.png"):
        _plot_filters(run.model.features[0].weight.data, out / "filters.png")
    artefacts = [CHECKPOINT, "model.safetensors", "metrics.json", "curves.png", "filters.png"]
    return artefacts + (["backward_graph.svg"] if (out / "backward_graph.svg").exists() else [])


def _write_first_step_graph(run):
    """backward_graph.svg of a new run's first step (skipped, with a word, without Graphviz)."""
    import graphviz

    try:
        _render_first_step(run, run.out / "backward_graph.svg")
    except (graphviz.ExecutableNotFound, graphviz.CalledProcessError, OSError) as error:
        print(f"chainrule train: could not render the backward graph: {error}", file=sys.stderr)


def _settings_from_args(args):
    """The run's Settings: the arguments, with the learning rate of the optimizer unless --lr is given."""
    lr = DEFAULT_LR[args.optimizer] if args.lr is None else args.lr
    data = [str(Path(p).resolve()) for p in args.data] if args.data else None
    return Settings(args.model, args.epochs, args.batch_size, lr, args.optimizer, args.seed, data)


def _build_run(settings, out):
    ag.manual_seed(settings.seed)
    data = load_dataset(settings.data, settings.seed)
    name = _pick_model(settings.model, data.x_train.shape[1:])
    num_classes = int(max(data.y_train.max(), data.y_test.max())) + 1
    model = MODELS[name](in_channels=data.x_train.shape[1], num_classes=num_classes)
    optimizer = OPTIMIZERS[settings.optimizer](model.parameters(), settings.lr)
    schedule = optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=settings.epochs)
    loader = DataLoader(TensorDataset(data.x_train, data.y_train), batch_size=settings.batch_size, shuffle=True,
                        seed=settings.seed)
    return Run(settings, out, data, name, num_classes, model, optimizer, schedule, loader, _fingerprint(data),
               Progress())


def _start(args):
    """A new run, or one resumed from its checkpoint, checked from end to end before any step."""
    if not args.resume:
        return _build_run(_settings_from_args(args), _prepare_out(Path(args.out)))
    if args.given:
        raise CommandError("--resume continues a run with the settings in its checkpoint; drop "
                           + ", ".join(args.given))
    folder = Path(args.resume)
    tensors, state = _read_checkpoint(folder)
    with _checkpoint_misfit(folder):
        settings = Settings(**state["settings"])
    run = _build_run(settings, _prepare_out(folder, "--resume"))
    with _checkpoint_misfit(folder):
        _restore(run, tensors, state, folder)
    return run


@contextmanager
def _checkpoint_misfit(folder):
    """What restoring a checkpoint raises when its state does not fit the run it describes, as one line."""
    try:
        yield
    except (KeyError, TypeError, ValueError, RuntimeError) as error:
        raise CommandError(f"--resume {folder}: the checkpoint does not fit its run ({error})".replace("\n", " ")) \
            from None


def train(args):
    run = _start(args)
    s, data = run.settings, run.data
    resumed = f", resuming after {run.saved_at}" if args.resume else ""
    print(f"chainrule train: {run.name} on {data.source} ({len(data.x_train)} train / {len(data.x_test)} test images "
          f"{data.x_train.shape[2]}×{data.x_train.shape[3]}), {s.optimizer} lr={s.lr:g} (cosine schedule), "
          f"{s.epochs} epochs{resumed}")
    if not args.resume:
        _write_first_step_graph(run)
    try:
        with _CtrlC() as ctrl_c, np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            _train_epochs(run, ctrl_c)  # (NumPy's warnings are noise: the loop reports non-finite values itself)
    except Diverged as error:
        _stop_diverged(run, error)
    artefacts = _write_final_artefacts(run)
    print(f"final test accuracy: {run.progress.test_acc[-1]:.4f} ({run.progress.seconds:.1f} s of training)")
    print(f"wrote {', '.join(artefacts)} to {run.out}/")
    return 0


# -- evaluation --------------------------------------------------------------------------
def _read_weights(weights):
    """(state, metadata) of a weights file; a bfloat16 upcast is reported as one line."""
    if not weights.is_file():
        raise CommandError(f"--weights: {weights} does not exist" if not weights.exists()
                           else f"--weights: {weights} is not a file")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            state, metadata = load(weights), load_metadata(weights)
    except ValueError as error:
        raise CommandError(f"--weights: {error}") from None
    except OSError as error:
        raise CommandError(f"--weights: cannot read {weights}: {error.strerror or error}") from None
    for warning in caught:
        print(f"chainrule eval: warning: {warning.message}", file=sys.stderr)
    return state, metadata


def _model_name(requested, metadata, weights):
    name = requested if requested != "auto" else metadata.get("model", "auto")
    if name not in ("auto", *MODELS):
        raise CommandError(f"--weights {weights}: its metadata names the model {name!r}, which chainrule does not "
                           f"know (expected one of {', '.join(MODELS)}; or pass --model)")
    return name


def _metadata_count(metadata, key, default, weights):
    """A whole number written with the weights (in_channels, num_classes), else `default`."""
    text = metadata.get(key, str(default))
    if not text.isdigit() or not 1 <= int(text) <= MAX_CLASSES:
        raise CommandError(f"--weights {weights}: its metadata gives {key} {text!r}, expected a whole number "
                           f"from 1 to {MAX_CLASSES}")
    return int(text)


def _num_classes(metadata, y_test, weights):
    """The class count written with the weights (else the test labels'), checked against the test labels."""
    num_classes = _metadata_count(metadata, "num_classes", int(y_test.max()) + 1, weights)
    if y_test.max() >= num_classes:
        raise CommandError(f"the test labels go up to {y_test.max()}, but the weights in {weights} classify "
                           f"{num_classes} classes (0…{num_classes - 1})")
    return num_classes


def evaluate(args):
    weights = Path(args.weights)
    state, metadata = _read_weights(weights)
    name = _model_name(args.model, metadata, weights)
    _, _, x_test, y_test, source = load_dataset(args.data, args.seed)
    name = _pick_model(name, x_test.shape[1:])
    num_classes = _num_classes(metadata, y_test, weights)
    model = MODELS[name](in_channels=x_test.shape[1], num_classes=num_classes)
    try:
        model.load_state_dict(state)
    except RuntimeError as error:
        raise CommandError(f"--weights {weights} do not fit {name}: {error}".replace("\n", " ")) from None
    accuracy, predicted = _accuracy(model, x_test, y_test)
    matrix = confusion_matrix(y_test, predicted, num_classes)
    print(f"{name} on the test split of {source}: accuracy {accuracy:.4f} ({int(np.trace(matrix))}/{len(y_test)})")
    print("confusion matrix (rows: true class, columns: predicted):")
    width = max(4, len(str(matrix.max())) + 1)
    print(" " * 4 + "".join(f"{j:>{width}}" for j in range(num_classes)))
    for i, row in enumerate(matrix):
        print(f"{i:>3} " + "".join(f"{v:>{width}}" for v in row))
    return 0


# -- export ------------------------------------------------------------------------------
def _torch_source(model, weights, out, input_shape):
    """PyTorch source that rebuilds the model and loads the safetensors weights (no pickle), and how to use it."""
    how = f"python {out}, or `from {out.stem} import load` in PyTorch code (needs torch and safetensors)"
    return torch_file(model, weights, out).encode(), how


def _torch_program(model, weights, out, input_shape):
    """A torch.export archive (graph and weights in one file, any batch size), and how to load it."""
    try:
        data = torch_program(model, input_shape)
    except ImportError as error:
        raise CommandError(f"{out}: {error}; or write a .py, which needs no PyTorch to write") from None
    return data, f"torch.export.load({str(out)!r}).module() in PyTorch"


EXPORTS = {".py": _torch_source, ".pt2": _torch_program}


def export(args):
    """Write the model behind --weights for PyTorch: a .py that rebuilds it and loads the weights, or a .pt2."""
    weights, out = Path(args.weights), Path(args.out)
    if out.suffix not in EXPORTS:
        raise CommandError(f"{out}: expected a .py file name (PyTorch source that loads the weights) or a .pt2 "
                           "(a torch.export archive)")
    state, metadata = _read_weights(weights)
    name = _model_name(args.model, metadata, weights)
    if name == "auto":
        raise CommandError(f"--weights {weights}: its metadata names no model; pass --model ({', '.join(MODELS)})")
    in_channels = _metadata_count(metadata, "in_channels", 1, weights)
    model = MODELS[name](in_channels=in_channels, num_classes=_metadata_count(metadata, "num_classes", 10, weights))
    try:
        model.load_state_dict(state)
    except RuntimeError as error:
        raise CommandError(f"--weights {weights} do not fit {name}: {error}".replace("\n", " ")) from None
    _prepare_out(out.parent, "OUT")
    data, how = EXPORTS[out.suffix](model, weights, out, (2, in_channels, *IMAGE_SIZES[name]))
    with _writing(out):
        write_atomically(out, data)
    print(f"chainrule export: wrote {out} ({name} for PyTorch); use it with {how}")
    return 0


# -- arguments ---------------------------------------------------------------------------
def _checked(kind, name, ok):
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or not ok(value):
            raise argparse.ArgumentTypeError(f"expected {name}, got {text!r}")
        return value

    return parse


_positive_int = _checked(int, "a positive integer", lambda v: v > 0)
_seed = _checked(int, "a non-negative integer", lambda v: v >= 0)
_learning_rate = _checked(float, "a positive finite number", lambda v: 0 < v < math.inf)


def explore(args):
    """The explorer page (`viz.explore`) of the first training step of `chainrule train --seed S`: the model as
    it initialises it, on the first batch its shuffled loader draws, before any update (so the gradients are
    large enough to see)."""
    from autograd import viz

    out = Path(args.out)
    _prepare_out(out.parent)
    ag.manual_seed(args.seed)
    data = load_dataset(args.data, args.seed)
    name = _pick_model(args.model, data.x_train.shape[1:])
    num_classes = int(max(data.y_train.max(), data.y_test.max())) + 1
    model = MODELS[name](in_channels=data.x_train.shape[1], num_classes=num_classes)
    xb, yb = next(iter(DataLoader(TensorDataset(data.x_train, data.y_train), batch_size=args.batch_size,
                                  shuffle=True, seed=args.seed)))
    loss = F.cross_entropy(model.train()(xb), yb)
    page = viz.explore(loss, params=model, level=args.level, exercise=args.exercise, seed=args.seed,
                       title=f"chainrule explore: {name}, first training step on {len(yb)} images of {data.source}")
    with _writing(out):
        write_atomically(out, page.html.encode("utf-8"))
    print(f"chainrule explore: wrote {out} ({out.stat().st_size / 1e6:.2f} MB, {args.level} level, "
          f"{len(page.backward_units)} backward steps); open it in a browser, no network needed")
    return 0


def build_parser():
    parser = _Parser(prog="chainrule", description="Train and evaluate CNNs built on chainrule's autograd.")
    commands = parser.add_subparsers(dest="command", metavar="{train,eval,export,explore}", parser_class=_Parser)
    commands.required = True
    data_help = ("a folder of MNIST/Fashion-MNIST IDX files, an images/labels IDX pair, or a .npz with x and y "
                 "(default: the bundled 8×8 UCI digits)")

    t = commands.add_parser("train", help="train a CNN and save weights, curves, filters and the backward graph",
                            description="Train a small CNN (DigitsCNN for 8×8 digits, LeNet5 for 28×28 MNIST). "
                                        "A checkpoint is written after every epoch and on Ctrl-C.")
    t.add_argument("--model", choices=["auto", *MODELS], default="auto", action=_Given,
                   help="network (default: digits-cnn for 8×8 images, lenet5 for 28×28)")
    t.add_argument("--epochs", type=_positive_int, default=30, action=_Given,
                   help="passes over the training set (default 30)")
    t.add_argument("--batch-size", type=_positive_int, default=32, action=_Given, help="images per step (default 32)")
    t.add_argument("--lr", type=_learning_rate, default=None, action=_Given,
                   help="learning rate (default depends on --optimizer)")
    t.add_argument("--optimizer", choices=list(OPTIMIZERS), default="adamw", action=_Given,
                   help="update rule (default adamw, weight decay 0.05)")
    t.add_argument("--seed", type=_seed, default=0, action=_Given,
                   help="seed for initialisation and shuffling (default 0)")
    t.add_argument("--out", default="runs", action=_Given,
                   help="folder for the checkpoint and artefacts (default runs/)")
    t.add_argument("--data", nargs="+", metavar="PATH", action=_Given, help=data_help)
    t.add_argument("--resume", metavar="DIR", help="continue the run whose checkpoint is in DIR, with its settings; "
                                                   "ends as the uninterrupted run would")
    t.set_defaults(run=train, given=())

    e = commands.add_parser("eval", help="accuracy and confusion matrix of saved weights on the test split",
                            description="Evaluate weights written by `chainrule train` on the test split.")
    e.add_argument("--weights", required=True, help="a .safetensors file written by chainrule train")
    e.add_argument("--model", choices=["auto", *MODELS], default="auto", help="network (default: from the file)")
    e.add_argument("--data", nargs="+", metavar="PATH", help=data_help)
    e.add_argument("--seed", type=_seed, default=0, help="seed of the train/test split for --data without one")
    e.set_defaults(run=evaluate)

    x = commands.add_parser("export", help="write saved weights as a model for PyTorch (.py or .pt2)",
                            description="Write weights from `chainrule train` as a PyTorch model: OUT.py rebuilds "
                                        "the architecture and loads the safetensors weights (no pickle); OUT.pt2 "
                                        "is a torch.export archive, loaded with torch.export.load(OUT).module().")
    x.add_argument("--weights", required=True, help="a .safetensors file written by chainrule train")
    x.add_argument("--to", required=True, choices=["torch"], help="the framework to export to")
    x.add_argument("--model", choices=["auto", *MODELS], default="auto", help="network (default: from the file)")
    x.add_argument("out", metavar="OUT", help="the file to write: OUT.py or OUT.pt2")
    x.set_defaults(run=export)

    p = commands.add_parser("explore", help="write one training step as an interactive HTML page (viz.explore)",
                            description="Write the backward graph of the first training step (the model as `chainrule "
                                        "train --seed S` initialises it, the first batch it draws) as one "
                                        "self-contained HTML page: step through forward and backward, click a box "
                                        "for its formulas, values and gradients. Opens offline.")
    p.add_argument("--model", choices=["auto", *MODELS], default="auto",
                   help="network (default: digits-cnn for 8×8 images, lenet5 for 28×28)")
    p.add_argument("--out", default="backprop.html", help="the page to write (default backprop.html)")
    p.add_argument("--level", choices=["layer", "primitive"], default="layer",
                   help="one box per layer with its rule (default), or one per primitive")
    p.add_argument("--batch-size", type=_positive_int, default=8, help="images in the step (default 8: a small page)")
    p.add_argument("--exercise", choices=["grads", "locals", "values"],
                   help="hide a few gradients, local derivatives or values for a student to work out")
    p.add_argument("--seed", type=_seed, default=0, help="seed of the initialisation and the batch (default 0)")
    p.add_argument("--data", nargs="+", metavar="PATH", help=data_help)
    p.set_defaults(run=explore)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except Interrupted as stop:
        print(f"chainrule {args.command}: {stop}", file=sys.stderr)
        return 130
    except CommandError as error:
        print(f"chainrule {args.command}: error: {error}", file=sys.stderr)
        return error.status
    except KeyboardInterrupt:
        print(f"chainrule {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
