"""Calibration for post-training quantisation: observed ranges and the (scale, zero point) they give.

Activations are uint8, per tensor, asymmetric: the range always contains 0
(so a zero-padded border is a code, and ReLU's floor is the zero point), and
``scale = (hi - lo) / 255`` in float32. Weights are int8, symmetric (zero
point 0), one scale per output channel: ``max|w| / 127``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .._args import ConvlabError

__all__ = ["METHODS", "RangeObserver", "activation_qparams", "weight_qparams"]

METHODS = ("minmax", "percentile")


@dataclass
class RangeObserver:
    """Accumulates the calibration range of one tensor over several images.

    ``minmax`` keeps the smallest and largest value seen; ``percentile`` keeps,
    per image, the ``100 - p`` and ``p`` percentiles (linear interpolation, as
    :func:`numpy.percentile`) and averages them over the images, so a few
    outliers do not set the scale.

    >>> obs = RangeObserver("percentile", 50.0)
    >>> obs.update(np.arange(11.0)); obs.range()
    (5.0, 5.0)
    """

    method: str = "minmax"
    percentile: float = 99.99
    _lows: list = field(default_factory=list, repr=False)
    _highs: list = field(default_factory=list, repr=False)

    def __post_init__(self):
        if self.method not in METHODS:
            raise ConvlabError(f"method must be one of {METHODS}, got {self.method!r}")
        p = self.percentile
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 50.0 <= p <= 100.0:
            raise ConvlabError(f"percentile must be a number in [50, 100], got {p!r}")

    def update(self, values: np.ndarray) -> None:
        """Record one image's values (any shape, finite)."""
        v = np.asarray(values, dtype=np.float64).ravel()
        if v.size == 0 or not np.isfinite(v).all():
            raise ConvlabError("calibration values must be a non-empty array of finite numbers")
        if self.method == "minmax":
            self._lows.append(v.min())
            self._highs.append(v.max())
        else:
            lo, hi = np.percentile(v, [100.0 - self.percentile, self.percentile])
            self._lows.append(lo)
            self._highs.append(hi)

    def range(self) -> tuple[float, float]:
        """``(lo, hi)``: min/max over images, or the mean of the per-image percentiles."""
        if not self._lows:
            raise ConvlabError("no calibration data was recorded")
        if self.method == "minmax":
            return float(min(self._lows)), float(max(self._highs))
        return float(np.mean(self._lows)), float(np.mean(self._highs))


def activation_qparams(lo: float, hi: float) -> tuple[np.float32, np.uint8]:
    """uint8 ``(scale, zero_point)`` covering ``[min(lo, 0), max(hi, 0)]``.

    >>> activation_qparams(0.0, 2.55)
    (np.float32(0.01), np.uint8(0))
    >>> activation_qparams(-1.0, 1.0)[1]  # 1 / float32(2/255) = 127.49999...
    np.uint8(127)
    """
    if not (math.isfinite(float(lo)) and math.isfinite(float(hi))):
        # A range with NaN or inf has no uint8 scale (a calibration that saw a non-finite activation).
        raise ConvlabError(f"lo and hi must be finite, got lo={lo}, hi={hi}")
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    if hi == lo:
        return np.float32(1.0), np.uint8(0)
    scale = np.float32((hi - lo) / 255.0)
    zero = int(np.clip(np.rint(-lo / float(scale)), 0, 255))
    return scale, np.uint8(zero)


def weight_qparams(w: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """int8 codes and float32 per-channel scales (``max|w| / 127`` along every axis but ``axis``).

    A channel of zeros gets scale 1 (its codes are 0 whatever the scale).

    >>> q, s = weight_qparams(np.array([[0.5, -1.27], [0.0, 0.0]]), axis=0)
    >>> q.tolist(), s.tolist()
    ([[50, -127], [0, 0]], [0.009999999776482582, 1.0])
    """
    from ._linear import quantize_linear

    w = np.asarray(w, dtype=np.float32)
    if not np.isfinite(w).all():
        bad = np.count_nonzero(~np.isfinite(w))
        raise ConvlabError(f"w must be finite to have int8 scales, got {bad} NaN/inf")
    others = tuple(a for a in range(w.ndim) if a != axis)
    peak = np.abs(w).max(axis=others).astype(np.float64)
    scale = np.where(peak > 0, peak / 127.0, 1.0).astype(np.float32)
    codes = quantize_linear(w, scale, np.zeros(scale.shape, np.int8), axis=axis)
    return codes, scale
