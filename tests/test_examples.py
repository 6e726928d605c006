"""The examples run: continuing chainrule's digits CNN on PyTorch's DistributedDataParallel, 2 processes."""
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import nn

pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parent.parent
DDP_EXAMPLE = ROOT / "examples" / "continue_in_pytorch_ddp.py"


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _loopback_interface():
    return next(name for _, name in socket.if_nameindex() if name.startswith("lo"))


def test_the_ddp_example_continues_training_on_two_processes_and_brings_the_model_back(tmp_path):
    out = tmp_path / "back.safetensors"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MASTER_ADDR": "127.0.0.1", "OMP_NUM_THREADS": "1",
           "GLOO_SOCKET_IFNAME": _loopback_interface()}  # loopback only
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-addr", "127.0.0.1",
               "--master-port", str(_free_port()), str(DDP_EXAMPLE), "--chainrule-epochs", "1", "--epochs", "1",
               "--max-steps", "10", "--out", str(out)]
    result = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]

    assert "10 steps on each of 2 processes" in result.stdout
    before, after = map(float, re.search(r"training loss: ([\d.]+) before DDP, ([\d.]+) after", result.stdout).groups())
    assert after < before
    ours, theirs = re.search(r"test accuracy: chainrule ([\d.]+), PyTorch ([\d.]+) \(same predictions: True\)",
                             result.stdout).groups()
    assert ours == theirs and float(ours) > 0.5
    weights = nn.load(out)
    model = nn.models.DigitsCNN()
    model.load_state_dict(weights)
    assert all(np.isfinite(value).all() for value in weights.values())
