"""Moving and picking values: PyTorch's values and gradients, adjoint pairs, and errors that name what came."""
import numpy as np
import pytest

import autograd as ag

from helpers import f64, gradcheck_and_torch, op_names, torch_fn

RNG = np.random.default_rng(0)


def rand(*shape):
    return RNG.uniform(-2, 2, shape)


def method(name, *args, **kwargs):
    """PyTorch's Tensor.name(*args, **kwargs), as a function of the tensor."""
    return lambda t: getattr(t, name)(*args, **kwargs)


MOVES = [  # (ours, theirs, input shape)
    (lambda x: ag.flip(x, 0), method("flip", 0), (3, 4)),
    (lambda x: ag.flip(x, (0, 2)), method("flip", (0, 2)), (2, 3, 4)),
    (lambda x: ag.roll(x, 2, 1), method("roll", 2, 1), (3, 5)),
    (lambda x: ag.roll(x, (-1, 7), (0, 1)), method("roll", (-1, 7), (0, 1)), (3, 5)),
    (lambda x: ag.roll(x, 4), method("roll", 4), (3, 5)),
    (lambda x: ag.repeat(x, 2, 3), method("repeat", 2, 3), (2, 3)),
    (lambda x: ag.repeat(x, (2, 1, 2)), method("repeat", 2, 1, 2), (4, 1)),
    (lambda x: ag.tile(x, (2,)), method("tile", (2,)), (2, 3)),
    (lambda x: ag.tril(x), method("tril"), (4, 4)),
    (lambda x: ag.tril(x, -1), method("tril", -1), (2, 3, 5)),
    (lambda x: ag.triu(x, 1), method("triu", 1), (5, 3)),
    (lambda x: ag.diag(x), torch_fn("diag"), (4,)),
    (lambda x: ag.diag(x, -2), lambda t: torch_fn("diag")(t, -2), (3,)),
    (lambda x: ag.diag(x), torch_fn("diag"), (3, 5)),
    (lambda x: ag.diag(x, 2), lambda t: torch_fn("diag")(t, 2), (4, 5)),
    (lambda x: ag.diag(x, -1), lambda t: torch_fn("diag")(t, -1), (4, 3)),
    (lambda x: ag.index_select(x, 1, [3, 0, 3]), lambda t: t.index_select(1, _long([3, 0, 3])), (2, 4)),
    (lambda x: ag.masked_fill(x, x.data > 0.5, -1.0), lambda t: t.masked_fill(t > 0.5, -1.0), (3, 4)),
    (lambda x: ag.sort(x, 1).values, lambda t: t.sort(stable=True, dim=1).values, (3, 6)),
    (lambda x: ag.sort(x, 0, descending=True).values, lambda t: t.sort(0, descending=True).values, (5, 2)),
    (lambda x: ag.topk(x, 2).values, lambda t: t.topk(2).values, (3, 5)),
    (lambda x: ag.topk(x, 3, 0, largest=False).values, lambda t: t.topk(3, 0, largest=False).values, (4, 2)),
]


def _long(values):
    import torch

    return torch.tensor(values)


@pytest.mark.parametrize("ours, theirs, shape", MOVES)
def test_movement_matches_torch(ours, theirs, shape):
    gradcheck_and_torch(ours, theirs, rand(*shape))


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_gather_scatter_add_scatter_match_torch(dim):
    x, src = rand(3, 4), rand(2, 3)
    index = RNG.integers(0, x.shape[dim], (2, 3))
    gradcheck_and_torch(lambda t, i: ag.gather(t, dim, i), lambda t, i: t.gather(dim, i), x, index)
    gradcheck_and_torch(lambda t, i, s: ag.scatter_add(t, dim, i, s), lambda t, i, s: t.scatter_add(dim, i, s),
                        x, index, src)
    unique = np.argsort(RNG.random((3, 4)), axis=dim)[:2, :3]  # no repeats along dim: scatter is then defined
    gradcheck_and_torch(lambda t, i, s: ag.scatter(t, dim, i, s), lambda t, i, s: t.scatter(dim, i, s),
                        x, unique, src)


