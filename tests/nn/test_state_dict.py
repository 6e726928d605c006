"""Module.load_state_dict is all or nothing: every key, shape and dtype is checked before anything is copied."""
import numpy as np
import pytest

import autograd as ag
from nn import models


def _snapshot(model):
    return {k: v.copy() for k, v in model.state_dict().items()}


def _unchanged(model, before):
    return all(np.array_equal(v, before[k]) for k, v in model.state_dict().items())


@pytest.mark.parametrize("spoil, message", [
    (lambda s: s.update({"classifier.3.bias": np.array(["a"] * 10)}), r"classifier.3.bias: cannot cast <U1 to float32"),
    (lambda s: s.update({"classifier.3.bias": np.zeros(9, np.float32)}), r"expected shape \(10,\), got \(9,\)"),
    (lambda s: s.pop("classifier.3.bias"), "missing keys: classifier.3.bias"),
    (lambda s: s.update({"classifier.9.weight": np.zeros(2)}), "unexpected keys: classifier.9.weight"),
])
def test_a_bad_last_entry_changes_nothing(spoil, message):
    ag.manual_seed(0)
    source = models.DigitsCNN()
    ag.manual_seed(1)
    target = models.DigitsCNN()
    before = _snapshot(target)
    state = source.state_dict()  # the spoiled entry comes last: the earlier ones would be copied first
    spoil(state)
    with pytest.raises(RuntimeError, match=message):
        target.load_state_dict(state)
    assert _unchanged(target, before)


def test_float_into_an_integer_buffer_is_refused_whole():
    model = models.ResNet(widths=(4, 8, 8))
    state = model.state_dict()
    before = _snapshot(model)
    state = {k: v + 1 if v.dtype.kind == "f" else v.astype(np.float64) + 0.5 for k, v in state.items()}
    with pytest.raises(RuntimeError, match=r"num_batches_tracked: cannot cast float64 to int64"):
        model.load_state_dict(state)
    assert _unchanged(model, before)


def test_compatible_dtypes_are_cast_and_every_tensor_is_written():
    ag.manual_seed(0)
    source = models.DigitsCNN()
    target = models.DigitsCNN()
    state = {k: v.astype(np.float64) for k, v in source.state_dict().items()}
    target.load_state_dict(state)
    for key, value in target.state_dict().items():
        assert value.dtype == np.float32
        np.testing.assert_array_equal(value, source.state_dict()[key])
