"""The integer core of :class:`FixedPoint`: round an exact value ``m * 2**s`` to a code, then overflow.

Every value that reaches a fixed-point format is an integer ``m`` times a power
of two: a double is ``mantissa * 2**exponent`` exactly, a code of another
format is ``code * 2**-frac_bits``. Working on ``(m, s)`` with integer shifts
is what makes the result exact: no product is ever rounded in floating point,
so ties (``x.5`` LSBs) are detected bit for bit, as ``ap_fixed_base.h`` does.

The rules follow ``ap_fixed_base::quantization_adjust`` and
``ap_fixed_base::overflow_adjust`` of Xilinx's HLS_arbitrary_Precision_Types
(``include/ap_fixed_base.h``): a code is first rounded with an unbounded
integer part, then the overflow mode acts on the rounded value.
"""

from __future__ import annotations

import numpy as np

__all__ = ["MAX_WORD_BITS", "OVERFLOW", "ROUNDING", "fit_code", "round_shift"]

ROUNDING = ("trn", "trn_zero", "rnd", "rnd_zero", "rnd_min_inf", "rnd_inf", "rnd_conv")
OVERFLOW = ("wrap", "sat", "sat_zero", "sat_sym", "wrap_sm")
# Codes live in int64: with at most 63 bits every code, and every source code
# of another format, has |code| <= 2**62, which the shifts below rely on.
MAX_WORD_BITS = 63


def round_shift(m: np.ndarray, k: np.ndarray, rounding: str) -> tuple[np.ndarray, np.ndarray]:
    """``(round(m / 2**k), floor(m / 2**k))`` for int64 ``|m| <= 2**62`` and shifts ``k >= 0``.

    ``qb`` is the first dropped bit (the half), ``r`` the OR of the bits below
    it (the sticky bit): the two inputs of HLS's quantization_adjust.
    """
    k = np.broadcast_to(k, m.shape)
    # Beyond 63 dropped bits |m / 2**k| <= 1/4: floor is 0 or -1, the half bit is the sign.
    far = k >= 64
    kc = np.minimum(k, 63)
    floor = m >> kc
    rem = m - (floor << kc)
    half_pos = np.maximum(kc - 1, 0)
    qb = np.where(kc > 0, (rem >> half_pos) & 1, 0).astype(bool)
    r = np.where(kc > 1, (rem & ((np.int64(1) << half_pos) - 1)) != 0, False)
    negative = m < 0
    floor = np.where(far, -negative.astype(np.int64), floor)
    qb = np.where(far, negative, qb)
    r = np.where(far, m != 0, r)
    return floor + _increment(qb, r, negative, floor, rounding), floor


def _increment(qb: np.ndarray, r: np.ndarray, negative: np.ndarray, floor: np.ndarray, rounding: str):
    """The carry quantization_adjust adds to the floor (``s`` is the source's sign there)."""
    if rounding == "trn":
        inc = np.zeros_like(qb)
    elif rounding == "trn_zero":
        inc = negative & (qb | r)
    elif rounding == "rnd":
        inc = qb
    elif rounding == "rnd_zero":
        inc = qb & (negative | r)
    elif rounding == "rnd_min_inf":
        inc = qb & r
    elif rounding == "rnd_inf":
        inc = qb & (~negative | r)
    else:  # rnd_conv: a tie goes to the even code
        inc = qb & (((floor & 1) == 1) | r)
    return inc.astype(np.int64)


