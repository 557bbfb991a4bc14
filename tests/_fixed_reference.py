"""A deliberately naive fixed-point reference in ``fractions.Fraction``, written from HLS's documentation.

It shares no code with ``convlab.quant``: rounding is defined by the words of
UG1399 ("round to plus infinity", "convergent"...), overflow by the ranges.
"""

from __future__ import annotations

import math
from fractions import Fraction


def round_fraction(t: Fraction, rounding: str) -> int:
    """``t`` (a value in LSBs) rounded to an integer by one of HLS's quantization modes."""
    floor = math.floor(t)
    ceil = math.ceil(t)
    if rounding == "trn":
        return floor
    if rounding == "trn_zero":
        return floor if t >= 0 else ceil
    if t - floor != Fraction(1, 2):
        return floor if t - floor < Fraction(1, 2) else ceil
    tie = {
        "rnd": ceil,
        "rnd_zero": floor if t >= 0 else ceil,
        "rnd_min_inf": floor,
        "rnd_inf": ceil if t >= 0 else floor,
        "rnd_conv": floor if floor % 2 == 0 else ceil,
    }
    return tie[rounding]


def fit(q: int, w: int, signed: bool, overflow: str, n: int = 0) -> int:
    """The code an integer ``q`` (already rounded) becomes in ``w`` bits under ``overflow``."""
    lo, hi = (-(2 ** (w - 1)), 2 ** (w - 1) - 1) if signed else (0, 2**w - 1)
    if overflow == "sat_sym" and signed and w > 1:
        # UG1399: "negative maximum"; at W = 1 ap_fixed_base.h writes MIN | 1 = MIN (compiled, checked).
        lo = -hi
    if lo <= q <= hi:
        return q
    if overflow == "sat":
        return hi if q > hi else lo
    if overflow == "sat_sym":
        return hi if q > hi else lo
    if overflow == "sat_zero":
        return 0
    bits = q % 2**w
    if n:
        keep = bits % 2 ** (w - n)
        if not signed:
            bits = keep + (2**n - 1) * 2 ** (w - n)
        elif q > hi:
            bits = keep + (2 ** (n - 1) - 1) * 2 ** (w - n)
        else:
            bits = keep + 2 ** (w - 1)
    return bits - 2**w if signed and bits >= 2 ** (w - 1) else bits


def reference_code(value: Fraction, fmt) -> int:
    """The code of the exact ``value`` in ``fmt``: round with an unbounded integer part, then overflow."""
    q = round_fraction(Fraction(value) * Fraction(2) ** fmt.frac_bits, fmt.rounding)
    return fit(q, fmt.word_bits, fmt.signed, fmt.overflow, fmt.saturation_bits)
