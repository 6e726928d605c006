"""F.pad's copying modes and F.interpolate are built from slices, concatenation and matmuls by constant matrices:
their backward passes never scatter-add (index_add of repeated indices, np.add.at, is slow), except for an
input holding inf or NaN, which interpolate resizes by reading the sources."""
import numpy as np
import pytest

import autograd as ag
import nn.functional as F

from helpers import op_names


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_pad_modes_slice_and_concatenate(mode):
    y = F.pad(ag.randn(2, 3, 5, 4, requires_grad=True), (2, 1, 3, 0), mode=mode)
    names = op_names(y)
    assert "concatenate" in names and "index_add" not in names


@pytest.mark.parametrize("mode, shape", [("nearest", (2, 3, 5, 4)), ("bilinear", (2, 3, 5, 4)),
                                         ("linear", (2, 3, 5)), ("trilinear", (1, 2, 3, 4, 5))])
def test_interpolate_is_one_matmul_per_axis(mode, shape):
    y = F.interpolate(ag.randn(*shape, requires_grad=True), scale_factor=1.5, mode=mode)
    names = op_names(y)
    assert "matmul" in names and "index_add" not in names and "getitem" not in names


def test_interpolation_matrices_rows_sum_to_one():
    from nn.resample import _interpolation_matrix
    for mode, corners in (("nearest", False), ("linear", False), ("linear", True)):
        a = _interpolation_matrix(4, 9, 4 / 9, mode, corners, np.float64)
        np.testing.assert_allclose(a.sum(axis=1), 1.0)


@pytest.mark.parametrize("mode, corners", [("nearest", None), ("bilinear", False), ("bilinear", True)])
def test_interpolate_keeps_inf_and_nan_local_as_pytorch_does(mode, corners):
    """A matmul would turn a row holding inf into NaNs (0·inf): such inputs are resized by reading the sources."""
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).standard_normal((2, 3, 5, 6))
    x[0, 1, 2, 3], x[1, 0, 4, 0], x[1, 2, 0, 5] = np.inf, np.nan, -np.inf
    g = np.random.default_rng(1).standard_normal((2, 3, 12, 10))
    ours = ag.tensor(x, requires_grad=True)
    with np.errstate(invalid="ignore"):  # inf·0 where a weight is 0: NaN, as in PyTorch
        y = F.interpolate(ours, size=(12, 10), mode=mode, align_corners=corners)
    y.backward(ag.tensor(g))
    theirs = torch.tensor(x, requires_grad=True)
    z = torch.nn.functional.interpolate(theirs, size=(12, 10), mode=mode, align_corners=corners)
    z.backward(torch.from_numpy(g))
    np.testing.assert_allclose(y.data, z.detach().numpy(), rtol=1e-12, atol=1e-12, equal_nan=True)
    np.testing.assert_allclose(ours.grad.data, theirs.grad.numpy(), rtol=1e-12, atol=1e-12)
