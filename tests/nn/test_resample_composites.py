"""F.pad's copying modes and F.interpolate are built from slices, concatenation and matmuls by constant matrices:
their backward passes never scatter-add (index_add of repeated indices, np.add.at, is slow)."""
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
