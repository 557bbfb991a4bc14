"""Convolution layers: ``Conv1d/2d/3d`` and ``ConvTranspose1d/2d/3d`` on ``convlab.functional``."""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import DTypeLike

from .._args import ConvlabError, as_int, describe, per_dim
from .._limits import check_memory
from ..functional._conv import conv_nd
from ..functional._conv_transpose import conv_transpose_nd
from ..shapes import conv_output_size, conv_transpose_output_size
from ._module import Module, Parameter, float_dtype

__all__ = ["Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d", "make_rng"]

RngArg = int | np.random.Generator | None


def make_rng(rng: RngArg) -> np.random.Generator:
    """A generator from a seed, a generator (used as is) or None (seed 0: deterministic by default)."""
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(0 if rng is None else as_int(rng, "rng", minimum=0))


def _uniform(rng: np.random.Generator, shape: tuple[int, ...], fan_in: int, dtype: np.dtype) -> np.ndarray:
    # torch's default: kaiming_uniform_(a=sqrt(5)) for the weight, whose bound
    # gain * sqrt(3 / fan_in) with gain = sqrt(2 / (1 + 5)) is 1 / sqrt(fan_in),
    # the same bound torch draws the bias from.
    bound = 1.0 / math.sqrt(fan_in) if fan_in else 0.0
    return rng.uniform(-bound, bound, shape).astype(dtype)


class _ConvNd(Module):
    _ndim = 2
    _transposed = False

    def __init__(
        self, in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias, rng, dtype
    ):
        super().__init__()
        n = self._ndim
        self.in_channels = as_int(in_channels, "in_channels", minimum=1)
        self.out_channels = as_int(out_channels, "out_channels", minimum=1)
        self.groups = as_int(groups, "groups", minimum=1)
        for name in ("in_channels", "out_channels"):
            if getattr(self, name) % self.groups:
                raise ConvlabError(
                    f"{name} must be divisible by groups, "
                    f"got {name}={getattr(self, name)} and groups={groups}"
                )
        # torch's _pair((2,)) keeps (2,) and the layer then fails: no broadcast here.
        self.kernel_size = per_dim(kernel_size, "kernel_size", n, minimum=1, single=False)
        self.stride = per_dim(stride, "stride", n, minimum=1)
        self.dilation = per_dim(dilation, "dilation", n, minimum=1)
        self.padding = padding if isinstance(padding, str) else per_dim(padding, "padding", n, minimum=0)
        if not isinstance(bias, bool):
            raise TypeError(f"bias must be a bool, got {type(bias).__name__} {bias!r}")
        # torch's weight layouts: (out, in/g, *k) for conv, (in, out/g, *k) transposed;
        # fan_in is torch's: weight.shape[1] * prod(k) in both cases.
        lead = (
            (self.in_channels, self.out_channels)
            if self._transposed
            else (self.out_channels, self.in_channels)
        )
        shape = (lead[0], lead[1] // self.groups, *self.kernel_size)
        fan_in = shape[1] * math.prod(self.kernel_size)
        generator, dtype = make_rng(rng), float_dtype(dtype)
        # rng.uniform draws float64, then the cast copies: both exist at once.
        check_memory(
            (8 + dtype.itemsize) * math.prod(shape),
            f"{type(self).__name__}'s weight of shape {shape} (in_channels={self.in_channels}, "
            f"out_channels={self.out_channels}, kernel_size={self.kernel_size})",
        )
        self.weight = Parameter(_uniform(generator, shape, fan_in, dtype))
        self.bias = Parameter(_uniform(generator, (self.out_channels,), fan_in, dtype)) if bias else None

    def extra_repr(self) -> str:
        text = (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        )
        if self.padding != (0,) * self._ndim:
            text += f", padding={self.padding!r}"
        if self.groups != 1:
            text += f", groups={self.groups}"
        return text + ("" if self.bias is not None else ", bias=False")

    def _check_input(self, shape: tuple[int, ...]) -> None:
        n = self._ndim
        if len(shape) not in (n + 1, n + 2) or shape[-n - 1] != self.in_channels:
            raise ConvlabError(
                f"{type(self).__name__} expects input of shape (N, {self.in_channels}, *{n} spatial sizes) "
                f"or unbatched ({self.in_channels}, ...), got input of shape {tuple(shape)}"
            )

    def macs(self, input_shape: tuple[int, ...]) -> int:
        """Multiply-accumulates of one call (bias not counted).

        ``N * positions * prod(k) * C_in * C_out / groups``, where positions are
        the output pixels of a conv and the input pixels of a transposed conv
        (each input pixel is scattered through the whole kernel).
        """
        n = self._ndim
        out = self.output_shape(input_shape)
        positions = input_shape[-n:] if self._transposed else out[-n:]
        per_position = math.prod(self.kernel_size) * self.in_channels * self.out_channels // self.groups
        return math.prod(input_shape[: -n - 1]) * math.prod(positions) * per_position


class _Conv(_ConvNd):
    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, ...],
        stride: int | tuple[int, ...] = 1,
        padding: int | tuple[int, ...] | str = 0,
        dilation: int | tuple[int, ...] = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        *,
        rng: RngArg = None,
        dtype: DTypeLike = np.float32,
    ):
        super().__init__(
            in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias, rng, dtype
        )
        self.padding_mode = padding_mode

    def forward(self, input: np.ndarray) -> np.ndarray:
        return self.forward_relu(input, relu=False)

    def forward_relu(self, input: np.ndarray, relu: bool = True) -> np.ndarray:
        """``relu(self(input))`` with the bias and the ReLU applied as each output block is stored.

        Bit for bit the same as the two layers one after the other, without
        two passes over the output (:func:`convlab.nn.run_chain` calls it for
        a convolution followed by a ``ReLU``).
        """
        if not isinstance(relu, bool):
            raise TypeError(f"relu must be a bool, got {type(relu).__name__} {describe(relu)}")
        self._check_input(np.shape(input))
        args = (self.stride, self.padding, self.dilation, self.groups, self.padding_mode, self._ndim)
        return conv_nd(input, self.weight, self.bias, *args, relu=relu)

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        """The output shape for an input shape, from :func:`convlab.shapes.conv_output_size`."""
        self._check_input(input_shape)
        n = self._ndim
        sizes = conv_output_size(
            tuple(input_shape[-n:]), self.kernel_size, self.stride, self.padding, self.dilation
        )
        return (*input_shape[: -n - 1], self.out_channels, *sizes)


