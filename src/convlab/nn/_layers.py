"""Layers without convolution weights: pooling, ReLU, inference BatchNorm, Upsample, Dropout, Identity."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import DTypeLike

from .._args import ConvlabError, as_int, describe
from .._limits import check_memory
from ..functional._interpolate import _output_size, interpolate
from ..functional._norm import batch_norm_into, relu
from ..functional._pool import _avg_pool_nd, _max_pool_nd
from ..shapes import pool_output_size
from ._module import Buffer, Module, Parameter, float_dtype

__all__ = [
    "AvgPool1d",
    "AvgPool2d",
    "AvgPool3d",
    "BatchNorm1d",
    "BatchNorm2d",
    "BatchNorm3d",
    "Dropout",
    "Dropout1d",
    "Dropout2d",
    "Dropout3d",
    "Identity",
    "MaxPool1d",
    "MaxPool2d",
    "MaxPool3d",
    "ReLU",
    "Upsample",
]


class _Pool(Module):
    _ndim = 2

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        """The output shape, from :func:`convlab.shapes.pool_output_size`."""
        n = self._ndim
        if len(input_shape) not in (n + 1, n + 2):
            raise ConvlabError(
                f"{type(self).__name__} expects input of shape (N, C, *{n} sizes), got {tuple(input_shape)}"
            )
        dilation = getattr(self, "dilation", 1)
        args = (self.kernel_size, self.stride, self.padding, dilation, self.ceil_mode)
        return (*input_shape[:-n], *pool_output_size(tuple(input_shape[-n:]), *args))

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class _MaxPool(_Pool):
    def __init__(
        self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False, ceil_mode=False
    ):
        super().__init__()
        self.kernel_size, self.stride, self.padding, self.dilation = kernel_size, stride, padding, dilation
        self.return_indices, self.ceil_mode = return_indices, ceil_mode

    def forward(self, input: np.ndarray) -> Any:
        args = (
            self.kernel_size,
            self.stride,
            self.padding,
            self.dilation,
            self.ceil_mode,
            self.return_indices,
        )
        return _max_pool_nd(self._ndim, input, *args)


class MaxPool1d(_MaxPool):
    """As ``torch.nn.MaxPool1d(kernel_size, stride=None, padding=0, dilation=1, ...)``."""

    _ndim = 1


class MaxPool2d(_MaxPool):
    """As ``torch.nn.MaxPool2d``; ``MaxPool2d(2)`` is the U-Net's 2x2 down-sampling.

    >>> MaxPool2d(2)(np.arange(16.0).reshape(1, 1, 4, 4))[0, 0]
    array([[ 5.,  7.],
           [13., 15.]])
    """

    _ndim = 2


class MaxPool3d(_MaxPool):
    """As ``torch.nn.MaxPool3d``."""

    _ndim = 3


class _AvgPool(_Pool):
    def __init__(
        self,
        kernel_size,
        stride=None,
        padding=0,
        ceil_mode=False,
        count_include_pad=True,
        divisor_override=None,
    ):
        super().__init__()
        self.kernel_size, self.stride, self.padding, self.ceil_mode = kernel_size, stride, padding, ceil_mode
        self.count_include_pad, self.divisor_override = count_include_pad, divisor_override

    def forward(self, input: np.ndarray) -> np.ndarray:
        args = (self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad)
        return _avg_pool_nd(self._ndim, input, *args, self.divisor_override)


class AvgPool1d(_AvgPool):
    """As ``torch.nn.AvgPool1d(kernel_size, stride=None, padding=0, ceil_mode=False, ...)``."""

    _ndim = 1

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
        super().__init__(kernel_size, stride, padding, ceil_mode, count_include_pad, None)


class AvgPool2d(_AvgPool):
    """As ``torch.nn.AvgPool2d`` (with ``divisor_override``)."""

    _ndim = 2


class AvgPool3d(_AvgPool):
    """As ``torch.nn.AvgPool3d`` (with ``divisor_override``)."""

    _ndim = 3


class ReLU(Module):
    """As ``torch.nn.ReLU(inplace=False)``; in place only on a writeable ndarray."""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def forward(self, input: np.ndarray) -> np.ndarray:
        return relu(input, inplace=self.inplace)

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(input_shape)


def _non_negative(value: object, name: str) -> float:
    """A finite float >= 0, as torch's BatchNorm would use it (ints and NumPy floats welcome)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a float, got {type(value).__name__} {describe(value)}")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not (math.isfinite(number) and number >= 0):
        raise ConvlabError(f"{name} must be a finite non-negative float, got {name}={describe(value)}")
    return number


