"""MatMulInteger and QLinearMatMul: ``numpy.matmul`` semantics on zero-point-shifted integers.

``a`` has shape ``(..., M, K)`` and ``b`` ``(..., K, N)`` (1-D operands are
promoted as by ``numpy.matmul``). ``a``'s zero point is per tensor or per
row (``(M,)``), ``b``'s per tensor or per column (``(N,)``), as ONNX allows.
The sums are exact by the route of :func:`.choose_route` with ``depth = K``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from .._args import ConvlabError
from ._conv import wrap_int32
from ._dtypes import as_int_array, output_type, qtype, zero_point_array
from ._integer import Route, choose_route
from ._params import as_scale
from ._requant import requantize_float

__all__ = ["matmul_integer", "qlinear_matmul"]


def _operand(value, zero_point, name: str, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """(array, shifted int64 array promoted to >= 2-D); ``axis`` -2 for rows of a, -1 for columns of b."""
    array = as_int_array(value, name)
    kind = qtype(array.dtype, f"{name} dtype")
    if array.ndim == 0:
        raise ConvlabError(f"{name} must have at least one dimension, got a scalar")
    promoted = array.reshape((1, -1) if axis == -2 else (-1, 1)) if array.ndim == 1 else array
    zp = zero_point_array(zero_point, f"{name}_zero_point", kind)
    length = promoted.shape[axis]
    if zp.size != 1 and zp.shape != (length,):
        what = "row" if axis == -2 else "column"
        raise ConvlabError(
            f"{name}_zero_point must be a scalar or have shape ({length},) (one per {what}), "
            f"got shape {zp.shape}"
        )
    # Per row of a is a column vector, per column of b a row vector; one value is a scalar.
    zp = (zp.reshape(-1, 1) if axis == -2 else zp.reshape(-1)) if zp.size > 1 else zp.reshape(())
    return array, promoted.astype(np.int64) - zp


def _exact_matmul(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, Route]:
    if a.shape[-1] != b.shape[-2]:
        raise ConvlabError(
            f"a's last dimension must equal b's second to last, got shapes {a.shape} and {b.shape}"
        )
    try:
        np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    except ValueError:
        raise ConvlabError(
            f"a and b have batch dimensions that do not broadcast: {a.shape} and {b.shape}"
        ) from None
    mags = [int(np.abs(m).max()) if m.size else 0 for m in (a, b)]
    route = choose_route(a.shape[-1], *mags)
    dtype = np.float64 if route.name == "float64" else np.int64
    return np.matmul(a.astype(dtype), b.astype(dtype)).astype(np.int64), route


def _squeeze(out: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Drop the dimensions ``numpy.matmul`` adds for 1-D operands."""
    if b.ndim == 1:
        out = out[..., 0]
    if a.ndim == 1:
        out = out[..., 0, :] if b.ndim > 1 else out[..., 0]
    return out


def matmul_integer(
    a: ArrayLike, b: ArrayLike, a_zero_point: ArrayLike = 0, b_zero_point: ArrayLike = 0
) -> np.ndarray:
    """ONNX MatMulInteger: ``(a - a_zero_point) @ (b - b_zero_point)`` in int32, exactly.

    Parameters
    ----------
    a : array_like of int, shape ``(..., M, K)`` or ``(K,)``
    b : array_like of int, shape ``(..., K, N)`` or ``(K,)``
    a_zero_point : int or array_like, shape ``(M,)``
    b_zero_point : int or array_like, shape ``(N,)``

    Returns
    -------
    numpy.ndarray of int32, the broadcast ``numpy.matmul`` shape

    Examples
    --------
    >>> matmul_integer(np.array([[1, 2]], np.uint8), np.array([[3], [4]], np.int8), 1)
    array([[4]], dtype=int32)
    """
    a0, a_s = _operand(a, a_zero_point, "a", -2)
    b0, b_s = _operand(b, b_zero_point, "b", -1)
    acc, _ = _exact_matmul(a_s, b_s)
    return _squeeze(wrap_int32(acc), a0, b0)


def qlinear_matmul(
    a: ArrayLike,
    a_scale: ArrayLike,
    a_zero_point: ArrayLike,
    b: ArrayLike,
    b_scale: ArrayLike,
    b_zero_point: ArrayLike,
    y_scale: ArrayLike,
    y_zero_point: ArrayLike,
    *,
    dtype=None,
) -> np.ndarray:
    """ONNX QLinearMatMul: exact integer product, then ``rint(float32(acc) * a_scale*b_scale/y_scale)``.

    Parameters
    ----------
    a, b, a_zero_point, b_zero_point
        As :func:`matmul_integer`.
    a_scale, y_scale : float
    b_scale : float or array_like of float, shape ``(N,)`` (per column)
    y_zero_point : int
        Its NumPy dtype is the output type; a Python int takes ``dtype`` (default ``a``'s).

    Returns
    -------
    numpy.ndarray, the ``numpy.matmul`` shape, in the output type

    Examples
    --------
    >>> a, b = np.array([[2, 4]], np.uint8), np.array([[1], [1]], np.uint8)
    >>> qlinear_matmul(a, 0.5, 0, b, 1.0, 0, 1.0, np.uint8(0))
    array([[3]], dtype=uint8)
    """
    a0, a_s = _operand(a, a_zero_point, "a", -2)
    b0, b_s = _operand(b, b_zero_point, "b", -1)
    acc, _ = _exact_matmul(a_s, b_s)
    sa, sb, sy = (
        as_scale(v, n) for v, n in ((a_scale, "a_scale"), (b_scale, "b_scale"), (y_scale, "y_scale"))
    )
    n = b_s.shape[-1]
    if sa.size != 1 or sy.size != 1 or (sb.size != 1 and sb.shape != (n,)):
        raise ConvlabError(
            f"a_scale and y_scale must be scalars and b_scale a scalar or shape ({n},), "
            f"got shapes {sa.shape}, {sy.shape} and {sb.shape}"
        )
    f32 = np.float32
    scale = sa.astype(f32).reshape(()) * sb.astype(f32).reshape(-1) / sy.astype(f32).reshape(())
    kind = output_type(y_zero_point, dtype, a0.dtype, "y_zero_point")
    y = requantize_float(wrap_int32(acc), scale, y_zero_point, dtype=kind.storage)
    return _squeeze(y, a0, b0)
