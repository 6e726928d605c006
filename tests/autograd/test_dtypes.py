"""Type promotion: one rule (`autograd.dtypes.result_type`), PyTorch's, for every elementwise op."""
import numpy as np
import pytest

import autograd as ag
from autograd.dtypes import result_type

I32 = np.int32


def test_python_numbers_never_widen_a_tensors_float_dtype():
    assert (ag.tensor([1.0, 2.0]) + 0.5).dtype == np.float32
    assert (ag.tensor([1.0, 2.0], dtype=np.float64) * 2).dtype == np.float64
    assert (ag.tensor(1) + 0.5).dtype == np.float32  # an int tensor and a float: the default float dtype


def test_numbers_reused_from_the_cache_keep_their_sign_nan_and_dtype():
    """Python numbers become cached NumPy scalars per (value, type, dtype): 0.0 must not answer for −0.0, nor
    a float32 0.1 for a float64 one, and NaN stays NaN (each product is taken twice: the second reads the cache)."""
    x32, x64 = ag.tensor([1.0, -2.0]), ag.tensor([1.0, -2.0], dtype=np.float64, requires_grad=True)
    for _ in range(2):
        assert np.signbit((x32 * 0).data).tolist() == [False, True]
        assert np.signbit((x32 * 0.0).data).tolist() == [False, True]
        assert np.signbit((x32 * -0.0).data).tolist() == [True, False]
        assert np.isnan((x32 * float("nan")).data).all()
        assert (x32 * 0.1).data.tolist() == (np.array([1.0, -2.0], np.float32) * np.float32(0.1)).tolist()
        assert (x64 * 0.1).data.tolist() == [0.1, -0.2]
    y = (x64 * -0.0).sum()
    y.backward()
    assert np.signbit(x64.grad.data).all()  # ∂(−0.0·x)/∂x = −0.0


def test_integer_tensors_meet_floats_in_the_default_float_dtype():
    i = ag.tensor(np.array([1, 4], I32))
    assert ag.exp(ag.tensor(2)).dtype == np.float32
    assert (i ** 0.5).dtype == np.float32
    assert (i / i).dtype == np.float32 and (i / i).tolist() == [1.0, 1.0]
    assert ag.maximum(i, ag.tensor(1.5)).dtype == np.float32
    assert ag.minimum(ag.tensor(1.5), i).dtype == np.float32
    ag.set_default_dtype(np.float64)
    assert (i / i).dtype == np.float64 and (ag.tensor(1) + 0.5).dtype == np.float64


def test_zero_dim_tensors_do_not_widen_tensors_with_axes_of_the_same_kind():
    x = ag.tensor([1.0, 2.0])
    assert (x + ag.tensor(1.0, dtype=np.float64)).dtype == np.float32
    assert (ag.tensor(np.array([1, 2], np.int8)) + ag.tensor(3)).dtype == np.int8
    assert (x + ag.tensor([1.0], dtype=np.float64)).dtype == np.float64  # both have axes: the wider wins
    assert (ag.tensor(2, dtype=I32) * ag.tensor(2.5, dtype=np.float64)).dtype == np.float64


def test_where_promotes_its_branches_by_the_same_rule():
    assert ag.where(np.array([True, False]), ag.tensor(np.array([1, 2], I32)), 1.5).dtype == np.float32
    assert ag.where(np.array([True, False]), 1.0, 0.0).dtype == np.float32


def test_a_cast_operand_still_gets_its_gradient_in_its_own_dtype():
    w = ag.tensor(2.0, dtype=np.float64, requires_grad=True)
    y = ag.tensor([1.0, 3.0]) * w  # float32 (2,) · float64 (): float32, like PyTorch
    assert y.dtype == np.float32
    y.sum().backward()
    assert w.grad.dtype == np.float64 and w.grad.item() == 4.0


@pytest.mark.parametrize("a, b", [
    (np.ones(2, I32), 0.5), (np.ones(2, I32), np.float32(1.0)), (np.ones(2, np.float32), np.ones((), np.float64)),
    (np.ones(2, np.uint8), np.ones(2, np.int8)), (np.ones(2, bool), 1), (np.ones(2, bool), 1.5),
    (np.ones((), np.int64), 0.5), (np.ones(2, np.float16), np.ones(2, np.int64)), (np.ones(2, I32), True),
    (np.ones((), np.float64), np.ones((), np.float32)), (np.ones(2, np.int16), np.ones((), np.float64)),
])
def test_result_type_agrees_with_torch(a, b):
    torch = pytest.importorskip("torch")
    as_torch = [torch.tensor(v) if isinstance(v, (np.ndarray, np.generic)) else v for v in (a, b)]
    expected = (as_torch[0] + as_torch[1]).dtype
    assert str(result_type(a, b)) == str(expected).removeprefix("torch.")
