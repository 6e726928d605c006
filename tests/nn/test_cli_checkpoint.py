"""chainrule train's checkpoints: a resumed run ends bit-identical to an uninterrupted one, a write killed
half way keeps the previous checkpoint, and a diverging run stops with the last finite one kept."""
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import autograd as ag
import nn
from nn import cli
from nn.cli import main
from nn.data import load_digits
from nn.serialization import load_metadata

RUN = ["--epochs", "3", "--batch-size", "32"]  # 160 training images: 5 steps per epoch
ROOT = Path(nn.__file__).parent.parent


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """Every run compared bit for bit here uses one thread and BLAS's own threading, in this process and in
    the subprocess alike: whether chainrule's pool had started (it pins BLAS to one thread) would otherwise
    depend on what ran before in the process, and GEMMs can round differently with another BLAS thread count."""
    before = ag.get_num_threads()
    ag.set_num_threads(1)
    yield
    ag.set_num_threads(before)


@pytest.fixture(scope="module")
def digits_npz(tmp_path_factory):
    images, labels = load_digits("all")
    path = tmp_path_factory.mktemp("data") / "digits200.npz"
    np.savez(path, x=(images[:200, 0] * 255).astype(np.uint8), y=labels[:200])
    return path


@pytest.fixture(scope="module")
def uninterrupted(digits_npz, tmp_path_factory):
    out = tmp_path_factory.mktemp("uninterrupted")
    assert main(["train", "--data", str(digits_npz), *RUN, "--out", str(out)]) == 0
    return out


def _strict_json(path):
    """metrics.json parsed as standard JSON: a bare NaN or Infinity is an error."""
    def refuse(constant):
        raise ValueError(f"{path} holds {constant}, which is not JSON")

    return json.loads(path.read_text(), parse_constant=refuse)


def _checkpoint_state(out):
    return json.loads(load_metadata(out / cli.CHECKPOINT)["state"])


def _assert_same_run(out, reference):
    ours, theirs = nn.load(out / "model.safetensors"), nn.load(reference / "model.safetensors")
    assert list(ours) == list(theirs)
    for key in ours:
        np.testing.assert_array_equal(ours[key], theirs[key], err_msg=key)  # bit for bit, not close
    ours, theirs = _strict_json(out / "metrics.json"), _strict_json(reference / "metrics.json")
    for key in ("loss", "train_acc", "test_acc"):
        assert ours[key] == theirs[key], key
    assert ours["status"] == "finished"


def test_every_epoch_leaves_a_checkpoint_and_valid_metrics(uninterrupted):
    state = _checkpoint_state(uninterrupted)
    assert state["progress"]["epoch"] == 3 and state["progress"]["step"] == 0
    assert set(state) >= {"settings", "optimizer", "schedule", "generator"}
    assert state["schedule"]["last_epoch"] == 3
    tensors = nn.load(uninterrupted / cli.CHECKPOINT)
    weights = nn.load(uninterrupted / "model.safetensors")
    for key, value in weights.items():
        np.testing.assert_array_equal(tensors[f"model.{key}"], value)
    assert any(key.startswith("optimizer.") and key.endswith(".exp_avg") for key in tensors)
    assert _strict_json(uninterrupted / "metrics.json")["completed_epochs"] == 3


def test_ctrl_c_saves_a_checkpoint_and_the_resumed_run_ends_bit_identical(digits_npz, uninterrupted, tmp_path,
                                                                           monkeypatch, capsys):
    steps = []
    train_step = cli._train_step

    def step_then_ctrl_c(*args):
        result = train_step(*args)
        steps.append(result)
        if len(steps) == 7:  # epoch 2, step 2
            signal.raise_signal(signal.SIGINT)
        return result

    monkeypatch.setattr(cli, "_train_step", step_then_ctrl_c)
    out = tmp_path / "run"
    assert main(["train", "--data", str(digits_npz), *RUN, "--out", str(out)]) == 130
    assert len(steps) == 7, "training stops after the step during which Ctrl-C came"
    err = capsys.readouterr().err.strip()
    assert err == f"chainrule train: interrupted after step 2 of epoch 2; checkpoint saved, continue with: " \
                  f"chainrule train --resume {out}"
    assert _strict_json(out / "metrics.json")["status"] == "interrupted"
    assert _checkpoint_state(out)["progress"]["step"] == 2

    monkeypatch.undo()
    assert main(["train", "--resume", str(out)]) == 0
    assert "resuming after step 2 of epoch 2" in capsys.readouterr().out
    _assert_same_run(out, uninterrupted)


KILLED_WRITER = """
import os, signal, sys
from nn import cli, serialization

write_atomically, checkpoints = serialization.write_atomically, []


def write_and_die_in_the_second_checkpoint(path, data):
    if str(path).endswith(cli.CHECKPOINT):
        checkpoints.append(path)
        if len(checkpoints) == 2:  # killed once the temporary file is written, before its rename
            os.fsync = lambda fd: os.kill(os.getpid(), signal.SIGKILL)
    write_atomically(path, data)


serialization.write_atomically = write_and_die_in_the_second_checkpoint
sys.exit(cli.main(sys.argv[1:]))
"""


