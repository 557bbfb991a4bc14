"""ConvInteger and QLinearConv: exact integer convolution, then ONNX's requantisation.

Both subtract the zero points first and convolve the shifted operands with
:func:`._integer.accumulate`; padding the shifted input with zeros is ONNX's
padding with ``x_zero_point``. ``conv_integer`` returns the int32
accumulators; ``qlinear_conv`` adds the int32 bias and requantises them by
onnxruntime's float32 rule (:func:`.requantize_float`).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from .._args import ConvlabError
from ._conv_args import conv_geometry, conv_operands, shifted
from ._dtypes import as_int_array, output_type, qtype, zero_point_array
from ._integer import Route, accumulate, choose_route
from ._params import as_scale
from ._requant import requantize_values

__all__ = ["conv_integer", "conv_route", "qlinear_conv", "wrap_int32"]


def wrap_int32(acc: np.ndarray) -> np.ndarray:
    """Exact sums as an int32 register holds them: two's complement, modulo ``2**32``."""
    return acc if acc.dtype == np.int32 else acc.astype(np.int64).astype(np.int32)


def _accumulators(x, w, x_zero_point, w_zero_point, stride, padding, dilation, groups):
    ops = conv_operands(x, w, x_zero_point, w_zero_point, groups, transposed=False)
    geom, out_shape, _ = conv_geometry(ops.x.shape[2:], ops.w.shape[2:], stride, padding, dilation)
    xs, ws = shifted(ops, transposed=False)
    acc, route = accumulate(xs, ws, geom, out_shape, ops.groups)
    return ops, acc, route


def conv_integer(
    x: ArrayLike,
    w: ArrayLike,
    x_zero_point: ArrayLike = 0,
    w_zero_point: ArrayLike = 0,
    *,
    stride=1,
    padding="valid",
    dilation=1,
    groups: int = 1,
) -> np.ndarray:
    """ONNX ConvInteger: ``sum (x - x_zero_point) * (w - w_zero_point)`` in int32, exactly.

    Parameters
    ----------
    x : array_like of int, shape ``(N, C_in, *spatial)`` or ``(C_in, *spatial)``
        int8/uint8 (ONNX), or int4..int32 codes.
    w : array_like of int, shape ``(C_out, C_in/groups, *kernel)``, 1-3 kernel dims
    x_zero_point : int
    w_zero_point : int or array_like of int, shape ``(C_out,)``
    stride, dilation : int or tuple
    padding : int, tuple, ``(lo, hi)`` pairs, ``'valid'``, ``'same'``/``'SAME_UPPER'`` or ``'SAME_LOWER'``
        Padded positions hold ``x_zero_point`` (they contribute 0).
    groups : int

    Returns
    -------
    numpy.ndarray of int32, shape ``(N, C_out, *out)``

    Notes
    -----
    The sums are exact (float64 GEMM under the bound of :func:`conv_route`,
    int64 above it) and then held as int32, wrapping beyond ``2**31`` as an
    int32 accumulator does. ``out = floor((size + lo + hi - d*(k-1) - 1)/s) + 1``.

    Examples
    --------
    >>> x = np.array([[[1, 2, 3, 4]]], dtype=np.uint8)
    >>> conv_integer(x, np.array([[[1, -1]]], dtype=np.int8), 1)
    array([[[-1, -1, -1]]], dtype=int32)
    """
    ops, acc, _ = _accumulators(x, w, x_zero_point, w_zero_point, stride, padding, dilation, groups)
    out = wrap_int32(acc)
    return out[0] if ops.unbatched else out


def conv_route(
    x: ArrayLike, w: ArrayLike, x_zero_point: ArrayLike = 0, w_zero_point: ArrayLike = 0, *, groups: int = 1
) -> Route:
    """The accumulation route :func:`conv_integer` and :func:`qlinear_conv` take for these operands.

    With ``K = C_in/groups * prod(kernel)``: ``'float32'`` in passes of
    input channels whose partial sums stay below ``2**24`` (no groups),
    ``'float64'`` while ``K * max|x - zx| * max|w - zw| < 2**53``, else
    ``'int64'`` (:func:`convlab.quant._integer.choose_route`).

    Examples
    --------
    >>> r = conv_route(np.zeros((1, 64, 8, 8), np.uint8), np.full((64, 64, 3, 3), -128, np.int8), 255)
    >>> r.name, r.bound, r.channels_per_pass
    ('float32', 18800640, 32)
    """
    ops = conv_operands(x, w, x_zero_point, w_zero_point, groups, transposed=False)
    xs, ws = shifted(ops, transposed=False)
    taps = int(np.prod(ops.w.shape[2:]))
    mags = [int(np.abs(a).max()) for a in (xs, ws)]
    grouped = ops.groups > 1
    return choose_route(ops.w.shape[1] * taps, *mags, taps=0 if grouped else taps, channels=xs.shape[1])


