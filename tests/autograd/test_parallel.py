"""autograd.parallel: the thread pool the heavy primitives split their batch over.

Facts a user relies on: the window primitives give bit-identical results for any thread count and
the convolutions agree up to float32 GEMM rounding (BLAS may sum in another order when a matrix is
cut differently); the pool is safe under the user's own threads (no deadlock, no more than
get_num_threads() threads of chainrule's own) and next to PyTorch; BLAS runs on one thread while the
pool is on and gets its threads back with set_num_threads(1); the setting is validated.
"""
import gc
import os
import signal
import subprocess
import sys
import threading
import weakref

import numpy as np
import pytest

import autograd as ag
import nn.functional as F
from autograd import parallel


@pytest.fixture
def threads(monkeypatch):
    """Set the thread count for one test (every region split, however small); restore it afterwards."""
    monkeypatch.setattr(parallel, "MIN_WORK", 0)
    before = ag.get_num_threads()
    yield ag.set_num_threads
    ag.set_num_threads(before)


def conv_step(x, w, b, **kwargs):
    """Forward + backward of conv2d → relu → max_pool2d; the output and every gradient."""
    x, w, b = (ag.tensor(a, requires_grad=True) for a in (x, w, b))
    y = F.max_pool2d(F.relu(F.conv2d(x, w, b, **kwargs)), 2)
    y.backward(ag.tensor(np.cos(np.arange(y.size, dtype=y.dtype)).reshape(y.shape)))
    return [y.data, x.grad.data, w.grad.data, b.grad.data]


