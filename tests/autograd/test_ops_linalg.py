"""matmul: NumPy's rules for 1-d, 2-d and batched operands with broadcast leading axes."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import mutually_broadcastable_shapes

import autograd as ag

from helpers import randn

FEW = settings(max_examples=20, deadline=None)


@pytest.mark.parametrize("ashape, bshape", [
    ((3, 4), (4, 2)), ((4,), (4, 2)), ((3, 4), (4,)), ((4,), (4,)), ((2, 1, 3, 4), (5, 4, 2)),
    ((2, 3, 4), (4,)), ((3,), (2, 3, 2)), ((1, 4), (4, 1)), ((2, 3, 4), (2, 4, 5)),
])
def test_matmul_forward_matches_numpy_and_gradchecks(ashape, bshape):
    a, b = randn(*ashape), randn(*bshape, seed=1)
    y = a @ b
    np.testing.assert_allclose(y.data, a.data @ b.data)
    y.sum().backward()
    assert a.grad.shape == ashape and b.grad.shape == bshape
    assert ag.gradcheck(ag.matmul, [a, b])


@FEW
@given(batch=mutually_broadcastable_shapes(num_shapes=2, max_dims=2, max_side=3),
       m=st.integers(1, 3), k=st.integers(1, 3), n=st.integers(1, 3), seed=st.integers(0, 2**16))
def test_batched_matmul_broadcasts_leading_axes(batch, m, k, n, seed):
    a = randn(*batch.input_shapes[0], m, k, seed=seed)
    b = randn(*batch.input_shapes[1], k, n, seed=seed + 1)
    assert (a @ b).shape == batch.result_shape + (m, n)
    assert ag.gradcheck(ag.matmul, [a, b])


def test_matmul_gradients_are_the_transposed_products():
    a, b = randn(3, 4), randn(4, 2, seed=1)
    g = np.random.default_rng(2).standard_normal((3, 2))
    (a @ b).backward(ag.tensor(g))
    np.testing.assert_allclose(a.grad.data, g @ b.data.T)
    np.testing.assert_allclose(b.grad.data, a.data.T @ g)


@pytest.mark.parametrize("ashape, bshape", [((64, 48), (48, 32)), ((4, 1, 20, 30), (3, 30, 10)), ((50,), (7, 50, 9))])
def test_matmul_passes_the_dot_product_test_on_large_shapes(ashape, bshape):
    ag.dot_product_check(ag.matmul, [randn(*ashape), randn(*bshape, seed=1)])


def test_matmul_with_ndarrays_on_either_side():
    a = randn(2, 3)
    w = np.ones((3, 2))
    np.testing.assert_allclose((a @ w).data, a.data @ w)
    np.testing.assert_allclose((w.T @ a.T).data, w.T @ a.data.T)
    (np.ones((4, 2)) @ a).sum().backward()
    np.testing.assert_allclose(a.grad.data, np.full((2, 3), 4.0))


def test_matmul_errors_name_both_shapes():
    with pytest.raises(ValueError, match=r"matmul: shapes \(2, 3\) and \(4, 2\) do not align \(3 ≠ 4\)"):
        randn(2, 3) @ randn(4, 2)
    with pytest.raises(ValueError, match=r"matmul: both operands need at least one dimension, got shapes \(\) and"):
        ag.matmul(randn(), randn(3))
