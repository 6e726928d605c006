"""Factories: PyTorch's names and arguments, the default float dtype, the seeded generator."""
import numpy as np
import pytest

import autograd as ag


def test_eye_linspace_empty_give_the_default_float_dtype():
    assert ag.eye(3).tolist() == np.eye(3).tolist() and ag.eye(3).dtype == np.float32
    assert ag.eye(2, 3, dtype=np.int64).tolist() == [[1, 0, 0], [0, 1, 0]]
    assert ag.linspace(0, 1, 5).tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert ag.empty(2, 3).shape == (2, 3) and ag.empty((4,)).dtype == np.float32
    ag.set_default_dtype(np.float64)
    assert ag.eye(2).dtype == ag.linspace(0, 1, 3).dtype == np.float64


def test_like_factories_take_the_shape_and_dtype_of_their_model():
    t = ag.tensor(np.zeros((2, 3), np.float64))
    assert ag.full_like(t, 7).dtype == np.float64 and ag.full_like(t, 7).tolist() == [[7.0] * 3] * 2
    assert ag.full_like(t, 7, dtype=np.int32).dtype == np.int32
    r = ag.randn_like(t, requires_grad=True)
    assert r.shape == (2, 3) and r.dtype == np.float64 and r.requires_grad


def test_randint_takes_torchs_two_forms_and_follows_the_seed():
    ag.manual_seed(0)
    a = ag.randint(10, (3, 4))
    ag.manual_seed(0)
    b = ag.randint(0, 10, size=(3, 4))
    assert a.tolist() == b.tolist() and a.dtype == np.int64
    assert 5 <= ag.randint(5, 7, (100,)).data.min() and ag.randint(5, 7, (100,)).data.max() < 7
    assert ag.randint(3, size=(2,)).shape == (2,)
    with pytest.raises(TypeError, match=r"randint: expected a size"):
        ag.randint(3)


def test_from_numpy_takes_a_numpy_scalar_as_a_0d_tensor():
    t = ag.from_numpy(np.float32(2.5))
    assert t.shape == () and t.dtype == np.float32 and t.item() == 2.5
