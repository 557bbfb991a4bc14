"""Quantized transposed convolution, defined as ONNX defines QLinearConv, on ConvTranspose.

ONNX has no QLinearConvTranspose in its standard domain (onnxruntime's
com.microsoft one exists for the XNNPACK provider only), so convlab states
the definition a QDQ graph ``DequantizeLinear -> ConvTranspose ->
QuantizeLinear`` approximates, and computes it exactly:

1. ``acc = conv_transpose(x - x_zero_point, w - w_zero_point)`` in integers
   (exact int64 sums, held as int32 like every ONNX integer accumulator);
2. ``acc += bias`` (int32, scale ``x_scale * w_scale``, zero point 0);
3. ``y = saturate(rint(float32(acc) * float32(x_scale * w_scale / y_scale)) + y_zero_point)``,
   the requantisation of QLinearConv as onnxruntime computes it.

Weights are ``(C_in, C_out/groups, *k)`` and per-channel scales and zero
points follow the weight's axis 1 (``C_out/groups`` values, shared by the
groups), which is what ``DequantizeLinear(axis=1)`` on that weight means.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from .._args import ConvlabError, padding_pairs, per_dim
from ..shapes import conv_transpose_output_size
from ._conv import _requant_scale, add_bias, wrap_int32
from ._conv_args import conv_operands, shifted
from ._dtypes import output_type
from ._integer import accumulate_transposed
from ._requant import requantize_float
from ._windows import QGeometry

__all__ = ["conv_transpose_integer", "qlinear_conv_transpose"]


def _accumulators(x, w, x_zero_point, w_zero_point, stride, padding, output_padding, dilation, groups):
    ops = conv_operands(x, w, x_zero_point, w_zero_point, groups, transposed=True)
    ndim = ops.w.ndim - 2
    s = per_dim(stride, "stride", ndim, minimum=1)
    d = per_dim(dilation, "dilation", ndim, minimum=1)
    pairs = padding_pairs(padding, ndim)
    if pairs == "same":
        raise ConvlabError("padding='same' is defined for convolutions only, got padding='same'")
    kernel = ops.w.shape[2:]
    out_shape = tuple(conv_transpose_output_size(ops.x.shape[2:], kernel, s, pairs, output_padding, d))
    geom = QGeometry(out_shape, kernel, s, d, tuple(lo for lo, _ in pairs), tuple(hi for _, hi in pairs))
    xs, ws = shifted(ops, transposed=True)
    acc, _ = accumulate_transposed(xs, ws, geom, ops.groups)
    return ops, acc


def conv_transpose_integer(
    x: ArrayLike,
    w: ArrayLike,
    x_zero_point: ArrayLike = 0,
    w_zero_point: ArrayLike = 0,
    *,
    stride=1,
    padding=0,
    output_padding=0,
    dilation=1,
    groups: int = 1,
) -> np.ndarray:
    """Transposed ConvInteger: int32 sums of ``(x - x_zero_point) * (w - w_zero_point)``, exactly.

    Parameters
    ----------
    x : array_like of int, shape ``(N, C_in, *spatial)`` or ``(C_in, *spatial)``
    w : array_like of int, shape ``(C_in, C_out/groups, *kernel)``
    x_zero_point : int
    w_zero_point : int or array_like of int, shape ``(C_out/groups,)``
    stride, padding, output_padding, dilation, groups
        As :func:`convlab.functional.conv_transpose2d` (``padding`` may be
        ``(lo, hi)`` pairs; it is cropped from the output).

    Returns
    -------
    numpy.ndarray of int32, shape ``(N, C_out, *out)``

    Notes
    -----
    ``out = (size - 1)*stride - lo - hi + dilation*(k - 1) + output_padding + 1``.
    The adjoint of :func:`conv_integer`: ``<conv_integer(a, w), b> = <a, conv_transpose_integer(b, w)>``.

    Examples
    --------
    >>> conv_transpose_integer(np.array([[[1, 2]]], np.int8), np.array([[[1, 1]]], np.int8), stride=2)
    array([[[1, 1, 2, 2]]], dtype=int32)
    """
    args = (stride, padding, output_padding, dilation, groups)
    ops, acc = _accumulators(x, w, x_zero_point, w_zero_point, *args)
    out = wrap_int32(acc)
    return out[0] if ops.unbatched else out


def qlinear_conv_transpose(
    x: ArrayLike,
    x_scale: ArrayLike,
    x_zero_point: ArrayLike,
    w: ArrayLike,
    w_scale: ArrayLike,
    w_zero_point: ArrayLike,
    y_scale: ArrayLike,
    y_zero_point: ArrayLike,
    bias: ArrayLike | None = None,
    *,
    stride=1,
    padding=0,
    output_padding=0,
    dilation=1,
    groups: int = 1,
    dtype=None,
) -> np.ndarray:
    """Quantized transposed convolution: integer ConvTranspose, int32 bias, QLinearConv's requantisation.

    Parameters
    ----------
    x, w, x_zero_point, w_zero_point, stride, padding, output_padding, dilation, groups
        As :func:`conv_transpose_integer`.
    x_scale, y_scale : float
    w_scale : float or array_like of float, shape ``(C_out/groups,)``
    y_zero_point : int
        Its NumPy dtype is the output type; a Python int takes ``dtype`` (default ``x``'s).
    bias : array_like of int32, shape ``(C_out,)``, optional

    Returns
    -------
    numpy.ndarray, shape ``(N, C_out, *out)``, in the output type

    Notes
    -----
    The definition is in this module's docstring: what the QDQ graph
    ``DequantizeLinear -> ConvTranspose -> QuantizeLinear`` computes when
    its float arithmetic is exact, with QLinearConv's float32 requantisation.

    Examples
    --------
    >>> x = np.array([[[10, 20]]], np.uint8)
    >>> qlinear_conv_transpose(x, 0.5, 0, np.array([[[1, 3]]], np.int8), 1.0, 0, 1.0, np.uint8(0), stride=2)
    array([[[ 5, 15, 10, 30]]], dtype=uint8)
    """
    args = (stride, padding, output_padding, dilation, groups)
    ops, acc = _accumulators(x, w, x_zero_point, w_zero_point, *args)
    per_weight = ops.w.shape[1]
    c_out = per_weight * ops.groups
    kind = output_type(y_zero_point, dtype, ops.x.dtype, "y_zero_point")
    scale = _requant_scale(x_scale, w_scale, y_scale, per_weight)
    # Per-channel entries follow the weight's axis 1, so every group reuses them.
    scale = np.tile(scale, ops.groups) if scale.size > 1 else np.broadcast_to(scale, (c_out,))
    shaped = scale.reshape(-1, *(1,) * (acc.ndim - 2))
    y = requantize_float(add_bias(acc, bias, c_out), shaped, y_zero_point, dtype=kind.storage)
    return y[0] if ops.unbatched else y
