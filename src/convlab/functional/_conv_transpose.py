"""Transposed convolution, N-d: the adjoint of :func:`conv_nd`, as GEMM then col2im.

A convolution is ``out = W_mat @ im2col(x)``; its adjoint is therefore
``x_grad = col2im(W_mat^T @ y)``: one GEMM from input channels to every
(output channel, tap) pair, then a scatter-add of each tap's plane into the
output through strided slices. No zeros are inserted between input pixels,
which would multiply the work by ``prod(stride)``.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

from .._args import ConvlabError, describe, is_sequence, padding_pairs, per_dim
from ..shapes import conv_transpose_output_size, output_padding_for
from ._conv import IntArg, reshape_view
from ._conv_args import conv_arrays
from ._window import Geometry, scatter_add
from ._workspace import chunks

__all__ = ["conv_transpose1d", "conv_transpose2d", "conv_transpose3d", "conv_transpose_nd"]


def conv_transpose_nd(
    input: ArrayLike,
    weight: ArrayLike,
    bias: ArrayLike | None,
    stride: object,
    padding: object,
    output_padding: object,
    groups: object,
    dilation: object,
    output_size: object,
    ndim: int,
) -> np.ndarray:
    """The transposed convolution of ``ndim`` spatial dimensions behind ``conv_transpose1d/2d/3d``."""
    (x, w, b, unbatched), g = conv_arrays(input, weight, bias, groups, ndim, transposed=True)
    kernel = w.shape[2:]
    s = per_dim(stride, "stride", ndim, minimum=1)
    d = per_dim(dilation, "dilation", ndim, minimum=1)
    pairs = padding_pairs(padding, ndim)
    if pairs == "same":
        raise ConvlabError("padding='same' is defined for convolutions only, got padding='same'")
    if output_size is not None:
        output_padding = _output_padding(
            output_size, output_padding, x.shape[2:], kernel, s, pairs, d, unbatched
        )
    out_shape = conv_transpose_output_size(x.shape[2:], kernel, s, pairs, output_padding, d)
    geom = Geometry(out_shape, kernel, s, d, tuple(lo for lo, _ in pairs))
    out = _transpose(x, w, b, geom, g)
    return out[0] if unbatched else out


def _output_padding(output_size, output_padding, size, kernel, stride, pairs, dilation, unbatched):
    """The output_padding that ``nn.ConvTranspose*d.forward(x, output_size)`` would pick."""
    ndim = len(size)
    sizes = tuple(output_size) if is_sequence(output_size) else output_size
    if is_sequence(sizes) and len(sizes) == ndim + (1 if unbatched else 2):
        # PyTorch accepts the whole output shape and reads its spatial tail.
        sizes = sizes[len(sizes) - ndim :]
    if is_sequence(sizes) and len(sizes) != ndim:
        raise ConvlabError(
            f"output_size must have {ndim} spatial sizes (or the full output shape), "
            f"got output_size={describe(output_size)}"
        )
    try:
        chosen = per_dim(
            output_padding_for(sizes, size, kernel, stride, pairs, dilation), "output_padding", ndim
        )
    except ConvlabError as err:
        raise ConvlabError(f"output_size={describe(output_size)} cannot be produced: {err}") from None
    given = per_dim(output_padding, "output_padding", ndim, minimum=0)
    if any(given) and given != chosen:
        raise ConvlabError(
            f"output_padding={describe(output_padding)} contradicts output_size={describe(output_size)}, "
            f"which needs output_padding={chosen}; pass one of them"
        )
    return chosen


def _transpose(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, geom: Geometry, groups: int):
    """``(N, C_out, *geom.image)``: per chunk of input positions, one GEMM, then col2im.

    The GEMM of a chunk is ``(g, C_out/g * taps, C_in/g) @ (g, C_in/g, positions)``:
    the transpose of the convolution's weight matrix. The input chunk is a
    contiguous run of positions, so it enters BLAS without a copy.
    """
    n, c_in = x.shape[:2]
    c_out, taps = w.shape[1] * groups, geom.taps
    bias = None if b is None else b.reshape(-1, *(1,) * len(geom.image))
    # Disjoint taps (the U-Net's 2x2 stride-2 up-convolution): each output pixel
    # gets one term, so col2im stores instead of adding and the bias comes last.
    store = geom.disjoint
    out = np.zeros((n, c_out, *geom.image), dtype=x.dtype)
    if bias is not None and not store:
        out += bias
    w_t = w.reshape(groups, c_in // groups, c_out // groups * taps).transpose(0, 2, 1)
    buffer = np.empty(0, dtype=x.dtype)
    for batch, box in chunks(n, x.shape[2:], c_out * taps * x.dtype.itemsize):
        nb, sizes = batch.stop - batch.start, tuple(s.stop - s.start for s in box)
        size = nb * c_out * taps * math.prod(sizes)
        if buffer.size < size:
            buffer = np.empty(size, dtype=x.dtype)
        cols = buffer[:size].reshape(nb, groups, c_out // groups * taps, math.prod(sizes))
        source = reshape_view(x[(batch, slice(None), *box)], (nb, groups, c_in // groups, -1))
        np.matmul(w_t, source, out=cols)
        scatter_add(cols.reshape(nb, c_out, taps, *sizes), geom, box, out[batch], assign=store)
    if bias is not None and store:
        out += bias
    return out


_PARAMS = """
    Parameters
    ----------
    input : array_like, shape ``(N, C_in, {s})`` or ``(C_in, {s})``
    weight : array_like, shape ``(C_in, C_out/groups, {k})``
        PyTorch's layout for transposed convolutions (input channels first).
    bias : array_like, shape ``(C_out,)``, optional
    stride, dilation : int or tuple of {n} ints
    padding : int or tuple
        Removed from the output: one int, one per dimension, or ``(lo, hi)`` pairs.
    output_padding : int or tuple of {n} ints
        Added to the end of the output; smaller than ``max(stride, dilation)``.
    groups : int
    output_size : tuple of int, optional
        The spatial output size (or the whole output shape), as accepted by
        ``nn.ConvTranspose{n}d.forward``; it picks ``output_padding``
        (:func:`convlab.shapes.output_padding_for`).

    Returns
    -------
    numpy.ndarray, shape ``(N, C_out, {o})`` (``(C_out, {o})`` if unbatched)

    Notes
    -----
    ``out = (size - 1)*stride - lo - hi + dilation*(k - 1) + output_padding + 1``
    (:func:`convlab.shapes.conv_transpose_output_size`). Computed as one GEMM
    per chunk of input positions followed by a strided scatter-add per kernel
    tap (col2im): the adjoint of ``conv{n}d`` with the same arguments.
