"""Arguments of the quantized convolutions, checked once: operands, zero points, geometry.

Padding is convlab's (an int, one per dimension, ``(lo, hi)`` pairs,
``'valid'``, ``'same'``) plus ONNX's ``auto_pad`` names: ``'SAME_UPPER'``
(= ``'same'``, the odd pixel at the end) and ``'SAME_LOWER'`` (at the start).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._args import ConvlabError, as_int, padding_pairs, per_dim
from ..functional._arrays import batched
from ..shapes import conv_output_size, same_padding
from ._dtypes import QType, as_int_array, qtype, zero_point_array
from ._windows import QGeometry

__all__ = ["ConvOperands", "conv_geometry", "conv_operands", "shifted"]

_AUTO = {"same_upper": "same", "same_lower": "same_lower", "same": "same", "valid": "valid"}


@dataclass(frozen=True)
class ConvOperands:
    """Batched integer input and weight with their types and int64 zero points."""

    x: np.ndarray
    w: np.ndarray
    x_type: QType
    w_type: QType
    x_zero_point: np.ndarray
    w_zero_point: np.ndarray
    groups: int
    unbatched: bool


def conv_operands(x, w, x_zero_point, w_zero_point, groups, *, transposed: bool) -> ConvOperands:
    """Checked operands; ``w`` is ``(C_out, C_in/g, *k)``, or ``(C_in, C_out/g, *k)`` if ``transposed``."""
    wa = as_int_array(w, "w")
    w_type = qtype(wa.dtype, "w dtype")
    ndim = wa.ndim - 2
    if not 1 <= ndim <= 3 or 0 in wa.shape:
        raise ConvlabError(
            f"w must have shape (C_out, C_in/groups, *kernel) with 1-3 kernel dims, got {wa.shape}"
        )
    xa, unbatched = batched(as_int_array(x, "x"), ndim, "x")
    x_type = qtype(xa.dtype, "x dtype")
    if 0 in xa.shape[2:]:
        raise ConvlabError(f"x must have non-empty spatial dimensions, got x of shape {xa.shape}")
    g = as_int(groups, "groups", minimum=1)
    _check_channels(xa.shape, wa.shape, g, transposed)
    c_out = wa.shape[1] if transposed else wa.shape[0]  # the weight's output-channel axis
    zx = zero_point_array(x_zero_point, "x_zero_point", x_type)
    zw = zero_point_array(w_zero_point, "w_zero_point", w_type)
    if zx.size != 1:
        raise ConvlabError(f"x_zero_point must be a scalar (per tensor), got shape {zx.shape}")
    if zw.size != 1 and zw.shape != (c_out,):
        raise ConvlabError(
            f"w_zero_point must be a scalar or have shape ({c_out},) (one per weight output channel), "
            f"got shape {zw.shape}"
        )
    return ConvOperands(xa, wa, x_type, w_type, zx.reshape(()), zw.reshape(-1), g, unbatched)


def _check_channels(xs: tuple, ws: tuple, g: int, transposed: bool) -> None:
    c_in = xs[1]
    expected = ws[0] if transposed else ws[1] * g
    if c_in % g or (ws[0] % g):
        raise ConvlabError(
            f"groups must divide the channels, got groups={g} for x of shape {xs}, w of shape {ws}"
        )
    if c_in != expected:
        rule = "w.shape[0]" if transposed else f"w.shape[1] * groups = {ws[1]} * {g}"
        raise ConvlabError(f"x has {c_in} channels but w expects {rule} = {expected}: x {xs}, w {ws}")


def shifted(ops: ConvOperands, *, transposed: bool) -> tuple[np.ndarray, np.ndarray]:
    """``x - zx`` and ``w - zw`` in the narrowest signed type that holds them (int16 for 8-bit codes).

    Padding the shifted input with 0 is then padding with ``zx``. A
    per-channel ``w_zero_point`` follows the weight's output-channel axis:
    axis 0 of ``(C_out, C_in/g, *k)``, axis 1 of a transposed ``(C_in, C_out/g, *k)``.
    """
    span = max(t.hi - t.lo for t in (ops.x_type, ops.w_type))
    dtype = np.dtype(np.int16 if span < 2**15 else np.int32 if span < 2**31 else np.int64)
    zw = ops.w_zero_point.astype(dtype)
    if zw.size > 1:
        axis = 1 if transposed else 0
        zw = zw.reshape([-1 if i == axis else 1 for i in range(ops.w.ndim)])
    zx = dtype.type(ops.x_zero_point)
    return ops.x.astype(dtype) - zx, ops.w.astype(dtype) - zw.reshape(zw.shape or ())


def conv_geometry(spatial, kernel, stride, padding, dilation) -> tuple[QGeometry, tuple[int, ...], tuple]:
    """``(QGeometry, out_shape, ((lo, hi), ...))`` of a convolution, with ONNX's auto_pad names."""
    ndim = len(spatial)
    s = per_dim(stride, "stride", ndim, minimum=1)
    d = per_dim(dilation, "dilation", ndim, minimum=1)
    if isinstance(padding, str) and padding.lower() not in _AUTO:
        raise ConvlabError(
            f"padding must be an int, a tuple, (lo, hi) pairs, 'valid', 'same', 'SAME_UPPER' or "
            f"'SAME_LOWER', got padding={padding!r}"
        )
    mode = _AUTO[padding.lower()] if isinstance(padding, str) else padding
    if mode in ("same", "same_lower"):
        pairs = same_padding(tuple(spatial), tuple(kernel), s, d)
        # SAME_LOWER puts the odd pixel of the total at the start instead of the end.
        pairs = tuple((hi, lo) for lo, hi in pairs) if mode == "same_lower" else pairs
    else:
        pairs = padding_pairs(mode, ndim)
    out_shape = tuple(conv_output_size(tuple(spatial), tuple(kernel), s, pairs, d))
    lo, hi = (tuple(p[i] for p in pairs) for i in (0, 1))
    return QGeometry(tuple(spatial), tuple(kernel), s, d, lo, hi), out_shape, pairs
