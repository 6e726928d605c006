"""Grad mode, anomaly mode and the scope stack are per thread, as in PyTorch."""
import threading

import numpy as np

import autograd as ag
import nn
import optim


def run_in_threads(*targets):
    """Start one thread per target, wait for all; re-raise the first exception any of them hit."""
    errors = []

    def guarded(fn):
        def run():
            try:
                fn()
            except BaseException as error:  # noqa: BLE001  (reported to the test below)
                errors.append(error)
        return run

    threads = [threading.Thread(target=guarded(fn)) for fn in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


def test_no_grad_in_one_thread_leaves_another_recording():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    inside, stop = threading.Event(), threading.Event()
    recorded = []

    def evaluate():
        with ag.no_grad():
            inside.set()
            stop.wait(5)

    def train():
        inside.wait(5)
        for _ in range(2000):
            recorded.append((x * 2).sum().requires_grad)
        stop.set()

    run_in_threads(evaluate, train)
    assert all(recorded) and len(recorded) == 2000


def test_a_new_thread_starts_recording_even_when_its_parent_is_in_no_grad():
    seen = []
    with ag.no_grad():
        run_in_threads(lambda: seen.append((ag.is_grad_enabled(), ag.tensor(1.0, requires_grad=True) * 2)))
    enabled, y = seen[0]
    assert enabled and y.grad_fn is not None and ag.is_grad_enabled()


def test_interleaved_exits_restore_each_threads_own_mode():
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()
    after = {}

    def a():
        with ag.no_grad():
            a_in.set()
            b_in.wait(5)
        a_out.set()
        after["a"] = ag.is_grad_enabled()

    def b():
        a_in.wait(5)
        with ag.no_grad():
            b_in.set()
            a_out.wait(5)
        after["b"] = ag.is_grad_enabled()

    run_in_threads(a, b)
    assert after == {"a": True, "b": True} and ag.is_grad_enabled()


def test_anomaly_mode_and_scopes_are_per_thread():
    ready, done = threading.Event(), threading.Event()
    seen = {}

    def other():
        ready.wait(5)
        y = ag.tensor(1.0, requires_grad=True) * 2
        seen["scope"], seen["site"] = y.grad_fn.scope, y.grad_fn.site
        done.set()

    def main():
        with ag.detect_anomaly(), ag.scope("mine"):
            ready.set()
            done.wait(5)

    run_in_threads(main, other)
    assert seen == {"scope": (), "site": None}


def _setup(seed):
    """A small regression model, its optimizer and data, drawn from seed (in the calling thread)."""
    ag.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))
    return model, optim.SGD(model.parameters(), lr=0.1), ag.tensor(rng.standard_normal((16, 4))), \
        ag.tensor(rng.standard_normal((16, 1)))


def _train(model, opt, x, y, steps=60):
    for _ in range(steps):
        opt.zero_grad()
        ((model(x) - y) ** 2).mean().backward()
        opt.step()
        with ag.no_grad():  # an evaluation inside the loop flips this thread's mode only
            ((model(x) - y) ** 2).mean()
    return [p.data.copy() for p in model.parameters()]


def test_two_threads_training_two_models_get_exactly_the_single_thread_results():
    alone = {seed: _train(*_setup(seed)) for seed in (1, 2)}
    jobs = {seed: _setup(seed) for seed in (1, 2)}
    together = {}
    run_in_threads(*[lambda seed=seed: together.__setitem__(seed, _train(*jobs[seed])) for seed in (1, 2)])
    for seed in (1, 2):
        for a, b in zip(alone[seed], together[seed]):
            np.testing.assert_array_equal(a, b)
