"""Convolution as ``unfold`` (im2col) followed by one matrix product per group.

``unfold`` lays every window of the padded input out as a column, rows
``c * prod(k) + tap``; the weight of output channel ``o``, flattened in the
same (channel, tap) order, is a row. Their product is the convolution. A
group only sees its own block of channels, so the columns split into
``groups`` row blocks and each meets its own block of weight rows.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from ..functional import unfold
from ..functional._conv import IntArg, PaddingArg
from ._setup import conv_setup, finish

__all__ = ["conv_by_unfold"]


@np.errstate(invalid="ignore", over="ignore", divide="ignore")  # NaN/inf propagate silently, as in torch
def conv_by_unfold(
    input: ArrayLike,
    weight: ArrayLike,
    bias: ArrayLike | None = None,
    stride: IntArg = 1,
    padding: PaddingArg = 0,
    dilation: IntArg = 1,
    groups: int = 1,
) -> np.ndarray:
    """Convolution as ``weight.reshape(C_out, -1) @ unfold(input)``, per group.

    Parameters
    ----------
    input : array_like, shape ``(N, C_in, *size)`` or ``(C_in, *size)``
    weight : array_like, shape ``(C_out, C_in/groups, *k)``
    bias : array_like, shape ``(C_out,)``, optional
    stride, padding, dilation, groups
        As :func:`convlab.functional.conv2d` (``(lo, hi)`` pairs and ``'same'``
        accepted); zero padding only.

    Returns
    -------
    numpy.ndarray, shape ``(N, C_out, *out)`` (no ``N`` if unbatched)

    Notes
    -----
    The unfolded input holds ``C_in * prod(k) * prod(out)`` values per
    sample, ``prod(k) / prod(stride)`` times the input: nine copies for a
    3x3 kernel at stride 1. The fast ``conv2d`` bounds that memory by chunks.

    Examples
    --------
    >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> conv_by_unfold(x, np.ones((1, 1, 2, 2)), stride=2)
    array([[[[10., 18.],
             [42., 50.]]]])
    """
    setup = conv_setup(input, weight, bias, stride, padding, dilation, groups)
    x, w, g = setup.x, setup.w, setup.groups
    cols = unfold(x, setup.kernel, setup.dilation, setup.pads, setup.stride)
    n_batch, rows, length = cols.shape
    wmat = w.reshape(g, w.shape[0] // g, -1)
    out = np.matmul(wmat, cols.reshape(n_batch, g, rows // g, length))
    return finish(out.reshape(n_batch, w.shape[0], *setup.out_shape), setup)
