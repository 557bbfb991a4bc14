"""A deliberately naive fixed-point reference in ``fractions.Fraction``, written from HLS's documentation.

It shares no code with ``convlab.quant``: rounding is defined by the words of
UG1399 ("round to plus infinity", "convergent"...), overflow by the ranges.
"""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import numpy as np


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


def fit(q: int, w: int, signed: bool, overflow: str, n: int = 0, before: int | None = None) -> int:
    """The code an integer ``q`` (already rounded) becomes in ``w`` bits under ``overflow``.

    ``before`` is the value before rounding (floor), whose bit ``w`` AP_WRAP_SM reads.
    """
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
    if overflow == "wrap_sm":
        bits = _wrap_sm(bits, w, n, q < lo, ((q if before is None else before) >> w) & 1)
    elif n:
        keep = bits % 2 ** (w - n)
        if not signed:
            bits = keep + (2**n - 1) * 2 ** (w - n)
        elif q > hi:
            bits = keep + (2 ** (n - 1) - 1) * 2 ** (w - n)
        else:
            bits = keep + 2 ** (w - 1)
    return bits - 2**w if signed and bits >= 2 ** (w - 1) else bits


def _wrap_sm(bits: int, w: int, n: int, negative: bool, lead: int) -> int:
    """Sign-magnitude wrap on the ``w`` wrapped bits, step by step as UG1399 and ap_fixed_base.h describe it:
    complement the word when its sign bit disagrees with the sign it should have, force the N top bits."""
    ones, msb = 2**w - 1, w - 1
    top = (bits >> msb) & 1
    if n == 0:
        return ((~bits & ones) & ~(1 << msb)) | (lead << msb) if lead != top else bits
    sign = int(negative)
    if n == 1:
        bits = ~bits & ones if sign != top else bits
    else:
        bits = ~bits & ones if ((bits >> (w - n)) & 1) == sign else bits
        field = (2 ** (n - 1) - 1) << (w - n)
        bits = bits & ~field if sign else bits | field
    return (bits & ~(1 << msb)) | (sign << msb)


def reference_code(value: Fraction, fmt) -> int:
    """The code of the exact ``value`` in ``fmt``: round with an unbounded integer part, then overflow."""
    t = Fraction(value) * Fraction(2) ** fmt.frac_bits
    q = round_fraction(t, fmt.rounding)
    return fit(q, fmt.word_bits, fmt.signed, fmt.overflow, fmt.saturation_bits, math.floor(t))


def _code_of(value: Fraction, fmt) -> int:
    return reference_code(value, fmt)


def _accumulate(terms, bias_value, fx, fw, fa):
    """HLS's loop on one output: ``acc = bias; for (x, w) in terms: acc += x * w`` (values as Fractions)."""
    scale = Fraction(2) ** -(fx.frac_bits + fw.frac_bits)
    if fa is None:
        return sum((Fraction(x * w) * scale for x, w in terms), bias_value)
    acc = _code_of(bias_value, fa)
    for x, w in terms:
        p = _code_of(Fraction(x * w) * scale, fa)
        acc = fit(acc + p, fa.word_bits, fa.signed, fa.overflow, fa.saturation_bits)
    return Fraction(acc) / Fraction(2) ** fa.frac_bits


def loop_conv(x, fx, w, fw, b, fb, fo, fa, stride, padding, dilation, groups):
    """Direct loops over every output, channel and tap; ``padding`` is per-dimension ``(lo, hi)`` pairs."""
    n_img, _, *size = x.shape
    c_out, cg, *k = w.shape
    nd = len(k)
    out = [(size[i] + sum(padding[i]) - dilation[i] * (k[i] - 1) - 1) // stride[i] + 1 for i in range(nd)]
    y = np.zeros((n_img, c_out, *out), dtype=np.int64)
    for n, o, pos in itertools.product(range(n_img), range(c_out), itertools.product(*map(range, out))):
        g = o // (c_out // groups)
        terms = []
        for c, tap in itertools.product(range(cg), itertools.product(*map(range, k))):
            src = [pos[i] * stride[i] + tap[i] * dilation[i] - padding[i][0] for i in range(nd)]
            xv = x[(n, g * cg + c, *src)] if all(0 <= s < size[i] for i, s in enumerate(src)) else 0
            terms.append((int(xv), int(w[(o, c, *tap)])))
        bias = Fraction(0) if b is None else Fraction(int(b[o])) / Fraction(2) ** fb.frac_bits
        y[(n, o, *pos)] = _code_of(_accumulate(terms, bias, fx, fw, fa), fo)
    return y


def loop_conv_transpose(x, fx, w, fw, b, fb, fo, fa, stride, padding, output_padding, dilation, groups):
    """Scatter definition, summed per output in the order of the equivalent direct conv (flipped taps)."""
    n_img, c_in, *size = x.shape
    _, og, *k = w.shape
    nd, c_out = len(k), og * groups
    cg = c_in // groups
    out = [
        (size[i] - 1) * stride[i] - 2 * padding[i] + dilation[i] * (k[i] - 1) + output_padding[i] + 1
        for i in range(nd)
    ]
    y = np.zeros((n_img, c_out, *out), dtype=np.int64)
    for n, o, pos in itertools.product(range(n_img), range(c_out), itertools.product(*map(range, out))):
        g, oo = divmod(o, og)
        terms = []
        for c, flipped in itertools.product(range(cg), itertools.product(*map(range, k))):
            tap = [k[i] - 1 - flipped[i] for i in range(nd)]
            num = [pos[i] + padding[i] - tap[i] * dilation[i] for i in range(nd)]
            if all(v % stride[i] == 0 and 0 <= v // stride[i] < size[i] for i, v in enumerate(num)):
                src = [v // stride[i] for i, v in enumerate(num)]
                terms.append((int(x[(n, g * cg + c, *src)]), int(w[(g * cg + c, oo, *tap)])))
        bias = Fraction(0) if b is None else Fraction(int(b[o])) / Fraction(2) ** fb.frac_bits
        y[(n, o, *pos)] = _code_of(_accumulate(terms, bias, fx, fw, fa), fo)
    return y
