"""Per-thread switches read while a graph is built: grad mode, anomaly mode, the scope stack
(and, for the engine, whether the VJP running now works on raw arrays).

Each lives in a `contextvars.ContextVar`, so it is per thread as in PyTorch (and per asyncio
task): `no_grad()` in an evaluation thread leaves a training thread recording, and every new
thread starts with grad mode on, anomaly mode off and an empty scope stack. A ContextVar read
costs about what a dict lookup does (a `threading.local` attribute, measured here: 2.5× that,
and every recorded op reads these switches several times). `no_grad()` / `enable_grad()` work
as context managers and as decorators. `scope(name)` names the part of the graph being built (a
module or a composite); every node records the scope it was created in, and `viz` turns scopes
into clusters.
"""
import contextlib
import contextvars
import functools

GRAD_ENABLED = contextvars.ContextVar("chainrule_grad_enabled", default=True)
ANOMALY = contextvars.ContextVar("chainrule_anomaly", default=False)
SCOPE = contextvars.ContextVar("chainrule_scope", default=())
#: True while a primitive's VJP runs on raw NumPy arrays (a backward that records no graph of its own):
#: then a primitive applied to arrays only returns arrays, and `saved_tensors` gives arrays.
VJP_ON_ARRAYS = contextvars.ContextVar("chainrule_vjp_on_arrays", default=False)


class _State:
    """The three switches as attributes (`state.scope = ...`); hot paths read the ContextVars directly."""

    grad_enabled = property(lambda self: GRAD_ENABLED.get(), lambda self, value: GRAD_ENABLED.set(value))
    anomaly = property(lambda self: ANOMALY.get(), lambda self, value: ANOMALY.set(value))
    scope = property(lambda self: SCOPE.get(), lambda self, value: SCOPE.set(value))


state = _State()


def is_grad_enabled():
    """True when new operations record nodes for backward (in this thread)."""
    return GRAD_ENABLED.get()


def set_grad_enabled(mode):
    """Switch recording on or off in this thread; returns the previous mode."""
    previous = GRAD_ENABLED.get()
    GRAD_ENABLED.set(bool(mode))
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
    return ANOMALY.get()


@contextlib.contextmanager
def anomaly_mode(enabled):
    """Set this thread's anomaly mode for the body (used by `detect_anomaly`)."""
    previous = ANOMALY.get()
    ANOMALY.set(enabled)
    try:
        yield
    finally:
        ANOMALY.set(previous)


def current_scope():
    """The tuple of scope names that new nodes are created in."""
    return SCOPE.get()


class ScopeName(str):
    """One entry of the scope stack: text like any string, but a new object per `scope()` call, so two
    calls of one composite in one place (two conv2d layers in a Sequential) stay apart by identity."""

    __slots__ = ()


@contextlib.contextmanager
def scope(name):
    """Push `name` on this thread's scope stack while the body runs (`features.0 (Conv2d)`, `conv2d`)."""
    previous = SCOPE.get()
    SCOPE.set(previous + (ScopeName(name),))
    try:
        yield
    finally:
        SCOPE.set(previous)


def scoped(name):
    """Decorator: run a composite function inside `scope(name)`."""

    def decorate(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with scope(name):
                return fn(*args, **kwargs)

        return wrapper

    return decorate
