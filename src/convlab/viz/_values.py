"""The numbers a picture writes with ``--values``: counted inputs and weights, exact outputs.

Inputs and weights follow the one numbering rule (:func:`convlab.viz._numbering.counting`,
1, 2, 3, ...; pooling scrambles its inputs so that a maximum is not always the
last cell); outputs come from :mod:`convlab.functional`, the operator the
picture explains, never from the picture's own arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import functional as F
from ._layout import Problem
from ._numbering import counting, scrambled


@dataclass(frozen=True)
class Values:
    """One channel's input ``x`` (H, W), kernel ``w`` (kh, kw), output ``y`` (H_out, W_out), in 2-D."""

    x: np.ndarray
    w: np.ndarray
    y: np.ndarray


def short(value: float) -> str:
    """A value in a 30-pixel cell: an integer as is, anything else to three significant digits.

    Examples
    --------
    >>> short(12.0), short(16 / 3), short(-0.5)
    ('12', '5.33', '-0.5')
    """
    return str(int(value)) if float(value).is_integer() else f"{value:.3g}"


def compute(p: Problem, pool_mode: str = "max") -> Values:
    """The values of a single-channel picture of ``p``, the output from :mod:`convlab.functional`."""
    x = (scrambled if p.op == "pool" else counting)(p.size)
    w = counting(p.kernel)
    batch = x[None, None] if p.ndim == 2 else x[0][None, None]
    weight = w[None, None] if p.ndim == 2 else w[0][None, None]
    lift = (lambda t: t) if p.ndim == 2 else (lambda t: (t[1],))
    opts = dict(stride=lift(p.stride), padding=lift(p.pads) if p.op != "pool" else None)
    if p.op == "pool":
        y = _pool(p, batch, lift, pool_mode)
    elif p.op == "conv":
        conv = F.conv2d if p.ndim == 2 else F.conv1d
        y = conv(batch, weight, dilation=lift(p.dilation), **opts)
    else:
        convt = F.conv_transpose2d if p.ndim == 2 else F.conv_transpose1d
        y = convt(batch, weight, dilation=lift(p.dilation), output_padding=lift(p.output_padding), **opts)
    y = y[0, 0]
    return Values(x, w, y if p.ndim == 2 else y[None])


def _pool(p: Problem, batch: np.ndarray, lift, pool_mode: str) -> np.ndarray:
    # PyTorch's pooling takes symmetric padding only: the picture's pads are (p, p) pairs.
    pads = lift(tuple(lo for lo, _ in p.pads))
    common = dict(stride=lift(p.stride), padding=pads, ceil_mode=p.ceil_mode)
    if pool_mode == "max":
        pool = F.max_pool2d if p.ndim == 2 else F.max_pool1d
        return pool(batch, lift(p.kernel), dilation=lift(p.dilation), **common)
    pool = F.avg_pool2d if p.ndim == 2 else F.avg_pool1d
    return pool(batch, lift(p.kernel), **common)
