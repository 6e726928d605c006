"""Per-thread switches read while a graph is built: grad mode, anomaly mode, the scope stack.

They live in thread-local state, as in PyTorch: `no_grad()` in an evaluation thread leaves
a training thread recording, and every new thread starts with grad mode on, anomaly mode
off and an empty scope stack. `no_grad()` / `enable_grad()` work as context managers and
as decorators. `scope(name)` names the part of the graph being built (a module or a
composite); every node records the scope it was created in, and `viz` turns scopes into
clusters.
"""
import contextlib
import functools
import threading


class _ThreadState(threading.local):
    """The defaults below are what each thread sees until it changes them."""

    grad_enabled = True
    anomaly = False
    scope = ()


state = _ThreadState()


def is_grad_enabled():
    """True when new operations record nodes for backward (in this thread)."""
    return state.grad_enabled


def set_grad_enabled(mode):
    """Switch recording on or off in this thread; returns the previous mode."""
    previous = state.grad_enabled
    state.grad_enabled = bool(mode)
    return previous


class _GradMode(contextlib.ContextDecorator):
    """Context manager and decorator that sets this thread's grad mode for its body."""

    mode = True

    def __enter__(self):
        self._previous = set_grad_enabled(self.mode)
        return self

    def __exit__(self, *exc):
        set_grad_enabled(self._previous)
        return False

    def _recreate_cm(self):
        return type(self)()


class no_grad(_GradMode):
    """Operations inside build no graph: `with no_grad(): ...` or `@no_grad()`."""

    mode = False


class enable_grad(_GradMode):
    """Turn recording back on inside a `no_grad` block."""

    mode = True


def is_anomaly_enabled():
    return state.anomaly


@contextlib.contextmanager
def anomaly_mode(enabled):
    """Set this thread's anomaly mode for the body (used by `detect_anomaly`)."""
    previous = state.anomaly
    state.anomaly = enabled
    try:
        yield
    finally:
        state.anomaly = previous


def current_scope():
    """The tuple of scope names that new nodes are created in."""
    return state.scope


@contextlib.contextmanager
def scope(name):
    """Push `name` on this thread's scope stack while the body runs (`features.0 (Conv2d)`, `conv2d`)."""
    previous = state.scope
    state.scope = previous + (name,)
    try:
        yield
    finally:
        state.scope = previous


def scoped(name):
    """Decorator: run a composite function inside `scope(name)`."""

    def decorate(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with scope(name):
                return fn(*args, **kwargs)

        return wrapper

    return decorate
