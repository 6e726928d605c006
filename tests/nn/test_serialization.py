"""nn.save / nn.load: safetensors round trips, atomic writes, corrupt files, exchange with PyTorch."""
import json
import os
import pickle
import stat
import time

import numpy as np
import pytest

import autograd as ag
import nn
from nn import models


def _same_outputs(a, b, x):
    a.eval()
    b.eval()
    np.testing.assert_array_equal(a(x).numpy(), b(x).numpy())


def test_round_trip_through_a_file(tmp_path):
    ag.manual_seed(0)
    model = models.ResNet(widths=(4, 8, 8))
    model(ag.randn(4, 3, 32, 32))  # move the batch-norm running statistics
    path = tmp_path / "resnet.safetensors"
    nn.save(model, path)  # a Module saves its state_dict
    state = nn.load(path)
    assert set(state) == set(model.state_dict())
    for key, value in model.state_dict().items():
        assert state[key].dtype == value.dtype and state[key].shape == value.shape, key
        np.testing.assert_array_equal(state[key], value)
    assert state["bn1.num_batches_tracked"].shape == () and state["bn1.num_batches_tracked"] == 1
    ag.manual_seed(1)
    fresh = models.ResNet(widths=(4, 8, 8))
    fresh.load_state_dict(state)
    _same_outputs(model, fresh, ag.randn(2, 3, 32, 32))


def test_save_accepts_dicts_of_arrays_and_tensors(tmp_path):
    path = str(tmp_path / "mixed.safetensors")
    nn.save({"a": np.arange(6, dtype=np.int32).reshape(2, 3), "b": ag.ones(2, dtype=np.float64),
             "c": np.ones((4, 4))[:, ::2]}, path, metadata={"note": "hello"})
    state = nn.load(path)
    assert state["a"].dtype == np.int32 and state["b"].dtype == np.float64
    np.testing.assert_array_equal(state["c"], np.ones((4, 2)))
    nn.save(state_dict={"w": np.zeros(2)}, path=path)  # the keyword names of the nn.save(state_dict, path)
    assert list(nn.load(path)) == ["w"]


def test_failed_save_leaves_the_old_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "weights.safetensors"
    nn.save({"w": np.ones(3, np.float32)}, path)
    original = path.read_bytes()
    with pytest.raises(TypeError, match="'w' is a list"):
        nn.save({"w": [1.0, 2.0]}, path)  # not an array
    assert path.read_bytes() == original

    def broken_fsync(fd):
        raise OSError("simulated disk failure")

    monkeypatch.setattr(os, "fsync", broken_fsync)  # the write itself fails half way
    with pytest.raises(OSError, match="simulated"):
        nn.save({"w": np.zeros(1000, np.float32)}, path)
    assert path.read_bytes() == original
    assert os.listdir(tmp_path) == ["weights.safetensors"]  # no temporary file left behind


def test_save_rejects_what_is_not_a_state_dict(tmp_path):
    with pytest.raises(TypeError, match="Module or a dict"):
        nn.save([np.ones(2)], tmp_path / "x.safetensors")
    with pytest.raises(TypeError, match="keys must be strings"):
        nn.save({1: np.ones(2)}, tmp_path / "x.safetensors")


def test_save_refuses_the_reserved_metadata_key(tmp_path):
    path = tmp_path / "x.safetensors"
    with pytest.raises(ValueError, match="'__metadata__' is reserved"):
        nn.save({"__metadata__": np.ones(2), "w": np.ones(2)}, path)
    assert not path.exists()
    with pytest.raises(TypeError, match="metadata maps str to str, got 'epochs': int"):
        nn.save({"w": np.ones(2)}, path, metadata={"epochs": 3})


def test_save_removes_stale_temporaries_of_its_own_pattern_only(tmp_path):
    path = tmp_path / "w.safetensors"
    ours_stale = tmp_path / ".w.safetensors.0123456789ab.tmp"  # what a killed save leaves
    others = [tmp_path / ".w.safetensors.notours.tmp", tmp_path / ".v.safetensors.0123456789ab.tmp",
              tmp_path / "w.safetensors.0123456789ab.tmp"]
    for leftover in (ours_stale, *others):
        leftover.write_bytes(b"half a file")
        os.utime(leftover, (time.time() - 60, time.time() - 60))
    nn.save({"w": np.ones(2)}, path)
    assert not ours_stale.exists()
    assert all(p.exists() for p in others)
    np.testing.assert_array_equal(nn.load(path)["w"], np.ones(2))


