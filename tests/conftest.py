"""Shared fixtures: every test starts from chainrule's default global state."""
import pytest

import autograd as ag


@pytest.fixture(autouse=True)
def _restore_global_state():
    """A test that switches the default dtype or grad mode does not leak it into the next one."""
    dtype = ag.get_default_dtype()
    yield
    ag.set_default_dtype(dtype)
    ag.set_grad_enabled(True)
