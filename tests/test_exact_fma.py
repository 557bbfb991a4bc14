"""The fused multiply-add emulation against exact rationals, and batch_norm at the extremes against torch."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convlab.functional._exact_fma import fma
from convlab.functional._norm import batch_norm

_F32 = {"max": Fraction(float(np.finfo(np.float32).max)), "ulp": Fraction(2) ** -149, "emin": -126, "p": 24}
_F64 = {"max": Fraction(float(np.finfo(np.float64).max)), "ulp": Fraction(2) ** -1074, "emin": -1022, "p": 53}


def _round(exact: Fraction, fmt: dict) -> float:
    """Round-to-nearest-even of an exact rational into a binary format, written from the definition."""
    if exact == 0:
        return 0.0
    sign, magnitude = (-1 if exact < 0 else 1), abs(exact)
    exponent = magnitude.numerator.bit_length() - magnitude.denominator.bit_length()
    while Fraction(2) ** exponent > magnitude:
        exponent -= 1
    while Fraction(2) ** (exponent + 1) <= magnitude:
        exponent += 1
    quantum = max(Fraction(2) ** (exponent - fmt["p"] + 1), fmt["ulp"])
    units, rest = divmod(magnitude, quantum)
    if rest * 2 > quantum or (rest * 2 == quantum and units % 2 == 1):
        units += 1
    value = units * quantum
    top = fmt["max"] + Fraction(2) ** (127 if fmt is _F32 else 1023) * Fraction(2) ** (-fmt["p"])
    if value >= top or value > fmt["max"]:
        return sign * float("inf")
    return sign * float(value)


def _oracle(a: float, b: float, c: float, fmt: dict) -> float:
    if not all(np.isfinite((a, b, c))):
        with np.errstate(all="ignore"):
            product = np.float64(a) * np.float64(b)
            # A finite product (however large) plus an infinite c is c.
            return float(c) if np.isfinite(a) and np.isfinite(b) else float(product + c)
    exact = Fraction(a) * Fraction(b) + Fraction(c)
    if exact == 0:
        both_negative_zero = (a * b == 0) and np.signbit(a) != np.signbit(b) and np.signbit(c)
        return -0.0 if both_negative_zero and c == 0 else 0.0
    return _round(exact, fmt)


def _check(a, b, c, dtype):
    fmt = _F32 if dtype == np.float32 else _F64
    got = fma(*(np.asarray(v, dtype=dtype) for v in (a, b, c)))
    for x, y, z, g in zip(np.ravel(a), np.ravel(b), np.ravel(c), np.ravel(got)):
        expected = _oracle(float(x), float(y), float(z), fmt)
        if np.isnan(expected):
            assert np.isnan(g), (x, y, z, g)
        else:
            assert g == expected and np.signbit(g) == np.signbit(expected), (x, y, z, g, expected)


floats32 = st.floats(width=32, allow_nan=True, allow_infinity=True, allow_subnormal=True)
floats64 = st.floats(allow_nan=True, allow_infinity=True, allow_subnormal=True)


@given(st.lists(st.tuples(floats32, floats32, floats32), min_size=1, max_size=40))
@settings(max_examples=300)
def test_fma_float32_equals_exact_rounding(triples):
    a, b, c = (np.array(v, dtype=np.float32) for v in zip(*triples))
    _check(a, b, c, np.float32)


@given(st.lists(st.tuples(floats64, floats64, floats64), min_size=1, max_size=40))
@settings(max_examples=300)
def test_fma_float64_equals_exact_rounding(triples):
    a, b, c = (np.array(v, dtype=np.float64) for v in zip(*triples))
    _check(a, b, c, np.float64)


def _ties32():
    """float32 operands whose float64 sum lands on a float32 midpoint while the exact sum does not."""
    u = 1 + 2.0**-12  # u*u = 1 + 2**-11 + 2**-24: 2**-24 is half an ulp at 1
    t = np.float32(2.0**-75)
    return [
        (u, u, 2.0**-60),
        (u, u, -(2.0**-60)),
        (-u, u, 2.0**-60),
        (u, u, -1.0),  # the exact result is a float32: no repair needed
        # float32's subnormal range: grid 2**-149; the product carries a bit at
        # 2**-196, c = 513 * 2**-149 puts the float64 sum on the midpoint 513.5.
        (t * np.float32(1 + 2.0**-23), t * np.float32(1 - 2.0**-23), 513 * 2.0**-149),
        (t * np.float32(1 + 2.0**-23), t * np.float32(1 + 2.0**-23), 513 * 2.0**-149),
        (-t * np.float32(1 + 2.0**-23), t * np.float32(1 - 2.0**-23), -513 * 2.0**-149),
        # the overflow threshold 2**128 - 2**103 is a midpoint too
        (np.float32(2.0**64 - 2.0**40), np.float32(2.0**64), -(2.0**79)),
    ]


def test_fma_float32_repairs_every_midpoint():
    a, b, c = (np.array(v, dtype=np.float32) for v in zip(*_ties32()))
    assert a[4] * np.float64(b[4]) + np.float64(c[4]) == 513.5 * 2.0**-149  # the case is a real tie
    _check(a, b, c, np.float32)
    # Many blocks, so the threaded block loop meets the ties in every position.
    rng = np.random.default_rng(3)
    n = 200_003
    a, b, c = (rng.normal(size=n).astype(np.float32) for _ in range(3))
    picks = rng.integers(0, n, 64)
    cases = np.array(_ties32(), dtype=np.float32)
    a[picks], b[picks], c[picks] = cases[np.arange(64) % len(cases)].T
    got = fma(a, b, c)
    for i in picks:
        assert got[i] == _oracle(float(a[i]), float(b[i]), float(c[i]), _F32)
    plain = (a.astype(np.float64) * b + c).astype(np.float32)
    others = np.ones(n, bool)
    others[picks] = False
    np.testing.assert_array_equal(got[others], plain[others])  # off the ties, one float64 evaluation


def test_fma_float64_ties_and_extremes():
    u = 1 + 2.0**-27  # u*u = 1 + 2**-26 + 2**-54: a float64 tie before the sum
    big, tiny = 1.5e300, 5e-324
    a = [u, u, big, big, -big, 1e308, tiny, 2.0**-600, 3.0, 0.0, -0.0, np.inf, 1e200]
    b = [u, -u, 1.0, 2.0, 1e10, 10.0, 0.5, 2.0**-600, tiny, 5.0, 5.0, 0.0, 1e200]
    c = [2.0**-80, 2.0**-80, 3.0, -1e300, 1.0, -1e308, tiny, 0.0, 0.0, -0.0, -0.0, 1.0, -np.inf]
    _check(np.array(a), np.array(b), np.array(c), np.float64)


def test_fma_broadcasts_and_writes_out():
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    out = np.empty_like(x)
    got = fma(x, np.float32([1.0, 2.0, 3.0])[:, None], np.float32(0.5), out=out)
    assert got is out
    np.testing.assert_array_equal(got, x * np.float32([1, 2, 3])[:, None] + np.float32(0.5))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_batch_norm_extremes_equal_torch(torch, dtype):
    big = 1.5e300 if dtype == np.float64 else 3e38
    sub = np.finfo(dtype).smallest_subnormal
    rows = [
        [big, 3.0, -big, 1.0],
        [np.inf, -np.inf, np.nan, 0.0],
        [sub, -sub, 4 * sub, 0.0],
        [np.finfo(dtype).max, -np.finfo(dtype).max, 1e-30, -0.0],
    ]
    x = np.array(rows, dtype=dtype).reshape(2, 2, 4).transpose(1, 0, 2).copy()  # (N=2, C=2, 4)
    for mean, var, weight, bias in [
        ([0.0, 0.0], [1.0, 1.0], [1.0, 1.0], [0.0, 0.0]),
        ([1e-3, -2.0], [0.5, 3.0], [0.7, -1.3], [1e-3, 2.5]),
        ([0.0, 1.0], [0.0, 1e-30], [2.0, 1.0], [0.0, sub]),
    ]:
        params = [np.array(v, dtype=dtype) for v in (mean, var, weight, bias)]
        with np.errstate(all="ignore"):
            got = batch_norm(x, *params, eps=0.0)
        expected = torch.nn.functional.batch_norm(
            torch.from_numpy(x), *map(torch.from_numpy, params), training=False, eps=0.0
        ).numpy()
        np.testing.assert_array_equal(got, expected)


def test_batch_norm_issue_case_is_finite(torch):
    x = np.array([[1.5e300, 3.0]])
    got = batch_norm(x, np.zeros(2), np.ones(2), eps=0)
    np.testing.assert_array_equal(got, [[1.5e300, 3.0]])


def _tie_biased(rng, n: int, dtype) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Operands with short significands and addends a few binades apart: ties and near-ties abound."""
    p = 24 if dtype == np.float32 else 53
    span = 60 if dtype == np.float32 else 200
    bits = rng.integers(1, p + 1, size=(2, n))
    mant = [rng.integers(1, 2 ** bits[i].astype(np.float64), dtype=np.int64) | 1 for i in range(2)]
    expo = rng.integers(-span, span, size=(3, n))
    a = np.ldexp(mant[0].astype(np.float64), expo[0]).astype(dtype)
    b = np.ldexp(mant[1].astype(np.float64), expo[1]).astype(dtype)
    shift = rng.integers(-2 * p - 4, 4, size=n)
    with np.errstate(over="ignore"):
        c = (np.ldexp(a.astype(np.float64) * b, shift) * rng.choice([-1, 1], n)).astype(dtype)
    return a, b, c


