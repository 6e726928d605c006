"""Shared fixtures: float64 leaves for gradchecks, and a clean global state around every test."""
import numpy as np
import pytest

import autograd as ag


@pytest.fixture(autouse=True)
def _restore_global_state():
    """A test that switches the default dtype or grad mode does not leak it into the next one."""
    dtype = ag.get_default_dtype()
    yield
    ag.set_default_dtype(dtype)
    ag.set_grad_enabled(True)


@pytest.fixture(scope="session")
def leaf():
    """leaf(shape, low=-2, high=2, seed=0): a float64 leaf requiring grad, uniform values in [low, high)."""

    def make(shape=(), low=-2.0, high=2.0, seed=0):
        data = np.random.default_rng(seed).uniform(low, high, shape)
        return ag.tensor(data, dtype=np.float64, requires_grad=True)

    return make
