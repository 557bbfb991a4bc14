"""Nearest-neighbour Resize of quantized codes, as ONNX Resize and onnxruntime compute the source index.

A QDQ graph's ``DequantizeLinear -> Resize(nearest) -> QuantizeLinear`` with
one scale and zero point is index selection, so onnxruntime runs the Resize
on the codes; this is that operator. The source index of output position
``i`` along an axis is computed in float32, as onnxruntime does:

- ``half_pixel``: ``(i + 0.5) / scale - 0.5``; ``pytorch_half_pixel`` the
  same but 0 when the output length is 1; ``tf_half_pixel_for_nn``:
  ``(i + 0.5) / scale``; ``asymmetric``: ``i / scale``; ``align_corners``:
  ``i * (n_in - 1) / (n_out - 1)`` (0 when ``n_out == 1``);
- then ``round_prefer_floor`` (half down), ``round_prefer_ceil`` (half up),
  ``floor`` or ``ceil``, clamped to ``[0, n_in - 1]``.

``scale`` is the given one, or ``float32(n_out) / float32(n_in)`` from sizes.
Those are onnxruntime's source formulas in IEEE float32. Its build does not
always round that way: where the exact coordinate sits on a rounding
boundary (``i / scale = 3.5`` at ``scale = 8/7``, ``round_prefer_ceil``),
onnxruntime returned the exact answer (4) where the float32 quotient
3.4999998 gives 3. Such boundary cases are the only known differences.
An axis whose scale is 1 maps to itself in onnxruntime, even where the
mode's formula would move pixels (``tf_half_pixel_for_nn`` with
``round_prefer_ceil``); so it does here.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

from .._args import ConvlabError, describe

__all__ = ["resize_nearest"]

MODES = ("half_pixel", "pytorch_half_pixel", "tf_half_pixel_for_nn", "asymmetric", "align_corners")
NEAREST = ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil")


def _source(n_in: int, n_out: int, scale: np.float32, mode: str, nearest: str) -> np.ndarray:
    """Source indices of one axis (float32 coordinate arithmetic, then the nearest rule)."""
    if scale == 1:  # onnxruntime maps an unscaled axis to itself, whatever the mode says
        return np.arange(n_out)
    f32 = np.float32
    i = np.arange(n_out, dtype=f32)
    if mode == "half_pixel" or (mode == "pytorch_half_pixel" and n_out > 1):
        x = (i + f32(0.5)) / scale - f32(0.5)
    elif mode == "pytorch_half_pixel":
        x = np.zeros(n_out, f32)
    elif mode == "tf_half_pixel_for_nn":
        x = (i + f32(0.5)) / scale
    elif mode == "asymmetric":
        x = i / scale
    else:
        x = np.zeros(n_out, f32) if n_out == 1 else i * f32(n_in - 1) / f32(n_out - 1)
    floor = np.floor(x)
    if nearest == "floor":
        index = floor
    elif nearest == "ceil":
        index = np.ceil(x)
    else:
        tie = x == floor + f32(0.5)
        rounded = np.where(x >= 0, np.floor(x + f32(0.5)), -np.floor(-x + f32(0.5)))  # std::round
        index = np.where(tie, floor if nearest == "round_prefer_floor" else np.ceil(x), rounded)
    return np.clip(index, 0, n_in - 1).astype(np.int64)


def resize_nearest(
    x: ArrayLike,
    *,
    scales=None,
    sizes=None,
    coordinate_transformation_mode: str = "half_pixel",
    nearest_mode: str = "round_prefer_floor",
) -> np.ndarray:
    """ONNX Resize with ``mode='nearest'`` over the spatial axes of ``(N, C, *spatial)`` codes.

    Parameters
    ----------
    x : array_like, shape ``(N, C, *spatial)``
        Any dtype: the values are selected, never computed.
    scales : float or tuple of floats, optional
        One per spatial axis; output size ``floor(n * scale)``.
    sizes : int or tuple of ints, optional
        The spatial output size (give ``scales`` or ``sizes``).
    coordinate_transformation_mode : str
        ``'half_pixel'`` (ONNX default), ``'pytorch_half_pixel'``,
        ``'tf_half_pixel_for_nn'``, ``'asymmetric'`` (PyTorch's nearest), ``'align_corners'``.
    nearest_mode : str
        ``'round_prefer_floor'`` (default), ``'round_prefer_ceil'``, ``'floor'``, ``'ceil'``.

    Returns
    -------
    numpy.ndarray of ``x``'s dtype

    Examples
    --------
    >>> x = np.array([[[1, 2, 3]]], np.uint8)
    >>> resize_nearest(x, scales=2.0, coordinate_transformation_mode="asymmetric", nearest_mode="floor")
    array([[[1, 1, 2, 2, 3, 3]]], dtype=uint8)
    """
    array = np.asarray(x)
    ndim = array.ndim - 2
    if not 1 <= ndim <= 3 or 0 in array.shape:
        raise ConvlabError(
            f"x must have shape (N, C, *spatial) with 1-3 non-empty spatial dims, got {array.shape}"
        )
    if coordinate_transformation_mode not in MODES:
        raise ConvlabError(
            f"coordinate_transformation_mode must be one of {MODES}, got {coordinate_transformation_mode!r}"
        )
    if nearest_mode not in NEAREST:
        raise ConvlabError(f"nearest_mode must be one of {NEAREST}, got {nearest_mode!r}")
    if (scales is None) == (sizes is None):
        raise ConvlabError(
            f"give exactly one of scales and sizes, got scales={describe(scales)}, sizes={describe(sizes)}"
        )
    spatial = array.shape[2:]
    if sizes is not None:
        out = tuple(np.broadcast_to(np.asarray(sizes, np.int64), (ndim,)).tolist())
        factors = [np.float32(o) / np.float32(n) for o, n in zip(out, spatial)]
    else:
        factors = [np.float32(s) for s in np.broadcast_to(np.asarray(scales, np.float64), (ndim,))]
        out = tuple(math.floor(n * float(f)) for n, f in zip(spatial, factors))
    if any(o < 1 for o in out) or any(not f > 0 for f in factors):
        raise ConvlabError(f"scales/sizes must give positive output sizes, got {out} from input {spatial}")
    index = np.ix_(
        *[
            _source(n, o, f, coordinate_transformation_mode, nearest_mode)
            for n, o, f in zip(spatial, out, factors)
        ]
    )
    return array[(slice(None), slice(None), *index)]
