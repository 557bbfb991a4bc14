"""A fused multiply-add in float32 (one rounding), for reproducing kernels that use FMA instructions.

NumPy has none. The product of two float32 is exact in float64; rounding
the float64 sum *to odd* and then to float32 gives the correctly rounded
``a * b + c`` (Boldo and Melquiond's round-to-odd). The same emulation lives
in :mod:`convlab.functional._norm` (float32 and float64); this copy keeps
the quantized package independent of functional's private modules.
"""

from __future__ import annotations

import numpy as np

__all__ = ["fma32"]


def fma32(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """``a * b + c`` rounded once to float32, broadcasting; the inputs must be float32 values.

    >>> a = np.float32(1 + 2**-12)
    >>> float(fma32(a, a, np.float32(-1))) == 2**-11 + 2**-24
    True
    """
    product = np.asarray(a, np.float64) * np.asarray(b, np.float64)
    c64 = np.asarray(c, np.float64)
    total = product + c64
    # TwoSum: the exact rounding error of the float64 sum.
    error = (product - (total - (total - product))) + (c64 - (total - product))
    odd = np.where(
        (error != 0) & (total.view(np.int64) % 2 == 0), np.nextafter(total, np.copysign(np.inf, error)), total
    )
    return odd.astype(np.float32)
