"""Requantisation: int32 accumulators back to narrow integers, by ONNX's float rule or by integers only.

ONNX (QLinearConv, QLinearMatMul) specifies the float rule
``y = saturate(round_half_to_even(acc * scale) + zero_point)``, which
onnxruntime computes in float32: ``float32(acc) * float32(scale)``, one
rounding each. Hardware and TFLite/gemmlowp instead write ``scale`` as a
31-bit fixed-point multiplier and a power-of-two shift
(:func:`quantize_multiplier`) and apply it with integer operations only
(:func:`requantize`). The two agree except near ties: e.g. ``acc = 5`` at
``scale = 0.1`` is 0 by the float rule (0.5 rounds to even) and 1 by
gemmlowp's (its final shift rounds half away from zero).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

from .._args import ConvlabError, as_int, describe
from ._dtypes import as_int_array, output_type, qtype, zero_point_array
from ._params import as_scale

__all__ = ["quantize_multiplier", "requantize", "requantize_float", "requantize_values"]

_I32 = (-(2**31), 2**31 - 1)
ROUNDINGS = ("gemmlowp", "single")


def requantize_float(
    acc: ArrayLike, scale: ArrayLike, zero_point: ArrayLike = 0, *, dtype=None
) -> np.ndarray:
    """ONNX's rule as onnxruntime computes it: ``float32(acc) * scale``, round half to even, add, saturate.

    Parameters
    ----------
    acc : array_like of int
        Accumulators (int32 values).
    scale : float or array_like of float
        Broadcast against ``acc`` (e.g. shape ``(C, 1, 1)`` per channel).
    zero_point : int
        The output zero point, inside the output type's range.
    dtype : NumPy integer dtype, optional
        The output type; by default that of a NumPy integer ``zero_point``, else int8.

    Examples
    --------
    >>> requantize_float([5, 15, -5], 0.1, dtype=np.int8)
    array([0, 2, 0], dtype=int8)
    """
    kind = output_type(zero_point, dtype, np.int8)
    a = as_int_array(acc, "acc").astype(np.int64)
    s = as_scale(scale, "scale")
    zp = zero_point_array(zero_point, "zero_point", kind)
    return requantize_values(a.astype(s.dtype), s, zp, kind)


def requantize_values(values: np.ndarray, scale: np.ndarray, zp: np.ndarray, kind, *, overwrite=False):
    """The float rule on accumulators already converted to the scale's float type (one rounding each).

    With ``overwrite`` the product is formed in ``values`` (a temporary of the caller's).
    """
    product = np.multiply(values, scale, out=values) if overwrite else values * scale
    lo, hi = (kind.lo - zp).astype(scale.dtype), (kind.hi - zp).astype(scale.dtype)
    np.rint(product, out=product)
    np.clip(product, lo, hi, out=product)
    if kind.hi - kind.lo < 2**24:  # codes and zero points are exact in float32: add there, cast once
        product += zp.astype(product.dtype)
        return product.astype(kind.storage)
    return (product.astype(np.int64) + zp).astype(kind.storage)


def quantize_multiplier(scale: float) -> tuple[int, int]:
    """``(multiplier, shift)`` with ``scale ≈ multiplier * 2**(shift - 31)``, as TFLite's QuantizeMultiplier.

    ``multiplier`` is in ``[2**30, 2**31)`` (a Q0.31 number in [0.5, 1)),
    rounded half away from zero from the float64 mantissa; ``shift`` is the
    left shift (negative: right). Scales below ``2**-32`` become ``(0, 0)``.

    Examples
    --------
    >>> quantize_multiplier(0.1)
    (1717986918, -3)
    >>> quantize_multiplier(0.5)
    (1073741824, 0)
    """
    if isinstance(scale, bool) or not isinstance(scale, (int, float, np.integer, np.floating)):
        raise TypeError(f"scale must be a real number, got {type(scale).__name__} {describe(scale)}")
    value = float(scale)
    if not (math.isfinite(value) and value > 0):
        raise ConvlabError(f"scale must be positive and finite, got scale={describe(scale)}")
    mantissa, shift = math.frexp(value)
    q = math.floor(mantissa * 2**31 + 0.5)  # std::round: the mantissa is positive
    if q == 2**31:
        q, shift = q // 2, shift + 1
    if shift < -31:
        return 0, 0
    if shift > 30:
        raise ConvlabError(f"scale must be below 2**30 for a 31-bit multiplier, got scale={describe(scale)}")
    return q, shift


def _srdhm(a: np.ndarray, b: int) -> np.ndarray:
    """gemmlowp's SaturatingRoundingDoublingHighMul: ``floor(a * b / 2**31 + 1/2)``, saturated.

    Its nudge ``1 - 2**30`` for negative products and C++'s truncating
    division send negative ties up too (-1.5 -> -1): round half toward +inf.
    """
    ab = a * b
    nudged = ab + np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    high = np.sign(nudged) * (np.abs(nudged) // 2**31)  # C++ division truncates toward zero
    return np.where((a == _I32[0]) & (b == _I32[0]), _I32[1], high)


def _rounding_divide_by_pot(x: np.ndarray, exponent: int) -> np.ndarray:
    """gemmlowp's RoundingDivideByPOT: ``x / 2**exponent`` rounded half away from zero."""
    mask = (1 << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (x < 0)
    return (x >> exponent) + (remainder > threshold)


def requantize(
    acc: ArrayLike,
    multiplier: int,
    shift: int,
    *,
    zero_point: int = 0,
    dtype=None,
    rounding: str = "gemmlowp",
    saturate: bool = True,
) -> np.ndarray:
    """Integer-only requantisation ``acc * multiplier * 2**(shift - 31) + zero_point``, as TFLite.

    Parameters
    ----------
    acc : array_like of int
        int32 accumulators.
    multiplier, shift : int
        From :func:`quantize_multiplier`: ``multiplier`` in ``[0, 2**31)``,
        ``shift`` in ``[-31, 30]`` (positive shifts left).
    zero_point : int
        Added after the scaling.
    dtype : NumPy integer dtype, optional
        The output type; by default that of a NumPy integer ``zero_point``, else int8.
    rounding : {'gemmlowp', 'single'}
        ``'gemmlowp'``: SaturatingRoundingDoublingHighMul (ties toward +inf)
        then RoundingDivideByPOT (ties away from zero), two roundings (TFLite's
        reference, QNNPACK's q31 path). ``'single'``: one rounding, half
        toward +inf, of the exact product (TFLite built with
        ``TFLITE_SINGLE_ROUNDING``).
    saturate : bool
        Clip to ``dtype``'s range, or keep the low bits (wrap) as a narrow
        register does.

    Examples
    --------
    >>> m, s = quantize_multiplier(0.1)
    >>> requantize([5, 15, -5], m, s)
    array([ 1,  2, -1], dtype=int8)
    >>> requantize([5, 15, -5], m, s, rounding="single")
    array([0, 1, 0], dtype=int8)
    """
    kind = output_type(zero_point, dtype, np.int8)
    a = as_int_array(acc, "acc", qtype(np.int32)).astype(np.int64)
    m = as_int(multiplier, "multiplier", minimum=0)
    sh = as_int(shift, "shift")
    if m >= 2**31 or not -31 <= sh <= 30:
        raise ConvlabError(f"multiplier must be in [0, 2**31) and shift in [-31, 30], got {m} and {sh}")
    if rounding not in ROUNDINGS:
        raise ConvlabError(f"rounding must be one of {ROUNDINGS}, got rounding={describe(rounding)}")
    if rounding == "single":
        total = 31 - sh
        scaled = (a * m + (1 << (total - 1))) >> total
    else:
        shifted = a << max(sh, 0)
        if shifted.size and (shifted.min() < _I32[0] or shifted.max() > _I32[1]):
            raise ConvlabError(
                f"acc * 2**shift must fit int32 for shift={sh}, got |acc| up to {np.abs(a).max()}"
            )
        scaled = _rounding_divide_by_pot(_srdhm(shifted, m), max(-sh, 0))
    y = scaled + zero_point_array(zero_point, "zero_point", kind)
    if saturate:
        return kind.saturate(y)
    width = kind.hi - kind.lo + 1
    return ((y - kind.lo) % width + kind.lo).astype(kind.storage)
