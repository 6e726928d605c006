"""detect_anomaly: stop at the first op whose output or gradient holds NaN or inf.

Inside the context (per thread) every node records the user's line that created it;
the forward raises on a non-finite output, the backward on a non-finite gradient,
naming the op and that line.
"""
from .grad_mode import anomaly_mode


def detect_anomaly():
    """`with detect_anomaly(): ...` turns anomaly mode on for this thread."""
    return anomaly_mode(True)