def test_scatter_uses_the_leading_part_of_a_larger_source_like_torch():
    x, src = f64(np.zeros((2, 3))), f64(np.arange(6.0).reshape(2, 3))
    assert ag.scatter_add(x, 1, [[2], [0]], src).tolist() == [[0.0, 0.0, 0.0], [3.0, 0.0, 0.0]]


def test_scatter_with_a_number_and_repeated_indices_adding_up():
    x = f64(np.zeros((2, 3)))
    assert ag.scatter(x, 1, [[2], [0]], 5.0).tolist() == [[0.0, 0.0, 5.0], [5.0, 0.0, 0.0]]
    assert ag.scatter_add(x, 1, [[1, 1]], f64([[2.0, 3.0]])).tolist() == [[0.0, 5.0, 0.0], [0.0, 0.0, 0.0]]


@pytest.mark.parametrize("sizes", [2, [1, 3, 1], 5])
def test_split_and_chunk_match_torch(sizes):
    x = rand(5, 2)
    for i in range(len(torch_fn("split")(_long(np.zeros(5)), sizes))):
        gradcheck_and_torch(lambda t: ag.split(t, sizes)[i], lambda t: t.split(sizes)[i], x)
    assert [p.shape for p in ag.chunk(f64(x), 3)] == [(2, 2), (2, 2), (1, 2)]
    assert [p.shape for p in ag.chunk(f64(x), 2, dim=1)] == [(5, 1), (5, 1)]


def test_sort_is_stable_puts_nan_last_and_returns_indices_like_torch():
    x = f64([3.0, 1.0, np.nan, 2.0, 1.0])
    values, indices = ag.sort(x)
    np.testing.assert_array_equal(values.data, [1.0, 1.0, 2.0, 3.0, np.nan])
    assert indices.tolist() == [1, 4, 3, 0, 2] and indices.dtype == np.int64
    values, indices = ag.sort(x, descending=True)
    assert indices.tolist() == [2, 0, 3, 1, 4]
    values.sum().backward()
    np.testing.assert_array_equal(x.grad.data, np.ones(5))
    assert ag.topk(x[:2], 1).indices.tolist() == [0]


def test_diag_vector_and_matrix_are_adjoint():
    """⟨diag(v), M⟩ = ⟨v, diag(M)⟩: the two forms are each other's transpose."""
    v, m = rand(4), rand(4, 4)
    np.testing.assert_allclose((ag.diag(f64(v)) * f64(m)).sum().item(), (f64(v) * ag.diag(f64(m))).sum().item())


def test_gather_and_scatter_add_are_adjoint():
    x, g = rand(3, 4), rand(3, 2)
    index = RNG.integers(0, 4, (3, 2))
    lhs = (ag.gather(f64(x), 1, index) * f64(g)).sum().item()
    rhs = (f64(x) * ag.scatter_add(f64(np.zeros((3, 4))), 1, index, f64(g))).sum().item()
    np.testing.assert_allclose(lhs, rhs)


def test_indexing_ops_have_no_backward_code_of_their_own():
    x = f64(rand(4, 4))
    y = (ag.flip(x, 0) + ag.roll(x, 1, 0) + ag.tril(x) + ag.gather(x, 0, np.zeros((4, 4), int))).sum()
    y = y + ag.repeat(x, 2, 1).sum() + ag.sort(x, 1).values.sum() + ag.diag(ag.diag(x)).sum()
    assert op_names(y) <= {"getitem", "concatenate", "where", "reshape", "broadcast_to", "index_add", "add", "sum"}


