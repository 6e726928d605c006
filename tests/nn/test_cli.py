"""The `chainrule` command: a short real training run, evaluation, and one-line errors."""
import gzip
import json
import struct

import numpy as np
import pytest

from nn.cli import confusion_matrix, load_dataset, main


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
