"""Pooling of quantized tensors: max pooling in integers, and com.microsoft QLinearAveragePool.

Max pooling commutes with every monotone requantisation, so it runs on the
codes themselves, exactly; padded positions never win (ONNX MaxPool).

QLinearAveragePool is float32 arithmetic in onnxruntime, and its result
depends on the order, so the recipe is stated (``qlinear_pool.cc``):

- every code is dequantised, ``float32(x_scale) * float32(x - x_zero_point)``;
- each window sums its valid elements in float32, in kernel order (rows,
  then columns, then depth), and divides by the count in float32: the kernel
  size with ``count_include_pad``, the valid elements otherwise;
- ``y = saturate(rint(float32(avg / y_scale) + y_zero_point))`` (the zero
  point is added in float32 before rounding).

When the kernel covers the whole unpadded image onnxruntime switches to its
global-average kernel instead: an exact int32 sum ``sum(x) - x_zero_point * n``
requantised by ``float32(x_scale / (y_scale * n))`` like QLinearConv. Both
paths are reproduced.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

from .._args import ConvlabError, per_dim
from ._conv_args import conv_geometry
from ._dtypes import as_int_array, qtype, zero_point_array
from ._params import as_scale
from ._requant import requantize_float
from ._windows import QGeometry, chunks, gather

__all__ = ["max_pool", "qlinear_average_pool"]


def _pool_geometry(x: np.ndarray, kernel_size, stride, padding, dilation):
    if x.ndim < 3 or x.ndim > 5 or 0 in x.shape[2:]:
        raise ConvlabError(
            f"x must have shape (N, C, *spatial) with 1-3 non-empty spatial dims, got {x.shape}"
        )
    ndim = x.ndim - 2
    kernel = per_dim(kernel_size, "kernel_size", ndim, minimum=1)
    s = kernel if stride is None else stride
    geom, out_shape, pairs = conv_geometry(x.shape[2:], kernel, s, padding, dilation)
    if any(lo >= k * d or hi >= k * d for (lo, hi), k, d in zip(pairs, kernel, geom.dilation)):
        raise ConvlabError(
            f"padding must be smaller than the (dilated) kernel, or a window sees padding only: "
            f"padding {pairs} for kernel_size={kernel}"
        )
    return geom, out_shape, pairs


def _windows(x: np.ndarray, geom: QGeometry, out_shape, reduce) -> np.ndarray:
    """``reduce(cols)`` per chunk, where ``cols`` is ``(n, C, taps, *box)`` (0 in padding)."""
    n, c = x.shape[:2]
    out = None
    for batch, box in chunks(n, out_shape, c * geom.taps * x.dtype.itemsize):
        sizes = tuple(b.stop - b.start for b in box)
        cols = np.empty((batch.stop - batch.start, c, geom.taps, *sizes), dtype=x.dtype)
        gather(x[batch], geom, box, cols)
        part = reduce(cols)
        if out is None:
            out = np.empty((n, c, *out_shape), dtype=part.dtype)
        out[(batch, slice(None), *box)] = part
    return out


def max_pool(x: ArrayLike, kernel_size, stride=None, padding=0, dilation=1) -> np.ndarray:
    """ONNX MaxPool on integer codes: the largest code of each window, padding excluded.

    Parameters
    ----------
    x : array_like of int, shape ``(N, C, *spatial)``, 1-3 spatial dims
    kernel_size : int or tuple
    stride : int or tuple, optional
        Default ``kernel_size``.
    padding : int, tuple, ``(lo, hi)`` pairs, ``'valid'``, ``'same'``, ``'SAME_UPPER'``, ``'SAME_LOWER'``
    dilation : int or tuple

    Returns
    -------
    numpy.ndarray of ``x``'s dtype, shape ``(N, C, *out)``

    Examples
    --------
    >>> max_pool(np.array([[[3, -7, 5, 1]]], np.int8), 2)
    array([[[3, 5]]], dtype=int8)
    """
    q = as_int_array(x, "x")
    kind = qtype(q.dtype, "x dtype")
    geom, out_shape, _ = _pool_geometry(q, kernel_size, stride, padding, dilation)
    # Codes shifted to >= 1, so that the 0 that im2col writes into padding never wins.
    shifted = q.astype(np.int64) - (kind.lo - 1)
    best = _windows(shifted, geom, out_shape, lambda cols: cols.max(axis=2))
    return (best + (kind.lo - 1)).astype(q.dtype)


def _sequential_sum(cols: np.ndarray) -> np.ndarray:
    """Sum over the tap axis one tap at a time, in float32, as a scalar loop adds (no pairwise sum)."""
    total = np.zeros(cols.shape[:2] + cols.shape[3:], np.float32)
    for t in range(cols.shape[2]):
        total += cols[:, :, t]
    return total


def _check_global_range(scale: np.float32, n: int) -> None:
    # onnxruntime's global kernel (MLAS CheckQLinearGlobalAveragePoolScaleAndSize)
    # throws outside this range rather than compute: below 2**-32 or from 256 up
    # every output is the same saturated constant. A golden model of that
    # kernel refuses the same inputs, and says why.
    if n >= 2**24:
        raise ConvlabError(f"the global average covers {n} >= 2**24 elements, which onnxruntime refuses")
    if not 2.0**-32 <= float(scale) < 256.0:
        raise ConvlabError(
            f"x_scale / (y_scale * n) = {float(scale):.6g} (n = {n}) is outside [2**-32, 256), where "
            f"onnxruntime's global average kernel refuses to run (every output would be one constant)"
        )


def qlinear_average_pool(
    x: ArrayLike,
    x_scale: ArrayLike,
    x_zero_point: ArrayLike,
    y_scale: ArrayLike,
    y_zero_point: ArrayLike,
    kernel_size,
    stride=None,
    padding=0,
    *,
    count_include_pad: bool = False,
) -> np.ndarray:
    """com.microsoft QLinearAveragePool, bit-equal to onnxruntime's CPU kernel.

    Parameters
    ----------
    x : array_like of uint8 or int8, shape ``(N, C, *spatial)``
    x_scale, y_scale : float
    x_zero_point, y_zero_point : int
    kernel_size, stride, padding
        As :func:`max_pool` (no dilation: the operator has none).
    count_include_pad : bool
        Divide by the kernel size instead of the number of valid elements.

    Returns
    -------
    numpy.ndarray of ``x``'s dtype

    Notes
    -----
    The two float32 recipes onnxruntime uses are in this module's docstring.

    Examples
    --------
    >>> x = np.array([[[10, 20, 31, 40]]], np.uint8)
    >>> qlinear_average_pool(x, 1.0, 0, 1.0, 0, 2)
    array([[[15, 36]]], dtype=uint8)
    """
    q = as_int_array(x, "x")
    if q.dtype not in (np.uint8, np.int8):
        raise ConvlabError(f"x must be uint8 or int8, got dtype {q.dtype}")
    kind = qtype(q.dtype)
    geom, out_shape, pairs = _pool_geometry(q, kernel_size, stride, padding, 1)
    sx, sy = (as_scale(v, n).astype(np.float32) for v, n in ((x_scale, "x_scale"), (y_scale, "y_scale")))
    if sx.size != 1 or sy.size != 1:
        raise ConvlabError(f"x_scale and y_scale must be scalars, got shapes {sx.shape} and {sy.shape}")
    zx = int(zero_point_array(x_zero_point, "x_zero_point", kind).reshape(()))
    zy = zero_point_array(y_zero_point, "y_zero_point", kind).reshape(())
    if tuple(geom.kernel) == q.shape[2:] and not any(p for pair in pairs for p in pair):
        n = math.prod(geom.kernel)
        acc = q.astype(np.int64).reshape(*q.shape[:2], -1).sum(axis=2) - zx * n
        scale = sx.reshape(()) / (sy.reshape(()) * np.float32(n))
        _check_global_range(scale, n)
        return requantize_float(acc, scale, zy, dtype=kind.storage).reshape(
            *q.shape[:2], *(1,) * (q.ndim - 2)
        )
    real = sx.reshape(()) * (q.astype(np.int64) - zx).astype(np.float32)
    total = _windows(real, geom, out_shape, _sequential_sum)
    if count_include_pad:
        count = np.float32(geom.taps)
    else:
        ones = np.ones((1, 1, *q.shape[2:]), np.float32)
        count = _windows(ones, geom, out_shape, lambda cols: cols.sum(axis=2))
    y = (total / count) / sy.reshape(())
    y = y + np.float32(zy)  # added in float32 before rounding, as the kernel does
    return np.clip(np.rint(y), kind.lo, kind.hi).astype(kind.storage)
