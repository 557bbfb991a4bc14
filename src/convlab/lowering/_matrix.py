"""Convolution as a sparse matrix, and the transposed convolution as its transpose.

Flatten one sample ``x[n]`` of shape ``(C_in, *size)`` in C order; the
convolution is then ``y = M @ x`` with one row per (output channel, output
position) and one column per (input channel, input position). Row
``(o, y)`` holds ``w[o, c, t]`` in column ``(c, Window.index(y, t))``
for every input channel ``c`` of ``o``'s group and every tap ``t`` landing
inside the image; a tap landing in the zero padding has no column, because
it multiplies a zero.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse
from numpy.typing import ArrayLike

from .._args import ConvlabError, as_int, describe, is_sequence
from .._limits import check_memory
from ..functional._conv import IntArg, PaddingArg
from ..functional._conv_args import conv_args
from ..shapes import Window
from ._setup import conv_setup, finish, spatial_ndim, transpose_setup

__all__ = ["conv_by_matrix", "conv_matrix", "conv_transpose_by_matrix"]


def _tap_columns(windows: tuple[Window, ...], counts: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Flat image position of every (window, tap) pair and whether it lies inside the image.

    Both have shape ``(prod(counts), prod(kernel))``; a position outside the
    image is padding and its flat value is meaningless.
    """
    ndim = len(windows)
    flat = np.zeros((1,) * 2 * ndim, dtype=np.int64)
    inside = np.ones((1,) * 2 * ndim, dtype=bool)
    for i, (win, m) in enumerate(zip(windows, counts)):
        if m == 1:
            # One window: its stride is never multiplied, and may exceed int64.
            win = Window(win.size, win.kernel, 1, win.dilation, win.padding)
        shape = [1] * 2 * ndim
        shape[i], shape[ndim + i] = m, win.kernel
        pos = win.index(np.arange(m)[:, None], np.arange(win.kernel)[None, :]).reshape(shape)
        flat = flat * win.size + pos
        inside = inside & (pos >= 0) & (pos < win.size)
    kernel = tuple(win.kernel for win in windows)
    full = (*counts, *kernel)
    flat, inside = np.broadcast_to(flat, full), np.broadcast_to(inside, full)
    return flat.reshape(math.prod(counts), -1), inside.reshape(math.prod(counts), -1)