def test_save_keeps_the_permissions_of_the_file_it_replaces(tmp_path):
    path = tmp_path / "w.safetensors"
    nn.save({"w": np.ones(2)}, path)
    os.chmod(path, 0o640)
    nn.save({"w": np.zeros(2)}, path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
    np.testing.assert_array_equal(nn.load(path)["w"], np.zeros(2))


def _safetensors_bytes(entries, payload):
    """A safetensors file written by hand: {name: (dtype, shape, (begin, end))} and the data bytes."""
    header = {name: {"dtype": d, "shape": list(shape), "data_offsets": list(span)}
              for name, (d, shape, span) in entries.items()}
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    return len(text).to_bytes(8, "little") + text + payload


def test_load_reads_bfloat16_as_float32_with_a_warning(tmp_path):
    values = np.array([[1.0, -2.5, 3.140625], [0.0, 1e-3, -65280.0]], np.float32)
    bfloat16 = (values.view(np.uint32) >> 16).astype("<u2")  # these values are exact in bfloat16
    bias = np.arange(3, dtype="<f4")
    path = tmp_path / "bf16.safetensors"
    path.write_bytes(_safetensors_bytes({"w": ("BF16", (2, 3), (0, 12)), "b": ("F32", (3,), (12, 24))},
                                        bfloat16.tobytes() + bias.tobytes()))
    with pytest.warns(UserWarning, match=r"1 bfloat16 tensor\(s\) upcast to float32 \(w\)"):
        state = nn.load(path)
    assert state["w"].dtype == np.float32 and state["w"].shape == (2, 3)
    np.testing.assert_array_equal(state["w"], np.array([[1.0, -2.5, 3.140625], [0.0, 0.00099945068359375, -65280.0]]))
    np.testing.assert_array_equal(state["b"], bias)


def test_load_reads_bfloat16_written_by_pytorch(tmp_path):
    torch = pytest.importorskip("torch")
    import safetensors.torch

    weight = torch.randn(4, 3).bfloat16()
    path = tmp_path / "torch_bf16.safetensors"
    safetensors.torch.save_file({"weight": weight}, str(path))
    with pytest.warns(UserWarning, match="upcast to float32"):
        state = nn.load(path)
    np.testing.assert_array_equal(state["weight"], weight.float().numpy())


def test_load_names_a_dtype_it_cannot_read(tmp_path):
    path = tmp_path / "fp8.safetensors"
    path.write_bytes(_safetensors_bytes({"w": ("F8_E4M3", (4,), (0, 4))}, bytes(4)))
    with pytest.raises(ValueError, match="tensor 'w' has dtype F8_E4M3, which chainrule cannot read"):
        nn.load(path)


def test_load_metadata(tmp_path):
    path = tmp_path / "m.safetensors"
    nn.save({"w": np.ones(2)}, path, metadata={"model": "digits-cnn"})
    assert nn.serialization.load_metadata(path) == {"model": "digits-cnn"}
    nn.save({"w": np.ones(2)}, path)
    assert nn.serialization.load_metadata(path) == {}


def test_truncated_or_corrupt_files_raise_a_clear_error(tmp_path):
    path = tmp_path / "model.safetensors"
    nn.save(models.DigitsCNN(), path)
    data = path.read_bytes()
    for name, content in [("truncated.safetensors", data[: len(data) // 2]), ("short.safetensors", data[:5]),
                          ("garbage.safetensors", b"\x00" * 64), ("empty.safetensors", b"")]:
        bad = tmp_path / name
        bad.write_bytes(content)
        with pytest.raises(ValueError, match=f"'{bad}' is not a valid safetensors file"):
            nn.load(bad)
    with pytest.raises(FileNotFoundError):
        nn.load(tmp_path / "missing.safetensors")


class _Payload:
    def __reduce__(self):
        return (os.mkdir, ("pwned",))


def test_loading_never_executes_code(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.safetensors"
    path.write_bytes(pickle.dumps(_Payload()))
    with pytest.raises(ValueError, match="not a valid safetensors file"):
        nn.load(path)
    assert not (tmp_path / "pwned").exists()


def test_exchange_with_pytorch(tmp_path):
    torch = pytest.importorskip("torch")
    import safetensors.numpy
    import safetensors.torch

    def torch_digits_cnn():
        t = torch.nn
        model = t.Module()
        model.features = t.Sequential(t.Conv2d(1, 16, 3, padding=1), t.ReLU(), t.Conv2d(16, 32, 3, padding=1),
                                      t.ReLU(), t.MaxPool2d(2))
        model.classifier = t.Sequential(t.Dropout(0.25), t.Linear(512, 64), t.ReLU(), t.Linear(64, 10))
        model.forward = lambda x: model.classifier(torch.flatten(model.features(x), 1))
        return model.eval()

    x = np.random.default_rng(0).random((3, 1, 8, 8), dtype=np.float32)
    ours = models.DigitsCNN().eval()
    path = tmp_path / "ours.safetensors"
    nn.save(ours, path)
    theirs = torch_digits_cnn()
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in safetensors.numpy.load_file(path).items()})
    expected = ours(ag.tensor(x)).numpy()
    np.testing.assert_allclose(theirs(torch.from_numpy(x)).detach().numpy(), expected, rtol=1e-5, atol=1e-6)

    # and back: a file written by PyTorch loads into chainrule
    theirs = torch_digits_cnn()
    path = tmp_path / "theirs.safetensors"
    safetensors.torch.save_file(theirs.state_dict(), str(path))
    mine = models.DigitsCNN().eval()
    mine.load_state_dict(nn.load(path))
    np.testing.assert_allclose(mine(ag.tensor(x)).numpy(), theirs(torch.from_numpy(x)).detach().numpy(),
                               rtol=1e-5, atol=1e-6)
