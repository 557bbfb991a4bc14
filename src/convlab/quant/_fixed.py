"""``FixedPoint``: a fixed-point format with the exact semantics of Vitis HLS ``ap_fixed`` / ``ap_ufixed``."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from .._args import ConvlabError, as_int
from ._fixed_round import MAX_WORD_BITS, OVERFLOW, ROUNDING, fit_code

__all__ = ["FixedPoint"]

# Beyond this many fractional (or negative fractional) bits no double has a bit to give.
_FRAC_LIMIT = 1100
_HLS = re.compile(r"^\s*ap_(u?)fixed\s*<([^>]*)>\s*$")


@dataclass(frozen=True)
class FixedPoint:
    """A fixed-point format: ``ap_fixed<W, I, Q, O, N>`` or ``ap_ufixed``, ``I = W - frac_bits``.

    A value is ``code * 2**-frac_bits`` with an integer ``code`` of
    ``word_bits`` bits (two's complement if ``signed``).

    Parameters
    ----------
    word_bits : int
        ``W``, 1 to 63 (codes are int64).
    frac_bits : int
        ``W - I``. Any integer: negative when ``I > W`` (the LSB weighs
        ``2**-frac_bits > 1``), larger than ``W`` when ``I < 0``; both are
        legal ``ap_fixed`` types.
    signed : bool, default True
        ``ap_fixed`` (True) or ``ap_ufixed`` (False).
    rounding : str, default ``'trn'``
        What happens to bits below the LSB, as HLS's quantization modes:
        ``'trn'`` floor (AP_TRN), ``'trn_zero'`` toward zero, ``'rnd'`` half
        toward +inf, ``'rnd_zero'`` half toward zero, ``'rnd_min_inf'`` half
        toward -inf, ``'rnd_inf'`` half away from zero, ``'rnd_conv'`` half
        to even. ``'AP_RND_CONV'`` spellings are accepted.
    overflow : str, default ``'wrap'``
        ``'wrap'`` (modulo ``2**W``), ``'sat'`` (to the extreme code),
        ``'sat_zero'`` (to 0), ``'sat_sym'`` (signed: to ``±max``, so the code
        ``-2**(W-1)`` never appears, except at ``W = 1`` where HLS writes
        ``MIN | 1 = MIN``; unsigned: as ``'sat'``), ``'wrap_sm'`` (signed only:
        sign-magnitude wrap, the magnitude folds back from the extreme).
    saturation_bits : int, default 0
        ``N`` of ``AP_WRAP`` (and ``AP_WRAP_SM``): on overflow the ``N`` most significant bits are
        forced (signed: the sign bit to the source's sign, the ``N-1`` below
        it to its complement; unsigned: to ones), the rest wraps. HLS ignores
        ``N`` for the saturating modes, and so does this class.

    Notes
    -----
    A value is rounded with an unbounded integer part first, then the
    overflow mode acts on the rounded code, as ``ap_fixed_base.h``'s
    ``quantization_adjust`` then ``overflow_adjust``; so ``'rnd'`` can push
    ``max + eps/2`` into overflow. Doubles are taken at their exact binary
    value (mantissa and exponent), never through a rounded product.

    Examples
    --------
    >>> fmt = FixedPoint.from_hls("ap_fixed<3,2,AP_RND,AP_SAT>")
    >>> fmt.quantize([1.25, -1.25, 19.0]), fmt.to_float(fmt.quantize([1.25, -1.25]))
    (array([ 3, -2,  3]), array([ 1.5, -1. ]))
    >>> str(FixedPoint(16, 10))
    'ap_fixed<16,6>'
    """

    word_bits: int
    frac_bits: int
    signed: bool = True
    rounding: str = "trn"
    overflow: str = "wrap"
    saturation_bits: int = 0

    def __post_init__(self) -> None:
        w = as_int(self.word_bits, "word_bits", minimum=1)
        if w > MAX_WORD_BITS:
            raise ConvlabError(f"word_bits must be at most {MAX_WORD_BITS} (int64 codes), got word_bits={w}")
        f = as_int(self.frac_bits, "frac_bits")
        if abs(f) > _FRAC_LIMIT:
            raise ConvlabError(f"frac_bits must be within ±{_FRAC_LIMIT}, got frac_bits={f}")
        if not isinstance(self.signed, (bool, np.bool_)):
            raise TypeError(f"signed must be a bool, got {type(self.signed).__name__} {self.signed!r}")
        n = as_int(self.saturation_bits, "saturation_bits", minimum=0)
        if n > w:
            raise ConvlabError(f"saturation_bits must be at most word_bits={w}, got saturation_bits={n}")
        if not self.signed and str(self.overflow).lower().removeprefix("ap_") == "wrap_sm":
            raise ConvlabError("overflow='wrap_sm' needs signed=True (ap_ufixed cannot support AP_WRAP_SM)")
        object.__setattr__(self, "word_bits", w)
        object.__setattr__(self, "frac_bits", f)
        object.__setattr__(self, "signed", bool(self.signed))
        object.__setattr__(self, "saturation_bits", n)
        object.__setattr__(self, "rounding", _mode(self.rounding, ROUNDING, "rounding"))
        object.__setattr__(self, "overflow", _mode(self.overflow, OVERFLOW, "overflow"))

    @classmethod
    def from_hls(cls, spelling: str) -> FixedPoint:
        """Parse ``'ap_fixed<W, I[, Q[, O[, N]]]>'`` or ``'ap_ufixed<...>'`` (defaults AP_TRN, AP_WRAP, 0).

        >>> fmt = FixedPoint.from_hls("ap_ufixed<8, 0, AP_RND_CONV, AP_SAT>")
        >>> fmt.frac_bits, fmt.signed, fmt.rounding, fmt.overflow
        (8, False, 'rnd_conv', 'sat')
        """
        if not isinstance(spelling, str):
            raise TypeError(f"spelling must be a str, got {type(spelling).__name__}")
        match = _HLS.match(spelling)
        parts = [p.strip() for p in match.group(2).split(",")] if match else []
        if not match or not 2 <= len(parts) <= 5:
            raise ConvlabError(
                "spelling must look like 'ap_fixed<W, I[, Q[, O[, N]]]>' or 'ap_ufixed<...>', "
                f"got {spelling!r}"
            )
        try:
            w, i = int(parts[0]), int(parts[1])
            n = int(parts[4]) if len(parts) == 5 else 0
        except ValueError:
            raise ConvlabError(f"W, I and N must be integers in {spelling!r}") from None
        rounding = parts[2] if len(parts) > 2 else "trn"
        overflow = parts[3] if len(parts) > 3 else "wrap"
        return cls(w, w - i, not match.group(1), rounding, overflow, n)

    def __str__(self) -> str:
        args = [str(self.word_bits), str(self.int_bits)]
        tail = [f"AP_{self.rounding.upper()}", f"AP_{self.overflow.upper()}", str(self.saturation_bits)]
        defaults = ["AP_TRN", "AP_WRAP", "0"]
        while tail and tail[-1] == defaults[len(tail) - 1]:
            tail.pop()
        return f"ap_{'' if self.signed else 'u'}fixed<{','.join(args + tail)}>"

    @property
    def int_bits(self) -> int:
        """``I`` of ``ap_fixed<W, I>``: ``word_bits - frac_bits`` (the sign bit included)."""
        return self.word_bits - self.frac_bits

    @property
    def code_min(self) -> int:
        return -(2 ** (self.word_bits - 1)) if self.signed else 0

    @property
    def code_max(self) -> int:
        return 2 ** (self.word_bits - 1) - 1 if self.signed else 2**self.word_bits - 1

    @property
    def eps(self) -> float:
        """The weight of the LSB, ``2**-frac_bits``."""
        return float(np.ldexp(1.0, -self.frac_bits))

    @property
    def min(self) -> float:
        return float(np.ldexp(float(self.code_min), -self.frac_bits))

    @property
    def max(self) -> float:
        return float(np.ldexp(float(self.code_max), -self.frac_bits))

    def quantize(self, x: ArrayLike) -> np.ndarray:
        """The int64 codes of ``x`` in this format, as assigning ``x`` to the ``ap_fixed`` does.

        Floats are taken at their exact binary value; integer arrays exactly
        (up to ``2**62`` in magnitude). NaN and infinities are refused.

        >>> FixedPoint(4, 1, rounding="rnd_conv").quantize([0.25, 0.75, -0.25])
        array([0, 2, 0])
        """
        a = np.asarray(x)
        if a.dtype.kind in "iub":
            return self.convert(a, FixedPoint(MAX_WORD_BITS, 0))
        if a.dtype.kind != "f":
            raise TypeError(f"x must hold real numbers, got dtype {a.dtype}")
        a = a.astype(np.float64, copy=False)
        if not np.isfinite(a).all():
            bad = float(a[~np.isfinite(a)].flat[0])
            raise ConvlabError(f"x must be finite, got {bad} (HLS has no NaN or inf)")
        mantissa, exponent = np.frexp(a)
        m = np.ldexp(mantissa, 53).astype(np.int64)
        return fit_code(m, exponent.astype(np.int64) - 53 + self.frac_bits, self)

    def convert(self, codes: ArrayLike, source: FixedPoint) -> np.ndarray:
        """Codes of ``source`` assigned to this format (``ap_fixed`` to ``ap_fixed`` assignment).

        >>> FixedPoint(4, 0, overflow="sat").convert([40, -40, 24], FixedPoint(12, 3))
        array([ 5, -5,  3])
        """
        if not isinstance(source, FixedPoint):
            raise TypeError(f"source must be a FixedPoint, got {type(source).__name__}")
        q = np.asarray(codes)
        if q.dtype.kind not in "iub":
            raise TypeError(f"codes must be integers, got dtype {q.dtype}")
        if q.size and (q.min() < -(2**62) or q.max() > 2**62):
            bad = q.max() if q.max() > 2**62 else q.min()
            raise ConvlabError(f"codes must be within ±2**62, got a code of {bad}")
        return fit_code(q.astype(np.int64), self.frac_bits - source.frac_bits, self)

    def to_float(self, codes: ArrayLike) -> np.ndarray:
        """``codes * 2**-frac_bits`` as float64 (exact while codes fit 53 bits).

        >>> FixedPoint(8, 4).to_float([16, -3])
        array([ 1.    , -0.1875])
        """
        q = np.asarray(codes)
        if q.dtype.kind not in "iub":
            raise TypeError(f"codes must be integers, got dtype {q.dtype}")
        return np.ldexp(q.astype(np.float64), -self.frac_bits)

    def represents(self, codes: ArrayLike) -> bool:
        """True when every code lies in ``[code_min, code_max]``."""
        q = np.asarray(codes)
        return bool(q.size == 0 or (q.min() >= self.code_min and q.max() <= self.code_max))


def _mode(value: object, choices: tuple[str, ...], name: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, got {type(value).__name__} {value!r}")
    key = value.strip().lower()
    key = key[3:] if key.startswith("ap_") else key
    if key not in choices:
        raise ConvlabError(f"{name} must be one of {', '.join(choices)} (or AP_ spellings), got {value!r}")
    return key
