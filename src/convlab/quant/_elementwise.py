"""QLinearAdd and QLinearConcat (com.microsoft), as onnxruntime's x86-64 CPU kernels compute them.

QDQ graphs of residual additions and skip connections become these two
operators in onnxruntime. Neither is integer arithmetic: both work in float32,
and the rounding order is the kernel's, so it is stated here.

QLinearAdd (the AVX2 kernel ``MlasQLinearAddKernelAvx2Helper``, the one
onnxruntime dispatches on x86-64 machines with AVX2):

- ``ra = float32(a_scale / c_scale)``, ``rb = float32(b_scale / c_scale)``;
- ``fixed = c_zero_point - fma(ra, a_zero_point, rb * b_zero_point)`` (the
  compiler contracts the scalar expression into one FMA);
- ``c = fma(a, ra, fma(b, rb, fixed))`` on the raw codes, where the roles
  of ``a`` and ``b`` (in ``fixed`` too) swap when ``a`` is the operand
  broadcast over the innermost span (onnxruntime passes it as the kernel's
  scalar second input);
- round half to even, saturate (to int16, then to the 8-bit type).

Its SSE2 and NEON paths differ (NEON uses a fixed-point multiplier), so
results on other machines may differ by one code near ties.

QLinearConcat: each input whose scale and zero point equal the output's is
copied; any other goes through a 256-entry table
``quantize_linear(dequantize_linear(code, s, z), y_scale, y_zero_point)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

from .._args import ConvlabError, as_int
from ._dtypes import as_int_array, qtype, zero_point_array
from ._fma32 import fma32
from ._linear import dequantize_linear, quantize_linear
from ._params import as_scale

__all__ = ["qlinear_add", "qlinear_concat"]


def _scalar_scale(value, name: str) -> np.float32:
    s = as_scale(value, name)
    if s.size != 1:
        raise ConvlabError(f"{name} must be a scalar (per tensor), got shape {s.shape}")
    return np.float32(s.reshape(()))


def qlinear_add(
    a: ArrayLike,
    a_scale: ArrayLike,
    a_zero_point: ArrayLike,
    b: ArrayLike,
    b_scale: ArrayLike,
    b_zero_point: ArrayLike,
    c_scale: ArrayLike,
    c_zero_point: ArrayLike,
) -> np.ndarray:
    """com.microsoft QLinearAdd, as onnxruntime: ``c = saturate(round((a-za) sa/sc + (b-zb) sb/sc) + zc)``.

    Parameters
    ----------
    a, b : array_like of uint8 or int8 (the same type), broadcasting as NumPy
    a_scale, b_scale, c_scale : float
    a_zero_point, b_zero_point, c_zero_point : int

    Returns
    -------
    numpy.ndarray of the inputs' type and the broadcast shape

    Notes
    -----
    The float32 rounding order of onnxruntime's AVX2 kernel is in this
    module's docstring; the real-number formula above is only approximated.

    Examples
    --------
    >>> a = np.array([10, 20], np.uint8)
    >>> qlinear_add(a, 0.5, 0, np.array([4, 4], np.uint8), 0.25, 0, 1.0, 0)
    array([ 6, 11], dtype=uint8)
    """
    xa, xb = as_int_array(a, "a"), as_int_array(b, "b")
    if xa.dtype != xb.dtype or xa.dtype not in (np.uint8, np.int8):
        raise ConvlabError(f"a and b must both be uint8 or both int8, got {xa.dtype} and {xb.dtype}")
    kind = qtype(xa.dtype)
    try:
        shape = np.broadcast_shapes(xa.shape, xb.shape)
    except ValueError:
        raise ConvlabError(f"a and b must broadcast, got shapes {xa.shape} and {xb.shape}") from None
    za, zb, zc = (
        np.float32(zero_point_array(z, n, kind).reshape(()))
        for z, n in (
            (a_zero_point, "a_zero_point"),
            (b_zero_point, "b_zero_point"),
            (c_zero_point, "c_zero_point"),
        )
    )
    sc = _scalar_scale(c_scale, "c_scale")
    ra, rb = _scalar_scale(a_scale, "a_scale") / sc, _scalar_scale(b_scale, "b_scale") / sc
    fa = np.broadcast_to(xa.astype(np.float32), shape)
    fb = np.broadcast_to(xb.astype(np.float32), shape)
    # onnxruntime hands the operand that is constant over the innermost span to the kernel
    # as its scalar second input: the two operands swap roles, which changes the rounding.
    if xa.size == 1 or (len(shape) > 0 and shape[-1] > 1 and (xa.ndim == 0 or xa.shape[-1] == 1)):
        (fa, ra, za), (fb, rb, zb) = (fb, rb, zb), (fa, ra, za)
    fixed = zc - fma32(ra, za, rb * zb)
    total = fma32(fa, ra, fma32(fb, rb, fixed))
    return kind.saturate(np.clip(np.rint(total), -(2**15), 2**15 - 1))


def qlinear_concat(
    y_scale: ArrayLike,
    y_zero_point: ArrayLike,
    inputs: Sequence[tuple[ArrayLike, ArrayLike, ArrayLike]],
    *,
    axis: int = 1,
) -> np.ndarray:
    """com.microsoft QLinearConcat: each ``(x, scale, zero_point)`` requantised to the output, concatenated.

    Parameters
    ----------
    y_scale : float
    y_zero_point : int
        Its NumPy type, if uint8 or int8, must be the inputs'.
    inputs : sequence of ``(x, x_scale, x_zero_point)``
        uint8 or int8 arrays of one type, equal shapes except along ``axis``.
    axis : int

    Returns
    -------
    numpy.ndarray

    Examples
    --------
    >>> x = np.array([[10, 20]], np.uint8)
    >>> qlinear_concat(0.5, 0, [(x, 0.5, 0), (x, 1.0, 10)], axis=1)
    array([[10, 20,  0, 20]], dtype=uint8)
    """
    if not isinstance(inputs, Sequence) or not inputs:
        raise ConvlabError(
            f"inputs must be a non-empty sequence of (x, scale, zero_point), got {inputs!r:.60}"
        )
    arrays = [as_int_array(t[0], f"inputs[{i}][0]") for i, t in enumerate(inputs)]
    kind = qtype(arrays[0].dtype, "inputs dtype")
    if any(x.dtype != arrays[0].dtype for x in arrays) or arrays[0].dtype not in (np.uint8, np.int8):
        raise ConvlabError(f"inputs must all be uint8 or all int8, got {[str(x.dtype) for x in arrays]}")
    sy = _scalar_scale(y_scale, "y_scale")
    zy = int(zero_point_array(y_zero_point, "y_zero_point", kind).reshape(()))
    parts = []
    for i, (x, (_, s, z)) in enumerate(zip(arrays, inputs)):
        sx = _scalar_scale(s, f"inputs[{i}] scale")
        zx = int(zero_point_array(z, f"inputs[{i}] zero point", kind).reshape(()))
        if sx == sy and zx == zy:
            parts.append(x)
            continue
        real = dequantize_linear(x, sx, zx, dtype=kind.storage)
        parts.append(quantize_linear(real, sy, zy, dtype=kind.storage))
    ax = as_int(axis, "axis")
    try:
        return np.concatenate(parts, axis=ax)
    except (ValueError, np.exceptions.AxisError) as err:
        raise ConvlabError(f"inputs cannot be concatenated along axis={ax}: {err}") from None