def _build(w, windows: tuple[Window, ...], counts: tuple[int, ...], groups: int) -> scipy.sparse.csr_matrix:
    """The CSR matrix of a convolution with ``counts`` output positions per dimension.

    Built in canonical CSR order directly: within a row the columns run over
    input channels, then taps, and a tap further along the kernel lands
    further along the image, so they come out sorted and never repeat.
    """
    c_out, cin_g = w.shape[:2]
    p_in, p_out, taps = math.prod(win.size for win in windows), math.prod(counts), math.prod(w.shape[2:])
    # Per possible entry: its value, its column index, the mask and the gathered
    # columns (int64 while built), before the zeros of the padding drop out.
    entries = c_out * p_out * cin_g * taps
    check_memory(
        (w.dtype.itemsize + 17) * entries + 9 * p_out * taps,
        f"the conv matrix ({c_out * p_out} x {cin_g * groups * p_in}, up to {entries} entries)",
    )
    cols, inside = _tap_columns(windows, counts)
    first_channel = (np.arange(c_out) // (c_out // groups)) * cin_g
    offset = (first_channel[:, None] + np.arange(cin_g)[None, :]) * p_in
    shape = (c_out, p_out, cin_g, taps)
    mask = np.broadcast_to(inside[None, :, None, :], shape)
    # Column indices and row pointers (up to the entry count) share one dtype.
    index_type = np.int32 if max(cin_g * groups * p_in, math.prod(shape)) < 2**31 else np.int64
    offset, cols = offset.astype(index_type), cols.astype(index_type)
    indices = (offset[:, None, :, None] + cols[None, :, None, :])[mask]
    data = np.broadcast_to(w.reshape(c_out, 1, cin_g, taps), shape)[mask]
    per_row = np.tile(inside.sum(axis=1) * cin_g, c_out)
    indptr = np.concatenate(([0], np.cumsum(per_row))).astype(index_type)
    return scipy.sparse.csr_matrix((data, indices, indptr), shape=(c_out * p_out, cin_g * groups * p_in))


def conv_matrix(
    input_shape: tuple[int, ...],
    weight: ArrayLike,
    stride: IntArg = 1,
    padding: PaddingArg = 0,
    dilation: IntArg = 1,
    groups: int = 1,
) -> scipy.sparse.csr_matrix:
    """The sparse matrix ``M`` of a convolution: ``conv(x)[n].ravel() == M @ x[n].ravel()``.

    Parameters
    ----------
    input_shape : tuple of int, ``(C_in, *size)`` or ``(N, C_in, *size)``
        The shape of one sample (a leading batch size is ignored).
    weight : array_like, shape ``(C_out, C_in/groups, *k)``
        1 to 3 spatial dimensions, as for ``conv1d/2d/3d``.
    stride, padding, dilation, groups
        As :func:`convlab.functional.conv2d` (``(lo, hi)`` pairs and ``'same'``
        accepted); zero padding only.

    Returns
    -------
    scipy.sparse.csr_matrix, shape ``(C_out * prod(out), C_in * prod(size))``
        In the weight's dtype. Rows and columns are channel-major, then
        positions in C order. Every connection (tap inside the image) is
        stored, so a zero weight appears as an explicit zero.

    Notes
    -----
    ``C_out * C_in/groups * prod(k) * prod(out)`` stored entries at most:
    about 9.4 million (113 MB in float64) for a 64x64 image, 16 to 16
    channels, 3x3 kernel. ``out`` is :func:`convlab.shapes.conv_output_size`.

    Examples
    --------
    >>> m = conv_matrix((1, 4, 4), np.arange(9.0).reshape(1, 1, 3, 3))
    >>> m.shape
    (4, 16)
    >>> m.toarray()[1].reshape(4, 4)
    array([[0., 0., 1., 2.],
           [0., 3., 4., 5.],
           [0., 6., 7., 8.],
           [0., 0., 0., 0.]])
    """
    w, ndim = spatial_ndim(weight, transposed=False)
    c_in, size = _sample_shape(input_shape, ndim)
    # The array checks read only the input's shape: a broadcast zero has it
    # without the memory (they copy it, one sample, far less than M itself).
    check_memory(
        w.dtype.itemsize * c_in * math.prod(size), f"conv_matrix's input_shape={describe(input_shape)}"
    )
    stub = np.broadcast_to(np.zeros((), dtype=w.dtype), (1, c_in, *size))
    args = conv_args(stub, w, None, stride, padding, dilation, groups, "zeros", ndim)
    return _build(args.w, args.windows, args.out_shape, args.groups)


def _sample_shape(input_shape: object, ndim: int) -> tuple[int, tuple[int, ...]]:
    """``(C_in, size)`` from ``(C_in, *size)`` or ``(N, C_in, *size)``."""
    if not is_sequence(input_shape) or len(input_shape) not in (ndim + 1, ndim + 2):  # type: ignore[arg-type]
        raise ConvlabError(
            f"input_shape must be (C_in, *size) or (N, C_in, *size) with {ndim} spatial size"
            f"{'s' if ndim > 1 else ''} (the weight's), got input_shape={describe(input_shape)}"
        )
    dims = tuple(as_int(v, "input_shape", minimum=1) for v in input_shape)  # type: ignore[union-attr]
    return dims[-ndim - 1], dims[-ndim:]


def _apply(m: scipy.sparse.spmatrix, x: np.ndarray, channels: int, spatial: tuple[int, ...]) -> np.ndarray:
    """``m`` applied to every sample of ``x``, reshaped to ``(N, channels, *spatial)``."""
    flat = x.reshape(x.shape[0], math.prod(x.shape[1:]))
    return np.asarray(m @ flat.T).T.reshape(x.shape[0], channels, *spatial)


def conv_by_matrix(
    input: ArrayLike,
    weight: ArrayLike,
    bias: ArrayLike | None = None,
    stride: IntArg = 1,
    padding: PaddingArg = 0,
    dilation: IntArg = 1,
    groups: int = 1,
) -> np.ndarray:
    """Convolution as one sparse matrix-vector product per sample, ``M @ x[n].ravel()``.

    Parameters
    ----------
    input : array_like, shape ``(N, C_in, *size)`` or ``(C_in, *size)``
    weight : array_like, shape ``(C_out, C_in/groups, *k)``
    bias : array_like, shape ``(C_out,)``, optional
    stride, padding, dilation, groups
        As :func:`convlab.functional.conv2d`; zero padding only.

    Returns
    -------
    numpy.ndarray, shape ``(N, C_out, *out)`` (no ``N`` if unbatched)
        Equal to ``conv1d/2d/3d`` with the same arguments; ``M`` is
        :func:`conv_matrix`.

    Examples
    --------
    >>> conv_by_matrix(np.array([[[1.0, 2.0, 3.0, 4.0]]]), np.array([[[1.0, -1.0]]]))
    array([[[-1., -1., -1.]]])
    """
    setup = conv_setup(input, weight, bias, stride, padding, dilation, groups)
    x, w = setup.x, setup.w
    m = _build(w, setup.windows, setup.out_shape, setup.groups)
    return finish(_apply(m, x, w.shape[0], setup.out_shape), setup)


def conv_transpose_by_matrix(
    input: ArrayLike,
    weight: ArrayLike,
    bias: ArrayLike | None = None,
    stride: IntArg = 1,
    padding: IntArg = 0,
    output_padding: IntArg = 0,
    groups: int = 1,
    dilation: IntArg = 1,
) -> np.ndarray:
    """Transposed convolution as ``M.T @ x[n].ravel()``, ``M`` the matrix of the matching convolution.

    Parameters
    ----------
    input : array_like, shape ``(N, C_in, *size)`` or ``(C_in, *size)``
    weight : array_like, shape ``(C_in, C_out/groups, *k)``
        PyTorch's transposed-convolution layout.
    bias : array_like, shape ``(C_out,)``, optional
    stride, padding, output_padding, groups, dilation
        As :func:`convlab.functional.conv_transpose2d` (``(lo, hi)`` pairs accepted).

    Returns
    -------
    numpy.ndarray, shape ``(N, C_out, *out)`` (no ``N`` if unbatched)

    Notes
    -----
    ``M`` is the matrix of the convolution from the transposed convolution's
    output shape ``out`` (:func:`convlab.shapes.conv_transpose_output_size`)
    back to its input shape, with the same stride, padding and dilation.
    That convolution maps ``C_out`` channels to ``C_in``, so its weight is
    ``(C_in, C_out/groups, *k)``: PyTorch's transposed layout is the
    forward layout of the convolution it transposes, taps unflipped, because
    ``M.T`` only swaps which index of each entry is the row.

    Examples
    --------
    >>> conv_transpose_by_matrix(np.array([[[1.0, 2.0]]]), np.array([[[1.0, 10.0, 100.0]]]), stride=2)
    array([[[  1.,  10., 102.,  20., 200.]]])
    """
    setup = transpose_setup(input, weight, bias, stride, padding, output_padding, groups, dilation)
    x, w = setup.x, setup.w
    # The windows are the input positions, not conv_output_size(out): when
    # output_padding >= stride (possible if dilation > stride) the
    # convolution of the output size has windows past the input's end, and
    # their rows of M are not part of the transposed convolution.
    m = _build(w, setup.image, x.shape[2:], setup.groups)
    channels = w.shape[1] * setup.groups
    return finish(_apply(m.T, x, channels, setup.out_shape), setup)