@pytest.mark.parametrize("call, error, message", [
    (lambda x: ag.gather(x, 1, np.array([[0, 4]])), IndexError,
     r"gather: index 4 is out of range for dim 1 of size 4"),
    (lambda x: ag.gather(x, 0, np.array([0, 1])), ValueError, r"gather: index has 1 dimensions, input has 2"),
    (lambda x: ag.gather(x, 0, np.array([[0.0]])), TypeError, r"gather: index must hold integers, got dtype float64"),
    (lambda x: ag.scatter_add(x, 0, np.zeros((1, 5), int), x), ValueError,
     r"scatter_add: index of shape \(1, 5\) is larger than input \(3, 4\) outside dim 0"),
    (lambda x: ag.index_select(x, 0, [[0]]), ValueError, r"index_select: expected a 1-d index, got shape \(1, 1\)"),
    (lambda x: ag.masked_fill(x, np.ones((3, 4), int), 0.0), TypeError,
     r"masked_fill: expected a bool mask, got dtype int64"),
    (lambda x: ag.split(x, [1, 1]), ValueError, r"split: sections \[1, 1\] add up to 2, dim 0 has size 3"),
    (lambda x: ag.topk(x, 5), ValueError, r"topk: k=5 is out of range for dim -1 of size 4"),
    (lambda x: ag.tril(x[0]), ValueError, r"tril: expected a matrix or a batch of matrices, got shape \(4,\)"),
    (lambda x: ag.diag(x[None]), ValueError, r"diag: expected a vector or a matrix, got shape \(1, 3, 4\)"),
    (lambda x: ag.repeat(x, 2), ValueError, r"repeat: expected at least 2 sizes for a tensor of shape \(3, 4\)"),
    (lambda x: ag.roll(x, (1, 2), 0), ValueError, r"roll: expected one shift per dim"),
    (lambda x: ag.flip(x, 2), ValueError, r"flip: axis 2 is out of range for a tensor with 2 dimensions"),
])
def test_errors_name_what_was_expected_and_what_came(call, error, message):
    with pytest.raises(error, match=message):
        call(f64(rand(3, 4)))


def test_tensor_methods_take_pytorchs_arguments():
    x = f64(rand(3, 4))
    assert x.flip(0, 1).tolist() == ag.flip(x, (0, 1)).tolist() and x.flip((1,)).tolist() == ag.flip(x, 1).tolist()
    assert x.roll(1, 0).tolist() == ag.roll(x, 1, 0).tolist()
    assert x.repeat(2, 1).shape == (6, 4) and x.tile(2).shape == (3, 8) and x.tile(2, 1).shape == (6, 4)
    assert [p.shape for p in x.split(3, dim=1)] == [(3, 3), (3, 1)] and len(x.chunk(3)) == 3
    assert x.tril(1).tolist() == ag.tril(x, 1).tolist() and x.triu().tolist() == ag.triu(x).tolist()
    assert x.diag().shape == (3,)
    index = np.array([[0, 3], [1, 1], [2, 0]])
    assert x.gather(1, index).tolist() == ag.gather(x, 1, index).tolist()
    assert x.scatter(1, index, 0.0).tolist() == ag.scatter(x, 1, index, 0.0).tolist()
    assert x.scatter_add(1, index, x[:, :2]).tolist() == ag.scatter_add(x, 1, index, x[:, :2]).tolist()
    assert x.index_select(0, [2]).shape == (1, 4) and x.masked_fill(x.data > 0, 0.0).data.max() <= 0
    assert x.sort(dim=0, descending=True).indices.tolist() == ag.sort(x, 0, True).indices.tolist()
    assert x.topk(2, largest=False).values.tolist() == ag.topk(x, 2, largest=False).values.tolist()


@pytest.mark.parametrize("fn", [
    lambda x: ag.cumprod(x, 1), lambda x: ag.cumsum(x, 0), lambda x: ag.prod(x, 1),
    lambda x: ag.einsum("ij,kj->ik", x, x), lambda x: ag.sort(x, 1).values, lambda x: ag.roll(x, (3, -5), (0, 1)),
    lambda x: ag.gather(x, 1, np.random.default_rng(0).integers(0, 300, (40, 500))), lambda x: ag.logsumexp(x, 0),
], ids=["cumprod", "cumsum", "prod", "einsum", "sort", "roll", "gather", "logsumexp"])
def test_vjps_pass_the_dot_product_test_on_large_shapes(fn):
    """⟨v, J·u⟩ = ⟨Jᵀ·v, u⟩ on a 40×300 input: a wrong VJP anywhere in the composite shows. The values are
    distinct and far apart against the probe's step, so no sorted order flips."""
    x = f64(0.9 + 0.2 * np.random.default_rng(1).permutation(12000).reshape(40, 300) / 12000)
    lhs, rhs = ag.dot_product_check(fn, [x])
    np.testing.assert_allclose(lhs, rhs, rtol=1e-5)