class _BatchNorm(Module):
    _ranks: tuple[int, ...] = (4,)

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        *,
        dtype: DTypeLike = np.float32,
    ):
        super().__init__()
        if track_running_stats is not True:
            raise ConvlabError(
                "track_running_stats must be True: convlab's BatchNorm is the inference form and "
                f"normalises with the running statistics, got track_running_stats={track_running_stats!r}"
            )
        self.num_features = as_int(num_features, "num_features", minimum=1)
        if not isinstance(affine, bool):
            raise TypeError(f"affine must be a bool, got {type(affine).__name__} {describe(affine)}")
        self.eps, self.momentum, self.affine = _non_negative(eps, "eps"), momentum, affine
        dt = float_dtype(dtype)
        check_memory(
            4 * dt.itemsize * self.num_features,
            f"{type(self).__name__}'s parameters (num_features={self.num_features})",
        )
        if affine:
            self.weight = Parameter(np.ones(self.num_features, dt))
            self.bias = Parameter(np.zeros(self.num_features, dt))
        else:
            self.weight = self.bias = None
        self.running_mean = Buffer(np.zeros(self.num_features, dt))
        self.running_var = Buffer(np.ones(self.num_features, dt))
        self.num_batches_tracked = Buffer(np.array(0, np.int64))

    def forward(self, input: np.ndarray) -> np.ndarray:
        return self.forward_relu(input, relu=False)

    def forward_relu(self, input: np.ndarray, relu: bool = True, inplace: bool = False) -> np.ndarray:
        """``relu(self(input))``, the ReLU on each block in cache; ``inplace`` may reuse ``input``.

        Bit for bit the layers one after the other (:func:`convlab.nn.run_chain`
        calls it, with ``inplace`` for a convolution's fresh output).
        """
        for name, flag in (("relu", relu), ("inplace", inplace)):
            if not isinstance(flag, bool):
                raise TypeError(f"{name} must be a bool, got {type(flag).__name__} {describe(flag)}")
        self.output_shape(np.shape(input))
        params = (self.running_mean, self.running_var, self.weight, self.bias)
        return batch_norm_into(input, *params, eps=self.eps, relu=relu, inplace=inplace)

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        if len(input_shape) not in self._ranks or input_shape[1] != self.num_features:
            ranks = " or ".join(f"{r}-d" for r in self._ranks)
            raise ConvlabError(
                f"{type(self).__name__}({self.num_features}) expects {ranks} input with {self.num_features} "
                f"channels on axis 1, got input of shape {tuple(input_shape)}"
            )
        return tuple(input_shape)

    def macs(self, input_shape: tuple[int, ...]) -> int:
        """One fused multiply-add per element: ``x * a + b`` with per-channel ``a``, ``b``."""
        return math.prod(input_shape)

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}, affine={self.affine}"


class BatchNorm1d(_BatchNorm):
    """As ``torch.nn.BatchNorm1d`` in eval mode: running statistics, input ``(N, C)`` or ``(N, C, L)``.

    Buffers ``running_mean``, ``running_var`` and ``num_batches_tracked`` are in
    the state_dict, as torch's.
    """

    _ranks = (2, 3)


class BatchNorm2d(_BatchNorm):
    """As ``torch.nn.BatchNorm2d`` in eval mode: running statistics, input ``(N, C, H, W)``.

    >>> bn = BatchNorm2d(2)
    >>> list(bn.state_dict())
    ['weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked']
    """

    _ranks = (4,)


class BatchNorm3d(_BatchNorm):
    """As ``torch.nn.BatchNorm3d`` in eval mode: running statistics, input ``(N, C, D, H, W)``."""

    _ranks = (5,)


class Upsample(Module):
    """As ``torch.nn.Upsample(size=None, scale_factor=None, mode='nearest', align_corners=None)``.

    >>> Upsample(scale_factor=2)(np.array([[[1.0, 2.0]]]))
    array([[[1., 1., 2., 2.]]])
    """

    def __init__(
        self, size=None, scale_factor=None, mode="nearest", align_corners=None, recompute_scale_factor=None
    ):
        super().__init__()
        self.size, self.scale_factor, self.mode = size, scale_factor, mode
        self.align_corners, self.recompute_scale_factor = align_corners, recompute_scale_factor

    def forward(self, input: np.ndarray) -> np.ndarray:
        args = (self.size, self.scale_factor, self.mode, self.align_corners, self.recompute_scale_factor)
        return interpolate(input, *args)

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        """``size``, or ``floor(size * scale_factor)`` per dimension, as torch."""
        spatial = tuple(input_shape[2:])
        return (
            *input_shape[:2],
            *_output_size(spatial, self.size, self.scale_factor, self.recompute_scale_factor)[0],
        )

    def extra_repr(self) -> str:
        return f"scale_factor={self.scale_factor}, mode={self.mode!r}, align_corners={self.align_corners}"


class Identity(Module):
    """As ``torch.nn.Identity``: returns its input; any constructor arguments are ignored."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__()

    def forward(self, input: np.ndarray) -> np.ndarray:
        return input

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(input_shape)


class Dropout(Identity):
    """As ``torch.nn.Dropout(p=0.5, inplace=False)`` in eval mode: the identity (``p`` is checked, kept)."""

    def __init__(self, p: float = 0.5, inplace: bool = False):
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p <= 1:
            raise ConvlabError(f"dropout probability p must be between 0 and 1, got p={describe(p)}")
        self.p, self.inplace = p, inplace

    def extra_repr(self) -> str:
        return f"p={self.p}"


class Dropout1d(Dropout):
    """As ``torch.nn.Dropout1d`` in eval mode: the identity."""


class Dropout2d(Dropout):
    """As ``torch.nn.Dropout2d`` in eval mode: the identity."""


class Dropout3d(Dropout):
    """As ``torch.nn.Dropout3d`` in eval mode: the identity."""