def conv_arrays(N=12, C=8, H=20, K=16, k=3, groups=1, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((N, C, H, H)).astype(np.float32),
            rng.standard_normal((K, C // groups, k, k)).astype(np.float32) * 0.2,
            rng.standard_normal(K).astype(np.float32))


def test_default_is_the_cores_available_and_setting_it_round_trips(threads):
    assert ag.get_num_threads() >= 1
    threads(3)
    assert ag.get_num_threads() == 3
    threads(1)
    assert ag.get_num_threads() == 1


@pytest.mark.parametrize("bad", [0, -2, 1.5, "2", True])
def test_set_num_threads_rejects_what_is_not_a_positive_int(bad):
    with pytest.raises((ValueError, TypeError), match="positive integer"):
        ag.set_num_threads(bad)


def test_environment_variable_sets_the_default():
    code = "import autograd as ag; print(ag.get_num_threads())"
    env = dict(os.environ, CHAINRULE_NUM_THREADS="3")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "3"
    env[parallel.ENV] = "many"
    failed = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert failed.returncode != 0 and "CHAINRULE_NUM_THREADS must be a positive integer, got 'many'" in failed.stderr


@pytest.mark.parametrize("n, count", [(10, 3), (2, 5), (7, 7), (1, 2)])
def test_parts_cover_the_range_in_order(n, count):
    pieces = parallel.parts(n, count)
    assert pieces[0][0] == 0 and pieces[-1][1] == n
    assert all(a < b for a, b in pieces) and all(p[1] == q[0] for p, q in zip(pieces, pieces[1:]))
    sizes = [b - a for a, b in pieces]
    assert max(sizes) - min(sizes) <= 1 and len(pieces) == min(n, count)


def test_run_calls_every_part_once_on_the_pool(threads):
    threads(2)
    seen = []
    parallel.run(lambda a, b: seen.append((a, b, threading.current_thread().name)), 10, work=1 << 20)
    assert sorted((a, b) for a, b, _ in seen) == [(0, 5), (5, 10)]
    assert {name for *_, name in seen} == {threading.current_thread().name, "chainrule-worker"}


def test_small_work_and_one_thread_run_in_the_caller(threads, monkeypatch):
    threads(2)
    monkeypatch.setattr(parallel, "MIN_WORK", 1 << 20)
    calls = []
    parallel.run(lambda a, b: calls.append((a, b)), 10)  # 10 units of work: not worth a hand-off
    threads(1)
    parallel.run(lambda a, b: calls.append((a, b)), 10, work=1 << 30)
    assert calls == [(0, 10), (0, 10)]


def test_an_error_in_a_part_reaches_the_caller_after_every_part_ran(threads):
    threads(2)
    done = []

    def part(a, b):
        done.append(a)
        if a > 0:
            raise ArithmeticError("part failed")

    with pytest.raises(ArithmeticError, match="part failed"):
        parallel.run(part, 4, work=1 << 20)
    assert sorted(done) == [0, 2]
    parallel.run(lambda a, b: None, 4, work=1 << 20)  # the pool is still usable


def test_the_pool_keeps_no_reference_to_a_finished_regions_arrays(threads):
    """A worker holding its last task kept a step's columns alive into the next step (peak memory)."""
    threads(2)
    buffer = np.ones(1000)
    alive = weakref.ref(buffer)
    parallel.run(lambda a, b, values=buffer: values[a:b].sum(), 2, work=1 << 20)
    del buffer
    gc.collect()
    assert alive() is None


def test_a_region_inside_a_part_runs_serially(threads):
    threads(2)
    inner = []
    parallel.run(lambda a, b: parallel.run(lambda c, d: inner.append((c, d)), 6, work=1 << 20), 2, work=1 << 20)
    assert sorted(inner) == [(0, 6), (0, 6)]


def test_blas_runs_on_one_thread_with_the_pool_and_gets_its_threads_back(threads):
    libs = parallel._blas_controllers()
    if not libs:
        pytest.skip("no BLAS library that threadpoolctl can control")
    threads(1)
    before = [lib.get_num_threads() for lib in libs]
    threads(2)
    inside = []
    parallel.run(lambda a, b: inside.append([lib.get_num_threads() for lib in libs]), 2, work=1 << 20)
    assert inside == [[1] * len(libs)] * 2
    assert [lib.get_num_threads() for lib in libs] == [1] * len(libs)  # still: the pool is on
    parallel.run(lambda a, b: None, 2, work=0)  # even a region too small to split keeps BLAS on one thread
    assert [lib.get_num_threads() for lib in libs] == [1] * len(libs)
    threads(1)
    assert [lib.get_num_threads() for lib in libs] == before


LAYOUTS = [  # (batch, conv2d kwargs, nn.functional settings): each of the conv layouts
    (12, dict(padding=1), dict(CHUNK_POSITIONS=1)),  # wide
    (12, dict(stride=2, padding=1), {}),  # the whole batch in one chunk: its GEMMs are split by columns
    (12, dict(stride=2, padding=1), dict(CHUNK_BYTES=100_000)),  # 4 chunks of 3 images
    (7, dict(stride=2, padding=1, dilation=2, groups=2), dict(CHUNK_BYTES=100_000)),  # 3 chunks of 3: 2 padded
    (5, dict(stride=2), dict(CHUNK_POSITIONS=1)),  # one image per chunk
]


def assert_same_up_to_gemm_rounding(got, want):
    """float32 GEMMs may sum in another order when split differently: equal to a few ulps of the values' scale."""
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5 * np.abs(b).max())


@pytest.mark.parametrize("N, kwargs, settings", LAYOUTS)
def test_one_and_two_threads_agree_on_every_conv_layout(threads, monkeypatch, N, kwargs, settings):
    for name, value in settings.items():
        monkeypatch.setattr(F, name, value)
    arrays = conv_arrays(N=N, groups=kwargs.get("groups", 1))
    threads(1)
    serial = conv_step(*arrays, **kwargs)
    threads(2)
    assert_same_up_to_gemm_rounding(conv_step(*arrays, **kwargs), serial)


@pytest.mark.parametrize("window", [
    lambda x: ag.unfold(x, 3, stride=(1, 2), padding=1, dilation=(2, 1)),
    lambda x: ag.unfold(x.permute(1, 2, 3, 0).reshape(1, 8, 20, 20, 12), (3, 2), batch_last=True),
    lambda x: ag.unfold_wide(x, (3, 3), (1, 2)),
    lambda x: F.max_pool2d(x, 2),
    lambda x: F.avg_pool2d(x, 3, stride=2, padding=1),
])
def test_window_primitives_are_bit_identical_for_any_thread_count(threads, window):
    """No sums across parts: every element is computed by the same NumPy operation whoever computes it."""
    x_data = conv_arrays()[0]
    results = []
    for n in (1, 2, 3):
        threads(n)
        x = ag.tensor(x_data, requires_grad=True)
        y = window(x)
        y.backward(ag.tensor(np.sin(np.arange(y.size, dtype=np.float32)).reshape(y.shape)))
        results.append((y.data, x.grad.data))
    for y, gx in results[1:]:
        np.testing.assert_array_equal(y, results[0][0])
        np.testing.assert_array_equal(gx, results[0][1])


def test_two_user_threads_training_at_once_get_correct_gradients(threads):
    threads(2)
    jobs = [conv_arrays(seed=s) for s in range(2)]
    expected = [conv_step(*job, padding=1) for job in jobs]
    results, errors = [None, None], []

    def train(i):
        try:
            for _ in range(3):
                results[i] = conv_step(*jobs[i], padding=1)
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    workers = [threading.Thread(target=train, args=(i,)) for i in range(2)]
    for t in workers:
        t.start()
    for t in workers:
        t.join(timeout=120)
    assert not errors and not any(t.is_alive() for t in workers)
    for got, want in zip(results, expected):
        assert_same_up_to_gemm_rounding(got, want)


def test_user_threads_never_get_more_than_the_pools_threads(threads):
    """Only one region uses the pool at a time; the others run in their own (the user's) thread."""
    threads(2)
    lock = threading.Lock()
    running = {"pool": 0, "most": 0}
    barrier = threading.Barrier(4)

    def part(a, b):
        on_pool = threading.current_thread().name == "chainrule-worker"
        with lock:
            running["pool"] += on_pool
            running["most"] = max(running["most"], running["pool"])
        np.ones(1 << 16).sum()
        with lock:
            running["pool"] -= on_pool

    def user():
        barrier.wait()
        for _ in range(50):
            parallel.run(part, 8, work=1 << 20)

    users = [threading.Thread(target=user) for _ in range(4)]
    for t in users:
        t.start()
    for t in users:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in users)
    assert running["most"] <= ag.get_num_threads() - 1


def test_same_results_with_pytorch_loaded_in_the_process(threads):
    pytest.importorskip("torch")
    arrays = conv_arrays()
    threads(1)
    serial = conv_step(*arrays, padding=1)
    threads(2)
    import torch

    torch.ones(64, 64) @ torch.ones(64, 64)  # start PyTorch's own thread pool
    assert_same_up_to_gemm_rounding(conv_step(*arrays, padding=1), serial)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_gets_a_fresh_pool(threads):
    threads(2)
    arrays = conv_arrays()
    expected = conv_step(*arrays, padding=1)[2]
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its copy of the pool has no threads, so a new one must be started
        signal.alarm(60)  # a hang would be a failure, not a stuck test run
        ok = np.allclose(conv_step(*arrays, padding=1)[2], expected, rtol=1e-5, atol=1e-4)
        os.write(write, b"1" if ok else b"0")
        os._exit(0)
    os.close(write)
    status = os.waitpid(pid, 0)[1]
    assert os.read(read, 1) == b"1" and status == 0
