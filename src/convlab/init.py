"""Weight initialisers with a closed form: the bilinear upsampling kernel of FCN."""

from __future__ import annotations

import numpy as np
from numpy.typing import DTypeLike

from ._args import as_int, describe
from ._limits import check_memory

__all__ = ["bilinear_kernel"]


def bilinear_kernel(
    in_channels: int, out_channels: int, kernel_size: int, *, dtype: DTypeLike = np.float32
) -> np.ndarray:
    """The bilinear upsampling kernel of FCN, on the channel diagonal.

    Parameters
    ----------
    in_channels, out_channels : int
        Any positive counts; channel ``i`` maps to channel ``i`` for
        ``i < min(in_channels, out_channels)``, every other pair is zero.
    kernel_size : int
        ``2 * factor`` for upsampling by ``factor`` (with ``stride=factor``,
        ``padding=factor // 2``).
    dtype : data-type, default float32

    Returns
    -------
    numpy.ndarray, shape ``(in_channels, out_channels, kernel_size, kernel_size)``
        The weight layout of ``conv_transpose2d``.

    Notes
    -----
    Per axis the kernel is the tent ``1 - |t - center| / factor`` with
    ``factor = (k + 1) // 2`` and ``center = factor - 1`` (odd ``k``) or
    ``factor - 0.5`` (even ``k``); the 2-d kernel is the outer product.

    ``conv_transpose2d(x, bilinear_kernel(C, C, 4), stride=2, padding=1)``
    equals ``interpolate(x, scale_factor=2, mode='bilinear',
    align_corners=False)`` everywhere except the outermost ring of output
    pixels: both weight the two nearest inputs by 3/4 and 1/4, but beyond the
    edge the transposed convolution sees zeros where ``interpolate`` clamps to
    the edge pixel. On the border row a constant image ``c`` thus becomes
    ``0.75 * c`` (``0.5625 * c`` in the corners), and ``c`` everywhere else.

    Examples
    --------
    >>> bilinear_kernel(1, 1, 4)[0, 0]
    array([[0.0625, 0.1875, 0.1875, 0.0625],
           [0.1875, 0.5625, 0.5625, 0.1875],
           [0.1875, 0.5625, 0.5625, 0.1875],
           [0.0625, 0.1875, 0.1875, 0.0625]], dtype=float32)
    >>> bilinear_kernel(3, 2, 2).shape
    (3, 2, 2, 2)
    """
    cin = as_int(in_channels, "in_channels", minimum=1)
    cout = as_int(out_channels, "out_channels", minimum=1)
    k = as_int(kernel_size, "kernel_size", minimum=1)
    try:
        kind = np.dtype(dtype)
    except TypeError:
        kind = None
    if kind is None or kind.kind != "f":
        # The tent's values are fractions: an integer dtype would truncate them to 0.
        raise TypeError(f"dtype must be a NumPy float dtype, got dtype={describe(dtype)}")
    check_memory(kind.itemsize * cin * cout * k * k, f"bilinear_kernel({cin}, {cout}, kernel_size={k})")
    factor = (k + 1) // 2
    center = factor - 1 if k % 2 == 1 else factor - 0.5
    tent = 1 - np.abs(np.arange(k) - center) / factor
    weight = np.zeros((cin, cout, k, k), dtype=kind)
    diagonal = np.arange(min(cin, cout))
    weight[diagonal, diagonal] = np.outer(tent, tent)
    return weight
