"""einsum: PyTorch's values and gradients, composed from existing primitives only."""
import numpy as np
import pytest

import autograd as ag

from helpers import f64, gradcheck_and_torch, op_names, torch_fn

EQUATIONS = [  # (subscripts, operand shapes)
    ("ij,jk->ik", [(2, 3), (3, 4)]), ("ij,jk", [(2, 3), (3, 4)]), ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
    ("i,i->", [(4,), (4,)]), ("i,j->ij", [(3,), (2,)]), ("ij->ji", [(2, 3)]), ("ii->i", [(3, 3)]), ("ii", [(3, 3)]),
    ("ij->", [(2, 3)]), ("ijk->kj", [(2, 3, 4)]), ("ij,ij->i", [(3, 4), (3, 4)]), ("ij,kj->ik", [(2, 3), (4, 3)]),
    ("...ij,...jk->...ik", [(2, 1, 3, 4), (5, 4, 2)]), ("i...->...", [(3, 2, 2)]), ("bi,ij,bj->b", [(2, 3), (3, 4), (2, 4)]),
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 2)]), ("iij,jk->ik", [(3, 3, 2), (2, 4)]), ("ba,ca->bc", [(1, 3), (4, 3)]),
    ("i,i,i->i", [(3,), (3,), (3,)]), ("ab,cd->abcd", [(2, 1), (1, 3)]),
]


@pytest.mark.parametrize("subscripts, shapes", EQUATIONS, ids=[e for e, _ in EQUATIONS])
def test_einsum_matches_torch(subscripts, shapes):
    rng = np.random.default_rng(0)
    arrays = [rng.uniform(-2, 2, shape) for shape in shapes]
    gradcheck_and_torch(lambda *xs: ag.einsum(subscripts, *xs), lambda *ts: torch_fn("einsum")(subscripts, *ts),
                        *arrays)


def test_einsum_is_made_of_existing_primitives_only():
    a, b, c = f64(np.ones((2, 2, 3))), f64(np.ones((3, 4))), f64(np.ones((2, 4)))
    y = ag.einsum("iij,jk,ik->i", a, b, c)
    assert op_names(y) <= {"getitem", "sum", "permute", "reshape", "broadcast_to", "matmul"}
    assert ag.einsum("ij,jk->ik", [b.T, b]).shape == (4, 4)  # operands may come as one list


@pytest.mark.parametrize("subscripts, shapes, message", [
    ("ij,jk->ik", [(2, 3)], r"einsum: 'ij,jk->ik' names 2 operands, got 1"),
    ("ijk->i", [(2, 3)], r"einsum: operand 0 has 2 dimensions \(shape \(2, 3\)\), its subscripts 'ijk' name 3"),
    ("ij,jk->ik", [(2, 3), (4, 5)], r"einsum: index 'j' has size 3 and size 4 \(in operand 1, shape \(4, 5\)\)"),
    ("ij->k", [(2, 3)], r"einsum: output index 'k' must appear once in the output and in some operand"),
    ("i1->i", [(2, 3)], r"einsum: subscripts hold letters, ',', '->' and '...', got '1'"),
])
def test_einsum_errors_name_what_was_expected_and_what_came(subscripts, shapes, message):
    with pytest.raises(ValueError, match=message):
        ag.einsum(subscripts, *[f64(np.ones(shape)) for shape in shapes])
