"""Scales and zero points: checked once and broadcast against the tensor they describe.

ONNX's QuantizeLinear and DequantizeLinear take one scale for the tensor, one
per slice along ``axis``, or (opset 21) one per block of ``block_size``
consecutive elements along ``axis``. This module turns each form into an
array that broadcasts against the tensor, so the arithmetic has one shape.
"""

from __future__ import annotations

import math

import numpy as np

from .._args import ConvlabError, as_int, describe

__all__ = ["as_scale", "broadcast_param", "normalise_axis"]


def as_scale(value: object, name: str) -> np.ndarray:
    """Positive finite scale(s) as a float array: float32 unless given as a float64/16 NumPy array.

    Python numbers become float32 because ONNX models store float32 scales and
    the runtimes multiply and divide in float32; a float64 scale would round
    differently at ties.
    """
    keep = isinstance(value, (np.ndarray, np.floating)) and np.asarray(value).dtype.kind == "f"
    try:
        array = np.asarray(value) if keep else np.asarray(value, dtype=np.float32)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a real number or array, got {describe(value)}") from None
    if array.dtype.kind != "f":
        raise TypeError(f"{name} must be a real number or array, got dtype {array.dtype}")
    if array.size == 0 or not np.all(np.isfinite(array)) or np.any(array <= 0):
        raise ConvlabError(f"{name} must be positive and finite, got {name}={describe(value)}")
    return array


def normalise_axis(axis: object, ndim: int, name: str = "axis") -> int:
    """``axis`` in ``[-ndim, ndim)`` as a non-negative int."""
    a = as_int(axis, name)
    if not -ndim <= a < ndim:
        raise ConvlabError(f"{name} must be in [{-ndim}, {ndim}) for a {ndim}-d tensor, got {name}={a}")
    return a % ndim


def broadcast_param(
    param: np.ndarray, shape: tuple[int, ...], axis: int | None, block_size: int, name: str
) -> np.ndarray:
    """``param`` reshaped (and for blocks, repeated) so that it broadcasts against ``shape``.

    A single value is per-tensor whatever ``axis`` says, as in ONNX.
    """
    if param.size == 1 and param.ndim <= 1:
        return param.reshape(())
    if axis is None:
        raise ConvlabError(
            f"{name} has {param.size} values, so axis must say which dimension they follow; "
            f"got axis=None for a tensor of shape {shape}"
        )
    if block_size:
        return _blocked(param, shape, axis, block_size, name)
    if param.ndim != 1 or param.shape[0] != shape[axis]:
        raise ConvlabError(
            f"{name} must be a scalar or have shape ({shape[axis]},) (one per index of axis {axis}), "
            f"got {name} of shape {param.shape} for a tensor of shape {shape}"
        )
    return param.reshape([-1 if i == axis else 1 for i in range(len(shape))])


def _blocked(param: np.ndarray, shape: tuple[int, ...], axis: int, block: int, name: str) -> np.ndarray:
    """Per-block parameters: ``shape`` with ``ceil(shape[axis] / block)`` along ``axis``, repeated out."""
    expected = tuple(math.ceil(n / block) if i == axis else n for i, n in enumerate(shape))
    if param.shape != expected:
        raise ConvlabError(
            f"{name} must have shape {expected} for block_size={block} along axis {axis} "
            f"of a tensor of shape {shape}, got {name} of shape {param.shape}"
        )
    return np.repeat(param, block, axis=axis).take(range(shape[axis]), axis=axis)