def fit_code(m, s, fmt) -> np.ndarray:
    """The code of ``fmt`` for the exact value ``m * 2**(s - fmt.frac_bits)``: round, then overflow.

    ``m`` int64 with ``|m| <= 2**62``; ``s`` integer shifts (an array or a
    scalar): ``s >= 0`` multiplies exactly, ``s < 0`` drops ``-s`` bits by
    ``fmt.rounding``.
    """
    m = np.asarray(m, dtype=np.int64)
    s = np.broadcast_to(np.asarray(s, dtype=np.int64), m.shape)
    w, lo, hi = fmt.word_bits, fmt.code_min, fmt.code_max
    low = lo + 1 if _symmetric(fmt) else lo
    left = s > 0
    # Left shifts: compare m with the range divided by 2**s (exact integer bounds), no product formed.
    sl = np.minimum(np.where(left, s, 0), 63)
    over_l = m > (np.int64(hi) >> sl)
    under_l = m < -(np.int64(-low) >> sl)
    bits_l = (m.view(np.uint64) << sl.astype(np.uint64)) & np.uint64(2**w - 1)
    q, floor = round_shift(m, np.where(left, 0, -s), fmt.rounding)
    over = np.where(left, over_l, q > hi)
    under = np.where(left, under_l, q < low)
    bits = np.where(left, bits_l, q.view(np.uint64) & np.uint64(2**w - 1))
    if fmt.overflow == "wrap_sm":
        # lD of ap_fixed_base.h: bit W of the value before rounding (sign-extended).
        pos = np.clip(w - s, 0, 63)
        lead = np.where(left, np.where(w - s >= 0, (m >> pos) & 1, 0), (floor >> w) & 1).astype(bool)
        bits = _wrap_sm(bits, over | under, under, lead, fmt)
    return _overflow(bits, over, under, fmt)


def _overflow(bits: np.ndarray, over: np.ndarray, under: np.ndarray, fmt) -> np.ndarray:
    """overflow_adjust: what each mode writes when the rounded value is outside the format."""
    w, n = fmt.word_bits, fmt.saturation_bits
    if fmt.overflow == "wrap" and n:
        top = np.uint64((2**n - 1) << (w - n))
        if fmt.signed:
            # The sign bit takes the source's sign, the N-1 bits below it its complement.
            forced = np.where(under, np.uint64(1 << (w - 1)), np.uint64((2 ** (n - 1) - 1) << (w - n)))
        else:
            forced = np.broadcast_to(top, bits.shape)
        bits = np.where(over | under, (bits & ~top) | forced, bits)
    code = bits.astype(np.int64)
    if fmt.signed:
        code = code - (((code >> (w - 1)) & 1) << w)
    if fmt.overflow in ("wrap", "wrap_sm"):
        return code
    if fmt.overflow == "sat_zero":
        return np.where(over | under, 0, code)
    low = -fmt.code_max if _symmetric(fmt) else fmt.code_min
    return np.where(over, fmt.code_max, np.where(under, low, code))


def _symmetric(fmt) -> bool:
    """sat_sym saturates to ``-max``: overflow_adjust writes ``MIN | 1``, which is MIN itself at W = 1."""
    return fmt.signed and fmt.overflow == "sat_sym" and fmt.word_bits > 1


def wrap_code(values: np.ndarray, shift: int, fmt=None) -> np.ndarray:
    """``values * 2**shift`` modulo ``2**64``, or modulo ``2**W`` as codes of ``fmt`` (AP_WRAP, N = 0)."""
    bits = values.astype(np.int64).view(np.uint64) << np.uint64(shift)
    if fmt is None:
        return bits.view(np.int64)
    code = (bits & np.uint64(2**fmt.word_bits - 1)).astype(np.int64)
    if fmt.signed:
        code = code - (((code >> (fmt.word_bits - 1)) & 1) << fmt.word_bits)
    return code


def _wrap_sm(bits, hit, sign, lead, fmt) -> np.ndarray:
    """AP_WRAP_SM (signed only), as overflow_adjust writes it: the wrapped bits, complemented so that
    the magnitude keeps decreasing past the extreme (sign-magnitude wrap), N top bits forced."""
    w, n = fmt.word_bits, fmt.saturation_bits
    mask = np.uint64(2**w - 1)
    msb = np.uint64(1 << (w - 1))
    top = (bits & msb) != 0
    if n == 0:
        flip = hit & (lead != top)
        out = np.where(flip, ~bits & mask, bits)
        return np.where(flip, (out & ~msb) | np.where(lead, msb, np.uint64(0)), out)
    if n == 1:
        out = np.where(hit & (sign != top), ~bits & mask, bits)
    else:
        low_n = (bits >> np.uint64(w - n)) & np.uint64(1) != 0
        out = np.where(hit & (low_n == sign), ~bits & mask, bits)
        field = np.uint64((2 ** (n - 1) - 1) << (w - n))
        out = np.where(hit, np.where(sign, out & ~field, out | field), out)
    return np.where(hit, (out & ~msb) | np.where(sign, msb, np.uint64(0)), out)