"""


def conv_transpose1d(
    input: ArrayLike,
    weight: ArrayLike,
    bias: ArrayLike | None = None,
    stride: IntArg = 1,
    padding: IntArg = 0,
    output_padding: IntArg = 0,
    groups: int = 1,
    dilation: IntArg = 1,
    output_size: IntArg | None = None,
) -> np.ndarray:
    return conv_transpose_nd(
        input, weight, bias, stride, padding, output_padding, groups, dilation, output_size, 1
    )


def conv_transpose2d(
    input: ArrayLike,
    weight: ArrayLike,
    bias: ArrayLike | None = None,
    stride: IntArg = 1,
    padding: IntArg = 0,
    output_padding: IntArg = 0,
    groups: int = 1,
    dilation: IntArg = 1,
    output_size: IntArg | None = None,
) -> np.ndarray:
    return conv_transpose_nd(
        input, weight, bias, stride, padding, output_padding, groups, dilation, output_size, 2
    )


def conv_transpose3d(
    input: ArrayLike,
    weight: ArrayLike,
    bias: ArrayLike | None = None,
    stride: IntArg = 1,
    padding: IntArg = 0,
    output_padding: IntArg = 0,
    groups: int = 1,
    dilation: IntArg = 1,
    output_size: IntArg | None = None,
) -> np.ndarray:
    return conv_transpose_nd(
        input, weight, bias, stride, padding, output_padding, groups, dilation, output_size, 3
    )


conv_transpose1d.__doc__ = (
    """1-D transposed convolution, as ``torch.nn.functional.conv_transpose1d``.
"""
    + _PARAMS.format(s="L", k="k", n=1, o="L_out")
    + """
    Examples
    --------
    >>> conv_transpose1d(np.array([[[1.0, 2.0]]]), np.array([[[1.0, 10.0, 100.0]]]), stride=2)
    array([[[  1.,  10., 102.,  20., 200.]]])
"""
)
conv_transpose2d.__doc__ = (
    """2-D transposed convolution, as ``torch.nn.functional.conv_transpose2d``.
"""
    + _PARAMS.format(s="H, W", k="kH, kW", n=2, o="H_out, W_out")
    + """
    Examples
    --------
    >>> up = conv_transpose2d(np.ones((1, 1, 2, 2)), np.ones((1, 1, 2, 2)), stride=2)
    >>> up.shape, up.sum()
    ((1, 1, 4, 4), np.float64(16.0))
    >>> conv_transpose2d(np.ones((1, 1, 12, 12)), np.ones((1, 1, 3, 3)), stride=2, padding=1,
    ...                  output_size=(24, 24)).shape
    (1, 1, 24, 24)
"""
)
conv_transpose3d.__doc__ = (
    """3-D transposed convolution, as ``torch.nn.functional.conv_transpose3d``.
"""
    + _PARAMS.format(s="D, H, W", k="kD, kH, kW", n=3, o="D_out, H_out, W_out")
    + """
    Examples
    --------
    >>> conv_transpose3d(np.ones((2, 1, 1, 1)), np.ones((2, 3, 2, 2, 2)), stride=2).shape
    (3, 2, 2, 2)
"""
)
