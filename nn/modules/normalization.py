"""Batch normalisation: BatchNorm1d, BatchNorm2d.

Training: y = γ·(x − μ_B)/√(σ²_B + ε) + β with the batch's mean and (biased)
variance per channel; the running statistics move as r ← (1 − m)·r + m·stat
(PyTorch's convention, the running variance uses the unbiased batch variance).
Eval: the running statistics replace the batch ones.
"""
import numpy as np

from autograd.dtypes import get_default_dtype
from autograd.tensor import Tensor

from .. import functional as F
from .. import init
from .module import Module, new_parameter


class _BatchNorm(Module):
    ranks = ()

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True):
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        self.register_parameter("weight", new_parameter(num_features) if affine else None)
        self.register_parameter("bias", new_parameter(num_features) if affine else None)
        if track_running_stats:
            dtype = get_default_dtype()
            self.register_buffer("running_mean", Tensor(np.zeros(num_features, dtype)))
            self.register_buffer("running_var", Tensor(np.ones(num_features, dtype)))
            self.register_buffer("num_batches_tracked", Tensor(np.array(0, np.int64)))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        self.reset_parameters()

    def reset_running_stats(self):
        if self.track_running_stats:
            init.zeros_(self.running_mean)
            init.ones_(self.running_var)
            init.zeros_(self.num_batches_tracked)

    def reset_parameters(self):
        self.reset_running_stats()
        if self.affine:
            init.ones_(self.weight)
            init.zeros_(self.bias)

    def forward(self, x):
        if x.ndim not in self.ranks:
            shapes = " or ".join(f"{r}-D" for r in self.ranks)
            raise ValueError(f"{self.describe()}: expected a {shapes} input, got shape {tuple(x.shape)}")
        if x.shape[1] != self.num_features:
            raise ValueError(f"{self.describe()}: expected input with {self.num_features} channels, got "
                             f"{x.shape[1]} (input shape {tuple(x.shape)})")
        momentum = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked.data += 1
            if self.momentum is None:  # cumulative moving average
                momentum = 1.0 / int(self.num_batches_tracked.data)
        use_batch_stats = self.training or not self.track_running_stats
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, use_batch_stats,
                            momentum, self.eps)

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats}")

    def _describe_args(self):
        return str(self.num_features)


class BatchNorm1d(_BatchNorm):
    """Batch norm over (N, C) or (N, C, L) inputs, per channel C."""

    ranks = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch norm over (N, C, H, W) inputs, per channel C (statistics over N, H, W)."""

    ranks = (4,)
