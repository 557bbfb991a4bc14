"""``fma(a, b, c)``: ``a * b + c`` rounded once, as a hardware fused multiply-add.

PyTorch's CPU kernels are compiled with FMA contraction (batch norm's
``x * alpha + beta``, interpolate's blends), NumPy has no fused multiply-add,
so bit-equality needs an exact emulation. Two schemes, one per dtype.

**float32: one float64 evaluation, and an exact repair of rare midpoints.**
Let ``x = a*b + c`` exactly, ``T = RN64(x)`` the float64 evaluation
``float64(a) * b + c`` and ``RN32`` the final cast.

1. ``float64(a) * b`` is exact: two 24-bit significands make at most 48 bits,
   and the exponent range of float64 holds every product of two float32
   (subnormals included), so ``T = RN64(x)`` has one rounding only.
2. Every float32 midpoint ``m`` (half-way between two adjacent float32, and
   the overflow threshold ``2**128 - 2**103``) has at most 25 significant
   bits, so it is a float64. ``RN64`` is monotone, hence if ``m1 < x < m2``
   for adjacent midpoints then ``m1 <= T <= m2``; if ``T`` is strictly inside,
   ``RN32(T) = RN32(x)``. If ``x`` is itself a midpoint, ``T = x``. So the cast
   can differ from the fused result only when ``T`` is a float32 midpoint and
   ``T != x``.
3. For ``|T| >= 2**-126`` (float32's normal range) ``T`` is a midpoint exactly
   when its 29 low significand bits are ``1 0...0``: float32 keeps 23 of
   float64's 52 fraction bits, and the midpoint adds the 24th.
4. For ``0 < |T| < 2**-126`` the float32 grid is ``2**-149`` and the mask
   test does not apply. There ``T != x`` needs ``c != 0`` (else ``x = a*b``
   is a float64) and a product with a bit below ``2**-179`` (else ``x`` is a
   multiple of ``2**-179`` below ``2**-126``: 53 bits, exact), so
   ``|a*b| < 2**(-179+48) = 2**-131`` and ``|c| <= |x| + |a*b| < 2**-125``.
   When no ``c`` lies in ``(0, 2**-125)`` this case cannot occur; otherwise
   every tiny ``T`` is also treated as suspect.
5. A suspect ``T`` gets its exact error ``e = x - T`` by Knuth's TwoSum (exact
   for any finite float64 sum) and is rounded to odd: nudged one float64
   ulp towards ``e`` when ``e != 0`` and its last bit is even. Rounding to
   odd at 53 bits and then to nearest at 24 (or the 2**-149 grid) equals one
   rounding to nearest (Boldo and Melquiond, IEEE TC 57(4), 2008, Thm 3).

So the fast path is one multiply, one add, a mask test and the cast, run over
cache-sized blocks; midpoints are rare (about one value in 2**28 on random
data), and the repair costs nothing when there are none.

**float64: Dekker's exact product and rounding to odd** (Boldo and
Melquiond's emulated FMA): ``uh + ul = a*b`` exactly, ``th + tl = c + uh``
exactly, ``v = RO(tl + ul)``, result ``RN(th + v)``. Its hypotheses (no
overflow in Veltkamp's split, no underflow in the product's error) hold when
``|a|, |b|`` lie in ``[2**-460, 2**460]`` and ``|c| <= 2**1000``; zeros and
the other finite values are evaluated exactly with :class:`fractions.Fraction`
one by one (rare by construction), infinities and NaN as ``a*b + c``, which is
what an FMA returns for them too. This repairs the NaN that Veltkamp's split
produced for ``|a| > 2**996``.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from ._arrays import thread_arena
from ._epilogue import relu_into
from ._threads import blocks, parallel

__all__ = ["fma"]

# Elements per block: 2**17 rather than _threads' 2**15. A block is about
# ten NumPy calls, each taking the GIL between its loops; on 2**15-element
# blocks two threads ran a 64x512x512 BatchNorm slower than one (48 against
# 35 ms), on 2**17 in 25 ms. The float64 temporaries (1 MiB each) fall to L3.
_FMA_BLOCK = 1 << 17
_LOW29 = (1 << 29) - 1
_MIDPOINT = 1 << 28
_TINY32 = 2.0**-126
_SAFE_LO, _SAFE_HI, _SAFE_C = 2.0**-460, 2.0**460, 2.0**1000


def fma(
    a: np.ndarray, b: np.ndarray, c: np.ndarray, out: np.ndarray | None = None, *, relu: bool = False
) -> np.ndarray:
    """``a * b + c`` with a single rounding, broadcasting; float32 or float64.

    Parameters
    ----------
    a, b, c : numpy.ndarray
        Of one floating dtype (float32 or float64), broadcastable together.
    out : numpy.ndarray, optional
        Receives the result (the broadcast shape, the same dtype); for
        float32 it may be ``a`` itself (a block is read whole before it is written).
    relu : bool
        ``max(0, .)`` of each block of the result while it is in cache, as
        :func:`convlab.functional.relu` (a BatchNorm followed by a ReLU).

    Returns
    -------
    numpy.ndarray, the broadcast shape, the operands' dtype

    Notes
    -----
    Runs over blocks of ``2**17`` elements on :mod:`convlab.functional._threads`'s pool.
    float32 costs about five memory passes of a block in cache; float64 about
    twenty (Dekker's product and three TwoSums).

    Examples
    --------
    >>> x = np.array([1 + 2.0**-12], dtype=np.float32)
    >>> float(fma(x, x, np.float32(-1.0))[0]) == 2.0**-11 + 2.0**-24
    True
    """
    a, b, c = (np.asarray(v) for v in (a, b, c))
    shape = np.broadcast_shapes(a.shape, b.shape, c.shape)
    if out is None:
        out = np.empty(shape, dtype=a.dtype)
    if a.dtype == np.float32:
        tiny = bool(np.any((c != 0) & (np.abs(c) < 2 * _TINY32)))
        # b and c widened once (before broadcasting): the block loop then
        # runs same-dtype ufuncs, which NumPy does not buffer.
        b, c = b.astype(np.float64), c.astype(np.float64)
        kernel = _fma32_block_tiny if tiny else _fma32_block
    else:
        kernel = _fma64_block
    a, b, c = (np.broadcast_to(v, shape) for v in (a, b, c))

    def block(index: tuple) -> None:
        kernel(a[index], b[index], c[index], out[index])
        if relu:
            relu_into(out[index])

    parallel(block, blocks(shape, _FMA_BLOCK))
    return out


def _fma32_block(a: np.ndarray, b: np.ndarray, c: np.ndarray, out: np.ndarray, tiny: bool = False) -> None:
    """float32 ``a`` and ``out``; ``b`` and ``c`` already float64."""
    total, low, suspect = _block_buffers(a.shape)
    np.copyto(total, a)
    with np.errstate(invalid="ignore", over="ignore"):  # inf * 0 and overflow behave as an FMA's
        np.multiply(total, b, out=total)
        np.add(total, c, out=total)
    np.bitwise_and(total.view(np.int64), _LOW29, out=low)
    np.equal(low, _MIDPOINT, out=suspect)
    if tiny:
        suspect |= (np.abs(total) < _TINY32) & (total != 0)
    if suspect.any():
        _round_to_odd(total, a, b, c, suspect)
    with np.errstate(over="ignore"):
        out[...] = total


def _block_buffers(shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """float64, int64 and bool work arrays of ``shape`` from the thread's arena (17 bytes an element)."""
    size = math.prod(shape)
    arena = thread_arena(17 * size)
    total = arena[: 8 * size].view(np.float64).reshape(shape)
    low = arena[8 * size : 16 * size].view(np.int64).reshape(shape)
    return total, low, arena[16 * size : 17 * size].view(np.bool_).reshape(shape)


def _fma32_block_tiny(a: np.ndarray, b: np.ndarray, c: np.ndarray, out: np.ndarray) -> None:
    _fma32_block(a, b, c, out, tiny=True)


def _round_to_odd(total: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray, where: np.ndarray) -> None:
    """Replace ``total[where]`` by the exact sum rounded to odd at float64's 53 bits."""
    where &= np.isfinite(total)
    index = np.nonzero(where)
    product = a[index].astype(np.float64) * b[index]
    addend = c[index]
    s = total[index]
    error = _two_sum_error(product, addend, s)
    total[index] = _odd(s, error)


def _two_sum_error(a: np.ndarray, b: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Knuth's TwoSum: ``a + b - s`` exactly, for ``s = RN(a + b)`` (finite)."""
    b_virtual = s - a
    return (a - (s - b_virtual)) + (b - b_virtual)


def _odd(s: np.ndarray, error: np.ndarray) -> np.ndarray:
    """``s`` rounded to odd given the sign of the exact remainder ``error``."""
    even = (s.view(np.int64) & 1) == 0
    return np.where((error != 0) & even, np.nextafter(s, np.copysign(np.inf, error)), s)


def _fma64_block(a: np.ndarray, b: np.ndarray, c: np.ndarray, out: np.ndarray) -> None:
    a, b, c = np.broadcast_arrays(a, b, c)
    with np.errstate(all="ignore"):
        uh = a * b
        ul = _product_error(a, b, uh)
        th = c + uh
        tl = _two_sum_error(c, uh, th)
        v = tl + ul
        v = _odd(v, _two_sum_error(tl, ul, v))
        np.add(th, v, out=out)
        magnitude_a, magnitude_b = np.abs(a), np.abs(b)
        safe = (magnitude_a >= _SAFE_LO) & (magnitude_a <= _SAFE_HI) & (magnitude_b >= _SAFE_LO)
        safe &= (magnitude_b <= _SAFE_HI) & (np.abs(c) <= _SAFE_C)
    if not safe.all():
        _fma64_outside(a, b, c, out, ~safe)


def _product_error(a: np.ndarray, b: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Dekker's TwoProduct: ``a * b - high`` exactly (inside the safe range)."""
    a_hi, a_lo = _split(a)
    b_hi, b_lo = _split(b)
    return ((a_hi * b_hi - high) + a_hi * b_lo + a_lo * b_hi) + a_lo * b_lo


def _split(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    with np.errstate(over="ignore", invalid="ignore"):
        scaled = a * 134217729.0  # 2**27 + 1: Veltkamp's splitter for 53-bit significands
        hi = scaled - (scaled - a)
    return hi, a - hi


def _fma64_outside(a: np.ndarray, b: np.ndarray, c: np.ndarray, out: np.ndarray, where: np.ndarray) -> None:
    """Operands outside the safe range: zeros and specials vectorised, the rest one by one."""
    with np.errstate(all="ignore"):
        finite_ab = np.isfinite(a) & np.isfinite(b)
        # An exact zero product, or a non-finite operand: the FMA rounds no
        # finite intermediate, so it is a*b + c, except that a finite
        # product (even one too large for a float64) plus an infinite c is c.
        plain = where & ((a == 0) | (b == 0) | ~finite_ab | ~np.isfinite(c))
        out[plain] = np.where(finite_ab & np.isinf(c), c, a * b + c)[plain]
    for index in zip(*np.nonzero(where & ~plain)):
        out[index] = _fma_scalar(float(a[index]), float(b[index]), float(c[index]))


def _fma_scalar(a: float, b: float, c: float) -> float:
    """Correctly rounded ``a * b + c`` of finite floats with a non-zero product."""
    exact = Fraction(a) * Fraction(b) + Fraction(c)
    if exact == 0:
        return 0.0  # IEEE 754: an exact zero sum of non-zero terms is +0 when rounding to nearest
    try:
        return float(exact)  # int / int true division: correctly rounded, subnormals included
    except OverflowError:
        return math.inf if exact > 0 else -math.inf
