"""Convolution, N-d, as im2col in bounded chunks and one GEMM per chunk.

At stride 1 the lowering of :mod:`._wide` runs instead where it pays: one
accumulating GEMM per kernel tap on shifted views of the flat image, without
an im2col copy.

``conv1d``, ``conv2d`` and ``conv3d`` are thin wrappers of :func:`conv_nd`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

from .._args import per_dim
from ..shapes import conv_output_size
from ._conv_args import check_padding_mode, conv_arrays, conv_padding, pad_by_mode
from ._wide import convolve_wide
from ._window import Geometry, gather
from ._workspace import chunks

__all__ = ["IntArg", "PaddingArg", "conv1d", "conv2d", "conv3d", "conv_nd", "reshape_view"]

IntArg = int | Sequence[int]
PaddingArg = int | str | Sequence[int | Sequence[int]]


def conv_nd(
    input: ArrayLike,
    weight: ArrayLike,
    bias: ArrayLike | None,
    stride: object,
    padding: object,
    dilation: object,
    groups: object,
    padding_mode: object,
    ndim: int,
) -> np.ndarray:
    """The convolution of ``ndim`` spatial dimensions behind ``conv1d/2d/3d``."""
    (x, w, b, unbatched), g = conv_arrays(input, weight, bias, groups, ndim, transposed=False)
    kernel = w.shape[2:]
    s = per_dim(stride, "stride", ndim, minimum=1)
    d = per_dim(dilation, "dilation", ndim, minimum=1)
    mode = check_padding_mode(padding_mode)
    pairs = conv_padding(padding, x.shape[2:], kernel, s, d)
    if mode != "zeros" and any(p for pair in pairs for p in pair):
        x, pairs = pad_by_mode(x, pairs, mode), ((0, 0),) * ndim
    out_shape = conv_output_size(x.shape[2:], kernel, s, pairs, d)
    geom = Geometry(x.shape[2:], kernel, s, d, tuple(lo for lo, _ in pairs))
    out = _convolve(x, w, geom, out_shape, g)
    if b is not None:
        out += b.reshape(-1, *(1,) * ndim)
    return out[0] if unbatched else out


def _convolve(x: np.ndarray, w: np.ndarray, geom: Geometry, out_shape: tuple[int, ...], groups: int):
    """``(N, C_out, *out_shape)``: per chunk of output positions, im2col then one (batched) GEMM.

    The GEMM of a chunk is ``(g, C_out/g, C_in/g * taps) @ (g, C_in/g * taps, positions)``,
    written straight into the output: a chunk is a contiguous run of output
    positions, so its slice of the output is a strided matrix BLAS accepts.
    """
    n, c_in = x.shape[:2]
    c_out, taps = w.shape[0], geom.taps
    # A 1x1 kernel at stride 1 without padding reads the input as it is: no im2col.
    direct = taps == 1 and set(geom.stride) == {1} and not any(geom.lo) and tuple(out_shape) == geom.image
    if not direct:
        wide = convolve_wide(x, w, geom, out_shape, groups)
        if wide is not None:
            return wide
    out = np.empty((n, c_out, *out_shape), dtype=x.dtype)
    wmat = w.reshape(groups, c_out // groups, c_in // groups * taps)
    buffer = np.empty(0, dtype=x.dtype)
    for batch, box in chunks(n, out_shape, c_in * taps * x.dtype.itemsize):
        nb, sizes = batch.stop - batch.start, tuple(b.stop - b.start for b in box)
        if direct:
            cols = x[(batch, slice(None), *box)]
        else:
            size = nb * c_in * taps * math.prod(sizes)
            if buffer.size < size:
                buffer = np.empty(size, dtype=x.dtype)
            cols = buffer[:size].reshape(nb, c_in, taps, *sizes)
            gather(x[batch], geom, box, cols)
        source = reshape_view(cols, (nb, groups, c_in // groups * taps, -1))
        target = reshape_view(out[(batch, slice(None), *box)], (nb, groups, c_out // groups, -1))
        np.matmul(wmat, source, out=target)
    return out


def reshape_view(array: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``array.reshape(shape)`` that must not copy: writing into it must write into ``array``."""
    view = array.reshape(shape)
    if view.size and not np.may_share_memory(view, array):
        raise RuntimeError(f"internal: a chunk of shape {array.shape} is not a reshapeable view")
    return view