def _midpoints32(rng, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """float32 triples whose float64 evaluation is a float32 midpoint and is not exact.

    ``c = M * 2**e`` with M odd (24 bits), ``a * b = h * (1 - 2**-2j)`` with
    ``h = 2**(e-1)`` half of c's ulp: the sum ``c + h - h*2**-2j`` rounds in
    float64 to the midpoint ``c + h`` (for ``2j + 1 > 30``), whose tie-to-even
    goes up while the exact value rounds down to ``c``.
    """
    e = rng.integers(-140, 100, n)
    m = rng.integers(2**23, 2**24, n) | 1
    j = rng.integers(15, 24, n)
    sign = rng.choice([-1.0, 1.0], n)
    split = rng.integers(-20, 20, n)
    c = sign * np.ldexp(m.astype(np.float64), e)
    a = np.ldexp(1 + np.ldexp(1.0, -j), split)
    b = sign * np.ldexp(1 - np.ldexp(1.0, -j), e - 1 - split)
    keep = (np.abs(c) < 3e38) & (np.abs(b) > 2.0**-149) & (np.abs(c) > 2.0**-149)
    return tuple(v[keep].astype(np.float32) for v in (a, b, c))  # type: ignore[return-value]


def test_midpoint_generator_makes_naive_evaluation_fail():
    a, b, c = _midpoints32(np.random.default_rng(2), 500)
    naive = (a.astype(np.float64) * b + c).astype(np.float32)
    exact = np.array([_oracle(float(x), float(y), float(z), _F32) for x, y, z in zip(a, b, c)], np.float32)
    assert np.mean(naive != exact) > 0.5  # the generator really produces the hard cases


@pytest.mark.slow
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fma_tie_biased_sweep(dtype):
    rng = np.random.default_rng(11)
    _check(*_tie_biased(rng, 100_000, dtype), dtype)
    if dtype == np.float32:
        _check(*_midpoints32(rng, 100_000), dtype)


def test_fma_tie_biased_sample():
    for dtype in (np.float32, np.float64):
        _check(*_tie_biased(np.random.default_rng(5), 2000, dtype), dtype)
    _check(*_midpoints32(np.random.default_rng(6), 3000), np.float32)
