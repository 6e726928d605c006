"""Global switches read while a graph is built: grad mode, anomaly mode, the scope stack.

`no_grad()` / `enable_grad()` work as context managers and as decorators.
`scope(name)` names the part of the graph being built (a module or a composite);
every node records the scope it was created in, and `viz` turns scopes into clusters.
"""
import contextlib
import functools

_state = {"grad_enabled": True, "anomaly": False, "scope": ()}


def is_grad_enabled():
    """True when new operations record nodes for backward."""
    return _state["grad_enabled"]


def set_grad_enabled(mode):
    """Switch recording on or off; returns the previous mode."""
    previous = _state["grad_enabled"]
    _state["grad_enabled"] = bool(mode)
    return previous


class _GradMode(contextlib.ContextDecorator):
    """Context manager and decorator that sets grad mode for its body."""

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
    return _state["anomaly"]


def current_scope():
    """The tuple of scope names that new nodes are created in."""
    return _state["scope"]


@contextlib.contextmanager
def scope(name):
    """Push `name` on the scope stack while the body runs (`features.0 (Conv2d)`, `conv2d`)."""
    previous = _state["scope"]
    _state["scope"] = previous + (name,)
    try:
        yield
    finally:
        _state["scope"] = previous


def scoped(name):
    """Decorator: run a composite function inside `scope(name)`."""

    def decorate(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with scope(name):
                return fn(*args, **kwargs)

        return wrapper

    return decorate