def test_kill_9_during_a_checkpoint_write_keeps_the_previous_one(digits_npz, uninterrupted, tmp_path):
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CHAINRULE_NUM_THREADS": "1"}
    killed = subprocess.run([sys.executable, "-c", KILLED_WRITER, "train", "--data", str(digits_npz), *RUN,
                             "--out", str(out)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    leftovers = list(out.glob(f".{cli.CHECKPOINT}.*.tmp"))
    assert len(leftovers) == 1, "the killed write left its temporary file"
    assert _checkpoint_state(out)["progress"]["epoch"] == 1, "the checkpoint of epoch 1 is intact"
    assert nn.load(out / cli.CHECKPOINT)

    assert main(["train", "--resume", str(out)]) == 0
    assert not leftovers[0].exists(), "the next save removes the stale temporary file"
    _assert_same_run(out, uninterrupted)


def test_a_non_finite_loss_stops_the_run_and_keeps_the_last_checkpoint(digits_npz, tmp_path, monkeypatch, capsys):
    steps = []
    train_step = cli._train_step

    def nan_pixels_in_step_8(model, optimizer, xb, yb):
        steps.append(xb)
        if len(steps) == 8:  # epoch 2, step 3
            xb = ag.from_numpy(np.full_like(xb.data, np.nan))
        return train_step(model, optimizer, xb, yb)

    monkeypatch.setattr(cli, "_train_step", nan_pixels_in_step_8)
    out = tmp_path / "run"
    assert main(["train", "--data", str(digits_npz), *RUN, "--out", str(out)]) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err
    assert "training diverged in step 3 of epoch 2: the loss became nan" in err
    assert "the learning rate is most likely too high (--lr 0.003)" in err
    assert f"the checkpoint after epoch 1 is kept in {out}/" in err
    metrics = _strict_json(out / "metrics.json")
    assert metrics["status"] == "diverged" and metrics["stopped_at"]["epoch"] == 2
    assert metrics["stopped_at"]["step"] == 3 and len(metrics["loss"]) == 1
    assert _checkpoint_state(out)["progress"]["epoch"] == 1


def test_a_huge_learning_rate_stops_with_valid_metrics(digits_npz, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--data", str(digits_npz), "--epochs", "2", "--lr", "1e3", "--out", str(out)]) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "training diverged in step" in err and "of epoch 1:" in err and "(--lr 1000)" in err
    assert "no checkpoint was written" in err
    metrics = _strict_json(out / "metrics.json")
    assert metrics["status"] == "diverged" and metrics["test_accuracy"] is None


def test_a_finite_but_exploding_loss_gets_a_warning(digits_npz, tmp_path, capsys):
    argv = ["train", "--data", str(digits_npz), "--epochs", "1", "--optimizer", "rmsprop", "--lr", "1",
            "--out", str(tmp_path / "run")]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "chainrule train: warning: epoch 1 ended with loss" in err
    assert "the learning rate is most likely too high (--lr 1)" in err


def _rewrite_checkpoint(out, change):
    """Apply change(state) to the checkpoint's JSON state, keeping its tensors."""
    path = out / cli.CHECKPOINT
    metadata = load_metadata(path)
    state = json.loads(metadata["state"])
    change(state)
    nn.save(nn.load(path), path, metadata={**metadata, "state": json.dumps(state)})


def test_resume_refuses_what_does_not_fit(digits_npz, uninterrupted, tmp_path, capsys):
    copy = tmp_path / "copy"
    copy.mkdir()
    for name in (cli.CHECKPOINT, "model.safetensors", "metrics.json"):
        (copy / name).write_bytes((uninterrupted / name).read_bytes())
    assert "drop --lr, --data" in _refused(["train", "--resume", str(copy), "--lr", "1", "--data", "x.npz"], capsys)
    assert "no checkpoint.safetensors there" in _refused(["train", "--resume", str(tmp_path)], capsys)

    other = tmp_path / "other.npz"
    with np.load(digits_npz) as f:
        np.savez(other, x=f["x"], y=(f["y"] + 1) % 10)
    _rewrite_checkpoint(copy, lambda state: state["settings"].update(data=[str(other)]))
    assert "changed since the checkpoint was written" in _refused(["train", "--resume", str(copy)], capsys)

    _rewrite_checkpoint(copy, lambda state: state["settings"].pop("seed"))
    assert "the checkpoint does not fit its run" in _refused(["train", "--resume", str(copy)], capsys)

    (copy / cli.CHECKPOINT).write_bytes((uninterrupted / cli.CHECKPOINT).read_bytes()[:1000])
    assert "not a valid safetensors file" in _refused(["train", "--resume", str(copy)], capsys)


def _refused(argv, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("chainrule train: error: ") and "\n" not in err
    return err