_PARAMS = """
    Parameters
    ----------
    input : array_like, shape ``(N, C_in, {s})`` or ``(C_in, {s})``
        Float32 stays float32, float64 stays float64; integers become float64.
    weight : array_like, shape ``(C_out, C_in/groups, {k})``
    bias : array_like, shape ``(C_out,)``, optional
    stride, dilation : int or tuple of {n} ints
    padding : int, tuple, ``'valid'`` or ``'same'``
        One int for all sides, one int per dimension, one ``(lo, hi)`` pair per
        dimension, or ``'same'``: output size ``ceil(size / stride)`` for any
        stride, the odd padding pixel at the end (SAME_UPPER). PyTorch accepts
        ``'same'`` at stride 1 only, where the two agree.
    groups : int
        ``C_in`` and ``C_out`` split into ``groups`` independent convolutions.
    padding_mode : {{'zeros', 'reflect', 'replicate', 'circular'}}
        As ``torch.nn.Conv{n}d``: the input is padded with this mode first.

    Returns
    -------
    numpy.ndarray, shape ``(N, C_out, {o})`` (``(C_out, {o})`` if unbatched)

    Notes
    -----
    ``out = floor((size + lo + hi - dilation*(k - 1) - 1) / stride) + 1`` per
    dimension (:func:`convlab.shapes.conv_output_size`). Computed as im2col in
    chunks of output positions, each one GEMM, or at stride 1 as one GEMM per
    kernel tap on shifted views of the (zero-padded) image, accumulated in a
    chunk of outputs; the chunks and the padded copy are bounded by
    :func:`convlab.functional.set_workspace_limit`.
"""


def conv1d(
    input: ArrayLike,
    weight: ArrayLike,
    bias: ArrayLike | None = None,
    stride: IntArg = 1,
    padding: PaddingArg = 0,
    dilation: IntArg = 1,
    groups: int = 1,
    padding_mode: str = "zeros",
) -> np.ndarray:
    return conv_nd(input, weight, bias, stride, padding, dilation, groups, padding_mode, 1)


def conv2d(
    input: ArrayLike,
    weight: ArrayLike,
    bias: ArrayLike | None = None,
    stride: IntArg = 1,
    padding: PaddingArg = 0,
    dilation: IntArg = 1,
    groups: int = 1,
    padding_mode: str = "zeros",
) -> np.ndarray:
    return conv_nd(input, weight, bias, stride, padding, dilation, groups, padding_mode, 2)


def conv3d(
    input: ArrayLike,
    weight: ArrayLike,
    bias: ArrayLike | None = None,
    stride: IntArg = 1,
    padding: PaddingArg = 0,
    dilation: IntArg = 1,
    groups: int = 1,
    padding_mode: str = "zeros",
) -> np.ndarray:
    return conv_nd(input, weight, bias, stride, padding, dilation, groups, padding_mode, 3)


conv1d.__doc__ = (
    """1-D convolution (cross-correlation), as ``torch.nn.functional.conv1d``.
"""
    + _PARAMS.format(s="L", k="k", n=1, o="L_out")
    + """
    Examples
    --------
    >>> conv1d(np.array([[[1.0, 2.0, 3.0, 4.0]]]), np.array([[[1.0, -1.0]]]))
    array([[[-1., -1., -1.]]])
    >>> conv1d(np.ones((1, 1, 5)), np.ones((1, 1, 3)), padding="same", stride=2).shape
    (1, 1, 3)
"""
)
conv2d.__doc__ = (
    """2-D convolution (cross-correlation), as ``torch.nn.functional.conv2d``.
"""
    + _PARAMS.format(s="H, W", k="kH, kW", n=2, o="H_out, W_out")
    + """
    Examples
    --------
    >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> conv2d(x, np.ones((1, 1, 2, 2)), stride=2)
    array([[[[10., 18.],
             [42., 50.]]]])
    >>> conv2d(np.ones((3, 8, 8)), np.ones((4, 3, 3, 3)), padding=1).shape
    (4, 8, 8)
"""
)
conv3d.__doc__ = (
    """3-D convolution (cross-correlation), as ``torch.nn.functional.conv3d``.
"""
    + _PARAMS.format(s="D, H, W", k="kD, kH, kW", n=3, o="D_out, H_out, W_out")
    + """
    Examples
    --------
    >>> conv3d(np.ones((1, 2, 4, 4, 4)), np.ones((1, 2, 3, 3, 3))).ravel()
    array([54., 54., 54., 54., 54., 54., 54., 54.])
"""
)
