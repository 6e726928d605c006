"""detect_anomaly names the op (and the user's line) where a NaN or inf first appears."""
import numpy as np
import pytest

import autograd as ag

from helpers import f64


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_log_of_a_negative_names_log_and_the_users_line():
    x = f64([-1.0, 2.0])
    with ag.detect_anomaly():
        with pytest.raises(FloatingPointError) as info:
            x.log()  # the line the error must point at
    message = str(info.value)
    assert "'log'" in message and "NaN/inf" in message
    assert "test_anomaly.py" in message and "x.log()  # the line the error must point at" in message


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_nan_arising_only_in_backward_names_the_op():
    x = f64([0.0, 4.0])
    with ag.detect_anomaly():
        y = x.sqrt()  # finite forward: sqrt(0) = 0; its VJP ḡ/(2√x) is inf at 0
        loss = (y * 3).sum()
        with pytest.raises(FloatingPointError) as info:
            loss.backward()
    message = str(info.value)
    assert "backward of 'sqrt'" in message and "input 0" in message
    assert "y = x.sqrt()" in message


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_without_detect_anomaly_nan_passes_silently():
    x = f64([0.0])
    x.sqrt().sum().backward()
    assert np.isinf(x.grad.data).all()
    assert (x * 2).grad_fn.trace is None


def test_detect_anomaly_is_off_again_after_the_block():
    with ag.detect_anomaly():
        assert (f64([1.0]) * 2).grad_fn.trace is not None
    assert (f64([1.0]) * 2).grad_fn.trace is None
    with ag.detect_anomaly():
        y = (f64([1.0, 2.0]) * 2).sum()
        y.backward()  # finite everywhere: no error
