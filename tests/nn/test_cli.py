"""The `chainrule` command: a short real training run, evaluation, and one-line errors for bad input."""
import gzip
import json
import os
import struct

import numpy as np
import pytest

import nn
from nn.cli import confusion_matrix, load_dataset, main
from nn.data import load_digits


def _write_idx(path, array):
    codes = {np.dtype(np.uint8): 0x08}
    header = struct.pack(">BBBB", 0, 0, codes[array.dtype], array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    data = header + array.tobytes()
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    assert main(["train", "--epochs", "3", "--out", str(out), "--seed", "1"]) == 0
    return out


def test_short_training_run_beats_chance_by_far(trained):
    metrics = json.loads((trained / "metrics.json").read_text())
    assert metrics["model"] == "digits-cnn"
    assert len(metrics["loss"]) == 3 and metrics["loss"][-1] < metrics["loss"][0]
    assert metrics["test_accuracy"] > 0.8  # chance is 0.1


def test_training_writes_every_artefact(trained):
    for name in ("model.safetensors", "curves.png", "filters.png", "backward_graph.svg"):
        assert (trained / name).stat().st_size > 0, name
    assert (trained / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert b"<svg" in (trained / "backward_graph.svg").read_bytes()[:2000]


def test_eval_reports_accuracy_and_confusion_matrix(trained, capsys):
    assert main(["eval", "--weights", str(trained / "model.safetensors")]) == 0
    out = capsys.readouterr().out
    metrics = json.loads((trained / "metrics.json").read_text())
    assert f"accuracy {metrics['test_accuracy']:.4f}" in out
    assert "confusion matrix" in out
    assert len([line for line in out.splitlines() if line[:3].strip().isdigit()]) == 10


def test_confusion_matrix_counts_pairs():
    m = confusion_matrix(np.array([0, 1, 1, 2]), np.array([0, 2, 1, 2]), 3)
    assert m.tolist() == [[1, 0, 0], [0, 1, 1], [0, 0, 1]]


@pytest.mark.parametrize("argv, needle", [
    (["train", "--epochs", "zero"], "expected a positive integer, got 'zero'"),
    (["train", "--epochs", "0"], "expected a positive integer"),
    (["train", "--optimizer", "lbfgs"], "invalid choice"),
    (["train", "--lr", "inf"], "expected a positive finite number, got 'inf'"),
    (["train", "--lr", "nan"], "expected a positive finite number, got 'nan'"),
    (["train", "--lr", "-0.1"], "expected a positive finite number"),
    (["train", "--seed", "-1"], "expected a non-negative integer, got '-1'"),
    (["frobnicate"], "invalid choice"),
])
def test_bad_arguments_give_one_line_and_status_2(argv, needle, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and "\n" not in err


@pytest.mark.parametrize("argv, needle", [
    (["eval", "--weights", "missing.safetensors"], "does not exist"),
    (["train", "--data", "no/such/folder"], "does not exist"),
])
def test_missing_files_give_one_line_and_status_2(argv, needle, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and "\n" not in err and "Traceback" not in err


def test_a_file_that_is_not_idx_is_a_one_line_error(tmp_path, capsys):
    (tmp_path / "images").write_bytes(b"hello world")
    (tmp_path / "labels").write_bytes(b"hello world")
    assert main(["train", "--data", str(tmp_path / "images"), str(tmp_path / "labels"), "--out", str(tmp_path)]) == 2
    assert "not an IDX file" in capsys.readouterr().err


def test_idx_pair_trains_lenet5_on_28x28(tmp_path):
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, 40).astype(np.uint8)
    images = rng.integers(0, 256, (40, 28, 28)).astype(np.uint8)
    _write_idx(tmp_path / "img.idx3-ubyte.gz", images)
    _write_idx(tmp_path / "lab.idx1-ubyte", labels)
    x_train, y_train, x_test, y_test, _ = load_dataset([tmp_path / "img.idx3-ubyte.gz", tmp_path / "lab.idx1-ubyte"])
    assert x_train.shape == (32, 1, 28, 28) and x_test.shape == (8, 1, 28, 28)
    assert 0.0 <= x_train.min() and x_train.max() <= 1.0
    out = tmp_path / "out"
    argv = ["train", "--data", str(tmp_path / "img.idx3-ubyte.gz"), str(tmp_path / "lab.idx1-ubyte"),
            "--epochs", "1", "--out", str(out)]
    assert main(argv) == 0
    assert json.loads((out / "metrics.json").read_text())["model"] == "lenet5"


def test_npz_with_wrong_image_size_for_the_model_is_refused(tmp_path, capsys):
    np.savez(tmp_path / "d.npz", x=np.zeros((10, 8, 8), np.uint8), y=np.arange(10))
    assert main(["train", "--data", str(tmp_path / "d.npz"), "--model", "lenet5", "--out", str(tmp_path)]) == 2
    assert "expects 28×28 images, the data has 8×8" in capsys.readouterr().err


# -- everything is checked before the first step: one line, exit status 2 ---------------------
def _digits_npz(path, n=20, **replace):
    """A small .npz of bundled digits (8-bit 8×8 images); `x=` or `y=` replaces an array."""
    images, labels = load_digits("all")
    arrays = {"x": (images[:n, 0] * 255).astype(np.uint8), "y": labels[:n]}
    arrays.update(replace)
    np.savez(path, **arrays)
    return path


def _late(value, dtype=np.int64):
    """Labels of 20 digits whose last one (in the last batch) is `value`."""
    y = load_digits("all")[1][:20].astype(dtype)
    y[-1] = value
    return y


def _refused(argv, capsys):
    """The one-line error of a command that must stop before training, with exit status 2."""
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert "epoch" not in captured.out, "training started"
    err = captured.err.strip()
    assert err.startswith(f"chainrule {argv[0]}: error: ") and "\n" not in err and "Traceback" not in err
    return err


@pytest.mark.parametrize("arrays, needle", [
    ({"y": _late(-1)}, "expected class labels 0…C−1, got -1 at index 19"),
    ({"y": _late(10**9)}, "at most 1000 classes, got 1000000000 at index 19"),
    ({"y": _late(2.5, np.float64)}, "expected whole-number class labels, got 2.5 at index 19"),
    ({"y": _late(np.nan, np.float64)}, "expected whole-number class labels, got nan"),
    ({"y": np.zeros((20, 2), np.int64)}, "expected labels of shape (N,), got shape (20, 2)"),
    ({"y": np.array(["a"] * 20)}, "expected integer class labels, got dtype <U1"),
    ({"x": np.where(np.arange(20 * 64).reshape(20, 8, 8) == 1000, np.nan, 0.5)}, "1 pixel values are NaN or infinite"),
    ({"x": np.full((20, 8, 8), 1e300)}, "1280 pixel values are NaN or infinite (in float32)"),
    ({"x": np.full((20, 8, 8), "7")}, "expected images of numbers, got dtype <U1"),
    ({"x": np.zeros((20, 64), np.uint8)}, "expected images (N, H, W) or (N, C, H, W), got shape (20, 64)"),
    ({"y": np.zeros(19, np.int64)}, "20 images but 19 labels"),
    ({"x": np.zeros((1, 8, 8), np.uint8), "y": np.zeros(1, np.int64)}, "expected at least 2 samples"),
])
def test_bad_npz_data_is_refused_before_training(tmp_path, capsys, arrays, needle):
    path = _digits_npz(tmp_path / "d.npz", **arrays)
    assert needle in _refused(["train", "--data", str(path), "--out", str(tmp_path / "out")], capsys)


def test_whole_float_labels_are_class_indices(tmp_path):
    labels = load_digits("all")[1][:20]
    path = _digits_npz(tmp_path / "d.npz", y=labels.astype(np.float32))
    data = load_dataset([path])
    assert data.y_train.dtype == np.int64
    np.testing.assert_array_equal(np.sort(np.concatenate([data.y_train, data.y_test])), np.sort(labels))


@pytest.mark.parametrize("content, needle", [
    (b"not a zip at all", "is not a .npz file: expected a zip archive"),
    (b"PK\x03\x04 and then garbage", "damaged zip archive"),
])
def test_a_damaged_npz_is_one_line_without_pickle_advice(tmp_path, capsys, content, needle):
    path = tmp_path / "d.npz"
    path.write_bytes(content)
    err = _refused(["train", "--data", str(path), "--out", str(tmp_path / "out")], capsys)
    assert needle in err and "pickle" not in err


def test_a_truncated_npz_is_one_line(tmp_path, capsys):
    path = _digits_npz(tmp_path / "d.npz")
    path.write_bytes(path.read_bytes()[:-100])
    assert "damaged zip archive" in _refused(["train", "--data", str(path), "--out", str(tmp_path / "o")], capsys)


def test_an_idx_folder_with_unequal_test_counts_is_refused(tmp_path, capsys):
    rng = np.random.default_rng(0)
    for prefix, n_images, n_labels in (("train", 12, 12), ("t10k", 10, 9)):
        _write_idx(tmp_path / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (n_images, 28, 28)).astype(np.uint8))
        _write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte", rng.integers(0, 10, n_labels).astype(np.uint8))
    err = _refused(["train", "--data", str(tmp_path), "--out", str(tmp_path / "out")], capsys)
    assert f"--data {tmp_path} (test split): 10 images but 9 labels" in err


def test_an_out_folder_that_cannot_be_made_is_refused_before_training(tmp_path, capsys):
    (tmp_path / "file").write_text("not a folder")
    err = _refused(["train", "--epochs", "1", "--out", str(tmp_path / "file" / "runs")], capsys)
    assert "--out" in err and "cannot write there" in err


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_out_folder_is_refused_before_training(tmp_path, capsys):
    out = tmp_path / "read-only"
    out.mkdir(mode=0o500)
    assert "cannot write there (Permission denied)" in _refused(["train", "--out", str(out)], capsys)


def test_stdout_that_is_not_a_terminal_gets_one_line_per_epoch(tmp_path, capsys):
    path = _digits_npz(tmp_path / "d.npz", n=60)
    assert main(["train", "--data", str(path), "--epochs", "2", "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "\r" not in out and "batch/s" not in out
    assert [line.split(":")[0] for line in out.splitlines() if line.startswith("epoch")] == ["epoch 1/2", "epoch 2/2"]


# -- eval --------------------------------------------------------------------------------------
def _weights(path, metadata, num_classes=10):
    nn.save(nn.models.DigitsCNN(num_classes=num_classes), path, metadata=metadata)
    return path


def test_eval_of_weights_naming_an_unknown_model(tmp_path, capsys):
    path = _weights(tmp_path / "w.safetensors", {"model": "resnet-9000", "num_classes": "10"})
    err = _refused(["eval", "--weights", str(path)], capsys)
    assert "its metadata names the model 'resnet-9000', which chainrule does not know" in err


def test_eval_with_test_labels_beyond_the_weights_classes(tmp_path, capsys):
    path = _weights(tmp_path / "w.safetensors", {"model": "digits-cnn", "num_classes": "5"}, num_classes=5)
    err = _refused(["eval", "--weights", str(path)], capsys)
    assert "the test labels go up to 9, but the weights in" in err and "classify 5 classes (0…4)" in err


@pytest.mark.parametrize("write, needle", [
    (lambda p: p.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}      "), "not a valid safetensors file"),
    (lambda p: _weights(p, {"model": "digits-cnn", "num_classes": "ten"}), "num_classes 'ten'"),
    (lambda p: _weights(p, {"model": "digits-cnn", "num_classes": "10"}, num_classes=7), "do not fit digits-cnn"),
])
def test_eval_of_bad_weights_is_one_line(tmp_path, capsys, write, needle):
    path = tmp_path / "w.safetensors"
    write(path)
    assert needle in _refused(["eval", "--weights", str(path)], capsys)
