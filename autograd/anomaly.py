"""detect_anomaly: stop at the first op whose output or gradient holds NaN or inf.

Inside the context every node records the user's line that created it; the
forward raises on a non-finite output, the backward on a non-finite gradient,
naming the op and that line.
"""
import contextlib

from .grad_mode import _state


@contextlib.contextmanager
def detect_anomaly():
    previous = _state["anomaly"]
    _state["anomaly"] = True
    try:
        yield
    finally:
        _state["anomaly"] = previous
