"""shared_matmul and outer_sum: the GEMMs of a convolution, each the other's VJP partner."""
import numpy as np
import pytest

import autograd as ag
from autograd import parallel

from helpers import f64, raises

rng = np.random.default_rng(0)


@pytest.mark.parametrize("G, K, D, N, L", [(1, 3, 4, 5, 6), (2, 2, 3, 1, 4), (3, 1, 1, 2, 1)])
def test_shared_matmul_applies_the_group_weight_to_every_item(G, K, D, N, L):
    w, x = rng.standard_normal((G, K, D)), rng.standard_normal((N, G, D, L))
    np.testing.assert_allclose(ag.shared_matmul(f64(w), f64(x)).data, np.einsum("gkd,ngdl->ngkl", w, x), atol=1e-12)


@pytest.mark.parametrize("G, K, D, N, L", [(1, 3, 4, 5, 6), (2, 2, 3, 1, 4), (3, 1, 1, 2, 1)])
def test_outer_sum_sums_the_products_over_the_batch(G, K, D, N, L):
    a, b = rng.standard_normal((N, G, K, L)), rng.standard_normal((N, G, D, L))
    y = ag.outer_sum(f64(a), f64(b)).data
    np.testing.assert_allclose(y, np.einsum("ngkl,ngdl->gkd", a, b), atol=1e-12)
    assert y.flags.c_contiguous


def test_gradients_and_second_derivatives():
    w, x = f64(rng.standard_normal((2, 3, 4))), f64(rng.standard_normal((3, 2, 4, 5)))
    a = f64(rng.standard_normal((3, 2, 3, 5)))
    assert ag.gradcheck(ag.shared_matmul, [w, x]) and ag.gradgradcheck(ag.shared_matmul, [w, x])
    assert ag.gradcheck(ag.outer_sum, [a, x]) and ag.gradgradcheck(ag.outer_sum, [a, x])


def test_each_is_the_others_vjp():
    w, x = f64(rng.standard_normal((1, 2, 3))), f64(rng.standard_normal((2, 1, 3, 4)))
    y = ag.shared_matmul(w, x)
    g = f64(rng.standard_normal(y.shape))
    gw, gx = ag.grad(y, [w, x], g, create_graph=True)
    assert gw.grad_fn.name == "outer_sum" and gx.grad_fn.name == "shared_matmul"


def test_float32_in_float32_out_and_the_threads_agree_with_one_thread(monkeypatch):
    monkeypatch.setattr(parallel, "MIN_WORK", 0)  # split however small
    w = rng.standard_normal((1, 16, 72)).astype(np.float32)
    x = rng.standard_normal((9, 1, 72, 300)).astype(np.float32)  # split by items; one item: by columns
    before = ag.get_num_threads()
    try:
        results = []
        for threads in (1, 2):
            ag.set_num_threads(threads)
            results.append((ag.shared_matmul(ag.tensor(w), ag.tensor(x)).data,
                            ag.outer_sum(ag.tensor(x[:, :, :16]), ag.tensor(x)).data,
                            ag.shared_matmul(ag.tensor(w), ag.tensor(x[:1])).data,
                            ag.outer_sum(ag.tensor(x[:1, :, :16]), ag.tensor(x[:1])).data))
    finally:
        ag.set_num_threads(before)
    assert results[0][0].dtype == np.float32
    for one, two in zip(*results):  # BLAS may sum in another order on its own threads: float32 rounding
        np.testing.assert_allclose(one, two, rtol=1e-5, atol=1e-4)


def test_shape_errors_name_the_expected_layout():
    with raises(ValueError, "shared_matmul: expected w (G, K, D) and x (N, G, D, L), got shapes (2, 3, 4) and "
                            "(5, 2, 3, 6)"):
        ag.shared_matmul(ag.zeros(2, 3, 4), ag.zeros(5, 2, 3, 6))
    with raises(ValueError, "outer_sum: expected a (N, G, K, L) and b (N, G, D, L), got shapes (5, 2, 3, 6) and "
                            "(4, 2, 3, 6)"):
        ag.outer_sum(ag.zeros(5, 2, 3, 6), ag.zeros(4, 2, 3, 6))