class _ConvTranspose(_ConvNd):
    _transposed = True

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, ...],
        stride: int | tuple[int, ...] = 1,
        padding: int | tuple[int, ...] = 0,
        output_padding: int | tuple[int, ...] = 0,
        groups: int = 1,
        bias: bool = True,
        dilation: int | tuple[int, ...] = 1,
        padding_mode: str = "zeros",
        *,
        rng: RngArg = None,
        dtype: DTypeLike = np.float32,
    ):
        if not isinstance(padding_mode, str) or padding_mode != "zeros":
            raise ConvlabError(
                f"padding_mode must be 'zeros' for {type(self).__name__}, got {describe(padding_mode)}"
            )
        super().__init__(
            in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias, rng, dtype
        )
        self.output_padding = per_dim(output_padding, "output_padding", self._ndim, minimum=0)
        self.padding_mode = padding_mode

    def forward(self, input: np.ndarray, output_size: tuple[int, ...] | None = None) -> np.ndarray:
        self._check_input(np.shape(input))
        args = (self.stride, self.padding, self.output_padding, self.groups, self.dilation, output_size)
        return conv_transpose_nd(input, self.weight, self.bias, *args, self._ndim)

    def forward_into(self, input: np.ndarray, out: np.ndarray) -> np.ndarray:
        """``out[...] = self(input)`` with no temporary; ``out`` (a view will do) of the exact shape, dtype.

        A U-Net writes its up-convolution straight into its half of the skip
        concatenation this way.
        """
        self._check_input(np.shape(input))
        args = (self.stride, self.padding, self.output_padding, self.groups, self.dilation, None)
        return conv_transpose_nd(input, self.weight, self.bias, *args, self._ndim, out=out)

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        """The output shape, from :func:`convlab.shapes.conv_transpose_output_size`."""
        self._check_input(input_shape)
        n = self._ndim
        sizes = conv_transpose_output_size(
            tuple(input_shape[-n:]),
            self.kernel_size,
            self.stride,
            self.padding,
            self.output_padding,
            self.dilation,
        )
        return (*input_shape[: -n - 1], self.out_channels, *sizes)


class Conv1d(_Conv):
    """As ``torch.nn.Conv1d``: same signature, parameter names and weight layout.

    Weights are drawn as torch's default initialisation (uniform in
    ``+-1/sqrt(fan_in)``) from ``rng`` (a seed or a ``numpy.random.Generator``;
    None means seed 0), in ``dtype`` (float32 or float64).
    """

    _ndim = 1


class Conv2d(_Conv):
    """As ``torch.nn.Conv2d``: same signature, parameter names and weight layout.

    Weights are drawn as torch's default initialisation (uniform in
    ``+-1/sqrt(fan_in)``) from ``rng`` (a seed or a ``numpy.random.Generator``;
    None means seed 0), in ``dtype`` (float32 or float64).
    """

    _ndim = 2


class Conv3d(_Conv):
    """As ``torch.nn.Conv3d``: same signature, parameter names and weight layout.

    Weights are drawn as torch's default initialisation (uniform in
    ``+-1/sqrt(fan_in)``) from ``rng`` (a seed or a ``numpy.random.Generator``;
    None means seed 0), in ``dtype`` (float32 or float64).
    """

    _ndim = 3


class ConvTranspose1d(_ConvTranspose):
    """As ``torch.nn.ConvTranspose1d``: same signature, parameter names and weight layout.

    Weights are drawn as torch's default initialisation (uniform in
    ``+-1/sqrt(fan_in)``) from ``rng`` (a seed or a ``numpy.random.Generator``;
    None means seed 0), in ``dtype`` (float32 or float64).
    """

    _ndim = 1


class ConvTranspose2d(_ConvTranspose):
    """As ``torch.nn.ConvTranspose2d``: same signature, parameter names and weight layout.

    Weights are drawn as torch's default initialisation (uniform in
    ``+-1/sqrt(fan_in)``) from ``rng`` (a seed or a ``numpy.random.Generator``;
    None means seed 0), in ``dtype`` (float32 or float64).
    """

    _ndim = 2


class ConvTranspose3d(_ConvTranspose):
    """As ``torch.nn.ConvTranspose3d``: same signature, parameter names and weight layout.

    Weights are drawn as torch's default initialisation (uniform in
    ``+-1/sqrt(fan_in)``) from ``rng`` (a seed or a ``numpy.random.Generator``;
    None means seed 0), in ``dtype`` (float32 or float64).
    """

    _ndim = 3
