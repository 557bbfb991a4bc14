"""QuantizeLinear and DequantizeLinear, as ONNX specifies them and onnxruntime computes them.

``q = saturate(round_half_to_even(x / scale) + zero_point)`` and
``x' = (q - zero_point) * scale``, per tensor, per slice along an axis, or
per block of elements along an axis (opset 21).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from .._args import ConvlabError, as_int
from ._dtypes import as_int_array, output_type, qtype, zero_point_array
from ._params import as_scale, broadcast_param, normalise_axis

__all__ = ["dequantize_linear", "quantize_linear"]


def _layout(shape, scale, zero_point, axis, block_size, kind):
    """Scale and zero point broadcast against ``shape`` (checked once here)."""
    ax = None if axis is None else normalise_axis(axis, max(len(shape), 1))
    block = 0 if block_size is None else as_int(block_size, "block_size", minimum=1)
    if block and ax is None:
        raise ConvlabError(f"block_size needs an axis to run along, got block_size={block} and axis=None")
    s = broadcast_param(scale, shape, ax, block, "scale")
    zp = broadcast_param(zero_point_array(zero_point, "zero_point", kind), shape, ax, block, "zero_point")
    return s, zp


def quantize_linear(
    x: ArrayLike,
    scale: ArrayLike,
    zero_point: ArrayLike = 0,
    *,
    axis: int | None = None,
    block_size: int | None = None,
    dtype: object = None,
) -> np.ndarray:
    """ONNX QuantizeLinear: ``saturate(round_half_to_even(x / scale) + zero_point)``.

    Parameters
    ----------
    x : array_like of float
        Float32 data is divided in float32 (as onnxruntime does), float64 in float64.
    scale : float or array_like of float
        One value (per tensor), one per index of ``axis``, or, with
        ``block_size``, ``x``'s shape with ``ceil(x.shape[axis] / block_size)``
        along ``axis``. Python numbers are float32. Must be positive.
    zero_point : int or array_like of int, default 0
        Same layout as ``scale``, inside the output type's range.
    axis : int, optional
        The dimension per-axis or per-block parameters follow.
    block_size : int, optional
        Elements per block along ``axis`` (ONNX opset 21 blocked quantization).
    dtype : NumPy integer dtype or ``'int4'``/``'uint4'``, optional
        The output type; by default that of an integer NumPy ``zero_point``,
        else uint8 (ONNX's default). 4-bit codes come back in int8/uint8 arrays.

    Returns
    -------
    numpy.ndarray of ``x``'s shape, in the output type

    Notes
    -----
    Rounds half to even (``2.5 -> 2``, ``-0.5 -> 0``) and saturates to the
    type's range; the division is clamped before it becomes an integer, so
    no value wraps. NaN is refused: the runtimes map it to different codes.

    Examples
    --------
    >>> quantize_linear([-1.0, 0.25, 0.75, 100.0], 0.5, np.int8(0))
    array([ -2,   0,   2, 127], dtype=int8)
    """
    data = np.asarray(x)
    if data.dtype.kind not in "fiu":
        raise TypeError(f"x must be a real numeric array, got dtype {data.dtype}")
    data = data if data.dtype in (np.float32, np.float64) else data.astype(np.float64)
    if np.isnan(data).any():
        raise ConvlabError("x must not contain NaN: QuantizeLinear has no code for it")
    kind = output_type(zero_point, dtype, np.uint8)
    s, zp = _layout(data.shape, as_scale(scale, "scale"), zero_point, axis, block_size, kind)
    with np.errstate(over="ignore"):
        ratio = data / s.astype(data.dtype)
    # Clamping to the range shifted by the zero point before the cast keeps huge ratios from wrapping.
    lo, hi = (kind.lo - zp).astype(data.dtype), (kind.hi - zp).astype(data.dtype)
    q = np.clip(np.rint(ratio), lo, hi).astype(np.int64) + zp
    return q.astype(kind.storage)


def dequantize_linear(
    q: ArrayLike,
    scale: ArrayLike,
    zero_point: ArrayLike = 0,
    *,
    axis: int | None = None,
    block_size: int | None = None,
    dtype: object = None,
) -> np.ndarray:
    """ONNX DequantizeLinear: ``(q - zero_point) * scale`` in the scale's float type.

    Parameters
    ----------
    q : array_like of int
        Quantized codes (int4/uint4 codes in int8/uint8 arrays, with ``dtype``).
    scale, zero_point, axis, block_size
        As :func:`quantize_linear`.
    dtype : NumPy integer dtype or ``'int4'``/``'uint4'``, optional
        The type of ``q``, to check its values and the zero point; by default
        ``q``'s own dtype.

    Returns
    -------
    numpy.ndarray of ``q``'s shape, float32 (or the dtype of a float NumPy scale)

    Notes
    -----
    The difference ``q - zero_point`` is formed in integers and converted to
    float once, then multiplied by the scale: one rounding, as onnxruntime.

    Examples
    --------
    >>> dequantize_linear(np.array([0, 3, 255], dtype=np.uint8), 0.5, np.uint8(128))
    array([-64. , -62.5,  63.5], dtype=float32)
    """
    array = as_int_array(q, "q")
    kind = qtype(array.dtype if dtype is None else dtype)
    array = as_int_array(array, "q", kind)
    s, zp = _layout(array.shape, as_scale(scale, "scale"), zero_point, axis, block_size, kind)
    return (array.astype(np.int64) - zp).astype(s.dtype) * s
