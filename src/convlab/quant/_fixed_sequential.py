"""The accumulator of an HLS loop, one product at a time: where rounding or saturation depends on the order.

``acc = bias; for each product: acc += x * w`` with ``acc`` an ``ap_fixed``
that rounds each product into its format and wraps or saturates after every
addition (hls4ml's ``mult[i] = (accum_t) product; acc += mult[i]``). With a
saturating accumulator the order matters; it is fixed here and documented:
bias first, then input channels in order, then kernel taps in C order (the
flat order of ``weight[c_out]``, the rows of :func:`convlab.functional.unfold`).
"""

from __future__ import annotations

import numpy as np

from ..functional import unfold
from ._fixed_round import fit_code

__all__ = ["gather_windows", "sequential_conv"]


def gather_windows(x: np.ndarray, kernel, dilation, padding, stride, fill: int = 0) -> np.ndarray:
    """``unfold`` of int64 codes, exact for any width: windows of indices, then a gather.

    ``x`` is ``(C, *spatial)``; returns ``(C * taps, L)`` int64 with ``fill`` in the padding.
    """
    index = np.arange(1, x.size + 1, dtype=np.float64).reshape(1, *x.shape)
    cols = unfold(index, tuple(kernel), dilation, padding, stride)[0].astype(np.int64)
    flat = np.concatenate([np.full(1, fill, np.int64), x.ravel()])
    return flat[cols]


def sequential_conv(x, w, bias_acc, shift: int, acc, geometry: dict, groups: int) -> np.ndarray:
    """``(N, C_out, L)`` accumulator codes, one product after another, as HLS's loop does.

    ``x`` ``(N, C_in, *spatial)`` and ``w`` ``(C_out, C_in/groups, *k)`` int64
    codes; each product has ``shift`` fewer fractional bits than ``acc``
    (negative: it is rounded into ``acc``); ``bias_acc`` ``(C_out,)`` codes of
    ``acc`` or None. ``geometry`` holds unfold's kernel/dilation/padding/stride.

    Notes
    -----
    Memory: the windows of one image, ``C_in * taps * L`` int64, plus three
    arrays of ``C_out * L``; time: ``C_in/groups * taps`` passes over them.
    """
    c_out = w.shape[0]
    wmat = w.reshape(groups, c_out // groups, -1)
    terms = wmat.shape[2]
    results = []
    for image in x:
        cols = gather_windows(image, **geometry)
        cols = cols.reshape(groups, terms, cols.shape[-1])
        total = np.zeros((groups, c_out // groups, cols.shape[-1]), np.int64)
        if bias_acc is not None:
            total += bias_acc.reshape(groups, c_out // groups, 1)
        for k in range(terms):
            product = wmat[:, :, k, None] * cols[:, None, k, :]
            total = fit_code(total + fit_code(product, shift, acc), 0, acc)
        results.append(total.reshape(c_out, -1))
    return np.stack(results) if results else np.zeros((0, c_out, 0), np.int64)
