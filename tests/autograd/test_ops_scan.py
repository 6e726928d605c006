"""cumsum and cumprod: composites (a doubling scan) with PyTorch's values and gradients, zeros included."""
import numpy as np
import pytest

import autograd as ag

from helpers import f64, gradcheck_and_torch, op_names, torch_fn


@pytest.mark.parametrize("shape, axis", [((7,), 0), ((3, 5), 1), ((3, 5), 0), ((2, 3, 4), -1), ((4, 1), 1), ((), 0)],
                         ids=str)
@pytest.mark.parametrize("name", ["cumsum", "cumprod"])
def test_scan_matches_torch(name, shape, axis):
    x = np.random.default_rng(0).uniform(-2, 2, shape)
    gradcheck_and_torch(lambda t: getattr(ag, name)(t, axis), lambda t: torch_fn(name)(t, axis), x)


def test_cumprod_gradient_is_exact_where_inputs_are_zero():
    """∂y_k/∂x_i = ∏_{j≤k, j≠i} x_j: no division by x, so a zero (or two) changes nothing."""
    for values in ([2.0, 0.0, 3.0, 4.0], [0.0, 2.0, 0.0, 5.0], [0.0, 0.0, 0.0]):
        gradcheck_and_torch(lambda t: ag.cumprod(t, 0), lambda t: torch_fn("cumprod")(t, 0), np.array(values))


def test_scans_have_no_backward_code_of_their_own():
    x = f64(np.arange(1.0, 9.0))
    assert op_names(ag.cumsum(x, 0) + ag.cumprod(x, 0)) <= {"getitem", "pad", "add", "mul"}


def test_scan_axis_out_of_range_names_the_rank():
    with pytest.raises(ValueError, match=r"cumsum: axis 2 is out of range for a tensor with 2 dimensions"):
        ag.cumsum(f64(np.ones((2, 3))), 2)


def test_scan_needs_an_int_axis():
    with pytest.raises(TypeError, match=r"cumprod: expected an int axis \(dim\), got None"):
        f64(np.ones(3)).cumprod()