def _requant_scale(x_scale, w_scale, y_scale, c_out: int) -> np.ndarray:
    """``x_scale * w_scale / y_scale`` per output channel in float32, in onnxruntime's order."""
    sx, sw, sy = (
        as_scale(v, n) for v, n in ((x_scale, "x_scale"), (w_scale, "w_scale"), (y_scale, "y_scale"))
    )
    if sx.size != 1 or sy.size != 1:
        raise ConvlabError(f"x_scale and y_scale must be scalars, got shapes {sx.shape} and {sy.shape}")
    if sw.size != 1 and sw.shape != (c_out,):
        raise ConvlabError(f"w_scale must be a scalar or have shape ({c_out},), got shape {sw.shape}")
    f32 = np.float32
    return (sx.astype(f32).reshape(()) * sw.astype(f32).reshape(-1)) / sy.astype(f32).reshape(())


def add_bias(acc: np.ndarray, bias, c_out: int) -> np.ndarray:
    """int32 accumulators plus the int32 bias, in int32 (wrapping) as the runtimes add it."""
    if bias is None:
        return wrap_int32(acc)
    b = _bias(bias, c_out)
    return wrap_int32(wrap_int32(acc).astype(np.int64) + b.reshape(-1, *(1,) * (acc.ndim - 2)))


def _bias(bias, c_out: int) -> np.ndarray:
    b = as_int_array(bias, "bias", qtype(np.int32))
    if b.shape != (c_out,):
        raise ConvlabError(f"bias must have shape ({c_out},) (one per output channel), got shape {b.shape}")
    return b


def requantized(acc: np.ndarray, route: Route, bias, scale: np.ndarray, zero_point, kind) -> np.ndarray:
    """``saturate(rint(float32(acc + bias) * scale) + zero_point)`` with int32 wrapping where it can occur.

    When the bound proves ``|acc + bias| < 2**31`` (always for 8-bit layers) the
    exact sums (int32 or float64) are converted to float32 directly, which
    rounds as the int32-to-float32 conversion does, and no int64 copy is made.
    """
    c_out = scale.shape[0]
    zp = zero_point_array(zero_point, "y_zero_point", kind)
    b = None if bias is None else _bias(bias, c_out)
    largest = route.bound + (0 if b is None else int(np.abs(b.astype(np.int64)).max(initial=0)))
    if acc.dtype != np.int64 and largest < 2**31:
        if b is not None:  # acc is this call's temporary: add in place, exact in its dtype
            acc += b.reshape(-1, *(1,) * (acc.ndim - 2)).astype(acc.dtype)
        return requantize_values(acc.astype(np.float32), scale, zp, kind, overwrite=True)
    return requantize_values(add_bias(acc, bias, c_out).astype(np.float32), scale, zp, kind)


def qlinear_conv(
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
    padding="valid",
    dilation=1,
    groups: int = 1,
    dtype=None,
) -> np.ndarray:
    """ONNX QLinearConv, bit-equal to onnxruntime: integer conv, int32 bias, float32 requantisation.

    Parameters
    ----------
    x, w, x_zero_point, w_zero_point, stride, padding, dilation, groups
        As :func:`conv_integer`.
    x_scale, y_scale : float
    w_scale : float or array_like of float, shape ``(C_out,)``
        Per tensor or per output channel, like ``w_zero_point``.
    y_zero_point : int
        Its NumPy dtype is the output type (ONNX); a Python int takes ``dtype``.
    bias : array_like of int32, shape ``(C_out,)``, optional
        Quantized with scale ``x_scale * w_scale`` and zero point 0.
    dtype : NumPy integer dtype, optional
        Output type when ``y_zero_point`` is untyped; default ``x``'s.

    Returns
    -------
    numpy.ndarray, shape ``(N, C_out, *out)``, in the output type

    Notes
    -----
    ``y = saturate(rint(float32(acc + bias) * float32(x_scale * w_scale / y_scale)) + y_zero_point)``
    with the scale product formed in float32 in that order, as onnxruntime.

    Examples
    --------
    >>> x = np.array([[[10, 20, 30]]], dtype=np.uint8)
    >>> w = np.array([[[1, 1]]], dtype=np.int8)
    >>> qlinear_conv(x, 0.5, 0, w, 1.0, 0, 2.0, np.uint8(3))
    array([[[11, 15]]], dtype=uint8)
    """
    ops, acc, route = _accumulators(x, w, x_zero_point, w_zero_point, stride, padding, dilation, groups)
    c_out = ops.w.shape[0]
    kind = output_type(y_zero_point, dtype, ops.x.dtype, "y_zero_point")
    scale = _requant_scale(x_scale, w_scale, y_scale, c_out).reshape(-1, *(1,) * (acc.ndim - 2))
    y = requantized(acc, route, bias, np.broadcast_to(scale, (c_out, *scale.shape[1:])), y_zero_point, kind)
    return y[0] if ops.unbatched else y
