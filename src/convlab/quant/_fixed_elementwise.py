"""The element-wise steps of a fixed-point U-Net: ReLU, max pooling, add, concatenation, centre crop.

Each takes codes with their format and returns codes of an output format;
where HLS assigns a result to a type (``res_T``), the conversion rounds and
overflows by that type's modes (:meth:`FixedPoint.convert`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

from .._args import ConvlabError, per_dim
from ..shapes import center_crop_box, pool_output_size
from ._fixed import FixedPoint
from ._fixed_conv import check_codes
from ._fixed_sequential import gather_windows

__all__ = ["fixed_add", "fixed_center_crop", "fixed_concat", "fixed_max_pool", "fixed_relu"]


def fixed_relu(x: ArrayLike, x_format: FixedPoint, out_format: FixedPoint | None = None) -> np.ndarray:
    """``max(x, 0)``, then converted to ``out_format`` (default: ``x_format``, no change).

    >>> f = FixedPoint(8, 4)
    >>> fixed_relu([-5, 3], f).tolist(), fixed_relu([-5, 35], f, FixedPoint(4, 2, overflow="sat")).tolist()
    ([0, 3], [0, 7])
    """
    q = np.maximum(check_codes(x, x_format, "x", "x_format"), 0)
    return q if out_format is None else _convert(q, x_format, out_format)


def fixed_max_pool(
    x: ArrayLike, x_format: FixedPoint, kernel_size, stride=None, padding=0, dilation=1
) -> np.ndarray:
    """Max pooling of codes (``ceil_mode=False``), 1-3 spatial dims: exact, the format unchanged.

    ``x`` is ``(N, C, *spatial)``; padding never wins (as PyTorch's ``-inf``).

    >>> fixed_max_pool([[[[1, -3], [7, 2]]]], FixedPoint(4, 0), 2).tolist()
    [[[[7]]]]
    """
    q = check_codes(x, x_format, "x", "x_format")
    if not 3 <= q.ndim <= 5:
        raise ConvlabError(f"x must have shape (N, C, *spatial) with 1-3 spatial dims, got {q.shape}")
    nd = q.ndim - 2
    kernel = per_dim(kernel_size, "kernel_size", nd, minimum=1)
    stride = kernel if stride is None else per_dim(stride, "stride", nd, minimum=1)
    pads = per_dim(padding, "padding", nd, minimum=0)
    if any(2 * p > k for p, k in zip(pads, kernel)):
        raise ConvlabError(f"padding must be at most half of kernel_size={kernel}, got padding={pads}")
    outs = []
    for image in q:
        cols = gather_windows(image, kernel, dilation, pads, stride, fill=np.iinfo(np.int64).min)
        outs.append(cols.reshape(q.shape[1], -1, cols.shape[-1]).max(axis=1))
    sizes = pool_output_size(q.shape[2:], kernel, stride, pads, dilation)
    return (
        np.stack(outs).reshape(q.shape[0], q.shape[1], *sizes)
        if outs
        else np.zeros((0, q.shape[1], *sizes), np.int64)
    )


def fixed_add(
    a: ArrayLike, a_format: FixedPoint, b: ArrayLike, b_format: FixedPoint, out_format: FixedPoint
) -> np.ndarray:
    """``a + b`` exactly (aligned to the finer LSB), then converted to ``out_format``; broadcasts.

    >>> fixed_add([3], FixedPoint(8, 1), [3], FixedPoint(8, 2), FixedPoint(8, 2)).tolist()
    [9]
    """
    qa = check_codes(a, a_format, "a", "a_format")
    qb = check_codes(b, b_format, "b", "b_format")
    frac = max(a_format.frac_bits, b_format.frac_bits)
    sa, sb = frac - a_format.frac_bits, frac - b_format.frac_bits
    bound = int(np.abs(qa).max(initial=0)) * 2**sa + int(np.abs(qb).max(initial=0)) * 2**sb
    if bound > 2**62:
        raise ConvlabError(f"a + b needs {bound.bit_length() + 1} bits aligned, more than int64 codes hold")
    total = (qa << np.int64(sa)) + (qb << np.int64(sb))
    return out_format.convert(total, FixedPoint(63, frac))


def fixed_concat(
    arrays: Sequence[ArrayLike], formats: Sequence[FixedPoint], out_format: FixedPoint, axis: int = 1
) -> np.ndarray:
    """Each array converted to ``out_format``, then concatenated along ``axis`` (channels by default).

    >>> fixed_concat([[[1]], [[1]]], [FixedPoint(8, 0), FixedPoint(8, 1)], FixedPoint(8, 1)).tolist()
    [[2, 1]]
    """
    if len(arrays) != len(formats) or not arrays:
        raise ConvlabError(
            f"arrays and formats must pair up, got {len(arrays)} arrays and {len(formats)} formats"
        )
    parts = [
        _convert(check_codes(a, f, f"arrays[{i}]", f"formats[{i}]"), f, out_format)
        for i, (a, f) in enumerate(zip(arrays, formats))
    ]
    return np.concatenate(parts, axis=axis)


def fixed_center_crop(x: ArrayLike, size) -> np.ndarray:
    """The U-Net skip's centre crop (torchvision's rule) of ``(N, C, *spatial)`` codes to ``size``.

    >>> fixed_center_crop(np.arange(5).reshape(1, 1, 5), (2,)).tolist()
    [[[2, 3]]]
    """
    q = np.asarray(x)
    box = center_crop_box(q.shape[2:], tuple(size))
    if any(lo or hi for lo, hi in box.pad):
        raise ConvlabError(f"size must fit inside the spatial shape {q.shape[2:]}, got size={tuple(size)}")
    return q[(Ellipsis, *box.slices)]


def _convert(q: np.ndarray, source: FixedPoint, target: FixedPoint) -> np.ndarray:
    if not isinstance(target, FixedPoint):
        raise TypeError(f"out_format must be a FixedPoint, got {type(target).__name__}")
    return q if target == source else target.convert(q, source)
